//! The media paths: Uploads (resumable uploads), Live (live streams and their endpoints), Indexing (what the search index follows).
//!
//! Orgs, meetings and endpoints come from [`Engine::batch`] fixtures, not from
//! the Orgs and Endpoints interfaces, so that this group tests the media
//! aggregates alone.

use super::{with, Engine, Scenario};
use crate::catalog::NewUploadRow;
use crate::schema::{MeetingId, UploadId};
use archive::id::{RecordingId, StreamId};
use std::collections::HashMap;

const T0: &str = "2026-11-22T08:00:00.000Z";
const T1: &str = "2026-11-22T09:00:00.000Z";
const T2: &str = "2026-11-22T10:00:00.000Z";

/// A cell at `/<id>`, named `Cell <id>`.
fn org(e: &dyn Engine, id: &str) {
    e.batch(&format!(
        "INSERT INTO orgs (id, kind, name, path, created_at) VALUES ('{id}', 'cell', 'Cell {id}', '/{id}', '{T0}');"
    ));
}

/// A regular meeting of `org` at `at`, with recording `rec` if any.
fn meeting(e: &dyn Engine, org: &str, at: &str, rec: Option<RecordingId>) -> MeetingId {
    let id = MeetingId::new();
    let rec = rec.map_or("NULL".to_string(), |r| format!("'{r}'"));
    e.batch(&format!(
        "INSERT INTO meetings (id, org, kind, title, scheduled_at, recording, created_at)
         VALUES ('{id}', '{org}', 'regular', 'Meeting at {at}', '{at}', {rec}, '{T0}');"
    ));
    id
}

/// A recording of `org` in `state`, started at `at`.
fn recording(e: &dyn Engine, org: &str, state: &str, at: &str) -> RecordingId {
    let id = RecordingId::new();
    e.batch(&format!(
        "INSERT INTO recordings (id, meeting, org, state, started_at) VALUES ('{id}', 'm', '{org}', '{state}', '{at}');"
    ));
    id
}

/// A stream of `rec` of `kind` in `state` with `chunks` stored.
fn stream(e: &dyn Engine, rec: RecordingId, kind: &str, state: &str, chunks: u64) -> StreamId {
    let id = StreamId::new();
    e.batch(&format!(
        "INSERT INTO streams (id, recording, kind, state, chunk_size, nonce_prefix, key_sha256, chunks, opened_at)
         VALUES ('{id}', '{rec}', '{kind}', '{state}', 65536, 'np', 'ks', {chunks}, '{T0}');"
    ));
    id
}

/// An endpoint of `org` (its key's hash a literal both dialects take).
fn endpoint(e: &dyn Engine, org: &str, name: &str) -> String {
    let id = format!("endpoint-{name}");
    e.batch(&format!(
        "INSERT INTO endpoints (id, org, name, key_sha256, created_at) VALUES ('{id}', '{org}', '{name}', 'k', '{T0}');"
    ));
    id
}

/// An upload of `meeting` as the domain creates it.
fn new_upload(meeting: MeetingId, length: u64, content_type: Option<&str>) -> NewUploadRow {
    NewUploadRow {
        id: UploadId::new(),
        meeting,
        length,
        filename: Some("minutes.mp4".into()),
        content_type: content_type.map(String::from),
        tail_key: "{\"kek\":1}".into(),
        created_by: "user-a".into(),
        created_at: T0.into(),
    }
}

/// The stored offset of `id`.
fn offset_of(e: &dyn Engine, id: UploadId) -> u64 {
    with(e, |q| q.upload(id).unwrap().unwrap().offset)
}

