//! End-to-end encryption through the JavaScript class, in headless
//! Chromium (WebCrypto) against the test bed: no written value in clear
//! in the bucket or IndexedDB, the same passphrase (or `CryptoKey`) reads
//! what another client wrote, another gets `Decrypt` and writes nothing,
//! rotation keeps old values readable, and changed bytes are refused.
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
use js_sys::{Function, Reflect, Uint8Array};
use mps3::engine::s3::{PutMode, PutOptions};
use mps3::web::class::MPS3;
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const MARKER: &str = "marker-9d2e-never-in-clear";

fn none() -> Option<JsValue> {
    None
}

/// A protocol v2 client with `encryption` as given.
fn sealed_client(b: &str, encryption: serde_json::Value) -> MPS3 {
    MPS3::new(db_config(
        b,
        json!({"protocol": "auto", "encryption": encryption}),
    ))
    .unwrap()
}

fn passphrase(p: &str) -> serde_json::Value {
    json!({ "passphrase": p })
}

/// Bytes holding the marker, and bytes no text is.
fn marked_bytes() -> Vec<u8> {
    let mut bytes = MARKER.as_bytes().to_vec();
    bytes.extend([0, 255, 128, 7]);
    bytes
}

/// Where the marker is in clear, if anywhere: an object of the bucket (as
/// a browser reads it, gzip undone) or a record of IndexedDB.
async fn marker_anywhere(b: &str) -> Option<String> {
    for o in objects(b, "").await {
        if o["body"].as_str().unwrap_or_default().contains(MARKER) {
            return Some(format!("object {}", o["key"]));
        }
    }
    idb_dump()
        .await
        .contains(MARKER)
        .then(|| "IndexedDB".into())
}

async fn write_marked(db: &MPS3) {
    ok(db.put("small".into(), js(json!({ "note": MARKER })), none())).await;
    let big = format!("{MARKER}{}", "x".repeat(4000));
    ok(db.put("big".into(), js(json!(big)), none())).await;
    let bytes: JsValue = Uint8Array::from(&marked_bytes()[..]).into();
    ok(db.put(
        "bin".into(),
        bytes,
        Some(js(json!({ "contentType": "image/png" }))),
    ))
    .await;
}

async fn read_marked(db: &MPS3) {
    assert_eq!(
        to_json(&ok(db.get("small".into(), none())).await),
        json!({ "note": MARKER })
    );
    let big = ok(db.get("big".into(), none())).await.as_string().unwrap();
    assert!(big.starts_with(MARKER) && big.len() == MARKER.len() + 4000);
    let bin = ok(db.get("bin".into(), none())).await;
    assert!(bin.is_instance_of::<Uint8Array>(), "binary reads as bytes");
    assert_eq!(Uint8Array::new(&bin).to_vec(), marked_bytes());
}

#[wasm_bindgen_test]
async fn values_are_sealed_in_the_bucket_and_indexeddb_and_open_with_the_passphrase() {
    let b = bucket("enc-sealed").await;
    let writer = sealed_client(&b, passphrase("a long shared passphrase"));
    // A subscriber of the writer hears its own value opened.
    let heard = Rc::new(RefCell::new(Vec::new()));
    let h = heard.clone();
    let handler = Closure::<dyn Fn(JsValue)>::new(move |v: JsValue| {
        h.borrow_mut().push(to_json(&v));
    });
    writer
        .subscribe("small".into(), handler.into_js_value(), none())
        .unwrap();
    write_marked(&writer).await;
    eventually("the subscriber hears the value", 5_000, || {
        heard.borrow().last() == Some(&json!({ "note": MARKER }))
    })
    .await;
    assert_eq!(marker_anywhere(&b).await, None, "a value in clear");
    let all = objects(&b, "").await;
    assert!(
        all.iter().any(|o| o["key"] == "manifest.json.v2/keys"),
        "the key ring beside the log: {all:?}"
    );
    assert!(
        all.iter().any(|o| o["body"]
            .as_str()
            .unwrap_or_default()
            .contains("mps3e1:k1:")),
        "sealed values in the log"
    );
    // Another device with the same passphrase reads every value.
    let reader = sealed_client(&b, passphrase("a long shared passphrase"));
    read_marked(&reader).await;
    let inspection = to_json(&ok(reader.inspect(none())).await);
    assert_eq!(
        inspection["encryption"],
        json!({ "key": "k1" }),
        "{inspection}"
    );
    assert_eq!(marker_anywhere(&b).await, None, "a value in clear");
}

