//! Search and the inspectors' web UI end to end: English speech uploaded to a
//! `niem` on SeaweedFS, transcribed by the real Whisper model, indexed, found
//! through the API under an inspector's scope, and found, clicked and played in a
//! real headless Chromium; every search and playback in the ledger.

use niem_tests::browser::Browser;
use niem_tests::files_under as walk;
use niem_tests::seaweed::SeaweedFs;
use niem_tests::server::{Server, StoreKind};
use niem_tests::speech;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SENTENCES: [(f32, &str); 3] = [
    (1.0, "The branch meeting approved the resolution on digital transformation."),
    (10.0, "Comrade Lan reported on the admission of new party members."),
    (19.0, "The inspection committee will review the budget in the third quarter."),
];
const PASSWORD: &str = "kiểm-tra-2026!";

/// Orgs: one bloc, one base, two cells. Returns (bloc, cell A, cell B).
async fn tree(server: &Server) -> (String, String, String) {
    let org = |name: &str, kind: &str, parent: Option<&str>| json!({ "name": name, "kind": kind, "parent": parent, "language": "en" });
    let post = |body: Value| async move {
        let (s, v) = server.api(Method::POST, "/api/v1/orgs", Some(body)).await;
        assert_eq!(s, 201, "{v}");
        v["id"].as_str().unwrap().to_string()
    };
    let bloc = post(org("Đảng ủy Khối các cơ quan tỉnh", "bloc", None)).await;
    let base = post(org("Đảng ủy Sở Nội vụ", "base", Some(&bloc))).await;
    let a = post(org("Chi bộ Văn phòng", "cell", Some(&base))).await;
    let b = post(org("Chi bộ Thanh tra", "cell", Some(&base))).await;
    (bloc, a, b)
}

/// A meeting in `org` with `wav` uploaded and sealed; returns (meeting, recording).
async fn recorded_meeting(server: &Server, org: &str, title: &str, wav: &[u8]) -> (String, String) {
    let m = json!({ "org": org, "kind": "regular", "title": title, "scheduled_at": "2026-09-15T08:00:00+07:00" });
    let (s, m) = server.api(Method::POST, "/api/v1/meetings", Some(m)).await;
    assert_eq!(s, 201, "{m}");
    let meeting = m["id"].as_str().unwrap().to_string();
    let (s, up) = server.upload(&meeting, wav.to_vec()).await;
    assert_eq!(s, 201, "{up}");
    let rec = up["recording"].as_str().unwrap().to_string();
    server.seal(&rec).await;
    (meeting, rec)
}

