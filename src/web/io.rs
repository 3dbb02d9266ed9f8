//! The browser's `Io`: fetch (aborted by going offline, or when the engine
//! gives up on a request), `Date.now()`, timers, IndexedDB, Web Locks, a
//! `BroadcastChannel` to the other tabs, and event delivery on a later
//! task, after the engine's borrows have ended.

use crate::prelude::*;

use alloc::rc::Rc;
use core::cell::{Cell, RefCell};
use core::future::Future;

use js_sys::Function;
use wasm_bindgen::prelude::*;

use super::cipher::{self, Op};
use crate::engine::credentials::Credentials;
use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::http::{HttpRequest, HttpResponse};
use crate::engine::io::{Io, KeyHandle, LockWait, Table, Task};
use crate::engine::time::EpochMillis;

use super::locks::WebLock;
use super::log::{event, Logger};
use super::store::IdbStore;

#[wasm_bindgen(module = "/src/web/edges.js")]
extern "C" {
    /// A new `AbortController` (`undefined` where there is none).
    #[wasm_bindgen(js_name = mps3Controller)]
    fn new_controller() -> JsValue;
    /// Aborts the fetch `controller` signals (nothing if `undefined`).
    #[wasm_bindgen(js_name = mps3Abort)]
    fn abort(controller: &JsValue);
}

pub struct WebIo {
    pub logger: Logger,
    pub label: String,
    /// `s3Config.credentials` when it is a function (temporary credentials).
    pub provider: Option<Function>,
    /// Called (on a later task) when the engine queued events.
    deliver: RefCell<Option<Rc<dyn Fn()>>>,
    scheduled: Rc<Cell<bool>>,
    store: Rc<IdbStore>,
    /// The browser's own bucket, when the endpoint is `local:`.
    local: Option<super::local::LocalBucket>,
    /// The requests in flight that going offline aborts, by id.
    inflight: Rc<RefCell<Vec<(u32, JsValue)>>>,
    next_request: Cell<u32>,
    /// To the other tabs of this namespace (`undefined`: not supported).
    pub channel: JsValue,
    warned_locks: Cell<bool>,
}

impl WebIo {
    pub fn new(
        logger: Logger,
        label: String,
        provider: Option<Function>,
        namespace: &str,
        local: bool,
    ) -> WebIo {
        let store = Rc::new(IdbStore::default());
        WebIo {
            local: local.then(|| super::local::LocalBucket::new(store.clone())),
            logger,
            label,
            provider,
            deliver: RefCell::new(None),
            scheduled: Rc::new(Cell::new(false)),
            store,
            inflight: Rc::default(),
            next_request: Cell::new(0),
            channel: super::channel::open(&cat!("mps3 ", namespace)),
            warned_locks: Cell::new(false),
        }
    }

    /// Aborts the requests in flight (they fail as `Network`, and the
    /// engine, offline, does not retry them), but those marked
    /// `finish_offline`: a write's entry PUT, whose answer must be known.
    fn abort_all(&self) {
        let aborted = core::mem::take(&mut *self.inflight.borrow_mut());
        for (_, controller) in aborted {
            abort(&controller);
        }
    }

    pub fn set_deliver(&self, f: Rc<dyn Fn()>) {
        *self.deliver.borrow_mut() = Some(f);
    }
}

/// A request in flight: its abort controller (listed in
/// `WebIo::inflight` while going offline may abort it) and its log event.
/// Dropped before the answer, the engine gave up on it (its time limit):
/// the fetch is aborted, so the connection is let go, and the log says
/// `status: "Timeout"`. After an answer, aborting does nothing.
struct Sent<'a> {
    io: &'a WebIo,
    id: u32,
    /// (`undefined` where the browser has no `AbortController`.)
    controller: JsValue,
    method: &'static str,
    url: &'a str,
    started: f64,
    status: Option<JsValue>,
    /// The trace id of the write the request carries.
    trace: Option<&'a str>,
}

impl Drop for Sent<'_> {
    fn drop(&mut self) {
        self.io
            .inflight
            .borrow_mut()
            .retain(|(id, _)| *id != self.id);
        abort(&self.controller);
        if self.io.logger.enabled() {
            let status = self.status.take().unwrap_or_else(|| "Timeout".into());
            self.io.logger.emit(&event(
                "request",
                &[
                    ("label", self.io.label.as_str().into()),
                    ("method", self.method.into()),
                    ("url", path_of(self.url).into()),
                    ("status", status),
                    ("ms", (js_sys::Date::now() - self.started).into()),
                    (
                        "trace",
                        self.trace.map_or(JsValue::UNDEFINED, JsValue::from),
                    ),
                ],
            ));
        }
    }
}

