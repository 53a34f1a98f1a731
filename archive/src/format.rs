//! Storage format versions: how an object says which format wrote it, and how a
//! reader refuses one it does not know.
//!
//! Every object that is read back as data carries a marker `niem/<kind>/v<N>`
//! in a `format` field: the manifest (`niem/manifest/v1`), the wrapped data key
//! (`niem/dek/v1`) and the checkpoint object (`niem/checkpoint/v1`). Each has
//! had it since the first release, so there are no unmarked objects to read as
//! v1. Chunks, transcripts and ledger entries carry their version inside their
//! cryptographic binding instead (the AAD `niem/chunk/v1|…`, the hash domain
//! `niem/ledger/v1`): a chunk's format is the one its manifest declares, and a
//! later ledger format must add a `format` field to each entry, which a v1
//! entry never has.
//!
//! A marker with a higher version than this build knows is not damage: a newer
//! niem wrote it. Readers refuse it with [`FormatError::Newer`], which names the
//! object and says to upgrade, and the verifier reports it as something it could
//! not verify rather than as tampering (FORMAT.md, "Storage format versions").

/// The version of each object's own marker this build writes, and the newest it
/// reads (manifest, wrapped key, checkpoint object, ledger line).
pub const VERSION: u32 = 1;

/// The storage format of the store as a whole, announced in the ledger by a
/// `store.format` entry (`version`) before any object of that format is written.
/// v2 adds re-wrapped key objects (`keys/<rec>/<stream>.g<N>.dek`, named by
/// `keys.rewrapped`) and sealed notes under the note key (`niem/note/v2`). A
/// verifier that reads an announcement of a later version reports what it does not
/// recognise as not verified (exit 2), not as tampering. (Verifiers from before v2
/// know no announcement: they report the new key objects as stray.)
/// v3 adds the evidence objects: tlog tiles (`tile/…`), written by the mirror
/// before each checkpoint, and witness-cosigned checkpoints (`cosigned/…`) beside
/// the originals, which are never overwritten.
/// v4 adds the meeting record (`meetings/<meeting>/record/<object>/…`: pieces in
/// the chunk format and a wrapped key, named by `record.<class>.stored` entries),
/// which exists before any recording and never enters a sealed manifest. A v3
/// verifier reading a v4 announcement reports those objects as not verified.
pub const STORE: u32 = 4;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Written by a later niem.
    #[error("{object} is storage format v{version}; this niem knows v{VERSION}; upgrade niem")]
    Newer { object: String, version: u32 },
    #[error("{object} is malformed: {reason}")]
    Malformed { object: String, reason: String },
}

impl FormatError {
    /// What is wrong, without the object's name, for reports that name it already.
    pub fn reason(&self) -> String {
        match self {
            FormatError::Newer { version, .. } => {
                format!("storage format v{version}; this niem knows v{VERSION}; upgrade niem")
            }
            FormatError::Malformed { reason, .. } => reason.clone(),
        }
    }

    pub fn is_newer(&self) -> bool {
        matches!(self, FormatError::Newer { .. })
    }

    pub(crate) fn malformed(object: &str, reason: impl Into<String>) -> Self {
        FormatError::Malformed { object: object.into(), reason: reason.into() }
    }
}

/// The version in a marker `niem/<kind>/v<N>` (N a decimal without leading zeros).
pub fn version_of(marker: &str, kind: &str) -> Option<u32> {
    let n = marker.strip_prefix("niem/")?.strip_prefix(kind)?.strip_prefix("/v")?;
    if n.is_empty() || n.starts_with('0') || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// Checks the marker of `object`, an object of `kind`, against this build.
pub fn check(object: &str, kind: &str, marker: &str) -> Result<(), FormatError> {
    match version_of(marker, kind) {
        Some(VERSION) => Ok(()),
        Some(version) if version > VERSION => Err(FormatError::Newer { object: object.into(), version }),
        _ => Err(FormatError::malformed(object, format!("unknown format {marker:?}; expected niem/{kind}/v{VERSION}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_read_strictly() {
        assert_eq!(version_of("niem/manifest/v1", "manifest"), Some(1));
        assert_eq!(version_of("niem/manifest/v12", "manifest"), Some(12));
        for bad in [
            "niem/manifest/v",
            "niem/manifest/v01",
            "niem/manifest/v1x",
            "niem/manifests/v1",
            "niem/dek/v1",
            "manifest/v1",
            "niem/manifest/v-1",
        ] {
            assert_eq!(version_of(bad, "manifest"), None, "{bad}");
        }
    }

    #[test]
    fn a_newer_version_is_refused_by_name_and_anything_else_is_malformed() {
        assert_eq!(check("x", "dek", "niem/dek/v1"), Ok(()));
        let newer = check("keys/r/s.dek", "dek", "niem/dek/v2").unwrap_err();
        assert!(newer.is_newer());
        assert_eq!(newer.to_string(), "keys/r/s.dek is storage format v2; this niem knows v1; upgrade niem");
        assert_eq!(newer.reason(), "storage format v2; this niem knows v1; upgrade niem");
        let bad = check("keys/r/s.dek", "dek", "niem/dek/v0").unwrap_err();
        assert!(!bad.is_newer(), "v0 was never written: damage, not an upgrade");
        assert!(!check("keys/r/s.dek", "dek", "niem/manifest/v2").unwrap_err().is_newer());
    }
}
