//! Local scratch that must survive a crash but never hold plaintext: the partial
//! last piece of a resumable upload between two requests ([`write_tail`]), and the
//! sealed chunks of live streams while they wait for the store ([`ChunkSpool`]).
//!
//! A tail is sealed with AES-256-GCM under a per-upload tail key (itself wrapped
//! under the KEK like any DEK), with a random nonce per write, since the same tail
//! is rewritten as it grows; the AAD binds it to its upload and offset. Files are
//! written to a temporary name, fsynced, renamed, and the directory fsynced.

use crate::keys::Dek;
use ring::aead::{LessSafeKey, UnboundKey, AES_256_GCM, NONCE_LEN};
use std::io::Write;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool file {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("spool file {0} fails authentication: altered, or from another upload")]
    Authentication(String),
    #[error("system random generator failed")]
    Random,
}

/// The key that seals one upload's tails.
pub struct TailKey(LessSafeKey);

impl TailKey {
    pub fn new(dek: &Dek) -> Self {
        Self(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, dek.bytes()).expect("AES-256 key is 32 bytes")))
    }
}

fn aad(upload: &str, offset: u64) -> String {
    format!("niem/tail/v1|{upload}|{offset}")
}

/// Seals `plain` (the bytes after `offset`, which is where the stored chunks end)
/// and writes it durably to `path`, replacing any older tail.
pub fn write_tail(path: &Path, key: &TailKey, upload: &str, offset: u64, plain: &[u8]) -> Result<(), SpoolError> {
    let mut buf = plain.to_vec();
    let nonce = crate::aead::seal(&key.0, aad(upload, offset).as_bytes(), &mut buf).map_err(|_| SpoolError::Random)?;
    let mut body = nonce.to_vec();
    body.extend_from_slice(&buf);
    write_durable(path, &body)
}

/// Reads a tail back. A missing file is an empty tail.
pub fn read_tail(path: &Path, key: &TailKey, upload: &str, offset: u64) -> Result<Vec<u8>, SpoolError> {
    let body = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(SpoolError::Io { path: path.display().to_string(), source }),
    };
    let fail = || SpoolError::Authentication(path.display().to_string());
    if body.len() < NONCE_LEN {
        return Err(fail());
    }
    let (nonce, sealed) = body.split_at(NONCE_LEN);
    let mut buf = sealed.to_vec();
    crate::aead::open(&key.0, nonce, aad(upload, offset).as_bytes(), &mut buf).map_err(|_| fail())?;
    Ok(buf)
}

/// Writes `body` to `path` so that after return it survives a crash: temp file,
/// fsync, rename over, fsync the directory.
pub fn write_durable(path: &Path, body: &[u8]) -> Result<(), SpoolError> {
    let io = |source| SpoolError::Io { path: path.display().to_string(), source };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(body).and_then(|_| f.sync_all()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    crate::sync_dir(dir).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_round_trip_and_bind_to_their_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.tail");
        let key = TailKey::new(&Dek::generate().unwrap());
        write_tail(&path, &key, "u1", 4096, b"partial piece").unwrap();
        assert_eq!(read_tail(&path, &key, "u1", 4096).unwrap(), b"partial piece");
        assert!(read_tail(&path, &key, "u1", 0).is_err());
        assert!(read_tail(&path, &key, "u2", 4096).is_err());
        assert!(!std::fs::read(&path).unwrap().windows(7).any(|w| w == b"partial"));
        assert_eq!(read_tail(&dir.path().join("none"), &key, "u1", 0).unwrap(), b"");
    }
}

/// Sealed chunks of live streams waiting for the store:
/// `<dir>/<rec>/<stream>/<index:08>.niem`, each exactly the bytes the store will
/// hold. A chunk is acknowledged to its sender once it is here; it leaves only after
/// the store has it and its `chunk.stored` entry has committed ([`crate::vault::Vault::drain`]).
#[derive(Debug)]
pub struct ChunkSpool {
    dir: std::path::PathBuf,
    backlog: std::sync::atomic::AtomicU64,
    cap: u64,
}

