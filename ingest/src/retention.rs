//! Retention: policies, legal holds, and the enforcement that crypto-shreds
//! recordings whose time is up.
//!
//! A policy is a scope (an org subtree, or every org) × a meeting kind (or any) ×
//! a keep-for in days. The most specific policy that applies to a recording wins:
//! the deepest org, then a kind over "any", then the newest. A policy applies to a
//! recording sealed at or after its `applies_from`. A new policy for a slot
//! (org, kind) that keeps *longer* applies to everything at once; one that keeps
//! *shorter* applies only to recordings sealed from now on, until a second admin
//! approves it (four-eyes), after which it applies to older ones too.
//!
//! A hold (org subtree, date range, reason, case) stops every deletion of the
//! recordings it covers while it is active. Enforcement shreds each expired,
//! unheld recording through `Vault::shred`, citing its policy, and removes it from
//! the search index. The verifier re-judges every shred from the ledger alone
//! (`archive::deletion`), so the entries here carry what it needs.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::schema::{HoldId, OrgId, PolicyId};
use crate::App;
use archive::clock::{format_ts, parse_ts};
use archive::deletion::covers;
use archive::ledger::NewEntry;
use archive::vault::{Vault, VaultError};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

/// Far enough back that every recording was sealed after it.
const SINCE_ALWAYS: &str = "1970-01-01T00:00:00.000Z";

#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    pub id: String,
    pub org: Option<String>,
    pub org_path: Option<String>,
    pub kind: Option<String>,
    pub keep_days: u64,
    pub applies_from: String,
    /// A shortening that waits for a second admin before it touches older recordings.
    pub needs_approval: bool,
    pub approved_by: Option<String>,
    pub requested_by: String,
    pub requested_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Hold {
    pub id: String,
    pub org: String,
    pub org_path: String,
    pub from: String,
    pub to: String,
    pub reason: String,
    pub case_ref: String,
    pub placed_by: String,
    pub placed_at: String,
    pub released_at: Option<String>,
    pub release_reason: Option<String>,
}

