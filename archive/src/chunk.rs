//! The STREAM construction (as in Tink's streaming AEAD and age) that seals a stream
//! piece by piece.
//!
//! Piece `i` of a stream is sealed with AES-256-GCM under the stream's DEK with
//! nonce = 7-byte random stream prefix ‖ `i` as u32 big-endian ‖ last-flag byte
//! (1 on the final piece only), and AAD = `niem/chunk/v1|<rec>|<stream>|<i>`. One piece
//! is one chunk object: ciphertext followed by the 16-byte tag. Reordering pieces,
//! moving one to another stream or recording, or dropping the final piece all fail
//! authentication. A stream cut off by a crash has no final piece; it is opened with
//! `last = false` throughout and is marked `interrupted` in its manifest.

use crate::id::{RecordingId, StreamName};
use crate::keys::Dek;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use std::ops::Range;

pub const TAG_LEN: usize = 16;
pub const PREFIX_LEN: usize = 7;
/// Default plaintext bytes per piece.
pub const DEFAULT_CHUNK_SIZE: u32 = 1 << 20;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChunkError {
    #[error("chunk {index} of {stream} fails authentication: altered, moved, reordered or truncated")]
    Authentication { stream: String, index: u32 },
    #[error("a stream may hold at most 2^32 chunks")]
    TooManyChunks,
}

/// Where a sequence of pieces belongs; bound into every piece's AAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    pub rec: RecordingId,
    pub stream: StreamName,
}

/// A stream's DEK and nonce prefix, ready to seal or open its pieces.
pub struct StreamKey {
    key: LessSafeKey,
    prefix: [u8; PREFIX_LEN],
    binding: Binding,
}

impl std::fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StreamKey({}/{})", self.binding.rec, self.binding.stream)
    }
}

impl StreamKey {
    pub fn new(dek: &Dek, prefix: [u8; PREFIX_LEN], binding: Binding) -> Self {
        // A 32-byte key is always accepted by AES-256-GCM.
        let unbound = UnboundKey::new(&AES_256_GCM, dek.bytes()).expect("AES-256 key is 32 bytes");
        Self { key: LessSafeKey::new(unbound), prefix, binding }
    }

    pub fn binding(&self) -> Binding {
        self.binding
    }

    fn nonce(&self, index: u32, last: bool) -> Nonce {
        piece_nonce(&self.prefix, index, last)
    }

    fn aad(&self, index: u32) -> String {
        format!("niem/chunk/v1|{}|{}|{index}", self.binding.rec, self.binding.stream)
    }

    /// Seals piece `index` in place: `buf` goes in as plaintext and comes out as
    /// ciphertext ‖ tag.
    pub fn seal(&self, index: u32, last: bool, buf: &mut Vec<u8>) {
        // Sealing only fails for inputs over 64 GiB, far above any chunk size.
        self.key
            .seal_in_place_append_tag(self.nonce(index, last), Aad::from(self.aad(index)), buf)
            .expect("chunk within AES-GCM size limit");
    }

    /// Seals one whole piece and hashes the result: the unit of work a pipeline
    /// hands to a blocking thread.
    pub fn seal_piece(&self, index: u32, last: bool, mut bytes: Vec<u8>) -> SealedPiece {
        let plaintext_len = bytes.len() as u64;
        bytes.reserve_exact(TAG_LEN);
        self.seal(index, last, &mut bytes);
        let sha256 = crate::sha256_hex(&bytes);
        SealedPiece { index, last, plaintext_len, bytes, sha256 }
    }

    /// Opens piece `index` in place, leaving the plaintext in `buf`.
    pub fn open(&self, index: u32, last: bool, buf: &mut Vec<u8>) -> Result<(), ChunkError> {
        let len = self
            .key
            .open_in_place(self.nonce(index, last), Aad::from(self.aad(index)), buf)
            .map_err(|_| ChunkError::Authentication { stream: self.binding.stream.to_string(), index })?
            .len();
        buf.truncate(len);
        Ok(())
    }
}

