//! Crypto-shredding: how a recording whose retention expired is destroyed while
//! the proof that it existed, and was lawfully deleted, stays.
//!
//! A shred is one state machine, `sealed → shredding → shredded`:
//! 1. in one transaction, with the caller's re-check of holds and expiry inside it:
//!    the recording must be `sealed`; it becomes `shredded` with `shred_done_at`
//!    unset (shredding), its key pointers and transcript row go, and the
//!    `recording.shredded` entry is appended. Whatever runs at once, exactly one
//!    transaction finds it sealed, so a recording gets exactly one shred entry;
//! 2. the ledger reaches the store under a signed checkpoint, so the store always
//!    explains what is about to go;
//! 3. every key object of every generation is deleted (the ciphertext is now
//!    unreadable everywhere the KEK that wrapped it is gone: see `crate::retire`);
//! 4. the chunks and the transcript are deleted; the manifest stays as a tombstone;
//! 5. `shred_done_at` is set.
//!
//! Steps 2–5 are idempotent. A shred cut off after step 1 is finished by
//! [`Vault::resume_shreds`], which the service runs at start and before every
//! retention run. Objects the store refuses to delete (Object Lock) are reported,
//! not fatal: without their key they are noise.
//!
//! Whether a shred was lawful is not decided here but by the verifier, from the
//! signed ledger alone (`crate::deletion`).

use crate::db::{params, Tx};
use crate::id::RecordingId;
use crate::layout::{ObjectKey, ObjectKind};
use crate::ledger::NewEntry;
use crate::vault::{Vault, VaultError};

/// What a shred did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Shredded {
    /// False when the recording was already shredded (this call only finished it).
    pub entry_written: bool,
    pub keys_deleted: usize,
    pub objects_deleted: usize,
    /// Objects the store would not delete (under Object Lock), left unreadable.
    pub objects_kept: Vec<String>,
}

