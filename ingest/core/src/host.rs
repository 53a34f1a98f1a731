//! What the operator at the host may do with the service stopped (`niem token`,
//! `niem user`, `niem endpoint`, `niem member`, retention and holds): the break-glass door.
//!
//! Every change goes through the vault's one commit path as the actor `host`,
//! which the admin pages list and which is never an approver. There is no role
//! check here (whoever holds the data dir and the keys is the host), but every
//! data rule is the domain's own: the same scope rule, the same unique names,
//! the same sealed facts. The service must be stopped ([`Offline`]), so that one
//! process alone writes the ledger to the store.

use crate::accounts::{self, NewToken, UserChange};
use crate::app::{open_vault, ServeLock};
use crate::catalog::{self, Repo};
use crate::config::Config;
use crate::endpoints::{self, Endpoint};
use crate::error::DomainError;
use crate::principal::Role;
use crate::schema::{EndpointId, OrgId, TokenId, UserId};
use anyhow::Context;
use archive::ledger::{NewEntry, ACTOR_HOST};
use archive::vault::Vault;
use serde_json::json;
use std::sync::Arc;

/// The data dir and the store, held by a command while the service is stopped.
pub struct Offline {
    pub vault: Arc<Vault>,
    _serve: ServeLock,
}

impl Offline {
    /// Refuses while `niem serve` holds the data dir: two processes would each
    /// write the ledger to the store.
    pub async fn open(cfg: &Config) -> anyhow::Result<Self> {
        let serve = ServeLock::acquire(cfg)
            .context("stop the service first, or make this change through the API or the web UI")?;
        let vault = open_vault(cfg, None).await?;
        Ok(Self { vault, _serve: serve })
    }

    /// Signs what the command wrote and puts it in the store.
    pub async fn finish(self) -> anyhow::Result<()> {
        self.vault
            .mirror
            .flush(true)
            .await
            .context("the change is in the catalog; its ledger entries reach the store at the service's next start")
    }
}

/// Creates a token (and the user, if new and unscoped); returns the token text,
/// shown once and never stored.
pub async fn create_token(vault: &Vault, role: Role, name: &str) -> Result<String, DomainError> {
    let new = NewToken::generate()?;
    let now = vault.now();
    let known = catalog::read(&vault.catalog, {
        let name = name.to_string();
        move |repo| accounts::user_named(repo, &name)
    });
    // The user's id is in the entry's subject: an existing one's, or one made now.
    let user = known.await?.unwrap_or_else(UserId::new);
    let (subject, mut data) = (format!("user/{user}"), json!({ "token": new.id, "role": role.as_str() }));
    let mut facts = new.sealed_facts(&user);
    facts["name"] = json!(name);
    crate::facts::seal_into(&vault.keys, &subject, &mut data, facts)?;
    let entry = NewEntry { actor: ACTOR_HOST.into(), action: "token.created", subject, data };
    let name = name.to_string();
    let (token, _) = catalog::commit(vault, entry, move |repo| {
        let (_, _, token) = accounts::create_token_in(repo, &name, role, &now, &new, user)?;
        Ok::<_, DomainError>(token)
    })
    .await?;
    Ok(token)
}

pub async fn revoke_token(vault: &Vault, id: TokenId) -> Result<(), DomainError> {
    let now = vault.now();
    let entry =
        NewEntry { actor: ACTOR_HOST.into(), action: "token.revoked", subject: format!("token/{id}"), data: json!({}) };
    catalog::commit(vault, entry, move |repo| accounts::revoke_token_in(repo, id, None, &now).map(|_| ())).await?;
    Ok(())
}

/// Adds a user; an inspector or recorder needs a scope, as everywhere.
pub async fn add_user(
    vault: &Vault,
    name: &str,
    role: Role,
    scopes: Vec<String>,
    password_hash: Option<String>,
) -> Result<UserId, DomainError> {
    crate::principal::check_scopes(role, scopes.len()).map_err(DomainError::Invalid)?;
    let (id, name, now) = (UserId::new(), name.trim().to_string(), vault.now());
    let (subject, mut data) = (format!("user/{id}"), json!({ "role": role.as_str(), "scopes": scopes }));
    crate::facts::seal_into(&vault.keys, &subject, &mut data, json!({ "name": name, "password_hash": password_hash }))?;
    let entry = NewEntry { actor: ACTOR_HOST.into(), action: "user.created", subject, data };
    let add = move |repo: &dyn Repo| accounts::add_user(repo, id, &name, role, password_hash.as_deref(), &scopes, &now);
    catalog::commit(vault, entry, add).await?;
    Ok(id)
}

/// Changes the user `name` (a password, if any, already hashed).
pub async fn change_user(
    vault: &Vault,
    name: &str,
    change: UserChange,
    password_hash: Option<String>,
) -> Result<(), DomainError> {
    let id = catalog::read(&vault.catalog, {
        let name = name.to_string();
        move |repo| accounts::user_named(repo, &name)
    });
    let id = id.await?.ok_or_else(|| DomainError::not_found(format!("no user named {name:?}")))?;
    let (subject, mut data) = (format!("user/{id}"), change.summary());
    if password_hash.is_some() {
        crate::facts::seal_into(&vault.keys, &subject, &mut data, json!({ "password_hash": password_hash }))?;
    }
    let entry = NewEntry { actor: ACTOR_HOST.into(), action: "user.changed", subject, data };
    catalog::commit(vault, entry, move |repo| accounts::change_user(repo, id, None, &change, password_hash.as_deref()))
        .await?;
    Ok(())
}

