//! The proxy as an HTTP server (axum on tokio): its own endpoints (the
//! credentials, the dev identity provider), and every other request
//! checked (signature, then `guard`) and sent on to the bucket signed
//! with the proxy's keys. CORS is answered here: the proxy is the origin
//! browsers talk to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use mps3::engine::credentials::Credentials;
use mps3::engine::http::{HttpRequest, HttpResponse};
use mps3::engine::protocol::v2::format::{checkpoint_key, parse_checkpoint, slot_key};
use mps3::engine::s3::{GetOptions, ListParams, PutOptions, S3Config, S3};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::Config;
use crate::dev_idp::DevIdp;
use crate::guard::{Allowed, Incoming, Policy, Upstream};
use crate::http::{self, Client};
use crate::oidc::Verifier;
use crate::s3error::S3Error;
use crate::session::{self, SessionKey};
use crate::signature::{percent_decode, query_pairs, verify, Signed};

/// Everything a request needs; shared by the server's tasks.
pub struct App {
    policy: Policy,
    keys: Vec<SessionKey>,
    ttl_ms: i64,
    credentials_per_minute: u32,
    verifier: Verifier,
    dev: Option<DevIdp>,
    http: Client,
    upstream: S3,
    /// Requests counted per caller and purpose in the current minute.
    windows: Mutex<HashMap<String, (u64, u32)>>,
    /// Per manifest, the highest log slot known to exist (slots never
    /// stop existing above a checkpoint): most creates need no lookup.
    slots: Mutex<HashMap<String, u64>>,
}

/// Secrets the proxy reads from the environment (never from its file).
pub struct Secrets {
    pub session_keys: String,
    pub upstream_key_id: String,
    pub upstream_secret: String,
}

impl Secrets {
    pub fn from_env(config: &Config) -> Result<Secrets, String> {
        let var =
            |name: &str| std::env::var(name).map_err(|_| format!("set {name} in the environment"));
        Ok(Secrets {
            session_keys: var(&config.session.keys_env)?,
            upstream_key_id: var(&config.upstream.access_key_id_env)?,
            upstream_secret: var(&config.upstream.secret_access_key_env)?,
        })
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl App {
    pub fn new(config: &Config, secrets: Secrets) -> Result<App, String> {
        let keys = session::parse_keys(&secrets.session_keys)?;
        let http = http::client();
        let verifier = Verifier::new(
            config.issuer(),
            config.audience(),
            &config.auth.algorithms,
            config.auth.roles_claim.clone(),
            http.clone(),
        )?;
        let dev = config
            .dev_idp
            .enabled
            .then(|| DevIdp::new(config.issuer(), config.audience()));
        let creds = Credentials::new(secrets.upstream_key_id, secrets.upstream_secret);
        let s3 = S3Config::new(
            config.upstream.endpoint.as_deref(),
            &config.upstream.region,
            creds,
        )
        .map_err(|e| format!("[upstream]: {}", e.message.clone()))?;
        Ok(App {
            policy: Policy {
                bucket: config.upstream.bucket.clone(),
                manifests: config.manifests.clone(),
                max_entry_bytes: config.limits.max_entry_bytes,
                max_content_bytes: config.limits.max_content_bytes,
            },
            keys,
            ttl_ms: config.session.ttl_seconds as i64 * 1000,
            credentials_per_minute: config.limits.credentials_per_minute,
            verifier,
            dev,
            http,
            upstream: S3::new(s3),
            windows: Mutex::new(HashMap::new()),
            slots: Mutex::new(HashMap::new()),
        })
    }

    /// Counts one request of `who` against `limit` per minute; false past it.
    fn within(&self, who: String, limit: u32) -> bool {
        let minute = (now_ms() / 60_000) as u64;
        let mut windows = self.windows.lock().expect("no panic holds it");
        if windows.len() > 100_000 {
            windows.retain(|_, (m, _)| *m == minute);
        }
        let w = windows.entry(who).or_insert((minute, 0));
        if w.0 != minute {
            *w = (minute, 0);
        }
        w.1 += 1;
        w.1 <= limit
    }
}

pub fn router(app: Arc<App>, config: &Config) -> Router {
    let origins = if config.cors.origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let mut list = Vec::new();
        for o in &config.cors.origins {
            if let Ok(v) = HeaderValue::from_str(o) {
                list.push(v);
            }
        }
        AllowOrigin::list(list)
    };
    let allow = [
        "authorization",
        "content-type",
        "content-encoding",
        "x-amz-date",
        "x-amz-content-sha256",
        "x-amz-security-token",
        "if-match",
        "if-none-match",
    ];
    let expose = [
        "x-mps3-refused",
        "etag",
        "date",
        "last-modified",
        "x-amz-version-id",
        "content-type",
        "content-length",
    ];
    let cors = CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([
            Method::GET,
            Method::PUT,
            Method::POST,
            Method::DELETE,
            Method::HEAD,
        ])
        .allow_headers(allow.map(HeaderName::from_static))
        .expose_headers(expose.map(HeaderName::from_static))
        .max_age(Duration::from_secs(600));
    Router::new().fallback(handle).with_state(app).layer(cors)
}

fn s3_error(e: &S3Error) -> Response {
    let mut resp = Response::builder()
        .status(e.status)
        .header(header::CONTENT_TYPE, "application/xml");
    if e.by_rule {
        resp = resp.header("x-mps3-refused", "rule");
    }
    resp.body(Body::from(e.to_xml())).expect("a valid response")
}

fn json(status: u16, body: String) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(body))
        .expect("a valid response")
}

