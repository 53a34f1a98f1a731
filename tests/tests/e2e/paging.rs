//! Complete result lists end to end: a few meetings transcribed by the real
//! Whisper model, paged through the search API one or two at a time in every
//! order (each meeting exactly once, the total right, the last page without a
//! cursor), a cursor replayed on another search refused, the CSV export (byte-order
//! mark, rows, formula guard, ledgered with the query sealed) and the meetings
//! page (scoped, filtered).

use niem_tests::server::{Server, StoreKind};
use niem_tests::speech;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

pub(crate) const PASSWORD: &str = "kiểm-tra-2026!";
pub(crate) const WORDS: &str = "new party members";

pub(crate) async fn create(server: &Server, path: &str, body: Value) -> String {
    let (s, v) = server.api(Method::POST, path, Some(body)).await;
    assert_eq!(s, 201, "{path}: {v}");
    v["id"].as_str().unwrap().to_string()
}

async fn meeting(server: &Server, org: &str, kind: &str, title: &str, day: &str) -> String {
    let at = format!("{day}T08:00:00+07:00");
    create(server, "/api/v1/meetings", json!({ "org": org, "kind": kind, "title": title, "scheduled_at": at })).await
}

async fn get(server: &Server, token: &str, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let resp = server.http().get(format!("{}{path}", server.url)).bearer_auth(token).send().await.unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    (status, resp.text().await.unwrap(), headers)
}

