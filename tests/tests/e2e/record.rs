//! The meeting record end to end (issue 15, "what it must show"), on
//! SeaweedFS with an injected clock: a cell of 12 members and 3 bridge points
//! gets its agenda 4 days before the meeting; the meeting is held live over
//! RTMP from the 3 points; the sheet says 10 present (one late), 1 approved
//! absence and 1 unapproved; the minutes come the next day. The report says
//! 83.3 %, under the 90 % target, in JSON and CSV; `niem-audit verify` covers
//! the attendance, document and minutes objects and names a flipped byte in
//! each.

use niem_tests::live::Sender;
use niem_tests::seaweed::SeaweedFs;
use niem_tests::server::Server;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const PASSWORD: &str = "hồ-sơ-họp-2026!";
const DAY_MINUTES: i64 = 24 * 60;

/// Bytes that look like a PDF: the header, then `len` bytes of noise.
fn pdf(len: usize, seed: u8) -> Vec<u8> {
    let mut b = b"%PDF-1.7\n".to_vec();
    b.extend((0..len).map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed)));
    b
}

async fn post_file(srv: &Server, token: &str, path: &str, query: &[(&str, &str)], bytes: Vec<u8>) -> (u16, Value) {
    let resp =
        srv.http().post(format!("{}{path}", srv.url)).bearer_auth(token).query(query).body(bytes).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn post(srv: &Server, token: &str, path: &str, body: Value) -> (u16, Value) {
    let resp = srv.http().post(format!("{}{path}", srv.url)).bearer_auth(token).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn local_date(ts: time::OffsetDateTime) -> time::Date {
    ts.to_offset(time::UtcOffset::from_hms(7, 0, 0).unwrap()).date()
}

fn local_month(ts: time::OffsetDateTime) -> String {
    let d = local_date(ts);
    format!("{:04}-{:02}", d.year(), u8::from(d.month()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cell_meeting_record_end_to_end_seaweedfs() {
    let kind = SeaweedFs::shared().store().await;
    let mut srv = Server::start(kind, &[("NIEM_LIVE__GRACE_SECS", "3")]).await;
    let bloc = srv.create("/api/v1/orgs", json!({ "name": "Khối Hồ sơ", "kind": "bloc" })).await;
    let base = srv.create("/api/v1/orgs", json!({ "name": "Đảng bộ cơ sở", "kind": "base", "parent": bloc })).await;
    let cell = srv.create("/api/v1/orgs", json!({ "name": "Chi bộ Hồ sơ", "kind": "cell", "parent": base })).await;
    let other_cell = srv.create("/api/v1/orgs", json!({ "name": "Chi bộ Khác", "kind": "cell", "parent": base })).await;
    // The meeting, four days and an hour from the service's today.
    let at = time::OffsetDateTime::now_utc() + time::Duration::days(4) + time::Duration::hours(1);
    let scheduled = at.format(&time::format_description::well_known::Rfc3339).unwrap();
    let body = json!({ "org": cell, "kind": "regular", "title": "Sinh hoạt chi bộ tháng", "scheduled_at": scheduled });
    let meeting = srv.create("/api/v1/meetings", body).await;

    // 1. 12 members (a secretary, two deputies, a committee member, 8 members), 3 bridge points.
    let mut m = Vec::new();
    for i in 0..12 {
        let role = ["secretary", "deputy", "deputy", "committee"].get(i).copied().unwrap_or("member");
        let body = json!({ "name": format!("Nguyễn Văn Thiệp {i}"), "role": role, "joined": "2020-01-01" });
        m.push(srv.create(&format!("/api/v1/orgs/{cell}/members"), body).await);
    }
    let mut keys = Vec::new();
    for i in 1..=3 {
        keys.push(srv.endpoint(&cell, &format!("Điểm cầu {i}")).await.1);
    }
    let (_, secretary) = srv.user("thuky.hoso", "secretary", &[&cell], PASSWORD).await;
    let (_, inspector) = srv.user("kiemtra.hoso", "inspector", &[&base], PASSWORD).await;
    let docs = format!("/api/v1/meetings/{meeting}/documents");
    let resp = srv
        .req(Method::POST, &docs)
        .query(&[("filename", "chuong-trinh.pdf"), ("title", "Chương trình sinh hoạt"), ("kind", "agenda")])
        .body(pdf(5000, 3))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let agenda: Value = resp.json().await.unwrap();
    assert_eq!((&agenda["days_before"], &agenda["in_advance"]), (&json!(4), &json!(true)), "{agenda}");
    // m10's absence is requested and approved before the meeting; m11 asks nothing.
    let body = json!({ "member": m[10], "reason": "Đi công tác" });
    let (s, req) =
        srv.call_as(&secretary, Method::POST, &format!("/api/v1/meetings/{meeting}/absences"), Some(body)).await;
    assert_eq!(s, 201, "{req}");
    let decide = format!("/api/v1/absences/{}/decide", req["id"].as_str().unwrap());
    assert_eq!(srv.call_as(&secretary, Method::POST, &decide, Some(json!({ "approve": true }))).await.0, 200);

    // 2. The meeting day: live over RTMP from the 3 bridge points.
    srv.set_env("NIEM_CLOCK_OFFSET_MINUTES", &(4 * DAY_MINUTES).to_string());
    srv.restart().await;
    let senders: Vec<Sender> =
        keys.iter().enumerate().map(|(i, k)| Sender::rtmp(&srv, k, 400 + 200 * i as u32, 6.0)).collect();
    for s in senders {
        let (ok, err) = s.wait();
        assert!(ok, "a bridge point's sender failed: {err}");
    }
    let rec = srv.sealed_recording(&meeting, Duration::from_secs(90)).await;
    let streams = rec["manifest"]["streams"].as_array().map(Vec::len);
    assert_eq!(streams, Some(3), "one stream per bridge point: {rec}");

    // 3. The sheet: 10 present (m4 late), m10 approved, m11 absent without leave.
    let point = |i: usize| format!("Điểm cầu {}", i % 3 + 1);
    let mut lines: Vec<Value> =
        (0..10).map(|i| json!({ "member": m[i], "status": "present", "point": point(i) })).collect();
    lines[4] = json!({ "member": m[4], "status": "late", "point": point(4), "late_minutes": 15 });
    lines.push(json!({ "member": m[10], "status": "absent_approved" }));
    lines.push(json!({ "member": m[11], "status": "absent_unexcused" }));
    let chairs: Vec<Value> = (0..3).map(|i| json!({ "point": point(i), "member": m[i] })).collect();
    let sheet = format!("/api/v1/meetings/{meeting}/attendance");
    let (s, v1) =
        srv.call_as(&secretary, Method::PUT, &sheet, Some(json!({ "members": lines, "chairs": chairs }))).await;
    assert_eq!(s, 201, "{v1}");

    // The minutes, the next day.
    srv.set_env("NIEM_CLOCK_OFFSET_MINUTES", &(5 * DAY_MINUTES).to_string());
    srv.restart().await;
    let minutes_bytes = pdf(7000, 9);
    let filed = time::OffsetDateTime::now_utc() + time::Duration::days(5);
    let days_to_file = (local_date(filed) - local_date(at)).whole_days();
    let (s, minutes) = post_file(
        &srv,
        &secretary,
        &format!("/api/v1/meetings/{meeting}/minutes"),
        &[("filename", "bien-ban.pdf")],
        minutes_bytes.clone(),
    )
    .await;
    assert_eq!(s, 201, "{minutes}");

    // 4. The report: 10/12 = 83.3 %, under target, flagged; counts; CSV.
    let month = local_month(at);
    for (who, org) in [(None, &cell), (None, &base), (Some(&inspector), &base)] {
        let path = format!("/api/v1/reports/compliance?org={org}&month={month}");
        let (s, rows) = match who {
            Some(t) => srv.call_as(t, Method::GET, &path, None).await,
            None => srv.api(Method::GET, &path, None).await,
        };
        assert_eq!(s, 200, "{rows}");
        let row = rows.as_array().unwrap().iter().find(|r| r["org"] == json!(cell)).cloned().unwrap();
        assert_eq!((&row["expected"], &row["held"], &row["sealed"]), (&json!(1), &json!(1), &json!(1)), "{row}");
        assert_eq!((&row["attendance_expected"], &row["attendance_present"]), (&json!(12), &json!(10)), "{row}");
        assert_eq!((&row["attendance_rate"], &row["attendance_below_target"]), (&json!(83.3), &json!(true)));
        assert_eq!((&row["unapproved_absences"], &row["chair_problems"]), (&json!(1), &json!(0)), "{row}");
        assert_eq!((&row["documents_in_advance"], &row["minutes_filed"]), (&json!(1), &json!(1)), "{row}");
        assert_eq!(row["minutes_median_days"], json!(days_to_file as f64), "{row}");
    }
    let resp = srv
        .req(Method::GET, &format!("/api/v1/reports/compliance?org={base}&month={month}&format=csv"))
        .send()
        .await
        .unwrap();
    let csv = resp.text().await.unwrap();
    assert!(csv.starts_with('\u{feff}'), "a byte-order mark for Excel");
    let header: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().next().unwrap().split(',').collect();
    let line = csv.lines().find(|l| l.contains("Chi bộ Hồ sơ")).expect("the cell's line, its name intact");
    let cells: Vec<&str> = line.split(',').collect();
    let col = |name: &str| cells[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!((col("attendance_rate"), col("attendance_below_target")), ("83.3", "true"), "{csv}");
    assert_eq!((col("unapproved_absences"), col("minutes_filed")), ("1", "1"), "{csv}");

    // A member's own history: admins and inspectors in scope; out of scope it
    // does not exist; a secretary does not read it.
    let (_, outsider) = srv.user("kiemtra.ngoai", "inspector", &[&other_cell], PASSWORD).await;
    let history = format!("/api/v1/members/{}/attendance", m[4]);
    for who in [None, Some(&inspector)] {
        let (s, h) = match who {
            Some(t) => srv.call_as(t, Method::GET, &history, None).await,
            None => srv.api(Method::GET, &history, None).await,
        };
        assert_eq!(s, 200, "{h}");
        assert_eq!(h.as_array().map(Vec::len), Some(1), "{h}");
        assert_eq!((&h[0]["meeting"], &h[0]["status"]), (&json!(meeting), &json!("late")), "{h}");
    }
    let (s, h) = srv.api(Method::GET, &format!("/api/v1/members/{}/attendance", m[10]), None).await;
    assert_eq!((s, &h[0]["excused"]), (200, &json!(true)), "{h}");
    assert_eq!(srv.call_as(&outsider, Method::GET, &history, None).await.0, 404);
    assert_eq!(srv.call_as(&secretary, Method::GET, &history, None).await.0, 403);

    // 5. The verifier covers the attendance, document and minutes objects...
    srv.stop();
    let raw = srv.raw_store().await;
    // No member's name in plaintext anywhere under the data dir or in the store.
    let name = "Văn Thiệp".as_bytes();
    for f in niem_tests::files_under(&srv.data_dir()) {
        assert!(!niem_tests::contains(&std::fs::read(&f).unwrap(), name), "{} names a member", f.display());
    }
    for (key, bytes) in raw.all_bytes().await {
        assert!(!niem_tests::contains(&bytes, name), "{key} names a member");
    }
    let (code, out) = srv.audit(&["verify"], &["--verbose"]);
    assert_eq!(code, 0, "{out}");
    let piece = |object: &Value| format!("meetings/{meeting}/record/{}/00000000.niem", object.as_str().unwrap());
    let pieces = [piece(&v1["object"]), piece(&agenda["id"]), piece(&minutes["id"])];
    for p in &pieces {
        assert!(out.contains(p.as_str()), "verify covers {p}:\n{out}");
    }
    // ...and names a flipped byte in each.
    for p in &pieces {
        let mut b = raw.read(p).await;
        b[40] ^= 0x20;
        raw.write(p, b).await;
    }
    let (code, out) = srv.audit(&["verify"], &[]);
    assert_eq!(code, 1, "{out}");
    for p in &pieces {
        assert!(out.lines().any(|l| l.contains(p.as_str()) && l.contains("INVALID")), "{p} named INVALID:\n{out}");
    }
}

/// The record's retention class: a media policy never touches the record; a
/// record policy waits for a second admin (not shredded before, even when
/// long expired); once approved, the expired record of one cell is
/// crypto-shredded (its keys and pieces gone, its documents unlisted, one
/// `record.shredded` entry) while a hold keeps the other cell's, and
/// `niem-audit verify` judges the deletion lawful.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_record_expires_only_under_an_approved_record_policy_and_holds_keep_it_seaweedfs() {
    let mut srv = Server::start(SeaweedFs::shared().store().await, &[]).await;
    let admin = srv.token.clone();
    let (s, u) = srv.api(Method::POST, "/api/v1/users", Some(json!({ "name": "second", "role": "admin" }))).await;
    assert_eq!(s, 201, "{u}");
    let (code, out) = srv.host(&["token", "create", "--role", "admin", "--name", "second"]).await;
    assert_eq!(code, 0, "{out}");
    let second = out.lines().find(|l| l.starts_with("niem_")).unwrap().trim().to_string();
    let bloc = srv.create("/api/v1/orgs", json!({ "name": "Khối Lưu trữ", "kind": "bloc" })).await;
    let base = srv.create("/api/v1/orgs", json!({ "name": "Cơ sở", "kind": "base", "parent": bloc })).await;
    let a = srv.create("/api/v1/orgs", json!({ "name": "Chi bộ A", "kind": "cell", "parent": base })).await;
    let b = srv.create("/api/v1/orgs", json!({ "name": "Chi bộ B", "kind": "cell", "parent": base })).await;
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    let mut meetings = Vec::new();
    for org in [&a, &b] {
        let body = json!({ "org": org, "kind": "regular", "title": "Sinh hoạt", "scheduled_at": now });
        let meeting = srv.create("/api/v1/meetings", body).await;
        let resp = srv
            .req(Method::POST, &format!("/api/v1/meetings/{meeting}/documents"))
            .query(&[("filename", "tai-lieu.pdf")])
            .body(pdf(3000, 5))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201);
        meetings.push(meeting);
    }
    let keys_of = |listing: &[String], meeting: &str| {
        listing.iter().filter(|k| k.starts_with(&format!("meetings/{meeting}/record/"))).cloned().collect::<Vec<_>>()
    };

    // A one-day media policy (nothing to shorten: no recording) and a one-day
    // record policy, which waits for a second admin; B is held.
    let policies = "/api/v1/retention/policies";
    let (s, media) = post(&srv, &admin, policies, json!({ "keep_days": 1 })).await;
    assert_eq!((s, &media["class"]), (201, &json!("media")), "{media}");
    let (s, record) = post(&srv, &admin, policies, json!({ "keep_days": 1, "class": "record" })).await;
    assert_eq!((s, &record["needs_approval"]), (201, &json!(true)), "{record}");
    let (s, e) = post(&srv, &admin, policies, json!({ "keep_days": 1, "class": "tapes" })).await;
    assert_eq!(s, 400, "{e}");
    let day = |d: i64| {
        let t = time::OffsetDateTime::now_utc() + time::Duration::days(d);
        format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
    };
    let hold = json!({ "org": b, "from": day(-1), "to": day(1), "reason": "Thanh tra", "case_ref": "KT-2026-31" });
    let (s, hold) = post(&srv, &admin, "/api/v1/holds", hold).await;
    assert_eq!(s, 201, "{hold}");

    // Three days on: the record policy is not approved, so nothing of the record goes.
    srv.set_env("NIEM_CLOCK_OFFSET_MINUTES", &(3 * DAY_MINUTES).to_string());
    srv.restart().await;
    let (s, report) = post(&srv, &admin, "/api/v1/retention/run", json!({ "dry_run": false })).await;
    assert_eq!((s, report["shredded"].as_array().map(Vec::len)), (200, Some(0)), "{report}");
    let listing = srv.raw_store().await.list().await;
    let a_objects = keys_of(&listing, &meetings[0]);
    assert_eq!(a_objects.len(), 2, "A's document (key and piece) is kept: {listing:?}");
    let approve = format!("/api/v1/retention/policies/{}/approve", record["id"].as_str().unwrap());
    assert_eq!(post(&srv, &admin, &approve, json!(null)).await.0, 403, "not by the admin who set it");
    assert_eq!(post(&srv, &second, &approve, json!(null)).await.0, 204);

    // Approved: A's record is shredded, B's is held.
    let (s, report) = post(&srv, &admin, "/api/v1/retention/run", json!({ "dry_run": false })).await;
    assert_eq!(s, 200, "{report}");
    let shredded = report["shredded"].as_array().unwrap();
    assert_eq!(shredded.len(), 1, "{report}");
    assert_eq!((&shredded[0]["class"], &shredded[0]["meeting"]), (&json!("record"), &json!(meetings[0])));
    assert_eq!(report["held"][0]["meeting"], json!(meetings[1]), "{report}");
    let listing = srv.raw_store().await.list().await;
    assert!(keys_of(&listing, &meetings[0]).is_empty(), "A's key and pieces are gone: {listing:?}");
    assert_eq!(keys_of(&listing, &meetings[1]).len(), 2, "B's record is held");
    let (s, docs) = srv.api(Method::GET, &format!("/api/v1/meetings/{}/documents", meetings[0]), None).await;
    assert_eq!((s, docs["documents"].as_array().map(Vec::len)), (200, Some(0)), "{docs}");
    let (s, report) = post(&srv, &admin, "/api/v1/retention/run", json!({ "dry_run": false })).await;
    assert_eq!((s, report["shredded"].as_array().map(Vec::len)), (200, Some(0)), "shredded once: {report}");
    srv.stop();
    let raw = srv.raw_store().await;
    let entries = raw.ledger_entries().await;
    let shreds: Vec<&Value> = entries.iter().filter(|e| e["action"] == "record.shredded").collect();
    assert_eq!(shreds.len(), 1);
    assert_eq!(shreds[0]["data"]["policy"], record["id"]);
    let (code, out) = srv.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("the record of meeting {} lawfully deleted", meetings[0])), "{out}");

    // The store and the keys alone bring back the same: A's record gone, B's kept.
    srv.restore_from_store_and_keys().await;
    for (meeting, n) in [(&meetings[0], 0), (&meetings[1], 1)] {
        let (s, docs) = srv.api(Method::GET, &format!("/api/v1/meetings/{meeting}/documents"), None).await;
        assert_eq!((s, docs["documents"].as_array().map(Vec::len)), (200, Some(n)), "{docs}");
    }
    srv.stop();

    // A key put back after the shred is named: the content would be readable again.
    let a_key = a_objects.iter().find(|k| k.ends_with("key.dek")).unwrap();
    raw.write(a_key, b"a wrapped key that should be gone".to_vec()).await;
    let (code, out) = srv.audit(&["verify"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.lines().any(|l| l.contains(a_key.as_str()) && l.contains("survived the shred")), "{out}");
}
