//! The roster: `GET|POST /api/v1/orgs/{org}/members`,
//! `POST /api/v1/orgs/{org}/members/import` (CSV) and
//! `POST /api/v1/members/{member}/leave`. The rules are `niem_core::members`.

use crate::http::{ApiError, Caller};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use niem_core::members::{self, Leave, Member, NewMember};
use niem_core::App;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterQuery {
    /// Past memberships too (transfers, departures).
    #[serde(default)]
    history: bool,
}

pub async fn add(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(org): Path<String>,
    Json(req): Json<NewMember>,
) -> Result<(StatusCode, Json<Member>), ApiError> {
    Ok((StatusCode::CREATED, Json(members::add(&app, &who, org.parse()?, req).await?)))
}

pub async fn list(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(org): Path<String>,
    Query(q): Query<RosterQuery>,
) -> Result<Json<Vec<Member>>, ApiError> {
    Ok(Json(members::list(&app, &who, org.parse()?, q.history).await?))
}

/// The body is the CSV itself (`text/csv`, UTF-8).
pub async fn import(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(org): Path<String>,
    body: String,
) -> Result<(StatusCode, Json<Vec<Member>>), ApiError> {
    Ok((StatusCode::CREATED, Json(members::import(&app, &who, org.parse()?, &body).await?)))
}

pub async fn leave(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Json(req): Json<Leave>,
) -> Result<StatusCode, ApiError> {
    members::leave(&app, &who, id.parse()?, req).await?;
    Ok(StatusCode::NO_CONTENT)
}
