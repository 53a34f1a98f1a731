//! Transcripts and the job queue.
//!
//! `GET /api/v1/recordings/{rec}/transcript?format=json|vtt|srt|text[&stream=ID]`:
//! the sealed transcript, decrypted in memory (admins, inspectors in scope); every
//! read is a `transcript.viewed` entry. With `stream`, cues are timed on that
//! stream's own timeline; without, on the recording's, labelled by endpoint.
//! `GET /api/v1/jobs[?state=][&limit=N]`: the transcriber and its jobs.

use crate::http::{ApiError, Caller};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use niem_core::transcripts::{JobQuery, JobsView};
use niem_core::App;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscriptQuery {
    pub format: Option<String>,
    pub stream: Option<String>,
}

pub async fn get_transcript(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(rec): Path<String>,
    Query(q): Query<TranscriptQuery>,
) -> Result<Response, ApiError> {
    let stream = q.stream.map(|s| s.parse()).transpose()?;
    let (body, content_type) = niem_core::transcripts::view(&app, &who, rec.parse()?, q.format, stream).await?;
    Ok(([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "private, no-store")], body).into_response())
}

pub async fn list_jobs(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Query(q): Query<JobQuery>,
) -> Result<Json<JobsView>, ApiError> {
    Ok(Json(niem_core::transcripts::jobs(&app, &who, q).await?))
}
