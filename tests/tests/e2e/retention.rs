//! Retention end to end on SeaweedFS: a policy, a shortening that waits for a
//! second admin, a legal hold, the clock moved two days ahead (not slept), the
//! service's own enforcement shredding what expired, and `niem-audit verify`
//! judging every deletion from the ledger, including one forged by hand.

use niem_tests::seaweed::SeaweedFs;
use niem_tests::server::Server;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn post(server: &Server, token: &str, path: &str, body: Value) -> (u16, Value) {
    let resp = server.http().post(format!("{}{path}", server.url)).bearer_auth(token).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A sealed one-second recording in a new meeting of `org`; returns it.
async fn recording(server: &Server, org: &str) -> String {
    let m = json!({ "org": org, "kind": "regular", "title": "Sinh hoạt", "scheduled_at": "2026-11-22T08:00:00+07:00" });
    let (s, m) = server.api(Method::POST, "/api/v1/meetings", Some(m)).await;
    assert_eq!(s, 201, "{m}");
    let (s, up) = server.upload(m["id"].as_str().unwrap(), niem_tests::wav::tone(1.0, 440.0, 16_000, None)).await;
    assert_eq!(s, 201, "{up}");
    let rec = up["recording"].as_str().unwrap().to_string();
    server.seal(&rec).await;
    rec
}

async fn preview(server: &Server, at: &str) -> Vec<Value> {
    let (s, v) = server.api(Method::GET, &format!("/api/v1/retention/preview?at={at}"), None).await;
    assert_eq!(s, 200, "{v}");
    v.as_array().unwrap().clone()
}

fn today_plus(days: i64) -> String {
    let d = (time::OffsetDateTime::now_utc() + time::Duration::days(days)).date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_shreds_lawfully_holds_keep_and_forgeries_are_caught() {
    let mut server = Server::start(SeaweedFs::shared().store().await, &[]).await;
    let org = |name: &str, kind: &str, parent: Option<&str>| json!({ "name": name, "kind": kind, "parent": parent });
    let (_, bloc) = server.api(Method::POST, "/api/v1/orgs", Some(org("Khối", "bloc", None))).await;
    let (_, base) = server.api(Method::POST, "/api/v1/orgs", Some(org("Cơ sở", "base", bloc["id"].as_str()))).await;
    let (_, a) = server.api(Method::POST, "/api/v1/orgs", Some(org("Chi bộ A", "cell", base["id"].as_str()))).await;
    let (_, b) = server.api(Method::POST, "/api/v1/orgs", Some(org("Chi bộ B", "cell", base["id"].as_str()))).await;
    let (a, b) = (a["id"].as_str().unwrap().to_string(), b["id"].as_str().unwrap().to_string());
    let rec_a = recording(&server, &a).await;
    let rec_b = recording(&server, &b).await;
    let admin = server.token.clone();
    // While one admin exists, a second is made alone; its token comes from the
    // host (an admin may not mint tokens for another admin).
    let (s, u) = post(&server, &admin, "/api/v1/users", json!({ "name": "second", "role": "admin" })).await;
    assert_eq!(s, 201, "{u}");
    let (s, t) =
        post(&server, &admin, &format!("/api/v1/users/{}/tokens", u["id"].as_str().unwrap()), json!(null)).await;
    assert_eq!(s, 403, "{t}");
    let (code, out) = server.host(&["token", "create", "--role", "admin", "--name", "second"]).await;
    assert_eq!(code, 0, "{out}");
    let second = out.lines().find(|l| l.starts_with("niem_")).unwrap().trim().to_string();

    // Ten years for everything; then one day, which is a shortening.
    let (s, _) = post(&server, &admin, "/api/v1/retention/policies", json!({ "keep_days": 3650 })).await;
    assert_eq!(s, 201);
    let (s, short) = post(&server, &admin, "/api/v1/retention/policies", json!({ "keep_days": 1 })).await;
    assert_eq!(s, 201, "{short}");
    assert_eq!(short["needs_approval"], true, "{short}");
    assert!(preview(&server, &today_plus(2)).await.is_empty(), "a shortening alone does not touch existing recordings");
    let approve = format!("/api/v1/retention/policies/{}/approve", short["id"].as_str().unwrap());
    let (s, v) = post(&server, &admin, &approve, json!(null)).await;
    assert_eq!(s, 403, "not by the admin who set it: {v}");
    let (s, _) = post(&server, &second, &approve, json!(null)).await;
    assert_eq!(s, 204);
    let due = preview(&server, &today_plus(2)).await;
    assert_eq!(due.len(), 2, "{due:?}");
    assert!(due.iter().all(|e| e["policy"] == short["id"]), "{due:?}");

    // Cell B is under a hold for this week.
    let hold = json!({ "org": b, "from": today_plus(-3), "to": today_plus(3), "reason": "Thanh tra vụ việc", "case_ref": "KT-2026-17" });
    let (s, hold) = post(&server, &admin, "/api/v1/holds", hold).await;
    assert_eq!(s, 201, "{hold}");
    let due = preview(&server, &today_plus(2)).await;
    let held: Vec<&Value> = due.iter().filter(|e| e["held_by"] == hold["id"]).collect();
    assert_eq!(held.len(), 1, "{due:?}");
    assert_eq!(held[0]["recording"], rec_b.as_str());
    let (s, run) = post(&server, &admin, "/api/v1/retention/run", json!({ "dry_run": false })).await;
    assert_eq!((s, run["shredded"].as_array().map(Vec::len)), (200, Some(0)), "nothing has expired yet: {run}");

    // Two days later (the clock is moved, not slept): the service's enforcement runs at start.
    server.stop();
    server.set_env("NIEM_CLOCK_OFFSET_MINUTES", "2880");
    server.start_again().await;
    // The state changes first; the objects go after the shred is signed.
    let deadline = Instant::now() + Duration::from_secs(30);
    let raw = loop {
        let (_, r) = server.api(Method::GET, &format!("/api/v1/recordings/{rec_a}"), None).await;
        let raw = server.raw_store().await.list().await;
        if r["state"] == "shredded"
            && !raw.iter().any(|k| k.starts_with(&format!("recordings/{rec_a}/")) && k.ends_with(".niem"))
        {
            break raw;
        }
        assert!(Instant::now() < deadline, "not shredded: {r}\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (_, r) = server.api(Method::GET, &format!("/api/v1/recordings/{rec_b}"), None).await;
    assert_eq!(r["state"], "sealed", "held: {r}");
    let under = |prefix: String| raw.iter().filter(|k| k.starts_with(&prefix)).cloned().collect::<Vec<String>>();
    let keys_a = under(format!("keys/{rec_a}/"));
    assert!(keys_a.is_empty(), "keys of the shredded recording: {keys_a:?}");
    let objects_a = under(format!("recordings/{rec_a}/"));
    assert_eq!(objects_a, vec![format!("recordings/{rec_a}/manifest.json")], "only the tombstone stays");
    assert!(!under(format!("keys/{rec_b}/")).is_empty(), "the held recording keeps its keys");
    let (_, ra) = server.api(Method::GET, &format!("/api/v1/recordings/{rec_a}"), None).await;
    let sa = ra["manifest"]["streams"][0]["id"].as_str().unwrap().to_string();
    let (s, _) = server.play(&rec_a, &sa, Some("bytes=0-9")).await;
    assert_eq!(s, 410, "a shredded recording is gone");
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("recording {rec_a} lawfully deleted")), "{out}");
    assert!(out.contains("deletions: 1/1 lawful"), "{out}");

    // A shred forged into the catalog's ledger, citing no policy, is caught.
    server.stop();
    {
        server
            .catalog()
            .run(|c| {
                let tx = c.write()?;
                let entry = archive::ledger::NewEntry {
                    actor: "user:mallory".into(),
                    action: "recording.shredded",
                    subject: format!("recording/{rec_b}"),
                    data: json!({ "policy": "policy_forged", "org_path": "/x", "kind": "regular", "keep_days": 1 }),
                };
                let ts = archive::clock::format_ts(time::OffsetDateTime::now_utc() + time::Duration::days(2));
                archive::ledger::append_in(&tx, ts, entry)?;
                tx.commit()?;
                Ok::<_, archive::vault::VaultError>(())
            })
            .unwrap();
    }
    server.start_again().await;
    let (code, out) = server.audit(&["verify"], &[]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains(&format!("UNLAWFUL deletion of recording {rec_b}")) && out.contains("policy_forged"), "{out}");
    let (_, r) = server.api(Method::GET, &format!("/api/v1/recordings/{rec_b}"), None).await;
    assert_eq!(r["state"], "sealed", "still held, still whole: {r}");

    // Releasing the hold is ledgered with its reason.
    let (s, _) = post(
        &server,
        &admin,
        &format!("/api/v1/holds/{}/release", hold["id"].as_str().unwrap()),
        json!({ "reason": "Vụ việc đã kết luận" }),
    )
    .await;
    assert_eq!(s, 204);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, log) = server.audit(&["log"], &["--action", "hold.released", "--json"]);
        assert_eq!(code, 0, "{log}");
        if log.contains("Vụ việc đã kết luận") {
            break;
        }
        assert!(Instant::now() < deadline, "the release is not in the store's ledger: {log}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Versions (key, version id) of every object under `prefix` in the raw bucket.
async fn versions(client: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<(String, String)> {
    let out = client.list_object_versions().bucket(bucket).prefix(prefix).send().await.unwrap();
    out.versions()
        .iter()
        .map(|v| (v.key().unwrap_or_default().to_string(), v.version_id().unwrap_or_default().to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_lock_retains_chunks_holds_them_and_still_lets_keys_be_shredded() {
    let sw = SeaweedFs::shared();
    let bucket = sw.locked_bucket().await;
    let client = sw.client().await;
    let store = niem_tests::server::StoreKind::S3 { bucket: bucket.clone(), endpoint: sw.endpoint.clone() };
    let mut server = Server::start(store, &[]).await;
    assert!(server.log().contains("Object Lock: on"), "{}", server.log());
    let org = |name: &str, kind: &str, parent: Option<&str>| json!({ "name": name, "kind": kind, "parent": parent });
    let (_, bloc) = server.api(Method::POST, "/api/v1/orgs", Some(org("Khối", "bloc", None))).await;
    let (_, a) = server.api(Method::POST, "/api/v1/orgs", Some(org("Chi bộ A", "base", bloc["id"].as_str()))).await;
    let (_, b) = server.api(Method::POST, "/api/v1/orgs", Some(org("Chi bộ B", "base", bloc["id"].as_str()))).await;
    let (a, b) = (a["id"].as_str().unwrap().to_string(), b["id"].as_str().unwrap().to_string());
    let admin = server.token.clone();
    let (s, _) = post(&server, &admin, "/api/v1/retention/policies", json!({ "keep_days": 1 })).await;
    assert_eq!(s, 201);
    let hold =
        json!({ "org": b, "from": today_plus(-3), "to": today_plus(3), "reason": "Thanh tra", "case_ref": "KT-1" });
    let (s, _) = post(&server, &admin, "/api/v1/holds", hold).await;
    assert_eq!(s, 201);
    let rec_a = recording(&server, &a).await;
    let rec_b = recording(&server, &b).await;

    // The store itself retains A's chunks for a day and holds B's.
    let chunk_of = |rec: &str| {
        let (client, bucket, rec) = (client.clone(), bucket.clone(), rec.to_string());
        async move {
            let v = versions(&client, &bucket, &format!("niem/recordings/{rec}/")).await;
            v.into_iter().find(|(k, _)| k.ends_with("/00000000.niem")).expect("a chunk")
        }
    };
    let (chunk_a, version_a) = chunk_of(&rec_a).await;
    let (chunk_b, _) = chunk_of(&rec_b).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let until = loop {
        if let Ok(r) = client.get_object_retention().bucket(&bucket).key(&chunk_a).send().await {
            if let Some(until) = r.retention().and_then(|r| r.retain_until_date()) {
                break until.secs();
            }
        }
        assert!(Instant::now() < deadline, "no retention on {chunk_a}\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let expected = (time::OffsetDateTime::now_utc() + time::Duration::days(1)).unix_timestamp();
    assert!((until - expected).abs() < 120, "retained until {until}, expected about {expected}");
    // The hold is applied by the service after the chunk is stored: wait for it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let legal = client.get_object_legal_hold().bucket(&bucket).key(&chunk_b).send().await;
        let status = legal.ok().and_then(|l| l.legal_hold().and_then(|h| h.status().cloned()));
        if status == Some(aws_sdk_s3::types::ObjectLockLegalHoldStatus::On) {
            break;
        }
        assert!(Instant::now() < deadline, "no legal hold on {chunk_b}: {status:?}\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let refused = client.delete_object().bucket(&bucket).key(&chunk_a).version_id(&version_a).send().await;
    assert!(refused.is_err(), "the server refused to delete a retained chunk version");
    let key_a = versions(&client, &bucket, &format!("niem/keys/{rec_a}/")).await;
    assert!(
        client
            .get_object_retention()
            .bucket(&bucket)
            .key(&key_a[0].0)
            .send()
            .await
            .ok()
            .and_then(|r| r.retention().cloned())
            .is_none(),
        "keys are never locked"
    );

    // Two days on: A's keys are shredded (every version); its chunks stay, unreadable.
    server.stop();
    server.set_env("NIEM_CLOCK_OFFSET_MINUTES", "2880");
    server.start_again().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, r) = server.api(Method::GET, &format!("/api/v1/recordings/{rec_a}"), None).await;
        if r["state"] == "shredded" && versions(&client, &bucket, &format!("niem/keys/{rec_a}/")).await.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "not shredded, or a version of a key survives: {r}\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!versions(&client, &bucket, &format!("niem/recordings/{rec_a}/")).await.is_empty(), "locked chunks stay");
    let (_, rb) = server.api(Method::GET, &format!("/api/v1/recordings/{rec_b}"), None).await;
    assert_eq!(rb["state"], "sealed", "held");
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("recording {rec_a} lawfully deleted")), "{out}");
}
