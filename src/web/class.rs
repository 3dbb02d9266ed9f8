//! The `MPS3` class: each method converts its arguments (`convert`),
//! makes one engine call and converts the answer or the error (`errors`).
//! It decides nothing: acknowledgement, background commits, takeovers and
//! polling are the engine's (`engine::db`).

use crate::prelude::*;

use alloc::rc::Rc;
use core::cell::RefCell;
use core::future::Future;

use js_sys::{Function, Map, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::convert::{self, bad, object, only_known};
use super::errors::to_js_error;
use super::io::WebIo;
use crate::engine::db::{Acked, Change, Db, Event, JsonText, Meta, Select, Status, Watch};
use crate::engine::error::Error;
use crate::engine::object::Ref;
use crate::js_api;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = js_api::TYPESCRIPT;

/// An API call's work, boxed: one wrapper serves them all.
type Task = core::pin::Pin<Box<dyn Future<Output = Result<JsValue, Error>>>>;

/// A promise's work as JavaScript sees it, boxed: one `future_to_promise`
/// serves every call (`transaction`'s too, whose callback's rejection
/// passes through as it is).
pub(super) type JsTask = core::pin::Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>;

pub(super) fn js_promise(task: JsTask) -> Promise {
    future_to_promise(task)
}

fn promise(prepared: Result<Task, Error>) -> Promise {
    match prepared {
        Err(e) => Promise::reject(&to_js_error(&e)),
        Ok(fut) => js_promise(Box::pin(
            async move { fut.await.map_err(|e| to_js_error(&e)) },
        )),
    }
}

pub(super) fn run<F>(prepared: Result<F, Error>) -> Promise
where
    F: Future<Output = Result<JsValue, Error>> + 'static,
{
    promise(prepared.map(|f| Box::pin(f) as Task))
}

/// A stored value as JavaScript reads it (`undefined` when absent).
pub(super) fn value(v: Option<&JsonText>) -> Result<JsValue, Error> {
    Ok(v.map(convert::from_json)
        .transpose()?
        .unwrap_or(JsValue::UNDEFINED))
}

/// What a read answers with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Read {
    Value,
    Entry,
    Map,
    List,
}

/// The kinds of write. Each export names its kind and hands its
/// arguments to `MPS3::write`, so that the exports of one argument shape
/// compile to one shim: binaryen merges functions that differ only in
/// constants, and a shim of its own is some 0.4 KB of WebAssembly.
#[derive(Clone, Copy)]
enum Write {
    Put,
    Delete,
    PutAll,
    Import,
    Forget,
    Move,
}

/// The calls about a whole manifest (`MPS3::of_manifest`, for the same
/// reason as [`Write`]).
#[derive(Clone, Copy)]
enum OfManifest {
    Upgrade,
    Rotate,
    Inspect,
}

/// `{ key, value, version }` (`version` null when absent).
pub(super) fn entry_object(
    key: &JsValue,
    text: Option<&JsonText>,
    version: Option<String>,
) -> Result<JsValue, Error> {
    let content_type = text.map_or(JsValue::UNDEFINED, |t| convert::content_type(t));
    Ok(object(&[
        ("key", key.clone()),
        ("value", value(text)?),
        ("version", version.map_or(JsValue::NULL, JsValue::from)),
        ("contentType", content_type),
    ])
    .into())
}

/// A key subscriber's third argument: `{ version, writer?, at?, trace? }`.
fn meta_object(m: Meta) -> JsValue {
    let or_undefined = |v: Option<String>| v.map_or(JsValue::UNDEFINED, JsValue::from);
    object(&[
        ("version", m.version.map_or(JsValue::NULL, JsValue::from)),
        ("writer", or_undefined(m.writer)),
        (
            "at",
            m.at.map_or(JsValue::UNDEFINED, |at| (at as f64).into()),
        ),
        ("trace", or_undefined(m.trace)),
    ])
    .into()
}

/// `[{ key, value, version }]` of keys read (`list`, a range's
/// subscriber): each key as a string, its url without the bucket.
fn entries_array(found: Vec<crate::engine::db::Found>) -> Result<JsValue, Error> {
    let out = js_sys::Array::new();
    for f in found {
        let key = f.url.split_once('/').map_or("", |(_, k)| k);
        out.push(&entry_object(&key.into(), f.value.as_ref(), f.version)?);
    }
    Ok(out.into())
}

