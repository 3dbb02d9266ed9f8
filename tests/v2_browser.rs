//! Protocol v2 through the JavaScript class, in headless Chromium against
//! the test bed (moto, which enforces `If-None-Match: *`): what a new
//! manifest becomes, its objects, and many clients writing through
//! injected faults, each write landing exactly once.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_macros,
    reason = "the size rules are for the shipped .wasm"
)]
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use js_sys::Promise;
use mps3::engine::protocol::v2::format::Entry;
use mps3::engine::s3::{GetOptions, GetResult};
use mps3::web::class::MPS3;
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const MANIFEST: &str = "manifest.json";

fn none() -> Option<JsValue> {
    None
}

/// A client with the default protocol ("auto"), unless `extra` says.
fn v2_client(b: &str, extra: serde_json::Value) -> MPS3 {
    let mut cfg = json!({"protocol": "auto"});
    if let (Some(base), Some(more)) = (cfg.as_object_mut(), extra.as_object()) {
        for (k, v) in more {
            base.insert(k.clone(), v.clone());
        }
    }
    MPS3::new(db_config(b, cfg)).unwrap()
}

async fn slots(b: &str) -> Vec<(u64, Entry)> {
    v2_slots(&client(), b, MANIFEST).await
}

async fn body_of(b: &str, key: &str) -> Option<Vec<u8>> {
    match client().get_object(b, key, &GetOptions::default()).await {
        Ok(GetResult::Found(o)) => Some(o.body),
        _ => None,
    }
}

#[wasm_bindgen_test]
async fn a_new_manifest_is_v2_and_a_small_put_is_one_entry_with_its_value() {
    let b = bucket("v2-new").await;
    let db = v2_client(&b, json!({}));
    ok(db.put("a".into(), js(json!({"n": 1})), none())).await;
    ok(db.put("b".into(), 2.into(), none())).await;
    ok(db.delete("a".into(), none())).await;
    assert_eq!(
        body_of(&b, MANIFEST).await.as_deref(),
        Some(&b"\"v2\""[..]),
        "the guard"
    );
    let log = slots(&b).await;
    assert_eq!(
        log.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        vec![1, 2, 3],
        "contiguous slots from 1"
    );
    assert_eq!(log[0].1.set[0].0, format!("{b}/a"));
    assert!(log[0].1.set[0].1.inline.is_some(), "a small value inline");
    assert_eq!(log[2].1.delete, vec![format!("{b}/a")]);
    // No content object: the values travelled in the entries.
    let all = objects(&b, "").await;
    assert!(
        all.iter()
            .all(|o| !o["key"].as_str().unwrap().contains('@')),
        "{all:?}"
    );
    let reader = v2_client(&b, json!({}));
    assert!(ok(reader.get("a".into(), none())).await.is_undefined());
    assert_eq!(to_json(&ok(reader.get("b".into(), none())).await), json!(2));
    // A large value is a content object, as in v1.
    let big = "x".repeat(4000);
    ok(db.put("big".into(), js(json!(big)), none())).await;
    assert_eq!(
        to_json(&ok(reader.get("big".into(), none())).await),
        json!(big)
    );
    assert!(objects(&b, "big@").await.len() == 1);
}

#[wasm_bindgen_test]
async fn a_v1_manifest_stays_v1_and_a_v1_client_is_refused_by_a_v2_one() {
    let b = bucket("v2-choice").await;
    let old = MPS3::new(db_config(&b, json!({"protocol": "v1"}))).unwrap();
    ok(old.put("k".into(), 1.into(), none())).await;
    let auto = v2_client(&b, json!({}));
    assert_eq!(to_json(&ok(auto.get("k".into(), none())).await), json!(1));
    ok(auto.put("k".into(), 2.into(), none())).await;
    assert_eq!(to_json(&ok(old.get("k".into(), none())).await), json!(2));
    assert!(
        objects(&b, &format!("{MANIFEST}.v2/")).await.is_empty(),
        "nothing of v2 in a v1 manifest"
    );
    let v2_only = v2_client(&b, json!({"protocol": "v2"}));
    assert_eq!(
        err_code(v2_only.put("k".into(), 3.into(), none())).await,
        "Unsupported"
    );
    // A v2 manifest refuses a client set to v1, rather than splitting.
    let other = v2_client(&b, json!({"defaultManifest": "other.json"}));
    ok(other.put("k".into(), 1.into(), none())).await;
    let forced = MPS3::new(db_config(
        &b,
        json!({"protocol": "v1", "defaultManifest": "other.json"}),
    ))
    .unwrap();
    assert_eq!(
        err_code(forced.get("k".into(), none())).await,
        "Unsupported"
    );
}

