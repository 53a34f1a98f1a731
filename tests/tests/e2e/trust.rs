//! Trust hardening, tried as an attacker would: verdicts that rest only on signed
//! evidence, four-eyes that one admin cannot get around, a shred that no backup
//! undoes, a shred cut off half-way, and two shreds racing.
//!
//! Attackers here write straight into the store (no key), or into the catalog
//! while the service is stopped (the service then signs what its catalog holds,
//! which is the point: the verifier must still judge the result by the rules).

use archive::ledger::{Entry, NewEntry};
use niem_tests::seaweed::SeaweedFs;
use niem_tests::server::{Server, StoreKind};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Two cells under one base, a meeting and a sealed recording in each, and a
/// ten-year policy for every org; returns (cell A, cell B, recording A, recording B).
async fn world(server: &Server) -> (String, String, String, String) {
    let org = |name: &str, kind: &str, parent: Option<&str>| json!({ "name": name, "kind": kind, "parent": parent });
    let (_, bloc) = server.api(Method::POST, "/api/v1/orgs", Some(org("Khối", "bloc", None))).await;
    let (_, base) = server.api(Method::POST, "/api/v1/orgs", Some(org("Cơ sở", "base", bloc["id"].as_str()))).await;
    let (_, a) = server.api(Method::POST, "/api/v1/orgs", Some(org("Chi bộ A", "cell", base["id"].as_str()))).await;
    let (_, b) = server.api(Method::POST, "/api/v1/orgs", Some(org("Chi bộ B", "cell", base["id"].as_str()))).await;
    let (a, b) = (a["id"].as_str().unwrap().to_string(), b["id"].as_str().unwrap().to_string());
    let (s, _) = server.api(Method::POST, "/api/v1/retention/policies", Some(json!({ "keep_days": 3650 }))).await;
    assert_eq!(s, 201);
    let rec_a = recording(server, &a).await;
    let rec_b = recording(server, &b).await;
    (a, b, rec_a, rec_b)
}

/// A sealed one-second recording in a new regular meeting of `org`.
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

/// The store's ledger, as `niem-audit log` reads it.
fn store_ledger(server: &Server) -> Vec<Entry> {
    let (_, out) = server.audit(&["log"], &["--json"]);
    out.lines()
        .filter(|l| l.starts_with('{'))
        .enumerate()
        .map(|(i, l)| Entry::from_line(l, i as u64).unwrap())
        .collect()
}

/// Entries the attacker chains after `prev`, numbered from `first`.
fn chain(first: u64, mut prev: [u8; 32], forged: Vec<(String, &str, String, Value, String)>) -> Vec<Entry> {
    let mut out = Vec::new();
    for (i, (actor, action, subject, data, ts)) in forged.into_iter().enumerate() {
        let mut e =
            Entry { seq: first + i as u64, ts, actor, action: action.into(), subject, data, prev, hash: [0; 32] };
        e.hash = e.compute_hash();
        prev = e.hash;
        out.push(e);
    }
    out
}

/// Writes entries into the stopped service's catalog (either engine), chained
/// like its own.
fn forge_catalog(server: &Server, forged: Vec<(&str, &'static str, String, Value)>) {
    server
        .catalog()
        .run(|c| {
            let tx = c.write()?;
            for (actor, action, subject, data) in forged {
                let ts = archive::clock::format_ts(time::OffsetDateTime::now_utc());
                archive::ledger::append_in(&tx, ts, NewEntry { actor: actor.into(), action, subject, data })?;
            }
            tx.commit()?;
            Ok::<_, archive::vault::VaultError>(())
        })
        .unwrap();
}

/// Deletes a recording's keys and chunks straight from the store.
async fn delete_content(server: &Server, rec: &str) {
    let raw = server.raw_store().await;
    for key in raw.list().await {
        let mine = key.starts_with(&format!("keys/{rec}/")) || key.starts_with(&format!("recordings/{rec}/"));
        if mine && !key.ends_with("manifest.json") {
            raw.delete(&key).await;
        }
    }
}

fn stores() -> Vec<&'static str> {
    vec!["local", "seaweedfs"]
}

async fn server_on(store: &str) -> Server {
    let kind = match store {
        "local" => StoreKind::Local,
        _ => SeaweedFs::shared().store().await,
    };
    Server::start(kind, &[]).await
}

