//! Sealed facts: what the ledger must carry for a disaster recovery (meeting
//! titles, user names, password, token and stream-key hashes) or must keep from
//! an auditor (a search's query) but still hold. They travel in an entry's
//! `sealed` field, under the note key (`archive::keys::Keys::seal_note`), bound
//! to the entry's subject; `niem restore` opens them (`crate::restore`), and an
//! admin may open a search's query ([`open`]).

use crate::catalog;
use crate::error::DomainError;
use crate::principal::{Principal, Role};
use crate::App;
use archive::keys::{Keys, WrappedDek};
use archive::ledger::NewEntry;
use serde::Serialize;
use serde_json::{json, Value};

/// Adds `facts`, sealed under the note key and bound to `subject`, to an
/// entry's data as its `sealed` field.
pub fn seal_into(keys: &Keys, subject: &str, data: &mut Value, facts: Value) -> Result<(), crate::DomainError> {
    let note = keys.seal_note(subject, facts.to_string().as_bytes()).map_err(crate::DomainError::internal)?;
    if let Value::Object(m) = data {
        m.insert("sealed".into(), serde_json::to_value(note).expect("a sealed note serialises"));
    }
    Ok(())
}

/// The actions whose sealed facts an admin may open: a search's query is sealed
/// so that auditors see that a search happened (who, filters, counts) but not
/// what it looked for, and the issue gives admins the key to what it was. The
/// other sealed facts are names and credential hashes kept for `niem restore`;
/// no person needs a password or token hash back, so they stay shut.
pub const OPENABLE: &[&str] = &["search.performed", "search.exported"];

/// A ledger entry with its sealed facts opened.
#[derive(Debug, Clone, Serialize)]
pub struct Opened {
    pub seq: u64,
    pub ts: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    /// What the entry sealed, e.g. `{"q": "…"}` for a search.
    pub facts: Value,
}

/// Opens the sealed facts of ledger entry `seq` for an admin. The opening is
/// itself ledgered (`sealed.opened`, naming the entry and its action, never the
/// facts) before anything is returned, so auditors see who looked and at what.
/// Only [`OPENABLE`] actions open; nothing is kept of the opened text.
pub async fn open(app: &App, who: &Principal, seq: u64) -> Result<Opened, DomainError> {
    who.require(&[Role::Admin])?;
    let entry = catalog::read(&app.vault.catalog, move |repo| {
        repo.entries(None, seq.saturating_add(1), 1).map_err(DomainError::from)
    })
    .await?
    .into_iter()
    .find(|e| e.seq == seq)
    .ok_or_else(|| DomainError::not_found(format!("no ledger entry {seq}")))?;
    if !OPENABLE.contains(&entry.action.as_str()) {
        return Err(DomainError::forbidden(format!(
            "the sealed facts of {} entries are not opened here; only a search's query is",
            entry.action
        )));
    }
    let note = entry.data.get("sealed").ok_or_else(|| DomainError::not_found(format!("entry {seq} seals nothing")))?;
    let note: WrappedDek = serde_json::from_value(note.clone()).map_err(DomainError::internal)?;
    let plain = app.vault.keys.open_note(&entry.subject, &note).map_err(DomainError::internal)?;
    let facts: Value = serde_json::from_slice(&plain).map_err(DomainError::internal)?;
    let data = json!({ "seq": seq, "action": entry.action });
    let subject = format!("ledger/{seq}");
    app.vault.record(NewEntry { actor: who.actor(), action: "sealed.opened", subject, data }).await?;
    Ok(Opened { seq, ts: entry.ts, actor: entry.actor, action: entry.action, subject: entry.subject, facts })
}
