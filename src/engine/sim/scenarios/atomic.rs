//! Conditional writes and transactions on v2: versions as reads give
//! them, a stale check that writes nothing, a v1 manifest refusing them,
//! an offline conditional write withdrawn when its check fails, and
//! contending transactions that lose no increment.

use super::*;
use crate::engine::db::{Found, Outcome};
use crate::engine::error::ErrorKind;
use crate::engine::protocol::v2::format::{parse_slot, prefix};

fn v2_params() -> Params {
    let mut p = quiet_params(false);
    p.protocol = Protocol::V2;
    p
}

fn key(k: &str) -> Ref {
    Ref::new(BUCKET, k)
}

/// The key's value and version, as `getEntry` reads them.
async fn entry(db: &Rc<Db<SimIo>>, k: &str) -> (Option<String>, Option<String>) {
    let Found { value, version, .. } = db
        .read(Select::Keys(&[key(k)]), None)
        .await
        .unwrap()
        .pop()
        .unwrap();
    (value.as_ref().map(unjson), version)
}

/// The log slots in the bucket.
fn slots(world: &World) -> usize {
    let model = world.model.borrow();
    let under = prefix(MANIFEST);
    model
        .bucket(BUCKET)
        .unwrap()
        .objects
        .iter()
        .filter(|(k, vs)| {
            k.starts_with(&under)
                && parse_slot(MANIFEST, k).is_some()
                && vs.last().is_some_and(|v| !v.delete_marker)
        })
        .count()
}

/// Versions change with every write of a key, reads of another client
/// give the same one, and an atomic write holds only at the version read:
/// a stale check writes nothing (no slot), a current one commits and
/// answers with the key's new version.
#[test]
fn an_atomic_write_commits_at_the_version_read_and_writes_nothing_when_stale() {
    let p = v2_params();
    let world = quiet_world(&p, 41);
    let a = world.client(&p, 0, 0, 1).db;
    let b = world.client(&p, 1, 1, 2).db;
    let (a2, b2) = (a.clone(), b.clone());
    let (first, second, seen_by_b, stale, fresh, after, absent) = finish(&world.exec, async move {
        let absent = entry(&a2, "n").await;
        put(&a2, key("n"), Some(json("1"))).await.unwrap();
        let first = entry(&a2, "n").await;
        put(&a2, key("n"), Some(json("2"))).await.unwrap();
        let second = entry(&a2, "n").await;
        let seen_by_b = entry(&b2, "n").await;
        let stale = b2
            .atomic(
                vec![(key("n"), first.1.clone())],
                vec![(key("n"), Some(json("from a stale read")))],
                None,
            )
            .await
            .unwrap();
        let fresh = b2
            .atomic(
                vec![(key("n"), seen_by_b.1.clone()), (key("new"), None)],
                vec![(key("n"), Some(json("3"))), (key("new"), Some(json("x")))],
                None,
            )
            .await
            .unwrap();
        let after = entry(&a2, "n").await;
        // Checks alone: held against the state now, nothing written.
        let only = |version: Option<String>| b2.atomic(vec![(key("n"), version)], vec![], None);
        assert_eq!(only(first.1.clone()).await.unwrap(), Outcome::CheckFailed);
        assert_eq!(
            only(after.1.clone()).await.unwrap(),
            Outcome::Committed(None)
        );
        (first, second, seen_by_b, stale, fresh, after, absent)
    });
    assert_eq!(absent, (None, None));
    assert_eq!(first.0.as_deref(), Some("1"));
    assert!(
        first.1.is_some() && first.1 != second.1,
        "{first:?} {second:?}"
    );
    assert_eq!(seen_by_b, second, "another client reads the same version");
    assert_eq!(stale, Outcome::CheckFailed);
    let Outcome::Committed(Some(version)) = fresh else {
        panic!("{fresh:?}")
    };
    assert_eq!(after, (Some("3".into()), Some(version)));
    // Two puts and the atomic write: three slots, none for the stale one.
    assert_eq!(slots(&world), 3);
    drop((a, b));
}

