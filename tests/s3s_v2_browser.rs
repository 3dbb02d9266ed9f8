//! Protocol v2 against s3s-fs (SigV4 verified to the body hash), behind
//! the CORS proxy of tests/testbed/cors_proxy.py, which injects faults:
//! two and four clients writing one key or their own keys through a fifth
//! of requests failing (503s, resets, answers lost after the server
//! applied them), each write landing exactly once and every client ending
//! on the state at the last slot. Run by scripts/test.sh with the s3s-fs
//! environment of scripts/s3s-fs.sh (its bucket, `MPS3_CONFORMANCE_*`).
//!
//! s3s-fs checks `If-None-Match: *` without atomicity: concurrent creates
//! of one key all succeed (the conformance command reports it), which no
//! log on conditional writes survives. The proxy is asked to forward
//! creates one at a time, as S3 decides them; everything else (SigV4 to
//! the body hash, the faults) is s3s-fs's own.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_macros,
    reason = "the size rules are for the shipped .wasm"
)]
#![cfg(target_arch = "wasm32")]

mod common;

use js_sys::{Promise, Reflect, JSON};
use mps3::engine::http::{HttpRequest, Method};
use mps3::engine::protocol::v2::format::Entry;
use mps3::web::class::MPS3;
use mps3::web::fetch::send;
use mps3::web::s3::S3Client;
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The s3s-fs bucket, behind the CORS proxy that injects faults.
fn target() -> common::ConformanceTarget {
    let t = common::conformance_target();
    assert!(
        t.endpoint.is_some(),
        "built without MPS3_CONFORMANCE_ENDPOINT: run through scripts/test.sh"
    );
    t
}

fn client() -> S3Client {
    common::conformance_client(&target())
}

/// Sets the proxy's fault rate; the number of requests failed before.
async fn faults(rate: f64, seed: u64) -> u64 {
    let req = HttpRequest {
        method: Method::Post,
        url: format!(
            "{}/__faults?rate={rate}&seed={seed}&serialize=1",
            target().endpoint.unwrap()
        ),
        headers: Vec::new(),
        body: Vec::new(),
        finish_offline: false,
        trace: None,
    };
    let resp = send(&req, &wasm_bindgen::JsValue::UNDEFINED)
        .await
        .expect("the proxy's fault switch");
    assert_eq!(resp.status, 200);
    serde_json::from_slice::<serde_json::Value>(&resp.body).unwrap()["failed"]
        .as_u64()
        .unwrap()
}

fn db(manifest: &str, label: &str) -> MPS3 {
    let t = target();
    let cfg = json!({
        "defaultBucket": t.bucket,
        "defaultManifest": manifest,
        "label": label,
        "pollFrequency": 200,
        "s3Config": {
            "endpoint": t.endpoint,
            "region": t.region,
            "credentials": { "accessKeyId": t.key, "secretAccessKey": t.secret },
        },
    });
    MPS3::new(JSON::parse(&cfg.to_string()).unwrap()).unwrap()
}

async fn ok(p: Promise) -> JsValue {
    JsFuture::from(p).await.unwrap_or_else(|e| {
        panic!(
            "rejected: {:?}",
            Reflect::get(&e, &"message".into()).unwrap()
        )
    })
}

fn js(v: serde_json::Value) -> JsValue {
    JSON::parse(&v.to_string()).unwrap()
}

fn to_json(v: &JsValue) -> serde_json::Value {
    if v.is_undefined() {
        return serde_json::Value::Null;
    }
    serde_json::from_str(&String::from(JSON::stringify(v).unwrap())).unwrap()
}

async fn slots(manifest: &str) -> Vec<(u64, Entry)> {
    common::v2_slots(&client(), target().bucket, manifest).await
}

async fn writers_through_faults(clients: usize, one_key: bool) {
    let n = (js_sys::Math::random() * 1e12) as u64;
    let manifest = format!("v2-faults-{n:x}/manifest.json");
    let dbs: Vec<MPS3> = (0..clients)
        .map(|c| db(&manifest, &format!("s3s-{n:x}-{c}")))
        .collect();
    // Creates one at a time from the first.
    faults(0.0, 0).await;
    ok(dbs[0].put("init".into(), 0.into(), None)).await;
    let key = |c: usize| {
        if one_key {
            "k".to_string()
        } else {
            format!("k{c}")
        }
    };
    faults(0.2, clients as u64 + u64::from(one_key)).await;
    let mut writes = Vec::new();
    for i in 0..5 {
        for (c, db) in dbs.iter().enumerate() {
            let value = js(json!(format!("c{c}-{i}")));
            writes.push(db.put(key(c).into(), value, Some(js(json!({"await": "remote"})))));
        }
    }
    let mut refused = Vec::new();
    for (i, w) in writes.into_iter().enumerate() {
        // Refused only as offline: its queue commits it.
        if let Err(e) = JsFuture::from(w).await {
            let code = Reflect::get(&e, &"code".into()).unwrap();
            let message = Reflect::get(&e, &"message".into()).unwrap();
            refused.push(format!("write {i}: {message:?}"));
            assert_eq!(code.as_string().as_deref(), Some("Offline"), "{e:?}");
        }
    }
    let failed = faults(0.0, 0).await;
    assert!(failed > 0, "no fault was injected");
    for db in &dbs {
        let deadline = js_sys::Date::now() + 30_000.0;
        while db.pending_writes() > 0 {
            assert!(js_sys::Date::now() < deadline, "writes still pending");
            gloo_timers::future::TimeoutFuture::new(100).await;
        }
    }
    let b = target().bucket;
    let log = slots(&manifest).await;
    let context = format!("{failed} faults; refused: {refused:?}");
    let state = common::judge_v2_log(&log, b, clients, 5, key, &context);
    for c in 0..clients {
        let expected = &state[&format!("{b}/{}", key(c))];
        for db in &dbs {
            assert_eq!(&to_json(&ok(db.get(key(c).into(), None)).await), expected);
        }
    }
    for db in &dbs {
        db.shutdown();
    }
}

/// One test, the three runs in turn: the proxy's fault switch is global.
#[wasm_bindgen_test]
async fn writers_through_faults_on_s3s_fs_land_exactly_once() {
    writers_through_faults(2, true).await;
    writers_through_faults(4, false).await;
    writers_through_faults(4, true).await;
}
