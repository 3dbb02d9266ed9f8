//! The durable store in IndexedDB: one database, `mps3`, with an object
//! store per `engine::io::Table`, string keys and string values. Opened on
//! first use; when it cannot be (private mode, blocked, no IndexedDB)
//! every call fails with `Storage` and the engine works from memory.
//!
//! The IndexedDB calls are a few lines of JavaScript (`edges.js`), each
//! operation one call from Rust: IndexedDB is events and callbacks, which
//! JavaScript writes directly, and each browser call made from Rust is an
//! import with a shim in the glue and its argument passing in the .wasm
//! (a wrapper crate brought tens of kilobytes more, docs/size.md). The
//! layout is rexie's (out-of-line string keys, no indexes, version 2), so
//! stores written by earlier releases read on.

use crate::prelude::*;

use core::cell::RefCell;

use js_sys::{Array, Promise};
use wasm_bindgen::{prelude::wasm_bindgen, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::io::Table;

use super::convert::get;

/// `mps3IdbOpen(tables)`: a promise of the database, its missing tables
/// created. A tab of a release before this one that holds version 1 open
/// and does not let go blocks the upgrade: the promise fails at once (the
/// engine works from memory rather than wait), and should that tab close
/// later, the upgrade is aborted, so no connection is left open and the
/// next page load upgrades. A newer release opening a higher version in
/// another tab waits until every connection closes: this one lets go, and
/// its later calls fail (memory only).
///
/// `mps3Idb(db, op, table, key, value, strict)`: one operation in a
/// transaction of its own: `{ v }` for a get (0), `{ k, v }` (keys and
/// values in key order, of one read-only transaction) for a scan of the
/// keys starting with `key` (3), `{}` once a put (1) or delete (2)
/// committed (durable then, not when its request succeeded; `strict`
/// asks the browser to flush it to disk first); `{ e: 1 }` when the
/// database could not be opened, `{ e: 2 }` when the request failed.
#[wasm_bindgen(module = "/src/web/edges.js")]
extern "C" {
    #[wasm_bindgen(js_name = mps3IdbOpen)]
    fn idb_open(tables: &str) -> Promise;
    #[wasm_bindgen(js_name = mps3Idb)]
    fn idb(open: &Promise, op: u8, table: &str, key: &str, value: &str, strict: bool) -> Promise;
}

// The operations of `mps3Idb`, numbered as edges.js numbers them.
const GET: u8 = 0;
const PUT: u8 = 1;
const DELETE: u8 = 2;
const SCAN: u8 = 3;

#[derive(Default)]
pub struct IdbStore {
    /// The database as `mps3IdbOpen` promised it, once first asked for:
    /// callers that come while it opens, and after, await the same one.
    db: RefCell<Option<Promise>>,
}

impl IdbStore {
    /// One operation (see `mps3Idb`): its answer, or `Storage`. IndexedDB's
    /// errors (a `DOMException`) name no more than the engine needs to
    /// know: the store is not there to rely on.
    async fn run(&self, op: u8, table: Table, key: &str, value: &str) -> Result<JsValue> {
        let db = self
            .db
            .borrow_mut()
            .get_or_insert_with(|| {
                let mut tables = String::new();
                for t in Table::ALL {
                    tables.push_str(&cat!(t.name(), " "));
                }
                idb_open(tables.trim_end())
            })
            .clone();
        // The write queue and the browser's own bucket are what an
        // acknowledgement stands on: flushed to disk before `complete`.
        // The other tables are caches of the bucket, written with the
        // browser's defaults.
        let strict = op != GET && op != SCAN && matches!(table, Table::Queue | Table::Bucket);
        let answer = JsFuture::from(idb(&db, op, table.name(), key, value, strict)).await;
        // (`mps3Idb` answers every failure; a rejection would be a bug.)
        let failed = answer.as_ref().map_or(Some(2.0), |a| get(a, "e").as_f64());
        match (answer, failed) {
            (Ok(answer), None) => Ok(answer),
            (_, e) => Err(Error::new(
                ErrorKind::Storage,
                if e == Some(1.0) {
                    "IndexedDB could not be opened"
                } else {
                    "IndexedDB refused the request"
                },
            )),
        }
    }

    pub async fn get(&self, table: Table, key: &str) -> Result<Option<String>> {
        Ok(get(&self.run(GET, table, key, "").await?, "v").as_string())
    }

    pub async fn put(&self, table: Table, key: &str, value: &str) -> Result<()> {
        self.run(PUT, table, key, value).await.map(drop)
    }

    pub async fn delete(&self, table: Table, key: &str) -> Result<()> {
        self.run(DELETE, table, key, "").await.map(drop)
    }

    pub async fn scan(&self, table: Table, prefix: &str) -> Result<Vec<(String, String)>> {
        let answer = self.run(SCAN, table, prefix, "").await?;
        let (keys, values) = (
            Array::from(&get(&answer, "k")),
            Array::from(&get(&answer, "v")),
        );
        let mut out = Vec::new();
        for i in 0..keys.length().min(values.length()) {
            if let (Some(k), Some(v)) = (keys.get(i).as_string(), values.get(i).as_string()) {
                out.push((k, v));
            }
        }
        Ok(out)
    }
}
