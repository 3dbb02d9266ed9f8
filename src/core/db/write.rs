//! Writes: content, then one entry per manifest, then the change marker.

use std::rc::Rc;

use super::state::{Json, Mask};
use super::{Batch, Db, LAST_MODIFIED_PRECISION_MS};
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::io::Io;
use crate::core::manifest::{marker_body, EntryBody, EntryKey, KnownEntry, Ref, LAG_WINDOW_MS};
use crate::core::s3::{parse_delete, parse_list, parse_put, ListParams, PutMode, PutOptions};
use crate::core::time::EpochMillis;

/// A PUT of JSON (content, entries, the marker) in `mode`.
fn json_put(mode: PutMode) -> PutOptions {
    PutOptions {
        content_type: Some("application/json".into()),
        mode,
    }
}

/// How many times a write is committed again after landing too late.
const MAX_ENTRY_REWRITES: u32 = 5;

impl<I: Io> Db<I> {
    /// Writes a batch atomically: one entry per manifest carries all of it,
    /// so readers see all of it or none. Keys are masked (visible to this
    /// client's `get` and subscribers) from the call until the entry is
    /// seen; a failed write unmasks and rejects.
    pub async fn put_all(&self, batch: Batch, manifests: &[Ref]) -> Result<()> {
        self.check_live()?;
        let manifests: Vec<Ref> = if manifests.is_empty() {
            vec![self.cfg.default_manifest.clone()]
        } else {
            manifests.to_vec()
        };
        for (k, _) in &batch {
            Self::check_ref(k)?;
        }
        for m in &manifests {
            Self::check_ref(m)?;
        }
        if batch.is_empty() {
            return Ok(());
        }
        // Fix this write's place in each manifest's order now, at the call.
        let tickets: Vec<_> = manifests
            .iter()
            .map(|m| self.with_manifest(m, |s| s.write_order.ticket()))
            .collect();
        let (write_id, versions) = {
            let mut inner = self.inner.borrow_mut();
            let id = inner.next_id;
            inner.next_id += 1;
            let versions: Vec<Option<String>> = batch
                .iter()
                .map(|(_, v)| {
                    v.as_ref().map(|_| {
                        if self.cfg.use_versioning {
                            format!("local-{id}-{}", inner.rng.uuid_v4())
                        } else {
                            inner.rng.uuid_v4()
                        }
                    })
                })
                .collect();
            (id, versions)
        };
        for m in &manifests {
            self.with_manifest(m, |s| {
                for ((key, value), version) in batch.iter().zip(&versions) {
                    s.masks.push(Mask {
                        write_id,
                        url: key.url(),
                        value: value.clone(),
                        version: version.clone(),
                        entry: None,
                    });
                }
            });
            self.notify_local(m);
        }
        let result = self
            .commit(write_id, &batch, versions, &manifests, tickets)
            .await;
        if result.is_err() {
            for m in &manifests {
                self.with_manifest(m, |s| s.masks.retain(|mask| mask.write_id != write_id));
                self.notify_local(m);
            }
        }
        result
    }

    async fn commit(
        &self,
        write_id: u64,
        batch: &Batch,
        mut versions: Vec<Option<String>>,
        manifests: &[Ref],
        tickets: Vec<crate::core::lock::Ticket>,
    ) -> Result<()> {
        // 1. Content objects (immutable; a retried PUT rewrites the same bytes).
        for ((key, value), version) in batch.iter().zip(versions.iter_mut()) {
            match (value, version.as_mut()) {
                (Some(value), Some(version)) => {
                    let body = value.as_bytes().to_vec();
                    let opts = json_put(PutMode::Overwrite);
                    if self.cfg.use_versioning {
                        let meta = self
                            .call(
                                |s3, now| {
                                    s3.put_object(&key.bucket, &key.key, body.clone(), &opts, now)
                                },
                                parse_put,
                            )
                            .await?;
                        let real = meta.version_id.ok_or_else(|| {
                            Error::bad_response(format!(
                                "bucket {} answered without a version id: is versioning enabled?",
                                key.bucket
                            ))
                        })?;
                        self.rename_version(manifests, write_id, &key.url(), version, &real);
                        *version = real;
                    } else {
                        let object = format!("{}@{version}", key.key);
                        self.call(
                            |s3, now| s3.put_object(&key.bucket, &object, body.clone(), &opts, now),
                            parse_put,
                        )
                        .await?;
                    }
                    self.cache_content(&key.url(), version, value.clone());
                }
                (None, _) if self.cfg.use_versioning => {
                    // A delete marker keeps plain GETs of the key in step;
                    // readers go by the manifest, so failure is harmless.
                    let _ = self
                        .call(
                            |s3, now| s3.delete_object(&key.bucket, &key.key, None, now),
                            parse_delete,
                        )
                        .await;
                }
                _ => {}
            }
        }
        let changes: Vec<(String, Option<String>)> = batch
            .iter()
            .zip(&versions)
            .map(|((k, _), v)| (k.url(), v.clone()))
            .collect();
        // 2. One entry per manifest, in call order.
        for (m, ticket) in manifests.iter().zip(tickets) {
            let turn = ticket.await;
            let guard = self.with_manifest(m, |s| s.lock.clone()).lock().await;
            let r = self.write_entry(m, write_id, &changes).await;
            drop(guard);
            drop(turn);
            r?;
            self.notify_local(m);
        }
        Ok(())
    }

