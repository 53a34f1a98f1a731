//! Uploads, live streams and the index's reads on SQLite.

use super::Sqlite;
use crate::catalog::{EndedStream, Indexing, Live, NewUploadRow, Result, UploadRow, Uploads};
use crate::schema::{MeetingId, UploadId};
use archive::id::{RecordingId, StreamId};
use rusqlite::{params, OptionalExtension};
use std::collections::HashMap;

impl Sqlite<'_> {
    fn strings(&self, sql: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<Vec<String>, _>>()?)
    }
}

impl Uploads for Sqlite<'_> {
    fn insert_upload(&self, u: &NewUploadRow) -> Result<()> {
        self.conn.execute(
            "INSERT INTO uploads (id, meeting, length, filename, content_type, tail_key, state, created_by, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'receiving', ?7, ?8)",
            params![
                u.id.to_string(),
                u.meeting.to_string(),
                u.length,
                u.filename,
                u.content_type,
                u.tail_key,
                u.created_by,
                u.created_at
            ],
        )?;
        Ok(())
    }

    fn upload(&self, id: UploadId) -> Result<Option<UploadRow>> {
        let row = self
            .conn
            .query_row(
                "SELECT meeting, length, content_type, tail_key, stream, state, created_by, offset FROM uploads WHERE id = ?1",
                [id.to_string()],
                |r| {
                    Ok(UploadRow {
                        meeting: r.get(0)?,
                        length: r.get(1)?,
                        content_type: r.get(2)?,
                        tail_key: r.get(3)?,
                        stream: r.get(4)?,
                        state: r.get(5)?,
                        created_by: r.get(6)?,
                        offset: r.get(7)?,
                    })
                },
            )
            .optional()?;
        Ok(row)
    }

    fn set_upload_offset(&self, id: UploadId, offset: u64) -> Result<()> {
        self.conn.execute("UPDATE uploads SET offset = ?2 WHERE id = ?1", params![id.to_string(), offset])?;
        Ok(())
    }

    fn set_upload_state(&self, id: UploadId, state: &str) -> Result<()> {
        self.conn.execute("UPDATE uploads SET state = ?2 WHERE id = ?1", params![id.to_string(), state])?;
        Ok(())
    }

    fn link_upload_stream(&self, id: UploadId, stream: StreamId) -> Result<()> {
        self.conn.execute("UPDATE uploads SET stream = ?2 WHERE id = ?1", [id.to_string(), stream.to_string()])?;
        Ok(())
    }

    fn receiving_tail_keys(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare("SELECT id, tail_key FROM uploads WHERE state = 'receiving'")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn set_tail_key(&self, id: &str, wrapped: &str) -> Result<()> {
        self.conn.execute("UPDATE uploads SET tail_key = ?2 WHERE id = ?1", params![id, wrapped])?;
        Ok(())
    }

    fn receive_upload_on(&self, stream: StreamId, node: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO upload_receivers (stream, node) VALUES (?1, ?2)",
            params![stream.to_string(), node],
        )?;
        Ok(())
    }

    fn settle_cut_uploads(&self, node: Option<&str>) -> Result<(usize, Vec<(String, String)>)> {
        let settled = self.conn.execute(
            "UPDATE uploads SET state = CASE (SELECT state FROM streams WHERE id = uploads.stream) WHEN 'complete' THEN 'complete' ELSE 'terminated' END
             WHERE state = 'receiving' AND stream IN (SELECT id FROM streams WHERE state != 'open')",
            [],
        )?;
        let mut stmt = self.conn.prepare(
            "SELECT s.recording, s.id FROM streams s LEFT JOIN upload_receivers r ON r.stream = s.id
             WHERE s.kind = 'upload' AND s.state = 'open'
             AND s.id NOT IN (SELECT stream FROM uploads WHERE state = 'receiving' AND stream IS NOT NULL)
             AND (?1 IS NULL OR r.node IS NULL OR r.node = ?1)",
        )?;
        let cut = stmt.query_map([node], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
        Ok((settled, cut))
    }
}

