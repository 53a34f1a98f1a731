//! Evidence bundles: everything that proves one recording, in one file that can
//! be checked offline, by `niem-audit verify-bundle` or by a person with
//! `sha256sum` and the README inside.
//!
//! A bundle is an uncompressed POSIX tar (ustar) whose entries all sit under one
//! directory `niem-bundle-<recording>/` (layout in FORMAT.md): the sealed
//! manifest, every signed ledger entry of the recording, an RFC 6962 inclusion
//! proof of each entry in one signed checkpoint (C2SP tlog-proof), the checkpoint
//! note with any witness cosignatures, the ledger's public key, and optionally the
//! decrypted media, each file with the SHA-256 that the ledger or the manifest
//! recorded, in the clear or encrypted to one person with age.
//!
//! This module gathers the evidence from a store ([`gather`]), writes the tar
//! ([`write`]) and checks one ([`verify`]). It never decrypts media: a caller with
//! the KEK (the service's `niem bundle`) hands it readers of plaintext.

use crate::checkpoint::{Checkpoint, CheckpointObject};
use crate::cosign::{CosignedObject, Note, WitnessKey};
use crate::id::RecordingId;
use crate::keys::VerifierKey;
use crate::layout::{EvidenceKind, ObjectKey};
use crate::ledger::Entry;
use crate::proof::{verify_inclusion, TlogProof, TreeLevels};
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};

pub const FORMAT: &str = "niem/bundle/v1";
/// The suffix `niem-audit bundle` gives bundle files: `<recording>.niem-bundle.tar`.
pub const FILE_SUFFIX: &str = ".niem-bundle.tar";

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Verify(#[from] crate::verify::VerifyError),
    #[error("the store's ledger does not verify, so it gives no evidence: {0}")]
    LedgerInvalid(String),
    #[error("recording {0} is not sealed under a signed checkpoint")]
    NotSealed(RecordingId),
    #[error("{0}")]
    Proof(#[from] crate::proof::ProofError),
    #[error("media file {0:?}: {1}")]
    Media(String, String),
    #[error("bundle I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a Niêm bundle: {0}")]
    NotABundle(String),
    #[error("age encryption: {0}")]
    Age(String),
}

/// The index every bundle carries as `bundle.json`. It is a table of contents,
/// not evidence: [`verify`] checks each claim against the signed data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    pub format: String,
    pub recording: String,
    /// The ledger's verifier key, as the bundle's maker had it.
    pub log_key: String,
    pub checkpoint_size: u64,
    /// The seq of every ledger entry of the recording in the bundle.
    pub entries: Vec<u64>,
    /// Entries of the recording after the checkpoint: not signed, so left out.
    pub unsigned_entries_left_out: u64,
    pub media: Vec<MediaItem>,
    /// The media are in `media.tar.age`, encrypted to one recipient.
    pub media_encrypted: bool,
    pub made_at: String,
}

/// One media file of a bundle (media, transcript, attendance, documents,
/// minutes): its name under `media/`, and the SHA-256 the ledger recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaItem {
    pub name: String,
    pub sha256: String,
    pub len: u64,
}

/// What the store proves about one recording, ready to be written.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub recording: RecordingId,
    pub log_key: VerifierKey,
    pub checkpoint: Checkpoint,
    /// The checkpoint note with its log signature and any cosignatures.
    pub note: String,
    pub manifest: Vec<u8>,
    pub entries: Vec<Entry>,
    pub proofs: Vec<TlogProof>,
    pub unsigned_left_out: u64,
}

fn belongs(e: &Entry, rec: RecordingId) -> bool {
    let subject = format!("recording/{rec}");
    e.subject == subject || e.subject.strip_prefix(&subject).is_some_and(|r| r.starts_with('/'))
}

