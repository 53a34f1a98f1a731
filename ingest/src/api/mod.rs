//! HTTP API v1: JSON under `/api/v1`, bearer tokens (or a web session with its
//! CSRF token) on every route; the web UI's pages beside it.

mod live;
mod orgs;
mod playback;
mod recordings;
mod search;
mod transcripts;
mod tus;
mod upload;
mod users;

use crate::App;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

pub use recordings::{latest_verification, verify_and_record};
pub use transcripts::why_missing;
pub use tus::evict_idle as evict_idle_uploads;

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
        .route("/users", post(users::create_user).get(users::list_users))
        .route("/users/{user}/tokens", post(users::create_token))
        .route("/recordings/{rec}/streams/{stream}/media", get(playback::play))
        .route("/live", get(live::status))
        .route("/live/{key}", axum::routing::put(live::push))
        .route("/orgs/{org}/endpoints", post(live::create_endpoint))
        .route("/endpoints", get(live::list_endpoints))
        .route("/endpoints/{endpoint}", axum::routing::delete(live::revoke_endpoint))
        .route("/uploads", post(tus::create).options(tus::options))
        .route("/uploads/{upload}", axum::routing::head(tus::head).patch(tus::patch).delete(tus::terminate));
    Router::new()
        .nest("/api/v1", api)
        .merge(crate::web::router(app.clone()))
        .route("/healthz", get(|| async { "ok" }))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(app)
}
