//! `POST /api/v1/meetings/{meeting}/uploads`: a file as one streamed body of any
//! size, chunked and sealed as it arrives, in constant memory. The response (and so
//! the acknowledgement) comes only once every byte is in the store and the ledger.
//! Admins upload to any meeting, recorders to meetings in their scope.

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::schema::MeetingId;
use crate::upload::{Target, Upload};
use crate::App;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use futures::StreamExt;
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Serialize)]
pub struct Uploaded {
    pub recording: String,
    pub stream: String,
    pub length: u64,
    /// SHA-256 of the bytes received: compare it with your own file's.
    pub sha256: Option<String>,
    pub media: Option<serde_json::Value>,
}

async fn receive(mut upload: Upload, body: Body) -> Result<archive::vault::StreamInfo, ApiError> {
    let mut body = body.into_data_stream();
    while let Some(frame) = body.next().await {
        let result = match frame {
            Ok(bytes) => upload.push(bytes).await,
            Err(e) => Err(ApiError::bad_request(format!("the upload broke off: {e}"))),
        };
        if let Err(e) = result {
            upload.abandon().await;
            return Err(e);
        }
    }
    upload.finish().await
}

pub async fn upload(State(app): State<Arc<App>>, who: Principal, Path(meeting): Path<String>, headers: HeaderMap, body: Body) -> Result<(StatusCode, Json<Uploaded>), ApiError> {
    who.require(&[Role::Admin, Role::Recorder])?;
    let meeting: MeetingId = meeting.parse()?;
    who.require_meeting(&app, meeting).await?;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let upload = Upload::new(app.clone(), who.actor(), Target { meeting, content_type, declared, tus: None });
    // In its own task: if the client vanishes and the request is dropped, the
    // upload still ends properly (its stream closed as interrupted).
    let info = tokio::spawn(receive(upload, body)).await.map_err(ApiError::internal)??;
    Ok((
        StatusCode::CREATED,
        Json(Uploaded {
            recording: info.rec.to_string(),
            stream: info.manifest.id.to_string(),
            length: info.manifest.length,
            sha256: info.manifest.sha256,
            media: info.manifest.media,
        }),
    ))
}
