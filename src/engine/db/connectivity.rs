//! Whether the bucket can be reached, learned without being told, and the
//! client's status.
//!
//! Two switches decide whether requests are made: `online`, the
//! application's (`MPS3.online`), and `connected`, the client's own belief
//! that the bucket answers. The client learns `connected` from the edge
//! (the browser's `online` and `offline` events) and from its requests:
//! it becomes disconnected when every attempt over the last
//! `retry.disconnect_after_ms` failed without an answer, at least
//! `retry.disconnect_after_failures` of them (see [`Failing`]), and any
//! HTTP answer makes it connected again. A single reset or time-out is
//! not an outage: the request's retry policy tries it again. While
//! disconnected it behaves as offline (reads answer from what is stored,
//! writes queue, polls rest) and one cheap request probes the bucket,
//! backing off up to the poll interval or `PROBE_CAP_MS`; the first
//! answer, or the browser's `online` event, brings it back, and queued
//! writes and subscribers catch up by themselves.

use crate::prelude::*;

use alloc::rc::Rc;

use super::{Db, Event};
use crate::engine::deadline::until;
use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::io::Io;
use crate::engine::s3::GetOptions;
use crate::engine::time::EpochMillis;

/// The first probe's delay after a disconnection; each failed probe
/// doubles it.
pub const PROBE_FIRST_MS: u64 = 500;

/// The longest pause between probes (shorter when the poll interval is).
pub const PROBE_CAP_MS: u64 = 5_000;

/// Preflighted attempts (writes) that failed without an answer, each
/// after a read was answered: what decides that the browser blocks them
/// (see [`BLOCKED_AFTER_FAILURES`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BlockedRun {
    /// When the first of them was sent (the local clock).
    pub since: EpochMillis,
    /// How many failed.
    pub failures: u32,
    /// Answers to other requests since the last of them (for a run of
    /// preflighted failures: the bucket answered reads between them).
    pub others_answered: u32,
}

impl BlockedRun {
    /// The run with one more failure, of an attempt sent at `sent`.
    fn and(run: Option<BlockedRun>, sent: EpochMillis) -> BlockedRun {
        match run {
            Some(run) => BlockedRun {
                since: run.since.min(sent),
                failures: run.failures + 1,
                others_answered: 0,
            },
            None => BlockedRun {
                since: sent,
                failures: 1,
                others_answered: 0,
            },
        }
    }
}

/// Preflighted attempts (writes) that failed without an answer, each
/// after another request was answered (the bucket answered reads between
/// every two of them), after which the browser is taken to block them (a
/// CORS rule without the method or a header). A refused preflight fails
/// every retry of a write while the polls go on being answered; a flaky
/// network fails reads too, and in a blackout nothing is answered.
pub const BLOCKED_AFTER_FAILURES: u32 = 4;

/// ...within this long (polls, or the prober's GETs, come every second
/// or so, and a write retries for longer than this).
pub const BLOCKED_WITHIN_MS: EpochMillis = 30_000;

/// A misconfiguration found, and the kind of request that found it:
/// only an answer to that kind shows it fixed (a CORS rule that blocks
/// writes lets reads through all along).
#[derive(Clone, Debug)]
pub(crate) struct Problem {
    pub error: Error,
    pub preflighted: bool,
}

/// Attempts that failed without an answer since the last answer: when
/// the first of them was sent, how many, and when the last one failed.
#[derive(Default)]
pub(crate) struct Failing {
    pub since: Option<EpochMillis>,
    pub failures: u32,
    pub last_failed_at: EpochMillis,
}

/// What `MPS3.status` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The application's switch.
    pub online: bool,
    /// Whether the bucket answers, as the client last found.
    pub connected: bool,
    /// Writes accepted and not yet seen committed (see
    /// [`Db::pending_writes`]).
    pub pending_writes: usize,
    /// When (the local clock) the client last brought a manifest up to
    /// date with the bucket.
    pub last_sync_at: Option<EpochMillis>,
    /// The client was shut down: it makes no more requests.
    pub shutdown: bool,
    /// What is wrong with the bucket or its config, while it lasts: a
    /// bucket that does not exist, credentials refused, a CORS rule that
    /// blocks the client's writes. Not weather: nothing but a fix heals
    /// it, and the client stays connected.
    pub problem: Option<Error>,
}

impl Status {
    /// Whether a status handler has news in `self` after `sent`: anything
    /// a user would be shown changed. Each poll moves `last_sync_at`,
    /// which is only news the first time (the client synced at all); it
    /// can be read whenever it is wanted.
    fn news_after(&self, sent: Option<&Status>) -> bool {
        let Some(sent) = sent else { return true };
        self.online != sent.online
            || self.connected != sent.connected
            || self.pending_writes != sent.pending_writes
            || self.shutdown != sent.shutdown
            || self.last_sync_at.is_some() != sent.last_sync_at.is_some()
            || self.problem.as_ref().map(|e| e.kind) != sent.problem.as_ref().map(|e| e.kind)
    }
}

