//! KEK retirement: what makes a shred hold against every backup.
//!
//! A shred deletes a recording's key objects, but a copy of a key object made
//! before (an old bucket version, a store or catalog backup, a copy of the data
//! dir) still opens with the KEK that wrapped it. Retiring that KEK closes the
//! gap: once it is destroyed, no copy of anything it wrapped opens again. So a
//! shred guarantees that the content is unreadable from the store and the catalog
//! at once, and from every copy of them *after the next retirement*. (A copy of
//! the key directory made before the retirement still holds the old KEK: key
//! backups must be rotated with retirements.)
//!
//! A retirement, one row of `kek_retirements`, resumed at start until done:
//! 1. a new KEK is made current (or, with read-only keys, the operator already
//!    made one current), and every in-flight wrap under the old ring finishes
//!    (`Vault::wrap_gate`); `keys.retirement.started` is ledgered;
//! 2. **rewrap**: every live key (not shredded; held ones included) is unwrapped
//!    and wrapped again under the new KEK as generation N, a new create-only
//!    object `keys/<rec>/<stream>.gN.dek`, and ledgered as `keys.rewrapped`
//!    (`generation`, `kek`, `key_sha256`) with its pointer. Transient keys in the
//!    catalog (transcripts being sealed, and the caller's: resumable uploads) are
//!    re-wrapped in place. Sealed facts written before v0.3 under a KEK are
//!    re-sealed under the note key (`note.resealed`), so a restore never needs a
//!    retired KEK;
//! 3. **check**: a checkpoint is signed over those entries, and every re-wrapped
//!    key is read back from the store and opened;
//! 4. **delete**: the older generations of every re-wrapped key object go;
//! 5. **destroy**: the service's hook runs first ([`Vault::before_destroy`]: it
//!    rebuilds the search index under the new KEK), then the retired KEK files are wiped and removed, and the ring
//!    reloaded; `keys.retired` is ledgered. With read-only keys the service cannot
//!    destroy them; it names them for the operator to remove.
//!
//! Every step is idempotent, so a retirement cut off anywhere resumes.

use crate::catalog::CatalogError;
use crate::db::{params, Tx};
use crate::id::{RecordingId, StreamName};
use crate::key_objects::{self, KeyObject};
use crate::keys::{KeyDir, Keyring, WrappedDek};
use crate::layout::ObjectKey;
use crate::ledger::NewEntry;
use crate::store::StoreError;
use crate::vault::{Vault, VaultError};
use bytes::Bytes;
use serde_json::json;

/// Re-wraps the caller's transient keys (e.g. resumable uploads' tail keys) under
/// the ring's current KEK, in the given transaction; returns how many it changed.
pub type TransientKeys = std::sync::Arc<dyn Fn(&Tx<'_>, &Keyring) -> Result<usize, VaultError> + Send + Sync>;

/// Moves the caller's own data off the retiring KEKs (the search index), run
/// before they are destroyed ([`Vault::before_destroy`]).
pub type BeforeDestroy =
    std::sync::Arc<dyn Fn() -> futures::future::BoxFuture<'static, Result<(), VaultError>> + Send + Sync>;

/// What a retirement did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Retired {
    pub generation: u32,
    pub kek: String,
    /// The KEKs retired: destroyed, or (read-only keys) for the operator to remove.
    pub retiring: Vec<String>,
    pub rewrapped: usize,
    pub transient: usize,
    pub notes_resealed: usize,
    pub old_objects_deleted: usize,
    pub destroyed: Vec<String>,
    /// Why the service could not destroy the retired KEKs itself, if it could not.
    pub read_only: Option<String>,
}

/// A retirement as its catalog row stands.
#[derive(Debug, Clone)]
struct Row {
    generation: u32,
    kek: String,
    retiring: Vec<String>,
    step: String,
}

impl Vault {
    /// Retires every KEK but a new one. Resumes an unfinished retirement first
    /// instead of starting another.
    pub async fn retire_keks(&self, dir: &KeyDir, transient: TransientKeys) -> Result<Retired, VaultError> {
        if let Some(row) = self.unfinished_retirement().await? {
            return self.run_retirement(dir, row, transient).await;
        }
        let row = self.start_retirement(dir).await?;
        self.run_retirement(dir, row, transient).await
    }

