//! The compliance report: per org of a subtree and per local month, meetings
//! expected (scheduled), held (a recording began), recorded (bytes arrived),
//! sealed, transcribed and missed; as rows for the page and JSON, or CSV. Only
//! the rows in the caller's scope are read.

use crate::app::App;
use crate::catalog::{self, Repo, Scope};
use crate::error::DomainError;
use crate::local_time::OFFSET;
use crate::principal::{Principal, Role};
use crate::schema::OrgId;
use archive::clock::format_ts;
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
    let scope = Scope::of(who);
    catalog::read(&app.vault.catalog, move |repo| compliance(repo, (&path, &scope), &month, now, grace)).await
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
    Ok(repo.compliance(path, scope, &start, &end, &missed_by)?)
}

/// The report as CSV (header, one line per org; names quoted).
pub fn to_csv(rows: &[ComplianceRow]) -> String {
    // A byte-order mark: Excel reads the file as UTF-8 (Vietnamese names intact).
    let mut out = String::from("\u{feff}org,org_name,expected,held,recorded,sealed,transcribed,missing\r\n");
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{}\r\n",
            csv_cell(&r.org),
            csv_cell(&r.org_name),
            r.expected,
            r.held,
            r.recorded,
            r.sealed,
            r.transcribed,
            r.missing
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
    use super::csv_cell;

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
