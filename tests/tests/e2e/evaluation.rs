//! The bloc's evaluation (issue 15, point 6), on SeaweedFS, as an attacker
//! would try it: an inspector in scope scores a meeting against the default
//! checklist, the page's suggestions computed from the facts (documents sent
//! ahead, 80 % attendance, a member chairing a bridge point, no minutes, the
//! committee met earlier in the month); a score of 0 or 6, an unknown or a
//! missing checklist key, a malformed body, an unknown meeting, a revision
//! without a reason are refused with nothing written; a secretary, a recorder,
//! an auditor and an inspector of another cell cannot score (nor read, out of
//! scope); a revision is a second version, both in the store's ledger naming
//! their evaluator; racing revisions keep versions dense, the loser told 409;
//! `niem-audit verify` covers the evaluation objects and names a flipped byte;
//! no comment or reason in plaintext anywhere; a restore from the store and
//! keys gives the same evaluation.

use niem_tests::server::Server;
use niem_tests::stores::RawStore;
use niem_tests::{contains, files_under as files};
use reqwest::Method;
use serde_json::{json, Value};

const PASSWORD: &str = "đánh-giá-2026!";

async fn record_keys(raw: &RawStore, meeting: &str) -> Vec<String> {
    raw.list().await.into_iter().filter(|k| k.starts_with(&format!("meetings/{meeting}/"))).collect()
}

