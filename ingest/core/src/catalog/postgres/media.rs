//! Uploads, live streams and the index's reads on PostgreSQL.

use super::{big, unsigned, Postgres};
use crate::catalog::{EndedStream, Indexing, Live, NewUploadRow, Result, UploadRow, Uploads};
use crate::schema::{MeetingId, UploadId};
use archive::id::{RecordingId, StreamId};
use postgres::GenericClient;
use std::cell::RefCell;
use std::collections::HashMap;

/// The first column of every row of `sql`, which takes no parameters.
fn strings<C: GenericClient>(c: &RefCell<&mut C>, sql: &str) -> Result<Vec<String>> {
    let mut c = c.borrow_mut();
    Ok(c.query(sql, &[])?.iter().map(|r| r.get(0)).collect())
}

impl<C: GenericClient> Uploads for Postgres<'_, C> {
    fn insert_upload(&self, u: &NewUploadRow) -> Result<()> {
        self.c.borrow_mut().execute(
            "INSERT INTO uploads (id, meeting, length, filename, content_type, tail_key, state, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'receiving', $7, $8)",
            &[
                &u.id.to_string(),
                &u.meeting.to_string(),
                &big(u.length),
                &u.filename,
                &u.content_type,
                &u.tail_key,
                &u.created_by,
                &u.created_at,
            ],
        )?;
        Ok(())
    }

    fn upload(&self, id: UploadId) -> Result<Option<UploadRow>> {
        let row = self.c.borrow_mut().query_opt(
            "SELECT meeting, length, content_type, tail_key, stream, state, created_by, \"offset\" FROM uploads WHERE id = $1",
            &[&id.to_string()],
        )?;
        Ok(row.map(|r| UploadRow {
            meeting: r.get(0),
            length: unsigned(r.get::<_, i64>(1)),
            content_type: r.get(2),
            tail_key: r.get(3),
            stream: r.get(4),
            state: r.get(5),
            created_by: r.get(6),
            offset: unsigned(r.get::<_, i64>(7)),
        }))
    }

    fn set_upload_offset(&self, id: UploadId, offset: u64) -> Result<()> {
        // One statement on one row: racing writers queue on its row lock and
        // the last one wins, as on SQLite. No read precedes the write, so there
        // is nothing to lose between them; which write comes last is the
        // domain's to order (it holds the upload's in-process lock while it
        // persists; the trait passes no expected offset to test against).
        self.c
            .borrow_mut()
            .execute("UPDATE uploads SET \"offset\" = $2 WHERE id = $1", &[&id.to_string(), &big(offset)])?;
        Ok(())
    }

    fn set_upload_state(&self, id: UploadId, state: &str) -> Result<()> {
        self.c.borrow_mut().execute("UPDATE uploads SET state = $2 WHERE id = $1", &[&id.to_string(), &state])?;
        Ok(())
    }

    fn link_upload_stream(&self, id: UploadId, stream: StreamId) -> Result<()> {
        self.c
            .borrow_mut()
            .execute("UPDATE uploads SET stream = $2 WHERE id = $1", &[&id.to_string(), &stream.to_string()])?;
        Ok(())
    }

    fn receiving_tail_keys(&self) -> Result<Vec<(String, String)>> {
        let rows = self.c.borrow_mut().query("SELECT id, tail_key FROM uploads WHERE state = 'receiving'", &[])?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn set_tail_key(&self, id: &str, wrapped: &str) -> Result<()> {
        self.c.borrow_mut().execute("UPDATE uploads SET tail_key = $2 WHERE id = $1", &[&id, &wrapped])?;
        Ok(())
    }

    fn receive_upload_on(&self, stream: StreamId, node: &str) -> Result<()> {
        self.c
            .borrow_mut()
            .execute("INSERT INTO upload_receivers (stream, node) VALUES ($1, $2)", &[&stream.to_string(), &node])?;
        Ok(())
    }

    fn settle_cut_uploads(&self, node: Option<&str>) -> Result<(usize, Vec<(String, String)>)> {
        let mut c = self.c.borrow_mut();
        let settled = c.execute(
            "UPDATE uploads SET state = CASE (SELECT state FROM streams WHERE id = uploads.stream) WHEN 'complete' THEN 'complete' ELSE 'terminated' END
             WHERE state = 'receiving' AND stream IN (SELECT id FROM streams WHERE state != 'open')",
            &[],
        )?;
        let cut = c.query(
            "SELECT s.recording, s.id FROM streams s LEFT JOIN upload_receivers r ON r.stream = s.id
             WHERE s.kind = 'upload' AND s.state = 'open'
             AND s.id NOT IN (SELECT stream FROM uploads WHERE state = 'receiving' AND stream IS NOT NULL)
             AND ($1::TEXT IS NULL OR r.node IS NULL OR r.node = $1)",
            &[&node],
        )?;
        Ok((settled as usize, cut.iter().map(|r| (r.get(0), r.get(1))).collect()))
    }
}

