//! The catalog: one embedded SQLite database that holds the ledger and the state it
//! records, so that a state change and its ledger entry commit in one transaction.
//!
//! Each component registers its own numbered migrations; `schema_migrations` records
//! which have run. SQLite runs in WAL mode with `synchronous=FULL`: a commit that
//! returned is on disk.

mod pool;

use crate::db::{Conn, Tx};
use pool::{on_blocking_thread, Pool};
use rusqlite::{Connection, OptionalExtension};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("catalog (PostgreSQL): {0}")]
    Postgres(#[from] ::postgres::Error),
    /// A value in the catalog that is not what its column promises.
    #[error("catalog: {0}")]
    Value(String),
    /// A caller that needs SQLite's connection met a PostgreSQL catalog.
    #[error("{0} works on a SQLite catalog only (this node's catalog is in PostgreSQL)")]
    NotSqlite(&'static str),
    /// A PostgreSQL database whose text does not sort byte by byte.
    #[error("the PostgreSQL catalog's database sorts text by the locale {0:?}; niem needs byte order: create it with `createdb --locale=C.UTF-8 --template=template0 NAME`")]
    Collation(String),
    #[error("catalog migration {component} #{version} failed: {source}")]
    Migration { component: &'static str, version: usize, source: rusqlite::Error },
    #[error("catalog task was cancelled")]
    Cancelled,
    /// Migrations only go forward: a catalog that a later release migrated
    /// further than this one knows is refused before anything reads it.
    #[error("catalog was written by a newer niem: its {component} schema is at version {found}, and this niem knows {}; upgrade niem (catalogs are never migrated back: to go back, restore the catalog backed up before the upgrade)", known_versions(*.known))]
    Newer { component: String, found: usize, known: usize },
    /// A process that does not migrate met a catalog the service has not
    /// brought up to its release yet.
    #[error("catalog's {component} schema is at version {found} and this niem needs version {}: start or upgrade a service node first, which migrates it", *.known - 1)]
    Older { component: String, found: String, known: usize },
}

/// The first line of a migration step that keeps the catalog usable by the
/// release before it: tables, and nullable or defaulted columns, added;
/// nothing renamed, dropped or made stricter. Nodes of that release keep
/// running on a catalog such steps took past them (expand now, contract one
/// release later, in a step without the mark).
pub const EXPAND: &str = "-- expand";

fn is_expand(sql: &str) -> bool {
    sql.trim_start().starts_with(EXPAND)
}

fn last_step(conn: &Connection, component: &str) -> rusqlite::Result<Option<usize>> {
    Ok(conn
        .query_row("SELECT MAX(version) FROM schema_migrations WHERE component = ?1", [component], |r| r.get(0))
        .optional()?
        .flatten())
}

/// Whether `schema_migrations` records what each step requires (added by the
/// release that brought expand steps).
fn has_requirements(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("SELECT COUNT(*) FROM pragma_table_info('schema_migrations') WHERE name = 'requires'", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n > 0)
}

/// How many steps of `component` a release must know to run on the catalog
/// as `version` left it. A step recorded before requirements were: all of them.
fn requirement(conn: &Connection, component: &str, version: usize) -> rusqlite::Result<usize> {
    if !has_requirements(conn)? {
        return Ok(version + 1);
    }
    let r: Option<usize> = conn
        .query_row(
            "SELECT requires FROM schema_migrations WHERE component = ?1 AND version = ?2",
            rusqlite::params![component, version],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    Ok(r.unwrap_or(version + 1))
}

/// A catalog at step `found` of `component`, past the `known` this release
/// has: run on it if every step past ours was an expand step, else refuse.
fn runs_ahead(conn: &Connection, component: &str, found: usize, known: usize) -> Result<(), CatalogError> {
    if requirement(conn, component, found)? <= known {
        tracing::warn!(
            component,
            found,
            known,
            "the catalog was migrated by a newer niem with expand steps only; this release runs on it unchanged: upgrade this node too"
        );
        return Ok(());
    }
    Err(CatalogError::Newer { component: component.into(), found, known })
}

fn known_versions(known: usize) -> String {
    match known {
        0 => "none".into(),
        1 => "version 0 only".into(),
        n => format!("versions 0 to {}", n - 1),
    }
}

/// A shared handle on the catalog: one SQLite file, or a PostgreSQL database
/// shared by several nodes. Cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    engine: Engine,
    /// Components migrated through this handle, for [`Catalog::refuse_unknown_components`].
    migrated: Arc<Mutex<BTreeSet<&'static str>>>,
}

#[derive(Clone)]
enum Engine {
    /// One connection: SQLite has one writer at a time anyway, and a shared
    /// connection keeps its page cache warm.
    Sqlite(Arc<Mutex<Connection>>),
    Postgres(Arc<Pool>),
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Catalog")
    }
}

/// The archive's own tables.
pub const ARCHIVE_MIGRATIONS: &[&str] = &[
    "
CREATE TABLE recordings (
    id TEXT PRIMARY KEY,
    meeting TEXT NOT NULL,
    org TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'sealed', 'shredded')),
    started_at TEXT NOT NULL,
    sealed_at TEXT,
    manifest_sha256 TEXT
);
CREATE INDEX recordings_meeting ON recordings(meeting);
CREATE TABLE streams (
    id TEXT PRIMARY KEY,
    recording TEXT NOT NULL REFERENCES recordings(id),
    kind TEXT NOT NULL,
    endpoint TEXT,
    state TEXT NOT NULL CHECK (state IN ('open', 'complete', 'interrupted')),
    chunk_size INTEGER NOT NULL,
    nonce_prefix TEXT NOT NULL,
    wrapped_dek TEXT NOT NULL,
    key_sha256 TEXT NOT NULL,
    length INTEGER NOT NULL DEFAULT 0,
    chunks INTEGER NOT NULL DEFAULT 0,
    sha256 TEXT,
    content_type TEXT,
    media TEXT,
    opened_at TEXT NOT NULL,
    closed_at TEXT
);
CREATE INDEX streams_recording ON streams(recording);
CREATE TABLE chunks (
    stream TEXT NOT NULL REFERENCES streams(id),
    idx INTEGER NOT NULL,
    plain_len INTEGER NOT NULL,
    len INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (stream, idx)
) WITHOUT ROWID;
CREATE TABLE ledger_mirror (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    mirrored INTEGER NOT NULL,
    checkpointed INTEGER NOT NULL,
    checkpoint_ts TEXT
);
INSERT INTO ledger_mirror (id, mirrored, checkpointed) VALUES (1, 0, 0);
",
    "
