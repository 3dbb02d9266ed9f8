//! Versions, conditional writes and transactions through the JavaScript
//! classes, in headless Chromium against the test bed (moto, which
//! enforces `If-None-Match: *`): `getEntry` on both protocols, `atomic`
//! holding and failing its checks, refused on v1, a conditional write
//! made offline refused at once, and four clients counting with
//! `transaction` without losing a click.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_macros,
    reason = "the size rules are for the shipped .wasm"
)]
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use js_sys::{Function, Reflect};
use mps3::web::class::MPS3;
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const MANIFEST: &str = "manifest.json";

fn none() -> Option<JsValue> {
    None
}

fn v2_client(b: &str) -> MPS3 {
    MPS3::new(db_config(b, json!({"protocol": "v2"}))).unwrap()
}

fn field(o: &JsValue, name: &str) -> JsValue {
    Reflect::get(o, &name.into()).unwrap()
}

/// `getEntry`: (value as JSON, version).
async fn entry(db: &MPS3, key: &str) -> (serde_json::Value, Option<String>) {
    let e = ok(db.get_entry(key.into(), none())).await;
    assert_eq!(field(&e, "key").as_string().as_deref(), Some(key));
    let version = field(&e, "version");
    assert!(version.is_null() || version.is_string(), "{version:?}");
    (to_json(&field(&e, "value")), version.as_string())
}

fn check(key: &str, version: &Option<String>) -> JsValue {
    js(json!({"key": key, "version": version}))
}

#[wasm_bindgen_test]
async fn get_entry_gives_a_version_that_changes_with_every_write_on_both_protocols() {
    for protocol in ["v1", "v2"] {
        let b = bucket(&format!("entry-{protocol}")).await;
        let db = MPS3::new(db_config(&b, json!({"protocol": protocol}))).unwrap();
        let other = MPS3::new(db_config(&b, json!({"protocol": protocol}))).unwrap();
        assert_eq!(
            entry(&db, "a").await,
            (json!("<undefined>"), None),
            "absent"
        );
        ok(db.put("a".into(), js(json!({"n": 1})), none())).await;
        let first = entry(&db, "a").await;
        assert_eq!(first.0, json!({"n": 1}));
        assert!(first.1.is_some());
        assert_eq!(
            entry(&other, "a").await,
            first,
            "{protocol}: the same for every client"
        );
        ok(db.put("a".into(), js(json!({"n": 1})), none())).await;
        let second = entry(&other, "a").await;
        assert_eq!(second.0, json!({"n": 1}));
        assert_ne!(second.1, first.1, "{protocol}: a new write, a new version");
        ok(db.delete("a".into(), none())).await;
        assert_eq!(entry(&other, "a").await, (json!("<undefined>"), None));
    }
}

#[wasm_bindgen_test]
async fn atomic_commits_at_the_version_read_and_a_stale_check_leaves_the_bucket_unchanged() {
    let b = bucket("atomic").await;
    let a = v2_client(&b);
    let other = v2_client(&b);
    ok(a.put("k".into(), 1.into(), none())).await;
    let (_, read) = entry(&a, "k").await;
    ok(other.put("k".into(), 2.into(), none())).await;

    let before = v2_slots(&client(), &b, MANIFEST).await;
    let stale = a.atomic();
    stale.check(check("k", &read)).unwrap();
    stale.set("k".into(), 3.into()).unwrap();
    stale.delete("gone".into()).unwrap();
    let r = ok(stale.commit(none())).await;
    assert_eq!(to_json(&r), json!({"ok": false}));
    assert_eq!(
        v2_slots(&client(), &b, MANIFEST).await.len(),
        before.len(),
        "no entry for a failed check"
    );
    assert_eq!(to_json(&ok(a.get("k".into(), none())).await), json!(2));

    let (_, current) = entry(&a, "k").await;
    let fresh = a.atomic();
    fresh.check(check("k", &current)).unwrap();
    fresh.check(check("new", &None)).unwrap();
    fresh.set("k".into(), 3.into()).unwrap();
    fresh.set("new".into(), js(json!("x"))).unwrap();
    let r = ok(fresh.commit(none())).await;
    assert_eq!(field(&r, "ok").as_bool(), Some(true));
    let version = field(&r, "version").as_string().expect("a version");
    assert_eq!(entry(&other, "k").await, (json!(3), Some(version.clone())));
    assert_eq!(entry(&other, "new").await, (json!("x"), Some(version)));
    // "new" exists now: a check that it is absent fails.
    let again = a.atomic();
    again.check(check("new", &None)).unwrap();
    again.set("new".into(), js(json!("y"))).unwrap();
    assert_eq!(
        to_json(&ok(again.commit(none())).await),
        json!({"ok": false})
    );
}

