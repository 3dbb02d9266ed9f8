//! Encrypted manifests' cipher: AES-256-GCM and PBKDF2 by the browser's
//! WebCrypto (`edges.js`), so no cipher code is in the .wasm. Keys stay
//! JavaScript's `CryptoKey`s, non-extractable; the engine names them by
//! handle.

use crate::prelude::*;

use js_sys::{Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::io::KeyHandle;

#[wasm_bindgen(module = "/src/web/edges.js")]
extern "C" {
    #[wasm_bindgen(js_name = mps3KeyAdd, catch)]
    fn key_add(key: &JsValue) -> core::result::Result<u32, JsValue>;
    #[wasm_bindgen(js_name = mps3Cipher)]
    fn cipher(op: u32, key: u32, a: &[u8], b: &[u8], n: u32) -> Promise;
    #[wasm_bindgen(js_name = mps3RandomBytes, catch)]
    fn random_bytes_js(n: usize) -> core::result::Result<Uint8Array, JsValue>;
}

/// What each call of `mps3Cipher` does.
#[derive(Clone, Copy)]
pub enum Op {
    Derive = 0,
    OpenKey = 1,
    Seal = 2,
    Open = 3,
    NewKey = 4,
}

fn unsupported(e: &JsValue) -> Error {
    let message = js_sys::Reflect::get(e, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| "WebCrypto failed".into());
    Error::new(ErrorKind::Unsupported, message)
}

/// An application's `CryptoKey` (`encryption.key`), checked, as a handle.
pub fn add_key(key: &JsValue) -> Result<KeyHandle> {
    key_add(key).map_err(|e| Error::bad_input(unsupported(&e).into_message()))
}

/// One operation (see `mps3Cipher`): a key's handle (`Derive`,
/// `OpenKey`), bytes (`Seal`, `Open`), `[wrapped, handle]` (`NewKey`), or
/// `undefined` (did not open).
pub async fn run(op: Op, key: KeyHandle, a: &[u8], b: &[u8], n: u32) -> Result<JsValue> {
    JsFuture::from(cipher(op as u32, key, a, b, n))
        .await
        .map_err(|e| unsupported(&e))
}

/// What `run` gave, as a key's handle.
pub fn handle(v: JsValue) -> KeyHandle {
    v.as_f64().unwrap_or_default() as KeyHandle
}

/// What `run` gave, as bytes (`None`: it did not open).
pub fn bytes(v: JsValue) -> Option<Vec<u8>> {
    (!v.is_undefined()).then(|| Uint8Array::new(&v).to_vec())
}

pub fn random_bytes(n: usize) -> Result<Vec<u8>> {
    random_bytes_js(n)
        .map(|a| a.to_vec())
        .map_err(|e| unsupported(&e))
}
