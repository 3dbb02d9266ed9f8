//! The engine's one door to the protocols (`protocol::{v1, v2}`): the
//! dispatch of a manifest's reads, writes, cleaning and checkpoints to its
//! protocol's wing, what each wing needs of the client (`protocol::Client`,
//! implemented here), and the queued write an entry carries. Nothing else
//! under `db` names a protocol version (the test command checks it).
//!
//! v2's order is the bucket's: one writer wins each slot, and whether a
//! write whose answer was lost landed is read from the log itself; v1's
//! rests on clocks and its change marker (docs/protocol.md).

use crate::prelude::*;

use core::cell::RefMut;

use super::queue::{QueueKey, QueuedWrite};
use super::request::{Boxed, Done, Fetch, Listing};
use super::Db;
use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::io::Io;
use crate::engine::object::Ref;
use crate::engine::protocol::v1;
use crate::engine::protocol::v2::format::{
    checkpoint_key, probe_key, Entry, KeyState, LogState, Stored,
};
use crate::engine::protocol::v2::{checkpoint, read, write};
use crate::engine::protocol::v2::{Encrypted, EntryChange, Inspection, INLINE_MAX_BYTES};
use crate::engine::protocol::{
    unsupported, Client, Files, Freshness, Landing, Log, Protocol, Put, Waiting, V2_GUARD,
};
use crate::engine::s3::{
    parse_get, parse_list, GetOptions, GetResult, ListParams, ObjectMeta, PutMode,
};
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

    fn is_v2(&self, m: &Ref) -> bool {
        self.state(m).log.protocol() == Some(Protocol::V2)
    }

    /// Brings what the client knows of `m` up to date, by its protocol's
    /// read. The caller holds `m`'s lock.
    pub(crate) async fn sync(&self, m: &Ref, freshness: Freshness) -> Result<()> {
        match self.protocol(m, false).await? {
            Some(Protocol::V2) => self.sync_v2(m, freshness == Freshness::Poll).await,
            Some(_) => v1::read::sync(self, m, freshness).await,
            // No manifest yet: nothing in it.
            None => {
                self.state(m).files.get_or_insert_with(Default::default);
                self.synced();
                Ok(())
            }
        }
    }

    /// Deletes what `m`'s log no longer needs: v1's entries behind the
    /// base (a v2 log is collected behind its checkpoints, by writers).
    pub(crate) async fn autoclean(&self, m: &Ref) {
        if self.state(m).log.protocol() == Some(Protocol::V1) {
            v1::read::autoclean(self, m).await;
        }
    }

    /// Refuses a conditional write to `m` if its protocol is `protocol`
    /// and cannot order one: only v2's log is ordered by the bucket; v1's
    /// rests on clocks.
    pub(crate) fn check_conditions(m: &Ref, protocol: Option<Protocol>) -> Result<()> {
        if protocol == Some(Protocol::V1) {
            return Err(unsupported(cat!(
                "manifest ",
                m.url(),
                " is protocol v1: conditional writes need v2"
            )));
        }
        Ok(())
    }

    /// The queued write `record` is ready (its content is up) and waits
    /// for its turn in `m`: the write ahead may carry it in its entry
    /// (v2), unless it is conditional (checked against the state before
    /// its own entry).
    pub(crate) fn ready_to_carry(&self, m: &Ref, record: &QueuedWrite) {
        if self.is_v2(m) && record.checks.is_empty() {
            let change = self.change_v2(record);
            let mut s = self.state(m);
            if let Some(w) = s.waiting.iter_mut().find(|w| w.key == record.key) {
                w.change = Some(change);
            }
        }
    }

    /// Writes one queued write's entry into `m`, by its protocol. The
    /// caller holds the manifest's lock and the write's turn.
    pub(crate) fn write_entry<'a>(
        &'a self,
        m: &'a Ref,
        write_id: u64,
        record: &'a mut QueuedWrite,
        durable: bool,
    ) -> Done<'a> {
        if self.is_v2(m) {
            self.write_entry_v2(m, write_id, record, durable)
        } else {
            self.write_entry_v1(m, write_id, record, durable)
        }
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

    /// Whether `m` can hold encrypted values: a v2 manifest (made one if
    /// new). v1's readers, mps3's, could not read them.
    pub(super) async fn check_encryptable(&self, m: &Ref) -> Result<()> {
        if self.protocol(m, true).await? == Some(Protocol::V2) {
            return Ok(());
        }
        Err(Self::not_encryptable(m))
    }

    /// `Unsupported` when `m` is known to be v1, whose values are in clear
    /// (not `Decrypt`: nothing failed to open).
    pub(super) fn refuse_if_unencryptable(&self, m: &Ref) -> Result<()> {
        if self.state(m).log.protocol() == Some(Protocol::V1) {
            return Err(Self::not_encryptable(m));
        }
        Ok(())
    }

    fn not_encryptable(m: &Ref) -> Error {
        Error::new(
            ErrorKind::Unsupported,
            cat!(
                "manifest ",
                m.url(),
                " is protocol v1, whose readers (mps3's) could not read encrypted values: upgrade it, or leave it unencrypted"
            ),
        )
    }

    /// What this client knows of `m` (the default manifest when `None`),
    /// read up to date first when it can be: its protocol and, for v2,
    /// its head, newest checkpoint and last entries. For a developer
    /// wondering what the bucket holds (the demo's inspector).
    pub async fn inspect(&self, manifest: Option<&Ref>) -> Inspection {
        let m = manifest.unwrap_or(&self.cfg.default_manifest).clone();
        let _ = self.read(super::Select::Keys(&[]), Some(&m)).await;
        let writer = self.inner.borrow().tabs.tag.clone();
        let mut inspection = self.state(&m).log.inspection(writer);
        inspection.encryption = self.secret(&m).map(|_| Encrypted {
            key: self.key_id(&m),
        });
        inspection
    }

    /// The entry of v2 slot `n` of `m` applied: the state and the key →
    /// content map follow it, the masks it includes retire, and the log
    /// tells each key's change.
    fn apply_entry_v2(&self, m: &Ref, n: u64, entry: &Entry) {
        {
            let mut state = self.state(m);
            let s = &mut *state;
            let files = s.files.get_or_insert_with(Files::default);
            s.log.v2().apply(n, entry, files);
            s.retire_masks();
        }
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
    fn write_entry_v2<'a>(
        &'a self,
        m: &'a Ref,
        write_id: u64,
        record: &'a mut QueuedWrite,
        durable: bool,
    ) -> Done<'a> {
        let QueueKey { seq, tag } = QueueKey::parse(&record.key, &self.cfg.namespace);
        // Behind an auth proxy, the writer id starts with the prefix the
        // proxy bound to this caller (its credentials carry it).
        let prefix = self.s3.borrow().config.credentials.writer_prefix.clone();
        let writer = cat!(prefix.as_deref().unwrap_or(""), tag);
        let id = String::from(seq);
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
    fn write_entry_v1<'a>(
        &'a self,
        m: &'a Ref,
        write_id: u64,
        record: &'a mut QueuedWrite,
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
    fn change_v2(&self, record: &QueuedWrite) -> EntryChange {
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

    fn landed_v2(&self, m: &Ref, write_id: u64, record: &mut QueuedWrite, slot: u64) {
        record.set_attempt(m, Landing::Slot(slot));
        self.state(m).landed(write_id, &Landing::Slot(slot));
        self.note_status();
    }

    /// An inline value of a v2 manifest this client knows: `url` at the
    /// uuid `version`.
    pub(crate) fn inline_value(&self, url: &str, version: &str) -> Option<super::JsonText> {
        let inner = self.inner.borrow();
        inner
            .manifests
            .iter()
            .find_map(|(_, s)| s.log.inline(url, version))
    }

    /// Creates a checkpoint of the state when it is due, then collects
    /// (`protocol::v2::checkpoint`). Best effort: a failure leaves it to a
    /// later write.
    pub(super) fn checkpoint_v2<'a>(
        &'a self,
        m: &'a Ref,
    ) -> core::pin::Pin<Box<dyn core::future::Future<Output = ()> + 'a>> {
        let policy = checkpoint::Policy {
            every: self.cfg.checkpoint_every,
            collect: self.cfg.autoclean,
            grace_ms: self.cfg.grace_ms,
            versioned: self.cfg.use_versioning,
        };
        Box::pin(checkpoint::checkpoint(self, m, policy))
    }

    /// Reads the v2 manifest `m` (the default when `None`) to its head,
    /// then checkpoints it when the log is `checkpoint_every` entries past
    /// the newest checkpoint, and collects behind (when `autoclean`): what
    /// a compactor runs, with keys that may write checkpoints (the auth
    /// proxy lets clients write neither). A v1 or missing manifest is left
    /// as it is.
    pub async fn compact(&self, manifest: Option<&Ref>) -> Result<()> {
        self.ready().await;
        self.check_live()?;
        let m = manifest.unwrap_or(&self.cfg.default_manifest).clone();
        Self::check_manifest(&m)?;
        let lock = self.state(&m).lock.clone();
        let _guard = lock.lock().await;
        if self.protocol(&m, false).await? != Some(Protocol::V2) {
            return Ok(());
        }
        self.sync(&m, Freshness::List).await?;
        self.checkpoint_v2(&m).await;
        Ok(())
    }

    /// Upgrades the v1 manifest `m` to v2 (`db.upgrade`): its resolved
    /// state becomes checkpoint 0 (values stay in their content objects,
    /// which both protocols share), then the guard replaces the change
    /// marker. v1 entries stay for v1 clients, who will not see later
    /// writes (v2 clients report a v1 client's write): for users whose
    /// clients have all moved. A v2 manifest is left as it is.
    pub async fn upgrade(&self, manifest: Option<&Ref>) -> Result<()> {
        self.ready().await;
        self.check_live()?;
        let m = manifest.unwrap_or(&self.cfg.default_manifest).clone();
        Self::check_manifest(&m)?;
        let lock = self.state(&m).lock.clone();
        let _guard = lock.lock().await;
        if self.protocol(&m, false).await? == Some(Protocol::V2) {
            return Ok(());
        }
        if !self.enforces_create(&m).await? {
            return Err(unsupported(cat!(
                "bucket ",
                m.bucket,
                " does not enforce If-None-Match: * on PUT, which protocol v2 needs"
            )));
        }
        self.decide(&m, Protocol::V1);
        self.sync(&m, Freshness::List).await?;
        let text = {
            let s = self.state(&m);
            let mut log = LogState::default();
            for (url, f) in s.files.iter().flat_map(|files| files.iter()) {
                log.keys.insert(
                    url.clone(),
                    KeyState {
                        stored: Stored {
                            uuid: f.version.clone(),
                            inline: None,
                            content_type: None,
                        },
                        version: 0,
                    },
                );
            }
            log.checkpoint_text()
        };
        match self
            .put_json(
                &m.bucket,
                checkpoint_key(&m.key, 0),
                text.into_bytes(),
                Put::plain(PutMode::Create),
            )
            .await
        {
            Err(e) if e.kind != ErrorKind::PreconditionFailed => return Err(e),
            _ => {}
        }
        self.put_json(
            &m.bucket,
            m.key.clone(),
            V2_GUARD.to_vec(),
            Put::plain(PutMode::Overwrite),
        )
        .await?;
        // Read again from the new log; masks of writes not yet in an
        // entry stay.
        let mut s = self.state(&m);
        s.log.decide(Protocol::V2);
        s.files = None;
        s.masks.retain(|mask| mask.entry.is_none());
        Ok(())
    }
}

