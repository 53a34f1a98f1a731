//! Orgs, Recordings (meetings and their recordings) and Endpoints.

use super::{with, Engine, Scenario};
use crate::catalog::{BrowsedMeeting, EndpointRow, MeetingBrowse, NewMeetingRow, Org, Repo, Scope};
use crate::schema::{EndpointId, MeetingId, OrgId};
use archive::id::{RecordingId, StreamId};

const T0: &str = "2026-11-22T08:00:00.000Z";
const T1: &str = "2026-11-22T09:00:00.000Z";
const T2: &str = "2026-11-22T10:00:00.000Z";
const T3: &str = "2026-11-22T11:00:00.000Z";
const T4: &str = "2026-11-22T12:00:00.000Z";

fn subtrees(paths: &[&str]) -> Scope {
    Scope::Subtrees(paths.iter().map(|p| p.to_string()).collect())
}

/// Adds an org at `path`, named after it.
fn org(q: &dyn Repo, path: &str, parent: Option<OrgId>, kind: &str, language: Option<&str>) -> OrgId {
    let id = OrgId::new();
    let row = Org {
        id,
        parent: parent.map(|p| p.to_string()),
        kind: kind.into(),
        name: format!("org {path}"),
        path: path.into(),
        language: language.map(Into::into),
    };
    q.insert_org(&row, T0).unwrap();
    id
}

/// Adds a meeting of `org` titled after its kind and time.
fn meeting(q: &dyn Repo, org: OrgId, kind: &str, at: &str, language: Option<&str>) -> MeetingId {
    let id = MeetingId::new();
    q.insert_meeting(&NewMeetingRow {
        id,
        org: org.to_string(),
        kind: kind.into(),
        title: format!("{kind} at {at}"),
        scheduled_at: at.into(),
        language: language.map(Into::into),
        created_at: T0.into(),
    })
    .unwrap();
    id
}

/// A recording the archive made for `meeting` of `org`.
fn recording(e: &dyn Engine, meeting: MeetingId, org: OrgId, state: &str) -> RecordingId {
    let rec = RecordingId::new();
    e.batch(&format!(
        "INSERT INTO recordings (id, meeting, org, state, started_at) VALUES ('{rec}', '{meeting}', '{org}', '{state}', '{T0}')"
    ));
    rec
}

fn endpoint(q: &dyn Repo, id: EndpointId, org: OrgId, name: &str) -> crate::catalog::Result<()> {
    let row = EndpointRow { id, org: org.to_string(), name: name.into(), key_sha256: vec![0, 1, 2, 255] };
    q.insert_endpoint(&row, T0)
}

