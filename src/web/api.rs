//! The JavaScript surface: the `MPS3` class. It converts values and
//! errors and holds no logic: everything it does is a call into the
//! engine (`core::db`).

use crate::prelude::*;

use ::core::cell::{Cell, RefCell};
use alloc::rc::Rc;

use js_sys::{Array, Function, Map, Object, Promise, Reflect, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::io::{Logger, WebIo};
use super::spawn;
use crate::core::credentials::Credentials;
use crate::core::db::{Change, Db, DbConfig, Event, Json};
use crate::core::error::Error;
use crate::core::manifest::Ref;
use crate::core::s3::{S3Config, S3};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** An object in a bucket. A plain string means `{ bucket: defaultBucket, key }`. */
export interface Ref { bucket: string; key: string; }
export type Key = string | Ref;

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** When temporary credentials expire (a Date, epoch ms, or ISO string). */
  expiration?: Date | number | string;
}

export interface S3Config {
  /** e.g. "https://<account>.r2.cloudflarestorage.com" or "http://127.0.0.1:9000"; default: AWS in `region`.
   *  `"local:"` (or mps3's `"indexdb:"`): a bucket in this browser's IndexedDB, no server, no credentials. */
  endpoint?: string;
  region?: string;
  /** Credentials, or a function returning them (called again near `expiration`
   *  and when a request is refused for an expired token). */
  credentials?: Credentials | (() => Credentials | Promise<Credentials>);
  /** Path-style URLs (default: true for a custom endpoint, false for AWS). */
  forcePathStyle?: boolean;
}

/** A structured log event, e.g. `{ type: "request", method, url, status, ms }`. */
export interface LogEvent { type: string; [field: string]: unknown; }

export interface MPS3Config {
  defaultBucket: string;
  /** Default `"manifest.json"` in `defaultBucket`. */
  defaultManifest?: Key;
  s3Config: S3Config;
  /** Content under the bucket's own versions instead of `key@uuid` (default false). */
  useVersioning?: boolean;
  /** Milliseconds between polls of subscribed manifests (default 1000). */
  pollFrequency?: number;
  /** Delete log entries older than the replay window, 10 minutes after
   *  they landed (default true). */
  autoclean?: boolean;
  /** Upload values and log entries of 1 KiB or more gzipped
   *  (`Content-Encoding: gzip`), where the browser has `CompressionStream`;
   *  readers' browsers decode them as they fetch (default true). */
  gzip?: boolean;
  /** Correct the clock from servers' `Date` headers (default true). */
  adaptiveClock?: boolean;
  /** Milliseconds added to the local clock (default 0). */
  clockOffset?: number;
  /** Polls trust an unchanged change marker instead of listing the log (default true). */
  minimizeListObjectsCalls?: boolean;
  /** Retries of transient failures (5xx, SlowDown, network): attempts in all
   *  (default 10), and capped exponential backoff with full jitter (default
   *  100 ms doubling up to 5000 ms). `timeoutMs`: how long one attempt waits
   *  for its answer before it counts as a network failure and is retried
   *  (default 30000; 0: no limit). */
  retry?: { attempts?: number; baseMs?: number; capMs?: number; timeoutMs?: number };
  /** Bytes of content kept in memory, least recently used out (default 4 MiB). */
  cacheBytes?: number;
  /** Keep the last state, values read or written and the queue of writes not
   *  yet committed in IndexedDB, per label and endpoint: reloads start from
   *  them, and no accepted write is lost (default true). */
  offlineStorage?: boolean;
  /** Bytes of content kept in IndexedDB, least recently used out (default
   *  64 MiB); queued writes and the state are never evicted. */
  offlineBytes?: number;
  /** Start online (default true); see `MPS3.online`. */
  online?: boolean;
  /** A name for this client in logs, and its offline storage: tabs with the
   *  same label (and endpoint) share state and queued writes. */
  label?: string;
  /** `true`: log to the console; a function receives each event. */
  log?: boolean | ((event: LogEvent) => void);
}

export interface PutOptions {
  manifests?: Key[];
  /** Resolve once the write is durable in IndexedDB ("local"), or once its
   *  entry is in the bucket ("remote"). Default: "remote" online, "local"
   *  offline. Without IndexedDB, "local" waits for the bucket too. */
  await?: "local" | "remote";
}
export interface GetOptions { manifest?: Key; }
export interface SubscribeOptions { manifest?: Key; }