/// Reads the store's ledger (verified), the recording's entries and manifest,
/// and proves each entry in the newest checkpoint that covers the seal,
/// preferring one that witnesses cosigned.
pub async fn gather(store: &Store, key: &VerifierKey, rec: RecordingId) -> Result<Evidence, BundleError> {
    let opts = crate::verify::Options::default();
    let (report, all) = crate::verify::verify_ledger(store, key, &opts).await?;
    if report.failed() {
        return Err(BundleError::LedgerInvalid(report.damage().join("; ")));
    }
    let mine: Vec<&Entry> = all.iter().filter(|e| belongs(e, rec)).collect();
    let sealed = mine.iter().find(|e| e.action == "recording.sealed").ok_or(BundleError::NotSealed(rec))?;
    let (checkpoint, note) = choose_checkpoint(store, key, sealed.seq).await?.ok_or(BundleError::NotSealed(rec))?;
    let size = checkpoint.size;
    let tree = TreeLevels::from_entry_hashes(all.iter().take(size as usize).map(|e| &e.hash));
    if tree.root(size) != Some(checkpoint.root) {
        return Err(BundleError::LedgerInvalid(format!("the checkpoint of {size} entries does not match the ledger")));
    }
    let (signed, unsigned): (Vec<&Entry>, Vec<&Entry>) = mine.into_iter().partition(|e| e.seq < size);
    let mut proofs = Vec::new();
    for e in &signed {
        let hashes = tree.inclusion(e.seq, size)?;
        proofs.push(TlogProof { extra: None, index: e.seq, hashes, checkpoint: note.clone() });
    }
    let manifest = store.get(ObjectKey::manifest(rec).as_str()).await?.to_vec();
    Ok(Evidence {
        recording: rec,
        log_key: key.clone(),
        checkpoint,
        note,
        manifest,
        entries: signed.into_iter().cloned().collect(),
        proofs,
        unsigned_left_out: unsigned.len() as u64,
    })
}

/// The newest valid checkpoint covering entry `seal`, with the cosignature lines
/// of every cosigned copy in the store; one with cosignatures wins over a newer
/// one without.
async fn choose_checkpoint(
    store: &Store,
    key: &VerifierKey,
    seal: u64,
) -> Result<Option<(Checkpoint, String)>, BundleError> {
    let mut best: Option<(Checkpoint, String, bool)> = None;
    let listed = store.list("checkpoints/").await?;
    for o in listed.iter().rev() {
        let crate::layout::ObjectKind::Checkpoint(seq) = ObjectKey::classify(&o.key) else {
            continue;
        };
        if seq < seal {
            break;
        }
        let body = store.get(&o.key).await?;
        let Ok(cp) = Checkpoint::open_stored(&body, key) else {
            continue;
        };
        let Ok(obj) = serde_json::from_slice::<CheckpointObject>(&body) else {
            continue;
        };
        let note = with_cosignatures(store, seq, &obj.note).await?;
        let cosigned = Note::parse(&note).map(|n| n.signatures.len() > 1).unwrap_or(false);
        match &best {
            None => best = Some((cp, note, cosigned)),
            Some((_, _, false)) if cosigned => best = Some((cp, note, cosigned)),
            _ => {}
        }
        if cosigned {
            break;
        }
    }
    Ok(best.map(|(cp, note, _)| (cp, note)))
}

/// The note with the signature lines of each cosigned copy of the same text.
async fn with_cosignatures(store: &Store, seq: u64, note: &str) -> Result<String, BundleError> {
    let Ok(mut parsed) = Note::parse(note) else {
        return Ok(note.into());
    };
    for o in store.list(&format!("cosigned/{seq:012}/")).await? {
        if !matches!(ObjectKey::classify_evidence(&o.key), Some(EvidenceKind::Cosigned(..))) {
            continue;
        }
        let body = store.get(&o.key).await?;
        let Ok(copy) = CosignedObject::from_bytes(&o.key, &body) else {
            continue;
        };
        let Ok(theirs) = Note::parse(&copy.note) else {
            continue;
        };
        if theirs.text == parsed.text {
            theirs.signatures.into_iter().for_each(|s| parsed.add(s));
        }
    }
    Ok(parsed.to_text())
}

/// A media file to put in the bundle: its item and a reader of its plaintext.
pub struct MediaSource<'a> {
    pub item: MediaItem,
    pub reader: Box<dyn Read + Send + 'a>,
}

/// Where the outer tar's entries go, and the SHA-256 of each for SHA256SUMS.
struct Tar<W: Write> {
    builder: tar::Builder<W>,
    dir: String,
    mtime: u64,
    sums: Vec<(String, String)>,
}

impl<W: Write> Tar<W> {
    fn add(&mut self, rel: &str, body: &[u8]) -> std::io::Result<()> {
        self.sums.push((crate::sha256_hex(body), rel.to_string()));
        self.add_reader(rel, body.len() as u64, body)
    }

    fn add_reader(&mut self, rel: &str, len: u64, body: impl Read) -> std::io::Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_size(len);
        h.set_mode(0o644);
        h.set_mtime(self.mtime);
        h.set_entry_type(tar::EntryType::Regular);
        self.builder.append_data(&mut h, format!("{}/{rel}", self.dir), body.take(len))
    }
}

