//! The service's side of search: keeping the transcript index in step with the
//! archive, and running searches that are scoped and ledgered.
//!
//! The index is kept on disk under `<data_dir>/index`, every file sealed by
//! [`crate::index_keys`] under data keys wrapped by the KEK: no transcript word
//! reaches the disk in clear. It is opened at start; one that is missing, damaged
//! (fails authentication), from an older schema or under a destroyed KEK is
//! cleared, counted as a rebuild with its reason, and filled again in the
//! background. It is derived data, filled from the (encrypted) archive: a worker
//! indexes every stored transcript the index lacks at start, whenever a
//! transcript is stored, and once a minute (so a store outage only delays it);
//! while it is behind, search answers say how far ([`CatchingUp`]). `/readyz`
//! never waits for it. Flagged lines (blocklisted phrases, loops) are not
//! indexed. Shredded recordings are shredded from the index too (removed and
//! merged away). `POST /api/v1/index/rebuild` empties it and indexes the archive
//! again; a KEK retirement rebuilds it under the new KEK before destroying the
//! old ones. Every search is a `search.performed` ledger entry with the actor,
//! the filters and the result count in clear and the query sealed, written
//! before any result is returned. A search answers one page (by relevance or
//! date, up to [`search::MAX_LIMIT`] meetings) with the total and a cursor for
//! the next; an export pages through every matching meeting (up to
//! [`EXPORT_CAP`]) into CSV, ledgered as `search.exported` the same way.

use crate::catalog;
use crate::error::DomainError;
use crate::principal::{Principal, Role};
use crate::transcript::Transcript;
use crate::App;
use anyhow::Context;
use archive::id::RecordingId;
use archive::ledger::NewEntry;
use archive::vault::Vault;
use archive::vault::VaultError;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Where the index lives: `<data_dir>/index/{a,b}`, the live one named in
/// `<data_dir>/index/current`; the other is where a KEK retirement builds the
/// replacement before swapping.
const SIDES: [&str; 2] = ["a", "b"];
const CURRENT: &str = "current";

pub struct Indexing {
    slot: RwLock<Arc<search::Index>>,
    root: PathBuf,
    side: Mutex<&'static str>,
    cipher: Arc<dyn search::IndexCipher>,
    options: search::Options,
    wake: tokio::sync::Notify,
    /// Recordings indexed since start.
    indexed: AtomicU64,
    /// Rebuilds since start, by reason.
    rebuilds: Mutex<BTreeMap<&'static str, u64>>,
    /// Stored transcripts (as of the worker's last look) and how many of them
    /// the index still lacks.
    total: AtomicUsize,
    behind: AtomicUsize,
    /// One pass of the worker, or one swap, at a time.
    pass: tokio::sync::Mutex<()>,
}

/// How far the index is behind the archive: shown with search results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CatchingUp {
    pub indexed: usize,
    pub total: usize,
}

/// The counters `/metrics` shows.
#[derive(Debug, Clone, Default)]
pub struct IndexFigures {
    pub indexed: u64,
    pub rebuilds: BTreeMap<&'static str, u64>,
    pub behind: usize,
    pub cache: Option<search::CacheStats>,
}

fn reason(e: &search::SearchError) -> &'static str {
    match e {
        search::SearchError::Damaged(_) => "damaged",
        search::SearchError::KeyUnavailable(_) => "key_unavailable",
        search::SearchError::Outdated { .. } => "outdated",
        _ => "other",
    }
}

/// Which of the two index directories (`a`, `b`) under `root` is in use.
fn current_side(root: &std::path::Path) -> &'static str {
    match std::fs::read_to_string(root.join(CURRENT)) {
        Ok(s) if s.trim() == SIDES[1] => SIDES[1],
        _ => SIDES[0],
    }
}

/// The directory of the index in use under a data dir: for tools that read it
/// with the service stopped (the shred check of the end-to-end tests).
pub fn current_index_dir(data_dir: &std::path::Path) -> std::path::PathBuf {
    let root = data_dir.join("index");
    let side = current_side(&root);
    root.join(side)
}

