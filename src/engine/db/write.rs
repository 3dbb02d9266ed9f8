//! Writes: content, then per manifest a claim on the change marker and
//! one entry.

use crate::prelude::*;

use alloc::rc::Rc;

use super::queue::{QueueKey, QueuedWrite};
use super::request::{json_put, Boxed, Done};
use super::sync::{Freshness, CLAIM_TO_LISTING_MS, SURELY_UNCOLLECTED_MS};
use super::{Batch, Committer, Db, Pending, LAST_MODIFIED_PRECISION_MS};
use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::io::{Io, LockWait};
use crate::engine::json::JsonValue as Value;
use crate::engine::object::Ref;
use crate::engine::protocol::v1::MarkerSeen;
use crate::engine::protocol::v1::{
    claim_body, files_of, writer_tag, Body, Claim, EntryBody, EntryKey, KnownEntry, LAG_WINDOW_MS,
};
use crate::engine::s3::{parse_put, validate_object_key, ObjectMeta, PutMode, PutOptions};
use crate::engine::time::EpochMillis;

/// A versioned write's answer without the version S3 gave the object.
pub(super) fn no_version_id(bucket: &str) -> Error {
    Error::bad_response(cat!(
        "bucket ",
        bucket,
        " answered without a version id: is versioning enabled?"
    ))
}

/// Values and log entries shorter than this are sent as they are: gzip's
/// header and trailer (18 bytes) and the CPU are not worth it for them.
pub const GZIP_MIN_BYTES: usize = 1024;

/// What became of an entry PUT made earlier whose answer is not known.
enum Attempt {
    /// Readers never accept it: the write is made again.
    Lost,
    /// Readers accept it; its `LastModified` when it was listed.
    Landed(Option<EpochMillis>),
}

/// How a commit ended for the caller that waited on it.
pub(super) enum Committed<L> {
    /// In the bucket, with the version it gave the keys it set.
    Done(Option<String>),
    /// Handed back, to be committed in the background (see
    /// [`Db::commit`]); with the error its caller is to hear instead of
    /// an acknowledgement, if any.
    HandedBack(Box<Pending<L>>, Option<Error>),
}

/// How many times a write is committed again after landing too late.
const MAX_ENTRY_REWRITES: u32 = 5;

/// How often a write waiting for the client to be online looks again.
const OFFLINE_TICK_MS: u64 = 200;

/// A claim written on the change marker (`Db::claim`).
struct Claimed {
    /// The marker's new ETag.
    etag: Option<String>,
    /// Whether it was written under `If-Match` on the marker read before.
    chained: bool,
    /// The answer's `Date`.
    date: Option<EpochMillis>,
}

