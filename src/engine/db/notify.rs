//! Telling subscribers what changed. A subscriber watches a range of keys
//! (one key's range, for a key's subscriber) and remembers the version of
//! each key in it as it was last told: what changed since is each key now
//! at another version, and each key gone. Values come from memory where
//! they are (a pending write's, cached content, a v2 entry's inline
//! value), so local writes reach subscribers at once; the rest are fetched
//! first (`notify`).

use crate::prelude::*;

use super::state::{Current, Event, JsonText, Meta};
use super::{Db, Found};
use crate::engine::error::{Error, ErrorKind};
use crate::engine::io::Io;
use crate::engine::object::Ref;

/// A value fetched for a subscriber: (url, version, value), or the
/// version's permanent failure.
type Fetched = (String, String, Option<JsonText>);

/// A value a subscriber waits for: its key and version, and its text when
/// it is in memory but sealed, not yet opened (an encrypted manifest's).
struct Missing {
    sub: u64,
    url: String,
    version: String,
    sealed: Option<JsonText>,
}

impl<I: Io> Db<I> {
    /// Tells each subscriber of `m` what changed, from memory only: a value
    /// not in memory waits for [`Db::notify`].
    pub(crate) fn notify_local(&self, m: &Ref) {
        self.tell(m, &[]);
    }

    /// Tells each subscriber of `m` what changed, fetching the values not
    /// in memory. Offline, those wait for the next time; a value that
    /// cannot be fetched is reported to the subscriber (once, when it is
    /// gone for good).
    pub(crate) async fn notify(&self, m: &Ref) {
        let mut fetched: Vec<Fetched> = Vec::new();
        let mut failed: Vec<(String, String, Error)> = Vec::new();
        // A round per change that lands while values are fetched.
        for _ in 0..3 {
            let missing = self.tell(m, &fetched);
            if missing.is_empty() {
                return;
            }
            for Missing {
                sub,
                url,
                version,
                sealed,
            } in missing
            {
                // Gone for good: each subscriber waiting for it is told.
                if let Some((.., error)) = failed.iter().find(|f| f.0 == url && f.1 == version) {
                    let error = error.clone();
                    self.tell_failed(sub, &url, &version, error);
                    continue;
                }
                if fetched.iter().any(|f| f.0 == url && f.1 == version) {
                    continue;
                }
                let got = match sealed {
                    Some(text) => Ok(text),
                    None => {
                        let binary = self.state(m).is_binary(&url);
                        self.content(&url, &version, binary).await
                    }
                };
                // Opened here, and remembered for `tell` (which looks the
                // sealed text up).
                let got = match got {
                    Ok(text) => self.reveal(m, &url, Some(text.clone())).await.map(|_| text),
                    Err(e) => Err(e),
                };
                match got {
                    Ok(v) => fetched.push((url, version, Some(v))),
                    Err(e) if e.kind == ErrorKind::Offline => return,
                    Err(error) if error.is_retryable() => {
                        self.push_events(vec![Event::Error { sub, error }]);
                        return;
                    }
                    Err(error) => {
                        self.tell_failed(sub, &url, &version, error.clone());
                        fetched.push((url.clone(), version.clone(), None));
                        failed.push((url, version, error));
                    }
                }
            }
        }
    }

    /// Tells `sub` that the value of `url` at `version` is gone for good,
    /// once: it counts as told (another notification running meanwhile
    /// finds it so, and says nothing).
    fn tell_failed(&self, sub: u64, url: &str, version: &str, error: Error) {
        let fresh = {
            let mut inner = self.inner.borrow_mut();
            let Some(s) = inner.subscribers.subs.iter_mut().find(|s| s.id == sub) else {
                return;
            };
            let seen = s.seen.get_or_insert_with(Vec::new);
            let told = seen.iter().any(|(u, v)| u == url && v == version);
            if !told {
                seen.retain(|(u, _)| u != url);
                seen.push((url.to_string(), version.to_string()));
            }
            !told
        };
        if fresh {
            self.push_events(vec![Event::Error { sub, error }]);
        }
    }