/// On a v1 manifest an atomic write is refused as `Unsupported` before
/// anything is accepted or sent.
#[test]
fn an_atomic_write_on_a_v1_manifest_is_unsupported_and_writes_nothing() {
    let p = quiet_params(false);
    let world = quiet_world(&p, 42);
    let db = world.client(&p, 0, 0, 1).db;
    let d = db.clone();
    let (refused, puts, value) = finish(&world.exec, async move {
        put(&d, key("a"), Some(json("v1"))).await.unwrap();
        let from = d.io().requests.borrow().len();
        let refused = d
            .atomic(
                vec![(key("a"), None)],
                vec![(key("a"), Some(json("x")))],
                None,
            )
            .await
            .unwrap_err();
        let puts = d.io().requests.borrow()[from..]
            .iter()
            .filter(|r| r.starts_with("Put "))
            .count();
        (refused, puts, entry(&d, "a").await.0)
    });
    assert_eq!(refused.kind, ErrorKind::Unsupported);
    assert_eq!(puts, 0);
    assert_eq!(value.as_deref(), Some("v1"));
    assert_eq!(db.pending_writes(), 0);
}

/// A conditional write needs the bucket for its answer: made offline, it
/// rejects `Offline` at once, and nothing of it is queued, read or
/// written; made while the network is gone without the client being
/// told, it rejects once the client finds itself disconnected, never
/// hanging. (A transaction reads first, and rejects alike.)
#[test]
fn a_conditional_write_without_the_bucket_rejects_and_leaves_nothing() {
    let p = v2_params();
    let world = quiet_world(&p, 43);
    let a = world.client(&p, 0, 0, 1);
    let adb = a.db.clone();
    let version = finish(&world.exec, {
        let adb = adb.clone();
        async move {
            put(&adb, key("k"), Some(json("base"))).await.unwrap();
            entry(&adb, "k").await.1
        }
    });
    let attempt = |db: Rc<Db<SimIo>>, version: Option<String>| async move {
        let started = db.io().exec.now();
        let got = db
            .atomic(
                vec![(key("k"), version)],
                vec![(key("k"), Some(json("edit")))],
                None,
            )
            .await;
        (got, db.io().exec.now() - started)
    };
    a.set_online(false);
    let (got, _) = finish(&world.exec, attempt(adb.clone(), version.clone()));
    assert_eq!(got.unwrap_err().kind, ErrorKind::Offline, "offline");
    assert_eq!(adb.pending_writes(), 0, "nothing queued");
    a.set_online(true);
    // The network gone, the client not told: found out by the rule.
    adb.io().blackout.set(true);
    // A warm write's first request is its entry's create, which may have
    // landed: `OutcomeUnknown`, settled once the bucket answers again.
    let (got, took) = finish(&world.exec, attempt(adb.clone(), version));
    let kind = got.unwrap_err().kind;
    assert!(
        matches!(kind, ErrorKind::Offline | ErrorKind::OutcomeUnknown),
        "disconnected: {kind:?}"
    );
    assert!(took < 10_000, "rejected within the rule's time: {took} ms");
    assert!(!adb.is_connected());
    adb.io().blackout.set(false);
    adb.browser_online(true);
    let db = adb;
    let after = finish(&world.exec, async move {
        while db.pending_writes() > 0 {
            db.io().exec.sleep(100).await;
        }
        entry(&db, "k").await.0
    });
    match kind {
        ErrorKind::Offline => assert_eq!(after.as_deref(), Some("base"), "nothing written"),
        // Settled from the log, whichever way it went.
        _ => assert!(
            matches!(after.as_deref(), Some("base" | "edit")),
            "{after:?}"
        ),
    }
}

/// Adds one to the counter `likes` (absent: 0) with a transaction, as the
/// demo's like button does; it must commit.
async fn like(db: &Rc<Db<SimIo>>) {
    let d = db.clone();
    let ran = db
        .transaction(None, move |tx| {
            let d = d.clone();
            async move {
                let n = d.tx_get(&tx, &key("likes")).await?;
                let n: u32 = n.map_or(0, |n| unjson(&n).parse().unwrap());
                d.tx_set(&tx, key("likes"), Some(json(&(n + 1).to_string())))?;
                Ok::<u32, Error>(n)
            }
        })
        .await;
    ran.unwrap().unwrap();
}

