//! Signed notes and witness cosignatures.
//!
//! - [`Note`]: a C2SP signed note split into its text and signature lines, so
//!   that signatures by other keys can be carried along untouched;
//! - [`WitnessKey`] and [`Cosigner`]: a witness's Ed25519 key as a C2SP verifier
//!   key of signature type 0x04 and its private half, and C2SP tlog-cosignature
//!   v1: a signature over `cosignature/v1\ntime <t>\n` followed by the checkpoint
//!   text, sent as `key ID ‖ u64 big-endian timestamp ‖ Ed25519 signature`;
//! - [`CosignedObject`]: a cosigned checkpoint as kept in the store beside the
//!   original (`cosigned/<seq>/<witness>.json`, format `niem/cosigned/v1`).
//!
//! It does not judge a log: the witness's rules are in [`crate::witness`], and the
//! log's own signature is checked by [`crate::checkpoint`].

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::keys::VerifierKey;
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::Zeroizing;

/// The signature type byte of a tlog-cosignature v1 (Ed25519) key.
pub const COSIGNATURE_V1: u8 = 0x04;
/// The format marker of a cosigned checkpoint object.
pub const COSIGNED_FORMAT: &str = "niem/cosigned/v1";
const SIG_PREFIX: &str = "\u{2014} ";

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("signed note is malformed: {0}")]
    Malformed(&'static str),
    #[error("witness key is malformed: {0}")]
    BadKey(&'static str),
    #[error("no cosignature by witness {0}")]
    NoCosignature(String),
    #[error("the cosignature by witness {0} is invalid")]
    BadCosignature(String),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Format(#[from] crate::format::FormatError),
}

/// One signature line of a note: `— <name> base64(key ID ‖ signature)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: [u8; 4],
    pub signature: Vec<u8>,
}

impl NoteSignature {
    pub fn line(&self) -> String {
        let mut bytes = self.key_id.to_vec();
        bytes.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(bytes))
    }

    fn parse(line: &str) -> Result<Self, NoteError> {
        let bad = NoteError::Malformed;
        let rest = line.strip_prefix(SIG_PREFIX).ok_or(bad("a signature line does not start with '— '"))?;
        let (name, b64) = rest.split_once(' ').ok_or(bad("a signature line has no signature"))?;
        let bytes = B64.decode(b64).map_err(|_| bad("a signature is not base64"))?;
        if name.is_empty() || name.contains('+') || bytes.len() < 5 {
            return Err(bad("a signature line is not `— <name> base64(id ‖ signature)`"));
        }
        let key_id = [bytes[0], bytes[1], bytes[2], bytes[3]];
        Ok(Self { name: name.into(), key_id, signature: bytes[4..].to_vec() })
    }
}

/// A signed note: its text (with the final newline) and its signature lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    pub fn parse(note: &str) -> Result<Self, NoteError> {
        let bad = NoteError::Malformed;
        if note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(bad("a note holds control characters other than newline"));
        }
        let at = note.rfind("\n\n").ok_or(bad("no blank line before the signatures"))?;
        let (text, sigs) = (&note[..at + 1], &note[at + 2..]);
        if !sigs.ends_with('\n') {
            return Err(bad("the last signature line does not end in a newline"));
        }
        let signatures = sigs.lines().map(NoteSignature::parse).collect::<Result<Vec<_>, _>>()?;
        if signatures.is_empty() {
            return Err(bad("no signature lines"));
        }
        Ok(Self { text: text.into(), signatures })
    }

    pub fn to_text(&self) -> String {
        let mut out = format!("{}\n", self.text);
        for s in &self.signatures {
            out.push_str(&s.line());
        }
        out
    }

    /// Adds a signature line unless the same line is there.
    pub fn add(&mut self, sig: NoteSignature) {
        if !self.signatures.contains(&sig) {
            self.signatures.push(sig);
        }
    }
}

/// A witness's public key: a C2SP verifier key of signature type 0x04,
/// `<name>+<key ID hex>+<base64(0x04 ‖ Ed25519 public key)>`.
#[derive(Clone, PartialEq, Eq)]
pub struct WitnessKey {
    name: String,
    key_id: [u8; 4],
    public: [u8; 32],
}

