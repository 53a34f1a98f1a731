//! The meeting record's attendance as the catalog keeps it: one row per stored
//! version of a meeting's sheet (the sheet itself is the sealed record object;
//! the row is for listing), and members' absence requests with their decision.

use super::Result;
use crate::schema::{AbsenceId, MeetingId, MemberId};
use archive::id::RecordObjectId;

/// One stored version of a meeting's attendance sheet.
#[derive(Debug, Clone)]
pub struct AttendanceRow {
    pub id: RecordObjectId,
    pub meeting: MeetingId,
    /// 1 for the first sheet, then one more per correction.
    pub version: u32,
    /// The correction's reason sealed under the note key for `meeting/<id>`
    /// (JSON of the sealed note, the same the ledger entry carries); empty for
    /// a first version without one.
    pub sealed: String,
    /// `archive::record::RecordMeta` as JSON.
    pub meta: String,
    pub stored_at: String,
    pub stored_by: String,
}

/// A member's absence request and, once decided, its decision.
#[derive(Debug, Clone)]
pub struct AbsenceRow {
    pub id: AbsenceId,
    pub meeting: MeetingId,
    pub member: MemberId,
    /// `{reason}` sealed under the note key for `meeting/<id>`.
    pub sealed: String,
    pub requested_at: String,
    pub requested_by: String,
    /// `None` until decided; then whether it was approved.
    pub approved: Option<bool>,
    /// Decided after the meeting had begun.
    pub late: bool,
    pub decided_at: Option<String>,
    pub decided_by: Option<String>,
    /// The written report (a document of kind `absence_report`), if filed.
    pub report: Option<RecordObjectId>,
}

pub trait Attendance {
    fn insert_attendance(&self, row: &AttendanceRow) -> Result<()>;
    /// A meeting's sheet versions, oldest first.
    fn attendance_versions(&self, meeting: MeetingId) -> Result<Vec<AttendanceRow>>;
    /// Sets a version's time to its ledger entry's.
    fn set_attendance_time(&self, id: RecordObjectId, stored_at: &str) -> Result<()>;
    fn insert_absence(&self, row: &AbsenceRow) -> Result<()>;
    fn absence(&self, id: AbsenceId) -> Result<Option<AbsenceRow>>;
    /// A meeting's absence requests, oldest first.
    fn absences(&self, meeting: MeetingId) -> Result<Vec<AbsenceRow>>;
    /// Records a decision on an undecided request: false if it was decided already.
    /// Sets a request's times to its ledger entries' (`requested_at`, and
    /// `decided_at` once decided), known only once each entry is appended.
    fn set_absence_time(&self, id: AbsenceId, requested_at: Option<&str>, decided_at: Option<&str>) -> Result<()>;
    fn decide_absence(&self, id: AbsenceId, approved: bool, late: bool, by: &str, at: &str) -> Result<bool>;
    /// Points a request at its written report (the latest filed): false if the
    /// request is not the meeting's.
    fn set_absence_report(&self, id: AbsenceId, meeting: MeetingId, report: RecordObjectId) -> Result<bool>;
}