/// `clients` clients write 5 values each, to one key or each to its own,
/// through a fifth of requests failing (503s, resets, answers lost after
/// moto applied the request); then every write is in exactly one slot and
/// every client reads the state at the last slot.
async fn writers_through_faults(clients: usize, one_key: bool) {
    let b = bucket(&format!("v2-faults-{clients}")).await;
    let dbs: Vec<MPS3> = (0..clients)
        .map(|c| v2_client(&b, json!({"label": format!("w{c}")})))
        .collect();
    // The manifest exists before the faults, so that each client's first
    // write does not race the guard's creation under them.
    ok(dbs[0].put("init".into(), 0.into(), none())).await;
    set_faults(
        clients as u64,
        json!([
            { "action": "503", "rate": 0.1, "path_regex": format!("^/{b}") },
            { "action": "reset", "rate": 0.05, "path_regex": format!("^/{b}") },
            { "action": "drop", "rate": 0.05, "path_regex": format!("^/{b}") },
        ]),
    )
    .await;
    let key = |c: usize| {
        if one_key {
            "k".to_string()
        } else {
            format!("k{c}")
        }
    };
    let mut writes: Vec<Promise> = Vec::new();
    for i in 0..5 {
        for (c, db) in dbs.iter().enumerate() {
            let value = json!(format!("c{c}-{i}"));
            writes.push(db.put(
                key(c).into(),
                js(value),
                Some(js(json!({"await": "remote"}))),
            ));
        }
    }
    for w in writes {
        // A write may be refused only as offline (its queue commits it).
        if let Err(e) = wasm_bindgen_futures::JsFuture::from(w).await {
            let code = js_sys::Reflect::get(&e, &"code".into()).unwrap();
            assert_eq!(code.as_string().as_deref(), Some("Offline"), "{e:?}");
        }
    }
    let faults = stats(&b).await["faults"].as_u64().unwrap();
    clear_faults().await;
    assert!(faults > 0, "no fault was injected");
    for db in &dbs {
        eventually("every write committed", 30_000, || db.pending_writes() == 0).await;
    }
    let log = slots(&b).await;
    let state = judge_v2_log(&log, &b, clients, 5, key, &format!("{faults} faults"));
    for c in 0..clients {
        let expected = &state[&format!("{b}/{}", key(c))];
        for db in &dbs {
            assert_eq!(&to_json(&ok(db.get(key(c).into(), none())).await), expected);
        }
    }
}

#[wasm_bindgen_test]
async fn two_writers_on_one_key_through_faults_land_exactly_once() {
    writers_through_faults(2, true).await;
}

#[wasm_bindgen_test]
async fn four_writers_on_one_key_through_faults_land_exactly_once() {
    writers_through_faults(4, true).await;
}

#[wasm_bindgen_test]
async fn four_writers_on_their_own_keys_through_faults_land_exactly_once() {
    writers_through_faults(4, false).await;
}

#[wasm_bindgen_test]
async fn a_subscriber_hears_another_clients_writes_and_deletes() {
    let b = bucket("v2-sub").await;
    let w = v2_client(&b, json!({}));
    let r = v2_client(&b, json!({}));
    ok(w.put("k".into(), 1.into(), none())).await;
    let (handler, seen) = recorder();
    let _off = r.subscribe("k".into(), handler.into(), none()).unwrap();
    eventually("the first value", 5_000, || !seen.borrow().is_empty()).await;
    ok(w.put("k".into(), 2.into(), none())).await;
    ok(w.delete("k".into(), none())).await;
    ok(w.put("k".into(), 3.into(), none())).await;
    eventually("the last value", 5_000, || {
        seen.borrow().last() == Some(&json!(3))
    })
    .await;
    assert_eq!(seen.borrow()[0], json!(1));
}

#[wasm_bindgen_test]
async fn an_upgraded_v1_manifest_reads_the_same_and_takes_v2_writes() {
    let b = bucket("v2-upgrade").await;
    let old = MPS3::new(db_config(&b, json!({"protocol": "v1"}))).unwrap();
    ok(old.put("small".into(), 1.into(), none())).await;
    ok(old.put("big".into(), js(json!("y".repeat(3000))), none())).await;
    ok(old.put("gone".into(), 2.into(), none())).await;
    ok(old.delete("gone".into(), none())).await;
    let db = v2_client(&b, json!({}));
    ok(db.upgrade(None)).await;
    assert_eq!(
        body_of(&b, MANIFEST).await.as_deref(),
        Some(&b"\"v2\""[..]),
        "the guard replaced the marker"
    );
    assert_eq!(objects(&b, &format!("{MANIFEST}.v2/cp/")).await.len(), 1);
    // Upgrading again changes nothing.
    ok(db.upgrade(None)).await;
    let fresh = v2_client(&b, json!({"protocol": "v2"}));
    assert_eq!(
        to_json(&ok(fresh.get("small".into(), none())).await),
        json!(1)
    );
    assert_eq!(
        to_json(&ok(fresh.get("big".into(), none())).await),
        json!("y".repeat(3000))
    );
    assert!(ok(fresh.get("gone".into(), none())).await.is_undefined());
    ok(fresh.put("small".into(), 3.into(), none())).await;
    assert_eq!(to_json(&ok(db.get("small".into(), none())).await), json!(3));
    assert_eq!(slots(&b).await.len(), 1, "one v2 entry");
    // The v1 client is now refused, not split off.
    assert_eq!(
        err_code(old.get("small".into(), none())).await,
        "Unsupported"
    );
}
