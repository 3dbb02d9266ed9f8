//! The judge of a run: an oracle of what the bucket holds (every valid
//! entry ever written, last writer wins), and the invariants each history
//! must keep (`check`).

use super::*;

/// The v2 log: each slot's first create (a create after the slot was
/// collected lands in a dead slot, which no reader reads), in slot order.
/// Changes carry the value's uuid as their version.
fn v2_log(model: &InMemoryS3) -> Vec<(i64, String, Changes)> {
    let mut first: BTreeMap<u64, &[u8]> = BTreeMap::new();
    for put in &model.puts {
        if let Some(n) = crate::engine::protocol::v2::format::parse_slot(MANIFEST, &put.key) {
            first.entry(n).or_insert(&put.body);
        }
    }
    first
        .into_iter()
        .map(|(n, body)| {
            let e = crate::engine::protocol::v2::format::Entry::parse(body).expect("a v2 entry");
            let mut changes: Changes = e
                .set
                .iter()
                .map(|(k, s)| (k.clone(), Some(s.uuid.clone())))
                .collect();
            changes.extend(e.delete.iter().map(|k| (k.clone(), None)));
            (
                n as i64,
                crate::engine::protocol::v2::format::slot_key(MANIFEST, n),
                changes,
            )
        })
        .collect()
}

/// Every valid entry ever written, oldest first, with its changes (the
/// v2 log's slots when the run wrote any).
pub(super) fn oracle_log(model: &InMemoryS3) -> Vec<(i64, String, Changes)> {
    let v2 = v2_log(model);
    if !v2.is_empty() {
        return v2;
    }
    let mut last: BTreeMap<String, (i64, Vec<u8>)> = BTreeMap::new();
    for put in &model.puts {
        if put.bucket == BUCKET && parse_entry_key(MANIFEST, &put.key).is_some() {
            last.insert(put.key.clone(), (put.last_modified, put.body.clone()));
        }
    }
    let mut log: Vec<(i64, String, Changes)> = last
        .into_iter()
        .filter_map(|(key, (lm, body))| {
            let ts = parse_entry_key(MANIFEST, &key)?.ts;
            if (lm - ts).abs() >= LAG_WINDOW_MS {
                return None;
            }
            let body = EntryBody::parse(&body).ok()?;
            let files = body.update.get("files")?.as_object()?.to_vec();
            let changes = files
                .into_iter()
                .map(|(url, v)| {
                    (
                        url,
                        v.get("version")
                            .and_then(|v| v.as_str())
                            .map(str::to_string),
                    )
                })
                .collect();
            Some((ts, key, changes))
        })
        .collect();
    // Oldest first: ascending time, and within a millisecond descending key.
    log.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)));
    log
}

/// (url, version) → value, from the content objects ever written (a
/// write gives every key it sets one version: the url tells them apart).
pub(super) fn contents(model: &InMemoryS3, versioning: bool) -> HashMap<(String, String), String> {
    let mut out = HashMap::new();
    // v2 values small enough travel in their entry.
    for put in &model.puts {
        if crate::engine::protocol::v2::format::parse_slot(MANIFEST, &put.key).is_some() {
            if let Ok(e) = crate::engine::protocol::v2::format::Entry::parse(&put.body) {
                for (url, s) in e.set {
                    if let Some(text) = s.inline {
                        if let Ok(v) = serde_json::from_str::<String>(&text) {
                            let v = opened(model, &url, v);
                            out.insert((url, s.uuid), v);
                        }
                    }
                }
            }
        }
    }
    if versioning {
        for (key, vs) in &model.bucket(BUCKET).expect("the bucket").objects {
            for v in vs.iter().filter(|v| !v.delete_marker) {
                if let Ok(s) = serde_json::from_slice::<String>(&v.body) {
                    out.insert(
                        (url(key), v.version_id.clone()),
                        opened(model, &url(key), s),
                    );
                }
            }
        }
    } else {
        for put in &model.puts {
            if let Some((key, version)) = put.key.rsplit_once('@') {
                if let Ok(s) = serde_json::from_slice::<String>(&put.body) {
                    out.insert((url(key), version.to_string()), opened(model, &url(key), s));
                }
            }
        }
    }
    out
}

