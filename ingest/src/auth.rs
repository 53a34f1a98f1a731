//! Bearer-token authentication and role checks.
//!
//! A token is `niem_<token id>_<secret>`; the catalog keeps only SHA-256 of the
//! secret, found by id and compared in constant time. The secret is 256 random
//! bits, so a fast hash is enough (passwords, which are weak, use argon2id).

use crate::error::ApiError;
use crate::schema::{TokenId, UserId};
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
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "admin" => Role::Admin,
            "inspector" => Role::Inspector,
            "auditor" => Role::Auditor,
            "recorder" => Role::Recorder,
            _ => return None,
        })
    }
}

/// Who is calling, once their token checked out.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: UserId,
    pub role: Role,
}

impl Principal {
    /// The ledger's name for this caller.
    pub fn actor(&self) -> String {
        format!("user:{}", self.user)
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

/// Creates a user (if `name` is new) and a token for them, in the caller's
/// transaction. Returns the token text, which is shown once and never stored.
pub fn create_token(tx: &rusqlite::Transaction<'_>, name: &str, role: Role, now: &str) -> Result<(UserId, TokenId, String), ApiError> {
    let existing: Option<(String, String)> =
        tx.query_row("SELECT id, role FROM users WHERE name = ?1", [name], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
    let user = match existing {
        Some((id, existing_role)) => {
            if existing_role != role.as_str() {
                return Err(ApiError::conflict(format!("user {name:?} exists with role {existing_role}")));
            }
            id.parse()?
        }
        None => {
            let id = UserId::new();
            tx.execute("INSERT INTO users (id, name, role, created_at) VALUES (?1, ?2, ?3, ?4)", params![id.to_string(), name, role.as_str(), now])?;
            id
        }
    };
    let secret = new_secret()?;
    let token = TokenId::new();
    tx.execute(
        "INSERT INTO tokens (id, user_id, secret_sha256, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![token.to_string(), user.to_string(), secret_hash(&secret), now],
    )?;
    Ok((user, token, format!("niem_{token}_{secret}")))
}

/// Checks a presented token against the catalog.
pub fn authenticate(conn: &rusqlite::Connection, presented: &str) -> Result<Principal, ApiError> {
    let invalid = || ApiError::unauthorized("invalid or revoked token");
    let rest = presented.strip_prefix("niem_").ok_or_else(invalid)?;
    let (id, secret) = rest.split_once('_').ok_or_else(invalid)?;
    let id: TokenId = id.parse().map_err(|_| invalid())?;
    let row: Option<(Vec<u8>, String, String, bool)> = conn
        .query_row(
            "SELECT t.secret_sha256, u.id, u.role, u.disabled FROM tokens t JOIN users u ON u.id = t.user_id
             WHERE t.id = ?1 AND t.revoked_at IS NULL",
            [id.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let (stored, user, role, disabled) = row.ok_or_else(invalid)?;
    if !secret_matches(&stored, secret) || disabled {
        return Err(invalid());
    }
    Ok(Principal { user: user.parse()?, role: Role::parse(&role).ok_or_else(invalid)? })
}

impl FromRequestParts<Arc<App>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token> header"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::unauthorized("Authorization header must be \"Bearer <token>\""))?
            .trim()
            .to_string();
        app.vault.catalog.call(move |c| authenticate(c, &token)).await
    }
}
