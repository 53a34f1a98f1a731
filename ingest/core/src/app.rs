//! The running service's shared state and its startup sequence.

use crate::config::Config;
use crate::schema::UploadId;
use anyhow::Context;
use archive::catalog::Catalog;
use archive::clock::{Clock, ShiftedClock, SystemClock};
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
    pub uploads: std::sync::Mutex<HashMap<UploadId, Arc<tokio::sync::Mutex<Option<crate::uploads::Upload>>>>>,
    pub live: Arc<crate::live::Live>,
    pub transcription: crate::transcription::Transcription,
    pub index: crate::search::Indexing,
    pub metrics: Arc<crate::metrics::Metrics>,
    _serve: ServeLock,
    /// Whether the store enforces Object Lock, detected at start.
    pub worm: bool,
    /// Wakes the Object Lock reconciler (a seal, a hold placed or released).
    pub locks: tokio::sync::Notify,
    /// Failed web sign-ins, per client address and per name.
    pub logins: crate::users::LoginLimiter,
    /// One KEK retirement at a time.
    pub retiring: tokio::sync::Mutex<()>,
    /// The witnesses each new checkpoint goes to.
    pub witnesses: Vec<Arc<crate::witnesses::Witness>>,
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

/// An exclusive lock on `<data_dir>/serve.lock`, held by `niem serve` for its
/// whole life: a second service on the same data, or a command that must not run
/// beside the service (it would write the ledger to the store too), is refused.
pub struct ServeLock(#[allow(dead_code)] std::fs::File);

impl ServeLock {
    pub fn acquire(config: &Config) -> anyhow::Result<ServeLock> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
        let path = config.data_dir.join("serve.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor this function owns; released when the file closes.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            anyhow::bail!("niem serve is running on {}", config.data_dir.display());
        }
        Ok(ServeLock(file))
    }
}

/// Opens the catalog with every component's migrations applied: the SQLite
/// file in the data dir, or the PostgreSQL database `catalog.url` names.
pub fn open_catalog(config: &Config) -> anyhow::Result<Catalog> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    if let Some(url) = &config.catalog.url {
        let catalog = Catalog::connect_postgres(url, config.catalog.connections)
            .context("cannot connect to the PostgreSQL catalog (catalog.url)")?;
        catalog.run(|c| {
            c.either(
                |_| Ok(()),
                |pg| {
                    crate::catalog::postgres::migrate(pg).context("cannot bring the PostgreSQL catalog to this release")
                },
            )
        })?;
        return Ok(catalog);
    }
    let catalog = Catalog::open(&config.catalog_path())
        .with_context(|| format!("cannot open catalog {}", config.catalog_path().display()))?;
    catalog.migrate("ingest", crate::catalog::sqlite::MIGRATIONS)?;
    // Every component has migrated: a table set a newer release added is refused too.
    catalog.refuse_unknown_components()?;
    Ok(catalog)
}

pub async fn open_store(config: &Config) -> anyhow::Result<archive::store::Store> {
    let location = config.store_location();
    let s3 = (config.store.kind == "s3").then(|| config.store.s3.clone());
    archive::store::open(&location, s3).await.with_context(|| format!("cannot open store {location}"))
}

/// The service's clock: the wall clock, shifted by `clock_offset_minutes` (drills, tests).
pub fn clock(config: &Config) -> Arc<dyn Clock> {
    match config.clock_offset_minutes {
        0 => Arc::new(SystemClock),
        minutes => {
            tracing::warn!(minutes, "the clock is shifted (clock_offset_minutes): for drills and tests only");
            Arc::new(ShiftedClock(time::Duration::minutes(minutes)))
        }
    }
}

/// How long a start waits for a store that does not answer before giving up.
const STORE_WAIT: Duration = Duration::from_secs(60);

