//! The service's own tables on SQLite: an append-only list of numbered steps
//! (ARCHITECTURE.md, "Catalog migrations"); a released step is never edited.
//! Another engine keeps its own list for the same tables.

pub const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE orgs (
    id TEXT PRIMARY KEY,
    parent TEXT REFERENCES orgs(id),
    kind TEXT NOT NULL CHECK (kind IN ('bloc', 'base', 'cell')),
    name TEXT NOT NULL,
    path TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE meetings (
    id TEXT PRIMARY KEY,
    org TEXT NOT NULL REFERENCES orgs(id),
    kind TEXT NOT NULL CHECK (kind IN ('regular', 'thematic', 'conference')),
    title TEXT NOT NULL,
    scheduled_at TEXT NOT NULL,
    recording TEXT UNIQUE REFERENCES recordings(id),
    created_at TEXT NOT NULL
);
CREATE INDEX meetings_org ON meetings(org);
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'inspector', 'auditor', 'recorder')),
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    secret_sha256 BLOB NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    meeting TEXT NOT NULL REFERENCES meetings(id),
    length INTEGER NOT NULL,
    offset INTEGER NOT NULL DEFAULT 0,
    filename TEXT,
    content_type TEXT,
    tail_key TEXT NOT NULL,
    stream TEXT REFERENCES streams(id),
    state TEXT NOT NULL CHECK (state IN ('receiving', 'complete', 'rejected', 'terminated')),
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE verifications (
    recording TEXT NOT NULL REFERENCES recordings(id),
    checked_at TEXT NOT NULL,
    intact INTEGER NOT NULL,
    report TEXT NOT NULL
);
CREATE INDEX verifications_recording ON verifications(recording, checked_at);
",
    "
-- Stream keys are kept like tokens: only SHA-256 of the secret.
CREATE TABLE endpoints (
    id TEXT PRIMARY KEY,
    org TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    key_sha256 BLOB NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    UNIQUE (org, name)
);
-- Live streams of this service: `end_state` is set once the stream's last piece
-- is spooled (or a restart found it cut); the stream closes when the spool has
-- drained it.
CREATE TABLE live_streams (
    stream TEXT PRIMARY KEY REFERENCES streams(id),
    endpoint TEXT NOT NULL REFERENCES endpoints(id),
    recording TEXT NOT NULL REFERENCES recordings(id),
    started_at TEXT NOT NULL,
    end_state TEXT CHECK (end_state IN ('complete', 'interrupted')),
    sha256 TEXT,
    media TEXT
);
CREATE INDEX live_streams_open ON live_streams(end_state);
",
    "
-- Transcription language per org (inherited down the tree) and per meeting.
ALTER TABLE orgs ADD COLUMN language TEXT;
ALTER TABLE meetings ADD COLUMN language TEXT;
-- Background work, durable: sealing a recording queues its transcription in the
-- seal's own transaction. A job found 'running' at start was cut by a crash and
-- runs again.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('transcribe')),
    recording TEXT NOT NULL REFERENCES recordings(id),
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before TEXT NOT NULL,
    error TEXT,
    progress_ms INTEGER NOT NULL DEFAULT 0,
    total_ms INTEGER,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    UNIQUE (kind, recording)
);
CREATE INDEX jobs_state ON jobs(state, not_before);
",
    "
