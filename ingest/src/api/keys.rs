//! Keys: `GET /api/v1/keys` lists the KEK generations (ids, never key material)
//! and retirements (admins, auditors); `POST /api/v1/keys/retire` retires every
//! KEK but a new one (admins). The rules are `niem_core::retirement`.

use crate::http::{ApiError, Caller};
use axum::extract::State;
use axum::Json;
use niem_core::retirement::{self, KeysView};
use niem_core::App;
use std::sync::Arc;

pub async fn list(State(app): State<Arc<App>>, Caller(who): Caller) -> Result<Json<KeysView>, ApiError> {
    Ok(Json(retirement::view(&app, &who).await?))
}

pub async fn retire(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
) -> Result<Json<archive::retire::Retired>, ApiError> {
    Ok(Json(retirement::retire_as(&app, &who).await?))
}
