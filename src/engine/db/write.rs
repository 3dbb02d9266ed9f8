//! Writes: content, then per manifest a claim on the change marker and
//! one entry.

use crate::prelude::*;

use super::queue::{QueueKey, QueuedWrite};
use super::request::{json_put, no_version_id, Boxed, Done};
use super::{Batch, Committer, Db, Pending};
use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::io::{Io, LockWait};
use crate::engine::object::Ref;
use crate::engine::protocol::Waiting;
use crate::engine::s3::{parse_put, validate_object_key, PutMode, PutOptions};

/// Values and log entries shorter than this are sent as they are: gzip's
/// header and trailer (18 bytes) and the CPU are not worth it for them.
pub const GZIP_MIN_BYTES: usize = 1024;

/// How a commit ended for the caller that waited on it.
pub(super) enum Committed<L> {
    /// In the bucket, with the version it gave the keys it set.
    Done(Option<String>),
    /// Handed back, to be committed in the background (see
    /// [`Db::commit`]); with the error its caller is to hear instead of
    /// an acknowledgement, if any.
    HandedBack(Box<Pending<L>>, Option<Error>),
}

/// How often a write waiting for the client to be online looks again.
const OFFLINE_TICK_MS: u64 = 200;

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
            s.waiting.push(Waiting {
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
            s.waiting.retain(|w| w.key != key);
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
                            // Its entry may be in the log already: its
                            // caller is not told it was refused (a refused
                            // write leaves nothing), but that it is
                            // settled once writes get through.
                            let unknown = Error::new(
                                ErrorKind::OutcomeUnknown,
                                cat!(
                                    "the write's entry may have been sent before the browser blocked \
                                     its retries; it stays queued and is settled once writes get \
                                     through (",
                                    error.message,
                                    ")"
                                ),
                            );
                            return Ok(Committed::HandedBack(Box::new(p), Some(unknown)));
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
            let protocol = self.protocol(m, true).await?;
            if !p.write.checks.is_empty() {
                Self::check_conditions(m, protocol)?;
            }
        }
        if !p.write.uploaded {
            self.upload(p).await?;
            p.write.uploaded = true;
            if p.durable {
                self.store_write(&p.write).await;
            }
        }
        for i in 0..p.write.manifests.len() {
            let m = p.write.manifests[i].clone();
            if p.write.is_done(&m.url()) {
                continue;
            }
            if p.turns[i].is_none() {
                // Ready (its content is up): the write ahead may carry it.
                self.ready_to_carry(&m, &p.write);
                let ticket = p.tickets[i].take().expect("a ticket until its turn");
                p.turns[i] = Some(ticket.await);
            }
            let lock = self.state(&m).lock.clone();
            let guard = lock.lock().await;
            let r = self
                .write_entry(&m, p.write_id, &mut p.write, p.durable)
                .await;
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
