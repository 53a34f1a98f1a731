//! Attendance (the meeting record, storage format v4): who was expected at a
//! meeting, who came to which bridge point (*điểm cầu*), who was excused, and
//! who chaired each point.
//!
//! - A sheet is filled by the cell's secretary, a recorder in scope or an
//!   admin. Every version, the first and each correction (which must say why),
//!   is a new sealed record object of class `attendance` (the whole sheet as
//!   JSON, member ids only) with its own `record.attendance.stored` entry:
//!   never overwritten, so an inspection sees every change, who made it, and
//!   why (the reason sealed under the note key, as free text may name people).
//! - Every member id a sheet names must belong to the meeting's cell on the
//!   meeting's local date, or nothing is written.
//! - The summary is derived, never taken from the sheet: the expected members
//!   are the cell's non-exempt members on the day; an absence counts as
//!   approved only when an absence request was approved, whatever the sheet
//!   says (issue 15: "an absence without an approved request counts as
//!   unapproved"); a point's chair who is not the cell's secretary or deputy is
//!   flagged.
//! - Absence requests are filed for a member by the secretary or an admin and
//!   decided by the cell's secretary or an admin (`absence.requested`,
//!   `absence.decided`); the reason is sealed like any other personal fact.

use crate::app::App;
use crate::catalog::{self, AbsenceRow, AttendanceRow, Scope};
use crate::error::DomainError;
use crate::principal::{Principal, Role};
use crate::schema::{AbsenceId, MeetingId, MemberId, OrgId};
use archive::id::RecordObjectId;
use archive::ledger::NewEntry;
use archive::record::RecordMeta;
use archive::vault::VaultError;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The most lines one sheet takes: a cell, not a province.
pub const MAX_LINES: usize = 2000;

/// One member's attendance as the sheet records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Present,
    Late,
    LeftEarly,
    /// Absent with approved leave (counted so only with an approved request).
    AbsentApproved,
    /// Absent, leave requested but not approved.
    AbsentRequested,
    AbsentUnexcused,
}

impl Status {
    fn attended(self) -> bool {
        matches!(self, Status::Present | Status::Late | Status::LeftEarly)
    }
}

/// One line of a sheet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub member: MemberId,
    pub status: Status,
    /// The bridge point (endpoint id or its label) where they attended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point: Option<String>,
    /// How late, for `late`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_minutes: Option<u32>,
}

/// A bridge point's chair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chair {
    pub point: String,
    pub member: MemberId,
}

/// A sheet as the API and the page send it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSheet {
    pub members: Vec<Line>,
    #[serde(default)]
    pub chairs: Vec<Chair>,
    /// Required for a correction (every version after the first).
    #[serde(default)]
    pub reason: Option<String>,
}

/// What the record object holds: the sheet, member ids only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredSheet {
    pub meeting: MeetingId,
    pub version: u32,
    pub members: Vec<Line>,
    pub chairs: Vec<Chair>,
}

/// A member of the cell on the meeting's day, as the rules need them.
#[derive(Debug, Clone)]
pub struct Expected {
    pub member: MemberId,
    pub role: String,
    pub exempt: bool,
}

/// A point whose chair is not the cell's secretary or deputy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChairProblem {
    pub point: String,
    pub member: MemberId,
    /// The chair's role in the cell.
    pub role: String,
}

/// The sheet's summary, derived by the rules above.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The cell's non-exempt members on the day.
    pub expected: usize,
    /// Of them, present, late or left early.
    pub present: usize,
    /// present / expected, in percent to one decimal (100 with nobody expected).
    pub rate: f64,
    pub late: usize,
    pub left_early: usize,
    /// Absent with an approved request.
    pub absent_approved: usize,
    /// Absent with a request not (or not yet) approved: also unexcused.
    pub absent_requested: usize,
    /// Absent without an approved request, or not on the sheet.
    pub unexcused: usize,
    pub unexcused_members: Vec<MemberId>,
    /// Expected members the sheet leaves out (counted unexcused).
    pub missing: Vec<MemberId>,
    /// Exempt members: listed, never counted.
    pub exempt: usize,
    pub chair_problems: Vec<ChairProblem>,
}

fn check_point(p: &str) -> Result<String, DomainError> {
    let p = p.trim();
    if p.is_empty() || p.chars().count() > 100 || p.chars().any(char::is_control) {
        return Err(DomainError::invalid("a bridge point must be 1 to 100 characters without control characters"));
    }
    Ok(p.to_string())
}

