//! `niem-bench upload-verify`: upload and verify throughput on one large file,
//! against `openssl dgst -sha256` over the same bytes as the anchor. A printout,
//! not a test.
//!
//! Usage: `niem-bench upload-verify [--size-mib N] [--stores local,seaweedfs]`
//! (release build: `bench/upload-verify.sh`). The sender is `curl -T`, streaming
//! from disk.

use niem_tests::server::{Server, StoreKind};
use std::io::Write;
use std::process::Command;
use std::time::Instant;

/// A WAV header followed by pseudo-random samples: media that FFmpeg accepts,
/// and that does not compress.
fn make_file(path: &std::path::Path, size: u64) {
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).expect("create bench file"));
    let h = niem_tests::wav::header(48_000, 2, (size - 44) as u32, &[]);
    f.write_all(&h).unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size - 44;
    while left > 0 {
        for word in buf.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
    f.flush().unwrap();
}

const UPLOADS: usize = 3;

fn mb_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs
}

fn openssl(path: &std::path::Path) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let out = Command::new("openssl").args(["dgst", "-sha256"]).arg(path).output().expect("run openssl");
        assert!(out.status.success());
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

async fn run_store(kind: StoreKind, file: &std::path::Path, size: u64, openssl_mb_s: f64) {
    let name = kind.name();
    let srv = Server::start(kind, &[("NIEM_LOG__LEVEL", "warn")]).await;
    // Several uploads: fsync latency on a shared VM swings single runs by ±20 %.
    let mut times = Vec::new();
    for _ in 0..UPLOADS {
        let meeting = srv.meeting().await;
        let t = Instant::now();
        let out = Command::new("curl")
            .args(["-sS", "--fail-with-body", "-X", "POST", "-H", "Content-Type: audio/wav"])
            .arg("-H")
            .arg(format!("Authorization: Bearer {}", srv.token))
            .arg("-T")
            .arg(file)
            .arg(format!("{}/api/v1/meetings/{meeting}/uploads", srv.url))
            .output()
            .expect("run curl");
        times.push(t.elapsed().as_secs_f64());
        let resp: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("upload failed: {}", String::from_utf8_lossy(&out.stdout)));
        assert_eq!(resp["length"], size, "{resp}");
        srv.seal(resp["recording"].as_str().unwrap()).await;
    }
    times.sort_by(f64::total_cmp);
    let (best, median) = (times[0], times[times.len() / 2]);

    let mut best_verify = f64::MAX;
    let mut hashed = 0;
    for _ in 0..3 {
        let (code, text) = srv.audit(&["verify", "--json"], &[]);
        assert_eq!(code, 0, "{text}");
        let report: serde_json::Value = serde_json::from_str(&text).expect("verify --json");
        hashed = report["bytes_hashed"].as_u64().unwrap();
        best_verify = best_verify.min(report["seconds"].as_f64().unwrap());
    }
    let (up, up_best) = (mb_s(size, median), mb_s(size, best));
    let ver = mb_s(hashed, best_verify);
    println!(
        "{name:<10} upload   {up:>8.0} MB/s  (median of {UPLOADS}, {median:.2} s; best {up_best:.0} MB/s)   {:.2}× openssl  (target ≥ 0.5×)",
        up / openssl_mb_s
    );
    // The local goal is against openssl; a remote store's is against its own raw GETs.
    let target = if matches!(srv.store, StoreKind::S3 { .. }) { "see raw GET" } else { "target ≥ 1.5×" };
    println!(
        "{name:<10} verify   {ver:>8.0} MB/s  ({best_verify:.2} s)   {:.2}× openssl  ({target})",
        ver / openssl_mb_s
    );
    if let StoreKind::Local = srv.store {
        let raw = raw_disk_read(&srv).await;
        println!(
            "{name:<10} raw read {raw:>8.0} MB/s  (the same files, O_DIRECT, {PARALLEL} at once, best of 3)   verify is {:.2}× raw read  (chunks are written past the page cache: verify reads the disk)",
            ver / raw
        );
    }
    if matches!(srv.store, StoreKind::S3 { .. }) {
        let raw = raw_get(&srv).await;
        println!(
            "{name:<10} raw GET  {raw:>8.0} MB/s  (the same objects, {PARALLEL} at once, best of 3)   verify is {:.2}× raw GET  (target ≥ 0.8×)",
            ver / raw
        );
    }
}

/// GETs at once in the raw baseline: what `niem-audit verify` runs by default
/// on this machine (2 per CPU).
const PARALLEL: usize = 4;

/// The store's raw GET throughput over the objects verify fetches (chunks,
/// keys, manifests), measured with the same client library the service uses.
async fn raw_get(srv: &Server) -> f64 {
    use futures::StreamExt;
    let raw = std::sync::Arc::new(srv.raw_store().await);
    let keys: Vec<String> =
        raw.list().await.into_iter().filter(|k| k.starts_with("recordings/") || k.starts_with("keys/")).collect();
    let mut best = 0f64;
    for _ in 0..3 {
        let t = Instant::now();
        let bytes: usize = futures::stream::iter(keys.clone())
            .map(|k| {
                let raw = raw.clone();
                async move { raw.read(&k).await.len() }
            })
            .buffer_unordered(PARALLEL)
            .fold(0, |a, n| async move { a + n })
            .await;
        best = best.max(mb_s(bytes as u64, t.elapsed().as_secs_f64()));
    }
    best
}

/// The disk's own read throughput over the local store's chunk files, read
/// past the page cache as verify reads them: the ceiling of a verify.
async fn raw_disk_read(srv: &Server) -> f64 {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let niem_tests::stores::RawStore::Local(root) = srv.raw_store().await else { return 0.0 };
    let raw = niem_tests::stores::RawStore::Local(root.clone());
    let files: Vec<std::path::PathBuf> =
        raw.list().await.into_iter().filter(|k| k.starts_with("recordings/")).map(|k| root.join(k)).collect();
    let read = |path: &std::path::Path, buf: &mut [u8]| -> usize {
        let mut f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECT).open(path).expect("open");
        let mut total = 0;
        loop {
            let n = f.read(buf).expect("direct read");
            total += n;
            if n < buf.len() {
                return total;
            }
        }
    };
    let mut best = 0f64;
    for _ in 0..3 {
        let t = Instant::now();
        let bytes: usize = std::thread::scope(|scope| {
            let parts: Vec<_> = (0..PARALLEL)
                .map(|i| {
                    let mine: Vec<_> = files.iter().skip(i).step_by(PARALLEL).collect();
                    scope.spawn(move || {
                        let mut raw = vec![0u8; (8 << 20) + 4096];
                        let at = raw.as_ptr().align_offset(4096);
                        let buf = &mut raw[at..at + (8 << 20)];
                        mine.into_iter().map(|p| read(p, buf)).sum::<usize>()
                    })
                })
                .collect();
            parts.into_iter().map(|h| h.join().expect("reader")).sum()
        });
        best = best.max(mb_s(bytes as u64, t.elapsed().as_secs_f64()));
    }
    best
}

pub async fn run(args: &crate::UploadVerify) {
    let size_mib = args.size_mib;
    let size = size_mib << 20;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("meeting.wav");
    make_file(&file, size);
    let ossl = openssl(&file);
    let ossl_mb_s = mb_s(size, ossl);
    println!(
        "file: {size_mib} MiB ({size} bytes), {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("anchor     openssl dgst -sha256 {ossl_mb_s:>8.0} MB/s  ({ossl:.2} s)");
    for store in &args.stores {
        run_store(store.store().await, &file, size, ossl_mb_s).await;
    }
}
