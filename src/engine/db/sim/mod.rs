//! Deterministic simulation of many clients over one bucket.
//!
//! Each seed draws a schedule: 2-4 clients with skewed clocks (some by a
//! minute), a random workload over a few shared keys, request latencies
//! from milliseconds to seconds, injected 503/500, lost responses and
//! resets, requests that never answer (ended by the engine's time limit),
//! sometimes a client crashing mid-write. The executor runs it on a
//! virtual clock; then faults stop, the survivors and a fresh client read
//! everything, and the checker judges the history:
//!
//! * convergence: every client reads the same final state, and it is the
//!   oracle's, last-writer-wins over every valid entry ever written (so a
//!   write the log lost shows as a difference);
//! * nothing acknowledged is lost: every acknowledged write is in a valid
//!   entry;
//! * sessions: a client's reads never go back behind its own acknowledged
//!   writes or what it already read (read-your-writes, monotonic reads);
//! * subscribers: one call per version, never the same value twice, the
//!   last one the final value.
//!
//! `MPS3_SIM_SEEDS=N` runs seeds up to N (default 1000), from
//! `MPS3_SIM_FROM` (default 1), and the regression seeds; `MPS3_SIM_SEED=S`
//! replays one, printing its history.

mod change;
mod device;
mod executor;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::rc::Rc;

use crate::engine::s3::in_memory::InMemoryS3;
use device::{Device, SimLock};
use executor::Executor;

use super::sync::{AUTOCLEAN_GRACE_MS, SURELY_UNCOLLECTED_MS};
use super::{Ack, Change, Db, DbConfig, Event, JsonText, QueuedWrite};
use crate::engine::credentials::Credentials;
use crate::engine::error::{Error, Result};
use crate::engine::http::{HttpRequest, HttpResponse};
use crate::engine::io::{Io, LockWait, Table, Task};
use crate::engine::manifest::{parse_entry_key, EntryBody, Ref, LAG_WINDOW_MS};
use crate::engine::rng::Rng;
use crate::engine::s3::{S3Config, S3};

const BUCKET: &str = "sim";

/// A read's values, key by key (`None`: absent).
type Reads = Vec<Option<String>>;
/// An entry's changes: url → version, or `None` for a delete.
type Changes = Vec<(String, Option<String>)>;
const MANIFEST: &str = "manifest.json";
const START: i64 = 1_795_692_057_132;

struct Net {
    fault_rate: f64,
    slow_rate: f64,
    /// Requests that never answer (see `SimIo::stall`), drawn from their
    /// own generator: seeds without stalls keep the schedules they had
    /// before stalls were simulated.
    stall_rate: f64,
    stall_rng: Rng,
    /// Stalled requests the server applies only later, up to `late_max_ms`
    /// after they reached it (a server slow to finish a request while
    /// the client's time limit has already given up on it; see
    /// `late_rate`), drawn from a generator of their own too.
    late_rate: f64,
    late_max_ms: u64,
    late_rng: Rng,
}

impl Net {
    fn calm() -> Net {
        Net {
            fault_rate: 0.0,
            slow_rate: 0.0,
            stall_rate: 0.0,
            stall_rng: Rng::new(0),
            late_rate: 0.0,
            late_max_ms: 0,
            late_rng: Rng::new(0),
        }
    }
}

/// A quarter of the seeds stall 2% of their requests. Stalls found two
/// bugs at once, in seeds 327 and 907: an attempt's fate checked after
/// autoclean could have collected the entry (a crash and a stall of a
/// minute; a PUT retried for a minute, then refused as already there),
/// when the grace was one minute.
fn stall_rate(seed: u64) -> f64 {
    if stall_draws(seed).next_f64() < 0.25 {
        0.02
    } else {
        0.0
    }
}

fn stall_draws(seed: u64) -> Rng {
    Rng::new(seed ^ 0x5354_414c_4c53)
}

/// In 30 % of the seeds that stall, half of the stalled requests the
/// server applies are applied late: up to twice the time limit after
/// they reached the server, when the client has timed out and may have
/// retried, gone on, crashed or gone offline.
fn late_rate(seed: u64) -> f64 {
    if stall_rate(seed) > 0.0 && late_draws(seed).next_f64() < 0.3 {
        0.5
    } else {
        0.0
    }
}

fn late_draws(seed: u64) -> Rng {
    Rng::new(seed ^ 0x4c41_5445_5f42)
}

thread_local! {
    /// Requests the server applied late in this thread's current run
    /// (the run's figure for the summary: that late requests happened).
    static APPLIED_LATE: Cell<u32> = const { Cell::new(0) };
}

struct SimIo {
    exec: Rc<Executor>,
    model: Rc<RefCell<InMemoryS3>>,
    net: Rc<RefCell<Net>>,
    skew: i64,
    client: usize,
    device: Rc<Device>,
    /// Offline: requests fail at once, as the browser edge's aborted
    /// fetches do.
    offline: Rc<Cell<bool>>,
    /// Kill this client (its tasks' group) right after its n-th request
    /// reaches the server: `(n, whether the server applies it)`.
    crash_at: Cell<Option<(u32, bool)>>,
    sent: Cell<u32>,
    /// Each request sent, as `<METHOD> <url>`: what scripted tests check
    /// their request numbers against.
    requests: RefCell<Vec<String>>,
    /// Scripted faults by request number: "drop" (applied, the answer
    /// lost), "503", "stall" or "stall-applied" (no answer ever, the
    /// request not applied or applied).
    script: RefCell<BTreeMap<u32, &'static str>>,
    namespace: String,
    /// The executor group of this client's tasks (a tab).
    group: usize,
    /// What `Io::gzip` answers with: none (uploads go as they are) but
    /// in the scripted test of the engine's choice of what to compress.
    compress: Cell<Option<Compressor>>,
    /// Called on a task of its own when the engine queued events, as the
    /// browser edge delivers them to subscribers' handlers.
    deliver: RefCell<Option<Rc<dyn Fn()>>>,
}

/// A stand-in for the browser's gzip (`SimIo::compress`).
type Compressor = fn(&[u8]) -> Vec<u8>;

/// Printed when one seed is replayed (`MPS3_SIM_SEED`).
fn tracing() -> bool {
    std::env::var("MPS3_SIM_SEED").is_ok()
}

