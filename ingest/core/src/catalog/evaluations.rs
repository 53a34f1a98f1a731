//! The bloc's evaluations as the catalog keeps them: one row per stored
//! version (the evaluation itself is the sealed record object; the row is for
//! listing, with its scores and the comment and reason sealed).

use super::Result;
use crate::schema::MeetingId;
use archive::id::RecordObjectId;

/// One stored version of a meeting's evaluation.
#[derive(Debug, Clone)]
pub struct EvaluationRow {
    pub id: RecordObjectId,
    pub meeting: MeetingId,
    /// 1 for the first evaluation, then one more per revision.
    pub version: u32,
    /// Content quality, 1 to 5.
    pub score: u8,
    /// Checklist items met, of `items`.
    pub met: u32,
    pub items: u32,
    /// `{comment, reason}` sealed under the note key for `meeting/<id>` (JSON
    /// of the sealed note, the same the ledger entry carries); empty when the
    /// version has neither.
    pub sealed: String,
    /// `archive::record::RecordMeta` as JSON.
    pub meta: String,
    pub stored_at: String,
    pub stored_by: String,
}

pub trait Evaluations {
    fn insert_evaluation(&self, row: &EvaluationRow) -> Result<()>;
    /// A meeting's evaluation versions, oldest first.
    fn evaluations(&self, meeting: MeetingId) -> Result<Vec<EvaluationRow>>;
    /// Sets a version's time to its ledger entry's.
    fn set_evaluation_time(&self, id: RecordObjectId, stored_at: &str) -> Result<()>;
}
