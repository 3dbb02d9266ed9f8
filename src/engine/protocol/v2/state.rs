//! What a client knows of a v2 manifest, and what it keeps of the
//! entries it applied (for `inspect`, subscribers' meta, the entry a
//! write at the head of the order carries along).

use crate::prelude::*;

use super::format::{Entry, LogState, Stored, Traces};
use crate::engine::json::quote;
use crate::engine::lean::vec_map::VecMap;
use crate::engine::protocol::Protocol;
use crate::engine::protocol::{FileRef, Files};
use crate::engine::s3::ListEntry;
use crate::engine::time::EpochMillis;

/// What a client knows of a v2 manifest.
#[derive(Default)]
pub struct V2State {
    pub log: LogState,
    /// Local time of the last read that found the slot after the head
    /// empty: a client that read it long ago reads the listing again.
    pub read_at: Option<EpochMillis>,
    /// The newest checkpoint known to exist.
    pub checkpoint: u64,
    /// Content (url, uuid) superseded by the entries read since slot
    /// `superseded_from`: what the next checkpoint lists for collection.
    pub superseded: Vec<(String, String)>,
    pub superseded_from: Option<u64>,
    /// Checkpoints whose garbage this client collected already.
    pub collected_through: u64,
    /// Polls since the guard was last checked.
    pub polls: u32,
    /// The checkpoints as listed beside the guard's GET, for the first
    /// read (one round trip fewer) if it comes soon enough.
    pub checkpoints_listed: Option<CheckpointsListed>,
    /// The last entries applied, newest last: what `inspect` shows.
    pub recent: Vec<Applied>,
    /// Per key, the writer, time and trace id of the entry that last
    /// changed it, of those this client applied: a key subscriber's meta.
    pub written_by: VecMap<String, WrittenBy>,
}

/// The checkpoints of a manifest as a listing showed them, and when.
pub struct CheckpointsListed {
    /// The client's clock when the listing was asked for.
    pub at: EpochMillis,
    pub entries: Vec<ListEntry>,
}

/// Who wrote a key's value, as the entry that set it says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WrittenBy {
    pub writer: String,
    /// The writer's clock, epoch ms.
    pub at: i64,
    pub trace: Option<String>,
}

/// An entry as `inspect` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Its slot.
    pub seq: u64,
    pub writer: String,
    /// The writer's clock, epoch ms.
    pub at: i64,
    /// The urls it set or deleted.
    pub keys: Vec<String>,
}

/// How many applied entries a client remembers for `inspect`.
const RECENT_KEPT: usize = 8;

/// What `inspect` tells of a manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inspection {
    pub protocol: Option<Protocol>,
    /// v2: the newest slot read, the newest checkpoint known, and the last
    /// entries applied.
    pub head: u64,
    pub checkpoint: u64,
    pub recent: Vec<Applied>,
    /// This client's writer id: what the entries it writes name (so that
    /// an app can tell its own among `recent`, and name it).
    pub writer: String,
    /// Whether values are encrypted (`None`: in clear).
    pub encryption: Option<Encrypted>,
}

/// An encrypted manifest, as `inspect` tells of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Encrypted {
    /// The id of the key new values are sealed with, once this client has
    /// read the ring (never a key).
    pub key: Option<String>,
}

impl Inspection {
    /// As JSON: `{ protocol, head, checkpoint, writer, entries: [{ seq,
    /// writer, at, keys }] }` (one conversion for the edge, not one per
    /// field).
    pub fn to_json(&self) -> String {
        let protocol = match self.protocol {
            Some(Protocol::V2) => "\"v2\"",
            Some(_) => "\"v1\"",
            None => "null",
        };
        let mut out = cat!(
            "{\"protocol\":",
            protocol,
            ",\"head\":",
            self.head,
            ",\"checkpoint\":",
            self.checkpoint,
            ",\"writer\":",
            quote(&self.writer),
            ",\"entries\":["
        );
        for (
            i,
            Applied {
                seq,
                writer,
                at,
                keys,
            },
        ) in self.recent.iter().enumerate()
        {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&cat!(
                "{\"seq\":",
                seq,
                ",\"writer\":",
                quote(writer),
                ",\"at\":",
                at,
                ",\"keys\":["
            ));
            for (j, k) in keys.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                out.push_str(&quote(k));
            }
            out.push_str("]}");
        }
        out.push_str("],\"encryption\":");
        out.push_str(&match &self.encryption {
            None => "null".into(),
            Some(Encrypted { key: None }) => "{\"key\":null}".into(),
            Some(Encrypted { key: Some(id) }) => cat!("{\"key\":", quote(id), "}"),
        });
        out.push('}');
        out
    }
}

