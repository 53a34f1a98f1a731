//! Transcription workers outside the service (`niem worker transcribe`): the
//! roster, the sealed hand-over of a job's keys, and the return of its result.
//! Not the transcription itself (`crate::transcription`, shared with a node's
//! own threads).
//!
//! A worker needs the catalog and the store, nothing else, and never holds a
//! KEK. The catalog is the channel, and everything secret on it is sealed:
//! 1. An admin enrolls a worker by name with its age X25519 recipient
//!    (`worker.enrolled`, ledgered). The worker keeps the identity.
//! 2. The worker claims a due job (`claim_job_as`): the job's `claim` counter
//!    grows, and the claim holds until `lease_until` unless renewed.
//! 3. A node ([`broker`]) sees the claim and writes its [`Grant`]: the
//!    recording's facts, each stream's manifest and data key, and the claim's
//!    result key, sealed with age to that worker's recipient alone.
//! 4. The worker reads the streams from the store, transcribes them, and
//!    returns the transcript sealed under the result key (AES-256-GCM, bound to
//!    job, claim and recording). The result key is derived by the service
//!    ([`archive::keys::Keys::worker_result_key`]), so only the granted worker
//!    and the service can make a result that opens: the channel is
//!    authenticated both ways.
//! 5. The node opens it, checks it is a transcript of that recording, and
//!    stores it with `transcript.stored`, marking the job done in the same
//!    transaction only while that claim is still the job's running claim.
//!
//! Invariants: exactly one `transcript.stored` per job (the claim check in the
//! entry's transaction, and the transcript object's create-only put); a lapsed
//! claim's job is retried as a failed attempt; a result or renewal for an
//! earlier claim, or from a removed worker, is refused.

pub mod broker;
pub mod transcribe;

use crate::app::App;
use crate::catalog::{self, workers::WorkerRow};
use crate::error::DomainError;
use crate::principal::{Principal, Role};
use archive::id::StreamId;
use archive::ledger::NewEntry;
use archive::manifest::StreamManifest;
use archive::vault::Vault;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;

const GRANT_FORMAT: &str = "niem/worker-grant/v1";
const RESULT_FORMAT: &[u8] = b"niem/worker-result/v1";

/// Everything a worker needs for one claim, sealed to it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub format: String,
    pub job: i64,
    pub claim: i64,
    pub recording: String,
    pub meeting: String,
    pub org: String,
    pub language: String,
    pub streams: Vec<GrantedStream>,
    /// Base64 of the claim's result key.
    pub result_key: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantedStream {
    pub id: StreamId,
    pub label: String,
    pub opened_at: String,
    pub manifest: StreamManifest,
    /// Base64 of the stream's data key.
    pub dek: String,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Grant(job {} claim {} recording {})", self.job, self.claim, self.recording)
    }
}

/// Why a sealed grant or result did not open.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("sealed to another worker, or damaged: {0}")]
    Age(String),
    #[error("does not open under this claim's key: forged, damaged, or for another claim")]
    Forged,
    #[error("malformed: {0}")]
    Malformed(String),
}

/// The label the result key and the result's AAD are bound to.
pub fn claim_label(job: i64, claim: i64, recording: &str) -> String {
    format!("{job}|{claim}|{recording}")
}

/// A worker name: 1 to 64 of `a-z 0-9 . _ -`, as it appears in logs and the API.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// Seals `grant` to one age recipient.
pub fn seal_grant(grant: &Grant, to: &age::x25519::Recipient) -> Result<Vec<u8>, SealError> {
    let plain = Zeroizing::new(serde_json::to_vec(grant).map_err(|e| SealError::Malformed(e.to_string()))?);
    age::encrypt(to, &plain).map_err(|e| SealError::Age(e.to_string()))
}

/// Opens a grant with the worker's identity and checks it is the claim's.
pub fn open_grant(sealed: &[u8], identity: &age::x25519::Identity, job: i64, claim: i64) -> Result<Grant, SealError> {
    let plain = Zeroizing::new(age::decrypt(identity, sealed).map_err(|e| SealError::Age(e.to_string()))?);
    let grant: Grant = serde_json::from_slice(&plain).map_err(|e| SealError::Malformed(e.to_string()))?;
    if grant.format != GRANT_FORMAT || grant.job != job || grant.claim != claim {
        return Err(SealError::Malformed(format!(
            "a grant for job {} claim {}, not {job}/{claim}",
            grant.job, grant.claim
        )));
    }
    Ok(grant)
}

fn aead_key(raw: &[u8; 32]) -> LessSafeKey {
    // A 32-byte key is always accepted by AES-256-GCM.
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, raw).expect("AES-256 key is 32 bytes"))
}

fn result_aad(label: &str) -> Vec<u8> {
    [RESULT_FORMAT, b"|", label.as_bytes()].concat()
}

/// Seals a worker's result: a random nonce, then the ciphertext and tag.
pub fn seal_result(key: &[u8; 32], label: &str, plain: &[u8]) -> Result<Vec<u8>, SealError> {
    let mut nonce = [0u8; NONCE_LEN];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
        .map_err(|_| SealError::Malformed("the random generator failed".into()))?;
    let mut out = plain.to_vec();
    aead_key(key)
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(result_aad(label)), &mut out)
        .map_err(|_| SealError::Malformed("the result could not be sealed".into()))?;
    Ok([&nonce[..], &out].concat())
}

