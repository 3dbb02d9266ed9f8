//! `setTimeout` as a future: what the engine's waits (backoff, polls) and
//! the API's periodic checks sleep on.

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// The global scope's, so that it works in a window and in a worker.
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &Function, ms: i32) -> JsValue;
}

/// Resolves after `ms` milliseconds (at most 2^31 - 1, as `setTimeout`
/// allows). Dropping it early leaves the timer to fire into nothing.
pub async fn sleep(ms: u64) {
    let ms = ms.min(i32::MAX as u64) as i32;
    let done = Promise::new(&mut |resolve, _| {
        set_timeout(&resolve, ms);
    });
    let _ = JsFuture::from(done).await;
}