-- Web logins: an argon2id PHC string; NULL for users who only hold tokens.
ALTER TABLE users ADD COLUMN password_hash TEXT;
-- The org subtrees an inspector may see (each org with everything under it).
CREATE TABLE user_scopes (
    user_id TEXT NOT NULL REFERENCES users(id),
    org TEXT NOT NULL REFERENCES orgs(id),
    PRIMARY KEY (user_id, org)
);
-- Web sessions, kept like tokens: only SHA-256 of the cookie's secret.
CREATE TABLE sessions (
    secret_sha256 BLOB PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
",
    "
-- Retention: a policy is a scope (an org subtree, or every org) x a meeting kind
-- (or any) x a keep-for. `applies_from`: recordings sealed from then on follow it;
-- a shortening is in force for older ones only once a second admin approves it.
CREATE TABLE retention_policies (
    id TEXT PRIMARY KEY,
    org TEXT REFERENCES orgs(id),
    kind TEXT CHECK (kind IN ('regular', 'thematic', 'conference')),
    keep_days INTEGER NOT NULL CHECK (keep_days >= 1),
    applies_from TEXT NOT NULL,
    needs_approval INTEGER NOT NULL DEFAULT 0,
    requested_by TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    approved_by TEXT,
    approved_at TEXT
);
-- Legal holds: while one covers a recording (its org in the subtree, its start in
-- [from, to)), nothing deletes it.
CREATE TABLE holds (
    id TEXT PRIMARY KEY,
    org TEXT NOT NULL REFERENCES orgs(id),
    from_ts TEXT NOT NULL,
    to_ts TEXT NOT NULL,
    reason TEXT NOT NULL,
    case_ref TEXT NOT NULL,
    placed_by TEXT NOT NULL,
    placed_at TEXT NOT NULL,
    released_by TEXT,
    released_at TEXT,
    release_reason TEXT
);
",
    "
-- Regular schedules: monthly on a day at a local time; planning creates the
-- expected meetings, which name their schedule.
CREATE TABLE schedules (
    id TEXT PRIMARY KEY,
    org TEXT NOT NULL REFERENCES orgs(id),
    kind TEXT NOT NULL CHECK (kind IN ('regular', 'thematic', 'conference')),
    title TEXT NOT NULL,
    day_of_month INTEGER NOT NULL CHECK (day_of_month BETWEEN 1 AND 28),
    time_local TEXT NOT NULL,
    created_at TEXT NOT NULL
);
ALTER TABLE meetings ADD COLUMN schedule TEXT REFERENCES schedules(id);
CREATE INDEX meetings_schedule ON meetings(schedule, scheduled_at);
-- One alert per missed meeting, delivered to the webhook until it answers 2xx.
CREATE TABLE alerts (
    meeting TEXT PRIMARY KEY REFERENCES meetings(id),
    kind TEXT NOT NULL CHECK (kind IN ('missed')),
    raised_at TEXT NOT NULL,
    delivered_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
",
    "
-- Object Lock applied to a recording's chunks and manifest, so that the
-- reconciler only calls the store when the wanted state changes.
CREATE TABLE object_locks (
    recording TEXT PRIMARY KEY REFERENCES recordings(id),
    retain_until TEXT,
    legal_hold INTEGER NOT NULL DEFAULT 0,
    applied_at TEXT NOT NULL
);
",
    "
-- Scheduled self-verification of the whole store (the verifier niem-audit runs):
-- each run's verdict, for metrics and the integrity badges.
CREATE TABLE store_verifications (
    checked_at TEXT NOT NULL,
    intact INTEGER NOT NULL,
    entries INTEGER NOT NULL,
    objects INTEGER NOT NULL,
    invalid INTEGER NOT NULL,
    problems TEXT NOT NULL
);
CREATE INDEX store_verifications_at ON store_verifications(checked_at);
",
    "
-- What each recording verification was checked against (the newest signed
-- checkpoint then: entries covered and its time) and what ran it: 'seal',
-- 'request', or 'scheduled' (the store-wide run; only its newest row is kept).
-- The meeting page shows the newest row and never verifies on a page view.
ALTER TABLE verifications ADD COLUMN checkpoint_size INTEGER;
ALTER TABLE verifications ADD COLUMN checkpoint_ts TEXT;
ALTER TABLE verifications ADD COLUMN source TEXT;
",
    "
-- Changes of who is an admin that wait for a second admin (four-eyes): a new
-- admin's name and password hash wait here, like a user's, until approved.
CREATE TABLE user_requests (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    change TEXT NOT NULL,
    name TEXT,
    password_hash TEXT,
    requested_by TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    approve_before TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected')),
    decided_by TEXT,
    decided_at TEXT
);
",
    "
-- Rolling verification: a run fetches new objects and a slice of old ones
-- ('rolling'), or every object ('full'); how many it fetched of how many.
ALTER TABLE store_verifications ADD COLUMN mode TEXT NOT NULL DEFAULT 'full';
ALTER TABLE store_verifications ADD COLUMN fetched INTEGER;
ALTER TABLE store_verifications ADD COLUMN population INTEGER;
",
    "
-- The meeting record's documents (storage format v4): one row per record
-- object, committed with its record.document.stored entry. Title and file name
-- are sealed under the note key (the entry's own note); meta is the object's
-- pieces, key hash and plaintext hash (archive::record::RecordMeta).
CREATE TABLE meeting_documents (
    id TEXT PRIMARY KEY,
    meeting TEXT NOT NULL REFERENCES meetings(id),
    kind TEXT NOT NULL,
    content_type TEXT NOT NULL,
    confidential INTEGER NOT NULL,
    sealed TEXT NOT NULL,
    meta TEXT NOT NULL,
    stored_at TEXT NOT NULL,
    stored_by TEXT NOT NULL
);
CREATE INDEX meeting_documents_meeting ON meeting_documents (meeting, stored_at);
-- Each meeting's member-link generation: a link names the generation it was
-- made in, and a revocation (record.link.revoked) bumps it.
CREATE TABLE meeting_links (
    meeting TEXT PRIMARY KEY REFERENCES meetings(id),
    generation INTEGER NOT NULL
);
",
];

#[cfg(test)]
mod tests {
    use archive::catalog::Catalog;

    fn versions(cat: &Catalog, component: &str) -> Vec<usize> {
        cat.with(|c| {
            let mut stmt =
                c.prepare("SELECT version FROM schema_migrations WHERE component = ?1 ORDER BY version").unwrap();
            stmt.query_map([component], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
        })
    }

    /// From an empty catalog, each component's steps run in order; starting again
    /// runs none. (The upgrade from a released catalog: tests/tests/upgrade.rs.)
    #[test]
    fn every_component_migrates_an_empty_catalog_in_order_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let open = || {
            let cat = Catalog::open(&path).unwrap();
            cat.migrate("ingest", super::MIGRATIONS).unwrap();
            cat.refuse_unknown_components().unwrap();
            cat
        };
        let cat = open();
        let all = |n: usize| (0..n).collect::<Vec<_>>();
        assert_eq!(versions(&cat, "ledger"), all(1));
        assert_eq!(versions(&cat, "archive"), all(archive::catalog::ARCHIVE_MIGRATIONS.len()));
        assert_eq!(versions(&cat, "ingest"), all(super::MIGRATIONS.len()));
        let schema = |cat: &Catalog| -> Vec<String> {
            cat.with(|c| {
                let mut stmt = c
                    .prepare("SELECT type || ' ' || name || ' ' || COALESCE(sql, '') FROM sqlite_master ORDER BY name")
                    .unwrap();
                stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
            })
        };
        let before = schema(&cat);
        drop(cat);
        let cat = open();
        assert_eq!(schema(&cat), before, "a second start changes nothing");
        assert_eq!(versions(&cat, "ingest"), all(super::MIGRATIONS.len()));
    }
}