/// Every default checklist item, met unless named in `unmet`.
fn items(unmet: &[&str]) -> Value {
    let keys =
        ["on_schedule", "committee_first", "documents_in_advance", "attendance_90", "chair_present", "minutes_filed"];
    Value::Object(keys.iter().map(|k| (k.to_string(), json!(!unmet.contains(k)))).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluation_versions_sealed_scoped_and_suggested_seaweedfs() {
    let kind = niem_tests::seaweed::SeaweedFs::shared().store().await;
    let mut srv = Server::start(kind, &[]).await;
    let tag = ulid::Ulid::new().to_string();
    let bloc = srv.create("/api/v1/orgs", json!({ "name": "Khối Đánh giá", "kind": "bloc" })).await;
    let base = srv.create("/api/v1/orgs", json!({ "name": "Cơ sở", "kind": "base", "parent": bloc })).await;
    let a = srv.create("/api/v1/orgs", json!({ "name": "Chi bộ Đánh giá A", "kind": "cell", "parent": base })).await;
    let b = srv.create("/api/v1/orgs", json!({ "name": "Chi bộ Đánh giá B", "kind": "cell", "parent": base })).await;
    // The meeting ten days ahead at 08:00 local; the committee met on the 1st
    // of that local month at 00:30, always earlier and in the same month.
    let local = time::UtcOffset::from_hms(7, 0, 0).unwrap();
    let day = (time::OffsetDateTime::now_utc().to_offset(local) + time::Duration::days(10)).date();
    let at = |d: time::Date, h: u8, m: u8| {
        let t = d.with_hms(h, m, 0).unwrap().assume_offset(local);
        t.format(&time::format_description::well_known::Rfc3339).unwrap()
    };
    let first = day.replace_day(1).unwrap();
    let meeting =
        |org: &str, kind: &str, t: String| json!({ "org": org, "kind": kind, "title": "Họp", "scheduled_at": t });
    let committee = srv.create("/api/v1/meetings", meeting(&a, "committee", at(first, 0, 30))).await;
    let m = srv.create("/api/v1/meetings", meeting(&a, "regular", at(day, 8, 0))).await;
    let m_b = srv.create("/api/v1/meetings", meeting(&b, "regular", at(day, 8, 0))).await;
    let mut members = Vec::new();
    for i in 0..5 {
        let role = ["secretary", "deputy"].get(i).copied().unwrap_or("member");
        let body = json!({ "name": format!("Đảng viên {i}"), "role": role, "joined": "2020-01-01" });
        members.push(srv.create(&format!("/api/v1/orgs/{a}/members"), body).await);
    }
    let inspector = srv.user("kiemtra.dg", "inspector", &[&a], PASSWORD).await.1;
    let inspector_b = srv.user("kiemtra.dgb", "inspector", &[&b], PASSWORD).await.1;
    let secretary = srv.user("thuky.dg", "secretary", &[&a], PASSWORD).await.1;
    let recorder = srv.user("ghi.dg", "recorder", &[&a], PASSWORD).await.1;
    let auditor = srv.user("kiemtoan.dg", "auditor", &[], PASSWORD).await.1;
    let raw = srv.raw_store().await;
    let path = format!("/api/v1/meetings/{m}/evaluation");

    // Facts: a document ten days ahead; 4 of 5 present (80 %), a member chairing point 2.
    let r = srv
        .req(Method::POST, &format!("/api/v1/meetings/{m}/documents"))
        .query(&[("filename", "chuong-trinh.pdf"), ("kind", "agenda")])
        .body(b"%PDF-1.7\n agenda".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let lines: Vec<Value> =
        (0..4).map(|i| json!({ "member": members[i], "status": "present", "point": "p1" })).collect();
    let chairs = json!([{ "point": "p1", "member": members[0] }, { "point": "p2", "member": members[3] }]);
    let (s, v) = srv
        .call_as(
            &secretary,
            Method::PUT,
            &format!("/api/v1/meetings/{m}/attendance"),
            Some(json!({ "members": lines, "chairs": chairs })),
        )
        .await;
    assert_eq!(s, 201, "{v}");

    // 1. Before any version: the checklist and the suggestions from facts.
    let (s, got) = srv.call_as(&inspector, Method::GET, &path, None).await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["checklist"].as_array().unwrap().len(), 6, "{got}");
    assert_eq!(got["checklist"][5]["label"], "Có biên bản");
    assert_eq!((&got["latest"], got["versions"].as_array().unwrap().len()), (&Value::Null, 0));
    let sug = &got["suggested"];
    let met = |k: &str| sug[k]["met"].clone();
    assert_eq!(met("documents_in_advance"), json!(true), "{sug}");
    assert_eq!(met("committee_first"), json!(true), "{sug}");
    assert_eq!(met("attendance_90"), json!(false), "{sug}");
    assert!(sug["attendance_90"]["why"].as_str().unwrap().contains("80.0"), "{sug}");
    assert_eq!(met("chair_present"), json!(false), "{sug}");
    assert_eq!(met("minutes_filed"), json!(false), "{sug}");
    assert!(sug.get("on_schedule").is_none(), "not computed, not suggested: {sug}");
    let (_, c) = srv.api(Method::GET, &format!("/api/v1/meetings/{committee}/evaluation"), None).await;
    assert!(c["suggested"].get("committee_first").is_none(), "a committee meeting is not asked it: {c}");

    // 2. Refused evaluations write nothing.
    let before_keys = record_keys(&raw, &m).await;
    let unmet = ["attendance_90", "chair_present", "minutes_filed"];
    let good = |score: u8| json!({ "items": items(&unmet), "score": score, "comment": format!("Nội dung tốt {tag}") });
    let mut unknown_key = items(&[]);
    unknown_key["held_at_the_pagoda"] = json!(true);
    let mut missing = items(&[]);
    missing.as_object_mut().unwrap().remove("chair_present");
    for (bad, says) in [
        (good(0), "1 to 5"),
        (good(6), "1 to 5"),
        (json!({ "items": unknown_key, "score": 3 }), "held_at_the_pagoda"),
        (json!({ "items": missing, "score": 3 }), "chair_present"),
        (json!({ "items": items(&[]), "score": 3, "extra": 1 }), "extra"),
        (json!({ "items": items(&[]), "score": "good" }), "not a valid evaluation"),
    ] {
        let (s, e) = srv.call_as(&inspector, Method::PUT, &path, Some(bad)).await;
        assert_eq!(s, 400, "{e}");
        assert!(e["error"]["message"].as_str().unwrap().contains(says), "the error says {says}: {e}");
    }
    let (s, _) = srv.api(Method::PUT, "/api/v1/meetings/01ARZ3NDEKTSV4RRFFQ69G5FAV/evaluation", Some(good(3))).await;
    assert_eq!(s, 404, "an unknown meeting");
    // Wrong role, or out of scope: refused, and the out-of-scope reader gets nothing.
    for token in [&secretary, &recorder, &auditor, &inspector_b] {
        assert_eq!(srv.call_as(token, Method::PUT, &path, Some(good(3))).await.0, 403);
    }
    for token in [&recorder, &auditor, &inspector_b] {
        let (s, v) = srv.call_as(token, Method::GET, &path, None).await;
        assert_eq!((s, v.get("versions")), (403, None), "{v}");
    }
    let (_, listed) = srv.call_as(&inspector_b, Method::GET, "/api/v1/meetings", None).await;
    let listed = serde_json::to_string(&listed).unwrap();
    assert!(!listed.contains(&m) && listed.contains(&m_b), "an inspector of cell B lists only B: {listed}");
    assert_eq!(record_keys(&raw, &m).await, before_keys, "refused evaluations leave no object");

    // 3. The first version, by the inspector in scope.
    let (s, v1) = srv.call_as(&inspector, Method::PUT, &path, Some(good(4))).await;
    assert_eq!(s, 201, "{v1}");
    assert_eq!((&v1["version"], &v1["score"], &v1["met"], &v1["items"]), (&json!(1), &json!(4), &json!(3), &json!(6)));
    let (s, got) = srv.call_as(&secretary, Method::GET, &path, None).await;
    assert_eq!(s, 200, "the cell's secretary reads its evaluation: {got}");
    let latest = &got["latest"];
    assert_eq!((&latest["version"], &latest["score"], &latest["evaluator"]), (&json!(1), &json!(4), &v1["stored_by"]));
    assert_eq!(
        latest["items"][4],
        json!({ "key": "chair_present", "label": "Mọi điểm cầu do bí thư hoặc phó bí thư chủ trì", "met": false })
    );
    assert!(latest["comment"].as_str().unwrap().contains(&tag));

    // 4. A revision: without a reason refused; with one, version 2 by the admin.
    let (s, e) = srv.api(Method::PUT, &path, Some(good(5))).await;
    assert_eq!(s, 400, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("reason"), "{e}");
    let reason = format!("Bổ sung biên bản {tag}");
    let body = json!({ "items": items(&["attendance_90"]), "score": 5, "reason": reason });
    let (s, v2) = srv.api(Method::PUT, &path, Some(body)).await;
    assert_eq!((s, &v2["version"], &v2["met"]), (201, &json!(2), &json!(5)), "{v2}");
    let (_, got) = srv.call_as(&inspector, Method::GET, &path, None).await;
    let versions = got["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{got}");
    assert_eq!((&versions[0]["score"], &versions[1]["score"]), (&json!(4), &json!(5)));
    assert_eq!(versions[1]["reason"], json!(reason));
    assert_eq!(versions[1]["comment"], Value::Null);
    assert_ne!(versions[0]["stored_by"], versions[1]["stored_by"], "each version names its evaluator");
    assert_eq!((&got["latest"]["version"], &got["latest"]["score"]), (&json!(2), &json!(5)));

    // 5. Racing revisions: versions stay dense, every loser told 409.
    let race = (0..4).map(|i| {
        let body = json!({ "items": items(&[]), "score": 3, "reason": format!("Sửa lần {i} {tag}") });
        srv.call_as(&inspector, Method::PUT, &path, Some(body))
    });
    let results = futures::future::join_all(race).await;
    let won = results.iter().filter(|(s, _)| *s == 201).count();
    for (s, v) in &results {
        assert!(*s == 201 || (*s == 409 && v["error"]["message"].as_str().unwrap().contains("reload")), "{s} {v}");
    }
    assert!(won >= 1, "{results:?}");
    let (_, got) = srv.call_as(&inspector, Method::GET, &path, None).await;
    let numbers: Vec<u64> =
        got["versions"].as_array().unwrap().iter().map(|v| v["version"].as_u64().unwrap()).collect();
    assert_eq!(numbers, (1..=(2 + won as u64)).collect::<Vec<_>>(), "dense versions: {got}");
    let (_, other) = srv.api(Method::GET, &format!("/api/v1/meetings/{m_b}/evaluation"), None).await;
    assert_eq!(other["versions"], json!([]), "another meeting's evaluation stays its own");
    assert_eq!(other["suggested"]["committee_first"]["met"], json!(false), "cell B's committee never met: {other}");
    assert_eq!(other["suggested"]["documents_in_advance"]["met"], json!(false), "{other}");
    let (_, seen_before) = srv.api(Method::GET, &path, None).await;
    srv.stop();

    // 6. Every version in the store's ledger, naming its evaluator and version; no text in clear.
    let all = raw.ledger_entries().await;
    let stored: Vec<&Value> = all.iter().filter(|e| e["action"] == "record.evaluation.stored").collect();
    assert_eq!(stored.len(), 2 + won, "{stored:?}");
    assert_eq!((&stored[0]["data"]["object"], &stored[1]["data"]["object"]), (&v1["object"], &v2["object"]));
    assert_eq!((&stored[0]["actor"], &stored[1]["actor"]), (&v1["stored_by"], &v2["stored_by"]));
    assert_eq!((&stored[0]["data"]["version"], &stored[1]["data"]["version"]), (&json!(1), &json!(2)));
    assert!(stored.iter().all(|e| e["data"]["sealed"].is_object()), "comments and reasons are sealed in the entries");
    let ledger_text = serde_json::to_string(&all).unwrap();
    assert!(!ledger_text.contains(&tag), "no comment or reason in the ledger");

    // 7. The verifier covers the evaluation objects.
    let (code, out) = srv.audit(&["verify"], &["--verbose"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Store is INTACT"), "{out}");
    let piece = |v: &Value| format!("meetings/{m}/record/{}/00000000.niem", v["object"].as_str().unwrap());
    assert!(out.contains(&piece(&v1)) && out.contains(&piece(&v2)), "verify names the evaluations' pieces:\n{out}");

    // 8. No comment or reason in plaintext anywhere.
    for f in files(&srv.data_dir()) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!contains(&bytes, tag.as_bytes()), "{} holds a comment or reason", f.display());
    }
    for (key, bytes) in raw.all_bytes().await {
        assert!(!contains(&bytes, tag.as_bytes()), "{key} holds a comment or reason");
        assert!(!contains(&bytes, b"chair_present"), "{key} holds an evaluation in clear");
    }

    assert!(!srv.log().contains(&tag), "nothing personal in the service's log");

    // 9. Disaster recovery: the same evaluation, every version.
    srv.restore_from_store_and_keys().await;
    let (s, seen_after) = srv.api(Method::GET, &path, None).await;
    assert_eq!(s, 200, "{seen_after}");
    assert_eq!(seen_after, seen_before, "the same evaluation after a restore");
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