#[wasm_bindgen_test]
async fn another_passphrase_gets_decrypt_and_writes_nothing() {
    let b = bucket("enc-other").await;
    let owner = sealed_client(&b, passphrase("the owner's"));
    write_marked(&owner).await;
    let before = objects(&b, "").await;
    let intruder = sealed_client(&b, passphrase("a guess"));
    let (code, message) = refusal(intruder.get("small".into(), none())).await;
    assert_eq!(code, "Decrypt", "{message}");
    let (code, message) = refusal(intruder.put("small".into(), js(json!("mine")), none())).await;
    assert_eq!(code, "Decrypt", "{message}");
    assert!(message.contains("nothing was written"), "{message}");
    assert_eq!(intruder.pending_writes(), 0, "nothing queued");
    assert_eq!(objects(&b, "").await, before, "the bucket unchanged");
    read_marked(&owner).await;
    // Without encryption, a client reads the sealed text, never a value.
    let plain = MPS3::new(db_config(&b, json!({"protocol": "auto"}))).unwrap();
    let seen = ok(plain.get("small".into(), none()))
        .await
        .as_string()
        .unwrap();
    assert!(
        seen.starts_with("mps3e1:k1:") && !seen.contains(MARKER),
        "{seen}"
    );
}

#[wasm_bindgen_test]
async fn rotation_adds_a_key_and_old_values_stay_readable() {
    let b = bucket("enc-rotate").await;
    let db = sealed_client(&b, passphrase("rotating"));
    ok(db.put("old".into(), js(json!("before")), none())).await;
    let other = sealed_client(&b, passphrase("rotating"));
    assert_eq!(
        to_json(&ok(other.get("old".into(), none())).await),
        json!("before")
    );
    assert_eq!(to_json(&ok(db.rotate(none())).await), json!("k2"));
    ok(db.put("new".into(), js(json!("after")), none())).await;
    assert_eq!(
        to_json(&ok(db.inspect(none())).await)["encryption"],
        json!({ "key": "k2" })
    );
    // A client that read the ring before the rotation reads the new key's
    // value (it reads the ring again); a new one reads both.
    assert_eq!(
        to_json(&ok(other.get("new".into(), none())).await),
        json!("after")
    );
    let fresh = sealed_client(&b, passphrase("rotating"));
    assert_eq!(
        to_json(&ok(fresh.get("old".into(), none())).await),
        json!("before")
    );
    assert_eq!(
        to_json(&ok(fresh.get("new".into(), none())).await),
        json!("after")
    );
    // Not encrypted: nothing to rotate.
    let plain = MPS3::new(db_config(
        &b,
        json!({"protocol": "auto", "defaultManifest": "p.json"}),
    ))
    .unwrap();
    assert_eq!(err_code(plain.rotate(none())).await, "BadInput");
}

#[wasm_bindgen_test]
async fn a_changed_ciphertext_is_refused() {
    let b = bucket("enc-tamper").await;
    let db = sealed_client(&b, passphrase("tamper"));
    let big = "y".repeat(4000);
    ok(db.put("big".into(), js(json!(big)), none())).await;
    let content = objects(&b, "big@").await;
    let key = content[0]["key"].as_str().unwrap().to_string();
    let mut body = content[0]["body"].as_str().unwrap().to_string();
    // One base64 digit of the ciphertext changed.
    let at = body.len() - 10;
    let changed = if &body[at..at + 1] == "A" { "B" } else { "A" };
    body.replace_range(at..at + 1, changed);
    client()
        .put_object(
            &b,
            &key,
            body.into_bytes(),
            &PutOptions {
                content_type: Some("application/json".into()),
                content_encoding: None,
                mode: PutMode::Overwrite,
            },
        )
        .await
        .unwrap();
    let reader = sealed_client(&b, passphrase("tamper"));
    let (code, message) = refusal(reader.get("big".into(), none())).await;
    assert_eq!(code, "Decrypt", "{message}");
    assert!(message.contains("does not open"), "{message}");
}

