//! Shared by the browser tests: the test bed's address and keys (baked in
//! at compile time by scripts/test.sh, since the test runner forwards no
//! environment) and its control endpoint.
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Reflect, JSON};
use mps3::engine::credentials::Credentials;
use mps3::engine::http::{HttpRequest, Method};
use mps3::engine::s3::{S3Config, S3};
use mps3::web::fetch::send;
use mps3::web::s3::S3Client;
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

pub struct Testbed {
    pub endpoint: &'static str,
    pub region: &'static str,
    pub access_key: &'static str,
    pub secret: &'static str,
}

/// Fails loudly when the tests were built without a test bed: a browser
/// test that cannot reach S3 must not pass.
/// (Not `env!`: lints and builds without a test bed must still compile.)
pub fn testbed() -> Testbed {
    fn required(value: Option<&'static str>) -> &'static str {
        match value {
            Some(v) => v,
            None => panic!(
                "built without MPS3_TESTBED_*: run the browser tests through scripts/test.sh"
            ),
        }
    }
    Testbed {
        endpoint: required(option_env!("MPS3_TESTBED_ENDPOINT")),
        region: option_env!("MPS3_TESTBED_REGION").unwrap_or("us-east-1"),
        access_key: required(option_env!("MPS3_TESTBED_ACCESS_KEY")),
        secret: required(option_env!("MPS3_TESTBED_SECRET")),
    }
}

pub fn client_with_secret(secret: &str) -> S3Client {
    let tb = testbed();
    let config = S3Config::new(
        Some(tb.endpoint),
        tb.region,
        Credentials::new(tb.access_key, secret),
    )
    .unwrap();
    S3Client::new(S3::new(config))
}

pub fn client() -> S3Client {
    client_with_secret(testbed().secret)
}

/// A bucket name no other test (or earlier run) uses.
pub fn unique_bucket(prefix: &str) -> String {
    let n = (js_sys::Math::random() * 1e12) as u64;
    format!("{prefix}-{n:x}")
}

async fn control(method: Method, path: &str, body: &str) -> serde_json::Value {
    let req = HttpRequest {
        method,
        url: format!("{}/__testbed{path}", testbed().endpoint),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.as_bytes().to_vec(),
        finish_offline: false,
        trace: None,
    };
    let resp = send(&req, &JsValue::UNDEFINED)
        .await
        .expect("test bed control endpoint");
    assert_eq!(resp.status, 200, "control {path}");
    serde_json::from_slice(&resp.body).unwrap()
}

/// Installs fault rules (see tests/testbed/server.py) with a seed.
pub async fn set_faults(seed: u64, rules: serde_json::Value) {
    let spec = serde_json::json!({ "seed": seed, "rules": rules });
    control(Method::Post, "/faults", &spec.to_string()).await;
}

/// Lets requests held by a "hold" fault go on.
pub async fn release_held() {
    control(Method::Post, "/release", "").await;
}

pub async fn clear_faults() {
    control(Method::Delete, "/faults", "").await;
}

/// Request counters of one bucket (tests run concurrently; each reads the
/// figures of its own bucket).
pub async fn stats(bucket: &str) -> serde_json::Value {
    control(Method::Get, &format!("/stats?bucket={bucket}"), "").await
}

/// The objects of `bucket` under `prefix`, as the test bed's server holds
/// them: key, body, stored size and `Content-Encoding`.
pub async fn objects(bucket: &str, prefix: &str) -> Vec<serde_json::Value> {
    let found = control(
        Method::Get,
        &format!(
            "/objects?bucket={bucket}&prefix={}",
            mps3::engine::encode::uri_encode(prefix, false)
        ),
        "",
    )
    .await;
    found["objects"].as_array().cloned().unwrap_or_default()
}

/// A client config for `bucket` (JSON), with `extra` fields merged in.
///
/// Each config gets a label of its own unless `extra` names one: clients
/// with one label share their offline storage (they are tabs of one
/// client), and most tests mean clients on different machines.
pub fn db_config(bucket: &str, extra: serde_json::Value) -> wasm_bindgen::JsValue {
    let tb = testbed();
    let mut cfg = serde_json::json!({
        "defaultBucket": bucket,
        "label": unique_bucket("client"),
        "pollFrequency": 100,
        // Most browser tests check protocol v1's layout (its content
        // objects, entries and marker) and name it; tests/v2_browser.rs
        // runs the protocol a new manifest gets by default.
        "protocol": "v1",
        "s3Config": {
            "endpoint": tb.endpoint,
            "region": tb.region,
            "credentials": { "accessKeyId": tb.access_key, "secretAccessKey": tb.secret }
        }
    });
    if let (Some(base), Some(more)) = (cfg.as_object_mut(), extra.as_object()) {
        for (k, v) in more {
            base.insert(k.clone(), v.clone());
        }
    }
    js_sys::JSON::parse(&cfg.to_string()).unwrap()
}

pub async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await
}

