//! What survives a reload: the durable store (state, content, the write
//! queue), restoring from it, and keeping tabs that share it in step.
//!
//! Every write is queued in the store before it is acknowledged locally
//! (see `queue`). Each queued write is held under a lock named for it,
//! shared across tabs and released when its holder dies, so a write is
//! committed by one client only: its maker, or whoever finds it unheld
//! after a reload or a crash. A tab that sees another's queued write masks
//! its keys as its own until that write is committed (read your writes,
//! across tabs), told by broadcast messages.

use crate::prelude::*;

use super::queue::{queue_key, QueuedWrite};
use super::state::Mask;
use super::stored_lru::StoredLru;
use super::sync::Freshness;
use super::Db;
use crate::engine::error::{Error, ErrorKind};
use crate::engine::io::{Io, LockWait, Table};
use crate::engine::json::{self, quote, JsonValue as Value};
use crate::engine::lean::scan::number;
use crate::engine::lock::{Guard, Ticket};
use crate::engine::object::Ref;
use crate::engine::protocol::v1::{files_json, files_of, Resolution};
use crate::engine::protocol::v2::format::LogState;
use crate::engine::time::EpochMillis;

/// A write's places in its manifests' orders, one of each per manifest:
/// a ticket until its turn comes, then the turn.
pub(crate) struct Turns {
    pub(crate) tickets: Vec<Option<Ticket>>,
    pub(crate) turns: Vec<Option<Guard>>,
}

/// A queued write and what its commit holds: its place in each manifest's
/// order, and the lock that makes its committer the only one.
pub struct Pending<L> {
    pub(crate) write: QueuedWrite,
    pub(crate) write_id: u64,
    pub(crate) tickets: Vec<Option<Ticket>>,
    pub(crate) turns: Vec<Option<Guard>>,
    pub(crate) _lock: Option<L>,
    /// Whether the store holds it: only then may the edge acknowledge it
    /// before it is committed.
    pub(crate) durable: bool,
}

impl<L> Pending<L> {
    pub fn durable(&self) -> bool {
        self.durable
    }

    /// The key of the write in the queue table.
    pub fn key(&self) -> &str {
        &self.write.key
    }
}

pub(crate) fn lock_name(key: &str) -> String {
    cat!("mps3 write ", key)
}

/// Where a write's entry landed in one manifest, as tabs tell each other.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Landing {
    /// The manifest's url.
    manifest: String,
    /// The entry's object (v1), or its slot's (v2).
    object: String,
    /// v1: the entry's time; v2: its slot.
    at: EpochMillis,
}

/// What a tab tells the others of one of its queued writes.
#[derive(Debug, PartialEq, Eq)]
struct TabMessage {
    /// "queued", "done" or "dropped".
    kind: String,
    /// The write's queue key.
    key: String,
    landed: Vec<Landing>,
}

