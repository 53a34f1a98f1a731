//! Accounts: users, their scopes, API tokens, web sessions and passwords, read
//! and written through the catalog interface ([`crate::catalog::Accounts`])
//! inside a caller's transaction.
//!
//! No rule about *who* may do these things lives here (that is [`crate::users`]
//! and [`crate::admins`], and the host's [`crate::host`]); only what must hold of
//! the data whoever asks: unique names, known orgs, a scope for scoped roles,
//! nobody changing their own role, secrets stored only as hashes.
//!
//! A token is `niem_<token id>_<secret>`; the catalog keeps only SHA-256 of the
//! secret, found by id and compared in constant time. The secret is 256 random
//! bits, so a fast hash is enough. Passwords, which are weak, use argon2id. A web
//! session is a cookie holding another 256-bit secret.

use crate::catalog::{NewAccount, Repo};
use crate::error::DomainError;
use crate::principal::{Principal, Role};
use crate::schema::{TokenId, UserId};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64URL, Engine};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;
use subtle::ConstantTimeEq;

pub fn secret_hash(secret: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, secret.as_bytes()).as_ref().to_vec()
}

/// 256 random bits, URL-safe: the secret half of tokens and stream keys.
pub fn new_secret() -> Result<String, DomainError> {
    let mut secret = [0u8; 32];
    SystemRandom::new().fill(&mut secret).map_err(|_| DomainError::internal("random generator failed"))?;
    Ok(B64URL.encode(secret))
}

/// Whether `secret` hashes to `stored`, in constant time.
pub fn secret_matches(stored: &[u8], secret: &str) -> bool {
    bool::from(stored.ct_eq(&secret_hash(secret)))
}

/// A token about to be created: its id and secret, made before the transaction
/// so that the ledger entry can carry the secret's hash, sealed.
pub struct NewToken {
    pub id: TokenId,
    secret: String,
}

impl NewToken {
    pub fn generate() -> Result<Self, DomainError> {
        Ok(Self { id: TokenId::new(), secret: new_secret()? })
    }

    /// The entry's sealed facts: what a restore needs to accept this token again.
    pub fn sealed_facts(&self, user: &UserId) -> serde_json::Value {
        serde_json::json!({ "token": self.id, "user": user, "secret_sha256": hex::encode(secret_hash(&self.secret)) })
    }
}

/// Creates a user (if `name` is new, with the id `fresh`) and `token` for them,
/// in the caller's transaction. Returns the token text, shown once and never stored.
pub fn create_token_in(
    repo: &dyn Repo,
    name: &str,
    role: Role,
    now: &str,
    new: &NewToken,
    fresh: UserId,
) -> Result<(UserId, TokenId, String), DomainError> {
    let user = match repo.user_by_name(name)? {
        Some(existing) => {
            if existing.role != role {
                let existing = existing.role.as_str();
                return Err(DomainError::conflict(format!("user {name:?} exists with role {existing}")));
            }
            existing.id
        }
        None if role.is_scoped() => {
            // A new user here would have no scope: bound to nothing, or worse,
            // mistaken for unbound. Scoped users are made with their scopes.
            let role = role.as_str();
            let add = format!("niem user add {name} --role {role} --scope ORG");
            let why = format!("no user named {name:?}: add the {role} first with `{add}`");
            return Err(DomainError::invalid(why));
        }
        None => {
            repo.insert_user(&NewAccount { id: fresh, name, role, password_hash: None, created_at: now })?;
            fresh
        }
    };
    let (token, secret) = (new.id, &new.secret);
    repo.insert_token(token, user, &secret_hash(secret), now)?;
    Ok((user, token, format!("niem_{token}_{secret}")))
}

/// Adds a user in the caller's transaction: unique name, known orgs in `scopes`.
pub fn add_user(
    repo: &dyn Repo,
    id: UserId,
    name: &str,
    role: Role,
    password_hash: Option<&str>,
    scopes: &[String],
    now: &str,
) -> Result<(), DomainError> {
    if repo.user_by_name(name)?.is_some() {
        return Err(DomainError::conflict(format!("a user named {name:?} exists")));
    }
    repo.insert_user(&NewAccount { id, name, role, password_hash, created_at: now })?;
    set_scopes(repo, id, scopes)
}

