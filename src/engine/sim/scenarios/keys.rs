//! Keys with `.` and `..` segments, between this client and mps3 0.0.81.
//!
//! mps3 sends a key's content as `<bucket>/` then `encodeURIComponent` of
//! `<key>@<uuid>`: its request traces (tests/fixtures/mps3-0.0.81,
//! `special-keys.json`) show `dir/sub/key@…` sent as `dir%2Fsub%2Fkey%40…`.
//! With every `/` encoded, the browser's URL parser finds no dot segment
//! to resolve, and the content object is `<key>@<uuid>` exactly as given;
//! its manifest keeps the key as given too. This client sends such keys
//! with their `/` encoded as well (`S3::locate`), so both read what the
//! other wrote. The simulation's edge resolves dot segments as `fetch`
//! would (`as_fetch_sends`), so a request that a browser would send
//! elsewhere lands elsewhere here.

use super::*;
use crate::engine::encode::uri_encode;
use crate::engine::http::Method;
use crate::engine::json::quote;
use crate::engine::protocol::v1::EntryKey;
use crate::engine::s3::in_memory::as_fetch_sends;

const KEYS: [&str; 6] = ["a/../b", "./x", "x/.", "..", ".", "../up/./c"];

/// A request for a key's content as mps3 0.0.81 makes it (unsigned: the
/// in-memory S3 checks no signature).
fn mps3_content_request(method: Method, key: &str, uuid: &str, body: &str) -> HttpRequest {
    HttpRequest {
        method,
        url: as_fetch_sends(&format!(
            "http://s3.sim/{BUCKET}/{}",
            uri_encode(&format!("{key}@{uuid}"), false)
        )),
        headers: Vec::new(),
        body: body.as_bytes().to_vec(),
        finish_offline: false,
        trace: None,
    }
}

/// A bucket as mps3 0.0.81 leaves it after writing each of `KEYS`: the
/// content at mps3's URLs, then one entry naming them all.
#[test]
pub(super) fn keys_with_dot_segments_written_by_mps3_read_back_here() {
    let p = quiet_params(false);
    let world = quiet_world(&p, 31);
    let World { exec, model, .. } = &world;
    let now = exec.now();
    let mut files = Vec::new();
    for (i, key) in KEYS.iter().enumerate() {
        let uuid = format!("00000000-0000-4000-8000-00000000000{i}");
        let value = quote(&format!("from mps3: {key}"));
        let put = mps3_content_request(Method::Put, key, &uuid, &value);
        assert_eq!(model.borrow_mut().apply(&put, now).status, 200);
        files.push(format!(
            "{}: {{\"version\": {}, \"replication\": \"\"}}",
            quote(&format!("{BUCKET}/{key}")),
            quote(&uuid)
        ));
    }
    let (entry, _) = EntryKey::new(MANIFEST, now, "mps3js", 0);
    let body = format!("{{\"files\": {{{}}}}}", files.join(", "));
    let put = HttpRequest {
        method: Method::Put,
        url: format!("http://s3.sim/{BUCKET}/{}", uri_encode(&entry, true)),
        headers: Vec::new(),
        body: body.into_bytes(),
        finish_offline: false,
        trace: None,
    };
    assert_eq!(model.borrow_mut().apply(&put, now).status, 200);
    let c = world.client(&p, 0, 0, 1);
    let db = c.db;
    let refs: Vec<Ref> = KEYS.iter().map(|k| Ref::new(BUCKET, *k)).collect();
    let read = finish(exec, async move { values(&db, &refs).await }).unwrap();
    let read: Vec<Option<String>> = read.iter().map(|v| v.as_ref().map(unjson)).collect();
    let expected: Vec<Option<String>> = KEYS
        .iter()
        .map(|k| Some(format!("from mps3: {k}")))
        .collect();
    assert_eq!(read, expected);
}

/// Each of `KEYS` written here is where mps3 0.0.81 looks for it.
#[test]
pub(super) fn keys_with_dot_segments_written_here_are_where_mps3_reads() {
    let p = quiet_params(false);
    let world = quiet_world(&p, 32);
    let World { exec, model, .. } = &world;
    let c = world.client(&p, 0, 0, 1);
    for key in KEYS {
        let db = c.db.clone();
        let value = json(&format!("from here: {key}"));
        finish(exec, async move {
            put(&db, Ref::new(BUCKET, key), Some(value)).await
        })
        .unwrap();
    }
    let objects: Vec<String> = model.borrow().buckets[0]
        .1
        .objects
        .iter()
        .map(|(k, _)| k.clone())
        .collect();
    for key in KEYS {
        let prefix = format!("{key}@");
        let uuid = objects
            .iter()
            .find_map(|o| o.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no content object for {key:?} in {objects:?}"));
        let get = mps3_content_request(Method::Get, key, uuid, "");
        let got = model.borrow_mut().apply(&get, exec.now());
        assert_eq!(got.status, 200, "{key}");
        assert_eq!(
            unjson(&String::from_utf8(got.body).unwrap().into()),
            format!("from here: {key}")
        );
    }
}
