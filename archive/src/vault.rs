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
use crate::id::{RecordingId, StreamId, StreamName};
use crate::keys::{Dek, KeyError, Keys, WrappedDek};
use crate::layout::ObjectKey;
use crate::ledger::{self, Entry, LedgerError, NewEntry};
use crate::manifest::{ChunkManifest, Manifest, StreamManifest, StreamState, FORMAT};
use crate::mirror::{Mirror, MirrorError};
use crate::store::{put_idempotent, Store, StoreError};
use bytes::Bytes;
use rusqlite::{params, OptionalExtension};
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
    #[error("recording {0} not found")]
    NoRecording(RecordingId),
    #[error("stream {0} not found")]
    NoStream(StreamId),
    #[error("{0}")]
    Conflict(String),
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
    pub wrapped_dek: WrappedDek,
}

pub struct Vault {
    pub store: Store,
    pub keys: Arc<Keys>,
    pub catalog: Catalog,
    pub clock: Arc<dyn Clock>,
    pub mirror: Arc<Mirror>,
    pub chunk_size: u32,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vault({})", self.store.describe())
    }
}

fn subject_rec(rec: RecordingId) -> String {
    format!("recording/{rec}")
}
fn subject_stream(rec: RecordingId, stream: StreamName) -> String {
    format!("recording/{rec}/{stream}")
}

impl Vault {
    pub fn now(&self) -> String {
        format_ts(self.clock.now())
    }

