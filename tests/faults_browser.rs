//! Faults told apart from mistakes, in headless Chromium against the test
//! bed: a flaky network (the test bed resetting a share of the requests)
//! is retried through, not taken for an outage; a bucket whose CORS rule
//! blocks writes, a bucket that does not exist and an endpoint with
//! nothing listening each get their own answer, within a time bound, and
//! leave nothing behind.
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
use js_sys::{Function, Reflect};
use mps3::web::class::MPS3;
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn none() -> Option<JsValue> {
    None
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// The default config's client (protocol "auto": v2 on the test bed).
fn default_client(b: &str) -> MPS3 {
    MPS3::new(db_config(b, json!({"protocol": "auto"}))).unwrap()
}

/// Every status an `onStatus` handler hears.
fn statuses(db: &MPS3) -> (JsValue, Rc<RefCell<Vec<serde_json::Value>>>) {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let f = Closure::<dyn Fn(JsValue)>::new(move |v: JsValue| {
        let error = Reflect::get(&v, &"error".into()).unwrap();
        let mut status = to_json(&v);
        if !error.is_null() {
            assert_mps3_error(&error);
            status["error"] = to_json(&Reflect::get(&error, &"code".into()).unwrap());
        }
        s.borrow_mut().push(status);
    });
    let off = db.on_status(f.into_js_value()).unwrap();
    (off, seen)
}

/// `status.error`'s code (`None`: no problem known).
fn problem(db: &MPS3) -> Option<String> {
    let error = Reflect::get(&db.status(), &"error".into()).unwrap();
    if error.is_null() {
        return None;
    }
    assert_mps3_error(&error);
    Reflect::get(&error, &"code".into()).unwrap().as_string()
}

fn resets(b: &str, rate: f64) -> serde_json::Value {
    json!([{ "action": "reset", "rate": rate, "path_regex": format!("^/{b}") }])
}

/// One request in five reset: eight awaited puts each resolve as
/// committed, the client never calls itself disconnected, and a reader
/// made once the network heals reads the last of them.
#[wasm_bindgen_test]
async fn on_a_network_that_resets_a_fifth_of_the_requests_every_awaited_put_is_committed() {
    let b = bucket("flaky-puts").await;
    let db = default_client(&b);
    let (_off, seen) = statuses(&db);
    ok(db.put("warm".into(), js(json!(0)), none())).await;
    set_faults(27, resets(&b, 0.2)).await;
    for i in 1..=8 {
        let written = ok(db.put("k".into(), js(json!(i)), none())).await;
        assert_eq!(
            to_json(&Reflect::get(&written, &"committed".into()).unwrap()),
            json!(true),
            "put {i}: {}",
            to_json(&written)
        );
    }
    let faults = stats(&b).await["faults"].as_u64().unwrap_or(0);
    clear_faults().await;
    assert!(faults > 0, "the test bed reset some requests");
    let reader = default_client(&b);
    assert_eq!(to_json(&ok(reader.get("k".into(), none())).await), json!(8));
    assert!(
        !seen.borrow().iter().any(|s| s["connected"] == json!(false)),
        "never disconnected: {:?}",
        seen.borrow()
    );
}

/// Four clients each run ten increments with `transaction` while 15 % of
/// the requests are reset: every one commits, and the count is exact.
#[wasm_bindgen_test]
async fn four_clients_transactions_under_resets_count_exactly() {
    const CLIENTS: usize = 4;
    const EACH: usize = 10;
    let b = bucket("flaky-tx").await;
    let clients: Vec<MPS3> = (0..CLIENTS).map(|_| default_client(&b)).collect();
    ok(clients[0].put("warm".into(), js(json!(0)), none())).await;
    set_faults(31, resets(&b, 0.15)).await;
    let all = count_with_transactions(&clients, EACH).await;
    clear_faults().await;
    assert_eq!(all, (1..=CLIENTS * EACH).collect::<Vec<_>>());
    let reader = default_client(&b);
    assert_eq!(
        to_json(&ok(reader.get("likes".into(), none())).await),
        json!(CLIENTS * EACH)
    );
}

/// A `put` not awaited, then a subscription of the same key at once: the
/// subscriber's first call is the pending value, never the older state.
/// Fifty times per protocol, each a new client of one label, as a page
/// loaded again is: its first call is answered from the state stored by
/// the one before, at once (`minimizeListObjectsCalls: false`).
#[wasm_bindgen_test]
async fn a_subscriber_hears_its_own_pending_write_first() {
    for protocol in ["v1", "auto"] {
        own_pending_write_first(protocol).await;
    }
}

async fn own_pending_write_first(protocol: &str) {
    let b = bucket("own-first").await;
    let label = unique_bucket("own-first");
    let config = json!({"protocol": protocol, "minimizeListObjectsCalls": false, "label": label});
    let writer = MPS3::new(db_config(&b, config.clone())).unwrap();
    ok(writer.put("k".into(), js(json!("old")), none())).await;
    for run in 0..50 {
        let db = MPS3::new(db_config(&b, config.clone())).unwrap();
        let value = json!(format!("new {run}"));
        let put = db.put("k".into(), js(value.clone()), none());
        let (handler, heard) = recorder();
        let off: Function = db.subscribe("k".into(), handler.into(), none()).unwrap();
        eventually("the first call", 5_000, || !heard.borrow().is_empty()).await;
        assert_eq!(
            heard.borrow()[0],
            value,
            "{protocol} run {run}: {:?}",
            heard.borrow()
        );
        ok(put).await;
        off.call0(&JsValue::NULL).unwrap();
        db.shutdown();
    }
}

/// A bucket whose CORS rule allows GET but not PUT or DELETE (the test
/// bed refuses their preflights, so the browser never sends them): a put
/// rejects `CorsBlocked` with the rule's fix in its message, within a
/// time bound; the status carries the error while the client stays
/// connected (no flapping); nothing is left in the bucket.
#[wasm_bindgen_test]
async fn a_cors_rule_that_blocks_writes_is_told_and_leaves_nothing() {
    let b = bucket("cors-blocked").await;
    set_faults(
        5,
        json!([{ "action": "block", "methods": ["PUT", "DELETE"], "path_regex": format!("^/{b}") }]),
    )
    .await;
    let db = default_client(&b);
    let (_off, seen) = statuses(&db);
    let (handler, heard) = recorder();
    let _unsubscribe = db.subscribe("k".into(), handler.into(), none()).unwrap();
    let started = now_ms();
    let refused = wasm_bindgen_futures::JsFuture::from(db.put("k".into(), js(json!(1)), none()))
        .await
        .expect_err("refused");
    assert_mps3_error(&refused);
    let code = Reflect::get(&refused, &"code".into()).unwrap().as_string();
    let message = Reflect::get(&refused, &"message".into())
        .unwrap()
        .as_string()
        .unwrap();
    assert_eq!(code.as_deref(), Some("CorsBlocked"), "{message}");
    assert!(message.contains("CORS"), "{message}");
    let took = now_ms() - started;
    assert!(took < 15_000.0, "refused after {took} ms");
    assert_eq!(problem(&db).as_deref(), Some("CorsBlocked"));
    // Three seconds of polls: answered, so connected throughout.
    sleep(3_000).await;
    assert_eq!(to_json(&db.status())["connected"], json!(true));
    assert!(
        !seen.borrow().iter().any(|s| s["connected"] == json!(false)),
        "no flapping: {:?}",
        seen.borrow()
    );
    assert_eq!(db.pending_writes(), 0);
    // Its own pending write first, then, the write refused, the bucket's
    // state again (read through the blocked writes all along).
    assert_eq!(
        heard.borrow().last(),
        Some(&json!("<undefined>")),
        "the refused write withdrawn: {:?}",
        heard.borrow()
    );
    clear_faults().await;
    let left = objects(&b, "").await;
    assert!(left.is_empty(), "nothing left in the bucket: {left:?}");
}

/// A bucket that does not exist (a typo): reads, listings and writes
/// reject `NoSuchBucket` naming the fix, a subscriber's first call is
/// that error (not an absent value), and the status says so while the
/// client stays connected.
#[wasm_bindgen_test]
async fn a_bucket_that_does_not_exist_is_an_error_not_an_empty_database() {
    let b = unique_bucket("no-such-bucket");
    let db = default_client(&b);
    let (handler, heard) = recorder();
    let _unsubscribe = db.subscribe("k".into(), handler.into(), none()).unwrap();
    let started = now_ms();
    let e = wasm_bindgen_futures::JsFuture::from(db.get("k".into(), none()))
        .await
        .expect_err("rejected");
    assert_mps3_error(&e);
    assert_eq!(
        Reflect::get(&e, &"code".into())
            .unwrap()
            .as_string()
            .as_deref(),
        Some("NoSuchBucket")
    );
    let message = Reflect::get(&e, &"message".into())
        .unwrap()
        .as_string()
        .unwrap();
    assert!(message.contains("defaultBucket"), "{message}");
    assert_eq!(
        err_code(db.list(JsValue::UNDEFINED, none())).await,
        "NoSuchBucket"
    );
    assert_eq!(
        err_code(db.put("k".into(), js(json!(1)), none())).await,
        "NoSuchBucket"
    );
    assert!(now_ms() - started < 10_000.0);
    eventually("the subscriber's first call", 5_000, || {
        !heard.borrow().is_empty()
    })
    .await;
    assert_eq!(heard.borrow()[0], json!({"error": "NoSuchBucket"}));
    assert_eq!(problem(&db).as_deref(), Some("NoSuchBucket"));
    assert_eq!(to_json(&db.status())["connected"], json!(true));
    assert_eq!(db.pending_writes(), 0);
}

/// An endpoint with nothing listening: the client is disconnected within
/// the rule's time; a first-time range subscriber hears `Offline` (not
/// nothing); `atomic().commit()` and `transaction` both reject `Offline`
/// within a time bound; a put resolves once queued, `committed: false`.
#[wasm_bindgen_test]
async fn an_endpoint_with_nothing_listening_is_offline_and_nothing_hangs() {
    let b = unique_bucket("down");
    let mut cfg = to_json(&db_config(&b, json!({"protocol": "auto"})));
    // A port of this machine nobody listens on (the discard port).
    cfg["s3Config"]["endpoint"] = json!("http://127.0.0.1:9");
    let db = MPS3::new(js(cfg)).unwrap();
    let started = now_ms();
    let (handler, heard) = recorder();
    let _unsubscribe = db
        .subscribe(js(json!({"prefix": "note/"})), handler.into(), none())
        .unwrap();
    eventually("the range subscriber's first call", 10_000, || {
        !heard.borrow().is_empty()
    })
    .await;
    assert_eq!(heard.borrow()[0], json!({"error": "Offline"}));
    assert_eq!(to_json(&db.status())["connected"], json!(false));
    let op = db.atomic();
    op.set("k".into(), js(json!(1))).unwrap();
    assert_eq!(err_code(op.commit(none())).await, "Offline");
    let increment = Function::new_with_args("tx", "return tx.get('n').then((n) => tx.set('n', 1))");
    assert_eq!(
        err_code(db.transaction(increment.into(), none())).await,
        "Offline"
    );
    let written = ok(db.put("k".into(), js(json!(1)), none())).await;
    assert_eq!(to_json(&written), json!({"committed": false}));
    let took = now_ms() - started;
    assert!(took < 15_000.0, "{took} ms");
    db.shutdown();
    let status = to_json(&db.status());
    assert_eq!(
        (&status["shutdown"], &status["online"]),
        (&json!(true), &json!(false))
    );
}

/// Credentials the bucket refuses (a wrong secret): a read rejects
/// `AccessDenied`, and the status carries it while the client stays
/// connected; a client with the right keys clears nothing of its own.
#[wasm_bindgen_test]
async fn refused_credentials_are_a_problem_in_the_status_not_an_outage() {
    let b = bucket("wrong-keys").await;
    let mut cfg = to_json(&db_config(&b, json!({"protocol": "auto"})));
    cfg["s3Config"]["credentials"]["secretAccessKey"] = json!("not-the-secret");
    let db = MPS3::new(js(cfg)).unwrap();
    assert_eq!(err_code(db.get("k".into(), none())).await, "AccessDenied");
    assert_eq!(problem(&db).as_deref(), Some("AccessDenied"));
    assert_eq!(to_json(&db.status())["connected"], json!(true));
    let good = default_client(&b);
    ok(good.put("k".into(), js(json!(1)), none())).await;
    assert_eq!(problem(&good), None);
}
