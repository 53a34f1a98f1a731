//! Orgs and meetings: `GET|POST /api/v1/orgs`, `GET|POST /api/v1/meetings`,
//! `GET /api/v1/meetings/{meeting}`. The rules are `niem_core::orgs`.

use crate::http::{ApiError, Caller};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use niem_core::orgs::{self, Meeting, MeetingFilter, NewMeeting, NewOrg, Org};
use niem_core::App;
use std::sync::Arc;

pub async fn create_org(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Json(req): Json<NewOrg>,
) -> Result<(StatusCode, Json<Org>), ApiError> {
    Ok((StatusCode::CREATED, Json(orgs::create_org(&app, &who, req).await?)))
}

pub async fn list_orgs(State(app): State<Arc<App>>, Caller(who): Caller) -> Result<Json<Vec<Org>>, ApiError> {
    Ok(Json(orgs::list_orgs(&app, &who).await?))
}

pub async fn create_meeting(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Json(req): Json<NewMeeting>,
) -> Result<(StatusCode, Json<Meeting>), ApiError> {
    Ok((StatusCode::CREATED, Json(orgs::create_meeting(&app, &who, req).await?)))
}

pub async fn list_meetings(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Query(f): Query<MeetingFilter>,
) -> Result<Json<Vec<Meeting>>, ApiError> {
    Ok(Json(orgs::list_meetings(&app, &who, f).await?))
}

pub async fn get_meeting(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<Meeting>, ApiError> {
    Ok(Json(orgs::get_meeting(&app, &who, id.parse()?).await?))
}