-- A recording's transcript: its key and nonce prefix are written ('sealing')
-- before the object is put, so that after a crash the object found in the store
-- can be opened and recorded instead of made again.
CREATE TABLE transcripts (
    recording TEXT PRIMARY KEY REFERENCES recordings(id),
    state TEXT NOT NULL CHECK (state IN ('sealing', 'stored')),
    wrapped_dek TEXT NOT NULL,
    key_sha256 TEXT NOT NULL,
    nonce_prefix TEXT NOT NULL,
    chunk_size INTEGER NOT NULL,
    len INTEGER,
    sha256 TEXT,
    stored_at TEXT
);
",
    "
-- Wrapped data keys live in the store only (and in memory): the catalog keeps a
-- pointer to each stream's current key object, so that neither the catalog, its
-- WAL nor its backups ever hold a wrapped key of a recording. (Transient keys stay:
-- a resumable upload's tail key, and a transcript's key while it is being sealed;
-- both are re-wrapped by a KEK retirement.)
CREATE TABLE key_objects (
    recording TEXT NOT NULL REFERENCES recordings(id),
    stream TEXT NOT NULL,
    generation INTEGER NOT NULL,
    kek TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (recording, stream)
) WITHOUT ROWID;
CREATE INDEX key_objects_kek ON key_objects(kek);
INSERT INTO key_objects (recording, stream, generation, kek, sha256)
    SELECT recording, id, 0, json_extract(wrapped_dek, '$.kek'), key_sha256 FROM streams WHERE wrapped_dek != '';
