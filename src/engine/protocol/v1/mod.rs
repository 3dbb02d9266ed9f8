//! The manifest: a time-ordered log of JSON-merge-patch entries in the
//! bucket that maps logical keys to immutable content objects (protocol v1,
//! the layout of the JavaScript mps3 client; see docs/protocol.md).

mod claim;
mod entry;
mod key;
pub(crate) mod read;
mod resolve;
mod state;
pub(crate) mod write;

pub use crate::engine::protocol::{files_json, files_of, FileRef, Files};
pub use claim::{claim_body, Claim};
pub use entry::EntryBody;
pub use key::{decode_ts, encode_ts, parse_entry_key, writer_tag, EntryKey, LAG_WINDOW_MS};
pub use resolve::{needed_bodies, resolve, Body, KnownEntry, Resolution};
pub use state::{MarkerSeen, V1State};

/// Servers may report `LastModified` and `Date` in whole seconds (moto,
/// some S3-compatibles): every time read from them is this uncertain.
pub const LAST_MODIFIED_PRECISION_MS: i64 = 1_000;

/// The marker body of clients that write `""`: its ETag says nothing, so a
/// 304 on it cannot be trusted.
pub const LEGACY_MARKER_BODY: &[u8] = b"\"\"";

#[cfg(test)]
mod fixtures_tests;
