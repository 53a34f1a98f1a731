//! The ledger mirror: copies committed entries to the store in batches and signs
//! checkpoints over them.
//!
//! Invariants:
//! - a batch object `ledger/<first>-<last>.jsonl` is written before any checkpoint
//!   names an entry in it, and batches never overlap;
//! - the tree's tiles (`tile/…`, [`crate::tiles`]) for a checkpoint's size are
//!   written before the checkpoint, so that proofs between any two signed sizes
//!   need a few reads; a store older than tiles is backfilled at start;
//! - a checkpoint is written at every seal and at least every N entries or T seconds
//!   while entries arrive; each covers every mirrored entry;
//! - before the service appends after a restart, [`Mirror::resume`] checks that the
//!   catalog's ledger matches what the store holds, entry by entry for the newest
//!   batch and by Merkle root for the newest checkpoint. A catalog behind the store
//!   or diverged from it refuses to start rather than fork the chain.

use crate::catalog::{Catalog, CatalogError};
use crate::checkpoint::{Checkpoint, CheckpointObject, FORMAT};
use crate::clock::{format_ts, Clock};
use crate::db::params;
use crate::keys::Keys;
use crate::layout::{ObjectKey, ObjectKind};
use crate::ledger::postgres::MirrorLease;
use crate::ledger::{self, Entry, LedgerError};
use crate::merkle::CompactTree;
use crate::store::{put_idempotent, Store, StoreError};
use crate::tiles::{TileError, TileWriter};
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, Notify};

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the store's ledger has {store} entries but the catalog only {catalog}: the catalog is older than the store; restore it from the store instead of starting")]
    CatalogBehind { store: u64, catalog: u64 },
    #[error("the catalog's ledger differs from the store's at entry {seq}; refusing to fork the chain")]
    Diverged { seq: u64 },
    #[error("the store's newest checkpoint is not valid for this signing key: {0}")]
    BadCheckpoint(String),
    #[error("the newest ledger entry is dated {entry}, after this machine's clock ({clock}): no checkpoint is signed until the clock is right (the clock went back, or the catalog was altered)")]
    ClockBehind { entry: String, clock: String },
    #[error("this node's lease on the ledger mirror ended (another node writes it now)")]
    LeaseLost,
    #[error("no node signed a checkpoint over entry {head} in time: is the node holding the mirror lease running?")]
    NotSigned { head: u64 },
}

impl From<rusqlite::Error> for MirrorError {
    fn from(e: rusqlite::Error) -> Self {
        MirrorError::Catalog(CatalogError::Sql(e))
    }
}

/// When to sign a checkpoint without being asked.
#[derive(Debug, Clone, Copy)]
pub struct MirrorPolicy {
    pub every_entries: u64,
    pub every: Duration,
    /// How long new entries wait to be gathered into one batch object.
    pub batch_window: Duration,
}

impl Default for MirrorPolicy {
    fn default() -> Self {
        Self { every_entries: 1000, every: Duration::from_secs(60), batch_window: Duration::from_secs(1) }
    }
}

struct State {
    tree: CompactTree,
    checkpointed: u64,
    last_checkpoint: Instant,
    /// The newest mirrored entry's time: a checkpoint is never dated before what
    /// it covers (the verifier fails an entry dated after its checkpoint).
    newest: time::OffsetDateTime,
    /// The last checkpoint's time: checkpoints only move forward.
    signed_at: time::OffsetDateTime,
    /// The tiles of `tree`; `None` while the store refuses them (a tile with
    /// other hashes: then checkpoints go on, without tiles, and say so).
    tiles: Option<TileWriter>,
    /// The mirror lease's epoch this state was built under (PostgreSQL
    /// catalogs): another epoch means another node may have written since.
    epoch: Option<u64>,
}

/// How far ahead of the clock the newest entry may be for the mirror to wait for
/// the clock rather than refuse to sign (a small step back of the clock).
const CLOCK_SLACK: time::Duration = time::Duration::seconds(60);

pub struct Mirror {
    store: Store,
    catalog: Catalog,
    /// With a PostgreSQL catalog, nodes take turns: one holds the lease and
    /// writes; the others ask it for checkpoints.
    lease: Option<MirrorLease>,
    keys: Arc<Keys>,
    clock: Arc<dyn Clock>,
    policy: MirrorPolicy,
    state: Mutex<State>,
    wake: Notify,
}

/// Entries per batch object, so that no single object grows without bound.
const MAX_BATCH: u64 = 10_000;

/// How long the mirror lease lasts unless renewed. The holder renews it at
/// every flush (every two seconds at most); a node that stops renewing hands
/// over after this long.
const LEASE_TTL: Duration = Duration::from_secs(10);