#[wasm_bindgen_test]
async fn atomic_on_a_v1_manifest_is_unsupported_and_bad_checks_throw() {
    let b = bucket("atomic-v1").await;
    let db = MPS3::new(db_config(&b, json!({"protocol": "v1"}))).unwrap();
    ok(db.put("k".into(), 1.into(), none())).await;
    let listed = objects(&b, "").await.len();
    let op = db.atomic();
    op.check(check("k", &None)).unwrap();
    op.set("k".into(), 2.into()).unwrap();
    assert_eq!(err_code(op.commit(none())).await, "Unsupported");
    assert_eq!(objects(&b, "").await.len(), listed, "nothing written");
    assert_eq!(to_json(&ok(db.get("k".into(), none())).await), json!(1));
    assert_eq!(db.pending_writes(), 0);

    let op = db.atomic();
    let thrown = op.check(js(json!({"key": "k", "version": 3}))).unwrap_err();
    assert_mps3_error(&thrown);
    assert_eq!(
        field(&thrown, "code").as_string().as_deref(),
        Some("BadInput")
    );
    let thrown = op
        .check(js(json!({"key": "k", "versoin": null})))
        .unwrap_err();
    assert_eq!(
        field(&thrown, "code").as_string().as_deref(),
        Some("BadInput")
    );
    let thrown = op
        .set("k".into(), Function::new_no_args("").into())
        .unwrap_err();
    assert_eq!(
        field(&thrown, "code").as_string().as_deref(),
        Some("BadInput")
    );
}

/// A conditional write needs the bucket for its answer: made offline, it
/// rejects `Offline` at once, and nothing of it is queued or read.
#[wasm_bindgen_test]
async fn a_conditional_write_made_offline_rejects_at_once_and_leaves_nothing() {
    let b = bucket("atomic-offline").await;
    let a = v2_client(&b);
    ok(a.put("k".into(), js(json!("base")), none())).await;
    let (_, version) = entry(&a, "k").await;
    a.set_online(false);
    let op = a.atomic();
    op.check(check("k", &version)).unwrap();
    op.set("k".into(), js(json!("offline edit"))).unwrap();
    let started = js_sys::Date::now();
    assert_eq!(err_code(op.commit(none())).await, "Offline");
    assert!(js_sys::Date::now() - started < 1_000.0, "at once");
    assert_eq!(a.pending_writes(), 0, "nothing queued");
    assert_eq!(
        to_json(&ok(a.get("k".into(), none())).await),
        json!("base"),
        "nothing read"
    );
    assert_eq!(
        err_code(a.transaction(increment().into(), none())).await,
        "Offline",
        "a transaction alike"
    );
    a.set_online(true);
    assert_eq!(
        to_json(&ok(a.get("k".into(), none())).await),
        json!("base"),
        "nothing written"
    );
}

#[wasm_bindgen_test]
async fn four_clients_incrementing_with_transactions_count_exactly() {
    const CLIENTS: usize = 4;
    const EACH: usize = 25;
    let b = bucket("transaction").await;
    let clients: Vec<MPS3> = (0..CLIENTS).map(|_| v2_client(&b)).collect();
    let all = count_with_transactions(&clients, EACH).await;
    assert_eq!(
        all,
        (1..=CLIENTS * EACH).collect::<Vec<_>>(),
        "each transaction saw its own count"
    );
    for db in &clients {
        assert_eq!(
            to_json(&ok(db.get("likes".into(), none())).await),
            json!(CLIENTS * EACH)
        );
    }
    // One entry per increment (and none for a failed check).
    assert_eq!(
        v2_slots(&client(), &b, MANIFEST).await.len(),
        CLIENTS * EACH
    );
}