/// The orgs come back in tree order (paths byte by byte), each list within its
/// scope, and a language from the nearest org up the tree that sets one.
pub fn orgs_list_in_tree_order_within_the_scope(e: &dyn Engine) {
    with(e, |q| {
        let ab = org(q, "/ab", None, "bloc", None);
        let a = org(q, "/a", None, "bloc", Some("vi"));
        let dash = org(q, "/a-x", None, "bloc", None);
        let b = org(q, "/a/b", Some(a), "base", Some("km"));
        let c = org(q, "/a/b/c", Some(b), "cell", None);
        let z = org(q, "/a/b/Z", Some(b), "cell", Some("en"));
        let p = org(q, "/a/q", Some(a), "base", None);
        let r = org(q, "/a/q/r", Some(p), "cell", None);
        let paths = |s: &Scope| q.orgs(s).unwrap().into_iter().map(|o| o.path).collect::<Vec<_>>();
        let every = ["/a", "/a-x", "/a/b", "/a/b/Z", "/a/b/c", "/a/q", "/a/q/r", "/ab"];
        assert_eq!(paths(&Scope::All), every, "byte order: '-' < '/' < 'Z' < 'c'");
        assert_eq!(paths(&subtrees(&["/a"])), ["/a", "/a/b", "/a/b/Z", "/a/b/c", "/a/q", "/a/q/r"], "not /a-x, /ab");
        assert!(paths(&subtrees(&[])).is_empty(), "an empty scope sees nothing");
        assert!(paths(&subtrees(&["/a/"])).is_empty(), "not a prefix match");
        let names = q.org_names(&subtrees(&["/ab", "/a/b/c"])).unwrap();
        let want = [(c, "/a/b/c"), (ab, "/ab")].map(|(id, p)| (id.to_string(), format!("org {p}"), p.to_string()));
        assert_eq!(names, want);
        assert_eq!(q.org_names(&Scope::All).unwrap().len(), every.len());

        let listed = q.orgs(&subtrees(&["/a/b/c"])).unwrap();
        let cell = &listed[0];
        assert_eq!((listed.len(), cell.id, cell.parent.clone()), (1, c, Some(b.to_string())));
        assert_eq!((cell.kind.as_str(), cell.name.as_str(), cell.language.as_deref()), ("cell", "org /a/b/c", None));
        assert_eq!(q.orgs(&subtrees(&["/a"])).unwrap()[0].language.as_deref(), Some("vi"));
        assert_eq!(q.orgs(&subtrees(&["/ab"])).unwrap()[0].parent, None);

        assert!(q.org_exists(&dash.to_string()).unwrap());
        assert!(!q.org_exists("nope").unwrap());
        assert_eq!(q.org_kind_path(z).unwrap(), Some(("cell".into(), "/a/b/Z".into())));
        assert_eq!(q.org_kind_path(OrgId::new()).unwrap(), None);
        assert_eq!(q.org_path(p).unwrap().as_deref(), Some("/a/q"));
        assert_eq!(q.org_path(OrgId::new()).unwrap(), None);

        let lang = |id: OrgId| q.org_language(&id.to_string()).unwrap();
        assert_eq!(lang(z).as_deref(), Some("en"), "its own first");
        assert_eq!(lang(c).as_deref(), Some("km"), "the nearest, not the root");
        assert_eq!(lang(r).as_deref(), Some("vi"), "past two orgs that set none");
        assert_eq!(lang(ab), None);
        assert_eq!(q.org_language("nope").unwrap(), None);

        let twin = Org {
            id: OrgId::new(),
            parent: None,
            kind: "bloc".into(),
            name: "x".into(),
            path: "/a".into(),
            language: None,
        };
        assert!(q.insert_org(&twin, T0).is_err(), "a path is one org's");
        assert!(q.insert_org(&Org { id: a, path: "/new".into(), ..twin }, T0).is_err(), "an id is one org's");
        assert_eq!(paths(&Scope::All), every, "neither was added");
    });
}

