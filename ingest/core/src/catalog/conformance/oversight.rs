//! Schedules and alerts, Reports, Retention (policies, holds, Object Lock state) and Verifications.
//!
//! Times are RFC 3339 text compared as text: the windows below sit on month
//! ends and on midnight UTC, where a port that reads them as dates or in
//! another zone would move a meeting across a bound.

use super::{with, Engine, Scenario};
use crate::catalog::{CheckpointRef, Hold, PolicyRow, Schedule, Scope, StoreCheck, Verification};
use crate::schema::MeetingId;
use archive::id::RecordingId;

const JAN_END: &str = "2026-01-31T23:59:59.999Z";
const FEB_1: &str = "2026-02-01T00:00:00.000Z";
const FEB_END: &str = "2026-02-28T23:59:59.999Z";
const MAR_1: &str = "2026-03-01T00:00:00.000Z";
const MAR_2: &str = "2026-03-02T00:00:00.000Z";

/// A ULID-shaped id, ordered by `n`.
fn id(n: u32) -> String {
    format!("01J00000000000000000000{n:03}")
}

fn meeting_id(n: u32) -> MeetingId {
    id(n).parse().unwrap()
}

fn subtrees(paths: &[&str]) -> Scope {
    Scope::Subtrees(paths.iter().map(|p| p.to_string()).collect())
}

/// `/a` with `/a/x` below it, the sibling `/ab` that shares its prefix, and `/b`.
fn orgs(e: &dyn Engine) {
    e.batch(
        "INSERT INTO orgs (id, parent, kind, name, path, created_at) VALUES
           ('a', NULL, 'base', 'Alpha', '/a', 't'), ('ax', 'a', 'cell', 'Alpha X', '/a/x', 't'),
           ('ab', NULL, 'cell', 'Ab', '/ab', 't'), ('b', NULL, 'cell', 'Beta', '/b', 't');",
    );
}

fn schedule(id: &str, org: &str, kind: &str, day: u8) -> Schedule {
    let title = format!("{kind} of {org}");
    Schedule { id: id.into(), org: org.into(), kind: kind.into(), title, day, time: "18:30".into() }
}

/// A schedule `s-<org>` per org, and the meetings `(n, org, at)` it expects.
fn meetings(e: &dyn Engine, list: &[(u32, &str, &str)]) {
    with(e, |q| {
        for org in ["a", "ax", "ab", "b"] {
            q.insert_schedule(&schedule(&format!("s-{org}"), org, "regular", 1), FEB_1).unwrap();
        }
        for (n, org, at) in list {
            q.insert_scheduled_meeting(meeting_id(*n), &schedule(&format!("s-{org}"), org, "regular", 1), at, FEB_1)
                .unwrap();
        }
    });
}

/// A recording of `org` in `state`, made the recording of meeting `n`.
fn held(e: &dyn Engine, n: u32, org: &str, state: &str) -> RecordingId {
    let rec = e.recording(org, state);
    e.batch(&format!("UPDATE meetings SET recording = '{rec}' WHERE id = '{}';", id(n)));
    rec
}

fn ids<T>(rows: &[T], f: impl Fn(&T) -> &str) -> Vec<String> {
    rows.iter().map(|r| f(r).to_string()).collect()
}

/// Schedules come in tree order and only from the scope; `/ab` is not under `/a`.
pub fn schedules_in_tree_order_within_the_scope(e: &dyn Engine) {
    orgs(e);
    with(e, |q| {
        for (id, org, kind, day) in [("sb", "b", "conference", 7), ("sab", "ab", "thematic", 1)] {
            q.insert_schedule(&schedule(id, org, kind, day), FEB_1).unwrap();
        }
        q.insert_schedule(&schedule("sax", "ax", "committee", 28), FEB_1).unwrap();
        q.insert_schedule(&schedule("sa", "a", "regular", 1), FEB_1).unwrap();
        assert!(q.insert_schedule(&schedule("sa", "b", "regular", 2), FEB_1).is_err(), "one schedule per id");
        assert!(q.insert_schedule(&schedule("s0", "b", "regular", 0), FEB_1).is_err(), "no day 0");
        assert!(q.insert_schedule(&schedule("s29", "b", "regular", 29), FEB_1).is_err(), "no day 29");
        let by_id = |scope: &Scope| ids(&q.schedules(scope).unwrap(), |s| &s.id);
        assert_eq!(by_id(&Scope::All), ["sa", "sax", "sab", "sb"], "by path, byte by byte: /a/x before /ab");
        assert_eq!(by_id(&subtrees(&["/a"])), ["sa", "sax"], "/ab shares the prefix only");
        assert_eq!(by_id(&subtrees(&["/a/x", "/b"])), ["sax", "sb"]);
        assert!(by_id(&subtrees(&[])).is_empty(), "an empty scope sees nothing");
        assert!(by_id(&subtrees(&["/a/"])).is_empty(), "not a prefix match");
        let mut all = q.all_schedules().unwrap();
        all.sort_by(|x, y| x.id.cmp(&y.id));
        assert_eq!(ids(&all, |s| &s.id), ["sa", "sab", "sax", "sb"]);
        let sax = &all[2];
        assert_eq!((sax.org.as_str(), sax.kind.as_str(), sax.title.as_str()), ("ax", "committee", "committee of ax"));
        assert_eq!((sax.day, sax.time.as_str()), (28, "18:30"));
    });
}

