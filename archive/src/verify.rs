//! The verifier: proves a store intact with read access and the public key only.
//! `niem-audit verify` and the service's own checks run this same code.
//!
//! What it checks:
//! 1. the ledger batches cover entries 0..n with no gap or overlap, and every entry
//!    hashes correctly and links to the one before;
//! 2. every checkpoint is signed by the key, names the entry count it covers, matches
//!    the RFC 6962 root of the entries up to there, and time only moves forward;
//! 3. a checkpoint the auditor saved earlier is extended by the current ledger (no
//!    rollback, no fork);
//! 4. replaying the ledger gives, per recording, the objects that must exist: each
//!    chunk with its length and SHA-256, each wrapped key, the sealed manifest; every
//!    object is compared with that, and anything missing or extra is reported;
//! 5. only signed entries are evidence: an entry counts once a valid checkpoint
//!    covers it, no entry is dated after the checkpoint that covers it, and nothing
//!    unsigned (a shred, a policy, an approval, a re-wrapped key) excuses a missing
//!    or changed object. Entries past the newest checkpoint may only *add* objects,
//!    which must then be present.

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::id::{RecordingId, StreamId, StreamName};
use crate::keys::VerifierKey;
use crate::layout::{ObjectKey, ObjectKind};
use crate::ledger::{Entry, ZERO};
use crate::manifest::{Manifest, StreamState};
use crate::merkle::CompactTree;
use crate::mirror::parse_batch;
use crate::store::{ObjectMeta, Store, StoreError};
use futures::StreamExt;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use time::OffsetDateTime;

/// What was found about one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "reason", rename_all = "lowercase")]
pub enum Verdict {
    Valid,
    /// Not yet covered by the ledger, in a recording that is still open: expected
    /// while the service is writing; not a failure.
    Pending(String),
    Invalid(String),
    /// In a storage format newer than this build knows (see [`crate::format`]):
    /// neither valid nor tampered, but not verified. The store is then not shown
    /// intact, and `niem-audit` says to upgrade rather than that it was altered.
    Unsupported(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub object: String,
    pub kind: &'static str,
    #[serde(flatten)]
    pub verdict: Verdict,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Report {
    pub store: String,
    pub findings: Vec<Finding>,
    /// Problems that are not about one object: gaps, truncation, rollback, forks.
    pub problems: Vec<String>,
    pub entries: u64,
    pub checkpoints: u64,
    pub newest_checkpoint_size: Option<u64>,
    pub newest_checkpoint_time: Option<String>,
    /// Entries after the newest checkpoint: not yet signed.
    pub unsigned_entries: u64,
    pub recordings_sealed: u64,
    pub recordings_open: u64,
    /// Every shredded recording with the verdict on its deletion; an unlawful one
    /// is also a problem.
    pub deletions: Vec<crate::deletion::Deletion>,
    pub bytes_hashed: u64,
    /// Things an auditor should know that prove nothing wrong: a time that steps
    /// back (earlier releases took it outside the ledger's transaction), an admin
    /// made or unmade without a second admin.
    pub warnings: Vec<String>,
    /// Signed entries written by the host's command line, which bypasses sign-in
    /// (break-glass): `entry <seq> <action> <subject>`.
    pub host_actions: Vec<String>,
    /// What a sampled run fetched, and the damage a clean sample rules out.
    pub sample: Option<SampleReport>,
}

/// A sampled or incremental run: how many content objects were fetched and
/// hashed out of how many, and (for a sample) what that proves.
#[derive(Debug, Clone, Serialize)]
pub struct SampleReport {
    pub fetched: u64,
    pub population: u64,
    /// For a random sample: "a damage rate above X % would have been seen with 99 % probability".
    pub statement: Option<String>,
}

impl Report {
    /// Everything was verified and nothing is wrong.
    pub fn intact(&self) -> bool {
        !self.failed() && self.unsupported() == 0
    }

    /// Something is proven wrong: an invalid object or a problem with the ledger.
    /// This wins over [`Report::unsupported`]: an object this build cannot read
    /// never hides damage found elsewhere.
    pub fn failed(&self) -> bool {
        !self.problems.is_empty() || self.findings.iter().any(|f| matches!(f.verdict, Verdict::Invalid(_)))
    }

    /// Objects in a storage format newer than this build knows, left unverified.
    pub fn unsupported(&self) -> usize {
        self.findings.iter().filter(|f| matches!(f.verdict, Verdict::Unsupported(_))).count()
    }

    /// Each invalid object (`<kind> <object>: <why>`), then each problem: the
    /// lines an operator acts on.
    pub fn damage(&self) -> Vec<String> {
        let invalid = self.findings.iter().filter_map(|f| match &f.verdict {
            Verdict::Invalid(why) => Some(format!("{} {}: {why}", f.kind, f.object)),
            _ => None,
        });
        invalid.chain(self.problems.iter().cloned()).collect()
    }

    /// (valid, invalid, pending) per kind of object.
    pub fn counts(&self) -> BTreeMap<&'static str, (u64, u64, u64)> {
        let mut out = BTreeMap::new();
        for f in &self.findings {
            let c = out.entry(f.kind).or_insert((0, 0, 0));
            match f.verdict {
                Verdict::Valid => c.0 += 1,
                Verdict::Invalid(_) => c.1 += 1,
                Verdict::Pending(_) => c.2 += 1,
                Verdict::Unsupported(_) => {} // counted by `unsupported`
            }
        }
        out
    }

    pub(crate) fn object(&mut self, object: impl Into<String>, kind: &'static str, verdict: Verdict) {
        self.findings.push(Finding { object: object.into(), kind, verdict });
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read the store: {0}")]
    Store(#[from] StoreError),
}

/// Progress reports: bytes hashed so far, of how many.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

#[derive(Clone, Default)]
pub struct Options {
    /// A checkpoint saved earlier; the ledger must extend it.
    pub trusted: Option<Checkpoint>,
    /// Objects fetched and hashed at once.
    pub parallelism: usize,
    pub progress: Option<Progress>,
    /// Which content objects to fetch and hash (the ledger and every signature
    /// are always checked in full; every listed object is always size-checked
    /// and accounted for).
    pub selection: crate::sample::Selection,
    /// Witnesses whose cosignatures on `cosigned/` objects are checked; a
    /// cosignature of a witness not listed is only checked for its checkpoint.
    pub witnesses: Vec<crate::cosign::WitnessKey>,
}

/// What the ledger says must be in the store for one recording.
#[derive(Debug, Default, Clone)]
pub struct Expected {
    pub started: bool,
    pub sealed: Option<String>,
    /// The seq of the `recording.sealed` entry.
    pub sealed_seq: Option<u64>,
    /// A shred that a signed checkpoint covers: its content may be gone (whether
    /// lawfully is judged by [`crate::deletion`]).
    pub shredded: bool,
    /// The seq of a shred entry no signed checkpoint covers: it excuses nothing.
    pub shred_unsigned: Option<u64>,
    pub streams: BTreeMap<StreamId, ExpectedStream>,
    pub transcript: Option<ExpectedObject>,
    /// Per media stream and transcript, every generation of its wrapped key.
    pub keys: BTreeMap<StreamName, Vec<KeyGeneration>>,
}

impl Expected {
    /// The hash of the key object a stream (or the transcript) was opened with.
    pub fn first_key(&self, name: StreamName) -> Option<&str> {
        self.keys.get(&name).and_then(|g| g.first()).map(|g| g.sha256.as_str())
    }

    /// The key object that must be in the store now: the newest generation a
    /// signed entry names (the first one if none is signed yet).
    pub fn current_key(&self, name: StreamName) -> Option<&KeyGeneration> {
        let gens = self.keys.get(&name)?;
        gens.iter().rev().find(|g| g.signed).or(gens.first())
    }
}

/// One wrapped-key object of a stream: generation 0 as opened, N as re-wrapped by
/// KEK retirement N (`keys.rewrapped`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGeneration {
    pub generation: u32,
    pub sha256: String,
    /// Whether a signed checkpoint covers the entry that names it.
    pub signed: bool,
}

#[derive(Debug, Default, Clone)]
pub struct ExpectedStream {
    pub chunks: Vec<ExpectedObject>,
    pub closed: Option<(StreamState, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedObject {
    pub len: u64,
    pub sha256: String,
}

/// Replays ledger entries into what the store must hold, per recording; entries
/// at or past `signed` (the newest valid checkpoint's size) count as unsigned.
/// Entries that contradict the lifecycle are returned as problems.
pub fn replay<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
    signed: u64,
) -> (HashMap<RecordingId, Expected>, Vec<String>) {
    let mut recs: HashMap<RecordingId, Expected> = HashMap::new();
    let mut problems = Vec::new();
    for e in entries {
        if let Err(p) = apply(&mut recs, e, e.seq < signed) {
            problems.push(format!("ledger entry {} ({}): {p}", e.seq, e.action));
        }
    }
    (recs, problems)
}

/// What the ledger says one meeting-record object holds (FORMAT.md §15).
#[derive(Debug, Clone)]
pub struct ExpectedRecord {
    pub meeting: ulid::Ulid,
    pub key_sha256: String,
    pub pieces: Vec<ExpectedObject>,
    /// Whether a signed checkpoint covers the entry that names it: until one
    /// does, the object matching it proves nothing ("pending").
    pub signed: bool,
    /// A signed `record.shredded` entry names it: its key must be gone (the
    /// deletion itself is judged by the retention rules).
    pub shredded: bool,
    /// A `record.shredded` entry no signed checkpoint covers yet names it.
    pub shred_unsigned: Option<u64>,
}

/// Replays the `record.<class>.stored` entries into the record objects the
/// store must hold; malformed or repeated ones are problems.
pub fn replay_records<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
    signed: u64,
) -> (HashMap<crate::id::RecordObjectId, ExpectedRecord>, Vec<String>) {
    let mut out = HashMap::new();
    let mut problems = Vec::new();
    for e in entries {
        if e.action == "record.shredded" {
            if let Err(p) = shred_records(&mut out, e, signed) {
                problems.push(format!("ledger entry {} ({}): {p}", e.seq, e.action));
            }
            continue;
        }
        if !crate::record::is_stored_action(&e.action) {
            continue;
        }
        let parsed = (|| {
            let meeting = e
                .subject
                .strip_prefix("meeting/")
                .and_then(|m| crate::id::parse_ulid("meeting", m).ok())
                .ok_or("subject names no meeting")?;
            let meta = crate::record::RecordMeta::from_data(&e.data)?;
            if out.contains_key(&meta.object) {
                return Err(format!("record object {} stored twice", meta.object));
            }
            let pieces = meta.chunks.iter().map(|c| ExpectedObject { len: c.len, sha256: c.sha256.clone() }).collect();
            Ok::<_, String>((
                meta.object,
                ExpectedRecord {
                    meeting,
                    key_sha256: meta.key_sha256,
                    pieces,
                    signed: e.seq < signed,
                    shredded: false,
                    shred_unsigned: None,
                },
            ))
        })();
        match parsed {
            Ok((object, r)) => {
                out.insert(object, r);
            }
            Err(p) => problems.push(format!("ledger entry {} ({}): {p}", e.seq, e.action)),
        }
    }
    (out, problems)
}

/// Marks the objects a `record.shredded` entry names: each must have been
/// stored under that meeting before.
fn shred_records(
    out: &mut HashMap<crate::id::RecordObjectId, ExpectedRecord>,
    e: &Entry,
    signed: u64,
) -> Result<(), String> {
    let meeting = e
        .subject
        .strip_prefix("meeting/")
        .and_then(|m| crate::id::parse_ulid("meeting", m).ok())
        .ok_or("subject names no meeting")?;
    let objects = e.data.get("objects").and_then(|o| o.as_array()).ok_or("names no objects")?;
    for o in objects {
        let id: crate::id::RecordObjectId =
            o.as_str().and_then(|o| o.parse().ok()).ok_or_else(|| format!("a malformed object id {o}"))?;
        let r = out
            .get_mut(&id)
            .filter(|r| r.meeting == meeting)
            .ok_or_else(|| format!("shreds record object {id}, which was never stored under meeting {meeting}"))?;
        if e.seq < signed {
            r.shredded = true;
        } else {
            r.shred_unsigned.get_or_insert(e.seq);
        }
    }
    Ok(())
}

pub(crate) fn parse_subject(subject: &str) -> Option<(RecordingId, Option<StreamName>)> {
    let rest = subject.strip_prefix("recording/")?;
    match rest.split_once('/') {
        None => Some((rest.parse().ok()?, None)),
        Some((rec, stream)) => Some((rec.parse().ok()?, Some(stream.parse().ok()?))),
    }
}

fn field<'a>(e: &'a Entry, name: &str) -> Result<&'a serde_json::Value, String> {
    e.data.get(name).ok_or_else(|| format!("data lacks {name:?}"))
}
fn str_field(e: &Entry, name: &str) -> Result<String, String> {
    field(e, name)?.as_str().map(String::from).ok_or_else(|| format!("{name:?} is not a string"))
}
fn u64_field(e: &Entry, name: &str) -> Result<u64, String> {
    field(e, name)?.as_u64().ok_or_else(|| format!("{name:?} is not a number"))
}

