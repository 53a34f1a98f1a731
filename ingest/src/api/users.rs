//! Users: `POST /api/v1/users` (admin) creates a person or service account with an
//! optional web password and, for inspectors and recorders, the org subtrees
//! they are bound to;
//! `GET /api/v1/users` lists them; `PATCH /api/v1/users/{user}` disables, resets the
//! password, or changes role or scopes (never one's own role or scope);
//! `POST /api/v1/users/{user}/tokens` issues an API token (shown once) and
//! `DELETE /api/v1/tokens/{token}` revokes one (admins, or the token's owner). Each
//! change is a ledger entry; names and passwords never reach the ledger, only ids,
//! roles and scopes.

use crate::auth::{self, Principal, Role};
use crate::error::ApiError;
use crate::schema::{OrgId, UserId};
use crate::App;
use archive::ledger::NewEntry;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    pub role: Role,
    pub password: Option<String>,
    #[serde(default)]
    pub scopes: Vec<OrgId>,
}

#[derive(Debug, Serialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub has_password: bool,
    /// Org ids whose subtrees an inspector or recorder is bound to.
    pub scopes: Vec<String>,
}

/// A user made at once, or (an admin, once two exist) a request for a second admin.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Added {
    User(User),
    Requested { request: crate::admins::Request },
}

pub async fn create_user(State(app): State<Arc<App>>, who: Principal, Json(req): Json<NewUser>) -> Result<(StatusCode, Json<Added>), ApiError> {
    let added = add(&app, &who, req).await?;
    let status = if matches!(added, Added::User(_)) { StatusCode::CREATED } else { StatusCode::ACCEPTED };
    Ok((status, Json(added)))
}

/// Creates a user (the API's and the admin page's one way).
pub async fn add(app: &App, who: &Principal, req: NewUser) -> Result<Added, ApiError> {
    who.require(&[Role::Admin])?;
    let name = req.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request("name must be 1 to 100 printable characters"));
    }
    auth::check_scopes(req.role, req.scopes.len()).map_err(ApiError::bad_request)?;
    let hash = new_password(req.password.as_deref()).await?;
    let id = UserId::new();
    if req.role == Role::Admin && app.vault.catalog.call(|c| crate::admins::admin_count(c)).await? >= 2 {
        let change = json!({ "create": true, "role": "admin" });
        return Ok(Added::Requested { request: crate::admins::request(app, who, id, Some((name, hash)), change).await? });
    }
    let scopes: Vec<String> = req.scopes.iter().map(|o| o.to_string()).collect();
    let (subject, mut data) = (format!("user/{id}"), json!({ "role": req.role.as_str(), "scopes": scopes }));
    crate::restore::seal_into(&app.vault.keys, &subject, &mut data, json!({ "name": name, "password_hash": hash }))?;
    let entry = NewEntry { actor: who.actor(), action: "user.created", subject, data };
    let now = app.vault.now();
    let (n, role, sc, has_password) = (name.clone(), req.role, scopes.clone(), hash.is_some());
    app.vault
        .commit(entry, move |tx| {
            auth::add_user(tx, id, &n, role, hash.as_deref(), &sc, &now)
        })
        .await?;
    Ok(Added::User(User { id: id.to_string(), name, role: req.role, disabled: false, has_password, scopes }))
}

pub async fn list_users(State(app): State<Arc<App>>, who: Principal) -> Result<Json<Vec<User>>, ApiError> {
    who.require(&[Role::Admin])?;
    Ok(Json(list(&app).await?))
}

/// Every user, by name (callers check the role).
pub async fn list(app: &App) -> Result<Vec<User>, ApiError> {
    let users = app
        .vault
        .catalog
        .call(|c| {
            let mut stmt = c.prepare(
                "SELECT u.id, u.name, u.role, u.disabled, u.password_hash IS NOT NULL,
                        (SELECT json_group_array(org) FROM user_scopes WHERE user_id = u.id)
                 FROM users u ORDER BY u.name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, bool>(3)?, r.get::<_, bool>(4)?, r.get::<_, String>(5)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, name, role, disabled, has_password, scopes) = row?;
                let role = Role::parse(&role).ok_or_else(|| ApiError::internal(format!("user {id} has an unknown role")))?;
                out.push(User { id, name, role, disabled, has_password, scopes: serde_json::from_str(&scopes).unwrap_or_default() });
            }
            Ok::<_, ApiError>(out)
        })
        .await?;
    Ok(users)
}