#[wasm_bindgen(module = "/src/web/edges.js")]
extern "C" {
    /// 64 random bits (Web Crypto's, else less random ones) in decimal.
    #[wasm_bindgen(js_name = mps3Seed)]
    fn seed() -> String;
    /// Reports a subscriber's or status handler's exception on the console.
    #[wasm_bindgen(js_name = mps3HandlerThrew)]
    fn handler_threw(error: &JsValue);
}

fn random_seed() -> u64 {
    crate::engine::lean::scan::number(&seed(), 10).unwrap_or_default()
}

/// Subscribers' handlers by subscription id, and `onStatus` handlers by
/// theirs (few: lists).
#[derive(Default)]
struct Handlers {
    values: RefCell<Vec<(u64, Function)>>,
    status: RefCell<Vec<(u64, Function)>>,
    next_status: core::cell::Cell<u64>,
}

/// The function that registering a subscriber (with its engine
/// subscription, `db`) or a status handler (`None`) returns: it removes
/// handler `id`. One closure type for both.
/// Calling it again does nothing.
fn remover(handlers: &Rc<Handlers>, db: Option<alloc::rc::Weak<Db<WebIo>>>, id: u64) -> JsValue {
    let handlers = handlers.clone();
    Closure::<dyn Fn()>::new(move || match &db {
        Some(weak) => {
            if let Some(db) = weak.upgrade() {
                db.unsubscribe(id);
            }
            handlers.values.borrow_mut().retain(|(h, _)| *h != id);
        }
        None => handlers.status.borrow_mut().retain(|(h, _)| *h != id),
    })
    .into_js_value()
}

/// `f` as a function, or BadInput naming the call that needs one.
fn function(f: JsValue, needs: &str) -> Result<Function, Error> {
    f.dyn_into()
        .map_err(|_| bad(cat!(needs, " needs a handler function")))
}

/// `db.status` as JavaScript sees it.
fn status_object(s: &Status) -> JsValue {
    object(&[
        ("online", s.online.into()),
        ("connected", s.connected.into()),
        ("pendingWrites", (s.pending_writes as u32).into()),
        (
            "lastSyncAt",
            s.last_sync_at.map_or(JsValue::NULL, |t| (t as f64).into()),
        ),
        ("shutdown", s.shutdown.into()),
        (
            "error",
            s.problem.as_ref().map_or(JsValue::NULL, to_js_error),
        ),
    ])
    .into()
}

/// Calls `f(handler)`, reporting a handler that throws.
fn call_handler(handler: &Function, f: impl FnOnce(&Function) -> Result<JsValue, JsValue>) {
    if let Err(e) = f(handler) {
        handler_threw(&e);
    }
}

/// Calls handlers for the events the engine queued. Runs on its own task
/// (`Io::events_ready`), so no Rust borrow is held while JavaScript runs
/// (a handler may call back in).
fn deliver(db: &Db<WebIo>, handlers: &Handlers) {
    for event in db.take_events() {
        let mut meta = JsValue::UNDEFINED;
        let (sub, value, error) = match event {
            Event::Value {
                sub,
                value: v,
                meta: m,
            } => {
                meta = meta_object(m);
                match value(v.as_ref()) {
                    Ok(v) => (sub, v, JsValue::UNDEFINED),
                    Err(e) => (sub, JsValue::UNDEFINED, to_js_error(&e)),
                }
            }
            Event::Changes { sub, changes } => match entries_array(changes) {
                Ok(a) => (sub, a, JsValue::UNDEFINED),
                Err(e) => (sub, JsValue::UNDEFINED, to_js_error(&e)),
            },
            Event::Error { sub, error } => (sub, JsValue::UNDEFINED, to_js_error(&error)),
            Event::Status(status) => {
                let s = status_object(&status);
                // A copy: a handler may subscribe or unsubscribe.
                let all = handlers.status.borrow().clone();
                for (_, h) in &all {
                    call_handler(h, |h| h.call1(&JsValue::NULL, &s));
                }
                continue;
            }
        };
        let handler = handlers
            .values
            .borrow()
            .iter()
            .find(|(id, _)| *id == sub)
            .map(|(_, h)| h.clone());
        if let Some(h) = handler {
            call_handler(&h, |h| h.call3(&JsValue::NULL, &value, &error, &meta));
        }
    }
}