/// A value as written: a sealed one (an encrypted run's) opened with the
/// run's passphrase and the key ring in the bucket, by the checker's own
/// key derivation; one that does not open is told as such, which no
/// written value equals.
fn opened(model: &InMemoryS3, url: &str, text: String) -> String {
    use crate::engine::encryption::{key_aad, parse_sealed, ring_key, value_aad, Ring};
    if !text.starts_with("mps3e1:") {
        return text;
    }
    let m = Ref::new(BUCKET, MANIFEST);
    let ring = model
        .bucket(BUCKET)
        .and_then(|b| b.objects.get(&ring_key(MANIFEST)))
        .and_then(|vs| vs.last())
        .and_then(|v| Ring::parse(&v.body).ok());
    let Some(ring) = ring else {
        return "<sealed, and no key ring>".into();
    };
    let cipher = cipher::SimCipher::default();
    let kek = cipher.derive(SIM_PASSPHRASE, &ring.salt, ring.iterations);
    let quoted = format!("\"{text}\"");
    let Ok((id, sealed)) = parse_sealed(&quoted) else {
        return "<not a sealed value>".into();
    };
    let Some((_, wrapped)) = ring.keys.iter().find(|(k, _)| k == id) else {
        return "<sealed by a key the ring lacks>".into();
    };
    let Some(raw) = cipher.open(kek, &key_aad(&m, id), wrapped) else {
        return "<a data key that does not open>".into();
    };
    let key = cipher.import(&raw).expect("a 32-byte data key");
    match cipher.open(key, &value_aad(&m, url, id), &sealed) {
        Some(plain) => serde_json::from_slice::<String>(&plain)
            .unwrap_or_else(|_| "<opened to no JSON string>".into()),
        None => "<does not open>".into(),
    }
}

/// The values of the valid entries' writes, oldest first.
pub(super) fn written_values(model: &InMemoryS3, versioning: bool) -> Vec<String> {
    let values = contents(model, versioning);
    oracle_log(model)
        .iter()
        .flat_map(|(_, _, changes)| changes.iter())
        .filter_map(|(u, v)| values.get(&(u.clone(), v.clone()?)).cloned())
        .collect()
}

/// A violated invariant, said plainly.
pub(super) type Verdict = std::result::Result<(), String>;

/// Judges a run: every invariant, in turn; the first broken one is the
/// verdict.
pub(super) fn check(o: &Outcome) -> Verdict {
    let model = o.model.borrow();
    let oracle = Oracle::new(&model, o);
    all_read_and_committed(o)?;
    oracle.exactly_once()?;
    prompt_reads_see_every_write(o)?;
    oracle.each_clients_writes_in_order(o)?;
    oracle.converged(o)?;
    oracle.rejected_writes_absent(o)?;
    oracle.acknowledged_writes_present(o)?;
    oracle.sessions(o)?;
    oracle.subscribers(o)?;
    if o.params.protocol == Protocol::V2 {
        oracle.linearizable(o)?;
        oracle.increments(o)?;
    }
    Ok(())
}

/// What the bucket says: its valid entries, the state they resolve to, and
/// where each written value stands in the log.
struct Oracle {
    log: Vec<(i64, String, Changes)>,
    values: HashMap<(String, String), String>,
    /// (url, value) → the index of its entry in `log`.
    position: HashMap<(String, String), usize>,
    /// The final value of each of the run's keys.
    expected: Vec<Option<String>>,
}

fn url(k: &str) -> String {
    format!("{BUCKET}/{k}")
}

impl Oracle {
    fn new(model: &InMemoryS3, o: &Outcome) -> Oracle {
        let log = oracle_log(model);
        let values = contents(model, o.params.versioning);
        let mut oracle = Oracle {
            log,
            values,
            position: HashMap::new(),
            expected: Vec::new(),
        };
        let mut state: BTreeMap<String, Option<String>> = BTreeMap::new();
        for (i, (_, _, changes)) in oracle.log.iter().enumerate() {
            for (url, version) in changes {
                let value = oracle.value_of(url, version);
                if let Some(v) = &value {
                    oracle.position.insert((url.clone(), v.clone()), i);
                }
                state.insert(url.clone(), value);
            }
        }
        oracle.expected = o
            .params
            .keys
            .iter()
            .map(|k| state.get(&url(k)).cloned().flatten())
            .collect();
        oracle
    }

    /// The value of a key's content version.
    fn value_of(&self, url: &str, v: &Option<String>) -> Option<String> {
        v.as_ref().map(|v| {
            self.values
                .get(&(url.to_string(), v.clone()))
                .cloned()
                .unwrap_or_else(|| format!("<missing content {v}>"))
        })
    }

    /// Exactly once: no key's content version is in two valid entries.
    fn exactly_once(&self) -> Verdict {
        let mut entries_of: HashMap<(String, String), usize> = HashMap::new();
        for (_, _, changes) in &self.log {
            for (u, v) in changes {
                if let Some(v) = v {
                    *entries_of.entry((u.clone(), v.clone())).or_default() += 1;
                }
            }
        }
        match entries_of.iter().find(|(_, n)| **n > 1) {
            Some(((u, v), n)) => Err(format!(
                "write of {:?} was committed {n} times",
                self.value_of(u, &Some(v.clone()))
            )),
            None => Ok(()),
        }
    }

