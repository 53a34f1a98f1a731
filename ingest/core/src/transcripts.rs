//! Transcripts as callers read them: the sealed document, decrypted in memory
//! and ledgered as viewed (admins; inspectors in scope), or why it is not there
//! yet; and the transcription queue (no content: auditors see it too).
//!
//! [`crate::transcript`] is the document; [`crate::transcription`] the worker
//! that makes it; [`crate::jobs`] its queue.

use crate::app::App;
use crate::catalog::{self, Scope};
use crate::error::DomainError;
use crate::jobs::JobView;
use crate::principal::{Principal, Role};
use crate::transcript::Transcript;
use archive::id::RecordingId;
use archive::ledger::NewEntry;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A recording's transcript for `who` (admins; inspectors in scope), as `format`
/// (json, vtt, srt or text; cues on `stream`'s own timeline if given): the body
/// and its content type. Ledgered as `transcript.viewed` before it is returned.
pub async fn view(
    app: &App,
    who: &Principal,
    rec: RecordingId,
    format: Option<String>,
    stream: Option<archive::id::StreamId>,
) -> Result<(String, &'static str), DomainError> {
    who.require(&[Role::Admin, Role::Inspector])?;
    who.require_recording(app, rec).await?;
    let format = format.unwrap_or_else(|| "json".into());
    if !matches!(format.as_str(), "json" | "vtt" | "srt" | "text") {
        return Err(DomainError::invalid("format must be json, vtt, srt or text"));
    }
    let Some(plain) = app.vault.read_transcript(rec).await? else {
        return Err(DomainError::not_found(why_missing(app, rec).await?.describe(rec)));
    };
    let doc: Transcript = serde_json::from_slice(&plain)
        .map_err(|e| DomainError::internal(format!("stored transcript does not parse: {e}")))?;
    let stream = stream.map(|s| s.to_string());
    if let Some(s) = &stream {
        if !doc.streams.iter().any(|p| &p.stream == s) {
            return Err(DomainError::not_found(format!("stream {s} is not part of recording {rec}")));
        }
    }
    app.vault
        .record(NewEntry {
            actor: who.actor(),
            action: "transcript.viewed",
            subject: format!("recording/{rec}"),
            data: json!({ "format": format, "stream": stream }),
        })
        .await?;
    let (body, content_type) = match format.as_str() {
        "vtt" => (doc.to_vtt(stream.as_deref()), "text/vtt; charset=utf-8"),
        "srt" => (doc.to_srt(stream.as_deref()), "application/x-subrip; charset=utf-8"),
        "text" => (doc.to_text(), "text/plain; charset=utf-8"),
        _ => (String::from_utf8(plain).map_err(DomainError::internal)?, "application/json"),
    };
    Ok((body, content_type))
}

/// Why a recording has no transcript yet: for the API's message and for a page
/// to say in its own language.
#[derive(Debug, Clone, PartialEq)]
pub enum Missing {
    /// Transcripts are made after the seal.
    NotSealed,
    /// Being made: this far.
    Making { percent: u64 },
    /// Failed for good, with the error (for admins).
    Failed { error: String },
    /// Queued or waiting for a retry; `no_model` when no Whisper model is loaded.
    Waiting { state: String, loading: bool, no_model: bool },
}

impl Missing {
    /// The technical sentence the API answers (English, with the recording's id).
    pub fn describe(&self, rec: RecordingId) -> String {
        match self {
            Missing::NotSealed => format!("recording {rec} has no transcript: it is not sealed"),
            Missing::Making { percent } => format!("the transcript of recording {rec} is being made: {percent}% done"),
            Missing::Failed { error } => format!("transcription of recording {rec} failed: {error}"),
            Missing::Waiting { state, loading, no_model } => {
                let waiting = match (loading, no_model) {
                    (true, _) => " (the model is loading)",
                    (_, true) => " (no Whisper model is loaded; see GET /api/v1/jobs)",
                    _ => "",
                };
                format!("the transcript of recording {rec} is not ready: its job is {state}{waiting}")
            }
        }
    }
}

/// Why `rec` has no transcript yet.
pub async fn why_missing(app: &App, rec: RecordingId) -> Result<Missing, DomainError> {
    let job =
        catalog::read(&app.vault.catalog, move |repo| repo.transcription_job(rec).map_err(DomainError::from)).await?;
    let (loading, no_model) = match app.transcription.status().model {
        crate::transcription::ModelState::Ready { .. } => (false, false),
        crate::transcription::ModelState::Loading { .. } => (true, false),
        _ => (false, true),
    };
    Ok(match job.map(|j| (j.state, j.error, j.progress_ms, j.total_ms)) {
        None => Missing::NotSealed,
        Some((state, _, done, Some(total))) if state == "running" && total > 0 => {
            Missing::Making { percent: done * 100 / total }
        }
        Some((state, Some(error), ..)) if state == "failed" => Missing::Failed { error },
        Some((state, ..)) => Missing::Waiting { state, loading, no_model },
    })
}

/// A recording's transcript as a document for a page (admins; inspectors in
/// scope), ledgered as viewed with `how`; or, inside, why there is none yet.
pub async fn read(
    app: &App,
    who: &Principal,
    rec: RecordingId,
    how: &str,
) -> Result<Result<Transcript, Missing>, DomainError> {
    who.require(&[Role::Admin, Role::Inspector])?;
    who.require_recording(app, rec).await?;
    let Some(plain) = app.vault.read_transcript(rec).await? else {
        return Ok(Err(why_missing(app, rec).await?));
    };
    let doc: Transcript = serde_json::from_slice(&plain)
        .map_err(|e| DomainError::internal(format!("stored transcript does not parse: {e}")))?;
    let entry = NewEntry {
        actor: who.actor(),
        action: "transcript.viewed",
        subject: format!("recording/{rec}"),
        data: json!({ "format": how }),
    };
    app.vault.record(entry).await?;
    Ok(Ok(doc))
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
    pub jobs: Vec<JobView>,
}

/// The transcriber's model state, job counts, and jobs with progress and errors,
/// of the recordings in the caller's scope (no content: auditors see it too).
pub async fn jobs(app: &App, who: &Principal, q: JobQuery) -> Result<JobsView, DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor])?;
    if let Some(s) = &q.state {
        if !matches!(s.as_str(), "queued" | "running" | "done" | "failed") {
            return Err(DomainError::invalid("state must be queued, running, done or failed"));
        }
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let scope = Scope::of(who);
    let (counts, jobs) = catalog::read(&app.vault.catalog, move |repo| {
        let counts = repo.job_counts(&scope)?;
        let jobs = repo.jobs(&scope, q.state.as_deref(), limit)?;
        Ok::<_, DomainError>((counts, jobs))
    })
    .await?;
    Ok(JobsView { transcriber: app.transcription.status(), counts, jobs })
}
