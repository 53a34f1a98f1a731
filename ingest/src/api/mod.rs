//! HTTP API v1: JSON under `/api/v1`, described by `/api/v1/openapi.json`. Every
//! route that reads or changes data needs a bearer token or a web session (with
//! its CSRF token for changes); a live push carries its stream key instead. Each
//! handler parses, calls `niem_core`, and shapes the answer: no rule lives here.

mod attendance;
pub mod documents;
mod evaluation;
mod keys;
mod ledger;
mod live;
mod members;
mod minutes;
#[cfg(test)]
mod openapi;
mod orgs;
pub mod playback;
mod recordings;
mod reports;
mod retention;
mod search;
mod transcripts;
mod tus;
mod upload;
mod users;
mod workers;

use axum::routing::{get, post, put};
use axum::Router;
use niem_core::App;
use std::sync::Arc;

/// `GET /api/v1/openapi.json`: the API's OpenAPI 3.1 description. No
/// authentication: it describes the API and reveals no data.
async fn openapi() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], include_str!("openapi.json"))
}

/// Every `/api/v1` route; `router::router` nests them.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/orgs", post(orgs::create_org).get(orgs::list_orgs))
        .route("/meetings", post(orgs::create_meeting).get(orgs::list_meetings))
        .route("/meetings/{meeting}", get(orgs::get_meeting))
        .route("/meetings/{meeting}/uploads", post(upload::upload))
        .route("/meetings/{meeting}/documents", post(documents::upload).get(documents::list))
        .route("/meetings/{meeting}/documents/{doc}", get(documents::download))
        .route("/meetings/{meeting}/link", post(documents::make_link))
        .route("/meetings/{meeting}/link/revoke", post(documents::revoke_link))
        .route("/meetings/{meeting}/attendance", put(attendance::put).get(attendance::get))
        .route("/meetings/{meeting}/absences", post(attendance::request_absence))
        .route("/absences/{absence}/decide", post(attendance::decide_absence))
        .route("/absences/{absence}/report", put(attendance::report))
        .route("/meetings/{meeting}/minutes", post(minutes::upload).get(minutes::get))
        .route("/meetings/{meeting}/minutes/draft", get(minutes::draft))
        .route("/meetings/{meeting}/evaluation", put(evaluation::put).get(evaluation::get))
        .route("/recordings/{rec}", get(recordings::get_recording))
        .route("/recordings/{rec}/seal", post(recordings::seal))
        .route("/recordings/{rec}/verify", post(recordings::verify))
        .route("/recordings/{rec}/bundle", post(recordings::bundle))
        .route("/recordings/{rec}/transcript", get(transcripts::get_transcript))
        .route("/jobs", get(transcripts::list_jobs))
        .route("/workers", get(workers::list).post(workers::enroll))
        .route("/workers/{name}", axum::routing::delete(workers::remove))
        .route("/nodes/{node}/lost", post(workers::node_lost))
        .route("/search", get(search::search))
        .route("/search/export", get(search::export))
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
        .route("/orgs/{org}/members", post(members::add).get(members::list))
        .route("/orgs/{org}/members/import", post(members::import))
        .route("/members/{member}/leave", post(members::leave))
        .route("/members/{member}/attendance", get(attendance::history))
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
        .route("/ledger/{seq}/sealed", get(ledger::open_sealed))
        .route("/openapi.json", get(openapi))
}
