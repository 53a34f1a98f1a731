//! Resumable upload: the tus 1.0.0 core protocol with the creation and termination
//! extensions, for bridge points on bad lines.
//!
//! A byte counts (appears in `Upload-Offset`) only once it is durable: either in a
//! chunk in the store and the ledger, or in the upload's sealed tail file in the
//! spool. After a restart the offset is recomputed from exactly those two, so it
//! can only be at or past what was acknowledged.

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::schema::{MeetingId, UploadId};
use crate::upload::{Target, Upload};
use crate::App;
use archive::keys::{Dek, WrappedDek};
use archive::spool::{read_tail, write_tail, TailKey};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use futures::StreamExt;
use rusqlite::{params, OptionalExtension};
use std::sync::Arc;
use std::time::Duration;

const VERSION: &str = "1.0.0";

fn tus_error(e: ApiError) -> ApiError {
    e.with_header("tus-resumable", VERSION)
}

fn require_tus(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get("tus-resumable").and_then(|v| v.to_str().ok()) {
        Some(VERSION) => Ok(()),
        _ => Err(ApiError::new(StatusCode::PRECONDITION_FAILED, "tus_version", "send Tus-Resumable: 1.0.0").with_header("tus-version", VERSION)),
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
        let value = B64
            .decode(value.trim())
            .ok()
            .and_then(|v| String::from_utf8(v).ok())
            .ok_or_else(|| ApiError::bad_request(format!("Upload-Metadata value for {key:?} is not base64 UTF-8")))?;
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

pub async fn create(State(app): State<Arc<App>>, who: Principal, headers: HeaderMap) -> Result<Response, ApiError> {
    create_inner(app, who, headers).await.map_err(tus_error)
}

async fn create_inner(app: Arc<App>, who: Principal, headers: HeaderMap) -> Result<Response, ApiError> {
    who.require(&[Role::Admin, Role::Recorder])?;
    require_tus(&headers)?;
    let length = header_u64(&headers, "upload-length")?.ok_or_else(|| ApiError::bad_request("Upload-Length is required (deferred length is not supported)"))?;
    if length > app.config.upload.max_bytes {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("uploads are limited to {} bytes", app.config.upload.max_bytes)));
    }
    let meta = metadata(&headers)?;
    let meeting: MeetingId = meta.get("meeting").ok_or_else(|| ApiError::bad_request("Upload-Metadata must name the meeting: meeting <base64 id>"))?.parse()?;
    who.require_meeting(&app, meeting).await?;
    let content_type = meta.get("filetype").or(meta.get("content_type")).cloned();
    let filename = meta.get("filename").cloned();
    let id = UploadId::new();
    let key = Dek::generate().map_err(ApiError::internal)?;
    // Held until the row commits: a KEK retirement re-wraps every tail key it can see.
    let _gate = app.vault.wrap_gate.read().await;
    let wrapped = app.vault.keys.ring().wrap_upload_key(&key, &id.to_string()).map_err(ApiError::internal)?;
    let wrapped = serde_json::to_string(&wrapped).map_err(ApiError::internal)?;
    let (actor, now) = (who.actor(), app.vault.now());
    app.vault
        .catalog
        .call(move |c| {
            let exists: Option<String> = c.query_row("SELECT id FROM meetings WHERE id = ?1", [meeting.to_string()], |r| r.get(0)).optional()?;
            if exists.is_none() {
                return Err(ApiError::not_found(format!("meeting {meeting} not found")));
            }
            c.execute(
                "INSERT INTO uploads (id, meeting, length, filename, content_type, tail_key, state, created_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'receiving', ?7, ?8)",
                params![id.to_string(), meeting.to_string(), length, filename, content_type, wrapped, actor, now],
            )?;
            Ok(())
        })
        .await?;
    let mut resp = StatusCode::CREATED.into_response();
    resp.headers_mut().insert(header::LOCATION, header::HeaderValue::from_str(&format!("/api/v1/uploads/{id}")).map_err(ApiError::internal)?);
    tus_headers(&mut resp);
    Ok(resp)
}

struct Row {
    meeting: MeetingId,
    length: u64,
    content_type: Option<String>,
    tail_key: WrappedDek,
    stream: Option<String>,
    state: String,
    created_by: String,
}

