//! What reads cost the store, counted (not timed) through the service's own
//! metered store (`niem_store_request_seconds_count{op=…}` in `/metrics`):
//!
//! - opening the meeting page of a 1 GiB recording fetches no chunk: its
//!   integrity badge shows the verdict kept after the seal, it never verifies;
//! - `/readyz` and the ledger page make no listing, with 10,000 checkpoints in
//!   the store: each fetches the newest checkpoint by its key, one GET a call.

use niem_tests::server::{Server, StoreKind};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The recording's size: 1 GiB, which the debug build uploads in about 5 s on
/// two cores (measured; the test prints it), so the test runs it whole.
const RECORDING_BYTES: u64 = 1 << 30;
const PASSWORD: &str = "chi-phí-2026!";

/// A 48 kHz stereo WAV of `total` bytes (header included), streamed: a tone
/// repeated, so the test holds 1 MiB of it, not the whole file.
fn wav_stream(total: u64) -> reqwest::Body {
    let header = niem_tests::wav::header(48_000, 2, (total - 44) as u32, &[]);
    let mut block = Vec::with_capacity(1 << 20);
    for i in 0..(1 << 18) {
        let v = (f64::sin(i as f64 * 0.0577) * 9_000.0) as i16;
        block.extend_from_slice(&v.to_le_bytes());
        block.extend_from_slice(&v.to_le_bytes());
    }
    let block = bytes::Bytes::from(block);
    let mut left = total - header.len() as u64;
    let mut pieces = vec![bytes::Bytes::from(header)];
    let body = futures::stream::iter(std::iter::from_fn(move || {
        if let Some(first) = pieces.pop() {
            return Some(Ok::<_, std::io::Error>(first));
        }
        let n = left.min(block.len() as u64) as usize;
        left -= n as u64;
        (n > 0).then(|| Ok(block.slice(..n)))
    }));
    reqwest::Body::wrap_stream(body)
}

/// A user with a web password, signed in; returns the session cookie.
async fn signed_in(server: &Server, name: &str, role: &str, scopes: &[&str]) -> String {
    let body = json!({ "name": name, "role": role, "password": PASSWORD, "scopes": scopes });
    let (code, v) = server.api(Method::POST, "/api/v1/users", Some(body)).await;
    assert_eq!(code, 201, "{v}");
    let (code, session) = server.sign_in(name, PASSWORD).await;
    assert_eq!(code, 303);
    session.expect("a session")
}

async fn page(server: &Server, session: &str, path: &str) -> String {
    let resp = server.http().get(format!("{}{path}", server.url)).header("cookie", session).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    resp.text().await.unwrap()
}

/// Waits for the verification the seal runs (it reads every chunk once).
async fn verified_after_seal(server: &Server, rec: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (_, r) = server.api(Method::GET, &format!("/api/v1/recordings/{rec}"), None).await;
        if !r["verification"].is_null() {
            return r["verification"].clone();
        }
        assert!(Instant::now() < deadline, "not verified after its seal: {r}\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_page_fetches_no_chunk_and_readiness_lists_nothing() {
    // No scheduled verification: it would read every object during the count.
    let server = Server::start(StoreKind::Local, &[("NIEM_VERIFY__EVERY_HOURS", "0")]).await;
    let meeting = server.meeting().await;
    let started = Instant::now();
    let resp = server
        .req(Method::POST, &format!("/api/v1/meetings/{meeting}/uploads"))
        .header("content-type", "audio/wav")
        .body(wav_stream(RECORDING_BYTES))
        .send()
        .await
        .unwrap();
    let uploaded = started.elapsed();
    assert_eq!(resp.status(), 201);
    let up: Value = resp.json().await.unwrap();
    assert_eq!(up["length"].as_u64(), Some(RECORDING_BYTES), "{up}");
    println!("uploaded {} MiB in {:.1} s", RECORDING_BYTES >> 20, uploaded.as_secs_f64());
    let rec = up["recording"].as_str().unwrap().to_string();
    server.seal(&rec).await;
    let verdict = verified_after_seal(&server, &rec).await;
    assert_eq!((verdict["intact"].as_bool(), verdict["source"].as_str()), (Some(true), Some("seal")), "{verdict}");

    let (_, m) = server.api(Method::GET, &format!("/api/v1/meetings/{meeting}"), None).await;
    let cell = m["org"].as_str().unwrap().to_string();
    let admin = signed_in(&server, "quantri", "admin", &[]).await;
    let inspector = signed_in(&server, "kiemtra", "inspector", &[&cell]).await;
    let auditor = signed_in(&server, "kiemtoan", "auditor", &[]).await;

    let (gets, lists) = (server.store_ops("get").await, server.store_ops("list").await);
    for session in [&admin, &inspector, &admin, &inspector] {
        let html = page(&server, session, &format!("/meetings/{meeting}")).await;
        assert!(html.contains("badge ok"), "the badge shows the kept verdict: {html}");
        assert!(html.contains("sau khi niêm phong") && html.contains("mục sổ cái"), "when, how, against what: {html}");
    }
    let (gets_after, lists_after) = (server.store_ops("get").await, server.store_ops("list").await);
    println!(
        "4 meeting page views of a {} MiB recording: {} GETs, {} LISTs",
        RECORDING_BYTES >> 20,
        gets_after - gets,
        lists_after - lists
    );
    assert_eq!((gets_after - gets, lists_after - lists), (0, 0), "a page view touches no chunk");

    // 10,000 checkpoints in the store (beside the real ones, far above them).
    let dir = server.data_dir().join("store/checkpoints");
    let real = std::fs::read_dir(&dir).unwrap().count();
    for seq in 1_000_000..1_010_000u64 {
        std::fs::write(dir.join(format!("{seq:012}.json")), br#"{"format":"niem/checkpoint/v1","note":""}"#).unwrap();
    }
    let (gets, lists) = (server.store_ops("get").await, server.store_ops("list").await);
    for _ in 0..20 {
        let resp = reqwest::get(format!("{}/readyz", server.url)).await.unwrap();
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
    }
    let (gets_after, lists_after) = (server.store_ops("get").await, server.store_ops("list").await);
    println!(
        "20 /readyz with {} checkpoints: {} GETs, {} LISTs",
        real + 10_000,
        gets_after - gets,
        lists_after - lists
    );
    assert_eq!((gets_after - gets, lists_after - lists), (20, 0), "one GET a probe, no listing");

    let (gets, lists) = (server.store_ops("get").await, server.store_ops("list").await);
    for _ in 0..5 {
        let html = page(&server, &auditor, "/ledger").await;
        assert!(html.contains("chữ ký hợp lệ"), "the newest checkpoint, its signature checked: {html}");
    }
    let (gets_after, lists_after) = (server.store_ops("get").await, server.store_ops("list").await);
    println!("5 ledger page views: {} GETs, {} LISTs", gets_after - gets, lists_after - lists);
    assert_eq!((gets_after - gets, lists_after - lists), (5, 0), "one GET a view, no listing");
}