/// Waits until `check` holds, polling every 20 ms; panics after `ms`.
pub async fn eventually(what: &str, ms: u32, check: impl Fn() -> bool) {
    let mut waited = 0;
    while !check() {
        assert!(waited < ms, "timed out after {ms} ms waiting for {what}");
        sleep(20).await;
        waited += 20;
    }
}

/// Hands a benchmark's figures to the test bed, where scripts/bench.sh
/// collects them.
pub async fn report(figures: &serde_json::Value) {
    control(Method::Post, "/report", &figures.to_string()).await;
}

/// A fresh bucket of the test bed.
pub async fn bucket(prefix: &str) -> String {
    let b = unique_bucket(prefix);
    client().create_bucket(&b).await.expect("create bucket");
    b
}

pub fn js(v: serde_json::Value) -> JsValue {
    JSON::parse(&v.to_string()).unwrap()
}

pub fn to_json(v: &JsValue) -> serde_json::Value {
    if v.is_undefined() {
        return serde_json::Value::String("<undefined>".into());
    }
    serde_json::from_str(&String::from(JSON::stringify(v).unwrap())).unwrap()
}

pub async fn ok(p: js_sys::Promise) -> JsValue {
    JsFuture::from(p).await.unwrap_or_else(|e| {
        panic!(
            "rejected: {:?}",
            to_json(&Reflect::get(&e, &"message".into()).unwrap())
        )
    })
}

pub async fn err_code(p: js_sys::Promise) -> String {
    refusal(p).await.0
}

/// The code and message `p` rejects with (an `MPS3Error`).
pub async fn refusal(p: js_sys::Promise) -> (String, String) {
    let e = JsFuture::from(p).await.expect_err("expected a rejection");
    thrown(&e)
}

/// The code and message of `e`, an `MPS3Error`.
pub fn thrown(e: &JsValue) -> (String, String) {
    assert_mps3_error(e);
    let field = |name: &str| Reflect::get(e, &name.into()).unwrap().as_string().unwrap();
    (field("code"), field("message"))
}

/// `e instanceof MPS3Error` (the class the package exports) and
/// `instanceof Error`, named `MPS3Error`, with a stack trace; its message
/// the sentence alone, joined to the code once by `toString()`.
pub fn assert_mps3_error(e: &JsValue) {
    let check = Function::new_with_args(
        "e, C",
        "return e instanceof C && e instanceof Error && e.name === 'MPS3Error' \
         && typeof e.stack === 'string' && typeof e.code === 'string' \
         && !e.message.startsWith(e.code + ':') && String(e) === e.code + ': ' + e.message",
    );
    let class = mps3::web::errors::error_class();
    assert_eq!(
        check.call2(&JsValue::NULL, e, &class).unwrap().as_bool(),
        Some(true),
        "not an MPS3Error: {e:?}"
    );
}

