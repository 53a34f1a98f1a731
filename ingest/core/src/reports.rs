//! The compliance report: per org of a subtree and per local month, meetings
//! expected (scheduled), held (a recording began), recorded (bytes arrived),
//! sealed, transcribed and missed; as rows for the page and JSON, or CSV. Only
//! the rows in the caller's scope are read.

use crate::app::App;
use crate::error::DomainError;
use crate::local_time::OFFSET;
use crate::principal::{Principal, Role};
use crate::schema::OrgId;
use archive::clock::format_ts;
use rusqlite::params;
use serde::Serialize;
use time::OffsetDateTime;

/// The report of `org`'s subtree for `month` (`YYYY-MM`), only the rows in the
/// caller's scope. An inspector may ask for an org in their scope or above it (a
/// base committee over their cells: the rows are their cells'), no other.
pub async fn compliance_of(
    app: &App,
    who: &Principal,
    org: OrgId,
    month: String,
) -> Result<Vec<ComplianceRow>, DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor])?;
    let path = crate::orgs::path_of(app, org).await?;
    who.require_scope_or_above(&path)?;
    rows(app, who, path, month).await
}

/// The compliance rows of the subtree at `path` in the caller's scope (the API's
/// and the report page's one query).
pub async fn rows(app: &App, who: &Principal, path: String, month: String) -> Result<Vec<ComplianceRow>, DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor])?;
    let (now, grace) = (app.vault.clock.now(), time::Duration::minutes(app.config.alerts.grace_minutes as i64));
    let scope = who.scope_json();
    app.vault.catalog.call(move |c| compliance(c, (&path, scope), &month, now, grace)).await
}

#[derive(Debug, Clone, Serialize)]
pub struct ComplianceRow {
    pub org: String,
    pub org_name: String,
    pub org_path: String,
    pub expected: u64,
    pub held: u64,
    pub recorded: u64,
    pub sealed: u64,
    pub transcribed: u64,
    pub missing: u64,
}

/// Per org of the subtree at `path` that lies in `scope`
/// ([`crate::principal::Principal::scope_json`]; `None` for every org): the month's
/// counts. `month` is `YYYY-MM`, local time.
pub fn compliance(
    c: &rusqlite::Connection,
    (path, scope): (&str, Option<String>),
    month: &str,
    now: OffsetDateTime,
    grace: time::Duration,
) -> Result<Vec<ComplianceRow>, DomainError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let first =
        time::Date::parse(&format!("{month}-01"), format).map_err(|_| DomainError::invalid("month must be YYYY-MM"))?;
    let next = first
        .checked_add(time::Duration::days(32))
        .and_then(|d| d.replace_day(1).ok())
        .ok_or_else(|| DomainError::invalid("month out of range"))?;
    let start = format_ts(first.midnight().assume_offset(OFFSET));
    let end = format_ts(next.midnight().assume_offset(OFFSET));
    let missed_by = format_ts(now - grace);
    let sql = format!(
        "SELECT o.id, o.name, o.path,
                COUNT(m.id),
                COALESCE(SUM(m.recording IS NOT NULL), 0),
                COALESCE(SUM(EXISTS (SELECT 1 FROM streams s WHERE s.recording = m.recording AND s.length > 0)), 0),
                COALESCE(SUM(r.state IN ('sealed', 'shredded')), 0),
                COALESCE(SUM(EXISTS (SELECT 1 FROM transcripts t WHERE t.recording = m.recording AND t.state = 'stored')), 0),
                COALESCE(SUM(m.id IS NOT NULL AND m.recording IS NULL AND m.scheduled_at <= ?4), 0)
         FROM orgs o
         LEFT JOIN meetings m ON m.org = o.id AND m.scheduled_at >= ?2 AND m.scheduled_at < ?3
         LEFT JOIN recordings r ON r.id = m.recording
         WHERE (o.path = ?1 OR substr(o.path, 1, length(?1) + 1) = ?1 || '/') AND {}
         GROUP BY o.id ORDER BY o.path",
        crate::principal::in_scope_sql("o.path", 5)
    );
    let mut stmt = c.prepare(&sql)?;
    let rows = stmt.query_map(params![path, start, end, missed_by, scope], |r| {
        Ok(ComplianceRow {
            org: r.get(0)?,
            org_name: r.get(1)?,
            org_path: r.get(2)?,
            expected: r.get(3)?,
            held: r.get(4)?,
            recorded: r.get(5)?,
            sealed: r.get(6)?,
            transcribed: r.get(7)?,
            missing: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The report as CSV (header, one line per org; names quoted).
pub fn to_csv(rows: &[ComplianceRow]) -> String {
    let mut out = String::from("org,org_name,expected,held,recorded,sealed,transcribed,missing\n");
    for r in rows {
        let name = r.org_name.replace('"', "\"\"");
        out.push_str(&format!(
            "{},\"{name}\",{},{},{},{},{},{}\n",
            r.org, r.expected, r.held, r.recorded, r.sealed, r.transcribed, r.missing
        ));
    }
    out
}
