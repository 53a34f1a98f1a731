//! The Niêm vault: everything that makes a recording trustworthy once it is stored.
//!
//! This crate owns the storage format and the proof that it is intact:
//!
//! - [`keys`]: the key-encryption keyring (rotating KEKs), data keys (DEKs) and the
//!   Ed25519 ledger signing key;
//! - [`chunk`]: the STREAM construction that seals a stream piece by piece;
//!   [`aead`]: AES-256-GCM under a random nonce, for keys, notes and spool tails;
//! - [`store`]: create-only object stores (a local directory or S3) behind one trait;
//! - [`layout`]: the one place that turns ids into object paths and back;
//! - [`ledger`], [`merkle`] and [`checkpoint`]: the hash-chained audit log and its
//!   C2SP signed-note checkpoints over an RFC 6962 Merkle tree;
//! - [`proof`] and [`tiles`]: RFC 6962 inclusion and consistency proofs, and the
//!   tree's interior hashes stored as C2SP tlog-tiles so proofs need few reads;
//! - [`cosign`] and [`witness`]: C2SP witness cosignatures on checkpoints and the
//!   tlog-witness logic (the HTTP service is in `niem-audit`);
//! - [`bundle`]: an evidence bundle of one recording, checkable offline;
//! - [`sample`]: reproducible sampled verification and the rolling schedule;
//! - [`vault`]: recordings, streams, chunks and seals, each committed with its
//!   ledger entry in one catalog transaction; [`key_objects`]: where each stream's
//!   wrapped key is (the store, and memory);
//! - [`retention`] and [`deletion`]: the retention rules replayed from the ledger,
//!   which the service enforces and the verifier judges every shred by;
//!   [`shred`]: crypto-shredding; [`retire`]: KEK retirement;
//! - [`restore`]: the archive's tables rebuilt from the store and the keys;
//! - [`format`]: storage format versions; [`id`]: validated ids; [`clock`]: the
//!   one source of time;
//! - [`transcript`]: a sealed recording's transcript, kept sealed like its media
//!   and recorded exactly once;
//! - [`verify`]: the verifier that both the service and `niem-audit` run (with
//!   `evidence_check`, its judgement of tiles and cosigned checkpoints);
//! - [`spool`]: sealed local scratch (resumable-upload tails) that survives a crash.
//!
//! It is not a service: it knows nothing of HTTP, media formats or search, and it
//! never sees plaintext except in memory, inside [`chunk`] and [`reader`].

pub mod aead;
pub mod bundle;
pub mod catalog;
pub mod checkpoint;
pub mod chunk;
pub mod clock;
pub mod cosign;
pub mod db;
pub mod deletion;
mod evidence_check;
pub mod format;
pub mod id;
pub mod key_objects;
pub mod keys;
pub mod layout;
pub mod ledger;
pub mod manifest;
pub mod merkle;
pub mod mirror;
pub mod proof;
pub mod reader;
pub mod record;
pub mod restore;
pub mod retention;
pub mod retire;
pub mod sample;
pub mod shred;
pub mod spool;
pub mod store;
#[cfg(test)]
pub(crate) mod testing;
pub mod tiles;
pub mod transcript;
pub mod vault;
pub mod verify;
pub mod witness;

/// Makes a new name in `dir` durable (after a create or a rename in it). Unix
/// fsyncs the directory; Windows cannot open a directory to flush it ("Access
/// denied") and NTFS journals the name itself, so there it does nothing.
pub fn sync_dir(dir: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// SHA-256 of `bytes` as lowercase hex, the form every hash takes in the ledger.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

/// SHA-256 of a file's contents, read in blocks (model files run to gigabytes).
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(ctx.finish()));
        }
        ctx.update(&buf[..n]);
    }
}
