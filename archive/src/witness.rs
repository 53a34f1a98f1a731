//! Witnessing: the rules of a C2SP tlog-witness, the client side a log uses to
//! ask for cosignatures, and the auditor's judgement of a store against what
//! witnesses cosigned.
//!
//! - [`Witness`]: `add-checkpoint` without the HTTP (that is `niem-audit witness
//!   serve`): it checks the log's signature and the consistency proof from the
//!   size it last cosigned, refuses anything else with the status the spec names,
//!   and keeps its latest cosigned checkpoint per log durably in a state directory;
//! - [`AddCheckpoint`], [`submission`], [`accept_cosignature`], [`store_cosigned`]:
//!   what a log sends and does with the answer;
//! - [`judge`]: a store's ledger must extend every checkpoint a witness cosigned;
//!   entries after the newest witnessed one are "not yet witnessed".
//!
//! A witness holds no KEK and sees no content: only checkpoints and proofs.

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::cosign::{CosignedObject, Cosigner, Note, NoteError, WitnessKey, Witnessed};
use crate::keys::VerifierKey;
use crate::layout::ObjectKey;
use crate::ledger::Entry;
use crate::merkle::{CompactTree, Hash};
use crate::proof::{parse_decimal, verify_consistency};
use crate::store::{put_idempotent, ObjectStore, StoreError};
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The most consistency proof lines a request may carry (tlog-witness).
pub const MAX_PROOF_LINES: usize = 63;
/// The format marker of a witness's state file.
pub const STATE_FORMAT: &str = "niem/witness-state/v1";

/// An `add-checkpoint` request body: `old <size>`, proof lines, a blank line,
/// then the checkpoint note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    pub old: u64,
    pub proof: Vec<Hash>,
    pub checkpoint: String,
}

impl AddCheckpoint {
    pub fn encode(&self) -> String {
        let mut out = format!("old {}\n", self.old);
        for h in &self.proof {
            out.push_str(&B64.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    pub fn parse(body: &str) -> Result<Self, Refusal> {
        let bad = |why: &str| Refusal::BadRequest(why.into());
        let (head, checkpoint) = body.split_once("\n\n").ok_or_else(|| bad("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let old = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .and_then(parse_decimal)
            .ok_or_else(|| bad("the first line is not `old <size>`"))?;
        let proof = lines
            .map(|l| {
                B64.decode(l)
                    .ok()
                    .and_then(|b| Hash::try_from(b).ok())
                    .ok_or_else(|| bad("a proof line is not a base64 SHA-256"))
            })
            .collect::<Result<Vec<Hash>, _>>()?;
        if proof.len() > MAX_PROOF_LINES {
            return Err(bad("more than 63 proof lines"));
        }
        Ok(Self { old, proof, checkpoint: checkpoint.into() })
    }
}

/// Why a witness did not cosign, with the HTTP status tlog-witness assigns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unknown log {0:?}")]
    UnknownLog(String),
    #[error("not signed by the log's key: {0}")]
    Unsigned(String),
    /// The old size is not the size this witness last cosigned (a rollback, or
    /// a log that does not know the witness's state): carries that size.
    #[error("the witness's latest checkpoint of this log has {0} entries")]
    Conflict(u64),
    #[error("not consistent with the witnessed log: {0}")]
    Inconsistent(String),
    #[error("the witness cannot keep its state: {0}")]
    State(String),
}

impl Refusal {
    /// The HTTP status tlog-witness prescribes.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadRequest(_) => 400,
            Refusal::Unsigned(_) => 403,
            Refusal::UnknownLog(_) => 404,
            Refusal::Conflict(_) => 409,
            Refusal::Inconsistent(_) => 422,
            Refusal::State(_) => 500,
        }
    }

    /// The response body: the size line a 409 must carry (`text/x.tlog.size`).
    pub fn body(&self) -> String {
        match self {
            Refusal::Conflict(size) => format!("{size}\n"),
            other => format!("{other}\n"),
        }
    }
}

/// What a witness remembers of one log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogState {
    pub format: String,
    pub origin: String,
    pub size: u64,
    /// base64 root at `size`.
    pub root: String,
    /// The checkpoint with the log's signature and this witness's cosignature.
    pub note: String,
}

/// The SHA-256 of a log's origin in lowercase hex: its name in the witness's
/// state directory and in the monitoring URL `GET /<origin hash>/checkpoint`.
pub fn origin_hash(origin: &str) -> String {
    crate::sha256_hex(origin.as_bytes())
}

/// A witness: its key, the logs it follows, and where it keeps their state.
pub struct Witness {
    cosigner: Cosigner,
    logs: HashMap<String, VerifierKey>,
    state_dir: PathBuf,
    /// Checking the old size and saving the new state happen under this lock,
    /// so two requests cannot roll each other back (tlog-witness).
    lock: Mutex<()>,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Witness({}, {} logs)", self.cosigner.key(), self.logs.len())
    }
}

