//! The database through its JavaScript class, in headless Chromium against
//! the test bed: every call, several clients on one page, faults, skew.
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
use js_sys::{Array, Function, Map, Reflect};
use mps3::engine::protocol::v1::{parse_entry_key, EntryBody};
use mps3::engine::s3::{GetOptions, GetResult, ListParams, PutOptions};
use mps3::web::class::MPS3;
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn none() -> Option<JsValue> {
    None
}

#[wasm_bindgen_test]
async fn put_get_delete_round_trip_json_values() {
    let b = bucket("db-rt").await;
    let db = MPS3::new(db_config(&b, json!({}))).unwrap();
    assert!(ok(db.get("missing".into(), none())).await.is_undefined());
    let values = [
        json!({"hello": "world"}),
        json!(0),
        json!(-1.5),
        json!(""),
        json!(true),
        json!([1, {"a": [2, 3]}]),
        json!({}),
        json!(null),
        json!("héllo ✓ 日本"),
    ];
    for (i, v) in values.iter().enumerate() {
        let key = format!("k{i}");
        ok(db.put(key.clone().into(), js(v.clone()), none())).await;
        assert_eq!(to_json(&ok(db.get(key.into(), none())).await), *v);
    }
    // A fresh client reads what the first wrote.
    let other = MPS3::new(db_config(&b, json!({}))).unwrap();
    for (i, v) in values.iter().enumerate() {
        assert_eq!(
            to_json(&ok(other.get(format!("k{i}").into(), none())).await),
            *v
        );
    }
    ok(db.delete("k0".into(), none())).await;
    assert!(ok(db.get("k0".into(), none())).await.is_undefined());
    assert!(ok(other.get("k0".into(), none())).await.is_undefined());
    // `{bucket, key}` keys and `undefined` deletes.
    ok(db.put(js(json!({"bucket": b, "key": "obj"})), js(json!(1)), none())).await;
    assert_eq!(
        to_json(&ok(other.get("obj".into(), none())).await),
        json!(1)
    );
    ok(db.put("obj".into(), JsValue::UNDEFINED, none())).await;
    assert!(ok(other.get("obj".into(), none())).await.is_undefined());
}

/// Values of 1 KiB or more go up gzipped (`Content-Encoding: gzip`, by the
/// browser's CompressionStream) and come back as written: the browser
/// decodes them as it fetches. Smaller ones, and every one with
/// `gzip: false`, go up as they are.
#[wasm_bindgen_test]
async fn large_values_go_up_gzipped_and_read_back_as_written() {
    let b = bucket("db-gzip").await;
    let big = json!({"text": "mps3 ".repeat(4000), "n": [1, 2, 3]});
    let db = MPS3::new(db_config(&b, json!({}))).unwrap();
    ok(db.put("big".into(), js(big.clone()), none())).await;
    ok(db.put("small".into(), js(json!({"a": 1})), none())).await;
    let plain = MPS3::new(db_config(&b, json!({"gzip": false}))).unwrap();
    ok(plain.put("plain".into(), js(big.clone()), none())).await;

    // Another client reads each back as it was written.
    let reader = MPS3::new(db_config(&b, json!({}))).unwrap();
    assert_eq!(to_json(&ok(reader.get("big".into(), none())).await), big);
    assert_eq!(to_json(&ok(reader.get("plain".into(), none())).await), big);
    assert_eq!(
        to_json(&ok(reader.get("small".into(), none())).await),
        json!({"a": 1})
    );

    // What the bucket holds: each value's one content object.
    let stored = |key: &str, all: &[serde_json::Value]| {
        let found: Vec<_> = all
            .iter()
            .filter(|o| o["key"].as_str().unwrap().starts_with(&format!("{key}@")))
            .collect();
        assert_eq!(found.len(), 1, "one content object of {key}: {found:?}");
        let o = found[0];
        (
            o["size"].as_u64().unwrap(),
            o["contentEncoding"].as_str().map(String::from),
        )
    };
    let all = objects(&b, "").await;
    let (big_size, big_encoding) = stored("big", &all);
    let (plain_size, plain_encoding) = stored("plain", &all);
    let (_, small_encoding) = stored("small", &all);
    assert_eq!(big_encoding.as_deref(), Some("gzip"));
    assert_eq!(plain_encoding, None);
    assert_eq!(small_encoding, None);
    assert!(
        plain_size > 20_000,
        "the value as written: {plain_size} bytes"
    );
    assert!(
        big_size * 20 < plain_size,
        "gzipped: {big_size} bytes of {plain_size}"
    );
}

