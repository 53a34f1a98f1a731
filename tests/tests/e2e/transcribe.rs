//! Transcription end to end: known speech (espeak-ng) uploaded and pushed live
//! over RTMP to a `niem` on SeaweedFS, transcribed by the real Whisper base
//! model, sealed, exported and verified.

use niem_tests::live::Sender;
use niem_tests::seaweed::SeaweedFs;
use niem_tests::server::{Server, StoreKind};
use niem_tests::speech::{self, wer};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use unicode_normalization::UnicodeNormalization;

const SENTENCES: [(f32, &str); 3] = [
    (1.0, "The branch meeting approved the resolution on digital transformation."),
    (10.0, "Comrade Lan reported on the admission of new party members."),
    (19.0, "The inspection committee will review the budget in the third quarter."),
];
const CLIP_SECS: f32 = 26.0;

async fn server(store: StoreKind, extra: &[(&str, &str)]) -> Server {
    let model = speech::model().display().to_string();
    let mut env = vec![("NIEM_TRANSCRIBE__MODEL", model.as_str()), ("NIEM_LIVE__GRACE_SECS", "2")];
    env.extend_from_slice(extra);
    Server::start(store, &env).await
}

/// Waits for a recording's transcript (JSON), failing with the job's state.
async fn transcript(server: &Server, rec: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (s, v) = server.api(Method::GET, &format!("/api/v1/recordings/{rec}/transcript"), None).await;
        if s == 200 {
            return v;
        }
        assert_eq!(s, 404, "{v}");
        let (_, jobs) = server.api(Method::GET, "/api/v1/jobs", None).await;
        assert!(
            Instant::now() < deadline,
            "no transcript for {rec} in {within:?}: {v}\njobs: {jobs}\nlog:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The `action` entries in the store's ledger (as `niem-audit log` reads them),
/// once `n` of them have been mirrored there; fails on more.
async fn ledgered(server: &Server, action: &str, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, log) = server.audit(&["log"], &["--action", action, "--json"]);
        assert_eq!(code, 0, "{log}");
        let count = log.lines().filter(|l| l.contains(&format!("\"{action}\""))).count();
        assert!(count <= n, "{count} {action} entries, expected {n}: {log}");
        if count == n {
            return log;
        }
        assert!(Instant::now() < deadline, "{count} {action} entries after 20 s, expected {n}: {log}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn text_of(t: &Value) -> String {
    let segs = t["segments"].as_array().expect("segments");
    segs.iter()
        .filter(|s| s["flags"].is_null())
        .map(|s| s["text"].as_str().unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ")
}

/// WER ≤ 15 % against the spoken text, each sentence within ±1 s of where it
/// was placed, and text that is valid NFC.
fn check_english(t: &Value, what: &str) {
    let reference: String = SENTENCES.iter().map(|(_, s)| *s).collect::<Vec<_>>().join(" ");
    let heard = text_of(t);
    let rate = wer(&reference, &heard);
    println!("{what}: WER {:.1} % ({heard:?})", rate * 100.0);
    assert!(rate <= 0.15, "{what}: WER {rate:.3} over 15 %: heard {heard:?}");
    assert_eq!(heard, heard.nfc().collect::<String>(), "NFC");
    let segs = t["segments"].as_array().unwrap();
    for (at, sentence) in SENTENCES {
        let key = speech::words(sentence).into_iter().max_by_key(|w| w.len()).unwrap();
        let seg = segs
            .iter()
            .find(|s| speech::words(s["text"].as_str().unwrap()).contains(&key))
            .unwrap_or_else(|| panic!("{what}: no segment holds {key:?}: {t}"));
        let start = seg["start_ms"].as_u64().unwrap() as f64 / 1000.0;
        println!("{what}: {key:?} placed at {at} s, transcribed at {start:.2} s");
        assert!((start - at as f64).abs() <= 1.0, "{what}: {key:?} placed at {at} s, transcribed at {start} s");
    }
    assert_eq!(t["machine_generated"], true);
    assert_eq!(t["model"]["name"], "ggml-base.bin");
    assert_eq!(t["model"]["sha256"].as_str().map(str::len), Some(64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn english_speech_uploaded_and_live_is_transcribed_sealed_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let wav = speech::clip(dir.path(), "english", "en-us", &SENTENCES, CLIP_SECS);
    let server = server(SeaweedFs::shared().store().await, &[]).await;

    // Live: a bridge point pushes the same speech over RTMP, in real time, for a
    // meeting that takes its language from its org.
    let (s, _) = server
        .api(Method::POST, "/api/v1/orgs", Some(json!({ "name": "x", "kind": "bloc", "language": "auto" })))
        .await;
    assert_eq!(s, 400, "an unknown language is refused");
    let (s, org) = server
        .api(Method::POST, "/api/v1/orgs", Some(json!({ "name": "English cell", "kind": "bloc", "language": "en" })))
        .await;
    assert_eq!(s, 201, "{org}");
    let org = org["id"].as_str().unwrap().to_string();
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    let (s, lm) = server
        .api(
            Method::POST,
            "/api/v1/meetings",
            Some(json!({ "org": org, "kind": "regular", "title": "Live", "scheduled_at": now })),
        )
        .await;
    assert_eq!(s, 201, "{lm}");
    let live_meeting = lm["id"].as_str().unwrap().to_string();
    let (_, key) = server.endpoint(&org, "Điểm cầu Hà Giang").await;
    let sender = Sender::rtmp_speech(&server, &key, &wav, CLIP_SECS as f64);

    // Upload, in an English-speaking meeting of a Vietnamese org.
    let meeting = server.meeting().await;
    let (s, m) = server.api(Method::GET, &format!("/api/v1/meetings/{meeting}"), None).await;
    assert_eq!(s, 200, "{m}");
    let org_of = m["org"].as_str().unwrap();
    let m2 = json!({ "org": org_of, "kind": "thematic", "title": "English session", "scheduled_at": "2026-11-22T09:00:00+07:00", "language": "en" });
    let (s, m2) = server.api(Method::POST, "/api/v1/meetings", Some(m2)).await;
    assert_eq!(s, 201, "{m2}");
    let (s, up) = server.upload(m2["id"].as_str().unwrap(), std::fs::read(&wav).unwrap()).await;
    assert_eq!(s, 201, "{up}");
    let rec = up["recording"].as_str().unwrap().to_string();
    server.seal(&rec).await;
    let t = transcript(&server, &rec, Duration::from_secs(180)).await;
    check_english(&t, "upload");
    assert_eq!(t["language"], "en", "the meeting's language wins");

    let (ok, err) = sender.wait();
    assert!(ok, "sender: {err}");
    let live = server.sealed_recording(&live_meeting, Duration::from_secs(60)).await;
    let live_rec = live["id"].as_str().unwrap().to_string();
    let t_live = transcript(&server, &live_rec, Duration::from_secs(180)).await;
    check_english(&t_live, "live");
    assert_eq!(t_live["streams"][0]["label"], "Điểm cầu Hà Giang", "{t_live}");
    assert_eq!(t_live["language"], "en", "the org's language, as the meeting sets none");

    // Exports: WebVTT and SRT, each read ledgered.
    let vtt = server.req(Method::GET, &format!("/api/v1/recordings/{rec}/transcript?format=vtt")).send().await.unwrap();
    assert_eq!(vtt.headers()["content-type"], "text/vtt; charset=utf-8");
    let vtt = vtt.text().await.unwrap();
    assert!(
        vtt.starts_with("WEBVTT") && vtt.contains("-->") && vtt.to_lowercase().contains("digital transformation"),
        "{vtt}"
    );
    let srt = server
        .req(Method::GET, &format!("/api/v1/recordings/{rec}/transcript?format=srt"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(srt.starts_with("1\n00:00:0") && srt.contains(" --> "), "{srt}");
    let (s, _) = server.api(Method::GET, &format!("/api/v1/recordings/{rec}/transcript?format=pdf"), None).await;
    assert_eq!(s, 400);

    // The minutes' draft carries the machine transcript's timed outline, called
    // what it is (bản chép lời tự động), never biên bản.
    let m2_id = m2["id"].as_str().unwrap();
    let draft = server.req(Method::GET, &format!("/api/v1/meetings/{m2_id}/minutes/draft")).send().await.unwrap();
    assert_eq!(draft.status().as_u16(), 200);
    let draft = draft.bytes().await.unwrap().to_vec();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(draft)).unwrap();
    let mut body = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("word/document.xml").unwrap(), &mut body).unwrap();
    assert!(body.contains("DỰ THẢO") && body.contains("bản chép lời tự động"), "{body}");
    assert!(body.contains("[00:0") && body.to_lowercase().contains("digital transformation"), "{body}");
    assert!(!body.contains("chưa có bản chép lời"), "{body}");

    // Jobs: done, with progress at the end.
    let (_, jobs) = server.api(Method::GET, "/api/v1/jobs", None).await;
    assert_eq!(jobs["transcriber"]["model"]["state"], "ready", "{jobs}");
    assert_eq!(jobs["counts"]["done"], 2, "{jobs}");

    // The auditor's view: transcripts are covered like media, and reads are ledgered.
    // (Once the store's ledger holds both entries: until the mirror writes an
    // entry, the object it records is one the ledger in the store does not name.)
    let log = ledgered(&server, "transcript.stored", 2).await;
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        log.contains("\"model_sha256\"") && !log.to_lowercase().contains("transformation"),
        "hashes, never text, in the ledger: {log}"
    );
    // Reads: the JSON fetched when it was ready, the VTT and the SRT of the upload,
    // and the JSON of the live one (a refused format reads nothing).
    let viewed = ledgered(&server, "transcript.viewed", 4).await;
    assert_eq!(viewed.lines().filter(|l| l.contains(&rec)).count(), 3, "{viewed}");

    // The ciphertext in the store holds no plaintext.
    let store = server.raw_store().await;
    let object = store.read(&format!("recordings/{rec}/transcript.niem")).await;
    assert!(!String::from_utf8_lossy(&object).to_lowercase().contains("transformation"));
    assert!(!server.log().to_lowercase().contains("transformation"), "no transcript text in the log");

    // One changed byte in a transcript is caught and named, like one in a chunk.
    let key = format!("recordings/{rec}/transcript.niem");
    let mut damaged = object.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x20;
    store.write(&key, damaged).await;
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("transcript {key} INVALID")), "{out}");
    store.write(&key, object).await;
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vietnamese_silence_and_hallucinations() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(StoreKind::Local, &[]).await;
    let meeting = server.meeting().await;
    let (_, m) = server.api(Method::GET, &format!("/api/v1/meetings/{meeting}"), None).await;
    let org = m["org"].as_str().unwrap().to_string();
    // Each recording in a meeting of its own; `language` None leaves the default (vi).
    let upload = |bytes: Vec<u8>, language: Option<&'static str>| {
        let (server, org) = (&server, org.clone());
        async move {
            let m = json!({ "org": org, "kind": "regular", "title": "Sinh hoạt", "scheduled_at": "2026-11-22T10:00:00Z", "language": language });
            let (s, m) = server.api(Method::POST, "/api/v1/meetings", Some(m)).await;
            assert_eq!(s, 201, "{m}");
            let (s, up) = server.upload(m["id"].as_str().unwrap(), bytes).await;
            assert_eq!(s, 201, "{up}");
            let rec = up["recording"].as_str().unwrap().to_string();
            server.seal(&rec).await;
            rec
        }
    };

    // Vietnamese with `vi` (the default): valid NFC UTF-8 with diacritics, no
    // failed job on characters split across tokens. Accuracy is not asserted:
    // the base model cannot reach it.
    let vi = speech::clip(
        dir.path(),
        "vi",
        "vi",
        &[
            (0.5, "Chi bộ đã thông qua nghị quyết về chuyển đổi số và kết nạp đảng viên mới."),
            (7.0, "Đồng chí bí thư phát biểu kết luận hội nghị."),
        ],
        13.0,
    );
    let rec_vi = upload(std::fs::read(&vi).unwrap(), None).await;
    // A silent minute.
    let silent = speech::clip(dir.path(), "silent", "en-us", &[], 60.0);
    let rec_silent = upload(std::fs::read(&silent).unwrap(), None).await;
    // A known hallucination, actually spoken after a real sentence.
    let parts = [(0.5, "The cell secretary opened the meeting."), (6.0, "Please subscribe to my channel.")];
    let clip = speech::clip(dir.path(), "blocked", "en-us", &parts, 12.0);
    let rec_blocked = upload(std::fs::read(&clip).unwrap(), Some("en")).await;

    let t = transcript(&server, &rec_vi, Duration::from_secs(180)).await;
    let text = text_of(&t);
    println!("vi: {text:?}");
    assert!(!text.is_empty() && !text.contains('\u{FFFD}'));
    assert_eq!(text, text.nfc().collect::<String>(), "NFC");
    let marks = "ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹàáãèéìíòóõùúýđ";
    assert!(text.to_lowercase().chars().any(|c| marks.contains(c)), "Vietnamese diacritics in {text:?}");
    assert_eq!(t["language"], "vi");

    let t = transcript(&server, &rec_silent, Duration::from_secs(180)).await;
    assert_eq!(t["segments"].as_array().map(Vec::len), Some(0), "no text from silence: {t}");
    assert_eq!(t["streams"][0]["speech_ms"], 0);
    assert!(t["streams"][0]["audio_ms"].as_u64().unwrap() >= 59_900, "{t}");

    let t = transcript(&server, &rec_blocked, Duration::from_secs(180)).await;
    let segs = t["segments"].as_array().unwrap();
    let flagged: Vec<&Value> = segs.iter().filter(|s| s["flags"] == json!(["blocklisted"])).collect();
    assert_eq!(flagged.len(), 1, "{t}");
    assert!(text_of(&t).to_lowercase().contains("secretary"), "{t}");
    let vtt = server
        .req(Method::GET, &format!("/api/v1/recordings/{rec_blocked}/transcript?format=vtt"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !vtt.to_lowercase().contains("subscribe") && vtt.to_lowercase().contains("secretary"),
        "flagged text stays out of exports: {vtt}"
    );
    let (_, jobs) = server.api(Method::GET, "/api/v1/jobs?state=failed", None).await;
    assert_eq!(jobs["jobs"].as_array().map(Vec::len), Some(0), "no job failed: {jobs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_model_jobs_wait_and_a_killed_job_completes_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    // Long enough that the job is surely mid-run when the server dies.
    let many: Vec<(f32, &str)> = (0..12).map(|i| (1.0 + 8.0 * i as f32, SENTENCES[i % 3].1)).collect();
    let wav = speech::clip(dir.path(), "long", "en-us", &many, 100.0);
    let mut server = Server::start(StoreKind::Local, &[("NIEM_TRANSCRIBE__LANGUAGE", "en")]).await;
    let meeting = server.meeting().await;
    let (s, up) = server.upload(&meeting, std::fs::read(&wav).unwrap()).await;
    assert_eq!(s, 201, "{up}");
    let rec = up["recording"].as_str().unwrap().to_string();
    server.seal(&rec).await;

    // No model: the recording is stored, its job waits, and the API says why.
    let (_, jobs) = server.api(Method::GET, "/api/v1/jobs", None).await;
    assert_eq!(jobs["transcriber"]["model"]["state"], "not_configured", "{jobs}");
    assert_eq!(jobs["jobs"][0]["state"], "queued", "{jobs}");
    let (s, v) = server.api(Method::GET, &format!("/api/v1/recordings/{rec}/transcript"), None).await;
    assert_eq!(s, 404);
    assert!(v["error"]["message"].as_str().unwrap_or_default().contains("no Whisper model"), "{v}");
    assert_eq!(server.log().matches("no Whisper model configured").count(), 1, "one clear warning at start");

    // With a model: the job starts; kill -9 while it runs.
    server.set_env("NIEM_TRANSCRIBE__MODEL", &speech::model().display().to_string());
    server.restart().await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, jobs) = server.api(Method::GET, "/api/v1/jobs", None).await;
        let job = &jobs["jobs"][0];
        if job["state"] == "running" && job["progress_ms"].as_u64().unwrap_or(0) > 0 {
            assert_eq!(job["total_ms"], 100_000, "{job}");
            break;
        }
        assert_ne!(job["state"], "done", "the job finished before it could be interrupted: {jobs}");
        assert!(Instant::now() < deadline, "{jobs}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.kill9();
    server.start_again().await;
    let t = transcript(&server, &rec, Duration::from_secs(300)).await;
    let heard = text_of(&t);
    let reference: String = many.iter().map(|(_, s)| *s).collect::<Vec<_>>().join(" ");
    let rate = wer(&reference, &heard);
    println!("after restart: WER {:.1} %", rate * 100.0);
    assert!(rate <= 0.15, "WER {rate}: {heard:?}");
    let (_, jobs) = server.api(Method::GET, "/api/v1/jobs", None).await;
    assert_eq!(jobs["jobs"][0]["state"], "done", "{jobs}");
    assert_eq!(jobs["jobs"][0]["attempts"], 0, "a crash is not a failed attempt: {jobs}");
    let log = ledgered(&server, "transcript.stored", 1).await;
    // Past the mirror's batch window: still exactly one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = ledgered(&server, "transcript.stored", 1).await + &log;
    assert_eq!(
        log.lines().filter(|l| l.contains("\"transcript.stored\"")).count(),
        2,
        "exactly one transcript.stored: {log}"
    );
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
}

/// A chunk altered in the store between the seal and the transcription fails
/// its job on the first attempt, with the reason: no retry can mend it, and
/// taking it for a store outage would requeue it forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_that_fails_authentication_fails_its_job_at_once() {
    let mut server = Server::start(StoreKind::Local, &[("NIEM_TRANSCRIBE__RETRY_SECS", "1")]).await;
    let meeting = server.meeting().await;
    let (s, up) = server.upload(&meeting, niem_tests::wav::tone(3.0, 440.0, 16_000, None)).await;
    assert_eq!(s, 201, "{up}");
    let (rec, stream) = (up["recording"].as_str().unwrap().to_string(), up["stream"].as_str().unwrap());
    server.seal(&rec).await;
    // No model yet: the job waits while a byte of the chunk is flipped.
    server.stop();
    let chunk = format!("recordings/{rec}/{stream}/00000000.niem");
    let raw = server.raw_store().await;
    let mut bytes = raw.read(&chunk).await;
    bytes[100] ^= 0x01;
    raw.delete(&chunk).await;
    raw.write(&chunk, bytes).await;
    server.set_env("NIEM_TRANSCRIBE__MODEL", &speech::model().display().to_string());
    server.start_again().await;

    let deadline = Instant::now() + Duration::from_secs(120);
    let job = loop {
        let (_, jobs) = server.api(Method::GET, "/api/v1/jobs", None).await;
        let job = jobs["jobs"][0].clone();
        if job["state"] == "failed" {
            break job;
        }
        assert!(job["attempts"].as_u64() == Some(0), "retried as if it could succeed: {jobs}");
        assert!(Instant::now() < deadline, "the job did not fail: {jobs}\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let error = job["error"].as_str().unwrap_or_default();
    assert_eq!(job["attempts"], 1, "{job}");
    assert!(error.contains("unreadable as stored") && error.contains("fails authentication"), "{job}");
    assert!(error.contains(stream), "the stream is named: {job}");
    // Past several retry periods it stays failed, tried once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, jobs) = server.api(Method::GET, "/api/v1/jobs", None).await;
    assert_eq!(
        (jobs["jobs"][0]["state"].as_str(), jobs["jobs"][0]["attempts"].as_u64()),
        (Some("failed"), Some(1)),
        "{jobs}"
    );
    let (s, v) = server.api(Method::GET, &format!("/api/v1/recordings/{rec}/transcript"), None).await;
    assert_eq!(s, 404);
    assert!(v["error"]["message"].as_str().unwrap_or_default().contains("fails authentication"), "{v}");
    // The recording's verification names the same chunk.
    let (s, v) = server.api(Method::POST, &format!("/api/v1/recordings/{rec}/verify"), None).await;
    assert_eq!((s, v["intact"].as_bool()), (200, Some(false)), "{v}");
    assert!(v["problems"].to_string().contains(&chunk), "{v}");
}
