//! Benchmark (run by scripts/bench.sh, not by the test command): requests
//! per operation, counted per bucket by the test bed, and the latency from
//! one client's put to another client's subscriber, in headless Chromium.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_macros,
    reason = "the size rules are for the shipped .wasm"
)]
#![cfg(target_arch = "wasm32")]

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::*;
use js_sys::Function;
use mps3::web::class::MPS3;
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const KINDS: [&str; 7] = ["GET", "304", "PUT", "LIST", "DELETE", "HEAD", "OPTIONS"];

async fn ok(p: js_sys::Promise) -> JsValue {
    JsFuture::from(p).await.expect("operation failed")
}

/// Requests (by kind) and bytes that `op` caused in bucket `b`.
async fn counted<F: std::future::Future<Output = ()>>(b: &str, op: F) -> Value {
    let before = stats(b).await;
    op.await;
    let after = stats(b).await;
    let mut out = serde_json::Map::new();
    for k in KINDS.iter().copied().chain(["bytes_in", "bytes_out"]) {
        let d = after[k].as_u64().unwrap_or(0) - before[k].as_u64().unwrap_or(0);
        if d > 0 {
            out.insert(k.to_string(), d.into());
        }
    }
    Value::Object(out)
}

/// Ten puts by `writer` of one key `listener` subscribes to: each put's
/// milliseconds, and each until `listener`'s handler heard it. Shuts the
/// listener down.
async fn put_to_notify(writer: &MPS3, listener: &MPS3) -> (Vec<f64>, Vec<f64>) {
    let seen: Rc<RefCell<Vec<(f64, String)>>> = Rc::default();
    let s = seen.clone();
    let handler: Function =
        Closure::<dyn Fn(JsValue, JsValue)>::new(move |v: JsValue, _e: JsValue| {
            if let Some(text) = v.as_string() {
                s.borrow_mut().push((now(), text));
            }
        })
        .into_js_value()
        .unchecked_into();
    let _off = listener
        .subscribe("latency".into(), handler.into(), None)
        .unwrap();
    sleep(500).await;
    let mut latencies = Vec::new();
    let mut put_ms = Vec::new();
    for i in 0..10 {
        let tag = format!("v{i}");
        let start = now();
        ok(writer.put("latency".into(), JsValue::from(tag.as_str()), None)).await;
        put_ms.push(now() - start);
        let seen2 = seen.clone();
        let t2 = tag.clone();
        eventually("the notification", 10_000, move || {
            seen2.borrow().iter().any(|(_, v)| *v == t2)
        })
        .await;
        let at = seen.borrow().iter().find(|(_, v)| *v == tag).unwrap().0;
        latencies.push(at - start);
    }
    listener.shutdown();
    (put_ms, latencies)
}

/// A claim settles 8 s after it was written (docs/protocol.md, "Claims").
const SETTLE_MS: u32 = 9_000;

/// How long idle polls are counted.
const IDLE_WINDOW_MS: u32 = 5_000;

/// The requests of `idle`'s polls of key `k` over `IDLE_WINDOW_MS`, once
/// its subscriber has its first value and `settle_ms` more have passed.
async fn idle_polls(b: &str, idle: MPS3, settle_ms: u32) -> Value {
    let calls = Rc::new(RefCell::new(0));
    let c = calls.clone();
    let handler: Function =
        Closure::<dyn Fn(JsValue, JsValue)>::new(move |_v: JsValue, _e: JsValue| {
            *c.borrow_mut() += 1;
        })
        .into_js_value()
        .unchecked_into();
    let _off = idle.subscribe("k".into(), handler.into(), None).unwrap();
    eventually("the first value", 5_000, || *calls.borrow() > 0).await;
    sleep(settle_ms).await;
    let polls = counted(b, sleep(IDLE_WINDOW_MS)).await;
    idle.shutdown();
    polls
}

fn now() -> f64 {
    js_sys::Date::now()
}

