//! The S3 client in real headless Chromium, cross-origin against the test
//! bed (moto with signatures verified, behind the README's CORS rule).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_macros,
    reason = "the size rules are for the shipped .wasm"
)]
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use mps3::engine::error::ErrorKind;
use mps3::engine::s3::{CorsRule, GetOptions, GetResult, ListParams, PutMode, PutOptions};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn json() -> PutOptions {
    PutOptions {
        content_type: Some("application/json".into()),
        content_encoding: None,
        mode: PutMode::Overwrite,
    }
}

async fn new_bucket(prefix: &str) -> (mps3::web::s3::S3Client, String) {
    let c = client();
    let b = unique_bucket(prefix);
    c.create_bucket(&b).await.expect("create bucket");
    (c, b)
}

fn found(r: GetResult) -> mps3::engine::s3::Object {
    match r {
        GetResult::Found(o) => o,
        GetResult::NotModified(_) => panic!("expected the object, got 304"),
    }
}

#[wasm_bindgen_test]
async fn put_get_head_delete_with_headers_readable_under_cors() {
    let (c, b) = new_bucket("crud").await;
    let put = c
        .put_object(&b, "k", b"{\"a\":1}".to_vec(), &json())
        .await
        .unwrap();
    let etag = put.etag.clone().expect("ETag exposed");
    assert!(etag.starts_with('"'), "{etag}");
    let date = put.date.expect("Date exposed");
    let skew = (date - js_sys::Date::now() as i64).abs();
    assert!(skew < 5_000, "server clock vs ours: {skew} ms");

    let obj = found(c.get_object(&b, "k", &GetOptions::default()).await.unwrap());
    assert_eq!(obj.body, b"{\"a\":1}");
    assert_eq!(obj.meta.etag.as_deref(), Some(etag.as_str()));
    assert_eq!(obj.meta.content_type.as_deref(), Some("application/json"));
    assert!(obj.meta.last_modified.is_some(), "Last-Modified exposed");
    assert!(obj.meta.date.is_some());

    let head = found(
        c.head_object(&b, "k", &GetOptions::default())
            .await
            .unwrap(),
    );
    assert!(head.body.is_empty());
    assert_eq!(head.meta.etag, Some(etag));

    c.delete_object(&b, "k", None).await.unwrap();
    let gone = c
        .get_object(&b, "k", &GetOptions::default())
        .await
        .unwrap_err();
    assert_eq!(gone.kind, ErrorKind::NotFound);
    assert_eq!(gone.s3_code.as_deref(), Some("NoSuchKey"));
    let head_gone = c
        .head_object(&b, "k", &GetOptions::default())
        .await
        .unwrap_err();
    assert_eq!(head_gone.kind, ErrorKind::NotFound);
}

#[wasm_bindgen_test]
async fn conditional_get_answers_304_and_conditional_put_412() {
    let (c, b) = new_bucket("cond").await;
    let put = c
        .put_object(&b, "m", b"\"\"".to_vec(), &json())
        .await
        .unwrap();
    let etag = put.etag.unwrap();
    let opts = GetOptions {
        version_id: None,
        if_none_match: Some(etag.clone()),
    };
    match c.get_object(&b, "m", &opts).await.unwrap() {
        GetResult::NotModified(meta) => assert!(meta.date.is_some()),
        GetResult::Found(_) => panic!("expected 304"),
    }
    let other = GetOptions {
        version_id: None,
        if_none_match: Some("\"0000\"".into()),
    };
    assert!(matches!(
        c.get_object(&b, "m", &other).await.unwrap(),
        GetResult::Found(_)
    ));

    let create = PutOptions {
        content_type: None,
        content_encoding: None,
        mode: PutMode::Create,
    };
    let e = c
        .put_object(&b, "m", b"1".to_vec(), &create)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::PreconditionFailed, "{e}");
    c.put_object(&b, "fresh", b"1".to_vec(), &create)
        .await
        .expect("If-None-Match: * on a new key");

    let stale = PutOptions {
        content_type: None,
        content_encoding: None,
        mode: PutMode::Update("\"0123456789abcdef0123456789abcdef\"".into()),
    };
    let e = c
        .put_object(&b, "m", b"2".to_vec(), &stale)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::PreconditionFailed, "{e}");
    let current = PutOptions {
        content_type: None,
        content_encoding: None,
        mode: PutMode::Update(etag),
    };
    c.put_object(&b, "m", b"3".to_vec(), &current)
        .await
        .expect("If-Match with the current ETag");
}

