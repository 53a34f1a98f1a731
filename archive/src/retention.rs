//! The retention rules, replayed from the ledger alone: which policy governs a
//! recording, when it expires, which hold keeps it, and whether an approval counts.
//!
//! The service (preview, enforcement, Object Lock) and the verifier (is this shred
//! lawful?) both ask this one model, built from ledger entries, so the rule that
//! deletes and the rule that judges the deletion cannot drift apart. The verifier
//! feeds it only entries a signed checkpoint covers; the service feeds it its own
//! catalog's ledger.
//!
//! What governs a recording is never taken from a shred entry's own claims: its org
//! path comes from the `org.created` chain as it stood when the recording started,
//! its kind from its meeting's `meeting.created`, its start from
//! `recording.started`.
//!
//! # Four-eyes, per recording
//! A policy set before a recording was sealed applies to it as it stands. A policy
//! set *after* (a new more specific one, a kind policy, a changed default, a
//! shortening, or any sequence of these) applies to that recording only if it does
//! not make it expire earlier than under the policies already in force for it, or
//! once an approval that counts ([`Retention::approval`]) names it. Whenever a
//! policy takes effect, the ones still waiting are tried again in order, so a
//! later lengthening is never held back by an earlier shortening.
//!
//! # Two classes
//! A policy governs either the media (recordings and their transcripts) or the
//! meeting record (attendance, documents, minutes, evaluations), never both.
//! The record of a meeting is modelled as a [`Recording`] of class `record`
//! whose start is the meeting's scheduled time and which counts as sealed from
//! the first entry: the record is kept permanently by default, so every record
//! policy shortens what it keeps and waits for a second admin, and holds cover
//! it by the meeting's time like a recording.
//!
//! An approval counts when its actor is a user account other than the one that
//! set the policy, that was an admin (see [`Admins`]) both before the policy was
//! set and when approving, and that approved before the request expired
//! (`approve_before`). The host's command line (`host`) and the service itself
//! (`system`) may request but never approve.
//!
//! Entries (data fields):
//! - `org.created`: `parent` (or null); `meeting.created`: `org`, `kind`;
//! - `recording.started`: `meeting`, `org`; `recording.sealed`; `recording.shredded`: `policy`;
//! - `retention.policy.set`: `org` (an org id, or null), `org_path` (written before
//!   `org` was), `kind` (or null), `keep_days`, `approve_before` (RFC 3339, optional),
//!   `class` (`media` or `record`; absent: media, as before the meeting record);
//! - `record.shredded` (subject `meeting/<id>`): `policy`, `objects`;
//! - `retention.policy.approved`: none;
//! - `hold.placed`: `org_path`, `from`, `to` (RFC 3339); `hold.released`: none;
//! - users: see [`Admins`].

use crate::clock::parse_ts;
use crate::ledger::Entry;
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;

/// The ledger actions this model reads; the service filters its catalog by them.
pub const ACTIONS: &[&str] = &[
    "org.created",
    "meeting.created",
    "recording.started",
    "recording.sealed",
    "recording.shredded",
    "record.shredded",
    "retention.policy.set",
    "retention.policy.approved",
    "hold.placed",
    "hold.released",
    "user.created",
    "user.changed",
    "user.change.requested",
    "token.created",
];

/// Org paths (`/bloc/base/cell`): `inner` is `outer` or lies under it. The one
/// subtree test, shared by the verifier, retention and scopes.
pub fn covers(outer: &str, inner: &str) -> bool {
    inner == outer || inner.strip_prefix(outer).is_some_and(|rest| rest.starts_with('/'))
}

/// What a policy governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Recordings and their transcripts.
    #[default]
    Media,
    /// A meeting's record: attendance, documents, minutes, evaluations.
    Record,
}

impl Class {
    /// From a policy entry's `class` (absent: media).
    pub fn of(name: Option<&str>) -> Option<Class> {
        match name {
            None | Some("media") => Some(Class::Media),
            Some("record") => Some(Class::Record),
            Some(_) => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Media => "media",
            Class::Record => "record",
        }
    }
}