#[wasm_bindgen_test]
async fn requests_per_operation_and_notify_latency() {
    let b = unique_bucket("bench");
    client().create_bucket(&b).await.unwrap();
    let cfg = |extra: Value| db_config(&b, extra);
    let none = || None;
    let seed = MPS3::new(cfg(json!({}))).unwrap();
    ok(seed.put("k".into(), 1.into(), none())).await;
    // Past the settling of the seed's claim (8 s): nobody else writes
    // meanwhile, as in the target "no other client wrote meanwhile".
    sleep(SETTLE_MS).await;

    // Cold: a new client's first put (it also probes `If-Match`).
    let cold = MPS3::new(cfg(json!({}))).unwrap();
    let put_cold = counted(&b, async {
        ok(cold.put("k".into(), 2.into(), none())).await;
    })
    .await;
    // Warm: its next put, the log settled at its own claim.
    let put_warm = counted(&b, async {
        ok(cold.put("k".into(), 3.into(), none())).await;
    })
    .await;
    // Right after another client wrote: the log is not settled yet.
    ok(seed.put("k".into(), 4.into(), none())).await;
    let put_after_other = counted(&b, async {
        ok(cold.put("k".into(), 5.into(), none())).await;
    })
    .await;
    let reader = MPS3::new(cfg(json!({}))).unwrap();
    let get_cold = counted(&b, async {
        ok(reader.get("k".into(), none())).await;
    })
    .await;
    let get_warm = counted(&b, async {
        ok(reader.get("k".into(), none())).await;
    })
    .await;

    // A large value (a board of 400 notes): bytes sent gzipped (the
    // default) and as it is (`gzip: false`), each by a warm client.
    let notes: Vec<Value> = (0..400)
        .map(|i| json!({"id": i, "text": format!("note {i} on the board"), "done": i % 3 == 0}))
        .collect();
    let large = js(json!({ "notes": notes }));
    let large_bytes =
        js_sys::JSON::stringify_with_replacer_and_space(&large, &JsValue::NULL, &2.into())
            .unwrap()
            .length();
    let put_large = counted(&b, async {
        ok(cold.put("large".into(), large.clone(), none())).await;
    })
    .await;
    let plain = MPS3::new(cfg(json!({"gzip": false}))).unwrap();
    ok(plain.put("k".into(), 6.into(), none())).await;
    let put_large_plain = counted(&b, async {
        ok(plain.put("large-plain".into(), large.clone(), none())).await;
    })
    .await;

    // A put of one key in a manifest of 500: its entry carries all of them
    // (gzipped by default), by warm clients.
    let many = |extra: Value| {
        let mut c = json!({"defaultManifest": "many.json"});
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        MPS3::new(cfg(c)).unwrap()
    };
    let batch = js_sys::Map::new();
    for i in 0..500 {
        batch.set(&format!("many/{i}").into(), &i.into());
    }
    let zipped = many(json!({}));
    ok(zipped.put_all(batch.into(), none())).await;
    let unzipped = many(json!({"gzip": false}));
    ok(unzipped.put("many/1".into(), (-1).into(), none())).await;
    let put_many_keys = counted(&b, async {
        ok(zipped.put("many/2".into(), (-2).into(), none())).await;
    })
    .await;
    let put_many_keys_plain = counted(&b, async {
        ok(unzipped.put("many/3".into(), (-3).into(), none())).await;
    })
    .await;

    // Idle polls: subscribe, let the log settle (a listing 8 s after the
    // last claim), then count five seconds of polls at 100 ms.
    let idle_window_ms = IDLE_WINDOW_MS;
    let idle = MPS3::new(cfg(json!({"pollFrequency": 100}))).unwrap();
    let polls = idle_polls(&b, idle, SETTLE_MS).await;
    let poll_count = polls["304"].as_u64().unwrap_or(0) + polls["GET"].as_u64().unwrap_or(0);

    // Put → another client's subscriber, pollFrequency 100 ms.
    let listener = MPS3::new(cfg(json!({"pollFrequency": 100}))).unwrap();
    let writer = MPS3::new(cfg(json!({}))).unwrap();
    let (mut put_ms, mut latencies) = put_to_notify(&writer, &listener).await;
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let figures = json!({
        "put_cold": put_cold,
        "put_warm": put_warm,
        "put_after_other": put_after_other,
        "get_cold": get_cold,
        "get_warm": get_warm,
        "put_large": put_large,
        "put_large_plain": put_large_plain,
        "large_value_bytes": large_bytes,
        "put_many_keys": put_many_keys,
        "put_many_keys_plain": put_many_keys_plain,
        "many_keys": 500,
        "idle_polls": { "window_ms": idle_window_ms, "polls": poll_count, "requests": polls },
        "put_ms_median": median(&mut put_ms),
        "notify_ms_median": median(&mut latencies),
        "notify_ms_all": latencies,
        "poll_frequency_ms": 100,
    });
    // The figures are measurements, but nonsense must not be reported.
    assert!(poll_count >= 20, "polls counted: {figures}");
    assert!(put_warm["PUT"].as_u64() >= Some(3), "{figures}");
    assert!(put_after_other["PUT"].as_u64() >= Some(3), "{figures}");
    assert!(
        put_large_plain["bytes_in"].as_u64() > Some(large_bytes as u64)
            && put_large["bytes_in"].as_u64() < Some(large_bytes as u64 / 4),
        "gzip: {figures}"
    );
    assert!(
        put_many_keys["bytes_in"].as_u64().unwrap() * 2
            < put_many_keys_plain["bytes_in"].as_u64().unwrap(),
        "gzipped entries: {figures}"
    );
    let mut figures = figures;
    figures["v2"] = v2_figures().await;
    figures["api"] = api_figures().await;
    figures["flaky"] = flaky_figures().await;
    figures["encryption"] = encryption_figures().await;
    report(&figures).await;
}

