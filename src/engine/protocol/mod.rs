//! The two log formats a manifest can have, each in its own wing:
//! [`v1`], mps3 0.0.81's time-ordered entries with a change marker
//! (docs/protocol.md), and [`v2`], a log of numbered slots the bucket
//! orders with `If-None-Match: *` (docs/protocol-v2.md). Nothing here
//! names the client that runs them: they ask it through [`Client`].

use crate::prelude::*;

use core::cell::RefMut;

use crate::engine::deadline::join2;
use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::object::Ref;
use crate::engine::s3::{GetOptions, GetResult, ListEntry, ObjectMeta, PutMode};
use crate::engine::time::EpochMillis;
use v1::V1State;

mod files;
mod log;
pub mod v1;
pub mod v2;

pub use files::{files_json, files_of, FileRef, Files};
pub use log::{Landing, Log, LOG_FIELD};
pub use v2::{Applied, Encrypted, Inspection, Waiting, CHECKPOINT_EVERY};

/// The protocol of `m`: decided once, by its guard object (the manifest's
/// own object: `"v2"` for a v2 log, anything else a v1 change marker). A
/// manifest that does not exist yet stays undecided (`None`) unless
/// `create`: then it becomes v2 if the bucket enforces `If-None-Match: *`
/// (and `wanted` allows it), v1 otherwise.
pub(crate) async fn choose<C: Client>(
    c: &C,
    m: &Ref,
    create: bool,
    wanted: Protocol,
) -> Result<Option<Protocol>> {
    loop {
        let known = c.decided(m);
        if let Some(p) = known {
            return Ok(Some(p));
        }
        // Polls of a manifest not made yet ask by a listing, whose
        // answer is no error line in the browser's console, as the
        // guard's 404 would be each poll.
        if !create
            && c.log_state(m).guard_absent()
            && c.listed_first(&m.bucket, &m.key).await?.is_none()
        {
            return Ok(None);
        }
        let decided = if wanted == Protocol::V1 {
            Protocol::V1
        } else {
            // The checkpoints are listed beside the guard: a first read
            // of a v2 manifest needs them next.
            let listed_at = c.now();
            let (guard, cps) = join2(
                c.get_body(m, m.key.clone()),
                c.list(&m.bucket, cat!(v2::format::prefix(&m.key), "cp/"), None),
            )
            .await;
            let guard = guard?;
            // Decided meanwhile by another call: its listing is the
            // one the first read takes; this one, stored now, would
            // go stale until a later cold read trusted it.
            if c.decided(m).is_some() {
                continue;
            }
            match guard {
            Some(body) if body == V2_GUARD => {
                let cps = cps?;
                c.decide(m, Protocol::V2);
                c.v2_state(m).checkpoints_listed = Some(v2::CheckpointsListed {
                    at: listed_at,
                    entries: cps,
                });
                continue;
            }
            Some(_) if wanted == Protocol::V2 => {
                return Err(unsupported(cat!("manifest ", m.url(), " is protocol v1 (mps3's layout); upgrade it with db.upgrade, or use protocol \"v1\"")))
            }
            Some(_) => Protocol::V1,
            None if !create => {
                c.log_state(m).note_guard_absent();
                return Ok(None);
            }
            None if c.enforces_create(m).await? => {
                match c
                    .put(&m.bucket, m.key.clone(), V2_GUARD.to_vec(), Put::plain(PutMode::Create))
                    .await
                {
                    Ok(_) => Protocol::V2,
                    // Someone made it first: read what they made.
                    Err(e) if e.kind == ErrorKind::PreconditionFailed => continue,
                    Err(e) => return Err(e),
                }
            }
            None if wanted == Protocol::V2 => {
                return Err(unsupported(cat!("bucket ", m.bucket, " does not enforce If-None-Match: * on PUT, which protocol v2 needs")))
            }
            None => Protocol::V1,
        }
        };
        c.decide(m, decided);
    }
}

/// The body of a v2 manifest's own object (its "guard"), which decides
/// its protocol: v1 clients read it as a change marker; one that writes
/// the manifest rewrites it.
pub const V2_GUARD: &[u8] = b"\"v2\"";

