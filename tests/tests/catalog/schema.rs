//! The PostgreSQL baseline against SQLite's migrations: the same tables, the
//! same columns in the same order, the same nullability and compatible types,
//! and the same steps recorded; and PostgreSQL's migration rules (refusing a
//! newer catalog, running on one only expanded) as SQLite's.

use crate::Fresh;
use archive::catalog::{Catalog, CatalogError};
use niem_core::catalog::postgres::{migrate, schema::require_migrated};
use niem_core::catalog::sqlite::MIGRATIONS;
use niem_tests::postgres::Postgres;
use std::collections::BTreeMap;

/// Tables only PostgreSQL has: the ledger's head and the mirror's lease, which
/// SQLite's single writer does not need.
const POSTGRES_ONLY: &[&str] = &["ledger_head", "mirror_lease"];

#[derive(Debug, PartialEq)]
struct Column {
    name: String,
    kind: &'static str,
    not_null: bool,
}

type Schema = BTreeMap<String, Vec<Column>>;

/// A declared type as one of four kinds both engines share.
fn kind(declared: &str) -> &'static str {
    match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" => "integer",
        "boolean" => "flag",
        "text" => "text",
        "blob" | "bytea" => "bytes",
        other => panic!("a column of type {other:?}: map it here"),
    }
}

fn sqlite_schema() -> (Schema, Vec<(String, i64, i64)>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cat = Catalog::open(&dir.path().join("catalog.db")).unwrap();
    cat.migrate("ingest", MIGRATIONS).unwrap();
    cat.with(|c| {
        let tables: Vec<String> = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let mut schema = Schema::new();
        for t in tables {
            let mut stmt =
                c.prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1) ORDER BY cid").unwrap();
            let cols = stmt
                .query_map([&t], |r| {
                    let (name, ty, nn, pk): (String, String, bool, i64) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
                    // A key column is NOT NULL in PostgreSQL without saying so; SQLite
                    // would take a NULL in a TEXT key, which no caller writes.
                    let not_null = nn || pk > 0;
                    Ok((name, ty, not_null))
                })
                .unwrap()
                .map(Result::unwrap)
                .map(|(name, ty, not_null)| Column { name, kind: kind(&ty), not_null })
                .collect();
            schema.insert(t, cols);
        }
        let steps = c
            .prepare("SELECT component, version, requires FROM schema_migrations ORDER BY component, version")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        (schema, steps, dir)
    })
}

fn postgres_schema(c: &mut postgres::Client) -> (Schema, Vec<(String, i64, i64)>) {
    let mut schema = Schema::new();
    for r in c
        .query(
            "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text FROM information_schema.columns
             WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
            &[],
        )
        .unwrap()
    {
        let (table, name, ty, nullable): (String, String, String, String) = (r.get(0), r.get(1), r.get(2), r.get(3));
        if POSTGRES_ONLY.contains(&table.as_str()) {
            continue;
        }
        schema.entry(table).or_default().push(Column { name, kind: kind(&ty), not_null: nullable == "NO" });
    }
    let steps = c
        .query("SELECT component, version, requires FROM schema_migrations ORDER BY component, version", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    (schema, steps)
}

#[test]
fn the_postgres_baseline_is_sqlites_schema_column_by_column() {
    let (lite, lite_steps, _dir) = sqlite_schema();
    let fresh = Fresh::new();
    let mut c = Fresh::connect(&fresh.url);
    let (pg, pg_steps) = postgres_schema(&mut c);
    assert_eq!(
        lite.keys().collect::<Vec<_>>(),
        pg.keys().collect::<Vec<_>>(),
        "the same tables in both engines (PostgreSQL's own: {POSTGRES_ONLY:?})"
    );
    for (table, cols) in &lite {
        let pg_cols = &pg[table];
        // SQLite stores flags as integers: the names and order must match, and a
        // PostgreSQL flag must be an integer in SQLite.
        let names = |cs: &[Column]| cs.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(cols), names(pg_cols), "columns of {table}");
        for (l, p) in cols.iter().zip(pg_cols) {
            let same_kind = l.kind == p.kind || (l.kind == "integer" && p.kind == "flag");
            assert!(same_kind, "{table}.{}: {} in SQLite, {} in PostgreSQL", l.name, l.kind, p.kind);
            assert_eq!(l.not_null, p.not_null, "{table}.{} NOT NULL", l.name);
        }
    }
    assert_eq!(lite_steps, pg_steps, "the baseline records the steps SQLite's migrations do, with their requirements");
}

#[test]
fn postgres_refuses_a_newer_catalog_unless_only_expanded_and_never_migrates_back() {
    let fresh = Fresh::new();
    let mut c = Fresh::connect(&fresh.url);
    migrate(&mut c).expect("a second start finds the catalog at its release");
    require_migrated(&mut c).expect("a worker runs on it");

    let next = i64::try_from(MIGRATIONS.len()).unwrap();
    // The next release's expand step: this release runs on it.
    c.execute("INSERT INTO schema_migrations (component, version, requires) VALUES ('ingest', $1, $1)", &[&next])
        .unwrap();
    migrate(&mut c).expect("runs on a catalog only expanded past it");
    // A contraction after it: refused, and nothing changes.
    c.execute(
        "INSERT INTO schema_migrations (component, version, requires) VALUES ('ingest', $1, $2)",
        &[&(next + 1), &(next + 2)],
    )
    .unwrap();
    let err = migrate(&mut c).unwrap_err();
    assert!(matches!(err, CatalogError::Newer { .. }), "{err}");
    assert!(err.to_string().contains("newer niem"), "{err}");
    assert!(matches!(require_migrated(&mut c), Err(CatalogError::Newer { .. })));

    // A component this release does not know: refused.
    let other = Fresh::new();
    let mut c = Fresh::connect(&other.url);
    c.execute("INSERT INTO schema_migrations (component, version, requires) VALUES ('quorum', 0, 1)", &[]).unwrap();
    assert!(matches!(migrate(&mut c), Err(CatalogError::Newer { .. })));
}

#[test]
fn nodes_starting_at_once_create_one_catalog() {
    let url = Postgres::shared().database();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || migrate(&mut Fresh::connect(&url)))
        })
        .collect();
    for h in handles {
        h.join().unwrap().expect("every node starts");
    }
    let n: i64 = Fresh::connect(&url)
        .query_one("SELECT COUNT(*) FROM schema_migrations WHERE component = 'ingest'", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, i64::try_from(MIGRATIONS.len()).unwrap(), "each step recorded once");
}
