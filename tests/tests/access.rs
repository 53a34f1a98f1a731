//! The authorization matrix: every API route × every role, in and out of an
//! inspector's scope, against a running `niem`. The table is the specification;
//! a change in who may do what must change it.
//!
//! Requests are built to pass authorization and then stop harmlessly (an empty
//! name, an unknown kind), so that the status tells whether the role was let in:
//! 400/404/409/412 mean "allowed, then refused for the input"; 401 "who are
//! you?"; 403 "not for your role or scope".

use niem_tests::server::{Server, StoreKind};
use reqwest::Method;
use serde_json::{json, Value};

/// The callers, in the table's column order.
const CALLERS: [&str; 6] = ["anonymous", "admin", "inspector (in scope)", "inspector (out of scope)", "auditor", "recorder"];

struct Row {
    method: &'static str,
    /// `{org}`, `{meeting}`, `{rec}`, `{stream}` name the caller's cell's objects
    /// (cell B's for the out-of-scope inspector, cell A's for everyone else).
    path: &'static str,
    body: Option<&'static str>,
    expect: [u16; 6],
}

const fn row(method: &'static str, path: &'static str, body: Option<&'static str>, expect: [u16; 6]) -> Row {
    Row { method, path, body, expect }
}

#[rustfmt::skip]
const MATRIX: &[Row] = &[
    //                                                                                   anon admin in   out  audit rec
    row("GET",    "/healthz",                                   None,                    [200, 200, 200, 200, 200, 200]),
    row("GET",    "/api/v1/openapi.json",                       None,                    [200, 200, 200, 200, 200, 200]),
    row("GET",    "/api/v1/orgs",                               None,                    [401, 200, 200, 200, 200, 403]),
    row("POST",   "/api/v1/orgs",                               Some(r#"{"name":"","kind":"bloc"}"#), [401, 400, 403, 403, 403, 403]),
    row("GET",    "/api/v1/meetings",                           None,                    [401, 200, 200, 200, 200, 200]),
    row("POST",   "/api/v1/meetings",                           Some(r#"{"org":"{org}","kind":"weekly","title":"x","scheduled_at":"2026-11-22T08:00:00+07:00"}"#), [401, 400, 403, 403, 403, 403]),
    row("GET",    "/api/v1/meetings/{meeting}",                 None,                    [401, 200, 200, 403, 200, 200]),
    row("POST",   "/api/v1/meetings/{meeting}/uploads",         Some(""),                [401, 415, 403, 403, 403, 415]),
    row("GET",    "/api/v1/recordings/{rec}",                   None,                    [401, 200, 200, 403, 200, 200]),
    row("POST",   "/api/v1/recordings/{rec}/seal",              None,                    [401, 409, 403, 403, 403, 409]),
    row("POST",   "/api/v1/recordings/{rec}/verify",            None,                    [401, 200, 403, 403, 200, 403]),
    row("GET",    "/api/v1/recordings/{rec}/transcript",        None,                    [401, 404, 404, 403, 403, 403]),
    row("GET",    "/api/v1/recordings/{rec}/streams/{stream}/media", None,               [401, 206, 206, 403, 403, 403]),
    row("GET",    "/api/v1/jobs",                               None,                    [401, 200, 200, 200, 200, 403]),
    row("GET",    "/api/v1/search?q=chi+bo",                    None,                    [401, 200, 200, 200, 403, 403]),
    row("POST",   "/api/v1/index/rebuild",                      None,                    [401, 200, 403, 403, 403, 403]),
    row("GET",    "/api/v1/users",                              None,                    [401, 200, 403, 403, 403, 403]),
    row("POST",   "/api/v1/users",                              Some(r#"{"name":"","role":"auditor"}"#), [401, 400, 403, 403, 403, 403]),
    row("PATCH",  "/api/v1/users/{user}",                       Some(r#"{"password":"short"}"#), [401, 400, 403, 403, 403, 403]),
    row("POST",   "/api/v1/users/{user}/tokens",                None,                    [401, 201, 403, 403, 403, 403]),
    row("DELETE", "/api/v1/tokens/01ARZ3NDEKTSV4RRFFQ69G5FAV",  None,                    [401, 404, 404, 404, 404, 404]),
    row("GET",    "/api/v1/live",                               None,                    [401, 200, 200, 200, 200, 403]),
    row("GET",    "/api/v1/retention/policies",                 None,                    [401, 200, 403, 403, 200, 403]),
    row("POST",   "/api/v1/retention/policies",                 Some(r#"{"keep_days":0}"#), [401, 400, 403, 403, 403, 403]),
    row("POST",   "/api/v1/retention/policies/01ARZ3NDEKTSV4RRFFQ69G5FAV/approve", None,  [401, 404, 403, 403, 403, 403]),
    row("GET",    "/api/v1/retention/preview",                  None,                    [401, 200, 403, 403, 200, 403]),
    row("POST",   "/api/v1/retention/run",                      Some(r#"{"dry_run":true}"#), [401, 200, 403, 403, 403, 403]),
    row("POST",   "/api/v1/orgs/{org}/schedules",               Some(r#"{"kind":"regular","title":"x","day":31,"time":"08:00"}"#), [401, 400, 403, 403, 403, 403]),
    row("GET",    "/api/v1/schedules",                          None,                    [401, 200, 200, 200, 200, 403]),
    row("GET",    "/api/v1/alerts",                             None,                    [401, 200, 200, 200, 200, 403]),
    row("GET",    "/api/v1/reports/compliance?org={org}&month=2026-11", None,            [401, 200, 200, 403, 200, 403]),
    row("GET",    "/api/v1/holds",                              None,                    [401, 200, 403, 403, 200, 403]),
    row("POST",   "/api/v1/holds",                              Some(r#"{"org":"{org}","from":"2026-01-01","to":"2025-01-01","reason":"r","case_ref":"c"}"#), [401, 400, 403, 403, 403, 403]),
    row("POST",   "/api/v1/holds/01ARZ3NDEKTSV4RRFFQ69G5FAV/release", Some(r#"{"reason":"r"}"#), [401, 404, 403, 403, 403, 403]),
    row("POST",   "/api/v1/orgs/{org}/endpoints",               Some(r#"{"name":""}"#),  [401, 400, 403, 403, 403, 403]),
    row("GET",    "/api/v1/endpoints",                          None,                    [401, 200, 200, 200, 200, 403]),
    row("DELETE", "/api/v1/endpoints/01ARZ3NDEKTSV4RRFFQ69G5FAV", None,                  [401, 404, 403, 403, 403, 403]),
    row("POST",   "/api/v1/uploads",                            None,                    [401, 400, 403, 403, 403, 400]),
    row("HEAD",   "/api/v1/uploads/01ARZ3NDEKTSV4RRFFQ69G5FAV", None,                    [401, 404, 403, 403, 403, 404]),
    row("PATCH",  "/api/v1/uploads/01ARZ3NDEKTSV4RRFFQ69G5FAV", None,                    [401, 415, 403, 403, 403, 415]),
    row("DELETE", "/api/v1/uploads/01ARZ3NDEKTSV4RRFFQ69G5FAV", None,                    [401, 404, 403, 403, 403, 404]),
    row("OPTIONS","/api/v1/uploads",                            None,                    [204, 204, 204, 204, 204, 204]),
    row("PUT",    "/api/v1/live/not-a-stream-key",              Some(""),                [401, 401, 401, 401, 401, 401]),
];

/// Two cells with a sealed recording each, and a user of every role.
struct World {
    server: Server,
    tokens: [Option<String>; 6],
    /// (org, meeting, recording, stream) of cell A and cell B.
    cells: [(String, String, String, String); 2],
    auditor: String,
}

async fn world() -> World {
    let server = Server::start(StoreKind::Local, &[]).await;
    let post = |path: &'static str, body: Value| {
        let s = &server;
        async move {
            let (code, v) = s.api(Method::POST, path, Some(body)).await;
            assert_eq!(code, 201, "{path}: {v}");
            v["id"].as_str().unwrap().to_string()
        }
    };
    let bloc = post("/api/v1/orgs", json!({ "name": "Khối", "kind": "bloc" })).await;
    let base = post("/api/v1/orgs", json!({ "name": "Cơ sở", "kind": "base", "parent": bloc })).await;
    let mut cells = Vec::new();
    for name in ["Chi bộ A", "Chi bộ B"] {
        let org = post("/api/v1/orgs", json!({ "name": name, "kind": "cell", "parent": base })).await;
        let meeting = post("/api/v1/meetings", json!({ "org": org, "kind": "regular", "title": name, "scheduled_at": "2026-11-22T08:00:00+07:00" })).await;
        let (s, up) = server.upload(&meeting, niem_tests::wav::tone(1.0, 440.0, 16_000, None)).await;
        assert_eq!(s, 201, "{up}");
        let rec = up["recording"].as_str().unwrap().to_string();
        let stream = up["stream"].as_str().unwrap().to_string();
        server.seal(&rec).await;
        cells.push((org, meeting, rec, stream));
    }
    let user = |name: &'static str, role: &'static str, scopes: Vec<String>| {
        let s = &server;
        async move {
            let id = {
                let (code, v) = s.api(Method::POST, "/api/v1/users", Some(json!({ "name": name, "role": role, "scopes": scopes }))).await;
                assert_eq!(code, 201, "{v}");
                v["id"].as_str().unwrap().to_string()
            };
            let (code, t) = s.api(Method::POST, &format!("/api/v1/users/{id}/tokens"), None).await;
            assert_eq!(code, 201, "{t}");
            (id, t["token"].as_str().unwrap().to_string())
        }
    };
    let (_, inspector) = user("inspector", "inspector", vec![cells[0].0.clone()]).await;
    let (auditor_id, auditor) = user("auditor", "auditor", vec![]).await;
    let (_, recorder) = user("recorder", "recorder", vec![]).await;
    let tokens = [None, Some(server.token.clone()), Some(inspector.clone()), Some(inspector), Some(auditor), Some(recorder)];
    let cells = [cells[0].clone(), cells[1].clone()];
    World { server, tokens, cells, auditor: auditor_id }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_for_every_role_in_and_out_of_scope() {
    let w = world().await;
    let mut wrong = Vec::new();
    for row in MATRIX {
        for (col, caller) in CALLERS.iter().enumerate() {
            let (org, meeting, rec, stream) = if col == 3 { &w.cells[1] } else { &w.cells[0] };
            let fill = |s: &str| s.replace("{org}", org).replace("{meeting}", meeting).replace("{rec}", rec).replace("{stream}", stream).replace("{user}", &w.auditor);
            let path = fill(row.path);
            let mut req = w.server.http().request(Method::from_bytes(row.method.as_bytes()).unwrap(), format!("{}{path}", w.server.url));
            if let Some(token) = &w.tokens[col] {
                req = req.bearer_auth(token);
            }
            if path.starts_with("/api/v1/uploads") {
                req = req.header("tus-resumable", "1.0.0");
            }
            if path.contains("/media") {
                req = req.header("range", "bytes=0-99");
            }
            if let Some(body) = row.body {
                let ct = if path.ends_with("/uploads") { "audio/wav" } else { "application/json" };
                req = req.header("content-type", ct).body(fill(body));
            }
            let resp = req.send().await.unwrap();
            let got = resp.status().as_u16();
            if got != row.expect[col] {
                let text = resp.text().await.unwrap_or_default();
                wrong.push(format!("{} {} as {caller}: expected {}, got {got}: {}", row.method, row.path, row.expect[col], text.chars().take(200).collect::<String>()));
            }
        }
    }
    assert!(wrong.is_empty(), "{} cells of the matrix differ:\n{}", wrong.len(), wrong.join("\n"));
}

/// Nobody raises their own role or widens their own scope; disabling, password
/// resets and token revocation take effect at once; every change is ledgered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_changes_are_guarded_and_take_effect_at_once() {
    let w = world().await;
    let s = &w.server;
    let admin_id = {
        let (_, users) = s.api(Method::GET, "/api/v1/users", None).await;
        users.as_array().unwrap().iter().find(|u| u["role"] == "admin").unwrap()["id"].as_str().unwrap().to_string()
    };
    let patch = |token: String, user: String, body: Value| async move {
        let r = s.http().patch(format!("{}/api/v1/users/{user}", s.url)).bearer_auth(token).json(&body).send().await.unwrap();
        r.status().as_u16()
    };
    let admin = s.token.clone();
    // The admin may not touch their own role, nor disable themselves.
    assert_eq!(patch(admin.clone(), admin_id.clone(), json!({ "role": "auditor" })).await, 409);
    assert_eq!(patch(admin.clone(), admin_id.clone(), json!({ "disabled": true })).await, 409);
    // Inspectors may not widen their own scope (nor anyone's).
    let (_, users) = s.api(Method::GET, "/api/v1/users", None).await;
    let inspector = users.as_array().unwrap().iter().find(|u| u["role"] == "inspector").unwrap()["id"].as_str().unwrap().to_string();
    let inspector_token = w.tokens[2].clone().unwrap();
    assert_eq!(patch(inspector_token.clone(), inspector.clone(), json!({ "scopes": [w.cells[0].0, w.cells[1].0] })).await, 403);
    // A second admin widens it: the other cell's meeting opens to the inspector.
    let meeting_b = format!("/api/v1/meetings/{}", w.cells[1].1);
    let get = |token: String, path: String| async move { s.http().get(format!("{}{path}", s.url)).bearer_auth(token).send().await.unwrap().status().as_u16() };
    assert_eq!(get(inspector_token.clone(), meeting_b.clone()).await, 403);
    assert_eq!(patch(admin.clone(), inspector.clone(), json!({ "scopes": [w.cells[0].0, w.cells[1].0] })).await, 204);
    assert_eq!(get(inspector_token.clone(), meeting_b.clone()).await, 200);
    assert_eq!(patch(admin.clone(), inspector.clone(), json!({ "scopes": [] })).await, 409, "an inspector keeps at least one org");
    // Disabled: every token stops working at once.
    assert_eq!(patch(admin.clone(), inspector.clone(), json!({ "disabled": true })).await, 204);
    assert_eq!(get(inspector_token.clone(), "/api/v1/meetings".into()).await, 401);
    assert_eq!(patch(admin.clone(), inspector.clone(), json!({ "disabled": false })).await, 204);
    assert_eq!(get(inspector_token.clone(), "/api/v1/meetings".into()).await, 200);
    // A token's owner revokes it; then it is refused.
    let token_id = inspector_token.strip_prefix("niem_").unwrap().split('_').next().unwrap().to_string();
    let auditor_token = w.tokens[4].clone().unwrap();
    let revoke = |token: String| {
        let id = token_id.clone();
        async move { s.http().delete(format!("{}/api/v1/tokens/{id}", s.url)).bearer_auth(token).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(revoke(auditor_token).await, 404, "not the auditor's token");
    assert_eq!(revoke(inspector_token.clone()).await, 204);
    assert_eq!(get(inspector_token, "/api/v1/meetings".into()).await, 401);
    // From the command line too (the service keeps running: SQLite serialises).
    let (code, out) = s.niem(&["user", "disable", "recorder"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(get(w.tokens[5].clone().unwrap(), "/api/v1/meetings".into()).await, 401);
    let (code, out) = s.niem(&["user", "disable", "nobody"]);
    assert_ne!(code, 0);
    assert!(out.contains("no user named"), "{out}");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (code, log) = s.audit(&["log"], &["--action", "user.changed", "--json"]);
        assert_eq!(code, 0, "{log}");
        if log.lines().filter(|l| l.contains("user.changed")).count() >= 4 {
            assert!(!log.contains("password\":\"") , "no password in the ledger: {log}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "user changes not ledgered: {log}");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}
