//! AES-256-GCM under a fresh random 96-bit nonce: the one way a wrapped key, a
//! sealed note and a resumable upload's spool tail are sealed. (Chunks are not:
//! their nonces are derived per piece, STREAM-style, in `chunk.rs`.)
//!
//! A random nonce is safe here because each key seals few messages: a KEK
//! wraps one data key per stream, a tail key one tail per request; far below
//! the 2^32 messages per key that random 96-bit nonces allow.

use ring::aead::{Aad, LessSafeKey, Nonce, NONCE_LEN};
use ring::error::Unspecified;
use ring::rand::{SecureRandom, SystemRandom};

/// Seals `buf` in place (the tag is appended); returns the nonce it drew.
pub fn seal(key: &LessSafeKey, aad: &[u8], buf: &mut Vec<u8>) -> Result<[u8; NONCE_LEN], Unspecified> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new().fill(&mut nonce)?;
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), buf)?;
    Ok(nonce)
}

/// Opens `buf` (ciphertext and tag) in place, leaving the plaintext; any
/// tampering with the nonce, the AAD or the bytes fails.
pub fn open(key: &LessSafeKey, nonce: &[u8], aad: &[u8], buf: &mut Vec<u8>) -> Result<(), Unspecified> {
    let nonce = Nonce::try_assume_unique_for_key(nonce)?;
    let len = key.open_in_place(nonce, Aad::from(aad), buf)?.len();
    buf.truncate(len);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::aead::{UnboundKey, AES_256_GCM};

    fn key(b: u8) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[b; 32]).unwrap())
    }

    #[test]
    fn a_sealed_message_opens_only_as_it_was_sealed() {
        let mut buf = b"bi mat".to_vec();
        let nonce = seal(&key(1), b"aad", &mut buf).unwrap();
        let sealed = buf.clone();
        open(&key(1), &nonce, b"aad", &mut buf).unwrap();
        assert_eq!(buf, b"bi mat");
        for (k, n, a) in [(2u8, nonce, &b"aad"[..]), (1, [0u8; NONCE_LEN], &b"aad"[..]), (1, nonce, &b"other"[..])] {
            let mut b = sealed.clone();
            assert!(open(&key(k), &n, a, &mut b).is_err(), "wrong key, nonce or AAD opens nothing");
        }
        let mut flipped = sealed.clone();
        flipped[0] ^= 1;
        assert!(open(&key(1), &nonce, b"aad", &mut flipped).is_err(), "a changed byte opens nothing");
        let mut again = b"bi mat".to_vec();
        assert_ne!(seal(&key(1), b"aad", &mut again).unwrap(), nonce, "every seal draws its own nonce");
    }
}
