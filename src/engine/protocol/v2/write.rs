//! Writing one queued write's entry into the next free slot of a v2 log
//! (docs/protocol-v2.md, "Writing"): each round reads the log to its head
//! first; a write its writer's last id there covers has landed (a lost
//! answer, a crash, another tab's try). Else it creates slot head+1 with
//! `If-None-Match: *`: a 412 (someone won it) or a 409 (a racing create)
//! reads the slot and tries the next. The writes queued behind it that
//! can share its entry go in it too.

use crate::prelude::*;

use super::format::{slot_key, Entry, WRITERS_KEPT};
use super::{group, EntryChange, V2State};
use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::object::Ref;
use crate::engine::protocol::{Client, Put};
use crate::engine::s3::PutMode;

/// The queued write an entry carries, as the client keeps it: its place
/// in the order, its checks, and its tries (stored with it, so that a
/// reload knows which slot it tried).
pub(crate) trait Carried {
    /// Its queue key: its place in the manifest's order of writes.
    fn key(&self) -> &str;
    /// The slot it last tried in `m`, if any.
    fn attempted(&self, m: &Ref) -> Option<u64>;
    /// Its conditions: each url still at the version named (`None`:
    /// absent) where the entry lands.
    fn checks(&self) -> &[(String, Option<String>)];
    /// Its trace id, for the requests' log.
    fn trace(&self) -> &str;
    /// It is about to try slot `n` of `m`: noted, and stored when the
    /// write is.
    async fn trying(&mut self, m: &Ref, n: u64);
    /// It landed in slot `n` of `m`.
    fn landed(&mut self, m: &Ref, n: u64);
}

/// Writes `w`'s entry (`own`: what it sets and deletes; `writer` and
/// `id`: how the log names it) into the next free slot of `m`. The caller
/// holds the manifest's lock and the write's turn.
pub(crate) async fn write_entry<C: Client, W: Carried>(
    c: &C,
    m: &Ref,
    mut w: W,
    writer: String,
    id: String,
    own: EntryChange,
) -> Result<()> {
    let mut entry = Entry {
        writer,
        write_id: id.clone(),
        at: 0,
        checkpoint: 0,
        set: Vec::new(),
        delete: Vec::new(),
        traces: Vec::new(),
    };
    // A write never sent, by a writer that read the head recently, goes
    // straight to the slot after it: a warm put is one PUT (answered 412
    // if someone wrote meanwhile).
    let mut read = w.attempted(m).is_some() || !c.read_recently(m);
    loop {
        // Whether the state checked below was just read: a check that
        // fails against one read earlier proves nothing yet.
        let fresh = read;
        if read {
            // Boxed: the read's state machine is not carried in this one.
            Box::pin(super::read::sync(c, m, false)).await?;
        }
        read = true;
        let attempted = w.attempted(m);
        let (n, mut landed, forgotten) = {
            let s = c.v2_state(m);
            let log = &s.log;
            entry.checkpoint = s.checkpoint;
            let (landed, forgotten) = match log.has_write(&entry.writer, &id) {
                Some(true) => (log.writers.get(entry.writer.as_str()).map(|w| w.1), false),
                // A writer the state forgot (more writers since than it
                // keeps) may have landed in the slot it last tried, at or
                // below the head: that slot tells.
                None => (
                    None,
                    log.writers.len() >= WRITERS_KEPT && attempted.is_some_and(|a| a <= log.seq),
                ),
                Some(false) => (None, false),
            };
            (log.seq + 1, landed, forgotten)
        };
        if forgotten {
            landed = landed_in(c, m, attempted.unwrap_or_default(), &entry.writer, &id).await?;
        }
        if let Some(slot) = landed {
            w.landed(m, slot);
            return Ok(());
        }
        // Checked against the state just before slot n, the one the entry
        // will land in or lose (then checked again).
        if let Some(url) = failed_check(&c.v2_state(m), w.checks()) {
            if !fresh {
                continue;
            }
            return Err(Error::new(
                ErrorKind::Conflict,
                cat!(url, " is not at the version the write's condition names"),
            ));
        }
        entry.at = c.server_now();
        // The writes queued behind this one go in the same entry: one slot
        // for all of them (an offline queue flushes in a few PUTs; a writer
        // that lost a slot catches up).
        let mut change = own.clone();
        let last = group(&c.waiting(m), w.key(), &entry.writer, &mut change);
        entry.write_id = last.unwrap_or_else(|| id.clone());
        EntryChange {
            set: entry.set,
            delete: entry.delete,
            traces: entry.traces,
        } = change;
        let key = slot_key(&m.key, n);
        w.trying(m, n).await;
        // Sent even if the client goes offline meanwhile: its answer
        // settles whether the write landed.
        let put = Put {
            mode: PutMode::Create,
            trace: Some(w.trace()),
            finish_offline: true,
            answered_within: None,
        };
        match c
            .put(&m.bucket, key, entry.to_text().into_bytes(), put)
            .await
        {
            Ok(_) => {
                // (Counted: entries that carried writes behind them.)
                #[cfg(test)]
                if entry.write_id != id {
                    c.count_grouped();
                }
                c.apply_v2(m, n, &entry);
                w.landed(m, n);
                c.entry_written(m).await;
                return Ok(());
            }
            // Someone won the slot (412), or a racing create (409): read
            // it, and try the next. No answer: read the log (which tells
            // whether it landed), then try again.
            Err(e) if matches!(e.kind, ErrorKind::PreconditionFailed | ErrorKind::Network) => {
                continue
            }
            Err(e) => return Err(e),
        }
    }
}

/// The first key of `checks` not at the version it names in the state
/// read (`None`: every check holds).
fn failed_check<'a>(s: &V2State, checks: &'a [(String, Option<String>)]) -> Option<&'a str> {
    checks
        .iter()
        .find(|(url, want)| s.log.keys.get(url.as_str()).map(|k| &k.stored.uuid) != want.as_ref())
        .map(|(url, _)| url.as_str())
}

/// Whether the write `id` of `writer` is in `slot`, read from the slot
/// itself: the evidence when the log's state no longer remembers the
/// writer. A slot collected since is no evidence either way, and a guess
/// could apply the write twice or lose it: `OutcomeUnknown`.
async fn landed_in<C: Client>(
    c: &C,
    m: &Ref,
    slot: u64,
    writer: &str,
    id: &str,
) -> Result<Option<u64>> {
    match c.get_body(m, slot_key(&m.key, slot)).await? {
        Some(body) => {
            let found = Entry::parse_or_nothing(&body);
            Ok((found.writer == writer && id <= found.write_id.as_str()).then_some(slot))
        }
        None => Err(Error::new(
            ErrorKind::OutcomeUnknown,
            "whether the write landed cannot be told: the log forgot its writer and the slot it tried",
        )),
    }
}
