//! Tabs of one client sharing a queue: masks across tabs, and takeovers
//! of a dead tab's writes.

use super::*;

/// Two tabs of one client (one store, one namespace, messages between
/// them): a write queued in one is masked in the other at once; when its
/// tab dies mid-write the other takes it over and commits it once; a write
/// its own tab commits retires the other's mask without a flicker.
#[test]
pub(super) fn tabs_share_queued_writes_and_one_takes_over_when_the_other_dies() {
    let p = quiet_params(false);
    let world = quiet_world(&p, 11);
    let World {
        exec,
        model,
        device,
        ..
    } = &world;
    // Tabs 0 and 1 are client 0 twice (its namespace), in groups 0 and 1.
    let one = world.client(&p, 0, 0, 1);
    let two = world.client(&p, 0, 1, 2);
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
    let (exec3, db3) = (exec.clone(), two.db);
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

/// Two tabs of one client; tab one queues two writes offline and dies
/// before committing them. Tab two, which waits on their locks, takes
/// them over at once (well before the periodic check) and commits them in
/// the order they were made, whichever lock it was granted first.
#[test]
pub(super) fn a_dead_tabs_writes_are_taken_over_at_once_and_in_order() {
    // Over several schedules: which lock a waiter gets first is drawn.
    for seed in 13..23 {
        dead_tab_taken_over(seed);
    }
}

fn dead_tab_taken_over(seed: u64) {
    let p = quiet_params(false);
    let world = quiet_world(&p, seed);
    let World {
        exec,
        model,
        device,
        ..
    } = &world;
    let one = world.client(&p, 0, 0, 1);
    let two = world.client(&p, 0, 1, 2);
    connect_tabs(exec, device, &[(0, &one), (1, &two)]);
    one.set_online(false);
    let db1 = one.db;
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
        "seed {seed}: each committed once, in the order made"
    );
    let taken_over_in = log[0].0 - START - DIES_AT;
    assert!(
        taken_over_in < 2_000,
        "seed {seed}: taken over at once, not at the periodic check: {taken_over_in} ms"
    );
    assert_eq!(device.queued(), 0);
}