impl Witness {
    pub fn new(
        cosigner: Cosigner,
        logs: impl IntoIterator<Item = VerifierKey>,
        state_dir: impl Into<PathBuf>,
    ) -> std::io::Result<Self> {
        let state_dir = state_dir.into();
        std::fs::create_dir_all(&state_dir)?;
        let logs = logs.into_iter().map(|k| (k.name().to_string(), k)).collect();
        Ok(Self { cosigner, logs, state_dir, lock: Mutex::new(()) })
    }

    pub fn key(&self) -> &WitnessKey {
        self.cosigner.key()
    }

    /// Handles one `add-checkpoint` body at `now` (POSIX seconds) and returns the
    /// response body: this witness's cosignature line.
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Result<String, Refusal> {
        let body = std::str::from_utf8(body).map_err(|_| Refusal::BadRequest("not UTF-8".into()))?;
        let req = AddCheckpoint::parse(body)?;
        let origin = req.checkpoint.split('\n').next().unwrap_or_default();
        let log = self.logs.get(origin).ok_or_else(|| Refusal::UnknownLog(origin.into()))?;
        let cp = Checkpoint::open(&req.checkpoint, log).map_err(|e| match e {
            CheckpointError::Malformed(why) => Refusal::BadRequest(why.into()),
            other => Refusal::Unsigned(other.to_string()),
        })?;
        let mut note = Note::parse(&req.checkpoint).map_err(|e| Refusal::BadRequest(e.to_string()))?;
        if req.old > cp.size {
            return Err(Refusal::BadRequest(format!(
                "old size {} is larger than the checkpoint's {}",
                req.old, cp.size
            )));
        }
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let known = self.read_state(&cp.origin)?;
        let (known_size, known_root) = match &known {
            Some(s) => (s.size, decode_root(&s.root)?),
            None => (0, crate::merkle::empty_root()),
        };
        if req.old != known_size {
            return Err(Refusal::Conflict(known_size));
        }
        if cp.size == 0 && cp.root != crate::merkle::empty_root() {
            return Err(Refusal::Inconsistent("a checkpoint of size 0 must have the empty tree's root".into()));
        }
        verify_consistency(req.old, cp.size, &known_root, &cp.root, &req.proof)
            .map_err(|e| Refusal::Inconsistent(e.to_string()))?;
        let sig = self.cosigner.cosign(&note.text, now);
        note.add(sig.clone());
        let state = LogState {
            format: STATE_FORMAT.into(),
            origin: cp.origin.clone(),
            size: cp.size,
            root: B64.encode(cp.root),
            note: note.to_text(),
        };
        self.write_state(&state)?;
        Ok(sig.line())
    }

