//! Resolving the manifest log into a state (protocol v1, "Reading").
//!
//! 1. Entries whose key time differs from `LastModified` by `LAG_WINDOW_MS`
//!    or more are ignored (skewed writer, or landed too late); so are
//!    entries whose body is not a manifest entry.
//! 2. The newest remaining entry is the base: state := its `files`.
//! 3. The `update`s of every valid entry from `ts(base) - LAG_WINDOW_MS` up
//!    to and including the base are merged in, oldest first: writes that
//!    were in flight when the base was written are repaired.
//! 4. Entries older than that window are garbage.
//!
//! Pure: the caller lists, fetches the bodies [`needed_bodies`] names, and
//! calls [`resolve`] again with them.

use crate::prelude::*;

use alloc::rc::Rc;

use super::entry::EntryBody;
use super::key::LAG_WINDOW_MS;
use crate::engine::json::JsonValue;
use crate::engine::merge_patch::merge;
use crate::engine::protocol::{files_of, Files};
use crate::engine::time::EpochMillis;

/// What is known of one listed entry.
#[derive(Clone, Debug)]
pub struct KnownEntry {
    pub key: String,
    pub ts: EpochMillis,
    pub last_modified: EpochMillis,
    pub body: Body,
}

/// What is known of a listed entry's body.
#[derive(Clone, Debug)]
pub enum Body {
    NotFetched,
    /// Fetched, and not an entry (readers skip it).
    Invalid,
    Parsed(Rc<EntryBody>),
}

impl Body {
    /// A fetched body: parsed, or `None` when it is not an entry.
    pub fn fetched(parsed: Option<Rc<EntryBody>>) -> Body {
        parsed.map_or(Body::Invalid, Body::Parsed)
    }

    pub fn parsed(&self) -> Option<&Rc<EntryBody>> {
        match self {
            Body::Parsed(b) => Some(b),
            _ => None,
        }
    }
}

impl KnownEntry {
    fn timely(&self) -> bool {
        (self.last_modified - self.ts).abs() < LAG_WINDOW_MS
    }

    fn usable(&self) -> bool {
        self.timely() && !matches!(self.body, Body::Invalid)
    }
}

/// The outcome of a resolution.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resolution {
    pub files: Files,
    /// The base entry's key and time; `None` for an empty log.
    pub base: Option<(String, EpochMillis)>,
    /// Keys of the entries the state includes: the window's, and every valid
    /// entry older than it (subsumed by the base).
    pub included: Vec<String>,
    /// Entries older than the window: safe to delete.
    pub garbage: Vec<String>,
    /// The newest time of any timely entry (writers must sort after it).
    pub newest_ts: Option<EpochMillis>,
}

/// Newest first; within one millisecond, ascending key (a client's later
/// write first, as its counter counts down).
fn ordered(entries: &[KnownEntry]) -> Vec<&KnownEntry> {
    let mut v = Vec::with_capacity(entries.len());
    for e in entries {
        v.push(e);
    }
    crate::engine::lean::sort::sort_by(&mut v, |a, b| {
        b.ts.cmp(&a.ts).then_with(|| a.key.cmp(&b.key))
    });
    v
}

/// The window of a log: the base and the usable entries replayed with it.
fn window<'a>(ordered: &[&'a KnownEntry]) -> Vec<&'a KnownEntry> {
    let Some(base) = ordered.iter().find(|e| e.usable()) else {
        return Vec::new();
    };
    let mut window = Vec::new();
    for e in ordered {
        if e.usable() && e.ts <= base.ts && e.ts >= base.ts - LAG_WINDOW_MS {
            window.push(*e);
        }
    }
    window
}

/// Bodies to fetch before [`resolve`] can finish: the window's. Fetching
/// one may show it is not an entry, which moves the window: call again
/// until it returns nothing.
pub fn needed_bodies(entries: &[KnownEntry]) -> Vec<String> {
    let mut keys = Vec::new();
    for e in window(&ordered(entries)) {
        if matches!(e.body, Body::NotFetched) {
            keys.push(e.key.clone());
        }
    }
    keys
}

/// The newest time of the timely entries.
fn newest_ts(ordered: &[&KnownEntry]) -> Option<EpochMillis> {
    let mut newest = None;
    for e in ordered {
        if e.timely() {
            newest = newest.max(Some(e.ts));
        }
    }
    newest
}

/// Resolves a log whose window bodies are all known (see [`needed_bodies`]).
pub fn resolve(entries: &[KnownEntry]) -> Resolution {
    let ordered = ordered(entries);
    let window = window(&ordered);
    let Some(base) = window.first() else {
        return Resolution {
            newest_ts: newest_ts(&ordered),
            ..Default::default()
        };
    };
    let body = |e: &KnownEntry| -> Option<Rc<EntryBody>> { e.body.parsed().cloned() };
    let base_body = body(base).expect("window bodies are fetched before resolving");
    let mut state = JsonValue::Object(vec![("files".into(), base_body.files.clone())]);
    for e in window.iter().rev() {
        if let Some(b) = body(e) {
            merge(&mut state, &b.update);
        }
    }
    let floor = base.ts - LAG_WINDOW_MS;
    let (mut included, mut garbage) = (Vec::new(), Vec::new());
    for e in &ordered {
        if e.usable() && e.ts <= base.ts {
            included.push(e.key.clone());
        }
        if e.ts < floor {
            garbage.push(e.key.clone());
        }
    }
    Resolution {
        files: files_of(&state),
        base: Some((base.key.clone(), base.ts)),
        included,
        garbage,
        newest_ts: newest_ts(&ordered),
    }
}