/// One chunk in the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spooled {
    pub rec: crate::id::RecordingId,
    pub stream: crate::id::StreamId,
    pub index: u32,
    pub path: std::path::PathBuf,
    pub len: u64,
}

impl ChunkSpool {
    /// Opens (creating) the spool and counts what a previous run left in it.
    pub fn open(dir: impl Into<std::path::PathBuf>, cap: u64) -> Result<Self, SpoolError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| SpoolError::Io { path: dir.display().to_string(), source })?;
        let spool = Self { dir, backlog: Default::default(), cap };
        let total = spool.pending()?.iter().map(|c| c.len).sum();
        spool.backlog.store(total, std::sync::atomic::Ordering::Relaxed);
        Ok(spool)
    }

    fn path(&self, rec: crate::id::RecordingId, stream: crate::id::StreamId, index: u32) -> std::path::PathBuf {
        self.dir.join(rec.to_string()).join(stream.to_string()).join(format!("{index:08}.niem"))
    }

    /// Writes a sealed chunk durably. After this returns, the chunk survives a crash.
    pub fn put(
        &self,
        rec: crate::id::RecordingId,
        stream: crate::id::StreamId,
        index: u32,
        sealed: &[u8],
    ) -> Result<(), SpoolError> {
        write_durable(&self.path(rec, stream, index), sealed)?;
        self.backlog.fetch_add(sealed.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Every spooled chunk, ordered by recording, stream and index.
    pub fn pending(&self) -> Result<Vec<Spooled>, SpoolError> {
        fn io(p: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
            move |source| SpoolError::Io { path: p.display().to_string(), source }
        }
        let mut out = Vec::new();
        for rec_dir in std::fs::read_dir(&self.dir).map_err(io(&self.dir))?.flatten() {
            let Some(rec) = rec_dir.file_name().to_str().and_then(|n| n.parse().ok()) else { continue };
            for stream_dir in std::fs::read_dir(rec_dir.path()).map_err(io(&rec_dir.path()))?.flatten() {
                let Some(stream) = stream_dir.file_name().to_str().and_then(|n| n.parse().ok()) else { continue };
                for file in std::fs::read_dir(stream_dir.path()).map_err(io(&stream_dir.path()))?.flatten() {
                    let name = file.file_name();
                    // Leftover `.tmp` files are writes a crash cut short: never acknowledged.
                    let Some(index) = name.to_str().and_then(|n| n.strip_suffix(".niem")).and_then(|n| n.parse().ok())
                    else {
                        continue;
                    };
                    let len = file.metadata().map_err(io(&file.path()))?.len();
                    out.push(Spooled { rec, stream, index, path: file.path(), len });
                }
            }
        }
        out.sort_by_key(|c| (c.rec, c.stream, c.index));
        Ok(out)
    }

    /// Removes a chunk the store and the ledger now hold.
    pub fn remove(&self, chunk: &Spooled) -> Result<(), SpoolError> {
        match std::fs::remove_file(&chunk.path) {
            Ok(()) => {
                self.backlog.fetch_sub(chunk.len.min(self.backlog_bytes()), std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(SpoolError::Io { path: chunk.path.display().to_string(), source }),
        }
    }

    /// Removes a finished stream's (empty) directories. Best effort: a directory
    /// that still holds a chunk stays.
    pub fn forget(&self, rec: crate::id::RecordingId, stream: crate::id::StreamId) {
        let dir = self.dir.join(rec.to_string());
        let _ = std::fs::remove_dir(dir.join(stream.to_string()));
        let _ = std::fs::remove_dir(dir);
    }

    /// Bytes waiting for the store.
    pub fn backlog_bytes(&self) -> u64 {
        self.backlog.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the spool is at its cap: new streams are refused, chunks of streams
    /// already acknowledged are still taken.
    pub fn is_full(&self) -> bool {
        self.backlog_bytes() >= self.cap
    }
}
