//! Resumable upload: the tus 1.0.0 core protocol with the creation and termination
//! extensions, for bridge points on bad lines: `OPTIONS|POST /api/v1/uploads`,
//! `HEAD|PATCH|DELETE /api/v1/uploads/{upload}`. Headers here; what counts as
//! received, and when, is `niem_core::resumable`.

use crate::http::{ApiError, Caller};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use niem_core::resumable::{self, NewUpload, Progress};
use niem_core::App;
use std::sync::Arc;

const VERSION: &str = "1.0.0";

fn tus_error(e: ApiError) -> ApiError {
    e.with_header("tus-resumable", VERSION)
}

fn require_tus(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get("tus-resumable").and_then(|v| v.to_str().ok()) {
        Some(VERSION) => Ok(()),
        _ => Err(ApiError::new(StatusCode::PRECONDITION_FAILED, "tus_version", "send Tus-Resumable: 1.0.0")
            .with_header("tus-version", VERSION)),
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Result<Option<u64>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("{name} must be a non-negative integer"))),
    }
}

/// Parses `Upload-Metadata`: comma-separated `key base64value` pairs.
fn metadata(headers: &HeaderMap) -> Result<std::collections::HashMap<String, String>, ApiError> {
    let mut out = std::collections::HashMap::new();
    let Some(raw) = headers.get("upload-metadata") else { return Ok(out) };
    let raw = raw.to_str().map_err(|_| ApiError::bad_request("Upload-Metadata must be ASCII"))?;
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
        let value =
            B64.decode(value.trim()).ok().and_then(|v| String::from_utf8(v).ok()).ok_or_else(|| {
                ApiError::bad_request(format!("Upload-Metadata value for {key:?} is not base64 UTF-8"))
            })?;
        out.insert(key.to_string(), value);
    }
    Ok(out)
}

fn tus_headers(resp: &mut Response) {
    resp.headers_mut().insert("tus-resumable", header::HeaderValue::from_static(VERSION));
    resp.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
}

pub async fn options(State(app): State<Arc<App>>) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert("tus-version", header::HeaderValue::from_static(VERSION));
    h.insert("tus-extension", header::HeaderValue::from_static("creation,termination"));
    if let Ok(v) = header::HeaderValue::from_str(&app.config.upload.max_bytes.to_string()) {
        h.insert("tus-max-size", v);
    }
    tus_headers(&mut resp);
    resp
}

pub async fn create(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    async {
        resumable::may_upload(&who)?;
        require_tus(&headers)?;
        let length = header_u64(&headers, "upload-length")?
            .ok_or_else(|| ApiError::bad_request("Upload-Length is required (deferred length is not supported)"))?;
        let meta = metadata(&headers)?;
        let meeting = meta
            .get("meeting")
            .ok_or_else(|| ApiError::bad_request("Upload-Metadata must name the meeting: meeting <base64 id>"))?
            .parse()?;
        let content_type = meta.get("filetype").or(meta.get("content_type")).cloned();
        let new = NewUpload { meeting, length, filename: meta.get("filename").cloned(), content_type };
        let id = resumable::create(&app, &who, new).await?;
        let mut resp = StatusCode::CREATED.into_response();
        resp.headers_mut().insert(
            header::LOCATION,
            header::HeaderValue::from_str(&format!("/api/v1/uploads/{id}")).map_err(ApiError::internal)?,
        );
        tus_headers(&mut resp);
        Ok(resp)
    }
    .await
    .map_err(tus_error)
}

pub async fn head(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    async {
        resumable::may_upload(&who)?;
        require_tus(&headers)?;
        let (offset, length) = resumable::offset(&app, &who, id.parse()?).await?;
        let mut resp = StatusCode::OK.into_response();
        resp.headers_mut().insert("upload-offset", offset.into());
        resp.headers_mut().insert("upload-length", length.into());
        tus_headers(&mut resp);
        Ok(resp)
    }
    .await
    .map_err(tus_error)
}

pub async fn patch(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    async {
        resumable::may_upload(&who)?;
        require_tus(&headers)?;
        if headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) != Some("application/offset+octet-stream") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "content_type",
                "PATCH needs Content-Type: application/offset+octet-stream",
            ));
        }
        let offset =
            header_u64(&headers, "upload-offset")?.ok_or_else(|| ApiError::bad_request("Upload-Offset is required"))?;
        let sent = header_u64(&headers, "content-length")?;
        let mut resp = StatusCode::NO_CONTENT.into_response();
        match resumable::append(&app, &who, id.parse()?, offset, sent, body.into_data_stream()).await? {
            Progress::At(offset) => {
                resp.headers_mut().insert("upload-offset", offset.into());
            }
            Progress::Done(done) => {
                resp.headers_mut().insert("upload-offset", done.manifest.length.into());
                if let Some(sha) = done.manifest.sha256.as_deref().and_then(|s| header::HeaderValue::from_str(s).ok()) {
                    resp.headers_mut().insert("niem-sha256", sha);
                }
                if let Ok(v) = header::HeaderValue::from_str(&format!("/api/v1/recordings/{}", done.rec)) {
                    resp.headers_mut().insert("niem-recording", v);
                }
            }
        }
        tus_headers(&mut resp);
        Ok(resp)
    }
    .await
    .map_err(tus_error)
}

/// Termination: the sender gives up. What reached the store stays, as an
/// interrupted stream.
pub async fn terminate(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    async {
        resumable::may_upload(&who)?;
        require_tus(&headers)?;
        resumable::terminate(&app, &who, id.parse()?).await?;
        let mut resp = StatusCode::NO_CONTENT.into_response();
        tus_headers(&mut resp);
        Ok(resp)
    }
    .await
    .map_err(tus_error)
}
