//! The one HTTP error type. Every handler returns `Result<_, ApiError>`; the body is
//! `{"error": {"code": "...", "message": "..."}}` with a message a user can act on.
//! Internal errors are logged with detail and answered with a generic message.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra headers some protocols require on errors (tus wants `Tus-Resumable`).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), headers: Vec::new() }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn internal(err: impl std::fmt::Display) -> Self {
        let id = ulid::Ulid::new();
        tracing::error!(error_id = %id, error = %err, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("internal error {id}; see the server log"))
    }
    pub fn unavailable(err: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %err, "dependency unavailable");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the object store is unavailable; retry later")
    }
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(json!({ "error": { "code": self.code, "message": self.message } }))).into_response();
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(name, v);
            }
        }
        resp
    }
}

impl From<archive::vault::VaultError> for ApiError {
    fn from(e: archive::vault::VaultError) -> Self {
        use archive::vault::VaultError as V;
        match e {
            V::NoRecording(_) | V::NoStream(_) | V::Missing(_) => ApiError::not_found(e.to_string()),
            V::Conflict(m) => ApiError::conflict(m),
            V::Forbidden(m) => ApiError::forbidden(m),
            V::Shredded(_) => ApiError::new(axum::http::StatusCode::GONE, "shredded", e.to_string()),
            V::Store(s) | V::Mirror(archive::mirror::MirrorError::Store(s)) => ApiError::unavailable(s),
            other => ApiError::internal(other),
        }
    }
}

impl From<archive::id::IdError> for ApiError {
    fn from(e: archive::id::IdError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::internal(e)
    }
}

impl From<archive::catalog::CatalogError> for ApiError {
    fn from(e: archive::catalog::CatalogError) -> Self {
        ApiError::internal(e)
    }
}
