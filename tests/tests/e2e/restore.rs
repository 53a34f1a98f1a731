//! Disaster recovery end to end: meetings ingested and transcribed on SeaweedFS,
//! the node's data dir lost (catalog, spool), the keys kept; `niem restore`
//! rebuilds everything from the store, and the service carries on as before.
//! Then one chunk is damaged: restore refuses, and with `--accept-damage`
//! restores the rest and names exactly that chunk.

use niem_tests::seaweed::SeaweedFs;
use niem_tests::server::Server;
use niem_tests::speech;
use reqwest::Method;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const SENTENCES: [(f32, &str); 2] = [
    (1.0, "The branch meeting approved the resolution on digital transformation."),
    (8.0, "Comrade Lan reported on the admission of new party members."),
];
const PASSWORD: &str = "khôi-phục-2026!";

async fn post(server: &Server, path: &str, body: Value) -> Value {
    let (s, v) = server.api(Method::POST, path, Some(body)).await;
    assert!(s == 200 || s == 201, "{path}: {s} {v}");
    v
}

/// Searches as `token` until `n` meetings come back; returns (meeting, hit ms) pairs.
async fn hits(server: &Server, token: &str, q: &str, n: usize, within: Duration) -> Vec<(String, u64)> {
    let deadline = Instant::now() + within;
    loop {
        let resp = server
            .http()
            .get(format!("{}/api/v1/search", server.url))
            .query(&[("q", q)])
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if status == 200 && v["meetings"].as_array().map(Vec::len) == Some(n) {
            let mut out: Vec<(String, u64)> = v["meetings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| (m["meeting"].as_str().unwrap().to_string(), m["hits"][0]["at_ms"].as_u64().unwrap()))
                .collect();
            out.sort();
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "{q:?}: not {n} meetings within {within:?}: {status} {v}\nlog:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The whole ledger as `niem-audit log --json` prints it, one entry per line.
fn ledger(server: &Server) -> Vec<Value> {
    let (code, out) = server.audit(&["log"], &["--json"]);
    assert_eq!(code, 0, "{out}");
    out.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).filter(|v| v.get("seq").is_some()).collect()
}

fn verify(server: &Server) -> String {
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 0, "niem-audit verify failed:\n{out}");
    out
}

/// Loses the node: the data dir goes; the keys were copied away beforehand, and
/// the auditor keeps their own copy of the public key where the harness looks.
fn lose_data_dir(server: &Server, keys: &Path) {
    std::fs::remove_dir_all(server.data_dir()).unwrap();
    let vkey = server.public_key();
    std::fs::create_dir_all(vkey.parent().unwrap()).unwrap();
    std::fs::copy(keys.join("ledger.vkey"), &vkey).unwrap();
    assert!(!server.data_dir().join("catalog.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_and_the_keys_alone_bring_everything_back() {
    let dir = tempfile::tempdir().unwrap();
    let wav = std::fs::read(speech::clip(dir.path(), "english", "en-us", &SENTENCES, 14.0)).unwrap();
    let model = speech::model().display().to_string();
    let seaweed = SeaweedFs::shared();
    let mut server = Server::start(seaweed.store().await, &[("NIEM_TRANSCRIBE__MODEL", model.as_str())]).await;
    let bucket = match &server.store {
        niem_tests::server::StoreKind::S3 { bucket, .. } => bucket.clone(),
        other => panic!("{other:?}"),
    };

    // Orgs, two cells with a meeting each, speech uploaded, sealed, transcribed.
    let org = |name: &str, kind: &str, parent: Option<&str>| json!({ "name": name, "kind": kind, "parent": parent, "language": "en" });
    let bloc =
        post(&server, "/api/v1/orgs", org("Đảng ủy Khối", "bloc", None)).await["id"].as_str().unwrap().to_string();
    let base = post(&server, "/api/v1/orgs", org("Đảng ủy cơ sở", "base", Some(&bloc))).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut recordings = Vec::new();
    for (cell_name, title) in
        [("Chi bộ Văn phòng", "Sinh hoạt chi bộ tháng 10"), ("Chi bộ Thanh tra", "Chuyên đề chuyển đổi số")]
    {
        let cell = post(&server, "/api/v1/orgs", org(cell_name, "cell", Some(&base))).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let m = json!({ "org": cell, "kind": "regular", "title": title, "scheduled_at": "2026-10-15T08:00:00+07:00" });
        let meeting = post(&server, "/api/v1/meetings", m).await["id"].as_str().unwrap().to_string();
        let (s, up) = server.upload(&meeting, wav.clone()).await;
        assert_eq!(s, 201, "{up}");
        let rec = up["recording"].as_str().unwrap().to_string();
        server.seal(&rec).await;
        recordings.push((rec, up["stream"].as_str().unwrap().to_string()));
    }
    // People and a bridge point: an inspector with a password and a token.
    let inspector = post(
        &server,
        "/api/v1/users",
        json!({ "name": "kiemtra.khoi", "role": "inspector", "password": PASSWORD, "scopes": [bloc] }),
    )
    .await;
    let inspector_id = inspector["id"].as_str().unwrap().to_string();
    let inspector_token = post(&server, &format!("/api/v1/users/{inspector_id}/tokens"), json!({})).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let endpoint =
        post(&server, &format!("/api/v1/orgs/{base}/endpoints"), json!({ "name": "Điểm cầu Sở Nội vụ" })).await;
    let before_hits = hits(&server, &inspector_token, "new party members", 2, Duration::from_secs(240)).await;
    let (_, meetings_before) = server.api(Method::GET, "/api/v1/meetings", None).await;
    let (_, users_before) = server.api(Method::GET, "/api/v1/users", None).await;
    let (_, endpoints_before) = server.api(Method::GET, "/api/v1/endpoints", None).await;

    // A clean stop signs a final checkpoint; the store is then complete.
    server.stop();
    let ledger_before = ledger(&server);
    let verified_before = verify(&server);
    println!("before the loss: {} ledger entries\n{verified_before}", ledger_before.len());
    let keys = dir.path().join("keys-backup");
    niem_tests::copy_dir(&server.keys_dir(), &keys);
    lose_data_dir(&server, &keys);
    server.lose_catalog().await;

    // Restore from the store and the keys alone.
    let keys_arg = keys.display().to_string();
    let store_arg = format!("s3://{bucket}/niem");
    let (code, out) = server.niem(&["restore", "--store", &store_arg, "--keys", &keys_arg]);
    println!("niem restore:\n{out}");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("restored {} ledger entries", ledger_before.len())), "{out}");
    assert!(out.contains("2 recordings") && out.contains("2 transcripts"), "{out}");
    assert!(out.contains("nothing lost"), "{out}");
    assert!(!out.contains("note:"), "every fact came back from the sealed entries, no placeholders: {out}");
    let (code, again) = server.niem(&["restore", "--store", &store_arg, "--keys", &keys_arg]);
    assert_ne!(code, 0, "a second restore over a restored catalog is refused: {again}");
    assert!(again.contains("already holds"), "{again}");

    // The service starts on the restored catalog with the same keys.
    server.set_env("NIEM_KEYS__DIR", &keys_arg);
    server.start_again().await;
    let after_hits = hits(&server, &inspector_token, "new party members", 2, Duration::from_secs(60)).await;
    assert_eq!(after_hits, before_hits, "the same meetings, at the same moments");
    let (_, meetings_after) = server.api(Method::GET, "/api/v1/meetings", None).await;
    assert_eq!(meetings_after, meetings_before, "meetings with their titles and recordings");
    let (_, users_after) = server.api(Method::GET, "/api/v1/users", None).await;
    assert_eq!(users_after, users_before, "users with names, roles, scopes and passwords");
    let (_, endpoints_after) = server.api(Method::GET, "/api/v1/endpoints", None).await;
    assert_eq!(endpoints_after, endpoints_before);
    assert!(endpoints_after.to_string().contains(endpoint["id"].as_str().unwrap()));
    for (rec, stream) in &recordings {
        let (s, body) = server.play(rec, stream, None).await;
        assert_eq!(s, 200);
        assert!(body == wav, "recording {rec} plays byte-exact after the restore");
    }
    // The inspector signs in with the old password.
    assert_eq!(
        server.sign_in("kiemtra.khoi", PASSWORD).await.0,
        303,
        "the inspector's password works after the restore"
    );
    assert_eq!(server.sign_in("kiemtra.khoi", "not-the-password").await.0, 401);

    // The ledger carries on from the store's head, every old entry unchanged.
    server.stop();
    let ledger_after = ledger(&server);
    assert!(ledger_after.len() > ledger_before.len());
    assert_eq!(&ledger_after[..ledger_before.len()], &ledger_before[..], "every entry as it was");
    verify(&server);

    // Damage one chunk: restore refuses, then restores the rest and names it.
    let (rec, stream) = &recordings[0];
    let chunk = format!("recordings/{rec}/{stream}/00000000.niem");
    let raw = server.raw_store().await;
    let mut bytes = raw.read(&chunk).await;
    bytes[100] ^= 0x01;
    raw.delete(&chunk).await;
    raw.write(&chunk, bytes).await;
    lose_data_dir(&server, &keys);
    server.lose_catalog().await;
    let (code, out) = server.niem(&["restore", "--store", &store_arg, "--keys", &keys_arg]);
    println!("niem restore of a damaged store:\n{out}");
    assert_ne!(code, 0, "{out}");
    assert!(out.contains(&chunk) && out.contains("--accept-damage"), "{out}");
    assert!(!server.data_dir().join("catalog.db").exists(), "a refused restore leaves no catalog");
    let (code, out) = server.niem(&["restore", "--store", &store_arg, "--keys", &keys_arg, "--accept-damage"]);
    println!("niem restore --accept-damage:\n{out}");
    assert_eq!(code, 0, "{out}");
    let lost: Vec<&str> = out.lines().filter(|l| l.starts_with("LOST ")).collect();
    assert_eq!(lost.len(), 1, "exactly the damaged chunk is lost: {out}");
    assert!(lost[0].contains(&chunk), "{out}");
    server.start_again().await;
    let (rec2, stream2) = &recordings[1];
    let (s, body) = server.play(rec2, stream2, None).await;
    assert!(s == 200 && body == wav, "the undamaged recording plays");
    hits(&server, &inspector_token, "new party members", 2, Duration::from_secs(60)).await;
}
