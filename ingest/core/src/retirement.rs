//! KEK retirement as the service runs it (the procedure is `archive::retire`):
//! on an admin's request, every `keys.retire_every_days`, and resumed at start.
//!
//! It needs the keys to be this service's own files. Keys that come read-only
//! (the environment, systemd credentials, a Kubernetes Secret) are retired by the
//! operator instead: the service says so at start and in `/metrics`, and the
//! README gives the procedure.

use crate::catalog;
use crate::error::DomainError;
use crate::principal::{Principal, Role};
use crate::App;
use archive::keys::{KeyDir, Keyring, WrappedDek};
use archive::retire::{Retired, TransientKeys};
use archive::vault::VaultError;
use std::sync::Arc;
use std::time::Duration;

/// Resumable uploads' tail keys, re-wrapped in the catalog under the current KEK.
pub fn transient_keys() -> TransientKeys {
    catalog::transient_keys(|repo, ring: &Keyring| {
        let rows = repo.receiving_tail_keys()?;
        let mut changed = 0;
        for (id, tail_key) in rows {
            let w: WrappedDek = serde_json::from_str(&tail_key)
                .map_err(|e| VaultError::Conflict(format!("upload {id}: tail key: {e}")))?;
            if w.kek == ring.current_id() {
                continue;
            }
            let again = ring.wrap_upload_key(&ring.unwrap_upload_key(&w, &id)?, &id)?;
            let json = serde_json::to_string(&again).map_err(|e| VaultError::Conflict(e.to_string()))?;
            repo.set_tail_key(&id, &json)?;
            changed += 1;
        }
        Ok(changed)
    })
}

/// Why this service cannot retire KEKs on its own, if it cannot.
pub fn read_only(app: &App) -> Option<String> {
    KeyDir::new(app.config.keys_dir()).read_only()
}

/// The KEK generations (ids, never key material) and the retirements so far
/// (admins and auditors).
#[derive(Debug, serde::Serialize)]
pub struct KeysView {
    /// The KEK that wraps new data keys.
    pub current: String,
    /// Every KEK the service holds.
    pub keks: Vec<String>,
    /// Why the service cannot retire KEKs itself, if it cannot.
    pub read_only: Option<String>,
    pub retirements: Vec<serde_json::Value>,
}

pub async fn view(app: &App, who: &Principal) -> Result<KeysView, DomainError> {
    who.require(&[Role::Admin, Role::Auditor])?;
    let ring = app.vault.keys.ring();
    let retirements = catalog::read(&app.vault.catalog, |repo| repo.retirements().map_err(DomainError::from)).await?;
    Ok(KeysView { current: ring.current_id().to_string(), keks: ring.ids(), read_only: read_only(app), retirements })
}

/// Ledgers a KEK rotation made at the host (`niem keys rotate` only writes the
/// key directory, which may be a copy on another machine): when the ring holds
/// more than one KEK and no entry names the current one, a `key.rotated` is
/// written now, at start, through the one commit path.
pub async fn note_rotation(vault: &archive::vault::Vault) -> Result<(), DomainError> {
    let ring = vault.keys.ring();
    let current = ring.current_id().to_string();
    if ring.ids().len() < 2 {
        return Ok(());
    }
    let known = catalog::read(&vault.catalog, {
        let current = current.clone();
        // A rotation, or a retirement's own entries, name it already.
        move |repo| repo.kek_ledgered(&current).map_err(DomainError::from)
    })
    .await?;
    if known {
        return Ok(());
    }
    let data = serde_json::json!({ "kek": current });
    let entry = archive::ledger::NewEntry {
        actor: archive::ledger::ACTOR_HOST.into(),
        action: "key.rotated",
        subject: "keys".into(),
        data,
    };
    vault.commit_as(entry, |_| Ok::<_, DomainError>(())).await?;
    tracing::info!(kek = %current, "ledgered the KEK rotation made at the host");
    Ok(())
}

/// Retires every KEK now, on an admin's request.
pub async fn retire_as(app: &App, who: &Principal) -> Result<Retired, DomainError> {
    who.require(&[Role::Admin])?;
    Ok(retire(app).await?)
}