/// Writes the bundle: the evidence, then the media (in the clear, or in
/// `media.tar.age` for `recipient`), then SHA256SUMS. Media reads are checked
/// against the hash each item claims as they stream through.
pub fn write<W: Write>(
    out: W,
    ev: &Evidence,
    media: Vec<MediaSource<'_>>,
    recipient: Option<&age::x25519::Recipient>,
    made_at: time::OffsetDateTime,
) -> Result<W, BundleError> {
    let items: Vec<MediaItem> = media.iter().map(|m| m.item.clone()).collect();
    check_media_names(&items)?;
    let index = Index {
        format: FORMAT.into(),
        recording: ev.recording.to_string(),
        log_key: ev.log_key.to_string(),
        checkpoint_size: ev.checkpoint.size,
        entries: ev.entries.iter().map(|e| e.seq).collect(),
        unsigned_entries_left_out: ev.unsigned_left_out,
        media: items,
        media_encrypted: recipient.is_some() && !media.is_empty(),
        made_at: crate::clock::format_ts(made_at),
    };
    let mtime = u64::try_from(made_at.unix_timestamp()).unwrap_or(0);
    let mut tar =
        Tar { builder: tar::Builder::new(out), dir: format!("niem-bundle-{}", ev.recording), mtime, sums: Vec::new() };
    tar.add("README.txt", readme(ev, &index).as_bytes())?;
    tar.add("bundle.json", &serde_json::to_vec_pretty(&index).map_err(std::io::Error::other)?)?;
    tar.add("ledger.vkey", format!("{}\n", ev.log_key).as_bytes())?;
    tar.add("checkpoint.note", ev.note.as_bytes())?;
    tar.add("manifest.json", &ev.manifest)?;
    let lines: String = ev.entries.iter().map(|e| format!("{}\n", e.to_line())).collect();
    tar.add("entries.jsonl", lines.as_bytes())?;
    for p in &ev.proofs {
        tar.add(&format!("proofs/{:012}.tlog-proof", p.index), p.encode().as_bytes())?;
    }
    match recipient {
        Some(r) if !media.is_empty() => add_encrypted_media(&mut tar, media, r)?,
        _ => {
            for m in media {
                let mut hashing = HashingReader::new(m.reader);
                tar.add_reader(&format!("media/{}", m.item.name), m.item.len, &mut hashing)?;
                hashing.check(&m.item)?;
                tar.sums.push((m.item.sha256.clone(), format!("media/{}", m.item.name)));
            }
        }
    }
    let sums: String = tar.sums.iter().map(|(h, p)| format!("{h}  {p}\n")).collect();
    tar.add_reader("SHA256SUMS", sums.len() as u64, sums.as_bytes())?;
    Ok(tar.builder.into_inner()?)
}

/// Media for one recipient: an inner tar of `media/<name>` files, encrypted with
/// age into a temporary file (ciphertext only touches the disk), then added.
fn add_encrypted_media<W: Write>(
    tar: &mut Tar<W>,
    media: Vec<MediaSource<'_>>,
    to: &age::x25519::Recipient,
) -> Result<(), BundleError> {
    let mut spool = tempfile::tempfile()?;
    {
        let age_err = |e: age::EncryptError| BundleError::Age(e.to_string());
        let enc = age::Encryptor::with_recipients(std::iter::once(to as &dyn age::Recipient)).map_err(age_err)?;
        let mut writer = enc.wrap_output(std::io::BufWriter::new(&mut spool))?;
        let mut inner = tar::Builder::new(&mut writer);
        for m in media {
            let mut h = tar::Header::new_ustar();
            h.set_size(m.item.len);
            h.set_mode(0o644);
            h.set_mtime(tar.mtime);
            h.set_entry_type(tar::EntryType::Regular);
            let mut hashing = HashingReader::new(m.reader);
            inner.append_data(&mut h, format!("media/{}", m.item.name), (&mut hashing).take(m.item.len))?;
            hashing.check(&m.item)?;
        }
        inner.into_inner()?;
        writer.finish()?.flush()?;
    }
    let len = std::io::Seek::seek(&mut spool, std::io::SeekFrom::End(0))?;
    std::io::Seek::seek(&mut spool, std::io::SeekFrom::Start(0))?;
    let mut hashing = HashingReader::new(&mut spool);
    tar.add_reader("media.tar.age", len, &mut hashing)?;
    tar.sums.push((hashing.hex(), "media.tar.age".into()));
    Ok(())
}

/// Names under `media/` are plain file names: letters, digits, `.`, `_`, `-`.
fn check_media_names(items: &[MediaItem]) -> Result<(), BundleError> {
    let mut seen = BTreeSet::new();
    for m in items {
        let plain = !m.name.is_empty()
            && m.name.len() <= 80
            && !m.name.starts_with('.')
            && m.name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !plain {
            return Err(BundleError::Media(m.name.clone(), "names are letters, digits, '.', '_' and '-'".into()));
        }
        if !seen.insert(&m.name) {
            return Err(BundleError::Media(m.name.clone(), "named twice".into()));
        }
    }
    Ok(())
}

