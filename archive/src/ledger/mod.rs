//! The ledger: one hash-chained entry per event, in the catalog first and mirrored
//! to the store in batches.
//!
//! `hash = SHA-256("niem/ledger/v1\n" ‖ JCS(entry without hash))`, where JCS is RFC
//! 8785 canonical JSON, `prev` is the previous entry's hash (32 zero bytes for seq 0)
//! and both are lowercase hex. An entry is appended inside the same SQLite
//! transaction as the state change it records, so the two commit together or not
//! at all. Several nodes append to one chain through PostgreSQL ([`postgres`]).

pub mod postgres;

use crate::db::Tx;
use crate::merkle::Hash;
use rusqlite::{params, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

pub const DOMAIN: &[u8] = b"niem/ledger/v1\n";
pub const ZERO: Hash = [0; 32];

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("catalog: {0}")]
    Catalog(#[from] rusqlite::Error),
    #[error("catalog (PostgreSQL): {0}")]
    Postgres(#[from] ::postgres::Error),
    #[error("ledger entry {seq} is malformed: {reason}")]
    Malformed { seq: u64, reason: String },
    #[error("ledger entry {seq}: {reason}")]
    Broken { seq: u64, reason: String },
}

/// One ledger entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub seq: u64,
    pub ts: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub data: serde_json::Value,
    #[serde(with = "hex_hash")]
    pub prev: Hash,
    #[serde(with = "hex_hash")]
    pub hash: Hash,
}

/// The fields an entry is hashed over, in JCS order (keys sort lexicographically).
#[derive(Serialize)]
struct Hashed<'a> {
    action: &'a str,
    actor: &'a str,
    data: &'a serde_json::Value,
    #[serde(with = "hex_hash")]
    prev: &'a Hash,
    seq: u64,
    subject: &'a str,
    ts: &'a str,
}

mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let v = hex::decode(&s).map_err(serde::de::Error::custom)?;
        v.try_into().map_err(|_| serde::de::Error::custom("hash is 32 bytes"))
    }
}

/// Who did something: `user:<id>`, `endpoint:<id>`, `system` (the service on
/// its own) or `host` (an operator at the host's command line, which bypasses
/// sign-in: a break-glass route, listed by the verifier, never an approver).
pub fn actor_system() -> String {
    "system".into()
}

/// The actor of changes made at the host's command line.
pub const ACTOR_HOST: &str = "host";

/// An event to append; the ledger fills in seq, ts, prev and hash.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub actor: String,
    pub action: &'static str,
    pub subject: String,
    pub data: serde_json::Value,
}

impl Entry {
    /// The hash this entry must carry, computed from its other fields.
    pub fn compute_hash(&self) -> Hash {
        let hashed = Hashed {
            action: &self.action,
            actor: &self.actor,
            data: &self.data,
            prev: &self.prev,
            seq: self.seq,
            subject: &self.subject,
            ts: &self.ts,
        };
        // JCS fails only on non-finite floats, which a serde_json::Value cannot hold.
        let canonical = serde_jcs::to_vec(&hashed).expect("canonical JSON");
        let mut c = ring::digest::Context::new(&ring::digest::SHA256);
        c.update(DOMAIN);
        c.update(&canonical);
        c.finish().as_ref().try_into().expect("SHA-256 is 32 bytes")
    }

    /// One line of a ledger batch: the entry in canonical JSON.
    pub fn to_line(&self) -> String {
        serde_jcs::to_string(self).expect("canonical JSON")
    }

    pub fn from_line(line: &str, expected_seq: u64) -> Result<Self, LedgerError> {
        serde_json::from_str(line).map_err(|e| LedgerError::Malformed { seq: expected_seq, reason: e.to_string() })
    }

    /// Checks this entry against its predecessor's hash and its own.
    pub fn check(&self, expected_seq: u64, prev: &Hash) -> Result<(), LedgerError> {
        let broken = |reason: &str| LedgerError::Broken { seq: expected_seq, reason: reason.into() };
        if self.seq != expected_seq {
            return Err(broken(&format!("has seq {} where {expected_seq} belongs (gap or reorder)", self.seq)));
        }
        if &self.prev != prev {
            return Err(broken("does not link to the entry before it"));
        }
        if self.compute_hash() != self.hash {
            return Err(broken("hash does not match its content"));
        }
        Ok(())
    }
}

/// The ledger table in SQLite (the PostgreSQL engine records it as done).
pub const SCHEMA: &str = "
CREATE TABLE ledger (
    seq INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    data TEXT NOT NULL,
    prev BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE INDEX ledger_action ON ledger(action);
CREATE INDEX ledger_subject ON ledger(subject);
";

/// Appends an entry inside the caller's transaction. Its time is `ts`, or the
/// newest entry's if that is later: read in the same serialised transaction, so
/// an honest ledger's times never step back, whatever clock each writer has.
pub fn append(tx: &Transaction<'_>, ts: String, e: NewEntry) -> Result<Entry, LedgerError> {
    let head: Option<(u64, Vec<u8>, String)> = tx
        .query_row("SELECT seq, hash, ts FROM ledger ORDER BY seq DESC LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let (seq, prev, ts) = match head {
        None => (0, ZERO, ts),
        Some((seq, hash, head_ts)) => (seq + 1, to_hash(seq, hash)?, later(ts, head_ts)),
    };
    let mut entry =
        Entry { seq, ts, actor: e.actor, action: e.action.into(), subject: e.subject, data: e.data, prev, hash: ZERO };
    entry.hash = entry.compute_hash();
    tx.execute(
        "INSERT INTO ledger (seq, ts, actor, action, subject, data, prev, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![entry.seq, entry.ts, entry.actor, entry.action, entry.subject, entry.data.to_string(), &entry.prev[..], &entry.hash[..]],
    )?;
    Ok(entry)
}

/// The later of two entry times (compared as instants; a malformed one loses).
fn later(a: String, b: String) -> String {
    use crate::clock::parse_ts;
    match (parse_ts(&a), parse_ts(&b)) {
        (Ok(x), Ok(y)) if y > x => b,
        (Err(_), Ok(_)) => b,
        _ => a,
    }
}

fn to_hash(seq: u64, v: Vec<u8>) -> Result<Hash, LedgerError> {
    v.try_into().map_err(|_| LedgerError::Malformed { seq, reason: "stored hash is not 32 bytes".into() })
}

/// seq, ts, actor, action, subject, data, prev, hash as stored.
type RawEntry = (u64, String, String, String, String, String, Vec<u8>, Vec<u8>);

fn row_to_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawEntry> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
}