impl SimIo {
    fn latency(&self) -> u64 {
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
    async fn stall(&self, finish_offline: bool) -> Result<HttpResponse> {
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

    async fn send(&self, req: HttpRequest) -> Result<HttpResponse> {
        if self.offline.get() {
            return Err(Error::network("offline"));
        }
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
        let scripted = self.script.borrow().get(&self.sent.get()).copied();
        let stalls = {
            let mut net = self.net.borrow_mut();
            net.stall_rate > 0.0 && net.stall_rng.next_f64() < net.stall_rate
        };
        if stalls || matches!(scripted, Some("stall" | "stall-applied")) {
            let applied = match scripted {
                Some(s) => s == "stall-applied",
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
            Some("drop") => {
                self.model.borrow_mut().apply(&req, self.exec.now());
                self.exec.sleep(self.latency()).await;
                return Err(Error::network("answer lost (scripted)"));
            }
            Some(_) => {
                let now = self.exec.now();
                self.exec.sleep(self.latency()).await;
                return Ok(HttpResponse {
                    status: 503,
                    headers: vec![("date".into(), crate::engine::time::format_http_date(now))],
                    body: b"<Error><Code>SlowDown</Code><Message>scripted</Message></Error>"
                        .to_vec(),
                });
            }
            None => {}
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
        outcome
    }

    fn now(&self) -> i64 {
        self.exec.now() + self.skew
    }

    async fn sleep(&self, ms: u64) {
        self.exec.sleep(ms).await
    }

    /// In this client's group: a crash of the client ends its tasks.
    fn spawn(&self, task: Task) {
        self.exec.spawn(self.group, task);
    }

    fn online_changed(&self, online: bool) {
        self.offline.set(!online);
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
                (None, LockWait::Wait) => self.exec.sleep(5).await,
            }
        }
    }

    fn locks_shared(&self) -> bool {
        true
    }

    fn broadcast(&self, message: &str) {
        self.device.broadcast(self.group, &self.namespace, message);
    }

    fn log(&self, kind: &str, message: &str) {
        if tracing() {
            eprintln!("c{} log {kind}: {message}", self.client);
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Put(String, Option<String>),
    PutAll(Vec<(String, Option<String>)>),
    Get(String),
    GetAll(Vec<String>),
}

impl Op {
    /// The (key, value) pairs a write sets (deletes set none).
    fn values_written(&self) -> Vec<(String, String)> {
        match self {
            Op::Put(k, Some(v)) => vec![(k.clone(), v.clone())],
            Op::PutAll(es) => es
                .iter()
                .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
                .collect(),
            _ => vec![],
        }
    }
}

#[derive(Clone, Debug)]
struct Record {
    client: usize,
    op: Op,
    completed: Option<i64>,
    /// Reads: the values; writes: empty. `Err` for a rejected operation.
    outcome: Option<std::result::Result<Vec<Option<String>>, String>>,
}

#[derive(Clone)]
struct Params {
    clients: usize,
    keys: Vec<String>,
    versioning: bool,
    autoclean: bool,
    lm_precision: i64,
    fault_rate: f64,
    slow_rate: f64,
    ops: usize,
    skews: Vec<i64>,
    crash: Option<(usize, i64)>,
    poll_ms: u64,
    /// Upper bound of the pause before each operation.
    think_ms: u64,
    /// Content cache size: tiny in half the seeds, so values are evicted
    /// and fetched again.
    cache_bytes: usize,
    /// Presigned reads (the browser's way) or conditional GETs.
    presign_reads: bool,
    /// Clients go offline and back at random while they work.
    toggles: bool,
    /// The bound on content in each client's durable store.
    offline_bytes: usize,
    /// Attempts per request before a transient failure is final.
    retry_attempts: u32,
    /// Each attempt's time limit (`RetryPolicy::timeout_ms`).
    timeout_ms: u64,
    /// `DbConfig::gzip` (the simulation's edge compresses only where a
    /// scripted test gives it a compressor: `SimIo::compress`).
    gzip: bool,
}

impl Params {
    /// One seed's schedule. A third of the seeds are *contended*: more
    /// clients on one or two keys, no pause between operations, slow
    /// networks: the schedules where window races live.
    fn draw(rng: &mut Rng) -> Params {
        let contended = rng.next_f64() < 1.0 / 3.0;
        let clients = if contended {
            rng.range(3, 7)
        } else {
            rng.range(2, 5)
        } as usize;
        let skews = (0..clients)
            .map(|_| {
                if rng.next_f64() < 0.3 {
                    rng.range(0, 120_001) as i64 - 60_000
                } else {
                    rng.range(0, 4_001) as i64 - 2_000
                }
            })
            .collect();
        Params {
            clients,
            keys: ["a", "b", "c", "dir/d"][..if contended {
                rng.range(1, 3)
            } else {
                rng.range(2, 5)
            } as usize]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            versioning: rng.next_f64() < 0.2,
            autoclean: rng.next_f64() < 0.7,
            lm_precision: if rng.next_f64() < 0.5 { 1000 } else { 1 },
            fault_rate: [0.0, 0.05, 0.2][rng.range(0, 3) as usize],
            slow_rate: if contended {
                [0.2, 0.4][rng.range(0, 2) as usize]
            } else {
                [0.0, 0.05, 0.2][rng.range(0, 3) as usize]
            },
            // Sparse seeds pause past the settling of claims (8 s), so
            // that writers find their log settled and skip the listing.
            think_ms: if contended {
                1
            } else if rng.next_f64() < 0.4 {
                12_000
            } else {
                400
            },
            cache_bytes: if rng.next_f64() < 0.5 { 64 } else { 4 << 20 },
            presign_reads: rng.next_f64() < 0.5,
            toggles: rng.next_f64() < 0.3,
            offline_bytes: if rng.next_f64() < 0.3 { 100 } else { 64 << 20 },
            retry_attempts: 10,
            timeout_ms: DbConfig::new(BUCKET).retry.timeout_ms,
            gzip: true,
            ops: rng.range(3, 10) as usize,
            skews,
            crash: (rng.next_f64() < 0.2).then(|| {
                (
                    rng.range(0, clients as u64) as usize,
                    START + rng.range(0, 20_000) as i64,
                )
            }),
            poll_ms: [100, 500, 1000][rng.range(0, 3) as usize],
        }
    }
}

fn json(s: &str) -> JsonText {
    serde_json::to_string(s).unwrap().into()
}

fn unjson(j: &JsonText) -> String {
    serde_json::from_str(j).unwrap()
}

struct Outcome {
    history: Vec<Record>,
    finals: Vec<(usize, Vec<Option<String>>)>,
    notifications: BTreeMap<usize, Vec<Option<String>>>,
    model: Rc<RefCell<InMemoryS3>>,
    params: Params,
    device: Rc<Device>,
    /// Whether a crashed client was started again (it then reads last).
    restarted: bool,
    /// Entries written without a listing (a settled log, a chained claim).
    unlisted: u32,
    /// Requests the server applied late.
    applied_late: u32,
    /// Reads made as soon as every write was committed (before the quiet
    /// time the final reads wait for): survivors', then a fresh client's.
    prompt: Vec<(usize, Reads)>,
}

/// A client of the simulation.
struct Client {
    db: Rc<Db<SimIo>>,
}

impl Client {
    fn set_online(&self, online: bool) {
        self.db.set_online(online);
    }

    /// Subscribes to `key` through the engine (its poller), recording
    /// every value its handler hears.
    fn hear(&self, key: &str) -> Rc<RefCell<Vec<Option<String>>>> {
        let heard: Rc<RefCell<Vec<Option<String>>>> = Rc::default();
        let sub = self.db.subscribe(&Ref::new(BUCKET, key), None).unwrap();
        let (weak, heard2) = (Rc::downgrade(&self.db), heard.clone());
        *self.db.io().deliver.borrow_mut() = Some(Rc::new(move || {
            let Some(db) = weak.upgrade() else { return };
            for e in db.take_events() {
                if let Event::Value { sub: s, value } = e {
                    assert_eq!(s, sub);
                    heard2.borrow_mut().push(value.as_ref().map(unjson));
                }
            }
        }));
        heard
    }
}

/// A write of `batch` as the API makes it (`Db::write`), acknowledged as
/// `ack` asks.
async fn write(db: &Rc<Db<SimIo>>, batch: super::Batch, ack: impl Into<Option<Ack>>) -> Result<()> {
    db.write(Change::Values(batch), &[], ack.into()).await
}

/// A put of one key, acknowledged once committed.
async fn put(db: &Rc<Db<SimIo>>, key: Ref, value: Option<JsonText>) -> Result<()> {
    write(db, vec![(key, value)], Ack::Remote).await
}

/// The simulated bucket's endpoint and keys, as every client uses them.
fn s3_config() -> S3Config {
    S3Config::new(
        Some("http://s3.sim"),
        "us-east-1",
        Credentials::new("sim", "sim"),
    )
    .unwrap()
}

/// Runs `fut` on the simulation's clock until it is done (a minute of
/// virtual time at most: every scripted step takes well under one).
fn finish<T: 'static>(exec: &Rc<Executor>, fut: impl Future<Output = T> + 'static) -> T {
    let out: Rc<RefCell<Option<T>>> = Rc::default();
    let o = out.clone();
    exec.spawn(0, async move {
        *o.borrow_mut() = Some(fut.await);
    });
    exec.run_until(exec.now() + 60_000);
    let done = out.borrow_mut().take();
    done.expect("the step finished within a minute")
}

#[allow(clippy::too_many_arguments)]
fn make_client(
    exec: &Rc<Executor>,
    model: &Rc<RefCell<InMemoryS3>>,
    net: &Rc<RefCell<Net>>,
    device: &Rc<Device>,
    p: &Params,
    client: usize,
    group: usize,
    seed: u64,
) -> Client {
    let io = SimIo {
        exec: exec.clone(),
        model: model.clone(),
        net: net.clone(),
        skew: p.skews.get(client).copied().unwrap_or(0),
        client,
        device: device.clone(),
        offline: Rc::new(Cell::new(false)),
        crash_at: Cell::new(None),
        requests: RefCell::default(),
        sent: Cell::new(0),
        script: RefCell::new(BTreeMap::new()),
        namespace: format!("c{client}/"),
        group,
        compress: Cell::new(None),
        deliver: RefCell::new(None),
    };
    let mut s3c = s3_config();
    s3c.presign_reads = p.presign_reads;
    let s3 = S3::new(s3c);
    let mut cfg = DbConfig::new(BUCKET);
    cfg.use_versioning = p.versioning;
    cfg.autoclean = p.autoclean;
    cfg.poll_frequency_ms = p.poll_ms;
    cfg.cache_bytes = p.cache_bytes;
    cfg.offline_bytes = p.offline_bytes;
    cfg.retry.max_attempts = p.retry_attempts;
    cfg.retry.timeout_ms = p.timeout_ms;
    cfg.gzip = p.gzip;
    cfg.namespace = format!("c{client}/");
    let db = Rc::new(Db::new(io, s3, cfg, seed).unwrap());
    db.start();
    Client { db }
}

fn run(seed: u64) -> Outcome {
    APPLIED_LATE.with(|n| n.set(0));
    let mut rng = Rng::new(seed);
    let p = Params::draw(&mut rng);
    let exec = Executor::new(START, rng.next_u64());
    let model = Rc::new(RefCell::new(InMemoryS3::new(p.lm_precision)));
    model.borrow_mut().create_bucket(BUCKET, p.versioning);
    let mut stall_rng = stall_draws(seed);
    stall_rng.next_f64();
    let mut late_rng = late_draws(seed);
    late_rng.next_f64();
    let net = Rc::new(RefCell::new(Net {
        fault_rate: p.fault_rate,
        slow_rate: p.slow_rate,
        stall_rate: stall_rate(seed),
        stall_rng,
        late_rate: late_rate(seed),
        late_max_ms: 2 * p.timeout_ms,
        late_rng,
    }));
    let history: Rc<RefCell<Vec<Record>>> = Rc::default();
    let notifications: Rc<RefCell<BTreeMap<usize, Vec<Option<String>>>>> = Rc::default();
    let finals: Rc<RefCell<Vec<(usize, Reads)>>> = Rc::default();
    let workers_left = Rc::new(Cell::new(p.clients));
    let stop = Rc::new(Cell::new(false));
    let device = Rc::new(Device::default());
    let clients: Vec<Client> = (0..p.clients)
        .map(|c| make_client(&exec, &model, &net, &device, &p, c, c, rng.next_u64()))
        .collect();
    let dbs: Vec<Rc<Db<SimIo>>> = clients.iter().map(|c| c.db.clone()).collect();
    let key_ref = |k: &str| Ref::new(BUCKET, k);

    for (c, db) in dbs.iter().enumerate() {
        // The worker: a random sequence of operations, one at a time.
        let (db2, exec2, history2, left) = (
            db.clone(),
            exec.clone(),
            history.clone(),
            workers_left.clone(),
        );
        let keys = p.keys.clone();
        let ops = p.ops;
        let think = p.think_ms;
        let mut wrng = Rng::new(rng.next_u64());
        // Counts the worker done when its future is dropped: finished, or
        // killed by a crash, even one before its first poll (seed 32267
        // crashed its client at the start, and the run waited forever).
        struct Done(Rc<Cell<usize>>);
        impl Drop for Done {
            fn drop(&mut self) {
                self.0.set(self.0.get() - 1);
            }
        }
        let done = Done(left);
        exec.spawn(c, async move {
            let _done = done;
            for i in 0..ops {
                exec2.sleep(wrng.range(0, think)).await;
                let pick = |r: &mut Rng| keys[r.range(0, keys.len() as u64) as usize].clone();
                let value = format!("c{c}-{i}");
                let roll = wrng.next_f64();
                let op = if roll < 0.45 {
                    Op::Put(pick(&mut wrng), Some(value))
                } else if roll < 0.55 {
                    Op::Put(pick(&mut wrng), None)
                } else if roll < 0.7 {
                    let (a, b) = (pick(&mut wrng), pick(&mut wrng));
                    let mut entries = vec![(a.clone(), Some(format!("{value}a")))];
                    if b != a {
                        entries.push((b, Some(format!("{value}b"))));
                    }
                    Op::PutAll(entries)
                } else if roll < 0.85 {
                    Op::Get(pick(&mut wrng))
                } else {
                    Op::GetAll(keys.clone())
                };
                let idx = {
                    let mut h = history2.borrow_mut();
                    h.push(Record {
                        client: c,
                        op: op.clone(),
                        completed: None,
                        outcome: None,
                    });
                    h.len() - 1
                };
                // A third of the writes ask to be acknowledged once
                // queued; the rest take the engine's default (once
                // committed online, once queued offline).
                let ack = (wrng.next_f64() < 0.3).then_some(Ack::Local);
                let outcome = match &op {
                    Op::Put(k, v) => db2
                        .write(
                            Change::Values(vec![(key_ref(k), v.as_deref().map(json))]),
                            &[],
                            ack,
                        )
                        .await
                        .map(|_| vec![]),
                    Op::PutAll(entries) => db2
                        .write(
                            Change::Values(
                                entries
                                    .iter()
                                    .map(|(k, v)| (key_ref(k), v.as_deref().map(json)))
                                    .collect(),
                            ),
                            &[],
                            ack,
                        )
                        .await
                        .map(|_| vec![]),
                    Op::Get(k) => db2
                        .get(&key_ref(k), None)
                        .await
                        .map(|v| vec![v.as_ref().map(unjson)]),
                    Op::GetAll(ks) => {
                        let refs: Vec<Ref> = ks.iter().map(|k| key_ref(k)).collect();
                        db2.get_all(&refs, None)
                            .await
                            .map(|vs| vs.iter().map(|v| v.as_ref().map(unjson)).collect())
                    }
                };
                let mut h = history2.borrow_mut();
                h[idx].completed = Some(exec2.now());
                h[idx].outcome = Some(outcome.map_err(|e| e.to_string()));
            }
        });
        // The subscriber, polled by the engine's poller.
        let notes = notifications.clone();
        let sub = db.subscribe(&key_ref(&p.keys[0]), None).unwrap();
        let weak = Rc::downgrade(db);
        *db.io().deliver.borrow_mut() = Some(Rc::new(move || {
            let Some(db) = weak.upgrade() else { return };
            for e in db.take_events() {
                if let Event::Value { sub: s, value } = e {
                    assert_eq!(s, sub);
                    if tracing() {
                        eprintln!("c{c} notified {value:?}");
                    }
                    notes
                        .borrow_mut()
                        .entry(c)
                        .or_default()
                        .push(value.as_ref().map(unjson));
                }
            }
        }));
    }
    if p.toggles {
        // Offline and back at random while the workers work; online at the
        // end.
        for (c, client) in clients.iter().enumerate() {
            let (exec6, left, db6) = (exec.clone(), workers_left.clone(), client.db.clone());
            let mut trng = Rng::new(rng.next_u64());
            exec.spawn(c + 500, async move {
                let c6 = Client { db: db6 };
                while left.get() > 0 {
                    exec6.sleep(trng.range(200, 3_000)).await;
                    c6.set_online(false);
                    exec6.sleep(trng.range(100, 5_000)).await;
                    c6.set_online(true);
                }
            });
        }
    }
    // A crash, and the client started again over its store a little
    // later: it commits what the crash left queued.
    let restarted: Rc<RefCell<Option<Rc<Db<SimIo>>>>> = Rc::default();
    if let Some((victim, at)) = p.crash {
        let exec4 = exec.clone();
        let restart_after = rng.range(0, 15_000);
        let (model4, net4, device4, r4) = (
            model.clone(),
            net.clone(),
            device.clone(),
            restarted.clone(),
        );
        let p4 = p.clone();
        let seed4 = rng.next_u64();
        exec.spawn(usize::MAX, async move {
            exec4.sleep((at - START) as u64).await;
            exec4.kill(victim);
            exec4.kill(victim + 500);
            exec4.sleep(restart_after).await;
            let again = make_client(
                &exec4,
                &model4,
                &net4,
                &device4,
                &p4,
                victim,
                1000 + victim,
                seed4,
            );
            *r4.borrow_mut() = Some(again.db);
        });
    }
    // The controller: when the workers are done, calm the network, let the
    // log settle, then every survivor and a fresh client read everything.
    let (exec5, net5, finals5, stop5, model5, all5) = (
        exec.clone(),
        net.clone(),
        finals.clone(),
        stop.clone(),
        model.clone(),
        dbs.clone(),
    );
    let survivors: Vec<(usize, Rc<Db<SimIo>>)> = dbs
        .iter()
        .enumerate()
        .filter(|(c, _)| p.crash.map(|(v, _)| v) != Some(*c))
        .map(|(c, d)| (c, d.clone()))
        .collect();
    let keys = p.keys.clone();
    let fresh = make_client(&exec, &model, &net, &device, &p, 99, 99, rng.next_u64()).db;
    let (device5, restarted5) = (device.clone(), restarted.clone());
    let prompt: Rc<RefCell<Vec<(usize, Reads)>>> = Rc::default();
    let prompt5 = prompt.clone();
    let crashed = p.crash.is_some();
    let timeout_ms = p.timeout_ms;
    exec.spawn(usize::MAX - 1, async move {
        while workers_left.get() > 0 || (crashed && restarted5.borrow().is_none()) {
            exec5.sleep(200).await;
        }
        // Queued writes are committed (offline periods are over).
        for _ in 0..3_000 {
            if device5.queued() == 0 {
                break;
            }
            exec5.sleep(200).await;
        }
        // Every write is committed: a read now sees them all, whoever
        // makes it (a settled log vouches for it; an unsettled one is
        // listed), as a fresh client's read does.
        if device5.queued() == 0 {
            let refs: Vec<Ref> = keys.iter().map(|k| Ref::new(BUCKET, k)).collect();
            let mut reads = Vec::new();
            for (c, db) in survivors.iter().chain([&(usize::MAX, fresh.clone())]) {
                // (Offline, a client answers from its store.)
                if !db.is_online() {
                    continue;
                }
                if let Ok(vs) = db.get_all(&refs, None).await {
                    reads.push((*c, vs.iter().map(|v| v.as_ref().map(unjson)).collect()));
                }
            }
            *prompt5.borrow_mut() = reads;
        }
        *net5.borrow_mut() = Net::calm();
        // Past the window, and past the re-listing that finds entries
        // whose writer crashed before touching the marker; and past the
        // time limit, which ends requests that stalled before the calm,
        // and twice that, when the last requests applied late land.
        exec5
            .sleep(2 * LAG_WINDOW_MS as u64 + 12_000 + 3 * timeout_ms)
            .await;
        let refs: Vec<Ref> = keys.iter().map(|k| Ref::new(BUCKET, k)).collect();
        let mut readers = survivors.clone();
        if let Some(again) = restarted5.borrow().clone() {
            readers.push((usize::MAX - 1, again));
        }
        readers.push((usize::MAX, fresh));
        for (c, db) in readers.clone() {
            if c == usize::MAX - 1 {
                // A restarted client's first read answers from its store
                // (what it had seen); the next one is fresh.
                let _ = db.get_all(&refs, None).await;
            }
            let vs = db
                .get_all(&refs, None)
                .await
                .expect("reads after the faults stop succeed");
            finals5
                .borrow_mut()
                .push((c, vs.iter().map(|v| v.as_ref().map(unjson)).collect()));
        }
        // Let pollers deliver the final state too; then the clients stop.
        exec5.sleep(3_000).await;
        for db in all5.iter().chain(readers.iter().map(|(_, db)| db)) {
            db.shutdown();
        }
        stop5.set(true);
        let _ = model5;
    });
    exec.run_until(START + 30 * 60_000);
    assert!(
        stop.get(),
        "seed {seed}: the run did not finish (deadlock?)"
    );
    let unlisted = dbs.iter().map(|db| db.unlisted_entries.get()).sum();
    for db in &dbs {
        db.shutdown();
    }
    let history = history.borrow().clone();
    let finals = finals.borrow().clone();
    let prompt = prompt.borrow().clone();
    let notifications = notifications.borrow().clone();
    let restarted = restarted.borrow().is_some();
    Outcome {
        history,
        finals,
        notifications,
        model,
        params: p,
        device,
        restarted,
        unlisted,
        applied_late: APPLIED_LATE.with(Cell::get),
        prompt,
    }
}

/// Every valid entry ever written, oldest first, with its changes.
fn oracle_log(model: &InMemoryS3) -> Vec<(i64, String, Changes)> {
    let mut last: BTreeMap<String, (i64, Vec<u8>)> = BTreeMap::new();
    for put in &model.puts {
        if put.bucket == BUCKET && parse_entry_key(MANIFEST, &put.key).is_some() {
            last.insert(put.key.clone(), (put.last_modified, put.body.clone()));
        }
    }
    let mut log: Vec<(i64, String, Changes)> = last
        .into_iter()
        .filter_map(|(key, (lm, body))| {
            let ts = parse_entry_key(MANIFEST, &key)?.ts;
            if (lm - ts).abs() >= LAG_WINDOW_MS {
                return None;
            }
            let body = EntryBody::parse(&body).ok()?;
            let files = body.update.get("files")?.as_object()?.to_vec();
            let changes = files
                .into_iter()
                .map(|(url, v)| {
                    (
                        url,
                        v.get("version")
                            .and_then(|v| v.as_str())
                            .map(str::to_string),
                    )
                })
                .collect();
            Some((ts, key, changes))
        })
        .collect();
    // Oldest first: ascending time, and within a millisecond descending key.
    log.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)));
    log
}

