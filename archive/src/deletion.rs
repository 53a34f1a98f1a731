//! The retention rules the verifier judges a shred by, from the ledger alone.
//!
//! A `recording.shredded` entry is lawful only if all of these hold:
//! 1. the policy it cites was set (`retention.policy.set`, subject `policy/<id>`)
//!    before the shred, with the same keep-for duration;
//! 2. the policy's scope (an org path, or every org) covers the recording's org, and
//!    its kind (or any) is the meeting's — the org path must end with the org the
//!    `recording.started` entry named;
//! 3. the policy applied to the recording: it was in force when the recording was
//!    sealed (`applies_from`), or a second admin approved it for older recordings
//!    (`retention.policy.approved`) before the shred;
//! 4. the recording had expired: started + keep-for ≤ the shred's time;
//! 5. no legal hold covered it at the shred: no `hold.placed` before the shred,
//!    not released before it, whose org path covers the recording's and whose
//!    `[from, to)` contains the recording's start.
//!
//! Entries (data fields):
//! - `retention.policy.set`: `org_path` (or null), `kind` (or null), `keep_days`,
//!   `applies_from` (RFC 3339);
//! - `retention.policy.approved`: none;
//! - `hold.placed`: `org_path`, `from`, `to` (RFC 3339); `hold.released`: none;
//! - `recording.shredded`: `policy`, `org_path`, `kind`, `keep_days`.

use crate::clock::parse_ts;
use crate::ledger::Entry;
use std::collections::HashMap;
use time::OffsetDateTime;

/// The verdict on one shredded recording.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Deletion {
    pub recording: String,
    pub lawful: bool,
    /// Why: the policy and dates when lawful, the broken rule when not.
    pub reason: String,
}

struct Policy {
    seq: u64,
    org_path: Option<String>,
    kind: Option<String>,
    keep_days: u64,
    applies_from: OffsetDateTime,
    approved_seq: Option<u64>,
}

struct Hold {
    id: String,
    seq: u64,
    org_path: String,
    from: OffsetDateTime,
    to: OffsetDateTime,
    released_seq: Option<u64>,
}

/// Per recording: started (seq, ts, org id), sealed ts, shred entry.
#[derive(Default)]
struct Life<'a> {
    started: Option<(OffsetDateTime, String)>,
    sealed: Option<OffsetDateTime>,
    /// Every shred entry: the vault writes one; more are suspect, each judged.
    shreds: Vec<&'a Entry>,
}

/// Judges every shred in `entries` (the whole ledger, in order).
pub fn judge(entries: &[Entry]) -> Vec<Deletion> {
    let mut policies: HashMap<String, Policy> = HashMap::new();
    let mut holds: Vec<Hold> = Vec::new();
    let mut lives: HashMap<String, Life<'_>> = HashMap::new();
    for e in entries {
        let (kind, id) = e.subject.split_once('/').unwrap_or(("", ""));
        match (e.action.as_str(), kind) {
            ("retention.policy.set", "policy") => {
                if let Some(p) = policy(e) {
                    policies.insert(id.to_string(), p);
                }
            }
            ("retention.policy.approved", "policy") => {
                if let Some(p) = policies.get_mut(id) {
                    p.approved_seq.get_or_insert(e.seq);
                }
            }
            ("hold.placed", "hold") => holds.extend(hold(e, id)),
            ("hold.released", "hold") => {
                if let Some(h) = holds.iter_mut().find(|h| h.id == id) {
                    h.released_seq.get_or_insert(e.seq);
                }
            }
            ("recording.started", "recording") => {
                let org = e.data["org"].as_str().unwrap_or_default().to_string();
                lives.entry(id.to_string()).or_default().started = parse_ts(&e.ts).ok().map(|t| (t, org));
            }
            ("recording.sealed", "recording") => lives.entry(id.to_string()).or_default().sealed = parse_ts(&e.ts).ok(),
            ("recording.shredded", "recording") => lives.entry(id.to_string()).or_default().shreds.push(e),
            _ => {}
        }
    }
    let mut out: Vec<Deletion> = lives
        .iter()
        .flat_map(|(rec, life)| {
            life.shreds.iter().enumerate().map(|(i, shred)| {
                let verdict = if i > 0 { Err(format!("shredded again at entry {}: a recording is shredded once", shred.seq)) } else { lawful(life, shred, &policies, &holds) };
                Deletion { recording: rec.clone(), lawful: verdict.is_ok(), reason: verdict.unwrap_or_else(|e| e) }
            })
        })
        .collect();
    out.sort_by(|a, b| a.recording.cmp(&b.recording));
    out
}

