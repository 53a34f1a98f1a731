//! Local scratch that must survive a crash but never hold plaintext: the partial
//! last piece of a resumable upload between two requests.
//!
//! A tail is sealed with AES-256-GCM under a per-upload tail key (itself wrapped
//! under the KEK like any DEK), with a random nonce per write, since the same tail
//! is rewritten as it grows; the AAD binds it to its upload and offset. Files are
//! written to a temporary name, fsynced, renamed, and the directory fsynced.

use crate::keys::Dek;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
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
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new().fill(&mut nonce).map_err(|_| SpoolError::Random)?;
    let mut buf = plain.to_vec();
    key.0
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad(upload, offset)), &mut buf)
        .map_err(|_| SpoolError::Random)?;
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
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| fail())?;
    let mut buf = sealed.to_vec();
    let len = key.0.open_in_place(nonce, Aad::from(aad(upload, offset)), &mut buf).map_err(|_| fail())?.len();
    buf.truncate(len);
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
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)
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
