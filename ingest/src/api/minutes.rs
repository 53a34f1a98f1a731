//! Minutes (the meeting record): `POST|GET /api/v1/meetings/{meeting}/minutes`
//! (file a signed version, streamed; read what is filed) and
//! `GET /api/v1/meetings/{meeting}/minutes/draft?format=docx|odt` (an editable
//! draft). The rules are `niem_core::minutes`'.

use crate::http::{ApiError, Caller};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use niem_core::documents::DocumentView;
use niem_core::minutes::{self, MinutesView, NewMinutes};
use niem_core::App;
use serde::Deserialize;
use std::sync::Arc;

/// `POST /api/v1/meetings/{meeting}/minutes?filename=…&title=…`: the file is the body.
pub async fn upload(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(meeting): Path<String>,
    Query(new): Query<NewMinutes>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<DocumentView>), ApiError> {
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let stored = minutes::upload(&app, &who, meeting.parse()?, new, declared, body.into_data_stream()).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

pub async fn get(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(meeting): Path<String>,
) -> Result<Json<MinutesView>, ApiError> {
    Ok(Json(minutes::get(&app, &who, meeting.parse()?).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftQuery {
    #[serde(default)]
    pub format: Option<String>,
}

/// `GET /api/v1/meetings/{meeting}/minutes/draft?format=docx|odt` (docx by default).
pub async fn draft(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(meeting): Path<String>,
    Query(q): Query<DraftQuery>,
) -> Result<Response, ApiError> {
    let d = minutes::draft(&app, &who, meeting.parse()?, q.format.as_deref()).await?;
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, d.content_type)
        .header(header::CONTENT_LENGTH, d.bytes.len())
        .header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", d.filename))
        .header(header::CACHE_CONTROL, "private, no-store")
        .body(Body::from(d.bytes))
        .map_err(ApiError::internal)
}
