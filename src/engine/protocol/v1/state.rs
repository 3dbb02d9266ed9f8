//! What a client knows of a v1 manifest: its change marker as last seen,
//! its claims, its listing and the entries it knows.

use crate::prelude::*;

use super::{Claim, KnownEntry};
use crate::engine::lean::vec_map::VecMap;
use crate::engine::time::EpochMillis;

/// What a client knows of a v1 manifest: its change marker, its claims,
/// its listing and the entries it knows (docs/protocol.md).
#[derive(Default)]
pub struct V1State {
    /// Three hex digits in this client's entry keys.
    pub session: String,
    pub writes: u32,
    /// The change marker as last read or written.
    pub marker: Option<MarkerSeen>,
    /// The ETag of a marker such that every valid entry whose writer
    /// claimed the marker before it (or in it) is in `known`: a marker
    /// still carrying this ETag proves nothing new can be in the log, so
    /// polls need no listing and a writer needs none for its base
    /// (docs/protocol.md, "Claims"). `Some("")`: no marker and no log.
    pub settled: Option<String>,
    /// A client that does not claim (mps3 0.0.81, marker body `""`) has
    /// written here: no marker vouches for the log any more; list always.
    pub legacy_seen: bool,
    /// How long after the last listing a poll lists again under the same
    /// unsettled marker (doubling, from half a second).
    pub relist_after_ms: i64,
    /// Whether the server enforces `If-Match` on PUT (probed once, on the
    /// first claim): chained claims depend on it.
    pub conditional: Option<bool>,
    pub known: VecMap<String, KnownEntry>,
    /// The base entry of the last resolution: its key and time.
    pub base: Option<(String, EpochMillis)>,
    /// Keys of the entries the last resolution includes.
    pub included: Vec<String>,
    /// Entries older than the window: autoclean deletes them.
    pub garbage: Vec<String>,
    /// The newest time of any timely entry (writers must sort after it).
    pub newest_ts: Option<EpochMillis>,
    /// Local time of the last listing.
    pub listed_at: Option<EpochMillis>,
    /// The ETag of the marker read before the last listing (`""`: none).
    pub listed_marker: Option<String>,
}

/// The change marker as a GET showed it (or our PUT wrote it).
#[derive(Clone, Debug, PartialEq)]
pub struct MarkerSeen {
    pub etag: String,
    /// `Last-Modified` (a GET) or the answer's `Date` (our PUT): the
    /// marker was written no later than a second after this.
    pub written: Option<EpochMillis>,
    pub claim: Option<Claim>,
}