/// With no key, someone who can write the store appends a "keep 0 days" policy and
/// a shred, dated in the future, then deletes the recording: INVALID, named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_policy_and_shred_excuse_nothing() {
    for store in stores() {
        let mut server = server_on(store).await;
        let (_, _, rec, _) = world(&server).await;
        server.stop();
        let ledger = store_ledger(&server);
        let last = ledger.last().unwrap();
        let later = archive::clock::format_ts(time::OffsetDateTime::now_utc() + time::Duration::days(400));
        let forged = chain(
            last.seq + 1,
            last.hash,
            vec![
                (
                    "user:mallory".into(),
                    "retention.policy.set",
                    "policy/forged".into(),
                    json!({ "org": null, "kind": null, "keep_days": 1 }),
                    later.clone(),
                ),
                (
                    "user:mallory".into(),
                    "recording.shredded",
                    format!("recording/{rec}"),
                    json!({ "policy": "forged" }),
                    later,
                ),
            ],
        );
        let body: String = forged.iter().map(|e| e.to_line() + "\n").collect();
        let name = archive::layout::ObjectKey::ledger_batch(forged[0].seq, forged[1].seq);
        server.raw_store().await.write(name.as_str(), body.into_bytes()).await;
        delete_content(&server, &rec).await;
        let (code, out) = server.audit(&["verify"], &[]);
        assert_eq!(code, 1, "{store}: {out}");
        let why = format!("deleted; the shred at entry {} is not under a signed checkpoint", forged[1].seq);
        assert!(out.contains(&why), "{store}: {out}");
        assert!(!out.contains("lawfully deleted"), "{store}: {out}");
        assert!(out.contains("2 not yet signed"), "{store}: {out}");
    }
}

/// An entry dated after the checkpoint that covers it: what a signer did not see
/// yet cannot be under its signature. Only a signer can make one (a stolen key, or
/// a release without this check): the test signs with the service's key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_dated_after_its_checkpoint_is_invalid() {
    for store in stores() {
        let mut server = server_on(store).await;
        world(&server).await;
        server.stop();
        let ledger = store_ledger(&server);
        let last = ledger.last().unwrap();
        let future = archive::clock::format_ts(time::OffsetDateTime::now_utc() + time::Duration::days(30));
        let forged = chain(
            last.seq + 1,
            last.hash,
            vec![("user:mallory".into(), "org.created", "org/forged".into(), json!({ "parent": null }), future)],
        );
        let raw = server.raw_store().await;
        raw.write(
            archive::layout::ObjectKey::ledger_batch(forged[0].seq, forged[0].seq).as_str(),
            (forged[0].to_line() + "\n").into_bytes(),
        )
        .await;
        let keys = archive::keys::KeyDir::new(server.keys_dir()).load().unwrap();
        let mut tree = archive::merkle::CompactTree::new();
        for e in ledger.iter().chain(&forged) {
            tree.push(&e.hash);
        }
        let cp = archive::checkpoint::Checkpoint {
            origin: keys.signer.verifier().name().into(),
            size: tree.size(),
            root: tree.root(),
            time: archive::clock::format_ts(time::OffsetDateTime::now_utc()),
        };
        let obj = archive::checkpoint::CheckpointObject {
            format: archive::checkpoint::FORMAT.into(),
            note: cp.sign(&keys.signer),
        };
        raw.write(archive::layout::ObjectKey::checkpoint(tree.size() - 1).as_str(), serde_json::to_vec(&obj).unwrap())
            .await;
        let (code, out) = server.audit(&["verify"], &[]);
        assert_eq!(code, 1, "{store}: {out}");
        assert!(
            out.contains(&format!("ledger entry {} (org.created) is dated", forged[0].seq))
                && out.contains("after the checkpoint that covers it"),
            "{store}: {out}"
        );
    }
}