    /// Tells each subscriber of `m` whose changes are all known (in memory
    /// or `fetched`, and opened if `m` is encrypted); returns the values
    /// others wait for.
    fn tell(&self, m: &Ref, fetched: &[Fetched]) -> Vec<Missing> {
        let mut events = Vec::new();
        let mut missing = Vec::new();
        let encrypted = self.secret(m).is_some();
        {
            let mut inner = self.inner.borrow_mut();
            let inner = &mut *inner;
            let Some(state) = super::state_of(&inner.manifests, m) else {
                return missing;
            };
            'subs: for s in inner
                .subscribers
                .subs
                .iter_mut()
                .filter(|s| &s.manifest == m)
            {
                let urls = state.urls_in(&s.range);
                let seen = s.seen.as_deref().unwrap_or(&[]);
                let mut changes = Vec::new();
                let mut now = Vec::with_capacity(urls.len());
                // A value that failed for good: told as an error, not a value.
                let mut failed = false;
                for url in urls {
                    let current = state.effective(&url);
                    let Some(version) = current.version().clone() else {
                        continue;
                    };
                    now.push((url.clone(), version.clone()));
                    if seen.iter().any(|(u, v)| *u == url && *v == version) {
                        continue;
                    }
                    let value = match current {
                        Current::Local { value, .. } => value,
                        Current::Resolved(_) => {
                            let cache_key = (url.clone(), version.clone());
                            let known = inner.content.get(&cache_key).map(Some).or_else(|| {
                                fetched
                                    .iter()
                                    .find(|f| f.0 == url && f.1 == version)
                                    .map(|f| f.2.clone())
                            });
                            let inline = || state.log.inline(&url, &version);
                            match known.or_else(|| inline().map(Some)) {
                                Some(Some(v)) => Some(v),
                                Some(None) => {
                                    failed = true;
                                    continue;
                                }
                                None => {
                                    missing.push(Missing {
                                        sub: s.id,
                                        url,
                                        version,
                                        sealed: None,
                                    });
                                    continue 'subs;
                                }
                            }
                        }
                    };
                    // An encrypted manifest's value as the application
                    // sees it: opened before, else opened first.
                    let value = match value {
                        Some(text) if encrypted => {
                            let key = super::keys::opened_key(&url, &text);
                            match inner.opened.get(&key) {
                                Some(plain) => Some(plain),
                                None => {
                                    missing.push(Missing {
                                        sub: s.id,
                                        url,
                                        version,
                                        sealed: Some(text),
                                    });
                                    continue 'subs;
                                }
                            }
                        }
                        v => v,
                    };
                    changes.push(Found {
                        url,
                        value,
                        version: Some(version),
                    });
                }
                for (url, _) in seen {
                    if !now.iter().any(|(u, _)| u == url) {
                        changes.push(Found {
                            url: url.clone(),
                            ..Found::default()
                        });
                    }
                }
                // Before the manifest is read, only a key's pending write
                // is news (a range's first call lists the whole range).
                let first = s.seen.is_none();
                let ready = state.files.is_some() || (s.key && !changes.is_empty());
                if !ready {
                    continue;
                }
                s.seen = Some(now);
                if changes.is_empty() && (failed || !first) {
                    continue;
                }
                events.push(if s.key {
                    let Found {
                        url,
                        value,
                        version,
                    } = changes.pop().unwrap_or_default();
                    let by = state.log.written_by(&url).filter(|_| {
                        // (Not for a pending local write's value.)
                        !matches!(state.effective(&url), Current::Local { .. })
                    });
                    Event::Value {
                        sub: s.id,
                        value,
                        meta: Meta {
                            version,
                            writer: by.map(|b| b.writer.clone()),
                            at: by.map(|b| b.at),
                            trace: by.and_then(|b| b.trace.clone()),
                        },
                    }
                } else {
                    Event::Changes { sub: s.id, changes }
                });
            }
        }
        self.push_events(events);
        missing
    }
}
