//! Performs a core `HttpRequest` with the global `fetch` (window or worker).

use crate::prelude::*;

use js_sys::{Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Headers, Request, RequestCache, RequestInit, RequestMode, Response};

use crate::engine::error::{Error, Result};
use crate::engine::http::{HttpRequest, HttpResponse, Method, EXPOSED_HEADERS};

#[wasm_bindgen]
extern "C" {
    /// `fetch` of whatever global scope we run in.
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(input: &Request) -> Promise;
}

fn js_message(v: &JsValue) -> String {
    v.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| v.as_string())
        .unwrap_or_else(|| "fetch failed".to_string())
}

/// Sends `req`. A rejected fetch (network down, connection reset, CORS
/// refusal, abort) is `Network`; any HTTP answer is returned as it came,
/// for the core to judge. `cache: no-store` keeps the browser's HTTP cache
/// out of the way, so conditional requests reach the server as we sent them.
pub async fn send(req: &HttpRequest, signal: Option<&AbortSignal>) -> Result<HttpResponse> {
    let init = RequestInit::new();
    init.set_method(req.method.as_str());
    init.set_mode(RequestMode::Cors);
    init.set_cache(RequestCache::NoStore);
    let headers = Headers::new().map_err(|e| Error::network(js_message(&e)))?;
    for (name, value) in &req.headers {
        headers
            .append(name, value)
            .map_err(|e| Error::bad_input(cat!("header ", name, ": ", js_message(&e))))?;
    }
    init.set_headers(&headers);
    if !req.body.is_empty() {
        let body = Uint8Array::from(req.body.as_slice());
        init.set_body(&body);
    }
    if let Some(signal) = signal {
        init.set_signal(Some(signal));
    }
    let request = Request::new_with_str_and_init(&req.url, &init)
        .map_err(|e| Error::bad_input(cat!("request: ", js_message(&e))))?;
    let response: Response = JsFuture::from(global_fetch(&request))
        .await
        .map_err(|e| Error::network(js_message(&e)))?
        .unchecked_into();
    let mut out = HttpResponse {
        status: response.status(),
        headers: Vec::new(),
        body: Vec::new(),
    };
    let got = response.headers();
    for name in EXPOSED_HEADERS {
        if let Ok(Some(value)) = got.get(name) {
            out.headers.push((name.to_string(), value));
        }
    }
    if req.method != Method::Head {
        let buffer = response
            .array_buffer()
            .map_err(|e| Error::network(js_message(&e)))?;
        let buffer = JsFuture::from(buffer)
            .await
            .map_err(|e| Error::network(js_message(&e)))?;
        out.body = Uint8Array::new(&buffer).to_vec();
    }
    Ok(out)
}