impl Mirror {
    /// Checks the catalog against the store and prepares to continue the chain.
    /// `node` names this process to the other nodes sharing a PostgreSQL
    /// catalog (the mirror lease's holder).
    pub async fn resume(
        store: Store,
        catalog: Catalog,
        keys: Arc<Keys>,
        clock: Arc<dyn Clock>,
        policy: MirrorPolicy,
        node: &str,
    ) -> Result<Self, MirrorError> {
        let state = load_state(&store, &catalog, &keys).await?;
        let lease = catalog.is_postgres().then(|| MirrorLease::new(node, LEASE_TTL));
        Ok(Self { store, catalog, lease, keys, clock, policy, state: Mutex::new(state), wake: Notify::new() })
    }

    /// Tells the background loop that entries were appended. It gathers what
    /// arrives within `batch_window` into one batch object rather than one each.
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// Mirrors every committed entry; signs a checkpoint if forced or due.
    pub async fn flush(&self, force_checkpoint: bool) -> Result<(), MirrorError> {
        let mut st = self.state.lock().await;
        let head = self.catalog.reading(|tx| Ok::<_, MirrorError>(ledger::head_in(tx)?)).await?.map_or(0, |h| h + 1);
        if let Some(lease) = &self.lease {
            match self.take_lease(lease).await? {
                Some(epoch) if st.epoch == Some(epoch) => {}
                Some(epoch) => {
                    // Another node may have mirrored since this state was built.
                    *st = load_state(&self.store, &self.catalog, &self.keys).await?;
                    st.epoch = Some(epoch);
                }
                None => {
                    drop(st);
                    return match force_checkpoint {
                        true => self.await_checkpoint(head).await,
                        false => Ok(()),
                    };
                }
            }
        }
        let wanted = self.wanted().await?;
        while st.tree.size() < head {
            self.still_holding(&st).await?;
            let first = st.tree.size();
            let last = (head - 1).min(first + MAX_BATCH - 1);
            let entries =
                self.catalog.reading(move |tx| Ok::<_, MirrorError>(ledger::range_in(tx, first, last)?)).await?;
            let mut body = String::new();
            for e in &entries {
                body.push_str(&e.to_line());
                body.push('\n');
            }
            put_idempotent(&*self.store, &ObjectKey::ledger_batch(first, last), Bytes::from(body)).await?;
            for e in &entries {
                st.tree.push(&e.hash);
                if let Some(t) = st.tiles.as_mut() {
                    t.push(&e.hash);
                }
                if let Ok(ts) = crate::clock::parse_ts(&e.ts) {
                    st.newest = st.newest.max(ts);
                }
            }
            let mirrored = st.tree.size();
            self.catalog
                .exec(move |c| {
                    c.execute("UPDATE ledger_mirror SET mirrored = $1 WHERE id = 1", params![mirrored])?;
                    Ok::<_, MirrorError>(())
                })
                .await?;
        }
        let size = st.tree.size();
        let due = size - st.checkpointed >= self.policy.every_entries
            || st.last_checkpoint.elapsed() >= self.policy.every
            || wanted > st.checkpointed;
        if size > st.checkpointed && (force_checkpoint || due) {
            self.still_holding(&st).await?;
            let time = self.signing_time(&st).await?;
            if let Some(tiles) = st.tiles.as_mut() {
                match tiles.flush(&*self.store).await {
                    Ok(()) => {}
                    Err(TileError::Store(e)) => return Err(e.into()),
                    Err(e) => {
                        tracing::error!(error = %e, "a tile in the store is not this ledger's; checkpoints go on without tiles");
                        st.tiles = None;
                    }
                }
            }
            let cp = Checkpoint {
                origin: self.keys.signer.verifier().name().into(),
                size,
                root: st.tree.root(),
                time: format_ts(time),
            };
            let obj = CheckpointObject { format: FORMAT.into(), note: cp.sign(&self.keys.signer) };
            let body = serde_json::to_vec(&obj).expect("checkpoint serialises");
            match put_idempotent(&*self.store, &ObjectKey::checkpoint(size - 1), Bytes::from(body)).await {
                // A checkpoint of this size from before a crash: valid if it names our root.
                Err(StoreError::AlreadyExists(key)) => {
                    let existing = self.store.get(key.as_str()).await?;
                    let old = Checkpoint::open_stored(&existing, self.keys.signer.verifier())
                        .map_err(|e| MirrorError::BadCheckpoint(e.to_string()))?;
                    if old.root != cp.root {
                        return Err(MirrorError::Diverged { seq: size - 1 });
                    }
                }
                other => other?,
            }
            let ts = cp.time.clone();
            self.catalog
                .exec(move |c| {
                    c.execute(
                        "UPDATE ledger_mirror SET checkpointed = $1, checkpoint_ts = $2 WHERE id = 1",
                        params![size, ts],
                    )?;
                    Ok::<_, MirrorError>(())
                })
                .await?;
            st.checkpointed = size;
            st.last_checkpoint = Instant::now();
            st.signed_at = time;
        }
        Ok(())
    }

