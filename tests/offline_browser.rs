//! Offline-first in one page, in headless Chromium against the test bed:
//! `await: "local"`, going offline and back, tabs of one label kept in
//! step, IndexedDB unavailable, no secret in IndexedDB, and the store
//! upgrading an earlier release's database. (Reloads and
//! crashes need a driver: tests/e2e/offline.test.mjs.)
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
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Whether a promise has settled, polled without waiting.
fn settled(p: &js_sys::Promise) -> Rc<RefCell<bool>> {
    let flag = Rc::new(RefCell::new(false));
    let f = flag.clone();
    let done = Closure::<dyn FnMut(JsValue)>::new(move |_| *f.borrow_mut() = true);
    let f2 = flag.clone();
    let fail = Closure::<dyn FnMut(JsValue)>::new(move |_| *f2.borrow_mut() = true);
    let _ = p.then2(&done, &fail);
    done.forget();
    fail.forget();
    flag
}

fn opts(v: serde_json::Value) -> Option<JsValue> {
    Some(js(v))
}

/// Requests the test bed has seen for `bucket`, of every kind.
async fn requests(bucket: &str) -> u64 {
    let s = stats(bucket).await;
    s.as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "bytes_in" | "bytes_out" | "faults" | "held"))
        .map(|(_, v)| v.as_u64().unwrap_or(0))
        .sum()
}

#[wasm_bindgen_test]
async fn await_local_resolves_before_the_bucket_has_the_write() {
    let b = bucket("off-local").await;
    let db = MPS3::new(db_config(&b, json!({}))).unwrap();
    let reader = MPS3::new(db_config(&b, json!({}))).unwrap();
    // Hold the entry PUT: the write is durable locally, not yet remote.
    set_faults(
        1,
        json!([{ "action": "hold", "methods": ["PUT"], "path_regex": format!("^/{b}/manifest.json%40"), "times": 1, "hold_ms": 20000 }]),
    )
    .await;
    let local = db.put("k".into(), 1.into(), opts(json!({"await": "local"})));
    ok(local).await;
    assert_eq!(db.pending_writes(), 1, "accepted, not yet committed");
    assert_eq!(to_json(&ok(db.get("k".into(), None)).await), json!(1));
    assert_eq!(
        to_json(&ok(reader.get("k".into(), None)).await),
        json!("<undefined>"),
        "the bucket does not have it yet"
    );
    release_held().await;
    clear_faults().await;
    eventually("the commit", 10_000, || db.pending_writes() == 0).await;
    assert_eq!(to_json(&ok(reader.get("k".into(), None)).await), json!(1));
    assert_eq!(
        err_code(db.put("k".into(), 2.into(), opts(json!({"await": "soon"})))).await,
        "BadInput"
    );
}

#[wasm_bindgen_test]
async fn offline_reads_what_is_stored_queues_writes_and_flushes_once_in_order() {
    let b = bucket("off-toggle").await;
    let db = MPS3::new(db_config(&b, json!({}))).unwrap();
    let other = MPS3::new(db_config(&b, json!({}))).unwrap();
    ok(db.put("cached".into(), "c".into(), None)).await;
    ok(other.put("uncached".into(), "u".into(), None)).await;
    // db now knows "uncached" exists, without having read its value.
    assert_eq!(
        to_json(&ok(db.get("cached".into(), None)).await),
        json!("c")
    );
    assert!(db.online());
    // A write in flight when the client goes offline is not lost.
    set_faults(
        2,
        json!([{ "action": "delay", "delay_ms": 800, "methods": ["PUT"], "path_regex": format!("^/{b}/k%40"), "times": 1 }]),
    )
    .await;
    let in_flight = db.put("k".into(), 0.into(), None);
    sleep(100).await;
    db.set_online(false);
    clear_faults().await;
    let before = requests(&b).await;
    // Offline: stored keys read at once, others are `Offline`.
    assert_eq!(
        to_json(&ok(db.get("cached".into(), None)).await),
        json!("c")
    );
    assert_eq!(err_code(db.get("uncached".into(), None)).await, "Offline");
    assert_eq!(
        err_code(db.get("k".into(), opts(json!({"manifest": "never-read.json"})))).await,
        "Offline",
        "a manifest never read"
    );
    for i in 1..=5 {
        ok(db.put("k".into(), i.into(), None)).await; // "local" by default offline
    }
    assert_eq!(to_json(&ok(db.get("k".into(), None)).await), json!(5));
    assert_eq!(db.pending_writes(), 6);
    sleep(300).await;
    assert_eq!(requests(&b).await, before, "no request while offline");
    let in_flight_done = settled(&in_flight);
    assert!(
        !*in_flight_done.borrow(),
        "a remote write waits while offline"
    );
    // Back online: the queue drains, in order, each write once.
    let (handler, seen) = recorder();
    let _unsub = other.subscribe("k".into(), handler.into(), None).unwrap();
    db.set_online(true);
    ok(in_flight).await;
    eventually("the queue drains", 20_000, || db.pending_writes() == 0).await;
    eventually("the other client sees 5", 10_000, || {
        seen.borrow().last() == Some(&json!(5))
    })
    .await;
    let fresh = MPS3::new(db_config(&b, json!({}))).unwrap();
    assert_eq!(to_json(&ok(fresh.get("k".into(), None)).await), json!(5));
    let entries = log_entry_count(&b).await;
    assert_eq!(
        entries, 8,
        "2 setup writes + 6 queued writes, each committed once (autoclean is on, so this is read before the grace ends)"
    );
}

