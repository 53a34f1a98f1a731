//! `niem worker transcribe`: a process that pulls transcription jobs from the
//! catalog, reads the media from the store with the keys a node grants it, and
//! returns the transcript sealed for the service. It holds no KEK, serves no
//! request, and never writes the ledger or the store.

use super::{claim_label, key_of, open_grant, seal_result, Grant, SealError};
use crate::catalog::{self, Job, Repo};
use crate::config::Config;
use crate::transcript::{ModelRef, Transcript, FORMAT};
use crate::transcription::{stream_result, transcribe_part, JobError, Loaded, Part};
use anyhow::Context as _;
use archive::catalog::Catalog;
use archive::chunk::{Binding, StreamKey};
use archive::clock::{format_ts, Clock, SystemClock};
use archive::id::StreamName;
use archive::keys::Dek;
use archive::store::Store;
use archive::vault::StreamInfo;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A worker's standing: its name, identity, model and the shared engines.
pub struct Worker {
    pub name: String,
    identity: age::x25519::Identity,
    model: Arc<Loaded>,
    catalog: Catalog,
    store: Store,
    config: Config,
    clock: SystemClock,
}

/// Reads the worker's age identity, or makes one (mode 0600) on first run.
/// Returns it and whether it is new.
pub fn load_identity(path: &std::path::Path) -> anyhow::Result<(age::x25519::Identity, bool)> {
    use age::secrecy::ExposeSecret;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let id = text.trim().parse::<age::x25519::Identity>().map_err(|e| {
                anyhow::anyhow!("{} is not an age X25519 identity (AGE-SECRET-KEY-1…): {e}", path.display())
            })?;
            Ok((id, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = age::x25519::Identity::generate();
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            writeln!(f, "{}", id.to_string().expose_secret())?;
            f.sync_all()?;
            Ok((id, true))
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The service's catalog as it is: checked, never migrated (the service does
/// that), SQLite beside the node or the nodes' PostgreSQL.
fn open_catalog(config: &Config) -> anyhow::Result<Catalog> {
    if let Some(url) = &config.catalog.url {
        let catalog =
            Catalog::connect_postgres(url, 2).context("cannot connect to the PostgreSQL catalog (catalog.url)")?;
        catalog.run(|c| c.either(|_| Ok(()), catalog::postgres::schema::require_migrated))?;
        return Ok(catalog);
    }
    let path = config.catalog_path();
    Catalog::open_migrated(&path)
        .and_then(|c| c.require_migrated("ingest", catalog::sqlite::MIGRATIONS).map(|()| c))
        .with_context(|| format!("cannot use the catalog {}", path.display()))
}

impl Worker {
    /// Opens the catalog (checked, never migrated: the service does that) and
    /// the store, and loads the model.
    pub async fn start(config: Config, name: String, identity: age::x25519::Identity) -> anyhow::Result<Worker> {
        anyhow::ensure!(super::valid_name(&name), "a worker name is 1 to 64 of a-z, 0-9, '.', '_' and '-'");
        let catalog = open_catalog(&config)?;
        let store = crate::app::open_store(&config).await?;
        let model_path = config.transcribe.model.clone().context("a worker needs a model: set transcribe.model")?;
        let model = tokio::task::spawn_blocking(move || Loaded::load(&model_path))
            .await?
            .map_err(|e| anyhow::anyhow!("the Whisper model did not load: {e}"))?;
        tracing::info!(worker = %name, model = %model.name, sha256 = %model.sha256, "transcription worker ready");
        Ok(Worker { name, identity, model: Arc::new(model), catalog, store, config, clock: SystemClock })
    }

    /// The recipient an admin enrolls this worker with.
    pub fn recipient(&self) -> String {
        self.identity.to_public().to_string()
    }

    fn now(&self) -> String {
        format_ts(self.clock.now())
    }

    fn lease(&self) -> Duration {
        Duration::from_secs(self.config.transcribe.lease_secs.max(1))
    }

    fn until(&self, d: Duration) -> String {
        after(&self.clock, d)
    }

    async fn catalog<R: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Repo) -> catalog::Result<R> + Send + 'static,
    ) -> anyhow::Result<R> {
        catalog::read(&self.catalog, move |repo| f(repo).map_err(anyhow::Error::from)).await
    }

    /// Pulls and runs jobs until `stop` is cancelled.
    pub async fn run(&self, stop: CancellationToken) -> anyhow::Result<()> {
        let name = self.name.clone();
        let enrolled = self
            .catalog(move |repo| Ok(repo.workers()?.into_iter().any(|w| w.name == name && w.removed_at.is_none())))
            .await?;
        if !enrolled {
            tracing::warn!(worker = %self.name, recipient = %self.recipient(), "this worker is not enrolled: it claims no job until an admin enrolls it with its recipient");
        }
        while !stop.is_cancelled() {
            let (name, now, until) = (self.name.clone(), self.now(), self.until(self.lease()));
            match self.catalog(move |repo| repo.claim_job_as(&name, &now, &until)).await? {
                Some(job) => self.run_claim(job, &stop).await?,
                None => tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                    _ = stop.cancelled() => {}
                },
            }
        }
        Ok(())
    }

    /// Runs one claim: renews it meanwhile, and returns its result or ends it.
    async fn run_claim(&self, job: Job, stop: &CancellationToken) -> anyhow::Result<()> {
        let (id, claim, rec) = (job.id, job.claim, job.recording);
        tracing::info!(job = id, claim, recording = %rec, attempt = job.attempts + 1, "claimed a transcription job");
        let lost = stop.child_token();
        let progress = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
        let renewals = self.renew(job.clone(), lost.clone(), progress.clone());
        let outcome = self.transcribe(&job, &lost, &progress).await;
        renewals.abort();
        let lost_it = lost.is_cancelled() && !stop.is_cancelled();
        let now = self.now();
        match outcome {
            Ok(sealed) => {
                let name = self.name.clone();
                let back = self.catalog(move |repo| repo.return_result(id, claim, &name, &sealed, &now)).await?;
                if back {
                    tracing::info!(job = id, claim, recording = %rec, "transcript returned for a node to seal");
                } else {
                    tracing::warn!(job = id, claim, recording = %rec, "the claim was lost before its result was returned");
                }
                Ok(())
            }
            Err(_) if lost_it => {
                tracing::warn!(job = id, claim, recording = %rec, "the claim was lost (lapsed, taken over or worker removed); the job stopped");
                Ok(())
            }
            Err(Failure::Grant(e)) => {
                let error = format!("worker {} could not open its grant: {e}", self.name);
                self.catalog(move |repo| repo.end_claim(id, claim, &error, Some(&now), false, &now)).await?;
                anyhow::bail!(
                    "the keys granted to this worker do not open with its identity ({e}): enroll it with {}",
                    self.recipient()
                )
            }
            Err(Failure::Job(e)) => self.end(&job, e).await,
        }
    }

    /// Ends a claim that did not produce a result, as a node's own thread would.
    async fn end(&self, job: &Job, e: JobError) -> anyhow::Result<()> {
        let cfg = &self.config.transcribe;
        let (id, claim, now) = (job.id, job.claim, self.now());
        let later = |secs: u64| self.until(Duration::from_secs(secs));
        let (error, retry, counted) = match e {
            JobError::Stopped => ("the worker stopped".to_string(), Some(now.clone()), false),
            JobError::Store(error) => (error, Some(later(cfg.retry_secs)), false),
            JobError::Failed(error) if job.attempts + 1 < cfg.max_attempts => {
                (error, Some(later(cfg.retry_secs.saturating_mul(1 << job.attempts.min(16)))), true)
            }
            JobError::Failed(error) => (error, None, true),
            JobError::Unreadable(why) => (format!("the recording is unreadable as stored: {why}"), None, true),
        };
        tracing::warn!(job = id, claim, recording = %job.recording, %error, retried = retry.is_some(), "transcription did not finish");
        self.catalog(move |repo| repo.end_claim(id, claim, &error, retry.as_deref(), counted, &now)).await?;
        Ok(())
    }

    /// Renews the claim every third of its lease; cancels `lost` when the
    /// catalog says the claim is no longer this worker's.
    fn renew(
        &self,
        job: Job,
        lost: CancellationToken,
        progress: Arc<(AtomicU64, AtomicU64)>,
    ) -> tokio::task::JoinHandle<()> {
        let (catalog, name, lease) = (self.catalog.clone(), self.name.clone(), self.lease());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                let (now, until) = (format_ts(SystemClock.now()), after(&SystemClock, lease));
                let (done, total) = (progress.0.load(Ordering::Relaxed), progress.1.load(Ordering::Relaxed));
                let (id, claim, name) = (job.id, job.claim, name.clone());
                let held = catalog::read(&catalog, move |repo| {
                    repo.renew_claim(id, claim, &name, &now, &until, (done, (total > 0).then_some(total)))
                        .map_err(anyhow::Error::from)
                })
                .await;
                match held {
                    Ok(true) => {}
                    Ok(false) => {
                        lost.cancel();
                        return;
                    }
                    // The catalog did not answer: try again; the lease is three renewals long.
                    Err(e) => tracing::warn!(job = id, error = %e, "cannot renew the claim"),
                }
            }
        })
    }

    /// Waits for the claim's grant, transcribes every stream, and seals the
    /// transcript under the claim's result key.
    async fn transcribe(
        &self,
        job: &Job,
        stop: &CancellationToken,
        progress: &Arc<(AtomicU64, AtomicU64)>,
    ) -> Result<Vec<u8>, Failure> {
        let grant = self.grant(job, stop).await?;
        let rec = job.recording;
        let total: u64 =
            grant.streams.iter().filter_map(|s| s.manifest.media.as_ref()?.get("duration_ms")?.as_u64()).sum();
        progress.1.store(total, Ordering::Relaxed);
        let opts = self.config.transcribe.options(grant.language.clone());
        let mut results = Vec::new();
        let mut before = 0;
        for s in &grant.streams {
            let dek = Dek::from_handed_over(key_of(&s.dek).map_err(Failure::Grant)?);
            let prefix = hex::decode(&s.manifest.nonce_prefix)
                .ok()
                .and_then(|p| p.try_into().ok())
                .ok_or_else(|| Failure::Grant(SealError::Malformed("a nonce prefix".into())))?;
            let key = Arc::new(StreamKey::new(&dek, prefix, Binding { rec, stream: StreamName::Media(s.id) }));
            let info = StreamInfo { rec, manifest: s.manifest.clone() };
            let part = Part { store: self.store.clone(), key, info: &info };
            let report = |done: u64| {
                progress.0.store(before + done, Ordering::Relaxed);
                std::future::ready(())
            };
            let r = transcribe_part(part, &self.model, &opts, stop, report).await.map_err(Failure::Job)?;
            let result = stream_result(s.id, &s.label, &s.opened_at, r).map_err(Failure::Job)?;
            before += result.part.audio_ms;
            results.push(result);
        }
        let head = Transcript {
            format: FORMAT.into(),
            recording: rec.to_string(),
            meeting: grant.meeting.clone(),
            org: grant.org.clone(),
            language: grant.language.clone(),
            machine_generated: true,
            model: ModelRef { name: self.model.name.clone(), sha256: self.model.sha256.clone() },
            created_at: self.now(),
            streams: Vec::new(),
            segments: Vec::new(),
        };
        let doc = Transcript::merge(head, results);
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(&doc).map_err(|e| Failure::Job(JobError::Failed(e.to_string())))?,
        );
        let key = key_of(&grant.result_key).map_err(Failure::Grant)?;
        seal_result(&key, &claim_label(job.id, job.claim, &rec.to_string()), &plain).map_err(Failure::Grant)
    }

    /// Waits for a node to grant the claim its keys.
    async fn grant(&self, job: &Job, stop: &CancellationToken) -> Result<Grant, Failure> {
        let (id, claim) = (job.id, job.claim);
        loop {
            let name = self.name.clone();
            let sealed = self
                .catalog(move |repo| repo.grant(id, claim, &name))
                .await
                .map_err(|e| Failure::Job(JobError::Store(format!("{e:#}"))))?;
            if let Some(sealed) = sealed {
                return open_grant(&sealed, &self.identity, id, claim).map_err(Failure::Grant);
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = stop.cancelled() => return Err(Failure::Job(JobError::Stopped)),
            }
        }
    }
}

/// The time `d` from now on `clock`, as the catalog stores times.
fn after(clock: &dyn Clock, d: Duration) -> String {
    format_ts(clock.now() + time::Duration::try_from(d).unwrap_or(time::Duration::MAX))
}

/// Why a claim produced no result.
enum Failure {
    /// The grant did not open with this worker's identity, or is malformed.
    Grant(SealError),
    Job(JobError),
}
