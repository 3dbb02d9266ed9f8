//! Browser edges: carry out what the core asks (fetch now; IndexedDB and
//! timers with the database). Compiled for wasm32 only.

pub mod api;
pub mod fetch;
pub mod io;
pub mod s3;