pub async fn create_token(State(app): State<Arc<App>>, who: Principal, Path(user): Path<String>) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    who.require(&[Role::Admin])?;
    let user: UserId = user.parse()?;
    let now = app.vault.now();
    let new = auth::NewToken::generate()?;
    let (subject, mut data) = (format!("user/{user}"), json!({}));
    crate::restore::seal_into(&app.vault.keys, &subject, &mut data, new.sealed_facts(&user))?;
    let entry = NewEntry { actor: who.actor(), action: "token.created", subject, data };
    let ((id, token), _) = app
        .vault
        .commit(entry, move |tx| {
            let who = &who;
            let row: Option<(String, String)> = tx.query_row("SELECT name, role FROM users WHERE id = ?1", [user.to_string()], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
            let Some((name, role)) = row else { return Err(archive::vault::VaultError::Missing(format!("user {user} not found"))) };
            let role = Role::parse(&role).ok_or_else(|| archive::vault::VaultError::Conflict(format!("user {user} has an unknown role")))?;
            crate::admins::check_credentials(&who, &user, role, "mint tokens for").map_err(|e| archive::vault::VaultError::Forbidden(e.message))?;
            let (_, token_id, token) = auth::create_token(tx, &name, role, &now, &new).map_err(|e| archive::vault::VaultError::Conflict(e.message))?;
            Ok((token_id, token))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id.to_string(), "token": token }))))
}

pub async fn change_user(State(app): State<Arc<App>>, who: Principal, Path(user): Path<String>, Json(wanted): Json<auth::UserChange>) -> Result<Response, ApiError> {
    Ok(match change(&app, &who, user.parse()?, wanted).await? {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(request) => (StatusCode::ACCEPTED, Json(json!({ "request": request }))).into_response(),
    })
}

/// The argon2id hash of a new password, long enough; hashed off the async threads.
async fn new_password(password: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(p) = password else { return Ok(None) };
    if p.chars().count() < auth::MIN_PASSWORD_CHARS {
        return Err(ApiError::bad_request(format!("a password needs at least {} characters", auth::MIN_PASSWORD_CHARS)));
    }
    let p = p.to_string();
    Ok(Some(tokio::task::spawn_blocking(move || auth::hash_password(&p)).await.map_err(ApiError::internal)??))
}

/// Changes a user (the API's and the admin page's one way). A change of who is
/// an admin, once two exist, is only requested: `Some(request)`.
pub async fn change(app: &App, who: &Principal, user: UserId, change: auth::UserChange) -> Result<Option<crate::admins::Request>, ApiError> {
    who.require(&[Role::Admin])?;
    let (role, disabled) = app
        .vault
        .catalog
        .call(move |c| {
            let row: Option<(String, bool)> =
                c.query_row("SELECT role, disabled FROM users WHERE id = ?1", [user.to_string()], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
            row.ok_or_else(|| ApiError::not_found(format!("user {user} not found")))
        })
        .await?;
    let role = Role::parse(&role).ok_or_else(|| ApiError::internal(format!("user {user} has an unknown role")))?;
    if change.password.is_some() {
        crate::admins::check_credentials(who, &user, role, "reset the password of")?;
    }
    if crate::admins::touches_admin(role, disabled, &change) && app.vault.catalog.call(|c| crate::admins::admin_count(c)).await? >= 2 {
        if change.password.is_some() || change.scopes.is_some() {
            return Err(ApiError::bad_request("a change of who is an admin waits for a second admin: ask for it alone, without a password or scopes"));
        }
        if who.user == user {
            return Err(ApiError::conflict("nobody changes their own role or scope, or disables themselves: ask another admin"));
        }
        let asked = json!({ "role": change.role.map(Role::as_str), "disabled": change.disabled });
        return Ok(Some(crate::admins::request(app, who, user, None, asked).await?));
    }
    let hash = new_password(change.password.as_deref()).await?;
    let (subject, mut data) = (format!("user/{user}"), change.summary());
    if hash.is_some() {
        crate::restore::seal_into(&app.vault.keys, &subject, &mut data, json!({ "password_hash": hash }))?;
    }
    let entry = NewEntry { actor: who.actor(), action: "user.changed", subject, data };
    let by = who.user;
    app.vault.commit(entry, move |tx| auth::change_user(tx, user, Some(&by), &change, hash.as_deref())).await?;
    Ok(None)
}

/// `GET /api/v1/users/requests`: changes of who is an admin, pending and decided.
pub async fn list_requests(State(app): State<Arc<App>>, who: Principal) -> Result<Json<Vec<crate::admins::Request>>, ApiError> {
    who.require(&[Role::Admin])?;
    Ok(Json(crate::admins::list(&app).await?))
}

/// `POST /api/v1/users/requests/{request}/approve`: a second admin approves.
pub async fn approve_request(State(app): State<Arc<App>>, who: Principal, Path(request): Path<String>) -> Result<StatusCode, ApiError> {
    let id: ulid::Ulid = request.parse().map_err(|_| ApiError::bad_request("not a request id"))?;
    crate::admins::approve(&app, &who, &id.to_string()).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn revoke_token(State(app): State<Arc<App>>, who: Principal, Path(token): Path<String>) -> Result<StatusCode, ApiError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor, Role::Recorder])?;
    let token: crate::schema::TokenId = token.parse()?;
    let now = app.vault.now();
    let entry = NewEntry { actor: who.actor(), action: "token.revoked", subject: format!("token/{token}"), data: json!({}) };
    app.vault.commit(entry, move |tx| auth::revoke_token(tx, token, Some(&who), &now).map(|_| ())).await?;
    Ok(StatusCode::NO_CONTENT)
}
