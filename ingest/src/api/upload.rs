//! `POST /api/v1/meetings/{meeting}/uploads`: a file as one streamed body of any
//! size, chunked and sealed as it arrives, in constant memory. The answer (and so
//! the acknowledgement) comes only once every byte is in the store and the ledger.

use crate::http::{ApiError, Caller};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use niem_core::App;
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Serialize)]
pub struct Uploaded {
    pub recording: String,
    pub stream: String,
    pub length: u64,
    /// SHA-256 of the bytes received: compare it with your own file's.
    pub sha256: Option<String>,
    pub media: Option<serde_json::Value>,
}

pub async fn upload(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(meeting): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Uploaded>), ApiError> {
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let info =
        niem_core::uploads::receive(&app, &who, meeting.parse()?, content_type, declared, body.into_data_stream())
            .await?;
    let m = info.manifest;
    Ok((
        StatusCode::CREATED,
        Json(Uploaded {
            recording: info.rec.to_string(),
            stream: m.id.to_string(),
            length: m.length,
            sha256: m.sha256,
            media: m.media,
        }),
    ))
}
