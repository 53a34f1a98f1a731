//! The durable job queue in the catalog (`jobs`): background work that must
//! happen once per recording, whatever crashes in between.
//!
//! Invariants:
//! - a sealed recording always has its transcription job: [`crate::recordings::seal_now`]
//!   queues it in the seal's own transaction, and [`settle`] at start queues one
//!   for any sealed recording that lacks it (recordings sealed before this
//!   version);
//! - a job is `running` only while a worker of this process holds it: at start,
//!   `running` jobs were cut by a crash or shutdown and go back to `queued`,
//!   without counting an attempt;
//! - `done` is set in the same transaction as the result's ledger entry, so a job
//!   is never done without its result, nor its result recorded twice.

use archive::id::RecordingId;
use archive::vault::VaultError;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

pub const TRANSCRIBE: &str = "transcribe";

/// A job a worker has claimed.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub recording: RecordingId,
    /// Attempts before this one.
    pub attempts: u32,
}

/// A job as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    pub id: i64,
    pub kind: String,
    pub recording: String,
    pub state: String,
    pub attempts: u32,
    /// Not run again before this time (a retry's backoff).
    pub not_before: String,
    pub error: Option<String>,
    /// Audio transcribed so far, of `total_ms`.
    pub progress_ms: u64,
    pub total_ms: Option<u64>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

/// Queues a recording's transcription (once; queuing again is a no-op).
pub fn enqueue_transcription(tx: &rusqlite::Transaction<'_>, rec: RecordingId, now: &str) -> Result<(), VaultError> {
    tx.execute(
        "INSERT OR IGNORE INTO jobs (kind, recording, state, not_before, created_at) VALUES (?1, ?2, 'queued', ?3, ?3)",
        params![TRANSCRIBE, rec.to_string(), now],
    )?;
    Ok(())
}

/// At start: jobs cut while running go back to the queue, and sealed recordings
/// without a transcription job get one. Returns (requeued, queued).
pub fn settle(c: &mut rusqlite::Connection, now: &str) -> Result<(usize, usize), VaultError> {
    let tx = c.transaction()?;
    let requeued = tx.execute("UPDATE jobs SET state = 'queued', started_at = NULL WHERE state = 'running'", [])?;
    let queued = tx.execute(
        "INSERT INTO jobs (kind, recording, state, not_before, created_at)
         SELECT ?1, r.id, 'queued', ?2, ?2 FROM recordings r
         WHERE r.state = 'sealed'
           AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.kind = ?1 AND j.recording = r.id)
           AND NOT EXISTS (SELECT 1 FROM transcripts t WHERE t.recording = r.id AND t.state = 'stored')",
        params![TRANSCRIBE, now],
    )?;
    tx.commit()?;
    Ok((requeued, queued))
}

/// Takes the next queued job that is due, oldest first, and marks it running.
pub fn claim(c: &rusqlite::Connection, now: &str) -> Result<Option<Job>, VaultError> {
    let row: Option<(i64, String, u32)> = c
        .query_row(
            "UPDATE jobs SET state = 'running', started_at = ?1, error = NULL
             WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND not_before <= ?1 ORDER BY not_before, id LIMIT 1)
             RETURNING id, recording, attempts",
            [now],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    row.map(|(id, rec, attempts)| {
        let recording =
            rec.parse().map_err(|_| VaultError::Conflict(format!("job {id} names a malformed recording id")))?;
        Ok(Job { id, recording, attempts })
    })
    .transpose()
}

pub fn set_progress(
    c: &rusqlite::Connection,
    id: i64,
    progress_ms: u64,
    total_ms: Option<u64>,
) -> Result<(), VaultError> {
    c.execute(
        "UPDATE jobs SET progress_ms = ?2, total_ms = COALESCE(?3, total_ms) WHERE id = ?1",
        params![id, progress_ms, total_ms],
    )?;
    Ok(())
}

/// Marks a job done; runs inside the transaction that records its result.
pub fn mark_done(tx: &rusqlite::Transaction<'_>, id: i64, now: &str) -> Result<(), VaultError> {
    tx.execute("UPDATE jobs SET state = 'done', finished_at = ?2, error = NULL WHERE id = ?1", params![id, now])?;
    Ok(())
}