/// A queued write as a protocol's write carries it (`protocol::v1::write`,
/// `protocol::v2::write`): its tries noted on the record, and stored with
/// it when it is durable.
struct Carrying<'a, I: Io> {
    db: &'a Db<I>,
    record: &'a mut QueuedWrite,
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
        match self.record.attempt(m)? {
            Landing::Entry { object, ts } => Some((object.clone(), *ts)),
            Landing::Slot(_) => None,
        }
    }

    async fn forget(&mut self, m: &Ref) {
        self.record.forget_attempt(m);
        if self.durable {
            self.db.store_write(self.record).await;
        }
    }

    async fn trying(&mut self, m: &Ref, object: &str, ts: EpochMillis) -> Result<()> {
        // Not when offline: it will not be sent.
        self.db.check_reachable()?;
        self.record.set_attempt(
            m,
            Landing::Entry {
                object: object.to_string(),
                ts,
            },
        );
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
        let landing = Landing::Entry {
            object: object.to_string(),
            ts,
        };
        self.db.state(m).landed(self.write_id, &landing);
        self.db.note_status();
    }
}

impl<I: Io> write::Carried for Carrying<'_, I> {
    fn key(&self) -> &str {
        &self.record.key
    }

    fn attempted(&self, m: &Ref) -> Option<u64> {
        match self.record.attempt(m)? {
            Landing::Slot(n) => Some(*n),
            Landing::Entry { .. } => None,
        }
    }

    fn checks(&self) -> &[(String, Option<String>)] {
        &self.record.checks
    }

    fn trace(&self) -> &str {
        &self.record.trace
    }

    async fn trying(&mut self, m: &Ref, n: u64) {
        self.record.set_attempt(m, Landing::Slot(n));
        if self.durable {
            self.db.store_write(self.record).await;
        }
    }

    fn landed(&mut self, m: &Ref, n: u64) {
        self.db.landed_v2(m, self.write_id, self.record, n);
    }
}

