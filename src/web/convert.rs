//! Values between JavaScript and the engine: the config, options, keys,
//! JSON values and credentials, each checked as it is read, so that bad
//! input is refused with a clear `BadInput` before anything is written.
//! Option names come from `js_api`, where the TypeScript declarations are
//! held to them.

use crate::prelude::*;

use js_sys::{Array, Function, Object, Reflect, JSON};
use wasm_bindgen::prelude::*;

use super::log::Logger;
use crate::engine::credentials::Credentials;
use crate::engine::db::{Ack, DbConfig, JsonText, Protocol, Range, Secret};
use crate::engine::error::Error;
use crate::engine::object::Ref;
use crate::engine::s3::{Addressing, S3Config, S3};
use crate::js_api;

/// What `new MPS3(config)` configures: the engine, its S3 client, and
/// what only the browser edge uses.
pub struct ClientConfig {
    pub db: DbConfig,
    pub s3: S3,
    pub logger: Logger,
    pub label: String,
    /// `s3Config.credentials` when it is a function.
    pub provider: Option<Function>,
    /// The browser's own bucket (`endpoint: "local:"`).
    pub local: bool,
}

pub fn bad(msg: impl Into<String>) -> Error {
    Error::bad_input(msg)
}

/// What a JavaScript exception says (`message`; empty if nothing).
pub fn error_message(e: &JsValue) -> String {
    get(e, "message").as_string().unwrap_or_default()
}

