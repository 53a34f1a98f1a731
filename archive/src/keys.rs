//! Keys: the KEK keyring that wraps data keys, the data keys themselves, and the
//! Ed25519 key that signs ledger checkpoints.
//!
//! Invariants:
//! - no key material is ever formatted: `Debug` prints ids and public data only, and
//!   errors name files and key ids, never bytes;
//! - secret key files are created with mode 0600 and never overwritten;
//! - a DEK is wrapped under the *current* KEK; any KEK still in the ring unwraps;
//! - KEKs come in generations and are retired ([`crate::retire`]): once a KEK is
//!   destroyed, nothing it wrapped opens again, from any copy;
//! - sealed facts (titles, names, hashes) are sealed under the *note key*, which is
//!   derived from the signing key and never retired: a retirement never makes them
//!   unreadable. Notes written before v0.3 were sealed under a KEK (`niem/note/v1`)
//!   and are re-sealed under the note key before that KEK is destroyed.

use crate::id::{RecordingId, StreamName};
use crate::layout::ObjectKey;
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ring::aead::{LessSafeKey, UnboundKey, AES_256_GCM};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no keys in {0}: run `niem keys init` first")]
    NotInitialised(PathBuf),
    #[error("keys already exist in {0}; refusing to overwrite them")]
    AlreadyInitialised(PathBuf),
    #[error("cannot read or write key file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("key file {path} is malformed: {reason}")]
    Malformed { path: String, reason: &'static str },
    #[error("key file {0} is readable by other users; run `chmod 600` on it")]
    LooseMode(PathBuf),
    #[error("the current KEK {0:?} is not in the keyring")]
    NoCurrentKek(String),
    #[error("data key was wrapped with KEK {0:?}, which is not in the keyring")]
    UnknownKek(String),
    #[error("data key for {0} does not unwrap: wrong KEK, or the key object was altered")]
    UnwrapFailed(String),
    /// The wrapped key's format marker: a later version (written by a newer niem),
    /// or not a wrapped key's.
    #[error(transparent)]
    Format(#[from] crate::format::FormatError),
    #[error("public key is malformed: {0}")]
    BadVerifierKey(&'static str),
    #[error("system random generator failed")]
    Random,
}

fn random<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut b = [0u8; N];
    SystemRandom::new().fill(&mut b).map_err(|_| KeyError::Random)?;
    Ok(b)
}

/// A stream's 256-bit data key. Zeroed on drop.
pub struct Dek(Zeroizing<[u8; 32]>);

impl Dek {
    pub fn generate() -> Result<Self, KeyError> {
        Ok(Self(Zeroizing::new(random()?)))
    }
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The raw key, for handing a job's keys to a transcription worker sealed
    /// to that worker alone (the worker never holds a KEK); never stored or
    /// logged as it is.
    pub fn handed_over(&self) -> Zeroizing<[u8; 32]> {
        self.0.clone()
    }

    /// A key handed over by [`Dek::handed_over`].
    pub fn from_handed_over(bytes: Zeroizing<[u8; 32]>) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for Dek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Dek(..)")
    }
}

/// A DEK sealed under a KEK: the content of `keys/<rec>/<stream>.dek`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WrappedDek {
    pub format: String,
    pub kek: String,
    pub nonce: String,
    pub sealed: String,
}

const WRAP_FORMAT: &str = "niem/dek/v1";

/// A note sealed under a KEK (before v0.3).
const NOTE_FORMAT_V1: &str = "niem/note/v1";
/// A note sealed under the note key.
const NOTE_FORMAT: &str = "niem/note/v2";
/// The `kek` field of a note sealed under the note key: not a KEK id.
pub const NOTE_KEY_ID: &str = "note";

fn note_aad(subject: &str) -> String {
    format!("niem/note/v1|{subject}")
}

fn record_key_aad(meeting: &str, object: &str) -> String {
    format!("niem/record-key/v1|{meeting}|{object}")
}

fn dek_aad(rec: RecordingId, stream: StreamName) -> String {
    format!("niem/dek/v1|{rec}|{stream}")
}

struct Kek {
    key: LessSafeKey,
    /// Kept to clone the ring; zeroed on drop.
    raw: Zeroizing<Vec<u8>>,
}

impl Clone for Kek {
    fn clone(&self) -> Self {
        let key = UnboundKey::new(&AES_256_GCM, &self.raw).expect("a KEK that loaded is 32 bytes");
        Self { key: LessSafeKey::new(key), raw: self.raw.clone() }
    }
}

/// The key-encryption keys, by id, and which one wraps new data keys.
#[derive(Clone)]
pub struct Keyring {
    keks: BTreeMap<String, Kek>,
    current: String,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("kek_ids", &self.keks.keys().collect::<Vec<_>>())
            .field("current", &self.current)
            .finish()
    }
}

