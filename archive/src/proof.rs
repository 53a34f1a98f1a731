//! RFC 6962 Merkle proofs over the ledger's tree: inclusion of one entry in a
//! signed tree (RFC 6962 §2.1.1), consistency of a smaller tree with a larger one
//! (§2.1.2), and their verification (the algorithms of RFC 9162 §2.1.3.2 and
//! §2.1.4.2), plus the C2SP `tlog-proof` text form an inclusion proof travels in.
//!
//! The tree's leaves are the ledger entry hashes: leaf *i* is
//! `SHA-256(0x00 ‖ hash of entry i)` (see [`crate::merkle`]).
//!
//! Generating a proof is split in two so that the hashes can come from anywhere:
//! a [`ProofPlan`] says which ranges of leaves the proof's hashes cover and which
//! perfect subtrees ([`Subtree`]) those are made of; the caller fetches those
//! subtree hashes (from memory with [`TreeLevels`], or from tiles in the store with
//! [`crate::tiles`]) and [`ProofPlan::assemble`] builds the proof. Nothing here
//! reads a store, and nothing here trusts a proof: verification checks every hash.

use crate::merkle::{leaf_hash, node_hash, Hash};
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use std::collections::BTreeSet;
use std::ops::Range;

/// Why a proof could not be made or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("tree size {new} is smaller than the earlier size {old}")]
    Shrinks { old: u64, new: u64 },
    #[error("the proof has {got} hashes where {want} belong")]
    WrongLength { got: usize, want: usize },
    #[error("the proof does not lead to the signed root: the entry is not in that tree")]
    RootMismatch,
    #[error("the proof does not lead to the earlier root: the trees are not consistent")]
    OldRootMismatch,
    #[error("trees of equal size {0} have different roots: a fork")]
    Fork(u64),
    #[error("no hash is available for {0}")]
    Missing(Subtree),
    #[error("proof text is malformed: {0}")]
    Malformed(&'static str),
}

/// A perfect subtree of the log: the `2^level` leaves starting at `index << level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subtree {
    pub level: u8,
    pub index: u64,
}

impl std::fmt::Display for Subtree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let first = self.index << self.level;
        write!(f, "the subtree of leaves {first}..{}", first + (1u64 << self.level))
    }
}

/// The largest power of two strictly below `n` (n ≥ 2): where RFC 6962 splits.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The perfect subtrees, left to right, whose hashes make the RFC 6962 hash of the
/// leaves `range`. Every range a proof names starts at a multiple of a power of two
/// at least as large as its biggest piece, so cutting its length into its binary
/// digits, largest first, gives aligned perfect subtrees.
pub fn subtrees_of(range: Range<u64>) -> Vec<Subtree> {
    let mut out = Vec::new();
    let mut at = range.start;
    let mut left = range.end.saturating_sub(range.start);
    while left > 0 {
        let level = 63 - left.leading_zeros();
        let width = 1u64 << level;
        // Alignment holds for every range this module produces; a misaligned
        // range would name a subtree that does not exist in the tree.
        debug_assert_eq!(at % width, 0, "range {range:?} is not a tree node");
        out.push(Subtree { level: level as u8, index: at >> level });
        at += width;
        left -= width;
    }
    out
}

/// The RFC 6962 hash of the leaves covered by `pieces` (from [`subtrees_of`]).
fn fold_right(pieces: &[Hash]) -> Option<Hash> {
    let (&last, rest) = pieces.split_last()?;
    Some(rest.iter().rev().fold(last, |acc, left| node_hash(left, &acc)))
}

/// Which leaf ranges a proof's hashes cover, in the order the proof lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofPlan {
    ranges: Vec<Range<u64>>,
}

impl ProofPlan {
    /// The audit path of leaf `index` in the tree of `size` leaves (RFC 6962
    /// §2.1.1 `PATH`), from the leaf's sibling up to the root's child.
    pub fn inclusion(index: u64, size: u64) -> Result<Self, ProofError> {
        if index >= size {
            return Err(ProofError::IndexOutOfRange { index, size });
        }
        let mut ranges = Vec::new();
        path(index, 0, size, &mut ranges);
        Ok(Self { ranges })
    }

