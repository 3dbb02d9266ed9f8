//! Protocol v2 in the engine (docs/protocol-v2.md): choosing a manifest's
//! protocol (the guard, the probe of a bucket's conditional creates), and
//! handing the protocol's reads, writes and checkpoints
//! (`protocol::v2::{read, write, checkpoint}`) what they need of the
//! client: the queued write an entry carries, what a read or a landing
//! changes in the client's state, the inspector's view.
//!
//! The order is the bucket's: one writer wins each slot. Whether a write
//! whose answer was lost landed is read from the log itself (its writer's
//! last write id, which checkpoints carry), never judged by a clock.

use crate::prelude::*;

use super::queue::QueueKey;
use super::request::{Boxed, Done};
use super::Db;
use crate::engine::error::{ErrorKind, Result};
use crate::engine::io::Io;
use crate::engine::object::Ref;
use crate::engine::protocol::v1;
use crate::engine::protocol::v2::format::{probe_key, slot_key, Entry, Stored};
use crate::engine::protocol::v2::{read, write};
use crate::engine::protocol::v2::{EntryChange, Inspection, INLINE_MAX_BYTES};
use crate::engine::protocol::{Protocol, Put};
use crate::engine::s3::PutMode;
use crate::engine::time::EpochMillis;

impl<I: Io> Db<I> {
    /// A client that last read a log's head longer ago than this reads it
    /// again from the listing (the newest checkpoint and the tail): in that
    /// time the slot after its head may have been filled and collected,
    /// and a 404 there would prove nothing. Collection waits the whole
    /// grace after the checkpoint above a slot; half of it leaves a margin
    /// for the collector's clock.
    fn refresh_after_ms(&self) -> i64 {
        self.cfg.grace_ms / 2
    }

    /// Whether this client read `m`'s head recently enough to trust a 404
    /// after it (see `refresh_after_ms`).
    pub(super) fn fresh_v2(&self, m: &Ref) -> bool {
        let (now, refresh) = (self.io.now(), self.refresh_after_ms());
        self.state(m).read_v2_since(now, refresh)
    }

    pub(crate) fn is_v2(&self, m: &Ref) -> bool {
        self.state(m).protocol == Some(Protocol::V2)
    }

    /// The protocol of `m` (`protocol::choose`): decided once, by its
    /// guard object; `None` while the manifest does not exist, unless
    /// `create`.
    pub(crate) fn protocol<'a>(&'a self, m: &'a Ref, create: bool) -> Boxed<'a, Option<Protocol>> {
        Box::pin(crate::engine::protocol::choose(
            self,
            m,
            create,
            self.cfg.protocol,
        ))
    }

    /// Whether `m`'s bucket refuses a second create of one object (once
    /// per bucket and client): some services ignore `If-None-Match`, and
    /// Backblaze B2 answers NotImplemented.
    pub(crate) fn enforces_create<'a>(&'a self, m: &'a Ref) -> Boxed<'a, bool> {
        Box::pin(async move {
            // One probe at a time: two at once on the one object would see
            // each other's create and delete.
            let _probing = self.create_probe.lock().await;
            let known = {
                let inner = self.inner.borrow();
                inner
                    .probes
                    .enforced
                    .iter()
                    .find(|(b, _)| *b == m.bucket)
                    .map(|p| p.1)
            };
            if let Some(known) = known {
                return Ok(known);
            }
            // One probe object per client, whatever the bucket or how often a
            // probe ends early: a bucket that refuses some requests (a CORS
            // rule without DELETE) keeps one, not one per write.
            let uuid = {
                let mut inner = self.inner.borrow_mut();
                let inner = &mut *inner;
                inner
                    .probes
                    .probe_id
                    .get_or_insert_with(|| inner.rng.uuid_v4())
                    .clone()
            };
            let key = probe_key(&m.key, &uuid);
            // Transient failures end the probe; any other answer is a verdict.
            let mut answers = Vec::new();
            for _ in 0..2 {
                match self
                    .put_json(
                        &m.bucket,
                        key.clone(),
                        b"{}".to_vec(),
                        Put::plain(PutMode::Create),
                    )
                    .await
                {
                    // (Refused or blocked: no verdict on the bucket's creates.)
                    Err(e)
                        if e.is_retryable()
                            || matches!(
                                e.kind,
                                ErrorKind::Offline
                                    | ErrorKind::CorsBlocked
                                    | ErrorKind::AccessDenied
                                    | ErrorKind::NoSuchBucket
                            ) =>
                    {
                        return Err(e)
                    }
                    other => answers.push(other.err().map(|e| e.kind)),
                }
            }
            // (Whether the server decides creates atomically, a probe from
            // one client cannot tell: the conformance command races some.)
            // The first create finds the object there only when an earlier
            // attempt of it landed (its answer lost, or a probe ended early),
            // which a bucket that ignores the header never answers 412 to.
            let refused = Some(ErrorKind::PreconditionFailed);
            let enforced = answers[1] == refused && (answers[0].is_none() || answers[0] == refused);
            let _ = self.delete_object(&m.bucket, key, None).await;
            self.inner
                .borrow_mut()
                .probes
                .enforced
                .push((m.bucket.clone(), enforced));
            Ok(enforced)
        })
    }