/// Hashes what passes through, so media are checked without a second read.
struct HashingReader<R> {
    inner: R,
    ctx: ring::digest::Context,
    len: u64,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        Self { inner, ctx: ring::digest::Context::new(&ring::digest::SHA256), len: 0 }
    }
    fn hex(self) -> String {
        hex::encode(self.ctx.finish())
    }
    fn check(self, item: &MediaItem) -> Result<(), BundleError> {
        let len = self.len;
        let sha = self.hex();
        if len != item.len || sha != item.sha256 {
            let why = format!("read {len} bytes with SHA-256 {sha}; expected {} bytes, {}", item.len, item.sha256);
            return Err(BundleError::Media(item.name.clone(), why));
        }
        Ok(())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.ctx.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

fn readme(ev: &Evidence, index: &Index) -> String {
    let sealed = ev.entries.iter().find(|e| e.action == "recording.sealed");
    let manifest_sha = sealed.and_then(|e| e.data.get("manifest_sha256")).and_then(|v| v.as_str()).unwrap_or("?");
    let mut media = String::new();
    for m in &index.media {
        media.push_str(&format!("    {}  media/{}\n", m.sha256, m.name));
    }
    if media.is_empty() {
        media.push_str("    (this bundle holds no media)\n");
    }
    let encrypted = if index.media_encrypted {
        "The media are in media.tar.age, encrypted to one person with age\n\
         (https://age-encryption.org). Decrypt with your identity file:\n\
         \x20   age --decrypt -i key.txt -o media.tar media.tar.age && tar -xf media.tar\n\n"
    } else {
        ""
    };
    format!(
        "Niêm evidence bundle for recording {rec}\n\
         =========================================================\n\n\
         What it proves: recording {rec} was sealed in the Niêm ledger of\n\
         {origin}, and each of its {n} ledger entries is entry N of a log of\n\
         {size} entries whose head was signed at {time}.\n\n\
         The check with the tool (no network, no store):\n\
         \x20   niem-audit verify-bundle {rec}{FILE_SUFFIX} --public-key ledger.vkey\n\
         Use the ledger key your organisation published, not only the one inside.\n\n\
         The check by hand, for what hashes can show:\n\
         1. Extract:             tar -xf {rec}{FILE_SUFFIX}   (Windows 10+: tar.exe, same)\n\
         2. Every file intact:   sha256sum -c SHA256SUMS\n\
         \x20                      (Windows: certutil -hashfile FILE SHA256)\n\
         3. The manifest is the sealed one: sha256sum manifest.json must print\n\
         \x20   {manifest_sha}\n\
         \x20   the manifest_sha256 of the recording.sealed line in entries.jsonl.\n\
         4. Each media file is the recorded one: sha256sum media/* must print\n\
         {media}\
         \x20   and each hash appears in entries.jsonl or manifest.json.\n\
         5. Each line of entries.jsonl is in the signed log: proofs/<seq>.tlog-proof\n\
         \x20   is an RFC 6962 inclusion proof (C2SP tlog-proof) into the checkpoint in\n\
         \x20   checkpoint.note, signed with the key in ledger.vkey (C2SP signed note).\n\
         \x20   Steps 2 to 4 need only sha256sum; step 5 needs a tool (niem-audit, or\n\
         \x20   any C2SP tlog-proof verifier given the entry hash as the leaf data).\n\n\
         {encrypted}\
         Files: README.txt (this), bundle.json (index), ledger.vkey, checkpoint.note,\n\
         manifest.json, entries.jsonl, proofs/, media/ or media.tar.age, SHA256SUMS.\n\
         Format: niem/bundle/v1 (FORMAT.md, \"Evidence bundles\").\n",
        rec = ev.recording,
        origin = ev.checkpoint.origin,
        n = ev.entries.len(),
        size = ev.checkpoint.size,
        time = ev.checkpoint.time,
    )
}

/// What the auditor brings to a check: keys and the recording expected.
#[derive(Default)]
pub struct Expect<'a> {
    /// The ledger key the auditor trusts; without it the bundle's own key is used
    /// and the report says so.
    pub log_key: Option<&'a VerifierKey>,
    pub witness_keys: &'a [WitnessKey],
    /// The recording the file claims to be (from its name or the command line).
    pub recording: Option<RecordingId>,
    /// Decrypts `media.tar.age`; without it encrypted media are not checked.
    pub identity: Option<&'a age::x25519::Identity>,
}

/// One file's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub file: String,
    #[serde(flatten)]
    pub verdict: crate::verify::Verdict,
}

