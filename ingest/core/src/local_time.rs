//! Vietnam's local time (UTC+7, no daylight saving): how people give dates (a
//! local day) and read times. The ledger and the catalog keep UTC; only what a
//! person types or reads is local.

use crate::error::DomainError;
use time::{Date, OffsetDateTime, UtcOffset};

pub const OFFSET: UtcOffset = time::macros::offset!(+7);

/// `YYYY-MM-DD` as a date.
pub fn date(s: &str) -> Result<Date, DomainError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, format).map_err(|_| DomainError::invalid(format!("{s:?} is not a date (YYYY-MM-DD)")))
}

/// Local midnight that starts `date`.
pub fn day_start(date: Date) -> OffsetDateTime {
    date.midnight().assume_offset(OFFSET)
}

/// A local day (`YYYY-MM-DD`) as the instant it starts, or (`end`) the instant
/// after it ends; an RFC 3339 instant as itself.
pub fn instant(s: &str, end: bool) -> Result<OffsetDateTime, DomainError> {
    if let Ok(t) = archive::clock::parse_ts(s) {
        return Ok(t);
    }
    let start = day_start(
        date(s)
            .map_err(|_| DomainError::invalid(format!("{s:?} is neither a date (YYYY-MM-DD) nor an RFC 3339 time")))?,
    );
    Ok(if end { start + time::Duration::days(1) } else { start })
}

/// `15/07/2026 08:30` in local time for an RFC 3339 instant (as given if it
/// does not parse).
pub fn display(ts: &str) -> String {
    archive::clock::parse_ts(ts)
        .map(|t| {
            let t = t.to_offset(OFFSET);
            format!("{:02}/{:02}/{} {:02}:{:02}", t.day(), u8::from(t.month()), t.year(), t.hour(), t.minute())
        })
        .unwrap_or_else(|_| ts.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_days_and_instants() {
        let start = instant("2026-07-15", false).unwrap();
        assert_eq!(archive::clock::format_ts(start), "2026-07-14T17:00:00.000Z");
        let end = instant("2026-07-15", true).unwrap();
        assert_eq!(archive::clock::format_ts(end), "2026-07-15T17:00:00.000Z");
        let t = instant("2026-07-15T08:00:00+07:00", true).unwrap();
        assert_eq!(archive::clock::format_ts(t), "2026-07-15T01:00:00.000Z");
        assert!(instant("15/07/2026", false).is_err());
        assert_eq!(display("2026-07-15T01:30:00.000Z"), "15/07/2026 08:30");
        assert_eq!(display("not a time"), "not a time");
    }
}
