//! `/metrics` (Prometheus/OpenMetrics text) and `/readyz`.
//!
//! Histograms are fed where the thing happens (every object-store request,
//! through [`MeteredStore`]; every search). Gauges are read from the catalog and
//! the running parts at scrape time, so they cannot drift from the truth: live
//! streams, bytes ingested, chunks stored, spool backlog and age, transcription
//! queue and real-time factor, ledger head, checkpoint age, last verification.

use crate::catalog::{self, Figures, Repo};
use crate::App;
use archive::layout::ObjectKey;
use archive::store::{LockMode, ObjectMeta, ObjectStore, Store, StoreError, Worm};
use archive::vault::VaultError;
use bytes::Bytes;
use futures::future::BoxFuture;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

type Labels = Vec<(&'static str, &'static str)>;
type FloatGauge = Gauge<f64, AtomicU64>;

pub struct Metrics {
    registry: Registry,
    pub store_seconds: Family<Labels, Histogram>,
    pub search_seconds: Histogram,
    live_streams: Gauge,
    ingested_bytes: Gauge,
    chunks_stored: Gauge,
    spool_backlog_bytes: Gauge,
    spool_oldest_seconds: FloatGauge,
    transcription_queue: Gauge,
    transcription_rtf: FloatGauge,
    ledger_head: Gauge,
    checkpoint_age_seconds: FloatGauge,
    verify_intact: Gauge,
    verify_age_seconds: FloatGauge,
    verify_every_object_age_seconds: FloatGauge,
    verify_fetched_objects: Gauge,
    verify_listed_objects: Gauge,
    kek_retirement_possible: Gauge,
    kek_retirement_age_seconds: FloatGauge,
    keks: Gauge,
    witness_lag_entries: Family<Labels, Gauge>,
    witness_lag_seconds: Family<Labels, FloatGauge>,
    search_indexed: Counter,
    search_rebuilds: Family<Labels, Counter>,
    search_behind: Gauge,
    search_cache_bytes: Gauge,
    search_cache_capacity: Gauge,
    search_cache_hits: Counter,
    search_cache_misses: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("niem");
        let store_seconds =
            Family::<Labels, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 15)));
        let search_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        let m = Metrics {
            registry: Registry::default(),
            store_seconds: store_seconds.clone(),
            search_seconds: search_seconds.clone(),
            live_streams: Gauge::default(),
            ingested_bytes: Gauge::default(),
            chunks_stored: Gauge::default(),
            spool_backlog_bytes: Gauge::default(),
            spool_oldest_seconds: FloatGauge::default(),
            transcription_queue: Gauge::default(),
            transcription_rtf: FloatGauge::default(),
            ledger_head: Gauge::default(),
            checkpoint_age_seconds: FloatGauge::default(),
            verify_intact: Gauge::default(),
            verify_age_seconds: FloatGauge::default(),
            verify_every_object_age_seconds: FloatGauge::default(),
            verify_fetched_objects: Gauge::default(),
            verify_listed_objects: Gauge::default(),
            kek_retirement_possible: Gauge::default(),
            kek_retirement_age_seconds: FloatGauge::default(),
            keks: Gauge::default(),
            witness_lag_entries: Family::default(),
            witness_lag_seconds: Family::default(),
            search_indexed: Counter::default(),
            search_rebuilds: Family::default(),
            search_behind: Gauge::default(),
            search_cache_bytes: Gauge::default(),
            search_cache_capacity: Gauge::default(),
            search_cache_hits: Counter::default(),
            search_cache_misses: Counter::default(),
        };
        r.register("store_request_seconds", "Object store request latency, by operation", store_seconds);
        r.register("search_seconds", "Search latency (index query, snippets included)", search_seconds);
        r.register("live_streams", "Live streams being received now", m.live_streams.clone());
        r.register("ingested_bytes", "Plaintext bytes of every stream stored", m.ingested_bytes.clone());
        r.register("chunks_stored", "Chunks stored and recorded in the ledger", m.chunks_stored.clone());
        r.register(
            "spool_backlog_bytes",
            "Sealed live chunks waiting in the spool for the store",
            m.spool_backlog_bytes.clone(),
        );
        r.register(
            "spool_oldest_seconds",
            "Age of the oldest chunk waiting in the spool (0 when empty)",
            m.spool_oldest_seconds.clone(),
        );
        r.register("transcription_queue", "Transcription jobs queued or running", m.transcription_queue.clone());
        r.register(
            "transcription_real_time_factor",
            "Processing time over audio time of the last finished job",
            m.transcription_rtf.clone(),
        );
        r.register(
            "ledger_head_seq",
            "Sequence number of the newest ledger entry (-1 when empty)",
            m.ledger_head.clone(),
        );
        r.register(
            "checkpoint_age_seconds",
            "Age of the newest signed checkpoint (-1 when none)",
            m.checkpoint_age_seconds.clone(),
        );
        r.register(
            "verify_intact",
            "Last scheduled verification of the whole store: 1 intact, 0 not, -1 never verified",
            m.verify_intact.clone(),
        );
        r.register(
            "verify_age_seconds",
            "Age of the last scheduled store verification (-1 when never): every object stored before it was fetched and hashed by then",
            m.verify_age_seconds.clone(),
        );
        r.register(
            "verify_every_object_age_seconds",
            "How long ago, at most, every object was last fetched and hashed by the rolling verification (-1 when never)",
            m.verify_every_object_age_seconds.clone(),
        );
        r.register(
            "verify_fetched_objects",
            "Content objects the last scheduled verification fetched and hashed (-1 when never)",
            m.verify_fetched_objects.clone(),
        );
        r.register(
            "verify_listed_objects",
            "Content objects the last scheduled verification listed (-1 when never)",
            m.verify_listed_objects.clone(),
        );
        r.register(
            "kek_retirement_possible",
            "1 if this service can retire KEKs itself; 0 if its keys are read-only and the operator must",
            m.kek_retirement_possible.clone(),
        );
        r.register(
            "kek_retirement_age_seconds",
            "Age of the last finished KEK retirement (-1 when never): a shred holds against backups after the next one",
            m.kek_retirement_age_seconds.clone(),
        );
        r.register("keks", "KEKs the service holds (1 after a finished retirement)", m.keks.clone());
        r.register(
            "witness_lag_entries",
            "Entries signed but not yet cosigned, per witness",
            m.witness_lag_entries.clone(),
        );
        r.register(
            "witness_lag_seconds",
            "How long each witness has been behind the newest checkpoint (0 when it is not)",
            m.witness_lag_seconds.clone(),
        );
        r.register("search_indexed", "Recordings indexed since the service started", m.search_indexed.clone());
        r.register(
            "search_rebuilds",
            "Search index rebuilds since the service started, by reason (missing, damaged, outdated, key_unavailable, kek_retired, admin)",
            m.search_rebuilds.clone(),
        );
        r.register(
            "search_behind_recordings",
            "Stored transcripts the search index does not hold yet",
            m.search_behind.clone(),
        );
        r.register(
            "search_cache_bytes",
            "Decrypted index pieces held in memory, in bytes",
            m.search_cache_bytes.clone(),
        );
        r.register(
            "search_cache_capacity_bytes",
            "The bound on decrypted index pieces in memory (search.cache_bytes)",
            m.search_cache_capacity.clone(),
        );
        r.register(
            "search_cache_hits",
            "Index reads served from the decrypted-piece cache",
            m.search_cache_hits.clone(),
        );
        r.register("search_cache_misses", "Index reads that decrypted a piece", m.search_cache_misses.clone());
        Metrics { registry: r, ..m }
    }
}

