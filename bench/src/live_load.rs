//! `niem-bench live-load`: N concurrent RTMP publishers against a real `niem serve`, at
//! about 1.5 Mbit/s each, for a fixed time. Prints what went in, what was stored,
//! chunks acknowledged against chunks stored (lost = acknowledged − stored, which
//! must be 0), the server's CPU and peak memory, and whether `niem-audit verify`
//! passes. A printout, not a test.
//!
//! Usage: `niem-bench live-load [--streams 50,100,200] [--secs 120]
//! [--store local|seaweedfs] [--per-meeting 10] [--clip-secs 20] [--bframes 0]`
//! (release build: `bench/live-load.sh`). Each count in `--streams` is one round on a fresh server;
//! one table sums them up.
//!
//! The publishers are not encoders: one H.264/AAC FLV clip (720p25, 1400k video +
//! 96k audio) is made once with the ffmpeg CLI, and each publisher, a tokio task
//! speaking RTMP with `rml_rtmp`, sends its tags paced in real time, looping the
//! clip with shifted timestamps (sequence headers once, at the start). The clip has
//! no B-frames unless `--bframes N`: with B-frames the live remux currently refuses
//! the stream ("writing a packet: Invalid argument"), from this bench or from the
//! ffmpeg CLI alike. Every `--per-meeting` publishers are the bridge points of one
//! meeting (one org).
//!
//! Acknowledged chunks are the most `pieces_spooled` seen per stream in
//! `GET /api/v1/live`, polled every 2 s; the piece spooled as a stream ends is not
//! seen there, so stored is usually a little above acknowledged.
//!
//! The publishers run in this process, on the same machine as the server: the
//! server's CPU figure is what it got while sharing the cores with them, and the
//! bench's own CPU is printed beside it.

use crate::procfs::{clock_ticks, cpu_ticks, status_kib};
use bytes::Bytes;
use niem_tests::server::{Server, StoreKind};
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

// ---------------------------------------------------------------- the source clip

/// One FLV tag's body, as RTMP carries it.
struct Tag {
    video: bool,
    ts: u64,
    data: Bytes,
}

/// The clip, ready to loop: sequence headers (sent once), then the media tags
/// of one pass, which repeats every `period_ms`.
struct Source {
    headers: Vec<Tag>,
    tags: Vec<Tag>,
    period_ms: u64,
    /// Tag body bytes in one pass.
    pass_bytes: u64,
}

impl Source {
    fn bitrate_bps(&self) -> f64 {
        self.pass_bytes as f64 * 8.0 / (self.period_ms as f64 / 1000.0)
    }
}

/// Encodes the clip with the ffmpeg CLI.
fn make_clip(path: &std::path::Path, secs: u32, bframes: u32) {
    let t = std::time::Instant::now();
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-b:v", "1400k", "-maxrate", "1400k", "-bufsize", "2800k", "-g",
            "50", "-pix_fmt", "yuv420p",
        ])
        .args(["-bf", &bframes.to_string()])
        .args(["-c:a", "aac", "-b:a", "96k"])
        .args(["-t", &secs.to_string(), "-f", "flv"])
        .arg(path)
        .output()
        .expect("ffmpeg CLI (installed by scripts/setup.sh)");
    assert!(out.status.success(), "ffmpeg failed: {}", String::from_utf8_lossy(&out.stderr));
    println!(
        "source: {secs} s clip (720p25 H.264, {bframes} B-frames, AAC 48 kHz) made by ffmpeg in {:.1} s",
        t.elapsed().as_secs_f64()
    );
}