/// An ended live stream as a comparable tuple: stream, recording, end, hash, media.
type Ended = (String, String, String, Option<String>, Option<String>);

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// An upload reads back as written (NULLs, a length past 32 bits); its id is
/// unique and its meeting must exist; state, stream, tail key and offset
/// change one column each.
pub fn an_upload_reads_back_and_changes(e: &dyn Engine) {
    org(e, "a");
    let m = meeting(e, "a", T0, None);
    let rec = recording(e, "a", "open", T0);
    let s = stream(e, rec, "upload", "open", 0);
    let big = new_upload(m, 5_000_000_000, None);
    let small = new_upload(m, 10, Some("video/mp4"));
    with(e, |q| {
        q.insert_upload(&big).unwrap();
        q.insert_upload(&small).unwrap();
        assert!(q.insert_upload(&big).is_err(), "an upload id twice");
        assert!(q.insert_upload(&new_upload(MeetingId::new(), 1, None)).is_err(), "a meeting that does not exist");
        assert!(q.upload(UploadId::new()).unwrap().is_none());
        let row = q.upload(big.id).unwrap().unwrap();
        assert_eq!((row.meeting, row.length, row.content_type), (m.to_string(), 5_000_000_000, None));
        assert_eq!((row.tail_key.as_str(), row.stream, row.state.as_str()), ("{\"kek\":1}", None, "receiving"));
        assert_eq!(row.created_by, "user-a");
        assert_eq!(q.upload(small.id).unwrap().unwrap().content_type.as_deref(), Some("video/mp4"));
        let both =
            sorted(vec![(big.id.to_string(), big.tail_key.clone()), (small.id.to_string(), small.tail_key.clone())]);
        assert_eq!(sorted(q.receiving_tail_keys().unwrap()), both);
        q.set_tail_key(&small.id.to_string(), "{\"kek\":2}").unwrap();
        q.link_upload_stream(small.id, s).unwrap();
        q.set_upload_state(big.id, "complete").unwrap();
        assert_eq!(q.receiving_tail_keys().unwrap(), vec![(small.id.to_string(), "{\"kek\":2}".to_string())]);
        let row = q.upload(small.id).unwrap().unwrap();
        assert_eq!((row.stream, row.state.as_str()), (Some(s.to_string()), "receiving"));
        assert!(q.set_upload_state(small.id, "lost").is_err(), "not a state");
        assert_eq!(q.upload(big.id).unwrap().unwrap().state, "complete");
    });
    assert_eq!(offset_of(e, big.id), 0, "a new upload starts at 0");
    with(e, |q| q.set_upload_offset(big.id, 4_999_999_999).unwrap());
    assert_eq!(offset_of(e, big.id), 4_999_999_999);
    assert_eq!(offset_of(e, small.id), 0, "only the upload named moves");
}

/// Settling after a crash: receiving uploads whose stream closed take its end
/// (and are counted); open upload streams that no receiving upload continues
/// are cut; live streams and uploads already ended are left alone.
pub fn settling_follows_the_streams(e: &dyn Engine) {
    org(e, "a");
    let m = meeting(e, "a", T0, None);
    let rec = recording(e, "a", "open", T0);
    let done = stream(e, rec, "upload", "complete", 4);
    let broken = stream(e, rec, "upload", "interrupted", 2);
    let going = stream(e, rec, "upload", "open", 1);
    let orphan = stream(e, rec, "upload", "open", 1);
    let of_ended = stream(e, rec, "upload", "open", 1);
    let _live = stream(e, rec, "live", "open", 1);
    let ups: Vec<NewUploadRow> = (0..6).map(|_| new_upload(m, 10, None)).collect();
    with(e, |q| {
        for (u, s) in ups.iter().zip([Some(done), Some(broken), Some(going), None, Some(done), Some(of_ended)]) {
            q.insert_upload(u).unwrap();
            if let Some(s) = s {
                q.link_upload_stream(u.id, s).unwrap();
            }
        }
        q.set_upload_state(ups[4].id, "terminated").unwrap();
        q.set_upload_state(ups[5].id, "rejected").unwrap();
        let cut = sorted(vec![(rec.to_string(), orphan.to_string()), (rec.to_string(), of_ended.to_string())]);
        let (settled, found) = q.settle_cut_uploads(None).unwrap();
        assert_eq!((settled, sorted(found)), (2, cut.clone()));
        let states: Vec<String> = ups.iter().map(|u| q.upload(u.id).unwrap().unwrap().state).collect();
        assert_eq!(states, ["complete", "terminated", "receiving", "receiving", "terminated", "rejected"]);
        let (settled, found) = q.settle_cut_uploads(None).unwrap();
        assert_eq!((settled, sorted(found)), (0, cut), "settling twice");
    });
}

