//! The protocols side by side on the simulated bucket (run by
//! scripts/bench.sh, not by the test command): bytes per put and per
//! catch-up as the manifest grows, a cold read after 10,000 writes and
//! after a reload 100 writes behind (requests, round trips, bytes), and
//! what collection leaves after 10,000 overwrites. Requests and bytes are
//! the engine's own; round trips are counted by a clock on which every
//! request takes a fixed 50 ms each way. Bodies are as the engine sends
//! them before the browser's gzip (the simulation's edge compresses
//! nothing), so v1's figures here are its uncompressed ones.

use super::*;
use crate::engine::protocol::v2::format::prefix;
use serde_json::{json, Value};

const LATENCY_MS: u64 = 50;

fn world(protocol: Protocol, seed: u64) -> (Params, World) {
    let mut p = quiet_params(false);
    p.protocol = protocol;
    p.poll_ms = 1_000;
    let world = quiet_world(&p, seed);
    world.net.borrow_mut().fixed_latency_ms = Some(LATENCY_MS);
    (p, world)
}

/// Requests, bytes up, bytes down and sequential round trips of `op` by
/// `db`.
fn measured<T: 'static>(
    exec: &Rc<Executor>,
    db: &Rc<Db<SimIo>>,
    op: impl Future<Output = T> + 'static,
) -> Value {
    let (n, (up, down), t) = (
        db.io().requests.borrow().len(),
        db.io().bytes.get(),
        exec.now(),
    );
    let done: Rc<Cell<Option<i64>>> = Rc::default();
    let (d, e) = (done.clone(), exec.clone());
    exec.spawn(3, async move {
        op.await;
        d.set(Some(e.now()));
    });
    // Step by step: the clock stops soon after (a client idle much
    // longer would read its log again).
    while done.get().is_none() {
        exec.run_until(exec.now() + 100);
    }
    let end = done.get().expect("the operation finished");
    let (up2, down2) = db.io().bytes.get();
    json!({
        "requests": db.io().requests.borrow().len() - n,
        "bytes_up": up2 - up,
        "bytes_down": down2 - down,
        "round_trips": ((end - t) as f64 / (2 * LATENCY_MS) as f64 * 10.0).round() / 10.0,
    })
}

/// Runs `fut` to its end on the virtual clock (hours of it, if need be).
fn run_long<T: 'static>(exec: &Rc<Executor>, fut: impl Future<Output = T> + 'static) -> T {
    let out: Rc<RefCell<Option<T>>> = Rc::default();
    let o = out.clone();
    exec.spawn(0, async move {
        *o.borrow_mut() = Some(fut.await);
    });
    while out.borrow().is_none() {
        exec.run_until(exec.now() + 100);
    }
    let done = out.borrow_mut().take();
    done.expect("the step finished")
}

fn name(p: Protocol) -> &'static str {
    if p == Protocol::V2 {
        "v2"
    } else {
        "v1"
    }
}

/// One put of one key, and a reader catching up on it, in a manifest of
/// `keys` keys.
fn put_and_catch_up(protocol: Protocol, keys: usize) -> Value {
    let (p, world) = world(protocol, 41);
    let w = world.client(&p, 0, 0, 1);
    let r = world.client(&p, 1, 1, 2);
    let batch: Batch = (0..keys)
        .map(|i| {
            (
                Ref::new(BUCKET, format!("k{i}")),
                Some(json(&format!("value {i}"))),
            )
        })
        .collect();
    let (wdb, rdb) = (w.db.clone(), r.db.clone());
    run_long(&world.exec, async move {
        write(&wdb, batch, Ack::Remote).await.unwrap();
        rdb.get(&Ref::new(BUCKET, "k0"), None).await.unwrap();
    });
    // Past v1's claim settling, as a writer that wrote a while ago.
    let exec = world.exec;
    exec.run_until(exec.now() + 10_000);
    let wdb = w.db.clone();
    let put = measured(&exec, &w.db, async move {
        put(&wdb, Ref::new(BUCKET, "k1"), Some(json("new")))
            .await
            .unwrap();
    });
    let rdb = r.db.clone();
    let catch_up = measured(&exec, &r.db, async move {
        rdb.get(&Ref::new(BUCKET, "k1"), None).await.unwrap();
    });
    json!({"put": put, "catch_up": catch_up})
}