async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let limit = app.policy.max_content_bytes + 64 * 1024;
    let Ok(body) = to_bytes(body, limit).await else {
        return s3_error(&S3Error::new(
            400,
            "EntityTooLarge",
            "the request body is too large",
        ));
    };
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let mut headers = Vec::new();
    for (n, v) in &parts.headers {
        if let Ok(v) = v.to_str() {
            headers.push((n.as_str().to_ascii_lowercase(), v.to_string()));
        }
    }
    if path == "/__mps3/credentials" && parts.method == Method::POST {
        return credentials(&app, &headers).await;
    }
    if let Some(rest) = path.strip_prefix("/__dev/idp") {
        if let Some(dev) = &app.dev {
            return dev_idp(dev, rest, &query);
        }
    }
    match s3(&app, parts.method.as_str(), &path, &query, &headers, &body).await {
        Ok(resp) => resp,
        Err(e) => s3_error(&e),
    }
}

/// `POST /__mps3/credentials` with `Authorization: Bearer <ID token>`:
/// derived credentials for the token's subject.
async fn credentials(app: &App, headers: &[(String, String)]) -> Response {
    let token = headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .and_then(|(_, v)| v.strip_prefix("Bearer "));
    let Some(token) = token else {
        let e = S3Error::new(
            401,
            "InvalidToken",
            "send the ID token as Authorization: Bearer <token>",
        );
        return json(401, e.to_json());
    };
    let id = match app.verifier.verify(token.trim()).await {
        Ok(id) => id,
        Err(why) => return json(401, S3Error::new(401, "InvalidToken", why).to_json()),
    };
    if !app.within(
        format!("credentials\n{}", id.sub),
        app.credentials_per_minute,
    ) {
        return json(
            503,
            S3Error::new(
                503,
                "SlowDown",
                "too many credential requests; wait a minute",
            )
            .to_json(),
        );
    }
    let issued = session::issue(&app.keys[0], &id.sub, &id.roles, now_ms() + app.ttl_ms);
    let body = serde_json::json!({
        "accessKeyId": issued.access_key_id,
        "secretAccessKey": issued.secret_access_key,
        "expiration": issued.expiration_ms,
        "writerPrefix": issued.writer_prefix,
    });
    json(200, body.to_string())
}

fn dev_idp(dev: &DevIdp, rest: &str, query: &str) -> Response {
    match rest {
        "/.well-known/openid-configuration" => json(200, dev.discovery().to_string()),
        "/jwks" => json(200, dev.jwks().to_string()),
        "/token" => {
            let q = query_pairs(query);
            let get = |n: &str| q.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
            let Some(sub) = get("sub").filter(|s| !s.is_empty()) else {
                return json(400, "{\"message\":\"give a sub\"}".into());
            };
            let roles: Vec<String> = get("roles")
                .unwrap_or("")
                .split(',')
                .filter(|r| !r.is_empty())
                .map(String::from)
                .collect();
            let now = (now_ms() / 1000) as u64;
            let token = dev.token(sub, &roles, get("aud"), now);
            json(200, serde_json::json!({ "id_token": token }).to_string())
        }
        _ => json(404, "{}".into()),
    }
}