/// After a failed attempt: queued again after `not_before`, or `failed` for good.
pub fn failed_attempt(
    c: &rusqlite::Connection,
    id: i64,
    error: &str,
    retry_at: Option<&str>,
    now: &str,
) -> Result<(), VaultError> {
    match retry_at {
        Some(at) => c.execute(
            "UPDATE jobs SET state = 'queued', attempts = attempts + 1, error = ?2, not_before = ?3, started_at = NULL WHERE id = ?1",
            params![id, error, at],
        )?,
        None => c.execute(
            "UPDATE jobs SET state = 'failed', attempts = attempts + 1, error = ?2, finished_at = ?3 WHERE id = ?1",
            params![id, error, now],
        )?,
    };
    Ok(())
}

/// A job stopped by shutdown (or waiting for the store): back to the queue, no
/// attempt counted.
pub fn put_back(c: &rusqlite::Connection, id: i64, error: Option<&str>, not_before: &str) -> Result<(), VaultError> {
    c.execute(
        "UPDATE jobs SET state = 'queued', started_at = NULL, error = ?2, not_before = ?3 WHERE id = ?1",
        params![id, error, not_before],
    )?;
    Ok(())
}

/// `FROM` and `WHERE` of the jobs a caller may see: those of recordings whose
/// org lies in the scope bound at `?1`.
fn scoped_jobs() -> String {
    format!(
        "FROM jobs j JOIN recordings r ON r.id = j.recording JOIN orgs o ON o.id = r.org WHERE {}",
        crate::principal::in_scope_sql("o.path", 1)
    )
}

