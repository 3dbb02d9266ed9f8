//! The queue of writes not yet committed, as stored durably (IndexedDB in a
//! browser) so that a write accepted locally survives a reload or a crash.
//!
//! A record is written before the write is acknowledged locally and then
//! at each step that must not be repeated blindly:
//!
//! 1. accepted: the batch, the manifests, the content versions (uuids
//!    chosen up front, so a repeated content PUT rewrites the same object);
//! 2. `uploaded`: every content object is in the bucket (for a versioned
//!    bucket, `versions` now holds the bucket's version ids);
//! 3. an *attempt* per manifest, stored before its entry PUT is sent:
//!    where the entry goes (`protocol::Landing`, stored as its object's
//!    key and a number: a v1 entry's time, a v2 slot's). Whoever resumes the write finds out
//!    whether that entry landed, and in time, before writing another: an
//!    entry PUT whose answer was lost may still land, and committing twice
//!    would apply the write twice;
//! 4. `done` per manifest, once its entry is known valid;
//! 5. deleted, once every manifest is done.

use crate::prelude::*;

use super::Batch;
use crate::engine::error::{Error, Result};
use crate::engine::json::{self, JsonValue as Value};
use crate::engine::lean::scan::number;
use crate::engine::object::Ref;
use crate::engine::protocol::Landing;

/// A queued write, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct QueuedWrite {
    /// Its key in the queue table: the client's namespace, then a sequence
    /// that sorts in the order writes were made.
    pub key: String,
    pub batch: Batch,
    pub manifests: Vec<Ref>,
    /// Content version per batch item (`None`: a delete).
    pub versions: Vec<Option<String>>,
    pub uploaded: bool,
    /// The entry PUT last tried in each manifest.
    pub attempts: Vec<Attempt>,
    /// Manifest urls whose entry is known valid.
    pub done: Vec<String>,
    /// The conditions of an atomic write: (key url, version it must be
    /// at, `None`: absent), checked at the slot its entry lands in.
    pub checks: Vec<(String, Option<String>)>,
    /// Its trace id (W3C trace-context's 32 hex digits): in its entry and
    /// its requests' log events, and in every reader's `notify` event.
    pub trace: String,
}

/// An entry PUT a write made, or is about to make, in one manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    /// The manifest's url.
    pub manifest: String,
    /// Where the entry goes.
    pub at: Landing,
}

impl QueuedWrite {
    /// Where the entry PUT last tried in `manifest` goes, if any.
    pub fn attempt(&self, manifest: &Ref) -> Option<&Landing> {
        let url = manifest.url();
        self.attempts
            .iter()
            .find(|a| a.manifest == url)
            .map(|a| &a.at)
    }

    /// An entry PUT to `manifest` at `at` is tried (replacing the last).
    pub fn set_attempt(&mut self, manifest: &Ref, at: Landing) {
        self.forget_attempt(manifest);
        self.attempts.push(Attempt {
            manifest: manifest.url(),
            at,
        });
    }

    /// The entry PUT tried in `manifest` never landed and never will.
    pub fn forget_attempt(&mut self, manifest: &Ref) {
        let url = manifest.url();
        self.attempts.retain(|a| a.manifest != url);
    }

    pub fn is_done(&self, manifest: &str) -> bool {
        self.done.iter().any(|m| m == manifest)
    }

