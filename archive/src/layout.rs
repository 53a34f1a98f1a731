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
//! tile/<L>/<N>[.p/<W>]                        Merkle tree tile (C2SP tlog-tiles)
//! cosigned/<seq:012>/<witness:16 hex>.json    witness-cosigned checkpoint
//! meetings/<meeting>/record/<object>/<i:08>.niem  a meeting-record object's piece (format v4)
//! meetings/<meeting>/record/<object>/key.dek      its wrapped data key
//! ```
//! Paths are relative to the store's prefix; the store adds it.
//!
//! Tiles and cosigned checkpoints came after format v1's first objects. They are
//! classified by [`ObjectKey::classify_evidence`], not [`ObjectKey::classify`],
//! so that code matching every [`ObjectKind`] keeps compiling; a verifier that
//! does not know them reports them as strays (see FORMAT.md). The meeting
//! record (storage format v4) is classified the same way, by
//! [`ObjectKey::classify_record`].

use crate::id::{RecordObjectId, RecordingId, StreamId, StreamName};
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
    /// A tlog-tiles tile: `tile/<L>/<N>` when full (256 hashes), else `.p/<W>`.
    pub fn tile(tile: crate::tiles::TileId) -> Self {
        let mut n = tile.index;
        let mut path = format!("{:03}", n % 1000);
        while n >= 1000 {
            n /= 1000;
            path = format!("x{:03}/{path}", n % 1000);
        }
        match tile.width {
            crate::tiles::TILE_WIDTH => Self(format!("tile/{}/{path}", tile.level)),
            w => Self(format!("tile/{}/{path}.p/{w}", tile.level)),
        }
    }
    /// The checkpoint of entries `0..=seq` with one witness's cosignature, named
    /// by the first 8 bytes of SHA-256 of the witness's verifier key, in hex.
    pub fn cosigned(seq: u64, witness: &str) -> Self {
        Self(format!("cosigned/{seq:012}/{witness}.json"))
    }

    /// Piece `index` of a meeting-record object, in the chunk format. The record
    /// lives under the meeting, not a recording: it exists before any recording
    /// (documents come days earlier) and a sealed manifest never changes.
    pub fn record_piece(meeting: ulid::Ulid, object: RecordObjectId, index: u32) -> Self {
        Self(format!("meetings/{meeting}/record/{object}/{index:08}.niem"))
    }
    /// The wrapped data key of a meeting-record object.
    pub fn record_key(meeting: ulid::Ulid, object: RecordObjectId) -> Self {
        Self(format!("meetings/{meeting}/record/{object}/key.dek"))
    }
    /// The folder of one record object (what an abandoned write removes).
    pub fn record_prefix(meeting: ulid::Ulid, object: RecordObjectId) -> String {
        format!("meetings/{meeting}/record/{object}/")
    }

    /// Classifies the meeting-record objects (storage format v4). `None` for
    /// anything else.
    pub fn classify_record(key: &str) -> Option<RecordKind> {
        match key.split('/').collect::<Vec<_>>().as_slice() {
            ["meetings", meeting, "record", object, file] => {
                let meeting = crate::id::parse_ulid("meeting", meeting).ok()?;
                let object: RecordObjectId = object.parse().ok()?;
                if *file == "key.dek" {
                    return Some(RecordKind::Key(meeting, object));
                }
                let n = file.strip_suffix(".niem")?;
                if n.len() != 8 || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                Some(RecordKind::Piece(meeting, object, n.parse().ok()?))
            }
            _ => None,
        }
    }

    /// Classifies the evidence objects added beside format v1's: tiles and
    /// cosigned checkpoints. `None` for anything else.
    pub fn classify_evidence(key: &str) -> Option<EvidenceKind> {
        if let Some(rest) = key.strip_prefix("tile/") {
            return parse_tile(rest).map(EvidenceKind::Tile);
        }
        match key.split('/').collect::<Vec<_>>().as_slice() {
            ["cosigned", seq, file] => {
                let witness = file.strip_suffix(".json")?;
                let hex16 = witness.len() == 16 && witness.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
                let seq = parse_seq(seq)?;
                hex16.then(|| EvidenceKind::Cosigned(seq, witness.to_string()))
            }
            _ => None,
        }
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
            ["checkpoints", file] => file.strip_suffix(".json").and_then(parse_seq).map(ObjectKind::Checkpoint),
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

/// Parses `<L>/<N>[.p/<W>]`, accepting only the one canonical spelling.
fn parse_tile(rest: &str) -> Option<crate::tiles::TileId> {
    let (level, path) = rest.split_once('/')?;
    let level: u8 = crate::proof::parse_decimal(level)?.try_into().ok().filter(|l| *l <= 63)?;
    let (index_path, width) = match path.split_once(".p/") {
        Some((n, w)) => (n, crate::proof::parse_decimal(w)?),
        None => (path, u64::from(crate::tiles::TILE_WIDTH)),
    };
    let mut index: u64 = 0;
    for part in index_path.split('/') {
        let digits = part.strip_prefix('x').unwrap_or(part);
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        index = index.checked_mul(1000)?.checked_add(digits.parse().ok()?)?;
    }
    let width: u16 = width.try_into().ok()?;
    if !(1..=crate::tiles::TILE_WIDTH).contains(&width) {
        return None;
    }
    let tile = crate::tiles::TileId { level, index, width };
    // Round-trip so that `x`-prefixes, padding and full widths have one spelling.
    (ObjectKey::tile(tile).as_str() == format!("tile/{rest}")).then_some(tile)
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

/// A meeting-record object, read from its path (see [`ObjectKey::classify_record`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Piece(ulid::Ulid, RecordObjectId, u32),
    Key(ulid::Ulid, RecordObjectId),
}

impl RecordKind {
    pub fn label(&self) -> &'static str {
        match self {
            RecordKind::Piece(..) => "record",
            RecordKind::Key(..) => "record key",
        }
    }
}

