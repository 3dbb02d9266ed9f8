//! Requests with retries, resolving the log, fetching content, notifying.

use crate::prelude::*;

use alloc::rc::Rc;

use super::state::{JsonText, ManifestState};
use super::{Db, LAST_MODIFIED_PRECISION_MS};
use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::io::Io;
use crate::engine::object::Ref;
use crate::engine::protocol::v1::MarkerSeen;
use crate::engine::protocol::v1::{
    encode_ts, needed_bodies, parse_entry_key, resolve, Body, Claim, EntryBody, KnownEntry,
    LAG_WINDOW_MS, LEGACY_MARKER_BODY,
};
use crate::engine::s3::{parse_get, parse_list, GetOptions, GetResult, ListParams};
use crate::engine::time::EpochMillis;

/// How long a log entry stays after it landed, even when it is garbage:
/// its writer may still be finding out whether it landed in time, by
/// listing it, and an entry gone from the listing proves nothing either
/// way. Ten minutes: a writer's own check, through timed-out requests and
/// their retries, or a tab closed mid-write and reopened, can take
/// minutes.
pub const AUTOCLEAN_GRACE_MS: i64 = 600_000;

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

/// What a sync may skip.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// A poll: under a marker the log is not settled at, it lists on a
    /// backoff (see [`RELIST_FIRST_MS`]).
    Poll,
    /// A read (`get`, a subscriber's first value): lists unless the log is
    /// settled at the marker, so that it sees every write acknowledged
    /// before it.
    Read,
    /// Lists whatever the marker says (writers, settling an attempt).
    List,
}

/// Whether the log we know has the entry `claim` names: a valid entry with
/// its writer tag and a time no earlier than the claim allows (tags repeat
/// every 1024 writes of a session).
fn claimed_entry_listed(s: &ManifestState, claim: &Claim, written: Option<EpochMillis>) -> bool {
    s.v1.known.values().any(|e| {
        e.key.ends_with(&claim.tag)
            && e.key[..e.key.len() - claim.tag.len()].ends_with('_')
            && (e.last_modified - e.ts).abs() < LAG_WINDOW_MS
            && written.is_none_or(|w| e.ts > w - LAG_WINDOW_MS - 2 * LAST_MODIFIED_PRECISION_MS)
    })
}

impl<I: Io> Db<I> {
    /// `LastModified` of the object `key` of `bucket` as a listing shows
    /// it (how v1's readers judge an entry), by a listing of one key from
    /// it: the key itself sorts before every longer key it begins. `None`:
    /// not there.
    pub(super) async fn listed_first(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<EpochMillis>> {
        let params = ListParams {
            prefix: Some(key.to_string()),
            start_after: None,
            max_keys: Some(1),
            continuation_token: None,
        };
        let page = self
            .call(
                |s3, now| s3.list_objects_v2(bucket, &params, now),
                parse_list,
            )
            .await?;
        Ok(page
            .entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.last_modified))
    }

