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
//!   search on either node finds every transcript;
//! - a node that starts leaves the other node's one-body upload alone, and one
//!   declared lost has its uploads closed; a resumable upload moved from node
//!   to node continues from what is durable, never from a node's stale view.

use futures::StreamExt;
use niem_tests::live::Sender;
use niem_tests::postgres::Postgres;
use niem_tests::seaweed::SeaweedFs;
use niem_tests::server::Server;
use niem_tests::wav;
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

/// A one-body upload of `file` that trickles into `node` over about `secs`.
fn trickle(
    node: &Server,
    meeting: &str,
    file: Vec<u8>,
    secs: f64,
) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
    let pieces: Vec<Vec<u8>> = file.chunks(16 * 1024).map(<[u8]>::to_vec).collect();
    let pause = Duration::from_secs_f64(secs / pieces.len() as f64);
    let body = futures::stream::iter(pieces).then(move |c| async move {
        tokio::time::sleep(pause).await;
        Ok::<_, std::io::Error>(c)
    });
    let req = node
        .req(Method::POST, &format!("/api/v1/meetings/{meeting}/uploads"))
        .header("content-type", "audio/wav")
        .body(reqwest::Body::wrap_stream(body));
    tokio::spawn(req.send())
}

/// The recording a meeting's upload opened (its first piece checked as media).
async fn recording_of(node: &Server, meeting: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, m) = node.api(Method::GET, &format!("/api/v1/meetings/{meeting}"), None).await;
        if let Some(rec) = m["recording"].as_str() {
            return rec.to_string();
        }
        assert!(Instant::now() < deadline, "no recording within 10 s: {m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A node that starts closes the one-body uploads its own stop cut off, and
/// no other: node a's upload arriving while b restarts completes whole.
/// When a is then killed -9 mid-upload and declared lost, b closes a's
/// upload `interrupted` and its recording seals.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_starting_leaves_the_other_nodes_uploads_alone() {
    let (mut a, mut b) = cluster(&[("NIEM_UPLOAD__CHUNK_SIZE", "65536")]).await;
    let meeting = a.meeting().await;
    let file = wav::tone(6.0, 523.0, 48_000, None);
    let inflight = trickle(&a, &meeting, file.clone(), 15.0);
    let opened = Instant::now();
    recording_of(&a, &meeting).await;
    b.restart().await;
    assert!(opened.elapsed() < Duration::from_secs(12), "b started again while a's upload was arriving");
    let resp = inflight.await.unwrap().expect("a's upload is answered");
    let status = resp.status().as_u16();
    let up: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 201, "a's upload survives b's start: {up}\nb's log:\n{}", b.log());
    assert_eq!(up["sha256"], wav::sha256_hex(&file).as_str(), "{up}");
    assert!(!b.log().contains("cut off by a stop"), "b closed nothing of a's");
    let rec = up["recording"].as_str().unwrap().to_string();
    b.seal(&rec).await;
    let (status, body) = b.play(&rec, up["stream"].as_str().unwrap(), None).await;
    assert_eq!(status, 200);
    assert!(body == file, "the stored upload differs from the sent one");

    // a dies mid-upload; b declares it lost and closes its upload.
    let meeting = a.meeting().await;
    let inflight = trickle(&a, &meeting, file.clone(), 30.0);
    let rec = recording_of(&a, &meeting).await;
    a.kill9();
    assert!(inflight.await.unwrap().is_err(), "the upload cannot have succeeded");
    let (s, v) = b.api(Method::POST, &format!("/api/v1/recordings/{rec}/seal"), None).await;
    assert_ne!(s, 200, "a recording with an upload still open does not seal: {v}");
    let (s, taken) = b.api(Method::POST, "/api/v1/nodes/a/lost", None).await;
    assert_eq!(s, 200, "{taken}");
    assert_eq!(taken["uploads_closed"], 1, "{taken}");
    b.seal(&rec).await;
    let (_, view) = b.api(Method::GET, &format!("/api/v1/recordings/{rec}"), None).await;
    assert_eq!(streams(&view).len(), 1, "{view}");
    assert_eq!(streams(&view)[0]["state"], "interrupted", "{view}");
    // The nodes share a's key directory.
    let (code, out) = a.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
}

/// A resumable upload's tail waits in the spool of the node that took its
/// last bytes. When the load balancer moves the upload to the other node
/// and back, each continues from what is durable (the stored chunks, and its
/// own tail only where it still fits), never from what it held in memory
/// before the other node stored more: the file arrives whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resumable_upload_moved_between_nodes_continues_from_what_is_durable() {
    const CHUNK: u64 = 65_536;
    let (a, b) = cluster(&[("NIEM_UPLOAD__CHUNK_SIZE", "65536")]).await;
    let meeting = a.meeting().await;
    let file = wav::tone(8.0, 523.0, 48_000, None);
    let len = file.len() as u64;
    let loc = a.tus_create(&meeting, len).await;
    let part = |from: u64, to: u64| file[from as usize..to as usize].to_vec();

    let resp = a.tus_patch(&loc, 0, part(0, 100_000)).await;
    assert_eq!(resp.status().as_u16(), 204);
    // b has a's stored chunk, not a's tail.
    let (status, at_b) = b.tus_offset(&loc).await;
    assert_eq!((status, at_b), (200, Some(CHUNK)), "b continues after the stored chunk");
    let resp = b.tus_patch(&loc, CHUNK, part(CHUNK, 300_000)).await;
    assert_eq!(resp.status().as_u16(), 204, "{:?}", resp.text().await);
    // Back on a: what a held (100,000) is stale; b stored up to 4 chunks.
    let (status, at_a) = a.tus_offset(&loc).await;
    assert_eq!((status, at_a), (200, Some(4 * CHUNK)), "a continues from what is durable, not its stale view");
    let resp = a.tus_patch(&loc, 100_000, part(100_000, 200_000)).await;
    assert_eq!(resp.status().as_u16(), 409, "a stale offset is refused");
    let resp = a.tus_patch(&loc, 4 * CHUNK, part(4 * CHUNK, len)).await;
    assert_eq!(resp.status().as_u16(), 204, "{:?}", resp.text().await);
    assert_eq!(resp.headers()["upload-offset"], len.to_string().as_str());
    assert_eq!(
        resp.headers()["niem-sha256"],
        wav::sha256_hex(&file).as_str(),
        "the stored file differs from the sent one"
    );
    let (status, _) = b.tus_offset(&loc).await;
    assert!(status == 404 || status == 410, "a finished upload takes no more on any node: {status}");

    let rec = recording_of(&a, &meeting).await;
    b.seal(&rec).await;
    let (_, view) = b.api(Method::GET, &format!("/api/v1/recordings/{rec}"), None).await;
    let stream = streams(&view)[0]["id"].as_str().unwrap().to_string();
    let (status, body) = b.play(&rec, &stream, None).await;
    assert_eq!(status, 200);
    assert!(body == file, "the downloaded file differs from the upload");
    let (code, out) = a.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
}
