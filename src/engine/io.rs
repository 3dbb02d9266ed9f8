//! What the database engine needs from the world, and nothing more.
//!
//! The engine decides; an `Io` carries out: the browser's is `fetch`,
//! `Date.now()`, `setTimeout`, IndexedDB, Web Locks and a
//! `BroadcastChannel` (src/web), the simulation's a virtual clock, an
//! in-memory S3 with latencies and faults, and a store that survives its
//! clients' crashes (tests). The engine never reaches past this trait, so
//! every schedule it can meet in a browser can be replayed natively,
//! deterministically.

use crate::prelude::*;

use core::future::Future;
use core::pin::Pin;

use crate::engine::credentials::Credentials;
use crate::engine::error::Result;
use crate::engine::http::{HttpRequest, HttpResponse};
use crate::engine::time::EpochMillis;

/// The tables of a client's durable store. Keys and values are strings
/// the engine makes; no credential ever goes into one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// Writes not yet committed (see `db::queue`).
    Queue,
    /// Per manifest, the last resolved state (key → content version).
    State,
    /// Immutable content by key and version.
    Content,
    /// Per content object: its size and last use (the `offlineBytes` bound).
    ContentMeta,
    /// The objects of the browser's own bucket (`endpoint: "local:"`),
    /// by `<bucket>/<key>`: kept by the edge, not the engine.
    Bucket,
}

impl Table {
    pub const ALL: [Table; 5] = [
        Table::Queue,
        Table::State,
        Table::Content,
        Table::ContentMeta,
        Table::Bucket,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Queue => "queue",
            Table::State => "state",
            Table::Content => "content",
            Table::ContentMeta => "content_meta",
            Table::Bucket => "bucket",
        }
    }
}

/// Whether [`Io::lock`] waits for a lock someone holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockWait {
    /// Until it is granted.
    Wait,
    /// Not at all: `None` at once when it is held.
    IfFree,
}

/// A key the edge holds (see [`Io::derive_key`]).
pub type KeyHandle = u32;

fn no_cipher() -> crate::engine::error::Error {
    crate::engine::error::Error::new(
        crate::engine::error::ErrorKind::Unsupported,
        "this client has no cipher for encrypted manifests",
    )
}

/// A task the engine runs on its own (see [`Io::spawn`]).
pub type Task = Pin<Box<dyn Future<Output = ()>>>;

pub trait Io {
    /// Held while it lives; dropping it releases the lock.
    type Lock;

    /// Sends a request. Any HTTP answer is `Ok`; no answer is `Network`.
    fn send(&self, req: HttpRequest) -> impl Future<Output = Result<HttpResponse>>;
    /// The local clock (it may be skewed: the engine corrects it).
    fn now(&self) -> EpochMillis;
    fn sleep(&self, ms: u64) -> impl Future<Output = ()>;
    /// Runs `task` on its own, after the current step (the engine's
    /// background work: commits, takeovers, the poller). It ends when the
    /// client does, as a browser tab's tasks do.
    fn spawn(&self, task: Task);
    /// The client went offline (`false`: end the requests in flight, but
    /// those marked `finish_offline`, as failed by the network) or online
    /// again.
    fn online_changed(&self, online: bool);
    /// `body` gzipped, or `None` where this edge does not compress (a
    /// browser without `CompressionStream`, the browser's own bucket, the
    /// simulation): the engine then sends it as it is.
    fn gzip(&self, body: &[u8]) -> impl Future<Output = Option<Vec<u8>>>;
    /// Fresh credentials from the application's provider (for temporary
    /// credentials that expire); `Ok(None)` when it has none, i.e. the
    /// configured credentials are all there is.
    fn refresh_credentials(&self) -> impl Future<Output = Result<Option<Credentials>>>;
    /// Events were queued (see `Db::take_events`): deliver them soon, after
    /// the engine's current step, never from inside it.
    fn events_ready(&self);

    /// Durable storage shared by every client of this origin (tabs
    /// included). `Err` when it is unavailable: the engine then works from
    /// memory and says so.
    fn store_get(&self, table: Table, key: &str) -> impl Future<Output = Result<Option<String>>>;
    fn store_put(&self, table: Table, key: &str, value: &str) -> impl Future<Output = Result<()>>;
    fn store_delete(&self, table: Table, key: &str) -> impl Future<Output = Result<()>>;
    /// Every entry whose key starts with `prefix`, in ascending key order.
    fn store_scan(
        &self,
        table: Table,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>>>;

    /// A lock shared with the other clients of this origin (tabs), released
    /// when its holder drops it or dies.
    fn lock(&self, name: &str, wait: LockWait) -> impl Future<Output = Option<Self::Lock>>;
    /// Whether locks are shared with the other clients of this origin.
    /// Where they are not (a browser without Web Locks), every lock is
    /// granted and says nothing about another tab: no takeover is tried.
    fn locks_shared(&self) -> bool;
    /// Tells the other clients of this origin with the same namespace
    /// (tabs); they receive it through `Db::on_message`.
    fn broadcast(&self, message: &str);
    /// A key-encryption key stretched from `passphrase` by PBKDF2-SHA-256
    /// (encrypted manifests, `engine::encryption`). Keys stay the edge's
    /// (WebCrypto's `CryptoKey`s in the browser), named by a handle.
    fn derive_key(
        &self,
        _passphrase: &str,
        _salt: &[u8],
        _iterations: u32,
    ) -> impl Future<Output = Result<KeyHandle>> {
        async { Err(no_cipher()) }
    }
    /// A data key wrapped (sealed, see [`Io::seal`]) by `kek` with `aad`,
    /// opened into a key; `None` if it does not open.
    fn open_key(
        &self,
        _kek: KeyHandle,
        _aad: &[u8],
        _wrapped: &[u8],
    ) -> impl Future<Output = Option<KeyHandle>> {
        async { None }
    }
    /// A new random AES-256 data key: wrapped by `kek` with `aad` (as
    /// [`Io::open_key`] opens it), and as a key.
    fn new_key(
        &self,
        _kek: KeyHandle,
        _aad: &[u8],
    ) -> impl Future<Output = Result<(Vec<u8>, KeyHandle)>> {
        async { Err(no_cipher()) }
    }
    /// `plain` sealed by `key` with AES-256-GCM and associated data `aad`:
    /// a fresh random 12-byte nonce, then the ciphertext and its tag.
    fn seal(
        &self,
        _key: KeyHandle,
        _aad: &[u8],
        _plain: &[u8],
    ) -> impl Future<Output = Result<Vec<u8>>> {
        async { Err(no_cipher()) }
    }
    /// What [`Io::seal`] made, opened; `None` when it does not open (another
    /// key, other associated data, or changed bytes).
    fn open(
        &self,
        _key: KeyHandle,
        _aad: &[u8],
        _sealed: &[u8],
    ) -> impl Future<Output = Option<Vec<u8>>> {
        async { None }
    }
    /// `n` bytes from a cryptographic random source (data keys, salts).
    fn random_bytes(&self, _n: usize) -> Result<Vec<u8>> {
        Err(no_cipher())
    }

    /// A one-line report for the application's log (never a secret).
    fn log(&self, kind: &str, message: &str) {
        self.log_fields(kind, &[("message", message)]);
    }
    /// A structured event for the application's log: `{ type: kind,
    /// ...fields }` (never a secret).
    fn log_fields(&self, kind: &str, fields: &[(&str, &str)]);
}
