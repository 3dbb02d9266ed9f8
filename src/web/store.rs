//! The durable store in IndexedDB: one database, `mps3`, with an object
//! store per `engine::io::Table`, string keys and string values. Opened on
//! first use; when it cannot be (private mode, blocked, no IndexedDB)
//! every call fails with `Storage` and the engine works from memory.
//!
//! Written on web-sys's IndexedDB bindings rather than a wrapper crate:
//! the engine needs four operations of one request each, and a wrapper
//! brings tens of kilobytes (docs/size.md). The layout is rexie's
//! (out-of-line string keys, no indexes, version 2), so stores written by
//! earlier releases read on.
//!
//! Each IndexedDB request becomes a `Promise` whose `resolve`/`reject`
//! are the request's own `onsuccess`/`onerror`: no Rust closure outlives
//! the call, and the result is read from the request once it settled.

use crate::prelude::*;

use core::cell::RefCell;

use js_sys::{Function, Promise};
use wasm_bindgen::{closure::Closure, prelude::wasm_bindgen, JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    IdbDatabase, IdbFactory, IdbKeyRange, IdbObjectStore, IdbOpenDbRequest, IdbRequest,
    IdbTransaction,
};

use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::io::Table;

#[wasm_bindgen]
extern "C" {
    /// An `IDBDatabase`, for `transaction(name, mode, { durability })`,
    /// which web-sys has only behind `web_sys_unstable_apis`. Browsers
    /// without the option ignore it.
    type Database;
    #[wasm_bindgen(catch, method, js_name = transaction)]
    fn transaction_with(
        this: &Database,
        store: &str,
        mode: &str,
        options: &JsValue,
    ) -> core::result::Result<IdbTransaction, JsValue>;
}

const DB_NAME: &str = "mps3";
/// Raised whenever a table is added (the upgrade creates it).
const DB_VERSION: u32 = 2;

enum State {
    Closed,
    /// Callers that come while it opens wait on the same request.
    Opening {
        request: IdbOpenDbRequest,
        opened: Promise,
        _upgrade: Closure<dyn FnMut(JsValue)>,
    },
    Open(IdbDatabase),
    Failed,
}

pub struct IdbStore {
    state: RefCell<State>,
}

impl Default for IdbStore {
    fn default() -> IdbStore {
        IdbStore {
            state: RefCell::new(State::Closed),
        }
    }
}

/// IndexedDB's errors (a `DOMException`) name no more than the engine
/// needs to know: the store is not there to rely on.
fn refused<E>(_: E) -> Error {
    Error::new(ErrorKind::Storage, "IndexedDB refused the request")
}

fn unavailable<E>(_: E) -> Error {
    Error::new(ErrorKind::Storage, "IndexedDB could not be opened")
}

/// A promise whose `resolve` and `reject` functions `set` installs as
/// event handlers (before this returns): it settles with the first of
/// them that fires.
fn settled(set: impl FnOnce(&Function, &Function)) -> JsFuture {
    let mut set = Some(set);
    JsFuture::from(Promise::new(&mut |resolve, reject| {
        if let Some(set) = set.take() {
            set(&resolve, &reject);
        }
    }))
}

/// The result of `request`, once it succeeded.
async fn result(request: IdbRequest) -> Result<JsValue> {
    settled(|ok, fail| {
        request.set_onsuccess(Some(ok));
        request.set_onerror(Some(fail));
    })
    .await
    .map_err(refused)?;
    request.result().map_err(refused)
}

/// Waits until `tx` committed: a write is durable then, not when its
/// request succeeded.
fn committed(tx: &IdbTransaction) -> JsFuture {
    settled(|ok, fail| {
        tx.set_oncomplete(Some(ok));
        tx.set_onerror(Some(fail));
        tx.set_onabort(Some(fail));
    })
}

impl IdbStore {
    async fn db(&self) -> Result<IdbDatabase> {
        let (request, opened, first) = match &*self.state.borrow() {
            State::Open(db) => return Ok(db.clone()),
            State::Failed => return Err(unavailable(())),
            State::Opening {
                request, opened, ..
            } => (request.clone(), opened.clone(), false),
            State::Closed => {
                let (request, opened) = open().map_err(unavailable)?;
                (request, opened, true)
            }
        };
        if first {
            let upgrade = on_upgrade(request.clone());
            request.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
            *self.state.borrow_mut() = State::Opening {
                request: request.clone(),
                opened: opened.clone(),
                _upgrade: upgrade,
            };
        }
        let outcome = JsFuture::from(opened).await.and_then(|_| request.result());
        let mut state = self.state.borrow_mut();
        match outcome {
            Ok(db) => {
                let db: IdbDatabase = db.unchecked_into();
                // A newer release opening a higher version in another tab
                // waits until every connection closes: this one lets go,
                // and its later calls fail as `Storage` (memory only).
                if let Ok(close) = js_sys::Reflect::get(&db, &"close".into()) {
                    let close: Function = close.unchecked_into();
                    db.set_onversionchange(Some(&close.bind0(&db)));
                }
                *state = State::Open(db.clone());
                Ok(db)
            }
            Err(e) => {
                *state = State::Failed;
                Err(unavailable(e))
            }
        }
    }

