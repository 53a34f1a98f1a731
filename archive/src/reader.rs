//! Reading a stored stream back: decrypt on the fly, fetching only the pieces that
//! cover the requested bytes. Plaintext exists only in memory, one piece at a time.

use crate::chunk::{ChunkError, Layout, StreamKey};
use crate::id::{RecordingId, StreamId};
use crate::layout::ObjectKey;
use crate::store::{Store, StoreError};
use bytes::Bytes;
use futures::Stream;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Chunk(#[from] ChunkError),
    #[error("range {start}..{end} is outside the stream's {len} bytes")]
    OutOfRange { start: u64, end: u64, len: u64 },
}

/// Decrypting access to one stored stream.
#[derive(Clone)]
pub struct StreamReader {
    store: Store,
    key: Arc<StreamKey>,
    layout: Arc<Layout>,
    rec: RecordingId,
    stream: StreamId,
}

impl std::fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StreamReader({}/{})", self.rec, self.stream)
    }
}

impl StreamReader {
    pub fn new(store: Store, key: Arc<StreamKey>, layout: Layout, rec: RecordingId, stream: StreamId) -> Self {
        Self { store, key, layout: Arc::new(layout), rec, stream }
    }

    pub fn len(&self) -> u64 {
        self.layout.len()
    }
    pub fn is_empty(&self) -> bool {
        self.layout.is_empty()
    }

    /// Fetches and opens piece `index`.
    pub async fn piece(&self, index: u32) -> Result<Vec<u8>, ReadError> {
        let body = self.store.get(ObjectKey::chunk(self.rec, self.stream, index).as_str()).await?;
        let mut buf = body.to_vec();
        let key = self.key.clone();
        let last = self.layout.is_last(index);
        // Decryption of a 1 MiB piece is CPU work; keep it off the async workers.
        tokio::task::spawn_blocking(move || key.open(index, last, &mut buf).map(|_| buf))
            .await
            .map_err(|e| StoreError::io("decrypt", e))?
            .map_err(ReadError::from)
    }

    /// The plaintext bytes `range`, as a stream of pieces' slices.
    pub fn range(
        &self,
        range: Range<u64>,
    ) -> Result<impl Stream<Item = Result<Bytes, ReadError>> + Send + 'static, ReadError> {
        if range.start > range.end || range.end > self.len() {
            return Err(ReadError::OutOfRange { start: range.start, end: range.end, len: self.len() });
        }
        let this = self.clone();
        let pieces = self.layout.pieces_for(range.clone());
        Ok(futures::stream::unfold(pieces, move |mut pieces| {
            let this = this.clone();
            let range = range.clone();
            async move {
                let i = pieces.next()?;
                let out = this.piece(i).await.map(|plain| {
                    let r = this.layout.piece_range(i);
                    let from = (range.start.max(r.start) - r.start) as usize;
                    let to = (range.end.min(r.end) - r.start) as usize;
                    Bytes::from(plain).slice(from..to)
                });
                Some((out, pieces))
            }
        }))
    }

    /// A blocking `Read + Seek` view, for FFmpeg's custom I/O on a blocking thread.
    pub fn blocking(&self, handle: tokio::runtime::Handle) -> BlockingReader {
        BlockingReader { reader: self.clone(), handle, pos: 0, cached: None }
    }
}

/// A `Read + Seek` adapter that keeps one decrypted piece in memory.
pub struct BlockingReader {
    reader: StreamReader,
    handle: tokio::runtime::Handle,
    pos: u64,
    cached: Option<(u32, Vec<u8>)>,
}

impl Read for BlockingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.reader.len() || buf.is_empty() {
            return Ok(0);
        }
        let index = self.reader.layout.pieces_for(self.pos..self.pos + 1).start;
        if self.cached.as_ref().map(|(i, _)| *i) != Some(index) {
            let piece = self.handle.block_on(self.reader.piece(index)).map_err(std::io::Error::other)?;
            self.cached = Some((index, piece));
        }
        let (_, piece) = self.cached.as_ref().expect("just filled");
        let start = self.reader.layout.piece_range(index).start;
        let from = (self.pos - start) as usize;
        let n = buf.len().min(piece.len() - from);
        buf[..n].copy_from_slice(&piece[from..from + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for BlockingReader {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let len = self.reader.len() as i128;
        let target = match to {
            SeekFrom::Start(n) => n as i128,
            SeekFrom::End(d) => len + d as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        if target < 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before start"));
        }
        self.pos = target as u64;
        Ok(self.pos)
    }
}
