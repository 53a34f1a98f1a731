//! KEK retirement as the service runs it (the procedure is `archive::retire`):
//! on an admin's request, every `keys.retire_every_days`, and resumed at start.
//!
//! It needs the keys to be this service's own files. Keys that come read-only
//! (the environment, systemd credentials, a Kubernetes Secret) are retired by the
//! operator instead: the service says so at start and in `/metrics`, and the
//! README gives the procedure.

use crate::App;
use archive::keys::{KeyDir, Keyring, WrappedDek};
use archive::retire::{Retired, TransientKeys};
use archive::vault::VaultError;
use rusqlite::params;
use std::sync::Arc;

/// Resumable uploads' tail keys, re-wrapped in the catalog under the current KEK.
pub fn transient_keys() -> TransientKeys {
    Arc::new(|tx: &rusqlite::Transaction<'_>, ring: &Keyring| {
        let rows: Vec<(String, String)> = {
            let mut stmt = tx.prepare("SELECT id, tail_key FROM uploads WHERE state = 'receiving'")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
            rows
        };
        let mut changed = 0;
        for (id, tail_key) in rows {
            let w: WrappedDek = serde_json::from_str(&tail_key).map_err(|e| VaultError::Conflict(format!("upload {id}: tail key: {e}")))?;
            if w.kek == ring.current_id() {
                continue;
            }
            let again = ring.wrap_upload_key(&ring.unwrap_upload_key(&w, &id)?, &id)?;
            let json = serde_json::to_string(&again).map_err(|e| VaultError::Conflict(e.to_string()))?;
            tx.execute("UPDATE uploads SET tail_key = ?2 WHERE id = ?1", params![id, json])?;
            changed += 1;
        }
        Ok(changed)
    })
}

/// Why this service cannot retire KEKs on its own, if it cannot.
pub fn read_only(app: &App) -> Option<String> {
    KeyDir::new(app.config.keys_dir()).read_only()
}

/// Retires every KEK but a new one (or finishes an unfinished retirement); one at a time.
pub async fn retire(app: &App) -> Result<Retired, VaultError> {
    let _one = app.retiring.lock().await;
    let dir = KeyDir::new(app.config.keys_dir());
    app.vault.retire_keks(&dir, transient_keys()).await
}

/// The newest finished retirement's time, if any.
pub fn last_finished(c: &rusqlite::Connection) -> Result<Option<String>, rusqlite::Error> {
    c.query_row("SELECT MAX(finished_at) FROM kek_retirements", [], |r| r.get(0))
}

/// Finishes an unfinished retirement at start, then retires on schedule (measured
/// on the service's clock from the last one, so a restart neither skips nor
/// repeats one).
pub async fn run(app: Arc<App>) {
    let dir = KeyDir::new(app.config.keys_dir());
    {
        let _one = app.retiring.lock().await;
        match app.vault.resume_retirement(&dir, transient_keys()).await {
            Ok(Some(r)) => tracing::info!(generation = r.generation, destroyed = ?r.destroyed, "finished a KEK retirement a stop had cut off"),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "cannot finish the KEK retirement a stop cut off; it is retried at the next start"),
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
        let last = app.vault.catalog.call(|c| last_finished(c).map_err(VaultError::from)).await.ok().flatten();
        let now = app.vault.clock.now();
        let due_at = last.and_then(|t| archive::clock::parse_ts(&t).ok()).map(|t| t + time::Duration::days(every as i64));
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
            Ok(r) => tracing::info!(generation = r.generation, rewrapped = r.rewrapped, destroyed = ?r.destroyed, "scheduled KEK retirement done"),
            Err(e) => {
                tracing::error!(error = %e, "scheduled KEK retirement failed; retrying in an hour");
                tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            }
        }
    }
}

/// Whether the ledger began at least `days` ago (a first retirement's schedule).
async fn started_long_enough(app: &App, days: u64) -> bool {
    let first: Option<String> = app
        .vault
        .catalog
        .call(|c| c.query_row("SELECT ts FROM ledger WHERE seq = 0", [], |r| r.get(0)).map_err(VaultError::from))
        .await
        .ok();
    let now = app.vault.clock.now();
    first.and_then(|t| archive::clock::parse_ts(&t).ok()).is_some_and(|t| now - t >= time::Duration::days(days as i64))
}
