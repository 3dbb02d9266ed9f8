//! Writing one queued write's entry into a v1 manifest (docs/protocol.md):
//! a claim on the change marker, a listing (unless the claim chained on a
//! settled marker), then the entry, timed by the server's clock as the
//! listing bounds it. A write is acknowledged only once its entry is known
//! to be valid: readers accept an entry whose `LastModified` is within the
//! window of its time.

use crate::prelude::*;

use alloc::rc::Rc;

use super::read::{
    list_and_resolve, read_marker, settle, CLAIM_TO_LISTING_MS, SURELY_UNCOLLECTED_MS,
};
use super::{
    claim_body, files_of, writer_tag, Body, Claim, EntryBody, EntryKey, Files, KnownEntry,
    MarkerSeen, LAG_WINDOW_MS, LAST_MODIFIED_PRECISION_MS,
};
use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::json::JsonValue as Value;
use crate::engine::object::Ref;
use crate::engine::protocol::{Client, Freshness, Put};
use crate::engine::s3::{ObjectMeta, PutMode};
use crate::engine::time::EpochMillis;

/// How many times a write is committed again after landing too late.
const MAX_ENTRY_REWRITES: u32 = 5;

/// The queued write an entry carries, as the client keeps it: its tries
/// are stored with it, so that whoever resumes it (after a reload, or
/// another tab) settles whether a try landed before writing again.
pub(crate) trait Carried {
    /// Each url it sets (to the version named) or deletes (`None`).
    fn changes(&self) -> &[(String, Option<String>)];
    /// Its trace id, for the requests' log.
    fn trace(&self) -> &str;
    /// The entry it last tried in `m` (its object and time), if any.
    fn attempted(&self, m: &Ref) -> Option<(String, EpochMillis)>;
    /// Its try in `m` never landed and never will: forgotten, so a later
    /// try does not ask again.
    async fn forget(&mut self, m: &Ref);
    /// It is about to PUT entry `object` (time `ts`) in `m`: noted and
    /// stored first. An error when the PUT cannot leave now (the client is
    /// offline or shut down): nothing is noted then.
    async fn trying(&mut self, m: &Ref, object: &str, ts: EpochMillis) -> Result<()>;
    /// It is in `m` as entry `object` (time `ts`).
    fn landed(&mut self, m: &Ref, object: &str, ts: EpochMillis);
}

/// What became of an entry PUT made earlier whose answer is not known.
enum Attempt {
    /// Readers never accept it: the write is made again.
    Lost,
    /// Readers accept it; its `LastModified` when it was listed.
    Landed(Option<EpochMillis>),
}

/// A claim written on the change marker ([`claim`]).
struct Claimed {
    /// The marker's new ETag.
    etag: Option<String>,
    /// Whether it was written under `If-Match` on the marker read before.
    chained: bool,
    /// The answer's `Date`.
    date: Option<EpochMillis>,
}