    /// The latest cosigned checkpoint of the log whose origin hashes to
    /// `origin_hash` (the monitoring endpoint), if this witness cosigned one.
    pub fn latest(&self, origin_hash: &str) -> Result<Option<String>, Refusal> {
        if origin_hash.len() != 64 || !origin_hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Ok(None);
        }
        let Some(origin) = self.logs.keys().find(|o| self::origin_hash(o) == origin_hash) else {
            return Ok(None);
        };
        Ok(self.read_state(origin)?.map(|s| s.note))
    }

    fn state_path(&self, origin: &str) -> PathBuf {
        self.state_dir.join(format!("{}.json", origin_hash(origin)))
    }

    fn read_state(&self, origin: &str) -> Result<Option<LogState>, Refusal> {
        let path = self.state_path(origin);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Refusal::State(format!("{}: {e}", path.display()))),
        };
        let state: LogState = serde_json::from_slice(&bytes)
            .map_err(|e| Refusal::State(format!("{} is damaged: {e}", path.display())))?;
        crate::format::check(&path.display().to_string(), "witness-state", &state.format)
            .map_err(|e| Refusal::State(e.to_string()))?;
        if state.origin != origin {
            return Err(Refusal::State(format!("{} names another log", path.display())));
        }
        Ok(Some(state))
    }

    fn write_state(&self, state: &LogState) -> Result<(), Refusal> {
        let path = self.state_path(&state.origin);
        let body = serde_json::to_vec_pretty(state).map_err(|e| Refusal::State(e.to_string()))?;
        write_durably(&path, &body).map_err(|e| Refusal::State(format!("{}: {e}", path.display())))
    }
}

fn decode_root(b64: &str) -> Result<Hash, Refusal> {
    B64.decode(b64)
        .ok()
        .and_then(|b| Hash::try_from(b).ok())
        .ok_or_else(|| Refusal::State("a stored root is not a SHA-256".into()))
}