    /// Finishes a retirement a crash cut off, if there is one.
    pub async fn resume_retirement(
        &self,
        dir: &KeyDir,
        transient: TransientKeys,
    ) -> Result<Option<Retired>, VaultError> {
        match self.unfinished_retirement().await? {
            Some(row) => Ok(Some(self.run_retirement(dir, row, transient).await?)),
            None => Ok(None),
        }
    }

    async fn unfinished_retirement(&self) -> Result<Option<Row>, VaultError> {
        self.catalog
            .reading(|tx| {
                let Some(r) = tx.query_opt(
                    "SELECT generation, new_kek, retiring, step FROM kek_retirements WHERE step != 'done' ORDER BY generation LIMIT 1",
                    &[],
                )?
                else {
                    return Ok::<_, VaultError>(None);
                };
                let retiring: String = r.get(2)?;
                Ok(Some(Row {
                    generation: r.get(0)?,
                    kek: r.get(1)?,
                    retiring: serde_json::from_str(&retiring).unwrap_or_default(),
                    step: r.get(3)?,
                }))
            })
            .await
    }

    async fn start_retirement(&self, dir: &KeyDir) -> Result<Row, VaultError> {
        let read_only = dir.read_only();
        if read_only.is_none() {
            dir.rotate()?;
            self.keys.set_ring(dir.load_ring()?);
        }
        let ring = self.keys.ring();
        let kek = ring.current_id().to_string();
        let retiring: Vec<String> = ring.ids().into_iter().filter(|id| *id != kek).collect();
        if retiring.is_empty() {
            return Err(VaultError::Conflict(format!(
                "nothing to retire: {} holds only the current KEK; add a new current KEK first (README, \"Retiring a KEK\")",
                read_only.unwrap_or_default()
            )));
        }
        // Every wrap that began under the old ring commits before we look.
        drop(self.wrap_gate.write().await);
        let data = json!({ "kek": kek, "retiring": retiring });
        let (kek2, retiring2) = (kek.clone(), retiring.clone());
        let now = self.now();
        let entry = NewEntry {
            actor: crate::ledger::actor_system(),
            action: "keys.retirement.started",
            subject: "keys".into(),
            data,
        };
        let (generation, _) = self
            .commit(entry, move |tx| {
                let done: u32 = tx.query_one("SELECT COALESCE(MAX(generation), 0) FROM kek_retirements", &[])?.get(0)?;
                let keys: u32 = tx.query_one("SELECT COALESCE(MAX(generation), 0) FROM key_objects", &[])?.get(0)?;
                let generation = done.max(keys) + 1;
                tx.execute(
                    "INSERT INTO kek_retirements (generation, new_kek, retiring, step, started_at) VALUES ($1, $2, $3, 'rewrap', $4)",
                    params![generation, kek2, serde_json::to_string(&retiring2).unwrap_or_default(), now],
                )?;
                Ok(generation)
            })
            .await?;
        tracing::info!(generation, kek = %kek, retiring = ?retiring, "KEK retirement started");
        Ok(Row { generation, kek, retiring, step: "rewrap".into() })
    }

    async fn run_retirement(&self, dir: &KeyDir, row: Row, transient: TransientKeys) -> Result<Retired, VaultError> {
        let ring = self.keys.ring();
        if ring.current_id() != row.kek {
            return Err(VaultError::Conflict(format!(
                "KEK retirement {} re-wraps under KEK {}, but the current KEK is {}: put {} back as current, then start again",
                row.generation, row.kek, ring.current_id(), row.kek
            )));
        }
        let mut out = Retired {
            generation: row.generation,
            kek: row.kek.clone(),
            retiring: row.retiring.clone(),
            ..Default::default()
        };
        out.read_only = dir.read_only();
        let mut step = row.step.clone();
        if step == "rewrap" {
            out.rewrapped = self.rewrap_all(&row).await?;
            out.transient = self.rewrap_transient(transient).await?;
            out.notes_resealed = self.reseal_notes(&row).await?;
            step = self.set_step(row.generation, "check").await?;
        }
        if step == "check" {
            self.mirror.flush(true).await?;
            self.check_rewrapped(&row).await?;
            step = self.set_step(row.generation, "delete").await?;
        }
        if step == "delete" {
            out.old_objects_deleted = self.delete_old_generations(&row).await?;
            step = self.set_step(row.generation, "destroy").await?;
        }
        if step == "destroy" {
            if let Some(hook) = self.before_destroy.get() {
                hook().await?;
            }
            out.destroyed = self.destroy_retired(dir, &row).await?;
        }
        tracing::info!(generation = row.generation, rewrapped = out.rewrapped, destroyed = ?out.destroyed, "KEK retirement finished");
        Ok(out)
    }

