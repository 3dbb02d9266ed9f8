//! The durable store in IndexedDB (through `rexie`): one database,
//! `mps3`, with a table per `core::io::Table`, string keys and string
//! values. Opened on first use; when it cannot be (private mode, blocked,
//! no IndexedDB) every call fails with `Storage` and the engine works from
//! memory.

use std::cell::RefCell;
use std::rc::Rc;

use rexie::{KeyRange, ObjectStore, Rexie, TransactionMode};
use wasm_bindgen::JsValue;

use crate::core::error::{Error, ErrorKind, Result};
use crate::core::io::Table;

const DB_NAME: &str = "mps3";
/// Raised whenever a table is added (the upgrade creates it).
const DB_VERSION: u32 = 2;

enum State {
    Closed,
    Open(Rc<Rexie>),
    Failed(String),
}

pub struct IdbStore {
    state: RefCell<State>,
}

/// rexie's errors say no more than "idb error", so the message is ours:
/// formatting theirs would only bind their formatting code into the .wasm.
fn storage_error<E>(_: E) -> Error {
    Error::new(ErrorKind::Storage, "IndexedDB refused the request")
}

impl Default for IdbStore {
    fn default() -> IdbStore {
        IdbStore {
            state: RefCell::new(State::Closed),
        }
    }
}

impl IdbStore {
    async fn db(&self) -> Result<Rc<Rexie>> {
        match &*self.state.borrow() {
            State::Open(db) => return Ok(db.clone()),
            State::Failed(why) => return Err(Error::new(ErrorKind::Storage, why.clone())),
            State::Closed => {}
        }
        let mut builder = Rexie::builder(DB_NAME).version(DB_VERSION);
        for t in Table::ALL {
            builder = builder.add_object_store(ObjectStore::new(t.name()));
        }
        // A second caller may have opened it while we awaited.
        match builder.build().await {
            Ok(db) => {
                let db = Rc::new(db);
                *self.state.borrow_mut() = State::Open(db.clone());
                Ok(db)
            }
            Err(_) => {
                let why = "IndexedDB could not be opened";
                *self.state.borrow_mut() = State::Failed(why.into());
                Err(Error::new(ErrorKind::Storage, why))
            }
        }
    }

    pub async fn get(&self, table: Table, key: &str) -> Result<Option<String>> {
        let db = self.db().await?;
        let tx = db
            .transaction(&[table.name()], TransactionMode::ReadOnly)
            .map_err(storage_error)?;
        let store = tx.store(table.name()).map_err(storage_error)?;
        let v = store.get(key.into()).await.map_err(storage_error)?;
        Ok(v.and_then(|v| v.as_string()))
    }

    pub async fn put(&self, table: Table, key: &str, value: &str) -> Result<()> {
        let db = self.db().await?;
        let tx = db
            .transaction(&[table.name()], TransactionMode::ReadWrite)
            .map_err(storage_error)?;
        let store = tx.store(table.name()).map_err(storage_error)?;
        store
            .put(&JsValue::from_str(value), Some(&key.into()))
            .await
            .map_err(storage_error)?;
        // Durable once the transaction completes, not when the request
        // succeeds: a write is acknowledged only after this.
        tx.done().await.map_err(storage_error)?;
        Ok(())
    }

    pub async fn delete(&self, table: Table, key: &str) -> Result<()> {
        let db = self.db().await?;
        let tx = db
            .transaction(&[table.name()], TransactionMode::ReadWrite)
            .map_err(storage_error)?;
        let store = tx.store(table.name()).map_err(storage_error)?;
        store.delete(key.into()).await.map_err(storage_error)?;
        tx.done().await.map_err(storage_error)?;
        Ok(())
    }

    pub async fn scan(&self, table: Table, prefix: &str) -> Result<Vec<(String, String)>> {
        let db = self.db().await?;
        let tx = db
            .transaction(&[table.name()], TransactionMode::ReadOnly)
            .map_err(storage_error)?;
        let store = tx.store(table.name()).map_err(storage_error)?;
        // Every string starting with `prefix` sorts below prefix + U+FFFF.
        let upper = format!("{prefix}\u{ffff}");
        let range = KeyRange::bound(&prefix.into(), &upper.as_str().into(), None, None)
            .map_err(storage_error)?;
        let rows = store
            .scan(Some(range), None, None, None)
            .await
            .map_err(storage_error)?;
        Ok(rows
            .into_iter()
            .filter_map(|(k, v)| Some((k.as_string()?, v.as_string()?)))
            .collect())
    }
}