/// A recording as the ledger describes it, or (class `record`) a meeting's record.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The recording's id; for a record, its meeting's.
    pub id: String,
    pub class: Class,
    pub meeting: String,
    pub org: String,
    /// The org's path when the recording started; `None` if its org was never created.
    pub org_path: Option<String>,
    /// The meeting's kind; `None` if the meeting is not in the ledger.
    pub kind: Option<String>,
    /// The meeting's org, to check it is the recording's.
    pub meeting_org: Option<String>,
    pub started: OffsetDateTime,
    pub sealed_seq: Option<u64>,
    /// Every `recording.shredded` entry: the service writes one.
    pub shreds: Vec<(u64, OffsetDateTime, Option<String>)>,
}

/// A retention policy and the approvals recorded for it.
#[derive(Debug, Clone)]
pub struct Policy {
    pub id: String,
    pub seq: u64,
    pub actor: String,
    pub org_path: Option<String>,
    pub kind: Option<String>,
    pub keep_days: u64,
    pub class: Class,
    pub approve_before: Option<OffsetDateTime>,
    /// (seq, time, actor) of every `retention.policy.approved` entry.
    pub approvals: Vec<(u64, OffsetDateTime, String)>,
}

impl Policy {
    fn applies_to(&self, r: &Recording, path: &str) -> bool {
        self.class == r.class
            && self.org_path.as_deref().is_none_or(|o| covers(o, path))
            && self.kind.as_deref().is_none_or(|k| r.kind.as_deref() == Some(k))
    }

    /// Deeper org first, then a kind over any, then the newest.
    fn specificity(&self) -> (usize, bool, u64) {
        let depth = self.org_path.as_deref().map_or(0, |o| o.matches('/').count());
        (depth, self.kind.is_some(), self.seq)
    }
}

/// A legal hold.
#[derive(Debug, Clone)]
pub struct Hold {
    pub id: String,
    pub seq: u64,
    pub org_path: String,
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub released_seq: Option<u64>,
}

impl Hold {
    /// Whether this hold keeps `r` at ledger position `at` (placed before, not released).
    fn keeps(&self, r: &Recording, path: &str, at: u64) -> bool {
        self.seq < at
            && self.released_seq.is_none_or(|s| s >= at)
            && covers(&self.org_path, path)
            && self.from <= r.started
            && r.started < self.to
    }
}

/// What governs one recording at one point of the ledger.
#[derive(Debug, Clone)]
pub struct Governed<'a> {
    /// The policy in force for it, and when it expires under it; `None`: kept forever.
    pub policy: Option<(&'a Policy, OffsetDateTime)>,
    /// Policies set after it was sealed that would make it expire earlier and are
    /// not approved: they wait for a second admin.
    pub pending: Vec<&'a Policy>,
    /// The hold that keeps it, if any.
    pub hold: Option<&'a Hold>,
}

/// The ledger's account of orgs, meetings, recordings, policies, holds and admins.
#[derive(Debug, Default)]
pub struct Retention {
    orgs: HashMap<String, String>,
    meetings: HashMap<String, (String, String)>,
    pub recordings: BTreeMap<String, Recording>,
    /// Every meeting's record, by meeting id.
    pub records: BTreeMap<String, Recording>,
    pub policies: Vec<Policy>,
    pub holds: Vec<Hold>,
    pub admins: Admins,
}

fn data_str<'a>(e: &'a Entry, name: &str) -> Option<&'a str> {
    e.data.get(name).and_then(|v| v.as_str())
}

fn data_ts(e: &Entry, name: &str) -> Option<OffsetDateTime> {
    data_str(e, name).and_then(|s| parse_ts(s).ok())
}

impl Retention {
    /// Replays `entries` (in ledger order; other actions are skipped).
    pub fn replay<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Self {
        let mut r = Retention::default();
        for e in entries {
            r.apply(e);
        }
        r
    }

