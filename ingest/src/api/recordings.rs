//! Recordings: read one with its manifest and verification status, seal it, verify it.

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::App;
use archive::id::RecordingId;
use archive::ledger;
use archive::verify::{Report, Verdict};
use axum::extract::{Path, State};
use axum::Json;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;

#[derive(Debug, Serialize)]
pub struct Verification {
    pub intact: bool,
    pub checked_at: String,
    /// Whether a signed checkpoint in the store covers the recording's seal.
    pub covered_by_checkpoint: bool,
    pub problems: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RecordingView {
    pub id: String,
    pub state: String,
    pub manifest: archive::manifest::Manifest,
    pub verification: Option<Verification>,
}

pub async fn get_recording(State(app): State<Arc<App>>, who: Principal, Path(rec): Path<String>) -> Result<Json<RecordingView>, ApiError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor, Role::Recorder])?;
    let rec: RecordingId = rec.parse()?;
    if who.role == Role::Inspector {
        who.require_recording(&app, rec).await?;
    }
    let manifest = app.vault.manifest_draft(rec).await?;
    let state: String = app.vault.catalog.call(move |c| c.query_row("SELECT state FROM recordings WHERE id = ?1", [rec.to_string()], |r| r.get(0)).map_err(ApiError::from)).await?;
    let verification = latest_verification(&app, rec).await.ok();
    Ok(Json(RecordingView { id: rec.to_string(), state, manifest, verification }))
}

pub async fn seal(State(app): State<Arc<App>>, who: Principal, Path(rec): Path<String>) -> Result<Json<archive::manifest::Manifest>, ApiError> {
    who.require(&[Role::Admin, Role::Recorder])?;
    let rec: RecordingId = rec.parse()?;
    let manifest = crate::jobs::seal_recording(&app, &who.actor(), rec).await?;
    let app2 = app.clone();
    tokio::spawn(async move {
        if let Err(e) = verify_and_record(&app2, rec).await {
            tracing::warn!(recording = %rec, error = %e.message, "verification after seal failed to run");
        }
    });
    Ok(Json(manifest))
}

pub async fn verify(State(app): State<Arc<App>>, who: Principal, Path(rec): Path<String>) -> Result<Json<Verification>, ApiError> {
    who.require(&[Role::Admin, Role::Auditor])?;
    let rec: RecordingId = rec.parse()?;
    let known: Option<String> =
        app.vault.catalog.call(move |c| c.query_row("SELECT id FROM recordings WHERE id = ?1", [rec.to_string()], |r| r.get(0)).optional().map_err(ApiError::from)).await?;
    if known.is_none() {
        return Err(ApiError::not_found(format!("recording {rec} not found")));
    }
    Ok(Json(verify_and_record(&app, rec).await?))
}

/// The last verification kept for a recording; not found if it was never verified.
pub async fn latest_verification(app: &App, rec: RecordingId) -> Result<Verification, ApiError> {
    let row: Option<(String, bool, String)> = app
        .vault
        .catalog
        .call(move |c| {
            c.query_row(
                "SELECT checked_at, intact, report FROM verifications WHERE recording = ?1 ORDER BY checked_at DESC LIMIT 1",
                [rec.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(ApiError::from)
        })
        .await?;
    let (checked_at, intact, report) = row.ok_or_else(|| ApiError::not_found(format!("recording {rec} was never verified")))?;
    let report: serde_json::Value = serde_json::from_str(&report).unwrap_or_default();
    Ok(Verification {
        intact,
        checked_at,
        covered_by_checkpoint: report["covered_by_checkpoint"].as_bool().unwrap_or(false),
        problems: serde_json::from_value(report["problems"].clone()).unwrap_or_default(),
    })
}

/// Verifies one recording's objects against the catalog's ledger entries with the
/// same code `niem-audit` runs, checks a signed checkpoint covers its seal, and
/// keeps the result for the recording's page.
pub async fn verify_and_record(app: &Arc<App>, rec: RecordingId) -> Result<Verification, ApiError> {
    let prefix = format!("recording/{rec}");
    let subject = prefix.clone();
    let (entries, checkpointed) = app
        .vault
        .catalog
        .call(move |c| {
            // Its own entries, and those that judge whether a shred of it was lawful.
            let actions = archive::retention::ACTIONS.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(", ");
            let filter = format!("subject = ?1 OR subject LIKE ?2 OR action IN ({actions})");
            let entries = ledger::read_where(c, &filter, params![subject, format!("{subject}/%")]).map_err(ApiError::internal)?;
            let checkpointed: u64 = c.query_row("SELECT checkpointed FROM ledger_mirror WHERE id = 1", [], |r| r.get(0))?;
            Ok::<_, ApiError>((entries, checkpointed))
        })
        .await?;
    let report: Report =
        archive::verify::verify_recording(&app.vault.store, rec, &entries, checkpointed).await.map_err(ApiError::unavailable)?;
    let sealed_seq = entries.iter().find(|e| e.action == "recording.sealed" && e.subject == prefix).map(|e| e.seq);
    let covered = sealed_seq.is_some_and(|seq| seq < checkpointed);
    let mut problems = report.problems.clone();
    problems.extend(report.findings.iter().filter_map(|f| match &f.verdict {
        Verdict::Invalid(why) | Verdict::Unsupported(why) => Some(format!("{}: {why}", f.object)),
        _ => None,
    }));
    let v = Verification { intact: report.intact(), checked_at: app.vault.now(), covered_by_checkpoint: covered, problems };
    let stored = json!({ "covered_by_checkpoint": v.covered_by_checkpoint, "problems": v.problems }).to_string();
    let (at, intact) = (v.checked_at.clone(), v.intact);
    app.vault
        .catalog
        .call(move |c| {
            c.execute("INSERT INTO verifications (recording, checked_at, intact, report) VALUES (?1, ?2, ?3, ?4)", params![rec.to_string(), at, intact, stored])
                .map_err(ApiError::from)
        })
        .await?;
    Ok(v)
}
