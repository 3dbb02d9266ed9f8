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

mod bench;
mod checker;
mod cipher;
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

use crate::engine::credentials::Credentials;
use crate::engine::db::{
    Ack, Acked, Batch, Change, Db, DbConfig, Event, JsonText, Protocol, QueuedWrite, Range, Secret,
    Select, Watch,
};
use crate::engine::error::{Error, Result};
use crate::engine::http::{HttpRequest, HttpResponse};
use crate::engine::io::{Io, KeyHandle, LockWait, Table, Task};
use crate::engine::object::Ref;
use crate::engine::protocol::v1::read::SURELY_UNCOLLECTED_MS;
use crate::engine::protocol::v1::{parse_entry_key, EntryBody, LAG_WINDOW_MS};
use crate::engine::protocol::AUTOCLEAN_GRACE_MS;
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
/// The passphrase of encrypted runs (`Params::passphrase`).
pub(super) const SIM_PASSPHRASE: &str = "correct horse battery staple";
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
///
/// And 2401 (v2), once requests were retried through network failures:
/// two calls decided a new manifest's protocol at once, and the later
/// one's listing of the checkpoints, stored after the first read had
/// taken the other's, went stale; a cold read 48 s on trusted it over a
/// checkpoint made since, and a write went into a collected slot
/// (`protocol` keeps only the deciding call's listing); and 2781 (v2):
/// a warm read's GET of a slot it had listed stalled until its time limit
/// and was sent again after the slot was collected (404), and the writer
/// took the head it held for current and wrote into the collected slot
/// (a listed slot gone sends the read to the checkpoints).
///
/// And 20347 and 20349 (v2, encrypted; seeds 20,001-26,000): the key
/// ring's read at start decided the protocol, listing the checkpoints
/// (none yet), and read no log; the first read, a minute and a half on,
/// trusted that listing, while the log had been checkpointed at its head
/// and every slot collected, and read an empty manifest (the guard's
/// listing is trusted only within half the grace, as a read is; scripted
/// as `a_first_read_long_after_the_protocol_was_decided_lists_the_checkpoints_again`).
const REGRESSION_SEEDS: [u64; 11] = [
    2401, 2781, 4559, 11804, 17790, 20347, 20349, 21851, 21933, 26197, 32267,
];

/// The regression seeds found before stalls were simulated: they must keep
/// the schedules they failed on, so they must draw no stalls.
const PRE_STALL_SEEDS: [u64; 3] = [4559, 11804, 32267];

/// The regression seeds found before late requests were simulated: they
/// must draw none. (A list of its own, as `PRE_STALL_SEEDS` is: a seed
/// found later, with late requests, joins `REGRESSION_SEEDS` only.)
const PRE_LATE_SEEDS: [u64; 7] = [4559, 11804, 17790, 21851, 21933, 26197, 32267];

/// What a sweep of seeds did, for its coverage checks.
#[derive(Default)]
struct Sweep {
    seeds: usize,
    writes: usize,
    reads: usize,
    rejected: usize,
    unlisted: u32,
    late: u32,
    disconnections: u32,
    blackout_seeds: usize,
    /// v2: slots won by a create, and creates that lost theirs (412 or 409).
    slots: usize,
    lost_slots: usize,
    checkpoints: usize,
    collected: usize,
    grouped: u32,
    increments: usize,
    failed_checks: u32,
    /// Encrypted runs: PUTs carrying sealed values.
    sealed: usize,
}

/// Runs every seed of `seeds()` on `protocol`; the failing seeds' verdicts.
fn sweep(protocol: Protocol) -> (Sweep, Vec<String>) {
    sweep_with(protocol, false)
}