impl Keyring {
    fn from_raw(raw: BTreeMap<String, Zeroizing<Vec<u8>>>, current: String, origin: &str) -> Result<Self, KeyError> {
        let mut keks = BTreeMap::new();
        for (id, bytes) in raw {
            if id == NOTE_KEY_ID {
                return Err(KeyError::Malformed {
                    path: origin.into(),
                    reason: "\"note\" is reserved: no KEK may be named so",
                });
            }
            let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| KeyError::Malformed {
                path: format!("{origin} (KEK {id})"),
                reason: "a KEK is 32 bytes",
            })?;
            keks.insert(id, Kek { key: LessSafeKey::new(key), raw: bytes });
        }
        if !keks.contains_key(&current) {
            return Err(KeyError::NoCurrentKek(current));
        }
        Ok(Self { keks, current })
    }

    pub fn current_id(&self) -> &str {
        &self.current
    }

    /// Wraps `dek` under the current KEK, bound to its recording and stream.
    pub fn wrap(&self, dek: &Dek, rec: RecordingId, stream: StreamName) -> Result<WrappedDek, KeyError> {
        self.wrap_bound(dek, dek_aad(rec, stream))
    }

    /// Opens a wrapped DEK with whichever KEK wrapped it.
    pub fn unwrap(&self, w: &WrappedDek, rec: RecordingId, stream: StreamName) -> Result<Dek, KeyError> {
        crate::format::check(ObjectKey::dek(rec, stream).as_str(), "dek", &w.format)?;
        self.unwrap_bound(w, dek_aad(rec, stream), format!("{rec}/{stream}"))
    }

    /// Wraps the key that seals a resumable upload's tails, bound to the upload.
    pub fn wrap_upload_key(&self, dek: &Dek, upload: &str) -> Result<WrappedDek, KeyError> {
        self.wrap_bound(dek, format!("niem/upload-key/v1|{upload}"))
    }

    pub fn unwrap_upload_key(&self, w: &WrappedDek, upload: &str) -> Result<Dek, KeyError> {
        crate::format::check(&format!("the key of upload {upload}"), "dek", &w.format)?;
        self.unwrap_bound(w, format!("niem/upload-key/v1|{upload}"), format!("upload {upload}"))
    }

    /// Wraps the data key of one search index file under the current KEK, bound
    /// to the file's name and its pieces' nonce prefix (`label`).
    pub fn wrap_index_key(&self, dek: &Dek, label: &str) -> Result<WrappedDek, KeyError> {
        self.wrap_bound(dek, format!("niem/index-key/v1|{label}"))
    }

    pub fn unwrap_index_key(&self, w: &WrappedDek, label: &str) -> Result<Dek, KeyError> {
        crate::format::check(&format!("the key of index file {label}"), "dek", &w.format)?;
        self.unwrap_bound(w, format!("niem/index-key/v1|{label}"), format!("index file {label}"))
    }

    /// Opens a note sealed under a KEK by a release before v0.3.
    fn open_note_v1(&self, subject: &str, note: &WrappedDek) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        self.open(NOTE_FORMAT_V1, note, note_aad(subject), format!("sealed note of {subject}"))
    }

    /// A note as releases before v0.3 sealed it, under the current KEK.
    #[cfg(test)]
    pub(crate) fn seal_note_v1(&self, subject: &str, plain: &[u8]) -> Result<WrappedDek, KeyError> {
        self.seal(NOTE_FORMAT_V1, plain, note_aad(subject))
    }

    /// The ids of every KEK in the ring.
    pub fn ids(&self) -> Vec<String> {
        self.keks.keys().cloned().collect()
    }

    /// Whether `kek` is in the ring.
    pub fn has(&self, kek: &str) -> bool {
        self.keks.contains_key(kek)
    }

    fn wrap_bound(&self, dek: &Dek, aad: String) -> Result<WrappedDek, KeyError> {
        self.seal(WRAP_FORMAT, dek.bytes(), aad)
    }

    fn unwrap_bound(&self, w: &WrappedDek, aad: String, what: String) -> Result<Dek, KeyError> {
        let plain = self.open(WRAP_FORMAT, w, aad, what.clone())?;
        let bytes: [u8; 32] = plain[..].try_into().map_err(|_| KeyError::UnwrapFailed(what))?;
        Ok(Dek(Zeroizing::new(bytes)))
    }

    /// Seals `plain` under the current KEK with a fresh nonce, as `format`.
    fn seal(&self, format: &str, plain: &[u8], aad: String) -> Result<WrappedDek, KeyError> {
        seal_under(&self.keks[&self.current].key, &self.current, format, plain, aad)
    }

    /// Opens what [`Keyring::seal`] sealed as `format`, with whichever KEK sealed it.
    fn open(&self, format: &str, w: &WrappedDek, aad: String, what: String) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        if w.format != format {
            return Err(KeyError::UnwrapFailed(what));
        }
        let kek = self.keks.get(&w.kek).ok_or_else(|| KeyError::UnknownKek(w.kek.clone()))?;
        open_under(&kek.key, w, aad, what)
    }
}

/// AES-256-GCM with a fresh random nonce: the one way a key or a note is sealed.
fn seal_under(key: &LessSafeKey, id: &str, format: &str, plain: &[u8], aad: String) -> Result<WrappedDek, KeyError> {
    let mut buf = plain.to_vec();
    let nonce = crate::aead::seal(key, aad.as_bytes(), &mut buf).map_err(|_| KeyError::Random)?;
    Ok(WrappedDek { format: format.into(), kek: id.into(), nonce: B64.encode(nonce), sealed: B64.encode(buf) })
}

