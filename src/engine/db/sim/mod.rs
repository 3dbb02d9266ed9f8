//! Deterministic simulation of many clients over one bucket.
//!
//! Each seed draws a schedule: 2-4 clients with skewed clocks (some by a
//! minute), a random workload over a few shared keys, request latencies
//! from milliseconds to seconds, injected 503/500, lost responses and
//! resets, requests that never answer (ended by the engine's time limit),
//! sometimes a client crashing mid-write. The executor runs it on a
//! virtual clock; then faults stop, the survivors and a fresh client read
//! everything, and the checker judges the history:
//!
//! * convergence: every client reads the same final state, and it is the
//!   oracle's, last-writer-wins over every valid entry ever written (so a
//!   write the log lost shows as a difference);
//! * nothing acknowledged is lost: every acknowledged write is in a valid
//!   entry;
//! * sessions: a client's reads never go back behind its own acknowledged
//!   writes or what it already read (read-your-writes, monotonic reads);
//! * subscribers: one call per version, never the same value twice, the
//!   last one the final value.
//!
//! `MPS3_SIM_SEEDS=N` runs seeds up to N (default 1000), from
//! `MPS3_SIM_FROM` (default 1), and the regression seeds; `MPS3_SIM_SEED=S`
//! replays one, printing its history.

mod checker;
mod device;
mod executor;
mod harness;
mod io;
mod net;
mod scenarios;
mod workload;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::rc::Rc;

use crate::engine::s3::in_memory::InMemoryS3;
use device::{Device, SimLock};
use executor::Executor;

use super::sync::{AUTOCLEAN_GRACE_MS, SURELY_UNCOLLECTED_MS};
use super::{Ack, Batch, Change, Db, DbConfig, Event, JsonText, QueuedWrite};
use crate::engine::credentials::Credentials;
use crate::engine::error::{Error, Result};
use crate::engine::http::{HttpRequest, HttpResponse};
use crate::engine::io::{Io, LockWait, Table, Task};
use crate::engine::manifest::{parse_entry_key, EntryBody, Ref, LAG_WINDOW_MS};
use crate::engine::rng::Rng;
use crate::engine::s3::{S3Config, S3};
use checker::*;
use harness::*;
use io::*;
use net::*;
use workload::*;

pub(super) const BUCKET: &str = "sim";

/// A read's values, key by key (`None`: absent).
pub(super) type Reads = Vec<Option<String>>;
/// An entry's changes: url → version, or `None` for a delete.
pub(super) type Changes = Vec<(String, Option<String>)>;
pub(super) const MANIFEST: &str = "manifest.json";
pub(super) const START: i64 = 1_795_692_057_132;