/// Several nodes on one catalog: a node settles only the one-body uploads it
/// was receiving (and those no node is recorded for, from a catalog moved
/// from SQLite), never another node's, which may be arriving now; the only
/// node (`None`) settles every one. A stream has one receiver.
pub fn a_node_settles_only_its_own_one_body_uploads(e: &dyn Engine) {
    org(e, "a");
    let rec = recording(e, "a", "open", T0);
    let on_a = stream(e, rec, "upload", "open", 1);
    let on_b = stream(e, rec, "upload", "open", 2);
    let unowned = stream(e, rec, "upload", "open", 0);
    let closed_on_b = stream(e, rec, "upload", "complete", 3);
    let pair = |s: StreamId| (rec.to_string(), s.to_string());
    with(e, |q| {
        q.receive_upload_on(on_a, "node-a").unwrap();
        q.receive_upload_on(on_b, "node-b").unwrap();
        q.receive_upload_on(closed_on_b, "node-b").unwrap();
        assert!(q.receive_upload_on(on_a, "node-b").is_err(), "a stream has one receiver");
        assert!(q.receive_upload_on(StreamId::new(), "node-a").is_err(), "a stream that does not exist");
        let (_, a) = q.settle_cut_uploads(Some("node-a")).unwrap();
        assert_eq!(sorted(a), sorted(vec![pair(on_a), pair(unowned)]), "node a's own, and the unowned");
        let (_, b) = q.settle_cut_uploads(Some("node-b")).unwrap();
        assert_eq!(sorted(b), sorted(vec![pair(on_b), pair(unowned)]), "node b's own, never a closed one");
        let (_, c) = q.settle_cut_uploads(Some("node-c")).unwrap();
        assert_eq!(c, vec![pair(unowned)], "a node that received none");
        let (_, all) = q.settle_cut_uploads(None).unwrap();
        assert_eq!(sorted(all), sorted(vec![pair(on_a), pair(on_b), pair(unowned)]), "the only node");
    });
}

/// Four connections write offsets, tail keys and the stream of one upload at
/// once: none fails, no column's write is lost to another's, and the offset is
/// some connection's last.
pub fn racing_writes_to_one_upload_lose_nothing(e: &dyn Engine) {
    org(e, "a");
    let m = meeting(e, "a", T0, None);
    let rec = recording(e, "a", "open", T0);
    let s = stream(e, rec, "upload", "open", 0);
    let up = new_upload(m, 1_000_000, None);
    with(e, |q| q.insert_upload(&up).unwrap());
    let id = up.id;
    std::thread::scope(|scope| {
        for k in 0..4u64 {
            scope.spawn(move || {
                with(e, |q| {
                    for i in 0..25u64 {
                        q.set_upload_offset(id, k * 1000 + i).unwrap();
                        q.set_tail_key(&id.to_string(), &format!("key-{k}-{i}")).unwrap();
                        if k == 0 && i == 12 {
                            q.link_upload_stream(id, s).unwrap();
                        }
                    }
                })
            });
        }
    });
    let row = with(e, |q| q.upload(up.id).unwrap().unwrap());
    assert_eq!((row.stream, row.state.as_str()), (Some(s.to_string()), "receiving"), "the link survived");
    assert!(["key-0-24", "key-1-24", "key-2-24", "key-3-24"].contains(&row.tail_key.as_str()), "{}", row.tail_key);
    assert!([24, 1024, 2024, 3024].contains(&offset_of(e, up.id)), "a connection's last offset");
    with(e, |q| q.set_upload_offset(up.id, 5000).unwrap());
    assert_eq!(offset_of(e, up.id), 5000, "the next write after the race");
}

