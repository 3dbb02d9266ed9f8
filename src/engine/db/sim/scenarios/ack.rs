//! When `Db::write` resolves, for each acknowledgement.

use super::*;

/// When `Db::write` resolves, by what it was asked and the client's
/// state: the entries in the bucket at that moment. `Local` resolves once
/// the write is durable in the store, before any entry; `Remote`, and the
/// default online, once the entry landed; the default offline is `Local`;
/// and `Local` over a failed store waits for the bucket, since nothing
/// else would keep the write.
#[test]
pub(super) fn a_write_resolves_as_its_acknowledgement_asks() {
    fn entries_at_resolution(ack: Option<Ack>, online: bool, store_broken: bool) -> usize {
        let p = quiet_params(false);
        let world = quiet_world(&p, 5);
        let World {
            exec,
            model,
            device,
            ..
        } = &world;
        device.broken.set(store_broken);
        let c = world.client(&p, 0, 0, 1);
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

/// A write with the default acknowledgement, made while the client still
/// believes the bucket answers, when the network has just gone (untold):
/// its first request fails, the client is disconnected, and the write is
/// answered once durable, as one made offline is, without waiting for the
/// network to come back; it commits once when it does.
#[test]
pub(super) fn a_default_write_that_finds_the_bucket_gone_resolves_once_durable() {
    let p = quiet_params(false);
    let world = quiet_world(&p, 6);
    let World { exec, model, .. } = &world;
    let c = world.client(&p, 0, 0, 1);
    c.db.io().blackout.set(true);
    let (db, model2) = (c.db.clone(), model.clone());
    let resolved = Rc::new(Cell::new(None));
    let resolved2 = resolved.clone();
    exec.spawn(0, async move {
        write(&db, vec![(Ref::new(BUCKET, "a"), Some(json("v")))], None)
            .await
            .expect("accepted");
        resolved2.set(Some(oracle_log(&model2.borrow()).len()));
    });
    exec.run_until(START + 10_000);
    assert_eq!(
        resolved.get(),
        Some(0),
        "answered while the network is gone"
    );
    assert!(!c.db.is_connected());
    c.db.io().blackout.set(false);
    exec.run_until(START + 40_000);
    assert!(c.db.is_connected(), "its prober found the bucket");
    assert_eq!(
        written_values(&model.borrow(), false),
        ["v"],
        "committed once"
    );
}
