//! The verifier's judgement of the evidence objects beside the ledger: tiles
//! (`tile/…`) and cosigned checkpoints (`cosigned/…`).
//!
//! Neither is trusted: both are recomputed from, or checked against, the ledger
//! the verifier has already checked and the log's public key.
//! - A tile must hold exactly the hashes the ledger's entries give at its place
//!   in the tree (a partial tile, the first `width` of them); a tile beyond the
//!   ledger, or with other hashes, is INVALID.
//! - A cosigned checkpoint must carry a log signature that verifies, a size and
//!   root that are the ledger's at that size, and sit at that size's name. Its
//!   witness's cosignature is checked when the auditor gave that witness's key
//!   (`--witness-key`); a witness the auditor did not name proves nothing and is
//!   reported as such, not as damage.

use crate::checkpoint::Checkpoint;
use crate::cosign::{CosignedObject, Note};
use crate::keys::VerifierKey;
use crate::layout::{EvidenceKind, ObjectKey};
use crate::ledger::Entry;
use crate::merkle::{CompactTree, Hash};
use crate::store::{ObjectMeta, Store};
use crate::tiles::{TileId, TileWriter};
use crate::verify::{Options, Report, Verdict};
use std::collections::{BTreeMap, HashMap, HashSet};

/// (size, time, note as written) of each valid checkpoint.
type Signed = (u64, time::OffsetDateTime, String);

pub(crate) async fn check(
    store: &Store,
    entries: &[Entry],
    _signed: &[Signed],
    log: &VerifierKey,
    opts: &Options,
    objects: Vec<ObjectMeta>,
    report: &mut Report,
) {
    let mut tiles = Vec::new();
    let mut cosigned = Vec::new();
    for o in objects {
        match ObjectKey::classify_evidence(&o.key) {
            Some(EvidenceKind::Tile(t)) => tiles.push((t, o)),
            Some(EvidenceKind::Cosigned(seq, witness)) => cosigned.push((seq, witness, o)),
            None => {}
        }
    }
    if !tiles.is_empty() {
        check_tiles(store, entries, tiles, report).await;
    }
    if !cosigned.is_empty() {
        check_cosigned(store, entries, log, opts, cosigned, report).await;
    }
}

/// The hashes the ledger puts at each wanted (level, index): full tiles as they
/// fill, then the partial tiles of the whole ledger.
fn expected_tiles(entries: &[Entry], wanted: &HashSet<(u8, u64)>) -> HashMap<(u8, u64), Vec<Hash>> {
    let mut writer = TileWriter::new();
    let mut out = HashMap::new();
    let keep = |out: &mut HashMap<(u8, u64), Vec<Hash>>, tiles: Vec<(TileId, Vec<Hash>)>| {
        for (t, hashes) in tiles {
            if wanted.contains(&(t.level, t.index)) {
                out.insert((t.level, t.index), hashes);
            }
        }
    };
    for e in entries {
        writer.push(&e.hash);
        if e.seq % 4096 == 4095 {
            keep(&mut out, writer.take_full());
        }
    }
    keep(&mut out, writer.take_full());
    keep(&mut out, writer.partial());
    out
}

async fn check_tiles(store: &Store, entries: &[Entry], tiles: Vec<(TileId, ObjectMeta)>, report: &mut Report) {
    let wanted: HashSet<(u8, u64)> = tiles.iter().map(|(t, _)| (t.level, t.index)).collect();
    let expected = expected_tiles(entries, &wanted);
    for (tile, o) in tiles {
        let width = usize::from(tile.width);
        let verdict = match expected.get(&(tile.level, tile.index)) {
            Some(hashes) if hashes.len() >= width => {
                if o.size != (width * 32) as u64 {
                    Verdict::Invalid(format!("length {} is not {width} hashes", o.size))
                } else {
                    match store.get(&o.key).await {
                        Ok(body) if body.as_ref() == hashes[..width].concat().as_slice() => Verdict::Valid,
                        Ok(_) => Verdict::Invalid("its hashes are not the ledger's at that place in the tree".into()),
                        Err(e) => Verdict::Invalid(format!("cannot be read: {e}")),
                    }
                }
            }
            _ => Verdict::Invalid(format!("beyond the ledger's {} entries", entries.len())),
        };
        report.object(o.key, "tile", verdict);
    }
}

