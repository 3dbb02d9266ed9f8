//! The engine's formats from another crate, natively: the v2 log's entries
//! and checkpoints, the JSON reader and SigV4, through the crate's public
//! paths and nothing of the browser's (no wasm-bindgen, allocator or panic
//! handler). What a server of this repository that validates entries (the
//! auth proxy) builds on: the code that writes and reads them.
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::disallowed_methods,
    reason = "the size rules are for the shipped .wasm"
)]

use mps3::engine::credentials::Credentials;
use mps3::engine::json;
use mps3::engine::protocol::v2::format::{
    checkpoint_key, parse_checkpoint, parse_slot, slot_key, Entry, LogState, Stored,
};
use mps3::engine::sigv4::{sign_headers, Scope};

fn entry(writer: &str, write_id: &str, set: &[(&str, &str)], delete: &[&str]) -> Entry {
    let mut stored = Vec::new();
    for (url, uuid) in set {
        stored.push((
            url.to_string(),
            Stored {
                uuid: uuid.to_string(),
                // As the JS client writes values (`JSON.stringify(v, null,
                // 2)`), which is how a reader gives them back.
                inline: Some("{\n  \"n\": 1\n}".into()),
                content_type: None,
            },
        ));
    }
    Entry {
        writer: writer.into(),
        write_id: write_id.into(),
        at: 1_795_000_000_000,
        checkpoint: 0,
        set: stored,
        delete: delete.iter().map(|d| d.to_string()).collect(),
        traces: vec![(
            "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            vec!["b/a".into()],
        )],
    }
}

#[test]
fn an_entry_written_is_the_entry_read() {
    let e = entry("-w1", "00000000000000000001", &[("b/a", "u1")], &["b/gone"]);
    let text = e.to_text();
    assert_eq!(Entry::parse(text.as_bytes()).unwrap(), e);
    // The same text is JSON to any reader.
    let v = json::parse(text.as_bytes()).unwrap();
    assert_eq!(v.get("w").and_then(|w| w.as_str()), Some("-w1"));
    // What is not an entry is refused, not guessed at.
    assert!(Entry::parse(b"{\"v\":1}").is_err());
    assert!(Entry::parse(b"not json").is_err());
}

#[test]
fn slots_and_checkpoints_are_named_and_parsed_alike() {
    let key = slot_key("m.json", 42);
    assert_eq!(parse_slot("m.json", &key), Some(42));
    assert_eq!(parse_slot("other.json", &key), None);
    let cp = checkpoint_key("m.json", 64);
    assert_eq!(parse_checkpoint("m.json", &cp), Some(64));
    assert_eq!(parse_slot("m.json", &cp), None);
}

#[test]
fn a_log_applied_and_checkpointed_reads_back_the_same() {
    let mut log = LogState::default();
    log.apply(
        1,
        &entry("-w1", "00000000000000000001", &[("b/a", "u1")], &[]),
    )
    .unwrap();
    log.apply(
        2,
        &entry("-w2", "00000000000000000007", &[("b/c", "u2")], &["b/a"]),
    )
    .unwrap();
    assert_eq!(log.seq, 2);
    assert_eq!(log.has_write("-w2", "00000000000000000007"), Some(true));
    let text = log.checkpoint_text();
    let back = LogState::from_checkpoint(text.as_bytes()).unwrap();
    assert_eq!(back.checkpoint_text(), text);
    assert_eq!(back.seq, 2);
    assert!(back.keys.get("b/c").is_some() && back.keys.get("b/a").is_none());
}

/// AWS's documented example of a header-signed GET (S3 API reference,
/// "Signature Calculations for the Authorization Header", GET Object).
#[test]
fn sigv4_signs_aws_documented_example() {
    let creds = Credentials::new(
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    );
    let scope = Scope {
        region: "us-east-1",
        service: "s3",
        now: 1_369_353_600_000, // 2013-05-24T00:00:00Z
    };
    let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let headers = [
        ("host", "examplebucket.s3.amazonaws.com"),
        ("range", "bytes=0-9"),
        ("x-amz-content-sha256", empty),
        ("x-amz-date", "20130524T000000Z"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let auth = sign_headers(&creds, &scope, "GET", "/test.txt", &[], &headers, empty);
    assert_eq!(
        auth,
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
         SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
         Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    );
}
