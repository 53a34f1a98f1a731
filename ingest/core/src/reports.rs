//! The compliance report: per org of a subtree and per local month, meetings
//! expected (scheduled), held (a recording began), recorded (bytes arrived),
//! sealed, transcribed and missed, and what the meeting record says of them
//! (attendance against its target, unapproved absences, chair problems,
//! documents in advance, minutes, committee before cell, evaluations); as rows
//! for the page and JSON, or CSV. Only the rows in the caller's scope are read.
//!
//! The record's figures are derived by the same rules as each meeting's page
//! ([`crate::attendance::summarize`] over the latest sheet, read from the
//! store), never kept as counters that could drift from the sealed objects.

use crate::app::App;
use crate::attendance::{self, StoredSheet};
use crate::catalog::{self, RecordMeetingRow, Repo, Scope};
use crate::error::DomainError;
use crate::local_time::OFFSET;
use crate::principal::{Principal, Role};
use crate::schema::{MeetingId, MemberId, OrgId};
use archive::clock::{format_ts, parse_ts};
use archive::record::RecordMeta;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use time::OffsetDateTime;

/// Sheets read from the store at once while a report is made.
const SHEETS_IN_FLIGHT: usize = 16;

/// The report of `org`'s subtree for `month` (`YYYY-MM`), only the rows in the
/// caller's scope. An inspector may ask for an org in their scope or above it (a
/// base committee over their cells: the rows are their cells'), no other.
pub async fn compliance_of(
    app: &App,
    who: &Principal,
    org: OrgId,
    month: String,
) -> Result<Vec<ReportRow>, DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor])?;
    let path = crate::orgs::path_of(app, org).await?;
    who.require_scope_or_above(&path)?;
    rows(app, who, path, month).await
}

/// The report's rows for the subtree at `path` in the caller's scope (the API's
/// and the report page's one query).
pub async fn rows(app: &App, who: &Principal, path: String, month: String) -> Result<Vec<ReportRow>, DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor])?;
    let (now, grace) = (app.vault.clock.now(), time::Duration::minutes(app.config.alerts.grace_minutes as i64));
    let scope = Scope::of(who);
    let (start, end) = month_bounds(&month)?;
    let (p, sc) = (path.clone(), scope.clone());
    let counts = catalog::read(&app.vault.catalog, move |repo| compliance(repo, (&p, &sc), &month, now, grace)).await?;
    let mut record = record_figures(app, path, scope, start, end).await?;
    Ok(counts
        .into_iter()
        .map(|c| {
            let record = record.remove(&c.org).unwrap_or_default();
            ReportRow { counts: c, record }
        })
        .collect())
}

/// One org's line of the report: the compliance counts and the meeting record's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ReportRow {
    #[serde(flatten)]
    pub counts: ComplianceRow,
    #[serde(flatten)]
    pub record: RecordFigures,
}

/// What the meeting record says of one org's meetings in the month.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RecordFigures {
    /// Meetings with an attendance sheet.
    pub sheets: u64,
    /// Over those meetings: members expected (not exempt) and attending.
    pub attendance_expected: u64,
    pub attendance_present: u64,
    /// Present / expected in percent, one decimal; null without a sheet.
    pub attendance_rate: Option<f64>,
    /// The rate is under `[reports] attendance_target`.
    pub attendance_below_target: bool,
    /// Absences without an approved request (members left off a sheet included).
    pub unapproved_absences: u64,
    /// Meetings where a bridge point's chair is not the secretary or a deputy.
    pub chair_problems: u64,
    /// Meetings whose first document for members was stored at least
    /// `documents.advance_days` before them.
    pub documents_in_advance: u64,
    pub minutes_filed: u64,
    /// Median whole days from the meeting's date to its first minutes.
    pub minutes_median_days: Option<f64>,
    /// Regular meetings of orgs with a committee schedule, and of them those
    /// before which a committee meeting of the org was held in the same month.
    pub committee_expected: u64,
    pub committee_before: u64,
    pub evaluated: u64,
    /// Mean of the latest evaluation scores (1-5), two decimals.
    pub mean_score: Option<f64>,
}

/// `[start, end)` of a local month `YYYY-MM`, as ledger times.
fn month_bounds(month: &str) -> Result<(String, String), DomainError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let first =
        time::Date::parse(&format!("{month}-01"), format).map_err(|_| DomainError::invalid("month must be YYYY-MM"))?;
    let next = first
        .checked_add(time::Duration::days(32))
        .and_then(|d| d.replace_day(1).ok())
        .ok_or_else(|| DomainError::invalid("month out of range"))?;
    Ok((format_ts(first.midnight().assume_offset(OFFSET)), format_ts(next.midnight().assume_offset(OFFSET))))
}