/// A live stream ends once: a second end changes nothing; interrupting ends
/// only those still running; a stream whose archive stream closed is no
/// longer "ended but open". A stream is added once.
pub fn a_live_stream_ends_once(e: &dyn Engine) {
    org(e, "a");
    let ep = endpoint(e, "a", "hall");
    let rec = recording(e, "a", "open", T0);
    let (s1, s2, s3) =
        (stream(e, rec, "live", "open", 0), stream(e, rec, "live", "open", 0), stream(e, rec, "live", "open", 0));
    let ended = |q: &dyn crate::catalog::Repo| -> Vec<Ended> {
        sorted(
            q.ended_live_streams("n1")
                .unwrap()
                .into_iter()
                .map(|s| (s.stream, s.recording, s.end_state, s.sha256, s.media))
                .collect(),
        )
    };
    let second = with(e, |q| {
        for s in [s1, s2, s3] {
            q.insert_live_stream(s, &ep, rec, T0, "n1").unwrap();
        }
        assert!(q.insert_live_stream(s1, &ep, rec, T1, "n1").is_err(), "a stream twice");
        assert!(ended(q).is_empty());
        q.end_live_stream(s1, "complete", Some("abc"), Some("{\"v\":1}")).unwrap();
        q.end_live_stream(s1, "interrupted", None, None).unwrap();
        let first =
            (s1.to_string(), rec.to_string(), "complete".to_string(), Some("abc".into()), Some("{\"v\":1}".into()));
        assert_eq!(ended(q), vec![first.clone()], "the first end stands");
        assert_eq!(q.interrupt_live_streams("n2").unwrap(), 0, "another node's streams are not this one's to cut");
        assert_eq!(q.interrupt_live_streams("n1").unwrap(), 2);
        assert_eq!(q.interrupt_live_streams("n1").unwrap(), 0, "every stream has ended");
        q.end_live_stream(s2, "complete", Some("late"), None).unwrap();
        let second = (s2.to_string(), rec.to_string(), "interrupted".to_string(), None, None);
        let third = (s3.to_string(), rec.to_string(), "interrupted".to_string(), None, None);
        assert_eq!(ended(q), sorted(vec![first, second.clone(), third]));
        second
    });
    e.batch(&format!("UPDATE streams SET state = 'complete' WHERE id IN ('{s1}', '{s3}');"));
    with(e, |q| assert_eq!(ended(q), vec![second], "closed streams are done with"));
}

/// Nodes sharing a catalog: each cuts and closes only the live streams in its
/// own spool; a node declared lost hands its open ones to another, ended
/// `interrupted` (an end already recorded stands), and its closed ones stay.
pub fn a_node_handles_only_its_own_live_streams(e: &dyn Engine) {
    org(e, "a");
    let ep = endpoint(e, "a", "hall");
    let rec = recording(e, "a", "open", T0);
    let mine = stream(e, rec, "live", "open", 0);
    let (lost_open, lost_ended, lost_closed) =
        (stream(e, rec, "live", "open", 0), stream(e, rec, "live", "open", 0), stream(e, rec, "live", "complete", 0));
    let ended = |q: &dyn crate::catalog::Repo, node: &str| -> Vec<String> {
        sorted(q.ended_live_streams(node).unwrap().into_iter().map(|s| s.stream).collect())
    };
    with(e, |q| {
        q.insert_live_stream(mine, &ep, rec, T0, "n1").unwrap();
        for s in [lost_open, lost_ended, lost_closed] {
            q.insert_live_stream(s, &ep, rec, T0, "n2").unwrap();
        }
        q.end_live_stream(lost_ended, "complete", Some("sha"), None).unwrap();
        assert_eq!(q.interrupt_live_streams("n1").unwrap(), 1, "n1's restart cuts its own stream only");
        assert_eq!(ended(q, "n1"), vec![mine.to_string()]);
        assert_eq!(ended(q, "n2"), vec![lost_ended.to_string()], "n2's ended stream waits for n2's spool");
        let mut taken = q.take_over_live_streams("n2", "n1").unwrap();
        taken.sort();
        let want = sorted(vec![(lost_open.to_string(), rec.to_string()), (lost_ended.to_string(), rec.to_string())]);
        assert_eq!(taken, want, "the open streams of the lost node, not its closed one");
        assert_eq!(ended(q, "n1"), sorted(vec![mine.to_string(), lost_open.to_string(), lost_ended.to_string()]));
        assert!(ended(q, "n2").is_empty());
        let states: Vec<(String, String)> = q
            .ended_live_streams("n1")
            .unwrap()
            .into_iter()
            .filter(|s| s.stream != mine.to_string())
            .map(|s| (s.stream, s.end_state))
            .collect();
        assert_eq!(
            sorted(states),
            sorted(vec![(lost_open.to_string(), "interrupted".into()), (lost_ended.to_string(), "complete".into())]),
            "an end already recorded stands"
        );
        assert!(q.take_over_live_streams("n2", "n1").unwrap().is_empty(), "taken once");
    });
}

