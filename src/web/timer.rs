//! `setTimeout` as a future: what the engine's waits (backoff, polls) and
//! the API's periodic checks sleep on.

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// The global scope's `setTimeout`, so that it works in a window and in a
/// worker.
#[wasm_bindgen(module = "/src/web/edges.js")]
extern "C" {
    #[wasm_bindgen(js_name = mps3Sleep)]
    fn after(ms: i32) -> Promise;
}

/// Resolves after `ms` milliseconds (at most 2^31 - 1, as `setTimeout`
/// allows). Dropping it early leaves the timer to fire into nothing.
pub async fn sleep(ms: u64) {
    let _ = JsFuture::from(after(ms.min(i32::MAX as u64) as i32)).await;
}
