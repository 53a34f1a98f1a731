//! An [`IndexCipher`] over ring's AES-256-GCM, shaped like the service's: each
//! file gets a random data key and nonce prefix, wrapped by a key-encryption key
//! named in the header; pieces are sealed as the archive's chunks are (nonce =
//! prefix ‖ index ‖ last flag), with the file name and piece index in the AAD.
//! For the tests and the benchmark; the service plugs in the archive's keys.

#![allow(dead_code)]

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::rand::{SecureRandom, SystemRandom};
use search::{CipherError, FileKey, IndexCipher};
use std::collections::HashMap;

const PREFIX_LEN: usize = 7;

/// Key-encryption keys by id; new files are wrapped under `current`.
pub struct RingCipher {
    keks: HashMap<String, [u8; 32]>,
    current: String,
    rng: SystemRandom,
}

impl RingCipher {
    /// One KEK named `id` with random bytes.
    pub fn new(id: &str) -> RingCipher {
        RingCipher::with_keks(&[(id, random_key())], id)
    }

    pub fn with_keks(keks: &[(&str, [u8; 32])], current: &str) -> RingCipher {
        let keks = keks.iter().map(|(id, k)| (id.to_string(), *k)).collect();
        RingCipher { keks, current: current.to_string(), rng: SystemRandom::new() }
    }

    pub fn kek(&self, id: &str) -> [u8; 32] {
        self.keks[id]
    }

    fn random<const N: usize>(&self) -> Result<[u8; N], CipherError> {
        let mut out = [0u8; N];
        self.rng.fill(&mut out).map_err(|_| CipherError::Unavailable("no randomness".into()))?;
        Ok(out)
    }
}

pub fn random_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    SystemRandom::new().fill(&mut k).expect("randomness");
    k
}

fn aead(bytes: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("32-byte key"))
}

fn wrap_aad(name: &str) -> String {
    format!("niem/index-dek/v1|{name}")
}

/// Header: kek id length (u8) ‖ kek id ‖ wrap nonce (12) ‖ wrapped key (48) ‖ prefix (7).
impl IndexCipher for RingCipher {
    fn new_file(&self, name: &str) -> Result<(Box<dyn FileKey>, Vec<u8>), CipherError> {
        let dek: [u8; 32] = self.random()?;
        let prefix: [u8; PREFIX_LEN] = self.random()?;
        let nonce: [u8; 12] = self.random()?;
        let mut wrapped = dek.to_vec();
        aead(&self.keks[&self.current])
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(wrap_aad(name)), &mut wrapped)
            .map_err(|_| CipherError::Authentication)?;
        let mut header = vec![self.current.len() as u8];
        header.extend_from_slice(self.current.as_bytes());
        header.extend_from_slice(&nonce);
        header.extend_from_slice(&wrapped);
        header.extend_from_slice(&prefix);
        Ok((Box::new(PieceKey { key: aead(&dek), prefix, name: name.into() }), header))
    }

    fn open_file(&self, name: &str, header: &[u8]) -> Result<Box<dyn FileKey>, CipherError> {
        let id = self.generation(header)?;
        let rest = &header[1 + id.len()..];
        if rest.len() != 12 + 48 + PREFIX_LEN {
            return Err(CipherError::Authentication);
        }
        let kek = self.keks.get(&id).ok_or_else(|| CipherError::Unavailable(format!("no KEK {id}")))?;
        let nonce: [u8; 12] = rest[..12].try_into().map_err(|_| CipherError::Authentication)?;
        let mut wrapped = rest[12..60].to_vec();
        let dek = aead(kek)
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(wrap_aad(name)), &mut wrapped)
            .map_err(|_| CipherError::Authentication)?;
        let dek: [u8; 32] = dek.try_into().map_err(|_| CipherError::Authentication)?;
        let prefix: [u8; PREFIX_LEN] = rest[60..].try_into().map_err(|_| CipherError::Authentication)?;
        Ok(Box::new(PieceKey { key: aead(&dek), prefix, name: name.into() }))
    }

    fn generation(&self, header: &[u8]) -> Result<String, CipherError> {
        let len = *header.first().ok_or(CipherError::Authentication)? as usize;
        let id = header.get(1..1 + len).ok_or(CipherError::Authentication)?;
        String::from_utf8(id.to_vec()).map_err(|_| CipherError::Authentication)
    }
}

struct PieceKey {
    key: LessSafeKey,
    prefix: [u8; PREFIX_LEN],
    name: String,
}

impl PieceKey {
    fn nonce(&self, index: u32, last: bool) -> Nonce {
        let mut n = [0u8; 12];
        n[..PREFIX_LEN].copy_from_slice(&self.prefix);
        n[PREFIX_LEN..11].copy_from_slice(&index.to_be_bytes());
        n[11] = last as u8;
        Nonce::assume_unique_for_key(n)
    }

    fn aad(&self, index: u32) -> Aad<String> {
        Aad::from(format!("niem/index/v1|{}|{index}", self.name))
    }
}

impl FileKey for PieceKey {
    fn seal(&self, index: u32, last: bool, buf: &mut Vec<u8>) -> Result<(), CipherError> {
        self.key
            .seal_in_place_append_tag(self.nonce(index, last), self.aad(index), buf)
            .map_err(|_| CipherError::Authentication)
    }

    fn open(&self, index: u32, last: bool, buf: &mut Vec<u8>) -> Result<(), CipherError> {
        let len = self
            .key
            .open_in_place(self.nonce(index, last), self.aad(index), buf)
            .map_err(|_| CipherError::Authentication)?
            .len();
        buf.truncate(len);
        Ok(())
    }
}
