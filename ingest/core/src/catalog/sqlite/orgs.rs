//! Orgs, meetings, recordings' owners and endpoints on SQLite.

use super::{in_scope, parse, scope_param, Sqlite};
use crate::catalog::{
    BrowsedMeeting, EndpointRow, Endpoints, Listed, Meeting, MeetingBrowse, MeetingDetail, NewMeetingRow, Org, Orgs,
    Recordings, Result, Scope, StreamLabel,
};
use crate::schema::{EndpointId, MeetingId, OrgId};
use archive::id::RecordingId;
use rusqlite::{params, OptionalExtension};

type MeetingRow = (String, String, String, String, String, Option<String>, Option<String>);

fn meeting_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MeetingRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
}

fn to_meeting(row: MeetingRow) -> Result<Meeting> {
    let (id, org, kind, title, scheduled_at, recording, language) = row;
    Ok(Meeting { id: parse("meeting id", &id)?, org, kind, title, scheduled_at, recording, language })
}

impl Sqlite<'_> {
    fn one_string(&self, sql: &str, arg: String) -> Result<Option<String>> {
        Ok(self.conn.query_row(sql, [arg], |r| r.get(0)).optional()?)
    }

    fn exists(&self, sql: &str, arg: String) -> Result<bool> {
        Ok(self.conn.query_row(sql, [arg], |r| r.get(0))?)
    }
}

