//! What the engine runs on its own: the restore at start and the commit of
//! what it found queued, commits of writes acknowledged before they
//! reached the bucket, takeovers of writes other tabs left behind, and the
//! poller. The edge only spawns the tasks (`Io::spawn`); when and in what
//! order they run is decided here, so the simulation runs this very code.

use crate::prelude::*;

use alloc::rc::Rc;

use super::write::Committed;
use super::{Change, Db, Event, Pending, Watch};
use crate::engine::error::Result;
use crate::engine::io::{Io, LockWait};
use crate::engine::object::Ref;

/// How often a client looks for writes that other tabs queued and left
/// behind when they closed or crashed (the fallback to waiting on their
/// locks).
pub const ORPHAN_CHECK_MS: u64 = 10_000;

/// How long a granted takeover waits before adopting, so that all the
/// locks a dead tab released have been let go by this client's waiters.
const TAKEOVER_SETTLE_MS: u64 = 50;

/// When a write's promise resolves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ack {
    /// Once the write is durable in the store; it commits on in the
    /// background. Without a store, the same as `Remote`.
    Local,
    /// Once its entry is in the bucket.
    Remote,
}

/// How a write was acknowledged: what `put` and its kin resolve with, so
/// that the caller can tell a write in the bucket from one queued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acked {
    /// Its entry is in the bucket; the version it gave the keys it set
    /// (`None`: it set none).
    Committed(Option<String>),
    /// Durable in the store, committed in the background: asked for
    /// (`Ack::Local`), or the client was offline or disconnected.
    Queued,
}

/// Who waits for a commit, which decides what a transient failure that
/// outlasts the retries does to the write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Committer {
    /// The caller's promise: the write is dropped and the call rejects (as
    /// if never made), unless an entry PUT of it may have been sent.
    Caller,
    /// The caller's promise, while the bucket can be reached: once it
    /// cannot, a durable write is answered and commits on in the
    /// background, as one made offline does (the default acknowledgement).
    CallerWhileReachable,
    /// The caller's promise, while the bucket can be reached: once it
    /// cannot, a write no entry PUT of which may have been sent is
    /// dropped and the call rejects `Offline`; one that may have landed
    /// is settled in the background and the call rejects
    /// `OutcomeUnknown`. A conditional write's answer (`{ ok }`) needs
    /// the bucket, and the caller must not wait for it forever.
    CallerNow,
    /// Nobody: the write was acknowledged already, so it is never dropped
    /// for a transient failure, only tried again later.
    Background,
}

