//! The proxy's HTTP client: to the bucket (the requests it signs with its
//! own keys) and to the identity provider (discovery, JWKS).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client as Legacy};
use hyper_util::rt::TokioExecutor;

pub type Client = Legacy<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// An answer, read whole.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

pub fn client() -> Client {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .build();
    Legacy::builder(TokioExecutor::new()).build(https)
}

/// Sends `method url` with `headers` and `body`; the answer read whole.
pub async fn send(
    client: &Client,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Result<Answer, String> {
    let mut req = hyper::Request::builder().method(method).uri(url);
    for (n, v) in headers {
        req = req.header(n.as_str(), v.as_str());
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("a request to {url} could not be built: {e}"))?;
    let resp = tokio::time::timeout(std::time::Duration::from_secs(30), client.request(req))
        .await
        .map_err(|_| format!("{url} did not answer within 30 s"))?
        .map_err(|e| format!("{url} could not be reached: {e}"))?;
    let status = resp.status().as_u16();
    let mut out = Vec::new();
    for (n, v) in resp.headers() {
        if let Ok(v) = v.to_str() {
            out.push((n.as_str().to_string(), v.to_string()));
        }
    }
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{url}'s answer broke off: {e}"))?
        .to_bytes();
    Ok(Answer {
        status,
        headers: out,
        body,
    })
}

/// A request the engine built and signed, sent; its answer as the
/// engine reads answers.
pub async fn send_request(
    client: &Client,
    req: mps3::engine::http::HttpRequest,
) -> Result<mps3::engine::http::HttpResponse, String> {
    let a = send(
        client,
        req.method.as_str(),
        &req.url,
        &req.headers,
        req.body,
    )
    .await?;
    Ok(mps3::engine::http::HttpResponse {
        status: a.status,
        headers: a.headers,
        body: a.body.to_vec(),
    })
}

/// A GET of JSON.
pub async fn get_json(client: &Client, url: &str) -> Result<serde_json::Value, String> {
    let answer = send(client, "GET", url, &[], Vec::new()).await?;
    if answer.status != 200 {
        return Err(format!("{url} answered {}", answer.status));
    }
    serde_json::from_slice(&answer.body).map_err(|_| format!("{url} did not answer JSON"))
}