async fn check_cosigned(
    store: &Store,
    entries: &[Entry],
    log: &VerifierKey,
    opts: &Options,
    objects: Vec<(u64, String, ObjectMeta)>,
    report: &mut Report,
) {
    // The ledger's root at every size a cosignature names, in one pass.
    let sizes: HashSet<u64> = objects.iter().map(|(seq, ..)| seq + 1).collect();
    let mut roots: BTreeMap<u64, Hash> = BTreeMap::new();
    let mut tree = CompactTree::new();
    for e in entries {
        tree.push(&e.hash);
        if sizes.contains(&tree.size()) {
            roots.insert(tree.size(), tree.root());
        }
    }
    for (seq, witness, o) in objects {
        let verdict = match store.get(&o.key).await {
            Err(e) => Verdict::Invalid(format!("cannot be read: {e}")),
            Ok(body) => judge_cosigned(&o.key, &body, seq, &witness, roots.get(&(seq + 1)), log, opts),
        };
        report.object(o.key, "cosignature", verdict);
    }
}

fn judge_cosigned(
    key: &str,
    body: &[u8],
    seq: u64,
    witness: &str,
    root: Option<&Hash>,
    log: &VerifierKey,
    opts: &Options,
) -> Verdict {
    let object = match CosignedObject::from_bytes(key, body) {
        Ok(o) => o,
        Err(crate::cosign::NoteError::Format(crate::format::FormatError::Newer { .. })) => {
            return Verdict::Unsupported("a newer cosignature format; upgrade niem".into());
        }
        Err(e) => return Verdict::Invalid(format!("malformed: {e}")),
    };
    let checkpoint = match Checkpoint::open(&object.note, log) {
        Ok(c) => c,
        Err(e) => return Verdict::Invalid(format!("the log's signature does not verify: {e}")),
    };
    if checkpoint.size != seq + 1 {
        return Verdict::Invalid(format!("named for {} entries but signs {}", seq + 1, checkpoint.size));
    }
    match root {
        None => return Verdict::Invalid(format!("beyond the ledger's {} entries", checkpoint.size.saturating_sub(1))),
        Some(r) if *r != checkpoint.root => {
            return Verdict::Invalid(format!("fork: its root is not the ledger's at {} entries", checkpoint.size));
        }
        Some(_) => {}
    }
    let Some(trusted) = opts.witnesses.iter().find(|w| w.store_id() == witness) else {
        return Verdict::Valid;
    };
    match Note::parse(&object.note)
        .map_err(|e| e.to_string())
        .and_then(|n| trusted.verify(&n).map_err(|e| e.to_string()))
    {
        Ok(_) => Verdict::Valid,
        Err(why) => Verdict::Invalid(format!("the cosignature of {} does not verify: {why}", trusted.name())),
    }
}

#[cfg(test)]
mod tests {
    use crate::checkpoint::CheckpointObject;
    use crate::cosign::{CosignedObject, Cosigner, Note};
    use crate::layout::ObjectKey;
    use crate::sample::Selection;
    use crate::testing::World;
    use crate::verify::{verify_store, Options, Report, Verdict};

