//! Browser edges: carry out what the core asks (fetch, IndexedDB, Web
//! Locks, BroadcastChannel, timers). Compiled for wasm32 only.

pub mod api;
pub mod fetch;
pub mod io;
pub mod local;
pub mod locks;
pub mod s3;
pub mod store;
