//! Retention policies, holds and Object Lock state on PostgreSQL.

use super::{big, parse, unsigned, Postgres};
use crate::catalog::{Hold, PolicyRow, Result, Retention};
use archive::id::RecordObjectId;
use postgres::GenericClient;
use std::collections::HashMap;

impl<C: GenericClient> Retention for Postgres<'_, C> {
    fn policies(&self) -> Result<Vec<PolicyRow>> {
        let rows = self.c.borrow_mut().query(
            "SELECT p.id, p.org, o.path, p.kind, p.keep_days, p.requested_by, p.requested_at, p.class
             FROM retention_policies p LEFT JOIN orgs o ON o.id = p.org ORDER BY p.requested_at, p.id",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| PolicyRow {
                id: r.get(0),
                org: r.get(1),
                org_path: r.get(2),
                kind: r.get(3),
                keep_days: unsigned(r.get::<_, i64>(4)),
                requested_by: r.get(5),
                requested_at: r.get(6),
                class: r.get(7),
            })
            .collect())
    }

    fn insert_policy(&self, p: &PolicyRow) -> Result<()> {
        // `applies_from` and `needs_approval` are no longer read: the ledger's
        // model decides per recording.
        self.c.borrow_mut().execute(
            "INSERT INTO retention_policies (id, org, kind, keep_days, applies_from, needs_approval, requested_by, requested_at, class)
             VALUES ($1, $2, $3, $4, $5, FALSE, $6, $5, $7)",
            &[&p.id, &p.org, &p.kind, &big(p.keep_days), &p.requested_at, &p.requested_by, &p.class],
        )?;
        Ok(())
    }

    fn approve_policy(&self, id: &str, by: &str, at: &str) -> Result<()> {
        self.c.borrow_mut().execute(
            "UPDATE retention_policies SET approved_by = $2, approved_at = $3 WHERE id = $1",
            &[&id, &by, &at],
        )?;
        Ok(())
    }

    fn default_keep_days(&self) -> Result<Option<u64>> {
        // SQLite breaks a tie of `requested_at` by rowid, which PostgreSQL has
        // not: the id, a ULID, follows the order policies were set in (to the
        // millisecond).
        let sql = "SELECT keep_days FROM retention_policies WHERE org IS NULL AND kind IS NULL AND class = 'media'
                   ORDER BY requested_at DESC, id DESC LIMIT 1";
        let row = self.c.borrow_mut().query_opt(sql, &[])?;
        Ok(row.map(|r| unsigned(r.get::<_, i64>(0))))
    }

    fn holds(&self) -> Result<Vec<Hold>> {
        let rows = self.c.borrow_mut().query(
            "SELECT h.id, h.org, o.path, h.from_ts, h.to_ts, h.reason, h.case_ref, h.placed_by, h.placed_at, h.released_at, h.release_reason
             FROM holds h JOIN orgs o ON o.id = h.org ORDER BY h.placed_at",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| Hold {
                id: r.get(0),
                org: r.get(1),
                org_path: r.get(2),
                from: r.get(3),
                to: r.get(4),
                reason: r.get(5),
                case_ref: r.get(6),
                placed_by: r.get(7),
                placed_at: r.get(8),
                released_at: r.get(9),
                release_reason: r.get(10),
            })
            .collect())
    }

    fn insert_hold(&self, h: &Hold) -> Result<()> {
        self.c.borrow_mut().execute(
            "INSERT INTO holds (id, org, from_ts, to_ts, reason, case_ref, placed_by, placed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[&h.id, &h.org, &h.from, &h.to, &h.reason, &h.case_ref, &h.placed_by, &h.placed_at],
        )?;
        Ok(())
    }

    fn release_hold(&self, id: &str, by: &str, at: &str, reason: &str) -> Result<bool> {
        // One conditional UPDATE: of two releases at once, the second finds
        // `released_at` set once the first commits, and answers false.
        let n = self.c.borrow_mut().execute(
            "UPDATE holds SET released_by = $2, released_at = $3, release_reason = $4 WHERE id = $1 AND released_at IS NULL",
            &[&id, &by, &at, &reason],
        )?;
        Ok(n > 0)
    }

    fn object_locks(&self) -> Result<HashMap<String, (Option<String>, bool)>> {
        let rows = self.c.borrow_mut().query("SELECT recording, retain_until, legal_hold FROM object_locks", &[])?;
        Ok(rows.iter().map(|r| (r.get(0), (r.get(1), r.get(2)))).collect())
    }

    fn set_object_lock(&self, rec: &str, retain_until: Option<&str>, held: bool, at: &str) -> Result<()> {
        self.c.borrow_mut().execute(
            "INSERT INTO object_locks (recording, retain_until, legal_hold, applied_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (recording) DO UPDATE SET retain_until = $2, legal_hold = $3, applied_at = $4",
            &[&rec, &retain_until, &held, &at],
        )?;
        Ok(())
    }

    fn record_objects(&self) -> Result<Vec<(String, RecordObjectId)>> {
        let rows = self.c.borrow_mut().query(
            "SELECT meeting, id FROM meeting_documents
             UNION ALL SELECT meeting, id FROM meeting_attendance
             UNION ALL SELECT meeting, id FROM meeting_evaluations
             ORDER BY 1, 2",
            &[],
        )?;
        rows.iter()
            .map(|r| {
                let id: String = r.get(1);
                Ok((r.get(0), parse("record object id", &id)?))
            })
            .collect()
    }

    fn forget_record_objects(&self, meeting: &str, objects: &[RecordObjectId]) -> Result<()> {
        let ids: Vec<String> = objects.iter().map(ToString::to_string).collect();
        let mut c = self.c.borrow_mut();
        // A written absence report is one of the documents: the request stays,
        // without it (first, or its reference would stop the delete).
        c.execute("UPDATE absence_requests SET report = NULL WHERE report = ANY($1)", &[&ids])?;
        for table in ["meeting_documents", "meeting_attendance", "meeting_evaluations"] {
            c.execute(&format!("DELETE FROM {table} WHERE id = ANY($1) AND meeting = $2"), &[&ids, &meeting])?;
        }
        Ok(())
    }
}