/// Shreds the service signed (its catalog was written behind its back) that cite a
/// policy which did not govern the recording: another kind, a superseded one, and
/// a shortening approved only by the admin who set it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shreds_under_the_wrong_policy_are_unlawful() {
    for store in stores() {
        let mut server = server_on(store).await;
        let (a, _, rec_a, _) = world(&server).await;
        let policy = |body: Value| {
            let s = &server;
            async move {
                let (code, p) = s.api(Method::POST, "/api/v1/retention/policies", Some(body)).await;
                assert_eq!(code, 201, "{p}");
                p
            }
        };
        // C is sealed under a one-day policy, which a ten-year one then supersedes.
        let old = policy(json!({ "org": a, "keep_days": 1 })).await;
        let rec_c = recording(&server, &a).await;
        policy(json!({ "org": a, "keep_days": 3650 })).await;
        // D is sealed under ten years; a one-day policy for it waits for a second admin.
        let rec_d = recording(&server, &a).await;
        let short = policy(json!({ "org": a, "keep_days": 2 })).await;
        assert_eq!(short["needs_approval"], true, "{short}");
        let approve = format!("/api/v1/retention/policies/{}/approve", short["id"].as_str().unwrap());
        let (s, v) = server.api(Method::POST, &approve, None).await;
        assert_eq!(s, 403, "self-approval is refused by the service: {v}");
        server.stop();
        let admin = store_ledger(&server).iter().find(|e| e.action == "retention.policy.set").unwrap().actor.clone();
        let shred = |rec: &str, policy: &str| {
            (admin.as_str(), "recording.shredded", format!("recording/{rec}"), json!({ "policy": policy }))
        };
        let (old, short) = (old["id"].as_str().unwrap(), short["id"].as_str().unwrap());
        forge_catalog(
            &server,
            vec![
                (
                    admin.as_str(),
                    "retention.policy.set",
                    "policy/thematic".into(),
                    json!({ "org": null, "kind": "thematic", "keep_days": 1 }),
                ),
                (admin.as_str(), "retention.policy.approved", format!("policy/{short}"), json!({})),
                shred(&rec_a, "thematic"),
                shred(&rec_c, old),
                shred(&rec_d, short),
            ],
        );
        // The service signs what its catalog holds; the attacker then deletes.
        server.start_again().await;
        server.stop();
        for rec in [&rec_a, &rec_c, &rec_d] {
            delete_content(&server, rec).await;
        }
        let (code, out) = server.audit(&["verify"], &[]);
        assert_eq!(code, 1, "{store}: {out}");
        let line = |rec: &str| {
            out.lines()
                .find(|l| l.contains(&format!("UNLAWFUL deletion of recording {rec}")))
                .unwrap_or_else(|| panic!("{store}: {rec} not judged: {out}"))
                .to_string()
        };
        assert!(line(&rec_a).contains("cites policy thematic, but policy"), "{store}: other kind: {}", line(&rec_a));
        assert!(
            line(&rec_c).contains(&format!("cites policy {old}, but policy")),
            "{store}: superseded: {}",
            line(&rec_c)
        );
        assert!(
            line(&rec_d).contains("no second admin approved it") && line(&rec_d).contains("cannot approve it"),
            "{store}: self-approved: {}",
            line(&rec_d)
        );
        assert!(!out.contains("lawfully deleted"), "{store}: {out}");
    }
}

/// Another subtree: a policy of cell B cited for cell A's recording.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shred_citing_another_subtrees_policy_is_unlawful() {
    let mut server = server_on("local").await;
    let (_, b, rec_a, _) = world(&server).await;
    server.stop();
    forge_catalog(
        &server,
        vec![
            ("host", "retention.policy.set", "policy/cell_b".into(), json!({ "org": b, "kind": null, "keep_days": 1 })),
            ("system", "recording.shredded", format!("recording/{rec_a}"), json!({ "policy": "cell_b" })),
        ],
    );
    server.start_again().await;
    server.stop();
    delete_content(&server, &rec_a).await;
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("UNLAWFUL deletion of recording {rec_a}: cites policy cell_b, but policy")), "{out}");
}

