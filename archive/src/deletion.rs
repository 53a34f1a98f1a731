//! Whether a shred was lawful, judged from the ledger alone.
//!
//! A `recording.shredded` entry is lawful only if all of these hold, where "what
//! governed it" is replayed by [`crate::retention`] from the entries before the
//! shred, never read from the shred entry's own claims:
//! 1. the recording was sealed before it was shredded, its org and meeting are in
//!    the ledger, and the meeting belongs to the recording's org;
//! 2. the policy it cites is the policy that governed it (the most specific one in
//!    force for it, with four-eyes applied: a later shortening counts only once a
//!    second admin approved it);
//! 3. it had expired under that policy: started + keep-for ≤ the shred's time;
//! 4. no legal hold covered it at the shred;
//! 5. it is the recording's first shred entry.
//!
//! A meeting's record (class `record`) is judged by the same rules, its
//! `record.shredded` entry against the record policies, from the meeting's
//! scheduled time (see [`crate::retention`]).
//!
//! The verifier passes only entries a signed checkpoint covers: whoever can write
//! the store can append well-formed entries, but cannot sign them.

use crate::retention::{Class, Recording, Retention};
use time::OffsetDateTime;

pub use crate::retention::covers;

/// The verdict on one shredded recording.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Deletion {
    /// The recording's id, or for the record the meeting's.
    pub recording: String,
    /// `media` (a recording) or `record` (a meeting's record).
    pub class: Class,
    pub lawful: bool,
    /// Why: the policy and dates when lawful, the broken rule when not.
    pub reason: String,
}

/// Judges every shred `model` holds (replayed from the signed ledger).
pub fn judge(model: &Retention) -> Vec<Deletion> {
    let mut out = Vec::new();
    for r in model.recordings.values().chain(model.records.values()) {
        for (i, (seq, ts, cited)) in r.shreds.iter().enumerate() {
            let verdict = if i > 0 && r.class == Class::Media {
                Err(format!("shredded again at entry {seq}: a recording is shredded once"))
            } else {
                lawful(model, r, *seq, *ts, cited.as_deref())
            };
            let (lawful, reason) = match verdict {
                Ok(why) => (true, why),
                Err(why) => (false, why),
            };
            out.push(Deletion { recording: r.id.clone(), class: r.class, lawful, reason });
        }
    }
    out
}

fn lawful(
    model: &Retention,
    r: &Recording,
    seq: u64,
    at: OffsetDateTime,
    cited: Option<&str>,
) -> Result<String, String> {
    if r.sealed_seq.is_none_or(|s| s > seq) {
        return Err("shredded, but it was never sealed before".into());
    }
    if r.org_path.is_none() {
        return Err(format!("its org {} is not in the ledger", r.org));
    }
    match r.meeting_org.as_deref() {
        None => return Err(format!("its meeting {} is not in the ledger", r.meeting)),
        Some(org) if org != r.org => {
            return Err(format!("its meeting belongs to org {org}, the recording to org {}", r.org))
        }
        Some(_) => {}
    }
    let g = model.governed(r, seq);
    let Some((p, expires)) = g.policy else {
        return Err("no retention policy governed it: it was to be kept".into());
    };
    let cited = cited.ok_or("the shred cites no policy")?;
    if cited != p.id {
        if let Some(q) = g.pending.iter().find(|q| q.id == cited) {
            let why: Vec<String> = model
                .approval_verdicts(q)
                .into_iter()
                .filter_map(|(s, actor, v)| v.err().map(|e| format!("approval at entry {s} by {actor}: {e}")))
                .collect();
            let why = if why.is_empty() { "none recorded".to_string() } else { why.join("; ") };
            return Err(format!(
                "cites policy {cited}, which would shorten what it keeps and no second admin approved it \
                 (approvals: {why}); policy {} governed it",
                p.id
            ));
        }
        return Err(format!("cites policy {cited}, but policy {} governed it", p.id));
    }
    if expires > at {
        return Err(format!("shredded at {at} before it expired at {expires} under policy {cited}"));
    }
    if let Some(h) = g.hold {
        return Err(format!("shredded while hold {} covered it", h.id));
    }
    Ok(format!(
        "shredded under policy {cited} (keep {} days): started {}, expired {expires}, shredded {at}",
        p.keep_days, r.started
    ))
}