#[wasm_bindgen_test]
async fn wrong_secret_is_access_denied() {
    let (_, b) = new_bucket("auth").await;
    let bad = client_with_secret("not-the-secret");
    let e = bad
        .get_object(&b, "k", &GetOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AccessDenied, "{e}");
    assert_eq!(e.s3_code.as_deref(), Some("SignatureDoesNotMatch"));
    assert!(!e.to_string().contains("not-the-secret"));
    let e = bad
        .put_object(&b, "k", b"1".to_vec(), &json())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AccessDenied);
}

#[wasm_bindgen_test]
async fn awkward_keys_round_trip_through_put_get_list_delete() {
    let (c, b) = new_bucket("keys").await;
    let keys = [
        "&$@=;  :+,?".to_string(),
        "\\{^}%\\]\">[~#|".to_string(),
        "<![CDATA[...]]>".to_string(),
        "foo<Contents>".to_string(),
        "&lt".to_string(),
        "dir/sub/key".to_string(),
        "a b+c".to_string(),
        "unicode-ключ-鍵".to_string(),
        "k".repeat(1024),
    ];
    for key in &keys {
        c.put_object(&b, key, key.as_bytes().to_vec(), &json())
            .await
            .unwrap_or_else(|e| panic!("put {key:?}: {e}"));
        let obj = found(c.get_object(&b, key, &GetOptions::default()).await.unwrap());
        assert_eq!(obj.body, key.as_bytes(), "{key:?}");
    }
    let mut listed: Vec<String> = c
        .list_all(&b, ListParams::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    let mut expected: Vec<String> = keys.to_vec();
    expected.sort();
    listed.sort();
    assert_eq!(listed, expected);
    for key in &keys {
        c.delete_object(&b, key, None).await.unwrap();
    }
    assert!(c
        .list_all(&b, ListParams::default())
        .await
        .unwrap()
        .is_empty());
}

#[wasm_bindgen_test]
async fn too_long_key_is_refused_before_any_request() {
    let c = client();
    let b = unique_bucket("never");
    let e = c
        .put_object(&b, &"k".repeat(1025), vec![], &json())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadInput);
    // The test bed counts every request to a bucket, refused or not.
    let s = stats(&b).await;
    assert_eq!(s["PUT"], 0, "{s}");
    assert_eq!(s["OPTIONS"], 0, "{s}");
}

#[wasm_bindgen_test]
async fn listing_pages_with_prefix_start_after_and_max_keys() {
    let (c, b) = new_bucket("list").await;
    for i in 0..7 {
        c.put_object(&b, &format!("log@{i:02}"), vec![], &json())
            .await
            .unwrap();
    }
    c.put_object(&b, "other", vec![], &json()).await.unwrap();
    let before = stats(&b).await["LIST"].as_u64().unwrap();
    let entries = c
        .list_all(
            &b,
            ListParams {
                prefix: Some("log@".into()),
                start_after: Some("log@01".into()),
                max_keys: Some(2),
                continuation_token: None,
            },
        )
        .await
        .unwrap();
    let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["log@02", "log@03", "log@04", "log@05", "log@06"]);
    assert!(entries.iter().all(|e| e.last_modified > 0));
    let lists = stats(&b).await["LIST"].as_u64().unwrap() - before;
    assert_eq!(lists, 3, "five keys, two per page");
}

#[wasm_bindgen_test]
async fn versioned_bucket_reads_old_versions() {
    let (c, b) = new_bucket("vers").await;
    c.put_bucket_versioning(&b, true).await.unwrap();
    let v1 = c.put_object(&b, "a", b"1".to_vec(), &json()).await.unwrap();
    let v2 = c.put_object(&b, "a", b"2".to_vec(), &json()).await.unwrap();
    let (v1, v2) = (
        v1.version_id.expect("x-amz-version-id exposed"),
        v2.version_id.unwrap(),
    );
    assert_ne!(v1, v2);
    let old = GetOptions {
        version_id: Some(v1.clone()),
        if_none_match: None,
    };
    let obj = found(c.get_object(&b, "a", &old).await.unwrap());
    assert_eq!(obj.body, b"1");
    assert_eq!(obj.meta.version_id, Some(v1.clone()));
    let del = c.delete_object(&b, "a", None).await.unwrap();
    assert!(del.meta.delete_marker, "x-amz-delete-marker exposed");
    assert_eq!(
        c.get_object(&b, "a", &GetOptions::default())
            .await
            .unwrap_err()
            .kind,
        ErrorKind::NotFound
    );
    assert_eq!(found(c.get_object(&b, "a", &old).await.unwrap()).body, b"1");
}