async fn post_as(server: &Server, token: &str, path: &str, body: Value) -> (u16, Value) {
    let resp = server.http().post(format!("{}{path}", server.url)).bearer_auth(token).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn expires_by(server: &Server, days: i64) -> Vec<String> {
    let d = (time::OffsetDateTime::now_utc() + time::Duration::days(days)).date();
    let at = format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
    let (s, v) = server.api(Method::GET, &format!("/api/v1/retention/preview?at={at}"), None).await;
    assert_eq!(s, 200, "{v}");
    v.as_array().unwrap().iter().map(|e| e["recording"].as_str().unwrap().to_string()).collect()
}

/// A second admin, made while the first is alone; its token comes from the host.
async fn second_admin(server: &mut Server, name: &str) -> (String, String) {
    let (s, u) = server.api(Method::POST, "/api/v1/users", Some(json!({ "name": name, "role": "admin" }))).await;
    assert_eq!(s, 201, "{u}");
    let (code, out) = server.host(&["token", "create", "--role", "admin", "--name", name]).await;
    assert_eq!(code, 0, "{out}");
    (u["id"].as_str().unwrap().to_string(), out.lines().find(|l| l.starts_with("niem_")).unwrap().trim().to_string())
}

/// Every route that makes an existing recording expire earlier waits for a second
/// admin: preview and enforcement leave it alone until then, and apply it after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_eyes_holds_on_every_route() {
    type Step = &'static str;
    let cases: [(&str, &[Step]); 6] = [
        ("shorten", &["every:1"]),
        ("shorten, then lengthen", &["every:1", "every:4000"]),
        ("a more specific org", &["cell:1"]),
        ("a more specific kind", &["kind:1"]),
        ("a changed config default", &["default:1"]),
        ("an admin the requester made while another existed", &["make_admin", "every:1"]),
    ];
    for (name, steps) in cases {
        let mut server = Server::start(StoreKind::Local, &[]).await;
        let (a, _, rec, _) = world(&server).await;
        let (_, second) = second_admin(&mut server, "second").await;
        let admin = server.token.clone();
        let mut last_policy = None;
        for step in steps.iter() {
            let body = match *step {
                "every:1" => json!({ "keep_days": 1 }),
                "every:4000" => json!({ "keep_days": 4000 }),
                "cell:1" => json!({ "org": a, "keep_days": 1 }),
                "kind:1" => json!({ "kind": "regular", "keep_days": 1 }),
                "default:1" => {
                    server.stop();
                    server.set_env("NIEM_RETENTION__DEFAULT_KEEP_DAYS", "1");
                    server.start_again().await;
                    let (_, list) = server.api(Method::GET, "/api/v1/retention/policies", None).await;
                    last_policy = list.as_array().unwrap().last().map(|p| p["id"].as_str().unwrap().to_string());
                    continue;
                }
                "make_admin" => {
                    // With two admins, the first cannot make a third alone.
                    let (s, r) =
                        post_as(&server, &admin, "/api/v1/users", json!({ "name": "third", "role": "admin" })).await;
                    assert_eq!(s, 202, "{name}: {r}");
                    let (_, users) = server.api(Method::GET, "/api/v1/users", None).await;
                    assert!(!users.to_string().contains("third"), "{name}: not made before approval: {users}");
                    let (s, _) = post_as(
                        &server,
                        &admin,
                        &format!("/api/v1/users/requests/{}/approve", r["request"]["id"].as_str().unwrap()),
                        json!(null),
                    )
                    .await;
                    assert_eq!(s, 403, "{name}: the requester cannot approve it");
                    continue;
                }
                other => panic!("{other}"),
            };
            let (s, p) = post_as(&server, &admin, "/api/v1/retention/policies", body).await;
            assert_eq!(s, 201, "{name}: {p}");
            last_policy = p["id"].as_str().map(String::from);
        }
        assert!(
            !expires_by(&server, 3).await.contains(&rec),
            "{name}: the preview leaves the existing recording alone"
        );
        // Two days on, enforcement runs (at start) and leaves it.
        server.stop();
        server.set_env("NIEM_CLOCK_OFFSET_MINUTES", "2880");
        server.start_again().await;
        let (s, run) = post_as(&server, &admin, "/api/v1/retention/run", json!({})).await;
        assert_eq!(s, 200, "{run}");
        let (_, r) = server.api(Method::GET, &format!("/api/v1/recordings/{rec}"), None).await;
        assert_eq!(r["state"], "sealed", "{name}: not shredded before a second admin approves: {run}");
        // A legitimate second admin approves: now it applies.
        let policy = last_policy.clone().unwrap();
        let waiting: Vec<String> = {
            let (_, list) = server.api(Method::GET, "/api/v1/retention/policies", None).await;
            list.as_array()
                .unwrap()
                .iter()
                .filter(|p| p["needs_approval"] == true)
                .map(|p| p["id"].as_str().unwrap().to_string())
                .collect()
        };
        if name == "shorten, then lengthen" {
            assert!(!waiting.contains(&policy), "{name}: the lengthening applies at once: {waiting:?}");
            let (s, r) = server.api(Method::GET, &format!("/api/v1/recordings/{rec}"), None).await;
            assert_eq!((s, r["state"].as_str()), (200, Some("sealed")));
            continue;
        }
        assert_eq!(waiting, vec![policy.clone()], "{name}");
        let (s, v) =
            post_as(&server, &second, &format!("/api/v1/retention/policies/{policy}/approve"), json!(null)).await;
        assert_eq!(s, 204, "{name}: {v}");
        let (s, run) = post_as(&server, &admin, "/api/v1/retention/run", json!({})).await;
        assert_eq!(s, 200, "{run}");
        let shredded: Vec<&str> =
            run["shredded"].as_array().unwrap().iter().map(|e| e["recording"].as_str().unwrap()).collect();
        assert!(shredded.contains(&rec.as_str()), "{name}: applies once approved: {run}");
        let (code, out) = server.audit(&["verify"], &[]);
        assert_eq!(code, 0, "{name}: {out}");
        assert!(out.contains(&format!("recording {rec} lawfully deleted")), "{name}: {out}");
    }
}

