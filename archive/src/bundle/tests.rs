//! Bundles made from a real store, then attacked: each forgery must be named.

use super::*;
use crate::catalog::Catalog;
use crate::clock::{Clock, SystemClock};
use crate::cosign::Cosigner;
use crate::keys::{KeyDir, Keys};
use crate::manifest::StreamState;
use crate::mirror::{Mirror, MirrorPolicy};
use crate::store::LocalStore;
use crate::vault::{StoredChunk, StreamEnd, StreamSpec, Vault};
use crate::verify::Verdict;
use bytes::Bytes;
use std::sync::Arc;

pub(crate) struct Fixture {
    pub dir: tempfile::TempDir,
    pub vault: Vault,
    pub keys: Arc<Keys>,
}

impl Fixture {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("catalog.db")).unwrap();
        let keys = Arc::new(KeyDir::new(dir.path().join("keys")).init("niem.test/ledger").unwrap());
        let store: Store = Arc::new(LocalStore::open(dir.path().join("store")).unwrap());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let policy = MirrorPolicy::default();
        let mirror = Mirror::resume(store.clone(), catalog.clone(), keys.clone(), clock.clone(), policy, "test");
        let mirror = Arc::new(mirror.await.unwrap());
        let vault = Vault::new(store, keys.clone(), catalog, clock, mirror, 1000);
        Self { dir, vault, keys }
    }

    /// A sealed recording with one uploaded stream of `plain`; returns its id.
    pub async fn recording(&self, plain: &[u8]) -> RecordingId {
        let v = &self.vault;
        let rec = v.start_recording("user:admin", "m", "o", |_, _| Ok(())).await.unwrap();
        let spec = StreamSpec { kind: "upload", endpoint: None, content_type: Some("video/mp4".into()) };
        let stream = v.open_stream("user:admin", rec, spec, |_, _| Ok(())).await.unwrap();
        let key = stream.key();
        let pieces: Vec<&[u8]> = plain.chunks(1000).collect();
        let mut stored = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            let sealed = key.seal_piece(i as u32, i + 1 == pieces.len(), piece.to_vec());
            let object = ObjectKey::chunk(rec, stream.id, i as u32);
            v.store.put_new(&object, Bytes::from(sealed.bytes.clone())).await.unwrap();
            let len = sealed.bytes.len() as u64;
            let plain_len = piece.len() as u64;
            stored.push(StoredChunk { index: i as u32, plain_len, len, sha256: sealed.sha256 });
        }
        v.commit_chunks("user:admin", rec, stream.id, stored).await.unwrap();
        let end = StreamEnd { state: StreamState::Complete, sha256: Some(crate::sha256_hex(plain)), media: None };
        v.close_stream("user:admin", rec, stream.id, end).await.unwrap();
        v.seal("user:admin", rec).await.unwrap();
        v.mirror.flush(true).await.unwrap();
        rec
    }

    pub fn key(&self) -> &VerifierKey {
        self.keys.signer.verifier()
    }

    pub async fn bundle(&self, rec: RecordingId, plain: &[u8], to: Option<&age::x25519::Recipient>) -> Vec<u8> {
        let ev = gather(&self.vault.store, self.key(), rec).await.unwrap();
        let item = MediaItem { name: "upload.mp4".into(), sha256: crate::sha256_hex(plain), len: plain.len() as u64 };
        let media = vec![MediaSource { item, reader: Box::new(plain) }];
        write(Vec::new(), &ev, media, to, time::OffsetDateTime::now_utc()).unwrap()
    }
}

fn plain() -> Vec<u8> {
    (0..2500u32).map(|i| (i * 7) as u8).collect()
}

/// Rewrites one file of a bundle (or drops it, on `None`).
pub(crate) fn rewrite(bundle: &[u8], file: &str, change: impl Fn(Vec<u8>) -> Option<Vec<u8>>) -> Vec<u8> {
    let mut out = tar::Builder::new(Vec::new());
    let mut found = false;
    for entry in tar::Archive::new(bundle).entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().to_string();
        let mut body = Vec::new();
        entry.read_to_end(&mut body).unwrap();
        let body = if path.ends_with(&format!("/{file}")) {
            found = true;
            match change(body) {
                Some(b) => b,
                None => continue,
            }
        } else {
            body
        };
        let mut h = tar::Header::new_ustar();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        out.append_data(&mut h, &path, body.as_slice()).unwrap();
    }
    assert!(found, "no {file} in the bundle");
    out.into_inner().unwrap()
}

