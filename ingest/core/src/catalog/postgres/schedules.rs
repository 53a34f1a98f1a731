//! Schedules, alerts and the compliance report on PostgreSQL.

use super::{in_scope, parse, scope_param, unsigned, Postgres};
use crate::catalog::{Alert, ComplianceRow, Error, RecordMeetingRow, Reports, Result, Schedule, Schedules, Scope};
use crate::schema::MeetingId;
use postgres::GenericClient;

/// The org at `$1` and every org below it (not a sibling that shares its prefix).
const IN_SUBTREE: &str = "(o.path = $1::text OR left(o.path, length($1::text) + 1) = $1::text || '/')";

fn schedule_row(r: &postgres::Row) -> Result<Schedule> {
    let (id, org, kind, title) = (r.get(0), r.get(1), r.get(2), r.get(3));
    Ok(Schedule { id, org, kind, title, day: small("day of month", r.get(4))?, time: r.get(5) })
}

/// A BIGINT that the interface holds as `u8` (a day of month, a score):
/// refused, as SQLite's driver refuses it, when out of range.
fn small(what: &str, n: i64) -> Result<u8> {
    u8::try_from(n).map_err(|_| Error::malformed(format!("a {what} out of range: {n}")))
}

impl<C: GenericClient> Schedules for Postgres<'_, C> {
    fn insert_schedule(&self, s: &Schedule, now: &str) -> Result<()> {
        self.c.borrow_mut().execute(
            "INSERT INTO schedules (id, org, kind, title, day_of_month, time_local, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&s.id, &s.org, &s.kind, &s.title, &i64::from(s.day), &s.time, &now],
        )?;
        Ok(())
    }

    fn schedules(&self, scope: &Scope) -> Result<Vec<Schedule>> {
        let sql = format!(
            "SELECT s.id, s.org, s.kind, s.title, s.day_of_month, s.time_local
             FROM schedules s JOIN orgs o ON o.id = s.org WHERE {} ORDER BY o.path",
            in_scope("o.path", 1)
        );
        let rows = self.c.borrow_mut().query(&sql, &[&scope_param(scope)])?;
        rows.iter().map(schedule_row).collect()
    }

    fn all_schedules(&self) -> Result<Vec<Schedule>> {
        let rows =
            self.c.borrow_mut().query("SELECT id, org, kind, title, day_of_month, time_local FROM schedules", &[])?;
        rows.iter().map(schedule_row).collect()
    }

    fn scheduled_meeting_exists(&self, schedule: &str, at: &str) -> Result<bool> {
        let sql = "SELECT EXISTS (SELECT 1 FROM meetings WHERE schedule = $1 AND scheduled_at = $2)";
        Ok(self.c.borrow_mut().query_one(sql, &[&schedule, &at])?.get(0))
    }

    fn insert_scheduled_meeting(&self, id: MeetingId, s: &Schedule, at: &str, now: &str) -> Result<()> {
        self.c.borrow_mut().execute(
            "INSERT INTO meetings (id, org, kind, title, scheduled_at, created_at, schedule) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&id.to_string(), &s.org, &s.kind, &s.title, &at, &now, &s.id],
        )?;
        Ok(())
    }

    fn unrecorded_meetings(&self, since: &str, until: &str) -> Result<Vec<(String, String, String)>> {
        let rows = self.c.borrow_mut().query(
            "SELECT m.id, m.org, m.scheduled_at FROM meetings m
             WHERE m.recording IS NULL AND m.scheduled_at <= $1 AND m.scheduled_at >= $2
               AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.meeting = m.id) ORDER BY m.scheduled_at",
            &[&until, &since],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    fn insert_alert(&self, meeting: &str, raised_at: &str) -> Result<()> {
        self.c.borrow_mut().execute(
            "INSERT INTO alerts (meeting, kind, raised_at) VALUES ($1, 'missed', $2)",
            &[&meeting, &raised_at],
        )?;
        Ok(())
    }

    fn alerts(&self, since: &str, scope: &Scope) -> Result<Vec<Alert>> {
        let sql = format!(
            "SELECT a.meeting, a.kind, m.org, o.name, o.path, m.title, m.scheduled_at, a.raised_at, a.delivered_at
             FROM alerts a JOIN meetings m ON m.id = a.meeting JOIN orgs o ON o.id = m.org
             WHERE a.raised_at >= $1 AND {} ORDER BY a.raised_at DESC",
            in_scope("o.path", 2)
        );
        let rows = self.c.borrow_mut().query(&sql, &[&since, &scope_param(scope)])?;
        Ok(rows
            .iter()
            .map(|r| Alert {
                meeting: r.get(0),
                kind: r.get(1),
                org: r.get(2),
                org_name: r.get(3),
                org_path: r.get(4),
                title: r.get(5),
                scheduled_at: r.get(6),
                raised_at: r.get(7),
                delivered_at: r.get(8),
            })
            .collect())
    }

    fn alert_attempt(&self, meeting: &str, error: Option<&str>, at: &str) -> Result<()> {
        // A failed attempt clears an earlier delivery, as in SQLite.
        self.c.borrow_mut().execute(
            "UPDATE alerts SET attempts = attempts + 1, last_error = $2,
                    delivered_at = CASE WHEN $3::boolean THEN $4::text END
             WHERE meeting = $1",
            &[&meeting, &error, &error.is_none(), &at],
        )?;
        Ok(())
    }
}