    async fn set_step(&self, generation: u32, step: &'static str) -> Result<String, VaultError> {
        self.catalog
            .writing(move |tx| {
                tx.execute("UPDATE kek_retirements SET step = $2 WHERE generation = $1", params![generation, step])?;
                Ok::<_, VaultError>(step.to_string())
            })
            .await
    }

    /// Step 2: every live key not under the new KEK, as generation N.
    async fn rewrap_all(&self, row: &Row) -> Result<usize, VaultError> {
        let mut done = 0;
        loop {
            let kek = row.kek.clone();
            let todo: Vec<(String, String)> = self
                .catalog
                .reading(move |tx| {
                    let rows = tx.query(
                        "SELECT k.recording, k.stream FROM key_objects k JOIN recordings r ON r.id = k.recording
                         WHERE k.kek != $1 AND r.state != 'shredded' ORDER BY k.recording, k.stream LIMIT 256",
                        params![kek],
                    )?;
                    pairs(&rows)
                })
                .await?;
            if todo.is_empty() {
                return Ok(done);
            }
            for (rec, name) in todo {
                let rec: RecordingId = rec.parse().map_err(|e| VaultError::Conflict(format!("catalog: {e}")))?;
                let name: StreamName = name.parse().map_err(|e| VaultError::Conflict(format!("catalog: {e}")))?;
                self.rewrap_one(row, rec, name).await?;
                done += 1;
            }
        }
    }