    /// Appends one ledger entry, together with whatever `change` does in the same
    /// transaction. The one way state changes reach the catalog.
    pub async fn commit<R: Send + 'static>(
        &self,
        entry: NewEntry,
        change: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<R, VaultError> + Send + 'static,
    ) -> Result<(R, Entry), VaultError> {
        let ts = self.now();
        let out = self
            .catalog
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let r = change(&tx)?;
                let e = ledger::append(&tx, ts, entry)?;
                tx.commit()?;
                Ok::<_, VaultError>((r, e))
            })
            .await?;
        self.mirror.notify();
        Ok(out)
    }

    /// Records an event that changes no vault state (playback, search, admin actions).
    pub async fn record(&self, entry: NewEntry) -> Result<Entry, VaultError> {
        Ok(self.commit(entry, |_| Ok(())).await?.1)
    }

    /// Starts a recording. `link` runs in the same transaction, so the caller's own
    /// tables (the meeting that owns the recording) commit with it.
    pub async fn start_recording(
        &self,
        actor: &str,
        meeting: &str,
        org: &str,
        link: impl FnOnce(&rusqlite::Transaction<'_>, RecordingId) -> Result<(), VaultError> + Send + 'static,
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
                "INSERT INTO recordings (id, meeting, org, state, started_at) VALUES (?1, ?2, ?3, 'open', ?4)",
                params![rec.to_string(), meeting, org, started],
            )?;
            link(tx, rec)
        })
        .await?;
        Ok(rec)
    }

    /// Opens a stream: a fresh DEK and nonce prefix, the wrapped key stored first.
    pub async fn open_stream(&self, actor: &str, rec: RecordingId, spec: StreamSpec) -> Result<OpenStream, VaultError> {
        self.require_state(rec, "open").await?;
        let id = StreamId::new();
        let dek = Dek::generate()?;
        let mut prefix = [0u8; PREFIX_LEN];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut prefix).map_err(|_| KeyError::Random)?;
        let wrapped = self.keys.ring.wrap(&dek, rec, StreamName::Media(id))?;
        let key_bytes = serde_json::to_vec(&wrapped).expect("wrapped key serialises");
        let key_sha = crate::sha256_hex(&key_bytes);
        put_idempotent(&*self.store, &ObjectKey::dek(rec, StreamName::Media(id)), Bytes::from(key_bytes)).await?;
        let chunk_size = self.chunk_size;
        let entry = NewEntry {
            actor: actor.into(),
            action: "stream.opened",
            subject: subject_stream(rec, StreamName::Media(id)),
            data: json!({
                "kind": spec.kind, "endpoint": spec.endpoint, "chunk_size": chunk_size,
                "nonce_prefix": hex::encode(prefix), "key_sha256": key_sha, "kek": wrapped.kek,
            }),
        };
        let now = self.now();
        let wrapped_json = serde_json::to_string(&wrapped).expect("wrapped key serialises");
        self.commit(entry, move |tx| {
            tx.execute(
                "INSERT INTO streams (id, recording, kind, endpoint, state, chunk_size, nonce_prefix, wrapped_dek, key_sha256, content_type, opened_at)
                 VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?6, ?7, ?8, ?9, ?10)",
                params![id.to_string(), rec.to_string(), spec.kind, spec.endpoint, chunk_size, hex::encode(prefix), wrapped_json, key_sha, spec.content_type, now],
            )?;
            Ok(())
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
        let dek = self.keys.ring.unwrap(&info.wrapped_dek, info.rec, StreamName::Media(id))?;
        let prefix = hex::decode(&info.manifest.nonce_prefix)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| VaultError::Conflict(format!("stream {id} has a malformed nonce prefix")))?;
        let open = OpenStream { rec: info.rec, id, chunk_size: info.manifest.chunk_size, dek, prefix };
        Ok((open, info.manifest.chunks.len() as u32, info.manifest.length))
    }

    /// Records chunk objects that are already in the store, in index order, as one
    /// transaction: a group commit, so that many chunks cost one catalog fsync.
    pub async fn commit_chunks(&self, actor: &str, rec: RecordingId, id: StreamId, chunks: Vec<StoredChunk>) -> Result<(), VaultError> {
        if chunks.is_empty() {
            return Ok(());
        }
        let (actor, ts) = (actor.to_string(), self.now());
        self.catalog
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let expected: u32 = tx
                    .query_row("SELECT chunks FROM streams WHERE id = ?1 AND state = 'open'", [id.to_string()], |r| r.get(0))
                    .optional()?
                    .ok_or(VaultError::NoStream(id))?;
                for (c, expected) in chunks.into_iter().zip(expected..) {
                    if expected != c.index {
                        return Err(VaultError::Conflict(format!("chunk {} of stream {id} arrived where {expected} belongs", c.index)));
                    }
                    tx.execute(
                        "INSERT INTO chunks (stream, idx, plain_len, len, sha256) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![id.to_string(), c.index, c.plain_len, c.len, c.sha256],
                    )?;
                    tx.execute("UPDATE streams SET chunks = chunks + 1, length = length + ?2 WHERE id = ?1", params![id.to_string(), c.plain_len])?;
                    let entry = NewEntry {
                        actor: actor.clone(),
                        action: "chunk.stored",
                        subject: subject_stream(rec, StreamName::Media(id)),
                        data: json!({ "index": c.index, "len": c.len, "sha256": c.sha256 }),
                    };
                    ledger::append(&tx, ts.clone(), entry)?;
                }
                tx.commit()?;
                Ok::<_, VaultError>(())
            })
            .await?;
        self.mirror.notify();
        Ok(())
    }

    pub async fn close_stream(&self, actor: &str, rec: RecordingId, id: StreamId, end: StreamEnd) -> Result<StreamInfo, VaultError> {
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
                "UPDATE streams SET state = ?2, sha256 = ?3, media = ?4, closed_at = ?5 WHERE id = ?1 AND state = 'open'",
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
        self.require_state(rec, "open").await?;
        let mut manifest = self.manifest_draft(rec).await?;
        if let Some(open) = manifest.streams.iter().find(|s| s.state == StreamState::Open) {
            return Err(VaultError::Conflict(format!("stream {} is still receiving; it must end before the recording is sealed", open.id)));
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
                "UPDATE recordings SET state = 'sealed', sealed_at = ?2, manifest_sha256 = ?3 WHERE id = ?1 AND state = 'open'",
                params![rec.to_string(), sealed_at, sha],
            )?;
            Ok(())
        })
        .await?;
        self.mirror.flush(true).await?;
        Ok(manifest)
    }

    async fn require_state(&self, rec: RecordingId, want: &'static str) -> Result<(), VaultError> {
        let state: Option<String> = self
            .catalog
            .call(move |c| c.query_row("SELECT state FROM recordings WHERE id = ?1", [rec.to_string()], |r| r.get(0)).optional().map_err(VaultError::from))
            .await?;
        match state {
            None => Err(VaultError::NoRecording(rec)),
            Some(s) if s == want => Ok(()),
            Some(s) => Err(VaultError::Conflict(format!("recording {rec} is {s}"))),
        }
    }

    /// The recording as it stands: for a sealed one, exactly its manifest.
    pub async fn manifest_draft(&self, rec: RecordingId) -> Result<Manifest, VaultError> {
        self.catalog.call(move |c| read_manifest(c, rec)).await
    }

    /// One stream, with its chunk list.
    pub async fn stream(&self, id: StreamId) -> Result<StreamInfo, VaultError> {
        self.catalog.call(move |c| read_stream(c, id)).await
    }

    /// The key that opens a stored stream's pieces.
    pub fn stream_key(&self, info: &StreamInfo) -> Result<StreamKey, VaultError> {
        let stream = StreamName::Media(info.manifest.id);
        let dek = self.keys.ring.unwrap(&info.wrapped_dek, info.rec, stream)?;
        let prefix = hex::decode(&info.manifest.nonce_prefix)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| VaultError::Conflict("malformed nonce prefix".into()))?;
        Ok(StreamKey::new(&dek, prefix, Binding { rec: info.rec, stream }))
    }
}