/// Retires every KEK but a new one (or finishes an unfinished retirement); one at a time.
pub async fn retire(app: &App) -> Result<Retired, VaultError> {
    let _one = app.retiring.lock().await;
    let dir = KeyDir::new(app.config.keys_dir());
    app.vault.retire_keks(&dir, transient_keys()).await
}

/// How often a node looks for a KEK retirement another node started.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);

/// Keeps this node's key ring at the catalog's KEK generation: when another
/// node starts a retirement (its new KEK is in the shared key directory), this
/// node reads the directory again, so that it wraps under the new KEK (keys
/// under the old one are refused meanwhile, `VaultError::KekChanging`) and
/// opens what the other node re-wrapped; when the old KEKs are destroyed, it
/// drops them too.
pub async fn follow(app: Arc<App>) {
    let dir = KeyDir::new(app.config.keys_dir());
    let mut seen: Option<String> = None;
    loop {
        tokio::time::sleep(FOLLOW_EVERY).await;
        let state = catalog::read(&app.vault.catalog, |repo| Ok::<_, VaultError>(repo.retirements()?)).await;
        let Ok(rows) = state else { continue };
        // The newest retirement's generation and step: what changes when one
        // starts, moves on or finishes.
        let newest = rows.last().map(|r| format!("{}:{}", r["generation"], r["step"]));
        if newest == seen {
            continue;
        }
        match dir.load_ring() {
            Ok(ring) => {
                if seen.is_some() || ring.current_id() != app.vault.keys.ring().current_id() {
                    tracing::info!(
                        kek = ring.current_id(),
                        "read the key directory again after a KEK retirement on another node"
                    );
                }
                app.vault.keys.set_ring(ring);
                seen = newest;
            }
            Err(e) => {
                tracing::error!(error = %e, "a KEK retirement is under way but the key directory does not load; this node refuses to wrap keys until it does")
            }
        }
    }
}

/// Finishes an unfinished retirement at start, then retires on schedule (measured
/// on the service's clock from the last one, so a restart neither skips nor
/// repeats one).
pub async fn run(app: Arc<App>) {
    let dir = KeyDir::new(app.config.keys_dir());
    {
        let _one = app.retiring.lock().await;
        match app.vault.resume_retirement(&dir, transient_keys()).await {
            Ok(Some(r)) => {
                tracing::info!(generation = r.generation, destroyed = ?r.destroyed, "finished a KEK retirement a stop had cut off")
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "cannot finish the KEK retirement a stop cut off; it is retried at the next start")
            }
        }
    }
    let every = app.config.keys.retire_every_days;
    if every == 0 {
        return;
    }
    if let Some(why) = dir.read_only() {
        tracing::warn!(reason = %why, "scheduled KEK retirement is off: the keys are read-only here; retire them as the README says");
        return;
    }
    loop {
        let last = catalog::read(&app.vault.catalog, |repo| repo.last_retirement().map_err(VaultError::from))
            .await
            .ok()
            .flatten();
        let now = app.vault.clock.now();
        let due_at =
            last.and_then(|t| archive::clock::parse_ts(&t).ok()).map(|t| t + time::Duration::days(every as i64));
        match due_at {
            Some(at) if at > now => {
                let wait = (at - now).unsigned_abs().min(std::time::Duration::from_secs(3600));
                tokio::time::sleep(wait).await;
                continue;
            }
            // Never retired: the first one waits a full period from the start.
            None if !started_long_enough(&app, every).await => {
                tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                continue;
            }
            _ => {}
        }
        match retire(&app).await {
            Ok(r) => {
                tracing::info!(generation = r.generation, rewrapped = r.rewrapped, destroyed = ?r.destroyed, "scheduled KEK retirement done")
            }
            Err(e) => {
                tracing::error!(error = %e, "scheduled KEK retirement failed; retrying in an hour");
                tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            }
        }
    }
}

/// Whether the ledger began at least `days` ago (a first retirement's schedule).
async fn started_long_enough(app: &App, days: u64) -> bool {
    let first = catalog::read(&app.vault.catalog, |repo| repo.first_entry_ts().map_err(VaultError::from)).await.ok();
    let now = app.vault.clock.now();
    first.and_then(|t| archive::clock::parse_ts(&t).ok()).is_some_and(|t| now - t >= time::Duration::days(days as i64))
}
