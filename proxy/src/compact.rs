//! The compactor: the engine, run natively with the bucket's own keys,
//! reading each declared manifest (each instance of a `{sub}` one, found
//! by listing) and checkpointing and collecting it (`Db::compact`).
//! Clients behind the proxy can write neither checkpoints nor deletes;
//! this is what does, with the engine's own code.

use std::rc::Rc;

use mps3::engine::credentials::Credentials;
use mps3::engine::db::{Db, DbConfig};
use mps3::engine::object::Ref;
use mps3::engine::s3::{parse_list, ListAll, ListParams, S3Config, S3};

use crate::config::Config;
use crate::http::{self, Client};
use crate::native_io::NativeIo;
use crate::server::now_ms;

pub struct Compactor {
    db: Rc<Db<NativeIo>>,
    s3: S3,
    http: Client,
    config: Config,
}

impl Compactor {
    /// A compactor for `config`'s bucket with the bucket's keys.
    pub fn new(
        config: &Config,
        key_id: String,
        secret: String,
        verbose: bool,
    ) -> Result<Compactor, String> {
        let http = http::client();
        let s3c = S3Config::new(
            config.upstream.endpoint.as_deref(),
            &config.upstream.region,
            Credentials::new(key_id, secret),
        )
        .map_err(|e| format!("[upstream]: {}", e.message))?;
        let mut cfg = DbConfig::new(&config.upstream.bucket);
        cfg.autoclean = true;
        cfg.offline_storage = false;
        cfg.checkpoint_every = config.compactor.checkpoint_every.max(1);
        cfg.grace_ms = config.compactor.grace_seconds as i64 * 1000;
        let mut io = NativeIo::new(http.clone());
        io.verbose = verbose;
        let db = Rc::new(
            Db::new(io, S3::new(s3c.clone()), cfg, now_ms() as u64)
                .map_err(|e| format!("the engine: {}", e.message))?,
        );
        db.start();
        Ok(Compactor {
            db,
            s3: S3::new(s3c),
            http,
            config: config.clone(),
        })
    }

    /// Every manifest the rules declare that exists in the bucket.
    async fn manifests(&self) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for m in &self.config.manifests {
            if let Some(key) = m.key.literal() {
                out.push(key);
                continue;
            }
            let mut list = ListAll::new(
                &self.config.upstream.bucket,
                ListParams {
                    prefix: Some(m.key.literal_prefix()),
                    start_after: None,
                    max_keys: None,
                    continuation_token: None,
                },
            );
            loop {
                let req = list
                    .request(&self.s3, now_ms())
                    .map_err(|e| e.message.clone())?;
                let page = parse_list(&http::send_request(&self.http, req).await?)
                    .map_err(|e| format!("listing the bucket: {}", e.message))?;
                if !list.on_page(page) {
                    break;
                }
            }
            for e in &list.entries {
                if m.key.matches_any_caller(&e.key) {
                    out.push(e.key.clone());
                }
            }
        }
        Ok(out)
    }

    /// One round: each manifest read, checkpointed when due, collected.
    /// Returns the manifests it went through.
    pub async fn run_once(&self) -> Result<Vec<String>, String> {
        let manifests = self.manifests().await?;
        for key in &manifests {
            let m = Ref::new(&self.config.upstream.bucket, key);
            if let Err(e) = self.db.compact(Some(&m)).await {
                eprintln!("mps3-proxy compact: {key}: {}", e.message);
            }
        }
        Ok(manifests)
    }
}