fn read(bundle: &[u8], file: &str) -> Vec<u8> {
    for entry in tar::Archive::new(bundle).entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_string_lossy().ends_with(&format!("/{file}")) {
            let mut body = Vec::new();
            entry.read_to_end(&mut body).unwrap();
            return body;
        }
    }
    panic!("no {file}");
}

fn flip(at: usize) -> impl Fn(Vec<u8>) -> Option<Vec<u8>> {
    move |mut b| {
        let i = at.min(b.len() - 1);
        b[i] ^= 0x01;
        Some(b)
    }
}

/// Another base64 character at `at`: the text stays well-formed base64 (a flipped
/// bit can turn `z` into `{`), so only the hash it carries is wrong.
fn other_base64(at: usize) -> impl Fn(Vec<u8>) -> Option<Vec<u8>> {
    move |mut b| {
        let i = at.min(b.len() - 1);
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        Some(b)
    }
}

fn check(bundle: &[u8], key: &VerifierKey) -> BundleReport {
    verify(bundle, &Expect { log_key: Some(key), ..Expect::default() }).unwrap()
}

/// The invalid findings, as `file: why`.
fn invalid(r: &BundleReport) -> Vec<String> {
    let files = r.findings.iter().filter_map(|f| match &f.verdict {
        Verdict::Invalid(why) => Some(format!("{}: {why}", f.file)),
        _ => None,
    });
    files.chain(r.problems.iter().cloned()).collect()
}

#[tokio::test]
async fn a_bundle_from_a_store_verifies_offline_and_says_what_it_proves() {
    let fx = Fixture::new().await;
    let data = plain();
    let rec = fx.recording(&data).await;
    let bundle = fx.bundle(rec, &data, None).await;
    // Offline: the store is gone.
    let key = fx.key().clone();
    drop(fx);
    let r = check(&bundle, &key);
    assert!(!r.failed(), "{:?}", invalid(&r));
    assert_eq!(r.media_checked, 1);
    let statement = r.statement.unwrap();
    assert!(statement.starts_with(&format!("this file is the recording {rec} sealed at ")), "{statement}");
    assert!(statement.contains("by user:admin, entry ") && statement.contains(" of a log of size "), "{statement}");
    // The manifest hash a person checks by hand is in the README.
    let readme = String::from_utf8(read(&bundle, "README.txt")).unwrap();
    let manifest = read(&bundle, "manifest.json");
    assert!(readme.contains(&crate::sha256_hex(&manifest)), "{readme}");
    assert!(readme.contains("sha256sum -c SHA256SUMS"));
    // Without a trusted key the bundle's own key is used, and the report says so.
    let own = verify(bundle.as_slice(), &Expect::default()).unwrap();
    assert!(!own.failed() && own.key_from_bundle);
}

#[tokio::test]
async fn each_forgery_is_named() {
    let fx = Fixture::new().await;
    let data = plain();
    let rec = fx.recording(&data).await;
    let bundle = fx.bundle(rec, &data, None).await;
    let key = fx.key();
    let named = |b: &[u8], file: &str, words: &str| {
        let r = check(b, key);
        let found = invalid(&r);
        assert!(r.failed() && r.statement.is_none(), "{file}: {found:?}");
        assert!(found.iter().any(|f| f.starts_with(file) && f.contains(words)), "{file} / {words}: {found:?}");
    };
    named(&rewrite(&bundle, "media/upload.mp4", flip(1234)), "media/upload.mp4", "differs from the recorded");
    named(&rewrite(&bundle, "manifest.json", flip(40)), "manifest.json", "differs from the");
    // One byte of an entry: the actor of the first entry.
    let edit = |b: Vec<u8>| Some(String::from_utf8(b).unwrap().replacen("user:admin", "user:admio", 1).into_bytes());
    named(&rewrite(&bundle, "entries.jsonl", edit), "entries.jsonl", "it was altered");
    let entries = String::from_utf8(read(&bundle, "entries.jsonl")).unwrap();
    let seqs: Vec<u64> = entries.lines().map(|l| serde_json::from_str::<Entry>(l).unwrap().seq).collect();
    let proof = |s: u64| format!("proofs/{s:012}.tlog-proof");
    // One byte of a proof hash (inside the first base64 line after `index`).
    let p0 = String::from_utf8(read(&bundle, &proof(seqs[0]))).unwrap();
    let at = p0.find("\nindex ").unwrap() + p0[p0.find("\nindex ").unwrap() + 1..].find('\n').unwrap() + 5;
    named(&rewrite(&bundle, &proof(seqs[0]), other_base64(at)), &proof(seqs[0]), "does not lead to the signed root");
    // Another entry's proof under this entry's name.
    let other = read(&bundle, &proof(seqs[1]));
    named(&rewrite(&bundle, &proof(seqs[0]), |_| Some(other.clone())), &proof(seqs[0]), "not entry");
    // ... and with its index line rewritten to match.
    let moved = String::from_utf8(other.clone())
        .unwrap()
        .replace(&format!("index {}\n", seqs[1]), &format!("index {}\n", seqs[0]));
    named(
        &rewrite(&bundle, &proof(seqs[0]), |_| Some(moved.clone().into_bytes())),
        &proof(seqs[0]),
        "not in that tree",
    );
    // A proof dropped.
    named(&rewrite(&bundle, &proof(seqs[2]), |_| None), &proof(seqs[2]), "missing");
    // The SHA256SUMS list catches a file changed behind it.
    let readme_edit = |b: Vec<u8>| Some([b, b"x".to_vec()].concat());
    named(&rewrite(&bundle, "README.txt", readme_edit), "SHA256SUMS", "README.txt");
}

