//! Crypto-shredding: how a recording whose retention expired is destroyed while
//! the proof that it existed, and was lawfully deleted, stays.
//!
//! Order matters. The `recording.shredded` entry and the catalog's change commit
//! first (its wrapped keys blanked in the catalog, its transcript row dropped, in
//! the same transaction) and reach the store under a signed checkpoint; then
//! the wrapped-key objects are deleted, which makes every copy of the ciphertext,
//! backups included, unreadable; then the chunks and the transcript. The manifest
//! stays as a tombstone. Each step after the commit is idempotent, so a crash
//! between them is repaired by shredding again ([`Vault::shred`] on a recording
//! already shredded deletes only what is left). Objects the store refuses to
//! delete (Object Lock) are reported, not fatal: without their key they are noise.
//!
//! Whether a shred was lawful is not decided here but by the verifier, from the
//! ledger alone (`crate::deletion`): the entry cites its policy, and the policy,
//! its approvals and any holds are ledger entries too.

use crate::id::RecordingId;
use crate::layout::{ObjectKey, ObjectKind};
use crate::ledger::NewEntry;
use crate::vault::{Vault, VaultError};
use rusqlite::OptionalExtension;

/// What a shred did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Shredded {
    /// False when the recording was already shredded (a repair pass).
    pub entry_written: bool,
    pub keys_deleted: usize,
    pub objects_deleted: usize,
    /// Objects the store would not delete (under Object Lock), left unreadable.
    pub objects_kept: Vec<String>,
}

