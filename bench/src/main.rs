//! `niem-bench`: the benchmark programs, one subcommand each, run against real
//! `niem` and `niem-audit` processes through the end-to-end harness
//! (`niem-tests`). They print figures; they are not tests, and a slow run fails
//! nothing. `bench/*.sh` build a release and run them:
//!
//! - `upload-verify` (`bench/upload-verify.sh`): upload and verify throughput on
//!   one large file, against openssl's SHA-256;
//! - `live-load` (`bench/live-load.sh`): N concurrent RTMP publishers;
//! - `soak` (`bench/soak.sh`): everything at once for a long run, with outages;
//! - `search` (`bench/search.sh`): search at 1,000 and 10,000 meeting-hours
//!   through the service, against ripgrep;
//! - `ledger` (`bench/ledger.sh`): ledger appends per second on SQLite and
//!   PostgreSQL, and one chain from 2 nodes × 8 writers.
//!
//! Not here: the transcription bench (`bench/transcribe.sh`, which times
//! `niem transcribe`).
//!
//! One program rather than three: one link, in CI and in a release build, and
//! every flag of every bench in this file.

#![allow(clippy::unwrap_used)] // tests and benches may: a panic is their failure report

mod ledger;
mod live_load;
mod procfs;
mod search;
mod soak;
mod upload_verify;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "niem-bench", about = "Benchmarks of Niêm against the real binaries")]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Upload and verify throughput on one large file, against openssl's SHA-256.
    UploadVerify(UploadVerify),
    /// N concurrent RTMP publishers at ~1.5 Mbit/s each; lost chunks, CPU, RSS.
    LiveLoad(LiveLoad),
    /// Live streams, uploads, searches, retention and SeaweedFS outages at once.
    Soak(Soak),
    /// Search through the service at N synthetic meeting-hours, against ripgrep.
    Search(SearchBench),
    /// Ledger appends per second on SQLite and PostgreSQL; one chain under contention.
    Ledger(LedgerBench),
}

#[derive(Args)]
pub struct LedgerBench {
    /// Appends per writer.
    #[arg(long, default_value_t = 10_000)]
    pub entries: usize,
}

#[derive(Args)]
pub struct SearchBench {
    /// Archive sizes in meeting-hours, one fresh service each.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    pub hours: Vec<u32>,
    /// Queries timed at each size, the classes in turn.
    #[arg(long, default_value_t = 1000)]
    pub queries: usize,
    /// Also write the transcripts as text files and time ripgrep over them.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub rg: bool,
}

/// Where a bench's server keeps its objects.
#[derive(Clone, Copy, ValueEnum)]
pub enum StoreChoice {
    /// A directory in the server's data dir.
    Local,
    /// A fresh bucket on the harness's SeaweedFS.
    Seaweedfs,
}

#[derive(Args)]
pub struct UploadVerify {
    /// Size of the uploaded file, in MiB.
    #[arg(long, default_value_t = 1024)]
    pub size_mib: u64,
    /// The stores to measure, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "local,seaweedfs")]
    pub stores: Vec<StoreChoice>,
}

#[derive(Args)]
pub struct LiveLoad {
    /// Publisher counts, one round on a fresh server each.
    #[arg(long, value_delimiter = ',', default_value = "50")]
    pub streams: Vec<usize>,
    /// How long each round publishes, in seconds.
    #[arg(long, default_value_t = 120)]
    pub secs: u64,
    /// Where each round's server keeps its objects.
    #[arg(long, value_enum, default_value = "local")]
    pub store: StoreChoice,
    /// Publishers per meeting (the bridge points of one meeting).
    #[arg(long, default_value_t = 10)]
    pub per_meeting: usize,
    /// Length of the source clip that every publisher loops, in seconds.
    #[arg(long, default_value_t = 20)]
    pub clip_secs: u32,
    /// B-frames in the source clip.
    #[arg(long, default_value_t = 0)]
    pub bframes: u32,
}

#[derive(Args)]
pub struct Soak {
    /// Length of the run, in minutes.
    #[arg(long, default_value_t = 30.0)]
    pub minutes: f64,
    /// Live RTMP senders for the whole run.
    #[arg(long, default_value_t = 50)]
    pub streams: usize,
    /// The service's live grace period (NIEM_LIVE__GRACE_SECS).
    #[arg(long, default_value_t = 30)]
    pub grace_secs: u64,
    /// Seconds between spoken uploads.
    #[arg(long, default_value_t = 30)]
    pub upload_every: u64,
    /// How long SeaweedFS stays down at each outage, in seconds.
    #[arg(long, default_value_t = 20)]
    pub outage_secs: u64,
    /// Minutes left out of the RSS flatness figure (default: a sixth of the run,
    /// at least 1).
    #[arg(long)]
    pub warmup_minutes: Option<f64>,
    /// Video bitrate of the senders' clip, in kbit/s.
    #[arg(long, default_value_t = 400)]
    pub video_kbps: u32,
    /// How long to wait for the uploads' transcripts at the end, in seconds.
    #[arg(long, default_value_t = 300)]
    pub transcribe_wait_secs: u64,
    /// Where the printout also goes (default: target/bench/soak-<UTC time>.txt).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    // Synchronous, as the catalog is: postgres::Client runs its own runtime,
    // which cannot start inside another.
    if let Bench::Ledger(args) = &cli.bench {
        return ledger::run(args);
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    // The publishers of live-load and soak share the machine with the server:
    // two workers leave it the rest, and their own CPU is measured as such.
    if !matches!(cli.bench, Bench::UploadVerify(_)) {
        runtime.worker_threads(2);
    }
    let runtime = runtime.build().expect("a tokio runtime");
    runtime.block_on(async {
        match &cli.bench {
            Bench::UploadVerify(args) => upload_verify::run(args).await,
            Bench::LiveLoad(args) => live_load::run(args).await,
            Bench::Soak(args) => soak::run(args).await,
            Bench::Search(args) => search::run(args).await,
            Bench::Ledger(_) => unreachable!("run above, outside the runtime"),
        }
    });
}

impl StoreChoice {
    /// The harness's store for a new server: for SeaweedFS, a fresh bucket on the
    /// process's one instance.
    async fn store(self) -> niem_tests::server::StoreKind {
        match self {
            StoreChoice::Local => niem_tests::server::StoreKind::Local,
            StoreChoice::Seaweedfs => niem_tests::seaweed::SeaweedFs::shared().store().await,
        }
    }
}
