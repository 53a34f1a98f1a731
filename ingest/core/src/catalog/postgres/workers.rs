//! Transcription workers and their claims on PostgreSQL.

use super::jobs::job_of;
use super::{big, parse, unsigned, Postgres};
use crate::catalog::workers::{GrantDue, Lapsed, Returned, WorkerRow, Workers};
use crate::catalog::{Job, Result, TRANSCRIBE};
use archive::id::RecordingId;
use postgres::GenericClient;

/// A claim still held: the job runs under that claim, by that worker, and the
/// worker is still enrolled (`$1` job, `$2` claim, `$3` worker).
const HELD: &str = "j.id = $1 AND j.claim = $2 AND j.state = 'running' AND j.worker = $3
    AND EXISTS (SELECT 1 FROM workers w WHERE w.name = j.worker AND w.removed_at IS NULL)";

impl<C: GenericClient> Workers for Postgres<'_, C> {
    fn enroll_worker(&self, name: &str, recipient: &str, by: &str, now: &str) -> Result<bool> {
        let n = self.c.borrow_mut().execute(
            "INSERT INTO workers (name, recipient, enrolled_at, enrolled_by) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE SET recipient = excluded.recipient, enrolled_at = excluded.enrolled_at,
                 enrolled_by = excluded.enrolled_by, removed_at = NULL, seen_at = NULL
             WHERE workers.removed_at IS NOT NULL",
            &[&name, &recipient, &now, &by],
        )?;
        Ok(n == 1)
    }

    fn remove_worker(&self, name: &str, now: &str) -> Result<bool> {
        let n = self
            .c
            .borrow_mut()
            .execute("UPDATE workers SET removed_at = $2 WHERE name = $1 AND removed_at IS NULL", &[&name, &now])?;
        Ok(n == 1)
    }

    fn workers(&self) -> Result<Vec<WorkerRow>> {
        let rows = self.c.borrow_mut().query(
            "SELECT name, recipient, enrolled_at, enrolled_by, removed_at, seen_at FROM workers
             ORDER BY removed_at IS NOT NULL, name",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| WorkerRow {
                name: r.get(0),
                recipient: r.get(1),
                enrolled_at: r.get(2),
                enrolled_by: r.get(3),
                removed_at: r.get(4),
                seen_at: r.get(5),
            })
            .collect())
    }

    fn claim_job_as(&self, name: &str, now: &str, lease_until: &str) -> Result<Option<Job>> {
        let mut c = self.c.borrow_mut();
        let row = c.query_opt(
            "UPDATE jobs SET state = 'running', started_at = $2, error = NULL, worker = $1,
                    lease_until = $3, claim = claim + 1
             WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND kind = $4 AND not_before <= $2
                         ORDER BY not_before, id LIMIT 1 FOR UPDATE SKIP LOCKED)
               AND EXISTS (SELECT 1 FROM workers WHERE name = $1 AND removed_at IS NULL)
             RETURNING id, recording, attempts, claim",
            &[&name, &now, &lease_until, &TRANSCRIBE],
        )?;
        if row.is_some() {
            c.execute("UPDATE workers SET seen_at = $2 WHERE name = $1", &[&name, &now])?;
        }
        row.as_ref().map(job_of).transpose()
    }

    fn renew_claim(
        &self,
        job: i64,
        claim: i64,
        name: &str,
        now: &str,
        lease_until: &str,
        (progress_ms, total_ms): (u64, Option<u64>),
    ) -> Result<bool> {
        let mut c = self.c.borrow_mut();
        let sql = format!(
            "UPDATE jobs AS j SET lease_until = $4, progress_ms = $5, total_ms = COALESCE($6, total_ms) WHERE {HELD}"
        );
        let n = c.execute(&sql, &[&job, &claim, &name, &lease_until, &big(progress_ms), &total_ms.map(big)])?;
        if n == 1 {
            c.execute("UPDATE workers SET seen_at = $2 WHERE name = $1", &[&name, &now])?;
        }
        Ok(n == 1)
    }

    fn grants_due(&self) -> Result<Vec<GrantDue>> {
        let rows = self.c.borrow_mut().query(
            "SELECT j.id, j.claim, j.recording, w.name, w.recipient, j.attempts FROM jobs j
             JOIN workers w ON w.name = j.worker AND w.removed_at IS NULL
             WHERE j.state = 'running'
               AND NOT EXISTS (SELECT 1 FROM job_grants g WHERE g.job = j.id AND g.claim = j.claim)
             ORDER BY j.id",
            &[],
        )?;
        rows.iter()
            .map(|r| {
                Ok(GrantDue {
                    job: r.get(0),
                    claim: r.get(1),
                    attempts: unsigned(r.get::<_, i64>(5)) as u32,
                    recording: parse("recording id", r.get(2))?,
                    worker: r.get(3),
                    recipient: r.get(4),
                })
            })
            .collect()
    }

    fn put_grant(&self, job: i64, claim: i64, worker: &str, sealed: &[u8], now: &str) -> Result<()> {
        let mut c = self.c.borrow_mut();
        c.execute("DELETE FROM job_grants WHERE job = $1 AND claim < $2", &[&job, &claim])?;
        c.execute(
            "INSERT INTO job_grants (job, claim, worker, sealed, granted_at) VALUES ($1, $2, $3, $4, $5)",
            &[&job, &claim, &worker, &sealed, &now],
        )?;
        Ok(())
    }

    fn grant(&self, job: i64, claim: i64, worker: &str) -> Result<Option<Vec<u8>>> {
        let sql = format!(
            "SELECT g.sealed FROM job_grants g JOIN jobs j ON j.id = g.job AND j.claim = g.claim
             WHERE {HELD} AND g.worker = j.worker"
        );
        Ok(self.c.borrow_mut().query_opt(&sql, &[&job, &claim, &worker])?.map(|r| r.get(0)))
    }

    fn return_result(&self, job: i64, claim: i64, worker: &str, sealed: &[u8], now: &str) -> Result<bool> {
        let sql = format!(
            "UPDATE job_grants AS g SET result = $4, returned_at = $5
             WHERE g.job = $1 AND g.claim = $2 AND g.worker = $3 AND g.result IS NULL
               AND EXISTS (SELECT 1 FROM jobs j WHERE {HELD})"
        );
        Ok(self.c.borrow_mut().execute(&sql, &[&job, &claim, &worker, &sealed, &now])? == 1)
    }

    fn returned(&self) -> Result<Vec<Returned>> {
        let rows = self.c.borrow_mut().query(
            "SELECT j.id, j.claim, j.recording, g.worker, j.attempts, g.result FROM job_grants g
             JOIN jobs j ON j.id = g.job AND j.claim = g.claim AND j.state = 'running' AND j.worker = g.worker
             WHERE g.result IS NOT NULL ORDER BY g.returned_at, j.id",
            &[],
        )?;
        rows.iter()
            .map(|r| {
                Ok(Returned {
                    job: r.get(0),
                    claim: r.get(1),
                    recording: parse("recording id", r.get(2))?,
                    worker: r.get(3),
                    attempts: unsigned(r.get::<_, i64>(4)) as u32,
                    result: r.get(5),
                })
            })
            .collect()
    }

    fn finish_claim(&self, job: i64, claim: i64, now: &str) -> Result<bool> {
        let mut c = self.c.borrow_mut();
        let n = c.execute(
            "UPDATE jobs SET state = 'done', finished_at = $3, error = NULL, lease_until = NULL
             WHERE id = $1 AND claim = $2 AND state = 'running'",
            &[&job, &claim, &now],
        )?;
        c.execute("DELETE FROM job_grants WHERE job = $1", &[&job])?;
        Ok(n == 1)
    }

    fn end_claim(
        &self,
        job: i64,
        claim: i64,
        error: &str,
        retry_at: Option<&str>,
        counted: bool,
        now: &str,
    ) -> Result<bool> {
        let mut c = self.c.borrow_mut();
        let add = i64::from(counted);
        let n = match retry_at {
            Some(at) => c.execute(
                "UPDATE jobs SET state = 'queued', attempts = attempts + $4, error = $3, not_before = $5,
                        started_at = NULL, lease_until = NULL
                 WHERE id = $1 AND claim = $2 AND state = 'running'",
                &[&job, &claim, &error, &add, &at],
            )?,
            None => c.execute(
                "UPDATE jobs SET state = 'failed', attempts = attempts + $4, error = $3, finished_at = $5,
                        lease_until = NULL
                 WHERE id = $1 AND claim = $2 AND state = 'running'",
                &[&job, &claim, &error, &add, &now],
            )?,
        };
        c.execute("DELETE FROM job_grants WHERE job = $1 AND claim <= $2", &[&job, &claim])?;
        Ok(n == 1)
    }

    fn forget_grants(&self, rec: RecordingId) -> Result<usize> {
        let n = self.c.borrow_mut().execute(
            "DELETE FROM job_grants WHERE job IN (SELECT id FROM jobs WHERE recording = $1)",
            &[&rec.to_string()],
        )?;
        Ok(n as usize)
    }

    fn lapsed_claims(&self, now: &str) -> Result<Vec<Lapsed>> {
        let rows = self.c.borrow_mut().query(
            "SELECT j.id, j.claim, j.recording, j.worker, j.attempts FROM jobs j
             WHERE j.state = 'running' AND j.worker IS NOT NULL AND j.lease_until < $1
               AND NOT EXISTS (SELECT 1 FROM job_grants g WHERE g.job = j.id AND g.claim = j.claim
                               AND g.result IS NOT NULL)
             ORDER BY j.id",
            &[&now],
        )?;
        rows.iter()
            .map(|r| {
                Ok(Lapsed {
                    job: r.get(0),
                    claim: r.get(1),
                    recording: parse("recording id", r.get(2))?,
                    worker: r.get(3),
                    attempts: unsigned(r.get::<_, i64>(4)) as u32,
                })
            })
            .collect()
    }
}
