//! Transcription workers: every sealed recording's streams, decrypted in memory,
//! decoded and run through Whisper, merged into one transcript and sealed.
//!
//! - The model is loaded once (and hashed, so the transcript can name it) and
//!   shared by `transcribe.concurrency` workers, each with its own Whisper state
//!   on a blocking thread.
//! - With no model configured the service runs as before: jobs are queued and
//!   wait, one warning is logged at start, and `GET /api/v1/jobs` says why.
//! - A job that fails is retried with doubling backoff up to
//!   `transcribe.max_attempts`, then shown as failed with its reason. A store
//!   outage or a shutdown puts the job back without counting an attempt. Media
//!   that fails authentication (an altered or missing chunk) or a key that does
//!   not unwrap fails the job at once with that reason: no retry can mend it,
//!   and taking it for an outage would retry it forever.
//! - Logs carry ids, durations and counts, never text.

use crate::app::App;
use crate::catalog::{self, Repo};
use crate::config::TranscribeConfig;
use crate::jobs::Job;
use crate::transcript::{ModelRef, StreamPart, StreamResult, Transcript, FORMAT};
use archive::id::{RecordingId, StreamId};
use archive::ledger::actor_system;
use archive::reader::StreamReader;
use archive::vault::VaultError;
use media::transcribe::{Model, Options};
use media::MediaError;
use serde::Serialize;
use serde_json::json;
use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Where the model stands, as the API shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ModelState {
    /// `transcribe.model` is not set: jobs wait.
    NotConfigured,
    Loading {
        name: String,
    },
    Ready {
        name: String,
        sha256: String,
        load_ms: u64,
    },
    /// The file is missing or not a model whisper.cpp can load: jobs wait.
    Failed {
        error: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub model: ModelState,
    pub language: String,
    pub threads: u32,
    pub concurrency: usize,
    /// Wall time over audio time of the last job (lower is faster).
    pub last_real_time_factor: Option<f64>,
}

/// A model loaded and hashed.
pub(crate) struct Loaded {
    pub model: Model,
    pub name: String,
    pub sha256: String,
}

pub struct Transcription {
    config: TranscribeConfig,
    state: Mutex<ModelState>,
    wake: tokio::sync::Notify,
    stop: CancellationToken,
    last_rtf: Mutex<Option<f64>>,
}

/// Why a job did not finish.
#[derive(Debug)]
pub(crate) enum JobError {
    /// Shutdown: back to the queue as it was.
    Stopped,
    /// The store could not be reached: back to the queue, no attempt counted.
    Store(String),
    /// Counted as a failed attempt.
    Failed(String),
    /// The recording cannot be read as stored: its media fails authentication
    /// or is missing, its key does not unwrap, or it was shredded. Failed at
    /// once, with the reason.
    Unreadable(String),
}

impl From<VaultError> for JobError {
    fn from(e: VaultError) -> Self {
        use archive::keys::KeyError as K;
        match e {
            VaultError::Store(e) => JobError::Store(e.to_string()),
            VaultError::Key(K::UnwrapFailed(_) | K::UnknownKek(_) | K::Format(_)) | VaultError::Shredded(_) => {
                JobError::Unreadable(e.to_string())
            }
            e => JobError::Failed(e.to_string()),
        }
    }
}

impl JobError {
    /// What a failed read of a stream means: the store answered that the chunk
    /// is altered or gone (unreadable for good), or it did not answer.
    fn of_read(e: &std::io::Error) -> JobError {
        use archive::reader::ReadError;
        use archive::store::StoreError;
        match e.get_ref().and_then(|inner| inner.downcast_ref::<ReadError>()) {
            Some(ReadError::Chunk(c)) => JobError::Unreadable(c.to_string()),
            Some(ReadError::Store(StoreError::NotFound(key))) => {
                JobError::Unreadable(format!("object {key} is missing from the store"))
            }
            _ => JobError::Store(e.to_string()),
        }
    }
}

impl Transcription {
    pub fn new(config: &TranscribeConfig) -> Self {
        let state = match &config.model {
            None => ModelState::NotConfigured,
            Some(p) => ModelState::Loading { name: file_name(p) },
        };
        Transcription {
            config: config.clone(),
            state: Mutex::new(state),
            wake: tokio::sync::Notify::new(),
            stop: CancellationToken::new(),
            last_rtf: Mutex::new(None),
        }
    }

    pub fn status(&self) -> Status {
        Status {
            model: lock(&self.state).clone(),
            language: self.config.language.clone(),
            threads: self.config.threads,
            concurrency: self.config.concurrency,
            last_real_time_factor: *lock(&self.last_rtf),
        }
    }

    /// A job was queued: let an idle worker look now.
    pub fn wake(&self) {
        self.wake.notify_waiters();
    }

    /// Shutdown: running jobs stop at their next block of audio and go back to
    /// the queue.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Cancelled at shutdown.
    pub fn stopping(&self) -> CancellationToken {
        self.stop.clone()
    }

    fn options(&self, language: String) -> Options {
        self.config.options(language)
    }
}

impl Loaded {
    /// Hashes and loads a GGML model (blocking: seconds for a large one).
    pub(crate) fn load(path: &std::path::Path) -> Result<Loaded, String> {
        let sha256 = archive::sha256_file(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let model = Model::load(path).map_err(|e| e.to_string())?;
        Ok(Loaded { model, name: file_name(path), sha256 })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn file_name(p: &std::path::Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string())
}

/// Loads the model and starts the workers; returns at once when no model is set.
pub async fn run(app: Arc<App>) {
    let t = &app.transcription;
    let Some(path) = t.config.model.clone() else {
        tracing::warn!(
            "no Whisper model configured (transcribe.model): recordings are stored and their transcription jobs wait"
        );
        return;
    };
    let started = Instant::now();
    let load = tokio::task::spawn_blocking(move || Loaded::load(&path)).await.unwrap_or_else(|e| Err(e.to_string()));
    let loaded = match load {
        Ok(l) => Arc::new(l),
        Err(error) => {
            tracing::error!(%error, "the Whisper model did not load; transcription jobs wait");
            *lock(&t.state) = ModelState::Failed { error };
            return;
        }
    };
    let load_ms = started.elapsed().as_millis() as u64;
    tracing::info!(model = %loaded.name, sha256 = %loaded.sha256, load_ms, multilingual = loaded.model.is_multilingual(), "Whisper model loaded");
    *lock(&t.state) = ModelState::Ready { name: loaded.name.clone(), sha256: loaded.sha256.clone(), load_ms };
    for _ in 0..t.config.concurrency {
        tokio::spawn(worker(app.clone(), loaded.clone()));
    }
}

async fn worker(app: Arc<App>, model: Arc<Loaded>) {
    let t = &app.transcription;
    while !t.stop.is_cancelled() {
        let now = app.vault.now();
        let job = match queue(&app, move |repo| repo.claim_job(&now)).await {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the job queue");
                None
            }
        };
        match job {
            Some(job) => run_job(&app, &model, job).await,
            None => {
                let notified = t.wake.notified();
                tokio::select! {
                    _ = notified => {}
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    _ = t.stop.cancelled() => {}
                }
            }
        }
    }
}

async fn run_job(app: &App, model: &Arc<Loaded>, job: Job) {
    let (id, rec) = (job.id, job.recording);
    let started = Instant::now();
    tracing::info!(job = id, recording = %rec, attempt = job.attempts + 1, "transcription started");
    let outcome = transcribe_recording(app, model, &job).await;
    let cfg = &app.transcription.config;
    let now = app.vault.now();
    let later = |secs: u64| archive::clock::format_ts(app.vault.clock.now() + time::Duration::seconds(secs as i64));
    let update = match outcome {
        Ok(audio_ms) => {
            let secs = started.elapsed().as_secs_f64();
            let rtf = (audio_ms > 0).then(|| secs * 1000.0 / audio_ms as f64);
            if rtf.is_some() {
                *lock(&app.transcription.last_rtf) = rtf;
            }
            tracing::info!(job = id, recording = %rec, audio_ms, wall_ms = (secs * 1000.0) as u64, real_time_factor = rtf.unwrap_or(0.0), "transcription stored");
            return;
        }
        Err(JobError::Stopped) => {
            tracing::info!(job = id, recording = %rec, "transcription stopped by shutdown; it runs again at next start");
            queue(app, move |repo| repo.put_job_back(id, None, &now)).await
        }
        Err(JobError::Store(error)) => {
            tracing::warn!(job = id, recording = %rec, %error, "transcription waits for the store");
            let at = later(cfg.retry_secs);
            queue(app, move |repo| repo.put_job_back(id, Some(&error), &at)).await
        }
        Err(JobError::Failed(error)) if job.attempts + 1 < cfg.max_attempts => {
            let wait = cfg.retry_secs.saturating_mul(1 << job.attempts.min(16));
            tracing::warn!(job = id, recording = %rec, %error, retry_in_secs = wait, "transcription failed; it will be retried");
            let at = later(wait);
            queue(app, move |repo| repo.job_failed(id, &error, Some(&at), &now)).await
        }
        Err(JobError::Failed(error)) => {
            tracing::error!(job = id, recording = %rec, %error, attempts = job.attempts + 1, "transcription failed for good");
            queue(app, move |repo| repo.job_failed(id, &error, None, &now)).await
        }
        Err(JobError::Unreadable(error)) => {
            let error = format!("the recording is unreadable as stored: {error}");
            tracing::error!(job = id, recording = %rec, %error, "transcription failed for good");
            queue(app, move |repo| repo.job_failed(id, &error, None, &now)).await
        }
    };
    if let Err(e) = update {
        tracing::error!(job = id, error = %e, "cannot update the job queue");
    }
}

/// What the catalog says about a recording, for its transcript.
pub(crate) struct Context {
    pub meeting: String,
    pub org: String,
    pub language: String,
    /// (stream, label, opened_at)
    pub streams: Vec<(StreamId, String, String)>,
}

pub(crate) async fn context(app: &App, rec: RecordingId, default_language: String) -> Result<Context, VaultError> {
    queue(app, move |repo| {
        let (meeting, org, meeting_lang) = repo.recording_meeting(rec)?;
        let org_lang = repo.org_language(&org)?;
        let streams = repo.stream_labels(rec)?;
        let streams = streams.into_iter().map(|s| (s.id, s.endpoint.or(s.filename).unwrap_or(s.kind), s.opened_at));
        let language = meeting_lang.or(org_lang).unwrap_or(default_language);
        Ok(Context { meeting, org, language, streams: streams.collect() })
    })
    .await
}

/// One catalog call of the worker's (the queue, a recording's facts), outside
/// any ledger entry, on the catalog's thread.
async fn queue<R: Send + 'static>(
    app: &App,
    f: impl FnOnce(&dyn Repo) -> catalog::Result<R> + Send + 'static,
) -> Result<R, VaultError> {
    catalog::read(&app.vault.catalog, move |repo| f(repo).map_err(VaultError::from)).await
}

/// Transcribes and stores one recording's transcript; returns the audio length.
async fn transcribe_recording(app: &App, model: &Arc<Loaded>, job: &Job) -> Result<u64, JobError> {
    let (id, rec) = (job.id, job.recording);
    let now = app.vault.now();
    // A crash after the put and before its entry: record what is in the store.
    let adopted = app
        .vault
        .adopt_transcript(
            &actor_system(),
            rec,
            meta_of_stored,
            catalog::in_tx(move |repo| Ok(repo.job_done(id, &now)?)),
        )
        .await?;
    if adopted.is_some() {
        tracing::info!(job = id, recording = %rec, "recorded the transcript a crash had left unrecorded");
        return Ok(0);
    }
    let ctx = context(app, rec, app.transcription.config.language.clone()).await?;
    let mut infos = Vec::new();
    for (stream, ..) in &ctx.streams {
        infos.push(app.vault.stream(*stream).await?);
    }
    let total: u64 = infos.iter().filter_map(|i| i.manifest.media.as_ref()?.get("duration_ms")?.as_u64()).sum();
    queue(app, move |repo| repo.set_job_progress(id, 0, (total > 0).then_some(total))).await?;
    let opts = app.transcription.options(ctx.language.clone());
    let mut results = Vec::new();
    let mut done = 0;
    for (info, (stream, label, opened_at)) in infos.into_iter().zip(&ctx.streams) {
        let r = transcribe_stream(app, model, &opts, job, info, (done, total)).await?;
        let result = stream_result(*stream, label, opened_at, r)?;
        done += result.part.audio_ms;
        results.push(result);
    }
    let head = Transcript {
        format: FORMAT.into(),
        recording: rec.to_string(),
        meeting: ctx.meeting,
        org: ctx.org,
        language: ctx.language,
        machine_generated: true,
        model: ModelRef { name: model.name.clone(), sha256: model.sha256.clone() },
        created_at: app.vault.now(),
        streams: Vec::new(),
        segments: Vec::new(),
    };
    let doc = Transcript::merge(head, results);
    let meta = meta_of(&doc);
    let bytes = serde_json::to_vec(&doc).map_err(|e| JobError::Failed(e.to_string()))?;
    let now = app.vault.now();
    app.vault
        .store_transcript(&actor_system(), rec, bytes, meta, catalog::in_tx(move |repo| Ok(repo.job_done(id, &now)?)))
        .await?;
    app.index.wake();
    Ok(done)
}

/// One stream's place in the transcript: what Whisper heard, or why there was
/// nothing to hear.
pub(crate) fn stream_result(
    stream: StreamId,
    label: &str,
    opened_at: &str,
    r: Result<media::transcribe::Transcription, String>,
) -> Result<StreamResult, JobError> {
    let started = archive::clock::parse_ts(opened_at)
        .map_err(|_| JobError::Failed(format!("catalog: stream {stream} has a malformed opened_at")))?;
    let mut part = StreamPart {
        stream: stream.to_string(),
        label: label.to_string(),
        started_at: opened_at.to_string(),
        audio_ms: 0,
        speech_ms: 0,
        dropped_silent: 0,
        note: None,
    };
    let segments = match r {
        Ok(t) => {
            (part.audio_ms, part.speech_ms, part.dropped_silent) = (t.audio_ms, t.speech_ms, t.dropped_silent);
            t.segments
        }
        Err(note) => {
            part.note = Some(note);
            Vec::new()
        }
    };
    Ok(StreamResult { part, started, segments })
}

/// What `transcript.stored` says besides hashes: the model, the language, and
/// that the text is machine-generated. Never the text.
pub(crate) fn meta_of(doc: &Transcript) -> serde_json::Value {
    json!({
        "model": doc.model.name, "model_sha256": doc.model.sha256, "language": doc.language,
        "segments": doc.segments.len(), "flagged": doc.segments.iter().filter(|l| l.flagged()).count(),
        "machine_generated": true,
    })
}

pub(crate) fn meta_of_stored(plain: &[u8]) -> serde_json::Value {
    serde_json::from_slice::<Transcript>(plain).map(|d| meta_of(&d)).unwrap_or_else(|_| json!({}))
}

/// One stream: `Ok(Err(note))` when it has nothing to transcribe (no audio
/// track, empty), which is not a failure of the job.
async fn transcribe_stream(
    app: &App,
    model: &Arc<Loaded>,
    opts: &Options,
    job: &Job,
    info: archive::vault::StreamInfo,
    (before, total): (u64, u64),
) -> Result<Result<media::transcribe::Transcription, String>, JobError> {
    if info.manifest.length == 0 {
        return Ok(Err("empty stream".into()));
    }
    let key = Arc::new(app.vault.stream_key(&info).await?);
    let mut logged = Instant::now();
    let progress = |done_ms: u64| {
        let at = before + done_ms;
        let id = job.id;
        if logged.elapsed() >= Duration::from_secs(30) {
            logged = Instant::now();
            tracing::info!(job = id, recording = %job.recording, done_ms = at, total_ms = total, "transcribing");
        }
        async move {
            let _ = queue(app, move |repo| repo.set_job_progress(id, at, None)).await;
        }
    };
    let part = Part { store: app.vault.store.clone(), key, info: &info };
    transcribe_part(part, model, opts, &app.transcription.stop, progress).await
}

/// One stored stream to transcribe, with the key that opens it.
pub(crate) struct Part<'a> {
    pub store: archive::store::Store,
    pub key: Arc<archive::chunk::StreamKey>,
    pub info: &'a archive::vault::StreamInfo,
}

