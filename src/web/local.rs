//! The browser's own bucket (`endpoint: "local:"`, or `"indexdb:"` as
//! mps3 names it): S3 requests answered from IndexedDB, same protocol, no
//! server. Each request runs under a Web Lock shared by the origin's tabs
//! (conditional writes stay atomic across them): the objects it touches
//! are loaded into the engine's in-memory S3 (`s3::in_memory`), the
//! request is applied there, and what changed is stored back.

use crate::prelude::*;

use alloc::rc::Rc;

use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::http::{HttpRequest, HttpResponse, Method};
use crate::engine::io::Table;
use crate::engine::s3::in_memory::{Access, InMemoryS3};
use crate::engine::time::EpochMillis;

use super::store::IdbStore;

/// The endpoint the S3 config gets for the local bucket (never fetched).
pub const LOCAL_ENDPOINT: &str = "http://local.mps3";

/// Whether `endpoint` names the browser's own bucket.
pub fn is_local(endpoint: &str) -> bool {
    matches!(endpoint, "local:" | "indexdb:" | "indexeddb:")
}

pub struct LocalBucket {
    store: Rc<IdbStore>,
}

impl LocalBucket {
    pub fn new(store: Rc<IdbStore>) -> LocalBucket {
        LocalBucket { store }
    }

    pub async fn send(&self, req: &HttpRequest, now: EpochMillis) -> Result<HttpResponse> {
        let Some(access) = InMemoryS3::access(req) else {
            return Err(Error::bad_input("not a request the local bucket serves"));
        };
        let _lock = super::locks::lock("mps3 local bucket", true).await;
        let (bucket, prefix) = match &access {
            Access::Key { bucket, key } => (bucket, key),
            Access::Prefix { bucket, prefix } => (bucket, prefix),
        };
        let base = cat!(bucket, "/");
        let rows = match &access {
            Access::Key { .. } => {
                let k = cat!(base, prefix);
                self.store
                    .get(Table::Bucket, &k)
                    .await?
                    .map(|v| vec![(k, v)])
                    .unwrap_or_default()
            }
            Access::Prefix { .. } => self.store.scan(Table::Bucket, &cat!(base, prefix)).await?,
        };
        // Whole-millisecond `LastModified`: no precision is lost here.
        let mut model = InMemoryS3::new(1);
        model.create_bucket(bucket, false);
        for (k, text) in rows {
            if !model.import(bucket, &k[base.len()..], &text) {
                return Err(Error::new(
                    ErrorKind::Storage,
                    cat!("local bucket object \"", k, "\" is damaged"),
                ));
            }
        }
        let resp = model.apply(req, now);
        if let Access::Key { key, .. } = &access {
            let changed = matches!(req.method, Method::Put | Method::Delete) && resp.is_success();
            if changed {
                let k = cat!(base, key);
                match model.export(bucket, key) {
                    Some(text) => self.store.put(Table::Bucket, &k, &text).await?,
                    None => self.store.delete(Table::Bucket, &k).await?,
                }
            }
        }
        Ok(resp)
    }
}