impl Indexing {
    /// Opens the encrypted index under `<data_dir>/index`. One that is missing,
    /// damaged, from an older schema or under a destroyed KEK is cleared (and
    /// said so); the worker then fills it from the archive in the background.
    pub fn open(config: &crate::config::Config, keys: Arc<archive::keys::Keys>) -> anyhow::Result<Indexing> {
        let root = config.data_dir.join("index");
        std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
        let side = current_side(&root);
        let other = if side == SIDES[0] { SIDES[1] } else { SIDES[0] };
        // A replacement a stop cut off is started again when needed.
        let _ = std::fs::remove_dir_all(root.join(other));
        let cipher: Arc<dyn search::IndexCipher> = Arc::new(crate::index_keys::ArchiveIndexCipher::new(keys));
        let search_threads = match config.search.threads {
            0 => search::default_search_threads(),
            n => n,
        };
        let options = search::Options { cache_bytes: config.search.cache_bytes, search_threads, ..Default::default() };
        let dir = root.join(side);
        let mut rebuilds = BTreeMap::new();
        let existed = dir.join("meta.json").exists();
        let index = match search::Index::open(&dir, cipher.clone(), &options) {
            Ok(index) => {
                if !existed {
                    tracing::info!(dir = %dir.display(), "no search index on disk yet: building it from the archive");
                    rebuilds.insert("missing", 1);
                }
                index
            }
            Err(e) if e.needs_rebuild() => {
                tracing::warn!(dir = %dir.display(), error = %e, "the search index cannot be used: clearing it and rebuilding from the archive in the background");
                rebuilds.insert(reason(&e), 1);
                std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
                search::Index::open(&dir, cipher.clone(), &options).context("cannot create the search index")?
            }
            Err(e) => return Err(e).context("cannot open the search index"),
        };
        Ok(Indexing {
            slot: RwLock::new(Arc::new(index)),
            root,
            side: Mutex::new(side),
            cipher,
            options,
            wake: tokio::sync::Notify::new(),
            indexed: AtomicU64::new(0),
            rebuilds: Mutex::new(rebuilds),
            total: AtomicUsize::new(0),
            behind: AtomicUsize::new(0),
            pass: tokio::sync::Mutex::new(()),
        })
    }

