//! Resumable uploads (the tus protocol's state, not its headers), for bridge
//! points on bad lines.
//!
//! Invariant: a byte counts (is reported as the offset) only once it is durable:
//! either in a chunk in the store and the ledger, or in the upload's sealed tail
//! file in the spool. After a restart the offset is recomputed from exactly those
//! two, so it can only be at or past what was acknowledged.

use crate::catalog::{self, NewUploadRow, UploadRow};
use crate::error::DomainError;
use crate::principal::{Principal, Role};
use crate::schema::{MeetingId, UploadId};
use crate::uploads::{Target, Upload};
use crate::App;
use archive::keys::{Dek, WrappedDek};
use archive::spool::{read_tail, write_tail, TailKey};
use archive::vault::StreamInfo;
use bytes::Bytes;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// What the sender declares when it creates an upload.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub meeting: MeetingId,
    pub length: u64,
    pub filename: Option<String>,
    pub content_type: Option<String>,
}

/// Where an upload stands after a request.
#[derive(Debug)]
pub enum Progress {
    /// Durable up to this offset; more is expected.
    At(u64),
    /// Every declared byte arrived; the recording's stream is closed.
    Done(Box<StreamInfo>),
}

/// Who may upload at all (admins; recorders, in their scope): asked first, so
/// that a caller who may not upload learns that before anything about the request.
pub fn may_upload(who: &Principal) -> Result<(), DomainError> {
    who.require(&[Role::Admin, Role::Recorder])
}

pub async fn create(app: &App, who: &Principal, new: NewUpload) -> Result<UploadId, DomainError> {
    may_upload(who)?;
    if new.length > app.config.upload.max_bytes {
        return Err(DomainError::TooLarge(format!("uploads are limited to {} bytes", app.config.upload.max_bytes)));
    }
    who.require_meeting(app, new.meeting).await?;
    let id = UploadId::new();
    let key = Dek::generate().map_err(DomainError::internal)?;
    // Held until the row commits: a KEK retirement re-wraps every tail key it can see.
    let _gate = app.vault.wrap_gate.read().await;
    let wrapped = app.vault.keys.ring().wrap_upload_key(&key, &id.to_string()).map_err(DomainError::internal)?;
    let wrapped = serde_json::to_string(&wrapped).map_err(DomainError::internal)?;
    let (actor, now) = (who.actor(), app.vault.now());
    let row = NewUploadRow {
        id,
        meeting: new.meeting,
        length: new.length,
        filename: new.filename,
        content_type: new.content_type,
        tail_key: wrapped,
        created_by: actor,
        created_at: now,
    };
    catalog::read(&app.vault.catalog, move |repo| repo.insert_upload(&row).map_err(DomainError::from)).await?;
    Ok(id)
}

struct Row {
    meeting: MeetingId,
    length: u64,
    content_type: Option<String>,
    tail_key: WrappedDek,
    stream: Option<String>,
    state: String,
    created_by: String,
    /// What the node that last took bytes for it reported.
    offset: u64,
}

async fn load_row(app: &App, id: UploadId) -> Result<Row, DomainError> {
    let row = catalog::read(&app.vault.catalog, move |repo| repo.upload(id).map_err(DomainError::from))
        .await?
        .ok_or_else(|| DomainError::not_found(format!("upload {id} not found")))?;
    let UploadRow { meeting, length, content_type, tail_key, stream, state, created_by, offset } = row;
    let tail_key = serde_json::from_str(&tail_key).map_err(DomainError::internal)?;
    Ok(Row { meeting: meeting.parse()?, length, content_type, tail_key, stream, state, created_by, offset })
}

fn tail_path(app: &App, id: UploadId) -> std::path::PathBuf {
    app.config.spool_dir().join("uploads").join(format!("{id}.tail"))
}

type Slot = Arc<tokio::sync::Mutex<Option<Upload>>>;

