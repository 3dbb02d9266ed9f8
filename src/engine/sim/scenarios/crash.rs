//! Writes through crashes, lost answers, stalls and offline periods: each
//! committed exactly once, whatever request its client died or lost the
//! network after, and however long it stayed away.

use super::*;

/// One write acknowledged locally, its client killed right after its
/// `n`-th request reached the server (applied or not), started again after
/// `restart_after_ms`, then a second write. Returns whether the crash
/// happened (`false`: the write needs fewer than `n` requests).
pub(super) fn crash_scenario(
    n: u32,
    applied: bool,
    restart_after_ms: u64,
    versioning: bool,
) -> std::result::Result<bool, String> {
    let p = quiet_params(versioning);
    let world = quiet_world(&p, n as u64);
    let World {
        exec,
        model,
        net,
        device,
        ..
    } = &world;
    let a = world.client(&p, 0, 0, 1);
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
pub(super) fn every_crash_point_of_a_queued_write_commits_it_exactly_once() {
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

/// A write whose entry PUT landed but whose answers were all lost until
/// the retries gave up: it may be in the log, so it must not be rejected
/// (a rejected write must never appear); it is settled and acknowledged.
#[test]
pub(super) fn a_write_whose_entry_may_have_landed_is_settled_not_rejected() {
    let mut p = quiet_params(false);
    p.retry_attempts = 2;
    let world = quiet_world(&p, 3);
    let World { exec, model, .. } = &world;
    let c = world.client(&p, 0, 0, 1);
    // Requests: content PUT, marker GET (404), the claim's If-Match probe
    // (refused), the claim, LIST, then the entry PUT (6): applied with its
    // answer lost, and its retry refused.
    c.db.io()
        .script
        .borrow_mut()
        .extend([(6, Fault::AnswerLost), (7, Fault::SlowDown)]);
    let result = spawn_put(exec, &c, "k", "v");
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
pub(super) const ABSENCE_MS: u64 = AUTOCLEAN_GRACE_MS as u64 + 90_000;

/// Another client writing key `a` (v2, v3, ...), every 25 s while the
/// other is away: autoclean then collects the entries of its time.
pub(super) fn overwrite_repeatedly(exec: &Rc<Executor>, b: &Client) {
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
pub(super) fn assert_v1_committed_once(model: &InMemoryS3, device: &Device) {
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
/// listing from which autoclean may have collected it, and the write
/// would be counted as landed and lost.
#[test]
pub(super) fn an_entry_put_in_flight_when_its_client_goes_offline_is_not_lost() {
    let mut p = quiet_params(false);
    // `LastModified` to the millisecond: it tells when the PUT arrived.
    p.lm_precision = 1;
    let world = quiet_world(&p, 5);
    let World {
        exec,
        model,
        device,
        ..
    } = &world;
    let a = Rc::new(world.client(&p, 0, 0, 1));
    let b = world.client(&p, 1, 1, 2);
    let offline_at: Rc<RefCell<Option<(i64, String)>>> = Rc::default();
    let db1 = a.db.clone();
    exec.spawn(0, async move {
        let batch = vec![(Ref::new(BUCKET, "a"), Some(json("v1")))];
        write(&db1, batch, Ack::Local).await.expect("accepted");
    });
    // Offline the moment the entry's attempt is stored: its PUT has just
    // left, and the network takes at least a millisecond.
    let (exec2, device2, a2, at2) = (exec.clone(), device.clone(), a, offline_at.clone());
    exec.spawn(2, async move {
        loop {
            let attempt = device2
                .scan(Table::Queue, "")
                .unwrap()
                .iter()
                .filter_map(|(k, v)| QueuedWrite::from_text(k, v).ok())
                .find_map(|w| {
                    let m = &w.manifests[0];
                    w.attempt(m).map(|at| at.to_stored(&m.key).0)
                });
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
    overwrite_repeatedly(exec, &b);
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
    assert_v1_committed_once(&model, device);
}

/// A write whose entry PUT lands but whose answers stall, each attempt
/// ending at the time limit, for longer than autoclean's grace, while
/// another client writes other keys: by the time the PUT's retry hears 412
/// (it landed), autoclean has collected the entry, and the writer's
/// listing misses it. Written again on that evidence, the write would be
/// committed twice; the listing proves nothing that late, so the write is
/// settled as a resumed one, and the other client's entries carry its
/// value.
#[test]
pub(super) fn an_entry_put_answered_after_its_entry_was_collected_is_not_written_twice() {
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
pub(super) fn stalled_past_collection(stalled: Vec<u32>) {
    let mut p = quiet_params(false);
    p.retry_attempts = 40;
    let world = quiet_world(&p, 7);
    let World {
        exec,
        model,
        device,
        ..
    } = &world;
    let a = world.client(&p, 0, 0, 1);
    let b = world.client(&p, 1, 1, 2);
    // Requests: content PUT, marker GET (404), the claim's If-Match probe
    // (refused), the claim, LIST, then the entry PUT (6): applied, and
    // its answer stalls.
    let limit = DbConfig::new(BUCKET).retry.timeout_ms as i64;
    let stalls = stalled.len() as u32 + 1;
    let mut script = a.db.io().script.borrow_mut();
    script.insert(6, Fault::StallApplied);
    script.extend(stalled.iter().map(|&n| (n, Fault::Stall)));
    drop(script);
    let result = spawn_put(exec, &a, "a", "v1");
    // B polls (autoclean runs in polls), and writes other keys: its
    // entries carry A's value in their `files`.
    let heard = b.hear("a");
    let (exec2, db2) = (exec.clone(), b.db);
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
    assert!(
        a.db.disconnections() > 0,
        "the stalled PUT left the client disconnected: {requests:#?}"
    );
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
    assert_v1_committed_once(&model, device);
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
pub(super) fn a_time_limit_longer_than_the_grace_still_sends_the_entry() {
    for limit in [0, 2 * AUTOCLEAN_GRACE_MS as u64] {
        let mut p = quiet_params(false);
        p.timeout_ms = limit;
        let world = quiet_world(&p, 11);
        let World {
            exec,
            model,
            device,
            ..
        } = &world;
        let a = world.client(&p, 0, 0, 1);
        let result = spawn_put(exec, &a, "a", "v1");
        exec.run_until(START + 60_000);
        assert_eq!(result.borrow().clone(), Some(Ok(())), "limit {limit}");
        assert_v1_committed_once(&model.borrow(), device);
    }
}

/// A write whose client goes offline while the entry's attempt is being
/// stored, so that its entry PUT never leaves, and which stays offline past
/// autoclean's grace while another client writes the key over and over.
/// The attempt is forgotten at once; kept, on return it could only be
/// judged by a listing from which autoclean may have collected it, and the
/// write was counted as landed and lost.
#[test]
pub(super) fn an_entry_put_never_sent_because_its_client_went_offline_is_not_lost() {
    let p = quiet_params(false);
    let world = quiet_world(&p, 6);
    let World {
        exec,
        model,
        device,
        ..
    } = &world;
    let a = Rc::new(world.client(&p, 0, 0, 1));
    let b = world.client(&p, 1, 1, 2);
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
    let (exec3, a3, at3) = (exec.clone(), a, offline_at.clone());
    exec.spawn(2, async move {
        while at3.get().is_none() {
            exec3.sleep(1).await;
        }
        // Past autoclean's grace, while the key is written over and over.
        exec3.sleep(ABSENCE_MS).await;
        a3.set_online(true);
    });
    overwrite_repeatedly(exec, &b);
    exec.run_until(START + ABSENCE_MS as i64 + 5 * 60_000);
    assert!(offline_at.get().is_some(), "the entry was attempted");
    let model = model.borrow();
    assert_v1_committed_once(&model, device);
}