/// Replaces `path` atomically and durably: write a temporary file, fsync it,
/// rename it over the old one, fsync the directory (where the platform can).
pub fn write_durably(path: &Path, body: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().ok_or_else(|| std::io::Error::other("no parent directory"))?;
    let tmp = dir.join(format!(".{}.tmp", ulid::Ulid::new()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    crate::sync_dir(dir)
}

/// The body a log sends to bring a witness that cosigned `old` entries up to
/// the checkpoint `note` of `size` entries, with the consistency proof read
/// from the store's tiles.
pub async fn submission(
    store: &dyn ObjectStore,
    old: u64,
    size: u64,
    note: &str,
) -> Result<String, crate::tiles::TileError> {
    let proof = crate::tiles::TileReader::new(store, size).consistency(old).await?;
    Ok(AddCheckpoint { old, proof, checkpoint: note.into() }.encode())
}

/// The size in a 409 answer (`text/x.tlog.size`): where the witness is.
pub fn parse_conflict(body: &str) -> Option<u64> {
    parse_decimal(body.strip_suffix('\n')?)
}

/// Checks a witness's 200 answer to `note` and returns the note with the
/// witness's cosignature added. Lines by other keys are ignored.
pub fn accept_cosignature(
    note: &str,
    response: &str,
    log: &VerifierKey,
    witness: &WitnessKey,
) -> Result<Witnessed, NoteError> {
    let mut parsed = Note::parse(note)?;
    let answer = Note::parse(&format!("{}\n{response}", parsed.text))?;
    for sig in answer.signatures.into_iter().filter(|s| s.name == witness.name() && s.key_id == witness.key_id()) {
        parsed.add(sig);
    }
    crate::cosign::open_witnessed(&parsed.to_text(), log, witness)
}

/// Keeps a cosigned checkpoint in the store beside the original, create-only.
/// One object per checkpoint and witness; if the witness cosigned the same
/// checkpoint again, the first object stays.
pub async fn store_cosigned(
    store: &dyn ObjectStore,
    witness: &WitnessKey,
    seen: &Witnessed,
) -> Result<ObjectKey, StoreError> {
    let seq =
        seen.checkpoint.size.checked_sub(1).ok_or_else(|| StoreError::io("cosigned", "a checkpoint of no entries"))?;
    let key = ObjectKey::cosigned(seq, &witness.store_id());
    let body = CosignedObject::new(witness, &seen.note).to_bytes();
    match put_idempotent(store, &key, body.into()).await {
        Err(StoreError::AlreadyExists(_)) | Ok(()) => Ok(key),
        Err(e) => Err(e),
    }
}

/// How strictly the witnesses must keep up.
#[derive(Debug, Clone)]
pub struct WitnessPolicy {
    /// How many witnesses must have cosigned a size for it to count as witnessed.
    pub quorum: usize,
    /// Entries unwitnessed for longer than this fail the check.
    pub max_lag: time::Duration,
    /// Any unwitnessed entry fails the check.
    pub require_witnessed: bool,
}

impl Default for WitnessPolicy {
    fn default() -> Self {
        Self { quorum: 1, max_lag: time::Duration::days(1), require_witnessed: false }
    }
}

/// What one witness says, as the auditor read it.
#[derive(Debug, Clone, Serialize)]
pub struct WitnessView {
    pub witness: String,
    pub size: Option<u64>,
    pub checkpoint_time: Option<String>,
    /// When the witness cosigned (RFC 3339).
    pub cosigned_at: Option<String>,
    /// Why this witness's view could not be used, if it could not.
    pub unavailable: Option<String>,
}

/// The verdict on a store's ledger against its witnesses.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WitnessReport {
    pub witnesses: Vec<WitnessView>,
    /// The largest size at least `quorum` witnesses cosigned and the ledger extends.
    pub witnessed_size: Option<u64>,
    pub unwitnessed_entries: u64,
    /// Seconds since the oldest unwitnessed entry was written.
    pub unwitnessed_age_secs: Option<i64>,
    /// Proven wrong: the store's ledger is shorter than, or forked from, what a
    /// witness cosigned. Each makes the store INVALID.
    pub problems: Vec<String>,
    /// The policy is not met (lag or unwitnessed entries): exit 1, not tampering.
    pub policy_failures: Vec<String>,
}

impl WitnessReport {
    pub fn failed(&self) -> bool {
        !self.problems.is_empty() || !self.policy_failures.is_empty()
    }
}

/// Judges a verified ledger (`entries`, in order) against each witness's latest
/// cosigned checkpoint (`views`: the witness's name and what was read, already
/// checked with [`crate::cosign::open_witnessed`], or why it could not be).
pub fn judge(
    entries: &[Entry],
    views: &[(String, Result<Witnessed, String>)],
    policy: &WitnessPolicy,
    now: time::OffsetDateTime,
) -> WitnessReport {
    let total = entries.len() as u64;
    let sizes: BTreeSet<u64> =
        views.iter().filter_map(|(_, v)| v.as_ref().ok()).map(|w| w.checkpoint.size).filter(|&s| s <= total).collect();
    let roots = roots_at(entries, &sizes);
    let mut report = WitnessReport::default();
    let mut extended = Vec::new();
    for (name, view) in views {
        let seen = match view {
            Err(why) => {
                report.witnesses.push(WitnessView {
                    witness: name.clone(),
                    size: None,
                    checkpoint_time: None,
                    cosigned_at: None,
                    unavailable: Some(why.clone()),
                });
                continue;
            }
            Ok(seen) => seen,
        };
        let cp = &seen.checkpoint;
        let at = unix_to_rfc3339(seen.cosigned_at);
        if cp.size > total {
            report.problems.push(format!(
                "rollback: witness {name} cosigned {} entries (checkpoint of {}, cosigned {at}); \
                 the store's ledger holds only {total}",
                cp.size, cp.time
            ));
        } else if roots.get(&cp.size) != Some(&cp.root) {
            report.problems.push(format!(
                "fork: the store's first {} entries differ from what witness {name} cosigned \
                 (checkpoint of {}, cosigned {at})",
                cp.size, cp.time
            ));
        } else {
            extended.push(cp.size);
        }
        report.witnesses.push(WitnessView {
            witness: name.clone(),
            size: Some(cp.size),
            checkpoint_time: Some(cp.time.clone()),
            cosigned_at: Some(at),
            unavailable: None,
        });
    }
    extended.sort_unstable_by(|a, b| b.cmp(a));
    report.witnessed_size = extended.get(policy.quorum.max(1) - 1).copied();
    let witnessed = report.witnessed_size.unwrap_or(0);
    report.unwitnessed_entries = total - witnessed;
    report.unwitnessed_age_secs = entries
        .get(witnessed as usize)
        .and_then(|e| crate::clock::parse_ts(&e.ts).ok())
        .map(|t| (now - t).whole_seconds());
    if report.witnessed_size.is_none() {
        report
            .policy_failures
            .push(format!("fewer than {} witnesses cosigned a checkpoint this ledger extends", policy.quorum.max(1)));
    }
    if policy.require_witnessed && report.unwitnessed_entries > 0 {
        report.policy_failures.push(format!("{} entries are not yet witnessed", report.unwitnessed_entries));
    }
    if let Some(age) = report.unwitnessed_age_secs.filter(|&a| a > policy.max_lag.whole_seconds()) {
        report.policy_failures.push(format!(
            "the oldest unwitnessed entry is {} old, more than the allowed {}",
            human_secs(age),
            human_secs(policy.max_lag.whole_seconds())
        ));
    }
    report
}

/// The RFC 6962 roots of the ledger at each of `sizes`.
fn roots_at(entries: &[Entry], sizes: &BTreeSet<u64>) -> HashMap<u64, Hash> {
    let mut tree = CompactTree::new();
    let mut out = HashMap::new();
    if sizes.contains(&0) {
        out.insert(0, tree.root());
    }
    for e in entries {
        tree.push(&e.hash);
        if sizes.contains(&tree.size()) {
            out.insert(tree.size(), tree.root());
        }
    }
    out
}

pub fn unix_to_rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .map_or_else(|| secs.to_string(), crate::clock::format_ts)
}

