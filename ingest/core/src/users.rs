//! Users as callers manage them: people and service accounts, with an optional
//! web password and, for inspectors and recorders, the org subtrees they are
//! bound to; API tokens; web sign-in. How they are stored is [`crate::accounts`].
//!
//! Admins create, list and change users (never their own role or scope) and
//! issue tokens (shown once); admins or a token's owner revoke it; who is an
//! admin is four-eyes (`crate::admins`). Each change is a ledger entry; names
//! and password hashes travel only sealed.

use crate::accounts::authenticate;
use crate::accounts::{
    add_user, change_user, close_session, create_token_in, hash_password, open_session, password_matches,
    revoke_token_in, session_principal, NewToken, UserChange, MIN_PASSWORD_CHARS, SELF_CHANGE,
};
use crate::app::App;
use crate::catalog;
use crate::error::DomainError;
use crate::principal::{Principal, Role};
use crate::schema::{OrgId, TokenId, UserId};
use archive::ledger::NewEntry;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    pub role: Role,
    pub password: Option<String>,
    #[serde(default)]
    pub scopes: Vec<OrgId>,
}

pub use crate::catalog::User;

/// A user made at once, or (an admin, once two exist) a request for a second admin.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Added {
    User(User),
    Requested { request: crate::admins::Request },
}

/// Creates a user (the API's and the admin page's one way).
pub async fn add(app: &App, who: &Principal, req: NewUser) -> Result<Added, DomainError> {
    who.require(&[Role::Admin])?;
    let name = req.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(DomainError::invalid("name must be 1 to 100 printable characters"));
    }
    crate::principal::check_scopes(req.role, req.scopes.len()).map_err(DomainError::Invalid)?;
    let hash = new_password(req.password.as_deref()).await?;
    let id = UserId::new();
    if req.role == Role::Admin && crate::admins::count(app).await? >= 2 {
        let change = json!({ "create": true, "role": "admin" });
        return Ok(Added::Requested {
            request: crate::admins::request(app, who, id, Some((name, hash)), change).await?,
        });
    }
    let scopes: Vec<String> = req.scopes.iter().map(|o| o.to_string()).collect();
    let (subject, mut data) = (format!("user/{id}"), json!({ "role": req.role.as_str(), "scopes": scopes }));
    crate::facts::seal_into(&app.vault.keys, &subject, &mut data, json!({ "name": name, "password_hash": hash }))?;
    let entry = NewEntry { actor: who.actor(), action: "user.created", subject, data };
    let now = app.vault.now();
    let (n, role, sc, has_password) = (name.clone(), req.role, scopes.clone(), hash.is_some());
    catalog::commit(&app.vault, entry, move |repo| add_user(repo, id, &n, role, hash.as_deref(), &sc, &now)).await?;
    Ok(Added::User(User { id: id.to_string(), name, role: req.role, disabled: false, has_password, scopes }))
}

/// Every user, by name (admins).
pub async fn list(app: &App, who: &Principal) -> Result<Vec<User>, DomainError> {
    who.require(&[Role::Admin])?;
    catalog::read(&app.vault.catalog, |repo| repo.users().map_err(DomainError::from)).await
}

/// A new token for `user` (admins; never for another admin): (its id, the token
/// text, shown once and never stored).
pub async fn create_token(app: &App, who: &Principal, user: UserId) -> Result<(TokenId, String), DomainError> {
    who.require(&[Role::Admin])?;
    let now = app.vault.now();
    let new = NewToken::generate()?;
    let (subject, mut data) = (format!("user/{user}"), json!({}));
    crate::facts::seal_into(&app.vault.keys, &subject, &mut data, new.sealed_facts(&user))?;
    let entry = NewEntry { actor: who.actor(), action: "token.created", subject, data };
    let by = who.clone();
    let (made, _) = catalog::commit(&app.vault, entry, move |repo| {
        let found = repo.user_by_id(user)?.ok_or_else(|| DomainError::not_found(format!("user {user} not found")))?;
        crate::admins::check_credentials(&by, &user, found.role, "mint tokens for")?;
        let (_, token_id, token) = create_token_in(repo, &found.name, found.role, &now, &new, user)?;
        Ok::<_, DomainError>((token_id, token))
    })
    .await?;
    Ok(made)
}

/// The argon2id hash of a new password, long enough; hashed off the async threads.
async fn new_password(password: Option<&str>) -> Result<Option<String>, DomainError> {
    let Some(p) = password else { return Ok(None) };
    if p.chars().count() < MIN_PASSWORD_CHARS {
        return Err(DomainError::invalid(format!("a password needs at least {MIN_PASSWORD_CHARS} characters")));
    }
    let p = p.to_string();
    Ok(Some(tokio::task::spawn_blocking(move || hash_password(&p)).await.map_err(DomainError::internal)??))
}