    /// The index as it stands now (a KEK retirement may swap it).
    pub fn index(&self) -> Arc<search::Index> {
        self.slot.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A transcript was stored: index it soon.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// What `/metrics` shows.
    pub fn figures(&self) -> IndexFigures {
        IndexFigures {
            indexed: self.indexed.load(Ordering::Relaxed),
            rebuilds: self.rebuilds.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            behind: self.behind.load(Ordering::Relaxed),
            cache: self.index().cache_stats(),
        }
    }

    /// How far the index is behind, if it is.
    pub fn catching_up(&self) -> Option<CatchingUp> {
        let behind = self.behind.load(Ordering::Relaxed);
        let total = self.total.load(Ordering::Relaxed);
        (behind > 0).then(|| CatchingUp { indexed: total.saturating_sub(behind), total })
    }

    fn count_rebuild(&self, why: &'static str) {
        *self.rebuilds.lock().unwrap_or_else(|e| e.into_inner()).entry(why).or_default() += 1;
    }

    /// Stored transcripts, and those the index lacks.
    pub async fn measure(&self, vault: &Vault) -> anyhow::Result<()> {
        let stored = catalog::read(&vault.catalog, |repo| Ok::<_, VaultError>(repo.stored_transcripts()?)).await?;
        let index = self.index();
        let mut behind = 0;
        for rec in &stored {
            if !index.contains(rec)? {
                behind += 1;
            }
        }
        self.total.store(stored.len(), Ordering::Relaxed);
        self.behind.store(behind, Ordering::Relaxed);
        Ok(())
    }

    /// One pass of the worker: shredded recordings out, missing ones in.
    async fn pass(&self, vault: &Vault) -> anyhow::Result<usize> {
        let _one = self.pass.lock().await;
        let index = self.index();
        if let Err(e) = drop_shredded(vault, &index).await {
            tracing::warn!(error = %format!("{e:#}"), "could not drop shredded recordings from the index");
        }
        self.measure(vault).await?;
        let mut done = 0;
        loop {
            let n = catch_up_some(vault, &index, 50).await?;
            if n == 0 {
                break;
            }
            done += n;
            self.indexed.fetch_add(n as u64, Ordering::Relaxed);
            let left = self.behind.load(Ordering::Relaxed).saturating_sub(n);
            self.behind.store(left, Ordering::Relaxed);
        }
        // What is left cannot be indexed (a transcript without a meeting).
        self.behind.store(0, Ordering::Relaxed);
        Ok(done)
    }

    /// Builds a new index under the current KEK beside the live one, fills it
    /// from the archive, swaps it in and deletes the old one's files: after
    /// this no index file depends on a KEK other than the current one. A KEK
    /// retirement waits for it before destroying the old KEKs.
    pub async fn rebuild_under_current_kek(&self, vault: &Vault) -> anyhow::Result<()> {
        let current = vault.keys.ring().current_id().to_string();
        let gens = self.index().key_generations()?;
        if gens.keys().all(|k| *k == current) {
            return Ok(());
        }
        let _one = self.pass.lock().await;
        let old_side = *self.side.lock().unwrap_or_else(|e| e.into_inner());
        let new_side = if old_side == SIDES[0] { SIDES[1] } else { SIDES[0] };
        let dir = self.root.join(new_side);
        let _ = std::fs::remove_dir_all(&dir);
        let (cipher, options) = (self.cipher.clone(), self.options.clone());
        let open_dir = dir.clone();
        let fresh = tokio::task::spawn_blocking(move || search::Index::open(&open_dir, cipher, &options)).await??;
        let fresh = Arc::new(fresh);
        let mut n = 0;
        loop {
            match catch_up_some(vault, &fresh, 50).await? {
                0 => break,
                k => n += k,
            }
        }
        write_current(&self.root, new_side)?;
        let old = std::mem::replace(&mut *self.slot.write().unwrap_or_else(|e| e.into_inner()), fresh);
        *self.side.lock().unwrap_or_else(|e| e.into_inner()) = new_side;
        self.count_rebuild("kek_retired");
        tracing::info!(recordings = n, kek = %current, "rebuilt the search index under the current KEK");
        // Searches still running on the old index finish first.
        let mut old = old;
        for _ in 0..600 {
            match Arc::try_unwrap(old) {
                Ok(index) => {
                    drop(index);
                    let old_dir = self.root.join(old_side);
                    std::fs::remove_dir_all(&old_dir)
                        .with_context(|| format!("cannot remove {}", old_dir.display()))?;
                    return Ok(());
                }
                Err(again) => old = again,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("the old search index stayed in use for a minute; its files are removed at the next start")
    }
}

/// Names the live side, atomically.
fn write_current(root: &Path, side: &str) -> anyhow::Result<()> {
    let tmp = root.join(format!("{CURRENT}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, side.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, root.join(CURRENT))?;
    std::fs::File::open(root)?.sync_all()?;
    Ok(())
}

/// How soon a node's index follows a transcript another node stored.
const FOLLOW_OTHER_NODES: Duration = Duration::from_secs(3);

/// Keeps the index up to date until the process ends. This node's own
/// transcripts wake it at once; with a PostgreSQL catalog, other nodes store
/// transcripts too, and it looks for theirs every few seconds.
pub async fn run(app: Arc<App>) {
    let every = if app.vault.catalog.is_postgres() { FOLLOW_OTHER_NODES } else { Duration::from_secs(60) };
    loop {
        let notified = app.index.wake.notified();
        match app.index.pass(&app.vault).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(recordings = n, "indexed transcripts"),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "indexing paused; retrying in a minute"),
        }
        let _ = tokio::time::timeout(every, notified).await;
    }
}

/// Shreds from the index every shredded recording it still holds (whoever
/// shredded them, the service or `niem retention run` while it was stopped): its
/// documents are removed and their segments merged, so no index file keeps its words.
pub async fn drop_shredded(vault: &Vault, index: &Arc<search::Index>) -> anyhow::Result<usize> {
    let shredded = catalog::read(&vault.catalog, |repo| Ok::<_, VaultError>(repo.shredded_recordings()?)).await?;
    let mut n = 0;
    for rec in shredded {
        if index.contains(&rec)? {
            let index = index.clone();
            tokio::task::spawn_blocking(move || index.shred(&rec)).await??;
            n += 1;
        }
    }
    Ok(n)
}

/// Indexes every stored transcript the index lacks; returns how many.
pub async fn catch_up(vault: &Vault, index: &Arc<search::Index>) -> anyhow::Result<usize> {
    let mut done = 0;
    loop {
        match catch_up_some(vault, index, 50).await? {
            0 => return Ok(done),
            n => done += n,
        }
    }
}

/// Empties the index and indexes every stored transcript again.
pub async fn rebuild(
    vault: &Vault,
    index: &Arc<search::Index>,
    progress: impl Fn(usize, usize),
) -> anyhow::Result<usize> {
    let idx = index.clone();
    tokio::task::spawn_blocking(move || idx.clear()).await??;
    let total = catalog::read(&vault.catalog, |repo| Ok::<_, VaultError>(repo.stored_transcript_count()?)).await?;
    progress(0, total);
    let mut done = 0;
    while done < total {
        let n = catch_up_some(vault, index, 50).await?;
        if n == 0 {
            break;
        }
        done += n;
        progress(done, total);
    }
    Ok(done)
}

/// Indexes up to `max` recordings the index lacks, with one commit.
async fn catch_up_some(vault: &Vault, index: &Arc<search::Index>, max: usize) -> anyhow::Result<usize> {
    let stored = catalog::read(&vault.catalog, |repo| Ok::<_, VaultError>(repo.stored_transcripts()?)).await?;
    let mut docs = Vec::new();
    for rec in stored {
        if docs.len() >= max {
            break;
        }
        if !index.contains(&rec)? {
            docs.extend(document(vault, rec.parse()?).await?);
        }
    }
    let n = docs.len();
    let index = index.clone();
    tokio::task::spawn_blocking(move || index.put_all(&docs)).await??;
    Ok(n)
}

/// What the index holds for one recording: its meeting, org and spoken lines.
async fn document(vault: &Vault, rec: RecordingId) -> anyhow::Result<Option<search::Recording>> {
    let place = catalog::read(&vault.catalog, move |repo| Ok::<_, VaultError>(repo.recording_place(rec)?)).await?;
    let Some((meeting, kind, scheduled_at, org_path)) = place else {
        tracing::warn!(recording = %rec, "a transcript without a meeting is not indexed");
        return Ok(None);
    };
    let Some(plain) = vault.read_transcript(rec).await? else { return Ok(None) };
    let doc: Transcript = serde_json::from_slice(&plain).context("a stored transcript does not parse")?;
    let segments = doc
        .segments
        .iter()
        .filter(|l| !l.flagged())
        .map(|l| search::Segment {
            stream: l.stream.clone(),
            label: l.label.clone(),
            start_ms: l.segment.start_ms,
            end_ms: l.segment.end_ms,
            text: l.segment.text.clone(),
        })
        .collect();
    let date = archive::clock::parse_ts(&scheduled_at).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Ok(Some(search::Recording { recording: rec.to_string(), meeting, org_path, kind, date, segments }))
}

/// A search as users ask it (API query string and web form alike).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Ask {
    #[serde(default)]
    pub q: String,
    /// An org id: its subtree, within the caller's scope.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "empty_none")]
    pub org: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "empty_none")]
    pub kind: Option<String>,
    /// First and last meeting dates, `YYYY-MM-DD`, local time, both included.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "empty_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "empty_none")]
    pub to: Option<String>,
    /// Meetings per page: 1 to [`search::MAX_LIMIT`], default [`DEFAULT_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// `relevance` (default), `newest` or `oldest`.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "sort_of")]
    pub sort: Option<search::Sort>,
    /// The `next_cursor` of the previous page of this same search.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "empty_none")]
    pub cursor: Option<String>,
}