    /// Each client's writes reach the log in the order they were made.
    fn each_clients_writes_in_order(&self, o: &Outcome) -> Verdict {
        for c in 0..o.params.clients {
            let mut last: Option<(usize, String)> = None;
            for r in o.history.iter().filter(|r| r.client == c) {
                let Some((k, v)) = r.op.values_written().into_iter().next() else {
                    continue;
                };
                let Some(&p) = self.position.get(&(url(&k), v.clone())) else {
                    continue;
                };
                // (v2 carries the writes queued behind one in its entry:
                // one position for several, in the order made.)
                let grouped = o.params.protocol == Protocol::V2;
                if let Some((lp, lv)) = &last {
                    if p < *lp || (p == *lp && !grouped) {
                        return Err(format!(
                            "client {c} wrote {lv} before {v}, but the log has them at {lp} and {p}"
                        ));
                    }
                }
                last = Some((p, v));
            }
        }
        Ok(())
    }

    /// Every reader ends on the oracle's state.
    fn converged(&self, o: &Outcome) -> Verdict {
        for (c, got) in &o.finals {
            if got != &self.expected {
                return Err(format!(
                    "client {c} ended with {got:?}; the log says {:?}",
                    self.expected
                ));
            }
        }
        Ok(())
    }

    /// A rejected write never appears: its caller was told it failed.
    fn rejected_writes_absent(&self, o: &Outcome) -> Verdict {
        // (`OutcomeUnknown` refuses nothing: the write may land, once.)
        for r in o
            .history
            .iter()
            .filter(|r| matches!(&r.outcome, Some(Err(e)) if !e.starts_with("OutcomeUnknown")))
        {
            for (k, v) in r.op.values_written() {
                if self.position.contains_key(&(url(&k), v.clone())) {
                    return Err(format!(
                        "rejected write {k}={v} (client {}) is in a valid entry",
                        r.client
                    ));
                }
            }
        }
        Ok(())
    }

    /// Acknowledged writes are all in valid entries.
    fn acknowledged_writes_present(&self, o: &Outcome) -> Verdict {
        for r in o
            .history
            .iter()
            .filter(|r| matches!(r.outcome, Some(Ok(_))))
        {
            for (k, v) in r.op.values_written() {
                if !self.position.contains_key(&(url(&k), v.clone())) {
                    return Err(format!(
                        "acknowledged write {k}={v} (client {}) is in no valid entry",
                        r.client
                    ));
                }
            }
        }
        Ok(())
    }

    /// Sessions: a client's reads are never behind its own acknowledged
    /// writes or what it already read (read-your-writes, monotonic reads).
    fn sessions(&self, o: &Outcome) -> Verdict {
        for c in 0..o.params.clients {
            // Per key, the log position this client has seen or written.
            let mut floor: HashMap<String, usize> = HashMap::new();
            let mut ops: Vec<&Record> = o
                .history
                .iter()
                .filter(|r| r.client == c && r.completed.is_some())
                .collect();
            ops.sort_by_key(|r| r.completed);
            for r in ops {
                let Some(Ok(reads)) = &r.outcome else {
                    continue;
                };
                let keys: Vec<String> = match &r.op {
                    Op::Get(k) => vec![k.clone()],
                    Op::GetAll(ks) => ks.clone(),
                    // (Judged by `increments`: no other op reads the counter.)
                    Op::Increment => continue,
                    Op::Put(..) | Op::PutAll(_) => {
                        for (k, v) in r.op.values_written() {
                            let p = self.position[&(url(&k), v)];
                            let f = floor.entry(k).or_insert(p);
                            *f = (*f).max(p);
                        }
                        continue;
                    }
                };
                for (k, read) in keys.iter().zip(reads) {
                    self.read_not_behind(c, k, read, &mut floor)?;
                }
            }
        }
        Ok(())
    }

    /// Client `c`'s read of `k` against what it has seen of `k` before.
    fn read_not_behind(
        &self,
        c: usize,
        k: &str,
        read: &Option<String>,
        floor: &mut HashMap<String, usize>,
    ) -> Verdict {
        let Some(&f) = floor.get(k) else {
            if let Some(&p) = read
                .as_ref()
                .and_then(|v| self.position.get(&(url(k), v.clone())))
            {
                floor.insert(k.to_string(), p);
            }
            return Ok(());
        };
        match read {
            Some(v) => match self.position.get(&(url(k), v.clone())) {
                Some(&p) if p >= f => {
                    floor.insert(k.to_string(), p);
                    Ok(())
                }
                Some(&p) => Err(format!(
                    "client {c} read {k}={v} (log position {p}) after observing position {f}"
                )),
                None => Err(format!(
                    "client {c} read {k}={v}, which no valid entry holds"
                )),
            },
            None => {
                let deleted_later = self.log[f + 1..]
                    .iter()
                    .any(|(_, _, ch)| ch.iter().any(|(u, v)| u == &url(k) && v.is_none()));
                if deleted_later {
                    Ok(())
                } else {
                    Err(format!(
                        "client {c} read {k} as absent after observing position {f}"
                    ))
                }
            }
        }
    }

