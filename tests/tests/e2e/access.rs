//! The authorization matrix, against a running `niem`: every route × every
//! role, in and out of scope (statuses), and then what each list *contains*
//! for each role and scope, through the API and the web pages (exact sets of
//! ids). The tables are the specification; a change in who may do what or see
//! what must change them.
//!
//! Statuses: requests are built to pass authorization and then stop
//! harmlessly (an empty name, an unknown kind), so that the status tells
//! whether the caller was let in: 400/404/409/412/415 mean "allowed, then
//! refused for the input"; 401 "who are you?"; 403 "not for your role or
//! scope".
//!
//! Contents: two cells A and B under one base, each with a meeting recorded
//! (speech, transcribed, searchable), an endpoint streaming live, a schedule,
//! a missed meeting and its alert, a transcription job, a hold and a member on
//! its roster. An inspector, recorder or secretary of cell A must never meet
//! anything of cell B — not its org, meeting, recording, stream, endpoint, job,
//! live stream, alert, schedule, report row or member — on any list, API or web
//! page; `/metrics` and
//! `/readyz` name no org, meeting or user at all.

use niem_tests::live::Sender;
use niem_tests::server::{Server, StoreKind};
use niem_tests::speech;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The callers, in the table's column order. Out of scope: scoped to cell A,
/// acting on cell B's objects.
const CALLERS: [&str; 9] = [
    "anonymous",
    "admin",
    "inspector (in scope)",
    "inspector (out of scope)",
    "auditor",
    "recorder (in scope)",
    "recorder (out of scope)",
    "secretary (in scope)",
    "secretary (out of scope)",
];

/// Whether column `col` acts on cell B's objects.
fn out_of_scope(col: usize) -> bool {
    col == 3 || col == 6 || col == 8
}

struct Row {
    method: &'static str,
    /// `{org}`, `{meeting}`, `{rec}`, `{stream}` name the caller's cell's objects
    /// (cell B's for the out-of-scope callers, cell A's for everyone else).
    path: &'static str,
    body: Option<&'static str>,
    expect: [u16; 9],
}

const fn row(method: &'static str, path: &'static str, body: Option<&'static str>, expect: [u16; 9]) -> Row {
    Row { method, path, body, expect }
}

const ORG: &str = r#"{"name":"","kind":"bloc"}"#;
const MEETING: &str = r#"{"org":"{org}","kind":"weekly","title":"x","scheduled_at":"2026-11-22T08:00:00+07:00"}"#;
const USER: &str = r#"{"name":"","role":"auditor"}"#;
const SCHEDULE: &str = r#"{"kind":"regular","title":"x","day":31,"time":"08:00"}"#;
const HOLD: &str = r#"{"org":"{org}","from":"2026-01-01","to":"2025-01-01","reason":"r","case_ref":"c"}"#;
const MEMBER: &str = r#"{"name":"","joined":"2020-01-01"}"#;
const UNKNOWN: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
const SHEET: &str = r#"{"members":[{"member":"01ARZ3NDEKTSV4RRFFQ69G5FAV","status":"absent_unexcused"}]}"#;
const ABSENCE: &str = r#"{"member":"01ARZ3NDEKTSV4RRFFQ69G5FAV","reason":"ốm"}"#;
const EVALUATION: &str = r#"{"items":{},"score":0}"#;