/// Meetings list newest first within the scope; a meeting links one recording
/// and keeps it; a recording finds its meeting, org and language.
pub fn meetings_list_newest_first_and_keep_their_recording(e: &dyn Engine) {
    let (a, c, ab, m1, m2, m3, m4) = with(e, |q| {
        let a = org(q, "/a", None, "bloc", Some("vi"));
        let c = org(q, "/a/c", Some(a), "cell", None);
        let ab = org(q, "/ab", None, "cell", None);
        let m1 = meeting(q, c, "regular", T1, None);
        let m2 = meeting(q, a, "conference", T3, Some("en"));
        let m3 = meeting(q, ab, "thematic", T2, None);
        let m4 = meeting(q, c, "committee", T4, None);
        (a, c, ab, m1, m2, m3, m4)
    });
    let (r1, r2, r3) = (recording(e, m1, c, "sealed"), recording(e, m1, c, "open"), recording(e, m2, a, "open"));
    with(e, |q| {
        let ids =
            |org: Option<OrgId>, s: &Scope| q.meetings(org, s).unwrap().into_iter().map(|m| m.id).collect::<Vec<_>>();
        assert_eq!(ids(None, &Scope::All), [m4, m2, m3, m1]);
        assert_eq!(ids(Some(c), &Scope::All), [m4, m1]);
        assert_eq!(ids(None, &subtrees(&["/a"])), [m4, m2, m1], "not /ab's");
        assert!(ids(Some(ab), &subtrees(&["/a"])).is_empty(), "an org outside the scope");
        assert!(ids(None, &subtrees(&[])).is_empty());

        let m = q.meeting(m2).unwrap().unwrap();
        assert_eq!(
            (m.id, m.org, m.kind.as_str(), m.title.as_str()),
            (m2, a.to_string(), "conference", "conference at 2026-11-22T11:00:00.000Z")
        );
        assert_eq!((m.scheduled_at.as_str(), m.recording, m.language.as_deref()), (T3, None, Some("en")));
        assert_eq!(q.meeting(m1).unwrap().unwrap().language, None);
        assert!(q.meeting(MeetingId::new()).unwrap().is_none());
        let d = q.meeting_detail(m1).unwrap().unwrap();
        assert_eq!((d.id, d.kind.as_str(), d.scheduled_at.as_str()), (m1.to_string(), "regular", T1));
        assert_eq!((d.recording, d.org_name.as_str(), d.org_path.as_str()), (None, "org /a/c", "/a/c"));
        assert!(q.meeting_detail(MeetingId::new()).unwrap().is_none());
        assert_eq!(q.meeting_org_path(m3).unwrap().as_deref(), Some("/ab"));
        assert_eq!(q.meeting_org_path(MeetingId::new()).unwrap(), None);
        assert_eq!(q.meeting_recording(m1).unwrap(), Some((c.to_string(), None)));
        assert_eq!(q.meeting_recording(MeetingId::new()).unwrap(), None);

        assert!(q.link_recording(m1, r1).unwrap());
        assert!(!q.link_recording(m1, r2).unwrap(), "a second link says it did not link");
        assert_eq!(
            q.meeting_recording(m1).unwrap(),
            Some((c.to_string(), Some(r1.to_string()))),
            "the first link stays"
        );
        assert_eq!(q.meeting_detail(m1).unwrap().unwrap().recording, Some(r1.to_string()));
        assert_eq!(q.meetings(Some(c), &Scope::All).unwrap()[1].recording, Some(r1.to_string()));
        assert_eq!(q.recording_org_path(r1).unwrap().as_deref(), Some("/a/c"));
        assert_eq!(q.recording_org_path(r2).unwrap(), None, "no meeting links it");
        assert_eq!(q.recording_meeting(r1).unwrap(), (m1.to_string(), c.to_string(), None));
        assert_eq!(q.recording_meeting(r3).unwrap(), (m2.to_string(), a.to_string(), Some("en".into())));
        assert!(q.recording_meeting(RecordingId::new()).is_err(), "an unknown recording");
        assert!(q.recording_exists(r2).unwrap());
        assert!(!q.recording_exists(RecordingId::new()).unwrap());
        assert_eq!(q.recording_state(r1).unwrap().as_deref(), Some("sealed"));
        assert_eq!(q.recording_state(r3).unwrap().as_deref(), Some("open"));
        assert_eq!(q.recording_state(RecordingId::new()).unwrap(), None);
    });
}

/// Every page of a browse, following the cursor until a short page.
fn pages(q: &dyn Repo, f: &MeetingBrowse, scope: &Scope) -> Vec<Vec<String>> {
    let (mut all, mut f) = (Vec::new(), f.clone());
    loop {
        let page = q.browse_meetings(&f, scope).unwrap();
        assert!(page.len() <= f.limit, "a page holds at most its limit");
        let Some(last) = page.last() else { return all };
        f.after = Some((last.scheduled_at.clone(), last.id.clone()));
        all.push(page.into_iter().map(|m| m.id).collect());
    }
}

fn browsed(q: &dyn Repo, f: MeetingBrowse, scope: &Scope) -> Vec<String> {
    q.browse_meetings(&MeetingBrowse { limit: 100, ..f }, scope).unwrap().into_iter().map(|m| m.id).collect()
}

