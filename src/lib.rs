//! MPS3: a vendorless, multiplayer, offline-first key-value database that
//! lives in any S3-compatible bucket and runs in the browser.
//!
//! [`core`] decides (signing, requests, parsing, the manifest log); `web`
//! (wasm32 only) carries out what the core asks through `fetch`.

pub mod core;

#[cfg(target_arch = "wasm32")]
pub mod web;

/// The .wasm's allocator: talc instead of Rust's default dlmalloc, 2.9 KB
/// gzipped smaller. The heap grows with the module's memory as before.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