/// A re-check run inside the shred's transaction (holds, expiry): an error
/// leaves the recording sealed and writes nothing.
pub type Check = Box<dyn FnOnce(&Tx<'_>) -> Result<(), VaultError> + Send>;

impl Vault {
    /// Crypto-shreds sealed recording `rec`. `cause` is the entry's data (the policy
    /// it cites); `check` re-checks, inside the transaction, that it may go.
    pub async fn shred(
        &self,
        actor: &str,
        rec: RecordingId,
        cause: serde_json::Value,
        check: Check,
    ) -> Result<Shredded, VaultError> {
        let entry = NewEntry {
            actor: actor.into(),
            action: "recording.shredded",
            subject: format!("recording/{rec}"),
            data: cause,
        };
        let written = self
            .commit(entry, move |tx| {
                let state = crate::vault::recording_state(tx, rec)?;
                match state.as_deref() {
                    None => return Err(VaultError::NoRecording(rec)),
                    Some("sealed") => {}
                    Some("shredded") => return Err(VaultError::Shredded(rec)),
                    Some(_) => {
                        return Err(VaultError::Conflict(format!(
                            "recording {rec} is open; only sealed recordings expire"
                        )))
                    }
                }
                check(tx)?;
                tx.execute(
                    "UPDATE recordings SET state = 'shredded', shred_done_at = NULL WHERE id = $1",
                    params![rec.to_string()],
                )?;
                tx.execute("DELETE FROM key_objects WHERE recording = $1", params![rec.to_string()])?;
                tx.execute("DELETE FROM transcripts WHERE recording = $1", params![rec.to_string()])?;
                Ok(())
            })
            .await;
        let entry_written = match written {
            Ok(_) => true,
            Err(VaultError::Shredded(_)) => false,
            Err(e) => return Err(e),
        };
        self.key_cache.forget(rec);
        let mut out = self.finish_shred(rec).await?;
        out.entry_written = entry_written;
        Ok(out)
    }

    /// Finishes every shred a crash or an outage cut off after its entry.
    pub async fn resume_shreds(&self) -> Result<Vec<(RecordingId, Shredded)>, VaultError> {
        let pending: Vec<String> = self
            .catalog
            .reading(|tx| {
                let rows = tx.query(
                    "SELECT id FROM recordings WHERE state = 'shredded' AND shred_done_at IS NULL ORDER BY id",
                    &[],
                )?;
                Ok::<_, VaultError>(rows.iter().map(|r| r.get(0)).collect::<Result<Vec<String>, _>>()?)
            })
            .await?;
        let mut out = Vec::new();
        for id in pending {
            let rec: RecordingId = id.parse().map_err(|e| VaultError::Conflict(format!("catalog: {e}")))?;
            self.key_cache.forget(rec);
            out.push((rec, self.finish_shred(rec).await?));
        }
        Ok(out)
    }

    /// Steps 2–5 of a shred whose entry has committed.
    async fn finish_shred(&self, rec: RecordingId) -> Result<Shredded, VaultError> {
        let mut out = Shredded::default();
        // The store's ledger must explain every missing object before one goes.
        self.mirror.flush(true).await?;
        // Keys first, every generation: from here on the ciphertext is unreadable.
        for meta in self.store.list(&format!("keys/{rec}/")).await? {
            if let ObjectKind::Dek(r, stream, generation) = ObjectKey::classify(&meta.key) {
                if r == rec {
                    self.store.delete(&ObjectKey::dek_gen(rec, stream, generation)).await?;
                    out.keys_deleted += 1;
                }
            }
        }
        for meta in self.store.list(&format!("recordings/{rec}/")).await? {
            let key = match ObjectKey::classify(&meta.key) {
                ObjectKind::Chunk(r, stream, i) if r == rec => ObjectKey::chunk(rec, stream, i),
                ObjectKind::Transcript(r) if r == rec => ObjectKey::transcript(rec),
                _ => continue, // the manifest stays: the tombstone
            };
            match self.store.delete(&key).await {
                Ok(()) => out.objects_deleted += 1,
                Err(e) => {
                    tracing::warn!(object = key.as_str(), error = %e, "the store kept a shredded object (Object Lock?); it stays unreadable");
                    out.objects_kept.push(key.as_str().to_string());
                }
            }
        }
        let now = self.now();
        self.catalog
            .writing(move |tx| {
                tx.execute("UPDATE recordings SET shred_done_at = $2 WHERE id = $1", params![rec.to_string(), now])?;
                Ok::<_, VaultError>(())
            })
            .await?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{anything, World, T0};
    use serde_json::json;

    #[tokio::test]
    async fn an_expired_recording_is_shredded_lawfully_and_its_content_is_gone() {
        let w = World::new().await;
        w.policy("user:a1", "p1", Some("b"), None, 1).await;
        let rec = w.recording("m1", "c1").await;
        w.clock.advance(time::Duration::days(2));
        let done = w.vault.shred("system", rec, World::cause("p1"), anything()).await.unwrap();
        assert_eq!((done.entry_written, done.keys_deleted, done.objects_deleted), (true, 1, 3), "{done:?}");
        assert!(w.store.list(&format!("keys/{rec}/")).await.unwrap().is_empty(), "keys gone");
        let left: Vec<String> =
            w.store.list(&format!("recordings/{rec}/")).await.unwrap().into_iter().map(|m| m.key).collect();
        assert_eq!(left, vec![format!("recordings/{rec}/manifest.json")], "only the tombstone");
        let info = w.vault.stream(w.vault.manifest_draft(rec).await.unwrap().streams[0].id).await.unwrap();
        assert!(matches!(w.vault.stream_key(&info).await, Err(VaultError::Shredded(_))), "no key is found any more");
        let again = w.vault.shred("system", rec, World::cause("p1"), anything()).await.unwrap();
        assert_eq!(again, Shredded::default(), "a second shred writes nothing and finds nothing");
        let report = w.verify().await;
        assert!(report.intact(), "{:?}", report.problems);
        let d = World::verdict(&report, rec);
        assert!(d.lawful && d.reason.contains("policy p1"), "{d:?}");
        let entries =
            w.vault.catalog.with(|c| crate::ledger::read_where(c, "action = 'recording.shredded'", [])).unwrap();
        assert_eq!(entries.len(), 1, "one shred entry");
    }

    /// Each way a shred can break the rules, judged from the ledger alone.
    #[tokio::test]
    async fn unlawful_shreds_are_reported() {
        let w = World::new().await;
        w.policy("user:a1", "p30", Some("b"), None, 30).await;
        w.policy("user:a1", "thematic", Some("b"), Some("thematic"), 1).await;
        w.policy("user:a1", "other", Some("c2"), None, 1).await;
        let early = w.recording("m1", "c1").await; // p30 governs: not expired
        let forged = w.recording("m1", "c1").await; // cites a policy the ledger does not have
        let held = w.recording("m2", "c2").await; // under a hold on its cell
        let kind = w.recording("m1", "c1").await; // cites the thematic policy: other kind
        let subtree = w.recording("m1", "c1").await; // cites c2's policy: other subtree
        let shortened = w.recording("m1", "c1").await; // a later, shorter policy, unapproved
        let self_approved = w.recording("m1", "c1").await; // approved by the admin who set it
        let approved = w.recording("m1", "c1").await; // approved by a second admin: lawful
        w.hold("h1", "/b/c2").await;
        w.clock.advance(time::Duration::days(2));
        w.policy("user:a1", "short", Some("c1"), None, 1).await;
        w.approve("user:a1", "short").await;
        let shred = |rec, policy: &'static str| {
            let v = w.vault.clone();
            async move { v.shred("system", rec, World::cause(policy), anything()).await.unwrap() }
        };
        shred(early, "p30").await;
        shred(forged, "nope").await;
        shred(held, "other").await;
        shred(kind, "thematic").await;
        shred(subtree, "other").await;
        shred(shortened, "short").await;
        // Superseded: p30 no longer governs once "short" is approved below.
        w.approve("user:a2", "short").await;
        shred(self_approved, "p30").await;
        shred(approved, "short").await;
        let report = w.verify().await;
        let why = |rec| World::verdict(&report, rec);
        assert!(why(early).reason.contains("before it expired"), "{:?}", why(early));
        assert!(why(forged).reason.contains("cites policy nope, but policy p30 governed it"), "{:?}", why(forged));
        assert!(why(held).reason.contains("hold h1"), "{:?}", why(held));
        assert!(why(kind).reason.contains("cites policy thematic, but policy p30"), "{:?}", why(kind));
        assert!(why(subtree).reason.contains("cites policy other, but policy p30"), "{:?}", why(subtree));
        assert!(why(shortened).reason.contains("no second admin approved it"), "{:?}", why(shortened));
        assert!(why(shortened).reason.contains("cannot approve it"), "names the self-approval: {:?}", why(shortened));
        assert!(
            why(self_approved).reason.contains("cites policy p30, but policy short governed it"),
            "superseded: {:?}",
            why(self_approved)
        );
        assert!(why(approved).lawful, "{:?}", why(approved));
        assert!(!report.intact());
        assert_eq!(report.problems.iter().filter(|p| p.starts_with("UNLAWFUL")).count(), 7, "{:?}", report.problems);
    }

    /// Two shreds of one recording racing: one entry, one set of deletions.
    #[tokio::test]
    async fn concurrent_shreds_write_one_entry() {
        let w = World::new().await;
        w.policy("user:a1", "p1", None, None, 1).await;
        let rec = w.recording("m1", "c1").await;
        w.clock.advance(time::Duration::days(2));
        let (a, b) = tokio::join!(
            w.vault.shred("system", rec, World::cause("p1"), anything()),
            w.vault.shred("system", rec, World::cause("p1"), anything())
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(u8::from(a.entry_written) + u8::from(b.entry_written), 1, "{a:?} {b:?}");
        let entries =
            w.vault.catalog.with(|c| crate::ledger::read_where(c, "action = 'recording.shredded'", [])).unwrap();
        assert_eq!(entries.len(), 1);
        assert!(w.verify().await.intact());
    }

    /// The re-check inside the transaction can stop a shred: nothing is written.
    #[tokio::test]
    async fn a_failed_recheck_leaves_the_recording_sealed() {
        let w = World::new().await;
        w.policy("user:a1", "p1", None, None, 1).await;
        let rec = w.recording("m1", "c1").await;
        let refuse: Check = Box::new(|_| Err(VaultError::Conflict("held now".into())));
        assert!(w.vault.shred("system", rec, World::cause("p1"), refuse).await.is_err());
        let state: String = w
            .vault
            .catalog
            .with(|c| c.query_row("SELECT state FROM recordings WHERE id = ?1", [rec.to_string()], |r| r.get(0)))
            .unwrap();
        assert_eq!(state, "sealed");
        assert_eq!(w.store.list(&format!("keys/{rec}/")).await.unwrap().len(), 1, "nothing deleted");
    }

    /// A shred cut off after its entry is finished at the next start, once.
    #[tokio::test]
    async fn a_half_done_shred_is_resumed() {
        let w = World::new().await;
        w.policy("user:a1", "p1", None, None, 1).await;
        let rec = w.recording("m1", "c1").await;
        let key =
            ObjectKey::dek(rec, crate::id::StreamName::Media(w.vault.manifest_draft(rec).await.unwrap().streams[0].id));
        let saved = std::fs::read(w.store_path(key.as_str())).unwrap();
        w.clock.advance(time::Duration::days(2));
        w.vault.shred("system", rec, World::cause("p1"), anything()).await.unwrap();
        // As if the process had died between the entry and the deletions.
        std::fs::write(w.store_path(key.as_str()), &saved).unwrap();
        w.vault
            .catalog
            .with(|c| c.execute("UPDATE recordings SET shred_done_at = NULL WHERE id = ?1", [rec.to_string()]))
            .unwrap();
        assert!(!w.verify().await.intact(), "a key that survived a shred is caught");
        let resumed = w.vault.resume_shreds().await.unwrap();
        assert_eq!(resumed.len(), 1);
        assert_eq!(resumed[0].1.keys_deleted, 1);
        assert!(w.vault.resume_shreds().await.unwrap().is_empty(), "done once");
        let entries =
            w.vault.catalog.with(|c| crate::ledger::read_where(c, "action = 'recording.shredded'", [])).unwrap();
        assert_eq!(entries.len(), 1, "no second entry");
        assert!(w.verify().await.intact());
        let _ = (json!({}), T0);
    }
}
