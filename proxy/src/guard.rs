//! What a verified caller may send to the bucket: every request is
//! matched against protocol v2's objects of a declared manifest, checked,
//! and turned into the request the proxy itself sends upstream; anything
//! else is refused (docs/auth-proxy.md has the table).
//!
//! Entries are parsed with the engine's parser (`Entry::parse`), with
//! duplicate JSON keys refused first, and forwarded as the proxy's own
//! re-serialisation of what it checked (`Entry::to_text`): the readers
//! and the proxy can never disagree on what an entry says.

use std::io::Read as _;

use mps3::engine::json::{self, JsonValue};
use mps3::engine::protocol::v2::format::{parse_checkpoint, parse_slot, prefix, Entry};
use mps3::engine::protocol::v2::INLINE_MAX_BYTES;
use mps3::engine::protocol::V2_GUARD;
use mps3::engine::s3::{ListParams, PutMode};

use crate::rules::{decide, Action, Decision, Manifest, Principal, Value};
use crate::s3error::S3Error;

/// The bucket the proxy serves and its manifests.
#[derive(Clone, Debug)]
pub struct Policy {
    pub bucket: String,
    pub manifests: Vec<Manifest>,
    /// The largest log entry, after gunzip.
    pub max_entry_bytes: usize,
    /// The largest content object.
    pub max_content_bytes: usize,
}

/// A request as received, once its signature is checked.
pub struct Incoming<'a> {
    pub method: &'a str,
    pub bucket: &'a str,
    /// The object key, decoded; `None` for a bucket request (a listing).
    pub key: Option<&'a str>,
    pub query: &'a [(String, String)],
    /// Header names lower-cased.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl Incoming<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the proxy sends upstream for an allowed request (signed with its
/// own keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upstream {
    Get {
        key: String,
        if_none_match: Option<String>,
    },
    Put {
        key: String,
        body: Vec<u8>,
        content_type: Option<String>,
        content_encoding: Option<String>,
        mode: PutMode,
    },
    Delete {
        key: String,
    },
    List(ListParams),
}

/// An allowed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allowed {
    pub upstream: Upstream,
    /// A log slot's create: the manifest and the slot, which the proxy
    /// checks follows one that exists (no hole far ahead of the head).
    pub slot: Option<(String, u64)>,
    /// The manifest whose write limit it counts against.
    pub counts_against: Option<String>,
}

impl Allowed {
    fn plain(upstream: Upstream) -> Allowed {
        Allowed {
            upstream,
            slot: None,
            counts_against: None,
        }
    }
}

/// What one of a manifest's objects a key is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Object<'a> {
    Guard,
    Slot(u64),
    Checkpoint,
    Hint,
    Probe,
    /// Anything else under the manifest's v2 prefix.
    Unknown(&'a str),
}

impl Policy {
    /// Log entries one caller may create per minute in manifest `mkey`.
    pub fn writes_per_minute(&self, mkey: &str) -> u32 {
        self.manifest(mkey).map_or(0, |m| m.writes_per_minute)
    }

    /// The declared manifest `key` is an instance of.
    fn manifest(&self, key: &str) -> Option<&Manifest> {
        // Another caller's instance of a `{sub}` manifest is declared too
        // (readable by role, never by owner).
        self.manifests
            .iter()
            .find(|m| m.key.matches_any_caller(key))
    }

