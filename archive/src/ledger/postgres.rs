//! The ledger in PostgreSQL, appended by any number of nodes.
//!
//! The same entries, hashes and times as in SQLite ([`super::append`]); what
//! changes is who serialises the appends. SQLite has one writer at a time, so the
//! newest row is the head. PostgreSQL has many, so the head is a row of its own,
//! `ledger_head`, that every append locks (`SELECT … FOR UPDATE`) for the rest of
//! its transaction: a second node's append waits there, and once the first
//! commits it reads the new head (READ COMMITTED re-reads a locked row that
//! changed), so seq and `prev` always follow the entry committed before. One
//! chain, whatever the number of nodes and writers; a transaction that rolls
//! back leaves no entry and no gap.
//!
//! The entry is appended in the caller's transaction, as in SQLite, so the state
//! change it records commits with it or not at all. The lock is held until that
//! commit: keep the transaction short after the append.
//!
//! The mirror to the store is written by one node at a time: the one holding
//! the [`MirrorLease`], a row with a holder, an expiry in the database's clock
//! and an epoch that grows with every change of hands. A node that stops
//! renewing (dead, cut off, paused) loses it when it expires and another takes
//! it; the old holder learns from [`MirrorLease::holds`] that its epoch is over
//! before it writes again.
//!
//! What it is not: the catalog's PostgreSQL engine (which runs [`SCHEMA`] among
//! its migrations), nor the mirror itself.

use super::{later, to_hash, Entry, LedgerError, NewEntry, ZERO};
use ::postgres::types::Type;
use ::postgres::{GenericClient, Transaction};

/// The ledger's tables: the entries, as in SQLite, and the one head row.
pub const SCHEMA: &str = "
CREATE TABLE ledger (
    seq BIGINT PRIMARY KEY CHECK (seq >= 0),
    ts TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    data TEXT NOT NULL,
    prev BYTEA NOT NULL CHECK (length(prev) = 32),
    hash BYTEA NOT NULL CHECK (length(hash) = 32)
);
CREATE INDEX ledger_action ON ledger(action);
CREATE INDEX ledger_subject ON ledger(subject);
-- The head: seq NULL until the first entry. One row, locked by every append.
CREATE TABLE ledger_head (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    seq BIGINT,
    hash BYTEA NOT NULL,
    ts TEXT NOT NULL
);
INSERT INTO ledger_head (one, seq, hash, ts) VALUES (TRUE, NULL, '\\x0000000000000000000000000000000000000000000000000000000000000000', '');
-- Who writes the mirror: one row, free while it has expired.
CREATE TABLE mirror_lease (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    holder TEXT NOT NULL,
    epoch BIGINT NOT NULL CHECK (epoch >= 0),
    expires TIMESTAMPTZ NOT NULL
);
INSERT INTO mirror_lease (one, holder, epoch, expires) VALUES (TRUE, '', 0, '-infinity');
";

/// Appends an entry inside the caller's transaction, after the entry committed
/// last by any node. Its time is `ts`, or the head's if that is later.
pub fn append(tx: &mut Transaction<'_>, ts: String, e: NewEntry) -> Result<Entry, LedgerError> {
    // Typed statements go out without a prepare: an append is two round trips
    // inside the transaction (the head, then the entry with the head moved),
    // and the head stays locked for every one of them.
    let head = tx.query_typed_one("SELECT seq, hash, ts FROM ledger_head WHERE one FOR UPDATE", &[])?;
    let (head_seq, head_hash, head_ts): (Option<i64>, Vec<u8>, String) = (head.get(0), head.get(1), head.get(2));
    let (seq, prev, ts) = match head_seq {
        None => (0, ZERO, ts),
        Some(s) => {
            let s = to_seq(s)?;
            (s + 1, to_hash(s, head_hash)?, later(ts, head_ts))
        }
    };
    let mut entry =
        Entry { seq, ts, actor: e.actor, action: e.action.into(), subject: e.subject, data: e.data, prev, hash: ZERO };
    entry.hash = entry.compute_hash();
    let seq = i64::try_from(entry.seq).map_err(|_| malformed(entry.seq, "seq beyond 2^63"))?;
    let data = entry.data.to_string();
    let (action, prev, hash) = (entry.action.as_str(), &entry.prev[..], &entry.hash[..]);
    tx.execute_typed(
        "WITH appended AS (
             INSERT INTO ledger (seq, ts, actor, action, subject, data, prev, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         )
         UPDATE ledger_head SET seq = $1, hash = $8, ts = $2 WHERE one",
        &[
            (&seq, Type::INT8),
            (&entry.ts, Type::TEXT),
            (&entry.actor, Type::TEXT),
            (&action, Type::TEXT),
            (&entry.subject, Type::TEXT),
            (&data, Type::TEXT),
            (&prev, Type::BYTEA),
            (&hash, Type::BYTEA),
        ],
    )?;
    Ok(entry)
}

