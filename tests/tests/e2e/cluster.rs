//! Several Niêm nodes on one PostgreSQL catalog and one S3 store (SeaweedFS),
//! as deploy/compose runs them behind a load balancer:
//! - uploads and live streams on both nodes; one node killed -9 during 20 live
//!   streams: its senders reconnect to the other, which continues each stream
//!   as a new segment of the same recording; the killed node's spool drains when
//!   it comes back, so no acknowledged piece is lost; the recordings seal and
//!   the chain verifies, one chain with no fork;
//! - a node declared lost instead: its streams close with what the store holds;
//! - two nodes of eight writers each append one chain that verifies;
//! - transcription workers serve both nodes (one killed -9 mid-job), and a
//!   search on either node finds every transcript.

use niem_tests::live::Sender;
use niem_tests::postgres::Postgres;
use niem_tests::seaweed::SeaweedFs;
use niem_tests::server::Server;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const GRACE: &str = "20";

async fn database() -> String {
    tokio::task::spawn_blocking(|| Postgres::shared().database()).await.unwrap()
}

/// Node `a` of a new cluster, and node `b` joined to it.
async fn cluster(env: &[(&str, &str)]) -> (Server, Server) {
    let url = database().await;
    let mut all = vec![("NIEM_CATALOG__URL", url.as_str()), ("NIEM_CATALOG__NODE", "a")];
    all.extend_from_slice(env);
    let a = Server::start(SeaweedFs::shared().store().await, &all).await;
    let b = a.join("b", env).await;
    (a, b)
}

/// `GET /api/v1/live` folded by endpoint id: the stream each is feeding and
/// the pieces the node has acknowledged (fsynced in its spool).
async fn live_by_endpoint(node: &Server) -> BTreeMap<String, (String, u64)> {
    let v = node.live().await;
    v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| {
            let ep = r["endpoint"].as_str()?.to_string();
            Some((ep, (r["stream"].as_str()?.to_string(), r["pieces_spooled"].as_u64()?)))
        })
        .collect()
}

fn streams(rec: &Value) -> Vec<Value> {
    rec["manifest"]["streams"].as_array().cloned().unwrap_or_default()
}