    /// The manifest and which of its objects `key` is, if it is one.
    fn object<'k>(&self, key: &'k str) -> Option<(&Manifest, String, Object<'k>)> {
        if let Some(m) = self.manifest(key) {
            return Some((m, key.to_string(), Object::Guard));
        }
        let at = key.find(".v2/")?;
        let mkey = &key[..at];
        let m = self.manifest(mkey)?;
        let rest = &key[at + ".v2/".len()..];
        let object = if let Some(n) = parse_slot(mkey, key) {
            Object::Slot(n)
        } else if parse_checkpoint(mkey, key).is_some() {
            Object::Checkpoint
        } else if rest == "head" {
            Object::Hint
        } else if rest.starts_with("probe/")
            && rest.len() > "probe/".len()
            && !rest[6..].contains('/')
        {
            Object::Probe
        } else {
            Object::Unknown(rest)
        };
        Some((m, mkey.to_string(), object))
    }

    /// Whether `p` may set `key` in some manifest (a content object).
    fn may_set(&self, p: &Principal, key: &str, value: &Value<'_>) -> Decision {
        let mut last = Decision::Deny(format!("no rule lets you set key \"{key}\""));
        for m in &self.manifests {
            match decide(p, m, Action::Set, key, value) {
                Decision::Allow => return Decision::Allow,
                deny => last = deny,
            }
        }
        last
    }

    /// The request the proxy sends for `req` by `p`, or why not.
    pub fn check(&self, p: &Principal, req: &Incoming<'_>) -> Result<Allowed, S3Error> {
        if req.bucket != self.bucket {
            return Err(S3Error::denied(format!(
                "this proxy serves bucket {} only",
                self.bucket
            )));
        }
        if req.param("versionId").is_some()
            || req.param("uploads").is_some()
            || req.param("uploadId").is_some()
        {
            return Err(S3Error::denied(
                "versioned and multipart requests are not served",
            ));
        }
        let Some(key) = req.key.filter(|k| !k.is_empty()) else {
            return self.check_listing(p, req);
        };
        match (req.method, self.object(key)) {
            ("GET", Some((m, mkey, _))) => {
                if !m.readable(p, &mkey) {
                    return Err(S3Error::denied(format!("you may not read manifest {mkey}")));
                }
                Ok(Allowed::plain(Upstream::Get {
                    key: key.into(),
                    if_none_match: req.header("if-none-match").map(String::from),
                }))
            }
            ("GET", None) => {
                // Content, `<key>@<uuid>`: its uuid, which only the readers
                // of a manifest that names it learn, is what guards it.
                content_key(key).ok_or_else(|| {
                    S3Error::denied(format!("{key} is not an object of a manifest served here"))
                })?;
                Ok(Allowed::plain(Upstream::Get {
                    key: key.into(),
                    if_none_match: req.header("if-none-match").map(String::from),
                }))
            }
            ("PUT", Some((m, mkey, object))) => self.check_put(p, req, m, &mkey, key, object),
            ("PUT", None) => self.check_content_put(p, req, key),
            ("DELETE", Some((_, _, Object::Probe))) => {
                Ok(Allowed::plain(Upstream::Delete { key: key.into() }))
            }
            ("DELETE", _) => Err(S3Error::denied(
                "deletes are the compactor's: a client behind this proxy deletes nothing",
            )),
            (method, _) => Err(S3Error::denied(format!("{method} is not served"))),
        }
    }

    fn check_put(
        &self,
        p: &Principal,
        req: &Incoming<'_>,
        m: &Manifest,
        mkey: &str,
        key: &str,
        object: Object<'_>,
    ) -> Result<Allowed, S3Error> {
        if !m.readable(p, mkey) {
            return Err(S3Error::denied(format!(
                "you may not write manifest {mkey}"
            )));
        }
        let create = req.header("if-none-match") == Some("*") && req.header("if-match").is_none();
        match object {
            Object::Guard => {
                if !create || req.body != V2_GUARD || req.header("content-encoding").is_some() {
                    return Err(S3Error::denied(format!(
                        "manifest {mkey} may only be created (If-None-Match: *) as protocol v2; upgrades and overwrites are the compactor's"
                    )));
                }
                Ok(Allowed::plain(json_put(
                    key,
                    V2_GUARD.to_vec(),
                    PutMode::Create,
                )))
            }
            Object::Slot(n) => {
                if !create {
                    return Err(S3Error::denied(
                        "log slots are created once (If-None-Match: *), never overwritten",
                    ));
                }
                let entry = self.check_entry(p, req)?;
                Ok(Allowed {
                    upstream: json_put(key, entry.to_text().into_bytes(), PutMode::Create),
                    slot: Some((mkey.to_string(), n)),
                    counts_against: Some(mkey.to_string()),
                })
            }
            Object::Probe => {
                if !create || req.body != b"{}" {
                    return Err(S3Error::denied(
                        "a probe is {} created with If-None-Match: *",
                    ));
                }
                Ok(Allowed {
                    upstream: json_put(key, b"{}".to_vec(), PutMode::Create),
                    slot: None,
                    counts_against: Some(mkey.to_string()),
                })
            }
            Object::Checkpoint | Object::Hint => Err(S3Error::denied(
                "checkpoints and the hint are the compactor's to write",
            )),
            Object::Unknown(rest) => Err(S3Error::denied(format!(
                "{rest} is not an object of protocol v2"
            ))),
        }
    }

    /// A log entry's body: gunzipped within the cap, without duplicate
    /// keys, parsed by the engine, its writer the caller's and every key it
    /// sets or deletes allowed.
    fn check_entry(&self, p: &Principal, req: &Incoming<'_>) -> Result<Entry, S3Error> {
        let body = match req.header("content-encoding") {
            None | Some("identity") => {
                if req.body.len() > self.max_entry_bytes {
                    return Err(too_large("the log entry", self.max_entry_bytes));
                }
                req.body.to_vec()
            }
            Some("gzip") => gunzip(req.body, self.max_entry_bytes)?,
            Some(other) => {
                return Err(S3Error::denied(format!(
                    "content-encoding {other} is not served"
                )))
            }
        };
        let value = json::parse(&body).map_err(|_| S3Error::denied("the log entry is not JSON"))?;
        if let Some(dup) = duplicate_key(&value) {
            return Err(S3Error::denied(format!(
                "the log entry has the key \"{dup}\" twice"
            )));
        }
        let entry = Entry::parse(&body)
            .map_err(|e| S3Error::denied(format!("not a v2 log entry: {}", e.message)))?;
        if entry.writer.len() <= p.writer_prefix.len()
            || !entry.writer.starts_with(&p.writer_prefix)
        {
            return Err(S3Error::denied(format!(
                "writer id \"{}\" is not yours: yours start with \"{}\"",
                entry.writer, p.writer_prefix
            )));
        }
        for (url, stored) in &entry.set {
            let key = in_bucket(&self.bucket, url)?;
            if stored
                .inline
                .as_ref()
                .is_some_and(|v| v.len() > INLINE_MAX_BYTES)
            {
                return Err(S3Error::denied(format!(
                    "the value of \"{key}\" travels inline at {} bytes; at most {INLINE_MAX_BYTES}",
                    stored.inline.as_ref().map_or(0, |v| v.len())
                )));
            }
            let value = Value {
                bytes: stored.inline.as_ref().map_or(0, |v| v.len()),
                content_type: stored.content_type.as_deref(),
            };
            if let Decision::Deny(why) = self.decide_in_manifests(p, Action::Set, key, &value) {
                return Err(S3Error::denied(why));
            }
        }
        for url in &entry.delete {
            let key = in_bucket(&self.bucket, url)?;
            if let Decision::Deny(why) =
                self.decide_in_manifests(p, Action::Delete, key, &Value::default())
            {
                return Err(S3Error::denied(why));
            }
        }
        for (_, urls) in &entry.traces {
            for url in urls {
                if !entry.set.iter().any(|(k, _)| k == url) && !entry.delete.contains(url) {
                    return Err(S3Error::denied(format!(
                        "a trace names {url}, which the entry does not change"
                    )));
                }
            }
        }
        Ok(entry)
    }

    fn decide_in_manifests(
        &self,
        p: &Principal,
        action: Action,
        key: &str,
        value: &Value<'_>,
    ) -> Decision {
        let mut last = Decision::Deny(format!("no rule lets you change key \"{key}\""));
        for m in &self.manifests {
            match decide(p, m, action, key, value) {
                Decision::Allow => return Decision::Allow,
                deny => last = deny,
            }
        }
        last
    }

    /// A content object `<key>@<uuid>`: only under a key the caller may set.
    fn check_content_put(
        &self,
        p: &Principal,
        req: &Incoming<'_>,
        object: &str,
    ) -> Result<Allowed, S3Error> {
        let (key, _) = content_key(object).ok_or_else(|| {
            S3Error::denied(format!("{object} is not an object this proxy serves"))
        })?;
        if req.header("if-match").is_some() {
            return Err(S3Error::denied("content is written whole"));
        }
        if req.body.len() > self.max_content_bytes {
            return Err(too_large("a value", self.max_content_bytes));
        }
        let content_type = req.header("content-type");
        let binary = content_type.filter(|ct| !ct.starts_with("application/json"));
        let value = Value {
            bytes: req.body.len(),
            content_type: binary,
        };
        if let Decision::Deny(why) = self.may_set(p, key, &value) {
            return Err(S3Error::denied(why));
        }
        let mode = if req.header("if-none-match") == Some("*") {
            PutMode::Create
        } else {
            PutMode::Overwrite
        };
        Ok(Allowed::plain(Upstream::Put {
            key: object.into(),
            body: req.body.to_vec(),
            content_type: content_type.map(String::from),
            content_encoding: req.header("content-encoding").map(String::from),
            mode,
        }))
    }

    /// Listings: only of a readable manifest's log or checkpoints, or of
    /// the manifest's own key (how a client asks whether it exists).
    fn check_listing(&self, p: &Principal, req: &Incoming<'_>) -> Result<Allowed, S3Error> {
        if req.method != "GET" || req.param("list-type") != Some("2") {
            return Err(S3Error::denied(
                "only ListObjectsV2 is served on the bucket",
            ));
        }
        let prefix_param = req.param("prefix").unwrap_or("");
        let max_keys = req.param("max-keys").and_then(|m| m.parse::<u32>().ok());
        let allowed = self.manifests_for_listing(p, prefix_param, max_keys);
        if !allowed {
            return Err(S3Error::denied(format!(
                "listing \"{prefix_param}\" is not served: only a manifest's log and checkpoints"
            )));
        }
        Ok(Allowed::plain(Upstream::List(ListParams {
            prefix: Some(prefix_param.to_string()),
            start_after: req.param("start-after").map(String::from),
            max_keys,
            continuation_token: req.param("continuation-token").map(String::from),
        })))
    }

    fn manifests_for_listing(
        &self,
        p: &Principal,
        prefix_param: &str,
        max_keys: Option<u32>,
    ) -> bool {
        for under in ["log/", "cp/"] {
            if let Some(mkey) = prefix_param.strip_suffix(&format!(".v2/{under}")) {
                if let Some(m) = self.manifest(mkey) {
                    return m.readable(p, mkey);
                }
            }
        }
        // `listed_first`: the manifest's own key, one entry.
        match self.manifest(prefix_param) {
            Some(m) => max_keys == Some(1) && m.readable(p, prefix_param),
            None => false,
        }
    }
}