/// Log entries carry the whole state, so in a manifest of many keys they
/// go up gzipped too (the test bed's `/objects` shows each body as a
/// browser reads it, and the size and encoding stored); other clients read
/// them as they would a plain one.
#[wasm_bindgen_test]
async fn large_entries_go_up_gzipped_and_read_back() {
    let b = bucket("db-gzip-entries").await;
    let db = MPS3::new(db_config(&b, json!({}))).unwrap();
    let batch = Map::new();
    for i in 0..40 {
        batch.set(&format!("notes/{i}").into(), &i.into());
    }
    ok(db.put_all(batch.into(), none())).await;
    let plain = MPS3::new(db_config(&b, json!({"gzip": false}))).unwrap();
    ok(plain.put("notes/plain".into(), 41.into(), none())).await;

    let entries = objects(&b, "manifest.json@").await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    for e in &entries {
        let body: serde_json::Value = serde_json::from_str(e["body"].as_str().unwrap()).unwrap();
        let by_plain = body["update"]["files"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.ends_with("/notes/plain"));
        let (size, read) = (
            e["size"].as_u64().unwrap(),
            e["body"].as_str().unwrap().len() as u64,
        );
        assert!(read > 2_000, "an entry of 40 keys: {read} bytes");
        if by_plain {
            assert_eq!(e["contentEncoding"], json!(null), "{e}");
            assert_eq!(size, read);
        } else {
            assert_eq!(e["contentEncoding"], json!("gzip"), "{e}");
            assert!(size * 2 < read, "gzipped: {size} bytes of {read}");
        }
    }

    let reader = MPS3::new(db_config(&b, json!({}))).unwrap();
    let mut expected: Vec<(String, i32)> = (0..40).map(|i| (format!("notes/{i}"), i)).collect();
    expected.push(("notes/plain".into(), 41));
    let keys: Vec<&str> = expected.iter().map(|(k, _)| k.as_str()).collect();
    let values: Map = ok(reader.get_all(js(json!(keys)), none()))
        .await
        .unchecked_into();
    for (k, v) in &expected {
        assert_eq!(to_json(&values.get(&k.into())), json!(v), "{k}");
    }
}

#[wasm_bindgen_test]
async fn put_all_and_get_all_are_one_snapshot() {
    let b = bucket("db-batch").await;
    let db = MPS3::new(db_config(&b, json!({}))).unwrap();
    let entries = Map::new();
    entries.set(&"k1".into(), &1.into());
    entries.set(&"k2".into(), &"two".into());
    entries.set(&"k3".into(), &js(json!({"nested": [1, 2, 3]})));
    ok(db.put_all(entries.into(), none())).await;
    ok(db.put_all(js(json!({"k2": 3})), none())).await;
    let deleting = Map::new();
    deleting.set(&"k1".into(), &JsValue::UNDEFINED);
    ok(db.put_all(deleting.into(), none())).await;
    let keys = Array::of3(&"k1".into(), &"k2".into(), &"k3".into());
    let got: Map = ok(db.get_all(keys.into(), none())).await.unchecked_into();
    assert!(got.get(&"k1".into()).is_undefined());
    assert_eq!(to_json(&got.get(&"k2".into())), json!(3));
    assert_eq!(
        to_json(&got.get(&"k3".into())),
        json!({"nested": [1, 2, 3]})
    );
}

#[wasm_bindgen_test]
async fn bad_input_is_refused_and_writes_nothing() {
    let b = bucket("db-bad").await;
    let db = MPS3::new(db_config(&b, json!({}))).unwrap();
    let before = stats(&b).await;
    let function: JsValue = Function::new_no_args("return 1").into();
    let bigint: JsValue = js_sys::BigInt::from(5u32).into();
    let cyclic = js_sys::Object::new();
    Reflect::set(&cyclic, &"self".into(), &cyclic).unwrap();
    for value in [
        function,
        bigint,
        cyclic.into(),
        js_sys::Symbol::for_("s").into(),
    ] {
        assert_eq!(
            err_code(db.put("k".into(), value, none())).await,
            "BadInput"
        );
    }
    assert_eq!(
        err_code(db.put("k".repeat(1025).into(), 1.into(), none())).await,
        "BadInput"
    );
    assert_eq!(
        err_code(db.put("".into(), 1.into(), none())).await,
        "BadInput"
    );
    assert_eq!(
        err_code(db.put("k".into(), 1.into(), Some(js(json!({"manifest": "x"}))))).await,
        "BadInput"
    );
    assert_eq!(err_code(db.get(js(json!(5)), none())).await, "BadInput");
    let after = stats(&b).await;
    for kind in ["PUT", "GET", "LIST", "OPTIONS"] {
        assert_eq!(
            after[kind], before[kind],
            "{kind}: nothing may be sent ({after})"
        );
    }

    // Every documented option is accepted.
    let all = json!({
        "defaultManifest": "m.json", "useVersioning": false, "pollFrequency": 500, "autoclean": true, "gzip": true,
        "adaptiveClock": true, "clockOffset": 0, "minimizeListObjectsCalls": true, "cacheBytes": 1024,
        "retry": {"attempts": 2, "baseMs": 1, "capMs": 10}, "label": "x", "log": false,
        "offlineStorage": true, "offlineBytes": 1 << 20, "online": true,
    });
    MPS3::new(db_config(&b, all)).expect("all documented options");
    let code = |cfg: JsValue| {
        let e = MPS3::new(cfg).err().expect("refused");
        assert_mps3_error(&e);
        Reflect::get(&e, &"code".into())
            .unwrap()
            .as_string()
            .unwrap()
    };
    assert_eq!(code(db_config(&b, json!({"pollFrequncy": 5}))), "BadInput");
    let no_bucket = db_config(&b, json!({}));
    Reflect::delete_property(
        no_bucket.unchecked_ref::<js_sys::Object>(),
        &"defaultBucket".into(),
    )
    .unwrap();
    assert_eq!(code(no_bucket), "BadInput");
    assert_eq!(code(JsValue::UNDEFINED), "BadInput");
}