/// Searches as `token` until `n` meetings come back (transcription and indexing
/// run in the background).
async fn search_until(server: &Server, token: &str, q: &str, n: usize, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let resp = server
            .http()
            .get(format!("{}/api/v1/search", server.url))
            .query(&[("q", q)])
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        if v["meetings"].as_array().map(Vec::len) == Some(n) {
            return v;
        }
        let (_, jobs) = server.api(Method::GET, "/api/v1/jobs", None).await;
        assert!(
            Instant::now() < deadline,
            "{q:?}: not {n} meetings within {within:?}: {v}\njobs: {jobs}\nlog:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn get_as(server: &Server, token: &str, path: &str) -> u16 {
    server.http().get(format!("{}{path}", server.url)).bearer_auth(token).send().await.unwrap().status().as_u16()
}

fn artifacts() -> std::path::PathBuf {
    let dir = niem_tests::root().join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inspector_finds_the_moment_plays_it_and_is_ledgered() {
    let dir = tempfile::tempdir().unwrap();
    let wav = std::fs::read(speech::clip(dir.path(), "english", "en-us", &SENTENCES, 26.0)).unwrap();
    let model = speech::model().display().to_string();
    let mut server =
        Server::start(SeaweedFs::shared().store().await, &[("NIEM_TRANSCRIBE__MODEL", model.as_str())]).await;
    let (bloc, cell_a, cell_b) = tree(&server).await;
    let (meeting_a, rec_a) = recorded_meeting(&server, &cell_a, "Sinh hoạt chi bộ tháng 9", &wav).await;
    let (meeting_b, rec_b) = recorded_meeting(&server, &cell_b, "Sinh hoạt chi bộ Thanh tra", &wav).await;
    let (inspector, inspector_token) = server.user("kiemtra.vanphong", "inspector", &[&cell_a], PASSWORD).await;
    let (_, bloc_token) = server.user("kiemtra.khoi", "inspector", &[&bloc], PASSWORD).await;
    let (_, auditor_token) = server.user("kiemtoan", "auditor", &[], PASSWORD).await;

    // Through the API: the admin sees both cells, the bloc inspector both, the
    // cell inspector only their cell, the auditor nothing.
    let admin = search_until(&server, &server.token, "new party members", 2, Duration::from_secs(240)).await;
    search_until(&server, &bloc_token, "new party members", 2, Duration::from_secs(5)).await;
    let scoped = search_until(&server, &inspector_token, "new party members", 1, Duration::from_secs(5)).await;
    assert_eq!(scoped["meetings"][0]["meeting"], meeting_a.as_str(), "{scoped}");
    assert_ne!(admin["meetings"][0]["meeting"], admin["meetings"][1]["meeting"]);
    let hit = &scoped["meetings"][0]["hits"][0];
    let at = hit["at_ms"].as_u64().unwrap() as f64 / 1000.0;
    println!("API hit for \"new party members\" at {at:.2} s (spoken at 10 s): {hit}");
    assert!((at - 10.0).abs() <= 1.0, "the hit's moment {at} s is not within 1 s of 10 s: {hit}");
    assert!(hit["snippet"].as_str().unwrap().contains("<b>"), "{hit}");
    let folded = search_until(&server, &inspector_token, "\"digital transformation\"", 1, Duration::from_secs(5)).await;
    assert_eq!(folded["meetings"][0]["meeting"], meeting_a.as_str());
    assert_eq!(get_as(&server, &auditor_token, "/api/v1/search?q=party").await, 403, "auditors get no content");
    assert_eq!(get_as(&server, &inspector_token, &format!("/api/v1/recordings/{rec_b}/transcript")).await, 403);
    assert_eq!(get_as(&server, &inspector_token, &format!("/api/v1/meetings/{meeting_b}")).await, 403);
    let stream_b = first_stream(&server, &rec_b).await;
    assert_eq!(
        get_as(&server, &inspector_token, &format!("/api/v1/recordings/{rec_b}/streams/{stream_b}/media")).await,
        403
    );
    assert_eq!(get_as(&server, &inspector_token, &format!("/api/v1/recordings/{rec_a}/transcript")).await, 200);
    let resp = server
        .http()
        .get(format!("{}/api/v1/meetings", server.url))
        .bearer_auth(&inspector_token)
        .send()
        .await
        .unwrap();
    let listed: Value = resp.json().await.unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "an inspector lists only their cell's meetings: {listed}");

    // In the browser, as the cell inspector.
    let browser = Browser::start(1366, 768).await;
    browser.goto(&format!("{}/search", server.url)).await;
    let name = browser.wait_for("input[name=name]", Duration::from_secs(10)).await;
    assert!(browser.url().await.contains("/login?next="), "signed out users are sent to sign in");
    browser.type_text(&name, "kiemtra.vanphong").await;
    browser.type_text(&browser.find("input[name=password]").await.unwrap(), PASSWORD).await;
    browser.click(&browser.find("form button[type=submit]").await.unwrap()).await;
    let q = browser.wait_for("input[name=q]", Duration::from_secs(10)).await;
    browser.type_text(&q, "new party members").await;
    browser.click(&browser.find("form.search button[type=submit]").await.unwrap()).await;
    let first = browser.wait_for("article.meeting a.hit", Duration::from_secs(10)).await;
    assert_eq!(browser.find_all("article.meeting").await.len(), 1, "the scope holds in the page too");
    let search_weight = page_weight(&browser).await;
    let hit_ms: f64 = browser
        .eval(
            "return Number(arguments[0].dataset.atMs)",
            vec![json!({ "element-6066-11e4-a52e-4f735466cecf": first.0 })],
        )
        .await
        .as_f64()
        .unwrap();
    browser.click(&first).await;
    browser.wait_for("#player", Duration::from_secs(10)).await;
    let played = current_time(&browser).await;
    println!("browser: hit at {:.2} s, player at {played:.2} s", hit_ms / 1000.0);
    assert!((played - hit_ms / 1000.0).abs() <= 1.0, "the player is at {played} s, the hit at {} s", hit_ms / 1000.0);
    assert!((played - 10.0).abs() <= 1.5, "the player is at {played} s; the phrase was spoken at 10 s");

    // The page: Vietnamese, intact, light, and usable on a phone.
    let text = browser.eval("return document.body.innerText", vec![]).await.as_str().unwrap().to_string();
    for words in [
        "Tìm kiếm",
        "Trực tiếp",
        "Đăng xuất",
        "Bản chép lời tự động",
        "Toàn vẹn",
        "cán bộ kiểm tra",
        "Chi bộ Văn phòng",
    ] {
        assert!(text.contains(words), "{words:?} is not on the page:\n{text}");
    }
    assert!(!text.contains('Ã') && !text.contains('\u{FFFD}'), "mojibake on the page:\n{text}");
    assert_eq!(browser.eval("return document.documentElement.lang", vec![]).await, "vi");
    let lines = browser.find_all("a.line").await.len();
    assert!(lines >= 3, "{lines} transcript lines");
    let meeting_weight = page_weight(&browser).await;
    println!("page weight before media: search {search_weight} B, meeting {meeting_weight} B");
    assert!(
        search_weight < 200_000 && meeting_weight < 200_000,
        "pages over 200 KB: {search_weight} / {meeting_weight}"
    );
    browser.screenshot(&artifacts().join("web-meeting-1366x768.png")).await;
    browser.set_window(390, 844).await;
    let overflow = browser
        .eval("return document.documentElement.scrollWidth - document.documentElement.clientWidth", vec![])
        .await
        .as_i64()
        .unwrap();
    assert!(overflow <= 0, "the meeting page scrolls sideways on a phone by {overflow} px");
    browser.screenshot(&artifacts().join("web-meeting-phone.png")).await;

    // Clicking a transcript line seeks the player in place.
    browser.set_window(1366, 768).await;
    let third = browser.find_all("a.line").await.pop().unwrap();
    let line_t: f64 = browser
        .eval("return Number(arguments[0].dataset.t)", vec![json!({ "element-6066-11e4-a52e-4f735466cecf": third.0 })])
        .await
        .as_f64()
        .unwrap();
    browser.click(&third).await;
    let now = current_time_near(&browser, line_t).await;
    assert!((now - line_t).abs() <= 1.0, "clicked a line at {line_t} s, the player is at {now} s");

    // English on request.
    browser.click(&browser.find("a.lang").await.unwrap()).await;
    browser.wait_for("html[lang=en]", Duration::from_secs(10)).await;
    let text = browser.eval("return document.querySelector('header').innerText", vec![]).await;
    assert!(text.as_str().unwrap().contains("Search"), "{text}");
    drop(browser);

    // The ledger, as niem-audit reads it from the store.
    let searches = ledgered(&server, "search.performed", &format!("user:{inspector}")).await;
    // The query is a sealed fact: who searched, the filters and the count in clear.
    assert!(!searches.contains("new party members") && !searches.contains("party"), "{searches}");
    assert!(searches.contains("\"sealed\"") && searches.contains("\"results\""), "{searches}");
    let plays = ledgered(&server, "media.played", &format!("user:{inspector}")).await;
    assert!(plays.contains(&format!("recording/{rec_a}/")), "{plays}");
    assert!(!plays.contains(&format!("recording/{rec_b}/")), "{plays}");

    // The index is derived data, sealed on disk: no transcript word is on disk
    // in clear, a rebuild from the store and a restart answer the same.
    // Not "committee": the catalog's schema names the meeting kind `committee`.
    let words: Vec<Vec<u8>> = ["admission", "inspection", "budget"].iter().map(|w| w.as_bytes().to_vec()).collect();
    for file in walk(&server.data_dir()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        for w in &words {
            if let Some(at) = bytes.windows(w.len()).position(|x| x == &w[..]) {
                let around =
                    String::from_utf8_lossy(&bytes[at.saturating_sub(200)..(at + 100).min(bytes.len())]).into_owned();
                panic!("transcript text on disk in {}: …{around}…", file.display());
            }
        }
    }
    let (s, rebuilt) = server.api(Method::POST, "/api/v1/index/rebuild", None).await;
    assert_eq!((s, rebuilt["indexed"].as_u64()), (200, Some(2)), "{rebuilt}");
    let again = search_until(&server, &inspector_token, "new party members", 1, Duration::from_secs(5)).await;
    assert_eq!(again["meetings"][0]["hits"][0]["at_ms"], hit["at_ms"], "{again}");
    server.restart().await;
    let again = search_until(&server, &inspector_token, "new party members", 1, Duration::from_secs(30)).await;
    assert_eq!(again["meetings"][0]["hits"][0]["at_ms"], hit["at_ms"], "{again}");
}

async fn first_stream(server: &Server, rec: &str) -> String {
    let (_, r) = server.api(Method::GET, &format!("/api/v1/recordings/{rec}"), None).await;
    r["manifest"]["streams"][0]["id"].as_str().unwrap().to_string()
}

/// Bytes the page and its assets took, media excluded.
async fn page_weight(browser: &Browser) -> u64 {
    let script = "return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
        .filter(e => e.initiatorType !== 'video' && e.initiatorType !== 'audio' && !e.name.includes('/media'))
        .reduce((n, e) => n + (e.decodedBodySize || 0) + 500, 0)";
    browser.eval(script, vec![]).await.as_u64().unwrap_or(u64::MAX)
}

/// The player's position once it has sought to its start.
async fn current_time(browser: &Browser) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = browser
            .eval(
                "const p = document.getElementById('player'); return [p.readyState, p.currentTime, p.seeking]",
                vec![],
            )
            .await;
        let (ready, t, seeking) =
            (v[0].as_u64().unwrap_or(0), v[1].as_f64().unwrap_or(0.0), v[2].as_bool().unwrap_or(true));
        if ready >= 1 && t > 0.0 && !seeking {
            return t;
        }
        assert!(Instant::now() < deadline, "the player never sought: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn current_time_near(browser: &Browser, t: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = current_time(browser).await;
        if (now - t).abs() <= 1.0 || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `niem-audit log --action A --json` lines by `actor`, once there are some.
async fn ledgered(server: &Server, action: &str, actor: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, log) = server.audit(&["log"], &["--action", action, "--json"]);
        assert_eq!(code, 0, "{log}");
        let mine: Vec<&str> = log.lines().filter(|l| l.contains(actor)).collect();
        if !mine.is_empty() {
            return mine.join("\n");
        }
        assert!(Instant::now() < deadline, "no {action} by {actor} in the store's ledger: {log}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Sign-in without a browser: cookie flags, CSRF on forms and on the API, the
/// attempt limit, redirects that stay on the site.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_guarded() {
    let server = Server::start(StoreKind::Local, &[("NIEM_WEB__LOGIN_ATTEMPTS", "3")]).await;
    let (s, _) = server
        .api(
            Method::POST,
            "/api/v1/users",
            Some(json!({ "name": "kt", "role": "inspector", "password": "short", "scopes": [] })),
        )
        .await;
    assert_eq!(s, 400);
    let meeting = server.meeting().await;
    let (_, m) = server.api(Method::GET, &format!("/api/v1/meetings/{meeting}"), None).await;
    let (s, u) = server
        .api(
            Method::POST,
            "/api/v1/users",
            Some(json!({ "name": "kt", "role": "inspector", "password": PASSWORD, "scopes": [m["org"]] })),
        )
        .await;
    assert_eq!(s, 201, "{u}");
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login = |name: &'static str, password: &'static str, next: &'static str| {
        let client = client.clone();
        let url = server.url.clone();
        async move {
            let form = client.get(format!("{url}/login")).send().await.unwrap();
            let cookie = form.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
            let token = cookie.split_once('=').unwrap().1.to_string();
            client
                .post(format!("{url}/login"))
                .header("cookie", cookie)
                .form(&[("name", name), ("password", password), ("csrf", &token), ("next", next)])
                .send()
                .await
                .unwrap()
        }
    };

    let ok = login("kt", PASSWORD, "https://evil.example/").await;
    assert_eq!(ok.status(), 303, "{:?}", ok.text().await);
    assert_eq!(ok.headers()["location"], "/search", "no open redirect");
    let set = ok.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set.starts_with("niem_session=") && set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
    let session = set.split(';').next().unwrap().to_string();
    let page = client.get(format!("{}/search", server.url)).header("cookie", &session).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    let csrf = html.split("name=\"csrf-token\" content=\"").nth(1).unwrap().split('"').next().unwrap().to_string();

    // A session changes nothing through the API without its CSRF token.
    let create = |csrf: Option<String>| {
        let mut r = client.post(format!("{}/api/v1/meetings", server.url)).header("cookie", &session).json(
            &json!({ "org": m["org"], "kind": "regular", "title": "x", "scheduled_at": "2026-11-22T08:00:00+07:00" }),
        );
        if let Some(c) = csrf {
            r = r.header("x-csrf-token", c);
        }
        r.send()
    };
    assert_eq!(create(None).await.unwrap().status(), 403, "no CSRF token");
    assert_eq!(create(Some("wrong".into())).await.unwrap().status(), 403, "wrong CSRF token");
    assert_eq!(
        create(Some(csrf.clone())).await.unwrap().status(),
        403,
        "right token, but inspectors may not create meetings"
    );
    let logout = client
        .post(format!("{}/logout", server.url))
        .header("cookie", &session)
        .form(&[("csrf", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 403, "sign-out needs the CSRF token");
    let logout = client
        .post(format!("{}/logout", server.url))
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 303);
    let after = client.get(format!("{}/search", server.url)).header("cookie", &session).send().await.unwrap();
    assert_eq!(after.status(), 303, "the session ended");

    // Without the form's own token, no sign-in.
    let forged = client
        .post(format!("{}/login", server.url))
        .form(&[("name", "kt"), ("password", PASSWORD), ("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    // Three wrong passwords, then even the right one waits.
    for _ in 0..3 {
        assert_eq!(login("kt", "wrong password!", "/").await.status(), 401);
    }
    assert_eq!(login("kt", PASSWORD, "/").await.status(), 429);
    assert_eq!(login("nobody", "wrong password!", "/").await.status(), 429, "the address is over its limit too");

    let opened = ledgered(&server, "session.opened", "user:").await;
    assert_eq!(opened.lines().count(), 1, "one sign-in succeeded: {opened}");
    assert!(!server.log().contains(PASSWORD), "a password reached the log");
}

/// The admin pages in Chromium: a user with a scope, an endpoint whose key is
/// shown once, a policy and its shortening awaiting a second admin, a hold placed
/// and released, and the compliance report with its bars; each change ledgered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_manages_users_endpoints_retention_and_reads_the_report() {
    let server = Server::start(StoreKind::Local, &[]).await;
    let meeting = server.meeting().await;
    let (_, m) = server.api(Method::GET, &format!("/api/v1/meetings/{meeting}"), None).await;
    let cell = m["org"].as_str().unwrap().to_string();
    let (s, u) = server
        .api(Method::POST, "/api/v1/users", Some(json!({ "name": "quantri", "role": "admin", "password": PASSWORD })))
        .await;
    assert_eq!(s, 201, "{u}");
    let admin_id = u["id"].as_str().unwrap().to_string();

    let b = Browser::start(1366, 768).await;
    b.goto(&format!("{}/admin", server.url)).await;
    b.type_text(&b.wait_for("input[name=name]", Duration::from_secs(10)).await, "quantri").await;
    b.type_text(&b.find("input[name=password]").await.unwrap(), PASSWORD).await;
    b.click(&b.find("form button[type=submit]").await.unwrap()).await;

    // A user: an inspector of the cell.
    b.wait_for("form.admin input[name=name]", Duration::from_secs(10)).await;
    b.type_text(&b.find("form.admin input[name=name]").await.unwrap(), "kiemtra.moi").await;
    b.eval("document.querySelector('form.admin select[name=role]').value = 'inspector'; document.querySelector(`form.admin select[name=scope] option[value='${arguments[0]}']`).selected = true", vec![json!(cell)]).await;
    b.type_text(&b.find("form.admin input[name=password]").await.unwrap(), PASSWORD).await;
    b.click(&b.find("form.admin button[type=submit]").await.unwrap()).await;
    // The page before the post already has a table: wait for the user itself,
    // not for an element the old page also holds.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let created = loop {
        let (_, users) = server.api(Method::GET, "/api/v1/users", None).await;
        if let Some(u) = users.as_array().unwrap().iter().find(|u| u["name"] == "kiemtra.moi") {
            break u.clone();
        }
        assert!(std::time::Instant::now() < deadline, "the form made no user: {users}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    b.wait_for("table td", Duration::from_secs(10)).await;
    assert_eq!(created["role"], "inspector");
    assert_eq!(created["scopes"], json!([cell]));

    // An endpoint: its key shown once, on the answer only.
    b.goto(&format!("{}/admin/endpoints", server.url)).await;
    b.type_text(&b.wait_for("form.admin input[name=name]", Duration::from_secs(10)).await, "Điểm cầu Hội trường").await;
    b.click(&b.find("form.admin button[type=submit]").await.unwrap()).await;
    let key = b.text(&b.wait_for("code.key", Duration::from_secs(10)).await).await;
    assert!(key.len() >= 40, "{key:?}");
    b.goto(&format!("{}/admin/endpoints", server.url)).await;
    b.wait_for("table", Duration::from_secs(10)).await;
    assert!(b.find("code.key").await.is_none() && !b.source().await.contains(&key), "the key is shown once");

    // Retention: ten years, then one day: for the recording already sealed, a
    // shortening waits for another admin.
    // (A meeting of another month, so that the report below is unchanged.)
    let earlier = json!({ "org": cell, "kind": "regular", "title": "Sinh hoạt tháng 6", "scheduled_at": "2025-06-05T08:00:00+07:00" });
    let (s, earlier) = server.api(Method::POST, "/api/v1/meetings", Some(earlier)).await;
    assert_eq!(s, 201, "{earlier}");
    let (s, up) = server.upload(earlier["id"].as_str().unwrap(), niem_tests::wav::tone(1.0, 440.0, 16_000, None)).await;
    assert_eq!(s, 201, "{up}");
    server.seal(up["recording"].as_str().unwrap()).await;
    b.goto(&format!("{}/admin/retention", server.url)).await;
    let policies = "return document.querySelectorAll('table')[0].querySelectorAll('tr').length";
    for days in ["3650", "1"] {
        let rows = b.eval(policies, vec![]).await.as_u64().unwrap_or(0);
        b.type_text(&b.wait_for("form.admin input[name=keep_days]", Duration::from_secs(10)).await, days).await;
        b.click(&b.find("form.admin button[type=submit]").await.unwrap()).await;
        // The form is on the page before and after the post: wait for the new row.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while b.eval(policies, vec![]).await.as_u64().unwrap_or(0) <= rows {
            assert!(std::time::Instant::now() < deadline, "the {days}-day policy never appeared");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    b.goto(&format!("{}/admin/retention", server.url)).await;
    b.wait_for("table", Duration::from_secs(10)).await;
    let text = b.eval("return document.body.innerText", vec![]).await.as_str().unwrap().to_string();
    assert!(text.contains("chờ quản trị viên thứ hai phê duyệt"), "{text}");
    assert!(b.find("form.inline[action$='/approve']").await.is_none(), "no approving one's own shortening");
    // A hold, then its release with a reason.
    let hold_form = "form.admin[action='/admin/holds']";
    b.eval(&format!("const f = document.querySelector(\"{hold_form}\"); f.from.value = '2026-11-01'; f.to.value = '2026-11-30'; f.org.value = arguments[0];"), vec![json!(cell)]).await;
    b.type_text(&b.find(&format!("{hold_form} input[name=case_ref]")).await.unwrap(), "KT-2026-17").await;
    b.type_text(&b.find(&format!("{hold_form} input[name=reason]")).await.unwrap(), "Kiểm tra dấu hiệu vi phạm").await;
    b.click(&b.find(&format!("{hold_form} button")).await.unwrap()).await;
    let release = b.wait_for("form.inline[action$='/release'] input[name=reason]", Duration::from_secs(10)).await;
    b.type_text(&release, "Vụ việc đã kết luận").await;
    b.click(&b.find("form.inline[action$='/release'] button").await.unwrap()).await;
    // form.admin is on the page before the post lands too: wait instead for the
    // release form to go, which only the page after the post lacks.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while b.find("form.inline[action$='/release']").await.is_some() {
        assert!(std::time::Instant::now() < deadline, "the hold's release never landed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, holds) = server.api(Method::GET, "/api/v1/holds", None).await;
    assert_eq!(holds[0]["release_reason"], "Vụ việc đã kết luận", "{holds}");
    b.screenshot(&artifacts().join("web-admin-retention.png")).await;

    // The report for this month: the cell's meeting was missed.
    b.goto(&format!("{}/reports?month=2026-11", server.url)).await;
    b.wait_for("table.report", Duration::from_secs(10)).await;
    let rows = b.eval("return [...document.querySelectorAll('table.report tbody tr')].map(r => [...r.cells].map(c => c.innerText.trim()))", vec![]).await;
    let row = rows.as_array().unwrap().iter().find(|r| r[0] == "Chi bộ 1").unwrap_or_else(|| panic!("{rows}")).clone();
    assert_eq!(
        row.as_array().unwrap()[1..7].iter().map(|c| c.as_str().unwrap()).collect::<Vec<_>>(),
        vec!["1", "0", "0", "0", "0", "1"],
        "{row}"
    );
    let bars = b.eval("return [...document.querySelectorAll('td.bar progress')].map(p => p.value)", vec![]).await;
    assert_eq!(bars, json!([0]), "one bar, for the one org with meetings: none held");
    b.screenshot(&artifacts().join("web-report.png")).await;
    drop(b);

    let (code, log) = server.audit(&["log"], &["--action", "user.created", "--json"]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains(&format!("user:{admin_id}")), "the page's change is the admin's: {log}");
}

/// A meeting whose transcript is not made yet (no Whisper model on this server)
/// says so in Vietnamese, tells the inspector what to do, and shows no English
/// service message; the machine transcript is never called *biên bản*, the word
/// kept for the signed minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_transcript_is_explained_in_the_pages_language() {
    let server = Server::start(StoreKind::Local, &[]).await;
    let (_, cell, _) = tree(&server).await;
    let wav = niem_tests::wav::tone(1.0, 440.0, 16_000, None);
    let (meeting, rec) = recorded_meeting(&server, &cell, "Sinh hoạt tháng 9", &wav).await;
    server.user("kiemtra", "inspector", &[&cell], PASSWORD).await;
    let (s, session) = server.sign_in("kiemtra", PASSWORD).await;
    assert_eq!(s, 303);
    let page = server
        .http()
        .get(format!("{}/meetings/{meeting}", server.url))
        .header("cookie", session.unwrap())
        .header("accept-language", "vi")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Bản chép lời tự động") && page.contains("Chưa có bản chép lời:"), "{page}");
    assert!(page.contains("hãy báo quản trị viên"), "what to do: {page}");
    // *Biên bản* names the minutes' own section only, never the transcript.
    let transcript = page.split("<section class=\"transcript\">").nth(1).and_then(|t| t.split("</section>").next());
    let transcript = transcript.unwrap_or_else(|| panic!("no transcript section: {page}"));
    assert!(!transcript.to_lowercase().contains("biên bản"), "the transcript is not the minutes: {transcript}");
    let minutes = page.split("<section class=\"minutes\"").nth(1).unwrap_or_default();
    assert!(minutes.contains("Chưa có biên bản."), "the minutes' section says none are filed: {page}");
    // The evaluation's checklist names the minutes too ("Có biên bản").
    let evaluation = page
        .split("<section class=\"evaluation\"")
        .nth(1)
        .and_then(|e| e.split("</section>").next())
        .unwrap_or_default();
    let words = page
        .replace(evaluation, "")
        .replace("Chưa có biên bản.", "")
        .replace("Biên bản cuộc họp", "")
        .replace("tài liệu, biên bản, điểm danh", "");
    assert!(!words.to_lowercase().contains("biên bản"), "biên bản only for the minutes: {words}");
    assert!(!page.contains("is not ready") && !page.contains(&format!("recording {rec}")), "no English: {page}");
    assert!(!page.contains("GET /api/v1/jobs") && !page.contains("Whisper"), "no technical detail: {page}");
}

/// The meeting page as the inspector `kiemtra.hs` sees it.
async fn meeting_page(server: &Server, meeting: &str) -> String {
    let (s, session) = server.sign_in("kiemtra.hs", PASSWORD).await;
    assert_eq!(s, 303);
    let resp = server
        .http()
        .get(format!("{}/meetings/{meeting}", server.url))
        .header("cookie", session.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp.text().await.unwrap()
}

/// The meeting page's integrity badge covers the meeting record, not only the
/// recording: before any scheduled run its objects are counted and said to be
/// unchecked; then a run that finds one document's piece damaged in the store
/// turns that meeting's record line red and names the object, while another
/// meeting's intact record (a document and two attendance versions) is shown
/// checked, 3 of 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_meeting_badge_covers_the_record_objects() {
    let mut server = Server::start(StoreKind::Local, &[]).await;
    let (_, cell, _) = tree(&server).await;
    let member = server
        .create(&format!("/api/v1/orgs/{cell}/members"), json!({ "name": "Đỗ Thị Hoa", "joined": "2020-01-01" }))
        .await;
    let meeting = |title: &str| {
        let body =
            json!({ "org": cell, "kind": "regular", "title": title, "scheduled_at": "2026-09-15T08:00:00+07:00" });
        let server = &server;
        async move { server.create("/api/v1/meetings", body).await }
    };
    let (good, bad) = (meeting("Họp tháng 9").await, meeting("Họp tháng 10").await);
    let mut docs = Vec::new();
    for m in [&good, &bad] {
        let mut pdf = b"%PDF-1.7\n".to_vec();
        pdf.extend((0..5000u32).map(|i| (i % 251) as u8));
        let resp = server
            .req(Method::POST, &format!("/api/v1/meetings/{m}/documents"))
            .query(&[("filename", "nghi-quyet.pdf")])
            .body(pdf)
            .send()
            .await
            .unwrap();
        let v: Value = resp.json().await.unwrap();
        docs.push(v["id"].as_str().unwrap_or_else(|| panic!("{v}")).to_string());
    }
    let sheet = |reason: Option<&str>| json!({ "members": [{ "member": member, "status": "present", "point": "Hội trường" }], "reason": reason });
    for reason in [None, Some("Bổ sung")] {
        let (s, v) = server.api(Method::PUT, &format!("/api/v1/meetings/{good}/attendance"), Some(sheet(reason))).await;
        assert_eq!(s, 201, "{v}");
    }
    server.user("kiemtra.hs", "inspector", &[&cell], PASSWORD).await;
    let admin = json!({ "name": "quantri.hs", "role": "admin", "password": PASSWORD });
    assert_eq!(server.api(Method::POST, "/api/v1/users", Some(admin)).await.0, 201);
    let before = meeting_page(&server, &good).await;
    assert!(before.contains("badge unknown record") && before.contains("3 đối tượng đã niêm phong"), "{before}");

    // A byte flipped in the second meeting's document, then a scheduled run.
    let raw = server.raw_store().await;
    let piece = format!("meetings/{bad}/record/{}/00000000.niem", docs[1]);
    assert!(raw.list().await.contains(&piece), "{piece} not in the store");
    let mut bytes = raw.read(&piece).await;
    bytes[60] ^= 0x01;
    raw.delete(&piece).await;
    raw.write(&piece, bytes).await;
    // A day on, so that the next run's window (objects stored within a day of
    // the last run are always fetched) leaves these to their day in the cycle.
    server.set_env("NIEM_VERIFY__FIRST_AFTER_SECS", "1");
    server.set_env("NIEM_CLOCK_OFFSET_MINUTES", "1500");
    server.restart().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let broken = loop {
        let html = meeting_page(&server, &bad).await;
        if html.contains("badge broken record") {
            break html;
        }
        assert!(Instant::now() < deadline, "no red record badge after a minute: {html}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(broken.contains("Hãy báo quản trị viên"), "what to do: {broken}");
    assert!(!broken.contains(&piece), "the store's keys are for admins: {broken}");
    let (s, session) = server.sign_in("quantri.hs", PASSWORD).await;
    assert_eq!(s, 303);
    let admin = server.http().get(format!("{}/meetings/{bad}", server.url)).header("cookie", session.unwrap());
    let admin = admin.send().await.unwrap().text().await.unwrap();
    assert!(admin.contains("badge broken record") && admin.contains(&piece), "an admin sees the object: {admin}");
    assert!(broken.contains("Hồ sơ cuộc họp") && broken.contains("KHÔNG toàn vẹn"), "{broken}");
    let fine = meeting_page(&server, &good).await;
    assert!(fine.contains("badge ok record") && fine.contains("đã kiểm tra 3 / 3 đối tượng"), "{fine}");
    assert!(!fine.contains("badge broken record"), "{fine}");

    // Another day on, a rolling run (which fetches old objects only on their
    // day in the cycle) fetches the damaged record again: the damage stays
    // named, not forgotten.
    server.set_env("NIEM_CLOCK_OFFSET_MINUTES", "3000");
    server.restart().await;
    // The good meeting's line says when the run was: wait for a new one.
    let run_of =
        |html: &str| html.split("kiểm tra định kỳ ").nth(1).and_then(|t| t.split(')').next()).map(String::from);
    let first = run_of(&fine).unwrap_or_else(|| panic!("no run time: {fine}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while run_of(&meeting_page(&server, &good).await).as_deref() == Some(first.as_str()) {
        assert!(Instant::now() < deadline, "no second run after a minute: {}", server.log());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let still = meeting_page(&server, &bad).await;
    assert!(still.contains("badge broken record"), "the damage is still named: {still}");
    assert!(meeting_page(&server, &good).await.contains("badge ok record"));
}

/// The attendance form as an attacker would post it: without the session's
/// CSRF token, or as an inspector (who reads the sheet but never files it),
/// or naming a member of another cell: each refused, in Vietnamese, and no
/// version stored. The cell's secretary with the token stores version 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_attendance_form_refuses_forged_posts() {
    let server = Server::start(StoreKind::Local, &[]).await;
    let (_, cell, other) = tree(&server).await;
    let member = |org: &str, name: &str| {
        let body = json!({ "name": name, "joined": "2020-01-01" });
        let path = format!("/api/v1/orgs/{org}/members");
        let server = &server;
        async move { server.create(&path, body).await }
    };
    let (ours, stranger) = (member(&cell, "Vũ Văn Giang").await, member(&other, "Ngô Thị Hạnh").await);
    let body = json!({ "org": cell, "kind": "regular", "title": "Họp", "scheduled_at": "2026-09-15T08:00:00+07:00" });
    let meeting = server.create("/api/v1/meetings", body).await;
    server.user("thuky.f", "secretary", &[&cell], PASSWORD).await;
    server.user("kiemtra.f", "inspector", &[&cell], PASSWORD).await;
    let path = format!("{}/meetings/{meeting}/attendance", server.url);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    // A session and the CSRF token its pages carry.
    let session = |name: &'static str| {
        let (server, client, path) = (&server, &client, path.clone());
        async move {
            let cookie = server.sign_in(name, PASSWORD).await.1.unwrap();
            let html = client.get(&path).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
            let csrf = html.split("name=\"csrf-token\" content=\"").nth(1).and_then(|s| s.split('"').next());
            (cookie, csrf.unwrap_or_else(|| panic!("no CSRF token: {html}")).to_string())
        }
    };
    let post = |cookie: String, form: Vec<(String, String)>| {
        let (client, path) = (&client, path.clone());
        async move {
            let r = client.post(&path).header("cookie", cookie).form(&form).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let sheet = |csrf: &str, member: &str| {
        vec![
            ("csrf".to_string(), csrf.to_string()),
            ("versions".into(), "0".into()),
            (format!("status.{member}"), "present".into()),
            (format!("point.{member}"), "Hội trường".into()),
        ]
    };
    let versions = || async {
        let (_, v) = server.api(Method::GET, &format!("/api/v1/meetings/{meeting}/attendance"), None).await;
        v["versions"].as_array().map_or(usize::MAX, Vec::len)
    };
    let (secretary, token) = session("thuky.f").await;
    let (s, html) = post(secretary.clone(), sheet("forged", &ours)).await;
    assert_eq!(s, 403, "{html}");
    assert!(html.contains("Phiên làm việc đã hết hạn"), "{html}");
    let (inspector, its_token) = session("kiemtra.f").await;
    let (s, html) = post(inspector, sheet(&its_token, &ours)).await;
    assert_eq!(s, 403, "an inspector reads, never files: {html}");
    // A member of another cell, smuggled into the form with the secretary's token.
    let mut smuggled = sheet(&token, &ours);
    smuggled.push(("chair_point.0".into(), "Hội trường".into()));
    smuggled.push(("chair.0".into(), stranger.clone()));
    let (s, html) = post(secretary.clone(), smuggled).await;
    assert_eq!(s, 400, "{html}");
    assert!(html.contains("Người chủ trì không thuộc chi bộ") && !html.contains("Ngô Thị Hạnh"), "{html}");
    assert!(!html.contains("is not a member"), "no English: {html}");
    assert_eq!(versions().await, 0, "nothing stored");
    let (s, html) = post(secretary, sheet(&token, &ours)).await;
    assert_eq!(s, 303, "{html}");
    assert_eq!(versions().await, 1);
}

/// The sign-in limit as an attacker meets it: twelve wrong passwords sent at
/// once get at most the limit's worth of answers (each attempt is charged
/// before its password is checked), and a restart does not reset the count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_limit_holds_against_racing_attempts_and_a_restart() {
    let mut server = Server::start(StoreKind::Local, &[("NIEM_WEB__LOGIN_ATTEMPTS", "3")]).await;
    let meeting = server.meeting().await;
    let (_, m) = server.api(Method::GET, &format!("/api/v1/meetings/{meeting}"), None).await;
    let body = json!({ "name": "kt2", "role": "inspector", "password": PASSWORD, "scopes": [m["org"]] });
    let (s, u) = server.api(Method::POST, "/api/v1/users", Some(body)).await;
    assert_eq!(s, 201, "{u}");
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    // The same address after the restart (the listen address is in the env).
    let base = server.url.clone();
    let login = |password: &'static str| {
        let (client, url) = (client.clone(), base.clone());
        async move {
            let form = client.get(format!("{url}/login")).send().await.unwrap();
            let cookie = form.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
            let token = cookie.split_once('=').unwrap().1.to_string();
            let answer = client
                .post(format!("{url}/login"))
                .header("cookie", cookie)
                .form(&[("name", "kt2"), ("password", password), ("csrf", &token), ("next", "/")])
                .send()
                .await
                .unwrap();
            answer.status().as_u16()
        }
    };
    let answers = futures::future::join_all((0..12).map(|_| login("wrong password!"))).await;
    let checked = answers.iter().filter(|&&s| s == 401).count();
    assert_eq!(answers.iter().filter(|&&s| s == 429).count() + checked, 12, "{answers:?}");
    assert!(checked <= 3, "{checked} passwords checked against a limit of 3: {answers:?}");
    assert_eq!(login(PASSWORD).await, 429, "the right password waits too");
    server.stop();
    server.start_again().await;
    assert_eq!(login(PASSWORD).await, 429, "a restart does not reset the count");
    // Neither the address nor the name is kept in clear.
    for entry in std::fs::read_dir(server.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("catalog.db") {
            let bytes = std::fs::read(&path).unwrap();
            for clear in ["addr:127.0.0.1", "name:kt2"] {
                assert!(!bytes.windows(clear.len()).any(|w| w == clear.as_bytes()), "{clear:?} in {}", path.display());
            }
        }
    }
}