/// A schedule's meeting is found by its exact time text; unrecorded meetings
/// lie in inclusive bounds, oldest first, until recorded or alerted.
pub fn unrecorded_meetings_between_inclusive_bounds(e: &dyn Engine) {
    orgs(e);
    let feb_14 = "2026-02-14T12:00:00.000Z";
    let feb_10 = "2026-02-10T00:00:00.000Z";
    meetings(
        e,
        &[(1, "a", JAN_END), (2, "a", FEB_1), (3, "b", FEB_END), (4, "a", MAR_1), (5, "a", feb_14), (6, "b", feb_10)],
    );
    held(e, 5, "a", "open");
    with(e, |q| {
        assert!(q.scheduled_meeting_exists("s-a", FEB_1).unwrap());
        assert!(!q.scheduled_meeting_exists("s-b", FEB_1).unwrap(), "another schedule's time");
        assert!(!q.scheduled_meeting_exists("s-a", "2026-02-01T00:00:00.000+00:00").unwrap(), "text, not instants");
        let again = q.insert_scheduled_meeting(meeting_id(2), &schedule("s-a", "a", "regular", 1), MAR_2, FEB_1);
        assert!(again.is_err(), "a meeting id is taken once");
        q.insert_alert(&id(6), MAR_1).unwrap();
        assert!(q.insert_alert(&id(6), MAR_2).is_err(), "one alert per meeting");
        let found = |since, until| ids(&q.unrecorded_meetings(since, until).unwrap(), |m| &m.0);
        assert_eq!(found(FEB_1, FEB_END), [id(2), id(3)], "both bounds in; recorded and alerted out");
        assert_eq!(found(FEB_1, "2026-02-28T23:59:59.998Z"), [id(2)], "a millisecond before the month's end");
        assert_eq!(found("2026-02-01T00:00:00.001Z", FEB_END), [id(3)], "a millisecond after midnight");
        assert_eq!(found(JAN_END, MAR_1), [id(1), id(2), id(3), id(4)], "oldest first, across both month ends");
        let m3 = &q.unrecorded_meetings(FEB_END, FEB_END).unwrap()[0];
        assert_eq!((m3.1.as_str(), m3.2.as_str()), ("b", FEB_END));
    });
}

/// Alerts since a time, newest first, within the scope; a failed attempt
/// leaves (or makes) the alert undelivered.
pub fn alerts_newest_first_within_the_scope(e: &dyn Engine) {
    orgs(e);
    meetings(e, &[(1, "a", FEB_1), (2, "ax", FEB_1), (3, "ab", FEB_1), (4, "a", JAN_END)]);
    with(e, |q| {
        q.insert_alert(&id(4), FEB_END).unwrap();
        q.insert_alert(&id(1), MAR_1).unwrap();
        q.insert_alert(&id(2), "2026-03-01T00:00:00.001Z").unwrap();
        q.insert_alert(&id(3), MAR_2).unwrap();
        let seen = |since, scope: &Scope| ids(&q.alerts(since, scope).unwrap(), |a| &a.meeting);
        assert_eq!(seen(MAR_1, &Scope::All), [id(3), id(2), id(1)], "since is inclusive; the day before is not");
        assert_eq!(seen(MAR_1, &subtrees(&["/a"])), [id(2), id(1)], "not /ab's");
        assert_eq!(seen("", &subtrees(&["/ab"])), [id(3)]);
        assert!(seen("", &subtrees(&[])).is_empty());
        let first = |q: &dyn crate::catalog::Repo| q.alerts(MAR_1, &subtrees(&["/a"])).unwrap().pop().unwrap();
        let a = first(q);
        assert_eq!(
            (a.kind.as_str(), a.org.as_str(), a.org_name.as_str(), a.org_path.as_str()),
            ("missed", "a", "Alpha", "/a")
        );
        assert_eq!((a.title.as_str(), a.scheduled_at.as_str(), a.raised_at.as_str()), ("regular of a", FEB_1, MAR_1));
        assert_eq!(a.delivered_at, None);
        q.alert_attempt(&id(1), Some("smtp down"), MAR_1).unwrap();
        assert_eq!(first(q).delivered_at, None, "a failed attempt delivers nothing");
        q.alert_attempt(&id(1), None, MAR_2).unwrap();
        assert_eq!(first(q).delivered_at.as_deref(), Some(MAR_2));
        q.alert_attempt(&id(1), Some("again"), "2026-03-03T00:00:00.000Z").unwrap();
        assert_eq!(first(q).delivered_at, None, "a failure after a delivery clears it");
        q.alert_attempt(&id(99), None, MAR_2).unwrap();
    });
}