/// What the protocols ask of the engine (`protocol::Client`): the helpers
/// above, and their state of a manifest.
impl<I: Io> Client for Db<I> {
    fn get_body<'a>(&'a self, m: &'a Ref, key: String) -> Fetch<'a> {
        Db::get_body(self, m, key)
    }

    fn get<'a>(
        &'a self,
        bucket: &'a str,
        key: String,
        mut opts: GetOptions,
    ) -> Boxed<'a, GetResult> {
        // A presigned read carries no header (one would need a preflight).
        if self.s3.borrow().config.presign_reads {
            opts.if_none_match = None;
        }
        Box::pin(async move {
            self.call(|s3, now| s3.get_object(bucket, &key, &opts, now), parse_get)
                .await
        })
    }

    fn put<'a>(
        &'a self,
        bucket: &'a str,
        key: String,
        body: Vec<u8>,
        how: Put<'a>,
    ) -> Boxed<'a, ObjectMeta> {
        self.put_json(bucket, key, body, how)
    }

    fn delete_object<'a>(
        &'a self,
        bucket: &'a str,
        key: String,
        version: Option<String>,
    ) -> Done<'a> {
        Db::delete_object(self, bucket, key, version)
    }

    fn list<'a>(
        &'a self,
        bucket: &'a str,
        prefix: String,
        start_after: Option<String>,
    ) -> Listing<'a> {
        self.list_all(bucket, prefix, start_after)
    }

    fn server_now(&self) -> EpochMillis {
        Db::server_now(self)
    }

    fn now(&self) -> EpochMillis {
        self.io.now()
    }

    fn clock_bound(&self, local: EpochMillis) -> EpochMillis {
        self.inner.borrow().clock.lower_bound(local)
    }

    fn server_lower_bound(&self) -> Option<EpochMillis> {
        Db::server_lower_bound(self)
    }

    async fn sleep(&self, ms: u64) {
        self.io.sleep(ms).await;
    }

    fn random(&self) -> u64 {
        self.inner.borrow_mut().rng.next_u64()
    }

    fn log_state(&self, m: &Ref) -> RefMut<'_, Log> {
        RefMut::map(self.state(m), |s| &mut s.log)
    }

    fn waiting(&self, m: &Ref) -> RefMut<'_, Vec<Waiting>> {
        RefMut::map(self.state(m), |s| &mut s.waiting)
    }

    fn files(&self, m: &Ref) -> RefMut<'_, Option<Files>> {
        RefMut::map(self.state(m), |s| &mut s.files)
    }

    fn install(&self, m: &Ref, files: Files) {
        let mut s = self.state(m);
        s.files = Some(files);
        s.retire_masks();
    }

    async fn persist(&self, m: &Ref) {
        self.persist_state(m).await;
    }

    fn synced(&self) {
        Db::synced(self);
    }

    fn minimize_list_calls(&self) -> bool {
        self.cfg.minimize_list_calls
    }

    fn log(&self, kind: &str, message: &str) {
        self.io.log(kind, message);
    }

    fn read_recently(&self, m: &Ref) -> bool {
        let s = self.state(m);
        s.log.read_at().is_some_and(|t| self.listed_recently(t)) && s.files.is_some()
    }

    fn listed_recently(&self, at: EpochMillis) -> bool {
        self.io.now() - at < self.refresh_after_ms()
    }

    fn apply_v2(&self, m: &Ref, n: u64, entry: &Entry) {
        self.apply_entry_v2(m, n, entry);
    }

    fn restart_v2(&self, m: &Ref, checkpoint: Option<LogState>, newest: u64, from: u64) {
        let mut state = self.state(m);
        let s = &mut *state;
        let v2 = s.log.v2();
        if let Some(log) = checkpoint {
            s.files = Some(v2.restart(log));
        }
        v2.checkpoint = v2.checkpoint.max(newest);
        s.files.get_or_insert_with(Files::default);
        if from == 0 {
            v2.superseded_from.get_or_insert(0);
        }
    }

    async fn read_kept(&self, m: &Ref) {
        self.persist_state(m).await;
        self.synced();
    }

    async fn entry_written(&self, m: &Ref) {
        self.persist_state(m).await;
        // Behind an auth proxy (its credentials bind the writer ids) the
        // compactor checkpoints: the proxy refuses a client's, and the
        // refusal would reach the app as an error for nothing.
        if self.s3.borrow().config.credentials.writer_prefix.is_none() {
            self.checkpoint_v2(m).await;
        }
    }

    /// By a listing of one key from it: the key itself sorts before
    /// every longer key it begins.
    fn listed_first<'a>(&'a self, bucket: &'a str, key: &'a str) -> Boxed<'a, Option<EpochMillis>> {
        Box::pin(async move {
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
        })
    }

    fn enforces_create<'a>(&'a self, m: &'a Ref) -> Boxed<'a, bool> {
        Db::enforces_create(self, m)
    }

    #[cfg(test)]
    fn count_grouped(&self) {
        self.grouped_writes.set(self.grouped_writes.get() + 1);
    }

    #[cfg(test)]
    fn count_unlisted(&self) {
        self.unlisted_entries.set(self.unlisted_entries.get() + 1);
    }
}
