//! Attendance sheet versions and absence requests on PostgreSQL.

use super::{parse, Postgres};
use crate::catalog::attendance::{AbsenceRow, Attendance, AttendanceRow};
use crate::catalog::{Error, Result};
use crate::schema::{AbsenceId, MeetingId};
use archive::id::RecordObjectId;
use postgres::{GenericClient, Row};

const SHEET: &str = "id, meeting, version, sealed, meta, stored_at, stored_by";
const ABSENCE: &str =
    "id, meeting, member, sealed, requested_at, requested_by, approved, late, decided_at, decided_by, report";

/// A BIGINT column read into a narrower type: out of range is malformed, as
/// rusqlite refuses it on SQLite.
pub(super) fn narrow<T: TryFrom<i64>>(what: &str, v: i64) -> Result<T> {
    T::try_from(v).map_err(|_| Error::malformed(format!("a {what} out of range: {v}")))
}

fn sheet(r: &Row) -> Result<AttendanceRow> {
    Ok(AttendanceRow {
        id: parse("attendance object id", r.get(0))?,
        meeting: parse("meeting id", r.get(1))?,
        version: narrow("sheet version", r.get(2))?,
        sealed: r.get(3),
        meta: r.get(4),
        stored_at: r.get(5),
        stored_by: r.get(6),
    })
}

fn absence(r: &Row) -> Result<AbsenceRow> {
    let report: Option<&str> = r.get(10);
    Ok(AbsenceRow {
        id: parse("absence id", r.get(0))?,
        meeting: parse("meeting id", r.get(1))?,
        member: parse("member id", r.get(2))?,
        sealed: r.get(3),
        requested_at: r.get(4),
        requested_by: r.get(5),
        approved: r.get(6),
        late: r.get(7),
        decided_at: r.get(8),
        decided_by: r.get(9),
        report: report.map(|s| parse("absence report id", s)).transpose()?,
    })
}

impl<C: GenericClient> Attendance for Postgres<'_, C> {
    fn insert_attendance(&self, a: &AttendanceRow) -> Result<()> {
        // The caller numbers the version; UNIQUE (meeting, version) makes a
        // second writer of the same number wait for the first and then fail,
        // as on SQLite, instead of storing two sheets under one number.
        self.c.borrow_mut().execute(
            &format!("INSERT INTO meeting_attendance ({SHEET}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
            &[
                &a.id.to_string(),
                &a.meeting.to_string(),
                &i64::from(a.version),
                &a.sealed,
                &a.meta,
                &a.stored_at,
                &a.stored_by,
            ],
        )?;
        Ok(())
    }

    fn attendance_versions(&self, meeting: MeetingId) -> Result<Vec<AttendanceRow>> {
        let sql = format!("SELECT {SHEET} FROM meeting_attendance WHERE meeting = $1 ORDER BY version");
        let rows = self.c.borrow_mut().query(&sql, &[&meeting.to_string()])?;
        rows.iter().map(sheet).collect()
    }

    fn set_attendance_time(&self, id: RecordObjectId, stored_at: &str) -> Result<()> {
        self.c
            .borrow_mut()
            .execute("UPDATE meeting_attendance SET stored_at = $2 WHERE id = $1", &[&id.to_string(), &stored_at])?;
        Ok(())
    }

    fn insert_absence(&self, a: &AbsenceRow) -> Result<()> {
        self.c.borrow_mut().execute(
            &format!("INSERT INTO absence_requests ({ABSENCE}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"),
            &[
                &a.id.to_string(),
                &a.meeting.to_string(),
                &a.member.to_string(),
                &a.sealed,
                &a.requested_at,
                &a.requested_by,
                &a.approved,
                &a.late,
                &a.decided_at,
                &a.decided_by,
                &a.report.map(|r| r.to_string()),
            ],
        )?;
        Ok(())
    }

    fn absence(&self, id: AbsenceId) -> Result<Option<AbsenceRow>> {
        let sql = format!("SELECT {ABSENCE} FROM absence_requests WHERE id = $1");
        self.c.borrow_mut().query_opt(&sql, &[&id.to_string()])?.as_ref().map(absence).transpose()
    }

    fn absences(&self, meeting: MeetingId) -> Result<Vec<AbsenceRow>> {
        let sql = format!("SELECT {ABSENCE} FROM absence_requests WHERE meeting = $1 ORDER BY requested_at, id");
        let rows = self.c.borrow_mut().query(&sql, &[&meeting.to_string()])?;
        rows.iter().map(absence).collect()
    }

    fn set_absence_time(&self, id: AbsenceId, requested_at: Option<&str>, decided_at: Option<&str>) -> Result<()> {
        self.c.borrow_mut().execute(
            "UPDATE absence_requests SET requested_at = COALESCE($2, requested_at), decided_at = COALESCE($3, decided_at)
             WHERE id = $1",
            &[&id.to_string(), &requested_at, &decided_at],
        )?;
        Ok(())
    }

    fn decide_absence(&self, id: AbsenceId, approved: bool, late: bool, by: &str, at: &str) -> Result<bool> {
        // Conditional on `approved IS NULL`: of two deciders at once, the
        // second waits for the first's row lock, re-checks, and changes nothing.
        let n = self.c.borrow_mut().execute(
            "UPDATE absence_requests SET approved = $2, late = $3, decided_by = $4, decided_at = $5
             WHERE id = $1 AND approved IS NULL",
            &[&id.to_string(), &approved, &late, &by, &at],
        )?;
        Ok(n == 1)
    }

    fn set_absence_report(&self, id: AbsenceId, meeting: MeetingId, report: RecordObjectId) -> Result<bool> {
        let n = self.c.borrow_mut().execute(
            "UPDATE absence_requests SET report = $3 WHERE id = $1 AND meeting = $2",
            &[&id.to_string(), &meeting.to_string(), &report.to_string()],
        )?;
        Ok(n == 1)
    }
}
