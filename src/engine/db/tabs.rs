//! The other tabs of a namespace: each queued write is held under a lock
//! named for it, shared across tabs and released when its holder dies, so
//! a write is committed by one client only: its maker, or whoever finds it
//! unheld after a reload or a crash. A tab that sees another's queued
//! write masks its keys as its own until that write is committed (read
//! your writes, across tabs), told by broadcast messages.

use crate::prelude::*;

use super::pending::{Pending, Turns};
use super::queue::QueuedWrite;
use super::Db;
use crate::engine::io::{Io, LockWait, Table};
use crate::engine::json::{self, quote, JsonValue as Value};
use crate::engine::lean::scan::number;
use crate::engine::object::Ref;
use crate::engine::protocol::{Freshness, Landing};
use crate::engine::time::EpochMillis;

pub(crate) fn lock_name(key: &str) -> String {
    cat!("mps3 write ", key)
}

/// A message to the other tabs: `{"t": kind, "k": queue key, "e": entries}`.
fn message(kind: &str, key: &str, entries: &[Landed]) -> String {
    let mut e = String::new();
    for l in entries {
        if !e.is_empty() {
            e.push(',');
        }
        e.push_str(&cat!(
            "[",
            quote(&l.manifest),
            ",",
            quote(&l.object),
            ",",
            l.at,
            "]"
        ));
    }
    cat!(
        "{\"t\":",
        quote(kind),
        ",\"k\":",
        quote(key),
        ",\"e\":[",
        e,
        "]}"
    )
}

fn parse_message(text: &str) -> Option<TabMessage> {
    let v = json::parse(text.as_bytes()).ok()?;
    let s = |v: &Value| v.as_str().map(str::to_string);
    let mut entries = Vec::new();
    if let Some(Value::Array(items)) = v.get("e") {
        for item in items {
            let Value::Array(parts) = item else {
                return None;
            };
            let [m, o, Value::Number(ts)] = parts.as_slice() else {
                return None;
            };
            entries.push(Landed {
                manifest: s(m)?,
                object: s(o)?,
                at: number(ts, 10)?.try_into().ok()?,
            });
        }
    }
    Some(TabMessage {
        kind: s(v.get("t")?)?,
        key: s(v.get("k")?)?,
        landed: entries,
    })
}

/// Where a write's entry landed in one manifest, as tabs tell each other.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Landed {
    /// The manifest's url.
    manifest: String,
    /// Where: the stored form of a `protocol::Landing`.
    object: String,
    at: EpochMillis,
}

/// What a tab tells the others of one of its queued writes.
#[derive(Debug, PartialEq, Eq)]
struct TabMessage {
    /// "queued", "done" or "dropped".
    kind: String,
    /// The write's queue key.
    key: String,
    landed: Vec<Landed>,
}

impl<I: Io> Db<I> {
    /// Takes over a queued write: its place in each manifest's order is
    /// taken now.
    pub(super) fn adopt(&self, write: QueuedWrite, lock: I::Lock) -> Pending<I::Lock> {
        let write_id = self.new_write_id();
        let Turns { tickets, turns } = self.take_turns(&write.manifests, &write.key);
        self.mask_write(&write, write_id);
        Pending {
            write,
            write_id,
            tickets,
            turns,
            _lock: Some(lock),
            durable: true,
        }
    }

    /// Forgets another tab's write; its masks' id. (`remove`, not
    /// `swap_remove`: the list stays in the order writes were queued,
    /// which is the order takeovers commit them in.)
    fn take_foreign(&self, key: &str) -> Option<u64> {
        let mut inner = self.inner.borrow_mut();
        let i = inner.tabs.foreign.iter().position(|(k, _)| k == key)?;
        Some(inner.tabs.foreign.remove(i).1)
    }

    pub(super) fn add_foreign(&self, write: QueuedWrite) {
        let write_id = self.new_write_id();
        self.inner
            .borrow_mut()
            .tabs
            .foreign
            .push((write.key.clone(), write_id));
        self.mask_write(&write, write_id);
    }

    /// Takes over writes other tabs queued and no longer hold (the tab
    /// closed or crashed before committing them), to be committed.
    pub(super) async fn adopt_orphans(&self) -> Vec<Pending<I::Lock>> {
        self.ready().await;
        let mut out = Vec::new();
        for (key, name) in self.foreign_writes() {
            let Some(lock) = self.io.lock(&name, LockWait::IfFree).await else {
                continue;
            };
            if let Some(p) = self.take_over(&key, lock).await {
                out.push(p);
            }
        }
        out
    }