/// What the catalog knows, read at scrape time, with the real-time factor of
/// the newest finished transcription worked out.
#[derive(Default)]
struct CatalogFigures {
    figures: Figures,
    rtf: Option<f64>,
}

fn catalog_figures(repo: &dyn Repo) -> catalog::Result<CatalogFigures> {
    let figures = repo.figures()?;
    let rtf = figures.last_transcription.as_ref().and_then(|(a, b, total)| {
        let took = archive::clock::parse_ts(b).ok()? - archive::clock::parse_ts(a).ok()?;
        Some(took.as_seconds_f64() * 1000.0 / *total as f64)
    });
    Ok(CatalogFigures { figures, rtf })
}

fn age(now: time::OffsetDateTime, ts: Option<&str>) -> f64 {
    ts.and_then(|t| archive::clock::parse_ts(t).ok()).map_or(-1.0, |t| (now - t).as_seconds_f64().max(0.0))
}

/// The oldest waiting spool chunk's age, from its file time.
fn spool_oldest(app: &App) -> f64 {
    let pending = app.live.spool.pending().unwrap_or_default();
    let oldest = pending.iter().filter_map(|p| std::fs::metadata(&p.path).and_then(|m| m.modified()).ok()).min();
    oldest.and_then(|t| t.elapsed().ok()).map_or(0.0, |d| d.as_secs_f64())
}

