//! No plaintext media, key or token reaches the disk or the log: after uploads
//! (one finished, one left half-done so that its tail sits in the spool), a search
//! of the data dir, the store and the log for known plaintext finds nothing.

use niem_tests::server::{Server, StoreKind};
use niem_tests::wav;
use niem_tests::{contains, files_under as files};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plaintext_on_disk_local() {
    no_plaintext(StoreKind::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plaintext_on_disk_seaweedfs() {
    no_plaintext(niem_tests::seaweed::SeaweedFs::shared().store().await).await;
}

async fn no_plaintext(kind: StoreKind) {
    let mut srv = Server::start(kind, &[("NIEM_UPLOAD__CHUNK_SIZE", "65536"), ("NIEM_LOG__LEVEL", "debug")]).await;
    let marker = format!("NIEM-PLAINTEXT-MARKER-{}", ulid::Ulid::new());
    let file = wav::tone(4.0, 440.0, 16_000, Some(&marker));
    let meeting = srv.meeting().await;
    let (s, up) = srv.upload(&meeting, file.clone()).await;
    assert_eq!(s, 201, "{up}");
    srv.seal(up["recording"].as_str().unwrap()).await;
    let (_, played) = srv.play(up["recording"].as_str().unwrap(), up["stream"].as_str().unwrap(), None).await;
    assert!(contains(&played, marker.as_bytes()), "the marker is in the file, so the search below means something");

    // A second upload left half-done: its tail is in the spool.
    let meeting2 = srv.meeting().await;
    let loc = srv.tus_create(&meeting2, file.len() as u64).await;
    assert_eq!(srv.tus_patch(&loc, 0, file[..70_000].to_vec()).await.status(), 204);
    srv.stop();

    let mut needles: Vec<(String, Vec<u8>)> = vec![
        ("marker".into(), marker.clone().into_bytes()),
        ("audio samples".into(), file[2000..2048].to_vec()),
        ("admin token".into(), srv.token.as_bytes().to_vec()),
    ];
    // The secret keys themselves, as stored in their 0600 files, must not leak elsewhere.
    let keys_dir = srv.keys_dir();
    for f in files(&keys_dir).into_iter().filter(|f| f.extension().is_some_and(|e| e == "key")) {
        let text = std::fs::read_to_string(&f).unwrap();
        let secret = text.lines().last().unwrap().trim().to_string();
        needles.push((format!("key {}", f.display()), secret.into_bytes()));
    }

    let spool = files(&srv.data_dir().join("spool"));
    assert!(!spool.is_empty(), "the half-done upload left a tail in the spool");
    let mut searched = 0;
    for path in files(&srv.data_dir()).into_iter().chain([srv.log_path()]) {
        let bytes = std::fs::read(&path).unwrap();
        let in_keys_dir = path.starts_with(&keys_dir);
        for (what, needle) in &needles {
            if in_keys_dir && what.starts_with("key") {
                continue; // a key is allowed in its own file
            }
            assert!(!contains(&bytes, needle), "{what} found in {}", path.display());
        }
        searched += 1;
    }
    for (key, bytes) in srv.raw_store().await.all_bytes().await {
        for (what, needle) in &needles {
            assert!(!contains(&bytes, needle), "{what} found in store object {key}");
        }
        searched += 1;
    }
    assert!(searched > 10, "searched only {searched} files");
}