/// Admins' credentials and who is an admin: one admin cannot mint tokens for or
/// reset another admin, nor demote or disable them alone once two exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_admin_cannot_act_on_another_alone() {
    let mut server = Server::start(StoreKind::Local, &[]).await;
    let (second_id, second) = second_admin(&mut server, "second").await;
    let admin = server.token.clone();
    let (s, v) = post_as(&server, &admin, &format!("/api/v1/users/{second_id}/tokens"), json!(null)).await;
    assert_eq!(s, 403, "{v}");
    let patch = |token: String, id: String, body: Value| {
        let s = &server;
        async move {
            let resp = s
                .http()
                .patch(format!("{}/api/v1/users/{id}", s.url))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (s, v) = patch(admin.clone(), second_id.clone(), json!({ "password": "a new long password" })).await;
    assert_eq!(s, 403, "{v}");
    let (s, v) = patch(admin.clone(), second_id.clone(), json!({ "disabled": true })).await;
    assert_eq!(s, 202, "a request, not a change: {v}");
    let request = v["request"]["id"].as_str().unwrap().to_string();
    let (_, users) = server.api(Method::GET, "/api/v1/users", None).await;
    let second_row = users.as_array().unwrap().iter().find(|u| u["id"] == second_id.as_str()).unwrap().clone();
    assert_eq!(second_row["disabled"], false, "not disabled before approval");
    // The second admin still works, and may approve only what it did not ask.
    let (s, _) = post_as(&server, &admin, &format!("/api/v1/users/requests/{request}/approve"), json!(null)).await;
    assert_eq!(s, 403);
    let (_, first) = server.api(Method::GET, "/api/v1/users", None).await;
    let first_id =
        first.as_array().unwrap().iter().find(|u| u["name"] == "admin").unwrap()["id"].as_str().unwrap().to_string();
    let (s, v) = patch(second.clone(), first_id, json!({ "role": "auditor" })).await;
    assert_eq!(s, 202, "demoting the other admin is only requested: {v}");
    // The break-glass route acts alone, and is listed.
    server.stop();
    let (code, out) = server.niem(&["user", "add", "third", "--role", "admin"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Changes made at the host's command line") && out.contains("user.created"), "{out}");
}

/// Two retention runs at once: exactly one shred entry per recording.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retention_runs_shred_once() {
    let mut server = Server::start(StoreKind::Local, &[]).await;
    let (a, _, _, _) = world(&server).await;
    let (s, _) =
        server.api(Method::POST, "/api/v1/retention/policies", Some(json!({ "org": a, "keep_days": 1 }))).await;
    assert_eq!(s, 201);
    let recs = [recording(&server, &a).await, recording(&server, &a).await, recording(&server, &a).await];
    // Held, so that the run at start leaves them; released, then two runs race.
    let hold = json!({ "org": a, "from": "2020-01-01", "to": "2100-01-01", "reason": "Thanh tra", "case_ref": "KT-1" });
    let (s, hold) = server.api(Method::POST, "/api/v1/holds", Some(hold)).await;
    assert_eq!(s, 201, "{hold}");
    server.stop();
    server.set_env("NIEM_CLOCK_OFFSET_MINUTES", "2880");
    server.start_again().await;
    let (s, _) = server
        .api(
            Method::POST,
            &format!("/api/v1/holds/{}/release", hold["id"].as_str().unwrap()),
            Some(json!({ "reason": "Xong" })),
        )
        .await;
    assert_eq!(s, 204);
    let run = || server.api(Method::POST, "/api/v1/retention/run", Some(json!({})));
    let ((s1, r1), (s2, r2)) = tokio::join!(run(), run());
    assert_eq!((s1, s2), (200, 200), "{r1} {r2}");
    server.stop();
    let shreds: Vec<String> =
        store_ledger(&server).into_iter().filter(|e| e.action == "recording.shredded").map(|e| e.subject).collect();
    for rec in &recs {
        assert_eq!(shreds.iter().filter(|s| s.ends_with(rec.as_str())).count(), 1, "one entry for {rec}: {shreds:?}");
    }
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
}

/// The service dies between a shred's entry and the deletion of its keys (the
/// store went down under it); at the next start the shred completes, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_done_shred_completes_after_a_crash() {
    let mut sw = SeaweedFs::own();
    let mut server = Server::start(sw.store().await, &[]).await;
    let (a, _, _, _) = world(&server).await;
    let (s, _) =
        server.api(Method::POST, "/api/v1/retention/policies", Some(json!({ "org": a, "keep_days": 1 }))).await;
    assert_eq!(s, 201);
    let rec = recording(&server, &a).await;
    let hold = json!({ "org": a, "from": "2020-01-01", "to": "2100-01-01", "reason": "Thanh tra", "case_ref": "KT-1" });
    let (_, hold) = server.api(Method::POST, "/api/v1/holds", Some(hold)).await;
    server.stop();
    server.set_env("NIEM_CLOCK_OFFSET_MINUTES", "2880");
    server.start_again().await;
    let (s, _) = server
        .api(
            Method::POST,
            &format!("/api/v1/holds/{}/release", hold["id"].as_str().unwrap()),
            Some(json!({ "reason": "Xong" })),
        )
        .await;
    assert_eq!(s, 204);
    sw.stop();
    let (s, run) = server.api(Method::POST, "/api/v1/retention/run", Some(json!({}))).await;
    assert_eq!(s, 503, "the shred committed, its deletions could not run: {run}");
    let (_, r) = server.api(Method::GET, &format!("/api/v1/recordings/{rec}"), None).await;
    assert_eq!(r["state"], "shredded", "{r}");
    server.kill9();
    sw.start();
    server.start_again().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let raw = server.raw_store().await.list().await;
        if !raw.iter().any(|k| k.starts_with(&format!("keys/{rec}/"))) {
            break;
        }
        assert!(Instant::now() < deadline, "the shred was not finished: {raw:?}\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.stop();
    let shreds = store_ledger(&server).into_iter().filter(|e| e.action == "recording.shredded").count();
    assert_eq!(shreds, 1);
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("recording {rec} lawfully deleted")), "{out}");
}

