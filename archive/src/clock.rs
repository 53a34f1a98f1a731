//! Time, injectable so that retention and checkpoint timing can be tested without sleeping.

use time::{format_description::well_known::Rfc3339, OffsetDateTime};

/// A source of the current UTC time.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// The wall clock moved by a fixed amount: for drills and tests that must see
/// the service at another time (`clock_offset_minutes`).
#[derive(Debug, Clone, Copy)]
pub struct ShiftedClock(pub time::Duration);

impl Clock for ShiftedClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.0
    }
}

/// The wall clock's time now, for tools that hold no service clock (the audit
/// tool, the host's commands that only read). Every other read of the time goes
/// through a [`Clock`].
pub fn system_now() -> OffsetDateTime {
    SystemClock.now()
}

/// A clock that moves only when told to: retention and alert tests move it days
/// ahead instead of sleeping.
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new(at: OffsetDateTime) -> Self {
        Self(std::sync::Mutex::new(at))
    }
    pub fn advance(&self, by: time::Duration) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// RFC 3339 in UTC with exactly three fractional digits, so that timestamps are
/// fixed-width and sort as strings: the one timestamp form Niêm writes.
pub fn format_ts(t: OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    let t = t.to_offset(time::UtcOffset::UTC);
    // Formatting only fails for years outside 0..=9999.
    t.format(FORMAT).unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Parses an RFC 3339 timestamp.
pub fn parse_ts(s: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(s, &Rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_fixed_width() {
        let t = time::macros::datetime!(2026-11-22 03:43:15.050 UTC);
        assert_eq!(format_ts(t), "2026-11-22T03:43:15.050Z");
        let t = time::macros::datetime!(2026-11-22 10:43:15 +07:00);
        assert_eq!(format_ts(t), "2026-11-22T03:43:15.000Z");
        assert_eq!(parse_ts(&format_ts(t)).unwrap(), t);
    }
}
