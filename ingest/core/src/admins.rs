//! Four-eyes over who is an admin.
//!
//! Once two admins exist, creating an admin, raising an account to admin,
//! demoting an admin or disabling one takes effect only when an admin other than
//! the one asking, who was an admin when it was asked, approves it within
//! `retention.approval_expire_days`. Otherwise one admin could make a second
//! account, or remove the other admin, and then act alone. While only one admin
//! exists a second may be made alone: that is ledgered, and the admin pages say
//! four-eyes is not yet possible.
//!
//! A request is a `user.change.requested` entry; its approval is the change
//! itself (`user.created` or `user.changed`, by the approver, naming the request),
//! so the verifier checks the same rule from the ledger alone
//! (`archive::retention::Admins`). An admin may not mint tokens for, or reset the
//! password of, another admin. The host's command line is a break-glass route: it
//! acts alone, and is listed.

use crate::accounts::UserChange;
use crate::catalog::{self, Repo, StoredRequest};
use crate::error::DomainError;
use crate::principal::{Principal, Role};
use crate::schema::UserId;
use crate::App;
use archive::ledger::NewEntry;
use serde_json::json;

pub use crate::catalog::Request;

/// How many admins the ledger counts now (the verifier's count).
pub fn admin_count(repo: &dyn Repo) -> Result<usize, DomainError> {
    Ok(repo.retention_model()?.admins.count_at(u64::MAX))
}

/// Whether `change` of a user whose role is `role` (and `disabled`) makes or
/// unmakes an admin.
pub fn touches_admin(role: Role, disabled: bool, change: &UserChange) -> bool {
    let admin_before = role == Role::Admin && !disabled;
    let role_after = change.role.unwrap_or(role);
    let disabled_after = change.disabled.unwrap_or(disabled);
    admin_before != (role_after == Role::Admin && !disabled_after)
}

/// Refuses what one admin may not do to another admin's account alone.
pub fn check_credentials(who: &Principal, target: &UserId, target_role: Role, what: &str) -> Result<(), DomainError> {
    if target_role == Role::Admin && &who.user != target {
        return Err(DomainError::forbidden(format!(
            "an admin may not {what} another admin's account: that admin does it, or an operator at the host (niem token create / niem user reset-password)"
        )));
    }
    Ok(())
}

/// Files a request to create or change an admin; nothing changes until approved.
pub async fn request(
    app: &App,
    who: &Principal,
    user: UserId,
    name: Option<(String, Option<String>)>,
    change: serde_json::Value,
) -> Result<Request, DomainError> {
    let id = ulid::Ulid::new().to_string();
    let now = app.vault.clock.now();
    let approve_before =
        archive::clock::format_ts(now + time::Duration::days(app.config.retention.approval_expire_days.max(1) as i64));
    let mut data = change.clone();
    data["request"] = json!(id);
    data["approve_before"] = json!(approve_before);
    let entry = NewEntry { actor: who.actor(), action: "user.change.requested", subject: format!("user/{user}"), data };
    let (at, by) = (archive::clock::format_ts(now), who.actor());
    let r = Request {
        id: id.clone(),
        user: user.to_string(),
        name: name.as_ref().map(|(n, _)| n.clone()),
        change: change.clone(),
        requested_by: by.clone(),
        requested_at: at.clone(),
        approve_before: approve_before.clone(),
        state: "pending".into(),
        decided_by: None,
    };
    let (n, hash) = name.map_or((None, None), |(n, h)| (Some(n), h));
    let stored = r.clone();
    catalog::commit(&app.vault, entry, move |repo| {
        if let Some(n) = &n {
            if repo.user_by_name(n)?.is_some() {
                return Err(DomainError::conflict(format!("a user named {n:?} exists")));
            }
        }
        Ok(repo.insert_request(&stored, hash.as_deref())?)
    })
    .await?;
    Ok(r)
}

pub async fn list(app: &App, who: &Principal) -> Result<Vec<Request>, DomainError> {
    who.require(&[Role::Admin])?;
    let now = app.vault.now();
    catalog::read(&app.vault.catalog, move |repo| repo.requests(&now).map_err(DomainError::from)).await
}

/// A second admin approves a request: the change is made, by the approver, and
/// ledgered naming the request.
pub async fn approve(app: &App, who: &Principal, id: &str) -> Result<(), DomainError> {
    who.require(&[Role::Admin])?;
    let wanted = id.to_string();
    let row = catalog::read(&app.vault.catalog, move |repo| repo.request(&wanted).map_err(DomainError::from)).await?;
    let StoredRequest { user, change, name, password_hash: hash, requested_by, approve_before, state } =
        row.ok_or_else(|| DomainError::not_found(format!("request {id} not found")))?;
    if state != "pending" {
        return Err(DomainError::conflict(format!("request {id} is {state}")));
    }
    let (subject, actor, id_owned) = (format!("user/{user}"), who.actor(), id.to_string());
    let mut data = change.clone();
    data["request"] = json!(id);
    data["requested_by"] = json!(requested_by);
    let action = if change.get("create").is_some() { "user.created" } else { "user.changed" };
    if action == "user.created" {
        data = json!({ "role": "admin", "scopes": [], "request": id, "requested_by": requested_by });
        crate::facts::seal_into(&app.vault.keys, &subject, &mut data, json!({ "name": name, "password_hash": hash }))?;
    }
    let entry = NewEntry { actor: actor.clone(), action, subject, data };
    let now = app.vault.now();
    let by = who.user;
    catalog::commit(&app.vault, entry, move |repo| {
        let m = repo.retention_model()?;
        let req_seq = repo.request_seq(&id_owned)?;
        let req_seq =
            req_seq.ok_or_else(|| DomainError::internal(format!("request {id_owned} is not in the ledger")))?;
        if requested_by == actor {
            return Err(DomainError::forbidden("a second admin must approve: not the one who asked"));
        }
        if !m.admins.is_admin_at(&actor, req_seq) {
            return Err(DomainError::forbidden("only an admin who was an admin when it was asked may approve it"));
        }
        if approve_before <= now {
            return Err(DomainError::conflict(format!("request {id_owned} expired at {approve_before}; ask again")));
        }
        apply(repo, user, &change, name.as_deref(), hash.as_deref(), &by, &now)?;
        Ok(repo.approve_request(&id_owned, &actor, &now)?)
    })
    .await?;
    Ok(())
}

/// Makes the requested change in the approval's transaction.
fn apply(
    repo: &dyn Repo,
    user: UserId,
    change: &serde_json::Value,
    name: Option<&str>,
    hash: Option<&str>,
    by: &UserId,
    now: &str,
) -> Result<(), DomainError> {
    if change.get("create").is_some() {
        let name = name.ok_or_else(|| DomainError::internal("the request names no user"))?;
        return crate::accounts::add_user(repo, user, name, Role::Admin, hash, &[], now);
    }
    let wanted: UserChange =
        serde_json::from_value(change.clone()).map_err(|e| DomainError::internal(format!("request: {e}")))?;
    crate::accounts::change_user(repo, user, Some(by), &wanted, None)
}

/// How many enabled admins there are now.
pub async fn count(app: &App) -> Result<usize, DomainError> {
    catalog::read(&app.vault.catalog, |repo| admin_count(repo)).await
}