/// The record's figures per org id of the subtree at `path`, in `scope`.
async fn record_figures(
    app: &App,
    path: String,
    scope: Scope,
    start: String,
    end: String,
) -> Result<HashMap<String, RecordFigures>, DomainError> {
    let (meetings, roster) = catalog::read(&app.vault.catalog, move |repo| {
        let meetings = repo.record_meetings(&path, &scope, &start, &end)?;
        // Meetings are scoped above; the roster is only read for their orgs.
        let roster = repo.roster(&path, true, &Scope::All)?;
        Ok::<_, DomainError>((meetings, roster))
    })
    .await?;
    let sheets = latest_sheets(app, &meetings).await?;
    let memberships: Vec<catalog::Membership> = roster.into_iter().map(|r| r.membership).collect();
    let advance = time::Duration::days(i64::from(app.config.documents.advance_days));
    let mut by_org: BTreeMap<String, Tally> = BTreeMap::new();
    for m in &meetings {
        let t = by_org.entry(m.org.clone()).or_default();
        let date = attendance::local_date(&m.scheduled_at)?;
        if let Some(sheet) = sheets.get(&m.meeting) {
            let org: OrgId = m.org.parse().map_err(DomainError::internal)?;
            let cell = attendance::cell_from(&memberships, org, &date);
            let approved: BTreeSet<MemberId> = m.approved_absences.iter().copied().collect();
            let s = attendance::summarize(&sheet.members, &sheet.chairs, &cell, &approved);
            t.f.sheets += 1;
            t.f.attendance_expected += s.expected as u64;
            t.f.attendance_present += s.present as u64;
            t.f.unapproved_absences += s.unexcused as u64;
            t.f.chair_problems += u64::from(!s.chair_problems.is_empty());
        }
        let at = parse_ts(&m.scheduled_at).map_err(DomainError::internal)?;
        if let Some(first) = &m.first_document_at {
            let stored = parse_ts(first).map_err(DomainError::internal)?;
            t.f.documents_in_advance += u64::from(at - stored >= advance);
        }
        if let Some(filed) = &m.minutes_at {
            t.f.minutes_filed += 1;
            t.minutes_days.push(days_between(&date, filed)?);
        }
        if let Some(score) = m.score {
            t.scores.push(score);
        }
        if m.kind == "regular" && m.committee_scheduled {
            t.f.committee_expected += 1;
            let before = meetings
                .iter()
                .any(|c| c.org == m.org && c.kind == "committee" && c.held && c.scheduled_at < m.scheduled_at);
            t.f.committee_before += u64::from(before);
        }
    }
    let target = app.config.reports.attendance_target;
    Ok(by_org.into_iter().map(|(org, t)| (org, t.finish(target))).collect())
}

/// One org's figures while they are being counted.
#[derive(Default)]
struct Tally {
    f: RecordFigures,
    minutes_days: Vec<i64>,
    scores: Vec<u8>,
}

impl Tally {
    fn finish(mut self, target: f64) -> RecordFigures {
        let f = &mut self.f;
        if f.sheets > 0 && f.attendance_expected > 0 {
            let rate = (f.attendance_present as f64 * 1000.0 / f.attendance_expected as f64).round() / 10.0;
            f.attendance_rate = Some(rate);
            f.attendance_below_target = rate < target;
        } else if f.sheets > 0 {
            f.attendance_rate = Some(100.0);
        }
        self.minutes_days.sort_unstable();
        f.minutes_median_days = median(&self.minutes_days);
        f.evaluated = self.scores.len() as u64;
        if !self.scores.is_empty() {
            let sum: u64 = self.scores.iter().map(|&s| u64::from(s)).sum();
            f.mean_score = Some((sum as f64 * 100.0 / self.scores.len() as f64).round() / 100.0);
        }
        self.f
    }
}

/// The median of sorted whole days.
fn median(sorted: &[i64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2] as f64),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0),
    }
}

/// Whole local days from the meeting's date to when `ts` happened (0 the same day).
fn days_between(meeting_date: &str, ts: &str) -> Result<i64, DomainError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day = time::Date::parse(meeting_date, format).map_err(DomainError::internal)?;
    let filed = parse_ts(ts).map_err(DomainError::internal)?.to_offset(OFFSET).date();
    Ok((filed - day).whole_days())
}

