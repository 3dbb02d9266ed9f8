//! Protocol v2: a log of slots, each created once with
//! `If-None-Match: *`, checkpoints of its state, and their collection
//! (docs/protocol-v2.md).

pub(crate) mod checkpoint;
pub mod format;
pub(crate) mod read;
mod state;
pub(crate) mod write;

pub use state::{
    group, Applied, CheckpointsListed, Encrypted, EntryChange, Inspection, V2State, Waiting,
    WrittenBy,
};

/// A JSON value up to this long travels in its entry: a put of a small
/// value is one PUT. Larger ones are content objects, as in v1.
pub const INLINE_MAX_BYTES: usize = 1024;

/// A writer checkpoints the state once the log is this many entries past
/// the newest checkpoint it knows.
pub const CHECKPOINT_EVERY: u64 = 64;

/// A v2 client checks the guard every this many polls for a v1 client
/// (mps3 0.0.81) writing into the manifest, whose writes v2 never sees.
pub const GUARD_EVERY_POLLS: u32 = 10;