impl<I: Io> Db<I> {
    /// Whether requests are made: online and connected.
    pub fn reachable(&self) -> bool {
        self.online.get() && self.connected.get()
    }

    pub fn is_connected(&self) -> bool {
        self.connected.get()
    }

    /// `Offline` unless requests are made.
    pub(crate) fn check_reachable(&self) -> Result<()> {
        if !self.online.get() {
            Err(Error::new(ErrorKind::Offline, "the client is offline"))
        } else if !self.connected.get() {
            Err(Error::new(
                ErrorKind::Offline,
                "the bucket cannot be reached now",
            ))
        } else {
            Ok(())
        }
    }

    /// What the browser says (`navigator.onLine`, its `online` and
    /// `offline` events): offline, the bucket cannot be reached; online
    /// again, it is tried at once.
    pub fn browser_online(&self, online: bool) {
        if online {
            self.reached();
        } else {
            // What failed meanwhile failed for want of a network.
            self.blocked.set(None);
            self.unreachable("the browser is offline");
        }
    }

    /// A request got an HTTP answer: the bucket is reachable.
    pub(crate) fn reached(&self) {
        *self.failing.borrow_mut() = Failing::default();
        if !self.connected.replace(true) {
            self.io
                .log("connectivity", "the bucket can be reached again");
            self.note_status();
        }
    }

    /// A request failed without an answer (or the browser went offline):
    /// disconnected until a probe, a request or the browser says
    /// otherwise.
    pub(crate) fn unreachable(&self, why: &str) {
        if !self.connected.replace(false) {
            return;
        }
        self.disconnections.set(self.disconnections.get() + 1);
        self.io.log(
            "connectivity",
            &cat!("the bucket cannot be reached (", why, "); working offline"),
        );
        self.note_status();
        let probe = self.prober.borrow().clone();
        if let Some(probe) = probe {
            probe();
        }
    }

    /// How many times the client found the bucket unreachable.
    pub fn disconnections(&self) -> u32 {
        self.disconnections.get()
    }

    /// The client's status now.
    pub fn status(&self) -> Status {
        let shutdown = self.shutdown.get();
        Status {
            online: self.online.get() && !shutdown,
            connected: self.connected.get() && !shutdown,
            pending_writes: self.pending_writes(),
            last_sync_at: self.inner.borrow().reported.last_sync_at,
            shutdown,
            problem: self.problem.borrow().as_ref().map(|p| p.error.clone()),
        }
    }

    /// Queues a status event when the status changed since the last one.
    pub(crate) fn note_status(&self) {
        let status = self.status();
        let changed = {
            let mut inner = self.inner.borrow_mut();
            let changed = status.news_after(inner.reported.status_sent.as_ref());
            if changed {
                inner.reported.status_sent = Some(status.clone());
            }
            changed
        };
        if changed {
            self.push_events(vec![Event::Status(status)]);
        }
    }

    /// A manifest was brought up to date with the bucket.
    pub(crate) fn synced(&self) {
        let now = self.io.now();
        self.inner.borrow_mut().reported.last_sync_at = Some(now);
        self.note_status();
    }

    /// An attempt (`preflighted`: one the browser preflights, signed in
    /// its headers) was answered with `status`: the bucket is reachable,
    /// and a success shows a problem found by its kind of request fixed.
    pub(crate) fn answered(&self, preflighted: bool, status: u16) {
        self.reached();
        if preflighted {
            self.blocked.set(None);
        } else if let Some(mut run) = self.blocked.get() {
            run.others_answered += 1;
            self.blocked.set(Some(run));
        }
        let fixed = (200..300).contains(&status)
            && self
                .problem
                .borrow()
                .as_ref()
                .is_some_and(|p| p.preflighted == preflighted);
        if fixed {
            self.problem.replace(None);
            self.note_status();
        }
    }

    /// Records `error` as what is wrong, when it is a misconfiguration
    /// (see [`Status::problem`]), and says so once.
    pub(crate) fn note_problem(&self, error: &Error, preflighted: bool) {
        if error.by_rule
            || !matches!(
                error.kind,
                ErrorKind::NoSuchBucket | ErrorKind::AccessDenied | ErrorKind::CorsBlocked
            )
        {
            return;
        }
        let known = self.problem.borrow().as_ref().map(|p| p.error.kind);
        self.problem.replace(Some(Problem {
            error: error.clone(),
            preflighted,
        }));
        if known != Some(error.kind) {
            // (Not `to_string`: `Display` would bring core::fmt into the
            // .wasm, some 0.5 KB gzipped.)
            self.io
                .log("problem", &cat!(error.kind.code(), ": ", error.message));
            self.note_status();
        }
    }