/// Adds a stream of `length` bytes to `rec`.
fn stream(e: &dyn Engine, id: &str, rec: RecordingId, length: u64) {
    e.batch(&format!(
        "INSERT INTO streams (id, recording, kind, state, chunk_size, nonce_prefix, key_sha256, length, opened_at)
         VALUES ('{id}', '{rec}', 'audio', 'complete', 65536, 'n', 'k', {length}, 't');"
    ));
}

fn transcript(e: &dyn Engine, rec: RecordingId, state: &str) {
    e.batch(&format!(
        "INSERT INTO transcripts (recording, state, wrapped_dek, key_sha256, nonce_prefix, chunk_size)
         VALUES ('{rec}', '{state}', 'w', 'k', 'n', 65536);"
    ));
}

/// Each org of the subtree gets its counts for `[start, end)`, zeros included;
/// two streams of one meeting count it once.
pub fn compliance_counts_each_org_of_the_subtree(e: &dyn Engine) {
    orgs(e);
    let missed_by = "2026-02-20T00:00:00.000Z";
    meetings(
        e,
        &[
            (1, "a", FEB_1),
            (2, "a", "2026-02-05T10:00:00.000Z"),
            (3, "a", "2026-02-10T10:00:00.000Z"),
            (4, "a", "2026-02-19T23:59:59.999Z"),
            (5, "a", missed_by),
            (6, "a", FEB_END),
            (7, "a", JAN_END),
            (8, "a", MAR_1),
            (9, "ab", FEB_1),
        ],
    );
    let full = held(e, 1, "a", "sealed");
    stream(e, "s1", full, 10);
    transcript(e, full, "stored");
    let shredded = held(e, 2, "a", "shredded");
    stream(e, "s2", shredded, 0);
    transcript(e, shredded, "sealing");
    let open = held(e, 3, "a", "open");
    stream(e, "s3a", open, 0);
    stream(e, "s3b", open, 5);
    stream(e, "s3c", open, 7);
    held(e, 8, "a", "sealed");
    with(e, |q| {
        let counts = |path, scope: &Scope| -> Vec<(String, [u64; 6])> {
            let rows = q.compliance(path, scope, FEB_1, MAR_1, missed_by).unwrap();
            rows.into_iter()
                .map(|r| (r.org_path, [r.expected, r.held, r.recorded, r.sealed, r.transcribed, r.missing]))
                .collect()
        };
        let a = ("/a".to_string(), [6, 3, 2, 2, 1, 2]);
        let ax = || ("/a/x".to_string(), [0; 6]);
        assert_eq!(counts("/a", &Scope::All), [a, ax()], "not /ab; /a/x with no meetings");
        assert_eq!(counts("/a", &subtrees(&["/a/x"])), [ax()], "the scope cuts the subtree");
        assert_eq!(counts("/a/x", &Scope::All), [ax()]);
        assert_eq!(counts("/ab", &Scope::All), [("/ab".to_string(), [1, 0, 0, 0, 0, 1])]);
        assert!(counts("/ab", &subtrees(&["/a"])).is_empty());
        assert!(counts("/a/", &Scope::All).is_empty(), "a path is not a prefix");
        let row = &q.compliance("/b", &Scope::All, FEB_1, MAR_1, missed_by).unwrap()[0];
        assert_eq!((row.org.as_str(), row.org_name.as_str(), row.expected), ("b", "Beta", 0));
    });
}

/// The record's parts for one meeting: fixtures through plain SQL.
fn record_fixture(e: &dyn Engine, meeting: &str) {
    let m = meeting;
    e.batch(&format!(
        "INSERT INTO members (id, sealed, created_at) VALUES ('{p1}', 's', 't'), ('{p2}', 's', 't'), ('{p3}', 's', 't'), ('{p4}', 's', 't');
         INSERT INTO meeting_attendance (id, meeting, version, sealed, meta, stored_at, stored_by) VALUES
           ('{a2}', '{m}', 2, 's', '{{\"v\":2}}', '{MAR_1}', 'u'), ('{a1}', '{m}', 1, 's', '{{\"v\":1}}', '{MAR_2}', 'u');
         INSERT INTO meeting_documents (id, meeting, kind, content_type, confidential, sealed, meta, stored_at, stored_by) VALUES
           ('{d1}', '{m}', 'absence_report', 'text/plain', FALSE, 's', '{{}}', '2026-02-01T08:00:00.000Z', 'u'),
           ('{d2}', '{m}', 'agenda', 'text/plain', FALSE, 's', '{{}}', '2026-02-01T10:00:00.000Z', 'u'),
           ('{d3}', '{m}', 'letter', 'text/plain', TRUE, 's', '{{}}', '2026-02-01T09:00:00.000Z', 'u'),
           ('{d4}', '{m}', 'minutes', 'text/plain', FALSE, 's', '{{}}', '2026-02-01T12:00:00.000Z', 'u'),
           ('{d5}', '{m}', 'minutes', 'text/plain', FALSE, 's', '{{}}', '2026-02-01T11:00:00.000Z', 'u');
         INSERT INTO meeting_evaluations (id, meeting, version, score, met, items, sealed, meta, stored_at, stored_by) VALUES
           ('{e2}', '{m}', 2, 5, 3, 4, 's', '{{}}', '{MAR_1}', 'u'), ('{e1}', '{m}', 1, 2, 1, 4, 's', '{{}}', '{MAR_2}', 'u');
         INSERT INTO absence_requests (id, meeting, member, sealed, requested_at, requested_by, approved) VALUES
           ('{r1}', '{m}', '{p1}', 's', '{JAN_END}', 'u', TRUE), ('{r2}', '{m}', '{p2}', 's', '{JAN_END}', 'u', FALSE),
           ('{r3}', '{m}', '{p3}', 's', '{JAN_END}', 'u', NULL), ('{r4}', '{m}', '{p4}', 's', '{JAN_END}', 'u', TRUE);",
        p1 = id(901), p2 = id(902), p3 = id(903), p4 = id(904),
        a1 = id(911), a2 = id(912), e1 = id(921), e2 = id(922),
        d1 = id(931), d2 = id(932), d3 = id(933), d4 = id(934), d5 = id(935),
        r1 = id(941), r2 = id(942), r3 = id(943), r4 = id(944),
    ));
}

