//! The durable store's bound and the choice of what goes up gzipped.

use super::*;

/// `offlineBytes`: the durable store keeps the most recently used content
/// within the bound; what was evicted reads as `Offline` when offline,
/// what was kept still reads.
#[test]
pub(super) fn offline_bytes_bounds_the_stored_content_least_recently_used_out() {
    let p = quiet_params(false);
    let world = quiet_world(&p, 7);
    let World { exec, device, .. } = &world;
    let mut small = p;
    small.cache_bytes = 0; // every read goes to the store
    small.offline_bytes = 200;
    let c = world.client(&small, 0, 0, 1);
    // Each value is 50 bytes of JSON; the store may keep 200.
    let db = c.db;
    let outcome: Rc<RefCell<Vec<String>>> = Rc::default();
    let out = outcome.clone();
    exec.spawn(0, async move {
        let value = |i: usize| json(&format!("{i:0>48}"));
        for i in 0..8 {
            put(&db, Ref::new(BUCKET, format!("k{i}")), Some(value(i)))
                .await
                .unwrap();
        }
        // k1 is read again: the newest use, so it stays.
        db.get(&Ref::new(BUCKET, "k1"), None).await.unwrap();
        db.set_online(false);
        for i in 0..8 {
            let r = db.get(&Ref::new(BUCKET, format!("k{i}")), None).await;
            out.borrow_mut().push(match r {
                Ok(Some(_)) => "kept".into(),
                Ok(None) => "absent".into(),
                Err(e) => e.kind.code().into(),
            });
        }
    });
    exec.run_until(START + 120_000);
    let content_bytes: usize = device
        .data
        .borrow()
        .iter()
        .filter(|((t, _), _)| *t == Table::Content)
        .map(|(_, v)| v.len())
        .sum();
    assert!(content_bytes <= 200, "{content_bytes} bytes stored");
    assert_eq!(
        *outcome.borrow(),
        ["Offline", "kept", "Offline", "Offline", "Offline", "kept", "kept", "kept"],
        "the four most recently used (200 bytes) are kept"
    );
}

/// Values and log entries of `GZIP_MIN_BYTES` or more go up as the edge
/// compressed them, when that is smaller; the rest as they are, and every
/// one with `gzip` off. (What goes up is read back by browsers, which
/// decode it: the browser tests `large_values_go_up_gzipped_and_read_back_as_written`
/// and `large_entries_go_up_gzipped_and_read_back`.)
#[test]
pub(super) fn large_values_go_up_as_the_edge_compressed_them() {
    use crate::engine::db::GZIP_MIN_BYTES;
    fn halve(b: &[u8]) -> Vec<u8> {
        b[..b.len() / 2].to_vec()
    }
    fn double(b: &[u8]) -> Vec<u8> {
        [b, b].concat()
    }
    let big: &'static str = "x".repeat(GZIP_MIN_BYTES).leak();
    let small: &'static str = "x".repeat(GZIP_MIN_BYTES - 10).leak();
    let mut p = quiet_params(false);
    let world = quiet_world(&p, 1);
    let World { exec, model, .. } = &world;
    let halving = world.client(&p, 0, 0, 1);
    halving.db.io().compress.set(Some(halve));
    let doubling = world.client(&p, 1, 1, 2);
    doubling.db.io().compress.set(Some(double));
    p.gzip = false;
    let off = world.client(&p, 2, 2, 3);
    off.db.io().compress.set(Some(halve));
    let results = [
        spawn_put(exec, &halving, "big", big),
        spawn_put(exec, &halving, "small", small),
        spawn_put(exec, &doubling, "grown", big),
        spawn_put(exec, &off, "off", big),
    ];
    exec.run_until(START + 60_000);
    for r in &results {
        assert!(matches!(*r.borrow(), Some(Ok(()))), "{:?}", r.borrow());
    }
    let stored_now = model.borrow();
    let stored = |key: &str| -> Vec<u8> {
        let found: Vec<_> = stored_now
            .bucket(BUCKET)
            .unwrap()
            .objects
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{key}@")))
            .map(|(_, versions)| versions.last().unwrap().body.clone())
            .collect();
        assert_eq!(found.len(), 1, "one content object of {key}");
        found.into_iter().next().unwrap()
    };
    let as_written = |v: &str| json(v).as_bytes().to_vec();
    assert_eq!(stored("big"), halve(&as_written(big)));
    assert_eq!(stored("small"), as_written(small));
    assert_eq!(stored("grown"), as_written(big));
    assert_eq!(stored("off"), as_written(big));
    drop(stored_now);

    // Entries too: the same batch of 30 keys, in a manifest of its own per
    // client, makes entries of one length (same keys, versions of one
    // length), over 1 KiB; the halving client's goes up halved.
    let entry_len = |c: &Client, manifest: &'static str| -> usize {
        let batch: Batch = (0..30)
            .map(|i| (Ref::new(BUCKET, format!("k{i}")), Some(json("v"))))
            .collect();
        let db = c.db.clone();
        let m = Ref::new(BUCKET, manifest);
        finish(exec, async move {
            db.write(Change::Values(batch), &[m], Some(Ack::Remote), None)
                .await
        })
        .unwrap();
        let model = model.borrow();
        let entries: Vec<_> = model
            .puts
            .iter()
            .filter(|p| parse_entry_key(manifest, &p.key).is_some())
            .collect();
        assert_eq!(entries.len(), 1, "one entry in {manifest}");
        entries[0].body.len()
    };
    let plain = entry_len(&off, "plain.json");
    assert!(plain >= GZIP_MIN_BYTES, "{plain}");
    assert_eq!(entry_len(&halving, "halved.json"), plain / 2);
}
