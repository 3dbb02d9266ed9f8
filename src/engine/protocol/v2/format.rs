//! Protocol v2's objects (docs/protocol-v2.md): where a manifest's log
//! slots, checkpoints, hint and content live, entries and checkpoints as
//! JSON, and the state a log folds to. Pure: it makes no request; the
//! wing's reads, writes and checkpoints, and the proxy to come, share it.

use crate::prelude::*;

use crate::engine::error::{Error, Result};
use crate::engine::json::{self, quote, JsonValue};
use crate::engine::lean::scan::number;
use crate::engine::lean::vec_map::VecMap;
use crate::engine::object::JsonText;

/// Digits of a sequence number in an object's key: zero-padded, so that
/// listing order (byte order) is numeric order.
const SEQ_DIGITS: u8 = 20;

fn seq_text(seq: u64) -> String {
    cat!(zeros(seq, SEQ_DIGITS))
}

/// Every object of the v2 manifest `manifest` is under this prefix.
pub fn prefix(manifest: &str) -> String {
    cat!(manifest, ".v2/")
}

/// The log slot `seq`, created with `If-None-Match: *` by its one writer.
pub fn slot_key(manifest: &str, seq: u64) -> String {
    cat!(prefix(manifest), "log/", seq_text(seq))
}

/// The checkpoint of the state after entry `seq`.
pub fn checkpoint_key(manifest: &str, seq: u64) -> String {
    cat!(prefix(manifest), "cp/", seq_text(seq))
}

/// The hint naming the newest checkpoint its writer knew.
pub fn hint_key(manifest: &str) -> String {
    cat!(prefix(manifest), "head")
}

/// The probe object a client creates twice to learn whether the bucket
/// enforces `If-None-Match: *`.
pub fn probe_key(manifest: &str, uuid: &str) -> String {
    cat!(prefix(manifest), "probe/", uuid)
}

/// The sequence number of `key` if it is a slot of `manifest`.
pub fn parse_slot(manifest: &str, key: &str) -> Option<u64> {
    parse_numbered(key, &cat!(prefix(manifest), "log/"))
}

/// The sequence number of `key` if it is a checkpoint of `manifest`.
pub fn parse_checkpoint(manifest: &str, key: &str) -> Option<u64> {
    parse_numbered(key, &cat!(prefix(manifest), "cp/"))
}

fn parse_numbered(key: &str, prefix: &str) -> Option<u64> {
    let digits = key.strip_prefix(prefix)?;
    (digits.len() == SEQ_DIGITS as usize).then(|| number(digits, 10))?
}

/// Where a key's value is. Both kinds carry the uuid its writer gave the
/// value: what tells one write of a key from another before its slot is
/// known (a local write's subscribers are not told its value twice).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub uuid: String,
    /// The value itself (JSON text), when small enough to travel in the
    /// entry; `None`: in the content object `<key>@<uuid>`, as in v1.
    pub inline: Option<JsonText>,
    pub content_type: Option<String>,
}

impl Stored {
    fn write(&self, out: &mut String) {
        out.push_str("{\"u\":");
        out.push_str(&quote(&self.uuid));
        if let Some(text) = &self.inline {
            out.push_str(",\"i\":");
            out.push_str(text);
        }
        if let Some(t) = &self.content_type {
            out.push_str(",\"ct\":");
            out.push_str(&quote(t));
        }
    }

    fn read(v: &JsonValue) -> Result<Stored> {
        let uuid = v
            .get("u")
            .and_then(JsonValue::as_str)
            .ok_or_else(|| Error::bad_response("a v2 value without its uuid"))?;
        Ok(Stored {
            uuid: uuid.to_string(),
            inline: v.get("i").map(|i| i.to_pretty().into()),
            content_type: v.get("ct").and_then(JsonValue::as_str).map(String::from),
        })
    }
}

/// The trace ids of the writes an entry carries, each with the keys (urls)
/// it set or deleted: what readers log as they apply it.
pub type Traces = Vec<(String, Vec<String>)>;

/// One write, as its slot holds it. Its size depends on its own change
/// only, never on how many keys the database holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The writing client.
    pub writer: String,
    /// Unique per write: what a writer looks for in a slot whose answer
    /// it lost.
    pub write_id: String,
    /// The writer's clock when it wrote (informational only).
    pub at: i64,
    /// The newest checkpoint the writer knew.
    pub checkpoint: u64,
    pub set: Vec<(String, Stored)>,
    pub delete: Vec<String>,
    /// `tr`: `{ trace: [url, ...] }`, absent when no write had one.
    pub traces: Traces,
}