#[wasm_bindgen_test]
async fn an_app_managed_crypto_key_works_and_a_wrong_key_is_refused() {
    let b = bucket("enc-key").await;
    let make = Function::new_no_args(
        "return crypto.subtle.generateKey({name: 'AES-GCM', length: 256}, false, ['encrypt', 'decrypt'])",
    );
    let key = JsFuture::from(js_sys::Promise::from(make.call0(&JsValue::NULL).unwrap()))
        .await
        .unwrap();
    let with_key = |manifest: &str| {
        let cfg = db_config(&b, json!({"protocol": "auto", "defaultManifest": manifest}));
        let enc = js_sys::Object::new();
        Reflect::set(&enc, &"key".into(), &key).unwrap();
        Reflect::set(&cfg, &"encryption".into(), &enc).unwrap();
        MPS3::new(cfg).unwrap()
    };
    let a = with_key("k.json");
    ok(a.put("small".into(), js(json!(MARKER)), none())).await;
    let b2 = with_key("k.json");
    assert_eq!(
        to_json(&ok(b2.get("small".into(), none())).await),
        json!(MARKER)
    );
    assert_eq!(marker_anywhere(&b).await, None);
    // Not an AES-GCM key: refused when the client is made.
    let cfg = db_config(
        &b,
        json!({"protocol": "auto", "encryption": {"key": "not a key"}}),
    );
    let err = MPS3::new(cfg).err().expect("refused");
    assert_eq!(thrown(&err).0, "BadInput");
    let both = db_config(&b, json!({"encryption": {"passphrase": "p", "key": 1}}));
    assert_eq!(thrown(&MPS3::new(both).err().unwrap()).0, "BadInput");
    // Per manifest: one in clear beside an encrypted one.
    let mixed = sealed_client(
        &b,
        json!({"passphrase": "p", "manifests": {"clear.json": null}}),
    );
    ok(mixed.put(
        "c".into(),
        js(json!(MARKER)),
        Some(js(json!({"manifests": ["clear.json"]}))),
    ))
    .await;
    assert!(
        marker_anywhere(&b).await.is_some(),
        "the clear manifest is in clear"
    );
}

#[wasm_bindgen_test]
async fn a_v1_manifest_refuses_encryption() {
    let b = bucket("enc-v1").await;
    let db = MPS3::new(db_config(
        &b,
        json!({"protocol": "v1", "encryption": passphrase("v1")}),
    ))
    .unwrap();
    let (code, message) = refusal(db.put("a".into(), js(json!(MARKER)), none())).await;
    assert_eq!(code, "Unsupported", "{message}");
    assert!(objects(&b, "").await.is_empty(), "nothing written");
    // Its values, in clear, read with encryption on: refused alike.
    let plain = MPS3::new(db_config(&b, json!({"protocol": "v1"}))).unwrap();
    ok(plain.put("a".into(), js(json!("clear")), none())).await;
    let (code, message) = refusal(db.get("a".into(), none())).await;
    assert_eq!(code, "Unsupported", "{message}");
}

#[wasm_bindgen_test]
async fn transactions_and_conditional_writes_work_on_an_encrypted_manifest() {
    let b = bucket("enc-tx").await;
    let dbs: Vec<MPS3> = (0..3)
        .map(|_| sealed_client(&b, passphrase("counting")))
        .collect();
    let counts = count_with_transactions(&dbs, 4).await;
    assert_eq!(counts, (1..=12).collect::<Vec<_>>(), "each increment once");
    let n = to_json(&ok(dbs[1].get("likes".into(), none())).await);
    assert_eq!(n, json!(12));
    // A check names a version (not secret); the value stays sealed.
    let entry = to_json(&ok(dbs[2].get_entry("likes".into(), none())).await);
    let version = entry["version"].clone();
    let stale = dbs[0].atomic();
    stale
        .check(js(json!({"key": "likes", "version": "not-this-one"})))
        .unwrap();
    stale.set("likes".into(), js(json!(99))).unwrap();
    assert_eq!(to_json(&ok(stale.commit(none())).await)["ok"], json!(false));
    let fresh = dbs[0].atomic();
    fresh
        .check(js(json!({"key": "likes", "version": version})))
        .unwrap();
    fresh.set("likes".into(), js(json!(13))).unwrap();
    assert_eq!(to_json(&ok(fresh.commit(none())).await)["ok"], json!(true));
    assert_eq!(
        to_json(&ok(dbs[2].get("likes".into(), none())).await),
        json!(13)
    );
    let slots = objects(&b, "manifest.json.v2/log/").await;
    assert!(
        slots.iter().all(|o| !o["body"]
            .as_str()
            .unwrap_or_default()
            .contains("\"i\":\"13\"")),
        "the value sealed in its entry"
    );
}