/// What a bundle proves, or why it does not.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BundleReport {
    pub recording: Option<String>,
    pub findings: Vec<Finding>,
    /// Problems not about one file: the bundle as a whole.
    pub problems: Vec<String>,
    /// The sentence that says what was proven, when everything holds.
    pub statement: Option<String>,
    pub key_from_bundle: bool,
    /// Witnesses whose cosignature verified, with when they cosigned.
    pub witnessed_by: Vec<String>,
    pub media_checked: usize,
}

impl BundleReport {
    pub fn failed(&self) -> bool {
        !self.problems.is_empty()
            || self.findings.iter().any(|f| matches!(f.verdict, crate::verify::Verdict::Invalid(_)))
    }

    fn invalid(&mut self, file: impl Into<String>, why: impl Into<String>) {
        self.findings.push(Finding { file: file.into(), verdict: crate::verify::Verdict::Invalid(why.into()) });
    }

    fn valid(&mut self, file: impl Into<String>) {
        self.findings.push(Finding { file: file.into(), verdict: crate::verify::Verdict::Valid });
    }

    fn unchecked(&mut self, file: impl Into<String>, why: impl Into<String>) {
        self.findings.push(Finding { file: file.into(), verdict: crate::verify::Verdict::Pending(why.into()) });
    }
}

/// A bundle read back: small files kept, media hashed as they streamed past.
#[derive(Default)]
struct Contents {
    dir: Option<String>,
    files: BTreeMap<String, Vec<u8>>,
    /// name under media/ → (sha256, len)
    media: BTreeMap<String, (String, u64)>,
    /// Every file's SHA-256, for SHA256SUMS.
    sums: BTreeMap<String, String>,
    encrypted: Option<EncryptedMedia>,
}

enum EncryptedMedia {
    Checked(BTreeMap<String, (String, u64)>),
    Failed(String),
    NoIdentity,
}

/// The small files' size limit: anything but media is text a few MB at most.
const MAX_SMALL_FILE: u64 = 256 << 20;

fn read_contents(reader: impl Read, identity: Option<&age::x25519::Identity>) -> Result<Contents, BundleError> {
    let not = |why: String| BundleError::NotABundle(why);
    let mut c = Contents::default();
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries()? {
        let mut entry = entry?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(not("it holds something other than plain files".into()));
        }
        let path = entry.path()?.to_string_lossy().replace('\\', "/");
        let (dir, rel) =
            path.split_once('/').ok_or_else(|| not(format!("{path:?} is outside the bundle's directory")))?;
        if rel.split('/').any(|p| p.is_empty() || p == "." || p == "..") {
            return Err(not(format!("{path:?} is not a plain relative path")));
        }
        match &c.dir {
            None => c.dir = Some(dir.to_string()),
            Some(d) if d != dir => return Err(not(format!("{path:?} is outside {d}/"))),
            Some(_) => {}
        }
        if c.sums.contains_key(rel) {
            return Err(not(format!("{rel} appears twice")));
        }
        let sha = if let Some(name) = rel.strip_prefix("media/") {
            let mut h = HashingReader::new(&mut entry);
            std::io::copy(&mut h, &mut std::io::sink())?;
            let len = h.len;
            let sha = h.hex();
            c.media.insert(name.to_string(), (sha.clone(), len));
            sha
        } else if rel == "media.tar.age" {
            let mut h = HashingReader::new(&mut entry);
            c.encrypted = Some(match identity {
                None => EncryptedMedia::NoIdentity,
                Some(id) => match read_encrypted(&mut h, id) {
                    Ok(m) => EncryptedMedia::Checked(m),
                    Err(e) => EncryptedMedia::Failed(e),
                },
            });
            std::io::copy(&mut h, &mut std::io::sink())?;
            h.hex()
        } else {
            if entry.header().size()? > MAX_SMALL_FILE {
                return Err(not(format!("{rel} is too large")));
            }
            let mut body = Vec::new();
            entry.read_to_end(&mut body)?;
            let sha = crate::sha256_hex(&body);
            c.files.insert(rel.to_string(), body);
            sha
        };
        c.sums.insert(rel.to_string(), sha);
    }
    Ok(c)
}

/// Decrypts `media.tar.age` as it streams and hashes each file inside.
fn read_encrypted(
    reader: impl Read,
    identity: &age::x25519::Identity,
) -> Result<BTreeMap<String, (String, u64)>, String> {
    let dec = age::Decryptor::new(std::io::BufReader::new(reader)).map_err(|e| e.to_string())?;
    let plain = dec.decrypt(std::iter::once(identity as &dyn age::Identity)).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    let mut inner = tar::Archive::new(plain);
    for entry in inner.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path().map_err(|e| e.to_string())?.to_string_lossy().to_string();
        let name =
            path.strip_prefix("media/").filter(|n| !n.contains('/')).ok_or(format!("{path:?} is not media/<name>"))?;
        let name = name.to_string();
        let mut h = HashingReader::new(&mut entry);
        std::io::copy(&mut h, &mut std::io::sink()).map_err(|e| e.to_string())?;
        let len = h.len;
        out.insert(name, (h.hex(), len));
    }
    Ok(out)
}