/// Shapes JSON would store wrongly, and calls missing their function,
/// are refused with `BadInput` and a sentence that says what to pass
/// instead; nothing reaches the bucket.
#[wasm_bindgen_test]
async fn wrong_shapes_and_misuse_are_refused_with_a_sentence_and_write_nothing() {
    let b = bucket("db-shapes").await;
    let db = MPS3::new(db_config(&b, json!({}))).unwrap();
    let before = stats(&b).await;
    let eval = |code: &str| Function::new_no_args(code).call0(&JsValue::NULL).unwrap();
    let refused = |p: js_sys::Promise, says: &'static str| async move {
        let (code, message) = refusal(p).await;
        assert_eq!(code, "BadInput", "{message}");
        assert!(message.contains(says), "{message:?} does not say {says:?}");
    };
    // putAll: the shape Object.entries gives, and a Set.
    refused(
        db.put_all(eval("return [['a', 1], ['b', 2]]"), none()),
        "new Map(pairs)",
    )
    .await;
    refused(
        db.put_all(eval("return new Set(['a'])"), none()),
        "not an array or a Set",
    )
    .await;
    // Values JSON would store as {} or as an object of indices, at the top
    // or inside.
    for (value, says) in [
        ("new Map([['a', 1]])", "Object.fromEntries(map)"),
        ("new Set([1])", "[...set]"),
        ("new DataView(new ArrayBuffer(2))", "it holds a DataView"),
        ("new Int16Array([1, -1])", "it holds an Int16Array"),
        ("({ a: { b: new Map() } })", "it holds a Map"),
        (
            "({ picture: new Uint8Array([1]) })",
            "binary data is stored alone",
        ),
    ] {
        refused(
            db.put("k".into(), eval(&format!("return {value}")), none()),
            says,
        )
        .await;
    }
    // A content type is for binary values, and for put alone.
    refused(
        db.put(
            "k".into(),
            "hello".into(),
            Some(js(json!({"contentType": "text/plain"}))),
        ),
        "contentType is for binary values",
    )
    .await;
    refused(
        db.put_all(
            js(json!({"a": 1})),
            Some(js(json!({"contentType": "text/plain"}))),
        ),
        "option of put alone",
    )
    .await;
    refused(db.list(js(json!({"limit": -1})), none()), "at least 0").await;
    refused(db.transaction(42.into(), none()), "callback function").await;
    // Calls that return no promise throw.
    for handler in [JsValue::UNDEFINED, "handler".into()] {
        let e = db.subscribe("k".into(), handler, none()).unwrap_err();
        let (code, message) = thrown(&e);
        assert_eq!(code, "BadInput");
        assert!(message.contains("needs a handler function"), "{message}");
    }
    assert_eq!(thrown(&db.on_status(5.into()).unwrap_err()).0, "BadInput");
    let after = stats(&b).await;
    for kind in ["PUT", "GET", "LIST", "OPTIONS"] {
        assert_eq!(
            after[kind], before[kind],
            "{kind}: nothing may be sent ({after})"
        );
    }

    // An unsubscribe function called twice does nothing the second time.
    let handler = Closure::<dyn Fn(JsValue)>::new(|_: JsValue| {});
    let off = db
        .subscribe("k".into(), handler.as_ref().clone(), none())
        .unwrap();
    off.call0(&JsValue::NULL).unwrap();
    off.call0(&JsValue::NULL)
        .expect("a second call does nothing");
    let stop = db.on_status(handler.as_ref().clone()).unwrap();
    let stop: &Function = stop.unchecked_ref();
    stop.call0(&JsValue::NULL).unwrap();
    stop.call0(&JsValue::NULL)
        .expect("a second call does nothing");

    // JSON's own rules, as documented: a Date is its ISO string, NaN null.
    ok(db.put(
        "k".into(),
        eval("return { when: new Date(0), n: NaN }"),
        none(),
    ))
    .await;
    assert_eq!(
        to_json(&ok(db.get("k".into(), none())).await),
        json!({"when": "1970-01-01T00:00:00.000Z", "n": null})
    );

    // After shutdown, calls reject and subscribe (which returns no promise)
    // throws, each with `Shutdown`.
    db.shutdown();
    assert_eq!(err_code(db.get("k".into(), none())).await, "Shutdown");
    let e = db
        .subscribe("k".into(), handler.as_ref().clone(), none())
        .unwrap_err();
    assert_eq!(thrown(&e).0, "Shutdown");
}

#[wasm_bindgen_test]
async fn wrong_secret_rejects_with_access_denied() {
    let b = bucket("db-auth").await;
    let cfg = db_config(&b, json!({}));
    let creds = Reflect::get(
        &Reflect::get(&cfg, &"s3Config".into()).unwrap(),
        &"credentials".into(),
    )
    .unwrap();
    Reflect::set(&creds, &"secretAccessKey".into(), &"wrong".into()).unwrap();
    let db = MPS3::new(cfg).unwrap();
    assert_eq!(
        err_code(db.put("k".into(), 1.into(), none())).await,
        "AccessDenied"
    );
    assert_eq!(err_code(db.get("k".into(), none())).await, "AccessDenied");
    // What S3 said travels on the error.
    let e = wasm_bindgen_futures::JsFuture::from(db.get("k".into(), none()))
        .await
        .unwrap_err();
    assert_mps3_error(&e);
    assert_eq!(
        Reflect::get(&e, &"status".into()).unwrap().as_f64(),
        Some(403.0)
    );
    assert!(Reflect::get(&e, &"s3Code".into()).unwrap().is_string());
}

