//! Retention and legal holds over HTTP (admins change, auditors read):
//! `GET|POST /api/v1/retention/policies`, `POST /api/v1/retention/policies/{policy}/approve`,
//! `GET /api/v1/retention/preview?at=DATE`, `POST /api/v1/retention/run`,
//! `GET|POST /api/v1/holds`, `POST /api/v1/holds/{hold}/release`. The rules are in
//! `crate::retention`; every change is a ledger entry.

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::retention::{self, Expiry, Hold, NewHold, NewPolicy, Policy, RunReport};
use crate::App;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use std::sync::Arc;

pub async fn list_policies(State(app): State<Arc<App>>, who: Principal) -> Result<Json<Vec<Policy>>, ApiError> {
    who.require(&[Role::Admin, Role::Auditor])?;
    Ok(Json(app.vault.catalog.call(|c| retention::list_policies(c)).await?))
}

pub async fn set_policy(State(app): State<Arc<App>>, who: Principal, Json(p): Json<NewPolicy>) -> Result<(StatusCode, Json<Policy>), ApiError> {
    who.require(&[Role::Admin])?;
    let policy = retention::set_policy(&app.vault, &who.actor(), p, app.config.retention.approval_expire_days).await?;
    app.locks.notify_one();
    Ok((StatusCode::CREATED, Json(policy)))
}

pub async fn approve(State(app): State<Arc<App>>, who: Principal, Path(policy): Path<String>) -> Result<StatusCode, ApiError> {
    who.require(&[Role::Admin])?;
    retention::approve(&app.vault, &who, policy.parse()?).await?;
    app.locks.notify_one();
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct At {
    /// YYYY-MM-DD (local, end of that day) or RFC 3339; default now.
    pub at: Option<String>,
}

pub async fn preview(State(app): State<Arc<App>>, who: Principal, Query(q): Query<At>) -> Result<Json<Vec<Expiry>>, ApiError> {
    who.require(&[Role::Admin, Role::Auditor])?;
    let at = match q.at.as_deref() {
        Some(s) => retention::when(s, true)?,
        None => app.vault.clock.now(),
    };
    Ok(Json(app.vault.catalog.call(move |c| retention::preview(c, at)).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Run {
    #[serde(default)]
    pub dry_run: bool,
}

pub async fn run(State(app): State<Arc<App>>, who: Principal, body: Option<Json<Run>>) -> Result<Json<RunReport>, ApiError> {
    who.require(&[Role::Admin])?;
    let dry_run = body.map(|b| b.0.dry_run).unwrap_or(false);
    Ok(Json(retention::run(&app.vault, Some(&app.index.index), dry_run).await?))
}

pub async fn list_holds(State(app): State<Arc<App>>, who: Principal) -> Result<Json<Vec<Hold>>, ApiError> {
    who.require(&[Role::Admin, Role::Auditor])?;
    Ok(Json(app.vault.catalog.call(|c| retention::list_holds(c)).await?))
}

pub async fn place_hold(State(app): State<Arc<App>>, who: Principal, Json(h): Json<NewHold>) -> Result<(StatusCode, Json<Hold>), ApiError> {
    who.require(&[Role::Admin])?;
    let hold = retention::place_hold(&app.vault, &who.actor(), h).await?;
    app.locks.notify_one();
    Ok((StatusCode::CREATED, Json(hold)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub reason: String,
}

pub async fn release_hold(State(app): State<Arc<App>>, who: Principal, Path(hold): Path<String>, Json(r): Json<Release>) -> Result<StatusCode, ApiError> {
    who.require(&[Role::Admin])?;
    retention::release_hold(&app.vault, &who.actor(), hold.parse()?, &r.reason).await?;
    app.locks.notify_one();
    Ok(StatusCode::NO_CONTENT)
}
