//! Browser edges: carry out what the core asks (fetch, IndexedDB, Web
//! Locks, BroadcastChannel, timers). Compiled for wasm32 only.

use crate::prelude::*;

#[allow(
    clippy::disallowed_methods,
    reason = "#[wasm_bindgen] on a class generates a collect (its array conversions)"
)]
pub mod atomic;
pub(crate) mod channel;
pub(crate) mod cipher;
#[allow(
    clippy::disallowed_methods,
    reason = "#[wasm_bindgen] on a class generates a collect (its array conversions)"
)]
pub mod class;
pub(crate) mod convert;
pub mod errors;
pub mod fetch;
pub mod gzip;
pub(crate) mod io;
pub mod local;
pub(crate) mod locks;
pub(crate) mod log;
pub mod s3;
pub mod store;
pub(crate) mod timer;

/// Runs `task` on its own, boxed: one `spawn_local` serves every caller
/// (the engine's background tasks, the event delivery in `io`, the
/// channel's messages in `class`).
pub(crate) fn spawn(task: core::pin::Pin<Box<dyn core::future::Future<Output = ()>>>) {
    wasm_bindgen_futures::spawn_local(task);
}