/// Four clients increment one counter with transactions, through 409s on
/// racing creates: every increment is counted once.
#[test]
fn contending_transactions_lose_no_increment() {
    const CLIENTS: usize = 4;
    const EACH: usize = 10;
    let p = v2_params();
    let world = quiet_world(&p, 44);
    world.net.borrow_mut().conflict_rate = 0.2;
    let clients: Vec<Rc<Db<SimIo>>> = (0..CLIENTS)
        .map(|c| world.client(&p, c, c, 10 + c as u64).db)
        .collect();
    // The counter exists before the contention starts.
    let first = clients[0].clone();
    finish(&world.exec, async move {
        put(&first, key("likes"), Some(json("0"))).await.unwrap();
    });
    let done: Rc<Cell<usize>> = Rc::default();
    for (c, db) in clients.iter().enumerate() {
        let (db, done) = (db.clone(), done.clone());
        world.exec.spawn(c, async move {
            for _ in 0..EACH {
                like(&db).await;
                done.set(done.get() + 1);
            }
        });
    }
    world.exec.run_until(world.exec.now() + 600_000);
    assert_eq!(done.get(), CLIENTS * EACH, "every transaction finished");
    let db = clients[1].clone();
    let total = finish(&world.exec, async move { entry(&db, "likes").await.0 });
    assert_eq!(total, Some((CLIENTS * EACH).to_string()));
}

/// `list`: the keys with a value in a range, in key order (or reversed,
/// at most `limit`), another client's writes and deletes and this
/// client's pending ones included, on both protocols.
#[test]
fn a_range_lists_the_keys_with_a_value_on_both_protocols() {
    for protocol in [Protocol::V1, Protocol::V2] {
        let p = quiet_params_on(protocol);
        let world = quiet_world(&p, 45);
        let a = world.client(&p, 0, 0, 1).db;
        let b = world.client(&p, 1, 1, 2).db;
        let listed = finish(&world.exec, async move {
            for k in ["note/2", "note/1", "other", "note/3", "note/10"] {
                put(&a, key(k), Some(json(k))).await.unwrap();
            }
            put(&a, key("note/3"), None).await.unwrap();
            // A write of b's, pending while b lists: the listing waits for
            // it to mask its key, not for its commit.
            let pending = write(&b, vec![(key("note/4"), Some(json("local")))], Ack::Remote);
            let (written, listed) = crate::engine::deadline::join2(pending, list(&b)).await;
            written.unwrap();
            listed
        });
        let keys = |found: &[Found]| -> Vec<(String, String)> {
            found
                .iter()
                .map(|f| {
                    assert!(f.version.is_some(), "a listed key has a version");
                    (f.url.clone(), unjson(f.value.as_ref().unwrap()))
                })
                .collect()
        };
        let u = |k: &str| format!("{BUCKET}/{k}");
        assert_eq!(
            keys(&listed[0]),
            vec![
                (u("note/1"), "note/1".into()),
                (u("note/10"), "note/10".into()),
                (u("note/2"), "note/2".into()),
                (u("note/4"), "local".into()),
            ],
            "{protocol:?}"
        );
        assert_eq!(
            keys(&listed[1]),
            vec![
                (u("note/4"), "local".into()),
                (u("note/2"), "note/2".into())
            ],
            "{protocol:?}: reversed, two"
        );
        assert_eq!(
            keys(&listed[2]),
            vec![
                (u("note/10"), "note/10".into()),
                (u("note/2"), "note/2".into())
            ],
            "{protocol:?}: from start to before end"
        );
    }
}

/// The notes, all; the last two; those from `note/10` to before `note/4`.
async fn list(db: &Rc<Db<SimIo>>) -> Vec<Vec<Found>> {
    let notes = Range {
        bucket: BUCKET.into(),
        prefix: "note/".into(),
        ..Range::default()
    };
    let from = Range {
        bucket: BUCKET.into(),
        prefix: String::new(),
        start: Some("note/10".into()),
        end: Some("note/4".into()),
    };
    let mut out = Vec::new();
    for select in [
        Select::Range {
            range: &notes,
            limit: usize::MAX,
            reverse: false,
        },
        Select::Range {
            range: &notes,
            limit: 2,
            reverse: true,
        },
        Select::Range {
            range: &from,
            limit: usize::MAX,
            reverse: false,
        },
    ] {
        out.push(db.read(select, None).await.unwrap());
    }
    out
}

/// One call of a range's subscriber: (url, value) of each key.
type Calls = Vec<(String, Option<String>)>;