/// The in-memory state of an upload, after checking the caller may touch it.
async fn session(app: &Arc<App>, id: UploadId, who: &Principal) -> Result<(Slot, Row), DomainError> {
    may_upload(who)?;
    let row = load_row(app, id).await?;
    if row.created_by != who.actor() && who.role != Role::Admin {
        return Err(DomainError::forbidden("this upload belongs to another user"));
    }
    // Its creator's scope may have narrowed since.
    who.require_meeting(app, row.meeting).await?;
    if row.state != "receiving" {
        return Err(DomainError::Gone(format!("upload {id} is {}", row.state)));
    }
    let slot = app.uploads.lock().unwrap_or_else(|e| e.into_inner()).entry(id).or_default().clone();
    Ok((slot, row))
}

/// Drops in-memory state of uploads nobody has touched for `idle`: everything
/// acknowledged is durable, so a later request rebuilds it (only the running hash
/// is lost, and recomputed at the end). Keeps abandoned uploads from holding a
/// hashing thread and a committer task forever.
pub async fn evict_idle(app: &App, idle: Duration) {
    let slots: Vec<(UploadId, Slot)> =
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

fn tail_key(app: &App, id: UploadId, row: &Row) -> Result<TailKey, DomainError> {
    let key = app.vault.keys.ring().unwrap_upload_key(&row.tail_key, &id.to_string()).map_err(DomainError::internal)?;
    Ok(TailKey::new(&key))
}

async fn restore(app: &Arc<App>, id: UploadId, row: &Row, actor: String) -> Result<Upload, DomainError> {
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
        .map_err(DomainError::internal)?;
    let target = Target {
        meeting: row.meeting,
        content_type: row.content_type.clone(),
        declared: Some(row.length),
        tus: Some(id),
    };
    // The running hash is lost with the process; it is recomputed from the store at the end.
    Ok(Upload::resume(app.clone(), actor, target, stream, tail, stored, false))
}

async fn lock(
    slot: &tokio::sync::Mutex<Option<Upload>>,
) -> Result<tokio::sync::MutexGuard<'_, Option<Upload>>, DomainError> {
    tokio::time::timeout(Duration::from_secs(10), slot.lock())
        .await
        .map_err(|_| DomainError::Busy("another request is writing to this upload; retry shortly".into()))
}

/// This node's state of the upload, restored from what is durable when it has
/// none, or when the catalog's offset says another node took bytes for it since
/// (the load balancer moved the upload while this node was up): building on
/// that state would store chunks the other node already stored.
async fn held<'g>(
    app: &Arc<App>,
    id: UploadId,
    row: &Row,
    who: &Principal,
    guard: &'g mut tokio::sync::MutexGuard<'_, Option<Upload>>,
) -> Result<&'g mut Upload, DomainError> {
    if guard.as_ref().is_some_and(|u| u.received() != row.offset) {
        // Re-read under the lock: a request of this node may have moved it.
        let now = load_row(app, id).await?;
        if guard.as_ref().is_some_and(|u| u.received() != now.offset) {
            tracing::info!(upload = %id, "another node took bytes for this upload: continuing from what is durable");
            guard.take();
            **guard = Some(restore(app, id, &now, who.actor()).await?);
        }
    }
    if guard.is_none() {
        **guard = Some(restore(app, id, row, who.actor()).await?);
    }
    guard.as_mut().ok_or_else(|| DomainError::internal("the upload was restored but is missing"))
}

/// The durable offset and the declared length.
pub async fn offset(app: &Arc<App>, who: &Principal, id: UploadId) -> Result<(u64, u64), DomainError> {
    let (slot, row) = session(app, id, who).await?;
    let mut guard = lock(&slot).await?;
    let upload = held(app, id, &row, who, &mut guard).await?;
    Ok((upload.received(), row.length))
}

/// Appends bytes at `at`. Runs in its own task: a client that vanishes mid-body
/// must not cancel the work between "bytes taken" and "bytes durable"; the task
/// always ends by persisting.
pub async fn append<S, E>(
    app: &Arc<App>,
    who: &Principal,
    id: UploadId,
    at: u64,
    sent: Option<u64>,
    body: S,
) -> Result<Progress, DomainError>
where
    S: futures::Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let (app, who) = (app.clone(), who.clone());
    tokio::spawn(async move { append_inner(&app, &who, id, at, sent, body).await })
        .await
        .map_err(DomainError::internal)?
}