    /// Brings the resolution of `m` up to date. The caller holds `m`'s lock.
    ///
    /// The marker is read first. A marker still carrying the ETag the log
    /// is settled at proves nothing new can be in the log: writers claim
    /// the marker before their entry (docs/protocol.md, "Claims"). Under
    /// an unsettled marker reads list; polls list on a backoff, and once
    /// every entry claimed before it must have landed.
    pub(crate) async fn sync(&self, m: &Ref, freshness: Freshness) -> Result<()> {
        match self.protocol(m, false).await? {
            Some(super::Protocol::V2) => {
                return self.sync_v2(m, freshness == Freshness::Poll).await
            }
            // No manifest yet: nothing in it.
            None => {
                self.state(m)
                    .resolution
                    .get_or_insert_with(Default::default);
                self.synced();
                return Ok(());
            }
            _ => {}
        }
        let marker = self.read_marker(m).await?;
        let etag = marker.as_ref().map_or("", |mk| mk.etag.as_str());
        let bound = self.server_lower_bound();
        let local = self.io.now();
        let skip = {
            let s = &*self.state(m);
            let judge = || {
                if !self.cfg.minimize_list_calls
                    || freshness == Freshness::List
                    || s.v1.legacy_seen
                    || s.resolution.is_none()
                {
                    return false;
                }
                if s.v1.settled.as_deref() == Some(etag) {
                    return true;
                }
                // A poll, listed under this very marker already, unsettled.
                let Some(at) = s.v1.listed_at.filter(|_| freshness == Freshness::Poll) else {
                    return false;
                };
                let deadline = marker
                    .as_ref()
                    .and_then(|mk| mk.written)
                    .map(|w| w + CLAIM_SETTLE_MS);
                s.v1.listed_marker.as_deref() == Some(etag)
                    && local - at < s.v1.relist_after_ms
                    && deadline.is_none_or(|d| bound.is_none_or(|b| b < d))
            };
            judge()
        };
        if skip {
            self.synced();
            return Ok(());
        }
        let settled_before = self.state(m).v1.settled.clone();
        let list_bound = self.list_and_resolve(m).await?;
        self.settle(m, marker.as_ref(), settled_before.as_deref(), list_bound);
        Ok(())
    }

    /// Whether the listing that started when the server's clock was at
    /// least `list_bound` settles the log at `marker` (see
    /// [`ManifestState::settled`]): by time, when every entry claimed up
    /// to the marker must have landed before the listing; or by chain,
    /// when the marker's claim replaced the ETag we had settled at under
    /// `If-Match` and the listing has the entry it claims.
    pub(crate) fn settle(
        &self,
        m: &Ref,
        marker: Option<&MarkerSeen>,
        settled_before: Option<&str>,
        list_bound: Option<EpochMillis>,
    ) {
        let mut state = self.state(m);
        let s = &mut *state;
        {
            let etag = marker.map_or(String::new(), |mk| mk.etag.clone());
            // Listing again under one marker doubles the wait for the next.
            s.v1.relist_after_ms = if s.v1.listed_marker.as_deref() == Some(etag.as_str()) {
                (s.v1.relist_after_ms * 2).min(CLAIM_SETTLE_MS)
            } else {
                RELIST_FIRST_MS
            };
            s.v1.listed_marker = Some(etag);
            let Some(mk) = marker else {
                // No marker: settled only over an empty log (a claim
                // creates the marker before its entry exists).
                s.v1.settled = s.v1.known.is_empty().then(String::new);
                return;
            };
            let by_time = mk
                .written
                .zip(list_bound)
                .is_some_and(|(w, b)| b >= w + CLAIM_SETTLE_MS);
            let claimed = mk
                .claim
                .as_ref()
                .map(|c| claimed_entry_listed(s, c, mk.written));
            let by_chain = claimed == Some(true)
                && mk.claim.as_ref().and_then(|c| c.prev.as_deref()).is_some()
                && mk.claim.as_ref().and_then(|c| c.prev.as_deref()) == settled_before;
            s.v1.settled = (!s.v1.legacy_seen && (by_time || by_chain)).then(|| mk.etag.clone());
        }
    }

