//! Live ingest: publishers (RTMP, HTTP push) become streams of their meeting's
//! recording, remuxed to fragmented MP4, sealed piece by piece into the spool and
//! drained from there to the store.
//!
//! Each endpoint has at most one [`Slot`] at a time. A slot is `publishing` while a
//! connection feeds it and `reconnecting` for `grace_secs` after it drops; a
//! publish in that window continues the same stream as a new segment. When the
//! window passes, the stream's FFmpeg thread writes the trailer and the last piece,
//! and the drainer closes the stream once the store holds every piece. A recording
//! whose streams have all closed this way is sealed.
//!
//! What is acknowledged is what is in the spool (fsynced, encrypted). A crash loses
//! at most the piece being gathered (`piece_interval_ms`) and the fragment being
//! muxed; a restart drains the spool and closes cut streams as `interrupted`.
//!
//! Backpressure: each connection hands bytes to its stream through a bounded
//! queue (`queue_messages`); when the FFmpeg thread falls behind (a slow spool
//! disk), the connection stops reading and TCP slows the sender. The store's speed
//! never matters here: the spool absorbs outages, and new streams are refused when
//! it reaches `spool_cap_bytes`.

mod pipeline;

use crate::catalog::{self, EndedStream};
use crate::endpoints::{Endpoint, KeyError};
use crate::error::DomainError;
use crate::principal::{Principal, Role};
use crate::schema::{EndpointId, MeetingId};
use crate::App;
use archive::id::{RecordingId, StreamId};
use archive::manifest::StreamState;
use archive::spool::ChunkSpool;
use archive::vault::{StreamEnd, VaultError};
use bytes::Bytes;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Why a publish was refused. The messages go back to the publisher.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("unknown or revoked stream key")]
    Refused,
    #[error("endpoint {0:?} is already publishing; a second publisher on the same key is refused")]
    AlreadyLive(String),
    #[error("the spool is full (is the store unreachable?); new streams are refused until it drains")]
    SpoolFull,
    #[error("the service is shutting down")]
    ShuttingDown,
    #[error("catalog error: {0}")]
    Catalog(String),
}

impl From<KeyError> for PublishError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Refused => PublishError::Refused,
            KeyError::Store(e) => PublishError::Catalog(e.to_string()),
            KeyError::Catalog(e) => PublishError::Catalog(e.to_string()),
        }
    }
}

/// Where a live stream landed, once its first media arrived.
#[derive(Debug, Clone, Serialize)]
pub struct Placement {
    pub meeting: MeetingId,
    #[serde(rename = "recording")]
    pub rec: RecordingId,
    pub stream: StreamId,
}

/// Counters the status view reads; written by the connection and the FFmpeg thread.
pub struct Stats {
    pub protocol: &'static str,
    pub started_at: time::OffsetDateTime,
    started: Instant,
    pub bytes_in: AtomicU64,
    /// Sealed bytes spooled, and how many pieces: what has been acknowledged.
    pub bytes_out: AtomicU64,
    pub pieces: AtomicU64,
    pub last_piece_at: Mutex<Option<time::OffsetDateTime>>,
    pub placed: OnceLock<Placement>,
    segments: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Publishing,
    Reconnecting,
}

struct SlotState {
    phase: Phase,
    /// Feeds the FFmpeg thread new segments; dropped to end the stream.
    segments: Option<std::sync::mpsc::Sender<pipeline::Segment>>,
    /// Which connection is current, so a stale end does not start a grace period.
    generation: u64,
}

/// One endpoint's live stream, from first publish to the end of its grace period.
pub struct Slot {
    pub endpoint: Endpoint,
    pub stats: Stats,
    state: Mutex<SlotState>,
}

