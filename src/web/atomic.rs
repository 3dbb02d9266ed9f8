//! The `Atomic` builder (`db.atomic()`) and the `Transaction` a
//! `db.transaction` callback gets: each call converts its arguments (bad
//! input throws at once, before anything is written) and hands them to the
//! engine (`Db::atomic`, `Db::transaction`, `Db::tx_get`, `Db::tx_set`),
//! which checks, commits and runs again. The builder's methods return the
//! builder itself (index.js wraps them) so that calls chain.

use crate::prelude::*;

use alloc::rc::Rc;
use core::cell::RefCell;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::class::{js_promise, run, value};
use super::convert::{self, only_known};
use super::errors::to_js_error;
use super::io::WebIo;
use crate::engine::db::{Batch, Db, Outcome, Tx};
use crate::engine::error::Error;
use crate::engine::object::Ref;
use crate::js_api;

/// A conditional write being built (`db.atomic()`).
#[wasm_bindgen]
pub struct Atomic {
    db: Rc<Db<WebIo>>,
    bucket: String,
    checks: RefCell<Vec<(Ref, Option<String>)>>,
    batch: RefCell<Batch>,
}

fn thrown(e: Error) -> JsValue {
    to_js_error(&e)
}

impl Atomic {
    pub(super) fn new(db: Rc<Db<WebIo>>, bucket: String) -> Atomic {
        Atomic {
            db,
            bucket,
            checks: RefCell::default(),
            batch: RefCell::default(),
        }
    }
}

#[wasm_bindgen]
impl Atomic {
    /// Holds only if `key` is at `version` where the write lands (`null`:
    /// absent there).
    #[wasm_bindgen(unchecked_return_type = "Atomic")]
    pub fn check(
        &self,
        #[wasm_bindgen(unchecked_param_type = "AtomicCheck")] check: JsValue,
    ) -> Result<(), JsValue> {
        let read = || {
            only_known(&check, "check", js_api::CHECK)?;
            let key = convert::to_ref(&convert::get(&check, "key"), &self.bucket)?;
            Ok((key, convert::opt_string(&check, "version")?))
        };
        self.checks.borrow_mut().push(read().map_err(thrown)?);
        Ok(())
    }

    /// Writes `value` (any JSON) under `key` if every check holds.
    #[wasm_bindgen(unchecked_return_type = "Atomic")]
    pub fn set(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Key")] key: JsValue,
        #[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue,
    ) -> Result<(), JsValue> {
        let item = convert::to_ref(&key, &self.bucket)
            .and_then(|k| Ok((k, convert::written(&value)?)))
            .map_err(thrown)?;
        self.batch.borrow_mut().push(item);
        Ok(())
    }

    /// Deletes `key` if every check holds.
    #[wasm_bindgen(unchecked_return_type = "Atomic")]
    pub fn delete(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Key")] key: JsValue,
    ) -> Result<(), JsValue> {
        self.set(key, JsValue::UNDEFINED)
    }

    /// Commits: `{ ok: true, version }` once the entry is in the bucket
    /// (`version`: what the keys set are now at), `{ ok: false }` when a
    /// check failed (nothing written). Checks with nothing to write are
    /// held against a fresh read. Rejects with `Unsupported` on a protocol
    /// v1 manifest.
    #[wasm_bindgen(unchecked_return_type = "Promise<CommitResult>")]
    pub fn commit(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "GetOptions")] options: Option<JsValue>,
    ) -> Promise {
        run(self.prepare_commit(options.unwrap_or(JsValue::UNDEFINED)))
    }
}

impl Atomic {
    /// `commit`'s options checked (nothing sent when one is bad), then its
    /// work: the checks and writes built so far, handed to the engine.
    fn prepare_commit(
        &self,
        options: JsValue,
    ) -> Result<impl core::future::Future<Output = Result<JsValue, Error>> + 'static, Error> {
        only_known(&options, "commit", js_api::GET)?;
        let manifest = convert::manifest(&options, &self.bucket)?;
        let (checks, batch) = (self.checks.take(), self.batch.take());
        let db = self.db.clone();
        Ok(async move {
            let (ok, version) = match db.atomic(checks, batch, manifest.as_ref()).await? {
                Outcome::Committed(v) => (true, v.map_or(JsValue::NULL, JsValue::from)),
                Outcome::CheckFailed => (false, JsValue::UNDEFINED),
            };
            Ok(convert::object(&[("ok", ok.into()), ("version", version)]).into())
        })
    }
}

/// What a `db.transaction` callback reads and writes through.
#[wasm_bindgen]
pub struct Transaction {
    db: Rc<Db<WebIo>>,
    bucket: String,
    tx: Rc<Tx>,
}

#[wasm_bindgen]
impl Transaction {
    /// The value of `key` (what this run set, else as read: its version
    /// is what the commit checks).
    ///
    /// (Declared generic in `js_api`'s TypeScript.)
    #[wasm_bindgen(skip_typescript)]
    pub fn get(&self, key: JsValue) -> Promise {
        let prepared = convert::to_ref(&key, &self.bucket).map(|key| {
            let (db, tx) = (self.db.clone(), self.tx.clone());
            async move { value(db.tx_get(&tx, &key).await?.as_ref()) }
        });
        run(prepared)
    }

    /// Writes `value` (any JSON; `undefined` deletes) when the
    /// transaction commits.
    pub fn set(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Key")] key: JsValue,
        #[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue,
    ) -> Result<(), JsValue> {
        convert::to_ref(&key, &self.bucket)
            .and_then(|k| self.db.tx_set(&self.tx, k, convert::written(&value)?))
            .map_err(thrown)
    }

    /// Deletes `key` when the transaction commits.
    pub fn delete(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Key")] key: JsValue,
    ) -> Result<(), JsValue> {
        self.set(key, JsValue::UNDEFINED)
    }
}

/// `db.transaction(callback, options)`: the engine runs the callback, a
/// new `Transaction` each time, until its writes commit.
pub(super) fn transaction(
    db: Rc<Db<WebIo>>,
    bucket: String,
    callback: Function,
    options: JsValue,
) -> Promise {
    let manifest = only_known(&options, "transaction", js_api::GET)
        .and_then(|()| convert::manifest(&options, &bucket));
    let manifest = match manifest {
        Ok(m) => m,
        Err(e) => return Promise::reject(&to_js_error(&e)),
    };
    js_promise(Box::pin(async move {
        let ran = db
            .transaction(manifest, |tx| {
                let t = Transaction {
                    db: db.clone(),
                    bucket: bucket.clone(),
                    tx,
                };
                let called = callback.call1(&JsValue::NULL, &t.into());
                async move { JsFuture::from(Promise::resolve(&called?)).await }
            })
            .await;
        // The callback's own rejection passes through as it is.
        ran.map_err(|e| to_js_error(&e))?
    }))
}