fn open_under(key: &LessSafeKey, w: &WrappedDek, aad: String, what: String) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let failed = || KeyError::UnwrapFailed(what.clone());
    let nonce = B64.decode(&w.nonce).map_err(|_| failed())?;
    let mut buf = Zeroizing::new(B64.decode(&w.sealed).map_err(|_| failed())?);
    crate::aead::open(key, &nonce, aad.as_bytes(), &mut buf).map_err(|_| failed())?;
    Ok(buf)
}

/// The key that seals facts the ledger carries for disaster recovery but an
/// auditor must not read. Derived (HKDF-SHA256) from the signing key's Ed25519
/// seed, so it needs no file of its own, reaches every deployment the signing key
/// reaches, and lives exactly as long as the log's identity: it is never retired.
///
/// It also holds the *link key*: HMAC-SHA256 derived the same way with its own
/// salt and info, which signs members' bearer links to a meeting's documents.
/// Derived rather than the signing key used directly, so a link's tag can never
/// be mistaken for, or turned into, a signature on the log.
struct NoteKey(LessSafeKey, ring::hmac::Key);

impl NoteKey {
    fn derive(pkcs8: &[u8], origin: &str) -> Result<Self, KeyError> {
        let seed = ed25519_seed(pkcs8)
            .ok_or(KeyError::Malformed { path: origin.into(), reason: "no Ed25519 seed in the PKCS#8 key" })?;
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"niem/note-key/v1");
        let prk = salt.extract(seed);
        let okm = prk.expand(&[b"niem note key"], &AES_256_GCM).map_err(|_| KeyError::Random)?;
        let link_salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"niem/link-key/v1");
        let link_prk = link_salt.extract(seed);
        let link = link_prk.expand(&[b"niem link key"], ring::hmac::HMAC_SHA256).map_err(|_| KeyError::Random)?;
        Ok(Self(LessSafeKey::new(UnboundKey::from(okm)), ring::hmac::Key::from(link)))
    }
}

/// The 32-byte seed inside an Ed25519 PKCS#8 document (v1 or v2): RFC 8410 wraps it
/// as an OCTET STRING inside the privateKey OCTET STRING, `04 22 04 20 <seed>`.
fn ed25519_seed(pkcs8: &[u8]) -> Option<&[u8]> {
    let at = pkcs8.windows(4).position(|w| w == [0x04, 0x22, 0x04, 0x20])? + 4;
    pkcs8.get(at..at + 32)
}

/// The Ed25519 key that signs checkpoints, with its C2SP signed-note name.
pub struct Signer {
    pair: Ed25519KeyPair,
    verifier: VerifierKey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer({})", self.verifier)
    }
}

impl Signer {
    fn from_pkcs8(name: &str, pkcs8: &[u8], origin: &str) -> Result<Self, KeyError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|_| KeyError::Malformed { path: origin.into(), reason: "not an Ed25519 PKCS#8 key" })?;
        let public: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| KeyError::Malformed { path: origin.into(), reason: "Ed25519 public key is 32 bytes" })?;
        Ok(Self { verifier: VerifierKey::new(name, public)?, pair })
    }
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.pair.sign(msg).as_ref());
        out
    }
    pub fn verifier(&self) -> &VerifierKey {
        &self.verifier
    }
}

/// A C2SP signed-note verifier key: `<name>+<key hash hex>+<base64(0x01 ‖ pubkey)>`.
/// This is the whole of what an auditor needs to check checkpoints.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key_hash: [u8; 4],
    public: [u8; 32],
}

const ED25519_ALG: u8 = 0x01;

impl VerifierKey {
    pub fn new(name: &str, public: [u8; 32]) -> Result<Self, KeyError> {
        if name.is_empty() || name.contains(['+', ' ', '\n', '\t']) {
            return Err(KeyError::BadVerifierKey("name must be non-empty, without '+' or spaces"));
        }
        let mut h = ring::digest::Context::new(&ring::digest::SHA256);
        h.update(name.as_bytes());
        h.update(b"\n");
        h.update(&[ED25519_ALG]);
        h.update(&public);
        let mut key_hash = [0u8; 4];
        key_hash.copy_from_slice(&h.finish().as_ref()[..4]);
        Ok(Self { name: name.into(), key_hash, public })
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn key_hash(&self) -> [u8; 4] {
        self.key_hash
    }
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, self.public).verify(msg, sig).is_ok()
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut data = vec![ED25519_ALG];
        data.extend_from_slice(&self.public);
        write!(f, "{}+{}+{}", self.name, hex::encode(self.key_hash), B64.encode(data))
    }
}
impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