#[tokio::test]
async fn a_checkpoint_signed_by_another_key_is_refused() {
    let fx = Fixture::new().await;
    let data = plain();
    let rec = fx.recording(&data).await;
    let bundle = fx.bundle(rec, &data, None).await;
    // A forger with their own key, same log name, signs the same checkpoint text.
    let forger = KeyDir::new(fx.dir.path().join("forger")).init("niem.test/ledger").unwrap();
    let note = String::from_utf8(read(&bundle, "checkpoint.note")).unwrap();
    let cp = Checkpoint::open(&note, fx.key()).unwrap();
    let forged_note = cp.sign(&forger.signer);
    let forged = rewrite(&bundle, "checkpoint.note", |_| Some(forged_note.clone().into_bytes()));
    let forged = rewrite(&forged, "ledger.vkey", |_| Some(format!("{}\n", forger.signer.verifier()).into_bytes()));
    let r = check(&forged, fx.key());
    let found = invalid(&r);
    assert!(found.iter().any(|f| f.starts_with("checkpoint.note: checkpoint is not signed by key")), "{found:?}");
    assert!(found.iter().any(|f| f.starts_with("ledger.vkey: the bundle's key is")), "{found:?}");
    assert!(r.statement.is_none());
}

#[tokio::test]
async fn another_recordings_bundle_renamed_is_caught() {
    let fx = Fixture::new().await;
    let data = plain();
    let a = fx.recording(&data).await;
    let b = fx.recording(&data[..1500]).await;
    let bundle_b = fx.bundle(b, &data[..1500], None).await;
    let path = fx.dir.path().join(format!("{a}{FILE_SUFFIX}"));
    std::fs::write(&path, &bundle_b).unwrap();
    let claimed = recording_in_file_name(&path.file_name().unwrap().to_string_lossy());
    assert_eq!(claimed, Some(a));
    let expect = Expect { log_key: Some(fx.key()), recording: claimed, ..Expect::default() };
    let r = verify(std::fs::File::open(&path).unwrap(), &expect).unwrap();
    let found = invalid(&r);
    let want = format!("this file is named for recording {a}, but it holds the evidence of recording {b}");
    assert_eq!(found, vec![want]);
    // bundle.json rewritten to claim A: the directory, entries and manifest disagree.
    let claim_a = |j: Vec<u8>| Some(String::from_utf8(j).unwrap().replace(&b.to_string(), &a.to_string()).into_bytes());
    let relabelled = rewrite(&bundle_b, "bundle.json", claim_a);
    let r = check(&relabelled, fx.key());
    let found = invalid(&r);
    assert!(found.iter().any(|f| f.contains(&format!("is not that of recording {a}"))), "{found:?}");
    assert!(found.iter().any(|f| f.starts_with("entries.jsonl") && f.contains("not recording")), "{found:?}");
}