impl<C: GenericClient> Reports for Postgres<'_, C> {
    fn compliance(
        &self,
        path: &str,
        scope: &Scope,
        start: &str,
        end: &str,
        missed_by: &str,
    ) -> Result<Vec<ComplianceRow>> {
        // SQLite sums its 0/1 comparisons; PostgreSQL counts the rows that pass
        // them. An org without meetings has one row of NULLs: counted by none.
        let sql = format!(
            "SELECT o.id, o.name, o.path,
                    COUNT(m.id),
                    COUNT(*) FILTER (WHERE m.recording IS NOT NULL),
                    COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM streams s WHERE s.recording = m.recording AND s.length > 0)),
                    COUNT(*) FILTER (WHERE r.state IN ('sealed', 'shredded')),
                    COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM transcripts t WHERE t.recording = m.recording AND t.state = 'stored')),
                    COUNT(*) FILTER (WHERE m.id IS NOT NULL AND m.recording IS NULL AND m.scheduled_at <= $4)
             FROM orgs o
             LEFT JOIN meetings m ON m.org = o.id AND m.scheduled_at >= $2 AND m.scheduled_at < $3
             LEFT JOIN recordings r ON r.id = m.recording
             WHERE {IN_SUBTREE} AND {}
             GROUP BY o.id ORDER BY o.path",
            in_scope("o.path", 5)
        );
        let rows = self.c.borrow_mut().query(&sql, &[&path, &start, &end, &missed_by, &scope_param(scope)])?;
        let count = |r: &postgres::Row, i: usize| unsigned(r.get::<_, i64>(i));
        Ok(rows
            .iter()
            .map(|r| ComplianceRow {
                org: r.get(0),
                org_name: r.get(1),
                org_path: r.get(2),
                expected: count(r, 3),
                held: count(r, 4),
                recorded: count(r, 5),
                sealed: count(r, 6),
                transcribed: count(r, 7),
                missing: count(r, 8),
            })
            .collect())
    }

    fn record_meetings(&self, path: &str, scope: &Scope, start: &str, end: &str) -> Result<Vec<RecordMeetingRow>> {
        // The approved members come as an array, where SQLite builds a JSON
        // one; in the order the requests came (SQLite reads them by its index
        // on (meeting, requested_at)).
        let sql = format!(
            "SELECT m.id, m.org, m.kind, m.scheduled_at, m.recording IS NOT NULL,
                    (SELECT a.meta FROM meeting_attendance a WHERE a.meeting = m.id ORDER BY a.version DESC LIMIT 1),
                    (SELECT MIN(d.stored_at) FROM meeting_documents d
                      WHERE d.meeting = m.id AND d.kind NOT IN ('minutes', 'absence_report')),
                    (SELECT MIN(d.stored_at) FROM meeting_documents d WHERE d.meeting = m.id AND d.kind = 'minutes'),
                    (SELECT e.score FROM meeting_evaluations e WHERE e.meeting = m.id ORDER BY e.version DESC LIMIT 1),
                    EXISTS (SELECT 1 FROM schedules s WHERE s.org = m.org AND s.kind = 'committee'),
                    ARRAY(SELECT r.member FROM absence_requests r WHERE r.meeting = m.id AND r.approved
                          ORDER BY r.requested_at, r.id)
             FROM meetings m JOIN orgs o ON o.id = m.org
             WHERE m.scheduled_at >= $2 AND m.scheduled_at < $3
               AND {IN_SUBTREE} AND {}
             ORDER BY m.scheduled_at, m.id",
            in_scope("o.path", 4)
        );
        let rows = self.c.borrow_mut().query(&sql, &[&path, &start, &end, &scope_param(scope)])?;
        rows.iter().map(record_meeting_row).collect()
    }
}

fn record_meeting_row(r: &postgres::Row) -> Result<RecordMeetingRow> {
    let id: String = r.get(0);
    let approved: Vec<String> = r.get(10);
    Ok(RecordMeetingRow {
        meeting: parse("meeting id", &id)?,
        org: r.get(1),
        kind: r.get(2),
        scheduled_at: r.get(3),
        held: r.get(4),
        sheet_meta: r.get(5),
        approved_absences: approved.iter().map(|m| parse("member id", m)).collect::<Result<_>>()?,
        first_document_at: r.get(6),
        minutes_at: r.get(7),
        score: r.get::<_, Option<i64>>(8).map(|s| small("score", s)).transpose()?,
        committee_scheduled: r.get(9),
    })
}