    pub fn to_text(&self) -> String {
        let s = |v: &str| Value::String(v.to_string());
        let opt = |v: Option<&str>| v.map_or(Value::Null, s);
        // Loops rather than `map(..).collect()`: each is its own adapter
        // in the .wasm.
        let mut batch = Vec::new();
        for (k, v) in &self.batch {
            batch.push(Value::Array(vec![s(&k.url()), opt(v.as_deref())]));
        }
        let mut manifests = Vec::new();
        for m in &self.manifests {
            manifests.push(s(&m.url()));
        }
        let mut versions = Vec::new();
        for v in &self.versions {
            versions.push(opt(v.as_deref()));
        }
        let mut attempts = Vec::new();
        for a in &self.attempts {
            let key = Ref::from_url(&a.manifest)
                .map(|m| m.key)
                .unwrap_or_default();
            let (object, at) = a.at.to_stored(&key);
            attempts.push(Value::Array(vec![
                s(&a.manifest),
                s(&object),
                Value::Number(num(at)),
            ]));
        }
        let mut done = Vec::new();
        for m in &self.done {
            done.push(s(m));
        }
        let mut checks = Vec::new();
        for (url, v) in &self.checks {
            checks.push(Value::Array(vec![s(url), opt(v.as_deref())]));
        }
        let mut o = Value::object();
        o.set("v", Value::Number("1".into()));
        o.set("batch", Value::Array(batch));
        o.set("manifests", Value::Array(manifests));
        o.set("versions", Value::Array(versions));
        o.set("uploaded", Value::Bool(self.uploaded));
        o.set("attempts", Value::Array(attempts));
        o.set("done", Value::Array(done));
        o.set("trace", s(&self.trace));
        if !checks.is_empty() {
            o.set("checks", Value::Array(checks));
        }
        o.to_pretty()
    }

    pub fn from_text(key: &str, text: &str) -> Result<QueuedWrite> {
        let v = json::parse(text.as_bytes())?;
        Self::from_json(key, &v)
            .ok_or_else(|| Error::bad_response(cat!("queued write \"", key, "\" is damaged")))
    }

    /// `None` for anything damaged (one error for all of it: each error
    /// built where it is found is a copy of the code that builds it).
    fn from_json(key: &str, v: &Value) -> Option<QueuedWrite> {
        fn arr<'a>(v: &'a Value, name: &str) -> Option<&'a [Value]> {
            match v.get(name) {
                Some(Value::Array(items)) => Some(items.as_slice()),
                _ => None,
            }
        }
        fn string(v: &Value) -> Option<String> {
            v.as_str().map(str::to_string)
        }
        fn opt_string(v: &Value) -> Option<Option<String>> {
            match v {
                Value::Null => Some(None),
                other => string(other).map(Some),
            }
        }
        // [text, text or null]: the batch's items and the checks.
        fn pairs(items: &[Value]) -> Option<Vec<(String, Option<String>)>> {
            let mut out = Vec::new();
            for item in items {
                let Value::Array(pair) = item else {
                    return None;
                };
                let [k, value] = pair.as_slice() else {
                    return None;
                };
                out.push((string(k)?, opt_string(value)?));
            }
            Some(out)
        }
        let mut batch = Vec::new();
        for (url, value) in pairs(arr(v, "batch")?)? {
            batch.push((Ref::from_url(&url).ok()?, value.map(Into::into)));
        }
        // Loops rather than `collect::<Option<Vec<_>>>`: each of those is
        // its own iterator adapter in the .wasm.
        let mut manifests = Vec::new();
        for m in arr(v, "manifests")? {
            manifests.push(Ref::from_url(&string(m)?).ok()?);
        }
        let mut versions = Vec::new();
        for v in arr(v, "versions")? {
            versions.push(opt_string(v)?);
        }
        let mut attempts = Vec::new();
        for a in arr(v, "attempts")? {
            let Value::Array(a) = a else { return None };
            let [m, obj, Value::Number(ts)] = a.as_slice() else {
                return None;
            };
            let (manifest, object) = (string(m)?, string(obj)?);
            let key = Ref::from_url(&manifest).ok()?.key;
            let at = Landing::from_stored(&key, &object, number(ts, 10)?.try_into().ok()?);
            attempts.push(Attempt { manifest, at });
        }
        let mut done = Vec::new();
        for d in arr(v, "done")? {
            done.push(string(d)?);
        }
        let checks = match v.get("checks") {
            Some(_) => pairs(arr(v, "checks")?)?,
            None => Vec::new(),
        };
        if versions.len() != batch.len() || manifests.is_empty() {
            return None;
        }
        Some(QueuedWrite {
            key: key.to_string(),
            batch,
            manifests,
            versions,
            uploaded: matches!(v.get("uploaded"), Some(Value::Bool(true))),
            attempts,
            done,
            checks,
            trace: v.get("trace").and_then(Value::as_str).unwrap_or("").into(),
        })
    }
}

