//! Disaster recovery: a catalog rebuilt from the object store and the keys alone.
//!
//! The store's ledger is a complete record of every state change (each change
//! commits with its entry), so replaying it rebuilds the archive's tables: the
//! ledger itself, recordings, streams, chunks and transcripts, with each wrapped
//! key fetched back from `keys/`. The caller replays its own tables through the
//! same entries (see [`restore`]'s `apply`).
//!
//! The store is verified first with the verifier `niem-audit` runs. A store that
//! fails is refused unless the operator accepts the damage; the restore then goes
//! on with everything the verifier did not fault, and [`Restored::lost`] names the
//! rest object by object. Entries past a break in the chain cannot be trusted and
//! are not restored.
//!
//! What it is not: a merge. It writes into an empty catalog only, and it never
//! writes to the store: the service, started on the restored catalog, continues
//! the chain from the store's last entry.

use crate::catalog::{Catalog, CatalogError};
use crate::id::{RecordingId, StreamName};
use crate::key_objects::KeyObject;
use crate::keys::{Keys, WrappedDek};
use crate::layout::ObjectKey;
use crate::ledger::{Entry, LedgerError};
use crate::manifest::Manifest;
use crate::store::{Store, StoreError};
use crate::verify::{self, Report};
use rusqlite::{params, Transaction};
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Verify(#[from] verify::VerifyError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot read the store: {0}")]
    Store(#[from] StoreError),
    #[error(
        "the catalog already holds {0} ledger entries; restore writes a new catalog only: move the old one away first"
    )]
    NotEmpty(u64),
    #[error("the store holds no ledger: nothing to restore (wrong bucket or prefix?)")]
    NoLedger,
    #[error("the store failed verification ({} findings); nothing was restored. Rerun with --accept-damage to restore everything else", .0.damage().len())]
    Damaged(Box<Report>),
    #[error("{0} objects in the store are in a storage format newer than this niem knows; upgrade niem, then restore")]
    NewerFormat(usize),
    #[error("restoring entry {seq} ({action}): {reason}")]
    Replay { seq: u64, action: String, reason: String },
}

impl From<rusqlite::Error> for RestoreError {
    fn from(e: rusqlite::Error) -> Self {
        RestoreError::Catalog(CatalogError::Sql(e))
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Restore from a store that fails verification, leaving out what is damaged.
    pub accept_damage: bool,
    /// Objects fetched at once.
    pub parallelism: usize,
}

/// What a restore brought back, and what it could not.
#[derive(Debug)]
pub struct Restored {
    pub report: Report,
    pub entries: u64,
    pub recordings: u64,
    pub streams: u64,
    pub chunks: u64,
    pub transcripts: u64,
    /// Everything the store should hold but does not, or holds damaged, one line each.
    pub lost: Vec<String>,
}

/// One entry's effect on the caller's own tables, in the restore's transaction.
pub type Apply<'a> = dyn FnMut(&Transaction<'_>, &Entry) -> Result<(), String> + 'a;

/// Verifies `store`, then rebuilds the archive's tables in `catalog` (which must
/// be empty) and calls `apply` for every entry, in order, in one transaction.
pub async fn restore(
    store: &Store,
    keys: &Keys,
    catalog: &Catalog,
    opts: Options,
    apply: &mut Apply<'_>,
) -> Result<Restored, RestoreError> {
    let held = catalog.with(|c| crate::ledger::head(c))?;
    if let Some(head) = held {
        return Err(RestoreError::NotEmpty(head + 1));
    }
    let vopts = verify::Options { parallelism: opts.parallelism.max(1), ..Default::default() };
    let (report, entries) = verify::verify_store_entries(store, keys.signer.verifier(), vopts).await?;
    if entries.is_empty() {
        return Err(RestoreError::NoLedger);
    }
    if report.unsupported() > 0 {
        return Err(RestoreError::NewerFormat(report.unsupported()));
    }
    if !report.intact() && !opts.accept_damage {
        return Err(RestoreError::Damaged(Box::new(report)));
    }
    let mut lost = report.damage();
    let signed = report.newest_checkpoint_size.unwrap_or(0);
    let objects = fetch_objects(store, &entries, signed, &mut lost).await?;
    let mut restored =
        Restored { report, entries: entries.len() as u64, recordings: 0, streams: 0, chunks: 0, transcripts: 0, lost };
    let resealed = resealed_notes(&entries);
    catalog.with(|conn| -> Result<(), RestoreError> {
        let tx = conn.transaction()?;
        for e in &entries {
            insert_entry(&tx, e)?;
            let replay = |reason: String| RestoreError::Replay { seq: e.seq, action: e.action.clone(), reason };
            replay_archive(&tx, e, &objects).map_err(replay)?;
            match resealed.get(&e.seq) {
                Some(note) => {
                    let mut opened = e.clone();
                    opened.data["sealed"] = note.clone();
                    apply(&tx, &opened).map_err(replay)?
                }
                None => apply(&tx, e).map_err(replay)?,
            }
        }
        let (size, time) =
            (restored.report.newest_checkpoint_size.unwrap_or(0), restored.report.newest_checkpoint_time.clone());
        tx.execute(
            "UPDATE ledger_mirror SET mirrored = ?1, checkpointed = ?2, checkpoint_ts = ?3 WHERE id = 1",
            params![entries.len() as u64, size, time],
        )?;
        let count = |table: &str| tx.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get::<_, u64>(0));
        (restored.recordings, restored.streams, restored.chunks, restored.transcripts) =
            (count("recordings")?, count("streams")?, count("chunks")?, count("transcripts")?);
        tx.commit()?;
        Ok(())
    })?;
    Ok(restored)
}

