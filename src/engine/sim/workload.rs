//! The random workload: each seed draws its world (`Params`), runs 2-4
//! clients through a sequence of operations with faults, skew, offline
//! periods and a crash, then calms the network and reads everything back
//! (`run`), recording the history the checker judges.

use super::*;

#[derive(Clone, Debug)]
pub(super) enum Op {
    Put(String, Option<String>),
    PutAll(Vec<(String, Option<String>)>),
    Get(String),
    GetAll(Vec<String>),
    /// A transaction adding one to [`COUNTER`] (v2): what it wrote.
    Increment,
}

/// The key v2 runs increment with transactions, beside the run's keys.
pub(super) const COUNTER: &str = "counter";

impl Op {
    /// A random operation over `keys`; a write's values are `value` (with
    /// `a`, `b` for a batch's two keys), unique in the run.
    fn draw(rng: &mut Rng, keys: &[String], value: &str, v2: bool) -> Op {
        let pick = |r: &mut Rng| keys[r.range(0, keys.len() as u64) as usize].clone();
        let roll = rng.next_f64();
        if v2 && (0.85..0.93).contains(&roll) {
            Op::Increment
        } else if roll < 0.45 {
            Op::Put(pick(rng), Some(value.to_string()))
        } else if roll < 0.55 {
            Op::Put(pick(rng), None)
        } else if roll < 0.7 {
            let (a, b) = (pick(rng), pick(rng));
            let mut entries = vec![(a.clone(), Some(format!("{value}a")))];
            if b != a {
                entries.push((b, Some(format!("{value}b"))));
            }
            Op::PutAll(entries)
        } else if roll < 0.85 {
            Op::Get(pick(rng))
        } else {
            Op::GetAll(keys.to_vec())
        }
    }

    /// Carries the operation out through the engine's calls, as the
    /// binding does: what a read returned (a write returns nothing), and
    /// whether a write was acknowledged as committed.
    async fn apply(&self, db: &Rc<Db<SimIo>>, ack: Option<Ack>) -> Result<Answer> {
        let batch = |entries: &[(String, Option<String>)]| -> Batch {
            entries
                .iter()
                .map(|(k, v)| (key_ref(k), v.as_deref().map(json)))
                .collect()
        };
        let written = |acked: Acked| Answer {
            reads: vec![],
            committed: matches!(acked, Acked::Committed(_)),
        };
        let read = |reads: Reads| Answer {
            reads,
            committed: false,
        };
        match self {
            Op::Put(k, v) => db
                .write(
                    Change::Values(batch(&[(k.clone(), v.clone())])),
                    &[],
                    ack,
                    None,
                )
                .await
                .map(written),
            Op::PutAll(entries) => db
                .write(Change::Values(batch(entries)), &[], ack, None)
                .await
                .map(written),
            Op::Get(k) => db
                .get(&key_ref(k), None)
                .await
                .map(|v| read(vec![v.as_ref().map(unjson)])),
            Op::GetAll(ks) => {
                let refs: Vec<Ref> = ks.iter().map(|k| key_ref(k)).collect();
                values(db, &refs)
                    .await
                    .map(|vs| read(vs.iter().map(|v| v.as_ref().map(unjson)).collect()))
            }
            Op::Increment => {
                let d = db.clone();
                let ran = db
                    .transaction(None, move |tx| {
                        let d = d.clone();
                        async move {
                            let n = d.tx_get(&tx, &key_ref(COUNTER)).await?;
                            let n: u64 = n.map_or(0, |v| unjson(&v).parse().unwrap());
                            let next = (n + 1).to_string();
                            d.tx_set(&tx, key_ref(COUNTER), Some(json(&next)))?;
                            Ok::<String, Error>(next)
                        }
                    })
                    .await;
                ran.and_then(|r| r).map(|next| read(vec![Some(next)]))
            }
        }
    }