impl Live for Sqlite<'_> {
    fn insert_live_stream(
        &self,
        stream: StreamId,
        endpoint: &str,
        rec: RecordingId,
        started_at: &str,
        node: &str,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO live_streams (stream, endpoint, recording, started_at, node) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![stream.to_string(), endpoint, rec.to_string(), started_at, node],
        )?;
        Ok(())
    }

    fn end_live_stream(&self, stream: StreamId, state: &str, sha256: Option<&str>, media: Option<&str>) -> Result<()> {
        self.conn.execute(
            "UPDATE live_streams SET end_state = ?2, sha256 = ?3, media = ?4 WHERE stream = ?1 AND end_state IS NULL",
            params![stream.to_string(), state, sha256, media],
        )?;
        Ok(())
    }

    fn interrupt_live_streams(&self, node: &str) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE live_streams SET end_state = 'interrupted' WHERE end_state IS NULL AND (node IS NULL OR node = ?1)",
            [node],
        )?)
    }

    fn open_live_recordings(&self) -> Result<Vec<String>> {
        self.strings(
            "SELECT DISTINCT l.recording FROM live_streams l JOIN recordings r ON r.id = l.recording WHERE r.state = 'open'",
        )
    }

    fn ended_live_streams(&self, node: &str) -> Result<Vec<EndedStream>> {
        let mut stmt = self.conn.prepare(
            "SELECT l.stream, l.recording, l.end_state, l.sha256, l.media FROM live_streams l JOIN streams s ON s.id = l.stream
             WHERE l.end_state IS NOT NULL AND s.state = 'open' AND (l.node IS NULL OR l.node = ?1)",
        )?;
        let rows = stmt.query_map([node], |r| {
            let (stream, recording, end_state) = (r.get(0)?, r.get(1)?, r.get(2)?);
            Ok(EndedStream { stream, recording, end_state, sha256: r.get(3)?, media: r.get(4)? })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn take_over_live_streams(&self, lost: &str, to: &str) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare(
            "UPDATE live_streams SET node = ?2, end_state = COALESCE(end_state, 'interrupted')
             WHERE node = ?1 AND stream IN (SELECT id FROM streams WHERE state = 'open')
             RETURNING stream, recording",
        )?;
        let rows = stmt.query_map([lost, to], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn sealable_live_recordings(&self) -> Result<Vec<String>> {
        self.strings(
            "SELECT r.id FROM recordings r WHERE r.state = 'open'
             AND EXISTS (SELECT 1 FROM live_streams l WHERE l.recording = r.id)
             AND NOT EXISTS (SELECT 1 FROM streams s WHERE s.recording = r.id AND s.state = 'open')",
        )
    }

    fn stream_chunks(&self, streams: &[String]) -> Result<HashMap<String, u64>> {
        let mut stmt = self.conn.prepare("SELECT chunks FROM streams WHERE id = ?1")?;
        let mut out = HashMap::new();
        for s in streams {
            let n: u64 = stmt.query_row([s], |r| r.get(0))?;
            out.insert(s.clone(), n);
        }
        Ok(out)
    }

    fn recording_org(&self, rec: RecordingId) -> Result<String> {
        Ok(self.conn.query_row("SELECT org FROM recordings WHERE id = ?1", [rec.to_string()], |r| r.get(0))?)
    }

    fn live_meeting(&self, org: &str) -> Result<Option<String>> {
        let sql = "SELECT m.id FROM meetings m JOIN recordings r ON r.id = m.recording
                   WHERE m.org = ?1 AND r.state = 'open' ORDER BY r.started_at DESC LIMIT 1";
        Ok(self.conn.query_row(sql, [org], |r| r.get(0)).optional()?)
    }

    fn nearest_unrecorded_meeting(&self, org: &str, at: &str) -> Result<Option<String>> {
        let sql = "SELECT id FROM meetings WHERE org = ?1 AND recording IS NULL
                   AND abs(julianday(scheduled_at) - julianday(?2)) <= 1.0
                   ORDER BY abs(julianday(scheduled_at) - julianday(?2)) LIMIT 1";
        Ok(self.conn.query_row(sql, [org, at], |r| r.get(0)).optional()?)
    }

    fn insert_ad_hoc_meeting(&self, id: MeetingId, org: &str, title: &str, now: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meetings (id, org, kind, title, scheduled_at, created_at) VALUES (?1, ?2, 'regular', ?3, ?4, ?4)",
            params![id.to_string(), org, title, now],
        )?;
        Ok(())
    }
}

impl Indexing for Sqlite<'_> {
    fn shredded_recordings(&self) -> Result<Vec<String>> {
        self.strings("SELECT id FROM recordings WHERE state = 'shredded'")
    }

    fn stored_transcript_count(&self) -> Result<usize> {
        Ok(self.conn.query_row("SELECT COUNT(*) FROM transcripts WHERE state = 'stored'", [], |r| r.get(0))?)
    }

    fn stored_transcripts(&self) -> Result<Vec<String>> {
        self.strings("SELECT recording FROM transcripts WHERE state = 'stored' ORDER BY stored_at")
    }

    fn recording_place(&self, rec: RecordingId) -> Result<Option<(String, String, String, String)>> {
        let sql = "SELECT m.id, m.kind, m.scheduled_at, o.path FROM meetings m JOIN orgs o ON o.id = m.org
                   WHERE m.recording = ?1";
        let row = self
            .conn
            .query_row(sql, [rec.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?;
        Ok(row)
    }

    fn meeting_summary(&self, id: &str) -> Result<Option<(String, String, String, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT m.title, m.org, o.name, m.scheduled_at FROM meetings m JOIN orgs o ON o.id = m.org WHERE m.id = ?1",
        )?;
        Ok(stmt.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).optional()?)
    }
}
