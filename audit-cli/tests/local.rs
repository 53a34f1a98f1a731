//! niem-audit as an auditor runs it on a laptop: verify a local store (whole,
//! one recording, since a saved checkpoint), make an evidence bundle, check it
//! with the store gone, and see each forgery named. No network: these are the
//! tests scripts/windows-audit.sh runs under Wine.

#![allow(clippy::unwrap_used)] // tests and benches may: a panic is their failure report

mod common;
use common::{niem_audit, s, text, Site};

fn plain(n: usize) -> Vec<u8> {
    (0..n as u32).map(|i| (i * 13 % 251) as u8).collect()
}

#[tokio::test]
async fn a_local_store_verifies_whole_by_recording_and_since_a_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let site = Site::new(&tmp.path().join("site"), None).await;
    let a = site.recording(&plain(2500)).await;
    let key = site.public_key();
    let (store, key) = (s(&site.store()).to_string(), s(&key).to_string());
    let out = niem_audit(&["verify", "--store", &store, "--public-key", &key]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Store is INTACT."), "{}", text(&out));

    let saved = tmp.path().join("saved.note");
    let out = niem_audit(&["checkpoint", "save", s(&saved), "--store", &store, "--public-key", &key]);
    assert!(out.status.success(), "{}", text(&out));
    let b = site.recording(&plain(1800)).await;

    // Only B was named after the saved checkpoint: A's objects are not fetched,
    // so damage to A goes unseen by --since and is seen by --recording A.
    let chunk = site.store().join(format!("recordings/{a}"));
    let stream_dir = std::fs::read_dir(&chunk).unwrap().map(|e| e.unwrap().path()).find(|p| p.is_dir()).unwrap();
    let first = stream_dir.join("00000000.niem");
    let mut body = std::fs::read(&first).unwrap();
    body[10] ^= 1;
    std::fs::remove_file(&first).unwrap();
    std::fs::write(&first, &body).unwrap();

    let out = niem_audit(&["verify", "--store", &store, "--public-key", &key, "--since", s(&saved)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("objects of 1 recordings"), "{}", text(&out));
    let out = niem_audit(&["verify", "--store", &store, "--public-key", &key, "--recording", &b.to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    let out = niem_audit(&["verify", "--store", &store, "--public-key", &key, "--recording", &a.to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("00000000.niem INVALID: content differs from the ledger"), "{}", text(&out));
    let out = niem_audit(&["verify", "--store", &store, "--public-key", &key]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[tokio::test]
async fn a_bundle_made_from_a_store_verifies_without_it_and_forgeries_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let site = Site::new(&tmp.path().join("site"), None).await;
    let a = site.recording(&plain(2500)).await;
    let b = site.recording(&plain(1200)).await;
    let key_path = site.public_key();
    let key = tmp.path().join("published.vkey");
    std::fs::copy(&key_path, &key).unwrap();
    let (store, key) = (s(&site.store()).to_string(), s(&key).to_string());
    let file_a = tmp.path().join(format!("{a}.niem-bundle.tar"));
    let file_b = tmp.path().join(format!("{b}.niem-bundle.tar"));
    for (rec, file) in [(a, &file_a), (b, &file_b)] {
        let out = niem_audit(&["bundle", &rec.to_string(), "--store", &store, "--public-key", &key, "--out", s(file)]);
        assert!(out.status.success(), "{}", text(&out));
    }
    // The store and the service are gone: the bundle stands alone.
    drop(site);
    std::fs::remove_dir_all(tmp.path().join("site")).unwrap();
    let out = niem_audit(&["verify-bundle", s(&file_a), "--public-key", &key]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains(&format!("VALID: this file is the recording {a} sealed at ")), "{said}");
    assert!(said.contains("by user:admin, entry ") && said.contains("of a log of size "), "{said}");

    // One byte of the manifest flipped inside the tar.
    let bytes = std::fs::read(&file_a).unwrap();
    let at = find(&bytes, b"niem/manifest/v1").unwrap();
    let mut bad = bytes.clone();
    bad[at + 2] ^= 1;
    let forged = tmp.path().join("forged.tar");
    std::fs::write(&forged, &bad).unwrap();
    let out = niem_audit(&["verify-bundle", s(&forged), "--public-key", &key]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("manifest.json INVALID: SHA-256"), "{}", text(&out));

    // Not a bundle at all: a tar cut short, and a file of junk.
    let cut = tmp.path().join("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = niem_audit(&["verify-bundle", s(&cut), "--public-key", &key]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let junk = tmp.path().join("junk.tar");
    std::fs::write(&junk, b"this is not a tar file at all").unwrap();
    let out = niem_audit(&["verify-bundle", s(&junk), "--public-key", &key]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("NOT valid evidence"), "{}", text(&out));

    // B's bundle under A's name.
    let renamed = tmp.path().join("renamed");
    std::fs::create_dir(&renamed).unwrap();
    let as_a = renamed.join(format!("{a}.niem-bundle.tar"));
    std::fs::copy(&file_b, &as_a).unwrap();
    let out = niem_audit(&["verify-bundle", s(&as_a), "--public-key", &key]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let want = format!("this file is named for recording {a}, but it holds the evidence of recording {b}");
    assert!(text(&out).contains(&want), "{}", text(&out));

    // A key that is not the published one.
    let other = tmp.path().join("other");
    let stranger = Site::new(&other, None).await;
    let out = niem_audit(&["verify-bundle", s(&file_a), "--public-key", s(&stranger.public_key())]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("checkpoint.note INVALID: checkpoint is not signed by key"), "{}", text(&out));
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
