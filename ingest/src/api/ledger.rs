//! `GET /api/v1/ledger/{seq}/sealed` (admins): a search entry's sealed query,
//! opened; the opening is ledgered as `sealed.opened` before it is answered.

use crate::http::{ApiError, Caller};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use niem_core::App;
use std::sync::Arc;

pub async fn open_sealed(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(seq): Path<u64>,
) -> Result<Response, ApiError> {
    let opened = niem_core::facts::open(&app, &who, seq).await?;
    // The answer is the secret the ledger keeps sealed: no cache may keep it.
    Ok(([(header::CACHE_CONTROL, "private, no-store")], Json(opened)).into_response())
}