impl<C: GenericClient> Live for Postgres<'_, C> {
    fn insert_live_stream(
        &self,
        stream: StreamId,
        endpoint: &str,
        rec: RecordingId,
        started_at: &str,
        node: &str,
    ) -> Result<()> {
        self.c.borrow_mut().execute(
            "INSERT INTO live_streams (stream, endpoint, recording, started_at, node) VALUES ($1, $2, $3, $4, $5)",
            &[&stream.to_string(), &endpoint, &rec.to_string(), &started_at, &node],
        )?;
        Ok(())
    }

    fn end_live_stream(&self, stream: StreamId, state: &str, sha256: Option<&str>, media: Option<&str>) -> Result<()> {
        // `end_state IS NULL` is checked again on the locked row: of two racing
        // ends, the second changes nothing.
        self.c.borrow_mut().execute(
            "UPDATE live_streams SET end_state = $2, sha256 = $3, media = $4 WHERE stream = $1 AND end_state IS NULL",
            &[&stream.to_string(), &state, &sha256, &media],
        )?;
        Ok(())
    }

    fn interrupt_live_streams(&self, node: &str) -> Result<usize> {
        let n = self.c.borrow_mut().execute(
            "UPDATE live_streams SET end_state = 'interrupted' WHERE end_state IS NULL AND (node IS NULL OR node = $1)",
            &[&node],
        )?;
        Ok(n as usize)
    }

    fn take_over_live_streams(&self, lost: &str, to: &str) -> Result<Vec<(String, String)>> {
        let rows = self.c.borrow_mut().query(
            "UPDATE live_streams SET node = $2, end_state = COALESCE(end_state, 'interrupted')
             WHERE node = $1 AND stream IN (SELECT id FROM streams WHERE state = 'open')
             RETURNING stream, recording",
            &[&lost, &to],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn open_live_recordings(&self) -> Result<Vec<String>> {
        strings(
            &self.c,
            "SELECT DISTINCT l.recording FROM live_streams l JOIN recordings r ON r.id = l.recording WHERE r.state = 'open'",
        )
    }

    fn ended_live_streams(&self, node: &str) -> Result<Vec<EndedStream>> {
        let rows = self.c.borrow_mut().query(
            "SELECT l.stream, l.recording, l.end_state, l.sha256, l.media FROM live_streams l JOIN streams s ON s.id = l.stream
             WHERE l.end_state IS NOT NULL AND s.state = 'open' AND (l.node IS NULL OR l.node = $1)",
            &[&node],
        )?;
        Ok(rows
            .iter()
            .map(|r| EndedStream {
                stream: r.get(0),
                recording: r.get(1),
                end_state: r.get(2),
                sha256: r.get(3),
                media: r.get(4),
            })
            .collect())
    }

    fn sealable_live_recordings(&self) -> Result<Vec<String>> {
        strings(
            &self.c,
            "SELECT r.id FROM recordings r WHERE r.state = 'open'
             AND EXISTS (SELECT 1 FROM live_streams l WHERE l.recording = r.id)
             AND NOT EXISTS (SELECT 1 FROM streams s WHERE s.recording = r.id AND s.state = 'open')",
        )
    }

    fn stream_chunks(&self, streams: &[String]) -> Result<HashMap<String, u64>> {
        let mut c = self.c.borrow_mut();
        let stmt = c.prepare("SELECT chunks FROM streams WHERE id = $1")?;
        let mut out = HashMap::new();
        for s in streams {
            // `query_one`: an unknown stream is an error, as on SQLite.
            let n: i64 = c.query_one(&stmt, &[s])?.get(0);
            out.insert(s.clone(), unsigned(n));
        }
        Ok(out)
    }

    fn recording_org(&self, rec: RecordingId) -> Result<String> {
        Ok(self.c.borrow_mut().query_one("SELECT org FROM recordings WHERE id = $1", &[&rec.to_string()])?.get(0))
    }

    fn live_meeting(&self, org: &str) -> Result<Option<String>> {
        let sql = "SELECT m.id FROM meetings m JOIN recordings r ON r.id = m.recording
                   WHERE m.org = $1 AND r.state = 'open' ORDER BY r.started_at DESC LIMIT 1";
        Ok(self.c.borrow_mut().query_opt(sql, &[&org])?.map(|r| r.get(0)))
    }

    fn nearest_unrecorded_meeting(&self, org: &str, at: &str) -> Result<Option<String>> {
        // SQLite's `julianday(a) - julianday(b)`: the distance in days.
        let sql = "SELECT id FROM meetings WHERE org = $1 AND recording IS NULL
                   AND abs(EXTRACT(EPOCH FROM (scheduled_at::timestamptz - $2::text::timestamptz)) / 86400) <= 1.0
                   ORDER BY abs(EXTRACT(EPOCH FROM (scheduled_at::timestamptz - $2::text::timestamptz))) LIMIT 1";
        Ok(self.c.borrow_mut().query_opt(sql, &[&org, &at])?.map(|r| r.get(0)))
    }

    fn insert_ad_hoc_meeting(&self, id: MeetingId, org: &str, title: &str, now: &str) -> Result<()> {
        self.c.borrow_mut().execute(
            "INSERT INTO meetings (id, org, kind, title, scheduled_at, created_at) VALUES ($1, $2, 'regular', $3, $4, $4)",
            &[&id.to_string(), &org, &title, &now],
        )?;
        Ok(())
    }
}

impl<C: GenericClient> Indexing for Postgres<'_, C> {
    fn shredded_recordings(&self) -> Result<Vec<String>> {
        strings(&self.c, "SELECT id FROM recordings WHERE state = 'shredded'")
    }

    fn stored_transcript_count(&self) -> Result<usize> {
        let n: i64 =
            self.c.borrow_mut().query_one("SELECT COUNT(*) FROM transcripts WHERE state = 'stored'", &[])?.get(0);
        Ok(unsigned(n) as usize)
    }

    fn stored_transcripts(&self) -> Result<Vec<String>> {
        strings(&self.c, "SELECT recording FROM transcripts WHERE state = 'stored' ORDER BY stored_at")
    }

    fn recording_place(&self, rec: RecordingId) -> Result<Option<(String, String, String, String)>> {
        let sql = "SELECT m.id, m.kind, m.scheduled_at, o.path FROM meetings m JOIN orgs o ON o.id = m.org
                   WHERE m.recording = $1";
        let row = self.c.borrow_mut().query_opt(sql, &[&rec.to_string()])?;
        Ok(row.map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))))
    }

    fn meeting_summary(&self, id: &str) -> Result<Option<(String, String, String, String)>> {
        let row = self.c.borrow_mut().query_opt(
            "SELECT m.title, m.org, o.name, m.scheduled_at FROM meetings m JOIN orgs o ON o.id = m.org WHERE m.id = $1",
            &[&id],
        )?;
        Ok(row.map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))))
    }
}
