//! An in-memory S3 with the semantics the protocol leans on: strong
//! read-after-write, lexicographic ListObjectsV2 with 1000-key pages and
//! `encoding-type=url`, conditional PUT (`If-None-Match: *`, `If-Match`)
//! and GET (`If-None-Match` → 304), optional versioning, and a
//! `LastModified` of configurable precision (moto's is whole seconds).
//! Signatures are not checked here: the browser tests verify them against
//! a real server.
//!
//! It serves two masters: the simulation (tests), and the browser's own
//! bucket (`endpoint: "local:"`), whose edge loads the objects a request
//! touches from IndexedDB ([`InMemoryS3::access`], [`InMemoryS3::import`]),
//! applies it here, and stores what changed ([`InMemoryS3::export`]).

use crate::prelude::*;

use crate::engine::lean::vec_map::VecMap;

use crate::engine::binary;
use crate::engine::encode::{percent_decode, uri_encode};
use crate::engine::http::{HttpRequest, HttpResponse, Method};
use crate::engine::json::JsonValue;
use crate::engine::lean::scan::number;
use crate::engine::sigv4::sha256_hex;
use crate::engine::time::{format_http_date, format_iso8601};
use crate::engine::xml::escape;

#[derive(Clone, Debug)]
pub struct Version {
    pub body: Vec<u8>,
    pub etag: String,
    pub last_modified: i64,
    pub version_id: String,
    pub delete_marker: bool,
    /// As PUT gave it (`None`: JSON).
    pub content_type: Option<String>,
}

#[derive(Default)]
pub struct Bucket {
    pub versioning: bool,
    pub objects: VecMap<String, Vec<Version>>,
}

/// Every PUT ever applied, deleted or not: what the checker's oracle reads.
#[derive(Clone, Debug)]
pub struct PutRecord {
    pub bucket: String,
    pub key: String,
    pub last_modified: i64,
    pub body: Vec<u8>,
}

pub struct InMemoryS3 {
    /// By name (few: a list, which is less code in the .wasm than a map).
    pub buckets: Vec<(String, Bucket)>,
    pub lm_precision_ms: i64,
    pub puts: Vec<PutRecord>,
    /// Requests by kind (`LIST`, `GET`, `304`, ...).
    pub requests: Vec<(&'static str, usize)>,
    /// Behave like servers that ignore `If-Match` and `If-None-Match` on
    /// PUT (Garage, some S3 gateways).
    pub ignore_put_conditions: bool,
    next_version: u64,
    /// Creates refused because the object existed (the simulation's
    /// figures).
    #[cfg(test)]
    pub conditional_refusals: usize,
    /// Keys deleted, in order.
    #[cfg(test)]
    pub deletes: Vec<String>,
}

fn respond(status: u16, headers: Vec<(&str, String)>, body: Vec<u8>, now: i64) -> HttpResponse {
    let mut h = Vec::with_capacity(headers.len() + 1);
    for (k, v) in headers {
        h.push((String::from(k), v));
    }
    h.push(("date".into(), format_http_date(now)));
    HttpResponse {
        status,
        headers: h,
        body,
    }
}

fn error(status: u16, code: &str, now: i64) -> HttpResponse {
    let body = cat!(
        "<Error><Code>",
        code,
        "</Code><Message>",
        code,
        "</Message></Error>"
    );
    respond(
        status,
        vec![("content-type", "application/xml".into())],
        body.into_bytes(),
        now,
    )
}

impl InMemoryS3 {
    pub fn new(lm_precision_ms: i64) -> InMemoryS3 {
        InMemoryS3 {
            buckets: Vec::new(),
            lm_precision_ms,
            puts: Vec::new(),
            requests: Vec::new(),
            ignore_put_conditions: false,
            #[cfg(test)]
            conditional_refusals: 0,
            #[cfg(test)]
            deletes: Vec::new(),
            next_version: 1,
        }
    }

    pub fn create_bucket(&mut self, name: &str, versioning: bool) {
        *self.bucket_mut(name) = Bucket {
            versioning,
            objects: VecMap::new(),
        };
    }

    pub fn bucket(&self, name: &str) -> Option<&Bucket> {
        self.buckets.iter().find(|(n, _)| n == name).map(|(_, b)| b)
    }

