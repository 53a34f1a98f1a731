//! The bloc's evaluation: `GET|PUT /api/v1/meetings/{meeting}/evaluation`.
//! The rules are `niem_core::evaluation`'s.

use crate::http::{ApiError, Caller};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use niem_core::evaluation::{self, EvaluationView, NewEvaluation, Version};
use niem_core::{App, DomainError};
use std::sync::Arc;

pub async fn get(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(meeting): Path<String>,
) -> Result<Json<EvaluationView>, ApiError> {
    Ok(Json(evaluation::get(&app, &who, meeting.parse()?).await?))
}

pub async fn put(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(meeting): Path<String>,
    raw: Bytes,
) -> Result<(StatusCode, Json<Version>), ApiError> {
    // A malformed body is a 400 that says what is wrong (axum's own extractor answers 422).
    let new: NewEvaluation = serde_json::from_slice(&raw)
        .map_err(|e| DomainError::invalid(format!("the body is not a valid evaluation: {e}")))?;
    Ok((StatusCode::CREATED, Json(evaluation::put(&app, &who, meeting.parse()?, new).await?)))
}
