//! When to try again: capped exponential backoff with full jitter.

use crate::engine::error::Error;

/// Long enough for a few megabytes over a slow link; short enough that a
/// subscriber on a stalled connection hears again within half a minute.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// A run of failed attempts this long (from the first one's send) and
/// [`DISCONNECT_AFTER_FAILURES`] long makes the client disconnected: a
/// phone's or a hotel's network drops a request now and then, which is
/// weather for the retries, not an outage; an endpoint that is down
/// fails every attempt, and is found out within about two seconds.
pub const DISCONNECT_AFTER_MS: u64 = 2_000;

/// See [`DISCONNECT_AFTER_MS`].
pub const DISCONNECT_AFTER_FAILURES: u32 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base_ms: u64,
    pub cap_ms: u64,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// How long one attempt may wait for its answer before it counts as a
    /// network failure (and is retried like one); 0: no limit. A request
    /// that never answers otherwise holds its caller forever: the
    /// browser's fetch has no limit of its own.
    pub timeout_ms: u64,
    /// The client becomes disconnected once every attempt for this long
    /// failed without an answer (see [`DISCONNECT_AFTER_MS`])...
    pub disconnect_after_ms: u64,
    /// ...and at least this many of them.
    pub disconnect_after_failures: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_ms: 100,
            cap_ms: 5_000,
            max_attempts: 10,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            disconnect_after_ms: DISCONNECT_AFTER_MS,
            disconnect_after_failures: DISCONNECT_AFTER_FAILURES,
        }
    }
}

impl RetryPolicy {
    /// The pause before attempt `attempt + 1` after `error` on attempt
    /// `attempt` (1-based), or `None` to give up. `random` is uniform in
    /// [0, 1): full jitter spreads retrying clients apart.
    pub fn next_delay(&self, attempt: u32, error: &Error, random: f64) -> Option<u64> {
        // An auth proxy's own refusal (its rules, its limits) is its
        // answer: the caller hears it at once. (A queued write still waits
        // and tries again, as after any `SlowDown`.)
        if !error.is_retryable() || error.by_rule || attempt >= self.max_attempts {
            return None;
        }
        let ceiling = self
            .base_ms
            .saturating_mul(1u64 << attempt.min(20))
            .min(self.cap_ms);
        Some((ceiling as f64 * random) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::error::ErrorKind;

    #[test]
    fn a_proxys_own_refusal_is_not_retried() {
        let p = RetryPolicy::default();
        let mut e = Error::new(ErrorKind::SlowDown, "more than 120 writes a minute");
        assert!(
            p.next_delay(1, &e, 0.5).is_some(),
            "S3's SlowDown is retried"
        );
        e.by_rule = true;
        assert_eq!(p.next_delay(1, &e, 0.5), None, "the proxy's is its answer");
    }

    #[test]
    fn retries_transient_errors_with_growing_capped_jitter() {
        let p = RetryPolicy::default();
        let e = Error::new(ErrorKind::ServerError, "x");
        assert_eq!(p.next_delay(1, &e, 0.999), Some(199));
        assert_eq!(p.next_delay(3, &e, 0.5), Some(400));
        assert_eq!(p.next_delay(9, &e, 0.999), Some(4995));
        assert_eq!(p.next_delay(10, &e, 0.5), None, "attempts exhausted");
        assert_eq!(p.next_delay(2, &e, 0.0), Some(0));
        for kind in [
            ErrorKind::AccessDenied,
            ErrorKind::BadInput,
            ErrorKind::PreconditionFailed,
            ErrorKind::NotFound,
        ] {
            assert_eq!(
                p.next_delay(1, &Error::new(kind, "x"), 0.5),
                None,
                "{kind:?}"
            );
        }
        assert!(p
            .next_delay(1, &Error::new(ErrorKind::ClockSkew, "x"), 0.5)
            .is_some());
    }
}