    async fn rewrap_one(&self, row: &Row, rec: RecordingId, name: StreamName) -> Result<(), VaultError> {
        let (old, wrapped) = self.wrapped_key(rec, name).await?;
        let ring = self.keys.ring();
        let dek = ring.unwrap(&wrapped, rec, name)?;
        let object = ObjectKey::dek_gen(rec, name, row.generation);
        let fresh = ring.wrap(&dek, rec, name)?;
        let wrapped = match self.store.put_new(&object, Bytes::from(key_objects::encode(&fresh))).await {
            Ok(()) => fresh,
            // Put before a crash: adopt it if it holds the same key under the new KEK.
            Err(StoreError::AlreadyExists(_)) => {
                let body = self.store.get(object.as_str()).await?;
                let existing: WrappedDek =
                    serde_json::from_slice(&body).map_err(|e| VaultError::Conflict(format!("{object}: {e}")))?;
                if existing.kek != row.kek || ring.unwrap(&existing, rec, name)?.bytes() != dek.bytes() {
                    return Err(VaultError::Conflict(format!("{object} exists and holds another key")));
                }
                existing
            }
            Err(e) => return Err(e.into()),
        };
        let bytes = key_objects::encode(&wrapped);
        let key = KeyObject { generation: row.generation, kek: row.kek.clone(), sha256: crate::sha256_hex(&bytes) };
        let data = json!({ "generation": row.generation, "kek": row.kek, "key_sha256": key.sha256, "replaces": old.generation });
        let entry = NewEntry {
            actor: crate::ledger::actor_system(),
            action: "keys.rewrapped",
            subject: format!("recording/{rec}/{name}"),
            data,
        };
        let pointer = key.clone();
        let committed = self
            .commit(entry, move |tx| {
                let state = crate::vault::recording_state(tx, rec)?.ok_or(VaultError::NoRecording(rec))?;
                if state == "shredded" {
                    return Err(VaultError::Shredded(rec));
                }
                key_objects::record(tx, rec, name, &pointer)
            })
            .await;
        match committed {
            Ok(_) => {}
            // Shredded meanwhile: its keys go with the shred, the new one too.
            Err(VaultError::Shredded(_)) => {
                let _ = self.store.delete(&object).await;
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        self.key_cache.forget(rec);
        Ok(())
    }

    /// Transient keys in the catalog: transcripts being sealed, and the caller's.
    async fn rewrap_transient(&self, transient: TransientKeys) -> Result<usize, VaultError> {
        let ring = self.keys.ring();
        let sealing: Vec<(String, String)> = self
            .catalog
            .reading(|tx| {
                pairs(&tx.query("SELECT recording, wrapped_dek FROM transcripts WHERE state = 'sealing'", &[])?)
            })
            .await?;
        let mut changed = 0;
        for (rec, wrapped) in sealing {
            let rec: RecordingId = rec.parse().map_err(|e| VaultError::Conflict(format!("catalog: {e}")))?;
            let w: WrappedDek =
                serde_json::from_str(&wrapped).map_err(|e| VaultError::Conflict(format!("catalog: {e}")))?;
            if w.kek == ring.current_id() {
                continue;
            }
            let fresh = ring.wrap(&ring.unwrap(&w, rec, StreamName::Transcript)?, rec, StreamName::Transcript)?;
            // A key object put before a crash, never recorded: the old wrapping goes.
            match self.store.delete(&ObjectKey::dek(rec, StreamName::Transcript)).await {
                Ok(()) => {}
                Err(e) if key_objects::absent(&e) => {}
                Err(e) => return Err(e.into()),
            }
            let (json, sha) = (
                serde_json::to_string(&fresh).expect("a wrapped key serialises"),
                crate::sha256_hex(&key_objects::encode(&fresh)),
            );
            self.catalog
                .writing(move |tx| {
                    tx.execute(
                        "UPDATE transcripts SET wrapped_dek = $2, key_sha256 = $3 WHERE recording = $1 AND state = 'sealing'",
                        params![rec.to_string(), json, sha],
                    )?;
                    Ok::<_, VaultError>(())
                })
                .await?;
            changed += 1;
        }
        let ring2 = ring.clone();
        let theirs = self.catalog.writing(move |tx| transient(tx, &ring2)).await;
        Ok(changed + theirs?)
    }

    /// Sealed facts that a release before v0.3 sealed under a retiring KEK, sealed
    /// again under the note key in a `note.resealed` entry (`of`: the entry's seq).
    async fn reseal_notes(&self, row: &Row) -> Result<usize, VaultError> {
        let retiring = row.retiring.clone();
        let legacy: Vec<(u64, String, String)> = self
            .catalog
            .reading(move |tx| {
                let sql = if tx.is_postgres() {
                    "SELECT seq, subject, (data::jsonb -> 'sealed')::text FROM ledger
                     WHERE data::jsonb -> 'sealed' ->> 'format' = 'niem/note/v1'
                       AND seq NOT IN (SELECT (data::jsonb ->> 'of')::bigint FROM ledger WHERE action = 'note.resealed')"
                } else {
                    "SELECT seq, subject, json_extract(data, '$.sealed') FROM ledger
                     WHERE json_extract(data, '$.sealed.format') = 'niem/note/v1'
                       AND seq NOT IN (SELECT json_extract(data, '$.of') FROM ledger WHERE action = 'note.resealed')"
                };
                let rows = tx.query(sql, &[])?;
                Ok::<_, VaultError>(
                    rows.iter().map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).collect::<Result<Vec<_>, CatalogError>>()?,
                )
            })
            .await?;
        let mut n = 0;
        for (seq, subject, sealed) in legacy {
            let note: WrappedDek =
                serde_json::from_str(&sealed).map_err(|e| VaultError::Conflict(format!("ledger entry {seq}: {e}")))?;
            if !retiring.contains(&note.kek) {
                continue;
            }
            let plain = self.keys.open_note(&subject, &note)?;
            let again = self.keys.seal_note(&subject, &plain)?;
            let data = json!({ "of": seq, "sealed": again });
            self.record(NewEntry { actor: crate::ledger::actor_system(), action: "note.resealed", subject, data })
                .await?;
            n += 1;
        }
        Ok(n)
    }

    /// Step 3: every key of this generation opens, read back from the store.
    async fn check_rewrapped(&self, row: &Row) -> Result<(), VaultError> {
        let kek = row.kek.clone();
        let rows: Vec<(String, String)> = self
            .catalog
            .reading(move |tx| {
                let rows = tx.query(
                    "SELECT k.recording, k.stream FROM key_objects k JOIN recordings r ON r.id = k.recording
                     WHERE k.kek = $1 AND r.state != 'shredded'",
                    params![kek],
                )?;
                pairs(&rows)
            })
            .await?;
        for (rec, name) in rows {
            let rec: RecordingId = rec.parse().map_err(|e| VaultError::Conflict(format!("catalog: {e}")))?;
            let name: StreamName = name.parse().map_err(|e| VaultError::Conflict(format!("catalog: {e}")))?;
            self.key_cache.forget(rec);
            self.data_key(rec, name)
                .await
                .map_err(|e| VaultError::Conflict(format!("the re-wrapped key of {rec}/{name} does not open: {e}")))?;
        }
        Ok(())
    }

    /// Step 4: the older generations of every re-wrapped key object.
    async fn delete_old_generations(&self, row: &Row) -> Result<usize, VaultError> {
        let generation = row.generation;
        let rows: Vec<(String, String)> = self
            .catalog
            .reading(move |tx| {
                pairs(
                    &tx.query("SELECT recording, stream FROM key_objects WHERE generation = $1", params![generation])?,
                )
            })
            .await?;
        let mut deleted = 0;
        for (rec, name) in rows {
            let rec: RecordingId = rec.parse().map_err(|e| VaultError::Conflict(format!("catalog: {e}")))?;
            for meta in self.store.list(&format!("keys/{rec}/")).await? {
                if let crate::layout::ObjectKind::Dek(r, n, g) = ObjectKey::classify(&meta.key) {
                    if r == rec && n.to_string() == name && g < generation {
                        self.store.delete(&ObjectKey::dek_gen(rec, n, g)).await?;
                        deleted += 1;
                    }
                }
            }
        }
        Ok(deleted)
    }

    /// Step 5: the retired KEKs are destroyed (or named, with read-only keys).
    async fn destroy_retired(&self, dir: &KeyDir, row: &Row) -> Result<Vec<String>, VaultError> {
        let mut destroyed = Vec::new();
        let read_only = dir.read_only();
        if read_only.is_none() {
            for id in &row.retiring {
                dir.destroy_kek(id)?;
                destroyed.push(id.clone());
            }
            self.keys.set_ring(dir.load_ring()?);
        } else {
            tracing::warn!(keks = ?row.retiring, reason = ?read_only, "retired KEKs must be removed from the key store by the operator");
        }
        let data = json!({ "kek": row.kek, "destroyed": destroyed, "left_for_the_operator": if read_only.is_some() { row.retiring.clone() } else { Vec::new() } });
        let (generation, now) = (row.generation, self.now());
        let entry =
            NewEntry { actor: crate::ledger::actor_system(), action: "keys.retired", subject: "keys".into(), data };
        self.commit(entry, move |tx| {
            tx.execute(
                "UPDATE kek_retirements SET step = 'done', finished_at = $2 WHERE generation = $1",
                params![generation, now],
            )?;
            Ok(())
        })
        .await?;
        self.mirror.flush(true).await?;
        Ok(destroyed)
    }
}

/// Rows of two text columns.
fn pairs(rows: &[crate::db::Row]) -> Result<Vec<(String, String)>, VaultError> {
    Ok(rows.iter().map(|r| Ok((r.get(0)?, r.get(1)?))).collect::<Result<Vec<_>, CatalogError>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::TAG_LEN;
    use crate::testing::{anything, World};

    fn none() -> TransientKeys {
        std::sync::Arc::new(|_, _| Ok(0))
    }

    /// The first chunk of `rec`'s first stream, decrypted: it still plays.
    async fn plays(w: &World, rec: RecordingId) -> bool {
        let m = w.vault.manifest_draft(rec).await.unwrap();
        let info = w.vault.stream(m.streams[0].id).await.unwrap();
        let Ok(key) = w.vault.stream_key(&info).await else { return false };
        let body = w.store.get(ObjectKey::chunk(rec, info.manifest.id, 0).as_str()).await.unwrap();
        let mut buf = body.to_vec();
        key.open(0, false, &mut buf).is_ok() && buf.len() == body.len() - TAG_LEN
    }

    fn key_files(dir: &std::path::Path) -> Vec<(String, WrappedDek)> {
        let mut out = Vec::new();
        for entry in walk(dir) {
            if entry.extension().is_some_and(|e| e == "dek") {
                let w = serde_json::from_slice(&std::fs::read(&entry).unwrap()).unwrap();
                out.push((entry.display().to_string(), w));
            }
        }
        out
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
        for f in walk(from) {
            let dest = to.join(f.strip_prefix(from).unwrap());
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(&f, &dest).unwrap();
        }
    }

    /// A copy of the store and catalog taken before a shred, a shred, a retirement:
    /// nothing of the shredded recording opens from the copy with the keys left,
    /// no wrapped key of it is in the catalog or its WAL, and live and held
    /// recordings still play and verify.
    #[tokio::test]
    async fn after_a_retirement_no_copy_opens_a_shredded_recording() {
        let w = World::new().await;
        w.policy("user:a1", "p1", Some("c1"), None, 1).await;
        let live = w.recording("m1", "c1").await;
        let held = w.recording("m2", "c2").await;
        let shredded = w.recording("m1", "c1").await;
        w.hold("h1", "/b/c2").await;
        w.vault.catalog.with(|c| c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))).unwrap();
        let backup = tempfile::tempdir().unwrap();
        copy_dir(w.dir.path(), backup.path());
        let old_kek = w.keys.ring().current_id().to_string();

        w.clock.advance(time::Duration::days(2));
        w.vault.shred("system", shredded, World::cause("p1"), anything()).await.unwrap();
        let done = w.vault.retire_keks(&w.keydir, none()).await.unwrap();
        assert_eq!(done.retiring, vec![old_kek.clone()]);
        assert_eq!(done.destroyed, vec![old_kek.clone()]);
        assert_eq!(done.rewrapped, 2, "the live and the held recording, not the shredded one: {done:?}");
        assert_eq!(done.old_objects_deleted, 2);

        // From the copy: every key object was wrapped by the destroyed KEK.
        let ring = w.keys.ring();
        let copied = key_files(&backup.path().join("store"));
        assert_eq!(copied.len(), 3);
        for (path, wrapped) in &copied {
            assert_eq!(wrapped.kek, old_kek);
            let rec: RecordingId = path.split('/').rev().nth(1).unwrap().parse().unwrap();
            let m = w.vault.manifest_draft(rec).await.unwrap();
            let tried = ring.unwrap(wrapped, rec, StreamName::Media(m.streams[0].id));
            assert!(matches!(tried, Err(crate::keys::KeyError::UnknownKek(_))), "{path}: {tried:?}");
        }
        // No wrapped key is in any catalog file, copied or current.
        for dir in [backup.path(), w.dir.path()] {
            for f in walk(dir).into_iter().filter(|f| f.to_string_lossy().contains("catalog.db")) {
                let bytes = std::fs::read(&f).unwrap();
                for (_, wrapped) in &copied {
                    let needle = wrapped.sealed.as_bytes();
                    assert!(!bytes.windows(needle.len()).any(|x| x == needle), "{} holds a wrapped key", f.display());
                }
            }
        }
        assert!(plays(&w, live).await && plays(&w, held).await, "live and held recordings still play");
        assert!(!plays(&w, shredded).await);
        let report = w.verify().await;
        assert!(report.intact(), "{:?}", report.damage());
        assert_eq!(report.counts().get("key").map(|c| c.0), Some(2), "{:?}", report.counts());
        // A copy of a current key object still opens: a new key object per generation.
        assert_eq!(key_files(&w.dir.path().join("store")).iter().filter(|(p, _)| p.ends_with(".g1.dek")).count(), 2);
    }