/// version → value, from the content objects ever written.
fn contents(model: &InMemoryS3, versioning: bool) -> HashMap<String, String> {
    let mut out = HashMap::new();
    if versioning {
        for vs in model.bucket(BUCKET).expect("the bucket").objects.values() {
            for v in vs.iter().filter(|v| !v.delete_marker) {
                if let Ok(s) = serde_json::from_slice::<String>(&v.body) {
                    out.insert(v.version_id.clone(), s);
                }
            }
        }
    } else {
        for put in &model.puts {
            if let Some((_, version)) = put.key.rsplit_once('@') {
                if let Ok(s) = serde_json::from_slice::<String>(&put.body) {
                    out.insert(version.to_string(), s);
                }
            }
        }
    }
    out
}

/// The values of the valid entries' writes, oldest first.
fn written_values(model: &InMemoryS3, versioning: bool) -> Vec<String> {
    let values = contents(model, versioning);
    oracle_log(model)
        .iter()
        .flat_map(|(_, _, changes)| changes.iter())
        .filter_map(|(_, v)| v.as_ref().and_then(|v| values.get(v)).cloned())
        .collect()
}

fn check(seed: u64, o: &Outcome) -> std::result::Result<(), String> {
    let model = o.model.borrow();
    let log = oracle_log(&model);
    let values = contents(&model, o.params.versioning);
    let value_of = |v: &Option<String>| {
        v.as_ref().map(|v| {
            values
                .get(v)
                .cloned()
                .unwrap_or_else(|| format!("<missing content {v}>"))
        })
    };
    // The oracle state and each value's position in the log.
    let mut state: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut position: HashMap<(String, String), usize> = HashMap::new();
    for (i, (_, _, changes)) in log.iter().enumerate() {
        for (url, version) in changes {
            let value = value_of(version);
            if let Some(v) = &value {
                position.insert((url.clone(), v.clone()), i);
            }
            state.insert(url.clone(), value);
        }
    }
    let url = |k: &str| format!("{BUCKET}/{k}");
    let expected: Vec<Option<String>> = o
        .params
        .keys
        .iter()
        .map(|k| state.get(&url(k)).cloned().flatten())
        .collect();

    // Convergence, and to the oracle.
    let survivors = o.params.clients - usize::from(o.params.crash.is_some());
    let readers = survivors + 1 + usize::from(o.restarted);
    if o.finals.len() != readers {
        return Err(format!(
            "{} final reads, expected {readers}",
            o.finals.len()
        ));
    }
    if o.device.queued() != 0 {
        return Err(format!(
            "{} queued writes were never committed",
            o.device.queued()
        ));
    }
    // Exactly once: no content version is in two valid entries.
    let mut entries_of: HashMap<String, usize> = HashMap::new();
    for (_, _, changes) in &log {
        for (_, v) in changes {
            if let Some(v) = v {
                *entries_of.entry(v.clone()).or_default() += 1;
            }
        }
    }
    if let Some((v, n)) = entries_of.iter().find(|(_, n)| **n > 1) {
        return Err(format!(
            "write of {:?} was committed {n} times",
            value_of(&Some(v.clone()))
        ));
    }
    // As soon as every write is committed, every read sees them all.
    if let Some((_, fresh)) = o.prompt.iter().find(|(c, _)| *c == usize::MAX) {
        for (c, got) in o.prompt.iter().filter(|(c, _)| *c != usize::MAX) {
            if got != fresh {
                return Err(format!(
                    "client {c} read {got:?} once every write was committed; the log holds {fresh:?}"
                ));
            }
        }
    }
    // Each client's writes reach the log in the order they were made.
    for c in 0..o.params.clients {
        let mut last: Option<(usize, String)> = None;
        for r in o.history.iter().filter(|r| r.client == c) {
            let Some((k, v)) = r.op.values_written().into_iter().next() else {
                continue;
            };
            let Some(&p) = position.get(&(url(&k), v.clone())) else {
                continue;
            };
            if let Some((lp, lv)) = &last {
                if p <= *lp {
                    return Err(format!(
                        "client {c} wrote {lv} before {v}, but the log has them at {lp} and {p}"
                    ));
                }
            }
            last = Some((p, v));
        }
    }
    for (c, got) in &o.finals {
        if got != &expected {
            return Err(format!(
                "client {c} ended with {got:?}; the log says {expected:?}"
            ));
        }
    }
    // A rejected write never appears: its caller was told it failed.
    for r in &o.history {
        if !matches!(r.outcome, Some(Err(_))) {
            continue;
        }
        for (k, v) in r.op.values_written() {
            if position.contains_key(&(url(&k), v.clone())) {
                return Err(format!(
                    "rejected write {k}={v} (client {}) is in a valid entry",
                    r.client
                ));
            }
        }
    }
    // Acknowledged writes are all in valid entries.
    for r in &o.history {
        if !matches!(r.outcome, Some(Ok(_))) {
            continue;
        }
        for (k, v) in r.op.values_written() {
            if !position.contains_key(&(url(&k), v.clone())) {
                return Err(format!(
                    "acknowledged write {k}={v} (client {}) is in no valid entry",
                    r.client
                ));
            }
        }
    }
    // Sessions: never behind one's own acknowledged writes or earlier reads.
    for c in 0..o.params.clients {
        let mut floor: HashMap<String, usize> = HashMap::new();
        let mut ops: Vec<&Record> = o
            .history
            .iter()
            .filter(|r| r.client == c && r.completed.is_some())
            .collect();
        ops.sort_by_key(|r| r.completed);
        for r in ops {
            let Some(Ok(reads)) = &r.outcome else {
                continue;
            };
            let keys: Vec<String> = match &r.op {
                Op::Get(k) => vec![k.clone()],
                Op::GetAll(ks) => ks.clone(),
                Op::Put(k, Some(v)) => {
                    let p = position[&(url(k), v.clone())];
                    let f = floor.entry(k.clone()).or_insert(p);
                    *f = (*f).max(p);
                    continue;
                }
                Op::PutAll(es) => {
                    for (k, v) in es {
                        if let Some(v) = v {
                            let p = position[&(url(k), v.clone())];
                            let f = floor.entry(k.clone()).or_insert(p);
                            *f = (*f).max(p);
                        }
                    }
                    continue;
                }
                Op::Put(_, None) => continue,
            };
            for (k, read) in keys.iter().zip(reads) {
                let Some(&f) = floor.get(k) else {
                    if let Some(v) = read {
                        if let Some(&p) = position.get(&(url(k), v.clone())) {
                            floor.insert(k.clone(), p);
                        }
                    }
                    continue;
                };
                match read {
                    Some(v) => match position.get(&(url(k), v.clone())) {
                        Some(&p) if p >= f => {
                            floor.insert(k.clone(), p);
                        }
                        Some(&p) => {
                            return Err(format!(
                                "client {c} read {k}={v} (log position {p}) after observing position {f}"
                            ))
                        }
                        None => return Err(format!("client {c} read {k}={v}, which no valid entry holds")),
                    },
                    None => {
                        let deleted_later = log[f + 1..]
                            .iter()
                            .any(|(_, _, ch)| ch.iter().any(|(u, v)| u == &url(k) && v.is_none()));
                        if !deleted_later {
                            return Err(format!("client {c} read {k} as absent after observing position {f}"));
                        }
                    }
                }
            }
        }
    }
    // Subscribers: one call per version, ending at the final value.
    for (c, notes) in &o.notifications {
        let mut seen = std::collections::HashSet::new();
        for n in notes.iter().flatten() {
            if !seen.insert(n) {
                return Err(format!("client {c}'s subscriber got {n} twice: {notes:?}"));
            }
        }
        let survived = o.params.crash.map(|(v, _)| v) != Some(*c);
        if survived && notes.last() != Some(&expected[0]) {
            return Err(format!(
                "client {c}'s subscriber ended at {:?}, not {:?}",
                notes.last(),
                expected[0]
            ));
        }
    }
    let _ = seed;
    Ok(())
}

