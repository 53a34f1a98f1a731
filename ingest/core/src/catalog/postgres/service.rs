//! Metrics figures and KEK retirements on PostgreSQL.

use super::Postgres;
use crate::catalog::{Figures, Result, Service};
use postgres::GenericClient;

impl<C: GenericClient> Service for Postgres<'_, C> {
    fn figures(&self) -> Result<Figures> {
        let retired = self.last_retirement()?;
        let mut c = self.c.borrow_mut();
        // NULLS LAST: SQLite sorts NULL lowest, so a descending order ends with it.
        let last = c.query_opt(
            "SELECT started_at, finished_at, total_ms FROM jobs WHERE state = 'done' AND total_ms > 0 AND started_at IS NOT NULL ORDER BY finished_at DESC NULLS LAST LIMIT 1",
            &[],
        )?;
        // try_get: a done job without its finish time is an error, as in SQLite, not a panic.
        let last_transcription = match last {
            Some(r) => Some((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)),
            None => None,
        };
        let mirror = c.query_one("SELECT checkpoint_ts, checkpointed FROM ledger_mirror WHERE id = 1", &[])?;
        Ok(Figures {
            // SUM of BIGINT is NUMERIC in PostgreSQL.
            ingested: c.query_one("SELECT COALESCE(SUM(length), 0)::bigint FROM streams", &[])?.get(0),
            chunks: c.query_one("SELECT COUNT(*) FROM chunks", &[])?.get(0),
            queue: c.query_one("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')", &[])?.get(0),
            last_transcription,
            head: c.query_one("SELECT MAX(seq) FROM ledger", &[])?.get(0),
            checkpoint_ts: mirror.get(0),
            checkpointed: mirror.get(1),
            retired,
        })
    }

    fn retirements(&self) -> Result<Vec<serde_json::Value>> {
        let rows = self.c.borrow_mut().query(
            "SELECT generation, new_kek, retiring, step, started_at, finished_at FROM kek_retirements ORDER BY generation",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "generation": r.get::<_, i64>(0), "kek": r.get::<_, String>(1),
                    "retiring": serde_json::from_str::<serde_json::Value>(&r.get::<_, String>(2)).unwrap_or_default(),
                    "step": r.get::<_, String>(3), "started_at": r.get::<_, String>(4), "finished_at": r.get::<_, Option<String>>(5),
                })
            })
            .collect())
    }

    fn last_retirement(&self) -> Result<Option<String>> {
        Ok(self.c.borrow_mut().query_one("SELECT MAX(finished_at) FROM kek_retirements", &[])?.get(0))
    }

    fn kek_ledgered(&self, kek: &str) -> Result<bool> {
        let sql = "SELECT EXISTS (SELECT 1 FROM ledger WHERE data::jsonb ->> 'kek' = $1)";
        Ok(self.c.borrow_mut().query_one(sql, &[&kek])?.get(0))
    }

    fn first_entry_ts(&self) -> Result<String> {
        Ok(self.c.borrow_mut().query_one("SELECT ts FROM ledger WHERE seq = 0", &[])?.get(0))
    }
}
