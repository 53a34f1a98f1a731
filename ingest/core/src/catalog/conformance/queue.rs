//! The job queue and the transcription workers.

use super::{with, Engine, Scenario};
use crate::catalog::Scope;
use archive::id::RecordingId;

const T0: &str = "2026-11-22T08:00:00.000Z";
const T1: &str = "2026-11-22T08:00:30.000Z";
const T2: &str = "2026-11-22T08:01:00.000Z";
const LATER: &str = "2099-01-01T00:00:00.000Z";

/// A failed job is retried after its backoff, then given up with its reason.
pub fn retries_then_gives_up(e: &dyn Engine) {
    let rec = e.recording("o", "sealed");
    with(e, |q| {
        q.enqueue_transcription(rec, T0).unwrap();
        q.enqueue_transcription(rec, T0).unwrap();
        assert_eq!(q.job_counts(&Scope::All).unwrap().get("queued"), Some(&1), "queued once");
        let job = q.claim_job(T0).unwrap().unwrap();
        assert_eq!((job.recording, job.attempts, job.claim), (rec, 0, 1));
        assert!(q.claim_job(T0).unwrap().is_none(), "a running job is not claimed twice");
        q.job_failed(job.id, "decoder broke", Some(T1), T0).unwrap();
        assert!(q.claim_job(T0).unwrap().is_none(), "not before its backoff");
        let again = q.claim_job(T1).unwrap().unwrap();
        assert_eq!((again.attempts, again.claim), (1, 2));
        q.job_failed(again.id, "decoder broke again", None, T1).unwrap();
        let view = &q.jobs(&Scope::All, Some("failed"), 10).unwrap()[0];
        assert_eq!((view.attempts, view.error.as_deref()), (2, Some("decoder broke again")));
        assert!(q.claim_job(LATER).unwrap().is_none(), "failed is final");
        assert_eq!(q.transcription_job(rec).unwrap().map(|p| p.state).as_deref(), Some("failed"));
    });
}

/// Settling requeues a node's cut jobs (not a worker's) and queues sealed
/// recordings that have none.
pub fn settling_requeues_cut_jobs(e: &dyn Engine) {
    let cut = e.recording("o", "sealed");
    let held = e.recording("o", "sealed");
    let node = with(e, |q| {
        q.enqueue_transcription(cut, T0).unwrap();
        q.enqueue_transcription(held, T0).unwrap();
        assert!(q.enroll_worker("w", "age1w", "admin", T0).unwrap());
        let node = q.claim_job(T0).unwrap().unwrap();
        assert!(q.claim_job_as("w", T0, LATER).unwrap().is_some());
        node
    });
    let older = e.recording("o", "sealed");
    let _open = e.recording("o", "open");
    with(e, |q| {
        assert_eq!(q.settle_jobs(T1).unwrap(), (1, 1), "the node's job back; the worker's left; one queued");
        let queued = q.jobs(&Scope::All, Some("queued"), 10).unwrap();
        assert_eq!(queued.len(), 2);
        assert!(queued.iter().any(|j| j.id == node.id), "the node's own job is back");
        assert!(queued.iter().all(|j| j.attempts == 0), "a crash is not an attempt");
        assert!(queued.iter().any(|j| j.recording == older.to_string()));
        assert_eq!(q.jobs(&Scope::All, Some("running"), 10).unwrap()[0].worker.as_deref(), Some("w"));
        assert_eq!(q.settle_jobs(T1).unwrap(), (0, 0), "settling twice changes nothing");
    });
}