/// Checks a bundle offline. Errors only when the file is not a bundle at all;
/// everything wrong inside one is a finding or a problem in the report.
pub fn verify(reader: impl Read, expect: &Expect<'_>) -> Result<BundleReport, BundleError> {
    let c = read_contents(reader, expect.identity)?;
    let mut r = BundleReport::default();
    let dir = c.dir.clone().ok_or_else(|| BundleError::NotABundle("it is empty".into()))?;
    let index_bytes = c.files.get("bundle.json").ok_or_else(|| BundleError::NotABundle("no bundle.json".into()))?;
    let index: Index =
        serde_json::from_slice(index_bytes).map_err(|e| BundleError::NotABundle(format!("bundle.json: {e}")))?;
    crate::format::check("bundle.json", "bundle", &index.format).map_err(|e| BundleError::NotABundle(e.to_string()))?;
    let rec: RecordingId = index.recording.parse().map_err(|e| BundleError::NotABundle(format!("bundle.json: {e}")))?;
    r.recording = Some(rec.to_string());
    if dir != format!("niem-bundle-{rec}") {
        r.problems.push(format!("the bundle's directory {dir}/ is not that of recording {rec}"));
    }
    if let Some(claimed) = expect.recording.filter(|c| *c != rec) {
        r.problems
            .push(format!("this file is named for recording {claimed}, but it holds the evidence of recording {rec}"));
    }
    let Some(key) = check_key(&c, &index, expect, &mut r) else {
        return Ok(r);
    };
    let Some((cp, note_text)) = check_checkpoint(&c, &key, expect.witness_keys, &mut r) else {
        return Ok(r);
    };
    let entries = check_entries(&c, &index, rec, &cp, &mut r);
    check_proofs(&c, &entries, &cp, &note_text, &mut r);
    let sealed = check_lifecycle(&c, &entries, rec, &mut r);
    check_media(&c, &index, &entries, &mut r);
    check_sums(&c, &mut r);
    if let Some(seal) = sealed.filter(|_| !r.failed()) {
        let witnessed = if r.witnessed_by.is_empty() {
            String::new()
        } else {
            format!(", cosigned by {}", r.witnessed_by.join(", "))
        };
        r.statement = Some(format!(
            "this file is the recording {rec} sealed at {} by {}, entry {} of a log of size {} \
             signed at {} by {}{witnessed}",
            seal.ts, seal.actor, seal.seq, cp.size, cp.time, cp.origin
        ));
    }
    Ok(r)
}

fn check_key(c: &Contents, index: &Index, expect: &Expect<'_>, r: &mut BundleReport) -> Option<VerifierKey> {
    let inside: Option<VerifierKey> =
        c.files.get("ledger.vkey").and_then(|b| std::str::from_utf8(b).ok()).and_then(|s| s.parse().ok());
    if inside.as_ref().map(|k| k.to_string()) != Some(index.log_key.clone()) {
        r.invalid("ledger.vkey", "missing, malformed, or not the key bundle.json names");
    }
    match (expect.log_key, inside) {
        (Some(trusted), Some(k)) if k != *trusted => {
            r.invalid("ledger.vkey", format!("the bundle's key is {k}, not the key given ({trusted})"));
            Some(trusted.clone())
        }
        (Some(trusted), _) => Some(trusted.clone()),
        (None, Some(k)) => {
            r.key_from_bundle = true;
            Some(k)
        }
        (None, None) => {
            r.problems.push("no usable ledger key: give --public-key".into());
            None
        }
    }
}

fn check_checkpoint(
    c: &Contents,
    key: &VerifierKey,
    witnesses: &[WitnessKey],
    r: &mut BundleReport,
) -> Option<(Checkpoint, String)> {
    let Some(note) = c.files.get("checkpoint.note").and_then(|b| String::from_utf8(b.clone()).ok()) else {
        r.invalid("checkpoint.note", "missing or not UTF-8");
        return None;
    };
    let cp = match Checkpoint::open(&note, key) {
        Ok(cp) => cp,
        Err(e) => {
            r.invalid("checkpoint.note", format!("{e}: not signed by the ledger key {key}"));
            return None;
        }
    };
    let parsed = Note::parse(&note).ok()?;
    for w in witnesses {
        match w.verify(&parsed) {
            Ok(t) => r.witnessed_by.push(format!("{} at {}", w.name(), crate::witness::unix_to_rfc3339(t))),
            Err(e) => r.invalid("checkpoint.note", e.to_string()),
        }
    }
    r.valid("checkpoint.note");
    Some((cp, parsed.text))
}

