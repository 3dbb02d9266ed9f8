//! The auth proxy's cost, measured (scripts/bench.sh runs it against the
//! test bed): a put and an idle poll by an engine client through the
//! proxy against the same client talking to the bucket directly
//! (requests, bytes, latency median and p90), and validated creates per
//! second with four writers at once. Writes target/bench/proxy.json and
//! prints a short table. The clients, the proxy and moto share this
//! machine, so the added latency is the proxy's work plus one local hop.

mod common;

use std::rc::Rc;
use std::time::Instant;

use common::*;
use mps3::engine::db::{Ack, Change, Db, DbConfig, Watch};
use mps3::engine::object::Ref;
use mps3::engine::s3::S3;
use mps3_proxy::http;
use mps3_proxy::native_io::NativeIo;
use mps3_proxy::server::now_ms;

#[derive(Default, Debug)]
struct Figures {
    ms: Vec<f64>,
    requests: f64,
    bytes_out: f64,
    bytes_in: f64,
}

impl Figures {
    fn quantile(&self, q: f64) -> f64 {
        let mut v = self.ms.clone();
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * q).round() as usize]
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "ms_median": self.quantile(0.5), "ms_p90": self.quantile(0.9),
            "requests": self.requests, "bytes_out": self.bytes_out, "bytes_in": self.bytes_in,
        })
    }
}

/// `n` puts of a small value, one after another, each awaited.
async fn puts(db: &Rc<Db<NativeIo>>, m: &Ref, key: &str, n: usize) -> Figures {
    let io = db.io();
    let (r0, o0, i0) = (io.requests.get(), io.bytes_out.get(), io.bytes_in.get());
    let mut f = Figures::default();
    for i in 0..n {
        let t = Instant::now();
        let change = Change::Values(vec![(
            Ref::new(BUCKET, key),
            Some(format!("{{\"n\":{i}}}").into()),
        )]);
        db.write(change, std::slice::from_ref(m), Some(Ack::Remote), None)
            .await
            .unwrap();
        f.ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let k = n as f64;
    f.requests = (io.requests.get() - r0) as f64 / k;
    f.bytes_out = (io.bytes_out.get() - o0) as f64 / k;
    f.bytes_in = (io.bytes_in.get() - i0) as f64 / k;
    f
}

/// `n` idle polls of a manifest the client follows.
async fn polls(db: &Rc<Db<NativeIo>>, n: usize) -> Figures {
    let io = db.io();
    let (r0, o0, i0) = (io.requests.get(), io.bytes_out.get(), io.bytes_in.get());
    let mut f = Figures::default();
    for _ in 0..n {
        let t = Instant::now();
        db.poll_once().await;
        f.ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let k = n as f64;
    f.requests = (io.requests.get() - r0) as f64 / k;
    f.bytes_out = (io.bytes_out.get() - o0) as f64 / k;
    f.bytes_in = (io.bytes_in.get() - i0) as f64 / k;
    f
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "a benchmark against the test bed: scripts/bench.sh runs it"]
async fn bench_through_the_proxy() {
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let bed = bed();
            let run = format!("bench-{}", now_ms());
            let proxy = start_proxy(&bed, &run, "mps3").await;
            let client = http::client();
            let m = Ref::new(BUCKET, format!("{run}/board.json"));
            let via = engine_client(&client, &proxy, "alice", 64).await;
            let mut s3c = bed.s3_config();
            s3c.presign_reads = true;
            let mut cfg = DbConfig::new(BUCKET);
            cfg.autoclean = false;
            cfg.offline_storage = false;
            let direct = Rc::new(Db::new(NativeIo::new(http::client()), S3::new(s3c), cfg, 7).unwrap());
            direct.start();
            let md = Ref::new(BUCKET, format!("{run}/direct.json"));
            let key = format!("{run}/notes/alice/1");
            // Warm: each manifest made, its head read.
            puts(&direct, &md, &key, 1).await;
            puts(&via, &m, &key, 1).await;
            let put_direct = puts(&direct, &md, &key, 40).await;
            let put_proxy = puts(&via, &m, &key, 40).await;
            direct.subscribe(&Watch::Key(Ref::new(BUCKET, key.clone())), Some(&md)).unwrap();
            via.subscribe(&Watch::Key(Ref::new(BUCKET, key.clone())), Some(&m)).unwrap();
            polls(&direct, 3).await;
            polls(&via, 3).await;
            let poll_direct = polls(&direct, 40).await;
            let poll_proxy = polls(&via, 40).await;

            // Throughput: four writers at once, each to its own key of one
            // manifest (they race for slots: a lost race is a 412 and a
            // retry at the next slot).
            let mut writers = Vec::new();
            for who in ["alice", "bob", "carol", "dave"] {
                let db = engine_client(&client, &proxy, who, 64).await;
                puts(&db, &m, &format!("{run}/notes/{who}/t"), 1).await;
                writers.push((db, who));
            }
            let per_writer = 25;
            let t = Instant::now();
            let mut tasks = Vec::new();
            for (db, who) in writers {
                let (m, key) = (m.clone(), format!("{run}/notes/{who}/t"));
                tasks.push(tokio::task::spawn_local(async move { puts(&db, &m, &key, per_writer).await }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            let secs = t.elapsed().as_secs_f64();
            let creates_per_second = (4 * per_writer) as f64 / secs;

            let figures = serde_json::json!({
                "put": { "direct": put_direct.json(), "proxy": put_proxy.json() },
                "idle_poll": { "direct": poll_direct.json(), "proxy": poll_proxy.json() },
                "validated_creates_per_second": creates_per_second,
                "writers": 4, "writes_per_writer": per_writer,
            });
            std::fs::create_dir_all("../target/bench").unwrap();
            std::fs::write("../target/bench/proxy.json", serde_json::to_string_pretty(&figures).unwrap()).unwrap();
            println!("\n{:<22}{:>10}{:>10}{:>10}{:>12}{:>12}", "through the proxy", "median ms", "p90 ms", "requests", "bytes out", "bytes in");
            for (name, f) in [
                ("put, direct", &put_direct),
                ("put, proxy", &put_proxy),
                ("idle poll, direct", &poll_direct),
                ("idle poll, proxy", &poll_proxy),
            ] {
                println!(
                    "{name:<22}{:>10.1}{:>10.1}{:>10.2}{:>12.0}{:>12.0}",
                    f.quantile(0.5),
                    f.quantile(0.9),
                    f.requests,
                    f.bytes_out,
                    f.bytes_in
                );
            }
            println!(
                "added latency (median): put {:+.1} ms, idle poll {:+.1} ms",
                put_proxy.quantile(0.5) - put_direct.quantile(0.5),
                poll_proxy.quantile(0.5) - poll_direct.quantile(0.5)
            );
            println!("validated creates: {creates_per_second:.0} per second (4 writers × {per_writer}, one manifest)");
            println!("wrote target/bench/proxy.json");
        })
        .await;
}
