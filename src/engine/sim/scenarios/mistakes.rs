//! Mistakes told apart from weather: a bucket set up wrong is an error
//! with its own code, said to the caller, to subscribers and in the
//! status, and never taken for the network being gone.

use super::*;
use crate::engine::error::ErrorKind;

/// What a subscriber heard, call by call: a value, or an error's kind.
type Heard = Rc<RefCell<Vec<std::result::Result<Option<String>, ErrorKind>>>>;

/// A write of `value` to key `a` with the default acknowledgement.
async fn put_a(db: &Rc<Db<SimIo>>, value: &str) -> Result<Acked> {
    let batch = vec![(Ref::new(BUCKET, "a"), Some(json(value)))];
    db.write(Change::Values(batch), &[], None, None).await
}

/// What a subscriber of `key` hears: each value, or an error's kind.
fn heard(c: &Client, key: &str) -> Heard {
    let heard: Rc<RefCell<Vec<_>>> = Rc::default();
    c.db.subscribe(&Watch::Key(Ref::new(BUCKET, key)), None)
        .unwrap();
    let (weak, heard2) = (Rc::downgrade(&c.db), heard.clone());
    *c.db.io().deliver.borrow_mut() = Some(Rc::new(move || {
        let Some(db) = weak.upgrade() else { return };
        for e in db.take_events() {
            match e {
                Event::Value { value, .. } => {
                    heard2.borrow_mut().push(Ok(value.as_ref().map(unjson)));
                }
                Event::Error { error, .. } => heard2.borrow_mut().push(Err(error.kind)),
                _ => {}
            }
        }
    }));
    heard
}

/// A CORS rule that lets GETs through and blocks every preflighted
/// request (PUT, DELETE): a write is refused as `CorsBlocked` within a
/// few retries, nothing reaches the bucket, the status says what is
/// wrong while the client stays connected (polls are answered: no
/// flapping), and once the rule is fixed the next write commits and the
/// problem clears. Both protocols.
#[test]
fn a_cors_rule_that_blocks_writes_is_a_problem_not_an_outage() {
    for protocol in [Protocol::V1, Protocol::V2] {
        let p = quiet_params_on(protocol);
        let world = quiet_world(&p, 61);
        let World { exec, model, .. } = &world;
        let c = world.client(&p, 0, 0, 1);
        let heard = heard(&c, "a");
        c.db.io().blocks_writes.set(true);
        let db = c.db.clone();
        let (refused, took) = finish(exec, async move {
            let started = db.io().exec.now();
            let r = put_a(&db, "v").await;
            (r, db.io().exec.now() - started)
        });
        let refused = refused.unwrap_err();
        assert_eq!(
            refused.kind,
            ErrorKind::CorsBlocked,
            "{protocol:?}: {refused}"
        );
        assert!(refused.message.contains("CORS"), "{}", refused.message);
        assert!(took < 10_000, "{protocol:?}: refused after {took} ms");
        let objects: usize = model
            .borrow()
            .buckets
            .iter()
            .map(|(_, b)| b.objects.len())
            .sum();
        assert_eq!(objects, 0, "{protocol:?}: nothing written, no probe left");
        // Half a minute of polls: answered, so no flapping.
        exec.run_until(exec.now() + 30_000);
        let status = c.db.status();
        assert!(status.connected, "{protocol:?}: connected all along");
        assert_eq!(c.db.disconnections(), 0, "{protocol:?}");
        assert_eq!(status.problem.map(|e| e.kind), Some(ErrorKind::CorsBlocked));
        assert_eq!(
            c.db.pending_writes(),
            0,
            "{protocol:?}: the refused write is gone"
        );
        c.db.io().blocks_writes.set(false);
        let db = c.db.clone();
        let acked = finish(exec, async move { put_a(&db, "w").await });
        assert!(
            matches!(acked, Ok(Acked::Committed(_))),
            "{protocol:?}: {acked:?}"
        );
        assert_eq!(
            c.db.status().problem.map(|e| e.kind),
            None,
            "{protocol:?}: fixed"
        );
        exec.run_until(exec.now() + 3_000);
        assert_eq!(
            heard.borrow().last(),
            Some(&Ok(Some("w".into()))),
            "{protocol:?}"
        );
    }
}