fn sweep_with(protocol: Protocol, encrypted: bool) -> (Sweep, Vec<String>) {
    let mut failures = Vec::new();
    let mut t = Sweep::default();
    let name = match (protocol, encrypted) {
        (Protocol::V2, true) => "v2, encrypted",
        (Protocol::V2, false) => "v2",
        _ => "v1",
    };
    for seed in seeds() {
        t.seeds += 1;
        let outcome = run_with(seed, protocol, encrypted);
        t.unlisted += outcome.unlisted;
        t.grouped += outcome.grouped;
        t.failed_checks += outcome.failed_checks;
        t.late += outcome.applied_late;
        t.disconnections += outcome.disconnections;
        t.blackout_seeds += usize::from(blackouts(seed).is_some());
        {
            let model = outcome.model.borrow();
            let v2 = format!("{MANIFEST}.v2/");
            let slot_puts = model
                .puts
                .iter()
                .filter(|p| p.key.starts_with(&format!("{v2}log/")));
            let mut distinct: Vec<&str> = slot_puts.map(|p| p.key.as_str()).collect();
            distinct.sort_unstable();
            distinct.dedup();
            t.slots += distinct.len();
            t.checkpoints += model
                .puts
                .iter()
                .filter(|p| p.key.starts_with(&format!("{v2}cp/")))
                .count();
            t.lost_slots += model.conditional_refusals;
            t.collected += model.deletes.iter().filter(|k| k.starts_with(&v2)).count();
        }
        for r in &outcome.history {
            match (&r.op, &r.outcome) {
                (_, Some(Err(_))) => t.rejected += 1,
                (Op::Get(_) | Op::GetAll(_), Some(Ok(_))) => t.reads += 1,
                (Op::Increment, Some(Ok(_))) => t.increments += 1,
                (_, Some(Ok(_))) => t.writes += 1,
                _ => {}
            }
        }
        let verdict = check(&outcome).and_then(|()| {
            if encrypted {
                no_value_in_clear(&outcome)
            } else {
                Ok(())
            }
        });
        if let Err(why) = verdict {
            if std::env::var("MPS3_SIM_SEED").is_ok() {
                for r in &outcome.history {
                    eprintln!("{r:?}");
                }
                eprintln!("requests: {:?}", outcome.model.borrow().requests);
            }
            failures.push(format!("seed {seed} ({name}): {why}\n  replay: MPS3_SIM_SEED={seed} cargo test simulated -- --nocapture"));
        }
        if encrypted {
            t.sealed += outcome
                .model
                .borrow()
                .puts
                .iter()
                .filter(|p| contains(&p.body, b"mps3e1:"))
                .count();
        }
    }
    eprintln!("simulation ({name}): {} seeds, {} acknowledged writes ({} entries written without a listing), {} reads, {} rejected operations, {} requests applied late, {} disconnections ({} seeds losing the network untold); {} slots won, {} creates refused (412/409), {} checkpoints, {} objects collected, {} entries carrying writes queued behind theirs; {} increments by transaction, {} commits refused by their check",
        t.seeds, t.writes, t.unlisted, t.reads, t.rejected, t.late, t.disconnections, t.blackout_seeds, t.slots, t.lost_slots, t.checkpoints, t.collected, t.grouped, t.increments, t.failed_checks);
    (t, failures)
}

/// Failures first: a replay of one seed (or a few) falls short of the
/// coverage figures, which must not hide why the seed failed.
fn assert_no_failures(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} failing seeds:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

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
    let (t, failures) = sweep(Protocol::V1);
    assert_no_failures(&failures);
    assert!(t.writes > 0 && t.reads > 0, "the workload did nothing");
    assert!(
        t.unlisted as usize * 40 > t.writes,
        "too few entries took the settled path ({} of {}) to test it",
        t.unlisted,
        t.writes
    );
    // (A replay of a few seeds may have none.)
    assert!(t.late > 0 || t.seeds < 100, "no request was applied late");
    assert!(
        t.blackout_seeds * 10 > t.seeds || t.seeds < 100,
        "too few seeds lose the network ({})",
        t.blackout_seeds
    );
}

/// Protocol v2 over the same seeds' worlds, with racing creates answered
/// 409, checkpoints every few entries and collection within the run; the
/// checker adds linearizability.
/// Whether `needle` occurs in `hay`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Where `text` is in clear, if anywhere: a PUT the bucket took (entries,
/// content, checkpoints) or a row of the device's store.
fn where_in_clear(model: &InMemoryS3, device: &Device, text: &str) -> Option<String> {
    if let Some(p) = model
        .puts
        .iter()
        .find(|p| contains(&p.body, text.as_bytes()))
    {
        return Some(format!("in the bucket, in {}", p.key));
    }
    for ((table, key), row) in device.data.borrow().iter() {
        if row.contains(text) {
            return Some(format!("in the store ({table:?} {key})"));
        }
    }
    None
}

/// No value the run wrote is anywhere in clear: not in any PUT the bucket
/// took (entries, content, checkpoints), not in any device's store.
fn no_value_in_clear(o: &Outcome) -> Verdict {
    let mut values: Vec<String> = Vec::new();
    for r in &o.history {
        for (_, v) in r.op.values_written() {
            values.push(serde_json::to_string(&v).expect("a string"));
        }
    }
    let model = o.model.borrow();
    for v in &values {
        if let Some(place) = where_in_clear(&model, &o.device, v) {
            return Err(format!("value {v} is in clear {place}"));
        }
    }
    Ok(())
}

/// Protocol v2 with every value encrypted, over the same seeds' worlds:
/// the same invariants, the checker opening what the bucket holds with
/// the passphrase and ring on its own, and no written value in clear in
/// the bucket or any store.
#[test]
fn simulated_clients_with_encrypted_values_keep_every_invariant() {
    let (t, failures) = sweep_with(Protocol::V2, true);
    assert_no_failures(&failures);
    assert!(t.writes > 0 && t.reads > 0, "the workload did nothing");
    assert!(t.sealed > 0, "no sealed value reached the bucket");
}

#[test]
fn simulated_clients_on_v2_are_linearizable_and_lose_no_acknowledged_write() {
    let (t, failures) = sweep(Protocol::V2);
    assert_no_failures(&failures);
    assert!(t.writes > 0 && t.reads > 0, "the workload did nothing");
    if t.seeds >= 100 {
        assert!(t.lost_slots > 0, "no create ever lost its slot");
        assert!(t.checkpoints > 0, "no checkpoint was made");
        assert!(t.collected > 0, "nothing was collected");
        assert!(t.late > 0, "no request was applied late");
        assert!(t.grouped > 0, "no entry carried writes queued behind it");
        assert!(t.increments > 0, "no transaction committed");
        assert!(t.failed_checks > 0, "no transaction's check ever failed");
    }
}