impl WitnessKey {
    pub fn new(name: &str, public: [u8; 32]) -> Result<Self, NoteError> {
        if name.is_empty() || name.chars().any(|c| c == '+' || c.is_whitespace() || c.is_control()) {
            return Err(NoteError::BadKey("a name must be non-empty, without '+' or spaces"));
        }
        let mut h = ring::digest::Context::new(&ring::digest::SHA256);
        h.update(name.as_bytes());
        h.update(b"\n");
        h.update(&[COSIGNATURE_V1]);
        h.update(&public);
        let digest = h.finish();
        let key_id = [digest.as_ref()[0], digest.as_ref()[1], digest.as_ref()[2], digest.as_ref()[3]];
        Ok(Self { name: name.into(), key_id, public })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The witness's name in store paths: the first 8 bytes of SHA-256 of its
    /// verifier key text, as 16 lowercase hex digits.
    pub fn store_id(&self) -> String {
        crate::sha256_hex(self.to_string().as_bytes())[..16].to_string()
    }

    /// Checks this witness's cosignature on `note` and returns its timestamp
    /// (the latest, if it signed more than once). Signatures by other keys are
    /// ignored; one of ours that fails spoils the note (C2SP signed-note).
    pub fn verify(&self, note: &Note) -> Result<u64, NoteError> {
        let mut newest = None;
        for sig in note.signatures.iter().filter(|s| s.name == self.name && s.key_id == self.key_id) {
            let bad = || NoteError::BadCosignature(self.name.clone());
            let (time, ed25519) = sig.signature.split_at_checked(8).ok_or_else(bad)?;
            let time = u64::from_be_bytes(time.try_into().map_err(|_| bad())?);
            if time > i64::MAX as u64 || ed25519.len() != 64 {
                return Err(bad());
            }
            let message = cosigned_message(&note.text, time);
            UnparsedPublicKey::new(&ED25519, self.public).verify(message.as_bytes(), ed25519).map_err(|_| bad())?;
            newest = newest.max(Some(time));
        }
        newest.ok_or_else(|| NoteError::NoCosignature(self.name.clone()))
    }
}

/// The message a tlog-cosignature v1 signs.
fn cosigned_message(text: &str, time: u64) -> String {
    format!("cosignature/v1\ntime {time}\n{text}")
}

impl fmt::Display for WitnessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut data = vec![COSIGNATURE_V1];
        data.extend_from_slice(&self.public);
        write!(f, "{}+{}+{}", self.name, hex::encode(self.key_id), B64.encode(data))
    }
}

impl fmt::Debug for WitnessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WitnessKey({self})")
    }
}

impl std::str::FromStr for WitnessKey {
    type Err = NoteError;
    fn from_str(s: &str) -> Result<Self, NoteError> {
        let mut parts = s.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::BadKey("expected <name>+<key ID>+<key>"));
        };
        let data = B64.decode(data).map_err(|_| NoteError::BadKey("key is not base64"))?;
        let public: [u8; 32] = match data.as_slice() {
            [COSIGNATURE_V1, rest @ ..] => {
                rest.try_into().map_err(|_| NoteError::BadKey("an Ed25519 key is 32 bytes"))?
            }
            _ => return Err(NoteError::BadKey("not a cosignature/v1 (type 0x04) key")),
        };
        let key = Self::new(name, public)?;
        if hex::encode(key.key_id) != id {
            return Err(NoteError::BadKey("key ID does not match name and key"));
        }
        Ok(key)
    }
}

/// A witness's private key. Its file form follows Go's `note` package:
/// `PRIVATE+KEY+<name>+<key ID hex>+<base64(0x04 ‖ 32-byte Ed25519 seed)>`.
pub struct Cosigner {
    pair: Ed25519KeyPair,
    key: WitnessKey,
}

impl fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cosigner({})", self.key)
    }
}