/// `mps3WatchOnline(changed)`: calls `changed(online)` on the browser's
/// `online` and `offline` events (on `window` or in a worker, whichever
/// this is), and says whether `navigator.onLine` holds now.
#[wasm_bindgen(module = "/src/web/edges.js")]
extern "C" {
    #[wasm_bindgen(js_name = mps3WatchOnline)]
    fn watch_online(changed: &Closure<dyn Fn(bool)>) -> bool;
}

/// Tells the engine what the browser says of the network: whether it is
/// online now, then each change.
fn watch_browser_connectivity(db: &Rc<Db<WebIo>>) {
    let weak = Rc::downgrade(db);
    let listener = Closure::<dyn Fn(bool)>::new(move |online| {
        if let Some(db) = weak.upgrade() {
            db.browser_online(online);
        }
    });
    if !watch_online(&listener) {
        db.browser_online(false);
    }
    listener.forget();
}

/// A vendorless, multiplayer, offline-first key-value store in an
/// S3-compatible bucket.
#[wasm_bindgen]
pub struct MPS3 {
    db: Rc<Db<WebIo>>,
    default_bucket: String,
    handlers: Rc<Handlers>,
}

#[wasm_bindgen]
impl MPS3 {
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "MPS3Config")] cfg: JsValue,
    ) -> Result<MPS3, JsValue> {
        let c = convert::config(&cfg).map_err(|e| to_js_error(&e))?;
        let default_bucket = c.db.default_manifest.bucket.clone();
        let local = c.local;
        let io = WebIo::new(c.logger, c.label, c.provider, &c.db.namespace, c.local);
        let db = Rc::new(Db::new(io, c.s3, c.db, random_seed()).map_err(|e| to_js_error(&e))?);
        let handlers: Rc<Handlers> = Rc::default();
        let (weak, h) = (Rc::downgrade(&db), handlers.clone());
        db.io().set_deliver(Rc::new(move || {
            if let Some(db) = weak.upgrade() {
                deliver(&db, &h);
            }
        }));
        let weak = Rc::downgrade(&db);
        let on_message = Closure::<dyn Fn(String)>::new(move |text: String| {
            if let Some(db) = weak.upgrade() {
                super::spawn(Box::pin(async move { db.receive(&text).await }));
            }
        });
        super::channel::listen(&db.io().channel, &on_message);
        on_message.forget();
        // The browser's own bucket is reachable whatever the network.
        if !local {
            watch_browser_connectivity(&db);
        }
        db.start();
        Ok(MPS3 {
            db,
            default_bucket,
            handlers,
        })
    }

    fn key(&self, key: &JsValue) -> Result<Ref, Error> {
        convert::to_ref(key, &self.default_bucket)
    }

    /// Writes `value` (any JSON; `undefined` deletes) under `key`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Written>")]
    pub fn put(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Key")] key: JsValue,
        #[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "PutOptions")] options: Option<JsValue>,
    ) -> Promise {
        self.write(Write::Put, key, value, options)
    }

    /// Deletes `key` (same as `put(key, undefined)`).
    #[wasm_bindgen(unchecked_return_type = "Promise<Written>")]
    pub fn delete(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Key")] key: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "PutOptions")] options: Option<JsValue>,
    ) -> Promise {
        self.write(Write::Delete, key, JsValue::UNDEFINED, options)
    }

    /// Writes several keys atomically: readers see all of them or none.
    /// `entries`: a `Map` or a plain object of key → value (`undefined`
    /// deletes).
    #[wasm_bindgen(js_name = putAll, unchecked_return_type = "Promise<Written>")]
    pub fn put_all(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Map<Key, unknown> | Record<string, unknown>")]
        entries: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "PutOptions")] options: Option<JsValue>,
    ) -> Promise {
        self.write(Write::PutAll, entries, JsValue::UNDEFINED, options)
    }

    /// Makes the object stored under `key` itself (written by another
    /// tool; it must hold JSON) the value of `key`. The object stays as it
    /// is: a versioned bucket's manifest names its version, an unversioned
    /// bucket gets a copy under `<key>@<uuid>`. Needs the bucket.
    #[wasm_bindgen(js_name = "import", unchecked_return_type = "Promise<Written>")]
    pub fn import_key(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Key")] key: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "PutOptions")] options: Option<JsValue>,
    ) -> Promise {
        self.write(Write::Import, key, JsValue::UNDEFINED, options)
    }

    /// Takes `key` out of the manifest and touches no object: a delete
    /// that puts no delete marker in a versioned bucket (the inverse of
    /// `import`).
    #[wasm_bindgen(unchecked_return_type = "Promise<Written>")]
    pub fn forget(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Key")] key: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "PutOptions")] options: Option<JsValue>,
    ) -> Promise {
        self.write(Write::Forget, key, JsValue::UNDEFINED, options)
    }

    /// Upgrades a protocol v1 manifest (mps3's layout; the default
    /// manifest when none is given) to protocol v2: its state becomes the
    /// v2 log's first checkpoint. For users whose clients have all moved:
    /// mps3 0.0.81 clients do not see later writes (v2 clients report one
    /// writing). Rejects with `Unsupported` on a bucket that does not
    /// enforce `If-None-Match: *`; a v2 manifest is left as it is.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn upgrade(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "Key")] manifest: Option<JsValue>,
    ) -> Promise {
        self.of_manifest(OfManifest::Upgrade, manifest)
    }

    /// Adds a key to an encrypted manifest's key ring (the default
    /// manifest when none is given): new values are sealed with it, old
    /// ones keep theirs and stay readable. Resolves with the new key's id;
    /// rejects `BadInput` for a manifest not encrypted.
    #[wasm_bindgen(unchecked_return_type = "Promise<string>")]
    pub fn rotate(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "Key")] manifest: Option<JsValue>,
    ) -> Promise {
        self.of_manifest(OfManifest::Rotate, manifest)
    }

    /// Moves the value of `from` to `to` in one entry: readers see the
    /// value under one key or the other, never both or neither. `from` is
    /// read in the first of `manifests` (or the default); `NotFound` when
    /// it has no value.
    #[wasm_bindgen(js_name = "move", unchecked_return_type = "Promise<Written>")]
    pub fn move_key(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Key")] from: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Key")] to: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "PutOptions")] options: Option<JsValue>,
    ) -> Promise {
        self.write(Write::Move, from, to, options)
    }

    /// Every kind of write, from its two arguments (`put`'s key and
    /// value, `move`'s keys; the others have one) and `put`'s options
    /// (the change is checked after them, so a bad option is reported
    /// first).
    fn write(&self, kind: Write, a: JsValue, b: JsValue, options: Option<JsValue>) -> Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let (name, change) = match kind {
            Write::Put => ("put", self.put_change(a, b, &options)),
            Write::Delete => (
                "delete",
                self.key(&a).map(|k| Change::Values(vec![(k, None)])),
            ),
            Write::PutAll => ("putAll", self.put_all_change(&a)),
            Write::Import => ("import", self.key(&a).map(Change::Import)),
            Write::Forget => ("forget", self.key(&a).map(Change::Forget)),
            Write::Move => (
                "move",
                self.key(&a)
                    .and_then(|from| Ok(Change::Move(from, self.key(&b)?))),
            ),
        };
        run(self.prepare_change(name, options, change))
    }

    fn put_change(&self, key: JsValue, value: JsValue, options: &JsValue) -> Result<Change, Error> {
        let content_type = convert::opt_string(options, "contentType");
        let key = self.key(&key)?;
        let value = convert::written_as(&value, content_type?.as_deref())?;
        Ok(Change::Values(vec![(key, value)]))
    }

    fn put_all_change(&self, entries: &JsValue) -> Result<Change, Error> {
        let pairs = convert::entries(entries)?;
        let mut batch = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            let value = convert::written(&v)?;
            batch.push((self.key(&k)?, value));
        }
        Ok(Change::Values(batch))
    }

    /// The value of `key` (`undefined` when absent), reading your own
    /// writes.
    ///
    /// (Declared generic in `js_api`'s TypeScript.)
    #[wasm_bindgen(skip_typescript)]
    pub fn get(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Key")] key: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "GetOptions")] options: Option<JsValue>,
    ) -> Promise {
        self.read("get", Read::Value, key, options)
    }

    /// `{ key, value, version }` of `key`: `version` is opaque, changes
    /// with every write of the key, and is what `atomic().check` names
    /// (absent: `value` undefined, `version` null).
    ///
    /// (Declared generic in `js_api`'s TypeScript.)
    #[wasm_bindgen(js_name = getEntry, skip_typescript)]
    pub fn get_entry(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Key")] key: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "GetOptions")] options: Option<JsValue>,
    ) -> Promise {
        self.read("getEntry", Read::Entry, key, options)
    }

    /// Values of `keys` from one consistent snapshot, as a `Map` from each
    /// given key to its value (`undefined` when absent).
    ///
    /// (Declared generic in `js_api`'s TypeScript.)
    #[wasm_bindgen(js_name = getAll, skip_typescript)]
    pub fn get_all(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Key[]")] keys: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "GetOptions")] options: Option<JsValue>,
    ) -> Promise {
        self.read("getAll", Read::Map, keys, options)
    }

    /// `{ key, value, version }` of each key with a value in `range`
    /// (`{ prefix, start, end, limit, reverse }`, keys of `defaultBucket`),
    /// in key order, from one consistent snapshot.
    ///
    /// (Declared generic in `js_api`'s TypeScript.)
    #[wasm_bindgen(skip_typescript)]
    pub fn list(
        &self,
        range: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "GetOptions")] options: Option<JsValue>,
    ) -> Promise {
        self.read("list", Read::List, range, options)
    }

    /// `get`, `getEntry`, `getAll` and `list`: one engine read
    /// (`Db::read`), answered in the shape each returns.
    fn read(&self, name: &str, shape: Read, arg: JsValue, options: Option<JsValue>) -> Promise {
        run(self.prepare_read(name, shape, arg, options.unwrap_or(JsValue::UNDEFINED)))
    }

    /// What this client knows of a manifest (the default when none is
    /// given), brought up to date first when the bucket can be reached:
    /// `{ protocol, head, checkpoint, entries }`, `entries` the last few
    /// applied (`{ seq, writer, at, keys }`, newest last). For developers.
    #[wasm_bindgen(unchecked_return_type = "Promise<Inspection>")]
    pub fn inspect(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "Key")] manifest: Option<JsValue>,
    ) -> Promise {
        self.of_manifest(OfManifest::Inspect, manifest)
    }

    /// A conditional write to build: `.check({ key, version })` (each
    /// must hold: the key still at that version, `null` still absent),
    /// `.set(key, value)`, `.delete(key)`, then `.commit()`. Protocol v2
    /// manifests only.
    pub fn atomic(&self) -> super::atomic::Atomic {
        super::atomic::Atomic::new(self.db.clone(), self.default_bucket.clone())
    }

    /// Runs `callback(tx)`: `tx.get` reads, `tx.set` and `tx.delete`
    /// write, and the writes commit only if what it read is unchanged;
    /// else it runs again (a few times, then rejects with `Conflict`).
    /// Resolves with the callback's value; its exception rejects as it is,
    /// nothing written. Protocol v2 manifests only.
    ///
    /// (Declared generic in `js_api`'s TypeScript.)
    #[wasm_bindgen(skip_typescript)]
    pub fn transaction(&self, callback: JsValue, options: Option<JsValue>) -> Promise {
        let Ok(callback) = callback.dyn_into() else {
            return Promise::reject(&to_js_error(&bad(
                "transaction needs a callback function: transaction(async (tx) => …)",
            )));
        };
        super::atomic::transaction(
            self.db.clone(),
            self.default_bucket.clone(),
            callback,
            options.unwrap_or(JsValue::UNDEFINED),
        )
    }

    /// Calls `handler(value, error)` with the current value of `key`, then
    /// once per new version of it (`undefined` when deleted); errors go to
    /// the second argument and polling carries on. Given a range (`{
    /// prefix, start, end }`, keys of `defaultBucket`) instead of a key,
    /// calls `handler(entries, error)` with every `{ key, value, version }`
    /// in it, then with those that changed (deleted: `value` undefined,
    /// `version` null). Returns a function that unsubscribes.
    ///
    /// (Declared with both forms in `js_api`'s TypeScript.)
    #[wasm_bindgen(skip_typescript)]
    pub fn subscribe(
        &self,
        target: JsValue,
        handler: JsValue,
        options: Option<JsValue>,
    ) -> Result<Function, JsValue> {
        let subscribed = self.subscription(target, handler, options.unwrap_or(JsValue::UNDEFINED));
        let (id, handler) = subscribed.map_err(|e| to_js_error(&e))?;
        self.handlers.values.borrow_mut().push((id, handler));
        Ok(remover(&self.handlers, Some(Rc::downgrade(&self.db)), id).unchecked_into())
    }

    /// `{ online, connected, pendingWrites, lastSyncAt }`: the app's
    /// switch, whether the bucket can be reached now, writes not yet
    /// committed, and when (epoch ms) the client last caught up with the
    /// bucket (`null`: not yet).
    #[wasm_bindgen(getter, unchecked_return_type = "Status")]
    pub fn status(&self) -> JsValue {
        status_object(&self.db.status())
    }

    /// Calls `handler(status)` whenever the status changes. Returns a
    /// function that stops it.
    #[wasm_bindgen(js_name = onStatus, unchecked_return_type = "() => void")]
    pub fn on_status(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(status: Status) => void")] handler: JsValue,
    ) -> Result<JsValue, JsValue> {
        let handler = function(handler, "onStatus(handler)").map_err(|e| to_js_error(&e))?;
        let id = self.handlers.next_status.get();
        self.handlers.next_status.set(id + 1);
        self.handlers.status.borrow_mut().push((id, handler));
        Ok(remover(&self.handlers, None, id))
    }

    /// Stops polling; later calls reject with code `Shutdown`. Status
    /// handlers hear the last status (`shutdown: true`), subscribers
    /// nothing more.
    pub fn shutdown(&self) {
        self.db.shutdown();
        self.handlers.values.borrow_mut().clear();
    }

    /// Whether the client talks to the bucket. Set it `false` to work
    /// offline (requests in flight are aborted, but for a write's entry PUT,
    /// let finish so that whether it landed is known; reads answer from
    /// what is stored, writes queue up) and `true` to sync again.
    #[wasm_bindgen(getter)]
    pub fn online(&self) -> bool {
        self.db.is_online()
    }

    #[wasm_bindgen(setter)]
    pub fn set_online(&self, online: bool) {
        self.db.set_online(online);
    }

    /// Writes accepted and not yet committed to the bucket (this tab's and
    /// its label's other tabs'). Those queued before a reload count once
    /// they are loaded from IndexedDB, which every call waits for.
    #[wasm_bindgen(getter, js_name = pendingWrites)]
    pub fn pending_writes(&self) -> u32 {
        self.db.pending_writes() as u32
    }

    /// The clock correction in use (ms), learned from servers' `Date`.
    #[wasm_bindgen(getter, js_name = clockOffset)]
    pub fn clock_offset(&self) -> f64 {
        self.db.clock_offset() as f64
    }
}

