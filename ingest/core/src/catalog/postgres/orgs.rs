//! Orgs, meetings, recordings' owners and endpoints on PostgreSQL.

use super::{in_scope, parse, scope_param, Postgres};
use crate::catalog::{
    BrowsedMeeting, EndpointRow, Endpoints, Listed, Meeting, MeetingBrowse, MeetingDetail, NewMeetingRow, Org, Orgs,
    Recordings, Result, Scope, StreamLabel,
};
use crate::schema::{EndpointId, MeetingId, OrgId};
use archive::id::RecordingId;
use postgres::GenericClient;

/// A meeting's `id, org, kind, title, scheduled_at, recording, language`.
fn to_meeting(r: &postgres::Row) -> Result<Meeting> {
    let id: String = r.get(0);
    Ok(Meeting {
        id: parse("meeting id", &id)?,
        org: r.get(1),
        kind: r.get(2),
        title: r.get(3),
        scheduled_at: r.get(4),
        recording: r.get(5),
        language: r.get(6),
    })
}

impl<C: GenericClient> Postgres<'_, C> {
    fn one_string(&self, sql: &str, arg: String) -> Result<Option<String>> {
        Ok(self.c.borrow_mut().query_opt(sql, &[&arg])?.map(|r| r.get(0)))
    }

    fn exists(&self, sql: &str, arg: String) -> Result<bool> {
        Ok(self.c.borrow_mut().query_one(sql, &[&arg])?.get(0))
    }
}

