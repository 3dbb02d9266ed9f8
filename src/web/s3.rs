//! An async S3 client: the core builds and parses, `fetch` carries (or,
//! for the browser's own bucket, the local bucket answers). Each method is
//! one request (listing: until the last page); retries and clock
//! correction belong to the callers' policies in the core. The tests' and
//! the conformance checks' client: one suite for the vendors and for the
//! in-memory S3 the local bucket and the simulation trust.

use crate::prelude::*;

use crate::engine::error::Result;
use crate::engine::http::HttpRequest;
use crate::engine::s3::{
    parse_delete, parse_get, parse_head, parse_list, parse_ok, parse_put, CorsRule, DeleteResult,
    GetOptions, GetResult, ListAll, ListEntry, ListParams, ObjectMeta, PutOptions, S3,
};
use crate::engine::time::EpochMillis;

use super::fetch::send;

/// The browser's clock plus a correction (milliseconds).
pub fn now(offset: i64) -> EpochMillis {
    js_sys::Date::now() as i64 + offset
}

pub struct S3Client {
    pub s3: S3,
    /// Added to the browser's clock when signing.
    pub clock_offset: i64,
    /// The browser's own bucket instead of `fetch`.
    local: Option<super::local::LocalBucket>,
}

impl S3Client {
    pub fn new(s3: S3) -> S3Client {
        S3Client {
            s3,
            clock_offset: 0,
            local: None,
        }
    }

    /// A client of the browser's own bucket (`endpoint: "local:"`): the
    /// engine's in-memory S3 over IndexedDB.
    pub fn local() -> Result<S3Client> {
        use crate::engine::credentials::Credentials;
        use crate::engine::s3::S3Config;
        let config = S3Config::new(
            Some(super::local::LOCAL_ENDPOINT),
            "us-east-1",
            Credentials::new("local", "local"),
        )?;
        let store = alloc::rc::Rc::new(super::store::IdbStore::default());
        Ok(S3Client {
            local: Some(super::local::LocalBucket::new(store)),
            ..S3Client::new(S3::new(config))
        })
    }

    fn now(&self) -> EpochMillis {
        now(self.clock_offset)
    }

    async fn exec(&self, req: Result<HttpRequest>) -> Result<crate::engine::http::HttpResponse> {
        match &self.local {
            Some(bucket) => bucket.send(&req?, self.now()).await,
            None => send(&req?, &wasm_bindgen::JsValue::UNDEFINED).await,
        }
    }

    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        opts: &PutOptions,
    ) -> Result<ObjectMeta> {
        let req = self.s3.put_object(bucket, key, body, opts, self.now());
        parse_put(&self.exec(req).await?)
    }

    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        opts: &GetOptions,
    ) -> Result<GetResult> {
        let req = self.s3.get_object(bucket, key, opts, self.now());
        parse_get(&self.exec(req).await?)
    }

    pub async fn head_object(
        &self,
        bucket: &str,
        key: &str,
        opts: &GetOptions,
    ) -> Result<GetResult> {
        let req = self.s3.head_object(bucket, key, opts, self.now());
        parse_head(&self.exec(req).await?)
    }

    pub async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<DeleteResult> {
        let req = self.s3.delete_object(bucket, key, version_id, self.now());
        parse_delete(&self.exec(req).await?)
    }

    /// Every object under `params`, following continuation tokens.
    pub async fn list_all(&self, bucket: &str, params: ListParams) -> Result<Vec<ListEntry>> {
        let mut list = ListAll::new(bucket, params);
        loop {
            let req = list.request(&self.s3, self.now());
            let page = parse_list(&self.exec(req).await?)?;
            if !list.on_page(page) {
                return Ok(list.entries);
            }
        }
    }

    pub async fn create_bucket(&self, bucket: &str) -> Result<ObjectMeta> {
        let req = self.s3.create_bucket(bucket, self.now());
        parse_ok(&self.exec(req).await?)
    }

    pub async fn put_bucket_versioning(&self, bucket: &str, enabled: bool) -> Result<ObjectMeta> {
        let req = self.s3.put_bucket_versioning(bucket, enabled, self.now());
        parse_ok(&self.exec(req).await?)
    }

    pub async fn put_bucket_cors(&self, bucket: &str, rules: &[CorsRule]) -> Result<ObjectMeta> {
        let req = self.s3.put_bucket_cors(bucket, rules, self.now());
        parse_ok(&self.exec(req).await?)
    }
}