/// Each call's arguments checked (nothing sent or written when one is
/// bad), then its work: what `run` turns into the call's promise.
impl MPS3 {
    fn prepare_change(
        &self,
        name: &str,
        options: JsValue,
        change: Result<Change, Error>,
    ) -> Result<impl Future<Output = Result<JsValue, Error>> + 'static, Error> {
        only_known(&options, name, js_api::PUT)?;
        if name != "put" && !convert::get(&options, "contentType").is_undefined() {
            return Err(bad("contentType is an option of put alone"));
        }
        let ack = convert::ack(&options)?;
        let trace = convert::trace(&options)?;
        let change = change?;
        let manifests = convert::refs(&options, "manifests", &self.default_bucket)?;
        let db = self.db.clone();
        Ok(async move {
            // `{ committed: true, version }` once in the bucket,
            // `{ committed: false }` once queued (offline,
            // disconnected, or `await: "local"`).
            let (committed, version) = match db.write(change, &manifests, ack, trace).await? {
                Acked::Committed(v) => (true, v.map_or(JsValue::NULL, JsValue::from)),
                Acked::Queued => (false, JsValue::UNDEFINED),
            };
            Ok(object(&[("committed", committed.into()), ("version", version)]).into())
        })
    }

    fn prepare_read(
        &self,
        name: &str,
        shape: Read,
        arg: JsValue,
        options: JsValue,
    ) -> Result<impl Future<Output = Result<JsValue, Error>> + 'static, Error> {
        only_known(&options, name, js_api::GET)?;
        let originals: Vec<JsValue> = match shape {
            Read::Map => arg
                .dyn_ref::<js_sys::Array>()
                .ok_or_else(|| bad("getAll takes an array of keys"))?
                .to_vec(),
            Read::List => Vec::new(),
            _ => vec![arg.clone()],
        };
        let mut refs = Vec::with_capacity(originals.len());
        for k in &originals {
            refs.push(self.key(k)?);
        }
        let range = match shape {
            Read::List => Some(convert::range(&arg, &self.default_bucket)?),
            _ => None,
        };
        let manifest = convert::manifest(&options, &self.default_bucket)?;
        let db = self.db.clone();
        Ok(async move {
            let select = match &range {
                Some(l) => Select::Range {
                    range: &l.range,
                    limit: l.limit,
                    reverse: l.reverse,
                },
                None => Select::Keys(&refs),
            };
            let mut found = db.read(select, manifest.as_ref()).await?;
            Ok(match shape {
                Read::Value => value(found[0].value.as_ref())?,
                Read::Entry => {
                    let f = found.pop().expect("one key, one entry");
                    entry_object(&originals[0], f.value.as_ref(), f.version)?
                }
                Read::Map => {
                    let out = Map::new();
                    for (k, f) in originals.iter().zip(found) {
                        out.set(k, &value(f.value.as_ref())?);
                    }
                    out.into()
                }
                Read::List => entries_array(found)?,
            })
        })
    }

    /// `subscribe`'s arguments checked, and the engine's subscription
    /// made: its id, and the handler to call.
    fn subscription(
        &self,
        target: JsValue,
        handler: JsValue,
        options: JsValue,
    ) -> Result<(u64, Function), Error> {
        let handler = function(handler, "subscribe(key or range, handler)")?;
        only_known(&options, "subscribe", js_api::SUBSCRIBE)?;
        // A key is a string or has `key`; anything else is a range.
        let watch = if target.is_string() || !convert::get(&target, "key").is_undefined() {
            Watch::Key(self.key(&target)?)
        } else {
            let listed = convert::range(&target, &self.default_bucket)?;
            if listed.limit != usize::MAX || listed.reverse {
                return Err(bad("a subscribed range has no limit or reverse"));
            }
            Watch::Range(listed.range)
        };
        let manifest = convert::manifest(&options, &self.default_bucket)?;
        Ok((self.db.subscribe(&watch, manifest.as_ref())?, handler))
    }

    /// A call's optional manifest argument (`undefined`: the default).
    fn manifest_arg(&self, manifest: Option<JsValue>) -> Result<Option<Ref>, Error> {
        match manifest.filter(|m| !m.is_undefined()) {
            Some(m) => Ok(Some(convert::to_ref(&m, &self.default_bucket)?)),
            None => Ok(None),
        }
    }

    /// `upgrade`, `rotate` and `inspect`: a manifest (the default when
    /// none is given) and what to do with it.
    fn of_manifest(&self, call: OfManifest, manifest: Option<JsValue>) -> Promise {
        let manifest = match self.manifest_arg(manifest) {
            Ok(m) => m,
            Err(e) => return promise(Err(e)),
        };
        let db = self.db.clone();
        run(Ok(async move {
            let m = manifest.as_ref();
            match call {
                OfManifest::Upgrade => db.upgrade(m).await.map(|()| JsValue::UNDEFINED),
                OfManifest::Rotate => db.rotate(m).await.map(JsValue::from),
                OfManifest::Inspect => convert::from_json(&db.inspect(m).await.to_json().into()),
            }
        }))
    }
}