/// An S3 request: verified, checked, sent on.
async fn s3(
    app: &App,
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Response, S3Error> {
    let principal = verify(
        &app.keys,
        &Signed {
            method,
            path,
            query,
            headers,
            body,
        },
        now_ms(),
    )?;
    let rest = path.strip_prefix('/').unwrap_or(path);
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    let key = percent_decode(key);
    let pairs = query_pairs(query);
    let allowed = app
        .policy
        .check(
            &principal,
            &Incoming {
                method,
                bucket,
                key: Some(key.as_str()).filter(|k| !k.is_empty()),
                query: &pairs,
                headers,
                body,
            },
        )
        .map_err(S3Error::by_rule)?;
    if let Some(mkey) = &allowed.counts_against {
        let limit = app.policy.writes_per_minute(mkey);
        if !app.within(format!("writes\n{}\n{mkey}", principal.sub), limit) {
            return Err(S3Error::new(
                503,
                "SlowDown",
                format!("more than {limit} writes a minute to {mkey}; wait a moment"),
            )
            .by_rule());
        }
    }
    if let Some((mkey, n)) = &allowed.slot {
        follows(app, mkey, *n).await.map_err(|e| match e.code {
            "AccessDenied" => e.by_rule(),
            _ => e,
        })?;
    }
    let answer = forward(app, &allowed).await?;
    if let (Some((mkey, n)), 200) = (&allowed.slot, answer.status) {
        let mut slots = app.slots.lock().expect("no panic holds it");
        let known = slots.entry(mkey.clone()).or_insert(0);
        *known = (*known).max(*n);
    }
    let mut resp = Response::builder()
        .status(StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY));
    for (n, v) in &answer.headers {
        if matches!(
            n.as_str(),
            "etag"
                | "last-modified"
                | "date"
                | "content-type"
                | "content-encoding"
                | "x-amz-version-id"
        ) {
            resp = resp.header(n.as_str(), v.as_str());
        }
    }
    Ok(resp
        .body(Body::from(answer.body))
        .expect("a valid response"))
}

/// A create of slot `n` of `mkey` must follow a slot that exists, or a
/// checkpoint at or past `n - 1`: a slot far ahead of the head would be a
/// hole every cold reader stops at.
async fn follows(app: &App, mkey: &str, n: u64) -> Result<(), S3Error> {
    if n <= 1 {
        return Ok(());
    }
    let known = app
        .slots
        .lock()
        .expect("no panic holds it")
        .get(mkey)
        .copied();
    if known.is_some_and(|k| k >= n - 1) {
        return Ok(());
    }
    let now = now_ms();
    let head = app
        .upstream
        .head_object(
            &app.policy.bucket,
            &slot_key(mkey, n - 1),
            &GetOptions::default(),
            now,
        )
        .map_err(|e| S3Error::new(500, "InternalError", e.message.clone()))?;
    let answer = send(app, head).await?;
    if answer.status == 200 {
        let mut slots = app.slots.lock().expect("no panic holds it");
        let k = slots.entry(mkey.to_string()).or_insert(0);
        *k = (*k).max(n - 1);
        return Ok(());
    }
    let prefix = checkpoint_key(mkey, 0);
    let prefix = prefix
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .to_string();
    let list = app
        .upstream
        .list_objects_v2(
            &app.policy.bucket,
            &ListParams {
                prefix: Some(prefix),
                start_after: None,
                max_keys: None,
                continuation_token: None,
            },
            now,
        )
        .map_err(|e| S3Error::new(500, "InternalError", e.message.clone()))?;
    let answer = send(app, list).await?;
    let listing = mps3::engine::s3::parse_list(&answer)
        .map_err(|e| S3Error::new(502, "InternalError", e.message.clone()))?;
    let newest = listing
        .entries
        .iter()
        .filter_map(|e| parse_checkpoint(mkey, &e.key))
        .max();
    if newest.is_some_and(|c| c >= n - 1) {
        return Ok(());
    }
    Err(S3Error::denied(format!(
        "log slot {n} of {mkey} does not follow the log: slot {} does not exist",
        n - 1
    )))
}

async fn send(app: &App, req: HttpRequest) -> Result<HttpResponse, S3Error> {
    http::send_request(&app.http, req)
        .await
        .map_err(|why| S3Error::new(502, "ServiceUnavailable", format!("the bucket: {why}")))
}

/// The allowed request, built and signed by the engine with the proxy's
/// keys, sent to the bucket.
async fn forward(app: &App, allowed: &Allowed) -> Result<HttpResponse, S3Error> {
    let bucket = &app.policy.bucket;
    let now = now_ms();
    let built = match &allowed.upstream {
        Upstream::Get { key, if_none_match } => app.upstream.get_object(
            bucket,
            key,
            &GetOptions {
                version_id: None,
                if_none_match: if_none_match.clone(),
            },
            now,
        ),
        Upstream::Put {
            key,
            body,
            content_type,
            content_encoding,
            mode,
        } => {
            let content_encoding = match content_encoding.as_deref() {
                None => None,
                Some("gzip") => Some("gzip"),
                Some(other) => {
                    return Err(S3Error::denied(format!(
                        "content-encoding {other} is not served"
                    )))
                }
            };
            app.upstream.put_object(
                bucket,
                key,
                body.clone(),
                &PutOptions {
                    content_type: content_type.clone(),
                    content_encoding,
                    mode: mode.clone(),
                },
                now,
            )
        }
        Upstream::Delete { key } => app.upstream.delete_object(bucket, key, None, now),
        Upstream::List(params) => app.upstream.list_objects_v2(bucket, params, now),
    }
    .map_err(|e| S3Error::new(400, "InvalidRequest", e.message.clone()))?;
    send(app, built).await
}