/// Median and 90th percentile of `ms`.
fn median_p90(mut ms: Vec<f64>) -> Value {
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    json!({"median": at(0.5), "p90": at(0.9)})
}

/// Puts on a network that resets one request in five (the test bed's
/// reset fault, seeded alike for both): 30 awaited puts of one key with
/// the default rule, and with the rule this client had before (one
/// failure disconnects: `disconnectAfterFailures: 1`, `disconnectAfterMs:
/// 0`). Each put's milliseconds (median, p90), requests per put, and how
/// many were answered `committed: true`.
async fn flaky_figures() -> Value {
    const PUTS: usize = 30;
    let mut out = json!({});
    for (name, retry) in [
        (
            "one_failure_disconnects",
            json!({"disconnectAfterFailures": 1, "disconnectAfterMs": 0}),
        ),
        ("default_rule", json!({})),
    ] {
        let b = unique_bucket("bench-flaky");
        client().create_bucket(&b).await.unwrap();
        let db = MPS3::new(db_config(&b, json!({"protocol": "v2", "retry": retry}))).unwrap();
        ok(db.put("k".into(), 0.into(), None)).await;
        set_faults(
            20,
            json!([{ "action": "reset", "rate": 0.2, "path_regex": format!("^/{b}") }]),
        )
        .await;
        let mut ms = Vec::new();
        let mut committed = 0;
        let requests = counted(&b, async {
            for i in 1..=PUTS {
                let start = now();
                let w = ok(db.put("k".into(), (i as u32).into(), None)).await;
                ms.push(now() - start);
                let c = js_sys::Reflect::get(&w, &"committed".into()).unwrap();
                committed += usize::from(c.as_bool() == Some(true));
            }
        })
        .await;
        clear_faults().await;
        // The queued ones, committed in the background, before the next.
        eventually("the queue flushed", 60_000, || db.pending_writes() == 0).await;
        db.shutdown();
        let sent: u64 = ["GET", "PUT", "LIST", "HEAD", "DELETE"]
            .iter()
            .map(|k| requests[*k].as_u64().unwrap_or(0))
            .sum();
        out[name] = json!({
            "puts": PUTS,
            "ms": median_p90(ms),
            "requests_per_put": sent as f64 / PUTS as f64,
            "committed": committed,
        });
    }
    out
}

/// The callback of a transaction that adds one to `likes`.
fn increment() -> Function {
    Function::new_with_args(
        "tx",
        "return tx.get('likes').then((n) => { tx.set('likes', (n ?? 0) + 1); })",
    )
}

