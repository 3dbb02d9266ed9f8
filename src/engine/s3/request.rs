//! Building signed S3 requests. Each builder validates its input first, so
//! a bad key or bucket is refused with `BadInput` before anything is sent.

use crate::prelude::*;

use super::config::{validate_bucket, validate_object_key, Addressing, S3Config};
use super::response::ListPage;
use crate::engine::encode::uri_encode;
use crate::engine::error::Result;
use crate::engine::http::{HttpRequest, Method};
use crate::engine::sigv4::{presign_query, sha256_hex, sign_headers, Scope};

/// How long a presigned read stays valid: it is sent at once, so this only
/// needs to cover the request's flight and the clocks' disagreement.
const PRESIGNED_READ_SECS: u32 = 300;
use crate::engine::time::{EpochMillis, Utc};
use crate::engine::xml::escape;

/// How a PUT treats an object that may already exist (object_store's
/// `PutMode`): S3 conditional writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PutMode {
    /// Replace whatever is there.
    #[default]
    Overwrite,
    /// Only if no object exists (`If-None-Match: *`), else PreconditionFailed.
    Create,
    /// Only if the current ETag matches (`If-Match`), else PreconditionFailed.
    Update(String),
}

#[derive(Clone, Debug, Default)]
pub struct PutOptions {
    pub content_type: Option<String>,
    /// `Content-Encoding` of the body as sent (and stored): `gzip` for a
    /// value or log entry the engine compressed, which readers' browsers
    /// decode.
    pub content_encoding: Option<&'static str>,
    pub mode: PutMode,
}

#[derive(Clone, Debug, Default)]
pub struct GetOptions {
    pub version_id: Option<String>,
    /// Answer 304 (`GetResult::NotModified`) if the ETag still matches.
    pub if_none_match: Option<String>,
}

/// ListObjectsV2 parameters. Keys come back URL-encoded
/// (`encoding-type=url`, always asked for) and are decoded by the parser, so
/// any key survives XML.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListParams {
    pub prefix: Option<String>,
    pub start_after: Option<String>,
    pub max_keys: Option<u32>,
    pub continuation_token: Option<String>,
}

/// A CORS rule for `put_bucket_cors`.
#[derive(Clone, Debug, Default)]
pub struct CorsRule {
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<u32>,
}

/// Builds and signs requests for one service.
#[derive(Clone, Debug)]
pub struct S3 {
    pub config: S3Config,
}

fn pair(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_string(), v.into())
}

/// Whether `key` has a `.` or `..` path segment.
fn has_dot_segment(key: &str) -> bool {
    key.split('/').any(|seg| seg == "." || seg == "..")
}

impl S3 {
    pub fn new(config: S3Config) -> S3 {
        S3 { config }
    }

