//! Protocol v2 on a quiet world: what a put and a poll cost, a bucket that
//! ignores `If-None-Match`, a v1 client writing into a v2 manifest, and
//! the storage collection leaves.

use super::*;
use crate::engine::error::ErrorKind;
use crate::engine::protocol::v2::format::{parse_slot, prefix};

fn v2_params() -> Params {
    let mut p = quiet_params(false);
    p.protocol = Protocol::V2;
    p
}

/// Behind an auth proxy, the credentials carry a writer prefix: every
/// entry's writer id starts with it (the proxy refuses any other).
#[test]
fn writer_ids_start_with_the_credentials_prefix() {
    let mut p = v2_params();
    p.writer_prefix = Some("Pfx0123456_".into());
    let world = quiet_world(&p, 32);
    let w = world.client(&p, 0, 0, 1);
    let wdb = w.db;
    finish(&world.exec, async move {
        put(&wdb, Ref::new(BUCKET, "a"), Some(json("v0")))
            .await
            .unwrap();
    });
    let model = world.model.borrow();
    let slot = model
        .export(
            BUCKET,
            &crate::engine::protocol::v2::format::slot_key(MANIFEST, 1),
        )
        .expect("the write's slot");
    assert!(slot.contains("\\\"w\\\":\\\"Pfx0123456_-"), "{slot}");
}

/// Behind an auth proxy the compactor checkpoints: a client whose
/// credentials carry a writer prefix writes no checkpoint (the proxy would
/// refuse it), however far its log grows.
#[test]
fn behind_a_proxy_clients_leave_checkpoints_to_the_compactor() {
    let mut p = v2_params();
    p.checkpoint_every = 4;
    let world = quiet_world(&p, 33);
    let w = world.client(&p, 0, 0, 1);
    let wdb = w.db;
    finish(&world.exec, async move {
        for i in 0..6 {
            put(&wdb, Ref::new(BUCKET, "a"), Some(json(&format!("v{i}"))))
                .await
                .unwrap();
        }
    });
    let checkpoints = |model: &InMemoryS3| {
        (0..=6)
            .filter(|n| {
                model
                    .export(
                        BUCKET,
                        &crate::engine::protocol::v2::format::checkpoint_key(MANIFEST, *n),
                    )
                    .is_some()
            })
            .count()
    };
    assert!(
        checkpoints(&world.model.borrow()) > 0,
        "without a prefix a client checkpoints"
    );

    p.writer_prefix = Some("Pfx0123456_".into());
    let world = quiet_world(&p, 33);
    let w = world.client(&p, 0, 0, 1);
    let wdb = w.db;
    finish(&world.exec, async move {
        for i in 0..6 {
            put(&wdb, Ref::new(BUCKET, "a"), Some(json(&format!("v{i}"))))
                .await
                .unwrap();
        }
    });
    assert_eq!(
        checkpoints(&world.model.borrow()),
        0,
        "a client behind a proxy checkpointed"
    );
}

/// Requests a client sent from `from` on.
fn since(db: &Rc<Db<SimIo>>, from: usize) -> Vec<String> {
    db.io().requests.borrow()[from..].to_vec()
}

