//! The proxy running (in this process, on 127.0.0.1) in front of the test
//! bed's S3 (moto, started by scripts/test.sh), driven as clients drive
//! it: an ID token from the dev identity provider, derived credentials
//! from the proxy, requests signed by the engine. Each thing the proxy
//! must refuse is tried, and the bucket is shown unchanged after it.
//!
//! Run by the test command once the test bed is up (`--ignored`: it needs
//! MPS3_TESTBED_* in the environment), one test at a time: "the bucket
//! unchanged" compares the whole bucket.

mod common;

use common::*;
use mps3::engine::credentials::Credentials;
use mps3::engine::http::{HttpRequest, HttpResponse};
use mps3::engine::protocol::v2::format::{checkpoint_key, hint_key, probe_key, slot_key};
use mps3::engine::s3::{parse_list, GetOptions, ListParams, PutMode, PutOptions, S3Config, S3};
use mps3_proxy::config::Config;
use mps3_proxy::http::{self, Client};
use mps3_proxy::server::now_ms;
use mps3_proxy::session;

/// The S3 client of a signed-in caller, through the proxy.
struct Caller {
    s3: S3,
    writer_prefix: String,
}

async fn sign_in(client: &Client, proxy: &str, sub: &str) -> Caller {
    let t = token(client, proxy, sub, None).await;
    let (status, creds) = post_json(client, &format!("{proxy}/__mps3/credentials"), Some(&t)).await;
    assert_eq!(status, 200, "{creds}");
    let c = Credentials::new(
        creds["accessKeyId"].as_str().unwrap(),
        creds["secretAccessKey"].as_str().unwrap(),
    );
    let mut cfg = S3Config::new(Some(proxy), "us-east-1", c).unwrap();
    cfg.presign_reads = true;
    Caller {
        s3: S3::new(cfg),
        writer_prefix: creds["writerPrefix"].as_str().unwrap().to_string(),
    }
}

fn put(s3: &S3, key: &str, body: &[u8], mode: PutMode) -> HttpRequest {
    let opts = PutOptions {
        content_type: Some("application/json".into()),
        content_encoding: None,
        mode,
    };
    s3.put_object(BUCKET, key, body.to_vec(), &opts, now_ms())
        .unwrap()
}

/// Every object of the bucket with its ETag: what "unchanged" compares.
async fn bucket_state(client: &Client, direct: &S3) -> Vec<(String, Option<String>)> {
    let params = ListParams {
        prefix: None,
        start_after: None,
        max_keys: None,
        continuation_token: None,
    };
    let resp = send(
        client,
        direct.list_objects_v2(BUCKET, &params, now_ms()).unwrap(),
    )
    .await;
    let page = parse_list(&resp).unwrap();
    assert!(!page.is_truncated, "the test bed's bucket is small");
    page.entries.into_iter().map(|e| (e.key, e.etag)).collect()
}

