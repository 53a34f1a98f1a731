//! The job queue on SQLite.

use super::{in_scope, scope_param, Sqlite};
use crate::catalog::{Error, Job, JobProgress, JobView, Jobs, Result, Scope, TRANSCRIBE};
use archive::id::RecordingId;
use rusqlite::{params, OptionalExtension};

/// `FROM` and `WHERE` of the jobs a caller may see: those of recordings whose
/// org lies in the scope bound at `?1`.
fn scoped_jobs() -> String {
    format!(
        "FROM jobs j JOIN recordings r ON r.id = j.recording JOIN orgs o ON o.id = r.org WHERE {}",
        in_scope("o.path", 1)
    )
}

/// The columns a claim's `RETURNING id, recording, attempts, claim` gives.
pub(super) type Claimed = (i64, String, u32, i64);

pub(super) fn claimed(r: &rusqlite::Row<'_>) -> rusqlite::Result<Claimed> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

pub(super) fn job_of((id, rec, attempts, claim): Claimed) -> Result<Job> {
    let recording = rec.parse().map_err(|_| Error::malformed(format!("job {id} names a malformed recording id")))?;
    Ok(Job { id, recording, attempts, claim })
}

impl Jobs for Sqlite<'_> {
    fn enqueue_transcription(&self, rec: RecordingId, now: &str) -> Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO jobs (kind, recording, state, not_before, created_at) VALUES (?1, ?2, 'queued', ?3, ?3)",
            params![TRANSCRIBE, rec.to_string(), now],
        )?;
        Ok(())
    }

    fn settle_jobs(&self, now: &str) -> Result<(usize, usize)> {
        // Both or neither: a start cut between the two leaves the queue as it was.
        let tx = self.conn.unchecked_transaction()?;
        // A node's own threads died with it; a worker's claim runs on until its
        // lease ends (`lapsed_claims`).
        let requeued = tx.execute(
            "UPDATE jobs SET state = 'queued', started_at = NULL WHERE state = 'running' AND worker IS NULL",
            [],
        )?;
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

    fn claim_job(&self, now: &str) -> Result<Option<Job>> {
        let row = self
            .conn
            .query_row(
                "UPDATE jobs SET state = 'running', started_at = ?1, error = NULL, worker = NULL,
                        lease_until = NULL, claim = claim + 1
                 WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND not_before <= ?1 ORDER BY not_before, id LIMIT 1)
                 RETURNING id, recording, attempts, claim",
                [now],
                claimed,
            )
            .optional()?;
        row.map(job_of).transpose()
    }

    fn set_job_progress(&self, id: i64, progress_ms: u64, total_ms: Option<u64>) -> Result<()> {
        self.conn.execute(
            "UPDATE jobs SET progress_ms = ?2, total_ms = COALESCE(?3, total_ms) WHERE id = ?1",
            params![id, progress_ms, total_ms],
        )?;
        Ok(())
    }

    fn job_done(&self, id: i64, now: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE jobs SET state = 'done', finished_at = ?2, error = NULL WHERE id = ?1",
            params![id, now],
        )?;
        Ok(())
    }

    fn job_failed(&self, id: i64, error: &str, retry_at: Option<&str>, now: &str) -> Result<()> {
        match retry_at {
            Some(at) => self.conn.execute(
                "UPDATE jobs SET state = 'queued', attempts = attempts + 1, error = ?2, not_before = ?3, started_at = NULL WHERE id = ?1",
                params![id, error, at],
            )?,
            None => self.conn.execute(
                "UPDATE jobs SET state = 'failed', attempts = attempts + 1, error = ?2, finished_at = ?3 WHERE id = ?1",
                params![id, error, now],
            )?,
        };
        Ok(())
    }

    fn put_job_back(&self, id: i64, error: Option<&str>, not_before: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE jobs SET state = 'queued', started_at = NULL, error = ?2, not_before = ?3 WHERE id = ?1",
            params![id, error, not_before],
        )?;
        Ok(())
    }

    fn jobs(&self, scope: &Scope, state: Option<&str>, limit: u32) -> Result<Vec<JobView>> {
        let sql = format!(
            "SELECT j.id, j.kind, j.recording, j.state, j.attempts, j.not_before, j.error,
                    j.progress_ms, j.total_ms, j.created_at, j.started_at, j.finished_at,
                    j.worker, j.lease_until
             {} AND (?2 IS NULL OR j.state = ?2)
             ORDER BY CASE j.state WHEN 'running' THEN 0 WHEN 'queued' THEN 1 WHEN 'failed' THEN 2
                      ELSE 3 END, j.id DESC
             LIMIT ?3",
            scoped_jobs()
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![scope_param(scope), state, limit], |r| {
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
                worker: r.get(12)?,
                lease_until: r.get(13)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn job_counts(&self, scope: &Scope) -> Result<std::collections::BTreeMap<String, u64>> {
        let mut stmt = self.conn.prepare(&format!("SELECT j.state, COUNT(*) {} GROUP BY j.state", scoped_jobs()))?;
        let rows = stmt.query_map([scope_param(scope)], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn transcription_job(&self, rec: RecordingId) -> Result<Option<JobProgress>> {
        let row = self
            .conn
            .query_row(
                "SELECT state, error, progress_ms, total_ms FROM jobs WHERE kind = 'transcribe' AND recording = ?1",
                [rec.to_string()],
                |r| Ok(JobProgress { state: r.get(0)?, error: r.get(1)?, progress_ms: r.get(2)?, total_ms: r.get(3)? }),
            )
            .optional()?;
        Ok(row)
    }
}
