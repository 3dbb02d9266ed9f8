//! What scenarios share: making clients over one bucket and device,
//! writing through the engine's own calls, running a step on the virtual
//! clock, and quiet worlds without faults.

use super::*;

pub(super) fn json(s: &str) -> JsonText {
    serde_json::to_string(s).unwrap().into()
}

pub(super) fn unjson(j: &JsonText) -> String {
    serde_json::from_str(j).unwrap()
}

/// A client of the simulation.
pub(super) struct Client {
    pub(super) db: Rc<Db<SimIo>>,
}

impl Client {
    pub(super) fn set_online(&self, online: bool) {
        self.db.set_online(online);
    }

    /// Subscribes to `key` through the engine (its poller), recording
    /// every value its handler hears.
    pub(super) fn hear(&self, key: &str) -> Rc<RefCell<Vec<Option<String>>>> {
        let heard: Rc<RefCell<Vec<Option<String>>>> = Rc::default();
        let sub = self
            .db
            .subscribe(&Watch::Key(Ref::new(BUCKET, key)), None)
            .unwrap();
        let (weak, heard2) = (Rc::downgrade(&self.db), heard.clone());
        *self.db.io().deliver.borrow_mut() = Some(Rc::new(move || {
            let Some(db) = weak.upgrade() else { return };
            for e in db.take_events() {
                if let Event::Value { sub: s, value, .. } = e {
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
pub(super) async fn write(
    db: &Rc<Db<SimIo>>,
    batch: Batch,
    ack: impl Into<Option<Ack>>,
) -> Result<()> {
    db.write(Change::Values(batch), &[], ack.into(), None)
        .await
        .map(|_| ())
}

/// The values of `keys`, as `getAll` reads them (`Db::entries`).
pub(super) async fn values(db: &Rc<Db<SimIo>>, keys: &[Ref]) -> Result<Vec<Option<JsonText>>> {
    let found = db.read(Select::Keys(keys), None).await?;
    Ok(found.into_iter().map(|f| f.value).collect())
}

/// A put of one key, acknowledged once committed.
pub(super) async fn put(db: &Rc<Db<SimIo>>, key: Ref, value: Option<JsonText>) -> Result<()> {
    write(db, vec![(key, value)], Ack::Remote).await
}

/// The simulated bucket's endpoint and keys, as every client uses them.
pub(super) fn s3_config() -> S3Config {
    S3Config::new(
        Some("http://s3.sim"),
        "us-east-1",
        Credentials::new("sim", "sim"),
    )
    .unwrap()
}

/// Runs `fut` on the simulation's clock until it is done (a minute of
/// virtual time at most: every scripted step takes well under one).
pub(super) fn finish<T: 'static>(exec: &Rc<Executor>, fut: impl Future<Output = T> + 'static) -> T {
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
pub(super) fn make_client(
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
        offline_switches: Cell::new(0),
        blackout: Cell::new(false),
        blocks_writes: Cell::new(false),
        crash_at: Cell::new(None),
        requests: RefCell::default(),
        logs: RefCell::default(),
        sent: Cell::new(0),
        script: RefCell::new(BTreeMap::new()),
        namespace: format!("c{client}/"),
        group,
        compress: Cell::new(None),
        deliver: RefCell::new(None),
        bytes: Cell::new((0, 0)),
        cipher: Default::default(),
    };
    let mut s3c = s3_config();
    s3c.presign_reads = p.presign_reads;
    s3c.credentials.writer_prefix = p.writer_prefix.clone();
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
    cfg.protocol = p.protocol;
    cfg.checkpoint_every = p.checkpoint_every;
    cfg.grace_ms = p.grace_ms;
    if let Some(passphrase) = &p.passphrase {
        cfg.encryption.default = Some(Secret::Passphrase(passphrase.clone()));
        // Few rounds: the key's strength is not what a run tests.
        cfg.encryption.iterations = 3;
    }
    let db = Rc::new(Db::new(io, s3, cfg, seed).unwrap());
    db.start();
    Client { db }
}

/// [`quiet_params`], unversioned, on `protocol`.
pub(super) fn quiet_params_on(protocol: Protocol) -> Params {
    Params {
        protocol,
        ..quiet_params(false)
    }
}

/// A quiet world for one scripted scenario: no faults, no skew.
pub(super) fn quiet_params(versioning: bool) -> Params {
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
        writer_prefix: None,
        toggles: false,
        offline_bytes: 64 << 20,
        retry_attempts: 10,
        timeout_ms: DbConfig::new(BUCKET).retry.timeout_ms,
        gzip: true,
        protocol: Protocol::V1,
        checkpoint_every: 64,
        grace_ms: AUTOCLEAN_GRACE_MS,
        passphrase: None,
    }
}

/// A quiet world for one scripted scenario: an executor, the bucket, a
/// network without faults, and one device's store.
pub(super) struct World {
    pub(super) exec: Rc<Executor>,
    pub(super) model: Rc<RefCell<InMemoryS3>>,
    pub(super) net: Rc<RefCell<Net>>,
    pub(super) device: Rc<Device>,
}

impl World {
    /// A client of this world (`make_client` over its parts).
    pub(super) fn client(&self, p: &Params, client: usize, group: usize, seed: u64) -> Client {
        make_client(
            &self.exec,
            &self.model,
            &self.net,
            &self.device,
            p,
            client,
            group,
            seed,
        )
    }
}

pub(super) fn quiet_world(p: &Params, seed: u64) -> World {
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

/// Scripted tests name requests by number: check that request `n` is the
/// entry PUT they mean to hit.
pub(super) fn assert_is_entry_put(requests: &[String], n: usize) {
    let r = &requests[n - 1];
    assert!(
        r.starts_with("Put ") && r.contains(&format!("/{MANIFEST}%40")),
        "request {n} is {r}, not the entry PUT: {requests:#?}"
    );
}

/// The tabs' `BroadcastChannel`: each tab's inbox delivered to its engine
/// (`Db::receive`) every 50 ms, on the tab's own group.
pub(super) fn connect_tabs(exec: &Rc<Executor>, device: &Rc<Device>, tabs: &[(usize, &Client)]) {
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

/// Puts `value` under `key` on `c`, on a task of its own: the result,
/// once the executor has run it.
pub(super) fn spawn_put(
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
