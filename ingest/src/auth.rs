//! Who is calling: bearer tokens, web sessions, passwords, roles and org scopes.
//!
//! A token is `niem_<token id>_<secret>`; the catalog keeps only SHA-256 of the
//! secret, found by id and compared in constant time. The secret is 256 random
//! bits, so a fast hash is enough. Passwords, which are weak, use argon2id. A web
//! session is a cookie holding another 256-bit secret (HttpOnly, SameSite=Strict);
//! requests that change something under a session must also carry the session's
//! CSRF token.
//!
//! Scopes: inspectors and recorders are bound to the org subtrees listed for
//! them (`user_scopes`); admins and auditors see every org. One rule, in two
//! forms: [`Principal::in_scope`] for one org (a door: this meeting, this
//! recording) and [`in_scope_sql`] inside every list's query, so that rows out of
//! scope are never read, not read and dropped. Content (transcripts, playback,
//! search) is a second gate on top, by role: admins and inspectors only.
//! [`Principal::search_scope`] is the same scope for the index.

use crate::error::ApiError;
use crate::schema::{MeetingId, TokenId, UserId};
use crate::App;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64URL, Engine};
use ring::rand::{SecureRandom, SystemRandom};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Inspector,
    Auditor,
    Recorder,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Inspector => "inspector",
            Role::Auditor => "auditor",
            Role::Recorder => "recorder",
        }
    }
    /// Whether this role is bound to org subtrees (and needs at least one).
    pub fn is_scoped(self) -> bool {
        matches!(self, Role::Inspector | Role::Recorder)
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "admin" => Role::Admin,
            "inspector" => Role::Inspector,
            "auditor" => Role::Auditor,
            "recorder" => Role::Recorder,
            _ => return None,
        })
    }
}

/// Who is calling, once their token or session checked out.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: UserId,
    pub name: String,
    pub role: Role,
    /// Org paths (`/bloc/base/cell`) an inspector or recorder is bound to;
    /// empty for admins and auditors, who are not bound.
    pub scopes: Vec<String>,
    /// The CSRF token, when the caller came with a session cookie.
    pub csrf: Option<String>,
}

impl Principal {
    /// The ledger's name for this caller.
    pub fn actor(&self) -> String {
        format!("user:{}", self.user)
    }

    /// Whether the org at `path` lies in this caller's scope: every org for
    /// admins and auditors, the bound subtrees for inspectors and recorders.
    pub fn in_scope(&self, path: &str) -> bool {
        match self.role {
            Role::Admin | Role::Auditor => true,
            Role::Inspector | Role::Recorder => {
                self.scopes.iter().any(|s| archive::deletion::covers(s, path))
            }
        }
    }

    /// Refuses an org outside this caller's scope.
    pub fn require_scope(&self, path: &str) -> Result<(), ApiError> {
        if self.in_scope(path) {
            Ok(())
        } else {
            Err(ApiError::forbidden("this belongs to an organisation outside your scope"))
        }
    }

    /// Refuses an org neither in this caller's scope nor above it. A filter or
    /// report asked for an org above the scope (a base committee over an
    /// inspector's cells) is narrowed to the scope by the query; any other org
    /// would only answer "nothing", which confirms that it exists.
    pub fn require_scope_or_above(&self, path: &str) -> Result<(), ApiError> {
        if self.scopes.iter().any(|s| archive::deletion::covers(path, s)) {
            return Ok(());
        }
        self.require_scope(path)
    }

    /// Refuses a meeting outside this caller's scope; not found if unknown.
    pub async fn require_meeting(&self, app: &App, meeting: MeetingId) -> Result<(), ApiError> {
        if !self.role.is_scoped() {
            return Ok(());
        }
        let path: Option<String> = app
            .vault
            .catalog
            .call(move |c| {
                let sql =
                    "SELECT o.path FROM meetings m JOIN orgs o ON o.id = m.org WHERE m.id = ?1";
                c.query_row(sql, [meeting.to_string()], |r| r.get(0))
                    .optional()
                    .map_err(ApiError::from)
            })
            .await?;
        let path =
            path.ok_or_else(|| ApiError::not_found(format!("meeting {meeting} not found")))?;
        self.require_scope(&path)
    }