    /// Takes or renews the lease: its epoch, or `None` while another node holds it.
    async fn take_lease(&self, lease: &MirrorLease) -> Result<Option<u64>, MirrorError> {
        let lease = lease.clone();
        self.catalog.exec(move |c| c.either(|_| Ok(Some(0)), |pg| Ok(lease.acquire(pg)?))).await
    }

    /// Refuses to write once this node's lease has ended (it paused past the
    /// lease time and another node took over): the other node writes now.
    async fn still_holding(&self, st: &State) -> Result<(), MirrorError> {
        let (Some(lease), Some(epoch)) = (self.lease.clone(), st.epoch) else { return Ok(()) };
        let holds = self
            .catalog
            .exec(move |c| c.either(|_| Ok(true), |pg| Ok::<_, MirrorError>(lease.holds(pg, epoch)?)))
            .await?;
        if holds {
            return Ok(());
        }
        Err(MirrorError::LeaseLost)
    }

    /// The newest entry some node asked to be signed.
    async fn wanted(&self) -> Result<u64, MirrorError> {
        self.catalog
            .reading(|tx| {
                Ok::<_, MirrorError>(tx.query_one("SELECT wanted FROM ledger_mirror WHERE id = 1", &[])?.get(0)?)
            })
            .await
    }

    /// On a node without the lease: asks the holder to sign every entry up to
    /// `head`, and waits until a checkpoint covers them.
    async fn await_checkpoint(&self, head: u64) -> Result<(), MirrorError> {
        self.catalog
            .exec(move |c| {
                c.execute("UPDATE ledger_mirror SET wanted = $1 WHERE id = 1 AND wanted < $1", params![head])?;
                Ok::<_, MirrorError>(())
            })
            .await?;
        let deadline = Instant::now() + LEASE_TTL * 3;
        loop {
            let signed: u64 = self
                .catalog
                .reading(|tx| {
                    Ok::<_, MirrorError>(
                        tx.query_one("SELECT checkpointed FROM ledger_mirror WHERE id = 1", &[])?.get(0)?,
                    )
                })
                .await?;
            if signed >= head {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(MirrorError::NotSigned { head });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The time to sign a checkpoint at: the clock's, never before the last
    /// checkpoint. If the newest entry is dated after it, the clock stepped back
    /// (or the catalog was altered): a little, and the mirror waits it out; more,
    /// and it refuses to sign rather than vouch for an entry from the future.
    async fn signing_time(&self, st: &State) -> Result<time::OffsetDateTime, MirrorError> {
        let now = self.clock.now().max(st.signed_at);
        if st.newest <= now {
            return Ok(now);
        }
        let ahead = st.newest - now;
        if ahead > CLOCK_SLACK {
            return Err(MirrorError::ClockBehind { entry: format_ts(st.newest), clock: format_ts(now) });
        }
        tokio::time::sleep(ahead.unsigned_abs()).await;
        Ok(self.clock.now().max(st.newest))
    }

    /// Mirrors in the background until the process ends. Store errors are retried
    /// with backoff: entries stay safe in the catalog meanwhile.
    pub async fn run(self: Arc<Self>) {
        let mut backoff = Duration::from_millis(200);
        // Entries another process commits to the catalog (an operator command,
        // another node) wake no one here: look every two seconds too, and with
        // several nodes every half second, since a node without the lease waits
        // for this one to sign its seal.
        let most = if self.lease.is_some() { Duration::from_millis(500) } else { Duration::from_secs(2) };
        let poll = self.policy.every.min(most);
        loop {
            tokio::select! {
                _ = self.wake.notified() => tokio::time::sleep(self.policy.batch_window).await,
                _ = tokio::time::sleep(poll) => {}
            }
            match self.flush(false).await {
                Ok(()) => backoff = Duration::from_millis(200),
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "ledger mirror failed; will retry");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}

/// Parses a batch object's lines.
pub fn parse_batch(body: &[u8], first: u64) -> Result<Vec<Entry>, LedgerError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| LedgerError::Malformed { seq: first, reason: "batch is not UTF-8".into() })?;
    text.lines().enumerate().map(|(i, line)| Entry::from_line(line, first + i as u64)).collect()
}

fn first_difference(theirs: &[Entry], ours: &[Entry], first: u64, last: u64) -> Option<u64> {
    for seq in first..=last {
        let i = (seq - first) as usize;
        if theirs.get(i).map(|e| e.hash) != ours.get(i).map(|e| e.hash) {
            return Some(seq);
        }
    }
    None
}

async fn newest_checkpoint(store: &Store, keys: &Keys) -> Result<Option<Checkpoint>, MirrorError> {
    let listed = store.list("checkpoints/").await?;
    let Some(newest) = listed
        .iter()
        .filter(|o| matches!(ObjectKey::classify(&o.key), ObjectKind::Checkpoint(_)))
        .max_by(|a, b| a.key.cmp(&b.key))
    else {
        return Ok(None);
    };
    let body = store.get(&newest.key).await?;
    Checkpoint::open_stored(&body, keys.signer.verifier())
        .map(Some)
        .map_err(|e| MirrorError::BadCheckpoint(e.to_string()))
}

/// The mirror's state as the store and the catalog hold it, after checking
/// that they agree: entry by entry for the newest batch, and by Merkle root
/// for the newest checkpoint. A catalog behind the store or diverged from it
/// is refused rather than fork the chain.
async fn load_state(store: &Store, catalog: &Catalog, keys: &Keys) -> Result<State, MirrorError> {
    let local = catalog.reading(|tx| Ok::<_, MirrorError>(ledger::head_in(tx)?)).await?.map_or(0, |h| h + 1);
    let objects = store.list("ledger/").await?;
    let newest = objects
        .iter()
        .filter_map(|o| match ObjectKey::classify(&o.key) {
            ObjectKind::LedgerBatch(first, last) if first <= last => Some((first, last)),
            _ => None,
        })
        .max_by_key(|&(_, last)| last);
    let mirrored = newest.map_or(0, |(_, last)| last + 1);
    if mirrored > local {
        return Err(MirrorError::CatalogBehind { store: mirrored, catalog: local });
    }
    if let Some((first, last)) = newest {
        let body = store.get(ObjectKey::ledger_batch(first, last).as_str()).await?;
        let theirs = parse_batch(&body, first)?;
        let ours = catalog.reading(move |tx| Ok::<_, MirrorError>(ledger::range_in(tx, first, last)?)).await?;
        if let Some(seq) = first_difference(&theirs, &ours, first, last) {
            return Err(MirrorError::Diverged { seq });
        }
    }
    // Rebuild the Merkle tree over the mirrored entries, and check the newest
    // checkpoint's root on the way past its size.
    let checkpoint = newest_checkpoint(store, keys).await?;
    let hashes: Vec<[u8; 32]> = catalog
        .reading(move |tx| {
            tx.query("SELECT hash FROM ledger WHERE seq < $1 ORDER BY seq", params![mirrored])?
                .iter()
                .map(|r| {
                    let h: Vec<u8> = r.get(0)?;
                    h.try_into().map_err(|_| MirrorError::Diverged { seq: 0 })
                })
                .collect()
        })
        .await?;
    let mut tree = CompactTree::new();
    let mut checkpointed = 0;
    if let Some(cp) = &checkpoint {
        if cp.size > mirrored {
            return Err(MirrorError::CatalogBehind { store: cp.size, catalog: mirrored });
        }
        checkpointed = cp.size;
    }
    for h in &hashes {
        if checkpoint.as_ref().is_some_and(|cp| cp.size == tree.size() && cp.root != tree.root()) {
            return Err(MirrorError::Diverged { seq: tree.size().saturating_sub(1) });
        }
        tree.push(h);
    }
    if checkpoint.as_ref().is_some_and(|cp| cp.size == tree.size() && cp.root != tree.root()) {
        return Err(MirrorError::Diverged { seq: tree.size().saturating_sub(1) });
    }
    let newest_ts: Option<String> = catalog
        .writing(move |tx| {
            // With several nodes the lease holder keeps this row; a node
            // catching up must not set it back to what it read a moment ago.
            if !tx.is_postgres() {
                tx.execute(
                    "UPDATE ledger_mirror SET mirrored = $1, checkpointed = $2 WHERE id = 1",
                    params![mirrored, checkpointed],
                )?;
            }
            let row = tx.query_opt("SELECT ts FROM ledger WHERE seq = $1", params![mirrored.saturating_sub(1)])?;
            Ok::<_, MirrorError>(row.map(|r| r.get(0)).transpose()?)
        })
        .await?;
    let tiles =
        match crate::tiles::resume_or_backfill(&**store, checkpoint.as_ref().map(|cp| (cp.size, cp.root)), &hashes)
            .await
        {
            Ok(t) => Some(t),
            Err(TileError::Store(e)) => return Err(e.into()),
            Err(e) => {
                tracing::error!(error = %e, "the store's tiles are not this ledger's; checkpoints go on without tiles");
                None
            }
        };
    let time_of =
        |t: Option<&str>| t.and_then(|t| crate::clock::parse_ts(t).ok()).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let (newest, signed_at) = (time_of(newest_ts.as_deref()), time_of(checkpoint.as_ref().map(|cp| cp.time.as_str())));
    Ok(State { tree, checkpointed, last_checkpoint: Instant::now(), newest, signed_at, tiles, epoch: None })
}
