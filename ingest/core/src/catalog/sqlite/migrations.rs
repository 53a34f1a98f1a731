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
-- Issue 15, roster slice. The role `secretary` and the meeting kind `committee`
-- (họp chi ủy) widen CHECKs, which SQLite changes only by rebuilding the table.
-- Foreign keys stay on inside the migration's transaction: they are deferred,
-- so dropping a parent (users, meetings) counts its children as violations and
-- re-inserting the same ids clears them before the commit checks.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE users_before_secretary AS SELECT * FROM users;
DROP TABLE users;
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'inspector', 'auditor', 'recorder', 'secretary')),
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    password_hash TEXT
);
INSERT INTO users (id, name, role, disabled, created_at, password_hash)
    SELECT id, name, role, disabled, created_at, password_hash FROM users_before_secretary;
DROP TABLE users_before_secretary;
CREATE TABLE meetings_before_committee AS SELECT * FROM meetings;
DROP TABLE meetings;
CREATE TABLE meetings (
    id TEXT PRIMARY KEY,
    org TEXT NOT NULL REFERENCES orgs(id),
    kind TEXT NOT NULL CHECK (kind IN ('regular', 'thematic', 'conference', 'committee')),
    title TEXT NOT NULL,
    scheduled_at TEXT NOT NULL,
    recording TEXT UNIQUE REFERENCES recordings(id),
    created_at TEXT NOT NULL,
    language TEXT,
    schedule TEXT REFERENCES schedules(id)
);
INSERT INTO meetings (id, org, kind, title, scheduled_at, recording, created_at, language, schedule)
    SELECT id, org, kind, title, scheduled_at, recording, created_at, language, schedule FROM meetings_before_committee;
DROP TABLE meetings_before_committee;
CREATE INDEX meetings_org ON meetings(org);
CREATE INDEX meetings_schedule ON meetings(schedule, scheduled_at);
CREATE TABLE retention_policies_before_committee AS SELECT * FROM retention_policies;
DROP TABLE retention_policies;
CREATE TABLE retention_policies (
    id TEXT PRIMARY KEY,
    org TEXT REFERENCES orgs(id),
    kind TEXT CHECK (kind IN ('regular', 'thematic', 'conference', 'committee')),
    keep_days INTEGER NOT NULL CHECK (keep_days >= 1),
    applies_from TEXT NOT NULL,
    needs_approval INTEGER NOT NULL DEFAULT 0,
    requested_by TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    approved_by TEXT,
    approved_at TEXT
);
INSERT INTO retention_policies
    SELECT id, org, kind, keep_days, applies_from, needs_approval, requested_by, requested_at, approved_by, approved_at
    FROM retention_policies_before_committee;
