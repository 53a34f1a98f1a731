//! `niem-bench soak`: a long run of everything at once against a release
//! `niem serve` on SeaweedFS, printing figures every minute and a verdict per
//! criterion at the end. A printout, not a test; run by hand
//! (`bench/soak.sh [minutes] [streams]`).
//!
//! For `--minutes` (default 30):
//!
//! - `--streams` (default 50) `ffmpeg` CLI senders, one per endpoint, each of its
//!   own org and meeting, pushing over RTMP for the whole run: `-re`, stream copy
//!   of one short H.264/AAC FLV clip made once (no B-frames, `--video-kbps`),
//!   looped. A sender that exits before the end is an unexpected failure; it is
//!   started again after 2 s (within the grace period the stream goes on as a new
//!   segment);
//! - every `--upload-every` seconds (default 30) a new meeting (language `en`)
//!   gets a spoken clip (espeak-ng, 10 s, 4 variants) as one upload, which is then
//!   sealed, and so transcribed when a model is there; the SHA-256 the service
//!   answers must be the clip's;
//! - every second a search through the API (words of the clips), latency measured
//!   at the client;
//! - at half time a retention run (`POST /api/v1/retention/run`) under a policy set
//!   at the start (keep 3650 days, every org): nothing in a soak is old enough to
//!   expire (a policy keeps at least one day), so it shreds nothing; the preview
//!   to 2100 shows that the policy covers what was recorded;
//! - at 1/3 and 2/3 of the run, SeaweedFS is killed (SIGKILL) and started again
//!   on the same ports and data after `--outage-secs` (default 20).
//!
//! Every minute: elapsed, the server's RSS (VmRSS) and CPU over the minute, the
//! machine's 1-minute load average, live streams (publishing/listed), FLV bytes
//! in, plaintext bytes stored (`niem_ingested_bytes`), chunks stored, spool
//! backlog, searches ok/err in the minute with p50/p99, uploads ok/err so far,
//! the transcription queue, sender failures, the store's state.
//!
//! At the end: senders are stopped with SIGINT (ffmpeg closes the RTMP stream
//! properly), then the bench waits for the grace period, the spool to drain and
//! every recording to be sealed, and (with a model) for the uploads' transcripts.
//! Then:
//!
//! - bytes lost, per live stream: the most sealed bytes the service said it had
//!   spooled (`bytes_spooled` of `GET /api/v1/live`, polled every 2 s: that is
//!   its acknowledgement) minus the ciphertext bytes of that stream's chunks in
//!   the sealed manifest; pieces likewise. The piece spooled as a stream ends is
//!   not seen in a poll, so stored is usually a little above acknowledged;
//! - uploads: the sealed manifest's SHA-256 and length must be the clip's;
//! - `niem-audit verify` on the bucket, with its verdict;
//! - RSS flatness: the largest deviation of the per-minute RSS from its mean,
//!   over the minutes after `--warmup-minutes` (default a sixth of the run, at
//!   least 1);
//! - errors, expected (an HTTP 503 while the store is down or within
//!   30 s of it coming back: the service answers 503 by design when the store is
//!   unavailable) and unexpected (everything else, transport errors and timeouts
//!   included);
//! - a PASS/FAIL line per criterion.
//!
//! Everything printed also goes to `target/bench/soak-<UTC date-time>.txt`
//! (or `--out PATH`).
//!
//! Transcription uses the tests' Whisper model (`niem_tests::speech::model_path`:
//! `$WHISPER_MODEL`, else `../shared/models/ggml-base.bin`) with 1 thread;
//! without one it is off (said at the start; the jobs wait).

use crate::procfs::{clock_ticks, cpu_ticks, status_kib};
use niem_tests::seaweed::SeaweedFs;
use niem_tests::server::Server;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

// ---------------------------------------------------------------- printout

static OUT: Mutex<Option<std::fs::File>> = Mutex::new(None);

fn emit(line: &str) {
    println!("{line}");
    if let Some(f) = OUT.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        let _ = writeln!(f, "{line}");
    }
}

macro_rules! say {
    ($($t:tt)*) => {
        emit(&format!($($t)*))
    };
}

fn mb(b: u64) -> f64 {
    b as f64 / 1e6
}

fn mmss(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}", s / 60, s % 60)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

use niem_tests::wav::sha256_hex;

// ---------------------------------------------------------------- shared state

/// A 503 this long after the store came back is still the outage's.
const AFTER_OUTAGE: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Watch {
    view: niem_tests::live::LiveView,
    polls_failed: u64,
}

struct UploadRec {
    rec: String,
    stream: String,
    sha256: String,
    length: u64,
    sealed: bool,
}

#[derive(Default)]
struct Errors {
    expected: BTreeMap<String, u64>,
    unexpected: BTreeMap<String, u64>,
}

struct Shared {
    t0: Instant,
    client: reqwest::Client,
    url: String,
    token: String,
    stopping: AtomicBool,
    store_down: AtomicBool,
    store_back_at: Mutex<Option<Instant>>,
    errors: Mutex<Errors>,
    unexpected_printed: AtomicU64,
    search_ok: AtomicU64,
    search_err: AtomicU64,
    search_with_hits: AtomicU64,
    search_minute: Mutex<Vec<f64>>,
    search_all: Mutex<Vec<f64>>,
    uploads_ok: AtomicU64,
    uploads_err: AtomicU64,
    seals_ok: AtomicU64,
    uploads: Mutex<Vec<UploadRec>>,
    sender_starts: AtomicU64,
    sender_failures: AtomicU64,
    watch: Mutex<Watch>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn elapsed(&self) -> String {
        mmss(self.t0.elapsed())
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.url)).bearer_auth(&self.token)
    }

    fn in_outage(&self) -> bool {
        self.store_down.load(Ordering::SeqCst) || lock(&self.store_back_at).is_some_and(|t| t.elapsed() < AFTER_OUTAGE)
    }

    /// Counts an error; a 503 during an outage is expected. Returns whether it was.
    fn error(&self, what: &str, status: Option<u16>, code: &str) -> bool {
        let expected = status == Some(503) && self.in_outage();
        let key = match status {
            Some(s) => format!("{what}: HTTP {s} {code}"),
            None => format!("{what}: {code}"),
        };
        let mut e = lock(&self.errors);
        let map = if expected { &mut e.expected } else { &mut e.unexpected };
        *map.entry(key.clone()).or_default() += 1;
        drop(e);
        if !expected && self.unexpected_printed.fetch_add(1, Ordering::SeqCst) < 30 {
            say!(
                "  [{}] unexpected error: {key}{}",
                self.elapsed(),
                if self.in_outage() { " (during an outage)" } else { "" }
            );
        }
        expected
    }

    /// Sends a request; the status and JSON body, or counts the error and gives None.
    async fn call(&self, what: &str, rb: reqwest::RequestBuilder, ok: &[u16]) -> Option<(u16, Value)> {
        match rb.send().await {
            Err(e) => {
                self.error(what, None, transport(&e));
                None
            }
            Ok(resp) => {
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if ok.contains(&status) {
                    Some((status, body))
                } else {
                    let code = body["error"]["code"].as_str().unwrap_or("").to_string();
                    self.error(what, Some(status), &code);
                    None
                }
            }
        }
    }
}