impl<I: Io> Db<I> {
    /// Accepts a write: queued in the store (when it has one), masked, its
    /// place in each manifest's order taken: one entry per manifest will
    /// carry all of it, so readers see all of it or none. Committing it is
    /// [`Db::commit`]'s job; [`Db::write`] may acknowledge it first when
    /// [`Pending::durable`] says it survives a reload. `values` says
    /// whether they are new or already in the bucket (an import's object,
    /// a key forgotten).
    pub(super) async fn enqueue(
        &self,
        batch: Batch,
        manifests: &[Ref],
        values: super::change::Values,
        checks: Vec<(String, Option<String>)>,
        trace: Option<String>,
    ) -> Result<Pending<I::Lock>> {
        // The accept turn is taken at the call and held until the keys are
        // masked: a read made after the call reads this write.
        let turn = self.accepting.ticket();
        self.ready().await;
        let _accepting = turn.await;
        self.check_live()?;
        let manifests: Vec<Ref> = if manifests.is_empty() {
            vec![self.cfg.default_manifest.clone()]
        } else {
            manifests.to_vec()
        };
        for (k, v) in &batch {
            Self::check_ref(k)?;
            // A versioned bucket keeps a value in the object of its key.
            if self.cfg.use_versioning && v.is_some() {
                validate_object_key(&k.key)?;
            }
        }
        for m in &manifests {
            Self::check_manifest(m)?;
        }
        // Fix this write's place in each manifest's order now, at the call.
        let key = self.next_queue_key();
        let super::Turns { tickets, turns } = self.take_turns(&manifests, &key);
        let uploaded = matches!(values, super::change::Values::InBucket(_));
        let (write_id, versions, trace) = {
            let mut inner = self.inner.borrow_mut();
            let id = inner.next_id;
            inner.next_id += 1;
            // One per write unless the caller gave its own.
            let trace = trace.unwrap_or_else(|| {
                let mut t = String::new();
                for _ in 0..2 {
                    let n = inner.rng.next_u64();
                    for shift in (0..16).rev() {
                        t.push(char::from_digit((n >> (shift * 4)) as u32 & 15, 16).unwrap_or('0'));
                    }
                }
                t
            });
            // One version for every key the write sets: what an atomic
            // commit answers with, and each key's version after it.
            let uuid = inner.rng.uuid_v4();
            let version = if self.cfg.use_versioning {
                cat!("local-", id, "-", uuid)
            } else {
                uuid
            };
            let versions = match values {
                super::change::Values::InBucket(versions) => versions,
                super::change::Values::New => {
                    let mut versions = Vec::new();
                    for (_, v) in &batch {
                        versions.push(v.as_ref().map(|_| version.clone()));
                    }
                    versions
                }
            };
            (id, versions, trace)
        };
        let write = QueuedWrite {
            key,
            batch,
            manifests,
            versions,
            uploaded,
            attempts: Vec::new(),
            done: Vec::new(),
            checks,
            trace,
        };
        let empty = write.batch.is_empty();
        // The lock first: no other tab may take the write over once stored.
        let lock = if self.storing() && !empty {
            self.io
                .lock(&super::tabs::lock_name(&write.key), LockWait::Wait)
                .await
        } else {
            None
        };
        let durable = empty || (lock.is_some() && self.store_write(&write).await);
        if !empty {
            self.mask_write(&write, write_id);
            if durable {
                self.announce("queued", &write);
            }
        }
        Ok(Pending {
            write,
            write_id,
            tickets,
            turns,
            _lock: lock,
            durable,
        })
    }

    /// A turn in each manifest's write order for the write `key` (see
    /// `V2State::waiting`): the tickets, and room for the turns.
    pub(super) fn take_turns(&self, manifests: &[Ref], key: &str) -> super::Turns {
        let (mut tickets, mut turns) = (Vec::new(), Vec::new());
        for m in manifests {
            let mut s = self.state(m);
            s.v2.waiting.push(crate::engine::protocol::v2::Waiting {
                key: String::from(key),
                write_id: String::from(QueueKey::parse(key, &self.cfg.namespace).seq),
                change: None,
            });
            tickets.push(Some(s.write_order.ticket()));
            turns.push(None);
        }
        super::Turns { tickets, turns }
    }

    /// The write `key` is committed or dropped: out of every order.
    fn leave_order(&self, key: &str) {
        for (_, s) in &mut self.inner.borrow_mut().manifests {
            s.v2.waiting.retain(|w| w.key != key);
        }
    }

