//! Kept verifications and the mirror's newest checkpoint on SQLite.

use super::Sqlite;
use crate::catalog::{CheckpointRef, Result, StoreCheck, Verification, Verifications};
use archive::id::RecordingId;
use archive::ledger::{read_where, Entry};
use rusqlite::{params, OptionalExtension};
use serde_json::json;

fn verification_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Verification> {
    let report: String = r.get(2)?;
    let report: serde_json::Value = serde_json::from_str(&report).unwrap_or_default();
    let size: Option<u64> = r.get(3)?;
    let time: Option<String> = r.get(4)?;
    Ok(Verification {
        intact: r.get(1)?,
        checked_at: r.get(0)?,
        covered_by_checkpoint: report["covered_by_checkpoint"].as_bool().unwrap_or(false),
        checkpoint: size.map(|size| CheckpointRef { size, time }),
        source: r.get(5)?,
        problems: serde_json::from_value(report["problems"].clone()).unwrap_or_default(),
    })
}

impl Verifications for Sqlite<'_> {
    fn latest_verification(&self, rec: RecordingId) -> Result<Option<Verification>> {
        let v = self
            .conn
            .query_row(
                "SELECT checked_at, intact, report, checkpoint_size, checkpoint_ts, source
                 FROM verifications WHERE recording = ?1
                 ORDER BY checked_at DESC, rowid DESC LIMIT 1",
                [rec.to_string()],
                verification_row,
            )
            .optional()?;
        Ok(v)
    }

    fn insert_verification(&self, rec: &str, v: &Verification) -> Result<()> {
        let report = json!({ "covered_by_checkpoint": v.covered_by_checkpoint, "problems": v.problems }).to_string();
        let cp = v.checkpoint.as_ref();
        let (size, time) = (cp.map(|cp| cp.size), cp.and_then(|cp| cp.time.clone()));
        self.conn.execute(
            "INSERT INTO verifications
               (recording, checked_at, intact, report, checkpoint_size, checkpoint_ts, source)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![rec, v.checked_at, v.intact, report, size, time, v.source],
        )?;
        Ok(())
    }

    fn clear_scheduled_verifications(&self) -> Result<()> {
        self.conn.execute("DELETE FROM verifications WHERE source = 'scheduled'", [])?;
        Ok(())
    }

    fn sealed_before(&self, entries: u64) -> Result<Vec<(String, u64)>> {
        let mut stmt = self.conn.prepare(
            "SELECT r.id, l.seq FROM ledger l JOIN recordings r ON l.subject = 'recording/' || r.id
             WHERE l.action = 'recording.sealed' AND l.seq < ?1 AND r.state = 'sealed'",
        )?;
        let rows = stmt.query_map([entries], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn recording_entries(&self, rec: RecordingId) -> Result<Vec<Entry>> {
        let subject = format!("recording/{rec}");
        let actions: Vec<String> = archive::retention::ACTIONS.iter().map(|a| format!("'{a}'")).collect();
        let filter = format!("subject = ?1 OR subject LIKE ?2 OR action IN ({})", actions.join(", "));
        Ok(read_where(self.conn, &filter, params![subject, format!("{subject}/%")])?)
    }

    fn newest_checkpoint(&self) -> Result<Option<CheckpointRef>> {
        let sql = "SELECT checkpointed, checkpoint_ts FROM ledger_mirror WHERE id = 1";
        let (size, time): (u64, Option<String>) = self.conn.query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok((size > 0).then_some(CheckpointRef { size, time }))
    }

    fn insert_store_check(&self, c: &StoreCheck) -> Result<()> {
        self.conn.execute(
            "INSERT INTO store_verifications (checked_at, intact, entries, objects, invalid, problems, mode, fetched, population) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![c.checked_at, c.intact, c.entries, c.objects, c.invalid, serde_json::to_string(&c.problems).unwrap_or_default(), c.mode, c.fetched, c.population],
        )?;
        Ok(())
    }

    fn latest_store_check(&self) -> Result<Option<StoreCheck>> {
        let check = self
            .conn
            .query_row(
                "SELECT checked_at, intact, entries, objects, invalid, problems, mode, fetched, population FROM store_verifications ORDER BY checked_at DESC LIMIT 1",
                [],
                |r| {
                    let problems: String = r.get(5)?;
                    Ok(StoreCheck {
                        checked_at: r.get(0)?,
                        intact: r.get(1)?,
                        entries: r.get(2)?,
                        objects: r.get(3)?,
                        invalid: r.get(4)?,
                        problems: serde_json::from_str(&problems).unwrap_or_default(),
                        mode: r.get(6)?,
                        fetched: r.get(7)?,
                        population: r.get(8)?,
                    })
                },
            )
            .optional()?;
        Ok(check)
    }

    fn store_check_times(&self) -> Result<(Option<String>, Option<String>)> {
        Ok(self.conn.query_row(
            "SELECT MAX(checked_at), MAX(CASE WHEN mode = 'full' THEN checked_at END) FROM store_verifications",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }

    fn damaged_in_last_run(&self) -> Result<Vec<String>> {
        let mut stmt =
            self.conn.prepare("SELECT recording FROM verifications WHERE source = 'scheduled' AND intact = 0")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
    }
}