fn transport(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "broken body"
    } else {
        "transport error"
    }
}

// ---------------------------------------------------------------- media

/// The live source: H.264 (no B-frames) and AAC in FLV, made once.
fn make_live_clip(path: &Path, video_kbps: u32) {
    let t = std::time::Instant::now();
    let kbps = video_kbps.to_string();
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=15"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-b:v",
            &format!("{kbps}k"),
            "-maxrate",
            &format!("{kbps}k"),
            "-bufsize",
            &format!("{}k", video_kbps * 2),
        ])
        .args(["-g", "30", "-bf", "0", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-t", "20", "-f", "flv"])
        .arg(path)
        .output()
        .expect("ffmpeg CLI (installed by scripts/setup.sh)");
    assert!(out.status.success(), "ffmpeg failed: {}", String::from_utf8_lossy(&out.stderr));
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    say!(
        "live source: 20 s FLV (640x360 15 fps H.264 {video_kbps} kbit/s, no B-frames; AAC 64 kbit/s), {:.2} Mbit/s, made in {:.1} s",
        size as f64 * 8.0 / 20.0 / 1e6,
        t.elapsed().as_secs_f64()
    );
}

const SENTENCES: [[&str; 2]; 4] = [
    [
        "The branch meeting approved the resolution on digital transformation.",
        "The inspection committee will review the budget in the third quarter.",
    ],
    [
        "Comrade Lan reported on the admission of new party members.",
        "Every cell must send its monthly report before the twentieth.",
    ],
    [
        "The meeting discussed support for families affected by the floods.",
        "Attendance this month was twenty seven out of thirty members.",
    ],
    [
        "A proposal to train young members in public speaking was accepted.",
        "The next meeting will be held on the fifth of next month.",
    ],
];

const QUERIES: [&str; 8] = [
    "budget",
    "inspection committee",
    "resolution",
    "\"digital transformation\"",
    "floods",
    "admission party members",
    "ngân sách",
    "kết nạp đảng viên",
];

// ---------------------------------------------------------------- workers

/// One endpoint's sender for the whole run, started again when it fails.
async fn sender(
    sh: Arc<Shared>,
    idx: usize,
    url: String,
    key: String,
    clip: PathBuf,
    logs: PathBuf,
    pids: Arc<Mutex<Vec<Option<u32>>>>,
) {
    let log = logs.join(format!("sender-{idx}.log"));
    loop {
        if sh.stopping() {
            break;
        }
        let errf = std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("sender log");
        let child = tokio::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-v", "error", "-re", "-stream_loop", "-1", "-i"])
            .arg(&clip)
            .args(["-c", "copy", "-f", "flv"])
            .arg(&url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(errf)
            .kill_on_drop(true)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                say!("  [{}] sender {idx}: cannot start ffmpeg: {e}", sh.elapsed());
                sh.sender_failures.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        sh.sender_starts.fetch_add(1, Ordering::SeqCst);
        lock(&pids)[idx] = child.id();
        let started = Instant::now();
        let status = child.wait().await;
        lock(&pids)[idx] = None;
        if sh.stopping() {
            break;
        }
        sh.sender_failures.fetch_add(1, Ordering::SeqCst);
        let text = std::fs::read_to_string(&log).unwrap_or_default().replace(&key, "<key>");
        let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("(no message)").to_string();
        let why = format!("ffmpeg {}: {last}", status.map_or("?".to_string(), |s| s.to_string()));
        sh.error("live sender exited", None, &why);
        say!(
            "  [{}] sender {idx} exited after {:.0} s; starting it again in 2 s",
            sh.elapsed(),
            started.elapsed().as_secs_f64()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Polls `GET /api/v1/live`.
async fn sample(sh: &Shared) {
    let resp = sh.req(reqwest::Method::GET, "/api/v1/live").timeout(Duration::from_secs(15)).send().await;
    let v: Option<Value> = match resp {
        Ok(r) if r.status().is_success() => r.json().await.ok(),
        Ok(r) => {
            sh.error("live status poll", Some(r.status().as_u16()), "");
            None
        }
        Err(e) => {
            sh.error("live status poll", None, transport(&e));
            None
        }
    };
    let mut w = lock(&sh.watch);
    let Some(v) = v else {
        w.polls_failed += 1;
        return;
    };
    w.view.absorb(&v);
}

async fn watcher(sh: Arc<Shared>) {
    while !sh.stopping() {
        sample(&sh).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn search_once(sh: Arc<Shared>, q: &'static str) {
    let t = Instant::now();
    let rb = sh.req(reqwest::Method::GET, "/api/v1/search").query(&[("q", q)]).timeout(Duration::from_secs(10));
    if let Some((_, v)) = sh.call("search", rb, &[200]).await {
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        sh.search_ok.fetch_add(1, Ordering::SeqCst);
        if v["meetings"].as_array().is_some_and(|m| !m.is_empty()) {
            sh.search_with_hits.fetch_add(1, Ordering::SeqCst);
        }
        lock(&sh.search_minute).push(ms);
        lock(&sh.search_all).push(ms);
    } else {
        sh.search_err.fetch_add(1, Ordering::SeqCst);
    }
}

async fn searcher(sh: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut i = 0;
    let mut inflight = Vec::new();
    loop {
        tick.tick().await;
        if sh.stopping() {
            break;
        }
        inflight.retain(|h: &tokio::task::JoinHandle<()>| !h.is_finished());
        inflight.push(tokio::spawn(search_once(sh.clone(), QUERIES[i % QUERIES.len()])));
        i += 1;
    }
    for h in inflight {
        let _ = h.await;
    }
}

/// Seals the uploads not sealed yet; a 409 means it already is.
async fn seal_pending(sh: &Shared) {
    let pending: Vec<String> = lock(&sh.uploads).iter().filter(|u| !u.sealed).map(|u| u.rec.clone()).collect();
    for rec in pending {
        let rb =
            sh.req(reqwest::Method::POST, &format!("/api/v1/recordings/{rec}/seal")).timeout(Duration::from_secs(60));
        let done = match rb.send().await {
            Ok(r) if r.status().is_success() => true,
            Ok(r) if r.status().as_u16() == 409 => {
                let rb =
                    sh.req(reqwest::Method::GET, &format!("/api/v1/recordings/{rec}")).timeout(Duration::from_secs(30));
                sh.call("recording read", rb, &[200]).await.is_some_and(|(_, v)| v["state"] == "sealed")
            }
            Ok(r) => {
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                sh.error("seal", Some(status), body["error"]["code"].as_str().unwrap_or(""));
                false
            }
            Err(e) => {
                sh.error("seal", None, transport(&e));
                false
            }
        };
        if done {
            sh.seals_ok.fetch_add(1, Ordering::SeqCst);
            if let Some(u) = lock(&sh.uploads).iter_mut().find(|u| u.rec == rec) {
                u.sealed = true;
            }
        }
    }
}

async fn uploader(sh: Arc<Shared>, org: String, clips: Vec<(Vec<u8>, String)>, every: Duration) {
    let mut k = 0usize;
    loop {
        let due = sh.t0 + Duration::from_secs(5) + every * k as u32;
        tokio::time::sleep_until(due).await;
        if sh.stopping() {
            break;
        }
        let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).expect("time");
        let m = json!({ "org": org, "kind": "regular", "title": format!("Họp tải lên {k}"), "scheduled_at": now, "language": "en" });
        let rb = sh.req(reqwest::Method::POST, "/api/v1/meetings").json(&m).timeout(Duration::from_secs(30));
        if let Some((_, meeting)) = sh.call("meeting create", rb, &[201]).await {
            let meeting = meeting["id"].as_str().unwrap_or_default().to_string();
            let (bytes, sha) = &clips[k % clips.len()];
            let rb = sh
                .req(reqwest::Method::POST, &format!("/api/v1/meetings/{meeting}/uploads"))
                .header("content-type", "audio/wav")
                .body(bytes.clone())
                .timeout(Duration::from_secs(120));
            match sh.call("upload", rb, &[201]).await {
                Some((_, v)) => {
                    sh.uploads_ok.fetch_add(1, Ordering::SeqCst);
                    if v["sha256"].as_str() != Some(sha.as_str()) || v["length"].as_u64() != Some(bytes.len() as u64) {
                        sh.error("upload", None, "answered SHA-256 or length differs from the clip's");
                    }
                    lock(&sh.uploads).push(UploadRec {
                        rec: v["recording"].as_str().unwrap_or_default().to_string(),
                        stream: v["stream"].as_str().unwrap_or_default().to_string(),
                        sha256: sha.clone(),
                        length: bytes.len() as u64,
                        sealed: false,
                    });
                }
                None => {
                    sh.uploads_err.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        seal_pending(&sh).await;
        k += 1;
    }
}

/// SeaweedFS killed (SIGKILL) at each time in `at`, started again after `down`.
async fn outages(sh: Arc<Shared>, sw: Arc<Mutex<SeaweedFs>>, at: Vec<Duration>, down: Duration, done: Arc<AtomicU64>) {
    for (n, at) in at.into_iter().enumerate() {
        tokio::time::sleep_until(sh.t0 + at).await;
        if sh.stopping() {
            return;
        }
        let sw2 = sw.clone();
        let _ = tokio::task::spawn_blocking(move || lock(&sw2).stop()).await;
        sh.store_down.store(true, Ordering::SeqCst);
        let killed = Instant::now();
        say!("  [{}] SeaweedFS killed (SIGKILL), outage {} of 2", sh.elapsed(), n + 1);
        tokio::time::sleep(down).await;
        let started = Instant::now();
        let sw2 = sw.clone();
        let r = tokio::task::spawn_blocking(move || lock(&sw2).start()).await;
        match r {
            Ok(()) => {
                *lock(&sh.store_back_at) = Some(Instant::now());
                sh.store_down.store(false, Ordering::SeqCst);
                done.fetch_add(1, Ordering::SeqCst);
                say!(
                    "  [{}] SeaweedFS started again on the same ports and data: down {:.1} s (S3 port open {:.1} s after the start)",
                    sh.elapsed(),
                    killed.elapsed().as_secs_f64(),
                    started.elapsed().as_secs_f64()
                );
            }
            Err(e) => {
                sh.error("SeaweedFS restart", None, "did not come back");
                say!("  [{}] SeaweedFS did not come back: {e}", sh.elapsed());
                return;
            }
        }
    }
}

/// What `/metrics` says, by metric name.
async fn metrics(sh: &Shared) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let resp = sh.client.get(format!("{}/metrics", sh.url)).timeout(Duration::from_secs(15)).send().await;
    match resp {
        Ok(r) if r.status().is_success() => {
            for line in r.text().await.unwrap_or_default().lines().filter(|l| !l.starts_with('#')) {
                let mut it = line.split_whitespace();
                if let (Some(name), Some(v)) = (it.next(), it.next()) {
                    if let Ok(v) = v.parse() {
                        out.insert(name.to_string(), v);
                    }
                }
            }
        }
        Ok(r) => {
            sh.error("metrics scrape", Some(r.status().as_u16()), "");
        }
        Err(e) => {
            sh.error("metrics scrape", None, transport(&e));
        }
    }
    out
}

// ---------------------------------------------------------------- the run

pub async fn run(args: &crate::Soak) {
    let (minutes, n, grace, upload_every) = (args.minutes, args.streams, args.grace_secs, args.upload_every);
    let (outage_secs, video_kbps, transcribe_wait) = (args.outage_secs, args.video_kbps, args.transcribe_wait_secs);
    let warmup = args.warmup_minutes.unwrap_or_else(|| (minutes / 6.0).max(1.0).round());
    assert!(minutes > 0.0 && n > 0 && upload_every > 0, "counts must be positive");
    let run = Duration::from_secs_f64(minutes * 60.0);

    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!("[year][month][day]-[hour][minute][second]"))
        .expect("date");
    let out_path =
        args.out.clone().unwrap_or_else(|| niem_tests::root().join(format!("target/bench/soak-{stamp}.txt")));
    if let Some(dir) = out_path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    *lock(&OUT) = Some(std::fs::File::create(&out_path).expect("create the printout file"));

    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    say!("niem soak: {minutes} min, {n} live streams, an upload every {upload_every} s, a search every second, SeaweedFS killed at 1/3 and 2/3 for {outage_secs} s, retention run at 1/2");
    say!("machine: {cpus} CPUs; senders, SeaweedFS and the bench share it with the server; started {stamp} UTC; printout also in {}", out_path.display());

    let work = tempfile::tempdir().expect("temp dir");
    let clip = work.path().join("live.flv");
    make_live_clip(&clip, video_kbps);
    let mut clips = Vec::new();
    for (i, [a, b]) in SENTENCES.iter().enumerate() {
        let p = niem_tests::speech::clip(work.path(), &format!("upload{i}"), "en-us", &[(0.5, a), (5.0, b)], 10.0);
        let bytes = std::fs::read(&p).expect("read clip");
        let sha = sha256_hex(&bytes);
        clips.push((bytes, sha));
    }
    say!(
        "upload clips: {} spoken WAVs of 10 s (espeak-ng, 48 kHz stereo), {:.2} MB each",
        clips.len(),
        mb(clips[0].0.len() as u64)
    );

    // The model, as the transcription tests find it; 1 thread (2-core hosts).
    let wanted = niem_tests::speech::model_path();
    let model = wanted.is_file().then(|| wanted.clone());
    let grace_s = grace.to_string();
    let mut env: Vec<(&str, &str)> = vec![("NIEM_LIVE__GRACE_SECS", &grace_s), ("NIEM_LOG__LEVEL", "info")];
    let model_s = model.as_ref().map(|m| m.display().to_string()).unwrap_or_default();
    match &model {
        Some(_) => {
            env.extend([
                ("NIEM_TRANSCRIBE__MODEL", model_s.as_str()),
                ("NIEM_TRANSCRIBE__THREADS", "1"),
                ("NIEM_TRANSCRIBE__CONCURRENCY", "1"),
            ]);
            say!("transcription: on, model {model_s}, 1 thread, 1 job at a time");
        }
        None => say!(
            "transcription: OFF (no model at {}; set WHISPER_MODEL): jobs wait, transcripts are not checked",
            wanted.display()
        ),
    }

    let sw = SeaweedFs::own();
    let store = sw.store().await;
    say!("SeaweedFS: {} (its own instance, data kept across restarts)", sw.endpoint);
    let sw = Arc::new(Mutex::new(sw));
    let mut srv = Server::start(store, &env).await;
    let pid = srv.pid().expect("the server runs");
    say!("niem serve: pid {pid}, {}, grace {grace} s, data in {}", srv.url, srv.data_dir().display());

    let sh = Arc::new(Shared {
        t0: Instant::now(),
        client: reqwest::Client::new(),
        url: srv.url.clone(),
        token: srv.token.clone(),
        stopping: AtomicBool::new(false),
        store_down: AtomicBool::new(false),
        store_back_at: Mutex::new(None),
        errors: Mutex::new(Errors::default()),
        unexpected_printed: AtomicU64::new(0),
        search_ok: AtomicU64::new(0),
        search_err: AtomicU64::new(0),
        search_with_hits: AtomicU64::new(0),
        search_minute: Mutex::new(Vec::new()),
        search_all: Mutex::new(Vec::new()),
        uploads_ok: AtomicU64::new(0),
        uploads_err: AtomicU64::new(0),
        seals_ok: AtomicU64::new(0),
        uploads: Mutex::new(Vec::new()),
        sender_starts: AtomicU64::new(0),
        sender_failures: AtomicU64::new(0),
        watch: Mutex::new(Watch::default()),
    });

    // Setup: a retention policy, an org for uploads, one org, meeting and endpoint per stream.
    let t_setup = Instant::now();
    let rb = sh.req(reqwest::Method::POST, "/api/v1/retention/policies").json(&json!({ "keep_days": 3650 }));
    let policy = sh.call("retention policy", rb, &[201]).await;
    say!("retention policy: keep 3650 days, every org and kind: {}", if policy.is_some() { "set" } else { "NOT set" });
    let (s, up_org) = srv
        .api(
            reqwest::Method::POST,
            "/api/v1/orgs",
            Some(json!({ "name": "Chi bộ tải lên", "kind": "bloc", "language": "en" })),
        )
        .await;
    assert_eq!(s, 201, "{up_org}");
    let up_org = up_org["id"].as_str().expect("org id").to_string();
    let mut meetings = Vec::new();
    let mut keys = Vec::new();
    for i in 0..n {
        let (org, meeting) = srv.cell_with_meeting(&format!("Chi bộ {i}")).await;
        meetings.push(meeting);
        keys.push(srv.endpoint(&org, &format!("Điểm cầu {i}")).await.1);
    }
    say!("setup: {n} orgs, meetings and endpoints in {:.1} s", t_setup.elapsed().as_secs_f64());
    // The run's clock starts now.
    let sh = Arc::new(Shared {
        t0: Instant::now(),
        ..Arc::try_unwrap(sh).unwrap_or_else(|_| unreachable!("no other owner yet"))
    });
    let warmup_d = Duration::from_secs_f64(warmup * 60.0);
    say!(
        "schedule: outages at {} and {}, retention run at {}, warm-up {}; end at {}",
        mmss(run / 3),
        mmss(run * 2 / 3),
        mmss(run / 2),
        mmss(warmup_d),
        mmss(run)
    );
    say!("");

    let logs = work.path().join("senders");
    std::fs::create_dir_all(&logs).expect("sender log dir");
    let pids: Arc<Mutex<Vec<Option<u32>>>> = Arc::new(Mutex::new(vec![None; n]));
    let mut senders = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let url = format!("{}/{key}", srv.rtmp);
        senders.push(tokio::spawn(sender(sh.clone(), i, url, key.clone(), clip.clone(), logs.clone(), pids.clone())));
        // Spread the connects over a few seconds.
        tokio::time::sleep(Duration::from_millis(2000 / n as u64)).await;
    }
    let watcher_h = tokio::spawn(watcher(sh.clone()));
    let searcher_h = tokio::spawn(searcher(sh.clone()));
    let uploader_h =
        tokio::spawn(uploader(sh.clone(), up_org.clone(), clips.clone(), Duration::from_secs(upload_every)));
    let restarts = Arc::new(AtomicU64::new(0));
    let outage_h = tokio::spawn(outages(
        sh.clone(),
        sw.clone(),
        vec![run / 3, run * 2 / 3],
        Duration::from_secs(outage_secs),
        restarts.clone(),
    ));
    let retention_h = {
        let sh = sh.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(sh.t0 + run / 2).await;
            let t = Instant::now();
            let rb = sh
                .req(reqwest::Method::POST, "/api/v1/retention/run")
                .json(&json!({}))
                .timeout(Duration::from_secs(120));
            let r = sh.call("retention run", rb, &[200]).await;
            let took = t.elapsed().as_secs_f64();
            let rb = sh
                .req(reqwest::Method::GET, "/api/v1/retention/preview")
                .query(&[("at", "2100-01-01")])
                .timeout(Duration::from_secs(60));
            let preview =
                sh.call("retention preview", rb, &[200]).await.map(|(_, v)| v.as_array().map_or(0, |a| a.len()));
            match &r {
                Some((_, v)) => say!(
                    "  [{}] retention run: {} shredded, {} held, in {took:.2} s; preview to 2100-01-01: {} recordings would expire under the policy",
                    sh.elapsed(),
                    v["shredded"].as_array().map_or(0, |a| a.len()),
                    v["held"].as_array().map_or(0, |a| a.len()),
                    preview.map_or("?".to_string(), |p| p.to_string())
                ),
                None => say!("  [{}] retention run FAILED after {took:.2} s", sh.elapsed()),
            }
            r.map(|(_, v)| v["shredded"].as_array().map_or(0, |a| a.len()))
        })
    };

    // Every minute, one line.
    say!(
        "{:>5} {:>8} {:>5} {:>5} {:>7} {:>9} {:>9} {:>7} {:>8} {:>14} {:>12} {:>9} {:>5} {:>6} {:>5}",
        "t",
        "RSS MiB",
        "CPU%",
        "load",
        "live",
        "FLV in MB",
        "stored MB",
        "chunks",
        "spool MB",
        "search ok/err",
        "p50/p99 ms",
        "upload",
        "tr.q",
        "s.fail",
        "store"
    );
    let tick = clock_ticks();
    let mut rss_samples: Vec<(f64, f64)> = Vec::new();
    let mut last_cpu = (cpu_ticks(pid).unwrap_or(0), Instant::now());
    let (mut last_ok, mut last_err) = (0u64, 0u64);
    let mut minute = 1u32;
    while sh.t0.elapsed() < run {
        let next = (sh.t0 + Duration::from_secs(60 * minute as u64)).min(sh.t0 + run);
        tokio::time::sleep_until(next).await;
        let at = sh.t0.elapsed();
        let rss = status_kib(pid, "VmRSS:").unwrap_or(0) as f64 / 1024.0;
        rss_samples.push((at.as_secs_f64() / 60.0, rss));
        let cpu_now = (cpu_ticks(pid).unwrap_or(0), Instant::now());
        let cpu = (cpu_now.0 - last_cpu.0) as f64 / tick / (cpu_now.1 - last_cpu.1).as_secs_f64().max(0.001) * 100.0;
        last_cpu = cpu_now;
        let m = metrics(&sh).await;
        let g = |k: &str| m.get(k).copied().unwrap_or(f64::NAN);
        let (live, publishing, flv_in) = {
            let w = lock(&sh.watch);
            (w.view.live_now, w.view.publishing_now, w.view.streams.values().map(|s| s.bytes_in).sum::<u64>())
        };
        let mut lat = std::mem::take(&mut *lock(&sh.search_minute));
        lat.sort_by(f64::total_cmp);
        let (ok, err) = (sh.search_ok.load(Ordering::SeqCst), sh.search_err.load(Ordering::SeqCst));
        let store = if sh.store_down.load(Ordering::SeqCst) { "DOWN" } else { "up" };
        say!(
            "{:>5} {:>8.1} {:>5.0} {:>5} {:>7} {:>9.1} {:>9.1} {:>7.0} {:>8.1} {:>14} {:>12} {:>9} {:>5.0} {:>6} {:>5}",
            mmss(at),
            rss,
            cpu,
            std::fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|l| l.split_whitespace().next().map(str::to_string))
                .unwrap_or_default(),
            format!("{publishing}/{live}"),
            mb(flv_in),
            g("niem_ingested_bytes") / 1e6,
            g("niem_chunks_stored"),
            g("niem_spool_backlog_bytes") / 1e6,
            format!("{}/{}", ok - last_ok, err - last_err),
            format!("{:.1}/{:.1}", percentile(&lat, 0.5), percentile(&lat, 0.99)),
            format!("{}/{}", sh.uploads_ok.load(Ordering::SeqCst), sh.uploads_err.load(Ordering::SeqCst)),
            g("niem_transcription_queue"),
            sh.sender_failures.load(Ordering::SeqCst),
            store
        );
        (last_ok, last_err) = (ok, err);
        minute += 1;
    }

    // ------------------------------------------------------------ the end
    say!("");
    say!("[{}] run over: stopping senders (SIGINT), searches and uploads", sh.elapsed());
    sh.stopping.store(true, Ordering::SeqCst);
    for pid in lock(&pids).iter().flatten() {
        unsafe {
            libc::kill(*pid as i32, libc::SIGINT);
        }
    }
    let t_stop = Instant::now();
    let mut stuck = 0;
    for h in senders {
        let left = Duration::from_secs(20).saturating_sub(t_stop.elapsed());
        if tokio::time::timeout(left, h).await.is_err() {
            stuck += 1; // the handle is dropped; ffmpeg is killed with it (kill_on_drop) once the task ends
        }
    }
    for pid in lock(&pids).iter().flatten() {
        unsafe {
            libc::kill(*pid as i32, libc::SIGKILL);
        }
    }
    say!("senders stopped in {:.1} s ({stuck} had to be killed)", t_stop.elapsed().as_secs_f64());
    let _ = searcher_h.await;
    let _ = tokio::time::timeout(Duration::from_secs(150), uploader_h).await;
    let _ = watcher_h.await;
    let outages_done = {
        let _ = tokio::time::timeout(Duration::from_secs(60), outage_h).await;
        restarts.load(Ordering::SeqCst)
    };
    let retention_shredded = retention_h.await.ok().flatten();

    // Wait for the grace period, the spool to drain and every recording to seal.
    let t_seal = Instant::now();
    let deadline = t_seal + Duration::from_secs(grace + 180 + n as u64);
    let mut sealed: BTreeMap<String, Value> = BTreeMap::new();
    let mut last_note = Instant::now();
    let timed_out = loop {
        {
            lock(&sh.watch).polls_failed = 0;
        }
        sample(&sh).await;
        seal_pending(&sh).await;
        let mut recs: BTreeSet<String> =
            lock(&sh.watch).view.streams.values().map(|s| s.rec.clone()).filter(|r| !r.is_empty()).collect();
        let mut no_recording = 0;
        for m in &meetings {
            let rb = sh.req(reqwest::Method::GET, &format!("/api/v1/meetings/{m}")).timeout(Duration::from_secs(30));
            match sh
                .call("meeting read", rb, &[200])
                .await
                .and_then(|(_, v)| v["recording"].as_str().map(str::to_string))
            {
                Some(r) => {
                    recs.insert(r);
                }
                None => no_recording += 1,
            }
        }
        for r in recs.iter().filter(|r| !sealed.contains_key(*r)).cloned().collect::<Vec<_>>() {
            let rb = sh.req(reqwest::Method::GET, &format!("/api/v1/recordings/{r}")).timeout(Duration::from_secs(30));
            if let Some((_, v)) = sh.call("recording read", rb, &[200]).await {
                if v["state"] == "sealed" {
                    sealed.insert(r, v);
                }
            }
        }
        let (live_now, backlog, failed) = {
            let w = lock(&sh.watch);
            (w.view.live_now, w.view.backlog_now, w.polls_failed)
        };
        let unsealed_uploads = lock(&sh.uploads).iter().filter(|u| !u.sealed).count();
        if live_now == 0
            && failed == 0
            && backlog == 0
            && recs.iter().all(|r| sealed.contains_key(r))
            && unsealed_uploads == 0
        {
            break false;
        }
        if last_note.elapsed() > Duration::from_secs(15) {
            last_note = Instant::now();
            say!(
                "  waiting: {live_now} streams still live, spool {:.1} MB, {}/{} live recordings sealed, {no_recording} meetings without a recording, {unsealed_uploads} uploads not sealed",
                mb(backlog),
                recs.iter().filter(|r| sealed.contains_key(*r)).count(),
                recs.len()
            );
        }
        if Instant::now() > deadline {
            break true;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let seal_secs = t_seal.elapsed().as_secs_f64();
    if timed_out {
        say!("sealing: TIMED OUT after {seal_secs:.0} s ({} live recordings sealed)", sealed.len());
    } else {
        say!("sealing: every live recording sealed and the spool empty {seal_secs:.1} s after the senders stopped (grace {grace} s)");
    }

    // Transcripts of the uploads.
    let upload_recs: Vec<String> = lock(&sh.uploads).iter().filter(|u| u.sealed).map(|u| u.rec.clone()).collect();
    let mut tr_done = 0;
    let mut tr_failed = Vec::new();
    if model.is_some() {
        let mut queue_left: u64;
        let t = Instant::now();
        let mut last_note = Instant::now();
        loop {
            let rb = sh
                .req(reqwest::Method::GET, "/api/v1/jobs")
                .query(&[("limit", "1000")])
                .timeout(Duration::from_secs(30));
            let Some((_, v)) = sh.call("jobs read", rb, &[200]).await else {
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            };
            let states: BTreeMap<String, (String, String)> = v["jobs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|j| {
                    (
                        j["recording"].as_str().unwrap_or("").to_string(),
                        (j["state"].as_str().unwrap_or("").to_string(), j["error"].as_str().unwrap_or("").to_string()),
                    )
                })
                .collect();
            tr_done = upload_recs.iter().filter(|r| states.get(*r).is_some_and(|s| s.0 == "done")).count();
            tr_failed = upload_recs
                .iter()
                .filter_map(|r| states.get(r).filter(|s| s.0 == "failed").map(|s| s.1.clone()))
                .collect();
            queue_left = ["queued", "running"].iter().map(|k| v["counts"][*k].as_u64().unwrap_or(0)).sum();
            if tr_done + tr_failed.len() == upload_recs.len() || t.elapsed() > Duration::from_secs(transcribe_wait) {
                break;
            }
            if last_note.elapsed() > Duration::from_secs(30) {
                last_note = Instant::now();
                say!(
                    "  waiting for transcripts: {tr_done}/{} uploads done, {queue_left} jobs queued or running",
                    upload_recs.len()
                );
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        say!(
            "transcripts: {tr_done}/{} sealed uploads transcribed, {} failed, after {:.0} s more; {queue_left} jobs still queued or running (live recordings' included)",
            upload_recs.len(),
            tr_failed.len(),
            t.elapsed().as_secs_f64()
        );
        for e in tr_failed.iter().collect::<BTreeSet<_>>() {
            say!("  failed: {e}");
        }
        if let Some(rec) = upload_recs.first() {
            let rb = sh
                .req(reqwest::Method::GET, &format!("/api/v1/recordings/{rec}/transcript"))
                .query(&[("format", "text")])
                .timeout(Duration::from_secs(30));
            if let Ok(r) = rb.send().await {
                let text = r.text().await.unwrap_or_default();
                say!("  first upload's transcript: {:?}", text.trim().chars().take(200).collect::<String>());
            }
        }
    }
    let rb = sh.req(reqwest::Method::GET, "/api/v1/search").query(&[("q", "budget")]).timeout(Duration::from_secs(10));
    let final_hits =
        sh.call("search", rb, &[200]).await.map_or(0, |(_, v)| v["meetings"].as_array().map_or(0, |a| a.len()));

    // Bytes lost: acknowledged (spooled) per live stream against the sealed manifests.
    let mut stored_by: BTreeMap<String, (u64, u64, u64, String)> = BTreeMap::new();
    for v in sealed.values() {
        for s in v["manifest"]["streams"].as_array().into_iter().flatten() {
            let chunks = s["chunks"].as_array().cloned().unwrap_or_default();
            let cipher: u64 = chunks.iter().map(|c| c["len"].as_u64().unwrap_or(0)).sum();
            stored_by.insert(
                s["id"].as_str().unwrap_or_default().to_string(),
                (
                    chunks.len() as u64,
                    cipher,
                    s["length"].as_u64().unwrap_or(0),
                    s["state"].as_str().unwrap_or("?").to_string(),
                ),
            );
        }
    }
    let (seen_streams, acked_pieces, acked_bytes, lost_pieces, lost_bytes, unsealed_streams, flv_in, reconnected) = {
        let w = lock(&sh.watch);
        let stored = |id: &str| stored_by.get(id).map_or((0, 0), |x| (x.0, x.1));
        (
            w.view.streams.len(),
            w.view.streams.values().map(|s| s.pieces_spooled).sum::<u64>(),
            w.view.streams.values().map(|s| s.bytes_spooled).sum::<u64>(),
            w.view.streams.iter().map(|(id, s)| s.pieces_spooled.saturating_sub(stored(id).0)).sum::<u64>(),
            w.view.streams.iter().map(|(id, s)| s.bytes_spooled.saturating_sub(stored(id).1)).sum::<u64>(),
            w.view.streams.keys().filter(|id| !stored_by.contains_key(*id)).count(),
            w.view.streams.values().map(|s| s.bytes_in).sum::<u64>(),
            w.view.streams.values().filter(|s| s.segments > 1).count(),
        )
    };
    let stored_chunks: u64 = stored_by.values().map(|s| s.0).sum();
    let stored_cipher: u64 = stored_by.values().map(|s| s.1).sum();
    let stored_plain: u64 = stored_by.values().map(|s| s.2).sum();
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for s in stored_by.values() {
        *states.entry(s.3.clone()).or_default() += 1;
    }

    // Uploads: the sealed manifest against the clip.
    let mut up_ok = 0;
    let mut up_bad = Vec::new();
    let uploads: Vec<(String, String, String, u64, bool)> = lock(&sh.uploads)
        .iter()
        .map(|u| (u.rec.clone(), u.stream.clone(), u.sha256.clone(), u.length, u.sealed))
        .collect();
    for (rec, stream, sha, length, was_sealed) in &uploads {
        let rb = sh.req(reqwest::Method::GET, &format!("/api/v1/recordings/{rec}")).timeout(Duration::from_secs(30));
        let Some((_, v)) = sh.call("recording read", rb, &[200]).await else {
            up_bad.push(format!("{rec}: cannot read"));
            continue;
        };
        let s = v["manifest"]["streams"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["id"].as_str() == Some(stream.as_str()))
            .cloned()
            .unwrap_or(Value::Null);
        if v["state"] == "sealed" && s["sha256"].as_str() == Some(sha.as_str()) && s["length"].as_u64() == Some(*length)
        {
            up_ok += 1;
        } else {
            up_bad.push(format!(
                "{rec}: state {} (sealed by the bench: {was_sealed}), sha256 {}, length {}",
                v["state"], s["sha256"], s["length"]
            ));
        }
    }

    let m = metrics(&sh).await;
    let ingested = m.get("niem_ingested_bytes").copied().unwrap_or(f64::NAN);

    // The auditor's verdict, while the server still runs.
    let t_verify = std::time::Instant::now();
    let (code, report) = tokio::task::block_in_place(|| srv.audit(&["verify"], &[]));
    let verify_secs = t_verify.elapsed().as_secs_f64();
    let peak_kib = status_kib(pid, "VmHWM:").unwrap_or(0);

    // ------------------------------------------------------------ figures
    say!("");
    say!("== results ==");
    say!(
        "live:        {seen_streams} streams seen for {n} endpoints ({reconnected} with more than one segment), {} in sealed manifests {states:?}, {unsealed_streams} seen but not in a sealed manifest",
        stored_by.len()
    );
    say!(
        "             {:.1} MB of FLV in; acknowledged (spooled) {:.1} MB in {acked_pieces} pieces; stored {:.1} MB ciphertext in {stored_chunks} chunks ({:.1} MB of MP4)",
        mb(flv_in),
        mb(acked_bytes),
        mb(stored_cipher),
        mb(stored_plain)
    );
    say!("             LOST: {lost_bytes} bytes, {lost_pieces} pieces (acknowledged minus stored, per stream); spool backlog peak {:.1} MB", mb(lock(&sh.watch).view.backlog_peak));
    let (starts, fails) = (sh.sender_starts.load(Ordering::SeqCst), sh.sender_failures.load(Ordering::SeqCst));
    say!("senders:     {starts} ffmpeg starts for {n} senders, {fails} exited before the end (unexpected)");
    let (uok, uerr) = (sh.uploads_ok.load(Ordering::SeqCst), sh.uploads_err.load(Ordering::SeqCst));
    say!("uploads:     {uok} acknowledged, {uerr} refused or failed; {up_ok}/{} sealed with the clip's SHA-256 and length", uploads.len());
    for b in &up_bad {
        say!("  {b}");
    }
    say!("stored:      niem_ingested_bytes {:.1} MB (every stream's plaintext, uploads included)", ingested / 1e6);
    let mut all = lock(&sh.search_all).clone();
    all.sort_by(f64::total_cmp);
    say!(
        "search:      {} ok, {} failed, {} with hits; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; a last search for \"budget\" finds {final_hits} meetings",
        sh.search_ok.load(Ordering::SeqCst),
        sh.search_err.load(Ordering::SeqCst),
        sh.search_with_hits.load(Ordering::SeqCst),
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all.last().copied().unwrap_or(f64::NAN)
    );
    say!(
        "retention:   {}",
        retention_shredded.map_or("run FAILED".to_string(), |s| format!(
            "one run at {}, {s} recordings shredded (none old enough: the policy keeps 3650 days)",
            mmss(run / 2)
        ))
    );
    say!("store:       SeaweedFS killed and restarted {outages_done} times, {outage_secs} s each");

    // RSS flatness after the warm-up.
    let after: Vec<f64> = rss_samples.iter().filter(|(m, _)| *m > warmup + 1e-9).map(|(_, r)| *r).collect();
    let flat = if after.len() >= 2 {
        let mean = after.iter().sum::<f64>() / after.len() as f64;
        let dev = after.iter().map(|r| (r - mean).abs() / mean * 100.0).fold(0.0, f64::max);
        let (lo, hi) = (after.iter().copied().fold(f64::MAX, f64::min), after.iter().copied().fold(0.0, f64::max));
        // Least-squares slope over the same samples: a leak shows as a steady climb.
        let pts: Vec<(f64, f64)> = rss_samples.iter().filter(|(m, _)| *m > warmup + 1e-9).copied().collect();
        let mx = pts.iter().map(|p| p.0).sum::<f64>() / pts.len() as f64;
        let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let slope = pts.iter().map(|p| (p.0 - mx) * (p.1 - mean)).sum::<f64>() / sxx.max(1e-9);
        say!(
            "memory:      RSS after the {warmup} min warm-up ({} samples): mean {mean:.1} MiB, min {lo:.1}, max {hi:.1}, largest deviation from the mean {dev:.1} %, trend {slope:+.1} MiB/min; first minute {:.1} MiB; peak (VmHWM) {:.1} MiB",
            after.len(),
            rss_samples.first().map_or(f64::NAN, |s| s.1),
            peak_kib as f64 / 1024.0
        );
        Some(dev)
    } else {
        say!(
            "memory:      too few samples after the {warmup} min warm-up to judge flatness; peak (VmHWM) {:.1} MiB",
            peak_kib as f64 / 1024.0
        );
        None
    };

    let errors = std::mem::take(&mut *lock(&sh.errors));
    let n_expected: u64 = errors.expected.values().sum();
    let n_unexpected: u64 = errors.unexpected.values().sum();
    say!("errors:      {n_unexpected} unexpected, {n_expected} expected (HTTP 503 while the store was down or within {} s of its return)", AFTER_OUTAGE.as_secs());
    for (k, c) in &errors.unexpected {
        say!("  unexpected {c} × {k}");
    }
    for (k, c) in &errors.expected {
        say!("  expected   {c} × {k}");
    }

    // The server's own complaints.
    let log = srv.log();
    let mut levels: BTreeMap<&str, BTreeMap<String, u64>> = BTreeMap::new();
    for line in log.lines() {
        for level in ["ERROR", "WARN"] {
            if let Some(i) = line.find(&format!(" {level} ")) {
                let rest = line[i + level.len() + 2..].trim();
                // The message without its fields' values: "target: message".
                let msg: String = rest.split(" error=").next().unwrap_or(rest).chars().take(110).collect();
                *levels.entry(level).or_default().entry(msg).or_default() += 1;
            }
        }
    }
    for (level, msgs) in &levels {
        say!("server log:  {} {level} lines", msgs.values().sum::<u64>());
        let mut v: Vec<_> = msgs.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1));
        for (msg, c) in v.into_iter().take(8) {
            say!("  {c} × {msg}");
        }
    }

    let last = report.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
    say!("niem-audit verify (exit {code}, {verify_secs:.1} s):");
    let results: Vec<&str> = report.lines().skip_while(|l| !l.starts_with("Results:")).collect();
    for l in if results.is_empty() { report.lines().collect() } else { results } {
        if !l.trim().is_empty() {
            say!("  {l}");
        }
    }
    if code != 0 {
        for l in report.lines().take(40) {
            say!("  | {l}");
        }
    }

    // ------------------------------------------------------------ verdicts
    let pf = |ok: bool| if ok { "PASS" } else { "FAIL" };
    let mut verdicts: Vec<(String, bool, String)> = vec![
        (
            "RSS flat after warm-up (within ±10 %)".into(),
            flat.is_some_and(|d| d <= 10.0),
            flat.map_or("too short to judge".into(), |d| format!("largest deviation {d:.1} %")),
        ),
        (
            "unexpected errors (must be 0)".into(),
            n_unexpected == 0,
            format!("{n_unexpected} unexpected, {n_expected} expected"),
        ),
        (
            "live bytes lost (must be 0)".into(),
            lost_bytes == 0 && lost_pieces == 0 && unsealed_streams == 0,
            format!("{lost_bytes} bytes, {lost_pieces} pieces, {unsealed_streams} streams not sealed"),
        ),
        (
            "uploads stored intact (SHA-256)".into(),
            up_bad.is_empty() && !uploads.is_empty(),
            format!("{up_ok}/{} match", uploads.len()),
        ),
        ("every recording sealed".into(), !timed_out, format!("{seal_secs:.0} s after the senders stopped")),
        ("SeaweedFS restarted twice".into(), outages_done == 2, format!("{outages_done} restarts")),
        (
            "retention run".into(),
            retention_shredded.is_some(),
            retention_shredded.map_or("failed".into(), |s| format!("{s} shredded")),
        ),
        ("niem-audit verify".into(), code == 0, last.clone()),
    ];
    if model.is_some() {
        verdicts.push((
            "uploads transcribed".into(),
            tr_done == upload_recs.len() && !upload_recs.is_empty(),
            format!("{tr_done}/{}, {} failed", upload_recs.len(), tr_failed.len()),
        ));
    }
    say!("");
    say!("== verdict ==");
    for (what, ok, detail) in &verdicts {
        say!("{:<40} {}  ({detail})", what, pf(*ok));
    }
    if model.is_none() {
        say!("{:<40} SKIP  (transcription off: no model)", "uploads transcribed");
    }
    let overall = verdicts.iter().all(|v| v.1);
    say!("{:<40} {}", "overall", pf(overall));

    if !overall {
        say!("");
        say!(
            "--- last 20 WARN and ERROR lines of the server log ({}), cut at 300 characters ---",
            srv.log_path().display()
        );
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(" WARN ") || l.contains(" ERROR ")).collect();
        for l in &lines[lines.len().saturating_sub(20)..] {
            say!("{}", l.chars().take(300).collect::<String>());
        }
    }
    let t = std::time::Instant::now();
    tokio::task::block_in_place(|| srv.stop());
    say!("server stopped (SIGTERM) in {:.1} s", t.elapsed().as_secs_f64());
    drop(sw);
    *lock(&OUT) = None;
}