/// The transaction callback of the counting tests: read the counter
/// `likes`, write it plus one, and answer the count it made.
pub fn increment() -> Function {
    Function::new_with_args(
        "tx",
        "return tx.get('likes').then((n) => { tx.set('likes', (n ?? 0) + 1); return (n ?? 0) + 1; })",
    )
}

/// Each client runs `each` increments with `transaction`, all clients at
/// once: every count a transaction answered, sorted.
pub async fn count_with_transactions(
    clients: &[mps3::web::class::MPS3],
    each: usize,
) -> Vec<usize> {
    type Counting<'a> = core::pin::Pin<Box<dyn core::future::Future<Output = Vec<usize>> + 'a>>;
    let runs: Vec<Counting<'_>> = clients
        .iter()
        .map(|db| {
            Box::pin(async move {
                let mut seen = Vec::new();
                for _ in 0..each {
                    let n = ok(db.transaction(increment().into(), None)).await;
                    seen.push(n.as_f64().unwrap() as usize);
                }
                seen
            }) as Counting<'_>
        })
        .collect();
    let mut all: Vec<usize> = mps3::engine::deadline::join_all(runs).await.concat();
    all.sort_unstable();
    all
}

/// A subscriber that records what it is called with.
pub fn recorder() -> (Function, Rc<RefCell<Vec<serde_json::Value>>>) {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let f = Closure::<dyn Fn(JsValue, JsValue)>::new(move |v: JsValue, e: JsValue| {
        if e.is_undefined() {
            s.borrow_mut().push(to_json(&v));
        } else {
            assert_mps3_error(&e);
            s.borrow_mut()
                .push(json!({"error": to_json(&Reflect::get(&e, &"code".into()).unwrap())}));
        }
    });
    (f.into_js_value().unchecked_into(), seen)
}

