//! Protocol v2's checkpoints and collection (docs/protocol-v2.md,
//! "Checkpoints and collection"): the state written whole every
//! `checkpoint_every` entries, with the content it superseded, and what
//! collection deletes behind the grace. Through `&dyn Client`: the client
//! that runs it decides when.

use crate::prelude::*;

use super::format::{checkpoint_key, hint_key, parse_checkpoint, parse_slot};
use crate::engine::error::{ErrorKind, Result};
use crate::engine::json::{self, JsonValue};
use crate::engine::object::Ref;
use crate::engine::protocol::{Client, Put};
use crate::engine::s3::PutMode;

/// `(content url, uuid)` pairs a checkpoint lists for collection.
fn checkpoint_garbage(body: &[u8]) -> Vec<(String, String)> {
    let Ok(v) = json::parse(body) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(JsonValue::Array(items)) = v.get("gc") {
        for item in items {
            if let JsonValue::Array(pair) = item {
                if let [a, b] = pair.as_slice() {
                    if let (Some(a), Some(b)) = (a.as_str(), b.as_str()) {
                        out.push((a.to_string(), b.to_string()));
                    }
                }
            }
        }
    }
    out
}

/// When a client checkpoints, and how it collects.
pub(crate) struct Policy {
    /// A checkpoint once the log is this many entries past the newest.
    pub every: u64,
    /// Whether to collect after a checkpoint (`autoclean`).
    pub collect: bool,
    /// How long a slot stays after the checkpoint above it.
    pub grace_ms: i64,
    /// Content lives in the key's own object, at a version (else under
    /// `<key>@<uuid>`).
    pub versioned: bool,
}

/// Creates the checkpoint of `m`'s state when it is due, then the hint
/// naming it, then collects. Best effort: a failure leaves it to a later
/// write.
pub(crate) async fn checkpoint<C: Client>(c: &C, m: &Ref, policy: Policy) {
    let due = c.v2_state(m).checkpoint_due(policy.every);
    let Some((seq, text)) = due else {
        return;
    };
    let made = c
        .put(
            &m.bucket,
            checkpoint_key(&m.key, seq),
            text.into_bytes(),
            Put::plain(PutMode::Create),
        )
        .await;
    if matches!(&made, Err(e) if e.kind != ErrorKind::PreconditionFailed) {
        return;
    }
    c.v2_state(m).checkpointed(seq);
    let hint = cat!("{\"cp\":", seq, "}").into_bytes();
    let _ = c
        .put(
            &m.bucket,
            hint_key(&m.key),
            hint,
            Put::plain(PutMode::Overwrite),
        )
        .await;
    if policy.collect {
        let _ = collect(c, m, &policy).await;
    }
}

/// Deletes what no reader can need: below the newest checkpoint older
/// than the grace, every slot and older checkpoint, and the content the
/// checkpoints there list as superseded. A reader or writer that read the
/// log less than half the grace ago is past those slots (it found the
/// slot after its head empty, and the slots were filled and checkpointed
/// a grace before now); one away longer reads the newest checkpoint
/// first. A late create into a collected slot sits below a checkpoint:
/// never read.
async fn collect<C: Client>(c: &C, m: &Ref, how: &Policy) -> Result<()> {
    let prefix = super::format::prefix(&m.key);
    let cps = c.list(&m.bucket, cat!(prefix, "cp/"), None).await?;
    let cutoff = c.server_now() - how.grace_ms;
    // The checkpoints by number; the boundary is the newest one older
    // than the grace.
    let mut numbered: Vec<(u64, String)> = Vec::new();
    let mut boundary = None;
    for e in cps {
        if let Some(n) = parse_checkpoint(&m.key, &e.key) {
            if e.last_modified < cutoff {
                boundary = boundary.max(Some(n));
            }
            numbered.push((n, e.key));
        }
    }
    let Some(boundary) = boundary else {
        return Ok(());
    };
    let done = c.v2_state(m).collected_through;
    // Content first: a checkpoint goes only once what it lists is gone.
    let mut deletes: Vec<(String, String, Option<String>)> = Vec::new();
    for (n, key) in &numbered {
        if *n > boundary || *n <= done {
            continue;
        }
        let Some(body) = c.get_body(m, key.clone()).await? else {
            continue;
        };
        for (url, uuid) in checkpoint_garbage(&body) {
            let Ok(r) = Ref::from_url(&url) else { continue };
            deletes.push(if how.versioned {
                (r.bucket, r.key, Some(uuid))
            } else {
                (r.bucket, cat!(r.key, "@", uuid), None)
            });
        }
    }
    for e in c.list(&m.bucket, cat!(prefix, "log/"), None).await? {
        if parse_slot(&m.key, &e.key).is_some_and(|n| n <= boundary) {
            deletes.push((m.bucket.clone(), e.key, None));
        }
    }
    for (n, key) in numbered {
        if n < boundary {
            deletes.push((m.bucket.clone(), key, None));
        }
    }
    for (bucket, key, version) in deletes {
        c.delete_object(&bucket, key, version).await?;
    }
    c.v2_state(m).collected_through = boundary;
    Ok(())
}