/// Transactions (an increment of one key) alone and with 4 clients
/// contending, and `list` of 10,000 keys, on v2 against the test bed.
async fn api_figures() -> Value {
    let b = unique_bucket("bench-api");
    client().create_bucket(&b).await.unwrap();
    let cfg = |label: String| {
        db_config(
            &b,
            json!({"protocol": "v2", "label": label, "pollFrequency": 1000}),
        )
    };
    let db = MPS3::new(cfg("api-0".into())).unwrap();
    ok(db.put("likes".into(), 0.into(), None)).await;
    ok(db.transaction(increment().into(), None)).await;
    // Uncontended: requests and milliseconds of each of 20.
    let mut ms = Vec::new();
    let mut requests = Vec::new();
    for _ in 0..20 {
        let start = now();
        let c = counted(&b, async {
            ok(db.transaction(increment().into(), None)).await;
        })
        .await;
        ms.push(now() - start);
        requests.push(c);
    }
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let alone = json!({
        "ms_median": ms[ms.len() / 2],
        "requests_first": requests[0],
        "requests_last": requests[requests.len() - 1],
    });
    // Contended: 4 clients, 25 increments each, at once.
    let clients: Vec<Rc<MPS3>> = (0..4)
        .map(|c| Rc::new(MPS3::new(cfg(format!("api-c{c}"))).unwrap()))
        .collect();
    let before = stats(&b).await;
    let start = now();
    let runs: Vec<js_sys::Promise> = clients
        .iter()
        .map(|db| {
            let db = db.clone();
            wasm_bindgen_futures::future_to_promise(async move {
                for _ in 0..25 {
                    JsFuture::from(db.transaction(increment().into(), None)).await?;
                }
                Ok(JsValue::UNDEFINED)
            })
        })
        .collect();
    for r in runs {
        JsFuture::from(r).await.expect("contended transactions");
    }
    let elapsed = now() - start;
    let after = stats(&b).await;
    let delta = |k: &str| after[k].as_u64().unwrap_or(0) - before[k].as_u64().unwrap_or(0);
    let total = ok(db.get("likes".into(), None)).await.as_f64().unwrap();
    assert_eq!(total, 121.0, "no increment lost");
    let contended = json!({
        "clients": 4,
        "transactions": 100,
        "ms": elapsed,
        "ms_per_transaction": elapsed / 100.0,
        "puts_per_transaction": delta("PUT") as f64 / 100.0,
        "gets_per_transaction": delta("GET") as f64 / 100.0,
    });
    // list of 10,000 keys: written in ten entries of 1,000.
    let keys = 10_000;
    for batch in 0..10 {
        let entries = js_sys::Object::new();
        for i in 0..1000 {
            let k = format!("note/{:05}", batch * 1000 + i);
            js_sys::Reflect::set(&entries, &k.into(), &JsValue::from(i)).unwrap();
        }
        ok(db.put_all(entries.into(), None)).await;
    }
    let range = || js(json!({"prefix": "note/"}));
    let reader = MPS3::new(cfg("api-reader".into())).unwrap();
    let start = now();
    let cold = ok(reader.list(range(), None)).await;
    let cold_ms = now() - start;
    assert_eq!(js_sys::Array::from(&cold).length(), keys);
    let start = now();
    let warm = ok(reader.list(range(), None)).await;
    let warm_ms = now() - start;
    assert_eq!(js_sys::Array::from(&warm).length(), keys);
    json!({
        "transaction_alone": alone,
        "transaction_contended": contended,
        "list": { "keys": keys, "cold_ms": cold_ms, "warm_ms": warm_ms },
    })
}

/// Protocol v2 (what a new manifest gets on a bucket that enforces
/// `If-None-Match: *`), measured as v1 is above: a warm put, a cold and a
/// warm get, idle polls, put → another client's notification at 100 ms;
/// and contention: 5 clients writing one key 200 times each.
async fn v2_figures() -> Value {
    let b = unique_bucket("bench-v2");
    client().create_bucket(&b).await.unwrap();
    let cfg = |extra: Value| {
        let mut c = json!({"protocol": "v2"});
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        db_config(&b, c)
    };
    let none = || None;
    let w = MPS3::new(cfg(json!({}))).unwrap();
    let put_cold = counted(&b, async {
        ok(w.put("k".into(), 1.into(), none())).await;
    })
    .await;
    let put_warm = counted(&b, async {
        ok(w.put("k".into(), 2.into(), none())).await;
    })
    .await;
    let reader = MPS3::new(cfg(json!({}))).unwrap();
    let get_cold = counted(&b, async {
        ok(reader.get("k".into(), none())).await;
    })
    .await;
    let get_warm = counted(&b, async {
        ok(reader.get("k".into(), none())).await;
    })
    .await;

    let idle_window_ms = IDLE_WINDOW_MS;
    let idle = MPS3::new(cfg(json!({"pollFrequency": 100}))).unwrap();
    let polls = idle_polls(&b, idle, 500).await;

    let listener = MPS3::new(cfg(json!({"pollFrequency": 100}))).unwrap();
    let (mut put_ms, mut latencies) = put_to_notify(&w, &listener).await;
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };

    // Contention: 5 clients, 200 writes each to one key, at once.
    let hot = unique_bucket("bench-v2-hot");
    client().create_bucket(&hot).await.unwrap();
    let hot_cfg = |label: String| {
        db_config(
            &hot,
            json!({"protocol": "v2", "label": label, "pollFrequency": 1000}),
        )
    };
    let first = MPS3::new(hot_cfg("hot-0".into())).unwrap();
    ok(first.put("hot".into(), 0.into(), none())).await;
    let writers: Vec<Rc<MPS3>> = (0..5)
        .map(|c| Rc::new(MPS3::new(hot_cfg(format!("hot-w{c}"))).unwrap()))
        .collect();
    let per_client = 200;
    let before = stats(&hot).await;
    let start = now();
    let runs: Vec<js_sys::Promise> = writers
        .iter()
        .enumerate()
        .map(|(c, db)| {
            let db = db.clone();
            wasm_bindgen_futures::future_to_promise(async move {
                for i in 0..per_client {
                    JsFuture::from(db.put("hot".into(), JsValue::from(c * 1000 + i), None)).await?;
                }
                Ok(JsValue::UNDEFINED)
            })
        })
        .collect();
    for r in runs {
        JsFuture::from(r).await.expect("contended writes");
    }
    let elapsed = now() - start;
    let after = stats(&hot).await;
    let writes = (5 * per_client) as f64;
    let puts = (after["PUT"].as_u64().unwrap_or(0) - before["PUT"].as_u64().unwrap_or(0)) as f64;
    let checkpoints = objects(&hot, "manifest.json.v2/cp/").await.len() as f64;
    json!({
        "put_cold": put_cold,
        "put_warm": put_warm,
        "get_cold": get_cold,
        "get_warm": get_warm,
        "idle_polls": { "window_ms": idle_window_ms, "requests": polls },
        "put_ms_median": median(&mut put_ms),
        "notify_ms_median": median(&mut latencies),
        "notify_ms_all": latencies,
        "contention": {
            "clients": 5,
            "writes": writes,
            "ms": elapsed,
            "writes_per_second": writes / (elapsed / 1000.0),
            // Creates beyond one per write (412s and 409s), less the
            // checkpoints and their hints.
            "retries_per_write": (puts - writes - 2.0 * checkpoints).max(0.0) / writes,
            "put_requests": puts,
            "checkpoints": checkpoints,
        },
    })
}

