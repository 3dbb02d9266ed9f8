//! The database engine: put/get/delete/putAll/getAll/subscribe over the
//! manifest log, for one client.
//!
//! Reads resolve the log (protocol v1) behind a change-marker check: an
//! idle poll is one GET answered 304. Writes are queued in the durable
//! store first (`offline`, `queue`), then upload content, check the log is
//! fresh, PUT one entry per manifest under a key made just before its PUT,
//! rewrite it if it landed too late, then touch the marker. Local writes
//! mask their keys until their entry is seen. Every request is retried on
//! transient failure, and every answer's `Date` corrects the clock.
//! Offline, reads answer from what is stored and writes wait in the queue.
//!
//! Single-threaded (browser tasks, or the simulation's executor); state is
//! borrowed only between awaits, never across one.

use crate::prelude::*;

mod atomic;
mod background;
mod change;
mod connectivity;
mod keys;
mod log;
mod notify;
mod pending;
mod queue;
mod request;
mod state;
mod store;
mod stored_lru;
mod sync;
mod tabs;
mod write;

use core::cell::{Cell, RefCell};

pub use atomic::{Outcome, Tx};
pub use background::{Ack, Acked, Committer};
pub use change::Change;
pub use connectivity::Status;
pub use keys::{Encryption, Secret};
pub use pending::Pending;
use pending::Turns;
pub use queue::QueuedWrite;
use state::{Current, ManifestState, Subscriber};
pub use state::{Event, JsonText, Meta, Range};

pub use crate::engine::protocol::Protocol;
pub use crate::engine::protocol::{Applied, Inspection};
use crate::engine::protocol::{Freshness, AUTOCLEAN_GRACE_MS};
#[cfg(test)]
pub(crate) use write::GZIP_MIN_BYTES;

use crate::engine::clock_sync::ClockSync;
use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::io::Io;
use crate::engine::lean::lru::Lru;
use crate::engine::lock::{FifoLock, Guard};
use crate::engine::object::Ref;
use crate::engine::retry::RetryPolicy;
use crate::engine::rng::Rng;
use crate::engine::s3::{validate_bucket, validate_key, validate_object_key, S3};

/// How a client behaves (the JS config, minus what only the edges use).
#[derive(Clone, Debug)]
pub struct DbConfig {
    pub default_manifest: Ref,
    pub use_versioning: bool,
    pub poll_frequency_ms: u64,
    pub autoclean: bool,
    /// Upload values and log entries of `GZIP_MIN_BYTES` or more gzipped,
    /// where the edge can compress (`Io::gzip`).
    pub gzip: bool,
    /// Trust a change marker the log is settled at instead of listing the
    /// log (polls and writes; see docs/protocol.md, "Claims").
    pub minimize_list_calls: bool,
    pub clock_offset: i64,
    pub adaptive_clock: bool,
    pub retry: RetryPolicy,
    /// No credentials were configured, only a provider: ask it first.
    pub credentials_from_provider: bool,
    /// Memory for cached content (values never change, so reading one
    /// again costs nothing while it is cached).
    pub cache_bytes: usize,
    /// Keep state, content and the write queue in the durable store.
    pub offline_storage: bool,
    /// Bytes of content kept in the durable store, least recently used
    /// out (queued writes and the state are not counted, never evicted).
    pub offline_bytes: usize,
    /// Prefix of this client's keys in the durable store: clients with the
    /// same namespace (tabs with one label and endpoint) share a queue.
    pub namespace: String,
    /// Whether the client starts online.
    pub online: bool,
    /// The log format of manifests (see `v2`).
    pub protocol: Protocol,
    /// v2: a writer checkpoints once the log is this many entries past the
    /// newest checkpoint.
    pub checkpoint_every: u64,
    /// v2: what collection leaves, counted from the checkpoint above it
    /// (see `protocol::v2::checkpoint::collect`).
    pub grace_ms: i64,
    /// Which manifests' values are encrypted, and with what.
    pub encryption: Encryption,
}

impl DbConfig {
    pub fn new(default_bucket: &str) -> DbConfig {
        DbConfig {
            default_manifest: Ref::new(default_bucket, "manifest.json"),
            use_versioning: false,
            poll_frequency_ms: 1000,
            autoclean: true,
            gzip: true,
            minimize_list_calls: true,
            clock_offset: 0,
            adaptive_clock: true,
            retry: RetryPolicy::default(),
            credentials_from_provider: false,
            cache_bytes: 4 << 20,
            offline_storage: true,
            offline_bytes: 64 << 20,
            namespace: String::new(),
            online: true,
            protocol: Protocol::Auto,
            checkpoint_every: crate::engine::protocol::CHECKPOINT_EVERY,
            grace_ms: AUTOCLEAN_GRACE_MS,
            encryption: Encryption::default(),
        }
    }
}