/// A range's subscriber is told every key in it first, then each key
/// that another client adds, changes or deletes, and its own writes at
/// once; keys outside the range never.
#[test]
fn a_range_subscriber_hears_adds_changes_and_deletes_in_its_range() {
    for protocol in [Protocol::V1, Protocol::V2] {
        let p = quiet_params_on(protocol);
        let world = quiet_world(&p, 46);
        let a = world.client(&p, 0, 0, 1).db;
        let b = world.client(&p, 1, 1, 2).db;
        let a2 = a.clone();
        finish(&world.exec, async move {
            put(&a2, key("note/1"), Some(json("one"))).await.unwrap();
        });
        let notes = Range {
            bucket: BUCKET.into(),
            prefix: "note/".into(),
            ..Range::default()
        };
        let sub = b.subscribe(&Watch::Range(notes), None).unwrap();
        let heard: Rc<RefCell<Vec<Calls>>> = Rc::default();
        let (weak, h) = (Rc::downgrade(&b), heard.clone());
        *b.io().deliver.borrow_mut() = Some(Rc::new(move || {
            let Some(db) = weak.upgrade() else { return };
            for e in db.take_events() {
                match e {
                    Event::Changes { sub: s, changes } => {
                        assert_eq!(s, sub);
                        let keys = changes
                            .iter()
                            .map(|f| (f.url.clone(), f.value.as_ref().map(unjson)))
                            .collect();
                        h.borrow_mut().push(keys);
                    }
                    Event::Status(_) => {}
                    other => panic!("{other:?}"),
                }
            }
        }));
        let (a2, b2, exec) = (a.clone(), b.clone(), world.exec.clone());
        finish(&world.exec, async move {
            exec.sleep(500).await;
            put(&a2, key("note/2"), Some(json("two"))).await.unwrap();
            put(&a2, key("other"), Some(json("not a note")))
                .await
                .unwrap();
            exec.sleep(500).await;
            put(&a2, key("note/1"), None).await.unwrap();
            put(&a2, key("note/2"), Some(json("two, edited")))
                .await
                .unwrap();
            exec.sleep(500).await;
            put(&b2, key("note/3"), Some(json("mine"))).await.unwrap();
            exec.sleep(500).await;
        });
        let u = |k: &str| format!("{BUCKET}/{k}");
        let heard = heard.borrow().clone();
        assert_eq!(
            heard[0],
            vec![(u("note/1"), Some("one".into()))],
            "{protocol:?}: first, the whole range"
        );
        // The changes after: each once (changes that land between two
        // polls come in one call, each key at its latest).
        let mut after: Vec<(String, Option<String>)> = heard[1..].concat();
        after.sort();
        assert_eq!(
            after,
            vec![
                (u("note/1"), None),
                (u("note/2"), Some("two".into())),
                (u("note/2"), Some("two, edited".into())),
                (u("note/3"), Some("mine".into())),
            ],
            "{protocol:?}: {heard:?}"
        );
        assert!(
            heard.iter().all(|c| !c.is_empty()),
            "no empty call after the first"
        );
        drop(a);
    }
}

/// A value a key's subscriber heard, and its meta.
type Heard = (Option<String>, crate::engine::db::Meta);

