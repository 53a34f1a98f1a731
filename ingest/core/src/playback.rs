//! Reading a stream's media back: decrypted on the fly, fetching only the chunks
//! a range covers. Every read is a `media.played` ledger entry naming who read
//! which bytes, written before a byte flows.

use crate::app::App;
use crate::error::DomainError;
use crate::principal::{Principal, Role};
use archive::id::{RecordingId, StreamId};
use archive::ledger::NewEntry;
use archive::reader::StreamReader;
use bytes::Bytes;
use futures::{Stream, TryStreamExt};
use serde_json::json;
use std::ops::Range;
use std::sync::Arc;

/// A stream opened for reading by someone allowed to.
pub struct Media {
    rec: RecordingId,
    stream: StreamId,
    reader: StreamReader,
    pub content_type: String,
}

impl Media {
    /// Plaintext bytes in the stream.
    pub fn len(&self) -> u64 {
        self.reader.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Opens `stream` of `rec` for `who` (admins; inspectors in scope).
pub async fn open(app: &App, who: &Principal, rec: RecordingId, stream: StreamId) -> Result<Media, DomainError> {
    who.require(&[Role::Admin, Role::Inspector])?;
    who.require_recording(app, rec).await?;
    let info = app.vault.stream(stream).await?;
    if info.rec != rec {
        return Err(DomainError::not_found(format!("stream {stream} is not part of recording {rec}")));
    }
    let key = Arc::new(app.vault.stream_key(&info).await?);
    let reader = StreamReader::new(app.vault.store.clone(), key, info.manifest.layout(), rec, stream);
    let content_type = info.manifest.content_type.clone().unwrap_or_else(|| "application/octet-stream".into());
    Ok(Media { rec, stream, reader, content_type })
}

/// Ledgers the read of `span`, then streams its bytes.
pub async fn read(
    app: &App,
    who: &Principal,
    media: &Media,
    span: Range<u64>,
) -> Result<impl Stream<Item = std::io::Result<Bytes>> + Send + 'static, DomainError> {
    let (rec, stream) = (media.rec, media.stream);
    app.vault
        .record(NewEntry {
            actor: who.actor(),
            action: "media.played",
            subject: format!("recording/{rec}/{stream}"),
            data: json!({ "range": format!("{}-{}", span.start, span.end.saturating_sub(1)) }),
        })
        .await?;
    let body = media.reader.range(span).map_err(DomainError::internal)?;
    Ok(body.map_err(|e| {
        tracing::warn!(error = %e, "playback stopped: a chunk could not be read");
        std::io::Error::other(e)
    }))
}