/// The state of manifest `m`, if known.
fn state_of<'a>(manifests: &'a [(Ref, ManifestState)], m: &Ref) -> Option<&'a ManifestState> {
    manifests.iter().find(|(r, _)| r == m).map(|(_, s)| s)
}

/// The client's mutable state, in named parts.
struct Inner {
    rng: Rng,
    clock: ClockSync,
    /// Few per client: a list, not a map (less code in the .wasm).
    manifests: Vec<(Ref, ManifestState)>,
    /// Immutable content by (url, version), bounded by `cache_bytes`.
    content: Lru<(String, String)>,
    /// Values of encrypted manifests opened, by (url, hash of the sealed
    /// text): memory only, bounded by `cache_bytes`.
    opened: Lru<(String, String)>,
    /// The next id to give a write or a subscription.
    next_id: u64,
    subscribers: Subscribers,
    durable: Durable,
    tabs: Tabs,
    tasks: Tasks,
    reported: Reported,
    probes: CreateProbes,
}

/// Subscriptions, and the events queued for them (`Db::take_events`).
#[derive(Default)]
struct Subscribers {
    subs: Vec<Subscriber>,
    events: Vec<Event>,
}

/// The durable store's part (`db::store`).
struct Durable {
    store: Store,
    /// The store's content by last use, loaded at first use.
    stored: Option<stored_lru::StoredLru>,
    /// The last write sequence number given out (see `db::queue`).
    last_seq: u64,
}

/// This client among the other tabs of its namespace (`db::tabs`).
#[derive(Default)]
struct Tabs {
    /// Ends this client's queue keys (unique among tabs); its writer id.
    tag: String,
    /// Writes another client of this namespace (a tab) has queued: their
    /// store key → the write id of their masks here.
    foreign: Vec<(String, u64)>,
    /// Other tabs' writes whose locks a task waits on (their queue keys).
    watching: Vec<String>,
}

/// The background tasks running.
#[derive(Default)]
struct Tasks {
    /// The poller (started with the first subscription).
    polling: bool,
    /// The prober (while disconnected).
    probing: bool,
}

/// What the status reports (`db::connectivity`).
#[derive(Default)]
struct Reported {
    /// When a manifest was last brought up to date with the bucket.
    last_sync_at: Option<i64>,
    /// The status last reported to `onStatus` handlers.
    status_sent: Option<Status>,
}

/// Probes of buckets' conditional creates (`Db::enforces_create`).
#[derive(Default)]
struct CreateProbes {
    /// Per bucket: whether it enforces `If-None-Match: *` (probed once).
    enforced: Vec<(String, bool)>,
    /// The uuid of this client's probe object.
    probe_id: Option<String>,
}

pub struct Db<I: Io> {
    io: I,
    /// Replaced credentials and all when a provider refreshes them.
    s3: RefCell<S3>,
    /// Credentials must come from the provider before the first request.
    needs_credentials: Cell<bool>,
    cfg: DbConfig,
    inner: RefCell<Inner>,
    shutdown: Cell<bool>,
    online: Cell<bool>,
    /// Whether the bucket answers (see `connectivity`).
    connected: Cell<bool>,
    /// Attempts failed without an answer since the last answer.
    failing: RefCell<connectivity::Failing>,
    /// Preflighted attempts failed without an answer since the last
    /// answer to one (see `connectivity::BLOCKED_AFTER_FAILURES`).
    blocked: Cell<Option<connectivity::BlockedRun>>,
    /// What is wrong with the bucket or the config (`Status::problem`).
    problem: RefCell<Option<connectivity::Problem>>,
    disconnections: Cell<u32>,
    /// Starts the prober when the client finds itself disconnected.
    prober: RefCell<Option<alloc::rc::Rc<dyn Fn()>>>,
    /// Writes hold a turn while they are accepted, until their keys are
    /// masked; a read waits for the turns taken before it, so that it
    /// reads a write made just before it, acknowledged or not.
    accepting: FifoLock,
    /// Probes of a bucket's conditional creates, one at a time.
    create_probe: FifoLock,
    /// Every call waits on this until [`Db::restore`] loaded the durable
    /// state: it holds the gate's first turn.
    gate: FifoLock,
    booting: RefCell<Option<Guard>>,
    /// Entries written without a listing (the simulation reports them, so
    /// that it visibly covers that path).
    #[cfg(test)]
    pub(crate) unlisted_entries: Cell<u32>,
    /// Writes carried in another's v2 entry (the simulation's figures).
    #[cfg(test)]
    pub(crate) grouped_writes: Cell<u32>,
    /// Atomic writes whose check failed where they landed.
    #[cfg(test)]
    pub(crate) failed_checks: Cell<u32>,
}

