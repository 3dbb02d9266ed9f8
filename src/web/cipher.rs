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
    #[wasm_bindgen(js_name = mps3DeriveKey)]
    fn derive_key(passphrase: &str, salt: &[u8], iterations: u32) -> Promise;
    #[wasm_bindgen(js_name = mps3ImportKey)]
    fn import_key(raw: &[u8]) -> Promise;
    #[wasm_bindgen(js_name = mps3Seal)]
    fn seal_bytes(key: u32, aad: &[u8], plain: &[u8]) -> Promise;
    #[wasm_bindgen(js_name = mps3Open)]
    fn open_bytes(key: u32, aad: &[u8], sealed: &[u8]) -> Promise;
    #[wasm_bindgen(js_name = mps3RandomBytes, catch)]
    fn random_bytes_js(n: usize) -> core::result::Result<Uint8Array, JsValue>;
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

async fn handle(p: Promise) -> Result<KeyHandle> {
    let v = JsFuture::from(p).await.map_err(|e| unsupported(&e))?;
    Ok(v.as_f64().unwrap_or_default() as KeyHandle)
}

pub async fn derive(passphrase: &str, salt: &[u8], iterations: u32) -> Result<KeyHandle> {
    handle(derive_key(passphrase, salt, iterations)).await
}

pub async fn import(raw: &[u8]) -> Result<KeyHandle> {
    handle(import_key(raw)).await
}

pub async fn seal(key: KeyHandle, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
    let v = JsFuture::from(seal_bytes(key, aad, plain))
        .await
        .map_err(|e| unsupported(&e))?;
    Ok(Uint8Array::new(&v).to_vec())
}

pub async fn open(key: KeyHandle, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    let v = JsFuture::from(open_bytes(key, aad, sealed)).await.ok()?;
    (!v.is_undefined()).then(|| Uint8Array::new(&v).to_vec())
}

pub fn random_bytes(n: usize) -> Result<Vec<u8>> {
    random_bytes_js(n)
        .map(|a| a.to_vec())
        .map_err(|e| unsupported(&e))
}
