//! The meeting record in the store (storage format v4): documents before the
//! meeting, and later attendance and minutes, kept under the meeting rather than
//! a recording, because the record exists before any recording does and a
//! sealed manifest never changes.
//!
//! One record object is a folder `meetings/<meeting>/record/<object>/`: its
//! pieces in the chunk format (`<i:08>.niem`, AES-256-GCM STREAM under the
//! object's own data key, AAD `niem/record/v1|<meeting>|<object>|<i>`, the
//! last piece flagged) and its wrapped data key (`key.dek`). Pieces are put as
//! they are sealed, so a large file never sits whole in memory. Nothing names
//! the object until its `record.<class>.stored` entry commits, with the
//! plaintext's SHA-256 and length and every piece's (FORMAT.md §15). A write
//! that fails before then deletes what it put ([`RecordWriter::abandon`]).

use crate::chunk::{LabelledKey, PREFIX_LEN, TAG_LEN};
use crate::id::RecordObjectId;
use crate::keys::{Dek, KeyError, WrappedDek};
use crate::layout::ObjectKey;
use crate::store::Store;
use crate::vault::{Vault, VaultError};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The ledger actions that name a record object all start so and end in
/// `.stored` (`record.document.stored`, …); the verifier reads every one alike.
pub const ACTION_PREFIX: &str = "record.";

/// Whether `action` stores a record object (`record.<class>.stored`).
pub fn is_stored_action(action: &str) -> bool {
    action
        .strip_prefix(ACTION_PREFIX)
        .and_then(|a| a.strip_suffix(".stored"))
        .is_some_and(|class| !class.is_empty() && class.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
}

/// One sealed piece as the ledger names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordPiece {
    /// Ciphertext bytes (plaintext + 16).
    pub len: u64,
    /// SHA-256 of the piece object.
    pub sha256: String,
}

/// What a `record.<class>.stored` entry says of its object, and all a reader
/// needs besides the keys (the catalog keeps the same).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordMeta {
    pub object: RecordObjectId,
    /// Plaintext bytes.
    pub len: u64,
    /// SHA-256 of the plaintext: what a member checks a download against.
    pub sha256: String,
    pub chunk_size: u32,
    pub nonce_prefix: String,
    /// SHA-256 of the `key.dek` object.
    pub key_sha256: String,
    /// Who wraps the data key: always `note` (FORMAT.md §15).
    pub kek: String,
    pub chunks: Vec<RecordPiece>,
}

impl RecordMeta {
    /// Reads the fields a stored entry's `data` carries (other fields ignored).
    pub fn from_data(data: &serde_json::Value) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Fields {
            object: RecordObjectId,
            len: u64,
            sha256: String,
            chunk_size: u32,
            nonce_prefix: String,
            key_sha256: String,
            kek: String,
            chunks: Vec<RecordPiece>,
        }
        let f: Fields = serde_json::from_value(data.clone()).map_err(|e| format!("record entry data: {e}"))?;
        Ok(Self {
            object: f.object,
            len: f.len,
            sha256: f.sha256,
            chunk_size: f.chunk_size,
            nonce_prefix: f.nonce_prefix,
            key_sha256: f.key_sha256,
            kek: f.kek,
            chunks: f.chunks,
        })
    }

    /// The entry's data: these fields, to which the caller adds its own.
    pub fn to_data(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("record meta serialises")
    }

    fn prefix(&self) -> Result<[u8; PREFIX_LEN], VaultError> {
        hex::decode(&self.nonce_prefix)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| VaultError::Conflict(format!("record object {} has a malformed nonce prefix", self.object)))
    }
}

fn label(meeting: ulid::Ulid, object: RecordObjectId) -> String {
    format!("niem/record/v1|{meeting}|{object}")
}

/// Why a record write stopped.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// More plaintext than the writer's cap allows.
    #[error("the file is larger than the limit of {cap} bytes")]
    TooLarge { cap: u64 },
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl From<crate::store::StoreError> for RecordError {
    fn from(e: crate::store::StoreError) -> Self {
        RecordError::Vault(e.into())
    }
}

/// Seals one record object piece by piece and puts each piece as it fills.
/// Holds back one piece, because only the next byte (or the end) tells whether it
/// is the last.
pub struct RecordWriter {
    store: Store,
    meeting: ulid::Ulid,
    object: RecordObjectId,
    key: LabelledKey,
    wrapped: WrappedDek,
    prefix: [u8; PREFIX_LEN],
    chunk_size: usize,
    cap: u64,
    pending: Vec<u8>,
    chunks: Vec<RecordPiece>,
    plain: ring::digest::Context,
    len: u64,
    /// Whether anything may have reached the store (what `abandon` removes).
    put_any: bool,
}

