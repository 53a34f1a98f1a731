//! The durable job queue (`crate::jobs` says what its states mean).

use super::{Result, Scope};
use archive::id::RecordingId;
use serde::Serialize;

pub const TRANSCRIBE: &str = "transcribe";

/// A job a worker has claimed.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub recording: RecordingId,
    /// Attempts before this one.
    pub attempts: u32,
    /// Which claim of the job this is (1 for the first): results and renewals
    /// name it, so that one for an earlier claim is refused.
    pub claim: i64,
}

/// A job as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    pub id: i64,
    pub kind: String,
    pub recording: String,
    pub state: String,
    pub attempts: u32,
    /// Not run again before this time (a retry's backoff).
    pub not_before: String,
    pub error: Option<String>,
    /// Audio transcribed so far, of `total_ms`.
    pub progress_ms: u64,
    pub total_ms: Option<u64>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// The transcription worker that holds the job (None: a node's own thread).
    pub worker: Option<String>,
    /// A worker's claim ends then unless renewed.
    pub lease_until: Option<String>,
}

/// Where a job is: its state, last error and progress.
#[derive(Debug, Clone)]
pub struct JobProgress {
    pub state: String,
    pub error: Option<String>,
    pub progress_ms: u64,
    pub total_ms: Option<u64>,
}

pub trait Jobs {
    /// Queues a recording's transcription (once; queuing again is a no-op).
    fn enqueue_transcription(&self, rec: RecordingId, now: &str) -> Result<()>;
    /// Jobs cut while running go back to the queue, and sealed recordings without
    /// a transcription job (or transcript) get one, in one transaction: (requeued, queued).
    fn settle_jobs(&self, now: &str) -> Result<(usize, usize)>;
    /// Takes the next queued job that is due, oldest first, and marks it running.
    fn claim_job(&self, now: &str) -> Result<Option<Job>>;
    fn set_job_progress(&self, id: i64, progress_ms: u64, total_ms: Option<u64>) -> Result<()>;
    fn job_done(&self, id: i64, now: &str) -> Result<()>;
    /// A failed attempt: queued again at `retry_at`, or `failed` for good (None).
    fn job_failed(&self, id: i64, error: &str, retry_at: Option<&str>, now: &str) -> Result<()>;
    /// Back to the queue without counting an attempt.
    fn put_job_back(&self, id: i64, error: Option<&str>, not_before: &str) -> Result<()>;
    /// Jobs of recordings in `scope`: unfinished first, then the most recent.
    fn jobs(&self, scope: &Scope, state: Option<&str>, limit: u32) -> Result<Vec<JobView>>;
    /// How many jobs within `scope` are in each state.
    fn job_counts(&self, scope: &Scope) -> Result<std::collections::BTreeMap<String, u64>>;
    /// A recording's transcription job, as far as its progress goes.
    fn transcription_job(&self, rec: RecordingId) -> Result<Option<JobProgress>>;
}
