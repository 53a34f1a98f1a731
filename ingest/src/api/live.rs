//! Live ingest over HTTP, live status, and bridge points.
//!
//! - `PUT /api/v1/live/{stream key}`: a chunked body of MPEG-TS, FLV or Matroska
//!   (`ffmpeg ... -f mpegts -method PUT http://host/api/v1/live/<key>`). The key is
//!   the credential; no bearer token. The answer comes when the body ends.
//! - `GET /api/v1/live`: the live streams in the caller's scope, for supervisors.
//! - `POST /api/v1/orgs/{org}/endpoints`, `GET /api/v1/endpoints`,
//!   `DELETE /api/v1/endpoints/{id}`: admins manage bridge points and their keys;
//!   inspectors list those in their scope, auditors all.

use crate::http::{ApiError, Caller};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use niem_core::endpoints::{self, Listed, NewEndpoint};
use niem_core::live::Pushed;
use niem_core::schema::OrgId;
use niem_core::App;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

pub async fn push(State(app): State<Arc<App>>, Path(key): Path<String>, body: Body) -> Result<Json<Pushed>, ApiError> {
    Ok(Json(niem_core::live::push(&app, key, body.into_data_stream()).await?))
}

pub async fn status(State(app): State<Arc<App>>, Caller(who): Caller) -> Result<Json<serde_json::Value>, ApiError> {
    let streams = niem_core::live::visible_status(&app, &who).await?;
    Ok(Json(json!({ "streams": streams, "spool_backlog_bytes": app.live.spool.backlog_bytes() })))
}

pub async fn create_endpoint(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(org): Path<String>,
    Json(req): Json<NewEndpoint>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let (ep, key) = endpoints::add(&app, &who, org.parse()?, &req.name).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": ep.id, "org": ep.org, "name": ep.name, "stream_key": key }))))
}

#[derive(Debug, Deserialize)]
pub struct EndpointFilter {
    pub org: Option<String>,
}

pub async fn list_endpoints(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Query(f): Query<EndpointFilter>,
) -> Result<Json<Vec<Listed>>, ApiError> {
    let org: Option<OrgId> = f.org.map(|o| o.parse()).transpose()?;
    Ok(Json(endpoints::list_visible(&app, &who, org).await?))
}

pub async fn revoke_endpoint(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    endpoints::revoke(&app, &who, id.parse()?).await?;
    Ok(StatusCode::NO_CONTENT)
}
