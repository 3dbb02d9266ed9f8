//! Locks shared by the tabs of an origin: the Web Locks API. A lock is
//! held while the promise returned to `navigator.locks.request` is
//! pending; dropping a [`WebLock`] resolves it. The browser releases the
//! locks of a tab that closes or crashes, which is what lets another tab
//! take over its queued writes.

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// `mps3Lock(name, wait)`: a promise of the function that releases the
/// lock once granted, of `null` when it is not (held, and not `wait`; or
/// the request failed), or of `undefined` without Web Locks.
#[wasm_bindgen(module = "/src/web/edges.js")]
extern "C" {
    // (A `JsValue`, not a `bool`: a call with nothing to convert would be
    // imported from the snippet's own module, which the build's renaming
    // of the glue's imports does not expect.)
    #[wasm_bindgen(js_name = mps3LocksSupported)]
    fn locks_supported() -> JsValue;
    #[wasm_bindgen(js_name = mps3Lock)]
    fn request(name: &str, wait: bool) -> Promise;
}

/// Whether this browser has the Web Locks API.
pub fn supported() -> bool {
    locks_supported().is_truthy()
}

pub struct WebLock {
    release: Option<Function>,
}

impl Drop for WebLock {
    fn drop(&mut self) {
        if let Some(f) = self.release.take() {
            let _ = f.call0(&JsValue::NULL);
        }
    }
}

/// Takes the lock `name`, waiting for it if `wait`, else `None` when held.
/// Without Web Locks (an old browser) every lock is granted: tabs are then
/// not kept apart (the client logs it once).
pub async fn lock(name: &str, wait: bool) -> Option<WebLock> {
    let granted = JsFuture::from(request(name, wait)).await.ok()?;
    if granted.is_undefined() {
        return Some(WebLock { release: None });
    }
    let release = granted.dyn_into::<Function>().ok()?;
    Some(WebLock {
        release: Some(release),
    })
}
