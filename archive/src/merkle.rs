//! The RFC 6962 Merkle tree hash over ledger entry hashes, kept as a compact range
//! (one root per perfect subtree) so appending is O(log n) and the root at any size
//! is available without the whole tree.
//!
//! MTH({}) = SHA-256(); leaf = SHA-256(0x00 ‖ d); node = SHA-256(0x01 ‖ left ‖ right),
//! splitting at the largest power of two below n.

use ring::digest::{Context, SHA256};

pub type Hash = [u8; 32];

fn sha(parts: &[&[u8]]) -> Hash {
    let mut c = Context::new(&SHA256);
    for p in parts {
        c.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(c.finish().as_ref());
    out
}

pub fn leaf_hash(data: &[u8]) -> Hash {
    sha(&[&[0x00], data])
}

pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha(&[&[0x01], left, right])
}

/// MTH({}): the root of the empty tree, SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    sha(&[])
}

/// An append-only Merkle tree that remembers only the roots of its perfect subtrees.
#[derive(Debug, Clone, Default)]
pub struct CompactTree {
    /// Roots of perfect subtrees, largest first; their sizes are the set bits of `size`.
    peaks: Vec<Hash>,
    size: u64,
}

impl CompactTree {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf (an entry hash).
    pub fn push(&mut self, data: &[u8]) {
        let mut node = leaf_hash(data);
        // Each trailing one bit of the old size is a peak that now has a sibling.
        let mut merges = self.size.trailing_ones();
        while merges > 0 {
            let left = self.peaks.pop().expect("a peak per set bit");
            node = node_hash(&left, &node);
            merges -= 1;
        }
        self.peaks.push(node);
        self.size += 1;
    }

    /// The tree hash of everything pushed so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.peaks.iter().rev();
        match iter.next() {
            None => empty_root(),
            Some(&smallest) => iter.fold(smallest, |acc, peak| node_hash(peak, &acc)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6962 section 2.1, written the slow and obvious way.
    fn reference(leaves: &[Vec<u8>]) -> Hash {
        match leaves.len() {
            0 => sha(&[]),
            1 => leaf_hash(&leaves[0]),
            n => {
                let k = if n.is_power_of_two() { n / 2 } else { 1 << (usize::BITS - 1 - n.leading_zeros()) };
                node_hash(&reference(&leaves[..k]), &reference(&leaves[k..]))
            }
        }
    }

    #[test]
    fn matches_reference_for_sizes_0_to_1000() {
        let leaves: Vec<Vec<u8>> = (0..1000u32).map(|i| sha(&[&i.to_be_bytes()]).to_vec()).collect();
        let mut tree = CompactTree::new();
        assert_eq!(tree.root(), reference(&[]));
        for n in 1..=1000 {
            tree.push(&leaves[n - 1]);
            assert_eq!(tree.root(), reference(&leaves[..n]), "size {n}");
        }
    }

    /// The test vectors of RFC 6962's reference implementation (certificate-transparency
    /// merkle_test.cc): eight leaves and the roots of each prefix.
    #[test]
    fn rfc6962_test_vectors() {
        let leaves: [&str; 8] =
            ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let mut tree = CompactTree::new();
        assert_eq!(hex::encode(tree.root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        for (leaf, root) in leaves.iter().zip(roots) {
            tree.push(&hex::decode(leaf).unwrap());
            assert_eq!(hex::encode(tree.root()), root);
        }
    }
}
