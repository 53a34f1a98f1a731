//! What the catalog tracks of media on its way in and out: resumable uploads,
//! live streams, and what the search index reads about transcripts.

use super::Result;
use crate::schema::{MeetingId, UploadId};
use archive::id::{RecordingId, StreamId};
use std::collections::HashMap;

/// A resumable upload as created.
#[derive(Debug, Clone)]
pub struct NewUploadRow {
    pub id: UploadId,
    pub meeting: MeetingId,
    pub length: u64,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    /// The upload's tail key, wrapped under the current KEK, as JSON.
    pub tail_key: String,
    pub created_by: String,
    pub created_at: String,
}

/// A resumable upload as stored.
#[derive(Debug, Clone)]
pub struct UploadRow {
    pub meeting: String,
    pub length: u64,
    pub content_type: Option<String>,
    pub tail_key: String,
    pub stream: Option<String>,
    /// `receiving`, `complete` or `terminated`.
    pub state: String,
    pub created_by: String,
    /// The offset the node that last took bytes for it reported.
    pub offset: u64,
}

pub trait Uploads {
    /// Adds a resumable upload, `receiving`.
    fn insert_upload(&self, u: &NewUploadRow) -> Result<()>;
    fn upload(&self, id: UploadId) -> Result<Option<UploadRow>>;
    fn set_upload_offset(&self, id: UploadId, offset: u64) -> Result<()>;
    fn set_upload_state(&self, id: UploadId, state: &str) -> Result<()>;
    /// Ties a resumable upload to the stream its bytes go to.
    fn link_upload_stream(&self, id: UploadId, stream: StreamId) -> Result<()>;
    /// (id, wrapped tail key as JSON) of every upload still receiving.
    fn receiving_tail_keys(&self) -> Result<Vec<(String, String)>>;
    fn set_tail_key(&self, id: &str, wrapped: &str) -> Result<()>;
    /// A one-body upload's stream is received by `node`.
    fn receive_upload_on(&self, stream: StreamId, node: &str) -> Result<()>;
    /// After a stop: resumable uploads whose stream had already closed take its
    /// end (how many), and (recording, stream) of each open one-body upload
    /// stream that nothing can continue: `node`'s (also those no node is
    /// recorded for), or every one when `node` is `None` (the only node).
    fn settle_cut_uploads(&self, node: Option<&str>) -> Result<(usize, Vec<(String, String)>)>;
}

/// A live stream that ended, as its pipeline recorded it.
#[derive(Debug, Clone)]
pub struct EndedStream {
    pub stream: String,
    pub recording: String,
    pub end_state: String,
    pub sha256: Option<String>,
    /// The probed media description, as JSON.
    pub media: Option<String>,
}

pub trait Live {
    /// A live stream spooled on `node`.
    fn insert_live_stream(
        &self,
        stream: StreamId,
        endpoint: &str,
        rec: RecordingId,
        started_at: &str,
        node: &str,
    ) -> Result<()>;
    /// Records how a live stream ended, once.
    fn end_live_stream(&self, stream: StreamId, state: &str, sha256: Option<&str>, media: Option<&str>) -> Result<()>;
    /// Marks every live stream of `node` without an end `interrupted` (a
    /// restart of that node: its streams were cut); returns how many. Rows
    /// without a node are the only node's.
    fn interrupt_live_streams(&self, node: &str) -> Result<usize>;
    /// Open recordings that have live streams.
    fn open_live_recordings(&self) -> Result<Vec<String>>;
    /// Live streams of `node` that ended but whose stream is still open: only
    /// that node can close them, once its spool holds none of their pieces.
    fn ended_live_streams(&self, node: &str) -> Result<Vec<EndedStream>>;
    /// Hands every live stream of a lost node whose stream is still open to
    /// `to`, ended `interrupted` (pieces only in the lost spool are gone); returns
    /// them as (stream, recording).
    fn take_over_live_streams(&self, lost: &str, to: &str) -> Result<Vec<(String, String)>>;
    /// Open recordings with live streams, every one of them closed.
    fn sealable_live_recordings(&self) -> Result<Vec<String>>;
    /// Chunks stored of each of `streams`; an error if one is unknown.
    fn stream_chunks(&self, streams: &[String]) -> Result<HashMap<String, u64>>;
    /// The org of recording `rec`; an error if unknown.
    fn recording_org(&self, rec: RecordingId) -> Result<String>;
    /// The newest meeting of `org` whose recording is open.
    fn live_meeting(&self, org: &str) -> Result<Option<String>>;
    /// The meeting of `org` without a recording scheduled closest to `at`, within a day.
    fn nearest_unrecorded_meeting(&self, org: &str, at: &str) -> Result<Option<String>>;
    /// A regular meeting of `org` started ad hoc at `now`.
    fn insert_ad_hoc_meeting(&self, id: MeetingId, org: &str, title: &str, now: &str) -> Result<()>;
}

pub trait Indexing {
    fn shredded_recordings(&self) -> Result<Vec<String>>;
    fn stored_transcript_count(&self) -> Result<usize>;
    /// Recordings with a stored transcript, oldest first.
    fn stored_transcripts(&self) -> Result<Vec<String>>;
    /// (meeting, kind, scheduled_at, org path) of the meeting that owns `rec`.
    fn recording_place(&self, rec: RecordingId) -> Result<Option<(String, String, String, String)>>;
    /// (title, org, org name, scheduled_at) of meeting `id`.
    fn meeting_summary(&self, id: &str) -> Result<Option<(String, String, String, String)>>;
}
