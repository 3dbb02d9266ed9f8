//! The sans-IO core: everything that decides, as pure Rust.
//!
//! Nothing in here performs IO, reads a clock or touches JavaScript values:
//! callers pass `now` in and carry out the requests and actions returned.
//! The browser crates are wasm32-only dependencies, so a slip fails the
//! native build, and `cargo test` exercises the whole core on the host.

pub(crate) mod binary;
pub(crate) mod clock_sync;
pub mod credentials;
pub mod db;
pub mod deadline;
pub mod encode;
pub mod encryption;
pub mod error;
pub mod http;
pub mod io;
pub mod json;
pub(crate) mod lean;
pub(crate) mod lock;
pub(crate) mod merge_patch;
pub mod object;
pub mod protocol;
pub(crate) mod retry;
pub(crate) mod rng;
pub mod s3;
pub mod sigv4;
#[cfg(test)]
mod sim;
pub(crate) mod time;
pub(crate) mod xml;
