//! What every HTTP route shares: the one error type and the one way to learn
//! who is calling. Handlers live in `api` and `web`; they parse, call
//! `niem_core`, and shape the answer. `router` puts them together.

mod error;

pub use error::ApiError;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use niem_core::accounts::SESSION_COOKIE;
use niem_core::principal::Principal;
use niem_core::users;
use niem_core::App;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The authenticated caller: a bearer token, or a web session cookie (whose
/// changes must carry the session's CSRF token in `X-CSRF-Token`).
pub struct Caller(pub Principal);

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value.to_str().ok().and_then(|h| h.strip_prefix("Bearer ")).ok_or_else(|| {
                ApiError::from(niem_core::DomainError::unauthenticated(
                    "Authorization header must be \"Bearer <token>\"",
                ))
            })?;
            return Ok(Caller(users::by_token(app, token.trim().to_string()).await?));
        }
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else {
            let e = niem_core::DomainError::unauthenticated(
                "missing Authorization: Bearer <token> header (or sign in to the web UI)",
            );
            return Err(e.into());
        };
        let who = users::by_session(app, secret.to_string()).await?;
        if !parts.method.is_safe() {
            let sent = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
            let expected = who.csrf.as_deref().unwrap_or("");
            if expected.is_empty() || !bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) {
                return Err(ApiError::forbidden("missing or wrong X-CSRF-Token for this session"));
            }
        }
        Ok(Caller(who))
    }
}

/// The value of cookie `name` in a request's headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A meeting's document as a download (the API's and a member link's): its
/// type, length, SHA-256 and name (RFC 6266, UTF-8), never cached: its type, length and name (RFC 6266, UTF-8).
pub fn file_response(
    view: &niem_core::documents::DocumentView,
    body: niem_core::documents::Download,
) -> Result<axum::response::Response, ApiError> {
    let name: String = view.filename.chars().filter(|c| c.is_ascii_alphanumeric() || ".-_ ".contains(*c)).collect();
    let encoded: String = view
        .filename
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    axum::response::Response::builder()
        .status(axum::http::StatusCode::OK)
        .header(header::CONTENT_TYPE, view.content_type.clone())
        .header(header::CONTENT_LENGTH, view.len)
        .header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"; filename*=UTF-8''{encoded}"))
        .header(header::CACHE_CONTROL, "private, no-store")
        .header("x-content-sha256", view.sha256.clone())
        .body(axum::body::Body::from_stream(body))
        .map_err(ApiError::internal)
}
