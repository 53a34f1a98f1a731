//! Transcripts and the job queue.
//!
//! `GET /api/v1/recordings/{rec}/transcript?format=json|vtt|srt|text[&stream=ID]`
//! decrypts the sealed transcript in memory and serves it; every read is a
//! `transcript.viewed` ledger entry. With `stream`, cues are timed on that
//! stream's own timeline (for its player); without, on the recording's, each
//! labelled by endpoint. Content is for admins and inspectors; auditors see the
//! jobs, not the text.
//!
//! `GET /api/v1/jobs[?state=queued|running|done|failed][&limit=N]`: the
//! transcriber's model state, job counts, and jobs with progress and errors,
//! of the recordings in the caller's scope.

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::transcript::Transcript;
use crate::App;
use archive::id::RecordingId;
use archive::ledger::NewEntry;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscriptQuery {
    pub format: Option<String>,
    pub stream: Option<String>,
}

pub async fn get_transcript(State(app): State<Arc<App>>, who: Principal, Path(rec): Path<String>, Query(q): Query<TranscriptQuery>) -> Result<Response, ApiError> {
    who.require(&[Role::Admin, Role::Inspector])?;
    let rec: RecordingId = rec.parse()?;
    who.require_recording(&app, rec).await?;
    let format = q.format.unwrap_or_else(|| "json".into());
    if !matches!(format.as_str(), "json" | "vtt" | "srt" | "text") {
        return Err(ApiError::bad_request("format must be json, vtt, srt or text"));
    }
    let stream: Option<archive::id::StreamId> = q.stream.map(|s| s.parse()).transpose()?;
    let Some(plain) = app.vault.read_transcript(rec).await? else {
        return Err(ApiError::not_found(why_missing(&app, rec).await?));
    };
    let doc: Transcript = serde_json::from_slice(&plain).map_err(|e| ApiError::internal(format!("stored transcript does not parse: {e}")))?;
    let stream = stream.map(|s| s.to_string());
    if let Some(s) = &stream {
        if !doc.streams.iter().any(|p| &p.stream == s) {
            return Err(ApiError::not_found(format!("stream {s} is not part of recording {rec}")));
        }
    }
    app.vault
        .record(NewEntry { actor: who.actor(), action: "transcript.viewed", subject: format!("recording/{rec}"), data: json!({ "format": format, "stream": stream }) })
        .await?;
    let (body, content_type) = match format.as_str() {
        "vtt" => (doc.to_vtt(stream.as_deref()), "text/vtt; charset=utf-8"),
        "srt" => (doc.to_srt(stream.as_deref()), "application/x-subrip; charset=utf-8"),
        "text" => (doc.to_text(), "text/plain; charset=utf-8"),
        _ => (String::from_utf8(plain).map_err(ApiError::internal)?, "application/json"),
    };
    Ok(([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "private, no-store")], body).into_response())
}

/// A 404 that says where the transcript is: queued, running, failed, or waiting
/// for a model.
pub async fn why_missing(app: &App, rec: RecordingId) -> Result<String, ApiError> {
    let job: Option<(String, Option<String>, u64, Option<u64>)> = app
        .vault
        .catalog
        .call(move |c| {
            c.query_row(
                "SELECT state, error, progress_ms, total_ms FROM jobs WHERE kind = 'transcribe' AND recording = ?1",
                [rec.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(ApiError::from)
        })
        .await?;
    let waiting = match app.transcription.status().model {
        crate::transcription::ModelState::Ready { .. } => "",
        crate::transcription::ModelState::Loading { .. } => " (the model is loading)",
        _ => " (no Whisper model is loaded; see GET /api/v1/jobs)",
    };
    Ok(match job {
        None => format!("recording {rec} has no transcript: it is not sealed"),
        Some((state, _, done, Some(total))) if state == "running" && total > 0 => {
            format!("the transcript of recording {rec} is being made: {}% done", done * 100 / total)
        }
        Some((state, Some(error), ..)) if state == "failed" => format!("transcription of recording {rec} failed: {error}"),
        Some((state, ..)) => format!("the transcript of recording {rec} is not ready: its job is {state}{waiting}"),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobQuery {
    pub state: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct JobsView {
    pub transcriber: crate::transcription::Status,
    pub counts: std::collections::BTreeMap<String, u64>,
    pub jobs: Vec<crate::jobs::JobView>,
}

pub async fn list_jobs(State(app): State<Arc<App>>, who: Principal, Query(q): Query<JobQuery>) -> Result<Json<JobsView>, ApiError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor])?;
    if let Some(s) = &q.state {
        if !matches!(s.as_str(), "queued" | "running" | "done" | "failed") {
            return Err(ApiError::bad_request("state must be queued, running, done or failed"));
        }
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let scope = who.scope_json();
    let (counts, jobs) = app
        .vault
        .catalog
        .call(move |c| {
            let counts = crate::jobs::counts(c, scope.clone())?;
            let jobs = crate::jobs::list(c, scope, q.state.as_deref(), limit)?;
            Ok::<_, archive::vault::VaultError>((counts, jobs))
        })
        .await?;
    Ok(Json(JobsView { transcriber: app.transcription.status(), counts, jobs }))
}
