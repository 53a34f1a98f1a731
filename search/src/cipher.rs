//! The cipher interface the encrypted index directory seals its files with.
//!
//! What it is: two small traits that the service implements with the archive's
//! keys (`search` depends on no crate of ours, and the archive knows no index).
//! Every index file gets its own data key from [`IndexCipher::new_file`], which
//! also returns an opaque *header* (the data key wrapped by a key-encryption key,
//! the nonce prefix, the KEK's id: whatever opens the file again). The directory
//! stores the header in front of the file and cuts the file into pieces that
//! [`FileKey`] seals one by one, exactly like the archive's chunk format: piece
//! `i` under the file's key, nonce = 7-byte prefix ‖ `i` (u32 BE) ‖ last flag,
//! AAD binding the file name and `i`. An implementation over
//! `archive::chunk::StreamKey` is a few lines.
//!
//! What an implementation must guarantee, because the directory relies on it:
//! - a fresh random key (or at least a fresh nonce prefix) for every `new_file`:
//!   a name is written more than once (`meta.json` at every commit);
//! - the file name is bound into the wrapped key and into every piece (AAD), so a
//!   file renamed or swapped with another fails to open;
//! - the last flag and the piece index are bound into every piece, so reordered,
//!   dropped or truncated pieces fail;
//! - [`FileKey::open`] fails with [`CipherError::Authentication`] on any change.
//!
//! What it is not: key management. Which KEK wraps new files, and when a retired
//! one may be destroyed, is the service's business; [`IndexCipher::generation`]
//! lets it see which key each file still depends on.

/// Why a key could not seal or open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// The ciphertext or the header was altered, moved, renamed or truncated.
    #[error("authentication failed")]
    Authentication,
    /// The header names a key this cipher does not hold (a retired KEK), or the
    /// random source failed.
    #[error("key unavailable: {0}")]
    Unavailable(String),
}

/// Seals and opens the pieces of one file; made by an [`IndexCipher`] for that
/// file's name. The signatures are those of `archive::chunk::StreamKey`.
pub trait FileKey: Send + Sync {
    /// Seals piece `index` in place: plaintext in, ciphertext ‖ 16-byte tag out.
    fn seal(&self, index: u32, last: bool, buf: &mut Vec<u8>) -> Result<(), CipherError>;
    /// Opens piece `index` in place, leaving the plaintext in `buf`.
    fn open(&self, index: u32, last: bool, buf: &mut Vec<u8>) -> Result<(), CipherError>;
}

/// Makes the keys of index files.
pub trait IndexCipher: Send + Sync + 'static {
    /// A fresh key for a new file named `name`, and the header that
    /// [`IndexCipher::open_file`] needs to rebuild it (stored in clear in front of
    /// the file: it must hold no secret in clear).
    fn new_file(&self, name: &str) -> Result<(Box<dyn FileKey>, Vec<u8>), CipherError>;
    /// The key of the existing file `name` from its header.
    fn open_file(&self, name: &str, header: &[u8]) -> Result<Box<dyn FileKey>, CipherError>;
    /// Which key-encryption key (generation) a header depends on, so that a KEK
    /// retirement can tell whether the index must be re-encrypted first.
    fn generation(&self, header: &[u8]) -> Result<String, CipherError>;
}

/// Bytes a sealed piece adds to its plaintext (the AES-GCM tag).
pub const TAG_LEN: usize = 16;
