//! `niem catalog migrate-to`: a SQLite catalog with meetings, recordings,
//! transcripts, people and a resumable upload moves into PostgreSQL (the
//! harness's, from Debian's packages), checked table by table and against the
//! store's signed ledger; and the check has teeth: a second copy over data is
//! refused, and a row changed in the copy, or the same entry forged in both
//! catalogs, is caught.

use niem_tests::postgres::Postgres;
use niem_tests::seaweed::SeaweedFs;
use niem_tests::server::Server;
use serde_json::json;

/// `sql` on the database at `url`, off the async runtime (the driver runs its own).
async fn pg(url: &str, sql: &str) {
    let (url, sql) = (url.to_string(), sql.to_string());
    tokio::task::spawn_blocking(move || {
        postgres::Client::connect(&url, postgres::NoTls).unwrap().batch_execute(&sql).unwrap();
    })
    .await
    .unwrap();
}

/// A new database on the harness's PostgreSQL.
async fn database() -> String {
    tokio::task::spawn_blocking(|| Postgres::shared().database()).await.unwrap()
}

async fn pg_count(url: &str, table: &str) -> i64 {
    let (url, sql) = (url.to_string(), format!("SELECT COUNT(*) FROM {table}"));
    tokio::task::spawn_blocking(move || {
        postgres::Client::connect(&url, postgres::NoTls).unwrap().query_one(&sql, &[]).unwrap().get(0)
    })
    .await
    .unwrap()
}

fn sqlite_count(server: &Server, table: &str) -> i64 {
    catalog(server).with(|c| c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap())
}

/// The server's SQLite catalog (the server stopped).
fn catalog(server: &Server) -> archive::catalog::Catalog {
    archive::catalog::Catalog::open(&server.data_dir().join("catalog.db")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_with_data_moves_to_postgres_and_the_copy_is_checked_against_sqlite_and_the_store() {
    let seaweed = SeaweedFs::shared();
    let mut server = Server::start(seaweed.store().await, &[]).await;
    // Meetings uploaded, sealed and transcribed (synthetic words), through the domain.
    server.seed(&["--hours", "2", "--meeting-hours", "1"]).await;
    let (s, user) = server
        .api(
            reqwest::Method::POST,
            "/api/v1/users",
            Some(json!({ "name": "kiemtra.tinh", "role": "auditor", "password": "mật khẩu đủ dài 2026" })),
        )
        .await;
    assert_eq!(s, 201, "{user}");
    // A resumable upload half way: its tail key is in the catalog, wrapped.
    let meeting = server.meeting().await;
    let file = niem_tests::wav::tone(20.0, 440.0, 48_000, None);
    let location = server.tus_create(&meeting, file.len() as u64).await;
    assert_eq!(server.tus_patch(&location, 0, file[..file.len() / 2].to_vec()).await.status(), 204);
    server.stop();

    let url = database().await;
    let (code, out) = server.niem(&["catalog", "migrate-to", &url]);
    println!("{out}");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("every table matches the SQLite catalog"), "{out}");
    for table in [
        "recordings",
        "streams",
        "chunks",
        "transcripts",
        "key_objects",
        "meetings",
        "users",
        "jobs",
        "uploads",
        "ledger",
    ] {
        let (lite, copy) = (sqlite_count(&server, table), pg_count(&url, table).await);
        assert!(lite > 0, "the test's catalog has {table} rows to move");
        assert_eq!(lite, copy, "{table}");
    }
    let ledger = sqlite_count(&server, "ledger");
    assert!(out.contains(&format!("ledger's {ledger} entries match the store's signed checkpoints")), "{out}");

    // A second copy over it is refused, and leaves it as it was.
    let (code, again) = server.niem(&["catalog", "migrate-to", &url]);
    assert_ne!(code, 0, "{again}");
    assert!(again.contains("already holds data"), "{again}");
    assert_eq!(pg_count(&url, "ledger").await, ledger);

    // A chunk's hash changed in the copy: the check names the table.
    pg(&url, "UPDATE chunks SET sha256 = repeat('0', 64) WHERE idx = 0 AND stream = (SELECT MIN(stream) FROM chunks)")
        .await;
    let (code, bad) = server.niem(&["catalog", "check-copy", &url]);
    assert_ne!(code, 0, "{bad}");
    assert!(bad.contains("table chunks"), "{bad}");

    // The same entry forged in both catalogs: the tables agree, the store does not.
    let fresh = database().await;
    let (code, out) = server.niem(&["catalog", "migrate-to", &fresh]);
    assert_eq!(code, 0, "{out}");
    let forged = "UPDATE ledger SET actor = 'forged' WHERE seq = 1";
    catalog(&server).with(|c| c.execute_batch(forged)).unwrap();
    pg(&fresh, forged).await;
    let (code, bad) = server.niem(&["catalog", "check-copy", &fresh]);
    assert_ne!(code, 0, "{bad}");
    assert!(bad.contains("ledger entry 1 differs between the copy and the store"), "{bad}");
}
