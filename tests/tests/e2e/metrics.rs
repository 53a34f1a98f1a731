//! `/metrics` scraped as Prometheus text and `/readyz`, against a `niem` on
//! SeaweedFS: every metric is present, parses, and moves when its thing happens.

use niem_tests::live::Sender;
use niem_tests::seaweed::SeaweedFs;
use niem_tests::server::Server;
use reqwest::Method;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

async fn scrape(server: &Server) -> BTreeMap<String, f64> {
    server.metrics().await
}

fn get(m: &BTreeMap<String, f64>, name: &str) -> f64 {
    *m.get(name).unwrap_or_else(|| panic!("{name} missing from {:#?}", m.keys().collect::<Vec<_>>()))
}

fn sum_of(m: &BTreeMap<String, f64>, prefix: &str) -> f64 {
    m.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, v)| v).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_is_there_parses_and_moves() {
    let server = Server::start(SeaweedFs::shared().store().await, &[]).await;
    assert_eq!(reqwest::get(format!("{}/readyz", server.url)).await.unwrap().status(), 200);
    let before = scrape(&server).await;
    for name in [
        "niem_live_streams",
        "niem_ingested_bytes",
        "niem_chunks_stored",
        "niem_spool_backlog_bytes",
        "niem_spool_oldest_seconds",
        "niem_transcription_queue",
        "niem_transcription_real_time_factor",
        "niem_ledger_head_seq",
        "niem_checkpoint_age_seconds",
        "niem_verify_intact",
        "niem_verify_age_seconds",
        "niem_search_seconds_count",
    ] {
        get(&before, name);
    }
    assert_eq!(get(&before, "niem_verify_intact"), -1.0, "never verified yet");

    // A live stream, an upload sealed and verified, a search.
    let (org, _) = server.cell_with_meeting("Chi bộ").await;
    let (_, key) = server.endpoint(&org, "Điểm cầu").await;
    let sender = Sender::rtmp(&server, &key, 440, 6.0);
    let deadline = Instant::now() + Duration::from_secs(20);
    let during = loop {
        let m = scrape(&server).await;
        if get(&m, "niem_live_streams") >= 1.0 {
            break m;
        }
        assert!(Instant::now() < deadline, "no live stream counted");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let (ok, err) = sender.wait();
    assert!(ok, "{err}");
    let meeting = server.meeting().await;
    let (s, up) = server.upload(&meeting, niem_tests::wav::tone(2.0, 440.0, 16_000, None)).await;
    assert_eq!(s, 201, "{up}");
    let rec = up["recording"].as_str().unwrap().to_string();
    server.seal(&rec).await;
    let (s, v) = server.api(Method::POST, &format!("/api/v1/recordings/{rec}/verify"), None).await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = server.api(Method::GET, "/api/v1/search?q=chi", None).await;
    assert_eq!(s, 200);

    let after = scrape(&server).await;
    assert!(get(&after, "niem_chunks_stored") > get(&before, "niem_chunks_stored"));
    assert!(get(&after, "niem_ingested_bytes") > get(&before, "niem_ingested_bytes"));
    assert!(get(&after, "niem_ledger_head_seq") > get(&before, "niem_ledger_head_seq"));
    assert_eq!(
        get(&after, "niem_verify_intact"),
        -1.0,
        "one recording's check is not the scheduled store verification"
    );
    assert!(get(&after, "niem_checkpoint_age_seconds") >= 0.0, "a checkpoint was signed at the seal");
    assert!(get(&after, "niem_search_seconds_count") > get(&before, "niem_search_seconds_count"));
    let puts = |m: &BTreeMap<String, f64>| sum_of(m, "niem_store_request_seconds_count{op=\"put\"}");
    assert!(puts(&after) > puts(&before) && puts(&during) >= puts(&before), "store puts are timed");
    assert!(
        after.keys().any(|k| k.starts_with("niem_store_request_seconds_bucket{") && k.contains("op=\"put\"")),
        "a latency histogram per op"
    );
    assert!(
        get(&after, "niem_transcription_queue") > get(&before, "niem_transcription_queue"),
        "the sealed recording's job waits (no model)"
    );
}

/// Waits until the scheduled verification's verdict is `want` (1 intact, 0 not).
async fn verdict(server: &Server, want: f64) -> BTreeMap<String, f64> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m = scrape(server).await;
        if get(&m, "niem_verify_intact") == want {
            return m;
        }
        assert!(Instant::now() < deadline, "niem_verify_intact never became {want}; log:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn ledger_page(server: &Server, session: &str) -> String {
    let resp = server.http().get(format!("{}/ledger", server.url)).header("cookie", session).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_self_verification_shows_in_metrics_and_the_badge() {
    // JSON logs too: every line this server writes must parse.
    let mut server = Server::start(
        SeaweedFs::shared().store().await,
        &[("NIEM_VERIFY__FIRST_AFTER_SECS", "1"), ("NIEM_LOG__FORMAT", "json")],
    )
    .await;
    let meeting = server.meeting().await;
    let (s, up) = server.upload(&meeting, niem_tests::wav::tone(2.0, 440.0, 16_000, None)).await;
    assert_eq!(s, 201, "{up}");
    let (rec, stream) = (up["recording"].as_str().unwrap().to_string(), up["stream"].as_str().unwrap().to_string());
    server.seal(&rec).await;
    let (s, u) = server
        .api(
            Method::POST,
            "/api/v1/users",
            Some(serde_json::json!({ "name": "kiemtoan", "role": "auditor", "password": "kiểm-toán-2026!" })),
        )
        .await;
    assert_eq!(s, 201, "{u}");

    let ok = verdict(&server, 1.0).await;
    assert!((0.0..60.0).contains(&get(&ok, "niem_verify_age_seconds")), "a fresh verdict");
    // The first run fetches everything; so every object was checked just now.
    let listed = get(&ok, "niem_verify_listed_objects");
    assert!(listed >= 3.0 && get(&ok, "niem_verify_fetched_objects") == listed, "{ok:?}");
    assert!((0.0..60.0).contains(&get(&ok, "niem_verify_every_object_age_seconds")), "{ok:?}");
    let (s, session) = server.sign_in("kiemtoan", "kiểm-toán-2026!").await;
    assert_eq!(s, 303);
    let session = session.unwrap();
    let page = ledger_page(&server, &session).await;
    assert!(page.contains("badge ok store") && page.contains("Kiểm tra định kỳ toàn bộ kho lưu trữ"), "{page}");
    assert!(page.contains("mọi đối tượng đã được kiểm tra từ") && page.contains("chu kỳ 30 ngày"), "{page}");

    // A chunk damaged in the store while the service is down; a day later the
    // scheduled run finds it, names it, and the badge turns red.
    server.stop();
    // Stopped, the service has mirrored every entry: each run is in the store's ledger.
    let (code, log) = server.audit(&["log"], &["--action", "store.verified", "--json"]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains(r#""intact":true"#), "each run is ledgered: {log}");
    assert!(log.contains(r#""mode":"full""#), "the first run is full: {log}");
    let chunk = format!("recordings/{rec}/{stream}/00000000.niem");
    let raw = server.raw_store().await;
    let mut bytes = raw.read(&chunk).await;
    bytes[40] ^= 0x80;
    raw.delete(&chunk).await;
    raw.write(&chunk, bytes).await;
    server.set_env("NIEM_CLOCK_OFFSET_MINUTES", "1500");
    server.start_again().await;
    verdict(&server, 0.0).await;
    // The run's verdict is also each recording's, for its badge: this one broken,
    // naming the chunk, against the checkpoint the run trusted.
    let (_, r) = server.api(Method::GET, &format!("/api/v1/recordings/{rec}"), None).await;
    let v = &r["verification"];
    assert_eq!((v["source"].as_str(), v["intact"].as_bool()), (Some("scheduled"), Some(false)), "{r}");
    assert!(v["problems"].to_string().contains(&chunk), "{r}");
    assert!(v["checkpoint"]["size"].as_u64().is_some_and(|n| n > 0), "{r}");
    let (s, session) = server.sign_in("kiemtoan", "kiểm-toán-2026!").await;
    assert_eq!(s, 303);
    let page = ledger_page(&server, &session.unwrap()).await;
    assert!(page.contains("badge broken store") && page.contains(&chunk), "the damaged chunk is named: {page}");

    let log = server.log();
    let lines: Vec<serde_json::Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let failed = lines
        .iter()
        .find(|l| l["fields"]["message"] == "store verification FAILED")
        .unwrap_or_else(|| panic!("no failure line in {log}"));
    assert_eq!(failed["level"], "ERROR");
    assert!(failed["fields"]["first"].as_str().unwrap().contains(&chunk), "{failed}");
}
