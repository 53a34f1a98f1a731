//! The job queue on PostgreSQL.

use super::{big, in_scope, scope_param, unsigned, Postgres};
use crate::catalog::{Error, Job, JobProgress, JobView, Jobs, Result, Scope, TRANSCRIBE};
use archive::id::RecordingId;
use postgres::GenericClient;

/// `FROM` and `WHERE` of the jobs a caller may see (scope bound at `$1`).
fn scoped_jobs() -> String {
    format!(
        "FROM jobs j JOIN recordings r ON r.id = j.recording JOIN orgs o ON o.id = r.org WHERE {}",
        in_scope("o.path", 1)
    )
}

/// A claim's `RETURNING id, recording, attempts, claim`.
pub(super) fn job_of(row: &postgres::Row) -> Result<Job> {
    let (id, rec, attempts, claim): (i64, String, i64, i64) = (row.get(0), row.get(1), row.get(2), row.get(3));
    let recording = rec.parse().map_err(|_| Error::malformed(format!("job {id} names a malformed recording id")))?;
    Ok(Job { id, recording, attempts: unsigned(attempts) as u32, claim })
}

impl<C: GenericClient> Jobs for Postgres<'_, C> {
    fn enqueue_transcription(&self, rec: RecordingId, now: &str) -> Result<()> {
        self.c.borrow_mut().execute(
            "INSERT INTO jobs (kind, recording, state, not_before, created_at) VALUES ($1, $2, 'queued', $3, $3)
             ON CONFLICT (kind, recording) DO NOTHING",
            &[&TRANSCRIBE, &rec.to_string(), &now],
        )?;
        Ok(())
    }

    fn settle_jobs(&self, now: &str) -> Result<(usize, usize)> {
        let mut c = self.c.borrow_mut();
        let mut tx = c.transaction()?;
        // A node's own threads died with it; a worker's claim runs on until its lease ends.
        let requeued = tx.execute(
            "UPDATE jobs SET state = 'queued', started_at = NULL WHERE state = 'running' AND worker IS NULL",
            &[],
        )?;
        let queued = tx.execute(
            "INSERT INTO jobs (kind, recording, state, not_before, created_at)
             SELECT $1, r.id, 'queued', $2, $2 FROM recordings r
             WHERE r.state = 'sealed'
               AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.kind = $1 AND j.recording = r.id)
               AND NOT EXISTS (SELECT 1 FROM transcripts t WHERE t.recording = r.id AND t.state = 'stored')",
            &[&TRANSCRIBE, &now],
        )?;
        tx.commit()?;
        Ok((requeued as usize, queued as usize))
    }

    fn claim_job(&self, now: &str) -> Result<Option<Job>> {
        // SKIP LOCKED: nodes claiming at once each take a different job
        // instead of queueing behind one row lock.
        let row = self.c.borrow_mut().query_opt(
            "UPDATE jobs SET state = 'running', started_at = $1, error = NULL, worker = NULL,
                    lease_until = NULL, claim = claim + 1
             WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND not_before <= $1
                         ORDER BY not_before, id LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING id, recording, attempts, claim",
            &[&now],
        )?;
        row.as_ref().map(job_of).transpose()
    }

    fn set_job_progress(&self, id: i64, progress_ms: u64, total_ms: Option<u64>) -> Result<()> {
        self.c.borrow_mut().execute(
            "UPDATE jobs SET progress_ms = $2, total_ms = COALESCE($3, total_ms) WHERE id = $1",
            &[&id, &big(progress_ms), &total_ms.map(big)],
        )?;
        Ok(())
    }

    fn job_done(&self, id: i64, now: &str) -> Result<()> {
        self.c
            .borrow_mut()
            .execute("UPDATE jobs SET state = 'done', finished_at = $2, error = NULL WHERE id = $1", &[&id, &now])?;
        Ok(())
    }

    fn job_failed(&self, id: i64, error: &str, retry_at: Option<&str>, now: &str) -> Result<()> {
        let mut c = self.c.borrow_mut();
        match retry_at {
            Some(at) => c.execute(
                "UPDATE jobs SET state = 'queued', attempts = attempts + 1, error = $2, not_before = $3, started_at = NULL
                 WHERE id = $1",
                &[&id, &error, &at],
            )?,
            None => c.execute(
                "UPDATE jobs SET state = 'failed', attempts = attempts + 1, error = $2, finished_at = $3 WHERE id = $1",
                &[&id, &error, &now],
            )?,
        };
        Ok(())
    }

    fn put_job_back(&self, id: i64, error: Option<&str>, not_before: &str) -> Result<()> {
        self.c.borrow_mut().execute(
            "UPDATE jobs SET state = 'queued', started_at = NULL, error = $2, not_before = $3 WHERE id = $1",
            &[&id, &error, &not_before],
        )?;
        Ok(())
    }

    fn jobs(&self, scope: &Scope, state: Option<&str>, limit: u32) -> Result<Vec<JobView>> {
        let sql = format!(
            "SELECT j.id, j.kind, j.recording, j.state, j.attempts, j.not_before, j.error,
                    j.progress_ms, j.total_ms, j.created_at, j.started_at, j.finished_at,
                    j.worker, j.lease_until
             {} AND ($2::text IS NULL OR j.state = $2)
             ORDER BY CASE j.state WHEN 'running' THEN 0 WHEN 'queued' THEN 1 WHEN 'failed' THEN 2
                      ELSE 3 END, j.id DESC
             LIMIT $3",
            scoped_jobs()
        );
        let rows = self.c.borrow_mut().query(&sql, &[&scope_param(scope), &state, &i64::from(limit)])?;
        Ok(rows
            .iter()
            .map(|r| JobView {
                id: r.get(0),
                kind: r.get(1),
                recording: r.get(2),
                state: r.get(3),
                attempts: unsigned(r.get::<_, i64>(4)) as u32,
                not_before: r.get(5),
                error: r.get(6),
                progress_ms: unsigned(r.get::<_, i64>(7)),
                total_ms: r.get::<_, Option<i64>>(8).map(unsigned),
                created_at: r.get(9),
                started_at: r.get(10),
                finished_at: r.get(11),
                worker: r.get(12),
                lease_until: r.get(13),
            })
            .collect())
    }

    fn job_counts(&self, scope: &Scope) -> Result<std::collections::BTreeMap<String, u64>> {
        let sql = format!("SELECT j.state, COUNT(*) {} GROUP BY j.state", scoped_jobs());
        let rows = self.c.borrow_mut().query(&sql, &[&scope_param(scope)])?;
        Ok(rows.iter().map(|r| (r.get(0), unsigned(r.get::<_, i64>(1)))).collect())
    }

    fn transcription_job(&self, rec: RecordingId) -> Result<Option<JobProgress>> {
        let row = self.c.borrow_mut().query_opt(
            "SELECT state, error, progress_ms, total_ms FROM jobs WHERE kind = 'transcribe' AND recording = $1",
            &[&rec.to_string()],
        )?;
        Ok(row.map(|r| JobProgress {
            state: r.get(0),
            error: r.get(1),
            progress_ms: unsigned(r.get::<_, i64>(2)),
            total_ms: r.get::<_, Option<i64>>(3).map(unsigned),
        }))
    }
}