    /// The (key, value) pairs a write sets (deletes set none).
    pub(super) fn values_written(&self) -> Vec<(String, String)> {
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

/// What an operation answered.
pub(super) struct Answer {
    reads: Reads,
    /// A write acknowledged as in the bucket (`Acked::Committed`).
    committed: bool,
}

#[derive(Clone, Debug)]
pub(super) struct Record {
    pub(super) client: usize,
    pub(super) op: Op,
    pub(super) started: i64,
    /// Acknowledged as in the bucket: asked so (`Ack::Remote`), or the
    /// default acknowledgement's answer (`Acked::Committed`).
    pub(super) remote: bool,
    pub(super) completed: Option<i64>,
    /// Reads: the values; writes: empty. `Err` for a rejected operation.
    pub(super) outcome: Option<std::result::Result<Vec<Option<String>>, String>>,
}

#[derive(Clone)]
pub(super) struct Params {
    pub(super) clients: usize,
    pub(super) keys: Vec<String>,
    pub(super) versioning: bool,
    pub(super) autoclean: bool,
    pub(super) lm_precision: i64,
    pub(super) fault_rate: f64,
    pub(super) slow_rate: f64,
    pub(super) ops: usize,
    pub(super) skews: Vec<i64>,
    pub(super) crash: Option<(usize, i64)>,
    pub(super) poll_ms: u64,
    /// Upper bound of the pause before each operation.
    pub(super) think_ms: u64,
    /// Content cache size: tiny in half the seeds, so values are evicted
    /// and fetched again.
    pub(super) cache_bytes: usize,
    /// Presigned reads (the browser's way) or conditional GETs.
    pub(super) presign_reads: bool,
    /// What the clients' credentials say their writer ids start with (an
    /// auth proxy's binding).
    pub(super) writer_prefix: Option<String>,
    /// Clients go offline and back at random while they work.
    pub(super) toggles: bool,
    /// The bound on content in each client's durable store.
    pub(super) offline_bytes: usize,
    /// Attempts per request before a transient failure is final.
    pub(super) retry_attempts: u32,
    /// Each attempt's time limit (`RetryPolicy::timeout_ms`).
    pub(super) timeout_ms: u64,
    /// `DbConfig::gzip` (the simulation's edge compresses only where a
    /// scripted test gives it a compressor: `SimIo::compress`).
    pub(super) gzip: bool,
    pub(super) protocol: Protocol,
    /// v2: `DbConfig::checkpoint_every` and `DbConfig::grace_ms`, small,
    /// so that runs checkpoint and collect.
    pub(super) checkpoint_every: u64,
    pub(super) grace_ms: i64,
    /// Every client encrypts the manifest's values with this passphrase
    /// (protocol v2; the random runs' is [`SIM_PASSPHRASE`]).
    pub(super) passphrase: Option<String>,
}

impl Params {
    /// One seed's schedule. A third of the seeds are *contended*: more
    /// clients on one or two keys, no pause between operations, slow
    /// networks: the schedules where window races live.
    pub(super) fn draw(rng: &mut Rng) -> Params {
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
            writer_prefix: None,
            toggles: rng.next_f64() < 0.3,
            offline_bytes: if rng.next_f64() < 0.3 { 100 } else { 64 << 20 },
            retry_attempts: 10,
            timeout_ms: DbConfig::new(BUCKET).retry.timeout_ms,
            gzip: true,
            protocol: Protocol::V1,
            checkpoint_every: 64,
            grace_ms: AUTOCLEAN_GRACE_MS,
            passphrase: None,
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

pub(super) struct Outcome {
    pub(super) history: Vec<Record>,
    pub(super) finals: Vec<(usize, Vec<Option<String>>)>,
    pub(super) notifications: BTreeMap<usize, Vec<Option<String>>>,
    pub(super) model: Rc<RefCell<InMemoryS3>>,
    pub(super) params: Params,
    pub(super) device: Rc<Device>,
    /// Whether a crashed client was started again (it then reads last).
    pub(super) restarted: bool,
    /// Entries written without a listing (a settled log, a chained claim).
    pub(super) unlisted: u32,
    /// v2 entries that carried the writes queued behind theirs.
    pub(super) grouped: u32,
    /// Atomic writes (transactions' commits) whose check failed.
    pub(super) failed_checks: u32,
    /// Requests the server applied late.
    pub(super) applied_late: u32,
    /// Times a client found the bucket unreachable without being told.
    pub(super) disconnections: u32,
    /// Reads made as soon as every write was committed (before the quiet
    /// time the final reads wait for): survivors', then a fresh client's.
    pub(super) prompt: Vec<(usize, Reads)>,
}

/// One seed's run: the world drawn, then the phases below on the virtual
/// clock, then what the checker needs.
/// One seed's run on `protocol`, its values encrypted or not.
pub(super) fn run_with(seed: u64, protocol: Protocol, encrypted: bool) -> Outcome {
    APPLIED_LATE.with(|n| n.set(0));
    let mut rng = Rng::new(seed);
    let sim = Sim::new(seed, &mut rng, protocol, encrypted);
    let clients: Vec<Client> = (0..sim.p.clients)
        .map(|c| sim.client(c, c, rng.next_u64()))
        .collect();
    for (c, client) in clients.iter().enumerate() {
        sim.spawn_worker(c, client, Rng::new(rng.next_u64()));
        sim.record_notifications(c, client);
    }
    if sim.p.toggles {
        for (c, client) in clients.iter().enumerate() {
            sim.spawn_toggles(c, client, Rng::new(rng.next_u64()));
        }
    }
    if let Some(mut blackouts) = blackouts(seed) {
        for (c, client) in clients.iter().enumerate() {
            let rng = Rng::new(blackouts.rng.next_u64());
            sim.spawn_blackouts(c, client, rng, blackouts.told);
        }
    }
    if let Some((victim, at)) = sim.p.crash {
        let restart_after = rng.range(0, 15_000);
        sim.spawn_crash(victim, at, restart_after, rng.next_u64());
    }
    let fresh = sim.client(99, 99, rng.next_u64());
    sim.spawn_controller(&clients, fresh);
    sim.exec.run_until(START + 30 * 60_000);
    assert!(
        sim.stop.get(),
        "seed {seed}: the run did not finish (deadlock?)"
    );
    sim.outcome(&clients)
}

/// What a run's phases share.
struct Sim {
    p: Params,
    exec: Rc<Executor>,
    model: Rc<RefCell<InMemoryS3>>,
    net: Rc<RefCell<Net>>,
    device: Rc<Device>,
    history: Rc<RefCell<Vec<Record>>>,
    notifications: Rc<RefCell<BTreeMap<usize, Reads>>>,
    finals: Rc<RefCell<Vec<(usize, Reads)>>>,
    prompt: Rc<RefCell<Vec<(usize, Reads)>>>,
    /// Workers not done yet.
    workers_left: Rc<Cell<usize>>,
    /// The crashed client, started again.
    restarted: Rc<RefCell<Option<Rc<Db<SimIo>>>>>,
    /// Set when the controller read everything.
    stop: Rc<Cell<bool>>,
}

/// Counts a worker done when its future is dropped: finished, or killed
/// by a crash, even before its first poll.
struct Done(Rc<Cell<usize>>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

fn key_ref(k: &str) -> Ref {
    Ref::new(BUCKET, k)
}

impl Sim {
    /// The seed's world: its parameters, clock, bucket and network.
    fn new(seed: u64, rng: &mut Rng, protocol: Protocol, encrypted: bool) -> Sim {
        let mut p = Params::draw(rng);
        p.protocol = protocol;
        p.passphrase = encrypted.then(|| SIM_PASSPHRASE.to_string());
        let mut conflict_rng = Rng::new(seed ^ 0x4331_3039);
        if protocol == Protocol::V2 {
            // Checkpoints every 2-6 entries, collected 20-60 s later:
            // within a run, under its stalls and late requests.
            p.checkpoint_every = conflict_rng.range(2, 7);
            p.grace_ms = conflict_rng.range(20_000, 60_001) as i64;
        }
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
            conflict_rate: if protocol == Protocol::V2 {
                p.fault_rate
            } else {
                0.0
            },
            conflict_rng,
            fixed_latency_ms: None,
        }));
        Sim {
            workers_left: Rc::new(Cell::new(p.clients)),
            p,
            exec,
            model,
            net,
            device: Rc::new(Device::default()),
            history: Rc::default(),
            notifications: Rc::default(),
            finals: Rc::default(),
            prompt: Rc::default(),
            restarted: Rc::default(),
            stop: Rc::new(Cell::new(false)),
        }
    }

    fn client(&self, client: usize, group: usize, seed: u64) -> Client {
        make_client(
            &self.exec,
            &self.model,
            &self.net,
            &self.device,
            &self.p,
            client,
            group,
            seed,
        )
    }

    /// The worker: a random sequence of operations, one at a time, each
    /// recorded with its outcome.
    fn spawn_worker(&self, c: usize, client: &Client, mut rng: Rng) {
        let (db, exec, history) = (client.db.clone(), self.exec.clone(), self.history.clone());
        let (keys, ops, think) = (self.p.keys.clone(), self.p.ops, self.p.think_ms);
        let v2 = self.p.protocol == Protocol::V2;
        let done = Done(self.workers_left.clone());
        self.exec.spawn(c, async move {
            let _done = done;
            for i in 0..ops {
                exec.sleep(rng.range(0, think)).await;
                let op = Op::draw(&mut rng, &keys, &format!("c{c}-{i}"), v2);
                // A third of the writes ask to be acknowledged once
                // queued; the rest take the engine's default (once
                // committed online, once queued offline). On v2, a fifth
                // ask for the bucket: what linearizability is judged on.
                let roll = rng.next_f64();
                let ack = if roll < 0.3 {
                    Some(Ack::Local)
                } else if v2 && roll < 0.5 {
                    Some(Ack::Remote)
                } else {
                    None
                };
                let idx = {
                    let mut h = history.borrow_mut();
                    h.push(Record {
                        client: c,
                        op: op.clone(),
                        started: exec.now(),
                        remote: ack == Some(Ack::Remote),
                        completed: None,
                        outcome: None,
                    });
                    h.len() - 1
                };
                let outcome = op.apply(&db, ack).await;
                let mut h = history.borrow_mut();
                h[idx].completed = Some(exec.now());
                if let Ok(answer) = &outcome {
                    h[idx].remote |= answer.committed;
                }
                h[idx].outcome = Some(outcome.map(|a| a.reads).map_err(|e| e.to_string()));
            }
        });
    }

    /// A subscriber of the first key, polled by the engine's poller; what
    /// its handler hears is recorded.
    fn record_notifications(&self, c: usize, client: &Client) {
        let notes = self.notifications.clone();
        let db = &client.db;
        let sub = db
            .subscribe(&Watch::Key(key_ref(&self.p.keys[0])), None)
            .unwrap();
        let weak = Rc::downgrade(db);
        *db.io().deliver.borrow_mut() = Some(Rc::new(move || {
            let Some(db) = weak.upgrade() else { return };
            for e in db.take_events() {
                if let Event::Value { sub: s, value, .. } = e {
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

    /// Offline and back at random while the workers work; online at the
    /// end.
    fn spawn_toggles(&self, c: usize, client: &Client, mut rng: Rng) {
        let (exec, left) = (self.exec.clone(), self.workers_left.clone());
        let client = Client {
            db: client.db.clone(),
        };
        self.exec.spawn(c + 500, async move {
            while left.get() > 0 {
                exec.sleep(rng.range(200, 3_000)).await;
                client.set_online(false);
                exec.sleep(rng.range(100, 5_000)).await;
                client.set_online(true);
            }
        });
    }

    /// The network lost and back at random while the workers work, the
    /// client told by the browser's events only if `told`; back at the
    /// end.
    fn spawn_blackouts(&self, c: usize, client: &Client, mut rng: Rng, told: bool) {
        let (exec, left, db) = (
            self.exec.clone(),
            self.workers_left.clone(),
            client.db.clone(),
        );
        self.exec.spawn(c + 700, async move {
            while left.get() > 0 {
                exec.sleep(rng.range(500, 6_000)).await;
                db.io().blackout.set(true);
                if told {
                    db.browser_online(false);
                }
                if tracing() {
                    eprintln!("t={} c{c} blackout", exec.now() - START);
                }
                exec.sleep(rng.range(100, 10_000)).await;
                db.io().blackout.set(false);
                if told {
                    db.browser_online(true);
                }
                if tracing() {
                    eprintln!("t={} c{c} network back", exec.now() - START);
                }
            }
        });
    }

    /// A crash of `victim` at `at`, and the client started again over its
    /// store `restart_after` ms later: it commits what the crash left
    /// queued.
    fn spawn_crash(&self, victim: usize, at: i64, restart_after: u64, seed: u64) {
        let (exec, restarted) = (self.exec.clone(), self.restarted.clone());
        let again = Sim {
            p: self.p.clone(),
            exec: self.exec.clone(),
            model: self.model.clone(),
            net: self.net.clone(),
            device: self.device.clone(),
            history: Rc::default(),
            notifications: Rc::default(),
            finals: Rc::default(),
            prompt: Rc::default(),
            workers_left: Rc::default(),
            restarted: Rc::default(),
            stop: Rc::default(),
        };
        self.exec.spawn(usize::MAX, async move {
            exec.sleep((at - START) as u64).await;
            exec.kill(victim);
            exec.kill(victim + 500);
            exec.kill(victim + 700);
            exec.sleep(restart_after).await;
            *restarted.borrow_mut() = Some(again.client(victim, 1000 + victim, seed).db);
        });
    }

    /// The controller: when the workers are done and the queues empty,
    /// prompt reads; then the network calms, the log settles, and every
    /// survivor, the restarted client and a fresh one read everything;
    /// then the clients stop.
    fn spawn_controller(&self, clients: &[Client], fresh: Client) {
        let crashed = self.p.crash.map(|(v, _)| v);
        let survivors: Vec<(usize, Rc<Db<SimIo>>)> = clients
            .iter()
            .enumerate()
            .filter(|(c, _)| crashed != Some(*c))
            .map(|(c, client)| (c, client.db.clone()))
            .collect();
        let all: Vec<Rc<Db<SimIo>>> = clients.iter().map(|c| c.db.clone()).collect();
        let fresh = fresh.db;
        let (exec, net, device) = (self.exec.clone(), self.net.clone(), self.device.clone());
        let (finals, prompt, stop) = (self.finals.clone(), self.prompt.clone(), self.stop.clone());
        let (left, restarted) = (self.workers_left.clone(), self.restarted.clone());
        let refs: Vec<Ref> = self.p.keys.iter().map(|k| key_ref(k)).collect();
        let timeout_ms = self.p.timeout_ms;
        self.exec.spawn(usize::MAX - 1, async move {
            while left.get() > 0 || (crashed.is_some() && restarted.borrow().is_none()) {
                exec.sleep(200).await;
            }
            // Queued writes are committed (offline periods are over).
            for _ in 0..3_000 {
                if device.queued() == 0 {
                    break;
                }
                exec.sleep(200).await;
            }
            // Every write is committed: a read now sees them all, whoever
            // makes it (a settled log vouches for it; an unsettled one is
            // listed), as a fresh client's read does.
            if device.queued() == 0 {
                let mut reads = Vec::new();
                for (c, db) in survivors.iter().chain([&(usize::MAX, fresh.clone())]) {
                    // Only reads that reached the bucket: offline or
                    // disconnected, a client answers from what it stored.
                    if !db.reachable() {
                        continue;
                    }
                    // (Nor switched offline meanwhile by the app's toggles,
                    // whose last round may outlast the workers.)
                    let before = (db.disconnections(), db.io().offline_switches.get());
                    if let Ok(vs) = values(db, &refs).await {
                        let after = (db.disconnections(), db.io().offline_switches.get());
                        if db.reachable() && after == before {
                            reads.push((*c, vs.iter().map(|v| v.as_ref().map(unjson)).collect()));
                        }
                    }
                }
                *prompt.borrow_mut() = reads;
            }
            *net.borrow_mut() = Net::calm();
            // Past the window, and past the re-listing that finds entries
            // whose writer crashed before touching the marker; and past the
            // time limit, which ends requests that stalled before the calm,
            // and twice that, when the last requests applied late land.
            exec.sleep(2 * LAG_WINDOW_MS as u64 + 12_000 + 3 * timeout_ms)
                .await;
            let mut readers = survivors.clone();
            if let Some(again) = restarted.borrow().clone() {
                readers.push((usize::MAX - 1, again));
            }
            readers.push((usize::MAX, fresh));
            for (c, db) in readers.clone() {
                // Connected again by itself (its prober), with no call.
                for _ in 0..300 {
                    if db.reachable() {
                        break;
                    }
                    exec.sleep(200).await;
                }
                if c == usize::MAX - 1 {
                    // A restarted client's first read answers from its store
                    // (what it had seen); the next one is fresh.
                    let _ = values(&db, &refs).await;
                }
                let vs = values(&db, &refs)
                    .await
                    .expect("reads after the faults stop succeed");
                finals
                    .borrow_mut()
                    .push((c, vs.iter().map(|v| v.as_ref().map(unjson)).collect()));
            }
            // Let pollers deliver the final state too; then the clients stop.
            exec.sleep(3_000).await;
            for db in all.iter().chain(readers.iter().map(|(_, db)| db)) {
                db.shutdown();
            }
            stop.set(true);
        });
    }

    fn outcome(self, clients: &[Client]) -> Outcome {
        let unlisted = clients.iter().map(|c| c.db.unlisted_entries.get()).sum();
        let grouped = clients.iter().map(|c| c.db.grouped_writes.get()).sum();
        let failed_checks = clients.iter().map(|c| c.db.failed_checks.get()).sum();
        let disconnections = clients.iter().map(|c| c.db.disconnections()).sum();
        for c in clients {
            c.db.shutdown();
        }
        let restarted = self.restarted.borrow().is_some();
        Outcome {
            history: self.history.borrow().clone(),
            finals: self.finals.borrow().clone(),
            notifications: self.notifications.borrow().clone(),
            model: self.model,
            params: self.p,
            device: self.device,
            restarted,
            unlisted,
            grouped,
            failed_checks,
            applied_late: APPLIED_LATE.with(Cell::get),
            disconnections,
            prompt: self.prompt.borrow().clone(),
        }
    }
}