/// Entry then marker, for one manifest. The caller holds its lock.
///
/// The entry's time is a lower bound of the server's clock when the
/// listing started (less the precision of `LastModified`), and later than
/// every entry we know. Why: a valid entry older than our window,
/// `ts - LAG_WINDOW_MS`, landed before its time plus the window, so before
/// our listing began, so the listing saw it and `files` holds it. See
/// docs/protocol.md for the bounds.
pub(crate) async fn write_entry<C: Client, W: Carried>(c: &C, m: &Ref, mut w: W) -> Result<()> {
    // An entry PUT made before (by us before a failure, or by a client
    // that crashed) may have landed, or may still land: settle that
    // before writing another, or the write would apply twice.
    if let Some((object, ts)) = w.attempted(m) {
        if let Attempt::Landed(landed) = settle_attempt(c, m, &object, ts, w.changes()).await? {
            w.landed(m, &object, ts);
            entry_landed(c, m, &object, ts, landed, None).await;
            return Ok(());
        }
        // It never will: forget it, so a later try does not ask again
        // (by then autoclean could make the answer uncertain).
        w.forget(m).await;
    }
    let mut rewrites = 0;
    let mut waits = 0;
    loop {
        // Is the log settled at the marker as it is now? Then our claim,
        // chained on it, leaves nothing unknown to us: no listing.
        let marker = read_marker(c, m).await?;
        let resolved = c.files(m).is_some();
        let (settled_here, legacy, session, n) = {
            let mut s = c.v1_state(m);
            let here = resolved
                && marker.is_some()
                && s.settled.as_deref() == marker.as_ref().map(|mk| mk.etag.as_str());
            // Until our entry is in, nothing is settled.
            s.settled = None;
            let n = s.writes;
            s.writes += 1;
            (here, s.legacy_seen, s.session.clone(), n)
        };
        let tag = writer_tag(&session, n);
        let claim_sent = c.now();
        let prev = marker.as_ref().filter(|_| !legacy);
        let Claimed {
            etag: claim_etag,
            chained,
            date: claim_date,
        } = claim(c, m, &tag, prev).await?;
        let claim_bound = c.clock_bound(claim_sent);
        let skip = c.minimize_list_calls() && chained && settled_here;
        let (ts, settles) = if skip {
            (claim_bound - LAST_MODIFIED_PRECISION_MS, true)
        } else {
            let list_started = c.now();
            let list_bound = list_and_resolve(c, m).await?;
            // By time only: what we were settled at was cleared for this
            // write, so no chain starts from it.
            settle(c, m, marker.as_ref(), None, list_bound);
            let settled_prev = {
                let s = c.v1_state(m);
                s.settled.is_some()
                    && s.settled.as_deref() == marker.as_ref().map(|mk| mk.etag.as_str())
            };
            // Bounded with every answer so far, the listing's included;
            // and at most a claim's allowance after the claim.
            let listed = c.clock_bound(list_started);
            let ts = listed.min(claim_bound + CLAIM_TO_LISTING_MS) - LAST_MODIFIED_PRECISION_MS;
            (ts, chained && (settled_here || settled_prev))
        };
        {
            let mut s = c.v1_state(m);
            s.settled = None;
            s.marker = claim_etag.clone().map(|etag| MarkerSeen {
                etag,
                written: claim_date,
                claim: Some(Claim {
                    tag: tag.clone(),
                    prev: None,
                }),
            });
            s.listed_marker = s.marker.as_ref().map(|mk| mk.etag.clone());
        }
        let files = c.files(m).clone().unwrap_or_default();
        let newest = c.v1_state(m).newest_ts;
        if let Some(newest) = newest.filter(|&n| n >= ts) {
            // An entry we know is not older than our time (its writer's
            // clock is ahead of our bound). Sorting after it with a later
            // `ts` would break the argument above; instead wait until our
            // bound passes it, and claim and list again.
            waits += 1;
            if waits > MAX_ENTRY_REWRITES {
                return Err(Error::new(
                    ErrorKind::ClockSkew,
                    "the manifest log has entries from a clock far ahead",
                ));
            }
            c.sleep((newest - ts + 1).clamp(1, 10_000) as u64).await;
            continue;
        }
        let (object, _) = EntryKey::new(&m.key, ts, &session, n);
        let body = EntryBody::new(&files, w.changes());
        // Stored before it is sent: whoever resumes this write must find
        // out whether this entry landed (see `settle_attempt`).
        w.trying(m, &object, ts).await?;
        let first_sent = c.now();
        let sent_lower = c.clock_bound(first_sent);
        // Create-only: a retry after a lost answer must not PUT again,
        // which would move `LastModified` under readers who already
        // accepted the entry (and could make it invalid after the fact).
        // A 412 means our first attempt landed: the listing tells when,
        // exactly as readers judge it. An entry carries the whole state
        // (`files`): in a manifest of many keys it is most of what a
        // write sends.
        //
        // Let finish if the client goes offline meanwhile: its answer
        // settles whether it landed, which, aborted, only a listing could,
        // and not once autoclean may have collected it. Its retries' answers
        // come before autoclean could collect a landed first try: a retry
        // after that would create the entry again, late, and the write
        // would be judged unlanded and committed twice. Past that, the
        // attempt is settled as a resumed one (`settle_attempt`).
        let put = c
            .put(
                &m.bucket,
                object.clone(),
                body.to_bytes(),
                Put {
                    mode: PutMode::Create,
                    trace: Some(w.trace()),
                    finish_offline: true,
                    answered_within: Some(SURELY_UNCOLLECTED_MS),
                },
            )
            .await;
        let answered = match put {
            Ok(meta) => meta.date,
            Err(e) if e.kind == ErrorKind::PreconditionFailed => None,
            Err(e) => return Err(e),
        };
        let Some(landed) =
            landing_time(c, m, &object, ts, (first_sent, sent_lower), answered).await?
        else {
            // Readers ignore it: claim and write again, at the corrected
            // time.
            rewrites += 1;
            if rewrites > MAX_ENTRY_REWRITES {
                return Err(Error::new(
                    ErrorKind::ClockSkew,
                    "manifest entries keep landing too late to be valid",
                ));
            }
            continue;
        };
        w.landed(m, &object, ts);
        entry_landed(c, m, &object, ts, Some(landed), Some(body)).await;
        #[cfg(test)]
        if skip {
            c.count_unlisted();
        }
        if settles {
            // Everything claimed before our claim was known, and ours is
            // in: the log is settled at our marker.
            c.v1_state(m).settled = claim_etag;
        }
        return Ok(());
    }
}

