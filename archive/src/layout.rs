//! Storage format v1: the one place that builds object paths, and parses them back.
//!
//! ```text
//! recordings/<rec>/manifest.json              sealed manifest
//! recordings/<rec>/<stream>/<chunk:08>.niem   encrypted chunk
//! recordings/<rec>/transcript.niem            encrypted transcript
//! keys/<rec>/<stream>.dek                     wrapped data key (generation 0)
//! keys/<rec>/<stream>.g<N>.dek                 the same key re-wrapped by KEK retirement N
//! ledger/<first:012>-<last:012>.jsonl         ledger batch
//! checkpoints/<seq:012>.json                  signed checkpoint
//! ```
//! Paths are relative to the store's prefix; the store adds it.

use crate::id::{RecordingId, StreamId, StreamName};
use std::fmt;

/// A validated path of an object inside the store.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

impl ObjectKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn manifest(rec: RecordingId) -> Self {
        Self(format!("recordings/{rec}/manifest.json"))
    }
    pub fn chunk(rec: RecordingId, stream: StreamId, index: u32) -> Self {
        Self(format!("recordings/{rec}/{stream}/{index:08}.niem"))
    }
    pub fn transcript(rec: RecordingId) -> Self {
        Self(format!("recordings/{rec}/transcript.niem"))
    }
    /// The wrapped data key of a media stream or of the transcript, as first written.
    pub fn dek(rec: RecordingId, stream: StreamName) -> Self {
        Self::dek_gen(rec, stream, 0)
    }
    /// The wrapped data key of generation `generation`: 0 is the key object the
    /// stream was opened with; retirement N re-wraps every live key as generation N,
    /// a new create-only object (storage format v2), before the old one is deleted.
    pub fn dek_gen(rec: RecordingId, stream: StreamName, generation: u32) -> Self {
        match generation {
            0 => Self(format!("keys/{rec}/{stream}.dek")),
            n => Self(format!("keys/{rec}/{stream}.g{n}.dek")),
        }
    }
    pub fn ledger_batch(first: u64, last: u64) -> Self {
        Self(format!("ledger/{first:012}-{last:012}.jsonl"))
    }
    pub fn checkpoint(seq: u64) -> Self {
        Self(format!("checkpoints/{seq:012}.json"))
    }

    /// Parses a key read back from a listing. Anything else is `Unknown`, which the
    /// verifier reports as a stray object.
    pub fn classify(key: &str) -> ObjectKind {
        let parts: Vec<&str> = key.split('/').collect();
        match parts.as_slice() {
            ["recordings", rec, "manifest.json"] => rec.parse().map(ObjectKind::Manifest).ok(),
            ["recordings", rec, "transcript.niem"] => rec.parse().map(ObjectKind::Transcript).ok(),
            ["recordings", rec, stream, file] => parse_chunk(rec, stream, file),
            ["keys", rec, file] => parse_dek(rec, file),
            ["ledger", file] => parse_batch(file),
            ["checkpoints", file] => file
                .strip_suffix(".json")
                .and_then(parse_seq)
                .map(ObjectKind::Checkpoint),
            _ => None,
        }
        .unwrap_or(ObjectKind::Unknown)
    }
}

fn parse_seq(s: &str) -> Option<u64> {
    (s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

fn parse_dek(rec: &str, file: &str) -> Option<ObjectKind> {
    let name = file.strip_suffix(".dek")?;
    let (stream, generation) = match name.split_once(".g") {
        None => (name, 0),
        Some((stream, n)) if !n.is_empty() && !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit()) => {
            (stream, n.parse().ok().filter(|&n: &u32| n > 0)?)
        }
        Some(_) => return None,
    };
    Some(ObjectKind::Dek(rec.parse().ok()?, stream.parse().ok()?, generation))
}

fn parse_chunk(rec: &str, stream: &str, file: &str) -> Option<ObjectKind> {
    let n = file.strip_suffix(".niem")?;
    if n.len() != 8 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(ObjectKind::Chunk(rec.parse().ok()?, stream.parse().ok()?, n.parse().ok()?))
}

fn parse_batch(file: &str) -> Option<ObjectKind> {
    let (first, last) = file.strip_suffix(".jsonl")?.split_once('-')?;
    Some(ObjectKind::LedgerBatch(parse_seq(first)?, parse_seq(last)?))
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// What an object in the store is, read from its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    Manifest(RecordingId),
    Chunk(RecordingId, StreamId, u32),
    Transcript(RecordingId),
    /// A wrapped key and its generation (0: as the stream was opened).
    Dek(RecordingId, StreamName, u32),
    LedgerBatch(u64, u64),
    Checkpoint(u64),
    Unknown,
}

impl ObjectKind {
    /// A short name of the kind, for reports.
    pub fn label(&self) -> &'static str {
        match self {
            ObjectKind::Manifest(_) => "manifest",
            ObjectKind::Chunk(..) => "chunk",
            ObjectKind::Transcript(_) => "transcript",
            ObjectKind::Dek(..) => "key",
            ObjectKind::LedgerBatch(..) => "ledger",
            ObjectKind::Checkpoint(_) => "checkpoint",
            ObjectKind::Unknown => "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_key_classifies_back() {
        let (r, s) = (RecordingId::new(), StreamId::new());
        let cases = [
            (ObjectKey::manifest(r), ObjectKind::Manifest(r)),
            (ObjectKey::chunk(r, s, 7), ObjectKind::Chunk(r, s, 7)),
            (ObjectKey::transcript(r), ObjectKind::Transcript(r)),
            (ObjectKey::dek(r, StreamName::Media(s)), ObjectKind::Dek(r, StreamName::Media(s), 0)),
            (ObjectKey::dek(r, StreamName::Transcript), ObjectKind::Dek(r, StreamName::Transcript, 0)),
            (ObjectKey::dek_gen(r, StreamName::Media(s), 3), ObjectKind::Dek(r, StreamName::Media(s), 3)),
            (ObjectKey::dek_gen(r, StreamName::Transcript, 12), ObjectKind::Dek(r, StreamName::Transcript, 12)),
            (ObjectKey::ledger_batch(0, 41), ObjectKind::LedgerBatch(0, 41)),
            (ObjectKey::checkpoint(41), ObjectKind::Checkpoint(41)),
        ];
        for (key, kind) in cases {
            assert_eq!(ObjectKey::classify(key.as_str()), kind, "{key}");
        }
        let k = format!("keys/{r}/{s}");
        let strays = [format!("{k}.g0.dek"), format!("{k}.g01.dek"), format!("{k}.g.dek"), format!("{k}.gx.dek")];
        for stray in strays.iter().map(String::as_str) {
            assert_eq!(ObjectKey::classify(stray), ObjectKind::Unknown, "{stray}");
        }
        for stray in ["recordings/x/manifest.json", "ledger/1-2.jsonl", "stray.bin", "checkpoints/12.json"] {
            assert_eq!(ObjectKey::classify(stray), ObjectKind::Unknown, "{stray}");
        }
    }
}
