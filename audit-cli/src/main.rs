//! `niem-audit`: the auditor's tool. With read access to the store and the ledger's
//! public key, and nothing else (no KEK, no catalog, no running service), it proves
//! that every recording and ledger entry is intact and complete.
//!
//! It is a thin shell over `archive::verify`, the same verifier the service runs.

use anyhow::Context;
use archive::checkpoint::Checkpoint;
use archive::keys::VerifierKey;
use archive::ledger::Entry;
use archive::store::{S3Config, Store};
use archive::verify::{self, Options, Report, Verdict};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser)]
#[command(name = "niem-audit", version, about = "Prove a Niêm store intact with read access and a public key")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct StoreArgs {
    /// A directory, or s3://bucket/prefix (credentials from the AWS environment).
    #[arg(long)]
    store: String,
    /// The ledger's public verifier key file (from `niem keys export-public`).
    #[arg(long)]
    public_key: PathBuf,
    /// S3 endpoint URL, for servers other than AWS (or set AWS_ENDPOINT_URL).
    #[arg(long)]
    s3_endpoint: Option<String>,
    #[arg(long)]
    s3_region: Option<String>,
    /// Path-style S3 addressing, which most self-hosted servers need.
    #[arg(long)]
    s3_path_style: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Verify every ledger entry, checkpoint and object. Exit 0 = intact, 1 = tampered
    /// or incomplete, 2 = could not run or could not verify (objects in a storage
    /// format newer than this niem-audit knows, and nothing found wrong).
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        /// A checkpoint saved earlier (`niem-audit checkpoint save`): the ledger must extend it.
        #[arg(long)]
        trusted_checkpoint: Option<PathBuf>,
        /// Print a line for every object, valid ones too.
        #[arg(long)]
        verbose: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Objects fetched and hashed at once (default: 2 per CPU).
        #[arg(long)]
        parallel: Option<usize>,
    },
    /// List ledger entries (verified first).
    Log {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        since: Option<u64>,
        #[arg(long)]
        action: Option<String>,
        /// A subject, or a prefix of one (e.g. `recording/<id>`).
        #[arg(long)]
        subject: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// A recording's timeline: its ledger events, chunks and seal.
    Show {
        recording: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Checkpoints to keep for later `--trusted-checkpoint` runs.
    Checkpoint {
        #[command(subcommand)]
        command: CheckpointCommand,
    },
}

#[derive(Subcommand)]
enum CheckpointCommand {
    /// Verify the store's newest checkpoint and save it (a signed note) to FILE.
    Save {
        file: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("niem-audit: could not run: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn open(args: &StoreArgs) -> anyhow::Result<(Store, VerifierKey)> {
    let text = std::fs::read_to_string(&args.public_key).with_context(|| format!("cannot read public key {}", args.public_key.display()))?;
    let key: VerifierKey = text.parse().with_context(|| format!("{} is not a verifier key", args.public_key.display()))?;
    let s3 = S3Config {
        endpoint: args.s3_endpoint.clone().or_else(|| std::env::var("AWS_ENDPOINT_URL").ok()),
        region: args.s3_region.clone(),
        path_style: args.s3_path_style,
        ..Default::default()
    };
    if !args.store.starts_with("s3://") && !std::path::Path::new(&args.store).is_dir() {
        anyhow::bail!("store {} is not a directory or an s3:// URL", args.store);
    }
    let store = archive::store::open(&args.store, Some(s3)).await?;
    Ok((store, key))
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Verify { store, trusted_checkpoint, verbose, json, parallel } => {
            let (store, key) = open(&store).await?;
            let trusted = match trusted_checkpoint {
                None => None,
                Some(path) => {
                    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
                    Some(Checkpoint::open_stored(&bytes, &key).with_context(|| format!("trusted checkpoint {} is not valid for this key", path.display()))?)
                }
            };
            let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
            let bar = (!json && std::io::stderr().is_terminal()).then(|| {
                let bar = ProgressBar::new(0);
                bar.set_style(ProgressStyle::with_template("{spinner} hashing {bytes}/{total_bytes} {bar:30} {binary_bytes_per_sec} eta {eta}").unwrap_or_else(|_| ProgressStyle::default_bar()));
                bar
            });
            let progress: Option<verify::Progress> = bar.clone().map(|bar| {
                Arc::new(move |done: u64, total: u64| {
                    bar.set_length(total);
                    bar.set_position(done);
                }) as verify::Progress
            });
            let started = Instant::now();
            let report = verify::verify_store(&store, &key, Options { trusted, parallelism: parallel.unwrap_or(cpus * 2), progress }).await?;
            let elapsed = started.elapsed().as_secs_f64();
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            if json {
                let mut v = serde_json::to_value(&report)?;
                v["intact"] = report.intact().into();
                v["unsupported"] = report.unsupported().into();
                v["seconds"] = elapsed.into();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_report(&report, &key, verbose, elapsed);
            }
            Ok(exit_code(&report))
        }
        Command::Log { store, since, action, subject, json } => {
            let (store, key) = open(&store).await?;
            let (report, entries) = verify::verify_ledger(&store, &key, &Options::default()).await?;
            warn_ledger(&report);
            for e in entries.iter().filter(|e| {
                since.is_none_or(|s| e.seq >= s)
                    && action.as_deref().is_none_or(|a| e.action == a)
                    && subject.as_deref().is_none_or(|s| e.subject == s || e.subject.starts_with(&format!("{s}/")))
            }) {
                if json {
                    println!("{}", e.to_line());
                } else {
                    print_entry(e);
                }
            }
            Ok(exit_code(&report))
        }
        Command::Show { recording, store } => {
            let rec: archive::id::RecordingId = recording.parse()?;
            let (store, key) = open(&store).await?;
            let (report, entries) = verify::verify_ledger(&store, &key, &Options::default()).await?;
            warn_ledger(&report);
            let subject = format!("recording/{rec}");
            let mine: Vec<&Entry> = entries.iter().filter(|e| e.subject == subject || e.subject.starts_with(&format!("{subject}/"))).collect();
            anyhow::ensure!(!mine.is_empty(), "recording {rec} is not in the ledger");
            println!("Recording {rec}");
            for e in &mine {
                print_entry(e);
            }
            let signed = report.newest_checkpoint_size.unwrap_or(0);
            let check = verify::verify_recording(&store, rec, &entries, signed).await?;
            let (ok, bad): (Vec<_>, Vec<_>) = check.findings.iter().partition(|f| !matches!(f.verdict, Verdict::Invalid(_) | Verdict::Unsupported(_)));
            println!("objects: {} valid, {} invalid or not verified", ok.len(), bad.len());
            for f in bad {
                match &f.verdict {
                    Verdict::Invalid(why) => println!("  {} INVALID: {why}", f.object),
                    Verdict::Unsupported(why) => println!("  {} NOT VERIFIED: {why}", f.object),
                    _ => {}
                }
            }
            Ok(if report.failed() || check.failed() {
                ExitCode::from(1)
            } else if report.unsupported() + check.unsupported() > 0 {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Checkpoint { command: CheckpointCommand::Save { file, store } } => {
            let (store, key) = open(&store).await?;
            let (report, _) = verify::verify_ledger(&store, &key, &Options::default()).await?;
            if !report.intact() {
                warn_ledger(&report);
                anyhow::bail!("the ledger does not verify; not saving its checkpoint as trusted");
            }
            let size = report.newest_checkpoint_size.context("the store has no checkpoint yet")?;
            let body = store.get(archive::layout::ObjectKey::checkpoint(size - 1).as_str()).await?;
            let obj: archive::checkpoint::CheckpointObject = serde_json::from_slice(&body)?;
            std::fs::write(&file, &obj.note).with_context(|| format!("cannot write {}", file.display()))?;
            println!("saved checkpoint of {size} entries ({}) to {}", report.newest_checkpoint_time.unwrap_or_default(), file.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// 0 intact; 1 anything proven wrong, which wins; 2 objects in a newer storage
/// format left unverified (an upgrade is needed, not an alarm: ARCHITECTURE.md).
fn exit_code(report: &Report) -> ExitCode {
    if report.failed() {
        ExitCode::from(1)
    } else if report.unsupported() > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_entry(e: &Entry) {
    println!("{:>8}  {}  {:<20} {:<32} {}  {}", e.seq, e.ts, e.action, e.actor, e.subject, e.data);
}

fn warn_ledger(report: &Report) {
    if report.failed() {
        eprintln!("WARNING: the ledger does not verify; run `niem-audit verify` for details");
        for p in &report.problems {
            eprintln!("  {p}");
        }
    } else if report.unsupported() > 0 {
        eprintln!("WARNING: {} ledger objects are in a storage format newer than this niem-audit knows; upgrade niem-audit", report.unsupported());
    }
}

fn print_report(report: &Report, key: &VerifierKey, verbose: bool, elapsed: f64) {
    println!("Validating ledger and objects in {} with key {}", report.store, key.name());
    println!();
    for f in &report.findings {
        match &f.verdict {
            Verdict::Invalid(why) => println!("{} {} INVALID: {why}", f.kind, f.object),
            Verdict::Unsupported(why) => println!("{} {} NOT VERIFIED: {why}", f.kind, f.object),
            Verdict::Pending(why) if verbose => println!("{} {} pending: {why}", f.kind, f.object),
            Verdict::Valid if verbose => println!("{} {} valid", f.kind, f.object),
            _ => {}
        }
    }
    for p in &report.problems {
        println!("{p}");
    }
    for d in report.deletions.iter().filter(|d| d.lawful) {
        println!("recording {} lawfully deleted: {}", d.recording, d.reason);
    }
    for w in &report.warnings {
        println!("warning: {w}");
    }
    if !report.host_actions.is_empty() {
        println!();
        println!("Changes made at the host's command line, outside sign-in (break-glass):");
        for a in &report.host_actions {
            println!("  {a}");
        }
    }
    println!();
    println!("Results:");
    match (&report.newest_checkpoint_size, &report.newest_checkpoint_time) {
        (Some(size), Some(time)) => println!(
            "  ledger: {} entries; newest checkpoint covers {size} ({time}); {} not yet signed",
            report.entries, report.unsigned_entries
        ),
        _ => println!("  ledger: {} entries; no checkpoint", report.entries),
    }
    for (kind, (valid, invalid, pending)) in report.counts() {
        let total = valid + invalid + pending;
        let mut line = format!("  {kind}: {valid}/{total} valid");
        if invalid > 0 {
            line.push_str(&format!(", {invalid} INVALID"));
        }
        if pending > 0 {
            line.push_str(&format!(", {pending} pending"));
        }
        println!("{line}");
    }
    if report.unsupported() > 0 {
        println!("  not verified: {} objects in a newer storage format", report.unsupported());
    }
    println!("  recordings: {} sealed, {} open", report.recordings_sealed, report.recordings_open);
    if !report.deletions.is_empty() {
        let lawful = report.deletions.iter().filter(|d| d.lawful).count();
        println!("  deletions: {lawful}/{} lawful", report.deletions.len());
    }
    let mb = report.bytes_hashed as f64 / 1e6;
    println!("  hashed {mb:.1} MB in {elapsed:.2} s ({:.0} MB/s)", mb / elapsed.max(1e-9));
    println!();
    let invalid = report.findings.iter().filter(|f| matches!(f.verdict, Verdict::Invalid(_))).count();
    if report.intact() {
        println!("Store is INTACT.");
    } else if !report.failed() {
        println!(
            "Store could NOT be verified: {} objects are in a storage format newer than this niem-audit knows. Nothing found is wrong; upgrade niem-audit and verify again.",
            report.unsupported()
        );
    } else {
        println!("Store is NOT intact: {invalid} invalid or missing objects, {} other problems.", report.problems.len());
    }
}
