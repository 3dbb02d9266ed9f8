//! The simulated network's faults: the per-seed rates of injected errors,
//! slow answers, stalls and requests applied late, and the faults a
//! scripted test asks of one request.

use super::*;

/// A fault a scripted test places on one request (by its number).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fault {
    /// Applied by the server, and its answer lost.
    AnswerLost,
    /// Answered 503 SlowDown, not applied.
    SlowDown,
    /// No answer ever, and not applied.
    Stall,
    /// No answer ever, though the server applied it.
    StallApplied,
}

pub(super) struct Net {
    pub(super) fault_rate: f64,
    pub(super) slow_rate: f64,
    /// Requests that never answer (see `SimIo::stall`), drawn from their
    /// own generator: seeds without stalls keep the schedules they had
    /// before stalls were simulated.
    pub(super) stall_rate: f64,
    pub(super) stall_rng: Rng,
    /// Stalled requests the server applies only later, up to `late_max_ms`
    /// after they reached it (a server slow to finish a request while
    /// the client's time limit has already given up on it; see
    /// `late_rate`), drawn from a generator of their own too.
    pub(super) late_rate: f64,
    pub(super) late_max_ms: u64,
    pub(super) late_rng: Rng,
    /// Creates of v2 log slots answered 409 `ConditionalRequestConflict`
    /// (a racing create, as S3 answers), not applied; drawn from a
    /// generator of their own (v1 seeds keep their schedules).
    pub(super) conflict_rate: f64,
    pub(super) conflict_rng: Rng,
    /// Every request's latency each way, when set (the benchmark counts
    /// round trips by the clock).
    pub(super) fixed_latency_ms: Option<u64>,
}

impl Net {
    pub(super) fn calm() -> Net {
        Net {
            fault_rate: 0.0,
            slow_rate: 0.0,
            stall_rate: 0.0,
            stall_rng: Rng::new(0),
            late_rate: 0.0,
            late_max_ms: 0,
            late_rng: Rng::new(0),
            conflict_rate: 0.0,
            conflict_rng: Rng::new(0),
            fixed_latency_ms: None,
        }
    }
}

/// A quarter of the seeds stall 2% of their requests.
pub(super) fn stall_rate(seed: u64) -> f64 {
    if stall_draws(seed).next_f64() < 0.25 {
        0.02
    } else {
        0.0
    }
}

pub(super) fn stall_draws(seed: u64) -> Rng {
    Rng::new(seed ^ 0x5354_414c_4c53)
}

/// In 30 % of the seeds that stall, half of the stalled requests the
/// server applies are applied late: up to twice the time limit after
/// they reached the server, when the client has timed out and may have
/// retried, gone on, crashed or gone offline.
pub(super) fn late_rate(seed: u64) -> f64 {
    if stall_rate(seed) > 0.0 && late_draws(seed).next_f64() < 0.3 {
        0.5
    } else {
        0.0
    }
}

pub(super) fn late_draws(seed: u64) -> Rng {
    Rng::new(seed ^ 0x4c41_5445_5f42)
}

/// A quarter of the seeds lose the network now and then without their
/// clients being told (`SimIo::blackout`); in half of those the browser
/// says so too (`Db::browser_online`). Drawn from a generator of their
/// own; the regression seeds keep the schedules they failed on.
pub(super) fn blackouts(seed: u64) -> Option<Blackouts> {
    if REGRESSION_SEEDS.contains(&seed) {
        return None;
    }
    let mut rng = Rng::new(seed ^ 0x424c_4143_4b4f);
    (rng.next_f64() < 0.25).then(|| Blackouts {
        told: rng.next_f64() < 0.5,
        rng,
    })
}

/// How a seed's clients lose the network.
pub(super) struct Blackouts {
    /// Whether the browser's `online`/`offline` events tell the client.
    pub(super) told: bool,
    pub(super) rng: Rng,
}

thread_local! {
    /// Requests the server applied late in this thread's current run
    /// (the run's figure for the summary: that late requests happened).
    pub(super) static APPLIED_LATE: Cell<u32> = const { Cell::new(0) };
}
