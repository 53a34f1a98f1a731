//! The one HTTP error type. Every handler returns `Result<_, ApiError>`; the body is
//! `{"error": {"code": "...", "message": "..."}}` with a message a user can act on.
//! Each [`DomainError`] kind maps to one status here and nowhere else, so a rule
//! answers the same through every route.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use niem_core::DomainError;
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
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn internal(err: impl std::fmt::Display) -> Self {
        DomainError::internal(err).into()
    }
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        use DomainError as D;
        let (status, code) = match &e {
            D::Invalid(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            D::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            D::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            D::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            D::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            D::Gone(_) => (StatusCode::GONE, "gone"),
            D::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            D::NotMedia(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "not_media"),
            D::MediaRefused(_) => (StatusCode::UNPROCESSABLE_ENTITY, "media_refused"),
            D::Busy(_) => (StatusCode::LOCKED, "busy"),
            D::TooMany(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many"),
            D::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            D::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        Self::new(status, code, e.to_string())
    }
}

macro_rules! through_domain {
    ($($t:ty),*) => {$(
        impl From<$t> for ApiError {
            fn from(e: $t) -> Self {
                DomainError::from(e).into()
            }
        }
    )*};
}
through_domain!(archive::vault::VaultError, archive::id::IdError, rusqlite::Error, archive::catalog::CatalogError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp =
            (self.status, Json(json!({ "error": { "code": self.code, "message": self.message } }))).into_response();
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(name, v);
            }
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_status() {
        let kinds = [
            DomainError::Invalid(String::new()),
            DomainError::Unauthenticated(String::new()),
            DomainError::Forbidden(String::new()),
            DomainError::NotFound(String::new()),
            DomainError::Conflict(String::new()),
            DomainError::Gone(String::new()),
            DomainError::TooLarge(String::new()),
            DomainError::NotMedia(String::new()),
            DomainError::MediaRefused(String::new()),
            DomainError::Busy(String::new()),
            DomainError::TooMany(String::new()),
            DomainError::Unavailable(String::new()),
            DomainError::Internal(String::new()),
        ];
        let statuses: std::collections::BTreeSet<u16> =
            kinds.into_iter().map(|k| ApiError::from(k).status.as_u16()).collect();
        assert_eq!(statuses.len(), 13, "two kinds share a status: {statuses:?}");
    }
}