impl std::str::FromStr for VerifierKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        let mut parts = s.trim().splitn(3, '+');
        let (Some(name), Some(hash), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(KeyError::BadVerifierKey("expected <name>+<hash>+<key>"));
        };
        let data = B64.decode(data).map_err(|_| KeyError::BadVerifierKey("key is not base64"))?;
        let public: [u8; 32] = match data.as_slice() {
            [ED25519_ALG, rest @ ..] => {
                rest.try_into().map_err(|_| KeyError::BadVerifierKey("Ed25519 key is 32 bytes"))?
            }
            _ => return Err(KeyError::BadVerifierKey("only Ed25519 (algorithm 1) keys are supported")),
        };
        let key = VerifierKey::new(name, public)?;
        if hex::encode(key.key_hash) != hash {
            return Err(KeyError::BadVerifierKey("key hash does not match name and key"));
        }
        Ok(key)
    }
}

/// Everything secret the service holds: the KEK ring, the signing key and the
/// note key. The ring is swapped whole when a retirement adds or destroys a KEK,
/// so a running service follows without a restart.
pub struct Keys {
    ring: std::sync::RwLock<std::sync::Arc<Keyring>>,
    pub signer: Signer,
    notes: NoteKey,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys").field("ring", &*self.ring()).field("signer", &self.signer).finish_non_exhaustive()
    }
}

impl Keys {
    fn new(ring: Keyring, signer: Signer, notes: NoteKey) -> Self {
        Self { ring: std::sync::RwLock::new(std::sync::Arc::new(ring)), signer, notes }
    }

    /// The KEK ring as it stands now.
    pub fn ring(&self) -> std::sync::Arc<Keyring> {
        self.ring.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the KEK ring (a retirement made a KEK current or destroyed one).
    pub fn set_ring(&self, ring: Keyring) {
        *self.ring.write().unwrap_or_else(|e| e.into_inner()) = std::sync::Arc::new(ring);
    }

    /// Seals `plain` (catalog facts the ledger must carry for disaster recovery
    /// but an auditor must not read: meeting titles, user names, password and
    /// token hashes) under the note key, bound to the entry's subject.
    pub fn seal_note(&self, subject: &str, plain: &[u8]) -> Result<WrappedDek, KeyError> {
        seal_under(&self.notes.0, NOTE_KEY_ID, NOTE_FORMAT, plain, note_aad(subject))
    }

    /// The tag of a member's link (`msg` names the meeting, the link's
    /// generation and its expiry), under the link key.
    pub fn link_tag(&self, msg: &[u8]) -> Vec<u8> {
        ring::hmac::sign(&self.notes.1, msg).as_ref().to_vec()
    }

    /// Whether `tag` is the link key's tag of `msg` (in constant time).
    pub fn link_tag_ok(&self, msg: &[u8], tag: &[u8]) -> bool {
        ring::hmac::verify(&self.notes.1, msg, tag).is_ok()
    }

    /// The key a transcription worker seals its result under, for one claim of
    /// one job (`label`: `job|claim|recording`): derived, so it is never stored
    /// and no KEK retirement has to follow it; domain-separated from member
    /// links by its prefix.
    pub fn worker_result_key(&self, label: &str) -> Dek {
        let tag = ring::hmac::sign(&self.notes.1, format!("niem/worker-result-key/v1|{label}").as_bytes());
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&tag.as_ref()[..32]);
        Dek(bytes)
    }

    /// Wraps the data key of one meeting-record object (FORMAT.md §15) under the
    /// note key, bound to its meeting and object. Why not a KEK: the record is
    /// archival and kept permanently, never shredded, so it gains nothing from a
    /// KEK retirement, and a key wrapped under a retiring KEK would have to be
    /// re-wrapped by every retirement or be lost with it.
    pub fn wrap_record_key(&self, dek: &Dek, meeting: &str, object: &str) -> Result<WrappedDek, KeyError> {
        seal_under(&self.notes.0, NOTE_KEY_ID, WRAP_FORMAT, dek.bytes(), record_key_aad(meeting, object))
    }

    /// Opens what [`Keys::wrap_record_key`] wrapped for the same meeting and object.
    pub fn unwrap_record_key(&self, w: &WrappedDek, meeting: &str, object: &str) -> Result<Dek, KeyError> {
        let what = format!("the key of record object {meeting}/{object}");
        crate::format::check(&what, "dek", &w.format)?;
        if w.kek != NOTE_KEY_ID {
            return Err(KeyError::UnwrapFailed(what));
        }
        let plain = open_under(&self.notes.0, w, record_key_aad(meeting, object), what.clone())?;
        let bytes: [u8; 32] = plain[..].try_into().map_err(|_| KeyError::UnwrapFailed(what))?;
        Ok(Dek(Zeroizing::new(bytes)))
    }

    /// Opens a note sealed for the same subject: under the note key, or (written
    /// before v0.3) under a KEK still in the ring.
    pub fn open_note(&self, subject: &str, note: &WrappedDek) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let what = format!("sealed note of {subject}");
        match note.format.as_str() {
            NOTE_FORMAT if note.kek == NOTE_KEY_ID => open_under(&self.notes.0, note, note_aad(subject), what),
            NOTE_FORMAT_V1 => self.ring().open_note_v1(subject, note),
            _ => Err(KeyError::UnwrapFailed(what)),
        }
    }
}