/// A bucket that does not exist (a typo in its name): a read rejects as
/// `NoSuchBucket` with the fix in its message, a subscriber's first call
/// is that error (not an absent value), the status carries it while the
/// client stays connected, and a write is refused with it, leaving
/// nothing queued.
#[test]
fn a_bucket_that_does_not_exist_is_an_error_not_an_empty_database() {
    for protocol in [Protocol::V1, Protocol::V2] {
        let p = quiet_params_on(protocol);
        let world = quiet_world(&p, 62);
        let World { exec, model, .. } = &world;
        model.borrow_mut().buckets.clear();
        let c = world.client(&p, 0, 0, 1);
        let heard = heard(&c, "a");
        exec.run_until(exec.now() + 5_000);
        assert_eq!(
            heard.borrow().first(),
            Some(&Err(ErrorKind::NoSuchBucket)),
            "{protocol:?}"
        );
        assert!(
            !heard.borrow().iter().any(|h| h.is_ok()),
            "{protocol:?}: never an absent value: {:?}",
            heard.borrow()
        );
        let db = c.db.clone();
        let (read, written) = finish(exec, async move {
            let read = db.get(&Ref::new(BUCKET, "a"), None).await;
            let written = put_a(&db, "v").await;
            (read, written)
        });
        let read = read.unwrap_err();
        assert_eq!(read.kind, ErrorKind::NoSuchBucket, "{protocol:?}: {read}");
        assert!(read.message.contains("defaultBucket"), "{}", read.message);
        assert_eq!(
            written.unwrap_err().kind,
            ErrorKind::NoSuchBucket,
            "{protocol:?}"
        );
        let status = c.db.status();
        assert!(status.connected);
        assert_eq!(
            status.problem.map(|e| e.kind),
            Some(ErrorKind::NoSuchBucket)
        );
        assert_eq!(c.db.pending_writes(), 0, "{protocol:?}");
    }
}

/// Writes blocked by the browser after a write of this client reached the
/// log: a later write's entry PUT may have been sent (its try is stored
/// before each PUT, and a blocked preflight looks like a lost answer), so
/// its caller is told `OutcomeUnknown`, not `CorsBlocked`, which would say
/// nothing was written. The write stays queued and lands, once, when the
/// rule is fixed. (Told `CorsBlocked`, it landed after its refusal.)
#[test]
fn a_write_blocked_after_its_entry_may_have_been_sent_is_unknown_not_refused() {
    let p = quiet_params_on(Protocol::V2);
    let world = quiet_world(&p, 63);
    let World { exec, .. } = &world;
    let c = world.client(&p, 0, 0, 1);
    let db = c.db.clone();
    finish(exec, async move { put_a(&db, "first").await }).unwrap();
    c.db.io().blocks_writes.set(true);
    let db = c.db.clone();
    let told = finish(exec, async move { put_a(&db, "second").await }).unwrap_err();
    assert_eq!(told.kind, ErrorKind::OutcomeUnknown, "{told}");
    assert!(told.message.contains("CORS"), "{told}");
    assert_eq!(
        c.db.status().problem.map(|e| e.kind),
        Some(ErrorKind::CorsBlocked),
        "the status names the rule"
    );
    assert_eq!(c.db.pending_writes(), 1, "kept in the queue");
    c.db.io().blocks_writes.set(false);
    exec.run_until(exec.now() + 30_000);
    assert_eq!(c.db.pending_writes(), 0, "committed once the rule is fixed");
    let reader = world.client(&p, 1, 1, 2);
    let got = finish(exec, async move {
        values(&reader.db, &[Ref::new(BUCKET, "a")]).await
    })
    .unwrap();
    assert_eq!(got, vec![Some(json("second"))]);
    let second = world
        .model
        .borrow()
        .puts
        .iter()
        .filter(|p| {
            p.key.contains(".v2/log/") && String::from_utf8_lossy(&p.body).contains("second")
        })
        .count();
    assert_eq!(second, 1, "in the log once");
}