/// Sealed facts a KEK retirement sealed again under the note key (`note.resealed`,
/// `of` the entry's seq), which the caller's replay gets in place of the original
/// note, whose KEK may be destroyed.
fn resealed_notes(entries: &[Entry]) -> HashMap<u64, serde_json::Value> {
    entries
        .iter()
        .filter(|e| e.action == "note.resealed")
        .filter_map(|e| Some((e.data.get("of")?.as_u64()?, e.data.get("sealed")?.clone())))
        .collect()
}

/// Pointers to each stream's current key object, and sealed manifests, read
/// from the store.
struct Objects {
    keys: HashMap<(RecordingId, StreamName), KeyObject>,
    manifests: HashMap<RecordingId, Manifest>,
}

async fn fetch_objects(
    store: &Store,
    entries: &[Entry],
    signed: u64,
    lost: &mut Vec<String>,
) -> Result<Objects, RestoreError> {
    let (expected, _) = verify::replay(entries, signed);
    let mut out = Objects { keys: HashMap::new(), manifests: HashMap::new() };
    for (&rec, r) in &expected {
        if r.shredded {
            continue; // its keys are gone by design
        }
        for &name in r.keys.keys() {
            let Some(current) = r.current_key(name) else { continue };
            let key = ObjectKey::dek_gen(rec, name, current.generation);
            let unreadable = |why: &str| format!("key {key}: {why}; stream {rec}/{name} is unreadable");
            match fetch(store, &key).await? {
                Some(body) if crate::sha256_hex(&body) == current.sha256 => {
                    match serde_json::from_slice::<WrappedDek>(&body) {
                        Ok(w) => {
                            let pointer = KeyObject {
                                generation: current.generation,
                                kek: w.kek,
                                sha256: current.sha256.clone(),
                            };
                            out.keys.insert((rec, name), pointer);
                        }
                        Err(_) => push_once(lost, unreadable("not a wrapped key")),
                    }
                }
                Some(_) => push_once(lost, unreadable("differs from the ledger")),
                None => push_once(lost, unreadable("missing")),
            }
        }
        if let Some(sha) = &r.sealed {
            let key = ObjectKey::manifest(rec);
            match fetch(store, &key).await? {
                Some(body) if crate::sha256_hex(&body) == *sha => match Manifest::from_bytes(&body) {
                    Ok(m) => {
                        out.manifests.insert(rec, m);
                    }
                    Err(e) => push_once(lost, format!("manifest {key}: {e}")),
                },
                _ => push_once(
                    lost,
                    format!(
                        "manifest {key}: missing or differs from the ledger; stream media details of {rec} are lost"
                    ),
                ),
            }
        }
    }
    Ok(out)
}

fn push_once(lost: &mut Vec<String>, line: String) {
    if !lost.contains(&line) {
        lost.push(line);
    }
}

