//! Transcription workers outside the service (`niem worker transcribe`): a
//! node on SeaweedFS with no model of its own, workers with the real Whisper
//! base model pulling from its catalog. A worker enrolled under another's key
//! cannot open its grant; a worker killed mid-job loses its claim when its
//! lease runs out, another finishes the job, and exactly one transcript is
//! ledgered.

use niem_tests::seaweed::SeaweedFs;
use niem_tests::server::Server;
use niem_tests::speech::{self, wer};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// Six different sentences: repeated ones tempt Whisper to skip a repeat, which
/// is not what this test is about.
const SENTENCES: [&str; 6] = [
    "The branch meeting approved the resolution on digital transformation.",
    "Comrade Lan reported on the admission of new party members.",
    "The inspection committee will review the budget in the third quarter.",
    "The secretary read the minutes of the previous session aloud.",
    "Members discussed the plan for training young cadres next year.",
    "The chair closed the meeting and thanked every bridge point.",
];

/// Starts `niem worker transcribe --name NAME` with the base model (the node
/// has none configured).
fn worker(server: &Server, name: &str, log: &Path) -> Child {
    let model = speech::model().display().to_string();
    server.niem_child(&["worker", "transcribe", "--name", name, "--model", &model, "--threads", "1"], &[], log)
}