/// Nonce of piece `index`: prefix ‖ `index` (u32 BE) ‖ last flag.
fn piece_nonce(prefix: &[u8; PREFIX_LEN], index: u32, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[..PREFIX_LEN].copy_from_slice(prefix);
    n[PREFIX_LEN..11].copy_from_slice(&index.to_be_bytes());
    n[11] = last as u8;
    Nonce::assume_unique_for_key(n)
}

/// The chunk format for a sequence of pieces that is not a recording's stream
/// (a search index file): the same nonces, and AAD = `<label>|<i>`, so the
/// label (e.g. `niem/index/v1|<file name>`) is bound into every piece.
pub struct LabelledKey {
    key: LessSafeKey,
    prefix: [u8; PREFIX_LEN],
    label: String,
}

impl std::fmt::Debug for LabelledKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LabelledKey({})", self.label)
    }
}

impl LabelledKey {
    pub fn new(dek: &Dek, prefix: [u8; PREFIX_LEN], label: String) -> Self {
        let unbound = UnboundKey::new(&AES_256_GCM, dek.bytes()).expect("AES-256 key is 32 bytes");
        Self { key: LessSafeKey::new(unbound), prefix, label }
    }

    fn aad(&self, index: u32) -> String {
        format!("{}|{index}", self.label)
    }

    /// Seals piece `index` in place (plaintext in, ciphertext ‖ tag out).
    pub fn seal(&self, index: u32, last: bool, buf: &mut Vec<u8>) -> Result<(), ChunkError> {
        self.key
            .seal_in_place_append_tag(piece_nonce(&self.prefix, index, last), Aad::from(self.aad(index)), buf)
            .map_err(|_| ChunkError::Authentication { stream: self.label.clone(), index })
    }

    /// Opens piece `index` in place, leaving the plaintext in `buf`.
    pub fn open(&self, index: u32, last: bool, buf: &mut Vec<u8>) -> Result<(), ChunkError> {
        let len = self
            .key
            .open_in_place(piece_nonce(&self.prefix, index, last), Aad::from(self.aad(index)), buf)
            .map_err(|_| ChunkError::Authentication { stream: self.label.clone(), index })?
            .len();
        buf.truncate(len);
        Ok(())
    }
}

/// Seals a whole small document (a transcript) as one object in the chunk
/// format: pieces of `chunk_size` sealed in order, the last flagged, concatenated.
pub fn seal_object(key: &StreamKey, chunk_size: u32, plain: &[u8]) -> Result<Vec<u8>, ChunkError> {
    let size = chunk_size.max(1) as usize;
    let n = plain.len().div_ceil(size).max(1);
    if n > u32::MAX as usize {
        return Err(ChunkError::TooManyChunks);
    }
    let mut out = Vec::with_capacity(plain.len() + n * TAG_LEN);
    for i in 0..n {
        let mut piece = plain[(i * size).min(plain.len())..((i + 1) * size).min(plain.len())].to_vec();
        key.seal(i as u32, i + 1 == n, &mut piece);
        out.extend_from_slice(&piece);
    }
    Ok(out)
}

/// Opens what [`seal_object`] made; fails if any piece was altered, moved,
/// dropped or added, or the last one lost its flag.
pub fn open_object(key: &StreamKey, chunk_size: u32, sealed: &[u8]) -> Result<Vec<u8>, ChunkError> {
    let size = chunk_size.max(1) as usize + TAG_LEN;
    let n = sealed.len().div_ceil(size).max(1);
    let mut out = Vec::with_capacity(sealed.len());
    for i in 0..n {
        let mut piece = sealed[(i * size).min(sealed.len())..((i + 1) * size).min(sealed.len())].to_vec();
        key.open(i as u32, i + 1 == n, &mut piece)?;
        out.extend_from_slice(&piece);
    }
    Ok(out)
}

/// The plaintext shape of a stored stream: each piece's plaintext length, and
/// whether the stream was finished (its last piece carries the last flag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Start offset of each piece, plus the total length at the end.
    starts: Vec<u64>,
    finished: bool,
}