async fn load_row(app: &App, id: UploadId) -> Result<Row, ApiError> {
    let row = app
        .vault
        .catalog
        .call(move |c| {
            c.query_row(
                "SELECT meeting, length, content_type, tail_key, stream, state, created_by FROM uploads WHERE id = ?1",
                [id.to_string()],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?, r.get(2)?, r.get::<_, String>(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
            )
            .optional()
            .map_err(ApiError::from)
        })
        .await?
        .ok_or_else(|| ApiError::not_found(format!("upload {id} not found")))?;
    let (meeting, length, content_type, tail_key, stream, state, created_by) = row;
    Ok(Row { meeting: meeting.parse()?, length, content_type, tail_key: serde_json::from_str(&tail_key).map_err(ApiError::internal)?, stream, state, created_by })
}

fn tail_path(app: &App, id: UploadId) -> std::path::PathBuf {
    app.config.spool_dir().join("uploads").join(format!("{id}.tail"))
}

/// The in-memory state of an upload, rebuilt from the catalog and spool if this
/// process has not seen it since it started.
async fn session(app: &Arc<App>, id: UploadId, who: &Principal) -> Result<(Arc<tokio::sync::Mutex<Option<Upload>>>, Row), ApiError> {
    let row = load_row(app, id).await?;
    if row.created_by != who.actor() && who.role != Role::Admin {
        return Err(ApiError::forbidden("this upload belongs to another user"));
    }
    // Its creator's scope may have narrowed since.
    who.require_meeting(app, row.meeting).await?;
    if row.state != "receiving" {
        return Err(ApiError::new(StatusCode::GONE, "gone", format!("upload {id} is {}", row.state)));
    }
    let slot = app.uploads.lock().unwrap_or_else(|e| e.into_inner()).entry(id).or_default().clone();
    Ok((slot, row))
}

/// Drops in-memory state of uploads nobody has touched for `idle`: everything
/// acknowledged is durable, so a later request rebuilds it (only the running hash
/// is lost, and recomputed at the end). Keeps abandoned uploads from holding a
/// hashing thread and a committer task forever.
pub async fn evict_idle(app: &App, idle: Duration) {
    let slots: Vec<(UploadId, Arc<tokio::sync::Mutex<Option<Upload>>>)> =
        app.uploads.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(k, v)| (*k, v.clone())).collect();
    for (id, slot) in slots {
        let Ok(mut guard) = slot.try_lock() else { continue };
        if guard.as_ref().is_none_or(|u| u.idle_for() >= idle) {
            guard.take();
            app.uploads.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            tracing::info!(upload = %id, "released an idle resumable upload from memory");
        }
    }
}

fn tail_key(app: &App, id: UploadId, row: &Row) -> Result<TailKey, ApiError> {
    Ok(TailKey::new(&app.vault.keys.ring().unwrap_upload_key(&row.tail_key, &id.to_string()).map_err(ApiError::internal)?))
}

async fn restore(app: &Arc<App>, id: UploadId, row: &Row, actor: String) -> Result<Upload, ApiError> {
    let key = tail_key(app, id, row)?;
    let (stream, stored) = match &row.stream {
        None => (None, 0),
        Some(s) => {
            let (open, next, stored) = app.vault.reopen_stream(s.parse()?).await?;
            (Some((open, next)), stored)
        }
    };
    let path = tail_path(app, id);
    // A tail that does not open at this offset was written before its bytes reached
    // a chunk: stale, not lost (the chunk holds them). Start afresh after the chunks.
    let tail = tokio::task::spawn_blocking(move || read_tail(&path, &key, &id.to_string(), stored).unwrap_or_default())
    .await
    .map_err(ApiError::internal)?;
    let target = Target { meeting: row.meeting, content_type: row.content_type.clone(), declared: Some(row.length), tus: Some(id) };
    // The running hash is lost with the process; it is recomputed from the store at the end.
    Ok(Upload::resume(app.clone(), actor, target, stream, tail, stored, false))
}

pub async fn head(State(app): State<Arc<App>>, who: Principal, Path(id): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    async {
        who.require(&[Role::Admin, Role::Recorder])?;
        require_tus(&headers)?;
        let id: UploadId = id.parse()?;
        let (slot, row) = session(&app, id, &who).await?;
        let mut guard = lock(&slot).await?;
        if guard.is_none() {
            *guard = Some(restore(&app, id, &row, who.actor()).await?);
        }
        let offset = guard.as_ref().map(Upload::received).unwrap_or(0);
        let mut resp = StatusCode::OK.into_response();
        resp.headers_mut().insert("upload-offset", offset.into());
        resp.headers_mut().insert("upload-length", row.length.into());
        tus_headers(&mut resp);
        Ok(resp)
    }
    .await
    .map_err(tus_error)
}

async fn lock(slot: &tokio::sync::Mutex<Option<Upload>>) -> Result<tokio::sync::MutexGuard<'_, Option<Upload>>, ApiError> {
    tokio::time::timeout(Duration::from_secs(10), slot.lock())
        .await
        .map_err(|_| ApiError::new(StatusCode::LOCKED, "busy", "another request is writing to this upload; retry shortly"))
}

pub async fn patch(State(app): State<Arc<App>>, who: Principal, Path(id): Path<String>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    // In its own task: a client that vanishes mid-body must not cancel the work
    // between "bytes taken" and "bytes durable"; the task always ends by persisting.
    let task = tokio::spawn(patch_inner(app, who, id, headers, body));
    task.await.map_err(ApiError::internal)?.map_err(tus_error)
}