/// Runs Whisper over one stream on a blocking thread, reporting the audio done
/// every 2 s through `progress` and stopping at the next block of audio once
/// `stop` is cancelled: what a node's own threads and a worker share.
pub(crate) async fn transcribe_part<F, Fut>(
    part: Part<'_>,
    model: &Arc<Loaded>,
    opts: &Options,
    stop: &CancellationToken,
    mut progress: F,
) -> Result<Result<media::transcribe::Transcription, String>, JobError>
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Part { store, key, info } = part;
    if info.manifest.length == 0 {
        return Ok(Err("empty stream".into()));
    }
    let reader = StreamReader::new(store, key, info.manifest.layout(), info.rec, info.manifest.id);
    let failure: Arc<Mutex<Option<JobError>>> = Default::default();
    let input = Watched { inner: reader.blocking(tokio::runtime::Handle::current()), failure: failure.clone() };
    let watch = media::transcribe::Watch::default();
    let (w, opts, loaded) = (watch.clone(), opts.clone(), model.clone());
    let mut task = tokio::task::spawn_blocking(move || media::transcribe::transcribe(&loaded.model, &opts, input, &w));
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let result = loop {
        tokio::select! {
            r = &mut task => break r.map_err(|e| JobError::Failed(format!("transcription thread: {e}")))?,
            _ = stop.cancelled(), if !watch.stopped() => watch.stop(),
            _ = tick.tick() => progress(watch.done_ms()).await,
        }
    };
    // A read that failed looks like the end of the stream to FFmpeg: never take a
    // store outage, or a damaged chunk, for a short recording.
    if let Some(error) = lock(&failure).take() {
        return Err(match error {
            JobError::Unreadable(why) => JobError::Unreadable(format!("stream {}: {why}", info.manifest.id)),
            other => other,
        });
    }
    match result {
        Ok(t) => Ok(Ok(t)),
        Err(MediaError::Stopped(_)) => Err(JobError::Stopped),
        Err(MediaError::NotMedia(why)) => Ok(Err(why)),
        Err(e) => Err(JobError::Failed(format!("stream {}: {e}", info.manifest.id))),
    }
}