    /// The consistency proof from the tree of `old` leaves to the tree of `new`
    /// (RFC 6962 §2.1.2 `PROOF`). Empty when `old` is 0 or equals `new`: the
    /// empty tree is consistent with any tree (C2SP tlog-witness).
    pub fn consistency(old: u64, new: u64) -> Result<Self, ProofError> {
        if old > new {
            return Err(ProofError::Shrinks { old, new });
        }
        let mut ranges = Vec::new();
        if old > 0 && old < new {
            subproof(old, 0, new, true, &mut ranges);
        }
        Ok(Self { ranges })
    }

    /// How many hashes the proof has.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Every perfect subtree whose hash the proof needs, each once.
    pub fn subtrees(&self) -> Vec<Subtree> {
        let set: BTreeSet<Subtree> = self.ranges.iter().flat_map(|r| subtrees_of(r.clone())).collect();
        set.into_iter().collect()
    }

    /// Builds the proof from subtree hashes.
    pub fn assemble(&self, hash: impl Fn(Subtree) -> Option<Hash>) -> Result<Vec<Hash>, ProofError> {
        self.ranges
            .iter()
            .map(|r| {
                let pieces = subtrees_of(r.clone())
                    .into_iter()
                    .map(|s| hash(s).ok_or(ProofError::Missing(s)))
                    .collect::<Result<Vec<Hash>, _>>()?;
                fold_right(&pieces).ok_or(ProofError::Malformed("empty range"))
            })
            .collect()
    }
}

/// RFC 6962 `PATH(m, D[lo:hi])`, with ranges in absolute leaf indices.
fn path(m: u64, lo: u64, hi: u64, out: &mut Vec<Range<u64>>) {
    let n = hi - lo;
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(m, lo, lo + k, out);
        out.push(lo + k..hi);
    } else {
        path(m - k, lo + k, hi, out);
        out.push(lo..lo + k);
    }
}

/// RFC 6962 `SUBPROOF(m, D[lo:hi], b)`.
fn subproof(m: u64, lo: u64, hi: u64, b: bool, out: &mut Vec<Range<u64>>) {
    let n = hi - lo;
    if m == n {
        if !b {
            out.push(lo..hi);
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, lo, lo + k, b, out);
        out.push(lo + k..hi);
    } else {
        subproof(m - k, lo + k, hi, false, out);
        out.push(lo..lo + k);
    }
}

/// Checks that `entry_hash` is leaf `index` of the tree of `size` leaves whose
/// root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    entry_hash: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    verify_leaf_inclusion(index, size, &leaf_hash(entry_hash), proof, root)
}