/// Reads FLV tags: the first AVC and AAC sequence headers apart, script tags
/// and the AVC end-of-sequence tag dropped.
fn parse_flv(bytes: &[u8]) -> Source {
    assert!(bytes.len() >= 13 && &bytes[..3] == b"FLV", "not an FLV file");
    let bytes = Bytes::copy_from_slice(bytes);
    let data_offset = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) as usize;
    let mut pos = data_offset + 4; // PreviousTagSize0
    let (mut headers, mut tags) = (Vec::new(), Vec::new());
    let (mut avc_header, mut aac_header) = (false, false);
    while pos + 11 <= bytes.len() {
        let kind = bytes[pos] & 0x1f;
        let size = u32::from_be_bytes([0, bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]]) as usize;
        let ts = u32::from_be_bytes([bytes[pos + 7], bytes[pos + 4], bytes[pos + 5], bytes[pos + 6]]) as u64;
        let body = pos + 11;
        if body + size > bytes.len() {
            break;
        }
        let data = bytes.slice(body..body + size);
        pos = body + size + 4;
        match kind {
            9 => {
                let avc = data.len() >= 2 && data[0] & 0x0f == 7;
                if avc && data[1] == 0 {
                    if !avc_header {
                        headers.push(Tag { video: true, ts: 0, data });
                        avc_header = true;
                    }
                } else if !(avc && data[1] == 2) {
                    tags.push(Tag { video: true, ts, data });
                }
            }
            8 => {
                let aac = data.len() >= 2 && data[0] >> 4 == 10;
                if aac && data[1] == 0 {
                    if !aac_header {
                        headers.push(Tag { video: false, ts: 0, data });
                        aac_header = true;
                    }
                } else {
                    tags.push(Tag { video: false, ts, data });
                }
            }
            _ => {}
        }
    }
    assert!(avc_header && aac_header && !tags.is_empty(), "the clip lacks AVC/AAC sequence headers or media");
    // The next pass starts one frame after the last frame of either track, so that
    // each track's timestamps keep increasing.
    let end = |video: bool| {
        let ts: Vec<u64> = tags.iter().filter(|t| t.video == video).map(|t| t.ts).collect();
        match ts.as_slice() {
            [.., a, b] => b + (b - a).max(1),
            [b] => b + 1,
            [] => 0,
        }
    };
    let period_ms = end(true).max(end(false));
    let pass_bytes = tags.iter().map(|t| t.data.len() as u64).sum();
    Source { headers, tags, period_ms, pass_bytes }
}

/// The tags a publisher sends, in order: headers, then the clip over and over.
struct Tags<'a> {
    src: &'a Source,
    next: usize,
}

impl Tags<'_> {
    fn peek_ts(&self) -> u64 {
        let h = self.src.headers.len();
        if self.next < h {
            return 0;
        }
        let i = self.next - h;
        (i / self.src.tags.len()) as u64 * self.src.period_ms + self.src.tags[i % self.src.tags.len()].ts
    }

    fn take(&mut self) -> (bool, u64, Bytes) {
        let ts = self.peek_ts();
        let h = self.src.headers.len();
        let tag = if self.next < h {
            &self.src.headers[self.next]
        } else {
            &self.src.tags[(self.next - h) % self.src.tags.len()]
        };
        self.next += 1;
        (tag.video, ts, tag.data.clone())
    }
}

// ---------------------------------------------------------------- a publisher

/// What one publisher saw.
#[derive(Default)]
struct Publisher {
    /// The server accepted the publish.
    accepted: bool,
    /// It sent through to the end without being refused or cut off.
    held: bool,
    error: Option<String>,
    /// RTMP bytes written to the socket.
    bytes: u64,
    /// How far behind real time a tag went out, at worst.
    max_lag_ms: u64,
}

struct Conn {
    sock: TcpStream,
    buf: Vec<u8>,
    events: Vec<ClientSessionEvent>,
    bytes: u64,
}

