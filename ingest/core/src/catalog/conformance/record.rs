//! The meeting record: Attendance, Documents and Evaluations.
//!
//! Orgs, meetings and members come from [`Engine::batch`], not from the Orgs
//! and Members aggregates, so that these scenarios test this group alone.

use super::{with, Engine, Scenario};
use crate::catalog::{AbsenceRow, AttendanceRow, DocumentRow, EvaluationRow, Repo};
use crate::schema::{AbsenceId, MeetingId, MemberId};
use archive::id::RecordObjectId;

const T0: &str = "2026-11-22T08:00:00.000Z";
const T1: &str = "2026-11-22T08:00:30.000Z";
const T2: &str = "2026-11-22T08:01:00.000Z";

/// This group's scenarios by name.
pub const SCENARIOS: &[(&str, Scenario)] = &[
    ("sheet_versions_list_in_order_per_meeting", sheet_versions_list_in_order_per_meeting),
    ("racing_sheet_versions_stay_dense", racing_sheet_versions_stay_dense),
    ("absences_list_and_decide_once", absences_list_and_decide_once),
    ("racing_deciders_decide_once", racing_deciders_decide_once),
    ("documents_list_by_time_then_id", documents_list_by_time_then_id),
    ("link_generations_count_up_per_meeting", link_generations_count_up_per_meeting),
    ("evaluations_list_in_order_per_meeting", evaluations_list_in_order_per_meeting),
    ("racing_evaluation_versions_stay_dense", racing_evaluation_versions_stay_dense),
];

/// A meeting of org `org` (a cell at `/<org>`, made if missing).
fn meeting(e: &dyn Engine, org: &str) -> MeetingId {
    let id = MeetingId::new();
    e.batch(&format!(
        "INSERT INTO orgs (id, kind, name, path, created_at) VALUES ('{org}', 'cell', '{org}', '/{org}', 't')
             ON CONFLICT DO NOTHING;
         INSERT INTO meetings (id, org, kind, title, scheduled_at, created_at)
             VALUES ('{id}', '{org}', 'regular', 'm', '{T0}', 't');"
    ));
    id
}

fn member(e: &dyn Engine) -> MemberId {
    let id = MemberId::new();
    e.batch(&format!("INSERT INTO members (id, sealed, created_at) VALUES ('{id}', '{{}}', 't');"));
    id
}

/// `n` fresh ids in ascending order, for ties broken by id.
fn ascending<T: Ord>(n: usize, new: impl Fn() -> T) -> Vec<T> {
    let mut ids: Vec<T> = (0..n).map(|_| new()).collect();
    ids.sort();
    ids
}

fn sheet(meeting: MeetingId, version: u32, sealed: &str) -> AttendanceRow {
    AttendanceRow {
        id: RecordObjectId::new(),
        meeting,
        version,
        sealed: sealed.into(),
        meta: format!("{{\"v\":{version}}}"),
        stored_at: T0.into(),
        stored_by: "user:sec".into(),
    }
}

fn versions(rows: &[AttendanceRow]) -> Vec<u32> {
    rows.iter().map(|r| r.version).collect()
}

