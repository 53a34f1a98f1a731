//! Live ingest end to end: the real `ffmpeg` CLI publishes over RTMP and HTTP
//! push to a real `niem serve` on SeaweedFS; what the archive gives back is decoded
//! and measured (duration from samples, tone from zero crossings), and
//! `niem-audit verify` must pass. Also: reconnects, kill -9 with 10 live streams,
//! a 60 s store outage, and bad input on every door.

use niem_tests::live::{listen, Sender};
use niem_tests::seaweed::SeaweedFs;
use niem_tests::server::{Server, StoreKind};
use serde_json::Value;
use std::time::Duration;

const GRACE: &str = "2";

fn streams(rec: &Value) -> Vec<Value> {
    rec["manifest"]["streams"].as_array().expect("manifest streams").clone()
}

async fn heard(server: &Server, rec: &Value, stream: &Value) -> niem_tests::live::Heard {
    let (status, bytes) = server.play(rec["id"].as_str().unwrap(), stream["id"].as_str().unwrap(), None).await;
    assert_eq!(status, 200);
    tokio::task::spawn_blocking(move || listen(&bytes)).await.unwrap()
}

fn assert_sounds_like(h: niem_tests::live::Heard, secs: f64, freq: u32, what: &str) {
    assert!((h.seconds - secs).abs() <= 0.5, "{what}: {:.2} s of audio, sent {secs} s", h.seconds);
    assert!((h.freq - freq as f64).abs() <= 2.0, "{what}: tone {:.1} Hz, sent {freq} Hz", h.freq);
    assert!(
        h.video_frames as f64 >= secs * 15.0 * 0.9,
        "{what}: {} video frames for {secs} s at 15 fps",
        h.video_frames
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_meetings_at_once_over_rtmp_and_http_push() {
    let server = Server::start(SeaweedFs::shared().store().await, &[("NIEM_LIVE__GRACE_SECS", GRACE)]).await;
    let secs = 8.0;
    let plan = [(300, "rtmp"), (500, "rtmp"), (700, "rtmp"), (900, "http")];
    let mut sending = Vec::new();
    for (i, (freq, how)) in plan.into_iter().enumerate() {
        let (org, meeting) = server.cell_with_meeting(&format!("Chi bộ {i}")).await;
        let (_, key) = server.endpoint(&org, &format!("Điểm cầu {i}")).await;
        let sender = if how == "rtmp" {
            Sender::rtmp(&server, &key, freq, secs)
        } else {
            Sender::push(&server, &key, freq, secs, "mpegts")
        };
        sending.push((meeting, how, sender));
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let live = server.live().await;
    let rows = live["streams"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "all four are live: {live}");
    assert_eq!(rows.iter().filter(|r| r["protocol"] == "http").count(), 1, "{live}");
    for r in rows {
        assert_eq!(r["state"], "publishing", "{r}");
        assert!(r["bytes_in"].as_u64().unwrap() > 10_000 && r["pieces_spooled"].as_u64().unwrap() >= 1, "{r}");
        assert!(
            r["recording"].is_string() && r["last_piece_at"].is_string() && r["bitrate_bps"].as_u64().unwrap() > 0,
            "{r}"
        );
    }
    let mut done = Vec::new();
    for (meeting, how, sender) in sending {
        let freq = sender.freq;
        let (ok, err) = sender.wait();
        assert!(ok, "{how} sender failed: {err}");
        done.push((meeting, how, freq));
    }
    for (meeting, how, freq) in done {
        let rec = server.sealed_recording(&meeting, Duration::from_secs(60)).await;
        let s = streams(&rec);
        assert_eq!(s.len(), 1, "{how}: one endpoint, one stream: {rec}");
        assert_eq!(s[0]["state"], "complete", "{rec}");
        assert_sounds_like(heard(&server, &rec, &s[0]).await, secs, freq, how);
    }
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(server.live().await["streams"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reconnect_within_grace_continues_the_same_stream() {
    let server = Server::start(StoreKind::Local, &[("NIEM_LIVE__GRACE_SECS", "6")]).await;
    let (org, meeting) = server.cell_with_meeting("Chi bộ vùng cao").await;
    let (_, key) = server.endpoint(&org, "Điểm cầu xã").await;
    // The line drops: the first sender is killed mid-stream, the second comes back
    // 2 s later, well within the grace period.
    let first = Sender::rtmp(&server, &key, 440, 30.0);
    tokio::time::sleep(Duration::from_secs(6)).await;
    first.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let live = server.live().await;
    assert_eq!(live["streams"][0]["state"], "reconnecting", "{live}");
    let (ok, err) = Sender::rtmp(&server, &key, 440, 5.0).wait();
    assert!(ok, "{err}");
    let rec = server.sealed_recording(&meeting, Duration::from_secs(60)).await;
    let s = streams(&rec);
    assert_eq!(s.len(), 1, "one recording, one stream: {rec}");
    assert_eq!(s[0]["media"]["segments"], 2, "{rec}");
    let h = heard(&server, &rec, &s[0]).await;
    // About 6 s before the drop (what the killed sender had sent) and 5 s after,
    // as one continuous, cleanly decoding file.
    assert!(h.seconds > 9.5 && h.seconds < 12.0, "{h:?}");
    assert!((h.freq - 440.0).abs() <= 2.0, "{h:?}");
    let (_, meetings) = server.api(reqwest::Method::GET, &format!("/api/v1/meetings?org={org}"), None).await;
    assert_eq!(meetings.as_array().unwrap().len(), 1, "no ad hoc meeting was made: {meetings}");
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
}

/// Whether the peer closes the connection within `limit` (reading whatever it sends).
async fn closes_within(sock: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0; 8192];
    tokio::time::timeout(limit, async {
        while let Ok(n) = sock.read(&mut buf).await {
            if n == 0 {
                return;
            }
        }
    })
    .await
    .is_ok()
}

/// Bad input on every door, while a real meeting is live: each gets a clear
/// refusal or log line, and the live stream is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_hurts_only_itself() {
    use tokio::io::AsyncWriteExt;
    let server = Server::start(
        StoreKind::Local,
        &[("NIEM_LIVE__GRACE_SECS", GRACE), ("NIEM_LIVE__HANDSHAKE_TIMEOUT_SECS", "2")],
    )
    .await;
    let (org, meeting) = server.cell_with_meeting("Chi bộ").await;
    let (_, key) = server.endpoint(&org, "Điểm cầu chính").await;
    let (_, other_key) = server.endpoint(&org, "Điểm cầu phụ").await;
    let good = Sender::rtmp(&server, &key, 600, 14.0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let addr = server.rtmp.trim_start_matches("rtmp://").trim_end_matches("/live").to_string();

    // Garbage instead of a handshake: the connection is closed.
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8).collect();
    let _ = sock.write_all(&garbage).await;
    assert!(
        closes_within(&mut sock, Duration::from_secs(5)).await,
        "garbage on the RTMP port must close the connection"
    );

    // Half a handshake, then silence: dropped at the handshake deadline.
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    sock.write_all(&[3u8; 700]).await.unwrap();
    let started = std::time::Instant::now();
    let closed = closes_within(&mut sock, Duration::from_secs(8)).await;
    assert!(
        closed && started.elapsed() >= Duration::from_millis(1500),
        "a half handshake is dropped after the deadline ({:?})",
        started.elapsed()
    );

    // An unknown key and a revoked-looking key, over RTMP and HTTP.
    let (ok, _) = Sender::rtmp(&server, "live_01ARZ3NDEKTSV4RRFFQ69G5FAV_notakey", 300, 2.0).wait();
    assert!(!ok, "an unknown key must be refused");
    let resp =
        server.http().put(format!("{}/api/v1/live/not-a-key", server.url)).body(vec![0u8; 100]).send().await.unwrap();
    assert_eq!(resp.status(), 401);

    // A second publisher on a key that is live.
    let (ok, _) = Sender::rtmp(&server, &key, 300, 2.0).wait();
    assert!(!ok, "a duplicate publisher must be refused");

    // Junk media with a valid key.
    let junk: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2_246_822_519) >> 11) as u8).collect();
    let resp = server.http().put(format!("{}/api/v1/live/{other_key}", server.url)).body(junk).send().await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap();
    assert_eq!(status, 415, "{body}");

    let (ok, err) = good.wait();
    assert!(ok, "the good sender was disturbed: {err}");
    let rec = server.sealed_recording(&meeting, Duration::from_secs(60)).await;
    let s = streams(&rec);
    assert_eq!(s.len(), 1, "junk left no stream behind: {rec}");
    assert_sounds_like(heard(&server, &rec, &s[0]).await, 14.0, 600, "the good stream");
    let log = server.log();
    for needle in [
        "handshake failed",
        "no handshake and publish within 2 s",
        "RTMP publish refused",
        "already publishing",
        "live stream refused: nothing stored",
    ] {
        assert!(log.contains(needle), "the log says nothing like {needle:?}:\n{log}");
    }
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
}

/// kill -9 with 10 streams live: every piece acknowledged before the kill is in
/// the store after the restart, the cut streams close as interrupted with exact
/// lengths, the recordings seal, and verify passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_with_ten_live_streams_loses_nothing_acknowledged() {
    let mut server = Server::start(SeaweedFs::shared().store().await, &[("NIEM_LIVE__GRACE_SECS", GRACE)]).await;
    let mut meetings = Vec::new();
    let mut senders = Vec::new();
    for m in 0..2 {
        let (org, meeting) = server.cell_with_meeting(&format!("Chi bộ {m}")).await;
        meetings.push(meeting);
        for e in 0..5 {
            let (_, key) = server.endpoint(&org, &format!("Điểm cầu {e}")).await;
            senders.push(Sender::rtmp(&server, &key, 300 + 50 * (m * 5 + e), 60.0));
        }
    }
    tokio::time::sleep(Duration::from_secs(9)).await;
    let live = server.live().await;
    server.kill9();
    let rows = live["streams"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 10, "{live}");
    for s in senders {
        s.kill();
    }
    server.start_again().await;
    let mut checked = 0;
    for meeting in &meetings {
        let rec = server.sealed_recording(meeting, Duration::from_secs(60)).await;
        for s in streams(&rec) {
            let row = rows
                .iter()
                .find(|r| r["stream"] == s["id"])
                .unwrap_or_else(|| panic!("stream {} was not live: {live}", s["id"]));
            let acked = row["pieces_spooled"].as_u64().unwrap();
            let stored = s["chunks"].as_array().unwrap().len() as u64;
            assert!(acked >= 3, "pieces were acknowledged before the kill: {row}");
            assert!(stored >= acked, "stream {}: {acked} pieces acknowledged, {stored} stored", s["id"]);
            assert_eq!(s["state"], "interrupted", "{s}");
            let sum: u64 = s["chunks"].as_array().unwrap().iter().map(|c| c["len"].as_u64().unwrap() - 16).sum();
            assert_eq!(s["length"].as_u64().unwrap(), sum, "exact length");
            checked += 1;
        }
    }
    assert_eq!(checked, 10);
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
}

