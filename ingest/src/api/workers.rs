//! Transcription workers (`niem worker transcribe`).
//!
//! `GET /api/v1/workers`: every worker ever enrolled (admins, auditors).
//! `POST /api/v1/workers` `{name, recipient}`: enrolls one (admins), ledgered
//! `worker.enrolled`. `DELETE /api/v1/workers/{name}`: removes it (admins),
//! ledgered `worker.removed`; its claims end at its next renewal.

use crate::http::{ApiError, Caller};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use niem_core::catalog::workers::WorkerRow;
use niem_core::App;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWorker {
    pub name: String,
    pub recipient: String,
}

pub async fn list(State(app): State<Arc<App>>, Caller(who): Caller) -> Result<Json<Vec<WorkerRow>>, ApiError> {
    Ok(Json(niem_core::workers::list(&app, &who).await?))
}

pub async fn enroll(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Json(w): Json<NewWorker>,
) -> Result<(StatusCode, Json<WorkerRow>), ApiError> {
    Ok((StatusCode::CREATED, Json(niem_core::workers::enroll(&app, &who, &w.name, &w.recipient).await?)))
}

pub async fn remove(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    niem_core::workers::remove(&app, &who, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/nodes/{node}/lost` (admins): the node is gone with its disk;
/// its open live streams close here with what the store holds.
pub async fn node_lost(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(node): Path<String>,
) -> Result<Json<niem_core::live::TakenOver>, ApiError> {
    Ok(Json(niem_core::live::declare_lost(&app, &who, &node).await?))
}