impl<C: GenericClient> Orgs for Postgres<'_, C> {
    fn org_exists(&self, id: &str) -> Result<bool> {
        self.exists("SELECT EXISTS (SELECT 1 FROM orgs WHERE id = $1)", id.to_string())
    }

    fn org_kind_path(&self, id: OrgId) -> Result<Option<(String, String)>> {
        let row = self.c.borrow_mut().query_opt("SELECT kind, path FROM orgs WHERE id = $1", &[&id.to_string()])?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    fn org_path(&self, id: OrgId) -> Result<Option<String>> {
        self.one_string("SELECT path FROM orgs WHERE id = $1", id.to_string())
    }

    fn org_language(&self, id: &str) -> Result<Option<String>> {
        let sql = "WITH RECURSIVE up(id, parent, language, depth) AS (
                       SELECT id, parent, language, 0 FROM orgs WHERE id = $1
                       UNION ALL SELECT o.id, o.parent, o.language, up.depth + 1 FROM orgs o JOIN up ON o.id = up.parent)
                   SELECT language FROM up WHERE language IS NOT NULL ORDER BY depth LIMIT 1";
        self.one_string(sql, id.to_string())
    }

    fn insert_org(&self, o: &Org, now: &str) -> Result<()> {
        self.c.borrow_mut().execute(
            "INSERT INTO orgs (id, parent, kind, name, path, created_at, language) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&o.id.to_string(), &o.parent, &o.kind, &o.name, &o.path, &now, &o.language],
        )?;
        Ok(())
    }

    fn orgs(&self, scope: &Scope) -> Result<Vec<Org>> {
        let sql = format!(
            "SELECT id, parent, kind, name, path, language FROM orgs o WHERE {} ORDER BY path",
            in_scope("o.path", 1)
        );
        let rows = self.c.borrow_mut().query(&sql, &[&scope_param(scope)])?;
        rows.iter()
            .map(|r| {
                let id: String = r.get(0);
                let (parent, kind, name, path, language) = (r.get(1), r.get(2), r.get(3), r.get(4), r.get(5));
                Ok(Org { id: parse("org id", &id)?, parent, kind, name, path, language })
            })
            .collect()
    }

    fn org_names(&self, scope: &Scope) -> Result<Vec<(String, String, String)>> {
        let sql = format!("SELECT id, name, path FROM orgs o WHERE {} ORDER BY path", in_scope("o.path", 1));
        let rows = self.c.borrow_mut().query(&sql, &[&scope_param(scope)])?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    fn insert_meeting(&self, m: &NewMeetingRow) -> Result<()> {
        self.c.borrow_mut().execute(
            "INSERT INTO meetings (id, org, kind, title, scheduled_at, created_at, language) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&m.id.to_string(), &m.org, &m.kind, &m.title, &m.scheduled_at, &m.created_at, &m.language],
        )?;
        Ok(())
    }

    fn meetings(&self, org: Option<OrgId>, scope: &Scope) -> Result<Vec<Meeting>> {
        let sql = format!(
            "SELECT m.id, m.org, m.kind, m.title, m.scheduled_at, m.recording, m.language
             FROM meetings m JOIN orgs o ON o.id = m.org
             WHERE ($1::text IS NULL OR m.org = $1) AND {}
             ORDER BY m.scheduled_at DESC",
            in_scope("o.path", 2)
        );
        let rows = self.c.borrow_mut().query(&sql, &[&org.map(|o| o.to_string()), &scope_param(scope)])?;
        rows.iter().map(to_meeting).collect()
    }

    fn meeting(&self, id: MeetingId) -> Result<Option<Meeting>> {
        let row = self.c.borrow_mut().query_opt(
            "SELECT id, org, kind, title, scheduled_at, recording, language FROM meetings WHERE id = $1",
            &[&id.to_string()],
        )?;
        row.as_ref().map(to_meeting).transpose()
    }

    fn browse_meetings(&self, f: &MeetingBrowse, scope: &Scope) -> Result<Vec<BrowsedMeeting>> {
        let sql = format!(
            "SELECT m.id, m.title, m.kind, m.scheduled_at, m.org, o.name, m.recording, r.state,
                    EXISTS (SELECT 1 FROM transcripts t WHERE t.recording = m.recording AND t.state = 'stored'),
                    EXISTS (SELECT 1 FROM meeting_documents d WHERE d.meeting = m.id AND d.kind = 'minutes')
             FROM meetings m JOIN orgs o ON o.id = m.org LEFT JOIN recordings r ON r.id = m.recording
             WHERE {}
               AND ($2::text IS NULL OR o.path = $2 OR left(o.path, length($2) + 1) = $2 || '/')
               AND ($3::text IS NULL OR m.kind = $3)
               AND ($4::text IS NULL OR m.scheduled_at >= $4)
               AND ($5::text IS NULL OR m.scheduled_at < $5)
               AND (NOT $6::boolean OR (r.state IS NOT NULL AND r.state != 'shredded'))
               AND (NOT $7::boolean OR EXISTS (SELECT 1 FROM transcripts t WHERE t.recording = m.recording AND t.state = 'stored'))
               AND ($8::text IS NULL OR (m.scheduled_at, m.id) < ($8, $9::text))
               AND (NOT $11::boolean OR EXISTS (SELECT 1 FROM meeting_documents d WHERE d.meeting = m.id AND d.kind = 'minutes'))
             ORDER BY m.scheduled_at DESC, m.id DESC
             LIMIT $10",
            in_scope("o.path", 1)
        );
        let (after_at, after_id) = f.after.clone().unzip();
        let limit = i64::try_from(f.limit).unwrap_or(i64::MAX);
        let rows = self.c.borrow_mut().query(
            &sql,
            &[
                &scope_param(scope),
                &f.path,
                &f.kind,
                &f.from,
                &f.to,
                &f.recording,
                &f.transcript,
                &after_at,
                &after_id,
                &limit,
                &f.minutes,
            ],
        )?;
        Ok(rows
            .iter()
            .map(|r| BrowsedMeeting {
                id: r.get(0),
                title: r.get(1),
                kind: r.get(2),
                scheduled_at: r.get(3),
                org: r.get(4),
                org_name: r.get(5),
                recording: r.get(6),
                recording_state: r.get(7),
                transcript: r.get(8),
                minutes: r.get(9),
            })
            .collect())
    }

    fn meeting_detail(&self, id: MeetingId) -> Result<Option<MeetingDetail>> {
        let row = self.c.borrow_mut().query_opt(
            "SELECT m.id, m.title, m.kind, m.scheduled_at, m.recording, o.name, o.path
             FROM meetings m JOIN orgs o ON o.id = m.org WHERE m.id = $1",
            &[&id.to_string()],
        )?;
        Ok(row.map(|r| {
            let (id, title, kind, scheduled_at) = (r.get(0), r.get(1), r.get(2), r.get(3));
            let (recording, org_name, org_path) = (r.get(4), r.get(5), r.get(6));
            MeetingDetail { id, title, kind, scheduled_at, recording, org_name, org_path }
        }))
    }

    fn meeting_org_path(&self, id: MeetingId) -> Result<Option<String>> {
        let sql = "SELECT o.path FROM meetings m JOIN orgs o ON o.id = m.org WHERE m.id = $1";
        self.one_string(sql, id.to_string())
    }

    fn meeting_recording(&self, id: MeetingId) -> Result<Option<(String, Option<String>)>> {
        let sql = "SELECT org, recording FROM meetings WHERE id = $1";
        Ok(self.c.borrow_mut().query_opt(sql, &[&id.to_string()])?.map(|r| (r.get(0), r.get(1))))
    }

    fn link_recording(&self, meeting: MeetingId, rec: RecordingId) -> Result<bool> {
        // The `recording IS NULL` test in the UPDATE itself: of two links at
        // once, the second waits on the row lock, re-reads it and changes nothing.
        let n = self.c.borrow_mut().execute(
            "UPDATE meetings SET recording = $2 WHERE id = $1 AND recording IS NULL",
            &[&meeting.to_string(), &rec.to_string()],
        )?;
        Ok(n == 1)
    }
}