    /// Commits an accepted write, in its place in each manifest's order.
    ///
    /// While offline it waits to be online. A transient failure (5xx,
    /// network) that outlasts the retries fails a write its caller waits
    /// for (it is unmasked and dropped, as if never made), unless an entry
    /// PUT of it may have been sent; a write committed in the background
    /// (acknowledged already) is never dropped for one. Those are tried
    /// again with a growing pause. A permanent
    /// failure (refused, bad input) drops the write either way; when it was
    /// acknowledged, its keys' subscribers and the log hear of it. Shut
    /// down, the write stays queued for the next client of this namespace.
    ///
    /// `Ok(Some(p))` hands the write back: its caller waited only while
    /// the bucket could be reached (`Committer::CallerWhileReachable`), and
    /// it cannot now; the write is durable, to be committed in the
    /// background.
    pub(super) fn commit(
        &self,
        mut p: Pending<I::Lock>,
        committer: Committer,
    ) -> Boxed<'_, Committed<I::Lock>> {
        Box::pin(async move {
            let keep = committer == Committer::Background;
            if p.write.batch.is_empty() {
                self.leave_order(&p.write.key);
                return Ok(Committed::Done(None));
            }
            let mut pause: u64 = 1_000;
            // One sleep and one removal from the store, whichever way it goes:
            // each await is a state of this machine, and it is the largest.
            let outcome = loop {
                let wait = if !self.reachable() && !self.shutdown.get() {
                    let maybe_sent = !p.write.attempts.is_empty();
                    match committer {
                        Committer::CallerWhileReachable if p.durable => {
                            return Ok(Committed::HandedBack(Box::new(p), None));
                        }
                        Committer::CallerNow if maybe_sent => {
                            let unknown = Error::new(
                                ErrorKind::OutcomeUnknown,
                                "the bucket went away after the write was sent: it is settled when \
                                 the bucket answers again",
                            );
                            return Ok(Committed::HandedBack(Box::new(p), Some(unknown)));
                        }
                        Committer::CallerNow => {
                            break Err(self.check_reachable().err().unwrap_or_else(|| {
                                Error::new(ErrorKind::Offline, "the client is offline")
                            }));
                        }
                        _ => {}
                    }
                    OFFLINE_TICK_MS
                } else {
                    let error = match self.try_commit(&mut p).await {
                        // The version it gave the keys it set (a versioned
                        // bucket's, once uploaded).
                        Ok(()) => break Ok(p.write.versions.iter().flatten().next().cloned()),
                        Err(e) => e,
                    };
                    if self.shutdown.get() {
                        return Err(error);
                    }
                    if error.kind == ErrorKind::Offline || !self.reachable() {
                        continue;
                    }
                    // Once an entry PUT may have been sent, the write may be in
                    // the log: it is never dropped then (a rejected write must
                    // not appear later); it is settled instead, however long
                    // that takes.
                    let maybe_sent = !p.write.attempts.is_empty();
                    // Blocked by the browser (the bucket's CORS rule): a
                    // write nothing of which may have reached the log is
                    // refused; any other waits in the queue for the rule
                    // to be fixed, never dropped.
                    let blocked = error.kind == ErrorKind::CorsBlocked;
                    if !((keep || maybe_sent) && (error.is_retryable() || blocked)) {
                        break Err(error);
                    }
                    if blocked {
                        self.tell_write_error(&p.write, &error);
                        if !keep {
                            return Ok(Committed::HandedBack(Box::new(p), Some(error)));
                        }
                    }
                    // No answer to its entry's PUT (never sent again
                    // blindly): settled and tried again at once, by a read
                    // of the log first; a run of them makes the client
                    // disconnected, which ends this.
                    if error.kind == ErrorKind::Network {
                        self.cfg.retry.base_ms
                    } else {
                        self.io.log(
                            "queue",
                            &cat!("a queued write will be tried again: ", error),
                        );
                        let wait = pause;
                        pause = (pause * 2).min(60_000);
                        wait
                    }
                };
                self.io.sleep(wait).await;
            };
            self.leave_order(&p.write.key);
            let kind = if outcome.is_ok() { "done" } else { "dropped" };
            self.forget_write(&p.write, kind).await;
            let error = match outcome {
                Ok(version) => return Ok(Committed::Done(version)),
                Err(e) => e,
            };
            self.withdraw(p.write_id);
            if keep {
                self.io
                    .log("queue", &cat!("a queued write was dropped: ", error));
                self.tell_write_error(&p.write, &error);
            }
            Err(error)
        })
    }

    /// Tells `error` to the subscribers of the keys `write` touches.
    fn tell_write_error(&self, write: &QueuedWrite, error: &Error) {
        self.tell_error(error, &|s| {
            write.batch.iter().any(|(k, _)| s.range.contains(&k.url()))
        });
    }

    /// One try at the steps of a queued write not yet done, each stored as
    /// done before the next.
    async fn try_commit(&self, p: &mut Pending<I::Lock>) -> Result<()> {
        // Each manifest's protocol decides what is uploaded (v2 carries
        // small values in the entry) and how the entry is written.
        for m in &p.write.manifests {
            self.protocol(m, true).await?;
            // Only v2's log is ordered by the bucket: a condition means
            // nothing in v1's.
            if !p.write.checks.is_empty() && !self.is_v2(m) {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    cat!(
                        "manifest ",
                        m.url(),
                        " is protocol v1: conditional writes need v2"
                    ),
                ));
            }
        }
        if !p.write.uploaded {
            self.upload(p).await?;
            p.write.uploaded = true;
            if p.durable {
                self.store_write(&p.write).await;
            }
        }
        let mut changes = Vec::new();
        for ((k, _), v) in p.write.batch.iter().zip(&p.write.versions) {
            changes.push((k.url(), v.clone()));
        }
        for i in 0..p.write.manifests.len() {
            let m = p.write.manifests[i].clone();
            if p.write.is_done(&m.url()) {
                continue;
            }
            if p.turns[i].is_none() {
                // Ready (its content is up): the write ahead may carry it,
                // unless it is conditional (checked against the state
                // before its own entry).
                if self.is_v2(&m) && p.write.checks.is_empty() {
                    let change = self.change_v2(&p.write);
                    let mut s = self.state(&m);
                    if let Some(w) = s.v2.waiting.iter_mut().find(|w| w.key == p.write.key) {
                        w.change = Some(change);
                    }
                }
                let ticket = p.tickets[i].take().expect("a ticket until its turn");
                p.turns[i] = Some(ticket.await);
            }
            let lock = self.state(&m).lock.clone();
            let guard = lock.lock().await;
            let r = if self.is_v2(&m) {
                self.write_entry_v2(&m, p.write_id, &mut p.write, p.durable)
                    .await
            } else {
                self.write_entry(&m, p.write_id, &changes, &mut p.write, p.durable)
                    .await
            };
            drop(guard);
            r?;
            p.write.done.push(m.url());
            if p.durable {
                self.store_write(&p.write).await;
            }
            p.turns[i] = None;
            self.notify_local(&m);
        }
        Ok(())
    }

    /// Content objects (immutable; a repeated PUT rewrites the same bytes
    /// under the same uuid).
    fn upload<'a>(&'a self, p: &'a mut Pending<I::Lock>) -> Done<'a> {
        Box::pin(async move {
            let write_id = p.write_id;
            let manifests = p.write.manifests.clone();
            for ((key, value), version) in p.write.batch.iter().zip(p.write.versions.iter_mut()) {
                match (value, version.as_mut()) {
                    (Some(value), Some(_)) if self.inlined(value, &manifests) => {}
                    (Some(value), Some(version)) => {
                        let mut opts = json_put(PutMode::Overwrite);
                        // A binary value goes up as its bytes, with its type,
                        // not gzipped (images and files mostly are already).
                        let body = match crate::engine::binary::unwrap(value) {
                            Some((content_type, bytes)) => {
                                opts.content_type = Some(content_type.into());
                                bytes
                            }
                            None => self.upload_body(value.as_bytes().to_vec(), &mut opts).await,
                        };
                        // A versioned bucket keeps the value in the key's own
                        // object, and names its version.
                        let object = if self.cfg.use_versioning {
                            key.key.clone()
                        } else {
                            cat!(key.key, "@", version)
                        };
                        let trace = &p.write.trace;
                        let meta = self
                            .call(
                                |s3, now| {
                                    let mut req = s3.put_object(
                                        &key.bucket,
                                        &object,
                                        body.clone(),
                                        &opts,
                                        now,
                                    )?;
                                    req.trace = Some(trace.clone());
                                    Ok(req)
                                },
                                parse_put,
                            )
                            .await?;
                        if self.cfg.use_versioning {
                            let real = meta.version_id.ok_or_else(|| no_version_id(&key.bucket))?;
                            self.rename_version(&manifests, write_id, &key.url(), version, &real);
                            *version = real;
                        }
                        self.keep_content(&key.url(), version, value.clone()).await;
                    }
                    (None, _) if self.cfg.use_versioning => {
                        // A delete marker keeps plain GETs of the key in step;
                        // readers go by the manifest, so failure is harmless.
                        let _ = self.delete_object(&key.bucket, key.key.clone(), None).await;
                    }
                    _ => {}
                }
            }
            Ok(())
        })
    }

    /// The bytes of a value or a log entry as uploaded: gzipped
    /// (`Content-Encoding: gzip`) when `DbConfig::gzip` is on, they are at
    /// least `GZIP_MIN_BYTES` and the edge can compress and that makes them
    /// smaller. Readers need nothing: browsers (ours, and the JS client's)
    /// undo a stored object's `Content-Encoding` as they fetch it.
    /// Compressed once, so every retry sends the same bytes; taken by
    /// value, so bytes sent as they are are not copied.
    pub(super) async fn upload_body(&self, raw: Vec<u8>, opts: &mut PutOptions) -> Vec<u8> {
        if self.cfg.gzip && raw.len() >= GZIP_MIN_BYTES {
            if let Some(zipped) = self.io.gzip(&raw).await.filter(|z| z.len() < raw.len()) {
                opts.content_encoding = Some("gzip");
                return zipped;
            }
        }
        raw
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
    fn write_entry<'a>(
        &'a self,
        m: &'a Ref,
        write_id: u64,
        changes: &'a [(String, Option<String>)],
        record: &'a mut QueuedWrite,
        durable: bool,
    ) -> Done<'a> {
        Box::pin(async move {
            // An entry PUT made before (by us before a failure, or by a client
            // that crashed) may have landed, or may still land: settle that
            // before writing another, or the write would apply twice.
            if let Some((object, ts)) = record.attempt(&m.url()).map(|(o, ts)| (o.to_string(), ts))
            {
                if let Attempt::Landed(landed) =
                    self.settle_attempt(m, &object, ts, changes).await?
                {
                    self.entry_landed(m, write_id, &object, ts, landed, None)
                        .await;
                    return Ok(());
                }
                // It never will: forget it, so a later try does not ask again
                // (by then autoclean could make the answer uncertain).
                record.attempts.retain(|(url, _, _)| url != &m.url());
                if durable {
                    self.store_write(record).await;
                }
            }
            let mut rewrites = 0;
            let mut waits = 0;
            loop {
                // Is the log settled at the marker as it is now? Then our claim,
                // chained on it, leaves nothing unknown to us: no listing.
                let marker = self.read_marker(m).await?;
                let (settled_here, legacy, session, n) = {
                    let mut s = self.state(m);
                    let here = s.resolution.is_some()
                        && marker.is_some()
                        && s.v1.settled.as_deref() == marker.as_ref().map(|mk| mk.etag.as_str());
                    // Until our entry is in, nothing is settled.
                    s.v1.settled = None;
                    let n = s.v1.writes;
                    s.v1.writes += 1;
                    (here, s.v1.legacy_seen, s.v1.session.clone(), n)
                };
                let tag = writer_tag(&session, n);
                let claim_sent = self.io.now();
                let prev = marker.as_ref().filter(|_| !legacy);
                let Claimed {
                    etag: claim_etag,
                    chained,
                    date: claim_date,
                } = self.claim(m, &tag, prev).await?;
                let claim_bound = self.inner.borrow().clock.lower_bound(claim_sent);
                let skip = self.cfg.minimize_list_calls && chained && settled_here;
                let (ts, settles) = if skip {
                    (claim_bound - LAST_MODIFIED_PRECISION_MS, true)
                } else {
                    let list_started = self.io.now();
                    let list_bound = self.list_and_resolve(m).await?;
                    // By time only: what we were settled at was cleared for
                    // this write, so no chain starts from it.
                    self.settle(m, marker.as_ref(), None, list_bound);
                    let settled_prev = {
                        let s = self.state(m);
                        s.v1.settled.is_some()
                            && s.v1.settled.as_deref() == marker.as_ref().map(|mk| mk.etag.as_str())
                    };
                    // Bounded with every answer so far, the listing's included;
                    // and at most a claim's allowance after the claim.
                    let listed = self.inner.borrow().clock.lower_bound(list_started);
                    let ts =
                        listed.min(claim_bound + CLAIM_TO_LISTING_MS) - LAST_MODIFIED_PRECISION_MS;
                    (ts, chained && (settled_here || settled_prev))
                };
                {
                    let mut s = self.state(m);
                    s.v1.settled = None;
                    s.v1.marker = claim_etag.clone().map(|etag| MarkerSeen {
                        etag,
                        written: claim_date,
                        claim: Some(Claim {
                            tag: tag.clone(),
                            prev: None,
                        }),
                    });
                    s.v1.listed_marker = s.v1.marker.as_ref().map(|mk| mk.etag.clone());
                };
                let (files, newest) = {
                    let s = self.state(m);
                    let r = s.resolution.as_ref();
                    let files = r.map(|r| r.files.clone()).unwrap_or_default();
                    (files, r.and_then(|r| r.newest_ts))
                };
                if let Some(newest) = newest.filter(|&n| n >= ts) {
                    // An entry we know is not older than our time (its writer's
                    // clock is ahead of our bound). Sorting after it with a later
                    // `ts` would break the argument above; instead wait until
                    // our bound passes it, and claim and list again.
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
                let (object, _) = EntryKey::new(&m.key, ts, &session, n);
                let body = EntryBody::new(&files, changes);
                // Create-only: a retry after a lost answer must not PUT again,
                // which would move `LastModified` under readers who already
                // accepted the entry (and could make it invalid after the
                // fact). A 412 means our first attempt landed: the listing
                // tells when, exactly as readers judge it.
                let mut opts = json_put(PutMode::Create);
                // An entry carries the whole state (`files`): in a manifest of
                // many keys it is most of what a write sends.
                let bytes = self.upload_body(body.to_bytes(), &mut opts).await;
                let trace = record.trace.clone();
                // Stored before it is sent: whoever resumes this write must
                // find out whether this entry landed (see `settle_attempt`).
                // Not when offline: it will not be sent.
                self.check_reachable()?;
                record.set_attempt(&m.url(), &object, ts);
                if durable {
                    self.store_write(record).await;
                    // Gone offline (or shut down) while it was stored: the PUT
                    // will not leave (nothing awaits between here and the
                    // request loop's own checks), so no entry can land. Kept,
                    // the attempt could not be judged on a return after
                    // autoclean's grace (see `settle_attempt`): forget it.
                    if let Err(e) = self.check_live().and_then(|_| self.check_reachable()) {
                        record.attempts.retain(|(url, _, _)| url != &m.url());
                        self.store_write(record).await;
                        return Err(e);
                    }
                }
                let first_sent = self.io.now();
                let sent_lower = self.inner.borrow().clock.lower_bound(first_sent);
                // Let finish if the client goes offline meanwhile: its answer
                // settles whether it landed, which, aborted, only a listing
                // could, and not once autoclean may have collected it.
                //
                // Its retries stop in time for their answers to come before
                // autoclean could collect a landed first try: a retry after
                // that would create the entry again, late, and the write would
                // be judged unlanded and committed twice. Past that, the
                // attempt is settled as a resumed one (`settle_attempt`).
                // (The first try always leaves, whatever the time limit.)
                let retry_until = SURELY_UNCOLLECTED_MS - self.cfg.retry.timeout_ms as i64;
                let tries = core::cell::Cell::new(0u32);
                let put = self
                    .call(
                        |s3, now| {
                            let retry = tries.replace(tries.get() + 1) > 0;
                            if retry && self.io.now() - first_sent >= retry_until {
                                return Err(Error::network(
                                "an entry PUT went unanswered too long to try again; settling it",
                            ));
                            }
                            let mut req =
                                s3.put_object(&m.bucket, &object, bytes.clone(), &opts, now)?;
                            req.finish_offline = true;
                            req.trace = Some(trace.clone());
                            Ok(req)
                        },
                        parse_put,
                    )
                    .await;
                let answered = match put {
                    Ok(meta) => meta.date,
                    Err(e) if e.kind == ErrorKind::PreconditionFailed => None,
                    Err(e) => return Err(e),
                };
                let Some(landed) = self
                    .landing_time(m, &object, ts, (first_sent, sent_lower), answered)
                    .await?
                else {
                    // Readers ignore it: claim and write again, at the
                    // corrected time.
                    rewrites += 1;
                    if rewrites > MAX_ENTRY_REWRITES {
                        return Err(Error::new(
                            ErrorKind::ClockSkew,
                            "manifest entries keep landing too late to be valid",
                        ));
                    }
                    continue;
                };
                self.entry_landed(m, write_id, &object, ts, Some(landed), Some(body))
                    .await;
                #[cfg(test)]
                if skip {
                    self.unlisted_entries.set(self.unlisted_entries.get() + 1);
                }
                if settles {
                    // Everything claimed before our claim was known, and ours
                    // is in: the log is settled at our marker.
                    self.state(m).v1.settled = claim_etag;
                }
                return Ok(());
            }
        })
    }

    /// Writes the marker claiming the entry `tag` (docs/protocol.md,
    /// "Claims"): under `If-Match` on the marker we read (`prev`) when the
    /// server enforces it, so that pollers settled there need only find
    /// our entry; else unconditionally. The first claim probes whether the
    /// server enforces `If-Match` at all: one that ignores it writes the
    /// probe, which is then the claim.
    async fn claim(&self, m: &Ref, tag: &str, prev: Option<&MarkerSeen>) -> Result<Claimed> {
        let nonce = cat!(hex(self.inner.borrow_mut().rng.next_u64() & 0xff_ffff, 6));
        // One request site for the three ways (probe, chained, plain): each
        // refusal moves on to the next.
        let mut chain = prev;
        loop {
            let conditional = self.state(m).v1.conditional;
            let (mode, on) = match (conditional, chain) {
                (None, _) => (PutMode::Update("\"mps3-if-match-probe\"".into()), None),
                (Some(true), Some(p)) => (PutMode::Update(p.etag.clone()), Some(p.etag.as_str())),
                _ => (PutMode::Overwrite, None),
            };
            let answer = self.put_marker(m, claim_body(tag, &nonce, on), mode).await;
            let refused = answer.as_ref().is_err_and(|e| {
                matches!(e.kind, ErrorKind::PreconditionFailed | ErrorKind::NotFound)
            });
            match answer {
                Ok(meta) => {
                    // The probe written: the server ignores `If-Match`.
                    self.state(m).v1.conditional.get_or_insert(false);
                    return Ok(Claimed {
                        etag: meta.etag,
                        chained: on.is_some(),
                        date: meta.date,
                    });
                }
                Err(_) if refused && on.is_some() => chain = None,
                Err(e)
                    if conditional.is_none()
                        && !e.is_retryable()
                        && e.kind != ErrorKind::Offline =>
                {
                    // The probe refused: `If-Match` is enforced; refused some
                    // other way, conditions are not implemented.
                    self.state(m).v1.conditional = Some(refused);
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn put_marker(&self, m: &Ref, body: Vec<u8>, mode: PutMode) -> Result<ObjectMeta> {
        let opts = json_put(mode);
        self.call(
            |s3, now| s3.put_object(&m.bucket, &m.key, body.clone(), &opts, now),
            parse_put,
        )
        .await
    }

    /// Our entry `object` is valid: known, our masks retire once a
    /// resolution includes it, and pollers are told.
    async fn entry_landed(
        &self,
        m: &Ref,
        write_id: u64,
        object: &str,
        ts: EpochMillis,
        landed: Option<EpochMillis>,
        body: Option<EntryBody>,
    ) {
        // (The resolution may include it already: a resumed write's
        // listing found it.)
        self.state(m).landed(write_id, object, ts);
        self.note_status();
        match (landed, body) {
            (Some(last_modified), Some(body)) => {
                {
                    let mut s = self.state(m);
                    s.v1.known.insert(
                        object.to_string(),
                        KnownEntry {
                            key: object.to_string(),
                            ts,
                            last_modified,
                            body: Body::Parsed(Rc::new(body)),
                        },
                    );
                };
                let mut entries = Vec::new();
                for e in self.state(m).v1.known.values() {
                    entries.push(e.clone());
                }
                self.install_log(m, entries);
                self.persist_state(m).await;
            }
            // Settled from a listing: read the log as readers will (on
            // failure the masks stay until a later resolution has it).
            _ => {
                let _ = self.sync(m, Freshness::List).await;
            }
        }
    }

    /// Whether an entry PUT made earlier, `object` at time `ts`, counts:
    /// landed if readers accept it, lost if they never will, so the write
    /// must be made again.
    ///
    /// Waits first until any late landing would be invalid (readers ignore
    /// an entry whose `LastModified` is `LAG_WINDOW_MS` from its time), so
    /// the answer is final. An entry no longer listed was either never
    /// written or landed and was collected by autoclean, which waits
    /// `AUTOCLEAN_GRACE_MS` after landing: young enough, it never landed;
    /// older, it landed if the log still holds one of our content versions,
    /// and otherwise no one can tell. Then we count it as landed: writing
    /// again could put an old value over newer ones, a worse failure than
    /// the loss of a write whose PUT most likely arrived. That case is
    /// logged.
    async fn settle_attempt(
        &self,
        m: &Ref,
        object: &str,
        ts: EpochMillis,
        changes: &[(String, Option<String>)],
    ) -> Result<Attempt> {
        let final_after = ts + LAG_WINDOW_MS + LAST_MODIFIED_PRECISION_MS;
        loop {
            let Some(bound) = self.server_lower_bound() else {
                // The first answer bounds the server's clock.
                self.sync(m, Freshness::List).await?;
                continue;
            };
            if bound >= final_after {
                break;
            }
            self.io
                .sleep((final_after - bound + 1).clamp(1, 10_000) as u64)
                .await;
        }
        if let Some(last_modified) = self.listed_first(&m.bucket, object).await? {
            let timely = (last_modified - ts).abs() < LAG_WINDOW_MS;
            return Ok(if timely {
                Attempt::Landed(Some(last_modified))
            } else {
                Attempt::Lost
            });
        }
        // Collected by autoclean only after `AUTOCLEAN_GRACE_MS`, counted
        // by the collector's clock (leave a margin for its error), and only
        // behind a base more than the window newer.
        let age = self.server_now() - ts;
        if age < SURELY_UNCOLLECTED_MS {
            return Ok(Attempt::Lost);
        }
        self.sync(m, Freshness::List).await?;
        let newer_base =
            self.state(m).v1.known.values().any(|e| {
                e.ts > ts + LAG_WINDOW_MS && (e.last_modified - e.ts).abs() < LAG_WINDOW_MS
            });
        if !newer_base {
            return Ok(Attempt::Lost);
        }
        let seen = {
            let s = self.state(m);
            // Whether `files` holds one of the versions this write set.
            let in_files = |files: &crate::engine::protocol::v1::Files| {
                changes.iter().any(|(url, v)| {
                    v.is_some() && files.get(url).map(|f| Some(&f.version)) == Some(v.as_ref())
                })
            };
            s.resolution.as_ref().is_some_and(|r| in_files(&r.files))
                || s.v1.known.values().any(|e| match &e.body {
                    Body::Parsed(b) => {
                        let base = Value::Object(vec![("files".into(), b.files.clone())]);
                        in_files(&files_of(&b.update)) || in_files(&files_of(&base))
                    }
                    _ => false,
                })
        };
        if !seen {
            self.io.log(
                "queue",
                &cat!(
                    "cannot tell whether entry ",
                    object,
                    " landed before it was collected; counting it as landed"
                ),
            );
        }
        Ok(Attempt::Landed(None))
    }

    /// When the entry `object` (key time `ts`) landed, if readers accept
    /// it; `None` if they ignore it.
    ///
    /// The answer often settles it: `LastModified` is at least the server's
    /// time when the PUT left (`sent_lower` bounds that from below) and at
    /// most the answer's `Date`, each give or take a second of whole-second
    /// precision. When those bounds do not prove it, the listing's
    /// `LastModified` does, exactly as readers will judge.
    ///
    /// The listing proves the entry absent only while autoclean cannot
    /// have collected it yet. A PUT whose answers took longer than that
    /// (requests timed out and retried) may have landed and been collected
    /// since: then this fails, retryably, with the attempt kept, and the
    /// write's next try settles it as a resumed one (`settle_attempt`).
    /// Writing again here would commit it twice.
    async fn landing_time(
        &self,
        m: &Ref,
        object: &str,
        ts: EpochMillis,
        (first_sent, sent_lower): (EpochMillis, EpochMillis),
        date: Option<EpochMillis>,
    ) -> Result<Option<EpochMillis>> {
        if let Some(date) = date {
            let earliest = sent_lower - LAST_MODIFIED_PRECISION_MS;
            let latest = date + LAST_MODIFIED_PRECISION_MS;
            if ts - earliest < LAG_WINDOW_MS && latest - ts < LAG_WINDOW_MS {
                return Ok(Some(date));
            }
        }
        let listed = self.listed_first(&m.bucket, object).await?;
        // (When the answer came: the listing's retries may have taken long.)
        let listed_at = self.io.now();
        match listed {
            Some(lm) => Ok(((lm - ts).abs() < LAG_WINDOW_MS).then_some(lm)),
            None if listed_at - first_sent >= SURELY_UNCOLLECTED_MS => Err(Error::network(
                "an entry PUT answered too late to tell whether it landed; settling it",
            )),
            None => Ok(None),
        }
    }

    /// A versioned bucket named the version of a local write: subscribers
    /// that saw the placeholder have seen this version.
    fn rename_version(&self, manifests: &[Ref], write_id: u64, url: &str, from: &str, to: &str) {
        for m in manifests {
            for mask in &mut self.state(m).masks {
                if mask.write_id == write_id && mask.url == url {
                    mask.version = Some(to.to_string());
                }
            }
        }
        let mut inner = self.inner.borrow_mut();
        for sub in &mut inner.subscribers.subs {
            for (u, v) in sub.seen.iter_mut().flatten() {
                if u == url && v == from {
                    *v = to.to_string();
                }
            }
        }
    }
}