/// Where keys live on disk:
///
/// ```text
/// <dir>/kek/<id>.key      base64 KEK, mode 0600 (one per rotation)
/// <dir>/kek/current       id of the KEK that wraps new data keys
/// <dir>/signing.key       base64 PKCS#8 Ed25519 key, mode 0600
/// <dir>/ledger.vkey       public verifier key, for auditors
/// ```
///
/// Or from the environment, which wins when set: `NIEM_KEKS="<id>:<base64>,…"`,
/// `NIEM_KEK_CURRENT=<id>`, `NIEM_SIGNING_KEY=<base64 PKCS#8>`, `NIEM_LEDGER_ORIGIN`.
#[derive(Debug, Clone)]
pub struct KeyDir {
    pub dir: PathBuf,
}

impl KeyDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
    fn kek_dir(&self) -> PathBuf {
        self.dir.join("kek")
    }
    fn signing_path(&self) -> PathBuf {
        self.dir.join("signing.key")
    }
    pub fn vkey_path(&self) -> PathBuf {
        self.dir.join("ledger.vkey")
    }

    pub fn exists(&self) -> bool {
        self.signing_path().exists() || std::env::var_os("NIEM_SIGNING_KEY").is_some()
    }

    /// Creates a first KEK and a signing key named `origin`. Refuses to overwrite.
    pub fn init(&self, origin: &str) -> Result<Keys, KeyError> {
        if self.signing_path().exists() {
            return Err(KeyError::AlreadyInitialised(self.dir.clone()));
        }
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| KeyError::Random)?;
        // Check the name before anything touches the disk.
        let signer = Signer::from_pkcs8(origin, pkcs8.as_ref(), "new signing key")?;
        create_dir(&self.kek_dir())?;
        self.add_kek()?;
        let encoded = Zeroizing::new(format!("{origin}\n{}\n", B64.encode(pkcs8.as_ref())));
        write_secret(&self.signing_path(), encoded.as_bytes())?;
        write_public(&self.vkey_path(), &format!("{}\n", signer.verifier()))?;
        self.load()
    }

    /// Adds a new KEK and makes it current. Existing wrapped keys still open.
    pub fn rotate(&self) -> Result<String, KeyError> {
        if !self.kek_dir().join("current").exists() {
            return Err(KeyError::NotInitialised(self.dir.clone()));
        }
        self.add_kek()
    }

    fn add_kek(&self) -> Result<String, KeyError> {
        let id = format!("kek-{}", ulid::Ulid::new().to_string().to_lowercase());
        let key = Zeroizing::new(random::<32>()?);
        let encoded = Zeroizing::new(format!("{}\n", B64.encode(key.as_slice())));
        write_secret(&self.kek_dir().join(format!("{id}.key")), encoded.as_bytes())?;
        let current = self.kek_dir().join("current");
        let tmp = self.kek_dir().join("current.tmp");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(format!("{id}\n").as_bytes())?;
            f.sync_all()
        };
        write().map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &current).map_err(|e| io(&current, e))?;
        sync_dir(&self.kek_dir())?;
        Ok(id)
    }

    /// Why this niem may not add or destroy KEKs here, if it may not: keys from the
    /// environment, or a flat credentials directory (systemd, a Kubernetes Secret),
    /// come read-only, and the operator rotates them (README, "Retiring a KEK").
    pub fn read_only(&self) -> Option<String> {
        if std::env::var_os("NIEM_SIGNING_KEY").is_some() {
            return Some("the keys come from the environment (NIEM_KEKS)".into());
        }
        if !self.kek_dir().exists() {
            return Some(format!("{} is a read-only credentials directory", self.dir.display()));
        }
        let probe = self.kek_dir().join(".write-probe");
        match std::fs::File::create(&probe).and_then(|_| std::fs::remove_file(&probe)) {
            Ok(()) => None,
            Err(e) => Some(format!("{} is not writable: {e}", self.kek_dir().display())),
        }
    }

    /// Destroys KEK `id`: its file is overwritten with zeros, synced and removed.
    /// Whatever it wrapped never opens again (keep key backups rotated with it).
    pub fn destroy_kek(&self, id: &str) -> Result<(), KeyError> {
        let current = std::fs::read_to_string(self.kek_dir().join("current")).map_err(|e| io(&self.kek_dir(), e))?;
        if current.trim() == id || id.contains(['/', '\\']) || id.starts_with('.') {
            return Err(KeyError::Malformed {
                path: id.into(),
                reason: "the current KEK, or not a KEK id, cannot be destroyed",
            });
        }
        let path = self.kek_dir().join(format!("{id}.key"));
        let len = match std::fs::metadata(&path) {
            Ok(m) => m.len() as usize,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(&path, e)),
        };
        let wipe = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new().write(true).open(&path)?;
            f.write_all(&vec![0u8; len])?;
            f.sync_all()
        };
        wipe().map_err(|e| io(&path, e))?;
        std::fs::remove_file(&path).map_err(|e| io(&path, e))?;
        sync_dir(&self.kek_dir())
    }

    /// Loads keys from the environment if set there, else from the directory.
    pub fn load(&self) -> Result<Keys, KeyError> {
        if let Some(signing) = std::env::var_os("NIEM_SIGNING_KEY") {
            return load_from_env(&signing.to_string_lossy());
        }
        let signing_path = self.signing_path();
        if !signing_path.exists() {
            return Err(KeyError::NotInitialised(self.dir.clone()));
        }
        let text = read_secret(&signing_path)?;
        let (origin, b64) = text.trim().split_once('\n').ok_or(KeyError::Malformed {
            path: signing_path.display().to_string(),
            reason: "expected name and key lines",
        })?;
        let pkcs8 = Zeroizing::new(B64.decode(b64.trim()).map_err(|_| KeyError::Malformed {
            path: signing_path.display().to_string(),
            reason: "key is not base64",
        })?);
        let signer = Signer::from_pkcs8(origin.trim(), &pkcs8, &signing_path.display().to_string())?;
        let notes = NoteKey::derive(&pkcs8, &signing_path.display().to_string())?;
        Ok(Keys::new(self.load_ring()?, signer, notes))
    }

    /// Reads the KEK ring again (after a retirement added or destroyed a KEK).
    pub fn load_ring(&self) -> Result<Keyring, KeyError> {
        if std::env::var_os("NIEM_SIGNING_KEY").is_some() {
            return Ok(load_from_env(&std::env::var("NIEM_SIGNING_KEY").unwrap_or_default())?.ring().as_ref().clone());
        }
        let mut raw = BTreeMap::new();
        // A flat directory spells `kek/<id>.key` as `kek_<id>.key` and `kek/current` as
        // `kek_current`: systemd credentials are one flat directory, and
        // `LoadCredential=kek:<dir>/kek` names each file that way (deploy/systemd).
        let flat = !self.kek_dir().exists() && self.dir.join("kek_current").exists();
        let (kek_dir, prefix) = if flat { (self.dir.clone(), "kek_") } else { (self.kek_dir(), "") };
        let entries = std::fs::read_dir(&kek_dir).map_err(|e| io(&kek_dir, e))?;
        for entry in entries {
            let path = entry.map_err(|e| io(&kek_dir, e))?.path();
            let name = path.file_name().and_then(|n| n.to_str());
            let Some(id) = name.and_then(|n| n.strip_prefix(prefix)).and_then(|n| n.strip_suffix(".key")) else {
                continue;
            };
            let text = read_secret(&path)?;
            let bytes = B64
                .decode(text.trim())
                .map_err(|_| KeyError::Malformed { path: path.display().to_string(), reason: "KEK is not base64" })?;
            raw.insert(id.to_string(), Zeroizing::new(bytes));
        }
        let current_path = kek_dir.join(format!("{prefix}current"));
        let current = std::fs::read_to_string(&current_path).map_err(|e| io(&current_path, e))?;
        Keyring::from_raw(raw, current.trim().to_string(), &kek_dir.display().to_string())
    }
}