/// The lease on writing the ledger's mirror, as one node sees it. Every time
/// is the database's (`now()`), so the nodes' clocks do not matter.
#[derive(Debug, Clone)]
pub struct MirrorLease {
    node: String,
    ttl_ms: i64,
}

impl MirrorLease {
    /// The lease as node `node` takes it: for `ttl` after each renewal.
    pub fn new(node: &str, ttl: std::time::Duration) -> MirrorLease {
        MirrorLease { node: node.to_string(), ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX) }
    }

    /// Takes or renews the lease: its epoch if this node holds it now, `None`
    /// while another node's has not expired. The epoch stays while this node
    /// renews in time, and grows when the lease changes hands or lapsed.
    pub fn acquire(&self, client: &mut impl GenericClient) -> Result<Option<u64>, LedgerError> {
        let row = client.query_typed_opt(
            "UPDATE mirror_lease
             SET epoch = CASE WHEN holder = $1 AND expires > now() THEN epoch ELSE epoch + 1 END,
                 holder = $1,
                 expires = now() + $2 * interval '1 millisecond'
             WHERE one AND (holder = $1 OR expires <= now())
             RETURNING epoch",
            &[(&self.node, Type::TEXT), (&self.ttl_ms, Type::INT8)],
        )?;
        row.map(|r| to_seq(r.get(0))).transpose()
    }

    /// Whether this node still holds the lease in `epoch`: asked before each
    /// write to the store, so that a holder that lapsed writes nothing more.
    pub fn holds(&self, client: &mut impl GenericClient, epoch: u64) -> Result<bool, LedgerError> {
        let epoch = i64::try_from(epoch).unwrap_or(i64::MAX);
        let row = client.query_typed_opt(
            "SELECT 1 FROM mirror_lease WHERE one AND holder = $1 AND epoch = $2 AND expires > now()",
            &[(&self.node, Type::TEXT), (&epoch, Type::INT8)],
        )?;
        Ok(row.is_some())
    }

    /// Gives the lease up at once (a node stopping cleanly), if it holds it.
    pub fn release(&self, client: &mut impl GenericClient) -> Result<(), LedgerError> {
        client.execute_typed(
            "UPDATE mirror_lease SET expires = '-infinity' WHERE one AND holder = $1",
            &[(&self.node, Type::TEXT)],
        )?;
        Ok(())
    }
}

/// Entries `from..=to`, in order.
pub fn read_range(client: &mut impl GenericClient, from: u64, to: u64) -> Result<Vec<Entry>, LedgerError> {
    let (from, to) = (i64::try_from(from).unwrap_or(i64::MAX), i64::try_from(to).unwrap_or(i64::MAX));
    let rows = client.query(
        "SELECT seq, ts, actor, action, subject, data, prev, hash FROM ledger WHERE seq >= $1 AND seq <= $2 ORDER BY seq",
        &[&from, &to],
    )?;
    rows.into_iter()
        .map(|r| {
            let seq = to_seq(r.get(0))?;
            let data: String = r.get(5);
            let data = serde_json::from_str(&data).map_err(|e| malformed(seq, &e.to_string()))?;
            Ok(Entry {
                seq,
                ts: r.get(1),
                actor: r.get(2),
                action: r.get(3),
                subject: r.get(4),
                data,
                prev: to_hash(seq, r.get(6))?,
                hash: to_hash(seq, r.get(7))?,
            })
        })
        .collect()
}

/// The seq of the newest entry, if any.
pub fn head(client: &mut impl GenericClient) -> Result<Option<u64>, LedgerError> {
    let seq: Option<i64> = client.query_one("SELECT seq FROM ledger_head WHERE one", &[])?.get(0);
    seq.map(to_seq).transpose()
}

fn to_seq(seq: i64) -> Result<u64, LedgerError> {
    u64::try_from(seq).map_err(|_| LedgerError::Malformed { seq: 0, reason: format!("negative seq {seq}") })
}

fn malformed(seq: u64, reason: &str) -> LedgerError {
    LedgerError::Malformed { seq, reason: reason.into() }
}
