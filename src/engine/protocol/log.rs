//! What a client knows of one manifest's log, by its protocol: a closed
//! set (an enum, not a trait object), and every question the engine asks
//! of it answered here, each by one `match`. The engine holds a [`Log`]
//! per manifest and never looks inside it.

use crate::prelude::*;

use super::v1::{V1State, LAG_WINDOW_MS};
use super::v2::format::{parse_slot, slot_key, LogState};
use super::v2::{Inspection, V2State, WrittenBy};
use super::Protocol;
use crate::engine::object::JsonText;
use crate::engine::time::EpochMillis;

/// The field of a manifest's stored state that holds its log's own
/// ([`Log::stored_text`]): only v2 keeps one.
pub const LOG_FIELD: &str = "v2";

/// A manifest's log as this client knows it.
pub enum Log {
    /// Not decided yet: not read, or the manifest does not exist.
    Undecided(Undecided),
    V1(V1State),
    V2(V2State),
}

/// A manifest whose protocol is not decided yet.
pub struct Undecided {
    /// The v1 writer session this client will use if it is v1: drawn
    /// when the manifest is first named, whatever its protocol, so that
    /// the client's random draws do not depend on what it finds.
    session: String,
    /// Its guard was not there when last read: the manifest was not made
    /// yet, and polls ask by a listing instead of the guard's 404.
    guard_absent: bool,
}

/// Where one of this client's writes landed in a manifest's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Landing {
    /// A v1 entry: its object, and the time it names.
    Entry { object: String, ts: EpochMillis },
    /// A v2 slot.
    Slot(u64),
}

impl Landing {
    /// A landing as stored in a queued write or told between tabs: an
    /// object of the manifest `manifest` (its key) and a number, the v1
    /// entry's time or the v2 slot's number.
    pub fn from_stored(manifest: &str, object: &str, at: EpochMillis) -> Landing {
        match parse_slot(manifest, object) {
            Some(n) => Landing::Slot(n),
            None => Landing::Entry {
                object: object.to_string(),
                ts: at,
            },
        }
    }

    /// The stored form ([`Self::from_stored`]) in the manifest `manifest`.
    pub fn to_stored(&self, manifest: &str) -> (String, EpochMillis) {
        match self {
            Landing::Entry { object, ts } => (object.clone(), *ts),
            Landing::Slot(n) => (slot_key(manifest, *n), *n as EpochMillis),
        }
    }
}

impl Log {
    pub fn new(session: String) -> Log {
        Log::Undecided(Undecided {
            session,
            guard_absent: false,
        })
    }

    /// The protocol decided, if it is (never `Auto`).
    pub fn protocol(&self) -> Option<Protocol> {
        match self {
            Log::Undecided(_) => None,
            Log::V1(_) => Some(Protocol::V1),
            Log::V2(_) => Some(Protocol::V2),
        }
    }

    /// The manifest is of protocol `p` from now on (`V2` over a v1 log: an
    /// upgrade, read anew).
    pub fn decide(&mut self, p: Protocol) {
        match (&mut *self, p) {
            (Log::Undecided(u), Protocol::V1) => {
                let session = core::mem::take(&mut u.session);
                *self = Log::V1(V1State {
                    session,
                    ..V1State::default()
                });
            }
            (Log::Undecided(_) | Log::V1(_), Protocol::V2) => *self = Log::V2(V2State::default()),
            _ => {}
        }
    }

    /// A v1 log's state; only v1's code asks, of a v1 manifest.
    pub fn v1(&mut self) -> &mut V1State {
        match self {
            Log::V1(s) => s,
            _ => unreachable!("v1 state of a manifest that is not v1"),
        }
    }

    /// A v2 log's state; only v2's code asks, of a v2 manifest.
    pub fn v2(&mut self) -> &mut V2State {
        match self {
            Log::V2(s) => s,
            _ => unreachable!("v2 state of a manifest that is not v2"),
        }
    }

    /// Whether the manifest's guard was found absent (not made yet).
    pub fn guard_absent(&self) -> bool {
        matches!(self, Log::Undecided(u) if u.guard_absent)
    }

    /// The guard was found absent.
    pub fn note_guard_absent(&mut self) {
        if let Log::Undecided(u) = self {
            u.guard_absent = true;
        }
    }

    /// The log's state as the store keeps it (a v2 log's, at its
    /// sequence number: a reload reads on from there; v1 keeps only the
    /// resolution's files).
    pub fn stored_text(&self) -> Option<String> {
        match self {
            Log::V2(s) => Some(s.log.checkpoint_text()),
            _ => None,
        }
    }

    /// The log's state the store kept ([`Self::stored_text`]).
    pub fn restore(&mut self, text: &[u8]) {
        if let Ok(log) = LogState::from_checkpoint(text) {
            *self = Log::V2(V2State {
                log,
                ..V2State::default()
            });
        }
    }

    /// Whether a read listed the log since it was loaded from the store
    /// (v1; a v2 log's state is the store's until it reads on).
    pub fn listed(&self) -> bool {
        matches!(self, Log::V1(s) if s.listed_at.is_some())
    }

    /// When a read last found the slot after the head empty (v2; the
    /// client's clock).
    pub fn read_at(&self) -> Option<EpochMillis> {
        match self {
            Log::V2(s) => s.read_at,
            _ => None,
        }
    }

    /// Whether the value of `url` is binary, as the log records it: a v2
    /// entry names a binary value's type (`None`: v1, which records no
    /// type; the object's own tells).
    pub fn is_binary(&self, url: &str) -> Option<bool> {
        match self {
            Log::V2(s) => Some(
                s.log
                    .keys
                    .get(url)
                    .is_some_and(|k| k.stored.content_type.is_some()),
            ),
            _ => None,
        }
    }

    /// The value of `url` at `version` when the log carries it inline (a
    /// small v2 value travels in its entry).
    pub fn inline(&self, url: &str, version: &str) -> Option<JsonText> {
        match self {
            Log::V2(s) => {
                let k = s.log.keys.get(url)?;
                (k.stored.uuid == version).then(|| k.stored.inline.clone())?
            }
            _ => None,
        }
    }

    /// Who wrote the value of `url`, as the entry that set it says (v2).
    pub fn written_by(&self, url: &str) -> Option<&WrittenBy> {
        match self {
            Log::V2(s) => s.written_by.get(url),
            _ => None,
        }
    }

    /// Whether the log as last read includes the write that landed at
    /// `landing`: its masks can go.
    pub fn includes(&self, landing: &Landing) -> bool {
        match (self, landing) {
            // An entry's slot is its place: in once the state passed it.
            (Log::V2(s), Landing::Slot(n)) => *n <= s.log.seq,
            // In the resolution, or older than its base by the window.
            (Log::V1(s), Landing::Entry { object, ts }) => {
                let Some(base_ts) = s.base.as_ref().map(|b| b.1) else {
                    return false;
                };
                s.included.iter().any(|k| k == object) || *ts < base_ts - LAG_WINDOW_MS
            }
            _ => false,
        }
    }

    /// What `inspect` shows of the log; `writer`: this client's id.
    pub fn inspection(&self, writer: String) -> Inspection {
        match self {
            Log::V2(s) => Inspection {
                protocol: self.protocol(),
                head: s.log.seq,
                checkpoint: s.checkpoint,
                recent: s.recent.clone(),
                writer,
                encryption: None,
            },
            _ => Inspection {
                protocol: self.protocol(),
                writer,
                ..Inspection::default()
            },
        }
    }
}
