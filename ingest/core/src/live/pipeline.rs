//! One live stream's path from container bytes to sealed pieces in the spool.
//!
//! Each stream has one FFmpeg thread. It reads segments (one per publisher
//! connection) from a channel of channels, remuxes them into one fragmented MP4,
//! and its output is cut into pieces: at `chunk_size`, and at least every
//! `piece_interval_ms`. Each piece is sealed in memory and written durably to the
//! spool; that is the acknowledgement. The drainer moves pieces to the store.
//!
//! The recording and stream are opened on the first output byte, so a publisher of
//! junk leaves nothing behind but a log line.

use super::{Placement, Slot};
use crate::App;
use archive::chunk::StreamKey;
use archive::vault::StreamSpec;
use bytes::Bytes;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One publisher connection's bytes, in order; dropping their sender ends them.
/// `done` answers once the segment is remuxed and spooled, or refused.
pub struct Segment {
    pub rx: tokio::sync::mpsc::Receiver<Bytes>,
    pub done: tokio::sync::oneshot::Sender<Result<(), String>>,
}

/// Reads a segment on the FFmpeg thread; the sender's end is end of file.
struct SegmentReader {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for SegmentReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.current = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// How the stream ended, for its `live_streams` row.
struct Outcome {
    state: &'static str,
    sha256: Option<String>,
    media: Option<serde_json::Value>,
}

/// Runs the stream to its end: every segment, then the trailer and the last piece.
pub fn run(app: Arc<App>, slot: Arc<Slot>, segments: std::sync::mpsc::Receiver<Segment>, rt: tokio::runtime::Handle) {
    let pieces = Arc::new(Mutex::new(Pieces::new(app.clone(), slot.clone(), rt.clone())));
    let outcome = remux_all(&pieces, &segments, &slot);
    // Whatever happens, the receiver goes so that waiting publishers see the end.
    drop(segments);
    let placed = slot.stats.placed.get().cloned();
    match (&outcome, placed) {
        (Ok(out), Some(p)) => rt.block_on(record_end(&app, p, out)),
        (Err(e), Some(p)) => {
            tracing::warn!(endpoint = %slot.endpoint.id, stream = %p.stream, error = %e, "live stream broke off; keeping what was spooled");
            rt.block_on(record_end(&app, p, &Outcome { state: "interrupted", sha256: None, media: None }));
        }
        (Err(e), None) => {
            tracing::warn!(endpoint = %slot.endpoint.id, org = %slot.endpoint.org, error = %e, "live stream refused: nothing stored")
        }
        (Ok(_), None) => tracing::info!(endpoint = %slot.endpoint.id, "live stream ended before any media"),
    }
    app.live.release(&slot);
    app.live.wake_drainer();
}

fn remux_all(
    pieces: &Arc<Mutex<Pieces>>,
    segments: &std::sync::mpsc::Receiver<Segment>,
    slot: &Slot,
) -> anyhow::Result<Outcome> {
    let mut remuxer = media::remux::Remuxer::new(PieceWriter(pieces.clone()))?;
    while let Ok(Segment { rx, done }) = segments.recv() {
        let first = remuxer.stats().segments == 0;
        let result = remuxer.feed(SegmentReader { rx, current: Bytes::new() });
        lock(pieces).cut()?;
        let _ = done.send(result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
        match result {
            Ok(()) => {}
            // A first segment that is not media ends the stream; a later one is one
            // bad reconnect, and the stream waits for the next.
            Err(e) if first => return Err(e.into()),
            Err(e) => {
                tracing::warn!(endpoint = %slot.endpoint.id, error = %e, "a reconnect's media was refused; the stream goes on")
            }
        }
    }
    let stats = remuxer.finish()?;
    let mut p = lock(pieces);
    let sha256 = p.finish()?;
    let media = serde_json::json!({
        "duration_ms": stats.duration_ms, "segments": stats.segments, "packets": stats.packets,
        "skipped": stats.skipped, "tracks": stats.tracks,
    });
    Ok(Outcome { state: "complete", sha256: Some(sha256), media: Some(media) })
}

fn lock(p: &Mutex<Pieces>) -> std::sync::MutexGuard<'_, Pieces> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

async fn record_end(app: &Arc<App>, p: Placement, out: &Outcome) {
    let (state, sha, media) = (out.state, out.sha256.clone(), out.media.as_ref().map(|m| m.to_string()));
    let res = crate::catalog::read(&app.vault.catalog, move |repo| {
        Ok::<_, archive::vault::VaultError>(repo.end_live_stream(p.stream, state, sha.as_deref(), media.as_deref())?)
    })
    .await;
    if let Err(e) = res {
        // The restart that follows marks it interrupted; nothing spooled is lost.
        tracing::error!(stream = %p.stream, error = %e, "cannot record the end of a live stream");
    }
}

/// The remuxer's output: shared, because FFmpeg owns the writer until the trailer.
struct PieceWriter(Arc<Mutex<Pieces>>);

impl Write for PieceWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        lock(&self.0).write(buf).map_err(|e| std::io::Error::other(format!("{e:#}")))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Opened {
    placement: Placement,
    key: StreamKey,
}

/// Cuts output into pieces, seals them and spools them.
struct Pieces {
    app: Arc<App>,
    slot: Arc<Slot>,
    rt: tokio::runtime::Handle,
    stream: Option<Opened>,
    pending: Vec<u8>,
    /// When the last piece was cut: the age of what is pending.
    last_cut: Instant,
    next_index: u32,
    plaintext: ring::digest::Context,
}

impl Pieces {
    fn new(app: Arc<App>, slot: Arc<Slot>, rt: tokio::runtime::Handle) -> Self {
        Self {
            app,
            slot,
            rt,
            stream: None,
            pending: Vec::new(),
            last_cut: Instant::now(),
            next_index: 0,
            plaintext: ring::digest::Context::new(&ring::digest::SHA256),
        }
    }

    fn write(&mut self, buf: &[u8]) -> anyhow::Result<()> {
        if self.stream.is_none() {
            self.stream = Some(self.rt.block_on(open(&self.app, &self.slot))?);
        }
        self.pending.extend_from_slice(buf);
        let chunk = self.app.config.upload.chunk_size as usize;
        while self.pending.len() >= chunk {
            let rest = self.pending.split_off(chunk);
            let piece = std::mem::replace(&mut self.pending, rest);
            self.spool(piece, false)?;
        }
        // The muxer writes a fragment about every second, so output comes in steps;
        // a tenth of slack keeps a 1 s interval from missing a step by a millisecond
        // and waiting for the next one.
        let interval = Duration::from_millis(self.app.config.live.piece_interval_ms);
        if self.last_cut.elapsed() >= interval - interval / 10 {
            self.cut()?;
        }
        Ok(())
    }

    /// Spools whatever is pending now (the end of a segment, the interval).
    fn cut(&mut self) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let piece = std::mem::take(&mut self.pending);
        self.last_cut = Instant::now();
        self.spool(piece, false)
    }

    /// The last piece, carrying the last flag (empty if the output ended exactly
    /// at a cut). Returns the SHA-256 of the whole plaintext.
    fn finish(&mut self) -> anyhow::Result<String> {
        let piece = std::mem::take(&mut self.pending);
        if self.stream.is_some() {
            self.spool(piece, true)?;
        }
        let digest = std::mem::replace(&mut self.plaintext, ring::digest::Context::new(&ring::digest::SHA256)).finish();
        Ok(hex::encode(digest))
    }

    fn spool(&mut self, piece: Vec<u8>, last: bool) -> anyhow::Result<()> {
        let opened = self.stream.as_ref().ok_or_else(|| anyhow::anyhow!("no stream is open"))?;
        self.plaintext.update(&piece);
        let sealed = opened.key.seal_piece(self.next_index, last, piece);
        let p = &opened.placement;
        self.app.live.spool.put(p.rec, p.stream, sealed.index, &sealed.bytes)?;
        self.next_index += 1;
        let stats = &self.slot.stats;
        stats.pieces.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        stats.bytes_out.fetch_add(sealed.bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
        *stats.last_piece_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(self.app.vault.clock.now());
        self.app.live.wake_drainer();
        Ok(())
    }
}

/// Opens the stream on the meeting's recording (starting it if this is the first
/// publish), and records it as live in the same transaction.
async fn open(app: &Arc<App>, slot: &Arc<Slot>) -> anyhow::Result<Opened> {
    let meeting = super::meeting_for(app, &slot.endpoint).await?;
    let actor = format!("endpoint:{}", slot.endpoint.id);
    let rec = crate::recordings::recording_for(app, &actor, meeting).await.map_err(anyhow::Error::from)?;
    let spec = StreamSpec {
        kind: "live",
        endpoint: Some(slot.endpoint.id.to_string()),
        content_type: Some("video/mp4".into()),
    };
    let (endpoint, started) = (slot.endpoint.id.to_string(), archive::clock::format_ts(slot.stats.started_at));
    let node = app.live.node.clone();
    let stream = app
        .vault
        .open_stream(
            &actor,
            rec,
            spec,
            crate::catalog::in_tx_with(move |repo, stream| {
                Ok(repo.insert_live_stream(stream, &endpoint, rec, &started, &node)?)
            }),
        )
        .await?;
    let placement = Placement { meeting, rec, stream: stream.id };
    let _ = slot.stats.placed.set(placement.clone());
    tracing::info!(endpoint = %slot.endpoint.id, meeting = %meeting, recording = %rec, stream = %stream.id, "live stream started");
    Ok(Opened { placement, key: stream.key() })
}
