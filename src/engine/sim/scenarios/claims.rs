//! Claims on the change marker: settled writers put without listing, idle
//! polls never list, and a server without `If-Match` makes every put list.

use super::*;

/// PUTs and LISTs among the requests a client sent from `from` on.
pub(super) fn puts_and_lists(requests: &[String], from: usize) -> (usize, usize) {
    let r = &requests[from..];
    (
        r.iter().filter(|r| r.starts_with("Put ")).count(),
        r.iter().filter(|r| r.contains("list-type=2")).count(),
    )
}

/// Puts "v0", "v1", ... to "a", each after its pause; (PUTs, LISTs) each.
pub(super) async fn counted_puts(
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
pub(super) fn a_settled_writer_puts_without_listing_and_idle_polls_never_list() {
    let p = quiet_params(false);
    let world = quiet_world(&p, 22);
    let World { exec, model, .. } = &world;
    let w = world.client(&p, 0, 0, 1);
    let r = world.client(&p, 1, 1, 2);
    let heard_w = w.hear("a");
    let heard_r = r.hear("a");
    // (PUTs, LISTs) of each put by the writer, and the reader's LISTs
    // during the idle minute at the end.
    let per_put: Rc<RefCell<Vec<(usize, usize)>>> = Rc::default();
    let idle_lists: Rc<Cell<Option<(usize, usize)>>> = Rc::default();
    let (exec1, w1, r1, per_put1, idle1) = (
        exec.clone(),
        w.db,
        r.db.clone(),
        per_put.clone(),
        idle_lists.clone(),
    );
    exec.spawn(2, async move {
        // The first put is cold; the second comes before the log is
        // settled at its claim; then every 9 s, past the settling.
        let pauses = [500, 500, 9_000, 9_000, 9_000, 9_000];
        *per_put1.borrow_mut() = counted_puts(&exec1, &w1, &pauses).await;
        // Until the last claim settles by time, a poll may list (on its
        // backoff, by design); the idle minute starts after that.
        exec1
            .sleep(crate::engine::protocol::v1::read::CLAIM_SETTLE_MS as u64 + 1_000)
            .await;
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
    // each chained claim's entry, not by waiting out the deadline. (A
    // schedule whose reader lists between a claim and its entry cannot
    // settle by chain and relists on its backoff until the deadline, by
    // design: world 21 does that once since status events stopped
    // coming with every poll, world 22 never.)
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
pub(super) fn a_server_ignoring_if_match_makes_every_put_list() {
    let p = quiet_params(false);
    let world = quiet_world(&p, 22);
    let World { exec, model, .. } = &world;
    model.borrow_mut().ignore_put_conditions = true;
    let w = world.client(&p, 0, 0, 1);
    let _heard = w.hear("a");
    let per_put: Rc<RefCell<Vec<(usize, usize)>>> = Rc::default();
    let (exec1, w1, per_put1) = (exec.clone(), w.db, per_put.clone());
    exec.spawn(2, async move {
        *per_put1.borrow_mut() = counted_puts(&exec1, &w1, &[9_000; 4]).await;
    });
    exec.run_until(START + 120_000);
    // The probe is written (it is the first claim); each put lists.
    assert_eq!(*per_put.borrow(), [(3, 1), (3, 1), (3, 1), (3, 1)]);
}