pub const DEFAULT_LIMIT: usize = 20;

pub use search::Sort;

/// HTML forms send empty fields; they mean "no filter".
fn empty_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    Ok(s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
}

fn sort_of<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<search::Sort>, D::Error> {
    match empty_none(d)?.as_deref() {
        None => Ok(None),
        Some("relevance") => Ok(Some(search::Sort::Relevance)),
        Some("newest") => Ok(Some(search::Sort::Newest)),
        Some("oldest") => Ok(Some(search::Sort::Oldest)),
        Some(_) => Err(serde::de::Error::custom("sort must be relevance, newest or oldest")),
    }
}

#[derive(Debug, Serialize)]
pub struct Found {
    pub query: Ask,
    pub meetings: Vec<FoundMeeting>,
    /// Every meeting the search matches, not only this page's.
    pub total: FoundTotal,
    /// Asks for the next page (as `cursor`, with the same query, filters and
    /// sort); null on the last page.
    pub next_cursor: Option<String>,
    pub took_ms: f64,
    /// Set while the index lacks stored transcripts: results may be incomplete.
    pub catching_up: Option<CatchingUp>,
}

/// How many meetings match: exactly `count`, or (not `exact`) more than `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FoundTotal {
    pub count: usize,
    pub exact: bool,
}