fn apply(recs: &mut HashMap<RecordingId, Expected>, e: &Entry, signed: bool) -> Result<(), String> {
    let Some((rec, stream)) = parse_subject(&e.subject) else {
        return Ok(()); // not about a recording
    };
    let media = |s: Option<StreamName>| match s {
        Some(StreamName::Media(id)) => Ok(id),
        _ => Err("subject names no media stream".to_string()),
    };
    match e.action.as_str() {
        "recording.started" => {
            let r = recs.entry(rec).or_default();
            if r.started {
                return Err("recording started twice".into());
            }
            r.started = true;
        }
        "stream.opened" => {
            let r = open_recording(recs, rec)?;
            let id = media(stream)?;
            if r.streams.contains_key(&id) {
                return Err("stream opened twice".into());
            }
            let key = KeyGeneration { generation: 0, sha256: str_field(e, "key_sha256")?, signed };
            r.keys.insert(StreamName::Media(id), vec![key]);
            r.streams.insert(id, ExpectedStream::default());
        }
        "chunk.stored" => {
            let s = open_stream(recs, rec, media(stream)?)?;
            let index = u64_field(e, "index")?;
            if index != s.chunks.len() as u64 {
                return Err(format!("chunk {index} stored where chunk {} belongs", s.chunks.len()));
            }
            s.chunks.push(ExpectedObject { len: u64_field(e, "len")?, sha256: str_field(e, "sha256")? });
        }
        "stream.closed" => {
            let s = open_stream(recs, rec, media(stream)?)?;
            let state = StreamState::parse(&str_field(e, "state")?).ok_or("unknown stream state")?;
            if u64_field(e, "chunks")? != s.chunks.len() as u64 {
                return Err("closed with a chunk count that differs from the chunks stored".into());
            }
            s.closed = Some((state, u64_field(e, "length")?));
        }
        "recording.sealed" => {
            let r = open_recording(recs, rec)?;
            if r.streams.values().any(|s| s.closed.is_none()) {
                return Err("sealed while a stream was open".into());
            }
            r.sealed = Some(str_field(e, "manifest_sha256")?);
            r.sealed_seq = Some(e.seq);
        }
        "transcript.stored" => {
            let r = recs
                .get_mut(&rec)
                .filter(|r| r.sealed.is_some())
                .ok_or("transcript for a recording that is not sealed")?;
            r.transcript = Some(ExpectedObject { len: u64_field(e, "len")?, sha256: str_field(e, "sha256")? });
            let key = KeyGeneration { generation: 0, sha256: str_field(e, "key_sha256")?, signed };
            r.keys.insert(StreamName::Transcript, vec![key]);
        }
        "recording.shredded" => {
            let r =
                recs.get_mut(&rec).filter(|r| r.sealed.is_some()).ok_or("shred of a recording that is not sealed")?;
            if signed {
                r.shredded = true;
            } else {
                r.shred_unsigned.get_or_insert(e.seq);
            }
        }
        "keys.rewrapped" => rewrapped(recs, rec, stream, e, signed)?,
        _ => {}
    }
    Ok(())
}