fn read_manifest(c: &rusqlite::Connection, rec: RecordingId) -> Result<Manifest, VaultError> {
    let row: Option<(String, String, String, Option<String>)> = c
        .query_row("SELECT meeting, org, started_at, sealed_at FROM recordings WHERE id = ?1", [rec.to_string()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let (meeting, org, started_at, sealed_at) = row.ok_or(VaultError::NoRecording(rec))?;
    let mut stmt = c.prepare("SELECT id FROM streams WHERE recording = ?1 ORDER BY opened_at, id")?;
    let ids: Vec<String> = stmt.query_map([rec.to_string()], |r| r.get(0))?.collect::<Result<_, _>>()?;
    let mut streams = Vec::new();
    for id in ids {
        let id: StreamId = id.parse().map_err(|e| VaultError::Conflict(format!("catalog: {e}")))?;
        streams.push(read_stream(c, id)?.manifest);
    }
    Ok(Manifest { format: FORMAT.into(), recording: rec, meeting, org, started_at, sealed_at: sealed_at.unwrap_or_default(), streams })
}

fn read_stream(c: &rusqlite::Connection, id: StreamId) -> Result<StreamInfo, VaultError> {
    type Row = (String, String, Option<String>, String, u32, String, String, String, u64, Option<String>, Option<String>, Option<String>);
    let row: Option<Row> = c
        .query_row(
            "SELECT recording, kind, endpoint, state, chunk_size, nonce_prefix, wrapped_dek, key_sha256, length, sha256, content_type, media FROM streams WHERE id = ?1",
            [id.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?)),
        )
        .optional()?;
    let (rec, kind, endpoint, state, chunk_size, nonce_prefix, wrapped, key_sha256, length, sha256, content_type, media) = row.ok_or(VaultError::NoStream(id))?;
    let corrupt = |what: &str| VaultError::Conflict(format!("catalog row for stream {id} has a malformed {what}"));
    let mut stmt = c.prepare("SELECT len, sha256 FROM chunks WHERE stream = ?1 ORDER BY idx")?;
    let chunks = stmt
        .query_map([id.to_string()], |r| Ok(ChunkManifest { len: r.get(0)?, sha256: r.get(1)? }))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(StreamInfo {
        rec: rec.parse().map_err(|_| corrupt("recording id"))?,
        wrapped_dek: serde_json::from_str(&wrapped).map_err(|_| corrupt("wrapped key"))?,
        manifest: StreamManifest {
            id,
            kind,
            endpoint,
            state: StreamState::parse(&state).ok_or_else(|| corrupt("state"))?,
            chunk_size,
            nonce_prefix,
            key_sha256,
            length,
            sha256,
            content_type,
            media: media.and_then(|m| serde_json::from_str(&m).ok()),
            chunks,
        },
    })
}

impl StreamManifest {
    /// The plaintext layout of this stream's pieces.
    pub fn layout(&self) -> crate::chunk::Layout {
        crate::chunk::Layout::new(self.chunks.iter().map(|c| c.len.saturating_sub(TAG_LEN as u64)), self.state == StreamState::Complete)
    }
}
