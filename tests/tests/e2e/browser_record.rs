//! The meeting record in Chromium on a phone (issue 15): a cell of five members
//! with two bridge points; the cell's secretary signs in on a 390×844 viewport,
//! fills the attendance sheet (three present, one late, one absent without
//! leave, a chair who is not the secretary or a deputy), sees the summary (80 %,
//! under the 90 % target, the absent member and the chair flagged), refuses an
//! absence request, tries a correction without a reason (refused in
//! Vietnamese, nothing stored, what was typed kept), then corrects it with a
//! reason and sees two versions. The page never scrolls sideways. The meeting
//! page, read by an inspector on the same phone, gathers attendance per bridge
//! point, documents, minutes, evaluation and the record's integrity line. Then,
//! signed out, the member link's URL (the one the QR code encodes) lists the
//! public document and downloads it byte for byte. Screenshots in
//! `target/test-artifacts/browser-record/`: phone-sheet.png, phone-summary.png,
//! meeting-record.png, member-link.png.

use niem_tests::browser::{Browser, Element};
use niem_tests::server::{Server, StoreKind};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);
const PASSWORD: &str = "điểm-cầu-2026!";

fn artifacts() -> PathBuf {
    let dir = niem_tests::root().join("target/test-artifacts/browser-record");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn arg(el: &Element) -> Value {
    json!({ "element-6066-11e4-a52e-4f735466cecf": el.0 })
}

/// Clicks something that loads a page and waits until `ready` matches on a
/// page that is not the one clicked from (a marker the click removes).
async fn submit(b: &Browser, el: &Element, ready: &str) {
    b.eval("document.body.dataset.before = '1'", vec![]).await;
    b.click(el).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let fresh = b.eval("return !document.body.dataset.before", vec![]).await;
        if fresh == json!(true) && b.find(ready).await.is_some() {
            return;
        }
        if Instant::now() > deadline {
            let text: String = body_text(b).await.chars().take(3000).collect();
            panic!("no {ready} after the click at {}:\n{text}", b.url().await);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sign_out(b: &Browser) {
    submit(b, &b.find("header.top .me form button").await.unwrap(), "input[name=password]").await;
}

async fn set(b: &Browser, name: &str, value: &str) {
    let done = b
        .eval(
            "const e = document.querySelector(`[name=\"${arguments[0]}\"]`); if (!e) return false; e.value = arguments[1]; return e.value === arguments[1];",
            vec![json!(name), json!(value)],
        )
        .await;
    assert_eq!(done, json!(true), "cannot set {name} to {value:?}");
}

async fn body_text(b: &Browser) -> String {
    b.eval("return document.body.innerText", vec![]).await.as_str().unwrap().to_string()
}

/// No horizontal scrolling: the page is no wider than the viewport.
async fn fits(b: &Browser, what: &str) {
    let w = b.eval("return [document.documentElement.scrollWidth, window.innerWidth]", vec![]).await;
    let (scroll, inner) = (w[0].as_u64().unwrap(), w[1].as_u64().unwrap());
    assert!(inner <= 412, "{what}: not a phone viewport: {w}");
    assert!(scroll <= inner, "{what} scrolls sideways: scrollWidth {scroll} > innerWidth {inner}");
}

async fn shot_at(b: &Browser, css: &str, name: &str) {
    let el = b.find(css).await.unwrap_or_else(|| panic!("no {css} to show"));
    b.eval("arguments[0].scrollIntoView({block: 'start'})", vec![arg(&el)]).await;
    b.screenshot(&artifacts().join(name)).await;
}

fn pdf(len: usize) -> Vec<u8> {
    let mut b = b"%PDF-1.7\n".to_vec();
    b.extend((0..len).map(|i| (i as u8).wrapping_mul(17).wrapping_add(3)));
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secretary_files_attendance_on_a_phone_in_chromium() {
    let srv = Server::start(StoreKind::Local, &[]).await;
    let bloc = srv.create("/api/v1/orgs", json!({ "name": "Khối Dân chính", "kind": "bloc" })).await;
    let base = srv.create("/api/v1/orgs", json!({ "name": "Đảng bộ xã", "kind": "base", "parent": bloc })).await;
    let cell = srv.create("/api/v1/orgs", json!({ "name": "Chi bộ Thôn Đông", "kind": "cell", "parent": base })).await;
    let at = time::OffsetDateTime::now_utc() + time::Duration::days(3);
    let scheduled = at.format(&time::format_description::well_known::Rfc3339).unwrap();
    let meeting = srv
        .create(
            "/api/v1/meetings",
            json!({ "org": cell, "kind": "regular", "title": "Sinh hoạt chi bộ tháng 12", "scheduled_at": scheduled }),
        )
        .await;
    let points = ["Hội trường thôn", "Nhà văn hoá xóm Bắc"];
    for p in points {
        let (s, e) = srv.api(Method::POST, &format!("/api/v1/orgs/{cell}/endpoints"), Some(json!({ "name": p }))).await;
        assert_eq!(s, 201, "{e}");
    }
    let people = [
        ("Nguyễn Văn An", "secretary"),
        ("Trần Thị Bình", "deputy"),
        ("Lê Văn Cường", "member"),
        ("Phạm Thị Dung", "member"),
        ("Hoàng Văn Em", "member"),
    ];
    let mut ids = Vec::new();
    for (name, role) in people {
        let body = json!({ "name": name, "role": role, "joined": "2020-01-01" });
        ids.push(srv.create(&format!("/api/v1/orgs/{cell}/members"), body).await);
    }
    let secretary = srv.user("thuky.dong", "secretary", &[&cell], PASSWORD).await.1;
    srv.user("kiemtra.dong", "inspector", &[&cell], PASSWORD).await;
    let (s, r) = srv
        .call_as(
            &secretary,
            Method::POST,
            &format!("/api/v1/meetings/{meeting}/absences"),
            Some(json!({ "member": ids[4], "reason": "Đi công tác xa" })),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    // A public agenda for the members' link.
    let agenda = pdf(40_000);
    let resp = srv
        .req(Method::POST, &format!("/api/v1/meetings/{meeting}/documents"))
        .query(&[("filename", "chuong-trinh.pdf"), ("title", "Chương trình sinh hoạt"), ("kind", "agenda")])
        .body(agenda.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201, "{}", resp.text().await.unwrap_or_default());

    // 1. The secretary signs in on a phone and lands on the sheet.
    let b = Browser::start_phone(390, 844).await;
    let sheet = format!("/meetings/{meeting}/attendance");
    b.goto(&format!("{}/login", srv.url)).await;
    b.type_text(&b.wait_for("input[name=name]", WAIT).await, "thuky.dong").await;
    b.type_text(&b.find("input[name=password]").await.unwrap(), PASSWORD).await;
    submit(&b, &b.find("form button[type=submit]").await.unwrap(), "header.top nav").await;
    // From any page: the header's "Điểm danh", then the meeting.
    let nav = b.find("header.top nav a[href='/attendance']").await.expect("an attendance link in the header");
    assert_eq!(b.text(&nav).await, "Điểm danh");
    submit(&b, &nav, "ul.meetings").await;
    let listed = b.find(&format!("ul.meetings li[data-meeting='{meeting}'] a")).await.expect("the meeting listed");
    assert_eq!(b.text(&listed).await, "Sinh hoạt chi bộ tháng 12");
    fits(&b, "the list of meetings").await;
    submit(&b, &listed, "form.sheet").await;
    assert!(b.url().await.ends_with(&sheet), "{}", b.url().await);
    let options = b
        .eval(
            "return [...document.querySelectorAll(`select[name='point.${arguments[0]}'] option`)].map(o => o.value)",
            vec![json!(ids[0])],
        )
        .await;
    assert_eq!(options, json!(["", points[0], points[1]]), "the cell's bridge points to pick from");
    let text = body_text(&b).await;
    assert!(people.iter().all(|(n, _)| text.contains(n)), "every member by name: {text}");
    assert!(text.contains("Sinh hoạt chi bộ tháng 12"), "the meeting's title: {text}");
    fits(&b, "the empty sheet").await;

    // 2. Fill it: three present, one late, one absent; chairs at both points.
    for (i, status, point) in [(0, "present", 0), (1, "present", 1), (2, "late", 0), (3, "present", 1)] {
        set(&b, &format!("status.{}", ids[i]), status).await;
        set(&b, &format!("point.{}", ids[i]), points[point]).await;
    }
    let late = b.find(&format!("input[name='late.{}']", ids[2])).await.unwrap();
    b.type_text(&late, "15").await;
    set(&b, &format!("status.{}", ids[4]), "absent_unexcused").await;
    set(&b, "chair.0", &ids[0]).await;
    set(&b, "chair.1", &ids[3]).await;
    shot_at(&b, &format!("fieldset[data-member='{}']", ids[2]), "phone-sheet.png").await;
    fits(&b, "the filled sheet").await;
    submit(&b, &b.find("button.save").await.unwrap(), "p.notice").await;

    // 3. The summary: 4 of 5 is 80 %, under the target; who is absent; the chair.
    let text = body_text(&b).await;
    assert!(text.contains("Đã lưu bảng điểm danh, phiên bản 1."), "{text}");
    let rate = b.text(&b.find("section.summary-box p.rate").await.unwrap()).await;
    assert!(rate.contains("80.0 %") && rate.contains("(4/5)") && rate.contains("dưới chỉ tiêu"), "{rate}");
    assert!(b.find("section.summary-box p.rate.under").await.is_some(), "the rate is flagged");
    let unexcused = b.text(&b.find("section.summary-box p.unexcused").await.unwrap()).await;
    assert!(unexcused.contains("Hoàng Văn Em") && !unexcused.contains("Lê Văn Cường"), "{unexcused}");
    let chairs = b.text(&b.find("ul.chair-problems").await.unwrap()).await;
    assert!(chairs.contains(points[1]) && chairs.contains("Phạm Thị Dung"), "{chairs}");
    assert!(!chairs.contains("Nguyễn Văn An"), "the secretary may chair: {chairs}");
    assert_eq!(b.find_all("ol.versions li").await.len(), 1);
    let kept = b.eval(&format!("return document.querySelector(\"input[name='late.{}']\").value", ids[2]), vec![]).await;
    assert_eq!(kept, json!("15"), "the form shows the stored sheet");
    shot_at(&b, "section.summary-box", "phone-summary.png").await;
    fits(&b, "the summary").await;

    // 4. The absence request, refused from the phone.
    let refuse = b.find("ul.absences form.inline:last-of-type button").await.expect("a refuse button");
    assert_eq!(b.text(&refuse).await, "Không duyệt");
    submit(&b, &refuse, "p.notice").await;
    let absences = b.text(&b.find("ul.absences").await.unwrap()).await;
    assert!(absences.contains("Hoàng Văn Em") && absences.contains("không duyệt"), "{absences}");
    assert!(b.find("ul.absences form").await.is_none(), "decided once");

    // 5. A correction without a reason: refused in Vietnamese, nothing stored,
    // what was typed kept. (The browser would insist first: `required` is
    // dropped to reach the server's own check.)
    set(&b, &format!("status.{}", ids[3]), "late").await;
    set(&b, &format!("late.{}", ids[3]), "5").await;
    b.eval("document.querySelector('textarea[name=reason]').removeAttribute('required')", vec![]).await;
    submit(&b, &b.find("button.save").await.unwrap(), "p.error").await;
    let said = b.text(&b.find("p.error").await.unwrap()).await;
    assert_eq!(said, "Đây là bản sửa: hãy ghi lý do sửa rồi lưu lại.");
    assert_eq!(b.find_all("ol.versions li").await.len(), 1, "nothing stored");
    let kept =
        b.eval(&format!("return document.querySelector(\"select[name='status.{}']\").value", ids[3]), vec![]).await;
    assert_eq!(kept, json!("late"), "what was typed is kept");

    // 6. With a reason: a second version, both listed, the reason shown.
    let reason = b.find("textarea[name=reason]").await.unwrap();
    b.type_text(&reason, "Chị Dung đến muộn 5 phút").await;
    submit(&b, &b.find("button.save").await.unwrap(), "p.notice").await;
    let text = body_text(&b).await;
    assert!(text.contains("phiên bản 2."), "{text}");
    let versions = b.find_all("ol.versions li").await;
    assert_eq!(versions.len(), 2);
    let newest = b.text(&versions[0]).await;
    assert!(newest.contains("Phiên bản 2") && newest.contains("Chị Dung đến muộn 5 phút"), "{newest}");
    let rate = b.text(&b.find("section.summary-box p.rate").await.unwrap()).await;
    assert!(rate.contains("80.0 %"), "late still attended: {rate}");
    fits(&b, "the corrected sheet").await;
    let (s, v) = srv.call_as(&secretary, Method::GET, &format!("/api/v1/meetings/{meeting}/attendance"), None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["versions"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["summary"]["late"], 2, "{v}");

    // 7. The meeting page gathers the record: an inspector reads it on a phone.
    sign_out(&b).await;
    b.type_text(&b.find("input[name=name]").await.unwrap(), "kiemtra.dong").await;
    b.type_text(&b.find("input[name=password]").await.unwrap(), PASSWORD).await;
    submit(&b, &b.find("form button[type=submit]").await.unwrap(), "header.top nav").await;
    b.goto(&format!("{}/meetings/{meeting}", srv.url)).await;
    b.wait_for("section.attendance", WAIT).await;
    let page = b.source().await;
    for want in [
        points[0],
        points[1],
        "Lê Văn Cường",
        "80.0 %",
        "Chương trình sinh hoạt",
        "Chưa có biên bản.",
        "Chưa đánh giá.",
        "Hồ sơ cuộc họp",
        &format!("href=\"/meetings/{meeting}/attendance\""),
    ] {
        assert!(page.contains(want), "the meeting page lacks {want:?}:\n{page}");
    }
    let point = b.text(&b.find("section.attendance .point").await.unwrap()).await;
    assert!(point.contains(points[0]) && point.contains("Nguyễn Văn An (Bí thư)"), "who chaired: {point}");
    assert!(point.contains("Lê Văn Cường — Đi muộn 15 phút"), "who came late: {point}");
    fits(&b, "the meeting page").await;
    shot_at(&b, "section.attendance", "meeting-record.png").await;
    // The URL the QR code encodes, printed beside it.
    let link = b
        .eval("return document.querySelector('section.documents a[href*=\"/l/\"]').href", vec![])
        .await
        .as_str()
        .unwrap_or_else(|| panic!("no member link on the meeting page:\n{page}"))
        .to_string();
    let qr = page.find("class=\"qr\"").expect("a QR code");
    assert!(page[..qr].contains(&link), "the link is printed beside its QR code");

    // 8. Signed out, the member link: the list, then the agenda byte for byte.
    sign_out(&b).await;
    b.goto(&link).await;
    let doc = b.wait_for("ul.documents a", WAIT).await;
    assert_eq!(b.text(&doc).await, "Chương trình sinh hoạt");
    let text = body_text(&b).await;
    assert!(!text.contains("Hoàng Văn Em"), "the link shows no names");
    fits(&b, "the member link").await;
    b.screenshot(&artifacts().join("member-link.png")).await;
    b.click(&doc).await;
    let bytes = b.downloaded("chuong-trinh.pdf", Duration::from_secs(30)).await;
    assert_eq!(bytes, agenda, "the document as uploaded");
}