/// How long a log entry stays after it is no longer needed, in both
/// protocols: its writer may still be finding out whether it landed (v1,
/// by listing it), or a reader may still be reading the log up to it
/// (v2). Ten minutes: a writer's own check, through timed-out requests
/// and their retries, or a tab closed mid-write and reopened, can take
/// minutes.
pub const AUTOCLEAN_GRACE_MS: i64 = 600_000;

/// What a read of a manifest may skip.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// A poll: v1 lists on a backoff under a marker the log is not settled
    /// at; v2 checks the guard now and then.
    Poll,
    /// A read (`get`, a subscriber's first value): sees every write
    /// acknowledged before it.
    Read,
    /// Lists whatever v1's marker says (writers, settling an attempt).
    List,
}

/// How a protocol's PUT of JSON is sent.
pub(crate) struct Put<'a> {
    pub mode: PutMode,
    /// The trace id of the write it carries, for the requests' log.
    pub trace: Option<&'a str>,
    /// Sent even if the client goes offline meanwhile: an entry's create,
    /// whose answer settles whether the write landed.
    pub finish_offline: bool,
    /// Retries stop in time for their answers to come within this long
    /// of the first try (the first try always leaves).
    pub answered_within: Option<i64>,
}

impl Put<'_> {
    /// A PUT in `mode`, retried as any request, dropped when the client
    /// goes offline (it repeats harmlessly).
    pub(crate) fn plain(mode: PutMode) -> Self {
        Put {
            mode,
            trace: None,
            finish_offline: false,
            answered_within: None,
        }
    }
}

/// What a manifest or bucket cannot do for a protocol: `Unsupported`.
pub(crate) fn unsupported(message: String) -> Error {
    Error::new(ErrorKind::Unsupported, message)
}

/// A request, boxed: one copy of each helper in the .wasm, not one
/// inlined into every caller.
pub(crate) type Boxed<'a, T> =
    core::pin::Pin<Box<dyn core::future::Future<Output = Result<T>> + 'a>>;
/// A GET of an object's body (`None`: it is not there).
pub(crate) type Fetch<'a> = Boxed<'a, Option<Vec<u8>>>;
pub(crate) type Done<'a> = Boxed<'a, ()>;
pub(crate) type Listing<'a> = Boxed<'a, Vec<ListEntry>>;

