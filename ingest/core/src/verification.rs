//! Self-verification, with the same verifier `niem-audit verify` runs
//! (`archive::verify`): of one recording (after its seal, and on request), kept
//! for its page's badge; and of the whole store, daily by default (`[verify]
//! every_hours`), each verdict a catalog row and a `store.verified` ledger entry
//! that `/metrics` and the web UI show. Reading a badge never touches the store.
//!
//! The scheduled run is rolling (`archive::sample::due`): it always verifies the
//! whole ledger and every signature, but fetches only the objects stored since
//! the last run, the old objects whose day in the cycle came, and every object of
//! a recording found damaged before. The first run fetches everything; after it,
//! every object is fetched at least once in each `verify.full_cycle_days`.
//!
//! It is not the auditor's check: it runs with the service's own read access and
//! key, so it catches damage and loss in the store early, while an independent
//! auditor with `niem-audit` proves the same thing without trusting the service.

use crate::app::App;
use crate::catalog::{self, Repo};
use crate::error::DomainError;
use archive::id::RecordingId;
use archive::ledger::NewEntry;
use archive::vault::VaultError;
use archive::verify::{self, Report, Verdict};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Problem lines kept per run: enough to act on, bounded in size.
const MAX_PROBLEMS: usize = 50;

pub use crate::catalog::{CheckpointRef, StoreCheck, Verification};

/// When each part of the store was last checked, as of the newest run: what
/// `/metrics` and the badge say.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Coverage {
    /// The newest run: every object stored before it was fetched by it or earlier.
    pub last_run: String,
    /// Every object stored before the newest run was fetched at or after this
    /// time: the newest full run, or the start of the cycle's oldest day.
    pub every_object_since: String,
    pub cycle_days: u32,
}

/// The last verification kept for a recording; not found if it was never
/// verified. Reads the catalog only: it never touches the store.
pub async fn latest_verification(app: &App, rec: RecordingId) -> Result<Verification, DomainError> {
    let row =
        catalog::read(&app.vault.catalog, move |repo| repo.latest_verification(rec).map_err(DomainError::from)).await?;
    row.ok_or_else(|| DomainError::not_found(format!("recording {rec} was never verified")))
}

/// Verifies one recording's objects against the catalog's ledger entries with the
/// same code `niem-audit` runs, checks a signed checkpoint covers its seal, and
/// keeps the result, with that checkpoint and `source`, for the recording's page.
pub async fn verify_and_record(app: &Arc<App>, rec: RecordingId, source: &str) -> Result<Verification, DomainError> {
    let prefix = format!("recording/{rec}");
    let (entries, checkpoint) = catalog::read(&app.vault.catalog, move |repo| {
        Ok::<_, DomainError>((repo.recording_entries(rec)?, repo.newest_checkpoint()?))
    })
    .await?;
    let checkpointed = checkpoint.as_ref().map_or(0, |cp| cp.size);
    let report: Report = archive::verify::verify_recording(&app.vault.store, rec, &entries, checkpointed)
        .await
        .map_err(DomainError::unavailable)?;
    let sealed_seq = entries.iter().find(|e| e.action == "recording.sealed" && e.subject == prefix).map(|e| e.seq);
    let mut problems = report.problems.clone();
    problems.extend(report.findings.iter().filter_map(|f| match &f.verdict {
        Verdict::Invalid(why) | Verdict::Unsupported(why) => Some(format!("{}: {why}", f.object)),
        _ => None,
    }));
    let v = Verification {
        intact: report.intact(),
        checked_at: app.vault.now(),
        covered_by_checkpoint: sealed_seq.is_some_and(|seq| seq < checkpointed),
        checkpoint,
        source: Some(source.to_string()),
        problems,
    };
    let row = (rec.to_string(), v.clone());
    catalog::read(&app.vault.catalog, move |repo| repo.insert_verification(&row.0, &row.1).map_err(DomainError::from))
        .await?;
    Ok(v)
}