/// A duration for people: `3 d 4 h`, `5 h 2 min`, `42 s`.
pub fn human_secs(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyDir, Keys};
    use crate::proof::TreeLevels;

    struct Log {
        keys: Keys,
        hashes: Vec<Hash>,
    }

    impl Log {
        fn new(dir: &Path, name: &str) -> Self {
            Self { keys: KeyDir::new(dir.join(name)).init("niem.test/ledger").unwrap(), hashes: Vec::new() }
        }
        fn grow(&mut self, n: usize, salt: u8) {
            for _ in 0..n {
                let i = self.hashes.len() as u32;
                let mut h = crate::merkle::leaf_hash(&i.to_be_bytes());
                h[31] ^= salt;
                self.hashes.push(h);
            }
        }
        fn checkpoint(&self) -> String {
            let size = self.hashes.len() as u64;
            let root = TreeLevels::from_entry_hashes(&self.hashes).root(size).unwrap();
            Checkpoint { origin: "niem.test/ledger".into(), size, root, time: "2026-11-22T10:00:00.000Z".into() }
                .sign(&self.keys.signer)
        }
        fn request(&self, old: u64) -> Vec<u8> {
            let size = self.hashes.len() as u64;
            let proof = TreeLevels::from_entry_hashes(&self.hashes).consistency(old, size).unwrap();
            AddCheckpoint { old, proof, checkpoint: self.checkpoint() }.encode().into_bytes()
        }
    }

    fn witness(dir: &Path, log: &Log) -> Witness {
        let (cosigner, _) = Cosigner::generate("witness.test/w1").unwrap();
        Witness::new(cosigner, [log.keys.signer.verifier().clone()], dir.join("state")).unwrap()
    }

    #[test]
    fn cosigns_growth_and_refuses_rollback_fork_and_strangers() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::new(dir.path(), "log");
        let w = witness(dir.path(), &log);
        log.grow(10, 0);
        let line = w.add_checkpoint(&log.request(0), 100).unwrap();
        let seen = accept_cosignature(&log.checkpoint(), &line, log.keys.signer.verifier(), w.key()).unwrap();
        assert_eq!((seen.checkpoint.size, seen.cosigned_at), (10, 100));

        log.grow(7, 0);
        w.add_checkpoint(&log.request(10), 200).unwrap();
        // A log that does not know the witness's size learns it from the 409.
        let conflict = w.add_checkpoint(&log.request(0), 300).unwrap_err();
        assert_eq!((conflict.status(), parse_conflict(&conflict.body())), (409, Some(17)));
        // Rollback: an old size below the witness's, or a smaller checkpoint.
        let rolled =
            Log { keys: KeyDir::new(dir.path().join("log")).load().unwrap(), hashes: log.hashes[..12].to_vec() };
        assert_eq!(w.add_checkpoint(&rolled.request(10), 400).unwrap_err(), Refusal::Conflict(17));
        assert_eq!(w.add_checkpoint(&rolled.request(12), 400).unwrap_err().status(), 409);
        // Fork: same size, other entries, signed by the log's key.
        let mut fork =
            Log { keys: KeyDir::new(dir.path().join("log")).load().unwrap(), hashes: log.hashes[..16].to_vec() };
        fork.grow(1, 0xff);
        let refused = w.add_checkpoint(&fork.request(17), 500).unwrap_err();
        assert_eq!(refused.status(), 422, "{refused}");
        // Fork that grew: the consistency proof from 17 cannot verify.
        fork.grow(5, 0);
        let proof = TreeLevels::from_entry_hashes(&fork.hashes).consistency(17, 22).unwrap();
        let body = AddCheckpoint { old: 17, proof, checkpoint: fork.checkpoint() }.encode();
        assert_eq!(w.add_checkpoint(body.as_bytes(), 500).unwrap_err().status(), 422);
        // Another key, an unknown log, an old size past the checkpoint, junk.
        let stranger = Log::new(dir.path(), "stranger");
        let mut s = stranger;
        s.grow(18, 0);
        assert_eq!(w.add_checkpoint(&s.request(17), 600).unwrap_err().status(), 403);
        let text = String::from_utf8(log.request(17)).unwrap().replace("niem.test/ledger", "other.test/log");
        assert_eq!(w.add_checkpoint(text.as_bytes(), 600).unwrap_err().status(), 404);
        let text = String::from_utf8(log.request(17)).unwrap().replacen("old 17", "old 18", 1);
        assert_eq!(w.add_checkpoint(text.as_bytes(), 600).unwrap_err().status(), 400);
        assert_eq!(w.add_checkpoint(b"old 017\n\nx", 600).unwrap_err().status(), 400);
        // After all that the witness still holds 17 and cosigns the real log.
        let latest = w.latest(&origin_hash("niem.test/ledger")).unwrap().unwrap();
        let seen = crate::cosign::open_witnessed(&latest, log.keys.signer.verifier(), w.key()).unwrap();
        assert_eq!((seen.checkpoint.size, seen.cosigned_at), (17, 200));
    }

    #[test]
    fn state_survives_a_new_witness_on_the_same_directory() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::new(dir.path(), "log");
        let (cosigner, private) = Cosigner::generate("witness.test/w1").unwrap();
        let w = Witness::new(cosigner, [log.keys.signer.verifier().clone()], dir.path().join("state")).unwrap();
        log.grow(3, 0);
        w.add_checkpoint(&log.request(0), 1).unwrap();
        drop(w);
        let again = Witness::new(
            Cosigner::from_private(&private).unwrap(),
            [log.keys.signer.verifier().clone()],
            dir.path().join("state"),
        )
        .unwrap();
        assert_eq!(again.add_checkpoint(&log.request(0), 2).unwrap_err(), Refusal::Conflict(3));
        log.grow(1, 0);
        again.add_checkpoint(&log.request(3), 2).unwrap();
        // A damaged state file is refused, never treated as "never saw this log".
        let path = dir.path().join("state").join(format!("{}.json", origin_hash("niem.test/ledger")));
        std::fs::write(&path, b"{").unwrap();
        assert_eq!(again.add_checkpoint(&log.request(0), 3).unwrap_err().status(), 500);
    }

    fn entries(n: usize, salt: u8, ts: &str) -> Vec<Entry> {
        let mut prev = crate::ledger::ZERO;
        (0..n)
            .map(|i| {
                let mut e = Entry {
                    seq: i as u64,
                    ts: ts.into(),
                    actor: "system".into(),
                    action: "test".into(),
                    subject: format!("s{salt}"),
                    data: serde_json::json!({}),
                    prev,
                    hash: crate::ledger::ZERO,
                };
                e.hash = e.compute_hash();
                prev = e.hash;
                e
            })
            .collect()
    }

    #[test]
    fn judge_names_rollback_fork_and_lag() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyDir::new(dir.path().join("log")).init("niem.test/ledger").unwrap();
        let (c, _) = Cosigner::generate("witness.test/w1").unwrap();
        let ledger = entries(20, 0, "2026-11-20T00:00:00.000Z");
        let seen_at = |es: &[Entry], size: usize| {
            let root = TreeLevels::from_entry_hashes(es.iter().map(|e| &e.hash)).root(size as u64).unwrap();
            let note = Checkpoint {
                origin: "niem.test/ledger".into(),
                size: size as u64,
                root,
                time: "2026-11-20T00:00:00.000Z".into(),
            }
            .sign(&keys.signer);
            let mut n = Note::parse(&note).unwrap();
            n.add(c.cosign(&n.text, 1_800_000_000));
            crate::cosign::open_witnessed(&n.to_text(), keys.signer.verifier(), c.key()).unwrap()
        };
        let now = time::macros::datetime!(2026-11-20 12:00 UTC);
        let policy = WitnessPolicy::default();
        let ok = judge(&ledger, &[("w1".into(), Ok(seen_at(&ledger, 15)))], &policy, now);
        assert!(!ok.failed(), "{ok:?}");
        assert_eq!(
            (ok.witnessed_size, ok.unwitnessed_entries, ok.unwitnessed_age_secs),
            (Some(15), 5, Some(12 * 3600))
        );
        // The store was cut back below what the witness saw.
        let cut = judge(&ledger[..10], &[("w1".into(), Ok(seen_at(&ledger, 15)))], &policy, now);
        assert!(cut.problems[0].starts_with("rollback: witness w1 cosigned 15 entries"), "{cut:?}");
        // Same size, other history.
        let other = entries(20, 1, "2026-11-20T00:00:00.000Z");
        let forked = judge(&other, &[("w1".into(), Ok(seen_at(&ledger, 15)))], &policy, now);
        assert!(forked.problems[0].starts_with("fork: the store's first 15 entries differ"), "{forked:?}");
        // Lag past the limit, unwitnessed entries when required, a missing quorum.
        let late = judge(&ledger, &[("w1".into(), Ok(seen_at(&ledger, 15)))], &policy, now + time::Duration::days(2));
        assert!(late.problems.is_empty() && late.policy_failures.len() == 1, "{late:?}");
        let strict = WitnessPolicy { require_witnessed: true, ..WitnessPolicy::default() };
        assert!(judge(&ledger, &[("w1".into(), Ok(seen_at(&ledger, 15)))], &strict, now).failed());
        assert!(!judge(&ledger, &[("w1".into(), Ok(seen_at(&ledger, 20)))], &strict, now).failed());
        let two = WitnessPolicy { quorum: 2, ..WitnessPolicy::default() };
        let views = [("w1".into(), Ok(seen_at(&ledger, 15))), ("w2".into(), Err("unreachable".into()))];
        let short = judge(&ledger, &views, &two, now);
        assert_eq!((short.witnessed_size, short.unwitnessed_entries), (None, 20));
        assert!(short.failed() && short.problems.is_empty());
    }
}