async fn fetch(store: &Store, key: &ObjectKey) -> Result<Option<bytes::Bytes>, RestoreError> {
    match store.get(key.as_str()).await {
        Ok(b) => Ok(Some(b)),
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn insert_entry(tx: &Transaction<'_>, e: &Entry) -> Result<(), RestoreError> {
    tx.execute(
        "INSERT INTO ledger (seq, ts, actor, action, subject, data, prev, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![e.seq, e.ts, e.actor, e.action, e.subject, e.data.to_string(), &e.prev[..], &e.hash[..]],
    )?;
    Ok(())
}

/// Points the catalog at the key object found for `rec`/`name`, if one was.
fn record_pointer(tx: &Transaction<'_>, objects: &Objects, rec: RecordingId, name: StreamName) -> Result<(), String> {
    match objects.keys.get(&(rec, name)) {
        // The restore's replay is SQLite's own (a PostgreSQL catalog is made
        // from a restored one with `niem catalog migrate-to`).
        Some(key) => tx
            .execute(
                "INSERT INTO key_objects (recording, stream, generation, kek, sha256) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (recording, stream) DO UPDATE SET generation = ?3, kek = ?4, sha256 = ?5",
                rusqlite::params![rec.to_string(), name.to_string(), key.generation, key.kek, key.sha256],
            )
            .map(|_| ())
            .map_err(|e| e.to_string()),
        None => Ok(()), // lost, and said so
    }
}

/// AES-GCM's tag: a chunk's ciphertext is its plaintext plus 16 bytes.
const TAG_LEN: u64 = 16;

fn replay_archive(tx: &Transaction<'_>, e: &Entry, objects: &Objects) -> Result<(), String> {
    let Some((rec, stream)) = verify::parse_subject(&e.subject) else { return Ok(()) };
    let s = |name: &str| e.data.get(name).and_then(|v| v.as_str()).map(String::from);
    let u = |name: &str| e.data.get(name).and_then(|v| v.as_u64());
    let need = |name: &str| format!("data lacks {name:?}");
    let sql = |r: rusqlite::Result<usize>| r.map(|_| ()).map_err(|err| err.to_string());
    match (e.action.as_str(), stream) {
        ("recording.started", None) => sql(tx.execute(
            "INSERT INTO recordings (id, meeting, org, state, started_at) VALUES (?1, ?2, ?3, 'open', ?4)",
            params![
                rec.to_string(),
                s("meeting").ok_or_else(|| need("meeting"))?,
                s("org").ok_or_else(|| need("org"))?,
                e.ts
            ],
        )),
        ("stream.opened", Some(name @ StreamName::Media(id))) => {
            let content_type = objects
                .manifests
                .get(&rec)
                .and_then(|m| m.streams.iter().find(|st| st.id == id))
                .and_then(|st| st.content_type.clone());
            sql(tx.execute(
                "INSERT INTO streams (id, recording, kind, endpoint, state, chunk_size, nonce_prefix, key_sha256, content_type, opened_at)
                 VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?6, ?7, ?8, ?9)",
                params![
                    id.to_string(), rec.to_string(), s("kind").ok_or_else(|| need("kind"))?, s("endpoint"),
                    u("chunk_size").ok_or_else(|| need("chunk_size"))?, s("nonce_prefix").ok_or_else(|| need("nonce_prefix"))?,
                    s("key_sha256").ok_or_else(|| need("key_sha256"))?, content_type, e.ts
                ],
            ))?;
            record_pointer(tx, objects, rec, name)
        }
        ("chunk.stored", Some(StreamName::Media(id))) => {
            let len = u("len").ok_or_else(|| need("len"))?;
            let plain = len.checked_sub(TAG_LEN).ok_or("a chunk shorter than its tag")?;
            sql(tx.execute(
                "INSERT INTO chunks (stream, idx, plain_len, len, sha256) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    id.to_string(),
                    u("index").ok_or_else(|| need("index"))?,
                    plain,
                    len,
                    s("sha256").ok_or_else(|| need("sha256"))?
                ],
            ))?;
            sql(tx.execute(
                "UPDATE streams SET chunks = chunks + 1, length = length + ?2 WHERE id = ?1",
                params![id.to_string(), plain],
            ))
        }
        ("stream.closed", Some(StreamName::Media(id))) => {
            let media = objects
                .manifests
                .get(&rec)
                .and_then(|m| m.streams.iter().find(|st| st.id == id))
                .and_then(|st| st.media.as_ref())
                .map(|m| m.to_string());
            sql(tx.execute(
                "UPDATE streams SET state = ?2, sha256 = ?3, media = ?4, closed_at = ?5 WHERE id = ?1",
                params![id.to_string(), s("state").ok_or_else(|| need("state"))?, s("sha256"), media, e.ts],
            ))
        }
        ("recording.sealed", None) => {
            let sealed_at = objects.manifests.get(&rec).map_or(e.ts.clone(), |m| m.sealed_at.clone());
            sql(tx.execute(
                "UPDATE recordings SET state = 'sealed', sealed_at = ?2, manifest_sha256 = ?3 WHERE id = ?1",
                params![rec.to_string(), sealed_at, s("manifest_sha256").ok_or_else(|| need("manifest_sha256"))?],
            ))
        }
        ("transcript.stored", None) => {
            sql(tx.execute(
                "INSERT OR REPLACE INTO transcripts (recording, state, wrapped_dek, key_sha256, nonce_prefix, chunk_size, len, sha256, stored_at)
                 VALUES (?1, 'stored', '', ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    rec.to_string(), s("key_sha256").ok_or_else(|| need("key_sha256"))?, s("nonce_prefix").ok_or_else(|| need("nonce_prefix"))?,
                    u("chunk_size").ok_or_else(|| need("chunk_size"))?, u("len"), s("sha256"), e.ts
                ],
            ))?;
            record_pointer(tx, objects, rec, StreamName::Transcript)
        }
        // A shred the store's ledger holds: the service finishes it at start if its
        // objects are still there (`Vault::resume_shreds`).
        ("recording.shredded", None) => {
            sql(tx.execute(
                "UPDATE recordings SET state = 'shredded', shred_done_at = NULL WHERE id = ?1",
                [rec.to_string()],
            ))?;
            sql(tx.execute("DELETE FROM key_objects WHERE recording = ?1", [rec.to_string()]))?;
            sql(tx.execute("DELETE FROM transcripts WHERE recording = ?1", [rec.to_string()]))
        }
        _ => Ok(()),
    }
}
