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
use crate::error::DomainError;
use crate::principal::{Principal, Role};
use crate::schema::UserId;
use crate::App;
use archive::ledger::NewEntry;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::json;

/// A change of who is an admin, waiting for a second admin.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    pub id: String,
    /// The account it creates or changes.
    pub user: String,
    /// For a new account: its name.
    pub name: Option<String>,
    /// `create`, `role` or `disabled`, and the value asked for.
    pub change: serde_json::Value,
    pub requested_by: String,
    pub requested_at: String,
    pub approve_before: String,
    pub state: String,
    pub decided_by: Option<String>,
}

/// How many admins the ledger counts now (the verifier's count).
pub fn admin_count(c: &rusqlite::Connection) -> Result<usize, DomainError> {
    Ok(crate::retention::model(c)?.admins.count_at(u64::MAX))
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
    app.vault
        .commit_as(entry, move |tx| {
            if let Some(n) = &n {
                let taken: Option<String> = tx.query_row("SELECT id FROM users WHERE name = ?1", [n], |r| r.get(0)).optional()?;
                if taken.is_some() {
                    return Err(DomainError::conflict(format!("a user named {n:?} exists")));
                }
            }
            tx.execute(
                "INSERT INTO user_requests (id, user_id, change, name, password_hash, requested_by, requested_at, approve_before, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending')",
                params![id, user.to_string(), change.to_string(), n, hash, by, at, approve_before],
            )?;
            Ok(())
        })
        .await?;
    Ok(r)
}

pub async fn list(app: &App, who: &Principal) -> Result<Vec<Request>, DomainError> {
    who.require(&[Role::Admin])?;
    let now = app.vault.now();
    app.vault
        .catalog
        .call(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, user_id, name, change, requested_by, requested_at, approve_before,
                        CASE WHEN state = 'pending' AND approve_before <= ?1 THEN 'expired' ELSE state END, decided_by
                 FROM user_requests ORDER BY requested_at DESC",
            )?;
            let rows = stmt.query_map([now], |r| {
                Ok(Request {
                    id: r.get(0)?,
                    user: r.get(1)?,
                    name: r.get(2)?,
                    change: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or_default(),
                    requested_by: r.get(4)?,
                    requested_at: r.get(5)?,
                    approve_before: r.get(6)?,
                    state: r.get(7)?,
                    decided_by: r.get(8)?,
                })
            })?;
            Ok::<_, DomainError>(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
}

/// A second admin approves a request: the change is made, by the approver, and
/// ledgered naming the request.
pub async fn approve(app: &App, who: &Principal, id: &str) -> Result<(), DomainError> {
    who.require(&[Role::Admin])?;
    let row = app
        .vault
        .catalog
        .call({
            let id = id.to_string();
            move |c| {
                c.query_row(
                    "SELECT user_id, change, name, password_hash, requested_by, approve_before, state FROM user_requests WHERE id = ?1",
                    [&id],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?, r.get::<_, Option<String>>(3)?, r.get::<_, String>(4)?, r.get::<_, String>(5)?, r.get::<_, String>(6)?)),
                )
                .optional()
                .map_err(DomainError::from)
            }
        })
        .await?;
    let (user, change, name, hash, requested_by, approve_before, state) =
        row.ok_or_else(|| DomainError::not_found(format!("request {id} not found")))?;
    if state != "pending" {
        return Err(DomainError::conflict(format!("request {id} is {state}")));
    }
    let change: serde_json::Value = serde_json::from_str(&change).map_err(DomainError::internal)?;
    let user: UserId = user.parse()?;
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
    app.vault
        .commit_as(entry, move |tx| {
            let m = crate::retention::model(tx)?;
            let req_seq: Option<u64> = tx
                .query_row(
                    "SELECT seq FROM ledger WHERE action = 'user.change.requested' AND json_extract(data, '$.request') = ?1",
                    [&id_owned],
                    |r| r.get(0),
                )
                .optional()?;
            let req_seq = req_seq.ok_or_else(|| DomainError::internal(format!("request {id_owned} is not in the ledger")))?;
            if requested_by == actor {
                return Err(DomainError::forbidden("a second admin must approve: not the one who asked"));
            }
            if !m.admins.is_admin_at(&actor, req_seq) {
                return Err(DomainError::forbidden("only an admin who was an admin when it was asked may approve it"));
            }
            if approve_before <= now {
                return Err(DomainError::conflict(format!("request {id_owned} expired at {approve_before}; ask again")));
            }
            apply(tx, user, &change, name.as_deref(), hash.as_deref(), &by, &now)?;
            tx.execute(
                "UPDATE user_requests SET state = 'approved', decided_by = ?2, decided_at = ?3 WHERE id = ?1 AND state = 'pending'",
                params![id_owned, actor, now],
            )?;
            Ok(())
        })
        .await?;
    Ok(())
}

/// Makes the requested change in the approval's transaction.
fn apply(
    tx: &rusqlite::Transaction<'_>,
    user: UserId,
    change: &serde_json::Value,
    name: Option<&str>,
    hash: Option<&str>,
    by: &UserId,
    now: &str,
) -> Result<(), DomainError> {
    if change.get("create").is_some() {
        let name = name.ok_or_else(|| DomainError::internal("the request names no user"))?;
        return crate::accounts::add_user(tx, user, name, Role::Admin, hash, &[], now);
    }
    let wanted: UserChange =
        serde_json::from_value(change.clone()).map_err(|e| DomainError::internal(format!("request: {e}")))?;
    crate::accounts::change_user(tx, user, Some(by), &wanted, None)
}

/// How many enabled admins there are now.
pub async fn count(app: &App) -> Result<usize, DomainError> {
    app.vault.catalog.call(|c| admin_count(c)).await
}