/// Open recordings with live streams, each once; sealable only when every
/// stream of theirs (live or not) has closed; sealed ones never.
pub fn sealable_once_every_stream_closed(e: &dyn Engine) {
    org(e, "a");
    let ep = endpoint(e, "a", "hall");
    let busy = recording(e, "a", "open", T0);
    let quiet = recording(e, "a", "open", T0);
    let sealed = recording(e, "a", "sealed", T0);
    let _no_live = recording(e, "a", "open", T0);
    let side = recording(e, "a", "open", T0);
    let live = [
        (busy, stream(e, busy, "live", "open", 0)),
        (busy, stream(e, busy, "live", "complete", 0)),
        (quiet, stream(e, quiet, "live", "complete", 0)),
        (quiet, stream(e, quiet, "live", "interrupted", 0)),
        (sealed, stream(e, sealed, "live", "complete", 0)),
        (side, stream(e, side, "live", "complete", 0)),
    ];
    stream(e, side, "upload", "open", 0);
    with(e, |q| {
        for (rec, s) in live {
            q.insert_live_stream(s, &ep, rec, T0, "n1").unwrap();
        }
        let open = sorted(vec![busy.to_string(), quiet.to_string(), side.to_string()]);
        assert_eq!(sorted(q.open_live_recordings().unwrap()), open);
        assert_eq!(q.sealable_live_recordings().unwrap(), vec![quiet.to_string()]);
    });
}

/// Chunk counts per stream and a recording's org; an unknown stream or
/// recording is an error, not a zero or an empty name.
pub fn chunks_and_orgs_of_what_exists(e: &dyn Engine) {
    org(e, "a");
    let rec = recording(e, "a", "open", T0);
    let (s1, s2) = (stream(e, rec, "live", "open", 3_000_000_000), stream(e, rec, "live", "open", 0));
    with(e, |q| {
        let asked = [s1.to_string(), s2.to_string()];
        let want = HashMap::from([(s1.to_string(), 3_000_000_000u64), (s2.to_string(), 0)]);
        assert_eq!(q.stream_chunks(&asked).unwrap(), want);
        assert!(q.stream_chunks(&[]).unwrap().is_empty());
        assert!(q.stream_chunks(&[s1.to_string(), StreamId::new().to_string()]).is_err(), "an unknown stream");
        assert_eq!(q.recording_org(rec).unwrap(), "a");
        assert!(q.recording_org(RecordingId::new()).is_err(), "an unknown recording");
    });
}

/// The live meeting is the org's newest with an open recording; the nearest
/// unrecorded meeting lies within a day (its edge included), in the org
/// itself, not a sibling that shares its prefix (`/a`, `/ab`).
pub fn meetings_found_by_recording_and_time(e: &dyn Engine) {
    org(e, "a");
    org(e, "ab");
    let _older = meeting(e, "a", T0, Some(recording(e, "a", "open", T0)));
    let newest = meeting(e, "a", T0, Some(recording(e, "a", "open", T1)));
    meeting(e, "a", T0, Some(recording(e, "a", "sealed", T2)));
    let theirs = meeting(e, "ab", T0, Some(recording(e, "ab", "open", "2027-01-01T00:00:00.000Z")));
    meeting(e, "a", "2026-11-22T12:00:00.000Z", Some(recording(e, "a", "sealed", T0)));
    let later = meeting(e, "a", "2026-11-22T14:00:00.000Z", None);
    let earlier = meeting(e, "a", "2026-11-21T09:00:00.000Z", None);
    let edge = meeting(e, "a", "2026-11-24T12:00:00.000Z", None);
    let sibling = meeting(e, "ab", "2026-11-22T12:30:00.000Z", None);
    meeting(e, "a", "2026-11-18T11:59:59.000Z", None);
    with(e, |q| {
        assert_eq!(q.live_meeting("a").unwrap(), Some(newest.to_string()));
        assert_eq!(q.live_meeting("ab").unwrap(), Some(theirs.to_string()), "not a's, though newer");
        assert!(q.live_meeting("abc").unwrap().is_none());
        let nearest = |at: &str| q.nearest_unrecorded_meeting("a", at).unwrap();
        assert_eq!(nearest("2026-11-22T12:00:00.000Z"), Some(later.to_string()), "2 hours, not the recorded one");
        assert_eq!(nearest("2026-11-21T20:00:00.000Z"), Some(earlier.to_string()), "11 hours before, not 18 after");
        assert_eq!(nearest("2026-11-25T12:00:00.000Z"), Some(edge.to_string()), "exactly one day");
        assert_eq!(nearest("2026-11-19T12:00:00.000Z"), None, "a day and a second");
        assert_eq!(nearest("2026-11-25T12:00:00.001Z"), None, "a day and a millisecond");
        let theirs = q.nearest_unrecorded_meeting("ab", "2026-11-22T12:00:00.000Z").unwrap();
        assert_eq!(theirs, Some(sibling.to_string()), "its own, not a's");
    });
}

