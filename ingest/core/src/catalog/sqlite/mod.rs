//! The catalog interface on SQLite (`archive::catalog::Catalog`): every SQL
//! statement of the domain lives under this folder, one file per aggregate.
//!
//! [`Sqlite`] wraps a connection, or a transaction (which derefs to one): the
//! same methods serve reads on the catalog's blocking thread and writes inside
//! the vault's commit transaction.

mod accounts;
mod attendance;
mod documents;
mod evaluations;
mod jobs;
mod ledger;
mod media;
mod members;
mod migrations;
mod orgs;
pub mod restore;
mod retention;
mod schedules;
mod service;
mod verification;
mod workers;

pub use migrations::MIGRATIONS;

use super::{parse, scope_param, Error};
use archive::catalog::CatalogError;
use archive::vault::VaultError;
use rusqlite::Connection;

/// The catalog interface on one SQLite connection or transaction.
pub struct Sqlite<'c> {
    conn: &'c Connection,
}

impl<'c> Sqlite<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        Self { conn }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Engine(Box::new(e))
    }
}

impl From<archive::ledger::LedgerError> for Error {
    fn from(e: archive::ledger::LedgerError) -> Self {
        Error::Engine(Box::new(e))
    }
}

/// The adapters still meet the engine's error where they read the catalog
/// directly (the CLI's listings): a fault of ours, as every engine failure is.
impl From<rusqlite::Error> for crate::DomainError {
    fn from(e: rusqlite::Error) -> Self {
        Self::internal(e)
    }
}

/// For vault operations whose closures answer the vault's error: an engine
/// failure is the catalog's, as it was when the closure ran SQL itself.
impl From<Error> for VaultError {
    fn from(e: Error) -> Self {
        match e {
            Error::Archive(v) => v,
            Error::Engine(e) => match e.downcast::<rusqlite::Error>() {
                Ok(sql) => VaultError::Catalog(CatalogError::Sql(*sql)),
                Err(other) => VaultError::Catalog(CatalogError::Sql(rusqlite::Error::ToSqlConversionFailure(other))),
            },
        }
    }
}

/// The one scope condition of every list query: true when the org path `path`
/// (an SQL expression, e.g. `o.path`) lies in the scope bound at parameter
/// `?n` ([`scope_param`]; NULL for every org). A scope entry covers its org and
/// everything under it: the path itself or a path below it.
fn in_scope(path: &str, n: u8) -> String {
    format!(
        "(?{n} IS NULL OR EXISTS (SELECT 1 FROM json_each(?{n}) s WHERE {path} = s.value \
         OR substr({path}, 1, length(s.value) + 1) = s.value || '/'))"
    )
}

/// A catalog holding one unrecorded meeting at 2026-03-05 01:00 UTC and no
/// alert: what the schedule tests (the engine's and the domain's) start from.
#[cfg(test)]
pub(crate) fn one_meeting_catalog() -> rusqlite::Connection {
    let c = rusqlite::Connection::open_in_memory().expect("an in-memory catalog");
    c.execute_batch(
        "CREATE TABLE meetings (id TEXT, org TEXT, scheduled_at TEXT, recording TEXT);
         CREATE TABLE alerts (meeting TEXT);
         INSERT INTO meetings VALUES ('m1', 'o', '2026-03-05T01:00:00.000Z', NULL);",
    )
    .expect("the fixture's tables");
    c
}

/// The engine-neutral scenarios (`catalog::conformance`) on SQLite: a migrated
/// catalog file per scenario, a connection of its own per call.
#[cfg(test)]
mod conformance {
    use super::Sqlite;
    use crate::catalog::conformance::{scenarios, Engine};
    use crate::catalog::Repo;
    use archive::catalog::Catalog;
    use archive::id::RecordingId;

    struct Fresh(tempfile::TempDir);

    impl Fresh {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let cat = Catalog::open(&dir.path().join("catalog.db")).unwrap();
            cat.migrate("ingest", super::MIGRATIONS).unwrap();
            Fresh(dir)
        }

        fn open(&self) -> Catalog {
            Catalog::open_migrated(&self.0.path().join("catalog.db")).unwrap()
        }
    }

    impl Engine for Fresh {
        fn run(&self, f: &mut dyn FnMut(&dyn Repo)) {
            self.open().with(|c| f(&Sqlite::new(c)))
        }

        fn batch(&self, sql: &str) {
            self.open().with(|c| c.execute_batch(sql)).unwrap();
        }

        fn recording(&self, org: &str, state: &str) -> RecordingId {
            let rec = RecordingId::new();
            self.open().with(|c| {
                c.execute(
                    "INSERT OR IGNORE INTO orgs (id, kind, name, path, created_at) VALUES (?1, 'cell', ?1, '/' || ?1, 't')",
                    [org],
                )
                .unwrap();
                c.execute(
                    "INSERT INTO recordings (id, meeting, org, state, started_at) VALUES (?1, 'm', ?2, ?3, 't')",
                    [rec.to_string().as_str(), org, state],
                )
                .unwrap();
            });
            rec
        }
    }

    #[test]
    fn every_scenario_passes_on_sqlite() {
        for (name, scenario) in scenarios() {
            println!("scenario {name}");
            scenario(&Fresh::new());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Scope;
    use crate::principal::{Principal, Role};
    use crate::schema::UserId;

    /// The paths `in_scope` lets through for `scope`.
    fn seen(scope: &Scope) -> Vec<String> {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE orgs (path TEXT);
             INSERT INTO orgs VALUES ('/a'), ('/a/b'), ('/ab'), ('/ab/c'), ('/d');",
        )
        .unwrap();
        let sql = format!("SELECT path FROM orgs o WHERE {} ORDER BY path", in_scope("o.path", 1));
        let mut stmt = c.prepare(&sql).unwrap();
        stmt.query_map([scope_param(scope)], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    }

    fn subtrees(paths: &[&str]) -> Scope {
        Scope::Subtrees(paths.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn a_scope_is_its_subtrees_and_not_a_sibling_that_shares_a_prefix() {
        assert_eq!(seen(&subtrees(&["/a"])), ["/a", "/a/b"], "/ab starts with /a but is not under it");
        assert_eq!(seen(&subtrees(&["/a/b", "/d"])), ["/a/b", "/d"], "several subtrees; not the parent");
        assert!(seen(&subtrees(&[])).is_empty(), "bound to nothing sees nothing");
        assert_eq!(seen(&Scope::All).len(), 5, "unbound roles see every org");
    }

    #[test]
    fn the_sql_and_the_door_agree() {
        let who = |role, scopes: &[&str]| Principal {
            user: UserId::new(),
            name: "x".into(),
            role,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            csrf: None,
        };
        for (role, scopes) in
            [(Role::Inspector, &["/a"][..]), (Role::Recorder, &["/ab"]), (Role::Auditor, &[]), (Role::Admin, &[])]
        {
            let p = who(role, scopes);
            let listed = seen(&Scope::of(&p));
            for path in ["/a", "/a/b", "/ab", "/ab/c", "/d"] {
                assert_eq!(listed.iter().any(|l| l == path), p.in_scope(path), "{role:?} {scopes:?} {path}");
            }
        }
        assert!(seen(&Scope::of(&who(Role::Recorder, &[]))).is_empty(), "a recorder with no scope is bound to nothing");
    }
}