INSERT INTO key_objects (recording, stream, generation, kek, sha256)
    SELECT recording, 'transcript', 0, json_extract(wrapped_dek, '$.kek'), key_sha256 FROM transcripts
    WHERE state = 'stored' AND wrapped_dek != '';
UPDATE transcripts SET wrapped_dek = '' WHERE state = 'stored';
ALTER TABLE streams DROP COLUMN wrapped_dek;
-- A shred is sealed -> shredding -> shredded: state 'shredded' with no
-- shred_done_at is a shred whose keys or objects may still be in the store.
ALTER TABLE recordings ADD COLUMN shred_done_at TEXT;
-- KEK retirements, one row each, resumed at start until finished.
CREATE TABLE kek_retirements (
    generation INTEGER PRIMARY KEY CHECK (generation >= 1),
    new_kek TEXT NOT NULL,
    retiring TEXT NOT NULL,
    step TEXT NOT NULL CHECK (step IN ('rewrap', 'check', 'delete', 'destroy', 'done')),
    started_at TEXT NOT NULL,
    finished_at TEXT
);
",
    "-- expand
-- The newest entry some node needs signed now (a seal): with several nodes one
-- holds the mirror's lease, and the others ask it here.
ALTER TABLE ledger_mirror ADD COLUMN wanted INTEGER NOT NULL DEFAULT 0;
",
];

/// The archive's tables in PostgreSQL's dialect, as [`ARCHIVE_MIGRATIONS`] leave
/// them after their last step: the PostgreSQL catalog's baseline starts here
/// (with [`crate::ledger::postgres::SCHEMA`]). Integers are BIGINT, blobs BYTEA.
/// A new archive step is written in both dialects, and the baseline test
/// (`tests/tests/catalog`) compares the two schemas column by column.
pub const ARCHIVE_PG_BASELINE: &str = "
CREATE TABLE recordings (
    id TEXT PRIMARY KEY,
    meeting TEXT NOT NULL,
    org TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'sealed', 'shredded')),
    started_at TEXT NOT NULL,
    sealed_at TEXT,
    manifest_sha256 TEXT,
    shred_done_at TEXT
);
CREATE INDEX recordings_meeting ON recordings(meeting);
CREATE TABLE streams (
    id TEXT PRIMARY KEY,
    recording TEXT NOT NULL REFERENCES recordings(id),
    kind TEXT NOT NULL,
    endpoint TEXT,
    state TEXT NOT NULL CHECK (state IN ('open', 'complete', 'interrupted')),
    chunk_size BIGINT NOT NULL,
    nonce_prefix TEXT NOT NULL,
    key_sha256 TEXT NOT NULL,
    length BIGINT NOT NULL DEFAULT 0,
    chunks BIGINT NOT NULL DEFAULT 0,
    sha256 TEXT,
    content_type TEXT,
    media TEXT,
    opened_at TEXT NOT NULL,
    closed_at TEXT
);
CREATE INDEX streams_recording ON streams(recording);
CREATE TABLE chunks (
    stream TEXT NOT NULL REFERENCES streams(id),
    idx BIGINT NOT NULL,
    plain_len BIGINT NOT NULL,
    len BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (stream, idx)
);
CREATE TABLE ledger_mirror (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    mirrored BIGINT NOT NULL,
    checkpointed BIGINT NOT NULL,
    checkpoint_ts TEXT,
    wanted BIGINT NOT NULL DEFAULT 0
);
INSERT INTO ledger_mirror (id, mirrored, checkpointed) VALUES (1, 0, 0);
CREATE TABLE transcripts (
    recording TEXT PRIMARY KEY REFERENCES recordings(id),
    state TEXT NOT NULL CHECK (state IN ('sealing', 'stored')),
    wrapped_dek TEXT NOT NULL,
    key_sha256 TEXT NOT NULL,
    nonce_prefix TEXT NOT NULL,
    chunk_size BIGINT NOT NULL,
    len BIGINT,
    sha256 TEXT,
    stored_at TEXT
);
CREATE TABLE key_objects (
    recording TEXT NOT NULL REFERENCES recordings(id),
    stream TEXT NOT NULL,
    generation BIGINT NOT NULL,
    kek TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (recording, stream)
);
CREATE INDEX key_objects_kek ON key_objects(kek);
CREATE TABLE kek_retirements (
    generation BIGINT PRIMARY KEY CHECK (generation >= 1),
    new_kek TEXT NOT NULL,
    retiring TEXT NOT NULL,
    step TEXT NOT NULL CHECK (step IN ('rewrap', 'check', 'delete', 'destroy', 'done')),
    started_at TEXT NOT NULL,
    finished_at TEXT
);
";