/// A reader that remembers its first error, classified, which FFmpeg would
/// otherwise turn into a quiet end of input.
struct Watched<R> {
    inner: R,
    failure: Arc<Mutex<Option<JobError>>>,
}

impl<R> Watched<R> {
    fn note<T>(&self, r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r {
            lock(&self.failure).get_or_insert_with(|| JobError::of_read(e));
        }
        r
    }
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let r = self.inner.read(buf);
        self.note(r)
    }
}

impl<R: Seek> Seek for Watched<R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let r = self.inner.seek(to);
        self.note(r)
    }
}

#[cfg(test)]
mod tests {
    use super::JobError;
    use archive::chunk::ChunkError;
    use archive::reader::ReadError;
    use archive::store::StoreError;

    fn read_error(e: ReadError) -> std::io::Error {
        // As `BlockingReader` hands a failed piece to FFmpeg.
        std::io::Error::other(e)
    }

    #[test]
    fn an_altered_or_missing_chunk_is_unreadable_and_an_outage_is_not() {
        let altered = read_error(ChunkError::Authentication { stream: "s".into(), index: 3 }.into());
        let why = |e: JobError| match e {
            JobError::Unreadable(why) => why,
            other => panic!("not unreadable: {other:?}"),
        };
        assert!(why(JobError::of_read(&altered)).contains("fails authentication"));
        let missing = read_error(StoreError::NotFound("recordings/r/s/00000003.niem".into()).into());
        assert!(why(JobError::of_read(&missing)).contains("00000003.niem"));
        let outage = read_error(StoreError::Io { key: "k".into(), reason: "connection refused".into() }.into());
        assert!(matches!(JobError::of_read(&outage), JobError::Store(_)));
        let other = std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before start");
        assert!(matches!(JobError::of_read(&other), JobError::Store(_)));
    }

    #[test]
    fn a_key_that_does_not_unwrap_is_unreadable() {
        let e = archive::vault::VaultError::Key(archive::keys::KeyError::UnwrapFailed("recording r".into()));
        assert!(matches!(JobError::from(e), JobError::Unreadable(_)));
        let e = archive::vault::VaultError::Store(StoreError::Io { key: "k".into(), reason: "timeout".into() });
        assert!(matches!(JobError::from(e), JobError::Store(_)));
    }
}