/// An evidence object, read from its path (see [`ObjectKey::classify_evidence`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EvidenceKind {
    Tile(crate::tiles::TileId),
    /// A cosigned checkpoint: the checkpoint's seq and the witness's 16-hex id.
    Cosigned(u64, String),
}

impl EvidenceKind {
    pub fn label(&self) -> &'static str {
        match self {
            EvidenceKind::Tile(_) => "tile",
            EvidenceKind::Cosigned(..) => "cosignature",
        }
    }
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

    #[test]
    fn record_paths_classify_back_and_nothing_else_does() {
        let (m, o) = (ulid::Ulid::new(), RecordObjectId::new());
        let piece = ObjectKey::record_piece(m, o, 3);
        assert_eq!(ObjectKey::classify_record(piece.as_str()), Some(RecordKind::Piece(m, o, 3)));
        let key = ObjectKey::record_key(m, o);
        assert_eq!(ObjectKey::classify_record(key.as_str()), Some(RecordKind::Key(m, o)));
        assert!(piece.as_str().starts_with(&ObjectKey::record_prefix(m, o)));
        // Older verifiers see strays, as FORMAT.md says.
        assert_eq!(ObjectKey::classify(piece.as_str()), ObjectKind::Unknown);
        for bad in [
            format!("meetings/{m}/record/{o}/3.niem"),
            format!("meetings/{m}/record/{o}/key.json"),
            format!("meetings/x/record/{o}/00000003.niem"),
            format!("meetings/{m}/records/{o}/00000003.niem"),
            format!("meetings/{m}/record/{o}"),
        ] {
            assert_eq!(ObjectKey::classify_record(&bad), None, "{bad}");
        }
    }

    /// tlog-tiles' own examples, and every other spelling of the same tile refused.
    #[test]
    fn tile_paths_follow_tlog_tiles() {
        use crate::tiles::TileId;
        let t = |level, index, width| TileId { level, index, width };
        let cases = [
            (t(0, 1234067, 256), "tile/0/x001/x234/067"),
            (t(1, 5, 17), "tile/1/005.p/17"),
            (t(2, 0, 1), "tile/2/000.p/1"),
            (t(0, 1000, 256), "tile/0/x001/000"),
            (t(63, 999, 255), "tile/63/999.p/255"),
        ];
        for (tile, path) in cases {
            let key = ObjectKey::tile(tile);
            assert_eq!(key.as_str(), path);
            let kind = ObjectKey::classify_evidence(path);
            assert_eq!(kind, Some(EvidenceKind::Tile(tile)), "{path}");
            // Old verifiers see a stray, as FORMAT.md says.
            assert_eq!(ObjectKey::classify(path), ObjectKind::Unknown);
        }
        for bad in [
            "tile/0/67",
            "tile/0/x067",
            "tile/0/001/067",
            "tile/0/x000/067",
            "tile/00/067",
            "tile/64/000",
            "tile/0/067.p/256",
            "tile/0/067.p/0",
            "tile/0/067.p/07",
            "tile/entries/000",
            "tile/0/067.p/",
        ] {
            assert_eq!(ObjectKey::classify_evidence(bad), None, "{bad}");
        }
        let c = ObjectKey::cosigned(41, "0123456789abcdef");
        assert_eq!(c.as_str(), "cosigned/000000000041/0123456789abcdef.json");
        let kind = ObjectKey::classify_evidence(c.as_str());
        assert_eq!(kind, Some(EvidenceKind::Cosigned(41, "0123456789abcdef".into())));
        for bad in [
            "cosigned/41/0123456789abcdef.json",
            "cosigned/000000000041/0123456789ABCDEF.json",
            "cosigned/000000000041/x.json",
        ] {
            assert_eq!(ObjectKey::classify_evidence(bad), None, "{bad}");
        }
    }
}