/// Per meeting of the window, subtree and scope, oldest first then by id: the
/// newest sheet and evaluation by version, the first document (not minutes,
/// not an absence report), the first minutes, the approved absences.
pub fn record_meetings_gather_the_record(e: &dyn Engine) {
    orgs(e);
    meetings(
        e,
        &[(2, "a", FEB_1), (1, "ax", FEB_1), (3, "a", FEB_END), (4, "ab", FEB_1), (5, "a", MAR_1), (6, "a", JAN_END)],
    );
    with(e, |q| q.insert_schedule(&schedule("c-a", "a", "committee", 3), FEB_1).unwrap());
    held(e, 2, "a", "sealed");
    record_fixture(e, &id(2));
    with(e, |q| {
        let rows = q.record_meetings("/a", &Scope::All, FEB_1, MAR_1).unwrap();
        let order: Vec<String> = rows.iter().map(|r| r.meeting.to_string()).collect();
        assert_eq!(order, [id(1), id(2), id(3)], "a tie of times goes by id; /ab and the bounds' outside left out");
        let (bare, full, later) = (&rows[0], &rows[1], &rows[2]);
        assert_eq!((bare.org.as_str(), bare.kind.as_str(), bare.scheduled_at.as_str()), ("ax", "regular", FEB_1));
        assert!(!bare.held && !bare.committee_scheduled && bare.approved_absences.is_empty());
        assert_eq!(
            (&bare.sheet_meta, &bare.first_document_at, &bare.minutes_at, bare.score),
            (&None, &None, &None, None)
        );
        assert!(full.held && full.committee_scheduled);
        assert_eq!(full.sheet_meta.as_deref(), Some("{\"v\":2}"), "the newest version, not the newest stored");
        assert_eq!(full.first_document_at.as_deref(), Some("2026-02-01T09:00:00.000Z"));
        assert_eq!(full.minutes_at.as_deref(), Some("2026-02-01T11:00:00.000Z"));
        assert_eq!(full.score, Some(5));
        let mut approved: Vec<String> = full.approved_absences.iter().map(ToString::to_string).collect();
        approved.sort();
        assert_eq!(approved, [id(901), id(904)], "not refused, not undecided");
        assert!(!later.held && later.committee_scheduled && later.score.is_none());
        let only_x = q.record_meetings("/a", &subtrees(&["/a/x"]), FEB_1, MAR_1).unwrap();
        assert_eq!(only_x.iter().map(|r| r.meeting.to_string()).collect::<Vec<_>>(), [id(1)]);
        assert!(q.record_meetings("/ab", &subtrees(&["/a"]), FEB_1, MAR_1).unwrap().is_empty());
        assert_eq!(q.record_meetings("/a", &Scope::All, JAN_END, FEB_1).unwrap()[0].meeting, meeting_id(6));
    });
}

fn policy(n: u32, org: Option<&str>, kind: Option<&str>, class: &str, keep_days: u64, at: &str) -> PolicyRow {
    PolicyRow {
        id: id(n),
        org: org.map(Into::into),
        org_path: None,
        kind: kind.map(Into::into),
        keep_days,
        class: class.into(),
        requested_by: format!("admin{n}"),
        requested_at: at.into(),
    }
}

