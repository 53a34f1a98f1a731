//! The meeting record's documents as the catalog keeps them: one row per
//! stored document (its record object's metadata, and its title and file name
//! sealed under the note key, never in clear), and each meeting's member-link
//! generation, which a revocation bumps.

use super::Result;
use crate::schema::MeetingId;
use archive::id::RecordObjectId;

/// One stored document.
#[derive(Debug, Clone)]
pub struct DocumentRow {
    pub id: RecordObjectId,
    pub meeting: MeetingId,
    /// agenda, resolution, study or other.
    pub kind: String,
    pub content_type: String,
    pub confidential: bool,
    /// `{title, filename}` sealed under the note key for subject `meeting/<id>`
    /// (JSON of the sealed note): the same note the ledger entry carries.
    pub sealed: String,
    /// `archive::record::RecordMeta` as JSON.
    pub meta: String,
    pub stored_at: String,
    pub stored_by: String,
}

pub trait Documents {
    fn insert_document(&self, row: &DocumentRow) -> Result<()>;
    /// A meeting's documents, oldest first.
    fn documents(&self, meeting: MeetingId) -> Result<Vec<DocumentRow>>;
    fn document(&self, meeting: MeetingId, id: RecordObjectId) -> Result<Option<DocumentRow>>;
    /// Sets a document's time to its ledger entry's (known once the entry is
    /// appended, after the row was written in the same transaction).
    fn set_document_time(&self, id: RecordObjectId, stored_at: &str) -> Result<()>;
    /// The meeting's member-link generation (0 until a link is first revoked).
    fn link_generation(&self, meeting: MeetingId) -> Result<u64>;
    /// Revokes every link made so far: the new generation.
    fn bump_link_generation(&self, meeting: MeetingId) -> Result<u64>;
}
