//! Upgrades: today's `niem` on a data dir written by the previous release
//! (tests/fixtures/v0.1.0, made by tests/fixtures/make-v0.1.0.sh), on an empty
//! one, and on a catalog from a release newer than itself.

use archive::catalog::Catalog;
use niem_tests::server::{Server, StoreKind};
use niem_tests::stores::RawStore;
use reqwest::Method;
use serde_json::{json, Value};
use std::path::Path;

fn fixture() -> std::path::PathBuf {
    niem_tests::root().join("tests/fixtures/v0.1.0")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixture().join("expect.json")).expect("tests/fixtures/v0.1.0/expect.json");
    serde_json::from_str(&text).expect("expect.json is JSON")
}

/// What a catalog's schema is: (component, version) rows, and every table,
/// index and column as SQLite holds it.
#[derive(Debug, PartialEq)]
struct Schema {
    versions: Vec<(String, i64)>,
    objects: Vec<String>,
}

fn schema(path: &Path) -> Schema {
    // The server is stopped: opening runs no archive step it has not run.
    let cat = Catalog::open(path).expect("open catalog");
    cat.with(|c| {
        let mut s = c.prepare("SELECT component, version FROM schema_migrations ORDER BY component, version").unwrap();
        let versions = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(|r| r.unwrap()).collect();
        let mut s = c
            .prepare("SELECT type || ' ' || name || ': ' || COALESCE(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
            .unwrap();
        let objects = s.query_map([], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect();
        Schema { versions, objects }
    })
}

/// Copies the fixture's data dir over `to`, with the modes git does not keep
/// (the key loader refuses key files others can read).
fn install_fixture(to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fn private(p: &Path) {
        let mode = if p.is_dir() { 0o700 } else { 0o600 };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        if p.is_dir() {
            for e in std::fs::read_dir(p).unwrap() {
                private(&e.unwrap().path());
            }
        }
    }
    if to.exists() {
        std::fs::remove_dir_all(to).unwrap();
    }
    niem_tests::copy_dir(&fixture().join("data"), to);
    private(&to.join("keys"));
}

/// Today's niem on an empty data dir, stopped: its catalog is the reference an
/// upgraded one must equal.
async fn fresh() -> (Server, Schema) {
    let mut server = Server::start(StoreKind::Local, &[]).await;
    server.stop();
    let s = schema(&server.data_dir().join("catalog.db"));
    (server, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_catalog_gets_every_migration_once() {
    let (mut server, first) = fresh().await;
    for component in ["ledger", "archive", "ingest"] {
        let versions: Vec<i64> = first.versions.iter().filter(|(c, _)| c == component).map(|(_, v)| *v).collect();
        assert!(!versions.is_empty(), "{component} has migrations: {first:?}");
        assert_eq!(versions, (0..versions.len() as i64).collect::<Vec<_>>(), "{component}: every step, in order, once");
    }
    server.start_again().await;
    server.stop();
    assert_eq!(schema(&server.data_dir().join("catalog.db")), first, "a second start runs nothing again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v0_1_0_data_dir_upgrades_in_place() {
    let expect = expected();
    let (mut server, reference) = fresh().await;
    let before = RawStore::Local(fixture().join("data/store")).snapshot().await;
    install_fixture(&server.data_dir());
    // As v0.1.0 left them (read by the script: opening the catalog here would migrate it).
    let old_versions: Vec<(String, i64)> =
        serde_json::from_value(expect["migrations"].clone()).expect("fixture migrations");

    server.token = expect["token"].as_str().unwrap().to_string(); // a token v0.1.0 issued
    server.start_again().await;

    // Through the API: what v0.1.0 stored is all there.
    let (s, orgs) = server.api(Method::GET, "/api/v1/orgs", None).await;
    assert_eq!(s, 200, "{orgs}");
    for (kind, name) in
        [("bloc", "Đảng ủy Khối các cơ quan tỉnh"), ("base", "Đảng ủy Sở Tài chính"), ("cell", "Chi bộ Văn phòng")]
    {
        let id = &expect["orgs"][kind];
        assert!(
            orgs.as_array().unwrap().iter().any(|o| o["id"] == *id && o["name"] == name && o["kind"] == kind),
            "{kind} {id} in {orgs}"
        );
    }
    let (s, meeting) =
        server.api(Method::GET, &format!("/api/v1/meetings/{}", expect["meeting"].as_str().unwrap()), None).await;
    assert_eq!(s, 200, "{meeting}");
    assert_eq!(meeting["title"], "Sinh hoạt chi bộ tháng 11");
    let rec = expect["recording"].as_str().unwrap();
    let stream = expect["stream"].as_str().unwrap();
    let (s, recording) = server.api(Method::GET, &format!("/api/v1/recordings/{rec}"), None).await;
    assert_eq!((s, recording["state"].as_str()), (200, Some("sealed")), "{recording}");
    let (_, users) = server.api(Method::GET, "/api/v1/users", None).await;
    let inspector =
        users.as_array().unwrap().iter().find(|u| u["name"] == "kiem.tra").unwrap_or_else(|| panic!("{users}"));
    assert_eq!(inspector["scopes"], json!([expect["orgs"]["base"]]), "{inspector}");
    let (_, endpoints) = server.api(Method::GET, "/api/v1/endpoints", None).await;
    assert!(endpoints.to_string().contains(expect["endpoint"].as_str().unwrap()), "{endpoints}");
    let (_, policies) = server.api(Method::GET, "/api/v1/retention/policies", None).await;
    assert!(policies.to_string().contains(expect["policy"].as_str().unwrap()), "{policies}");
    let (_, holds) = server.api(Method::GET, "/api/v1/holds", None).await;
    assert!(holds.to_string().contains(expect["hold"].as_str().unwrap()), "{holds}");

    // The sealed recording plays, byte-exact, to the inspector's old token, and verifies.
    let resp = server
        .http()
        .get(format!("{}/api/v1/recordings/{rec}/streams/{stream}/media", server.url))
        .bearer_auth(expect["inspector_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body = resp.bytes().await.unwrap();
    assert_eq!(
        hex::encode(ring::digest::digest(&ring::digest::SHA256, &body)),
        expect["upload_sha256"].as_str().unwrap()
    );
    let (s, v) = server.api(Method::POST, &format!("/api/v1/recordings/{rec}/verify"), None).await;
    assert_eq!((s, &v["intact"]), (200, &json!(true)), "{v}");

    // The admin signs in with the password set under v0.1.0 (its argon2id hash).
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = client.get(format!("{}/login", server.url)).send().await.unwrap();
    let cookie = form.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let csrf = cookie.split_once('=').unwrap().1.to_string();
    let signed_in = client
        .post(format!("{}/login", server.url))
        .header("cookie", cookie)
        .form(&[
            ("name", "quan.tri"),
            ("password", expect["admin"]["password"].as_str().unwrap()),
            ("csrf", &csrf),
            ("next", "/search"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status().as_u16(), 303, "{:?}", signed_in.text().await);
    assert!(signed_in.headers()["set-cookie"].to_str().unwrap().starts_with("niem_session="));

    server.stop(); // a final checkpoint over the new entries

    // Migrations ran: the upgraded catalog is exactly what a fresh one is.
    let upgraded = schema(&server.data_dir().join("catalog.db"));
    assert_eq!(upgraded, reference, "upgraded from {old_versions:?}");
    assert!(old_versions.iter().all(|v| upgraded.versions.contains(v)));

    // Not one object v0.1.0 wrote was rewritten (the ledger holds their hashes).
    let after = server.raw_store().await.snapshot().await;
    for (key, bytes) in &before {
        assert!(after.get(key) == Some(bytes), "{key} changed or went missing in the upgrade");
    }
    assert!(after.len() > before.len(), "the upgraded service wrote new ledger batches and checkpoints");

    // The ledger goes on from v0.1.0's head: the next entry links to it.
    let head = &expect["ledger_head"];
    let seq = head["seq"].as_u64().unwrap();
    let (code, out) = server.audit(&["log"], &["--json", "--since", &seq.to_string()]);
    assert_eq!(code, 0, "{out}");
    let entries: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("{l}"))).collect();
    assert!(entries.len() >= 3, "old head, then the upgraded service's entries: {out}");
    assert_eq!(
        (entries[0]["seq"].as_u64(), &entries[0]["hash"]),
        (Some(seq), &head["hash"]),
        "the old head is where it was"
    );
    assert_eq!(
        (entries[1]["seq"].as_u64(), &entries[1]["prev"]),
        (Some(seq + 1), &head["hash"]),
        "the new chain links to it"
    );
    assert!(entries.iter().any(|e| e["action"] == "media.played"
        && e["actor"] == format!("user:{}", expect["inspector"]["id"].as_str().unwrap())));
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 0, "the upgraded store verifies:\n{out}");
    assert!(out.contains("Store is INTACT."), "{out}");

    // An object of a later storage format (a checkpoint a newer niem signed):
    // not verified, exit 2, and the reason; damage beside it still wins, exit 1.
    let raw = server.raw_store().await;
    let free = (0..seq).map(|s| format!("checkpoints/{s:012}.json")).find(|k| !after.contains_key(k)).unwrap();
    raw.write(&free, serde_json::to_vec(&json!({ "format": "niem/checkpoint/v2", "note": "…" })).unwrap()).await;
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!("checkpoint {free} NOT VERIFIED: storage format v2; this niem knows v1; upgrade niem")),
        "{out}"
    );
    assert!(out.contains("Store could NOT be verified"), "{out}");
    raw.write(&format!("recordings/{rec}/stray.bin"), b"x".to_vec()).await;
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 1, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_from_a_newer_niem_is_refused_at_start() {
    let (server, _) = fresh().await;
    install_fixture(&server.data_dir());
    let path = server.data_dir().join("catalog.db");
    Catalog::open(&path)
        .unwrap()
        .with(|c| c.execute("INSERT INTO schema_migrations (component, version) VALUES ('ingest', 999)", []))
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    for args in [&["serve"][..], &["user", "list"][..]] {
        let (code, out) = server.niem(args);
        assert_ne!(code, 0, "niem {args:?} ran on a newer catalog:\n{out}");
        assert!(
            out.contains("catalog was written by a newer niem: its ingest schema is at version 999")
                && out.contains("upgrade niem"),
            "niem {args:?}:\n{out}"
        );
    }
    assert_eq!(std::fs::read(&path).unwrap(), before, "the refused catalog is left as it was");

    // A component this release does not have at all.
    Catalog::open(&path)
        .unwrap()
        .with(|c| {
            c.execute("DELETE FROM schema_migrations WHERE version = 999", [])?;
            c.execute("INSERT INTO schema_migrations (component, version) VALUES ('federation', 0)", [])
        })
        .unwrap();
    let (code, out) = server.niem(&["serve"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("its federation schema is at version 0, and this niem knows none; upgrade niem"), "{out}");
}

/// A rolling upgrade: a node of this release keeps running on a catalog that
/// the next release took one step further with an expand step (a new table),
/// and its writes still land; a step of that release without the mark (a
/// contraction) stops it, as any newer catalog does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_runs_on_a_catalog_the_next_release_only_expanded() {
    let (mut server, _) = fresh().await;
    server.stop();
    let path = server.data_dir().join("catalog.db");
    let known = niem_core::catalog::sqlite::MIGRATIONS.len();
    let next = [niem_core::catalog::sqlite::MIGRATIONS, &["-- expand\nCREATE TABLE next_release (x INTEGER)"]].concat();
    let cat = Catalog::open(&path).unwrap();
    cat.migrate("ingest", &next).unwrap();
    drop(cat);
    server.start_again().await;
    assert!(server.log().contains("migrated by a newer niem with expand steps only"), "{}", server.log());
    let (s, v) = server
        .api(reqwest::Method::POST, "/api/v1/orgs", Some(serde_json::json!({ "name": "x", "kind": "bloc" })))
        .await;
    assert_eq!(s, 201, "this release writes on the expanded catalog: {v}");
    server.stop();
    let contract = [next.clone(), vec!["DROP TABLE next_release"]].concat();
    let cat = Catalog::open(&path).unwrap();
    cat.migrate("ingest", &contract).unwrap();
    drop(cat);
    let (code, out) = server.niem(&["serve"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains(&format!("its ingest schema is at version {}", known + 1)), "{out}");
}

/// A store written by v0.1.0, whose entries carry no sealed facts, restores too:
/// everything the ledger names comes back, and what it could not hold (titles,
/// names, passwords, tokens, stream keys) is filled in and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v0_1_0_store_restores_with_placeholders_counted() {
    let expect = expected();
    let (mut server, _) = fresh().await;
    let old = tempfile::tempdir().unwrap();
    install_fixture(old.path());
    std::fs::remove_dir_all(server.data_dir()).unwrap();
    let (store, keys) = (old.path().join("store").display().to_string(), old.path().join("keys").display().to_string());
    server.set_env("NIEM_STORE__PATH", &store);
    server.set_env("NIEM_KEYS__DIR", &keys);
    let (code, out) = server.niem(&["restore", "--store", &store, "--keys", &keys]);
    println!("niem restore of the v0.1.0 store:\n{out}");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("restored 23 ledger entries") && out.contains("nothing lost"), "{out}");
    for gap in [
        "meetings without their title",
        "users without their name",
        "users whose password",
        "API tokens not in the ledger",
        "endpoints without their stream key",
    ] {
        assert!(out.contains(gap), "{gap:?} is counted: {out}");
    }
    // An operator issues a token offline, then the service runs on the restore.
    let (code, token) = server.niem(&["token", "create", "--role", "admin", "--name", "khoi.phuc"]);
    assert_eq!(code, 0, "{token}");
    server.token = token.lines().find(|l| l.starts_with("niem_")).unwrap().to_string();
    server.start_again().await;
    let (_, meeting) =
        server.api(Method::GET, &format!("/api/v1/meetings/{}", expect["meeting"].as_str().unwrap()), None).await;
    assert_eq!(meeting["recording"], expect["recording"], "{meeting}");
    let (s, body) = server.play(expect["recording"].as_str().unwrap(), expect["stream"].as_str().unwrap(), None).await;
    assert_eq!(s, 200);
    assert_eq!(archive::sha256_hex(&body), expect["upload_sha256"].as_str().unwrap(), "plays byte-exact");
    let (_, users) = server.api(Method::GET, "/api/v1/users", None).await;
    let inspector = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == expect["inspector"]["id"])
        .unwrap_or_else(|| panic!("{users}"));
    assert_eq!(
        inspector["scopes"],
        json!([expect["orgs"]["base"]]),
        "role and scope come back from the ledger: {inspector}"
    );
    assert_eq!(inspector["has_password"], false, "v0.1.0 never put the hash in the ledger: {inspector}");
}
