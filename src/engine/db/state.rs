//! What a client knows and owes: per manifest, the known log, its
//! resolution and the local writes masking it; subscribers; queued events.

use crate::prelude::*;

use crate::engine::error::Error;
use crate::engine::lock::FifoLock;
use crate::engine::protocol::{Files, Landing, Log, Waiting};

pub use crate::engine::object::JsonText;

/// A local write not yet seen in a resolution: it masks its key so that
/// `get` and subscribers see it at once (read your writes).
#[derive(Clone, Debug)]
pub struct Mask {
    pub write_id: u64,
    pub url: String,
    /// `None`: a delete.
    pub value: Option<JsonText>,
    /// The content version (uuid), or a placeholder until a versioned
    /// bucket names it; `None` for a delete.
    pub version: Option<String>,
    /// Where the write landed in the log, once it did.
    pub entry: Option<Landing>,
    /// The versions its write's checks name (a transaction that read
    /// another pending write's value names that write's version).
    pub after: Vec<String>,
}

/// What a client knows of one manifest: the resolution, this client's
/// masks and order, and its log (by its protocol: `protocol::Log`).
pub struct ManifestState {
    /// One resolution or entry write of this manifest at a time.
    pub lock: FifoLock,
    /// This client's writes reach the log in call order: a write takes its
    /// ticket when called and waits for it before its entry.
    pub write_order: FifoLock,
    /// This client's writes to the manifest not yet committed, in their
    /// order, each with its entry's change once it is ready: what the
    /// write at the head of the order may carry along (v2 groups them).
    pub waiting: Vec<Waiting>,
    /// The keys and their content as last read (`None`: never read).
    pub files: Option<Files>,
    pub masks: Vec<Mask>,
    /// The files came from the durable store and no read has answered
    /// from it yet: the first read after a reload does, at once.
    pub restored: bool,
    /// The files last written to the durable store.
    pub persisted: Option<Files>,
    /// The manifest's log, by its protocol once decided.
    pub log: Log,
    /// An encrypted manifest's key ring as stored (no key in clear), kept
    /// with the state so that a reload offline opens its values.
    pub ring: Option<String>,
    /// Its keys, opened (memory only).
    pub keys: Option<alloc::rc::Rc<super::keys::Keys>>,
    /// One load of the keys at a time: a second caller (the background
    /// read after the restore and a first read) takes what the first
    /// loaded rather than stretch the passphrase again.
    pub keys_loading: FifoLock,
}

impl ManifestState {
    /// The files when they differ from what the store holds (cloned only
    /// then: most listings change nothing).
    pub fn files_to_persist(&self) -> Option<Files> {
        let files = self.files.as_ref();
        (files != self.persisted.as_ref())
            .then(|| files.cloned())
            .flatten()
    }

    /// The state the store kept (`files`, and the log's own), unless the
    /// manifest was read already: a read answers from it at once.
    pub fn restore(&mut self, files: Files, log: Option<&[u8]>) {
        if let Some(text) = log {
            self.log.restore(text);
        }
        if self.files.is_none() {
            self.persisted = Some(files.clone());
            self.files = Some(files);
            self.restored = true;
        }
    }

    /// Whether the state is the store's only, not listed since a reload.
    pub fn stored_only(&self) -> bool {
        self.files.is_some() && !self.log.listed()
    }

    pub fn new(session: String) -> ManifestState {
        ManifestState {
            lock: FifoLock::new(),
            write_order: FifoLock::new(),
            files: None,
            masks: Vec::new(),
            restored: false,
            persisted: None,
            waiting: Vec::new(),
            log: Log::new(session),
            ring: None,
            keys: None,
            keys_loading: FifoLock::new(),
        }
    }

    /// What a key is now: the latest local write to it, else the resolved
    /// state.
    pub fn effective(&self, url: &str) -> Current {
        if let Some(m) = self.masks.iter().rev().find(|m| m.url == url) {
            return Current::Local {
                version: m.version.clone(),
                value: m.value.clone(),
            };
        }
        let version = self
            .files
            .as_ref()
            .and_then(|files| files.get(url))
            .map(|f| f.version.clone());
        Current::Resolved(version)
    }

    /// Whether the latest local write to `url` is still on its way to the
    /// log. Once its entry landed, its mask only bridges the time until the
    /// resolution includes that entry: a read must bring the resolution up
    /// to date, or a stale one would keep the mask, and hide newer writes,
    /// for as long as nothing else lists.
    pub fn pending(&self, url: &str) -> bool {
        self.masks
            .iter()
            .rev()
            .find(|m| m.url == url)
            .is_some_and(|m| m.entry.is_none())
    }

