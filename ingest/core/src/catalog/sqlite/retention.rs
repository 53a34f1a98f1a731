//! Retention policies, holds and Object Lock state on SQLite.

use super::Sqlite;
use crate::catalog::{Hold, PolicyRow, Result, Retention};
use rusqlite::{params, OptionalExtension};
use std::collections::HashMap;

impl Retention for Sqlite<'_> {
    fn policies(&self) -> Result<Vec<PolicyRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT p.id, p.org, o.path, p.kind, p.keep_days, p.requested_by, p.requested_at, p.class
             FROM retention_policies p LEFT JOIN orgs o ON o.id = p.org ORDER BY p.requested_at, p.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(PolicyRow {
                id: r.get(0)?,
                org: r.get(1)?,
                org_path: r.get(2)?,
                kind: r.get(3)?,
                keep_days: r.get(4)?,
                requested_by: r.get(5)?,
                requested_at: r.get(6)?,
                class: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn insert_policy(&self, p: &PolicyRow) -> Result<()> {
        // `applies_from` and `needs_approval` are no longer read: the ledger's
        // model decides per recording.
        self.conn.execute(
            "INSERT INTO retention_policies (id, org, kind, keep_days, applies_from, needs_approval, requested_by, requested_at, class)
             VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?5, ?7)",
            params![p.id, p.org, p.kind, p.keep_days, p.requested_at, p.requested_by, p.class],
        )?;
        Ok(())
    }

    fn approve_policy(&self, id: &str, by: &str, at: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE retention_policies SET approved_by = ?2, approved_at = ?3 WHERE id = ?1",
            params![id, by, at],
        )?;
        Ok(())
    }

    fn default_keep_days(&self) -> Result<Option<u64>> {
        let sql = "SELECT keep_days FROM retention_policies WHERE org IS NULL AND kind IS NULL AND class = 'media'
                   ORDER BY requested_at DESC, rowid DESC LIMIT 1";
        Ok(self.conn.query_row(sql, [], |r| r.get(0)).optional()?)
    }

    fn holds(&self) -> Result<Vec<Hold>> {
        let mut stmt = self.conn.prepare(
            "SELECT h.id, h.org, o.path, h.from_ts, h.to_ts, h.reason, h.case_ref, h.placed_by, h.placed_at, h.released_at, h.release_reason
             FROM holds h JOIN orgs o ON o.id = h.org ORDER BY h.placed_at",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Hold {
                id: r.get(0)?,
                org: r.get(1)?,
                org_path: r.get(2)?,
                from: r.get(3)?,
                to: r.get(4)?,
                reason: r.get(5)?,
                case_ref: r.get(6)?,
                placed_by: r.get(7)?,
                placed_at: r.get(8)?,
                released_at: r.get(9)?,
                release_reason: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn insert_hold(&self, h: &Hold) -> Result<()> {
        self.conn.execute(
            "INSERT INTO holds (id, org, from_ts, to_ts, reason, case_ref, placed_by, placed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![h.id, h.org, h.from, h.to, h.reason, h.case_ref, h.placed_by, h.placed_at],
        )?;
        Ok(())
    }

    fn release_hold(&self, id: &str, by: &str, at: &str, reason: &str) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE holds SET released_by = ?2, released_at = ?3, release_reason = ?4 WHERE id = ?1 AND released_at IS NULL",
            params![id, by, at, reason],
        )?;
        Ok(n > 0)
    }

    fn object_locks(&self) -> Result<HashMap<String, (Option<String>, bool)>> {
        let mut stmt = self.conn.prepare("SELECT recording, retain_until, legal_hold FROM object_locks")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn set_object_lock(&self, rec: &str, retain_until: Option<&str>, held: bool, at: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO object_locks (recording, retain_until, legal_hold, applied_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (recording) DO UPDATE SET retain_until = ?2, legal_hold = ?3, applied_at = ?4",
            params![rec, retain_until, held, at],
        )?;
        Ok(())
    }

    fn record_objects(&self) -> Result<Vec<(String, archive::id::RecordObjectId)>> {
        let mut stmt = self.conn.prepare(
            "SELECT meeting, id FROM meeting_documents
             UNION ALL SELECT meeting, id FROM meeting_attendance
             UNION ALL SELECT meeting, id FROM meeting_evaluations
             ORDER BY 1, 2",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (meeting, id) = row?;
            out.push((meeting, super::parse("record object id", &id)?));
        }
        Ok(out)
    }

    fn forget_record_objects(&self, meeting: &str, objects: &[archive::id::RecordObjectId]) -> Result<()> {
        for id in objects.iter().map(ToString::to_string) {
            // A written absence report is one of the documents: the request stays, without it.
            self.conn.execute("UPDATE absence_requests SET report = NULL WHERE report = ?1", [&id])?;
            for table in ["meeting_documents", "meeting_attendance", "meeting_evaluations"] {
                self.conn
                    .execute(&format!("DELETE FROM {table} WHERE id = ?1 AND meeting = ?2"), params![id, meeting])?;
            }
        }
        Ok(())
    }
}