    /// The object store of `table` in a new transaction of its own.
    async fn table(&self, table: Table, write: bool) -> Result<(IdbTransaction, IdbObjectStore)> {
        let db = self.db().await?;
        // The write queue and the browser's own bucket are what an
        // acknowledgement stands on: flushed to disk before `complete`. The
        // other tables are caches of the bucket.
        // Other transactions take the browser's defaults (no options).
        let options = if write && matches!(table, Table::Queue | Table::Bucket) {
            let o = js_sys::Object::new();
            let _ = js_sys::Reflect::set(&o, &"durability".into(), &"strict".into());
            o.into()
        } else {
            JsValue::UNDEFINED
        };
        let mode = if write { "readwrite" } else { "readonly" };
        let tx = db
            .unchecked_ref::<Database>()
            .transaction_with(table.name(), mode, &options)
            .map_err(refused)?;
        let store = tx.object_store(table.name()).map_err(refused)?;
        Ok((tx, store))
    }

    pub async fn get(&self, table: Table, key: &str) -> Result<Option<String>> {
        let (_, store) = self.table(table, false).await?;
        let request = store.get(&key.into()).map_err(refused)?;
        Ok(result(request).await?.as_string())
    }

    pub async fn put(&self, table: Table, key: &str, value: &str) -> Result<()> {
        let (tx, store) = self.table(table, true).await?;
        let done = committed(&tx);
        store
            .put_with_key(&value.into(), &key.into())
            .map_err(refused)?;
        done.await.map_err(refused)?;
        Ok(())
    }

    pub async fn delete(&self, table: Table, key: &str) -> Result<()> {
        let (tx, store) = self.table(table, true).await?;
        let done = committed(&tx);
        store.delete(&key.into()).map_err(refused)?;
        done.await.map_err(refused)?;
        Ok(())
    }

    pub async fn scan(&self, table: Table, prefix: &str) -> Result<Vec<(String, String)>> {
        let (_, store) = self.table(table, false).await?;
        // Every string starting with `prefix` sorts below prefix + U+FFFF.
        let upper = cat!(prefix, "\u{ffff}");
        let range = IdbKeyRange::bound(&prefix.into(), &upper.into()).map_err(refused)?;
        // Keys and values of one read-only transaction, both in key order.
        let keys = store.get_all_keys_with_key(&range).map_err(refused)?;
        let values = store.get_all_with_key(&range).map_err(refused)?;
        let keys = js_sys::Array::from(&result(keys).await?);
        let values = js_sys::Array::from(&result(values).await?);
        let mut out = Vec::new();
        for (k, v) in keys.iter().zip(values.iter()) {
            if let (Some(k), Some(v)) = (k.as_string(), v.as_string()) {
                out.push((k, v));
            }
        }
        Ok(out)
    }
}

/// Starts opening the database: the request and a promise of its outcome.
fn open() -> core::result::Result<(IdbOpenDbRequest, Promise), JsValue> {
    let factory: IdbFactory =
        js_sys::Reflect::get(&js_sys::global(), &"indexedDB".into())?.dyn_into()?;
    let request = factory.open_with_u32(DB_NAME, DB_VERSION)?;
    let mut set = |resolve: Function, reject: Function| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
        // A tab of a release before this one holds version 1 open and does
        // not let go: work from memory rather than wait. Should that tab
        // close later, the upgrade runs into the handler dropped with the
        // failed state, which throws; the upgrade aborts, no connection
        // is left open, and the next page load upgrades.
        request.set_onblocked(Some(&reject));
    };
    let opened = Promise::new(&mut set);
    Ok((request, opened))
}

/// Creates the object stores a new or older database lacks.
fn on_upgrade(request: IdbOpenDbRequest) -> Closure<dyn FnMut(JsValue)> {
    Closure::new(move |_: JsValue| {
        let Ok(db) = request.result() else { return };
        let db: IdbDatabase = db.unchecked_into();
        let names = db.object_store_names();
        for t in Table::ALL {
            if !names.contains(t.name()) {
                let _ = db.create_object_store(t.name());
            }
        }
    })
}
