//! Manifest entry keys: `<manifestKey>@<ts>_<session>_<counter>`.
//!
//! `ts` counts *down* (base 32 of `2^42 - 1 - epoch_ms`, 9 digits) because
//! ListObjectsV2 lists ascending only: newest entries come first. Within a
//! millisecond, `counter` (base 32 of `1023 - n`) puts a client's later
//! write first.

use crate::prelude::*;

use crate::engine::time::EpochMillis;

/// Entries whose key time and `LastModified` differ by this much or more
/// were written by a skewed clock (or landed too late) and are ignored; the
/// window of entries replayed behind the newest is this wide too.
pub const LAG_WINDOW_MS: i64 = 5_000;

const TS_MAX: i64 = (1 << 42) - 1;
const DIGITS: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

fn base32(mut n: u64, width: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 32) as usize]);
        n /= 32;
        if n == 0 {
            break;
        }
    }
    while out.len() < width {
        out.push(b'0');
    }
    // ASCII digits: chars one to one (no UTF-8 check, whose error's Debug
    // a failed `expect` would have to print).
    let mut text = String::new();
    for b in out.iter().rev() {
        text.push(char::from(*b));
    }
    text
}

fn parse_base32(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 12 {
        return None;
    }
    s.bytes().try_fold(0u64, |n, b| {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'v' => b - b'a' + 10,
            _ => return None,
        };
        Some(n * 32 + d as u64)
    })
}

/// The `ts` part for a time.
pub fn encode_ts(ms: EpochMillis) -> String {
    base32((TS_MAX - ms.clamp(0, TS_MAX)) as u64, 9)
}

/// The time of a `ts` part.
pub fn decode_ts(ts: &str) -> Option<EpochMillis> {
    let n = parse_base32(ts)? as i64;
    (n <= TS_MAX).then(|| TS_MAX - n)
}

/// The parts of an entry key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryKey {
    pub ts: EpochMillis,
    /// `<ts>_<session>_<counter>`: the entry's *version*.
    pub version: String,
    pub session: String,
}

impl EntryKey {
    /// A new entry key of `session`'s `n`-th write at `ts`.
    pub fn new(manifest_key: &str, ts: EpochMillis, session: &str, n: u32) -> (String, EntryKey) {
        let version = cat!(encode_ts(ts), "_", writer_tag(session, n));
        (
            cat!(manifest_key, "@", version),
            EntryKey {
                ts,
                version,
                session: session.to_string(),
            },
        )
    }
}

/// `<session>_<counter>`: the part of an entry's version that names its
/// writer and write, known before its time is (a claim names it).
pub fn writer_tag(session: &str, n: u32) -> String {
    cat!(session, "_", base32((1023 - (n % 1024)) as u64, 2))
}

/// Parses an object key as an entry of `manifest_key`'s log. Valid keys
/// match `@([0-9a-z]+)_[0-9a-z]+_[0-9a-z]{2}$` after the manifest key.
pub fn parse_entry_key(manifest_key: &str, object_key: &str) -> Option<EntryKey> {
    let version = object_key.strip_prefix(manifest_key)?.strip_prefix('@')?;
    let mut parts = version.split('_');
    let (ts, session, counter) = (parts.next()?, parts.next()?, parts.next()?);
    let alnum = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    };
    if parts.next().is_some() || !alnum(session) || !alnum(counter) || counter.len() != 2 {
        return None;
    }
    Some(EntryKey {
        ts: decode_ts(ts)?,
        version: version.to_string(),
        session: session.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_example_of_the_fixtures() {
        // manifest.json@2bnk6jbej_51e_vv → 2026-11-26T11:20:57.132Z
        let k = parse_entry_key("manifest.json", "manifest.json@2bnk6jbej_51e_vv").unwrap();
        assert_eq!(k.ts, 1_795_692_057_132);
        assert_eq!(k.session, "51e");
        assert_eq!(k.version, "2bnk6jbej_51e_vv");
        assert_eq!(encode_ts(1_795_692_057_132), "2bnk6jbej");
        let (key, parsed) = EntryKey::new("manifest.json", 1_795_692_057_132, "51e", 0);
        assert_eq!(key, "manifest.json@2bnk6jbej_51e_vv");
        assert_eq!(parsed, k);
        assert!(EntryKey::new("m", 0, "abc", 1).0.ends_with("_abc_vu"));
        assert!(EntryKey::new("m", 0, "abc", 1024).0.ends_with("_abc_vv"));
    }

    #[test]
    fn later_times_sort_first() {
        let mut keys: Vec<String> = [5, 1_000, 1_795_692_057_132, 1_795_692_057_133]
            .iter()
            .map(|&t| EntryKey::new("m", t, "aaa", 0).0)
            .collect();
        keys.sort();
        let times: Vec<i64> = keys
            .iter()
            .map(|k| parse_entry_key("m", k).unwrap().ts)
            .collect();
        assert_eq!(times, [1_795_692_057_133, 1_795_692_057_132, 1_000, 5]);
    }

    #[test]
    fn other_keys_are_not_entries() {
        for key in [
            "manifest.json",
            "manifest.json@",
            "manifest.json@2bnk6jbej_51e",
            "manifest.json@2bnk6jbej_51e_v",
            "manifest.json@2bnk6jbej_51e_vvv",
            "manifest.json@2bnk6jbej_51E_vv",
            "manifest.json@2bnk6jbwj_51e_vv",
            "manifest.json@2bnk6jbej_51e_vv_x",
            "manifest.jsonx@2bnk6jbej_51e_vv",
            "a@c63a2d60-00a4-465e-9337-6eba31567637",
        ] {
            assert!(parse_entry_key("manifest.json", key).is_none(), "{key}");
        }
        assert!(
            parse_entry_key("app/manifest.json", "app/manifest.json@2bnk6i00j_02b_vv").is_some()
        );
    }
}