    /// Refuses a recording whose meeting is outside this caller's scope. A
    /// recording of no meeting is in nobody's scope but an admin's or auditor's.
    pub async fn require_recording(&self, app: &App, rec: archive::id::RecordingId) -> Result<(), ApiError> {
        if !self.role.is_scoped() {
            return Ok(());
        }
        let path: Option<String> = app
            .vault
            .catalog
            .call(move |c| {
                let sql = "SELECT o.path FROM meetings m JOIN orgs o ON o.id = m.org
                           WHERE m.recording = ?1";
                c.query_row(sql, [rec.to_string()], |r| r.get(0)).optional().map_err(ApiError::from)
            })
            .await?;
        match path {
            Some(p) => self.require_scope(&p),
            None => Err(ApiError::forbidden("this recording belongs to no meeting in your scope")),
        }
    }

    /// The scope as the parameter [`in_scope_sql`] binds: a JSON array of org
    /// paths, or `None` (SQL NULL) for every org.
    pub fn scope_json(&self) -> Option<String> {
        if !self.role.is_scoped() {
            return None;
        }
        // A list of strings always serialises; an empty scope matches nothing.
        Some(serde_json::to_string(&self.scopes).unwrap_or_else(|_| "[]".into()))
    }

    /// The scope a search runs under: every org for admins, the inspector's
    /// subtrees, nothing for anyone else.
    pub fn search_scope(&self) -> search::Scope {
        match self.role {
            Role::Admin => search::Scope::All,
            Role::Inspector => search::Scope::Orgs(self.scopes.clone()),
            Role::Auditor | Role::Recorder => search::Scope::Orgs(Vec::new()),
        }
    }

    /// Refuses callers whose role is not in `allowed`.
    pub fn require(&self, allowed: &[Role]) -> Result<(), ApiError> {
        if allowed.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("the {} role may not do this", self.role.as_str())))
        }
    }
}

/// The one scope condition of every list query: true when the org path `path`
/// (an SQL expression, e.g. `o.path`) lies in the scope bound at parameter
/// `?n` ([`Principal::scope_json`]; NULL for every org). A scope entry covers
/// its org and everything under it: the path itself or a path below it.
pub fn in_scope_sql(path: &str, n: u8) -> String {
    format!(
        "(?{n} IS NULL OR EXISTS (SELECT 1 FROM json_each(?{n}) s WHERE {path} = s.value \
         OR substr({path}, 1, length(s.value) + 1) = s.value || '/'))"
    )
}

/// Whether `role` may hold `scopes` org ids: inspectors and recorders need at
/// least one, admins and auditors none (they are not bound).
pub fn check_scopes(role: Role, scopes: usize) -> Result<(), String> {
    match (role.is_scoped(), scopes) {
        (true, 0) => {
            Err(format!("a user with the {} role needs at least one org in scopes", role.as_str()))
        }
        (false, n) if n > 0 => {
            Err(format!("the {} role has no scopes: it sees every org", role.as_str()))
        }
        _ => Ok(()),
    }
}

pub(crate) fn secret_hash(secret: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, secret.as_bytes()).as_ref().to_vec()
}

/// 256 random bits, URL-safe: the secret half of tokens and stream keys.
pub(crate) fn new_secret() -> Result<String, ApiError> {
    let mut secret = [0u8; 32];
    SystemRandom::new().fill(&mut secret).map_err(|_| ApiError::internal("random generator failed"))?;
    Ok(B64URL.encode(secret))
}

/// Whether `secret` hashes to `stored`, in constant time.
pub(crate) fn secret_matches(stored: &[u8], secret: &str) -> bool {
    bool::from(stored.ct_eq(&secret_hash(secret)))
}