/// A batch of writes: key → JSON text, or `None` to delete.
pub type Batch = Vec<(Ref, Option<JsonText>)>;

/// What a read asks for: keys, or the keys with a value in a range (at
/// most `limit` of them, from its end when `reverse`).
#[derive(Clone, Copy)]
pub enum Select<'a> {
    Keys(&'a [Ref]),
    Range {
        range: &'a Range,
        limit: usize,
        reverse: bool,
    },
}

/// What a subscriber watches: a key (told its value) or a range (told
/// the keys in it that changed).
#[derive(Clone, Debug)]
pub enum Watch {
    Key(Ref),
    Range(Range),
}

/// Whether the durable store (`Io::store_*`) keeps the state and the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Store {
    /// Not configured (`offlineStorage: false`).
    Off,
    InUse,
    /// It failed (reported once): from then on the client works from
    /// memory.
    Failed,
}

/// A key read (`value` and `version` `None`: absent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// `bucket/key`.
    pub url: String,
    pub value: Option<JsonText>,
    /// Opaque; changes with every write of the key.
    pub version: Option<String>,
}

impl<I: Io> Db<I> {
    pub fn new(io: I, s3: S3, cfg: DbConfig, seed: u64) -> Result<Db<I>> {
        validate_bucket(&cfg.default_manifest.bucket)?;
        validate_object_key(&cfg.default_manifest.key)?;
        let mut rng = Rng::new(seed);
        let tag = cat!("-", &rng.uuid_v4()[..8]);
        let gate = FifoLock::new();
        let booting = RefCell::new(gate.try_lock());
        Ok(Db {
            io,
            needs_credentials: Cell::new(cfg.credentials_from_provider),
            s3: RefCell::new(s3),
            inner: RefCell::new(Inner {
                rng,
                clock: ClockSync::new(cfg.clock_offset, cfg.adaptive_clock),
                manifests: Vec::new(),
                content: Lru::new(cfg.cache_bytes),
                opened: Lru::new(cfg.cache_bytes),
                next_id: 1,
                subscribers: Subscribers::default(),
                durable: Durable {
                    store: if cfg.offline_storage {
                        Store::InUse
                    } else {
                        Store::Off
                    },
                    stored: None,
                    last_seq: 0,
                },
                tabs: Tabs {
                    tag,
                    ..Tabs::default()
                },
                tasks: Tasks::default(),
                reported: Reported::default(),
                probes: CreateProbes::default(),
            }),
            online: Cell::new(cfg.online),
            connected: Cell::new(true),
            failing: RefCell::default(),
            blocked: Cell::new(None),
            problem: RefCell::new(None),
            disconnections: Cell::new(0),
            prober: RefCell::new(None),
            accepting: FifoLock::new(),
            create_probe: FifoLock::new(),
            cfg,
            #[cfg(test)]
            unlisted_entries: Cell::new(0),
            #[cfg(test)]
            grouped_writes: Cell::new(0),
            #[cfg(test)]
            failed_checks: Cell::new(0),
            shutdown: Cell::new(false),
            gate,
            booting,
        })
    }

    pub fn config(&self) -> &DbConfig {
        &self.cfg
    }

    pub fn io(&self) -> &I {
        &self.io
    }

    /// The corrected clock offset now in use (ms).
    pub fn clock_offset(&self) -> i64 {
        self.inner.borrow().clock.offset
    }

    /// The time the engine believes the server has.
    pub fn server_now(&self) -> i64 {
        self.inner.borrow().clock.now(self.io.now())
    }

