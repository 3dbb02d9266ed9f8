//! What the proxy's tests against the test bed share: the test bed's
//! address and keys, a proxy started in this process, tokens from its dev
//! identity provider, and engine clients through it.
#![allow(dead_code, reason = "each test crate uses part of it")]

use std::rc::Rc;
use std::sync::Arc;

use mps3::engine::credentials::Credentials;
use mps3::engine::db::{Db, DbConfig};
use mps3::engine::http::{HttpRequest, HttpResponse};
use mps3::engine::s3::{S3Config, S3};
use mps3_proxy::config::Config;
use mps3_proxy::http::{self, Client};
use mps3_proxy::native_io::NativeIo;
use mps3_proxy::server::{now_ms, router, App, Secrets};

pub const SESSION_KEYS: &str = "t1=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub const BUCKET: &str = "demo-board";

pub struct Bed {
    pub endpoint: String,
    pub region: String,
    pub key_id: String,
    pub secret: String,
}

pub fn bed() -> Bed {
    let var = |n: &str| {
        std::env::var(n).unwrap_or_else(|_| panic!("{n} is not set: run scripts/test.sh"))
    };
    Bed {
        endpoint: var("MPS3_TESTBED_ENDPOINT"),
        region: var("MPS3_TESTBED_REGION"),
        key_id: var("MPS3_TESTBED_ACCESS_KEY"),
        secret: var("MPS3_TESTBED_SECRET"),
    }
}

impl Bed {
    /// The test bed's S3, with its own keys: what the proxy holds.
    pub fn s3_config(&self) -> S3Config {
        S3Config::new(
            Some(&self.endpoint),
            &self.region,
            Credentials::new(&self.key_id, &self.secret),
        )
        .unwrap()
    }

    /// Requests straight to the test bed, past the proxy (to see what the
    /// bucket holds).
    pub fn direct(&self) -> S3 {
        S3::new(self.s3_config())
    }
}

/// A proxy on a free port; its URL.
pub async fn start_proxy(bed: &Bed, run: &str, audience: &str) -> String {
    start_proxy_limited(bed, run, audience, 1000).await
}

/// A proxy whose callers may create `writes_per_minute` entries a minute.
pub async fn start_proxy_limited(
    bed: &Bed,
    run: &str,
    audience: &str,
    writes_per_minute: u32,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let text = format!(
        r#"
listen = "{addr}"
[auth]
audience = "{audience}"
[dev_idp]
enabled = true
[upstream]
endpoint = "{endpoint}"
region = "{region}"
bucket = "{BUCKET}"
[limits]
max_entry_bytes = 65536
max_content_bytes = 100000

[[manifest]]
key = "{run}/board.json"
read = "authenticated"
writes_per_minute = {writes_per_minute}
rules = [
  {{ keys = "{run}/notes/{{sub}}/**", allow = ["set", "delete"], max_value_bytes = 50000 }},
  {{ keys = "{run}/likes/{{any}}", allow = ["set"] }},
]
"#,
        endpoint = bed.endpoint,
        region = bed.region,
    );
    let config = Config::parse(&text).unwrap();
    let app = App::new(
        &config,
        Secrets {
            session_keys: SESSION_KEYS.into(),
            upstream_key_id: bed.key_id.clone(),
            upstream_secret: bed.secret.clone(),
        },
    )
    .unwrap();
    let router = router(Arc::new(app), &config);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

pub async fn send(client: &Client, req: HttpRequest) -> HttpResponse {
    http::send_request(client, req).await.unwrap()
}

pub async fn post_json(
    client: &Client,
    url: &str,
    bearer: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut headers = Vec::new();
    if let Some(t) = bearer {
        headers.push(("authorization".to_string(), format!("Bearer {t}")));
    }
    let a = http::send(client, "POST", url, &headers, Vec::new())
        .await
        .unwrap();
    (
        a.status,
        serde_json::from_slice(&a.body).unwrap_or_default(),
    )
}

pub async fn token(client: &Client, proxy: &str, sub: &str, aud: Option<&str>) -> String {
    let mut url = format!("{proxy}/__dev/idp/token?sub={sub}");
    if let Some(aud) = aud {
        url.push_str(&format!("&aud={aud}"));
    }
    let v = http::get_json(client, &url).await.unwrap();
    v["id_token"].as_str().unwrap().to_string()
}

/// A native engine client through the proxy, as a browser's would be:
/// derived credentials (their writer prefix), autoclean off.
pub async fn engine_client(
    client: &Client,
    proxy: &str,
    sub: &str,
    checkpoint_every: u64,
) -> Rc<Db<NativeIo>> {
    let t = token(client, proxy, sub, None).await;
    let (status, creds) = post_json(client, &format!("{proxy}/__mps3/credentials"), Some(&t)).await;
    assert_eq!(status, 200);
    let mut c = Credentials::new(
        creds["accessKeyId"].as_str().unwrap(),
        creds["secretAccessKey"].as_str().unwrap(),
    );
    c.writer_prefix = creds["writerPrefix"].as_str().map(String::from);
    let mut s3c = S3Config::new(Some(proxy), "us-east-1", c).unwrap();
    s3c.presign_reads = true;
    let mut cfg = DbConfig::new(BUCKET);
    cfg.autoclean = false;
    cfg.offline_storage = false;
    cfg.checkpoint_every = checkpoint_every;
    let db = Rc::new(
        Db::new(
            NativeIo::new(http::client()),
            S3::new(s3c),
            cfg,
            now_ms() as u64,
        )
        .unwrap(),
    );
    db.start();
    db
}
