//! The one router: the API under `/api/v1`, the web UI, and the probes
//! (`/healthz`, `/readyz`, `/metrics`), with one request span for all.

use crate::http::ApiError;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use niem_core::App;
use std::sync::Arc;

/// The whole HTTP surface: `/api/v1`, the web UI, and the probes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .nest("/api/v1", crate::api::routes())
        .merge(crate::web::routes(app.clone()))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(span))
        .with_state(app)
}

/// A request's span: method and route template (`/api/v1/live/{key}`), so that
/// no secret in a path reaches the log.
fn span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = req.extensions().get::<axum::extract::MatchedPath>().map_or("unmatched", |p| p.as_str());
    tracing::info_span!("request", method = %req.method(), route)
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    match niem_core::metrics::readiness(&app).await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(problems) => (StatusCode::SERVICE_UNAVAILABLE, problems.join("\n")).into_response(),
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let body = niem_core::metrics::render(&app).await?;
    Ok(([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response())
}
