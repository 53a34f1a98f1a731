//! The bounded cache of decrypted index pieces.
//!
//! What it is: a least-recently-used map from (open file, piece index) to the
//! piece's plaintext, bounded in bytes, shared by every file of one encrypted
//! directory, with counters the service can export (`/metrics`).
//!
//! What it is not: the only plaintext in memory. Tantivy keeps some structures
//! it reads whole (term dictionaries, fast-field columns, norms) for as long as a
//! segment is open, and a piece handed out stays alive while tantivy holds a
//! slice of it, even once evicted; [`CacheStats::bytes`] counts what the cache
//! itself holds.

use lru::LruCache;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Default size: enough for the postings, positions and stored blocks that a
/// province-sized index's queries keep touching (see the benchmark).
pub const DEFAULT_CACHE_BYTES: usize = 256 << 20;

type Key = (u64, u32);

/// Shared by the files of one directory; cheap to clone through an `Arc`.
pub struct PieceCache {
    capacity: usize,
    state: Mutex<State>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

struct State {
    pieces: LruCache<Key, Arc<[u8]>>,
    bytes: usize,
}

/// What the cache holds and how well it serves, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// Plaintext bytes held now (a gauge).
    pub bytes: u64,
    /// The bound on `bytes`.
    pub capacity: u64,
    /// Pieces held now (a gauge).
    pub pieces: u64,
    /// Reads served from the cache (a counter).
    pub hits: u64,
    /// Reads that decrypted a piece (a counter).
    pub misses: u64,
    /// Pieces dropped to stay within the bound (a counter).
    pub evictions: u64,
}

impl std::fmt::Debug for PieceCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PieceCache({:?})", self.stats())
    }
}

impl PieceCache {
    /// A cache holding at most `capacity` bytes of plaintext (0 disables it).
    pub fn new(capacity: usize) -> PieceCache {
        PieceCache {
            capacity,
            state: Mutex::new(State { pieces: LruCache::unbounded(), bytes: 0 }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    pub fn stats(&self) -> CacheStats {
        let state = self.lock();
        CacheStats {
            bytes: state.bytes as u64,
            capacity: self.capacity as u64,
            pieces: state.pieces.len() as u64,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }

    /// The piece if held, counting a hit or a miss.
    pub(crate) fn get(&self, file: u64, piece: u32) -> Option<Arc<[u8]>> {
        let found = self.lock().pieces.get(&(file, piece)).cloned();
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub(crate) fn put(&self, file: u64, piece: u32, plain: Arc<[u8]>) {
        if plain.len() > self.capacity {
            return;
        }
        let mut state = self.lock();
        state.bytes += plain.len();
        if let Some(old) = state.pieces.put((file, piece), plain) {
            state.bytes -= old.len();
        }
        while state.bytes > self.capacity {
            let Some((_, dropped)) = state.pieces.pop_lru() else {
                break;
            };
            state.bytes -= dropped.len();
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Drops every piece of a file (deleted: its plaintext should not linger).
    pub(crate) fn forget(&self, file: u64) {
        let mut state = self.lock();
        let keys: Vec<Key> = state.pieces.iter().map(|(k, _)| *k).filter(|k| k.0 == file).collect();
        for key in keys {
            if let Some(dropped) = state.pieces.pop(&key) {
                state.bytes -= dropped.len();
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent at every await-free step; a panic elsewhere
        // while it was held cannot leave it half-updated.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_its_bound_and_counts() {
        let cache = PieceCache::new(100);
        for i in 0..5 {
            cache.put(1, i, Arc::from(vec![i as u8; 40]));
        }
        let s = cache.stats();
        assert_eq!((s.bytes, s.pieces, s.evictions), (80, 2, 3));
        assert!(cache.get(1, 0).is_none(), "the oldest went first");
        assert_eq!(cache.get(1, 4).as_deref(), Some(&[4u8; 40][..]));
        let s = cache.stats();
        assert_eq!((s.hits, s.misses), (1, 1));
        cache.forget(1);
        assert_eq!(cache.stats().bytes, 0);
        cache.put(2, 0, Arc::from(vec![0u8; 101]));
        assert_eq!(cache.stats().pieces, 0, "a piece larger than the bound is not kept");
    }
}