/// A `keys.rewrapped` entry: the stream's key, re-wrapped by a KEK retirement, as
/// a new generation of its key object (`generation`, `key_sha256`).
fn rewrapped(
    recs: &mut HashMap<RecordingId, Expected>,
    rec: RecordingId,
    stream: Option<StreamName>,
    e: &Entry,
    signed: bool,
) -> Result<(), String> {
    let r = recs.get_mut(&rec).ok_or("re-wrapped a key of a recording that was never started")?;
    if r.shredded {
        return Err("re-wrapped a key of a shredded recording".into());
    }
    let name = stream.ok_or("subject names no stream")?;
    let gens = r.keys.get_mut(&name).ok_or("re-wrapped a key the ledger never recorded")?;
    let generation = u32::try_from(u64_field(e, "generation")?).map_err(|_| "generation out of range")?;
    if gens.last().is_some_and(|g| g.generation >= generation) {
        return Err(format!(
            "generation {generation} does not follow generation {}",
            gens.last().map_or(0, |g| g.generation)
        ));
    }
    gens.push(KeyGeneration { generation, sha256: str_field(e, "key_sha256")?, signed });
    Ok(())
}

fn open_recording(recs: &mut HashMap<RecordingId, Expected>, rec: RecordingId) -> Result<&mut Expected, String> {
    match recs.get_mut(&rec) {
        Some(r) if r.sealed.is_some() => Err("recording changed after it was sealed".into()),
        Some(r) => Ok(r),
        None => Err("recording was never started".into()),
    }
}

fn open_stream(
    recs: &mut HashMap<RecordingId, Expected>,
    rec: RecordingId,
    id: StreamId,
) -> Result<&mut ExpectedStream, String> {
    let s = open_recording(recs, rec)?.streams.get_mut(&id).ok_or("stream was never opened")?;
    if s.closed.is_some() {
        return Err("stream changed after it was closed".into());
    }
    Ok(s)
}

/// Verifies the ledger alone (batches, chain, checkpoints, trusted checkpoint) and
/// returns its entries, for tools that read the log.
pub async fn verify_ledger(
    store: &Store,
    key: &VerifierKey,
    opts: &Options,
) -> Result<(Report, Vec<Entry>), VerifyError> {
    let mut report = Report { store: store.describe(), ..Default::default() };
    let mut listing = store.list("ledger/").await?;
    listing.extend(store.list("checkpoints/").await?);
    let (entries, signed) = check_ledger(store, key, opts, &listing, &mut report).await?;
    check_times(&entries, &signed, &mut report);
    Ok((report, entries))
}

/// Verifies a whole store.
pub async fn verify_store(store: &Store, key: &VerifierKey, opts: Options) -> Result<Report, VerifyError> {
    Ok(verify_store_entries(store, key, opts).await?.0)
}

/// [`verify_store`], also returning the ledger entries it checked (every entry up
/// to the first break in the chain), for restoring a catalog from them.
pub async fn verify_store_entries(
    store: &Store,
    key: &VerifierKey,
    opts: Options,
) -> Result<(Report, Vec<Entry>), VerifyError> {
    let mut report = Report { store: store.describe(), ..Default::default() };
    let listing = store.list("").await?;
    let (entries, signed_checkpoints) = check_ledger(store, key, &opts, &listing, &mut report).await?;
    check_times(&entries, &signed_checkpoints, &mut report);
    let signed = report.newest_checkpoint_size.unwrap_or(0);
    let (expected, problems) = replay(&entries, signed);
    report.problems.extend(problems);
    let (records, problems) = replay_records(&entries, signed);
    report.problems.extend(problems);
    check_seals_signed(&expected, &mut report);
    for r in expected.values() {
        if r.sealed.is_some() {
            report.recordings_sealed += 1;
        } else {
            report.recordings_open += 1;
        }
    }
    let (tiles_and_cosigned, content): (Vec<ObjectMeta>, Vec<ObjectMeta>) = listing
        .into_iter()
        .filter(|o| !matches!(ObjectKey::classify(&o.key), ObjectKind::LedgerBatch(..) | ObjectKind::Checkpoint(_)))
        .partition(|o| ObjectKey::classify_evidence(&o.key).is_some());
    let evidence = &entries[..(signed as usize).min(entries.len())];
    let announced = announced_format(evidence);
    crate::evidence_check::check(store, &entries, &signed_checkpoints, key, &opts, tiles_and_cosigned, &mut report)
        .await;
    let named = match opts.selection {
        crate::sample::Selection::All => None,
        _ => Some(named_with_times(&entries)),
    };
    check_objects(store, &expected, &records, content, &opts, named.as_ref(), &mut report).await;
    if let Some((version, seq)) = announced.filter(|(v, _)| *v > crate::format::STORE) {
        // Objects this build cannot place were written by a later storage format.
        for f in report.findings.iter_mut().filter(|f| f.kind == "unknown") {
            f.verdict = Verdict::Unsupported(format!(
                "the ledger announces storage format v{version} (entry {seq}); this niem knows v{}; upgrade niem",
                crate::format::STORE
            ));
        }
    }
    judge_deletions(evidence, &mut report);
    report.host_actions = evidence
        .iter()
        .filter(|e| e.actor == crate::ledger::ACTOR_HOST)
        .map(|e| format!("entry {} {} {}", e.seq, e.action, e.subject))
        .collect();
    Ok((report, entries))
}

/// The newest storage format the signed ledger announces (`store.format`), and where.
fn announced_format(evidence: &[Entry]) -> Option<(u32, u64)> {
    evidence
        .iter()
        .filter(|e| e.action == "store.format")
        .filter_map(|e| Some((u32::try_from(e.data.get("version")?.as_u64()?).ok()?, e.seq)))
        .max()
}

/// Lawful deletions are reported as such; unlawful ones are problems. `evidence`
/// must be signed entries only.
fn judge_deletions(evidence: &[Entry], report: &mut Report) {
    let model = crate::retention::Retention::replay(evidence);
    report.deletions = crate::deletion::judge(&model);
    report.deletions.sort_by(|a, b| a.recording.cmp(&b.recording));
    report.warnings.extend(model.admins.unapproved.iter().cloned());
    for d in report.deletions.iter().filter(|d| !d.lawful) {
        let what = match d.class {
            crate::retention::Class::Media => "recording",
            crate::retention::Class::Record => "the record of meeting",
        };
        report.problems.push(format!("UNLAWFUL deletion of {what} {}: {}", d.recording, d.reason));
    }
}

/// Entry times: none may be later than the checkpoint that covers it (a signer
/// vouches for what it had seen by then). One earlier than the entry before it is
/// only a warning: releases before v0.3 took the time outside the ledger's
/// transaction, so two concurrent commits could land out of time order.
fn check_times(entries: &[Entry], signed: &[(u64, time::OffsetDateTime, String)], report: &mut Report) {
    let mut newest: Option<time::OffsetDateTime> = None;
    let mut covering = signed.iter().peekable();
    for e in entries {
        let Ok(ts) = crate::clock::parse_ts(&e.ts) else {
            report.problems.push(format!("ledger entry {} ({}) has a malformed time {:?}", e.seq, e.action, e.ts));
            continue;
        };
        if newest.is_some_and(|n| ts < n) {
            report.warnings.push(format!(
                "ledger entry {} ({}) is dated {}, earlier than an entry before it",
                e.seq, e.action, e.ts
            ));
        }
        newest = newest.max(Some(ts));
        while covering.next_if(|(size, ..)| *size <= e.seq).is_some() {}
        if let Some((size, at, text)) = covering.peek() {
            if ts > *at {
                report.problems.push(format!(
                    "ledger entry {} ({}) is dated {}, after the checkpoint that covers it (size {size}) was signed at {text}",
                    e.seq, e.action, e.ts
                ));
            }
        }
    }
}

