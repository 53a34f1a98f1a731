//! The roster (issue 15, point 1) and the secretary role, against a running
//! `niem`, as an attacker would try them: members added one by one and by CSV
//! (a broken line names itself and writes nothing), a transfer keeps the
//! history, unknown members are 404, every list is scoped (an inspector or
//! secretary of cell A meets nothing of cell B), a secretary does no admin
//! work, no member name or number is in plaintext under the data dir, in the
//! store or in the log, and `niem restore` brings the roster back from the
//! sealed facts in the ledger.

use niem_tests::server::{Server, StoreKind};
use niem_tests::{contains, files_under as files};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const PASSWORD: &str = "danh-sách-2026!";

async fn import(s: &Server, token: &str, org: &str, csv: &str) -> (u16, Value) {
    let resp = s
        .http()
        .post(format!("{}/api/v1/orgs/{org}/members/import", s.url))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .unwrap();
    let code = resp.status().as_u16();
    (code, serde_json::from_str(&resp.text().await.unwrap_or_default()).unwrap_or(Value::Null))
}

fn names(v: &Value) -> BTreeSet<String> {
    let list = v.as_array().unwrap_or_else(|| panic!("not a list: {v}"));
    list.iter().map(|m| m["name"].as_str().unwrap().to_string()).collect()
}