/// Opens what [`seal_result`] sealed under the same key and label.
pub fn open_result(key: &[u8; 32], label: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
    if sealed.len() < NONCE_LEN + AES_256_GCM.tag_len() {
        return Err(SealError::Forged);
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Forged)?;
    let mut buf = Zeroizing::new(body.to_vec());
    let n = aead_key(key)
        .open_in_place(nonce, Aad::from(result_aad(label)), &mut buf)
        .map_err(|_| SealError::Forged)?
        .len();
    buf.truncate(n);
    Ok(buf)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes a base64 key of 32 bytes.
pub fn key_of(b64: &str) -> Result<Zeroizing<[u8; 32]>, SealError> {
    let raw = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| SealError::Malformed("a key is not base64".into()))?,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    if raw.len() != 32 {
        return Err(SealError::Malformed("a key is not 32 bytes".into()));
    }
    key.copy_from_slice(&raw);
    Ok(key)
}

/// Enrolls a worker (admins).
pub async fn enroll(app: &App, who: &Principal, name: &str, recipient: &str) -> Result<WorkerRow, DomainError> {
    who.require(&[Role::Admin])?;
    enroll_as(&app.vault, &who.actor(), name, recipient).await
}

/// Enrolls a worker as `actor` (an admin, or the host at the command line).
pub async fn enroll_as(vault: &Vault, actor: &str, name: &str, recipient: &str) -> Result<WorkerRow, DomainError> {
    if !valid_name(name) {
        return Err(DomainError::invalid("a worker name is 1 to 64 of a-z, 0-9, '.', '_' and '-'"));
    }
    let recipient = recipient.trim();
    recipient
        .parse::<age::x25519::Recipient>()
        .map_err(|e| DomainError::invalid(format!("the recipient is not an age X25519 recipient (age1…): {e}")))?;
    let data = json!({ "recipient": recipient });
    let entry =
        NewEntry { actor: actor.to_string(), action: "worker.enrolled", subject: format!("worker/{name}"), data };
    let (name, recipient, actor, now) = (name.to_string(), recipient.to_string(), actor.to_string(), vault.now());
    let row = WorkerRow {
        name: name.clone(),
        recipient: recipient.clone(),
        enrolled_at: now.clone(),
        enrolled_by: actor.clone(),
        removed_at: None,
        seen_at: None,
    };
    catalog::commit(vault, entry, move |repo| {
        if !repo.enroll_worker(&name, &recipient, &actor, &now)? {
            return Err(DomainError::conflict(format!("worker {name} is enrolled already; remove it first")));
        }
        Ok(())
    })
    .await?;
    Ok(row)
}

/// Removes a worker (admins): it gets no new job, and its claims end at its
/// next renewal.
pub async fn remove(app: &App, who: &Principal, name: &str) -> Result<(), DomainError> {
    who.require(&[Role::Admin])?;
    let entry =
        NewEntry { actor: who.actor(), action: "worker.removed", subject: format!("worker/{name}"), data: json!({}) };
    let (name, now) = (name.to_string(), app.vault.now());
    catalog::commit(&app.vault, entry, move |repo| {
        if !repo.remove_worker(&name, &now)? {
            return Err(DomainError::not_found(format!("no enrolled worker is named {name}")));
        }
        Ok(())
    })
    .await?;
    Ok(())
}

/// Every worker ever enrolled (admins and auditors).
pub async fn list(app: &App, who: &Principal) -> Result<Vec<WorkerRow>, DomainError> {
    who.require(&[Role::Admin, Role::Auditor])?;
    catalog::read(&app.vault.catalog, |repo| repo.workers().map_err(DomainError::from)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_opens_only_under_its_own_claim() {
        let key = [7u8; 32];
        let label = claim_label(3, 2, "rec");
        let sealed = seal_result(&key, &label, b"transcript").unwrap();
        assert_eq!(&open_result(&key, &label, &sealed).unwrap()[..], b"transcript");
        for other in [claim_label(3, 1, "rec"), claim_label(4, 2, "rec"), claim_label(3, 2, "other")] {
            assert!(matches!(open_result(&key, &other, &sealed), Err(SealError::Forged)), "replayed as {other}");
        }
        assert!(open_result(&[8u8; 32], &label, &sealed).is_err(), "another key");
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(open_result(&key, &label, &flipped).is_err(), "a flipped bit");
        assert!(open_result(&key, &label, &sealed[..20]).is_err(), "cut short");
    }

    #[test]
    fn a_grant_opens_only_for_its_worker_and_claim() {
        let (me, other) = (age::x25519::Identity::generate(), age::x25519::Identity::generate());
        let grant = Grant {
            format: GRANT_FORMAT.into(),
            job: 1,
            claim: 2,
            recording: "r".into(),
            meeting: "m".into(),
            org: "o".into(),
            language: "vi".into(),
            streams: Vec::new(),
            result_key: b64(&[1u8; 32]),
        };
        let sealed = seal_grant(&grant, &me.to_public()).unwrap();
        assert_eq!(open_grant(&sealed, &me, 1, 2).unwrap().recording, "r");
        assert!(matches!(open_grant(&sealed, &other, 1, 2), Err(SealError::Age(_))), "another worker");
        assert!(matches!(open_grant(&sealed, &me, 1, 3), Err(SealError::Malformed(_))), "another claim");
        assert!(!sealed.windows(b"result_key".len()).any(|w| w == b"result_key"), "nothing in the clear");
    }

    #[test]
    fn worker_names_are_plain() {
        assert!(valid_name("gpu-1.hanoi"));
        for bad in ["", "GPU", "a b", "x/y", &"a".repeat(65), "tên"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }
}