/// Checks a sheet against the cell's members on the day: every id known and in
/// the cell, each member once, a point for whoever attended, minutes for late.
pub fn validate(sheet: &NewSheet, cell: &[Expected]) -> Result<(Vec<Line>, Vec<Chair>), DomainError> {
    if sheet.members.len() > MAX_LINES {
        return Err(DomainError::invalid(format!("a sheet takes at most {MAX_LINES} members")));
    }
    let known: BTreeSet<MemberId> = cell.iter().map(|e| e.member).collect();
    let mut seen = BTreeSet::new();
    let mut lines = Vec::with_capacity(sheet.members.len());
    for l in &sheet.members {
        if !known.contains(&l.member) {
            return Err(DomainError::invalid(format!(
                "member {} is not a member of this meeting's cell on its date",
                l.member
            )));
        }
        if !seen.insert(l.member) {
            return Err(DomainError::invalid(format!("member {} is on the sheet twice", l.member)));
        }
        let point = match (&l.point, l.status.attended()) {
            (Some(p), _) => Some(check_point(p)?),
            (None, true) => {
                return Err(DomainError::invalid(format!("member {} attended: say at which bridge point", l.member)))
            }
            (None, false) => None,
        };
        let late_minutes = match (l.status, l.late_minutes) {
            (Status::Late, Some(m)) if (1..=24 * 60).contains(&m) => Some(m),
            (Status::Late, _) => {
                return Err(DomainError::invalid(format!("member {} is late: give 1 to 1440 minutes", l.member)))
            }
            (_, Some(_)) => {
                return Err(DomainError::invalid(format!("member {}: late_minutes only for late", l.member)))
            }
            (_, None) => None,
        };
        lines.push(Line { member: l.member, status: l.status, point, late_minutes });
    }
    let mut points = BTreeSet::new();
    let mut chairs = Vec::with_capacity(sheet.chairs.len());
    for c in &sheet.chairs {
        if !known.contains(&c.member) {
            return Err(DomainError::invalid(format!(
                "chair {} is not a member of this meeting's cell on its date",
                c.member
            )));
        }
        let point = check_point(&c.point)?;
        if !points.insert(point.clone()) {
            return Err(DomainError::invalid(format!("bridge point {point:?} has two chairs")));
        }
        chairs.push(Chair { point, member: c.member });
    }
    Ok((lines, chairs))
}

/// The summary of a sheet, by the rules in the module's comment. `approved`:
/// the members with an approved absence request for this meeting.
pub fn summarize(lines: &[Line], chairs: &[Chair], cell: &[Expected], approved: &BTreeSet<MemberId>) -> Summary {
    let by_member: BTreeMap<MemberId, &Line> = lines.iter().map(|l| (l.member, l)).collect();
    let mut s = Summary {
        expected: 0,
        present: 0,
        rate: 100.0,
        late: 0,
        left_early: 0,
        absent_approved: 0,
        absent_requested: 0,
        unexcused: 0,
        unexcused_members: Vec::new(),
        missing: Vec::new(),
        exempt: 0,
        chair_problems: Vec::new(),
    };
    for e in cell {
        if e.exempt {
            s.exempt += 1;
            continue;
        }
        s.expected += 1;
        let status = by_member.get(&e.member).map(|l| l.status);
        match status {
            Some(st) if st.attended() => {
                s.present += 1;
                s.late += usize::from(st == Status::Late);
                s.left_early += usize::from(st == Status::LeftEarly);
                continue;
            }
            None => s.missing.push(e.member),
            Some(_) => {}
        }
        if approved.contains(&e.member) {
            s.absent_approved += 1;
        } else {
            if status == Some(Status::AbsentRequested) {
                s.absent_requested += 1;
            }
            s.unexcused += 1;
            s.unexcused_members.push(e.member);
        }
    }
    if s.expected > 0 {
        s.rate = (s.present as f64 * 1000.0 / s.expected as f64).round() / 10.0;
    }
    let roles: BTreeMap<MemberId, &str> = cell.iter().map(|e| (e.member, e.role.as_str())).collect();
    for c in chairs {
        let role = roles.get(&c.member).copied().unwrap_or("none");
        if !matches!(role, "secretary" | "deputy") {
            s.chair_problems.push(ChairProblem { point: c.point.clone(), member: c.member, role: role.to_string() });
        }
    }
    s
}

/// The local date (`YYYY-MM-DD`) of a meeting scheduled at `scheduled_at`.
pub fn local_date(scheduled_at: &str) -> Result<String, DomainError> {
    let at = archive::clock::parse_ts(scheduled_at).map_err(DomainError::internal)?;
    let d = at.to_offset(crate::local_time::OFFSET).date();
    Ok(format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()))
}