impl Entry {
    pub fn to_text(&self) -> String {
        let mut out = cat!(
            "{\"v\":2,\"w\":",
            quote(&self.writer),
            ",\"id\":",
            quote(&self.write_id),
            ",\"t\":",
            self.at,
            ",\"cp\":",
            self.checkpoint,
            ",\"set\":{"
        );
        for (i, (key, stored)) in self.set.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&quote(key));
            out.push(':');
            stored.write(&mut out);
            out.push('}');
        }
        out.push_str("},\"del\":");
        quote_list(&mut out, &self.delete);
        if !self.traces.is_empty() {
            out.push_str(",\"tr\":{");
            for (i, (trace, urls)) in self.traces.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&quote(trace));
                out.push(':');
                quote_list(&mut out, urls);
            }
            out.push('}');
        }
        out.push('}');
        out
    }

    /// The keys it sets, then those it deletes. (A vector, not a chain of
    /// iterators: each chain is a copy of its adapters' code.)
    pub fn keys(&self) -> Vec<&String> {
        let mut keys = Vec::new();
        for (k, _) in &self.set {
            keys.push(k);
        }
        for k in &self.delete {
            keys.push(k);
        }
        keys
    }

    /// The trace id of the write that set or deleted `url`, if it had one.
    pub fn trace_of(&self, url: &str) -> Option<&str> {
        let (trace, _) = self
            .traces
            .iter()
            .find(|(_, urls)| urls.iter().any(|u| u == url))?;
        Some(trace)
    }

    /// An entry's body; fields it does not know are ignored (room for
    /// trace ids and conditions).
    /// A slot's entry. A body that is not one is applied as a change of
    /// nothing, the same by every reader.
    pub fn parse_or_nothing(body: &[u8]) -> Entry {
        Entry::parse(body).unwrap_or(Entry {
            writer: String::new(),
            write_id: String::new(),
            at: 0,
            checkpoint: 0,
            set: Vec::new(),
            delete: Vec::new(),
            traces: Vec::new(),
        })
    }

    pub fn parse(body: &[u8]) -> Result<Entry> {
        let v = json::parse(body)?;
        if v.get("v").and_then(number_of) != Some(2) {
            return Err(Error::bad_response("not a v2 log entry"));
        }
        let text = |name: &str| {
            v.get(name)
                .and_then(JsonValue::as_str)
                .map(String::from)
                .ok_or_else(|| Error::bad_response(cat!("a v2 entry without \"", name, "\"")))
        };
        let mut set = Vec::new();
        for (key, stored) in v.get("set").and_then(JsonValue::as_object).unwrap_or(&[]) {
            set.push((key.clone(), Stored::read(stored)?));
        }
        let delete = strings(v.get("del"))?;
        let mut traces = Vec::new();
        for (trace, urls) in v.get("tr").and_then(JsonValue::as_object).unwrap_or(&[]) {
            traces.push((trace.clone(), strings(Some(urls))?));
        }
        Ok(Entry {
            writer: text("w")?,
            write_id: text("id")?,
            at: v.get("t").and_then(number_of).unwrap_or(0) as i64,
            checkpoint: v.get("cp").and_then(number_of).unwrap_or(0),
            set,
            delete,
            traces,
        })
    }
}

/// `["a", "b"]` written into `out`.
fn quote_list(out: &mut String, items: &[String]) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&quote(item));
    }
    out.push(']');
}

/// An array of strings (absent: none).
fn strings(v: Option<&JsonValue>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if let Some(JsonValue::Array(items)) = v {
        for item in items {
            let s = item
                .as_str()
                .ok_or_else(|| Error::bad_response("a v2 entry's list holds a non-string"))?;
            out.push(s.to_string());
        }
    }
    Ok(out)
}

fn number_of(v: &JsonValue) -> Option<u64> {
    match v {
        JsonValue::Number(n) => number(n, 10),
        _ => None,
    }
}

/// A key's value and version: the sequence number of the entry that last
/// wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyState {
    pub stored: Stored,
    pub version: u64,
}

/// How many writers the state remembers (the most recent): what settles
/// whether a write whose answer was lost landed, however long ago.
pub const WRITERS_KEPT: usize = 1024;

/// The state a log folds to, at sequence number `seq`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogState {
    pub seq: u64,
    pub keys: VecMap<String, KeyState>,
    /// Writer → the id of its last write in the log and that write's slot.
    /// A writer's ids grow with each write and its writes land in the
    /// order made, so a write landed iff its id is at most its writer's
    /// here: exactly once, decided by the log (and across collection,
    /// since checkpoints carry it), never by a clock.
    pub writers: VecMap<String, (String, u64)>,
}

