//! Transcription workers outside the service and their claims on jobs
//! (`crate::workers` says what the protocol guarantees).

use super::{Job, Result};
use archive::id::RecordingId;
use serde::Serialize;

/// An enrolled worker, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerRow {
    pub name: String,
    /// The age X25519 recipient a job's keys are sealed to.
    pub recipient: String,
    pub enrolled_at: String,
    pub enrolled_by: String,
    pub removed_at: Option<String>,
    /// The worker's last claim or renewal.
    pub seen_at: Option<String>,
}

/// A worker's claim that has no keys yet.
#[derive(Debug, Clone)]
pub struct GrantDue {
    pub job: i64,
    pub claim: i64,
    /// Attempts before this claim.
    pub attempts: u32,
    pub recording: RecordingId,
    pub worker: String,
    pub recipient: String,
}

/// A result a worker returned for a claim it still holds.
#[derive(Debug, Clone)]
pub struct Returned {
    pub job: i64,
    pub claim: i64,
    pub recording: RecordingId,
    pub worker: String,
    pub attempts: u32,
    /// Sealed under the claim's derived key.
    pub result: Vec<u8>,
}

/// A worker's claim whose lease ran out.
#[derive(Debug, Clone)]
pub struct Lapsed {
    pub job: i64,
    pub claim: i64,
    pub recording: RecordingId,
    pub worker: String,
    pub attempts: u32,
}

pub trait Workers {
    /// Enrolls `name` (false: a worker of that name is enrolled already).
    fn enroll_worker(&self, name: &str, recipient: &str, by: &str, now: &str) -> Result<bool>;
    /// Removes an enrolled worker (false: none of that name is enrolled); its
    /// claims end at their next renewal.
    fn remove_worker(&self, name: &str, now: &str) -> Result<bool>;
    /// Every worker ever enrolled, enrolled ones first.
    fn workers(&self) -> Result<Vec<WorkerRow>>;
    /// Takes the next due job for the enrolled worker `name` until `lease_until`.
    fn claim_job_as(&self, name: &str, now: &str, lease_until: &str) -> Result<Option<Job>>;
    /// Extends a claim and records progress; false when the worker no longer
    /// holds it (lapsed, taken over, removed, or finished).
    fn renew_claim(
        &self,
        job: i64,
        claim: i64,
        name: &str,
        now: &str,
        lease_until: &str,
        progress: (u64, Option<u64>),
    ) -> Result<bool>;
    /// Claims held by enrolled workers that have no keys yet.
    fn grants_due(&self) -> Result<Vec<GrantDue>>;
    fn put_grant(&self, job: i64, claim: i64, worker: &str, sealed: &[u8], now: &str) -> Result<()>;
    /// A claim's sealed keys, once granted, for the worker that holds it.
    fn grant(&self, job: i64, claim: i64, worker: &str) -> Result<Option<Vec<u8>>>;
    /// Hands back a claim's sealed result; false when the claim is not held.
    fn return_result(&self, job: i64, claim: i64, worker: &str, sealed: &[u8], now: &str) -> Result<bool>;
    /// Results returned for claims still held, oldest first.
    fn returned(&self) -> Result<Vec<Returned>>;
    /// Marks the job done if `claim` is still its running claim: run in the
    /// transaction of the result's ledger entry, so a claim taken over (or a
    /// result replayed) can never record a second transcript.
    fn finish_claim(&self, job: i64, claim: i64, now: &str) -> Result<bool>;
    /// Ends `claim` without a result: queued again at `retry_at` (an attempt
    /// counted when `counted`), or failed for good (None).
    fn end_claim(
        &self,
        job: i64,
        claim: i64,
        error: &str,
        retry_at: Option<&str>,
        counted: bool,
        now: &str,
    ) -> Result<bool>;
    /// Deletes the grants of `rec`'s jobs (its data keys sealed to a worker):
    /// run in the transaction that shreds it, so that no copy of its keys
    /// outlives it in the catalog.
    fn forget_grants(&self, rec: RecordingId) -> Result<usize>;
    /// Workers' claims whose lease ended before `now` with no result returned.
    fn lapsed_claims(&self, now: &str) -> Result<Vec<Lapsed>>;
}