impl<I: Io + 'static> Db<I> {
    /// Starts the client's own work: load the durable state, commit what
    /// was left queued, then watch for writes other tabs leave behind.
    /// Calls wait for the restore (`ready`), not for this task.
    pub fn start(self: &Rc<Self>) {
        self.install_prober();
        let db = self.clone();
        self.io.spawn(Box::pin(async move {
            for pending in db.restore().await {
                db.commit_in_background(pending);
            }
            db.watch_foreign();
            // (Before the takeovers' first pause: it ends at once for a
            // client that encrypts nothing, and spawning it would move
            // every such client's schedule.)
            db.warm_keys().await;
            // Without shared locks a lock says nothing about its holder:
            // no takeover at all.
            while db.storing() && db.io.locks_shared() && !db.is_shutdown() {
                db.io.sleep(ORPHAN_CHECK_MS).await;
                db.adopt_and_commit().await;
            }
        }));
    }

    /// A write of any kind, acknowledged as `ack` asks. `None`: `Remote`
    /// while the bucket can be reached, `Local` once it cannot (even when
    /// that is found out during this write's commit). A local
    /// acknowledgement needs the store: a write it does not hold is
    /// committed before the call resolves.
    ///
    /// `trace` (else one made for it) follows the write into its entry and
    /// the log events of its requests and of every reader applying it.
    pub fn write<'a>(
        self: &'a Rc<Self>,
        change: Change,
        manifests: &'a [Ref],
        ack: Option<Ack>,
        trace: Option<String>,
    ) -> impl core::future::Future<Output = Result<Acked>> + 'a {
        let committer = match ack {
            None => Committer::CallerWhileReachable,
            Some(Ack::Remote) => Committer::Caller,
            Some(Ack::Local) => Committer::Background,
        };
        self.write_as(change, manifests, committer, trace)
    }

    /// [`Db::write`], the caller waiting as `committer` says
    /// (`Background`: only until the write is durable).
    pub(super) async fn write_as(
        self: &Rc<Self>,
        change: Change,
        manifests: &[Ref],
        committer: Committer,
        trace: Option<String>,
    ) -> Result<Acked> {
        if committer == Committer::CallerNow {
            // Refused before it is queued, masked or told to other tabs.
            self.check_reachable()?;
        }
        let pending = self.accept(change, manifests, trace).await?;
        let local = committer == Committer::Background
            || (committer == Committer::CallerWhileReachable && !self.reachable());
        if local && pending.durable() {
            self.commit_in_background(pending);
            return Ok(Acked::Queued);
        }
        let committer = match committer {
            Committer::Background => Committer::Caller,
            c => c,
        };
        match self.commit(pending, committer).await? {
            Committed::Done(version) => Ok(Acked::Committed(version)),
            Committed::HandedBack(unfinished, error) => {
                self.commit_in_background(*unfinished);
                match error {
                    Some(error) => Err(error),
                    None => Ok(Acked::Queued),
                }
            }
        }
    }

    /// Commits an accepted write on its own task.
    fn commit_in_background(self: &Rc<Self>, pending: Pending<I::Lock>) {
        let db = self.clone();
        self.io.spawn(Box::pin(async move {
            let _ = db.commit(pending, Committer::Background).await;
        }));
    }

    /// Takes over the writes other tabs no longer hold and commits them,
    /// in the order they were queued.
    async fn adopt_and_commit(self: &Rc<Self>) {
        for pending in self.adopt_orphans().await {
            self.commit_in_background(pending);
        }
    }

    /// Waits on the lock of each write another tab queued: granted, its
    /// tab finished it or died, and this client takes over at once. The
    /// lock is let go and every orphan taken over by one
    /// `adopt_and_commit`, in key order: a dead tab releases all its
    /// locks at once, and taking each over as its own lock came would
    /// commit its writes in whatever order the locks were granted.
    fn watch_foreign(self: &Rc<Self>) {
        if !self.io.locks_shared() {
            return;
        }
        for (key, name) in self.foreign_writes() {
            {
                let mut inner = self.inner.borrow_mut();
                if inner.tabs.watching.contains(&key) {
                    continue;
                }
                inner.tabs.watching.push(key.clone());
            }
            let db = self.clone();
            self.io.spawn(Box::pin(async move {
                if let Some(lock) = db.io.lock(&name, LockWait::Wait).await {
                    drop(lock);
                    // Let the dead tab's other locks reach our other
                    // waiters and be let go too.
                    db.io.sleep(TAKEOVER_SETTLE_MS).await;
                    db.adopt_and_commit().await;
                }
                db.inner.borrow_mut().tabs.watching.retain(|k| k != &key);
            }));
        }
    }

    /// A message from another tab of this namespace (what the edge's
    /// channel received): applied, then any write it announced watched.
    pub async fn receive(self: &Rc<Self>, text: &str) {
        self.on_message(text).await;
        self.watch_foreign();
    }

    /// Registers a subscriber of a key or a range through `manifest` and
    /// returns its id for [`Db::unsubscribe`]. Its first event, the current
    /// value (every key in the range), comes from a refresh started now;
    /// later ones from the poller, started with the first subscription.
    pub fn subscribe(self: &Rc<Self>, watch: &Watch, manifest: Option<&Ref>) -> Result<u64> {
        let id = self.register(watch, manifest)?;
        let db = self.clone();
        let manifest = manifest.cloned();
        self.io.spawn(Box::pin(async move {
            if let Err(error) = db.refresh(manifest.as_ref()).await {
                db.push_events(vec![Event::Error { sub: id, error }]);
            }
        }));
        let started = core::mem::replace(&mut self.inner.borrow_mut().tasks.polling, true);
        if !started {
            let db = self.clone();
            self.io
                .spawn(Box::pin(async move { db.run_poller().await }));
        }
        Ok(id)
    }
}
