//! Encrypted manifests' cipher: AES-256-GCM and PBKDF2 by the browser's
//! WebCrypto (`edges.js`), so no cipher code is in the .wasm. Keys stay
//! JavaScript's `CryptoKey`s, non-extractable; the engine names them by
//! handle.

use crate::prelude::*;

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

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
    let mut message = super::convert::error_message(e);
    if message.is_empty() {
        message = "WebCrypto failed".into();
    }
    Error::new(ErrorKind::Unsupported, message)
}

/// An application's `CryptoKey` (`encryption.key`), checked, as a handle.
pub fn add_key(key: &JsValue) -> Result<KeyHandle> {
    key_add(key).map_err(|e| Error::bad_input(unsupported(&e).into_message()))
}

/// One operation (see `mps3Cipher`), its arguments copied by the call:
/// a future of what it gives, read by `done` (a key's handle for
/// `Derive` and `OpenKey`, bytes for `Seal` and `Open`, `[wrapped,
/// handle]` for `NewKey`; `undefined`: did not open). A plain future the
/// engine holds as it is, not one more async state machine per call.
pub fn call<T>(
    op: Op,
    key: KeyHandle,
    a: &[u8],
    b: &[u8],
    n: u32,
    done: fn(Result<JsValue>) -> T,
) -> Call<T> {
    Call {
        pending: JsFuture::from(cipher(op as u32, key, a, b, n)),
        done,
    }
}

pub struct Call<T> {
    pending: JsFuture,
    done: fn(Result<JsValue>) -> T,
}

impl<T> Future for Call<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match Pin::new(&mut self.pending).poll(cx) {
            Poll::Ready(v) => Poll::Ready((self.done)(v.map_err(|e| unsupported(&e)))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// What `call` gave, as a key's handle.
pub fn handle(v: &JsValue) -> KeyHandle {
    v.as_f64().unwrap_or_default() as KeyHandle
}

/// What `call` gave, as bytes (`None`: it did not open).
pub fn bytes(v: &JsValue) -> Option<Vec<u8>> {
    (!v.is_undefined()).then(|| Uint8Array::new(v).to_vec())
}

pub fn random_bytes(n: usize) -> Result<Vec<u8>> {
    random_bytes_js(n)
        .map(|a| a.to_vec())
        .map_err(|e| unsupported(&e))
}