impl Layout {
    pub fn new(piece_lengths: impl IntoIterator<Item = u64>, finished: bool) -> Self {
        let mut starts = vec![0];
        let mut at = 0;
        for len in piece_lengths {
            at += len;
            starts.push(at);
        }
        Self { starts, finished }
    }
    pub fn len(&self) -> u64 {
        *self.starts.last().unwrap_or(&0)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn pieces(&self) -> u32 {
        (self.starts.len() - 1) as u32
    }
    pub fn finished(&self) -> bool {
        self.finished
    }
    /// Whether piece `index` is opened with the last flag set.
    pub fn is_last(&self, index: u32) -> bool {
        self.finished && index + 1 == self.pieces()
    }
    pub fn piece_range(&self, index: u32) -> Range<u64> {
        self.starts[index as usize]..self.starts[index as usize + 1]
    }
    /// The pieces that hold bytes `range` (which must lie within the stream); the
    /// only pieces a ranged read needs to fetch and open.
    pub fn pieces_for(&self, range: Range<u64>) -> Range<u32> {
        if range.start >= range.end {
            return 0..0;
        }
        // The piece holding `offset` is the last one starting at or before it.
        let find = |offset: u64| self.starts[..self.starts.len() - 1].partition_point(|&s| s <= offset) - 1;
        let first = find(range.start);
        let last = find(range.end - 1);
        first as u32..last as u32 + 1
    }
}

/// Cuts a plaintext stream into sealed pieces of a fixed size. Holds back one full
/// piece, because only the next byte (or the end) tells whether it is the last.
pub struct Sealer {
    key: StreamKey,
    chunk_size: usize,
    pending: Vec<u8>,
    next_index: u32,
}

/// One sealed piece, ready to store.
#[derive(Debug)]
pub struct SealedPiece {
    pub index: u32,
    pub last: bool,
    pub plaintext_len: u64,
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes` as hex, computed while the piece is hot in cache.
    pub sha256: String,
}

impl Sealer {
    pub fn new(key: StreamKey, chunk_size: u32, next_index: u32) -> Self {
        Self {
            key,
            chunk_size: chunk_size as usize,
            pending: Vec::with_capacity(chunk_size as usize + TAG_LEN),
            next_index,
        }
    }

    /// Adds plaintext; returns the pieces that are now complete and known not to be last.
    pub fn push(&mut self, mut data: &[u8]) -> Result<Vec<SealedPiece>, ChunkError> {
        let mut out = Vec::new();
        while !data.is_empty() {
            if self.pending.len() == self.chunk_size {
                out.push(self.seal_pending(false)?);
            }
            let take = (self.chunk_size - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(out)
    }

    /// Plaintext not yet sealed (at most one piece).
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }

    pub fn next_index(&self) -> u32 {
        self.next_index
    }

    /// Seals what is held as the final piece (possibly empty, for an empty stream).
    pub fn finish(mut self) -> Result<SealedPiece, ChunkError> {
        self.seal_pending(true)
    }

    fn seal_pending(&mut self, last: bool) -> Result<SealedPiece, ChunkError> {
        let index = self.next_index;
        self.next_index = index.checked_add(1).ok_or(ChunkError::TooManyChunks)?;
        let bytes = std::mem::replace(&mut self.pending, Vec::with_capacity(self.chunk_size + TAG_LEN));
        Ok(self.key.seal_piece(index, last, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::StreamId;
    use proptest::prelude::*;

    fn key(rec: RecordingId, stream: StreamName) -> StreamKey {
        StreamKey::new(&Dek::generate().unwrap(), [7; PREFIX_LEN], Binding { rec, stream })
    }

    fn seal_all(k: StreamKey, chunk: u32, data: &[u8]) -> Vec<SealedPiece> {
        let mut s = Sealer::new(k, chunk, 0);
        let mut out = s.push(data).unwrap();
        out.push(s.finish().unwrap());
        out
    }

    fn open_range(k: &StreamKey, pieces: &[SealedPiece], range: Range<u64>) -> Vec<u8> {
        let layout = Layout::new(pieces.iter().map(|p| p.plaintext_len), true);
        let mut out = Vec::new();
        for i in layout.pieces_for(range.clone()) {
            let mut buf = pieces[i as usize].bytes.clone();
            k.open(i, layout.is_last(i), &mut buf).unwrap();
            let r = layout.piece_range(i);
            let from = range.start.max(r.start) - r.start;
            let to = range.end.min(r.end) - r.start;
            out.extend_from_slice(&buf[from as usize..to as usize]);
        }
        out
    }

    proptest! {
        #[test]
        fn any_range_round_trips(data in proptest::collection::vec(any::<u8>(), 0..5000),
                                 chunk in 1u32..700, a in any::<u64>(), b in any::<u64>()) {
            let (rec, stream) = (RecordingId::new(), StreamName::Media(StreamId::new()));
            let dek = Dek::generate().unwrap();
            let k = StreamKey::new(&dek, [1; PREFIX_LEN], Binding { rec, stream });
            let pieces = seal_all(StreamKey::new(&dek, [1; PREFIX_LEN], Binding { rec, stream }), chunk, &data);
            let expected_pieces = if data.is_empty() { 1 } else { data.len().div_ceil(chunk as usize) };
            prop_assert_eq!(pieces.len(), expected_pieces);
            prop_assert!(pieces.last().unwrap().last);
            let len = data.len() as u64;
            let (lo, hi) = ((a % (len + 1)).min(b % (len + 1)), (a % (len + 1)).max(b % (len + 1)));
            prop_assert_eq!(open_range(&k, &pieces, lo..hi), data[lo as usize..hi as usize].to_vec());
            // A ranged read touches only the pieces that cover it.
            let layout = Layout::new(pieces.iter().map(|p| p.plaintext_len), true);
            let touched = layout.pieces_for(lo..hi);
            if hi > lo {
                prop_assert_eq!(touched.start as u64, lo / chunk as u64);
                prop_assert_eq!(touched.end as u64, (hi - 1) / chunk as u64 + 1);
            } else {
                prop_assert!(touched.is_empty());
            }
        }
    }

    #[test]
    fn swaps_moves_and_truncation_fail() {
        let (rec, s1, s2) =
            (RecordingId::new(), StreamName::Media(StreamId::new()), StreamName::Media(StreamId::new()));
        let dek = Dek::generate().unwrap();
        let prefix = [3; PREFIX_LEN];
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let pieces = seal_all(StreamKey::new(&dek, prefix, Binding { rec, stream: s1 }), 1000, &data);
        let k1 = StreamKey::new(&dek, prefix, Binding { rec, stream: s1 });
        // Swapped: piece 1's bytes opened as piece 2.
        let mut b = pieces[1].bytes.clone();
        assert!(k1.open(2, false, &mut b).is_err());
        // Moved to another stream with the same key and prefix, or another recording.
        let k2 = StreamKey::new(&dek, prefix, Binding { rec, stream: s2 });
        let mut b = pieces[1].bytes.clone();
        assert!(k2.open(1, false, &mut b).is_err());
        let k3 = StreamKey::new(&dek, prefix, Binding { rec: RecordingId::new(), stream: s1 });
        let mut b = pieces[1].bytes.clone();
        assert!(k3.open(1, false, &mut b).is_err());
        // Truncated: dropping the final piece leaves a piece that is not marked last.
        let mut b = pieces[8].bytes.clone();
        assert!(k1.open(8, true, &mut b).is_err());
        let mut b = pieces[9].bytes.clone();
        assert!(k1.open(9, true, &mut b).is_ok());
        // A single flipped bit anywhere fails.
        let mut b = pieces[4].bytes.clone();
        b[17] ^= 1;
        assert!(k1.open(4, false, &mut b).is_err());
    }

    #[test]
    fn interrupted_layout_has_no_last_piece() {
        let k = key(RecordingId::new(), StreamName::Transcript);
        let mut s = Sealer::new(k, 4, 0);
        let sealed = s.push(b"abcdefghij").unwrap();
        assert_eq!(sealed.len(), 2);
        assert!(sealed.iter().all(|p| !p.last));
        assert_eq!(s.pending(), b"ij");
        let layout = Layout::new([4, 4], false);
        assert!(!layout.is_last(1));
        assert_eq!(layout.pieces_for(3..5), 0..2);
    }
}