fn set<const N: usize>(items: [&str; N]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_roster_is_scoped_sealed_all_or_nothing_and_restored() {
    let mut s = Server::start(StoreKind::Local, &[("NIEM_LOG__LEVEL", "debug")]).await;
    let admin = s.token.clone();
    // Names unique to this run, so that a grep finds only what this test wrote.
    let tag = ulid::Ulid::new().to_string();
    let (an, binh, chi, dung) = (
        format!("Nguyễn Văn An {tag}"),
        format!("Trần Thị Bình {tag}"),
        format!("Lê Văn Chí {tag}"),
        format!("Phạm Thị Dung {tag}"),
    );
    let number = format!("93.{}", &tag[16..]);

    let bloc = s.create("/api/v1/orgs", json!({ "name": "Khối Danh sách", "kind": "bloc" })).await;
    let base = s.create("/api/v1/orgs", json!({ "name": "Cơ sở", "kind": "base", "parent": bloc })).await;
    let a = s.create("/api/v1/orgs", json!({ "name": "Chi bộ A", "kind": "cell", "parent": base })).await;
    let b = s.create("/api/v1/orgs", json!({ "name": "Chi bộ B", "kind": "cell", "parent": base })).await;
    let secretary = s.user("thuky.a", "secretary", &[&a], PASSWORD).await.1;
    let inspector_a = s.user("kiemtra.a", "inspector", &[&a], PASSWORD).await.1;
    let inspector_base = s.user("kiemtra.coso", "inspector", &[&base], PASSWORD).await.1;
    let recorder = s.user("diemcau.a", "recorder", &[&a], PASSWORD).await.1;
    let auditor = s.user("kiemtoan", "auditor", &[], PASSWORD).await.1;
    // No secretary without a cell.
    let (code, v) = s.api(Method::POST, "/api/v1/users", Some(json!({ "name": "x", "role": "secretary" }))).await;
    assert_eq!(code, 400, "{v}");

    // Meetings: the committee kind is one; an unknown kind is not.
    let meeting = |org: &str, kind: &str| json!({ "org": org, "kind": kind, "title": "Họp", "scheduled_at": "2026-11-20T08:00:00+07:00" });
    let committee_a = s.create("/api/v1/meetings", meeting(&a, "committee")).await;
    let meeting_b = s.create("/api/v1/meetings", meeting(&b, "regular")).await;
    let policy = json!({ "org": a, "kind": "committee", "keep_days": 3650 });
    let (code, v) = s.api(Method::POST, "/api/v1/retention/policies", Some(policy)).await;
    assert!(code == 200 || code == 201, "a retention policy for committee meetings: {v}");
    let (code, v) = s.api(Method::POST, "/api/v1/meetings", Some(meeting(&a, "weekly"))).await;
    assert_eq!(code, 400, "{v}");
    let (code, v) = s.api(Method::GET, &format!("/api/v1/meetings/{committee_a}"), None).await;
    assert_eq!((code, v["kind"].as_str()), (200, Some("committee")), "{v}");

    // Add one member, then import three.
    let added = json!({ "name": an, "number": number, "role": "secretary", "joined": "2020-01-15" });
    let (code, v) = s.call_as(&admin, Method::POST, &format!("/api/v1/orgs/{a}/members"), Some(added)).await;
    assert_eq!(code, 201, "{v}");
    let an_id = v["id"].as_str().unwrap().to_string();
    assert_eq!((v["name"].as_str(), v["org"].as_str()), (Some(an.as_str()), Some(a.as_str())));
    let good = format!("name,number,role,joined,exempt\n{binh},,deputy,2021-03-01,0\n\"{chi}\",77,,2022-05-05,có\n");
    // A broken third line: the whole file is refused, named by its line, nothing written.
    let broken = format!("{good}{dung},,member,2023-02-30,0\n");
    let (code, v) = import(&s, &admin, &a, &broken).await;
    assert_eq!(code, 400, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().starts_with("line 4:"), "{v}");
    let (_, listed) = s.call_as(&admin, Method::GET, &format!("/api/v1/orgs/{a}/members"), None).await;
    assert_eq!(names(&listed), set([an.as_str()]), "nothing of the broken file was written");
    let (code, v) = import(&s, &admin, &base, &good).await;
    assert_eq!(code, 400, "members belong to cells: {v}");
    let (code, v) = import(&s, &admin, &a, &format!("{good}{dung},,member,2023-02-28,0\n")).await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(v.as_array().map(Vec::len), Some(3));
    let dung_id = v[2]["id"].as_str().unwrap().to_string();
    let chi_row = v.as_array().unwrap().iter().find(|m| m["name"] == chi.as_str()).unwrap().clone();
    assert_eq!((chi_row["exempt"].as_bool(), chi_row["role"].as_str()), (Some(true), Some("member")), "{chi_row}");

    // Leave and transfer: unknown members are 404, bad ids 400; a transfer keeps the history.
    let unknown = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    let leave = |date: &str, to: Option<&str>| json!({ "date": date, "to": to });
    let (code, v) = s
        .call_as(&admin, Method::POST, &format!("/api/v1/members/{unknown}/leave"), Some(leave("2026-01-01", None)))
        .await;
    assert_eq!(code, 404, "{v}");
    let (code, _) =
        s.call_as(&admin, Method::POST, "/api/v1/members/not-an-id/leave", Some(leave("2026-01-01", None))).await;
    assert_eq!(code, 400);
    let dung_leave = format!("/api/v1/members/{dung_id}/leave");
    let (code, v) = s.call_as(&admin, Method::POST, &dung_leave, Some(leave("2023-01-01", Some(&b)))).await;
    assert_eq!(code, 400, "before she joined: {v}");
    let (code, v) = s.call_as(&admin, Method::POST, &dung_leave, Some(leave("2026-06-01", Some(&unknown_org())))).await;
    assert_eq!(code, 404, "to an unknown cell: {v}");
    let (code, v) = s.call_as(&admin, Method::POST, &dung_leave, Some(leave("2026-06-01", Some(&b)))).await;
    assert_eq!(code, 204, "{v}");
    let (code, v) = s.call_as(&admin, Method::POST, &dung_leave, Some(leave("2026-07-01", Some(&b)))).await;
    assert_eq!(code, 400, "a transfer to the cell she is in: {v}");
    let (_, now_a) = s.call_as(&admin, Method::GET, &format!("/api/v1/orgs/{a}/members"), None).await;
    assert_eq!(names(&now_a), set([an.as_str(), binh.as_str(), chi.as_str()]));
    let (_, history_a) = s.call_as(&admin, Method::GET, &format!("/api/v1/orgs/{a}/members?history=true"), None).await;
    let past = history_a.as_array().unwrap().iter().find(|m| m["id"] == dung_id.as_str()).unwrap().clone();
    assert_eq!(past["left"].as_str(), Some("2026-06-01"), "{past}");
    let (_, now_b) = s.call_as(&admin, Method::GET, &format!("/api/v1/orgs/{b}/members"), None).await;
    assert_eq!(names(&now_b), set([dung.as_str()]));
    assert_eq!(now_b[0]["joined"].as_str(), Some("2026-06-01"));

    // Scope: the secretary and the inspector of A read A, never B.
    for token in [&secretary, &inspector_a] {
        let (code, v) = s.call_as(token, Method::GET, &format!("/api/v1/orgs/{a}/members"), None).await;
        assert_eq!((code, names(&v)), (200, names(&now_a)));
        let (code, v) = s.call_as(token, Method::GET, &format!("/api/v1/orgs/{b}/members"), None).await;
        assert_eq!(code, 403, "{v}");
        assert!(!v.to_string().contains(&dung), "{v}");
        // Asked for the base above their cell, they get their cell's part only.
        let (code, v) = s.call_as(token, Method::GET, &format!("/api/v1/orgs/{base}/members?history=true"), None).await;
        assert_eq!(code, 200, "{v}");
        assert!(v.as_array().unwrap().iter().all(|m| m["org"] == a.as_str()), "{v}");
        let (code, v) = s.call_as(token, Method::GET, &format!("/api/v1/orgs/{unknown}/members"), None).await;
        assert_eq!(code, 404, "{v}");
    }
    let (_, v) = s.call_as(&inspector_base, Method::GET, &format!("/api/v1/orgs/{base}/members"), None).await;
    assert_eq!(names(&v), &names(&now_a) | &names(&now_b), "an inspector of the base sees both cells");
    let (code, _) = s.call_as(&inspector_base, Method::GET, &format!("/api/v1/orgs/{bloc}/members"), None).await;
    assert_eq!(code, 200, "above their scope: narrowed to it");
    for token in [&recorder, &auditor] {
        let (code, v) = s.call_as(token, Method::GET, &format!("/api/v1/orgs/{a}/members"), None).await;
        assert_eq!(code, 403, "{v}");
    }

    // The secretary does no admin work: no users, no roster changes, no other cell.
    let (code, _) =
        s.call_as(&secretary, Method::POST, "/api/v1/users", Some(json!({ "name": "x", "role": "auditor" }))).await;
    assert_eq!(code, 403);
    let (code, _) = s.call_as(&secretary, Method::GET, "/api/v1/users", None).await;
    assert_eq!(code, 403);
    let member = json!({ "name": "Kẻ Lạ", "joined": "2020-01-01" });
    for org in [&a, &b] {
        let (code, _) =
            s.call_as(&secretary, Method::POST, &format!("/api/v1/orgs/{org}/members"), Some(member.clone())).await;
        assert_eq!(code, 403);
        assert_eq!(import(&s, &secretary, org, "Kẻ Lạ,,,2020-01-01,0\n").await.0, 403);
    }
    let an_leave = format!("/api/v1/members/{an_id}/leave");
    assert_eq!(s.call_as(&secretary, Method::POST, &an_leave, Some(leave("2026-01-01", None))).await.0, 403);
    assert_eq!(s.call_as(&inspector_a, Method::POST, &an_leave, Some(leave("2026-01-01", None))).await.0, 403);
    let (code, v) = s.call_as(&secretary, Method::GET, "/api/v1/meetings", None).await;
    let ids: BTreeSet<String> = v.as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect();
    assert_eq!((code, ids), (200, set([committee_a.as_str()])), "the secretary's meetings: cell A's only");
    assert_eq!(s.call_as(&secretary, Method::GET, &format!("/api/v1/meetings/{meeting_b}"), None).await.0, 403);
    let (code, v) = s.call_as(&secretary, Method::GET, "/api/v1/orgs", None).await;
    let orgs: BTreeSet<String> = v.as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_string()).collect();
    assert_eq!((code, orgs), (200, set([a.as_str()])));
    for path in ["/api/v1/search?q=chi", "/api/v1/jobs", "/api/v1/retention/policies", "/api/v1/holds"] {
        assert_eq!(s.call_as(&secretary, Method::GET, path, None).await.0, 403, "{path}");
    }
    let (code, v) = s.call_as(&secretary, Method::GET, &format!("/api/v1/search?q=chi&org={b}"), None).await;
    assert_eq!(code, 403, "{v}");

    // The web page: the secretary signs in, lands on the roster, reads A's, not B's.
    let (code, cookie) = s.sign_in("thuky.a", PASSWORD).await;
    assert_eq!(code, 303, "a secretary may use the web UI");
    let cookie = cookie.unwrap();
    let page = |path: String| {
        let req = s.http().get(format!("{}{path}", s.url)).header("cookie", &cookie);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    let landing = s.http().get(format!("{}/search", s.url)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(landing.url().path(), "/admin/members", "sign-in's landing page sends a secretary to the roster");
    let (code, html) = page("/admin/members".into()).await;
    assert_eq!(code, 200, "{html}");
    assert!(html.contains(&an) && html.contains(&chi) && !html.contains(&dung), "{html}");
    assert!(!html.contains("name=\"joined\""), "no add form for a secretary");
    let (code, html) = page(format!("/admin/members?org={b}")).await;
    assert_eq!(code, 403);
    assert!(!html.contains(&dung));
    assert_eq!(page("/admin/users".into()).await.0, 403);
    // An inspector of the bloc reads cell B's roster on the page.
    let (code, inspector_cookie) = {
        let id = s
            .create(
                "/api/v1/users",
                json!({ "name": "quantri2", "role": "inspector", "scopes": [bloc], "password": PASSWORD }),
            )
            .await;
        assert!(!id.is_empty());
        s.sign_in("quantri2", PASSWORD).await
    };
    assert_eq!(code, 303);
    let inspector_page = s
        .http()
        .get(format!("{}/admin/members?org={b}", s.url))
        .header("cookie", inspector_cookie.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(inspector_page.status().as_u16(), 200);
    assert!(inspector_page.text().await.unwrap().contains(&dung));

    // An admin adds a member through the page's form (CSRF token and all).
    let web_admin = json!({ "name": "quantri.web", "role": "admin", "password": PASSWORD });
    s.create("/api/v1/users", web_admin).await;
    let (code, admin_cookie) = s.sign_in("quantri.web", PASSWORD).await;
    assert_eq!(code, 303);
    let admin_cookie = admin_cookie.unwrap();
    let form_page = s
        .http()
        .get(format!("{}/admin/members?org={a}", s.url))
        .header("cookie", &admin_cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(form_page.contains("name=\"joined\""), "the add form is there for an admin");
    let csrf = form_page.split("name=\"csrf-token\" content=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let giang = format!("Võ Thị Giang {tag}");
    let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let posted = no_redirect
        .post(format!("{}/admin/members", s.url))
        .header("cookie", &admin_cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("org", a.as_str()),
            ("name", giang.as_str()),
            ("number", ""),
            ("role", "committee"),
            ("joined", "2025-01-01"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status().as_u16(), 303, "{}", posted.text().await.unwrap_or_default());
    let forged = no_redirect
        .post(format!("{}/admin/members", s.url))
        .header("cookie", &admin_cookie)
        .form(&[("csrf", "forged"), ("org", a.as_str()), ("name", "Giả Mạo"), ("joined", "2025-01-01")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403, "a forged CSRF token adds nobody");
    let (_, listed) = s.call_as(&admin, Method::GET, &format!("/api/v1/orgs/{a}/members"), None).await;
    assert_eq!(names(&listed), set([an.as_str(), binh.as_str(), chi.as_str(), giang.as_str()]));
    let (_, secretary_html) = page("/admin/members".into()).await;
    let secretary_csrf =
        secretary_html.split("name=\"csrf-token\" content=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let secretary_form = no_redirect
        .post(format!("{}/admin/members", s.url))
        .header("cookie", &cookie)
        .form(&[("csrf", secretary_csrf.as_str()), ("org", a.as_str()), ("name", "Giả Mạo"), ("joined", "2025-01-01")])
        .send()
        .await
        .unwrap();
    assert_eq!(secretary_form.status().as_u16(), 403, "the secretary's session adds nobody either");

    // The host's door: list while running, add with the service stopped.
    let (code, out) = s.niem(&["member", "list", "--org", &a]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&an) && out.contains(&number), "{out}");
    let (code, out) = s
        .host(&[
            "member",
            "add",
            "--org",
            &b,
            "--name",
            &format!("Hoàng Văn Em {tag}"),
            "--joined",
            "2024-04-04",
            "--exempt",
        ])
        .await;
    assert_eq!(code, 0, "{out}");
    let em = out.lines().last().unwrap().trim().to_string();
    let (code, out) = s.host(&["member", "leave", &em, "--date", "2024-03-01"]).await;
    assert_ne!(code, 0, "before he joined: {out}");
    let (code, out) = s.host(&["member", "leave", &em, "--date", "2025-12-31"]).await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = s.niem(&["member", "list", "--org", &b, "--history"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.lines().any(|l| l.starts_with(&em) && l.contains("2025-12-31") && l.contains("exempt")), "{out}");
    let csv_file = s.data_dir().join("..").join("broken.csv");
    std::fs::write(&csv_file, "Một,,member,2020-01-01,0\nHai,,boss,2020-01-01,0\n").unwrap();
    let (code, out) = s.host(&["member", "import", "--org", &b, csv_file.to_str().unwrap()]).await;
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("line 2"), "{out}");
    std::fs::remove_file(&csv_file).unwrap();
    let (_, before) = s.call_as(&admin, Method::GET, &format!("/api/v1/orgs/{base}/members?history=true"), None).await;
    assert_eq!(before.as_array().map(Vec::len), Some(7), "five in A (one left), two in B (one left): {before}");

    // The ledger names members by id; no name, number or member marker in the clear anywhere.
    s.stop();
    let (code, log) = s.audit(&["log"], &["--json"]);
    assert_eq!(code, 0, "{log}");
    for action in ["member.added", "members.imported", "member.left"] {
        assert!(log.contains(action), "{action} in the ledger");
    }
    assert!(log.contains(&an_id) && log.contains(&dung_id), "members by id");
    let needles =
        [an.as_str(), binh.as_str(), chi.as_str(), dung.as_str(), giang.as_str(), number.as_str(), tag.as_str()];
    let mut searched = 0;
    for path in files(&s.data_dir()).into_iter().chain([s.log_path()]) {
        let bytes = std::fs::read(&path).unwrap();
        for n in needles {
            assert!(!contains(&bytes, n.as_bytes()), "{n:?} in plaintext in {}", path.display());
        }
        searched += 1;
    }
    if let Some(dump) = s.catalog_dump() {
        for n in needles {
            assert!(!contains(&dump, n.as_bytes()), "{n:?} in plaintext in the PostgreSQL catalog");
        }
        searched += 1;
    } else {
        assert!(s.data_dir().join("catalog.db").exists(), "the SQLite catalog was searched");
    }
    assert!(searched > 3);
    for (key, bytes) in s.raw_store().await.all_bytes().await {
        for n in needles {
            assert!(!contains(&bytes, n.as_bytes()), "{n:?} in plaintext in the store object {key}");
        }
    }
    assert!(!log.contains(&tag), "no name in `niem-audit log`");

    // Restore: the data dir is lost but for the store; the roster comes back.
    let keep = tempfile::tempdir().unwrap();
    niem_tests::copy_dir(&s.data_dir().join("store"), &keep.path().join("store"));
    std::fs::remove_dir_all(s.data_dir()).unwrap();
    niem_tests::copy_dir(&keep.path().join("store"), &s.data_dir().join("store"));
    s.lose_catalog().await;
    let (code, out) = s.niem(&["restore"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("note:"), "no placeholders: {out}");
    s.start_again().await;
    let (code, after) =
        s.call_as(&admin, Method::GET, &format!("/api/v1/orgs/{base}/members?history=true"), None).await;
    assert_eq!(code, 200, "{after}");
    assert_eq!(after, before, "the roster, its names, numbers and history, as it was");
    let (_, v) = s.call_as(&secretary, Method::GET, &format!("/api/v1/orgs/{a}/members"), None).await;
    let mut now_a = names(&now_a);
    now_a.insert(giang.clone());
    assert_eq!(names(&v), now_a, "the secretary's scope and token came back too");
}

/// An org id that exists nowhere.
fn unknown_org() -> String {
    "01ARZ3NDEKTSV4RRFFQ69G5FAW".into()
}