    fn verdict_of<'a>(report: &'a Report, object: &str) -> &'a Verdict {
        &report.findings.iter().find(|f| f.object == object).unwrap_or_else(|| panic!("{object}: {report:?}")).verdict
    }

    async fn entries(w: &World) -> Vec<crate::ledger::Entry> {
        w.vault.catalog.with(|c| crate::ledger::read_where(c, "seq >= 0", [])).unwrap()
    }

    /// The newest checkpoint's seq and note, as the store holds them.
    async fn newest_note(w: &World) -> (u64, String) {
        let size = entries(w).await.len() as u64;
        let body = w.store.get(ObjectKey::checkpoint(size - 1).as_str()).await.unwrap();
        let obj: CheckpointObject = serde_json::from_slice(&body).unwrap();
        (size - 1, obj.note)
    }

    async fn verify_with(w: &World, witnesses: Vec<crate::cosign::WitnessKey>) -> Report {
        let opts = Options { parallelism: 2, witnesses, ..Default::default() };
        verify_store(&w.store, w.keys.signer.verifier(), opts).await.unwrap()
    }

    /// The mirror writes the tiles of each checkpoint's size before it; a proof
    /// made from them alone checks against the signed root.
    #[tokio::test]
    async fn the_mirror_writes_tiles_that_prove_against_the_signed_root() {
        let w = World::new().await;
        w.recording("m1", "c1").await;
        w.vault.mirror.flush(true).await.unwrap();
        let first = entries(&w).await.len() as u64;
        w.recording("m2", "c2").await;
        w.vault.mirror.flush(true).await.unwrap();
        let (seq, note) = newest_note(&w).await;
        let listed = w.store.list("tile/").await.unwrap();
        assert!(!listed.is_empty(), "no tiles written");
        let cp = crate::checkpoint::Checkpoint::open(&note, w.keys.signer.verifier()).unwrap();
        assert_eq!(cp.size, seq + 1);
        let reader = crate::tiles::TileReader::new(&*w.store, cp.size);
        let proof = reader.consistency(first).await.unwrap();
        let old_root = {
            let mut t = crate::merkle::CompactTree::new();
            entries(&w).await.iter().take(first as usize).for_each(|e| t.push(&e.hash));
            t.root()
        };
        crate::proof::verify_consistency(first, cp.size, &old_root, &cp.root, &proof).unwrap();
        let report = w.verify().await;
        assert!(report.intact(), "{:?}", report.damage());
        assert!(report.findings.iter().any(|f| f.kind == "tile" && f.verdict == Verdict::Valid));
    }

    #[tokio::test]
    async fn tiles_must_hold_the_ledgers_hashes() {
        let w = World::new().await;
        w.recording("m1", "c1").await;
        w.vault.mirror.flush(true).await.unwrap();
        let hashes: Vec<_> = entries(&w).await.iter().map(|e| e.hash).collect();
        crate::tiles::backfill(&*w.store, hashes.iter().copied()).await.unwrap();
        let report = w.verify().await;
        assert!(report.intact(), "{:?}", report.damage());
        let tiles: Vec<_> = report.findings.iter().filter(|f| f.kind == "tile").collect();
        assert!(!tiles.is_empty() && tiles.iter().all(|f| f.verdict == Verdict::Valid), "{tiles:?}");

        // One flipped byte in a tile; a tile beyond the ledger.
        let key = tiles[0].object.clone();
        let path = w.store_path(&key);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[3] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        std::fs::create_dir_all(w.store_path("tile/0/x001")).unwrap();
        std::fs::write(w.store_path("tile/0/x001/000"), vec![0u8; 8192]).unwrap();
        let report = w.verify().await;
        assert!(
            matches!(verdict_of(&report, &key), Verdict::Invalid(why) if why.contains("not the ledger's")),
            "{report:?}"
        );
        let beyond = verdict_of(&report, "tile/0/x001/000");
        assert!(matches!(beyond, Verdict::Invalid(why) if why.contains("beyond the ledger")), "{beyond:?}");
    }

    #[tokio::test]
    async fn a_cosigned_checkpoint_must_be_the_ledgers_and_its_witness_must_verify() {
        let w = World::new().await;
        w.recording("m1", "c1").await;
        w.vault.mirror.flush(true).await.unwrap();
        let (seq, note) = newest_note(&w).await;
        let (witness, _) = Cosigner::generate("witness.test/w1").unwrap();
        let mut cosigned = Note::parse(&note).unwrap();
        cosigned.add(witness.cosign(&cosigned.text, 1_800_000_000));
        let key = ObjectKey::cosigned(seq, &witness.key().store_id());
        let body = CosignedObject::new(witness.key(), &cosigned.to_text()).to_bytes();
        crate::store::put_idempotent(&*w.store, &key, body.into()).await.unwrap();
        let report = verify_with(&w, vec![witness.key().clone()]).await;
        assert!(report.intact(), "{:?}", report.damage());
        assert_eq!(verdict_of(&report, key.as_str()), &Verdict::Valid);

        // A cosignature that does not verify under the key the auditor gave.
        let (other, _) = Cosigner::generate("witness.test/w1").unwrap();
        let report = verify_with(&w, vec![other.key().clone()]).await;
        assert!(report.intact(), "a witness the auditor did not name proves nothing, and is no damage");
        let forged_key = ObjectKey::cosigned(seq, &other.key().store_id());
        let forged = CosignedObject::new(other.key(), &cosigned.to_text()).to_bytes();
        crate::store::put_idempotent(&*w.store, &forged_key, forged.into()).await.unwrap();
        let report = verify_with(&w, vec![other.key().clone()]).await;
        let v = verdict_of(&report, forged_key.as_str());
        assert!(matches!(v, Verdict::Invalid(why) if why.contains("does not verify")), "{v:?}");

        // A note of another history under the same log key, filed at this size: a fork.
        let fork = World::with_keys(&w.keydir).await;
        fork.recording("m2", "c2").await;
        for i in 0..40 {
            if entries(&fork).await.len() as u64 > seq {
                break;
            }
            fork.fact("system", "store.verified", "store", serde_json::json!({ "i": i })).await;
        }
        fork.vault.mirror.flush(true).await.unwrap();
        let (fork_seq, fork_note) = newest_note(&fork).await;
        let at = ObjectKey::cosigned(fork_seq, "00000000000000aa");
        let body = CosignedObject::new(witness.key(), &fork_note).to_bytes();
        crate::store::put_idempotent(&*w.store, &at, body.into()).await.unwrap();
        let report = verify_with(&w, vec![]).await;
        let v = verdict_of(&report, at.as_str());
        assert!(
            matches!(v, Verdict::Invalid(why) if why.contains("fork") || why.contains("beyond the ledger")),
            "{v:?}"
        );
    }

    /// One damaged chunk in the store: a sample run either fetches it (and fails)
    /// or does not (and says what it rules out), and the same seed says the same.
    #[tokio::test]
    async fn a_sample_sees_the_damage_it_picks_and_says_what_it_rules_out() {
        let w = World::new().await;
        let rec = w.recording("m1", "c1").await;
        w.vault.mirror.flush(true).await.unwrap();
        let chunk = ObjectKey::chunk(rec, w.vault.manifest_draft(rec).await.unwrap().streams[0].id, 1);
        let path = w.store_path(chunk.as_str());
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let run = |seed: String| {
            let w = &w;
            async move {
                let selection = Selection::Sample { seed: seed.into_bytes(), rate: 0.5 };
                let opts = Options { parallelism: 2, selection, ..Default::default() };
                verify_store(&w.store, w.keys.signer.verifier(), opts).await.unwrap()
            }
        };
        let (mut hit, mut miss) = (None, None);
        for i in 0..64 {
            let seed = format!("seed-{i}");
            let picked = crate::sample::picked(seed.as_bytes(), chunk.as_str(), 0.5);
            let report = run(seed.clone()).await;
            assert_eq!(report.failed(), picked, "seed {seed}: the damage is seen exactly when its chunk is picked");
            let sample = report.sample.clone().expect("a sample report");
            assert!(sample.fetched < sample.population || picked, "{sample:?}");
            if picked {
                hit.get_or_insert(seed);
            } else {
                assert!(sample.statement.as_deref().is_some_and(|s| s.contains("99 %")), "{sample:?}");
                miss.get_or_insert(seed);
            }
            if hit.is_some() && miss.is_some() {
                break;
            }
        }
        let (hit, miss) = (hit.expect("some seed picks the chunk"), miss.expect("some seed misses it"));
        assert!(run(hit).await.failed() && !run(miss).await.failed(), "the same seed, the same verdict");
    }
}