/// Policies oldest first (then by id); the default is the newest media policy
/// for every org and kind, the later one of a millisecond.
pub fn policies_oldest_first_and_the_newest_default(e: &dyn Engine) {
    orgs(e);
    with(e, |q| {
        assert_eq!(q.default_keep_days().unwrap(), None);
        q.insert_policy(&policy(1, None, None, "media", 30, FEB_END)).unwrap();
        q.insert_policy(&policy(2, Some("a"), None, "media", 10, FEB_1)).unwrap();
        assert_eq!(q.default_keep_days().unwrap(), Some(30), "an org's policy is not the default");
        q.insert_policy(&policy(3, None, None, "record", 400, MAR_2)).unwrap();
        q.insert_policy(&policy(4, None, Some("regular"), "media", 20, MAR_2)).unwrap();
        assert_eq!(q.default_keep_days().unwrap(), Some(30), "neither the record class nor a kind's");
        q.insert_policy(&policy(5, None, None, "media", 90, MAR_1)).unwrap();
        assert_eq!(q.default_keep_days().unwrap(), Some(90));
        q.insert_policy(&policy(6, None, None, "media", 60, MAR_1)).unwrap();
        assert_eq!(q.default_keep_days().unwrap(), Some(60), "set later in the same millisecond");
        assert!(q.insert_policy(&policy(7, None, None, "media", 0, MAR_2)).is_err(), "a day at least");
        assert!(q.insert_policy(&policy(1, None, None, "media", 5, MAR_2)).is_err(), "one policy per id");
        q.approve_policy(&id(5), "second", MAR_2).unwrap();
        q.approve_policy(&id(99), "second", MAR_2).unwrap();
        let all = q.policies().unwrap();
        assert_eq!(ids(&all, |p| &p.id), [id(2), id(1), id(5), id(6), id(3), id(4)]);
        let (org, first) = (&all[0], &all[1]);
        assert_eq!((org.org.as_deref(), org.org_path.as_deref(), org.keep_days), (Some("a"), Some("/a"), 10));
        assert_eq!((first.org.as_deref(), first.org_path.as_deref(), first.kind.as_deref()), (None, None, None));
        assert_eq!((first.requested_by.as_str(), first.requested_at.as_str()), ("admin1", FEB_END));
        assert_eq!((all[4].class.as_str(), all[5].kind.as_deref()), ("record", Some("regular")));
    });
}

fn hold(n: u32, org: &str, placed_at: &str) -> Hold {
    Hold {
        id: id(n),
        org: org.into(),
        org_path: String::new(),
        from: JAN_END.into(),
        to: MAR_1.into(),
        reason: format!("reason {n}"),
        case_ref: format!("case {n}"),
        placed_by: "admin".into(),
        placed_at: placed_at.into(),
        released_at: None,
        release_reason: None,
    }
}

/// Holds oldest first; a hold is released once, also when four connections
/// release it at the same time.
pub fn holds_are_released_once(e: &dyn Engine) {
    orgs(e);
    with(e, |q| {
        q.insert_hold(&hold(2, "ab", MAR_1)).unwrap();
        q.insert_hold(&hold(1, "a", FEB_END)).unwrap();
        assert!(q.insert_hold(&hold(1, "b", MAR_2)).is_err(), "one hold per id");
        let all = q.holds().unwrap();
        assert_eq!(ids(&all, |h| &h.id), [id(1), id(2)]);
        let h = &all[0];
        assert_eq!((h.org.as_str(), h.org_path.as_str(), h.from.as_str(), h.to.as_str()), ("a", "/a", JAN_END, MAR_1));
        assert_eq!((h.reason.as_str(), h.case_ref.as_str(), h.placed_by.as_str()), ("reason 1", "case 1", "admin"));
        assert!(q.release_hold(&id(1), "admin", MAR_2, "case closed").unwrap());
        assert!(!q.release_hold(&id(1), "admin", MAR_2, "again").unwrap(), "released already");
        assert!(!q.release_hold(&id(99), "admin", MAR_2, "none").unwrap(), "no such hold");
        let all = q.holds().unwrap();
        assert_eq!(
            (all[0].released_at.as_deref(), all[0].release_reason.as_deref()),
            (Some(MAR_2), Some("case closed"))
        );
        assert_eq!((&all[1].released_at, &all[1].release_reason), (&None, &None));
    });
    let released: usize = std::thread::scope(|s| {
        let racers: Vec<_> = (0..4)
            .map(|n| s.spawn(move || with(e, |q| q.release_hold(&id(2), "admin", MAR_2, &format!("by {n}")).unwrap())))
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).filter(|won| *won).count()
    });
    assert_eq!(released, 1, "released by exactly one");
}

/// The lock last applied to each recording replaces the one before.
pub fn object_locks_keep_the_last_applied(e: &dyn Engine) {
    let (r1, r2) = (e.recording("a", "sealed"), e.recording("a", "sealed"));
    with(e, |q| {
        assert!(q.object_locks().unwrap().is_empty());
        q.set_object_lock(&r1.to_string(), Some(MAR_1), false, FEB_1).unwrap();
        q.set_object_lock(&r2.to_string(), None, true, FEB_1).unwrap();
        q.set_object_lock(&r1.to_string(), None, true, FEB_END).unwrap();
        let locks = q.object_locks().unwrap();
        assert_eq!(locks.len(), 2);
        assert_eq!(locks[&r1.to_string()], (None, true), "retain-until cleared, held");
        assert_eq!(locks[&r2.to_string()], (None, true));
        q.set_object_lock(&r1.to_string(), Some(MAR_2), false, MAR_1).unwrap();
        assert_eq!(q.object_locks().unwrap()[&r1.to_string()], (Some(MAR_2.to_string()), false));
        assert!(q.set_object_lock("no-such-recording", None, false, MAR_1).is_err(), "a recording the catalog has");
    });
}

