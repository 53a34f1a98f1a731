//! `GET /api/v1/search?q=&org=&kind=&from=&to=&limit=`: what the web UI's search
//! page shows, as JSON. Admins and inspectors only; an inspector's scope is part
//! of the query; every search is a `search.performed` ledger entry.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::index::{Ask, Found};
use crate::App;
use axum::extract::{Query, State};
use axum::Json;
use std::sync::Arc;

pub async fn search(State(app): State<Arc<App>>, who: Principal, Query(ask): Query<Ask>) -> Result<Json<Found>, ApiError> {
    Ok(Json(crate::index::ask(&app, &who, ask).await?))
}