/// A meeting's cell and the local date it is held on.
async fn meeting_cell(app: &App, meeting: MeetingId) -> Result<(OrgId, String), DomainError> {
    let m = catalog::read(&app.vault.catalog, move |repo| repo.meeting(meeting).map_err(DomainError::from))
        .await?
        .ok_or_else(|| DomainError::not_found(format!("meeting {meeting} not found")))?;
    let org: OrgId = m.org.parse().map_err(DomainError::internal)?;
    Ok((org, local_date(&m.scheduled_at)?))
}

/// Of `memberships` (history included), the members of `org` on `date`
/// (local, `YYYY-MM-DD`), exempt ones included: the one rule the sheet, the
/// page and the report share.
pub fn cell_from<'a>(
    memberships: impl IntoIterator<Item = &'a catalog::Membership>,
    org: OrgId,
    date: &str,
) -> Vec<Expected> {
    memberships
        .into_iter()
        .filter(|m| m.org == org && m.joined.as_str() <= date && m.left.as_deref().is_none_or(|l| l > date))
        .map(|m| Expected { member: m.member, role: m.role.clone(), exempt: m.exempt })
        .collect()
}

/// The cell's members on `date` (local, `YYYY-MM-DD`), exempt ones included.
async fn cell_on(app: &App, org: OrgId, date: String) -> Result<Vec<Expected>, DomainError> {
    catalog::read(&app.vault.catalog, move |repo| {
        let path = repo.org_path(org)?.ok_or_else(|| DomainError::not_found(format!("org {org} not found")))?;
        let rows = repo.roster(&path, true, &Scope::All)?;
        Ok(cell_from(rows.iter().map(|r| &r.membership), org, &date))
    })
    .await
}

fn check_reason(r: Option<&str>) -> Result<Option<String>, DomainError> {
    match r.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(r) if r.chars().count() <= 2000 && !r.chars().any(|c| c.is_control() && c != '\n') => {
            Ok(Some(r.to_string()))
        }
        Some(_) => Err(DomainError::invalid("a reason must be at most 2000 characters without control characters")),
    }
}

/// One stored version, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct Version {
    pub version: u32,
    pub object: RecordObjectId,
    pub stored_at: String,
    pub stored_by: String,
    pub reason: Option<String>,
    /// SHA-256 of the sheet's JSON as stored.
    pub sha256: String,
}

/// A member's absence request as callers see it.
#[derive(Debug, Clone, Serialize)]
pub struct Absence {
    pub id: AbsenceId,
    pub meeting: MeetingId,
    pub member: MemberId,
    pub reason: String,
    pub requested_at: String,
    pub requested_by: String,
    /// `null` until decided.
    pub approved: Option<bool>,
    pub late: bool,
    pub decided_at: Option<String>,
    pub decided_by: Option<String>,
    /// The written report, if one was filed (the latest): download it as a
    /// meeting document by its id.
    pub report: Option<ReportRef>,
}

/// A filed absence report, by its document id and hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportRef {
    pub id: RecordObjectId,
    /// SHA-256 of the file as uploaded.
    pub sha256: String,
}

/// A meeting's attendance: the latest sheet with its summary, every version,
/// and the absence requests.
#[derive(Debug, Clone, Serialize)]
pub struct AttendanceView {
    pub meeting: MeetingId,
    /// The latest sheet; `null` before the first.
    pub sheet: Option<StoredSheet>,
    pub summary: Summary,
    pub versions: Vec<Version>,
    pub absences: Vec<Absence>,
}

fn open_sealed(app: &App, meeting: MeetingId, sealed: &str, field: &str) -> Result<Option<String>, DomainError> {
    if sealed.is_empty() {
        return Ok(None);
    }
    let note: archive::keys::WrappedDek = serde_json::from_str(sealed).map_err(DomainError::internal)?;
    let plain = app.vault.keys.open_note(&format!("meeting/{meeting}"), &note).map_err(DomainError::internal)?;
    let v: serde_json::Value = serde_json::from_slice(&plain).map_err(DomainError::internal)?;
    Ok(v.get(field).and_then(|r| r.as_str()).map(str::to_string))
}