#[derive(Debug, Serialize)]
pub struct FoundMeeting {
    pub meeting: String,
    pub title: String,
    pub org: String,
    pub org_name: String,
    pub kind: String,
    pub scheduled_at: String,
    pub recording: String,
    pub score: f32,
    pub hits: Vec<search::Hit>,
}

pub const MAX_QUERY_CHARS: usize = 500;

/// The most meetings one export holds; past it the file says so in its last line.
pub const EXPORT_CAP: usize = 10_000;

/// The index query for `ask` under the caller's scope, once its role, text,
/// filters and org are checked (search and export alike).
async fn plan(app: &App, who: &Principal, ask: &Ask) -> Result<search::Query, DomainError> {
    who.require(&[Role::Admin, Role::Inspector])?;
    if ask.q.chars().count() > MAX_QUERY_CHARS {
        return Err(DomainError::invalid(format!("a query may have at most {MAX_QUERY_CHARS} characters")));
    }
    let limit = ask.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=search::MAX_LIMIT).contains(&limit) {
        return Err(DomainError::invalid(format!("limit must be 1 to {} meetings per page", search::MAX_LIMIT)));
    }
    if let Some(k) = &ask.kind {
        crate::orgs::check_meeting_kind(k)?;
    }
    let from = ask.from.as_deref().map(|d| crate::local_time::date(d).map(crate::local_time::day_start)).transpose()?;
    let to = ask
        .to
        .as_deref()
        .map(|d| crate::local_time::date(d).map(crate::local_time::day_start))
        .transpose()?
        .map(|t| t + time::Duration::days(1));
    let org_path = match &ask.org {
        Some(org) => Some(org_path(app, org).await?),
        None => None,
    };
    // The index narrows an org above the scope to the scope; any other is refused.
    if let Some(path) = &org_path {
        who.require_scope_or_above(path)?;
    }
    Ok(search::Query {
        text: ask.q.clone(),
        scope: who.search_scope(),
        org: org_path,
        kind: ask.kind.clone(),
        from,
        to,
        limit,
        sort: ask.sort.unwrap_or_default(),
        cursor: ask.cursor.clone(),
    })
}

/// One page of `query` from the index. A cursor of another search (query,
/// scope, filters or sort), altered, or from before a restart is refused.
async fn page(app: &App, query: search::Query) -> Result<search::Results, DomainError> {
    let started = std::time::Instant::now();
    let index = app.index.index();
    let results = tokio::task::spawn_blocking(move || index.search(&query)).await.map_err(DomainError::internal)?;
    app.metrics.search_seconds.observe(started.elapsed().as_secs_f64());
    results.map_err(|e| match e {
        search::SearchError::Cursor(e) => DomainError::invalid(format!("cursor: {e}")),
        e => DomainError::internal(e),
    })
}