/// Versions list oldest first, per meeting, every field as stored; a number
/// is never stored twice for a meeting; a time update touches one version.
pub fn sheet_versions_list_in_order_per_meeting(e: &dyn Engine) {
    let (a, b) = (meeting(e, "a"), meeting(e, "b"));
    let (v2, v1, v3) = (sheet(a, 2, "{\"n\":2}"), sheet(a, 1, ""), sheet(a, 3, "{\"n\":3}"));
    let huge = sheet(b, u32::MAX, "");
    with(e, |r| {
        for row in [&v2, &v1, &v3, &huge] {
            r.insert_attendance(row).unwrap();
        }
        let listed = r.attendance_versions(a).unwrap();
        assert_eq!(versions(&listed), vec![1, 2, 3], "by version, not by insertion");
        let first = &listed[0];
        assert_eq!((first.id, first.meeting, first.sealed.as_str()), (v1.id, a, ""));
        assert_eq!(
            (first.meta.as_str(), first.stored_at.as_str(), first.stored_by.as_str()),
            ("{\"v\":1}", T0, "user:sec")
        );
        assert_eq!((listed[1].id, listed[1].sealed.as_str()), (v2.id, "{\"n\":2}"));
        assert!(r.insert_attendance(&sheet(a, 2, "")).is_err(), "version 2 twice");
        assert_eq!(r.attendance_versions(a).unwrap().len(), 3, "the refused copy left no row");
        let other = r.attendance_versions(b).unwrap();
        assert_eq!((other.len(), other[0].version, other[0].id), (1, u32::MAX, huge.id), "b's own, unnarrowed");
        assert!(r.attendance_versions(MeetingId::new()).unwrap().is_empty());
        r.set_attendance_time(v2.id, T2).unwrap();
        let times: Vec<String> = r.attendance_versions(a).unwrap().into_iter().map(|s| s.stored_at).collect();
        assert_eq!(times, vec![T0, T2, T0], "only version 2's time moved");
    });
}

/// Four connections each store five versions as the domain does (read the
/// count, insert the next number), retrying when refused: the numbers come
/// out dense, each stored once, every racer's five kept.
pub fn racing_sheet_versions_stay_dense(e: &dyn Engine) {
    let m = meeting(e, "o");
    let stored = race(e, |r, who| {
        let next = r.attendance_versions(m).unwrap().len() as u32 + 1;
        let mut row = sheet(m, next, "");
        row.stored_by = who.into();
        r.insert_attendance(&row).is_ok()
    });
    let listed = with(e, |r| r.attendance_versions(m).unwrap());
    assert_eq!(versions(&listed), (1..=20).collect::<Vec<_>>(), "dense, none twice");
    for who in RACERS {
        assert_eq!(listed.iter().filter(|s| s.stored_by == who).count(), 5, "{who} kept its five");
    }
    assert_eq!(stored, 20);
}

const RACERS: [&str; 4] = ["a", "b", "c", "d"];