#[wasm_bindgen_test]
async fn a_transaction_that_throws_rejects_with_its_error_and_writes_nothing() {
    let b = bucket("transaction-throws").await;
    let db = v2_client(&b);
    ok(db.put("likes".into(), 1.into(), none())).await;
    let throws = Function::new_with_args(
        "tx",
        "return tx.get('likes').then((n) => { tx.set('likes', n + 1); throw new RangeError('no'); })",
    );
    let e = JsFuture::from(db.transaction(throws.into(), none()))
        .await
        .unwrap_err();
    assert_eq!(field(&e, "name").as_string().as_deref(), Some("RangeError"));
    assert_eq!(to_json(&ok(db.get("likes".into(), none())).await), json!(1));
    assert_eq!(v2_slots(&client(), &b, MANIFEST).await.len(), 1);
    // A v1 manifest: the commit is refused.
    let v1 = MPS3::new(db_config(
        &b,
        json!({"protocol": "v1", "defaultManifest": "old.json"}),
    ))
    .unwrap();
    assert_eq!(
        err_code(v1.transaction(increment().into(), none())).await,
        "Unsupported"
    );
}

/// `list` as keys and values, in the order given.
async fn listed(db: &MPS3, range: serde_json::Value) -> Vec<(String, serde_json::Value)> {
    let all = ok(db.list(js(range), none())).await;
    js_sys::Array::from(&all)
        .iter()
        .map(|e| {
            assert!(field(&e, "version").is_string());
            (
                field(&e, "key").as_string().unwrap(),
                to_json(&field(&e, "value")),
            )
        })
        .collect()
}

#[wasm_bindgen_test]
async fn list_reads_a_range_with_another_clients_adds_and_deletes_on_both_protocols() {
    for protocol in ["v1", "v2"] {
        let b = bucket(&format!("list-{protocol}")).await;
        let a = MPS3::new(db_config(&b, json!({"protocol": protocol}))).unwrap();
        let other = MPS3::new(db_config(&b, json!({"protocol": protocol}))).unwrap();
        for k in ["note/b", "note/a", "other", "note/c"] {
            ok(a.put(k.into(), js(json!(k)), none())).await;
        }
        assert_eq!(
            listed(&other, json!({"prefix": "note/"})).await,
            vec![
                ("note/a".into(), json!("note/a")),
                ("note/b".into(), json!("note/b")),
                ("note/c".into(), json!("note/c")),
            ],
            "{protocol}"
        );
        ok(a.delete("note/b".into(), none())).await;
        ok(a.put("note/d".into(), js(json!(4)), none())).await;
        assert_eq!(
            listed(
                &other,
                json!({"prefix": "note/", "reverse": true, "limit": 2})
            )
            .await,
            vec![
                ("note/d".into(), json!(4)),
                ("note/c".into(), json!("note/c"))
            ],
            "{protocol}: another client's add and delete, the last two"
        );
        assert_eq!(
            listed(&other, json!({"start": "note/b", "end": "note/d"})).await,
            vec![("note/c".into(), json!("note/c"))],
            "{protocol}"
        );
        let all = ok(other.list(JsValue::UNDEFINED, none())).await;
        assert_eq!(
            js_sys::Array::from(&all).length(),
            4,
            "{protocol}: everything"
        );
        let e = JsFuture::from(other.list(js(json!({"prefx": "n"})), none()))
            .await
            .unwrap_err();
        assert_eq!(field(&e, "code").as_string().as_deref(), Some("BadInput"));
    }
}

