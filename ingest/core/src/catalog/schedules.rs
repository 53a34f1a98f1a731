//! Meeting schedules, missed-meeting alerts and the compliance report's counts.

use super::{Result, Scope};
use crate::schema::MeetingId;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Schedule {
    pub id: String,
    pub org: String,
    pub kind: String,
    pub title: String,
    pub day: u8,
    pub time: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub meeting: String,
    pub kind: String,
    pub org: String,
    pub org_name: String,
    pub org_path: String,
    pub title: String,
    pub scheduled_at: String,
    pub raised_at: String,
    pub delivered_at: Option<String>,
}

pub trait Schedules {
    fn insert_schedule(&self, s: &Schedule, now: &str) -> Result<()>;
    /// The schedules of orgs in `scope`, in tree order.
    fn schedules(&self, scope: &Scope) -> Result<Vec<Schedule>>;
    /// Every schedule, for planning.
    fn all_schedules(&self) -> Result<Vec<Schedule>>;
    fn scheduled_meeting_exists(&self, schedule: &str, at: &str) -> Result<bool>;
    /// The meeting `id` that schedule `s` expects at `at`.
    fn insert_scheduled_meeting(&self, id: MeetingId, s: &Schedule, at: &str, now: &str) -> Result<()>;
    /// (meeting, org, scheduled_at) of meetings scheduled in `[since, until]`
    /// with no recording and no alert yet, oldest first.
    fn unrecorded_meetings(&self, since: &str, until: &str) -> Result<Vec<(String, String, String)>>;
    fn insert_alert(&self, meeting: &str, raised_at: &str) -> Result<()>;
    /// Alerts raised since `since` about meetings in `scope`, newest first.
    fn alerts(&self, since: &str, scope: &Scope) -> Result<Vec<Alert>>;
    /// One delivery attempt of an alert: delivered at `at` if `error` is none.
    fn alert_attempt(&self, meeting: &str, error: Option<&str>, at: &str) -> Result<()>;
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

/// One meeting as the report of the meeting record needs it.
#[derive(Debug, Clone)]
pub struct RecordMeetingRow {
    pub meeting: MeetingId,
    pub org: String,
    pub kind: String,
    pub scheduled_at: String,
    /// A recording began.
    pub held: bool,
    /// The latest attendance sheet's `archive::record::RecordMeta` (JSON).
    pub sheet_meta: Option<String>,
    /// The members with an approved absence request for this meeting.
    pub approved_absences: Vec<crate::schema::MemberId>,
    /// When the first document for members (not minutes, not an absence
    /// report) was stored.
    pub first_document_at: Option<String>,
    /// When minutes were first filed.
    pub minutes_at: Option<String>,
    /// The latest evaluation's score (1-5).
    pub score: Option<u8>,
    /// The meeting's org has a committee schedule.
    pub committee_scheduled: bool,
}

pub trait Reports {
    /// Per org of the subtree at `path` that lies in `scope`, the counts of
    /// meetings scheduled in `[start, end)`; missing if unrecorded by `missed_by`.
    fn compliance(
        &self,
        path: &str,
        scope: &Scope,
        start: &str,
        end: &str,
        missed_by: &str,
    ) -> Result<Vec<ComplianceRow>>;
    /// The meetings of the subtree at `path` in `scope` scheduled in
    /// `[start, end)`, with what the meeting record says of each, oldest first.
    fn record_meetings(&self, path: &str, scope: &Scope, start: &str, end: &str) -> Result<Vec<RecordMeetingRow>>;
}