    /// `m`'s state, created on first use, borrowed until the guard drops
    /// (never across an await). Not generic (no closure per use): one copy
    /// in the .wasm however many places use it.
    fn state(&self, m: &Ref) -> core::cell::RefMut<'_, ManifestState> {
        core::cell::RefMut::map(self.inner.borrow_mut(), |inner| {
            let i = Self::manifest_index(inner, m);
            &mut inner.manifests[i].1
        })
    }

    /// The index of `m`'s state, created on first use. Kept out of line
    /// (`state` has some eighty callers).
    #[inline(never)]
    fn manifest_index(inner: &mut Inner, m: &Ref) -> usize {
        match inner.manifests.iter().position(|(r, _)| r == m) {
            Some(i) => i,
            None => {
                let session = inner.rng.session_id();
                inner
                    .manifests
                    .push((m.clone(), ManifestState::new(session)));
                inner.manifests.len() - 1
            }
        }
    }

    fn check_ref(r: &Ref) -> Result<()> {
        validate_bucket(&r.bucket)?;
        validate_key(&r.key)
    }

    /// A manifest is an object itself (its change marker).
    fn check_manifest(r: &Ref) -> Result<()> {
        validate_bucket(&r.bucket)?;
        validate_object_key(&r.key)
    }

    fn check_live(&self) -> Result<()> {
        if self.shutdown.get() {
            Err(Error::new(ErrorKind::Shutdown, "the client was shut down"))
        } else {
            Ok(())
        }
    }

    /// The value of `key` through `manifest`: a local write if one is
    /// pending, else the freshly resolved state. `None`: absent.
    pub async fn get(&self, key: &Ref, manifest: Option<&Ref>) -> Result<Option<JsonText>> {
        Ok(self
            .read(Select::Keys(core::slice::from_ref(key)), manifest)
            .await?
            .pop()
            .expect("one key, one value")
            .value)
    }

    /// The keys `select` names, each with its value and version (`None`,
    /// `None`: absent), from one resolution of the manifest: a consistent
    /// snapshot (plus this client's pending writes). A version is opaque
    /// and changes with every write of the key: what an atomic write's
    /// check names. A range answers the keys in it that have a value.
    pub async fn read(&self, select: Select<'_>, manifest: Option<&Ref>) -> Result<Vec<Found>> {
        self.ready().await;
        // After the writes made before this read have masked their keys.
        drop(self.accepting.lock().await);
        self.check_live()?;
        let keys = match select {
            Select::Keys(keys) => keys,
            Select::Range { .. } => &[],
        };
        for k in keys {
            Self::check_ref(k)?;
        }
        let m = manifest.unwrap_or(&self.cfg.default_manifest).clone();
        Self::check_manifest(&m)?;
        // Keys all written locally and pending read as written, at once.
        let all_masked = {
            let s = self.state(&m);
            !keys.is_empty() && keys.iter().all(|k| s.pending(&k.url()))
        };
        // The first read after a reload answers from the stored state at
        // once (later reads and the poller bring it up to date); offline
        // or disconnected, every read does (a read that finds the bucket
        // unreachable too, after that one attempt), and a key not stored
        // is `Offline`.
        let (cached, resolved) = {
            let mut s = self.state(&m);
            (core::mem::take(&mut s.restored), s.files.is_some())
        };
        let answer_from_store = cached && resolved;
        if !all_masked && !answer_from_store {
            let synced = if self.reachable() {
                self.locked_sync(&m, Freshness::Read).await
            } else {
                Err(Error::new(ErrorKind::Offline, "offline"))
            };
            match synced {
                Ok(()) => {}
                Err(e) if e.kind == ErrorKind::Offline => {
                    let stored = self.state(&m).files.is_some();
                    if !stored {
                        return Err(Error::new(
                            ErrorKind::Offline,
                            "offline, and this manifest is not stored locally",
                        ));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let snapshot: Vec<(String, Current)> = {
            let s = self.state(&m);
            let mut urls = Vec::new();
            for k in keys {
                urls.push(k.url());
            }
            if let Select::Range {
                range,
                limit,
                reverse,
            } = select
            {
                urls = s.urls_in(range);
                if reverse {
                    urls.reverse();
                }
                urls.truncate(limit);
            }
            let mut snapshot = Vec::new();
            for url in urls {
                let current = s.effective(&url);
                snapshot.push((url, current));
            }
            snapshot
        };
        let mut out = Vec::with_capacity(snapshot.len());
        for (url, current) in snapshot {
            let (value, version) = match current {
                Current::Local { value, version } => (value, version),
                Current::Resolved(None) => (None, None),
                Current::Resolved(Some(v)) => {
                    let binary = self.state(&m).is_binary(&url);
                    (Some(self.content(&url, &v, binary).await?), Some(v))
                }
            };
            let value = self.reveal(&m, &url, value).await?;
            out.push(Found {
                url,
                value,
                version,
            });
        }
        Ok(out)
    }

    /// Whether requests are made. Offline, reads answer from what is
    /// stored, writes queue up, and requests in flight fail (the edge
    /// aborts them) without retries.
    pub fn set_online(&self, online: bool) {
        self.online.set(online);
        self.io.online_changed(online);
        self.note_status();
        // Back online: the bucket is tried at once (a failure disconnects
        // again), not after the prober's backoff.
        if online {
            self.reached();
        }
    }

    pub fn is_online(&self) -> bool {
        self.online.get()
    }

    /// Writes (this client's, and other tabs' it knows of) not yet seen
    /// committed.
    pub fn pending_writes(&self) -> usize {
        let inner = self.inner.borrow();
        let mut ids: Vec<u64> = Vec::new();
        for m in inner.manifests.iter().flat_map(|(_, s)| s.masks.iter()) {
            if m.entry.is_none() && !ids.contains(&m.write_id) {
                ids.push(m.write_id);
            }
        }
        ids.len()
    }

    /// Waits until [`Db::restore`] is done.
    async fn ready(&self) {
        drop(self.gate.lock().await);
    }

    /// Registers a subscriber of `key` through `manifest` (see
    /// [`Db::subscribe`], which also delivers its values).
    fn register(&self, watch: &Watch, manifest: Option<&Ref>) -> Result<u64> {
        // (Not gated: registering is synchronous; its first value comes
        // from `refresh`, which waits for the restore.)
        self.check_live()?;
        let range = match watch {
            Watch::Key(key) => {
                Self::check_ref(key)?;
                Range::key(key)
            }
            Watch::Range(range) => range.clone(),
        };
        let m = manifest.unwrap_or(&self.cfg.default_manifest).clone();
        Self::check_manifest(&m)?;
        drop(self.state(&m));
        let mut inner = self.inner.borrow_mut();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.subscribers.subs.push(Subscriber {
            id,
            manifest: m,
            range,
            key: matches!(watch, Watch::Key(_)),
            seen: None,
        });
        Ok(id)
    }

    pub fn unsubscribe(&self, id: u64) {
        self.inner
            .borrow_mut()
            .subscribers
            .subs
            .retain(|s| s.id != id);
    }

    /// Events queued for delivery, oldest first.
    pub fn take_events(&self) -> Vec<Event> {
        core::mem::take(&mut self.inner.borrow_mut().subscribers.events)
    }

    /// Tells `error` to each subscriber `to` picks.
    fn tell_error(&self, error: &Error, to: &dyn Fn(&Subscriber) -> bool) {
        let mut events = Vec::new();
        for s in &self.inner.borrow().subscribers.subs {
            if to(s) {
                events.push(Event::Error {
                    sub: s.id,
                    error: error.clone(),
                });
            }
        }
        self.push_events(events);
    }

    fn push_events(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        self.inner.borrow_mut().subscribers.events.extend(events);
        self.io.events_ready();
    }

    /// Stops the client: no more requests, and its status says so.
    pub fn shutdown(&self) {
        self.shutdown.set(true);
        self.note_status();
    }

    pub fn is_shutdown(&self) -> bool {
        self.shutdown.get()
    }

    /// Manifests someone subscribes to: what the poller watches.
    fn watched(&self) -> Vec<Ref> {
        let inner = self.inner.borrow();
        let mut v: Vec<Ref> = Vec::new();
        for s in &inner.subscribers.subs {
            if !v.contains(&s.manifest) {
                v.push(s.manifest.clone());
            }
        }
        v
    }

    /// One round of polling: resolve each watched manifest (one 304 when
    /// nothing changed), clean up, and notify. Errors go to the manifest's
    /// subscribers; polling carries on.
    pub async fn poll_once(&self) {
        self.ready().await;
        // (As a read: after the writes made before it are masked.)
        drop(self.accepting.lock().await);
        if !self.reachable() {
            return;
        }
        for m in self.watched() {
            match self.locked_sync(&m, Freshness::Poll).await {
                Ok(()) => {
                    if self.cfg.autoclean {
                        self.autoclean(&m).await;
                    }
                    self.notify(&m).await;
                }
                // Went offline meanwhile: not news for subscribers.
                Err(error) if error.kind == ErrorKind::Offline || !self.reachable() => {}
                Err(error) => self.tell_error(&error, &|s| s.manifest == m),
            }
        }
    }

    /// Polls every `poll_frequency_ms` until shut down. Subscribers get
    /// their first value right away.
    pub async fn run_poller(&self) {
        while !self.shutdown.get() {
            self.poll_once().await;
            self.io.sleep(self.cfg.poll_frequency_ms).await;
        }
    }
}
