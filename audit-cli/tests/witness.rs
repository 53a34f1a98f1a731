//! The witness as its own process, over real HTTP: it cosigns a growing log,
//! refuses a fork and a rollback, keeps its state across a restart, and
//! `verify --witness` catches a store cut back or forked below what it saw.

#![allow(clippy::unwrap_used)] // tests and benches may: a panic is their failure report

mod common;
use archive::witness::{origin_hash, AddCheckpoint};
use common::{niem_audit, s, text, Site};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

struct Served {
    child: Child,
    url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `niem-audit witness serve` on a free port and reads its address.
fn serve(key: &Path, log_key: &Path, state: &Path) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_niem-audit"))
        .args(["witness", "serve", "--key", s(key), "--log-key", s(log_key), "--state", s(state)])
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    Served { child, url }
}

fn newest_note(site: &Site) -> String {
    let dir = site.store().join("checkpoints");
    let mut names: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    let obj: serde_json::Value = serde_json::from_slice(&std::fs::read(names.last().unwrap()).unwrap()).unwrap();
    obj["note"].as_str().unwrap().to_string()
}

async fn post(url: &str, body: String) -> (u16, String, String) {
    let resp = reqwest::Client::new().post(format!("{url}/add-checkpoint")).body(body).send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, ct, resp.text().await.unwrap())
}

#[tokio::test]
async fn the_witness_cosigns_refuses_forks_and_rollbacks_and_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let site = Site::new(&tmp.path().join("site"), None).await;
    site.recording(&[7u8; 2500]).await;
    let log_key = site.public_key();
    let (store, key) = (s(&site.store()).to_string(), s(&log_key).to_string());
    let wkey_file = tmp.path().join("witness.key");
    let out = niem_audit(&["witness", "init", "--name", "witness.test/w1", "--key", s(&wkey_file)]);
    assert!(out.status.success(), "{}", text(&out));
    let wkey = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(wkey.starts_with("witness.test/w1+"), "{wkey}");
    let state = tmp.path().join("state");
    let witness = serve(&wkey_file, &log_key, &state);

    // Cosigned: the first checkpoint, then a grown log with a consistency proof.
    let push = |url: &str, record: bool| {
        let mut args = vec!["witness", "push", "--store", &store, "--public-key", &key];
        args.extend(["--witness", url, "--witness-key", &wkey]);
        if record {
            args.push("--record");
        }
        niem_audit(&args)
    };
    let out = push(&witness.url, false);
    assert!(out.status.success(), "{}", text(&out));
    let first = site.size();
    assert!(text(&out).contains(&format!("cosigned the checkpoint of {first} entries")), "{}", text(&out));
    site.recording(&[8u8; 3100]).await;
    let out = push(&witness.url, false);
    assert!(out.status.success(), "{}", text(&out));
    let size = site.size();
    assert!(size > first && text(&out).contains(&format!("of {size} entries")), "{}", text(&out));

    // A fork: another ledger of the same size, signed with the log's own key.
    let fork = Site::new(&tmp.path().join("fork"), Some(&site.dir.join("keys"))).await;
    fork.entries(size as usize, "another history").await;
    assert_eq!(fork.size(), size);
    let forked = AddCheckpoint { old: size, proof: vec![], checkpoint: newest_note(&fork) }.encode();
    let (status, _, body) = post(&witness.url, forked).await;
    assert_eq!(status, 422, "{body}");
    // The same through the client: it learns the size from the 409, then is refused.
    let fork_store = s(&fork.store()).to_string();
    let args = ["witness", "push", "--store", &fork_store, "--public-key", &key, "--witness", &witness.url];
    let out = niem_audit(&[&args[..], &["--witness-key", &wkey]].concat());
    assert!(!out.status.success() && text(&out).contains("422"), "{}", text(&out));

    // Rollback: an old size below the witness's, and a smaller checkpoint.
    let older = AddCheckpoint { old: first, proof: vec![], checkpoint: newest_note(&site) }.encode();
    let (status, ct, body) = post(&witness.url, older).await;
    assert_eq!((status, ct.as_str(), body.as_str()), (409, "text/x.tlog.size", format!("{size}\n").as_str()));
    let short = Site::new(&tmp.path().join("short"), Some(&site.dir.join("keys"))).await;
    short.entries(3, "short").await;
    let smaller = AddCheckpoint { old: size, proof: vec![], checkpoint: newest_note(&short) }.encode();
    assert_eq!(post(&witness.url, smaller).await.0, 400);

    // Restart on the same state: it still holds `size`, and serves what it cosigned.
    drop(witness);
    let witness = serve(&wkey_file, &log_key, &state);
    let again = AddCheckpoint { old: 0, proof: vec![], checkpoint: newest_note(&site) }.encode();
    let (status, _, body) = post(&witness.url, again).await;
    assert_eq!((status, body), (409, format!("{size}\n")));
    let latest = format!("{}/{}/checkpoint", witness.url, origin_hash("niem.test/ledger"));
    let note = reqwest::get(&latest).await.unwrap().text().await.unwrap();
    assert!(note.contains(&format!("\n{size}\n")) && note.contains("— witness.test/w1 "), "{note}");

    // verify --witness: the store extends what the witness saw.
    let w = ["--witness", witness.url.as_str(), "--witness-key", wkey.as_str()];
    let out = niem_audit(&[&["verify", "--store", &store, "--public-key", &key][..], &w].concat());
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&format!("witnessed: all {size} entries")), "{}", text(&out));
    // A store that grew since: entries not yet witnessed, with their count and age.
    site.entries(4, "later").await;
    let out = niem_audit(&[&["witness-status", "--store", &store, "--public-key", &key][..], &w].concat());
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("4 not yet witnessed, the oldest "), "{}", text(&out));
    let strict = [&["verify", "--store", &store, "--public-key", &key, "--require-witnessed"][..], &w].concat();
    assert_eq!(niem_audit(&strict).status.code(), Some(1));
    // The forked store: same size, other history.
    let out = niem_audit(&[&["verify", "--store", &fork_store, "--public-key", &key][..], &w].concat());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(&format!("INVALID: fork: the store's first {size} entries differ")), "{}", text(&out));
    // The store cut back: a shorter ledger under the same key.
    let out = niem_audit(&[&["verify", "--store", s(&short.store()), "--public-key", &key][..], &w].concat());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("INVALID: rollback: witness witness.test/w1 cosigned {size} entries")),
        "{}",
        text(&out)
    );
    // The same judgement offline, from the note the witness served, kept in a file.
    let file = tmp.path().join("witness.note");
    std::fs::write(&file, &note).unwrap();
    let offline = ["--witness", s(&file), "--witness-key", &wkey];
    let out = niem_audit(&[&["verify", "--store", s(&short.store()), "--public-key", &key][..], &offline].concat());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // The log records the cosigned checkpoint beside the original, create-only.
    let out = push(&witness.url, true);
    assert!(out.status.success(), "{}", text(&out));
    let grown = site.size();
    let witness_id = wkey.parse::<archive::cosign::WitnessKey>().unwrap().store_id();
    let object = site.store().join(format!("cosigned/{:012}/{witness_id}.json", grown - 1));
    assert!(object.is_file(), "{}", text(&out));
}
