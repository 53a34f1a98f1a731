//! Retention and legal holds (admins change, auditors read):
//! `GET|POST /api/v1/retention/policies`, `POST /api/v1/retention/policies/{policy}/approve`,
//! `GET /api/v1/retention/preview?at=DATE`, `POST /api/v1/retention/run`,
//! `GET|POST /api/v1/holds`, `POST /api/v1/holds/{hold}/release`. The rules are
//! `niem_core::retention`; every change is a ledger entry.

use crate::http::{ApiError, Caller};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use niem_core::retention::{asked, Expiry, Hold, NewHold, NewPolicy, Policy, RunReport};
use niem_core::App;
use serde::Deserialize;
use std::sync::Arc;

pub async fn list_policies(State(app): State<Arc<App>>, Caller(who): Caller) -> Result<Json<Vec<Policy>>, ApiError> {
    Ok(Json(asked::policies(&app, &who).await?))
}

pub async fn set_policy(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Json(p): Json<NewPolicy>,
) -> Result<(StatusCode, Json<Policy>), ApiError> {
    Ok((StatusCode::CREATED, Json(asked::set_policy(&app, &who, p).await?)))
}

pub async fn approve(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(policy): Path<String>,
) -> Result<StatusCode, ApiError> {
    asked::approve(&app, &who, policy.parse()?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct At {
    /// YYYY-MM-DD (local, end of that day) or RFC 3339; default now.
    pub at: Option<String>,
}

pub async fn preview(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Query(q): Query<At>,
) -> Result<Json<Vec<Expiry>>, ApiError> {
    Ok(Json(asked::preview(&app, &who, q.at.as_deref()).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Run {
    #[serde(default)]
    pub dry_run: bool,
}

pub async fn run(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    body: Option<Json<Run>>,
) -> Result<Json<RunReport>, ApiError> {
    let dry_run = body.map(|b| b.0.dry_run).unwrap_or(false);
    Ok(Json(asked::run(&app, &who, dry_run).await?))
}

pub async fn list_holds(State(app): State<Arc<App>>, Caller(who): Caller) -> Result<Json<Vec<Hold>>, ApiError> {
    Ok(Json(asked::holds(&app, &who).await?))
}

pub async fn place_hold(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Json(h): Json<NewHold>,
) -> Result<(StatusCode, Json<Hold>), ApiError> {
    Ok((StatusCode::CREATED, Json(asked::place_hold(&app, &who, h).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub reason: String,
}

pub async fn release_hold(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(hold): Path<String>,
    Json(r): Json<Release>,
) -> Result<StatusCode, ApiError> {
    asked::release_hold(&app, &who, hold.parse()?, &r.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}
