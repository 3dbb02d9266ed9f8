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

use mps3::engine::encryption::{ring_key, ring_manifest, Ring};
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
    /// An encrypted manifest's key ring (no key in clear in it).
    KeyRing,
    /// Anything else under the manifest's v2 prefix.
    Unknown(&'a str),
}

/// Whether any of `manifests` lets `p` do `action` to `key`; the most
/// telling refusal if none does (a rule's over "no rule names it").
fn decide_any<'m>(
    manifests: impl IntoIterator<Item = &'m Manifest>,
    p: &Principal,
    action: Action,
    key: &str,
    value: &Value<'_>,
) -> Result<(), S3Error> {
    let mut generic = None;
    for m in manifests {
        match decide(p, m, action, key, value) {
            Decision::Allow => return Ok(()),
            Decision::Deny(why) => return Err(S3Error::denied(why)),
            Decision::NoRule(why) => generic = Some(why),
        }
    }
    Err(S3Error::denied(
        generic.unwrap_or_else(|| format!("no rule names key \"{key}\"")),
    ))
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
        } else if key == ring_key(mkey) {
            Object::KeyRing
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
                let entry = self.check_entry(p, m, req)?;
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
            Object::KeyRing => {
                // A shared manifest's ring replaced by one of its writers
                // would lock out the rest: only an owner's own manifest
                // (`{sub}` in its key) takes one, from that owner.
                if !m.key.per_caller() || !m.key.matches(mkey, &p.sub) {
                    return Err(S3Error::denied(format!(
                        "only the owner of a per-person manifest keeps a key ring; {mkey} is not yours"
                    )));
                }
                let mode = match (create, req.header("if-match")) {
                    (true, _) => PutMode::Create,
                    (false, Some(etag)) => PutMode::Update(etag.into()),
                    (false, None) => {
                        return Err(S3Error::denied(
                            "a key ring is created (If-None-Match: *) or replaced as read (If-Match), never overwritten blindly",
                        ))
                    }
                };
                if req.header("content-encoding").is_some() || Ring::parse(req.body).is_err() {
                    return Err(S3Error::denied(format!(
                        "{key} takes a key ring, and this is not one"
                    )));
                }
                Ok(Allowed {
                    upstream: json_put(key, req.body.to_vec(), mode),
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
    fn check_entry(
        &self,
        p: &Principal,
        m: &Manifest,
        req: &Incoming<'_>,
    ) -> Result<Entry, S3Error> {
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
        if let Some(dup) = duplicate_key(&body) {
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
            // The content's uuid: readers fetch `<key>@<uuid>`, so it must
            // name no other object.
            if !is_uuid(&stored.uuid) {
                return Err(S3Error::denied(format!(
                    "the version of \"{key}\" is not a uuid"
                )));
            }
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
            decide_any([m], p, Action::Set, key, &value)?;
        }
        for url in &entry.delete {
            let key = in_bucket(&self.bucket, url)?;
            decide_any([m], p, Action::Delete, key, &Value::default())?;
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
        // A gzipped value is judged by what readers get: their browsers
        // undo the encoding as they fetch it (a bomb stops at the cap).
        let bytes = match req.header("content-encoding") {
            None | Some("identity") if req.body.len() > self.max_content_bytes => {
                return Err(too_large("a value", self.max_content_bytes))
            }
            None | Some("identity") => req.body.len(),
            Some("gzip") => gunzip(req.body, self.max_content_bytes)
                .map_err(|e| S3Error {
                    message: e.message.replace("the log entry", "a value"),
                    ..e
                })?
                .len(),
            Some(other) => {
                return Err(S3Error::denied(format!(
                    "content-encoding {other} is not served"
                )))
            }
        };
        let content_type = req.header("content-type");
        let binary = content_type.filter(|ct| !ct.starts_with("application/json"));
        let value = Value {
            bytes,
            content_type: binary,
        };
        decide_any(&self.manifests, p, Action::Set, key, &value)?;
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
        // `listed_first`: the manifest's own key or its key ring, one
        // entry.
        let mkey = ring_manifest(prefix_param).unwrap_or(prefix_param);
        match self.manifest(mkey) {
            Some(m) => max_keys == Some(1) && m.readable(p, mkey),
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

/// Whether `s` is a uuid's text (36 characters, hex and four dashes).
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// `<key>@<uuid>`: the value's key and the uuid.
fn content_key(object: &str) -> Option<(&str, &str)> {
    let (key, uuid) = object.rsplit_once('@')?;
    (is_uuid(uuid) && !key.is_empty() && !key.contains(".v2/")).then_some((key, uuid))
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

/// A key that some object of the JSON text `text` has twice: the
/// engine's parser keeps one of them, another parser might keep the
/// other, so such an entry is refused before it is read. (Keys compare
/// decoded: `"a"` and `"\u0061"` are one key.)
fn duplicate_key(text: &[u8]) -> Option<String> {
    // Per open object, its keys so far; per open array, `None`.
    let mut open: Vec<Option<Vec<String>>> = Vec::new();
    let mut expect_key = false;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'{' => {
                open.push(Some(Vec::new()));
                expect_key = true;
            }
            b'[' => open.push(None),
            b'}' | b']' => {
                open.pop();
                expect_key = false;
            }
            b',' => expect_key = matches!(open.last(), Some(Some(_))),
            b'"' => {
                let (s, end) = read_string(text, i)?;
                i = end;
                if expect_key {
                    if let Some(Some(keys)) = open.last_mut() {
                        if keys.contains(&s) {
                            return Some(s);
                        }
                        keys.push(s);
                    }
                    expect_key = false;
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The string starting at `text[at]` (a `"`), decoded, and the index
/// after its closing quote.
fn read_string(text: &[u8], at: usize) -> Option<(String, usize)> {
    let mut out = Vec::new();
    let mut i = at + 1;
    while i < text.len() {
        match text[i] {
            b'"' => return Some((String::from_utf8_lossy(&out).into_owned(), i + 1)),
            b'\\' => {
                let c = *text.get(i + 1)?;
                i += 2;
                match c {
                    b'u' => {
                        let hex = std::str::from_utf8(text.get(i..i + 4)?).ok()?;
                        let mut code = u32::from_str_radix(hex, 16).ok()?;
                        i += 4;
                        // A surrogate pair.
                        if (0xD800..0xDC00).contains(&code) && text.get(i..i + 2) == Some(b"\\u") {
                            let low = std::str::from_utf8(text.get(i + 2..i + 6)?).ok()?;
                            let low = u32::from_str_radix(low, 16).ok()?;
                            code = 0x10000
                                + ((code - 0xD800) << 10)
                                + (low.wrapping_sub(0xDC00) & 0x3FF);
                            i += 6;
                        }
                        let ch = char::from_u32(code).unwrap_or('\u{FFFD}');
                        let mut buf = [0; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    }
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    other => out.push(other),
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    None
}

/// The v2 prefix of manifest `m` (for the server's slot checks).
pub fn log_prefix(m: &str) -> String {
    prefix(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn policy() -> Policy {
        let manifests: Vec<Manifest> = toml::from_str::<toml::Table>(
            r#"
[[manifest]]
key = "board/manifest.json"
read = "authenticated"
rules = [
  { keys = "notes/{sub}/**", allow = ["set", "delete"], max_value_bytes = 4096 },
  { keys = "likes/{any}", allow = ["set"] },
]
[[manifest]]
key = "users/{sub}/private.json"
read = "owner"
rules = [{ keys = "users/{sub}/private/**", allow = ["set", "delete"] }]
"#,
        )
        .unwrap()["manifest"]
            .clone()
            .try_into()
            .unwrap();
        Policy {
            bucket: "demo".into(),
            manifests,
            max_entry_bytes: 64 * 1024,
            max_content_bytes: 1 << 20,
        }
    }

    fn alice() -> Principal {
        Principal {
            sub: "alice".into(),
            roles: vec![],
            writer_prefix: "AAAAAAAAAAA".into(),
        }
    }

    const SLOT: &str = "board/manifest.json.v2/log/00000000000000000007";

    fn entry(writer: &str, set: &str, del: &str) -> Vec<u8> {
        format!(
            r#"{{"v":2,"w":"{writer}","id":"00000000000000000001","t":1,"cp":0,"set":{{{set}}},"del":[{del}]}}"#
        )
        .into_bytes()
    }

    fn put<'a>(key: &'a str, body: &'a [u8], headers: &'a [(String, String)]) -> Incoming<'a> {
        Incoming {
            method: "PUT",
            bucket: "demo",
            key: Some(key),
            query: &[],
            headers,
            body,
        }
    }

    fn create() -> Vec<(String, String)> {
        vec![("if-none-match".into(), "*".into())]
    }

    fn refused(r: Result<Allowed, S3Error>) -> String {
        let e = r.expect_err("refused");
        assert_eq!(e.code, "AccessDenied", "{e:?}");
        e.message
    }

    #[test]
    fn a_key_ring_only_in_ones_own_manifest_created_or_replaced_as_read() {
        let p = policy();
        let ring = Ring {
            salt: vec![1; 16],
            iterations: 600_000,
            keys: vec![("k1".into(), vec![2; 60])],
            current: "k1".into(),
        }
        .to_text()
        .into_bytes();
        let mine = ring_key("users/alice/private.json");
        let allowed = p.check(&alice(), &put(&mine, &ring, &create())).unwrap();
        assert!(matches!(
            allowed.upstream,
            Upstream::Put {
                mode: PutMode::Create,
                ..
            }
        ));
        let replace = vec![("if-match".into(), "\"etag\"".into())];
        let allowed = p.check(&alice(), &put(&mine, &ring, &replace)).unwrap();
        assert!(matches!(
            allowed.upstream,
            Upstream::Put {
                mode: PutMode::Update(_),
                ..
            }
        ));
        let why = refused(p.check(&alice(), &put(&mine, &ring, &[])));
        assert!(why.contains("never overwritten blindly"), "{why}");
        let why = refused(p.check(&alice(), &put(&mine, b"{\"keys\":{}}", &create())));
        assert!(why.contains("not one"), "{why}");
        let board = ring_key("board/manifest.json");
        let why = refused(p.check(&alice(), &put(&board, &ring, &create())));
        assert!(why.contains("per-person"), "{why}");
        let bobs = ring_key("users/bob/private.json");
        refused(p.check(&alice(), &put(&bobs, &ring, &create())));
    }

    #[test]
    fn an_entry_of_the_callers_keys_goes_on_as_the_proxys_own_text() {
        let body = entry(
            "AAAAAAAAAAA-tab1",
            r#""demo/notes/alice/1":{"u":"11111111-1111-4111-8111-111111111111","i":"{\n  \"t\": 1\n}"}"#,
            r#""demo/notes/alice/0""#,
        );
        let allowed = policy()
            .check(&alice(), &put(SLOT, &body, &create()))
            .unwrap();
        assert_eq!(allowed.slot, Some(("board/manifest.json".into(), 7)));
        let Upstream::Put {
            body: sent, mode, ..
        } = allowed.upstream
        else {
            panic!()
        };
        assert_eq!(mode, PutMode::Create);
        assert_eq!(Entry::parse(&sent).unwrap(), Entry::parse(&body).unwrap());
        // Gzipped, as clients send entries of 1 KiB or more.
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&body).unwrap();
        let zipped = z.finish().unwrap();
        let mut headers = create();
        headers.push(("content-encoding".into(), "gzip".into()));
        assert!(policy()
            .check(&alice(), &put(SLOT, &zipped, &headers))
            .is_ok());
    }

    #[test]
    fn entries_that_reach_past_the_caller_are_refused() {
        let p = policy();
        let note =
            |key: &str| format!(r#""demo/{key}":{{"u":"11111111-1111-4111-8111-111111111111"}}"#);
        let w = "AAAAAAAAAAA-tab1";
        // Another user's key, set or deleted.
        assert!(refused(p.check(
            &alice(),
            &put(SLOT, &entry(w, &note("notes/bob/1"), ""), &create())
        ))
        .contains("notes/bob/1"));
        assert!(refused(p.check(
            &alice(),
            &put(SLOT, &entry(w, "", r#""demo/notes/bob/1""#), &create())
        ))
        .contains("notes/bob/1"));
        // A like may be set, not deleted.
        assert!(p
            .check(
                &alice(),
                &put(SLOT, &entry(w, &note("likes/n1"), ""), &create())
            )
            .is_ok());
        assert!(refused(p.check(
            &alice(),
            &put(SLOT, &entry(w, "", r#""demo/likes/n1""#), &create())
        ))
        .contains("likes/n1"));
        // Another bucket's key.
        let other = r#""elsewhere/notes/alice/1":{"u":"11111111-1111-4111-8111-111111111111"}"#;
        assert!(
            refused(p.check(&alice(), &put(SLOT, &entry(w, other, ""), &create())))
                .contains("bucket")
        );
        // Someone else's writer id, or one that is only the prefix.
        assert!(refused(p.check(
            &alice(),
            &put(
                SLOT,
                &entry("BBBBBBBBBBB-tab", &note("notes/alice/1"), ""),
                &create()
            )
        ))
        .contains("writer id"));
        assert!(refused(p.check(
            &alice(),
            &put(
                SLOT,
                &entry("AAAAAAAAAAA", &note("notes/alice/1"), ""),
                &create()
            )
        ))
        .contains("writer id"));
        // Duplicate keys: readers would each keep one of them.
        let dup = br#"{"v":2,"w":"AAAAAAAAAAA-t","id":"1","t":1,"cp":0,"set":{"demo/notes/alice/1":{"u":"11111111-1111-4111-8111-111111111111"},"demo/notes/alice/1":{"u":"11111111-1111-4111-8111-111111111112"}},"del":[]}"#;
        assert!(refused(p.check(&alice(), &put(SLOT, dup, &create()))).contains("twice"));
        let dup_top = br#"{"v":2,"w":"AAAAAAAAAAA-t","w":"BBBBBBBBBBB-t","id":"1","t":1,"cp":0,"set":{},"del":[]}"#;
        assert!(refused(p.check(&alice(), &put(SLOT, dup_top, &create()))).contains("twice"));
        let escaped = br#"{"v":2,"w":"AAAAAAAAAAA-t","id":"1","t":1,"cp":0,"set":{},"del":[],"d\u0065l":["demo/notes/bob/1"]}"#;
        assert!(refused(p.check(&alice(), &put(SLOT, escaped, &create()))).contains("twice"));
        // Keys equal only in a value's text, or in separate objects: fine.
        let fine = br#"{"v":2,"w":"AAAAAAAAAAA-t","id":"1","t":1,"cp":0,"set":{"demo/notes/alice/1":{"u":"11111111-1111-4111-8111-111111111111","i":"{\"u\":1,\"u\":2}"},"demo/notes/alice/2":{"u":"11111111-1111-4111-8111-111111111112"}},"del":[]}"#;
        let r = p.check(&alice(), &put(SLOT, fine, &create()));
        assert!(r.is_ok(), "{r:?}");
        // An inline value past the engine's bound, a value past the rule's.
        let big = format!(
            r#""demo/notes/alice/1":{{"u":"11111111-1111-4111-8111-111111111111","i":"{}"}}"#,
            "x".repeat(1100)
        );
        assert!(
            refused(p.check(&alice(), &put(SLOT, &entry(w, &big, ""), &create())))
                .contains("inline")
        );
        // A trace naming a key the entry does not change.
        let traced = br#"{"v":2,"w":"AAAAAAAAAAA-t","id":"1","t":1,"cp":0,"set":{},"del":["demo/notes/alice/1"],"tr":{"abc":["demo/notes/bob/1"]}}"#;
        assert!(refused(p.check(&alice(), &put(SLOT, traced, &create()))).contains("trace"));
        // Not an entry at all.
        assert!(refused(p.check(&alice(), &put(SLOT, b"{\"v\":1}", &create()))).contains("v2"));
    }

    #[test]
    fn a_version_that_is_not_a_uuid_is_refused() {
        let body = entry(
            "AAAAAAAAAAA-tab1",
            r#""demo/notes/alice/1":{"u":"../../notes/bob/1"}"#,
            "",
        );
        assert!(refused(policy().check(&alice(), &put(SLOT, &body, &create()))).contains("uuid"));
    }

    #[test]
    fn a_gzipped_value_is_judged_by_its_size_unzipped() {
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&vec![b' '; 3 << 20]).unwrap();
        let bomb = z.finish().unwrap();
        let headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("content-encoding".to_string(), "gzip".to_string()),
        ];
        let object = "notes/alice/1@11111111-1111-4111-8111-111111111111";
        let e = policy()
            .check(&alice(), &put(object, &bomb, &headers))
            .unwrap_err();
        assert_eq!(e.code, "EntityTooLarge", "{e:?}");
        // Within the cap unzipped, the rule's own cap (4096) judges it.
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&vec![b' '; 5000]).unwrap();
        let five_k = z.finish().unwrap();
        assert!(
            refused(policy().check(&alice(), &put(object, &five_k, &headers)))
                .contains("5000 bytes")
        );
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_cap() {
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&vec![b' '; 8 << 20]).unwrap();
        let bomb = z.finish().unwrap();
        assert!(bomb.len() < 64 * 1024);
        let mut headers = create();
        headers.push(("content-encoding".into(), "gzip".into()));
        let e = policy()
            .check(&alice(), &put(SLOT, &bomb, &headers))
            .unwrap_err();
        assert_eq!(e.code, "EntityTooLarge");
    }

    #[test]
    fn only_the_compactor_overwrites_checkpoints_deletes_or_upgrades() {
        let p = policy();
        let a = alice();
        let w = entry("AAAAAAAAAAA-t", "", "");
        // A slot overwritten (no If-None-Match: *).
        assert!(refused(p.check(&a, &put(SLOT, &w, &[]))).contains("created once"));
        let cp = "board/manifest.json.v2/cp/00000000000000000064";
        assert!(refused(p.check(&a, &put(cp, b"{}", &create()))).contains("compactor"));
        assert!(
            refused(p.check(&a, &put("board/manifest.json.v2/head", b"{\"cp\":64}", &[])))
                .contains("compactor")
        );
        for key in [
            SLOT,
            cp,
            "notes/alice/1@11111111-1111-4111-8111-111111111111",
            "board/manifest.json",
        ] {
            let del = Incoming {
                method: "DELETE",
                bucket: "demo",
                key: Some(key),
                query: &[],
                headers: &[],
                body: b"",
            };
            assert!(refused(p.check(&a, &del)).contains("compactor"), "{key}");
        }
        // The guard: created as v2, never overwritten (a v1 marker, an
        // upgrade).
        assert!(p
            .check(&a, &put("board/manifest.json", b"\"v2\"", &create()))
            .is_ok());
        assert!(
            refused(p.check(&a, &put("board/manifest.json", b"\"\"", &[]))).contains("created")
        );
        assert!(
            refused(p.check(&a, &put("board/manifest.json", b"\"v2\"", &[]))).contains("created")
        );
        // A probe: `{}`, created, and deleted.
        let probe = "board/manifest.json.v2/probe/11111111-1111-4111-8111-111111111111";
        assert!(p.check(&a, &put(probe, b"{}", &create())).is_ok());
        let del = Incoming {
            method: "DELETE",
            bucket: "demo",
            key: Some(probe),
            query: &[],
            headers: &[],
            body: b"",
        };
        assert!(p.check(&a, &del).is_ok());
        // Undeclared manifests and other buckets.
        assert!(
            refused(p.check(&a, &put("other/manifest.json", b"\"v2\"", &create())))
                .contains("not an object")
        );
        let headers = create();
        let elsewhere = Incoming {
            bucket: "other",
            ..put(SLOT, &w, &headers)
        };
        assert!(refused(p.check(&a, &elsewhere)).contains("bucket"));
    }

    #[test]
    fn content_goes_only_under_keys_the_caller_may_set() {
        let p = policy();
        let a = alice();
        let uuid = "11111111-1111-4111-8111-111111111111";
        let json = vec![("content-type".to_string(), "application/json".to_string())];
        let own = format!("notes/alice/1@{uuid}");
        assert!(p.check(&a, &put(&own, b"{}", &json)).is_ok());
        let bobs = format!("notes/bob/1@{uuid}");
        assert!(refused(p.check(&a, &put(&bobs, b"{}", &json))).contains("notes/bob/1"));
        let big = vec![b'1'; 5000];
        assert!(refused(p.check(&a, &put(&own, &big, &json))).contains("5000 bytes"));
        assert!(refused(p.check(&a, &put("notes/alice/1", b"{}", &json))).contains("not an object"));
    }

    #[test]
    fn reads_and_listings_are_per_manifest() {
        let p = policy();
        let a = alice();
        let get = |key: &'static str| Incoming {
            method: "GET",
            bucket: "demo",
            key: Some(key),
            query: &[],
            headers: &[],
            body: b"",
        };
        assert!(p
            .check(&a, &get("board/manifest.json.v2/log/00000000000000000001"))
            .is_ok());
        assert!(p
            .check(
                &a,
                &get("users/alice/private.json.v2/log/00000000000000000001")
            )
            .is_ok());
        assert!(refused(p.check(
            &a,
            &get("users/bob/private.json.v2/log/00000000000000000001")
        ))
        .contains("read"));
        assert!(refused(p.check(&a, &get("secrets.txt"))).contains("not an object"));
        let list = |prefix: &str, max: Option<&str>| {
            let mut q = vec![
                ("list-type".to_string(), "2".to_string()),
                ("prefix".to_string(), prefix.to_string()),
            ];
            if let Some(m) = max {
                q.push(("max-keys".into(), m.into()));
            }
            q
        };
        let listing = |q: &[(String, String)]| {
            p.check(
                &a,
                &Incoming {
                    method: "GET",
                    bucket: "demo",
                    key: None,
                    query: q,
                    headers: &[],
                    body: b"",
                },
            )
        };
        assert!(listing(&list("board/manifest.json.v2/log/", None)).is_ok());
        assert!(listing(&list("board/manifest.json.v2/cp/", None)).is_ok());
        assert!(listing(&list("board/manifest.json", Some("1"))).is_ok());
        assert!(refused(listing(&list("", None))).contains("not served"));
        assert!(refused(listing(&list("board/", None))).contains("not served"));
        assert!(refused(listing(&list("board/manifest.json", None))).contains("not served"));
        assert!(
            refused(listing(&list("users/bob/private.json.v2/log/", None))).contains("not served")
        );
    }
}
