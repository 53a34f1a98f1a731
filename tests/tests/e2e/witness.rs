//! The service and a witness, each its own process: every new checkpoint is
//! cosigned and kept beside the original; the witness down stops no recording,
//! shows as lag in `/metrics` and on the ledger, and catches up when it returns;
//! and a tail of reads cut from the store is caught by `verify --witness-key`.

use niem_tests::server::{Server, StoreKind};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Witness {
    child: Child,
    url: String,
}

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `niem-audit witness serve` on `port`, with its state in `state`.
fn witness(key: &Path, log_key: &Path, state: &Path, port: u16) -> Witness {
    let mut child = Command::new(niem_tests::bin("niem-audit"))
        .args(["witness", "serve", "--key", s(key), "--log-key", s(log_key), "--state", s(state)])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
    Witness { child, url: format!("http://127.0.0.1:{port}") }
}

fn store_dir(server: &Server) -> PathBuf {
    server.data_dir().join("store")
}

/// The store's objects under `prefix`, sorted.
fn listed(server: &Server, prefix: &str) -> Vec<String> {
    let root = store_dir(server);
    let mut out = Vec::new();
    let mut stack = vec![root.join(prefix)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(&root).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// Entries the newest checkpoint in the store covers.
fn newest_checkpoint(server: &Server) -> u64 {
    listed(server, "checkpoints")
        .last()
        .map_or(0, |k| k.trim_start_matches("checkpoints/").trim_end_matches(".json").parse::<u64>().unwrap() + 1)
}

fn cosigned_sizes(server: &Server) -> Vec<u64> {
    listed(server, "cosigned").iter().map(|k| k.split('/').nth(1).unwrap().parse::<u64>().unwrap() + 1).collect()
}

async fn until(what: &str, within: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn lag(server: &Server, metric: &str) -> f64 {
    let m = server.metrics().await;
    m.iter().find(|(k, _)| k.starts_with(metric)).map_or(-1.0, |(_, v)| *v)
}

async fn recorded(server: &Server, seconds: f64) -> String {
    let meeting = server.meeting().await;
    let wav = niem_tests::wav::tone(seconds, 440.0, 16_000, None);
    let (code, v) = server.upload(&meeting, wav).await;
    assert_eq!(code, 201, "{v}");
    let rec = v["recording"].as_str().unwrap().to_string();
    server.seal(&rec).await;
    rec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_cosigned_a_witness_down_stops_nothing_and_a_cut_tail_is_caught() {
    let mut server = Server::start(StoreKind::Local, &[("NIEM_LEDGER__CHECKPOINT_EVERY_SECS", "1")]).await;
    let tmp = tempfile::tempdir().unwrap();
    let key_file = tmp.path().join("witness.key");
    let out = Command::new(niem_tests::bin("niem-audit"))
        .args(["witness", "init", "--name", "ubkt.test/witness", "--key", s(&key_file)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let wkey = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let (port, state) = (niem_tests::free_port(), tmp.path().join("witness-state"));
    let w = witness(&key_file, &server.public_key(), &state, port);
    server.set_env("NIEM_LEDGER__WITNESSES", &format!(r#"[{{ url = "{}", key = "{wkey}" }}]"#, w.url));
    server.set_env("NIEM_LEDGER__WITNESS_ALERT_AFTER_SECS", "2");
    server.restart().await;

    // Cosigned: the seal's checkpoint, kept beside the original.
    let rec = recorded(&server, 2.0).await;
    until("the seal's checkpoint cosigned", Duration::from_secs(30), async || {
        let newest = newest_checkpoint(&server);
        cosigned_sizes(&server).contains(&newest) && newest > 0
    })
    .await;
    let extra = ["--witness", w.url.as_str(), "--witness-key", wkey.as_str()];
    let (code, out) = server.audit(&["verify"], &extra);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Store is INTACT") && out.contains("cosignature"), "{out}");

    // The witness down: recording goes on; the lag shows, and is ledgered.
    drop(w);
    let second = recorded(&server, 1.0).await;
    until("the lag in /metrics", Duration::from_secs(30), async || {
        lag(&server, "niem_witness_lag_entries").await > 0.0 && lag(&server, "niem_witness_lag_seconds").await > 2.0
    })
    .await;
    until("witness.lagging on the ledger", Duration::from_secs(30), async || {
        let (_, log) = server.audit(&["log"], &["--action", "witness.lagging", "--json"]);
        log.contains("ubkt.test/witness")
    })
    .await;

    // Back on the same state: it catches up from what it saw.
    let w = witness(&key_file, &server.public_key(), &state, port);
    until("caught up", Duration::from_secs(60), async || {
        lag(&server, "niem_witness_lag_entries").await == 0.0
            && cosigned_sizes(&server).contains(&newest_checkpoint(&server))
    })
    .await;
    assert_ne!(rec, second);

    // A tail of reads only: plays of the recording, signed and cosigned.
    let manifest = server.api(reqwest::Method::GET, &format!("/api/v1/recordings/{second}"), None).await.1;
    let stream = manifest["manifest"]["streams"][0]["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = newest_checkpoint(&server);
    for _ in 0..3 {
        let resp = server
            .req(reqwest::Method::GET, &format!("/api/v1/recordings/{second}/streams/{stream}/media"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    until("the plays signed and cosigned", Duration::from_secs(30), async || {
        let newest = newest_checkpoint(&server);
        newest > before && cosigned_sizes(&server).contains(&newest)
    })
    .await;
    server.stop();
    drop(w);
    // Cut back: the newest batch, its checkpoint and its cosignature deleted.
    let newest = newest_checkpoint(&server);
    let batch = listed(&server, "ledger").pop().unwrap();
    let last: u64 = batch.rsplit('-').next().unwrap().trim_end_matches(".jsonl").parse().unwrap();
    assert_eq!(last + 1, newest, "the newest batch ends at the newest checkpoint");
    let cut: Vec<String> =
        listed(&server, "").into_iter().filter(|k| k == &batch || k.contains(&format!("{:012}", newest - 1))).collect();
    assert!(cut.len() >= 3, "batch, checkpoint and cosignature: {cut:?}");
    for k in &cut {
        std::fs::remove_file(store_dir(&server).join(k)).unwrap();
    }
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 0, "without a witness, the cut store looks whole: {out}");
    // The witness, on its own machine, still holds what it cosigned.
    let w = witness(&key_file, &server.public_key(), &state, port);
    let (code, out) = server.audit(&["verify"], &["--witness", w.url.as_str(), "--witness-key", wkey.as_str()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("rollback"), "the cut is named: {out}");
}