/// The latest sheet of every meeting that has one, read from the store.
async fn latest_sheets(
    app: &App,
    meetings: &[RecordMeetingRow],
) -> Result<HashMap<MeetingId, StoredSheet>, DomainError> {
    // Owned first: a stream over borrowing closures makes the future not Send.
    let wanted: Vec<(MeetingId, String)> =
        meetings.iter().filter_map(|m| Some((m.meeting, m.sheet_meta.clone()?))).collect();
    futures::stream::iter(wanted)
        .map(|(meeting, meta)| async move {
            let meta: RecordMeta = serde_json::from_str(&meta).map_err(DomainError::internal)?;
            let bytes = archive::record::read_all(&app.vault, &meeting.to_string(), &meta).await?;
            let sheet: StoredSheet = serde_json::from_slice(&bytes).map_err(DomainError::internal)?;
            Ok::<_, DomainError>((meeting, sheet))
        })
        .buffer_unordered(SHEETS_IN_FLIGHT)
        .try_collect()
        .await
}

pub use crate::catalog::ComplianceRow;

/// Per org of the subtree at `path` that lies in `scope`: the month's counts. `month` is `YYYY-MM`, local time.
pub fn compliance(
    repo: &dyn Repo,
    (path, scope): (&str, &Scope),
    month: &str,
    now: OffsetDateTime,
    grace: time::Duration,
) -> Result<Vec<ComplianceRow>, DomainError> {
    let (start, end) = month_bounds(month)?;
    let missed_by = format_ts(now - grace);
    Ok(repo.compliance(path, scope, &start, &end, &missed_by)?)
}

/// The report as CSV (header, one line per org; text quoted and guarded).
pub fn to_csv(rows: &[ReportRow]) -> String {
    // A byte-order mark: Excel reads the file as UTF-8 (Vietnamese names intact).
    let mut out = String::from(
        "\u{feff}org,org_name,expected,held,recorded,sealed,transcribed,missing,\
         sheets,attendance_expected,attendance_present,attendance_rate,attendance_below_target,\
         unapproved_absences,chair_problems,documents_in_advance,minutes_filed,minutes_median_days,\
         committee_expected,committee_before,evaluated,mean_score\r\n",
    );
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for r in rows {
        let (c, f) = (&r.counts, &r.record);
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
            csv_cell(&c.org),
            csv_cell(&c.org_name),
            c.expected,
            c.held,
            c.recorded,
            c.sealed,
            c.transcribed,
            c.missing,
            f.sheets,
            f.attendance_expected,
            f.attendance_present,
            opt(f.attendance_rate),
            f.attendance_below_target,
            f.unapproved_absences,
            f.chair_problems,
            f.documents_in_advance,
            f.minutes_filed,
            opt(f.minutes_median_days),
            f.committee_expected,
            f.committee_before,
            f.evaluated,
            opt(f.mean_score),
        ));
    }
    out
}

/// One text cell: quoted, and a cell a spreadsheet would run as a formula
/// (starting `=`, `+`, `-`, `@`, tab or carriage return) is prefixed with `'`,
/// so a name typed by a user never becomes a formula on an inspector's machine.
pub fn csv_cell(text: &str) -> String {
    let guarded =
        if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_string() };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::{csv_cell, median, Tally};

    #[test]
    fn report_rate_is_rounded_to_a_tenth_and_flagged_under_target() {
        let mut t = Tally::default();
        t.f.sheets = 1;
        t.f.attendance_expected = 12;
        t.f.attendance_present = 10;
        let f = t.finish(90.0);
        assert_eq!(f.attendance_rate, Some(83.3));
        assert!(f.attendance_below_target);
        let mut t = Tally::default();
        (t.f.sheets, t.f.attendance_expected, t.f.attendance_present) = (2, 20, 18);
        let f = t.finish(90.0);
        assert_eq!((f.attendance_rate, f.attendance_below_target), (Some(90.0), false), "90 % meets the target");
        let f = Tally::default().finish(90.0);
        assert_eq!((f.attendance_rate, f.attendance_below_target), (None, false), "no sheet, no rate");
    }

    #[test]
    fn report_median_and_mean_score() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1, 2, 9]), Some(2.0));
        assert_eq!(median(&[1, 2, 3, 9]), Some(2.5));
        let t = Tally { scores: vec![4, 5, 5], ..Tally::default() };
        let f = t.finish(90.0);
        assert_eq!((f.evaluated, f.mean_score), (3, Some(4.67)));
    }

    #[test]
    fn formulas_and_quotes_never_escape_their_cell() {
        assert_eq!(csv_cell("Chi bộ Thanh tra"), "\"Chi bộ Thanh tra\"");
        assert_eq!(csv_cell("=HYPERLINK(\"http://x\",\"y\")"), "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
        for lead in ["+1", "-1+2", "@SUM(A1)", "\tx", "\rx"] {
            assert!(csv_cell(lead).starts_with("\"'"), "{lead:?}");
        }
        assert_eq!(csv_cell("a,b\nc"), "\"a,b\nc\"");
    }
}