    /// A retirement cut off after any step resumes and finishes; the store verifies.
    #[tokio::test]
    async fn a_retirement_interrupted_at_any_step_resumes() {
        for stop in ["rewrap-half", "rewrap", "check", "delete", "destroy"] {
            let w = World::new().await;
            let a = w.recording("m1", "c1").await;
            let b = w.recording("m2", "c2").await;
            let row = w.vault.start_retirement(&w.keydir).await.unwrap();
            match stop {
                "rewrap-half" => w
                    .vault
                    .rewrap_one(&row, a, StreamName::Media(w.vault.manifest_draft(a).await.unwrap().streams[0].id))
                    .await
                    .unwrap(),
                _ => {
                    w.vault.rewrap_all(&row).await.unwrap();
                    let step = ["rewrap", "check", "delete", "destroy"].iter().position(|s| *s == stop).unwrap();
                    if step >= 1 {
                        w.vault.set_step(row.generation, "check").await.unwrap();
                        w.vault.mirror.flush(true).await.unwrap();
                    }
                    if step >= 2 {
                        w.vault.check_rewrapped(&row).await.unwrap();
                        w.vault.set_step(row.generation, "delete").await.unwrap();
                    }
                    if step >= 3 {
                        w.vault.delete_old_generations(&row).await.unwrap();
                        w.vault.set_step(row.generation, "destroy").await.unwrap();
                    }
                }
            }
            let resumed = w.vault.resume_retirement(&w.keydir, none()).await.unwrap();
            assert!(resumed.is_some_and(|r| r.destroyed.len() == 1), "{stop}");
            assert!(w.vault.resume_retirement(&w.keydir, none()).await.unwrap().is_none(), "{stop}: finished once");
            assert!(plays(&w, a).await && plays(&w, b).await, "{stop}");
            assert_eq!(w.keys.ring().ids().len(), 1, "{stop}");
            let report = w.verify().await;
            assert!(report.intact(), "{stop}: {:?}", report.damage());
            // And a second retirement after it: generation 2.
            let again = w.vault.retire_keks(&w.keydir, none()).await.unwrap();
            assert_eq!((again.generation, again.rewrapped), (2, 2), "{stop}");
            assert!(w.verify().await.intact() && plays(&w, a).await, "{stop}");
        }
    }