    /// The bucket `name`, made empty if it did not exist.
    fn bucket_mut(&mut self, name: &str) -> &mut Bucket {
        let i = match self.buckets.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                self.buckets.push((name.to_string(), Bucket::default()));
                self.buckets.len() - 1
            }
        };
        &mut self.buckets[i].1
    }

    /// What a request reads or writes: one object, or (a listing) every
    /// key of a bucket under a prefix. `None` if it is not a request this
    /// model serves.
    pub fn access(req: &HttpRequest) -> Option<Access> {
        let (bucket, key, query) = parse_target(req)?;
        Some(match key {
            Some(key) => Access::Key { bucket, key },
            None => Access::Prefix {
                bucket,
                prefix: query.get("prefix").cloned().unwrap_or_default(),
            },
        })
    }

    /// The current object under `key`, as stored text (see [`Self::import`]);
    /// `None` if there is none. Unversioned buckets only.
    pub fn export(&self, bucket: &str, key: &str) -> Option<String> {
        let v = self
            .bucket(bucket)?
            .objects
            .get(key)?
            .last()
            .filter(|v| !v.delete_marker)?;
        let mut o = JsonValue::object();
        // A binary value's bytes as Latin-1 characters (`bin`), any other
        // body as its text (bytes that are not UTF-8 as Latin-1 too: kept
        // exactly either way).
        let text = match &v.content_type {
            Some(t) if !binary::is_json_type(Some(t)) => None,
            _ => core::str::from_utf8(&v.body).ok(),
        };
        match text {
            Some(text) => o.set("body", JsonValue::String(text.into())),
            None => o.set("bin", JsonValue::String(binary::latin1(&v.body))),
        }
        if let Some(t) = &v.content_type {
            o.set("ct", JsonValue::String(t.clone()));
        }
        o.set("etag", JsonValue::String(v.etag.clone()));
        o.set("lastModified", JsonValue::Number(num(v.last_modified)));
        Some(o.to_pretty())
    }

    /// Loads an object exported before into an unversioned bucket.
    pub fn import(&mut self, bucket: &str, key: &str, text: &str) -> bool {
        let Ok(v) = crate::engine::json::parse(text.as_bytes()) else {
            return false;
        };
        let bin = v.get("bin").and_then(JsonValue::as_str);
        let body = match bin {
            Some(b) => binary::from_latin1(b),
            None => v
                .get("body")
                .and_then(JsonValue::as_str)
                .unwrap_or("")
                .as_bytes()
                .to_vec(),
        };
        let (Some(_), Some(etag), Some(JsonValue::Number(lm))) = (
            v.get("body").and_then(JsonValue::as_str).or(bin),
            v.get("etag").and_then(JsonValue::as_str),
            v.get("lastModified"),
        ) else {
            return false;
        };
        let Some(last_modified) = number(lm, 10).and_then(|n| n.try_into().ok()) else {
            return false;
        };
        let b = self.bucket_mut(bucket);
        b.objects.insert(
            key.to_string(),
            vec![Version {
                body,
                etag: etag.to_string(),
                last_modified,
                version_id: String::new(),
                delete_marker: false,
                content_type: v.get("ct").and_then(JsonValue::as_str).map(String::from),
            }],
        );
        true
    }

    pub fn apply(&mut self, req: &HttpRequest, now: i64) -> HttpResponse {
        let Some((bucket, key, query)) = parse_target(req) else {
            return error(400, "InvalidURI", now);
        };
        let lm = now - now.rem_euclid(self.lm_precision_ms);
        let kind = match (req.method, &key) {
            (Method::Get, None) => "LIST",
            (Method::Put, _) => "PUT",
            (Method::Get, _) => "GET",
            (Method::Head, _) => "HEAD",
            (Method::Delete, _) => "DELETE",
            _ => "OTHER",
        };
        count(&mut self.requests, kind);
        let InMemoryS3 {
            buckets,
            puts,
            requests,
            next_version,
            ..
        } = self;
        let Some(b) = buckets
            .iter_mut()
            .find(|(n, _)| *n == bucket)
            .map(|(_, b)| b)
        else {
            return error(404, "NoSuchBucket", now);
        };
        match (req.method, key) {
            (Method::Get, None) => list(b, &query, now),
            (Method::Put, Some(key)) => {
                let current = b
                    .objects
                    .get(&key)
                    .and_then(|v| v.last())
                    .filter(|v| !v.delete_marker);
                let conditions = !self.ignore_put_conditions;
                if conditions && req.header("if-none-match") == Some("*") && current.is_some() {
                    #[cfg(test)]
                    {
                        self.conditional_refusals += 1;
                    }
                    return error(412, "PreconditionFailed", now);
                }
                if let Some(expected) = req.header("if-match").filter(|_| conditions) {
                    match current {
                        None => return error(404, "NoSuchKey", now),
                        Some(v) if v.etag != expected => {
                            return error(412, "PreconditionFailed", now)
                        }
                        _ => {}
                    }
                }
                let etag = cat!("\"", &sha256_hex(&req.body)[..32], "\"");
                let version_id = cat!("v", next_version);
                *next_version += 1;
                let v = Version {
                    body: req.body.clone(),
                    etag: etag.clone(),
                    last_modified: lm,
                    version_id: version_id.clone(),
                    delete_marker: false,
                    content_type: req.header("content-type").map(String::from),
                };
                let versions = b.objects.entry_or_default(key.clone());
                if !b.versioning {
                    versions.clear();
                }
                versions.push(v);
                let versioned = b.versioning;
                puts.push(PutRecord {
                    bucket,
                    key,
                    last_modified: lm,
                    body: req.body.clone(),
                });
                let mut h = vec![("etag", etag)];
                if versioned {
                    h.push(("x-amz-version-id", version_id));
                }
                respond(200, h, Vec::new(), now)
            }
            (Method::Get | Method::Head, Some(key)) => {
                let versions = b.objects.get(&key);
                let found = match query.get("versionId") {
                    Some(id) => versions.and_then(|vs| vs.iter().find(|v| &v.version_id == id)),
                    None => versions
                        .and_then(|vs| vs.last())
                        .filter(|v| !v.delete_marker),
                };
                let Some(v) = found else {
                    return error(404, "NoSuchKey", now);
                };
                let mut h = vec![
                    ("etag", v.etag.clone()),
                    ("last-modified", format_http_date(v.last_modified)),
                    (
                        "content-type",
                        v.content_type.clone().unwrap_or("application/json".into()),
                    ),
                ];
                if b.versioning {
                    h.push(("x-amz-version-id", v.version_id.clone()));
                }
                if req.header("if-none-match") == Some(v.etag.as_str()) {
                    count(requests, "304");
                    return respond(304, h, Vec::new(), now);
                }
                let body = if req.method == Method::Get {
                    v.body.clone()
                } else {
                    Vec::new()
                };
                respond(200, h, body, now)
            }
            (Method::Delete, Some(key)) => {
                #[cfg(test)]
                self.deletes.push(key.clone());
                if b.versioning {
                    let version_id = cat!("v", next_version);
                    *next_version += 1;
                    b.objects.entry_or_default(key).push(Version {
                        body: Vec::new(),
                        etag: String::new(),
                        last_modified: lm,
                        version_id,
                        delete_marker: true,
                        content_type: None,
                    });
                    respond(
                        204,
                        vec![("x-amz-delete-marker", "true".into())],
                        Vec::new(),
                        now,
                    )
                } else {
                    b.objects.remove(&key);
                    respond(204, vec![], Vec::new(), now)
                }
            }
            _ => error(400, "InvalidRequest", now),
        }
    }
}