/// A warm put of a small value is one PUT: its slot, straight after the
/// head the writer read. An idle poll is one listing of the log after the
/// head (empty: an answer, where a GET of the next slot would be a 404,
/// an error line in the browser's console each poll), and nothing else.
#[test]
fn a_warm_small_put_is_one_put_and_an_idle_poll_one_listing() {
    let p = v2_params();
    let world = quiet_world(&p, 31);
    let w = world.client(&p, 0, 0, 1);
    let r = world.client(&p, 1, 1, 2);
    let heard = r.hear("a");
    let (exec, wdb, rdb) = (world.exec.clone(), w.db, r.db);
    let (cold, warm, idle) = finish(&world.exec, async move {
        let from = wdb.io().requests.borrow().len();
        put(&wdb, Ref::new(BUCKET, "a"), Some(json("v0")))
            .await
            .unwrap();
        let cold = since(&wdb, from);
        let mut warm = Vec::new();
        for i in 1..4 {
            exec.sleep(1_000).await;
            let from = wdb.io().requests.borrow().len();
            put(&wdb, Ref::new(BUCKET, "a"), Some(json(&format!("v{i}"))))
                .await
                .unwrap();
            warm.push(since(&wdb, from));
        }
        exec.sleep(2_000).await;
        let from = rdb.io().requests.borrow().len();
        exec.sleep(10_000).await;
        (cold, warm, since(&rdb, from))
    });
    // Cold: the guard's GET (404), the probe (two creates, a delete), the
    // guard's create, the listings of a first read, the slot after the
    // head (404), the slot.
    assert!(
        cold.iter()
            .any(|r| r.starts_with("Put ") && r.contains(".v2/log/")),
        "{cold:#?}"
    );
    for requests in &warm {
        assert_eq!(requests.len(), 1, "a warm put: {requests:#?}");
        assert!(requests[0].starts_with("Put ") && requests[0].contains(".v2/log/"));
    }
    // Polls every 100 ms for 10 s: one listing of the log after the head
    // each, and every tenth poll a GET of the guard too (a v1 client's
    // writes).
    let slot_gets = idle
        .iter()
        .filter(|r| {
            r.starts_with("Get ")
                && r.contains("list-type=2")
                && r.contains("start-after=manifest.json.v2%2Flog%2F00000000000000000004")
        })
        .count();
    let guard_gets = idle
        .iter()
        .filter(|r| r.starts_with(&format!("Get http://s3.sim/{BUCKET}/{MANIFEST}?")))
        .count();
    assert!(slot_gets >= 50, "{slot_gets} polls");
    assert_eq!(slot_gets + guard_gets, idle.len(), "{idle:#?}");
    assert!(
        guard_gets <= slot_gets / 10 + 1,
        "{guard_gets} guard checks"
    );
    let mut heard = heard.borrow().clone();
    heard.dedup();
    assert_eq!(heard.last(), Some(&Some("v3".to_string())));
}

/// `protocol: "v2"` on a bucket that ignores `If-None-Match: *` refuses
/// the write as `Unsupported`, and leaves nothing in the bucket (the
/// probe is deleted); `"auto"` there writes v1.
#[test]
fn protocol_v2_on_a_bucket_without_conditional_creates_is_refused_and_writes_nothing() {
    let p = v2_params();
    let world = quiet_world(&p, 32);
    world.model.borrow_mut().ignore_put_conditions = true;
    let w = world.client(&p, 0, 0, 1);
    let db = w.db;
    let got = finish(&world.exec, async move {
        put(&db, Ref::new(BUCKET, "a"), Some(json("x"))).await
    });
    assert_eq!(got.unwrap_err().kind, ErrorKind::Unsupported);
    let model = world.model.borrow();
    let left: Vec<&String> = model
        .bucket(BUCKET)
        .unwrap()
        .objects
        .iter()
        .filter(|(_, vs)| vs.last().is_some_and(|v| !v.delete_marker))
        .map(|(k, _)| k)
        .collect();
    assert!(left.is_empty(), "left in the bucket: {left:?}");
    drop(model);

    let mut auto = quiet_params(false);
    auto.protocol = Protocol::Auto;
    let a = world.client(&auto, 1, 1, 2);
    let db = a.db;
    finish(&world.exec, async move {
        put(&db, Ref::new(BUCKET, "a"), Some(json("x")))
            .await
            .unwrap();
    });
    let model = world.model.borrow();
    assert!(
        model
            .puts
            .iter()
            .all(|p| !p.key.starts_with(&prefix(MANIFEST)) || p.key.contains("/probe/")),
        "auto wrote v2 on a bucket without conditional creates"
    );
    assert_eq!(oracle_log(&model).len(), 1, "one v1 entry");
}

/// mps3 0.0.81 writing into a v2 manifest rewrites its guard: within ten
/// polls the subscribers hear an `Unsupported` error, and the log says so.
#[test]
fn a_v1_client_writing_into_a_v2_manifest_is_reported_within_ten_polls() {
    let p = v2_params();
    let world = quiet_world(&p, 33);
    let w = world.client(&p, 0, 0, 1);
    let errors: Rc<RefCell<Vec<(i64, Error)>>> = Rc::default();
    let sub =
        w.db.subscribe(&Watch::Key(Ref::new(BUCKET, "a")), None)
            .unwrap();
    let (weak, errors2, clock) = (Rc::downgrade(&w.db), errors.clone(), world.exec.clone());
    *w.db.io().deliver.borrow_mut() = Some(Rc::new(move || {
        let Some(db) = weak.upgrade() else { return };
        for e in db.take_events() {
            if let Event::Error { sub: s, error } = e {
                assert_eq!(s, sub);
                errors2.borrow_mut().push((clock.now(), error));
            }
        }
    }));
    let (exec, db, model) = (world.exec.clone(), w.db, world.model.clone());
    let written_at = finish(&world.exec, async move {
        put(&db, Ref::new(BUCKET, "a"), Some(json("x")))
            .await
            .unwrap();
        exec.sleep(500).await;
        // What mps3 does after its entry: the marker, rewritten to `""`.
        let s3 = S3::new(s3_config());
        let req = s3
            .put_object(
                BUCKET,
                MANIFEST,
                b"\"\"".to_vec(),
                &Default::default(),
                exec.now(),
            )
            .unwrap();
        model.borrow_mut().apply(&req, exec.now());
        let at = exec.now();
        exec.sleep(10 * 100 + 500).await;
        at
    });
    let errors = errors.borrow();
    let (at, first) = errors.first().expect("an error heard");
    assert_eq!(first.kind, ErrorKind::Unsupported, "{errors:?}");
    // Ten polls of 100 ms, and the poll's own requests.
    assert!(
        at - written_at <= 10 * 100 + 500,
        "heard {} ms later",
        at - written_at
    );
}