/// 20 live streams, ten on each node; node a is killed -9 and its ten senders
/// reconnect to b; a comes back and drains its spool; every recording seals
/// with every acknowledged piece, and the chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_during_20_live_streams_loses_no_acknowledged_piece() {
    let (mut a, b) = cluster(&[("NIEM_LIVE__GRACE_SECS", GRACE)]).await;
    // An upload on each node, sealed: any node serves the API.
    for node in [&a, &b] {
        let meeting = node.meeting().await;
        let (s, up) = node.upload(&meeting, niem_tests::wav::tone(3.0, 440.0, 16_000, None)).await;
        assert_eq!(s, 201, "{up}");
        node.seal(up["recording"].as_str().unwrap()).await;
    }
    // Two meetings of ten bridge points; each meeting's points split across the nodes.
    let (mut meetings, mut keys) = (Vec::new(), Vec::new());
    for m in 0..2 {
        let (org, meeting) = a.cell_with_meeting(&format!("Chi bộ {m}")).await;
        meetings.push(meeting);
        for e in 0..10 {
            let (id, key) = a.endpoint(&org, &format!("Điểm cầu {e}")).await;
            keys.push((id, key, 300 + 25 * (m * 10 + e) as u32, e % 2 == 0));
        }
    }
    let mut senders: Vec<Sender> =
        keys.iter().map(|(_, key, freq, on_a)| Sender::rtmp(if *on_a { &a } else { &b }, key, *freq, 60.0)).collect();
    tokio::time::sleep(Duration::from_secs(9)).await;
    let on_a = live_by_endpoint(&a).await;
    assert_eq!(on_a.len(), 10, "ten streams on a: {on_a:?}");
    assert_eq!(live_by_endpoint(&b).await.len(), 10, "ten on b");
    a.kill9();
    let killed = Instant::now();
    // The senders on a reconnect through the load balancer, to b.
    for (i, (_, key, freq, was_on_a)) in keys.iter().enumerate() {
        if *was_on_a {
            std::mem::replace(&mut senders[i], Sender::rtmp(&b, key, *freq, 60.0)).kill();
        }
    }
    let continued = loop {
        let now = live_by_endpoint(&b).await;
        let moved = on_a.keys().filter(|ep| now.get(*ep).is_some_and(|(_, pieces)| *pieces >= 1)).count();
        if moved == on_a.len() {
            break killed.elapsed();
        }
        assert!(killed.elapsed() < Duration::from_secs(60), "a's streams did not continue on b: {now:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!("failover: every stream of the killed node took a piece on the other {continued:.1?} after the kill");
    tokio::time::sleep(Duration::from_secs(4)).await;
    for s in senders {
        s.kill();
    }
    // a comes back: its spool drains, its cut streams close, the recordings seal.
    a.start_again().await;
    let mut checked = 0;
    for meeting in &meetings {
        let rec = b.sealed_recording(meeting, Duration::from_secs(120)).await;
        let rec_streams = streams(&rec);
        for (ep, (stream, acked)) in &on_a {
            let Some(s) = rec_streams.iter().find(|s| s["id"] == stream.as_str()) else { continue };
            let stored = s["chunks"].as_array().unwrap().len() as u64;
            assert!(*acked >= 3, "pieces were acknowledged before the kill on {ep}");
            assert!(stored >= *acked, "stream {stream}: {acked} pieces acknowledged on a, {stored} stored");
            assert_eq!(s["state"], "interrupted", "{s}");
            let continuation = rec_streams.iter().filter(|t| t["endpoint"] == s["endpoint"]).count();
            assert_eq!(continuation, 2, "{ep}: the stream cut on a and its continuation on b");
            checked += 1;
        }
    }
    assert_eq!(checked, 10, "every stream cut on a is in a sealed recording");
    // The last seal's checkpoint: the lease holder signs it within a poll.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (code, out) = a.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("fork") && !out.contains("INVALID"), "{out}");
}

/// A node lost with its disk: another node declares it so, its open live
/// streams close there with what the store holds, the recording seals, and
/// the ledger names the streams cut short. Only an admin may, and not for
/// itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_declared_lost_hands_its_streams_over_and_its_recordings_seal() {
    let (mut a, b) = cluster(&[("NIEM_LIVE__GRACE_SECS", "3")]).await;
    let (org, meeting) = a.cell_with_meeting("Chi bộ mất điểm cầu").await;
    let (_, key) = a.endpoint(&org, "Điểm cầu xã").await;
    let sender = Sender::rtmp(&a, &key, 440, 60.0);
    tokio::time::sleep(Duration::from_secs(7)).await;
    let on_a = live_by_endpoint(&a).await;
    assert_eq!(on_a.len(), 1);
    a.kill9();
    sender.kill();
    // An inspector may not; a node may not declare itself.
    let (_, inspector) = b.user("kiemtra.cum", "inspector", &[&org], "mật khẩu đủ dài 2026").await;
    let (s, _) = b.call_as(&inspector, Method::POST, "/api/v1/nodes/a/lost", None).await;
    assert_eq!(s, 403);
    let (s, v) = b.api(Method::POST, "/api/v1/nodes/b/lost", None).await;
    assert_eq!(s, 409, "{v}");
    let (s, v) = b.api(Method::POST, "/api/v1/nodes/..%2Fx/lost", None).await;
    assert!(s == 400 || s == 404, "{s} {v}");
    let (s, taken) = b.api(Method::POST, "/api/v1/nodes/a/lost", None).await;
    assert_eq!(s, 200, "{taken}");
    let (stream, _) = on_a.values().next().unwrap();
    assert_eq!(taken["streams"][0][0], stream.as_str(), "{taken}");
    let rec = b.sealed_recording(&meeting, Duration::from_secs(60)).await;
    let s = streams(&rec)
        .into_iter()
        .find(|s| s["id"] == stream.as_str())
        .unwrap_or_else(|| panic!("stream {stream} is not in {rec}; taken {taken}"));
    assert_eq!(s["state"], "interrupted");
    assert!(!s["chunks"].as_array().unwrap().is_empty(), "the pieces the store took before the loss stay: {s}");
    // Declared twice: nothing more to take.
    let (_, again) = b.api(Method::POST, "/api/v1/nodes/a/lost", None).await;
    assert_eq!(again["streams"], json!([]));
    // a comes back after all: it starts, and its spool's leftovers stay put.
    a.start_again().await;
    let (code, log) = a.audit(&["log"], &["--json"]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("node.lost") && log.contains(stream.as_str()), "the ledger names the stream cut short");
    let (code, out) = a.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
}