/// Cosignatures in the store travel in the bundle and are checked with the
/// witness's key; another witness key does not count.
#[tokio::test]
async fn witness_cosignatures_travel_with_the_bundle() {
    let fx = Fixture::new().await;
    let data = plain();
    let rec = fx.recording(&data).await;
    let (witness, _) = Cosigner::generate("witness.test/w1").unwrap();
    let newest = fx.vault.store.list("checkpoints/").await.unwrap().pop().unwrap();
    let body = fx.vault.store.get(&newest.key).await.unwrap();
    let obj: CheckpointObject = serde_json::from_slice(&body).unwrap();
    let mut note = Note::parse(&obj.note).unwrap();
    note.add(witness.cosign(&note.text, 1_800_000_000));
    let seen = crate::cosign::open_witnessed(&note.to_text(), fx.key(), witness.key()).unwrap();
    crate::witness::store_cosigned(&*fx.vault.store, witness.key(), &seen).await.unwrap();

    let bundle = fx.bundle(rec, &data, None).await;
    let keys = [witness.key().clone()];
    let expect = Expect { log_key: Some(fx.key()), witness_keys: &keys, ..Expect::default() };
    let r = verify(bundle.as_slice(), &expect).unwrap();
    assert!(!r.failed(), "{:?}", invalid(&r));
    assert_eq!(r.witnessed_by, vec!["witness.test/w1 at 2027-01-15T08:00:00.000Z".to_string()]);
    assert!(r.statement.unwrap().ends_with("cosigned by witness.test/w1 at 2027-01-15T08:00:00.000Z"));
    let (stranger, _) = Cosigner::generate("witness.test/w1").unwrap();
    let keys = [stranger.key().clone()];
    let expect = Expect { log_key: Some(fx.key()), witness_keys: &keys, ..Expect::default() };
    let r = verify(bundle.as_slice(), &expect).unwrap();
    assert!(invalid(&r).iter().any(|f| f.contains("no cosignature by witness")), "{:?}", invalid(&r));
}

/// Media for one person: checked with their identity, not readable without it,
/// refused with another's.
#[tokio::test]
async fn media_encrypted_to_a_recipient() {
    let fx = Fixture::new().await;
    let data = plain();
    let rec = fx.recording(&data).await;
    let me = age::x25519::Identity::generate();
    let bundle = fx.bundle(rec, &data, Some(&me.to_public())).await;
    let in_clear = bundle.windows(64).any(|w| w == &data[100..164]);
    assert!(!in_clear, "plaintext media in an encrypted bundle");
    let r = verify(bundle.as_slice(), &Expect { log_key: Some(fx.key()), identity: Some(&me), ..Expect::default() })
        .unwrap();
    assert!(!r.failed() && r.media_checked == 1, "{:?}", invalid(&r));
    let r = check(&bundle, fx.key());
    assert!(!r.failed() && r.media_checked == 0);
    assert!(r.findings.iter().any(|f| f.file == "media.tar.age" && matches!(f.verdict, Verdict::Pending(_))));
    let other = age::x25519::Identity::generate();
    let r = verify(bundle.as_slice(), &Expect { log_key: Some(fx.key()), identity: Some(&other), ..Expect::default() })
        .unwrap();
    assert!(invalid(&r).iter().any(|f| f.starts_with("media.tar.age: cannot be decrypted")), "{:?}", invalid(&r));
}

/// Media whose hash the ledger never recorded cannot ride along, and a reader
/// that yields other bytes than its item claims stops the bundle.
#[tokio::test]
async fn unrecorded_or_wrong_media_are_refused() {
    let fx = Fixture::new().await;
    let data = plain();
    let rec = fx.recording(&data).await;
    let ev = gather(&fx.vault.store, fx.key(), rec).await.unwrap();
    let extra = b"minutes nobody ledgered".to_vec();
    let item = MediaItem { name: "minutes.txt".into(), sha256: crate::sha256_hex(&extra), len: extra.len() as u64 };
    let media = vec![MediaSource { item, reader: Box::new(extra.as_slice()) }];
    let bundle = write(Vec::new(), &ev, media, None, time::OffsetDateTime::now_utc()).unwrap();
    let found = invalid(&check(&bundle, fx.key()));
    let unrecorded = "media/minutes.txt: its SHA-256 is recorded in no signed entry";
    assert!(found.iter().any(|f| f.starts_with(unrecorded)), "{found:?}");
    let item = MediaItem { name: "upload.mp4".into(), sha256: crate::sha256_hex(&data), len: data.len() as u64 };
    let mut wrong = data.clone();
    wrong[5] ^= 1;
    let media = vec![MediaSource { item, reader: Box::new(wrong.as_slice()) }];
    let err = write(Vec::new(), &ev, media, None, time::OffsetDateTime::now_utc()).unwrap_err();
    assert!(matches!(err, BundleError::Media(name, _) if name == "upload.mp4"));
    let bad = MediaItem { name: "../etc".into(), sha256: String::new(), len: 0 };
    let media = vec![MediaSource { item: bad, reader: Box::new(&b""[..]) }];
    assert!(write(Vec::new(), &ev, media, None, time::OffsetDateTime::now_utc()).is_err());
}