/// Overwrites of a few keys with collection on: what the bucket keeps is
/// bounded by the writes of about one grace, not by the history. The
/// storage figures of the benchmark (`bench_storage`) come from this
/// world.
pub(in crate::engine::sim) fn storage_after_overwrites(
    writes: usize,
    keys: usize,
    every_ms: u64,
    grace_ms: i64,
    big: bool,
) -> (usize, usize, usize) {
    let mut p = v2_params();
    p.grace_ms = grace_ms;
    p.checkpoint_every = crate::engine::protocol::v2::CHECKPOINT_EVERY;
    let world = quiet_world(&p, 34);
    let w = world.client(&p, 0, 0, 1);
    let (exec, db) = (world.exec.clone(), w.db);
    world.exec.spawn(1, async move {
        for i in 0..writes {
            let value = if big {
                format!("{i:04}-{}", "x".repeat(2_000))
            } else {
                format!("{i}")
            };
            put(
                &db,
                Ref::new(BUCKET, format!("k{}", i % keys)),
                Some(json(&value)),
            )
            .await
            .unwrap();
            exec.sleep(every_ms).await;
        }
    });
    world
        .exec
        .run_until(START + writes as i64 * (every_ms as i64 + 200) + 60_000);
    let model = world.model.borrow();
    let live: Vec<(&String, usize)> = model
        .bucket(BUCKET)
        .unwrap()
        .objects
        .iter()
        .filter_map(|(k, vs)| {
            vs.last()
                .filter(|v| !v.delete_marker)
                .map(|v| (k, v.body.len()))
        })
        .collect();
    let slots = live
        .iter()
        .filter(|(k, _)| parse_slot(MANIFEST, k).is_some())
        .count();
    (live.len(), live.iter().map(|(_, n)| n).sum(), slots)
}

#[test]
fn collection_keeps_storage_bounded_by_the_writes_of_a_grace() {
    // 2,000 overwrites of 10 keys, one every 100 ms (200 s), collected
    // behind a 20 s grace; values of 2 KB, so content objects too.
    let (objects, _, slots) = storage_after_overwrites(2_000, 10, 100, 20_000, true);
    // A slot stays until the checkpoint above it is a grace old: about a
    // grace of writes (20 s at some 8 writes a second) plus a checkpoint
    // interval (64) or two, never the 2,000 written.
    assert!(slots < 20 * 10 + 2 * 64, "{slots} slots left");
    // Content: each key's live value, and the superseded ones of the same
    // span.
    assert!(
        objects < 2 * (20 * 10 + 2 * 64) + 20,
        "{objects} objects left"
    );
}

/// Writes queued offline flush together: the first write's entry carries
/// the ones queued behind it, each key's last value in the log once.
#[test]
fn writes_queued_offline_share_entries_when_back_online() {
    let p = v2_params();
    let world = quiet_world(&p, 35);
    let w = world.client(&p, 0, 0, 1);
    let (exec, db) = (world.exec.clone(), w.db);
    let slots = finish(&world.exec, async move {
        put(&db, Ref::new(BUCKET, "warm"), Some(json("up")))
            .await
            .unwrap();
        db.set_online(false);
        for i in 0..10 {
            let batch = vec![(
                Ref::new(BUCKET, format!("k{i}")),
                Some(json(&format!("v{i}"))),
            )];
            write(&db, batch, Ack::Local).await.unwrap();
        }
        let from = db.io().requests.borrow().len();
        db.set_online(true);
        while db.pending_writes() > 0 {
            exec.sleep(50).await;
        }
        since(&db, from)
            .iter()
            .filter(|r| r.starts_with("Put ") && r.contains(".v2/log/"))
            .count()
    });
    assert!(slots < 10, "ten queued writes took {slots} slot PUTs");
    let log = oracle_log(&world.model.borrow());
    let keys: Vec<&String> = log
        .iter()
        .flat_map(|(_, _, ch)| ch.iter().map(|(k, _)| k))
        .collect();
    for i in 0..10 {
        let url = format!("{BUCKET}/k{i}");
        assert_eq!(keys.iter().filter(|k| ***k == url).count(), 1, "k{i} once");
    }
}

