//! The service across restarts and key changes, and the auditor's other verbs:
//! - a catalog older than the store refuses to start instead of forking the chain;
//! - keys from the environment work like keys from files;
//! - after `niem keys rotate`, old and new recordings both play back;
//! - `niem-audit log`, `show` and `checkpoint save` report what happened, who read
//!   what included.

use niem_tests::server::{Server, StoreKind};
use niem_tests::wav;
use std::process::Command;

async fn record(srv: &Server, freq: f64) -> (String, String, Vec<u8>) {
    let meeting = srv.meeting().await;
    let file = wav::tone(2.0, freq, 16_000, None);
    let (s, up) = srv.upload(&meeting, file.clone()).await;
    assert_eq!(s, 201, "{up}");
    let rec = up["recording"].as_str().unwrap().to_string();
    srv.seal(&rec).await;
    (rec, up["stream"].as_str().unwrap().to_string(), file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_behind_the_store_refuses_to_start() {
    let mut srv = Server::start(StoreKind::Local, &[]).await;
    record(&srv, 440.0).await;
    srv.stop();
    let catalog = srv.data_dir().join("catalog.db");
    let old = std::fs::read(&catalog).unwrap();
    let _ = std::fs::remove_file(srv.data_dir().join("catalog.db-wal"));
    srv.start_again().await;
    record(&srv, 550.0).await;
    srv.stop();
    // Put the old catalog back, as a restore from a stale backup would.
    std::fs::write(&catalog, old).unwrap();
    for f in ["catalog.db-wal", "catalog.db-shm"] {
        let _ = std::fs::remove_file(srv.data_dir().join(f));
    }
    let out = Command::new(niem_tests::bin("niem"))
        .arg("serve")
        .env("NIEM_DATA_DIR", srv.data_dir())
        .env("NIEM_LISTEN", format!("127.0.0.1:{}", niem_tests::free_port()))
        .output()
        .unwrap();
    assert!(!out.status.success(), "a stale catalog must not start");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("catalog is older than the store"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_from_the_environment_and_rotation() {
    let mut srv = Server::start(StoreKind::Local, &[]).await;
    let (rec1, st1, file1) = record(&srv, 440.0).await;
    srv.stop();
    let niem = |args: &[&str]| {
        let out =
            Command::new(niem_tests::bin("niem")).args(args).env("NIEM_DATA_DIR", srv.data_dir()).output().unwrap();
        assert!(out.status.success(), "niem {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let public = niem(&["keys", "export-public"]);
    assert_eq!(public, std::fs::read_to_string(srv.public_key()).unwrap());
    assert!(niem(&["keys", "rotate"]).contains("is current"));

    // Start with the keys in the environment and the key directory moved away.
    let keys = srv.keys_dir();
    let moved = srv.tmp.path().join("keys-elsewhere");
    std::fs::rename(&keys, &moved).unwrap();
    let read = |p: std::path::PathBuf| std::fs::read_to_string(p).unwrap().trim().to_string();
    let signing = read(moved.join("signing.key"));
    let (origin, pkcs8) = signing.split_once('\n').unwrap();
    let current = read(moved.join("kek/current"));
    let keks: Vec<String> = std::fs::read_dir(moved.join("kek"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".key").map(|id| format!("{id}:{}", read(e.path())))
        })
        .collect();
    assert_eq!(keks.len(), 2);
    let env = [
        ("NIEM_SIGNING_KEY", pkcs8.trim().to_string()),
        ("NIEM_LEDGER_ORIGIN", origin.trim().to_string()),
        ("NIEM_KEKS", keks.join(",")),
        ("NIEM_KEK_CURRENT", current.clone()),
    ];
    for (k, v) in &env {
        srv.set_env(k, v);
    }
    srv.start_again().await;
    let (rec2, st2, file2) = record(&srv, 880.0).await;
    // Both recordings play: the old under the first KEK, the new under the rotated one.
    assert_eq!(srv.play(&rec1, &st1, None).await, (200, file1));
    assert_eq!(srv.play(&rec2, &st2, None).await, (200, file2));
    let wrapped: serde_json::Value =
        serde_json::from_slice(&srv.raw_store().await.read(&format!("keys/{rec2}/{st2}.dek")).await).unwrap();
    assert_eq!(wrapped["kek"], current.as_str(), "new data keys are wrapped with the rotated KEK");
    assert!(!srv.keys_dir().join("signing.key").exists(), "keys from the environment are not written to disk");
    srv.stop();
    std::fs::create_dir_all(srv.keys_dir()).unwrap();
    std::fs::copy(moved.join("ledger.vkey"), srv.public_key()).unwrap();
    let (code, out) = srv.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_show_and_checkpoint() {
    let mut srv = Server::start(StoreKind::Local, &[]).await;
    let (rec, stream, _) = record(&srv, 440.0).await;
    let (s, _) = srv.play(&rec, &stream, Some("bytes=0-99")).await;
    assert_eq!(s, 206);
    srv.stop();

    let (code, out) = srv.audit(&["log"], &["--action", "media.played"]);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].contains("user:")
            && lines[0].contains(&format!("recording/{rec}/{stream}"))
            && lines[0].contains("0-99"),
        "{out}"
    );

    let (code, out) = srv.audit(&["log"], &["--subject", &format!("recording/{rec}"), "--json"]);
    assert_eq!(code, 0);
    let actions: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["action"].as_str().unwrap().to_string())
        .collect();
    for want in
        ["recording.started", "stream.opened", "chunk.stored", "stream.closed", "recording.sealed", "media.played"]
    {
        assert!(actions.iter().any(|a| a == want), "{want} missing from {actions:?}");
    }
    let (code, out) = srv.audit(&["log"], &["--since", "1000000"]);
    assert_eq!((code, out.trim()), (0, ""));

    let (code, out) = srv.audit(&["show", &rec], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("recording.sealed") && out.contains("objects: 3 valid, 0 invalid"), "{out}");

    let note = srv.tmp.path().join("cp.note");
    let (code, out) = srv.audit(&["checkpoint", "save", note.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{out}");
    let text = std::fs::read_to_string(&note).unwrap();
    assert!(text.starts_with("niem.local/ledger\n") && text.contains("\n\n\u{2014} niem.local/ledger "), "{text}");

    // A wrong public key cannot vouch for anything: exit 1 (signatures fail), not 0.
    let other = Server::start(StoreKind::Local, &[]).await;
    let (code, out) = srv.audit(&["verify"], &["--public-key", other.public_key().to_str().unwrap()]);
    assert_ne!(code, 0, "{out}");
    // A store that is not there: could not run, exit 2.
    let (code, _) = srv.audit(&["verify"], &["--store", "/nonexistent/store"]);
    assert_eq!(code, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_own_check_catches_a_damaged_chunk() {
    let srv = Server::start(StoreKind::Local, &[]).await;
    let (rec, stream, _) = record(&srv, 440.0).await;
    let (s, v) = srv.api(reqwest::Method::POST, &format!("/api/v1/recordings/{rec}/verify"), None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!((v["intact"].as_bool(), v["covered_by_checkpoint"].as_bool()), (Some(true), Some(true)), "{v}");

    let chunk = format!("recordings/{rec}/{stream}/00000000.niem");
    let raw = srv.raw_store().await;
    let mut bytes = raw.read(&chunk).await;
    bytes[100] ^= 0x80;
    raw.write(&chunk, bytes).await;
    let (_, v) = srv.api(reqwest::Method::POST, &format!("/api/v1/recordings/{rec}/verify"), None).await;
    assert_eq!(v["intact"], false, "{v}");
    assert!(v["problems"].to_string().contains(&chunk), "{v}");
    // The recording's page shows the latest result.
    let (_, view) = srv.api(reqwest::Method::GET, &format!("/api/v1/recordings/{rec}"), None).await;
    assert_eq!(view["verification"]["intact"], false, "{view}");
    // Playback of the damaged piece fails loudly instead of serving altered bytes.
    // The break can surface while the response starts or while its body is read.
    let got =
        match srv.req(reqwest::Method::GET, &format!("/api/v1/recordings/{rec}/streams/{stream}/media")).send().await {
            Ok(r) => r.bytes().await.ok(),
            Err(_) => None,
        };
    assert!(got.is_none(), "a damaged chunk must break the response, not deliver altered bytes");
}