#[wasm_bindgen_test]
async fn bucket_cors_configuration_is_accepted() {
    let (c, b) = new_bucket("cors").await;
    c.put_bucket_cors(
        &b,
        &[CorsRule {
            allowed_origins: vec!["*".into()],
            allowed_methods: vec!["GET".into(), "PUT".into(), "DELETE".into(), "HEAD".into()],
            allowed_headers: vec!["*".into()],
            expose_headers: vec!["ETag".into(), "Date".into(), "x-amz-version-id".into()],
            max_age_seconds: Some(600),
        }],
    )
    .await
    .unwrap();
}

#[wasm_bindgen_test]
async fn injected_faults_surface_as_retryable_errors() {
    let (c, b) = new_bucket("fault").await;
    set_faults(7, serde_json::json!([
        { "action": "503", "methods": ["PUT"], "path_regex": format!("^/{b}/five"), "times": 1 },
        { "action": "500", "methods": ["PUT"], "path_regex": format!("^/{b}/hundred"), "times": 1 },
        { "action": "reset", "methods": ["GET"], "path_regex": format!("^/{b}/reset"), "times": 1 },
    ]))
    .await;
    let e = c
        .put_object(&b, "five", b"1".to_vec(), &json())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::SlowDown, "{e}");
    assert!(e.is_retryable());
    let e = c
        .put_object(&b, "hundred", b"1".to_vec(), &json())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::ServerError, "{e}");
    assert!(e.is_retryable());
    let e = c
        .get_object(&b, "reset", &GetOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Network, "{e}");
    assert!(e.is_retryable());
    // Each rule fires once: the retries go through.
    c.put_object(&b, "five", b"1".to_vec(), &json())
        .await
        .unwrap();
    c.put_object(&b, "hundred", b"1".to_vec(), &json())
        .await
        .unwrap();
    assert_eq!(
        c.get_object(&b, "reset", &GetOptions::default())
            .await
            .unwrap_err()
            .kind,
        ErrorKind::NotFound
    );
    clear_faults().await;
}

#[wasm_bindgen_test]
async fn virtual_hosted_addressing_works_too() {
    // Chromium resolves `*.localhost` to loopback: `https://bucket.host/key`
    // style against the same server.
    let (_, b) = new_bucket("vhost").await;
    let tb = testbed();
    let endpoint = tb.endpoint.replace("127.0.0.1", "localhost");
    let mut config = mps3::engine::s3::S3Config::new(
        Some(&endpoint),
        tb.region,
        mps3::engine::credentials::Credentials::new(tb.access_key, tb.secret),
    )
    .unwrap();
    config.addressing = mps3::engine::s3::Addressing::VirtualHost;
    let c = mps3::web::s3::S3Client::new(mps3::engine::s3::S3::new(config));
    let key = "dir/a b+c";
    let put = c.put_object(&b, key, b"v".to_vec(), &json()).await.unwrap();
    assert!(put.etag.is_some());
    let obj = found(c.get_object(&b, key, &GetOptions::default()).await.unwrap());
    assert_eq!(obj.body, b"v");
    let listed = c.list_all(&b, ListParams::default()).await.unwrap();
    assert_eq!(
        listed.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
        [key]
    );
    c.delete_object(&b, key, None).await.unwrap();
    // And the path-style client sees the same bucket.
    let e = client()
        .get_object(&b, key, &GetOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
}

#[wasm_bindgen_test]
async fn presigned_reads_need_no_preflight() {
    let (c, b) = new_bucket("presign").await;
    c.put_object(&b, "a b+c", b"v".to_vec(), &json())
        .await
        .unwrap();
    let mut presigning = client();
    presigning.s3.config.presign_reads = true;
    let before = stats(&b).await;
    for _ in 0..3 {
        let obj = found(
            presigning
                .get_object(&b, "a b+c", &GetOptions::default())
                .await
                .unwrap(),
        );
        assert_eq!(obj.body, b"v");
        assert!(
            obj.meta.etag.is_some() && obj.meta.date.is_some(),
            "headers exposed"
        );
        let listed = presigning
            .list_all(&b, ListParams::default())
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
    }
    let missing = presigning
        .get_object(&b, "nope", &GetOptions::default())
        .await
        .unwrap_err();
    assert_eq!(missing.kind, ErrorKind::NotFound);
    let after = stats(&b).await;
    assert_eq!(
        after["OPTIONS"], before["OPTIONS"],
        "no preflight for presigned reads"
    );
    assert_eq!(
        after["GET"].as_u64().unwrap() - before["GET"].as_u64().unwrap(),
        4
    );
    assert_eq!(
        after["LIST"].as_u64().unwrap() - before["LIST"].as_u64().unwrap(),
        3
    );
    // A wrong secret is still refused.
    let mut bad = client_with_secret("wrong");
    bad.s3.config.presign_reads = true;
    let e = bad
        .get_object(&b, "a b+c", &GetOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AccessDenied, "{e}");
}