fn count(requests: &mut Vec<(&'static str, usize)>, kind: &'static str) {
    match requests.iter_mut().find(|(k, _)| *k == kind) {
        Some((_, n)) => *n += 1,
        None => requests.push((kind, 1)),
    }
}

/// What a request touches (see [`InMemoryS3::access`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    Key { bucket: String, key: String },
    Prefix { bucket: String, prefix: String },
}

type Target = (String, Option<String>, Query);

/// Query parameters, decoded, in order.
pub struct Query(Vec<(String, String)>);

impl Query {
    fn get(&self, name: &str) -> Option<&String> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// Bucket, key and query of a path-style request.
fn parse_target(req: &HttpRequest) -> Option<Target> {
    let rest =
        crate::engine::lean::scan::split_once(&req.url, "://").map_or(req.url.as_str(), |(_, r)| r);
    let path_and_query = &rest[rest.find('/').unwrap_or(rest.len())..];
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let path = percent_decode(path)?;
    let mut params = Vec::new();
    for p in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        params.push((percent_decode(k)?, percent_decode(v)?));
    }
    let path = path.trim_start_matches('/');
    Some(match path.split_once('/') {
        Some((b, k)) => (b.to_string(), Some(k.to_string()), Query(params)),
        None => (path.to_string(), None, Query(params)),
    })
}

