//! Recordings: `GET /api/v1/recordings/{rec}`, `POST .../seal`, `POST .../verify`.
//! The rules are `niem_core::recordings`.

use crate::http::{ApiError, Caller};
use axum::extract::{Path, State};
use axum::Json;
use niem_core::recordings::{self, RecordingView};
use niem_core::verification::Verification;
use niem_core::App;
use std::sync::Arc;

pub async fn get_recording(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(rec): Path<String>,
) -> Result<Json<RecordingView>, ApiError> {
    Ok(Json(recordings::view(&app, &who, rec.parse()?).await?))
}

pub async fn seal(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(rec): Path<String>,
) -> Result<Json<archive::manifest::Manifest>, ApiError> {
    Ok(Json(recordings::seal(&app, &who, rec.parse()?).await?))
}

pub async fn verify(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(rec): Path<String>,
) -> Result<Json<Verification>, ApiError> {
    Ok(Json(recordings::verify(&app, &who, rec.parse()?).await?))
}
