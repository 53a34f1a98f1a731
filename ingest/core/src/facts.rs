//! Sealed facts: what the ledger must carry for a disaster recovery (meeting
//! titles, user names, password, token and stream-key hashes) but an auditor must
//! not read. They travel in an entry's `sealed` field, under the note key
//! (`archive::keys::Keys::seal_note`), bound to the entry's subject; `niem restore`
//! opens them (`crate::restore`).

use archive::keys::Keys;
use serde_json::Value;

/// Adds `facts`, sealed under the note key and bound to `subject`, to an
/// entry's data as its `sealed` field.
pub fn seal_into(keys: &Keys, subject: &str, data: &mut Value, facts: Value) -> Result<(), crate::DomainError> {
    let note = keys.seal_note(subject, facts.to_string().as_bytes()).map_err(crate::DomainError::internal)?;
    if let Value::Object(m) = data {
        m.insert("sealed".into(), serde_json::to_value(note).expect("a sealed note serialises"));
    }
    Ok(())
}