impl Catalog {
    /// Opens (creating if needed) the catalog at `path` and runs the archive's migrations.
    pub fn open(path: &Path) -> Result<Self, CatalogError> {
        let cat = Self::open_shared(path)?;
        cat.migrate("ledger", &[crate::ledger::SCHEMA])?;
        cat.migrate("archive", ARCHIVE_MIGRATIONS)?;
        Ok(cat)
    }

    /// Opens an existing catalog that the service migrates, checking that the
    /// archive's tables are exactly at this release: for a process beside the
    /// service (a transcription worker), which must never migrate it.
    pub fn open_migrated(path: &Path) -> Result<Self, CatalogError> {
        if !path.exists() {
            return Err(CatalogError::Older {
                component: "archive".into(),
                found: "none".into(),
                known: ARCHIVE_MIGRATIONS.len(),
            });
        }
        let cat = Self::open_shared(path)?;
        cat.require_migrated("ledger", &[crate::ledger::SCHEMA])?;
        cat.require_migrated("archive", ARCHIVE_MIGRATIONS)?;
        Ok(cat)
    }

    fn open_shared(path: &Path) -> Result<Self, CatalogError> {
        let conn = Connection::open(path)?;
        // secure_delete: what a row held is overwritten when it is deleted or
        // changed, not left in free pages for a copy of the file to read.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;
             PRAGMA secure_delete = ON;",
        )?;
        Ok(Self { engine: Engine::Sqlite(Arc::new(Mutex::new(conn))), migrated: Arc::default() })
    }

    /// A catalog in PostgreSQL at `url`, with up to `connections` open at once.
    /// Connects once to say early whether the database answers; the schema is
    /// the caller's to migrate (`niem_core::catalog::postgres::migrate`).
    pub fn connect_postgres(url: &str, connections: usize) -> Result<Self, CatalogError> {
        let pool = Pool::new(url, connections);
        let first = on_blocking_thread(|| pool.take())?;
        pool.give(first);
        Ok(Self { engine: Engine::Postgres(Arc::new(pool)), migrated: Arc::default() })
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.engine, Engine::Postgres(_))
    }

    /// Runs `f` on a connection of either engine, on this thread. For blocking
    /// contexts only.
    pub fn run<R, E: From<CatalogError>>(&self, f: impl FnOnce(&mut Conn<'_>) -> Result<R, E>) -> Result<R, E> {
        match &self.engine {
            Engine::Sqlite(c) => {
                let mut c = c.lock().unwrap_or_else(|e| e.into_inner());
                f(&mut Conn::Sqlite(&mut c))
            }
            Engine::Postgres(pool) => on_blocking_thread(|| {
                let mut client = pool.take()?;
                let out = f(&mut Conn::Postgres(&mut client));
                pool.give(client);
                out
            }),
        }
    }

    /// `f` in a transaction that reads, on a blocking thread.
    pub async fn reading<R, E>(&self, f: impl FnOnce(&Tx<'_>) -> Result<R, E> + Send + 'static) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<CatalogError> + Send + 'static,
    {
        self.exec(move |c| {
            let tx = c.read()?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// `f` in the catalog's write transaction ([`Conn::write`]), on a blocking
    /// thread: committed if `f` succeeds, rolled back if it fails.
    pub async fn writing<R, E>(&self, f: impl FnOnce(&Tx<'_>) -> Result<R, E> + Send + 'static) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<CatalogError> + Send + 'static,
    {
        self.exec(move |c| {
            let tx = c.write()?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// [`Catalog::run`] on a blocking thread.
    pub async fn exec<R, E>(&self, f: impl FnOnce(&mut Conn<'_>) -> Result<R, E> + Send + 'static) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<CatalogError> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.run(f)).await.map_err(|_| E::from(CatalogError::Cancelled))?
    }

    /// Runs the migrations of `component` that have not run yet, each in its own
    /// transaction, in order. `steps` only ever grows: a released step is never
    /// edited, a change is a new step. A catalog already past the last step was
    /// written by a newer release: it is never migrated back, and is refused
    /// unless every step past ours is an [`EXPAND`] step, which this release
    /// runs on unchanged (a rolling upgrade: nodes upgraded one at a time).
    pub fn migrate(&self, component: &'static str, steps: &[&str]) -> Result<(), CatalogError> {
        self.migrated.lock().unwrap_or_else(|e| e.into_inner()).insert(component);
        self.with(|conn| {
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (component, version))",
            )?;
            let done = last_step(conn, component)?;
            if let Some(found) = done.filter(|&v| v >= steps.len()) {
                return runs_ahead(conn, component, found, steps.len());
            }
            let from = done.map_or(0, |v| v + 1);
            if from < steps.len() && !has_requirements(conn)? {
                // Added in place, only when a step runs (a refused or current
                // catalog is left as it was); older releases read only
                // component and version.
                conn.execute_batch("ALTER TABLE schema_migrations ADD COLUMN requires INTEGER")?;
            }
            let mut requires = match done {
                Some(v) => requirement(conn, component, v)?,
                None => 0,
            };
            for (version, sql) in steps.iter().enumerate().skip(from) {
                requires = if is_expand(sql) { requires } else { version + 1 };
                let tx = conn.transaction()?;
                tx.execute_batch(sql).map_err(|source| CatalogError::Migration { component, version, source })?;
                tx.execute(
                    "INSERT INTO schema_migrations (component, version, requires) VALUES (?1, ?2, ?3)",
                    rusqlite::params![component, version, requires],
                )?;
                tx.commit()?;
                // On an existing catalog this is an upgrade: the operator sees each step.
                if from > 0 {
                    tracing::info!(component, version, "catalog migrated");
                }
            }
            if from < steps.len() {
                // Old page images (a migration may have dropped secrets) leave the WAL.
                conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            }
            Ok(())
        })
    }

    /// Checks, without changing anything, that `component` is migrated exactly
    /// as far as `steps` go, or past them by [`EXPAND`] steps only: for a
    /// process that shares the catalog with the service but must not migrate
    /// it under the service's feet (a worker).
    pub fn require_migrated(&self, component: &'static str, steps: &[&str]) -> Result<(), CatalogError> {
        self.with(|conn| match last_step(conn, component)? {
            Some(found) if found + 1 == steps.len() => Ok(()),
            Some(found) if found >= steps.len() => runs_ahead(conn, component, found, steps.len()),
            found => Err(CatalogError::Older {
                component: component.into(),
                found: found.map_or_else(|| "none".into(), |v| v.to_string()),
                known: steps.len(),
            }),
        })
    }

    /// Refuses a catalog that holds migrations of a component nobody migrated
    /// through this handle: a newer release added it, and this one would ignore
    /// its tables. Call once every component has run [`Catalog::migrate`].
    pub fn refuse_unknown_components(&self) -> Result<(), CatalogError> {
        let known = self.migrated.lock().unwrap_or_else(|e| e.into_inner()).clone();
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT component, MAX(version) FROM schema_migrations GROUP BY component ORDER BY component",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, usize>(1)?)))?;
            for row in rows {
                let (component, found) = row?;
                if !known.contains(component.as_str()) {
                    return Err(CatalogError::Newer { component, found, known: 0 });
                }
            }
            Ok(())
        })
    }

    /// Runs `f` on SQLite's connection, on this thread: for what only a SQLite
    /// catalog has (its migrations, `niem restore`'s replay, a copy's source,
    /// tests). Blocking contexts only.
    ///
    /// # Panics
    /// On a PostgreSQL catalog: no code path that serves one calls this
    /// (they go through [`Catalog::run`]).
    pub fn with<R>(&self, f: impl FnOnce(&mut Connection) -> R) -> R {
        match &self.engine {
            Engine::Sqlite(c) => f(&mut c.lock().unwrap_or_else(|e| e.into_inner())),
            Engine::Postgres(_) => panic!("Catalog::with is for SQLite catalogs; this one is in PostgreSQL"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(cat: &Catalog) -> Vec<(String, usize)> {
        cat.with(|c| {
            let mut stmt =
                c.prepare("SELECT component, version FROM schema_migrations ORDER BY component, version").unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
        })
    }

    fn schema(cat: &Catalog) -> Vec<(String, String)> {
        cat.with(|c| {
            let mut stmt = c.prepare("SELECT name, COALESCE(sql, '') FROM sqlite_master ORDER BY name").unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
        })
    }

    #[test]
    fn an_empty_catalog_gets_every_migration_in_order_and_again_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let cat = Catalog::open(&path).unwrap();
        let want: Vec<(String, usize)> = (0..ARCHIVE_MIGRATIONS.len())
            .map(|v| ("archive".to_string(), v))
            .chain([("ledger".to_string(), 0)])
            .collect();
        assert_eq!(versions(&cat), want);
        let before = schema(&cat);
        assert!(before.iter().any(|(name, _)| name == "transcripts"), "the last archive step ran");
        cat.migrate("archive", ARCHIVE_MIGRATIONS).unwrap();
        drop(cat);
        let cat = Catalog::open(&path).unwrap();
        assert_eq!(versions(&cat), want, "reopening runs nothing again");
        assert_eq!(schema(&cat), before);
        cat.refuse_unknown_components().unwrap();
    }

    #[test]
    fn a_release_runs_on_a_catalog_its_successor_only_expanded_and_not_past_a_contraction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let v1 = ["CREATE TABLE a (x INTEGER)"];
        let v2 =
            [v1[0], "-- expand: a column\nALTER TABLE a ADD COLUMN y TEXT", "-- expand\nCREATE TABLE b (z INTEGER)"];
        let v3 = [v2[0], v2[1], v2[2], "ALTER TABLE a DROP COLUMN y"];
        let old = Catalog::open(&path).unwrap();
        old.migrate("c", &v1).unwrap();
        let new = Catalog::open(&path).unwrap();
        new.migrate("c", &v2).unwrap();
        // The old node, started again on the catalog the new one migrated: it runs,
        // migrating nothing, and its writes still work.
        old.migrate("c", &v1).unwrap();
        old.require_migrated("c", &v1).unwrap();
        old.with(|c| c.execute("INSERT INTO a (x) VALUES (1)", [])).unwrap();
        assert_eq!(versions(&old).iter().filter(|(c, _)| c == "c").count(), 3, "nothing migrated back");
        // One release later the column goes: the v1 node is refused, a v2 node too.
        let newest = Catalog::open(&path).unwrap();
        newest.migrate("c", &v3).unwrap();
        for (known, steps) in [(1, &v1[..]), (3, &v2[..])] {
            let err = old.migrate("c", steps).unwrap_err();
            assert!(matches!(err, CatalogError::Newer { found: 3, known: k, .. } if k == known), "{err:?}");
            assert!(old.require_migrated("c", steps).is_err());
        }
        // Steps recorded without a requirement (as before this release) are all required.
        let other = Catalog::open(&dir.path().join("other.db")).unwrap();
        other.migrate("c", &v2).unwrap();
        other.migrate("c", &v1).unwrap();
        other.with(|c| c.execute("UPDATE schema_migrations SET requires = NULL WHERE component = 'c'", [])).unwrap();
        assert!(other.migrate("c", &v1).is_err(), "no record: every step is required");
    }

    #[test]
    fn a_process_beside_the_service_opens_only_a_catalog_at_its_release_and_migrates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let missing = Catalog::open_migrated(&path).unwrap_err();
        assert!(matches!(missing, CatalogError::Older { .. }), "{missing}");
        assert!(!path.exists(), "a missing catalog is not made");
        let cat = Catalog::open(&path).unwrap();
        let steps = ["CREATE TABLE a (x INTEGER)", "CREATE TABLE b (x INTEGER)"];
        cat.migrate("ingest", &steps[..1]).unwrap();
        let shared = Catalog::open_migrated(&path).unwrap();
        shared.require_migrated("ingest", &steps[..1]).unwrap();
        let older = shared.require_migrated("ingest", &steps).unwrap_err();
        assert!(older.to_string().contains("start or upgrade a service node first"), "{older}");
        assert_eq!(versions(&shared).iter().filter(|(c, _)| c == "ingest").count(), 1, "nothing migrated");
        cat.migrate("ingest", &steps).unwrap();
        let newer = shared.require_migrated("ingest", &steps[..1]).unwrap_err();
        assert!(matches!(newer, CatalogError::Newer { .. }), "{newer}");
    }

    #[test]
    fn later_steps_run_on_an_older_catalog_one_transaction_each() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join("catalog.db")).unwrap();
        let steps = ["CREATE TABLE a (x INTEGER)", "ALTER TABLE a ADD COLUMN y TEXT", "CREATE TABLE b (z INTEGER)"];
        cat.migrate("test", &steps[..1]).unwrap();
        cat.with(|c| c.execute("INSERT INTO a (x) VALUES (1)", [])).unwrap();
        cat.migrate("test", &steps).unwrap();
        cat.migrate("test", &steps).unwrap();
        let rows: Vec<(String, usize)> = versions(&cat).into_iter().filter(|(c, _)| c == "test").collect();
        assert_eq!(rows, vec![("test".into(), 0), ("test".into(), 1), ("test".into(), 2)]);
        let kept: (i64, Option<String>) =
            cat.with(|c| c.query_row("SELECT x, y FROM a", [], |r| Ok((r.get(0)?, r.get(1)?)))).unwrap();
        assert_eq!(kept, (1, None), "data survives the upgrade");

        // A step that fails leaves its version unrecorded and nothing half-done.
        let broken = [
            "CREATE TABLE a (x INTEGER)",
            "ALTER TABLE a ADD COLUMN y TEXT",
            "CREATE TABLE b (z INTEGER)",
            "CREATE TABLE c (q INTEGER); SELECT nonsense FROM nowhere",
        ];
        assert!(matches!(cat.migrate("test", &broken), Err(CatalogError::Migration { version: 3, .. })));
        assert!(!schema(&cat).iter().any(|(name, _)| name == "c"));
        assert_eq!(versions(&cat).iter().filter(|(c, _)| c == "test").count(), 3);
    }

    #[test]
    fn a_catalog_from_a_newer_release_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let cat = Catalog::open(&path).unwrap();
        cat.migrate("test", &["CREATE TABLE a (x INTEGER)", "CREATE TABLE b (x INTEGER)"]).unwrap();
        let before = schema(&cat);
        let err = cat.migrate("test", &["CREATE TABLE a (x INTEGER)"]).unwrap_err();
        assert!(matches!(err, CatalogError::Newer { found: 1, known: 1, .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.starts_with("catalog was written by a newer niem: its test schema is at version 1, and this niem knows version 0 only; upgrade niem"), "{text}");
        assert_eq!(schema(&cat), before, "nothing was touched");
        drop(cat);

        // The archive's own component, as `Catalog::open` meets it.
        let cat = Catalog::open(&path).unwrap();
        let next = ARCHIVE_MIGRATIONS.len();
        cat.with(|c| c.execute("INSERT INTO schema_migrations (component, version) VALUES ('archive', ?1)", [next]))
            .unwrap();
        drop(cat);
        let err = Catalog::open(&path).unwrap_err().to_string();
        assert!(
            err.contains(&format!("its archive schema is at version {next}")) && err.contains("upgrade niem"),
            "{err}"
        );
    }

    #[test]
    fn a_component_this_release_does_not_have_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        Catalog::open(&path).unwrap().migrate("later", &["CREATE TABLE later (x INTEGER)"]).unwrap();
        let cat = Catalog::open(&path).unwrap();
        let err = cat.refuse_unknown_components().unwrap_err().to_string();
        assert!(
            err.contains("newer niem: its later schema is at version 0, and this niem knows none; upgrade niem"),
            "{err}"
        );
    }
}
