//! `GET /api/v1/recordings/{rec}/streams/{stream}/media`: decrypt on the fly with
//! HTTP Range support, fetching only the chunks a range covers. Every read is a
//! `media.played` ledger entry naming who read what.

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::App;
use archive::id::{RecordingId, StreamId};
use archive::ledger::NewEntry;
use archive::reader::StreamReader;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use futures::TryStreamExt;
use serde_json::json;
use std::ops::Range;
use std::sync::Arc;

/// Parses a single `bytes=` range against a length. `Ok(None)`: serve the whole
/// body (no header, or several ranges, which we answer whole as RFC 9110 allows).
pub fn parse_range(header: Option<&str>, len: u64) -> Result<Option<Range<u64>>, ()> {
    let Some(h) = header else { return Ok(None) };
    let spec = h.trim().strip_prefix("bytes=").ok_or(())?;
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        len.saturating_sub(n)..len
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() { len } else { b.parse::<u64>().map_err(|_| ())?.saturating_add(1).min(len) };
        start..end
    };
    if range.start >= len || range.start >= range.end {
        return Err(());
    }
    Ok(Some(range))
}

pub async fn play(State(app): State<Arc<App>>, who: Principal, Path((rec, stream)): Path<(String, String)>, headers: HeaderMap) -> Result<Response, ApiError> {
    who.require(&[Role::Admin, Role::Inspector])?;
    let rec: RecordingId = rec.parse()?;
    who.require_recording(&app, rec).await?;
    let stream: StreamId = stream.parse()?;
    let info = app.vault.stream(stream).await?;
    if info.rec != rec {
        return Err(ApiError::not_found(format!("stream {stream} is not part of recording {rec}")));
    }
    let key = Arc::new(app.vault.stream_key(&info).await?);
    let reader = StreamReader::new(app.vault.store.clone(), key, info.manifest.layout(), rec, stream);
    let len = reader.len();
    let range = parse_range(headers.get(header::RANGE).and_then(|v| v.to_str().ok()), len).map_err(|_| {
        ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "bad_range", format!("the stream has {len} bytes")).with_header("content-range", format!("bytes */{len}"))
    })?;
    let (status, span) = match &range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.clone()),
        None => (StatusCode::OK, 0..len),
    };
    app.vault
        .record(NewEntry {
            actor: who.actor(),
            action: "media.played",
            subject: format!("recording/{rec}/{stream}"),
            data: json!({ "range": format!("{}-{}", span.start, span.end.saturating_sub(1)) }),
        })
        .await?;
    let body = reader.range(span.clone()).map_err(ApiError::internal)?.map_err(|e| {
        tracing::warn!(error = %e, "playback stopped: a chunk could not be read");
        std::io::Error::other(e)
    });
    let content_type = info.manifest.content_type.clone().unwrap_or_else(|| "application/octet-stream".into());
    let mut resp = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_LENGTH, span.end - span.start)
        .header(header::CACHE_CONTROL, "private, no-store");
    if range.is_some() {
        resp = resp.header(header::CONTENT_RANGE, format!("bytes {}-{}/{len}", span.start, span.end - 1));
    }
    resp.body(Body::from_stream(body)).map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-4"), 10), Ok(Some(0..5)));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Ok(Some(5..10)));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Ok(Some(7..10)));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), Ok(Some(8..10)));
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), Ok(None));
        assert!(parse_range(Some("bytes=10-"), 10).is_err());
        assert!(parse_range(Some("bytes=5-2"), 10).is_err());
        assert!(parse_range(Some("items=0-1"), 10).is_err());
        assert!(parse_range(Some("bytes=-0"), 10).is_err());
    }
}