/// The key of `url` (`<bucket>/<key>`), if it is in `bucket`.
fn in_bucket<'u>(bucket: &str, url: &'u str) -> Result<&'u str, S3Error> {
    url.strip_prefix(bucket)
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|k| !k.is_empty())
        .ok_or_else(|| S3Error::denied(format!("key {url} is not in bucket {bucket}")))
}

fn json_put(key: &str, body: Vec<u8>, mode: PutMode) -> Upstream {
    Upstream::Put {
        key: key.into(),
        body,
        content_type: Some("application/json".into()),
        content_encoding: None,
        mode,
    }
}

fn too_large(what: &str, max: usize) -> S3Error {
    S3Error::new(
        400,
        "EntityTooLarge",
        format!("{what} is larger than {max} bytes"),
    )
}

/// `<key>@<uuid>`: the value's key and the uuid (36 characters).
fn content_key(object: &str) -> Option<(&str, &str)> {
    let (key, uuid) = object.rsplit_once('@')?;
    let ok = uuid.len() == 36
        && uuid.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    (ok && !key.is_empty() && !key.contains(".v2/")).then_some((key, uuid))
}

/// The body gunzipped, refused past `max` bytes (a gzip bomb stops at the
/// cap, never expanding further).
fn gunzip(body: &[u8], max: usize) -> Result<Vec<u8>, S3Error> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| S3Error::denied("the log entry is not valid gzip"))?;
    if out.len() > max {
        return Err(too_large("the log entry (gunzipped)", max));
    }
    Ok(out)
}

/// A key that some object of `v` has twice (readers keep one of them,
/// which one depends on the parser: refused so that none need choose).
fn duplicate_key(v: &JsonValue) -> Option<String> {
    match v {
        JsonValue::Object(members) => {
            for (i, (k, value)) in members.iter().enumerate() {
                if members[..i].iter().any(|(other, _)| other == k) {
                    return Some(k.clone());
                }
                if let Some(d) = duplicate_key(value) {
                    return Some(d);
                }
            }
            None
        }
        JsonValue::Array(items) => items.iter().find_map(duplicate_key),
        _ => None,
    }
}

/// The v2 prefix of manifest `m` (for the server's slot checks).
pub fn log_prefix(m: &str) -> String {
    prefix(m)
}
