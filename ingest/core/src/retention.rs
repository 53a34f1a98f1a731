//! Retention: policies, legal holds, and the enforcement that crypto-shreds
//! recordings whose time is up.
//!
//! What governs a recording (its policy, its expiry, a hold, and whether a later
//! policy waits for a second admin) is never computed here: it is
//! [`archive::retention`]'s model, replayed from this catalog's ledger, the same
//! code the verifier judges every shred with. So the rule that deletes and the
//! rule that judges the deletion are one.
//!
//! Four-eyes: a policy that would make any existing sealed recording expire
//! earlier (a shortening, a more specific org or kind, a changed default, or any
//! sequence of these) takes effect for those recordings only once an admin other
//! than the requester, who was an admin when it was requested, approves it within
//! `approvals.expire_days`. New recordings follow the newest policies at once.
//!
//! Two classes (see [`archive::retention`]): media policies govern recordings
//! and transcripts; record policies govern a meeting's record (attendance,
//! documents, minutes, evaluations), which is kept permanently unless one does,
//! and which every record policy therefore shortens: each waits for a second
//! admin. An expired record is crypto-shredded object by object: one
//! `record.shredded` entry naming the objects and the policy, committed with
//! the catalog forgetting them, then every object's key deleted, then its pieces.
//!
//! A hold (org subtree, date range, reason, case) stops every deletion of the
//! recordings it covers while it is active. Enforcement shreds each expired,
//! unheld recording through `Vault::shred`, which re-checks, inside the shred's
//! own transaction, that it is still expired and unheld.

use crate::catalog::{self, PolicyRow, Repo};
use crate::error::DomainError;
use crate::local_time::instant;
use crate::principal::{Principal, Role};
use crate::schema::{HoldId, OrgId, PolicyId};
use crate::App;
use archive::clock::{format_ts, parse_ts};
use archive::ledger::NewEntry;
use archive::retention::{Class, Retention};
use archive::vault::{Vault, VaultError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    pub id: String,
    /// `media` (recordings, transcripts) or `record` (the meeting record).
    pub class: String,
    pub org: Option<String>,
    pub org_path: Option<String>,
    pub kind: Option<String>,
    pub keep_days: u64,
    /// It would make sealed recordings expire earlier, and waits for a second admin.
    pub needs_approval: bool,
    /// How many sealed recordings it would shorten, if approved.
    pub pending_for: usize,
    /// The admin whose approval counts, if one did.
    pub approved_by: Option<String>,
    pub requested_by: String,
    pub requested_at: String,
    /// After this, an approval no longer counts (RFC 3339), if it was set.
    pub approve_before: Option<String>,
}

pub use crate::catalog::Hold;

/// The retention model, replayed from the catalog's ledger.
pub fn model(repo: &dyn Repo) -> Result<Retention, DomainError> {
    Ok(repo.retention_model()?)
}

pub fn list_policies(repo: &dyn Repo) -> Result<Vec<Policy>, DomainError> {
    let m = model(repo)?;
    let mut pending: std::collections::HashMap<&str, usize> = Default::default();
    let with_record = meetings_with_record(repo)?;
    let records = m.records.values().filter(|r| with_record.contains(&r.id));
    for r in m.recordings.values().filter(|r| r.sealed_seq.is_some() && r.shreds.is_empty()).chain(records) {
        for p in m.governed(r, u64::MAX).pending {
            *pending.entry(p.id.as_str()).or_default() += 1;
        }
    }
    let mut out = Vec::new();
    for row in repo.policies()? {
        let PolicyRow { id, org, org_path, kind, keep_days, class, requested_by, requested_at } = row;
        let ledgered = m.policy(&id);
        let approved_by = ledgered
            .and_then(|p| m.approval(p).and_then(|seq| p.approvals.iter().find(|a| a.0 == seq)))
            .map(|a| a.2.clone());
        let pending_for = pending.get(id.as_str()).copied().unwrap_or(0);
        out.push(Policy {
            needs_approval: pending_for > 0,
            pending_for,
            approved_by,
            approve_before: ledgered.and_then(|p| p.approve_before).map(format_ts),
            id,
            class,
            org,
            org_path,
            kind,
            keep_days,
            requested_by,
            requested_at,
        });
    }
    Ok(out)
}

