//! Witnessing: each new checkpoint goes to the witnesses the config names (C2SP
//! tlog-witness `add-checkpoint`, e.g. the inspection committee's own
//! `niem-audit witness serve`), with a consistency proof read from the store's
//! tiles; each cosigned checkpoint is kept in the store beside the original
//! (`cosigned/<seq>/<witness>.json`, create-only).
//!
//! A witness that is down, slow or refusing never stops recording: the worker
//! retries with backoff, `/metrics` shows how far each witness lags
//! (`niem_witness_lag_entries`, `niem_witness_lag_seconds`), and a lag past
//! `ledger.witness_alert_after_secs` is ledgered once as `witness.lagging`
//! (and `witness.caught_up` when it ends), so that it is on the record.

use crate::app::App;
use crate::config::WitnessConfig;
use crate::error::DomainError;
use archive::checkpoint::CheckpointObject;
use archive::cosign::WitnessKey;
use archive::layout::{EvidenceKind, ObjectKey};
use archive::ledger::NewEntry;
use archive::witness;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One configured witness and how far it has cosigned.
#[derive(Debug)]
pub struct Witness {
    pub url: String,
    pub key: WitnessKey,
    /// Its name as a metrics label (made once at start, for the process's life).
    pub label: &'static str,
    state: Mutex<Progress>,
}

#[derive(Debug, Clone, Default)]
struct Progress {
    /// Entries covered by the newest checkpoint it cosigned.
    cosigned: u64,
    /// Since when it has been behind the newest checkpoint.
    behind_since: Option<Instant>,
    /// Whether the current lag was ledgered as `witness.lagging`.
    alerted: bool,
    last_error: Option<String>,
}

/// What `/metrics` and the pages say about one witness.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WitnessStatus {
    pub witness: &'static str,
    pub cosigned_entries: u64,
    pub lag_entries: u64,
    pub lag_seconds: f64,
    pub last_error: Option<String>,
}

impl Witness {
    pub fn status(&self, checkpointed: u64) -> WitnessStatus {
        let p = self.state.lock().unwrap_or_else(|e| e.into_inner()).clone();
        WitnessStatus {
            witness: self.label,
            cosigned_entries: p.cosigned,
            lag_entries: checkpointed.saturating_sub(p.cosigned),
            lag_seconds: p.behind_since.map_or(0.0, |t| t.elapsed().as_secs_f64()),
            last_error: p.last_error,
        }
    }
}

/// The configured witnesses, their keys checked at start (a bad key stops the
/// start, naming it).
pub fn from_config(cfg: &[WitnessConfig]) -> anyhow::Result<Vec<Arc<Witness>>> {
    cfg.iter()
        .map(|w| {
            anyhow::ensure!(w.url.starts_with("http://"), "witness {}: only http:// URLs are supported", w.url);
            let key: WitnessKey =
                w.key.parse().map_err(|e| anyhow::anyhow!("witness {}: its key does not parse: {e}", w.url))?;
            let label: &'static str = Box::leak(key.name().to_string().into_boxed_str());
            Ok(Arc::new(Witness {
                url: w.url.trim_end_matches('/').to_string(),
                key,
                label,
                state: Default::default(),
            }))
        })
        .collect()
}

/// The size each witness has cosigned, from the store's `cosigned/` objects (one
/// LIST, at start).
async fn load_progress(app: &App) -> Result<(), DomainError> {
    let listed = app.vault.store.list("cosigned/").await?;
    for w in &app.witnesses {
        let id = w.key.store_id();
        let best = listed
            .iter()
            .filter_map(|o| match ObjectKey::classify_evidence(&o.key) {
                Some(EvidenceKind::Cosigned(seq, wid)) if wid == id => Some(seq + 1),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        w.state.lock().unwrap_or_else(|e| e.into_inner()).cosigned = best;
    }
    Ok(())
}

/// The newest signed checkpoint: (entries covered, its note).
async fn newest(app: &App) -> Result<Option<(u64, String)>, DomainError> {
    let cp = crate::verification::newest_checkpoint(app).await?;
    let Some(cp) = cp else { return Ok(None) };
    let body = app.vault.store.get(cp.key().as_str()).await?;
    let obj: CheckpointObject = serde_json::from_slice(&body).map_err(DomainError::internal)?;
    Ok(Some((cp.size, obj.note)))
}

/// Brings one witness up to `size`. The witness answers 409 with its own size
/// when ours is wrong (it restarted, or another log process fed it): then the
/// proof is made again from that size.
async fn submit(app: &App, w: &Witness, size: u64, note: &str) -> Result<(), String> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(|e| e.to_string())?;
    let mut old = w.state.lock().unwrap_or_else(|e| e.into_inner()).cosigned.min(size);
    for _ in 0..3 {
        let body = witness::submission(&*app.vault.store, old, size, note).await.map_err(|e| e.to_string())?;
        let resp =
            client.post(format!("{}/add-checkpoint", w.url)).body(body).send().await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| e.to_string())?;
        match status {
            200 => {
                let log = app.vault.keys.signer.verifier();
                let seen = witness::accept_cosignature(note, &text, log, &w.key).map_err(|e| e.to_string())?;
                witness::store_cosigned(&*app.vault.store, &w.key, &seen).await.map_err(|e| e.to_string())?;
                return Ok(());
            }
            409 => old = witness::parse_conflict(&text).ok_or("a 409 without a size")?,
            _ => return Err(format!("refused ({status}): {}", text.trim())),
        }
    }
    Err("the witness kept changing its size".into())
}