impl Orgs for Sqlite<'_> {
    fn org_exists(&self, id: &str) -> Result<bool> {
        self.exists("SELECT EXISTS (SELECT 1 FROM orgs WHERE id = ?1)", id.to_string())
    }

    fn org_kind_path(&self, id: OrgId) -> Result<Option<(String, String)>> {
        let sql = "SELECT kind, path FROM orgs WHERE id = ?1";
        Ok(self.conn.query_row(sql, [id.to_string()], |r| Ok((r.get(0)?, r.get(1)?))).optional()?)
    }

    fn org_path(&self, id: OrgId) -> Result<Option<String>> {
        self.one_string("SELECT path FROM orgs WHERE id = ?1", id.to_string())
    }

    fn org_language(&self, id: &str) -> Result<Option<String>> {
        let sql = "WITH RECURSIVE up(id, parent, language, depth) AS (
                       SELECT id, parent, language, 0 FROM orgs WHERE id = ?1
                       UNION ALL SELECT o.id, o.parent, o.language, up.depth + 1 FROM orgs o JOIN up ON o.id = up.parent)
                   SELECT language FROM up WHERE language IS NOT NULL ORDER BY depth LIMIT 1";
        self.one_string(sql, id.to_string())
    }

    fn insert_org(&self, o: &Org, now: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO orgs (id, parent, kind, name, path, created_at, language) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![o.id.to_string(), o.parent, o.kind, o.name, o.path, now, o.language],
        )?;
        Ok(())
    }

    fn orgs(&self, scope: &Scope) -> Result<Vec<Org>> {
        let sql = format!(
            "SELECT id, parent, kind, name, path, language FROM orgs o WHERE {} ORDER BY path",
            in_scope("o.path", 1)
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([scope_param(scope)], |r| {
            Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })?;
        rows.map(|r| {
            let (id, parent, kind, name, path, language) = r?;
            Ok(Org { id: parse("org id", &id)?, parent, kind, name, path, language })
        })
        .collect()
    }

    fn org_names(&self, scope: &Scope) -> Result<Vec<(String, String, String)>> {
        let sql = format!("SELECT id, name, path FROM orgs o WHERE {} ORDER BY path", in_scope("o.path", 1));
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([scope_param(scope)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn insert_meeting(&self, m: &NewMeetingRow) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meetings (id, org, kind, title, scheduled_at, created_at, language) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![m.id.to_string(), m.org, m.kind, m.title, m.scheduled_at, m.created_at, m.language],
        )?;
        Ok(())
    }

    fn meetings(&self, org: Option<OrgId>, scope: &Scope) -> Result<Vec<Meeting>> {
        let sql = format!(
            "SELECT m.id, m.org, m.kind, m.title, m.scheduled_at, m.recording, m.language
             FROM meetings m JOIN orgs o ON o.id = m.org
             WHERE (?1 IS NULL OR m.org = ?1) AND {}
             ORDER BY m.scheduled_at DESC",
            in_scope("o.path", 2)
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![org.map(|o| o.to_string()), scope_param(scope)], meeting_row)?;
        rows.map(|r| to_meeting(r?)).collect()
    }

    fn meeting(&self, id: MeetingId) -> Result<Option<Meeting>> {
        let row = self
            .conn
            .query_row(
                "SELECT id, org, kind, title, scheduled_at, recording, language FROM meetings WHERE id = ?1",
                [id.to_string()],
                meeting_row,
            )
            .optional()?;
        row.map(to_meeting).transpose()
    }

    fn browse_meetings(&self, f: &MeetingBrowse, scope: &Scope) -> Result<Vec<BrowsedMeeting>> {
        let sql = format!(
            "SELECT m.id, m.title, m.kind, m.scheduled_at, m.org, o.name, m.recording, r.state,
                    EXISTS (SELECT 1 FROM transcripts t WHERE t.recording = m.recording AND t.state = 'stored'),
                    EXISTS (SELECT 1 FROM meeting_documents d WHERE d.meeting = m.id AND d.kind = 'minutes')
             FROM meetings m JOIN orgs o ON o.id = m.org LEFT JOIN recordings r ON r.id = m.recording
             WHERE {}
               AND (?2 IS NULL OR o.path = ?2 OR substr(o.path, 1, length(?2) + 1) = ?2 || '/')
               AND (?3 IS NULL OR m.kind = ?3)
               AND (?4 IS NULL OR m.scheduled_at >= ?4)
               AND (?5 IS NULL OR m.scheduled_at < ?5)
               AND (?6 = 0 OR (r.state IS NOT NULL AND r.state != 'shredded'))
               AND (?7 = 0 OR EXISTS (SELECT 1 FROM transcripts t WHERE t.recording = m.recording AND t.state = 'stored'))
               AND (?8 IS NULL OR (m.scheduled_at, m.id) < (?8, ?9))
               AND (?11 = 0 OR EXISTS (SELECT 1 FROM meeting_documents d WHERE d.meeting = m.id AND d.kind = 'minutes'))
             ORDER BY m.scheduled_at DESC, m.id DESC
             LIMIT ?10",
            in_scope("o.path", 1)
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let (after_at, after_id) = f.after.clone().unzip();
        let args = params![
            scope_param(scope),
            f.path,
            f.kind,
            f.from,
            f.to,
            f.recording,
            f.transcript,
            after_at,
            after_id,
            f.limit as i64,
            f.minutes
        ];
        let rows = stmt.query_map(args, |r| {
            Ok(BrowsedMeeting {
                id: r.get(0)?,
                title: r.get(1)?,
                kind: r.get(2)?,
                scheduled_at: r.get(3)?,
                org: r.get(4)?,
                org_name: r.get(5)?,
                recording: r.get(6)?,
                recording_state: r.get(7)?,
                transcript: r.get(8)?,
                minutes: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn meeting_detail(&self, id: MeetingId) -> Result<Option<MeetingDetail>> {
        let detail = self
            .conn
            .query_row(
                "SELECT m.id, m.title, m.kind, m.scheduled_at, m.recording, o.name, o.path
                 FROM meetings m JOIN orgs o ON o.id = m.org WHERE m.id = ?1",
                [id.to_string()],
                |r| {
                    let (id, title, kind, scheduled_at) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
                    let (recording, org_name, org_path) = (r.get(4)?, r.get(5)?, r.get(6)?);
                    Ok(MeetingDetail { id, title, kind, scheduled_at, recording, org_name, org_path })
                },
            )
            .optional()?;
        Ok(detail)
    }

    fn meeting_org_path(&self, id: MeetingId) -> Result<Option<String>> {
        let sql = "SELECT o.path FROM meetings m JOIN orgs o ON o.id = m.org WHERE m.id = ?1";
        self.one_string(sql, id.to_string())
    }

    fn meeting_recording(&self, id: MeetingId) -> Result<Option<(String, Option<String>)>> {
        let sql = "SELECT org, recording FROM meetings WHERE id = ?1";
        Ok(self.conn.query_row(sql, [id.to_string()], |r| Ok((r.get(0)?, r.get(1)?))).optional()?)
    }

    fn link_recording(&self, meeting: MeetingId, rec: RecordingId) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE meetings SET recording = ?2 WHERE id = ?1 AND recording IS NULL",
            [meeting.to_string(), rec.to_string()],
        )?;
        Ok(n == 1)
    }
}

impl Recordings for Sqlite<'_> {
    fn recording_exists(&self, rec: RecordingId) -> Result<bool> {
        self.exists("SELECT EXISTS (SELECT 1 FROM recordings WHERE id = ?1)", rec.to_string())
    }

    fn recording_state(&self, rec: RecordingId) -> Result<Option<String>> {
        self.one_string("SELECT state FROM recordings WHERE id = ?1", rec.to_string())
    }

    fn recording_org_path(&self, rec: RecordingId) -> Result<Option<String>> {
        let sql = "SELECT o.path FROM meetings m JOIN orgs o ON o.id = m.org WHERE m.recording = ?1";
        self.one_string(sql, rec.to_string())
    }

    fn recording_meeting(&self, rec: RecordingId) -> Result<(String, String, Option<String>)> {
        let sql = "SELECT r.meeting, r.org, m.language FROM recordings r
                   LEFT JOIN meetings m ON m.id = r.meeting WHERE r.id = ?1";
        Ok(self.conn.query_row(sql, [rec.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?)
    }

    fn stream_labels(&self, rec: RecordingId) -> Result<Vec<StreamLabel>> {
        let mut stmt = self.conn.prepare(
            "SELECT s.id, s.kind, s.opened_at, e.name, u.filename FROM streams s
             LEFT JOIN endpoints e ON e.id = s.endpoint LEFT JOIN uploads u ON u.stream = s.id
             WHERE s.recording = ?1 ORDER BY s.opened_at, s.id",
        )?;
        let rows = stmt.query_map([rec.to_string()], |r| {
            Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
        rows.map(|row| {
            let (id, kind, opened_at, endpoint, filename) = row?;
            Ok(StreamLabel { id: parse("stream id", &id)?, kind, opened_at, endpoint, filename })
        })
        .collect()
    }
}

impl Endpoints for Sqlite<'_> {
    fn insert_endpoint(&self, e: &EndpointRow, now: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO endpoints (id, org, name, key_sha256, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![e.id.to_string(), e.org, e.name, e.key_sha256, now],
        )?;
        Ok(())
    }

    fn endpoint_name_taken(&self, org: OrgId, name: &str) -> Result<bool> {
        let sql = "SELECT EXISTS (SELECT 1 FROM endpoints WHERE org = ?1 AND name = ?2)";
        Ok(self.conn.query_row(sql, params![org.to_string(), name], |r| r.get(0))?)
    }

    fn endpoint_exists(&self, id: EndpointId) -> Result<bool> {
        self.exists("SELECT EXISTS (SELECT 1 FROM endpoints WHERE id = ?1)", id.to_string())
    }

    fn revoke_endpoint(&self, id: EndpointId, now: &str) -> Result<bool> {
        let changed = self.conn.execute(
            "UPDATE endpoints SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id.to_string(), now],
        )?;
        Ok(changed > 0)
    }

    fn live_endpoint(&self, id: EndpointId) -> Result<Option<EndpointRow>> {
        let row = self
            .conn
            .query_row(
                "SELECT org, key_sha256, name FROM endpoints WHERE id = ?1 AND revoked_at IS NULL",
                [id.to_string()],
                |r| Ok(EndpointRow { id, org: r.get(0)?, key_sha256: r.get(1)?, name: r.get(2)? }),
            )
            .optional()?;
        Ok(row)
    }

    fn endpoints(&self, org: Option<OrgId>, scope: &Scope) -> Result<Vec<Listed>> {
        let sql = format!(
            "SELECT e.id, e.org, e.name, e.created_at, e.revoked_at
             FROM endpoints e JOIN orgs o ON o.id = e.org
             WHERE (?1 IS NULL OR e.org = ?1) AND {} ORDER BY e.org, e.name",
            in_scope("o.path", 2)
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![org.map(|o| o.to_string()), scope_param(scope)], |r| {
            Ok(Listed { id: r.get(0)?, org: r.get(1)?, name: r.get(2)?, created_at: r.get(3)?, revoked_at: r.get(4)? })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn endpoints_in_scope(&self, ids: &[String], scope: &Scope) -> Result<Vec<String>> {
        let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        let sql = format!(
            "SELECT e.id FROM endpoints e JOIN orgs o ON o.id = e.org
             WHERE e.id IN (SELECT value FROM json_each(?1)) AND {}",
            in_scope("o.path", 2)
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![ids, scope_param(scope)], |r| r.get(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}
