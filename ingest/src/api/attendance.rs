//! Attendance: `GET|PUT /api/v1/meetings/{meeting}/attendance`,
//! `POST /api/v1/meetings/{meeting}/absences` and
//! `POST /api/v1/absences/{absence}/decide` and `PUT /api/v1/absences/{absence}/report`
//! (a written absence report, streamed), and a member's history,
//! `GET /api/v1/members/{member}/attendance`. The rules are `niem_core::attendance`'.

use crate::http::{ApiError, Caller};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use niem_core::attendance::{self, Absence, AttendanceView, Decision, NewAbsence, NewReport, NewSheet, Version};
use niem_core::documents::DocumentView;
use niem_core::{App, DomainError};
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// The body as `T`: a malformed one is a 400 that says what is wrong (axum's
/// own extractor answers 422 for a wrong field, which the API keeps for media).
fn body<T: DeserializeOwned>(b: &Bytes) -> Result<T, DomainError> {
    serde_json::from_slice(b).map_err(|e| DomainError::invalid(format!("the body is not a valid request: {e}")))
}

pub async fn get(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(meeting): Path<String>,
) -> Result<Json<AttendanceView>, ApiError> {
    Ok(Json(attendance::get(&app, &who, meeting.parse()?).await?))
}

pub async fn history(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(member): Path<String>,
) -> Result<Json<Vec<attendance::HistoryLine>>, ApiError> {
    Ok(Json(attendance::history(&app, &who, member.parse()?).await?))
}

pub async fn put(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(meeting): Path<String>,
    raw: Bytes,
) -> Result<(StatusCode, Json<Version>), ApiError> {
    let sheet: NewSheet = body(&raw)?;
    Ok((StatusCode::CREATED, Json(attendance::put(&app, &who, meeting.parse()?, sheet).await?)))
}

pub async fn request_absence(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(meeting): Path<String>,
    raw: Bytes,
) -> Result<(StatusCode, Json<Absence>), ApiError> {
    let new: NewAbsence = body(&raw)?;
    Ok((StatusCode::CREATED, Json(attendance::request(&app, &who, meeting.parse()?, new).await?)))
}

pub async fn decide_absence(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(absence): Path<String>,
    raw: Bytes,
) -> Result<Json<Absence>, ApiError> {
    let d: Decision = body(&raw)?;
    Ok(Json(attendance::decide(&app, &who, absence.parse()?, d).await?))
}

/// `PUT /api/v1/absences/{absence}/report?filename=…`: the file is the body, streamed.
pub async fn report(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(absence): Path<String>,
    Query(new): Query<NewReport>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<DocumentView>), ApiError> {
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let stored = attendance::file_report(&app, &who, absence.parse()?, new, declared, body.into_data_stream()).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}