/// The URL without its query (no secrets are in it either way: requests
/// are signed in headers).
fn path_of(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

impl Io for WebIo {
    type Lock = WebLock;

    async fn send(&self, req: HttpRequest) -> Result<HttpResponse> {
        let id = self.next_request.get();
        self.next_request.set(id.wrapping_add(1));
        let controller = new_controller();
        // (A request that must finish is not listed: see `abort_all`.)
        if !req.finish_offline {
            self.inflight.borrow_mut().push((id, controller.clone()));
        }
        let mut sent = Sent {
            io: self,
            id,
            controller,
            method: req.method.as_str(),
            url: &req.url,
            started: js_sys::Date::now(),
            status: None,
            trace: req.trace.as_deref(),
        };
        let out = match &self.local {
            Some(bucket) => bucket.send(&req, self.now()).await,
            None => super::fetch::send(&req, &sent.controller).await,
        };
        sent.status = Some(match &out {
            Ok(r) => r.status.into(),
            Err(e) => e.kind.code().into(),
        });
        drop(sent);
        out
    }

    fn now(&self) -> EpochMillis {
        js_sys::Date::now() as EpochMillis
    }

    // The cipher: one edge call for every operation (`web::cipher`),
    // its future handed over as it is.
    fn derive_key(
        &self,
        passphrase: &str,
        salt: &[u8],
        iterations: u32,
    ) -> impl Future<Output = Result<KeyHandle>> {
        cipher::call(
            Op::Derive,
            0,
            passphrase.as_bytes(),
            salt,
            iterations,
            |v| v.map(|v| cipher::handle(&v)),
        )
    }

    fn open_key(
        &self,
        kek: KeyHandle,
        aad: &[u8],
        wrapped: &[u8],
    ) -> impl Future<Output = Option<KeyHandle>> {
        cipher::call(Op::OpenKey, kek, aad, wrapped, 0, |v| {
            v.ok()
                .filter(|v| !v.is_undefined())
                .map(|v| cipher::handle(&v))
        })
    }

    fn new_key(
        &self,
        kek: KeyHandle,
        aad: &[u8],
    ) -> impl Future<Output = Result<(Vec<u8>, KeyHandle)>> {
        cipher::call(Op::NewKey, kek, aad, &[], 0, |v| {
            let v = v?;
            let pair: &js_sys::Array = v.unchecked_ref();
            Ok((
                cipher::bytes(&pair.get(0)).unwrap_or_default(),
                cipher::handle(&pair.get(1)),
            ))
        })
    }

    fn seal(
        &self,
        key: KeyHandle,
        aad: &[u8],
        plain: &[u8],
    ) -> impl Future<Output = Result<Vec<u8>>> {
        cipher::call(Op::Seal, key, aad, plain, 0, |v| {
            Ok(cipher::bytes(&v?).unwrap_or_default())
        })
    }

    fn open(
        &self,
        key: KeyHandle,
        aad: &[u8],
        sealed: &[u8],
    ) -> impl Future<Output = Option<Vec<u8>>> {
        cipher::call(Op::Open, key, aad, sealed, 0, |v| cipher::bytes(&v.ok()?))
    }

    fn random_bytes(&self, n: usize) -> Result<Vec<u8>> {
        cipher::random_bytes(n)
    }

    // The edge's own futures, handed over as they are: an `async fn`
    // here would wrap each in one more state machine.
    fn sleep(&self, ms: u64) -> impl Future<Output = ()> {
        super::timer::sleep(ms)
    }

    fn spawn(&self, task: Task) {
        super::spawn(task);
    }

    fn online_changed(&self, online: bool) {
        if !online {
            self.abort_all();
        }
    }

    async fn gzip(&self, body: &[u8]) -> Option<Vec<u8>> {
        // The browser's own bucket stores what it is sent, and no fetch
        // would decode it on the way back; nor is there bandwidth to save.
        if self.local.is_some() {
            return None;
        }
        super::gzip::gzip(body).await
    }

    async fn refresh_credentials(&self) -> Result<Option<Credentials>> {
        let Some(provider) = &self.provider else {
            return Ok(None);
        };
        let denied = |msg: String| Error::new(ErrorKind::AccessDenied, msg);
        let returned = provider
            .call0(&JsValue::NULL)
            .map_err(|_| denied("the credentials function threw".into()))?;
        let value = wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&returned))
            .await
            .map_err(|_| denied("the credentials function rejected".into()))?;
        self.logger.emit(&event(
            "credentials",
            &[("label", self.label.as_str().into())],
        ));
        super::convert::credentials_from(&value)
            .map(Some)
            .map_err(|e| denied(e.into_message()))
    }

    fn events_ready(&self) {
        if self.scheduled.replace(true) {
            return;
        }
        let deliver = self.deliver.borrow().clone();
        let scheduled = self.scheduled.clone();
        super::spawn(Box::pin(async move {
            scheduled.set(false);
            if let Some(deliver) = deliver {
                deliver();
            }
        }));
    }

    fn store_get(&self, table: Table, key: &str) -> impl Future<Output = Result<Option<String>>> {
        self.store.get(table, key)
    }

    fn store_put(&self, table: Table, key: &str, value: &str) -> impl Future<Output = Result<()>> {
        self.store.put(table, key, value)
    }

    fn store_delete(&self, table: Table, key: &str) -> impl Future<Output = Result<()>> {
        self.store.delete(table, key)
    }

    fn store_scan(
        &self,
        table: Table,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>>> {
        self.store.scan(table, prefix)
    }

    async fn lock(&self, name: &str, wait: LockWait) -> Option<WebLock> {
        if !super::locks::supported() && !self.warned_locks.replace(true) {
            self.log(
                "locks",
                "no Web Locks in this browser: tabs of one label may commit one queued write twice",
            );
        }
        super::locks::lock(name, wait == LockWait::Wait).await
    }

    fn locks_shared(&self) -> bool {
        super::locks::supported()
    }

    fn broadcast(&self, message: &str) {
        super::channel::post(&self.channel, message);
    }

    fn log_fields(&self, kind: &str, fields: &[(&str, &str)]) {
        let e = event(kind, &[("label", self.label.as_str().into())]);
        for (k, v) in fields {
            super::convert::set(&e, k, &(*v).into());
        }
        self.logger.emit(&e);
    }
}