impl<C: GenericClient> Recordings for Postgres<'_, C> {
    fn recording_exists(&self, rec: RecordingId) -> Result<bool> {
        self.exists("SELECT EXISTS (SELECT 1 FROM recordings WHERE id = $1)", rec.to_string())
    }

    fn recording_state(&self, rec: RecordingId) -> Result<Option<String>> {
        self.one_string("SELECT state FROM recordings WHERE id = $1", rec.to_string())
    }

    fn recording_org_path(&self, rec: RecordingId) -> Result<Option<String>> {
        let sql = "SELECT o.path FROM meetings m JOIN orgs o ON o.id = m.org WHERE m.recording = $1";
        self.one_string(sql, rec.to_string())
    }

    fn recording_meeting(&self, rec: RecordingId) -> Result<(String, String, Option<String>)> {
        let sql = "SELECT r.meeting, r.org, m.language FROM recordings r
                   LEFT JOIN meetings m ON m.id = r.meeting WHERE r.id = $1";
        let r = self.c.borrow_mut().query_one(sql, &[&rec.to_string()])?;
        Ok((r.get(0), r.get(1), r.get(2)))
    }

    fn stream_labels(&self, rec: RecordingId) -> Result<Vec<StreamLabel>> {
        let rows = self.c.borrow_mut().query(
            "SELECT s.id, s.kind, s.opened_at, e.name, u.filename FROM streams s
             LEFT JOIN endpoints e ON e.id = s.endpoint LEFT JOIN uploads u ON u.stream = s.id
             WHERE s.recording = $1 ORDER BY s.opened_at, s.id",
            &[&rec.to_string()],
        )?;
        rows.iter()
            .map(|r| {
                let id: String = r.get(0);
                let (kind, opened_at, endpoint, filename) = (r.get(1), r.get(2), r.get(3), r.get(4));
                Ok(StreamLabel { id: parse("stream id", &id)?, kind, opened_at, endpoint, filename })
            })
            .collect()
    }
}

impl<C: GenericClient> Endpoints for Postgres<'_, C> {
    fn insert_endpoint(&self, e: &EndpointRow, now: &str) -> Result<()> {
        self.c.borrow_mut().execute(
            "INSERT INTO endpoints (id, org, name, key_sha256, created_at) VALUES ($1, $2, $3, $4, $5)",
            &[&e.id.to_string(), &e.org, &e.name, &e.key_sha256, &now],
        )?;
        Ok(())
    }

    fn endpoint_name_taken(&self, org: OrgId, name: &str) -> Result<bool> {
        let sql = "SELECT EXISTS (SELECT 1 FROM endpoints WHERE org = $1 AND name = $2)";
        Ok(self.c.borrow_mut().query_one(sql, &[&org.to_string(), &name])?.get(0))
    }

    fn endpoint_exists(&self, id: EndpointId) -> Result<bool> {
        self.exists("SELECT EXISTS (SELECT 1 FROM endpoints WHERE id = $1)", id.to_string())
    }

    fn revoke_endpoint(&self, id: EndpointId, now: &str) -> Result<bool> {
        let changed = self.c.borrow_mut().execute(
            "UPDATE endpoints SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            &[&id.to_string(), &now],
        )?;
        Ok(changed > 0)
    }

    fn live_endpoint(&self, id: EndpointId) -> Result<Option<EndpointRow>> {
        let row = self.c.borrow_mut().query_opt(
            "SELECT org, key_sha256, name FROM endpoints WHERE id = $1 AND revoked_at IS NULL",
            &[&id.to_string()],
        )?;
        Ok(row.map(|r| EndpointRow { id, org: r.get(0), key_sha256: r.get(1), name: r.get(2) }))
    }

    fn endpoints(&self, org: Option<OrgId>, scope: &Scope) -> Result<Vec<Listed>> {
        let sql = format!(
            "SELECT e.id, e.org, e.name, e.created_at, e.revoked_at
             FROM endpoints e JOIN orgs o ON o.id = e.org
             WHERE ($1::text IS NULL OR e.org = $1) AND {} ORDER BY e.org, e.name",
            in_scope("o.path", 2)
        );
        let rows = self.c.borrow_mut().query(&sql, &[&org.map(|o| o.to_string()), &scope_param(scope)])?;
        Ok(rows
            .iter()
            .map(|r| Listed { id: r.get(0), org: r.get(1), name: r.get(2), created_at: r.get(3), revoked_at: r.get(4) })
            .collect())
    }

    fn endpoints_in_scope(&self, ids: &[String], scope: &Scope) -> Result<Vec<String>> {
        let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        let sql = format!(
            "SELECT e.id FROM endpoints e JOIN orgs o ON o.id = e.org
             WHERE e.id IN (SELECT jsonb_array_elements_text($1::text::jsonb)) AND {}",
            in_scope("o.path", 2)
        );
        let rows = self.c.borrow_mut().query(&sql, &[&ids, &scope_param(scope)])?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}
