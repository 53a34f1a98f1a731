//! One upload's path from plaintext bytes to sealed chunks in the store, shared by
//! the plain streamed upload and the resumable (tus) one.
//!
//! Bytes collect into one piece in memory. The first full piece (or the whole file,
//! if smaller) is shown to FFmpeg's format detection before anything is stored, so
//! a non-media file leaves nothing behind. Then each piece is sealed on a blocking
//! thread and put to the store, several in flight, and committed to the ledger in
//! index order. The plaintext SHA-256 runs on its own thread beside them.
//!
//! Memory per upload is bounded: one pending piece plus `parallel_puts` in flight.

use crate::catalog;
use crate::error::DomainError;
use crate::principal::{Principal, Role};
use crate::schema::MeetingId;
use crate::App;
use archive::chunk::{Layout, StreamKey, TAG_LEN};
use archive::manifest::StreamState;
use archive::reader::StreamReader;
use archive::vault::StoredChunk;
use archive::vault::{OpenStream, StreamEnd, StreamInfo, StreamSpec, VaultError};
use bytes::Bytes;
use futures::StreamExt;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// What an upload is for.
#[derive(Debug, Clone)]
pub struct Target {
    pub meeting: MeetingId,
    pub content_type: Option<String>,
    /// Total plaintext length, when the sender declared it.
    pub declared: Option<u64>,
    /// The resumable upload this is, whose row must name the stream once it exists.
    pub tus: Option<crate::schema::UploadId>,
}

/// SHA-256 of the plaintext, computed on its own thread so it overlaps sealing.
/// Frames are handed over in batches of about a piece, not one by one.
struct Hasher {
    tx: mpsc::Sender<Vec<Bytes>>,
    batch: Vec<Bytes>,
    batch_len: usize,
    done: std::thread::JoinHandle<String>,
}

impl Hasher {
    fn start() -> Self {
        let (tx, mut rx) = mpsc::channel::<Vec<Bytes>>(8);
        let done = std::thread::spawn(move || {
            let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
            while let Some(batch) = rx.blocking_recv() {
                for b in batch {
                    ctx.update(&b);
                }
            }
            hex::encode(ctx.finish())
        });
        Self { tx, batch: Vec::new(), batch_len: 0, done }
    }

    async fn update(&mut self, b: Bytes) {
        self.batch_len += b.len();
        self.batch.push(b);
        if self.batch_len >= 1 << 20 {
            self.batch_len = 0;
            // The thread only ends when `tx` is dropped, so a send cannot fail first.
            let _ = self.tx.send(std::mem::take(&mut self.batch)).await;
        }
    }

    async fn finish(self) -> Option<String> {
        let _ = self.tx.send(self.batch).await;
        drop(self.tx);
        tokio::task::spawn_blocking(move || self.done.join().ok()).await.ok().flatten()
    }
}

type PieceTask = JoinHandle<Result<StoredChunk, VaultError>>;

enum ToCommitter {
    Piece(PieceTask),
    /// Commit everything received so far, then answer.
    Flush(oneshot::Sender<Result<(), String>>),
}

/// Records stored pieces in index order. Whatever is already finished when it
/// looks goes into one transaction, so a fast sender costs few catalog fsyncs,
/// and the receive loop never waits for the catalog unless the queue is full.
async fn commit_in_order(app: Arc<App>, actor: String, stream: Arc<OpenStream>, mut rx: mpsc::Receiver<ToCommitter>) {
    let mut failed: Option<String> = None;
    let mut ready: Vec<StoredChunk> = Vec::new();
    let mut waiting: Vec<oneshot::Sender<Result<(), String>>> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                ToCommitter::Piece(task) => match task.await {
                    Ok(Ok(stored)) if failed.is_none() => ready.push(stored),
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => failed = failed.or(Some(e.to_string())),
                    Err(e) => failed = failed.or(Some(format!("sealing task failed: {e}"))),
                },
                ToCommitter::Flush(ack) => waiting.push(ack),
            }
            next = rx.try_recv().ok();
        }
        if failed.is_none() {
            let batch = std::mem::take(&mut ready);
            if let Err(e) = app.vault.commit_chunks(&actor, stream.rec, stream.id, batch).await {
                failed = Some(e.to_string());
            }
        }
        for ack in waiting.drain(..) {
            let _ = ack.send(failed.clone().map_or(Ok(()), Err));
        }
    }
}