    /// The urls in `range` that have a value now (this client's pending
    /// writes included), in key order.
    pub fn urls_in(&self, range: &Range) -> Vec<String> {
        let mut urls: Vec<String> = Vec::new();
        if let Some(files) = &self.files {
            for (url, _) in files.iter() {
                if range.contains(url) {
                    urls.push(url.clone());
                }
            }
        }
        for m in &self.masks {
            if range.contains(&m.url) {
                if let Err(at) = urls.binary_search(&m.url) {
                    urls.insert(at, m.url.clone());
                }
            }
        }
        urls.retain(|u| self.effective(u).version().is_some());
        urls
    }

    /// Whether the value of `url` is binary, as the manifest records it
    /// (`None`: it does not say; the object's own type tells).
    pub fn is_binary(&self, url: &str) -> Option<bool> {
        self.log.is_binary(url)
    }

    /// The write `write_id` landed at `landing`: its masks go once the
    /// resolution includes that (now, if it does already: kept, they
    /// would outlive it for as long as nothing lists, a settled log
    /// answering polls with 304, and hide newer writes by others).
    pub fn landed(&mut self, write_id: u64, landing: &Landing) {
        for mask in &mut self.masks {
            if mask.write_id == write_id {
                mask.entry = Some(landing.clone());
            }
        }
        self.retire_masks();
    }

    /// Drops masks whose write the log as now known includes.
    pub fn retire_masks(&mut self) {
        let log = &self.log;
        self.masks
            .retain(|m| m.entry.as_ref().is_none_or(|at| !log.includes(at)));
    }
}

/// Keys of one bucket (`list`, prefix subscriptions): those starting with
/// `prefix`, from `start` (inclusive) to `end` (exclusive), in byte order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Range {
    pub bucket: String,
    pub prefix: String,
    pub start: Option<String>,
    pub end: Option<String>,
}

impl Range {
    /// The range holding `key` alone.
    pub fn key(key: &crate::engine::object::Ref) -> Range {
        Range {
            bucket: key.bucket.clone(),
            prefix: key.key.clone(),
            start: None,
            end: Some(cat!(key.key, "\0")),
        }
    }

    pub fn contains(&self, url: &str) -> bool {
        let key = url
            .strip_prefix(self.bucket.as_str())
            .and_then(|rest| rest.strip_prefix('/'));
        key.is_some_and(|key| {
            key.starts_with(self.prefix.as_str())
                && self.start.as_deref().is_none_or(|s| key >= s)
                && self.end.as_deref().is_none_or(|e| key < e)
        })
    }
}

/// What a key's subscriber is told beside the value: its version, and
/// for a write read from a v2 entry, its writer, time (the writer's clock)
/// and trace id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    pub version: Option<String>,
    pub writer: Option<String>,
    pub at: Option<i64>,
    pub trace: Option<String>,
}

/// What a key is now, for a read or a subscriber.
#[derive(Clone, Debug, PartialEq)]
pub enum Current {
    /// A local write not yet in the resolution masks the key: its value is
    /// in memory (`None`: a delete).
    Local {
        version: Option<String>,
        value: Option<JsonText>,
    },
    /// As resolved: the content version, `None` when absent.
    Resolved(Option<String>),
}

impl Current {
    /// The content version (`None`: absent).
    pub fn version(&self) -> &Option<String> {
        match self {
            Current::Local { version, .. } | Current::Resolved(version) => version,
        }
    }
}

pub struct Subscriber {
    pub id: u64,
    pub manifest: crate::engine::object::Ref,
    /// The keys it watches: one key's ([`Range::key`]), or a prefix's.
    pub range: Range,
    /// A key's subscriber: told the key's value, not a list of changes.
    pub key: bool,
    /// Each key in its range with a value, at the version it was last
    /// told of; `None`: not called yet.
    pub seen: Option<Vec<(String, String)>>,
}

/// Something for the edge to deliver to a subscriber.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Value {
        sub: u64,
        value: Option<JsonText>,
        meta: Meta,
    },
    Error {
        sub: u64,
        error: Error,
    },
    /// For a range's subscriber: each key in it that changed since it
    /// was last called, the first time every key in it (deleted: value
    /// and version `None`).
    Changes {
        sub: u64,
        changes: Vec<super::Found>,
    },
    /// For `onStatus` handlers: the status changed.
    Status(super::Status),
}
