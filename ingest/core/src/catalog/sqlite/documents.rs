//! The meeting record's documents and member-link generations on SQLite.

use super::{parse, Sqlite};
use crate::catalog::documents::{DocumentRow, Documents};
use crate::catalog::Result;
use crate::schema::MeetingId;
use archive::id::RecordObjectId;
use rusqlite::{params, OptionalExtension, Row};

const COLUMNS: &str = "id, meeting, kind, content_type, confidential, sealed, meta, stored_at, stored_by";

fn row(r: &Row<'_>) -> rusqlite::Result<[String; 9]> {
    Ok([
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get::<_, i64>(4)?.to_string(),
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ])
}

fn typed(v: [String; 9]) -> Result<DocumentRow> {
    let [id, meeting, kind, content_type, confidential, sealed, meta, stored_at, stored_by] = v;
    Ok(DocumentRow {
        id: parse("document id", &id)?,
        meeting: parse("meeting id", &meeting)?,
        kind,
        content_type,
        confidential: confidential != "0",
        sealed,
        meta,
        stored_at,
        stored_by,
    })
}

impl Documents for Sqlite<'_> {
    fn insert_document(&self, d: &DocumentRow) -> Result<()> {
        self.conn.execute(
            &format!("INSERT INTO meeting_documents ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
            params![
                d.id.to_string(),
                d.meeting.to_string(),
                d.kind,
                d.content_type,
                d.confidential as i64,
                d.sealed,
                d.meta,
                d.stored_at,
                d.stored_by
            ],
        )?;
        Ok(())
    }

    fn documents(&self, meeting: MeetingId) -> Result<Vec<DocumentRow>> {
        let sql = format!("SELECT {COLUMNS} FROM meeting_documents WHERE meeting = ?1 ORDER BY stored_at, id");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([meeting.to_string()], row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(typed).collect()
    }

    fn document(&self, meeting: MeetingId, id: RecordObjectId) -> Result<Option<DocumentRow>> {
        let sql = format!("SELECT {COLUMNS} FROM meeting_documents WHERE meeting = ?1 AND id = ?2");
        let found = self.conn.query_row(&sql, [meeting.to_string(), id.to_string()], row).optional()?;
        found.map(typed).transpose()
    }

    fn set_document_time(&self, id: RecordObjectId, stored_at: &str) -> Result<()> {
        self.conn
            .execute("UPDATE meeting_documents SET stored_at = ?2 WHERE id = ?1", params![id.to_string(), stored_at])?;
        Ok(())
    }

    fn link_generation(&self, meeting: MeetingId) -> Result<u64> {
        let sql = "SELECT generation FROM meeting_links WHERE meeting = ?1";
        Ok(self.conn.query_row(sql, [meeting.to_string()], |r| r.get(0)).optional()?.unwrap_or(0))
    }

    fn bump_link_generation(&self, meeting: MeetingId) -> Result<u64> {
        let sql = "INSERT INTO meeting_links (meeting, generation) VALUES (?1, 1)
                   ON CONFLICT (meeting) DO UPDATE SET generation = generation + 1 RETURNING generation";
        Ok(self.conn.query_row(sql, [meeting.to_string()], |r| r.get(0))?)
    }
}