#[wasm_bindgen_test]
async fn a_prefix_subscriber_sees_every_note_then_another_clients_adds_and_deletes() {
    let b = bucket("prefix-sub").await;
    let a = v2_client(&b);
    let watcher = v2_client(&b);
    ok(a.put("note/1".into(), js(json!("one")), none())).await;
    ok(a.put("elsewhere".into(), 0.into(), none())).await;
    let calls: std::rc::Rc<std::cell::RefCell<Vec<serde_json::Value>>> = Default::default();
    let c = calls.clone();
    let handler = Closure::<dyn Fn(JsValue, JsValue)>::new(move |changes: JsValue, e: JsValue| {
        assert!(e.is_undefined(), "{e:?}");
        c.borrow_mut().push(to_json(&changes));
    });
    let _off = watcher
        .subscribe(
            js(json!({"prefix": "note/"})),
            handler.into_js_value().unchecked_into(),
            none(),
        )
        .unwrap();
    eventually("the first call", 5_000, || !calls.borrow().is_empty()).await;
    let first = calls.borrow()[0].clone();
    assert_eq!(first.as_array().unwrap().len(), 1);
    assert_eq!(first[0]["key"], json!("note/1"));
    assert_eq!(first[0]["value"], json!("one"));
    ok(a.put("note/2".into(), js(json!("two")), none())).await;
    ok(a.delete("note/1".into(), none())).await;
    ok(a.put("elsewhere".into(), 1.into(), none())).await;
    let heard = || {
        let mut keys: Vec<(String, serde_json::Value)> = calls.borrow()[1..]
            .iter()
            .flat_map(|c| c.as_array().unwrap().clone())
            .map(|e| (e["key"].as_str().unwrap().to_string(), e["version"].clone()))
            .collect();
        keys.sort_by(|x, y| x.0.cmp(&y.0));
        keys
    };
    eventually("the add and the delete", 5_000, || heard().len() >= 2).await;
    sleep(300).await;
    let after = heard();
    assert_eq!(after.len(), 2, "{:?}", calls.borrow());
    assert_eq!(
        after[0],
        ("note/1".into(), json!(null)),
        "deleted: version null"
    );
    assert_eq!(after[1].0, "note/2");
    assert!(after[1].1.is_string());
}

