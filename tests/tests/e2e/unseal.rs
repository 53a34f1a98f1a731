//! The admin door to a search's sealed query (`GET /api/v1/ledger/{seq}/sealed`):
//! an admin opens what an inspector searched for and exported; the opening is
//! itself ledgered (`sealed.opened`, naming the entry, never the query);
//! inspectors, auditors and recorders are refused, and so is any entry that is
//! not a search (its sealed facts are names and credential hashes); afterwards
//! no word of the query is in the store, under the data dir or in the log.

use niem_tests::server::{Server, StoreKind};
use niem_tests::{contains, files_under as files};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const PASSWORD: &str = "mở-niêm-phong-2026!";
/// Words no fixture holds, so that finding one anywhere means the query leaked.
const QUERY: &str = "bồi thường đất đai Nhơn Trạch";
const NEEDLES: &[&str] = &[QUERY, "Nhơn Trạch", "bồi thường", "boi thuong", "nhon trach", "Nhon Trach"];

async fn get(server: &Server, token: Option<&str>, path: &str) -> (u16, Value, String) {
    let mut req = server.http().get(format!("{}{path}", server.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let cache = resp.headers().get("cache-control").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)), cache)
}

/// The store's ledger entries of `action`, as `niem-audit` reads them, once
/// `ready` holds of them (they reach the store in batches).
async fn ledgered(server: &Server, action: &str, ready: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, log) = server.audit(&["log"], &["--action", action, "--json"]);
        assert_eq!(code, 0, "{log}");
        let entries: Vec<Value> = log.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        if ready(&entries) {
            return entries;
        }
        assert!(Instant::now() < deadline, "the store's ledger lacks the {action} entries expected: {log}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_opens_a_searchs_sealed_query_and_is_ledgered() {
    let mut server = Server::start(StoreKind::Local, &[]).await;
    let meeting = server.meeting().await;
    let (_, m) = server.api(Method::GET, &format!("/api/v1/meetings/{meeting}"), None).await;
    let cell = m["org"].as_str().unwrap().to_string();
    let (inspector, inspector_token) = server.user("kiemtra.moi", "inspector", &[&cell], PASSWORD).await;
    let (_, auditor_token) = server.user("kiemtoan.moi", "auditor", &[], PASSWORD).await;
    let (_, recorder_token) = server.user("thuky.moi", "recorder", &[&cell], PASSWORD).await;
    let admin = json!({ "name": "quantri.moi", "role": "admin", "password": PASSWORD });
    assert_eq!(server.api(Method::POST, "/api/v1/users", Some(admin)).await.0, 201);

    // The inspector searches and exports; each is ledgered with the query sealed.
    let q = [("q", QUERY), ("kind", "regular")];
    let resp = server.http().get(format!("{}/api/v1/search", server.url)).query(&q).bearer_auth(&inspector_token);
    assert_eq!(resp.send().await.unwrap().status(), 200);
    let resp =
        server.http().get(format!("{}/api/v1/search/export", server.url)).query(&q).bearer_auth(&inspector_token);
    assert_eq!(resp.send().await.unwrap().status(), 200);
    let actor = format!("user:{inspector}");
    let mut seqs = Vec::new();
    for action in ["search.performed", "search.exported"] {
        let entries = ledgered(&server, action, |es| es.iter().any(|e| e["actor"] == actor)).await;
        let e = entries.iter().find(|e| e["actor"] == actor).unwrap();
        assert!(e["data"]["sealed"].is_object() && e["data"]["kind"] == "regular", "{e}");
        assert!(!e.to_string().contains("Nhơn") && !e.to_string().contains("thường"), "{e}");
        seqs.push((action, e["seq"].as_u64().unwrap()));
    }
    let user_created = ledgered(&server, "user.created", |es| !es.is_empty()).await;
    let credentials = user_created[0]["seq"].as_u64().unwrap();

    // Nobody but an admin opens it; and not even an admin opens anything else.
    let performed = seqs[0].1;
    let path = |seq: u64| format!("/api/v1/ledger/{seq}/sealed");
    for (who, token) in [("inspector", &inspector_token), ("auditor", &auditor_token), ("recorder", &recorder_token)] {
        let (s, v, _) = get(&server, Some(token), &path(performed)).await;
        assert_eq!(s, 403, "{who}: {v}");
        assert!(!v.to_string().contains("Nhơn"), "{who}: {v}");
    }
    assert_eq!(get(&server, None, &path(performed)).await.0, 401);
    let (s, v, _) = get(&server, Some(&server.token), &path(credentials)).await;
    assert_eq!(s, 403, "a user's sealed name and password hash stay shut: {v}");
    assert_eq!(get(&server, Some(&server.token), &path(999_999_999)).await.0, 404);
    assert_eq!(get(&server, Some(&server.token), "/api/v1/ledger/x/sealed").await.0, 400);

    // The admin opens both.
    for (action, seq) in &seqs {
        let (s, v, cache) = get(&server, Some(&server.token), &path(*seq)).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["facts"], json!({ "q": QUERY }), "{v}");
        assert_eq!(
            (v["seq"].as_u64(), v["action"].as_str(), v["actor"].as_str()),
            (Some(*seq), Some(*action), Some(actor.as_str()))
        );
        assert!(cache.contains("no-store"), "{cache:?}");
    }

    // The ledger page offers the door to admins only.
    for (name, offered) in [("quantri.moi", true), ("kiemtoan.moi", false)] {
        let (s, session) = server.sign_in(name, PASSWORD).await;
        assert_eq!(s, 303, "{name}");
        let resp = server
            .http()
            .get(format!("{}/ledger?action=search.performed", server.url))
            .header("cookie", session.unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{name}");
        let html = resp.text().await.unwrap();
        assert_eq!(html.contains(&format!("href=\"{}\"", path(performed))), offered, "{name}: {html}");
    }

    // Each opening is ledgered: who, which entry, never what it held.
    let opened = ledgered(&server, "sealed.opened", |es| es.len() >= 2).await;
    assert_eq!(opened.len(), 2, "refusals open nothing: {opened:?}");
    for (e, (action, seq)) in opened.iter().zip(&seqs) {
        assert_eq!(e["subject"], format!("ledger/{seq}"), "{e}");
        assert_eq!(e["data"], json!({ "seq": seq, "action": action }), "{e}");
        assert!(e["actor"].as_str().unwrap().starts_with("user:"), "{e}");
    }

    // Nothing of the query stays behind: store, data dir, log.
    server.stop();
    let mut searched = 0;
    for path in files(&server.data_dir()) {
        let bytes = std::fs::read(&path).unwrap_or_default();
        for n in NEEDLES {
            assert!(!contains(&bytes, n.as_bytes()), "{n:?} found in {}", path.display());
        }
        searched += 1;
    }
    for (key, bytes) in server.raw_store().await.all_bytes().await {
        for n in NEEDLES {
            assert!(!contains(&bytes, n.as_bytes()), "{n:?} found in store object {key}");
        }
        searched += 1;
    }
    assert!(searched > 5, "searched only {searched} files");
    let log = server.log();
    for n in NEEDLES {
        assert!(!log.contains(n), "{n:?} is in the service's log");
    }
}