pub(crate) async fn search(server: &Server, token: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let resp = server
        .http()
        .get(format!("{}/api/v1/search", server.url))
        .query(query)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Every page of a search, `limit` at a time: the meetings in order.
async fn every_page(server: &Server, token: &str, sort: &str, limit: usize) -> Vec<String> {
    let limit = limit.to_string();
    let mut cursor: Option<String> = None;
    let mut out = Vec::new();
    for _ in 0..20 {
        let mut q = vec![("q", WORDS), ("sort", sort), ("limit", limit.as_str())];
        if let Some(c) = &cursor {
            q.push(("cursor", c.as_str()));
        }
        let (s, v) = search(server, token, &q).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["total"], json!({ "count": 4, "exact": true }), "{v}");
        let page: Vec<String> =
            v["meetings"].as_array().unwrap().iter().map(|m| m["meeting"].as_str().unwrap().to_string()).collect();
        assert!(!page.is_empty() && page.len() <= limit.parse::<usize>().unwrap(), "{v}");
        out.extend(page);
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
    panic!("{sort} by {limit}: no last page after 20 pages");
}

/// Four meetings in two cells of one base whose transcripts (real Whisper, one
/// spoken English clip) all say [`WORDS`], a fifth without a recording, and an
/// inspector of cell A (`kiemtra.a`, [`PASSWORD`]); ready once the index finds
/// all four. Shared with the browser test (`browser_search`).
pub(crate) struct Corpus {
    pub server: Server,
    pub bloc: String,
    pub cell_a: String,
    pub cell_b: String,
    /// Dates in order: a1 < a2 < b1 < a3 < a4 (a4: no recording, thematic).
    pub a1: String,
    pub a2: String,
    pub b1: String,
    pub a3: String,
    pub a4: String,
    pub inspector: String,
    pub inspector_token: String,
}

pub(crate) async fn corpus() -> Corpus {
    let dir = tempfile::tempdir().unwrap();
    let parts = [(0.5, "Comrade Lan reported on the admission of new party members.")];
    let wav = std::fs::read(speech::clip(dir.path(), "paging", "en-us", &parts, 7.0)).unwrap();
    let model = speech::model().display().to_string();
    let server = Server::start(StoreKind::Local, &[("NIEM_TRANSCRIBE__MODEL", model.as_str())]).await;
    let org = |name: &str, kind: &str, parent: Option<&str>| json!({ "name": name, "kind": kind, "parent": parent, "language": "en" });
    let bloc = create(&server, "/api/v1/orgs", org("Đảng ủy Khối", "bloc", None)).await;
    let base = create(&server, "/api/v1/orgs", org("Đảng ủy Sở", "base", Some(&bloc))).await;
    let cell_a = create(&server, "/api/v1/orgs", org("=Chi bộ Văn phòng", "cell", Some(&base))).await;
    let cell_b = create(&server, "/api/v1/orgs", org("Chi bộ Thanh tra", "cell", Some(&base))).await;
    let a1 = meeting(&server, &cell_a, "regular", "=HYPERLINK(\"x\") tháng 1", "2026-01-10").await;
    let a2 = meeting(&server, &cell_a, "regular", "Sinh hoạt tháng 2", "2026-02-10").await;
    let b1 = meeting(&server, &cell_b, "regular", "Thanh tra tháng 2", "2026-02-20").await;
    let a3 = meeting(&server, &cell_a, "regular", "Sinh hoạt tháng 3", "2026-03-10").await;
    let a4 = meeting(&server, &cell_a, "thematic", "Chuyên đề tháng 4", "2026-04-01").await;
    for m in [&a1, &a2, &b1, &a3] {
        let (s, up) = server.upload(m, wav.clone()).await;
        assert_eq!(s, 201, "{up}");
        server.seal(up["recording"].as_str().unwrap()).await;
    }
    let (inspector, inspector_token) = {
        let body = json!({ "name": "kiemtra.a", "role": "inspector", "password": PASSWORD, "scopes": [cell_a] });
        let id = create(&server, "/api/v1/users", body).await;
        let (s, t) = server.api(Method::POST, &format!("/api/v1/users/{id}/tokens"), None).await;
        assert_eq!(s, 201, "{t}");
        (id, t["token"].as_str().unwrap().to_string())
    };

    // Transcription and indexing run in the background.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (s, v) = search(&server, &server.token, &[("q", WORDS)]).await;
        assert_eq!(s, 200, "{v}");
        if v["total"]["count"] == 4 {
            break;
        }
        assert!(Instant::now() < deadline, "not 4 meetings: {v}\nlog:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Corpus { server, bloc, cell_a, cell_b, a1, a2, b1, a3, a4, inspector, inspector_token }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_meeting_once_in_every_order_exported_and_browsed() {
    let Corpus { server, bloc, cell_a: _, cell_b, a1, a2, b1, a3, a4, inspector, inspector_token } = corpus().await;
    let admin = server.token.clone();

    // Paging: every meeting exactly once, in order, whatever the page size.
    let all: BTreeSet<String> = [&a1, &a2, &b1, &a3].iter().map(|s| s.to_string()).collect();
    for sort in ["relevance", "newest", "oldest"] {
        for limit in [1, 3] {
            let seen = every_page(&server, &admin, sort, limit).await;
            assert_eq!(seen.len(), 4, "{sort} by {limit}: {seen:?}");
            assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), all, "{sort} by {limit}");
            let by_date = vec![a1.clone(), a2.clone(), b1.clone(), a3.clone()];
            match sort {
                "oldest" => assert_eq!(seen, by_date, "{sort} by {limit}"),
                "newest" => assert_eq!(seen, by_date.into_iter().rev().collect::<Vec<_>>(), "{sort} by {limit}"),
                _ => {}
            }
        }
    }
    let (_, scoped) = search(&server, &inspector_token, &[("q", WORDS), ("sort", "oldest")]).await;
    assert_eq!(scoped["total"], json!({ "count": 3, "exact": true }), "{scoped}");
    assert_eq!(scoped["next_cursor"], Value::Null, "{scoped}");

    // A cursor continues its own search only.
    let (_, first) = search(&server, &admin, &[("q", WORDS), ("sort", "newest"), ("limit", "1")]).await;
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    for (label, q) in [
        ("another query", vec![("q", "party"), ("sort", "newest"), ("limit", "1"), ("cursor", cursor.as_str())]),
        ("another sort", vec![("q", WORDS), ("sort", "oldest"), ("limit", "1"), ("cursor", cursor.as_str())]),
        ("another filter", vec![("q", WORDS), ("sort", "newest"), ("kind", "regular"), ("cursor", cursor.as_str())]),
    ] {
        let (s, v) = search(&server, &admin, &q).await;
        assert_eq!(s, 400, "{label}: {v}");
    }
    let (s, v) = search(&server, &inspector_token, &[("q", WORDS), ("sort", "newest"), ("cursor", &cursor)]).await;
    assert_eq!(s, 400, "another scope: {v}");
    let (s, v) = search(&server, &admin, &[("q", WORDS), ("sort", "newest"), ("cursor", &cursor)]).await;
    assert_eq!(s, 200, "the same search, another page size: {v}");
    let (s, v) = search(&server, &admin, &[("q", WORDS), ("limit", "101")]).await;
    assert!(s == 400 && v.to_string().contains("100"), "{s} {v}");
    let (s, v) = search(&server, &admin, &[("q", WORDS), ("sort", "random")]).await;
    assert_eq!(s, 400, "{v}");

    // Export: every meeting, Excel-safe, ledgered with the query sealed.
    let (s, csv, headers) = get(&server, &admin, &format!("/api/v1/search/export?q={WORDS}&sort=oldest")).await;
    assert_eq!(s, 200, "{csv}");
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert!(headers["content-disposition"].to_str().unwrap().starts_with("attachment"), "{headers:?}");
    assert!(csv.starts_with("\u{feff}meeting,meeting_id,org,date,stream,time,excerpt\r\n"), "{csv}");
    let rows: Vec<&str> = csv.trim_start_matches('\u{feff}').split("\r\n").filter(|l| !l.is_empty()).skip(1).collect();
    let ids: Vec<&str> = rows.iter().map(|r| r.split(',').nth(1).unwrap().trim_matches('"')).collect();
    let mut distinct = ids.clone();
    distinct.dedup();
    assert_eq!(distinct, vec![a1.as_str(), a2.as_str(), b1.as_str(), a3.as_str()], "{csv}");
    let first_row = rows[0];
    assert!(first_row.starts_with("\"'=HYPERLINK(\"\"x\"\") tháng 1\""), "{first_row}");
    assert!(first_row.contains(",\"'=Chi bộ Văn phòng\",\"10/01/2026 08:00\","), "{first_row}");
    assert!(first_row.to_lowercase().contains("party members") && !first_row.contains("<b>"), "{first_row}");
    let (s, scoped_csv, _) = get(&server, &inspector_token, &format!("/api/v1/search/export?q={WORDS}")).await;
    assert_eq!(s, 200, "{scoped_csv}");
    assert!(!scoped_csv.contains(&b1) && scoped_csv.contains(&a3), "{scoped_csv}");
    let (s, _, _) = get(&server, &inspector_token, &format!("/api/v1/search/export?q=x&org={cell_b}")).await;
    let (search_s, _, _) = get(&server, &inspector_token, &format!("/api/v1/search?q=x&org={cell_b}")).await;
    assert_eq!((s, search_s), (403, 403), "an org outside the scope: export as search");
    let deadline = Instant::now() + Duration::from_secs(20);
    let exported = loop {
        let (code, log) = server.audit(&["log"], &["--action", "search.exported", "--json"]);
        assert_eq!(code, 0, "{log}");
        if log.contains(&format!("user:{inspector}")) {
            break log;
        }
        assert!(Instant::now() < deadline, "no search.exported by the inspector in the store's ledger: {log}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(!exported.contains("party") && !exported.contains("members"), "{exported}");
    assert!(exported.contains("\"sealed\"") && exported.contains("\"results\""), "{exported}");

    // Browse: the inspector's cell only, newest first; filters narrow it.
    let (s, session) = server.sign_in("kiemtra.a", PASSWORD).await;
    assert_eq!(s, 303);
    let session = session.unwrap();
    let page = |path: String| {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let req = client.get(format!("{}{path}", server.url)).header("cookie", session.clone());
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 200, "{path}");
            let html = resp.text().await.unwrap();
            let listed: Vec<String> = html
                .match_indices("data-meeting=\"")
                .map(|(i, m)| html[i + m.len()..].split('"').next().unwrap().to_string())
                .collect();
            listed
        }
    };
    assert_eq!(page("/meetings".into()).await, vec![a4.clone(), a3.clone(), a2.clone(), a1.clone()]);
    assert_eq!(page(format!("/meetings?org={bloc}")).await.len(), 4, "a bloc above the scope shows the scope");
    assert_eq!(page("/meetings?recording=on".into()).await, vec![a3.clone(), a2.clone(), a1.clone()]);
    assert_eq!(page("/meetings?transcript=on&kind=".into()).await, vec![a3.clone(), a2.clone(), a1.clone()]);
    assert_eq!(page("/meetings?kind=thematic".into()).await, vec![a4.clone()]);
    assert_eq!(page("/meetings?from=2026-02-01&to=2026-03-10".into()).await, vec![a3.clone(), a2.clone()]);
}