/// The meetings that still have record objects.
fn meetings_with_record(repo: &dyn Repo) -> Result<std::collections::BTreeSet<String>, DomainError> {
    Ok(repo.record_objects()?.into_iter().map(|(m, _)| m).collect())
}

pub fn list_holds(repo: &dyn Repo) -> Result<Vec<Hold>, DomainError> {
    Ok(repo.holds()?)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPolicy {
    /// None: every org.
    pub org: Option<OrgId>,
    /// None: any kind.
    pub kind: Option<String>,
    pub keep_days: u64,
    /// `media` (the default) or `record`.
    #[serde(default)]
    pub class: Option<String>,
}

fn org_path(repo: &dyn Repo, org: &OrgId) -> Result<String, VaultError> {
    let path = repo.org_path(*org)?;
    path.ok_or_else(|| VaultError::Missing(format!("org {org} not found")))
}

/// Sets a policy. What it would shorten waits for a second admin (see the module doc).
pub async fn set_policy(vault: &Vault, actor: &str, p: NewPolicy, expire_days: u64) -> Result<Policy, DomainError> {
    if let Some(k) = &p.kind {
        if !crate::orgs::MEETING_KINDS.contains(&k.as_str()) {
            return Err(DomainError::invalid(
                "kind must be regular, thematic, conference or committee (or absent: any)",
            ));
        }
    }
    let class = Class::of(p.class.as_deref()).ok_or_else(|| {
        DomainError::invalid("class must be media (recordings, transcripts) or record (the meeting record)")
    })?;
    if p.keep_days == 0 || p.keep_days > 365 * 200 {
        return Err(DomainError::invalid("keep_days must be between 1 and 73000"));
    }
    let org = p.org;
    let path = match org {
        Some(o) => Some(catalog::read(&vault.catalog, move |repo| org_path(repo, &o)).await?),
        None => None,
    };
    let now = vault.clock.now();
    let approve_before = format_ts(now + time::Duration::days(expire_days.max(1) as i64));
    let id = PolicyId::new();
    let data = json!({
        "org": org.map(|o| o.to_string()), "org_path": path, "kind": p.kind, "keep_days": p.keep_days,
        "approve_before": approve_before, "class": class.as_str(),
    });
    let entry = NewEntry { actor: actor.into(), action: "retention.policy.set", subject: format!("policy/{id}"), data };
    let row = PolicyRow {
        id: id.to_string(),
        org: org.map(|o| o.to_string()),
        org_path: None,
        kind: p.kind.clone(),
        keep_days: p.keep_days,
        class: class.as_str().to_string(),
        requested_by: actor.to_string(),
        requested_at: format_ts(now),
    };
    catalog::commit(vault, entry, move |repo| Ok::<_, VaultError>(repo.insert_policy(&row)?)).await?;
    let all = catalog::read(&vault.catalog, |repo| list_policies(repo)).await?;
    all.into_iter()
        .find(|x| x.id == id.to_string())
        .ok_or_else(|| DomainError::internal("a policy just set is not listed"))
}

/// A second admin approves what a policy would shorten.
pub async fn approve(vault: &Vault, who: &Principal, id: PolicyId) -> Result<(), DomainError> {
    if who.role != Role::Admin {
        return Err(DomainError::forbidden("only an admin approves a retention policy"));
    }
    let actor = who.actor();
    let now = vault.now();
    let entry = NewEntry {
        actor: actor.clone(),
        action: "retention.policy.approved",
        subject: format!("policy/{id}"),
        data: json!({}),
    };
    catalog::commit(vault, entry, move |repo| {
        let m = model(repo).map_err(|e| VaultError::Conflict(e.to_string()))?;
        let p = m.policy(&id.to_string()).ok_or_else(|| VaultError::Missing(format!("policy {id} not found")))?;
        check_approval(&m, p, &actor, parse_ts(&now).unwrap_or(OffsetDateTime::UNIX_EPOCH))?;
        Ok::<_, VaultError>(repo.approve_policy(&id.to_string(), &actor, &now)?)
    })
    .await?;
    Ok(())
}

/// Whether `actor` may approve `p` now: the same rules the verifier applies.
fn check_approval(
    m: &Retention,
    p: &archive::retention::Policy,
    actor: &str,
    now: OffsetDateTime,
) -> Result<(), VaultError> {
    let head = u64::MAX;
    if m.approval(p).is_some() {
        return Err(VaultError::Conflict(format!("policy {} is already approved", p.id)));
    }
    let waiting = m
        .recordings
        .values()
        .filter(|r| r.sealed_seq.is_some() && r.shreds.is_empty())
        .chain(m.records.values())
        .any(|r| m.governed(r, head).pending.iter().any(|q| q.id == p.id));
    if !waiting {
        return Err(VaultError::Conflict(format!(
            "policy {} shortens no sealed recording or meeting record: it needs no approval",
            p.id
        )));
    }
    if actor == p.actor {
        return Err(VaultError::Forbidden("a second admin must approve: not the one who set it".into()));
    }
    if !m.admins.is_admin_at(actor, p.seq) {
        return Err(VaultError::Forbidden(
            "only an admin who was an admin when the policy was set may approve it".into(),
        ));
    }
    if p.approve_before.is_some_and(|d| now >= d) {
        return Err(VaultError::Conflict(format!("the request expired; set policy {} again to ask anew", p.id)));
    }
    Ok(())
}

/// A recording, or a meeting's record, whose time is up by some date, and
/// under which policy.
#[derive(Debug, Clone, Serialize)]
pub struct Expiry {
    /// `media`: a recording; `record`: the meeting's record objects.
    pub class: Class,
    /// The recording (empty for a record).
    pub recording: String,
    /// The record objects to shred (a record only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<archive::id::RecordObjectId>,
    pub meeting: String,
    pub org_path: String,
    pub kind: String,
    pub policy: String,
    pub keep_days: u64,
    pub started_at: String,
    pub expires_at: String,
    /// The hold that keeps it, if any.
    pub held_by: Option<String>,
    /// Policies that would shorten it further and wait for a second admin.
    pub waiting: Vec<String>,
}

/// Everything that will have expired by `at`, with its policy and any hold.
pub fn preview(repo: &dyn Repo, at: OffsetDateTime) -> Result<Vec<Expiry>, DomainError> {
    let m = model(repo)?;
    let mut out: Vec<Expiry> = m
        .recordings
        .values()
        .filter(|r| r.sealed_seq.is_some() && r.shreds.is_empty())
        .filter_map(|r| expiry(&m, r).filter(|(_, t)| *t <= at).map(|(e, _)| e))
        .collect();
    let mut objects: std::collections::BTreeMap<String, Vec<archive::id::RecordObjectId>> = Default::default();
    for (meeting, object) in repo.record_objects()? {
        objects.entry(meeting).or_default().push(object);
    }
    for (meeting, objects) in objects {
        let Some(r) = m.records.get(&meeting) else { continue };
        if let Some((mut e, _)) = expiry(&m, r).filter(|(_, t)| *t <= at) {
            e.recording.clear();
            e.objects = objects;
            out.push(e);
        }
    }
    out.sort_by(|a, b| (&a.started_at, &a.recording, &a.meeting).cmp(&(&b.started_at, &b.recording, &b.meeting)));
    Ok(out)
}

/// What governs `r` now, if a policy does.
fn expiry(m: &Retention, r: &archive::retention::Recording) -> Option<(Expiry, OffsetDateTime)> {
    let g = m.governed(r, u64::MAX);
    let (p, expires) = g.policy?;
    let e = Expiry {
        class: r.class,
        objects: Vec::new(),
        recording: r.id.clone(),
        meeting: r.meeting.clone(),
        org_path: r.org_path.clone().unwrap_or_default(),
        kind: r.kind.clone().unwrap_or_default(),
        policy: p.id.clone(),
        keep_days: p.keep_days,
        started_at: format_ts(r.started),
        expires_at: format_ts(expires),
        held_by: g.hold.map(|h| h.id.clone()),
        waiting: g.pending.iter().map(|q| q.id.clone()).collect(),
    };
    Some((e, expires))
}

#[derive(Debug, Serialize)]
pub struct RunReport {
    pub dry_run: bool,
    pub at: String,
    pub shredded: Vec<Expiry>,
    pub held: Vec<Expiry>,
    /// Shreds a crash or an outage had cut off, finished by this run.
    pub resumed: usize,
}

/// Shreds every recording that has expired by the vault's clock and no hold
/// covers, citing its policy; with `dry_run`, only says what it would do.
pub async fn run(
    vault: &Vault,
    index: Option<&std::sync::Arc<search::Index>>,
    dry_run: bool,
) -> Result<RunReport, DomainError> {
    let resumed = if dry_run { 0 } else { vault.resume_shreds().await?.len() };
    let now = vault.clock.now();
    let (due, head) =
        catalog::read(&vault.catalog, move |repo| Ok::<_, DomainError>((preview(repo, now)?, repo.retention_head()?)))
            .await?;
    let (held, due): (Vec<Expiry>, Vec<Expiry>) = due.into_iter().partition(|e| e.held_by.is_some());
    let (records, due): (Vec<Expiry>, Vec<Expiry>) = due.into_iter().partition(|e| e.class == Class::Record);
    let resumed = resumed + if dry_run { 0 } else { resume_record_shreds(vault).await? };
    let mut report = RunReport { dry_run, at: format_ts(now), shredded: Vec::new(), held, resumed };
    for e in records {
        if dry_run || shred_record(vault, &e, head).await? {
            report.shredded.push(e);
        }
    }
    for e in due {
        if !dry_run {
            let rec = e.recording.parse()?;
            let cause = json!({ "policy": e.policy, "org_path": e.org_path, "kind": e.kind, "keep_days": e.keep_days, "expires_at": e.expires_at });
            let done = match vault
                .shred(
                    &archive::ledger::actor_system(),
                    rec,
                    cause,
                    still_due(e.recording.clone(), e.policy.clone(), head),
                )
                .await
            {
                Ok(done) => done,
                Err(VaultError::Conflict(why)) => {
                    tracing::info!(recording = %e.recording, %why, "not shredded: the rules changed during the run");
                    continue;
                }
                Err(err) => return Err(err.into()),
            };
            if let Some(index) = index {
                let index = index.clone();
                let r = e.recording.clone();
                // Removed and merged away, so no index file keeps its words; if
                // that fails, the indexing worker's next pass shreds it again.
                match tokio::task::spawn_blocking(move || index.shred(&r)).await.map_err(DomainError::internal)? {
                    Ok(()) => {}
                    Err(err) => {
                        tracing::warn!(recording = %e.recording, error = %err, "the shredded recording is still in the search index; the indexing worker retries")
                    }
                }
            }
            tracing::info!(recording = %e.recording, policy = %e.policy, keys = done.keys_deleted, objects = done.objects_deleted, kept = done.objects_kept.len(), "shredded an expired recording");
        }
        report.shredded.push(e);
    }
    Ok(report)
}

/// The re-check inside the shred's transaction: the ledger as it stands there
/// still says `rec` is governed by `policy`, expired, and unheld. If no entry the
/// model reads was added since the run looked (`head`), the run's answer stands.
fn still_due(rec: String, policy: String, head: Option<u64>) -> archive::shred::Check {
    Box::new(catalog::in_tx(move |repo| {
        governed_by(repo, &rec, &policy, head)?;
        // A worker granted this recording's keys for its transcription holds
        // them no longer in the catalog once the recording is shredded.
        let id = rec.parse().map_err(|_| VaultError::Conflict(format!("a malformed recording id {rec}")))?;
        repo.forget_grants(id)?;
        Ok(())
    }))
}

/// Whether `policy` still governs `rec` with no hold on it: unchanged since
/// the run read the rules (`head`), or re-read now.
fn governed_by(repo: &dyn Repo, rec: &str, policy: &str, head: Option<u64>) -> Result<(), VaultError> {
    if repo.retention_head()? == head {
        return Ok(());
    }
    let m = model(repo).map_err(|e| VaultError::Conflict(e.to_string()))?;
    let r =
        m.recordings.get(rec).ok_or_else(|| VaultError::Conflict(format!("recording {rec} is not in the ledger")))?;
    let g = m.governed(r, u64::MAX);
    match g.policy {
        _ if g.hold.is_some() => Err(VaultError::Conflict(format!("recording {rec} is now held"))),
        Some((p, _)) if p.id == policy => Ok(()),
        _ => Err(VaultError::Conflict(format!("policy {policy} no longer governs recording {rec}"))),
    }
}

/// Shreds an expired meeting record: the `record.shredded` entry (citing the
/// policy, naming the objects) commits with the catalog forgetting them, after
/// the same re-check as a recording's; then every object's key goes, then its
/// pieces. False if the rules changed meanwhile (nothing is shredded).
async fn shred_record(vault: &Vault, e: &Expiry, head: Option<u64>) -> Result<bool, DomainError> {
    let data = json!({
        "policy": e.policy, "objects": e.objects, "org_path": e.org_path, "kind": e.kind,
        "keep_days": e.keep_days, "expires_at": e.expires_at,
    });
    let entry = NewEntry {
        actor: archive::ledger::actor_system(),
        action: "record.shredded",
        subject: format!("meeting/{}", e.meeting),
        data,
    };
    let (meeting, policy, objects) = (e.meeting.clone(), e.policy.clone(), e.objects.clone());
    let committed = catalog::commit(vault, entry, move |repo| {
        if repo.retention_head()? != head {
            let m = model(repo).map_err(|e| VaultError::Conflict(e.to_string()))?;
            let r = m
                .records
                .get(&meeting)
                .ok_or_else(|| VaultError::Conflict(format!("meeting {meeting} is not in the ledger")))?;
            let g = m.governed(r, u64::MAX);
            match g.policy {
                _ if g.hold.is_some() => {
                    return Err(VaultError::Conflict(format!("the record of {meeting} is now held")))
                }
                Some((p, _)) if p.id == policy => {}
                _ => {
                    return Err(VaultError::Conflict(format!(
                        "policy {policy} no longer governs the record of {meeting}"
                    )))
                }
            }
        }
        Ok::<_, VaultError>(repo.forget_record_objects(&meeting, &objects)?)
    })
    .await;
    match committed {
        Ok(_) => {}
        Err(VaultError::Conflict(why)) => {
            tracing::info!(meeting = %e.meeting, %why, "record not shredded: the rules changed during the run");
            return Ok(false);
        }
        Err(err) => return Err(err.into()),
    }
    let (keys, kept) = vault.shred_record_objects(&e.meeting, &e.objects).await?;
    tracing::info!(meeting = %e.meeting, policy = %e.policy, keys, kept, "shredded an expired meeting record");
    Ok(true)
}

/// Finishes record shreds a crash or an outage cut off after their entry
/// committed: any named object whose key is still in the store.
async fn resume_record_shreds(vault: &Vault) -> Result<usize, DomainError> {
    let entries = catalog::read(&vault.catalog, |repo| {
        Ok::<_, DomainError>(repo.entries(Some("record.shredded"), u64::MAX, u32::MAX as u64)?)
    })
    .await?;
    let mut resumed = 0;
    for e in entries {
        let Some(meeting) = e.subject.strip_prefix("meeting/") else { continue };
        let objects: Vec<archive::id::RecordObjectId> =
            serde_json::from_value(e.data.get("objects").cloned().unwrap_or_default()).unwrap_or_default();
        if vault.record_keys_left(meeting, &objects).await? {
            vault.shred_record_objects(meeting, &objects).await?;
            resumed += 1;
        }
    }
    Ok(resumed)
}

/// Sets the config's default policy (every org, any kind) when it differs. The
/// config is the host's: any admin may approve what it would shorten.
pub async fn ensure_default(vault: &Vault, keep_days: Option<u64>, expire_days: u64) -> Result<(), DomainError> {
    let Some(keep_days) = keep_days else { return Ok(()) };
    let current = catalog::read(&vault.catalog, |repo| Ok::<_, VaultError>(repo.default_keep_days()?)).await?;
    if current != Some(keep_days) {
        let p = set_policy(
            vault,
            archive::ledger::ACTOR_HOST,
            NewPolicy { org: None, kind: None, keep_days, class: None },
            expire_days,
        )
        .await?;
        tracing::info!(keep_days, waiting_for_approval = p.pending_for, "default retention policy set from the config");
    }
    Ok(())
}

/// Runs enforcement at start and every `retention.run_every_hours`.
pub async fn run_worker(app: std::sync::Arc<App>) {
    let every = std::time::Duration::from_secs(app.config.retention.run_every_hours.max(1) * 3600);
    loop {
        match run(&app.vault, Some(&app.index.index()), false).await {
            Ok(r) if !r.shredded.is_empty() || !r.held.is_empty() || r.resumed > 0 => {
                tracing::info!(shredded = r.shredded.len(), held = r.held.len(), resumed = r.resumed, "retention run")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention run failed; retrying at the next run"),
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

pub async fn place_hold(vault: &Vault, actor: &str, h: NewHold) -> Result<Hold, DomainError> {
    let (from, to) = (format_ts(instant(&h.from, false)?), format_ts(instant(&h.to, true)?));
    if from >= to {
        return Err(DomainError::invalid("a hold's range must end after it starts"));
    }
    if h.reason.trim().is_empty() || h.case_ref.trim().is_empty() {
        return Err(DomainError::invalid("a hold needs a reason and a case reference"));
    }
    let org = h.org;
    let path = catalog::read(&vault.catalog, move |repo| org_path(repo, &org)).await?;
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
    let data =
        json!({ "org_path": path, "from": hold.from, "to": hold.to, "case_ref": hold.case_ref, "reason": hold.reason });
    let entry = NewEntry { actor: actor.into(), action: "hold.placed", subject: format!("hold/{id}"), data };
    let row = hold.clone();
    catalog::commit(vault, entry, move |repo| Ok::<_, VaultError>(repo.insert_hold(&row)?)).await?;
    Ok(hold)
}

pub async fn release_hold(vault: &Vault, actor: &str, id: HoldId, reason: &str) -> Result<(), DomainError> {
    if reason.trim().is_empty() {
        return Err(DomainError::invalid("releasing a hold needs a reason"));
    }
    let (now, by, why) = (vault.now(), actor.to_string(), reason.trim().to_string());
    let entry = NewEntry {
        actor: actor.into(),
        action: "hold.released",
        subject: format!("hold/{id}"),
        data: json!({ "reason": why }),
    };
    catalog::commit(vault, entry, move |repo| {
        if !repo.release_hold(&id.to_string(), &by, &now, &why)? {
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

fn wanted_locks(repo: &dyn Repo) -> Result<Vec<Lock>, DomainError> {
    let m = model(repo)?;
    let applied = repo.object_locks()?;
    let mut out = Vec::new();
    for r in m.recordings.values().filter(|r| r.sealed_seq.is_some() && r.shreds.is_empty()) {
        let g = m.governed(r, u64::MAX);
        let retain_until = g.policy.map(|(_, expires)| format_ts(expires));
        let current = applied.get(&r.id).cloned();
        out.push(Lock { rec: r.id.clone(), retain_until, held: g.hold.is_some(), current });
    }
    Ok(out)
}

/// Brings the store's Object Lock on every sealed recording's chunks and manifest
/// in line with its policy and holds. Retention only ever grows (the store refuses
/// to shorten it); key objects and transcripts are never locked, so they stay
/// shreddable. Returns how many recordings changed.
pub async fn reconcile_locks(vault: &Vault, mode: archive::store::LockMode) -> Result<usize, DomainError> {
    let locks = catalog::read(&vault.catalog, |repo| wanted_locks(repo)).await?;
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
        for meta in vault.store.list(&format!("recordings/{rec}/")).await.map_err(DomainError::unavailable)? {
            let key = match archive::layout::ObjectKey::classify(&meta.key) {
                archive::layout::ObjectKind::Chunk(r, s, i) if r == rec => archive::layout::ObjectKey::chunk(rec, s, i),
                archive::layout::ObjectKind::Manifest(r) if r == rec => archive::layout::ObjectKey::manifest(rec),
                _ => continue,
            };
            if let Some(u) = &until {
                vault
                    .store
                    .retain(&key, parse_ts(u).map_err(DomainError::internal)?, mode)
                    .await
                    .map_err(DomainError::unavailable)?;
            }
            if l.held != cur_held {
                vault.store.legal_hold(&key, l.held).await.map_err(DomainError::unavailable)?;
            }
        }
        let (r, now, kept) = (l.rec.clone(), vault.now(), until.or(cur_until));
        catalog::read(&vault.catalog, move |repo| {
            repo.set_object_lock(&r, kept.as_deref(), l.held, &now).map_err(DomainError::from)
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
            Err(e) => tracing::warn!(error = %e, "applying Object Lock failed; retrying"),
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(600), notified).await;
    }
}

/// The retention rules as a caller reaches them: admins change, auditors read.
/// Every change wakes the Object Lock worker, since what is retained may move.
pub mod asked {
    use super::*;
    use std::sync::Arc;

    pub async fn policies(app: &App, who: &Principal) -> Result<Vec<Policy>, DomainError> {
        who.require(&[Role::Admin, Role::Auditor])?;
        catalog::read(&app.vault.catalog, |repo| list_policies(repo)).await
    }

    pub async fn set_policy(app: &App, who: &Principal, p: NewPolicy) -> Result<Policy, DomainError> {
        who.require(&[Role::Admin])?;
        let policy = super::set_policy(&app.vault, &who.actor(), p, app.config.retention.approval_expire_days).await?;
        app.locks.notify_one();
        Ok(policy)
    }

    pub async fn approve(app: &App, who: &Principal, id: PolicyId) -> Result<(), DomainError> {
        who.require(&[Role::Admin])?;
        super::approve(&app.vault, who, id).await?;
        app.locks.notify_one();
        Ok(())
    }

    /// What would be shredded at `at` (a local day, its end; or RFC 3339; default now).
    pub async fn preview(app: &App, who: &Principal, at: Option<&str>) -> Result<Vec<Expiry>, DomainError> {
        who.require(&[Role::Admin, Role::Auditor])?;
        let at = match at {
            Some(s) => instant(s, true)?,
            None => app.vault.clock.now(),
        };
        catalog::read(&app.vault.catalog, move |repo| super::preview(repo, at)).await
    }

    pub async fn run(app: &Arc<App>, who: &Principal, dry_run: bool) -> Result<RunReport, DomainError> {
        who.require(&[Role::Admin])?;
        super::run(&app.vault, Some(&app.index.index()), dry_run).await
    }

    pub async fn holds(app: &App, who: &Principal) -> Result<Vec<Hold>, DomainError> {
        who.require(&[Role::Admin, Role::Auditor])?;
        catalog::read(&app.vault.catalog, |repo| list_holds(repo)).await
    }

    pub async fn place_hold(app: &App, who: &Principal, h: NewHold) -> Result<Hold, DomainError> {
        who.require(&[Role::Admin])?;
        let hold = super::place_hold(&app.vault, &who.actor(), h).await?;
        app.locks.notify_one();
        Ok(hold)
    }

    pub async fn release_hold(app: &App, who: &Principal, id: HoldId, reason: &str) -> Result<(), DomainError> {
        who.require(&[Role::Admin])?;
        super::release_hold(&app.vault, &who.actor(), id, reason).await?;
        app.locks.notify_one();
        Ok(())
    }
}