impl Conn {
    async fn read(&mut self) -> Result<usize, String> {
        match tokio::time::timeout(Duration::from_secs(30), self.sock.read(&mut self.buf)).await {
            Err(_) => Err("no answer from the server in 30 s".into()),
            Ok(Err(e)) => Err(format!("read: {e}")),
            Ok(Ok(0)) => Err("the server closed the connection".into()),
            Ok(Ok(n)) => Ok(n),
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.sock.write_all(bytes).await.map_err(|e| format!("write: {e}"))?;
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    /// Sends the session's packets in order; keeps its events.
    async fn answer(&mut self, results: Vec<ClientSessionResult>) -> Result<(), String> {
        let mut out = Vec::new();
        for r in results {
            match r {
                ClientSessionResult::OutboundResponse(p) => out.extend_from_slice(&p.bytes),
                ClientSessionResult::RaisedEvent(e) => self.events.push(e),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        if out.is_empty() {
            Ok(())
        } else {
            self.write(&out).await
        }
    }

    async fn input(&mut self, session: &mut ClientSession, n: usize) -> Result<(), String> {
        let results = session.handle_input(&self.buf[..n]).map_err(|e| format!("RTMP: {e:?}"))?;
        self.answer(results).await
    }

    /// Reads until `want` is raised; a refusal is an error.
    async fn wait_for(&mut self, session: &mut ClientSession, want: ClientSessionEvent) -> Result<(), String> {
        loop {
            for e in std::mem::take(&mut self.events) {
                match e {
                    e if e == want => return Ok(()),
                    ClientSessionEvent::ConnectionRequestRejected { description } => {
                        return Err(format!("connect refused: {description}"))
                    }
                    ClientSessionEvent::UnhandleableOnStatusCode { code }
                        if ["Rejected", "BadName", "Failed", "Error"].iter().any(|w| code.contains(w)) =>
                    {
                        return Err(format!("refused: {code}"))
                    }
                    _ => {}
                }
            }
            let n = self.read().await?;
            self.input(session, n).await?;
        }
    }
}

/// Handshake, connect, publish on `key`, then `secs` of media in real time.
async fn publish(addr: String, key: String, src: Arc<Source>, secs: u64, delay: Duration) -> Publisher {
    tokio::time::sleep(delay).await;
    let mut p = Publisher::default();
    let mut conn = None;
    let r = publish_on(&addr, &key, &src, secs, &mut p, &mut conn).await;
    p.bytes = conn.as_ref().map_or(0, |c| c.bytes);
    match r {
        Ok(()) => p.held = true,
        Err(e) => p.error = Some(e),
    }
    p
}

async fn publish_on(
    addr: &str,
    key: &str,
    src: &Source,
    secs: u64,
    p: &mut Publisher,
    slot: &mut Option<Conn>,
) -> Result<(), String> {
    let sock = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    let _ = sock.set_nodelay(true);
    let conn = slot.insert(Conn { sock, buf: vec![0; 64 * 1024], events: Vec::new(), bytes: 0 });
    let mut handshake = Handshake::new(PeerType::Client);
    let p0p1 = handshake.generate_outbound_p0_and_p1().map_err(|e| format!("handshake: {e:?}"))?;
    conn.write(&p0p1).await?;
    let remaining = loop {
        let n = conn.read().await?;
        match handshake.process_bytes(&conn.buf[..n]).map_err(|e| format!("handshake: {e:?}"))? {
            HandshakeProcessResult::InProgress { response_bytes } => conn.write(&response_bytes).await?,
            HandshakeProcessResult::Completed { response_bytes, remaining_bytes } => {
                conn.write(&response_bytes).await?;
                break remaining_bytes;
            }
        }
    };
    let mut config = ClientSessionConfig::new();
    config.chunk_size = 65_536;
    let (mut session, results) = ClientSession::new(config).map_err(|e| format!("RTMP: {e:?}"))?;
    conn.answer(results).await?;
    let results = session.handle_input(&remaining).map_err(|e| format!("RTMP: {e:?}"))?;
    conn.answer(results).await?;
    let r = session.request_connection("live".to_string()).map_err(|e| format!("RTMP: {e:?}"))?;
    conn.answer(vec![r]).await?;
    conn.wait_for(&mut session, ClientSessionEvent::ConnectionRequestAccepted).await?;
    let r =
        session.request_publishing(key.to_string(), PublishRequestType::Live).map_err(|e| format!("RTMP: {e:?}"))?;
    conn.answer(vec![r]).await?;
    conn.wait_for(&mut session, ClientSessionEvent::PublishRequestAccepted).await?;
    p.accepted = true;

    let start = Instant::now();
    let end_ms = secs * 1000;
    let mut tags = Tags { src, next: 0 };
    let mut batch = Vec::new();
    while tags.peek_ts() < end_ms {
        let due = start + Duration::from_millis(tags.peek_ts());
        tokio::select! {
            r = conn.sock.read(&mut conn.buf) => {
                let n = match r {
                    Ok(0) => return Err(format!("the server closed the connection after {:.1} s", start.elapsed().as_secs_f64())),
                    Ok(n) => n,
                    Err(e) => return Err(format!("read after {:.1} s: {e}", start.elapsed().as_secs_f64())),
                };
                conn.input(&mut session, n).await?;
                if let Some(e) = conn.events.drain(..).find(|e| matches!(e, ClientSessionEvent::UnhandleableOnStatusCode { .. })) {
                    return Err(format!("the server said {e:?}"));
                }
            }
            _ = tokio::time::sleep_until(due) => {
                let now = Instant::now();
                p.max_lag_ms = p.max_lag_ms.max(now.saturating_duration_since(due).as_millis() as u64);
                while tags.peek_ts() < end_ms && start + Duration::from_millis(tags.peek_ts()) <= now {
                    let (video, ts, data) = tags.take();
                    let ts = RtmpTimestamp::new(ts as u32);
                    let r = if video { session.publish_video_data(data, ts, false) } else { session.publish_audio_data(data, ts, false) };
                    match r.map_err(|e| format!("RTMP: {e:?}"))? {
                        ClientSessionResult::OutboundResponse(packet) => batch.extend_from_slice(&packet.bytes),
                        _ => unreachable!("publishing yields packets"),
                    }
                }
                conn.write(&batch).await.map_err(|e| format!("{e} after {:.1} s", start.elapsed().as_secs_f64()))?;
                batch.clear();
            }
        }
    }
    // The last tag's lateness, once written: backpressure shows up here.
    p.max_lag_ms = p.max_lag_ms.max(start.elapsed().as_millis().saturating_sub(end_ms as u128) as u64);
    let results = session.stop_publishing().map_err(|e| format!("RTMP: {e:?}"))?;
    conn.answer(results).await?;
    let _ = conn.sock.shutdown().await;
    Ok(())
}

// ---------------------------------------------------------------- server figures

async fn get(srv: &Server, path: &str) -> Option<Value> {
    let resp = srv.req(reqwest::Method::GET, path).timeout(Duration::from_secs(20)).send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.json().await.ok()
}

/// What `GET /api/v1/live` said, folded over the polls.
#[derive(Default)]
struct Watch {
    view: niem_tests::live::LiveView,
    failed_polls: u64,
}

impl Watch {
    async fn sample(&mut self, srv: &Server) {
        let Some(v) = get(srv, "/api/v1/live").await else {
            self.failed_polls += 1;
            return;
        };
        self.view.absorb(&v);
    }
}

// ---------------------------------------------------------------- a round

struct Round {
    streams: usize,
    secs: u64,
    store: &'static str,
    accepted: usize,
    held: usize,
    bytes_sent: u64,
    bytes_stored: u64,
    acked: u64,
    stored: u64,
    lost: u64,
    cpu_core_pct: f64,
    bench_core_pct: f64,
    peak_rss_kib: u64,
    max_lag_ms: u64,
    seal_secs: Option<f64>,
    verify_ok: bool,
}

fn mb(b: u64) -> f64 {
    b as f64 / 1e6
}

async fn round(n: usize, secs: u64, kind: StoreKind, per_meeting: usize, src: Arc<Source>) -> Round {
    let store = kind.name();
    println!();
    println!("== {n} streams × {secs} s, store {store} ==");
    let mut srv = Server::start(kind, &[("NIEM_LIVE__GRACE_SECS", "2"), ("NIEM_LOG__LEVEL", "info")]).await;
    let pid = srv.pid().expect("the server runs");
    let me = std::process::id();

    let mut meetings = Vec::new();
    let mut keys = Vec::new();
    for g in 0..n.div_ceil(per_meeting) {
        let (org, meeting) = srv.cell_with_meeting(&format!("Chi bộ {g}")).await;
        meetings.push(meeting);
        for e in 0..per_meeting.min(n - g * per_meeting) {
            keys.push(srv.endpoint(&org, &format!("Điểm cầu {g}-{e}")).await.1);
        }
    }
    println!("setup: {} meetings, {n} endpoints", meetings.len());

    let addr = srv.rtmp.trim_start_matches("rtmp://").split('/').next().expect("rtmp host").to_string();
    let tick = clock_ticks();
    let (cpu0, me0, t0) = (cpu_ticks(pid).unwrap_or(0), cpu_ticks(me).unwrap_or(0), Instant::now());
    // Connects are spread over a second, as a fleet of encoders would not all
    // dial in the same millisecond.
    let handles: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            tokio::spawn(publish(
                addr.clone(),
                key.clone(),
                src.clone(),
                secs,
                Duration::from_millis((i * 1000 / n) as u64),
            ))
        })
        .collect();
    let mut watch = Watch::default();
    let mut last_print = Instant::now();
    let mut last_sample = t0;
    watch.sample(&srv).await;
    while !handles.iter().all(|h| h.is_finished()) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if last_sample.elapsed() < Duration::from_secs(2) {
            continue;
        }
        last_sample = Instant::now();
        watch.sample(&srv).await;
        if last_print.elapsed() >= Duration::from_secs(15) {
            last_print = Instant::now();
            let el = t0.elapsed().as_secs_f64();
            let cpu = (cpu_ticks(pid).unwrap_or(0) - cpu0) as f64 / tick / el * 100.0;
            println!(
                "  t={el:>4.0} s  live {:>3} (publishing {:>3})  spool backlog {:>6.1} MB  server CPU {cpu:>4.0} % of a core  RSS {:>5.0} MiB",
                watch.view.live_now,
                watch.view.publishing_now,
                mb(watch.view.backlog_now),
                status_kib(pid, "VmRSS:").unwrap_or(0) as f64 / 1024.0
            );
        }
    }
    let run = t0.elapsed().as_secs_f64();
    let (cpu1, me1) = (cpu_ticks(pid).unwrap_or(cpu0), cpu_ticks(me).unwrap_or(me0));
    let mut pubs = Vec::new();
    for h in handles {
        pubs.push(
            h.await.unwrap_or_else(|e| Publisher { error: Some(format!("publisher task: {e}")), ..Default::default() }),
        );
    }
    let accepted = pubs.iter().filter(|p| p.accepted).count();
    let held = pubs.iter().filter(|p| p.held).count();
    let bytes_sent: u64 = pubs.iter().map(|p| p.bytes).sum();
    let max_lag_ms = pubs.iter().map(|p| p.max_lag_ms).max().unwrap_or(0);
    let behind = pubs.iter().filter(|p| p.max_lag_ms > 1000).count();
    let mut errors: BTreeMap<&str, usize> = BTreeMap::new();
    for e in pubs.iter().filter_map(|p| p.error.as_deref()) {
        *errors.entry(e).or_default() += 1;
    }

    // Publishers are gone: each stream ends after the grace period, its last
    // piece is spooled and stored, and each recording seals.
    let t_seal = Instant::now();
    let deadline = t_seal + Duration::from_secs_f64(120.0 + 0.5 * n as f64);
    let mut sealed: BTreeMap<String, Value> = BTreeMap::new();
    let mut no_recording;
    let timed_out = loop {
        watch.failed_polls = 0;
        watch.sample(&srv).await;
        let mut recs: BTreeSet<String> =
            watch.view.streams.values().map(|s| s.rec.clone()).filter(|r| !r.is_empty()).collect();
        no_recording = 0;
        for m in &meetings {
            match get(&srv, &format!("/api/v1/meetings/{m}"))
                .await
                .and_then(|v| v["recording"].as_str().map(str::to_string))
            {
                Some(r) => {
                    recs.insert(r);
                }
                None => no_recording += 1,
            }
        }
        let waiting: Vec<&String> = recs.iter().filter(|r| !sealed.contains_key(*r)).collect();
        for r in waiting {
            if let Some(v) = get(&srv, &format!("/api/v1/recordings/{r}")).await {
                if v["state"] == "sealed" {
                    sealed.insert(r.clone(), v);
                }
            }
        }
        if watch.view.live_now == 0 && watch.failed_polls == 0 && recs.iter().all(|r| sealed.contains_key(r)) {
            break false;
        }
        if Instant::now() > deadline {
            break true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let seal_secs = (!timed_out).then(|| t_seal.elapsed().as_secs_f64());

    // Stored chunks per stream, from the sealed manifests.
    let mut stored_by: BTreeMap<String, (u64, u64, u64, String)> = BTreeMap::new();
    for v in sealed.values() {
        for s in v["manifest"]["streams"].as_array().into_iter().flatten() {
            let chunks = s["chunks"].as_array().cloned().unwrap_or_default();
            let cipher: u64 = chunks.iter().map(|c| c["len"].as_u64().unwrap_or(0)).sum();
            let state = s["state"].as_str().unwrap_or("?").to_string();
            stored_by.insert(
                s["id"].as_str().unwrap_or_default().to_string(),
                (chunks.len() as u64, cipher, s["length"].as_u64().unwrap_or(0), state),
            );
        }
    }
    let acked: u64 = watch.view.streams.values().map(|s| s.pieces_spooled).sum();
    let stored: u64 = stored_by.values().map(|s| s.0).sum();
    let lost: u64 = watch
        .view
        .streams
        .iter()
        .map(|(id, s)| s.pieces_spooled.saturating_sub(stored_by.get(id).map_or(0, |x| x.0)))
        .sum();
    let bytes_stored: u64 = stored_by.values().map(|s| s.1).sum();
    let plain: u64 = stored_by.values().map(|s| s.2).sum();
    let server_in: u64 = watch.view.streams.values().map(|s| s.bytes_in).sum();
    let spooled: u64 = watch.view.streams.values().map(|s| s.bytes_spooled).sum();
    let reconnects = watch.view.streams.values().filter(|s| s.segments > 1).count();
    let unsealed_streams = watch.view.streams.keys().filter(|id| !stored_by.contains_key(*id)).count();
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for s in stored_by.values() {
        *states.entry(s.3.clone()).or_default() += 1;
    }

    let t_verify = std::time::Instant::now();
    let (code, report) = srv.audit(&["verify"], &[]);
    let verify_secs = t_verify.elapsed().as_secs_f64();
    let peak_rss_kib = status_kib(pid, "VmHWM:").unwrap_or(0);

    let cpu_core_pct = (cpu1 - cpu0) as f64 / tick / run * 100.0;
    let bench_core_pct = (me1 - me0) as f64 / tick / run * 100.0;
    let held_ok = held == n && reconnects == 0;
    println!("publishers:     {n} requested, {accepted} accepted, {held} held for the whole run ({run:.1} s for all of them)");
    for (e, k) in &errors {
        println!("  {k} × {e}");
    }
    println!(
        "pacing:         worst lag behind real time {max_lag_ms} ms; {behind} publishers fell more than 1 s behind"
    );
    println!(
        "in:             {:.1} MB sent by publishers ({:.2} Mbit/s per stream); server counted {:.1} MB of FLV in",
        mb(bytes_sent),
        bytes_sent as f64 * 8.0 / secs as f64 / 1e6 / n as f64,
        mb(server_in)
    );
    println!(
        "out:            {:.1} MB spooled (acknowledged), {:.1} MB stored (ciphertext), {:.1} MB of MP4; spool backlog peak {:.1} MB",
        mb(spooled),
        mb(bytes_stored),
        mb(plain),
        mb(watch.view.backlog_peak)
    );
    println!(
        "streams:        {} seen live, {} in sealed manifests {states:?}, {unsealed_streams} seen live but not in a sealed manifest, {reconnects} with more than one segment",
        watch.view.streams.len(),
        stored_by.len()
    );
    println!("chunks:         {acked} acknowledged, {stored} stored, lost {lost}");
    match seal_secs {
        Some(s) => println!("sealing:        {} recordings sealed {s:.1} s after the publishers stopped", sealed.len()),
        None => println!(
            "sealing:        TIMED OUT after {:.0} s: {} recordings sealed, {no_recording} meetings without a recording, {} streams still live",
            t_seal.elapsed().as_secs_f64(),
            sealed.len(),
            watch.view.live_now
        ),
    }
    println!(
        "server CPU:     {cpu_core_pct:.0} % of one core, {:.0} % of the machine ({} CPUs) over the run; bench (publishers) {bench_core_pct:.0} % of one core",
        cpu_core_pct / cpus() as f64,
        cpus()
    );
    println!("server memory:  peak RSS (VmHWM) {:.0} MiB", peak_rss_kib as f64 / 1024.0);
    let last = report.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    println!(
        "niem-audit verify: {} (exit {code}, {verify_secs:.1} s): {last}",
        if code == 0 { "ok" } else { "FAILED" }
    );
    if code != 0 {
        println!("{report}");
    }
    if !held_ok || lost > 0 || code != 0 || timed_out {
        println!("--- last 30 lines of the server log ---");
        let log = srv.log();
        let lines: Vec<&str> = log.lines().collect();
        for l in &lines[lines.len().saturating_sub(30)..] {
            println!("{l}");
        }
        println!("---");
    }
    srv.stop();
    Round {
        streams: n,
        secs,
        store,
        accepted,
        held,
        bytes_sent,
        bytes_stored,
        acked,
        stored,
        lost,
        cpu_core_pct,
        bench_core_pct,
        peak_rss_kib,
        max_lag_ms,
        seal_secs,
        verify_ok: code == 0,
    }
}

pub async fn run(args: &crate::LiveLoad) {
    let crate::LiveLoad { streams, secs, store, per_meeting, clip_secs, bframes } = args;
    let (secs, per_meeting, clip_secs, bframes) = (*secs, *per_meeting, *clip_secs, *bframes);
    assert!(streams.iter().all(|&n| n > 0) && secs > 0 && per_meeting > 0 && clip_secs > 0, "counts must be positive");

    let dir = tempfile::tempdir().expect("temp dir");
    let clip = dir.path().join("source.flv");
    make_clip(&clip, clip_secs, bframes);
    let src = Arc::new(parse_flv(&std::fs::read(&clip).expect("read the clip")));
    println!(
        "source: {} tags a pass, looped every {} ms, {:.2} Mbit/s of media per stream",
        src.tags.len(),
        src.period_ms,
        src.bitrate_bps() / 1e6
    );
    println!(
        "machine: {} CPUs; the publishers run in this process on the same machine as the server (2 tokio workers)",
        cpus()
    );

    let mut rounds = Vec::new();
    for &n in streams {
        rounds.push(round(n, secs, store.store().await, per_meeting, src.clone()).await);
    }

    println!();
    println!(
        "{:>7} {:>5} {:>5} {:>9} {:>5} {:>8} {:>9} {:>7} {:>7} {:>5} {:>11} {:>11} {:>11} {:>8} {:>8} {:>7} {:>6}",
        "streams",
        "acc",
        "held",
        "store",
        "secs",
        "in MB",
        "stored MB",
        "acked",
        "stored",
        "lost",
        "srv %core",
        "srv %mach",
        "bench %core",
        "RSS MiB",
        "lag ms",
        "seal s",
        "verify"
    );
    for r in &rounds {
        println!(
            "{:>7} {:>5} {:>5} {:>9} {:>5} {:>8.1} {:>9.1} {:>7} {:>7} {:>5} {:>11.0} {:>11.0} {:>11.0} {:>8.0} {:>8} {:>7} {:>6}",
            r.streams,
            r.accepted,
            r.held,
            r.store,
            r.secs,
            mb(r.bytes_sent),
            mb(r.bytes_stored),
            r.acked,
            r.stored,
            r.lost,
            r.cpu_core_pct,
            r.cpu_core_pct / cpus() as f64,
            r.bench_core_pct,
            r.peak_rss_kib as f64 / 1024.0,
            r.max_lag_ms,
            r.seal_secs.map_or("timeout".to_string(), |s| format!("{s:.1}")),
            if r.verify_ok { "ok" } else { "FAILED" }
        );
    }
}