fn list(b: &Bucket, query: &Query, now: i64) -> HttpResponse {
    let prefix = query.get("prefix").cloned().unwrap_or_default();
    let after = query
        .get("continuation-token")
        .or_else(|| query.get("start-after"))
        .cloned()
        .unwrap_or_default();
    let max: usize = query
        .get("max-keys")
        .and_then(|m| number(m, 10))
        .map_or(1000, |m| m.min(1000) as usize);
    let url = query.get("encoding-type").map(String::as_str) == Some("url");
    let mut keys: Vec<(&String, &Version)> = Vec::new();
    for (k, vs) in b.objects.iter_from(after.as_str()) {
        if keys.len() > max {
            break;
        }
        match vs.last() {
            Some(v) if *k > after && k.starts_with(&prefix) && !v.delete_marker => {
                keys.push((k, v));
            }
            _ => {}
        }
    }
    let truncated = keys.len() > max;
    let page = &keys[..keys.len().min(max)];
    let enc = |k: &str| if url { uri_encode(k, true) } else { escape(k) };
    let mut xml = String::from("<ListBucketResult>");
    if url {
        xml.push_str("<EncodingType>url</EncodingType>");
    }
    for (k, v) in page {
        xml.push_str(&cat!(
            "<Contents><Key>",
            enc(k),
            "</Key><LastModified>",
            format_iso8601(v.last_modified),
            "</LastModified><ETag>",
            escape(&v.etag),
            "</ETag><Size>",
            v.body.len(),
            "</Size></Contents>"
        ));
    }
    xml.push_str(&cat!("<IsTruncated>", truncated, "</IsTruncated>"));
    if truncated {
        let last = page.last().unwrap().0;
        xml.push_str(&cat!(
            "<NextContinuationToken>",
            escape(last),
            "</NextContinuationToken>"
        ));
    }
    xml.push_str("</ListBucketResult>");
    respond(
        200,
        vec![("content-type", "application/xml".into())],
        xml.into_bytes(),
        now,
    )
}

/// `url` as a URL parser leaves it: `fetch` resolves `.` and `..` path
/// segments (spelled with `%2e` too) before a request leaves. The
/// simulation's edge applies it, so that its requests reach the object a
/// browser's would (the browser's own bucket sees no URL parser).
#[cfg(test)]
pub fn as_fetch_sends(url: &str) -> String {
    let (origin, rest) = match url.find("://").map(|i| i + 3) {
        Some(i) => match url[i..].find('/') {
            Some(j) => url.split_at(i + j),
            None => return url.to_string(),
        },
        None => ("", url),
    };
    let (path, query) = match rest.find('?') {
        Some(q) => rest.split_at(q),
        None => (rest, ""),
    };
    cat!(origin, resolve_dot_segments(path), query)
}

