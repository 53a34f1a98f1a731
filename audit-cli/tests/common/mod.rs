//! A store written by the real vault, for niem-audit to check: sealed
//! recordings with chunks, a mirrored ledger and signed checkpoints.

#![allow(dead_code)] // each test binary uses its own part

use archive::catalog::Catalog;
use archive::clock::{Clock, SystemClock};
use archive::id::RecordingId;
use archive::keys::KeyDir;
use archive::layout::ObjectKey;
use archive::ledger::NewEntry;
use archive::manifest::StreamState;
use archive::mirror::{Mirror, MirrorPolicy};
use archive::store::{LocalStore, Store};
use archive::vault::{StoredChunk, StreamEnd, StreamSpec, Vault};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

pub struct Site {
    pub dir: PathBuf,
    pub vault: Vault,
}

impl Site {
    /// A service's data under `dir`: catalog, keys (`keys/ledger.vkey`), store.
    /// `keys` may name another site's key directory, to sign with the same key.
    pub async fn new(dir: &Path, keys: Option<&Path>) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let catalog = Catalog::open(&dir.join("catalog.db")).unwrap();
        let keydir = KeyDir::new(keys.map_or_else(|| dir.join("keys"), Path::to_path_buf));
        let keys = Arc::new(if keydir.exists() { keydir.load() } else { keydir.init("niem.test/ledger") }.unwrap());
        let store: Store = Arc::new(LocalStore::open(dir.join("store")).unwrap());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let policy = MirrorPolicy::default();
        let mirror = Mirror::resume(store.clone(), catalog.clone(), keys.clone(), clock.clone(), policy, "test");
        let mirror = Arc::new(mirror.await.unwrap());
        let vault = Vault::new(store, keys, catalog, clock, mirror, 1000);
        Self { dir: dir.to_path_buf(), vault }
    }

    pub fn store(&self) -> PathBuf {
        self.dir.join("store")
    }

    pub fn public_key(&self) -> PathBuf {
        let path = self.dir.join("ledger.vkey");
        std::fs::write(&path, format!("{}\n", self.vault.keys.signer.verifier())).unwrap();
        path
    }

    /// A sealed recording with one uploaded stream of `plain`.
    pub async fn recording(&self, plain: &[u8]) -> RecordingId {
        let v = &self.vault;
        let rec = v.start_recording("user:admin", "m", "o", |_, _| Ok(())).await.unwrap();
        let spec = StreamSpec { kind: "upload", endpoint: None, content_type: None };
        let stream = v.open_stream("user:admin", rec, spec, |_, _| Ok(())).await.unwrap();
        let key = stream.key();
        let pieces: Vec<&[u8]> = plain.chunks(1000).collect();
        let mut stored = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            let sealed = key.seal_piece(i as u32, i + 1 == pieces.len(), piece.to_vec());
            let object = ObjectKey::chunk(rec, stream.id, i as u32);
            v.store.put_new(&object, sealed.bytes.clone().into()).await.unwrap();
            let (len, plain_len) = (sealed.bytes.len() as u64, piece.len() as u64);
            stored.push(StoredChunk { index: i as u32, plain_len, len, sha256: sealed.sha256 });
        }
        v.commit_chunks("user:admin", rec, stream.id, stored).await.unwrap();
        let sha256 = Some(archive::sha256_hex(plain));
        let end = StreamEnd { state: StreamState::Complete, sha256, media: None };
        v.close_stream("user:admin", rec, stream.id, end).await.unwrap();
        v.seal("user:admin", rec).await.unwrap();
        v.mirror.flush(true).await.unwrap();
        rec
    }

    /// Appends `n` entries about nothing in particular and signs a checkpoint.
    pub async fn entries(&self, n: usize, what: &str) {
        for i in 0..n {
            let data = serde_json::json!({ "i": i, "what": what });
            let e = NewEntry { actor: "system".into(), action: "test.event", subject: "keys".into(), data };
            self.vault.record(e).await.unwrap();
        }
        self.vault.mirror.flush(true).await.unwrap();
    }

    pub fn size(&self) -> u64 {
        let head = self.vault.catalog.with(|c| archive::ledger::head(c)).unwrap();
        head.map_or(0, |h| h + 1)
    }
}

pub fn niem_audit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_niem-audit")).args(args).output().unwrap()
}

pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
