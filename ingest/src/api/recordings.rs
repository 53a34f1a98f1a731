//! Recordings: `GET /api/v1/recordings/{rec}`, `POST .../seal`, `POST .../verify`,
//! `POST .../bundle`.
//! The rules are `niem_core::recordings`.

use crate::http::{ApiError, Caller};
use axum::extract::{Path, State};
use axum::Json;
use niem_core::recordings::{self, RecordingView};
use niem_core::verification::Verification;
use niem_core::App;
use std::sync::Arc;

pub async fn get_recording(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(rec): Path<String>,
) -> Result<Json<RecordingView>, ApiError> {
    Ok(Json(recordings::view(&app, &who, rec.parse()?).await?))
}

pub async fn seal(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(rec): Path<String>,
) -> Result<Json<archive::manifest::Manifest>, ApiError> {
    Ok(Json(recordings::seal(&app, &who, rec.parse()?).await?))
}

pub async fn verify(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(rec): Path<String>,
) -> Result<Json<Verification>, ApiError> {
    Ok(Json(recordings::verify(&app, &who, rec.parse()?).await?))
}

/// `POST /api/v1/recordings/{rec}/bundle`: the evidence bundle (a tar), with the
/// decrypted media if asked (`niem_core::bundles`). Everything that can refuse
/// (role, scope, seal, the export's ledger entry and its checkpoint) runs before
/// the answer starts; the tar then streams as the media decrypt.
pub async fn bundle(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(rec): Path<String>,
    body: Option<Json<niem_core::bundles::Request>>,
) -> Result<axum::response::Response, ApiError> {
    let rec: archive::id::RecordingId = rec.parse()?;
    let req = body.map(|Json(r)| r).unwrap_or_default();
    let prepared = niem_core::bundles::prepare_as(&app, &who, rec, req).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(8);
    tokio::spawn(async move {
        let failed = tx.clone();
        match prepared.write(ChannelWriter { tx, buf: Vec::new() }).await {
            Ok(mut w) => {
                let _ = tokio::task::spawn_blocking(move || std::io::Write::flush(&mut w)).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "bundle stopped while streaming");
                let _ = failed.send(Err(std::io::Error::other(e.to_string()))).await;
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
    axum::response::Response::builder()
        .header("content-type", "application/x-tar")
        .header("content-disposition", format!("attachment; filename=\"{rec}.niem-bundle.tar\""))
        .body(axum::body::Body::from_stream(stream))
        .map_err(ApiError::internal)
}

/// A blocking writer into the answer's body, 64 KiB at a time.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let piece = bytes::Bytes::from(std::mem::take(&mut self.buf));
        self.tx.blocking_send(Ok(piece)).map_err(|_| std::io::Error::other("the client went away"))
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}
