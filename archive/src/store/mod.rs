//! Object stores: where sealed objects live. One trait, two implementations: a local
//! directory (the embedded default) and S3.
//!
//! Invariant: objects are created, never overwritten. `put_new` fails with
//! [`StoreError::AlreadyExists`] when the key is taken (S3 `If-None-Match: *`; locally
//! `link(2)`, which refuses an existing name). Servers that ignore `If-None-Match`
//! (Garage) cannot refuse an overwrite; there the ledger still makes one detectable.

#[cfg(target_os = "linux")]
mod direct;
mod local;
mod s3;

pub use local::LocalStore;
pub use s3::{S3Config, S3Store};

use crate::layout::ObjectKey;
use bytes::Bytes;
use futures::future::BoxFuture;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object {0} already exists; objects are never overwritten")]
    AlreadyExists(ObjectKey),
    #[error("object {0} not found")]
    NotFound(String),
    #[error("object store I/O on {key}: {reason}")]
    Io { key: String, reason: String },
    #[error("object store configuration: {0}")]
    Config(String),
}

impl StoreError {
    pub(crate) fn io(key: impl ToString, reason: impl ToString) -> Self {
        StoreError::Io { key: key.to_string(), reason: reason.to_string() }
    }
}

/// An object seen in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The key relative to the store's prefix. Listings return whatever is there,
    /// so this is a plain string: [`ObjectKey::classify`] decides what it is.
    pub key: String,
    pub size: u64,
}

/// A create-only object store.
pub trait ObjectStore: Send + Sync + std::fmt::Debug {
    /// Where this store is, for humans: a path or an `s3://bucket/prefix` URL.
    fn describe(&self) -> String;
    /// Stores `body` under `key`, durably, unless `key` exists.
    fn put_new<'a>(&'a self, key: &'a ObjectKey, body: Bytes) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Reads a whole object. Keys are strings so that stray objects can be read too.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Bytes, StoreError>>;
    /// An object's SHA-256 (hex) and length, hashed as its bytes arrive: what the
    /// verifier needs of every object but manifests. Stores override it to hash
    /// without holding the whole object (a reused buffer, or the body's pieces).
    fn digest<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(String, u64), StoreError>> {
        Box::pin(async move {
            let body = self.get(key).await?;
            tokio::task::spawn_blocking(move || (crate::sha256_hex(&body), body.len() as u64))
                .await
                .map_err(|e| StoreError::io("digest", e))
        })
    }
    /// Every object whose key starts with `prefix`, in key order.
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>, StoreError>>;
    /// Deletes an object (crypto-shredding; never used to rewrite).
    fn delete<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Whether the store itself enforces Object Lock (WORM).
    fn worm(&self) -> BoxFuture<'_, Worm> {
        Box::pin(async { Worm::Unsupported("this store has no Object Lock".into()) })
    }
    /// Keeps the object from deletion until `until` (Object Lock retention).
    fn retain<'a>(
        &'a self,
        key: &'a ObjectKey,
        _until: time::OffsetDateTime,
        _mode: LockMode,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { Err(StoreError::io(key, "this store has no Object Lock")) })
    }
    /// Places or lifts an Object Lock legal hold on the object.
    fn legal_hold<'a>(&'a self, key: &'a ObjectKey, _on: bool) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { Err(StoreError::io(key, "this store has no Object Lock")) })
    }
}

/// What a store says about write-once enforcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Worm {
    /// The bucket has Object Lock enabled: retention and legal holds are enforced.
    Enforced,
    /// No Object Lock (a local directory; Garage, which ignores the headers; a
    /// bucket created without it), and why we think so.
    Unsupported(String),
}

/// Object Lock retention mode: GOVERNANCE can be lifted by a privileged user,
/// COMPLIANCE by nobody until the date passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockMode {
    Governance,
    Compliance,
}

pub type Store = Arc<dyn ObjectStore>;

/// Stores `body` under `key`, treating an existing object with the same bytes as
/// success: a retried upload whose first attempt landed is not a conflict.
pub async fn put_idempotent(store: &dyn ObjectStore, key: &ObjectKey, body: Bytes) -> Result<(), StoreError> {
    match store.put_new(key, body.clone()).await {
        Err(StoreError::AlreadyExists(k)) => {
            if store.get(k.as_str()).await? == body {
                Ok(())
            } else {
                Err(StoreError::AlreadyExists(k))
            }
        }
        other => other,
    }
}

/// Opens a store from a location: a directory path, or `s3://bucket/prefix` (the
/// rest of the S3 settings come from `s3` or the standard AWS environment).
pub async fn open(location: &str, s3: Option<S3Config>) -> Result<Store, StoreError> {
    match location.strip_prefix("s3://") {
        Some(rest) => {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let mut cfg = s3.unwrap_or_default();
            cfg.bucket = bucket.to_string();
            cfg.prefix = prefix.trim_end_matches('/').to_string();
            Ok(Arc::new(S3Store::connect(cfg).await?))
        }
        None => Ok(Arc::new(LocalStore::open(location)?)),
    }
}
