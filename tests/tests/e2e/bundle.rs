//! Evidence bundles from a SeaweedFS store, checked offline: `niem-audit
//! verify-bundle` runs in a fresh directory with no store arguments and no
//! network (its own network namespace, `unshare -n`), and names each forgery.
//! The service's bundle (`POST /api/v1/recordings/{rec}/bundle`) carries the
//! decrypted media byte for byte, and its export is ledgered.

use niem_tests::seaweed::SeaweedFs;
use niem_tests::server::Server;
use reqwest::Method;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How to get a network namespace of our own: `-n` as root, `-rn` (a user
/// namespace too) otherwise.
fn unshare_flags() -> &'static str {
    let works = |flags: &str| Command::new("unshare").args([flags, "true"]).status().is_ok_and(|s| s.success());
    if works("-n") {
        "-n"
    } else if works("-rn") {
        "-rn"
    } else {
        panic!("cannot run without network: unshare -n and unshare -rn both fail (util-linux, namespaces)")
    }
}

/// `niem-audit verify-bundle FILE --public-key KEY`, with no network at all.
fn verify_offline(file: &Path, key: &Path) -> (i32, String) {
    let out = Command::new("unshare")
        .arg(unshare_flags())
        .arg(niem_tests::bin("niem-audit"))
        .args(["verify-bundle", &file.display().to_string(), "--public-key", &key.display().to_string()])
        .env_clear()
        .output()
        .expect("run unshare");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// The bundle with `file` (the path's tail) changed by `change`.
fn rewrite(bundle: &[u8], file: &str, change: impl Fn(Vec<u8>) -> Vec<u8>) -> Vec<u8> {
    let mut out = tar::Builder::new(Vec::new());
    let mut found = false;
    for entry in tar::Archive::new(bundle).entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().to_string();
        let mut body = Vec::new();
        entry.read_to_end(&mut body).unwrap();
        if path.ends_with(&format!("/{file}")) {
            found = true;
            body = change(body);
        }
        let mut h = tar::Header::new_ustar();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        out.append_data(&mut h, &path, body.as_slice()).unwrap();
    }
    assert!(found, "no {file} in the bundle");
    out.into_inner().unwrap()
}

fn read(bundle: &[u8], file: &str) -> Vec<u8> {
    for entry in tar::Archive::new(bundle).entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_string_lossy().ends_with(&format!("/{file}")) {
            let mut body = Vec::new();
            entry.read_to_end(&mut body).unwrap();
            return body;
        }
    }
    panic!("no {file} in the bundle");
}

fn names(bundle: &[u8]) -> Vec<String> {
    tar::Archive::new(bundle)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().to_string())
        .collect()
}

fn flip(at: usize) -> impl Fn(Vec<u8>) -> Vec<u8> {
    move |mut b| {
        let i = at.min(b.len() - 1);
        b[i] ^= 0x01;
        b
    }
}

/// A sealed recording of a meeting of its own; its id and media.
async fn sealed(server: &Server, secs: f64) -> (String, Vec<u8>) {
    let meeting = server.meeting().await;
    let wav = niem_tests::wav::tone(secs, 440.0, 16_000, None);
    let (s, up) = server.upload(&meeting, wav.clone()).await;
    assert_eq!(s, 201, "{up}");
    let rec = up["recording"].as_str().unwrap().to_string();
    server.seal(&rec).await;
    (rec, wav)
}

struct Offline {
    dir: tempfile::TempDir,
    key: PathBuf,
}

