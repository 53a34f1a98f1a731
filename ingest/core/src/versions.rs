//! One version of a structured part of the meeting record (an attendance
//! sheet, an evaluation): its JSON sealed as a record object, then named by its
//! `record.<class>.stored` entry, committed with the catalog row. The object is
//! put before the entry (nothing names it yet) and deleted again if the commit
//! fails, so a refused or raced version leaves nothing behind.

use crate::app::App;
use crate::catalog::{self, Repo};
use crate::error::DomainError;
use crate::schema::MeetingId;
use archive::ledger::{Entry, NewEntry};
use archive::record::RecordMeta;
use archive::vault::VaultError;

/// Seals `body` as a record object of `meeting`; what was put is deleted if
/// the write fails.
pub async fn seal(app: &App, meeting: MeetingId, body: &[u8]) -> Result<RecordMeta, DomainError> {
    let mut writer = app.vault.begin_record(&meeting.to_string(), body.len() as u64)?;
    if let Err(e) = writer.write(body).await {
        writer.abandon().await;
        return Err(DomainError::internal(e));
    }
    writer.finish().await.map_err(DomainError::internal)
}

/// Commits `entry` (naming `meta`'s object) with `change`; if the commit fails,
/// the object is deleted, so no stray is left for the verifier to name.
pub async fn commit(
    app: &App,
    meeting: MeetingId,
    meta: &RecordMeta,
    entry: NewEntry,
    change: impl FnOnce(&dyn Repo) -> Result<(), VaultError> + Send + 'static,
) -> Result<Entry, DomainError> {
    match catalog::commit(&app.vault, entry, change).await {
        Ok(((), entry)) => Ok(entry),
        Err(e) => {
            archive::record::abandon_record(&app.vault.store, &meeting.to_string(), meta.object).await;
            Err(e.into())
        }
    }
}