/// Record objects by meeting and id across their three tables; forgetting
/// takes only the meeting's, and frees an absence request of its report.
pub fn record_objects_are_listed_and_forgotten(e: &dyn Engine) {
    orgs(e);
    meetings(e, &[(2, "a", FEB_1), (1, "a", FEB_1)]);
    let (m1, m2) = (id(1), id(2));
    let (doc, report, sheet, eval, other) = (id(50), id(20), id(10), id(40), id(30));
    e.batch(&format!(
        "INSERT INTO members (id, sealed, created_at) VALUES ('{p}', 's', 't');
         INSERT INTO meeting_documents (id, meeting, kind, content_type, confidential, sealed, meta, stored_at, stored_by) VALUES
           ('{doc}', '{m1}', 'agenda', 'text/plain', FALSE, 's', '{{}}', 't', 'u'),
           ('{report}', '{m1}', 'absence_report', 'text/plain', FALSE, 's', '{{}}', 't', 'u'),
           ('{other}', '{m2}', 'agenda', 'text/plain', FALSE, 's', '{{}}', 't', 'u');
         INSERT INTO meeting_attendance (id, meeting, version, sealed, meta, stored_at, stored_by) VALUES ('{sheet}', '{m1}', 1, 's', '{{}}', 't', 'u');
         INSERT INTO meeting_evaluations (id, meeting, version, score, met, items, sealed, meta, stored_at, stored_by) VALUES
           ('{eval}', '{m1}', 1, 3, 1, 2, 's', '{{}}', 't', 'u');
         INSERT INTO absence_requests (id, meeting, member, sealed, requested_at, requested_by, approved, report) VALUES
           ('{r}', '{m1}', '{p}', 's', 't', 'u', TRUE, '{report}');",
        p = id(900),
        r = id(910),
    ));
    with(e, |q| {
        let listed = || -> Vec<(String, String)> {
            q.record_objects().unwrap().into_iter().map(|(m, o)| (m, o.to_string())).collect()
        };
        let pair = |m: &str, o: &str| (m.to_string(), o.to_string());
        let all = [pair(&m1, &sheet), pair(&m1, &report), pair(&m1, &eval), pair(&m1, &doc), pair(&m2, &other)];
        assert_eq!(listed(), all, "by meeting, then id, whatever the table");
        let forget: Vec<archive::id::RecordObjectId> =
            [&report, &sheet, &other].iter().map(|o| o.parse().unwrap()).collect();
        q.forget_record_objects(&m1, &forget).unwrap();
        assert_eq!(listed(), [pair(&m1, &eval), pair(&m1, &doc), pair(&m2, &other)], "another meeting's stays");
        q.forget_record_objects(&m1, &[]).unwrap();
        assert_eq!(listed().len(), 3);
        let request = q.record_meetings("/a", &Scope::All, FEB_1, MAR_1).unwrap();
        let approved: Vec<String> =
            request.iter().flat_map(|r| r.approved_absences.iter().map(ToString::to_string)).collect();
        assert_eq!(approved, [id(900)], "the request stays, without its report");
    });
}

fn verification(at: &str, intact: bool, source: Option<&str>, checkpoint: Option<(u64, Option<&str>)>) -> Verification {
    Verification {
        intact,
        checked_at: at.into(),
        covered_by_checkpoint: checkpoint.is_some(),
        checkpoint: checkpoint.map(|(size, time)| CheckpointRef { size, time: time.map(Into::into) }),
        source: source.map(Into::into),
        problems: if intact { vec![] } else { vec![format!("damaged at {at}"), "and more".into()] },
    }
}

