//! Recordings: read one with its manifest and verification status, seal it, verify it.
//!
//! A recording is verified (every object fetched and hashed) after its seal, by
//! the scheduled verification of the whole store, and on `POST …/verify`;
//! reading it, or its meeting page, only reads the kept verdict.

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::verification::{newest_checkpoint, CheckpointRef};
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

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub intact: bool,
    pub checked_at: String,
    /// Whether a signed checkpoint in the store covers the recording's seal.
    pub covered_by_checkpoint: bool,
    /// The newest signed checkpoint then; none before the first one (and on
    /// verifications kept before v0.3, which did not record it).
    pub checkpoint: Option<CheckpointRef>,
    /// What ran it: `seal`, `request` or `scheduled`.
    pub source: Option<String>,
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
    who.require_recording(&app, rec).await?;
    let manifest = app.vault.manifest_draft(rec).await?;
    let state: String = app.vault.catalog.call(move |c| c.query_row("SELECT state FROM recordings WHERE id = ?1", [rec.to_string()], |r| r.get(0)).map_err(ApiError::from)).await?;
    let verification = latest_verification(&app, rec).await.ok();
    Ok(Json(RecordingView { id: rec.to_string(), state, manifest, verification }))
}

/// Seals a recording (admins; recorders in their scope) and verifies it once,
/// in the background, for its integrity badge.
pub async fn seal(State(app): State<Arc<App>>, who: Principal, Path(rec): Path<String>) -> Result<Json<archive::manifest::Manifest>, ApiError> {
    who.require(&[Role::Admin, Role::Recorder])?;
    let rec: RecordingId = rec.parse()?;
    who.require_recording(&app, rec).await?;
    let manifest = crate::jobs::seal_recording(&app, &who.actor(), rec).await?;
    let app2 = app.clone();
    tokio::spawn(async move {
        if let Err(e) = verify_and_record(&app2, rec, "seal").await {
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
    Ok(Json(verify_and_record(&app, rec, "request").await?))
}

/// The last verification kept for a recording; not found if it was never
/// verified. Reads the catalog only: it never touches the store.
pub async fn latest_verification(app: &App, rec: RecordingId) -> Result<Verification, ApiError> {
    let row = app
        .vault
        .catalog
        .call(move |c| {
            c.query_row(
                "SELECT checked_at, intact, report, checkpoint_size, checkpoint_ts, source
                 FROM verifications WHERE recording = ?1
                 ORDER BY checked_at DESC, rowid DESC LIMIT 1",
                [rec.to_string()],
                verification_row,
            )
            .optional()
            .map_err(ApiError::from)
        })
        .await?;
    row.ok_or_else(|| ApiError::not_found(format!("recording {rec} was never verified")))
}

fn verification_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Verification> {
    let report: String = r.get(2)?;
    let report: serde_json::Value = serde_json::from_str(&report).unwrap_or_default();
    let size: Option<u64> = r.get(3)?;
    let time: Option<String> = r.get(4)?;
    Ok(Verification {
        intact: r.get(1)?,
        checked_at: r.get(0)?,
        covered_by_checkpoint: report["covered_by_checkpoint"].as_bool().unwrap_or(false),
        checkpoint: size.map(|size| CheckpointRef { size, time }),
        source: r.get(5)?,
        problems: serde_json::from_value(report["problems"].clone()).unwrap_or_default(),
    })
}

/// Keeps a recording's verification, in the caller's transaction or connection.
pub fn record_verification(
    c: &rusqlite::Connection,
    rec: &str,
    v: &Verification,
) -> rusqlite::Result<()> {
    let report =
        json!({ "covered_by_checkpoint": v.covered_by_checkpoint, "problems": v.problems })
            .to_string();
    let (size, time) = (
        v.checkpoint.as_ref().map(|cp| cp.size),
        v.checkpoint.as_ref().and_then(|cp| cp.time.clone()),
    );
    c.execute(
        "INSERT INTO verifications
           (recording, checked_at, intact, report, checkpoint_size, checkpoint_ts, source)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![rec, v.checked_at, v.intact, report, size, time, v.source],
    )?;
    Ok(())
}

/// Verifies one recording's objects against the catalog's ledger entries with the
/// same code `niem-audit` runs, checks a signed checkpoint covers its seal, and
/// keeps the result, with that checkpoint and `source`, for the recording's page.
pub async fn verify_and_record(
    app: &Arc<App>,
    rec: RecordingId,
    source: &str,
) -> Result<Verification, ApiError> {
    let prefix = format!("recording/{rec}");
    let subject = prefix.clone();
    let (entries, checkpoint) = app
        .vault
        .catalog
        .call(move |c| {
            // Its own entries, and those that judge whether a shred of it was lawful.
            let actions: Vec<String> =
                archive::retention::ACTIONS.iter().map(|a| format!("'{a}'")).collect();
            let filter =
                format!("subject = ?1 OR subject LIKE ?2 OR action IN ({})", actions.join(", "));
            let entries = ledger::read_where(c, &filter, params![subject, format!("{subject}/%")])
                .map_err(ApiError::internal)?;
            Ok::<_, ApiError>((entries, newest_checkpoint(c)?))
        })
        .await?;
    let checkpointed = checkpoint.as_ref().map_or(0, |cp| cp.size);
    let report: Report =
        archive::verify::verify_recording(&app.vault.store, rec, &entries, checkpointed)
            .await
            .map_err(ApiError::unavailable)?;
    let sealed_seq = entries
        .iter()
        .find(|e| e.action == "recording.sealed" && e.subject == prefix)
        .map(|e| e.seq);
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
    app.vault
        .catalog
        .call(move |c| record_verification(c, &row.0, &row.1).map_err(ApiError::from))
        .await?;
    Ok(v)
}