#[wasm_bindgen_test]
async fn subscribers_hear_other_clients_including_deletes() {
    let b = bucket("db-sub").await;
    let a = MPS3::new(db_config(&b, json!({"label": "a"}))).unwrap();
    let w = MPS3::new(db_config(&b, json!({"label": "w"}))).unwrap();
    // Subscribing right after an awaited put still hears later writes.
    ok(a.put("k".into(), 1.into(), none())).await;
    let (handler, seen) = recorder();
    let unsubscribe = a.subscribe("k".into(), handler.into(), none()).unwrap();
    eventually("the first value", 5_000, || {
        seen.borrow().first() == Some(&json!(1))
    })
    .await;
    ok(w.put("k".into(), 2.into(), none())).await;
    eventually("the other client's write", 5_000, || {
        seen.borrow().last() == Some(&json!(2))
    })
    .await;
    ok(w.delete("k".into(), none())).await;
    eventually("the delete", 5_000, || {
        seen.borrow().last() == Some(&json!("<undefined>"))
    })
    .await;
    ok(w.put("k".into(), 3.into(), none())).await;
    eventually("a write after the delete", 5_000, || {
        seen.borrow().last() == Some(&json!(3))
    })
    .await;
    assert_eq!(
        *seen.borrow(),
        vec![json!(1), json!(2), json!("<undefined>"), json!(3)],
        "once per version"
    );
    unsubscribe.call0(&JsValue::NULL).unwrap();
    ok(w.put("k".into(), 4.into(), none())).await;
    sleep(600).await;
    assert_eq!(seen.borrow().len(), 4, "no calls after unsubscribe");
    a.shutdown();
    assert_eq!(err_code(a.get("k".into(), none())).await, "Shutdown");
}

#[wasm_bindgen_test]
async fn reads_see_a_put_while_it_is_in_flight() {
    let b = bucket("db-ryw").await;
    let db = MPS3::new(db_config(&b, json!({}))).unwrap();
    ok(db.put("k".into(), 1.into(), none())).await;
    set_faults(1, json!([{ "action": "delay", "delay_ms": 1500, "methods": ["PUT"], "path_regex": format!("^/{b}/k%40"), "times": 1 }])).await;
    let (handler, seen) = recorder();
    let _unsub = db.subscribe("k".into(), handler.into(), none()).unwrap();
    eventually("the first value", 5_000, || !seen.borrow().is_empty()).await;
    let pending = db.put("k".into(), 2.into(), none());
    // Before the slow content PUT returns, reads and subscribers see 2.
    assert_eq!(to_json(&ok(db.get("k".into(), none())).await), json!(2));
    eventually("the optimistic value", 500, || {
        seen.borrow().last() == Some(&json!(2))
    })
    .await;
    let other = MPS3::new(db_config(&b, json!({}))).unwrap();
    assert_eq!(
        to_json(&ok(other.get("k".into(), none())).await),
        json!(1),
        "others see it once committed"
    );
    ok(pending).await;
    assert_eq!(to_json(&ok(other.get("k".into(), none())).await), json!(2));
    assert_eq!(
        *seen.borrow(),
        vec![json!(1), json!(2)],
        "the committed write is not delivered again"
    );
}

#[wasm_bindgen_test]
async fn a_failed_write_unmasks_and_rejects() {
    let b = bucket("db-fail").await;
    let db = MPS3::new(db_config(
        &b,
        json!({"retry": {"attempts": 3, "baseMs": 10, "capMs": 50}}),
    ))
    .unwrap();
    ok(db.put("k".into(), 1.into(), none())).await;
    let (handler, seen) = recorder();
    let _unsub = db.subscribe("k".into(), handler.into(), none()).unwrap();
    eventually("the first value", 5_000, || !seen.borrow().is_empty()).await;
    // Every content PUT of this key fails until the retries give up.
    set_faults(
        2,
        json!([{ "action": "503", "methods": ["PUT"], "path_regex": format!("^/{b}/k%40") }]),
    )
    .await;
    let start = js_sys::Date::now();
    let code = err_code(db.put("k".into(), 2.into(), none())).await;
    clear_faults().await;
    assert_eq!(
        code,
        "SlowDown",
        "retries exhausted after {} ms",
        js_sys::Date::now() - start
    );
    assert_eq!(to_json(&ok(db.get("k".into(), none())).await), json!(1));
    eventually("the revert", 2_000, || {
        seen.borrow().last() == Some(&json!(1))
    })
    .await;
    assert_eq!(*seen.borrow(), vec![json!(1), json!(2), json!(1)]);
}

