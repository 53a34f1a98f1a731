//! Live senders and what a listener would check: the real `ffmpeg` CLI publishing a
//! tone and a test picture over RTMP or HTTP push, and decoding of what the archive
//! gives back (duration from decoded samples, frequency from zero crossings).

use crate::server::Server;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An `ffmpeg` process sending `secs` seconds of a `freq` Hz tone and a test
/// picture, in real time.
pub struct Sender {
    child: Child,
    pub freq: u32,
    pub secs: f64,
}

fn ffmpeg_args(freq: u32, secs: f64) -> Vec<String> {
    [
        "-hide_banner",
        "-v",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
        &format!("sine=frequency={freq}:sample_rate=44100:duration={secs}"),
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc=size=320x240:rate=15:duration={secs}"),
        // B-frames, as OBS's and most encoders' defaults have them.
        "-c:v",
        "libx264",
        "-preset",
        "superfast",
        "-bf",
        "2",
        "-g",
        "30",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "64k",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl Sender {
    /// Publishes to `rtmp://…/live/<key>` as FLV.
    pub fn rtmp(server: &Server, key: &str, freq: u32, secs: f64) -> Sender {
        Self::spawn(freq, secs, &["-f", "flv", &format!("{}/{key}", server.rtmp)])
    }

    /// Publishes to `rtmps://…/live/<key>` as FLV, checking the server's
    /// certificate against `ca` (ffmpeg checks none by default).
    pub fn rtmps(url: &str, ca: &std::path::Path, key: &str, freq: u32, secs: f64) -> Sender {
        let ca = ca.display().to_string();
        Self::spawn(freq, secs, &["-tls_verify", "1", "-ca_file", &ca, "-f", "flv", &format!("{url}/{key}")])
    }

    /// Pushes MPEG-TS (or `format`) in a chunked HTTP PUT.
    pub fn push(server: &Server, key: &str, freq: u32, secs: f64, format: &str) -> Sender {
        Self::spawn(freq, secs, &["-f", format, "-method", "PUT", &format!("{}/api/v1/live/{key}", server.url)])
    }

    /// Publishes an audio file (in real time) with a test picture over RTMP, as a
    /// bridge point's encoder would.
    pub fn rtmp_speech(server: &Server, key: &str, audio: &std::path::Path, secs: f64) -> Sender {
        let child = Command::new("ffmpeg")
            .args(["-hide_banner", "-v", "error", "-re", "-i"])
            .arg(audio)
            .args(["-re", "-f", "lavfi", "-i", &format!("testsrc=size=320x240:rate=15:duration={secs}")])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "superfast",
                "-bf",
                "2",
                "-g",
                "30",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-b:a",
                "96k",
                "-shortest",
            ])
            .args(["-f", "flv", &format!("{}/{key}", server.rtmp)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ffmpeg CLI (installed by scripts/setup.sh)");
        Sender { child, freq: 0, secs }
    }

    fn spawn(freq: u32, secs: f64, out: &[&str]) -> Sender {
        let child = Command::new("ffmpeg")
            .args(ffmpeg_args(freq, secs))
            .args(out)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ffmpeg CLI (installed by scripts/setup.sh)");
        Sender { child, freq, secs }
    }

    /// Waits for the sender to finish; returns whether it succeeded and its stderr.
    pub fn wait(mut self) -> (bool, String) {
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        let status = self.child.wait().expect("wait for ffmpeg");
        (status.success(), err)
    }

    /// Kills the sender: a dropped line.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// What a decoded stream sounds like.
#[derive(Debug, Clone, Copy)]
pub struct Heard {
    pub seconds: f64,
    pub freq: f64,
    pub video_frames: u64,
}

/// Decodes a fragmented MP4 completely (any decode error fails) and measures it.
pub fn listen(mp4: &[u8]) -> Heard {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("stream.mp4");
    std::fs::write(&path, mp4).expect("write stream");
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args(["-map", "0:a:0", "-ac", "1", "-ar", "48000", "-f", "s16le", "-"])
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "audio does not decode cleanly: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<i16> = out.stdout.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    let seconds = samples.len() as f64 / 48_000.0;
    // Zero crossings upward over the middle, away from fades at either end.
    let (from, to) = (samples.len() / 10, samples.len() * 9 / 10);
    let window = &samples[from..to];
    let ups = window.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count();
    let freq = ups as f64 / (window.len() as f64 / 48_000.0);
    let video = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args(["-map", "0:v:0", "-f", "framemd5", "-"])
        .output()
        .expect("ffmpeg");
    assert!(
        video.status.success() && video.stderr.is_empty(),
        "video does not decode cleanly: {}",
        String::from_utf8_lossy(&video.stderr)
    );
    let video_frames = String::from_utf8_lossy(&video.stdout).lines().filter(|l| !l.starts_with('#')).count() as u64;
    Heard { seconds, freq, video_frames }
}

impl Server {
    /// A cell org with a meeting scheduled now; returns (org, meeting).
    pub async fn cell_with_meeting(&self, name: &str) -> (String, String) {
        let (s, org) =
            self.api(reqwest::Method::POST, "/api/v1/orgs", Some(json!({ "name": name, "kind": "bloc" }))).await;
        assert_eq!(s, 201, "{org}");
        let org = org["id"].as_str().expect("org id").to_string();
        let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).expect("time");
        let m = json!({ "org": org, "kind": "regular", "title": format!("Sinh hoạt {name}"), "scheduled_at": now });
        let (s, meeting) = self.api(reqwest::Method::POST, "/api/v1/meetings", Some(m)).await;
        assert_eq!(s, 201, "{meeting}");
        (org, meeting["id"].as_str().expect("meeting id").to_string())
    }

    /// Creates an endpoint of `org`; returns (endpoint id, stream key).
    pub async fn endpoint(&self, org: &str, name: &str) -> (String, String) {
        let (s, ep) = self
            .api(reqwest::Method::POST, &format!("/api/v1/orgs/{org}/endpoints"), Some(json!({ "name": name })))
            .await;
        assert_eq!(s, 201, "{ep}");
        (ep["id"].as_str().expect("id").to_string(), ep["stream_key"].as_str().expect("key").to_string())
    }

    pub async fn live(&self) -> Value {
        let (s, v) = self.api(reqwest::Method::GET, "/api/v1/live", None).await;
        assert_eq!(s, 200, "{v}");
        v
    }

    /// Waits until `meeting` has a sealed recording; returns the recording view.
    pub async fn sealed_recording(&self, meeting: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let (_, m) = self.api(reqwest::Method::GET, &format!("/api/v1/meetings/{meeting}"), None).await;
            if let Some(rec) = m["recording"].as_str() {
                let (_, r) = self.api(reqwest::Method::GET, &format!("/api/v1/recordings/{rec}"), None).await;
                if r["state"] == "sealed" {
                    return r;
                }
            }
            assert!(
                Instant::now() < deadline,
                "meeting {meeting} was not sealed in {within:?}: {m}\nlog:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// What a bench learns of one live stream from `GET /api/v1/live`: the largest
/// figure any poll showed, so what the service acknowledged can be compared with
/// what the sealed manifests hold.
#[derive(Debug, Default, Clone)]
pub struct SeenStream {
    pub rec: String,
    pub pieces_spooled: u64,
    pub bytes_spooled: u64,
    pub bytes_in: u64,
    pub segments: u64,
}

/// The live view, folded over every poll.
#[derive(Debug, Default)]
pub struct LiveView {
    pub streams: std::collections::BTreeMap<String, SeenStream>,
    pub live_now: usize,
    pub publishing_now: usize,
    pub backlog_now: u64,
    pub backlog_peak: u64,
}

impl LiveView {
    /// Folds in one answer of `GET /api/v1/live`.
    pub fn absorb(&mut self, v: &Value) {
        let streams = v["streams"].as_array().cloned().unwrap_or_default();
        self.live_now = streams.len();
        self.publishing_now = streams.iter().filter(|s| s["state"] == "publishing").count();
        self.backlog_now = v["spool_backlog_bytes"].as_u64().unwrap_or(0);
        self.backlog_peak = self.backlog_peak.max(self.backlog_now);
        for s in &streams {
            let Some(id) = s["stream"].as_str() else { continue };
            let seen = self.streams.entry(id.to_string()).or_default();
            seen.rec = s["recording"].as_str().unwrap_or_default().to_string();
            let n = |k: &str| s[k].as_u64().unwrap_or(0);
            seen.pieces_spooled = seen.pieces_spooled.max(n("pieces_spooled"));
            seen.bytes_spooled = seen.bytes_spooled.max(n("bytes_spooled"));
            seen.bytes_in = seen.bytes_in.max(n("bytes_in"));
            seen.segments = seen.segments.max(n("segments"));
        }
    }
}