/// The store goes away for 60 s in the middle of two live meetings: ingest goes
/// on into the spool, the spool drains when the store is back, nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_60_second_store_outage_loses_nothing() {
    let mut sw = SeaweedFs::own();
    let store = sw.store().await;
    let server = Server::start(store, &[("NIEM_LIVE__GRACE_SECS", GRACE)]).await;
    let secs = 80.0;
    let mut sending = Vec::new();
    for (i, freq) in [350, 650].into_iter().enumerate() {
        let (org, meeting) = server.cell_with_meeting(&format!("Chi bộ {i}")).await;
        let (_, key) = server.endpoint(&org, "Điểm cầu").await;
        sending.push((meeting, freq, Sender::rtmp(&server, &key, freq, secs)));
    }
    tokio::time::sleep(Duration::from_secs(8)).await;
    sw.stop();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let live = server.live().await;
    assert!(live["spool_backlog_bytes"].as_u64().unwrap() > 100_000, "pieces wait in the spool: {live}");
    for r in live["streams"].as_array().unwrap() {
        assert_eq!(r["state"], "publishing", "ingest went on: {r}");
        assert!(r["spool_backlog"].as_u64().unwrap() > 30, "{r}");
    }
    sw.start();
    for (meeting, freq, sender) in sending {
        let (ok, err) = sender.wait();
        assert!(ok, "{err}");
        let rec = server.sealed_recording(&meeting, Duration::from_secs(90)).await;
        let s = streams(&rec);
        assert_eq!(s.len(), 1, "{rec}");
        assert_eq!(s[0]["state"], "complete");
        assert_sounds_like(heard(&server, &rec, &s[0]).await, secs, freq, "through the outage");
    }
    assert_eq!(server.live().await["spool_backlog_bytes"], 0);
    assert!(server.log().contains("store unavailable; live pieces wait in the spool"));
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
}

