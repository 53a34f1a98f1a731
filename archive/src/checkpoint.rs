//! Checkpoints: C2SP signed notes in `tlog-checkpoint` form.
//!
//! ```text
//! <origin>
//! <tree size>
//! <base64 RFC 6962 root over all entry hashes>
//! time <RFC 3339 UTC>
//!
//! — <key name> <base64(key hash ‖ Ed25519 signature)>
//! ```
//! The `time` line is a tlog-checkpoint extension line. A checkpoint of size n is
//! stored as `checkpoints/<n-1>.json`: `{"format":"niem/checkpoint/v1","note":"…"}`.

use crate::keys::{Signer, VerifierKey};
use crate::merkle::Hash;
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::{Deserialize, Serialize};

const SIG_PREFIX: &str = "\u{2014} ";
pub const FORMAT: &str = "niem/checkpoint/v1";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("checkpoint is malformed: {0}")]
    Malformed(&'static str),
    #[error("checkpoint is not signed by key {0}")]
    NoSignature(String),
    #[error("checkpoint signature by {0} is invalid")]
    BadSignature(String),
    #[error("checkpoint is for log {found:?}, not {expected:?}")]
    WrongOrigin { expected: String, found: String },
    /// The object's format marker: a later version, or not a checkpoint's.
    #[error(transparent)]
    Format(#[from] crate::format::FormatError),
}

/// What a checkpoint says: the log, how many entries, their root, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub time: String,
}

/// The stored form of a checkpoint object.
#[derive(Debug, Serialize, Deserialize)]
pub struct CheckpointObject {
    pub format: String,
    pub note: String,
}

impl Checkpoint {
    fn body(&self) -> String {
        format!("{}\n{}\n{}\ntime {}\n", self.origin, self.size, B64.encode(self.root), self.time)
    }

    /// The signed note text.
    pub fn sign(&self, signer: &Signer) -> String {
        let body = self.body();
        let mut sig = signer.verifier().key_hash().to_vec();
        sig.extend_from_slice(&signer.sign(body.as_bytes()));
        format!("{body}\n{SIG_PREFIX}{} {}\n", signer.verifier().name(), B64.encode(sig))
    }

    /// Parses a signed note and checks it carries a valid signature by `key`, for
    /// the log `key` names.
    pub fn open(note: &str, key: &VerifierKey) -> Result<Self, CheckpointError> {
        let (body, sigs) = note.split_once("\n\n").ok_or(CheckpointError::Malformed("no signature block"))?;
        let body = format!("{body}\n");
        let mut verified = false;
        for line in sigs.lines() {
            let rest = line.strip_prefix(SIG_PREFIX).ok_or(CheckpointError::Malformed("signature line"))?;
            let (name, sig) = rest.split_once(' ').ok_or(CheckpointError::Malformed("signature line"))?;
            let sig = B64.decode(sig).map_err(|_| CheckpointError::Malformed("signature is not base64"))?;
            if name != key.name() || sig.len() != 68 || sig[..4] != key.key_hash() {
                continue; // a signature by some other key: not ours to judge
            }
            if !key.verify(body.as_bytes(), &sig[4..]) {
                return Err(CheckpointError::BadSignature(key.name().into()));
            }
            verified = true;
        }
        if !verified {
            return Err(CheckpointError::NoSignature(key.name().into()));
        }
        let cp = Self::parse_body(&body)?;
        if cp.origin != key.name() {
            return Err(CheckpointError::WrongOrigin { expected: key.name().into(), found: cp.origin });
        }
        Ok(cp)
    }

    fn parse_body(body: &str) -> Result<Self, CheckpointError> {
        let mut lines = body.lines();
        let origin = lines.next().filter(|s| !s.is_empty()).ok_or(CheckpointError::Malformed("origin line"))?;
        // A tree size is a decimal without sign or leading zeros.
        let canonical = |s: &&str| s.bytes().all(|b| b.is_ascii_digit()) && (*s == "0" || !s.starts_with('0'));
        let size = lines
            .next()
            .filter(canonical)
            .and_then(|s| s.parse().ok())
            .ok_or(CheckpointError::Malformed("tree size line"))?;
        let root = lines
            .next()
            .and_then(|s| B64.decode(s).ok())
            .and_then(|b| <Hash>::try_from(b).ok())
            .ok_or(CheckpointError::Malformed("root hash line"))?;
        let time = lines.find_map(|l| l.strip_prefix("time ")).ok_or(CheckpointError::Malformed("time line"))?;
        crate::clock::parse_ts(time).map_err(|_| CheckpointError::Malformed("time is not RFC 3339"))?;
        Ok(Self { origin: origin.into(), size, root, time: time.into() })
    }

    /// Reads a checkpoint object as stored, or a bare note as saved by an auditor.
    pub fn open_stored(bytes: &[u8], key: &VerifierKey) -> Result<Self, CheckpointError> {
        let text = std::str::from_utf8(bytes).map_err(|_| CheckpointError::Malformed("not UTF-8"))?;
        if text.trim_start().starts_with('{') {
            let obj: CheckpointObject =
                serde_json::from_str(text).map_err(|_| CheckpointError::Malformed("not a checkpoint object"))?;
            crate::format::check("checkpoint object", "checkpoint", &obj.format)?;
            Self::open(&obj.note, key)
        } else {
            Self::open(text, key)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyDir;

    #[test]
    fn sign_open_and_tamper() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyDir::new(dir.path()).init("niem.test/ledger").unwrap();
        let cp = Checkpoint {
            origin: "niem.test/ledger".into(),
            size: 42,
            root: [9; 32],
            time: "2026-11-22T10:00:00.000Z".into(),
        };
        let note = cp.sign(&keys.signer);
        assert_eq!(Checkpoint::open(&note, keys.signer.verifier()), Ok(cp.clone()));
        let forged = note.replacen("\n42\n", "\n43\n", 1);
        assert_eq!(
            Checkpoint::open(&forged, keys.signer.verifier()),
            Err(CheckpointError::BadSignature("niem.test/ledger".into()))
        );
        let other = KeyDir::new(dir.path().join("other")).init("niem.test/ledger").unwrap();
        assert!(Checkpoint::open(&note, other.signer.verifier()).is_err());
    }

    #[test]
    fn a_stored_checkpoint_of_a_later_format_is_refused_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyDir::new(dir.path()).init("niem.test/ledger").unwrap();
        let cp = Checkpoint {
            origin: "niem.test/ledger".into(),
            size: 1,
            root: [1; 32],
            time: "2026-11-22T10:00:00.000Z".into(),
        };
        let stored = |format: &str| {
            serde_json::to_vec(&CheckpointObject { format: format.into(), note: cp.sign(&keys.signer) }).unwrap()
        };
        assert_eq!(Checkpoint::open_stored(&stored(FORMAT), keys.signer.verifier()), Ok(cp.clone()));
        match Checkpoint::open_stored(&stored("niem/checkpoint/v2"), keys.signer.verifier()) {
            Err(CheckpointError::Format(e)) => assert!(e.is_newer(), "{e}"),
            other => panic!("{other:?}"),
        }
        match Checkpoint::open_stored(&stored("niem/ledger/v1"), keys.signer.verifier()) {
            Err(CheckpointError::Format(e)) => assert!(!e.is_newer(), "{e}"),
            other => panic!("{other:?}"),
        }
    }
}