async fn patch_inner(app: Arc<App>, who: Principal, id: String, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    who.require(&[Role::Admin, Role::Recorder])?;
    require_tus(&headers)?;
    let id: UploadId = id.parse()?;
    if headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) != Some("application/offset+octet-stream") {
        return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "content_type", "PATCH needs Content-Type: application/offset+octet-stream"));
    }
    let offset = header_u64(&headers, "upload-offset")?.ok_or_else(|| ApiError::bad_request("Upload-Offset is required"))?;
    let (slot, row) = session(&app, id, &who).await?;
    let mut guard = lock(&slot).await?;
    if guard.is_none() {
        *guard = Some(restore(&app, id, &row, who.actor()).await?);
    }
    let upload = guard.as_mut().expect("restored above");
    if offset != upload.received() {
        return Err(ApiError::conflict(format!("Upload-Offset {offset} does not match the upload's offset {}", upload.received())));
    }
    if let Some(len) = header_u64(&headers, "content-length")? {
        if offset + len > row.length {
            return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_long", format!("the upload declared {} bytes; this request would end at {}", row.length, offset + len)));
        }
    }
    let mut body = body.into_data_stream();
    let mut failure = None;
    while let Some(frame) = body.next().await {
        let pushed = match frame {
            Ok(bytes) => upload.push(bytes).await,
            Err(e) => Err(ApiError::bad_request(format!("the request body broke off: {e}"))),
        };
        if let Err(e) = pushed {
            failure = Some(e);
            break;
        }
    }
    if let Some(e) = failure.as_ref().filter(|e| e.status == StatusCode::UNSUPPORTED_MEDIA_TYPE) {
        // Not media: nothing of it was stored. Forget the upload entirely.
        let message = e.message.clone();
        guard.take();
        finish_row(&app, id, "rejected").await?;
        let _ = tokio::fs::remove_file(tail_path(&app, id)).await;
        return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "not_media", message));
    }
    // Whatever arrived, make it durable before reporting the offset.
    upload.drain().await?;
    if upload.received() == row.length && failure.is_none() {
        let done = guard.take().expect("present").finish().await?;
        finish_row(&app, id, "complete").await?;
        let _ = tokio::fs::remove_file(tail_path(&app, id)).await;
        let mut resp = StatusCode::NO_CONTENT.into_response();
        resp.headers_mut().insert("upload-offset", row.length.into());
        if let Some(sha) = done.manifest.sha256.as_deref().and_then(|s| header::HeaderValue::from_str(s).ok()) {
            resp.headers_mut().insert("niem-sha256", sha);
        }
        if let Ok(v) = header::HeaderValue::from_str(&format!("/api/v1/recordings/{}", done.rec)) {
            resp.headers_mut().insert("niem-recording", v);
        }
        tus_headers(&mut resp);
        return Ok(resp);
    }
    persist(&app, id, upload, &row).await?;
    if let Some(e) = failure {
        return Err(e);
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert("upload-offset", upload.received().into());
    tus_headers(&mut resp);
    Ok(resp)
}

/// Writes the tail durably and records the offset.
async fn persist(app: &Arc<App>, id: UploadId, upload: &Upload, row: &Row) -> Result<(), ApiError> {
    let key = tail_key(app, id, row)?;
    let (start, tail) = upload.tail();
    let (tail, path) = (tail.to_vec(), tail_path(app, id));
    tokio::task::spawn_blocking(move || write_tail(&path, &key, &id.to_string(), start, &tail))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let offset = upload.received();
    app.vault
        .catalog
        .call(move |c| c.execute("UPDATE uploads SET offset = ?2 WHERE id = ?1", params![id.to_string(), offset]).map_err(ApiError::from))
        .await?;
    Ok(())
}

async fn finish_row(app: &Arc<App>, id: UploadId, state: &'static str) -> Result<(), ApiError> {
    app.uploads.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    app.vault
        .catalog
        .call(move |c| {
            c.execute("UPDATE uploads SET state = ?2 WHERE id = ?1", params![id.to_string(), state])
                .map_err(ApiError::from)
        })
        .await?;
    Ok(())
}

/// Termination: the sender gives up. What reached the store stays, as an
/// interrupted stream; the tail is removed.
pub async fn terminate(State(app): State<Arc<App>>, who: Principal, Path(id): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    async {
        who.require(&[Role::Admin, Role::Recorder])?;
        require_tus(&headers)?;
        let id: UploadId = id.parse()?;
        let (slot, row) = session(&app, id, &who).await?;
        let mut guard = lock(&slot).await?;
        let upload = match guard.take() {
            Some(u) => u,
            None => restore(&app, id, &row, who.actor()).await?,
        };
        upload.abandon().await;
        finish_row(&app, id, "terminated").await?;
        let _ = tokio::fs::remove_file(tail_path(&app, id)).await;
        let mut resp = StatusCode::NO_CONTENT.into_response();
        tus_headers(&mut resp);
        Ok(resp)
    }
    .await
    .map_err(tus_error)
}