/// A message to the other tabs: `{"t": kind, "k": queue key, "e": entries}`.
fn message(kind: &str, key: &str, entries: &[Landing]) -> String {
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
            entries.push(Landing {
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

impl<I: Io> Db<I> {
    /// Whether the durable store is in use (configured, and not failed).
    pub(crate) fn storing(&self) -> bool {
        self.inner.borrow().store == super::Store::InUse
    }

    /// Whether writes are being made durable.
    pub fn is_durable(&self) -> bool {
        self.storing()
    }

    /// The store failed: from now on work from memory. Said once, through
    /// the log and to every subscriber, since a write from now on is not
    /// kept across a reload.
    pub(crate) fn storage_failed(&self, e: &Error) {
        {
            let mut inner = self.inner.borrow_mut();
            if inner.store != super::Store::InUse {
                return;
            }
            inner.store = super::Store::Failed;
        }
        let error = Error::new(
            ErrorKind::Storage,
            cat!(
                "offline storage is unavailable (",
                e.message,
                "); writes are kept in memory until committed"
            ),
        );
        self.io.log("storage", &error.message);
        self.tell_error(&error, &|_| true);
    }

    pub(crate) async fn store_put(&self, table: Table, key: &str, value: &str) -> bool {
        if !self.storing() {
            return false;
        }
        match self.io.store_put(table, key, value).await {
            Ok(()) => true,
            Err(e) => {
                self.storage_failed(&e);
                false
            }
        }
    }

    async fn store_delete(&self, table: Table, key: &str) {
        if self.storing() {
            if let Err(e) = self.io.store_delete(table, key).await {
                self.storage_failed(&e);
            }
        }
    }

    fn content_key(&self, url: &str, version: &str) -> String {
        cat!(self.cfg.namespace, url, "\u{0}", version)
    }

    pub(crate) async fn stored_content(&self, url: &str, version: &str) -> Option<super::JsonText> {
        if !self.storing() {
            return None;
        }
        let key = self.content_key(url, version);
        match self.io.store_get(Table::Content, &key).await {
            Ok(Some(v)) => {
                self.content_used(&key, v.len(), false).await;
                Some(v.into())
            }
            Ok(None) => None,
            Err(e) => {
                self.storage_failed(&e);
                None
            }
        }
    }

    /// Stores content, then evicts the least recently used beyond
    /// `offline_bytes`.
    pub(crate) async fn store_content(&self, url: &str, version: &str, value: &str) {
        let key = self.content_key(url, version);
        if !self.store_put(Table::Content, &key, value).await {
            return;
        }
        self.content_used(&key, value.len(), true).await;
        let evicted = match self.inner.borrow_mut().stored.as_mut() {
            Some(lru) => lru.evict(self.cfg.offline_bytes, &key),
            None => Vec::new(),
        };
        for k in evicted {
            self.store_delete(Table::Content, &k).await;
            self.store_delete(Table::ContentMeta, &k).await;
        }
    }

    /// Records a use of stored content. The index is loaded (a scan of
    /// the metadata) only when `for_eviction`: a read from the store, on
    /// the start-up path, writes its metadata and no more, and the scan
    /// later finds it.
    async fn content_used(&self, key: &str, bytes: usize, for_eviction: bool) {
        if for_eviction && self.inner.borrow().stored.is_none() {
            let rows = match self
                .io
                .store_scan(Table::ContentMeta, &self.cfg.namespace)
                .await
            {
                Ok(rows) => rows,
                Err(e) => return self.storage_failed(&e),
            };
            let mut lru = StoredLru::default();
            for (k, text) in rows {
                if let Some((b, used)) = StoredLru::parse_meta(&text) {
                    lru.touch(&k, b, used);
                }
            }
            self.inner.borrow_mut().stored.get_or_insert(lru);
        }
        let used = self.io.now().max(0) as u64;
        if let Some(lru) = self.inner.borrow_mut().stored.as_mut() {
            lru.touch(key, bytes, used);
        }
        self.store_put(Table::ContentMeta, key, &StoredLru::meta(bytes, used))
            .await;
    }

    /// Stores the resolved state of `m` if it changed since last stored.
    pub(crate) async fn persist_state(&self, m: &Ref) {
        if !self.storing() {
            return;
        }
        // Cloned only when it changed: most listings change nothing.
        let files = {
            let mut g = self.state(m);
            let s = &mut *g;
            let files = s.resolution.as_ref().map(|r| &r.files);
            (files != s.persisted.as_ref())
                .then(|| files.cloned())
                .flatten()
        };
        let Some(files) = files else { return };
        let mut o = Value::object();
        o.set("files", files_json(&files));
        // A v2 manifest's state is its log's, at its sequence number: a
        // reload reads on from there.
        let v2 = {
            let mut g = self.state(m);
            let s = &mut *g;
            (s.protocol == Some(super::Protocol::V2)).then(|| s.v2.log.checkpoint_text())
        };
        if let Some(text) = v2 {
            if let Ok(v) = json::parse(text.as_bytes()) {
                o.set("v2", v);
            }
        }
        let key = cat!(self.cfg.namespace, m.url());
        if self.store_put(Table::State, &key, &o.to_pretty()).await {
            self.state(m).persisted = Some(files);
        }
    }

    /// Stores a queued write's progress; `false` if it could not.
    pub(crate) async fn store_write(&self, w: &QueuedWrite) -> bool {
        self.store_put(Table::Queue, &w.key, &w.to_text()).await
    }

    /// A new queue key: the namespace, a sequence later than any this
    /// client gave out (and than the clock's milliseconds, so keys made
    /// after a reload sort after those made before), and this client's tag
    /// (tabs of one namespace never collide).
    pub(crate) fn next_queue_key(&self) -> String {
        let now = self.io.now().max(0) as u64;
        let mut inner = self.inner.borrow_mut();
        let seq = (inner.last_seq + 1).max(now * 1000);
        inner.last_seq = seq;
        queue_key(&self.cfg.namespace, seq, &inner.tag)
    }

    /// The masks of a queued write, made visible at once.
    pub(crate) fn mask_write(&self, w: &QueuedWrite, write_id: u64) {
        let mut after = Vec::new();
        for (_, v) in &w.checks {
            after.extend(v.clone());
        }
        for m in &w.manifests {
            let entry = w.attempt(&m.url()).filter(|_| w.is_done(&m.url()));
            {
                let mut g = self.state(m);
                let s = &mut *g;
                for ((key, value), version) in w.batch.iter().zip(&w.versions) {
                    s.masks.push(Mask {
                        write_id,
                        url: key.url(),
                        value: value.clone(),
                        version: version.clone(),
                        entry: entry.map(|(o, ts)| (o.to_string(), ts)),
                        after: after.clone(),
                    });
                }
            };
            self.notify_local(m);
        }
        self.note_status();
    }

    pub(crate) fn unmask_write(&self, write_id: u64) -> Vec<Ref> {
        let mut touched = Vec::new();
        {
            let mut inner = self.inner.borrow_mut();
            for (m, s) in &mut inner.manifests {
                let before = s.masks.len();
                s.masks.retain(|mask| mask.write_id != write_id);
                if s.masks.len() != before {
                    touched.push(m.clone());
                }
            }
        }
        for m in &touched {
            self.notify_local(m);
        }
        self.note_status();
        touched
    }

    /// Withdraws a write of this client that will never be in the log,
    /// and the writes whose checks name a version it gave: those fail
    /// theirs when their turn comes, and until then their values, counted
    /// on the withdrawn one, must not be read (a transaction run again
    /// would count that write twice).
    pub(crate) fn withdraw(&self, write_id: u64) {
        let mut gone = vec![write_id];
        let mut i = 0;
        while let Some(&id) = gone.get(i) {
            i += 1;
            let inner = self.inner.borrow();
            for (_, s) in &inner.manifests {
                for w in &s.masks {
                    let Some(v) = w.version.as_ref().filter(|_| w.write_id == id) else {
                        continue;
                    };
                    for (_, t) in &inner.manifests {
                        for d in &t.masks {
                            if d.after.contains(v) && !gone.contains(&d.write_id) {
                                gone.push(d.write_id);
                            }
                        }
                    }
                }
            }
        }
        for id in gone {
            self.unmask_write(id);
        }
    }

    fn new_write_id(&self) -> u64 {
        let mut inner = self.inner.borrow_mut();
        let id = inner.next_id;
        inner.next_id += 1;
        id
    }

    /// Takes over a queued write: its place in each manifest's order is
    /// taken now.
    fn adopt(&self, write: QueuedWrite, lock: I::Lock) -> Pending<I::Lock> {
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
        let i = inner.foreign.iter().position(|(k, _)| k == key)?;
        Some(inner.foreign.remove(i).1)
    }

    fn add_foreign(&self, write: QueuedWrite) {
        let write_id = self.new_write_id();
        self.inner
            .borrow_mut()
            .foreign
            .push((write.key.clone(), write_id));
        self.mask_write(&write, write_id);
    }

    /// Loads what the store holds for this namespace: each manifest's last
    /// state (a read answers from it at once) and the queued writes. Those
    /// no live client holds are returned, to be committed (in order:
    /// their tickets are taken here, before any new write's); those
    /// another tab holds are masked here until it commits them. Every call
    /// waits until this is done.
    pub(super) async fn restore(&self) -> Vec<Pending<I::Lock>> {
        let out = self.load_stored().await;
        self.booting.borrow_mut().take();
        out
    }

    async fn load_stored(&self) -> Vec<Pending<I::Lock>> {
        if !self.storing() {
            return Vec::new();
        }
        let ns = self.cfg.namespace.clone();
        let states = match self.io.store_scan(Table::State, &ns).await {
            Ok(rows) => rows,
            Err(e) => {
                self.storage_failed(&e);
                return Vec::new();
            }
        };
        for (key, text) in states {
            let Ok(m) = Ref::from_url(&key[ns.len()..]) else {
                continue;
            };
            let Ok(v) = json::parse(text.as_bytes()) else {
                continue;
            };
            let files = files_of(&v);
            let v2 = v
                .get("v2")
                .and_then(|c| LogState::from_checkpoint(c.to_pretty().as_bytes()).ok());
            {
                let mut g = self.state(&m);
                let s = &mut *g;
                if let Some(log) = v2 {
                    s.protocol = Some(super::Protocol::V2);
                    s.v2.log = log;
                }
                if s.resolution.is_none() {
                    s.persisted = Some(files.clone());
                    s.resolution = Some(Resolution {
                        files,
                        ..Resolution::default()
                    });
                    s.restored = true;
                }
            };
        }
        let queued = match self.io.store_scan(Table::Queue, &ns).await {
            Ok(rows) => rows,
            Err(e) => {
                self.storage_failed(&e);
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (key, text) in queued {
            let write = match QueuedWrite::from_text(&key, &text) {
                Ok(w) => w,
                Err(e) => {
                    self.io.log("queue", &e.message);
                    continue;
                }
            };
            if let Some(seq) = key.get(ns.len()..ns.len() + 20).and_then(|s| number(s, 10)) {
                let mut inner = self.inner.borrow_mut();
                inner.last_seq = inner.last_seq.max(seq);
            }
            match self.io.lock(&lock_name(&key), LockWait::IfFree).await {
                Some(lock) => out.push(self.adopt(write, lock)),
                None => self.add_foreign(write),
            }
        }
        if !out.is_empty() {
            self.io.log(
                "queue",
                &cat!(out.len(), " queued writes to commit from before"),
            );
        }
        out
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
        for (k, _) in &self.inner.borrow().foreign {
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
                if self.inner.borrow().foreign.iter().any(|(k, _)| k == &key) {
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
                    self.state(&m).landed(write_id, &l.object, l.at);
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
                if let Some((o, at)) = w.attempt(&url) {
                    entries.push(Landing {
                        manifest: url,
                        object: String::from(o),
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
        let landed = vec![Landing {
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