/// Entries in the manifest log of `bucket`.
async fn log_entry_count(bucket: &str) -> usize {
    client()
        .list_all(
            bucket,
            mps3::engine::s3::ListParams {
                prefix: Some("manifest.json@".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .len()
}

#[wasm_bindgen_test]
async fn tabs_with_one_label_see_each_others_writes_at_once_and_commit_them_once() {
    let b = bucket("off-tabs").await;
    let label = unique_bucket("tab");
    // A slow poll: what reaches tab 2 quickly came by BroadcastChannel.
    let cfg = || db_config(&b, json!({"label": label, "pollFrequency": 60000}));
    let tab1 = MPS3::new(cfg()).unwrap();
    let tab2 = MPS3::new(cfg()).unwrap();
    let (handler, seen) = recorder();
    let _unsub = tab2.subscribe("k".into(), handler.into(), None).unwrap();
    eventually("the first value", 5_000, || !seen.borrow().is_empty()).await;
    set_faults(
        3,
        json!([{ "action": "hold", "methods": ["PUT"], "path_regex": format!("^/{b}/manifest.json%40"), "times": 1, "hold_ms": 20000 }]),
    )
    .await;
    let start = js_sys::Date::now();
    ok(tab1.put(
        "k".into(),
        "from tab 1".into(),
        opts(json!({"await": "local"})),
    ))
    .await;
    eventually("tab 2 hears tab 1", 1_000, || {
        seen.borrow().last() == Some(&json!("from tab 1"))
    })
    .await;
    let latency = js_sys::Date::now() - start;
    assert_eq!(tab2.pending_writes(), 1, "tab 2 knows it is pending");
    assert_eq!(
        to_json(&ok(tab2.get("k".into(), None)).await),
        json!("from tab 1")
    );
    release_held().await;
    clear_faults().await;
    eventually("committed", 10_000, || {
        tab1.pending_writes() == 0 && tab2.pending_writes() == 0
    })
    .await;
    assert_eq!(log_entry_count(&b).await, 1, "one tab committed it, once");
    assert_eq!(
        *seen.borrow(),
        vec![json!("<undefined>"), json!("from tab 1")],
        "heard in {latency} ms, once"
    );
}

#[wasm_bindgen_test]
async fn without_indexeddb_the_client_works_from_memory_and_says_so_once() {
    let b = bucket("off-noidb").await;
    let logs = Rc::new(RefCell::new(Vec::<String>::new()));
    let l = logs.clone();
    let log = Closure::<dyn Fn(JsValue)>::new(move |e: JsValue| {
        l.borrow_mut().push(
            Reflect::get(&e, &"type".into())
                .unwrap()
                .as_string()
                .unwrap_or_default(),
        )
    });
    let cfg = db_config(&b, json!({}));
    Reflect::set(&cfg, &"log".into(), log.as_ref()).unwrap();
    let reader = MPS3::new(db_config(&b, json!({"offlineStorage": false}))).unwrap();
    let (handler, seen) = recorder();
    // Shadow `window.indexedDB` (as a browser without it would have). No
    // assertion until it is back: a failure here must not break the tests
    // that run after this one in the page.
    let global: js_sys::Object = js_sys::global();
    let saved = js_sys::Object::get_own_property_descriptor(&global, &"indexedDB".into());
    let shadow = js(json!({"value": null, "configurable": true, "writable": true}));
    js_sys::Object::define_property(&global, &"indexedDB".into(), shadow.unchecked_ref());
    let db = MPS3::new(cfg).unwrap();
    let _unsub = db.subscribe("k".into(), handler.into(), None).unwrap();
    // "local" cannot be durable here: it waits for the bucket.
    let first = JsFuture::from(db.put("k".into(), 1.into(), opts(json!({"await": "local"})))).await;
    let read_after_local = JsFuture::from(reader.get("k".into(), None)).await;
    let second = JsFuture::from(db.put("k".into(), 2.into(), None)).await;
    for _ in 0..250 {
        if seen.borrow().last() == Some(&json!(2)) {
            break;
        }
        sleep(20).await;
    }
    if saved.is_undefined() {
        Reflect::delete_property(&global, &"indexedDB".into()).unwrap();
    } else {
        js_sys::Object::define_property(&global, &"indexedDB".into(), saved.unchecked_ref());
    }
    assert!(
        first.is_ok() && second.is_ok(),
        "writes: {first:?} {second:?}"
    );
    assert_eq!(
        to_json(&read_after_local.unwrap()),
        json!(1),
        "\"local\" resolved only once the bucket had it"
    );
    let storage_logs = logs.borrow().iter().filter(|t| *t == "storage").count();
    assert_eq!(storage_logs, 1, "logged once: {:?}", logs.borrow());
    let seen = seen.borrow().clone();
    let errors: Vec<_> = seen
        .iter()
        .filter(|v| v.get("error").is_some())
        .cloned()
        .collect();
    assert_eq!(errors, vec![json!({"error": "Storage"})], "{seen:?}");
    assert_eq!(seen.last(), Some(&json!(2)));
}

#[wasm_bindgen_test]
async fn no_secret_goes_into_indexeddb() {
    let b = bucket("off-secret").await;
    let db = MPS3::new(db_config(&b, json!({}))).unwrap();
    ok(db.put("k".into(), json!({"v": 1}).to_string().into(), None)).await;
    ok(db.put("k2".into(), 2.into(), opts(json!({"await": "local"})))).await;
    let _ = ok(db.get("k".into(), None)).await;
    eventually("committed", 10_000, || db.pending_writes() == 0).await;
    let dump = idb_dump().await;
    assert!(
        dump.contains(&b),
        "the dump holds this test's data: {dump:.300}"
    );
    let tb = testbed();
    assert!(!dump.contains(tb.secret), "the secret key is in IndexedDB");
    assert!(
        !dump.contains(tb.access_key),
        "the access key id is in IndexedDB"
    );
}

#[wasm_bindgen_test]
async fn the_local_endpoint_is_a_bucket_in_indexeddb_with_no_server() {
    let bucket = unique_bucket("local");
    let cfg = |label: &str, endpoint: &str| {
        js(json!({
            "defaultBucket": bucket,
            "label": label,
            "pollFrequency": 100,
            "s3Config": { "endpoint": endpoint },
        }))
    };
    // Every request the clients make, from their logs.
    let urls = Rc::new(RefCell::new(Vec::<String>::new()));
    let u = urls.clone();
    let log = Closure::<dyn Fn(JsValue)>::new(move |e: JsValue| {
        if let Some(url) = Reflect::get(&e, &"url".into()).unwrap().as_string() {
            u.borrow_mut().push(url);
        }
    });
    let with_log = |c: JsValue| {
        Reflect::set(&c, &"log".into(), log.as_ref()).unwrap();
        c
    };
    let a = MPS3::new(with_log(cfg("local-a", "local:"))).unwrap();
    // mps3's name for it reaches the same bucket.
    let b = MPS3::new(with_log(cfg("local-b", "indexdb:"))).unwrap();
    let (handler, seen) = recorder();
    let _unsub = b.subscribe("k".into(), handler.into(), None).unwrap();
    ok(a.put("k".into(), js(json!({"n": 1})), None)).await;
    let batch = js_sys::Map::new();
    batch.set(&"x".into(), &1.into());
    batch.set(&"y".into(), &2.into());
    ok(a.put_all(batch.into(), None)).await;
    assert_eq!(to_json(&ok(b.get("k".into(), None)).await), json!({"n": 1}));
    let all = ok(b.get_all(js(json!(["x", "y"])), None)).await;
    let all: js_sys::Map = all.unchecked_into();
    assert_eq!(to_json(&all.get(&"y".into())), json!(2));
    eventually("b's subscriber", 5_000, || {
        seen.borrow().last() == Some(&json!({"n": 1}))
    })
    .await;
    ok(b.delete("k".into(), None)).await;
    assert_eq!(
        to_json(&ok(a.get("k".into(), None)).await),
        json!("<undefined>")
    );
    let urls = urls.borrow();
    assert!(urls.len() > 5, "requests were logged: {urls:?}");
    assert!(
        urls.iter()
            .all(|u| u.starts_with(mps3::web::local::LOCAL_ENDPOINT)),
        "every request went to the local bucket, none to a server: {urls:?}"
    );
    assert!(MPS3::new(js(json!({
        "defaultBucket": "b", "useVersioning": true, "s3Config": { "endpoint": "local:" }
    })))
    .is_err());
}

/// Runs `body` (JavaScript, returning a promise) and awaits it.
async fn run_js(body: &str) -> JsValue {
    let p: js_sys::Promise = Function::new_no_args(body)
        .call0(&JsValue::NULL)
        .unwrap()
        .unchecked_into();
    JsFuture::from(p).await.unwrap()
}

#[wasm_bindgen_test]
async fn the_store_upgrades_an_earlier_releases_database_and_keeps_its_rows() {
    use mps3::engine::io::Table;
    use mps3::web::store::IdbStore;
    // The layout releases before the content bound made (rexie's: version
    // 1, four tables, out-of-line string keys), with a queued write in it.
    // Deleting the database closes the connections of earlier tests
    // (their stores let go on `versionchange`).
    run_js(
        r#"
      return new Promise((resolve, reject) => {
        const del = indexedDB.deleteDatabase("mps3");
        del.onerror = () => reject(del.error);
        del.onsuccess = () => {
          const open = indexedDB.open("mps3", 1);
          open.onupgradeneeded = () => {
            for (const t of ["queue", "state", "content", "bucket"]) open.result.createObjectStore(t);
          };
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const db = open.result;
            const tx = db.transaction("queue", "readwrite");
            const q = tx.objectStore("queue");
            q.put("write b", "ns/0002");
            q.put("write a", "ns/0001");
            q.put("other", "nt/0001");
            tx.oncomplete = () => { db.close(); resolve(); };
            tx.onerror = () => reject(tx.error);
          };
        };
      });
    "#,
    )
    .await;
    let store = IdbStore::default();
    assert_eq!(
        store.get(Table::Queue, "ns/0001").await.unwrap().as_deref(),
        Some("write a"),
        "a row of the earlier release"
    );
    assert_eq!(store.get(Table::Queue, "ns/0003").await.unwrap(), None);
    assert_eq!(
        store.scan(Table::Queue, "ns/").await.unwrap(),
        vec![
            ("ns/0001".to_string(), "write a".to_string()),
            ("ns/0002".to_string(), "write b".to_string())
        ],
        "a prefix scan, in key order"
    );
    // The table the upgrade added works like the others.
    store
        .put(Table::ContentMeta, "c/1", "{\"bytes\":3}")
        .await
        .unwrap();
    store.delete(Table::Queue, "ns/0001").await.unwrap();
    assert_eq!(
        store.scan(Table::Queue, "").await.unwrap(),
        vec![
            ("ns/0002".to_string(), "write b".to_string()),
            ("nt/0001".to_string(), "other".to_string())
        ]
    );
    // What another reader (plain IndexedDB) finds: version 2, five tables.
    let seen = run_js(
        r#"
      return new Promise((resolve, reject) => {
        const open = indexedDB.open("mps3");
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const names = Array.from(db.objectStoreNames).sort().join(",");
          const get = db.transaction("content_meta").objectStore("content_meta").get("c/1");
          get.onsuccess = () => { db.close(); resolve(`${db.version} ${names} ${get.result}`); };
          get.onerror = () => reject(get.error);
        };
      });
    "#,
    )
    .await;
    assert_eq!(
        seen.as_string().unwrap(),
        "2 bucket,content,content_meta,queue,state {\"bytes\":3}"
    );
}

/// Everything `onStatus` reports, as JSON.
fn status_recorder(db: &MPS3) -> (JsValue, Rc<RefCell<Vec<serde_json::Value>>>) {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let f = Closure::<dyn Fn(JsValue)>::new(move |v: JsValue| s.borrow_mut().push(to_json(&v)));
    let off = db.on_status(f.into_js_value()).unwrap();
    (off, seen)
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// The bucket stops answering (every request reset) and nobody sets
/// `online`: the client notices once every attempt over
/// `retry.disconnectAfterMs` (here 500 ms) failed and works offline (a
/// stored key reads after those attempts, not a whole retry series;
/// writes resolve once durable and read back at once), then finds the
/// bucket again by itself, flushes its queue once, and `onStatus` saw each
/// change in order.
#[wasm_bindgen_test]
async fn an_unreachable_bucket_is_noticed_and_recovered_from_without_being_told() {
    let b = bucket("off-untold").await;
    let db = MPS3::new(db_config(&b, json!({"retry": {"disconnectAfterMs": 500}}))).unwrap();
    let (_off, statuses) = status_recorder(&db);
    ok(db.put("stored".into(), "s".into(), None)).await;
    let status = to_json(&db.status());
    assert_eq!(
        (
            &status["online"],
            &status["connected"],
            &status["pendingWrites"]
        ),
        (&json!(true), &json!(true), &json!(0))
    );
    assert!(status["lastSyncAt"].is_number(), "{status}");

    set_faults(
        3,
        json!([{ "action": "reset", "path_regex": format!("^/{b}") }]),
    )
    .await;
    let t = now_ms();
    assert_eq!(
        to_json(&ok(db.get("stored".into(), None)).await),
        json!("s")
    );
    let read_ms = now_ms() - t;
    assert!(
        read_ms < 2_000.0,
        "the rule's half second of failures, not a retry series: {read_ms} ms"
    );
    assert_eq!(to_json(&db.status())["connected"], json!(false));
    assert!(db.online(), "the app's switch is untouched");

    let t = now_ms();
    ok(db.put("k".into(), 1.into(), None)).await; // "local" by default while disconnected
    assert_eq!(to_json(&ok(db.get("k".into(), None)).await), json!(1));
    let write_ms = now_ms() - t;
    assert!(
        write_ms < 1_000.0,
        "own writes never wait on the network: {write_ms} ms"
    );
    assert_eq!(db.pending_writes(), 1);

    clear_faults().await;
    eventually("connected again, with no call", 10_000, || {
        to_json(&db.status())["connected"] == json!(true)
    })
    .await;
    eventually("the queue flushed", 10_000, || db.pending_writes() == 0).await;
    let fresh = MPS3::new(db_config(&b, json!({}))).unwrap();
    assert_eq!(to_json(&ok(fresh.get("k".into(), None)).await), json!(1));
    assert_eq!(log_entry_count(&b).await, 2, "each write committed once");

    // In order: disconnected, the write pending, connected again, the
    // write committed.
    let seen = statuses.borrow();
    let at = |what: &str, f: &dyn Fn(&serde_json::Value) -> bool| {
        seen.iter()
            .position(f)
            .unwrap_or_else(|| panic!("no status {what} in {seen:?}"))
    };
    let down = at("disconnected", &|s| s["connected"] == json!(false));
    let queued = at("pending while down", &|s| {
        s["connected"] == json!(false) && s["pendingWrites"] == json!(1)
    });
    let up = down
        + seen[down..]
            .iter()
            .position(|s| s["connected"] == json!(true))
            .expect("connected again");
    let flushed = up
        + seen[up..]
            .iter()
            .position(|s| s["pendingWrites"] == json!(0))
            .expect("flushed after");
    assert!(down < queued && queued < up && up <= flushed, "{seen:?}");
}

/// A fresh client whose bucket cannot be reached: a `put` not awaited,
/// then a `get` of the same key, answers at once with the value.
#[wasm_bindgen_test]
async fn a_read_right_after_an_unawaited_put_answers_at_once_without_the_bucket() {
    let b = bucket("off-fresh").await;
    set_faults(
        4,
        json!([{ "action": "reset", "path_regex": format!("^/{b}") }]),
    )
    .await;
    let db = MPS3::new(db_config(&b, json!({"label": "fresh-unreachable"}))).unwrap();
    let t = now_ms();
    let _put = db.put("k".into(), json!({"v": 1}).to_string().into(), None);
    let got = ok(db.get("k".into(), None)).await;
    let ms = now_ms() - t;
    assert_eq!(to_json(&got), json!(json!({"v": 1}).to_string()));
    assert!(ms < 100.0, "answered in {ms} ms");
    clear_faults().await;
    eventually("committed once the bucket answers", 15_000, || {
        db.pending_writes() == 0
    })
    .await;
}