/// Ledgers the start and the end of a lag past the configured threshold.
async fn note_lag(app: &App, w: &Witness, size: u64) {
    let threshold = Duration::from_secs(app.config.ledger.witness_alert_after_secs);
    let (behind, alerted, cosigned) = {
        let p = w.state.lock().unwrap_or_else(|e| e.into_inner());
        (p.behind_since.map(|t| t.elapsed()), p.alerted, p.cosigned)
    };
    let (action, alerted_now) = match (behind, alerted) {
        (Some(d), false) if d >= threshold => ("witness.lagging", true),
        (None, true) => ("witness.caught_up", false),
        _ => return,
    };
    let data = json!({ "witness": w.key.name(), "cosigned": cosigned, "checkpointed": size });
    let entry = NewEntry { actor: archive::ledger::actor_system(), action, subject: "ledger".into(), data };
    match app.vault.record(entry).await {
        Ok(_) => {
            w.state.lock().unwrap_or_else(|e| e.into_inner()).alerted = alerted_now;
            if alerted_now {
                tracing::error!(witness = %w.key.name(), behind = size - cosigned, "a witness has not cosigned the ledger for too long");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot ledger a witness's lag"),
    }
}

/// Sends every new checkpoint to every witness until the process ends.
pub async fn run(app: Arc<App>) {
    if app.witnesses.is_empty() {
        return;
    }
    if let Err(e) = load_progress(&app).await {
        tracing::warn!(error = %e, "cannot read what the witnesses cosigned; starting from zero");
    }
    let mut backoff = Duration::from_secs(2);
    loop {
        let mut failed = false;
        match newest(&app).await {
            Ok(Some((size, note))) => {
                for w in &app.witnesses {
                    let behind = w.state.lock().unwrap_or_else(|e| e.into_inner()).cosigned < size;
                    if behind {
                        w.state.lock().unwrap_or_else(|e| e.into_inner()).behind_since.get_or_insert_with(Instant::now);
                        match submit(&app, w, size, &note).await {
                            Ok(()) => {
                                let mut p = w.state.lock().unwrap_or_else(|e| e.into_inner());
                                (p.cosigned, p.behind_since, p.last_error) = (size, None, None);
                            }
                            Err(e) => {
                                tracing::warn!(witness = %w.key.name(), error = %e, "a witness did not cosign; will retry");
                                w.state.lock().unwrap_or_else(|e| e.into_inner()).last_error = Some(e);
                                failed = true;
                            }
                        }
                    }
                    note_lag(&app, w, size).await;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the newest checkpoint for the witnesses");
                failed = true;
            }
        }
        backoff = if failed { (backoff * 2).min(Duration::from_secs(60)) } else { Duration::from_secs(2) };
        tokio::time::sleep(backoff).await;
    }
}

/// Each witness's status against the newest checkpoint (`checkpointed` entries).
pub fn statuses(app: &App, checkpointed: u64) -> Vec<WitnessStatus> {
    app.witnesses.iter().map(|w| w.status(checkpointed)).collect()
}

/// Whether a witness has cosigned a checkpoint covering a recording's seal:
/// what its page's badge says. None when no witness is configured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Witnessed {
    /// The seal's ledger seq (None: not sealed yet).
    pub seal_seq: Option<u64>,
    /// The most entries any witness has cosigned.
    pub cosigned_entries: u64,
    pub witnessed: bool,
}

/// [`Witnessed`] for one recording.
pub async fn witnessed(app: &App, rec: archive::id::RecordingId) -> Result<Option<Witnessed>, DomainError> {
    if app.witnesses.is_empty() {
        return Ok(None);
    }
    let seal_seq =
        crate::catalog::read(&app.vault.catalog, move |repo| repo.seal_seq(rec).map_err(DomainError::from)).await?;
    let cosigned = statuses(app, 0).iter().map(|s| s.cosigned_entries).max().unwrap_or(0);
    Ok(Some(Witnessed { seal_seq, cosigned_entries: cosigned, witnessed: seal_seq.is_some_and(|s| s < cosigned) }))
}
