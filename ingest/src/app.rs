//! The running service's shared state and its startup sequence.

use crate::config::Config;
use crate::schema::UploadId;
use anyhow::Context;
use archive::catalog::Catalog;
use archive::clock::{Clock, SystemClock};
use archive::keys::{KeyDir, Keys};
use archive::mirror::{Mirror, MirrorPolicy};
use archive::vault::Vault;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub struct App {
    pub config: Config,
    pub vault: Arc<Vault>,
    /// Serialises "start the meeting's recording if it has none".
    pub recording_start: tokio::sync::Mutex<()>,
    /// Resumable uploads in progress in this process, one lock each.
    pub uploads: std::sync::Mutex<HashMap<UploadId, Arc<tokio::sync::Mutex<Option<crate::upload::Upload>>>>>,
}

/// Loads or creates keys. On first run they are generated, and only that fact
/// (never the keys) is logged.
pub fn load_keys(config: &Config) -> anyhow::Result<Keys> {
    let dir = KeyDir::new(config.keys_dir());
    if dir.exists() {
        return Ok(dir.load()?);
    }
    let keys = dir.init(&config.keys.origin)?;
    tracing::info!(dir = %config.keys_dir().display(), public_key = %keys.signer.verifier(), "generated new keys on first run");
    Ok(keys)
}

/// Opens the catalog with every component's migrations applied.
pub fn open_catalog(config: &Config) -> anyhow::Result<Catalog> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    let catalog = Catalog::open(&config.catalog_path()).with_context(|| format!("cannot open catalog {}", config.catalog_path().display()))?;
    catalog.migrate("ingest", crate::schema::MIGRATIONS)?;
    Ok(catalog)
}

pub async fn open_store(config: &Config) -> anyhow::Result<archive::store::Store> {
    let location = config.store_location();
    let s3 = (config.store.kind == "s3").then(|| config.store.s3.clone());
    archive::store::open(&location, s3).await.with_context(|| format!("cannot open store {location}"))
}

impl App {
    /// Opens everything and checks the ledger against the store before any write.
    pub async fn start(config: Config) -> anyhow::Result<Arc<Self>> {
        let catalog = open_catalog(&config)?;
        let keys = Arc::new(load_keys(&config)?);
        let store = open_store(&config).await?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let policy = MirrorPolicy {
            every_entries: config.ledger.checkpoint_every_entries,
            every: Duration::from_secs(config.ledger.checkpoint_every_secs),
            batch_window: Duration::from_millis(config.ledger.batch_window_ms),
        };
        let mirror = Arc::new(
            Mirror::resume(store.clone(), catalog.clone(), keys.clone(), clock.clone(), policy)
                .await
                .context("the ledger in the catalog does not match the store")?,
        );
        let vault = Arc::new(Vault { store, keys, catalog, clock, mirror, chunk_size: config.upload.chunk_size });
        Ok(Arc::new(Self { config, vault, recording_start: Default::default(), uploads: Default::default() }))
    }
}