/// Two nodes of eight writers each, all at once: one chain, every entry in
/// it, and the store's copy verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_of_eight_writers_append_one_chain() {
    const PER_WRITER: usize = 40;
    let (a, b) = cluster(&[]).await;
    let (_, before) = a.audit(&["log"], &["--json"]);
    let mut tasks = Vec::new();
    for (n, node) in [&a, &b].into_iter().enumerate() {
        for w in 0..8 {
            let (client, url, token) = (node.http(), node.url.clone(), node.token.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..PER_WRITER {
                    let body = json!({ "name": format!("Đảng bộ {n}-{w}-{i}"), "kind": "bloc" });
                    let r = client.post(format!("{url}/api/v1/orgs")).bearer_auth(&token).json(&body).send().await;
                    assert_eq!(r.unwrap().status(), 201);
                }
            }));
        }
    }
    let started = Instant::now();
    for t in tasks {
        t.await.unwrap();
    }
    let took = started.elapsed();
    let writes = 2 * 8 * PER_WRITER;
    println!("{writes} ledgered writes through two nodes in {took:.1?} ({:.0}/s)", writes as f64 / took.as_secs_f64());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (code, log) = a.audit(&["log"], &["--json"]);
    assert_eq!(code, 0, "{log}");
    let created = log.lines().filter(|l| l.contains("\"org.created\"")).count();
    let created_before = before.lines().filter(|l| l.contains("\"org.created\"")).count();
    assert_eq!(created - created_before, writes, "every write has its entry");
    let (code, out) = a.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
}