    fn apply(&mut self, e: &Entry) {
        let (kind, id) = e.subject.split_once('/').unwrap_or(("", ""));
        let ts = parse_ts(&e.ts).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        match (e.action.as_str(), kind) {
            ("org.created", "org") => {
                let parent = data_str(e, "parent").and_then(|p| self.orgs.get(p)).cloned();
                self.orgs.insert(id.to_string(), format!("{}/{id}", parent.unwrap_or_default()));
            }
            ("meeting.created", "meeting") => {
                let (org, kind) = (data_str(e, "org"), data_str(e, "kind"));
                if let (Some(org), Some(kind)) = (org, kind) {
                    self.meetings.insert(id.to_string(), (org.to_string(), kind.to_string()));
                    self.record_of(e, id, org, kind, ts);
                }
            }
            ("recording.started", "recording") if !id.contains('/') => self.started(e, id, ts),
            ("recording.sealed", "recording") => {
                if let Some(r) = self.recordings.get_mut(id) {
                    r.sealed_seq.get_or_insert(e.seq);
                }
            }
            ("recording.shredded", "recording") => {
                if let Some(r) = self.recordings.get_mut(id) {
                    r.shreds.push((e.seq, ts, data_str(e, "policy").map(String::from)));
                }
            }
            ("record.shredded", "meeting") => {
                if let Some(r) = self.records.get_mut(id) {
                    r.shreds.push((e.seq, ts, data_str(e, "policy").map(String::from)));
                }
            }
            ("retention.policy.set", "policy") => self.policy_set(e, id),
            ("retention.policy.approved", "policy") => {
                if let Some(p) = self.policies.iter_mut().find(|p| p.id == id) {
                    p.approvals.push((e.seq, ts, e.actor.clone()));
                }
            }
            ("hold.placed", "hold") => {
                let path = data_str(e, "org_path");
                if let (Some(path), Some(from), Some(to)) = (path, data_ts(e, "from"), data_ts(e, "to")) {
                    let org_path = path.to_string();
                    self.holds.push(Hold { id: id.into(), seq: e.seq, org_path, from, to, released_seq: None });
                }
            }
            ("hold.released", "hold") => {
                if let Some(h) = self.holds.iter_mut().find(|h| h.id == id) {
                    h.released_seq.get_or_insert(e.seq);
                }
            }
            ("user.created" | "user.changed" | "user.change.requested" | "token.created", "user") => {
                self.admins.apply(e, id)
            }
            _ => {}
        }
    }

    /// A meeting's record: governed from its scheduled time, "sealed" from the start.
    fn record_of(&mut self, e: &Entry, id: &str, org: &str, kind: &str, ts: OffsetDateTime) {
        let r = Recording {
            id: id.to_string(),
            class: Class::Record,
            meeting: id.to_string(),
            org: org.to_string(),
            org_path: self.orgs.get(org).cloned(),
            kind: Some(kind.to_string()),
            meeting_org: Some(org.to_string()),
            started: data_ts(e, "scheduled_at").unwrap_or(ts),
            sealed_seq: Some(0),
            shreds: Vec::new(),
        };
        self.records.entry(id.to_string()).or_insert(r);
    }

    fn started(&mut self, e: &Entry, id: &str, started: OffsetDateTime) {
        let meeting = data_str(e, "meeting").unwrap_or_default().to_string();
        let org = data_str(e, "org").unwrap_or_default().to_string();
        let m = self.meetings.get(&meeting);
        let r = Recording {
            id: id.to_string(),
            class: Class::Media,
            org_path: self.orgs.get(&org).cloned(),
            kind: m.map(|(_, k)| k.clone()),
            meeting_org: m.map(|(o, _)| o.clone()),
            meeting,
            org,
            started,
            sealed_seq: None,
            shreds: Vec::new(),
        };
        self.recordings.entry(id.to_string()).or_insert(r);
    }

    fn policy_set(&mut self, e: &Entry, id: &str) {
        let Some(keep_days) = e.data.get("keep_days").and_then(|v| v.as_u64()) else { return };
        // A class this build does not know governs nothing it holds.
        let Some(class) = Class::of(data_str(e, "class")) else { return };
        // Entries from before `org` was written name the path they computed.
        let org_path = match data_str(e, "org") {
            Some(org) => match self.orgs.get(org) {
                Some(path) => Some(path.clone()),
                None => return, // a policy for an org the ledger never created governs nothing
            },
            None => data_str(e, "org_path").map(String::from),
        };
        self.policies.push(Policy {
            id: id.to_string(),
            seq: e.seq,
            actor: e.actor.clone(),
            org_path,
            kind: data_str(e, "kind").map(String::from),
            keep_days,
            class,
            approve_before: data_ts(e, "approve_before"),
            approvals: Vec::new(),
        });
    }

