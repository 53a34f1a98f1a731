//! Endpoints (bridge points, *điểm cầu*) and their stream keys.
//!
//! A stream key is `live_<endpoint id>_<secret>`: the credential a recorder puts in
//! `rtmp://host/live/<key>` or `PUT /api/v1/live/<key>`. It is bound to one org and
//! one endpoint, shown once when created, and kept only as SHA-256 of the secret,
//! like API tokens. Revoking an endpoint refuses its key from then on.

use crate::accounts::{new_secret, secret_hash, secret_matches};
use crate::app::App;
use crate::error::DomainError;
use crate::principal::{Principal, Role};
use crate::schema::{EndpointId, OrgId};
use archive::ledger::NewEntry;
use archive::vault::Vault;
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::json;

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

/// The facts an `endpoint.created` entry carries sealed: the key's hash, so that
/// a restored catalog still accepts the bridge point's stream key.
pub fn sealed_facts(key: &str) -> serde_json::Value {
    let secret = key.rsplit('_').next().unwrap_or_default();
    serde_json::json!({ "key_sha256": hex::encode(secret_hash(secret)) })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    pub name: String,
}

/// Creates an endpoint of `org` (admins); returns it and its stream key, which
/// is shown once and never stored.
pub async fn add(app: &App, who: &Principal, org: OrgId, name: &str) -> Result<(Endpoint, String), DomainError> {
    who.require(&[Role::Admin])?;
    add_as(&app.vault, &who.actor(), org, name).await
}

/// Creates an endpoint as `actor` (an admin, or the host at the command line).
pub async fn add_as(vault: &Vault, actor: &str, org: OrgId, name: &str) -> Result<(Endpoint, String), DomainError> {
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(DomainError::invalid("an endpoint needs a name of 1 to 200 characters"));
    }
    let (id, secret) = (EndpointId::new(), new_secret()?);
    let key = format!("live_{id}_{secret}");
    let (subject, mut data) = (format!("endpoint/{id}"), json!({ "org": org, "name": name }));
    crate::facts::seal_into(&vault.keys, &subject, &mut data, sealed_facts(&key))?;
    let entry = NewEntry { actor: actor.to_string(), action: "endpoint.created", subject, data };
    let now = vault.now();
    let ep = Endpoint { id, org, name: name.clone() };
    vault
        .commit_as(entry, move |tx| {
            let exists: bool =
                tx.query_row("SELECT EXISTS (SELECT 1 FROM orgs WHERE id = ?1)", [org.to_string()], |r| r.get(0))?;
            if !exists {
                return Err(DomainError::not_found(format!("org {org} not found")));
            }
            let taken: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM endpoints WHERE org = ?1 AND name = ?2)",
                params![org.to_string(), name],
                |r| r.get(0),
            )?;
            if taken {
                return Err(DomainError::conflict(format!("org {org} already has an endpoint named {name:?}")));
            }
            tx.execute(
                "INSERT INTO endpoints (id, org, name, key_sha256, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id.to_string(), org.to_string(), name, secret_hash(&secret), now],
            )?;
            Ok(())
        })
        .await?;
    Ok((ep, key))
}

/// Revokes an endpoint's stream key (admins): its next publish is refused.
pub async fn revoke(app: &App, who: &Principal, id: EndpointId) -> Result<(), DomainError> {
    who.require(&[Role::Admin])?;
    revoke_as(&app.vault, &who.actor(), id).await
}

/// Revokes an endpoint's stream key as `actor`.
pub async fn revoke_as(vault: &Vault, actor: &str, id: EndpointId) -> Result<(), DomainError> {
    let now = vault.now();
    let entry = NewEntry {
        actor: actor.to_string(),
        action: "endpoint.revoked",
        subject: format!("endpoint/{id}"),
        data: json!({}),
    };
    vault
        .commit_as(entry, move |tx| {
            let known: Option<String> =
                tx.query_row("SELECT id FROM endpoints WHERE id = ?1", [id.to_string()], |r| r.get(0)).optional()?;
            if known.is_none() {
                return Err(DomainError::not_found(format!("endpoint {id} not found")));
            }
            let changed = tx.execute(
                "UPDATE endpoints SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id.to_string(), now],
            )?;
            if changed == 0 {
                return Err(DomainError::conflict(format!("endpoint {id} is already revoked")));
            }
            Ok(())
        })
        .await?;
    Ok(())
}

/// The endpoints in the caller's scope (never their keys).
pub async fn list_visible(app: &App, who: &Principal, org: Option<OrgId>) -> Result<Vec<Listed>, DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor])?;
    let scope = who.scope_json();
    app.vault.catalog.call(move |c| list_in(c, org, scope).map_err(DomainError::from)).await
}

/// The endpoint a presented stream key belongs to.
pub fn resolve(conn: &rusqlite::Connection, key: &str) -> Result<Endpoint, KeyError> {
    let (id, secret) = key.strip_prefix("live_").and_then(|rest| rest.split_once('_')).ok_or(KeyError::Refused)?;
    let id: EndpointId = id.parse().map_err(|_| KeyError::Refused)?;
    let row: Option<(String, Vec<u8>, String)> = conn
        .query_row(
            "SELECT org, key_sha256, name FROM endpoints WHERE id = ?1 AND revoked_at IS NULL",
            [id.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
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

/// Endpoints of `org` (or every org) within `scope` ([`crate::principal::Principal::scope_json`]).
pub fn list_in(
    conn: &rusqlite::Connection,
    org: Option<OrgId>,
    scope: Option<String>,
) -> Result<Vec<Listed>, rusqlite::Error> {
    let sql = format!(
        "SELECT e.id, e.org, e.name, e.created_at, e.revoked_at
         FROM endpoints e JOIN orgs o ON o.id = e.org
         WHERE (?1 IS NULL OR e.org = ?1) AND {} ORDER BY e.org, e.name",
        crate::principal::in_scope_sql("o.path", 2)
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
        crate::principal::in_scope_sql("o.path", 2)
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params![ids, scope], |r| r.get(0))?;
    rows.collect()
}
