//! Resolving the bucket dumps written by mps3 0.0.81 (tests/fixtures/mps3-0.0.81):
//! every read the JS client made must resolve to the same value here.

use std::path::Path;
use std::rc::Rc;

use serde_json::Value;

use super::*;
use crate::engine::object::Ref;
use crate::engine::time::parse_iso8601;

fn fixture_dir() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mps3-0.0.81");
    assert!(dir.is_dir(), "fixtures missing at {}", dir.display());
    dir
}

/// The log of `manifest_key` in a dump, every body known.
fn log_of(objects: &[Value], manifest_key: &str) -> Vec<KnownEntry> {
    objects
        .iter()
        .filter_map(|o| {
            let key = o["key"].as_str()?;
            let parsed = parse_entry_key(manifest_key, key)?;
            Some(KnownEntry {
                key: key.to_string(),
                ts: parsed.ts,
                last_modified: parse_iso8601(o["last_modified"].as_str()?).ok()?,
                body: Body::fetched(
                    EntryBody::parse(o["body"].as_str()?.as_bytes())
                        .ok()
                        .map(Rc::new),
                ),
            })
        })
        .collect()
}

/// The content a file ref points at, as the dump holds it.
fn content(dump: &Value, bucket_key: &str, version: &str) -> Option<String> {
    let versioned = dump["bucket_versioning"].as_bool().unwrap_or(false);
    if versioned {
        dump["all_versions"].as_array()?.iter().find_map(|o| {
            (o["key"] == bucket_key && o["version_id"] == version)
                .then(|| o["body"].as_str().unwrap().to_string())
        })
    } else {
        let key = format!("{bucket_key}@{version}");
        dump["objects"].as_array()?.iter().find_map(|o| {
            (o["key"] == key.as_str()).then(|| o["body"].as_str().unwrap().to_string())
        })
    }
}

#[test]
fn resolves_every_read_of_the_js_client() {
    let mut files: Vec<_> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 10);
    let mut reads_checked = 0;
    for path in files {
        let dump: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let bucket = dump["bucket"].as_str().unwrap();
        let objects = dump["objects"].as_array().unwrap();
        for (manifest_key, reads) in dump["expected_by_manifest"].as_object().unwrap() {
            let log = log_of(objects, manifest_key);
            assert!(needed_bodies(&log).is_empty());
            let r = resolve(&log);
            for (key, expected) in reads.as_object().unwrap() {
                let detail = &dump["expected_detail"][key];
                // `null` means absent, except where the detail says a real
                // JSON null was read (json-types' t-null).
                let expected: Option<Value> = match detail.get("value") {
                    Some(v) if detail["manifest"] == manifest_key.as_str() => Some(v.clone()),
                    _ if expected.is_null() => None,
                    _ => Some(expected.clone()),
                };
                let url = Ref::new(bucket, key.clone()).url();
                let got: Option<Value> = r.files.get(&url).map(|f| {
                    let body = content(&dump, key, &f.version).unwrap_or_else(|| {
                        panic!("{name}: content of {url}@{} missing", f.version)
                    });
                    serde_json::from_str(&body).unwrap()
                });
                assert_eq!(got, expected, "{name}: {manifest_key} {key}");
                reads_checked += 1;
            }
            // Nothing the JS client left was garbage except in the spaced
            // autoclean run, which already collected it.
            if name != "autoclean-on-spaced.json" {
                assert!(
                    r.garbage.is_empty() || name.starts_with("two-writers"),
                    "{name}: {:?}",
                    r.garbage
                );
            }
        }
    }
    // Every logical key of every scenario, per manifest read.
    assert_eq!(reads_checked, 37);
}

#[test]
fn concurrent_writers_resolve_through_the_window_not_files() {
    // All 20 entries have `files: {}`: only the replayed updates hold state.
    let dump: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture_dir().join("two-writers-concurrent.json")).unwrap(),
    )
    .unwrap();
    let log = log_of(dump["objects"].as_array().unwrap(), "manifest.json");
    assert_eq!(log.len(), 20);
    assert!(log
        .iter()
        .all(|e| e.body.parsed().unwrap().files == crate::engine::json::JsonValue::object()));
    let r = resolve(&log);
    assert_eq!(r.files.len(), 3);
    assert_eq!(r.included.len(), 20);
}

#[test]
fn skewed_entries_are_ignored_and_old_ones_are_garbage() {
    let e = |key: &str, ts: i64, lm: i64, url: &str, v: &str| KnownEntry {
        key: key.to_string(),
        ts,
        last_modified: lm,
        body: Body::Parsed(Rc::new(EntryBody::new(
            &Files::new(),
            &[(url.to_string(), Some(v.to_string()))],
        ))),
    };
    let t = 1_000_000;
    let log = vec![
        e("m@1", t + 20_000, t + 14_000, "b/a", "future"), // 6 s skew: ignored
        e("m@2", t + 10_000, t + 10_500, "b/a", "base"),
        e("m@3", t + 6_000, t + 6_100, "b/c", "in-window"),
        e("m@4", t + 4_999, t + 5_000, "b/d", "too-old"),
    ];
    let r = resolve(&log);
    assert_eq!(r.base, Some(("m@2".into(), t + 10_000)));
    assert_eq!(r.files.get("b/a").unwrap().version, "base");
    assert_eq!(r.files.get("b/c").unwrap().version, "in-window");
    assert!(
        !r.files.contains_key("b/d"),
        "outside the window and not in the base's files"
    );
    assert_eq!(r.garbage, vec!["m@4".to_string()]);
    assert_eq!(
        r.included,
        vec!["m@2".to_string(), "m@3".into(), "m@4".into()]
    );
    assert_eq!(r.newest_ts, Some(t + 10_000));

    // A body that is not an entry moves the base to the next one.
    let mut broken = log.clone();
    broken[1].body = Body::Invalid;
    let r = resolve(&broken);
    assert_eq!(r.base.unwrap().0, "m@3");
    // Unknown bodies are asked for, window first.
    let mut unknown = log;
    for x in &mut unknown {
        x.body = Body::NotFetched;
    }
    assert_eq!(
        needed_bodies(&unknown),
        vec!["m@2".to_string(), "m@3".into()]
    );
}
