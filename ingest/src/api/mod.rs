//! HTTP API v1: JSON under `/api/v1`, described by `/api/v1/openapi.json`; the
//! web UI's pages beside it. Every route that reads or changes data needs a bearer
//! token or a web session (with its CSRF token for changes); a live push carries
//! its stream key instead. Request spans name the route's template, never the
//! URI: a live push's path holds its stream key.

mod keys;
pub mod live;
#[cfg(test)]
mod openapi;
mod orgs;
mod playback;
mod recordings;
mod reports;
mod retention;
mod search;
mod transcripts;
mod tus;
mod upload;
pub mod users;

use crate::App;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

pub use live::visible_status;
pub use recordings::{latest_verification, record_verification, Verification};
pub use reports::{report_rows, visible_alerts};
pub use transcripts::why_missing;
pub use tus::evict_idle as evict_idle_uploads;

/// `GET /api/v1/openapi.json`: the API's OpenAPI 3.1 description. No
/// authentication: it describes the API and reveals no data.
async fn openapi() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], include_str!("openapi.json"))
}

pub fn router(app: Arc<App>) -> Router {
    let api = Router::new()
        .route("/orgs", post(orgs::create_org).get(orgs::list_orgs))
        .route("/meetings", post(orgs::create_meeting).get(orgs::list_meetings))
        .route("/meetings/{meeting}", get(orgs::get_meeting))
        .route("/meetings/{meeting}/uploads", post(upload::upload))
        .route("/recordings/{rec}", get(recordings::get_recording))
        .route("/recordings/{rec}/seal", post(recordings::seal))
        .route("/recordings/{rec}/verify", post(recordings::verify))
        .route("/recordings/{rec}/transcript", get(transcripts::get_transcript))
        .route("/jobs", get(transcripts::list_jobs))
        .route("/search", get(search::search))
        .route("/index/rebuild", post(search::rebuild))
        .route("/users", post(users::create_user).get(users::list_users))
        .route("/users/{user}", axum::routing::patch(users::change_user))
        .route("/users/requests", get(users::list_requests))
        .route("/users/requests/{request}/approve", post(users::approve_request))
        .route("/users/{user}/tokens", post(users::create_token))
        .route("/tokens/{token}", axum::routing::delete(users::revoke_token))
        .route("/retention/policies", get(retention::list_policies).post(retention::set_policy))
        .route("/retention/policies/{policy}/approve", post(retention::approve))
        .route("/retention/preview", get(retention::preview))
        .route("/retention/run", post(retention::run))
        .route("/holds", get(retention::list_holds).post(retention::place_hold))
        .route("/holds/{hold}/release", post(retention::release_hold))
        .route("/orgs/{org}/schedules", post(reports::add_schedule))
        .route("/schedules", get(reports::list_schedules))
        .route("/alerts", get(reports::list_alerts))
        .route("/reports/compliance", get(reports::compliance))
        .route("/recordings/{rec}/streams/{stream}/media", get(playback::play))
        .route("/live", get(live::status))
        .route("/live/{key}", axum::routing::put(live::push))
        .route("/orgs/{org}/endpoints", post(live::create_endpoint))
        .route("/endpoints", get(live::list_endpoints))
        .route("/endpoints/{endpoint}", axum::routing::delete(live::revoke_endpoint))
        .route("/uploads", post(tus::create).options(tus::options))
        .route("/uploads/{upload}", axum::routing::head(tus::head).patch(tus::patch).delete(tus::terminate))
        .route("/keys", get(keys::list))
        .route("/keys/retire", post(keys::retire))
        .route("/openapi.json", get(openapi));
    Router::new()
        .nest("/api/v1", api)
        .merge(crate::web::router(app.clone()))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(crate::metrics::readyz))
        .route("/metrics", get(crate::metrics::metrics))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(span))
        .with_state(app)
}

/// A request's span: method and route template (`/api/v1/live/{key}`), so that
/// no secret in a path reaches the log.
fn span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = req.extensions().get::<axum::extract::MatchedPath>().map_or("unmatched", |p| p.as_str());
    tracing::info_span!("request", method = %req.method(), route)
}
