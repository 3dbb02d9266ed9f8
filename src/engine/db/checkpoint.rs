//! When the engine checkpoints a v2 log and collects behind it (the
//! protocol's side is `protocol::v2::checkpoint`), and `db.upgrade`,
//! which starts a v2 log from a v1 manifest's state as its first
//! checkpoint.

use crate::prelude::*;

use super::Db;
use crate::engine::error::{ErrorKind, Result};
use crate::engine::io::Io;
use crate::engine::object::Ref;
use crate::engine::protocol::unsupported;
use crate::engine::protocol::v2::checkpoint;
use crate::engine::protocol::v2::format::{checkpoint_key, LogState, Stored};
use crate::engine::protocol::v2::V2_GUARD;
use crate::engine::protocol::{Freshness, Protocol, Put};
use crate::engine::s3::PutMode;

impl<I: Io> Db<I> {
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
        self.sync(&m, Freshness::List).await?;
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
        self.state(&m).upgraded_to_v2();
        Ok(())
    }
}
