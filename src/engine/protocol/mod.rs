//! The two log formats a manifest can have, each in its own wing:
//! [`v1`], mps3 0.0.81's time-ordered entries with a change marker
//! (docs/protocol.md), and [`v2`], a log of numbered slots the bucket
//! orders with `If-None-Match: *` (docs/protocol-v2.md). Nothing here
//! names the client that runs them (`engine::db`).

use crate::prelude::*;

use core::cell::RefMut;

use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::object::Ref;
use crate::engine::s3::{ListEntry, PutMode};
use crate::engine::time::EpochMillis;

pub mod v1;
pub mod v2;

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
/// manifest. The engine (`engine::db`) implements it; a protocol takes
/// `&dyn Client` and names nothing of the engine's.
pub(crate) trait Client {
    /// The body of `key` in `m`'s bucket; `None` if there is none.
    fn get_body<'a>(&'a self, m: &'a Ref, key: String) -> Fetch<'a>;
    /// A PUT of JSON `body` to `key` in `m`'s bucket, in `mode`.
    fn put_json<'a>(&'a self, m: &'a Ref, key: String, body: Vec<u8>, mode: PutMode) -> Done<'a>;
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
    /// A line for the client's log (`kind`: what it is about).
    fn log(&self, kind: &str, message: &str);
    /// What the client knows of the v2 manifest `m`.
    fn v2_state(&self, m: &Ref) -> RefMut<'_, v2::V2State>;
    /// Whether the client read `m`'s head recently enough to trust that
    /// the slot after it is still empty when not listed there.
    fn read_recently(&self, m: &Ref) -> bool;
    /// The entry of v2 slot `n` of `m` (the next one) is applied: to the
    /// state, to what the client shows of the keys, and to its log.
    fn apply_v2(&self, m: &Ref, n: u64, entry: &v2::format::Entry);
    /// A v2 read restarts from `checkpoint` (when it read one) and knows
    /// checkpoint `newest` exists; `from`: the slot it read from.
    fn restart_v2(&self, m: &Ref, checkpoint: Option<v2::format::LogState>, newest: u64, from: u64);
    /// Reads `m`'s v2 log to its head and keeps what it read (the client's
    /// `v2::read::sync`).
    fn read_v2<'a>(&'a self, m: &'a Ref) -> Done<'a>;
    /// A read of `m` is done: the client stores its state and notes that
    /// it caught up with the bucket.
    async fn read_kept(&self, m: &Ref);
    /// Creates the v2 slot object `key` of `m` (`If-None-Match: *`), its
    /// requests logged with the trace id of the write it carries.
    fn create_slot<'a>(
        &'a self,
        m: &'a Ref,
        key: String,
        body: Vec<u8>,
        trace: &'a str,
    ) -> Done<'a>;
    /// An entry of this client's landed in `m`: the state is stored, and
    /// checkpointed when due.
    async fn entry_written(&self, m: &Ref);
    /// Counts an entry that carried writes queued behind its own (the
    /// simulation's figures).
    #[cfg(test)]
    fn count_grouped(&self);
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
