//! Reading a v1 manifest (docs/protocol.md): the change marker first; a
//! marker still carrying the ETag the log is settled at proves nothing
//! new can be in the log (writers claim the marker before their entry,
//! "Claims"), so a read needs no listing. Otherwise the log is listed,
//! the window's entries fetched and resolved. Then autoclean, which
//! deletes entries the resolution no longer needs. Through the client's
//! requests and state (`Client`).

use crate::prelude::*;

use alloc::rc::Rc;

use super::{
    encode_ts, needed_bodies, parse_entry_key, resolve, Body, Claim, EntryBody, KnownEntry,
    MarkerSeen, Resolution, V1State, LAG_WINDOW_MS, LAST_MODIFIED_PRECISION_MS, LEGACY_MARKER_BODY,
};
use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::object::Ref;
use crate::engine::protocol::{unsupported, Client, Freshness, AUTOCLEAN_GRACE_MS, V2_GUARD};
use crate::engine::s3::{GetOptions, GetResult};
use crate::engine::time::EpochMillis;

/// An entry PUT is sure not to have been collected this long after it was
/// sent: the grace less the window and a margin for the collector's
/// estimate of the server's clock. A listing made sooner that misses the
/// entry proves it never landed; a later one proves nothing.
pub const SURELY_UNCOLLECTED_MS: i64 = AUTOCLEAN_GRACE_MS - LAG_WINDOW_MS - 10_000;

/// How long a writer may take from sending its claim to sending the
/// listing its entry's time comes from; later, its entry takes the claim's
/// time plus this (docs/protocol.md, "Claims").
pub const CLAIM_TO_LISTING_MS: i64 = 2_000;

/// Every valid entry claimed in a marker written at `written` (by its
/// `Last-Modified`, a second coarse) has landed by `written` plus this: its
/// time is at most a second after the claim (the listing's lower bound less
/// a second, within [`CLAIM_TO_LISTING_MS`]), and it landed within the
/// window plus a second of it.
pub const CLAIM_SETTLE_MS: i64 = LAST_MODIFIED_PRECISION_MS
    + (CLAIM_TO_LISTING_MS - LAST_MODIFIED_PRECISION_MS)
    + LAG_WINDOW_MS
    + LAST_MODIFIED_PRECISION_MS;

/// Under a marker the log is not settled at, polls list again after this,
/// doubling, until [`CLAIM_SETTLE_MS`] after the marker settles it: an
/// entry claimed before the marker usually lands within a round trip.
const RELIST_FIRST_MS: i64 = 500;

/// Whether the log we know has the entry `claim` names: a valid entry with
/// its writer tag and a time no earlier than the claim allows (tags repeat
/// every 1024 writes of a session).
fn claimed_entry_listed(s: &V1State, claim: &Claim, written: Option<EpochMillis>) -> bool {
    s.known.values().any(|e| {
        e.key.ends_with(&claim.tag)
            && e.key[..e.key.len() - claim.tag.len()].ends_with('_')
            && (e.last_modified - e.ts).abs() < LAG_WINDOW_MS
            && written.is_none_or(|w| e.ts > w - LAG_WINDOW_MS - 2 * LAST_MODIFIED_PRECISION_MS)
    })
}

/// Brings the resolution of the v1 manifest `m` up to date. The caller
/// holds `m`'s lock.
///
/// Under an unsettled marker reads list; polls list on a backoff, and
/// once every entry claimed before it must have landed.
pub(crate) async fn sync<C: Client>(c: &C, m: &Ref, freshness: Freshness) -> Result<()> {
    let marker = read_marker(c, m).await?;
    let etag = marker.as_ref().map_or("", |mk| mk.etag.as_str());
    let bound = c.server_lower_bound();
    let local = c.now();
    let resolved = c.files(m).is_some();
    let skip = {
        let s = &*c.v1_state(m);
        let judge = || {
            if !c.minimize_list_calls()
                || freshness == Freshness::List
                || s.legacy_seen
                || !resolved
            {
                return false;
            }
            if s.settled.as_deref() == Some(etag) {
                return true;
            }
            // A poll, listed under this very marker already, unsettled.
            let Some(at) = s.listed_at.filter(|_| freshness == Freshness::Poll) else {
                return false;
            };
            let deadline = marker
                .as_ref()
                .and_then(|mk| mk.written)
                .map(|w| w + CLAIM_SETTLE_MS);
            s.listed_marker.as_deref() == Some(etag)
                && local - at < s.relist_after_ms
                && deadline.is_none_or(|d| bound.is_none_or(|b| b < d))
        };
        judge()
    };
    if skip {
        c.synced();
        return Ok(());
    }
    let settled_before = c.v1_state(m).settled.clone();
    let list_bound = list_and_resolve(c, m).await?;
    settle(c, m, marker.as_ref(), settled_before.as_deref(), list_bound);
    Ok(())
}

