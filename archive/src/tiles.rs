//! The ledger's Merkle tree stored as C2SP tlog-tiles, so that inclusion and
//! consistency proofs over any size of log need a few reads instead of the
//! whole ledger, and standard tlog tools can read the tree.
//!
//! A tile is 256 consecutive hashes of one level (8,192 bytes), stored create-only
//! at `tile/<L>/<N>` ([`crate::layout::ObjectKey::tile`]). Level-0 tiles hold the
//! tree's leaf hashes, `SHA-256(0x00 ‖ entry hash)`: the leaves of Niêm's RFC 6962
//! tree are the ledger entry hashes, so the tlog "entry" `D[i]` is the 32-byte
//! hash of ledger entry *i*. A hash at level *L* ≥ 1 is the root of one full tile
//! at level *L − 1*. The rightmost tiles of a tree are partial (`.p/<W>`, 1 to 255
//! hashes) and are written for every checkpoint's size, before the checkpoint.
//! Entry bundles (`tile/entries/…`) are not written: the entries are the ledger
//! batches.
//!
//! This module writes tiles ([`TileWriter`], [`write_tiles`], [`backfill`]) and
//! computes proofs from them ([`TileReader`]). It does not trust what it reads:
//! proofs made from tiles are checked against a signed root by whoever uses them.

use crate::layout::{EvidenceKind, ObjectKey};
use crate::merkle::{node_hash, Hash};
use crate::proof::{ProofError, ProofPlan, Subtree};
use crate::store::{put_idempotent, ObjectStore, StoreError};
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Hashes in a full tile.
pub const TILE_WIDTH: u16 = 256;
/// Tree levels one tile spans (256 = 2^8).
pub const TILE_HEIGHT: u8 = 8;

#[derive(Debug, thiserror::Error)]
pub enum TileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("tile {0} is damaged: {1}")]
    Damaged(String, &'static str),
    #[error("tile {0} is in the store with other hashes: the tree it was written for differs")]
    Conflict(String),
    #[error(transparent)]
    Proof(#[from] ProofError),
}

/// One tile: its level, its index within the level, and how many hashes it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    pub level: u8,
    pub index: u64,
    /// 256 for a full tile, 1..=255 for a partial one.
    pub width: u16,
}

impl TileId {
    /// The tile at (`level`, `index`) as a tree of `size` leaves has it: full, or
    /// partial with the width tlog-tiles gives (`floor(size / 256^L) mod 256`).
    /// `None` if that tree has no such tile.
    pub fn for_size(level: u8, index: u64, size: u64) -> Option<Self> {
        let below = hashes_at_level(size, level);
        let start = index.checked_mul(u64::from(TILE_WIDTH))?;
        if below >= start + u64::from(TILE_WIDTH) {
            return Some(Self { level, index, width: TILE_WIDTH });
        }
        let width = below.checked_sub(start).filter(|w| *w > 0)?;
        Some(Self { level, index, width: width as u16 })
    }

    pub fn key(&self) -> ObjectKey {
        ObjectKey::tile(*self)
    }
}

/// How many hashes level `level` holds for a tree of `size` leaves: one per
/// complete group of 256^level leaves.
fn hashes_at_level(size: u64, level: u8) -> u64 {
    let shift = u32::from(level) * u32::from(TILE_HEIGHT);
    if shift >= 64 {
        0
    } else {
        size >> shift
    }
}

/// The root of a perfect subtree given its 2^k bottom hashes.
fn perfect_root(hashes: &[Hash]) -> Hash {
    debug_assert!(hashes.len().is_power_of_two());
    let mut row = hashes.to_vec();
    while row.len() > 1 {
        row = row.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
    }
    row[0]
}

fn encode(hashes: &[Hash]) -> Bytes {
    Bytes::from(hashes.concat())
}

