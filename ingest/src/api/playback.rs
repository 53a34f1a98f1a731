//! `GET /api/v1/recordings/{rec}/streams/{stream}/media`: HTTP Range over
//! `niem_core::playback` (which checks the caller and ledgers every read).

use crate::http::{ApiError, Caller};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use niem_core::App;
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

pub async fn play(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path((rec, stream)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let media = niem_core::playback::open(&app, &who, rec.parse()?, stream.parse()?).await?;
    let len = media.len();
    let asked = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let range = parse_range(asked, len).map_err(|_| {
        ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "bad_range", format!("the stream has {len} bytes"))
            .with_header("content-range", format!("bytes */{len}"))
    })?;
    let (status, span) = match &range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.clone()),
        None => (StatusCode::OK, 0..len),
    };
    let body = niem_core::playback::read(&app, &who, &media, span.clone()).await?;
    let mut resp = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, media.content_type.clone())
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
