//! HTTP API v1: JSON under `/api/v1`, bearer tokens on every route.

mod live;
mod orgs;
mod playback;
mod recordings;
mod transcripts;
mod tus;
mod upload;

use crate::App;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

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
        .route("/healthz", get(|| async { "ok" }))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(app)
}