/// Speech uploaded on each node; no node has a model, two workers pull the
/// jobs from the shared catalog; one is killed -9 mid-job and the other
/// finishes it; each recording gets exactly one transcript, and a search on
/// either node finds both meetings at the moment their words were said.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_serve_both_nodes_and_search_on_either_finds_every_transcript() {
    use niem_tests::speech;
    let dir = tempfile::tempdir().unwrap();
    let env = [("NIEM_TRANSCRIBE__LANGUAGE", "en"), ("NIEM_TRANSCRIBE__LEASE_SECS", "3")];
    let (a, b) = cluster(&env).await;
    let lines = [
        "The branch meeting approved the resolution on digital transformation.",
        "Comrade Lan reported on the admission of new party members.",
    ];
    let mut recs = Vec::new();
    for (i, node) in [&a, &b].into_iter().enumerate() {
        let wav = speech::clip(dir.path(), &format!("n{i}"), "en-us", &[(1.0, lines[i])], 7.0);
        let meeting = node.meeting().await;
        let (s, up) = node.upload(&meeting, std::fs::read(&wav).unwrap()).await;
        assert_eq!(s, 201, "{up}");
        let rec = up["recording"].as_str().unwrap().to_string();
        node.seal(&rec).await;
        recs.push(rec);
    }
    let model = speech::model().display().to_string();
    let start_worker = |name: &str| {
        let log = dir.path().join(format!("{name}.log"));
        let args = ["worker", "transcribe", "--name", name, "--model", &model, "--threads", "1"];
        (a.niem_child(&args, &[], &log), log)
    };
    // w1 is enrolled through a, and killed -9 once it is transcribing.
    let (mut w1, w1_log) = start_worker("w1");
    enroll(&a, &w1_log).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, jobs) = b.api(Method::GET, "/api/v1/jobs", None).await;
        let busy = jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["state"] == "running" && j["worker"] == "w1" && j["progress_ms"].as_u64().unwrap_or(0) > 0);
        if busy {
            break;
        }
        assert!(Instant::now() < deadline, "w1 never transcribed: {jobs}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = w1.kill();
    let _ = w1.wait();
    // w2, enrolled through b, finishes both jobs.
    let (mut w2, w2_log) = start_worker("w2");
    enroll(&b, &w2_log).await;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (_, jobs) = a.api(Method::GET, "/api/v1/jobs", None).await;
        let done = jobs["jobs"].as_array().unwrap().iter().filter(|j| j["state"] == "done").count();
        if done == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the jobs were not done: {jobs}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let _ = w2.kill();
    let _ = w2.wait();
    for rec in &recs {
        let (s, t) = b.api(Method::GET, &format!("/api/v1/recordings/{rec}/transcript"), None).await;
        assert_eq!(s, 200, "{t}");
        println!("{rec}: {}", t["segments"]);
    }
    // Each node's index follows the transcripts whichever node stored them.
    for node in [&a, &b] {
        for (word, n) in [("resolution", 1), ("admission", 1)] {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let resp = node
                    .http()
                    .get(format!("{}/api/v1/search", node.url))
                    .query(&[("q", word)])
                    .bearer_auth(&node.token)
                    .send()
                    .await
                    .unwrap();
                let v: Value = resp.json().await.unwrap_or(Value::Null);
                if v["meetings"].as_array().map(Vec::len) == Some(n) {
                    break;
                }
                assert!(Instant::now() < deadline, "{word:?} not found on {}: {v}", node.url);
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (code, log) = a.audit(&["log"], &["--action", "transcript.stored", "--json"]);
    assert_eq!(code, 0, "{log}");
    for rec in &recs {
        let stored = log.lines().filter(|l| l.contains("\"transcript.stored\"") && l.contains(rec.as_str())).count();
        assert_eq!(stored, 1, "exactly one transcript.stored for {rec}: {log}");
    }
    let (code, out) = a.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
}

/// Enrolls through `node` the worker whose first run printed its recipient to `log`.
async fn enroll(node: &Server, log: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let recipient = loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(r) = text.split_whitespace().find(|w| w.starts_with("age1")) {
            break r.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string();
        }
        assert!(Instant::now() < deadline, "no recipient: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let name = log.file_stem().unwrap().to_string_lossy().to_string();
    let body = json!({ "name": name, "recipient": recipient });
    let (s, v) = node.api(Method::POST, "/api/v1/workers", Some(body)).await;
    assert_eq!(s, 201, "{v}");
}

/// A KEK retirement on one node reaches the other without a restart: the
/// other node opens what was re-wrapped, wraps new keys under the new KEK, and
/// nothing either node stored is lost when the old KEK is destroyed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kek_retirement_on_one_node_reaches_the_other_without_a_restart() {
    let (a, b) = cluster(&[]).await;
    let tone = |f: f64| niem_tests::wav::tone(2.0, f, 16_000, None);
    let before = upload(&b, tone(440.0)).await;
    let (s, retired) = a.api(Method::POST, "/api/v1/keys/retire", None).await;
    assert_eq!(s, 200, "{retired}");
    assert_eq!(retired["destroyed"].as_array().map(Vec::len), Some(1), "{retired}");
    let new_kek = retired["kek"].as_str().unwrap().to_string();
    // b reads the key directory again within seconds; an upload there wraps
    // under the new KEK (refused meanwhile, never under the destroyed one).
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        let meeting = b.meeting().await;
        let wav = tone(550.0);
        let (s, up) = b.upload(&meeting, wav.clone()).await;
        if s == 201 {
            let rec = up["recording"].as_str().unwrap().to_string();
            b.seal(&rec).await;
            break (rec, up["stream"].as_str().unwrap().to_string(), wav);
        }
        assert_eq!(s, 503, "refused only while b still holds the old KEK: {up}");
        assert!(Instant::now() < deadline, "b never picked up the new KEK: {up}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for (rec, stream, wav) in [&before, &after] {
        for node in [&a, &b] {
            let (s, body) = node.play(rec, stream, None).await;
            assert_eq!(s, 200, "{rec} on {}", node.url);
            assert!(body == *wav, "{rec} plays byte-exact on {}", node.url);
        }
    }
    let (_, keys) = b.api(Method::GET, "/api/v1/keys", None).await;
    assert!(keys.to_string().contains(&new_kek), "b's ring has the new KEK: {keys}");
    let (code, out) = a.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
}

/// Uploads `wav` to a new meeting through `node` and seals it: (recording, stream, wav).
async fn upload(node: &Server, wav: Vec<u8>) -> (String, String, Vec<u8>) {
    let meeting = node.meeting().await;
    let (s, up) = node.upload(&meeting, wav.clone()).await;
    assert_eq!(s, 201, "{up}");
    let (rec, stream) = (up["recording"].as_str().unwrap().to_string(), up["stream"].as_str().unwrap().to_string());
    node.seal(&rec).await;
    (rec, stream, wav)
}