/// A protocol v2 manifest's log as the bucket holds it: each slot's entry,
/// in order.
pub async fn v2_slots(
    s3: &S3Client,
    bucket: &str,
    manifest: &str,
) -> Vec<(u64, mps3::engine::protocol::v2::format::Entry)> {
    use mps3::engine::protocol::v2::format::{parse_slot, Entry};
    use mps3::engine::s3::{GetOptions, GetResult, ListParams};
    let listed = s3
        .list_all(
            bucket,
            ListParams {
                prefix: Some(format!("{manifest}.v2/log/")),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut out = Vec::new();
    for e in listed {
        let Some(n) = parse_slot(manifest, &e.key) else {
            continue;
        };
        if let GetResult::Found(o) = s3
            .get_object(bucket, &e.key, &GetOptions::default())
            .await
            .unwrap()
        {
            out.push((n, Entry::parse(&o.body).unwrap()));
        }
    }
    out
}

/// Judges a v2 log after `clients` clients each wrote `"c<c>-<i>"` for
/// `i` in `0..writes` to `key(c)` of `bucket`: slots contiguous from 1,
/// every write in exactly one slot, each client's in the order made.
/// Returns the state at the last slot, url → value.
pub fn judge_v2_log(
    log: &[(u64, mps3::engine::protocol::v2::format::Entry)],
    bucket: &str,
    clients: usize,
    writes: usize,
    key: impl Fn(usize) -> String,
    context: &str,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    let n = log.len() as u64;
    assert_eq!(
        log.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>(),
        "contiguous slots"
    );
    let mut count: std::collections::BTreeMap<String, usize> = Default::default();
    let mut state: std::collections::BTreeMap<String, serde_json::Value> = Default::default();
    for (_, e) in log {
        for (k, s) in &e.set {
            let v: serde_json::Value = serde_json::from_str(s.inline.as_deref().unwrap()).unwrap();
            *count.entry(format!("{k}={v}")).or_default() += 1;
            state.insert(k.clone(), v);
        }
    }
    for i in 0..writes {
        for c in 0..clients {
            let w = format!("{bucket}/{}=\"c{c}-{i}\"", key(c));
            assert_eq!(
                count.get(&w),
                Some(&1),
                "{w} lands exactly once ({context})"
            );
        }
    }
    for c in 0..clients {
        let mine: Vec<String> = log
            .iter()
            .flat_map(|(_, e)| e.set.iter())
            .filter_map(|(_, s)| s.inline.as_deref().map(str::to_string))
            .filter(|v| v.starts_with(&format!("\"c{c}-")))
            .collect();
        let made: Vec<String> = (0..writes).map(|i| format!("\"c{c}-{i}\"")).collect();
        assert_eq!(mine, made, "client {c}'s order ({context})");
    }
    state
}

/// The bucket of the conformance checks (scripts/conformance.sh, and the
/// s3s-fs run of scripts/test.sh): `MPS3_CONFORMANCE_*` at compile time.
/// No endpoint means AWS S3.
pub struct ConformanceTarget {
    pub endpoint: Option<&'static str>,
    pub region: &'static str,
    pub bucket: &'static str,
    pub key: &'static str,
    pub secret: &'static str,
    pub token: Option<&'static str>,
}

/// Fails loudly when built without the bucket's settings: a check that
/// cannot reach its bucket must not pass.
pub fn conformance_target() -> ConformanceTarget {
    fn required(v: Option<&'static str>, name: &str) -> &'static str {
        v.filter(|v| !v.is_empty()).unwrap_or_else(|| {
            panic!("built without {name}: run scripts/conformance.sh or scripts/test.sh")
        })
    }
    let set = |v: Option<&'static str>| v.filter(|v| !v.is_empty());
    ConformanceTarget {
        endpoint: set(option_env!("MPS3_CONFORMANCE_ENDPOINT")),
        region: set(option_env!("MPS3_CONFORMANCE_REGION")).unwrap_or("us-east-1"),
        bucket: required(
            option_env!("MPS3_CONFORMANCE_BUCKET"),
            "MPS3_CONFORMANCE_BUCKET",
        ),
        key: required(
            option_env!("MPS3_CONFORMANCE_ACCESS_KEY_ID"),
            "MPS3_CONFORMANCE_ACCESS_KEY_ID",
        ),
        secret: required(
            option_env!("MPS3_CONFORMANCE_SECRET_ACCESS_KEY"),
            "MPS3_CONFORMANCE_SECRET_ACCESS_KEY",
        ),
        token: set(option_env!("MPS3_CONFORMANCE_SESSION_TOKEN")),
    }
}

/// An S3 client of the conformance bucket's keys.
pub fn conformance_client(t: &ConformanceTarget) -> S3Client {
    if t.endpoint == Some("local:") {
        return S3Client::local().unwrap();
    }
    let mut creds = Credentials::new(t.key, t.secret);
    if let Some(token) = t.token {
        creds = creds.with_session_token(token);
    }
    S3Client::new(S3::new(S3Config::new(t.endpoint, t.region, creds).unwrap()))
}

/// Every key and value of every store of the `mps3` IndexedDB database,
/// read with plain IndexedDB calls (not through the code under test).
pub async fn idb_dump() -> String {
    let script = r#"
      return new Promise((resolve, reject) => {
        const open = indexedDB.open("mps3");
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const names = Array.from(db.objectStoreNames);
          const tx = db.transaction(names, "readonly");
          const out = [];
          let left = names.length;
          for (const n of names) {
            const s = tx.objectStore(n);
            const keys = s.getAllKeys();
            const values = s.getAll();
            values.onsuccess = () => {
              out.push(JSON.stringify([n, keys.result, values.result]));
              if (--left === 0) { db.close(); resolve(out.join("\n")); }
            };
          }
        };
      });
    "#;
    let f = Function::new_no_args(script);
    let p: js_sys::Promise = f.call0(&JsValue::NULL).unwrap().unchecked_into();
    JsFuture::from(p).await.unwrap().as_string().unwrap()
}