/// Browsing: newest first, ties by id descending, a cursor that resumes inside
/// a tie, each filter and the scope on top of the path.
pub fn browsing_pages_through_meetings(e: &dyn Engine) {
    let (a, c, ab) = with(e, |q| {
        let a = org(q, "/a", None, "bloc", None);
        (a, org(q, "/a/c", Some(a), "cell", None), org(q, "/ab", None, "cell", None))
    });
    // (org, kind, at, recording state, transcript state, document kind)
    let plan = [
        (c, "regular", T2, Some("sealed"), Some("stored"), Some("minutes")),
        (c, "thematic", T2, Some("shredded"), Some("stored"), Some("agenda")),
        (a, "regular", T2, Some("open"), Some("sealing"), None),
        (a, "regular", T1, None, None, Some("minutes")),
        (ab, "regular", T3, Some("sealed"), Some("stored"), Some("minutes")),
        (c, "regular", T0, None, None, None),
        (a, "committee", T4, None, None, None),
    ];
    let mut x = Vec::new();
    for (org, kind, at, rec, transcript, doc) in plan {
        let m = with(e, |q| meeting(q, org, kind, at, None));
        if let Some(state) = rec {
            let r = recording(e, m, org, state);
            with(e, |q| assert!(q.link_recording(m, r).unwrap()));
            if let Some(t) = transcript {
                e.batch(&format!(
                    "INSERT INTO transcripts (recording, state, wrapped_dek, key_sha256, nonce_prefix, chunk_size)
                     VALUES ('{r}', '{t}', 'w', 'k', 'n', 65536)"
                ));
            }
        }
        if let Some(kind) = doc {
            e.batch(&format!(
                "INSERT INTO meeting_documents (id, meeting, kind, content_type, confidential, sealed, meta, stored_at, stored_by)
                 VALUES ('{}', '{m}', '{kind}', 'application/pdf', FALSE, 's', '{{}}', '{T0}', 'u')",
                MeetingId::new()
            ));
        }
        x.push((at, m.to_string()));
    }
    let ids = |picked: &[usize]| {
        let mut v: Vec<(&str, String)> = picked.iter().map(|&i| x[i].clone()).collect();
        v.sort_by(|l, r| r.cmp(l));
        v.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
    };
    with(e, |q| {
        let all = ids(&[0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(browsed(q, MeetingBrowse::default(), &Scope::All), all);
        let paged = pages(q, &MeetingBrowse { limit: 2, ..Default::default() }, &Scope::All);
        assert_eq!(paged.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 2, 1], "the cursor splits the tie at T2");
        assert_eq!(paged.concat(), all, "every meeting once, in order");
        let under_a = MeetingBrowse { path: Some("/a".into()), limit: 1, ..Default::default() };
        assert_eq!(pages(q, &under_a, &Scope::All).concat(), ids(&[0, 1, 2, 3, 5, 6]), "one by one, not /ab");
        assert!(q.browse_meetings(&MeetingBrowse::default(), &Scope::All).unwrap().is_empty(), "limit 0");

        let f = |g: fn(&mut MeetingBrowse)| {
            let mut f = MeetingBrowse::default();
            g(&mut f);
            f
        };
        assert_eq!(browsed(q, f(|f| f.path = Some("/a/c".into())), &Scope::All), ids(&[0, 1, 5]));
        assert!(browsed(q, f(|f| f.path = Some("/a/".into())), &Scope::All).is_empty(), "not a prefix match");
        assert_eq!(browsed(q, f(|f| f.kind = Some("regular".into())), &Scope::All), ids(&[0, 2, 3, 4, 5]));
        let window = f(|f| (f.from, f.to) = (Some(T2.into()), Some(T4.into())));
        assert_eq!(browsed(q, window, &Scope::All), ids(&[0, 1, 2, 4]), "from included, to not");
        assert_eq!(browsed(q, f(|f| f.recording = true), &Scope::All), ids(&[0, 2, 4]), "not shredded");
        assert_eq!(browsed(q, f(|f| f.transcript = true), &Scope::All), ids(&[0, 1, 4]), "stored only");
        assert_eq!(browsed(q, f(|f| f.minutes = true), &Scope::All), ids(&[0, 3, 4]), "minutes, not other papers");
        assert_eq!(browsed(q, f(|f| (f.recording, f.transcript) = (true, true)), &Scope::All), ids(&[0, 4]));

        assert_eq!(browsed(q, MeetingBrowse::default(), &subtrees(&["/a"])), ids(&[0, 1, 2, 3, 5, 6]));
        assert_eq!(browsed(q, f(|f| f.path = Some("/a".into())), &subtrees(&["/a/c"])), ids(&[0, 1, 5]), "both hold");
        assert!(browsed(q, f(|f| f.path = Some("/a".into())), &subtrees(&["/ab"])).is_empty());
        assert!(browsed(q, MeetingBrowse::default(), &subtrees(&[])).is_empty());

        let rows: Vec<BrowsedMeeting> =
            q.browse_meetings(&MeetingBrowse { limit: 100, ..Default::default() }, &Scope::All).unwrap();
        let row = |i: usize| rows.iter().find(|m| m.id == x[i].1).unwrap();
        let sealed = row(0);
        assert_eq!(
            (sealed.org.as_str(), sealed.org_name.as_str(), sealed.kind.as_str()),
            (c.to_string().as_str(), "org /a/c", "regular")
        );
        assert_eq!(
            (sealed.recording_state.as_deref(), sealed.transcript, sealed.minutes),
            (Some("sealed"), true, true)
        );
        assert!(sealed.recording.is_some());
        let shredded = row(1);
        assert_eq!(
            (shredded.recording_state.as_deref(), shredded.transcript, shredded.minutes),
            (Some("shredded"), true, false)
        );
        let bare = row(3);
        assert_eq!(
            (bare.recording.as_deref(), bare.recording_state.as_deref(), bare.transcript, bare.minutes),
            (None, None, false, true)
        );
        assert_eq!((bare.scheduled_at.as_str(), bare.title.as_str()), (T1, "regular at 2026-11-22T09:00:00.000Z"));
        assert!(!row(2).transcript, "a transcript still sealing");
    });
}

/// An endpoint's name is unique within its org only; a revoked endpoint is
/// not live but keeps its name; every list keeps to its scope.
pub fn endpoints_are_unique_per_org_and_scoped(e: &dyn Engine) {
    with(e, |q| {
        let a = org(q, "/a", None, "bloc", None);
        let c = org(q, "/a/c", Some(a), "cell", None);
        let ab = org(q, "/ab", None, "cell", None);
        let [e1, e2, e3, e4] = [(); 4].map(|_| EndpointId::new());
        endpoint(q, e1, c, "hall").unwrap();
        endpoint(q, e2, c, "annex").unwrap();
        endpoint(q, e3, ab, "hall").unwrap();
        endpoint(q, e4, a, "main").unwrap();
        assert!(endpoint(q, EndpointId::new(), c, "hall").is_err(), "a name twice in one org");
        assert!(endpoint(q, e1, a, "other").is_err(), "an id twice");
        assert!(q.endpoint_name_taken(c, "hall").unwrap());
        assert!(q.endpoint_name_taken(ab, "hall").unwrap());
        assert!(!q.endpoint_name_taken(a, "hall").unwrap(), "taken in other orgs only");
        assert!(!q.endpoint_name_taken(c, "Hall").unwrap(), "names are case-sensitive");
        assert!(q.endpoint_exists(e2).unwrap());
        assert!(!q.endpoint_exists(EndpointId::new()).unwrap());

        let live = q.live_endpoint(e1).unwrap().unwrap();
        assert_eq!(
            (live.id, live.org, live.name.as_str(), live.key_sha256),
            (e1, c.to_string(), "hall", vec![0, 1, 2, 255])
        );
        assert!(q.revoke_endpoint(e1, T1).unwrap());
        assert!(!q.revoke_endpoint(e1, T2).unwrap(), "revoked already");
        assert!(!q.revoke_endpoint(EndpointId::new(), T2).unwrap(), "unknown");
        assert!(q.live_endpoint(e1).unwrap().is_none(), "revoked is not live");
        assert!(q.live_endpoint(EndpointId::new()).unwrap().is_none());
        assert!(q.endpoint_exists(e1).unwrap(), "revoked still exists");
        assert!(q.endpoint_name_taken(c, "hall").unwrap(), "a revoked endpoint keeps its name");
        assert!(endpoint(q, EndpointId::new(), c, "hall").is_err());

        let listed = |org: Option<OrgId>, s: &Scope| {
            q.endpoints(org, s).unwrap().into_iter().map(|l| (l.org, l.name, l.id)).collect::<Vec<_>>()
        };
        let mut every = vec![(c, "hall", e1), (c, "annex", e2), (ab, "hall", e3), (a, "main", e4)]
            .into_iter()
            .map(|(o, n, id)| (o.to_string(), n.to_string(), id.to_string()))
            .collect::<Vec<_>>();
        every.sort();
        assert_eq!(listed(None, &Scope::All), every, "by org, then name");
        let in_c = q.endpoints(Some(c), &Scope::All).unwrap();
        assert_eq!(in_c.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["annex", "hall"]);
        assert_eq!((in_c[0].created_at.as_str(), in_c[0].revoked_at.as_deref()), (T0, None));
        assert_eq!((in_c[1].id.clone(), in_c[1].revoked_at.as_deref()), (e1.to_string(), Some(T1)));
        let under_a: Vec<_> = every.iter().filter(|(o, _, _)| *o != ab.to_string()).cloned().collect();
        assert_eq!(listed(None, &subtrees(&["/a"])), under_a, "not /ab's");
        assert!(listed(Some(ab), &subtrees(&["/a"])).is_empty());
        assert!(listed(None, &subtrees(&[])).is_empty());

        let scoped = |ids: &[EndpointId], s: &Scope| {
            let ids: Vec<String> = ids.iter().map(ToString::to_string).chain(["nope".to_string()]).collect();
            let mut v = q.endpoints_in_scope(&ids, s).unwrap();
            v.sort();
            v
        };
        let sorted = |ids: &[EndpointId]| {
            let mut v: Vec<String> = ids.iter().map(ToString::to_string).collect();
            v.sort();
            v
        };
        assert_eq!(scoped(&[e1, e3, e4], &subtrees(&["/a"])), sorted(&[e1, e4]));
        assert_eq!(scoped(&[e1, e3, e4], &Scope::All), sorted(&[e1, e3, e4]));
        assert_eq!(scoped(&[e1, e2, e4], &subtrees(&["/a/c"])), sorted(&[e1, e2]));
        assert!(scoped(&[e1, e3], &subtrees(&[])).is_empty());
        assert!(q.endpoints_in_scope(&[], &Scope::All).unwrap().is_empty());
    });
}

/// A recording's streams in the order they opened (ties by id), each named by
/// its endpoint or the file it was uploaded as.
pub fn streams_are_labelled_in_the_order_they_opened(e: &dyn Engine) {
    let (c, m, ep) = with(e, |q| {
        let c = org(q, "/c", None, "cell", None);
        let ep = EndpointId::new();
        endpoint(q, ep, c, "hall").unwrap();
        (c, meeting(q, c, "regular", T0, None), ep)
    });
    let (rec, other) = (recording(e, m, c, "sealed"), recording(e, m, c, "sealed"));
    let [s1, s2, s3, s4, s5] = [(); 5].map(|_| StreamId::new());
    let stream = |s: StreamId, r: RecordingId, kind: &str, endpoint: &str, at: &str| {
        format!(
            "INSERT INTO streams (id, recording, kind, endpoint, state, chunk_size, nonce_prefix, key_sha256, opened_at)
             VALUES ('{s}', '{r}', '{kind}', {endpoint}, 'complete', 65536, 'n', 'k', '{at}');"
        )
    };
    e.batch(
        &[
            stream(s1, rec, "live", &format!("'{ep}'"), T2),
            stream(s2, rec, "upload", "NULL", T1),
            stream(s3, rec, "upload", "NULL", T2),
            stream(s4, rec, "live", "'gone'", T3),
            stream(s5, other, "upload", "NULL", T0),
            format!(
                "INSERT INTO uploads (id, meeting, length, filename, tail_key, stream, state, created_by, created_at)
             VALUES ('u1', '{m}', 10, 'talk.mp4', 't', '{s2}', 'complete', 'u', '{T0}');"
            ),
        ]
        .concat(),
    );
    with(e, |q| {
        let labels = q.stream_labels(rec).unwrap();
        let (first, second) = if s1.to_string() < s3.to_string() { (s1, s3) } else { (s3, s1) };
        assert_eq!(labels.iter().map(|l| l.id).collect::<Vec<_>>(), [s2, first, second, s4]);
        let of = |s: StreamId| labels.iter().find(|l| l.id == s).unwrap();
        assert_eq!((of(s2).kind.as_str(), of(s2).opened_at.as_str()), ("upload", T1));
        assert_eq!((of(s2).endpoint.as_deref(), of(s2).filename.as_deref()), (None, Some("talk.mp4")));
        assert_eq!(
            (of(s1).kind.as_str(), of(s1).endpoint.as_deref(), of(s1).filename.as_deref()),
            ("live", Some("hall"), None)
        );
        assert_eq!((of(s3).endpoint.as_deref(), of(s3).filename.as_deref()), (None, None));
        assert_eq!(of(s4).endpoint, None, "an endpoint that is gone names nothing");
        assert_eq!(q.stream_labels(other).unwrap().len(), 1);
        assert!(q.stream_labels(RecordingId::new()).unwrap().is_empty());
    });
}

/// Eight connections at once: one endpoint name in one org, and one recording
/// linked to a meeting, each won exactly once.
pub fn racing_links_and_names_each_win_once(e: &dyn Engine) {
    let (c, m) = with(e, |q| {
        let c = org(q, "/c", None, "cell", None);
        (c, meeting(q, c, "regular", T0, None))
    });
    let recs: Vec<RecordingId> = (0..8).map(|_| recording(e, m, c, "sealed")).collect();
    let (linked, won) = std::thread::scope(|s| {
        let racers: Vec<_> = recs
            .iter()
            .map(|&rec| {
                s.spawn(move || {
                    let linked = with(e, |q| q.link_recording(m, rec).unwrap());
                    (linked, with(e, |q| endpoint(q, EndpointId::new(), c, "hall").is_ok()))
                })
            })
            .collect();
        racers
            .into_iter()
            .map(|r| r.join().unwrap())
            .fold((0, 0), |(l, w), (a, b)| (l + usize::from(a), w + usize::from(b)))
    });
    assert_eq!(linked, 1, "one racer is told it linked");
    assert_eq!(won, 1, "one endpoint named hall");
    with(e, |q| {
        assert_eq!(q.endpoints(Some(c), &Scope::All).unwrap().len(), 1);
        let linked = q.meeting_recording(m).unwrap().unwrap().1.unwrap();
        assert!(recs.iter().any(|r| r.to_string() == linked));
        let owned = recs.iter().filter(|r| q.recording_org_path(**r).unwrap().is_some()).count();
        assert_eq!(owned, 1, "the meeting links one recording");
    });
}

/// This group's scenarios by name.
pub const SCENARIOS: &[(&str, Scenario)] = &[
    ("orgs_list_in_tree_order_within_the_scope", orgs_list_in_tree_order_within_the_scope),
    ("meetings_list_newest_first_and_keep_their_recording", meetings_list_newest_first_and_keep_their_recording),
    ("browsing_pages_through_meetings", browsing_pages_through_meetings),
    ("endpoints_are_unique_per_org_and_scoped", endpoints_are_unique_per_org_and_scoped),
    ("streams_are_labelled_in_the_order_they_opened", streams_are_labelled_in_the_order_they_opened),
    ("racing_links_and_names_each_win_once", racing_links_and_names_each_win_once),
];
