//! The end-to-end test harness: real binaries (`niem`, `niem-audit`), a real S3
//! server (SeaweedFS on 127.0.0.1, started here), real HTTP.
//!
//! - [`seaweed`]: one SeaweedFS per test process, with a static identity and a fresh
//!   bucket per test;
//! - [`server`]: a `niem serve` child process on its own data dir, and an API client;
//! - [`stores`]: raw access to a store behind the service's back, to tamper with it;
//! - [`live`]: `ffmpeg` senders over RTMP and HTTP push, and decoding checks;
//! - [`speech`]: known sentences at known offsets (espeak-ng, sox), the Whisper
//!   model, word error rate;
//! - [`tls`]: a test CA and certificate (openssl CLI), curl, a front that carries
//!   the API client to a TLS-only server;
//! - [`wav`]: test media made in memory;
//! - [`corpus`]: synthetic Vietnamese transcripts (the `niem-seed` tool, the search
//!   tests and benchmark).
//!
//! Binaries are found next to the test executable (`target/<profile>/`); the README
//! test command builds them first. The benchmark programs (`bench/`, `niem-bench`)
//! drive the service through this harness too.

#![allow(clippy::unwrap_used)] // tests and benches may: a panic is their failure report

pub mod browser;
pub mod corpus;
pub mod live;
pub mod postgres;
pub mod seaweed;
pub mod server;
pub mod speech;
pub mod stores;
pub mod tls;
pub mod wav;

use std::path::PathBuf;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// Copies the directory tree `from` to `to` (created), file modes included.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create the copy's directory");
    for e in std::fs::read_dir(from).expect("read the directory to copy") {
        let e = e.expect("directory entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).expect("copy a file");
        }
    }
}

/// Every file under `dir`, recursively; none if it does not exist. What the
/// plaintext checks read.
pub fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Whether `needle` (not empty) occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// A built binary of the workspace, e.g. `niem` or `niem-audit`.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // Tests live in target/<profile>/deps/, binaries like niem-bench in target/<profile>/.
    let mut dir = exe.parent().expect("target/<profile>");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().expect("target/<profile>");
    }
    let path = dir.join(name);
    assert!(path.exists(), "{} is not built; run `cargo build --workspace --bins` first", path.display());
    path
}

/// A TCP port on 127.0.0.1 that was free a moment ago, whose +10000 sibling (where
/// SeaweedFS puts gRPC) is free too, and that this process has not handed out
/// before: the kernel gives a just-closed ephemeral port out again, and two calls in
/// a row once returned the same port for a server's HTTP and RTMP listeners.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = l.local_addr().expect("local addr").port();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        let near = |p: u16| given.iter().any(|&g| g == p || g + 10_000 == p || p + 10_000 == g);
        if port < 55_000 && !near(port) && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            given.push(port);
            return port;
        }
    }
}
