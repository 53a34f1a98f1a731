//! The witness commands: `witness init`, `witness serve` (C2SP tlog-witness over
//! HTTP, on `archive::witness`), `witness push` (submit a store's newest
//! checkpoint), and reading witnesses' latest cosigned checkpoints for `verify`
//! and `witness-status`.
//!
//! The witness holds only its own key and the logs' public keys: never a KEK.

use anyhow::{bail, Context};
use archive::cosign::{open_witnessed, Cosigner, WitnessKey, Witnessed};
use archive::keys::VerifierKey;
use archive::ledger::Entry;
use archive::store::Store;
use archive::witness::{self, AddCheckpoint, Witness, WitnessPolicy, WitnessReport};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Writes a new witness key: the private key to `key` (owner-only), and prints
/// the verifier key to give to auditors.
pub fn init(name: &str, key: &Path) -> anyhow::Result<()> {
    let (cosigner, private) = Cosigner::generate(name)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut file = opts.open(key).with_context(|| format!("cannot create {}", key.display()))?;
    file.write_all(private.as_bytes())?;
    file.sync_all()?;
    println!("{}", cosigner.key());
    Ok(())
}

fn read_trimmed(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text.trim().to_string())
}

pub fn load_cosigner(path: &Path) -> anyhow::Result<Cosigner> {
    Cosigner::from_private(&read_trimmed(path)?).with_context(|| format!("{} is not a witness key", path.display()))
}

pub fn load_log_key(path: &Path) -> anyhow::Result<VerifierKey> {
    read_trimmed(path)?.parse().with_context(|| format!("{} is not a ledger verifier key", path.display()))
}

/// A witness key given as a file or as the key text itself.
pub fn load_witness_key(arg: &str) -> anyhow::Result<WitnessKey> {
    let text = if Path::new(arg).is_file() { read_trimmed(Path::new(arg))? } else { arg.to_string() };
    text.parse().with_context(|| format!("{arg} is not a witness verifier key"))
}

fn now_unix() -> u64 {
    u64::try_from(archive::clock::system_now().unix_timestamp()).unwrap_or(0)
}