/// Builds tiles as entries are appended: it keeps the rightmost, incomplete tile
/// of each level (at most 255 hashes each) and hands out each tile as it fills.
#[derive(Debug, Clone, Default)]
pub struct TileWriter {
    size: u64,
    /// Per level, the hashes of the tile that is not full yet.
    edge: Vec<Vec<Hash>>,
    /// Full tiles completed since they were last taken.
    full: Vec<(TileId, Vec<Hash>)>,
}

impl TileWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many entries the tiles cover.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends the next ledger entry hash.
    pub fn push(&mut self, entry_hash: &Hash) {
        self.size += 1;
        self.push_at(0, crate::merkle::leaf_hash(entry_hash));
    }

    fn push_at(&mut self, level: u8, hash: Hash) {
        let l = usize::from(level);
        if self.edge.len() == l {
            self.edge.push(Vec::new());
        }
        self.edge[l].push(hash);
        if self.edge[l].len() == usize::from(TILE_WIDTH) {
            let hashes = std::mem::take(&mut self.edge[l]);
            let index = hashes_at_level(self.size, level + 1) - 1;
            let root = perfect_root(&hashes);
            self.full.push((TileId { level, index, width: TILE_WIDTH }, hashes));
            self.push_at(level + 1, root);
        }
    }

    /// The full tiles completed since the last call.
    pub fn take_full(&mut self) -> Vec<(TileId, Vec<Hash>)> {
        std::mem::take(&mut self.full)
    }

    /// The partial tiles of the current size, one per level that has one.
    pub fn partial(&self) -> Vec<(TileId, Vec<Hash>)> {
        let mut out = Vec::new();
        for (level, hashes) in self.edge.iter().enumerate() {
            if hashes.is_empty() {
                continue;
            }
            let level = level as u8;
            let index = hashes_at_level(self.size, level + 1);
            out.push((TileId { level, index, width: hashes.len() as u16 }, hashes.clone()));
        }
        out
    }

    /// The tree's root at the current size, from the incomplete tiles alone:
    /// each holds the perfect subtrees its width's binary digits name.
    pub fn root(&self) -> Hash {
        let mut peaks = Vec::new();
        for hashes in self.edge.iter().rev() {
            let mut at = 0;
            let mut left = hashes.len();
            while left > 0 {
                let width = 1usize << (usize::BITS - 1 - left.leading_zeros());
                peaks.push(perfect_root(&hashes[at..at + width]));
                at += width;
                left -= width;
            }
        }
        match peaks.split_last() {
            None => crate::merkle::empty_root(),
            Some((&last, rest)) => rest.iter().rev().fold(last, |acc, l| node_hash(l, &acc)),
        }
    }

    /// Reads back the partial tiles a checkpoint of `size` left in the store and
    /// continues from there. Fails with the store's `NotFound` where a tile is
    /// missing (a store older than tiles, or a crash before they were written):
    /// then rebuild with [`backfill`]. The caller must compare [`Self::root`]
    /// with the signed root: the tiles come from the store.
    pub async fn resume(store: &dyn ObjectStore, size: u64) -> Result<Self, TileError> {
        let mut writer = Self { size, ..Self::default() };
        let mut level = 0u8;
        while hashes_at_level(size, level) > 0 {
            let index = hashes_at_level(size, level + 1);
            let width = hashes_at_level(size, level) % u64::from(TILE_WIDTH);
            let mut hashes = Vec::new();
            if width > 0 {
                let tile = TileId { level, index, width: width as u16 };
                let key = tile.key();
                hashes = decode(key.as_str(), &store.get(key.as_str()).await?, width as usize)?;
            }
            writer.edge.push(hashes);
            level += 1;
        }
        Ok(writer)
    }
}

fn decode(key: &str, body: &[u8], width: usize) -> Result<Vec<Hash>, TileError> {
    if body.len() != width * 32 {
        return Err(TileError::Damaged(key.into(), "its length is not its width times 32 bytes"));
    }
    Ok(body.chunks_exact(32).map(|c| c.try_into().unwrap_or([0; 32])).collect())
}