/// The SHA-256 of each absence report of a meeting, by its object id.
async fn report_hashes(app: &App, meeting: MeetingId) -> Result<BTreeMap<RecordObjectId, String>, DomainError> {
    let rows =
        catalog::read(&app.vault.catalog, move |repo| repo.documents(meeting).map_err(DomainError::from)).await?;
    let mut out = BTreeMap::new();
    for r in rows.into_iter().filter(|r| r.kind == REPORT_KIND) {
        let meta: RecordMeta = serde_json::from_str(&r.meta).map_err(DomainError::internal)?;
        out.insert(r.id, meta.sha256);
    }
    Ok(out)
}

fn absence_view(app: &App, r: AbsenceRow, reports: &BTreeMap<RecordObjectId, String>) -> Result<Absence, DomainError> {
    let reason = open_sealed(app, r.meeting, &r.sealed, "reason")?.unwrap_or_default();
    let report = r.report.map(|id| ReportRef { id, sha256: reports.get(&id).cloned().unwrap_or_default() });
    Ok(Absence {
        id: r.id,
        meeting: r.meeting,
        member: r.member,
        reason,
        requested_at: r.requested_at,
        requested_by: r.requested_by,
        approved: r.approved,
        late: r.late,
        decided_at: r.decided_at,
        decided_by: r.decided_by,
        report,
    })
}

/// Stores a new version of the meeting's sheet (the cell's secretary, a
/// recorder in scope, admins). Nothing is written if any id is wrong.
pub async fn put(app: &Arc<App>, who: &Principal, meeting: MeetingId, sheet: NewSheet) -> Result<Version, DomainError> {
    who.require(&[Role::Admin, Role::Secretary, Role::Recorder])?;
    who.require_meeting(app, meeting).await?;
    let (org, date) = meeting_cell(app, meeting).await?;
    let cell = cell_on(app, org, date).await?;
    let (members, chairs) = validate(&sheet, &cell)?;
    let reason = check_reason(sheet.reason.as_deref())?;
    let current = catalog::read(&app.vault.catalog, move |repo| {
        repo.attendance_versions(meeting).map(|v| v.len() as u32).map_err(DomainError::from)
    })
    .await?;
    let version = current + 1;
    if version > 1 && reason.is_none() {
        return Err(DomainError::invalid("a correction needs a reason: say why the sheet changes"));
    }
    let stored = StoredSheet { meeting, version, members, chairs };
    let body = serde_json::to_vec(&stored).map_err(DomainError::internal)?;
    let meta = crate::versions::seal(app, meeting, &body).await?;
    let subject = format!("meeting/{meeting}");
    let mut data = meta.to_data();
    if let Some(d) = data.as_object_mut() {
        d.insert("version".into(), json!(version));
    }
    let mut sealed = String::new();
    if let Some(r) = &reason {
        crate::facts::seal_into(&app.vault.keys, &subject, &mut data, json!({ "reason": r }))?;
        sealed = data.get("sealed").map(|s| s.to_string()).unwrap_or_default();
    }
    let row = AttendanceRow {
        id: meta.object,
        meeting,
        version,
        sealed,
        meta: serde_json::to_string(&meta).map_err(DomainError::internal)?,
        stored_at: app.vault.now(),
        stored_by: who.actor(),
    };
    let entry = NewEntry { actor: who.actor(), action: "record.attendance.stored", subject, data };
    let entry = crate::versions::commit(app, meeting, &meta, entry, move |repo| {
        // Another version committed since this one was numbered: refuse, so
        // numbers stay dense and each correction answers the one it saw.
        if repo.attendance_versions(meeting)?.len() as u32 != version - 1 {
            return Err(VaultError::Conflict("the sheet changed meanwhile: reload it and try again".into()));
        }
        Ok(repo.insert_attendance(&row)?)
    })
    .await?;
    let (id, ts) = (meta.object, entry.ts.clone());
    catalog::read(&app.vault.catalog, move |repo| repo.set_attendance_time(id, &ts).map_err(DomainError::from)).await?;
    Ok(Version {
        version,
        object: meta.object,
        stored_at: entry.ts,
        stored_by: who.actor(),
        reason,
        sha256: meta.sha256,
    })
}

/// Who may read a meeting's attendance: admins; inspectors, the cell's
/// secretary and recorders in scope (a recorder files the sheet from the
/// bridge point, and sees the people in the room anyway).
const READERS: &[Role] = &[Role::Admin, Role::Inspector, Role::Secretary, Role::Recorder];