pub struct Upload {
    app: Arc<App>,
    actor: String,
    target: Target,
    stream: Option<(Arc<OpenStream>, Arc<StreamKey>)>,
    committer: Option<mpsc::Sender<ToCommitter>>,
    pending: Vec<u8>,
    /// Plaintext bytes in pieces already sent to the store.
    emitted: u64,
    next_index: u32,
    hasher: Option<Hasher>,
    touched: std::time::Instant,
}

impl Upload {
    /// Time since bytes last arrived.
    pub fn idle_for(&self) -> std::time::Duration {
        self.touched.elapsed()
    }

    pub fn new(app: Arc<App>, actor: String, target: Target) -> Self {
        Self::resume(app, actor, target, None, Vec::new(), 0, true)
    }

    /// Continues an upload after a restart: its stream (if started), the tail bytes
    /// not yet in a chunk, and how many bytes the chunks hold.
    pub fn resume(
        app: Arc<App>,
        actor: String,
        target: Target,
        stream: Option<(OpenStream, u32)>,
        tail: Vec<u8>,
        stored: u64,
        hash: bool,
    ) -> Self {
        let chunk = app.config.upload.chunk_size as usize;
        let mut pending = Vec::with_capacity(chunk + TAG_LEN);
        pending.extend_from_slice(&tail);
        let mut upload = Self {
            app,
            actor,
            target,
            stream: None,
            committer: None,
            pending,
            emitted: stored,
            next_index: 0,
            hasher: hash.then(Hasher::start),
            touched: std::time::Instant::now(),
        };
        if let Some((s, next)) = stream {
            upload.attach(s, next);
        }
        upload
    }

    fn attach(&mut self, stream: OpenStream, next_index: u32) {
        let stream = Arc::new(stream);
        let key = Arc::new(stream.key());
        let (tx, rx) = mpsc::channel(self.app.config.upload.parallel_puts);
        tokio::spawn(commit_in_order(self.app.clone(), self.actor.clone(), stream.clone(), rx));
        self.stream = Some((stream, key));
        self.committer = Some(tx);
        self.next_index = next_index;
    }

    /// Plaintext bytes accepted so far.
    pub fn received(&self) -> u64 {
        self.emitted + self.pending.len() as u64
    }

    /// Bytes not yet in a stored chunk, and where they start.
    pub fn tail(&self) -> (u64, &[u8]) {
        (self.emitted, &self.pending)
    }

    fn chunk_size(&self) -> usize {
        self.app.config.upload.chunk_size as usize
    }

