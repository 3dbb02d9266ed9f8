//! Browser edges: carry out what the core asks (fetch, IndexedDB, Web
//! Locks, BroadcastChannel, timers). Compiled for wasm32 only.

use crate::prelude::*;

pub mod api;
pub mod fetch;
pub mod gzip;
pub mod io;
pub mod local;
pub mod locks;
pub mod s3;
pub mod store;
pub mod timer;

/// Runs `task` on its own, boxed: one `spawn_local` serves every caller
/// (the API's background tasks and the event delivery in `io`).
pub(crate) fn spawn(task: ::core::pin::Pin<Box<dyn ::core::future::Future<Output = ()>>>) {
    wasm_bindgen_futures::spawn_local(task);
}