/// Sealing always signs a checkpoint, so a sealed recording that no valid
/// checkpoint covers means checkpoints were removed or forged.
fn check_seals_signed(expected: &HashMap<RecordingId, Expected>, report: &mut Report) {
    let signed = report.newest_checkpoint_size.unwrap_or(0);
    let mut uncovered: Vec<(u64, RecordingId)> = expected
        .iter()
        .filter_map(|(rec, r)| r.sealed_seq.filter(|&seq| seq >= signed).map(|seq| (seq, *rec)))
        .collect();
    uncovered.sort();
    for (seq, rec) in uncovered {
        report.problems.push(format!("recording {rec} was sealed at entry {seq}, but no valid checkpoint covers it"));
    }
}

/// Verifies one recording's objects against the given ledger entries (the service
/// passes its catalog's entries about the recording, and the retention entries
/// that judge its deletion; the auditor's path is [`verify_store`]). Entries from
/// `signed` on are treated as unsigned.
pub async fn verify_recording(
    store: &Store,
    rec: RecordingId,
    entries: &[Entry],
    signed: u64,
) -> Result<Report, VerifyError> {
    let mut report = Report { store: store.describe(), entries: entries.len() as u64, ..Default::default() };
    let own = entries.iter().filter(|e| parse_subject(&e.subject).is_some_and(|(r, _)| r == rec));
    let (expected, problems) = replay(own, signed);
    report.problems.extend(problems);
    let mut listing = store.list(&format!("recordings/{rec}/")).await?;
    listing.extend(store.list(&format!("keys/{rec}/")).await?);
    let opts = Options { parallelism: 4, ..Default::default() };
    check_objects(store, &expected, &HashMap::new(), listing, &opts, None, &mut report).await;
    let evidence: Vec<Entry> = entries.iter().filter(|e| e.seq < signed).cloned().collect();
    judge_deletions(&evidence, &mut report);
    report.deletions.retain(|d| d.recording == rec.to_string());
    report.problems.retain(|p| !p.starts_with("UNLAWFUL") || p.contains(&rec.to_string()));
    Ok(report)
}

/// A valid checkpoint: its size, time, and the time as written.
type Signed = (u64, time::OffsetDateTime, String);

async fn check_ledger(
    store: &Store,
    key: &VerifierKey,
    opts: &Options,
    listing: &[ObjectMeta],
    report: &mut Report,
) -> Result<(Vec<Entry>, Vec<Signed>), VerifyError> {
    let mut batches: Vec<(u64, u64, &ObjectMeta)> = Vec::new();
    let mut checkpoints: Vec<(u64, &ObjectMeta)> = Vec::new();
    for o in listing {
        match ObjectKey::classify(&o.key) {
            ObjectKind::LedgerBatch(first, last) => batches.push((first, last, o)),
            ObjectKind::Checkpoint(seq) => checkpoints.push((seq, o)),
            _ => {}
        }
    }
    batches.sort_by_key(|&(first, last, _)| (first, last));

    // Entries, in order, each checked against its predecessor.
    let mut entries: Vec<Entry> = Vec::new();
    let mut prev = ZERO;
    for (first, last, obj) in batches {
        let next = entries.len() as u64;
        if first < next {
            report.object(
                &obj.key,
                "ledger",
                Verdict::Invalid(format!("overlaps entries already covered up to {}", next - 1)),
            );
            continue;
        }
        if first > next {
            report
                .problems
                .push(format!("gap: ledger entries {next}..={} are missing (no batch covers them)", first - 1));
            break;
        }
        let body = store.get(&obj.key).await?;
        let parsed = match parse_batch(&body, first) {
            Ok(p) => p,
            Err(e) => {
                let verdict = match newer_ledger_format(&body) {
                    Some(version) => Verdict::Unsupported(
                        crate::format::FormatError::Newer { object: obj.key.clone(), version }.reason(),
                    ),
                    None => Verdict::Invalid(e.to_string()),
                };
                report.object(&obj.key, "ledger", verdict);
                break;
            }
        };
        if parsed.len() as u64 != last - first + 1 {
            report.object(
                &obj.key,
                "ledger",
                Verdict::Invalid(format!("named for {} entries, holds {}", last - first + 1, parsed.len())),
            );
        }
        let mut verdict = Verdict::Valid;
        for (i, e) in parsed.into_iter().enumerate() {
            if let Err(err) = e.check(first + i as u64, &prev) {
                if verdict == Verdict::Valid {
                    verdict = Verdict::Invalid(err.to_string());
                }
            }
            prev = e.hash;
            entries.push(e);
        }
        report.object(&obj.key, "ledger", verdict);
        if entries.len() as u64 != last + 1 {
            break; // a short batch leaves a gap; later batches cannot link
        }
    }
    report.entries = entries.len() as u64;

    // Merkle roots at every checkpointed size.
    let mut signed: Vec<(u64, Checkpoint, &ObjectMeta)> = Vec::new();
    for (seq, obj) in checkpoints {
        let body = store.get(&obj.key).await?;
        match Checkpoint::open_stored(&body, key) {
            Err(CheckpointError::Format(e)) if e.is_newer() => {
                report.object(&obj.key, "checkpoint", Verdict::Unsupported(e.reason()))
            }
            Err(e) => report.object(&obj.key, "checkpoint", Verdict::Invalid(e.to_string())),
            Ok(cp) if cp.size != seq + 1 => report.object(
                &obj.key,
                "checkpoint",
                Verdict::Invalid(format!("named for entry {seq} but covers {} entries", cp.size)),
            ),
            Ok(cp) => signed.push((seq, cp, obj)),
        }
    }
    signed.sort_by_key(|(seq, ..)| *seq);
    let mut want: BTreeMap<u64, [u8; 32]> = BTreeMap::new();
    for (_, cp, _) in &signed {
        want.insert(cp.size, [0; 32]);
    }
    if let Some(t) = &opts.trusted {
        want.insert(t.size, [0; 32]);
    }
    let mut tree = CompactTree::new();
    for e in &entries {
        tree.push(&e.hash);
        if let Some(root) = want.get_mut(&tree.size()) {
            *root = tree.root();
        }
    }
    let total = entries.len() as u64;
    let mut newest_valid: Option<&Checkpoint> = None;
    let mut valid: Vec<Signed> = Vec::new();
    let mut last_time = time::OffsetDateTime::UNIX_EPOCH;
    for (_, cp, obj) in &signed {
        // Checkpoint::open checked that the time parses.
        let time = crate::clock::parse_ts(&cp.time).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let verdict = if cp.size > total {
            report.problems.push(format!(
                "ledger truncated: checkpoint {} names {} entries, the store holds {total}",
                obj.key, cp.size
            ));
            Verdict::Valid
        } else if want[&cp.size] != cp.root {
            Verdict::Invalid(format!(
                "signed root does not match ledger entries 0..{}: entries were rewritten",
                cp.size
            ))
        } else if time < last_time {
            Verdict::Invalid(format!("time {} is earlier than the checkpoint before it", cp.time))
        } else {
            Verdict::Valid
        };
        last_time = time;
        if verdict == Verdict::Valid && cp.size <= total {
            newest_valid = Some(cp);
            valid.push((cp.size, time, cp.time.clone()));
        }
        report.object(&obj.key, "checkpoint", verdict);
    }
    report.checkpoints = signed.len() as u64;
    // Entries no valid checkpoint covers yet are reported, not failed: a young
    // ledger has them. Sealed recordings must be covered (see `check_seals_signed`).
    report.newest_checkpoint_size = newest_valid.map(|cp| cp.size);
    report.newest_checkpoint_time = newest_valid.map(|cp| cp.time.clone());
    report.unsigned_entries = total - newest_valid.map_or(0, |cp| cp.size);
    if let Some(t) = &opts.trusted {
        if t.size > total {
            report.problems.push(format!(
                "rollback: the trusted checkpoint ({}) names {} entries, the store holds only {total}",
                t.time, t.size
            ));
        } else if want[&t.size] != t.root {
            report.problems.push(format!(
                "fork: the ledger's first {} entries differ from the trusted checkpoint ({})",
                t.size, t.time
            ));
        }
    }
    Ok((entries, valid))
}