/// The newest signed checkpoint the service has written, from the catalog
/// (`ledger_mirror`, which the mirror updates only after the object is stored).
pub async fn newest_checkpoint(app: &App) -> Result<Option<CheckpointRef>, DomainError> {
    catalog::read(&app.vault.catalog, |repo| repo.newest_checkpoint().map_err(DomainError::from)).await
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
                tracing::warn!(error = %e, "cannot read the last store verification");
                settle
            }
        };
        tokio::time::sleep(wait).await;
        match verify_now(&app).await {
            Ok(c) if c.intact => tracing::info!(entries = c.entries, objects = c.objects, "store verified: intact"),
            Ok(c) => tracing::error!(
                invalid = c.invalid,
                problems = c.problems.len(),
                first = c.problems.first().map(String::as_str).unwrap_or(""),
                "store verification FAILED"
            ),
            Err(e) => tracing::warn!(error = %e, "store verification could not run; retrying at the next run"),
        }
    }
}

/// Verifies the store now, the rolling share of it, and records the verdict.
pub async fn verify_now(app: &App) -> Result<StoreCheck, DomainError> {
    let rolling = rolling(app).await?;
    // A first run has no last run to start from: it fetches everything.
    let full = rolling.last_run.is_none();
    let selection = archive::sample::Selection::Rolling(rolling);
    let opts = verify::Options { parallelism: 4, selection, ..Default::default() };
    let report = verify::verify_store(&app.vault.store, app.vault.keys.signer.verifier(), opts)
        .await
        .map_err(DomainError::internal)?;
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
        mode: if full { "full" } else { "rolling" }.to_string(),
        fetched: Some(report.sample.as_ref().map_or(report.findings.len() as u64, |s| s.fetched)),
        population: Some(report.sample.as_ref().map_or(report.findings.len() as u64, |s| s.population)),
    };
    let data = json!({ "intact": check.intact, "entries": check.entries, "objects": check.objects, "invalid": check.invalid, "problems": report.problems.len(), "mode": check.mode, "fetched": check.fetched, "population": check.population });
    let entry =
        NewEntry { actor: archive::ledger::actor_system(), action: "store.verified", subject: "store".into(), data };
    let row = check.clone();
    let shares = Shares::of(&report, &check.checked_at);
    catalog::commit(&app.vault, entry, move |repo| {
        repo.insert_store_check(&row)?;
        let kept = shares.keep(repo)?;
        tracing::debug!(recordings = kept, "each sealed recording's verdict kept");
        Ok::<_, VaultError>(())
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
    fn keep(&self, repo: &dyn Repo) -> catalog::Result<usize> {
        let sealed = repo.sealed_before(self.entries)?;
        repo.clear_scheduled_verifications()?;
        for (rec, seal_seq) in &sealed {
            let mut found = self.damage.get(rec).cloned().unwrap_or_default();
            found.extend(self.problems.iter().filter(|p| p.contains(rec.as_str())).cloned());
            let v = Verification {
                intact: found.is_empty(),
                checked_at: self.checked_at.clone(),
                covered_by_checkpoint: self.checkpoint.as_ref().is_some_and(|cp| *seal_seq < cp.size),
                checkpoint: self.checkpoint.clone(),
                source: Some("scheduled".into()),
                problems: found,
            };
            repo.insert_verification(rec, &v)?;
        }
        Ok(sealed.len())
    }
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

/// The rolling run's inputs: the last run's time, and the recordings whose
/// newest scheduled verdict is not intact (their objects are fetched again).
async fn rolling(app: &App) -> Result<archive::sample::Rolling, DomainError> {
    let newest = latest(app).await?;
    let last = newest.as_ref().and_then(|c| archive::clock::parse_ts(&c.checked_at).ok());
    let mut recheck =
        catalog::read(&app.vault.catalog, |repo| repo.damaged_in_last_run().map_err(DomainError::from)).await?;
    // Record objects have no verdict of their own in the catalog: the meetings
    // the last run's damage lines name are fetched whole again, so damage found
    // once stays named (on the meeting page's badge) until it is clean.
    if let Some(c) = &newest {
        recheck.extend(damaged_meetings(&c.problems));
    }
    let cycle_days = app.config.verify.full_cycle_days.max(1);
    Ok(archive::sample::Rolling { last_run: last, now: app.vault.clock.now(), cycle_days, recheck })
}

/// The meetings whose record objects (`meetings/<meeting>/…`) the damage
/// lines name, each once.
fn damaged_meetings(problems: &[String]) -> Vec<String> {
    let mut out: Vec<String> = problems
        .iter()
        .flat_map(|p| p.match_indices("meetings/").map(move |(i, m)| &p[i + m.len()..]))
        .filter_map(|rest| rest.split('/').next())
        .filter(|id| archive::id::parse_ulid("meeting", id).is_ok())
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The newest verdict, if any run finished.
pub async fn latest(app: &App) -> Result<Option<StoreCheck>, DomainError> {
    catalog::read(&app.vault.catalog, |repo| repo.latest_store_check().map_err(DomainError::from)).await
}

/// When each part of the store was last checked (None before the first run).
pub async fn coverage(app: &App) -> Result<Option<Coverage>, DomainError> {
    let cycle_days = app.config.verify.full_cycle_days.max(1);
    let (newest, full) =
        catalog::read(&app.vault.catalog, |repo| repo.store_check_times().map_err(DomainError::from)).await?;
    let Some(newest) = newest else { return Ok(None) };
    Ok(Some(Coverage {
        every_object_since: every_object_since(&newest, full.as_deref(), cycle_days),
        last_run: newest,
        cycle_days,
    }))
}

/// The bound [`archive::sample::due`] gives: an object whose slot fell in the
/// cycle's days up to the newest run was fetched on or after that day, and the
/// first run fetched everything (a full run resets the bound forward).
fn every_object_since(newest: &str, full: Option<&str>, cycle_days: u32) -> String {
    let Ok(t) = archive::clock::parse_ts(newest) else { return newest.to_string() };
    let start = (t - time::Duration::days(i64::from(cycle_days) - 1)).replace_time(time::Time::MIDNIGHT);
    let since = match full.and_then(|f| archive::clock::parse_ts(f).ok()) {
        Some(f) if f > start => f,
        _ => start,
    };
    archive::clock::format_ts(since)
}

#[cfg(test)]
mod tests {

    #[test]
    fn damage_lines_name_the_meetings_to_fetch_again() {
        let m = "01M8W42FEVH5PEFDVXB0VFBQB0";
        let problems = vec![
            format!("record meetings/{m}/record/01M8W42FEVH5PEFDVXB0VFBQB1/00000000.niem: hash mismatch"),
            format!("record key meetings/{m}/record/01M8W42FEVH5PEFDVXB0VFBQB1/key.dek: missing"),
            "chunk recordings/01M8W42FEVH5PEFDVXB0VFBQB2/s/00000000.niem: hash mismatch".to_string(),
            "meetings/not-an-id/record/x: stray".to_string(),
        ];
        assert_eq!(damaged_meetings(&problems), vec![m.to_string()]);
    }

    use super::{damaged_meetings, every_object_since};

    /// The bound is the start of the cycle's oldest day, unless a full run came later.
    #[test]
    fn every_object_was_checked_since_the_cycle_start_or_the_newest_full_run() {
        let newest = "2026-03-31T10:00:00.000Z";
        assert_eq!(every_object_since(newest, None, 30), "2026-03-02T00:00:00.000Z");
        assert_eq!(every_object_since(newest, Some("2026-01-01T00:00:00.000Z"), 30), "2026-03-02T00:00:00.000Z");
        assert_eq!(every_object_since(newest, Some("2026-03-20T04:00:00.000Z"), 30), "2026-03-20T04:00:00.000Z");
        assert_eq!(every_object_since(newest, None, 1), "2026-03-31T00:00:00.000Z");
    }
}
