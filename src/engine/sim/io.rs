//! The simulation's `Io`: a client's requests go through the faulty
//! network to the in-memory S3 on the virtual clock; its store, locks and
//! channel are the device's (`device`); its tasks run in its executor
//! group, so that a crash ends them all.

use super::*;

/// A log event as the engine gave it: its kind and fields.
pub(super) type LogEvent = (String, Vec<(String, String)>);

pub(super) struct SimIo {
    pub(super) exec: Rc<Executor>,
    pub(super) model: Rc<RefCell<InMemoryS3>>,
    pub(super) net: Rc<RefCell<Net>>,
    pub(super) skew: i64,
    pub(super) client: usize,
    pub(super) device: Rc<Device>,
    /// Offline: requests fail at once, as the browser edge's aborted
    /// fetches do.
    pub(super) offline: Rc<Cell<bool>>,
    /// How many times the app's switch turned the client offline.
    pub(super) offline_switches: Cell<u32>,
    /// The network is gone without the client being told: every request
    /// fails as a `fetch` with no route does, and an answer on its way is
    /// lost.
    pub(super) blackout: Cell<bool>,
    /// The browser refuses every preflighted request (a bucket whose CORS
    /// rule allows only GET): they fail as such a `fetch` does, unsent,
    /// while presigned GETs are answered.
    pub(super) blocks_writes: Cell<bool>,
    /// Kill this client (its tasks' group) right after its n-th request
    /// reaches the server: `(n, whether the server applies it)`.
    pub(super) crash_at: Cell<Option<(u32, bool)>>,
    pub(super) sent: Cell<u32>,
    /// Each request sent, as `<METHOD> <url>`: what scripted tests check
    /// their request numbers against.
    pub(super) requests: RefCell<Vec<String>>,
    /// The structured log events the engine gave: (kind, fields).
    pub(super) logs: RefCell<Vec<LogEvent>>,
    /// Scripted faults by request number.
    pub(super) script: RefCell<BTreeMap<u32, Fault>>,
    pub(super) namespace: String,
    /// The executor group of this client's tasks (a tab).
    pub(super) group: usize,
    /// What `Io::gzip` answers with: none (uploads go as they are) but
    /// in the scripted test of the engine's choice of what to compress.
    pub(super) compress: Cell<Option<Compressor>>,
    /// Called on a task of its own when the engine queued events, as the
    /// browser edge delivers them to subscribers' handlers.
    pub(super) deliver: RefCell<Option<Rc<dyn Fn()>>>,
    /// Bodies sent and received (bytes), for the benchmark.
    pub(super) bytes: Cell<(usize, usize)>,
    /// Keys of encrypted manifests, as the browser's WebCrypto holds them.
    pub(super) cipher: cipher::SimCipher,
}

/// A stand-in for the browser's gzip (`SimIo::compress`).
pub(super) type Compressor = fn(&[u8]) -> Vec<u8>;

/// Printed when one seed is replayed (`MPS3_SIM_SEED`).
pub(super) fn tracing() -> bool {
    std::env::var("MPS3_SIM_SEED").is_ok()
}

impl SimIo {
    pub(super) fn latency(&self) -> u64 {
        if let Some(ms) = self.net.borrow().fixed_latency_ms {
            return ms;
        }
        let slow = self.net.borrow().slow_rate;
        let mut rng = self.exec.rng.borrow_mut();
        let roll = rng.next_f64();
        if roll < slow * 0.2 {
            rng.range(1_000, 4_000)
        } else if roll < slow {
            rng.range(100, 1_000)
        } else {
            rng.range(1, 60)
        }
    }
}

impl SimIo {
    /// No answer, ever: a connection that stalled after (or before) the
    /// server applied the request. Only the engine's time limit ends it,
    /// or going offline, which aborts it as the browser edge does.
    pub(super) async fn stall(&self, finish_offline: bool) -> Result<HttpResponse> {
        /// In a replay's trace, when the stall ended: dropped by the time
        /// limit, a crash, or returning once offline.
        struct StallEnd(usize, Rc<Executor>);
        impl Drop for StallEnd {
            fn drop(&mut self) {
                if tracing() {
                    eprintln!("t={} c{} stall ends", self.1.now() - START, self.0);
                }
            }
        }
        let _end = StallEnd(self.client, self.exec.clone());
        loop {
            self.exec.sleep(100).await;
            if self.offline.get() && !finish_offline {
                return Err(Error::network("aborted"));
            }
        }
    }
}

impl Io for SimIo {
    type Lock = SimLock;

    async fn derive_key(
        &self,
        passphrase: &str,
        salt: &[u8],
        iterations: u32,
    ) -> Result<KeyHandle> {
        Ok(self.cipher.derive(passphrase, salt, iterations))
    }

    async fn open_key(&self, kek: KeyHandle, aad: &[u8], wrapped: &[u8]) -> Option<KeyHandle> {
        let raw = self.cipher.open(kek, aad, wrapped)?;
        self.cipher.import(&raw).ok()
    }