/// The meeting's attendance (admins; inspectors, the cell's secretary and recorders in scope).
pub async fn get(app: &App, who: &Principal, meeting: MeetingId) -> Result<AttendanceView, DomainError> {
    who.require(READERS)?;
    who.require_meeting(app, meeting).await?;
    let (org, date) = meeting_cell(app, meeting).await?;
    let cell = cell_on(app, org, date).await?;
    let (rows, absences) = catalog::read(&app.vault.catalog, move |repo| {
        Ok::<_, DomainError>((repo.attendance_versions(meeting)?, repo.absences(meeting)?))
    })
    .await?;
    let approved: BTreeSet<MemberId> = absences.iter().filter(|a| a.approved == Some(true)).map(|a| a.member).collect();
    let mut versions = Vec::with_capacity(rows.len());
    for r in &rows {
        let meta: RecordMeta = serde_json::from_str(&r.meta).map_err(DomainError::internal)?;
        versions.push(Version {
            version: r.version,
            object: r.id,
            stored_at: r.stored_at.clone(),
            stored_by: r.stored_by.clone(),
            reason: open_sealed(app, meeting, &r.sealed, "reason")?,
            sha256: meta.sha256,
        });
    }
    let sheet = match rows.last() {
        Some(r) => {
            let meta: RecordMeta = serde_json::from_str(&r.meta).map_err(DomainError::internal)?;
            let bytes = archive::record::read_all(&app.vault, &meeting.to_string(), &meta).await?;
            Some(serde_json::from_slice::<StoredSheet>(&bytes).map_err(DomainError::internal)?)
        }
        None => None,
    };
    let summary = match &sheet {
        Some(s) => summarize(&s.members, &s.chairs, &cell, &approved),
        None => summarize(&[], &[], &cell, &approved),
    };
    let reports = report_hashes(app, meeting).await?;
    let absences = absences.into_iter().map(|a| absence_view(app, a, &reports)).collect::<Result<_, _>>()?;
    Ok(AttendanceView { meeting, sheet, summary, versions, absences })
}

/// What a sheet is filled with: the meeting's cell on its date, names opened
/// in memory for this reader only, and the cell's bridge points.
#[derive(Debug, Clone)]
pub struct SheetContext {
    pub meeting: MeetingId,
    pub title: String,
    /// When the meeting is held (RFC 3339).
    pub scheduled_at: String,
    /// The cell's members on the meeting's local date, exempt ones included.
    pub members: Vec<crate::members::Member>,
    /// The names of the cell's endpoints (bridge points), revoked ones too, as
    /// a past meeting may have used one since revoked.
    pub points: Vec<String>,
}

/// The members and bridge points a sheet of `meeting` names, for those who may
/// read its attendance ([`get`]'s callers): two catalog reads, no store read.
pub async fn context(app: &App, who: &Principal, meeting: MeetingId) -> Result<SheetContext, DomainError> {
    who.require(READERS)?;
    who.require_meeting(app, meeting).await?;
    let m = catalog::read(&app.vault.catalog, move |repo| repo.meeting(meeting).map_err(DomainError::from))
        .await?
        .ok_or_else(|| DomainError::not_found(format!("meeting {meeting} not found")))?;
    let (org, date) = meeting_cell(app, meeting).await?;
    let (path, points) = catalog::read(&app.vault.catalog, move |repo| {
        let path = repo.org_path(org)?.ok_or_else(|| DomainError::not_found(format!("org {org} not found")))?;
        let points = repo.endpoints(Some(org), &Scope::All)?.into_iter().map(|e| e.name).collect::<Vec<_>>();
        Ok::<_, DomainError>((path, points))
    })
    .await?;
    let members = crate::members::list_in(&app.vault, path, true, Scope::All)
        .await?
        .into_iter()
        .filter(|m| m.org == org && m.joined <= date && m.left.as_ref().is_none_or(|l| *l > date))
        .collect();
    Ok(SheetContext { meeting, title: m.title, scheduled_at: m.scheduled_at, members, points })
}

/// An absence request as filed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAbsence {
    pub member: MemberId,
    pub reason: String,
}