impl Slot {
    fn state(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A connection's right to feed its endpoint's stream. Dropping it ends the
/// segment: the stream waits `grace_secs` for a reconnect.
pub struct Publication {
    pub slot: Arc<Slot>,
    tx: Option<tokio::sync::mpsc::Sender<Bytes>>,
    done: Option<tokio::sync::oneshot::Receiver<Result<(), String>>>,
    generation: u64,
    live: Arc<Live>,
}

/// The stream stopped taking bytes (it failed, or the service is stopping).
#[derive(Debug)]
pub struct StreamGone;

impl Publication {
    /// Hands bytes to the stream, waiting while its queue is full (backpressure).
    pub async fn send(&self, bytes: Bytes) -> Result<(), StreamGone> {
        let n = bytes.len() as u64;
        let tx = self.tx.as_ref().ok_or(StreamGone)?;
        tx.send(bytes).await.map_err(|_| StreamGone)?;
        self.slot.stats.bytes_in.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    /// Ends the segment and waits until it is remuxed and spooled: `Err` says why
    /// the stream refused it (not media).
    pub async fn end(mut self) -> Result<(), String> {
        drop(self.tx.take());
        self.live.segment_ended(&self.slot, self.generation);
        match self.done.take() {
            Some(done) => done.await.unwrap_or_else(|_| Err("the stream stopped".into())),
            None => Ok(()),
        }
    }

    pub fn cancelled(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.live.stop.cancelled()
    }
}

impl Live {
    /// Resolves when the service starts to stop: listeners stop accepting.
    pub fn stopping(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.stop.cancelled()
    }
}

impl Drop for Publication {
    fn drop(&mut self) {
        drop(self.tx.take());
        self.live.segment_ended(&self.slot, self.generation);
    }
}

pub struct Live {
    pub spool: Arc<ChunkSpool>,
    /// This node's name: its live streams' pieces are in its spool alone.
    pub node: String,
    grace: Duration,
    queue: usize,
    slots: Mutex<HashMap<EndpointId, Arc<Slot>>>,
    accepting: AtomicBool,
    /// Cancelled at shutdown: every connection lets go of its publication.
    stop: CancellationToken,
    drain: tokio::sync::Notify,
    released: tokio::sync::Notify,
    /// Recordings not to seal before a time: those that were open at startup, so
    /// that publishers reconnecting after a restart join them.
    held: Mutex<HashMap<RecordingId, Instant>>,
    pub connections: Arc<tokio::sync::Semaphore>,
}

impl Live {
    pub fn open(config: &crate::config::Config) -> anyhow::Result<Self> {
        let spool = ChunkSpool::open(config.spool_dir().join("live"), config.live.spool_cap_bytes)?;
        Ok(Self {
            spool: Arc::new(spool),
            node: config.catalog.node_name(),
            grace: Duration::from_secs(config.live.grace_secs),
            queue: config.live.queue_messages,
            slots: Default::default(),
            accepting: AtomicBool::new(true),
            stop: CancellationToken::new(),
            drain: Default::default(),
            released: Default::default(),
            held: Default::default(),
            connections: Arc::new(tokio::sync::Semaphore::new(config.live.max_connections)),
        })
    }

    pub fn wake_drainer(&self) {
        self.drain.notify_one();
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<EndpointId, Arc<Slot>>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a publisher: a new stream, or the next segment of one in its grace period.
    pub async fn publish(
        self: &Arc<Self>,
        app: &Arc<App>,
        key: String,
        protocol: &'static str,
    ) -> Result<Publication, PublishError> {
        if !self.accepting.load(Ordering::Acquire) {
            return Err(PublishError::ShuttingDown);
        }
        let endpoint = catalog::read(&app.vault.catalog, move |repo| crate::endpoints::resolve(repo, &key)).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(self.queue);
        let (done_tx, done) = tokio::sync::oneshot::channel();
        let segment = pipeline::Segment { rx, done: done_tx };
        let mut slots = self.slots();
        if let Some(slot) = slots.get(&endpoint.id).cloned() {
            let mut st = slot.state();
            if st.phase == Phase::Publishing {
                return Err(PublishError::AlreadyLive(endpoint.name));
            }
            if let Some(segments) = &st.segments {
                if segments.send(segment).is_ok() {
                    st.phase = Phase::Publishing;
                    st.generation += 1;
                    slot.stats.segments.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(endpoint = %endpoint.id, protocol, "publisher reconnected; the stream continues");
                    return Ok(Publication {
                        slot: slot.clone(),
                        tx: Some(tx),
                        done: Some(done),
                        generation: st.generation,
                        live: self.clone(),
                    });
                }
            }
            return Err(PublishError::Catalog(
                "the previous stream of this endpoint is still finishing; retry in a moment".into(),
            ));
        }
        if self.spool.is_full() {
            return Err(PublishError::SpoolFull);
        }
        let (seg_tx, seg_rx) = std::sync::mpsc::channel();
        seg_tx.send(segment).map_err(|_| PublishError::Catalog("stream thread unavailable".into()))?;
        let now = app.vault.clock.now();
        let stats = Stats {
            protocol,
            started_at: now,
            started: Instant::now(),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            pieces: AtomicU64::new(0),
            last_piece_at: Mutex::new(None),
            placed: OnceLock::new(),
            segments: AtomicU64::new(1),
        };
        let slot = Arc::new(Slot {
            endpoint: endpoint.clone(),
            stats,
            state: Mutex::new(SlotState { phase: Phase::Publishing, segments: Some(seg_tx), generation: 0 }),
        });
        slots.insert(endpoint.id, slot.clone());
        drop(slots);
        let (app2, slot2, rt) = (app.clone(), slot.clone(), tokio::runtime::Handle::current());
        let spawned = std::thread::Builder::new()
            .name(format!("live-{}", endpoint.id))
            .spawn(move || pipeline::run(app2, slot2, seg_rx, rt));
        if let Err(e) = spawned {
            self.slots().remove(&endpoint.id);
            return Err(PublishError::Catalog(format!("cannot start a stream thread: {e}")));
        }
        tracing::info!(endpoint = %endpoint.id, org = %endpoint.org, protocol, "publisher connected");
        Ok(Publication { slot, tx: Some(tx), done: Some(done), generation: 0, live: self.clone() })
    }

    /// A connection let go: wait for a reconnect, then end the stream.
    fn segment_ended(self: &Arc<Self>, slot: &Arc<Slot>, generation: u64) {
        {
            let mut st = slot.state();
            if st.generation != generation || st.phase != Phase::Publishing {
                return;
            }
            st.phase = Phase::Reconnecting;
            if !self.accepting.load(Ordering::Acquire) {
                st.segments = None;
                return;
            }
        }
        tracing::info!(endpoint = %slot.endpoint.id, grace_secs = self.grace.as_secs(), "publisher left; waiting for a reconnect");
        let (live, slot) = (self.clone(), slot.clone());
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            slot.state().segments = None;
            return;
        };
        rt.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(live.grace) => {}
                _ = live.stop.cancelled() => {}
            }
            let mut st = slot.state();
            if st.generation == generation && st.phase == Phase::Reconnecting {
                // The FFmpeg thread sees the end, writes the trailer and the last piece.
                st.segments = None;
            }
        });
    }

