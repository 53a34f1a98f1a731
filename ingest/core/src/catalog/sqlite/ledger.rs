//! The ledger's reads on SQLite.

use super::Sqlite;
use crate::catalog::{Ledger, Result};
use archive::ledger::{read_where, Entry};
use archive::retention::Retention;
use rusqlite::{params, OptionalExtension};

/// The entries the retention model reads.
fn retention_actions() -> String {
    let actions: Vec<String> = archive::retention::ACTIONS.iter().map(|a| format!("'{a}'")).collect();
    format!("action IN ({})", actions.join(", "))
}

impl Ledger for Sqlite<'_> {
    fn entries(&self, action: Option<&str>, before: u64, limit: u64) -> Result<Vec<Entry>> {
        let filter =
            "seq IN (SELECT seq FROM ledger WHERE seq < ?1 AND (?2 IS NULL OR action = ?2) ORDER BY seq DESC LIMIT ?3)";
        let before = before.min(i64::MAX as u64) as i64;
        Ok(read_where(self.conn, filter, params![before, action, limit as i64])?)
    }

    fn host_actions(&self, limit: u32) -> Result<Vec<(u64, String, String, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, ts, action, subject FROM ledger WHERE actor = 'host' ORDER BY seq DESC LIMIT ?1")?;
        let rows = stmt.query_map([limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn request_seq(&self, id: &str) -> Result<Option<u64>> {
        let sql =
            "SELECT seq FROM ledger WHERE action = 'user.change.requested' AND json_extract(data, '$.request') = ?1";
        Ok(self.conn.query_row(sql, [id], |r| r.get(0)).optional()?)
    }

    fn seal_seq(&self, rec: archive::id::RecordingId) -> Result<Option<u64>> {
        let sql = "SELECT seq FROM ledger WHERE action = 'recording.sealed' AND subject = ?1";
        Ok(self.conn.query_row(sql, [format!("recording/{rec}")], |r| r.get(0)).optional()?)
    }

    fn retention_model(&self) -> Result<Retention> {
        Ok(Retention::replay(&read_where(self.conn, &retention_actions(), [])?))
    }

    fn retention_head(&self) -> Result<Option<u64>> {
        let sql = format!("SELECT MAX(seq) FROM ledger WHERE {}", retention_actions());
        Ok(self.conn.query_row(&sql, [], |r| r.get(0))?)
    }
}
