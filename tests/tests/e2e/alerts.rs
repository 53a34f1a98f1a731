//! Schedules, missed-meeting alerts and the compliance report against a running
//! `niem`: the alert comes at start + 15 minutes and not before (the clock is
//! moved, not slept), once, on the ledger, on the live page, and at a webhook
//! listener with a valid HMAC.

use niem_tests::server::{Server, StoreKind};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "webhook-secret-for-tests";

/// A minimal HTTP listener: each request's (headers, body), answered 204.
async fn webhook() -> (String, tokio::sync::mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + len {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let _ = sock.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").await;
                let _ = tx.send((head, buf[head_end..].to_vec()));
            });
        }
    });
    (url, rx)
}

fn ts(t: time::OffsetDateTime) -> String {
    archive::clock::format_ts(t)
}

async fn meeting(server: &Server, org: &str, title: &str, at: time::OffsetDateTime) -> String {
    let (s, m) = server
        .api(
            Method::POST,
            "/api/v1/meetings",
            Some(json!({ "org": org, "kind": "regular", "title": title, "scheduled_at": ts(at) })),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    m["id"].as_str().unwrap().to_string()
}

/// The next webhook call, checked against its HMAC; returns its JSON body.
async fn next_call(rx: &mut tokio::sync::mpsc::UnboundedReceiver<(String, Vec<u8>)>, server: &Server) -> Value {
    let (head, body) = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no webhook call; log:\n{}", server.log()))
        .unwrap();
    let sig = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("x-niem-signature:").map(|v| v.trim().to_string()))
        .expect("signature header");
    let hex_tag = sig.strip_prefix("sha256=").expect("sha256=");
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    ring::hmac::verify(&key, &body, &hex::decode(hex_tag).unwrap()).expect("a valid HMAC over the body");
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_meeting_alerts_once_after_grace_and_the_report_counts_it() {
    let (url, mut calls) = webhook().await;
    let env = [
        ("NIEM_ALERTS__WEBHOOK_URL", url.as_str()),
        ("NIEM_ALERTS__WEBHOOK_SECRET", SECRET),
        ("NIEM_ALERTS__CHECK_EVERY_SECS", "1"),
    ];
    let mut server = Server::start(StoreKind::Local, &env).await;
    let org = |name: &str, kind: &str, parent: Option<&str>| json!({ "name": name, "kind": kind, "parent": parent });
    let (_, bloc) = server.api(Method::POST, "/api/v1/orgs", Some(org("Khối", "bloc", None))).await;
    let bloc = bloc["id"].as_str().unwrap().to_string();
    let (_, base) = server.api(Method::POST, "/api/v1/orgs", Some(org("Cơ sở", "base", Some(&bloc)))).await;
    let mut cells = Vec::new();
    for name in ["Chi bộ A", "Chi bộ B", "Chi bộ C"] {
        let (_, c) = server.api(Method::POST, "/api/v1/orgs", Some(org(name, "cell", base["id"].as_str()))).await;
        cells.push(c["id"].as_str().unwrap().to_string());
    }
    let now = time::OffsetDateTime::now_utc();
    let missed = meeting(&server, &cells[0], "Sinh hoạt tháng (vắng)", now - time::Duration::minutes(20)).await;
    let soon = meeting(&server, &cells[1], "Sinh hoạt tháng (muộn)", now - time::Duration::minutes(10)).await;
    let held = meeting(&server, &cells[0], "Sinh hoạt tháng (đã họp)", now - time::Duration::minutes(30)).await;
    let (s, up) = server.upload(&held, niem_tests::wav::tone(1.0, 440.0, 16_000, None)).await;
    assert_eq!(s, 201, "{up}");
    server.seal(up["recording"].as_str().unwrap()).await;

    // 20 minutes after its start, with no stream: alerted, signed, once.
    let call = next_call(&mut calls, &server).await;
    assert_eq!(call["alert"]["meeting"], missed.as_str(), "{call}");
    assert_eq!(call["alert"]["org_name"], "Chi bộ A");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, alerts) = server.api(Method::GET, "/api/v1/alerts", None).await;
    let alerted: Vec<&str> = alerts.as_array().unwrap().iter().map(|a| a["meeting"].as_str().unwrap()).collect();
    assert_eq!(
        alerted,
        vec![missed.as_str()],
        "10 minutes after its start is not missed yet; a held meeting is not missed"
    );
    assert!(calls.try_recv().is_err(), "one call per alert");

    // Six minutes later (the clock moved, not slept): the second is 16 minutes late.
    server.stop();
    server.set_env("NIEM_CLOCK_OFFSET_MINUTES", "6");
    server.start_again().await;
    let call = next_call(&mut calls, &server).await;
    assert_eq!(call["alert"]["meeting"], soon.as_str(), "{call}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(calls.try_recv().is_err(), "a restart raises nothing twice");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, log) = server.audit(&["log"], &["--action", "meeting.missed", "--json"]);
        assert_eq!(code, 0, "{log}");
        let n = log.lines().filter(|l| l.contains("meeting.missed")).count();
        assert!(n <= 2, "{log}");
        if n == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "{log}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // A monthly schedule creates this month's and next month's meetings.
    let (s, sched) = server
        .api(
            Method::POST,
            &format!("/api/v1/orgs/{}/schedules", cells[2]),
            Some(json!({ "kind": "regular", "title": "Sinh hoạt định kỳ", "day": 5, "time": "08:00" })),
        )
        .await;
    assert_eq!(s, 201, "{sched}");
    let (_, planned) = server.api(Method::GET, &format!("/api/v1/meetings?org={}", cells[2]), None).await;
    let times: Vec<&str> = planned.as_array().unwrap().iter().map(|m| m["scheduled_at"].as_str().unwrap()).collect();
    assert_eq!(times.len(), 2, "{planned}");
    assert!(times.iter().all(|t| t.ends_with("-05T01:00:00.000Z")), "the 5th at 08:00 local: {times:?}");

    // The month's compliance report, JSON and CSV.
    let local = (time::OffsetDateTime::now_utc() + time::Duration::minutes(6)).to_offset(time::macros::offset!(+7));
    let month = format!("{:04}-{:02}", local.year(), u8::from(local.month()));
    let (s, report) =
        server.api(Method::GET, &format!("/api/v1/reports/compliance?org={bloc}&month={month}"), None).await;
    assert_eq!(s, 200, "{report}");
    let row = |id: &str| {
        report
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["org"] == id)
            .unwrap_or_else(|| panic!("{id} not in {report}"))
            .clone()
    };
    let counts = |r: &Value| {
        ["expected", "held", "recorded", "sealed", "transcribed", "missing"].map(|k| r[k].as_u64().unwrap())
    };
    assert_eq!(counts(&row(&cells[0])), [2, 1, 1, 1, 0, 1], "cell A: {report}");
    assert_eq!(counts(&row(&cells[1])), [1, 0, 0, 0, 0, 1], "cell B: {report}");
    let c = counts(&row(&cells[2]));
    assert_eq!((c[0], c[1]), (1, 0), "cell C has this month's scheduled meeting: {report}");
    let csv = server
        .req(Method::GET, &format!("/api/v1/reports/compliance?org={bloc}&month={month}&format=csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    // A UTF-8 byte-order mark first, so Excel reads the Vietnamese names (bytes:
    // a decoded text would drop the mark).
    let csv = String::from_utf8(csv.bytes().await.unwrap().to_vec()).unwrap();
    // The compliance columns first; the meeting record's figures follow (none here).
    assert!(csv.starts_with("\u{feff}org,org_name,expected,held,recorded,sealed,transcribed,missing,sheets,"), "{csv}");
    assert!(csv.contains(&format!("\"{}\",\"Chi bộ A\",2,1,1,1,0,1,0,", cells[0])), "{csv}");

    // The live page lists the missed meetings.
    let (s, u) = server
        .api(
            Method::POST,
            "/api/v1/users",
            Some(json!({ "name": "quantri", "role": "admin", "password": "mật-khẩu-dài-đủ" })),
        )
        .await;
    assert_eq!(s, 201, "{u}");
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = client.get(format!("{}/login", server.url)).send().await.unwrap();
    let cookie = form.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let token = cookie.split_once('=').unwrap().1.to_string();
    let login = client
        .post(format!("{}/login", server.url))
        .header("cookie", &cookie)
        .form(&[("name", "quantri"), ("password", "mật-khẩu-dài-đủ"), ("csrf", token.as_str()), ("next", "/live")])
        .send()
        .await
        .unwrap();
    let session = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let page = client
        .get(format!("{}/live", server.url))
        .header("cookie", session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sinh hoạt tháng (vắng)") && page.contains("Sinh hoạt tháng (muộn)"), "{page}");
}