/// The version of a batch written in a later ledger format: v1 entries have no
/// `format` field, and a later format marks each entry with one (see [`crate::format`]).
fn newer_ledger_format(body: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(body).ok()?;
    text.lines().find_map(|line| {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        crate::format::version_of(v.get("format")?.as_str()?, "ledger").filter(|&n| n > crate::format::VERSION)
    })
}

/// The objects a recording that is not lawfully shredded must hold: every key
/// object a signed entry makes current (and any newer one an unsigned entry
/// adds), every chunk, the manifest once sealed, the transcript once stored.
fn must_exist(rec: RecordingId, r: &Expected) -> Vec<ObjectKey> {
    let mut must = Vec::new();
    for (&name, gens) in &r.keys {
        let current = r.current_key(name).map_or(0, |g| g.generation);
        must.extend(
            gens.iter().filter(|g| g.generation >= current).map(|g| ObjectKey::dek_gen(rec, name, g.generation)),
        );
    }
    for (&sid, s) in &r.streams {
        must.extend((0..s.chunks.len() as u32).map(|i| ObjectKey::chunk(rec, sid, i)));
    }
    if r.sealed.is_some() {
        must.push(ObjectKey::manifest(rec));
    }
    if r.transcript.is_some() {
        must.push(ObjectKey::transcript(rec));
    }
    must
}

/// A content object to fetch and hash, with what it must be.
struct Job {
    key: String,
    kind: &'static str,
    expected: ExpectedObject,
    /// Named only by an entry no signed checkpoint covers (record objects).
    unsigned: bool,
}

/// The objects the ledger names, with the seq and time of the entry that names them.
fn named_with_times(entries: &[Entry]) -> HashMap<String, (u64, Option<OffsetDateTime>)> {
    let at = |seq: u64| {
        let e = usize::try_from(seq).ok().and_then(|i| entries.get(i)).filter(|e| e.seq == seq);
        e.and_then(|e| crate::clock::parse_ts(&e.ts).ok())
    };
    crate::sample::objects_named(entries).into_iter().map(|(k, seq)| (k, (seq, at(seq)))).collect()
}

