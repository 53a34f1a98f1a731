//! The service's side of the worker protocol, on every node: grants keys to
//! workers' claims, takes back their results, and ends claims whose lease ran
//! out. Polls the catalog, because a worker is another process.

use super::{claim_label, open_result, seal_grant, Grant, GrantedStream, SealError, GRANT_FORMAT};
use crate::app::App;
use crate::catalog::workers::{GrantDue, Lapsed, Returned};
use crate::catalog::{self, Repo};
use crate::transcript::{Transcript, FORMAT};
use crate::transcription::{context, meta_of};
use archive::id::StreamName;
use archive::ledger::actor_system;
use archive::vault::VaultError;
use std::sync::Arc;
use std::time::Duration;

/// How often a node looks for claims to serve.
const POLL: Duration = Duration::from_secs(1);

/// Serves workers' claims until shutdown.
pub async fn run(app: Arc<App>) {
    let stop = app.transcription.stopping();
    while !stop.is_cancelled() {
        if let Err(e) = serve(&app).await {
            tracing::warn!(error = %e, "cannot serve transcription workers' claims now; retrying");
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.cancelled() => {}
        }
    }
}

/// One pass: lapsed claims end first, so that no grant or result is served to
/// a worker that already lost its job.
pub async fn serve(app: &App) -> Result<(), VaultError> {
    let now = app.vault.now();
    for lapsed in queue(app, move |repo| repo.lapsed_claims(&now)).await? {
        end_lapsed(app, lapsed).await?;
    }
    // One claim the store or the catalog cannot serve now waits for the next
    // pass without holding up the others.
    for due in queue(app, |repo| repo.grants_due()).await? {
        let (job, claim) = (due.job, due.claim);
        if let Err(e) = grant(app, due).await {
            tracing::warn!(job, claim, error = %e, "cannot grant a worker's claim now");
        }
    }
    for back in queue(app, |repo| repo.returned()).await? {
        let (job, claim) = (back.job, back.claim);
        if let Err(e) = take_back(app, back).await {
            tracing::warn!(job, claim, error = %e, "cannot store a worker's result now");
        }
    }
    Ok(())
}

async fn queue<R: Send + 'static>(
    app: &App,
    f: impl FnOnce(&dyn Repo) -> catalog::Result<R> + Send + 'static,
) -> Result<R, VaultError> {
    catalog::read(&app.vault.catalog, move |repo| f(repo).map_err(VaultError::from)).await
}

/// Ends a claim as a failed attempt: retried with the node's backoff, or
/// failed for good once `max_attempts` are spent.
async fn fail_attempt(app: &App, job: i64, claim: i64, attempts: u32, error: String) -> Result<(), VaultError> {
    let cfg = &app.config.transcribe;
    let retry = (attempts + 1 < cfg.max_attempts).then(|| {
        let wait = cfg.retry_secs.saturating_mul(1 << attempts.min(16));
        archive::clock::format_ts(app.vault.clock.now() + time::Duration::seconds(wait as i64))
    });
    let now = app.vault.now();
    queue(app, move |repo| repo.end_claim(job, claim, &error, retry.as_deref(), true, &now)).await?;
    Ok(())
}

async fn end_lapsed(app: &App, l: Lapsed) -> Result<(), VaultError> {
    tracing::warn!(job = l.job, claim = l.claim, recording = %l.recording, worker = %l.worker, "a worker stopped renewing its claim; the job is retried");
    let error = format!("worker {} stopped renewing its claim", l.worker);
    fail_attempt(app, l.job, l.claim, l.attempts, error).await
}

/// Marks the job done in the transaction of its `transcript.stored`, only
/// while `claim` is still its running claim.
fn finish(job: i64, claim: i64, now: String) -> impl FnOnce(&dyn Repo) -> Result<(), VaultError> + Send + 'static {
    move |repo| {
        if repo.finish_claim(job, claim, &now)? {
            Ok(())
        } else {
            Err(VaultError::Conflict(format!("claim {claim} of job {job} is no longer running")))
        }
    }
}

async fn grant(app: &App, due: GrantDue) -> Result<(), VaultError> {
    let (job, claim, rec) = (due.job, due.claim, due.recording);
    // A crash after a transcript's put and before its entry: record what is
    // in the store rather than transcribe again.
    let adopted = app
        .vault
        .adopt_transcript(
            &actor_system(),
            rec,
            crate::transcription::meta_of_stored,
            catalog::in_tx(finish(job, claim, app.vault.now())),
        )
        .await?;
    if adopted.is_some() {
        app.index.wake();
        return Ok(());
    }
    let recipient = match due.recipient.parse::<age::x25519::Recipient>() {
        Ok(r) => r,
        // Enrollment checks the recipient; one that no longer parses was
        // altered in the catalog. The claim ends, uncounted, and waits for an
        // admin to enroll the worker again.
        Err(e) => {
            let error = format!("worker {}'s recipient does not parse ({e}); enroll it again", due.worker);
            tracing::error!(job, worker = %due.worker, %error, "cannot grant a worker's claim");
            let now = app.vault.now();
            queue(app, move |repo| repo.end_claim(job, claim, &error, Some(&now), false, &now)).await?;
            return Ok(());
        }
    };
    let sealed = match grant_for(app, &due).await.and_then(|g| seal_grant(&g, &recipient).map_err(sealing)) {
        Ok(sealed) => sealed,
        // Keys that do not unwrap, or a recording gone: no retry can mend it.
        Err(
            e @ (VaultError::Key(_) | VaultError::Shredded(_) | VaultError::NoRecording(_) | VaultError::NoStream(_)),
        ) => {
            let error = format!("the recording is unreadable as stored: {e}");
            tracing::error!(job, recording = %rec, %error, "cannot grant a worker this job");
            let now = app.vault.now();
            queue(app, move |repo| repo.end_claim(job, claim, &error, None, true, &now)).await?;
            return Ok(());
        }
        // The grant could not be sealed: a failed attempt, retried.
        Err(VaultError::Conflict(why)) => {
            return fail_attempt(app, job, claim, due.attempts, format!("the grant: {why}")).await
        }
        // The store or the catalog did not answer: the claim waits for its
        // keys until the next pass (and may lapse meanwhile).
        Err(e) => return Err(e),
    };
    let (worker, now) = (due.worker.clone(), app.vault.now());
    queue(app, move |repo| repo.put_grant(job, claim, &worker, &sealed, &now)).await?;
    tracing::info!(job, claim, recording = %rec, worker = %due.worker, "keys granted to a transcription worker");
    Ok(())
}

