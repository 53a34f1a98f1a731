//! Attendance and absence requests (issue 15, points 2 and 3), on SeaweedFS,
//! as an attacker would try them: a cell of 12 counted members and one exempt,
//! a sheet of 10 present (one late), one approved absence and one the sheet
//! calls approved though its request was refused → 10/12 = 83.3 %, one
//! unexcused, a chair who is not the secretary or deputy flagged; a
//! correction is a second version, both listed and both ledgered; an unknown
//! member or one of another cell is refused with nothing written; callers out
//! of scope get nothing; `niem-audit verify` covers the attendance objects and
//! names a flipped byte in one; no member name in plaintext anywhere; a
//! restore from the store and keys brings back the same attendance.

use niem_tests::server::Server;
use niem_tests::stores::RawStore;
use niem_tests::{contains, files_under as files};
use reqwest::Method;
use serde_json::{json, Value};

const PASSWORD: &str = "điểm-danh-2026!";

async fn record_keys(raw: &RawStore, meeting: &str) -> Vec<String> {
    raw.list().await.into_iter().filter(|k| k.starts_with(&format!("meetings/{meeting}/"))).collect()
}

fn present(member: &str, point: &str) -> Value {
    json!({ "member": member, "status": "present", "point": point })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attendance_sheet_versions_sealed_and_counted_seaweedfs() {
    let kind = niem_tests::seaweed::SeaweedFs::shared().store().await;
    let mut srv = Server::start(kind, &[]).await;
    let tag = ulid::Ulid::new().to_string();
    let bloc = srv.create("/api/v1/orgs", json!({ "name": "Khối Điểm danh", "kind": "bloc" })).await;
    let base = srv.create("/api/v1/orgs", json!({ "name": "Cơ sở", "kind": "base", "parent": bloc })).await;
    let a = srv.create("/api/v1/orgs", json!({ "name": "Chi bộ A", "kind": "cell", "parent": base })).await;
    let b = srv.create("/api/v1/orgs", json!({ "name": "Chi bộ B", "kind": "cell", "parent": base })).await;
    let at = time::OffsetDateTime::now_utc() + time::Duration::days(2);
    let scheduled = at.format(&time::format_description::well_known::Rfc3339).unwrap();
    let meeting = srv
        .create("/api/v1/meetings", json!({ "org": a, "kind": "regular", "title": "Họp", "scheduled_at": scheduled }))
        .await;
    let meeting_b = srv
        .create("/api/v1/meetings", json!({ "org": b, "kind": "regular", "title": "Họp", "scheduled_at": scheduled }))
        .await;

    // 12 counted members (secretary, deputy, committee, 9 members) and one exempt.
    let name = |i: usize| format!("Đảng viên {i} {tag}");
    let mut m = Vec::new();
    for i in 0..13 {
        let role = ["secretary", "deputy", "committee"].get(i).copied().unwrap_or("member");
        let body = json!({ "name": name(i), "role": role, "joined": "2020-01-01", "exempt": i == 12 });
        m.push(srv.create(&format!("/api/v1/orgs/{a}/members"), body).await);
    }
    let stranger = srv
        .create(
            &format!("/api/v1/orgs/{b}/members"),
            json!({ "name": format!("Người ngoài {tag}"), "joined": "2020-01-01" }),
        )
        .await;
    let secretary = srv.user("thuky.dd", "secretary", &[&a], PASSWORD).await.1;
    let secretary_b = srv.user("thuky.ddb", "secretary", &[&b], PASSWORD).await.1;
    let inspector_b = srv.user("kiemtra.ddb", "inspector", &[&b], PASSWORD).await.1;
    let inspector_a = srv.user("kiemtra.dda", "inspector", &[&a], PASSWORD).await.1;
    let raw = srv.raw_store().await;
    let sheet_path = format!("/api/v1/meetings/{meeting}/attendance");

    // 1. Absence requests: m10 approved, m11 refused, filed and decided by the secretary.
    let mut absences = Vec::new();
    for member in [&m[10], &m[11]] {
        let body = json!({ "member": member, "reason": format!("Ốm, nằm viện {tag}") });
        let (s, r) =
            srv.call_as(&secretary, Method::POST, &format!("/api/v1/meetings/{meeting}/absences"), Some(body)).await;
        assert_eq!(s, 201, "{r}");
        absences.push(r["id"].as_str().unwrap().to_string());
    }
    let decide = |i: usize| format!("/api/v1/absences/{}/decide", absences[i]);
    let (s, e) = srv.call_as(&secretary_b, Method::POST, &decide(0), Some(json!({ "approve": true }))).await;
    assert_eq!(s, 404, "another cell's secretary does not even learn the request exists: {e}");
    let (s, r) = srv.call_as(&secretary, Method::POST, &decide(0), Some(json!({ "approve": true }))).await;
    assert_eq!((s, &r["approved"]), (200, &json!(true)), "{r}");
    let (s, r) = srv.call_as(&secretary, Method::POST, &decide(1), Some(json!({ "approve": false }))).await;
    assert_eq!((s, &r["approved"]), (200, &json!(false)), "{r}");
    let (s, _) = srv.call_as(&secretary, Method::POST, &decide(1), Some(json!({ "approve": true }))).await;
    assert_eq!(s, 409, "a decision is made once");
    let (s, _) = srv
        .call_as(
            &secretary,
            Method::POST,
            &format!("/api/v1/meetings/{meeting}/absences"),
            Some(json!({ "member": stranger, "reason": "x" })),
        )
        .await;
    assert_eq!(s, 400, "a request for a member of another cell");

    // 2. Refused sheets write nothing: an unknown member, another cell's
    //    member (as a line and as a chair), a malformed body.
    let before = record_keys(&raw, &meeting).await;
    let unknown = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    let mut lines: Vec<Value> =
        (0..10).map(|i| present(&m[i], if i < 5 { "diem-cau-1" } else { "diem-cau-2" })).collect();
    lines[3] = json!({ "member": m[3], "status": "late", "point": "diem-cau-1", "late_minutes": 12 });
    lines.push(json!({ "member": m[10], "status": "absent_approved" }));
    // The sheet claims approval for m11, whose request was refused: unexcused.
    lines.push(json!({ "member": m[11], "status": "absent_approved" }));
    lines.push(json!({ "member": m[12], "status": "absent_unexcused" }));
    let chairs = json!([{ "point": "diem-cau-1", "member": m[0] }, { "point": "diem-cau-2", "member": m[2] }]);
    for (bad, named) in [
        (json!({ "members": [present(unknown, "x")] }), unknown),
        (json!({ "members": [present(&stranger, "x")] }), stranger.as_str()),
        (json!({ "members": lines, "chairs": [{ "point": "x", "member": stranger }] }), stranger.as_str()),
    ] {
        let (s, e) = srv.call_as(&secretary, Method::PUT, &sheet_path, Some(bad)).await;
        assert_eq!(s, 400, "{e}");
        assert!(e["error"]["message"].as_str().unwrap().contains(named), "the error names {named}: {e}");
    }
    for bad in [json!({ "members": "all" }), json!({ "members": [], "extra": 1 }), json!([1, 2])] {
        let (s, e) = srv.call_as(&secretary, Method::PUT, &sheet_path, Some(bad)).await;
        assert_eq!(s, 400, "{e}");
    }
    assert_eq!(record_keys(&raw, &meeting).await, before, "refused sheets leave no object");

    // 3. Out of scope: nothing, either way.
    for token in [&secretary_b, &inspector_b] {
        assert_eq!(srv.call_as(token, Method::GET, &sheet_path, None).await.0, 403);
        let (s, _) = srv.call_as(token, Method::PUT, &sheet_path, Some(json!({ "members": lines }))).await;
        assert_eq!(s, 403);
    }
    assert_eq!(srv.call_as(&inspector_a, Method::PUT, &sheet_path, Some(json!({ "members": lines }))).await.0, 403);

    // 4. The first version, by the cell's secretary; its summary.
    let (s, v1) =
        srv.call_as(&secretary, Method::PUT, &sheet_path, Some(json!({ "members": lines, "chairs": chairs }))).await;
    assert_eq!((s, &v1["version"]), (201, &json!(1)), "{v1}");
    let (s, got) = srv.call_as(&inspector_a, Method::GET, &sheet_path, None).await;
    assert_eq!(s, 200, "{got}");
    let sum = &got["summary"];
    assert_eq!((&sum["expected"], &sum["present"], &sum["late"]), (&json!(12), &json!(10), &json!(1)), "{sum}");
    assert_eq!(sum["rate"], json!(83.3), "{sum}");
    assert_eq!((&sum["unexcused"], &sum["absent_approved"], &sum["exempt"]), (&json!(1), &json!(1), &json!(1)));
    assert_eq!(sum["unexcused_members"], json!([m[11]]), "the refused request counts unexcused: {sum}");
    assert_eq!(sum["chair_problems"].as_array().unwrap().len(), 1, "{sum}");
    assert_eq!(sum["chair_problems"][0]["member"], json!(m[2]));
    assert_eq!(got["absences"].as_array().unwrap().len(), 2);
    assert!(got["absences"][0]["reason"].as_str().unwrap().contains(&tag), "reasons open for readers in scope");

    // 5. A correction: without a reason refused; with one, version 2 (m3 on time).
    lines[3] = present(&m[3], "diem-cau-1");
    let (s, e) = srv.call_as(&secretary, Method::PUT, &sheet_path, Some(json!({ "members": lines }))).await;
    assert_eq!(s, 400, "{e}");
    let reason = format!("Sửa: đồng chí đến đúng giờ {tag}");
    let body = json!({ "members": lines, "chairs": chairs, "reason": reason });
    let (s, v2) = srv.api(Method::PUT, &sheet_path, Some(body)).await;
    assert_eq!((s, &v2["version"]), (201, &json!(2)), "{v2}");
    let (s, got) = srv.call_as(&secretary, Method::GET, &sheet_path, None).await;
    assert_eq!(s, 200);
    let versions = got["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{got}");
    assert_eq!(versions[1]["reason"], json!(reason));
    assert_ne!(versions[0]["stored_by"], versions[1]["stored_by"], "who changed it is kept");
    assert_eq!(got["sheet"]["version"], json!(2));
    assert_eq!((&got["summary"]["late"], &got["summary"]["rate"]), (&json!(0), &json!(83.3)));
    let (s, other) = srv.api(Method::GET, &format!("/api/v1/meetings/{meeting_b}/attendance"), None).await;
    assert_eq!((s, other["versions"].as_array().unwrap().len()), (200, 0));
    let (_, seen_before) = srv.api(Method::GET, &sheet_path, None).await;
    srv.stop();

    // 6. Both versions and every absence step in the ledger, no name or reason in clear.
    let all = raw.ledger_entries().await;
    let of = |action: &str| all.iter().filter(|e| e["action"] == action).cloned().collect::<Vec<_>>();
    let stored = of("record.attendance.stored");
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0]["data"]["object"], v1["object"]);
    assert_eq!(stored[1]["data"]["object"], v2["object"]);
    assert!(stored[1]["data"]["sealed"].is_object(), "the correction's reason is sealed in its entry");
    assert_eq!(of("absence.requested").len(), 2);
    assert_eq!(of("absence.decided").len(), 2);
    let ledger_text = serde_json::to_string(&all).unwrap();
    assert!(!ledger_text.contains(&tag), "no member name or reason in the ledger");

    // 7. The verifier covers both attendance objects.
    let (code, out) = srv.audit(&["verify"], &["--verbose"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Store is INTACT"), "{out}");
    let piece = |v: &Value| format!("meetings/{meeting}/record/{}/00000000.niem", v["object"].as_str().unwrap());
    assert!(out.contains(&piece(&v1)) && out.contains(&piece(&v2)), "verify names the sheets' pieces:\n{out}");

    // 8. No member name, correction or absence reason in plaintext anywhere.
    for f in files(&srv.data_dir()) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!contains(&bytes, tag.as_bytes()), "{} holds a name or reason", f.display());
    }
    for (key, bytes) in raw.all_bytes().await {
        assert!(!contains(&bytes, tag.as_bytes()), "{key} holds a name or reason");
        assert!(!contains(&bytes, b"diem-cau-1"), "{key} holds a sheet in clear");
    }

    // 9. Disaster recovery: the store and the keys alone bring back the same
    //    versions, absences and summary.
    srv.restore_from_store_and_keys().await;
    let (s, seen_after) = srv.api(Method::GET, &sheet_path, None).await;
    assert_eq!(s, 200, "{seen_after}");
    assert_eq!(seen_after, seen_before, "the same attendance after a restore");
    srv.stop();

    // 10. A flipped byte in the first version: INVALID, named.
    let key = piece(&v1);
    let mut bytes = raw.read(&key).await;
    bytes[20] ^= 1;
    raw.write(&key, bytes).await;
    let (code, out) = srv.audit(&["verify"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&key) && out.contains("INVALID"), "{out}");
}
