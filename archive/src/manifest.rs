//! The sealed manifest: `recordings/<rec>/manifest.json`. It lists every stream and
//! chunk with lengths and ciphertext hashes, and holds no secret and no content.

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
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Probe {
            format: String,
        }
        let probe: Probe = serde_json::from_slice(bytes).map_err(|e| format!("not a manifest: {e}"))?;
        if probe.format != FORMAT {
            return Err(format!("unknown manifest format {:?}; this build reads {FORMAT}", probe.format));
        }
        serde_json::from_slice(bytes).map_err(|e| format!("malformed manifest: {e}"))
    }
}