async fn append_inner<S, E>(
    app: &Arc<App>,
    who: &Principal,
    id: UploadId,
    at: u64,
    sent: Option<u64>,
    body: S,
) -> Result<Progress, DomainError>
where
    S: futures::Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::fmt::Display,
{
    let (slot, row) = session(app, id, who).await?;
    let mut guard = lock(&slot).await?;
    let upload = held(app, id, &row, who, &mut guard).await?;
    if at != upload.received() {
        return Err(DomainError::conflict(format!(
            "the offset {at} does not match the upload's offset {}",
            upload.received()
        )));
    }
    if let Some(len) = sent.filter(|len| at + len > row.length) {
        return Err(DomainError::TooLarge(format!(
            "the upload declared {} bytes; this request would end at {}",
            row.length,
            at + len
        )));
    }
    let mut body = std::pin::pin!(body);
    let mut failure = None;
    while let Some(frame) = body.next().await {
        let pushed = match frame {
            Ok(bytes) => upload.push(bytes).await,
            Err(e) => Err(DomainError::invalid(format!("the request body broke off: {e}"))),
        };
        if let Err(e) = pushed {
            failure = Some(e);
            break;
        }
    }
    if let Some(DomainError::NotMedia(message)) = failure {
        // Not media: nothing of it was stored. Forget the upload entirely.
        guard.take();
        finish_row(app, id, "rejected").await?;
        let _ = tokio::fs::remove_file(tail_path(app, id)).await;
        return Err(DomainError::NotMedia(message));
    }
    // Whatever arrived, make it durable before reporting the offset.
    upload.drain().await?;
    if upload.received() == row.length && failure.is_none() {
        let Some(upload) = guard.take() else { return Err(DomainError::internal("the upload vanished while held")) };
        let done = upload.finish().await?;
        finish_row(app, id, "complete").await?;
        let _ = tokio::fs::remove_file(tail_path(app, id)).await;
        return Ok(Progress::Done(Box::new(done)));
    }
    persist(app, id, upload, &row).await?;
    match failure {
        Some(e) => Err(e),
        None => Ok(Progress::At(upload.received())),
    }
}

/// Writes the tail durably and records the offset.
async fn persist(app: &Arc<App>, id: UploadId, upload: &Upload, row: &Row) -> Result<(), DomainError> {
    let key = tail_key(app, id, row)?;
    let (start, tail) = upload.tail();
    let (tail, path) = (tail.to_vec(), tail_path(app, id));
    tokio::task::spawn_blocking(move || write_tail(&path, &key, &id.to_string(), start, &tail))
        .await
        .map_err(DomainError::internal)?
        .map_err(DomainError::internal)?;
    let offset = upload.received();
    catalog::read(&app.vault.catalog, move |repo| repo.set_upload_offset(id, offset).map_err(DomainError::from))
        .await?;
    Ok(())
}

async fn finish_row(app: &Arc<App>, id: UploadId, state: &'static str) -> Result<(), DomainError> {
    app.uploads.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    catalog::read(&app.vault.catalog, move |repo| repo.set_upload_state(id, state).map_err(DomainError::from)).await?;
    Ok(())
}

/// The sender gives up. What reached the store stays, as an interrupted stream;
/// the tail is removed.
pub async fn terminate(app: &Arc<App>, who: &Principal, id: UploadId) -> Result<(), DomainError> {
    let (slot, row) = session(app, id, who).await?;
    let mut guard = lock(&slot).await?;
    held(app, id, &row, who, &mut guard).await?;
    let Some(upload) = guard.take() else { return Err(DomainError::internal("the upload vanished while held")) };
    upload.abandon().await;
    finish_row(app, id, "terminated").await?;
    let _ = tokio::fs::remove_file(tail_path(app, id)).await;
    Ok(())
}