fn sealing(e: SealError) -> VaultError {
    VaultError::Conflict(e.to_string())
}

/// The grant of one claim: the facts and keys of every stream of the recording.
async fn grant_for(app: &App, due: &GrantDue) -> Result<Grant, VaultError> {
    let rec = due.recording;
    let ctx = context(app, rec, app.config.transcribe.language.clone()).await?;
    let mut streams = Vec::new();
    for (id, label, opened_at) in ctx.streams {
        let info = app.vault.stream(id).await?;
        let dek = app.vault.data_key(rec, StreamName::Media(id)).await?;
        streams.push(GrantedStream {
            id,
            label,
            opened_at,
            manifest: info.manifest,
            dek: super::b64(&dek.handed_over()[..]),
        });
    }
    let label = claim_label(due.job, due.claim, &rec.to_string());
    let result_key = app.vault.keys.worker_result_key(&label);
    Ok(Grant {
        format: GRANT_FORMAT.into(),
        job: due.job,
        claim: due.claim,
        recording: rec.to_string(),
        meeting: ctx.meeting,
        org: ctx.org,
        language: ctx.language,
        streams,
        result_key: super::b64(&result_key.handed_over()[..]),
    })
}

/// Opens a returned result, checks it, and stores it as the recording's
/// transcript. A result that does not open or is not a transcript of this
/// recording fails the attempt; the store being down leaves it for next pass.
async fn take_back(app: &App, back: Returned) -> Result<(), VaultError> {
    let (job, claim, rec) = (back.job, back.claim, back.recording);
    let label = claim_label(job, claim, &rec.to_string());
    let key = app.vault.keys.worker_result_key(&label);
    let ctx = context(app, rec, app.config.transcribe.language.clone()).await?;
    let doc = open_result(&key.handed_over(), &label, &back.result)
        .map_err(|e| e.to_string())
        .and_then(|plain| serde_json::from_slice::<Transcript>(&plain).map_err(|e| format!("not a transcript: {e}")))
        .map(|doc| (doc, ctx));
    let doc = doc.and_then(|(doc, ctx)| check(&doc, &rec.to_string(), &ctx).map(|()| doc));
    let doc = match doc {
        Ok(doc) => doc,
        Err(why) => {
            tracing::error!(job, claim, recording = %rec, worker = %back.worker, %why, "a worker's result is refused");
            let error = format!("the result of worker {} is refused: {why}", back.worker);
            return fail_attempt(app, job, claim, back.attempts, error).await;
        }
    };
    let mut meta = meta_of(&doc);
    meta["worker"] = serde_json::Value::String(back.worker.clone());
    let bytes = serde_json::to_vec(&doc).map_err(|e| VaultError::Conflict(e.to_string()))?;
    let link = catalog::in_tx(finish(job, claim, app.vault.now()));
    match app.vault.store_transcript(&actor_system(), rec, bytes, meta, link).await {
        Ok(_) => {}
        // The store is down: the result waits for the next pass.
        Err(e @ VaultError::Store(_)) => return Err(e),
        // Shredded meanwhile: nothing is left to transcribe.
        Err(e @ VaultError::Shredded(_)) => {
            let error = e.to_string();
            let now = app.vault.now();
            queue(app, move |repo| repo.end_claim(job, claim, &error, None, true, &now)).await?;
            return Ok(());
        }
        // Anything else fails the attempt; the next claim's grant first adopts
        // a transcript object a cut commit left in the store.
        Err(e) => {
            let error = format!("the result of worker {} was not stored: {e}", back.worker);
            tracing::error!(job, claim, recording = %rec, %error, "a worker's result is not stored");
            return fail_attempt(app, job, claim, back.attempts, error).await;
        }
    }
    tracing::info!(job, claim, recording = %rec, worker = %back.worker, segments = doc.segments.len(), "transcription stored from a worker");
    app.index.wake();
    Ok(())
}

/// What a node checks of a worker's transcript before sealing it: its format,
/// and that it is of the recording, meeting, org and streams the claim was for.
fn check(doc: &Transcript, rec: &str, ctx: &crate::transcription::Context) -> Result<(), String> {
    if doc.format != FORMAT {
        return Err(format!("format {:?}", doc.format));
    }
    if doc.recording != rec {
        return Err(format!("a transcript of recording {}, not {rec}", doc.recording));
    }
    if !doc.machine_generated {
        return Err("a worker's transcript is machine-generated".into());
    }
    if doc.meeting != ctx.meeting || doc.org != ctx.org {
        return Err("the meeting or org is not the recording's".into());
    }
    let ours = |s: &str| ctx.streams.iter().any(|(id, ..)| id.to_string() == s);
    if let Some(other) = doc.streams.iter().find(|p| !ours(&p.stream)) {
        return Err(format!("stream {} is not the recording's", other.stream));
    }
    if doc.segments.iter().any(|l| !ours(&l.stream)) {
        return Err("a segment names a stream that is not the recording's".into());
    }
    Ok(())
}