    /// Accepts more plaintext. Full pieces go to the store as soon as it is known
    /// whether they are the last one.
    pub async fn push(&mut self, data: Bytes) -> Result<(), DomainError> {
        self.touched = std::time::Instant::now();
        let total = self.received() + data.len() as u64;
        if let Some(declared) = self.target.declared {
            if total > declared {
                return Err(DomainError::TooLarge(format!("the upload declared {declared} bytes; {total} were sent")));
            }
        }
        if total > self.app.config.upload.max_bytes {
            return Err(DomainError::TooLarge(format!(
                "uploads are limited to {} bytes",
                self.app.config.upload.max_bytes
            )));
        }
        if let Some(h) = &mut self.hasher {
            h.update(data.clone()).await;
        }
        let mut rest = &data[..];
        while !rest.is_empty() {
            if self.pending.len() == self.chunk_size() {
                // More bytes follow, so the held piece is not the last.
                self.emit(false).await?;
            }
            let take = (self.chunk_size() - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
        }
        // With a declared length, a full piece that ends before it is known not to be last.
        if self.pending.len() == self.chunk_size() && self.target.declared.is_some_and(|d| self.received() < d) {
            self.emit(false).await?;
        }
        Ok(())
    }

    /// Seals the pending piece on a blocking thread and sends it to the store; the
    /// committer records it when its turn comes.
    async fn emit(&mut self, last: bool) -> Result<(), DomainError> {
        if self.stream.is_none() {
            self.start().await?;
        }
        let (stream, key) = self.stream.clone().expect("started above");
        let chunk = self.chunk_size();
        let piece = std::mem::replace(&mut self.pending, Vec::with_capacity(chunk + TAG_LEN));
        let index = self.next_index;
        self.next_index += 1;
        self.emitted += piece.len() as u64;
        let store = self.app.vault.store.clone();
        let task: PieceTask = tokio::spawn(async move {
            let sealed = tokio::task::spawn_blocking(move || key.seal_piece(index, last, piece))
                .await
                .map_err(|e| VaultError::Conflict(format!("sealing task failed: {e}")))?;
            let key = archive::layout::ObjectKey::chunk(stream.rec, stream.id, sealed.index);
            let stored = StoredChunk {
                index: sealed.index,
                plain_len: sealed.plaintext_len,
                len: sealed.bytes.len() as u64,
                sha256: sealed.sha256,
            };
            archive::store::put_idempotent(&*store, &key, Bytes::from(sealed.bytes)).await?;
            Ok(stored)
        });
        let committer = self.committer.as_ref().expect("a started stream has a committer");
        committer
            .send(ToCommitter::Piece(task))
            .await
            .map_err(|_| DomainError::internal("the chunk committer stopped"))?;
        Ok(())
    }

    /// Waits until every piece sent is in the store and the ledger.
    pub async fn drain(&mut self) -> Result<(), DomainError> {
        let Some(committer) = &self.committer else { return Ok(()) };
        let (ack, done) = oneshot::channel();
        committer
            .send(ToCommitter::Flush(ack))
            .await
            .map_err(|_| DomainError::internal("the chunk committer stopped"))?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(DomainError::unavailable(e)),
            Err(_) => Err(DomainError::internal("the chunk committer stopped")),
        }
    }

    /// Checks the first piece with FFmpeg, then opens the recording and stream.
    async fn start(&mut self) -> Result<(), DomainError> {
        let head = self.pending.clone();
        let container =
            tokio::task::spawn_blocking(move || media::detect(&head)).await.map_err(DomainError::internal)?;
        if let Err(e) = container {
            return Err(DomainError::NotMedia(format!("{e}; upload an audio or video file")));
        }
        let rec = crate::recordings::recording_for(&self.app, &self.actor, self.target.meeting).await?;
        let spec = StreamSpec { kind: "upload", endpoint: None, content_type: self.target.content_type.clone() };
        let (tus, node) = (self.target.tus, self.app.live.node.clone());
        let stream = self
            .app
            .vault
            .open_stream(
                &self.actor,
                rec,
                spec,
                catalog::in_tx_with(move |repo, stream| match tus {
                    Some(upload) => Ok(repo.link_upload_stream(upload, stream)?),
                    None => Ok(repo.receive_upload_on(stream, &node)?),
                }),
            )
            .await?;
        self.attach(stream, 0);
        Ok(())
    }

    /// Ends the upload: the last piece, the plaintext hash, a probe of the whole
    /// file, and `stream.closed`.
    pub async fn finish(mut self) -> Result<StreamInfo, DomainError> {
        self.emit(true).await?;
        self.drain().await?;
        let (stream, key) = self.stream.clone().expect("emit started the stream");
        let info = self.app.vault.stream(stream.id).await?;
        let layout = Layout::new(info.manifest.chunks.iter().map(|c| c.len - TAG_LEN as u64), true);
        let reader = StreamReader::new(self.app.vault.store.clone(), key, layout, stream.rec, stream.id);
        let sha256 = match self.hasher.take() {
            Some(h) => h.finish().await.ok_or_else(|| DomainError::internal("the hashing thread failed"))?,
            None => rehash(&reader).await?,
        };
        let handle = tokio::runtime::Handle::current();
        let probe_reader = reader.blocking(handle);
        let media =
            tokio::task::spawn_blocking(move || media::probe(probe_reader)).await.map_err(DomainError::internal)?;
        let media = match media {
            Ok(info) => serde_json::to_value(info).ok(),
            Err(e) => Some(serde_json::json!({ "error": e.to_string() })),
        };
        let end = StreamEnd { state: StreamState::Complete, sha256: Some(sha256), media };
        Ok(self.app.vault.close_stream(&self.actor, stream.rec, stream.id, end).await?)
    }