/// Files a member's absence request (the cell's secretary, admins).
pub async fn request(app: &App, who: &Principal, meeting: MeetingId, new: NewAbsence) -> Result<Absence, DomainError> {
    who.require(&[Role::Admin, Role::Secretary])?;
    who.require_meeting(app, meeting).await?;
    let reason = check_reason(Some(&new.reason))?.ok_or_else(|| DomainError::invalid("give the absence's reason"))?;
    let (org, date) = meeting_cell(app, meeting).await?;
    let cell = cell_on(app, org, date).await?;
    if !cell.iter().any(|e| e.member == new.member) {
        return Err(DomainError::invalid(format!(
            "member {} is not a member of this meeting's cell on its date",
            new.member
        )));
    }
    let id = AbsenceId::new();
    let subject = format!("meeting/{meeting}");
    let mut data = json!({ "absence": id, "member": new.member });
    crate::facts::seal_into(&app.vault.keys, &subject, &mut data, json!({ "reason": reason }))?;
    let row = AbsenceRow {
        id,
        meeting,
        member: new.member,
        sealed: data.get("sealed").map(|s| s.to_string()).unwrap_or_default(),
        requested_at: app.vault.now(),
        requested_by: who.actor(),
        approved: None,
        late: false,
        decided_at: None,
        decided_by: None,
        report: None,
    };
    let entry = NewEntry { actor: who.actor(), action: "absence.requested", subject, data };
    let stored = row.clone();
    let (_, entry) =
        catalog::commit(&app.vault, entry, move |repo| Ok::<_, VaultError>(repo.insert_absence(&stored)?)).await?;
    // The entry's time, as a restore from the ledger will have it.
    let mut row = row;
    row.requested_at = entry.ts.clone();
    let ts = entry.ts;
    catalog::read(&app.vault.catalog, move |repo| {
        repo.set_absence_time(id, Some(&ts), None).map_err(DomainError::from)
    })
    .await?;
    absence_view(app, row, &BTreeMap::new())
}

/// A decision on an absence request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub approve: bool,
    /// Decided after the meeting began.
    #[serde(default)]
    pub late: bool,
}

/// Approves or refuses a request, once (the cell's secretary, admins).
pub async fn decide(app: &App, who: &Principal, id: AbsenceId, d: Decision) -> Result<Absence, DomainError> {
    who.require(&[Role::Admin, Role::Secretary])?;
    let found = catalog::read(&app.vault.catalog, move |repo| repo.absence(id).map_err(DomainError::from)).await?;
    let row = found.ok_or_else(|| DomainError::not_found(format!("absence request {id} not found")))?;
    // Out of scope reads as not found, so an id does not confirm another cell's request.
    if who.require_meeting(app, row.meeting).await.is_err() {
        return Err(DomainError::not_found(format!("absence request {id} not found")));
    }
    if row.approved.is_some() {
        return Err(DomainError::conflict(format!("absence request {id} is already decided")));
    }
    let entry = NewEntry {
        actor: who.actor(),
        action: "absence.decided",
        subject: format!("meeting/{}", row.meeting),
        data: json!({ "absence": id, "member": row.member, "approved": d.approve, "late": d.late }),
    };
    let (by, at) = (who.actor(), app.vault.now());
    let (by2, at2) = (by.clone(), at.clone());
    let (_, entry) = catalog::commit(&app.vault, entry, move |repo| {
        if !repo.decide_absence(id, d.approve, d.late, &by2, &at2)? {
            return Err(VaultError::Conflict(format!("absence request {id} is already decided")));
        }
        Ok(())
    })
    .await?;
    let at = entry.ts;
    let ts = at.clone();
    catalog::read(&app.vault.catalog, move |repo| {
        repo.set_absence_time(id, None, Some(&ts)).map_err(DomainError::from)
    })
    .await?;
    let mut decided = row;
    decided.approved = Some(d.approve);
    decided.late = d.late;
    decided.decided_by = Some(by);
    decided.decided_at = Some(at);
    let reports = report_hashes(app, decided.meeting).await?;
    absence_view(app, decided, &reports)
}

/// The document kind of a written absence report.
pub const REPORT_KIND: &str = "absence_report";

/// What an absence report upload says of itself (query).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    #[serde(default)]
    pub filename: Option<String>,
}