impl Offline {
    /// A fresh directory holding only the published key.
    fn new(server: &Server) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("ledger.vkey");
        std::fs::copy(server.public_key(), &key).unwrap();
        Offline { dir, key }
    }

    /// Writes `bytes` as `name` here and checks it offline.
    fn check(&self, name: &str, bytes: &[u8]) -> (i32, String) {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        verify_offline(&path, &self.key)
    }

    /// A forgery: exit 1, and `words` in the line that names `file`.
    fn named(&self, name: &str, bytes: &[u8], file: &str, words: &str) {
        let (code, out) = self.check(name, bytes);
        assert_eq!(code, 1, "{file}: a forgery must fail:\n{out}");
        assert!(out.lines().any(|l| l.contains(file) && l.contains(words)), "{file} / {words} not named:\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_from_seaweedfs_verifies_offline_and_each_forgery_is_named() {
    let mut server = Server::start(SeaweedFs::shared().store().await, &[]).await;
    let (a, wav) = sealed(&server, 3.0).await;
    let (b, _) = sealed(&server, 1.5).await;

    // The service's bundle, with the media decrypted.
    let resp = server
        .req(Method::POST, &format!("/api/v1/recordings/{a}/bundle"))
        .json(&serde_json::json!({ "with_media": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-tar");
    let with_media = resp.bytes().await.unwrap().to_vec();
    let media: Vec<String> = names(&with_media).into_iter().filter(|n| n.contains("/media/")).collect();
    assert_eq!(media.len(), 1, "one stream, no transcript yet: {media:?}");
    let tail = media[0].rsplit('/').next().unwrap().to_string();
    assert!(tail.ends_with(".wav"), "{tail}");
    assert_eq!(read(&with_media, &format!("media/{tail}")), wav, "the media are the uploaded bytes");
    // Ledgered, naming what it carried.
    let (code, log) = server.audit(&["log"], &["--action", "recording.exported", "--json"]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains(&a) && log.contains(&tail), "{log}");

    // For one person: the media travel encrypted to their age key; only their
    // identity opens and checks them.
    let identity = age::x25519::Identity::generate();
    let to = identity.to_public().to_string();
    let resp = server
        .req(Method::POST, &format!("/api/v1/recordings/{a}/bundle"))
        .json(&serde_json::json!({ "with_media": true, "recipient": to }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let sealed_for = resp.bytes().await.unwrap().to_vec();
    assert!(names(&sealed_for).iter().any(|n| n.ends_with("/media.tar.age")), "{:?}", names(&sealed_for));
    assert!(!names(&sealed_for).iter().any(|n| n.contains("/media/")), "no media in the clear");
    let bad = server
        .req(Method::POST, &format!("/api/v1/recordings/{a}/bundle"))
        .json(&serde_json::json!({ "with_media": true, "recipient": "age1notakey" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400, "a recipient that is not a key is refused before anything is ledgered");

    // niem-audit's bundle, made with read access only.
    let made = tempfile::tempdir().unwrap();
    let bundle_b = made.path().join(format!("{b}.niem-bundle.tar"));
    let (code, out) = server.audit(&["bundle", &b], &["--out", &bundle_b.display().to_string()]);
    assert_eq!(code, 0, "{out}");
    let bundle_b = std::fs::read(&bundle_b).unwrap();

    let off = Offline::new(&server);
    let name_a = format!("{a}.niem-bundle.tar");
    let (code, out) = off.check(&name_a, &with_media);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("this file is the recording {a} sealed at ")), "{out}");
    assert!(out.contains(" of a log of size "), "{out}");
    let (code, out) = off.check(&format!("{b}.niem-bundle.tar"), &bundle_b);
    assert_eq!(code, 0, "{out}");
    // The encrypted bundle: valid without the identity (media not checked), and
    // with it the media are decrypted and checked.
    let (code, out) = off.check(&name_a, &sealed_for);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("media.tar.age not checked"), "{out}");
    let id_file = off.dir.path().join("me.age-identity");
    {
        use age::secrecy::ExposeSecret;
        std::fs::write(&id_file, format!("{}\n", identity.to_string().expose_secret())).unwrap();
    }
    let path = off.dir.path().join(&name_a);
    std::fs::write(&path, &sealed_for).unwrap();
    let out = Command::new("unshare")
        .arg(unshare_flags())
        .arg(niem_tests::bin("niem-audit"))
        .args(["verify-bundle", path.to_str().unwrap(), "--public-key", off.key.to_str().unwrap()])
        .args(["--identity", id_file.to_str().unwrap()])
        .env_clear()
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success() && text.contains("1 media files checked"), "{text}");

    // One flipped byte in the media, the manifest, an entry, a proof.
    off.named(&name_a, &rewrite(&with_media, &format!("media/{tail}"), flip(3000)), &tail, "differs");
    off.named(&name_a, &rewrite(&with_media, "manifest.json", flip(40)), "manifest.json", "differs");
    let edit = |b: Vec<u8>| String::from_utf8(b).unwrap().replacen("\"actor\":\"", "\"actor\":\"x", 1).into_bytes();
    off.named(&name_a, &rewrite(&with_media, "entries.jsonl", edit), "entries.jsonl", "altered");
    let proofs: Vec<String> = names(&with_media).into_iter().filter(|n| n.contains("/proofs/")).collect();
    assert!(proofs.len() >= 3, "{proofs:?}");
    let proof = |i: usize| format!("proofs/{}", proofs[i].rsplit('/').next().unwrap());
    // One bit of the first proof hash (the line after `index N`), still valid base64.
    let flip_hash = |b: Vec<u8>| {
        use base64::Engine;
        let text = String::from_utf8(b).unwrap();
        let mut lines: Vec<String> = text.split('\n').map(String::from).collect();
        let at = lines.iter().position(|l| l.starts_with("index ")).unwrap() + 1;
        let mut hash = base64::engine::general_purpose::STANDARD.decode(&lines[at]).unwrap();
        hash[0] ^= 0x01;
        lines[at] = base64::engine::general_purpose::STANDARD.encode(hash);
        lines.join("\n").into_bytes()
    };
    off.named(&name_a, &rewrite(&with_media, &proof(0), flip_hash), &proof(0), "signed root");
    // A proof of another entry under this entry's name.
    let other = read(&with_media, &proof(1));
    off.named(&name_a, &rewrite(&with_media, &proof(0), |_| other.clone()), &proof(0), "not entry");
    // A checkpoint signed by another key: another service's public key.
    let stranger = Server::start(niem_tests::server::StoreKind::Local, &[]).await;
    std::fs::copy(stranger.public_key(), &off.key).unwrap();
    let (code, out) = off.check(&name_a, &with_media);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("checkpoint.note") && out.contains("not signed by key"), "{out}");
    std::fs::copy(server.public_key(), &off.key).unwrap();
    // Another recording's bundle, renamed.
    let (code, out) = off.check(&name_a, &bundle_b);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("named for recording {a}, but it holds the evidence of recording {b}")), "{out}");

    // At the host, service stopped: `niem bundle --with-media`, ledgered as the host's.
    let (code, out) = server.niem(&["bundle", &b, "--out", "/dev/null"]);
    assert_ne!(code, 0, "refused while the service runs: {out}");
    server.stop();
    let host_file = made.path().join(format!("host-{b}.niem-bundle.tar"));
    let (code, out) = server.niem(&["bundle", &b, "--out", &host_file.display().to_string(), "--with-media"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("media/") && out.contains("in the clear"), "{out}");
    let (code, out) = off.check(&format!("{b}.niem-bundle.tar"), &std::fs::read(&host_file).unwrap());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 media files checked"), "{out}");
    let (_, log) = server.audit(&["log"], &["--action", "recording.exported", "--json"]);
    assert!(log.contains(r#""actor":"host""#) && log.contains(&b), "{log}");
}
