//! The conformance checks a user points at their own bucket
//! (scripts/conformance.sh): which S3 features the vendor supports and
//! whether the database works there, from a real browser under the
//! bucket's CORS rule. Everything is written under a fresh prefix and
//! deleted again. Each check prints one `MPS3_CONFORMANCE {json}` line.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_macros,
    reason = "the size rules are for the shipped .wasm"
)]
#![cfg(target_arch = "wasm32")]

// Only its helpers: the test bed itself is not used here.
mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::{conformance_client as client, conformance_target as target, sleep, to_json};
use js_sys::{Reflect, JSON};
use mps3::engine::error::ErrorKind;
use mps3::engine::s3::{GetOptions, GetResult, ListParams, PutMode, PutOptions};
use mps3::web::class::MPS3;
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console)]
    fn log(line: &str);
}

fn report(check: &str, ok: bool, detail: impl Into<String>) {
    let line = json!({"check": check, "ok": ok, "detail": detail.into()});
    log(&format!("MPS3_CONFORMANCE {line}"));
}

fn json_opts() -> PutOptions {
    PutOptions {
        content_type: Some("application/json".into()),
        content_encoding: None,
        mode: PutMode::Overwrite,
    }
}

#[wasm_bindgen_test]
async fn conformance() {
    let t = target();
    let c = client(&t);
    let b = t.bucket;
    let prefix = format!(
        "mps3-conformance/{:x}/",
        (js_sys::Math::random() * 1e12) as u64
    );
    let mut essential_ok = true;

    // Objects, awkward keys, listing.
    let keys = ["a b+c", "&$@=;:,?", "unicode-ключ-鍵", "dir/sub/key"];
    let mut problems = Vec::new();
    let mut etag = None;
    let mut date = None;
    for k in keys {
        let key = format!("{prefix}{k}");
        match c
            .put_object(b, &key, k.as_bytes().to_vec(), &json_opts())
            .await
        {
            Ok(meta) => {
                etag = etag.or(meta.etag);
                date = date.or(meta.date);
            }
            Err(e) => problems.push(format!("PUT {k:?}: {e}")),
        }
        match c.get_object(b, &key, &GetOptions::default()).await {
            Ok(GetResult::Found(o)) if o.body == k.as_bytes() => {}
            other => problems.push(format!("GET {k:?}: {other:?}")),
        }
    }
    let listed = c
        .list_all(
            b,
            ListParams {
                prefix: Some(prefix.clone()),
                max_keys: Some(2),
                ..Default::default()
            },
        )
        .await;
    match &listed {
        Ok(entries) if entries.len() == keys.len() => {}
        other => problems.push(format!("LIST: {other:?}")),
    }
    essential_ok &= problems.is_empty();
    report(
        "objects: put, get, list (paged, url-encoded) with awkward keys",
        problems.is_empty(),
        problems.join("; "),
    );
    // Keys with `.` and `..` segments: their `/` go out as `%2F` (a URL
    // parser would resolve the segments), which the server must decode
    // back, and sign as sent. Only apps that use such keys need it.
    let mut dots = Vec::new();
    for k in ["a/../b", "x/./y", ".."] {
        let key = format!("{prefix}dots/{k}");
        let put = c
            .put_object(b, &key, k.as_bytes().to_vec(), &json_opts())
            .await;
        match (put, c.get_object(b, &key, &GetOptions::default()).await) {
            (Ok(_), Ok(GetResult::Found(o))) if o.body == k.as_bytes() => {}
            (put, get) => dots.push(format!("{k:?}: PUT {put:?}, GET {get:?}")),
        }
    }
    report(
        "keys with . and .. segments",
        dots.is_empty(),
        if dots.is_empty() {
            "sent with / as %2F, stored as given".to_string()
        } else {
            dots.join("; ")
        },
    );
    report("CORS exposes ETag", etag.is_some(), "needed for writes");
    report(
        "CORS exposes Date",
        date.is_some(),
        "needed for clock correction",
    );
    essential_ok &= etag.is_some();
    if let Ok(entries) = &listed {
        let ms = entries.iter().any(|e| e.last_modified % 1000 != 0);
        report(
            "LastModified precision",
            true,
            if ms {
                "milliseconds"
            } else {
                "whole seconds (or a lucky run)"
            },
        );
    }

    // Conditional requests.
    let key = format!("{prefix}cond");
    let first = c.put_object(b, &key, b"1".to_vec(), &json_opts()).await;
    if let Ok(meta) = first {
        let e = meta.etag.unwrap_or_default();
        let g = c
            .get_object(
                b,
                &key,
                &GetOptions {
                    version_id: None,
                    if_none_match: Some(e.clone()),
                },
            )
            .await;
        report(
            "GET If-None-Match → 304",
            matches!(g, Ok(GetResult::NotModified(_))),
            format!("{g:?}").chars().take(120).collect::<String>(),
        );
        let create = PutOptions {
            content_type: None,
            content_encoding: None,
            mode: PutMode::Create,
        };
        let r = c.put_object(b, &key, b"2".to_vec(), &create).await;
        report(
            "PUT If-None-Match: * → 412 (create-only entries; protocol v2)",
            matches!(&r, Err(e) if e.kind == ErrorKind::PreconditionFailed),
            format!("{r:?}").chars().take(120).collect::<String>(),
        );
        // Creates racing for one key: exactly one may win, or a log on
        // conditional writes loses entries.
        let mut winners = Vec::new();
        for round in 0..3 {
            let raced = format!("{prefix}race-{round}");
            type Put<'a> = core::pin::Pin<Box<dyn core::future::Future<Output = bool> + 'a>>;
            let (c, raced, create) = (&c, &raced, &create);
            let puts: Vec<Put<'_>> = (0..8)
                .map(|i| {
                    Box::pin(async move {
                        c.put_object(b, raced, format!("{i}").into_bytes(), create)
                            .await
                            .is_ok()
                    }) as Put<'_>
                })
                .collect();
            let won = mps3::engine::deadline::join_all(puts).await;
            winners.push(won.iter().filter(|w| **w).count());
        }
        report(
            "PUT If-None-Match: * racing: one create wins (protocol v2 with concurrent writers)",
            winners.iter().all(|w| *w == 1),
            format!("winners of 8 concurrent creates, 3 rounds: {winners:?}"),
        );
        let stale = PutOptions {
            content_type: None,
            content_encoding: None,
            mode: PutMode::Update("\"00000000000000000000000000000000\"".into()),
        };
        let r = c.put_object(b, &key, b"3".to_vec(), &stale).await;
        report(
            "PUT If-Match → 412 (marker ETag checks)",
            matches!(&r, Err(e) if e.kind == ErrorKind::PreconditionFailed),
            format!("{r:?}").chars().take(120).collect::<String>(),
        );
    }

    // Gzipped content (option `gzip`): the bucket keeps `Content-Encoding`
    // and the browser decodes what it returns.
    let text = "mps3 ".repeat(400);
    match mps3::web::gzip::gzip(text.as_bytes()).await {
        None => report(
            "gzip content read back decoded",
            false,
            "this browser has no CompressionStream",
        ),
        Some(zipped) => {
            let key = format!("{prefix}gzip");
            let opts = PutOptions {
                content_encoding: Some("gzip"),
                ..json_opts()
            };
            let r = c.put_object(b, &key, zipped, &opts).await;
            let g = c.get_object(b, &key, &GetOptions::default()).await;
            report(
                "gzip content read back decoded (Content-Encoding kept)",
                r.is_ok() && matches!(&g, Ok(GetResult::Found(o)) if o.body == text.as_bytes()),
                format!("{r:?} {g:?}").chars().take(120).collect::<String>(),
            );
        }
    }

    // Versioning (only if the bucket has it on).
    let vkey = format!("{prefix}versioned");
    let v1 = c
        .put_object(b, &vkey, b"1".to_vec(), &json_opts())
        .await
        .ok()
        .and_then(|m| m.version_id);
    let v2 = c
        .put_object(b, &vkey, b"2".to_vec(), &json_opts())
        .await
        .ok()
        .and_then(|m| m.version_id);
    match (v1, v2) {
        (Some(v1), Some(v2)) if v1 != v2 => {
            let old = c
                .get_object(
                    b,
                    &vkey,
                    &GetOptions {
                        version_id: Some(v1),
                        if_none_match: None,
                    },
                )
                .await;
            let ok = matches!(&old, Ok(GetResult::Found(o)) if o.body == b"1");
            report(
                "versioning (useVersioning: true)",
                ok,
                "x-amz-version-id exposed; old versions readable",
            );
        }
        _ => report(
            "versioning (useVersioning: true)",
            false,
            "no x-amz-version-id: versioning off, or not exposed by CORS",
        ),
    }

    // The database itself: two clients under the throwaway prefix.
    let manifest = format!("{prefix}manifest.json");
    let cfg = json!({
        "defaultBucket": b,
        "defaultManifest": manifest,
        "pollFrequency": 200,
        "s3Config": {
            "endpoint": t.endpoint,
            "region": t.region,
            "credentials": { "accessKeyId": t.key, "secretAccessKey": t.secret, "sessionToken": t.token },
        }
    });
    let cfg = JSON::parse(&cfg.to_string()).unwrap();
    let creds = Reflect::get(
        &Reflect::get(&cfg, &"s3Config".into()).unwrap(),
        &"credentials".into(),
    )
    .unwrap();
    if t.token.is_none() {
        Reflect::delete_property(
            creds.unchecked_ref::<js_sys::Object>(),
            &"sessionToken".into(),
        )
        .unwrap();
    }
    if t.endpoint.is_none() {
        let s3c = Reflect::get(&cfg, &"s3Config".into()).unwrap();
        Reflect::delete_property(s3c.unchecked_ref::<js_sys::Object>(), &"endpoint".into())
            .unwrap();
    }
    // Two clients, not two tabs of one: labels of their own.
    let labelled = |label: &str| {
        let c = cfg.clone();
        Reflect::set(&c, &"label".into(), &format!("{prefix}{label}").into()).unwrap();
        JSON::parse(&String::from(JSON::stringify(&c).unwrap())).unwrap()
    };
    let db = MPS3::new(labelled("conformance-a")).unwrap();
    let other = MPS3::new(labelled("conformance-b")).unwrap();
    let key: JsValue = format!("{prefix}db-key").into();
    let outcome: Result<Value, String> = async {
        JsFuture::from(db.put(key.clone(), JSON::parse("{\"n\":1}").unwrap(), None))
            .await
            .map_err(|e| format!("{e:?}"))?;
        let v = JsFuture::from(other.get(key.clone(), None))
            .await
            .map_err(|e| format!("{e:?}"))?;
        Ok(to_json(&v))
    }
    .await;
    let db_ok = outcome.as_ref().is_ok_and(|v| *v == json!({"n": 1}));
    essential_ok &= db_ok;
    report(
        "database: put by one client, get by another",
        db_ok,
        format!("{outcome:?}"),
    );

    // The rest of the API between the two: a subscriber hears a write, a
    // batch reads back whole, an object written by S3 alone is imported.
    let outcome: Result<(), String> = async {
        let fail = |e: JsValue| format!("{e:?}");
        let heard: Rc<RefCell<Vec<Value>>> = Rc::default();
        let h = heard.clone();
        let handler =
            Closure::<dyn Fn(JsValue)>::new(move |v: JsValue| h.borrow_mut().push(to_json(&v)));
        let off = other
            .subscribe(key.clone(), handler.as_ref().clone(), None)
            .map_err(fail)?;
        JsFuture::from(db.put(key.clone(), JSON::parse("{\"n\":2}").unwrap(), None))
            .await
            .map_err(fail)?;
        let deadline = js_sys::Date::now() + 10_000.0;
        while !heard.borrow().contains(&json!({"n": 2})) {
            if js_sys::Date::now() > deadline {
                return Err(format!(
                    "the subscriber heard {:?}, not the write",
                    heard.borrow()
                ));
            }
            sleep(100).await;
        }
        off.call0(&JsValue::NULL).map_err(fail)?;
        let (a, b2): (JsValue, JsValue) = (
            format!("{prefix}batch-a").into(),
            format!("{prefix}batch-b").into(),
        );
        let batch = js_sys::Map::new();
        batch.set(&a, &1.into());
        batch.set(&b2, &2.into());
        JsFuture::from(db.put_all(batch.into(), None))
            .await
            .map_err(fail)?;
        let both = js_sys::Array::of2(&a, &b2);
        let got: js_sys::Map = JsFuture::from(other.get_all(both.into(), None))
            .await
            .map_err(fail)?
            .unchecked_into();
        let read = (to_json(&got.get(&a)), to_json(&got.get(&b2)));
        if read != (json!(1), json!(2)) {
            // (A `Map` stringifies as `{}`: the two values themselves.)
            return Err(format!("getAll after putAll: {read:?}"));
        }
        let raw = format!("{prefix}imported.json");
        c.put_object(b, &raw, b"{\"from\": \"S3\"}".to_vec(), &json_opts())
            .await
            .map_err(|e| format!("{e}"))?;
        JsFuture::from(db.import_key(raw.clone().into(), None))
            .await
            .map_err(fail)?;
        let v = JsFuture::from(other.get(raw.into(), None))
            .await
            .map_err(fail)?;
        if to_json(&v) != json!({"from": "S3"}) {
            return Err(format!(
                "the imported object read back as {:?}",
                to_json(&v)
            ));
        }
        Ok(())
    }
    .await;
    essential_ok &= outcome.is_ok();
    report(
        "database: subscribe, putAll/getAll, import",
        outcome.is_ok(),
        outcome.err().unwrap_or_default(),
    );
    db.shutdown();
    other.shutdown();

    // Which protocol the database chose for its new manifest: v2 where the
    // bucket enforces `If-None-Match: *` (its log's slots are there).
    let slots = c
        .list_all(
            b,
            ListParams {
                prefix: Some(format!("{manifest}.v2/log/")),
                ..Default::default()
            },
        )
        .await
        .map(|l| l.len());
    report(
        "database: protocol v2 (a log ordered by If-None-Match: *) for a new manifest",
        matches!(slots, Ok(n) if n > 0),
        match &slots {
            Ok(0) => "v1: the bucket does not enforce If-None-Match: *".to_string(),
            Ok(n) => format!("v2: {n} log slots"),
            Err(e) => format!("{e}"),
        },
    );

    // Clean up everything under the prefix.
    if let Ok(all) = c
        .list_all(
            b,
            ListParams {
                prefix: Some(prefix.clone()),
                ..Default::default()
            },
        )
        .await
    {
        for e in all {
            let _ = c.delete_object(b, &e.key, None).await;
        }
    }
    assert!(
        essential_ok,
        "the bucket lacks something the database needs: see the table"
    );
}