fn load_from_env(signing: &str) -> Result<Keys, KeyError> {
    let bad = |reason| KeyError::Malformed { path: "environment".into(), reason };
    let origin =
        std::env::var("NIEM_LEDGER_ORIGIN").map_err(|_| bad("NIEM_LEDGER_ORIGIN must be set with NIEM_SIGNING_KEY"))?;
    let pkcs8 = Zeroizing::new(B64.decode(signing.trim()).map_err(|_| bad("NIEM_SIGNING_KEY is not base64"))?);
    let signer = Signer::from_pkcs8(&origin, &pkcs8, "NIEM_SIGNING_KEY")?;
    let notes = NoteKey::derive(&pkcs8, "NIEM_SIGNING_KEY")?;
    let keks =
        Zeroizing::new(std::env::var("NIEM_KEKS").map_err(|_| bad("NIEM_KEKS must be set with NIEM_SIGNING_KEY"))?);
    let mut raw = BTreeMap::new();
    for item in keks.split(',').filter(|s| !s.trim().is_empty()) {
        let (id, b64) = item.split_once(':').ok_or(bad("NIEM_KEKS entries are <id>:<base64>"))?;
        raw.insert(
            id.trim().to_string(),
            Zeroizing::new(B64.decode(b64.trim()).map_err(|_| bad("a KEK in NIEM_KEKS is not base64"))?),
        );
    }
    let current = std::env::var("NIEM_KEK_CURRENT").map_err(|_| bad("NIEM_KEK_CURRENT must be set with NIEM_KEKS"))?;
    Ok(Keys::new(Keyring::from_raw(raw, current, "NIEM_KEKS")?, signer, notes))
}

fn io(path: &Path, source: std::io::Error) -> KeyError {
    KeyError::Io { path: path.to_path_buf(), source }
}

fn create_dir(path: &Path) -> Result<(), KeyError> {
    std::fs::create_dir_all(path).map_err(|e| io(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(|e| io(path, e))?;
    }
    Ok(())
}

fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    if let Some(parent) = path.parent() {
        create_dir(parent)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| io(path, e))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| io(path, e))
}

fn sync_dir(dir: &Path) -> Result<(), KeyError> {
    crate::sync_dir(dir).map_err(|e| io(dir, e))
}

fn write_public(path: &Path, text: &str) -> Result<(), KeyError> {
    std::fs::write(path, text).map_err(|e| io(path, e))
}