pub fn list_policies(c: &rusqlite::Connection) -> Result<Vec<Policy>, ApiError> {
    let mut stmt = c.prepare(
        "SELECT p.id, p.org, o.path, p.kind, p.keep_days, p.applies_from, p.needs_approval, p.approved_by, p.requested_by, p.requested_at
         FROM retention_policies p LEFT JOIN orgs o ON o.id = p.org ORDER BY p.requested_at",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Policy {
            id: r.get(0)?,
            org: r.get(1)?,
            org_path: r.get(2)?,
            kind: r.get(3)?,
            keep_days: r.get(4)?,
            applies_from: r.get(5)?,
            needs_approval: r.get(6)?,
            approved_by: r.get(7)?,
            requested_by: r.get(8)?,
            requested_at: r.get(9)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn list_holds(c: &rusqlite::Connection) -> Result<Vec<Hold>, ApiError> {
    let mut stmt = c.prepare(
        "SELECT h.id, h.org, o.path, h.from_ts, h.to_ts, h.reason, h.case_ref, h.placed_by, h.placed_at, h.released_at, h.release_reason
         FROM holds h JOIN orgs o ON o.id = h.org ORDER BY h.placed_at",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Hold {
            id: r.get(0)?,
            org: r.get(1)?,
            org_path: r.get(2)?,
            from: r.get(3)?,
            to: r.get(4)?,
            reason: r.get(5)?,
            case_ref: r.get(6)?,
            placed_by: r.get(7)?,
            placed_at: r.get(8)?,
            released_at: r.get(9)?,
            release_reason: r.get(10)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPolicy {
    /// None: every org.
    pub org: Option<OrgId>,
    /// None: any kind.
    pub kind: Option<String>,
    pub keep_days: u64,
}

fn org_path(c: &rusqlite::Connection, org: &OrgId) -> Result<String, VaultError> {
    let path: Option<String> = c.query_row("SELECT path FROM orgs WHERE id = ?1", [org.to_string()], |r| r.get(0)).optional()?;
    path.ok_or_else(|| VaultError::Missing(format!("org {org} not found")))
}

/// Sets a policy for its slot; a shortening waits for approval for older recordings.
pub async fn set_policy(vault: &Vault, actor: &str, p: NewPolicy) -> Result<Policy, ApiError> {
    if let Some(k) = &p.kind {
        if !matches!(k.as_str(), "regular" | "thematic" | "conference") {
            return Err(ApiError::bad_request("kind must be regular, thematic or conference (or absent: any)"));
        }
    }
    if p.keep_days == 0 || p.keep_days > 365 * 200 {
        return Err(ApiError::bad_request("keep_days must be between 1 and 73000"));
    }
    let (org, kind) = (p.org.map(|o| o.to_string()), p.kind.clone());
    let (path, current): (Option<String>, Option<u64>) = vault
        .catalog
        .call(move |c| {
            let path = p.org.as_ref().map(|o| org_path(c, o)).transpose()?;
            let current: Option<u64> = c
                .query_row(
                    "SELECT keep_days FROM retention_policies WHERE org IS ?1 AND kind IS ?2 ORDER BY requested_at DESC LIMIT 1",
                    params![org, kind],
                    |r| r.get(0),
                )
                .optional()?;
            Ok::<_, VaultError>((path, current))
        })
        .await?;
    let shortening = current.is_some_and(|k| p.keep_days < k);
    let now = vault.now();
    let applies_from = if shortening { now.clone() } else { SINCE_ALWAYS.to_string() };
    let id = PolicyId::new();
    let policy = Policy {
        id: id.to_string(),
        org: p.org.map(|o| o.to_string()),
        org_path: path.clone(),
        kind: p.kind.clone(),
        keep_days: p.keep_days,
        applies_from: applies_from.clone(),
        needs_approval: shortening,
        approved_by: None,
        requested_by: actor.to_string(),
        requested_at: now.clone(),
    };
    let data = json!({ "org_path": path, "kind": p.kind, "keep_days": p.keep_days, "applies_from": applies_from, "needs_approval": shortening });
    let entry = NewEntry { actor: actor.into(), action: "retention.policy.set", subject: format!("policy/{id}"), data };
    let row = policy.clone();
    vault
        .commit(entry, move |tx| {
            tx.execute(
                "INSERT INTO retention_policies (id, org, kind, keep_days, applies_from, needs_approval, requested_by, requested_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![row.id, row.org, row.kind, row.keep_days, row.applies_from, row.needs_approval, row.requested_by, row.requested_at],
            )?;
            Ok(())
        })
        .await?;
    Ok(policy)
}

/// A second admin approves a shortening for recordings sealed before it.
pub async fn approve(vault: &Vault, who: &Principal, id: PolicyId) -> Result<(), ApiError> {
    let actor = who.actor();
    let now = vault.now();
    let entry = NewEntry { actor: actor.clone(), action: "retention.policy.approved", subject: format!("policy/{id}"), data: json!({}) };
    vault
        .commit(entry, move |tx| {
            let row: Option<(bool, Option<String>, String)> = tx
                .query_row("SELECT needs_approval, approved_by, requested_by FROM retention_policies WHERE id = ?1", [id.to_string()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            let (needs, approved, requested_by) = row.ok_or_else(|| VaultError::Missing(format!("policy {id} not found")))?;
            if !needs || approved.is_some() {
                return Err(VaultError::Conflict(format!("policy {id} needs no approval")));
            }
            if requested_by == actor {
                return Err(VaultError::Conflict("a second admin must approve: not the one who set it".into()));
            }
            tx.execute("UPDATE retention_policies SET approved_by = ?2, approved_at = ?3 WHERE id = ?1", params![id.to_string(), actor, now])?;
            Ok(())
        })
        .await?;
    Ok(())
}

/// One sealed recording as retention sees it.
struct Candidate {
    rec: String,
    meeting: String,
    org_path: String,
    kind: String,
    started_at: String,
    sealed_at: String,
}

/// A recording whose time is up by some date, and under which policy.
#[derive(Debug, Clone, Serialize)]
pub struct Expiry {
    pub recording: String,
    pub meeting: String,
    pub org_path: String,
    pub kind: String,
    pub policy: String,
    pub keep_days: u64,
    pub started_at: String,
    pub expires_at: String,
    /// The hold that keeps it, if any.
    pub held_by: Option<String>,
}

/// The policy governing `c`: the most specific that applies to it.
fn effective<'a>(policies: &'a [Policy], c: &Candidate) -> Option<&'a Policy> {
    policies
        .iter()
        .filter(|p| p.org_path.as_deref().is_none_or(|o| covers(o, &c.org_path)))
        .filter(|p| p.kind.as_deref().is_none_or(|k| k == c.kind))
        .filter(|p| p.applies_from <= c.sealed_at || p.approved_by.is_some())
        .max_by_key(|p| (p.org_path.as_deref().map_or(0, |o| o.matches('/').count()), p.kind.is_some(), p.requested_at.clone()))
}

/// Every sealed recording, oldest first.
fn candidates(c: &rusqlite::Connection) -> Result<Vec<Candidate>, ApiError> {
    let mut stmt = c.prepare(
        "SELECT r.id, m.id, o.path, m.kind, r.started_at, r.sealed_at FROM recordings r
         JOIN meetings m ON m.recording = r.id JOIN orgs o ON o.id = m.org
         WHERE r.state = 'sealed' AND r.sealed_at IS NOT NULL ORDER BY r.started_at",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Candidate { rec: r.get(0)?, meeting: r.get(1)?, org_path: r.get(2)?, kind: r.get(3)?, started_at: r.get(4)?, sealed_at: r.get(5)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What governs one recording: its policy and expiry (if any policy applies) and
/// the active hold covering it (if any).
struct Governed<'a> {
    policy: Option<(&'a Policy, OffsetDateTime)>,
    hold: Option<&'a Hold>,
}

fn governed<'a>(policies: &'a [Policy], active_holds: &'a [Hold], c: &Candidate) -> Result<Governed<'a>, ApiError> {
    let started = parse_ts(&c.started_at).map_err(ApiError::internal)?;
    let policy = effective(policies, c).map(|p| (p, started + time::Duration::days(p.keep_days as i64)));
    let hold = active_holds.iter().find(|h| covers(&h.org_path, &c.org_path) && h.from <= c.started_at && c.started_at < h.to);
    Ok(Governed { policy, hold })
}

fn active_holds(c: &rusqlite::Connection) -> Result<Vec<Hold>, ApiError> {
    Ok(list_holds(c)?.into_iter().filter(|h| h.released_at.is_none()).collect())
}

/// Everything that will have expired by `at`, with its policy and any hold.
pub fn preview(c: &rusqlite::Connection, at: OffsetDateTime) -> Result<Vec<Expiry>, ApiError> {
    let (policies, holds) = (list_policies(c)?, active_holds(c)?);
    let mut out = Vec::new();
    for cand in candidates(c)? {
        let g = governed(&policies, &holds, &cand)?;
        let Some((p, expires)) = g.policy.filter(|(_, expires)| *expires <= at) else { continue };
        out.push(Expiry {
            policy: p.id.clone(),
            keep_days: p.keep_days,
            expires_at: format_ts(expires),
            held_by: g.hold.map(|h| h.id.clone()),
            recording: cand.rec,
            meeting: cand.meeting,
            org_path: cand.org_path,
            kind: cand.kind,
            started_at: cand.started_at,
        });
    }
    Ok(out)
}

#[derive(Debug, Serialize)]
pub struct RunReport {
    pub dry_run: bool,
    pub at: String,
    pub shredded: Vec<Expiry>,
    pub held: Vec<Expiry>,
}

/// Shreds every recording that has expired by the vault's clock and no hold
/// covers, citing its policy; with `dry_run`, only says what it would do.
pub async fn run(vault: &Vault, index: Option<&std::sync::Arc<search::Index>>, dry_run: bool) -> Result<RunReport, ApiError> {
    let now = vault.clock.now();
    // A second of margin: the ledger's start time of a recording is a moment after
    // the catalog's, and the verifier judges expiry by the ledger.
    let due = vault.catalog.call(move |c| preview(c, now - time::Duration::seconds(1))).await?;
    let (held, due): (Vec<Expiry>, Vec<Expiry>) = due.into_iter().partition(|e| e.held_by.is_some());
    let mut report = RunReport { dry_run, at: format_ts(now), shredded: Vec::new(), held };
    for e in due {
        if !dry_run {
            let rec = e.recording.parse()?;
            let cause = json!({ "policy": e.policy, "org_path": e.org_path, "kind": e.kind, "keep_days": e.keep_days, "expires_at": e.expires_at });
            let done = vault.shred(&archive::ledger::actor_system(), rec, cause).await?;
            if let Some(index) = index {
                let index = index.clone();
                let r = e.recording.clone();
                tokio::task::spawn_blocking(move || index.remove(&r)).await.map_err(ApiError::internal)?.map_err(ApiError::internal)?;
            }
            tracing::info!(recording = %e.recording, policy = %e.policy, keys = done.keys_deleted, objects = done.objects_deleted, kept = done.objects_kept.len(), "shredded an expired recording");
        }
        report.shredded.push(e);
    }
    Ok(report)
}

/// Sets the config's default policy (every org, any kind) when it differs.
pub async fn ensure_default(vault: &Vault, keep_days: Option<u64>) -> Result<(), ApiError> {
    let Some(keep_days) = keep_days else { return Ok(()) };
    let current: Option<u64> = vault
        .catalog
        .call(|c| {
            c.query_row("SELECT keep_days FROM retention_policies WHERE org IS NULL AND kind IS NULL ORDER BY requested_at DESC LIMIT 1", [], |r| r.get(0))
                .optional()
                .map_err(VaultError::from)
        })
        .await?;
    if current != Some(keep_days) {
        set_policy(vault, &archive::ledger::actor_system(), NewPolicy { org: None, kind: None, keep_days }).await?;
        tracing::info!(keep_days, "default retention policy set from the config");
    }
    Ok(())
}

/// Runs enforcement at start and every `retention.run_every_hours`.
pub async fn run_worker(app: std::sync::Arc<App>) {
    let every = std::time::Duration::from_secs(app.config.retention.run_every_hours.max(1) * 3600);
    loop {
        match run(&app.vault, Some(&app.index.index), false).await {
            Ok(r) if !r.shredded.is_empty() || !r.held.is_empty() => tracing::info!(shredded = r.shredded.len(), held = r.held.len(), "retention run"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e.message, "retention run failed; retrying at the next run"),
        }
        tokio::time::sleep(every).await;
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewHold {
    pub org: OrgId,
    /// First day (YYYY-MM-DD, local) or instant (RFC 3339) of recordings held.
    pub from: String,
    /// Last day held (inclusive), or an instant (exclusive).
    pub to: String,
    pub reason: String,
    pub case_ref: String,
}

/// A date is local midnight; an instant is itself. `end` dates move to the next midnight.
pub fn when(s: &str, end: bool) -> Result<OffsetDateTime, ApiError> {
    if let Ok(t) = parse_ts(s) {
        return Ok(t);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s, format).map_err(|_| ApiError::bad_request(format!("{s:?} is neither a date (YYYY-MM-DD) nor an RFC 3339 time")))?;
    let t = d.midnight().assume_offset(crate::index::LOCAL_OFFSET);
    Ok(if end { t + time::Duration::days(1) } else { t })
}

pub async fn place_hold(vault: &Vault, actor: &str, h: NewHold) -> Result<Hold, ApiError> {
    let (from, to) = (format_ts(when(&h.from, false)?), format_ts(when(&h.to, true)?));
    if from >= to {
        return Err(ApiError::bad_request("a hold's range must end after it starts"));
    }
    if h.reason.trim().is_empty() || h.case_ref.trim().is_empty() {
        return Err(ApiError::bad_request("a hold needs a reason and a case reference"));
    }
    let org = h.org;
    let path = vault.catalog.call(move |c| org_path(c, &org)).await?;
    let id = HoldId::new();
    let now = vault.now();
    let hold = Hold {
        id: id.to_string(),
        org: h.org.to_string(),
        org_path: path.clone(),
        from,
        to,
        reason: h.reason.trim().to_string(),
        case_ref: h.case_ref.trim().to_string(),
        placed_by: actor.to_string(),
        placed_at: now,
        released_at: None,
        release_reason: None,
    };
    let data = json!({ "org_path": path, "from": hold.from, "to": hold.to, "case_ref": hold.case_ref, "reason": hold.reason });
    let entry = NewEntry { actor: actor.into(), action: "hold.placed", subject: format!("hold/{id}"), data };
    let row = hold.clone();
    vault
        .commit(entry, move |tx| {
            tx.execute(
                "INSERT INTO holds (id, org, from_ts, to_ts, reason, case_ref, placed_by, placed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![row.id, row.org, row.from, row.to, row.reason, row.case_ref, row.placed_by, row.placed_at],
            )?;
            Ok(())
        })
        .await?;
    Ok(hold)
}

pub async fn release_hold(vault: &Vault, actor: &str, id: HoldId, reason: &str) -> Result<(), ApiError> {
    if reason.trim().is_empty() {
        return Err(ApiError::bad_request("releasing a hold needs a reason"));
    }
    let (now, by, why) = (vault.now(), actor.to_string(), reason.trim().to_string());
    let entry = NewEntry { actor: actor.into(), action: "hold.released", subject: format!("hold/{id}"), data: json!({ "reason": why }) };
    vault
        .commit(entry, move |tx| {
            let n = tx.execute(
                "UPDATE holds SET released_by = ?2, released_at = ?3, release_reason = ?4 WHERE id = ?1 AND released_at IS NULL",
                params![id.to_string(), by, now, why],
            )?;
            if n == 0 {
                return Err(VaultError::Missing(format!("no active hold {id}")));
            }
            Ok(())
        })
        .await?;
    Ok(())
}

/// The Object Lock a sealed recording should carry, and what it carries now.
struct Lock {
    rec: String,
    retain_until: Option<String>,
    held: bool,
    current: Option<(Option<String>, bool)>,
}

fn wanted_locks(c: &rusqlite::Connection) -> Result<Vec<Lock>, ApiError> {
    let (policies, holds) = (list_policies(c)?, active_holds(c)?);
    let mut stmt = c.prepare("SELECT recording, retain_until, legal_hold FROM object_locks")?;
    let applied: std::collections::HashMap<String, (Option<String>, bool)> =
        stmt.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?.collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for cand in candidates(c)? {
        let g = governed(&policies, &holds, &cand)?;
        let retain_until = g.policy.map(|(_, expires)| format_ts(expires));
        let current = applied.get(&cand.rec).cloned();
        out.push(Lock { rec: cand.rec, retain_until, held: g.hold.is_some(), current });
    }
    Ok(out)
}

/// Brings the store's Object Lock on every sealed recording's chunks and manifest
/// in line with its policy and holds. Retention only ever grows (the store refuses
/// to shorten it); key objects and transcripts are never locked, so they stay
/// shreddable. Returns how many recordings changed.
pub async fn reconcile_locks(vault: &Vault, mode: archive::store::LockMode) -> Result<usize, ApiError> {
    let locks = vault.catalog.call(|c| wanted_locks(c)).await?;
    let mut changed = 0;
    for l in locks {
        let (cur_until, cur_held) = l.current.clone().unwrap_or((None, false));
        let until = match (&l.retain_until, &cur_until) {
            (Some(w), Some(c)) if w > c => Some(w.clone()),
            (Some(w), None) => Some(w.clone()),
            _ => None,
        };
        if until.is_none() && l.held == cur_held && l.current.is_some() {
            continue;
        }
        let rec: archive::id::RecordingId = l.rec.parse()?;
        for meta in vault.store.list(&format!("recordings/{rec}/")).await.map_err(ApiError::unavailable)? {
            let key = match archive::layout::ObjectKey::classify(&meta.key) {
                archive::layout::ObjectKind::Chunk(r, s, i) if r == rec => archive::layout::ObjectKey::chunk(rec, s, i),
                archive::layout::ObjectKind::Manifest(r) if r == rec => archive::layout::ObjectKey::manifest(rec),
                _ => continue,
            };
            if let Some(u) = &until {
                vault.store.retain(&key, parse_ts(u).map_err(ApiError::internal)?, mode).await.map_err(ApiError::unavailable)?;
            }
            if l.held != cur_held {
                vault.store.legal_hold(&key, l.held).await.map_err(ApiError::unavailable)?;
            }
        }
        let (r, now, kept) = (l.rec.clone(), vault.now(), until.or(cur_until));
        vault
            .catalog
            .call(move |c| {
                c.execute(
                    "INSERT INTO object_locks (recording, retain_until, legal_hold, applied_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (recording) DO UPDATE SET retain_until = ?2, legal_hold = ?3, applied_at = ?4",
                    params![r, kept, l.held, now],
                )
                .map_err(ApiError::from)
            })
            .await?;
        changed += 1;
    }
    Ok(changed)
}

/// Reconciles Object Lock when woken (a seal, a policy, a hold) and every 10 minutes.
pub async fn lock_worker(app: std::sync::Arc<App>) {
    loop {
        let notified = app.locks.notified();
        match reconcile_locks(&app.vault, app.config.store.object_lock_mode).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(recordings = n, "Object Lock applied"),
            Err(e) => tracing::warn!(error = %e.message, "applying Object Lock failed; retrying"),
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(600), notified).await;
    }
}