impl Cosigner {
    /// A new key named `name`, and its private key text to keep secret.
    pub fn generate(name: &str) -> Result<(Self, Zeroizing<String>), NoteError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), seed.as_mut())
            .map_err(|_| NoteError::BadKey("the system's random source failed"))?;
        let signer = Self::from_seed(name, seed.as_ref())?;
        let mut data = Zeroizing::new(vec![COSIGNATURE_V1]);
        data.extend_from_slice(seed.as_ref());
        let text =
            Zeroizing::new(format!("PRIVATE+KEY+{}+{}+{}\n", name, hex::encode(signer.key.key_id), B64.encode(&*data)));
        Ok((signer, text))
    }

    fn from_seed(name: &str, seed: &[u8]) -> Result<Self, NoteError> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed).map_err(|_| NoteError::BadKey("not an Ed25519 seed"))?;
        let public: [u8; 32] =
            pair.public_key().as_ref().try_into().map_err(|_| NoteError::BadKey("public key size"))?;
        Ok(Self { key: WitnessKey::new(name, public)?, pair })
    }

    /// Reads the private key text [`Cosigner::generate`] wrote.
    pub fn from_private(text: &str) -> Result<Self, NoteError> {
        let bad = NoteError::BadKey;
        let rest = text.trim().strip_prefix("PRIVATE+KEY+").ok_or(bad("expected PRIVATE+KEY+<name>+<id>+<key>"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected PRIVATE+KEY+<name>+<id>+<key>"));
        };
        let data = Zeroizing::new(B64.decode(data).map_err(|_| bad("key is not base64"))?);
        let seed = match data.as_slice() {
            [COSIGNATURE_V1, seed @ ..] if seed.len() == 32 => seed,
            _ => return Err(bad("not a 32-byte cosignature/v1 (type 0x04) key")),
        };
        let signer = Self::from_seed(name, seed)?;
        if hex::encode(signer.key.key_id) != id {
            return Err(bad("key ID does not match name and key"));
        }
        Ok(signer)
    }

    pub fn key(&self) -> &WitnessKey {
        &self.key
    }

    /// A tlog-cosignature v1 line over the note text `text`, made at `time`
    /// (POSIX seconds).
    pub fn cosign(&self, text: &str, time: u64) -> NoteSignature {
        let sig = self.pair.sign(cosigned_message(text, time).as_bytes());
        let mut signature = time.to_be_bytes().to_vec();
        signature.extend_from_slice(sig.as_ref());
        NoteSignature { name: self.key.name.clone(), key_id: self.key.key_id, signature }
    }
}

/// A checkpoint with a valid log signature and a valid cosignature by one witness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witnessed {
    pub checkpoint: Checkpoint,
    /// The whole note, every signature line kept.
    pub note: String,
    pub witness: String,
    /// When the witness cosigned, POSIX seconds.
    pub cosigned_at: u64,
}

/// Checks a cosigned checkpoint note against the log's key and one witness's key.
pub fn open_witnessed(note: &str, log: &VerifierKey, witness: &WitnessKey) -> Result<Witnessed, NoteError> {
    let checkpoint = Checkpoint::open(note, log)?;
    let cosigned_at = witness.verify(&Note::parse(note)?)?;
    Ok(Witnessed { checkpoint, note: note.into(), witness: witness.name().into(), cosigned_at })
}

/// A cosigned checkpoint as stored: `cosigned/<seq:012>/<witness store id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosignedObject {
    pub format: String,
    /// The witness's verifier key, so that a reader knows whose it claims to be;
    /// it proves nothing until checked against a key the auditor trusts.
    pub witness: String,
    pub note: String,
}

impl CosignedObject {
    pub fn new(witness: &WitnessKey, note: &str) -> Self {
        Self { format: COSIGNED_FORMAT.into(), witness: witness.to_string(), note: note.into() }
    }

    pub fn from_bytes(key: &str, body: &[u8]) -> Result<Self, NoteError> {
        let malformed = |r: &str| crate::format::FormatError::Malformed { object: key.into(), reason: r.into() };
        let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| malformed(&e.to_string()))?;
        let marker = v.get("format").and_then(|f| f.as_str()).ok_or_else(|| malformed("no format marker"))?;
        crate::format::check(key, "cosigned", marker)?;
        Ok(serde_json::from_value(v).map_err(|e| malformed(&e.to_string()))?)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        // A struct of strings always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyDir;

    fn checkpoint_note(dir: &std::path::Path, size: u64) -> (String, VerifierKey) {
        let keys = KeyDir::new(dir.join("log")).init("niem.test/ledger").unwrap();
        let cp = Checkpoint {
            origin: "niem.test/ledger".into(),
            size,
            root: [7; 32],
            time: "2026-11-22T10:00:00.000Z".into(),
        };
        (cp.sign(&keys.signer), keys.signer.verifier().clone())
    }

