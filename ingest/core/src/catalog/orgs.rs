//! Orgs, their meetings, the endpoints (bridge points) of an org, and the
//! recordings of a meeting, as the catalog keeps them.

use super::{Result, Scope};
use crate::schema::{EndpointId, MeetingId, OrgId};
use archive::id::{RecordingId, StreamId};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Org {
    pub id: OrgId,
    pub parent: Option<String>,
    pub kind: String,
    pub name: String,
    /// Ids from the root down, `/`-separated: a subtree is a path prefix.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Meeting {
    pub id: MeetingId,
    pub org: String,
    pub kind: String,
    pub title: String,
    pub scheduled_at: String,
    pub recording: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// A meeting about to be created (it has no recording yet).
#[derive(Debug, Clone)]
pub struct NewMeetingRow {
    pub id: MeetingId,
    pub org: String,
    pub kind: String,
    pub title: String,
    pub scheduled_at: String,
    pub language: Option<String>,
    pub created_at: String,
}

/// A meeting with its org's name and path, for the people who read its content.
#[derive(Debug, Clone)]
pub struct MeetingDetail {
    pub id: String,
    pub title: String,
    pub kind: String,
    pub scheduled_at: String,
    pub recording: Option<String>,
    pub org_name: String,
    pub org_path: String,
}

/// Which meetings a browse lists (every bound optional), and where the page starts.
#[derive(Debug, Clone, Default)]
pub struct MeetingBrowse {
    /// An org subtree (path).
    pub path: Option<String>,
    pub kind: Option<String>,
    /// Scheduled at or after this instant (RFC 3339, UTC, as stored).
    pub from: Option<String>,
    /// Scheduled before this instant.
    pub to: Option<String>,
    /// Only meetings with a recording that is not shredded.
    pub recording: bool,
    /// Only meetings whose recording has a stored transcript.
    pub transcript: bool,
    /// Only meetings with minutes filed.
    pub minutes: bool,
    /// Only meetings after this one (scheduled_at, id) in the order newest first.
    pub after: Option<(String, String)>,
    pub limit: usize,
}

/// A meeting as a browse lists it.
#[derive(Debug, Clone, Serialize)]
pub struct BrowsedMeeting {
    pub id: String,
    pub title: String,
    pub kind: String,
    pub scheduled_at: String,
    pub org: String,
    pub org_name: String,
    pub recording: Option<String>,
    /// `open`, `sealed` or `shredded`.
    pub recording_state: Option<String>,
    pub transcript: bool,
    /// Minutes (biên bản) are filed.
    pub minutes: bool,
}

pub trait Orgs {
    fn org_exists(&self, id: &str) -> Result<bool>;
    /// (kind, path) of org `id`.
    fn org_kind_path(&self, id: OrgId) -> Result<Option<(String, String)>>;
    fn org_path(&self, id: OrgId) -> Result<Option<String>>;
    /// The language of the nearest org up the tree from `id` (itself first) that sets one.
    fn org_language(&self, id: &str) -> Result<Option<String>>;
    /// Adds `org`, created at `now`.
    fn insert_org(&self, org: &Org, now: &str) -> Result<()>;
    /// The orgs in `scope`, in tree order.
    fn orgs(&self, scope: &Scope) -> Result<Vec<Org>>;
    /// (id, name, path) of the orgs in `scope`, in tree order.
    fn org_names(&self, scope: &Scope) -> Result<Vec<(String, String, String)>>;

    fn insert_meeting(&self, m: &NewMeetingRow) -> Result<()>;
    /// Meetings of `org` (or every org) in `scope`, newest first.
    fn meetings(&self, org: Option<OrgId>, scope: &Scope) -> Result<Vec<Meeting>>;
    fn meeting(&self, id: MeetingId) -> Result<Option<Meeting>>;
    /// Meetings in `scope` matching `f`, newest first (ties by id, descending),
    /// at most `f.limit` after `f.after`.
    fn browse_meetings(&self, f: &MeetingBrowse, scope: &Scope) -> Result<Vec<BrowsedMeeting>>;
    fn meeting_detail(&self, id: MeetingId) -> Result<Option<MeetingDetail>>;
    /// The path of the org a meeting belongs to.
    fn meeting_org_path(&self, id: MeetingId) -> Result<Option<String>>;
    /// (org, recording) of a meeting.
    fn meeting_recording(&self, id: MeetingId) -> Result<Option<(String, Option<String>)>>;
    /// Links a meeting to its recording, unless it has one already.
    /// Makes `rec` the meeting's recording, unless it has one: false then.
    fn link_recording(&self, meeting: MeetingId, rec: RecordingId) -> Result<bool>;
}

pub trait Recordings {
    fn recording_exists(&self, rec: RecordingId) -> Result<bool>;
    /// `open`, `sealed` or `shredded`.
    fn recording_state(&self, rec: RecordingId) -> Result<Option<String>>;
    /// The path of the org of the meeting that owns `rec` (none: no meeting).
    fn recording_org_path(&self, rec: RecordingId) -> Result<Option<String>>;
    /// (meeting, org, the meeting's language) of a recording; an error if unknown.
    fn recording_meeting(&self, rec: RecordingId) -> Result<(String, String, Option<String>)>;
    /// A recording's streams in the order they opened, with what names them.
    fn stream_labels(&self, rec: RecordingId) -> Result<Vec<StreamLabel>>;
}

/// A stream of a recording and what a person would call it.
#[derive(Debug, Clone)]
pub struct StreamLabel {
    pub id: StreamId,
    /// `upload` or `live`.
    pub kind: String,
    pub opened_at: String,
    /// The name of the endpoint it came from (live).
    pub endpoint: Option<String>,
    /// The file name it was uploaded as.
    pub filename: Option<String>,
}

/// An endpoint whose key checked out.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub id: EndpointId,
    pub org: OrgId,
    pub name: String,
}

/// An endpoint as listed to admins (never with its key).
#[derive(Debug, Serialize)]
pub struct Listed {
    pub id: String,
    pub org: String,
    pub name: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// An endpoint as stored: the hash of its key's secret, never the key.
#[derive(Debug, Clone)]
pub struct EndpointRow {
    pub id: EndpointId,
    pub org: String,
    pub name: String,
    pub key_sha256: Vec<u8>,
}

pub trait Endpoints {
    fn insert_endpoint(&self, e: &EndpointRow, now: &str) -> Result<()>;
    fn endpoint_name_taken(&self, org: OrgId, name: &str) -> Result<bool>;
    fn endpoint_exists(&self, id: EndpointId) -> Result<bool>;
    /// Revokes a live endpoint; false if it was revoked already.
    fn revoke_endpoint(&self, id: EndpointId, now: &str) -> Result<bool>;
    /// A live (unrevoked) endpoint, with the stored hash of its key.
    fn live_endpoint(&self, id: EndpointId) -> Result<Option<EndpointRow>>;
    /// Endpoints of `org` (or every org) in `scope`, by org and name.
    fn endpoints(&self, org: Option<OrgId>, scope: &Scope) -> Result<Vec<Listed>>;
    /// Of the endpoints `ids`, those in `scope`.
    fn endpoints_in_scope(&self, ids: &[String], scope: &Scope) -> Result<Vec<String>>;
}