/// Every version of every object, as a backup of the bucket would hold them.
async fn all_versions(client: &aws_sdk_s3::Client, bucket: &str) -> Vec<(String, Vec<u8>)> {
    let out = client.list_object_versions().bucket(bucket).send().await.unwrap();
    let mut all = Vec::new();
    for v in out.versions() {
        let (key, id) = (v.key().unwrap_or_default(), v.version_id().unwrap_or_default());
        let o = client.get_object().bucket(bucket).key(key).version_id(id).send().await.unwrap();
        all.push((key.to_string(), o.body.collect().await.unwrap().into_bytes().to_vec()));
    }
    all
}

/// A full copy of the data dir and of every object version, taken before a shred.
/// After the shred and a KEK retirement, nothing in the copy opens the shredded
/// recording with the keys that remain, and no wrapped key of it is in any catalog
/// file; live and held recordings still play and verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shred_after_a_retirement_survives_no_backup() {
    let sw = SeaweedFs::shared();
    let bucket = sw.locked_bucket().await; // versioned
    let client = sw.client().await;
    let mut server = Server::start(StoreKind::S3 { bucket: bucket.clone(), endpoint: sw.endpoint.clone() }, &[]).await;
    // A's older recording keeps ten years (the later 1-day policy waits for a
    // second admin for it); a newer one of A expires in a day; one of B is held.
    let (a, b, live, _) = world(&server).await;
    for org in [&a, &b] {
        let (s, _) =
            server.api(Method::POST, "/api/v1/retention/policies", Some(json!({ "org": org, "keep_days": 1 }))).await;
        assert_eq!(s, 201);
    }
    let hold = json!({ "org": b, "from": "2020-01-01", "to": "2100-01-01", "reason": "Thanh tra", "case_ref": "KT-1" });
    let (s, _) = server.api(Method::POST, "/api/v1/holds", Some(hold)).await;
    assert_eq!(s, 201);
    let doomed = recording(&server, &a).await;
    let held = recording(&server, &b).await;
    server.stop();
    let backup = tempfile::tempdir().unwrap();
    niem_tests::copy_dir(&server.data_dir(), &backup.path().join("niem-data"));
    // With the catalog in PostgreSQL, its backup is a dump.
    let dump_before = server.catalog_dump();
    let versions = all_versions(&client, &bucket).await;
    let doomed_keys: Vec<archive::keys::WrappedDek> = versions
        .iter()
        .filter(|(k, _)| k.contains(&format!("keys/{doomed}/")))
        .map(|(_, b)| serde_json::from_slice(b).unwrap())
        .collect();
    assert!(!doomed_keys.is_empty());

    server.set_env("NIEM_CLOCK_OFFSET_MINUTES", "2880");
    server.start_again().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, r) = server.api(Method::GET, &format!("/api/v1/recordings/{doomed}"), None).await;
        if r["state"] == "shredded" {
            break;
        }
        assert!(Instant::now() < deadline, "{r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (s, retired) = server.api(Method::POST, "/api/v1/keys/retire", None).await;
    assert_eq!(s, 200, "{retired}");
    assert_eq!(retired["destroyed"].as_array().map(Vec::len), Some(1), "{retired}");

    // With the keys left, no copy of the shredded recording's key opens.
    let keys = archive::keys::KeyDir::new(server.keys_dir()).load().unwrap();
    let ring = keys.ring();
    let (_, m) = server.api(Method::GET, &format!("/api/v1/recordings/{doomed}"), None).await;
    let stream: archive::id::StreamId = m["manifest"]["streams"][0]["id"].as_str().unwrap().parse().unwrap();
    for w in &doomed_keys {
        let tried = ring.unwrap(w, doomed.parse().unwrap(), archive::id::StreamName::Media(stream));
        assert!(matches!(tried, Err(archive::keys::KeyError::UnknownKek(_))), "{tried:?}");
    }
    // No wrapped key of it in the catalog or its WAL, then or now.
    let mut catalogs: Vec<(String, Vec<u8>)> = [backup.path().join("niem-data"), server.data_dir()]
        .iter()
        .flat_map(|d| ["catalog.db", "catalog.db-wal"].map(|f| d.join(f)))
        .filter(|p| p.exists())
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    for (what, dump) in [("the dump before", dump_before), ("the dump after", server.catalog_dump())] {
        catalogs.extend(dump.map(|d| (what.to_string(), d)));
    }
    assert!(catalogs.len() >= 2);
    for (what, bytes) in &catalogs {
        for w in &doomed_keys {
            assert!(!bytes.windows(w.sealed.len()).any(|x| x == w.sealed.as_bytes()), "{what} holds a wrapped key");
        }
    }
    // The live and the held recording still play, and the store verifies.
    for rec in [&live, &held] {
        let (_, r) = server.api(Method::GET, &format!("/api/v1/recordings/{rec}"), None).await;
        assert_eq!(r["state"], "sealed", "{r}");
        let stream = r["manifest"]["streams"][0]["id"].as_str().unwrap().to_string();
        let (s, body) = server.play(rec, &stream, None).await;
        assert_eq!((s, body.len() > 1000), (200, true), "{rec}");
    }
    let (s, _) = server.play(&doomed, &stream.to_string(), None).await;
    assert_eq!(s, 410);
    server.stop();
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
}