/// Files a member's written absence report (the cell's secretary, admins):
/// streamed, sniffed and sealed like a document, confidential (never through
/// a link), ledgered as `record.absence_report.stored` with the request's and
/// the member's ids only. While the request is undecided, or on the meeting's
/// local day; a later report replaces the request's pointer, and every one is
/// kept.
pub async fn file_report<S, E>(
    app: &Arc<App>,
    who: &Principal,
    id: AbsenceId,
    new: NewReport,
    declared: Option<u64>,
    body: S,
) -> Result<crate::documents::DocumentView, DomainError>
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    who.require(&[Role::Admin, Role::Secretary])?;
    let found = catalog::read(&app.vault.catalog, move |repo| repo.absence(id).map_err(DomainError::from)).await?;
    let row = found.ok_or_else(|| DomainError::not_found(format!("absence request {id} not found")))?;
    // Out of scope reads as not found, so an id does not confirm another cell's request.
    if who.require_meeting(app, row.meeting).await.is_err() {
        return Err(DomainError::not_found(format!("absence request {id} not found")));
    }
    let meeting = row.meeting;
    let scheduled_at = crate::documents::scheduled_at(app, meeting).await?;
    let local = |ts: &str| {
        archive::clock::parse_ts(ts)
            .map(|t| t.to_offset(crate::local_time::OFFSET).date())
            .map_err(DomainError::internal)
    };
    let on_the_day = local(&app.vault.now())? == local(&scheduled_at)?;
    if row.approved.is_some() && !on_the_day {
        return Err(DomainError::conflict(format!(
            "Đơn xin vắng đã được quyết định; báo cáo chỉ nộp trước khi quyết định hoặc trong ngày họp / absence \
             request {id} is already decided: a report is filed before the decision or on the meeting's day"
        )));
    }
    let filename = new.filename.unwrap_or_else(|| "bao-cao-vang-mat".into());
    let (filename, title) = crate::documents::check_names(&filename, Some("Báo cáo vắng mặt"))?;
    let mut data = serde_json::Map::new();
    data.insert("absence".into(), json!(id));
    data.insert("member".into(), json!(row.member));
    let filing = crate::documents::Filing {
        kind: REPORT_KIND.into(),
        confidential: true,
        title,
        filename,
        action: "record.absence_report.stored",
        data,
    };
    let in_commit: crate::documents::InCommit = Box::new(move |repo, object| {
        if !repo.set_absence_report(id, meeting, object)? {
            return Err(VaultError::Missing(format!("absence request {id} not found")));
        }
        Ok(())
    });
    crate::documents::store(app, who, meeting, &scheduled_at, filing, declared, body, in_commit).await
}

/// One meeting of a member's attendance history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryLine {
    pub meeting: MeetingId,
    pub org: String,
    pub kind: String,
    pub scheduled_at: String,
    /// What the latest sheet says; `null`: the sheet leaves them out.
    pub status: Option<Status>,
    pub point: Option<String>,
    /// An absence request for this meeting was approved.
    pub excused: bool,
    /// Exempt from regular activity that day: not counted.
    pub exempt: bool,
}

