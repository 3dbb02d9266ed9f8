//! The durable store (`Io::store_*`): the state of each manifest, the
//! content read or written (least recently used out), and the queue of
//! writes, all of which a reload starts from; and restoring from it.
//!
//! Every write is queued in the store before it is acknowledged locally
//! (see `queue`). No credential is ever stored.

use crate::prelude::*;

use super::keys::RING_ROW;
use super::pending::Pending;
use super::queue::QueuedWrite;
use super::stored_lru::StoredLru;
use super::tabs::lock_name;
use super::Db;
use crate::engine::error::{Error, ErrorKind};
use crate::engine::io::{Io, LockWait, Table};
use crate::engine::json::{self, JsonValue as Value};
use crate::engine::lean::scan::number;
use crate::engine::object::Ref;
use crate::engine::protocol::LOG_FIELD;
use crate::engine::protocol::{files_json, files_of};

impl<I: Io> Db<I> {
    /// Whether the durable store is in use (configured, and not failed).
    pub(crate) fn storing(&self) -> bool {
        self.inner.borrow().durable.store == super::Store::InUse
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
            if inner.durable.store != super::Store::InUse {
                return;
            }
            inner.durable.store = super::Store::Failed;
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

    pub(super) async fn store_delete(&self, table: Table, key: &str) {
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
        let evicted = match self.inner.borrow_mut().durable.stored.as_mut() {
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
        if for_eviction && self.inner.borrow().durable.stored.is_none() {
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
            self.inner.borrow_mut().durable.stored.get_or_insert(lru);
        }
        let used = self.io.now().max(0) as u64;
        if let Some(lru) = self.inner.borrow_mut().durable.stored.as_mut() {
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
        let files = self.state(m).files_to_persist();
        let Some(files) = files else { return };
        let mut o = Value::object();
        o.set("files", files_json(&files));
        // The log's own state, when its protocol keeps one (a reload
        // reads on from there).
        let log = self.state(m).log.stored_text();
        if let Some(text) = log {
            if let Ok(v) = json::parse(text.as_bytes()) {
                o.set(LOG_FIELD, v);
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
            if let Some(url) = key[ns.len()..].strip_suffix(RING_ROW) {
                if let Ok(m) = Ref::from_url(url) {
                    self.state(&m).ring = Some(text);
                }
                continue;
            }
            let Ok(m) = Ref::from_url(&key[ns.len()..]) else {
                continue;
            };
            let Ok(v) = json::parse(text.as_bytes()) else {
                continue;
            };
            let files = files_of(&v);
            let log = v.get(LOG_FIELD).map(|l| l.to_pretty());
            self.state(&m)
                .restore(files, log.as_ref().map(|l| l.as_bytes()));
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
                inner.durable.last_seq = inner.durable.last_seq.max(seq);
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
}
