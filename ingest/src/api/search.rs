//! `GET /api/v1/search?q=&org=&kind=&from=&to=&sort=&limit=&cursor=`: one page
//! of what the web UI's search page shows, as JSON, with the total and the next
//! page's cursor (admins, inspectors in their scope; ledgered).
//! `GET /api/v1/search/export?q=&org=&kind=&from=&to=&sort=`: every matching
//! meeting's hits as CSV (same callers and scope; ledgered as `search.exported`).
//! `POST /api/v1/index/rebuild` (admins): indexes every stored transcript again.

use crate::http::{ApiError, Caller};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use niem_core::search::{Ask, ExportAsk, Found};
use niem_core::App;
use std::sync::Arc;

pub async fn search(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Query(ask): Query<Ask>,
) -> Result<Json<Found>, ApiError> {
    Ok(Json(niem_core::search::ask(&app, &who, ask).await?))
}

pub async fn export(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Query(ask): Query<ExportAsk>,
) -> Result<Response, ApiError> {
    let csv = niem_core::search::export(&app, &who, ask).await?;
    let headers = [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
        (header::CONTENT_DISPOSITION, "attachment; filename=\"niem-search.csv\""),
    ];
    Ok((headers, csv).into_response())
}

pub async fn rebuild(State(app): State<Arc<App>>, Caller(who): Caller) -> Result<Json<serde_json::Value>, ApiError> {
    let (indexed, documents) = niem_core::search::rebuild_as(&app, &who).await?;
    Ok(Json(serde_json::json!({ "indexed": indexed, "documents": documents })))
}