/// Stores tiles create-only. A tile already there with the same bytes is fine
/// (a retry, or a partial tile two checkpoints share); other bytes are a
/// [`TileError::Conflict`]: the store's tree is not this one.
pub async fn write_tiles(store: &dyn ObjectStore, tiles: &[(TileId, Vec<Hash>)]) -> Result<(), TileError> {
    for (id, hashes) in tiles {
        let key = id.key();
        match put_idempotent(store, &key, encode(hashes)).await {
            Err(StoreError::AlreadyExists(_)) => return Err(TileError::Conflict(key.to_string())),
            other => other?,
        }
    }
    Ok(())
}

/// Writes every tile the store lacks for the tree over `entry_hashes`, and the
/// partial tiles of its size; returns the writer to go on appending with. For a
/// store that predates tiles, or whose last tiles a crash cut off. Memory stays
/// bounded: full tiles are written as they fill.
pub async fn backfill(
    store: &dyn ObjectStore,
    entry_hashes: impl IntoIterator<Item = Hash>,
) -> Result<TileWriter, TileError> {
    let have: HashSet<TileId> = store
        .list("tile/")
        .await?
        .into_iter()
        .filter_map(|o| match ObjectKey::classify_evidence(&o.key) {
            Some(EvidenceKind::Tile(t)) => Some(t),
            _ => None,
        })
        .collect();
    let mut writer = TileWriter::new();
    for h in entry_hashes {
        writer.push(&h);
        if writer.full.len() >= 64 {
            let missing: Vec<_> = writer.take_full().into_iter().filter(|(t, _)| !have.contains(t)).collect();
            write_tiles(store, &missing).await?;
        }
    }
    let mut rest: Vec<_> = writer.take_full().into_iter().filter(|(t, _)| !have.contains(t)).collect();
    rest.extend(writer.partial());
    write_tiles(store, &rest).await?;
    Ok(writer)
}

/// Tiles read so far, by (level, index).
type TileCache = HashMap<(u8, u64), std::sync::Arc<Vec<Hash>>>;

/// What the mirror calls at start: continue from the partial tiles of the newest
/// checkpoint (`size`, `root`) when they are there and match its signed root,
/// then append `hashes[size..]`; otherwise (a store older than tiles, a crash
/// before they were written) [`backfill`] from all of `hashes`, the entry
/// hashes the mirror rebuilds its tree from.
pub async fn resume_or_backfill(
    store: &dyn ObjectStore,
    checkpoint: Option<(u64, Hash)>,
    hashes: &[Hash],
) -> Result<TileWriter, TileError> {
    if let Some((size, root)) = checkpoint.filter(|(size, _)| *size <= hashes.len() as u64) {
        if let Ok(mut writer) = TileWriter::resume(store, size).await {
            if writer.root() == root {
                hashes[size as usize..].iter().for_each(|h| writer.push(h));
                return Ok(writer);
            }
        }
    }
    backfill(store, hashes.iter().copied()).await
}

impl TileWriter {
    /// Writes the full tiles completed so far and the partial tiles of the
    /// current size: what the mirror calls before it stores a checkpoint of
    /// [`TileWriter::size`] entries.
    pub async fn flush(&mut self, store: &dyn ObjectStore) -> Result<(), TileError> {
        let mut tiles = self.take_full();
        tiles.extend(self.partial());
        write_tiles(store, &tiles).await
    }
}

/// Reads tiles of a tree of a given size and computes proofs from them. Each
/// tile is fetched at most once; [`TileReader::gets`] counts the reads.
pub struct TileReader<'a> {
    store: &'a dyn ObjectStore,
    size: u64,
    cache: Mutex<TileCache>,
    gets: AtomicU64,
}