/// Titles, names, passwords and recordings survive two KEK retirements: the
/// catalog restored from the store and the keys left afterwards serves them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_works_after_two_retirements() {
    let sw = SeaweedFs::shared();
    let bucket = sw.bucket().await;
    let mut server = Server::start(StoreKind::S3 { bucket: bucket.clone(), endpoint: sw.endpoint.clone() }, &[]).await;
    let (a, _, rec, _) = world(&server).await;
    let password = "mật khẩu đủ dài 2026";
    let (s, u) = server
        .api(
            Method::POST,
            "/api/v1/users",
            Some(json!({ "name": "kiemtra.a", "role": "inspector", "password": password, "scopes": [a] })),
        )
        .await;
    assert_eq!(s, 201, "{u}");
    for generation in [1, 2] {
        let (s, r) = server.api(Method::POST, "/api/v1/keys/retire", None).await;
        assert_eq!((s, r["generation"].as_u64()), (200, Some(generation)), "{r}");
    }
    let (_, keys) = server.api(Method::GET, "/api/v1/keys", None).await;
    assert_eq!(keys["keks"].as_array().map(Vec::len), Some(1), "{keys}");
    let (_, meetings_before) = server.api(Method::GET, "/api/v1/meetings", None).await;
    let (_, users_before) = server.api(Method::GET, "/api/v1/users", None).await;
    server.stop();
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
    std::fs::remove_dir_all(server.data_dir()).unwrap();
    server.lose_catalog().await;
    let (store_arg, keys_arg) = (format!("s3://{bucket}/niem"), server.keys_dir().display().to_string());
    let (code, out) = server.niem(&["restore", "--store", &store_arg, "--keys", &keys_arg]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("nothing lost") && !out.contains("note:"), "{out}");
    server.start_again().await;
    let (_, meetings_after) = server.api(Method::GET, "/api/v1/meetings", None).await;
    assert_eq!(meetings_after, meetings_before, "titles came back");
    let (_, users_after) = server.api(Method::GET, "/api/v1/users", None).await;
    assert_eq!(users_after, users_before, "names came back");
    assert_eq!(server.sign_in("kiemtra.a", password).await.0, 303, "the password hash came back");
    let (_, r) = server.api(Method::GET, &format!("/api/v1/recordings/{rec}"), None).await;
    let stream = r["manifest"]["streams"][0]["id"].as_str().unwrap().to_string();
    let (s, body) = server.play(&rec, &stream, None).await;
    assert_eq!(s, 200);
    assert_eq!(
        body,
        niem_tests::wav::tone(1.0, 440.0, 16_000, None),
        "plays byte-exact under the second generation's key"
    );
}