#[wasm_bindgen_test]
async fn two_clients_parallel_puts_all_visible_and_batches_never_half_seen() {
    let b = bucket("db-par").await;
    let a = Rc::new(MPS3::new(db_config(&b, json!({"label": "a"}))).unwrap());
    let c = Rc::new(MPS3::new(db_config(&b, json!({"label": "c"}))).unwrap());
    let mut promises = Vec::new();
    for i in 0..6 {
        promises.push(a.put(format!("a{i}").into(), i.into(), none()));
        promises.push(c.put(format!("c{i}").into(), i.into(), none()));
    }
    for p in promises {
        ok(p).await;
    }
    let keys: Array = (0..6)
        .flat_map(|i| [format!("a{i}"), format!("c{i}")])
        .map(JsValue::from)
        .collect();
    for db in [&a, &c] {
        let got: Map = ok(db.get_all(keys.clone().into(), none()))
            .await
            .unchecked_into();
        for i in 0..6 {
            assert_eq!(to_json(&got.get(&format!("a{i}").into())), json!(i));
            assert_eq!(to_json(&got.get(&format!("c{i}").into())), json!(i));
        }
    }
    // A batch is never seen half-done by the other client.
    let pair = Array::of2(&"x".into(), &"y".into());
    let writer = a.clone();
    let writes = wasm_bindgen_futures::future_to_promise(async move {
        for round in 0..8 {
            let m = Map::new();
            m.set(&"x".into(), &round.into());
            m.set(&"y".into(), &round.into());
            JsFuture::from(writer.put_all(m.into(), None)).await?;
        }
        Ok(JsValue::UNDEFINED)
    });
    for _ in 0..12 {
        let got: Map = ok(c.get_all(pair.clone().into(), none()))
            .await
            .unchecked_into();
        assert_eq!(
            to_json(&got.get(&"x".into())),
            to_json(&got.get(&"y".into())),
            "half a batch"
        );
    }
    ok(writes).await;
    let got: Map = ok(c.get_all(pair.into(), none())).await.unchecked_into();
    assert_eq!(to_json(&got.get(&"x".into())), json!(7));
}

