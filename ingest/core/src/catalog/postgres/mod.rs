//! The catalog interface on PostgreSQL, being built aggregate by aggregate: so
//! far the job queue ([`Jobs`](super::Jobs)) and the transcription workers
//! ([`Workers`](super::Workers)), which claim with `FOR UPDATE SKIP LOCKED`.
//! Not yet the service's engine: [`Repo`](super::Repo) needs every aggregate,
//! and the archive's tables still live in SQLite (ARCHITECTURE.md, "Beyond one
//! node").
//!
//! [`Postgres`] wraps a client or a transaction (`postgres::GenericClient`);
//! like rusqlite's, its calls block, so it runs on blocking threads only.
//! Engine-neutral scenarios ([`super::conformance`]) run against both engines.

mod jobs;
mod workers;

use super::{parse, scope_param, Error};
use std::cell::RefCell;

/// The tables the queue and the workers read, in PostgreSQL's dialect, as the
/// engine's baseline will create them (the same columns and rules as SQLite's
/// migrations up to this release). The baseline of the whole catalog comes
/// with the rest of the engine.
pub const QUEUE_TABLES: &str = "
CREATE TABLE orgs (
    id TEXT PRIMARY KEY,
    parent TEXT REFERENCES orgs(id),
    kind TEXT NOT NULL CHECK (kind IN ('bloc', 'base', 'cell')),
    name TEXT NOT NULL,
    path TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    language TEXT
);
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
CREATE TABLE transcripts (
    recording TEXT PRIMARY KEY REFERENCES recordings(id),
    state TEXT NOT NULL CHECK (state IN ('sealing', 'stored')),
    wrapped_dek TEXT NOT NULL,
    key_sha256 TEXT NOT NULL,
    nonce_prefix TEXT NOT NULL,
    chunk_size INTEGER NOT NULL,
    len BIGINT,
    sha256 TEXT,
    stored_at TEXT
);
CREATE TABLE jobs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('transcribe')),
    recording TEXT NOT NULL REFERENCES recordings(id),
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before TEXT NOT NULL,
    error TEXT,
    progress_ms BIGINT NOT NULL DEFAULT 0,
    total_ms BIGINT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    worker TEXT,
    claim BIGINT NOT NULL DEFAULT 0,
    lease_until TEXT,
    UNIQUE (kind, recording)
);
CREATE INDEX jobs_state ON jobs(state, not_before);
CREATE TABLE workers (
    name TEXT PRIMARY KEY,
    recipient TEXT NOT NULL,
    enrolled_at TEXT NOT NULL,
    enrolled_by TEXT NOT NULL,
    removed_at TEXT,
    seen_at TEXT
);
CREATE TABLE job_grants (
    job BIGINT NOT NULL REFERENCES jobs(id),
    claim BIGINT NOT NULL,
    worker TEXT NOT NULL REFERENCES workers(name),
    sealed BYTEA NOT NULL,
    granted_at TEXT NOT NULL,
    result BYTEA,
    returned_at TEXT,
    PRIMARY KEY (job, claim)
);
";

/// The catalog interface on one PostgreSQL client or transaction.
pub struct Postgres<'c, C: postgres::GenericClient> {
    // The driver's calls take `&mut`; the interface's take `&self`, one at a
    // time on one thread.
    c: RefCell<&'c mut C>,
}

impl<'c, C: postgres::GenericClient> Postgres<'c, C> {
    pub fn new(c: &'c mut C) -> Self {
        Self { c: RefCell::new(c) }
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        Error::Engine(Box::new(e))
    }
}

/// SQLite's `in_scope` in PostgreSQL's dialect: the org path `path` lies in
/// the scope bound at `$n` (NULL: every org), itself or below an entry.
fn in_scope(path: &str, n: u8) -> String {
    format!(
        "(${n}::text IS NULL OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(${n}::text::jsonb) s(v) \
         WHERE {path} = s.v OR left({path}, length(s.v) + 1) = s.v || '/'))"
    )
}

/// An unsigned count or duration as PostgreSQL's BIGINT.
fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A BIGINT or INTEGER column that holds a count: never negative.
fn unsigned<T: TryInto<u64>>(n: T) -> u64 {
    n.try_into().unwrap_or(0)
}