    /// Judges an attempt sent at `sent` that failed with `error`. A
    /// network failure (no answer, or none in time) joins the run of
    /// them since the last answer; once that run is long enough (see
    /// [`Failing`]) the client is disconnected and the request ends
    /// as `Offline`, with no more retries. A preflighted one that fails
    /// [`BLOCKED_AFTER_FAILURES`] times in a row while other requests are
    /// answered is blocked by the browser: `CorsBlocked`. Until then, and
    /// for any other failure, the error is left to the retry policy.
    pub(crate) fn judge_failure(
        &self,
        error: Error,
        sent: EpochMillis,
        preflighted: bool,
        retry: bool,
    ) -> Error {
        if error.kind != ErrorKind::Network {
            return error;
        }
        // (A time-out is no refused preflight: that fails at once.)
        let timed_out = self.cfg.retry.timeout_ms > 0
            && self.io.now() - sent >= self.cfg.retry.timeout_ms as EpochMillis;
        if !preflighted {
            // Reads fail too: the network's trouble, not the rule's.
            self.blocked.set(None);
        } else if !timed_out {
            // A failure with no answer since the last one starts anew.
            let bracketed = self
                .blocked
                .get()
                .filter(|r| r.others_answered > 0 && sent - r.since < BLOCKED_WITHIN_MS);
            let run = BlockedRun::and(bracketed, sent);
            self.blocked.set(Some(run));
            if run.failures >= BLOCKED_AFTER_FAILURES {
                let blocked = Error::new(
                    ErrorKind::CorsBlocked,
                    "the browser blocked a write: the bucket's CORS rule must allow PUT, DELETE \
                     and every header (see the README's rule)",
                );
                self.note_problem(&blocked, true);
                return blocked;
            }
        }
        // Every attempt over the last `disconnect_after_ms` failed: a run
        // of failures at least that long and `disconnect_after_failures`
        // long, each a retry of the one before or a request sent within
        // that time of its failure (a write settling quietly between two
        // resets is no outage; attempts that each hang until their time
        // limit are, and so are retries however long their pauses).
        let policy = &self.cfg.retry;
        let now = self.io.now();
        let window = policy.disconnect_after_ms as EpochMillis;
        let down = {
            let mut run = self.failing.borrow_mut();
            if !retry && run.since.is_some() && sent - run.last_failed_at > window {
                *run = Failing::default();
            }
            let since = run.since.map_or(sent, |t| t.min(sent));
            run.since = Some(since);
            run.failures += 1;
            run.last_failed_at = now;
            now - since >= window && run.failures >= policy.disconnect_after_failures
        };
        if !down && self.connected.get() {
            return error;
        }
        self.unreachable(&error.message);
        Error::new(
            ErrorKind::Offline,
            cat!("the bucket cannot be reached now (", error.message, ")"),
        )
    }
}

impl<I: Io + 'static> Db<I> {
    /// Lets a disconnection start the prober (on a task, which needs the
    /// client's `Rc`).
    pub(crate) fn install_prober(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        *self.prober.borrow_mut() = Some(Rc::new(move || {
            if let Some(db) = weak.upgrade() {
                db.start_probing();
            }
        }));
    }

    /// Probes on a task of its own until connected (one prober at most).
    fn start_probing(self: &Rc<Self>) {
        let db = self.clone();
        if core::mem::replace(&mut self.inner.borrow_mut().tasks.probing, true) {
            return;
        }
        self.io.spawn(Box::pin(async move {
            db.probe_until_connected().await;
            db.inner.borrow_mut().tasks.probing = false;
        }));
    }

    async fn probe_until_connected(&self) {
        let cap = PROBE_CAP_MS.min(self.cfg.poll_frequency_ms.max(PROBE_FIRST_MS));
        let mut delay = PROBE_FIRST_MS;
        while !self.connected.get() && !self.shutdown.get() {
            self.io.sleep(delay).await;
            if self.connected.get() || !self.online.get() {
                // Connected by another request, or offline by the app's
                // switch: going online again probes anew.
                continue;
            }
            if self.probe().await {
                // (A read answered: what a run of blocked writes needs.)
                self.answered(false, 0);
            } else {
                // A read failed too: the network's trouble, not a rule's.
                self.blocked.set(None);
                delay = (delay * 2).min(cap);
            }
        }
    }

    /// One cheap request: a presigned GET of the default manifest's
    /// change marker, within the request time limit. Any HTTP answer
    /// (even 404 or 403) shows the bucket can be reached.
    async fn probe(&self) -> bool {
        let m = &self.cfg.default_manifest;
        let now = self.server_now();
        let Ok(req) = self
            .s3
            .borrow()
            .get_object(&m.bucket, &m.key, &GetOptions::default(), now)
        else {
            return false;
        };
        // A probe needs its answer in time even with no time limit set
        // (`timeoutMs: 0`).
        let limit = match self.cfg.retry.timeout_ms {
            0 => PROBE_CAP_MS,
            ms => ms,
        };
        let answer = until(self.io.send(req), self.io.sleep(limit)).await;
        matches!(answer, Some(Ok(_)))
    }
}
