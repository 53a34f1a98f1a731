//! A recording's transcript in the store: one object in the chunk format, under
//! its own data key (`keys/<rec>/transcript.dek`), recorded by a
//! `transcript.stored` entry that carries the ciphertext's SHA-256, the key's
//! hash and whatever the caller adds (the model and its hash). The archive does
//! not read the document; it only keeps it sealed.
//!
//! Exactly once, across crashes: the key and nonce prefix are written to the
//! catalog before the object is put (the wrapped key is transient there: once the
//! transcript is recorded, the catalog keeps only a pointer to its key object, see
//! [`crate::key_objects`]). A job that restarts first calls
//! [`Vault::adopt_transcript`], which records an object a crash left unrecorded
//! (after checking that it opens), instead of transcribing again and failing to
//! put a second, different object where objects are never overwritten.

use crate::chunk::{open_object, seal_object, Binding, StreamKey, PREFIX_LEN};
use crate::db::{params, Tx};
use crate::id::{RecordingId, StreamName};
use crate::key_objects::KeyObject;
use crate::keys::{Dek, KeyError, WrappedDek};
use crate::layout::ObjectKey;
use crate::ledger::NewEntry;
use crate::store::StoreError;
use crate::vault::{subject_rec, Vault, VaultError};
use bytes::Bytes;
use serde_json::json;

/// A transcript as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTranscript {
    pub len: u64,
    pub sha256: String,
}

/// The catalog's row for a transcript being sealed or stored.
struct Row {
    state: String,
    /// While sealing only: once stored, the key is in the store.
    wrapped: Option<WrappedDek>,
    key_sha256: String,
    prefix: [u8; PREFIX_LEN],
    chunk_size: u32,
}