/// [`verify_inclusion`] from the leaf's tree hash rather than the entry hash.
pub fn verify_leaf_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let want = ProofPlan::inclusion(index, size)?.len();
    if proof.len() != want {
        return Err(ProofError::WrongLength { got: proof.len(), want });
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(ProofError::WrongLength { got: proof.len(), want });
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 || r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree of `old` leaves with root `old_root` is a prefix of the
/// tree of `new` leaves with root `new_root` (RFC 9162 §2.1.4.2). An `old` of 0
/// needs an empty proof; equal sizes need an empty proof and equal roots.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::Shrinks { old, new });
    }
    let want = ProofPlan::consistency(old, new)?.len();
    if proof.len() != want {
        return Err(ProofError::WrongLength { got: proof.len(), want });
    }
    if old == 0 {
        return Ok(());
    }
    if old == new {
        return if old_root == new_root { Ok(()) } else { Err(ProofError::Fork(old)) };
    }
    // When `old` is a power of two its root is a node of the new tree and the
    // proof omits it: the old root is where the walk starts.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut f_n, mut s_n) = (old - 1, new - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut f_r, mut s_r) = (path[0], path[0]);
    for c in &path[1..] {
        if s_n == 0 {
            return Err(ProofError::WrongLength { got: proof.len(), want });
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if f_r != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if s_n != 0 || s_r != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Every perfect-subtree hash of a tree held in memory: level 0 holds the leaf
/// hashes, level *l* the hash of each complete pair below. Twice the leaves in
/// hashes (64 MB for a million entries); for bigger logs read tiles instead.
#[derive(Debug, Clone, Default)]
pub struct TreeLevels {
    levels: Vec<Vec<Hash>>,
}

impl TreeLevels {
    /// The tree over these entry hashes, in order.
    pub fn from_entry_hashes<'a>(hashes: impl IntoIterator<Item = &'a Hash>) -> Self {
        let mut tree = Self::default();
        for h in hashes {
            tree.push(h);
        }
        tree
    }

    /// Appends one entry hash as the next leaf.
    pub fn push(&mut self, entry_hash: &Hash) {
        let mut node = leaf_hash(entry_hash);
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(node);
            let row = &self.levels[level];
            if row.len() % 2 == 1 {
                return;
            }
            node = node_hash(&row[row.len() - 2], &row[row.len() - 1]);
            level += 1;
        }
    }

    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    pub fn subtree(&self, s: Subtree) -> Option<Hash> {
        self.levels.get(s.level as usize)?.get(usize::try_from(s.index).ok()?).copied()
    }

    /// The root of the first `size` leaves.
    pub fn root(&self, size: u64) -> Option<Hash> {
        if size > self.size() {
            return None;
        }
        if size == 0 {
            return Some(crate::merkle::empty_root());
        }
        let pieces: Option<Vec<Hash>> = subtrees_of(0..size).into_iter().map(|s| self.subtree(s)).collect();
        fold_right(&pieces?)
    }

    pub fn inclusion(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(size)?;
        ProofPlan::inclusion(index, size)?.assemble(|s| self.subtree(s))
    }

    pub fn consistency(&self, old: u64, new: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(new)?;
        ProofPlan::consistency(old, new)?.assemble(|s| self.subtree(s))
    }

    fn check_size(&self, size: u64) -> Result<(), ProofError> {
        if size > self.size() {
            return Err(ProofError::IndexOutOfRange { index: size - 1, size: self.size() });
        }
        Ok(())
    }
}

/// The first line of a C2SP tlog-proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// An inclusion proof in the C2SP `tlog-proof@v1` text form: the entry's index,
/// its audit path, and the checkpoint (with any cosignatures) verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque and unauthenticated; Niêm writes none.
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    pub hashes: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