pub fn get(o: &JsValue, name: &str) -> JsValue {
    Reflect::get(o, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

/// Sets `o[name]`, unless `value` is `undefined`: such a field is left
/// out (absent, not present as undefined).
pub fn set(o: &Object, name: &str, value: &JsValue) {
    if !value.is_undefined() {
        let _ = Reflect::set(o, &name.into(), value);
    }
}

/// A plain object of `fields` (those `undefined` left out): every object
/// the API hands out is built here.
pub fn object(fields: &[(&str, JsValue)]) -> Object {
    let o = Object::new();
    for (name, value) in fields {
        set(&o, name, value);
    }
    o
}

pub fn opt_string(o: &JsValue, name: &str) -> Result<Option<String>, Error> {
    let v = get(o, name);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_string()
        .map(Some)
        .ok_or_else(|| bad(cat!(name, " must be a string")))
}

fn opt_bool(o: &JsValue, name: &str) -> Result<Option<bool>, Error> {
    let v = get(o, name);
    if v.is_undefined() {
        return Ok(None);
    }
    v.as_bool()
        .map(Some)
        .ok_or_else(|| bad(cat!(name, " must be a boolean")))
}

fn opt_number(o: &JsValue, name: &str) -> Result<Option<f64>, Error> {
    let v = get(o, name);
    if v.is_undefined() {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n.is_finite() => Ok(Some(n)),
        _ => Err(bad(cat!(name, " must be a finite number"))),
    }
}

/// Refuses options this version does not know: a typo must not be ignored.
pub fn only_known(o: &JsValue, what: &str, known: &[&str]) -> Result<(), Error> {
    if o.is_undefined() || o.is_null() {
        return Ok(());
    }
    if !o.is_object() {
        return Err(bad(cat!(what, " must be an object")));
    }
    for name in Object::keys(o.unchecked_ref::<Object>()).iter() {
        let name = name.as_string().unwrap_or_default();
        if !known.contains(&name.as_str()) {
            return Err(bad(cat!("unknown ", what, " option \"", name, "\"")));
        }
    }
    Ok(())
}

/// A key: a string (in `bucket`) or `{ bucket, key }`.
pub fn to_ref(v: &JsValue, bucket: &str) -> Result<Ref, Error> {
    if let Some(key) = v.as_string() {
        return Ok(Ref::new(bucket, key));
    }
    if v.is_object() {
        only_known(v, "key", js_api::REF)?;
        let key = opt_string(v, "key")?.ok_or_else(|| bad("a key object needs `key`"))?;
        let b = opt_string(v, "bucket")?.unwrap_or_else(|| bucket.to_string());
        return Ok(Ref::new(b, key));
    }
    Err(bad("a key is a string or { bucket, key }"))
}

#[wasm_bindgen(module = "/src/web/edges.js")]
extern "C" {
    /// `JSON.stringify(value, null, 2)` that throws for what it would
    /// store wrongly (a Map, a Set, a typed array): see edges.js.
    #[wasm_bindgen(js_name = mps3Json, catch)]
    fn json_text(value: &JsValue) -> Result<JsValue, JsValue>;
}

/// `value` as JSON text (the JS client's content format), or BadInput for
/// what JSON cannot hold (functions, symbols, BigInt, cycles) or would
/// hold wrongly (a Map, a Set, a typed array, binary data inside a value).
fn to_json(value: &JsValue) -> Result<JsonText, Error> {
    let text = json_text(value).map_err(|e| bad(cat!("value is not JSON: ", error_message(&e))))?;
    text.as_string()
        .map(JsonText::from)
        .ok_or_else(|| bad("value is not JSON (a function or symbol?)"))
}

pub fn from_json(text: &JsonText) -> Result<JsValue, Error> {
    if let Some((_, bytes)) = crate::engine::binary::unwrap(text) {
        return Ok(js_sys::Uint8Array::from(&bytes[..]).into());
    }
    JSON::parse(text).map_err(|_| Error::bad_response("stored value is not JSON"))
}

/// A value's content type: a binary value's own, else JSON's.
pub fn content_type(text: &str) -> JsValue {
    crate::engine::binary::unwrap(text)
        .map_or("application/json", |(t, _)| t)
        .into()
}

/// `{ accessKeyId, secretAccessKey, sessionToken?, expiration? }`.
pub fn credentials_from(creds: &JsValue) -> Result<Credentials, Error> {
    only_known(creds, "credentials", js_api::CREDENTIALS)?;
    let mut c = Credentials::new(
        opt_string(creds, "accessKeyId")?
            .ok_or_else(|| bad("credentials.accessKeyId is required"))?,
        opt_string(creds, "secretAccessKey")?
            .ok_or_else(|| bad("credentials.secretAccessKey is required"))?,
    );
    if let Some(token) = opt_string(creds, "sessionToken")? {
        c = c.with_session_token(token);
    }
    c.writer_prefix = opt_string(creds, "writerPrefix")?;
    let exp = get(creds, "expiration");
    if !exp.is_undefined() && !exp.is_null() {
        let ms = if let Some(d) = exp.dyn_ref::<js_sys::Date>() {
            d.get_time()
        } else if let Some(n) = exp.as_f64() {
            n
        } else if let Some(text) = exp.as_string() {
            js_sys::Date::parse(&text)
        } else {
            f64::NAN
        };
        if !ms.is_finite() {
            return Err(bad(
                "credentials.expiration must be a Date, epoch ms or ISO string",
            ));
        }
        c = c.with_expiration(ms as i64);
    }
    Ok(c)
}

/// `{ passphrase }` or `{ key }` (neither: `None`).
fn secret(o: &JsValue, what: &str) -> Result<Option<Secret>, Error> {
    let key = get(o, "key");
    match (opt_string(o, "passphrase")?, key.is_undefined()) {
        (Some(_), false) => Err(bad(cat!(what, " takes a passphrase or a key, not both"))),
        (Some(p), true) if p.is_empty() => Err(bad(cat!(what, ".passphrase must not be empty"))),
        (Some(p), true) => Ok(Some(Secret::Passphrase(p))),
        (None, false) => Ok(Some(Secret::Key(super::cipher::add_key(&key)?))),
        (None, true) => Ok(None),
    }
}

/// Which clients share a durable store's keys: one endpoint, one label.
fn namespace(endpoint: &str, label: &str) -> String {
    use crate::engine::json::quote;
    cat!(quote(endpoint), quote(label))
}

/// `new MPS3(config)`, read and checked.
pub fn config(cfg: &JsValue) -> Result<ClientConfig, Error> {
    only_known(cfg, "config", js_api::CONFIG)?;
    if !cfg.is_object() {
        return Err(bad("new MPS3(config) needs a config object"));
    }
    let bucket =
        opt_string(cfg, "defaultBucket")?.ok_or_else(|| bad("config.defaultBucket is required"))?;
    let mut db = DbConfig::new(&bucket);
    let manifest = get(cfg, "defaultManifest");
    if !manifest.is_undefined() {
        db.default_manifest = to_ref(&manifest, &bucket)?;
    }
    db.use_versioning = opt_bool(cfg, "useVersioning")?.unwrap_or(false);
    if let Some(ms) = opt_number(cfg, "pollFrequency")? {
        if ms < 10.0 {
            return Err(bad("pollFrequency must be at least 10 ms"));
        }
        db.poll_frequency_ms = ms as u64;
    }
    db.autoclean = opt_bool(cfg, "autoclean")?.unwrap_or(true);
    db.gzip = opt_bool(cfg, "gzip")?.unwrap_or(true);
    db.protocol = match opt_string(cfg, "protocol")?.as_deref() {
        None | Some("auto") => Protocol::Auto,
        Some("v1") => Protocol::V1,
        Some("v2") => Protocol::V2,
        Some(_) => return Err(bad("config.protocol must be \"auto\", \"v1\" or \"v2\"")),
    };
    db.adaptive_clock = opt_bool(cfg, "adaptiveClock")?.unwrap_or(true);
    db.clock_offset = opt_number(cfg, "clockOffset")?.unwrap_or(0.0) as i64;
    db.minimize_list_calls = opt_bool(cfg, "minimizeListObjectsCalls")?.unwrap_or(true);
    let retry = get(cfg, "retry");
    if !retry.is_undefined() {
        only_known(&retry, "retry", js_api::RETRY)?;
        // (No float in the message: formatting one costs the .wasm ~16 KB.)
        let whole = |name: &str, min: u64| -> Result<Option<u64>, Error> {
            match opt_number(&retry, name)? {
                Some(n) if n < min as f64 || n % 1.0 != 0.0 => Err(bad(cat!(
                    "retry.",
                    name,
                    " must be a whole number of at least ",
                    min
                ))),
                n => Ok(n.map(|n| n as u64)),
            }
        };
        if let Some(n) = whole("attempts", 1)? {
            db.retry.max_attempts = n.min(u32::MAX as u64) as u32;
        }
        if let Some(n) = whole("baseMs", 0)? {
            db.retry.base_ms = n;
        }
        if let Some(n) = whole("capMs", 0)? {
            db.retry.cap_ms = n;
        }
        if let Some(n) = whole("timeoutMs", 0)? {
            db.retry.timeout_ms = n;
        }
        if let Some(n) = whole("disconnectAfterMs", 0)? {
            db.retry.disconnect_after_ms = n;
        }
        if let Some(n) = whole("disconnectAfterFailures", 1)? {
            db.retry.disconnect_after_failures = n.min(u32::MAX as u64) as u32;
        }
    }
    if let Some(bytes) = opt_number(cfg, "cacheBytes")? {
        if bytes < 0.0 {
            return Err(bad("cacheBytes must not be negative"));
        }
        db.cache_bytes = bytes as usize;
    }
    db.offline_storage = opt_bool(cfg, "offlineStorage")?.unwrap_or(true);
    if let Some(bytes) = opt_number(cfg, "offlineBytes")? {
        if bytes < 0.0 {
            return Err(bad("offlineBytes must not be negative"));
        }
        db.offline_bytes = bytes as usize;
    }
    db.online = opt_bool(cfg, "online")?.unwrap_or(true);
    let encryption = get(cfg, "encryption");
    if !encryption.is_undefined() {
        only_known(&encryption, "encryption", js_api::ENCRYPTION)?;
        db.encryption.default = secret(&encryption, "encryption")?;
        let each = get(&encryption, "manifests");
        if !each.is_undefined() {
            if !each.is_object() {
                return Err(bad(
                    "encryption.manifests must be an object of manifest key → settings",
                ));
            }
            for name in Object::keys(each.unchecked_ref::<Object>()).iter() {
                let key = name.as_string().unwrap_or_default();
                let settings = get(&each, &key);
                let s = if settings.is_null() {
                    None
                } else {
                    only_known(
                        &settings,
                        "encryption.manifests[...]",
                        &js_api::ENCRYPTION[..2],
                    )?;
                    secret(&settings, "encryption.manifests[...]")?
                };
                db.encryption.manifests.push((Ref::new(&bucket, &key), s));
            }
        }
    }
    let label = opt_string(cfg, "label")?.unwrap_or_default();
    let log = get(cfg, "log");
    let logger = if let Some(f) = log.dyn_ref::<Function>() {
        Logger::Function(f.clone())
    } else if log.as_bool() == Some(true) {
        Logger::Console
    } else if log.is_undefined() || log.as_bool() == Some(false) {
        Logger::Off
    } else {
        return Err(bad("log must be a boolean or a function"));
    };

    let s3c = get(cfg, "s3Config");
    if !s3c.is_object() {
        return Err(bad("config.s3Config is required"));
    }
    only_known(&s3c, "s3Config", js_api::S3_CONFIG)?;
    let creds = get(&s3c, "credentials");
    let endpoint = opt_string(&s3c, "endpoint")?;
    let local = endpoint.as_deref().is_some_and(super::local::is_local);
    let (credentials, provider) = if local && creds.is_undefined() {
        // The browser's own bucket checks no signature.
        (Credentials::new("local", "local"), None)
    } else if let Some(f) = creds.dyn_ref::<Function>() {
        (Credentials::new("", ""), Some(f.clone()))
    } else if creds.is_object() {
        (credentials_from(&creds)?, None)
    } else {
        return Err(bad(
            "s3Config.credentials is required (an object or a function)",
        ));
    };
    let region = opt_string(&s3c, "region")?.unwrap_or_else(|| "us-east-1".into());
    if local && db.use_versioning {
        return Err(bad(
            "the local bucket has no versioning: useVersioning must be false",
        ));
    }
    let endpoint = if local {
        Some("local:".to_string())
    } else {
        endpoint
    };
    db.namespace = namespace(endpoint.as_deref().unwrap_or(&region), &label);
    let wire_endpoint = if local {
        Some(super::local::LOCAL_ENDPOINT)
    } else {
        endpoint.as_deref()
    };
    let mut s3 = S3Config::new(wire_endpoint, &region, credentials)?;
    // Reads without a preflight (see `S3Config::presign_reads`).
    s3.presign_reads = !local;
    if let Some(path_style) = opt_bool(&s3c, "forcePathStyle")? {
        s3.addressing = if path_style {
            Addressing::Path
        } else {
            Addressing::VirtualHost
        };
    }
    db.credentials_from_provider = provider.is_some();
    Ok(ClientConfig {
        db,
        s3: S3::new(s3),
        logger,
        label,
        provider,
        local,
    })
}

/// A value as written: `undefined` deletes, a `Uint8Array` or
/// `ArrayBuffer` is binary (of `content_type`, by default
/// `application/octet-stream`), anything else must be JSON, and only a
/// binary value has a content type.
pub fn written_as(value: &JsValue, content_type: Option<&str>) -> Result<Option<JsonText>, Error> {
    let bytes = if let Some(a) = value.dyn_ref::<js_sys::Uint8Array>() {
        a.to_vec()
    } else if let Some(b) = value.dyn_ref::<js_sys::ArrayBuffer>() {
        js_sys::Uint8Array::new(b).to_vec()
    } else if content_type.is_some() {
        return Err(bad(
            "contentType is for binary values (a Uint8Array, ArrayBuffer or Blob): other values are stored as JSON",
        ));
    } else if value.is_undefined() {
        return Ok(None);
    } else {
        return to_json(value).map(Some);
    };
    let t = content_type.unwrap_or("application/octet-stream");
    if crate::engine::binary::is_json_type(Some(t)) {
        return Err(bad("a binary value's contentType cannot be JSON's"));
    }
    Ok(Some(crate::engine::binary::wrap(t, &bytes).into()))
}

/// A value as written without a content type (see [`written_as`]).
pub fn written(value: &JsValue) -> Result<Option<JsonText>, Error> {
    written_as(value, None)
}

/// `options.await`: `None` leaves the choice to the engine.
pub fn ack(options: &JsValue) -> Result<Option<Ack>, Error> {
    match opt_string(options, "await")?.as_deref() {
        None => Ok(None),
        Some("remote") => Ok(Some(Ack::Remote)),
        Some("local") => Ok(Some(Ack::Local)),
        Some(other) => Err(bad(cat!(
            "await must be \"local\" or \"remote\", not \"",
            other,
            "\""
        ))),
    }
}

/// `options.trace`: W3C trace-context's trace id (32 lowercase hex
/// digits, not all zero), or none.
pub fn trace(options: &JsValue) -> Result<Option<String>, Error> {
    let t = opt_string(options, "trace")?;
    if let Some(t) = &t {
        let hex = t
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if t.len() != 32 || !hex || t.bytes().all(|b| b == b'0') {
            return Err(bad("trace must be 32 lowercase hex digits, not all 0"));
        }
    }
    Ok(t)
}

/// `options[field]`: an array of keys, or none.
pub fn refs(options: &JsValue, field: &str, bucket: &str) -> Result<Vec<Ref>, Error> {
    let v = get(options, field);
    if v.is_undefined() {
        return Ok(vec![]);
    }
    let arr = v
        .dyn_ref::<Array>()
        .ok_or_else(|| bad(cat!(field, " must be an array")))?;
    // A loop, not `collect::<Result<..>>` (an adapter of its own).
    let mut refs = Vec::new();
    for m in arr.iter() {
        refs.push(to_ref(&m, bucket)?);
    }
    Ok(refs)
}

/// A range of keys as `list` takes it: at most `limit` of them (no limit:
/// `usize::MAX`), from the last when `reverse`.
pub struct Listed {
    pub range: Range,
    pub limit: usize,
    pub reverse: bool,
}

/// `list`'s range of keys in `bucket`, with its limit and direction.
pub fn range(r: &JsValue, bucket: &str) -> Result<Listed, Error> {
    only_known(r, "list", js_api::RANGE)?;
    let limit = match opt_number(r, "limit")? {
        None => usize::MAX,
        Some(n) if n >= 0.0 && n % 1.0 == 0.0 => n as usize,
        Some(_) => return Err(bad("limit must be a whole number of at least 0")),
    };
    let range = Range {
        bucket: bucket.into(),
        prefix: opt_string(r, "prefix")?.unwrap_or_default(),
        start: opt_string(r, "start")?,
        end: opt_string(r, "end")?,
    };
    Ok(Listed {
        range,
        limit,
        reverse: opt_bool(r, "reverse")? == Some(true),
    })
}

/// `options.manifest`: a key, or none.
pub fn manifest(options: &JsValue, bucket: &str) -> Result<Option<Ref>, Error> {
    let v = get(options, "manifest");
    if v.is_undefined() {
        Ok(None)
    } else {
        to_ref(&v, bucket).map(Some)
    }
}

/// The pairs of `putAll`'s argument: a `Map` or a plain object. An array
/// or a `Set` is refused: as an object, `[["a", 1]]` would write the key
/// "0", and a Set nothing.
pub fn entries(entries: &JsValue) -> Result<Vec<(JsValue, JsValue)>, Error> {
    let mut v = Vec::new();
    if let Some(map) = entries.dyn_ref::<js_sys::Map>() {
        map.for_each(&mut |value, key| v.push((key, value)));
        Ok(v)
    } else if entries.is_array() || entries.is_instance_of::<js_sys::Set>() {
        Err(bad(
            "putAll takes a Map or a plain object of key → value, not an array or a Set: new Map(pairs) makes one of [key, value] pairs",
        ))
    } else if entries.is_object() {
        for kv in Object::entries(entries.unchecked_ref::<Object>()) {
            let kv: Array = kv.unchecked_into();
            v.push((kv.get(0), kv.get(1)));
        }
        Ok(v)
    } else {
        Err(bad("putAll takes a Map or an object"))
    }
}