    /// Linearizability (v2): the log's order respects real time. A write
    /// acknowledged by the bucket before another began sits in a lower
    /// slot.
    fn linearizable(&self, o: &Outcome) -> Verdict {
        let acked: Vec<(&Record, usize)> = o
            .history
            .iter()
            .filter(|r| r.remote && matches!(r.outcome, Some(Ok(_))))
            .filter_map(|r| {
                let (k, v) = r.op.values_written().into_iter().next()?;
                Some((r, *self.position.get(&(url(&k), v))?))
            })
            .collect();
        for (a, pa) in &acked {
            for (b, pb) in &acked {
                if a.completed.is_some_and(|done| done < b.started) && pa >= pb {
                    return Err(format!(
                        "{:?} (client {}) was acknowledged before {:?} (client {}) began, but sits at log position {pa}, not before {pb}",
                        a.op, a.client, b.op, b.client
                    ));
                }
            }
        }
        Ok(())
    }

    /// Transactions: the counter's writes in the log are 1, 2, 3, ... (no
    /// increment committed over a counter changed since its read), every
    /// acknowledged increment is one of them, and no more landed than were
    /// made.
    fn increments(&self, o: &Outcome) -> Verdict {
        let counter = url(COUNTER);
        let in_log: Vec<Option<String>> = self
            .log
            .iter()
            .flat_map(|(_, _, changes)| changes.iter())
            .filter(|(u, _)| u == &counter)
            .map(|(u, v)| self.value_of(u, v))
            .collect();
        for (i, v) in in_log.iter().enumerate() {
            if v.as_deref() != Some((i + 1).to_string().as_str()) {
                return Err(format!(
                    "the counter's writes in the log are {in_log:?}: an increment committed over a changed counter"
                ));
            }
        }
        let made = o
            .history
            .iter()
            .filter(|r| matches!(r.op, Op::Increment))
            .count();
        if in_log.len() > made {
            return Err(format!(
                "{} increments in the log, {made} made",
                in_log.len()
            ));
        }
        let mut acked = Vec::new();
        for r in o.history.iter().filter(|r| matches!(r.op, Op::Increment)) {
            if let Some(Ok(wrote)) = &r.outcome {
                let n: usize = wrote[0].as_deref().unwrap_or("0").parse().unwrap_or(0);
                if n == 0 || n > in_log.len() || acked.contains(&n) {
                    return Err(format!(
                        "client {}'s increment to {n} was acknowledged; the log has the counter at {in_log:?}",
                        r.client
                    ));
                }
                acked.push(n);
            }
        }
        Ok(())
    }

    /// Subscribers: one call per version, the last one the final value.
    fn subscribers(&self, o: &Outcome) -> Verdict {
        for (c, notes) in &o.notifications {
            let mut seen = std::collections::HashSet::new();
            for n in notes.iter().flatten() {
                if !seen.insert(n) {
                    return Err(format!("client {c}'s subscriber got {n} twice: {notes:?}"));
                }
            }
            let survived = o.params.crash.map(|(v, _)| v) != Some(*c);
            if survived && notes.last() != Some(&self.expected[0]) {
                return Err(format!(
                    "client {c}'s subscriber ended at {:?}, not {:?}",
                    notes.last(),
                    self.expected[0]
                ));
            }
        }
        Ok(())
    }
}

/// Every reader read, and nothing was left queued.
fn all_read_and_committed(o: &Outcome) -> Verdict {
    let survivors = o.params.clients - usize::from(o.params.crash.is_some());
    let readers = survivors + 1 + usize::from(o.restarted);
    if o.finals.len() != readers {
        return Err(format!(
            "{} final reads, expected {readers}",
            o.finals.len()
        ));
    }
    if o.device.queued() != 0 {
        return Err(format!(
            "{} queued writes were never committed",
            o.device.queued()
        ));
    }
    Ok(())
}

/// As soon as every write is committed, every read sees them all.
fn prompt_reads_see_every_write(o: &Outcome) -> Verdict {
    let Some((_, fresh)) = o.prompt.iter().find(|(c, _)| *c == usize::MAX) else {
        return Ok(());
    };
    for (c, got) in o.prompt.iter().filter(|(c, _)| *c != usize::MAX) {
        if got != fresh {
            return Err(format!(
                "client {c} read {got:?} once every write was committed; the log holds {fresh:?}"
            ));
        }
    }
    Ok(())
}