/// Whether the listing that started when the server's clock was at
/// least `list_bound` settles the log at `marker` (see
/// [`V1State::settled`]): by time, when every entry claimed up to the
/// marker must have landed before the listing; or by chain, when the
/// marker's claim replaced the ETag we had settled at under `If-Match`
/// and the listing has the entry it claims.
pub(super) fn settle<C: Client>(
    c: &C,
    m: &Ref,
    marker: Option<&MarkerSeen>,
    settled_before: Option<&str>,
    list_bound: Option<EpochMillis>,
) {
    let mut state = c.v1_state(m);
    let s = &mut *state;
    let etag = marker.map_or(String::new(), |mk| mk.etag.clone());
    // Listing again under one marker doubles the wait for the next.
    s.relist_after_ms = if s.listed_marker.as_deref() == Some(etag.as_str()) {
        (s.relist_after_ms * 2).min(CLAIM_SETTLE_MS)
    } else {
        RELIST_FIRST_MS
    };
    s.listed_marker = Some(etag);
    let Some(mk) = marker else {
        // No marker: settled only over an empty log (a claim creates the
        // marker before its entry exists).
        s.settled = s.known.is_empty().then(String::new);
        return;
    };
    let by_time = mk
        .written
        .zip(list_bound)
        .is_some_and(|(w, b)| b >= w + CLAIM_SETTLE_MS);
    let claimed = mk
        .claim
        .as_ref()
        .map(|claim| claimed_entry_listed(s, claim, mk.written));
    let by_chain = claimed == Some(true)
        && mk.claim.as_ref().and_then(|c| c.prev.as_deref()).is_some()
        && mk.claim.as_ref().and_then(|c| c.prev.as_deref()) == settled_before;
    s.settled = (!s.legacy_seen && (by_time || by_chain)).then(|| mk.etag.clone());
}

/// Reads the change marker (conditionally on the one we know, when the
/// client's reads can carry a condition) and remembers it. A body of `""`
/// means a client that does not claim wrote here; a marker without a
/// readable ETag (a CORS rule that hides it) cannot vouch for anything
/// either.
pub(super) async fn read_marker<C: Client>(c: &C, m: &Ref) -> Result<Option<MarkerSeen>> {
    let known = c.v1_state(m).marker.clone();
    let opts = GetOptions {
        version_id: None,
        if_none_match: known.as_ref().map(|k| k.etag.clone()),
    };
    let got = c.get(&m.bucket, m.key.clone(), opts).await;
    let (seen, untrusted) = match got {
        Ok(GetResult::NotModified(_)) => (known, false),
        Ok(GetResult::Found(obj)) if obj.body == V2_GUARD => {
            return Err(unsupported(cat!(
                "manifest ",
                m.url(),
                " is protocol v2; this client is set to protocol \"v1\""
            )))
        }
        Ok(GetResult::Found(obj)) => {
            let untrusted = obj.body == LEGACY_MARKER_BODY || obj.meta.etag.is_none();
            let seen = obj.meta.etag.map(|etag| MarkerSeen {
                etag,
                written: obj.meta.last_modified,
                claim: Claim::parse(&obj.body),
            });
            (seen, untrusted)
        }
        Err(e) if e.kind == ErrorKind::NotFound => (None, false),
        Err(e) => return Err(e),
    };
    let mut s = c.v1_state(m);
    s.marker = seen.clone();
    s.legacy_seen |= untrusted;
    Ok(seen)
}

