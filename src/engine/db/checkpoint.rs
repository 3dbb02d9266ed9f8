//! Protocol v2's checkpoints and collection (docs/protocol-v2.md,
//! "Checkpoints and collection"): the state written whole every
//! `checkpoint_every` entries, with the content it superseded; what
//! collection deletes behind the grace; and `db.upgrade`, which starts a
//! v2 log from a v1 manifest's state as its first checkpoint. The log's
//! reads and writes are `v2`'s.

use crate::prelude::*;

use super::v2::unsupported;
use super::Db;
use crate::engine::error::{ErrorKind, Result};
use crate::engine::io::Io;
use crate::engine::object::Ref;
use crate::engine::protocol::v2::format::{
    checkpoint_key, hint_key, parse_checkpoint, parse_slot, LogState, Stored,
};
use crate::engine::protocol::v2::V2_GUARD;
use crate::engine::protocol::Protocol;
use crate::engine::s3::PutMode;

/// `(content url, uuid)` pairs a checkpoint lists for collection.
fn checkpoint_garbage(body: &[u8]) -> Vec<(String, String)> {
    let Ok(v) = crate::engine::json::parse(body) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(crate::engine::json::JsonValue::Array(items)) = v.get("gc") {
        for item in items {
            if let crate::engine::json::JsonValue::Array(pair) = item {
                if let [a, b] = pair.as_slice() {
                    if let (Some(a), Some(b)) = (a.as_str(), b.as_str()) {
                        out.push((a.to_string(), b.to_string()));
                    }
                }
            }
        }
    }
    out
}

impl<I: Io> Db<I> {
    /// Creates a checkpoint of the state when the log is
    /// `checkpoint_every` entries past the newest one, then the hint,
    /// then collects. Best effort: a failure leaves it to a later write.
    pub(super) fn checkpoint_v2<'a>(
        &'a self,
        m: &'a Ref,
    ) -> core::pin::Pin<Box<dyn core::future::Future<Output = ()> + 'a>> {
        Box::pin(async move {
            let every = self.cfg.checkpoint_every;
            let due = self.state(m).v2.checkpoint_due(every);
            let Some((seq, text)) = due else { return };
            let made = self
                .put_v2(
                    m,
                    checkpoint_key(&m.key, seq),
                    text.into_bytes(),
                    PutMode::Create,
                )
                .await;
            if matches!(&made, Err(e) if e.kind != ErrorKind::PreconditionFailed) {
                return;
            }
            self.state(m).v2.checkpointed(seq);
            let hint = cat!("{\"cp\":", seq, "}").into_bytes();
            let _ = self
                .put_v2(m, hint_key(&m.key), hint, PutMode::Overwrite)
                .await;
            if self.cfg.autoclean {
                let _ = self.collect_v2(m).await;
            }
        })
    }

    /// Deletes what no reader can need: below the newest checkpoint older
    /// than the grace, every slot and older checkpoint, and the content
    /// the checkpoints there list as superseded. A reader or writer that
    /// read the log less than half the grace ago is past those slots (it
    /// found the slot after its head empty, and the slots were filled and
    /// checkpointed a grace before now); one away longer reads the newest
    /// checkpoint first. A late create into a collected slot sits below a
    /// checkpoint: never read.
    pub(crate) async fn collect_v2(&self, m: &Ref) -> Result<()> {
        let cps = self.list_v2(m, "cp/", None).await?;
        let cutoff = self.server_now() - self.cfg.grace_ms;
        // The checkpoints by number; the boundary is the newest one older
        // than the grace.
        let mut numbered: Vec<(u64, String)> = Vec::new();
        let mut boundary = None;
        for e in cps {
            if let Some(c) = parse_checkpoint(&m.key, &e.key) {
                if e.last_modified < cutoff {
                    boundary = boundary.max(Some(c));
                }
                numbered.push((c, e.key));
            }
        }
        let Some(boundary) = boundary else {
            return Ok(());
        };
        let done = self.state(m).v2.collected_through;
        // Content first: a checkpoint goes only once what it lists is gone.
        let mut deletes: Vec<(String, String, Option<String>)> = Vec::new();
        for (c, key) in &numbered {
            if *c > boundary || *c <= done {
                continue;
            }
            let Some(body) = self.get_body(m, key.clone()).await? else {
                continue;
            };
            for (url, uuid) in checkpoint_garbage(&body) {
                let Ok(r) = Ref::from_url(&url) else { continue };
                deletes.push(if self.cfg.use_versioning {
                    (r.bucket, r.key, Some(uuid))
                } else {
                    (r.bucket, cat!(r.key, "@", uuid), None)
                });
            }
        }
        for e in self.list_v2(m, "log/", None).await? {
            if parse_slot(&m.key, &e.key).is_some_and(|n| n <= boundary) {
                deletes.push((m.bucket.clone(), e.key, None));
            }
        }
        for (c, key) in numbered {
            if c < boundary {
                deletes.push((m.bucket.clone(), key, None));
            }
        }
        for (bucket, key, version) in deletes {
            self.delete_object(&bucket, key, version).await?;
        }
        self.state(m).v2.collected_through = boundary;
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
        self.state(&m).protocol = Some(Protocol::V1);
        self.sync(&m, super::sync::Freshness::List).await?;
        let text = {
            let s = self.state(&m);
            let mut log = LogState::default();
            for (url, f) in s.resolution.iter().flat_map(|r| r.files.iter()) {
                log.keys.insert(
                    url.clone(),
                    crate::engine::protocol::v2::format::KeyState {
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
            .put_v2(
                &m,
                checkpoint_key(&m.key, 0),
                text.into_bytes(),
                PutMode::Create,
            )
            .await
        {
            Err(e) if e.kind != ErrorKind::PreconditionFailed => return Err(e),
            _ => {}
        }
        self.put_v2(&m, m.key.clone(), V2_GUARD.to_vec(), PutMode::Overwrite)
            .await?;
        self.state(&m).upgraded_to_v2();
        Ok(())
    }
}
