//! gzip by the browser's own `CompressionStream`: uploads (values, log
//! entries) shrink without a compressor in the .wasm (miniz_oxide's
//! deflate would add more to the package than this whole edge). Readers
//! need no inflater either: a browser undoes a stored object's
//! `Content-Encoding: gzip` as it fetches it.

use crate::prelude::*;

use js_sys::{Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// `mps3Gzip(bytes)`: a promise of the bytes gzipped (a `Response` is the
/// one way to turn bytes into a stream and a stream back into bytes), or
/// of `undefined` where `CompressionStream` is missing (browsers before
/// 2023: Firefox 113, Safari 16.4), and content goes up as it is.
#[wasm_bindgen(module = "/src/web/edges.js")]
extern "C" {
    #[wasm_bindgen(js_name = mps3Gzip)]
    fn gzip_bytes(bytes: &[u8]) -> Promise;
}

/// `body` gzipped, or `None` if this browser cannot.
pub async fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    let zipped = JsFuture::from(gzip_bytes(body)).await.ok()?;
    (!zipped.is_undefined()).then(|| Uint8Array::new(&zipped).to_vec())
}