/// A token about to be created: its id and secret, made before the transaction
/// so that the ledger entry can carry the secret's hash, sealed.
pub struct NewToken {
    pub id: TokenId,
    secret: String,
}

impl NewToken {
    pub fn generate() -> Result<Self, ApiError> {
        Ok(Self { id: TokenId::new(), secret: new_secret()? })
    }

    /// The entry's sealed facts: what a restore needs to accept this token again.
    pub fn sealed_facts(&self, user: &UserId) -> serde_json::Value {
        serde_json::json!({ "token": self.id, "user": user, "secret_sha256": hex::encode(secret_hash(&self.secret)) })
    }
}

/// Creates a user (if `name` is new) and `token` for them, in the caller's
/// transaction. Returns the token text, which is shown once and never stored.
pub fn create_token(tx: &rusqlite::Transaction<'_>, name: &str, role: Role, now: &str, new: &NewToken) -> Result<(UserId, TokenId, String), ApiError> {
    let existing: Option<(String, String)> =
        tx.query_row("SELECT id, role FROM users WHERE name = ?1", [name], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
    let user = match existing {
        Some((id, existing_role)) => {
            if existing_role != role.as_str() {
                return Err(ApiError::conflict(format!("user {name:?} exists with role {existing_role}")));
            }
            id.parse()?
        }
        None if role.is_scoped() => {
            // A new user here would have no scope: bound to nothing, or worse,
            // mistaken for unbound. Scoped users are made with their scopes.
            let role = role.as_str();
            let add = format!("niem user add {name} --role {role} --scope ORG");
            let why = format!("no user named {name:?}: add the {role} first with `{add}`");
            return Err(ApiError::bad_request(why));
        }
        None => {
            let id = UserId::new();
            tx.execute("INSERT INTO users (id, name, role, created_at) VALUES (?1, ?2, ?3, ?4)", params![id.to_string(), name, role.as_str(), now])?;
            id
        }
    };
    let (token, secret) = (new.id, &new.secret);
    tx.execute(
        "INSERT INTO tokens (id, user_id, secret_sha256, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![token.to_string(), user.to_string(), secret_hash(secret), now],
    )?;
    Ok((user, token, format!("niem_{token}_{secret}")))
}

/// Adds a user in the caller's transaction: unique name, known orgs in `scopes`.
pub fn add_user(
    tx: &rusqlite::Transaction<'_>,
    id: UserId,
    name: &str,
    role: Role,
    password_hash: Option<&str>,
    scopes: &[String],
    now: &str,
) -> Result<(), archive::vault::VaultError> {
    use archive::vault::VaultError;
    let taken: Option<String> = tx.query_row("SELECT id FROM users WHERE name = ?1", [name], |r| r.get(0)).optional()?;
    if taken.is_some() {
        return Err(VaultError::Conflict(format!("a user named {name:?} exists")));
    }
    tx.execute(
        "INSERT INTO users (id, name, role, created_at, password_hash) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id.to_string(), name, role.as_str(), now, password_hash],
    )?;
    for org in scopes {
        let known: Option<String> = tx.query_row("SELECT id FROM orgs WHERE id = ?1", [org], |r| r.get(0)).optional()?;
        if known.is_none() {
            return Err(VaultError::Missing(format!("org {org} not found")));
        }
        tx.execute("INSERT INTO user_scopes (user_id, org) VALUES (?1, ?2)", params![id.to_string(), org])?;
    }
    Ok(())
}

/// A change to a user. `None` leaves a field as it is.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    pub disabled: Option<bool>,
    pub role: Option<Role>,
    /// Org ids; replaces the inspector's or recorder's scopes.
    pub scopes: Option<Vec<String>>,
    pub password: Option<String>,
}

impl UserChange {
    /// What the ledger says changed (never the password itself).
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "disabled": self.disabled,
            "role": self.role.map(Role::as_str),
            "scopes": self.scopes,
            "password_reset": self.password.is_some(),
        })
    }
}