/// The OpenMetrics text of every figure, read now.
pub async fn render(app: &App) -> Result<String, crate::error::DomainError> {
    let CatalogFigures { figures, rtf } =
        catalog::read(&app.vault.catalog, |repo| catalog_figures(repo).map_err(archive::vault::VaultError::from))
            .await
            .unwrap_or_default();
    let m = &app.metrics;
    let now = app.vault.clock.now();
    m.live_streams.set(app.live.endpoint_ids().len() as i64);
    m.ingested_bytes.set(figures.ingested);
    m.chunks_stored.set(figures.chunks);
    m.spool_backlog_bytes.set(app.live.spool.backlog_bytes() as i64);
    m.spool_oldest_seconds.set(spool_oldest(app));
    m.transcription_queue.set(figures.queue);
    m.transcription_rtf.set(rtf.unwrap_or(0.0));
    m.ledger_head.set(figures.head.unwrap_or(-1));
    m.checkpoint_age_seconds.set(age(now, figures.checkpoint_ts.as_deref()));
    // The verdict before its coverage: a run committing between the two reads
    // then shows as not yet run, never as a verdict without coverage.
    let last = crate::verification::latest(app).await.ok().flatten();
    let coverage = crate::verification::coverage(app).await.ok().flatten();
    m.verify_every_object_age_seconds.set(age(now, coverage.as_ref().map(|c| c.every_object_since.as_str())));
    m.verify_intact.set(last.as_ref().map_or(-1, |c| i64::from(c.intact)));
    m.verify_age_seconds.set(age(now, last.as_ref().map(|c| c.checked_at.as_str())));
    let count = |n: Option<u64>| n.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
    m.verify_fetched_objects.set(count(last.as_ref().and_then(|c| c.fetched)));
    m.verify_listed_objects.set(count(last.as_ref().and_then(|c| c.population)));
    m.kek_retirement_possible.set(i64::from(crate::retirement::read_only(app).is_none()));
    m.kek_retirement_age_seconds.set(age(now, figures.retired.as_deref()));
    m.keks.set(app.vault.keys.ring().ids().len() as i64);
    for w in crate::witnesses::statuses(app, figures.checkpointed.max(0) as u64) {
        m.witness_lag_entries.get_or_create(&vec![("witness", w.witness)]).set(w.lag_entries as i64);
        m.witness_lag_seconds.get_or_create(&vec![("witness", w.witness)]).set(w.lag_seconds);
    }
    let index = app.index.figures();
    let catch_up = |c: &Counter, to: u64| {
        c.inc_by(to.saturating_sub(c.get()));
    };
    catch_up(&m.search_indexed, index.indexed);
    for (why, n) in &index.rebuilds {
        catch_up(&m.search_rebuilds.get_or_create(&vec![("reason", *why)]), *n);
    }
    m.search_behind.set(index.behind as i64);
    if let Some(c) = index.cache {
        m.search_cache_bytes.set(c.bytes as i64);
        m.search_cache_capacity.set(c.capacity as i64);
        catch_up(&m.search_cache_hits, c.hits);
        catch_up(&m.search_cache_misses, c.misses);
    }
    let mut body = String::new();
    encode(&mut body, &m.registry).map_err(crate::error::DomainError::internal)?;
    Ok(body)
}

