//! The report's bars in Chromium (issue 15): an admin signs in and opens the
//! report of a base committee whose two cells met this month; the cell whose
//! sheet says 10 of 12 shows 83.3 % under the 90 % target, flagged in words and
//! marked, the other 100 % and not flagged; the CSV link downloads the same
//! figures with a byte-order mark; the page fits a phone without sideways
//! scrolling. Screenshots: `target/test-artifacts/browser-report/`.

use niem_tests::browser::Browser;
use niem_tests::server::{Server, StoreKind};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);
const PASSWORD: &str = "báo-cáo-2026!";

/// A cell of `n` members whose meeting an hour ago has a sheet with the first
/// `present` present and the rest absent without leave; returns (cell, meeting).
async fn cell_with_sheet(srv: &Server, base: &str, name: &str, n: usize, present: usize) -> (String, String) {
    let cell = srv.create("/api/v1/orgs", json!({ "name": name, "kind": "cell", "parent": base })).await;
    let at = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let scheduled = at.format(&time::format_description::well_known::Rfc3339).unwrap();
    let body = json!({ "org": cell, "kind": "regular", "title": "Sinh hoạt", "scheduled_at": scheduled });
    let meeting = srv.create("/api/v1/meetings", body).await;
    let mut lines = Vec::new();
    for i in 0..n {
        let body = json!({ "name": format!("Đảng viên {name} {i}"), "joined": "2020-01-01" });
        let member = srv.create(&format!("/api/v1/orgs/{cell}/members"), body).await;
        lines.push(match i < present {
            true => json!({ "member": member, "status": "present", "point": "Hội trường" }),
            false => json!({ "member": member, "status": "absent_unexcused" }),
        });
    }
    let (s, v) = srv
        .api(reqwest::Method::PUT, &format!("/api/v1/meetings/{meeting}/attendance"), Some(json!({ "members": lines })))
        .await;
    assert_eq!(s, 201, "{v}");
    (cell, meeting)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_shows_attendance_bars_against_the_target_in_chromium() {
    let srv = Server::start(StoreKind::Local, &[]).await;
    let bloc = srv.create("/api/v1/orgs", json!({ "name": "Khối Báo cáo", "kind": "bloc" })).await;
    let base = srv.create("/api/v1/orgs", json!({ "name": "Đảng bộ Báo cáo", "kind": "base", "parent": bloc })).await;
    let under = cell_with_sheet(&srv, &base, "Chi bộ Dưới", 12, 10).await;
    let full = cell_with_sheet(&srv, &base, "Chi bộ Đủ", 5, 5).await;
    srv.create("/api/v1/users", json!({ "name": "quantri.bc", "role": "admin", "password": PASSWORD })).await;
    let now = time::OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(7, 0, 0).unwrap());
    let month = format!("{:04}-{:02}", now.year(), u8::from(now.month()));
    let dir = niem_tests::root().join("target/test-artifacts/browser-report");
    std::fs::create_dir_all(&dir).unwrap();

    let b = Browser::start(1366, 900).await;
    b.goto(&format!("{}/login", srv.url)).await;
    b.type_text(&b.wait_for("input[name=name]", WAIT).await, "quantri.bc").await;
    b.type_text(&b.find("input[name=password]").await.unwrap(), PASSWORD).await;
    b.click(&b.find("form button[type=submit]").await.unwrap()).await;
    b.wait_for("nav", WAIT).await;
    b.goto(&format!("{}/reports?org={base}&month={month}", srv.url)).await;
    b.wait_for("table.record", WAIT).await;
    b.screenshot(&dir.join("report.png")).await;

    // Each cell's row: its bar's value, its words, whether it is flagged.
    let rows: Value = b
        .eval(
            "return [...document.querySelectorAll('table.record tbody tr')].map(r => ({
                 text: r.innerText, below: r.classList.contains('below'),
                 bar: r.querySelector('progress') ? Number(r.querySelector('progress').value) : null }))",
            vec![],
        )
        .await;
    let row =
        |name: &str| rows.as_array().unwrap().iter().find(|r| r["text"].as_str().unwrap().contains(name)).cloned();
    let u = row("Chi bộ Dưới").unwrap_or_else(|| panic!("no row for the cell under target: {rows}"));
    assert_eq!((u["bar"].as_f64(), &u["below"]), (Some(83.3), &json!(true)), "{u}");
    let text = u["text"].as_str().unwrap();
    assert!(text.contains("83.3%") && text.contains("10/12") && text.contains("dưới chỉ tiêu"), "{text}");
    let f = row("Chi bộ Đủ").unwrap_or_else(|| panic!("no row for the full cell: {rows}"));
    assert_eq!((f["bar"].as_f64(), &f["below"]), (Some(100.0), &json!(false)), "{f}");
    assert!(!f["text"].as_str().unwrap().contains("dưới chỉ tiêu"), "{f}");
    let _ = full;

    // The CSV link: the same figures, a byte-order mark, names intact.
    let link = b.find("a[href*='format=csv']").await.expect("a CSV link");
    b.click(&link).await;
    let csv = String::from_utf8(b.downloaded("niem-report.csv", Duration::from_secs(30)).await).unwrap();
    assert!(csv.starts_with('\u{feff}'), "a byte-order mark");
    let line = csv.lines().find(|l| l.contains("Chi bộ Dưới")).unwrap_or_else(|| panic!("{csv}"));
    assert!(line.contains(",83.3,true,"), "{line}");

    // On a phone: the page scrolls down, never sideways.
    b.set_window(390, 844).await;
    b.goto(&format!("{}/reports?org={base}&month={month}", srv.url)).await;
    b.wait_for("table.record", WAIT).await;
    b.screenshot(&dir.join("report-phone.png")).await;
    let wide = b.eval("return document.documentElement.scrollWidth <= window.innerWidth + 1", vec![]).await;
    assert_eq!(wide, json!(true), "the report scrolls sideways on a phone");

    // The meeting page gathers the record: no minutes yet; the evaluation form
    // suggests attendance under 90 % as not met; scoring it shows the score.
    let (_, meeting) = under;
    b.set_window(1366, 900).await;
    b.goto(&format!("{}/meetings/{meeting}", srv.url)).await;
    b.wait_for("section.evaluation form", WAIT).await;
    let minutes = b.text(&b.find("section.minutes").await.unwrap()).await;
    assert!(minutes.contains("Chưa có biên bản"), "{minutes}");
    let form = b.text(&b.find("section.evaluation").await.unwrap()).await;
    assert!(form.contains("Chưa đánh giá") && form.contains("Gợi ý"), "{form}");
    let attendance =
        b.eval("return document.querySelector('input[name=\"item.attendance_90\"]').checked", vec![]).await;
    assert_eq!(attendance, json!(false), "10/12 is under 90 %: suggested not met");
    b.eval("document.querySelector('select[name=score]').value = '4'", vec![]).await;
    b.type_text(&b.find("textarea[name=comment]").await.unwrap(), "Nội dung sinh hoạt tốt").await;
    b.screenshot(&dir.join("evaluation-form.png")).await;
    b.click(&b.find("section.evaluation button[type=submit]").await.unwrap()).await;
    b.wait_for("section.evaluation p.score", WAIT).await;
    let scored = b.text(&b.find("section.evaluation").await.unwrap()).await;
    assert!(scored.contains("4/5") && scored.contains("Nội dung sinh hoạt tốt"), "{scored}");
    b.screenshot(&dir.join("evaluation-scored.png")).await;
    let (s, e) = srv.api(reqwest::Method::GET, &format!("/api/v1/meetings/{meeting}/evaluation"), None).await;
    assert_eq!((s, e["versions"].as_array().map(Vec::len)), (200, Some(1)), "{e}");
    // A post without the page's CSRF token stores nothing.
    let forged = b
        .eval_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0], { method: 'POST', credentials: 'same-origin',
               headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'score=1' })
               .then(r => done(r.status), () => done(0));",
            vec![json!(format!("/meetings/{meeting}/evaluation"))],
        )
        .await;
    assert_eq!(forged, json!(403));
    let (_, e) = srv.api(reqwest::Method::GET, &format!("/api/v1/meetings/{meeting}/evaluation"), None).await;
    assert_eq!(e["versions"].as_array().map(Vec::len), Some(1), "the forged post stored nothing");

    // The report now counts the evaluation.
    let (_, rows) =
        srv.api(reqwest::Method::GET, &format!("/api/v1/reports/compliance?org={base}&month={month}"), None).await;
    let row = rows.as_array().unwrap().iter().find(|r| r["org_name"] == "Chi bộ Dưới").cloned().unwrap();
    assert_eq!((&row["evaluated"], &row["mean_score"]), (&json!(1), &json!(4.0)), "{row}");
}