    /// Brings a v2 manifest's state up to its head
    /// (`protocol::v2::read::sync`), then stores it. The caller holds the
    /// manifest's lock.
    pub(crate) fn sync_v2<'a>(&'a self, m: &'a Ref, poll: bool) -> Done<'a> {
        Box::pin(read::sync(self, m, poll))
    }

    /// What this client knows of `m` (the default manifest when `None`),
    /// read up to date first when it can be: its protocol and, for v2,
    /// its head, newest checkpoint and last entries. For a developer
    /// wondering what the bucket holds (the demo's inspector).
    pub async fn inspect(&self, manifest: Option<&Ref>) -> Inspection {
        let m = manifest.unwrap_or(&self.cfg.default_manifest).clone();
        let _ = self.read(super::Select::Keys(&[]), Some(&m)).await;
        let writer = self.inner.borrow().tabs.tag.clone();
        let s = self.state(&m);
        Inspection {
            protocol: s.protocol,
            head: s.v2.log.seq,
            checkpoint: s.v2.checkpoint,
            recent: s.v2.recent.clone(),
            writer,
        }
    }

    pub(super) fn apply_entry_v2(&self, m: &Ref, n: u64, entry: &Entry) {
        self.state(m).apply_v2(n, entry);
        // Each key's change, for the log: one write followed from its put
        // to every client that applies it, by its trace id.
        let slot = cat!(n);
        for key in entry.keys() {
            let mut fields = vec![
                ("key", key.as_str()),
                ("slot", &slot),
                ("writer", &entry.writer),
            ];
            if let Some(t) = entry.trace_of(key) {
                fields.push(("trace", t));
            }
            self.io.log_fields("notify", &fields);
        }
    }

    /// Writes one queued write's entry into the next free slot of `m`
    /// (`protocol::v2::write`). The caller holds the manifest's lock and
    /// the write's turn.
    pub(crate) fn write_entry_v2<'a>(
        &'a self,
        m: &'a Ref,
        write_id: u64,
        record: &'a mut crate::engine::db::QueuedWrite,
        durable: bool,
    ) -> Done<'a> {
        let QueueKey { seq, tag } = QueueKey::parse(&record.key, &self.cfg.namespace);
        let (id, writer) = (String::from(seq), String::from(tag));
        let own = self.change_v2(record);
        let carried = Carrying {
            db: self,
            record,
            write_id,
            durable,
            changes: Vec::new(),
        };
        Box::pin(write::write_entry(self, m, carried, writer, id, own))
    }

    /// Writes one queued write's entry into the v1 manifest `m`
    /// (`protocol::v1::write`). The caller holds the manifest's lock and
    /// the write's turn.
    pub(crate) fn write_entry_v1<'a>(
        &'a self,
        m: &'a Ref,
        write_id: u64,
        record: &'a mut crate::engine::db::QueuedWrite,
        durable: bool,
    ) -> Done<'a> {
        let mut changes = Vec::new();
        for ((k, _), v) in record.batch.iter().zip(&record.versions) {
            changes.push((k.url(), v.clone()));
        }
        let carried = Carrying {
            db: self,
            record,
            write_id,
            durable,
            changes,
        };
        Box::pin(v1::write::write_entry(self, m, carried))
    }

    /// What a queued write's entry sets and deletes (its content uploaded,
    /// or travelling inline).
    pub(crate) fn change_v2(&self, record: &crate::engine::db::QueuedWrite) -> EntryChange {
        let mut set = Vec::new();
        let mut delete = Vec::new();
        let mut urls = Vec::new();
        for ((key, value), version) in record.batch.iter().zip(&record.versions) {
            let url = key.url();
            urls.push(url.clone());
            match (value, version) {
                (Some(value), Some(uuid)) => set.push((
                    url,
                    Stored {
                        uuid: uuid.clone(),
                        inline: self
                            .inlined(value, &record.manifests)
                            .then(|| value.clone()),
                        content_type: crate::engine::binary::unwrap(value)
                            .map(|(t, _)| t.to_string()),
                    },
                )),
                _ => delete.push(url),
            }
        }
        EntryChange {
            set,
            delete,
            traces: vec![(record.trace.clone(), urls)],
        }
    }

    /// Whether `value` of a write to `manifests` travels in its entry.
    pub(crate) fn inlined(&self, value: &str, manifests: &[Ref]) -> bool {
        !self.cfg.use_versioning
            && value.len() <= INLINE_MAX_BYTES
            && !crate::engine::binary::is_binary(value)
            && manifests.iter().all(|m| self.is_v2(m))
    }

    fn landed_v2(
        &self,
        m: &Ref,
        write_id: u64,
        record: &mut crate::engine::db::QueuedWrite,
        slot: u64,
    ) {
        let key = slot_key(&m.key, slot);
        record.set_attempt(&m.url(), &key, slot as EpochMillis);
        self.state(m).landed(write_id, &key, slot as EpochMillis);
        self.note_status();
    }

    /// An inline value of a v2 manifest this client knows: `url` at the
    /// uuid `version`.
    pub(crate) fn inline_value(&self, url: &str, version: &str) -> Option<super::JsonText> {
        let inner = self.inner.borrow();
        inner.manifests.iter().find_map(|(_, s)| {
            let k = s.v2.log.keys.get(url)?;
            (k.stored.uuid == version).then(|| k.stored.inline.clone())?
        })
    }
}