/// What a protocol needs of the client that runs it: requests to a
/// manifest's bucket (retried, clock-corrected, logged: the client's
/// policy), the server's time, and the protocol's own state of a
/// manifest. The engine implements it; a protocol takes
/// `&dyn Client` and names nothing of the engine's.
pub(crate) trait Client {
    /// The body of `key` in `m`'s bucket; `None` if there is none.
    fn get_body<'a>(&'a self, m: &'a Ref, key: String) -> Fetch<'a>;
    /// A GET of `key` in `bucket` with its answer's metadata; a condition
    /// (`If-None-Match`) only where the client's reads can carry one
    /// (presigned reads cannot).
    fn get<'a>(&'a self, bucket: &'a str, key: String, opts: GetOptions) -> Boxed<'a, GetResult>;
    /// A PUT of JSON `body` (gzipped when large) to `key` in `bucket`.
    fn put<'a>(
        &'a self,
        bucket: &'a str,
        key: String,
        body: Vec<u8>,
        how: Put<'a>,
    ) -> Boxed<'a, ObjectMeta>;
    /// A DELETE of `key` (at `version`) in `bucket`.
    fn delete_object<'a>(
        &'a self,
        bucket: &'a str,
        key: String,
        version: Option<String>,
    ) -> Done<'a>;
    /// Every object of `bucket` under `prefix`, after `start_after`.
    fn list<'a>(
        &'a self,
        bucket: &'a str,
        prefix: String,
        start_after: Option<String>,
    ) -> Listing<'a>;
    /// The server's time as the client last corrected its clock to it.
    fn server_now(&self) -> EpochMillis;
    /// The local clock (for how long ago this client read something).
    fn now(&self) -> EpochMillis;
    /// A time the server's clock had certainly reached at local time
    /// `local`, as the answers so far bound it.
    fn clock_bound(&self, local: EpochMillis) -> EpochMillis;
    /// A time the server's clock has certainly reached, once any answer
    /// bounded it.
    fn server_lower_bound(&self) -> Option<EpochMillis>;
    /// Waits `ms` on the local clock.
    async fn sleep(&self, ms: u64);
    /// A random number (claims' nonces).
    fn random(&self) -> u64;
    /// A line for the client's log (`kind`: what it is about).
    fn log(&self, kind: &str, message: &str);
    /// What the client knows of `m`'s log.
    fn log_state(&self, m: &Ref) -> RefMut<'_, Log>;
    /// What the client knows of the v1 manifest `m`.
    fn v1_state(&self, m: &Ref) -> RefMut<'_, V1State> {
        RefMut::map(self.log_state(m), Log::v1)
    }
    /// This client's writes to `m` not yet committed, in their order.
    fn waiting(&self, m: &Ref) -> RefMut<'_, Vec<Waiting>>;
    /// `m`'s keys as the client last read them (`None`: never read).
    fn files(&self, m: &Ref) -> RefMut<'_, Option<Files>>;
    /// `m` is resolved anew (v1): the client shows `files`, and the
    /// writes the log includes stop masking their keys.
    fn install(&self, m: &Ref, files: Files);
    /// The client stores `m`'s state for the next page load.
    async fn persist(&self, m: &Ref);
    /// The client caught up with the bucket (its status says when).
    fn synced(&self);
    /// Whether v1 reads and writes skip listings a settled marker makes
    /// needless (`minimizeListObjectsCalls`).
    fn minimize_list_calls(&self) -> bool;
    /// What the client knows of the v2 manifest `m`.
    fn v2_state(&self, m: &Ref) -> RefMut<'_, v2::V2State> {
        RefMut::map(self.log_state(m), Log::v2)
    }
    /// Whether the client read `m`'s head recently enough to trust that
    /// the slot after it is still empty when not listed there.
    fn read_recently(&self, m: &Ref) -> bool;
    /// Whether a listing the client asked for at `at` (its clock) still
    /// shows every checkpoint whose slots may have been collected: within
    /// half the collection's grace, as [`Client::read_recently`] (a
    /// checkpoint made since is younger than the grace, and collection
    /// keeps the slots above the newest checkpoint older than it).
    fn listed_recently(&self, at: EpochMillis) -> bool;
    /// The entry of v2 slot `n` of `m` (the next one) is applied: to the
    /// state, to what the client shows of the keys, and to its log.
    fn apply_v2(&self, m: &Ref, n: u64, entry: &v2::format::Entry);
    /// A v2 read restarts from `checkpoint` (when it read one) and knows
    /// checkpoint `newest` exists; `from`: the slot it read from.
    fn restart_v2(&self, m: &Ref, checkpoint: Option<v2::format::LogState>, newest: u64, from: u64);
    /// A read of `m` is done: the client stores its state and notes that
    /// it caught up with the bucket.
    async fn read_kept(&self, m: &Ref);
    /// An entry of this client's landed in `m`: the state is stored, and
    /// checkpointed when due.
    async fn entry_written(&self, m: &Ref);
    /// The protocol decided for `m`, if it is.
    fn decided(&self, m: &Ref) -> Option<Protocol> {
        self.log_state(m).protocol()
    }
    /// `m` is of protocol `p` from now on.
    fn decide(&self, m: &Ref, p: Protocol) {
        self.log_state(m).decide(p);
    }
    /// `LastModified` of the object `key` of `bucket`, by a listing of
    /// one key (`None`: not there): an answer, not a 404 that a browser's
    /// console would show as an error line.
    fn listed_first<'a>(&'a self, bucket: &'a str, key: &'a str) -> Boxed<'a, Option<EpochMillis>>;
    /// Whether `m`'s bucket refuses a second create of one object (the
    /// client probes once per bucket).
    fn enforces_create<'a>(&'a self, m: &'a Ref) -> Boxed<'a, bool>;
    /// Counts an entry that carried writes queued behind its own (the
    /// simulation's figures).
    #[cfg(test)]
    fn count_grouped(&self);
    /// Counts a v1 entry written without a listing (the simulation's
    /// figures).
    #[cfg(test)]
    fn count_unlisted(&self);
}

/// Which log format a client speaks to a manifest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// v2 for v2 manifests and for new ones on buckets that enforce
    /// `If-None-Match: *`; v1 otherwise.
    #[default]
    Auto,
    V1,
    V2,
}