    /// Called by the stream's thread when it has finished.
    fn release(&self, slot: &Arc<Slot>) {
        slot.state().segments = None;
        let mut slots = self.slots();
        if slots.get(&slot.endpoint.id).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            slots.remove(&slot.endpoint.id);
        }
        drop(slots);
        self.released.notify_waiters();
    }

    /// After a restart: streams that were live are cut (they close `interrupted`
    /// once drained), and recordings still open wait a grace period for their
    /// publishers to come back before they are sealed.
    pub async fn recover(&self, app: &App) -> anyhow::Result<()> {
        let node = self.node.clone();
        let (cut, open) = catalog::read(&app.vault.catalog, move |repo| {
            Ok::<_, VaultError>((repo.interrupt_live_streams(&node)?, repo.open_live_recordings()?))
        })
        .await?;
        let until = Instant::now() + self.grace;
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        for rec in open {
            held.insert(rec.parse()?, until);
        }
        if cut > 0 {
            tracing::warn!(
                streams = cut,
                "live streams were cut by a restart; they close as interrupted once their spooled pieces are stored"
            );
        }
        Ok(())
    }

    /// Stops taking publishers and ends every stream, skipping grace periods:
    /// connections let go, and each stream's thread writes its last piece.
    pub fn stop(&self) {
        self.accepting.store(false, Ordering::Release);
        self.stop.cancel();
        for slot in self.slots().values() {
            slot.state().segments = None;
        }
    }

    /// After [`Live::stop`]: waits for every stream's last piece, drains the spool
    /// while the store answers, and closes what it can. What is left is finished
    /// by the next start.
    pub async fn finish(&self, app: &Arc<App>, patience: Duration) {
        let deadline = tokio::time::Instant::now() + patience;
        while !self.slots().is_empty() {
            let released = self.released.notified();
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                tracing::warn!(
                    streams = self.slots().len(),
                    "live streams did not finish in time; a restart closes them"
                );
                break;
            }
        }
        while self.spool.backlog_bytes() > 0 && tokio::time::Instant::now() < deadline {
            if let Err(e) = drain_once(app).await {
                tracing::warn!(error = %e, backlog = self.spool.backlog_bytes(), "the store is not taking the spool; it drains after the restart");
                break;
            }
        }
        if let Err(e) = close_ended(app).await {
            tracing::warn!(error = %e, "could not close ended live streams; a restart closes them");
        }
    }

    /// The endpoints live now (publishing, or waiting in their grace period).
    pub fn endpoint_ids(&self) -> Vec<String> {
        self.slots().keys().map(ToString::to_string).collect()
    }

    /// What is live now of `endpoints` (ids; the caller has scoped them): the
    /// supervisor's "which cells are meeting" view.
    pub async fn status_of(&self, app: &App, endpoints: &[String]) -> Result<Vec<LiveStatus>, VaultError> {
        let slots: Vec<Arc<Slot>> =
            self.slots().iter().filter(|(id, _)| endpoints.contains(&id.to_string())).map(|(_, s)| s.clone()).collect();
        let streams: Vec<String> =
            slots.iter().filter_map(|s| s.stats.placed.get().map(|p| p.stream.to_string())).collect();
        let stored =
            catalog::read(&app.vault.catalog, move |repo| Ok::<_, VaultError>(repo.stream_chunks(&streams)?)).await?;
        let mut out: Vec<LiveStatus> = slots.iter().map(|s| LiveStatus::of(s, &stored)).collect();
        out.sort_by(|a, b| (&a.org, &a.endpoint_name).cmp(&(&b.org, &b.endpoint_name)));
        Ok(out)
    }
}