/// Digits of a queue key's sequence number: keys sort as numbers do.
const SEQ_DIGITS: u8 = 20;

/// A sequence number as a fixed-width key part: keys sort as numbers do.
pub fn seq_key(seq: u64) -> String {
    cat!(zeros(seq, SEQ_DIGITS))
}

/// A queued write's key in the queue table: its client's namespace, its
/// sequence number ([`seq_key`]), and the tag of the client that made it
/// (tabs of one namespace never collide).
pub fn queue_key(namespace: &str, seq: u64, tag: &str) -> String {
    cat!(namespace, seq_key(seq), tag)
}

/// A queue key's parts after its namespace (see [`queue_key`]): a v2
/// entry names its writer by the tag and its write by the sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueKey<'a> {
    pub seq: &'a str,
    pub tag: &'a str,
}

impl<'a> QueueKey<'a> {
    pub fn parse(key: &'a str, namespace: &str) -> QueueKey<'a> {
        let rest = key.get(namespace.len()..).unwrap_or_default();
        let (seq, tag) = rest.split_at(rest.len().min(SEQ_DIGITS as usize));
        QueueKey { seq, tag }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_through_its_text() {
        let mut w = QueuedWrite {
            key: "ns00000000000000000001".into(),
            batch: vec![
                (Ref::new("b", "k/é \"q\""), Some("{\n  \"a\": 1\n}".into())),
                (Ref::new("b", "gone"), None),
            ],
            manifests: vec![Ref::new("b", "manifest.json"), Ref::new("c", "m2")],
            versions: vec![Some("uuid-1".into()), None],
            uploaded: true,
            attempts: vec![],
            done: vec![],
            checks: vec![],
            trace: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        };
        let unconditional = w.to_text();
        assert!(!unconditional.contains("checks"), "older readers' format");
        w.checks = vec![
            ("b/k/é \"q\"".into(), Some("uuid-0".into())),
            ("b/new".into(), None),
        ];
        let (m, m2) = (Ref::new("b", "manifest.json"), Ref::new("c", "m2"));
        let entry = |object: &str, ts| Landing::Entry {
            object: object.into(),
            ts,
        };
        w.set_attempt(&m, entry("manifest.json@0x1", 1_795_000_000_000));
        w.set_attempt(&m, entry("manifest.json@0x2", 1_795_000_000_001));
        // A v2 slot: stored as its object's key and number, read back as
        // a slot.
        w.set_attempt(&m2, Landing::Slot(7));
        w.done.push("c/m2".into());
        let text = w.to_text();
        assert!(
            text.contains("\"m2.v2/log/00000000000000000007\",\n      7\n"),
            "{text}"
        );
        let back = QueuedWrite::from_text(&w.key, &text).unwrap();
        assert_eq!(back, w);
        assert_eq!(
            back.attempt(&m),
            Some(&entry("manifest.json@0x2", 1_795_000_000_001)),
            "the latest attempt replaces the earlier"
        );
        assert_eq!(back.attempt(&m2), Some(&Landing::Slot(7)));
        assert!(back.is_done("c/m2") && !back.is_done("b/manifest.json"));
    }

    #[test]
    fn a_damaged_record_is_an_error_not_a_panic() {
        for text in [
            "",
            "{}",
            r#"{"batch":[["b/k"]],"manifests":["b/m"],"versions":[null],"attempts":[],"done":[]}"#,
            r#"{"batch":[],"manifests":[],"versions":[],"attempts":[],"done":[]}"#,
            r#"{"batch":[["b/k",null]],"manifests":["b/m"],"versions":[],"attempts":[],"done":[]}"#,
        ] {
            assert!(QueuedWrite::from_text("k", text).is_err(), "{text}");
        }
    }

    #[test]
    fn sequence_keys_sort_numerically() {
        assert!(seq_key(9) < seq_key(10));
        assert!(seq_key(u64::MAX - 1) < seq_key(u64::MAX));
        let key = queue_key("ns", 42, "-a1");
        assert_eq!(
            QueueKey::parse(&key, "ns"),
            QueueKey {
                seq: "00000000000000000042",
                tag: "-a1"
            }
        );
    }
}