    /// Sealed facts written under a KEK before v0.3 are re-sealed under the note key
    /// before that KEK is destroyed.
    #[tokio::test]
    async fn legacy_notes_survive_a_retirement() {
        let w = World::new().await;
        let note = w.keys.ring().seal_note_v1("meeting/m9", b"Sinh hoat").unwrap();
        let seq = w
            .fact(
                "user:a1",
                "meeting.created",
                "meeting/m9",
                serde_json::json!({ "org": "c1", "kind": "regular", "sealed": note }),
            )
            .await;
        let done = w.vault.retire_keks(&w.keydir, none()).await.unwrap();
        assert_eq!(done.notes_resealed, 1);
        assert!(w.keys.open_note("meeting/m9", &note).is_err(), "the old KEK is gone");
        let resealed = w.vault.catalog.with(|c| crate::ledger::read_where(c, "action = 'note.resealed'", [])).unwrap();
        assert_eq!(resealed.len(), 1);
        assert_eq!(resealed[0].data["of"], seq);
        let again: WrappedDek = serde_json::from_value(resealed[0].data["sealed"].clone()).unwrap();
        assert_eq!(&w.keys.open_note("meeting/m9", &again).unwrap()[..], b"Sinh hoat");
        let second = w.vault.retire_keks(&w.keydir, none()).await.unwrap();
        assert_eq!(second.notes_resealed, 0, "re-sealed once");
    }

    /// Keys wrapped while a retirement runs are wrapped under the new KEK: the gate.
    #[tokio::test]
    async fn streams_opened_during_a_retirement_survive_it() {
        let w = World::new().await;
        let vault = w.vault.clone();
        let keydir = w.keydir.clone();
        let retire = tokio::spawn(async move { vault.retire_keks(&keydir, std::sync::Arc::new(|_, _| Ok(0))).await });
        let mut recs = Vec::new();
        for _ in 0..5 {
            recs.push(w.recording("m1", "c1").await);
        }
        retire.await.unwrap().unwrap();
        for rec in recs {
            assert!(plays(&w, rec).await, "{rec}");
        }
        assert!(w.verify().await.intact());
    }
}
