//! Where a stream's wrapped data key is: only in the store, as a key object
//! (`keys/<rec>/<stream>[.g<N>].dek`), found through the catalog's pointer to its
//! current generation (`key_objects`: generation, KEK id, SHA-256) and cached in
//! memory. The catalog never holds a recording's wrapped key, so no copy of the
//! catalog, its WAL or its backups can undo a shred; a KEK retirement then makes
//! every older copy of a key object unreadable too.
//!
//! Transient keys are the exception, kept in the catalog and re-wrapped by every
//! retirement: a resumable upload's tail key, and a transcript's key while the
//! transcript is being sealed.

use crate::db::{params, Tx};
use crate::id::{RecordingId, StreamName};
use crate::keys::{Dek, WrappedDek};
use crate::layout::ObjectKey;
use crate::store::{put_idempotent, StoreError};
use crate::vault::{Vault, VaultError};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Mutex;

/// The catalog's pointer to a stream's current key object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyObject {
    pub generation: u32,
    pub kek: String,
    pub sha256: String,
}

/// Wrapped keys read back from the store, by recording and stream. Bounded: when
/// full it starts over (a miss costs one GET).
#[derive(Debug, Default)]
pub struct KeyCache {
    map: Mutex<HashMap<(RecordingId, StreamName), (KeyObject, WrappedDek)>>,
}

const CACHE_ENTRIES: usize = 50_000;

impl KeyCache {
    fn get(&self, rec: RecordingId, name: StreamName, want: &KeyObject) -> Option<WrappedDek> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(rec, name)).filter(|(k, _)| k == want).map(|(_, w)| w.clone())
    }

    fn put(&self, rec: RecordingId, name: StreamName, key: KeyObject, wrapped: WrappedDek) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= CACHE_ENTRIES {
            map.clear();
        }
        map.insert((rec, name), (key, wrapped));
    }

    /// Drops every key of `rec` (it was shredded).
    pub fn forget(&self, rec: RecordingId) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).retain(|(r, _), _| *r != rec);
    }
}

/// The bytes of a key object: the wrapped key as JSON.
pub fn encode(wrapped: &WrappedDek) -> Vec<u8> {
    serde_json::to_vec(wrapped).expect("a wrapped key serialises")
}

/// Records `rec`/`name`'s current key object in the caller's transaction.
///
/// No key is recorded under a KEK a retirement retired, nor, while one is
/// under way, under any KEK but its new one: another node that has not read
/// the new KEK yet would otherwise record a key under one that is destroyed,
/// or about to be (the write transaction orders this check against the
/// retirement's own steps on every node).
pub fn record(tx: &Tx<'_>, rec: RecordingId, name: StreamName, key: &KeyObject) -> Result<(), VaultError> {
    refuse_retired_kek(tx, &key.kek)?;
    tx.execute(
        "INSERT INTO key_objects (recording, stream, generation, kek, sha256) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (recording, stream) DO UPDATE SET generation = $3, kek = $4, sha256 = $5",
        params![rec.to_string(), name.to_string(), key.generation, &key.kek, &key.sha256],
    )?;
    Ok(())
}

fn refuse_retired_kek(tx: &Tx<'_>, kek: &str) -> Result<(), VaultError> {
    let newest = tx.query_opt("SELECT new_kek, step FROM kek_retirements ORDER BY generation DESC LIMIT 1", &[])?;
    let Some(row) = newest else { return Ok(()) };
    let (new, step): (String, String) = (row.get(0)?, row.get(1)?);
    // `retiring` is a JSON array of KEK ids, which hold no quote or wildcard.
    let retired = tx.query_opt(
        "SELECT generation FROM kek_retirements WHERE retiring LIKE $1 LIMIT 1",
        params![format!("%\"{kek}\"%")],
    )?;
    if retired.is_some() || (step != "done" && new != kek) {
        return Err(VaultError::KekChanging { wrapped: kek.to_string(), new });
    }
    Ok(())
}

/// The pointer to `rec`/`name`'s current key object, if it has one.
pub fn pointer(tx: &Tx<'_>, rec: RecordingId, name: StreamName) -> Result<Option<KeyObject>, VaultError> {
    let row = tx.query_opt(
        "SELECT generation, kek, sha256 FROM key_objects WHERE recording = $1 AND stream = $2",
        params![rec.to_string(), name.to_string()],
    )?;
    match row {
        Some(r) => Ok(Some(KeyObject { generation: r.get(0)?, kek: r.get(1)?, sha256: r.get(2)? })),
        None => Ok(None),
    }
}

impl Vault {
    /// Puts a key object (create-only) and returns its pointer. A retried put
    /// whose first attempt landed is accepted if the bytes are equal.
    pub(crate) async fn put_key(
        &self,
        rec: RecordingId,
        name: StreamName,
        generation: u32,
        wrapped: &WrappedDek,
    ) -> Result<KeyObject, VaultError> {
        let bytes = encode(wrapped);
        let sha256 = crate::sha256_hex(&bytes);
        put_idempotent(&*self.store, &ObjectKey::dek_gen(rec, name, generation), Bytes::from(bytes)).await?;
        let key = KeyObject { generation, kek: wrapped.kek.clone(), sha256 };
        self.key_cache.put(rec, name, key.clone(), wrapped.clone());
        Ok(key)
    }

    /// The wrapped key of `rec`/`name`, from the cache or the store.
    pub async fn wrapped_key(&self, rec: RecordingId, name: StreamName) -> Result<(KeyObject, WrappedDek), VaultError> {
        let found = self.catalog.reading(move |tx| pointer(tx, rec, name)).await?;
        let Some(key) = found else {
            return Err(self.why_no_key(rec, name).await);
        };
        if let Some(w) = self.key_cache.get(rec, name, &key) {
            return Ok((key, w));
        }
        let object = ObjectKey::dek_gen(rec, name, key.generation);
        let body = self.store.get(object.as_str()).await?;
        if crate::sha256_hex(&body) != key.sha256 {
            return Err(VaultError::Conflict(format!(
                "key object {object} differs from the one recorded: it was altered"
            )));
        }
        let wrapped: WrappedDek = serde_json::from_slice(&body)
            .map_err(|e| VaultError::Conflict(format!("key object {object} is malformed: {e}")))?;
        self.key_cache.put(rec, name, key.clone(), wrapped.clone());
        Ok((key, wrapped))
    }

    /// The data key of `rec`/`name`, unwrapped.
    pub async fn data_key(&self, rec: RecordingId, name: StreamName) -> Result<Dek, VaultError> {
        let (_, wrapped) = self.wrapped_key(rec, name).await?;
        Ok(self.keys.ring().unwrap(&wrapped, rec, name)?)
    }

    async fn why_no_key(&self, rec: RecordingId, name: StreamName) -> VaultError {
        let state = self.catalog.reading(move |tx| crate::vault::recording_state(tx, rec)).await;
        match state {
            Ok(Some(s)) if s == "shredded" => VaultError::Shredded(rec),
            Ok(None) => VaultError::NoRecording(rec),
            Ok(Some(_)) => VaultError::Missing(format!("no key is recorded for {rec}/{name}")),
            Err(e) => e,
        }
    }
}

/// Whether a store error means the object is absent.
pub(crate) fn absent(e: &StoreError) -> bool {
    matches!(e, StoreError::NotFound(_))
}