/// Lists the log (every page), fetches the window's bodies, resolves.
/// Returns a lower bound of the server's clock when the listing that
/// counted began (`None` before any answer bounded it).
///
/// A window entry that is gone when fetched was collected by a client
/// that saw a base more than the window newer than ours: our listing is
/// stale, so list again (never resolve around the hole, which would fall
/// back to an older base).
pub(super) async fn list_and_resolve<C: Client>(c: &C, m: &Ref) -> Result<Option<EpochMillis>> {
    let mut stale_listings = 0;
    loop {
        let listed_at = c.now();
        match list_and_fetch(c, m).await? {
            Some(entries) => {
                install_log(c, m, entries);
                c.persist(m).await;
                c.v1_state(m).listed_at = Some(listed_at);
                c.synced();
                return Ok(c.server_lower_bound().map(|_| c.clock_bound(listed_at)));
            }
            None => {
                stale_listings += 1;
                if stale_listings >= 5 {
                    return Err(Error::bad_response(
                        "the manifest log kept changing under the listing",
                    ));
                }
            }
        }
    }
}

/// One listing and the window's bodies; `None` if the listing proved
/// stale.
async fn list_and_fetch<C: Client>(c: &C, m: &Ref) -> Result<Option<Vec<KnownEntry>>> {
    let prefix = cat!(m.key, "@");
    // Entries more than 10 s in our future are skipped by the listing.
    let horizon = c.server_now() + 10_000;
    let start_after = cat!(prefix, encode_ts(horizon));
    let listed = c.list(&m.bucket, prefix, Some(start_after)).await?;
    let mut entries: Vec<KnownEntry> = {
        let s = c.v1_state(m);
        let mut entries = Vec::new();
        for e in &listed {
            let Some(k) = parse_entry_key(&m.key, &e.key) else {
                continue;
            };
            entries.push(KnownEntry {
                key: e.key.clone(),
                ts: k.ts,
                last_modified: e.last_modified,
                body: s
                    .known
                    .get(&e.key)
                    .map_or(Body::NotFetched, |known| known.body.clone()),
            });
        }
        entries
    };
    loop {
        let needed = needed_bodies(&entries);
        if needed.is_empty() {
            return Ok(Some(entries));
        }
        for key in needed {
            // Gone: the listing was stale (collected since).
            let Some(body) = c.get_body(m, key.clone()).await? else {
                return Ok(None);
            };
            let parsed = EntryBody::parse(&body).ok().map(Rc::new);
            if let Some(e) = entries.iter_mut().find(|e| e.key == key) {
                e.body = Body::fetched(parsed);
            }
        }
    }
}

/// Replaces the known log of `m` and resolves it (no IO).
pub(super) fn install_log<C: Client>(c: &C, m: &Ref, entries: Vec<KnownEntry>) {
    let Resolution {
        files,
        base,
        included,
        garbage,
        newest_ts,
    } = resolve(&entries);
    {
        let mut s = c.v1_state(m);
        s.known = Default::default();
        for e in entries {
            s.known.insert(e.key.clone(), e);
        }
        (s.base, s.included, s.garbage, s.newest_ts) = (base, included, garbage, newest_ts);
    }
    c.install(m, files);
}

/// Deletes entries older than the window behind the base, and only those
/// (never content: an offline writer may still reference it), and only
/// once they landed [`AUTOCLEAN_GRACE_MS`] ago: their writer may still be
/// checking, by listing it, whether it landed in time, and an entry gone
/// from the listing proves nothing either way.
pub(crate) async fn autoclean<C: Client>(c: &C, m: &Ref) {
    let cutoff = c.server_now() - AUTOCLEAN_GRACE_MS;
    let mut garbage = Vec::new();
    {
        let s = c.v1_state(m);
        for k in &s.garbage {
            if s.known.get(k).is_some_and(|e| e.last_modified < cutoff) {
                garbage.push(k.clone());
            }
        }
    }
    for key in garbage {
        if c.delete_object(&m.bucket, key.clone(), None).await.is_ok() {
            let mut s = c.v1_state(m);
            s.known.remove(&key);
            s.garbage.retain(|g| g != &key);
        }
    }
}
