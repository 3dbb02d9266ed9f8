//! Performs a core `HttpRequest` with the global `fetch` (window or worker).
//!
//! The request is made and its answer read by a few lines of JavaScript
//! (`edges.js`), handed everything at once: each browser call made from
//! Rust is an import with a shim in the glue and its own argument passing
//! in the .wasm, a dozen of them for one request.

use crate::prelude::*;

use js_sys::{Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::engine::error::{Error, Result};
use crate::engine::http::{HttpRequest, HttpResponse, Method};

use super::convert::get;

/// Resolves to `{ s: status, h: "name\nvalue\n...", b: bytes }` with the
/// answer's headers that the page may read (the bucket's CORS rule
/// exposes those the core reads, `EXPOSED_HEADERS`), or
/// `{ e: message, bad: true }` when the request could not be made (a
/// header or URL the browser refuses), or
/// `{ e: message }` when it got no answer (network down, connection reset,
/// CORS refusal, abort). `cache: "no-store"` keeps the browser's HTTP cache
/// out of the way, so conditional requests reach the server as we sent
/// them. The body is copied first: it is a view of the .wasm's memory,
/// which the browser may read after this returns, changed or moved by
/// then.
#[wasm_bindgen(module = "/src/web/edges.js")]
extern "C" {
    #[wasm_bindgen(js_name = mps3Fetch)]
    fn fetch(method: &str, url: &str, headers: &str, body: &[u8], controller: &JsValue) -> Promise;
}

/// Sends `req`. No answer is `Network`; a request the browser refuses to
/// make is `BadInput`; any HTTP answer is returned as it came, for the
/// core to judge.
pub async fn send(req: &HttpRequest, controller: &JsValue) -> Result<HttpResponse> {
    // Header names and values hold no line breaks (HTTP forbids them).
    let mut headers = String::new();
    for (name, value) in &req.headers {
        if !headers.is_empty() {
            headers.push('\n');
        }
        headers.push_str(&cat!(name, "\n", value));
    }
    let promise = fetch(
        req.method.as_str(),
        &req.url,
        &headers,
        &req.body,
        controller,
    );
    let answer = JsFuture::from(promise)
        .await
        .map_err(|_| Error::network("fetch failed"))?;
    if let Some(message) = get(&answer, "e").as_string() {
        return Err(if get(&answer, "bad").is_truthy() {
            Error::bad_input(message)
        } else {
            Error::network(message)
        });
    }
    let mut out = HttpResponse {
        status: get(&answer, "s").as_f64().unwrap_or(0.0) as u16,
        headers: Vec::new(),
        body: Vec::new(),
    };
    let got = get(&answer, "h").as_string().unwrap_or_default();
    let mut parts = got.split('\n');
    while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
        out.headers.push((name.to_string(), value.to_string()));
    }
    if req.method != Method::Head {
        out.body = Uint8Array::new(&get(&answer, "b")).to_vec();
    }
    Ok(out)
}
