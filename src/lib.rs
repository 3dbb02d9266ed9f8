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
#![warn(
    rust_2018_idioms,
    unused_qualifications,
    unused_lifetimes,
    unsafe_code,
    clippy::semicolon_if_nothing_returned,
    clippy::redundant_clone,
    clippy::cloned_instead_of_copied,
    clippy::explicit_iter_loop,
    clippy::manual_let_else,
    clippy::needless_pass_by_ref_mut,
    clippy::uninlined_format_args,
    clippy::dbg_macro,
    clippy::todo
)]
// The size rules (clippy.toml) hold for what ships; tests do not.
#![cfg_attr(
    test,
    allow(
        clippy::disallowed_methods,
        clippy::disallowed_macros,
        reason = "the size rules are for the shipped .wasm"
    )
)]

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
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}