/// Reads entries `from..=to` from the catalog, in order.
pub fn read_range(conn: &rusqlite::Connection, from: u64, to: u64) -> Result<Vec<Entry>, LedgerError> {
    read_where(conn, "seq >= ?1 AND seq <= ?2", params![from, to])
}

/// Reads entries matching a filter, in order, for `niem-audit log`-style listings.
pub fn read_where(
    conn: &rusqlite::Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<Entry>, LedgerError> {
    let sql =
        format!("SELECT seq, ts, actor, action, subject, data, prev, hash FROM ledger WHERE {filter} ORDER BY seq");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(args, row_to_entry)?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, ts, actor, action, subject, data, prev, hash) = row?;
        let data = serde_json::from_str(&data).map_err(|e| LedgerError::Malformed { seq, reason: e.to_string() })?;
        out.push(Entry { seq, ts, actor, action, subject, data, prev: to_hash(seq, prev)?, hash: to_hash(seq, hash)? });
    }
    Ok(out)
}

/// The seq of the newest entry, if any.
pub fn head(conn: &rusqlite::Connection) -> Result<Option<u64>, LedgerError> {
    Ok(conn.query_row("SELECT MAX(seq) FROM ledger", [], |r| r.get(0))?)
}

/// [`append`] on either engine: inside the caller's write transaction, after
/// the entry committed last by any writer.
pub fn append_in(tx: &Tx<'_>, ts: String, e: NewEntry) -> Result<Entry, LedgerError> {
    // `either` runs one of its closures: the entry moves into that one, uncopied.
    let args = std::cell::Cell::new(Some((ts, e)));
    let taken = || args.take().ok_or_else(|| LedgerError::Malformed { seq: 0, reason: "appended twice".into() });
    tx.either(
        |t| taken().and_then(|(ts, e)| append(t, ts, e)),
        |t| taken().and_then(|(ts, e)| postgres::append(t, ts, e)),
    )
}

/// [`read_range`] on either engine.
pub fn range_in(tx: &Tx<'_>, from: u64, to: u64) -> Result<Vec<Entry>, LedgerError> {
    tx.either(|t| read_range(t, from, to), |t| postgres::read_range(t, from, to))
}

/// [`head`] on either engine.
pub fn head_in(tx: &Tx<'_>) -> Result<Option<u64>, LedgerError> {
    tx.either(|t| head(t), postgres::head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chain_links_and_detects_edits() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let tx = conn.transaction().unwrap();
        for i in 0..5 {
            let e = NewEntry {
                actor: actor_system(),
                action: "test.event",
                subject: format!("s{i}"),
                data: json!({"i": i, "é": "đảng"}),
            };
            append(&tx, "2026-11-22T00:00:00.000Z".into(), e).unwrap();
        }
        tx.commit().unwrap();
        let entries = read_range(&conn, 0, 10).unwrap();
        let mut prev = ZERO;
        for (i, e) in entries.iter().enumerate() {
            e.check(i as u64, &prev).unwrap();
            let back = Entry::from_line(&e.to_line(), i as u64).unwrap();
            assert_eq!(&back, e);
            prev = e.hash;
        }
        let mut edited = entries[2].clone();
        edited.subject = "other".into();
        assert!(edited.check(2, &entries[1].hash).is_err());
        assert!(entries[3].check(3, &entries[0].hash).is_err());
    }

    /// Two writers with different clocks: the later append never goes back in time.
    #[test]
    fn times_never_step_back() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let tx = conn.transaction().unwrap();
        let e = || NewEntry { actor: actor_system(), action: "test.event", subject: "s".into(), data: json!({}) };
        append(&tx, "2026-11-22T10:00:00.000Z".into(), e()).unwrap();
        let second = append(&tx, "2026-11-22T09:59:59.999Z".into(), e()).unwrap();
        assert_eq!(second.ts, "2026-11-22T10:00:00.000Z");
        let third = append(&tx, "2026-11-22T10:00:01.000Z".into(), e()).unwrap();
        assert_eq!(third.ts, "2026-11-22T10:00:01.000Z");
    }

    #[test]
    fn hash_is_over_jcs_with_domain_separation() {
        let e = Entry {
            seq: 0,
            ts: "2026-01-01T00:00:00.000Z".into(),
            actor: "system".into(),
            action: "a".into(),
            subject: "s".into(),
            data: json!({"b": 1, "a": [true, null]}),
            prev: ZERO,
            hash: ZERO,
        };
        let canonical = format!(
            r#"{{"action":"a","actor":"system","data":{{"a":[true,null],"b":1}},"prev":"{}","seq":0,"subject":"s","ts":"2026-01-01T00:00:00.000Z"}}"#,
            "0".repeat(64)
        );
        let mut expected = DOMAIN.to_vec();
        expected.extend_from_slice(canonical.as_bytes());
        assert_eq!(hex::encode(e.compute_hash()), crate::sha256_hex(&expected));
    }
}