/// Binds user `id` to exactly `scopes` (org ids, which must exist).
fn set_scopes(repo: &dyn Repo, id: UserId, scopes: &[String]) -> Result<(), DomainError> {
    repo.clear_scopes(id)?;
    for org in scopes {
        if !repo.org_exists(org)? {
            return Err(DomainError::not_found(format!("org {org} not found")));
        }
        repo.add_scope(id, org)?;
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
    repo: &dyn Repo,
    id: UserId,
    by: Option<&UserId>,
    change: &UserChange,
    password_hash: Option<&str>,
) -> Result<(), DomainError> {
    let current = repo.user_by_id(id)?.ok_or_else(|| DomainError::not_found(format!("user {id} not found")))?.role;
    if by == Some(&id) && (change.role.is_some() || change.scopes.is_some() || change.disabled == Some(true)) {
        return Err(DomainError::conflict(SELF_CHANGE));
    }
    let role = change.role.unwrap_or(current);
    let scopes = match &change.scopes {
        Some(given) => given.len(),
        // Kept as they are: a scoped user's (at least one, checked when set).
        None if role.is_scoped() && current.is_scoped() => 1,
        // Unscoped roles hold none; a user who becomes scoped has none to keep.
        None => 0,
    };
    crate::principal::check_scopes(role, scopes).map_err(DomainError::Invalid)?;
    if let Some(d) = change.disabled {
        repo.set_disabled(id, d)?;
        if d {
            repo.end_sessions(id)?;
        }
    }
    if change.role.is_some() {
        repo.set_role(id, role)?;
        if !role.is_scoped() {
            repo.clear_scopes(id)?;
        }
    }
    if let Some(scopes) = &change.scopes {
        set_scopes(repo, id, scopes)?;
    }
    if let Some(hash) = password_hash {
        repo.set_password_hash(id, hash)?;
        repo.end_sessions(id)?;
    }
    Ok(())
}

/// Revokes token `id` if `by` (None: the system) owns it or is an admin; returns the
/// token's owner.
pub fn revoke_token_in(repo: &dyn Repo, id: TokenId, by: Option<&Principal>, now: &str) -> Result<UserId, DomainError> {
    let token = repo.token(id)?.ok_or_else(|| DomainError::not_found(format!("token {id} not found")))?;
    if let Some(p) = by {
        if p.role != Role::Admin && p.user != token.owner {
            return Err(DomainError::not_found(format!("token {id} not found")));
        }
    }
    if token.revoked {
        return Err(DomainError::conflict(format!("token {id} is already revoked")));
    }
    repo.revoke_token(id, now)?;
    Ok(token.owner)
}

/// The user id of `name`.
pub fn user_named(repo: &dyn Repo, name: &str) -> Result<Option<UserId>, DomainError> {
    Ok(repo.user_by_name(name)?.map(|u| u.id))
}

/// Checks a presented token against the catalog.
pub fn authenticate(repo: &dyn Repo, presented: &str) -> Result<Principal, DomainError> {
    let invalid = || DomainError::unauthenticated("invalid or revoked token");
    let rest = presented.strip_prefix("niem_").ok_or_else(invalid)?;
    let (id, secret) = rest.split_once('_').ok_or_else(invalid)?;
    let id: TokenId = id.parse().map_err(|_| invalid())?;
    let token = repo.token(id)?.filter(|t| !t.revoked).ok_or_else(invalid)?;
    if !secret_matches(&token.secret_sha256, secret) {
        return Err(invalid());
    }
    principal(repo, token.owner, None)?.ok_or_else(invalid)
}

/// The user `id` as a caller, with their scopes; `None` if unknown or disabled.
pub fn principal(repo: &dyn Repo, id: UserId, csrf: Option<String>) -> Result<Option<Principal>, DomainError> {
    let Some(user) = repo.user_by_id(id)?.filter(|u| !u.disabled) else { return Ok(None) };
    let scopes = repo.scope_paths(id)?;
    Ok(Some(Principal { user: id, name: user.name, role: user.role, scopes, csrf }))
}

/// An argon2id PHC string for `password`, salted from ring's RNG.
pub fn hash_password(password: &str) -> Result<String, DomainError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    SystemRandom::new().fill(&mut salt).map_err(|_| DomainError::internal("random generator failed"))?;
    let salt = SaltString::encode_b64(&salt).map_err(DomainError::internal)?;
    Ok(argon2::Argon2::default().hash_password(password.as_bytes(), &salt).map_err(DomainError::internal)?.to_string())
}

/// Whether `password` matches the PHC string `stored` (constant time inside argon2).
pub fn password_matches(stored: &str, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(stored).is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// Passwords shorter than this are refused when set.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Opens a web session for `user`; returns (cookie secret, CSRF token).
pub fn open_session(repo: &dyn Repo, user: &UserId, now: &str, expires: &str) -> Result<(String, String), DomainError> {
    let secret = new_secret()?;
    let csrf = new_secret()?;
    repo.insert_session(&secret_hash(&secret), *user, &csrf, now, expires)?;
    Ok((secret, csrf))
}

/// The caller behind a session cookie, if the session is live.
pub fn session_principal(repo: &dyn Repo, secret: &str, now: &str) -> Result<Option<Principal>, DomainError> {
    match repo.live_session(&secret_hash(secret), now)? {
        Some((user, csrf)) => principal(repo, user, Some(csrf)),
        None => Ok(None),
    }
}

pub fn close_session(repo: &dyn Repo, secret: &str) -> Result<(), DomainError> {
    repo.delete_session(&secret_hash(secret))?;
    Ok(())
}

pub const SESSION_COOKIE: &str = "niem_session";

/// The one rule on changing oneself, answered the same wherever it is asked.
pub(crate) const SELF_CHANGE: &str =
    "nobody changes their own role or scope, or disables themselves: ask another admin";