    /// The policy with this id.
    pub fn policy(&self, id: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.id == id)
    }

    /// The first approval of `p` that counts (see the module doc), as its seq.
    pub fn approval(&self, p: &Policy) -> Option<u64> {
        p.approvals.iter().find(|(seq, ts, actor)| self.approval_counts(p, *seq, *ts, actor)).map(|a| a.0)
    }

    fn approval_counts(&self, p: &Policy, seq: u64, ts: OffsetDateTime, actor: &str) -> bool {
        actor != p.actor
            && p.approve_before.is_none_or(|deadline| ts < deadline)
            && self.admins.is_admin_at(actor, p.seq)
            && self.admins.is_admin_at(actor, seq)
    }

    /// Why each approval of `p` did or did not count, for reports.
    pub fn approval_verdicts(&self, p: &Policy) -> Vec<(u64, String, Result<(), String>)> {
        p.approvals
            .iter()
            .map(|(seq, ts, actor)| {
                let why = if actor == &p.actor {
                    Err("the admin who set the policy cannot approve it".to_string())
                } else if p.approve_before.is_some_and(|d| *ts >= d) {
                    Err("the request had expired".to_string())
                } else if !self.admins.is_admin_at(actor, p.seq) {
                    Err(format!("{actor} was not an admin when the policy was set"))
                } else if !self.admins.is_admin_at(actor, *seq) {
                    Err(format!("{actor} was not an admin when approving"))
                } else {
                    Ok(())
                };
                (*seq, actor.clone(), why)
            })
            .collect()
    }

    /// What governs recording `r` with the ledger read up to (not including) `at`.
    pub fn governed<'s>(&'s self, r: &Recording, at: u64) -> Governed<'s> {
        let Some(path) = r.org_path.as_deref() else {
            return Governed { policy: None, pending: Vec::new(), hold: None };
        };
        let sealed = r.sealed_seq.unwrap_or(u64::MAX);
        let expiry = |set: &[&'s Policy]| self.expiry(r, path, set);
        // Events after the seal, in ledger order: a policy set, or an approval that counts.
        let mut events: Vec<(u64, usize, bool)> = Vec::new();
        let mut accepted: Vec<&'s Policy> = Vec::new();
        for (i, p) in self.policies.iter().enumerate().filter(|(_, p)| p.seq < at && p.applies_to(r, path)) {
            if p.seq < sealed {
                accepted.push(p);
                continue;
            }
            events.push((p.seq, i, false));
            if let Some(a) = self.approval(p).filter(|&a| a < at) {
                events.push((a, i, true));
            }
        }
        events.sort();
        let mut pending: Vec<&'s Policy> = Vec::new();
        for (_, i, approved) in events {
            let p = &self.policies[i];
            if approved {
                if let Some(k) = pending.iter().position(|q| q.id == p.id) {
                    accepted.push(pending.remove(k));
                    promote(&mut accepted, &mut pending, &expiry);
                }
                continue;
            }
            let before = expiry(&accepted);
            accepted.push(p);
            if later_or_equal(expiry(&accepted).map(|x| x.1), before.map(|x| x.1)) {
                promote(&mut accepted, &mut pending, &expiry);
            } else {
                accepted.pop();
                pending.push(p);
            }
        }
        let policy = expiry(&accepted);
        let hold = self.holds.iter().find(|h| h.keeps(r, path, at));
        Governed { policy, pending, hold }
    }

    /// The most specific policy of `set` and the expiry it gives.
    fn expiry<'a>(&self, r: &Recording, path: &str, set: &[&'a Policy]) -> Option<(&'a Policy, OffsetDateTime)> {
        let p = set.iter().filter(|p| p.applies_to(r, path)).max_by_key(|p| p.specificity())?;
        Some((p, r.started + time::Duration::days(p.keep_days.min(365 * 1000) as i64)))
    }
}

/// `a` keeps at least as long as `b` (`None` is forever).
fn later_or_equal(a: Option<OffsetDateTime>, b: Option<OffsetDateTime>) -> bool {
    match (a, b) {
        (_, None) => a.is_none(),
        (None, Some(_)) => true,
        (Some(a), Some(b)) => a >= b,
    }
}

type ExpiryOf<'e, 'a> = dyn Fn(&[&'a Policy]) -> Option<(&'a Policy, OffsetDateTime)> + 'e;

/// Moves every waiting policy that no longer shortens anything into `accepted`,
/// in ledger order, until none moves.
fn promote<'a>(accepted: &mut Vec<&'a Policy>, pending: &mut Vec<&'a Policy>, expiry: &ExpiryOf<'_, 'a>) {
    loop {
        let before = expiry(accepted).map(|x| x.1);
        let found = pending.iter().position(|p| {
            let mut with = accepted.clone();
            with.push(p);
            later_or_equal(expiry(&with).map(|x| x.1), before)
        });
        match found {
            Some(k) => accepted.push(pending.remove(k)),
            None => return,
        }
    }
}

