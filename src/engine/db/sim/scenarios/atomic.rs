//! Conditional writes and transactions on v2: versions as reads give
//! them, a stale check that writes nothing, a v1 manifest refusing them,
//! an offline conditional write withdrawn when its check fails, and
//! contending transactions that lose no increment.

use super::*;
use crate::engine::db::Outcome;
use crate::engine::error::ErrorKind;
use crate::engine::log_v2::{parse_slot, prefix};

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
    let (value, version) = db.entries(&[key(k)], None).await.unwrap().pop().unwrap();
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

/// A conditional write made offline is checked when it reaches the
/// bucket: another client changed the key meanwhile, so it fails there,
/// and its value, read locally while it was queued, is withdrawn.
#[test]
fn an_offline_conditional_write_that_fails_its_check_is_withdrawn() {
    let p = v2_params();
    let world = quiet_world(&p, 43);
    let a = world.client(&p, 0, 0, 1);
    let b = world.client(&p, 1, 1, 2).db;
    let adb = a.db.clone();
    let version = finish(&world.exec, {
        let adb = adb.clone();
        async move {
            put(&adb, key("k"), Some(json("base"))).await.unwrap();
            entry(&adb, "k").await.1
        }
    });
    a.set_online(false);
    let result: Rc<RefCell<Option<Result<Outcome>>>> = Rc::default();
    {
        let (db, r) = (adb.clone(), result.clone());
        world.exec.spawn(0, async move {
            let got = db
                .atomic(
                    vec![(key("k"), version)],
                    vec![(key("k"), Some(json("offline edit")))],
                    None,
                )
                .await;
            *r.borrow_mut() = Some(got);
        });
    }
    let (db, b2) = (adb.clone(), b.clone());
    let (masked, other) = finish(&world.exec, async move {
        let masked = entry(&db, "k").await.0;
        put(&b2, key("k"), Some(json("online edit"))).await.unwrap();
        (masked, entry(&b2, "k").await.0)
    });
    assert_eq!(masked.as_deref(), Some("offline edit"), "read your writes");
    assert_eq!(other.as_deref(), Some("online edit"));
    assert!(result.borrow().is_none(), "waits for the bucket");
    a.set_online(true);
    let db = adb.clone();
    let after = finish(&world.exec, async move {
        while db.pending_writes() > 0 {
            db.io().exec.sleep(100).await;
        }
        entry(&db, "k").await.0
    });
    assert_eq!(
        result.borrow_mut().take().unwrap().unwrap(),
        Outcome::CheckFailed
    );
    assert_eq!(after.as_deref(), Some("online edit"), "withdrawn");
    drop(b);
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
                let d = db.clone();
                let ran = db
                    .transaction(None, move |tx| {
                        let d = d.clone();
                        async move {
                            let n = d.tx_get(&tx, &key("likes")).await?;
                            let n: u32 = unjson(&n.unwrap()).parse().unwrap();
                            d.tx_set(&tx, key("likes"), Some(json(&(n + 1).to_string())))?;
                            Ok::<u32, Error>(n)
                        }
                    })
                    .await;
                ran.unwrap().unwrap();
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
