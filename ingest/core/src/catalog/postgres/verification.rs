//! Kept verifications and the mirror's newest checkpoint on PostgreSQL.

use super::{big, unsigned, Postgres};
use crate::catalog::{CheckpointRef, Result, StoreCheck, Verification, Verifications};
use archive::id::RecordingId;
use archive::ledger::{Entry, LedgerError};
use postgres::GenericClient;
use serde_json::json;

fn verification_row(r: &postgres::Row) -> Verification {
    // A report that does not parse reads as empty, as in SQLite.
    let report: String = r.get(2);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap_or_default();
    let size: Option<i64> = r.get(3);
    let time: Option<String> = r.get(4);
    Verification {
        intact: r.get(1),
        checked_at: r.get(0),
        covered_by_checkpoint: report["covered_by_checkpoint"].as_bool().unwrap_or(false),
        checkpoint: size.map(|size| CheckpointRef { size: unsigned(size), time }),
        source: r.get(5),
        problems: serde_json::from_value(report["problems"].clone()).unwrap_or_default(),
    }
}

/// A ledger row (`seq, ts, actor, action, subject, data, prev, hash`) as an entry.
fn entry_row(r: &postgres::Row) -> Result<Entry, LedgerError> {
    let seq = unsigned(r.get::<_, i64>(0));
    let malformed = |reason: String| LedgerError::Malformed { seq, reason };
    let hash = |i: usize| -> Result<[u8; 32], LedgerError> {
        r.get::<_, Vec<u8>>(i).try_into().map_err(|_| malformed("stored hash is not 32 bytes".into()))
    };
    let data: String = r.get(5);
    Ok(Entry {
        seq,
        ts: r.get(1),
        actor: r.get(2),
        action: r.get(3),
        subject: r.get(4),
        data: serde_json::from_str(&data).map_err(|e| malformed(e.to_string()))?,
        prev: hash(6)?,
        hash: hash(7)?,
    })
}

impl<C: GenericClient> Verifications for Postgres<'_, C> {
    fn latest_verification(&self, rec: RecordingId) -> Result<Option<Verification>> {
        // SQLite breaks a tie of `checked_at` by rowid. This table has no key:
        // ctid follows the order rows were added in, as long as no VACUUM let
        // a later row into the room of a deleted one; a tie is two checks of
        // one recording in the same millisecond.
        let row = self.c.borrow_mut().query_opt(
            "SELECT checked_at, intact, report, checkpoint_size, checkpoint_ts, source
             FROM verifications WHERE recording = $1
             ORDER BY checked_at DESC, ctid DESC LIMIT 1",
            &[&rec.to_string()],
        )?;
        Ok(row.as_ref().map(verification_row))
    }

    fn insert_verification(&self, rec: &str, v: &Verification) -> Result<()> {
        let report = json!({ "covered_by_checkpoint": v.covered_by_checkpoint, "problems": v.problems }).to_string();
        let cp = v.checkpoint.as_ref();
        let (size, time) = (cp.map(|cp| big(cp.size)), cp.and_then(|cp| cp.time.clone()));
        self.c.borrow_mut().execute(
            "INSERT INTO verifications
               (recording, checked_at, intact, report, checkpoint_size, checkpoint_ts, source)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&rec, &v.checked_at, &v.intact, &report, &size, &time, &v.source],
        )?;
        Ok(())
    }

    fn clear_scheduled_verifications(&self) -> Result<()> {
        self.c.borrow_mut().execute("DELETE FROM verifications WHERE source = 'scheduled'", &[])?;
        Ok(())
    }

    fn sealed_before(&self, entries: u64) -> Result<Vec<(String, u64)>> {
        let rows = self.c.borrow_mut().query(
            "SELECT r.id, l.seq FROM ledger l JOIN recordings r ON l.subject = 'recording/' || r.id
             WHERE l.action = 'recording.sealed' AND l.seq < $1 AND r.state = 'sealed'",
            &[&big(entries)],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), unsigned(r.get::<_, i64>(1)))).collect())
    }

    fn recording_entries(&self, rec: RecordingId) -> Result<Vec<Entry>> {
        // SQLite's LIKE ignores ASCII case, PostgreSQL's does not: subjects are
        // written with the id as it prints, so both find the same entries.
        let subject = format!("recording/{rec}");
        let rows = self.c.borrow_mut().query(
            "SELECT seq, ts, actor, action, subject, data, prev, hash FROM ledger
             WHERE subject = $1 OR subject LIKE $2 OR action = ANY($3) ORDER BY seq",
            &[&subject, &format!("{subject}/%"), &archive::retention::ACTIONS],
        )?;
        Ok(rows.iter().map(entry_row).collect::<Result<_, _>>()?)
    }

    fn newest_checkpoint(&self) -> Result<Option<CheckpointRef>> {
        let sql = "SELECT checkpointed, checkpoint_ts FROM ledger_mirror WHERE id = 1";
        let row = self.c.borrow_mut().query_one(sql, &[])?;
        let (size, time) = (unsigned(row.get::<_, i64>(0)), row.get(1));
        Ok((size > 0).then_some(CheckpointRef { size, time }))
    }

    fn insert_store_check(&self, c: &StoreCheck) -> Result<()> {
        let problems = serde_json::to_string(&c.problems).unwrap_or_default();
        self.c.borrow_mut().execute(
            "INSERT INTO store_verifications (checked_at, intact, entries, objects, invalid, problems, mode, fetched, population) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &c.checked_at,
                &c.intact,
                &big(c.entries),
                &big(c.objects),
                &big(c.invalid),
                &problems,
                &c.mode,
                &c.fetched.map(big),
                &c.population.map(big),
            ],
        )?;
        Ok(())
    }

    fn latest_store_check(&self) -> Result<Option<StoreCheck>> {
        let row = self.c.borrow_mut().query_opt(
            "SELECT checked_at, intact, entries, objects, invalid, problems, mode, fetched, population FROM store_verifications ORDER BY checked_at DESC LIMIT 1",
            &[],
        )?;
        Ok(row.map(|r| {
            let problems: String = r.get(5);
            StoreCheck {
                checked_at: r.get(0),
                intact: r.get(1),
                entries: unsigned(r.get::<_, i64>(2)),
                objects: unsigned(r.get::<_, i64>(3)),
                invalid: unsigned(r.get::<_, i64>(4)),
                problems: serde_json::from_str(&problems).unwrap_or_default(),
                mode: r.get(6),
                fetched: r.get::<_, Option<i64>>(7).map(unsigned),
                population: r.get::<_, Option<i64>>(8).map(unsigned),
            }
        }))
    }

    fn store_check_times(&self) -> Result<(Option<String>, Option<String>)> {
        let row = self.c.borrow_mut().query_one(
            "SELECT MAX(checked_at), MAX(CASE WHEN mode = 'full' THEN checked_at END) FROM store_verifications",
            &[],
        )?;
        Ok((row.get(0), row.get(1)))
    }

    fn damaged_in_last_run(&self) -> Result<Vec<String>> {
        let rows = self
            .c
            .borrow_mut()
            .query("SELECT recording FROM verifications WHERE source = 'scheduled' AND NOT intact", &[])?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}
