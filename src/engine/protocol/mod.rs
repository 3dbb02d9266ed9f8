//! The two log formats a manifest can have, each in its own wing:
//! [`v1`], mps3 0.0.81's time-ordered entries with a change marker
//! (docs/protocol.md), and [`v2`], a log of numbered slots the bucket
//! orders with `If-None-Match: *` (docs/protocol-v2.md). Nothing here
//! names the client that runs them (`engine::db`).

pub mod v1;
pub mod v2;

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