impl std::fmt::Debug for RecordWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecordWriter({}/{})", self.meeting, self.object)
    }
}

impl Vault {
    /// Starts a new record object of `meeting` (a ULID), at most `cap` plaintext bytes.
    pub fn begin_record(&self, meeting: &str, cap: u64) -> Result<RecordWriter, VaultError> {
        let meeting = crate::id::parse_ulid("meeting", meeting).map_err(|e| VaultError::Conflict(e.to_string()))?;
        let object = RecordObjectId::new();
        let dek = Dek::generate()?;
        let wrapped = self.keys.wrap_record_key(&dek, &meeting.to_string(), &object.to_string())?;
        let mut prefix = [0u8; PREFIX_LEN];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut prefix).map_err(|_| KeyError::Random)?;
        let chunk_size = self.chunk_size.max(1) as usize;
        Ok(RecordWriter {
            store: self.store.clone(),
            meeting,
            object,
            key: LabelledKey::new(&dek, prefix, label(meeting, object)),
            wrapped,
            prefix,
            chunk_size,
            cap,
            pending: Vec::with_capacity(chunk_size + TAG_LEN),
            chunks: Vec::new(),
            plain: ring::digest::Context::new(&ring::digest::SHA256),
            len: 0,
            put_any: false,
        })
    }

    /// Piece `index` of a stored record object, opened.
    pub async fn read_record_piece(&self, meeting: &str, meta: &RecordMeta, index: u32) -> Result<Vec<u8>, VaultError> {
        let (key, n) = self.record_key(meeting, meta).await?;
        let meeting = crate::id::parse_ulid("meeting", meeting).map_err(|e| VaultError::Conflict(e.to_string()))?;
        open_piece(&self.store, &key, meeting, meta, index, n).await
    }

    /// Every piece of a stored record object, opened in order: a stream, so a
    /// download holds one piece at a time.
    pub async fn read_record(
        &self,
        meeting: &str,
        meta: RecordMeta,
    ) -> Result<impl futures::Stream<Item = Result<Bytes, VaultError>> + Send + 'static, VaultError> {
        let (key, n) = self.record_key(meeting, &meta).await?;
        let meeting = crate::id::parse_ulid("meeting", meeting).map_err(|e| VaultError::Conflict(e.to_string()))?;
        let store = self.store.clone();
        let key = std::sync::Arc::new(key);
        Ok(futures::stream::unfold(0u32, move |i| {
            let (store, key, meta) = (store.clone(), key.clone(), meta.clone());
            async move {
                if i >= n {
                    return None;
                }
                Some((open_piece(&store, &key, meeting, &meta, i, n).await.map(Bytes::from), i + 1))
            }
        }))
    }

    async fn record_key(&self, meeting: &str, meta: &RecordMeta) -> Result<(LabelledKey, u32), VaultError> {
        let m = crate::id::parse_ulid("meeting", meeting).map_err(|e| VaultError::Conflict(e.to_string()))?;
        let object = ObjectKey::record_key(m, meta.object);
        let body = self.store.get(object.as_str()).await?;
        if crate::sha256_hex(&body) != meta.key_sha256 {
            return Err(VaultError::Conflict(format!(
                "key object {object} differs from the one recorded: it was altered"
            )));
        }
        let wrapped: WrappedDek = serde_json::from_slice(&body)
            .map_err(|e| VaultError::Conflict(format!("key object {object} is malformed: {e}")))?;
        let dek = self.keys.unwrap_record_key(&wrapped, meeting, &meta.object.to_string())?;
        let n = u32::try_from(meta.chunks.len()).map_err(|_| VaultError::Conflict("too many pieces".into()))?;
        Ok((LabelledKey::new(&dek, meta.prefix()?, label(m, meta.object)), n))
    }
}

async fn open_piece(
    store: &Store,
    key: &LabelledKey,
    meeting: ulid::Ulid,
    meta: &RecordMeta,
    index: u32,
    n: u32,
) -> Result<Vec<u8>, VaultError> {
    let object = ObjectKey::record_piece(meeting, meta.object, index);
    let body = store.get(object.as_str()).await?;
    let expected = meta.chunks.get(index as usize).map(|c| c.sha256.as_str());
    if expected != Some(crate::sha256_hex(&body).as_str()) {
        return Err(VaultError::Conflict(format!("{object} differs from the one recorded: it was altered")));
    }
    let mut buf = body.to_vec();
    key.open(index, index + 1 == n, &mut buf).map_err(|e| VaultError::Conflict(e.to_string()))?;
    Ok(buf)
}

