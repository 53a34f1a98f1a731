//! The vault: recordings, streams, chunks and seals. Every state change here is
//! committed in one catalog transaction with its ledger entry, and every object is
//! in the store before the entry that names it commits.
//!
//! Lifecycle of a recording:
//! `recording.started` → per stream `stream.opened` → `chunk.stored`… →
//! `stream.closed` → `recording.sealed` (manifest written, checkpoint signed).

use crate::catalog::{Catalog, CatalogError};
use crate::chunk::{Binding, StreamKey, PREFIX_LEN, TAG_LEN};
use crate::clock::{format_ts, Clock};
use crate::db::{params, Tx};
use crate::id::{RecordingId, StreamId, StreamName};
use crate::keys::{Dek, KeyError, Keys};
use crate::layout::ObjectKey;
use crate::ledger::{self, Entry, LedgerError, NewEntry};
use crate::manifest::{ChunkManifest, Manifest, StreamManifest, StreamState, FORMAT};
use crate::mirror::{Mirror, MirrorError};
use crate::spool::{ChunkSpool, Spooled};
use crate::store::{put_idempotent, Store, StoreError};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::json;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Mirror(#[from] MirrorError),
    #[error(transparent)]
    Spool(#[from] crate::spool::SpoolError),
    #[error("recording {0} not found")]
    NoRecording(RecordingId),
    #[error("stream {0} not found")]
    NoStream(StreamId),
    #[error("{0}")]
    Conflict(String),
    /// The recording's keys were destroyed by retention: its content is gone.
    #[error("recording {0} was shredded under its retention policy; its content no longer exists")]
    Shredded(RecordingId),
    /// Something a request names does not exist (an org, a user, an endpoint).
    #[error("{0}")]
    Missing(String),
    /// A rule forbids this caller the change (four-eyes).
    #[error("{0}")]
    Forbidden(String),
    /// Another node is retiring KEKs, and this one still wraps under the old
    /// current KEK: it reads the new one within seconds; retry.
    #[error("a KEK retirement to {new} is under way and this node still wraps keys under {wrapped}; it picks up the new KEK within seconds: retry")]
    KekChanging { wrapped: String, new: String },
}

impl From<rusqlite::Error> for VaultError {
    fn from(e: rusqlite::Error) -> Self {
        VaultError::Catalog(CatalogError::Sql(e))
    }
}

/// Settings for new streams.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub kind: &'static str,
    pub endpoint: Option<String>,
    pub content_type: Option<String>,
}

/// A stream that is receiving chunks.
pub struct OpenStream {
    pub rec: RecordingId,
    pub id: StreamId,
    pub chunk_size: u32,
    dek: Dek,
    prefix: [u8; PREFIX_LEN],
}

impl std::fmt::Debug for OpenStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OpenStream({}/{})", self.rec, self.id)
    }
}

impl OpenStream {
    /// The key that seals this stream's pieces.
    pub fn key(&self) -> StreamKey {
        StreamKey::new(&self.dek, self.prefix, Binding { rec: self.rec, stream: StreamName::Media(self.id) })
    }
}

/// A chunk object in the store, ready to be recorded.
#[derive(Debug, Clone)]
pub struct StoredChunk {
    pub index: u32,
    pub plain_len: u64,
    /// Ciphertext bytes.
    pub len: u64,
    pub sha256: String,
}

/// How a stream ended.
#[derive(Debug, Clone)]
pub struct StreamEnd {
    pub state: StreamState,
    pub sha256: Option<String>,
    pub media: Option<serde_json::Value>,
}

/// A stored stream as the catalog knows it.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    pub rec: RecordingId,
    pub manifest: StreamManifest,
}

pub struct Vault {
    pub store: Store,
    pub keys: Arc<Keys>,
    pub catalog: Catalog,
    pub clock: Arc<dyn Clock>,
    pub mirror: Arc<Mirror>,
    pub chunk_size: u32,
    /// Wrapped keys read back from the store (see [`crate::key_objects`]).
    pub key_cache: crate::key_objects::KeyCache,
    /// Held (shared) from wrapping a new key until its pointer commits; a KEK
    /// retirement takes it exclusively once the new KEK is current, so that no key
    /// wrapped under a KEK being retired can appear after it has looked.
    pub wrap_gate: tokio::sync::RwLock<()>,
    /// Run by a KEK retirement before it destroys the retired KEKs, so that the
    /// service can move what it keeps outside the archive (the search index)
    /// off them; the retirement waits for it and stops if it fails.
    pub before_destroy: std::sync::OnceLock<crate::retire::BeforeDestroy>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vault({})", self.store.describe())
    }
}