/// Changes a user (the API's and the admin page's one way). A change of who is
/// an admin, once two exist, is only requested: `Some(request)`.
pub async fn change(
    app: &App,
    who: &Principal,
    user: UserId,
    change: UserChange,
) -> Result<Option<crate::admins::Request>, DomainError> {
    who.require(&[Role::Admin])?;
    let found = catalog::read(&app.vault.catalog, move |repo| repo.user_by_id(user).map_err(DomainError::from)).await?;
    let found = found.ok_or_else(|| DomainError::not_found(format!("user {user} not found")))?;
    let (role, disabled) = (found.role, found.disabled);
    if change.password.is_some() {
        crate::admins::check_credentials(who, &user, role, "reset the password of")?;
    }
    if crate::admins::touches_admin(role, disabled, &change) && crate::admins::count(app).await? >= 2 {
        if change.password.is_some() || change.scopes.is_some() {
            return Err(DomainError::invalid(
                "a change of who is an admin waits for a second admin: ask for it alone, without a password or scopes",
            ));
        }
        if who.user == user {
            return Err(DomainError::conflict(SELF_CHANGE));
        }
        let asked = json!({ "role": change.role.map(Role::as_str), "disabled": change.disabled });
        return Ok(Some(crate::admins::request(app, who, user, None, asked).await?));
    }
    let hash = new_password(change.password.as_deref()).await?;
    let (subject, mut data) = (format!("user/{user}"), change.summary());
    if hash.is_some() {
        crate::facts::seal_into(&app.vault.keys, &subject, &mut data, json!({ "password_hash": hash }))?;
    }
    let entry = NewEntry { actor: who.actor(), action: "user.changed", subject, data };
    let by = who.user;
    catalog::commit(&app.vault, entry, move |repo| change_user(repo, user, Some(&by), &change, hash.as_deref()))
        .await?;
    Ok(None)
}

/// Revokes a token: its owner, or an admin.
pub async fn revoke_token(app: &App, who: &Principal, token: TokenId) -> Result<(), DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor, Role::Recorder, Role::Secretary])?;
    let now = app.vault.now();
    let entry =
        NewEntry { actor: who.actor(), action: "token.revoked", subject: format!("token/{token}"), data: json!({}) };
    let by = who.clone();
    catalog::commit(&app.vault, entry, move |repo| revoke_token_in(repo, token, Some(&by), &now).map(|_| ())).await?;
    Ok(())
}

/// The caller behind an API token.
pub async fn by_token(app: &App, token: String) -> Result<Principal, DomainError> {
    catalog::read(&app.vault.catalog, move |repo| authenticate(repo, &token)).await
}

/// The caller behind a web session's cookie secret, while the session is live.
pub async fn by_session(app: &App, secret: String) -> Result<Principal, DomainError> {
    // The service's clock, which opened the session (it may be shifted for drills).
    let now = app.vault.now();
    let who = catalog::read(&app.vault.catalog, move |repo| session_principal(repo, &secret, &now)).await?;
    who.ok_or_else(|| DomainError::unauthenticated("your session has ended; sign in again"))
}

/// The sign-in limit: attempts per key (a client address, a name) within a
/// window, counted in the catalog (`Accounts::charge_sign_in`), so that it holds
/// across restarts, across nodes, and under attempts that race.
pub struct LoginLimiter {
    attempts: u32,
    window: time::Duration,
}

impl LoginLimiter {
    pub fn new(cfg: &crate::config::WebConfig) -> Self {
        Self {
            attempts: cfg.login_attempts.max(1),
            window: time::Duration::seconds(cfg.login_window_secs.min(i64::MAX as u64) as i64),
        }
    }
}

/// A limit key: an HMAC under the link key, so the catalog holds no address
/// and no typed name.
fn limit_key(app: &App, kind: &str, value: &str) -> String {
    hex::encode(app.vault.keys.link_tag(format!("niem/sign-in/v1|{kind}|{value}").as_bytes()))
}

/// Charges an attempt to both keys; false when one is over the limit.
async fn charge(app: &App, keys: &[String; 2]) -> Result<bool, DomainError> {
    let (limit, now_dt) = (app.logins.attempts, app.vault.clock.now());
    let (now, since) = (archive::clock::format_ts(now_dt), archive::clock::format_ts(now_dt - app.logins.window));
    let keys = keys.to_vec();
    catalog::read(&app.vault.catalog, move |repo| Ok(repo.charge_sign_in(&keys, limit, &since, &now)?)).await
}

/// A web session just opened.
pub struct Session {
    /// The cookie's secret; only its hash is stored.
    pub secret: String,
    pub max_age_secs: u64,
}