impl LogState {
    /// Applies the entry of slot `seq`, which must be the next one: a log
    /// is read without gaps.
    pub fn apply(&mut self, seq: u64, entry: &Entry) -> Result<()> {
        if seq != self.seq + 1 {
            return Err(Error::bad_response(cat!(
                "slot ",
                seq,
                " applied at ",
                self.seq,
                ": the log is read in order"
            )));
        }
        for (key, stored) in &entry.set {
            self.keys.insert(
                key.clone(),
                KeyState {
                    stored: stored.clone(),
                    version: seq,
                },
            );
        }
        for key in &entry.delete {
            self.keys.remove(key.as_str());
        }
        self.writers
            .insert(entry.writer.clone(), (entry.write_id.clone(), seq));
        if self.writers.len() > WRITERS_KEPT {
            let oldest = self
                .writers
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(w, _)| w.clone());
            if let Some(w) = oldest {
                self.writers.remove(w.as_str());
            }
        }
        self.seq = seq;
        Ok(())
    }

    /// Whether the write `write_id` of `writer` is in the log: `None` when
    /// the state does not remember the writer.
    pub fn has_write(&self, writer: &str, write_id: &str) -> Option<bool> {
        let (last, _) = self.writers.get(writer)?;
        Some(write_id <= last.as_str())
    }

    /// The checkpoint body: a function of the state alone (keys in order),
    /// so that clients racing to create the same checkpoint write the same
    /// bytes.
    pub fn checkpoint_text(&self) -> String {
        self.checkpoint_text_with(&[])
    }

    /// The checkpoint body with `gc`: content (url, uuid) that the entries
    /// since the previous checkpoint superseded, for the collector.
    pub fn checkpoint_text_with(&self, gc: &[(String, String)]) -> String {
        let mut out = cat!("{\"v\":2,\"seq\":", self.seq, ",\"keys\":{");
        for (i, (key, state)) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&quote(key));
            out.push(':');
            state.stored.write(&mut out);
            out.push_str(&cat!(",\"ver\":", state.version, "}"));
        }
        out.push_str("},\"w\":{");
        for (i, (writer, (id, seq))) in self.writers.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&cat!(quote(writer), ":[", quote(id), ",", seq, "]"));
        }
        out.push_str("},\"gc\":[");
        for (i, (url, uuid)) in gc.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&cat!("[", quote(url), ",", quote(uuid), "]"));
        }
        out.push_str("]}");
        out
    }

    pub fn from_checkpoint(body: &[u8]) -> Result<LogState> {
        let v = json::parse(body)?;
        if v.get("v").and_then(number_of) != Some(2) {
            return Err(Error::bad_response("not a v2 checkpoint"));
        }
        let seq = v
            .get("seq")
            .and_then(number_of)
            .ok_or_else(|| Error::bad_response("a v2 checkpoint without \"seq\""))?;
        let mut keys = VecMap::new();
        for (key, s) in v.get("keys").and_then(JsonValue::as_object).unwrap_or(&[]) {
            let version = s
                .get("ver")
                .and_then(number_of)
                .ok_or_else(|| Error::bad_response("a v2 checkpoint key without \"ver\""))?;
            keys.insert(
                key.clone(),
                KeyState {
                    stored: Stored::read(s)?,
                    version,
                },
            );
        }
        let mut writers = VecMap::new();
        for (writer, w) in v.get("w").and_then(JsonValue::as_object).unwrap_or(&[]) {
            if let JsonValue::Array(parts) = w {
                if let [JsonValue::String(id), at] = parts.as_slice() {
                    writers.insert(writer.clone(), (id.clone(), number_of(at).unwrap_or(0)));
                }
            }
        }
        Ok(LogState { seq, keys, writers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inline(text: &str) -> Stored {
        Stored {
            uuid: "u".into(),
            inline: Some(text.into()),
            content_type: None,
        }
    }

    fn content(uuid: &str, content_type: Option<&str>) -> Stored {
        Stored {
            uuid: uuid.into(),
            inline: None,
            content_type: content_type.map(String::from),
        }
    }

    fn entry(id: &str, set: Vec<(&str, Stored)>, delete: Vec<&str>) -> Entry {
        Entry {
            writer: "w1".into(),
            write_id: id.into(),
            at: 1_795_000_000_000,
            checkpoint: 0,
            set: set.into_iter().map(|(k, s)| (k.to_string(), s)).collect(),
            delete: delete.into_iter().map(String::from).collect(),
            traces: Vec::new(),
        }
    }

    #[test]
    fn slots_list_in_numeric_order_and_parse_back() {
        let keys: Vec<String> = [9u64, 10, 11, 99, 100, 12_345_678_901]
            .iter()
            .map(|&s| slot_key("m.json", s))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(sorted, keys, "byte order is numeric order");
        assert_eq!(keys[1], "m.json.v2/log/00000000000000000010");
        for (k, s) in keys.iter().zip([9u64, 10, 11, 99, 100, 12_345_678_901]) {
            assert_eq!(parse_slot("m.json", k), Some(s));
            assert_eq!(parse_checkpoint("m.json", k), None);
        }
        assert_eq!(
            parse_checkpoint("m.json", &checkpoint_key("m.json", 64)),
            Some(64)
        );
        assert_eq!(parse_slot("m.json", "m.json.v2/log/12"), None, "unpadded");
        assert_eq!(parse_slot("other", &keys[0]), None);
        assert!(hint_key("m.json").starts_with(&prefix("m.json")));
        assert!(probe_key("m.json", "u").starts_with(&prefix("m.json")));
    }

    #[test]
    fn entries_round_trip_and_ignore_unknown_fields() {
        let e = entry(
            "id-1",
            vec![
                ("a", inline("{\n  \"n\": 1.50,\n  \"s\": \"é\\\"\"\n}")),
                ("b", inline("[]")),
                ("c/../d", inline("null")),
                ("photo", content("u-1", Some("image/png"))),
                ("big", content("u-2", None)),
            ],
            vec!["gone", "\"quoted\""],
        );
        let text = e.to_text();
        assert_eq!(Entry::parse(text.as_bytes()).unwrap(), e);
        let mut traced = e.clone();
        traced.traces = vec![
            (
                "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                vec!["a".into(), "gone".into()],
            ),
            ("00f067aa0ba902b7".into(), vec!["b".into()]),
        ];
        assert_eq!(Entry::parse(traced.to_text().as_bytes()).unwrap(), traced);
        assert!(!text.contains("\"tr\""), "no traces, no field");
        // A later writer's field is ignored.
        let extended = text.replacen("{\"v\":2,", "{\"v\":2,\"trace\":\"4bf9\",", 1);
        assert_eq!(Entry::parse(extended.as_bytes()).unwrap(), e);
        assert!(Entry::parse(b"{\"v\":1,\"w\":\"x\",\"id\":\"y\"}").is_err());
        assert!(Entry::parse(b"{\"files\":{}}").is_err(), "a v1 entry");
    }

    #[test]
    fn an_entry_is_as_large_as_its_change_whatever_the_state() {
        let small = entry("id", vec![("k", inline("1"))], vec![]).to_text();
        let mut state = LogState::default();
        for seq in 1..=1000 {
            let key = format!("key-{seq}");
            state
                .apply(seq, &entry("x", vec![(key.as_str(), inline("1"))], vec![]))
                .unwrap();
        }
        let after = entry("id", vec![("k", inline("1"))], vec![]).to_text();
        assert_eq!(small.len(), after.len());
    }

    #[test]
    fn the_log_folds_in_order_and_versions_are_slots() {
        let mut s = LogState::default();
        s.apply(
            1,
            &entry("1", vec![("a", inline("1")), ("b", inline("2"))], vec![]),
        )
        .unwrap();
        s.apply(2, &entry("2", vec![("a", inline("3"))], vec!["b"]))
            .unwrap();
        assert!(s.apply(4, &entry("4", vec![], vec![])).is_err(), "a gap");
        assert!(s.apply(2, &entry("2", vec![], vec![])).is_err(), "again");
        assert_eq!(s.seq, 2);
        assert_eq!(
            s.keys.get("a"),
            Some(&KeyState {
                stored: inline("3"),
                version: 2
            })
        );
        assert_eq!(s.keys.get("b"), None);
    }

    #[test]
    fn checkpoints_are_deterministic_and_round_trip() {
        // The same state reached with its keys set in another order.
        let state = |first: Vec<(&str, Stored)>| {
            let mut s = LogState::default();
            s.apply(1, &entry("1", first, vec![])).unwrap();
            s.apply(
                2,
                &entry("2", vec![("p", content("u", Some("image/png")))], vec![]),
            )
            .unwrap();
            s
        };
        let one = state(vec![("z", inline("1")), ("a", inline("\"x\""))]);
        let two = state(vec![("a", inline("\"x\"")), ("z", inline("1"))]);
        assert_eq!(one.checkpoint_text(), two.checkpoint_text());
        let back = LogState::from_checkpoint(one.checkpoint_text().as_bytes()).unwrap();
        assert_eq!(back, one);
        assert!(LogState::from_checkpoint(b"{\"v\":2}").is_err());
    }
}
