//! Minutes and written absence reports (issue 15, points 3 and 5), on
//! SeaweedFS, as an attacker would try them: the draft, as DOCX and as ODT,
//! unzipped and read (well-formed XML, marked DỰ THẢO, the meeting's facts,
//! the attendance summary and the chair by name, no transcript yet); the draft
//! filed back as the minutes, then a PDF as a second version, both kept, the
//! latest the minutes, filed a day after the meeting; minutes before the
//! meeting refused (409) with nothing written; minutes never through a
//! member's link; wrong roles and scopes refused; a written absence report
//! filed while the request is undecided, shown on the absence, refused once
//! decided after the day; everything in the ledger without a name;
//! `niem-audit verify` covers the minutes and names a flipped byte; no name in
//! plaintext under the data dir or in the store; a restore from the store and
//! keys gives the same answers.

use niem_tests::server::Server;
use niem_tests::stores::RawStore;
use niem_tests::{contains, files_under as files};
use reqwest::Method;
use serde_json::{json, Value};
use std::io::Read;

const PASSWORD: &str = "biên-bản-2026!";

/// Bytes that look like a PDF: the header, then `len` bytes of noise.
fn pdf(len: usize, seed: u8) -> Vec<u8> {
    let mut b = b"%PDF-1.7\n".to_vec();
    b.extend((0..len).map(|i| (i as u8).wrapping_mul(17).wrapping_add(seed)));
    b
}

async fn record_keys(raw: &RawStore, meeting: &str) -> Vec<String> {
    raw.list().await.into_iter().filter(|k| k.starts_with(&format!("meetings/{meeting}/"))).collect()
}

/// A streamed body `PUT`/`POST` as the holder of `token`: status and JSON.
async fn send(srv: &Server, token: &str, method: Method, path: &str, bytes: Vec<u8>) -> (u16, Value) {
    let resp =
        srv.http().request(method, format!("{}{path}", srv.url)).bearer_auth(token).body(bytes).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// `GET` as the holder of `token`: status, content type and bytes.
async fn fetch(srv: &Server, token: Option<&str>, path: &str) -> (u16, String, Vec<u8>) {
    let mut r = srv.http().get(format!("{}{path}", srv.url));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.unwrap();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (resp.status().as_u16(), ct, resp.bytes().await.unwrap().to_vec())
}

/// Checks that `xml` is well-formed as far as these packages need: one root,
/// every tag closed in order, attribute quotes balanced, every `&` an entity.
fn well_formed(xml: &str) -> Result<(), String> {
    let mut stack: Vec<String> = Vec::new();
    let (mut roots, mut rest) = (0, xml);
    while let Some(i) = rest.find('<') {
        let text = &rest[..i];
        for (j, _) in text.match_indices('&') {
            let ent = &text[j..];
            if !["&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#"].iter().any(|e| ent.starts_with(e)) {
                return Err(format!("a bare & in {:?}", &ent[..ent.len().min(20)]));
            }
        }
        if !text.trim().is_empty() && stack.is_empty() {
            return Err(format!("text outside the root: {text:?}"));
        }
        rest = &rest[i..];
        if rest.starts_with("<?") {
            let end = rest.find("?>").ok_or("an unclosed <?")?;
            rest = &rest[end + 2..];
            continue;
        }
        let end = rest.find('>').ok_or("an unclosed tag")?;
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if tag.matches('"').count() % 2 != 0 {
            return Err(format!("unbalanced quotes in <{tag}>"));
        }
        if let Some(name) = tag.strip_prefix('/') {
            match stack.pop() {
                Some(open) if open == name.trim() => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
            continue;
        }
        let name = tag.split(|c: char| c.is_whitespace() || c == '/').next().unwrap_or_default().to_string();
        if name.is_empty() {
            return Err(format!("a tag without a name: <{tag}>"));
        }
        if stack.is_empty() {
            roots += 1;
        }
        if !tag.ends_with('/') {
            stack.push(name);
        }
    }
    match (stack.is_empty(), roots, rest.trim().is_empty()) {
        (true, 1, true) => Ok(()),
        _ => Err(format!("unclosed {stack:?}, {roots} roots, trailing {rest:?}")),
    }
}

/// The entries of a ZIP package, in order: (name, stored uncompressed, text).
fn entries(bytes: &[u8]) -> Vec<(String, bool, String)> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let stored = f.compression() == zip::CompressionMethod::Stored;
            let mut s = String::new();
            f.read_to_string(&mut s).unwrap();
            (f.name().to_string(), stored, s)
        })
        .collect()
}