/// What a forgotten writer's settlement left: the log entries holding
/// `mine` (slot numbers), the value a fresh reader reads, what is still
/// queued, and the queue's log lines.
struct Settled {
    slots: Vec<u64>,
    read: Option<String>,
    queued: usize,
    logged: Vec<String>,
}

/// A write whose entry PUT was made (landed, or not, as `landed` says)
/// when its client crashed; then more writers than the log's state keeps
/// write one entry each and a checkpoint covers them all, and the slot
/// the write tried is collected or not; then its client starts again over
/// its store and settles the write.
fn forgotten_writer(landed: bool, collected: bool) -> Settled {
    use crate::engine::protocol::v2::format::{
        checkpoint_key, slot_key, Entry, LogState, Stored, WRITERS_KEPT,
    };
    use crate::engine::s3::{PutMode, PutOptions};
    let mut p = v2_params();
    // Only the scenario's own deletes.
    p.autoclean = false;
    let world = quiet_world(&p, 9);
    let World {
        exec,
        model,
        net,
        device,
        ..
    } = &world;
    let a = world.client(&p, 0, 0, 1);
    let db = a.db.clone();
    finish(exec, async move {
        put(&db, Ref::new(BUCKET, "warm"), Some(json("up")))
            .await
            .unwrap();
    });
    // A warm put is one PUT: its entry's create.
    a.db.io()
        .crash_at
        .set(Some((a.db.io().sent.get() + 1, landed)));
    let db = a.db;
    exec.spawn(0, async move {
        let batch = vec![(Ref::new(BUCKET, "a"), Some(json("mine")))];
        let _ = write(&db, batch, Ack::Local).await;
    });
    exec.run_until(exec.now() + 10_000);
    assert_eq!(device.queued(), 1, "the write is queued, its client dead");
    // The log so far, through the engine's own state code, then more
    // writers than it keeps, and a checkpoint at the head.
    let s3 = S3::new(s3_config());
    let manifest = MANIFEST;
    let mut state = LogState::default();
    let mut seq = 0;
    while let Some(text) = model.borrow().export(BUCKET, &slot_key(manifest, seq + 1)) {
        let v = crate::engine::json::parse(text.as_bytes()).unwrap();
        let body = v.get("body").and_then(|b| b.as_str()).unwrap().to_string();
        seq += 1;
        state
            .apply(seq, &Entry::parse(body.as_bytes()).unwrap())
            .unwrap();
    }
    // Landed, the write is the head; else the slot after it, which the
    // first of the other writers wins.
    let attempted = if landed { seq } else { seq + 1 };
    let opts = PutOptions {
        content_type: Some("application/json".into()),
        content_encoding: None,
        mode: PutMode::Create,
    };
    let store = |key: String, body: String| {
        let now = exec.now();
        let req = s3
            .put_object(BUCKET, &key, body.into_bytes(), &opts, now)
            .unwrap();
        assert!(model.borrow_mut().apply(&req, now).status < 300, "{key}");
    };
    for i in 0..WRITERS_KEPT + 50 {
        let entry = Entry {
            writer: format!("-w{i:07}"),
            write_id: "00000000000000000001".into(),
            at: 0,
            checkpoint: 0,
            set: vec![(
                format!("{BUCKET}/b"),
                Stored {
                    uuid: format!("u{i}"),
                    inline: Some(json(&format!("b{i}"))),
                    content_type: None,
                },
            )],
            delete: vec![],
            traces: vec![],
        };
        seq += 1;
        state.apply(seq, &entry).unwrap();
        store(slot_key(manifest, seq), entry.to_text());
    }
    store(checkpoint_key(manifest, seq), state.checkpoint_text());
    if collected {
        let req = s3
            .delete_object(BUCKET, &slot_key(manifest, attempted), None, exec.now())
            .unwrap();
        model.borrow_mut().apply(&req, exec.now());
    }
    // Started again over its store: the queued write is settled.
    let b = make_client(exec, model, net, device, &p, 0, 1, 2);
    exec.run_until(exec.now() + 60_000);
    let reader = make_client(exec, model, net, device, &p, 5, 5, 3);
    let db = reader.db;
    let read = finish(exec, async move {
        db.get(&Ref::new(BUCKET, "a"), None).await.unwrap()
    });
    let mut slots = Vec::new();
    for n in 1..=seq + 5 {
        if let Some(text) = model.borrow().export(BUCKET, &slot_key(manifest, n)) {
            if text.contains("mine") {
                slots.push(n);
            }
        }
    }
    let logged =
        b.db.io()
            .logs
            .borrow()
            .iter()
            .filter(|(kind, _)| kind == "queue")
            .map(|(_, fields)| format!("{fields:?}"))
            .collect();
    Settled {
        slots,
        read: read.as_ref().map(unjson),
        queued: device.queued(),
        logged,
    }
}