/// One row of `GET /api/v1/live`.
#[derive(Debug, Serialize)]
pub struct LiveStatus {
    pub org: String,
    pub endpoint: String,
    pub endpoint_name: String,
    /// `publishing`, or `reconnecting` during the grace period.
    pub state: &'static str,
    pub protocol: &'static str,
    #[serde(flatten)]
    pub placement: Option<Placement>,
    pub started_at: String,
    pub segments: u64,
    pub bytes_in: u64,
    /// Average since the stream started.
    pub bitrate_bps: u64,
    /// Acknowledged: sealed and fsynced in the spool.
    pub pieces_spooled: u64,
    pub bytes_spooled: u64,
    /// Pieces the store and the ledger already hold.
    pub pieces_stored: u64,
    /// Pieces still waiting in the spool.
    pub spool_backlog: u64,
    pub last_piece_at: Option<String>,
}

impl LiveStatus {
    fn of(s: &Slot, stored: &HashMap<String, u64>) -> Self {
        let st = &s.stats;
        let placement = st.placed.get().cloned();
        let pieces = st.pieces.load(Ordering::Relaxed);
        let in_store = placement.as_ref().and_then(|p| stored.get(&p.stream.to_string())).copied().unwrap_or(0);
        let bytes_in = st.bytes_in.load(Ordering::Relaxed);
        let secs = st.started.elapsed().as_secs_f64().max(0.001);
        LiveStatus {
            org: s.endpoint.org.to_string(),
            endpoint: s.endpoint.id.to_string(),
            endpoint_name: s.endpoint.name.clone(),
            state: if s.state().phase == Phase::Publishing { "publishing" } else { "reconnecting" },
            protocol: st.protocol,
            placement,
            started_at: archive::clock::format_ts(st.started_at),
            segments: st.segments.load(Ordering::Relaxed),
            bytes_in,
            bitrate_bps: (bytes_in as f64 * 8.0 / secs) as u64,
            pieces_spooled: pieces,
            bytes_spooled: st.bytes_out.load(Ordering::Relaxed),
            pieces_stored: in_store,
            spool_backlog: pieces.saturating_sub(in_store),
            last_piece_at: st.last_piece_at.lock().unwrap_or_else(|e| e.into_inner()).map(archive::clock::format_ts),
        }
    }
}