/// Lists and counts see only the scope's orgs.
pub fn jobs_stay_within_the_scope(e: &dyn Engine) {
    let (a, b) = (e.recording("a", "sealed"), e.recording("b", "sealed"));
    with(e, |q| {
        q.enqueue_transcription(a, T0).unwrap();
        q.enqueue_transcription(b, T0).unwrap();
        let only_a = Scope::Subtrees(vec!["/a".into()]);
        let listed: Vec<String> = q.jobs(&only_a, None, 10).unwrap().into_iter().map(|j| j.recording).collect();
        assert_eq!(listed, vec![a.to_string()]);
        assert_eq!(q.job_counts(&only_a).unwrap().get("queued"), Some(&1), "b's job is not counted");
        assert_eq!(q.jobs(&Scope::All, None, 10).unwrap().len(), 2, "no scope: every org");
        assert!(q.jobs(&Scope::Subtrees(vec![]), None, 10).unwrap().is_empty(), "an empty scope sees nothing");
        assert!(q.jobs(&Scope::Subtrees(vec!["/a/".into()]), None, 10).unwrap().is_empty(), "not a prefix match");
    });
}

/// Four connections, two workers, 40 jobs claimed at once: each exactly once.
pub fn racing_workers_never_share_a_job(e: &dyn Engine) {
    let recs: Vec<RecordingId> = (0..40).map(|_| e.recording("o", "sealed")).collect();
    with(e, |q| {
        for rec in &recs {
            q.enqueue_transcription(*rec, T0).unwrap();
        }
        assert!(q.enroll_worker("a", "age1a", "admin", T0).unwrap());
        assert!(q.enroll_worker("b", "age1b", "admin", T0).unwrap());
    });
    let mut all: Vec<i64> = std::thread::scope(|s| {
        let racers: Vec<_> = ["a", "b", "a", "b"]
            .into_iter()
            .map(|name| {
                s.spawn(move || {
                    let mut mine = Vec::new();
                    while let Some(job) = with(e, |q| q.claim_job_as(name, T0, T1).unwrap()) {
                        assert_eq!(job.claim, 1, "a first claim");
                        mine.push(job.id);
                    }
                    mine
                })
            })
            .collect();
        racers.into_iter().flat_map(|r| r.join().unwrap()).collect()
    });
    all.sort();
    let claimed = all.len();
    all.dedup();
    assert_eq!(claimed, all.len(), "a job claimed twice");
    assert_eq!(all.len(), recs.len(), "every job claimed");
}

/// A lapsed claim is fenced off: its renewals, grant, result and finish are
/// refused once the next claim exists; one result per claim; a finished job
/// keeps no sealed keys or result.
pub fn a_lapsed_claim_is_fenced_off(e: &dyn Engine) {
    let rec = e.recording("o", "sealed");
    with(e, |q| {
        q.enqueue_transcription(rec, T0).unwrap();
        assert!(q.enroll_worker("a", "age1a", "admin", T0).unwrap());
        assert!(q.enroll_worker("b", "age1b", "admin", T0).unwrap());
        let job = q.claim_job_as("a", T0, T1).unwrap().unwrap();
        assert_eq!(q.grants_due().unwrap().len(), 1, "a claim without keys");
        q.put_grant(job.id, job.claim, "a", b"sealed-for-a", T0).unwrap();
        assert!(q.grants_due().unwrap().is_empty());
        assert_eq!(q.grant(job.id, job.claim, "a").unwrap().as_deref(), Some(&b"sealed-for-a"[..]));
        assert_eq!(q.grant(job.id, job.claim, "b").unwrap(), None, "another worker reads no grant");
        assert!(q.renew_claim(job.id, job.claim, "a", T0, T1, (5, Some(10))).unwrap());
        assert!(!q.renew_claim(job.id, job.claim, "b", T0, T2, (0, None)).unwrap(), "b does not hold it");
        assert!(q.lapsed_claims(T1).unwrap().is_empty(), "not before its lease ends");
        assert_eq!(q.lapsed_claims(T2).unwrap().len(), 1);
        assert!(q.end_claim(job.id, job.claim, "a stopped", Some(T0), true, T2).unwrap());
        let next = q.claim_job_as("b", T2, T2).unwrap().unwrap();
        assert_eq!((next.id, next.claim, next.attempts), (job.id, 2, 1));
        let due = q.grants_due().unwrap();
        assert_eq!((due.len(), due[0].claim, due[0].attempts), (1, 2, 1), "claim 2 waits for its keys");
        assert!(!q.renew_claim(job.id, 1, "a", T2, T2, (9, None)).unwrap(), "a renewal of claim 1");
        assert_eq!(q.grant(job.id, 1, "a").unwrap(), None, "claim 1's grant is gone");
        assert!(!q.return_result(job.id, 1, "a", b"late", T2).unwrap(), "a result of claim 1");
        assert!(!q.return_result(job.id, 2, "a", b"not a's", T2).unwrap(), "a result for b's claim");
        assert!(!q.return_result(job.id, 2, "b", b"before its grant", T2).unwrap(), "no grant yet");
        q.put_grant(job.id, 2, "b", b"sealed-for-b", T2).unwrap();
        assert!(q.return_result(job.id, 2, "b", b"result", T2).unwrap());
        assert!(!q.return_result(job.id, 2, "b", b"again", T2).unwrap(), "one result per claim");
        assert!(q.lapsed_claims(LATER).unwrap().is_empty(), "a returned claim waits for its node");
        let back = q.returned().unwrap();
        assert_eq!((back.len(), back[0].claim, &back[0].result[..]), (1, 2, &b"result"[..]));
        assert!(!q.finish_claim(job.id, 1, T2).unwrap(), "claim 1 cannot finish the job");
        assert!(q.finish_claim(job.id, 2, T2).unwrap());
        assert!(!q.finish_claim(job.id, 2, T2).unwrap(), "a replayed finish");
        assert!(q.returned().unwrap().is_empty());
        assert_eq!(q.transcription_job(rec).unwrap().map(|p| p.state).as_deref(), Some("done"));
        assert_eq!(q.forget_grants(rec).unwrap(), 0, "a finished job keeps no sealed keys or result");
    });
}