pub(crate) fn subject_rec(rec: RecordingId) -> String {
    format!("recording/{rec}")
}
pub(crate) fn subject_stream(rec: RecordingId, stream: StreamName) -> String {
    format!("recording/{rec}/{stream}")
}

impl Vault {
    pub fn new(
        store: Store,
        keys: Arc<Keys>,
        catalog: Catalog,
        clock: Arc<dyn Clock>,
        mirror: Arc<Mirror>,
        chunk_size: u32,
    ) -> Self {
        Self {
            store,
            keys,
            catalog,
            clock,
            mirror,
            chunk_size,
            key_cache: Default::default(),
            wrap_gate: Default::default(),
            before_destroy: Default::default(),
        }
    }

    pub fn now(&self) -> String {
        format_ts(self.clock.now())
    }

    /// Appends one ledger entry, together with whatever `change` does in the same
    /// transaction. The one way state changes reach the catalog.
    pub async fn commit<R: Send + 'static>(
        &self,
        entry: NewEntry,
        change: impl FnOnce(&Tx<'_>) -> Result<R, VaultError> + Send + 'static,
    ) -> Result<(R, Entry), VaultError> {
        self.commit_as(entry, change).await
    }

    /// [`Vault::commit`] for a caller with its own error type: `change` may fail
    /// with it, and it comes back unchanged (nothing is written).
    pub async fn commit_as<R, E>(
        &self,
        entry: NewEntry,
        change: impl FnOnce(&Tx<'_>) -> Result<R, E> + Send + 'static,
    ) -> Result<(R, Entry), E>
    where
        R: Send + 'static,
        E: From<VaultError> + Send + 'static,
    {
        let ts = self.now();
        let out = self
            .catalog
            .exec(move |conn| {
                let tx = conn.write()?;
                let r = match change(&tx) {
                    Ok(r) => r,
                    Err(e) => return Ok(Err(e)),
                };
                let e = ledger::append_in(&tx, ts, entry)?;
                tx.commit()?;
                Ok::<_, VaultError>(Ok((r, e)))
            })
            .await
            .map_err(E::from)??;
        self.mirror.notify();
        Ok(out)
    }

    /// Records an event that changes no vault state (playback, search, admin actions).
    pub async fn record(&self, entry: NewEntry) -> Result<Entry, VaultError> {
        Ok(self.commit(entry, |_| Ok(())).await?.1)
    }

    /// Announces this build's storage format in the ledger (`store.format`) unless
    /// the ledger already holds that announcement: before any object of it exists.
    pub async fn announce_format(&self) -> Result<(), VaultError> {
        let announced: Option<u32> = self
            .catalog
            .reading(|tx| {
                let sql = if tx.is_postgres() {
                    "SELECT MAX((data::jsonb ->> 'version')::bigint) FROM ledger WHERE action = 'store.format'"
                } else {
                    "SELECT MAX(json_extract(data, '$.version')) FROM ledger WHERE action = 'store.format'"
                };
                Ok::<_, VaultError>(tx.query_one(sql, &[])?.get(0)?)
            })
            .await?;
        if announced.is_some_and(|v| v >= crate::format::STORE) {
            return Ok(());
        }
        let data = json!({ "version": crate::format::STORE });
        self.record(NewEntry { actor: ledger::actor_system(), action: "store.format", subject: "store".into(), data })
            .await?;
        Ok(())
    }

    /// Starts a recording. `link` runs in the same transaction, so the caller's own
    /// tables (the meeting that owns the recording) commit with it.
    pub async fn start_recording(
        &self,
        actor: &str,
        meeting: &str,
        org: &str,
        link: impl FnOnce(&Tx<'_>, RecordingId) -> Result<(), VaultError> + Send + 'static,
    ) -> Result<RecordingId, VaultError> {
        let rec = RecordingId::new();
        let (meeting, org, started) = (meeting.to_string(), org.to_string(), self.now());
        let entry = NewEntry {
            actor: actor.into(),
            action: "recording.started",
            subject: subject_rec(rec),
            data: json!({ "meeting": meeting, "org": org }),
        };
        self.commit(entry, move |tx| {
            tx.execute(
                "INSERT INTO recordings (id, meeting, org, state, started_at) VALUES ($1, $2, $3, 'open', $4)",
                params![rec.to_string(), meeting, org, started],
            )?;
            link(tx, rec)
        })
        .await?;
        Ok(rec)
    }

    /// Opens a stream: a fresh DEK and nonce prefix, the wrapped key stored first.
    /// `link` runs in the same transaction, so whatever the caller tracks the stream
    /// by (a resumable upload) can never miss a stream that exists.
    pub async fn open_stream(
        &self,
        actor: &str,
        rec: RecordingId,
        spec: StreamSpec,
        link: impl FnOnce(&Tx<'_>, StreamId) -> Result<(), VaultError> + Send + 'static,
    ) -> Result<OpenStream, VaultError> {
        self.require_state(rec, "open").await?;
        let id = StreamId::new();
        let name = StreamName::Media(id);
        let dek = Dek::generate()?;
        let mut prefix = [0u8; PREFIX_LEN];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut prefix).map_err(|_| KeyError::Random)?;
        let _gate = self.wrap_gate.read().await;
        let wrapped = self.keys.ring().wrap(&dek, rec, name)?;
        let key = self.put_key(rec, name, 0, &wrapped).await?;
        let chunk_size = self.chunk_size;
        let entry = NewEntry {
            actor: actor.into(),
            action: "stream.opened",
            subject: subject_stream(rec, name),
            data: json!({
                "kind": spec.kind, "endpoint": spec.endpoint, "chunk_size": chunk_size,
                "nonce_prefix": hex::encode(prefix), "key_sha256": key.sha256, "kek": wrapped.kek,
            }),
        };
        let now = self.now();
        self.commit(entry, move |tx| {
            tx.execute(
                "INSERT INTO streams (id, recording, kind, endpoint, state, chunk_size, nonce_prefix, key_sha256, content_type, opened_at)
                 VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $8, $9)",
                params![id.to_string(), rec.to_string(), spec.kind, spec.endpoint, chunk_size, hex::encode(prefix), &key.sha256, spec.content_type, now],
            )?;
            crate::key_objects::record(tx, rec, name, &key)?;
            link(tx, id)
        })
        .await?;
        Ok(OpenStream { rec, id, chunk_size, dek, prefix })
    }

    /// Reopens a stream after a restart, to continue it.
    pub async fn reopen_stream(&self, id: StreamId) -> Result<(OpenStream, u32, u64), VaultError> {
        let info = self.stream(id).await?;
        if info.manifest.state != StreamState::Open {
            return Err(VaultError::Conflict(format!("stream {id} is {}", info.manifest.state.as_str())));
        }
        let dek = self.data_key(info.rec, StreamName::Media(id)).await?;
        let prefix = hex::decode(&info.manifest.nonce_prefix)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| VaultError::Conflict(format!("stream {id} has a malformed nonce prefix")))?;
        let open = OpenStream { rec: info.rec, id, chunk_size: info.manifest.chunk_size, dek, prefix };
        Ok((open, info.manifest.chunks.len() as u32, info.manifest.length))
    }

