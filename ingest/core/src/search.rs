//! The service's side of search: keeping the transcript index in step with the
//! archive, and running searches that are scoped and ledgered.
//!
//! The index lives in memory only: it holds transcript text and words, and no
//! plaintext transcript may touch the disk. It is derived data, filled from the
//! (encrypted) archive: a worker indexes every stored transcript the index lacks at
//! start, whenever a transcript is stored, and once a minute (so a store outage
//! only delays it). Flagged lines (blocklisted phrases, loops) are not indexed.
//! `POST /api/v1/index/rebuild` empties it and indexes the archive again. Every
//! search is a `search.performed` ledger entry with the actor and the query,
//! written before any result is returned.

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
use std::sync::Arc;
use std::time::Duration;

pub struct Indexing {
    pub index: Arc<search::Index>,
    wake: tokio::sync::Notify,
}

impl Indexing {
    /// An empty index in memory: the worker fills it from the archive at start.
    pub fn new() -> anyhow::Result<Indexing> {
        let index = search::Index::in_ram().context("cannot create the search index")?;
        Ok(Indexing { index: Arc::new(index), wake: tokio::sync::Notify::new() })
    }

    /// A transcript was stored: index it soon.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Keeps the index up to date until the process ends.
pub async fn run(app: Arc<App>) {
    loop {
        let notified = app.index.wake.notified();
        if let Err(e) = drop_shredded(&app.vault, &app.index.index).await {
            tracing::warn!(error = %format!("{e:#}"), "could not drop shredded recordings from the index");
        }
        match catch_up(&app.vault, &app.index.index).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(recordings = n, "indexed transcripts"),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "indexing paused; retrying in a minute"),
        }
        let _ = tokio::time::timeout(Duration::from_secs(60), notified).await;
    }
}

/// Removes shredded recordings still in the index (whoever shredded them).
pub async fn drop_shredded(vault: &Vault, index: &Arc<search::Index>) -> anyhow::Result<usize> {
    let shredded = catalog::read(&vault.catalog, |repo| Ok::<_, VaultError>(repo.shredded_recordings()?)).await?;
    let mut n = 0;
    for rec in shredded {
        if index.contains(&rec)? {
            let index = index.clone();
            tokio::task::spawn_blocking(move || index.remove(&rec)).await??;
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// HTML forms send empty fields; they mean "no filter".
fn empty_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    Ok(s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
}

#[derive(Debug, Serialize)]
pub struct Found {
    pub query: Ask,
    pub meetings: Vec<FoundMeeting>,
    pub took_ms: f64,
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

/// Runs a search under the caller's scope, ledgered before it is answered.
pub async fn ask(app: &App, who: &Principal, ask: Ask) -> Result<Found, DomainError> {
    who.require(&[Role::Admin, Role::Inspector])?;
    if ask.q.chars().count() > MAX_QUERY_CHARS {
        return Err(DomainError::invalid(format!("a query may have at most {MAX_QUERY_CHARS} characters")));
    }
    if let Some(k) = &ask.kind {
        if !matches!(k.as_str(), "regular" | "thematic" | "conference") {
            return Err(DomainError::invalid("kind must be regular, thematic or conference"));
        }
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
    let query = search::Query {
        text: ask.q.clone(),
        scope: who.search_scope(),
        org: org_path,
        kind: ask.kind.clone(),
        from,
        to,
        limit: ask.limit.unwrap_or(20).clamp(1, 100),
        ..Default::default()
    };
    let data = json!({ "q": ask.q, "org": ask.org, "kind": ask.kind, "from": ask.from, "to": ask.to });
    app.vault
        .record(NewEntry { actor: who.actor(), action: "search.performed", subject: "search".into(), data })
        .await?;
    let started = std::time::Instant::now();
    let index = app.index.index.clone();
    let results = tokio::task::spawn_blocking(move || index.search(&query))
        .await
        .map_err(DomainError::internal)?
        .map_err(DomainError::internal)?;
    app.metrics.search_seconds.observe(started.elapsed().as_secs_f64());
    let took_ms = started.elapsed().as_secs_f64() * 1000.0;
    let meetings = describe(app, results).await?;
    Ok(Found { query: ask, meetings, took_ms })
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
    let indexed = rebuild(&app.vault, &app.index.index, |_, _| {}).await.map_err(DomainError::internal)?;
    Ok((indexed, app.index.index.documents()))
}
