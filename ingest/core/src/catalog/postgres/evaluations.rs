//! Evaluation versions on PostgreSQL.

use super::attendance::narrow;
use super::{parse, Postgres};
use crate::catalog::evaluations::{EvaluationRow, Evaluations};
use crate::catalog::Result;
use crate::schema::MeetingId;
use archive::id::RecordObjectId;
use postgres::{GenericClient, Row};

const COLUMNS: &str = "id, meeting, version, score, met, items, sealed, meta, stored_at, stored_by";

fn typed(r: &Row) -> Result<EvaluationRow> {
    Ok(EvaluationRow {
        id: parse("evaluation object id", r.get(0))?,
        meeting: parse("meeting id", r.get(1))?,
        version: narrow("evaluation version", r.get(2))?,
        score: narrow("evaluation score", r.get(3))?,
        met: narrow("evaluation met count", r.get(4))?,
        items: narrow("evaluation item count", r.get(5))?,
        sealed: r.get(6),
        meta: r.get(7),
        stored_at: r.get(8),
        stored_by: r.get(9),
    })
}

impl<C: GenericClient> Evaluations for Postgres<'_, C> {
    fn insert_evaluation(&self, e: &EvaluationRow) -> Result<()> {
        // The caller numbers the version; UNIQUE (meeting, version) makes a
        // second writer of the same number wait for the first and then fail,
        // as on SQLite, instead of storing two evaluations under one number.
        self.c.borrow_mut().execute(
            &format!("INSERT INTO meeting_evaluations ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"),
            &[
                &e.id.to_string(),
                &e.meeting.to_string(),
                &i64::from(e.version),
                &i64::from(e.score),
                &i64::from(e.met),
                &i64::from(e.items),
                &e.sealed,
                &e.meta,
                &e.stored_at,
                &e.stored_by,
            ],
        )?;
        Ok(())
    }

    fn evaluations(&self, meeting: MeetingId) -> Result<Vec<EvaluationRow>> {
        let sql = format!("SELECT {COLUMNS} FROM meeting_evaluations WHERE meeting = $1 ORDER BY version");
        let rows = self.c.borrow_mut().query(&sql, &[&meeting.to_string()])?;
        rows.iter().map(typed).collect()
    }

    fn set_evaluation_time(&self, id: RecordObjectId, stored_at: &str) -> Result<()> {
        self.c
            .borrow_mut()
            .execute("UPDATE meeting_evaluations SET stored_at = $2 WHERE id = $1", &[&id.to_string(), &stored_at])?;
        Ok(())
    }
}
