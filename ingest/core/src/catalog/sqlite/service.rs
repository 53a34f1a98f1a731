//! Metrics figures and KEK retirements on SQLite.

use super::Sqlite;
use crate::catalog::{Figures, Result, Service};
use rusqlite::OptionalExtension;

impl Service for Sqlite<'_> {
    fn figures(&self) -> Result<Figures> {
        let c = self.conn;
        let last_transcription = c
            .query_row(
                "SELECT started_at, finished_at, total_ms FROM jobs WHERE state = 'done' AND total_ms > 0 AND started_at IS NOT NULL ORDER BY finished_at DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        Ok(Figures {
            ingested: c.query_row("SELECT COALESCE(SUM(length), 0) FROM streams", [], |r| r.get(0))?,
            chunks: c.query_row("SELECT COUNT(*) FROM chunks", [], |r| r.get(0))?,
            queue: c.query_row("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')", [], |r| r.get(0))?,
            last_transcription,
            head: c.query_row("SELECT MAX(seq) FROM ledger", [], |r| r.get(0))?,
            checkpoint_ts: c.query_row("SELECT checkpoint_ts FROM ledger_mirror WHERE id = 1", [], |r| r.get(0))?,
            checkpointed: c.query_row("SELECT checkpointed FROM ledger_mirror WHERE id = 1", [], |r| r.get(0))?,
            retired: self.last_retirement()?,
        })
    }

    fn retirements(&self) -> Result<Vec<serde_json::Value>> {
        let mut stmt = self.conn.prepare(
            "SELECT generation, new_kek, retiring, step, started_at, finished_at FROM kek_retirements ORDER BY generation",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(serde_json::json!({
                "generation": r.get::<_, u32>(0)?, "kek": r.get::<_, String>(1)?,
                "retiring": serde_json::from_str::<serde_json::Value>(&r.get::<_, String>(2)?).unwrap_or_default(),
                "step": r.get::<_, String>(3)?, "started_at": r.get::<_, String>(4)?, "finished_at": r.get::<_, Option<String>>(5)?,
            }))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn last_retirement(&self) -> Result<Option<String>> {
        Ok(self.conn.query_row("SELECT MAX(finished_at) FROM kek_retirements", [], |r| r.get(0))?)
    }

    fn kek_ledgered(&self, kek: &str) -> Result<bool> {
        let sql = "SELECT EXISTS (SELECT 1 FROM ledger WHERE json_extract(data, '$.kek') = ?1)";
        Ok(self.conn.query_row(sql, [kek], |r| r.get(0))?)
    }

    fn first_entry_ts(&self) -> Result<String> {
        Ok(self.conn.query_row("SELECT ts FROM ledger WHERE seq = 0", [], |r| r.get(0))?)
    }
}