/// Writes the marker claiming the entry `tag` (docs/protocol.md,
/// "Claims"): under `If-Match` on the marker we read (`prev`) when the
/// server enforces it, so that pollers settled there need only find our
/// entry; else unconditionally. The first claim probes whether the server
/// enforces `If-Match` at all: one that ignores it writes the probe, which
/// is then the claim.
async fn claim<C: Client>(c: &C, m: &Ref, tag: &str, prev: Option<&MarkerSeen>) -> Result<Claimed> {
    let nonce = cat!(hex(c.random() & 0xff_ffff, 6));
    // One request site for the three ways (probe, chained, plain): each
    // refusal moves on to the next.
    let mut chain = prev;
    loop {
        let conditional = c.v1_state(m).conditional;
        let (mode, on) = match (conditional, chain) {
            (None, _) => (PutMode::Update("\"mps3-if-match-probe\"".into()), None),
            (Some(true), Some(p)) => (PutMode::Update(p.etag.clone()), Some(p.etag.as_str())),
            _ => (PutMode::Overwrite, None),
        };
        let answer = put_marker(c, m, claim_body(tag, &nonce, on), mode).await;
        let refused = answer
            .as_ref()
            .is_err_and(|e| matches!(e.kind, ErrorKind::PreconditionFailed | ErrorKind::NotFound));
        match answer {
            Ok(meta) => {
                // The probe written: the server ignores `If-Match`.
                c.v1_state(m).conditional.get_or_insert(false);
                return Ok(Claimed {
                    etag: meta.etag,
                    chained: on.is_some(),
                    date: meta.date,
                });
            }
            Err(_) if refused && on.is_some() => chain = None,
            Err(e)
                if conditional.is_none() && !e.is_retryable() && e.kind != ErrorKind::Offline =>
            {
                // The probe refused: `If-Match` is enforced; refused some
                // other way, conditions are not implemented.
                c.v1_state(m).conditional = Some(refused);
            }
            Err(e) => return Err(e),
        }
    }
}

async fn put_marker<C: Client>(c: &C, m: &Ref, body: Vec<u8>, mode: PutMode) -> Result<ObjectMeta> {
    c.put(
        &m.bucket,
        m.key.clone(),
        body,
        Put {
            mode,
            trace: None,
            finish_offline: false,
            answered_within: None,
        },
    )
    .await
}

/// Our entry `object` is valid: known, and the log resolved with it.
async fn entry_landed<C: Client>(
    c: &C,
    m: &Ref,
    object: &str,
    ts: EpochMillis,
    landed: Option<EpochMillis>,
    body: Option<EntryBody>,
) {
    match (landed, body) {
        (Some(last_modified), Some(body)) => {
            let mut entries = Vec::new();
            {
                let mut s = c.v1_state(m);
                s.known.insert(
                    object.to_string(),
                    KnownEntry {
                        key: object.to_string(),
                        ts,
                        last_modified,
                        body: Body::Parsed(Rc::new(body)),
                    },
                );
                for e in s.known.values() {
                    entries.push(e.clone());
                }
            }
            super::read::install_log(c, m, entries);
            c.persist(m).await;
        }
        // Settled from a listing: read the log as readers will (on failure
        // the masks stay until a later resolution has it).
        _ => {
            let _ = sync_listing(c, m).await;
        }
    }
}

/// A read of `m` that lists whatever the marker says (boxed: the read's
/// state machine is not carried in the writer's).
fn sync_listing<'a, C: Client>(c: &'a C, m: &'a Ref) -> crate::engine::protocol::Done<'a> {
    Box::pin(super::read::sync(c, m, Freshness::List))
}