    /// Records chunk objects that are already in the store, in index order, as one
    /// transaction: a group commit, so that many chunks cost one catalog fsync.
    pub async fn commit_chunks(
        &self,
        actor: &str,
        rec: RecordingId,
        id: StreamId,
        chunks: Vec<StoredChunk>,
    ) -> Result<(), VaultError> {
        self.commit_chunk_runs(actor, vec![(rec, id, chunks)]).await
    }

    /// [`Vault::commit_chunks`] for several streams in one transaction.
    pub async fn commit_chunk_runs(
        &self,
        actor: &str,
        runs: Vec<(RecordingId, StreamId, Vec<StoredChunk>)>,
    ) -> Result<(), VaultError> {
        if runs.iter().all(|(_, _, c)| c.is_empty()) {
            return Ok(());
        }
        let (actor, ts) = (actor.to_string(), self.now());
        self.catalog
            .writing(move |tx| {
                for (rec, id, chunks) in runs {
                    record_chunks(tx, &actor, &ts, rec, id, chunks)?;
                }
                Ok::<_, VaultError>(())
            })
            .await?;
        self.mirror.notify();
        Ok(())
    }

    /// Moves spooled chunks to the store and records them: every stream in index
    /// order, several puts in flight across streams, one transaction per pass, and
    /// only then out of the spool. A store error ends the pass after recording what
    /// did arrive (the caller retries with backoff); nothing is lost, and a pass
    /// after a crash at any step repeats no entry. Returns how many chunks left the
    /// spool.
    pub async fn drain(&self, spool: &Arc<ChunkSpool>) -> Result<usize, VaultError> {
        /// Chunks put per pass: passes stay short, so progress is recorded often.
        const PER_PASS: usize = 512;
        let pending = {
            let spool = spool.clone();
            tokio::task::spawn_blocking(move || spool.pending())
                .await
                .map_err(|e| VaultError::Conflict(e.to_string()))??
        };
        if pending.is_empty() {
            return Ok(0);
        }
        let ids: Vec<StreamId> =
            pending.iter().map(|c| c.stream).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        let recorded = self.catalog.reading(move |tx| recorded_counts(tx, &ids)).await?;
        let mut moved = 0;
        let mut todo: Vec<Spooled> = Vec::new();
        let mut expect: std::collections::HashMap<StreamId, u32> = Default::default();
        for c in pending {
            let Some(&done) = recorded.get(&c.stream) else {
                tracing::error!(stream = %c.stream, "spooled chunks of a stream the catalog does not know or has closed; they stay in the spool");
                continue;
            };
            if c.index < done {
                // Recorded before a crash cut the removal short.
                spool.remove(&c)?;
                moved += 1;
                continue;
            }
            let next = expect.entry(c.stream).or_insert(done);
            if c.index != *next {
                if *next != u32::MAX {
                    tracing::error!(stream = %c.stream, missing = *next, "the spool lacks a chunk; the stream cannot continue past it");
                    *next = u32::MAX;
                }
                continue;
            }
            *next += 1;
            if todo.len() < PER_PASS {
                todo.push(c);
            }
        }
        let store = self.store.clone();
        let results: Vec<(Spooled, Result<StoredChunk, VaultError>)> = futures::stream::iter(todo)
            .map(|c| {
                let store = store.clone();
                async move {
                    let r = put_spooled(&store, &c).await;
                    (c, r)
                }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        let (runs, committed, failure) = contiguous_runs(results, &recorded);
        self.commit_chunk_runs(&ledger::actor_system(), runs).await?;
        for c in &committed {
            spool.remove(c)?;
            moved += 1;
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(moved),
        }
    }

    pub async fn close_stream(
        &self,
        actor: &str,
        rec: RecordingId,
        id: StreamId,
        end: StreamEnd,
    ) -> Result<StreamInfo, VaultError> {
        let info = self.stream(id).await?;
        let entry = NewEntry {
            actor: actor.into(),
            action: "stream.closed",
            subject: subject_stream(rec, StreamName::Media(id)),
            data: json!({
                "state": end.state.as_str(), "length": info.manifest.length,
                "chunks": info.manifest.chunks.len(), "sha256": end.sha256,
            }),
        };
        let now = self.now();
        self.commit(entry, move |tx| {
            let n = tx.execute(
                "UPDATE streams SET state = $2, sha256 = $3, media = $4, closed_at = $5 WHERE id = $1 AND state = 'open'",
                params![id.to_string(), end.state.as_str(), end.sha256, end.media.map(|m| m.to_string()), now],
            )?;
            if n == 0 {
                return Err(VaultError::Conflict(format!("stream {id} is not open")));
            }
            Ok(())
        })
        .await?;
        self.stream(id).await
    }

    /// Seals a recording: writes its manifest, records `recording.sealed` and signs a
    /// checkpoint that covers it. Every stream must have ended.
    pub async fn seal(&self, actor: &str, rec: RecordingId) -> Result<Manifest, VaultError> {
        self.seal_with(actor, rec, |_| Ok(())).await
    }

    /// [`Vault::seal`], with `link` in the sealing transaction (the service queues
    /// the recording's transcription there, so no sealed recording is missed).
    pub async fn seal_with(
        &self,
        actor: &str,
        rec: RecordingId,
        link: impl FnOnce(&Tx<'_>) -> Result<(), VaultError> + Send + 'static,
    ) -> Result<Manifest, VaultError> {
        self.require_state(rec, "open").await?;
        let mut manifest = self.manifest_draft(rec).await?;
        if let Some(open) = manifest.streams.iter().find(|s| s.state == StreamState::Open) {
            return Err(VaultError::Conflict(format!(
                "stream {} is still receiving; it must end before the recording is sealed",
                open.id
            )));
        }
        manifest.sealed_at = self.now();
        let bytes = manifest.to_bytes();
        let sha = crate::sha256_hex(&bytes);
        put_idempotent(&*self.store, &ObjectKey::manifest(rec), Bytes::from(bytes)).await?;
        let entry = NewEntry {
            actor: actor.into(),
            action: "recording.sealed",
            subject: subject_rec(rec),
            data: json!({ "manifest_sha256": sha, "streams": manifest.streams.len() }),
        };
        let sealed_at = manifest.sealed_at.clone();
        self.commit(entry, move |tx| {
            tx.execute(
                "UPDATE recordings SET state = 'sealed', sealed_at = $2, manifest_sha256 = $3 WHERE id = $1 AND state = 'open'",
                params![rec.to_string(), sealed_at, sha],
            )?;
            link(tx)
        })
        .await?;
        self.mirror.flush(true).await?;
        Ok(manifest)
    }

    pub(crate) async fn require_sealed(&self, rec: RecordingId) -> Result<(), VaultError> {
        self.require_state(rec, "sealed").await
    }

    async fn require_state(&self, rec: RecordingId, want: &'static str) -> Result<(), VaultError> {
        let state: Option<String> = self.catalog.reading(move |tx| recording_state(tx, rec)).await?;
        match state {
            None => Err(VaultError::NoRecording(rec)),
            Some(s) if s == want => Ok(()),
            Some(s) => Err(VaultError::Conflict(format!("recording {rec} is {s}"))),
        }
    }

    /// The recording as it stands: for a sealed one, exactly its manifest.
    pub async fn manifest_draft(&self, rec: RecordingId) -> Result<Manifest, VaultError> {
        self.catalog.reading(move |tx| read_manifest(tx, rec)).await
    }

    /// One stream, with its chunk list.
    pub async fn stream(&self, id: StreamId) -> Result<StreamInfo, VaultError> {
        self.catalog.reading(move |tx| read_stream(tx, id)).await
    }

    /// The key that opens a stored stream's pieces.
    pub async fn stream_key(&self, info: &StreamInfo) -> Result<StreamKey, VaultError> {
        let stream = StreamName::Media(info.manifest.id);
        let dek = self.data_key(info.rec, stream).await?;
        let prefix = hex::decode(&info.manifest.nonce_prefix)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| VaultError::Conflict("malformed nonce prefix".into()))?;
        Ok(StreamKey::new(&dek, prefix, Binding { rec: info.rec, stream }))
    }
}

/// Inserts a stream's next chunks and their `chunk.stored` entries.
fn record_chunks(
    tx: &Tx<'_>,
    actor: &str,
    ts: &str,
    rec: RecordingId,
    id: StreamId,
    chunks: Vec<StoredChunk>,
) -> Result<(), VaultError> {
    if chunks.is_empty() {
        return Ok(());
    }
    let expected: u32 = tx
        .query_opt("SELECT chunks FROM streams WHERE id = $1 AND state = 'open'", params![id.to_string()])?
        .ok_or(VaultError::NoStream(id))?
        .get(0)?;
    for (c, expected) in chunks.into_iter().zip(expected..) {
        if expected != c.index {
            return Err(VaultError::Conflict(format!(
                "chunk {} of stream {id} arrived where {expected} belongs",
                c.index
            )));
        }
        tx.execute(
            "INSERT INTO chunks (stream, idx, plain_len, len, sha256) VALUES ($1, $2, $3, $4, $5)",
            params![id.to_string(), c.index, c.plain_len, c.len, &c.sha256],
        )?;
        tx.execute(
            "UPDATE streams SET chunks = chunks + 1, length = length + $2 WHERE id = $1",
            params![id.to_string(), c.plain_len],
        )?;
        let entry = NewEntry {
            actor: actor.to_string(),
            action: "chunk.stored",
            subject: subject_stream(rec, StreamName::Media(id)),
            data: json!({ "index": c.index, "len": c.len, "sha256": c.sha256 }),
        };
        ledger::append_in(tx, ts.to_string(), entry)?;
    }
    Ok(())
}

/// How many chunks each stream has recorded.
fn recorded_counts(tx: &Tx<'_>, ids: &[StreamId]) -> Result<std::collections::HashMap<StreamId, u32>, VaultError> {
    let mut out = std::collections::HashMap::new();
    for id in ids {
        // A stream closed meanwhile (its node declared lost) takes no more
        // pieces: they stay in the spool, named in the log.
        let sql = "SELECT chunks FROM streams WHERE id = $1 AND state = 'open'";
        if let Some(row) = tx.query_opt(sql, params![id.to_string()])? {
            out.insert(*id, row.get(0)?);
        }
    }
    Ok(out)
}

/// A recording's state, if it exists.
pub(crate) fn recording_state(tx: &Tx<'_>, rec: RecordingId) -> Result<Option<String>, VaultError> {
    match tx.query_opt("SELECT state FROM recordings WHERE id = $1", params![rec.to_string()])? {
        Some(row) => Ok(Some(row.get(0)?)),
        None => Ok(None),
    }
}

/// Reads a spooled chunk and puts it to the store.
async fn put_spooled(store: &Store, c: &Spooled) -> Result<StoredChunk, VaultError> {
    let bytes = tokio::fs::read(&c.path)
        .await
        .map_err(|source| crate::spool::SpoolError::Io { path: c.path.display().to_string(), source })?;
    let (bytes, sha256) = tokio::task::spawn_blocking(move || {
        let sha = crate::sha256_hex(&bytes);
        (bytes, sha)
    })
    .await
    .map_err(|e| VaultError::Conflict(e.to_string()))?;
    let stored = StoredChunk {
        index: c.index,
        plain_len: (bytes.len() - TAG_LEN.min(bytes.len())) as u64,
        len: bytes.len() as u64,
        sha256,
    };
    put_idempotent(&**store, &ObjectKey::chunk(c.rec, c.stream, c.index), Bytes::from(bytes)).await?;
    Ok(stored)
}

type Runs = Vec<(RecordingId, StreamId, Vec<StoredChunk>)>;

/// Of the puts of one pass, the chunks that can be recorded: per stream, those
/// stored without a gap after what is already recorded. Also returns the first
/// error.
fn contiguous_runs(
    mut results: Vec<(Spooled, Result<StoredChunk, VaultError>)>,
    recorded: &std::collections::HashMap<StreamId, u32>,
) -> (Runs, Vec<Spooled>, Option<VaultError>) {
    results.sort_by_key(|(c, _)| (c.rec, c.stream, c.index));
    let mut runs: Runs = Vec::new();
    let mut committed = Vec::new();
    let mut failure = None;
    let mut broken: Option<StreamId> = None;
    for (c, r) in results {
        let stored = match r {
            Ok(s) if broken != Some(c.stream) => s,
            Ok(_) => continue,
            Err(e) => {
                broken = Some(c.stream);
                failure = failure.or(Some(e));
                continue;
            }
        };
        match runs.last_mut() {
            Some((_, id, chunks)) if *id == c.stream => chunks.push(stored),
            _ => {
                debug_assert_eq!(recorded.get(&c.stream).copied(), Some(c.index));
                runs.push((c.rec, c.stream, vec![stored]));
            }
        }
        committed.push(c);
    }
    (runs, committed, failure)
}

fn read_manifest(tx: &Tx<'_>, rec: RecordingId) -> Result<Manifest, VaultError> {
    let row = tx
        .query_opt(
            "SELECT meeting, org, started_at, sealed_at FROM recordings WHERE id = $1",
            params![rec.to_string()],
        )?
        .ok_or(VaultError::NoRecording(rec))?;
    let (meeting, org, started_at, sealed_at): (String, String, String, Option<String>) =
        (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
    let mut streams = Vec::new();
    for row in
        tx.query("SELECT id FROM streams WHERE recording = $1 ORDER BY opened_at, id", params![rec.to_string()])?
    {
        let id: String = row.get(0)?;
        let id: StreamId = id.parse().map_err(|e| VaultError::Conflict(format!("catalog: {e}")))?;
        streams.push(read_stream(tx, id)?.manifest);
    }
    Ok(Manifest {
        format: FORMAT.into(),
        recording: rec,
        meeting,
        org,
        started_at,
        sealed_at: sealed_at.unwrap_or_default(),
        streams,
    })
}

fn read_stream(tx: &Tx<'_>, id: StreamId) -> Result<StreamInfo, VaultError> {
    let r = tx
        .query_opt(
            "SELECT recording, kind, endpoint, state, chunk_size, nonce_prefix, key_sha256, length, sha256, content_type, media
             FROM streams WHERE id = $1",
            params![id.to_string()],
        )?
        .ok_or(VaultError::NoStream(id))?;
    let corrupt = |what: &str| VaultError::Conflict(format!("catalog row for stream {id} has a malformed {what}"));
    let chunks = tx
        .query("SELECT len, sha256 FROM chunks WHERE stream = $1 ORDER BY idx", params![id.to_string()])?
        .iter()
        .map(|c| Ok(ChunkManifest { len: c.get(0)?, sha256: c.get(1)? }))
        .collect::<Result<Vec<_>, CatalogError>>()?;
    let (rec, state, media): (String, String, Option<String>) = (r.get(0)?, r.get(3)?, r.get(10)?);
    Ok(StreamInfo {
        rec: rec.parse().map_err(|_| corrupt("recording id"))?,
        manifest: StreamManifest {
            id,
            kind: r.get(1)?,
            endpoint: r.get(2)?,
            state: StreamState::parse(&state).ok_or_else(|| corrupt("state"))?,
            chunk_size: r.get(4)?,
            nonce_prefix: r.get(5)?,
            key_sha256: r.get(6)?,
            length: r.get(7)?,
            sha256: r.get(8)?,
            content_type: r.get(9)?,
            media: media.and_then(|m| serde_json::from_str(&m).ok()),
            chunks,
        },
    })
}

impl StreamManifest {
    /// The plaintext layout of this stream's pieces.
    pub fn layout(&self) -> crate::chunk::Layout {
        crate::chunk::Layout::new(
            self.chunks.iter().map(|c| c.len.saturating_sub(TAG_LEN as u64)),
            self.state == StreamState::Complete,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::keys::KeyDir;
    use crate::store::{LocalStore, ObjectMeta, ObjectStore};
    use futures::future::BoxFuture;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// The real local store, with a switch that makes writes fail like an outage.
    #[derive(Debug)]
    struct Switchable {
        inner: LocalStore,
        down: AtomicBool,
    }

    impl ObjectStore for Switchable {
        fn describe(&self) -> String {
            self.inner.describe()
        }
        fn put_new<'a>(&'a self, key: &'a ObjectKey, body: Bytes) -> BoxFuture<'a, Result<(), StoreError>> {
            if self.down.load(Ordering::Relaxed) {
                return Box::pin(async move { Err(StoreError::io(key, "connection refused")) });
            }
            self.inner.put_new(key, body)
        }
        fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Bytes, StoreError>> {
            self.inner.get(key)
        }
        fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>, StoreError>> {
            self.inner.list(prefix)
        }
        fn delete<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<(), StoreError>> {
            self.inner.delete(key)
        }
    }

    async fn vault(dir: &std::path::Path) -> (Vault, Arc<Switchable>) {
        let catalog = Catalog::open(&dir.join("catalog.db")).unwrap();
        let keys = Arc::new(KeyDir::new(dir.join("keys")).init("niem.test/ledger").unwrap());
        let store =
            Arc::new(Switchable { inner: LocalStore::open(dir.join("store")).unwrap(), down: AtomicBool::new(false) });
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let mirror = crate::testing::mirror(store.clone(), &catalog, &keys, &clock).await;
        (Vault::new(store.clone(), keys, catalog, clock, mirror, 1000), store)
    }

    #[tokio::test]
    async fn spooled_chunks_survive_an_outage_and_drain_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (vault, store) = vault(dir.path()).await;
        let spool = Arc::new(ChunkSpool::open(dir.path().join("spool"), 1 << 30).unwrap());
        let rec = vault.start_recording("system", "m", "o", |_, _| Ok(())).await.unwrap();
        let spec = StreamSpec { kind: "live", endpoint: Some("e".into()), content_type: None };
        let stream = vault.open_stream("endpoint:e", rec, spec, |_, _| Ok(())).await.unwrap();
        let key = stream.key();
        let plain: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let mut expected = Vec::new();
        for (i, piece) in plain.chunks(1000).enumerate() {
            let sealed = key.seal_piece(i as u32, false, piece.to_vec());
            spool.put(rec, stream.id, i as u32, &sealed.bytes).unwrap();
            expected.push(sealed.sha256);
        }
        assert_eq!(spool.backlog_bytes(), 10 * 1016);

        store.down.store(true, Ordering::Relaxed);
        assert!(vault.drain(&spool).await.is_err(), "an outage is reported");
        assert_eq!(spool.pending().unwrap().len(), 10, "and loses nothing");
        assert_eq!(vault.stream(stream.id).await.unwrap().manifest.chunks.len(), 0);

        store.down.store(false, Ordering::Relaxed);
        assert_eq!(vault.drain(&spool).await.unwrap(), 10);
        assert!(spool.pending().unwrap().is_empty());
        assert_eq!(spool.backlog_bytes(), 0);
        let info = vault.stream(stream.id).await.unwrap();
        let hashes: Vec<String> = info.manifest.chunks.iter().map(|c| c.sha256.clone()).collect();
        assert_eq!(hashes, expected, "recorded in index order");
        assert_eq!(info.manifest.length, 10_000);
        assert_eq!(vault.drain(&spool).await.unwrap(), 0, "a second pass has nothing to do");

        // Chunks of a stream the catalog does not know stay put and block nobody.
        let stray = crate::id::StreamId::new();
        spool.put(rec, stray, 0, b"junk").unwrap();
        let late = key.seal_piece(10, false, vec![1; 1000]);
        spool.put(rec, stream.id, 10, &late.bytes).unwrap();
        assert_eq!(vault.drain(&spool).await.unwrap(), 1);
        assert_eq!(spool.pending().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_drain_after_a_crash_repeats_no_entry() {
        let dir = tempfile::tempdir().unwrap();
        let (vault, _store) = vault(dir.path()).await;
        let spool = Arc::new(ChunkSpool::open(dir.path().join("spool"), 1 << 30).unwrap());
        let rec = vault.start_recording("system", "m", "o", |_, _| Ok(())).await.unwrap();
        let spec = StreamSpec { kind: "live", endpoint: None, content_type: None };
        let stream = vault.open_stream("system", rec, spec, |_, _| Ok(())).await.unwrap();
        let key = stream.key();
        let pieces: Vec<_> = (0..4u32).map(|i| key.seal_piece(i, false, vec![i as u8; 1000])).collect();
        for p in &pieces {
            spool.put(rec, stream.id, p.index, &p.bytes).unwrap();
        }
        drop(spool);
        // A crash between the store put and the commit: chunk 0 is in the store but
        // not recorded; a half-written spool file lies beside the whole ones.
        vault.store.put_new(&ObjectKey::chunk(rec, stream.id, 0), Bytes::from(pieces[0].bytes.clone())).await.unwrap();
        std::fs::write(
            dir.path().join("spool").join(rec.to_string()).join(stream.id.to_string()).join("00000009.tmp"),
            b"cut",
        )
        .unwrap();
        let reopened = Arc::new(ChunkSpool::open(dir.path().join("spool"), 1 << 30).unwrap());
        assert_eq!(reopened.pending().unwrap().len(), 4, "only whole chunks count");
        assert_eq!(vault.drain(&reopened).await.unwrap(), 4);
        // A crash between the commit and the removal: chunk 3 is back in the spool.
        reopened.put(rec, stream.id, 3, &pieces[3].bytes).unwrap();
        assert_eq!(vault.drain(&reopened).await.unwrap(), 1);
        assert!(reopened.pending().unwrap().is_empty());
        let stored = vault.catalog.with(|c| ledger::read_where(c, "action = 'chunk.stored'", [])).unwrap();
        assert_eq!(stored.len(), 4, "each chunk recorded exactly once");
    }
}