/// The newest verification by time, the later one of a millisecond, whatever
/// order they were kept in; each field as kept.
pub fn the_newest_verification_is_kept_as_written(e: &dyn Engine) {
    let (r1, r2) = (e.recording("a", "sealed"), e.recording("a", "sealed"));
    let (a, b) = (r1.to_string(), r2.to_string());
    with(e, |q| {
        assert!(q.latest_verification(r1).unwrap().is_none());
        q.insert_verification(&a, &verification(MAR_1, true, Some("request"), Some((7, Some(FEB_END))))).unwrap();
        q.insert_verification(&a, &verification(FEB_END, false, Some("seal"), None)).unwrap();
        q.insert_verification(&b, &verification(MAR_2, false, Some("scheduled"), None)).unwrap();
        let v = q.latest_verification(r1).unwrap().unwrap();
        assert_eq!((v.checked_at.as_str(), v.intact, v.source.as_deref()), (MAR_1, true, Some("request")));
        assert!(v.covered_by_checkpoint && v.problems.is_empty());
        assert_eq!(v.checkpoint.map(|c| (c.size, c.time)), Some((7, Some(FEB_END.to_string()))));
        q.insert_verification(&a, &verification(MAR_2, false, None, None)).unwrap();
        q.insert_verification(&a, &verification(MAR_2, true, Some("request"), Some((1 << 40, None)))).unwrap();
        let v = q.latest_verification(r1).unwrap().unwrap();
        assert_eq!((v.intact, v.checkpoint.map(|c| (c.size, c.time))), (true, Some((1 << 40, None))), "the later one");
        q.insert_verification(&a, &verification(MAR_2, false, None, None)).unwrap();
        let v = q.latest_verification(r1).unwrap().unwrap();
        assert_eq!((v.intact, v.source, v.checkpoint.is_none()), (false, None, true));
        assert_eq!(v.problems, [format!("damaged at {MAR_2}"), "and more".to_string()]);
        let other = q.latest_verification(r2).unwrap().unwrap();
        assert_eq!((other.checked_at.as_str(), other.intact), (MAR_2, false), "each recording its own");
    });
}

/// A scheduled run's verdicts name the damaged, until the next run clears
/// them; a requested verification stays.
pub fn a_scheduled_run_replaces_the_last(e: &dyn Engine) {
    let recs: Vec<RecordingId> = (0..4).map(|_| e.recording("a", "sealed")).collect();
    with(e, |q| {
        q.insert_verification(&recs[0].to_string(), &verification(MAR_1, false, Some("scheduled"), None)).unwrap();
        q.insert_verification(&recs[1].to_string(), &verification(MAR_1, true, Some("scheduled"), None)).unwrap();
        q.insert_verification(&recs[2].to_string(), &verification(MAR_1, false, Some("request"), None)).unwrap();
        q.insert_verification(&recs[3].to_string(), &verification(MAR_1, false, Some("scheduled"), None)).unwrap();
        let mut damaged = q.damaged_in_last_run().unwrap();
        damaged.sort();
        let mut expected = vec![recs[0].to_string(), recs[3].to_string()];
        expected.sort();
        assert_eq!(damaged, expected, "not the intact, not a request's");
        q.clear_scheduled_verifications().unwrap();
        assert!(q.damaged_in_last_run().unwrap().is_empty());
        assert!(q.latest_verification(recs[0]).unwrap().is_none());
        assert!(q.latest_verification(recs[1]).unwrap().is_none());
        assert_eq!(q.latest_verification(recs[2]).unwrap().unwrap().source.as_deref(), Some("request"));
    });
}

fn store_check(at: &str, mode: &str, intact: bool, sample: Option<(u64, u64)>) -> StoreCheck {
    StoreCheck {
        checked_at: at.into(),
        intact,
        entries: 5_000_000_000,
        objects: 12,
        invalid: u64::from(!intact),
        problems: if intact { vec![] } else { vec!["chunk 3 of s1".into()] },
        mode: mode.into(),
        fetched: sample.map(|s| s.0),
        population: sample.map(|s| s.1),
    }
}

/// The newest store run and the newest full one; the mirror's checkpoint,
/// none before the first.
pub fn store_checks_and_the_newest_checkpoint(e: &dyn Engine) {
    with(e, |q| {
        assert!(q.latest_store_check().unwrap().is_none());
        assert_eq!(q.store_check_times().unwrap(), (None, None));
        assert!(q.newest_checkpoint().unwrap().is_none(), "no checkpoint yet");
        q.insert_store_check(&store_check(FEB_END, "full", true, None)).unwrap();
        q.insert_store_check(&store_check(MAR_2, "rolling", false, Some((3, 10)))).unwrap();
        q.insert_store_check(&store_check(MAR_1, "rolling", true, Some((1, 10)))).unwrap();
        let c = q.latest_store_check().unwrap().unwrap();
        assert_eq!((c.checked_at.as_str(), c.intact, c.mode.as_str()), (MAR_2, false, "rolling"));
        assert_eq!((c.entries, c.objects, c.invalid), (5_000_000_000, 12, 1));
        assert_eq!((c.fetched, c.population, c.problems), (Some(3), Some(10), vec!["chunk 3 of s1".to_string()]));
        assert_eq!(q.store_check_times().unwrap(), (Some(MAR_2.into()), Some(FEB_END.into())));
    });
    e.batch("UPDATE ledger_mirror SET checkpointed = 12, checkpoint_ts = '2026-03-01T00:00:00.000Z' WHERE id = 1;");
    with(e, |q| {
        let cp = q.newest_checkpoint().unwrap().unwrap();
        assert_eq!((cp.size, cp.time.as_deref()), (12, Some(MAR_1)));
    });
    e.batch("UPDATE ledger_mirror SET checkpoint_ts = NULL WHERE id = 1;");
    with(e, |q| assert_eq!(q.newest_checkpoint().unwrap().map(|c| (c.size, c.time)), Some((12, None))));
}

/// A 32-byte hash the fixture's entries carry.
const HASH: [u8; 32] = [7; 32];

