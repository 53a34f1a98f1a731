//! Endpoints (bridge points, *điểm cầu*) and their stream keys.
//!
//! A stream key is `live_<endpoint id>_<secret>`: the credential a recorder puts in
//! `rtmp://host/live/<key>` or `PUT /api/v1/live/<key>`. It is bound to one org and
//! one endpoint, shown once when created, and kept only as SHA-256 of the secret,
//! like API tokens. Revoking an endpoint refuses its key from then on.

use crate::auth::{new_secret, secret_hash, secret_matches};
use crate::error::ApiError;
use crate::schema::{EndpointId, OrgId};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

/// An endpoint whose key checked out.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub id: EndpointId,
    pub org: OrgId,
    pub name: String,
}

/// Why a stream key was refused. Unknown and revoked keys get the same answer, so
/// a guesser learns nothing.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("unknown or revoked stream key")]
    Refused,
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    #[error(transparent)]
    Catalog(#[from] archive::catalog::CatalogError),
}

/// Creates an endpoint in the caller's transaction; returns it and its stream key
/// (shown once, never stored).
/// The facts an `endpoint.created` entry carries sealed: the key's hash, so that
/// a restored catalog still accepts the bridge point's stream key.
pub fn sealed_facts(key: &str) -> serde_json::Value {
    let secret = key.rsplit('_').next().unwrap_or_default();
    serde_json::json!({ "key_sha256": hex::encode(secret_hash(secret)) })
}

pub fn create(tx: &rusqlite::Transaction<'_>, org: OrgId, name: &str, now: &str) -> Result<(Endpoint, String), ApiError> {
    let exists: bool = tx.query_row("SELECT EXISTS (SELECT 1 FROM orgs WHERE id = ?1)", [org.to_string()], |r| r.get(0))?;
    if !exists {
        return Err(ApiError::not_found(format!("org {org} not found")));
    }
    let taken: bool = tx.query_row("SELECT EXISTS (SELECT 1 FROM endpoints WHERE org = ?1 AND name = ?2)", params![org.to_string(), name], |r| r.get(0))?;
    if taken {
        return Err(ApiError::conflict(format!("org {org} already has an endpoint named {name:?}")));
    }
    let id = EndpointId::new();
    let secret = new_secret()?;
    tx.execute(
        "INSERT INTO endpoints (id, org, name, key_sha256, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id.to_string(), org.to_string(), name, secret_hash(&secret), now],
    )?;
    Ok((Endpoint { id, org, name: name.to_string() }, format!("live_{id}_{secret}")))
}

/// Revokes an endpoint's key. Returns false if it was not found or already revoked.
pub fn revoke(tx: &rusqlite::Transaction<'_>, id: EndpointId, now: &str) -> Result<bool, rusqlite::Error> {
    Ok(tx.execute("UPDATE endpoints SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL", params![id.to_string(), now])? == 1)
}

/// The endpoint a presented stream key belongs to.
pub fn resolve(conn: &rusqlite::Connection, key: &str) -> Result<Endpoint, KeyError> {
    let (id, secret) = key.strip_prefix("live_").and_then(|rest| rest.split_once('_')).ok_or(KeyError::Refused)?;
    let id: EndpointId = id.parse().map_err(|_| KeyError::Refused)?;
    let row: Option<(String, Vec<u8>, String)> = conn
        .query_row("SELECT org, key_sha256, name FROM endpoints WHERE id = ?1 AND revoked_at IS NULL", [id.to_string()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let (org, stored, name) = row.ok_or(KeyError::Refused)?;
    if !secret_matches(&stored, secret) {
        return Err(KeyError::Refused);
    }
    Ok(Endpoint { id, org: org.parse().map_err(|_| KeyError::Refused)?, name })
}

/// An endpoint as listed to admins (never with its key).
#[derive(Debug, Serialize)]
pub struct Listed {
    pub id: String,
    pub org: String,
    pub name: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// Endpoints of `org` (or every org), for the operator's command line.
pub fn list(conn: &rusqlite::Connection, org: Option<OrgId>) -> Result<Vec<Listed>, rusqlite::Error> {
    list_in(conn, org, None)
}

/// Endpoints of `org` (or every org) within `scope` ([`crate::auth::Principal::scope_json`]).
pub fn list_in(
    conn: &rusqlite::Connection,
    org: Option<OrgId>,
    scope: Option<String>,
) -> Result<Vec<Listed>, rusqlite::Error> {
    let sql = format!(
        "SELECT e.id, e.org, e.name, e.created_at, e.revoked_at
         FROM endpoints e JOIN orgs o ON o.id = e.org
         WHERE (?1 IS NULL OR e.org = ?1) AND {} ORDER BY e.org, e.name",
        crate::auth::in_scope_sql("o.path", 2)
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params![org.map(|o| o.to_string()), scope], |r| {
        Ok(Listed { id: r.get(0)?, org: r.get(1)?, name: r.get(2)?, created_at: r.get(3)?, revoked_at: r.get(4)? })
    })?;
    rows.collect()
}

/// Of the endpoints `ids`, those within `scope`: what a caller may see of the
/// live slots, which are held in memory.
pub fn visible(
    conn: &rusqlite::Connection,
    ids: &[String],
    scope: Option<String>,
) -> Result<Vec<String>, rusqlite::Error> {
    let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let sql = format!(
        "SELECT e.id FROM endpoints e JOIN orgs o ON o.id = e.org
         WHERE e.id IN (SELECT value FROM json_each(?1)) AND {}",
        crate::auth::in_scope_sql("o.path", 2)
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params![ids, scope], |r| r.get(0))?;
    rows.collect()
}
