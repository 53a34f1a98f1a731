//! Verifications kept for the recordings' badges and the store's runs, and the
//! newest checkpoint the mirror wrote.

use super::Result;
use archive::id::RecordingId;
use archive::ledger::Entry;
use serde::Serialize;

/// One store-wide run's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct StoreCheck {
    pub checked_at: String,
    pub intact: bool,
    pub entries: u64,
    pub objects: u64,
    pub invalid: u64,
    pub problems: Vec<String>,
    /// `full` (every object fetched) or `rolling`.
    pub mode: String,
    /// Content objects fetched and hashed, of `population` listed (None: a run
    /// of an earlier release, which fetched every object).
    pub fetched: Option<u64>,
    pub population: Option<u64>,
}

/// The newest signed checkpoint the service has written: what a verification
/// was checked against, and what `/readyz` and the ledger page fetch by key.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointRef {
    /// Ledger entries the checkpoint covers.
    pub size: u64,
    /// Its `time` line; unknown to a catalog that only resumed or restored it.
    pub time: Option<String>,
}

impl CheckpointRef {
    /// Its object: `checkpoints/<size-1:012>.json`.
    pub fn key(&self) -> archive::layout::ObjectKey {
        archive::layout::ObjectKey::checkpoint(self.size.saturating_sub(1))
    }
}

/// A recording's verification as kept for its page and badge.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub intact: bool,
    pub checked_at: String,
    /// Whether a signed checkpoint in the store covers the recording's seal.
    pub covered_by_checkpoint: bool,
    /// The newest signed checkpoint then; none before the first one (and on
    /// verifications kept before v0.3, which did not record it).
    pub checkpoint: Option<CheckpointRef>,
    /// What ran it: `seal`, `request` or `scheduled`.
    pub source: Option<String>,
    pub problems: Vec<String>,
}

pub trait Verifications {
    /// The newest verification kept for `rec`.
    fn latest_verification(&self, rec: RecordingId) -> Result<Option<Verification>>;
    fn insert_verification(&self, rec: &str, v: &Verification) -> Result<()>;
    /// Drops every kept `scheduled` verification (a new run replaces them).
    fn clear_scheduled_verifications(&self) -> Result<()>;
    /// Sealed recordings whose seal is among the first `entries` ledger entries:
    /// (id, seq of the seal).
    fn sealed_before(&self, entries: u64) -> Result<Vec<(String, u64)>>;
    /// The entries about `rec`, and those that judge whether a shred of it was lawful.
    fn recording_entries(&self, rec: RecordingId) -> Result<Vec<Entry>>;
    /// The newest checkpoint in the store, as the mirror recorded it (none before the first).
    fn newest_checkpoint(&self) -> Result<Option<CheckpointRef>>;
    fn insert_store_check(&self, c: &StoreCheck) -> Result<()>;
    fn latest_store_check(&self) -> Result<Option<StoreCheck>>;
    /// The times of the newest run and of the newest full run.
    fn store_check_times(&self) -> Result<(Option<String>, Option<String>)>;
    /// Recordings whose kept `scheduled` verification is not intact.
    fn damaged_in_last_run(&self) -> Result<Vec<String>>;
}