/// Every entry of a bucket's default manifest log, parsed.
async fn log_entries(b: &str) -> Vec<EntryBody> {
    let s3 = client();
    let listed = s3
        .list_all(
            b,
            ListParams {
                prefix: Some("manifest.json@".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut out = Vec::new();
    for e in listed {
        if parse_entry_key("manifest.json", &e.key).is_none() {
            continue;
        }
        if let GetResult::Found(o) = s3
            .get_object(b, &e.key, &GetOptions::default())
            .await
            .unwrap()
        {
            out.push(EntryBody::parse(&o.body).unwrap());
        }
    }
    out
}

#[wasm_bindgen_test]
async fn with_a_fifth_of_requests_failing_every_write_lands_exactly_once() {
    let b = bucket("db-faults").await;
    let db = MPS3::new(db_config(&b, json!({"autoclean": false}))).unwrap();
    set_faults(
        20,
        json!([
            { "action": "503", "rate": 0.1, "path_regex": format!("^/{b}") },
            { "action": "reset", "rate": 0.05, "path_regex": format!("^/{b}") },
            { "action": "drop", "rate": 0.05, "path_regex": format!("^/{b}") },
        ]),
    )
    .await;
    // Half wait for the bucket; the other half take the default, which a
    // write answers once durable when a lost connection disconnects the
    // client mid-commit, to commit once it is back.
    for i in 0..10 {
        let options = if i % 2 == 0 {
            Some(js(json!({"await": "remote"})))
        } else {
            none()
        };
        ok(db.put(format!("k{i}").into(), i.into(), options)).await;
    }
    let faults = stats(&b).await["faults"].as_u64().unwrap();
    clear_faults().await;
    assert!(faults > 0, "no fault was injected");
    eventually("every write committed", 20_000, || db.pending_writes() == 0).await;
    let reader = MPS3::new(db_config(&b, json!({}))).unwrap();
    for i in 0..10 {
        assert_eq!(
            to_json(&ok(reader.get(format!("k{i}").into(), none())).await),
            json!(i)
        );
    }
    // Exactly one entry carries each write.
    let entries = log_entries(&b).await;
    for i in 0..10 {
        let url = format!("{b}/k{i}");
        let carrying = entries
            .iter()
            .filter(|e| e.update.get("files").and_then(|f| f.get(&url)).is_some())
            .count();
        assert_eq!(
            carrying, 1,
            "k{i} is in {carrying} entries ({faults} faults injected)"
        );
    }
}

#[wasm_bindgen_test]
async fn clients_a_minute_off_converge() {
    let b = bucket("db-skew").await;
    let ahead = MPS3::new(db_config(
        &b,
        json!({"clockOffset": 60_000, "label": "ahead"}),
    ))
    .unwrap();
    let behind = MPS3::new(db_config(
        &b,
        json!({"clockOffset": -60_000, "label": "behind"}),
    ))
    .unwrap();
    for round in 0..3 {
        ok(ahead.put("k".into(), js(json!(format!("ahead-{round}"))), none())).await;
        ok(behind.put("k".into(), js(json!(format!("behind-{round}"))), none())).await;
    }
    assert!(
        ahead.clock_offset().abs() < 5_000.0,
        "corrected: {}",
        ahead.clock_offset()
    );
    assert!(
        behind.clock_offset().abs() < 5_000.0,
        "corrected: {}",
        behind.clock_offset()
    );
    let fresh = MPS3::new(db_config(&b, json!({}))).unwrap();
    let last = json!("behind-2");
    for db in [&ahead, &behind, &fresh] {
        assert_eq!(to_json(&ok(db.get("k".into(), none())).await), last);
    }
}

#[wasm_bindgen_test]
async fn a_credentials_function_is_asked_first_and_again_when_the_token_expires() {
    let b = bucket("db-creds").await;
    let tb = testbed();
    let calls = Rc::new(RefCell::new(0));
    let c = calls.clone();
    let (key, secret) = (tb.access_key.to_string(), tb.secret.to_string());
    let provider = Closure::<dyn Fn() -> js_sys::Promise>::new(move || {
        *c.borrow_mut() += 1;
        let creds = js(json!({
            "accessKeyId": key,
            "secretAccessKey": secret,
            "expiration": js_sys::Date::now() + 600_000.0,
        }));
        js_sys::Promise::resolve(&creds)
    });
    let cfg = db_config(&b, json!({}));
    let s3c = Reflect::get(&cfg, &"s3Config".into()).unwrap();
    Reflect::set(&s3c, &"credentials".into(), provider.as_ref()).unwrap();
    let db = MPS3::new(cfg).unwrap();
    ok(db.put("k".into(), 1.into(), none())).await;
    assert_eq!(to_json(&ok(db.get("k".into(), none())).await), json!(1));
    assert_eq!(*calls.borrow(), 1, "asked once, before the first request");
    set_faults(3, json!([{ "action": "expired", "methods": ["PUT"], "path_regex": format!("^/{b}/k%40"), "times": 1 }])).await;
    ok(db.put("k".into(), 2.into(), none())).await;
    assert_eq!(*calls.borrow(), 2, "asked again after ExpiredToken");
    assert_eq!(to_json(&ok(db.get("k".into(), none())).await), json!(2));
    drop(provider);
}

#[wasm_bindgen_test]
async fn versioned_buckets_keep_content_under_the_plain_key() {
    let b = bucket("db-vers").await;
    client().put_bucket_versioning(&b, true).await.unwrap();
    let db = MPS3::new(db_config(&b, json!({"useVersioning": true}))).unwrap();
    let (handler, seen) = recorder();
    let _off = db.subscribe("a".into(), handler.into(), none()).unwrap();
    ok(db.put("a".into(), 1.into(), none())).await;
    ok(db.put("a".into(), 2.into(), none())).await;
    ok(db.delete("a".into(), none())).await;
    ok(db.put("b".into(), 3.into(), none())).await;
    let other = MPS3::new(db_config(&b, json!({"useVersioning": true}))).unwrap();
    assert!(ok(other.get("a".into(), none())).await.is_undefined());
    assert_eq!(to_json(&ok(other.get("b".into(), none())).await), json!(3));
    // Content lives under the plain key; no `key@uuid` objects.
    let keys: Vec<String> = client()
        .list_all(&b, ListParams::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .filter(|k| !k.starts_with("manifest.json"))
        .collect();
    assert_eq!(keys, vec!["b".to_string()], "a is behind a delete marker");
    eventually("the delete", 3_000, || {
        seen.borrow().last() == Some(&json!("<undefined>"))
    })
    .await;
    // The placeholder version of a local write is renamed to S3's, so the
    // committed write is not delivered twice.
    let s = seen.borrow().clone();
    assert_eq!(s.iter().filter(|v| **v == json!(2)).count(), 1, "{s:?}");
}

/// Objects another tool wrote, imported; keys moved and forgotten: what a
/// second client reads, and that the objects themselves are left as they
/// were (a versioned bucket's import uploads nothing, and its forget puts
/// no delete marker).
#[wasm_bindgen_test]
async fn imported_moved_and_forgotten_keys_read_back_and_leave_the_objects() {
    for versioning in [false, true] {
        let b = bucket(if versioning { "db-keys-v" } else { "db-keys" }).await;
        let c = client();
        c.put_bucket_versioning(&b, versioning).await.unwrap();
        let plain = PutOptions::default();
        let body = "{\"name\": \"cat\", \"legs\": 4}";
        c.put_object(&b, "photos/cat.json", body.as_bytes().to_vec(), &plain)
            .await
            .unwrap();
        c.put_object(&b, "notes.txt", b"not JSON".to_vec(), &plain)
            .await
            .unwrap();
        let cfg = || db_config(&b, json!({ "useVersioning": versioning }));
        let db = MPS3::new(cfg()).unwrap();
        ok(db.import_key("photos/cat.json".into(), none())).await;
        assert_eq!(
            err_code(db.import_key("notes.txt".into(), none())).await,
            "BadInput"
        );
        assert_eq!(
            err_code(db.import_key("absent".into(), none())).await,
            "NotFound"
        );
        ok(db.put("drafts/1".into(), js(json!({"text": "hi"})), none())).await;
        ok(db.move_key("drafts/1".into(), "archive/1".into(), none())).await;
        assert_eq!(
            err_code(db.move_key("drafts/1".into(), "archive/2".into(), none())).await,
            "NotFound"
        );
        ok(db.put("kept".into(), 1.into(), none())).await;
        ok(db.forget("kept".into(), none())).await;

        let other = MPS3::new(cfg()).unwrap();
        let keys = js(json!([
            "photos/cat.json",
            "notes.txt",
            "drafts/1",
            "archive/1",
            "kept"
        ]));
        let values: Map = ok(other.get_all(keys, none())).await.unchecked_into();
        let value = |k: &str| to_json(&values.get(&k.into()));
        assert_eq!(value("photos/cat.json"), json!({"name": "cat", "legs": 4}));
        assert_eq!(value("notes.txt"), json!("<undefined>"));
        assert_eq!(value("drafts/1"), json!("<undefined>"));
        assert_eq!(value("archive/1"), json!({"text": "hi"}));
        assert_eq!(value("kept"), json!("<undefined>"));

        // The imported object and the forgotten key's content are as they
        // were, readable by plain GETs (content is under the plain key in
        // a versioned bucket, under `<key>@<uuid>` otherwise).
        let kept = if versioning {
            "kept".to_string()
        } else {
            let content = objects(&b, "kept@").await;
            assert_eq!(content.len(), 1, "{content:?}");
            content[0]["key"].as_str().unwrap().to_string()
        };
        for (key, stored) in [("photos/cat.json", body), (kept.as_str(), "1")] {
            let GetResult::Found(o) = c.get_object(&b, key, &GetOptions::default()).await.unwrap()
            else {
                panic!("{key} answered 304");
            };
            assert_eq!(String::from_utf8(o.body).unwrap(), stored, "{key}");
        }
        if versioning {
            // Nothing uploaded for the import, no delete marker put by the
            // forget: each object has its one version.
            for key in ["photos/cat.json", "kept"] {
                let listed = objects(&b, key).await;
                assert_eq!(listed[0]["key"], json!(key));
                assert_eq!(listed[0]["versions"], json!(1), "{listed:?}");
            }
            assert!(objects(&b, "photos/cat.json@").await.is_empty());
        } else {
            let copies = objects(&b, "photos/cat.json@").await;
            assert_eq!(copies.len(), 1, "one copy as content: {copies:?}");
        }
    }
}

#[wasm_bindgen_test]
async fn several_manifests_and_buckets_side_by_side() {
    let b = bucket("db-multi").await;
    let b2 = bucket("db-multi2").await;
    let db = MPS3::new(db_config(
        &b,
        json!({"defaultManifest": "app/manifest.json"}),
    ))
    .unwrap();
    ok(db.put("x".into(), 1.into(), none())).await;
    let other = Some(js(json!({"manifests": [{"key": "other.json"}]})));
    ok(db.put("y".into(), 2.into(), other)).await;
    let in_other = || Some(js(json!({"manifest": {"key": "other.json"}})));
    assert_eq!(to_json(&ok(db.get("y".into(), in_other())).await), json!(2));
    assert!(
        ok(db.get("y".into(), none())).await.is_undefined(),
        "not in the default manifest"
    );
    assert!(ok(db.get("x".into(), in_other())).await.is_undefined());
    // A key in another bucket, through a manifest in that bucket.
    let elsewhere = js(json!({"bucket": b2, "key": "z"}));
    let m2 = json!({"bucket": b2, "key": "m.json"});
    ok(db.put(
        elsewhere.clone(),
        3.into(),
        Some(js(json!({"manifests": [m2]}))),
    ))
    .await;
    let fresh = MPS3::new(db_config(&b, json!({}))).unwrap();
    assert_eq!(
        to_json(&ok(fresh.get(elsewhere, Some(js(json!({"manifest": m2}))))).await),
        json!(3)
    );
    assert_eq!(
        to_json(
            &ok(fresh.get(
                "x".into(),
                Some(js(json!({"manifest": "app/manifest.json"})))
            ))
            .await
        ),
        json!(1)
    );
}

#[wasm_bindgen_test]
async fn log_receives_structured_events_without_secrets() {
    let b = bucket("db-log").await;
    let events: Rc<RefCell<Vec<serde_json::Value>>> = Rc::default();
    let e = events.clone();
    let log = Closure::<dyn Fn(JsValue)>::new(move |ev: JsValue| e.borrow_mut().push(to_json(&ev)));
    let cfg = db_config(&b, json!({"label": "logged"}));
    Reflect::set(&cfg, &"log".into(), log.as_ref()).unwrap();
    let db = MPS3::new(cfg).unwrap();
    ok(db.put("k".into(), 1.into(), none())).await;
    let seen = events.borrow().clone();
    let requests: Vec<_> = seen.iter().filter(|e| e["type"] == "request").collect();
    assert!(requests.len() >= 4, "{seen:?}");
    assert!(requests
        .iter()
        .all(|r| r["label"] == "logged" && r["status"].is_number() && r["ms"].is_number()));
    assert!(requests
        .iter()
        .any(|r| r["method"] == "PUT" && r["url"].as_str().unwrap().contains("/k%40")));
    let text = serde_json::to_string(&seen).unwrap();
    assert!(!text.contains(testbed().secret), "a secret reached the log");
    drop(log);
}

#[wasm_bindgen_test]
async fn a_poll_error_reaches_the_handler_and_polling_carries_on() {
    let b = bucket("db-pollerr").await;
    let db = MPS3::new(db_config(&b, json!({}))).unwrap();
    let w = MPS3::new(db_config(&b, json!({}))).unwrap();
    ok(w.put("k".into(), 1.into(), none())).await;
    let (handler, seen) = recorder();
    let _off = db.subscribe("k".into(), handler.into(), none()).unwrap();
    eventually("the first value", 5_000, || !seen.borrow().is_empty()).await;
    // One poll is refused (not retryable: no credentials function).
    set_faults(4, json!([{ "action": "expired", "methods": ["GET"], "path_regex": format!("^/{b}/manifest.json$"), "times": 1 }])).await;
    eventually("the error", 5_000, || {
        seen.borrow().iter().any(|v| v.get("error").is_some())
    })
    .await;
    ok(w.put("k".into(), 2.into(), none())).await;
    eventually("a value after the error", 5_000, || {
        seen.borrow().last() == Some(&json!(2))
    })
    .await;
    assert_eq!(
        *seen.borrow(),
        vec![json!(1), json!({"error": "AccessDenied"}), json!(2)]
    );
}

/// Requests that never answer (the testbed holds them) count as network
/// failures once their attempt's time limit passes: the fetch is aborted
/// (the log says "Timeout") and retried; once every attempt failed, the
/// client finds the bucket unreachable and a read answers from what is
/// stored (`Offline` here, since this client stored nothing). The client's
/// probe then finds the bucket answering, and reads go to it again, with
/// no call. (A single time-out is only retried: see
/// tests/faults_browser.rs.)
#[wasm_bindgen_test]
async fn a_request_without_an_answer_times_out_and_the_client_works_offline_until_the_bucket_answers(
) {
    let b = bucket("db-timeout").await;
    let w = MPS3::new(db_config(&b, json!({}))).unwrap();
    ok(w.put("k".into(), 1.into(), none())).await;
    let events: Rc<RefCell<Vec<serde_json::Value>>> = Rc::default();
    let e = events.clone();
    let log = Closure::<dyn Fn(JsValue)>::new(move |ev: JsValue| e.borrow_mut().push(to_json(&ev)));
    let cfg = db_config(
        &b,
        json!({"retry": {"attempts": 3, "baseMs": 1, "capMs": 10, "timeoutMs": 400}}),
    );
    Reflect::set(&cfg, &"log".into(), log.as_ref()).unwrap();
    let db = MPS3::new(cfg).unwrap();
    // The reader's looks at the change marker are held for 20 s.
    set_faults(
        9,
        json!([{ "action": "hold", "hold_ms": 20000, "methods": ["GET"], "path_regex": format!("^/{b}/manifest.json(\\?|$)") }]),
    )
    .await;
    let started = js_sys::Date::now();
    assert_eq!(err_code(db.get("k".into(), none())).await, "Offline");
    let waited = js_sys::Date::now() - started;
    assert!(
        waited < 3_000.0,
        "three attempts' time limits, not more: {waited} ms"
    );
    assert_eq!(to_json(&db.status())["connected"], json!(false));
    clear_faults().await;
    release_held().await;
    assert!(
        stats(&b).await["held"].as_u64().unwrap() >= 3,
        "every attempt was held"
    );
    eventually("the probe finds the bucket", 10_000, || {
        to_json(&db.status())["connected"] == json!(true)
    })
    .await;
    assert_eq!(to_json(&ok(db.get("k".into(), none())).await), json!(1));
    let marker_gets: Vec<serde_json::Value> = events
        .borrow()
        .iter()
        .filter(|e| {
            e["type"] == "request"
                && e["method"] == "GET"
                && e["url"].as_str().unwrap().ends_with("/manifest.json")
        })
        .map(|e| e["status"].clone())
        .collect();
    assert_eq!(
        marker_gets.first(),
        Some(&json!("Timeout")),
        "the held GET ended at its time limit: {marker_gets:?}"
    );
    assert!(
        marker_gets[1..].iter().any(|s| s.is_number()),
        "and a later one was answered: {marker_gets:?}"
    );
    drop(log);
}

/// Keys with `.` and `..` segments, which mps3 0.0.81 accepts, round-trip
/// in both bucket modes against a server that verifies signatures: their
/// `/` go out as `%2F` (no URL parser resolves them), signed as sent. In
/// a versioned bucket, where a value is the object of its key, a key that
/// is only `.` or `..` names no object: refused, and nothing is written.
#[wasm_bindgen_test]
async fn keys_with_dot_segments_round_trip_in_both_bucket_modes() {
    for versioned in [false, true] {
        let b = bucket(if versioned { "db-dots-v" } else { "db-dots" }).await;
        client().put_bucket_versioning(&b, versioned).await.unwrap();
        let cfg = || db_config(&b, json!({ "useVersioning": versioned }));
        let db = MPS3::new(cfg()).unwrap();
        let mut keys = vec!["a/../b", "./x", "x/.", "../up/./c", "a/./b/.."];
        if !versioned {
            keys.extend([".", ".."]);
        }
        for k in &keys {
            ok(db.put((*k).into(), format!("v {k}").into(), none())).await;
        }
        let fresh = MPS3::new(cfg()).unwrap();
        for k in &keys {
            assert_eq!(
                to_json(&ok(fresh.get((*k).into(), none())).await),
                json!(format!("v {k}")),
                "{k} (versioned: {versioned})"
            );
        }
        // Each under the key as given, not where a URL parser would send it.
        let stored: Vec<String> = client()
            .list_all(&b, mps3::engine::s3::ListParams::default())
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        for k in &keys {
            let at = if versioned {
                (*k).to_string()
            } else {
                format!("{k}@")
            };
            assert!(
                stored
                    .iter()
                    .any(|s| s == &at || (!versioned && s.starts_with(&at))),
                "{k} is stored under its own key: {stored:?}"
            );
        }
        if versioned {
            let before = stats(&b).await;
            for k in [".", ".."] {
                assert_eq!(
                    err_code(db.put(k.into(), 1.into(), none())).await,
                    "BadInput",
                    "{k}"
                );
            }
            assert_eq!(stats(&b).await["PUT"], before["PUT"], "nothing written");
        }
    }
}
