//! Evaluation versions on SQLite.

use super::{parse, Sqlite};
use crate::catalog::evaluations::{EvaluationRow, Evaluations};
use crate::catalog::Result;
use crate::schema::MeetingId;
use archive::id::RecordObjectId;
use rusqlite::{params, Row};

const COLUMNS: &str = "id, meeting, version, score, met, items, sealed, meta, stored_at, stored_by";

type Cols = (String, String, u32, u8, u32, u32, String, String, String, String);

fn cols(r: &Row<'_>) -> rusqlite::Result<Cols> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?))
}

fn typed(c: Cols) -> Result<EvaluationRow> {
    let (id, meeting, version, score, met, items, sealed, meta, stored_at, stored_by) = c;
    Ok(EvaluationRow {
        id: parse("evaluation object id", &id)?,
        meeting: parse("meeting id", &meeting)?,
        version,
        score,
        met,
        items,
        sealed,
        meta,
        stored_at,
        stored_by,
    })
}

impl Evaluations for Sqlite<'_> {
    fn insert_evaluation(&self, e: &EvaluationRow) -> Result<()> {
        self.conn.execute(
            &format!("INSERT INTO meeting_evaluations ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
            params![
                e.id.to_string(),
                e.meeting.to_string(),
                e.version,
                e.score,
                e.met,
                e.items,
                e.sealed,
                e.meta,
                e.stored_at,
                e.stored_by
            ],
        )?;
        Ok(())
    }

    fn evaluations(&self, meeting: MeetingId) -> Result<Vec<EvaluationRow>> {
        let sql = format!("SELECT {COLUMNS} FROM meeting_evaluations WHERE meeting = ?1 ORDER BY version");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([meeting.to_string()], cols)?.collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(typed).collect()
    }

    fn set_evaluation_time(&self, id: RecordObjectId, stored_at: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE meeting_evaluations SET stored_at = ?2 WHERE id = ?1",
            params![id.to_string(), stored_at],
        )?;
        Ok(())
    }
}