/// The recipient a worker printed on its first run.
async fn recipient(log: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(r) = text.split_whitespace().find(|w| w.starts_with("age1")) {
            return r.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string();
        }
        assert!(Instant::now() < deadline, "the worker printed no recipient: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn job(server: &Server) -> Value {
    let (s, jobs) = server.api(Method::GET, "/api/v1/jobs", None).await;
    assert_eq!(s, 200, "{jobs}");
    jobs["jobs"][0].clone()
}

/// Waits until the job satisfies `ok`, failing with what it is.
async fn until(server: &Server, what: &str, within: Duration, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let j = job(server).await;
        if ok(&j) {
            return j;
        }
        assert!(Instant::now() < deadline, "{what}: the job is {j}\nlog:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn kill9(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_loses_its_claim_and_another_stores_the_one_transcript() {
    let dir = tempfile::tempdir().unwrap();
    // Long enough to be mid-job when killed, short enough to spare the other
    // tests' CPU (two Whisper runs).
    let spoken: Vec<(f32, &str)> = (0..6).map(|i| (1.0 + 8.0 * i as f32, SENTENCES[i])).collect();
    let wav = speech::clip(dir.path(), "long", "en-us", &spoken, 50.0);
    // The node has no model: only workers transcribe.
    let env = [("NIEM_TRANSCRIBE__LANGUAGE", "en"), ("NIEM_TRANSCRIBE__LEASE_SECS", "3")];
    let server = Server::start(SeaweedFs::shared().store().await, &env).await;
    let meeting = server.meeting().await;
    let (s, up) = server.upload(&meeting, std::fs::read(&wav).unwrap()).await;
    assert_eq!(s, 201, "{up}");
    let rec = up["recording"].as_str().unwrap().to_string();
    server.seal(&rec).await;

    // Only admins enroll, with a real recipient, once per name.
    let mallory = age::x25519::Identity::generate().to_public().to_string();
    let org = server.create("/api/v1/orgs", json!({ "name": "Đảng bộ khối", "kind": "bloc" })).await;
    let (_, inspector) = server.user("thanh tra", "inspector", &[&org], "mật khẩu đủ dài 1").await;
    let body = json!({ "name": "w", "recipient": mallory });
    let (s, v) = server.call_as(&inspector, Method::POST, "/api/v1/workers", Some(body.clone())).await;
    assert_eq!(s, 403, "{v}");
    let (s, v) = server.call_as(&inspector, Method::GET, "/api/v1/workers", None).await;
    assert_eq!(s, 403, "an inspector does not list workers: {v}");
    for bad in [json!({ "name": "w", "recipient": "age1notakey" }), json!({ "name": "W 1", "recipient": mallory })] {
        let (s, v) = server.api(Method::POST, "/api/v1/workers", Some(bad)).await;
        assert_eq!(s, 400, "{v}");
    }

    // A worker enrolled under a key it does not hold (mallory's) claims the
    // job, cannot open the keys sealed to that key, gives the job back
    // uncounted, and stops, saying why.
    let (s, v) =
        server.api(Method::POST, "/api/v1/workers", Some(json!({ "name": "thief", "recipient": mallory }))).await;
    assert_eq!(s, 201, "{v}");
    let (s, _) =
        server.api(Method::POST, "/api/v1/workers", Some(json!({ "name": "thief", "recipient": mallory }))).await;
    assert_eq!(s, 409, "enrolled once");
    let thief_log = dir.path().join("thief.log");
    let mut thief = worker(&server, "thief", &thief_log);
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = thief.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "{}", std::fs::read_to_string(&thief_log).unwrap_or_default());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let said = std::fs::read_to_string(&thief_log).unwrap();
    assert!(!status.success() && said.contains("do not open with its identity"), "{status}: {said}");
    let j = until(&server, "given back", Duration::from_secs(10), |j| j["state"] == "queued").await;
    assert_eq!(j["attempts"], 0, "a worker's misconfiguration is not the recording's failure: {j}");
    let (s, _) = server.api(Method::DELETE, "/api/v1/workers/thief", None).await;
    assert_eq!(s, 204);

    // w1 is enrolled with the recipient it printed and claims the job. Stopped
    // with SIGTERM (as Compose or Kubernetes stop it), it gives the job back at
    // once, uncounted, and exits cleanly.
    let w1_log = dir.path().join("w1.log");
    let mut w1 = worker(&server, "w1", &w1_log);
    let r1 = recipient(&w1_log).await;
    let (s, v) = server.api(Method::POST, "/api/v1/workers", Some(json!({ "name": "w1", "recipient": r1 }))).await;
    assert_eq!(s, 201, "{v}");
    let transcribing =
        |j: &Value| j["state"] == "running" && j["worker"] == "w1" && j["progress_ms"].as_u64().unwrap_or(0) > 0;
    until(&server, "w1 transcribing", Duration::from_secs(120), transcribing).await;
    unsafe { libc::kill(w1.id() as i32, libc::SIGTERM) };
    let status = w1.wait().unwrap();
    assert!(status.success(), "{status}: {}", std::fs::read_to_string(&w1_log).unwrap_or_default());
    let j = job(&server).await;
    assert_eq!((j["state"].as_str(), j["attempts"].as_u64()), (Some("queued"), Some(0)), "{j}");
    assert!(j["error"].as_str().unwrap_or_default().contains("the worker stopped"), "{j}");

    // Started again (same identity, enrolled), it claims the job anew and is
    // killed -9 while transcribing.
    let w1 = worker(&server, "w1", &w1_log);
    let j = until(&server, "w1 transcribing again", Duration::from_secs(120), transcribing).await;
    assert_eq!(j["total_ms"], 50_000, "{j}");
    assert!(j["lease_until"].is_string(), "{j}");
    kill9(w1);
    let killed = Instant::now();

    // Its lease runs out; the node ends the claim as a failed attempt.
    let j = until(&server, "w1's claim ended", Duration::from_secs(30), |j| j["state"] == "queued").await;
    println!("w1's claim ended {:.1} s after kill -9 (lease 3 s)", killed.elapsed().as_secs_f64());
    assert_eq!(j["attempts"], 1, "{j}");
    assert!(j["error"].as_str().unwrap_or_default().contains("w1 stopped renewing"), "{j}");

    // w2 finishes it.
    let w2_log = dir.path().join("w2.log");
    let w2 = worker(&server, "w2", &w2_log);
    let r2 = recipient(&w2_log).await;
    assert_ne!(r1, r2, "each worker its own identity");
    let (s, v) = server.api(Method::POST, "/api/v1/workers", Some(json!({ "name": "w2", "recipient": r2 }))).await;
    assert_eq!(s, 201, "{v}");
    let j = until(&server, "w2 done", Duration::from_secs(300), |j| j["state"] == "done").await;
    println!("job done {:.1} s after w1's kill -9", killed.elapsed().as_secs_f64());
    assert_eq!((j["worker"].as_str(), j["attempts"].as_u64()), (Some("w2"), Some(1)), "{j}");
    let (s, t) = server.api(Method::GET, &format!("/api/v1/recordings/{rec}/transcript"), None).await;
    assert_eq!(s, 200, "{t}");
    let heard: Vec<&str> = t["segments"].as_array().unwrap().iter().filter_map(|s| s["text"].as_str()).collect();
    let reference: Vec<&str> = spoken.iter().map(|(_, s)| *s).collect();
    let rate = wer(&reference.join(" "), &heard.join(" "));
    println!("worker's transcript: WER {:.1} %", rate * 100.0);
    assert!(rate <= 0.15, "WER {rate}: {heard:?}");
    assert_eq!(t["model"]["name"], "ggml-base.bin");

    // Exactly one transcript.stored, naming the worker; the chain verifies.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (code, log) = server.audit(&["log"], &["--action", "transcript.stored", "--json"]);
    assert_eq!(code, 0, "{log}");
    let stored: Vec<&str> = log.lines().filter(|l| l.contains("\"transcript.stored\"")).collect();
    assert_eq!(stored.len(), 1, "{log}");
    assert!(stored[0].contains("\"worker\":\"w2\""), "{log}");
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
    let (code, log) = server.audit(&["log"], &["--action", "worker.enrolled", "--json"]);
    assert_eq!((code, log.lines().filter(|l| l.contains("\"worker.enrolled\"")).count()), (0, 3), "{log}");

    // The workers page: w2 seen, thief removed.
    let (_, list) = server.api(Method::GET, "/api/v1/workers", None).await;
    let by = |n: &str| list.as_array().unwrap().iter().find(|w| w["name"] == n).cloned().unwrap_or_default();
    assert!(by("w2")["seen_at"].is_string() && by("thief")["removed_at"].is_string(), "{list}");

    // Nothing the workers handled is in the catalog in clear: no transcript
    // word, and no grant left behind.
    kill9(w2);
    for entry in std::fs::read_dir(server.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("catalog.db") {
            let bytes = std::fs::read(&path).unwrap();
            for word in ["resolution", "admission", "inspection", "transformation"] {
                assert!(!bytes.windows(word.len()).any(|w| w == word.as_bytes()), "{word:?} in {name}");
            }
        }
    }
    let (code, out) = server.niem(&["worker", "enroll", "x", &r2]);
    assert_ne!(code, 0, "offline enrollment refuses while the service runs: {out}");
}

/// An enrolled worker turned hostile, played through the catalog interface a
/// worker uses: it holds its own grants, and tries to make the node store a
/// result forged under another key, a transcript of another recording, and a
/// result replayed into a later claim. Each is refused as a failed attempt;
/// only an honest result is stored, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_worker_cannot_make_a_node_store_a_forged_or_replayed_result() {
    use niem_core::transcript::{ModelRef, Transcript, FORMAT};
    use niem_core::workers::{claim_label, key_of, open_grant, seal_result, Grant};

    let dir = tempfile::tempdir().unwrap();
    let wav = speech::clip(dir.path(), "short", "en-us", &[(1.0, SENTENCES[0])], 6.0);
    let mut server = Server::start(SeaweedFs::shared().store().await, &[("NIEM_TRANSCRIBE__RETRY_SECS", "0")]).await;
    let meeting = server.meeting().await;
    let (s, up) = server.upload(&meeting, std::fs::read(&wav).unwrap()).await;
    assert_eq!(s, 201, "{up}");
    let rec = up["recording"].as_str().unwrap().to_string();
    server.seal(&rec).await;
    let me = age::x25519::Identity::generate();
    let body = json!({ "name": "mallory", "recipient": me.to_public().to_string() });
    let (s, v) = server.api(Method::POST, "/api/v1/workers", Some(body)).await;
    assert_eq!(s, 201, "{v}");
    let catalog = server.catalog();
    let far = "2099-01-01T00:00:00.000Z";

    // Claims the job and waits for the node to grant it the keys.
    let me = &me;
    let claim = |catalog: archive::catalog::Catalog| async move {
        let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
        let job =
            niem_core::catalog::with(&catalog, |r| r.claim_job_as("mallory", &now, far)).unwrap().expect("a due job");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(sealed) = niem_core::catalog::with(&catalog, |r| r.grant(job.id, job.claim, "mallory")).unwrap()
            {
                return (job.id, job.claim, open_grant(&sealed, me, job.id, job.claim).unwrap());
            }
            assert!(Instant::now() < deadline, "no grant for claim {}", job.claim);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let transcript_of = |g: &Grant, recording: &str| {
        let doc = Transcript {
            format: FORMAT.into(),
            recording: recording.into(),
            meeting: g.meeting.clone(),
            org: g.org.clone(),
            language: "en".into(),
            machine_generated: true,
            model: ModelRef { name: "ggml-base.bin".into(), sha256: "0".repeat(64) },
            created_at: "2026-12-03T00:00:00.000Z".into(),
            streams: Vec::new(),
            segments: Vec::new(),
        };
        serde_json::to_vec(&doc).unwrap()
    };
    let hand_back = |job: i64, claim: i64, sealed: Vec<u8>| {
        let now = "2026-12-03T00:00:00.000Z";
        assert!(niem_core::catalog::with(&catalog, |r| r.return_result(job, claim, "mallory", &sealed, now)).unwrap());
    };
    let refused = |n: u64, why: &'static str| {
        let server = &server;
        async move {
            let j = until(server, why, Duration::from_secs(20), |j| j["attempts"] == n && j["state"] == "queued").await;
            assert!(j["error"].as_str().unwrap_or_default().contains("is refused"), "{why}: {j}");
        }
    };

    let (job, c1, g1) = claim(catalog.clone()).await;
    assert_eq!(g1.recording, rec);
    assert!(!g1.streams.is_empty() && g1.streams.iter().all(|s| !s.dek.is_empty()), "the keys of every stream");
    let forged = seal_result(&[9u8; 32], &claim_label(job, c1, &rec), &transcript_of(&g1, &rec)).unwrap();
    hand_back(job, c1, forged);
    refused(1, "a result under a key the node did not derive").await;

    let (job, c2, g2) = claim(catalog.clone()).await;
    assert_eq!(c2, c1 + 1);
    let key2 = key_of(&g2.result_key).unwrap();
    let other = archive::id::RecordingId::new().to_string();
    hand_back(job, c2, seal_result(&key2, &claim_label(job, c2, &other), &transcript_of(&g2, &other)).unwrap());
    refused(2, "a transcript of another recording, sealed for it").await;

    let honest_but_old = seal_result(&key2, &claim_label(job, c2, &rec), &transcript_of(&g2, &rec)).unwrap();
    let (job, c3, _) = claim(catalog.clone()).await;
    hand_back(job, c3, honest_but_old);
    refused(3, "claim 2's result replayed into claim 3").await;

    let (job, c4, g4) = claim(catalog.clone()).await;
    let key4 = key_of(&g4.result_key).unwrap();
    let honest = seal_result(&key4, &claim_label(job, c4, &rec), &transcript_of(&g4, &rec)).unwrap();
    hand_back(job, c4, honest.clone());
    let j = until(&server, "the honest result stored", Duration::from_secs(20), |j| j["state"] == "done").await;
    assert_eq!(j["attempts"], 3, "{j}");
    let replay = niem_core::catalog::with(&catalog, |r| r.return_result(job, c4, "mallory", &honest, far)).unwrap();
    assert!(!replay, "a finished job takes no second result");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (code, log) = server.audit(&["log"], &["--action", "transcript.stored", "--json"]);
    assert_eq!(code, 0, "{log}");
    assert_eq!(log.lines().filter(|l| l.contains("\"transcript.stored\"")).count(), 1, "{log}");
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");

    // With the service stopped, the host enrolls a worker at the command line.
    let (code, out) = server.host(&["worker", "enroll", "offline-1", &me.to_public().to_string()]).await;
    assert_eq!(code, 0, "{out}");
    let (_, list) = server.api(Method::GET, "/api/v1/workers", None).await;
    let offline = list.as_array().unwrap().iter().find(|w| w["name"] == "offline-1").cloned().unwrap_or_default();
    assert_eq!(offline["enrolled_by"], "host", "{list}");
    let (code, out) = server.host(&["worker", "enroll", "offline-1", &me.to_public().to_string()]).await;
    assert_ne!(code, 0, "enrolled once: {out}");
}