/// The ledger entry of a search or an export: the query names what an
/// inspection is looking at, so it is a sealed fact (admins can open it,
/// auditors see that a search happened, by whom, with which filters and how many
/// results). Written before anything is answered.
async fn ledger(
    app: &App,
    who: &Principal,
    action: &'static str,
    ask: &Ask,
    mut data: serde_json::Value,
) -> Result<(), DomainError> {
    let clear = json!({
        "org": ask.org, "kind": ask.kind, "from": ask.from, "to": ask.to,
        "sort": ask.sort.unwrap_or_default(), "next_page": ask.cursor.is_some(),
    });
    if let (Some(data), serde_json::Value::Object(clear)) = (data.as_object_mut(), clear) {
        for (k, v) in clear {
            data.entry(k).or_insert(v);
        }
    }
    crate::facts::seal_into(&app.vault.keys, "search", &mut data, json!({ "q": ask.q }))?;
    app.vault.record(NewEntry { actor: who.actor(), action, subject: "search".into(), data }).await?;
    Ok(())
}

/// Runs one page of a search under the caller's scope, ledgered before it is answered.
pub async fn ask(app: &App, who: &Principal, ask: Ask) -> Result<Found, DomainError> {
    let query = plan(app, who, &ask).await?;
    // Taken before the index is read: a result the index lacked then is still
    // said to be catching up, even if the indexer finishes while the search is
    // ledgered.
    let catching_up = app.index.catching_up();
    let started = std::time::Instant::now();
    let results = page(app, query).await?;
    let took_ms = started.elapsed().as_secs_f64() * 1000.0;
    ledger(app, who, "search.performed", &ask, json!({ "results": results.meetings.len() })).await?;
    let total = FoundTotal { count: results.total.meetings, exact: results.total.exact };
    let next_cursor = results.next.clone();
    let meetings = describe(app, results).await?;
    Ok(Found { query: ask, meetings, total, next_cursor, took_ms, catching_up })
}

/// What `GET /api/v1/search/export` takes: a search without paging.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportAsk {
    #[serde(default)]
    pub q: String,
    #[serde(default, deserialize_with = "empty_none")]
    pub org: Option<String>,
    #[serde(default, deserialize_with = "empty_none")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "empty_none")]
    pub from: Option<String>,
    #[serde(default, deserialize_with = "empty_none")]
    pub to: Option<String>,
    #[serde(default, deserialize_with = "sort_of")]
    pub sort: Option<search::Sort>,
}

/// Every meeting a search matches (up to [`EXPORT_CAP`]) as CSV for an
/// inspection file: a UTF-8 byte-order mark (Excel), CRLF lines, one line per
/// hit (meeting, its id, org, local date, stream, moment, excerpt), every text
/// cell quoted and formula-guarded; a last line says when the cap cut it short.
/// Ledgered (`search.exported`, the query sealed) before it is returned.
pub async fn export(app: &App, who: &Principal, e: ExportAsk) -> Result<String, DomainError> {
    let ask = Ask {
        q: e.q,
        org: e.org,
        kind: e.kind,
        from: e.from,
        to: e.to,
        limit: Some(search::MAX_LIMIT),
        sort: e.sort,
        cursor: None,
    };
    let mut query = plan(app, who, &ask).await?;
    let mut meetings = Vec::new();
    let (total, capped) = loop {
        query.limit = search::MAX_LIMIT.min(EXPORT_CAP - meetings.len());
        let results = page(app, query.clone()).await?;
        let (total, next) = (results.total, results.next.clone());
        meetings.extend(describe(app, results).await?);
        match next {
            Some(c) if meetings.len() < EXPORT_CAP => query.cursor = Some(c),
            Some(_) => break (total, true),
            None => break (total, false),
        }
    };
    let data = json!({ "results": meetings.len(), "total": total.meetings, "capped": capped });
    ledger(app, who, "search.exported", &ask, data).await?;
    Ok(to_csv(&meetings, capped.then_some(total)))
}