/// The meeting an endpoint's publish belongs to: the org's meeting whose recording
/// is open (other bridge points are already live), else the org's meeting without
/// a recording scheduled closest to now (within a day), else a new ad hoc meeting.
pub async fn meeting_for(app: &Arc<App>, endpoint: &Endpoint) -> anyhow::Result<MeetingId> {
    let org = endpoint.org.to_string();
    let now = app.vault.now();
    let at = now.clone();
    let found = catalog::read(&app.vault.catalog, move |repo| match repo.live_meeting(&org)? {
        Some(live) => Ok::<_, VaultError>(Some(live)),
        None => Ok(repo.nearest_unrecorded_meeting(&org, &at)?),
    })
    .await?;
    if let Some(id) = found {
        return Ok(id.parse()?);
    }
    let meeting = MeetingId::new();
    let title = format!("Họp trực tuyến — {} — {}", endpoint.name, &now[..10]);
    let (subject, mut data) = (
        format!("meeting/{meeting}"),
        serde_json::json!({ "org": endpoint.org, "kind": "regular", "scheduled_at": now, "ad_hoc": true }),
    );
    crate::facts::seal_into(&app.vault.keys, &subject, &mut data, serde_json::json!({ "title": title }))?;
    let entry = archive::ledger::NewEntry {
        actor: format!("endpoint:{}", endpoint.id),
        action: "meeting.created",
        subject,
        data,
    };
    let org = endpoint.org.to_string();
    // Another bridge point of the org (on this node or another) may have
    // started the scheduled meeting's recording between the two reads above:
    // asked again inside the write transaction, which every node's commits
    // queue in, it joins that one instead of splitting the meeting in two.
    let made = catalog::commit(&app.vault, entry, move |repo| {
        if let Some(live) = repo.live_meeting(&org)? {
            return Err(AdHoc::Joined(live));
        }
        Ok(repo.insert_ad_hoc_meeting(meeting, &org, &title, &now)?)
    })
    .await;
    match made {
        Ok(_) => {
            tracing::info!(meeting = %meeting, endpoint = %endpoint.id, "no meeting was scheduled for this org now; started an ad hoc one");
            Ok(meeting)
        }
        Err(AdHoc::Joined(live)) => Ok(live.parse()?),
        Err(AdHoc::Vault(e)) => Err(e.into()),
    }
}

/// Why an ad hoc meeting was not made.
enum AdHoc {
    /// The org's meeting started recording meanwhile: this one.
    Joined(String),
    Vault(VaultError),
}

impl From<VaultError> for AdHoc {
    fn from(e: VaultError) -> Self {
        AdHoc::Vault(e)
    }
}

impl From<crate::catalog::Error> for AdHoc {
    fn from(e: crate::catalog::Error) -> Self {
        match e {
            crate::catalog::Error::Archive(v) => AdHoc::Vault(v),
            // An engine failure stays one (an internal error), not a conflict.
            e => AdHoc::Vault(VaultError::Catalog(archive::catalog::CatalogError::Value(e.to_string()))),
        }
    }
}