/// Whether a key file's mode keeps it private: readable by its owner only; or,
/// when root owns it and hands it to a service that is not root, by root's chosen
/// group too (never written or executed by it, nothing for others). That is how
/// a key reaches a service that does not own it: a systemd credential on tmpfs is
/// root's, with an ACL entry for the service user that `stat` shows as group
/// bits (r--r-----); a Kubernetes Secret volume with `fsGroup` is root:<fsGroup>
/// 0440. PostgreSQL accepts its server key under the same rule. (Pure, so its
/// tests run everywhere; only Unix builds call it.)
#[cfg_attr(not(unix), allow(dead_code))]
fn key_mode_is_private(mode: u32, owner: u32, me: u32) -> bool {
    let others = if owner == 0 && me != 0 { 0o037 } else { 0o077 };
    mode & others == 0
}

fn read_secret(path: &Path) -> Result<Zeroizing<String>, KeyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).map_err(|e| io(path, e))?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if !key_mode_is_private(meta.mode(), meta.uid(), me) {
            return Err(KeyError::LooseMode(path.to_path_buf()));
        }
    }
    std::fs::read_to_string(path).map(Zeroizing::new).map_err(|e| io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{RecordingId, StreamId};

    #[test]
    fn rotation_keeps_old_wraps_open() {
        let dir = tempfile::tempdir().unwrap();
        let kd = KeyDir::new(dir.path());
        let keys = kd.init("niem.test/ledger").unwrap();
        let (rec, stream) = (RecordingId::new(), StreamName::Media(StreamId::new()));
        let dek = Dek::generate().unwrap();
        let old = keys.ring().wrap(&dek, rec, stream).unwrap();
        let new_id = kd.rotate().unwrap();
        let keys = kd.load().unwrap();
        assert_eq!(keys.ring().current_id(), new_id);
        assert_eq!(keys.ring().unwrap(&old, rec, stream).unwrap().bytes(), dek.bytes());
        let new = keys.ring().wrap(&dek, rec, stream).unwrap();
        assert_eq!(new.kek, new_id);
        // Bound to its recording and stream: a wrapped key moved elsewhere does not open.
        assert!(keys.ring().unwrap(&new, RecordingId::new(), stream).is_err());
        assert!(matches!(kd.init("again"), Err(KeyError::AlreadyInitialised(_))));
        // Destroying the old KEK: what it wrapped never opens again, from any copy.
        let old_id = old.kek.clone();
        assert!(kd.destroy_kek(&new_id).is_err(), "the current KEK cannot be destroyed");
        kd.destroy_kek(&old_id).unwrap();
        assert!(!dir.path().join("kek").join(format!("{old_id}.key")).exists());
        let keys = kd.load().unwrap();
        assert!(matches!(keys.ring().unwrap(&old, rec, stream), Err(KeyError::UnknownKek(id)) if id == old_id));
        assert_eq!(keys.ring().unwrap(&new, rec, stream).unwrap().bytes(), dek.bytes());
        assert_eq!(kd.read_only(), None);
    }

    #[test]
    fn sealed_notes_open_only_for_their_subject_and_survive_every_kek() {
        let dir = tempfile::tempdir().unwrap();
        let kd = KeyDir::new(dir.path());
        let keys = kd.init("niem.test/ledger").unwrap();
        let note = keys.seal_note("meeting/m1", "Sinh hoạt chi bộ tháng 11".as_bytes()).unwrap();
        assert!(!note.sealed.contains("Sinh"), "the note is ciphertext");
        assert_eq!((note.format.as_str(), note.kek.as_str()), ("niem/note/v2", "note"));
        let first = keys.ring().current_id().to_string();
        kd.rotate().unwrap();
        kd.destroy_kek(&first).unwrap();
        let keys = kd.load().unwrap();
        assert_eq!(&keys.open_note("meeting/m1", &note).unwrap()[..], "Sinh hoạt chi bộ tháng 11".as_bytes());
        assert!(keys.open_note("meeting/m2", &note).is_err(), "bound to its subject");
        // A wrapped DEK is not a note, nor the reverse.
        let wrapped = keys.ring().wrap(&Dek::generate().unwrap(), RecordingId::new(), StreamName::Transcript).unwrap();
        assert!(keys.open_note("meeting/m1", &wrapped).is_err());
        // Another log's note key opens nothing of ours.
        let other = KeyDir::new(dir.path().join("other")).init("niem.test/ledger").unwrap();
        assert!(other.open_note("meeting/m1", &note).is_err());
    }

    /// A note a release before v0.3 sealed under a KEK still opens while that KEK lives.
    #[test]
    fn notes_sealed_under_a_kek_open_until_it_is_destroyed() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyDir::new(dir.path()).init("niem.test/ledger").unwrap();
        let legacy = keys.ring().seal(NOTE_FORMAT_V1, b"title", note_aad("meeting/m1")).unwrap();
        assert_eq!(&keys.open_note("meeting/m1", &legacy).unwrap()[..], b"title");
        assert!(keys.open_note("meeting/m2", &legacy).is_err());
    }

    #[test]
    fn a_wrapped_key_of_a_later_format_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyDir::new(dir.path()).init("niem.test/ledger").unwrap();
        let (rec, stream) = (RecordingId::new(), StreamName::Media(StreamId::new()));
        let mut w = keys.ring().wrap(&Dek::generate().unwrap(), rec, stream).unwrap();
        assert_eq!(w.format, "niem/dek/v1");
        w.format = "niem/dek/v2".into();
        let err = keys.ring().unwrap(&w, rec, stream).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("keys/{rec}/{stream}.dek is storage format v2; this niem knows v1; upgrade niem")
        );
        w.format = "niem/dek/v0".into();
        assert!(matches!(keys.ring().unwrap(&w, rec, stream), Err(KeyError::Format(e)) if !e.is_newer()));
    }

    #[test]
    fn secret_files_are_private_and_debug_is_redacted() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyDir::new(dir.path()).init("niem.test/ledger").unwrap();
        let mode = std::fs::metadata(dir.path().join("signing.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let secret = std::fs::read_to_string(dir.path().join("signing.key")).unwrap();
        let b64 = secret.lines().nth(1).unwrap();
        assert!(!format!("{keys:?}").contains(b64));
    }

    #[test]
    fn verifier_key_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyDir::new(dir.path()).init("niem.test/ledger").unwrap();
        let text = keys.signer.verifier().to_string();
        let parsed: VerifierKey = text.parse().unwrap();
        assert_eq!(&parsed, keys.signer.verifier());
        let sig = keys.signer.sign(b"hello");
        assert!(parsed.verify(b"hello", &sig));
        assert!(!parsed.verify(b"hellO", &sig));
        let tampered = text.replacen("niem.test", "niem.evil", 1);
        assert!(tampered.parse::<VerifierKey>().is_err());
    }

    /// The key dir as systemd credentials deliver it (deploy/systemd/niem.service):
    /// `LoadCredential=signing.key:<keys>/signing.key` and `LoadCredential=kek:<keys>/kek`
    /// give one flat, read-only directory of 0400 files.
    #[test]
    fn a_flat_credentials_directory_loads_the_same_keys() {
        use std::os::unix::fs::PermissionsExt;
        let src = tempfile::tempdir().unwrap();
        let kd = KeyDir::new(src.path());
        let first = kd.init("niem.test/ledger").unwrap();
        let (rec, stream) = (RecordingId::new(), StreamName::Media(StreamId::new()));
        let dek = Dek::generate().unwrap();
        let old = first.ring().wrap(&dek, rec, stream).unwrap();
        let current = kd.rotate().unwrap();

        let creds = tempfile::tempdir().unwrap();
        let copy = |from: PathBuf, name: String| {
            let to = creds.path().join(name);
            std::fs::copy(from, &to).unwrap();
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o400)).unwrap();
        };
        copy(src.path().join("signing.key"), "signing.key".into());
        for entry in std::fs::read_dir(src.path().join("kek")).unwrap() {
            let path = entry.unwrap().path();
            copy(path.clone(), format!("kek_{}", path.file_name().unwrap().to_str().unwrap()));
        }
        let flat = KeyDir::new(creds.path());
        assert!(flat.exists());
        let keys = flat.load().unwrap();
        assert_eq!(keys.signer.verifier(), first.signer.verifier());
        assert_eq!(keys.ring().current_id(), current, "kek_current names the current KEK");
        assert_eq!(
            keys.ring().unwrap(&old, rec, stream).unwrap().bytes(),
            dek.bytes(),
            "every kek_<id>.key is in the ring"
        );
        assert!(flat.read_only().is_some(), "credentials are read-only: the service cannot retire on its own");

        // Still checked like the directory: a loose file is refused...
        let loose = creds.path().join(format!("kek_{current}.key"));
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o404)).unwrap();
        assert!(matches!(flat.load(), Err(KeyError::LooseMode(p)) if p == loose));
        // ...and a missing current KEK is named.
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o400)).unwrap();
        std::fs::remove_file(&loose).unwrap();
        assert!(matches!(flat.load(), Err(KeyError::NoCurrentKek(id)) if id == current));
    }

    #[test]
    fn key_files_are_private_to_their_owner_or_given_by_root_to_a_group() {
        let (root, niem) = (0, 990);
        // Owned by the reader: owner bits only.
        assert!(key_mode_is_private(0o100600, niem, niem));
        assert!(key_mode_is_private(0o100400, niem, niem), "a systemd credential on ramfs, chowned to the service");
        assert!(!key_mode_is_private(0o100640, niem, niem));
        assert!(!key_mode_is_private(0o100604, niem, niem));
        // Root's file, read by a service that is not root: its group may read.
        assert!(key_mode_is_private(0o100440, root, niem), "a systemd credential on tmpfs (ACL mask shows as r--)");
        assert!(key_mode_is_private(0o100640, root, niem), "a Kubernetes Secret volume with fsGroup");
        assert!(!key_mode_is_private(0o100460, root, niem), "the group may not write it");
        assert!(!key_mode_is_private(0o100444, root, niem), "nor may everyone read it");
        assert!(!key_mode_is_private(0o100441, root, niem));
        // Root reading its own files, and another user's group-readable file: owner only.
        assert!(!key_mode_is_private(0o100640, root, root));
        assert!(!key_mode_is_private(0o100440, 1000, niem));
    }
}
