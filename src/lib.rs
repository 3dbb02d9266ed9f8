//! MPS3: a vendorless, multiplayer, offline-first key-value database that
//! lives in any S3-compatible bucket and runs in the browser.
//!
//! [`engine`] decides (signing, requests, parsing, the manifest log, the
//! database and its background work); `web` (wasm32 only) binds it to
//! JavaScript and carries out what it asks through `fetch`, IndexedDB and
//! the other browser APIs.
//!
//! The crate needs only `core` and `alloc`: the release .wasm is built
//! without the `std` feature and is `no_std` (see Cargo.toml, `[features]`).
//! Native builds, where the simulation and the other tests run, keep std.

#![cfg_attr(all(target_arch = "wasm32", not(feature = "std")), no_std)]

extern crate alloc;

pub mod engine;
pub mod js_api;
mod prelude;

#[cfg(target_arch = "wasm32")]
pub mod web;

/// The .wasm's allocator: talc instead of Rust's default dlmalloc, 2.9 KB
/// gzipped smaller. The heap grows with the module's memory as before.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// Without std a panic traps, as a panic under std with `panic = "abort"`
/// does on wasm32-unknown-unknown, where its message goes nowhere. The
/// caller sees the same `RuntimeError: unreachable`.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
