//! Clock correction from the server's `Date` headers.
//!
//! A `Date` has whole-second precision, so at the moment an answer arrives
//! the server's clock read somewhere in `[date, date + 1000 + rtt]`. If our
//! corrected clock falls outside that interval we move it just inside, in
//! either direction (mps3 0.0.81 only ever corrects upward). Repeated
//! answers narrow the error to about a second.

use crate::engine::time::EpochMillis;

#[derive(Clone, Debug, Default)]
pub struct ClockSync {
    /// Added to the local clock to estimate the server's.
    pub offset: i64,
    /// When false the offset stays as configured.
    pub adaptive: bool,
    /// The largest `date - received` seen: the server's clock is at least
    /// the local clock plus this (a `Date` is never later than the moment
    /// its answer arrives). `None` until an answer is seen.
    pub lower: Option<i64>,
}

impl ClockSync {
    pub fn new(offset: i64, adaptive: bool) -> ClockSync {
        ClockSync {
            offset,
            adaptive,
            lower: None,
        }
    }

    /// The corrected time for a local clock reading.
    pub fn now(&self, local: EpochMillis) -> EpochMillis {
        local + self.offset
    }

    /// A time the server's clock had certainly reached at local time
    /// `local`, given every answer seen (before or after `local`): what
    /// reasoning about "landed before" needs, where an estimate that may
    /// run ahead would not do. Without answers, the estimate less a second.
    pub fn lower_bound(&self, local: EpochMillis) -> EpochMillis {
        local + self.lower.unwrap_or(self.offset - 1000)
    }

    /// Takes an answer's `Date`, given the local clock when the request was
    /// sent and when the answer came. Returns whether the offset moved.
    pub fn observe(&mut self, date: EpochMillis, sent: EpochMillis, received: EpochMillis) -> bool {
        self.lower = Some(
            self.lower
                .map_or(date - received, |l| l.max(date - received)),
        );
        if !self.adaptive {
            return false;
        }
        let rtt = (received - sent).max(0);
        let estimate = received + self.offset;
        let (earliest, latest) = (date, date + 1000 + rtt);
        let target = if estimate < earliest {
            earliest
        } else if estimate > latest {
            latest
        } else {
            return false;
        };
        self.offset = target - received;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrects_in_both_directions_only_when_outside_the_interval() {
        let mut c = ClockSync::new(0, true);
        // We are 60 s behind: the server said 60 s later than we think.
        assert!(c.observe(160_000, 99_900, 100_000));
        assert_eq!(c.offset, 60_000);
        // A consistent answer leaves it alone.
        assert!(!c.observe(161_000, 100_900, 101_000));
        // We are ahead: pulled back to the interval's end.
        let mut c = ClockSync::new(30_000, true);
        assert!(c.observe(100_000, 99_950, 100_000));
        assert_eq!(c.now(100_000), 101_050);
        // Within a second and the round trip: unchanged.
        let mut c = ClockSync::new(700, true);
        assert!(!c.observe(100_000, 99_990, 100_000));
        // The lower bound only rises, and stays below the server's clock.
        let mut c = ClockSync::new(0, true);
        assert_eq!(c.lower_bound(1_000), 0);
        c.observe(10_000, 900, 1_000); // server ≥ 10 s at local 1 s
        c.observe(9_000, 1_900, 2_000); // a slow answer: a weaker bound
        assert_eq!(c.lower, Some(9_000));
        assert_eq!(c.lower_bound(3_000), 12_000);
        let mut fixed = ClockSync::new(5, false);
        assert!(!fixed.observe(1_000_000, 0, 0));
        assert_eq!(fixed.offset, 5);
    }
}