/// Ledger entries `(seq, action, subject)`. The dialects spell a blob literal
/// differently, so the hashes are copied from a grant the queue wrote.
fn ledger(e: &dyn Engine, entries: &[(u64, &str, String)]) {
    let rec = e.recording("ledger-fixture", "open");
    with(e, |q| {
        q.enqueue_transcription(rec, FEB_1).unwrap();
        assert!(q.enroll_worker("fixture", "age1fixture", "admin", FEB_1).unwrap());
        let job = q.claim_job_as("fixture", FEB_1, FEB_1).unwrap().unwrap();
        q.put_grant(job.id, job.claim, "fixture", &HASH, FEB_1).unwrap();
    });
    let rows: Vec<String> = entries
        .iter()
        .map(|(seq, action, subject)| {
            format!("SELECT {seq}, '{FEB_1}', 'host', '{action}', '{subject}', '{{\"n\":{seq}}}', sealed, sealed FROM job_grants")
        })
        .collect();
    e.batch(&format!(
        "INSERT INTO ledger (seq, ts, actor, action, subject, data, prev, hash) {};",
        rows.join(" UNION ALL ")
    ));
}

/// Seals among the first entries of recordings still sealed; a recording's
/// entries with those below it and those that judge a shred.
pub fn the_ledger_as_verification_reads_it(e: &dyn Engine) {
    let (s1, s2) = (e.recording("a", "sealed"), e.recording("a", "sealed"));
    let (gone, late) = (e.recording("a", "shredded"), e.recording("a", "sealed"));
    let of = |rec: RecordingId, tail: &str| format!("recording/{rec}{tail}");
    ledger(
        e,
        &[
            (0, "org.created", "org/a".into()),
            (1, "recording.started", of(s1, "")),
            (2, "recording.sealed", of(s1, "")),
            (3, "recording.sealed", of(s2, "")),
            (4, "recording.sealed", of(gone, "")),
            (5, "stream.closed", of(s1, "/streams/x")),
            (6, "recording.verified", of(s2, "")),
            (7, "recording.noted", of(s1, "x")),
            (8, "recording.sealed", of(late, "")),
            (9, "hold.placed", "hold/h".into()),
            (10, "document.stored", "meeting/m".into()),
        ],
    );
    with(e, |q| {
        let sealed = |n| {
            let mut v = q.sealed_before(n).unwrap();
            v.sort_by_key(|(_, seq)| *seq);
            v
        };
        let (a, b, c) = (s1.to_string(), s2.to_string(), late.to_string());
        assert_eq!(sealed(8), [(a.clone(), 2), (b.clone(), 3)], "not the shredded; the 8th entry is seq 7");
        assert_eq!(sealed(9), [(a, 2), (b, 3), (c, 8)]);
        assert!(sealed(0).is_empty());
        let entries = q.recording_entries(s1).unwrap();
        let seqs: Vec<u64> = entries.iter().map(|x| x.seq).collect();
        assert_eq!(seqs, [0, 1, 2, 3, 4, 5, 8, 9], "its own and below it, and the model's actions; not `…x`");
        let x = &entries[6];
        assert_eq!((x.ts.as_str(), x.actor.as_str(), x.action.as_str()), (FEB_1, "host", "recording.sealed"));
        assert_eq!((x.subject.clone(), x.data.clone()), (of(late, ""), serde_json::json!({"n": 8})));
        assert_eq!((x.prev, x.hash), (HASH, HASH));
        let seqs: Vec<u64> = q.recording_entries(s2).unwrap().iter().map(|x| x.seq).collect();
        assert_eq!(seqs, [0, 1, 2, 3, 4, 6, 8, 9]);
    });
}

/// This group's scenarios by name.
pub const SCENARIOS: &[(&str, Scenario)] = &[
    ("schedules_in_tree_order_within_the_scope", schedules_in_tree_order_within_the_scope),
    ("unrecorded_meetings_between_inclusive_bounds", unrecorded_meetings_between_inclusive_bounds),
    ("alerts_newest_first_within_the_scope", alerts_newest_first_within_the_scope),
    ("compliance_counts_each_org_of_the_subtree", compliance_counts_each_org_of_the_subtree),
    ("record_meetings_gather_the_record", record_meetings_gather_the_record),
    ("policies_oldest_first_and_the_newest_default", policies_oldest_first_and_the_newest_default),
    ("holds_are_released_once", holds_are_released_once),
    ("object_locks_keep_the_last_applied", object_locks_keep_the_last_applied),
    ("record_objects_are_listed_and_forgotten", record_objects_are_listed_and_forgotten),
    ("the_newest_verification_is_kept_as_written", the_newest_verification_is_kept_as_written),
    ("a_scheduled_run_replaces_the_last", a_scheduled_run_replaces_the_last),
    ("store_checks_and_the_newest_checkpoint", store_checks_and_the_newest_checkpoint),
    ("the_ledger_as_verification_reads_it", the_ledger_as_verification_reads_it),
];
