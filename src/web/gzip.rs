//! gzip by the browser's own `CompressionStream`: uploads (values, log
//! entries) shrink without a compressor in the .wasm (miniz_oxide's
//! deflate would add more to the package than this whole edge). Readers
//! need no inflater either: a browser undoes a stored object's
//! `Content-Encoding: gzip` as it fetches it.

use crate::prelude::*;

use js_sys::{Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// Missing in browsers before 2023 (Firefox 113, Safari 16.4): its
    /// constructor then throws, and content goes up as it is.
    #[wasm_bindgen(js_name = CompressionStream)]
    type Compressor;
    #[wasm_bindgen(constructor, catch, js_class = "CompressionStream")]
    fn new(format: &str) -> Result<Compressor, JsValue>;

    /// `Response`, as the one way to turn bytes into a stream and a
    /// stream back into bytes. Bound here rather than through web-sys's
    /// `Response` (which `fetch.rs` uses): its constructors are fallible
    /// (`catch`) and its stream methods need the `ReadableStream` and
    /// `ReadableWritablePair` bindings; this way is 0.2 KB gzipped less.
    type Response;
    #[wasm_bindgen(constructor)]
    fn new(body: &JsValue) -> Response;
    #[wasm_bindgen(method, getter)]
    fn body(this: &Response) -> JsValue;
    #[wasm_bindgen(method, js_name = arrayBuffer)]
    fn array_buffer(this: &Response) -> Promise;
    #[wasm_bindgen(js_name = pipeThrough, method)]
    fn pipe_through(stream: &Stream, pair: &Compressor) -> JsValue;
    type Stream;
}

/// `body` gzipped, or `None` if this browser cannot.
pub async fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    let compressor = Compressor::new("gzip").ok()?;
    let source: Stream = Response::new(&Uint8Array::from(body))
        .body()
        .unchecked_into();
    let zipped = Response::new(&source.pipe_through(&compressor));
    let buffer = JsFuture::from(zipped.array_buffer()).await.ok()?;
    Some(Uint8Array::new(&buffer).to_vec())
}