/// SIGTERM mid-meeting: the stream is finished (last fragment, last piece), the
/// spool drained, the process exits; after the restart the recording is still
/// open for a grace period, and the endpoint coming back joins it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_streams_and_hands_the_recording_over() {
    let mut server = Server::start(StoreKind::Local, &[("NIEM_LIVE__GRACE_SECS", "4")]).await;
    let (org, meeting) = server.cell_with_meeting("Chi bộ").await;
    let (_, key) = server.endpoint(&org, "Điểm cầu").await;
    let sender = Sender::rtmp(&server, &key, 440, 30.0);
    tokio::time::sleep(Duration::from_secs(6)).await;
    server.stop();
    sender.kill();
    let spooled = walk(&server.data_dir().join("spool/live"));
    assert!(spooled.is_empty(), "the spool drained before exit: {spooled:?}");
    assert!(server.log().contains("no new streams; finishing live streams"));
    server.start_again().await;
    let (_, m) = server.api(reqwest::Method::GET, &format!("/api/v1/meetings/{meeting}"), None).await;
    let rec = m["recording"].as_str().expect("a recording").to_string();
    let (_, view) = server.api(reqwest::Method::GET, &format!("/api/v1/recordings/{rec}"), None).await;
    assert_eq!(view["state"], "open", "handed over, not sealed: {view}");
    assert_eq!(streams(&view)[0]["state"], "complete", "{view}");
    let (ok, err) = Sender::rtmp(&server, &key, 440, 4.0).wait();
    assert!(ok, "{err}");
    let sealed = server.sealed_recording(&meeting, Duration::from_secs(60)).await;
    assert_eq!(sealed["id"], rec.as_str(), "the endpoint rejoined the same recording");
    let s = streams(&sealed);
    assert_eq!(s.len(), 2, "{sealed}");
    assert!(s.iter().all(|s| s["state"] == "complete"), "{sealed}");
    let first = heard(&server, &sealed, &s[0]).await;
    assert!(first.seconds > 3.0, "what arrived before SIGTERM is kept: {first:?}");
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
}

/// Everything under `dir`, directories included (closed streams leave none).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        out.push(e.path());
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        }
    }
    out
}
