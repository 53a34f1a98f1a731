//! `GET /api/v1/search?q=&org=&kind=&from=&to=&limit=`: what the web UI's search
//! page shows, as JSON (admins, inspectors in their scope; ledgered).
//! `POST /api/v1/index/rebuild` (admins): indexes every stored transcript again.

use crate::http::{ApiError, Caller};
use axum::extract::{Query, State};
use axum::Json;
use niem_core::search::{Ask, Found};
use niem_core::App;
use std::sync::Arc;

pub async fn search(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Query(ask): Query<Ask>,
) -> Result<Json<Found>, ApiError> {
    Ok(Json(niem_core::search::ask(&app, &who, ask).await?))
}

pub async fn rebuild(State(app): State<Arc<App>>, Caller(who): Caller) -> Result<Json<serde_json::Value>, ApiError> {
    let (indexed, documents) = niem_core::search::rebuild_as(&app, &who).await?;
    Ok(Json(serde_json::json!({ "indexed": indexed, "documents": documents })))
}