#[allow(clippy::too_many_arguments)]
async fn check_objects(
    store: &Store,
    expected: &HashMap<RecordingId, Expected>,
    records: &HashMap<crate::id::RecordObjectId, ExpectedRecord>,
    listing: Vec<ObjectMeta>,
    opts: &Options,
    named: Option<&HashMap<String, (u64, Option<OffsetDateTime>)>>,
    report: &mut Report,
) {
    let mut jobs = Vec::new();
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut population = 0u64;
    for o in &listing {
        seen.insert(o.key.clone());
        let (label, judged, unsigned) = match ObjectKey::classify_record(&o.key) {
            Some(kind) => {
                let (judged, unsigned) = classify_record_against(records, kind, o);
                (kind.label(), judged, unsigned)
            }
            None => {
                let kind = ObjectKey::classify(&o.key);
                (kind.label(), classify_against(expected, kind, o), false)
            }
        };
        match judged {
            Ok(Some(exp)) => {
                population += 1;
                // Unselected objects are listed and size-checked, not fetched.
                let at = named.and_then(|n| n.get(&o.key).copied());
                if named.is_none() || opts.selection.selects(&o.key, at.map(|a| a.0), at.and_then(|a| a.1)) {
                    jobs.push(Job { key: o.key.clone(), kind: label, expected: exp, unsigned });
                }
            }
            Ok(None) => {}
            Err(verdict) => report.object(&o.key, label, verdict),
        }
    }
    if named.is_some() {
        let statement = match &opts.selection {
            crate::sample::Selection::Sample { rate, .. } => {
                Some(crate::sample::confidence(population, *rate, 0.99).statement())
            }
            _ => None,
        };
        report.sample = Some(SampleReport { fetched: jobs.len() as u64, population, statement });
    }
    // Everything the ledger says must exist.
    let mut recs: Vec<_> = expected.iter().collect();
    recs.sort_by_key(|(id, _)| **id);
    for (&rec, r) in recs {
        if r.shredded {
            continue; // lawful deletion is judged by the retention rules
        }
        let missing = match r.shred_unsigned {
            Some(seq) => format!("deleted; the shred at entry {seq} is not under a signed checkpoint"),
            None => "missing: the ledger records it, the store does not have it".to_string(),
        };
        for key in must_exist(rec, r) {
            if !seen.contains(key.as_str()) {
                let kind = ObjectKey::classify(key.as_str()).label();
                report.object(key.as_str(), kind, Verdict::Invalid(missing.clone()));
            }
        }
    }
    // Every record object the ledger names, but those a signed shred deleted.
    let mut objects: Vec<_> = records.iter().filter(|(_, r)| !r.shredded).collect();
    objects.sort_by_key(|(id, _)| **id);
    for (&object, r) in objects {
        let mut must: Vec<(ObjectKey, &'static str)> = vec![(ObjectKey::record_key(r.meeting, object), "record key")];
        must.extend((0..r.pieces.len() as u32).map(|i| (ObjectKey::record_piece(r.meeting, object, i), "record")));
        let why = match r.shred_unsigned {
            Some(seq) => format!("deleted; the shred at entry {seq} is not under a signed checkpoint"),
            None => "missing: the ledger records it, the store does not have it".to_string(),
        };
        for (key, kind) in must {
            if !seen.contains(key.as_str()) {
                report.object(key.as_str(), kind, Verdict::Invalid(why.clone()));
            }
        }
    }
    // Fetch and hash in parallel.
    let total: u64 = jobs.iter().map(|j| j.expected.len).sum();
    let done = Arc::new(AtomicU64::new(0));
    let parallelism = opts.parallelism.max(1);
    // Per job: Ok(the body, kept for manifests) or Err(why it is invalid).
    type Checked = (Job, Result<Option<Vec<u8>>, String>);
    let results: Vec<Checked> = futures::stream::iter(jobs)
        .map(|job| {
            let store = store.clone();
            let done = done.clone();
            let progress = opts.progress.clone();
            async move {
                // Manifests are kept to be read; every other object is hashed as it streams.
                let fetched = if job.kind == "manifest" {
                    store.get(&job.key).await.map(|body| (crate::sha256_hex(&body), Some(body.to_vec())))
                } else {
                    store.digest(&job.key).await.map(|(sha, _)| (sha, None))
                };
                let result = match fetched {
                    Err(e) => Err(e.to_string()),
                    Ok(hashed) => Ok::<_, String>(hashed).and_then(|(sha, body)| {
                        if sha == job.expected.sha256 {
                            Ok(body)
                        } else {
                            Err(format!(
                                "content differs from the ledger: sha256 {sha}, ledger says {}",
                                job.expected.sha256
                            ))
                        }
                    }),
                };
                let so_far = done.fetch_add(job.expected.len, Ordering::Relaxed) + job.expected.len;
                if let Some(p) = progress {
                    p(so_far, total);
                }
                (job, result)
            }
        })
        .buffer_unordered(parallelism)
        .collect()
        .await;
    report.bytes_hashed += total;
    for (job, result) in results {
        let verdict = match result {
            Err(reason) => Verdict::Invalid(reason),
            Ok(Some(body)) => check_manifest(expected, &job.key, &body),
            Ok(None) if job.unsigned => {
                Verdict::Pending("matches its ledger entry, which no signed checkpoint covers yet: not proven".into())
            }
            Ok(None) => Verdict::Valid,
        };
        report.object(job.key, job.kind, verdict);
    }
    report.findings.sort_by(|a, b| a.object.cmp(&b.object));
}

/// Decides what one listed object must be. `Ok(Some)` = hash it against this;
/// `Ok(None)` = nothing to check; `Err` = already judged.
fn classify_against(
    expected: &HashMap<RecordingId, Expected>,
    kind: ObjectKind,
    o: &ObjectMeta,
) -> Result<Option<ExpectedObject>, Verdict> {
    let unledgered = || Verdict::Invalid("not in the ledger: a stray or unrecorded object".into());
    let size_check = |exp: ExpectedObject| {
        if exp.len != o.size {
            Err(Verdict::Invalid(format!("length {} differs from the ledger's {}", o.size, exp.len)))
        } else {
            Ok(Some(exp))
        }
    };
    match kind {
        ObjectKind::Chunk(rec, sid, i) => {
            let r = expected.get(&rec).ok_or_else(unledgered)?;
            match r.streams.get(&sid).and_then(|s| s.chunks.get(i as usize)) {
                Some(exp) => size_check(exp.clone()),
                None if r.shredded => Ok(None),
                None if r.sealed.is_none() && r.streams.get(&sid).is_some_and(|s| s.closed.is_none()) => {
                    Err(Verdict::Pending("stored; its ledger entry is not yet in the store".into()))
                }
                None => Err(unledgered()),
            }
        }
        ObjectKind::Dek(rec, name, generation) => classify_key(expected, rec, name, generation, o),
        ObjectKind::Transcript(rec) => {
            let exp = expected.get(&rec).and_then(|r| r.transcript.clone()).ok_or_else(unledgered)?;
            size_check(exp)
        }
        ObjectKind::Manifest(rec) => {
            let sha = expected
                .get(&rec)
                .and_then(|r| r.sealed.clone())
                .ok_or_else(|| Verdict::Invalid("manifest of a recording the ledger does not show sealed".into()))?;
            Ok(Some(ExpectedObject { len: o.size, sha256: sha }))
        }
        ObjectKind::LedgerBatch(..) | ObjectKind::Checkpoint(_) => Ok(None),
        ObjectKind::Unknown => Err(Verdict::Invalid("stray object: not part of the storage format".into())),
    }
}

/// What one listed meeting-record object must be, and whether the entry that
/// names it is still unsigned.
fn classify_record_against(
    records: &HashMap<crate::id::RecordObjectId, ExpectedRecord>,
    kind: crate::layout::RecordKind,
    o: &ObjectMeta,
) -> (Result<Option<ExpectedObject>, Verdict>, bool) {
    use crate::layout::RecordKind;
    let unledgered = || Verdict::Invalid("not in the ledger: a stray or unrecorded object".into());
    let (meeting, object) = match kind {
        RecordKind::Piece(m, ob, _) | RecordKind::Key(m, ob) => (m, ob),
    };
    let Some(r) = records.get(&object) else { return (Err(unledgered()), false) };
    if r.meeting != meeting {
        return (Err(Verdict::Invalid(format!("the ledger stores this object under meeting {}", r.meeting))), false);
    }
    if r.shredded {
        return match kind {
            RecordKind::Key(..) => (
                Err(Verdict::Invalid(
                    "a key survived the shred of its record object: the content is still readable".into(),
                )),
                false,
            ),
            // A piece kept (by Object Lock, say) is unreadable without its key.
            RecordKind::Piece(..) => (Ok(None), false),
        };
    }
    let exp = match kind {
        RecordKind::Key(..) => Some(ExpectedObject { len: o.size, sha256: r.key_sha256.clone() }),
        RecordKind::Piece(_, _, i) => r.pieces.get(i as usize).cloned(),
    };
    let judged = match exp {
        None => Err(unledgered()),
        Some(exp) if exp.len != o.size => {
            Err(Verdict::Invalid(format!("length {} differs from the ledger's {}", o.size, exp.len)))
        }
        Some(exp) => Ok(Some(exp)),
    };
    (judged, !r.signed)
}

/// What a wrapped-key object must be.
fn classify_key(
    expected: &HashMap<RecordingId, Expected>,
    rec: RecordingId,
    name: StreamName,
    generation: u32,
    o: &ObjectMeta,
) -> Result<Option<ExpectedObject>, Verdict> {
    let unledgered = || Verdict::Invalid("not in the ledger: a stray or unrecorded object".into());
    let r = expected.get(&rec).ok_or_else(unledgered)?;
    if r.shredded {
        return Err(Verdict::Invalid(format!(
            "a key (generation {generation}) survived the shred of its recording: the content is still readable with its KEK"
        )));
    }
    let gens = r.keys.get(&name);
    if let Some(g) = gens.and_then(|g| g.iter().find(|g| g.generation == generation)) {
        return Ok(Some(ExpectedObject { len: o.size, sha256: g.sha256.clone() }));
    }
    let next = gens.and_then(|g| g.last()).map(|g| g.generation + 1);
    match name {
        // A retirement stores the re-wrapped key just before it ledgers it.
        _ if generation > 0 && next == Some(generation) => {
            Err(Verdict::Pending("a re-wrapped key whose ledger entry is not yet in the store".into()))
        }
        StreamName::Media(_) if generation == 0 && r.sealed.is_none() => {
            Err(Verdict::Pending("stored; its stream is not yet in the ledger".into()))
        }
        // The transcript's key is stored just before the transcript is recorded.
        StreamName::Transcript if generation == 0 && r.sealed.is_some() && r.transcript.is_none() => {
            Err(Verdict::Pending("the key of a transcript not yet recorded".into()))
        }
        _ => Err(unledgered()),
    }
}

/// A manifest whose hash matched must also agree with the ledger in every detail.
fn check_manifest(expected: &HashMap<RecordingId, Expected>, key: &str, body: &[u8]) -> Verdict {
    // Its hash matched the ledger, so a later version here was written by the
    // service that ledgered it, not by someone altering the store.
    let m = match Manifest::parse(key, body) {
        Ok(m) => m,
        Err(e) if e.is_newer() => return Verdict::Unsupported(e.reason()),
        Err(e) => return Verdict::Invalid(e.reason()),
    };
    let ObjectKind::Manifest(rec) = ObjectKey::classify(key) else {
        return Verdict::Invalid("not a manifest path".into());
    };
    if m.recording != rec {
        return Verdict::Invalid(format!("describes recording {}, stored under {rec}", m.recording));
    }
    let Some(r) = expected.get(&rec) else {
        return Verdict::Invalid("recording is not in the ledger".into());
    };
    if m.streams.len() != r.streams.len() {
        return Verdict::Invalid(format!("lists {} streams, the ledger {}", m.streams.len(), r.streams.len()));
    }
    for s in &m.streams {
        let Some(e) = r.streams.get(&s.id) else {
            return Verdict::Invalid(format!("lists stream {} that the ledger does not", s.id));
        };
        let chunks: Vec<ExpectedObject> =
            s.chunks.iter().map(|c| ExpectedObject { len: c.len, sha256: c.sha256.clone() }).collect();
        if chunks != e.chunks
            || Some(s.key_sha256.as_str()) != r.first_key(StreamName::Media(s.id))
            || Some((s.state, s.length)) != e.closed
        {
            return Verdict::Invalid(format!("stream {} differs from its ledger entries", s.id));
        }
    }
    Verdict::Valid
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::clock::{Clock, SystemClock};
    use crate::keys::{KeyDir, Keys};
    use crate::ledger::NewEntry;
    use crate::store::LocalStore;
    use crate::vault::Vault;
    use bytes::Bytes;

    async fn vault(dir: &std::path::Path) -> (Vault, Arc<Keys>) {
        let catalog = Catalog::open(&dir.join("catalog.db")).unwrap();
        let keys = Arc::new(KeyDir::new(dir.join("keys")).init("niem.test/ledger").unwrap());
        let store: Store = Arc::new(LocalStore::open(dir.join("store")).unwrap());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let mirror = crate::testing::mirror(store.clone(), &catalog, &keys, &clock).await;
        (Vault::new(store, keys.clone(), catalog, clock, mirror, 100), keys)
    }

    async fn verify(vault: &Vault, keys: &Keys) -> Report {
        vault.mirror.flush(true).await.unwrap();
        verify_store(&vault.store, keys.signer.verifier(), Options { parallelism: 2, ..Default::default() })
            .await
            .unwrap()
    }

    /// Objects a newer niem wrote (their hashes in the ledger, or signed) are
    /// reported as not verified, not as tampering; real damage still fails.
    #[tokio::test]
    async fn objects_of_a_later_format_are_unverified_not_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let (vault, keys) = vault(dir.path()).await;
        vault.seal("system", vault.start_recording("system", "m1", "o", |_, _| Ok(())).await.unwrap()).await.unwrap();
        assert!(verify(&vault, &keys).await.intact());

        // A recording sealed by a newer niem: a v2 manifest, its hash ledgered.
        let rec = vault.start_recording("system", "m2", "o", |_, _| Ok(())).await.unwrap();
        let body = serde_json::to_vec(
            &serde_json::json!({ "format": "niem/manifest/v2", "recording": rec.to_string(), "shards": [] }),
        )
        .unwrap();
        vault.store.put_new(&ObjectKey::manifest(rec), Bytes::from(body.clone())).await.unwrap();
        let data = serde_json::json!({ "manifest_sha256": crate::sha256_hex(&body) });
        vault
            .record(NewEntry {
                actor: "system".into(),
                action: "recording.sealed",
                subject: format!("recording/{rec}"),
                data,
            })
            .await
            .unwrap();
        let report = verify(&vault, &keys).await;
        let manifest = report.findings.iter().find(|f| f.object == ObjectKey::manifest(rec).as_str()).unwrap();
        assert_eq!(
            manifest.verdict,
            Verdict::Unsupported("storage format v2; this niem knows v1; upgrade niem".into())
        );
        assert!(!report.failed(), "{report:?}");
        assert!(!report.intact());
        assert_eq!(report.unsupported(), 1);

        // A checkpoint object, and a ledger batch, of later formats.
        let total = report.entries;
        let cp = serde_json::json!({ "format": "niem/checkpoint/v2", "note": "…" });
        let free_seq = (0..total)
            .find(|s| !report.findings.iter().any(|f| f.object == ObjectKey::checkpoint(*s).as_str()))
            .unwrap();
        vault
            .store
            .put_new(&ObjectKey::checkpoint(free_seq), Bytes::from(serde_json::to_vec(&cp).unwrap()))
            .await
            .unwrap();
        let line = serde_json::json!({ "format": "niem/ledger/v2", "seq": total, "entry": {} }).to_string();
        vault.store.put_new(&ObjectKey::ledger_batch(total, total), Bytes::from(line + "\n")).await.unwrap();
        let report =
            verify_store(&vault.store, keys.signer.verifier(), Options { parallelism: 2, ..Default::default() })
                .await
                .unwrap();
        assert_eq!(report.unsupported(), 3, "{:?}", report.findings);
        assert!(!report.failed(), "{report:?}");

        // Damage anywhere else still fails the store.
        std::fs::write(dir.path().join("store/recordings").join(rec.to_string()).join("stray.bin"), b"x").unwrap();
        let report =
            verify_store(&vault.store, keys.signer.verifier(), Options { parallelism: 2, ..Default::default() })
                .await
                .unwrap();
        assert!(report.failed() && report.unsupported() == 3, "{report:?}");

        // A v2 marker written over a v1 manifest does not match the ledger: tampering.
        let old = report
            .findings
            .iter()
            .find(|f| f.kind == "manifest" && f.verdict == Verdict::Valid)
            .unwrap()
            .object
            .clone();
        let path = dir.path().join("store").join(&old);
        let text = std::fs::read_to_string(&path).unwrap().replace("niem/manifest/v1", "niem/manifest/v2");
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, text).unwrap();
        let report =
            verify_store(&vault.store, keys.signer.verifier(), Options { parallelism: 2, ..Default::default() })
                .await
                .unwrap();
        let f = report.findings.iter().find(|f| f.object == old).unwrap();
        assert!(matches!(&f.verdict, Verdict::Invalid(why) if why.contains("differs from the ledger")), "{f:?}");
    }

    /// What someone with write access to the store and no key can append: entries
    /// that hash and link correctly after the store's last one, as a new batch.
    async fn forge(w: &crate::testing::World, forged: &[(&str, &str, serde_json::Value, time::OffsetDateTime)]) -> u64 {
        w.vault.mirror.flush(true).await.unwrap();
        let (_, entries) = verify_ledger(&w.store, w.keys.signer.verifier(), &Options::default()).await.unwrap();
        let mut prev = entries.last().map_or(ZERO, |e| e.hash);
        let first = entries.len() as u64;
        let mut body = String::new();
        for (i, (action, subject, data, ts)) in forged.iter().enumerate() {
            let mut e = Entry {
                seq: first + i as u64,
                ts: crate::clock::format_ts(*ts),
                actor: "user:a1".into(),
                action: (*action).into(),
                subject: (*subject).into(),
                data: data.clone(),
                prev,
                hash: ZERO,
            };
            e.hash = e.compute_hash();
            prev = e.hash;
            body.push_str(&e.to_line());
            body.push('\n');
        }
        let last = first + forged.len() as u64 - 1;
        w.store.put_new(&ObjectKey::ledger_batch(first, last), Bytes::from(body)).await.unwrap();
        first
    }

    /// Deletes every key and chunk of `rec` straight from the store.
    async fn delete_content(w: &crate::testing::World, rec: RecordingId) {
        for prefix in [format!("keys/{rec}/"), format!("recordings/{rec}/")] {
            for o in w.store.list(&prefix).await.unwrap() {
                if !o.key.ends_with("manifest.json") {
                    std::fs::remove_file(w.store_path(&o.key)).unwrap();
                }
            }
        }
    }

    /// An unsigned "keep 0 days" policy and a shred, dated in the future, appended
    /// by someone without the signing key, then the content deleted: INVALID.
    #[tokio::test]
    async fn an_unsigned_shred_excuses_nothing() {
        let w = crate::testing::World::new().await;
        let rec = w.recording("m1", "c1").await;
        assert!(w.verify().await.intact());
        let later = crate::testing::T0 + time::Duration::days(400);
        let shred_seq = forge(
            &w,
            &[
                (
                    "retention.policy.set",
                    "policy/forged",
                    serde_json::json!({ "org": null, "kind": null, "keep_days": 1 }),
                    later,
                ),
                ("recording.shredded", &format!("recording/{rec}"), serde_json::json!({ "policy": "forged" }), later),
            ],
        )
        .await
            + 1;
        // Before anything is deleted, the unsigned tail is only "not yet signed".
        let opts = Options { parallelism: 2, ..Default::default() };
        let report = verify_store(&w.store, w.keys.signer.verifier(), opts.clone()).await.unwrap();
        assert!(!report.failed(), "{:?}", report.damage());
        assert_eq!(report.unsigned_entries, 2);
        delete_content(&w, rec).await;
        let report = verify_store(&w.store, w.keys.signer.verifier(), opts).await.unwrap();
        assert!(report.failed());
        assert!(report.deletions.is_empty(), "an unsigned shred is no deletion: {:?}", report.deletions);
        let why = format!("deleted; the shred at entry {shred_seq} is not under a signed checkpoint");
        let invalid: Vec<&Finding> =
            report.findings.iter().filter(|f| f.verdict == Verdict::Invalid(why.clone())).collect();
        assert_eq!(invalid.len(), 4, "the key and the three chunks: {:?}", report.findings);
    }

    /// An entry dated after the checkpoint that covers it cannot have been seen
    /// by the signer: the store is INVALID.
    #[tokio::test]
    async fn an_entry_dated_after_its_checkpoint_is_invalid() {
        let w = crate::testing::World::new().await;
        w.recording("m1", "c1").await;
        let seq = w.fact("user:a1", "org.created", "org/c3", serde_json::json!({ "parent": "b" })).await;
        w.vault.mirror.flush(true).await.unwrap();
        // Rewrite that entry's time in the catalog copy and in a re-signed store: a
        // signer never does this, so forge it by signing with the real key.
        let report = w.verify().await;
        assert!(report.intact() && report.warnings.is_empty(), "{:?} {:?}", report.problems, report.warnings);
        let entries = w.vault.catalog.with(|c| crate::ledger::read_range(c, 0, seq + 10)).unwrap();
        let cp_time = time::OffsetDateTime::parse(
            report.newest_checkpoint_time.as_deref().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let mut dated = entries.clone();
        dated[seq as usize].ts = crate::clock::format_ts(cp_time + time::Duration::days(1));
        let signed: Vec<(u64, time::OffsetDateTime, String)> =
            vec![(entries.len() as u64, cp_time, crate::clock::format_ts(cp_time))];
        let mut r = Report::default();
        check_times(&dated, &signed, &mut r);
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert!(r.problems[0].contains(&format!("ledger entry {seq} (org.created) is dated")), "{:?}", r.problems);
        // A time that steps back is a warning, not a failure (older releases).
        let mut back = entries.clone();
        back[seq as usize].ts = "2020-01-01T00:00:00.000Z".into();
        let mut r = Report::default();
        check_times(&back, &signed, &mut r);
        assert!(r.problems.is_empty() && r.warnings.len() == 1, "{:?} {:?}", r.problems, r.warnings);
    }

    /// Commits never step back in time; a checkpoint is never dated before what it
    /// covers: when the clock goes back a second, the mirror waits; days, it
    /// refuses to sign rather than vouch for entries from the future.
    #[tokio::test]
    async fn times_hold_when_the_clock_goes_back() {
        let w = crate::testing::World::new().await;
        w.clock.advance(time::Duration::seconds(1));
        w.fact("user:a1", "org.created", "org/c3", serde_json::json!({ "parent": "b" })).await;
        w.clock.advance(-time::Duration::seconds(1));
        w.fact("user:a1", "org.created", "org/c4", serde_json::json!({ "parent": "b" })).await;
        let report = w.verify().await;
        assert!(report.intact(), "{:?}", report.problems);
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        w.clock.advance(time::Duration::days(3));
        w.fact("user:a1", "org.created", "org/c5", serde_json::json!({ "parent": "b" })).await;
        w.clock.advance(-time::Duration::days(3));
        let err = w.vault.mirror.flush(true).await.unwrap_err();
        assert!(matches!(err, crate::mirror::MirrorError::ClockBehind { .. }), "{err}");
    }

    /// Entries by the host's command line are listed.
    #[tokio::test]
    async fn host_actions_are_listed() {
        let w = crate::testing::World::new().await;
        let seq =
            w.fact(crate::ledger::ACTOR_HOST, "user.created", "user/x", serde_json::json!({ "role": "admin" })).await;
        let report = w.verify().await;
        assert_eq!(report.host_actions, vec![format!("entry {seq} user.created user/x")]);
    }

    /// A store whose signed ledger announces a later storage format: objects this
    /// build cannot place are "not verified", not tampering; damage still fails.
    #[tokio::test]
    async fn objects_of_an_announced_later_format_are_unverified() {
        let w = crate::testing::World::new().await;
        w.recording("m1", "c1").await;
        let stray = "tiles/0/000";
        std::fs::create_dir_all(w.store_path("tiles/0")).unwrap();
        std::fs::write(w.store_path(stray), b"tile").unwrap();
        let report = w.verify().await;
        assert!(report.failed(), "unannounced: a stray object");
        w.fact("system", "store.format", "store", serde_json::json!({ "version": crate::format::STORE + 1 })).await;
        let report = w.verify().await;
        let f = report.findings.iter().find(|f| f.object == stray).unwrap();
        assert!(matches!(&f.verdict, Verdict::Unsupported(why) if why.contains("upgrade niem")), "{f:?}");
        assert!(!report.failed() && !report.intact(), "{:?}", report.damage());
    }

    /// A document stored in the meeting record, ledgered with its hashes.
    async fn stored_document(w: &crate::testing::World, plain: &[u8]) -> (ulid::Ulid, crate::record::RecordMeta) {
        let meeting = ulid::Ulid::new();
        let mut writer = w.vault.begin_record(&meeting.to_string(), 1 << 20).unwrap();
        writer.write(plain).await.unwrap();
        let meta = writer.finish().await.unwrap();
        let entry = NewEntry {
            actor: "user:a1".into(),
            action: "record.document.stored",
            subject: format!("meeting/{meeting}"),
            data: meta.to_data(),
        };
        w.vault.record(entry).await.unwrap();
        (meeting, meta)
    }

    fn finding<'a>(report: &'a Report, key: &ObjectKey) -> &'a Verdict {
        &report
            .findings
            .iter()
            .find(|f| f.object == key.as_str())
            .unwrap_or_else(|| panic!("{key}: {report:?}"))
            .verdict
    }

    /// Record objects verify like a transcript: present, hash-matching, signed.
    #[tokio::test]
    async fn record_objects_verify_and_damage_is_named() {
        let w = crate::testing::World::new().await;
        let (m, meta) = stored_document(&w, &vec![7u8; 2500]).await;
        let report = w.verify().await;
        assert!(report.intact(), "{report:?}");
        let records: Vec<_> = report.findings.iter().filter(|f| f.kind.starts_with("record")).collect();
        assert_eq!(records.len(), 4, "three pieces and the key: {records:?}");
        assert!(records.iter().all(|f| matches!(f.verdict, Verdict::Valid)));

        // A flipped byte in one piece: INVALID, named.
        let piece = ObjectKey::record_piece(m, meta.object, 1);
        let path = w.store_path(piece.as_str());
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[10] ^= 1;
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        let report = w.verify().await;
        assert!(!report.intact());
        assert!(matches!(finding(&report, &piece), Verdict::Invalid(r) if r.contains("differs from the ledger")));

        // A missing key object: INVALID, named.
        let key = ObjectKey::record_key(m, meta.object);
        std::fs::remove_file(w.store_path(key.as_str())).unwrap();
        let report = w.verify().await;
        assert!(matches!(finding(&report, &key), Verdict::Invalid(r) if r.starts_with("missing")));

        // A piece nobody ledgered: a stray.
        let stray = ObjectKey::record_piece(m, meta.object, 9);
        w.store.put_new(&stray, Bytes::from_static(b"x")).await.unwrap();
        let report = w.verify().await;
        assert!(matches!(finding(&report, &stray), Verdict::Invalid(r) if r.contains("not in the ledger")));
    }

    /// Until a signed checkpoint covers its entry, a record object proves nothing.
    #[tokio::test]
    async fn a_record_entry_not_under_a_checkpoint_is_not_proven() {
        let w = crate::testing::World::new().await;
        w.verify().await;
        let (m, meta) = stored_document(&w, b"%PDF-1.7 agenda").await;
        // Mirror the entry without signing a checkpoint over it.
        w.vault.mirror.flush(false).await.unwrap();
        let opts = Options { parallelism: 2, ..Default::default() };
        let report = verify_store(&w.store, w.keys.signer.verifier(), opts).await.unwrap();
        let piece = ObjectKey::record_piece(m, meta.object, 0);
        assert!(matches!(finding(&report, &piece), Verdict::Pending(r) if r.contains("not proven")), "{report:?}");
        // Once signed, it is valid.
        assert!(w.verify().await.intact());
    }
}