fn check_entries(c: &Contents, index: &Index, rec: RecordingId, cp: &Checkpoint, r: &mut BundleReport) -> Vec<Entry> {
    let Some(text) = c.files.get("entries.jsonl").and_then(|b| std::str::from_utf8(b).ok()) else {
        r.invalid("entries.jsonl", "missing or not UTF-8");
        return Vec::new();
    };
    let mut entries: Vec<Entry> = Vec::new();
    let mut bad = None;
    for (n, line) in text.lines().enumerate() {
        let why = match serde_json::from_str::<Entry>(line) {
            Err(e) => Some(format!("line {}: not a ledger entry: {e}", n + 1)),
            Ok(e) if e.compute_hash() != e.hash => {
                Some(format!("line {}: entry {} does not hash to its hash: it was altered", n + 1, e.seq))
            }
            Ok(e) if !belongs(&e, rec) => {
                Some(format!("line {}: entry {} is about {}, not recording {rec}", n + 1, e.seq, e.subject))
            }
            Ok(e) if e.seq >= cp.size => {
                Some(format!("line {}: entry {} is not covered by the checkpoint of {}", n + 1, e.seq, cp.size))
            }
            Ok(e) if entries.last().is_some_and(|p| p.seq >= e.seq) => {
                Some(format!("line {}: entries out of order", n + 1))
            }
            Ok(e) => {
                if let Some(p) = entries.last().filter(|p| p.seq + 1 == e.seq && p.hash != e.prev) {
                    bad.get_or_insert(format!("entry {} does not link to entry {}", e.seq, p.seq));
                }
                entries.push(e);
                None
            }
        };
        if let Some(why) = why {
            bad.get_or_insert(why);
        }
    }
    if entries.iter().map(|e| e.seq).collect::<Vec<_>>() != index.entries {
        bad.get_or_insert("the entries differ from those bundle.json lists".into());
    }
    match bad {
        Some(why) => r.invalid("entries.jsonl", why),
        None => r.valid("entries.jsonl"),
    }
    entries
}

fn check_proofs(c: &Contents, entries: &[Entry], cp: &Checkpoint, note_text: &str, r: &mut BundleReport) {
    let mut expected = BTreeSet::new();
    for e in entries {
        let file = format!("proofs/{:012}.tlog-proof", e.seq);
        expected.insert(file.clone());
        let Some(text) = c.files.get(&file).and_then(|b| std::str::from_utf8(b).ok()) else {
            r.invalid(&file, format!("missing: no proof for entry {}", e.seq));
            continue;
        };
        let proof = match TlogProof::parse(text) {
            Ok(p) => p,
            Err(e) => {
                r.invalid(&file, e.to_string());
                continue;
            }
        };
        if proof.index != e.seq {
            r.invalid(&file, format!("proves entry {}, not entry {}", proof.index, e.seq));
        } else if Note::parse(&proof.checkpoint).map(|n| n.text).ok().as_deref() != Some(note_text) {
            r.invalid(&file, "is against another checkpoint than checkpoint.note");
        } else if let Err(err) = verify_inclusion(e.seq, cp.size, &e.hash, &proof.hashes, &cp.root) {
            r.invalid(&file, format!("entry {}: {err}", e.seq));
        } else {
            r.valid(&file);
        }
    }
    for extra in c.files.keys().filter(|f| f.starts_with("proofs/") && !expected.contains(*f)) {
        r.invalid(extra, "a proof of no entry in entries.jsonl");
    }
}

/// The recording's lifecycle replayed, the manifest checked against its seal.
fn check_lifecycle<'e>(
    c: &Contents,
    entries: &'e [Entry],
    rec: RecordingId,
    r: &mut BundleReport,
) -> Option<&'e Entry> {
    // Every entry in a bundle is proven into a signed checkpoint: all are evidence.
    let (expected, problems) = crate::verify::replay(entries, u64::MAX);
    r.problems.extend(problems);
    let sealed = entries.iter().find(|e| e.action == "recording.sealed");
    let Some(exp) = expected.get(&rec).filter(|x| x.started && x.sealed.is_some()) else {
        r.problems.push(format!("the entries do not show recording {rec} started and sealed"));
        return None;
    };
    let Some(body) = c.files.get("manifest.json") else {
        r.invalid("manifest.json", "missing");
        return None;
    };
    let sha = crate::sha256_hex(body);
    if Some(&sha) != exp.sealed.as_ref() {
        let seq = sealed.map_or(0, |e| e.seq);
        r.invalid(
            "manifest.json",
            format!(
                "SHA-256 {sha} differs from the {} the recording.sealed entry {seq} recorded",
                exp.sealed.clone().unwrap_or_default()
            ),
        );
        return sealed;
    }
    match crate::manifest::Manifest::parse("manifest.json", body) {
        Err(e) => r.invalid("manifest.json", e.reason()),
        Ok(m) if m.recording != rec => r.invalid("manifest.json", format!("describes recording {}", m.recording)),
        Ok(m) => {
            let agree = m.streams.len() == exp.streams.len()
                && m.streams.iter().all(|s| {
                    exp.streams.get(&s.id).is_some_and(|x| {
                        let chunks: Vec<(u64, &str)> = s.chunks.iter().map(|c| (c.len, c.sha256.as_str())).collect();
                        let want: Vec<(u64, &str)> = x.chunks.iter().map(|c| (c.len, c.sha256.as_str())).collect();
                        let key = exp.first_key(crate::id::StreamName::Media(s.id));
                        chunks == want && Some(s.key_sha256.as_str()) == key && Some((s.state, s.length)) == x.closed
                    })
                });
            if agree {
                r.valid("manifest.json");
            } else {
                r.invalid("manifest.json", "its streams differ from the ledger entries");
            }
        }
    }
    sealed
}