/// Whether an entry PUT made earlier, `object` at time `ts`, counts:
/// landed if readers accept it, lost if they never will, so the write
/// must be made again.
///
/// Waits first until any late landing would be invalid (readers ignore an
/// entry whose `LastModified` is `LAG_WINDOW_MS` from its time), so the
/// answer is final. An entry no longer listed was either never written or
/// landed and was collected by autoclean, which waits
/// `AUTOCLEAN_GRACE_MS` after landing: young enough, it never landed;
/// older, it landed if the log still holds one of our content versions,
/// and otherwise no one can tell. Then we count it as landed: writing
/// again could put an old value over newer ones, a worse failure than the
/// loss of a write whose PUT most likely arrived. That case is logged.
async fn settle_attempt<C: Client>(
    c: &C,
    m: &Ref,
    object: &str,
    ts: EpochMillis,
    changes: &[(String, Option<String>)],
) -> Result<Attempt> {
    let final_after = ts + LAG_WINDOW_MS + LAST_MODIFIED_PRECISION_MS;
    loop {
        let Some(bound) = c.server_lower_bound() else {
            // The first answer bounds the server's clock.
            sync_listing(c, m).await?;
            continue;
        };
        if bound >= final_after {
            break;
        }
        c.sleep((final_after - bound + 1).clamp(1, 10_000) as u64)
            .await;
    }
    if let Some(last_modified) = c.listed_first(&m.bucket, object).await? {
        let timely = (last_modified - ts).abs() < LAG_WINDOW_MS;
        return Ok(if timely {
            Attempt::Landed(Some(last_modified))
        } else {
            Attempt::Lost
        });
    }
    // Collected by autoclean only after `AUTOCLEAN_GRACE_MS`, counted by
    // the collector's clock (leave a margin for its error), and only
    // behind a base more than the window newer.
    let age = c.server_now() - ts;
    if age < SURELY_UNCOLLECTED_MS {
        return Ok(Attempt::Lost);
    }
    sync_listing(c, m).await?;
    let newer_base = c
        .v1_state(m)
        .known
        .values()
        .any(|e| e.ts > ts + LAG_WINDOW_MS && (e.last_modified - e.ts).abs() < LAG_WINDOW_MS);
    if !newer_base {
        return Ok(Attempt::Lost);
    }
    // Whether `files` holds one of the versions this write set.
    let in_files = |files: &Files| {
        changes.iter().any(|(url, v)| {
            v.is_some() && files.get(url).map(|f| Some(&f.version)) == Some(v.as_ref())
        })
    };
    let seen = c.files(m).as_ref().is_some_and(in_files)
        || c.v1_state(m).known.values().any(|e| match &e.body {
            Body::Parsed(b) => {
                let base = Value::Object(vec![("files".into(), b.files.clone())]);
                in_files(&files_of(&b.update)) || in_files(&files_of(&base))
            }
            _ => false,
        });
    if !seen {
        c.log(
            "queue",
            &cat!(
                "cannot tell whether entry ",
                object,
                " landed before it was collected; counting it as landed"
            ),
        );
    }
    Ok(Attempt::Landed(None))
}

/// When the entry `object` (key time `ts`) landed, if readers accept it;
/// `None` if they ignore it.
///
/// The answer often settles it: `LastModified` is at least the server's
/// time when the PUT left (`sent_lower` bounds that from below) and at
/// most the answer's `Date`, each give or take a second of whole-second
/// precision. When those bounds do not prove it, the listing's
/// `LastModified` does, exactly as readers will judge.
///
/// The listing proves the entry absent only while autoclean cannot have
/// collected it yet. A PUT whose answers took longer than that (requests
/// timed out and retried) may have landed and been collected since: then
/// this fails, retryably, with the attempt kept, and the write's next try
/// settles it as a resumed one (`settle_attempt`). Writing again here
/// would commit it twice.
async fn landing_time<C: Client>(
    c: &C,
    m: &Ref,
    object: &str,
    ts: EpochMillis,
    (first_sent, sent_lower): (EpochMillis, EpochMillis),
    date: Option<EpochMillis>,
) -> Result<Option<EpochMillis>> {
    if let Some(date) = date {
        let earliest = sent_lower - LAST_MODIFIED_PRECISION_MS;
        let latest = date + LAST_MODIFIED_PRECISION_MS;
        if ts - earliest < LAG_WINDOW_MS && latest - ts < LAG_WINDOW_MS {
            return Ok(Some(date));
        }
    }
    let listed = c.listed_first(&m.bucket, object).await?;
    // (When the answer came: the listing's retries may have taken long.)
    let listed_at = c.now();
    match listed {
        Some(lm) => Ok(((lm - ts).abs() < LAG_WINDOW_MS).then_some(lm)),
        None if listed_at - first_sent >= SURELY_UNCOLLECTED_MS => Err(Error::network(
            "an entry PUT answered too late to tell whether it landed; settling it",
        )),
        None => Ok(None),
    }
}