/// Signs a person in to the web UI. Failures are counted per client address and
/// per name; past the limit the answer is [`DomainError::TooMany`] until the
/// window passes. Unknown names cost the same argon2 work as wrong passwords, so
/// timing does not tell which names exist. Recorders (machines) have no web UI.
pub async fn sign_in(app: &App, peer: std::net::IpAddr, name: &str, password: String) -> Result<Session, DomainError> {
    let name = name.trim().to_string();
    let keys = [limit_key(app, "addr", &peer.to_string()), limit_key(app, "name", &name)];
    // Charged before the password is checked: a failure keeps its charge.
    if !charge(app, &keys).await? {
        tracing::warn!(peer = %peer, "sign-in refused: too many failures");
        return Err(DomainError::TooMany("too many failed sign-ins; wait before trying again".into()));
    }
    let Some(user) = check_password(app, name, password).await? else {
        tracing::warn!(peer = %peer, "sign-in failed");
        return Err(DomainError::unauthenticated("wrong name or password"));
    };
    // A success clears the name's failures and costs the address nothing.
    let [addr, name_key] = keys;
    catalog::read(&app.vault.catalog, move |repo| {
        repo.refund_sign_in(&name_key, None)?;
        Ok::<_, DomainError>(repo.refund_sign_in(&addr, Some(1))?)
    })
    .await?;
    let now_dt = app.vault.clock.now();
    let now = archive::clock::format_ts(now_dt);
    let expires = archive::clock::format_ts(now_dt + time::Duration::hours(app.config.web.session_hours as i64));
    let entry = NewEntry {
        actor: format!("user:{user}"),
        action: "session.opened",
        subject: format!("user/{user}"),
        data: json!({ "via": "web" }),
    };
    let ((secret, _csrf), _) =
        catalog::commit(&app.vault, entry, move |repo| open_session(repo, &user, &now, &expires)).await?;
    Ok(Session { secret, max_age_secs: app.config.web.session_hours * 3600 })
}

/// Ends the session whose cookie secret this is.
pub async fn sign_out(app: &App, who: &Principal, secret: String) -> Result<(), DomainError> {
    let entry = NewEntry {
        actor: who.actor(),
        action: "session.closed",
        subject: format!("user/{}", who.user),
        data: json!({}),
    };
    catalog::commit(&app.vault, entry, move |repo| close_session(repo, &secret)).await?;
    Ok(())
}

/// The user if `name` exists, is enabled, may use the web UI and the password matches.
async fn check_password(app: &App, name: String, password: String) -> Result<Option<UserId>, DomainError> {
    let found =
        catalog::read(&app.vault.catalog, move |repo| repo.user_by_name(&name).map_err(DomainError::from)).await?;
    let usable = found.filter(|u| u.password_hash.is_some() && !u.disabled && u.role != Role::Recorder);
    let (user, hash) = match usable {
        Some(crate::catalog::Account { id, password_hash: Some(hash), .. }) => (Some(id), hash),
        _ => (None, dummy_hash().to_string()),
    };
    let ok =
        tokio::task::spawn_blocking(move || password_matches(&hash, &password)).await.map_err(DomainError::internal)?;
    Ok(user.filter(|_| ok))
}

/// A hash to check unknown names against, so that they cost what a real one does.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("no such user, no such password").unwrap_or_default())
}

#[cfg(test)]
mod limiter_tests {
    use crate::catalog::sqlite::Sqlite;
    use crate::catalog::Accounts;

    #[test]
    fn attempts_are_charged_up_to_the_limit_per_key_and_forgotten_after_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let cat = archive::catalog::Catalog::open(&dir.path().join("catalog.db")).unwrap();
        cat.migrate("ingest", crate::catalog::sqlite::MIGRATIONS).unwrap();
        cat.with(|c| {
            let repo = Sqlite::new(c);
            let keys = ["addr".to_string(), "name".to_string()];
            let (t0, t1, before) = ("2026-12-03T10:00:00.000Z", "2026-12-03T10:00:30.000Z", "2026-12-03T09:59:00.000Z");
            assert!(repo.charge_sign_in(&keys, 2, before, t0).unwrap());
            assert!(repo.charge_sign_in(&keys, 2, before, t0).unwrap());
            assert!(!repo.charge_sign_in(&keys, 2, before, t0).unwrap(), "the third is refused");
            assert!(!repo.charge_sign_in(&keys[..1], 2, before, t0).unwrap(), "per address");
            assert!(!repo.charge_sign_in(&["other".into(), keys[1].clone()], 2, before, t0).unwrap(), "per name");
            repo.refund_sign_in("name", None).unwrap();
            assert!(!repo.charge_sign_in(&keys, 2, before, t0).unwrap(), "the address is still over");
            repo.refund_sign_in("addr", Some(1)).unwrap();
            assert!(repo.charge_sign_in(&keys, 2, before, t0).unwrap(), "one taken back, one charged");
            assert!(!repo.charge_sign_in(&keys, 2, before, t1).unwrap());
            assert!(repo.charge_sign_in(&keys, 2, t0, t1).unwrap(), "charges from before the window are forgotten");
            repo.refund_sign_in("missing", Some(3)).unwrap();
        });
    }
}