/// Jobs for the API within `scope` ([`crate::principal::Principal::scope_json`]):
/// unfinished first, then the most recent.
pub fn list(
    c: &rusqlite::Connection,
    scope: Option<String>,
    state: Option<&str>,
    limit: u32,
) -> Result<Vec<JobView>, VaultError> {
    let sql = format!(
        "SELECT j.id, j.kind, j.recording, j.state, j.attempts, j.not_before, j.error,
                j.progress_ms, j.total_ms, j.created_at, j.started_at, j.finished_at
         {} AND (?2 IS NULL OR j.state = ?2)
         ORDER BY CASE j.state WHEN 'running' THEN 0 WHEN 'queued' THEN 1 WHEN 'failed' THEN 2
                  ELSE 3 END, j.id DESC
         LIMIT ?3",
        scoped_jobs()
    );
    let mut stmt = c.prepare(&sql)?;
    let rows = stmt.query_map(params![scope, state, limit], |r| {
        Ok(JobView {
            id: r.get(0)?,
            kind: r.get(1)?,
            recording: r.get(2)?,
            state: r.get(3)?,
            attempts: r.get(4)?,
            not_before: r.get(5)?,
            error: r.get(6)?,
            progress_ms: r.get(7)?,
            total_ms: r.get(8)?,
            created_at: r.get(9)?,
            started_at: r.get(10)?,
            finished_at: r.get(11)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// How many jobs within `scope` are in each state.
pub fn counts(
    c: &rusqlite::Connection,
    scope: Option<String>,
) -> Result<std::collections::BTreeMap<String, u64>, VaultError> {
    let mut stmt = c.prepare(&format!("SELECT j.state, COUNT(*) {} GROUP BY j.state", scoped_jobs()))?;
    let rows = stmt.query_map([scope], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> (tempfile::TempDir, rusqlite::Connection) {
        let dir = tempfile::tempdir().unwrap();
        let cat = archive::catalog::Catalog::open(&dir.path().join("c.db")).unwrap();
        cat.migrate("ingest", crate::schema::MIGRATIONS).unwrap();
        drop(cat);
        let conn = rusqlite::Connection::open(dir.path().join("c.db")).unwrap();
        (dir, conn)
    }

    fn recording(c: &rusqlite::Connection, state: &str) -> RecordingId {
        recording_of(c, "o", state)
    }

    /// A recording of org `org` (a cell at `/<org>`).
    fn recording_of(c: &rusqlite::Connection, org: &str, state: &str) -> RecordingId {
        let rec = RecordingId::new();
        c.execute(
            "INSERT OR IGNORE INTO orgs (id, kind, name, path, created_at)
             VALUES (?1, 'cell', ?1, '/' || ?1, ?2)",
            params![org, T0],
        )
        .unwrap();
        c.execute(
            "INSERT INTO recordings (id, meeting, org, state, started_at)
             VALUES (?1, 'm', ?2, ?3, ?4)",
            params![rec.to_string(), org, state, T0],
        )
        .unwrap();
        rec
    }

    const T0: &str = "2026-11-22T08:00:00.000Z";
    const T1: &str = "2026-11-22T08:00:30.000Z";

    #[test]
    fn a_job_is_retried_after_its_backoff_then_given_up_with_its_reason() {
        let (_d, mut c) = catalog();
        let rec = recording(&c, "sealed");
        let tx = c.transaction().unwrap();
        enqueue_transcription(&tx, rec, T0).unwrap();
        enqueue_transcription(&tx, rec, T0).unwrap();
        tx.commit().unwrap();
        assert_eq!(counts(&c, None).unwrap().get("queued"), Some(&1), "queued once");
        let job = claim(&c, T0).unwrap().unwrap();
        assert_eq!((job.recording, job.attempts), (rec, 0));
        assert!(claim(&c, T0).unwrap().is_none(), "a running job is not claimed twice");
        failed_attempt(&c, job.id, "decoder broke", Some(T1), T0).unwrap();
        assert!(claim(&c, T0).unwrap().is_none(), "not before its backoff");
        let again = claim(&c, T1).unwrap().unwrap();
        assert_eq!(again.attempts, 1);
        failed_attempt(&c, again.id, "decoder broke again", None, T1).unwrap();
        let view = &list(&c, None, Some("failed"), 10).unwrap()[0];
        assert_eq!((view.attempts, view.error.as_deref()), (2, Some("decoder broke again")));
        assert!(claim(&c, "2030-01-01T00:00:00.000Z").unwrap().is_none(), "failed is final");
    }

    #[test]
    fn settling_requeues_cut_jobs_and_queues_sealed_recordings_without_one() {
        let (_d, mut c) = catalog();
        let cut = recording(&c, "sealed");
        let tx = c.transaction().unwrap();
        enqueue_transcription(&tx, cut, T0).unwrap();
        tx.commit().unwrap();
        let job = claim(&c, T0).unwrap().unwrap();
        let older = recording(&c, "sealed");
        let _open = recording(&c, "open");
        assert_eq!(settle(&mut c, T1).unwrap(), (1, 1));
        let jobs = list(&c, None, Some("queued"), 10).unwrap();
        assert_eq!(jobs.len(), 2);
        assert!(jobs.iter().any(|j| j.id == job.id && j.attempts == 0), "a crash is not an attempt");
        assert!(jobs.iter().any(|j| j.recording == older.to_string()));
        assert_eq!(settle(&mut c, T1).unwrap(), (0, 0), "settling twice changes nothing");
    }

    #[test]
    fn jobs_are_listed_and_counted_only_within_the_scope() {
        let (_d, mut c) = catalog();
        let (a, b) = (recording_of(&c, "a", "sealed"), recording_of(&c, "b", "sealed"));
        let tx = c.transaction().unwrap();
        enqueue_transcription(&tx, a, T0).unwrap();
        enqueue_transcription(&tx, b, T0).unwrap();
        tx.commit().unwrap();
        let only_a = Some(r#"["/a"]"#.to_string());
        let listed: Vec<String> =
            list(&c, only_a.clone(), None, 10).unwrap().into_iter().map(|j| j.recording).collect();
        assert_eq!(listed, vec![a.to_string()]);
        assert_eq!(counts(&c, only_a).unwrap().get("queued"), Some(&1), "b's job is not counted");
        assert_eq!(list(&c, None, None, 10).unwrap().len(), 2, "no scope: every org");
        assert!(list(&c, Some("[]".into()), None, 10).unwrap().is_empty(), "an empty scope sees nothing");
    }
}