    /// Other tabs' queued writes this client masks: (queue key, the name
    /// of its lock), for `watch_foreign` to wait on.
    pub(super) fn foreign_writes(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (k, _) in &self.inner.borrow().tabs.foreign {
            out.push((k.clone(), lock_name(k)));
        }
        out
    }

    /// Given the lock of another tab's write `key`: if it is still queued,
    /// it is ours to commit; if not, its tab committed it, and the log is
    /// read before its masks go (no flicker either way).
    async fn take_over(&self, key: &str, lock: I::Lock) -> Option<Pending<I::Lock>> {
        self.ready().await;
        let old_id = self.take_foreign(key)?;
        match self.io.store_get(Table::Queue, key).await {
            Ok(Some(text)) => {
                // Masked again before the old masks go.
                let adopted = match QueuedWrite::from_text(key, &text) {
                    Ok(w) => Some(self.adopt(w, lock)),
                    Err(e) => {
                        self.io.log("queue", &e.message);
                        None
                    }
                };
                self.unmask_write(old_id);
                adopted
            }
            Ok(None) => {
                let mut masked = Vec::new();
                for (m, s) in &self.inner.borrow().manifests {
                    if s.masks.iter().any(|mask| mask.write_id == old_id) {
                        masked.push(m.clone());
                    }
                }
                if self.reachable() {
                    for m in &masked {
                        let _ = self.locked_sync(m, Freshness::Read).await;
                    }
                }
                for m in self.unmask_write(old_id) {
                    self.notify(&m).await;
                }
                None
            }
            Err(e) => {
                self.inner
                    .borrow_mut()
                    .tabs
                    .foreign
                    .push((key.to_string(), old_id));
                self.storage_failed(&e);
                None
            }
        }
    }

    /// A message from another tab of this namespace.
    pub(super) async fn on_message(&self, text: &str) {
        self.ready().await;
        let Some(TabMessage { kind, key, landed }) = parse_message(text) else {
            return;
        };
        match kind.as_str() {
            "queued" => {
                if self
                    .inner
                    .borrow()
                    .tabs
                    .foreign
                    .iter()
                    .any(|(k, _)| k == &key)
                {
                    return;
                }
                if let Ok(Some(text)) = self.io.store_get(Table::Queue, &key).await {
                    if let Ok(w) = QueuedWrite::from_text(&key, &text) {
                        self.add_foreign(w);
                    }
                }
            }
            "done" => {
                let Some(write_id) = self.take_foreign(&key) else {
                    return;
                };
                // Keep the masks until a resolution includes the entries
                // (as for our own writes), and look now.
                let mut manifests = Vec::new();
                for l in landed {
                    let Ok(m) = Ref::from_url(&l.manifest) else {
                        continue;
                    };
                    let landing = Landing::from_stored(&m.key, &l.object, l.at);
                    self.state(&m).landed(write_id, &landing);
                    manifests.push(m);
                }
                self.note_status();
                for m in manifests {
                    if self.reachable() {
                        let _ = self.refresh(Some(&m)).await;
                    }
                }
            }
            "dropped" => {
                let write_id = self.take_foreign(&key);
                if let Some(write_id) = write_id {
                    self.unmask_write(write_id);
                }
            }
            _ => {}
        }
    }

    /// Tells the other tabs about one of our queued writes.
    pub(crate) fn announce(&self, kind: &str, w: &QueuedWrite) {
        if self.storing() {
            let mut entries = Vec::new();
            for m in &w.manifests {
                let url = m.url();
                if let Some(landing) = w.attempt(m) {
                    let (object, at) = landing.to_stored(&m.key);
                    entries.push(Landed {
                        manifest: url,
                        object,
                        at,
                    });
                }
            }
            self.io.broadcast(&message(kind, &w.key, &entries));
        }
    }

    /// Ends a queued write: out of the store, and the other tabs told.
    pub(crate) async fn forget_write(&self, w: &QueuedWrite, kind: &str) {
        self.store_delete(Table::Queue, &w.key).await;
        self.announce(kind, w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let landed = vec![Landed {
            manifest: "b/m".into(),
            object: "m@0x1".into(),
            at: 1_795_000_000_000,
        }];
        let text = message("done", "ns\"1", &landed);
        assert_eq!(
            parse_message(&text).unwrap(),
            TabMessage {
                kind: "done".into(),
                key: "ns\"1".into(),
                landed,
            }
        );
        assert!(parse_message("{").is_none());
        assert!(parse_message(r#"{"t":"done"}"#).is_none());
    }
}