/// Who was an admin when, from the ledger.
///
/// An account is an admin from the entry that creates it as one (`user.created`
/// with `role` admin, or `token.created` with `role` admin for an account the
/// ledger did not know) or raises it (`user.changed` with `role` admin), until one
/// demotes or disables it. Once two admins exist, making or unmaking an admin is
/// four-eyes: the entry must name a `user.change.requested` (`request`) by an
/// admin other than its own actor, who is an admin, within the request's
/// `approve_before`. The host (`host`) and the service (`system`) are break-glass
/// routes and may act alone; they are listed, never approvers. A user actor that
/// makes an admin alone while two exist does not make one, as far as approvals
/// go, and the change is reported.
#[derive(Debug, Default)]
pub struct Admins {
    /// Per account (`user:<id>`): (seq, is admin after it).
    history: HashMap<String, Vec<(u64, bool)>>,
    /// Per account: disabled after seq.
    disabled: HashMap<String, Vec<(u64, bool)>>,
    /// Open requests: id → (seq, actor, deadline).
    requests: HashMap<String, (u64, String, Option<OffsetDateTime>)>,
    /// Admin changes that were not four-eyed, for reports.
    pub unapproved: Vec<String>,
}

impl Admins {
    fn apply(&mut self, e: &Entry, id: &str) {
        let account = format!("user:{id}");
        let role = data_str(e, "role");
        let was = self.is_admin_at(&account, e.seq);
        match e.action.as_str() {
            "user.change.requested" => {
                if let Some(req) = data_str(e, "request") {
                    let deadline = data_ts(e, "approve_before");
                    self.requests.insert(req.to_string(), (e.seq, e.actor.clone(), deadline));
                }
                return;
            }
            // A token for an account the ledger knows changes nothing about it.
            "token.created" if self.history.contains_key(&account) => return,
            "user.created" | "token.created" => {}
            _ => {
                if let Some(d) = e.data.get("disabled").and_then(|v| v.as_bool()) {
                    self.disabled.entry(account.clone()).or_default().push((e.seq, d));
                }
            }
        }
        let role_admin = match role {
            Some(r) => r == "admin",
            None => self.history.get(&account).and_then(|h| h.last()).is_some_and(|x| x.1),
        };
        let is = role_admin && !self.is_disabled_after(&account, e.seq);
        let guarded = was != is && self.count_at(e.seq) >= 2 && !self.approved(e);
        let mut role_admin = role_admin;
        if guarded && is {
            self.unapproved.push(format!(
                "entry {} ({} by {}) makes {account} an admin without a second admin's approval; \
                 it does not count as an approver",
                e.seq, e.action, e.actor
            ));
            role_admin = false;
        } else if guarded {
            self.unapproved.push(format!(
                "entry {} ({} by {}) removes the admin {account} without a second admin's approval",
                e.seq, e.action, e.actor
            ));
        }
        if role.is_some() || e.action != "user.changed" || guarded {
            self.history.entry(account).or_default().push((e.seq, role_admin));
        }
    }

    /// Whether entry `e`, which makes or unmakes an admin, is allowed alone (a
    /// break-glass actor) or names a request another admin made.
    fn approved(&self, e: &Entry) -> bool {
        if !e.actor.starts_with("user:") {
            return true;
        }
        let Some((req_seq, requester, deadline)) = data_str(e, "request").and_then(|r| self.requests.get(r)) else {
            return false;
        };
        let ts = parse_ts(&e.ts).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        *requester != e.actor
            && deadline.is_none_or(|d| ts < d)
            && (self.is_admin_at(&e.actor, *req_seq) || !requester.starts_with("user:"))
            && self.is_admin_at(&e.actor, e.seq)
    }

    fn is_disabled_after(&self, account: &str, seq: u64) -> bool {
        self.disabled.get(account).and_then(|d| d.iter().rev().find(|x| x.0 <= seq)).is_some_and(|x| x.1)
    }

