//! `GET /api/v1/search?q=&org=&kind=&from=&to=&limit=`: what the web UI's search
//! page shows, as JSON. Admins and inspectors only; an inspector's scope is part
//! of the query; every search is a `search.performed` ledger entry.
//! `POST /api/v1/index/rebuild` (admin): empties the in-memory index and indexes
//! every stored transcript again from the archive.

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::index::{Ask, Found};
use crate::App;
use axum::extract::{Query, State};
use axum::Json;
use std::sync::Arc;

pub async fn search(State(app): State<Arc<App>>, who: Principal, Query(ask): Query<Ask>) -> Result<Json<Found>, ApiError> {
    Ok(Json(crate::index::ask(&app, &who, ask).await?))
}

pub async fn rebuild(State(app): State<Arc<App>>, who: Principal) -> Result<Json<serde_json::Value>, ApiError> {
    who.require(&[Role::Admin])?;
    let indexed = crate::index::rebuild(&app.vault, &app.index.index, |_, _| {}).await.map_err(ApiError::internal)?;
    Ok(Json(serde_json::json!({ "indexed": indexed, "documents": app.index.index.documents() })))
}