/// A removed worker loses its claim at its next renewal, gets no keys and
/// claims nothing more; its name may be enrolled again.
pub fn a_removed_worker_loses_its_claim(e: &dyn Engine) {
    let (r1, r2) = (e.recording("o", "sealed"), e.recording("o", "sealed"));
    with(e, |q| {
        q.enqueue_transcription(r1, T0).unwrap();
        q.enqueue_transcription(r2, T0).unwrap();
        assert!(q.enroll_worker("a", "age1a", "admin", T0).unwrap());
        assert!(!q.enroll_worker("a", "age1other", "admin", T0).unwrap(), "enrolled already");
        let job = q.claim_job_as("a", T0, T2).unwrap().unwrap();
        assert!(q.claim_job_as("nobody", T0, T2).unwrap().is_none(), "not enrolled");
        assert!(q.remove_worker("a", T1).unwrap());
        assert!(!q.remove_worker("a", T1).unwrap(), "removed already");
        assert!(!q.renew_claim(job.id, job.claim, "a", T1, T2, (0, None)).unwrap());
        assert!(q.grants_due().unwrap().is_empty(), "no keys for a removed worker");
        assert!(q.claim_job_as("a", T1, T2).unwrap().is_none());
        q.put_grant(job.id, job.claim, "a", b"keys", T1).unwrap();
        assert_eq!(q.forget_grants(job.recording).unwrap(), 1, "a shred takes the sealed keys");
        assert!(q.enroll_worker("a", "age1new", "admin", T2).unwrap(), "enrolled again, new recipient");
        let rows = q.workers().unwrap();
        assert_eq!(rows.iter().find(|w| w.name == "a").map(|w| w.recipient.as_str()), Some("age1new"));
        assert_eq!(rows.iter().find(|w| w.name == "a").and_then(|w| w.seen_at.clone()), None);
    });
}

/// The queue's scenarios by name.
pub const SCENARIOS: &[(&str, Scenario)] = &[
    ("retries_then_gives_up", retries_then_gives_up),
    ("settling_requeues_cut_jobs", settling_requeues_cut_jobs),
    ("jobs_stay_within_the_scope", jobs_stay_within_the_scope),
    ("racing_workers_never_share_a_job", racing_workers_never_share_a_job),
    ("a_lapsed_claim_is_fenced_off", a_lapsed_claim_is_fenced_off),
    ("a_removed_worker_loses_its_claim", a_removed_worker_loses_its_claim),
];