/// Applies `change` to user `id` (whose password, if any, is already hashed into
/// `password_hash`), in the caller's transaction. `by` is who asks (None: an
/// operator at the command line): nobody changes
/// their own role or scope, or disables themselves; a disabled user's sessions end.
pub fn change_user(
    tx: &rusqlite::Transaction<'_>,
    id: UserId,
    by: Option<&UserId>,
    change: &UserChange,
    password_hash: Option<&str>,
) -> Result<(), archive::vault::VaultError> {
    use archive::vault::VaultError;
    let current: Option<String> = tx.query_row("SELECT role FROM users WHERE id = ?1", [id.to_string()], |r| r.get(0)).optional()?;
    let current = current.and_then(|r| Role::parse(&r)).ok_or_else(|| VaultError::Missing(format!("user {id} not found")))?;
    if by == Some(&id) && (change.role.is_some() || change.scopes.is_some() || change.disabled == Some(true)) {
        return Err(VaultError::Conflict("nobody changes their own role or scope, or disables themselves: ask another admin".into()));
    }
    let role = change.role.unwrap_or(current);
    let scopes = match &change.scopes {
        Some(given) => given.len(),
        // Kept as they are: a scoped user's (at least one, checked when set).
        None if role.is_scoped() && current.is_scoped() => 1,
        // Unscoped roles hold none; a user who becomes scoped has none to keep.
        None => 0,
    };
    check_scopes(role, scopes).map_err(VaultError::Conflict)?;
    if let Some(d) = change.disabled {
        tx.execute("UPDATE users SET disabled = ?2 WHERE id = ?1", params![id.to_string(), d])?;
        if d {
            tx.execute("DELETE FROM sessions WHERE user_id = ?1", [id.to_string()])?;
        }
    }
    if change.role.is_some() {
        tx.execute("UPDATE users SET role = ?2 WHERE id = ?1", params![id.to_string(), role.as_str()])?;
        if !role.is_scoped() {
            tx.execute("DELETE FROM user_scopes WHERE user_id = ?1", [id.to_string()])?;
        }
    }
    if let Some(scopes) = &change.scopes {
        tx.execute("DELETE FROM user_scopes WHERE user_id = ?1", [id.to_string()])?;
        for org in scopes {
            let known: Option<String> = tx.query_row("SELECT id FROM orgs WHERE id = ?1", [org], |r| r.get(0)).optional()?;
            if known.is_none() {
                return Err(VaultError::Missing(format!("org {org} not found")));
            }
            tx.execute("INSERT INTO user_scopes (user_id, org) VALUES (?1, ?2)", params![id.to_string(), org])?;
        }
    }
    if let Some(hash) = password_hash {
        tx.execute("UPDATE users SET password_hash = ?2 WHERE id = ?1", params![id.to_string(), hash])?;
        tx.execute("DELETE FROM sessions WHERE user_id = ?1", [id.to_string()])?;
    }
    Ok(())
}

