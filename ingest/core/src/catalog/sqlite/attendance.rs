//! Attendance sheet versions and absence requests on SQLite.

use super::{parse, Sqlite};
use crate::catalog::attendance::{AbsenceRow, Attendance, AttendanceRow};
use crate::catalog::Result;
use crate::schema::{AbsenceId, MeetingId};
use archive::id::RecordObjectId;
use rusqlite::{params, OptionalExtension, Row};

const SHEET: &str = "id, meeting, version, sealed, meta, stored_at, stored_by";
const ABSENCE: &str =
    "id, meeting, member, sealed, requested_at, requested_by, approved, late, decided_at, decided_by, report";

type SheetCols = (String, String, u32, String, String, String, String);

fn sheet_cols(r: &Row<'_>) -> rusqlite::Result<SheetCols> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
}

fn sheet(c: SheetCols) -> Result<AttendanceRow> {
    let (id, meeting, version, sealed, meta, stored_at, stored_by) = c;
    Ok(AttendanceRow {
        id: parse("attendance object id", &id)?,
        meeting: parse("meeting id", &meeting)?,
        version,
        sealed,
        meta,
        stored_at,
        stored_by,
    })
}

type AbsenceCols =
    (String, String, String, String, String, String, Option<i64>, i64, Option<String>, Option<String>, Option<String>);

fn absence_cols(r: &Row<'_>) -> rusqlite::Result<AbsenceCols> {
    Ok((
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
}

fn absence(c: AbsenceCols) -> Result<AbsenceRow> {
    let (id, meeting, member, sealed, requested_at, requested_by, approved, late, decided_at, decided_by, report) = c;
    Ok(AbsenceRow {
        id: parse("absence id", &id)?,
        meeting: parse("meeting id", &meeting)?,
        member: parse("member id", &member)?,
        sealed,
        requested_at,
        requested_by,
        approved: approved.map(|a| a != 0),
        late: late != 0,
        decided_at,
        decided_by,
        report: report.map(|r| parse("absence report id", &r)).transpose()?,
    })
}

impl Attendance for Sqlite<'_> {
    fn insert_attendance(&self, a: &AttendanceRow) -> Result<()> {
        self.conn.execute(
            &format!("INSERT INTO meeting_attendance ({SHEET}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
            params![a.id.to_string(), a.meeting.to_string(), a.version, a.sealed, a.meta, a.stored_at, a.stored_by],
        )?;
        Ok(())
    }

    fn attendance_versions(&self, meeting: MeetingId) -> Result<Vec<AttendanceRow>> {
        let sql = format!("SELECT {SHEET} FROM meeting_attendance WHERE meeting = ?1 ORDER BY version");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([meeting.to_string()], sheet_cols)?.collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(sheet).collect()
    }

    fn set_attendance_time(&self, id: RecordObjectId, stored_at: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE meeting_attendance SET stored_at = ?2 WHERE id = ?1",
            params![id.to_string(), stored_at],
        )?;
        Ok(())
    }

    fn insert_absence(&self, a: &AbsenceRow) -> Result<()> {
        self.conn.execute(
            &format!("INSERT INTO absence_requests ({ABSENCE}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
            params![
                a.id.to_string(),
                a.meeting.to_string(),
                a.member.to_string(),
                a.sealed,
                a.requested_at,
                a.requested_by,
                a.approved.map(i64::from),
                a.late as i64,
                a.decided_at,
                a.decided_by,
                a.report.map(|r| r.to_string())
            ],
        )?;
        Ok(())
    }

    fn absence(&self, id: AbsenceId) -> Result<Option<AbsenceRow>> {
        let sql = format!("SELECT {ABSENCE} FROM absence_requests WHERE id = ?1");
        self.conn.query_row(&sql, [id.to_string()], absence_cols).optional()?.map(absence).transpose()
    }

    fn absences(&self, meeting: MeetingId) -> Result<Vec<AbsenceRow>> {
        let sql = format!("SELECT {ABSENCE} FROM absence_requests WHERE meeting = ?1 ORDER BY requested_at, id");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([meeting.to_string()], absence_cols)?.collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(absence).collect()
    }

    fn set_absence_time(&self, id: AbsenceId, requested_at: Option<&str>, decided_at: Option<&str>) -> Result<()> {
        self.conn.execute(
            "UPDATE absence_requests SET requested_at = COALESCE(?2, requested_at), decided_at = COALESCE(?3, decided_at)
             WHERE id = ?1",
            params![id.to_string(), requested_at, decided_at],
        )?;
        Ok(())
    }

    fn decide_absence(&self, id: AbsenceId, approved: bool, late: bool, by: &str, at: &str) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE absence_requests SET approved = ?2, late = ?3, decided_by = ?4, decided_at = ?5
             WHERE id = ?1 AND approved IS NULL",
            params![id.to_string(), approved as i64, late as i64, by, at],
        )?;
        Ok(n == 1)
    }

    fn set_absence_report(&self, id: AbsenceId, meeting: MeetingId, report: RecordObjectId) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE absence_requests SET report = ?3 WHERE id = ?1 AND meeting = ?2",
            params![id.to_string(), meeting.to_string(), report.to_string()],
        )?;
        Ok(n == 1)
    }
}