/// A member's attendance over every meeting with a sheet in the cells they
/// belonged to, while they belonged (admins; inspectors in scope only: out of
/// scope reads as not found, so an id confirms nothing). Names stay in the roster.
pub async fn history(app: &App, who: &Principal, member: MemberId) -> Result<Vec<HistoryLine>, DomainError> {
    who.require(&[Role::Admin, Role::Inspector])?;
    let scope = Scope::of(who);
    let found = catalog::read(&app.vault.catalog, move |repo| {
        let memberships: Vec<catalog::Membership> =
            repo.roster("", true, &scope)?.into_iter().map(|r| r.membership).filter(|m| m.member == member).collect();
        let mut meetings = Vec::new();
        for m in &memberships {
            for meeting in repo.meetings(Some(m.org), &Scope::All)? {
                let date = local_date(&meeting.scheduled_at)?;
                let (Some(sheet), false) = (repo.attendance_versions(meeting.id)?.pop(), date < m.joined) else {
                    continue;
                };
                if m.left.as_ref().is_some_and(|l| date >= *l) {
                    continue;
                }
                let excused = repo.absences(meeting.id)?.iter().any(|a| a.member == member && a.approved == Some(true));
                meetings.push((meeting, sheet.meta, excused, m.exempt));
            }
        }
        Ok::<_, DomainError>((memberships.is_empty(), meetings))
    })
    .await?;
    let (unknown, meetings) = found;
    if unknown {
        return Err(DomainError::not_found(format!("member {member} not found")));
    }
    let mut out = Vec::with_capacity(meetings.len());
    for (meeting, meta, excused, exempt) in meetings {
        let meta: RecordMeta = serde_json::from_str(&meta).map_err(DomainError::internal)?;
        let bytes = archive::record::read_all(&app.vault, &meeting.id.to_string(), &meta).await?;
        let sheet: StoredSheet = serde_json::from_slice(&bytes).map_err(DomainError::internal)?;
        let line = sheet.members.iter().find(|l| l.member == member);
        out.push(HistoryLine {
            meeting: meeting.id,
            org: meeting.org,
            kind: meeting.kind,
            scheduled_at: meeting.scheduled_at,
            status: line.map(|l| l.status),
            point: line.and_then(|l| l.point.clone()),
            excused,
            exempt,
        });
    }
    out.sort_by(|a, b| b.scheduled_at.cmp(&a.scheduled_at));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(n: usize) -> Vec<Expected> {
        (0..n)
            .map(|i| Expected {
                member: MemberId::new(),
                role: match i {
                    0 => "secretary",
                    1 => "deputy",
                    2 => "committee",
                    _ => "member",
                }
                .into(),
                exempt: false,
            })
            .collect()
    }

    fn line(m: MemberId, status: Status) -> Line {
        let point = status.attended().then(|| "point-a".to_string());
        let late_minutes = (status == Status::Late).then_some(10);
        Line { member: m, status, point, late_minutes }
    }

    /// 12 expected, 10 present (one late), one approved, one not: 83.3 %, one
    /// unexcused; an exempt member is listed but counts nowhere.
    #[test]
    fn attendance_rate_leaves_exempt_members_out() {
        let mut c = cell(13);
        c[12].exempt = true;
        let mut lines: Vec<Line> = c[..10].iter().map(|e| line(e.member, Status::Present)).collect();
        lines[5] = line(c[5].member, Status::Late);
        lines.push(line(c[10].member, Status::AbsentApproved));
        lines.push(line(c[11].member, Status::AbsentUnexcused));
        lines.push(line(c[12].member, Status::AbsentUnexcused));
        let approved = BTreeSet::from([c[10].member]);
        let s = summarize(&lines, &[], &c, &approved);
        assert_eq!((s.expected, s.present, s.late, s.exempt), (12, 10, 1, 1));
        assert_eq!(s.rate, 83.3);
        assert_eq!((s.absent_approved, s.unexcused), (1, 1));
        assert_eq!(s.unexcused_members, vec![c[11].member]);
    }

    /// The sheet cannot excuse anyone: "absent_approved" without an approved
    /// request is unexcused, a pending request is both requested and
    /// unexcused, and a member left off the sheet is missing and unexcused.
    #[test]
    fn attendance_absence_without_an_approved_request_is_unexcused() {
        let c = cell(4);
        let lines = vec![
            line(c[0].member, Status::Present),
            line(c[1].member, Status::AbsentApproved),
            line(c[2].member, Status::AbsentRequested),
        ];
        let s = summarize(&lines, &[], &c, &BTreeSet::new());
        assert_eq!((s.absent_approved, s.absent_requested, s.unexcused), (0, 1, 3));
        assert_eq!(s.missing, vec![c[3].member]);
        assert_eq!(s.rate, 25.0);
        // An approved request excuses whatever the sheet says.
        let s = summarize(&lines, &[], &c, &BTreeSet::from([c[1].member, c[2].member]));
        assert_eq!((s.absent_approved, s.absent_requested, s.unexcused), (2, 0, 1));
    }

    #[test]
    fn attendance_chair_must_be_secretary_or_deputy() {
        let c = cell(4);
        let chairs = vec![
            Chair { point: "a".into(), member: c[0].member },
            Chair { point: "b".into(), member: c[1].member },
            Chair { point: "c".into(), member: c[2].member },
            Chair { point: "d".into(), member: c[3].member },
        ];
        let s = summarize(&[], &chairs, &c, &BTreeSet::new());
        let flagged: Vec<_> = s.chair_problems.iter().map(|p| (p.point.as_str(), p.role.as_str())).collect();
        assert_eq!(flagged, vec![("c", "committee"), ("d", "member")]);
    }

    #[test]
    fn attendance_sheet_names_only_the_cells_members() {
        let c = cell(3);
        let stranger = MemberId::new();
        let sheet = |members: Vec<Line>, chairs: Vec<Chair>| NewSheet { members, chairs, reason: None };
        let err = validate(&sheet(vec![line(stranger, Status::Present)], vec![]), &c).unwrap_err();
        assert!(err.to_string().contains(&stranger.to_string()), "{err}");
        let err = validate(&sheet(vec![], vec![Chair { point: "a".into(), member: stranger }]), &c).unwrap_err();
        assert!(err.to_string().contains(&stranger.to_string()), "{err}");
        let twice = vec![line(c[0].member, Status::Present), line(c[0].member, Status::AbsentUnexcused)];
        assert!(validate(&sheet(twice, vec![]), &c).is_err());
        let no_point = Line { member: c[0].member, status: Status::Present, point: None, late_minutes: None };
        assert!(validate(&sheet(vec![no_point], vec![]), &c).is_err());
        let no_minutes =
            Line { member: c[0].member, status: Status::Late, point: Some("a".into()), late_minutes: None };
        assert!(validate(&sheet(vec![no_minutes], vec![]), &c).is_err());
        assert!(validate(&sheet(vec![line(c[0].member, Status::Late)], vec![]), &c).is_ok());
    }
}