/// Keys that come read-only (here: the environment) cannot be retired by the
/// service: it says so, and refuses with the operator's way out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_keys_are_retired_by_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let keys = archive::keys::KeyDir::new(dir.path()).init("niem.test/ledger").unwrap();
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    let kek = keys.ring().current_id().to_string();
    let signing = read("signing.key").lines().nth(1).unwrap().to_string();
    let kek_b64 = read(&format!("kek/{kek}.key")).trim().to_string();
    let env = [
        ("NIEM_SIGNING_KEY", signing.as_str()),
        ("NIEM_LEDGER_ORIGIN", "niem.test/ledger"),
        ("NIEM_KEKS", &format!("{kek}:{kek_b64}")),
        ("NIEM_KEK_CURRENT", kek.as_str()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, *v)).collect();
    let server = Server::start(StoreKind::Local, &env).await;
    assert!(server.log().contains("cannot retire KEKs on its own"), "{}", server.log());
    let (_, v) = server.api(Method::GET, "/api/v1/keys", None).await;
    assert!(v["read_only"].as_str().is_some_and(|r| r.contains("environment")), "{v}");
    let (s, v) = server.api(Method::POST, "/api/v1/keys/retire", None).await;
    assert_eq!(s, 409, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("Retiring a KEK"), "{v}");
}

/// A start while the store is still down (S3 started beside the service, or
/// coming back from an outage) waits for it instead of failing; the ledger is
/// then checked against the store as always.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_waits_for_a_store_that_is_still_coming_up() {
    let mut sw = SeaweedFs::own();
    let mut server = Server::start(sw.store().await, &[]).await;
    world(&server).await;
    server.stop();
    sw.stop();
    let back = std::thread::spawn(move || {
        // Longer than the S3 client's own retries, which cover a few seconds.
        std::thread::sleep(Duration::from_secs(15));
        sw.start();
        sw
    });
    let started = Instant::now();
    server.start_again().await;
    assert!(started.elapsed() >= Duration::from_secs(15), "ready before the store was back");
    let sw = back.join().unwrap();
    assert!(server.log().contains("the store does not answer yet"), "{}", server.log());
    let (s, orgs) = server.api(Method::GET, "/api/v1/orgs", None).await;
    assert_eq!((s, orgs.as_array().map(|o| !o.is_empty())), (200, Some(true)), "{orgs}");
    server.stop();
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
    drop(sw);
}
