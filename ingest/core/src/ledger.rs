//! The ledger as people read it (admins and auditors): pages of entries, and the
//! newest signed checkpoint with its signature checked. Reading only: entries are
//! written by `Vault::commit`, never here.

use crate::catalog;
use crate::error::DomainError;
use crate::principal::{Principal, Role};
use crate::App;
use archive::ledger::Entry;

/// Up to `limit` entries before `before`, newest last, of `action` if given.
pub async fn entries(
    app: &App,
    who: &Principal,
    action: Option<String>,
    before: u64,
    limit: u64,
) -> Result<Vec<Entry>, DomainError> {
    who.require(&[Role::Admin, Role::Auditor])?;
    catalog::read(&app.vault.catalog, move |repo| {
        repo.entries(action.as_deref(), before, limit).map_err(DomainError::from)
    })
    .await
}

/// The newest signed checkpoint as the store holds it.
pub struct NewestCheckpoint {
    /// Entries it covers.
    pub size: u64,
    /// When it was signed (RFC 3339), or its key when it does not open.
    pub time: String,
    /// Its signature verifies under this service's key and its size is the catalog's.
    pub valid: bool,
}

/// Fetched by the key the catalog knows, so it costs one GET however many
/// checkpoints the store holds; the scheduled verification and `niem-audit`
/// check every one of them. `None` before the first.
pub async fn newest_checkpoint(app: &App, who: &Principal) -> Result<Option<NewestCheckpoint>, DomainError> {
    who.require(&[Role::Admin, Role::Auditor])?;
    let known = crate::verification::newest_checkpoint(app).await?;
    let Some(cp) = known else { return Ok(None) };
    let key = cp.key();
    let body = app.vault.store.get(key.as_str()).await.map_err(DomainError::from)?;
    let verifier = app.vault.keys.signer.verifier();
    Ok(Some(match archive::checkpoint::Checkpoint::open_stored(&body, verifier) {
        Ok(signed) if signed.size == cp.size => NewestCheckpoint { size: signed.size, time: signed.time, valid: true },
        _ => NewestCheckpoint { size: cp.size, time: key.to_string(), valid: false },
    }))
}

/// The newest changes made at the host's command line (break-glass), for admins:
/// (seq, time, action, subject).
pub async fn host_actions(app: &App, who: &Principal) -> Result<Vec<(u64, String, String, String)>, DomainError> {
    who.require(&[Role::Admin])?;
    catalog::read(&app.vault.catalog, |repo| repo.host_actions(50).map_err(DomainError::from)).await
}
