//! The object store contract, on a local directory and on SeaweedFS: create-only
//! puts, reads, listings, deletes, and idempotent retries.

use archive::layout::ObjectKey;
use archive::store::{put_idempotent, LocalStore, S3Config, S3Store, Store, StoreError};
use bytes::Bytes;
use niem_tests::seaweed::{SeaweedFs, ACCESS_KEY, REGION, SECRET_KEY};
use std::sync::Arc;

/// The test server's credentials for `bucket`, under `prefix`.
fn s3_config(sw: &SeaweedFs, bucket: String, prefix: &str) -> S3Config {
    S3Config {
        bucket,
        prefix: prefix.into(),
        endpoint: Some(sw.endpoint.clone()),
        region: Some(REGION.into()),
        path_style: true,
        access_key_id: Some(ACCESS_KEY.into()),
        secret_access_key: Some(SECRET_KEY.into()),
        ..Default::default()
    }
}

async fn stores() -> (tempfile::TempDir, Vec<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let local: Store = Arc::new(LocalStore::open(dir.path()).unwrap());
    let sw = SeaweedFs::shared();
    let s3: Store = Arc::new(S3Store::connect(s3_config(sw, sw.bucket().await, "p/q")).await.unwrap());
    (dir, vec![local, s3])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_only_contract() {
    let (_dir, stores) = stores().await;
    for store in stores {
        let name = store.describe();
        let a = ObjectKey::ledger_batch(0, 9);
        let b = ObjectKey::checkpoint(9);
        store.put_new(&a, Bytes::from_static(b"first")).await.unwrap();
        match store.put_new(&a, Bytes::from_static(b"second")).await {
            Err(StoreError::AlreadyExists(k)) => assert_eq!(k, a, "{name}"),
            other => panic!("{name}: overwrite was not refused: {other:?}"),
        }
        assert_eq!(
            store.get(a.as_str()).await.unwrap(),
            Bytes::from_static(b"first"),
            "{name}: the first write stands"
        );
        put_idempotent(&*store, &a, Bytes::from_static(b"first")).await.unwrap();
        assert!(
            matches!(
                put_idempotent(&*store, &a, Bytes::from_static(b"other")).await,
                Err(StoreError::AlreadyExists(_))
            ),
            "{name}"
        );
        store.put_new(&b, Bytes::new()).await.unwrap();
        let listed = store.list("").await.unwrap();
        let keys: Vec<&str> = listed.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(keys, vec!["checkpoints/000000000009.json", "ledger/000000000000-000000000009.jsonl"], "{name}");
        assert_eq!(listed[1].size, 5, "{name}");
        assert_eq!(store.list("ledger/").await.unwrap().len(), 1, "{name}");
        assert!(matches!(store.get("ledger/none").await, Err(StoreError::NotFound(_))), "{name}");
        store.delete(&a).await.unwrap();
        assert!(matches!(store.get(a.as_str()).await, Err(StoreError::NotFound(_))), "{name}");
        store.put_new(&a, Bytes::from_static(b"again")).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_store_refuses_paths_that_climb_out() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), b"x").unwrap();
    let store = LocalStore::open(dir.path().join("store")).unwrap();
    for key in ["../secret", "a/../../secret", "/etc/passwd", "", "a//b", "a/\0"] {
        assert!(archive::store::ObjectStore::get(&store, key).await.is_err(), "{key:?} was read");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_key_let_exactly_one_win() {
    let (_dir, stores) = stores().await;
    for store in stores {
        let key = ObjectKey::checkpoint(41);
        let tries = (0..8u8).map(|i| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move { store.put_new(&key, Bytes::from(vec![i; 64])).await.is_ok() })
        });
        let wins = futures::future::join_all(tries).await.into_iter().filter(|r| *r.as_ref().unwrap()).count();
        assert_eq!(wins, 1, "{}", store.describe());
    }
}

/// In a versioned bucket (Object Lock needs one), a delete must remove every
/// version: an old version of a wrapped key would undo a crypto-shred.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_leaves_no_old_version_in_a_versioned_bucket() {
    let sw = SeaweedFs::shared();
    let bucket = sw.bucket().await;
    let client = sw.client().await;
    let on = aws_sdk_s3::types::VersioningConfiguration::builder()
        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
        .build();
    client.put_bucket_versioning().bucket(&bucket).versioning_configuration(on).send().await.unwrap();
    let store: Store = Arc::new(S3Store::connect(s3_config(sw, bucket.clone(), "v")).await.unwrap());
    let rec = archive::id::RecordingId::new();
    let key = ObjectKey::dek(rec, archive::id::StreamName::Transcript);
    let other = ObjectKey::dek(rec, archive::id::StreamName::Media(archive::id::StreamId::new()));
    store.put_new(&key, Bytes::from_static(b"wrapped key")).await.unwrap();
    store.put_new(&other, Bytes::from_static(b"another key")).await.unwrap();
    // A raw overwrite makes a second version, as a careless client could.
    client
        .put_object()
        .bucket(&bucket)
        .key(format!("v/{}", key.as_str()))
        .body(b"v2".to_vec().into())
        .send()
        .await
        .unwrap();
    store.delete(&key).await.unwrap();
    let versions =
        client.list_object_versions().bucket(&bucket).prefix(format!("v/{}", key.as_str())).send().await.unwrap();
    let left: Vec<String> = versions
        .versions()
        .iter()
        .filter_map(|v| v.version_id().map(String::from))
        .chain(versions.delete_markers().iter().filter_map(|m| m.version_id().map(String::from)))
        .collect();
    assert!(left.is_empty(), "versions left behind: {left:?}");
    assert_eq!(
        store.get(other.as_str()).await.unwrap(),
        Bytes::from_static(b"another key"),
        "a neighbour with the same prefix stays"
    );
    store.delete(&key).await.unwrap();
}