    /// Entry then marker, for one manifest. The caller holds its lock.
    ///
    /// The entry's time is a lower bound of the server's clock when the
    /// listing started (less the precision of `LastModified`), and later
    /// than every entry we know. Why: a valid entry older than our window,
    /// `ts - LAG_WINDOW_MS`, landed before its time plus the window, so
    /// before our listing began, so the listing saw it and `files` holds
    /// it. A write is acknowledged only once its entry is known to be
    /// valid; see docs/protocol.md for the bounds.
    async fn write_entry(
        &self,
        m: &Ref,
        write_id: u64,
        changes: &[(String, Option<String>)],
    ) -> Result<()> {
        let mut rewrites = 0;
        let mut waits = 0;
        loop {
            let check_started = self.io.now();
            self.sync(m, true).await?;
            let (files, newest, session, n) = self.with_manifest(m, |s| {
                let r = s.resolution.as_ref();
                let files = r.map(|r| r.files.clone()).unwrap_or_default();
                let newest = r.and_then(|r| r.newest_ts);
                (files, newest, s.session.clone(), s.writes)
            });
            // Bounded with every answer so far, the sync's included.
            let ts =
                self.inner.borrow().clock.lower_bound(check_started) - LAST_MODIFIED_PRECISION_MS;
            if let Some(newest) = newest.filter(|&n| n >= ts) {
                // An entry we know is not older than our time (its writer's
                // clock is ahead of our bound). Sorting after it with a later
                // `ts` would break the argument above; instead wait until
                // our bound passes it, and list again.
                waits += 1;
                if waits > MAX_ENTRY_REWRITES {
                    return Err(Error::new(
                        ErrorKind::ClockSkew,
                        "the manifest log has entries from a clock far ahead",
                    ));
                }
                self.io
                    .sleep((newest - ts + 1).clamp(1, 10_000) as u64)
                    .await;
                continue;
            }
            let (object, entry_key) = EntryKey::new(&m.key, ts, &session, n);
            self.with_manifest(m, |s| s.writes += 1);
            let body = EntryBody::new(&files, changes);
            let bytes = body.to_bytes();
            // Create-only: a retry after a lost answer must not PUT again,
            // which would move `LastModified` under readers who already
            // accepted the entry (and could make it invalid after the
            // fact). A 412 means our first attempt landed: the listing
            // tells when, exactly as readers judge it.
            let opts = json_put(PutMode::Create);
            let sent_lower = self.inner.borrow().clock.lower_bound(self.io.now());
            let put = self
                .call(
                    |s3, now| s3.put_object(&m.bucket, &object, bytes.clone(), &opts, now),
                    parse_put,
                )
                .await;
            let answered = match put {
                Ok(meta) => meta.date,
                Err(e) if e.kind == ErrorKind::PreconditionFailed => None,
                Err(e) => return Err(e),
            };
            let Some(landed) = self
                .landing_time(m, &object, ts, sent_lower, answered)
                .await?
            else {
                // Readers ignore it: write again, at the corrected time.
                rewrites += 1;
                if rewrites > MAX_ENTRY_REWRITES {
                    return Err(Error::new(
                        ErrorKind::ClockSkew,
                        "manifest entries keep landing too late to be valid",
                    ));
                }
                continue;
            };
            self.with_manifest(m, |s| {
                s.known.insert(
                    object.clone(),
                    KnownEntry {
                        key: object.clone(),
                        ts,
                        last_modified: landed,
                        body: Some(Some(Rc::new(body))),
                    },
                );
                for mask in s.masks.iter_mut().filter(|mask| mask.write_id == write_id) {
                    mask.entry = Some((object.clone(), ts));
                }
            });
            let entries: Vec<KnownEntry> =
                self.with_manifest(m, |s| s.known.values().cloned().collect());
            self.install_log(m, entries);
            self.touch_marker(m, &entry_key.version).await;
            return Ok(());
        }
    }

