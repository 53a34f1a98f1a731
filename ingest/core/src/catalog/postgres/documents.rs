//! The meeting record's documents and member-link generations on PostgreSQL.

use super::{parse, unsigned, Postgres};
use crate::catalog::documents::{DocumentRow, Documents};
use crate::catalog::Result;
use crate::schema::MeetingId;
use archive::id::RecordObjectId;
use postgres::{GenericClient, Row};

const COLUMNS: &str = "id, meeting, kind, content_type, confidential, sealed, meta, stored_at, stored_by";

fn typed(r: &Row) -> Result<DocumentRow> {
    Ok(DocumentRow {
        id: parse("document id", r.get(0))?,
        meeting: parse("meeting id", r.get(1))?,
        kind: r.get(2),
        content_type: r.get(3),
        confidential: r.get(4),
        sealed: r.get(5),
        meta: r.get(6),
        stored_at: r.get(7),
        stored_by: r.get(8),
    })
}

impl<C: GenericClient> Documents for Postgres<'_, C> {
    fn insert_document(&self, d: &DocumentRow) -> Result<()> {
        self.c.borrow_mut().execute(
            &format!("INSERT INTO meeting_documents ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
            &[
                &d.id.to_string(),
                &d.meeting.to_string(),
                &d.kind,
                &d.content_type,
                &d.confidential,
                &d.sealed,
                &d.meta,
                &d.stored_at,
                &d.stored_by,
            ],
        )?;
        Ok(())
    }

    fn documents(&self, meeting: MeetingId) -> Result<Vec<DocumentRow>> {
        let sql = format!("SELECT {COLUMNS} FROM meeting_documents WHERE meeting = $1 ORDER BY stored_at, id");
        let rows = self.c.borrow_mut().query(&sql, &[&meeting.to_string()])?;
        rows.iter().map(typed).collect()
    }

    fn document(&self, meeting: MeetingId, id: RecordObjectId) -> Result<Option<DocumentRow>> {
        let sql = format!("SELECT {COLUMNS} FROM meeting_documents WHERE meeting = $1 AND id = $2");
        let found = self.c.borrow_mut().query_opt(&sql, &[&meeting.to_string(), &id.to_string()])?;
        found.as_ref().map(typed).transpose()
    }

    fn set_document_time(&self, id: RecordObjectId, stored_at: &str) -> Result<()> {
        self.c
            .borrow_mut()
            .execute("UPDATE meeting_documents SET stored_at = $2 WHERE id = $1", &[&id.to_string(), &stored_at])?;
        Ok(())
    }

    fn link_generation(&self, meeting: MeetingId) -> Result<u64> {
        let sql = "SELECT generation FROM meeting_links WHERE meeting = $1";
        let found = self.c.borrow_mut().query_opt(sql, &[&meeting.to_string()])?;
        Ok(found.map(|r| unsigned(r.get::<_, i64>(0))).unwrap_or(0))
    }

    fn bump_link_generation(&self, meeting: MeetingId) -> Result<u64> {
        // One statement: revocations at once each get a generation of their
        // own (the upsert locks the row), never the same one twice.
        let sql = "INSERT INTO meeting_links (meeting, generation) VALUES ($1, 1)
                   ON CONFLICT (meeting) DO UPDATE SET generation = meeting_links.generation + 1 RETURNING generation";
        let row = self.c.borrow_mut().query_one(sql, &[&meeting.to_string()])?;
        Ok(unsigned(row.get::<_, i64>(0)))
    }
}