#[test]
fn the_xml_check_catches_what_it_must() {
    assert!(well_formed("<?xml version=\"1.0\"?>\n<a x=\"1\"><b/>t &amp; u<c></c></a>").is_ok());
    for bad in ["<a><b></a></b>", "<a>", "<a></a><b/>", "<a>x & y</a>", "<a x=\"1></a>", "text<a/>"] {
        assert!(well_formed(bad).is_err(), "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minutes_drafted_filed_sealed_and_kept_seaweedfs() {
    let kind = niem_tests::seaweed::SeaweedFs::shared().store().await;
    let mut srv =
        Server::start(kind, &[("NIEM_UPLOAD__CHUNK_SIZE", "65536"), ("NIEM_DOCUMENTS__MAX_BYTES", "200000")]).await;
    let tag = ulid::Ulid::new().to_string();
    let bloc = srv.create("/api/v1/orgs", json!({ "name": "Khối Biên bản", "kind": "bloc" })).await;
    let base = srv.create("/api/v1/orgs", json!({ "name": "Cơ sở", "kind": "base", "parent": bloc })).await;
    let a = srv.create("/api/v1/orgs", json!({ "name": "Chi bộ Biên bản A", "kind": "cell", "parent": base })).await;
    let b = srv.create("/api/v1/orgs", json!({ "name": "Chi bộ Biên bản B", "kind": "cell", "parent": base })).await;
    let rfc = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let meeting_of = |org: &str, at: time::OffsetDateTime| json!({ "org": org, "kind": "regular", "title": "Sinh hoạt chi bộ tháng Mười Hai", "scheduled_at": rfc(at) });
    // Held a day ago (so filed "one day after"), and one a week ahead.
    let held = srv.create("/api/v1/meetings", meeting_of(&a, now - time::Duration::days(1))).await;
    let ahead = srv.create("/api/v1/meetings", meeting_of(&a, now + time::Duration::days(7))).await;
    let held_b = srv.create("/api/v1/meetings", meeting_of(&b, now - time::Duration::days(1))).await;
    let name = |i: usize| format!("Đồng chí {i} {tag}");
    let mut m = Vec::new();
    for i in 0..5 {
        let role = ["secretary", "deputy"].get(i).copied().unwrap_or("member");
        let body = json!({ "name": name(i), "role": role, "joined": "2020-01-01" });
        m.push(srv.create(&format!("/api/v1/orgs/{a}/members"), body).await);
    }
    let secretary = srv.user("thuky.bb", "secretary", &[&a], PASSWORD).await.1;
    let secretary_b = srv.user("thuky.bbb", "secretary", &[&b], PASSWORD).await.1;
    let inspector = srv.user("kiemtra.bb", "inspector", &[&a], PASSWORD).await.1;
    let inspector_b = srv.user("kiemtra.bbb", "inspector", &[&b], PASSWORD).await.1;
    let admin = srv.token.clone();
    let raw = srv.raw_store().await;
    let minutes = format!("/api/v1/meetings/{held}/minutes");

    // Attendance: 4 of 5 present, the secretary chairing; m4 asks leave.
    let lines: Vec<Value> =
        (0..4).map(|i| json!({ "member": m[i], "status": "present", "point": "diem-cau-1" })).collect();
    let sheet = json!({ "members": lines, "chairs": [{ "point": "diem-cau-1", "member": m[0] }] });
    let (s, v) =
        srv.call_as(&secretary, Method::PUT, &format!("/api/v1/meetings/{held}/attendance"), Some(sheet)).await;
    assert_eq!(s, 201, "{v}");
    let body = json!({ "member": m[4], "reason": format!("Đi công tác {tag}") });
    let (s, absence) =
        srv.call_as(&secretary, Method::POST, &format!("/api/v1/meetings/{held}/absences"), Some(body)).await;
    assert_eq!(s, 201, "{absence}");
    let absence = absence["id"].as_str().unwrap().to_string();

    // 1. The draft, as DOCX: the minimal parts, well-formed, marked, with the facts.
    let (s, ct, docx) = fetch(&srv, Some(&secretary), &format!("{minutes}/draft?format=docx")).await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&docx));
    assert!(ct.contains("wordprocessingml"), "{ct}");
    let parts = entries(&docx);
    let names: Vec<&str> = parts.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(names, ["[Content_Types].xml", "_rels/.rels", "word/document.xml"]);
    for (n, _, text) in &parts {
        well_formed(text).unwrap_or_else(|e| panic!("{n}: {e}\n{text}"));
    }
    let body = &parts[2].2;
    for fact in [
        "DỰ THẢO",
        "Chi bộ Biên bản A",
        "Sinh hoạt chi bộ tháng Mười Hai",
        "Sinh hoạt thường kỳ",
        "phải dự: 5; có mặt: 4 (tỷ lệ 80.0 %)",
        &format!("Chủ trì điểm cầu diem-cau-1: {}", name(0)),
        "chưa có bản chép lời",
    ] {
        assert!(body.contains(fact), "the DOCX draft lacks {fact:?}:\n{body}");
    }
    assert!(!body.contains("Biên bản tự động"), "the transcript is never called biên bản");

    // ... and as ODT: `mimetype` first and stored, the manifest, the content.
    let (s, ct, odt) = fetch(&srv, Some(&admin), &format!("{minutes}/draft?format=odt")).await;
    assert_eq!((s, ct.as_str()), (200, "application/vnd.oasis.opendocument.text"));
    let parts = entries(&odt);
    assert_eq!((parts[0].0.as_str(), parts[0].1), ("mimetype", true));
    assert_eq!(parts[0].2, "application/vnd.oasis.opendocument.text");
    assert_eq!(&odt[30..38], b"mimetype", "the first local header names the type");
    let names: Vec<&str> = parts.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(names, ["mimetype", "META-INF/manifest.xml", "content.xml"]);
    for (n, _, text) in &parts[1..] {
        well_formed(text).unwrap_or_else(|e| panic!("{n}: {e}\n{text}"));
    }
    assert!(parts[2].2.contains("DỰ THẢO") && parts[2].2.contains(&name(0)), "{}", parts[2].2);

    // Refused drafts: wrong role, out of scope, a bad format, an unknown meeting.
    assert_eq!(fetch(&srv, Some(&inspector), &format!("{minutes}/draft")).await.0, 403);
    assert_eq!(fetch(&srv, Some(&secretary_b), &format!("{minutes}/draft")).await.0, 403);
    assert_eq!(fetch(&srv, Some(&admin), &format!("{minutes}/draft?format=rtf")).await.0, 400);
    let unknown = "/api/v1/meetings/01ARZ3NDEKTSV4RRFFQ69G5FAV/minutes";
    assert_eq!(fetch(&srv, Some(&admin), &format!("{unknown}/draft")).await.0, 404);

    // 2. Before the meeting: a clear 409, nothing written.
    let before = record_keys(&raw, &ahead).await;
    let path = format!("/api/v1/meetings/{ahead}/minutes?filename=bb.pdf");
    let (s, e) = send(&srv, &secretary, Method::POST, &path, pdf(1000, 1)).await;
    assert_eq!(s, 409, "{e}");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(msg.contains("chưa diễn ra") && msg.contains("after it"), "{msg}");
    assert_eq!(record_keys(&raw, &ahead).await, before, "refused minutes leave no object");

    // 3. Refused filings: wrong role, out of scope, not a document, over the cap, unknown meeting.
    let before = record_keys(&raw, &held).await;
    let file = |f: &str| format!("{minutes}?filename={f}");
    assert_eq!(send(&srv, &inspector, Method::POST, &file("x.pdf"), pdf(100, 2)).await.0, 403);
    assert_eq!(send(&srv, &secretary_b, Method::POST, &file("x.pdf"), pdf(100, 2)).await.0, 403);
    let (s, e) = send(&srv, &secretary, Method::POST, &file("x.exe"), b"MZ\x90\x00".repeat(300)).await;
    assert_eq!(s, 415, "{e}");
    let (s, e) = send(&srv, &secretary, Method::POST, &file("big.pdf"), pdf(250_000, 3)).await;
    assert_eq!(s, 413, "{e}");
    assert_eq!(send(&srv, &admin, Method::POST, &format!("{unknown}?filename=x.pdf"), pdf(100, 2)).await.0, 404);
    assert_eq!(record_keys(&raw, &held).await, before, "refused minutes leave no object");
    let (s, v) = srv.call_as(&inspector, Method::GET, &minutes, None).await;
    assert_eq!((s, &v["filed"], &v["latest"]), (200, &json!(false), &Value::Null), "{v}");

    // 4. The draft filed back as the minutes (the sniffer takes it), then a signed PDF.
    let draft_name = format!("bien-ban-{tag}.docx");
    let (s, v1) = send(&srv, &secretary, Method::POST, &file(&draft_name), docx.clone()).await;
    assert_eq!(s, 201, "{v1}");
    assert_eq!((&v1["kind"], &v1["sha256"]), (&json!("minutes"), &json!(archive::sha256_hex(&docx))));
    let signed = pdf(120_000, 9);
    let (s, v2) = send(&srv, &admin, Method::POST, &file(&format!("bien-ban-ky-{tag}.pdf")), signed.clone()).await;
    assert_eq!((s, &v2["content_type"]), (201, &json!("application/pdf")), "{v2}");
    let (s, got) = srv.call_as(&inspector, Method::GET, &minutes, None).await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["filed"], true);
    assert_eq!(got["versions"].as_array().unwrap().len(), 2, "every version kept: {got}");
    assert_eq!(got["latest"]["id"], v2["id"], "the latest is the minutes");
    assert_eq!(got["latest"]["filename"], json!(format!("bien-ban-ky-{tag}.pdf")));
    assert_eq!((&got["days_after"], &got["first_days_after"]), (&json!(1), &json!(1)), "{got}");
    for token in [&secretary_b, &inspector_b] {
        assert_eq!(srv.call_as(token, Method::GET, &minutes, None).await.0, 403);
    }
    let (s, other) = srv.api(Method::GET, &format!("/api/v1/meetings/{held_b}/minutes"), None).await;
    assert_eq!((s, &other["filed"]), (200, &json!(false)), "another meeting's minutes stay its own");

    // Read back as a meeting document, byte for byte; never listed with the
    // documents before the meeting, and never through a member's link.
    let (v1_id, v2_id) = (v1["id"].as_str().unwrap().to_string(), v2["id"].as_str().unwrap().to_string());
    let (s, _, got) = fetch(&srv, Some(&inspector), &format!("/api/v1/meetings/{held}/documents/{v2_id}")).await;
    assert_eq!((s, got == signed), (200, true));
    assert_eq!(fetch(&srv, Some(&inspector_b), &format!("/api/v1/meetings/{held}/documents/{v2_id}")).await.0, 403);
    let (_, docs) = srv.api(Method::GET, &format!("/api/v1/meetings/{held}/documents"), None).await;
    assert_eq!(docs["documents"], json!([]), "minutes are not a document before the meeting: {docs}");
    let (s, link) = srv.api(Method::POST, &format!("/api/v1/meetings/{held}/link"), None).await;
    assert_eq!(s, 200, "{link}");
    let token = link["token"].as_str().unwrap();
    let (s, _, page) = fetch(&srv, None, &format!("/l/{token}")).await;
    let page = String::from_utf8(page).unwrap();
    assert!(s == 200 && !page.contains(&v2_id) && !page.contains(&tag), "{page}");
    for id in [&v1_id, &v2_id] {
        let (s, _, body) = fetch(&srv, None, &format!("/l/{token}/{id}")).await;
        assert_eq!(s, 403, "minutes never go through a link: {}", String::from_utf8_lossy(&body));
    }

    // 5. A written absence report: while undecided, by the cell's secretary.
    let report = format!("/api/v1/absences/{absence}/report?filename=bao-cao-{tag}.pdf");
    let report_bytes = pdf(5000, 4);
    assert_eq!(send(&srv, &secretary_b, Method::PUT, &report, report_bytes.clone()).await.0, 404);
    assert_eq!(send(&srv, &inspector, Method::PUT, &report, report_bytes.clone()).await.0, 403);
    assert_eq!(send(&srv, &secretary, Method::PUT, &report, b"<html>".repeat(10)).await.0, 415);
    let (s, r) = send(&srv, &secretary, Method::PUT, &report, report_bytes.clone()).await;
    assert_eq!(s, 201, "{r}");
    assert_eq!((&r["kind"], &r["confidential"]), (&json!("absence_report"), &json!(true)), "{r}");
    let report_id = r["id"].as_str().unwrap().to_string();
    let (_, att) = srv.call_as(&inspector, Method::GET, &format!("/api/v1/meetings/{held}/attendance"), None).await;
    let shown = &att["absences"][0]["report"];
    assert_eq!(shown["id"], json!(report_id), "{att}");
    assert_eq!(shown["sha256"], json!(archive::sha256_hex(&report_bytes)));
    let (s, _, got) = fetch(&srv, Some(&inspector), &format!("/api/v1/meetings/{held}/documents/{report_id}")).await;
    assert_eq!((s, got == report_bytes), (200, true));
    assert_eq!(fetch(&srv, None, &format!("/l/{token}/{report_id}")).await.0, 403);
    // Decided, and the meeting's day is past: no more reports.
    let decide = format!("/api/v1/absences/{absence}/decide");
    assert_eq!(srv.call_as(&secretary, Method::POST, &decide, Some(json!({ "approve": true }))).await.0, 200);
    let (s, e) = send(&srv, &secretary, Method::PUT, &report, pdf(100, 5)).await;
    assert_eq!(s, 409, "{e}");
    let (_, seen_minutes) = srv.api(Method::GET, &minutes, None).await;
    let (_, seen_attendance) = srv.api(Method::GET, &format!("/api/v1/meetings/{held}/attendance"), None).await;
    srv.stop();

    // 6. The ledger: each filing and draft, no name; the report names ids only.
    let all = raw.ledger_entries().await;
    let of = |action: &str| all.iter().filter(|e| e["action"] == action).cloned().collect::<Vec<_>>();
    let stored = of("record.minutes.stored");
    assert_eq!(stored.len(), 2);
    assert_eq!((&stored[0]["data"]["object"], &stored[1]["data"]["object"]), (&v1["id"], &v2["id"]));
    let drafted = of("minutes.drafted");
    let formats: Vec<&Value> = drafted.iter().map(|e| &e["data"]["format"]).collect();
    assert_eq!(formats, [&json!("docx"), &json!("odt")], "refused drafts are not ledgered");
    let reports = of("record.absence_report.stored");
    assert_eq!(reports.len(), 1);
    assert_eq!((&reports[0]["data"]["absence"], &reports[0]["data"]["member"]), (&json!(absence), &json!(m[4])));
    let ledger_text = serde_json::to_string(&all).unwrap();
    assert!(!ledger_text.contains(&tag), "no name or file name in the ledger");

    // 7. The verifier covers the minutes and the report.
    let (code, out) = srv.audit(&["verify"], &["--verbose"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Store is INTACT"), "{out}");
    let piece = |id: &str, i: u32| format!("meetings/{held}/record/{id}/{i:08}.niem");
    for key in [piece(&v1_id, 0), piece(&v2_id, 0), piece(&report_id, 0)] {
        assert!(out.contains(&key), "verify names {key}:\n{out}");
    }

    // 8. No name, file name or minutes text in plaintext anywhere.
    for f in files(&srv.data_dir()) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!contains(&bytes, tag.as_bytes()), "{} holds a name", f.display());
    }
    for (key, bytes) in raw.all_bytes().await {
        assert!(!contains(&bytes, tag.as_bytes()), "{key} holds a name");
        assert!(!contains(&bytes, &signed[5000..5064]), "{key} holds the minutes in clear");
    }

    assert!(!srv.log().contains(&tag), "nothing personal in the service's log");

    // 9. Disaster recovery: the same minutes and absence (with its report).
    srv.restore_from_store_and_keys().await;
    let (s, after) = srv.api(Method::GET, &minutes, None).await;
    assert_eq!(s, 200, "{after}");
    assert_eq!(after, seen_minutes, "the same minutes after a restore");
    let (_, after) = srv.api(Method::GET, &format!("/api/v1/meetings/{held}/attendance"), None).await;
    assert_eq!(after, seen_attendance, "the same absence report after a restore");
    srv.stop();

    // 10. A flipped byte in the minutes: INVALID, named.
    let key = piece(&v2_id, 1);
    let mut bytes = raw.read(&key).await;
    bytes[100] ^= 1;
    raw.write(&key, bytes).await;
    let (code, out) = srv.audit(&["verify"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&key) && out.contains("INVALID"), "{out}");
}