fn to_csv(meetings: &[FoundMeeting], capped: Option<search::Total>) -> String {
    use crate::reports::csv_cell;
    let mut out = String::from("\u{feff}meeting,meeting_id,org,date,stream,time,excerpt\r\n");
    for m in meetings {
        let date = crate::local_time::display(&m.scheduled_at);
        for h in &m.hits {
            let cells = [&m.title, &m.meeting, &m.org_name, &date, &h.label, &clock(h.at_ms), &plain(&h.snippet)];
            let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
            out.push_str(&line.join(","));
            out.push_str("\r\n");
        }
    }
    if let Some(total) = capped {
        let (hon, more) = if total.exact { ("", "") } else { ("hơn ", "more than ") };
        let n = total.meetings;
        let note = format!(
            "Chỉ xuất {EXPORT_CAP} cuộc họp đầu tiên trong số {hon}{n}: hãy thu hẹp tìm kiếm / \
             Only the first {EXPORT_CAP} of {more}{n} meetings: narrow the search"
        );
        out.push_str(&csv_cell(&note));
        out.push_str("\r\n");
    }
    out
}

/// `mm:ss`, or `hh:mm:ss` from an hour on.
fn clock(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

/// A snippet (escaped text with `<b>` marks) as plain text.
fn plain(snippet: &str) -> String {
    snippet.replace("<b>", "").replace("</b>", "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

async fn org_path(app: &App, org: &str) -> Result<String, DomainError> {
    crate::orgs::path_of(app, org.parse()?).await
}

/// Adds titles and org names from the catalog to the index's results.
async fn describe(app: &App, results: search::Results) -> Result<Vec<FoundMeeting>, DomainError> {
    catalog::read(&app.vault.catalog, move |repo| {
        let mut out = Vec::with_capacity(results.meetings.len());
        for m in results.meetings {
            let Some((title, org, org_name, scheduled_at)) = repo.meeting_summary(&m.meeting)? else { continue };
            let (meeting, kind, recording, score, hits) = (m.meeting, m.kind, m.recording, m.score, m.hits);
            out.push(FoundMeeting { meeting, title, org, org_name, kind, scheduled_at, recording, score, hits });
        }
        Ok::<_, DomainError>(out)
    })
    .await
}

/// Empties the index and indexes every stored transcript again from the archive (admins).
pub async fn rebuild_as(app: &App, who: &Principal) -> Result<(usize, u64), DomainError> {
    who.require(&[Role::Admin])?;
    let index = app.index.index();
    app.index.count_rebuild("admin");
    let indexed = rebuild(&app.vault, &index, |_, _| {}).await.map_err(DomainError::internal)?;
    app.index.indexed.fetch_add(indexed as u64, Ordering::Relaxed);
    Ok((indexed, index.documents()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meeting(title: &str, org: &str, hits: &[(u64, &str)]) -> FoundMeeting {
        let hit = |&(at_ms, snippet): &(u64, &str)| search::Hit {
            stream: "s".into(),
            label: "Micro".into(),
            at_ms,
            start_ms: at_ms,
            end_ms: at_ms + 1000,
            snippet: snippet.into(),
            score: 1.0,
        };
        FoundMeeting {
            meeting: "01MEETING".into(),
            title: title.into(),
            org: "01ORG".into(),
            org_name: org.into(),
            kind: "regular".into(),
            scheduled_at: "2026-09-15T01:00:00.000Z".into(),
            recording: "01REC".into(),
            score: 1.0,
            hits: hits.iter().map(hit).collect(),
        }
    }

    #[test]
    fn csv_lines_are_one_per_hit_guarded_and_local() {
        let m =
            meeting("=HYPERLINK(\"x\")", "@Chi bộ", &[(10_500, "a <b>kết nạp</b> &amp; &lt;b&gt;"), (3_725_000, "x")]);
        let csv = to_csv(&[m], None);
        assert!(csv.starts_with("\u{feff}meeting,meeting_id,org,date,stream,time,excerpt\r\n"), "{csv}");
        let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').split("\r\n").collect();
        assert_eq!(lines.len(), 4, "{csv}");
        assert_eq!(
            lines[1],
            "\"'=HYPERLINK(\"\"x\"\")\",\"01MEETING\",\"'@Chi bộ\",\"15/09/2026 08:00\",\"Micro\",\"00:10\",\"a kết nạp & <b>\""
        );
        assert!(lines[2].contains("\"01:02:05\""), "{}", lines[2]);
        assert_eq!(lines[3], "");
        let capped = to_csv(&[], Some(search::Total { meetings: 1000, exact: false }));
        assert!(capped.contains("hơn 1000") && capped.contains("more than 1000"), "{capped}");
    }
}
