//! Reading a v2 log up to its head (docs/protocol-v2.md, "Reading"): an
//! idle poll lists the slots after the head (none: one answer); a client
//! whose head is old, or whose read found a hole, reads the newest
//! checkpoint and the tail from the listings. Through the client's
//! requests and state (`Client`); the client stores what it read.

use crate::prelude::*;

use super::format::{
    checkpoint_key, parse_checkpoint, parse_slot, prefix, slot_key, Entry, LogState,
};
use crate::engine::deadline::join_all;
use crate::engine::error::{Error, Result};
use crate::engine::object::Ref;
use crate::engine::protocol::{unsupported, Client, Fetch, Listing, V2_GUARD};
use crate::engine::s3::ListEntry;

/// The newest checkpoint listed in `cps` (0 if none), and whether there is
/// a checkpoint 0 (an upgraded v1 manifest's state).
fn newest_checkpoint(m: &Ref, cps: &[ListEntry]) -> (u64, bool) {
    let (mut newest, mut zero) = (0, false);
    for e in cps {
        if let Some(c) = parse_checkpoint(&m.key, &e.key) {
            newest = newest.max(c);
            zero |= c == 0;
        }
    }
    (newest, zero)
}

/// Every object under `m`'s v2 prefix + `under`, after `start_after`.
fn list<'a, C: Client>(
    c: &'a C,
    m: &'a Ref,
    under: &str,
    start_after: Option<String>,
) -> Listing<'a> {
    c.list(&m.bucket, cat!(prefix(&m.key), under), start_after)
}

/// Brings what the client knows of the v2 manifest `m` up to its head,
/// and has the client keep it; `poll`: a poll's read, which checks the
/// guard now and then. The caller holds the manifest's lock.
pub(crate) async fn sync<C: Client>(c: &C, m: &Ref, poll: bool) -> Result<()> {
    let fresh = c.read_recently(m);
    let check_guard = c.v2_state(m).count_poll(poll);
    // The slots after the head: one listing shows them (none,
    // when idle: an answer, not a 404 that the browser's console
    // shows as an error line each poll; docs/protocol-v2.md
    // weighs the cost), then their bodies.
    let mut cold = !fresh;
    if fresh {
        let from = c.v2_state(m).log.seq;
        let listed_at = c.now();
        let listed = list(c, m, "log/", Some(slot_key(&m.key, from))).await?;
        // Each in turn (an idle poll lists none; a busy log is read
        // at once by the cold path, past half the grace).
        let mut n = from;
        for e in &listed {
            // Contiguous from the head: creates are.
            if parse_slot(&m.key, &e.key) != Some(n + 1) {
                break;
            }
            let Some(body) = c.get_body(m, e.key.clone()).await? else {
                break;
            };
            n += 1;
            c.apply_v2(m, n, &Entry::parse_or_nothing(&body));
        }
        if n == from + listed.len() as u64 {
            c.v2_state(m).read_at = Some(listed_at);
        } else {
            // A slot listed and gone (collected while this read
            // stalled) or a hole: what this client holds is behind
            // a checkpoint. Read from it, never write after a head
            // that is gone.
            c.v2_state(m).read_at = None;
            cold = true;
        }
    }
    if cold {
        load(c, m).await?;
    }
    // A v1 client (mps3 0.0.81) writing here rewrites the guard: its
    // writes are in entries v2 never reads. Said, not repaired.
    if check_guard {
        if let Some(body) = c.get_body(m, m.key.clone()).await? {
            if body != V2_GUARD {
                let message = cat!(
                    "a protocol v1 client (mps3) wrote into the v2 manifest ",
                    m.url(),
                    ": its writes are not in the v2 log"
                );
                c.log("protocol", &message);
                return Err(unsupported(message));
            }
        }
    }
    c.read_kept(m).await;
    Ok(())
}

/// Reads the log from its listing: the newest checkpoint when it is
/// ahead of what this client holds, and the entries after it, the
/// checkpoint and the entries fetched at once. Three round trips for
/// a client without state (checkpoints, log, bodies; the first beside
/// the guard's GET), two for one with (both listings at once),
/// whatever the history's length.
async fn load<C: Client>(c: &C, m: &Ref) -> Result<()> {
    for _ in 0..5 {
        let (from, listed) = {
            let mut s = c.v2_state(m);
            (s.log.seq, s.checkpoints_listed.take())
        };
        // The guard's listing is trusted only while recent: since, the
        // log may have been checkpointed at its head and every slot
        // collected, which no hole in the slots' listing would show.
        let listed = listed
            .filter(|l| c.listed_recently(l.at))
            .map(|l| l.entries);
        // A client with no state lists the checkpoints first (if the
        // guard's read did not), then the log after the newest: the
        // listing is of the tail only, however long the history. One
        // that has a state lists both at once, the log after it.
        let listed = match listed {
            None if from == 0 => Some(list(c, m, "cp/", None).await?),
            listed => listed,
        };
        let listed_at = c.now();
        let after = match &listed {
            Some(cps) => from.max(newest_checkpoint(m, cps).0),
            None => from,
        };
        let mut work = Vec::new();
        if listed.is_none() {
            work.push(list(c, m, "cp/", None));
        }
        work.push(list(c, m, "log/", Some(slot_key(&m.key, after))));
        let mut lists = join_all(work).await;
        let slots = lists.pop().expect("the log's listing")?;
        let cps = match listed {
            Some(cps) => cps,
            None => lists.pop().expect("the checkpoints' listing")?,
        };
        let (newest, upgraded) = newest_checkpoint(m, &cps);
        let load = newest > from || (newest == 0 && from == 0 && upgraded);
        let start = from.max(newest);
        // Slots above the newest checkpoint are never collected: a hole
        // means the listings crossed a collection; list again.
        let mut tail: Vec<u64> = Vec::new();
        let mut hole = false;
        for e in &slots {
            if let Some(n) = parse_slot(&m.key, &e.key).filter(|n| *n > start) {
                hole |= n != start + 1 + tail.len() as u64;
                tail.push(n);
            }
        }
        if hole {
            continue;
        }
        let mut work: Vec<Fetch<'_>> = Vec::new();
        if load {
            work.push(c.get_body(m, checkpoint_key(&m.key, newest)));
        }
        for n in &tail {
            work.push(c.get_body(m, slot_key(&m.key, *n)));
        }
        let mut bodies = join_all(work).await.into_iter();
        let checkpoint = if load {
            match bodies.next().expect("the checkpoint's")? {
                Some(body) => Some(LogState::from_checkpoint(&body)?),
                None => continue,
            }
        } else {
            None
        };
        c.restart_v2(m, checkpoint, newest, from);
        let mut complete = true;
        for n in tail {
            match bodies.next().expect("one per slot")? {
                Some(body) => c.apply_v2(m, n, &Entry::parse_or_nothing(&body)),
                None => {
                    complete = false;
                    break;
                }
            }
        }
        if complete {
            // The listing found the slot after the last it showed
            // empty.
            c.v2_state(m).read_at = Some(listed_at);
            return Ok(());
        }
    }
    Err(Error::bad_response(
        "the v2 log kept changing under its listing",
    ))
}
