//! A meeting's documents (the meeting record): streamed upload, list, download,
//! and the member link (make, revoke). The rules are `niem_core::documents`'.

use crate::http::{ApiError, Caller};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use niem_core::documents::{self, DocumentView, MemberLink, NewDocument};
use niem_core::App;
use serde::Serialize;
use std::sync::Arc;

/// `POST /api/v1/meetings/{meeting}/documents?filename=…&kind=…&title=…&confidential=true`:
/// the file is the body, streamed.
pub async fn upload(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(meeting): Path<String>,
    Query(doc): Query<NewDocument>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<DocumentView>), ApiError> {
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let stored = documents::upload(&app, &who, meeting.parse()?, doc, declared, body.into_data_stream()).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

#[derive(Debug, Serialize)]
pub struct Listed {
    pub documents: Vec<DocumentView>,
}

pub async fn list(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(meeting): Path<String>,
) -> Result<Json<Listed>, ApiError> {
    Ok(Json(Listed { documents: documents::list(&app, &who, meeting.parse()?).await? }))
}

pub async fn download(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path((meeting, doc)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (view, body) = documents::download(&app, &who, meeting.parse()?, doc.parse()?).await?;
    crate::http::file_response(&view, body)
}

/// `POST /api/v1/meetings/{meeting}/link`: a member link (bearer URL path `/l/<token>`).
pub async fn make_link(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(meeting): Path<String>,
) -> Result<Json<MemberLink>, ApiError> {
    Ok(Json(documents::link(&app, &who, meeting.parse()?).await?))
}

#[derive(Debug, Serialize)]
pub struct Revoked {
    pub generation: u64,
}

/// `POST /api/v1/meetings/{meeting}/link/revoke`: every link made so far stops working.
pub async fn revoke_link(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(meeting): Path<String>,
) -> Result<Json<Revoked>, ApiError> {
    Ok(Json(Revoked { generation: documents::revoke_links(&app, &who, meeting.parse()?).await? }))
}