/// Every string value anywhere in `v`.
fn strings(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::String(s) => {
            out.insert(s.clone());
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

fn check_media(c: &Contents, index: &Index, entries: &[Entry], r: &mut BundleReport) {
    // A media hash counts only if signed data recorded it: an entry, or the
    // manifest whose hash a signed entry holds.
    let mut recorded = BTreeSet::new();
    entries.iter().for_each(|e| strings(&e.data, &mut recorded));
    if let Some(m) = c.files.get("manifest.json").and_then(|b| serde_json::from_slice(b).ok()) {
        strings(&m, &mut recorded);
    }
    let (found, prefix) = match (&c.encrypted, index.media_encrypted) {
        (Some(EncryptedMedia::Checked(m)), true) => (m.clone(), "media.tar.age: "),
        (Some(EncryptedMedia::Failed(why)), true) => {
            r.invalid("media.tar.age", format!("cannot be decrypted with this identity: {why}"));
            return;
        }
        (Some(EncryptedMedia::NoIdentity), true) => {
            r.unchecked("media.tar.age", "encrypted to a recipient; give --identity to check the media inside");
            return;
        }
        (None, true) => {
            r.invalid("media.tar.age", "missing");
            return;
        }
        (_, false) => (c.media.clone(), ""),
    };
    let listed: BTreeSet<&String> = index.media.iter().map(|m| &m.name).collect();
    for m in &index.media {
        let file = format!("{prefix}media/{}", m.name);
        match found.get(&m.name) {
            None => r.invalid(&file, "missing"),
            Some((sha, len)) if sha != &m.sha256 || *len != m.len => r.invalid(
                &file,
                format!("SHA-256 {sha} ({len} bytes) differs from the recorded {} ({} bytes)", m.sha256, m.len),
            ),
            Some(_) if !recorded.contains(&m.sha256) => {
                let why = "its SHA-256 is recorded in no signed entry of the recording \
                           and not in the manifest";
                r.invalid(&file, why)
            }
            Some(_) => {
                r.media_checked += 1;
                r.valid(&file);
            }
        }
    }
    for extra in found.keys().filter(|n| !listed.contains(n)) {
        r.invalid(format!("{prefix}media/{extra}"), "not listed in bundle.json");
    }
}

fn check_sums(c: &Contents, r: &mut BundleReport) {
    let Some(text) = c.files.get("SHA256SUMS").and_then(|b| std::str::from_utf8(b).ok()) else {
        r.invalid("SHA256SUMS", "missing");
        return;
    };
    let mut listed = BTreeSet::new();
    for line in text.lines() {
        let Some((sha, file)) = line.split_once("  ") else {
            r.invalid("SHA256SUMS", format!("line {line:?} is not `<sha256>  <file>`"));
            continue;
        };
        listed.insert(file.to_string());
        if c.sums.get(file).map(String::as_str) != Some(sha) {
            r.invalid("SHA256SUMS", format!("{file}: the file is missing or its SHA-256 is not {sha}"));
        }
    }
    for file in c.sums.keys().filter(|f| *f != "SHA256SUMS" && !listed.contains(*f)) {
        r.invalid("SHA256SUMS", format!("{file} is not listed"));
    }
}

/// The recording a bundle's file name claims: `<ULID>.niem-bundle.tar`, or any
/// name that holds exactly one recording id.
pub fn recording_in_file_name(name: &str) -> Option<RecordingId> {
    let ids: Vec<RecordingId> = name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| p.len() == 26)
        .filter_map(|p| p.parse().ok())
        .collect();
    match ids.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests;
