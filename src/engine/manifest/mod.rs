//! The manifest: a time-ordered log of JSON-merge-patch entries in the
//! bucket that maps logical keys to immutable content objects (protocol v1,
//! the layout of the JavaScript mps3 client; see docs/protocol.md).

use crate::prelude::*;

mod claim;
mod entry;
mod key;
mod resolve;

pub use claim::{claim_body, Claim};
pub use entry::{files_json, files_of, EntryBody, FileRef, Files};
pub use key::{decode_ts, encode_ts, parse_entry_key, writer_tag, EntryKey, LAG_WINDOW_MS};
pub use resolve::{needed_bodies, resolve, Body, KnownEntry, Resolution};

use crate::engine::error::{Error, Result};

/// An object's address: bucket and key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ref {
    pub bucket: String,
    pub key: String,
}

impl Ref {
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Ref {
        Ref {
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    /// `<bucket>/<key>`: how the manifest names a logical key.
    pub fn url(&self) -> String {
        cat!(self.bucket, "/", self.key)
    }

    /// Splits a url at its first `/` (bucket names have none).
    pub fn from_url(url: &str) -> Result<Ref> {
        let (bucket, key) = url
            .split_once('/')
            .ok_or_else(|| Error::bad_response(cat!("manifest url \"", url, "\" has no '/'")))?;
        Ok(Ref::new(bucket, key))
    }
}

/// The marker body of clients that write `""`: its ETag says nothing, so a
/// 304 on it cannot be trusted.
pub const LEGACY_MARKER_BODY: &[u8] = b"\"\"";

#[cfg(test)]
mod fixtures_tests;