/// Put and get with and without encryption (protocol v2, a passphrase),
/// side by side on one test bed: the first put (for an encrypted manifest
/// it makes the key ring, stretching the passphrase with PBKDF2), then 20
/// puts of a small value and 5 of an 8 KB one (milliseconds, median and
/// p90; bytes sent per put), a new client's first get (which stretches
/// the passphrase again) and its warm gets.
async fn encryption_figures() -> Value {
    let mut out = serde_json::Map::new();
    for (name, encryption) in [
        ("plain", Value::Null),
        ("encrypted", json!({"passphrase": "a bench passphrase"})),
    ] {
        let b = unique_bucket("bench-enc");
        client().create_bucket(&b).await.unwrap();
        let mut extra = json!({"protocol": "auto"});
        if !encryption.is_null() {
            extra["encryption"] = encryption;
        }
        let w = MPS3::new(db_config(&b, extra.clone())).unwrap();
        let none = || None;
        let t = now();
        ok(w.put("first".into(), 0.into(), none())).await;
        let first_put_ms = now() - t;
        let small = json!({"text": "x".repeat(100), "at": 1_700_000_000_000u64});
        let large = json!("y".repeat(8192));
        let (small_ms, small_bytes) = timed_puts(&b, &w, "s", 20, &small).await;
        let (large_ms, large_bytes) = timed_puts(&b, &w, "l", 5, &large).await;
        let r = MPS3::new(db_config(&b, extra)).unwrap();
        let t = now();
        let got = ok(r.get("s0".into(), none())).await;
        let first_get_ms = now() - t;
        assert_eq!(to_json(&got), small, "{name}: read back");
        let mut get_ms = Vec::new();
        for i in 0..20 {
            let t = now();
            ok(r.get(format!("s{i}").into(), none())).await;
            get_ms.push(now() - t);
        }
        out.insert(
            name.into(),
            json!({
                "first_put_ms": first_put_ms,
                "put_small_ms": median_p90(small_ms),
                "put_small_bytes": small_bytes,
                "put_large_ms": median_p90(large_ms),
                "put_large_bytes": large_bytes,
                "first_get_ms": first_get_ms,
                "get_ms": median_p90(get_ms),
            }),
        );
    }
    Value::Object(out)
}

/// `n` puts of `value` by `w` under keys `<prefix><i>`: each one's
/// milliseconds, and the bytes sent to the bucket per put.
async fn timed_puts(b: &str, w: &MPS3, prefix: &str, n: u64, value: &Value) -> (Vec<f64>, u64) {
    let (mut ms, mut bytes) = (Vec::new(), 0);
    for i in 0..n {
        let t = now();
        let c = counted(b, async {
            ok(w.put(format!("{prefix}{i}").into(), js(value.clone()), None)).await;
        })
        .await;
        ms.push(now() - t);
        bytes += c["bytes_in"].as_u64().unwrap_or(0);
    }
    (ms, bytes / n)
}