DROP TABLE retention_policies_before_committee;
-- The roster: a member is one person; a membership is their time in one cell
-- (a transfer ends one and starts another, so the history stays). The name and
-- the member number identify a person: they are kept only sealed under the note
-- key, bound to `member/<id>` (the same facts the ledger carries sealed).
CREATE TABLE members (
    id TEXT PRIMARY KEY,
    sealed TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE memberships (
    member TEXT NOT NULL REFERENCES members(id),
    org TEXT NOT NULL REFERENCES orgs(id),
    role TEXT NOT NULL CHECK (role IN ('secretary', 'deputy', 'committee', 'member')),
    -- Local dates, YYYY-MM-DD.
    joined TEXT NOT NULL,
    left_on TEXT,
    exempt INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    PRIMARY KEY (member, org, joined)
);
CREATE INDEX memberships_org ON memberships(org, left_on);
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
    // Attendance (the meeting record): one row per stored version of a
    // meeting's sheet, each its own record object and record.attendance.stored
    // entry, never overwritten; absence requests with their decision, the
    // reason sealed under the note key.
    "
CREATE TABLE meeting_attendance (
    id TEXT PRIMARY KEY,
    meeting TEXT NOT NULL REFERENCES meetings(id),
    version INTEGER NOT NULL,
    sealed TEXT NOT NULL,
    meta TEXT NOT NULL,
    stored_at TEXT NOT NULL,
    stored_by TEXT NOT NULL,
    UNIQUE (meeting, version)
);
CREATE TABLE absence_requests (
    id TEXT PRIMARY KEY,
    meeting TEXT NOT NULL REFERENCES meetings(id),
    member TEXT NOT NULL REFERENCES members(id),
    sealed TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    approved INTEGER,
    late INTEGER NOT NULL DEFAULT 0,
    decided_at TEXT,
    decided_by TEXT
);
CREATE INDEX absence_requests_meeting ON absence_requests (meeting, requested_at);
",
    // The rest of the meeting record: the bloc's evaluations (each version a
    // record object, never overwritten), a written absence report (a sealed
    // document of kind absence_report), the retention class of a policy
    // (media: recordings and transcripts; record: attendance, documents,
    // minutes, evaluations), and committee schedules. Minutes are documents of
    // kind `minutes` (meeting_documents), stored as record.minutes.stored.
    "
CREATE TABLE meeting_evaluations (
    id TEXT PRIMARY KEY,
    meeting TEXT NOT NULL REFERENCES meetings(id),
    version INTEGER NOT NULL,
    -- Content quality 1-5, and how many checklist items were met of how many.
    score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    met INTEGER NOT NULL,
    items INTEGER NOT NULL,
    -- The comment, sealed under the note key (may name people).
    sealed TEXT NOT NULL,
    meta TEXT NOT NULL,
    stored_at TEXT NOT NULL,
    stored_by TEXT NOT NULL,
    UNIQUE (meeting, version)
);
ALTER TABLE absence_requests ADD COLUMN report TEXT REFERENCES meeting_documents(id);
ALTER TABLE retention_policies ADD COLUMN class TEXT NOT NULL DEFAULT 'media' CHECK (class IN ('media', 'record'));
PRAGMA defer_foreign_keys = ON;
CREATE TABLE schedules_before_committee AS SELECT * FROM schedules;
DROP TABLE schedules;
CREATE TABLE schedules (
    id TEXT PRIMARY KEY,
    org TEXT NOT NULL REFERENCES orgs(id),
    kind TEXT NOT NULL CHECK (kind IN ('regular', 'thematic', 'conference', 'committee')),
    title TEXT NOT NULL,
    day_of_month INTEGER NOT NULL CHECK (day_of_month BETWEEN 1 AND 28),
    time_local TEXT NOT NULL,
    created_at TEXT NOT NULL
);
INSERT INTO schedules (id, org, kind, title, day_of_month, time_local, created_at)
    SELECT id, org, kind, title, day_of_month, time_local, created_at FROM schedules_before_committee;
DROP TABLE schedules_before_committee;
",
    // Transcription workers outside the service (`niem worker transcribe`).
    // Additive only (expand): a node of the previous release keeps working on
    // this catalog, it just never hands a job to a worker.
    // - `workers`: the enrolled ones, each with the age X25519 recipient the
    //   service seals a job's keys to.
    // - `jobs.worker` names who runs a job (NULL: a node's own thread), `claim`
    //   counts claims (a fencing token: a result or a renewal for an earlier
    //   claim is refused), `lease_until` ends a worker's claim unless renewed.
    // - `job_grants`: a claim's keys sealed to its worker, and the worker's
    //   result sealed under the claim's derived key: ciphertext only.
    "-- expand: a node of the previous release ignores the new tables and columns.
CREATE TABLE workers (
    name TEXT PRIMARY KEY,
    recipient TEXT NOT NULL,
    enrolled_at TEXT NOT NULL,
    enrolled_by TEXT NOT NULL,
    removed_at TEXT,
    seen_at TEXT
);
ALTER TABLE jobs ADD COLUMN worker TEXT;
ALTER TABLE jobs ADD COLUMN claim INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN lease_until TEXT;
CREATE TABLE job_grants (
    job INTEGER NOT NULL REFERENCES jobs(id),
    claim INTEGER NOT NULL,
    worker TEXT NOT NULL REFERENCES workers(name),
    sealed BLOB NOT NULL,
    granted_at TEXT NOT NULL,
    result BLOB,
    returned_at TEXT,
    PRIMARY KEY (job, claim)
);
",
    // Sign-in attempts, in the catalog so that the limit holds across restarts
    // and across nodes, and under racing attempts (each is charged before its
    // password is checked). Keys are HMACs of the address or the name under
    // the link key: neither is stored in clear (a name field may hold a
    // mistyped password).
    "-- expand: a node of the previous release keeps its own limiter.
CREATE TABLE sign_in_attempts (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    since TEXT NOT NULL
);
",
    // Which node a live stream is spooled on: with several nodes sharing one
    // catalog, a node closes, interrupts and drains only its own streams
    // (their pieces are in its spool alone), until an admin declares it lost.
    // NULL: the only node of a SQLite catalog.
    "-- expand: a node of the previous release still runs alone on its catalog.
ALTER TABLE live_streams ADD COLUMN node TEXT;
",
    // Which node receives a one-body upload: with several nodes on one
    // catalog, a node that starts closes only its own uploads cut by its stop
    // (another node's may be arriving at this moment), and declaring a node
    // lost closes its. Resumable uploads are not here: any node continues them.
    "-- expand: a node of the previous release still runs alone on its catalog.
CREATE TABLE upload_receivers (
    stream TEXT PRIMARY KEY REFERENCES streams(id),
    node TEXT NOT NULL
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

    /// The step that widens the role and kind CHECKs rebuilds users, meetings
    /// and retention_policies under a catalog with rows that point at them:
    /// nothing is lost, every foreign key still holds, and the new values fit.
    #[test]
    fn the_secretary_and_committee_step_keeps_rows_and_their_children() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join("catalog.db")).unwrap();
        let before = super::MIGRATIONS.iter().position(|sql| sql.contains("users_before_secretary")).unwrap();
        cat.migrate("ingest", &super::MIGRATIONS[..before]).unwrap();
        cat.with(|c| {
            c.execute_batch(
                "INSERT INTO orgs (id, kind, name, path, created_at) VALUES ('o', 'cell', 'Chi bộ', '/o', 't');
                 INSERT INTO users (id, name, role, created_at) VALUES ('u', 'an', 'inspector', 't');
                 INSERT INTO tokens (id, user_id, secret_sha256, created_at) VALUES ('k', 'u', x'00', 't');
                 INSERT INTO user_scopes (user_id, org) VALUES ('u', 'o');
                 INSERT INTO meetings (id, org, kind, title, scheduled_at, created_at) VALUES ('m', 'o', 'regular', 'x', 't', 't');
                 INSERT INTO alerts (meeting, kind, raised_at) VALUES ('m', 'missed', 't');
                 INSERT INTO retention_policies (id, kind, keep_days, applies_from, requested_by, requested_at)
                     VALUES ('p', 'thematic', 30, 't', 'host', 't');",
            )
            .unwrap()
        });
        drop(cat);
        let cat = Catalog::open(&dir.path().join("catalog.db")).unwrap();
        cat.migrate("ingest", super::MIGRATIONS).unwrap();
        cat.with(|c| {
            let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
            assert_eq!(count("SELECT COUNT(*) FROM users u JOIN tokens t ON t.user_id = u.id JOIN user_scopes s ON s.user_id = u.id"), 1);
            assert_eq!(count("SELECT COUNT(*) FROM meetings m JOIN alerts a ON a.meeting = m.id"), 1);
            assert_eq!(count("SELECT COUNT(*) FROM retention_policies WHERE kind = 'thematic'"), 1);
            let broken: Vec<String> = {
                let mut stmt = c.prepare("PRAGMA foreign_key_check").unwrap();
                stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
            };
            assert!(broken.is_empty(), "foreign keys hold: {broken:?}");
            c.execute_batch(
                "INSERT INTO users (id, name, role, created_at) VALUES ('s', 'thư ký', 'secretary', 't');
                 INSERT INTO meetings (id, org, kind, title, scheduled_at, created_at) VALUES ('c', 'o', 'committee', 'x', 't', 't');
                 INSERT INTO retention_policies (id, kind, keep_days, applies_from, requested_by, requested_at)
                     VALUES ('q', 'committee', 30, 't', 'host', 't');",
            )
            .unwrap();
            let refused = c.execute("INSERT INTO users (id, name, role, created_at) VALUES ('z', 'z', 'member', 't')", []);
            assert!(refused.is_err(), "the CHECK still refuses unknown roles");
        });
    }
}
