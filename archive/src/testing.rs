//! A vault on a temp dir with a manual clock, and the ledger facts (orgs,
//! meetings, policies, users) that retention and the verifier replay, for the
//! crate's unit tests.

use crate::catalog::Catalog;
use crate::clock::{format_ts, Clock, ManualClock};
use crate::id::RecordingId;
use crate::keys::{KeyDir, Keys};
use crate::ledger::NewEntry;
use crate::manifest::StreamState;
use crate::mirror::{Mirror, MirrorPolicy};
use crate::spool::ChunkSpool;
use crate::store::{LocalStore, Store};
use crate::vault::{StreamEnd, StreamSpec, Vault};
use serde_json::json;
use std::sync::Arc;
use time::macros::datetime;

pub const T0: time::OffsetDateTime = datetime!(2026-01-05 08:00 UTC);

pub struct World {
    pub vault: Arc<Vault>,
    pub clock: Arc<ManualClock>,
    pub keys: Arc<Keys>,
    pub keydir: KeyDir,
    pub store: Store,
    pub dir: tempfile::TempDir,
}

/// The mirror of a test vault: the default policy, one node named `test`.
pub async fn mirror(store: Store, catalog: &Catalog, keys: &Arc<Keys>, clock: &Arc<dyn Clock>) -> Arc<Mirror> {
    let mirror = Mirror::resume(store, catalog.clone(), keys.clone(), clock.clone(), MirrorPolicy::default(), "test");
    Arc::new(mirror.await.expect("the test vault's mirror"))
}

/// No re-check: the tests call shred directly.
pub fn anything() -> crate::shred::Check {
    Box::new(|_| Ok(()))
}

impl World {
    /// A vault with two admins (`user:a1`, `user:a2`), a bloc `b` with cells `c1`
    /// and `c2`, and meetings `m1` (c1, regular) and `m2` (c2, thematic).
    pub async fn new() -> World {
        Self::build(None).await
    }

    /// A world of its own whose ledger is signed with another world's keys:
    /// another history under the same log key (a fork).
    pub async fn with_keys(keys: &KeyDir) -> World {
        Self::build(Some(keys)).await
    }

    async fn build(shared: Option<&KeyDir>) -> World {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("catalog.db")).unwrap();
        let (keydir, keys) = match shared {
            Some(k) => (KeyDir::new(k.dir.clone()), Arc::new(k.load().unwrap())),
            None => {
                let keydir = KeyDir::new(dir.path().join("keys"));
                let keys = Arc::new(keydir.init("niem.test/ledger").unwrap());
                (keydir, keys)
            }
        };
        let store: Store = Arc::new(LocalStore::open(dir.path().join("store")).unwrap());
        let clock = Arc::new(ManualClock::new(T0));
        let dyn_clock: Arc<dyn Clock> = clock.clone();
        let mirror = mirror(store.clone(), &catalog, &keys, &dyn_clock).await;
        let vault = Arc::new(Vault::new(store.clone(), keys.clone(), catalog, dyn_clock, mirror, 1000));
        let w = World { vault, clock, keys, keydir, store, dir };
        w.fact("system", "token.created", "user/a1", json!({ "role": "admin" })).await;
        w.fact("user:a1", "user.created", "user/a2", json!({ "role": "admin" })).await;
        w.fact("user:a1", "org.created", "org/b", json!({ "parent": null })).await;
        for cell in ["c1", "c2"] {
            w.fact("user:a1", "org.created", &format!("org/{cell}"), json!({ "parent": "b" })).await;
        }
        w.fact("user:a1", "meeting.created", "meeting/m1", json!({ "org": "c1", "kind": "regular" })).await;
        w.fact("user:a1", "meeting.created", "meeting/m2", json!({ "org": "c2", "kind": "thematic" })).await;
        w
    }

    /// Ledgers a fact; returns its seq.
    pub async fn fact(&self, actor: &str, action: &'static str, subject: &str, data: serde_json::Value) -> u64 {
        let e = NewEntry { actor: actor.into(), action, subject: subject.into(), data };
        self.vault.record(e).await.unwrap().seq
    }

    pub async fn policy(&self, actor: &str, id: &str, org: Option<&str>, kind: Option<&str>, keep_days: u64) {
        let data = json!({ "org": org, "kind": kind, "keep_days": keep_days });
        self.fact(actor, "retention.policy.set", &format!("policy/{id}"), data).await;
    }

    pub async fn approve(&self, actor: &str, id: &str) {
        self.fact(actor, "retention.policy.approved", &format!("policy/{id}"), json!({})).await;
    }

    pub async fn hold(&self, id: &str, org_path: &str) {
        let data = json!({
            "org_path": org_path,
            "from": format_ts(T0 - time::Duration::days(30)),
            "to": format_ts(T0 + time::Duration::days(30)),
        });
        self.fact("user:a1", "hold.placed", &format!("hold/{id}"), data).await;
    }

    /// A sealed recording of meeting `meeting` (of `org`) with one stream of 3 chunks.
    pub async fn recording(&self, meeting: &str, org: &str) -> RecordingId {
        let v = &self.vault;
        let rec = v.start_recording("system", meeting, org, |_, _| Ok(())).await.unwrap();
        let spec = StreamSpec { kind: "live", endpoint: None, content_type: None };
        let stream = v.open_stream("system", rec, spec, |_, _| Ok(())).await.unwrap();
        let spool = Arc::new(ChunkSpool::open(self.dir.path().join("spool"), 1 << 30).unwrap());
        for i in 0..3u32 {
            spool.put(rec, stream.id, i, &stream.key().seal_piece(i, i == 2, vec![i as u8; 1000]).bytes).unwrap();
        }
        v.drain(&spool).await.unwrap();
        v.close_stream("system", rec, stream.id, StreamEnd { state: StreamState::Complete, sha256: None, media: None })
            .await
            .unwrap();
        v.seal("system", rec).await.unwrap();
        rec
    }

    /// The shred entry's data, citing `policy`.
    pub fn cause(policy: &str) -> serde_json::Value {
        json!({ "policy": policy })
    }

    pub async fn verify(&self) -> crate::verify::Report {
        self.vault.mirror.flush(true).await.unwrap();
        let opts = crate::verify::Options { parallelism: 2, ..Default::default() };
        crate::verify::verify_store(&self.store, self.keys.signer.verifier(), opts).await.unwrap()
    }

    /// The verifier's verdict on the deletion of `rec`.
    pub fn verdict(report: &crate::verify::Report, rec: RecordingId) -> crate::deletion::Deletion {
        report
            .deletions
            .iter()
            .find(|d| d.recording == rec.to_string())
            .cloned()
            .unwrap_or_else(|| panic!("no verdict on {rec}: {report:?}"))
    }

    /// Every file under the store, for tests that write into it directly.
    pub fn store_path(&self, key: &str) -> std::path::PathBuf {
        self.dir.path().join("store").join(key)
    }
}