impl TlogProof {
    pub fn encode(&self) -> String {
        let mut out = format!("{TLOG_PROOF_HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str(&format!("extra {}\n", B64.encode(extra)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.hashes {
            out.push_str(&B64.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    pub fn parse(text: &str) -> Result<Self, ProofError> {
        let bad = ProofError::Malformed;
        let (head, checkpoint) = text.split_once("\n\n").ok_or(bad("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(TLOG_PROOF_HEADER) {
            return Err(bad("first line is not c2sp.org/tlog-proof@v1"));
        }
        let mut line = lines.next().ok_or(bad("no index line"))?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            extra = Some(B64.decode(b64).map_err(|_| bad("extra is not base64"))?);
            line = lines.next().ok_or(bad("no index line"))?;
        }
        let index = line.strip_prefix("index ").and_then(parse_decimal).ok_or(bad("index line"))?;
        let hashes = lines
            .map(|l| {
                B64.decode(l)
                    .ok()
                    .and_then(|b| Hash::try_from(b).ok())
                    .ok_or(bad("a proof line is not a base64 SHA-256"))
            })
            .collect::<Result<Vec<Hash>, _>>()?;
        Ok(Self { extra, index, hashes, checkpoint: checkpoint.to_string() })
    }
}

/// An ASCII decimal without sign or leading zeros (C2SP's form for sizes).
pub fn parse_decimal(s: &str) -> Option<u64> {
    let canonical = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    canonical.then(|| s.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b64(s: &str) -> Hash {
        B64.decode(s).unwrap().try_into().unwrap()
    }

    /// The eight leaves of RFC 6962's reference tests (certificate-transparency's
    /// merkle_test.cc), the same as in `merkle::tests`. These leaves are raw data,
    /// so the proofs below are checked on trees built from them directly.
    fn rfc_leaves() -> Vec<Vec<u8>> {
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
            .iter()
            .map(|h| hex::decode(h).unwrap())
            .collect()
    }

    /// RFC 6962 §2.1, written the slow and obvious way, over raw leaf data.
    fn mth(leaves: &[Vec<u8>]) -> Hash {
        match leaves.len() {
            0 => crate::merkle::empty_root(),
            1 => leaf_hash(&leaves[0]),
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    /// RFC 6962 §2.1.1 PATH over raw leaves: the naive reference.
    fn naive_path(m: usize, leaves: &[Vec<u8>]) -> Vec<Hash> {
        let n = leaves.len();
        if n <= 1 {
            return vec![];
        }
        let k = split(n as u64) as usize;
        if m < k {
            let mut p = naive_path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = naive_path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    /// RFC 6962 §2.1.2 SUBPROOF over raw leaves: the naive reference.
    fn naive_subproof(m: usize, leaves: &[Vec<u8>], b: bool) -> Vec<Hash> {
        let n = leaves.len();
        if m == n {
            return if b { vec![] } else { vec![mth(leaves)] };
        }
        let k = split(n as u64) as usize;
        if m <= k {
            let mut p = naive_subproof(m, &leaves[..k], b);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = naive_subproof(m - k, &leaves[k..], false);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    /// A tree over raw leaf data (the RFC vectors hash data of any length, where
    /// ledger leaves are 32-byte entry hashes).
    fn levels_of_raw(leaves: &[Vec<u8>]) -> TreeLevels {
        let mut t = TreeLevels::default();
        for l in leaves {
            // `push` takes entry hashes; build level 0 from raw leaves by hand.
            let mut node = leaf_hash(l);
            let mut level = 0;
            loop {
                if t.levels.len() == level {
                    t.levels.push(Vec::new());
                }
                t.levels[level].push(node);
                let row = &t.levels[level];
                if row.len() % 2 == 1 {
                    break;
                }
                node = node_hash(&row[row.len() - 2], &row[row.len() - 1]);
                level += 1;
            }
        }
        t
    }

    /// Inclusion proofs published with RFC 6962's reference implementation
    /// (as in transparency-dev/merkle's testdata), generated and verified.
    #[test]
    fn rfc6962_inclusion_vectors() {
        let leaves = rfc_leaves();
        let tree = levels_of_raw(&leaves);
        let cases: [(u64, u64, &str, &[&str]); 4] = [
            (
                0,
                8,
                "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
                &[
                    "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
                    "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
                    "a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ=",
                ],
            ),
            (
                5,
                8,
                "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
                &[
                    "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=",
                    "yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=",
                    "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
                ],
            ),
            (2, 3, "rra8/idLcKFPsGel5VeCZNsPqbUa9eC6FZFY8yngbnc=", &["+sVCA+fMaWzw38tCySodnbr3CtnmIfS9jZhmLwDjwSU="]),
            (
                1,
                5,
                "Tju7H3tHjc/nH7YxYxUZo7yhLJrvyhYSv85ME6hiZNQ=",
                &[
                    "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
                    "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
                    "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=",
                ],
            ),
        ];
        for (index, size, root, proof) in cases {
            let want: Vec<Hash> = proof.iter().map(|p| b64(p)).collect();
            assert_eq!(tree.root(size), Some(b64(root)), "root of {size}");
            assert_eq!(tree.inclusion(index, size).unwrap(), want, "PATH({index}, {size})");
            // The verifier takes entry hashes; the RFC leaves are raw, so check
            // the same walk through the leaf-hash-taking core.
            let leaf = leaf_hash(&leaves[index as usize]);
            verify_leaf_inclusion(index, size, &leaf, &want, &b64(root)).unwrap();
            let other = leaf_hash(&leaves[(index as usize + 1) % 8]);
            assert_eq!(verify_leaf_inclusion(index, size, &other, &want, &b64(root)), Err(ProofError::RootMismatch));
        }
    }

    /// Consistency proofs of RFC 6962's reference implementation, generated
    /// and verified, and each one refused when a hash or a root is wrong.
    #[test]
    fn rfc6962_consistency_vectors() {
        let tree = levels_of_raw(&rfc_leaves());
        let cases: [(u64, u64, &[&str]); 4] = [
            (
                1,
                8,
                &[
                    "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
                    "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
                    "a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ=",
                ],
            ),
            (
                6,
                8,
                &[
                    "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=",
                    "yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=",
                    "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
                ],
            ),
            (2, 5, &["Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=", "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms="]),
            (
                6,
                7,
                &[
                    "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=",
                    "sIaT7C5yFZcTBkHoIR5+7cy0wmQTlj7ubB4u0W/7Gl8=",
                    "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
                ],
            ),
        ];
        for (old, new, proof) in cases {
            let want: Vec<Hash> = proof.iter().map(|p| b64(p)).collect();
            assert_eq!(tree.consistency(old, new).unwrap(), want, "PROOF({old}, {new})");
            let (r1, r2) = (tree.root(old).unwrap(), tree.root(new).unwrap());
            verify_consistency(old, new, &r1, &r2, &want).unwrap();
            // A power-of-two old size starts the walk from the old root itself,
            // so a wrong one shows up at the new root.
            let wrong_old = verify_consistency(old, new, &r2, &r2, &want).unwrap_err();
            assert!(matches!(wrong_old, ProofError::OldRootMismatch | ProofError::RootMismatch), "{wrong_old}");
            if !old.is_power_of_two() {
                assert_eq!(wrong_old, ProofError::OldRootMismatch);
            }
            assert_eq!(verify_consistency(old, new, &r1, &r1, &want).unwrap_err(), ProofError::RootMismatch);
            for i in 0..want.len() {
                let mut bad = want.clone();
                bad[i][7] ^= 0x10;
                assert!(verify_consistency(old, new, &r1, &r2, &bad).is_err(), "{old}->{new} hash {i} flipped");
            }
            assert!(verify_consistency(old, new, &r1, &r2, &want[1..]).is_err(), "truncated");
            assert!(verify_consistency(old + 1, new, &r1, &r2, &want).is_err(), "other old size");
        }
    }

    #[test]
    fn edge_cases_of_sizes() {
        let hashes: Vec<Hash> = (0..9u8).map(|i| [i; 32]).collect();
        let tree = TreeLevels::from_entry_hashes(&hashes);
        let r = |n| tree.root(n).unwrap();
        assert_eq!(r(0), crate::merkle::empty_root());
        // old = 0: the empty tree is consistent with anything, with no proof.
        verify_consistency(0, 9, &r(0), &r(9), &[]).unwrap();
        assert!(verify_consistency(0, 9, &r(0), &r(9), &[[0; 32]]).is_err());
        // Equal sizes: equal roots or a fork.
        verify_consistency(9, 9, &r(9), &r(9), &[]).unwrap();
        assert_eq!(verify_consistency(9, 9, &r(8), &r(9), &[]), Err(ProofError::Fork(9)));
        assert_eq!(verify_consistency(9, 8, &r(9), &r(8), &[]), Err(ProofError::Shrinks { old: 9, new: 8 }));
        assert_eq!(ProofPlan::inclusion(9, 9), Err(ProofError::IndexOutOfRange { index: 9, size: 9 }));
        // A tree of one leaf: the proof is empty and the root is the leaf hash.
        assert!(tree.inclusion(0, 1).unwrap().is_empty());
        verify_inclusion(0, 1, &hashes[0], &[], &r(1)).unwrap();
        assert_eq!(verify_inclusion(0, 1, &hashes[1], &[], &r(1)), Err(ProofError::RootMismatch));
    }

    /// An attacker's proofs: another entry's proof, a proof moved to another
    /// index, against another size, reordered, or lengthened.
    #[test]
    fn forged_inclusion_proofs_are_refused() {
        let hashes: Vec<Hash> = (0..100u8).map(|i| [i; 32]).collect();
        let tree = TreeLevels::from_entry_hashes(&hashes);
        let root = tree.root(100).unwrap();
        let p37 = tree.inclusion(37, 100).unwrap();
        verify_inclusion(37, 100, &hashes[37], &p37, &root).unwrap();
        assert!(verify_inclusion(37, 100, &hashes[38], &p37, &root).is_err(), "another entry");
        assert!(verify_inclusion(38, 100, &hashes[38], &p37, &root).is_err(), "moved to its index");
        let p38 = tree.inclusion(38, 100).unwrap();
        assert!(verify_inclusion(37, 100, &hashes[37], &p38, &root).is_err(), "another entry's proof");
        assert!(verify_inclusion(37, 99, &hashes[37], &p37, &tree.root(99).unwrap()).is_err(), "another size");
        let mut swapped = p37.clone();
        swapped.swap(0, 1);
        assert!(verify_inclusion(37, 100, &hashes[37], &swapped, &root).is_err(), "reordered");
        let mut longer = p37.clone();
        longer.push(root);
        assert!(matches!(verify_inclusion(37, 100, &hashes[37], &longer, &root), Err(ProofError::WrongLength { .. })));
    }

    #[test]
    fn tlog_proof_text_round_trips_and_refuses_garbage() {
        let p = TlogProof {
            extra: None,
            index: 73894,
            hashes: vec![[1; 32], [2; 32]],
            checkpoint: "log\n1\nroot\n\n— log sig\n".into(),
        };
        let text = p.encode();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nindex 73894\nAQEB"), "{text}");
        assert_eq!(TlogProof::parse(&text).unwrap(), p);
        let with_extra = TlogProof { extra: Some(b"x".to_vec()), ..p.clone() };
        assert_eq!(TlogProof::parse(&with_extra.encode()).unwrap(), with_extra);
        assert!(TlogProof::parse(&text.replace("index 73894", "index 073894")).is_err());
        assert!(TlogProof::parse(&text.replace("tlog-proof@v1", "tlog-proof@v2")).is_err());
        assert!(TlogProof::parse(&text.replacen("AQEB", "AQE", 1)).is_err());
        let no_proof = TlogProof { hashes: vec![], ..p };
        assert_eq!(TlogProof::parse(&no_proof.encode()).unwrap(), no_proof);
    }

    /// `n` leaves of 32 bytes each: the shape of ledger entry hashes.
    fn test_leaves(n: usize) -> Vec<Vec<u8>> {
        (0..n as u32).map(|i| crate::merkle::leaf_hash(&i.to_be_bytes()).to_vec()).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Generated inclusion proofs equal the naive RFC 6962 PATH and verify;
        /// any single flipped bit is refused.
        #[test]
        fn inclusion_matches_naive_reference(
            size in 1usize..300,
            pick in any::<prop::sample::Index>(),
            bit in 0usize..256,
        ) {
            let leaves = test_leaves(size);
            let hashes: Vec<Hash> = leaves.iter().map(|l| l.clone().try_into().unwrap()).collect();
            let tree = TreeLevels::from_entry_hashes(&hashes);
            let index = pick.index(size);
            let proof = tree.inclusion(index as u64, size as u64).unwrap();
            prop_assert_eq!(&proof, &naive_path(index, &leaves));
            let root = mth(&leaves);
            prop_assert_eq!(tree.root(size as u64).unwrap(), root);
            let (i, n) = (index as u64, size as u64);
            prop_assert!(verify_inclusion(i, n, &hashes[index], &proof, &root).is_ok());
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let len = bad.len();
                bad[bit % len][(bit / 8) % 32] ^= 1 << (bit % 8);
                prop_assert!(verify_inclusion(i, n, &hashes[index], &bad, &root).is_err());
            }
        }

        /// Generated consistency proofs equal the naive RFC 6962 PROOF, verify,
        /// and fail against a tree that differs in one leaf (a fork).
        #[test]
        fn consistency_matches_naive_reference(
            new in 1usize..300,
            pick in any::<prop::sample::Index>(),
            forked in any::<prop::sample::Index>(),
        ) {
            let leaves = test_leaves(new);
            let hashes: Vec<Hash> = leaves.iter().map(|l| l.clone().try_into().unwrap()).collect();
            let tree = TreeLevels::from_entry_hashes(&hashes);
            let old = pick.index(new) + 1;
            let proof = tree.consistency(old as u64, new as u64).unwrap();
            let naive = if old == new { vec![] } else { naive_subproof(old, &leaves, true) };
            prop_assert_eq!(&proof, &naive);
            let (r1, r2) = (mth(&leaves[..old]), mth(&leaves));
            prop_assert!(verify_consistency(old as u64, new as u64, &r1, &r2, &proof).is_ok());
            // The same old size in a ledger that was rewritten at one entry.
            let mut other = hashes.clone();
            other[forked.index(old)][0] ^= 1;
            let fork = TreeLevels::from_entry_hashes(&other);
            let fr = fork.root(old as u64).unwrap();
            prop_assert!(verify_consistency(old as u64, new as u64, &fr, &r2, &proof).is_err());
        }
    }
}