/// Each of [`RACERS`] on its own thread and connection calls `attempt` until
/// it has succeeded five times: the successes, all racers together.
fn race(e: &dyn Engine, attempt: impl Fn(&dyn Repo, &str) -> bool + Sync) -> usize {
    let attempt = &attempt;
    std::thread::scope(|s| {
        let racers: Vec<_> = RACERS
            .into_iter()
            .map(|who| {
                s.spawn(move || {
                    let (mut done, mut tries) = (0, 0);
                    while done < 5 {
                        tries += 1;
                        assert!(tries < 2000, "{who} starved");
                        if with(e, |r| attempt(r, who)) {
                            done += 1;
                        }
                    }
                    done
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).sum()
    })
}

fn request(meeting: MeetingId, member: MemberId, id: AbsenceId, at: &str) -> AbsenceRow {
    AbsenceRow {
        id,
        meeting,
        member,
        sealed: "{\"reason\":\"x\"}".into(),
        requested_at: at.into(),
        requested_by: "user:sec".into(),
        approved: None,
        late: false,
        decided_at: None,
        decided_by: None,
        report: None,
    }
}

fn doc(meeting: MeetingId, id: RecordObjectId, at: &str, confidential: bool) -> DocumentRow {
    DocumentRow {
        id,
        meeting,
        kind: "absence_report".into(),
        content_type: "application/pdf".into(),
        confidential,
        sealed: "{\"t\":1}".into(),
        meta: "{}".into(),
        stored_at: at.into(),
        stored_by: "user:sec".into(),
    }
}

fn ids(rows: &[AbsenceRow]) -> Vec<AbsenceId> {
    rows.iter().map(|r| r.id).collect()
}

/// Requests list by time then id, per meeting; a decision is taken once;
/// times update only where given; a report is set only for its own meeting.
pub fn absences_list_and_decide_once(e: &dyn Engine) {
    let (a, b, who) = (meeting(e, "a"), meeting(e, "b"), member(e));
    let [x, y, z, w]: [AbsenceId; 4] = ascending(4, AbsenceId::new).try_into().unwrap();
    let (report, stray) = (RecordObjectId::new(), RecordObjectId::new());
    with(e, |r| {
        r.insert_document(&doc(a, report, T0, true)).unwrap();
        r.insert_document(&doc(b, stray, T0, false)).unwrap();
        r.insert_absence(&request(a, who, z, T1)).unwrap();
        r.insert_absence(&request(a, who, y, T0)).unwrap();
        r.insert_absence(&request(a, who, x, T0)).unwrap();
        let decided = AbsenceRow {
            approved: Some(false),
            late: true,
            decided_at: Some(T2.into()),
            decided_by: Some("user:chair".into()),
            report: Some(stray),
            ..request(b, who, w, T0)
        };
        r.insert_absence(&decided).unwrap();
        assert_eq!(ids(&r.absences(a).unwrap()), vec![x, y, z], "by time, then id; b's not among them");
        let got = r.absence(w).unwrap().unwrap();
        assert_eq!((got.meeting, got.member, got.approved, got.late), (b, who, Some(false), true));
        assert_eq!(
            (got.decided_at.as_deref(), got.decided_by.as_deref(), got.report),
            (Some(T2), Some("user:chair"), Some(stray))
        );
        let open = r.absence(x).unwrap().unwrap();
        assert_eq!(
            (open.approved, open.late, open.decided_at, open.decided_by, open.report),
            (None, false, None, None, None)
        );
        assert_eq!((open.sealed.as_str(), open.requested_by.as_str()), ("{\"reason\":\"x\"}", "user:sec"));
        assert!(r.absence(AbsenceId::new()).unwrap().is_none());
        assert!(r.absences(MeetingId::new()).unwrap().is_empty());

        assert!(r.decide_absence(x, true, false, "user:chair", T1).unwrap());
        assert!(!r.decide_absence(x, false, true, "user:other", T2).unwrap(), "decided already");
        assert!(!r.decide_absence(w, true, false, "user:other", T2).unwrap(), "inserted decided");
        assert!(!r.decide_absence(AbsenceId::new(), true, false, "user:other", T2).unwrap(), "no such request");
        let x_now = r.absence(x).unwrap().unwrap();
        assert_eq!((x_now.approved, x_now.late), (Some(true), false), "the first decision stands");
        assert_eq!((x_now.decided_at.as_deref(), x_now.decided_by.as_deref()), (Some(T1), Some("user:chair")));

        r.set_absence_time(y, Some(T2), None).unwrap();
        r.set_absence_time(x, None, Some(T0)).unwrap();
        r.set_absence_time(z, None, None).unwrap();
        assert_eq!(ids(&r.absences(a).unwrap()), vec![x, z, y], "y moved to T2");
        let (x_now, y_now) = (r.absence(x).unwrap().unwrap(), r.absence(y).unwrap().unwrap());
        assert_eq!((x_now.requested_at.as_str(), x_now.decided_at.as_deref()), (T0, Some(T0)));
        assert_eq!((y_now.requested_at.as_str(), y_now.decided_at), (T2, None), "no decision time made up");
        assert_eq!(r.absence(z).unwrap().unwrap().requested_at, T1, "nothing given, nothing changed");

        assert!(r.set_absence_report(y, a, report).unwrap());
        assert!(!r.set_absence_report(z, b, report).unwrap(), "z is not b's");
        assert_eq!(r.absence(y).unwrap().unwrap().report, Some(report));
        assert_eq!(r.absence(z).unwrap().unwrap().report, None);
    });
}

/// Eight connections decide one request at once: one decision is taken, and
/// it is the one stored.
pub fn racing_deciders_decide_once(e: &dyn Engine) {
    let (m, who, id) = (meeting(e, "o"), member(e), AbsenceId::new());
    with(e, |r| r.insert_absence(&request(m, who, id, T0)).unwrap());
    let winners: Vec<String> = std::thread::scope(|s| {
        let racers: Vec<_> = (0..8)
            .map(|i| {
                s.spawn(move || {
                    let by = format!("user:{i}");
                    with(e, |r| r.decide_absence(id, i % 2 == 0, false, &by, T1).unwrap()).then_some(by)
                })
            })
            .collect();
        racers.into_iter().filter_map(|r| r.join().unwrap()).collect()
    });
    assert_eq!(winners.len(), 1, "decided once: {winners:?}");
    let stored = with(e, |r| r.absence(id).unwrap().unwrap());
    assert_eq!(stored.decided_by.as_deref(), Some(winners[0].as_str()));
}

/// Documents list by time then id, per meeting; one is found only under its
/// own meeting; an id is stored once; a time update reorders.
pub fn documents_list_by_time_then_id(e: &dyn Engine) {
    let (a, b) = (meeting(e, "a"), meeting(e, "b"));
    let [x, y, z, w]: [RecordObjectId; 4] = ascending(4, RecordObjectId::new).try_into().unwrap();
    with(e, |r| {
        r.insert_document(&doc(a, z, T0, false)).unwrap();
        r.insert_document(&doc(a, x, T1, true)).unwrap();
        r.insert_document(&doc(a, y, T0, true)).unwrap();
        r.insert_document(&doc(b, w, T0, false)).unwrap();
        let order = |r: &dyn Repo| r.documents(a).unwrap().into_iter().map(|d| d.id).collect::<Vec<_>>();
        assert_eq!(order(r), vec![y, z, x], "by time, then id; b's not among them");
        assert!(r.insert_document(&doc(b, x, T2, false)).is_err(), "an id twice");
        let got = r.document(a, y).unwrap().unwrap();
        assert_eq!(
            (got.id, got.meeting, got.kind.as_str(), got.content_type.as_str()),
            (y, a, "absence_report", "application/pdf")
        );
        assert_eq!((got.confidential, got.sealed.as_str(), got.meta.as_str()), (true, "{\"t\":1}", "{}"));
        assert_eq!((got.stored_at.as_str(), got.stored_by.as_str()), (T0, "user:sec"));
        assert!(!r.document(a, z).unwrap().unwrap().confidential);
        assert!(r.document(b, y).unwrap().is_none(), "a's document is not b's");
        assert!(r.document(a, w).unwrap().is_none(), "b's document is not a's");
        assert!(r.documents(MeetingId::new()).unwrap().is_empty());
        r.set_document_time(y, T2).unwrap();
        assert_eq!(order(r), vec![z, x, y], "y moved to T2");
        assert_eq!(r.document(a, y).unwrap().unwrap().stored_at, T2);
    });
}

/// Generations start at 0, count up per meeting, and revocations at once
/// each get a generation of their own.
pub fn link_generations_count_up_per_meeting(e: &dyn Engine) {
    let (a, b) = (meeting(e, "a"), meeting(e, "b"));
    with(e, |r| {
        assert_eq!(r.link_generation(a).unwrap(), 0, "never revoked");
        assert_eq!(r.bump_link_generation(a).unwrap(), 1);
        assert_eq!(r.bump_link_generation(a).unwrap(), 2);
        assert_eq!(r.link_generation(a).unwrap(), 2);
        assert_eq!(r.link_generation(b).unwrap(), 0, "a's revocations are not b's");
    });
    let mut got: Vec<u64> = std::thread::scope(|s| {
        let racers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(move || (0..5).map(|_| with(e, |r| r.bump_link_generation(b).unwrap())).collect::<Vec<_>>())
            })
            .collect();
        racers.into_iter().flat_map(|r| r.join().unwrap()).collect()
    });
    got.sort();
    assert_eq!(got, (1..=20).collect::<Vec<u64>>(), "each bump its own generation");
    with(e, |r| assert_eq!((r.link_generation(a).unwrap(), r.link_generation(b).unwrap()), (2, 20)));
}

fn evaluation(meeting: MeetingId, version: u32, score: u8) -> EvaluationRow {
    EvaluationRow {
        id: RecordObjectId::new(),
        meeting,
        version,
        score,
        met: 0,
        items: 12,
        sealed: String::new(),
        meta: format!("{{\"v\":{version}}}"),
        stored_at: T0.into(),
        stored_by: "user:inspector".into(),
    }
}

/// Versions list oldest first, per meeting, scores as stored; a number is
/// never stored twice; a score out of 1 to 5 is refused.
pub fn evaluations_list_in_order_per_meeting(e: &dyn Engine) {
    let (a, b) = (meeting(e, "a"), meeting(e, "b"));
    let v2 = EvaluationRow { met: 12, sealed: "{\"c\":1}".into(), ..evaluation(a, 2, 5) };
    let (v1, other) = (evaluation(a, 1, 1), EvaluationRow { met: u32::MAX, items: u32::MAX, ..evaluation(b, 1, 3) });
    with(e, |r| {
        for row in [&v2, &v1, &other] {
            r.insert_evaluation(row).unwrap();
        }
        let listed = r.evaluations(a).unwrap();
        let got: Vec<_> = listed.iter().map(|v| (v.id, v.version, v.score, v.met, v.items)).collect();
        assert_eq!(got, vec![(v1.id, 1, 1, 0, 12), (v2.id, 2, 5, 12, 12)], "by version, not by insertion");
        assert_eq!(
            (listed[0].sealed.as_str(), listed[1].sealed.as_str(), listed[1].meta.as_str()),
            ("", "{\"c\":1}", "{\"v\":2}")
        );
        assert_eq!(
            (listed[1].meeting, listed[1].stored_at.as_str(), listed[1].stored_by.as_str()),
            (a, T0, "user:inspector")
        );
        assert!(r.insert_evaluation(&evaluation(a, 2, 4)).is_err(), "version 2 twice");
        assert!(r.insert_evaluation(&evaluation(a, 3, 0)).is_err(), "score 0");
        assert!(r.insert_evaluation(&evaluation(a, 3, 6)).is_err(), "score 6");
        assert_eq!(r.evaluations(a).unwrap().len(), 2, "the refused rows left nothing");
        let b_rows = r.evaluations(b).unwrap();
        assert_eq!((b_rows.len(), b_rows[0].met, b_rows[0].items), (1, u32::MAX, u32::MAX), "b's own, unnarrowed");
        assert!(r.evaluations(MeetingId::new()).unwrap().is_empty());
        r.set_evaluation_time(v1.id, T1).unwrap();
        let times: Vec<String> = r.evaluations(a).unwrap().into_iter().map(|v| v.stored_at).collect();
        assert_eq!(times, vec![T1, T0], "only version 1's time moved");
    });
}

/// Four connections each store five evaluation versions as the domain does:
/// the numbers come out dense, each stored once, every racer's five kept.
pub fn racing_evaluation_versions_stay_dense(e: &dyn Engine) {
    let m = meeting(e, "o");
    let stored = race(e, |r, who| {
        let next = r.evaluations(m).unwrap().len() as u32 + 1;
        let row = EvaluationRow { stored_by: who.into(), ..evaluation(m, next, 3) };
        r.insert_evaluation(&row).is_ok()
    });
    let listed = with(e, |r| r.evaluations(m).unwrap());
    assert_eq!(listed.iter().map(|v| v.version).collect::<Vec<_>>(), (1..=20).collect::<Vec<_>>(), "dense, none twice");
    for who in RACERS {
        assert_eq!(listed.iter().filter(|v| v.stored_by == who).count(), 5, "{who} kept its five");
    }
    assert_eq!(stored, 20);
}