impl RecordWriter {
    pub fn object(&self) -> RecordObjectId {
        self.object
    }

    /// Plaintext bytes taken so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds plaintext; puts every piece now known not to be the last.
    pub async fn write(&mut self, mut data: &[u8]) -> Result<(), RecordError> {
        if self.len + data.len() as u64 > self.cap {
            return Err(RecordError::TooLarge { cap: self.cap });
        }
        self.len += data.len() as u64;
        self.plain.update(data);
        while !data.is_empty() {
            if self.pending.len() == self.chunk_size {
                self.put_pending(false).await?;
            }
            let take = (self.chunk_size - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    async fn put_pending(&mut self, last: bool) -> Result<(), RecordError> {
        let index = u32::try_from(self.chunks.len()).map_err(|_| VaultError::Conflict("too many pieces".into()))?;
        let mut buf = std::mem::replace(&mut self.pending, Vec::with_capacity(self.chunk_size + TAG_LEN));
        self.key.seal(index, last, &mut buf).map_err(|e| VaultError::Conflict(e.to_string()))?;
        let sha256 = crate::sha256_hex(&buf);
        let len = buf.len() as u64;
        self.put_any = true;
        crate::store::put_idempotent(
            &*self.store,
            &ObjectKey::record_piece(self.meeting, self.object, index),
            Bytes::from(buf),
        )
        .await?;
        self.chunks.push(RecordPiece { len, sha256 });
        Ok(())
    }

    /// Puts the final piece and the key object. The object is in the store but
    /// named by nothing until the caller commits its entry with
    /// [`RecordMeta::to_data`]; if that fails, the caller calls
    /// [`abandon_record`].
    pub async fn finish(mut self) -> Result<RecordMeta, RecordError> {
        self.put_pending(true).await?;
        let key_bytes = crate::key_objects::encode(&self.wrapped);
        let key_sha256 = crate::sha256_hex(&key_bytes);
        crate::store::put_idempotent(
            &*self.store,
            &ObjectKey::record_key(self.meeting, self.object),
            Bytes::from(key_bytes),
        )
        .await?;
        Ok(RecordMeta {
            object: self.object,
            len: self.len,
            sha256: hex::encode(self.plain.finish()),
            chunk_size: self.chunk_size as u32,
            nonce_prefix: hex::encode(self.prefix),
            key_sha256,
            kek: self.wrapped.kek.clone(),
            chunks: self.chunks,
        })
    }

    /// Removes whatever this write put: nothing names it.
    pub async fn abandon(self) {
        if self.put_any {
            abandon_record(&self.store, &self.meeting.to_string(), self.object).await;
        }
    }
}

/// Deletes every object under a record object's folder that no entry names (a
/// write that failed, or that a crash cut off). Failures are logged: what is
/// left is a stray the verifier names, never a document anyone can see.
pub async fn abandon_record(store: &Store, meeting: &str, object: RecordObjectId) {
    let Ok(meeting) = crate::id::parse_ulid("meeting", meeting) else { return };
    let prefix = ObjectKey::record_prefix(meeting, object);
    match store.list(&prefix).await {
        Ok(objects) => {
            for o in objects {
                if let Some(kind) = ObjectKey::classify_record(&o.key) {
                    let key = match kind {
                        crate::layout::RecordKind::Piece(m, ob, i) => ObjectKey::record_piece(m, ob, i),
                        crate::layout::RecordKind::Key(m, ob) => ObjectKey::record_key(m, ob),
                    };
                    if let Err(e) = store.delete(&key).await {
                        tracing::warn!(object = %key, error = %e, "could not remove an abandoned record object");
                    }
                }
            }
        }
        Err(e) => tracing::warn!(prefix, error = %e, "could not list an abandoned record object"),
    }
}

impl Vault {
    /// Crypto-shreds the record objects a committed `record.shredded` entry
    /// names: the store's ledger first (so it explains every missing object),
    /// then each object's key, after which its pieces are unreadable, then the
    /// pieces. Deleting what is already gone succeeds, so a cut-off shred is
    /// finished by running it again. Returns (keys deleted, pieces the store kept).
    pub async fn shred_record_objects(
        &self,
        meeting: &str,
        objects: &[RecordObjectId],
    ) -> Result<(usize, usize), VaultError> {
        let meeting = crate::id::parse_ulid("meeting", meeting).map_err(|e| VaultError::Conflict(e.to_string()))?;
        self.mirror.flush(true).await?;
        let (mut keys, mut kept) = (0, 0);
        for &object in objects {
            self.store.delete(&ObjectKey::record_key(meeting, object)).await?;
            keys += 1;
            for o in self.store.list(&ObjectKey::record_prefix(meeting, object)).await? {
                if let Some(crate::layout::RecordKind::Piece(m, ob, i)) = ObjectKey::classify_record(&o.key) {
                    if let Err(e) = self.store.delete(&ObjectKey::record_piece(m, ob, i)).await {
                        kept += 1;
                        tracing::warn!(object = o.key, error = %e, "the store kept a shredded record piece (Object Lock?); it stays unreadable");
                    }
                }
            }
        }
        Ok((keys, kept))
    }

    /// Whether any of these record objects still has its key in the store.
    pub async fn record_keys_left(&self, meeting: &str, objects: &[RecordObjectId]) -> Result<bool, VaultError> {
        let meeting = crate::id::parse_ulid("meeting", meeting).map_err(|e| VaultError::Conflict(e.to_string()))?;
        for &object in objects {
            let key = ObjectKey::record_key(meeting, object);
            if self.store.list(&ObjectKey::record_prefix(meeting, object)).await?.iter().any(|o| o.key == key.as_str())
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Opens a whole record object in memory: for tests and small objects.
pub async fn read_all(vault: &Vault, meeting: &str, meta: &RecordMeta) -> Result<Vec<u8>, VaultError> {
    let mut out = Vec::with_capacity(meta.len as usize);
    for i in 0..meta.chunks.len() as u32 {
        out.extend(vault.read_record_piece(meeting, meta, i).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_record_store_actions_are_read() {
        assert!(is_stored_action("record.document.stored"));
        assert!(is_stored_action("record.attendance_sheet.stored"));
        for not in
            ["record.stored", "record.document.downloaded", "record..stored", "transcript.stored", "record.Doc.stored"]
        {
            assert!(!is_stored_action(not), "{not}");
        }
    }

    #[tokio::test]
    async fn a_record_object_round_trips_in_pieces_and_a_cap_stops_it() {
        let w = crate::testing::World::new().await;
        let meeting = ulid::Ulid::new().to_string();
        let plain: Vec<u8> = (0..2500u32).map(|i| (i * 7) as u8).collect();
        let mut writer = w.vault.begin_record(&meeting, 1 << 20).unwrap();
        for part in plain.chunks(33) {
            writer.write(part).await.unwrap();
        }
        let meta = writer.finish().await.unwrap();
        assert_eq!(meta.len, 2500);
        assert_eq!(meta.sha256, crate::sha256_hex(&plain));
        assert_eq!(meta.chunks.len(), 3, "1000-byte pieces");
        assert_eq!(read_all(&w.vault, &meeting, &meta).await.unwrap(), plain);
        assert_eq!(RecordMeta::from_data(&meta.to_data()).unwrap(), meta);

        let mut big = w.vault.begin_record(&meeting, 1500).unwrap();
        big.write(&plain[..1400]).await.unwrap();
        assert!(matches!(big.write(&plain[..200]).await, Err(RecordError::TooLarge { cap: 1500 })));
        let object = big.object();
        big.abandon().await;
        let m: ulid::Ulid = meeting.parse().unwrap();
        assert!(w.vault.store.list(&ObjectKey::record_prefix(m, object)).await.unwrap().is_empty());
    }

    /// Record keys are under the note key: a KEK retirement, which destroys the
    /// old KEKs, leaves every record object readable, and the store intact.
    #[tokio::test]
    async fn a_kek_retirement_leaves_the_record_readable() {
        let w = crate::testing::World::new().await;
        let meeting = ulid::Ulid::new().to_string();
        let mut writer = w.vault.begin_record(&meeting, 1 << 20).unwrap();
        writer.write(b"%PDF-1.7 the agenda").await.unwrap();
        let meta = writer.finish().await.unwrap();
        let entry = crate::ledger::NewEntry {
            actor: "user:a1".into(),
            action: "record.document.stored",
            subject: format!("meeting/{meeting}"),
            data: meta.to_data(),
        };
        w.vault.record(entry).await.unwrap();
        w.recording("m1", "c1").await;
        let none: crate::retire::TransientKeys = std::sync::Arc::new(|_, _| Ok(0));
        let done = w.vault.retire_keks(&w.keydir, none).await.unwrap();
        assert!(!done.destroyed.is_empty(), "{done:?}");
        assert_eq!(read_all(&w.vault, &meeting, &meta).await.unwrap(), b"%PDF-1.7 the agenda");
        assert!(w.verify().await.intact());
    }
}
