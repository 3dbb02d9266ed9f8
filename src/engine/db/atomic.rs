//! Conditional writes and transactions (the original mps3's
//! "If-not-changed" issue): a write whose checks name the version each key
//! must be at, held against the state just before the log slot its entry
//! lands in; and a transaction, reads whose versions become the checks of
//! its writes, run again when they fail. Protocol v2 only: its log is
//! ordered by the bucket, so "the state before the slot" is one state every
//! client agrees on; v1's order rests on clocks.

use crate::prelude::*;

use alloc::rc::Rc;
use core::cell::RefCell;
use core::future::Future;

use super::{Acked, Batch, Change, Committer, Db, Found, JsonText, Select};
use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::io::Io;
use crate::engine::object::Ref;

/// How many times a transaction runs before it gives up with `Conflict`.
/// Each run that conflicts lost to a write that landed, so contenders
/// make progress; what this bounds is one client's bad luck (4 browser
/// clients incrementing one key on a loaded machine saw 10 runs fail).
pub const TX_ATTEMPTS: u32 = 20;

/// The longest pause before a transaction runs again (doubling from
/// 20 ms, with full jitter): contenders spread out instead of colliding
/// again at once.
const TX_PAUSE_CAP_MS: u64 = 1_280;

/// How an atomic write ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// In the log, with the version it gave the keys it set (`None`: it
    /// only deleted).
    Committed(Option<String>),
    /// A check failed; nothing was written.
    CheckFailed,
}

/// One run of a transaction: what it read (each key's version at its
/// first read) and what it writes.
pub struct Tx {
    manifest: Option<Ref>,
    reads: RefCell<Vec<(Ref, Option<String>)>>,
    writes: RefCell<Batch>,
}

impl<I: Io + 'static> Db<I> {
    /// Writes `batch` into `manifest` (the default when `None`) if every
    /// key of `checks` is at the version named (`None`: absent) in the
    /// state just before the slot the entry lands in. Answers once the
    /// entry is in the bucket, with the version the write gave its keys, or
    /// `CheckFailed`: then nothing was written, and the
    /// write's values are withdrawn from this client's reads. Queued
    /// offline, it is checked when it reaches the bucket.
    pub async fn atomic(
        self: &Rc<Self>,
        checks: Vec<(Ref, Option<String>)>,
        batch: Batch,
        manifest: Option<&Ref>,
    ) -> Result<Outcome> {
        let m = manifest.unwrap_or(&self.cfg.default_manifest).clone();
        Self::check_manifest(&m)?;
        // Known to be v1 (or found so now): refused before anything is
        // accepted. Otherwise the commit checks again (a write made
        // offline to a manifest never read).
        let protocol = if self.reachable() {
            self.ready().await;
            self.protocol(&m, true).await?
        } else {
            self.state(&m).log.protocol()
        };
        Self::check_conditions(&m, protocol)?;
        if batch.is_empty() {
            // Checks alone: held against the state read now, nothing
            // written.
            let mut keys = Vec::new();
            for (k, _) in &checks {
                keys.push(k.clone());
            }
            let found = self.read(Select::Keys(&keys), Some(&m)).await?;
            let held = found
                .iter()
                .zip(&checks)
                .all(|(f, (_, want))| f.version == *want);
            return Ok(if held {
                Outcome::Committed(None)
            } else {
                Outcome::CheckFailed
            });
        }
        let change = Change::Atomic(batch, checks);
        // Its answer needs the bucket: while it can be reached the write
        // is retried through transient failures; once it cannot, the
        // call rejects rather than wait.
        match self
            .write_as(change, &[m], Committer::CallerNow, None)
            .await
        {
            Ok(Acked::Committed(version)) => Ok(Outcome::Committed(version)),
            Ok(Acked::Queued) => unreachable!("a conditional write is never only queued"),
            Err(e) if e.kind == ErrorKind::Conflict => {
                #[cfg(test)]
                self.failed_checks.set(self.failed_checks.get() + 1);
                Ok(Outcome::CheckFailed)
            }
            Err(e) => Err(e),
        }
    }

    /// Runs `attempt` with a fresh [`Tx`] until its writes commit: their
    /// checks are the versions its reads saw. A failed check runs it again
    /// (after a short random pause), [`TX_ATTEMPTS`] times at most, then
    /// `Conflict`. `attempt`'s own failure ends it as it is (the inner
    /// `Err`), nothing written.
    pub async fn transaction<T, E, F, Fut>(
        self: &Rc<Self>,
        manifest: Option<Ref>,
        mut attempt: F,
    ) -> Result<core::result::Result<T, E>>
    where
        F: FnMut(Rc<Tx>) -> Fut,
        Fut: Future<Output = core::result::Result<T, E>>,
    {
        let mut pause_cap = 20;
        for _ in 0..TX_ATTEMPTS {
            let tx = Rc::new(Tx {
                manifest: manifest.clone(),
                reads: RefCell::new(Vec::new()),
                writes: RefCell::new(Vec::new()),
            });
            let value = match attempt(tx.clone()).await {
                Ok(value) => value,
                failed => return Ok(failed),
            };
            let writes = tx.writes.take();
            if writes.is_empty() {
                return Ok(Ok(value));
            }
            let checks = tx.reads.take();
            if self.atomic(checks, writes, manifest.as_ref()).await? != Outcome::CheckFailed {
                return Ok(Ok(value));
            }
            let pause = self.inner.borrow_mut().rng.range(0, pause_cap);
            self.io.sleep(pause).await;
            pause_cap = (pause_cap * 2).min(TX_PAUSE_CAP_MS);
        }
        Err(Error::new(
            ErrorKind::Conflict,
            cat!("the transaction conflicted ", TX_ATTEMPTS, " times"),
        ))
    }

    /// A transaction's read: what it wrote itself, else the key's value,
    /// whose version its commit checks.
    pub async fn tx_get(&self, tx: &Tx, key: &Ref) -> Result<Option<JsonText>> {
        if let Some((_, v)) = tx.writes.borrow().iter().rev().find(|(k, _)| k == key) {
            return Ok(v.clone());
        }
        let Found { value, version, .. } = self
            .read(
                Select::Keys(core::slice::from_ref(key)),
                tx.manifest.as_ref(),
            )
            .await?
            .pop()
            .expect("one key, one entry");
        let mut reads = tx.reads.borrow_mut();
        // The first read of a key is what the transaction's logic used.
        if !reads.iter().any(|(k, _)| k == key) {
            reads.push((key.clone(), version));
        }
        Ok(value)
    }

    /// A transaction's write (`None` deletes), made when it commits.
    pub fn tx_set(&self, tx: &Tx, key: Ref, value: Option<JsonText>) -> Result<()> {
        Self::check_ref(&key)?;
        let mut writes = tx.writes.borrow_mut();
        writes.retain(|(k, _)| k != &key);
        writes.push((key, value));
        Ok(())
    }
}
