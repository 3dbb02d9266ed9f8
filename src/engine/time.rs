//! Calendar arithmetic on epoch milliseconds, without a clock.
//!
//! The core never reads the time: callers pass `now` in. These helpers turn
//! it into the formats S3 speaks (`20150830T123600Z` for SigV4, RFC 7231
//! `Date` headers, ISO 8601 `LastModified`) and back.

use crate::prelude::*;

use super::error::{Error, Result};

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type EpochMillis = i64;

/// Days since the epoch → (year, month 1-12, day 1-31). Howard Hinnant's
/// `civil_from_days`, exact for the whole proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since the epoch; inverse of `civil_from_days`.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A broken-down UTC time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

impl Utc {
    pub fn from_millis(ms: EpochMillis) -> Utc {
        let days = ms.div_euclid(86_400_000);
        let rem = ms.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        Utc {
            year,
            month,
            day,
            hour: (rem / 3_600_000) as u32,
            minute: (rem / 60_000 % 60) as u32,
            second: (rem / 1000 % 60) as u32,
            millis: (rem % 1000) as u32,
        }
    }

    pub fn to_millis(self) -> EpochMillis {
        days_from_civil(self.year, self.month, self.day) * 86_400_000
            + self.hour as i64 * 3_600_000
            + self.minute as i64 * 60_000
            + self.second as i64 * 1000
            + self.millis as i64
    }

    /// `20150830T123600Z`, the SigV4 `X-Amz-Date` form.
    pub fn amz_date(&self) -> String {
        self.text("yyyymmddThhiissZ")
    }

    /// `20150830`, the date of a SigV4 credential scope.
    pub fn amz_day(&self) -> String {
        self.text("yyyymmdd")
    }