    #[test]
    fn cosign_verify_and_keys_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let (note, log) = checkpoint_note(dir.path(), 42);
        let (w, private) = Cosigner::generate("witness.test/w1").unwrap();
        let again = Cosigner::from_private(&private).unwrap();
        assert_eq!(again.key(), w.key());
        let key: WitnessKey = w.key().to_string().parse().unwrap();
        assert_eq!(&key, w.key());
        assert!(w.key().to_string().starts_with("witness.test/w1+"));

        let mut parsed = Note::parse(&note).unwrap();
        assert_eq!(parsed.to_text(), note);
        parsed.add(w.cosign(&parsed.text, 1_700_000_000));
        let cosigned = parsed.to_text();
        let seen = open_witnessed(&cosigned, &log, &key).unwrap();
        assert_eq!((seen.cosigned_at, seen.checkpoint.size), (1_700_000_000, 42));
        // The log's own checkpoint reader ignores the witness's line.
        assert_eq!(Checkpoint::open(&cosigned, &log).unwrap().size, 42);
    }

    /// The key ID is SHA-256(name ‖ "\n" ‖ 0x04 ‖ key)[:4], and the signed message
    /// is exactly `cosignature/v1\ntime <t>\n` + the note text.
    #[test]
    fn wire_format_is_tlog_cosignature_v1() {
        let (w, _) = Cosigner::generate("w").unwrap();
        let public = B64.decode(w.key().to_string().splitn(3, '+').nth(2).unwrap()).unwrap();
        assert_eq!(public[0], 0x04);
        let mut pre = b"w\n".to_vec();
        pre.extend_from_slice(&public);
        assert_eq!(hex::encode(w.key().key_id()), &crate::sha256_hex(&pre)[..8]);
        let text = "log\n3\nAAAA\n";
        let sig = w.cosign(text, 1679315147);
        assert_eq!(&sig.signature[..8], &1679315147u64.to_be_bytes());
        let msg = b"cosignature/v1\ntime 1679315147\nlog\n3\nAAAA\n";
        UnparsedPublicKey::new(&ED25519, &public[1..]).verify(msg, &sig.signature[8..]).unwrap();
    }

    /// Forgeries: another witness's key, a changed size, a changed timestamp, a
    /// line that claims the witness's name with another key ID.
    #[test]
    fn forged_cosignatures_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (note, log) = checkpoint_note(dir.path(), 42);
        let (w, _) = Cosigner::generate("witness.test/w1").unwrap();
        let (other, _) = Cosigner::generate("witness.test/w1").unwrap();
        let mut n = Note::parse(&note).unwrap();
        n.add(other.cosign(&n.text, 5));
        assert_eq!(
            open_witnessed(&n.to_text(), &log, w.key()),
            Err(NoteError::NoCosignature("witness.test/w1".into()))
        );

        let mut n = Note::parse(&note).unwrap();
        n.add(w.cosign(&n.text, 5));
        let grown = n.to_text().replacen("\n42\n", "\n43\n", 1);
        assert!(open_witnessed(&grown, &log, w.key()).is_err());
        let mut retimed = n.clone();
        retimed.signatures[1].signature[7] ^= 1;
        assert_eq!(w.key().verify(&retimed), Err(NoteError::BadCosignature("witness.test/w1".into())));
        assert!(Note::parse("no blank line\n— x AAAAAAAA\n").is_err());
        assert!(Note::parse(&note.replace('\n', "\r\n")).is_err());
    }

    #[test]
    fn cosigned_objects_carry_their_format() {
        let (w, _) = Cosigner::generate("w").unwrap();
        let obj = CosignedObject::new(w.key(), "note");
        assert_eq!(CosignedObject::from_bytes("k", &obj.to_bytes()).unwrap(), obj);
        let newer = String::from_utf8(obj.to_bytes()).unwrap().replace("cosigned/v1", "cosigned/v2");
        match CosignedObject::from_bytes("k", newer.as_bytes()) {
            Err(NoteError::Format(e)) => assert!(e.is_newer()),
            other => panic!("{other:?}"),
        }
        assert_eq!(w.key().store_id().len(), 16);
    }
}