fn policy(e: &Entry) -> Option<Policy> {
    Some(Policy {
        seq: e.seq,
        org_path: e.data["org_path"].as_str().map(String::from),
        kind: e.data["kind"].as_str().map(String::from),
        keep_days: e.data["keep_days"].as_u64()?,
        applies_from: parse_ts(e.data["applies_from"].as_str()?).ok()?,
        approved_seq: None,
    })
}

fn hold(e: &Entry, id: &str) -> Option<Hold> {
    Some(Hold {
        id: id.to_string(),
        seq: e.seq,
        org_path: e.data["org_path"].as_str()?.to_string(),
        from: parse_ts(e.data["from"].as_str()?).ok()?,
        to: parse_ts(e.data["to"].as_str()?).ok()?,
        released_seq: None,
    })
}

/// Org paths (`/bloc/base/cell`): `inner` is `outer` or lies under it. The one
/// subtree test, shared by the verifier, retention and scopes.
pub fn covers(outer: &str, inner: &str) -> bool {
    inner == outer || inner.strip_prefix(outer).is_some_and(|rest| rest.starts_with('/'))
}

fn lawful(life: &Life<'_>, shred: &Entry, policies: &HashMap<String, Policy>, holds: &[Hold]) -> Result<String, String> {
    let (started, org) = life.started.clone().ok_or("shredded, but its start is not in the ledger")?;
    let sealed = life.sealed.ok_or("shredded, but it was never sealed")?;
    let at = parse_ts(&shred.ts).map_err(|_| "the shred entry's time does not parse")?;
    let cited = shred.data["policy"].as_str().ok_or("the shred cites no policy")?;
    let p = policies.get(cited).filter(|p| p.seq < shred.seq).ok_or_else(|| format!("cites policy {cited}, which the ledger does not show before the shred"))?;
    let org_path = shred.data["org_path"].as_str().unwrap_or_default();
    if !org_path.ends_with(&format!("/{org}")) {
        return Err(format!("names org path {org_path:?}, but the recording belongs to org {org}"));
    }
    if let Some(scope) = &p.org_path {
        if !covers(scope, org_path) {
            return Err(format!("policy {cited} covers {scope}, not this recording's org"));
        }
    }
    if let Some(kind) = &p.kind {
        if shred.data["kind"].as_str() != Some(kind.as_str()) {
            return Err(format!("policy {cited} is for {kind} meetings only"));
        }
    }
    if shred.data["keep_days"].as_u64() != Some(p.keep_days) {
        return Err(format!("claims a keep-for other than policy {cited}'s {} days", p.keep_days));
    }
    if p.applies_from > sealed && p.approved_seq.is_none_or(|s| s >= shred.seq) {
        return Err(format!("policy {cited} applies to recordings sealed from {}; this one was sealed before and no second admin approved it", p.applies_from));
    }
    let expires = started + time::Duration::days(p.keep_days as i64);
    if expires > at {
        return Err(format!("shredded at {at} before it expired at {expires}"));
    }
    if let Some(h) = holds.iter().find(|h| h.seq < shred.seq && h.released_seq.is_none_or(|r| r > shred.seq) && covers(&h.org_path, org_path) && h.from <= started && started < h.to) {
        return Err(format!("shredded while hold {} covered it", h.id));
    }
    Ok(format!("shredded under policy {cited} (keep {} days): started {started}, expired {expires}, shredded {at}", p.keep_days))
}