    async fn new_key(&self, kek: KeyHandle, aad: &[u8]) -> Result<(Vec<u8>, KeyHandle)> {
        let raw = self.random_bytes(32)?;
        let wrapped = self.seal(kek, aad, &raw).await?;
        Ok((wrapped, self.cipher.import(&raw)?))
    }

    async fn seal(&self, key: KeyHandle, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0; 12];
        nonce.copy_from_slice(&self.random_bytes(12)?);
        Ok(self.cipher.seal(key, aad, plain, nonce))
    }

    async fn open(&self, key: KeyHandle, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        self.cipher.open(key, aad, sealed)
    }

    fn random_bytes(&self, n: usize) -> Result<Vec<u8>> {
        let mut rng = self.exec.rng.borrow_mut();
        Ok((0..n).map(|_| rng.next_u64() as u8).collect())
    }

    async fn send(&self, req: HttpRequest) -> Result<HttpResponse> {
        if self.offline.get() {
            return Err(Error::network("offline"));
        }
        if self.blackout.get() {
            self.exec.sleep(self.latency()).await;
            return Err(Error::network("no route to the bucket"));
        }
        if self.blocks_writes.get() && req.preflighted() {
            self.exec.sleep(self.latency()).await;
            return Err(Error::network("Failed to fetch (its preflight refused)"));
        }
        let mut req = req;
        req.url = crate::engine::s3::in_memory::as_fetch_sends(&req.url);
        self.exec.sleep(self.latency()).await;
        self.sent.set(self.sent.get() + 1);
        self.requests
            .borrow_mut()
            .push(format!("{:?} {}", req.method, req.url));
        if let Some((n, applied)) = self.crash_at.get() {
            if self.sent.get() == n {
                if applied {
                    self.model.borrow_mut().apply(&req, self.exec.now());
                }
                if tracing() {
                    eprintln!("c{} crashes at request {n} ({})", self.client, req.url);
                }
                let (exec, victim) = (self.exec.clone(), self.group);
                self.exec
                    .spawn(usize::MAX - 2, async move { exec.kill(victim) });
                std::future::pending::<()>().await;
            }
        }
        if self.offline.get() && !req.finish_offline {
            // Went offline meanwhile: the edge aborted it.
            return Err(Error::network("aborted"));
        }
        if self.blackout.get() {
            // The network went while it was on its way: applied or not.
            if self.exec.rng.borrow_mut().next_f64() < 0.5 {
                self.model.borrow_mut().apply(&req, self.exec.now());
            }
            return Err(Error::network("connection lost"));
        }
        let scripted = self.script.borrow().get(&self.sent.get()).copied();
        let stalls = {
            let mut net = self.net.borrow_mut();
            net.stall_rate > 0.0 && net.stall_rng.next_f64() < net.stall_rate
        };
        if stalls || matches!(scripted, Some(Fault::Stall | Fault::StallApplied)) {
            let applied = match scripted {
                Some(fault) => fault == Fault::StallApplied,
                None => self.net.borrow_mut().stall_rng.next_f64() < 0.5,
            };
            let late = if applied {
                let mut net = self.net.borrow_mut();
                let (rate, max) = (net.late_rate, net.late_max_ms);
                (rate > 0.0 && net.late_rng.next_f64() < rate)
                    .then(|| net.late_rng.range(1, max.max(2)))
            } else {
                None
            };
            if tracing() {
                eprintln!(
                    "t={} c{} {} {} -> stalls (applied: {applied}{})",
                    self.exec.now() - START,
                    self.client,
                    req.method.as_str(),
                    req.url,
                    late.map_or(String::new(), |ms| format!(", {ms} ms late")),
                );
            }
            match late {
                // The server's own task: the client's crash does not stop it.
                Some(ms) => {
                    let (exec, model, req) = (self.exec.clone(), self.model.clone(), req.clone());
                    let client = self.client;
                    self.exec.spawn(usize::MAX - 3, async move {
                        exec.sleep(ms).await;
                        if tracing() {
                            eprintln!(
                                "t={} c{client} {} {} applied late",
                                exec.now() - START,
                                req.method.as_str(),
                                req.url
                            );
                        }
                        model.borrow_mut().apply(&req, exec.now());
                        APPLIED_LATE.with(|n| n.set(n.get() + 1));
                    });
                }
                None if applied => {
                    self.model.borrow_mut().apply(&req, self.exec.now());
                }
                None => {}
            }
            return self.stall(req.finish_offline).await;
        }
        match scripted {
            Some(Fault::AnswerLost) => {
                self.model.borrow_mut().apply(&req, self.exec.now());
                self.exec.sleep(self.latency()).await;
                return Err(Error::network("answer lost (scripted)"));
            }
            Some(Fault::SlowDown) => {
                let now = self.exec.now();
                self.exec.sleep(self.latency()).await;
                return Ok(HttpResponse {
                    status: 503,
                    headers: vec![("date".into(), crate::engine::time::format_http_date(now))],
                    body: b"<Error><Code>SlowDown</Code><Message>scripted</Message></Error>"
                        .to_vec(),
                });
            }
            Some(Fault::Stall | Fault::StallApplied) | None => {}
        }
        let conflict = {
            let mut net = self.net.borrow_mut();
            net.conflict_rate > 0.0
                && req.method == crate::engine::http::Method::Put
                && req.url.contains(".v2/log/")
                && net.conflict_rng.next_f64() < net.conflict_rate
        };
        if conflict {
            let now = self.exec.now();
            self.exec.sleep(self.latency()).await;
            return Ok(HttpResponse {
                status: 409,
                headers: vec![("date".into(), crate::engine::time::format_http_date(now))],
                body: b"<Error><Code>ConditionalRequestConflict</Code><Message>injected</Message></Error>"
                    .to_vec(),
            });
        }
        let rate = self.net.borrow().fault_rate;
        let roll = self.exec.rng.borrow_mut().next_f64();
        let now = self.exec.now();
        let fault = |status: u16, code: &str| HttpResponse {
            status,
            headers: vec![("date".into(), crate::engine::time::format_http_date(now))],
            body: format!("<Error><Code>{code}</Code><Message>injected</Message></Error>")
                .into_bytes(),
        };
        let label = format!(
            "{} {}",
            req.method.as_str(),
            req.url.trim_start_matches("http://s3.sim/sim")
        );
        let outcome = if roll < rate * 0.25 {
            Ok(fault(503, "SlowDown"))
        } else if roll < rate * 0.5 {
            Ok(fault(500, "InternalError"))
        } else if roll < rate * 0.75 {
            // Applied, but the answer is lost.
            self.model.borrow_mut().apply(&req, now);
            Err(Error::network(
                "connection reset (after the server applied it)",
            ))
        } else if roll < rate {
            Err(Error::network("connection reset"))
        } else {
            Ok(self.model.borrow_mut().apply(&req, now))
        };
        if tracing() {
            let status = match &outcome {
                Ok(r) => r.status.to_string(),
                Err(_) => "lost".into(),
            };
            let extra = match (&outcome, req.method) {
                (Ok(r), crate::engine::http::Method::Put) if r.status == 200 => {
                    format!(
                        " body={}",
                        String::from_utf8_lossy(&req.body).replace(['\n', ' '], "")
                    )
                }
                _ => String::new(),
            };
            eprintln!(
                "t={} c{} {label} -> {status}{extra}",
                now - START,
                self.client
            );
        }
        self.exec.sleep(self.latency()).await;
        let (up, down) = self.bytes.get();
        let answered = outcome.as_ref().map_or(0, |r| r.body.len());
        self.bytes.set((up + req.body.len(), down + answered));
        outcome
    }

    fn now(&self) -> i64 {
        self.exec.now() + self.skew
    }

    async fn sleep(&self, ms: u64) {
        self.exec.sleep(ms).await;
    }

    /// In this client's group: a crash of the client ends its tasks.
    fn spawn(&self, task: Task) {
        self.exec.spawn(self.group, task);
    }

    fn online_changed(&self, online: bool) {
        self.offline.set(!online);
        if !online {
            self.offline_switches.set(self.offline_switches.get() + 1);
        }
    }

    /// The simulation's model is no browser that would decode
    /// `Content-Encoding`: values and entries are sent as they are (the
    /// browser tests cover compressed ones, against a real server), unless
    /// a scripted test set a compressor.
    async fn gzip(&self, body: &[u8]) -> Option<Vec<u8>> {
        self.compress.get().map(|f| f(body))
    }

    async fn refresh_credentials(&self) -> Result<Option<Credentials>> {
        Ok(None)
    }

    fn events_ready(&self) {
        if let Some(deliver) = self.deliver.borrow().clone() {
            self.exec.spawn(self.group, async move { deliver() });
        }
    }

    async fn store_get(&self, table: Table, key: &str) -> Result<Option<String>> {
        self.device.get(table, key)
    }

    async fn store_put(&self, table: Table, key: &str, value: &str) -> Result<()> {
        self.device.put(table, key, value)
    }

    async fn store_delete(&self, table: Table, key: &str) -> Result<()> {
        self.device.delete(table, key)
    }

    async fn store_scan(&self, table: Table, prefix: &str) -> Result<Vec<(String, String)>> {
        self.device.scan(table, prefix)
    }

    async fn lock(&self, name: &str, wait: LockWait) -> Option<SimLock> {
        loop {
            match (self.device.try_lock(name), wait) {
                (Some(l), _) => return Some(l),
                (None, LockWait::IfFree) => return None,
                // Waiters look again after a random pause: locks a dead
                // tab let go at once reach their waiters in no set order,
                // as Web Locks promise none.
                (None, LockWait::Wait) => {
                    let pause = self.exec.rng.borrow_mut().range(1, 10);
                    self.exec.sleep(pause).await;
                }
            }
        }
    }

    fn locks_shared(&self) -> bool {
        true
    }

    fn broadcast(&self, message: &str) {
        self.device.broadcast(self.group, &self.namespace, message);
    }

    fn log_fields(&self, kind: &str, fields: &[(&str, &str)]) {
        self.logs.borrow_mut().push((
            kind.to_string(),
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ));
        if tracing() {
            eprintln!("c{} log {kind}: {fields:?}", self.client);
        }
    }
}