/// Checks the catalog's ledger against the store's. A store that is down or
/// still starting (S3 started beside the service, a restart after an outage)
/// is waited for, up to [`STORE_WAIT`]; a mismatch is never retried.
async fn resume_mirror(
    store: &archive::store::Store,
    catalog: &Catalog,
    keys: &Arc<Keys>,
    clock: &Arc<dyn Clock>,
    policy: MirrorPolicy,
    node: &str,
) -> anyhow::Result<Mirror> {
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(500);
    loop {
        match Mirror::resume(store.clone(), catalog.clone(), keys.clone(), clock.clone(), policy, node).await {
            Err(archive::mirror::MirrorError::Store(e)) if started.elapsed() < STORE_WAIT => {
                tracing::warn!(error = %e, "the store does not answer yet; waiting before checking the ledger against it");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            result => return result.context("the ledger in the catalog does not match the store"),
        }
    }
}

/// Opens catalog, keys and store, and checks the ledger in the catalog against
/// the store before anything writes.
pub async fn open_vault(config: &Config, metrics: Option<&crate::metrics::Metrics>) -> anyhow::Result<Arc<Vault>> {
    let catalog = open_catalog(config)?;
    let keys = Arc::new(load_keys(config)?);
    let store = open_store(config).await?;
    let store = match metrics {
        Some(m) => crate::metrics::MeteredStore::wrap(store, m),
        None => store,
    };
    let clock = clock(config);
    let policy = MirrorPolicy {
        every_entries: config.ledger.checkpoint_every_entries,
        every: Duration::from_secs(config.ledger.checkpoint_every_secs),
        batch_window: Duration::from_millis(config.ledger.batch_window_ms),
    };
    let node = config.catalog.node_name();
    let mirror = Arc::new(resume_mirror(&store, &catalog, &keys, &clock, policy, &node).await?);
    let vault = Vault::new(store, keys, catalog, clock, mirror, config.upload.chunk_size);
    vault.announce_format().await.context("cannot write the storage format's announcement to the ledger")?;
    Ok(Arc::new(vault))
}

impl App {
    /// Opens everything and checks the ledger against the store before any write.
    pub async fn start(config: Config) -> anyhow::Result<Arc<Self>> {
        let serve = ServeLock::acquire(&config)?;
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let vault = open_vault(&config, Some(&metrics)).await?;
        crate::retirement::note_rotation(&vault).await?;
        let index = crate::search::Indexing::open(&config, vault.keys.clone())?;
        // Searches say how far behind the index is from the first one on.
        index.measure(&vault).await?;
        // With several nodes on one catalog, another node's uploads are arriving now.
        let mine = config.catalog.node_name();
        let node = vault.catalog.is_postgres().then_some(mine.as_str());
        crate::uploads::close_cut(&vault, node).await?;
        let live = Arc::new(crate::live::Live::open(&config)?);
        let now = vault.now();
        let (requeued, queued) = crate::catalog::with(&vault.catalog, |repo| repo.settle_jobs(&now))?;
        if requeued + queued > 0 {
            tracing::info!(requeued, queued, "transcription jobs cut by the last stop are queued again");
        }
        let transcription = crate::transcription::Transcription::new(&config.transcribe);
        let logins = crate::users::LoginLimiter::new(&config.web);
        let worm = match vault.store.worm().await {
            archive::store::Worm::Enforced => {
                tracing::info!(mode = ?config.store.object_lock_mode, "Object Lock: on; chunks and manifests are retained by the store itself");
                true
            }
            archive::store::Worm::Unsupported(why) => {
                tracing::warn!(reason = %why, "no WORM: the store does not enforce Object Lock; deletions are still caught by the signed ledger");
                false
            }
        };
        warn_about_keys(&config);
        let witnesses = crate::witnesses::from_config(&config.ledger.witnesses)?;
        let app = Self {
            config,
            vault,
            recording_start: Default::default(),
            uploads: Default::default(),
            live,
            transcription,
            index,
            metrics,
            _serve: serve,
            logins,
            worm,
            locks: tokio::sync::Notify::new(),
            retiring: Default::default(),
            witnesses,
        };
        app.live.recover(&app).await?;
        Ok(Arc::new(app))
    }

    /// Signs whatever the last run left unsigned, then starts every background
    /// worker: the ledger mirror, the live drain, transcription, indexing,
    /// retention and Object Lock, alerts, store verification, KEK retirement.
    pub async fn run_workers(self: &Arc<Self>) -> anyhow::Result<()> {
        let mirror = self.vault.mirror.clone();
        // A crash between a seal and its checkpoint leaves entries unsigned; sign
        // them before taking new work. A store that stumbles gets a few tries.
        let mut wait = Duration::from_millis(250);
        while let Err(e) = mirror.flush(true).await {
            if wait > Duration::from_secs(8) {
                return Err(e).context("cannot bring the ledger in the store up to date");
            }
            tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "the ledger does not reach the store yet; retrying");
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
        tokio::spawn(mirror.run());
        let sweeper = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                crate::resumable::evict_idle(&sweeper, Duration::from_secs(600)).await;
            }
        });
        tokio::spawn(crate::live::run_drainer(self.clone()));
        tokio::spawn(crate::transcription::run(self.clone()));
        tokio::spawn(crate::workers::broker::run(self.clone()));
        tokio::spawn(crate::search::run(self.clone()));
        tokio::spawn(crate::retirement::follow(self.clone()));
        let retention = &self.config.retention;
        crate::retention::ensure_default(&self.vault, retention.default_keep_days, retention.approval_expire_days)
            .await?;
        tokio::spawn(crate::retention::run_worker(self.clone()));
        tokio::spawn(crate::schedules::run(self.clone()));
        tokio::spawn(crate::verification::run(self.clone()));
        // A retirement rebuilds the search index under the new KEK before it
        // destroys the old ones (the index files would not open again).
        let app = Arc::downgrade(self);
        let _ = self.vault.before_destroy.set(Arc::new(move || {
            let app = app.clone();
            Box::pin(async move {
                let Some(app) = app.upgrade() else { return Ok(()) };
                app.index.rebuild_under_current_kek(&app.vault).await.map_err(|e| {
                    archive::vault::VaultError::Conflict(format!(
                        "the search index could not be rebuilt under the new KEK: {e:#}"
                    ))
                })
            })
        }));
        tokio::spawn(crate::retirement::run(self.clone()));
        tokio::spawn(crate::witnesses::run(self.clone()));
        if self.worm {
            tokio::spawn(crate::retention::lock_worker(self.clone()));
        }
        Ok(())
    }
}

/// Says, at start, what an operator must know about where the keys are.
fn warn_about_keys(config: &Config) {
    let dir = config.keys_dir();
    if config.keys_beside_archive() {
        tracing::warn!(
            keys = %dir.display(), data_dir = %config.data_dir.display(),
            "the key directory lies inside the data directory beside a local store: a copy of this directory holds both the archive and its keys; move the keys out (keys.dir) and back them up separately"
        );
    }
    if let Some(why) = KeyDir::new(&dir).read_only() {
        tracing::warn!(reason = %why, "the service cannot retire KEKs on its own: the keys are read-only; retire them as the README's \"Retiring a KEK\" says");
    }
}