/// An ad hoc meeting is a regular meeting scheduled now, found as the nearest
/// unrecorded one; its id is unique and its org must exist.
pub fn an_ad_hoc_meeting_is_scheduled_now(e: &dyn Engine) {
    org(e, "a");
    let id = MeetingId::new();
    with(e, |q| {
        q.insert_ad_hoc_meeting(id, "a", "Called at once", T1).unwrap();
        assert!(q.insert_ad_hoc_meeting(id, "a", "Again", T1).is_err(), "a meeting id twice");
        assert!(q.insert_ad_hoc_meeting(MeetingId::new(), "nowhere", "Lost", T1).is_err(), "an unknown org");
        let summary = ("Called at once".to_string(), "a".to_string(), "Cell a".to_string(), T1.to_string());
        assert_eq!(q.meeting_summary(&id.to_string()).unwrap(), Some(summary));
        assert_eq!(q.nearest_unrecorded_meeting("a", T2).unwrap(), Some(id.to_string()));
        assert!(q.live_meeting("a").unwrap().is_none(), "no recording yet");
    });
}

/// What the index follows: shredded recordings, stored transcripts (not those
/// still sealing) oldest first and counted, and where a recording belongs.
pub fn the_index_reads_transcripts_and_places(e: &dyn Engine) {
    org(e, "a");
    let recs: Vec<RecordingId> = ["sealed", "sealed", "sealed", "shredded", "shredded", "sealed"]
        .into_iter()
        .map(|state| recording(e, "a", state, T0))
        .collect();
    let transcripts = [(recs[0], "stored", Some(T2)), (recs[1], "stored", Some(T0)), (recs[2], "sealing", None)];
    for (rec, state, at) in transcripts.into_iter().chain([(recs[5], "stored", Some(T1))]) {
        let at = at.map_or("NULL".to_string(), |at| format!("'{at}'"));
        e.batch(&format!(
            "INSERT INTO transcripts (recording, state, wrapped_dek, key_sha256, nonce_prefix, chunk_size, stored_at)
             VALUES ('{rec}', '{state}', 'w', 'k', 'n', 65536, {at});"
        ));
    }
    let m = meeting(e, "a", T1, Some(recs[0]));
    with(e, |q| {
        assert_eq!(sorted(q.shredded_recordings().unwrap()), sorted(vec![recs[3].to_string(), recs[4].to_string()]));
        assert_eq!(q.stored_transcript_count().unwrap(), 3);
        assert_eq!(
            q.stored_transcripts().unwrap(),
            vec![recs[1].to_string(), recs[5].to_string(), recs[0].to_string()]
        );
        let place = (m.to_string(), "regular".to_string(), T1.to_string(), "/a".to_string());
        assert_eq!(q.recording_place(recs[0]).unwrap(), Some(place));
        assert!(q.recording_place(recs[1]).unwrap().is_none(), "no meeting holds it");
        assert!(q.meeting_summary(&MeetingId::new().to_string()).unwrap().is_none());
        let summary = (format!("Meeting at {T1}"), "a".to_string(), "Cell a".to_string(), T1.to_string());
        assert_eq!(q.meeting_summary(&m.to_string()).unwrap(), Some(summary));
    });
}

/// This group's scenarios by name.
pub const SCENARIOS: &[(&str, Scenario)] = &[
    ("an_upload_reads_back_and_changes", an_upload_reads_back_and_changes),
    ("settling_follows_the_streams", settling_follows_the_streams),
    ("a_node_settles_only_its_own_one_body_uploads", a_node_settles_only_its_own_one_body_uploads),
    ("racing_writes_to_one_upload_lose_nothing", racing_writes_to_one_upload_lose_nothing),
    ("a_live_stream_ends_once", a_live_stream_ends_once),
    ("a_node_handles_only_its_own_live_streams", a_node_handles_only_its_own_live_streams),
    ("sealable_once_every_stream_closed", sealable_once_every_stream_closed),
    ("chunks_and_orgs_of_what_exists", chunks_and_orgs_of_what_exists),
    ("meetings_found_by_recording_and_time", meetings_found_by_recording_and_time),
    ("an_ad_hoc_meeting_is_scheduled_now", an_ad_hoc_meeting_is_scheduled_now),
    ("the_index_reads_transcripts_and_places", the_index_reads_transcripts_and_places),
];