fn entry(writer: &str, id: &str, set: &[(&str, &str)], del: &[&str]) -> Vec<u8> {
    let mut set_text = Vec::new();
    for (key, inline) in set {
        set_text.push(format!(
            r#""{BUCKET}/{key}":{{"u":"11111111-1111-4111-8111-{:012}","i":{}}}"#,
            id.len(),
            serde_json::to_string(inline).unwrap()
        ));
    }
    let del_text: Vec<String> = del.iter().map(|k| format!(r#""{BUCKET}/{k}""#)).collect();
    format!(
        r#"{{"v":2,"w":"{writer}","id":"{id}","t":1,"cp":0,"set":{{{}}},"del":[{}]}}"#,
        set_text.join(","),
        del_text.join(",")
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the test bed's S3: scripts/test.sh runs it"]
async fn every_refusal_leaves_the_bucket_unchanged() {
    let bed = bed();
    let run = format!("proxy-{}", now_ms());
    let proxy = start_proxy(&bed, &run, "mps3").await;
    let client = http::client();
    let direct = bed.direct();
    let alice = sign_in(&client, &proxy, "alice").await;
    let bob = sign_in(&client, &proxy, "bob").await;
    let m = format!("{run}/board.json");
    let aw = format!("{}-tab1", alice.writer_prefix);
    let bw = format!("{}-tab1", bob.writer_prefix);

    // What works: the guard created, two slots, a read of each.
    let ok = |r: &HttpResponse, what: &str| {
        assert!(
            r.is_success(),
            "{what}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        )
    };
    ok(
        &send(&client, put(&alice.s3, &m, b"\"v2\"", PutMode::Create)).await,
        "the guard",
    );
    let own = format!("{run}/notes/alice/1");
    ok(
        &send(
            &client,
            put(
                &alice.s3,
                &slot_key(&m, 1),
                &entry(&aw, "1", &[(&own, "{\"t\":1}")], &[]),
                PutMode::Create,
            ),
        )
        .await,
        "slot 1",
    );
    let bobs = format!("{run}/notes/bob/1");
    ok(
        &send(
            &client,
            put(
                &bob.s3,
                &slot_key(&m, 2),
                &entry(&bw, "1", &[(&bobs, "{\"t\":2}")], &[]),
                PutMode::Create,
            ),
        )
        .await,
        "slot 2",
    );
    let read = send(
        &client,
        alice
            .s3
            .get_object(BUCKET, &slot_key(&m, 2), &GetOptions::default(), now_ms())
            .unwrap(),
    )
    .await;
    ok(&read, "a read of bob's slot");
    assert!(String::from_utf8_lossy(&read.body).contains(&bw));

    // Each refusal, with the bucket compared before and after.
    let refusals: Vec<(&str, HttpRequest, &str)> = vec![
        ("another's key in set", put(&alice.s3, &slot_key(&m, 3), &entry(&aw, "2", &[(&bobs, "{\"x\":1}")], &[]), PutMode::Create), "AccessDenied"),
        ("another's key in del", put(&alice.s3, &slot_key(&m, 3), &entry(&aw, "2", &[], &[&bobs]), PutMode::Create), "AccessDenied"),
        ("a forged writer id", put(&alice.s3, &slot_key(&m, 3), &entry(&bw, "~", &[(&own, "{}")], &[]), PutMode::Create), "AccessDenied"),
        ("a slot far ahead of the head", put(&alice.s3, &slot_key(&m, 999), &entry(&aw, "2", &[(&own, "{}")], &[]), PutMode::Create), "AccessDenied"),
        ("an overwrite of a slot", put(&alice.s3, &slot_key(&m, 2), &entry(&aw, "2", &[(&own, "{}")], &[]), PutMode::Overwrite), "AccessDenied"),
        ("a checkpoint", put(&alice.s3, &checkpoint_key(&m, 2), b"{}", PutMode::Create), "AccessDenied"),
        ("the hint", put(&alice.s3, &hint_key(&m), b"{\"cp\":2}", PutMode::Overwrite), "AccessDenied"),
        ("a DELETE of a slot", alice.s3.delete_object(BUCKET, &slot_key(&m, 1), None, now_ms()).unwrap(), "AccessDenied"),
        ("a DELETE of a checkpoint", alice.s3.delete_object(BUCKET, &checkpoint_key(&m, 0), None, now_ms()).unwrap(), "AccessDenied"),
        ("a DELETE of content", alice.s3.delete_object(BUCKET, &format!("{own}@11111111-1111-4111-8111-000000000001"), None, now_ms()).unwrap(), "AccessDenied"),
        ("an overwrite of the guard", put(&alice.s3, &m, b"\"\"", PutMode::Overwrite), "AccessDenied"),
        ("duplicate JSON keys", put(&alice.s3, &slot_key(&m, 3), format!(r#"{{"v":2,"w":"{aw}","id":"2","t":1,"cp":0,"set":{{}},"del":[],"del":["{BUCKET}/{bobs}"]}}"#).as_bytes(), PutMode::Create), "AccessDenied"),
        ("an oversized value", {
            let big = vec![b'1'; 60_000];
            let opts = PutOptions { content_type: Some("application/json".into()), content_encoding: None, mode: PutMode::Overwrite };
            alice.s3.put_object(BUCKET, &format!("{own}@11111111-1111-4111-8111-000000000002"), big, &opts, now_ms()).unwrap()
        }, "AccessDenied"),
        ("a listing of the whole bucket", alice.s3.list_objects_v2(BUCKET, &ListParams { prefix: None, start_after: None, max_keys: None, continuation_token: None }, now_ms()).unwrap(), "AccessDenied"),
        ("an undeclared manifest", put(&alice.s3, "elsewhere/manifest.json", b"\"v2\"", PutMode::Create), "AccessDenied"),
        ("a key ring for a shared manifest", put(&alice.s3, &mps3::engine::encryption::ring_key(&m), mps3::engine::encryption::Ring { salt: vec![1; 16], iterations: 600_000, keys: vec![("k1".into(), vec![2; 60])], current: "k1".into() }.to_text().as_bytes(), PutMode::Create), "AccessDenied"),
    ];
    for (what, req, code) in refusals {
        let before = bucket_state(&client, &direct).await;
        let resp = send(&client, req).await;
        let body = String::from_utf8_lossy(&resp.body).to_string();
        assert!(!resp.is_success(), "{what}: allowed ({body})");
        assert!(
            body.contains(&format!("<Code>{code}</Code>")),
            "{what}: {} {body}",
            resp.status
        );
        assert_eq!(
            bucket_state(&client, &direct).await,
            before,
            "{what}: the bucket changed"
        );
    }

    // A gzip bomb: an entry that inflates past the cap.
    {
        use std::io::Write as _;
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&vec![b' '; 4 << 20]).unwrap();
        let opts = PutOptions {
            content_type: Some("application/json".into()),
            content_encoding: Some("gzip"),
            mode: PutMode::Create,
        };
        let req = alice
            .s3
            .put_object(
                BUCKET,
                &slot_key(&m, 3),
                z.finish().unwrap(),
                &opts,
                now_ms(),
            )
            .unwrap();
        let before = bucket_state(&client, &direct).await;
        let resp = send(&client, req).await;
        assert_eq!(resp.status, 400, "{}", String::from_utf8_lossy(&resp.body));
        assert!(String::from_utf8_lossy(&resp.body).contains("EntityTooLarge"));
        assert_eq!(
            bucket_state(&client, &direct).await,
            before,
            "a gzip bomb changed the bucket"
        );
    }

    // A probe, as a client's first write to a bucket makes one.
    let probe = probe_key(&m, "11111111-1111-4111-8111-000000000009");
    ok(
        &send(&client, put(&alice.s3, &probe, b"{}", PutMode::Create)).await,
        "a probe",
    );
    ok(
        &send(
            &client,
            alice
                .s3
                .delete_object(BUCKET, &probe, None, now_ms())
                .unwrap(),
        )
        .await,
        "the probe's delete",
    );

    // Credentials: expired, tampered, and tokens refused.
    let keys = session::parse_keys(SESSION_KEYS).unwrap();
    let expired = session::issue(&keys[0], "alice", &[], now_ms() - 1);
    let old = S3::new(
        S3Config::new(
            Some(&proxy),
            "us-east-1",
            Credentials::new(&expired.access_key_id, &expired.secret_access_key),
        )
        .unwrap(),
    );
    let resp = send(
        &client,
        old.get_object(BUCKET, &slot_key(&m, 1), &GetOptions::default(), now_ms())
            .unwrap(),
    )
    .await;
    assert!(
        String::from_utf8_lossy(&resp.body).contains("<Code>ExpiredToken</Code>"),
        "{}",
        String::from_utf8_lossy(&resp.body)
    );
    let fresh = session::issue(&keys[0], "alice", &[], now_ms() + 60_000);
    let mut parts: Vec<String> = fresh.access_key_id.split('.').map(String::from).collect();
    parts[2] = base64_claims(r#"{"s":"bob","r":[],"e":9999999999999}"#);
    let tampered = parts.join(".");
    let forged = S3::new(
        S3Config::new(
            Some(&proxy),
            "us-east-1",
            Credentials::new(&tampered, &fresh.secret_access_key),
        )
        .unwrap(),
    );
    let resp = send(
        &client,
        forged
            .get_object(BUCKET, &slot_key(&m, 1), &GetOptions::default(), now_ms())
            .unwrap(),
    )
    .await;
    assert!(String::from_utf8_lossy(&resp.body).contains("<Code>InvalidAccessKeyId</Code>"));

    let creds_url = format!("{proxy}/__mps3/credentials");
    let (status, _) = post_json(&client, &creds_url, None).await;
    assert_eq!(status, 401, "no token");
    let wrong_aud = token(&client, &proxy, "alice", Some("another-app")).await;
    let (status, body) = post_json(&client, &creds_url, Some(&wrong_aud)).await;
    assert_eq!(status, 401, "a token for another audience: {body}");
    // A token from another issuer (another proxy's provider).
    let other = start_proxy(&bed, &run, "mps3").await;
    let foreign = token(&client, &other, "alice", None).await;
    let (status, body) = post_json(&client, &creds_url, Some(&foreign)).await;
    assert_eq!(status, 401, "a token from another issuer: {body}");
    // `alg: none`, and a signature moved onto other claims.
    let good = token(&client, &proxy, "alice", None).await;
    let mut parts: Vec<&str> = good.split('.').collect();
    let none_header = base64_claims(r#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{none_header}.{}.", parts[1]);
    let (status, _) = post_json(&client, &creds_url, Some(&unsigned)).await;
    assert_eq!(status, 401, "alg none");
    let bob_claims = token(&client, &proxy, "bob", None).await;
    let bob_body = bob_claims.split('.').nth(1).unwrap().to_string();
    parts[1] = &bob_body;
    let (status, _) = post_json(&client, &creds_url, Some(&parts.join("."))).await;
    assert_eq!(status, 401, "a signature over other claims");
}

fn base64_claims(json: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs the test bed's S3: scripts/test.sh runs it"]
async fn the_compactor_checkpoints_and_collects_what_clients_behind_the_proxy_wrote() {
    use mps3::engine::db::{Ack, Change};
    use mps3::engine::object::Ref;
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let bed = bed();
            let run = format!("compact-{}", now_ms());
            let proxy = start_proxy(&bed, &run, "mps3").await;
            let client = http::client();
            let m = Ref::new(BUCKET, format!("{run}/board.json"));
            // Alice's client tries checkpoints every 8 entries: the proxy
            // refuses them, and her writes go on regardless.
            let alice = engine_client(&client, &proxy, "alice", 8).await;
            let bob = engine_client(&client, &proxy, "bob", 64).await;
            let mut expected = Vec::new();
            for i in 0..20 {
                let (db, who) = if i % 2 == 0 { (&alice, "alice") } else { (&bob, "bob") };
                let key = Ref::new(BUCKET, format!("{run}/notes/{who}/{}", i % 6));
                let value = format!("{{\n  \"n\": {i}\n}}");
                db.write(Change::Values(vec![(key.clone(), Some(value.clone().into()))]), std::slice::from_ref(&m), Some(Ack::Remote), None)
                    .await
                    .unwrap_or_else(|e| panic!("write {i} by {who}: {}", e.message));
                expected.retain(|(k, _): &(Ref, String)| *k != key);
                expected.push((key, value));
            }
            let direct = bed.direct();
            let keys = |state: &[(String, Option<String>)]| state.iter().map(|(k, _)| k.clone()).filter(|k| k.starts_with(&run)).collect::<Vec<_>>();
            let before = keys(&bucket_state(&client, &direct).await);
            assert!(!before.iter().any(|k| k.contains(".v2/cp/")), "a client's checkpoint got through: {before:#?}");

            // The compactor: checkpoints (every 16), then collects behind
            // (grace 0 for the test).
            let text = format!(
                "[upstream]\nendpoint = \"{}\"\nregion = \"{}\"\nbucket = \"{BUCKET}\"\n[dev_idp]\nenabled = true\n[compactor]\ncheckpoint_every = 16\ngrace_seconds = 0\n[[manifest]]\nkey = \"{run}/board.json\"\nread = \"authenticated\"\n",
                bed.endpoint, bed.region
            );
            let config = Config::parse(&text).unwrap();
            let compactor = mps3_proxy::compact::Compactor::new(&config, bed.key_id.clone(), bed.secret.clone(), false).unwrap();
            assert_eq!(compactor.run_once().await.unwrap(), vec![m.key.clone()]);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            compactor.run_once().await.unwrap();
            let after = keys(&bucket_state(&client, &direct).await);
            let checkpoint = format!("{}.v2/cp/00000000000000000020", m.key);
            assert!(after.contains(&checkpoint), "no checkpoint at the head: {after:#?}");
            assert!(!after.contains(&slot_key(&m.key, 1)), "slot 1 was not collected: {after:#?}");

            // A new client reads everything, from the checkpoint.
            let carol = engine_client(&client, &proxy, "carol", 64).await;
            for (key, value) in &expected {
                let got = carol.get(key, Some(&m)).await.unwrap();
                assert_eq!(got.as_deref(), Some(value.as_str()), "{}", key.key);
            }
            // And the writers go on after it.
            let key = Ref::new(BUCKET, format!("{run}/notes/bob/after"));
            bob.write(Change::Values(vec![(key.clone(), Some("1".into()))]), std::slice::from_ref(&m), Some(Ack::Remote), None)
                .await
                .unwrap();
            assert_eq!(carol.get(&key, Some(&m)).await.unwrap().as_deref(), Some("1"));
        })
        .await;
}

/// Credentials that expired while a client held them: the proxy answers
/// `ExpiredToken`, the client fetches new ones from its provider (the
/// proxy's credentials endpoint) and its write goes through.
#[tokio::test(flavor = "current_thread")]
#[ignore = "needs the test bed's S3: scripts/test.sh runs it"]
async fn expired_credentials_are_refreshed_and_the_write_goes_through() {
    use mps3::engine::db::{Ack, Change, Db, DbConfig};
    use mps3::engine::object::Ref;
    use mps3_proxy::native_io::NativeIo;
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let bed = bed();
            let run = format!("expiry-{}", now_ms());
            let proxy = start_proxy(&bed, &run, "mps3").await;
            let client = http::client();
            let keys = session::parse_keys(SESSION_KEYS).unwrap();
            let expired = session::issue(&keys[0], "alice", &[], now_ms() - 1);
            let mut c = Credentials::new(&expired.access_key_id, &expired.secret_access_key);
            c.writer_prefix = Some(expired.writer_prefix.clone());
            let mut s3c = S3Config::new(Some(&proxy), "us-east-1", c).unwrap();
            s3c.presign_reads = true;
            let mut cfg = DbConfig::new(BUCKET);
            cfg.autoclean = false;
            cfg.offline_storage = false;
            let mut io = NativeIo::new(http::client());
            let t = token(&client, &proxy, "alice", None).await;
            io.provider = Some((format!("{proxy}/__mps3/credentials"), t));
            let db = std::rc::Rc::new(Db::new(io, S3::new(s3c), cfg, 3).unwrap());
            db.start();
            let m = Ref::new(BUCKET, format!("{run}/board.json"));
            let key = Ref::new(BUCKET, format!("{run}/notes/alice/1"));
            db.write(
                Change::Values(vec![(key.clone(), Some("{\"n\":1}".into()))]),
                std::slice::from_ref(&m),
                Some(Ack::Remote),
                None,
            )
            .await
            .unwrap_or_else(|e| panic!("the write after a refresh: {}", e.message));
            assert_eq!(
                db.get(&key, Some(&m)).await.unwrap().as_deref(),
                Some("{\"n\":1}")
            );
            // The first request was refused as expired: the refresh was
            // needed, not skipped.
            let direct = bed.direct();
            let state = bucket_state(&client, &direct).await;
            assert!(state
                .iter()
                .any(|(k, _)| k == &format!("{run}/board.json.v2/log/00000000000000000001")));
        })
        .await;
}

/// Past its write limit the proxy answers `SlowDown` marked as its own
/// (`x-mps3-refused: rule`: the client does not retry the request, the
/// caller hears it), and writes nothing.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the test bed's S3: scripts/test.sh runs it"]
async fn past_the_write_limit_the_proxy_answers_slow_down_as_its_own() {
    let bed = bed();
    let run = format!("limit-{}", now_ms());
    let proxy = start_proxy_limited(&bed, &run, "mps3", 2).await;
    let client = http::client();
    let direct = bed.direct();
    let alice = sign_in(&client, &proxy, "alice").await;
    let m = format!("{run}/board.json");
    let aw = format!("{}-tab1", alice.writer_prefix);
    let own = format!("{run}/notes/alice/1");
    assert!(
        send(&client, put(&alice.s3, &m, b"\"v2\"", PutMode::Create))
            .await
            .is_success()
    );
    for n in 1..=2 {
        let body = entry(&aw, &n.to_string(), &[(&own, "{}")], &[]);
        let r = send(
            &client,
            put(&alice.s3, &slot_key(&m, n), &body, PutMode::Create),
        )
        .await;
        assert!(
            r.is_success(),
            "slot {n}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let before = bucket_state(&client, &direct).await;
    let body = entry(&aw, "3", &[(&own, "{}")], &[]);
    let r = send(
        &client,
        put(&alice.s3, &slot_key(&m, 3), &body, PutMode::Create),
    )
    .await;
    assert_eq!(r.status, 503);
    assert!(String::from_utf8_lossy(&r.body).contains("<Code>SlowDown</Code>"));
    assert_eq!(r.header("x-mps3-refused"), Some("rule"));
    let e = mps3::engine::s3::error_from_response(&r);
    assert!(e.by_rule, "the client reads it as the proxy's own");
    assert_eq!(
        bucket_state(&client, &direct).await,
        before,
        "a write past the limit changed the bucket"
    );
}