    /// Gives up on an upload that broke off: every byte received is kept (a held
    /// partial piece is stored as a short piece without the last flag), and the
    /// stream is closed as interrupted with its exact length.
    pub async fn abandon(mut self) {
        if !self.pending.is_empty() {
            if let Err(e) = self.emit(false).await {
                tracing::debug!(error = %e, "the abandoned upload's last bytes were not stored");
            }
        }
        let _ = self.drain().await;
        if let Some((stream, _)) = self.stream.take() {
            let end = StreamEnd { state: StreamState::Interrupted, sha256: None, media: None };
            if let Err(e) = self.app.vault.close_stream(&self.actor, stream.rec, stream.id, end).await {
                tracing::warn!(stream = %stream.id, error = %e, "could not close an abandoned upload's stream");
            }
        }
    }
}

/// SHA-256 of a stored stream's plaintext, read back from the store.
async fn rehash(reader: &StreamReader) -> Result<String, DomainError> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut body = Box::pin(reader.range(0..reader.len()).map_err(DomainError::internal)?);
    while let Some(piece) = body.next().await {
        ctx.update(&piece.map_err(DomainError::internal)?);
    }
    Ok(hex::encode(ctx.finish()))
}

/// After a stop, closes the upload streams that nothing can continue as
/// `interrupted` with their exact length, so their recordings can still be
/// sealed: one-body uploads cut mid-body (their sender got no answer and starts
/// over) and resumable uploads no longer receiving. A tus row still
/// `receiving` whose stream was already closed (a stop between the two writes)
/// is settled to match. `node`: whose one-body uploads (a node starting, or one
/// declared lost); `None` for every one (the only node of a SQLite catalog).
pub async fn close_cut(vault: &archive::vault::Vault, node: Option<&str>) -> Result<usize, DomainError> {
    let node = node.map(str::to_string);
    let (settled, cut) =
        catalog::read(&vault.catalog, move |repo| Ok::<_, VaultError>(repo.settle_cut_uploads(node.as_deref())?))
            .await?;
    if settled > 0 {
        tracing::info!(uploads = settled, "settled resumable uploads whose stream had already closed");
    }
    for (rec, stream) in &cut {
        let (rec, stream): (archive::id::RecordingId, archive::id::StreamId) = (rec.parse()?, stream.parse()?);
        let end = StreamEnd { state: StreamState::Interrupted, sha256: None, media: None };
        vault.close_stream(&archive::ledger::actor_system(), rec, stream, end).await?;
        tracing::warn!(recording = %rec, stream = %stream, "closed an upload cut off by a stop as interrupted");
    }
    Ok(cut.len())
}

/// A whole upload in one body: checks who may upload to the meeting, then
/// receives, seals and stores the bytes. Runs in its own task, so a client that
/// vanishes still leaves its stream properly closed (as interrupted).
pub async fn receive<S, E>(
    app: &Arc<App>,
    who: &Principal,
    meeting: MeetingId,
    content_type: Option<String>,
    declared: Option<u64>,
    body: S,
) -> Result<StreamInfo, DomainError>
where
    S: futures::Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    who.require(&[Role::Admin, Role::Recorder])?;
    who.require_meeting(app, meeting).await?;
    let upload = Upload::new(app.clone(), who.actor(), Target { meeting, content_type, declared, tus: None });
    tokio::spawn(receive_into(upload, body)).await.map_err(DomainError::internal)?
}

async fn receive_into<S, E>(mut upload: Upload, body: S) -> Result<StreamInfo, DomainError>
where
    S: futures::Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    while let Some(frame) = body.next().await {
        let result = match frame {
            Ok(bytes) => upload.push(bytes).await,
            Err(e) => Err(DomainError::invalid(format!("the upload broke off: {e}"))),
        };
        if let Err(e) = result {
            upload.abandon().await;
            return Err(e);
        }
    }
    upload.finish().await
}
