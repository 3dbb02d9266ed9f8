//! What a client knows and owes: per manifest, the known log, its
//! resolution and the local writes masking it; subscribers; queued events.

use crate::prelude::*;

use crate::engine::error::Error;
use crate::engine::lock::FifoLock;
use crate::engine::protocol::v1::{Files, Resolution, V1State};
use crate::engine::protocol::v2::format::{Entry, LogState};
use crate::engine::protocol::v2::V2State;
use crate::engine::protocol::Protocol;
use crate::engine::time::EpochMillis;

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
    /// The entry that carries the write, once it landed.
    pub entry: Option<(String, EpochMillis)>,
    /// The versions its write's checks name (a transaction that read
    /// another pending write's value names that write's version).
    pub after: Vec<String>,
}

/// What a client knows of one manifest: the state both protocols share
/// (the resolution, this client's masks and order), and each protocol's
/// own.
pub struct ManifestState {
    /// One resolution or entry write of this manifest at a time.
    pub lock: FifoLock,
    /// This client's writes reach the log in call order: a write takes its
    /// ticket when called and waits for it before its entry.
    pub write_order: FifoLock,
    pub resolution: Option<Resolution>,
    pub masks: Vec<Mask>,
    /// The resolution came from the durable store and no read has answered
    /// from it yet: the first read after a reload does, at once.
    pub restored: bool,
    /// The files last written to the durable store.
    pub persisted: Option<Files>,
    /// The manifest's log format, once known (never `Auto`).
    pub protocol: Option<Protocol>,
    /// Protocol v1's state (the marker, the listing, the entries known).
    pub v1: V1State,
    /// Protocol v2's state (unused by v1 manifests).
    pub v2: V2State,
}

impl ManifestState {
    /// The resolution's files when they differ from what the store holds
    /// (cloned only then: most listings change nothing).
    pub fn files_to_persist(&self) -> Option<Files> {
        let files = self.resolution.as_ref().map(|r| &r.files);
        (files != self.persisted.as_ref())
            .then(|| files.cloned())
            .flatten()
    }

    /// A v2 manifest's state as the store keeps it: its log's, at its
    /// sequence number (a reload reads on from there).
    pub fn v2_checkpoint_text(&self) -> Option<String> {
        (self.protocol == Some(Protocol::V2)).then(|| self.v2.log.checkpoint_text())
    }

    /// The state the store kept (`files`, and a v2 log's), unless the
    /// manifest was read already: a read answers from it at once.
    pub fn restore(&mut self, files: Files, v2: Option<LogState>) {
        if let Some(log) = v2 {
            self.protocol = Some(Protocol::V2);
            self.v2.log = log;
        }
        if self.resolution.is_none() {
            self.persisted = Some(files.clone());
            self.resolution = Some(Resolution {
                files,
                ..Resolution::default()
            });
            self.restored = true;
        }
    }

    /// Whether the state is the store's only, not listed since a reload.
    pub fn stored_only(&self) -> bool {
        self.resolution.is_some() && self.v1.listed_at.is_none()
    }

    /// The manifest was upgraded to v2 (`Db::upgrade`): its state is read
    /// again from the new log; masks of writes not yet in an entry stay.
    pub fn upgraded_to_v2(&mut self) {
        self.protocol = Some(Protocol::V2);
        self.v2 = V2State::default();
        self.resolution = None;
        self.masks.retain(|mask| mask.entry.is_none());
    }

    /// The entry of v2 slot `n` applied: the state and the key → content
    /// map follow it, and the masks it includes retire.
    pub fn apply_v2(&mut self, n: u64, entry: &Entry) {
        let files = &mut self
            .resolution
            .get_or_insert_with(Resolution::default)
            .files;
        self.v2.apply(n, entry, files);
        self.retire_masks();
    }

    /// A v2 read restarts from `checkpoint` (when it read one) and knows
    /// checkpoint `newest` exists; `from`: the slot it read from.
    pub fn restart_v2(&mut self, checkpoint: Option<LogState>, newest: u64, from: u64) {
        if let Some(log) = checkpoint {
            let files = self.v2.restart(log);
            self.resolution = Some(Resolution {
                files,
                ..Resolution::default()
            });
        }
        self.v2.checkpoint = self.v2.checkpoint.max(newest);
        self.resolution.get_or_insert_with(Resolution::default);
        if from == 0 {
            self.v2.superseded_from.get_or_insert(0);
        }
    }

    /// Whether the v2 head was read less than `refresh_ms` before `now`.
    pub fn read_v2_since(&self, now: EpochMillis, refresh_ms: i64) -> bool {
        self.v2.read_at.is_some_and(|t| now - t < refresh_ms) && self.resolution.is_some()
    }

    pub fn new(session: String) -> ManifestState {
        ManifestState {
            lock: FifoLock::new(),
            write_order: FifoLock::new(),
            resolution: None,
            masks: Vec::new(),
            restored: false,
            persisted: None,
            protocol: None,
            v1: V1State {
                session,
                ..V1State::default()
            },
            v2: Default::default(),
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
            .resolution
            .as_ref()
            .and_then(|r| r.files.get(url))
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
        if let Some(r) = &self.resolution {
            for (url, _) in r.files.iter() {
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

    /// Whether the value of `url` is binary, as the manifest records it: a
    /// v2 entry names a binary value's type (`None`: v1, which records no
    /// type; the object's own tells).
    pub fn is_binary(&self, url: &str) -> Option<bool> {
        (self.protocol == Some(Protocol::V2)).then(|| {
            let k = self.v2.log.keys.get(url);
            k.is_some_and(|k| k.stored.content_type.is_some())
        })
    }

    /// The write `write_id` is in the entry `object`: its masks go once
    /// the resolution includes that (now, if it does already: kept, they
    /// would outlive it for as long as nothing lists, a settled log
    /// answering polls with 304, and hide newer writes by others).
    pub fn landed(&mut self, write_id: u64, object: &str, ts: EpochMillis) {
        for mask in &mut self.masks {
            if mask.write_id == write_id {
                mask.entry = Some((object.to_string(), ts));
            }
        }
        self.retire_masks();
    }

    /// Drops masks whose entry the resolution now includes.
    pub fn retire_masks(&mut self) {
        if self.protocol == Some(Protocol::V2) {
            // An entry's slot is its place: in once the state passed it.
            let head = self.v2.log.seq as EpochMillis;
            self.masks
                .retain(|m| m.entry.as_ref().is_none_or(|(_, slot)| *slot > head));
            return;
        }
        let Some(r) = &self.resolution else { return };
        let base_ts = r.base.as_ref().map(|b| b.1);
        self.masks.retain(|m| match (&m.entry, base_ts) {
            (Some((key, ts)), Some(base_ts)) => {
                let included = r.included.iter().any(|k| k == key);
                let subsumed = *ts < base_ts - crate::engine::protocol::v1::LAG_WINDOW_MS;
                !(included || subsumed)
            }
            _ => true,
        });
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