pub async fn add_endpoint(vault: &Vault, org: OrgId, name: &str) -> Result<(Endpoint, String), DomainError> {
    endpoints::add_as(vault, ACTOR_HOST, org, name).await
}

pub async fn revoke_endpoint(vault: &Vault, id: EndpointId) -> Result<(), DomainError> {
    endpoints::revoke_as(vault, ACTOR_HOST, id).await
}

/// Adds a member to a cell's roster.
pub async fn add_member(
    vault: &Vault,
    org: OrgId,
    new: crate::members::NewMember,
) -> Result<crate::members::Member, DomainError> {
    crate::members::add_as(vault, ACTOR_HOST, org, new).await
}

/// A member leaves their cell, or moves to another.
pub async fn member_leaves(
    vault: &Vault,
    id: crate::schema::MemberId,
    leave: crate::members::Leave,
) -> Result<(), DomainError> {
    crate::members::leave_as(vault, ACTOR_HOST, id, leave).await
}

/// Imports a cell's roster from CSV: all or nothing.
pub async fn import_members(vault: &Vault, org: OrgId, csv: &str) -> Result<Vec<crate::members::Member>, DomainError> {
    crate::members::import_as(vault, ACTOR_HOST, org, csv).await
}

/// What `niem catalog migrate-to` copied and checked.
#[derive(Debug)]
pub struct CatalogMove {
    /// Every table with its rows and their digest, the same in both catalogs.
    pub tables: Vec<catalog::postgres::copy::TableCheck>,
    /// Ledger entries in the copy, each equal to the store's signed entry.
    pub ledger_entries: u64,
}

/// Copies this node's SQLite catalog into the empty PostgreSQL catalog at
/// `url`, then checks the copy ([`check_catalog_copy`]). The SQLite catalog is
/// left as it was; the node keeps running on it until `catalog.url` names the
/// copy.
pub async fn move_catalog_to(cfg: &Config, url: &str) -> anyhow::Result<CatalogMove> {
    if cfg.catalog.url.is_some() {
        anyhow::bail!("this node's catalog is in PostgreSQL already (catalog.url): migrate-to copies a SQLite catalog");
    }
    let offline = Offline::open(cfg).await?;
    // Every entry signed and in the store first, so the copy's ledger can be
    // held against it in full.
    offline.vault.mirror.flush(true).await.context("the store must take the ledger before the catalog moves")?;
    let (catalog, target) = (offline.vault.catalog.clone(), url.to_string());
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut client = connect_postgres(&target)?;
        catalog.with(|c| catalog::postgres::copy::copy(c, &mut client))?;
        Ok(())
    })
    .await??;
    let moved = compare_copy(&offline.vault, url).await?;
    offline.finish().await?;
    Ok(moved)
}

/// Checks a copy made by [`move_catalog_to`] (service stopped): every table
/// row by row against this node's SQLite catalog, and the ledger entry by
/// entry against the store, whose checkpoints sign it.
pub async fn check_catalog_copy(cfg: &Config, url: &str) -> anyhow::Result<CatalogMove> {
    if cfg.catalog.url.is_some() {
        anyhow::bail!(
            "check-copy compares the SQLite catalog with its copy: run it with the SQLite catalog (catalog.url unset)"
        );
    }
    let offline = Offline::open(cfg).await?;
    let moved = compare_copy(&offline.vault, url).await?;
    offline.finish().await?;
    Ok(moved)
}

fn connect_postgres(url: &str) -> anyhow::Result<postgres::Client> {
    postgres::Client::connect(url, postgres::NoTls)
        .context("could not connect to the PostgreSQL catalog (a URL like postgres://niem@db.internal/niem)")
}

async fn compare_copy(vault: &Vault, url: &str) -> anyhow::Result<CatalogMove> {
    let (catalog, url) = (vault.catalog.clone(), url.to_string());
    let (tables, copied) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let mut client = connect_postgres(&url)?;
        let tables = catalog.with(|c| catalog::postgres::copy::check(c, &mut client))?;
        let entries = match archive::ledger::postgres::head(&mut client)? {
            Some(h) => archive::ledger::postgres::read_range(&mut client, 0, h)?,
            None => Vec::new(),
        };
        Ok((tables, entries))
    })
    .await??;
    let ledger_entries = ledger_against_store(vault, &copied).await?;
    Ok(CatalogMove { tables, ledger_entries })
}

/// The copied ledger is the store's: the same entries, every one signed.
async fn ledger_against_store(vault: &Vault, copied: &[archive::ledger::Entry]) -> anyhow::Result<u64> {
    let opts = archive::verify::Options { parallelism: 4, ..Default::default() };
    let (report, stored) = archive::verify::verify_ledger(&vault.store, vault.keys.signer.verifier(), &opts).await?;
    if !report.intact() {
        anyhow::bail!(
            "the store's ledger does not verify, so the copy cannot be checked against it: run niem-audit verify"
        );
    }
    if report.unsigned_entries > 0 {
        anyhow::bail!("{} ledger entries in the store are not yet signed by a checkpoint", report.unsigned_entries);
    }
    if stored.len() != copied.len() {
        anyhow::bail!("the copy holds {} ledger entries and the store {}", copied.len(), stored.len());
    }
    // Every field, and each entry's own hash: a row changed under its old hash
    // differs from the store's entry even though the chain of hashes does not.
    let same = |s: &archive::ledger::Entry, c: &archive::ledger::Entry| s == c && c.compute_hash() == c.hash;
    if let Some((s, c)) = stored.iter().zip(copied).find(|(s, c)| !same(s, c)) {
        anyhow::bail!("ledger entry {} differs between the copy and the store (seq {} there)", c.seq, s.seq);
    }
    Ok(copied.len() as u64)
}