#[rustfmt::skip]
const MATRIX: &[Row] = &[
    //                                                          anon adm  in   out  aud  rec  r-out sec  s-out
    row("GET", "/healthz", None,                               [200, 200, 200, 200, 200, 200, 200, 200, 200]),
    row("GET", "/readyz", None,                                [200, 200, 200, 200, 200, 200, 200, 200, 200]),
    row("GET", "/metrics", None,                               [200, 200, 200, 200, 200, 200, 200, 200, 200]),
    row("GET", "/api/v1/openapi.json", None,                   [200, 200, 200, 200, 200, 200, 200, 200, 200]),
    row("GET", "/api/v1/orgs", None,                           [401, 200, 200, 200, 200, 403, 403, 200, 200]),
    row("POST", "/api/v1/orgs", Some(ORG),                     [401, 400, 403, 403, 403, 403, 403, 403, 403]),
    row("GET", "/api/v1/meetings", None,                       [401, 200, 200, 200, 200, 200, 200, 200, 200]),
    row("POST", "/api/v1/meetings", Some(MEETING),             [401, 400, 403, 403, 403, 403, 403, 403, 403]),
    row("GET", "/api/v1/meetings/{meeting}", None,             [401, 200, 200, 403, 200, 200, 403, 200, 403]),
    row("POST", "/api/v1/meetings/{meeting}/uploads", Some(""),
                                                               [401, 415, 403, 403, 403, 415, 403, 403, 403]),
    // Documents (the meeting record): an empty body is not a document. The
    // cell's secretary files and reads them; inspectors read in scope.
    row("POST", "/api/v1/meetings/{meeting}/documents?filename=x.pdf", Some(""),
                                                               [401, 415, 403, 403, 403, 403, 403, 415, 403]),
    row("GET", "/api/v1/meetings/{meeting}/documents", None,   [401, 200, 200, 403, 403, 403, 403, 200, 403]),
    row("GET", "/api/v1/meetings/{meeting}/documents/{unknown}", None,
                                                               [401, 404, 404, 403, 403, 403, 403, 404, 403]),
    row("POST", "/api/v1/meetings/{meeting}/link", None,       [401, 200, 200, 403, 403, 403, 403, 200, 403]),
    row("POST", "/api/v1/meetings/{meeting}/link/revoke", None,
                                                               [401, 200, 403, 403, 403, 403, 403, 200, 403]),
    // Attendance (the meeting record): a sheet or request naming a member of
    // no cell is let in and then refused. The cell's secretary, a recorder in
    // scope and admins fill the sheet; inspectors, the secretary and recorders
    // read it in scope (a recorder files it from the bridge point);
    // the secretary and admins file and decide absences.
    row("PUT", "/api/v1/meetings/{meeting}/attendance", Some(SHEET),
                                                               [401, 400, 403, 403, 403, 400, 403, 400, 403]),
    row("GET", "/api/v1/meetings/{meeting}/attendance", None,  [401, 200, 200, 403, 403, 200, 403, 200, 403]),
    row("POST", "/api/v1/meetings/{meeting}/absences", Some(ABSENCE),
                                                               [401, 400, 403, 403, 403, 403, 403, 400, 403]),
    row("POST", "/api/v1/absences/{unknown}/decide", Some(r#"{"approve":true}"#),
                                                               [401, 404, 403, 403, 403, 403, 403, 404, 404]),
    // Minutes: an empty body is not a document (the meeting is past); the
    // draft in an unknown format is let in, then refused. The cell's secretary
    // and admins file and draft them; inspectors read them in scope.
    row("POST", "/api/v1/meetings/{meeting}/minutes?filename=x.pdf", Some(""),
                                                               [401, 415, 403, 403, 403, 403, 403, 415, 403]),
    row("GET", "/api/v1/meetings/{meeting}/minutes", None,     [401, 200, 200, 403, 403, 403, 403, 200, 403]),
    row("GET", "/api/v1/meetings/{meeting}/minutes/draft?format=txt", None,
                                                               [401, 400, 403, 403, 403, 403, 403, 400, 403]),
    // The bloc's evaluation: a score of 0 is let in, then refused. Admins and
    // inspectors in scope score; the cell's secretary reads.
    row("PUT", "/api/v1/meetings/{meeting}/evaluation", Some(EVALUATION),
                                                               [401, 400, 400, 403, 403, 403, 403, 403, 403]),
    row("GET", "/api/v1/meetings/{meeting}/evaluation", None,  [401, 200, 200, 403, 403, 403, 403, 200, 403]),
    // A written absence report for no request: the secretary (any cell) and
    // admins are let in and find nothing.
    row("PUT", "/api/v1/absences/{unknown}/report", Some(""),  [401, 404, 403, 403, 403, 403, 403, 404, 404]),
    row("GET", "/l/not-a-link", None,                          [403, 403, 403, 403, 403, 403, 403, 403, 403]),
    row("GET", "/api/v1/recordings/{rec}", None,               [401, 200, 200, 403, 200, 200, 403, 403, 403]),
    row("POST", "/api/v1/recordings/{rec}/seal", None,         [401, 409, 403, 403, 403, 409, 403, 403, 403]),
    row("POST", "/api/v1/recordings/{rec}/verify", None,       [401, 200, 403, 403, 200, 403, 403, 403, 403]),
    row("POST", "/api/v1/recordings/{rec}/bundle", None,       [401, 200, 200, 403, 403, 403, 403, 403, 403]),
    row("GET", "/api/v1/recordings/{rec}/transcript", None,    [401, 404, 404, 403, 403, 403, 403, 403, 403]),
    row("GET", "/api/v1/recordings/{rec}/streams/{stream}/media", None,
                                                               [401, 206, 206, 403, 403, 403, 403, 403, 403]),
    row("GET", "/api/v1/jobs", None,                           [401, 200, 200, 200, 200, 403, 403, 403, 403]),
    row("GET", "/api/v1/search?q=chi+bo", None,                [401, 200, 200, 200, 403, 403, 403, 403, 403]),
    row("GET", "/api/v1/search?q=chi+bo&org={org}", None,      [401, 200, 200, 403, 403, 403, 403, 403, 403]),
    row("GET", "/api/v1/search/export?q=chi+bo", None,         [401, 200, 200, 200, 403, 403, 403, 403, 403]),
    row("GET", "/api/v1/search/export?q=chi+bo&org={org}", None,
                                                               [401, 200, 200, 403, 403, 403, 403, 403, 403]),
    row("POST", "/api/v1/index/rebuild", None,                 [401, 200, 403, 403, 403, 403, 403, 403, 403]),
    // A seq past the ledger's end: let in, then not found (the admin opens nothing).
    row("GET", "/api/v1/ledger/999999999/sealed", None,        [401, 404, 403, 403, 403, 403, 403, 403, 403]),
    row("GET", "/api/v1/users", None,                          [401, 200, 403, 403, 403, 403, 403, 403, 403]),
    row("POST", "/api/v1/users", Some(USER),                   [401, 400, 403, 403, 403, 403, 403, 403, 403]),
    row("PATCH", "/api/v1/users/{user}", Some(r#"{"password":"short"}"#),
                                                               [401, 400, 403, 403, 403, 403, 403, 403, 403]),
    row("POST", "/api/v1/users/{user}/tokens", None,           [401, 201, 403, 403, 403, 403, 403, 403, 403]),
    row("DELETE", "/api/v1/tokens/{unknown}", None,            [401, 404, 404, 404, 404, 404, 404, 404, 404]),
    row("GET", "/api/v1/live", None,                           [401, 200, 200, 200, 200, 403, 403, 403, 403]),
    row("GET", "/api/v1/retention/policies", None,             [401, 200, 403, 403, 200, 403, 403, 403, 403]),
    row("POST", "/api/v1/retention/policies", Some(r#"{"keep_days":0}"#),
                                                               [401, 400, 403, 403, 403, 403, 403, 403, 403]),
    row("POST", "/api/v1/retention/policies/{unknown}/approve", None,
                                                               [401, 404, 403, 403, 403, 403, 403, 403, 403]),
    row("GET", "/api/v1/retention/preview", None,              [401, 200, 403, 403, 200, 403, 403, 403, 403]),
    row("POST", "/api/v1/retention/run", Some(r#"{"dry_run":true}"#),
                                                               [401, 200, 403, 403, 403, 403, 403, 403, 403]),
    row("POST", "/api/v1/orgs/{org}/schedules", Some(SCHEDULE),
                                                               [401, 400, 403, 403, 403, 403, 403, 403, 403]),
    row("GET", "/api/v1/schedules", None,                      [401, 200, 200, 200, 200, 403, 403, 403, 403]),
    row("GET", "/api/v1/alerts", None,                         [401, 200, 200, 200, 200, 403, 403, 403, 403]),
    row("GET", "/api/v1/reports/compliance?org={org}&month=2026-11", None,
                                                               [401, 200, 200, 403, 200, 403, 403, 403, 403]),
    row("GET", "/api/v1/holds", None,                          [401, 200, 403, 403, 200, 403, 403, 403, 403]),
    row("POST", "/api/v1/holds", Some(HOLD),                   [401, 400, 403, 403, 403, 403, 403, 403, 403]),
    row("POST", "/api/v1/holds/{unknown}/release", Some(r#"{"reason":"r"}"#),
                                                               [401, 404, 403, 403, 403, 403, 403, 403, 403]),
    row("POST", "/api/v1/orgs/{org}/endpoints", Some(r#"{"name":""}"#),
                                                               [401, 400, 403, 403, 403, 403, 403, 403, 403]),
    row("GET", "/api/v1/endpoints", None,                      [401, 200, 200, 200, 200, 403, 403, 403, 403]),
    row("DELETE", "/api/v1/endpoints/{unknown}", None,         [401, 404, 403, 403, 403, 403, 403, 403, 403]),
    row("GET", "/api/v1/orgs/{org}/members", None,             [401, 200, 200, 403, 403, 403, 403, 200, 403]),
    row("POST", "/api/v1/orgs/{org}/members", Some(MEMBER),    [401, 400, 403, 403, 403, 403, 403, 403, 403]),
    row("POST", "/api/v1/orgs/{org}/members/import", Some("name,number,role,joined,exempt\n"),
                                                               [401, 400, 403, 403, 403, 403, 403, 403, 403]),
    row("POST", "/api/v1/members/{unknown}/leave", Some(r#"{"date":"2026-01-01"}"#),
                                                               [401, 404, 403, 403, 403, 403, 403, 403, 403]),
    // tus creation names its meeting in Upload-Metadata (added by the loop).
    row("POST", "/api/v1/uploads", None,                       [401, 201, 403, 403, 403, 201, 403, 403, 403]),
    row("HEAD", "/api/v1/uploads/{unknown}", None,             [401, 404, 403, 403, 403, 404, 404, 403, 403]),
    row("PATCH", "/api/v1/uploads/{unknown}", None,            [401, 415, 403, 403, 403, 415, 415, 403, 403]),
    row("DELETE", "/api/v1/uploads/{unknown}", None,           [401, 404, 403, 403, 403, 404, 404, 403, 403]),
    row("OPTIONS", "/api/v1/uploads", None,                    [204, 204, 204, 204, 204, 204, 204, 204, 204]),
    row("PUT", "/api/v1/live/not-a-stream-key", Some(""),      [401, 401, 401, 401, 401, 401, 401, 401, 401]),
];

/// Two cells with a sealed recording each, and a user of every role.
struct World {
    server: Server,
    tokens: [Option<String>; 9],
    /// (org, meeting, recording, stream) of cell A and cell B.
    cells: [(String, String, String, String); 2],
    auditor: String,
}

/// A user with a password and a token; returns (id, token).
async fn user(server: &mut Server, name: &str, role: &str, scopes: &[&str]) -> (String, String) {
    if role != "admin" {
        return server.user(name, role, scopes, PASSWORD).await;
    }
    let body = json!({ "name": name, "role": role, "scopes": scopes, "password": PASSWORD });
    let id = server.create("/api/v1/users", body).await;
    // No admin mints tokens for another admin: the host does (break-glass, with
    // the service stopped).
    let (code, out) = server.host(&["token", "create", "--role", "admin", "--name", name]).await;
    assert_eq!(code, 0, "{out}");
    (id, out.lines().find(|l| l.starts_with("niem_")).unwrap().trim().to_string())
}

const PASSWORD: &str = "phạm-vi-2026!";

/// bloc → base → cells named `cells`; returns (bloc, base, cell ids).
async fn tree(server: &Server, cells: [&str; 2]) -> (String, String, [String; 2]) {
    let bloc = server.create("/api/v1/orgs", json!({ "name": "Khối Phạm Vi", "kind": "bloc" })).await;
    let base = json!({ "name": "Cơ sở Phạm Vi", "kind": "base", "parent": bloc });
    let base = server.create("/api/v1/orgs", base).await;
    let mut ids = Vec::new();
    for name in cells {
        let cell = json!({ "name": name, "kind": "cell", "parent": base, "language": "en" });
        ids.push(server.create("/api/v1/orgs", cell).await);
    }
    (bloc, base, [ids[0].clone(), ids[1].clone()])
}

/// A meeting of `org` with `media` uploaded and sealed; returns (meeting,
/// recording, stream).
async fn recorded(server: &Server, org: &str, title: &str, media: Vec<u8>) -> (String, String, String) {
    let at = "2026-11-22T08:00:00+07:00";
    let m = json!({ "org": org, "kind": "regular", "title": title, "scheduled_at": at });
    let meeting = server.create("/api/v1/meetings", m).await;
    let (code, up) = server.upload(&meeting, media).await;
    assert_eq!(code, 201, "{up}");
    let (rec, stream) = (up["recording"].as_str().unwrap(), up["stream"].as_str().unwrap());
    server.seal(rec).await;
    (meeting, rec.to_string(), stream.to_string())
}

async fn world() -> World {
    let mut server = Server::start(StoreKind::Local, &[]).await;
    let (_, _, orgs) = tree(&server, ["Chi bộ A", "Chi bộ B"]).await;
    let mut cells = Vec::new();
    for (org, name) in orgs.iter().zip(["Chi bộ A", "Chi bộ B"]) {
        let tone = niem_tests::wav::tone(1.0, 440.0, 16_000, None);
        let (meeting, rec, stream) = recorded(&server, org, name, tone).await;
        cells.push((org.clone(), meeting, rec, stream));
    }
    let (_, inspector) = user(&mut server, "inspector", "inspector", &[orgs[0].as_str()]).await;
    let (auditor_id, auditor) = user(&mut server, "auditor", "auditor", &[]).await;
    let (_, recorder) = user(&mut server, "recorder", "recorder", &[orgs[0].as_str()]).await;
    let (_, secretary) = user(&mut server, "secretary", "secretary", &[orgs[0].as_str()]).await;
    let tokens = [
        None,
        Some(server.token.clone()),
        Some(inspector.clone()),
        Some(inspector),
        Some(auditor),
        Some(recorder.clone()),
        Some(recorder),
        Some(secretary.clone()),
        Some(secretary),
    ];
    let cells = [cells[0].clone(), cells[1].clone()];
    World { server, tokens, cells, auditor: auditor_id }
}

/// `Upload-Metadata` naming `meeting`, as a tus client sends it.
fn tus_metadata(meeting: &str) -> String {
    use base64::Engine;
    format!("meeting {}", base64::engine::general_purpose::STANDARD.encode(meeting))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_for_every_role_in_and_out_of_scope() {
    let w = world().await;
    let mut wrong = Vec::new();
    for row in MATRIX {
        for (col, caller) in CALLERS.iter().enumerate() {
            let (org, meeting, rec, stream) = &w.cells[usize::from(out_of_scope(col))];
            let fill = |s: &str| {
                s.replace("{org}", org)
                    .replace("{meeting}", meeting)
                    .replace("{rec}", rec)
                    .replace("{stream}", stream)
                    .replace("{user}", &w.auditor)
                    .replace("{unknown}", UNKNOWN)
            };
            let path = fill(row.path);
            let method = Method::from_bytes(row.method.as_bytes()).unwrap();
            let url = format!("{}{path}", w.server.url);
            let mut req = w.server.http().request(method.clone(), url);
            if let Some(token) = &w.tokens[col] {
                req = req.bearer_auth(token);
            }
            if path.starts_with("/api/v1/uploads") {
                req = req.header("tus-resumable", "1.0.0");
            }
            if path == "/api/v1/uploads" && method == Method::POST {
                req = req.header("upload-length", "10");
                req = req.header("upload-metadata", tus_metadata(meeting));
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
                let text: String = text.chars().take(200).collect();
                let (m, p, want) = (row.method, row.path, row.expect[col]);
                wrong.push(format!("{m} {p} as {caller}: expected {want}, got {got}: {text}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{} cells of the matrix differ:\n{}", wrong.len(), wrong.join("\n"));
}

/// Nobody raises their own role or widens their own scope; disabling, password
/// resets and token revocation take effect at once; every change is ledgered.
/// At the host's command line a change waits for the service to stop: the
/// command refuses beside a running service (one ledger mirror at a time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_changes_are_guarded_and_take_effect_at_once() {
    let mut w = world().await;
    host_changes_wait_for_the_service_to_stop(&mut w).await;
    let s = &w.server;
    let admin_id = {
        let (_, users) = s.api(Method::GET, "/api/v1/users", None).await;
        users.as_array().unwrap().iter().find(|u| u["role"] == "admin").unwrap()["id"].as_str().unwrap().to_string()
    };
    let patch = |token: String, user: String, body: Value| async move {
        let r = s
            .http()
            .patch(format!("{}/api/v1/users/{user}", s.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        r.status().as_u16()
    };
    let admin = s.token.clone();
    // The admin may not touch their own role, nor disable themselves.
    assert_eq!(patch(admin.clone(), admin_id.clone(), json!({ "role": "auditor" })).await, 409);
    assert_eq!(patch(admin.clone(), admin_id.clone(), json!({ "disabled": true })).await, 409);
    // Inspectors may not widen their own scope (nor anyone's).
    let (_, users) = s.api(Method::GET, "/api/v1/users", None).await;
    let inspector = users.as_array().unwrap().iter().find(|u| u["role"] == "inspector").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let inspector_token = w.tokens[2].clone().unwrap();
    assert_eq!(
        patch(inspector_token.clone(), inspector.clone(), json!({ "scopes": [w.cells[0].0, w.cells[1].0] })).await,
        403
    );
    // A second admin widens it: the other cell's meeting opens to the inspector.
    let meeting_b = format!("/api/v1/meetings/{}", w.cells[1].1);
    let get = |token: String, path: String| async move {
        s.http().get(format!("{}{path}", s.url)).bearer_auth(token).send().await.unwrap().status().as_u16()
    };
    assert_eq!(get(inspector_token.clone(), meeting_b.clone()).await, 403);
    assert_eq!(patch(admin.clone(), inspector.clone(), json!({ "scopes": [w.cells[0].0, w.cells[1].0] })).await, 204);
    assert_eq!(get(inspector_token.clone(), meeting_b.clone()).await, 200);
    assert_eq!(
        patch(admin.clone(), inspector.clone(), json!({ "scopes": [] })).await,
        400,
        "an inspector keeps at least one org"
    );
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
        async move {
            s.http()
                .delete(format!("{}/api/v1/tokens/{id}", s.url))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(revoke(auditor_token).await, 404, "not the auditor's token");
    assert_eq!(revoke(inspector_token.clone()).await, 204);
    assert_eq!(get(inspector_token, "/api/v1/meetings".into()).await, 401);
    assert_eq!(get(w.tokens[5].clone().unwrap(), "/api/v1/meetings".into()).await, 401, "disabled at the host");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (code, log) = s.audit(&["log"], &["--action", "user.changed", "--json"]);
        assert_eq!(code, 0, "{log}");
        if log.lines().filter(|l| l.contains("user.changed")).count() >= 4 {
            assert!(!log.contains("password\":\""), "no password in the ledger: {log}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "user changes not ledgered: {log}");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

/// GET `path` as `token`: the status and the body as JSON (Null if none).
async fn get_json(server: &Server, token: &str, path: &str) -> (u16, Value) {
    let resp = server.http().get(format!("{}{path}", server.url)).bearer_auth(token).send().await.unwrap();
    let code = resp.status().as_u16();
    (code, serde_json::from_str(&resp.text().await.unwrap_or_default()).unwrap_or(Value::Null))
}

/// The strings at `field` of each element of the array `v`.
fn field_set(v: &Value, field: &str) -> BTreeSet<String> {
    let list = v.as_array().unwrap_or_else(|| panic!("not a list: {v}"));
    list.iter().map(|e| e[field].as_str().unwrap_or_else(|| panic!("no {field} in {e}")).to_string()).collect()
}

fn set<const N: usize>(ids: [&str; N]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// Recorders are bound like inspectors: they list, upload to and seal only
/// meetings of their subtrees, keep no door open when their scope moves, and
/// read no content anywhere; nobody makes a recorder without a scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorder_acts_only_in_its_scope_and_reads_no_content() {
    let mut w = world().await;
    // No recorder without a scope from the command line either (a token for a new name).
    let (code, out) = w.server.host(&["token", "create", "--role", "recorder", "--name", "ghost"]).await;
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("niem user add ghost --role recorder --scope"), "{out}");
    let s = &w.server;
    let recorder = w.tokens[5].clone().unwrap();
    let [(org_a, meeting_a, rec_a, stream_a), (org_b, meeting_b, rec_b, _)] = w.cells.clone();

    // No recorder without a scope: by the API, a role change, or a token minted
    // on the command line for a new name.
    let (code, v) = s.api(Method::POST, "/api/v1/users", Some(json!({ "name": "r2", "role": "recorder" }))).await;
    assert_eq!(code, 400, "{v}");
    let auditor = format!("/api/v1/users/{}", w.auditor);
    let (code, v) = s.api(Method::PATCH, &auditor, Some(json!({ "role": "recorder" }))).await;
    assert_eq!(code, 400, "an auditor made recorder needs a scope (the same answer as when creating one): {v}");

    // Lists and doors: cell A only.
    let (code, listed) = get_json(s, &recorder, "/api/v1/meetings").await;
    assert_eq!((code, field_set(&listed, "id")), (200, set([meeting_a.as_str()])), "{listed}");
    let (code, listed) = get_json(s, &recorder, &format!("/api/v1/meetings?org={org_b}")).await;
    assert_eq!((code, field_set(&listed, "id")), (200, BTreeSet::new()), "filtering by B's org shows nothing");
    let upload = |meeting: String| {
        let media = niem_tests::wav::tone(1.0, 330.0, 16_000, None);
        let url = format!("{}/api/v1/meetings/{meeting}/uploads", s.url);
        let req = s.http().post(url).bearer_auth(&recorder).header("content-type", "audio/wav").body(media);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(upload(meeting_b.clone()).await, 403);
    let (_, b) = s.api(Method::GET, &format!("/api/v1/recordings/{rec_b}"), None).await;
    assert_eq!(b["manifest"]["streams"].as_array().map(Vec::len), Some(1), "nothing reached B: {b}");
    let seal = |rec: String| {
        let req = s.http().post(format!("{}/api/v1/recordings/{rec}/seal", s.url)).bearer_auth(&recorder);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(seal(rec_b.clone()).await, 403, "B's recording is not the recorder's to seal");
    assert_eq!(seal(rec_a.clone()).await, 409, "A's is, and is sealed already");

    // No content, even in scope.
    for path in [
        format!("/api/v1/recordings/{rec_a}/transcript"),
        format!("/api/v1/recordings/{rec_a}/streams/{stream_a}/media"),
        "/api/v1/search?q=chi".to_string(),
        "/api/v1/jobs".to_string(),
    ] {
        assert_eq!(get_json(s, &recorder, &path).await.0, 403, "{path}");
    }

    // A resumable upload begun in scope stops at every door once the scope
    // moves to cell B, though the recorder created it.
    let create = s
        .http()
        .post(format!("{}/api/v1/uploads", s.url))
        .bearer_auth(&recorder)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "1000")
        .header("upload-metadata", tus_metadata(&meeting_a))
        .send()
        .await
        .unwrap();
    assert_eq!(create.status().as_u16(), 201);
    let location = create.headers()["location"].to_str().unwrap().to_string();
    let head = |token: String| {
        let req = s.http().head(format!("{}{location}", s.url)).bearer_auth(token).header("tus-resumable", "1.0.0");
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(head(recorder.clone()).await, 200);
    let (_, users) = s.api(Method::GET, "/api/v1/users", None).await;
    let users = users.as_array().unwrap();
    let id = users.iter().find(|u| u["name"] == "recorder").unwrap()["id"].as_str().unwrap().to_string();
    let (code, v) = s.api(Method::PATCH, &format!("/api/v1/users/{id}"), Some(json!({ "scopes": [org_b] }))).await;
    assert_eq!(code, 204, "{v}");
    assert_eq!(head(recorder.clone()).await, 403, "the upload's meeting is no longer in scope");
    let patch = s
        .http()
        .patch(format!("{}{location}", s.url))
        .bearer_auth(&recorder)
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .body(niem_tests::wav::tone(0.01, 330.0, 16_000, None))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status().as_u16(), 403);
    let (code, listed) = get_json(s, &recorder, "/api/v1/meetings").await;
    assert_eq!((code, field_set(&listed, "id")), (200, set([meeting_b.as_str()])), "{listed}");
    assert_eq!(upload(meeting_a).await, 403);
    assert_eq!(seal(rec_a).await, 403);
    let (_, users) = s.api(Method::GET, "/api/v1/users", None).await;
    let me = users.as_array().unwrap().iter().find(|u| u["name"] == "recorder").unwrap().clone();
    assert_eq!(me["scopes"], json!([org_b]), "{me}");
    assert_ne!(org_a, org_b);
}

/// One cell's objects in the contents world.
#[derive(Debug, Clone, Default)]
struct Cell {
    org: String,
    name: &'static str,
    meeting: String,
    rec: String,
    stream: String,
    endpoint: String,
    schedule: String,
    missed: String,
    hold: String,
    /// A member on the cell's roster, and their (sealed at rest) name.
    member: String,
    member_name: String,
}

/// A caller of the contents test: its token, web session, and the org paths it
/// is bound to (`None`: every org).
struct Caller {
    label: &'static str,
    role: &'static str,
    token: String,
    session: String,
    scopes: Option<Vec<String>>,
}

impl Caller {
    fn sees(&self, path: &str) -> bool {
        let under = |s: &String| path == s || path.starts_with(&format!("{s}/"));
        self.scopes.as_ref().is_none_or(|scopes| scopes.iter().any(under))
    }
}

const SENTENCE: &str = "The inspection committee will review the budget in the third quarter.";

/// Waits until `check` holds for the admin's GET of `path`.
async fn admin_until(server: &Server, path: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let (code, v) = server.api(Method::GET, path, None).await;
        if code == 200 && check(&v) {
            return v;
        }
        let (_, jobs) = server.api(Method::GET, "/api/v1/jobs", None).await;
        assert!(Instant::now() < deadline, "{what}: {v}\njobs: {jobs}\nlog:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Two cells, each with a recorded and transcribed meeting, a live endpoint, a
/// schedule, a missed meeting (alerted) and a hold.
async fn contents_world(server: &Server, wav: &[u8]) -> (String, String, [Cell; 2]) {
    let (bloc, base, orgs) = tree(server, ["Chi bộ An Phú", "Chi bộ Bình Minh"]).await;
    let mut cells = [Cell { name: "An Phú", ..Default::default() }, Cell { name: "Bình Minh", ..Default::default() }];
    for (cell, org) in cells.iter_mut().zip(orgs) {
        let (meeting, rec, stream) = recorded(server, &org, &format!("Họp {}", cell.name), wav.to_vec()).await;
        let (endpoint, key) = server.endpoint(&org, &format!("Điểm cầu {}", cell.name)).await;
        // Live for a moment, then held open (reconnecting) for the whole test.
        let (ok, err) = Sender::rtmp(server, &key, 440, 2.0).wait();
        assert!(ok, "{err}");
        *cell = Cell { org, meeting, rec, stream, endpoint, ..cell.clone() };
    }
    admin_until(server, "/api/v1/live", "both endpoints live", |v| {
        v["streams"].as_array().is_some_and(|s| s.len() == 2)
    })
    .await;
    let an_hour_ago = archive::clock::format_ts(time::OffsetDateTime::now_utc() - time::Duration::hours(1));
    for cell in &mut cells {
        let title = format!("Định kỳ {}", cell.name);
        let body = json!({ "kind": "regular", "title": title, "day": 1, "time": "08:00" });
        cell.schedule = server.create(&format!("/api/v1/orgs/{}/schedules", cell.org), body).await;
        let title = format!("Vắng {}", cell.name);
        let m = json!({
            "org": cell.org, "kind": "thematic", "title": title, "scheduled_at": an_hour_ago
        });
        cell.missed = server.create("/api/v1/meetings", m).await;
        let hold = json!({
            "org": cell.org, "from": "2026-01-01", "to": "2027-12-31",
            "reason": "thanh tra", "case_ref": cell.name
        });
        cell.hold = server.create("/api/v1/holds", hold).await;
        cell.member_name = format!("Đảng viên {}", cell.name);
        let member = json!({ "name": cell.member_name, "joined": "2020-01-01" });
        cell.member = server.create(&format!("/api/v1/orgs/{}/members", cell.org), member).await;
    }
    let missed = [cells[0].missed.clone(), cells[1].missed.clone()];
    admin_until(server, "/api/v1/alerts", "both missed meetings alerted", |v| {
        let alerted = v.as_array().map(|a| a.iter().filter_map(|x| x["meeting"].as_str()).collect::<Vec<_>>());
        alerted.is_some_and(|a| missed.iter().all(|m| a.contains(&m.as_str())))
    })
    .await;
    admin_until(server, "/api/v1/search?q=budget", "both meetings transcribed and indexed", |v| {
        v["meetings"].as_array().is_some_and(|m| m.len() == 2)
    })
    .await;
    (bloc, base, cells)
}

/// What the admin sees, as (id → org id) per list: the whole truth, checked
/// against what the test made, from which each caller's exact share follows.
struct Truth {
    /// org id → path
    paths: std::collections::BTreeMap<String, String>,
    lists: Vec<(&'static str, std::collections::BTreeMap<String, String>)>,
}

impl Truth {
    fn path(&self, org: &str) -> &str {
        self.paths.get(org).unwrap_or_else(|| panic!("unknown org {org}"))
    }

    /// The ids of list `name` whose org `caller` sees.
    fn share(&self, name: &str, caller: &Caller) -> BTreeSet<String> {
        let list = &self.lists.iter().find(|(n, _)| *n == name).unwrap().1;
        list.iter().filter(|(_, org)| caller.sees(self.path(org))).map(|(id, _)| id.clone()).collect()
    }

    /// Every id of any list (and every org) that belongs to `org`.
    fn of_org(&self, org: &str) -> Vec<String> {
        let mut out = vec![org.to_string()];
        for (_, list) in &self.lists {
            out.extend(list.iter().filter(|(_, o)| *o == org).map(|(id, _)| id.clone()));
        }
        out
    }
}

/// (id → org) from a list answer: `id` and `org` fields of each element.
fn by_org(v: &Value, id: &str, org: &str) -> std::collections::BTreeMap<String, String> {
    let list = v.as_array().unwrap_or_else(|| panic!("not a list: {v}"));
    list.iter().map(|e| (e[id].as_str().unwrap().to_string(), e[org].as_str().unwrap().to_string())).collect()
}

/// The admin's lists, each checked to hold exactly (or at least) what was made.
async fn truth(server: &Server, (bloc, base): (&str, &str), cells: &[Cell; 2]) -> Truth {
    let get = |path: &'static str| async move {
        let (code, v) = server.api(Method::GET, path, None).await;
        assert_eq!(code, 200, "{path}: {v}");
        v
    };
    let (a, b) = (&cells[0], &cells[1]);
    let orgs = get("/api/v1/orgs").await;
    assert_eq!(field_set(&orgs, "id"), set([bloc, base, &a.org, &b.org]));
    let paths = by_org(&orgs, "id", "path");
    let meetings = by_org(&get("/api/v1/meetings").await, "id", "org");
    for m in [&a.meeting, &a.missed, &b.meeting, &b.missed] {
        assert!(meetings.contains_key(m.as_str()), "{m} not listed to the admin");
    }
    let endpoints = by_org(&get("/api/v1/endpoints").await, "id", "org");
    assert_eq!(endpoints.keys().cloned().collect::<BTreeSet<_>>(), set([&a.endpoint, &b.endpoint]));
    let streams = get("/api/v1/live").await["streams"].clone();
    let live = by_org(&streams, "endpoint", "org");
    assert_eq!(live.keys().cloned().collect::<BTreeSet<_>>(), set([&a.endpoint, &b.endpoint]));
    let schedules = by_org(&get("/api/v1/schedules").await, "id", "org");
    assert_eq!(schedules.keys().cloned().collect::<BTreeSet<_>>(), set([&a.schedule, &b.schedule]));
    let alerts = by_org(&get("/api/v1/alerts").await, "meeting", "org");
    let rec_org = |rec: &str| cells.iter().find(|c| c.rec == rec).map(|c| c.org.clone());
    let jobs = get("/api/v1/jobs").await;
    let jobs: std::collections::BTreeMap<String, String> = field_set(&jobs["jobs"], "recording")
        .into_iter()
        .map(|r| {
            let org = rec_org(&r).unwrap_or_else(|| panic!("a job of an unknown recording {r}"));
            (r, org)
        })
        .collect();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    let lists = vec![
        ("meetings", meetings),
        ("endpoints", endpoints),
        ("live", live),
        ("schedules", schedules),
        ("alerts", alerts),
        ("jobs", jobs),
        ("live streams", by_org(&streams, "stream", "org")),
        ("live recordings", by_org(&streams, "recording", "org")),
    ];
    Truth { paths, lists }
}

/// Every answer a caller got, to search for what it must never see.
#[derive(Default)]
struct Seen(Vec<(String, String)>);

impl Seen {
    fn keep(&mut self, what: String, body: &str) {
        self.0.push((what, body.to_string()));
    }

    /// Fails if any answer holds any of `secrets`.
    fn assert_none_of(&self, who: &str, secrets: &[String]) {
        for (what, body) in &self.0 {
            for secret in secrets {
                assert!(
                    !body.contains(secret.as_str()),
                    "{who} was shown {secret:?} of the other cell in {what}:\n{body}"
                );
            }
        }
    }
}

/// The API lists for one caller: each answer's status and exact set of ids.
async fn check_api(server: &Server, caller: &Caller, truth: &Truth, cells: &[Cell; 2], seen: &mut Seen) {
    let content = matches!(caller.role, "admin" | "inspector");
    let supervises = !matches!(caller.role, "recorder" | "secretary");
    let lists: [(&str, &str, &str, bool); 7] = [
        ("orgs", "/api/v1/orgs", "id", caller.role != "recorder"),
        ("meetings", "/api/v1/meetings", "id", true),
        ("endpoints", "/api/v1/endpoints", "id", supervises),
        ("schedules", "/api/v1/schedules", "id", supervises),
        ("alerts", "/api/v1/alerts", "meeting", supervises),
        ("live", "/api/v1/live", "endpoint", supervises),
        ("jobs", "/api/v1/jobs", "recording", supervises),
    ];
    for (name, path, id, allowed) in lists {
        let (code, v) = get_json(server, &caller.token, path).await;
        seen.keep(format!("GET {path}"), &v.to_string());
        if !allowed {
            assert_eq!(code, 403, "{} GET {path}: {v}", caller.label);
            continue;
        }
        assert_eq!(code, 200, "{} GET {path}: {v}", caller.label);
        let items = match name {
            "live" => &v["streams"],
            "jobs" => &v["jobs"],
            _ => &v,
        };
        let want = if name == "orgs" {
            truth.paths.iter().filter(|(_, p)| caller.sees(p)).map(|(id, _)| id.clone()).collect()
        } else {
            truth.share(name, caller)
        };
        assert_eq!(field_set(items, id), want, "{} GET {path}", caller.label);
        if name == "jobs" {
            let counted: u64 = v["counts"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
            assert_eq!(counted, want.len() as u64, "{} job counts: {v}", caller.label);
        }
    }
    // The base's roster: the members of the cells in scope, for those who read rosters.
    let base = truth.paths.iter().find(|(_, p)| p.matches('/').count() == 2).map(|(id, _)| id.clone()).unwrap();
    let path = format!("/api/v1/orgs/{base}/members");
    let (code, v) = get_json(server, &caller.token, &path).await;
    seen.keep(format!("GET {path}"), &v.to_string());
    if matches!(caller.role, "admin" | "inspector" | "secretary") {
        let want: BTreeSet<String> =
            cells.iter().filter(|c| caller.sees(truth.path(&c.org))).map(|c| c.member.clone()).collect();
        assert_eq!((code, field_set(&v, "id")), (200, want), "{} roster of the base: {v}", caller.label);
    } else {
        assert_eq!(code, 403, "{} {path}", caller.label);
    }
    let path = format!("/api/v1/reports/compliance?org={base}&month=2026-11");
    let (code, v) = get_json(server, &caller.token, &path).await;
    seen.keep(format!("GET {path}"), &v.to_string());
    if supervises {
        assert_eq!(code, 200, "{} {path}: {v}", caller.label);
        let want: BTreeSet<String> = truth
            .paths
            .iter()
            .filter(|(_, p)| caller.sees(p) && (p.contains(&format!("/{base}/")) || p.ends_with(&format!("/{base}"))))
            .map(|(id, _)| id.clone())
            .collect();
        assert_eq!(field_set(&v, "org"), want, "{} report rows", caller.label);
    } else {
        assert_eq!(code, 403, "{} {path}", caller.label);
    }
    // Search: content, scoped by the index.
    let (code, v) = get_json(server, &caller.token, "/api/v1/search?q=budget").await;
    seen.keep("GET /api/v1/search".into(), &v.to_string());
    if content {
        let want: BTreeSet<String> =
            cells.iter().filter(|c| caller.sees(truth.path(&c.org))).map(|c| c.meeting.clone()).collect();
        assert_eq!((code, field_set(&v["meetings"], "meeting")), (200, want), "{} search", caller.label);
    } else {
        assert_eq!(code, 403, "{} search", caller.label);
    }
    // Admins' and auditors' lists: users (admins), holds and policies.
    for (path, roles) in [
        ("/api/v1/users", &["admin"][..]),
        ("/api/v1/holds", &["admin", "auditor"]),
        ("/api/v1/retention/policies", &["admin", "auditor"]),
    ] {
        let (code, v) = get_json(server, &caller.token, path).await;
        seen.keep(format!("GET {path}"), &v.to_string());
        let want = if roles.contains(&caller.role) { 200 } else { 403 };
        assert_eq!(code, want, "{} GET {path}: {v}", caller.label);
        if path == "/api/v1/holds" && code == 200 {
            assert_eq!(field_set(&v, "id"), set([&cells[0].hold, &cells[1].hold]), "{}", caller.label);
        }
    }
}

/// GETs a web page with the caller's session: (status, HTML).
async fn page(server: &Server, caller: &Caller, path: &str) -> (u16, String) {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let resp = client.get(format!("{}{path}", server.url)).header("cookie", &caller.session).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap_or_default())
}

/// The distinct values of `attr="…"` in `html` that start with `prefix`.
fn attrs(html: &str, attr: &str, prefix: &str) -> BTreeSet<String> {
    let needle = format!("{attr}=\"{prefix}");
    html.match_indices(&needle)
        .filter_map(|(i, _)| html[i + attr.len() + 2..].split('"').next())
        .map(|v| v.trim_start_matches(prefix).split(['?', '/']).next().unwrap_or("").to_string())
        .collect()
}

/// The web pages for one caller: who may open which, and what they list.
async fn check_pages(server: &Server, caller: &Caller, truth: &Truth, cells: &[Cell; 2], seen: &mut Seen) {
    let content = matches!(caller.role, "admin" | "inspector");
    let supervises = !matches!(caller.role, "recorder" | "secretary");
    if caller.session.is_empty() {
        for path in ["/search", "/meetings", "/live", "/reports", "/ledger", "/admin/users"] {
            let (code, _) = page(server, caller, path).await;
            assert_eq!(code, 303, "{} {path}: sent to sign in", caller.label);
        }
        return;
    }
    let mine: Vec<&Cell> = cells.iter().filter(|c| caller.sees(truth.path(&c.org))).collect();
    let meetings: BTreeSet<String> = mine.iter().map(|c| c.meeting.clone()).collect();

    let (code, html) = page(server, caller, "/search?q=budget").await;
    seen.keep("/search".into(), &html);
    if content {
        assert_eq!(code, 200, "{}: {html}", caller.label);
        assert_eq!(attrs(&html, "href", "/meetings/"), meetings, "{} search results", caller.label);
        let orgs: BTreeSet<String> =
            truth.paths.iter().filter(|(_, p)| caller.sees(p)).map(|(id, _)| id.clone()).collect();
        let offered: BTreeSet<String> =
            attrs(&html, "value", "").into_iter().filter(|v| truth.paths.contains_key(v)).collect();
        assert_eq!(offered, orgs, "{} search page's org choices", caller.label);
    } else {
        assert_eq!(code, 403, "{}", caller.label);
    }
    // Browsing lists every meeting in scope and nothing else.
    let (code, html) = page(server, caller, "/meetings").await;
    seen.keep("/meetings".into(), &html);
    if content {
        assert_eq!(code, 200, "{}: {html}", caller.label);
        // Every meeting of the tree the caller sees (the truth knows planned ones too).
        let in_scope = truth.share("meetings", caller);
        assert!(meetings.is_subset(&in_scope), "{} truth", caller.label);
        assert_eq!(attrs(&html, "href", "/meetings/"), in_scope, "{} browse list", caller.label);
    } else {
        assert_eq!(code, 403, "{}", caller.label);
    }
    let (code, html) = page(server, caller, "/live").await;
    seen.keep("/live".into(), &html);
    if supervises {
        assert_eq!(code, 200, "{}: {html}", caller.label);
        for c in cells {
            let shown = mine.iter().any(|m| m.org == c.org);
            assert_eq!(html.contains(&format!("Điểm cầu {}", c.name)), shown, "{} live page, {}", caller.label, c.name);
            assert_eq!(
                html.contains(&format!("Vắng {}", c.name)),
                shown,
                "{} live page alerts, {}",
                caller.label,
                c.name
            );
        }
    } else {
        assert_eq!(code, 403, "{}", caller.label);
    }
    let base = truth.paths.iter().find(|(_, p)| p.matches('/').count() == 2).map(|(id, _)| id.clone()).unwrap();
    for path in ["/reports".to_string(), format!("/reports?org={base}")] {
        let (code, html) = page(server, caller, &path).await;
        seen.keep(path.clone(), &html);
        if supervises {
            assert_eq!(code, 200, "{}: {html}", caller.label);
            assert!(mine.iter().all(|c| html.contains(c.name)), "{} {path}: {html}", caller.label);
        } else {
            assert_eq!(code, 403, "{} {path}", caller.label);
        }
    }
    for c in cells {
        let path = format!("/meetings/{}", c.meeting);
        let (code, html) = page(server, caller, &path).await;
        let want = if content && meetings.contains(&c.meeting) { 200 } else { 403 };
        assert_eq!(code, want, "{} {path}", caller.label);
        if code == 200 {
            // A refusal echoes the address asked for (its language switch),
            // which the caller already knew; only what was shown counts.
            seen.keep(path.clone(), &html);
        }
    }
    // The attendance list: the meetings in scope, each linking to its sheet.
    let (code, html) = page(server, caller, "/attendance").await;
    if matches!(caller.role, "admin" | "inspector" | "secretary" | "recorder") {
        assert_eq!(code, 200, "{}: {html}", caller.label);
        seen.keep("/attendance".into(), &html);
        assert_eq!(
            attrs(&html, "href", "/meetings/"),
            truth.share("meetings", caller),
            "{} attendance list",
            caller.label
        );
    } else {
        assert_eq!(code, 403, "{} /attendance", caller.label);
    }
    // The attendance page: whoever reads the sheet in scope (recorders too, who
    // file it from the bridge point); never another cell's member by name.
    for c in cells {
        let path = format!("/meetings/{}/attendance", c.meeting);
        let (code, html) = page(server, caller, &path).await;
        let reads = matches!(caller.role, "admin" | "inspector" | "secretary" | "recorder");
        let want = if reads && meetings.contains(&c.meeting) { 200 } else { 403 };
        assert_eq!(code, want, "{} {path}: {html}", caller.label);
        if code == 200 {
            seen.keep(path.clone(), &html);
            for other in cells.iter().filter(|o| o.org != c.org) {
                assert!(!html.contains(&other.member_name), "{} {path} names another cell's member", caller.label);
            }
        }
    }
    // The roster page of the base: the names of the members in scope, no other.
    let (code, html) = page(server, caller, &format!("/admin/members?org={base}")).await;
    if matches!(caller.role, "admin" | "inspector" | "secretary") {
        assert_eq!(code, 200, "{}: {html}", caller.label);
        seen.keep("/admin/members".into(), &html);
        for c in cells {
            assert_eq!(
                html.contains(&c.member_name),
                mine.iter().any(|m| m.org == c.org),
                "{} roster page",
                caller.label
            );
        }
    } else {
        assert_eq!(code, 403, "{} roster page", caller.label);
    }
    for path in ["/admin/users", "/admin/endpoints", "/admin/retention", "/admin/alerts", "/ledger"] {
        let (code, html) = page(server, caller, path).await;
        seen.keep(path.into(), &html);
        let want = match (caller.role, path) {
            ("admin", _) | ("auditor", "/ledger") => 200,
            _ => 403,
        };
        assert_eq!(code, want, "{} {path}", caller.label);
    }
}

/// A caller bound to `mine` reaching for `other` through the filters and
/// ancestors that lists take: every answer is empty or refused.
async fn reach_out(server: &Server, caller: &Caller, other: &Cell, bloc: &str, seen: &mut Seen) {
    let org = &other.org;
    for (path, want) in [
        (format!("/api/v1/meetings?org={org}"), Some(0)),
        (format!("/api/v1/endpoints?org={org}"), (caller.role == "inspector").then_some(0)),
        (format!("/api/v1/orgs/{org}/members"), None),
        (format!("/api/v1/search?q=budget&org={org}"), None),
        (format!("/api/v1/meetings/{}", other.missed), None),
        (format!("/api/v1/recordings/{}", other.rec), None),
        (format!("/api/v1/reports/compliance?org={org}&month=2026-11"), None),
    ] {
        let (code, v) = get_json(server, &caller.token, &path).await;
        seen.keep(format!("GET {path}"), &v.to_string());
        let listed = v.get("meetings").unwrap_or(&v).as_array().map(Vec::len);
        match want {
            Some(n) => assert_eq!((code, listed), (200, Some(n)), "{} {path}: {v}", caller.label),
            None => assert_eq!(code, 403, "{} {path}: {v}", caller.label),
        }
    }
    // From above: the bloc's report and a search of the bloc hold the caller's
    // own rows and meetings only.
    let report = format!("/api/v1/reports/compliance?org={bloc}&month=2026-11");
    let search = format!("/api/v1/search?q=budget&org={bloc}");
    for (path, list, field) in [(report, None, "org"), (search, Some("meetings"), "meeting")] {
        let (code, v) = get_json(server, &caller.token, &path).await;
        seen.keep(format!("GET {path}"), &v.to_string());
        if caller.role != "inspector" {
            assert_eq!(code, 403, "{} {path}", caller.label);
            continue;
        }
        assert_eq!(code, 200, "{} {path}: {v}", caller.label);
        let ids = field_set(list.map_or(&v, |l| &v[l]), field);
        assert_eq!(ids.len(), 1, "{} {path}: {v}", caller.label);
        let theirs = ids.contains(org) || ids.contains(&other.meeting);
        assert!(!theirs, "{} {path}: {v}", caller.label);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_list_holds_exactly_the_callers_scope() {
    let dir = tempfile::tempdir().unwrap();
    let wav = std::fs::read(speech::clip(dir.path(), "budget", "en-us", &[(0.5, SENTENCE)], 6.0)).unwrap();
    let model = speech::model().display().to_string();
    let env = [
        ("NIEM_TRANSCRIBE__MODEL", model.as_str()),
        ("NIEM_LIVE__GRACE_SECS", "600"),
        ("NIEM_ALERTS__CHECK_EVERY_SECS", "1"),
    ];
    let mut server = Server::start(StoreKind::Local, &env).await;
    // The second admin's token comes from the host, with the service stopped:
    // made before any live stream starts, so that the restart cuts none.
    let quantri = user(&mut server, "quantri", "admin", &[]).await;
    let (bloc, base, cells) = contents_world(&server, &wav).await;
    let truth = truth(&server, (&bloc, &base), &cells).await;

    let (a, b) = (cells[0].org.clone(), cells[1].org.clone());
    let mut callers = vec![Caller {
        label: "admin",
        role: "admin",
        token: server.token.clone(),
        session: String::new(),
        scopes: None,
    }];
    for (name, role, scopes) in [
        ("kiemtra.a", "inspector", vec![a.clone()]),
        ("kiemtra.b", "inspector", vec![b.clone()]),
        ("kiemtra.coso", "inspector", vec![base.clone()]),
        ("kiemtoan", "auditor", vec![]),
        ("diemcau.a", "recorder", vec![a.clone()]),
        ("thuky.a", "secretary", vec![a.clone()]),
        ("quantri", "admin", vec![]),
    ] {
        let ids: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let (_, token) = if role == "admin" { quantri.clone() } else { user(&mut server, name, role, &ids).await };
        let (code, session) = server.sign_in(name, PASSWORD).await;
        // Recorders are machines: they never sign in to the web.
        assert_eq!(code, if role == "recorder" { 401 } else { 303 }, "{name} signs in");
        let paths = scopes.iter().map(|o| truth.path(o).to_string()).collect::<Vec<_>>();
        let scopes = (!paths.is_empty()).then_some(paths);
        callers.push(Caller { label: name, role, token, session: session.unwrap_or_default(), scopes });
    }
    // The bootstrap admin has no password; its web view is the second admin's.
    let web_admin = callers.iter().position(|c| c.label == "quantri").unwrap();
    callers[0].session = callers[web_admin].session.clone();

    for caller in &callers {
        let mut seen = Seen::default();
        check_api(&server, caller, &truth, &cells, &mut seen).await;
        check_pages(&server, caller, &truth, &cells, &mut seen).await;
        // Whoever is bound to one cell meets nothing of the other, by id or name.
        for (mine, other) in [(&cells[0], &cells[1]), (&cells[1], &cells[0])] {
            let bound_to_mine = caller.scopes.as_ref().is_some_and(|s| s == &vec![truth.path(&mine.org).to_string()]);
            if bound_to_mine {
                reach_out(&server, caller, other, &bloc, &mut seen).await;
                let mut secrets = truth.of_org(&other.org);
                secrets.extend([other.rec.clone(), other.stream.clone(), other.hold.clone(), other.name.to_string()]);
                secrets.extend([other.member.clone(), other.member_name.clone()]);
                seen.assert_none_of(caller.label, &secrets);
            }
        }
    }

    // /metrics and /readyz answer anyone, and name no org, meeting, recording,
    // endpoint, schedule or user, by id or by name.
    let (_, users) = server.api(Method::GET, "/api/v1/users", None).await;
    let mut secrets: Vec<String> = truth.paths.keys().cloned().collect();
    for c in &cells {
        secrets.extend(truth.of_org(&c.org));
        secrets.extend([c.rec.clone(), c.stream.clone(), c.hold.clone(), c.name.to_string()]);
        secrets.extend([c.member.clone(), c.member_name.clone()]);
    }
    for u in users.as_array().unwrap() {
        secrets.extend(["id", "name"].map(|k| u[k].as_str().unwrap().to_string()));
    }
    for path in ["/metrics", "/readyz", "/healthz"] {
        let resp = reqwest::get(format!("{}{path}", server.url)).await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        let body = resp.text().await.unwrap();
        for s in &secrets {
            assert!(!body.contains(s.as_str()), "{path} names {s:?}:\n{body}");
        }
    }
}

/// `niem user disable` refuses while the service runs and changes nothing; with
/// the service stopped it disables the recorder, signs its entry itself, and the
/// service that starts again refuses the recorder's token.
async fn host_changes_wait_for_the_service_to_stop(w: &mut World) {
    let (code, out) = w.server.niem(&["user", "disable", "recorder"]);
    assert_ne!(code, 0, "refused beside a running service: {out}");
    assert!(out.contains("niem serve is running") && out.contains("stop the service first"), "{out}");
    let recorder = w.tokens[5].clone().unwrap();
    let ok =
        w.server.http().get(format!("{}/api/v1/meetings", w.server.url)).bearer_auth(&recorder).send().await.unwrap();
    assert_eq!(ok.status(), 200, "the refused command changed nothing");
    let (code, out) = w.server.host(&["user", "disable", "recorder"]).await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = w.server.host(&["user", "disable", "nobody"]).await;
    assert_ne!(code, 0);
    assert!(out.contains("no user named"), "{out}");
}