/// A trace id given to a put travels in its entry to the other client's
/// `notify` log event for the key; a put without one gets its own.
#[test]
fn a_trace_id_follows_a_write_to_the_readers_notify_event() {
    let p = v2_params();
    let world = quiet_world(&p, 47);
    let w = world.client(&p, 0, 0, 1).db;
    let r = world.client(&p, 1, 1, 2);
    // The reader's subscriber of "a": the meta beside each value.
    r.db.subscribe(&Watch::Key(key("a")), None).unwrap();
    let metas: Rc<RefCell<Vec<Heard>>> = Rc::default();
    let (weak, m) = (Rc::downgrade(&r.db), metas.clone());
    *r.db.io().deliver.borrow_mut() = Some(Rc::new(move || {
        let Some(db) = weak.upgrade() else { return };
        for e in db.take_events() {
            if let Event::Value { value, meta, .. } = e {
                m.borrow_mut().push((value.as_ref().map(unjson), meta));
            }
        }
    }));
    let (w2, exec) = (w.clone(), world.exec.clone());
    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    finish(&world.exec, async move {
        let change = Change::Values(vec![(key("a"), Some(json("traced")))]);
        w2.write(change, &[], Some(Ack::Remote), Some(TRACE.into()))
            .await
            .unwrap();
        put(&w2, key("b"), Some(json("untraced"))).await.unwrap();
        exec.sleep(1_000).await;
    });
    let notified = |db: &Rc<Db<SimIo>>| -> Vec<(String, String)> {
        db.io()
            .logs
            .borrow()
            .iter()
            .filter(|(kind, _)| kind == "notify")
            .map(|(_, fields)| {
                let get = |k: &str| {
                    fields
                        .iter()
                        .find(|(f, _)| f == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                (get("key"), get("trace"))
            })
            .collect()
    };
    let seen = notified(&r.db);
    let a = format!("{BUCKET}/a");
    let b = format!("{BUCKET}/b");
    assert!(seen.contains(&(a.clone(), TRACE.into())), "{seen:?}");
    let made = &seen.iter().find(|(k, _)| k == &b).expect("b notified").1;
    assert!(made.len() == 32 && made != TRACE, "{made}");
    let (value, meta) = metas.borrow().last().cloned().expect("a value for a");
    assert_eq!(value.as_deref(), Some("traced"));
    assert_eq!(meta.trace.as_deref(), Some(TRACE));
    assert!(meta.version.is_some() && meta.at.is_some_and(|t| t > 0));
    assert!(meta.writer.is_some_and(|w| !w.is_empty()));
    // The writer applies its own entries too, with the same ids.
    let own = notified(&w);
    assert!(own.contains(&(a, TRACE.into())) && own.contains(&(b, made.clone())));
}

/// A value whose content is gone for good (deleted behind the clients'
/// backs) is reported to every subscriber waiting for it, once each, and
/// not fetched again at each poll.
#[test]
fn a_value_gone_for_good_is_reported_once_to_each_subscriber() {
    let p = quiet_params(false);
    let world = quiet_world(&p, 48);
    let a = world.client(&p, 0, 0, 1).db;
    let b = world.client(&p, 1, 1, 2).db;
    let a2 = a.clone();
    finish(&world.exec, async move {
        put(&a2, key("k"), Some(json("soon gone"))).await.unwrap();
    });
    // The content object (`k@<uuid>`) deleted by someone else.
    {
        let mut model = world.model.borrow_mut();
        let bucket = &mut model
            .buckets
            .iter_mut()
            .find(|(n, _)| n == BUCKET)
            .unwrap()
            .1;
        let content: Vec<String> = bucket
            .objects
            .iter()
            .filter(|(k, _)| k.starts_with("k@"))
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(content.len(), 1);
        bucket.objects.remove(content[0].as_str());
    }
    let subs = [
        b.subscribe(&Watch::Key(key("k")), None).unwrap(),
        b.subscribe(&Watch::Key(key("k")), None).unwrap(),
    ];
    let errors: Rc<RefCell<Vec<u64>>> = Rc::default();
    let (weak, e) = (Rc::downgrade(&b), errors.clone());
    *b.io().deliver.borrow_mut() = Some(Rc::new(move || {
        let Some(db) = weak.upgrade() else { return };
        for event in db.take_events() {
            match event {
                Event::Error { sub, error } => {
                    assert_eq!(error.kind, ErrorKind::NotFound);
                    e.borrow_mut().push(sub);
                }
                Event::Status(_) => {}
                other => panic!("{other:?}"),
            }
        }
    }));
    let exec = world.exec.clone();
    finish(&world.exec, async move { exec.sleep(3_000).await });
    let mut told = errors.borrow().clone();
    told.sort_unstable();
    assert_eq!(told, subs.to_vec(), "each subscriber once, over 30 polls");
    drop(a);
}

/// Two people click like five times each at once (the demo): each client
/// runs its five transactions concurrently, a run reading the values of
/// the ones before it that are not committed yet. When one fails its
/// check, the writes counted on it go with it: no client reads (or its
/// range subscriber hears) more than the clicks, or less once it read
/// them all, and every increment counts once.
#[test]
fn concurrent_transactions_in_each_client_lose_no_increment() {
    const CLIENTS: usize = 2;
    const EACH: usize = 5;
    let mut conflicts = 0;
    for seed in 0..40 {
        let p = v2_params();
        let world = quiet_world(&p, 60 + seed);
        world.net.borrow_mut().conflict_rate = 0.1 * (seed % 3) as f64;
        let clients: Vec<Rc<Db<SimIo>>> = (0..CLIENTS)
            .map(|c| world.client(&p, c, c, 10 + c as u64).db)
            .collect();
        let done: Rc<Cell<usize>> = Rc::default();
        for (c, db) in clients.iter().enumerate() {
            for _ in 0..EACH {
                let (db, done) = (db.clone(), done.clone());
                world.exec.spawn(c, async move {
                    like(&db).await;
                    done.set(done.get() + 1);
                });
            }
        }
        // What each client's range subscriber hears (the demo's board).
        let heard: Rc<RefCell<Vec<Vec<u32>>>> = Rc::new(RefCell::new(vec![vec![]; CLIENTS]));
        for (c, db) in clients.iter().enumerate() {
            let likes = Range {
                bucket: BUCKET.into(),
                prefix: "likes".into(),
                ..Range::default()
            };
            db.subscribe(&Watch::Range(likes), None).unwrap();
            let (weak, h) = (Rc::downgrade(db), heard.clone());
            *db.io().deliver.borrow_mut() = Some(Rc::new(move || {
                let Some(db) = weak.upgrade() else { return };
                for e in db.take_events() {
                    if let Event::Changes { changes, .. } = e {
                        for f in changes {
                            let v = f.value.as_ref().map_or(0, |v| unjson(v).parse().unwrap());
                            h.borrow_mut()[c].push(v);
                        }
                    }
                }
            }));
        }
        // What each client reads while they run: never more than the
        // clicks, and never less once it read them all.
        let seen: Rc<RefCell<Vec<Vec<u32>>>> = Rc::new(RefCell::new(vec![vec![]; CLIENTS]));
        for (c, db) in clients.iter().enumerate() {
            let (db, done, seen) = (db.clone(), done.clone(), seen.clone());
            let exec = world.exec.clone();
            world.exec.spawn(c, async move {
                while done.get() < CLIENTS * EACH {
                    let v = entry(&db, "likes").await.0;
                    seen.borrow_mut()[c].push(v.map_or(0, |v| v.parse().unwrap()));
                    exec.sleep(20).await;
                }
            });
        }
        world.exec.run_until(world.exec.now() + 600_000);
        assert_eq!(
            done.get(),
            CLIENTS * EACH,
            "seed {seed}: every transaction finished"
        );
        world.exec.run_until(world.exec.now() + 10_000);
        for (c, values) in heard.borrow().iter().enumerate() {
            assert_eq!(
                values.last(),
                Some(&((CLIENTS * EACH) as u32)),
                "seed {seed}: client {c} heard {values:?}"
            );
        }
        for (c, values) in seen
            .borrow()
            .iter()
            .chain(heard.borrow().iter())
            .enumerate()
        {
            let all = (CLIENTS * EACH) as u32;
            let first_all = values
                .iter()
                .position(|v| *v == all)
                .unwrap_or(values.len());
            assert!(
                values.iter().all(|v| *v <= all) && values[first_all..].iter().all(|v| *v == all),
                "seed {seed}: sequence {c} (each client's reads, then what each heard): {values:?}"
            );
        }
        for db in &clients {
            let db = db.clone();
            let total = finish(&world.exec, async move { entry(&db, "likes").await.0 });
            assert_eq!(total, Some((CLIENTS * EACH).to_string()), "seed {seed}");
        }
        conflicts += clients.iter().map(|c| c.failed_checks.get()).sum::<u32>();
    }
    assert!(conflicts > 0, "the transactions contended");
}

/// A check naming a version this client has not read yet (another client
/// wrote it since this one's last read, and the caller learned it there)
/// holds: the write reads the log before it concludes the check failed.
/// Without that read a client that read recently, behind by a write,
/// refused a current check (`CheckFailed` with nothing wrong).
#[test]
fn a_check_newer_than_this_clients_last_read_holds() {
    let p = v2_params();
    let world = quiet_world(&p, 46);
    let a = world.client(&p, 0, 0, 1).db;
    let b = world.client(&p, 1, 1, 2).db;
    let out = finish(&world.exec, async move {
        put(&a, key("n"), Some(json("1"))).await.unwrap();
        // A has just read (its own write): it skips a read for a while.
        put(&b, key("n"), Some(json("2"))).await.unwrap();
        let (_, newest) = entry(&b, "n").await;
        let outcome = a
            .atomic(
                vec![(key("n"), newest)],
                vec![(key("n"), Some(json("3")))],
                None,
            )
            .await
            .unwrap();
        (outcome, entry(&b, "n").await.0)
    });
    assert!(matches!(out.0, Outcome::Committed(Some(_))), "{out:?}");
    assert_eq!(out.1.as_deref(), Some("3"));
}