#[wasm_bindgen_test]
async fn inspect_shows_the_protocol_the_head_and_the_last_entries() {
    let b = bucket("inspect").await;
    let db = v2_client(&b);
    let other = v2_client(&b);
    ok(db.put("a".into(), 1.into(), none())).await;
    let put_all = js(json!({"b": 2, "c": 3}));
    ok(db.put_all(put_all, none())).await;
    let seen = to_json(&ok(other.inspect(none())).await);
    assert_eq!(seen["protocol"], json!("v2"));
    assert_eq!(seen["head"], json!(2));
    let entries = seen["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["seq"], json!(1));
    assert_eq!(entries[0]["keys"], json!([format!("{b}/a")]));
    assert_eq!(
        entries[1]["keys"],
        json!([format!("{b}/b"), format!("{b}/c")])
    );
    assert!(entries[1]["writer"].is_string() && entries[1]["at"].is_number());
    // Each client knows its own writer id: the writer of its entries.
    let mine = to_json(&ok(db.inspect(none())).await);
    assert_eq!(mine["writer"], entries[1]["writer"]);
    assert_ne!(
        seen["writer"], entries[1]["writer"],
        "the other client's own"
    );
    let v1 = MPS3::new(db_config(
        &b,
        json!({"protocol": "v1", "defaultManifest": "old.json"}),
    ))
    .unwrap();
    ok(v1.put("k".into(), 1.into(), none())).await;
    let seen = to_json(&ok(v1.inspect(none())).await);
    assert_eq!(seen["protocol"], json!("v1"));
    let fresh = to_json(&ok(db.inspect(Some("unused.json".into()))).await);
    assert_eq!(fresh["protocol"], json!(null), "nothing written: undecided");
}

/// A client whose `log` events are recorded.
fn logged_client(
    b: &str,
) -> (
    MPS3,
    std::rc::Rc<std::cell::RefCell<Vec<serde_json::Value>>>,
) {
    let cfg = db_config(b, json!({"protocol": "v2"}));
    let events: std::rc::Rc<std::cell::RefCell<Vec<serde_json::Value>>> = Default::default();
    let e = events.clone();
    let log = Closure::<dyn Fn(JsValue)>::new(move |event: JsValue| {
        e.borrow_mut().push(to_json(&event));
    });
    Reflect::set(&cfg, &"log".into(), &log.into_js_value()).unwrap();
    (MPS3::new(cfg).unwrap(), events)
}

#[wasm_bindgen_test]
async fn a_trace_id_given_to_a_put_is_in_its_requests_and_the_other_clients_notify_event() {
    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    let b = bucket("trace").await;
    let (writer, wrote) = logged_client(&b);
    let (reader, read) = logged_client(&b);
    ok(reader.get("a".into(), none())).await;
    let metas: std::rc::Rc<std::cell::RefCell<Vec<serde_json::Value>>> = Default::default();
    let m = metas.clone();
    let handler = Closure::<dyn Fn(JsValue, JsValue, JsValue)>::new(
        move |value: JsValue, _e: JsValue, meta: JsValue| {
            m.borrow_mut()
                .push(json!({"value": to_json(&value), "meta": to_json(&meta)}));
        },
    );
    let _off = reader
        .subscribe("a".into(), handler.into_js_value().unchecked_into(), none())
        .unwrap();
    let opts = js(json!({"trace": TRACE}));
    ok(writer.put("a".into(), js(json!("traced")), Some(opts))).await;
    assert!(
        wrote.borrow().iter().any(|e| e["type"] == "request"
            && e["method"] == "PUT"
            && e["url"].as_str().unwrap().contains(".v2/log/")
            && e["trace"] == TRACE),
        "the writer's slot PUT: {:?}",
        wrote.borrow()
    );
    ok(reader.get("a".into(), none())).await;
    let notified = read
        .borrow()
        .iter()
        .find(|e| e["type"] == "notify" && e["key"] == format!("{b}/a"))
        .cloned()
        .expect("the reader's notify event");
    assert_eq!(notified["trace"], json!(TRACE));
    assert_eq!(notified["slot"], json!("1"));
    // The key's subscriber gets the trace as its third argument.
    eventually("the subscriber's value", 5_000, || {
        metas.borrow().iter().any(|h| h["value"] == json!("traced"))
    })
    .await;
    let heard = metas
        .borrow()
        .iter()
        .find(|h| h["value"] == json!("traced"))
        .cloned()
        .unwrap();
    assert_eq!(heard["meta"]["trace"], json!(TRACE), "{heard}");
    assert!(heard["meta"]["version"].is_string() && heard["meta"]["at"].is_number());
    assert!(heard["meta"]["writer"].is_string());
    let bad = js(json!({"trace": "not-a-trace"}));
    assert_eq!(
        err_code(writer.put("a".into(), 1.into(), Some(bad))).await,
        "BadInput"
    );
}

#[wasm_bindgen_test]
async fn a_binary_value_round_trips_byte_for_byte_with_its_content_type_on_both_protocols() {
    let bytes: Vec<u8> = (0..=255u8)
        .chain([0x89, b'P', b'N', b'G', 0, 0xff])
        .collect();
    for protocol in ["v1", "v2"] {
        let b = bucket(&format!("binary-{protocol}")).await;
        let writer = MPS3::new(db_config(&b, json!({"protocol": protocol}))).unwrap();
        let reader = MPS3::new(db_config(&b, json!({"protocol": protocol}))).unwrap();
        let value: JsValue = js_sys::Uint8Array::from(&bytes[..]).into();
        let opts = js(json!({"contentType": "image/png"}));
        ok(writer.put("photo".into(), value, Some(opts))).await;
        for db in [&writer, &reader] {
            let got = ok(db.get("photo".into(), none())).await;
            let got = got.dyn_into::<js_sys::Uint8Array>().expect("a Uint8Array");
            assert_eq!(got.to_vec(), bytes, "{protocol}");
            let e = ok(db.get_entry("photo".into(), none())).await;
            assert_eq!(
                field(&e, "contentType").as_string().as_deref(),
                Some("image/png")
            );
        }
        // In the bucket: the bytes themselves, typed, never JSON.
        let content = objects(&b, "photo@").await;
        assert_eq!(content.len(), 1, "{protocol}: {content:?}");
        let key = content[0]["key"].as_str().unwrap().to_string();
        let got = client()
            .get_object(&b, &key, &mps3::engine::s3::GetOptions::default())
            .await
            .unwrap();
        let mps3::engine::s3::GetResult::Found(obj) = got else {
            panic!("no object")
        };
        assert_eq!(obj.body, bytes);
        assert_eq!(obj.meta.content_type.as_deref(), Some("image/png"));
        // An ArrayBuffer works too, typed application/octet-stream.
        let buf = js_sys::Uint8Array::from(&[1u8, 2, 3][..]).buffer();
        ok(writer.put("raw".into(), buf.into(), none())).await;
        let e = ok(reader.get_entry("raw".into(), none())).await;
        assert_eq!(
            field(&e, "contentType").as_string().as_deref(),
            Some("application/octet-stream")
        );
        let json_type = js(json!({"contentType": "application/json"}));
        let raw: JsValue = js_sys::Uint8Array::from(&[1u8][..]).into();
        assert_eq!(
            err_code(writer.put("raw".into(), raw, Some(json_type))).await,
            "BadInput"
        );
        let e = ok(reader.get_entry("missing".into(), none())).await;
        assert!(field(&e, "contentType").is_undefined());
    }
}
