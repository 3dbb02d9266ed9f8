//! The channel to the other tabs of a namespace: a `BroadcastChannel`
//! carrying the engine's messages (text), made and used by a few lines of
//! JavaScript (`edges.js`; each browser call made from Rust is an import
//! with a shim in the glue).

use crate::prelude::*;

use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/web/edges.js")]
extern "C" {
    /// The channel `name`, or `undefined` where there is none.
    #[wasm_bindgen(js_name = mps3Channel)]
    pub fn open(name: &str) -> JsValue;
    /// Calls `receive` with each text message another tab posts.
    #[wasm_bindgen(js_name = mps3Listen)]
    pub fn listen(channel: &JsValue, receive: &Closure<dyn Fn(String)>);
    /// Posts `text` to the other tabs (nothing without a channel, or once
    /// it is closed).
    #[wasm_bindgen(js_name = mps3Post)]
    pub fn post(channel: &JsValue, text: &str);
}