/** Errors carry a stable `code`. */
export interface MPS3Error extends Error {
  code: "NotFound" | "NotModified" | "PreconditionFailed" | "AccessDenied" | "SlowDown"
      | "ServerError" | "Network" | "BadResponse" | "BadInput" | "ClockSkew" | "Offline" | "Storage"
      | "Shutdown";
  status?: number;
  s3Code?: string;
}
"#;

/// A JS `Error` with `code` (and `status`, `s3Code` when S3 answered).
pub fn to_js_error(e: &Error) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    err.set_name("MPS3Error");
    let _ = Reflect::set(&err, &"code".into(), &e.kind.code().into());
    if let Some(status) = e.status {
        let _ = Reflect::set(&err, &"status".into(), &status.into());
    }
    if let Some(code) = &e.s3_code {
        let _ = Reflect::set(&err, &"s3Code".into(), &code.as_str().into());
    }
    err.into()
}

fn bad(msg: impl Into<String>) -> Error {
    Error::bad_input(msg)
}

fn get(o: &JsValue, name: &str) -> JsValue {
    Reflect::get(o, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

fn opt_string(o: &JsValue, name: &str) -> Result<Option<String>, Error> {
    let v = get(o, name);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_string()
        .map(Some)
        .ok_or_else(|| bad(format!("{name} must be a string")))
}

fn opt_bool(o: &JsValue, name: &str) -> Result<Option<bool>, Error> {
    let v = get(o, name);
    if v.is_undefined() {
        return Ok(None);
    }
    v.as_bool()
        .map(Some)
        .ok_or_else(|| bad(format!("{name} must be a boolean")))
}

fn opt_number(o: &JsValue, name: &str) -> Result<Option<f64>, Error> {
    let v = get(o, name);
    if v.is_undefined() {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n.is_finite() => Ok(Some(n)),
        _ => Err(bad(format!("{name} must be a finite number"))),
    }
}

/// Refuses options this version does not know: a typo must not be ignored.
fn only_known(o: &JsValue, what: &str, known: &[&str]) -> Result<(), Error> {
    if o.is_undefined() || o.is_null() {
        return Ok(());
    }
    if !o.is_object() {
        return Err(bad(format!("{what} must be an object")));
    }
    for name in Object::keys(o.unchecked_ref::<Object>()).iter() {
        let name = name.as_string().unwrap_or_default();
        if !known.contains(&name.as_str()) {
            return Err(bad(format!("unknown {what} option \"{name}\"")));
        }
    }
    Ok(())
}

/// A key: a string (in `bucket`) or `{ bucket, key }`.
fn to_ref(v: &JsValue, bucket: &str) -> Result<Ref, Error> {
    if let Some(key) = v.as_string() {
        return Ok(Ref::new(bucket, key));
    }
    if v.is_object() {
        only_known(v, "key", &["bucket", "key"])?;
        let key = opt_string(v, "key")?.ok_or_else(|| bad("a key object needs `key`"))?;
        let b = opt_string(v, "bucket")?.unwrap_or_else(|| bucket.to_string());
        return Ok(Ref::new(b, key));
    }
    Err(bad("a key is a string or { bucket, key }"))
}

/// `JSON.stringify(value, null, 2)` (the JS client's content format), or
/// BadInput for what JSON cannot hold: functions, symbols, BigInt, cycles.
fn to_json(value: &JsValue) -> Result<Json, Error> {
    let text = JSON::stringify_with_replacer_and_space(value, &JsValue::NULL, &JsValue::from(2))
        .map_err(|e| {
            let msg = e
                .dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
                .unwrap_or_default();
            bad(format!("value is not JSON: {msg}"))
        })?;
    text.as_string()
        .map(Json::from)
        .ok_or_else(|| bad("value is not JSON (a function or symbol?)"))
}

fn from_json(text: &Json) -> Result<JsValue, Error> {
    JSON::parse(text).map_err(|_| Error::bad_response("stored value is not JSON"))
}

/// An API call's work, boxed: one `future_to_promise` serves them all.
type Task = ::core::pin::Pin<Box<dyn ::core::future::Future<Output = Result<JsValue, Error>>>>;

fn promise(prepared: Result<Task, Error>) -> Promise {
    match prepared {
        Err(e) => Promise::reject(&to_js_error(&e)),
        Ok(fut) => future_to_promise(async move { fut.await.map_err(|e| to_js_error(&e)) }),
    }
}

/// 2^53, the integers a double holds exactly (a literal: `powi` is std's).
const TWO_POW_53: f64 = 9_007_199_254_740_992.0;

fn random_seed() -> u64 {
    let mut bytes = [0u8; 8];
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into())
        .ok()
        .and_then(|c| c.dyn_into::<web_sys::Crypto>().ok());
    match crypto {
        Some(c) if c.get_random_values_with_u8_array(&mut bytes).is_ok() => {
            u64::from_le_bytes(bytes)
        }
        // No Web Crypto: ids need only be unique, not secret.
        _ => (js_sys::Math::random() * TWO_POW_53) as u64 ^ (js_sys::Date::now() as u64) << 11,
    }
}

/// How often a client looks for writes that other tabs queued and left
/// behind when they closed or crashed.
const ORPHAN_CHECK_MS: u64 = 10_000;

/// How long a granted takeover waits before adopting, so that all the
/// locks a dead tab released have been let go by this client's waiters.
const TAKEOVER_SETTLE_MS: u64 = 50;

/// Commits an accepted write on its own task (see `Db::commit`).
fn commit_in_background(c: &Rc<Client>, pending: crate::core::db::Pending<super::locks::WebLock>) {
    let c = c.clone();
    spawn(Box::pin(async move {
        let _ = c.db.commit(pending, true).await;
    }));
}

/// Waits on the lock of each write another tab queued: granted, its tab
/// finished it or died, and this client takes over at once (the periodic
/// check is the fallback). The lock is let go and every orphan taken over
/// by one `adopt_orphans`, in key order: a dead tab releases all its locks
/// at once, and taking each over as its own lock came would commit its
/// writes in whatever order the locks were granted.
fn watch_foreign(c: &Rc<Client>) {
    // Without Web Locks a lock says nothing about its holder: no takeover.
    if !super::locks::supported() {
        return;
    }
    for (key, name) in c.db.foreign_writes() {
        if c.watching.borrow().contains(&key) {
            continue;
        }
        c.watching.borrow_mut().push(key.clone());
        let c = c.clone();
        spawn(Box::pin(async move {
            if let Some(lock) = super::locks::lock(&name, true).await {
                drop(lock);
                // Let the dead tab's other locks reach our other waiters
                // and be let go too.
                super::timer::sleep(TAKEOVER_SETTLE_MS).await;
                for pending in c.db.adopt_orphans().await {
                    commit_in_background(&c, pending);
                }
            }
            c.watching.borrow_mut().retain(|k| k != &key);
        }));
    }
}

/// A value as written: `undefined` deletes, anything else must be JSON.
fn written(value: &JsValue) -> Result<Option<Json>, Error> {
    if value.is_undefined() {
        Ok(None)
    } else {
        to_json(value).map(Some)
    }
}

/// `options.await`: whether the promise waits for the bucket.
fn wait_remote(options: &JsValue, online: bool) -> Result<bool, Error> {
    match opt_string(options, "await")?.as_deref() {
        None => Ok(online),
        Some("remote") => Ok(true),
        Some("local") => Ok(false),
        Some(other) => Err(bad(format!(
            "await must be \"local\" or \"remote\", not \"{other}\""
        ))),
    }
}

struct Client {
    db: Db<WebIo>,
    default_bucket: String,
    /// Subscribers' handlers by id (few: a list).
    handlers: RefCell<Vec<(u64, Function)>>,
    /// Other tabs' writes whose locks we wait on.
    watching: RefCell<Vec<String>>,
    poller: Cell<bool>,
}

impl Client {
    /// Calls handlers for queued events. Runs on its own task, so no Rust
    /// borrow is held while JavaScript runs (a handler may call back in).
    fn deliver(&self) {
        for event in self.db.take_events() {
            let (sub, args) = match event {
                Event::Value { sub, value } => {
                    let v = match value.as_ref().map(from_json).transpose() {
                        Ok(v) => v.unwrap_or(JsValue::UNDEFINED),
                        Err(e) => {
                            self.call(sub, &JsValue::UNDEFINED, &to_js_error(&e));
                            continue;
                        }
                    };
                    (sub, (v, JsValue::UNDEFINED))
                }
                Event::Error { sub, error } => (sub, (JsValue::UNDEFINED, to_js_error(&error))),
            };
            self.call(sub, &args.0, &args.1);
        }
    }

    fn call(&self, sub: u64, value: &JsValue, error: &JsValue) {
        let handler = self
            .handlers
            .borrow()
            .iter()
            .find(|(id, _)| *id == sub)
            .map(|(_, h)| h.clone());
        if let Some(h) = handler {
            if let Err(e) = h.call2(&JsValue::NULL, value, error) {
                web_sys::console::error_2(&"mps3: a subscriber threw".into(), &e);
            }
        }
    }
}

/// A vendorless, multiplayer, offline-first key-value store in an
/// S3-compatible bucket.
#[wasm_bindgen]
pub struct MPS3 {
    client: Rc<Client>,
}

/// `{ accessKeyId, secretAccessKey, sessionToken?, expiration? }`.
pub fn credentials_from(creds: &JsValue) -> Result<Credentials, Error> {
    only_known(
        creds,
        "credentials",
        &[
            "accessKeyId",
            "secretAccessKey",
            "sessionToken",
            "expiration",
        ],
    )?;
    let mut c = Credentials::new(
        opt_string(creds, "accessKeyId")?
            .ok_or_else(|| bad("credentials.accessKeyId is required"))?,
        opt_string(creds, "secretAccessKey")?
            .ok_or_else(|| bad("credentials.secretAccessKey is required"))?,
    );
    if let Some(token) = opt_string(creds, "sessionToken")? {
        c = c.with_session_token(token);
    }
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

type Parsed = (DbConfig, S3, Logger, String, Option<Function>, bool);

/// Which clients share a durable store's keys: one endpoint, one label.
fn namespace(endpoint: &str, label: &str) -> String {
    use crate::core::json::quote;
    format!("{}{}", quote(endpoint), quote(label))
}

fn config(cfg: &JsValue) -> Result<Parsed, Error> {
    only_known(
        cfg,
        "config",
        &[
            "defaultBucket",
            "defaultManifest",
            "s3Config",
            "useVersioning",
            "pollFrequency",
            "autoclean",
            "gzip",
            "adaptiveClock",
            "clockOffset",
            "minimizeListObjectsCalls",
            "cacheBytes",
            "offlineStorage",
            "offlineBytes",
            "online",
            "retry",
            "label",
            "log",
        ],
    )?;
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
    db.adaptive_clock = opt_bool(cfg, "adaptiveClock")?.unwrap_or(true);
    db.clock_offset = opt_number(cfg, "clockOffset")?.unwrap_or(0.0) as i64;
    db.minimize_list_calls = opt_bool(cfg, "minimizeListObjectsCalls")?.unwrap_or(true);
    let retry = get(cfg, "retry");
    if !retry.is_undefined() {
        only_known(
            &retry,
            "retry",
            &["attempts", "baseMs", "capMs", "timeoutMs"],
        )?;
        // (No float in the message: formatting one costs the .wasm ~16 KB.)
        let whole = |name: &str, min: u64| -> Result<Option<u64>, Error> {
            match opt_number(&retry, name)? {
                Some(n) if n < min as f64 || n % 1.0 != 0.0 => Err(bad(format!(
                    "retry.{name} must be a whole number of at least {min}"
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
    only_known(
        &s3c,
        "s3Config",
        &["endpoint", "region", "credentials", "forcePathStyle"],
    )?;
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
        s3.path_style = path_style;
    }
    db.credentials_from_provider = provider.is_some();
    Ok((db, S3::new(s3), logger, label, provider, local))
}

/// A write: queued (and masked) first; the promise resolves once it is
/// committed (`remote`), or once it is durable with the commit carrying on
/// in the background. Without a durable store, only the bucket makes a
/// write durable, so the promise waits for it either way.
fn write(
    client: &Rc<Client>,
    change: Change,
    manifests: Vec<Ref>,
    remote: bool,
) -> impl ::core::future::Future<Output = Result<JsValue, Error>> + 'static {
    let client = client.clone();
    async move {
        let pending = client.db.accept(change, &manifests).await?;
        if !remote && pending.durable() {
            commit_in_background(&client, pending);
        } else {
            client.db.commit(pending, false).await?;
        }
        Ok(JsValue::UNDEFINED)
    }
}

#[wasm_bindgen]
impl MPS3 {
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "MPS3Config")] cfg: JsValue,
    ) -> Result<MPS3, JsValue> {
        let (db_config, s3, logger, label, provider, local) =
            config(&cfg).map_err(|e| to_js_error(&e))?;
        let default_bucket = db_config.default_manifest.bucket.clone();
        let io = WebIo::new(logger, label, provider, &db_config.namespace, local);
        let storage = db_config.offline_storage;
        let db = Db::new(io, s3, db_config, random_seed()).map_err(|e| to_js_error(&e))?;
        let client = Rc::new(Client {
            db,
            default_bucket,
            handlers: RefCell::new(Vec::new()),
            watching: RefCell::new(Vec::new()),
            poller: Cell::new(false),
        });
        let weak = Rc::downgrade(&client);
        client.db.io().set_deliver(Rc::new(move || {
            if let Some(c) = weak.upgrade() {
                c.deliver();
            }
        }));
        // Load the stored state and commit what was left queued; then keep
        // looking for writes other tabs left behind when they closed.
        let c = client.clone();
        spawn(Box::pin(async move {
            for pending in c.db.restore().await {
                commit_in_background(&c, pending);
            }
            watch_foreign(&c);
            while storage && super::locks::supported() && !c.db.is_shutdown() {
                super::timer::sleep(ORPHAN_CHECK_MS).await;
                for pending in c.db.adopt_orphans().await {
                    commit_in_background(&c, pending);
                }
            }
        }));
        if let Some(channel) = &client.db.io().channel {
            let weak = Rc::downgrade(&client);
            let on_message =
                Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                    let (Some(c), Some(text)) = (weak.upgrade(), e.data().as_string()) else {
                        return;
                    };
                    spawn(Box::pin(async move {
                        c.db.on_message(&text).await;
                        watch_foreign(&c);
                    }));
                });
            channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            on_message.forget();
        }
        Ok(MPS3 { client })
    }

    fn key(&self, key: &JsValue) -> Result<Ref, Error> {
        to_ref(key, &self.client.default_bucket)
    }

    fn manifests(&self, options: &JsValue, field: &str) -> Result<Vec<Ref>, Error> {
        let v = get(options, field);
        if v.is_undefined() {
            return Ok(vec![]);
        }
        let arr = v
            .dyn_ref::<Array>()
            .ok_or_else(|| bad(format!("{field} must be an array")))?;
        // A loop, not `collect::<Result<..>>` (an adapter of its own).
        let mut refs = Vec::new();
        for m in arr.iter() {
            refs.push(self.key(&m)?);
        }
        Ok(refs)
    }

    fn manifest(&self, options: &JsValue) -> Result<Option<Ref>, Error> {
        let v = get(options, "manifest");
        if v.is_undefined() {
            Ok(None)
        } else {
            self.key(&v).map(Some)
        }
    }

    fn run<F>(&self, prepared: Result<F, Error>) -> Promise
    where
        F: ::core::future::Future<Output = Result<JsValue, Error>> + 'static,
    {
        promise(prepared.map(|f| Box::pin(f) as Task))
    }

    /// Writes `value` (any JSON; `undefined` deletes) under `key`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn put(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Key")] key: JsValue,
        #[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "PutOptions")] options: Option<JsValue>,
    ) -> Promise {
        let change = self
            .key(&key)
            .and_then(|key| Ok(Change::Values(vec![(key, written(&value)?)])));
        self.change("put", options, change)
    }

    /// Deletes `key` (same as `put(key, undefined)`).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn delete(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Key")] key: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "PutOptions")] options: Option<JsValue>,
    ) -> Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        self.put(key, JsValue::UNDEFINED, Some(options))
    }

    /// Writes several keys atomically: readers see all of them or none.
    /// `entries`: a `Map` or a plain object of key → value (`undefined`
    /// deletes).
    #[wasm_bindgen(js_name = putAll, unchecked_return_type = "Promise<void>")]
    pub fn put_all(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Map<Key, unknown> | Record<string, unknown>")]
        entries: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "PutOptions")] options: Option<JsValue>,
    ) -> Promise {
        let change = (|| {
            let pairs: Vec<(JsValue, JsValue)> = if let Some(map) = entries.dyn_ref::<Map>() {
                let mut v = Vec::new();
                map.for_each(&mut |value, key| v.push((key, value)));
                v
            } else if entries.is_object() {
                Object::entries(entries.unchecked_ref::<Object>())
                    .iter()
                    .map(|kv| {
                        let kv: Array = kv.unchecked_into();
                        (kv.get(0), kv.get(1))
                    })
                    .collect()
            } else {
                return Err(bad("putAll takes a Map or an object"));
            };
            let mut batch = Vec::with_capacity(pairs.len());
            for (k, v) in pairs {
                let value = written(&v)?;
                batch.push((self.key(&k)?, value));
            }
            Ok(Change::Values(batch))
        })();
        self.change("putAll", options, change)
    }

    /// Makes the object stored under `key` itself (written by another
    /// tool; it must hold JSON) the value of `key`. The object stays as it
    /// is: a versioned bucket's manifest names its version, an unversioned
    /// bucket gets a copy under `<key>@<uuid>`. Needs the bucket.
    #[wasm_bindgen(js_name = "import", unchecked_return_type = "Promise<void>")]
    pub fn import_key(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Key")] key: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "PutOptions")] options: Option<JsValue>,
    ) -> Promise {
        self.change("import", options, self.key(&key).map(Change::Import))
    }

    /// Takes `key` out of the manifest and touches no object: a delete
    /// that puts no delete marker in a versioned bucket (the inverse of
    /// `import`).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn forget(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Key")] key: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "PutOptions")] options: Option<JsValue>,
    ) -> Promise {
        self.change("forget", options, self.key(&key).map(Change::Forget))
    }

    /// Moves the value of `from` to `to` in one entry: readers see the
    /// value under one key or the other, never both or neither. `from` is
    /// read in the first of `manifests` (or the default); `NotFound` when
    /// it has no value.
    #[wasm_bindgen(js_name = "move", unchecked_return_type = "Promise<void>")]
    pub fn move_key(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Key")] from: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Key")] to: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "PutOptions")] options: Option<JsValue>,
    ) -> Promise {
        let change = self
            .key(&from)
            .and_then(|from| Ok(Change::Move(from, self.key(&to)?)));
        self.change("move", options, change)
    }

    /// A write of any kind, with `put`'s options (`change` is checked
    /// after them, so a bad option is reported first).
    fn change(
        &self,
        name: &str,
        options: Option<JsValue>,
        change: Result<Change, Error>,
    ) -> Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let prepared = (|| {
            only_known(&options, name, &["manifests", "await"])?;
            let remote = wait_remote(&options, self.client.db.is_online())?;
            let change = change?;
            let manifests = self.manifests(&options, "manifests")?;
            Ok(write(&self.client, change, manifests, remote))
        })();
        self.run(prepared)
    }

    /// The value of `key` (`undefined` when absent), reading your own
    /// writes.
    #[wasm_bindgen(unchecked_return_type = "Promise<unknown>")]
    pub fn get(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Key")] key: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "GetOptions")] options: Option<JsValue>,
    ) -> Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let prepared = (|| {
            only_known(&options, "get", &["manifest"])?;
            let key = self.key(&key)?;
            let manifest = self.manifest(&options)?;
            let client = self.client.clone();
            Ok(async move {
                let v = client.db.get(&key, manifest.as_ref()).await?;
                Ok(v.as_ref()
                    .map(from_json)
                    .transpose()?
                    .unwrap_or(JsValue::UNDEFINED))
            })
        })();
        self.run(prepared)
    }

    /// Values of `keys` from one consistent snapshot, as a `Map` from each
    /// given key to its value (`undefined` when absent).
    #[wasm_bindgen(js_name = getAll, unchecked_return_type = "Promise<Map<Key, unknown>>")]
    pub fn get_all(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Key[]")] keys: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "GetOptions")] options: Option<JsValue>,
    ) -> Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let prepared = (|| {
            only_known(&options, "getAll", &["manifest"])?;
            let arr = keys
                .dyn_ref::<Array>()
                .ok_or_else(|| bad("getAll takes an array of keys"))?;
            let originals: Vec<JsValue> = arr.iter().collect();
            let mut refs = Vec::with_capacity(originals.len());
            for k in &originals {
                refs.push(self.key(k)?);
            }
            let manifest = self.manifest(&options)?;
            let client = self.client.clone();
            Ok(async move {
                let values = client.db.get_all(&refs, manifest.as_ref()).await?;
                let out = Map::new();
                for (k, v) in originals.iter().zip(values) {
                    let v = v
                        .as_ref()
                        .map(from_json)
                        .transpose()?
                        .unwrap_or(JsValue::UNDEFINED);
                    out.set(k, &v);
                }
                Ok(out.into())
            })
        })();
        self.run(prepared)
    }

    /// Calls `handler(value, error)` with the current value of `key`, then
    /// once per new version of it (`undefined` when deleted); errors go to
    /// the second argument and polling carries on. Returns a function that
    /// unsubscribes.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn subscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Key")] key: JsValue,
        #[wasm_bindgen(unchecked_param_type = "(value: unknown, error?: MPS3Error) => void")]
        handler: Function,
        #[wasm_bindgen(unchecked_optional_param_type = "SubscribeOptions")] options: Option<
            JsValue,
        >,
    ) -> Result<Function, JsValue> {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let (key, manifest) = (|| {
            only_known(&options, "subscribe", &["manifest"])?;
            Ok::<_, Error>((self.key(&key)?, self.manifest(&options)?))
        })()
        .map_err(|e| to_js_error(&e))?;
        let c = &self.client;
        let id =
            c.db.subscribe(&key, manifest.as_ref())
                .map_err(|e| to_js_error(&e))?;
        c.handlers.borrow_mut().push((id, handler));
        // The first value now; later ones from the poller.
        let client = c.clone();
        spawn(Box::pin(async move {
            if let Err(e) = client.db.refresh(manifest.as_ref()).await {
                client.call(id, &JsValue::UNDEFINED, &to_js_error(&e));
            }
        }));
        if !c.poller.replace(true) {
            let client = c.clone();
            spawn(Box::pin(async move { client.db.run_poller().await }));
        }
        let weak = Rc::downgrade(c);
        let unsubscribe = Closure::once_into_js(move || {
            if let Some(c) = weak.upgrade() {
                c.db.unsubscribe(id);
                c.handlers.borrow_mut().retain(|(h, _)| *h != id);
            }
        });
        Ok(unsubscribe.unchecked_into())
    }

    /// Stops polling; later calls reject with code `Shutdown`.
    pub fn shutdown(&self) {
        self.client.db.shutdown();
        self.client.handlers.borrow_mut().clear();
    }

    /// Whether the client talks to the bucket. Set it `false` to work
    /// offline (requests in flight are aborted, but for a write's entry PUT,
    /// let finish so that whether it landed is known; reads answer from
    /// what is stored, writes queue up) and `true` to sync again.
    #[wasm_bindgen(getter)]
    pub fn online(&self) -> bool {
        self.client.db.is_online()
    }

    #[wasm_bindgen(setter)]
    pub fn set_online(&self, online: bool) {
        self.client.db.set_online(online);
        if !online {
            self.client.db.io().abort_all();
        }
    }

    /// Writes accepted and not yet committed to the bucket (this tab's and
    /// its label's other tabs'). Those queued before a reload count once
    /// they are loaded from IndexedDB, which every call waits for.
    #[wasm_bindgen(getter, js_name = pendingWrites)]
    pub fn pending_writes(&self) -> u32 {
        self.client.db.pending_writes() as u32
    }

    /// The clock correction in use (ms), learned from servers' `Date`.
    #[wasm_bindgen(getter, js_name = clockOffset)]
    pub fn clock_offset(&self) -> f64 {
        self.client.db.clock_offset() as f64
    }
}