    /// Host and path, percent-encoded as sent, for a bucket/key in this
    /// config's style. A key's `/` stay as they are, but in a key with a
    /// `.` or `..` segment, where they become `%2F` (as mps3 0.0.81 sends
    /// every key): a URL parser resolves dot segments (`fetch` does), and
    /// the request would reach another object; S3 decodes `%2F` back to
    /// `/`, so the object is the same.
    fn locate(&self, bucket: &str, key: Option<&str>) -> (String, String) {
        let ep = &self.config.endpoint;
        let base = uri_encode(&ep.base_path, true);
        let key_part = key
            .map(|k| cat!("/", uri_encode(k, !has_dot_segment(k))))
            .unwrap_or_default();
        if self.config.addressing == Addressing::Path {
            let bucket = uri_encode(bucket, true);
            (ep.authority.clone(), cat!(base, "/", bucket, key_part))
        } else {
            let path = if key_part.is_empty() {
                "/".to_string()
            } else {
                key_part
            };
            (cat!(bucket, ".", ep.authority), cat!(base, path))
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        &self,
        method: Method,
        bucket: &str,
        key: Option<&str>,
        query: Vec<(String, String)>,
        mut headers: Vec<(String, String)>,
        body: Vec<u8>,
        now: EpochMillis,
    ) -> Result<HttpRequest> {
        validate_bucket(bucket)?;
        if let Some(k) = key {
            validate_object_key(k)?;
        }
        let (host, path) = self.locate(bucket, key);
        let scope = Scope {
            region: &self.config.region,
            service: "s3",
            now,
        };
        if self.config.presign_reads
            && method == Method::Get
            && headers.is_empty()
            && body.is_empty()
        {
            let params = presign_query(
                &self.config.credentials,
                &scope,
                method.as_str(),
                &host,
                &path,
                &query,
                PRESIGNED_READ_SECS,
            );
            return Ok(HttpRequest {
                method,
                url: self.url(&host, &path, &params),
                headers: Vec::new(),
                body,
                finish_offline: false,
                trace: None,
            });
        }
        let payload_hash = sha256_hex(&body);
        headers.push(pair("x-amz-date", Utc::from_millis(now).amz_date()));
        headers.push(pair("x-amz-content-sha256", payload_hash.clone()));
        let creds = &self.config.credentials;
        if let Some(token) = &creds.session_token {
            headers.push(pair("x-amz-security-token", token.expose()));
        }
        let mut to_sign = headers.clone();
        to_sign.push(pair("host", host.clone()));
        let authorization = sign_headers(
            creds,
            &scope,
            method.as_str(),
            &path,
            &query,
            &to_sign,
            &payload_hash,
        );
        headers.push(pair("authorization", authorization));
        Ok(HttpRequest {
            method,
            url: self.url(&host, &path, &query),
            headers,
            body,
            finish_offline: false,
            trace: None,
        })
    }

    /// The wire URL: path and query encoded exactly as they were signed.
    /// `path` as `locate` encoded it.
    fn url(&self, host: &str, path: &str, query: &[(String, String)]) -> String {
        let mut url = cat!(self.config.endpoint.scheme, "://", host, path);
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&uri_encode(k, false));
            url.push('=');
            url.push_str(&uri_encode(v, false));
        }
        url
    }

    pub fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        opts: &PutOptions,
        now: EpochMillis,
    ) -> Result<HttpRequest> {
        let mut headers = Vec::new();
        if let Some(ct) = &opts.content_type {
            headers.push(pair("content-type", ct.as_str()));
        }
        if let Some(ce) = opts.content_encoding {
            headers.push(pair("content-encoding", ce));
        }
        match &opts.mode {
            PutMode::Overwrite => {}
            PutMode::Create => headers.push(pair("if-none-match", "*")),
            PutMode::Update(etag) => headers.push(pair("if-match", etag.as_str())),
        }
        self.build(Method::Put, bucket, Some(key), vec![], headers, body, now)
    }

    fn read(
        &self,
        method: Method,
        bucket: &str,
        key: &str,
        opts: &GetOptions,
        now: EpochMillis,
    ) -> Result<HttpRequest> {
        let mut query = Vec::new();
        if let Some(v) = &opts.version_id {
            query.push(pair("versionId", v.as_str()));
        }
        let mut headers = Vec::new();
        if let Some(etag) = &opts.if_none_match {
            headers.push(pair("if-none-match", etag.as_str()));
        }
        self.build(method, bucket, Some(key), query, headers, vec![], now)
    }

    pub fn get_object(
        &self,
        bucket: &str,
        key: &str,
        opts: &GetOptions,
        now: EpochMillis,
    ) -> Result<HttpRequest> {
        self.read(Method::Get, bucket, key, opts, now)
    }

    pub fn head_object(
        &self,
        bucket: &str,
        key: &str,
        opts: &GetOptions,
        now: EpochMillis,
    ) -> Result<HttpRequest> {
        self.read(Method::Head, bucket, key, opts, now)
    }

    pub fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        now: EpochMillis,
    ) -> Result<HttpRequest> {
        let query = version_id
            .map(|v| vec![pair("versionId", v)])
            .unwrap_or_default();
        self.build(
            Method::Delete,
            bucket,
            Some(key),
            query,
            vec![],
            vec![],
            now,
        )
    }

    pub fn list_objects_v2(
        &self,
        bucket: &str,
        params: &ListParams,
        now: EpochMillis,
    ) -> Result<HttpRequest> {
        let mut query = vec![pair("list-type", "2"), pair("encoding-type", "url")];
        if let Some(p) = &params.prefix {
            query.push(pair("prefix", p.as_str()));
        }
        if let Some(s) = &params.start_after {
            query.push(pair("start-after", s.as_str()));
        }
        if let Some(m) = params.max_keys {
            query.push(pair("max-keys", num(m.into())));
        }
        if let Some(t) = &params.continuation_token {
            query.push(pair("continuation-token", t.as_str()));
        }
        self.build(Method::Get, bucket, None, query, vec![], vec![], now)
    }

    pub fn create_bucket(&self, bucket: &str, now: EpochMillis) -> Result<HttpRequest> {
        // us-east-1 takes no location constraint; every other region needs it.
        let body = if self.config.region == "us-east-1" {
            Vec::new()
        } else {
            cat!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <LocationConstraint>",
                escape(&self.config.region),
                "</LocationConstraint></CreateBucketConfiguration>"
            )
            .into_bytes()
        };
        self.build(Method::Put, bucket, None, vec![], vec![], body, now)
    }

    pub fn put_bucket_versioning(
        &self,
        bucket: &str,
        enabled: bool,
        now: EpochMillis,
    ) -> Result<HttpRequest> {
        let status = if enabled { "Enabled" } else { "Suspended" };
        let body = cat!(
            "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Status>",
            status,
            "</Status></VersioningConfiguration>"
        );
        self.bucket_config(bucket, "versioning", body, now)
    }

    pub fn put_bucket_cors(
        &self,
        bucket: &str,
        rules: &[CorsRule],
        now: EpochMillis,
    ) -> Result<HttpRequest> {
        let mut body =
            String::from("<CORSConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
        for rule in rules {
            body.push_str("<CORSRule>");
            let lists = [
                ("AllowedOrigin", &rule.allowed_origins),
                ("AllowedMethod", &rule.allowed_methods),
                ("AllowedHeader", &rule.allowed_headers),
                ("ExposeHeader", &rule.expose_headers),
            ];
            for (tag, values) in lists {
                for v in values {
                    body.push_str(&cat!("<", tag, ">", escape(v), "</", tag, ">"));
                }
            }
            if let Some(age) = rule.max_age_seconds {
                body.push_str(&cat!("<MaxAgeSeconds>", age, "</MaxAgeSeconds>"));
            }
            body.push_str("</CORSRule>");
        }
        body.push_str("</CORSConfiguration>");
        self.bucket_config(bucket, "cors", body, now)
    }

    /// PUT of a bucket sub-resource. S3 wants an integrity checksum on
    /// these; a SHA-256 checksum serves where Content-MD5 would.
    fn bucket_config(
        &self,
        bucket: &str,
        subresource: &str,
        body: String,
        now: EpochMillis,
    ) -> Result<HttpRequest> {
        use sha2::{Digest, Sha256};
        let checksum = base64(&Sha256::digest(body.as_bytes()));
        let headers = vec![
            pair("content-type", "application/xml"),
            pair("x-amz-checksum-sha256", checksum),
            pair("x-amz-sdk-checksum-algorithm", "SHA256"),
        ];
        self.build(
            Method::Put,
            bucket,
            None,
            vec![pair(subresource, "")],
            headers,
            body.into_bytes(),
            now,
        )
    }
}

/// Standard base64 with padding (for checksum headers).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Reads a whole listing, page after page, until S3 says it is complete.
/// The caller sends `request()`, feeds the parsed page to `on_page`, and
/// repeats while it returns `true`.
#[derive(Clone, Debug)]
pub struct ListAll {
    bucket: String,
    params: ListParams,
    pub entries: Vec<super::response::ListEntry>,
    pub pages: usize,
}

impl ListAll {
    pub fn new(bucket: &str, params: ListParams) -> ListAll {
        ListAll {
            bucket: bucket.to_string(),
            params,
            entries: Vec::new(),
            pages: 0,
        }
    }

    pub fn request(&self, s3: &S3, now: EpochMillis) -> Result<HttpRequest> {
        s3.list_objects_v2(&self.bucket, &self.params, now)
    }

    /// Takes a page; `true` when another page must be fetched.
    pub fn on_page(&mut self, page: ListPage) -> bool {
        self.pages += 1;
        self.entries.extend(page.entries);
        match (page.is_truncated, page.next_continuation_token) {
            (true, Some(token)) => {
                self.params.continuation_token = Some(token);
                true
            }
            _ => false,
        }
    }
}