impl<'a> TileReader<'a> {
    /// A reader for the tree of `size` leaves: a size a checkpoint signed, whose
    /// partial tiles the log wrote.
    pub fn new(store: &'a dyn ObjectStore, size: u64) -> Self {
        Self { store, size, cache: Mutex::new(HashMap::new()), gets: AtomicU64::new(0) }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Object reads so far.
    pub fn gets(&self) -> u64 {
        self.gets.load(Ordering::Relaxed)
    }

    /// The inclusion proof of entry `index` in this tree.
    pub async fn inclusion(&self, index: u64) -> Result<Vec<Hash>, TileError> {
        self.prove(ProofPlan::inclusion(index, self.size)?).await
    }

    /// The consistency proof from the tree of `old` entries to this tree.
    pub async fn consistency(&self, old: u64) -> Result<Vec<Hash>, TileError> {
        self.prove(ProofPlan::consistency(old, self.size)?).await
    }

    /// This tree's root, from its partial and full tiles.
    pub async fn root(&self) -> Result<Hash, TileError> {
        if self.size == 0 {
            return Ok(crate::merkle::empty_root());
        }
        let pieces = crate::proof::subtrees_of(0..self.size);
        let hashes = self.subtrees(&pieces).await?;
        let got: Vec<Hash> = pieces.iter().map(|s| hashes[s]).collect();
        let (&last, rest) = got.split_last().ok_or(ProofError::Malformed("empty tree"))?;
        Ok(rest.iter().rev().fold(last, |acc, l| node_hash(l, &acc)))
    }

    async fn prove(&self, plan: ProofPlan) -> Result<Vec<Hash>, TileError> {
        let hashes = self.subtrees(&plan.subtrees()).await?;
        Ok(plan.assemble(|s| hashes.get(&s).copied())?)
    }

    /// The hash of each perfect subtree, from the one tile that holds it: a
    /// subtree of height `8L + r` is `2^r` consecutive hashes of a level-L tile.
    pub async fn subtrees(&self, wanted: &[Subtree]) -> Result<HashMap<Subtree, Hash>, TileError> {
        let mut out = HashMap::new();
        for s in wanted {
            let level = s.level / TILE_HEIGHT;
            let r = s.level % TILE_HEIGHT;
            let first = s.index << r;
            let count = 1u64 << r;
            let index = first / u64::from(TILE_WIDTH);
            let tile = self.tile(level, index).await?;
            let at = (first % u64::from(TILE_WIDTH)) as usize;
            let slice = tile.get(at..at + count as usize).ok_or(ProofError::Missing(*s))?;
            out.insert(*s, perfect_root(slice));
        }
        Ok(out)
    }

    async fn tile(&self, level: u8, index: u64) -> Result<std::sync::Arc<Vec<Hash>>, TileError> {
        if let Some(t) = self.lock().get(&(level, index)) {
            return Ok(t.clone());
        }
        let id = TileId::for_size(level, index, self.size)
            .ok_or(ProofError::Missing(Subtree { level: level * TILE_HEIGHT, index: index * u64::from(TILE_WIDTH) }))?;
        let hashes = std::sync::Arc::new(self.fetch(id).await?);
        self.lock().insert((level, index), hashes.clone());
        Ok(hashes)
    }

    /// The tile of this size, or (a larger tree having filled it since) the
    /// full tile, of which the partial one is a prefix.
    async fn fetch(&self, id: TileId) -> Result<Vec<Hash>, TileError> {
        let key = id.key();
        self.gets.fetch_add(1, Ordering::Relaxed);
        match self.store.get(key.as_str()).await {
            Ok(body) => decode(key.as_str(), &body, usize::from(id.width)),
            Err(StoreError::NotFound(_)) if id.width < TILE_WIDTH => {
                let full = TileId { width: TILE_WIDTH, ..id };
                self.gets.fetch_add(1, Ordering::Relaxed);
                let body = self.store.get(full.key().as_str()).await?;
                let mut hashes = decode(full.key().as_str(), &body, usize::from(TILE_WIDTH))?;
                hashes.truncate(usize::from(id.width));
                Ok(hashes)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TileCache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proof::{verify_consistency, verify_inclusion, TreeLevels};
    use crate::store::LocalStore;

    fn hashes(n: u64) -> Vec<Hash> {
        (0..n).map(|i| crate::merkle::leaf_hash(&i.to_be_bytes())).collect()
    }

    /// tlog-tiles' example: a tree of 70,000 has 273 full level-0 tiles, one of
    /// width 112, one full level-1 tile, one of width 17 and one level-2 tile of 1.
    #[test]
    fn the_specs_example_of_70000_leaves() {
        let mut w = TileWriter::new();
        for h in hashes(70_000) {
            w.push(&h);
        }
        let full = w.take_full();
        let count = |level| full.iter().filter(|(t, _)| t.level == level).count();
        assert_eq!((count(0), count(1), count(2)), (273, 1, 0));
        let partial: Vec<TileId> = w.partial().into_iter().map(|(t, _)| t).collect();
        assert_eq!(
            partial,
            vec![
                TileId { level: 0, index: 273, width: 112 },
                TileId { level: 1, index: 1, width: 17 },
                TileId { level: 2, index: 0, width: 1 }
            ]
        );
        assert_eq!(TileId::for_size(1, 1, 70_000), Some(partial[1]));
        assert_eq!(TileId::for_size(0, 272, 70_000).map(|t| t.width), Some(256));
        assert_eq!(TileId::for_size(0, 274, 70_000), None);
        // A tree of 256: one full level-0 tile and a level-1 tile of width 1.
        let mut w = TileWriter::new();
        hashes(256).iter().for_each(|h| w.push(h));
        assert_eq!(
            w.partial().into_iter().map(|(t, _)| t).collect::<Vec<_>>(),
            vec![TileId { level: 1, index: 0, width: 1 }]
        );
    }

    #[test]
    fn root_from_the_edge_matches_the_tree_at_every_size() {
        let hs = hashes(1100);
        let tree = TreeLevels::from_entry_hashes(&hs);
        let mut w = TileWriter::new();
        assert_eq!(w.root(), crate::merkle::empty_root());
        for (i, h) in hs.iter().enumerate() {
            w.push(h);
            assert_eq!(w.root(), tree.root(i as u64 + 1).unwrap(), "size {}", i + 1);
        }
    }

    /// Tiles written at several checkpoints give the same proofs as the tree in
    /// memory, for sizes around tile edges, and the writer resumes from them.
    #[tokio::test]
    async fn proofs_from_tiles_equal_proofs_from_memory() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let hs = hashes(66_000);
        let tree = TreeLevels::from_entry_hashes(&hs);
        let checkpoints = [1u64, 255, 256, 257, 4000, 65_535, 65_536, 66_000];
        let mut w = TileWriter::new();
        for (i, h) in hs.iter().enumerate() {
            w.push(h);
            let size = i as u64 + 1;
            if checkpoints.contains(&size) {
                write_tiles(&store, &w.take_full()).await.unwrap();
                write_tiles(&store, &w.partial()).await.unwrap();
                let back = TileWriter::resume(&store, size).await.unwrap();
                assert_eq!(back.root(), tree.root(size).unwrap(), "resumed at {size}");
            }
        }
        for &size in &checkpoints {
            let reader = TileReader::new(&store, size);
            let root = tree.root(size).unwrap();
            assert_eq!(reader.root().await.unwrap(), root, "root of {size}");
            for index in [0, size / 3, size.saturating_sub(2), size - 1] {
                let p = reader.inclusion(index).await.unwrap();
                assert_eq!(p, tree.inclusion(index, size).unwrap(), "inclusion {index} in {size}");
                verify_inclusion(index, size, &hs[index as usize], &p, &root).unwrap();
            }
            for &old in checkpoints.iter().filter(|&&o| o <= size) {
                let p = reader.consistency(old).await.unwrap();
                assert_eq!(p, tree.consistency(old, size).unwrap(), "consistency {old}->{size}");
                verify_consistency(old, size, &tree.root(old).unwrap(), &root, &p).unwrap();
            }
        }
    }

    /// A store whose tiles were changed, or that already holds tiles of another
    /// tree, is caught: the proof fails against the signed root, and writing
    /// refuses to mix the trees.
    #[tokio::test]
    async fn damaged_or_foreign_tiles_are_caught() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let hs = hashes(600);
        let tree = TreeLevels::from_entry_hashes(&hs);
        let w = backfill(&store, hs.iter().copied()).await.unwrap();
        assert_eq!(w.root(), tree.root(600).unwrap());
        let key = TileId { level: 0, index: 0, width: 256 }.key();
        let path = dir.path().join(key.as_str());
        let mut body = std::fs::read(&path).unwrap();
        body[100] ^= 1;
        std::fs::write(&path, &body).unwrap();
        let reader = TileReader::new(&store, 600);
        let p = reader.inclusion(5).await.unwrap();
        assert!(verify_inclusion(5, 600, &hs[5], &p, &tree.root(600).unwrap()).is_err());
        std::fs::write(&path, &body[..8000]).unwrap();
        assert!(matches!(TileReader::new(&store, 600).inclusion(5).await, Err(TileError::Damaged(..))));

        let mut other = hs.clone();
        other[3][0] ^= 1;
        let mut w = TileWriter::new();
        other.iter().for_each(|h| w.push(h));
        assert!(matches!(write_tiles(&store, &w.take_full()).await, Err(TileError::Conflict(_))));
    }

    /// The mirror's start: from the partial tiles when they match the signed
    /// root, else rebuilt; a forged partial tile is not trusted.
    #[tokio::test]
    async fn resume_or_backfill_trusts_only_the_signed_root() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let hs = hashes(700);
        let tree = TreeLevels::from_entry_hashes(&hs);
        let mut w = TileWriter::new();
        hs[..600].iter().for_each(|h| w.push(h));
        w.flush(&store).await.unwrap();
        let root600 = tree.root(600).unwrap();
        let resumed = resume_or_backfill(&store, Some((600, root600)), &hs).await.unwrap();
        assert_eq!((resumed.size(), resumed.root()), (700, tree.root(700).unwrap()));
        // A partial tile replaced by other hashes of the right length.
        let key = TileId { level: 0, index: 2, width: 88 }.key();
        std::fs::remove_file(dir.path().join(key.as_str())).unwrap();
        std::fs::write(dir.path().join(key.as_str()), vec![9u8; 88 * 32]).unwrap();
        assert!(TileWriter::resume(&store, 600).await.unwrap().root() != root600);
        // Not trusted: rebuilt from the hashes instead (the forged tile stays for
        // the verifier to name).
        let rebuilt = resume_or_backfill(&store, Some((600, root600)), &hs).await.unwrap();
        assert_eq!(rebuilt.root(), tree.root(700).unwrap());
        let none = tempfile::tempdir().unwrap();
        let fresh = LocalStore::open(none.path()).unwrap();
        let built = resume_or_backfill(&fresh, Some((600, root600)), &hs).await.unwrap();
        assert_eq!(built.root(), tree.root(700).unwrap());
    }

    /// A store older than tiles is backfilled once; a second backfill writes
    /// nothing new, and resume then works from the partial tiles.
    #[tokio::test]
    async fn backfill_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let hs = hashes(1000);
        backfill(&store, hs.iter().copied()).await.unwrap();
        let first = store.list("tile/").await.unwrap();
        // 3 full tiles and a partial one at level 0, a partial one at level 1.
        assert_eq!(first.len(), 3 + 1 + 1, "{first:?}");
        backfill(&store, hs.iter().copied()).await.unwrap();
        assert_eq!(store.list("tile/").await.unwrap(), first);
        let resumed = TileWriter::resume(&store, 1000).await.unwrap();
        assert_eq!(resumed.root(), TreeLevels::from_entry_hashes(&hs).root(1000).unwrap());
        assert!(matches!(TileWriter::resume(&store, 999).await, Err(TileError::Store(StoreError::NotFound(_)))));
    }
}
