//! The WebDriver client itself, against a static page: Vietnamese typing, clicks,
//! text, and a screenshot.

use niem_tests::browser::Browser;
use std::time::Duration;

/// Percent-encodes every byte outside RFC 3986's unreserved set.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn types_clicks_reads_and_screenshots() {
    let page = r#"<h1>Tìm kiếm cuộc họp</h1><input id=q><button id=b onclick="document.getElementById('out').textContent=document.getElementById('q').value">Tìm</button><p id=out></p>"#;
    let browser = Browser::start(1366, 768).await;
    browser.goto(&format!("data:text/html;charset=utf-8,{}", percent_encode(page))).await;

    let q = browser.wait_for("#q", Duration::from_secs(10)).await;
    browser.type_text(&q, "đảng viên").await;
    browser.click(&browser.find("#b").await.expect("#b")).await;
    assert_eq!(browser.text(&browser.find("#out").await.expect("#out")).await, "đảng viên");
    assert_eq!(browser.text(&browser.find("h1").await.expect("h1")).await, "Tìm kiếm cuộc họp");
    assert!(browser.find("#missing").await.is_none());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("page.png");
    browser.screenshot(&path).await;
    let png = std::fs::read(&path).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG: {:?}", &png[..png.len().min(16)]);
}