/// No write is counted landed without evidence: a writer the log's state
/// forgot (more than `WRITERS_KEPT` writers since its lost answer) is
/// settled by reading the slot it tried. Landed there: acknowledged, not
/// written again. Not there (someone else won it): written again, once.
/// The slot collected since: `OutcomeUnknown` in the log, nothing written
/// again, nothing left queued. (Counting a forgotten writer as landed,
/// as the engine once did, loses the write that did not land.)
#[test]
fn a_forgotten_writer_is_settled_from_the_slot_it_tried() {
    let kept = forgotten_writer(true, false);
    assert_eq!(kept.slots.len(), 1, "landed once, not written again");
    assert_eq!(kept.queued, 0);
    let lost = forgotten_writer(false, false);
    assert_eq!(lost.slots.len(), 1, "written again, once: {:?}", lost.slots);
    assert_eq!(lost.read.as_deref(), Some("mine"));
    assert_eq!(lost.queued, 0);
    let gone = forgotten_writer(true, true);
    assert_eq!(gone.slots, Vec::<u64>::new(), "not written again");
    assert_eq!(
        gone.read.as_deref(),
        Some("mine"),
        "the checkpoint holds it"
    );
    assert_eq!(gone.queued, 0, "not left queued");
    assert!(
        gone.logged.iter().any(|l| l.contains("OutcomeUnknown")),
        "told as unknown: {:?}",
        gone.logged
    );
}

/// The checkpoints listed beside the guard's GET save a first read a round
/// trip, but only while no checkpoint made since could have had its slots
/// collected. A client that decided the protocol without reading the log
/// (the key ring's read at start does, when it finds no ring) and reads
/// much later must list them again: the log may since have been
/// checkpointed at its head and every slot collected, and an empty
/// listing of slots would read as an empty manifest (seeds 20347 and
/// 20349 of the encrypted sweep).
#[test]
fn a_first_read_long_after_the_protocol_was_decided_lists_the_checkpoints_again() {
    let plain = Params {
        // A checkpoint every other entry, collected behind it at once:
        // the log is checkpointed at its head and holds no slot.
        checkpoint_every: 2,
        grace_ms: 1,
        ..v2_params()
    };
    let sealed = Params {
        passphrase: Some("one passphrase".into()),
        ..plain.clone()
    };
    let world = quiet_world(&plain, 36);
    // The manifest is made (slot 1).
    let maker = world.client(&plain, 2, 2, 3).db;
    finish(&world.exec, async move {
        put(&maker, Ref::new(BUCKET, "z"), Some(json("clear")))
            .await
            .unwrap();
    });
    // The reader's key ring read finds no ring: it decides the protocol
    // (listing the checkpoints, none yet) and makes the ring.
    let reader = world.client(&sealed, 1, 1, 2);
    world.exec.run_until(world.exec.now() + 5_000);
    // Slot 2, checkpointed, and slots 1 and 2 collected.
    let writer = world.client(&sealed, 0, 0, 1).db;
    finish(&world.exec, async move {
        put(&writer, Ref::new(BUCKET, "a"), Some(json("one")))
            .await
            .unwrap();
    });
    world.exec.run_until(world.exec.now() + 5_000);
    {
        let model = world.model.borrow();
        let slots = model
            .bucket(BUCKET)
            .unwrap()
            .objects
            .iter()
            .filter(|(k, vs)| {
                parse_slot(MANIFEST, k).is_some() && vs.last().is_some_and(|v| !v.delete_marker)
            })
            .count();
        assert_eq!(slots, 0, "the scenario needs every slot collected");
    }
    let rdb = reader.db;
    let read = finish(&world.exec, async move {
        values(&rdb, &[Ref::new(BUCKET, "a")]).await
    });
    assert_eq!(read.unwrap(), vec![Some(json("one"))]);
}