/// Revokes token `id` if `by` (None: the system) owns it or is an admin; returns the
/// token's owner.
pub fn revoke_token(tx: &rusqlite::Transaction<'_>, id: TokenId, by: Option<&Principal>, now: &str) -> Result<UserId, archive::vault::VaultError> {
    use archive::vault::VaultError;
    let row: Option<(String, Option<String>)> =
        tx.query_row("SELECT user_id, revoked_at FROM tokens WHERE id = ?1", [id.to_string()], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
    let (owner, revoked) = row.ok_or_else(|| VaultError::Missing(format!("token {id} not found")))?;
    if let Some(p) = by {
        if p.role != Role::Admin && p.user.to_string() != owner {
            return Err(VaultError::Missing(format!("token {id} not found")));
        }
    }
    if revoked.is_some() {
        return Err(VaultError::Conflict(format!("token {id} is already revoked")));
    }
    tx.execute("UPDATE tokens SET revoked_at = ?2 WHERE id = ?1", params![id.to_string(), now])?;
    owner.parse().map_err(|_| VaultError::Conflict(format!("token {id} has a malformed owner")))
}

/// The user id of `name`.
pub fn user_named(conn: &rusqlite::Connection, name: &str) -> Result<Option<UserId>, ApiError> {
    let id: Option<String> = conn.query_row("SELECT id FROM users WHERE name = ?1", [name], |r| r.get(0)).optional()?;
    Ok(id.map(|i| i.parse()).transpose()?)
}

/// Checks a presented token against the catalog.
pub fn authenticate(conn: &rusqlite::Connection, presented: &str) -> Result<Principal, ApiError> {
    let invalid = || ApiError::unauthorized("invalid or revoked token");
    let rest = presented.strip_prefix("niem_").ok_or_else(invalid)?;
    let (id, secret) = rest.split_once('_').ok_or_else(invalid)?;
    let id: TokenId = id.parse().map_err(|_| invalid())?;
    let row: Option<(Vec<u8>, String)> = conn
        .query_row("SELECT secret_sha256, user_id FROM tokens WHERE id = ?1 AND revoked_at IS NULL", [id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (stored, user) = row.ok_or_else(invalid)?;
    if !secret_matches(&stored, secret) {
        return Err(invalid());
    }
    principal(conn, &user, None)?.ok_or_else(invalid)
}

/// The user `id` as a caller, with their scopes; `None` if unknown or disabled.
pub fn principal(conn: &rusqlite::Connection, id: &str, csrf: Option<String>) -> Result<Option<Principal>, ApiError> {
    let row: Option<(String, String, bool)> =
        conn.query_row("SELECT name, role, disabled FROM users WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional()?;
    let Some((name, role, false)) = row else { return Ok(None) };
    let Some(role) = Role::parse(&role) else { return Ok(None) };
    let mut stmt = conn.prepare_cached("SELECT o.path FROM user_scopes s JOIN orgs o ON o.id = s.org WHERE s.user_id = ?1 ORDER BY o.path")?;
    let scopes = stmt.query_map([id], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
    Ok(Some(Principal { user: id.parse()?, name, role, scopes, csrf }))
}

/// An argon2id PHC string for `password`, salted from ring's RNG.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    SystemRandom::new().fill(&mut salt).map_err(|_| ApiError::internal("random generator failed"))?;
    let salt = SaltString::encode_b64(&salt).map_err(ApiError::internal)?;
    Ok(argon2::Argon2::default().hash_password(password.as_bytes(), &salt).map_err(ApiError::internal)?.to_string())
}

/// Whether `password` matches the PHC string `stored` (constant time inside argon2).
pub fn password_matches(stored: &str, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(stored).is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// Passwords shorter than this are refused when set.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Opens a web session for `user`; returns (cookie secret, CSRF token).
pub fn open_session(tx: &rusqlite::Transaction<'_>, user: &UserId, now: &str, expires: &str) -> Result<(String, String), ApiError> {
    let secret = new_secret()?;
    let csrf = new_secret()?;
    tx.execute(
        "INSERT INTO sessions (secret_sha256, user_id, csrf, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![secret_hash(&secret), user.to_string(), csrf, now, expires],
    )?;
    Ok((secret, csrf))
}

/// The caller behind a session cookie, if the session is live.
pub fn session_principal(conn: &rusqlite::Connection, secret: &str, now: &str) -> Result<Option<Principal>, ApiError> {
    let row: Option<(String, String)> = conn
        .query_row("SELECT user_id, csrf FROM sessions WHERE secret_sha256 = ?1 AND expires_at > ?2", params![secret_hash(secret), now], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    match row {
        Some((user, csrf)) => principal(conn, &user, Some(csrf)),
        None => Ok(None),
    }
}

pub fn close_session(conn: &rusqlite::Connection, secret: &str) -> Result<(), ApiError> {
    conn.execute("DELETE FROM sessions WHERE secret_sha256 = ?1", [secret_hash(secret)])?;
    Ok(())
}

pub const SESSION_COOKIE: &str = "niem_session";

/// The value of cookie `name` in a request's headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl FromRequestParts<Arc<App>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        if let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) {
            let token = header
                .to_str()
                .ok()
                .and_then(|h| h.strip_prefix("Bearer "))
                .ok_or_else(|| ApiError::unauthorized("Authorization header must be \"Bearer <token>\""))?
                .trim()
                .to_string();
            return app.vault.catalog.call(move |c| authenticate(c, &token)).await;
        }
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE).map(str::to_string) else {
            return Err(ApiError::unauthorized("missing Authorization: Bearer <token> header (or sign in to the web UI)"));
        };
        let now = app.vault.now();
        let who = app.vault.catalog.call(move |c| session_principal(c, &secret, &now)).await?;
        let who = who.ok_or_else(|| ApiError::unauthorized("your session has ended; sign in again"))?;
        if !parts.method.is_safe() {
            let sent = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
            let expected = who.csrf.as_deref().unwrap_or("");
            if expected.is_empty() || !bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) {
                return Err(ApiError::forbidden("missing or wrong X-CSRF-Token for this session"));
            }
        }
        Ok(who)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paths `in_scope_sql` lets through for `scope`.
    fn seen(scope: Option<&str>) -> Vec<String> {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE orgs (path TEXT);
             INSERT INTO orgs VALUES ('/a'), ('/a/b'), ('/ab'), ('/ab/c'), ('/d');",
        )
        .unwrap();
        let sql =
            format!("SELECT path FROM orgs o WHERE {} ORDER BY path", in_scope_sql("o.path", 1));
        let mut stmt = c.prepare(&sql).unwrap();
        stmt.query_map([scope], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    }

    #[test]
    fn a_scope_is_its_subtrees_and_not_a_sibling_that_shares_a_prefix() {
        assert_eq!(
            seen(Some(r#"["/a"]"#)),
            ["/a", "/a/b"],
            "/ab starts with /a but is not under it"
        );
        assert_eq!(
            seen(Some(r#"["/a/b", "/d"]"#)),
            ["/a/b", "/d"],
            "several subtrees; not the parent"
        );
        assert!(seen(Some("[]")).is_empty(), "bound to nothing sees nothing");
        assert_eq!(seen(None).len(), 5, "unbound roles see every org");
    }

    #[test]
    fn the_sql_and_the_door_agree() {
        let who = |role, scopes: &[&str]| Principal {
            user: UserId::new(),
            name: "x".into(),
            role,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            csrf: None,
        };
        for (role, scopes) in [
            (Role::Inspector, &["/a"][..]),
            (Role::Recorder, &["/ab"]),
            (Role::Auditor, &[]),
            (Role::Admin, &[]),
        ] {
            let p = who(role, scopes);
            let listed = seen(p.scope_json().as_deref());
            for path in ["/a", "/a/b", "/ab", "/ab/c", "/d"] {
                assert_eq!(
                    listed.iter().any(|l| l == path),
                    p.in_scope(path),
                    "{role:?} {scopes:?} {path}"
                );
            }
        }
        assert!(
            who(Role::Recorder, &[]).scope_json().is_some_and(|s| seen(Some(&s)).is_empty()),
            "a recorder with no scope is bound to nothing"
        );
    }

    #[test]
    fn scoped_roles_need_a_scope_and_unscoped_roles_take_none() {
        assert!(check_scopes(Role::Recorder, 0).is_err());
        assert!(check_scopes(Role::Inspector, 0).is_err());
        assert!(check_scopes(Role::Recorder, 1).is_ok());
        assert!(check_scopes(Role::Auditor, 1).is_err());
        assert!(check_scopes(Role::Admin, 0).is_ok());
    }
}