fn seeds() -> Vec<u64> {
    if let Ok(s) = std::env::var("MPS3_SIM_SEED") {
        return vec![s.parse().expect("MPS3_SIM_SEED is a number")];
    }
    let n: u64 = std::env::var("MPS3_SIM_SEEDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    // `MPS3_SIM_FROM=k`: start at seed k (a sweep past seeds already run).
    let from: u64 = std::env::var("MPS3_SIM_FROM")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let mut seeds: Vec<u64> = (from..=n).collect();
    seeds.extend(REGRESSION_SEEDS.iter().filter(|&&s| s > n));
    seeds
}

/// Seeds beyond the default thousand that once failed, run every time,
/// and what each found:
/// - 4559: a committed write's mask outlived it, and reads answered from
///   it over a stale resolution instead of listing (`ManifestState::pending`);
/// - 11804: an entry PUT aborted by going offline, never sent, was later
///   counted as landed and the write lost (`HttpRequest::finish_offline`;
///   scripted as `an_entry_put_in_flight_when_its_client_goes_offline_is_not_lost`);
/// - 32267: a crash at the very start dropped a worker before its first
///   poll, which never counted it done, and the run waited forever (the
///   worker's `Done` guard);
///
/// and four found once requests could stall (seeds 10,001-30,000):
/// - 17790, 21933: a resumed write's masks outlived its entry, which the
///   resolution already held, and hid a newer write by another client
///   (`entry_landed` retires them);
/// - 21851, 26197: a poller's request stalled just before the network
///   calmed, and the run read the subscribers before its time limit
///   ended it (the harness waits for the limit now).
///
/// Within the default thousand, stalls found seeds 327 and 907: an
/// attempt's fate checked after autoclean could have collected the entry
/// (a crash and a stall of a minute; a PUT retried for a minute, then
/// refused as already there), when the grace was one minute: hence its
/// ten minutes (`AUTOCLEAN_GRACE_MS`) and the scripted
/// `an_entry_put_answered_after_its_entry_was_collected_is_not_written_twice`.
const REGRESSION_SEEDS: [u64; 7] = [4559, 11804, 17790, 21851, 21933, 26197, 32267];

/// The regression seeds found before stalls were simulated: they must keep
/// the schedules they failed on, so they must draw no stalls.
const PRE_STALL_SEEDS: [u64; 3] = [4559, 11804, 32267];

/// The regression seeds found before late requests were simulated: they
/// must draw none. (A list of its own, as `PRE_STALL_SEEDS` is: a seed
/// found later, with late requests, joins `REGRESSION_SEEDS` only.)
const PRE_LATE_SEEDS: [u64; 7] = [4559, 11804, 17790, 21851, 21933, 26197, 32267];

#[test]
fn simulated_clients_converge_and_lose_no_acknowledged_write() {
    for seed in PRE_STALL_SEEDS {
        assert_eq!(stall_rate(seed), 0.0, "regression seed {seed} draws stalls");
    }
    for seed in PRE_LATE_SEEDS {
        assert_eq!(
            late_rate(seed),
            0.0,
            "regression seed {seed} draws late requests"
        );
    }
    let mut failures = Vec::new();
    let (mut writes, mut reads, mut rejected, mut unlisted, mut late) = (0, 0, 0, 0, 0);
    let (mut disconnections, mut blackout_seeds) = (0, 0);
    for seed in seeds() {
        let outcome = run(seed);
        unlisted += outcome.unlisted;
        late += outcome.applied_late;
        disconnections += outcome.disconnections;
        blackout_seeds += usize::from(blackouts(seed).is_some());
        for r in &outcome.history {
            match (&r.op, &r.outcome) {
                (_, Some(Err(_))) => rejected += 1,
                (Op::Get(_) | Op::GetAll(_), Some(Ok(_))) => reads += 1,
                (_, Some(Ok(_))) => writes += 1,
                _ => {}
            }
        }
        if let Err(why) = check(&outcome) {
            if std::env::var("MPS3_SIM_SEED").is_ok() {
                for r in &outcome.history {
                    eprintln!("{r:?}");
                }
                eprintln!("requests: {:?}", outcome.model.borrow().requests);
            }
            failures.push(format!("seed {seed}: {why}\n  replay: MPS3_SIM_SEED={seed} cargo test simulated -- --nocapture"));
        }
    }
    eprintln!("simulation: {} seeds, {writes} acknowledged writes ({unlisted} entries written without a listing), {reads} reads, {rejected} rejected operations, {late} requests applied late, {disconnections} disconnections ({blackout_seeds} seeds losing the network untold)", seeds().len());
    // Failures first: a replay of one seed (or a few) falls short of the
    // coverage figure below, which must not hide why the seed failed.
    assert!(
        failures.is_empty(),
        "{} failing seeds:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(writes > 0 && reads > 0, "the workload did nothing");
    assert!(
        unlisted * 40 > writes,
        "too few entries took the settled path ({unlisted} of {writes}) to test it"
    );
    // (A replay of a few seeds may have none.)
    assert!(
        late > 0 || seeds().len() < 100,
        "no request was applied late"
    );
    assert!(
        blackout_seeds * 10 > seeds().len() || seeds().len() < 100,
        "too few seeds lose the network ({blackout_seeds})"
    );
}