impl Vault {
    /// Crypto-shreds sealed recording `rec`. `cause` is the entry's data: the
    /// policy it cites and what the verifier needs to judge it (see `deletion`).
    pub async fn shred(&self, actor: &str, rec: RecordingId, cause: serde_json::Value) -> Result<Shredded, VaultError> {
        let state: Option<String> =
            self.catalog.call(move |c| c.query_row("SELECT state FROM recordings WHERE id = ?1", [rec.to_string()], |r| r.get(0)).optional().map_err(VaultError::from)).await?;
        let mut out = Shredded::default();
        match state.as_deref() {
            None => return Err(VaultError::NoRecording(rec)),
            Some("open") => return Err(VaultError::Conflict(format!("recording {rec} is open; only sealed recordings expire"))),
            Some("sealed") => {
                let entry = NewEntry { actor: actor.into(), action: "recording.shredded", subject: format!("recording/{rec}"), data: cause };
                self.commit(entry, move |tx| {
                    tx.execute("UPDATE recordings SET state = 'shredded' WHERE id = ?1", [rec.to_string()])?;
                    tx.execute("UPDATE streams SET wrapped_dek = '' WHERE recording = ?1", [rec.to_string()])?;
                    tx.execute("DELETE FROM transcripts WHERE recording = ?1", [rec.to_string()])?;
                    Ok(())
                })
                .await?;
                out.entry_written = true;
            }
            Some(_) => {}
        }
        // The store's ledger must explain every missing object before one goes: a
        // signed checkpoint covers the shred entry first.
        self.mirror.flush(true).await?;
        // Keys first: from here on the ciphertext is unreadable everywhere.
        for meta in self.store.list(&format!("keys/{rec}/")).await? {
            if let ObjectKind::Dek(r, stream) = ObjectKey::classify(&meta.key) {
                if r == rec {
                    self.store.delete(&ObjectKey::dek(rec, stream)).await?;
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
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::clock::{Clock, ManualClock};
    use crate::keys::{KeyDir, Keys};
    use crate::manifest::StreamState;
    use crate::mirror::{Mirror, MirrorPolicy};
    use crate::spool::ChunkSpool;
    use crate::store::{LocalStore, Store};
    use crate::vault::{StreamEnd, StreamSpec};
    use serde_json::json;
    use std::sync::Arc;
    use time::macros::datetime;

    const T0: time::OffsetDateTime = datetime!(2026-01-05 08:00 UTC);

    struct World {
        vault: Vault,
        clock: Arc<ManualClock>,
        keys: Arc<Keys>,
        store: Store,
        _dir: tempfile::TempDir,
    }

    async fn world() -> World {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("catalog.db")).unwrap();
        let keys = Arc::new(KeyDir::new(dir.path().join("keys")).init("niem.test/ledger").unwrap());
        let store: Store = Arc::new(LocalStore::open(dir.path().join("store")).unwrap());
        let clock = Arc::new(ManualClock::new(T0));
        let dyn_clock: Arc<dyn Clock> = clock.clone();
        let mirror = Arc::new(Mirror::resume(store.clone(), catalog.clone(), keys.clone(), dyn_clock.clone(), MirrorPolicy::default()).await.unwrap());
        let vault = Vault { store: store.clone(), keys: keys.clone(), catalog, clock: dyn_clock, mirror, chunk_size: 1000 };
        World { vault, clock, keys, store, _dir: dir }
    }

    /// A sealed recording of `org` with one stream of 3 chunks.
    async fn recording(w: &World, spool_dir: &std::path::Path, org: &str) -> RecordingId {
        let v = &w.vault;
        let rec = v.start_recording("system", "m1", org, |_, _| Ok(())).await.unwrap();
        let spec = StreamSpec { kind: "live", endpoint: None, content_type: None };
        let stream = v.open_stream("system", rec, spec, |_, _| Ok(())).await.unwrap();
        let spool = Arc::new(ChunkSpool::open(spool_dir.to_path_buf(), 1 << 30).unwrap());
        for i in 0..3u32 {
            spool.put(rec, stream.id, i, &stream.key().seal_piece(i, false, vec![i as u8; 1000]).bytes).unwrap();
        }
        v.drain(&spool).await.unwrap();
        v.close_stream("system", rec, stream.id, StreamEnd { state: StreamState::Complete, sha256: None, media: None }).await.unwrap();
        v.seal("system", rec).await.unwrap();
        rec
    }

    async fn policy(w: &World, id: &str, keep_days: u64, applies_from: time::OffsetDateTime) {
        let data = json!({ "org_path": "/b1", "kind": null, "keep_days": keep_days, "applies_from": crate::clock::format_ts(applies_from) });
        w.vault.record(NewEntry { actor: "user:admin".into(), action: "retention.policy.set", subject: format!("policy/{id}"), data }).await.unwrap();
    }

    fn cause(policy: &str, keep_days: u64) -> serde_json::Value {
        cause_in(policy, keep_days, "o1")
    }

    fn cause_in(policy: &str, keep_days: u64, org: &str) -> serde_json::Value {
        json!({ "policy": policy, "org_path": format!("/b1/{org}"), "kind": "regular", "keep_days": keep_days })
    }

    async fn verdicts(w: &World) -> (crate::verify::Report, Vec<crate::deletion::Deletion>) {
        w.vault.mirror.flush(true).await.unwrap();
        let report = crate::verify::verify_store(&w.store, w.keys.signer.verifier(), crate::verify::Options { parallelism: 2, ..Default::default() }).await.unwrap();
        let d = report.deletions.clone();
        (report, d)
    }

    #[tokio::test]
    async fn an_expired_recording_is_shredded_lawfully_and_its_content_is_gone() {
        let w = world().await;
        let spool = tempfile::tempdir().unwrap();
        policy(&w, "p1", 1, T0 - time::Duration::days(1)).await;
        let rec = recording(&w, spool.path(), "o1").await;
        w.clock.advance(time::Duration::days(2));
        let done = w.vault.shred("system", rec, cause("p1", 1)).await.unwrap();
        assert_eq!((done.entry_written, done.keys_deleted, done.objects_deleted), (true, 1, 3), "{done:?}");
        assert!(w.store.list(&format!("keys/{rec}/")).await.unwrap().is_empty(), "keys gone");
        let left: Vec<String> = w.store.list(&format!("recordings/{rec}/")).await.unwrap().into_iter().map(|m| m.key).collect();
        assert_eq!(left, vec![format!("recordings/{rec}/manifest.json")], "only the tombstone");
        let info = w.vault.stream(w.vault.manifest_draft(rec).await.unwrap().streams[0].id).await.unwrap();
        assert!(w.vault.stream_key(&info).is_err(), "the catalog's copy of the key is gone too");
        let again = w.vault.shred("system", rec, cause("p1", 1)).await.unwrap();
        assert_eq!(again, Shredded::default(), "a second shred writes nothing and finds nothing");
        let (report, d) = verdicts(&w).await;
        assert!(report.intact(), "{:?}", report.problems);
        assert_eq!(d.len(), 1);
        assert!(d[0].lawful && d[0].reason.contains("policy p1"), "{d:?}");
    }

    #[tokio::test]
    async fn unlawful_shreds_are_reported() {
        let w = world().await;
        let spool = tempfile::tempdir().unwrap();
        policy(&w, "p1", 30, T0 - time::Duration::days(1)).await;
        policy(&w, "p0", 1, T0 - time::Duration::days(1)).await;
        let early = recording(&w, spool.path(), "o1").await; // shredded before its 30 days
        let forged = recording(&w, spool.path(), "o1").await; // cites no policy the ledger knows
        let held = recording(&w, spool.path(), "o2").await; // under a hold on its cell
        let shortened = recording(&w, spool.path(), "o1").await; // a later, shorter policy, unapproved
        let approved = recording(&w, spool.path(), "o1").await; // the same, approved by a second admin
        let hold = json!({ "org_path": "/b1/o2", "from": crate::clock::format_ts(T0 - time::Duration::days(1)), "to": crate::clock::format_ts(T0 + time::Duration::days(1)) });
        w.vault.record(NewEntry { actor: "user:admin".into(), action: "hold.placed", subject: "hold/h1".into(), data: hold }).await.unwrap();
        w.clock.advance(time::Duration::days(2));
        policy(&w, "p2", 1, w.clock.now()).await;
        policy(&w, "p3", 1, w.clock.now()).await;
        w.vault.record(NewEntry { actor: "user:admin2".into(), action: "retention.policy.approved", subject: "policy/p3".into(), data: json!({}) }).await.unwrap();
        w.vault.shred("system", early, cause("p1", 30)).await.unwrap();
        w.vault.shred("system", forged, cause("nope", 1)).await.unwrap();
        w.vault.shred("system", held, cause_in("p0", 1, "o2")).await.unwrap();
        w.vault.shred("system", shortened, cause("p2", 1)).await.unwrap();
        w.vault.shred("system", approved, cause("p3", 1)).await.unwrap();
        let (report, d) = verdicts(&w).await;
        let verdict = |rec: RecordingId| d.iter().find(|x| x.recording == rec.to_string()).unwrap().clone();
        assert!(verdict(early).reason.contains("before it expired"), "{:?}", verdict(early));
        assert!(verdict(forged).reason.contains("does not show"), "{:?}", verdict(forged));
        assert!(verdict(held).reason.contains("hold h1"), "{:?}", verdict(held));
        assert!(verdict(shortened).reason.contains("no second admin approved"), "{:?}", verdict(shortened));
        assert!(verdict(approved).lawful, "approved after it was set: {:?}", verdict(approved));
        assert!(!report.intact());
        assert_eq!(report.problems.iter().filter(|p| p.starts_with("UNLAWFUL")).count(), 4, "{:?}", report.problems);
    }
}
