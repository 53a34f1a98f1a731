//! Scheduled self-verification: the service runs, over its whole store, the same
//! verifier that `niem-audit verify` runs (`archive::verify`), daily by default
//! (`[verify] every_hours`). Each verdict is a catalog row and a
//! `store.verified` ledger entry; `/metrics` and the web UI's integrity badges
//! show the newest one.
//!
//! It is not the auditor's check: it runs with the service's own read access and
//! key, so it catches damage and loss in the store early, while an independent
//! auditor with `niem-audit` proves the same thing without trusting the service.

use crate::app::App;
use crate::error::ApiError;
use archive::ledger::NewEntry;
use archive::verify::{self, Verdict};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Problem lines kept per run: enough to act on, bounded in size.
const MAX_PROBLEMS: usize = 50;

/// One run's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct StoreCheck {
    pub checked_at: String,
    pub intact: bool,
    pub entries: u64,
    pub objects: u64,
    pub invalid: u64,
    pub problems: Vec<String>,
}

/// Runs on schedule for the service's life.
pub async fn run(app: Arc<App>) {
    let every = app.config.verify.every_hours;
    if every == 0 {
        tracing::info!("scheduled store verification is off (verify.every_hours = 0)");
        return;
    }
    let every = Duration::from_secs(every * 3600);
    let settle = Duration::from_secs(app.config.verify.first_after_secs);
    loop {
        let wait = match latest(&app).await {
            Ok(Some(last)) => {
                let age = archive::clock::parse_ts(&last.checked_at).map(|t| app.vault.clock.now() - t).ok();
                let age = age.map_or(every, |a| Duration::try_from(a).unwrap_or_default());
                every.saturating_sub(age).max(settle)
            }
            Ok(None) => settle,
            Err(e) => {
                tracing::warn!(error = %e.message, "cannot read the last store verification");
                settle
            }
        };
        tokio::time::sleep(wait).await;
        match verify_now(&app).await {
            Ok(c) if c.intact => tracing::info!(entries = c.entries, objects = c.objects, "store verified: intact"),
            Ok(c) => tracing::error!(invalid = c.invalid, problems = c.problems.len(), first = c.problems.first().map(String::as_str).unwrap_or(""), "store verification FAILED"),
            Err(e) => tracing::warn!(error = %e.message, "store verification could not run; retrying at the next run"),
        }
    }
}

/// Verifies the whole store now and records the verdict.
pub async fn verify_now(app: &App) -> Result<StoreCheck, ApiError> {
    let opts = verify::Options { parallelism: 4, ..Default::default() };
    let report = verify::verify_store(&app.vault.store, app.vault.keys.signer.verifier(), opts).await.map_err(ApiError::internal)?;
    let invalid = report.findings.iter().filter(|f| matches!(f.verdict, Verdict::Invalid(_))).count();
    let mut problems = report.damage();
    problems.truncate(MAX_PROBLEMS);
    let check = StoreCheck {
        checked_at: app.vault.now(),
        intact: report.intact(),
        entries: report.entries,
        objects: report.findings.len() as u64,
        invalid: invalid as u64,
        problems,
    };
    let data = json!({ "intact": check.intact, "entries": check.entries, "objects": check.objects, "invalid": check.invalid, "problems": report.problems.len() });
    let entry = NewEntry { actor: archive::ledger::actor_system(), action: "store.verified", subject: "store".into(), data };
    let row = check.clone();
    app.vault
        .commit(entry, move |tx| {
            tx.execute(
                "INSERT INTO store_verifications (checked_at, intact, entries, objects, invalid, problems) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![row.checked_at, row.intact, row.entries, row.objects, row.invalid, serde_json::to_string(&row.problems).unwrap_or_default()],
            )?;
            Ok(())
        })
        .await?;
    Ok(check)
}

/// The newest verdict, if any run finished.
pub async fn latest(app: &App) -> Result<Option<StoreCheck>, ApiError> {
    app.vault
        .catalog
        .call(|c| {
            c.query_row(
                "SELECT checked_at, intact, entries, objects, invalid, problems FROM store_verifications ORDER BY checked_at DESC LIMIT 1",
                [],
                |r| {
                    let problems: String = r.get(5)?;
                    Ok(StoreCheck {
                        checked_at: r.get(0)?,
                        intact: r.get(1)?,
                        entries: r.get(2)?,
                        objects: r.get(3)?,
                        invalid: r.get(4)?,
                        problems: serde_json::from_str(&problems).unwrap_or_default(),
                    })
                },
            )
            .optional()
            .map_err(ApiError::from)
        })
        .await
}