fn seeds() -> Vec<u64> {
    if let Ok(s) = std::env::var("MPS3_SIM_SEED") {
        return vec![s.parse().expect("MPS3_SIM_SEED is a number")];
    }
    let n: u64 = std::env::var("MPS3_SIM_SEEDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    // `MPS3_SIM_FROM=k`: start at seed k (a sweep past seeds already run).
    let from: u64 = std::env::var("MPS3_SIM_FROM")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let mut seeds: Vec<u64> = (from..=n).collect();
    seeds.extend(REGRESSION_SEEDS.iter().filter(|&&s| s > n));
    seeds
}

/// Seeds beyond the default thousand that once failed, run every time:
/// - 4559: a committed write's mask outlived it, and reads answered from
///   it over a stale resolution instead of listing (`ManifestState::pending`);
/// - 11804: an entry PUT aborted by going offline, never sent, was later
///   counted as landed and the write lost (`HttpRequest::finish_offline`).
/// - 32267: a crash at the very start dropped a worker before its first
///   poll, which never counted it done, and the run waited forever.
///
/// And four found once requests could stall (seeds 10,001-30,000):
/// - 17790, 21933: a resumed write's masks outlived its entry, which the
///   resolution already held, and hid a newer write by another client;
/// - 21851, 26197: a poller's request stalled just before the network
///   calmed, and the run read the subscribers before its time limit
///   ended it (the harness waits for the limit now).
const REGRESSION_SEEDS: [u64; 7] = [4559, 11804, 17790, 21851, 21933, 26197, 32267];

/// The regression seeds found before stalls were simulated: they must keep
/// the schedules they failed on, so they must draw no stalls.
const PRE_STALL_SEEDS: [u64; 3] = [4559, 11804, 32267];

/// The regression seeds found before late requests were simulated: they
/// must draw none. (A list of its own, as `PRE_STALL_SEEDS` is: a seed
/// found later, with late requests, joins `REGRESSION_SEEDS` only.)
const PRE_LATE_SEEDS: [u64; 7] = [4559, 11804, 17790, 21851, 21933, 26197, 32267];

#[test]
fn simulated_clients_converge_and_lose_no_acknowledged_write() {
    for seed in PRE_STALL_SEEDS {
        assert_eq!(stall_rate(seed), 0.0, "regression seed {seed} draws stalls");
    }
    for seed in PRE_LATE_SEEDS {
        assert_eq!(
            late_rate(seed),
            0.0,
            "regression seed {seed} draws late requests"
        );
    }
    let mut failures = Vec::new();
    let (mut writes, mut reads, mut rejected, mut unlisted, mut late) = (0, 0, 0, 0, 0);
    for seed in seeds() {
        let outcome = run(seed);
        unlisted += outcome.unlisted;
        late += outcome.applied_late;
        for r in &outcome.history {
            match (&r.op, &r.outcome) {
                (_, Some(Err(_))) => rejected += 1,
                (Op::Get(_) | Op::GetAll(_), Some(Ok(_))) => reads += 1,
                (_, Some(Ok(_))) => writes += 1,
                _ => {}
            }
        }
        if let Err(why) = check(seed, &outcome) {
            if std::env::var("MPS3_SIM_SEED").is_ok() {
                for r in &outcome.history {
                    eprintln!("{r:?}");
                }
                eprintln!("requests: {:?}", outcome.model.borrow().requests);
            }
            failures.push(format!("seed {seed}: {why}\n  replay: MPS3_SIM_SEED={seed} cargo test simulated -- --nocapture"));
        }
    }
    eprintln!("simulation: {} seeds, {writes} acknowledged writes ({unlisted} entries written without a listing), {reads} reads, {rejected} rejected operations, {late} requests applied late", seeds().len());
    // Failures first: a replay of one seed (or a few) falls short of the
    // coverage figure below, which must not hide why the seed failed.
    assert!(
        failures.is_empty(),
        "{} failing seeds:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(writes > 0 && reads > 0, "the workload did nothing");
    assert!(
        unlisted * 40 > writes,
        "too few entries took the settled path ({unlisted} of {writes}) to test it"
    );
    // (A replay of a few seeds may have none.)
    assert!(
        late > 0 || seeds().len() < 100,
        "no request was applied late"
    );
}

/// A quiet world for one scripted scenario: no faults, no skew.
fn quiet_params(versioning: bool) -> Params {
    Params {
        clients: 1,
        keys: vec!["a".into()],
        versioning,
        autoclean: true,
        lm_precision: 1000,
        fault_rate: 0.0,
        slow_rate: 0.0,
        ops: 0,
        skews: vec![0; 8],
        crash: None,
        poll_ms: 100,
        think_ms: 0,
        cache_bytes: 4 << 20,
        presign_reads: true,
        toggles: false,
        offline_bytes: 64 << 20,
        retry_attempts: 10,
        timeout_ms: DbConfig::new(BUCKET).retry.timeout_ms,
        gzip: true,
    }
}

/// A quiet world for one scripted scenario: an executor, the bucket, a
/// network without faults, and one device's store.
struct World {
    exec: Rc<Executor>,
    model: Rc<RefCell<InMemoryS3>>,
    net: Rc<RefCell<Net>>,
    device: Rc<Device>,
}

fn quiet_world(p: &Params, seed: u64) -> World {
    let exec = Executor::new(START, seed);
    let model = Rc::new(RefCell::new(InMemoryS3::new(p.lm_precision)));
    model.borrow_mut().create_bucket(BUCKET, p.versioning);
    let net = Rc::new(RefCell::new(Net::calm()));
    World {
        exec,
        model,
        net,
        device: Rc::new(Device::default()),
    }
}

/// One write acknowledged locally, its client killed right after its
/// `n`-th request reached the server (applied or not), started again after
/// `restart_after_ms`, then a second write. Returns whether the crash
/// happened (`false`: the write needs fewer than `n` requests).
fn crash_scenario(
    n: u32,
    applied: bool,
    restart_after_ms: u64,
    versioning: bool,
) -> std::result::Result<bool, String> {
    let p = quiet_params(versioning);
    let World {
        exec,
        model,
        net,
        device,
    } = quiet_world(&p, n as u64);
    let a = make_client(&exec, &model, &net, &device, &p, 0, 0, 1);
    a.db.io().crash_at.set(Some((n, applied)));
    let acked = Rc::new(Cell::new(false));
    let (db1, acked1) = (a.db.clone(), acked.clone());
    exec.spawn(0, async move {
        let batch = vec![(Ref::new(BUCKET, "a"), Some(json("v1")))];
        if write(&db1, batch, Ack::Local).await.is_ok() {
            acked1.set(true);
        }
    });
    let final_read: Rc<RefCell<Option<Result<Option<JsonText>>>>> = Rc::default();
    let (exec2, model2, net2, device2, read2) = (
        exec.clone(),
        model.clone(),
        net.clone(),
        device.clone(),
        final_read.clone(),
    );
    exec.spawn(900, async move {
        exec2.sleep(20_000 + restart_after_ms).await;
        let b = make_client(&exec2, &model2, &net2, &device2, &p, 0, 1, 2);
        let r = put(&b.db, Ref::new(BUCKET, "a"), Some(json("v2"))).await;
        assert!(r.is_ok(), "the second write: {r:?}");
        exec2.sleep(15_000).await;
        let reader = make_client(&exec2, &model2, &net2, &device2, &p, 5, 5, 3);
        *read2.borrow_mut() = Some(reader.db.get(&Ref::new(BUCKET, "a"), None).await);
    });
    exec.run_until(START + 10 * 60_000);
    let crashed = a.db.io().sent.get() >= n;
    if !acked.get() {
        return Err("the first write was not acknowledged".into());
    }
    let model = model.borrow();
    let written = written_values(&model, versioning);
    if written != ["v1", "v2"] {
        return Err(format!("valid entries hold {written:?}, not v1 then v2"));
    }
    if device.queued() != 0 {
        return Err(format!("{} writes left queued", device.queued()));
    }
    let read = final_read.borrow().clone();
    match read {
        Some(Ok(Some(v))) if unjson(&v) == "v2" => Ok(crashed),
        other => Err(format!("a fresh client reads {other:?}")),
    }
}

/// Native proof of the queue's state machine: a write acknowledged from
/// the store is committed exactly once and in order, whichever request
/// its client died after (content PUT, the listing, the entry PUT landed
/// or not, the marker) and whether it comes back at once or long after
/// (when autoclean could have collected its entry).
#[test]
fn every_crash_point_of_a_queued_write_commits_it_exactly_once() {
    let mut failures = Vec::new();
    let mut points = 0;
    for versioning in [false, true] {
        for applied in [false, true] {
            for restart_after in [500, 120_000] {
                for n in 1.. {
                    match crash_scenario(n, applied, restart_after, versioning) {
                        Ok(true) => points += 1,
                        Ok(false) => break,
                        Err(why) => failures.push(format!(
                            "crash after request {n} (applied: {applied}, versioning: \
                             {versioning}, back after {restart_after} ms): {why}"
                        )),
                    }
                    assert!(n < 50, "a write should not take 50 requests");
                }
            }
        }
    }
    eprintln!("crash points: {points} checked");
    assert!(points >= 16, "only {points} crash points were reached");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `offlineBytes`: the durable store keeps the most recently used content
/// within the bound; what was evicted reads as `Offline` when offline,
/// what was kept still reads.
#[test]
fn offline_bytes_bounds_the_stored_content_least_recently_used_out() {
    let p = quiet_params(false);
    let World {
        exec,
        model,
        net,
        device,
    } = quiet_world(&p, 7);
    let mut small = p.clone();
    small.cache_bytes = 0; // every read goes to the store
    small.offline_bytes = 200;
    let c = make_client(&exec, &model, &net, &device, &small, 0, 0, 1);
    // Each value is 50 bytes of JSON; the store may keep 200.
    let db = c.db.clone();
    let outcome: Rc<RefCell<Vec<String>>> = Rc::default();
    let out = outcome.clone();
    exec.spawn(0, async move {
        let value = |i: usize| json(&format!("{i:0>48}"));
        for i in 0..8 {
            put(&db, Ref::new(BUCKET, format!("k{i}")), Some(value(i)))
                .await
                .unwrap();
        }
        // k1 is read again: the newest use, so it stays.
        db.get(&Ref::new(BUCKET, "k1"), None).await.unwrap();
        db.set_online(false);
        for i in 0..8 {
            let r = db.get(&Ref::new(BUCKET, format!("k{i}")), None).await;
            out.borrow_mut().push(match r {
                Ok(Some(_)) => "kept".into(),
                Ok(None) => "absent".into(),
                Err(e) => e.kind.code().into(),
            });
        }
    });
    exec.run_until(START + 120_000);
    let content_bytes: usize = device
        .data
        .borrow()
        .iter()
        .filter(|((t, _), _)| *t == Table::Content)
        .map(|(_, v)| v.len())
        .sum();
    assert!(content_bytes <= 200, "{content_bytes} bytes stored");
    assert_eq!(
        *outcome.borrow(),
        ["Offline", "kept", "Offline", "Offline", "Offline", "kept", "kept", "kept"],
        "the four most recently used (200 bytes) are kept"
    );
}

/// Puts `value` under `key` on `c`, on a task of its own: the result,
/// once the executor has run it.
fn spawn_put(
    exec: &Rc<Executor>,
    c: &Client,
    key: &'static str,
    value: &'static str,
) -> Rc<RefCell<Option<Result<()>>>> {
    let result: Rc<RefCell<Option<Result<()>>>> = Rc::default();
    let (db, r) = (c.db.clone(), result.clone());
    exec.spawn(0, async move {
        *r.borrow_mut() = Some(put(&db, Ref::new(BUCKET, key), Some(json(value))).await);
    });
    result
}

/// Values and log entries of `GZIP_MIN_BYTES` or more go up as the edge
/// compressed them, when that is smaller; the rest as they are, and every
/// one with `gzip` off. (What goes up is read back by browsers, which
/// decode it: the browser tests `large_values_go_up_gzipped_and_read_back_as_written`
/// and `large_entries_go_up_gzipped_and_read_back`.)
#[test]
fn large_values_go_up_as_the_edge_compressed_them() {
    use super::write::GZIP_MIN_BYTES;
    fn halve(b: &[u8]) -> Vec<u8> {
        b[..b.len() / 2].to_vec()
    }
    fn double(b: &[u8]) -> Vec<u8> {
        [b, b].concat()
    }
    let big: &'static str = "x".repeat(GZIP_MIN_BYTES).leak();
    let small: &'static str = "x".repeat(GZIP_MIN_BYTES - 10).leak();
    let mut p = quiet_params(false);
    let World {
        exec,
        model,
        net,
        device,
    } = quiet_world(&p, 1);
    let halving = make_client(&exec, &model, &net, &device, &p, 0, 0, 1);
    halving.db.io().compress.set(Some(halve));
    let doubling = make_client(&exec, &model, &net, &device, &p, 1, 1, 2);
    doubling.db.io().compress.set(Some(double));
    p.gzip = false;
    let off = make_client(&exec, &model, &net, &device, &p, 2, 2, 3);
    off.db.io().compress.set(Some(halve));
    let results = [
        spawn_put(&exec, &halving, "big", big),
        spawn_put(&exec, &halving, "small", small),
        spawn_put(&exec, &doubling, "grown", big),
        spawn_put(&exec, &off, "off", big),
    ];
    exec.run_until(START + 60_000);
    for r in &results {
        assert!(matches!(*r.borrow(), Some(Ok(()))), "{:?}", r.borrow());
    }
    let stored_now = model.borrow();
    let stored = |key: &str| -> Vec<u8> {
        let found: Vec<_> = stored_now
            .bucket(BUCKET)
            .unwrap()
            .objects
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{key}@")))
            .map(|(_, versions)| versions.last().unwrap().body.clone())
            .collect();
        assert_eq!(found.len(), 1, "one content object of {key}");
        found.into_iter().next().unwrap()
    };
    let as_written = |v: &str| json(v).as_bytes().to_vec();
    assert_eq!(stored("big"), halve(&as_written(big)));
    assert_eq!(stored("small"), as_written(small));
    assert_eq!(stored("grown"), as_written(big));
    assert_eq!(stored("off"), as_written(big));
    drop(stored_now);

    // Entries too: the same batch of 30 keys, in a manifest of its own per
    // client, makes entries of one length (same keys, versions of one
    // length), over 1 KiB; the halving client's goes up halved.
    let entry_len = |c: &Client, manifest: &'static str| -> usize {
        let batch: super::Batch = (0..30)
            .map(|i| (Ref::new(BUCKET, format!("k{i}")), Some(json("v"))))
            .collect();
        let db = c.db.clone();
        let m = Ref::new(BUCKET, manifest);
        finish(&exec, async move {
            db.write(Change::Values(batch), &[m], Some(Ack::Remote))
                .await
        })
        .unwrap();
        let model = model.borrow();
        let entries: Vec<_> = model
            .puts
            .iter()
            .filter(|p| parse_entry_key(manifest, &p.key).is_some())
            .collect();
        assert_eq!(entries.len(), 1, "one entry in {manifest}");
        entries[0].body.len()
    };
    let plain = entry_len(&off, "plain.json");
    assert!(plain >= GZIP_MIN_BYTES, "{plain}");
    assert_eq!(entry_len(&halving, "halved.json"), plain / 2);
}

/// Scripted tests name requests by number: check that request `n` is the
/// entry PUT they mean to hit.
fn assert_is_entry_put(requests: &[String], n: usize) {
    let r = &requests[n - 1];
    assert!(
        r.starts_with("Put ") && r.contains(&format!("/{MANIFEST}%40")),
        "request {n} is {r}, not the entry PUT: {requests:#?}"
    );
}

/// A write whose entry PUT landed but whose answers were all lost until
/// the retries gave up: it may be in the log, so it must not be rejected
/// (a rejected write must never appear); it is settled and acknowledged.
#[test]
fn a_write_whose_entry_may_have_landed_is_settled_not_rejected() {
    let mut p = quiet_params(false);
    p.retry_attempts = 2;
    let World {
        exec,
        model,
        net,
        device,
    } = quiet_world(&p, 3);
    let c = make_client(&exec, &model, &net, &device, &p, 0, 0, 1);
    // Requests: content PUT, marker GET (404), the claim's If-Match probe
    // (refused), the claim, LIST, then the entry PUT (6): applied with its
    // answer lost, and its retry refused.
    c.db.io()
        .script
        .borrow_mut()
        .extend([(6, "drop"), (7, "503")]);
    let result = spawn_put(&exec, &c, "k", "v");
    exec.run_until(START + 120_000);
    let r = result.borrow().clone();
    assert_is_entry_put(&c.db.io().requests.borrow(), 6);
    assert_eq!(r, Some(Ok(())), "acknowledged once settled");
    let log = oracle_log(&model.borrow());
    assert_eq!(log.len(), 1, "committed once: {log:?}");
}

/// How long the offline-write tests keep their client away: past
/// autoclean's grace, and past the age from which a resumed attempt that
/// is not listed can no longer be ruled out (`SURELY_UNCOLLECTED_MS`).
const ABSENCE_MS: u64 = AUTOCLEAN_GRACE_MS as u64 + 90_000;

/// Another client writing key `a` (v2, v3, ...), every 25 s while the
/// other is away: autoclean then collects the entries of its time.
fn overwrite_repeatedly(exec: &Rc<Executor>, b: &Client) {
    let (exec, db) = (exec.clone(), b.db.clone());
    exec.clone().spawn(1, async move {
        for i in 2..2 + ABSENCE_MS / 25_000 {
            exec.sleep(25_000).await;
            let r = put(&db, Ref::new(BUCKET, "a"), Some(json(&format!("v{i}")))).await;
            assert!(r.is_ok(), "v{i}: {r:?}");
        }
    });
}

/// The write of v1 is in exactly one valid entry, and nothing is queued.
fn assert_v1_committed_once(model: &InMemoryS3, device: &Device) {
    let written = written_values(model, false);
    assert_eq!(
        written.iter().filter(|v| *v == "v1").count(),
        1,
        "v1 is in exactly one valid entry: {written:?}"
    );
    assert_eq!(device.queued(), 0, "nothing is left queued");
}

/// A write whose entry PUT is in flight when its client goes offline, and
/// which stays offline past autoclean's grace while another client writes
/// the key over and over. The PUT is let finish (`finish_offline`): had it
/// been aborted unsent, on return its attempt could only be judged by a
/// listing from which autoclean may have collected it, and the write was
/// counted as landed and lost (simulation seed 11804 of 20,000 found it).
#[test]
fn an_entry_put_in_flight_when_its_client_goes_offline_is_not_lost() {
    let mut p = quiet_params(false);
    // `LastModified` to the millisecond: it tells when the PUT arrived.
    p.lm_precision = 1;
    let World {
        exec,
        model,
        net,
        device,
    } = quiet_world(&p, 5);
    let a = Rc::new(make_client(&exec, &model, &net, &device, &p, 0, 0, 1));
    let b = make_client(&exec, &model, &net, &device, &p, 1, 1, 2);
    let offline_at: Rc<RefCell<Option<(i64, String)>>> = Rc::default();
    let db1 = a.db.clone();
    exec.spawn(0, async move {
        let batch = vec![(Ref::new(BUCKET, "a"), Some(json("v1")))];
        write(&db1, batch, Ack::Local).await.expect("accepted");
    });
    // Offline the moment the entry's attempt is stored: its PUT has just
    // left, and the network takes at least a millisecond.
    let (exec2, device2, a2, at2) = (exec.clone(), device.clone(), a.clone(), offline_at.clone());
    exec.spawn(2, async move {
        loop {
            let attempt = device2
                .scan(Table::Queue, "")
                .unwrap()
                .iter()
                .filter_map(|(k, v)| QueuedWrite::from_text(k, v).ok())
                .find_map(|w| w.attempts.first().map(|(_, object, _)| object.clone()));
            if let Some(object) = attempt {
                a2.set_online(false);
                *at2.borrow_mut() = Some((exec2.now(), object));
                break;
            }
            exec2.sleep(1).await;
        }
        // Past autoclean's grace, while the key is written over and over.
        exec2.sleep(ABSENCE_MS).await;
        a2.set_online(true);
    });
    overwrite_repeatedly(&exec, &b);
    exec.run_until(START + ABSENCE_MS as i64 + 5 * 60_000);
    let (went_offline, object) = offline_at
        .borrow()
        .clone()
        .expect("the entry was attempted");
    let model = model.borrow();
    let entry_put = model
        .puts
        .iter()
        .find(|put| put.key == object)
        .expect("the entry PUT in flight reached the bucket");
    assert!(
        entry_put.last_modified > went_offline,
        "the entry PUT was in flight when the client went offline"
    );
    assert_v1_committed_once(&model, &device);
}

/// A write whose entry PUT lands but whose answers stall, each attempt
/// ending at the time limit, for longer than autoclean's grace, while
/// another client writes other keys: by the time the PUT's retry hears 412
/// (it landed), autoclean has collected the entry, and the writer's
/// listing misses it. Written again on that evidence, the write would be
/// committed twice (the simulation of stalled requests found it, at one
/// minute's grace); the listing proves nothing that late, so the write is
/// settled as a resumed one, and the other client's entries carry its
/// value.
#[test]
fn an_entry_put_answered_after_its_entry_was_collected_is_not_written_twice() {
    // The entry PUT, its retries (cut off in time) and the requests that
    // settle it all stall.
    let limit = DbConfig::new(BUCKET).retry.timeout_ms as i64;
    let stalls = (SURELY_UNCOLLECTED_MS / limit + 6) as u32;
    stalled_past_collection((7..6 + stalls).collect());
    // A retry hears 412 before the cut-off, and the listing that should
    // date the entry stalls until autoclean collected it: the listing
    // proves nothing then.
    stalled_past_collection((7..=20).chain(22..=26).collect());
}

/// Client A's entry PUT (request 6) lands and stalls, and so do A's
/// requests in `stalled`, while B polls and writes other keys.
fn stalled_past_collection(stalled: Vec<u32>) {
    let mut p = quiet_params(false);
    p.retry_attempts = 40;
    let World {
        exec,
        model,
        net,
        device,
    } = quiet_world(&p, 7);
    let a = make_client(&exec, &model, &net, &device, &p, 0, 0, 1);
    let b = make_client(&exec, &model, &net, &device, &p, 1, 1, 2);
    // Requests: content PUT, marker GET (404), the claim's If-Match probe
    // (refused), the claim, LIST, then the entry PUT (6): applied, and
    // its answer stalls.
    let limit = DbConfig::new(BUCKET).retry.timeout_ms as i64;
    let stalls = stalled.len() as u32 + 1;
    let mut script = a.db.io().script.borrow_mut();
    script.insert(6, "stall-applied");
    script.extend(stalled.iter().map(|&n| (n, "stall")));
    drop(script);
    let result = spawn_put(&exec, &a, "a", "v1");
    // B polls (autoclean runs in polls), and writes other keys: its
    // entries carry A's value in their `files`.
    let heard = b.hear("a");
    let (exec2, db2) = (exec.clone(), b.db.clone());
    exec.spawn(1, async move {
        for i in 0..(stalls as i64 * limit / 25_000 + 8) {
            exec2.sleep(25_000).await;
            let r = put(&db2, Ref::new(BUCKET, "b"), Some(json(&format!("b{i}")))).await;
            assert!(r.is_ok(), "b{i}: {r:?}");
        }
    });
    exec.run_until(START + stalls as i64 * limit + 10 * 60_000);
    let requests = a.db.io().requests.borrow().clone();
    assert_is_entry_put(&requests, 6);
    let entry = requests[5].split('/').next_back().unwrap().to_string();
    let entry_puts = requests.iter().filter(|r| *r == &requests[5]).count();
    assert!(entry_puts > 1, "the entry PUT was retried: {requests:#?}");
    assert_eq!(
        result.borrow().clone(),
        Some(Ok(())),
        "acknowledged once settled"
    );
    let model = model.borrow();
    let bucket = &model.buckets[0].1;
    assert!(
        model
            .puts
            .iter()
            .any(|put| put.key.ends_with(&entry.replace("%40", "@"))),
        "the entry landed"
    );
    assert!(
        !bucket
            .objects
            .iter()
            .any(|(k, _)| k.ends_with(&entry.replace("%40", "@"))),
        "autoclean collected the entry, and no retry made it again"
    );
    assert_v1_committed_once(&model, &device);
    let heard = heard.borrow();
    assert_eq!(
        heard.iter().filter(|v| v.as_deref() == Some("v1")).count(),
        1,
        "B's subscriber heard v1 once: {heard:?}"
    );
}

/// A time limit longer than autoclean's grace (or none) still lets the
/// entry PUT leave: only its retries are cut off in time.
#[test]
fn a_time_limit_longer_than_the_grace_still_sends_the_entry() {
    for limit in [0, 2 * AUTOCLEAN_GRACE_MS as u64] {
        let mut p = quiet_params(false);
        p.timeout_ms = limit;
        let World {
            exec,
            model,
            net,
            device,
        } = quiet_world(&p, 11);
        let a = make_client(&exec, &model, &net, &device, &p, 0, 0, 1);
        let result = spawn_put(&exec, &a, "a", "v1");
        exec.run_until(START + 60_000);
        assert_eq!(result.borrow().clone(), Some(Ok(())), "limit {limit}");
        assert_v1_committed_once(&model.borrow(), &device);
    }
}

/// A write whose client goes offline while the entry's attempt is being
/// stored, so that its entry PUT never leaves, and which stays offline past
/// autoclean's grace while another client writes the key over and over.
/// The attempt is forgotten at once; kept, on return it could only be
/// judged by a listing from which autoclean may have collected it, and the
/// write was counted as landed and lost.
#[test]
fn an_entry_put_never_sent_because_its_client_went_offline_is_not_lost() {
    let p = quiet_params(false);
    let World {
        exec,
        model,
        net,
        device,
    } = quiet_world(&p, 6);
    let a = Rc::new(make_client(&exec, &model, &net, &device, &p, 0, 0, 1));
    let b = make_client(&exec, &model, &net, &device, &p, 1, 1, 2);
    let offline_at: Rc<Cell<Option<i64>>> = Rc::default();
    let (a1, exec1, at1) = (a.clone(), exec.clone(), offline_at.clone());
    *device.on_put.borrow_mut() = Some(Box::new(move |table, key, value| {
        let attempted = table == Table::Queue
            && QueuedWrite::from_text(key, value).is_ok_and(|w| !w.attempts.is_empty());
        if attempted && at1.get().is_none() {
            a1.set_online(false);
            at1.set(Some(exec1.now()));
        }
    }));
    let db2 = a.db.clone();
    exec.spawn(0, async move {
        let batch = vec![(Ref::new(BUCKET, "a"), Some(json("v1")))];
        write(&db2, batch, Ack::Local).await.expect("accepted");
    });
    let (exec3, a3, at3) = (exec.clone(), a.clone(), offline_at.clone());
    exec.spawn(2, async move {
        while at3.get().is_none() {
            exec3.sleep(1).await;
        }
        // Past autoclean's grace, while the key is written over and over.
        exec3.sleep(ABSENCE_MS).await;
        a3.set_online(true);
    });
    overwrite_repeatedly(&exec, &b);
    exec.run_until(START + ABSENCE_MS as i64 + 5 * 60_000);
    assert!(offline_at.get().is_some(), "the entry was attempted");
    let model = model.borrow();
    assert_v1_committed_once(&model, &device);
}

/// Two tabs of one client (one store, one namespace, messages between
/// them): a write queued in one is masked in the other at once; when its
/// tab dies mid-write the other takes it over and commits it once; a write
/// its own tab commits retires the other's mask without a flicker.
#[test]
fn tabs_share_queued_writes_and_one_takes_over_when_the_other_dies() {
    let p = quiet_params(false);
    let World {
        exec,
        model,
        net,
        device,
    } = quiet_world(&p, 11);
    // Tabs 0 and 1 are client 0 twice (its namespace), in groups 0 and 1.
    let one = make_client(&exec, &model, &net, &device, &p, 0, 0, 1);
    let two = make_client(&exec, &model, &net, &device, &p, 0, 1, 2);
    for (group, tab) in [(0usize, &one), (1, &two)] {
        let inbox: Rc<RefCell<Vec<String>>> = Rc::default();
        device
            .inboxes
            .borrow_mut()
            .push((group, "c0/".into(), inbox.clone()));
        let (db, exec2) = (tab.db.clone(), exec.clone());
        exec.spawn(group, async move {
            loop {
                // The edge's channel: each message to the engine.
                let msgs: Vec<String> = std::mem::take(&mut *inbox.borrow_mut());
                for m in msgs {
                    db.receive(&m).await;
                }
                exec2.sleep(50).await;
            }
        });
    }
    let seen = two.hear("k");
    // Tab one dies right after its entry PUT for "first" reaches the
    // server (content PUT, marker GET, probe, claim, LIST, entry PUT =
    // request 6).
    one.db.io().crash_at.set(Some((6, true)));
    let db1 = one.db.clone();
    exec.spawn(0, async move {
        let batch = vec![(Ref::new(BUCKET, "k"), Some(json("first")))];
        write(&db1, batch, Ack::Local).await.unwrap();
    });
    // (time, pending writes, value read) as tab two saw them.
    type Observation = (i64, usize, Option<String>);
    let observed: Rc<RefCell<Vec<Observation>>> = Rc::default();
    let (db2, exec2, obs2) = (two.db.clone(), exec.clone(), observed.clone());
    exec.spawn(1, async move {
        for _ in 0..400 {
            let v = db2
                .get(&Ref::new(BUCKET, "k"), None)
                .await
                .ok()
                .flatten()
                .map(|v| unjson(&v));
            obs2.borrow_mut()
                .push((exec2.now() - START, db2.pending_writes(), v));
            exec2.sleep(100).await;
        }
    });
    // Then tab two writes "second" itself, committed normally.
    let (exec3, db3) = (exec.clone(), two.db.clone());
    exec.spawn(1, async move {
        exec3.sleep(20_000).await;
        put(&db3, Ref::new(BUCKET, "k"), Some(json("second")))
            .await
            .unwrap();
    });
    exec.run_until(START + 45_000);
    assert_is_entry_put(&one.db.io().requests.borrow(), 6);
    let written = written_values(&model.borrow(), false);
    assert_eq!(
        written,
        ["first", "second"],
        "each committed once, in order"
    );
    assert_eq!(device.queued(), 0);
    let obs = observed.borrow();
    let first_seen = obs
        .iter()
        .position(|(_, _, v)| v.as_deref() == Some("first"))
        .expect("tab two reads tab one's write");
    assert!(
        obs[first_seen].1 == 1 && obs[first_seen].0 < 1_000,
        "masked in tab two at once, as pending: {:?}",
        &obs[..first_seen + 1]
    );
    assert!(
        obs[first_seen..].iter().all(|(_, _, v)| v.is_some()),
        "never absent again (no flicker across the takeover): {obs:?}"
    );
    assert_eq!(
        *seen.borrow(),
        [Some("first".into()), Some("second".into())],
        "the first call is the current value (tab one's, already masked), then one per version"
    );
}

/// PUTs and LISTs among the requests a client sent from `from` on.
fn puts_and_lists(requests: &[String], from: usize) -> (usize, usize) {
    let r = &requests[from..];
    (
        r.iter().filter(|r| r.starts_with("Put ")).count(),
        r.iter().filter(|r| r.contains("list-type=2")).count(),
    )
}

/// Puts "v0", "v1", ... to "a", each after its pause; (PUTs, LISTs) each.
async fn counted_puts(
    exec: &Rc<Executor>,
    db: &Rc<Db<SimIo>>,
    pauses: &[u64],
) -> Vec<(usize, usize)> {
    let mut counts = Vec::new();
    for (i, &pause) in pauses.iter().enumerate() {
        exec.sleep(pause).await;
        let from = db.io().requests.borrow().len();
        put(db, Ref::new(BUCKET, "a"), Some(json(&format!("v{i}"))))
            .await
            .unwrap();
        counts.push(puts_and_lists(&db.io().requests.borrow(), from));
    }
    counts
}

/// Claims (docs/protocol.md): once a client's log is settled, its put is
/// three PUTs and no listing (content, claim, entry); an idle poll is one
/// GET; another client settles again by finding the claimed entry in one
/// listing. Everyone hears every value, in order.
#[test]
fn a_settled_writer_puts_without_listing_and_idle_polls_never_list() {
    let p = quiet_params(false);
    let World {
        exec,
        model,
        net,
        device,
    } = quiet_world(&p, 21);
    let w = make_client(&exec, &model, &net, &device, &p, 0, 0, 1);
    let r = make_client(&exec, &model, &net, &device, &p, 1, 1, 2);
    let heard_w = w.hear("a");
    let heard_r = r.hear("a");
    // (PUTs, LISTs) of each put by the writer, and the reader's LISTs
    // during the idle minute at the end.
    let per_put: Rc<RefCell<Vec<(usize, usize)>>> = Rc::default();
    let idle_lists: Rc<Cell<Option<(usize, usize)>>> = Rc::default();
    let (exec1, w1, r1, per_put1, idle1) = (
        exec.clone(),
        w.db.clone(),
        r.db.clone(),
        per_put.clone(),
        idle_lists.clone(),
    );
    exec.spawn(2, async move {
        // The first put is cold; the second comes before the log is
        // settled at its claim; then every 9 s, past the settling.
        let pauses = [500, 500, 9_000, 9_000, 9_000, 9_000];
        *per_put1.borrow_mut() = counted_puts(&exec1, &w1, &pauses).await;
        exec1.sleep(5_000).await;
        let (fw, fr) = (
            w1.io().requests.borrow().len(),
            r1.io().requests.borrow().len(),
        );
        exec1.sleep(60_000).await;
        idle1.set(Some((
            puts_and_lists(&w1.io().requests.borrow(), fw).1,
            puts_and_lists(&r1.io().requests.borrow(), fr).1,
        )));
    });
    exec.run_until(START + 180_000);
    let per_put = per_put.borrow().clone();
    assert_eq!(per_put.len(), 6, "every put was acknowledged");
    // Cold: content, the If-Match probe, the claim, the entry; a listing.
    assert_eq!(per_put[0], (4, 1), "the first put: {per_put:?}");
    // Settled: content, claim, entry, and no listing.
    for (i, &counts) in per_put.iter().enumerate().skip(2) {
        assert_eq!(counts, (3, 0), "put {i} of {per_put:?}");
    }
    assert_eq!(
        idle_lists.get(),
        Some((0, 0)),
        "a minute of idle polls lists nothing"
    );
    let values: Vec<Option<String>> = (0..6).map(|i| Some(format!("v{i}"))).collect();
    for heard in [&heard_w, &heard_r] {
        let mut heard = heard.borrow().clone();
        // The first call is the current value (absent at the start).
        assert_eq!(heard.remove(0), None);
        heard.dedup();
        assert_eq!(heard, values, "every value, in order");
    }
    // The reader listed about once per put: it settled again by finding
    // each chained claim's entry, not by waiting out the deadline.
    let reader_lists = puts_and_lists(&r.db.io().requests.borrow(), 0).1;
    assert!(
        reader_lists <= 6 * 2 + 2,
        "the reader listed {reader_lists} times"
    );
    assert_eq!(oracle_log(&model.borrow()).len(), 6);
}

/// A server that ignores `If-Match` could let two claims chain on one
/// marker: the probe finds that out, and every put then lists.
#[test]
fn a_server_ignoring_if_match_makes_every_put_list() {
    let p = quiet_params(false);
    let World {
        exec,
        model,
        net,
        device,
    } = quiet_world(&p, 22);
    model.borrow_mut().ignore_put_conditions = true;
    let w = make_client(&exec, &model, &net, &device, &p, 0, 0, 1);
    let _heard = w.hear("a");
    let per_put: Rc<RefCell<Vec<(usize, usize)>>> = Rc::default();
    let (exec1, w1, per_put1) = (exec.clone(), w.db.clone(), per_put.clone());
    exec.spawn(2, async move {
        *per_put1.borrow_mut() = counted_puts(&exec1, &w1, &[9_000; 4]).await;
    });
    exec.run_until(START + 120_000);
    // The probe is written (it is the first claim); each put lists.
    assert_eq!(*per_put.borrow(), [(3, 1), (3, 1), (3, 1), (3, 1)]);
}

/// When `Db::write` resolves, by what it was asked and the client's
/// state: the entries in the bucket at that moment. `Local` resolves once
/// the write is durable in the store, before any entry; `Remote`, and the
/// default online, once the entry landed; the default offline is `Local`;
/// and `Local` over a failed store waits for the bucket, since nothing
/// else would keep the write.
#[test]
fn a_write_resolves_as_its_acknowledgement_asks() {
    fn entries_at_resolution(ack: Option<Ack>, online: bool, store_broken: bool) -> usize {
        let p = quiet_params(false);
        let World {
            exec,
            model,
            net,
            device,
        } = quiet_world(&p, 5);
        device.broken.set(store_broken);
        let c = make_client(&exec, &model, &net, &device, &p, 0, 0, 1);
        c.set_online(online);
        let (db, model2) = (c.db.clone(), model.clone());
        let at = Rc::new(Cell::new(None));
        let at2 = at.clone();
        exec.spawn(0, async move {
            write(&db, vec![(Ref::new(BUCKET, "a"), Some(json("v")))], ack)
                .await
                .expect("the write is accepted");
            at2.set(Some(oracle_log(&model2.borrow()).len()));
        });
        if !online {
            let c2 = c.db.clone();
            let exec2 = exec.clone();
            exec.spawn(0, async move {
                exec2.sleep(5_000).await;
                c2.set_online(true);
            });
        }
        exec.run_until(START + 60_000);
        assert_eq!(oracle_log(&model.borrow()).len(), 1, "committed in the end");
        at.get().expect("resolved")
    }
    assert_eq!(entries_at_resolution(Some(Ack::Local), true, false), 0);
    assert_eq!(entries_at_resolution(Some(Ack::Remote), true, false), 1);
    assert_eq!(
        entries_at_resolution(None, true, false),
        1,
        "online default"
    );
    assert_eq!(
        entries_at_resolution(None, false, false),
        0,
        "offline default"
    );
    assert_eq!(
        entries_at_resolution(Some(Ack::Local), true, true),
        1,
        "no store: only the bucket keeps the write"
    );
}

/// Two tabs of one client; tab one queues two writes offline and dies
/// before committing them. Tab two, which waits on their locks, takes
/// them over at once (well before the periodic check) and commits them in
/// the order they were made, whichever lock it was granted first.
#[test]
fn a_dead_tabs_writes_are_taken_over_at_once_and_in_order() {
    let p = quiet_params(false);
    let World {
        exec,
        model,
        net,
        device,
    } = quiet_world(&p, 13);
    let one = make_client(&exec, &model, &net, &device, &p, 0, 0, 1);
    let two = make_client(&exec, &model, &net, &device, &p, 0, 1, 2);
    connect_tabs(&exec, &device, &[(0, &one), (1, &two)]);
    one.set_online(false);
    let db1 = one.db.clone();
    exec.spawn(0, async move {
        for value in ["first", "second", "third"] {
            write(&db1, vec![(Ref::new(BUCKET, "k"), Some(json(value)))], None)
                .await
                .expect("queued offline");
        }
    });
    let exec2 = exec.clone();
    const DIES_AT: i64 = 1_000;
    exec.spawn(usize::MAX, async move {
        exec2.sleep(DIES_AT as u64).await;
        exec2.kill(0);
    });
    exec.run_until(START + 30_000);
    let log = oracle_log(&model.borrow());
    assert_eq!(
        written_values(&model.borrow(), false),
        ["first", "second", "third"],
        "each committed once, in the order made"
    );
    let taken_over_in = log[0].0 - START - DIES_AT;
    assert!(
        taken_over_in < 2_000,
        "taken over at once, not at the periodic check: {taken_over_in} ms"
    );
    assert_eq!(device.queued(), 0);
}

/// The tabs' `BroadcastChannel`: each tab's inbox delivered to its engine
/// (`Db::receive`) every 50 ms, on the tab's own group.
fn connect_tabs(exec: &Rc<Executor>, device: &Rc<Device>, tabs: &[(usize, &Client)]) {
    for (group, tab) in tabs {
        let inbox: Rc<RefCell<Vec<String>>> = Rc::default();
        device
            .inboxes
            .borrow_mut()
            .push((*group, tab.db.io().namespace.clone(), inbox.clone()));
        let (db, exec2) = (tab.db.clone(), exec.clone());
        exec.spawn(*group, async move {
            loop {
                let msgs: Vec<String> = std::mem::take(&mut *inbox.borrow_mut());
                for m in msgs {
                    db.receive(&m).await;
                }
                exec2.sleep(50).await;
            }
        });
    }
}