    /// When the entry `object` (key time `ts`) landed, if readers accept
    /// it; `None` if they ignore it.
    ///
    /// The answer often settles it: `LastModified` is at least the server's
    /// time when the PUT left (`sent_lower` bounds that from below) and at
    /// most the answer's `Date`, each give or take a second of whole-second
    /// precision. When those bounds do not prove it, the listing's
    /// `LastModified` does, exactly as readers will judge.
    async fn landing_time(
        &self,
        m: &Ref,
        object: &str,
        ts: EpochMillis,
        sent_lower: EpochMillis,
        date: Option<EpochMillis>,
    ) -> Result<Option<EpochMillis>> {
        if let Some(date) = date {
            let earliest = sent_lower - LAST_MODIFIED_PRECISION_MS;
            let latest = date + LAST_MODIFIED_PRECISION_MS;
            if ts - earliest < LAG_WINDOW_MS && latest - ts < LAG_WINDOW_MS {
                return Ok(Some(date));
            }
        }
        let params = ListParams {
            prefix: Some(object.to_string()),
            start_after: None,
            max_keys: Some(1),
            continuation_token: None,
        };
        let page = self
            .call(
                |s3, now| s3.list_objects_v2(&m.bucket, &params, now),
                parse_list,
            )
            .await?;
        Ok(page
            .entries
            .iter()
            .find(|e| e.key == object)
            .map(|e| e.last_modified)
            .filter(|lm| (lm - ts).abs() < LAG_WINDOW_MS))
    }

    /// Tells pollers the log changed.
    ///
    /// Conditional on the ETag we resolved against: if it matches, nobody
    /// else wrote in between and our next poll may trust a 304 on our own
    /// marker; if not, write anyway and make the next poll list.
    async fn touch_marker(&self, m: &Ref, version: &str) {
        let (etag, trusted) = self.with_manifest(m, |s| (s.marker_etag.clone(), s.marker_trusted));
        let body = marker_body(version);
        let conditional = json_put(match (&etag, trusted) {
            (Some(e), true) => PutMode::Update(e.clone()),
            _ => PutMode::Overwrite,
        });
        let first = self
            .call(
                |s3, now| s3.put_object(&m.bucket, &m.key, body.clone(), &conditional, now),
                parse_put,
            )
            .await;
        let outcome = match first {
            Err(e) if e.kind == ErrorKind::PreconditionFailed => {
                let plain = json_put(PutMode::Overwrite);
                self.call(
                    |s3, now| s3.put_object(&m.bucket, &m.key, body.clone(), &plain, now),
                    parse_put,
                )
                .await
                .map(|meta| (meta, false))
            }
            other => other.map(|meta| (meta, trusted)),
        };
        self.with_manifest(m, |s| match outcome {
            Ok((meta, still_trusted)) => {
                s.marker_etag = meta.etag;
                s.marker_trusted = still_trusted;
            }
            Err(_) => s.marker_trusted = false,
        });
    }

    /// A versioned bucket named the version of a local write: subscribers
    /// that saw the placeholder have seen this version.
    fn rename_version(&self, manifests: &[Ref], write_id: u64, url: &str, from: &str, to: &str) {
        for m in manifests {
            self.with_manifest(m, |s| {
                for mask in s.masks.iter_mut() {
                    if mask.write_id == write_id && mask.url == url {
                        mask.version = Some(to.to_string());
                    }
                }
            });
        }
        let mut inner = self.inner.borrow_mut();
        for sub in inner.subs.iter_mut() {
            if sub.url == url && sub.last == Some(Some(from.to_string())) {
                sub.last = Some(Some(to.to_string()));
            }
        }
    }

    /// Notifies from what is known locally (masks, cached content), without
    /// fetching: local writes reach subscribers synchronously.
    pub(crate) fn notify_local(&self, m: &Ref) {
        let mut events = Vec::new();
        {
            let mut inner = self.inner.borrow_mut();
            let inner = &mut *inner;
            let Some(state) = inner.manifests.get(m) else {
                return;
            };
            for s in inner.subs.iter_mut().filter(|s| &s.manifest == m) {
                let (version, masked) = state.effective(&s.url);
                if s.last.as_ref() == Some(&version)
                    || (masked.is_none() && state.resolution.is_none())
                {
                    continue;
                }
                let value: Option<Option<Json>> = match (masked, &version) {
                    (Some(v), _) => Some(v),
                    (None, None) => Some(None),
                    (None, Some(v)) => inner.content.get(&(s.url.clone(), v.clone())).map(Some),
                };
                if let Some(value) = value {
                    s.last = Some(version);
                    events.push(super::Event::Value { sub: s.id, value });
                }
            }
        }
        self.push_events(events);
    }
}
