//! Scheduled self-verification: the service runs, over its whole store, the same
//! verifier that `niem-audit verify` runs (`archive::verify`), daily by default
//! (`[verify] every_hours`). Each verdict is a catalog row and a
//! `store.verified` ledger entry; `/metrics` and the web UI's integrity badges
//! show the newest one.
//!
//! It is not the auditor's check: it runs with the service's own read access and
//! key, so it catches damage and loss in the store early, while an independent
//! auditor with `niem-audit` proves the same thing without trusting the service.

use crate::api::Verification;
use crate::app::App;
use crate::error::ApiError;
use archive::ledger::NewEntry;
use archive::verify::{self, Report, Verdict};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
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

/// The newest signed checkpoint the service has written, from the catalog
/// (`ledger_mirror`, which the mirror updates only after the object is stored).
pub fn newest_checkpoint(c: &rusqlite::Connection) -> rusqlite::Result<Option<CheckpointRef>> {
    let sql = "SELECT checkpointed, checkpoint_ts FROM ledger_mirror WHERE id = 1";
    let (size, time): (u64, Option<String>) =
        c.query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok((size > 0).then_some(CheckpointRef { size, time }))
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
    let shares = Shares::of(&report, &check.checked_at);
    app.vault
        .commit(entry, move |tx| {
            tx.execute(
                "INSERT INTO store_verifications (checked_at, intact, entries, objects, invalid, problems) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![row.checked_at, row.intact, row.entries, row.objects, row.invalid, serde_json::to_string(&row.problems).unwrap_or_default()],
            )?;
            let kept = shares.keep(tx)?;
            tracing::debug!(recordings = kept, "each sealed recording's verdict kept");
            Ok(())
        })
        .await?;
    Ok(check)
}

/// A store-wide run as each sealed recording sees it, kept as its newest
/// `scheduled` verification so that its badge follows the daily run without a
/// page view ever verifying: intact unless an object of it, or a problem
/// naming it, failed.
struct Shares {
    checked_at: String,
    checkpoint: Option<CheckpointRef>,
    /// Ledger entries the run read from the store: seals past them are not judged.
    entries: u64,
    damage: HashMap<String, Vec<String>>,
    problems: Vec<String>,
}

impl Shares {
    fn of(report: &Report, checked_at: &str) -> Self {
        let time = report.newest_checkpoint_time.clone();
        Shares {
            checked_at: checked_at.to_string(),
            checkpoint: report.newest_checkpoint_size.map(|size| CheckpointRef { size, time }),
            entries: report.entries,
            damage: damage_by_recording(report),
            problems: report.problems.clone(),
        }
    }

    /// Replaces the previous run's rows (one per recording), in the run's own
    /// transaction; returns how many recordings were judged.
    fn keep(&self, tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<usize> {
        let sealed = sealed_recordings(tx, self.entries)?;
        tx.execute("DELETE FROM verifications WHERE source = 'scheduled'", [])?;
        for (rec, seal_seq) in &sealed {
            let mut found = self.damage.get(rec).cloned().unwrap_or_default();
            found.extend(self.problems.iter().filter(|p| p.contains(rec.as_str())).cloned());
            let v = Verification {
                intact: found.is_empty(),
                checked_at: self.checked_at.clone(),
                covered_by_checkpoint: self
                    .checkpoint
                    .as_ref()
                    .is_some_and(|cp| *seal_seq < cp.size),
                checkpoint: self.checkpoint.clone(),
                source: Some("scheduled".into()),
                problems: found,
            };
            crate::api::record_verification(tx, rec, &v)?;
        }
        Ok(sealed.len())
    }
}

/// Sealed recordings whose `recording.sealed` entry is among the first
/// `entries` of the ledger: (id, seq of the seal).
fn sealed_recordings(
    c: &rusqlite::Connection,
    entries: u64,
) -> rusqlite::Result<Vec<(String, u64)>> {
    let mut stmt = c.prepare(
        "SELECT r.id, l.seq FROM ledger l JOIN recordings r ON l.subject = 'recording/' || r.id
         WHERE l.action = 'recording.sealed' AND l.seq < ?1 AND r.state = 'sealed'",
    )?;
    let rows = stmt.query_map([entries], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Invalid or unreadable objects of each recording (`recordings/<rec>/…`,
/// `keys/<rec>/…`), as `<object>: <why>`.
fn damage_by_recording(report: &Report) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for f in &report.findings {
        let (Verdict::Invalid(why) | Verdict::Unsupported(why)) = &f.verdict else { continue };
        let mut parts = f.object.split('/');
        if let (Some("recordings" | "keys"), Some(rec)) = (parts.next(), parts.next()) {
            out.entry(rec.to_string()).or_default().push(format!("{}: {why}", f.object));
        }
    }
    out
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
