//! Complete result lists in Chromium: an admin signs in through the login page,
//! searches two meetings a page (the page's `limit`, kept by its form), pages
//! through every meeting exactly once with the page's own "next" link, clicks
//! the CSV export link and reads the file Chromium saved, and browses one cell's
//! recorded meetings on `/meetings`. Each step leaves a screenshot in
//! `target/test-artifacts/browser-search/`. Afterwards the ledger holds the
//! export (`search.exported`) with the query sealed, and the admin door opens it.

use crate::paging::{corpus, create, Corpus, PASSWORD, WORDS};
use niem_tests::browser::{Browser, Element};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

fn artifacts() -> PathBuf {
    let dir = niem_tests::root().join("target/test-artifacts/browser-search");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An element as a script argument.
fn arg(el: &Element) -> Value {
    json!({ "element-6066-11e4-a52e-4f735466cecf": el.0 })
}

async fn attribute(b: &Browser, el: &Element, name: &str) -> String {
    let v = b.eval("return arguments[0].getAttribute(arguments[1])", vec![arg(el), json!(name)]).await;
    v.as_str().unwrap_or_else(|| panic!("no {name} attribute: {v}")).to_string()
}

/// Clicks something that loads another page, and waits until the browser is
/// at a new address and `ready` matches there.
async fn follow(b: &Browser, el: &Element, ready: &str) {
    let before = b.url().await;
    b.click(el).await;
    let deadline = Instant::now() + WAIT;
    while b.url().await == before {
        assert!(Instant::now() < deadline, "still at {before} after the click");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.wait_for(ready, WAIT).await;
}

/// The meeting ids the current page lists as `selector`'s `data-meeting`, or as
/// the `/meetings/<id>` its links point to.
async fn listed(b: &Browser, selector: &str) -> Vec<String> {
    let v = b
        .eval(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.dataset.meeting || e.getAttribute('href').split('/').pop())",
            vec![json!(selector)],
        )
        .await;
    v.as_array().unwrap_or_else(|| panic!("{v}")).iter().map(|m| m.as_str().unwrap().to_string()).collect()
}

async fn shot(b: &Browser, dir: &Path, name: &str) {
    b.screenshot(&dir.join(name)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_pages_exports_and_browses_in_chromium() {
    let Corpus { server, cell_a, a1, a2, b1, a3, a4, .. } = corpus().await;
    let admin_id =
        create(&server, "/api/v1/users", json!({ "name": "quantri.tk", "role": "admin", "password": PASSWORD })).await;
    let shots = artifacts();
    let b = Browser::start(1366, 900).await;

    // Signing in through the login page.
    b.goto(&format!("{}/search", server.url)).await;
    let name = b.wait_for("input[name=name]", WAIT).await;
    assert!(b.url().await.contains("/login"), "signed out users are sent to sign in");
    b.type_text(&name, "quantri.tk").await;
    b.type_text(&b.find("input[name=password]").await.unwrap(), PASSWORD).await;
    shot(&b, &shots, "1-login.png").await;
    follow(&b, &b.find("form button[type=submit]").await.unwrap(), "form.search input[name=q]").await;

    // Two meetings a page, oldest first: the form keeps the address's page size.
    b.goto(&format!("{}/search?limit=2", server.url)).await;
    let q = b.wait_for("form.search input[name=q]", WAIT).await;
    b.type_text(&q, WORDS).await;
    b.eval("document.querySelector('form.search select[name=sort]').value = 'oldest'", vec![]).await;
    follow(&b, &b.find("form.search button[type=submit]").await.unwrap(), "section.results").await;
    assert!(b.url().await.contains("limit=2"), "the page size was lost: {}", b.url().await);

    // Paging with the page's own "next" link: every meeting once, in date order.
    let (mut seen, mut hits, mut pages) = (Vec::new(), 0, 0);
    loop {
        pages += 1;
        let summary = b.text(&b.wait_for("p.summary", WAIT).await).await;
        assert!(summary.contains(" 4 "), "the total is on every page: {summary:?}");
        let page = listed(&b, "article.meeting h2 a").await;
        assert!(!page.is_empty() && page.len() <= 2, "page {pages}: {page:?}");
        seen.extend(page);
        hits += b.find_all("article.meeting a.hit").await.len();
        shot(&b, &shots, &format!("2-search-page-{pages}.png")).await;
        match b.find("nav.pages a.next").await {
            Some(next) => follow(&b, &next, "section.results").await,
            None => break,
        }
        assert!(pages < 10, "no last page after 10: {seen:?}");
    }
    assert_eq!(pages, 2, "4 meetings at 2 a page: {seen:?}");
    assert_eq!(seen, vec![a1.clone(), a2.clone(), b1.clone(), a3.clone()], "each meeting once, oldest first");
    assert!(b.find("nav.pages a.first").await.is_some(), "a later page links back to the first");

    // The export link of the last page: the whole list, not the page.
    let export = b.find("a.export").await.expect("an export link on the page");
    let href = attribute(&b, &export, "href").await;
    assert!(href.starts_with("/api/v1/search/export?") && !href.contains("cursor"), "{href}");
    b.click(&export).await;
    let csv = b.downloaded("niem-search.csv", Duration::from_secs(30)).await;
    shot(&b, &shots, "3-export.png").await;
    assert!(csv.starts_with(b"\xEF\xBB\xBF"), "a UTF-8 byte-order mark for Excel: {:?}", &csv[..csv.len().min(8)]);
    let csv = String::from_utf8(csv).expect("the CSV is UTF-8");
    std::fs::write(shots.join("3-export.csv"), &csv).unwrap();
    let mut lines = csv.trim_start_matches('\u{feff}').split("\r\n").filter(|l| !l.is_empty());
    assert_eq!(lines.next(), Some("meeting,meeting_id,org,date,stream,time,excerpt"), "{csv}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), hits, "one row per hit shown on the pages: {csv}");
    let mut ids: Vec<&str> = rows.iter().map(|r| r.split("\",\"").nth(1).unwrap_or_default()).collect();
    ids.dedup();
    assert_eq!(ids, vec![a1.as_str(), a2.as_str(), b1.as_str(), a3.as_str()], "{csv}");
    let b1_row = rows.iter().find(|r| r.contains(&b1)).unwrap();
    assert!(b1_row.starts_with("\"Thanh tra tháng 2\",") && b1_row.contains(",\"Chi bộ Thanh tra\","), "{b1_row}");
    assert!(csv.contains("\"Sinh hoạt tháng 3\","), "Vietnamese titles intact: {csv}");

    // Browsing: every meeting, newest first; then cell A's recorded ones.
    b.goto(&format!("{}/meetings", server.url)).await;
    b.wait_for("form.browse", WAIT).await;
    assert_eq!(listed(&b, "tr[data-meeting]").await, vec![a4.clone(), a3.clone(), b1.clone(), a2.clone(), a1.clone()]);
    shot(&b, &shots, "4-meetings.png").await;
    b.eval("document.querySelector('form.browse select[name=org]').value = arguments[0]", vec![json!(cell_a)]).await;
    b.click(&b.find("form.browse input[name=recording]").await.unwrap()).await;
    follow(&b, &b.find("form.browse button[type=submit]").await.unwrap(), "form.browse").await;
    assert!(b.url().await.contains("recording=on"), "{}", b.url().await);
    assert_eq!(listed(&b, "tr[data-meeting]").await, vec![a3.clone(), a2.clone(), a1.clone()]);
    let text = b.eval("return document.body.innerText", vec![]).await.as_str().unwrap().to_string();
    assert!(text.contains("Sinh hoạt tháng 3") && !text.contains("Thanh tra tháng 2"), "{text}");
    assert!(!text.contains('Ã') && !text.contains('\u{FFFD}'), "mojibake on the page:\n{text}");
    shot(&b, &shots, "5-meetings-cell-recorded.png").await;
    drop(b);

    // The ledger: the export, by this admin, the query sealed; the admin door opens it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let entry = loop {
        let (code, log) = server.audit(&["log"], &["--action", "search.exported", "--json"]);
        assert_eq!(code, 0, "{log}");
        let mine = log
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|e| e["actor"] == format!("user:{admin_id}"));
        if let Some(e) = mine {
            assert!(!log.contains("party") && !log.contains("members"), "a plaintext query in the ledger: {log}");
            break e;
        }
        assert!(Instant::now() < deadline, "no search.exported by the admin in the store's ledger: {log}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(entry["data"]["sealed"].is_object(), "{entry}");
    assert_eq!(entry["data"]["results"], 4, "{entry}");
    assert_eq!(entry["data"]["sort"], "oldest", "the filters in clear: {entry}");
    let seq = entry["seq"].as_u64().unwrap();
    let (s, opened) = server.api(Method::GET, &format!("/api/v1/ledger/{seq}/sealed"), None).await;
    assert_eq!(s, 200, "{opened}");
    assert_eq!(opened["facts"], json!({ "q": WORDS }), "{opened}");
}