/// What one or more writes' entry sets and deletes, and their trace ids
/// with the keys (an `Entry`'s body).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryChange {
    pub set: Vec<(String, Stored)>,
    pub delete: Vec<String>,
    pub traces: Traces,
}

/// A write to a manifest not yet committed, in the manifest's order.
#[derive(Clone, Debug)]
pub struct Waiting {
    /// Its queue key.
    pub key: String,
    /// Its write id, as the log's entries name it.
    pub write_id: String,
    /// What its entry would change, once its content is up.
    pub change: Option<EntryChange>,
}

/// The writes following `key` in `waiting` that can share its entry:
/// ready, of the same writer (its ids then stay in order), and touching
/// keys no earlier one in the group touches, so that every value written
/// is in the log. Their change merged into `change`, and the last one's
/// write id.
pub fn group(
    waiting: &[Waiting],
    key: &str,
    writer: &str,
    change: &mut EntryChange,
) -> Option<String> {
    let at = waiting.iter().position(|w| w.key == key)?;
    let mut last = None;
    for w in &waiting[at + 1..] {
        let Some(ready) = &w.change else {
            break;
        };
        let touches =
            |url: &String| change.set.iter().any(|(u, _)| u == url) || change.delete.contains(url);
        if !w.key.ends_with(writer)
            || ready.set.iter().any(|(u, _)| touches(u))
            || ready.delete.iter().any(touches)
        {
            break;
        }
        change.set.extend(ready.set.iter().cloned());
        change.delete.extend(ready.delete.iter().cloned());
        change.traces.extend(ready.traces.iter().cloned());
        last = Some(w.write_id.clone());
    }
    last
}

impl V2State {
    /// Applies the entry of slot `seq` (the next one), noting what content
    /// it supersedes.
    pub fn apply(&mut self, seq: u64, entry: &Entry, files: &mut Files) {
        let keys = entry.keys();
        for key in &keys {
            if let Some(old) = self.log.keys.get(key.as_str()) {
                if old.stored.inline.is_none() {
                    self.superseded
                        .push(((*key).clone(), old.stored.uuid.clone()));
                }
            }
        }
        if self.log.apply(seq, entry).is_ok() {
            let mut names = Vec::new();
            for key in &keys {
                names.push((*key).clone());
                let trace = entry.trace_of(key).map(String::from);
                let by = WrittenBy {
                    writer: entry.writer.clone(),
                    at: entry.at,
                    trace,
                };
                self.written_by.insert((*key).clone(), by);
            }
            self.recent.push(Applied {
                seq,
                writer: entry.writer.clone(),
                at: entry.at,
                keys: names,
            });
            if self.recent.len() > RECENT_KEPT {
                self.recent.remove(0);
            }
            for (key, stored) in &entry.set {
                files.insert(key.clone(), FileRef::new(stored.uuid.clone()));
            }
            for key in &entry.delete {
                files.remove(key.as_str());
            }
        }
    }

    /// Counts a poll; whether this one should check the guard too (every
    /// `GUARD_EVERY_POLLS`th).
    pub fn count_poll(&mut self, poll: bool) -> bool {
        self.polls += u32::from(poll);
        poll && self.polls.is_multiple_of(super::GUARD_EVERY_POLLS)
    }

    /// The checkpoint due once the log is `every` entries past the newest
    /// known: its slot and text, listing what the entries since the last
    /// one superseded when this client read all of them.
    pub fn checkpoint_due(&self, every: u64) -> Option<(u64, String)> {
        (self.log.seq >= self.checkpoint + every).then(|| {
            let complete = self.superseded_from.is_some_and(|f| f <= self.checkpoint);
            let gc: &[(String, String)] = if complete { &self.superseded } else { &[] };
            (self.log.seq, self.log.checkpoint_text_with(gc))
        })
    }

    /// Checkpoint `seq` exists: supersession is counted from it.
    pub fn checkpointed(&mut self, seq: u64) {
        self.checkpoint = self.checkpoint.max(seq);
        self.superseded.clear();
        self.superseded_from = Some(seq);
    }

    /// Replaces the state with a checkpoint's.
    pub fn restart(&mut self, log: LogState) -> Files {
        self.superseded.clear();
        self.superseded_from = Some(log.seq);
        self.checkpoint = self.checkpoint.max(log.seq);
        self.log = log;
        self.files()
    }

    pub fn files(&self) -> Files {
        let mut files = Files::default();
        for (k, s) in self.log.keys.iter() {
            files.insert(k.clone(), FileRef::new(s.stored.uuid.clone()));
        }
        files
    }
}
