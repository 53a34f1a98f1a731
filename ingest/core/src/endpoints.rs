//! Endpoints (bridge points, *điểm cầu*) and their stream keys.
//!
//! A stream key is `live_<endpoint id>_<secret>`: the credential a recorder puts in
//! `rtmp://host/live/<key>` or `PUT /api/v1/live/<key>`. It is bound to one org and
//! one endpoint, shown once when created, and kept only as SHA-256 of the secret,
//! like API tokens. Revoking an endpoint refuses its key from then on.

use crate::accounts::{new_secret, secret_hash, secret_matches};
use crate::app::App;
use crate::catalog::{self, EndpointRow, Repo, Scope};
use crate::error::DomainError;
use crate::principal::{Principal, Role};
use crate::schema::{EndpointId, OrgId};
use archive::ledger::NewEntry;
use archive::vault::Vault;
use serde::Deserialize;
use serde_json::json;

pub use crate::catalog::{Endpoint, Listed};

/// Why a stream key was refused. Unknown and revoked keys get the same answer, so
/// a guesser learns nothing.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("unknown or revoked stream key")]
    Refused,
    #[error(transparent)]
    Store(#[from] crate::catalog::Error),
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
    let row = EndpointRow { id, org: org.to_string(), name, key_sha256: secret_hash(&secret) };
    catalog::commit(vault, entry, move |repo| {
        if !repo.org_exists(&row.org)? {
            return Err(DomainError::not_found(format!("org {org} not found")));
        }
        if repo.endpoint_name_taken(org, &row.name)? {
            return Err(DomainError::conflict(format!("org {org} already has an endpoint named {:?}", row.name)));
        }
        Ok(repo.insert_endpoint(&row, &now)?)
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
    catalog::commit(vault, entry, move |repo| {
        if !repo.endpoint_exists(id)? {
            return Err(DomainError::not_found(format!("endpoint {id} not found")));
        }
        if !repo.revoke_endpoint(id, &now)? {
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
    let scope = Scope::of(who);
    catalog::read(&app.vault.catalog, move |repo| repo.endpoints(org, &scope).map_err(DomainError::from)).await
}

/// The endpoint a presented stream key belongs to.
pub fn resolve(repo: &dyn Repo, key: &str) -> Result<Endpoint, KeyError> {
    let (id, secret) = key.strip_prefix("live_").and_then(|rest| rest.split_once('_')).ok_or(KeyError::Refused)?;
    let id: EndpointId = id.parse().map_err(|_| KeyError::Refused)?;
    let row = repo.live_endpoint(id)?.ok_or(KeyError::Refused)?;
    if !secret_matches(&row.key_sha256, secret) {
        return Err(KeyError::Refused);
    }
    Ok(Endpoint { id, org: row.org.parse().map_err(|_| KeyError::Refused)?, name: row.name })
}

/// Endpoints of `org` (or every org), for the operator's command line.
pub fn list(repo: &dyn Repo, org: Option<OrgId>) -> Result<Vec<Listed>, DomainError> {
    Ok(repo.endpoints(org, &Scope::All)?)
}

/// Of the endpoints `ids`, those within `who`'s scope: what a caller may see of
/// the live slots, which are held in memory.
pub fn visible(repo: &dyn Repo, ids: &[String], who: &Principal) -> Result<Vec<String>, DomainError> {
    Ok(repo.endpoints_in_scope(ids, &Scope::of(who))?)
}
