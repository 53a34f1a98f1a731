//! Schedules, alerts and the compliance report on SQLite.

use super::{in_scope, parse, scope_param, Sqlite};
use crate::catalog::{Alert, ComplianceRow, RecordMeetingRow, Reports, Result, Schedule, Schedules, Scope};
use crate::schema::MeetingId;
use rusqlite::params;

fn schedule_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Schedule> {
    let (id, org, kind, title) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
    Ok(Schedule { id, org, kind, title, day: r.get(4)?, time: r.get(5)? })
}

impl Schedules for Sqlite<'_> {
    fn insert_schedule(&self, s: &Schedule, now: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO schedules (id, org, kind, title, day_of_month, time_local, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![s.id, s.org, s.kind, s.title, s.day, s.time, now],
        )?;
        Ok(())
    }

    fn schedules(&self, scope: &Scope) -> Result<Vec<Schedule>> {
        let sql = format!(
            "SELECT s.id, s.org, s.kind, s.title, s.day_of_month, s.time_local
             FROM schedules s JOIN orgs o ON o.id = s.org WHERE {} ORDER BY o.path",
            in_scope("o.path", 1)
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([scope_param(scope)], schedule_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn all_schedules(&self) -> Result<Vec<Schedule>> {
        let mut stmt = self.conn.prepare("SELECT id, org, kind, title, day_of_month, time_local FROM schedules")?;
        let rows = stmt.query_map([], schedule_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn scheduled_meeting_exists(&self, schedule: &str, at: &str) -> Result<bool> {
        let sql = "SELECT EXISTS (SELECT 1 FROM meetings WHERE schedule = ?1 AND scheduled_at = ?2)";
        Ok(self.conn.query_row(sql, params![schedule, at], |r| r.get(0))?)
    }

    fn insert_scheduled_meeting(&self, id: MeetingId, s: &Schedule, at: &str, now: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meetings (id, org, kind, title, scheduled_at, created_at, schedule) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![id.to_string(), s.org, s.kind, s.title, at, now, s.id],
        )?;
        Ok(())
    }

    fn unrecorded_meetings(&self, since: &str, until: &str) -> Result<Vec<(String, String, String)>> {
        let mut stmt = self.conn.prepare(
            "SELECT m.id, m.org, m.scheduled_at FROM meetings m
             WHERE m.recording IS NULL AND m.scheduled_at <= ?1 AND m.scheduled_at >= ?2
               AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.meeting = m.id) ORDER BY m.scheduled_at",
        )?;
        let rows = stmt.query_map(params![until, since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn insert_alert(&self, meeting: &str, raised_at: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO alerts (meeting, kind, raised_at) VALUES (?1, 'missed', ?2)",
            params![meeting, raised_at],
        )?;
        Ok(())
    }

    fn alerts(&self, since: &str, scope: &Scope) -> Result<Vec<Alert>> {
        let sql = format!(
            "SELECT a.meeting, a.kind, m.org, o.name, o.path, m.title, m.scheduled_at, a.raised_at, a.delivered_at
             FROM alerts a JOIN meetings m ON m.id = a.meeting JOIN orgs o ON o.id = m.org
             WHERE a.raised_at >= ?1 AND {} ORDER BY a.raised_at DESC",
            in_scope("o.path", 2)
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![since, scope_param(scope)], |r| {
            Ok(Alert {
                meeting: r.get(0)?,
                kind: r.get(1)?,
                org: r.get(2)?,
                org_name: r.get(3)?,
                org_path: r.get(4)?,
                title: r.get(5)?,
                scheduled_at: r.get(6)?,
                raised_at: r.get(7)?,
                delivered_at: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn alert_attempt(&self, meeting: &str, error: Option<&str>, at: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE alerts SET attempts = attempts + 1, last_error = ?2, delivered_at = CASE WHEN ?3 THEN ?4 END WHERE meeting = ?1",
            params![meeting, error, error.is_none(), at],
        )?;
        Ok(())
    }
}

impl Reports for Sqlite<'_> {
    fn compliance(
        &self,
        path: &str,
        scope: &Scope,
        start: &str,
        end: &str,
        missed_by: &str,
    ) -> Result<Vec<ComplianceRow>> {
        let sql = format!(
            "SELECT o.id, o.name, o.path,
                    COUNT(m.id),
                    COALESCE(SUM(m.recording IS NOT NULL), 0),
                    COALESCE(SUM(EXISTS (SELECT 1 FROM streams s WHERE s.recording = m.recording AND s.length > 0)), 0),
                    COALESCE(SUM(r.state IN ('sealed', 'shredded')), 0),
                    COALESCE(SUM(EXISTS (SELECT 1 FROM transcripts t WHERE t.recording = m.recording AND t.state = 'stored')), 0),
                    COALESCE(SUM(m.id IS NOT NULL AND m.recording IS NULL AND m.scheduled_at <= ?4), 0)
             FROM orgs o
             LEFT JOIN meetings m ON m.org = o.id AND m.scheduled_at >= ?2 AND m.scheduled_at < ?3
             LEFT JOIN recordings r ON r.id = m.recording
             WHERE (o.path = ?1 OR substr(o.path, 1, length(?1) + 1) = ?1 || '/') AND {}
             GROUP BY o.id ORDER BY o.path",
            in_scope("o.path", 5)
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![path, start, end, missed_by, scope_param(scope)], |r| {
            Ok(ComplianceRow {
                org: r.get(0)?,
                org_name: r.get(1)?,
                org_path: r.get(2)?,
                expected: r.get(3)?,
                held: r.get(4)?,
                recorded: r.get(5)?,
                sealed: r.get(6)?,
                transcribed: r.get(7)?,
                missing: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn record_meetings(&self, path: &str, scope: &Scope, start: &str, end: &str) -> Result<Vec<RecordMeetingRow>> {
        let sql = format!(
            "SELECT m.id, m.org, m.kind, m.scheduled_at, m.recording IS NOT NULL,
                    (SELECT a.meta FROM meeting_attendance a WHERE a.meeting = m.id ORDER BY a.version DESC LIMIT 1),
                    (SELECT MIN(d.stored_at) FROM meeting_documents d
                      WHERE d.meeting = m.id AND d.kind NOT IN ('minutes', 'absence_report')),
                    (SELECT MIN(d.stored_at) FROM meeting_documents d WHERE d.meeting = m.id AND d.kind = 'minutes'),
                    (SELECT e.score FROM meeting_evaluations e WHERE e.meeting = m.id ORDER BY e.version DESC LIMIT 1),
                    EXISTS (SELECT 1 FROM schedules s WHERE s.org = m.org AND s.kind = 'committee'),
                    (SELECT json_group_array(r.member) FROM absence_requests r WHERE r.meeting = m.id AND r.approved = 1)
             FROM meetings m JOIN orgs o ON o.id = m.org
             WHERE m.scheduled_at >= ?2 AND m.scheduled_at < ?3
               AND (o.path = ?1 OR substr(o.path, 1, length(?1) + 1) = ?1 || '/') AND {}
             ORDER BY m.scheduled_at, m.id",
            in_scope("o.path", 4)
        );
        let mut stmt = self.conn.prepare(&sql)?;
        type Cols = (
            String,
            String,
            String,
            String,
            bool,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<u8>,
            bool,
            String,
        );
        let rows = stmt.query_map(params![path, start, end, scope_param(scope)], |r| {
            Ok::<Cols, rusqlite::Error>((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (
                id,
                org,
                kind,
                scheduled_at,
                held,
                sheet_meta,
                first_document_at,
                minutes_at,
                score,
                committee,
                approved,
            ) = row?;
            let approved: Vec<String> = serde_json::from_str(&approved)
                .map_err(|e| crate::catalog::Error::malformed(format!("approved absences of {id}: {e}")))?;
            out.push(RecordMeetingRow {
                meeting: parse("meeting id", &id)?,
                org,
                kind,
                scheduled_at,
                held,
                sheet_meta,
                approved_absences: approved.iter().map(|m| parse("member id", m)).collect::<Result<_>>()?,
                first_document_at,
                minutes_at,
                score,
                committee_scheduled: committee,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::one_meeting_catalog as catalog;

    #[test]
    fn a_meeting_is_unrecorded_between_the_bounds_until_alerted_or_recorded() {
        let c = catalog();
        let q = Sqlite::new(&c);
        let (since, at) = ("2026-02-26T01:00:00.000Z", "2026-03-05T01:00:00.000Z");
        assert!(q.unrecorded_meetings(since, "2026-03-05T00:59:59.999Z").unwrap().is_empty(), "not yet");
        assert_eq!(q.unrecorded_meetings(since, at).unwrap().len(), 1, "the bounds are inclusive");
        c.execute("INSERT INTO alerts VALUES ('m1')", []).unwrap();
        assert!(q.unrecorded_meetings(since, at).unwrap().is_empty(), "raised once");
        c.execute("DELETE FROM alerts", []).unwrap();
        c.execute("UPDATE meetings SET recording = 'r'", []).unwrap();
        assert!(q.unrecorded_meetings(since, at).unwrap().is_empty(), "a recording means held");
    }
}
