//! The catalog: one embedded SQLite database that holds the ledger and the state it
//! records, so that a state change and its ledger entry commit in one transaction.
//!
//! Each component registers its own numbered migrations; `schema_migrations` records
//! which have run. SQLite runs in WAL mode with `synchronous=FULL`: a commit that
//! returned is on disk.

use rusqlite::{Connection, OptionalExtension};
use std::path::Path;
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("catalog migration {component} #{version} failed: {source}")]
    Migration { component: &'static str, version: usize, source: rusqlite::Error },
    #[error("catalog task was cancelled")]
    Cancelled,
}

/// A shared handle on the catalog database. Cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Catalog")
    }
}

/// The archive's own tables.
pub const ARCHIVE_MIGRATIONS: &[&str] = &["
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
"];

impl Catalog {
    /// Opens (creating if needed) the catalog at `path` and runs the archive's migrations.
    pub fn open(path: &Path) -> Result<Self, CatalogError> {
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
        )?;
        let cat = Self { conn: Arc::new(Mutex::new(conn)) };
        cat.migrate("ledger", &[crate::ledger::SCHEMA])?;
        cat.migrate("archive", ARCHIVE_MIGRATIONS)?;
        Ok(cat)
    }

    /// Runs the migrations of `component` that have not run yet, each in its own transaction.
    pub fn migrate(&self, component: &'static str, steps: &[&str]) -> Result<(), CatalogError> {
        self.with(|conn| {
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (component, version))",
            )?;
            let done: Option<usize> = conn
                .query_row("SELECT MAX(version) FROM schema_migrations WHERE component = ?1", [component], |r| r.get(0))
                .optional()?
                .flatten();
            let from = done.map_or(0, |v| v + 1);
            for (version, sql) in steps.iter().enumerate().skip(from) {
                let tx = conn.transaction()?;
                tx.execute_batch(sql).map_err(|source| CatalogError::Migration { component, version, source })?;
                tx.execute("INSERT INTO schema_migrations (component, version) VALUES (?1, ?2)", rusqlite::params![component, version])?;
                tx.commit()?;
            }
            Ok(())
        })
    }

    /// Runs `f` on the connection, on this thread. For blocking contexts only.
    pub fn with<R>(&self, f: impl FnOnce(&mut Connection) -> R) -> R {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut conn)
    }

    /// Runs `f` on the connection on a blocking thread.
    pub async fn call<R, E>(&self, f: impl FnOnce(&mut Connection) -> Result<R, E> + Send + 'static) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<CatalogError> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.with(f)).await.map_err(|_| E::from(CatalogError::Cancelled))?
    }
}