/// Moves the spool to the store, closes streams that have ended and are fully
/// stored, and seals recordings whose streams have all closed. Runs for the life
/// of the service, retrying with backoff while the store is down.
pub async fn run_drainer(app: Arc<App>) {
    let live = app.live.clone();
    let mut backoff = Duration::from_millis(500);
    loop {
        tokio::select! {
            _ = live.drain.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = live.stop.cancelled() => return,
        }
        match drain_once(&app).await {
            Ok(_) => backoff = Duration::from_millis(500),
            Err(e) => {
                tracing::warn!(error = %e, backlog_bytes = live.spool.backlog_bytes(), retry_in_ms = backoff.as_millis() as u64, "store unavailable; live pieces wait in the spool");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = live.stop.cancelled() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        }
        if let Err(e) = close_ended(&app).await {
            tracing::warn!(error = %e, "could not close ended live streams; retrying");
        }
        if let Err(e) = seal_finished(&app).await {
            tracing::warn!(error = %e, "could not seal a finished live recording; retrying");
        }
    }
}

async fn drain_once(app: &Arc<App>) -> Result<usize, VaultError> {
    if app.live.spool.backlog_bytes() == 0 {
        return Ok(0);
    }
    app.vault.drain(&app.live.spool).await
}

/// Closes ended streams whose pieces have all left the spool.
async fn close_ended(app: &Arc<App>) -> anyhow::Result<()> {
    let node = app.live.node.clone();
    let ended =
        catalog::read(&app.vault.catalog, move |repo| Ok::<_, VaultError>(repo.ended_live_streams(&node)?)).await?;
    if ended.is_empty() {
        return Ok(());
    }
    let spool = app.live.spool.clone();
    let waiting: HashSet<StreamId> =
        tokio::task::spawn_blocking(move || spool.pending()).await??.into_iter().map(|c| c.stream).collect();
    for EndedStream { stream, recording: rec, end_state: state, sha256, media } in ended {
        let (stream, rec): (StreamId, RecordingId) = (stream.parse()?, rec.parse()?);
        if waiting.contains(&stream) {
            continue;
        }
        let state = if state == "complete" { StreamState::Complete } else { StreamState::Interrupted };
        let media = media.and_then(|m| serde_json::from_str(&m).ok());
        let info = app
            .vault
            .close_stream(&archive::ledger::actor_system(), rec, stream, StreamEnd { state, sha256, media })
            .await?;
        app.live.spool.forget(rec, stream);
        tracing::info!(recording = %rec, stream = %stream, state = state.as_str(), bytes = info.manifest.length, "live stream closed");
    }
    Ok(())
}

/// Seals recordings with live streams once every stream has closed and no
/// endpoint of theirs is live or reconnecting.
async fn seal_finished(app: &Arc<App>) -> anyhow::Result<()> {
    let candidates =
        catalog::read(&app.vault.catalog, |repo| Ok::<_, VaultError>(repo.sealable_live_recordings()?)).await?;
    if candidates.is_empty() {
        return Ok(());
    }
    // Recordings with a live or reconnecting endpoint; and orgs of slots not yet
    // placed, which may be about to join any open recording of their org.
    let mut busy: HashSet<RecordingId> = HashSet::new();
    let mut unplaced_orgs: HashSet<String> = HashSet::new();
    for s in app.live.slots().values() {
        match s.stats.placed.get() {
            Some(p) => busy.insert(p.rec),
            None => unplaced_orgs.insert(s.endpoint.org.to_string()),
        };
    }
    for rec in candidates {
        let rec: RecordingId = rec.parse()?;
        if busy.contains(&rec) || held(&app.live, rec) {
            continue;
        }
        if !unplaced_orgs.is_empty() {
            let org =
                catalog::read(&app.vault.catalog, move |repo| Ok::<_, VaultError>(repo.recording_org(rec)?)).await?;
            if unplaced_orgs.contains(&org) {
                continue;
            }
        }
        let manifest = crate::recordings::seal_now(app, &archive::ledger::actor_system(), rec).await?;
        tracing::info!(recording = %rec, streams = manifest.streams.len(), "live recording sealed: every stream ended and the grace period passed");
    }
    Ok(())
}

fn held(live: &Live, rec: RecordingId) -> bool {
    let mut held = live.held.lock().unwrap_or_else(|e| e.into_inner());
    match held.get(&rec) {
        Some(until) if *until > Instant::now() => true,
        Some(_) => {
            held.remove(&rec);
            false
        }
        None => false,
    }
}

impl From<PublishError> for DomainError {
    fn from(e: PublishError) -> Self {
        tracing::warn!(error = %e, "live publish refused");
        match e {
            PublishError::Refused => DomainError::Unauthenticated(e.to_string()),
            PublishError::AlreadyLive(_) => DomainError::Conflict(e.to_string()),
            PublishError::SpoolFull | PublishError::ShuttingDown | PublishError::Catalog(_) => {
                DomainError::Unavailable(e.to_string())
            }
        }
    }
}

/// What an HTTP push delivered.
#[derive(Debug, Serialize)]
pub struct Pushed {
    pub endpoint: String,
    pub bytes: u64,
    #[serde(flatten)]
    pub placement: Option<Placement>,
}

/// A live push over HTTP: the stream key is the credential; `body` is MPEG-TS,
/// FLV or Matroska; the answer comes when it ends. A sender that vanishes ends
/// its segment like an RTMP publisher that drops: the stream waits for it.
pub async fn push<S, E>(app: &Arc<App>, key: String, body: S) -> Result<Pushed, DomainError>
where
    S: futures::Stream<Item = Result<Bytes, E>> + Unpin,
{
    use futures::StreamExt;
    let Ok(_permit) = app.live.connections.clone().try_acquire_owned() else {
        tracing::warn!("HTTP live push refused: the connection cap is reached");
        return Err(DomainError::Unavailable("the live connection cap is reached; retry later".into()));
    };
    let publication = app.live.publish(app, key, "http").await?;
    let idle = Duration::from_secs(app.config.live.idle_timeout_secs);
    let mut body = body;
    let mut bytes = 0u64;
    let stopped = loop {
        let frame = tokio::select! {
            f = tokio::time::timeout(idle, body.next()) => f,
            _ = publication.cancelled() => break None,
        };
        match frame {
            Ok(Some(Ok(b))) => {
                bytes += b.len() as u64;
                if publication.send(b).await.is_err() {
                    break Some("the stream stopped taking media");
                }
            }
            Ok(None) | Ok(Some(Err(_))) => break None,
            Err(_) => break Some("nothing received within the idle timeout"),
        }
    };
    let slot = publication.slot.clone();
    let remuxed = publication.end().await;
    let placement = slot.stats.placed.get().cloned();
    match (remuxed, stopped) {
        (Err(e), _) if placement.is_none() => {
            Err(DomainError::NotMedia(format!("the body is not MPEG-TS, FLV or Matroska media: {e}")))
        }
        (Err(e), _) => Err(DomainError::MediaRefused(format!("{e}; what arrived before is kept"))),
        (Ok(()), Some(why)) => Err(DomainError::Invalid(format!("{why}; what arrived before is kept"))),
        (Ok(()), None) => Ok(Pushed { endpoint: slot.endpoint.id.to_string(), bytes, placement }),
    }
}

/// The live streams this caller may see (supervisors: admins, inspectors,
/// auditors). The slots live in memory; which of their endpoints are in scope
/// is asked of the catalog with the scope in the query, and only those slots are
/// described.
pub async fn visible_status(app: &App, who: &Principal) -> Result<Vec<LiveStatus>, DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor])?;
    let ids = app.live.endpoint_ids();
    let who = who.clone();
    let visible = catalog::read(&app.vault.catalog, move |repo| crate::endpoints::visible(repo, &ids, &who)).await?;
    Ok(app.live.status_of(app, &visible).await?)
}

