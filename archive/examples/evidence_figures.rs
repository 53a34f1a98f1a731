//! Prints figures for the evidence toolkit: proof sizes, tile reads per proof and
//! tile storage at several log sizes. A benchmark that prints, not a test.
//!
//! cargo run --release -p archive --example evidence_figures [max entries]

use archive::layout::ObjectKey;
use archive::proof::{verify_consistency, verify_inclusion, TlogProof};
use archive::store::{ObjectMeta, ObjectStore, StoreError};
use archive::tiles::{write_tiles, TileReader, TileWriter};
use bytes::Bytes;
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Objects in memory, so that ten million entries' tiles cost no disk.
#[derive(Debug, Default)]
struct Memory(Mutex<BTreeMap<String, Bytes>>);

impl ObjectStore for Memory {
    fn describe(&self) -> String {
        "memory".into()
    }
    fn put_new<'a>(&'a self, key: &'a ObjectKey, body: Bytes) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let taken = map.contains_key(key.as_str());
        if !taken {
            map.insert(key.to_string(), body);
        }
        Box::pin(async move {
            if taken {
                Err(StoreError::AlreadyExists(key.clone()))
            } else {
                Ok(())
            }
        })
    }
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Bytes, StoreError>> {
        let got = self.0.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned();
        Box::pin(async move { got.ok_or_else(|| StoreError::NotFound(key.into())) })
    }
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>, StoreError>> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let out = map
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| ObjectMeta { key: k.clone(), size: v.len() as u64 })
            .collect();
        Box::pin(async move { Ok(out) })
    }
    fn delete<'a>(&'a self, _key: &'a ObjectKey) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
}

fn entry_hash(i: u64) -> [u8; 32] {
    archive::merkle::leaf_hash(&i.to_be_bytes())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let max: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000_000);
    let sizes: Vec<u64> = [1_000, 100_000, 1_000_000, 10_000_000].into_iter().filter(|&s| s <= max).collect();
    println!(
        "{:>10} {:>6} {:>9} {:>6} {:>6} {:>10} {:>8} {:>11}",
        "entries", "incl.", "tlog-pf", "GETs", "cons.", "GETs", "tiles", "tile bytes"
    );
    let store = Memory::default();
    let mut w = TileWriter::new();
    let mut roots = BTreeMap::new();
    for &size in &sizes {
        while w.size() < size {
            w.push(&entry_hash(w.size()));
        }
        write_tiles(&store, &w.take_full()).await.expect("full tiles");
        write_tiles(&store, &w.partial()).await.expect("partial tiles");
        roots.insert(size, w.root());
        let root = w.root();
        // Inclusion of an entry in the middle, from a cold reader.
        let reader = TileReader::new(&store, size);
        let index = size / 2 + 7;
        let proof = reader.inclusion(index).await.expect("inclusion");
        verify_inclusion(index, size, &entry_hash(index), &proof, &root).expect("verifies");
        let incl_gets = reader.gets();
        let text = TlogProof { extra: None, index, hashes: proof.clone(), checkpoint: String::new() }.encode();
        // Consistency from the previous size (or a tenth of this one).
        let old = sizes.iter().rev().find(|&&s| s < size).copied().unwrap_or(size / 10);
        let reader = TileReader::new(&store, size);
        let cons = reader.consistency(old).await.expect("consistency");
        let old_root = match roots.get(&old) {
            Some(r) => *r,
            None => TileReader::new(&store, old).root().await.unwrap_or([0; 32]),
        };
        let cons_ok = verify_consistency(old, size, &old_root, &root, &cons).is_ok();
        let listed = store.list("tile/").await.expect("list");
        let bytes: u64 = listed.iter().map(|o| o.size).sum();
        println!(
            "{size:>10} {:>6} {:>8}B {incl_gets:>6} {:>6} {:>10} {:>8} {:>11}",
            proof.len(),
            text.len(),
            cons.len(),
            format!("{}{}", reader.gets(), if cons_ok { "" } else { " (!)" }),
            listed.len(),
            bytes
        );
    }
    println!("incl. = inclusion proof hashes; tlog-pf = its tlog-proof text without the checkpoint;");
    println!("GETs = tile objects read by a cold reader;");
    println!("cons. = consistency proof hashes from the size of the row above");
}