    /// Reads the change marker (conditionally on the one we know when
    /// reads are not presigned) and remembers it. A body of `""` means a
    /// client that does not claim wrote here; a marker without a readable
    /// ETag (a CORS rule that hides it) cannot vouch for anything either.
    pub(crate) async fn read_marker(&self, m: &Ref) -> Result<Option<MarkerSeen>> {
        let known = self.state(m).v1.marker.clone();
        let presigned = self.s3.borrow().config.presign_reads;
        let opts = GetOptions {
            version_id: None,
            if_none_match: known
                .as_ref()
                .filter(|_| !presigned)
                .map(|k| k.etag.clone()),
        };
        let got = self
            .call(
                |s3, now| s3.get_object(&m.bucket, &m.key, &opts, now),
                parse_get,
            )
            .await;
        let (seen, untrusted) = match got {
            Ok(GetResult::NotModified(_)) => (known, false),
            Ok(GetResult::Found(obj)) if obj.body == crate::engine::protocol::v2::V2_GUARD => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    cat!(
                        "manifest ",
                        m.url(),
                        " is protocol v2; this client is set to protocol \"v1\""
                    ),
                ))
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
        {
            let mut s = self.state(m);
            s.v1.marker = seen.clone();
            s.v1.legacy_seen |= untrusted;
        };
        Ok(seen)
    }

    /// A time the server's clock has certainly reached, once any answer
    /// bounded it.
    pub(crate) fn server_lower_bound(&self) -> Option<EpochMillis> {
        let inner = self.inner.borrow();
        inner
            .clock
            .lower
            .is_some()
            .then(|| inner.clock.lower_bound(self.io.now()))
    }

    /// [`Self::sync`] under the manifest's lock, as readers and pollers
    /// do it.
    pub(crate) async fn locked_sync(&self, m: &Ref, freshness: Freshness) -> Result<()> {
        let lock = self.state(m).lock.clone();
        let _guard = lock.lock().await;
        self.sync(m, freshness).await
    }

    /// Lists the log (every page), fetches the window's bodies, resolves.
    /// Returns a lower bound of the server's clock when the listing that
    /// counted began (`None` before any answer bounded it).
    ///
    /// A window entry that is gone when fetched was collected by a client
    /// that saw a base more than the window newer than ours: our listing is
    /// stale, so list again (never resolve around the hole, which would
    /// fall back to an older base).
    pub(crate) async fn list_and_resolve(&self, m: &Ref) -> Result<Option<EpochMillis>> {
        let mut stale_listings = 0;
        loop {
            let listed_at = self.io.now();
            match self.list_and_fetch(m).await? {
                Some(entries) => {
                    self.install_log(m, entries);
                    self.persist_state(m).await;
                    self.state(m).v1.listed_at = Some(listed_at);
                    self.synced();
                    let inner = self.inner.borrow();
                    let clock = &inner.clock;
                    return Ok(clock.lower.is_some().then(|| clock.lower_bound(listed_at)));
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
    async fn list_and_fetch(&self, m: &Ref) -> Result<Option<Vec<KnownEntry>>> {
        let prefix = cat!(m.key, "@");
        // Entries more than 10 s in our future are skipped by the listing.
        let horizon = self.server_now() + 10_000;
        let start_after = cat!(prefix, encode_ts(horizon));
        let listed = self.list_all(&m.bucket, prefix, Some(start_after)).await?;
        let mut entries: Vec<KnownEntry> = {
            let s = self.state(m);
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
                        .v1
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
                let Some(body) = self.get_body(m, key.clone()).await? else {
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
    pub(crate) fn install_log(&self, m: &Ref, entries: Vec<KnownEntry>) {
        {
            let mut s = self.state(m);
            s.resolution = Some(resolve(&entries));
            s.v1.known = Default::default();
            for e in entries {
                s.v1.known.insert(e.key.clone(), e);
            }
            s.retire_masks();
        };
    }

    /// The content of `url` at `version`, cached (content is immutable).
    /// `binary`: whether the manifest says the value is binary; unknown
    /// (v1), an object whose type is not JSON and whose body is not JSON
    /// text is (other tools leave objects of any type, JSON among them).
    pub(crate) async fn content(
        &self,
        url: &str,
        version: &str,
        binary: Option<bool>,
    ) -> Result<JsonText> {
        let cache_key = (url.to_string(), version.to_string());
        if let Some(v) = self.inner.borrow_mut().content.get(&cache_key) {
            return Ok(v);
        }
        if let Some(v) = self.inline_value(url, version) {
            return Ok(v);
        }
        if let Some(v) = self.stored_content(url, version).await {
            self.inner.borrow_mut().content.insert(cache_key, v.clone());
            return Ok(v);
        }
        let r = Ref::from_url(url)?;
        let (key, opts) = if self.cfg.use_versioning {
            (
                r.key.clone(),
                GetOptions {
                    version_id: Some(version.to_string()),
                    if_none_match: None,
                },
            )
        } else {
            (cat!(r.key, "@", version), GetOptions::default())
        };
        let got = self
            .call(
                |s3, now| s3.get_object(&r.bucket, &key, &opts, now),
                parse_get,
            )
            .await?;
        let GetResult::Found(obj) = got else {
            return Err(Error::bad_response("unconditional GET answered 304"));
        };
        let content_type = obj.meta.content_type.as_deref();
        let binary = binary.unwrap_or_else(|| {
            !crate::engine::binary::is_json_type(content_type)
                && crate::engine::json::parse(&obj.body).is_err()
        });
        let text: JsonText = if !binary {
            String::from_utf8(obj.body)
                .map_err(|_| Error::bad_response(cat!("content of ", url, " is not UTF-8")))?
                .into()
        } else {
            crate::engine::binary::wrap(content_type.unwrap_or_default(), &obj.body).into()
        };
        self.keep_content(url, version, text.clone()).await;
        Ok(text)
    }

    /// Remembers content read or written: in memory, and in the durable
    /// store for the next page load (content never changes).
    pub(crate) async fn keep_content(&self, url: &str, version: &str, value: JsonText) {
        self.inner
            .borrow_mut()
            .content
            .insert((url.to_string(), version.to_string()), value.clone());
        self.store_content(url, version, &value).await;
    }

    /// Resolves `m` and notifies its subscribers (a subscriber's first
    /// value comes from here).
    pub async fn refresh(&self, m: Option<&Ref>) -> Result<()> {
        self.ready().await;
        // After the writes made before it have masked their keys: a
        // subscriber's first call shows this client's own pending write.
        drop(self.accepting.lock().await);
        let m = m.unwrap_or(&self.cfg.default_manifest).clone();
        // What is stored first (after a reload, before any answer), then
        // what is new.
        let stored_only = self.state(&m).stored_only();
        if stored_only || !self.reachable() {
            self.notify(&m).await;
        }
        let synced = if self.reachable() {
            self.locked_sync(&m, Freshness::Read).await
        } else {
            Err(Error::new(ErrorKind::Offline, "offline"))
        };
        match synced {
            // Offline: what is stored was delivered above; with nothing
            // stored the subscriber hears why it hears nothing.
            Err(e) if e.kind == ErrorKind::Offline => {
                if self.state(&m).resolution.is_none() {
                    self.notify(&m).await;
                    return Err(Error::new(
                        ErrorKind::Offline,
                        "offline, and this manifest is not stored locally",
                    ));
                }
                return Ok(());
            }
            other => other?,
        }
        self.notify(&m).await;
        Ok(())
    }

    /// Deletes entries older than the window behind the base, and only
    /// those (never content: an offline writer may still reference it),
    /// and only once they landed [`AUTOCLEAN_GRACE_MS`] ago: their writer
    /// may still be checking, by listing it, whether it landed in time,
    /// and an entry gone from the listing proves nothing either way.
    pub(crate) async fn autoclean(&self, m: &Ref) {
        let cutoff = self.server_now() - AUTOCLEAN_GRACE_MS;
        let mut garbage = Vec::new();
        {
            let s = self.state(m);
            for k in s.resolution.iter().flat_map(|r| &r.garbage) {
                if s.v1.known.get(k).is_some_and(|e| e.last_modified < cutoff) {
                    garbage.push(k.clone());
                }
            }
        }
        for key in garbage {
            let done = self.delete_object(&m.bucket, key.clone(), None).await;
            if done.is_ok() {
                {
                    let mut s = self.state(m);
                    s.v1.known.remove(&key);
                    if let Some(r) = s.resolution.as_mut() {
                        r.garbage.retain(|g| g != &key);
                    }
                };
            }
        }
    }
}