/// Ready when the catalog answers, the store answers, and the keys are loaded.
///
/// The store is asked for one object by its key, the newest checkpoint the
/// catalog names: one GET whatever the store holds (a listing grew with every
/// checkpoint). Before the first checkpoint the key is absent, and "not
/// found" is an answer; once the catalog names a checkpoint, its absence means
/// this is not the store the service wrote to (or it lost data), not ready.
/// `Ok` when ready, else every problem found, one per line.
pub async fn readiness(app: &App) -> Result<(), Vec<String>> {
    let newest = catalog::read(&app.vault.catalog, |repo| repo.newest_checkpoint().map_err(VaultError::from)).await;
    let (catalog, store) = match newest {
        Ok(cp) => (None, store_answers(app, cp).await.err()),
        Err(e) => (Some(format!("catalog: {e}")), None),
    };
    let keys = !app.vault.keys.ring().current_id().is_empty();
    let problems: Vec<String> =
        [catalog, store.map(|e| format!("store: {e}")), (!keys).then(|| "keys: no current KEK".to_string())]
            .into_iter()
            .flatten()
            .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        tracing::warn!(?problems, "not ready");
        Err(problems)
    }
}

/// Whether the store answers a GET of the newest checkpoint `cp` (see [`readiness`]).
async fn store_answers(app: &App, cp: Option<crate::verification::CheckpointRef>) -> Result<(), String> {
    let key = cp.as_ref().map_or_else(|| ObjectKey::checkpoint(0), |cp| cp.key());
    match app.vault.store.get(key.as_str()).await {
        Ok(_) => Ok(()),
        Err(StoreError::NotFound(_)) if cp.is_none() => Ok(()),
        Err(StoreError::NotFound(k)) => Err(format!("the newest checkpoint {k} is missing")),
        Err(e) => Err(e.to_string()),
    }
}

/// An object store whose every request is timed into `niem_store_request_seconds`.
#[derive(Debug)]
pub struct MeteredStore {
    inner: Store,
    seconds: Family<Labels, Histogram>,
}

impl MeteredStore {
    pub fn wrap(inner: Store, metrics: &Metrics) -> Store {
        Arc::new(MeteredStore { inner, seconds: metrics.store_seconds.clone() })
    }

    fn time<'a, T: Send + 'a>(&'a self, op: &'static str, f: BoxFuture<'a, T>) -> BoxFuture<'a, T> {
        Box::pin(async move {
            let started = Instant::now();
            let out = f.await;
            self.seconds.get_or_create(&vec![("op", op)]).observe(started.elapsed().as_secs_f64());
            out
        })
    }
}

impl ObjectStore for MeteredStore {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn put_new<'a>(&'a self, key: &'a ObjectKey, body: Bytes) -> BoxFuture<'a, Result<(), StoreError>> {
        self.time("put", self.inner.put_new(key, body))
    }
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Bytes, StoreError>> {
        self.time("get", self.inner.get(key))
    }
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>, StoreError>> {
        self.time("list", self.inner.list(prefix))
    }
    fn delete<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<(), StoreError>> {
        self.time("delete", self.inner.delete(key))
    }
    fn worm(&self) -> BoxFuture<'_, Worm> {
        self.inner.worm()
    }
    fn retain<'a>(
        &'a self,
        key: &'a ObjectKey,
        until: time::OffsetDateTime,
        mode: LockMode,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.time("retain", self.inner.retain(key, until, mode))
    }
    fn legal_hold<'a>(&'a self, key: &'a ObjectKey, on: bool) -> BoxFuture<'a, Result<(), StoreError>> {
        self.time("legal_hold", self.inner.legal_hold(key, on))
    }
}
