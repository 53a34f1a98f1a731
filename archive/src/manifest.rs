//! The sealed manifest: `recordings/<rec>/manifest.json`. It lists every stream and
//! chunk with lengths and ciphertext hashes, and holds no secret and no content.

use crate::format::FormatError;
use crate::id::{RecordingId, StreamId};
use serde::{Deserialize, Serialize};

pub const FORMAT: &str = "niem/manifest/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub recording: RecordingId,
    pub meeting: String,
    pub org: String,
    pub started_at: String,
    pub sealed_at: String,
    pub streams: Vec<StreamManifest>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamState {
    /// Still receiving; never appears in a sealed manifest.
    Open,
    /// Ended normally: its last chunk carries the STREAM last flag.
    Complete,
    /// Cut off (a crash, a lost sender): no last flag; `length` is exact.
    Interrupted,
}

impl StreamState {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamState::Open => "open",
            StreamState::Complete => "complete",
            StreamState::Interrupted => "interrupted",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(StreamState::Open),
            "complete" => Some(StreamState::Complete),
            "interrupted" => Some(StreamState::Interrupted),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamManifest {
    pub id: StreamId,
    /// `upload` (stored byte-exact) or `live` (remuxed to fragmented MP4).
    pub kind: String,
    pub endpoint: Option<String>,
    pub state: StreamState,
    pub chunk_size: u32,
    /// Hex of the 7-byte STREAM nonce prefix (not secret).
    pub nonce_prefix: String,
    /// SHA-256 of the wrapped-key object, so tampering with it is detectable without the KEK.
    pub key_sha256: String,
    /// Plaintext bytes.
    pub length: u64,
    /// SHA-256 of the plaintext, for uploads: the uploader can check it against their file.
    pub sha256: Option<String>,
    pub content_type: Option<String>,
    /// What FFmpeg found: duration, container, codecs.
    pub media: Option<serde_json::Value>,
    pub chunks: Vec<ChunkManifest>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkManifest {
    /// Ciphertext bytes (plaintext + 16-byte tag).
    pub len: u64,
    /// SHA-256 of the ciphertext object.
    pub sha256: String,
}

impl Manifest {
    pub fn to_bytes(&self) -> Vec<u8> {
        // Plain data: serialisation cannot fail.
        let mut v = serde_json::to_vec_pretty(self).expect("manifest serialises");
        v.push(b'\n');
        v
    }

    /// Parses a manifest, refusing format versions this build does not know.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FormatError> {
        Self::parse("manifest", bytes)
    }

    /// [`Manifest::from_bytes`] for the object at `object`, which errors name.
    /// The version is read before anything else, so that a later format is
    /// refused as such, not as a malformed v1.
    pub fn parse(object: &str, bytes: &[u8]) -> Result<Self, FormatError> {
        #[derive(Deserialize)]
        struct Probe {
            format: String,
        }
        let probe: Probe = serde_json::from_slice(bytes)
            .map_err(|e| FormatError::malformed(object, format!("not a manifest: {e}")))?;
        crate::format::check(object, "manifest", &probe.format)?;
        serde_json::from_slice(bytes).map_err(|e| FormatError::malformed(object, format!("malformed manifest: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: FORMAT.into(),
            recording: RecordingId::new(),
            meeting: "m".into(),
            org: "o".into(),
            started_at: "2026-11-22T01:00:00.000Z".into(),
            sealed_at: "2026-11-22T02:00:00.000Z".into(),
            streams: vec![],
        }
    }

    #[test]
    fn a_later_format_is_refused_with_its_name_and_version() {
        let m = manifest();
        assert_eq!(Manifest::from_bytes(&m.to_bytes()), Ok(m.clone()));
        // A v2 manifest may have fields v1 lacks: the version is read first.
        let mut v2: serde_json::Value = serde_json::from_slice(&m.to_bytes()).unwrap();
        v2["format"] = "niem/manifest/v2".into();
        v2["erasure_coding"] = serde_json::json!({ "k": 4 });
        let key = format!("recordings/{}/manifest.json", m.recording);
        let err = Manifest::parse(&key, &serde_json::to_vec(&v2).unwrap()).unwrap_err();
        assert!(err.is_newer());
        assert_eq!(err.to_string(), format!("{key} is storage format v2; this niem knows v1; upgrade niem"));
        // Damage is not an upgrade.
        let mut bad = v2.clone();
        bad["format"] = "niem/manifest/1".into();
        assert!(!Manifest::parse(&key, &serde_json::to_vec(&bad).unwrap()).unwrap_err().is_newer());
        assert!(!Manifest::parse(&key, b"{}").unwrap_err().is_newer());
    }
}