    /// Whether `account` was an admin just before ledger position `seq`.
    pub fn is_admin_at(&self, account: &str, seq: u64) -> bool {
        let role = self.history.get(account).and_then(|h| h.iter().rev().find(|x| x.0 < seq)).is_some_and(|x| x.1);
        let disabled = self.disabled.get(account).and_then(|d| d.iter().rev().find(|x| x.0 < seq)).is_some_and(|x| x.1);
        role && !disabled
    }

    /// How many admins there were just before `seq`.
    pub fn count_at(&self, seq: u64) -> usize {
        self.history.keys().filter(|a| self.is_admin_at(a, seq)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::ZERO;
    use serde_json::json;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-05 08:00 UTC);

    /// A ledger written by hand: entries get consecutive seqs and a day each.
    #[derive(Default)]
    struct Ledger(Vec<Entry>);

    impl Ledger {
        fn at(&mut self, day: i64, actor: &str, action: &str, subject: &str, data: serde_json::Value) -> u64 {
            let seq = self.0.len() as u64;
            let ts = crate::clock::format_ts(T0 + time::Duration::days(day));
            let e = Entry {
                seq,
                ts,
                actor: actor.into(),
                action: action.into(),
                subject: subject.into(),
                data,
                prev: ZERO,
                hash: ZERO,
            };
            self.0.push(e);
            seq
        }
        fn world(&mut self) {
            self.at(0, "system", "token.created", "user/a1", json!({ "role": "admin" }));
            self.at(0, "user:a1", "user.created", "user/a2", json!({ "role": "admin" }));
            self.at(0, "user:a1", "org.created", "org/b", json!({ "parent": null }));
            self.at(0, "user:a1", "org.created", "org/c1", json!({ "parent": "b" }));
            self.at(0, "user:a1", "org.created", "org/c2", json!({ "parent": "b" }));
            self.at(0, "user:a1", "meeting.created", "meeting/m1", json!({ "org": "c1", "kind": "regular" }));
            self.at(0, "user:a1", "meeting.created", "meeting/m2", json!({ "org": "c2", "kind": "thematic" }));
        }
        fn policy(&mut self, day: i64, actor: &str, id: &str, org: Option<&str>, kind: Option<&str>, keep: u64) -> u64 {
            let data = json!({ "org": org, "kind": kind, "keep_days": keep });
            self.at(day, actor, "retention.policy.set", &format!("policy/{id}"), data)
        }
        fn sealed(&mut self, day: i64, rec: &str, meeting: &str, org: &str) {
            self.at(
                day,
                "system",
                "recording.started",
                &format!("recording/{rec}"),
                json!({ "meeting": meeting, "org": org }),
            );
            self.at(day, "system", "recording.sealed", &format!("recording/{rec}"), json!({}));
        }
        fn expiry(&self, rec: &str) -> Option<(String, i64)> {
            let r = Retention::replay(&self.0);
            let g = r.governed(&r.recordings[rec], u64::MAX);
            g.policy.map(|(p, at)| (p.id.clone(), (at - T0).whole_days()))
        }
    }

    #[test]
    fn the_most_specific_policy_governs_new_recordings() {
        let mut l = Ledger::default();
        l.world();
        l.policy(0, "user:a1", "all", None, None, 100);
        l.policy(0, "user:a1", "base", Some("b"), None, 200);
        l.policy(0, "user:a1", "cell", Some("c1"), None, 300);
        l.policy(0, "user:a1", "thematic", Some("b"), Some("thematic"), 50);
        l.sealed(1, "r1", "m1", "c1");
        l.sealed(1, "r2", "m2", "c2");
        assert_eq!(l.expiry("r1"), Some(("cell".into(), 301)));
        assert_eq!(l.expiry("r2"), Some(("thematic".into(), 51)));
    }

    /// Every route that makes an existing recording expire earlier waits for a
    /// second admin, judged per recording.
    #[test]
    fn shortening_existing_recordings_by_any_route_waits_for_a_second_admin() {
        type Steps = fn(&mut Ledger) -> u64;
        let cases: [(&str, Steps); 5] = [
            ("shorten", |l| l.policy(2, "user:a1", "short", None, None, 1)),
            ("3650, then 1, then 2", |l| {
                l.policy(2, "user:a1", "long", None, None, 3650);
                l.policy(2, "user:a1", "one", None, None, 1);
                l.policy(2, "user:a1", "short", None, None, 2)
            }),
            ("a more specific org", |l| l.policy(2, "user:a1", "short", Some("c1"), None, 1)),
            ("a kind policy", |l| l.policy(2, "user:a1", "short", None, Some("regular"), 1)),
            ("a changed default", |l| l.policy(2, "host", "short", None, None, 1)),
        ];
        for (name, steps) in cases {
            let mut l = Ledger::default();
            l.world();
            l.policy(0, "user:a1", "default", None, None, 365);
            l.sealed(1, "r1", "m1", "c1");
            steps(&mut l);
            let kept = l.expiry("r1").map(|x| x.1);
            assert!(kept >= Some(366), "{name}: the existing recording keeps its expiry until approved: {kept:?}");
            // A recording sealed afterwards follows the new policy at once.
            l.sealed(3, "r2", "m1", "c1");
            assert!(l.expiry("r2").unwrap().1 < 366, "{name}: new recordings follow it");
            // Self-approval, approval by a non-admin, and by the host, do not count.
            let requester = l.0.last().map(|e| e.actor.clone()).unwrap_or_default();
            for actor in [requester.as_str(), "user:nobody", "host", "system"] {
                l.at(4, actor, "retention.policy.approved", "policy/short", json!({}));
            }
            assert!(l.expiry("r1").map(|x| x.1) >= Some(366), "{name}: not approved by a second admin");
            l.at(4, "user:a2", "retention.policy.approved", "policy/short", json!({}));
            let after = l.expiry("r1").unwrap();
            assert_eq!(after.0, "short", "{name}: applies once a second admin approves");
        }
    }

    #[test]
    fn a_lengthening_applies_at_once_and_frees_waiting_ones() {
        let mut l = Ledger::default();
        l.world();
        l.policy(0, "user:a1", "default", None, None, 365);
        l.sealed(1, "r1", "m1", "c1");
        l.policy(2, "user:a1", "short", None, None, 30);
        assert_eq!(l.expiry("r1").unwrap().0, "default");
        l.policy(3, "user:a1", "long", None, None, 400);
        assert_eq!(l.expiry("r1").unwrap(), ("long".into(), 401), "shorten then lengthen: the lengthening applies");
    }

    #[test]
    fn an_admin_made_alone_while_two_exist_does_not_count_as_an_approver() {
        let mut l = Ledger::default();
        l.world();
        l.policy(0, "user:a1", "default", None, None, 365);
        l.sealed(1, "r1", "m1", "c1");
        // a1 makes a3 an admin without a2's approval, then sets and "approves".
        l.at(2, "user:a1", "user.created", "user/a3", json!({ "role": "admin" }));
        l.policy(3, "user:a1", "short", None, None, 1);
        l.at(3, "user:a3", "retention.policy.approved", "policy/short", json!({}));
        assert_eq!(l.expiry("r1").unwrap().0, "default");
        let r = Retention::replay(&l.0);
        assert_eq!(r.admins.unapproved.len(), 1, "{:?}", r.admins.unapproved);
        // With a2's approval of the request, a3 is an admin from then on.
        let mut l = Ledger::default();
        l.world();
        l.policy(0, "user:a1", "default", None, None, 365);
        l.sealed(1, "r1", "m1", "c1");
        l.at(2, "user:a1", "user.change.requested", "user/a3", json!({ "request": "q1", "role": "admin" }));
        l.at(2, "user:a2", "user.created", "user/a3", json!({ "role": "admin", "request": "q1" }));
        l.policy(3, "user:a1", "short", None, None, 1);
        l.at(3, "user:a3", "retention.policy.approved", "policy/short", json!({}));
        assert_eq!(l.expiry("r1").unwrap().0, "short");
    }

    #[test]
    fn an_approval_after_the_deadline_does_not_count() {
        let mut l = Ledger::default();
        l.world();
        l.policy(0, "user:a1", "default", None, None, 365);
        l.sealed(1, "r1", "m1", "c1");
        let data = json!({ "org": null, "kind": null, "keep_days": 1, "approve_before": "2026-01-10T00:00:00.000Z" });
        l.at(2, "user:a1", "retention.policy.set", "policy/short", data);
        l.at(30, "user:a2", "retention.policy.approved", "policy/short", json!({}));
        assert_eq!(l.expiry("r1").unwrap().0, "default");
    }

    #[test]
    fn holds_keep_what_they_cover_until_released() {
        let mut l = Ledger::default();
        l.world();
        l.sealed(1, "r1", "m1", "c1");
        l.sealed(1, "r2", "m2", "c2");
        let hold = json!({ "org_path": "/b/c1", "from": "2026-01-01T00:00:00.000Z", "to": "2026-02-01T00:00:00.000Z" });
        let placed = l.at(2, "user:a1", "hold.placed", "hold/h1", hold);
        let released = l.at(3, "user:a1", "hold.released", "hold/h1", json!({}));
        let r = Retention::replay(&l.0);
        let held = |rec: &str, at: u64| r.governed(&r.recordings[rec], at).hold.map(|h| h.id.clone());
        assert_eq!(held("r1", placed), None, "not before it was placed");
        assert_eq!(held("r1", released), Some("h1".into()));
        assert_eq!(held("r2", released), None, "another cell");
        assert_eq!(held("r1", released + 1), None, "released");
    }

    /// The two classes never govern each other's things; the record is kept
    /// forever until a record policy a second admin approved says otherwise,
    /// from the meeting's scheduled time; a hold keeps it; and the judge of
    /// deletions applies the same rules to a `record.shredded` entry.
    #[test]
    fn the_record_is_its_own_class_kept_until_a_second_admin_approves() {
        let mut l = Ledger::default();
        l.world();
        let at = |day: i64| crate::clock::format_ts(T0 + time::Duration::days(day));
        l.at(
            0,
            "user:a1",
            "meeting.created",
            "meeting/m3",
            json!({ "org": "c1", "kind": "regular", "scheduled_at": at(1) }),
        );
        l.policy(0, "user:a1", "media", None, None, 5);
        l.sealed(1, "r1", "m3", "c1");
        let record = |l: &Ledger| {
            let r = Retention::replay(&l.0);
            let g = r.governed(&r.records["m3"], u64::MAX);
            (g.policy.map(|(p, at)| (p.id.clone(), (at - T0).whole_days())), g.hold.map(|h| h.id.clone()))
        };
        assert_eq!(record(&l), (None, None), "a media policy never governs the record");
        let data = json!({ "org": null, "kind": null, "keep_days": 10, "class": "record" });
        l.at(2, "user:a1", "retention.policy.set", "policy/rec", data);
        assert_eq!(l.expiry("r1"), Some(("media".into(), 6)), "a record policy never governs a recording");
        assert_eq!(record(&l), (None, None), "the record policy waits for a second admin");
        l.at(3, "user:a1", "retention.policy.approved", "policy/rec", json!({}));
        assert_eq!(record(&l).0, None, "not by the admin who set it");
        l.at(3, "user:a2", "retention.policy.approved", "policy/rec", json!({}));
        assert_eq!(record(&l).0, Some(("rec".into(), 11)), "from the meeting's scheduled time");
        let data = json!({ "org": null, "kind": null, "keep_days": 10, "class": "tapes" });
        l.at(3, "user:a1", "retention.policy.set", "policy/odd", data);
        assert_eq!(record(&l).0, Some(("rec".into(), 11)), "an unknown class governs nothing");

        // The judge: too early is unlawful; after the expiry, lawful; under a hold, unlawful.
        let shred = |l: &mut Ledger, day: i64| {
            let data = json!({ "policy": "rec", "objects": ["o1"] });
            l.at(day, "system", "record.shredded", "meeting/m3", data)
        };
        let verdicts = |l: &Ledger| {
            let judged = crate::deletion::judge(&Retention::replay(&l.0));
            judged.into_iter().filter(|d| d.class == Class::Record).map(|d| d.lawful).collect::<Vec<_>>()
        };
        let mut early = Ledger(l.0.clone());
        shred(&mut early, 5);
        assert_eq!(verdicts(&early), vec![false], "shredded before it expired");
        let mut held = Ledger(l.0.clone());
        let hold = json!({ "org_path": "/b/c1", "from": at(0), "to": at(2) });
        held.at(4, "user:a1", "hold.placed", "hold/h1", hold);
        shred(&mut held, 12);
        assert_eq!(verdicts(&held), vec![false], "shredded under a hold");
        shred(&mut l, 12);
        assert_eq!(verdicts(&l), vec![true]);
    }
}