/// A queued write as a protocol's write carries it (`protocol::v1::write`,
/// `protocol::v2::write`): its tries noted on the record, and stored with
/// it when it is durable.
struct Carrying<'a, I: Io> {
    db: &'a Db<I>,
    record: &'a mut crate::engine::db::QueuedWrite,
    write_id: u64,
    durable: bool,
    /// Each url the write sets (to its version) or deletes (v1's entry
    /// names them so).
    changes: Vec<(String, Option<String>)>,
}

impl<I: Io> v1::write::Carried for Carrying<'_, I> {
    fn changes(&self) -> &[(String, Option<String>)] {
        &self.changes
    }

    fn trace(&self) -> &str {
        &self.record.trace
    }

    fn attempted(&self, m: &Ref) -> Option<(String, EpochMillis)> {
        self.record
            .attempt(&m.url())
            .map(|(object, ts)| (object.to_string(), ts))
    }

    async fn forget(&mut self, m: &Ref) {
        self.record.attempts.retain(|(url, _, _)| url != &m.url());
        if self.durable {
            self.db.store_write(self.record).await;
        }
    }

    async fn trying(&mut self, m: &Ref, object: &str, ts: EpochMillis) -> Result<()> {
        // Not when offline: it will not be sent.
        self.db.check_reachable()?;
        self.record.set_attempt(&m.url(), object, ts);
        if self.durable {
            self.db.store_write(self.record).await;
            // Gone offline (or shut down) while it was stored: the PUT
            // will not leave (nothing awaits between here and the request
            // loop's own checks), so no entry can land. Kept, the attempt
            // could not be judged on a return after autoclean's grace:
            // forget it.
            if let Err(e) = self.db.check_live().and_then(|_| self.db.check_reachable()) {
                self.forget(m).await;
                return Err(e);
            }
        }
        Ok(())
    }

    fn landed(&mut self, m: &Ref, object: &str, ts: EpochMillis) {
        self.db.state(m).landed(self.write_id, object, ts);
        self.db.note_status();
    }
}

impl<I: Io> write::Carried for Carrying<'_, I> {
    fn key(&self) -> &str {
        &self.record.key
    }

    fn attempted(&self, m: &Ref) -> Option<u64> {
        self.record.attempt(&m.url()).map(|(_, slot)| slot as u64)
    }

    fn checks(&self) -> &[(String, Option<String>)] {
        &self.record.checks
    }

    fn trace(&self) -> &str {
        &self.record.trace
    }

    async fn trying(&mut self, m: &Ref, key: &str, n: u64) {
        self.record.set_attempt(&m.url(), key, n as EpochMillis);
        if self.durable {
            self.db.store_write(self.record).await;
        }
    }

    fn landed(&mut self, m: &Ref, n: u64) {
        self.db.landed_v2(m, self.write_id, self.record, n);
    }
}