    /// `template` with each run of a field's letter (`y`ear, `m`onth,
    /// `d`ay, `h`our, m`i`nute, `s`econd, `f`raction in milliseconds)
    /// replaced by the field, zero-padded to the run's length; other
    /// characters as they are. One routine for every time format.
    fn text(&self, template: &str) -> String {
        let mut out = String::new();
        let t = template.as_bytes();
        let mut i = 0;
        while i < t.len() {
            let c = t[i];
            let field = match c {
                b'y' => self.year as u64,
                b'm' => self.month.into(),
                b'd' => self.day.into(),
                b'h' => self.hour.into(),
                b'i' => self.minute.into(),
                b's' => self.second.into(),
                b'f' => self.millis.into(),
                _ => {
                    out.push(c as char);
                    i += 1;
                    continue;
                }
            };
            let start = i;
            while i < t.len() && t[i] == c {
                i += 1;
            }
            crate::engine::lean::text::Piece::put(&zeros(field, (i - start) as u8), &mut out);
        }
        out
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn num(s: &str, what: &str) -> Result<u32> {
    crate::engine::lean::scan::number(s, 10)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| Error::bad_response(cat!("bad ", what, " in timestamp: \"", s, "\"")))
}

/// Parses an HTTP date (`Thu, 26 Nov 2026 11:20:57 GMT`, RFC 7231 IMF-fixdate,
/// the form of S3's `Date` and `Last-Modified` headers).
pub fn parse_http_date(s: &str) -> Result<EpochMillis> {
    let bad = || Error::bad_response(cat!("bad HTTP date \"", s, "\""));
    let rest = crate::engine::lean::scan::split_once(s, ", ")
        .map(|(_, r)| r)
        .ok_or_else(bad)?;
    let mut parts = rest.split(' ');
    let (day, mon, year, hms) = (
        parts.next().ok_or_else(bad)?,
        parts.next().ok_or_else(bad)?,
        parts.next().ok_or_else(bad)?,
        parts.next().ok_or_else(bad)?,
    );
    let month = MONTHS.iter().position(|m| *m == mon).ok_or_else(bad)? as u32 + 1;
    let mut t = hms.split(':');
    let (h, m, sec) = (
        t.next().ok_or_else(bad)?,
        t.next().ok_or_else(bad)?,
        t.next().ok_or_else(bad)?,
    );
    Ok(Utc {
        year: num(year, "year")?.into(),
        month,
        day: num(day, "day")?,
        hour: num(h, "hour")?,
        minute: num(m, "minute")?,
        second: num(sec, "second")?,
        millis: 0,
    }
    .to_millis())
}

/// Formats an HTTP date, as servers (and the in-memory S3 model) send it.
pub fn format_http_date(ms: EpochMillis) -> String {
    let u = Utc::from_millis(ms);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let weekday = DAYS[ms.div_euclid(86_400_000).rem_euclid(7) as usize];
    cat!(
        weekday,
        u.text(", dd "),
        MONTHS[u.month as usize - 1],
        u.text(" yyyy hh:ii:ss GMT")
    )
}

/// Parses ISO 8601 as S3 lists it: `2026-11-26T11:20:57.000Z` (fraction optional).
pub fn parse_iso8601(s: &str) -> Result<EpochMillis> {
    let bad = || Error::bad_response(cat!("bad ISO 8601 time \"", s, "\""));
    let s = s.strip_suffix('Z').ok_or_else(bad)?;
    let (date, time) = s.split_once('T').ok_or_else(bad)?;
    let mut d = date.split('-');
    let (y, mo, da) = (
        d.next().ok_or_else(bad)?,
        d.next().ok_or_else(bad)?,
        d.next().ok_or_else(bad)?,
    );
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.split(':');
    let (h, mi, se) = (
        t.next().ok_or_else(bad)?,
        t.next().ok_or_else(bad)?,
        t.next().ok_or_else(bad)?,
    );
    let millis = if frac.is_empty() {
        0
    } else {
        // Keep milliseconds; ignore any finer digits.
        let mut digits = String::from(frac.get(..3).unwrap_or(frac));
        while digits.len() < 3 {
            digits.push('0');
        }
        num(&digits, "fraction")?
    };
    Ok(Utc {
        year: num(y, "year")?.into(),
        month: num(mo, "month")?,
        day: num(da, "day")?,
        hour: num(h, "hour")?,
        minute: num(mi, "minute")?,
        second: num(se, "second")?,
        millis,
    }
    .to_millis())
}

/// Formats ISO 8601 with milliseconds, as S3 lists `LastModified`.
pub fn format_iso8601(ms: EpochMillis) -> String {
    let u = Utc::from_millis(ms);
    u.text("yyyy-mm-ddThh:ii:ss.fffZ")
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-26T11:20:57.132Z, from the worked example of the fixtures README.
    const T: EpochMillis = 1_795_692_057_132;

    #[test]
    fn amz_formats() {
        let u = Utc::from_millis(T);
        assert_eq!(u.amz_date(), "20261126T112057Z");
        assert_eq!(u.amz_day(), "20261126");
        assert_eq!(Utc::from_millis(0).amz_date(), "19700101T000000Z");
        // The SigV4 suite's date.
        assert_eq!(
            Utc::from_millis(1_440_938_160_000).amz_date(),
            "20150830T123600Z"
        );
    }

    #[test]
    fn round_trips_across_leap_years_and_negatives() {
        for ms in [
            0,
            -1,
            951_782_400_000,   // 2000-02-29
            4_107_542_399_999, // 2100-02-28T23:59:59.999
            T,
            -62_135_596_800_000, // 0001-01-01
        ] {
            assert_eq!(Utc::from_millis(ms).to_millis(), ms, "{ms}");
        }
        assert_eq!(format_iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Thu, 26 Nov 2026 11:20:57 GMT").unwrap(),
            T - 132
        );
        assert_eq!(format_http_date(T), "Thu, 26 Nov 2026 11:20:57 GMT");
        assert_eq!(format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            format_http_date(951_782_400_000),
            "Tue, 29 Feb 2000 00:00:00 GMT"
        );
        assert!(parse_http_date("yesterday").is_err());
        assert!(parse_http_date("Thu, 26 Foo 2026 11:20:57 GMT").is_err());
    }

    #[test]
    fn iso_dates() {
        assert_eq!(parse_iso8601("2026-11-26T11:20:57.000Z").unwrap(), T - 132);
        assert_eq!(parse_iso8601("2026-11-26T11:20:57.132Z").unwrap(), T);
        assert_eq!(parse_iso8601("2026-11-26T11:20:57Z").unwrap(), T - 132);
        assert_eq!(parse_iso8601("2026-11-26T11:20:57.1Z").unwrap(), T - 32);
        assert_eq!(parse_iso8601("2026-11-26T11:20:57.132999Z").unwrap(), T);
        assert_eq!(format_iso8601(T), "2026-11-26T11:20:57.132Z");
        assert!(parse_iso8601("2026-11-26 11:20:57").is_err());
    }
}
