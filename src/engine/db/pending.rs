//! A write accepted and not yet committed: its places in its manifests'
//! orders (`Turns`), what its commit holds (`Pending`), its queue key, and
//! the masks that show it to reads and subscribers at once (read your
//! writes), withdrawn if it fails for good.

use crate::prelude::*;

use super::queue::{queue_key, QueuedWrite};
use super::state::Mask;
use super::Db;
use crate::engine::io::Io;
use crate::engine::lock::{Guard, Ticket};
use crate::engine::object::Ref;

/// A write's places in its manifests' orders, one of each per manifest:
/// a ticket until its turn comes, then the turn.
pub(crate) struct Turns {
    pub(crate) tickets: Vec<Option<Ticket>>,
    pub(crate) turns: Vec<Option<Guard>>,
}

/// A queued write and what its commit holds: its place in each manifest's
/// order, and the lock that makes its committer the only one.
pub struct Pending<L> {
    pub(crate) write: QueuedWrite,
    pub(crate) write_id: u64,
    pub(crate) tickets: Vec<Option<Ticket>>,
    pub(crate) turns: Vec<Option<Guard>>,
    pub(crate) _lock: Option<L>,
    /// Whether the store holds it: only then may the edge acknowledge it
    /// before it is committed.
    pub(crate) durable: bool,
}

impl<L> Pending<L> {
    pub fn durable(&self) -> bool {
        self.durable
    }

    /// The key of the write in the queue table.
    pub fn key(&self) -> &str {
        &self.write.key
    }
}

impl<I: Io> Db<I> {
    /// A new queue key: the namespace, a sequence later than any this
    /// client gave out (and than the clock's milliseconds, so keys made
    /// after a reload sort after those made before), and this client's tag
    /// (tabs of one namespace never collide).
    pub(crate) fn next_queue_key(&self) -> String {
        let now = self.io.now().max(0) as u64;
        let mut inner = self.inner.borrow_mut();
        let seq = (inner.durable.last_seq + 1).max(now * 1000);
        inner.durable.last_seq = seq;
        queue_key(&self.cfg.namespace, seq, &inner.tabs.tag)
    }

    /// The masks of a queued write, made visible at once.
    pub(crate) fn mask_write(&self, w: &QueuedWrite, write_id: u64) {
        let mut after = Vec::new();
        for (_, v) in &w.checks {
            after.extend(v.clone());
        }
        for m in &w.manifests {
            let entry = w.attempt(m).filter(|_| w.is_done(&m.url()));
            {
                let mut s = self.state(m);
                for ((key, value), version) in w.batch.iter().zip(&w.versions) {
                    s.masks.push(Mask {
                        write_id,
                        url: key.url(),
                        value: value.clone(),
                        version: version.clone(),
                        entry: entry.cloned(),
                        after: after.clone(),
                    });
                }
            };
            self.notify_local(m);
        }
        self.note_status();
    }

    pub(crate) fn unmask_write(&self, write_id: u64) -> Vec<Ref> {
        let mut touched = Vec::new();
        {
            let mut inner = self.inner.borrow_mut();
            for (m, s) in &mut inner.manifests {
                let before = s.masks.len();
                s.masks.retain(|mask| mask.write_id != write_id);
                if s.masks.len() != before {
                    touched.push(m.clone());
                }
            }
        }
        for m in &touched {
            self.notify_local(m);
        }
        self.note_status();
        touched
    }

    /// Withdraws a write of this client that will never be in the log,
    /// and the writes whose checks name a version it gave: those fail
    /// theirs when their turn comes, and until then their values, counted
    /// on the withdrawn one, must not be read (a transaction run again
    /// would count that write twice).
    pub(crate) fn withdraw(&self, write_id: u64) {
        let mut gone = vec![write_id];
        let mut i = 0;
        while let Some(&id) = gone.get(i) {
            i += 1;
            let inner = self.inner.borrow();
            for (_, s) in &inner.manifests {
                for w in &s.masks {
                    let Some(v) = w.version.as_ref().filter(|_| w.write_id == id) else {
                        continue;
                    };
                    for (_, t) in &inner.manifests {
                        for d in &t.masks {
                            if d.after.contains(v) && !gone.contains(&d.write_id) {
                                gone.push(d.write_id);
                            }
                        }
                    }
                }
            }
        }
        for id in gone {
            self.unmask_write(id);
        }
    }

    pub(super) fn new_write_id(&self) -> u64 {
        let mut inner = self.inner.borrow_mut();
        let id = inner.next_id;
        inner.next_id += 1;
        id
    }
}