/// What declaring a node lost did: its live streams, now this node's to close.
#[derive(Debug, Serialize)]
pub struct TakenOver {
    pub node: String,
    pub by: String,
    /// `(stream, recording)`: each closes `interrupted` with the pieces the
    /// store holds; what was only in the lost node's spool is gone.
    pub streams: Vec<(String, String)>,
    /// One-body uploads it was receiving, closed `interrupted`.
    pub uploads_closed: usize,
}

/// An admin declares node `lost` gone for good (its disk lost): the live
/// streams still open on it are handed to this node, ended `interrupted`, so
/// that they close with the pieces the store holds and their recordings can
/// be sealed; its one-body uploads close `interrupted` too (their senders
/// lost the connection and send again). Ledgered `node.lost` with every stream it cut short. A node that
/// comes back after this finds its streams closed; the pieces still in its
/// spool stay there, refused, for an operator to look at.
pub async fn declare_lost(app: &Arc<App>, who: &Principal, lost: &str) -> Result<TakenOver, DomainError> {
    who.require(&[Role::Admin])?;
    let valid =
        !lost.is_empty() && lost.len() <= 253 && lost.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !valid {
        return Err(DomainError::Invalid(format!("{lost:?} is not a node name")));
    }
    let me = app.live.node.clone();
    if lost == me {
        return Err(DomainError::Conflict(format!(
            "{me} is this node, and it is running: declare it lost from another node"
        )));
    }
    let entry = archive::ledger::NewEntry {
        actor: who.actor(),
        action: "node.lost",
        subject: format!("node/{lost}"),
        data: serde_json::json!({ "taken_over_by": me }),
    };
    let (lost2, me2) = (lost.to_string(), me.clone());
    let (streams, _) = catalog::commit(&app.vault, entry, move |repo| {
        Ok::<_, DomainError>(repo.take_over_live_streams(&lost2, &me2)?)
    })
    .await?;
    // The streams cut short, named in an entry of their own once known.
    let data =
        serde_json::json!({ "streams": streams.iter().map(|(s, r)| format!("recording/{r}/{s}")).collect::<Vec<_>>() });
    app.vault
        .record(archive::ledger::NewEntry {
            actor: who.actor(),
            action: "node.streams_taken_over",
            subject: format!("node/{lost}"),
            data,
        })
        .await?;
    tracing::warn!(
        node = lost,
        streams = streams.len(),
        "node declared lost; its live streams close with what the store holds"
    );
    let uploads_closed = crate::uploads::close_cut(&app.vault, Some(lost)).await?;
    app.live.wake_drainer();
    Ok(TakenOver { node: lost.to_string(), by: me, streams, uploads_closed })
}