#[cfg(test)]
/// `path` as a URL parser leaves it: `fetch` resolves `.` and `..`
/// segments (spelled with `%2e` too) before a request leaves, so a request
/// reaches the object a browser's would.
fn resolve_dot_segments(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        let seg_lower = seg.to_ascii_lowercase();
        let last = i + 1 == segments.len();
        match seg_lower.as_str() {
            ".." | ".%2e" | "%2e." | "%2e%2e" => {
                kept.pop();
                if last {
                    kept.push("");
                }
            }
            "." | "%2e" => {
                if last {
                    kept.push("");
                }
            }
            _ => kept.push(seg),
        }
    }
    let mut out = String::new();
    for seg in kept {
        out.push('/');
        out.push_str(seg);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method, path: &str, headers: &[(&str, &str)], body: &str) -> HttpRequest {
        HttpRequest {
            method,
            url: format!("http://local.mps3{path}"),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
            finish_offline: false,
            trace: None,
        }
    }

    /// The browser's own bucket serves each request from the objects it
    /// touches, loaded into a fresh model: the answers must be those of a
    /// model that held everything all along.
    #[test]
    fn a_model_loaded_with_only_what_a_request_touches_answers_the_same() {
        let mut full = InMemoryS3::new(1);
        full.create_bucket("b", false);
        let mut stored: std::collections::BTreeMap<String, String> = Default::default();
        let steps = [
            req(Method::Put, "/b/m%40001", &[("if-none-match", "*")], "{}"),
            req(Method::Put, "/b/m%40001", &[("if-none-match", "*")], "{}"),
            req(Method::Put, "/b/m%40002", &[], "{\"a\":1}"),
            req(Method::Put, "/b/k%40u1", &[], "\"v\""),
            req(
                Method::Get,
                "/b?list-type=2&prefix=m%40&start-after=m%40001&encoding-type=url",
                &[],
                "",
            ),
            req(Method::Get, "/b/k%40u1", &[], ""),
            req(Method::Put, "/b/m", &[("if-match", "\"nope\"")], "\"x\""),
            req(Method::Delete, "/b/m%40001", &[], ""),
            req(Method::Get, "/b?list-type=2&prefix=m", &[], ""),
            req(Method::Get, "/b/missing", &[], ""),
        ];
        for (i, r) in steps.iter().enumerate() {
            let now = 1_795_000_000_000 + i as i64 * 1000;
            let expected = full.apply(r, now);
            let mut part = InMemoryS3::new(1);
            part.create_bucket("b", false);
            let (bucket, keys): (String, Vec<String>) = match InMemoryS3::access(r).unwrap() {
                Access::Key { bucket, key } => (bucket, vec![key]),
                Access::Prefix { bucket, prefix } => (
                    bucket,
                    stored
                        .keys()
                        .filter(|k| k.starts_with(&prefix))
                        .cloned()
                        .collect(),
                ),
            };
            for k in &keys {
                if let Some(text) = stored.get(k) {
                    assert!(part.import(&bucket, k, text));
                }
            }
            let got = part.apply(r, now);
            assert_eq!(got.status, expected.status, "step {i}");
            assert_eq!(got.body, expected.body, "step {i}");
            if let Access::Key { key, .. } = InMemoryS3::access(r).unwrap() {
                match part.export(&bucket, &key) {
                    Some(t) => stored.insert(key, t),
                    None => stored.remove(&key),
                };
            }
        }
        assert_eq!(stored.len(), 2, "m@002 and k@u1 remain");
    }

    /// What the browser's own bucket stores of an object comes back as it
    /// was: a typed JSON body keeps its type, and untyped bytes that are
    /// not UTF-8 keep every byte.
    #[test]
    fn an_exported_object_is_imported_byte_for_byte_with_its_type() {
        let mut m = InMemoryS3::new(1);
        m.create_bucket("b", false);
        let json = req(
            Method::Put,
            "/b/j",
            &[("content-type", "application/json")],
            "{\"a\":1}",
        );
        let mut raw = req(Method::Put, "/b/r", &[], "");
        raw.body = vec![0xff, 0x00, 0xc3, 0x28, b'x'];
        for r in [&json, &raw] {
            assert_eq!(m.apply(r, 1_795_000_000_000).status, 200);
        }
        let mut back = InMemoryS3::new(1);
        back.create_bucket("b", false);
        for key in ["j", "r"] {
            assert!(back.import("b", key, &m.export("b", key).unwrap()));
            let (a, b) = (m.bucket("b").unwrap(), back.bucket("b").unwrap());
            let (a, b) = (
                a.objects.get(key).unwrap().last().unwrap(),
                b.objects.get(key).unwrap().last().unwrap(),
            );
            assert_eq!(
                (&a.body, &a.content_type),
                (&b.body, &b.content_type),
                "{key}"
            );
        }
    }
}
