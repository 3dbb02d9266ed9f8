//! The engine's `Io` natively, on tokio: what the compactor runs the
//! engine on (the engine itself makes the checkpoints and collects, so
//! there is no second implementation of either). Requests go out with the
//! proxy's HTTP client; no durable store (a compactor keeps nothing
//! between runs); no other tabs. Its futures are not `Send`: it runs on a
//! `LocalSet`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::Duration;

use mps3::engine::credentials::Credentials;
use mps3::engine::error::{Error, Result};
use mps3::engine::http::{HttpRequest, HttpResponse};
use mps3::engine::io::{Io, LockWait, Table, Task};

use crate::http::{self, Client};
use crate::server::now_ms;

pub struct NativeIo {
    http: Client,
    store: RefCell<HashMap<(Table, String), String>>,
    /// Whether the engine's log lines are printed (stderr).
    pub verbose: bool,
    /// Requests sent, and bytes sent and received (bodies): the bench's
    /// figures.
    pub requests: Cell<u64>,
    pub bytes_out: Cell<u64>,
    pub bytes_in: Cell<u64>,
    /// Where fresh credentials come from, as a browser's provider gets
    /// them: an auth proxy's credentials URL and the ID token to show it.
    pub provider: Option<(String, String)>,
}

impl NativeIo {
    pub fn new(http: Client) -> NativeIo {
        NativeIo {
            http,
            store: RefCell::new(HashMap::new()),
            verbose: false,
            requests: Cell::new(0),
            bytes_out: Cell::new(0),
            bytes_in: Cell::new(0),
            provider: None,
        }
    }
}

impl Io for NativeIo {
    type Lock = ();

    async fn send(&self, req: HttpRequest) -> Result<HttpResponse> {
        self.requests.set(self.requests.get() + 1);
        self.bytes_out
            .set(self.bytes_out.get() + req.body.len() as u64);
        let a = http::send_request(&self.http, req)
            .await
            .map_err(Error::network)?;
        self.bytes_in.set(self.bytes_in.get() + a.body.len() as u64);
        Ok(a)
    }

    fn now(&self) -> i64 {
        now_ms()
    }

    async fn sleep(&self, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    fn spawn(&self, task: Task) {
        tokio::task::spawn_local(task);
    }

    fn online_changed(&self, _online: bool) {}

    async fn gzip(&self, _body: &[u8]) -> Option<Vec<u8>> {
        None
    }

    async fn refresh_credentials(&self) -> Result<Option<Credentials>> {
        let Some((url, token)) = &self.provider else {
            return Ok(None);
        };
        let headers = [("authorization".to_string(), format!("Bearer {token}"))];
        let a = http::send(&self.http, "POST", url, &headers, Vec::new())
            .await
            .map_err(Error::network)?;
        let v: serde_json::Value = serde_json::from_slice(&a.body)
            .map_err(|_| Error::bad_response("the credentials answer is not JSON"))?;
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(String::from);
        let (Some(id), Some(secret)) = (text("accessKeyId"), text("secretAccessKey")) else {
            return Err(Error::new(
                mps3::engine::error::ErrorKind::AccessDenied,
                format!("no credentials: {}", String::from_utf8_lossy(&a.body)),
            ));
        };
        let mut c = Credentials::new(id, secret);
        if let Some(exp) = v.get("expiration").and_then(|e| e.as_i64()) {
            c = c.with_expiration(exp);
        }
        c.writer_prefix = text("writerPrefix");
        Ok(Some(c))
    }

    fn events_ready(&self) {}

    async fn store_get(&self, table: Table, key: &str) -> Result<Option<String>> {
        Ok(self.store.borrow().get(&(table, key.to_string())).cloned())
    }

    async fn store_put(&self, table: Table, key: &str, value: &str) -> Result<()> {
        self.store
            .borrow_mut()
            .insert((table, key.to_string()), value.to_string());
        Ok(())
    }

    async fn store_delete(&self, table: Table, key: &str) -> Result<()> {
        self.store.borrow_mut().remove(&(table, key.to_string()));
        Ok(())
    }

    async fn store_scan(&self, table: Table, prefix: &str) -> Result<Vec<(String, String)>> {
        let mut rows = Vec::new();
        for ((t, k), v) in self.store.borrow().iter() {
            if *t == table && k.starts_with(prefix) {
                rows.push((k.clone(), v.clone()));
            }
        }
        rows.sort();
        Ok(rows)
    }

    async fn lock(&self, _name: &str, _wait: LockWait) -> Option<()> {
        Some(())
    }

    fn locks_shared(&self) -> bool {
        false
    }

    fn broadcast(&self, _message: &str) {}

    fn log_fields(&self, kind: &str, fields: &[(&str, &str)]) {
        if self.verbose {
            let mut line = format!("mps3-proxy compact: {kind}");
            for (k, v) in fields {
                line.push_str(&format!(" {k}={v}"));
            }
            eprintln!("{line}");
        }
    }
}
