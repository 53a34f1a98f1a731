//! The ledger's reads on PostgreSQL.

use super::{big, unsigned, Postgres};
use crate::catalog::{Error, Ledger, Result};
use archive::ledger::Entry;
use archive::retention::Retention;
use postgres::types::ToSql;
use postgres::GenericClient;

/// The entries the retention model reads.
fn retention_actions() -> String {
    let actions: Vec<String> = archive::retention::ACTIONS.iter().map(|a| format!("'{a}'")).collect();
    format!("action IN ({})", actions.join(", "))
}

/// A stored hash: BYTEA that must hold 32 bytes.
fn to_hash(seq: u64, v: Vec<u8>) -> Result<[u8; 32]> {
    v.try_into().map_err(|_| Error::malformed(format!("ledger entry {seq}: a stored hash is not 32 bytes")))
}

fn entry(r: &postgres::Row) -> Result<Entry> {
    let seq = unsigned(r.get::<_, i64>(0));
    let data: String = r.get(5);
    let data = serde_json::from_str(&data).map_err(|e| Error::malformed(format!("ledger entry {seq}: {e}")))?;
    let (prev, hash) = (to_hash(seq, r.get(6))?, to_hash(seq, r.get(7))?);
    Ok(Entry { seq, ts: r.get(1), actor: r.get(2), action: r.get(3), subject: r.get(4), data, prev, hash })
}

/// The entries matching `filter`, oldest first: `archive::ledger::read_where`
/// in PostgreSQL's dialect (`data` is JSON text, `prev` and `hash` BYTEA).
fn read_where(c: &mut impl GenericClient, filter: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Entry>> {
    let sql =
        format!("SELECT seq, ts, actor, action, subject, data, prev, hash FROM ledger WHERE {filter} ORDER BY seq");
    c.query(&sql, params)?.iter().map(entry).collect()
}

impl<C: GenericClient> Ledger for Postgres<'_, C> {
    fn entries(&self, action: Option<&str>, before: u64, limit: u64) -> Result<Vec<Entry>> {
        let filter = "seq IN (SELECT seq FROM ledger WHERE seq < $1 AND ($2::text IS NULL OR action = $2)
                      ORDER BY seq DESC LIMIT $3)";
        read_where(&mut **self.c.borrow_mut(), filter, &[&big(before), &action, &big(limit)])
    }

    fn host_actions(&self, limit: u32) -> Result<Vec<(u64, String, String, String)>> {
        let rows = self.c.borrow_mut().query(
            "SELECT seq, ts, action, subject FROM ledger WHERE actor = 'host' ORDER BY seq DESC LIMIT $1",
            &[&i64::from(limit)],
        )?;
        Ok(rows.iter().map(|r| (unsigned(r.get::<_, i64>(0)), r.get(1), r.get(2), r.get(3))).collect())
    }

    fn request_seq(&self, id: &str) -> Result<Option<u64>> {
        // SQLite's `query_row` takes the first of several rows, by seq (its
        // index order); PostgreSQL's `query_opt` would refuse several.
        let sql = "SELECT seq FROM ledger WHERE action = 'user.change.requested' AND data::jsonb ->> 'request' = $1
                   ORDER BY seq LIMIT 1";
        let row = self.c.borrow_mut().query_opt(sql, &[&id])?;
        Ok(row.map(|r| unsigned(r.get::<_, i64>(0))))
    }

    fn seal_seq(&self, rec: archive::id::RecordingId) -> Result<Option<u64>> {
        let sql = "SELECT seq FROM ledger WHERE action = 'recording.sealed' AND subject = $1 ORDER BY seq LIMIT 1";
        let row = self.c.borrow_mut().query_opt(sql, &[&format!("recording/{rec}")])?;
        Ok(row.map(|r| unsigned(r.get::<_, i64>(0))))
    }

    fn retention_model(&self) -> Result<Retention> {
        Ok(Retention::replay(&read_where(&mut **self.c.borrow_mut(), &retention_actions(), &[])?))
    }

    fn retention_head(&self) -> Result<Option<u64>> {
        let sql = format!("SELECT MAX(seq) FROM ledger WHERE {}", retention_actions());
        let head: Option<i64> = self.c.borrow_mut().query_one(&sql, &[])?.get(0);
        Ok(head.map(unsigned))
    }
}