type Link = Box<dyn FnOnce(&Tx<'_>) -> Result<(), VaultError> + Send>;

impl Vault {
    /// Seals `plain`, puts it and records `transcript.stored` (with `meta` merged
    /// into its data, and `link` in the same transaction). The recording must be
    /// sealed and have no transcript yet.
    pub async fn store_transcript(
        &self,
        actor: &str,
        rec: RecordingId,
        plain: Vec<u8>,
        meta: serde_json::Value,
        link: impl FnOnce(&Tx<'_>) -> Result<(), VaultError> + Send + 'static,
    ) -> Result<StoredTranscript, VaultError> {
        let row = self.begin_transcript(rec).await?;
        let key = self.transcript_key(rec, &row)?;
        let chunk_size = row.chunk_size;
        let sealed = tokio::task::spawn_blocking(move || seal_object(&key, chunk_size, &plain))
            .await
            .map_err(|e| VaultError::Conflict(e.to_string()))?
            .map_err(|e| VaultError::Conflict(e.to_string()))?;
        let key = self.put_transcript_key(rec, &row).await?;
        let body = Bytes::from(sealed);
        self.store.put_new(&ObjectKey::transcript(rec), body.clone()).await?;
        self.record_transcript(actor, rec, &row, key, &body, meta, Box::new(link)).await
    }

    /// Records a transcript object that a crash left in the store unrecorded.
    /// `None`: there is none (or it is already recorded), so the caller makes it.
    pub async fn adopt_transcript(
        &self,
        actor: &str,
        rec: RecordingId,
        meta: impl FnOnce(&[u8]) -> serde_json::Value,
        link: impl FnOnce(&Tx<'_>) -> Result<(), VaultError> + Send + 'static,
    ) -> Result<Option<StoredTranscript>, VaultError> {
        let Some(row) = self.catalog.reading(move |tx| read_row(tx, rec)).await? else { return Ok(None) };
        if row.state != "sealing" {
            return Ok(None);
        }
        let body = match self.store.get(ObjectKey::transcript(rec).as_str()).await {
            Ok(b) => b,
            Err(StoreError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let key = self.transcript_key(rec, &row)?;
        let plain = open_object(&key, row.chunk_size, &body).map_err(|e| {
            VaultError::Conflict(format!(
                "the unrecorded transcript object of recording {rec} does not open with its key: {e}"
            ))
        })?;
        let key = self.put_transcript_key(rec, &row).await?;
        let meta = meta(&plain);
        self.record_transcript(actor, rec, &row, key, &body, meta, Box::new(link)).await.map(Some)
    }

    /// The plaintext of a recording's stored transcript, if it has one.
    pub async fn read_transcript(&self, rec: RecordingId) -> Result<Option<Vec<u8>>, VaultError> {
        let Some(row) = self.catalog.reading(move |tx| read_row(tx, rec)).await? else { return Ok(None) };
        if row.state != "stored" {
            return Ok(None);
        }
        let body = self.store.get(ObjectKey::transcript(rec).as_str()).await?;
        let dek = self.data_key(rec, StreamName::Transcript).await?;
        let key = StreamKey::new(&dek, row.prefix, Binding { rec, stream: StreamName::Transcript });
        let plain = tokio::task::spawn_blocking(move || open_object(&key, row.chunk_size, &body))
            .await
            .map_err(|e| VaultError::Conflict(e.to_string()))?
            .map_err(|e| VaultError::Conflict(e.to_string()))?;
        Ok(Some(plain))
    }

    /// Writes (or reuses) the transcript's key, and a fresh nonce prefix for
    /// this attempt, before anything is put.
    async fn begin_transcript(&self, rec: RecordingId) -> Result<Row, VaultError> {
        self.require_sealed(rec).await?;
        let existing = self.catalog.reading(move |tx| read_row(tx, rec)).await?;
        let _gate = self.wrap_gate.read().await;
        let wrapped = match existing {
            Some(r) if r.state == "stored" => {
                return Err(VaultError::Conflict(format!("recording {rec} already has a transcript")))
            }
            Some(Row { wrapped: Some(w), .. }) => w,
            _ => self.keys.ring().wrap(&Dek::generate()?, rec, StreamName::Transcript)?,
        };
        let mut prefix = [0u8; PREFIX_LEN];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut prefix).map_err(|_| KeyError::Random)?;
        let key_json = serde_json::to_string(&wrapped).expect("wrapped key serialises");
        let key_sha256 = crate::sha256_hex(key_json.as_bytes());
        let row =
            Row { state: "sealing".into(), wrapped: Some(wrapped), key_sha256, prefix, chunk_size: self.chunk_size };
        let (ks, cs) = (row.key_sha256.clone(), row.chunk_size);
        self.catalog
            .writing(move |tx| {
                tx.execute(
                    "INSERT INTO transcripts (recording, state, wrapped_dek, key_sha256, nonce_prefix, chunk_size) VALUES ($1, 'sealing', $2, $3, $4, $5)
                     ON CONFLICT (recording) DO UPDATE SET wrapped_dek = excluded.wrapped_dek, key_sha256 = excluded.key_sha256,
                        nonce_prefix = excluded.nonce_prefix, chunk_size = excluded.chunk_size WHERE transcripts.state = 'sealing'",
                    params![rec.to_string(), key_json, ks, hex::encode(prefix), cs],
                )?;
                Ok::<_, VaultError>(())
            })
            .await?;
        Ok(row)
    }

    /// The key of a transcript being sealed (its wrapped key is in its row).
    fn transcript_key(&self, rec: RecordingId, row: &Row) -> Result<StreamKey, VaultError> {
        let wrapped = row
            .wrapped
            .as_ref()
            .ok_or_else(|| VaultError::Conflict(format!("the transcript of {rec} is not being sealed")))?;
        let dek = self.keys.ring().unwrap(wrapped, rec, StreamName::Transcript)?;
        Ok(StreamKey::new(&dek, row.prefix, Binding { rec, stream: StreamName::Transcript }))
    }

    async fn put_transcript_key(&self, rec: RecordingId, row: &Row) -> Result<KeyObject, VaultError> {
        let wrapped = row
            .wrapped
            .as_ref()
            .ok_or_else(|| VaultError::Conflict(format!("the transcript of {rec} is not being sealed")))?;
        self.put_key(rec, StreamName::Transcript, 0, wrapped).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn record_transcript(
        &self,
        actor: &str,
        rec: RecordingId,
        row: &Row,
        key: KeyObject,
        body: &Bytes,
        meta: serde_json::Value,
        link: Link,
    ) -> Result<StoredTranscript, VaultError> {
        let stored = StoredTranscript { len: body.len() as u64, sha256: crate::sha256_hex(body) };
        let mut data = json!({
            "len": stored.len, "sha256": stored.sha256, "key_sha256": key.sha256, "kek": key.kek,
            "nonce_prefix": hex::encode(row.prefix), "chunk_size": row.chunk_size,
        });
        if let (Some(d), serde_json::Value::Object(m)) = (data.as_object_mut(), meta) {
            for (k, v) in m {
                d.entry(k).or_insert(v);
            }
        }
        let entry = NewEntry { actor: actor.into(), action: "transcript.stored", subject: subject_rec(rec), data };
        let (now, s) = (self.now(), stored.clone());
        let prefix = hex::encode(row.prefix);
        self.commit(entry, move |tx| {
            let n = tx.execute(
                "UPDATE transcripts SET state = 'stored', wrapped_dek = '', len = $2, sha256 = $3, stored_at = $4
                 WHERE recording = $1 AND state = 'sealing' AND nonce_prefix = $5",
                params![rec.to_string(), s.len, s.sha256, now, prefix],
            )?;
            if n == 0 {
                return Err(VaultError::Conflict(format!(
                    "the transcript of recording {rec} was recorded by another attempt"
                )));
            }
            crate::key_objects::record(tx, rec, StreamName::Transcript, &key)?;
            link(tx)
        })
        .await?;
        Ok(stored)
    }
}

fn read_row(tx: &Tx<'_>, rec: RecordingId) -> Result<Option<Row>, VaultError> {
    let Some(r) = tx.query_opt(
        "SELECT state, wrapped_dek, key_sha256, nonce_prefix, chunk_size FROM transcripts WHERE recording = $1",
        params![rec.to_string()],
    )?
    else {
        return Ok(None);
    };
    let (state, wrapped, key_sha256, prefix, chunk_size): (String, String, String, String, u32) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
    let corrupt =
        |what: &str| VaultError::Conflict(format!("catalog row for the transcript of {rec} has a malformed {what}"));
    let wrapped = match wrapped.as_str() {
        "" => None,
        w => Some(serde_json::from_str(w).map_err(|_| corrupt("wrapped key"))?),
    };
    Ok(Some(Row {
        state,
        wrapped,
        key_sha256,
        prefix: hex::decode(&prefix).ok().and_then(|p| p.try_into().ok()).ok_or_else(|| corrupt("nonce prefix"))?,
        chunk_size,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::clock::{Clock, SystemClock};
    use crate::keys::KeyDir;
    use crate::ledger;
    use crate::store::LocalStore;
    use crate::vault::StreamSpec;
    use std::sync::Arc;

    async fn sealed_recording(dir: &std::path::Path) -> (Vault, RecordingId) {
        let catalog = Catalog::open(&dir.join("catalog.db")).unwrap();
        let keys = Arc::new(KeyDir::new(dir.join("keys")).init("niem.test/ledger").unwrap());
        let store: crate::store::Store = Arc::new(LocalStore::open(dir.join("store")).unwrap());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let mirror = crate::testing::mirror(store.clone(), &catalog, &keys, &clock).await;
        let vault = Vault::new(store, keys, catalog, clock, mirror, 100);
        let rec = vault.start_recording("system", "m", "o", |_, _| Ok(())).await.unwrap();
        let s = vault
            .open_stream(
                "system",
                rec,
                StreamSpec { kind: "upload", endpoint: None, content_type: None },
                |_, _| Ok(()),
            )
            .await
            .unwrap();
        let end = crate::vault::StreamEnd { state: crate::manifest::StreamState::Complete, sha256: None, media: None };
        vault.close_stream("system", rec, s.id, end).await.unwrap();
        vault.seal("system", rec).await.unwrap();
        (vault, rec)
    }

    fn stored_entries(vault: &Vault) -> Vec<ledger::Entry> {
        vault.catalog.with(|c| ledger::read_where(c, "action = 'transcript.stored'", [])).unwrap()
    }

    #[tokio::test]
    async fn a_transcript_is_sealed_in_pieces_read_back_and_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let (vault, rec) = sealed_recording(dir.path()).await;
        let doc: Vec<u8> = "Đảng viên, chuyển đổi số. ".repeat(40).into_bytes();
        let stored = vault
            .store_transcript("system", rec, doc.clone(), json!({ "model_sha256": "ab" }), |_| Ok(()))
            .await
            .unwrap();
        assert!(stored.len > doc.len() as u64 + 16 * 10, "several pieces, each with a tag");
        assert_eq!(vault.read_transcript(rec).await.unwrap().unwrap(), doc);
        let object = vault.store.get(ObjectKey::transcript(rec).as_str()).await.unwrap();
        assert!(!object.windows(8).any(|w| w == &doc[..8]), "no plaintext in the object");
        let entries = stored_entries(&vault);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].data["sha256"], stored.sha256);
        assert_eq!(entries[0].data["model_sha256"], "ab");
        assert!(
            vault.store_transcript("system", rec, doc, json!({}), |_| Ok(())).await.is_err(),
            "a second transcript is refused"
        );
        assert_eq!(stored_entries(&vault).len(), 1);
        // The verifier accepts the transcript and its key.
        let entries = vault.catalog.with(|c| ledger::read_where(c, "1 = 1", [])).unwrap();
        let report = crate::verify::verify_recording(&vault.store, rec, &entries, entries.len() as u64).await.unwrap();
        assert!(report.intact(), "{report:?}");
        assert_eq!(report.counts().get("transcript").map(|c| c.0), Some(1));
        // The catalog keeps no wrapped key of a stored transcript, only a pointer.
        let left: String =
            vault.catalog.with(|c| c.query_row("SELECT wrapped_dek FROM transcripts", [], |r| r.get(0))).unwrap();
        assert_eq!(left, "");
    }

    #[tokio::test]
    async fn an_object_a_crash_left_unrecorded_is_adopted_not_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let (vault, rec) = sealed_recording(dir.path()).await;
        assert_eq!(
            vault.adopt_transcript("system", rec, |_| json!({}), |_| Ok(())).await.unwrap(),
            None,
            "nothing to adopt"
        );
        // A crash after the put, before the entry: do what store_transcript does up to the put.
        let row = vault.begin_transcript(rec).await.unwrap();
        let key = vault.transcript_key(rec, &row).unwrap();
        let sealed = seal_object(&key, row.chunk_size, b"{\"segments\":[]}").unwrap();
        vault.store.put_new(&ObjectKey::transcript(rec), Bytes::from(sealed)).await.unwrap();
        let mut seen = Vec::new();
        let adopted = vault
            .adopt_transcript(
                "system",
                rec,
                |plain| {
                    seen = plain.to_vec();
                    json!({ "adopted": true })
                },
                |_| Ok(()),
            )
            .await
            .unwrap();
        assert!(adopted.is_some());
        assert_eq!(seen, b"{\"segments\":[]}");
        assert_eq!(stored_entries(&vault).len(), 1);
        assert_eq!(
            vault.adopt_transcript("system", rec, |_| json!({}), |_| Ok(())).await.unwrap(),
            None,
            "adopted once"
        );
        assert_eq!(vault.read_transcript(rec).await.unwrap().unwrap(), b"{\"segments\":[]}");
    }

    #[test]
    fn objects_fail_when_cut_or_changed() {
        let key = StreamKey::new(
            &Dek::generate().unwrap(),
            [7; PREFIX_LEN],
            Binding { rec: RecordingId::new(), stream: StreamName::Transcript },
        );
        let plain = vec![42u8; 250];
        let sealed = seal_object(&key, 100, &plain).unwrap();
        assert_eq!(open_object(&key, 100, &sealed).unwrap(), plain);
        assert!(open_object(&key, 100, &sealed[..2 * 116]).is_err(), "dropping the last piece is caught");
        let mut flipped = sealed.clone();
        flipped[5] ^= 1;
        assert!(open_object(&key, 100, &flipped).is_err());
        assert_eq!(open_object(&key, 100, &seal_object(&key, 100, b"").unwrap()).unwrap(), b"");
    }
}