/// Serves `POST /add-checkpoint` and `GET /<origin hash>/checkpoint` until
/// interrupted. Prints `listening on http://<addr>` once bound.
pub async fn serve(key: &Path, logs: &[PathBuf], state: &Path, listen: &str) -> anyhow::Result<()> {
    let cosigner = load_cosigner(key)?;
    let logs = logs.iter().map(|p| load_log_key(p)).collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(!logs.is_empty(), "give at least one --log-key");
    let names: Vec<String> = logs.iter().map(|k| k.name().to_string()).collect();
    let w = Arc::new(Witness::new(cosigner, logs, state).with_context(|| format!("cannot use {}", state.display()))?);
    let app = Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/{origin_hash}/checkpoint", get(latest))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(w.clone());
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    println!("witness {} for {} listening on http://{}", w.key(), names.join(", "), listener.local_addr()?);
    std::io::stdout().flush()?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn add_checkpoint(State(w): State<Arc<Witness>>, body: Bytes) -> Response {
    let now = now_unix();
    let handled = tokio::task::spawn_blocking(move || w.add_checkpoint(&body, now)).await;
    match handled {
        Ok(Ok(lines)) => {
            eprintln!("cosigned at {now}");
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], lines).into_response()
        }
        Ok(Err(refusal)) => {
            eprintln!("refused ({}): {refusal}", refusal.status());
            let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let ct = if refusal.status() == 409 { "text/x.tlog.size" } else { "text/plain; charset=utf-8" };
            (status, [(header::CONTENT_TYPE, ct)], refusal.body()).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn latest(State(w): State<Arc<Witness>>, UrlPath(origin_hash): UrlPath<String>) -> Response {
    match tokio::task::spawn_blocking(move || w.latest(&origin_hash)).await {
        Ok(Ok(Some(note))) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response(),
        Ok(Ok(None)) => {
            (StatusCode::NOT_FOUND, "this witness has cosigned no checkpoint of that log\n").into_response()
        }
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// Submits the store's newest checkpoint to a witness, with the consistency
/// proof from the size the witness holds (learnt from its 409), and returns what
/// it cosigned. The proof comes from the store's tiles, or from the verified
/// ledger where the store has none yet.
pub async fn push(
    store: &Store,
    log: &VerifierKey,
    url: &str,
    witness_key: &WitnessKey,
    record: bool,
) -> anyhow::Result<Witnessed> {
    let (report, entries) = archive::verify::verify_ledger(store, log, &Default::default()).await?;
    anyhow::ensure!(!report.failed(), "the store's ledger does not verify: {}", report.damage().join("; "));
    let size = report.newest_checkpoint_size.context("the store has no checkpoint yet")?;
    let body = store.get(archive::layout::ObjectKey::checkpoint(size - 1).as_str()).await?;
    let note = serde_json::from_slice::<archive::checkpoint::CheckpointObject>(&body)?.note;
    let client = reqwest::Client::new();
    let mut old = 0;
    for _ in 0..3 {
        let proof = consistency(store, &entries, old, size).await?;
        let req = AddCheckpoint { old, proof, checkpoint: note.clone() }.encode();
        let resp = client.post(format!("{}/add-checkpoint", url.trim_end_matches('/'))).body(req).send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        match status.as_u16() {
            200 => {
                let seen = witness::accept_cosignature(&note, &text, log, witness_key)?;
                if record {
                    let key = witness::store_cosigned(&**store, witness_key, &seen).await?;
                    eprintln!("recorded {key}");
                }
                return Ok(seen);
            }
            409 => old = witness::parse_conflict(&text).context("a 409 without a size")?,
            _ => bail!("the witness refused the checkpoint of {size} entries ({status}): {}", text.trim()),
        }
    }
    bail!("the witness kept changing its size")
}

async fn consistency(store: &Store, entries: &[Entry], old: u64, size: u64) -> anyhow::Result<Vec<[u8; 32]>> {
    if let Ok(p) = archive::tiles::TileReader::new(&**store, size).consistency(old).await {
        return Ok(p);
    }
    let tree = archive::proof::TreeLevels::from_entry_hashes(entries.iter().take(size as usize).map(|e| &e.hash));
    Ok(tree.consistency(old, size)?)
}

/// Reads each witness's latest cosigned checkpoint of this log from each source
/// (a monitoring URL prefix or a file holding the note) and keeps, per witness
/// key, the one with the most entries that verifies.
pub async fn views(
    sources: &[String],
    keys: &[WitnessKey],
    log: &VerifierKey,
) -> Vec<(String, Result<Witnessed, String>)> {
    let mut notes = Vec::new();
    for s in sources {
        notes.push((s.clone(), fetch(s, log).await));
    }
    keys.iter()
        .map(|k| {
            let mut best: Result<Witnessed, String> = Err(format!("no source holds a checkpoint cosigned by {k}"));
            for (source, note) in &notes {
                match note.as_ref().map(|n| open_witnessed(n, log, k)) {
                    Ok(Ok(seen)) if best.as_ref().map_or(true, |b| seen.checkpoint.size > b.checkpoint.size) => {
                        best = Ok(seen)
                    }
                    Err(e) if best.is_err() => best = Err(format!("{source}: {e}")),
                    _ => {}
                }
            }
            (k.name().to_string(), best)
        })
        .collect()
}

async fn fetch(source: &str, log: &VerifierKey) -> Result<String, String> {
    if source.starts_with("http://") || source.starts_with("https://") {
        let url = format!("{}/{}/checkpoint", source.trim_end_matches('/'), witness::origin_hash(log.name()));
        let resp = reqwest::get(&url).await.map_err(|e| format!("cannot read {url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("{url} answered {}", resp.status()));
        }
        resp.text().await.map_err(|e| e.to_string())
    } else {
        std::fs::read_to_string(source).map_err(|e| format!("cannot read {source}: {e}"))
    }
}

/// Parses `30s`, `15m`, `12h`, `1d`, `2w`.
pub fn parse_lag(s: &str) -> anyhow::Result<time::Duration> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = n.parse().with_context(|| format!("{s:?} is not a duration like 12h or 1d"))?;
    Ok(match unit {
        "s" => time::Duration::seconds(n),
        "m" => time::Duration::minutes(n),
        "h" | "" => time::Duration::hours(n),
        "d" => time::Duration::days(n),
        "w" => time::Duration::weeks(n),
        _ => bail!("{s:?}: the unit is one of s, m, h, d, w"),
    })
}

/// Prints a witness report: each witness, then the lag; returns whether it failed.
pub fn print_report(r: &WitnessReport, total: u64, policy: &WitnessPolicy) -> bool {
    for v in &r.witnesses {
        match (&v.unavailable, v.size) {
            (Some(why), _) => println!("  witness {}: not available: {why}", v.witness),
            (None, Some(size)) => println!(
                "  witness {}: cosigned {size} of {total} entries (checkpoint of {}) at {}",
                v.witness,
                v.checkpoint_time.as_deref().unwrap_or("?"),
                v.cosigned_at.as_deref().unwrap_or("?")
            ),
            _ => {}
        }
    }
    match (r.witnessed_size, r.unwitnessed_age_secs) {
        (Some(size), Some(age)) if r.unwitnessed_entries > 0 => println!(
            "  witnessed: {size} entries (quorum {}); {} not yet witnessed, the oldest {} old",
            policy.quorum,
            r.unwitnessed_entries,
            witness::human_secs(age)
        ),
        (Some(size), _) => println!("  witnessed: all {size} entries (quorum {})", policy.quorum),
        (None, _) => println!(
            "  witnessed: none (quorum {}); {} entries not yet witnessed",
            policy.quorum, r.unwitnessed_entries
        ),
    }
    for p in &r.problems {
        println!("INVALID: {p}");
    }
    for p in &r.policy_failures {
        println!("witness policy not met: {p}");
    }
    r.failed()
}