/// A fresh client's first get after `writes` writes of small values, and
/// a client booted from its store `behind` writes behind.
fn cold_reads(writes: usize, behind: usize) -> Value {
    let (p, world) = world(Protocol::V2, 42);
    let w = world.client(&p, 0, 0, 1);
    let stored = world.client(&p, 2, 2, 3);
    let (wdb, sdb) = (w.db, stored.db);
    run_long(&world.exec, async move {
        // Write `i` of the run: one of 100 keys, its number as the value.
        let nth = |i: usize| {
            let (wdb, key) = (wdb.clone(), Ref::new(BUCKET, format!("k{}", i % 100)));
            async move { put(&wdb, key, Some(json(&format!("{i}")))).await.unwrap() }
        };
        for i in 0..writes - behind {
            nth(i).await;
        }
        sdb.get(&Ref::new(BUCKET, "k0"), None).await.unwrap();
        sdb.shutdown();
        for i in writes - behind..writes {
            nth(i).await;
        }
    });
    let exec = world.exec.clone();
    let fresh = world.client(&p, 1, 1, 4);
    let fdb = fresh.db.clone();
    let cold = measured(&exec, &fresh.db, async move {
        fdb.get(&Ref::new(BUCKET, "k1"), None).await.unwrap();
    });
    // The same device and namespace as the client that read before.
    let again = world.client(&p, 2, 2, 5);
    let adb = again.db.clone();
    let first = measured(&exec, &again.db, async move {
        // The first read after a reload answers from the store; the
        // second is the fresh one.
        adb.get(&Ref::new(BUCKET, "k1"), None).await.unwrap();
        adb.get(&Ref::new(BUCKET, "k1"), None).await.unwrap();
    });
    let model = world.model.borrow();
    let slots = model
        .puts
        .iter()
        .filter(|p| p.key.starts_with(&format!("{}log/", prefix(MANIFEST))))
        .count();
    json!({"writes": writes, "slots_written": slots, "cold_get": cold, "booted_behind": behind, "booted_get": first})
}

#[test]
#[ignore = "a benchmark: scripts/bench.sh runs it"]
fn bench_protocols() {
    let mut sizes = serde_json::Map::new();
    for keys in [10, 100, 1_000, 10_000] {
        let mut row = serde_json::Map::new();
        for protocol in [Protocol::V1, Protocol::V2] {
            row.insert(name(protocol).into(), put_and_catch_up(protocol, keys));
        }
        sizes.insert(keys.to_string(), Value::Object(row));
    }
    let cold = cold_reads(10_000, 100);
    let grace = AUTOCLEAN_GRACE_MS;
    let (objects, bytes, slots) =
        scenarios::v2::storage_after_overwrites(10_000, 10, 100, grace, false);
    let (objects_big, bytes_big, slots_big) =
        scenarios::v2::storage_after_overwrites(10_000, 10, 100, grace, true);
    let figures = json!({
        "latency_ms_each_way": LATENCY_MS,
        "put_and_catch_up_by_keys": sizes,
        "v2_cold_reads": cold,
        "v2_storage_after_10000_overwrites_of_10_keys": {
            "write_every_ms": 100,
            "grace_ms": grace,
            "small_values": {"objects": objects, "bytes": bytes, "slots": slots},
            "values_of_2_kb": {"objects": objects_big, "bytes": bytes_big, "slots": slots_big},
        },
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("protocols.json"),
        serde_json::to_string_pretty(&figures).unwrap(),
    )
    .unwrap();
    println!(
        "\n{:<8}{:<6}{:>10}{:>12}{:>12}{:>16}{:>16}",
        "keys", "", "put reqs", "put up B", "put down B", "catch-up reqs", "catch-up down B"
    );
    for keys in ["10", "100", "1000", "10000"] {
        for proto in ["v1", "v2"] {
            let f = &figures["put_and_catch_up_by_keys"][keys][proto];
            let n = |v: &Value| v.as_u64().unwrap_or(0);
            println!(
                "{:<8}{:<6}{:>10}{:>12}{:>12}{:>16}{:>16}",
                keys,
                proto,
                n(&f["put"]["requests"]),
                n(&f["put"]["bytes_up"]),
                n(&f["put"]["bytes_down"]),
                n(&f["catch_up"]["requests"]),
                n(&f["catch_up"]["bytes_down"])
            );
        }
    }
    println!("\nv2 cold get after 10,000 writes: {}", cold["cold_get"]);
    println!(
        "v2 get of a client booted from its store 100 writes behind: {}",
        cold["booted_get"]
    );
    println!(
        "v2 storage after 10,000 overwrites of 10 keys (one per 100 ms, grace 10 min): {}",
        figures["v2_storage_after_10000_overwrites_of_10_keys"]
    );
    println!("wrote target/bench/protocols.json");
}
