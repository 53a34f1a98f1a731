//! Recordings: read one with its manifest and verification status, start one for
//! a meeting, seal it, verify it.
//!
//! A recording is verified (every object fetched and hashed) after its seal, by
//! the scheduled verification of the whole store, and on `POST …/verify`;
//! reading it, or its meeting page, only reads the kept verdict.

use crate::app::App;
use crate::catalog;
use crate::error::DomainError;
use crate::principal::{Principal, Role};
use crate::schema::MeetingId;
use crate::verification::{latest_verification, verify_and_record, Verification};
use archive::id::RecordingId;
use archive::manifest::Manifest;
use archive::vault::VaultError;
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Serialize)]
pub struct RecordingView {
    pub id: String,
    pub state: String,
    pub manifest: archive::manifest::Manifest,
    pub verification: Option<Verification>,
    /// Whether a witness cosigned past the seal (absent when none is configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witness: Option<crate::witnesses::Witnessed>,
}

/// A recording with its manifest and its last kept verification.
pub async fn view(app: &App, who: &Principal, rec: RecordingId) -> Result<RecordingView, DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor, Role::Recorder])?;
    who.require_recording(app, rec).await?;
    let manifest = app.vault.manifest_draft(rec).await?;
    let state =
        catalog::read(&app.vault.catalog, move |repo| repo.recording_state(rec).map_err(DomainError::from)).await?;
    let state = state.ok_or_else(|| DomainError::internal(format!("recording {rec} has a manifest but no state")))?;
    let verification = latest_verification(app, rec).await.ok();
    let witness = crate::witnesses::witnessed(app, rec).await?;
    Ok(RecordingView { id: rec.to_string(), state, manifest, verification, witness })
}

/// Seals a recording (admins; recorders in their scope) and verifies it once,
/// in the background, for its integrity badge.
pub async fn seal(app: &Arc<App>, who: &Principal, rec: RecordingId) -> Result<Manifest, DomainError> {
    who.require(&[Role::Admin, Role::Recorder])?;
    who.require_recording(app, rec).await?;
    let manifest = seal_now(app, &who.actor(), rec).await?;
    let app2 = app.clone();
    tokio::spawn(async move {
        if let Err(e) = verify_and_record(&app2, rec, "seal").await {
            tracing::warn!(recording = %rec, error = %e, "verification after seal failed to run");
        }
    });
    Ok(manifest)
}

/// Seals `rec` as `actor` (a user, an endpoint, the service), queuing its
/// transcription in the same transaction.
pub async fn seal_now(app: &App, actor: &str, rec: RecordingId) -> Result<Manifest, DomainError> {
    let now = app.vault.now();
    let queue = catalog::in_tx(move |repo| Ok(repo.enqueue_transcription(rec, &now)?));
    let manifest = app.vault.seal_with(actor, rec, queue).await?;
    app.transcription.wake();
    app.locks.notify_one();
    Ok(manifest)
}

/// Verifies a recording now, on an admin's or auditor's request.
pub async fn verify(app: &Arc<App>, who: &Principal, rec: RecordingId) -> Result<Verification, DomainError> {
    who.require(&[Role::Admin, Role::Auditor])?;
    let known =
        catalog::read(&app.vault.catalog, move |repo| repo.recording_exists(rec).map_err(DomainError::from)).await?;
    if !known {
        return Err(DomainError::not_found(format!("recording {rec} not found")));
    }
    verify_and_record(app, rec, "request").await
}

/// The meeting's recording, started on its first upload. One recording per meeting.
/// Nodes sharing a catalog may both start one for the same meeting at once;
/// the one whose link loses rolls its recording back and takes the winner's.
pub async fn recording_for(app: &App, actor: &str, meeting: MeetingId) -> Result<RecordingId, DomainError> {
    let _guard = app.recording_start.lock().await;
    loop {
        let found =
            catalog::read(&app.vault.catalog, move |repo| repo.meeting_recording(meeting).map_err(DomainError::from))
                .await?;
        let (org, recording) = found.ok_or_else(|| DomainError::not_found(format!("meeting {meeting} not found")))?;
        if let Some(rec) = recording {
            return Ok(rec.parse()?);
        }
        let started = app
            .vault
            .start_recording(
                actor,
                &meeting.to_string(),
                &org,
                catalog::in_tx_with(move |repo, rec| match repo.link_recording(meeting, rec)? {
                    true => Ok(()),
                    false => Err(VaultError::Conflict(LOST_THE_RACE.into())),
                }),
            )
            .await;
        match started {
            Err(VaultError::Conflict(why)) if why == LOST_THE_RACE => continue,
            other => return Ok(other?),
        }
    }
}

/// Another node linked the meeting's recording first.
const LOST_THE_RACE: &str = "the meeting got a recording from another node meanwhile";
