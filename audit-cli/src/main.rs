//! `niem-audit`: the auditor's tool. With read access to the store and the ledger's
//! public key, and nothing else (no KEK, no catalog, no running service), it proves
//! that every recording and ledger entry is intact and complete.
//!
//! It is a thin shell over `archive::verify`, the same verifier the service runs,
//! and over `archive::bundle` (evidence bundles) and `archive::witness` (the
//! witness it can serve, and the witnesses whose checkpoints `verify` reads).

mod evidence;
mod witness;

use anyhow::Context;
use archive::checkpoint::Checkpoint;
use archive::id::RecordingId;
use archive::keys::VerifierKey;
use archive::ledger::Entry;
use archive::store::{S3Config, Store};
use archive::verify::{self, Options, Report, Verdict};
use archive::witness::{WitnessPolicy, WitnessReport};
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

/// Witnesses whose cosigned checkpoints the store's ledger must extend.
#[derive(Args, Default)]
struct WitnessArgs {
    /// A witness's monitoring URL prefix (http://…), or a file holding its latest
    /// cosigned checkpoint (from `GET <prefix>/<sha256(origin)>/checkpoint`).
    #[arg(long = "witness")]
    sources: Vec<String>,
    /// A witness's verifier key (a file, or the key text); one per witness.
    #[arg(long = "witness-key")]
    keys: Vec<String>,
    /// How many witnesses must have cosigned an entry for it to count as witnessed.
    #[arg(long = "witness-quorum", default_value_t = 1)]
    quorum: usize,
    /// Fail if any entry is not yet witnessed.
    #[arg(long)]
    require_witnessed: bool,
    /// Fail if the oldest unwitnessed entry is older than this (30m, 12h, 1d, 2w).
    #[arg(long = "max-witness-lag", default_value = "1d")]
    max_lag: String,
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
        /// Verify the whole ledger, but only this recording's objects.
        #[arg(long, conflicts_with = "since")]
        recording: Option<String>,
        /// A checkpoint saved earlier: verify the whole ledger (which must extend
        /// it), but only the objects of recordings named by entries after it.
        #[arg(long)]
        since: Option<PathBuf>,
        /// Verify the whole ledger and every signature, but fetch and hash only a
        /// reproducible random sample of this percentage of the content objects,
        /// and say what damage rate a clean sample rules out.
        #[arg(long, value_name = "PERCENT", conflicts_with_all = ["recording", "since"])]
        sample: Option<f64>,
        /// The sample's seed (default: a fresh random one, printed, so the run can be repeated).
        #[arg(long, requires = "sample")]
        seed: Option<String>,
        #[command(flatten)]
        witness: WitnessArgs,
    },
    /// Write one recording's evidence bundle (a tar file) for offline checking.
    /// niem-audit holds no KEK, so it adds no media: `niem bundle --with-media` does.
    Bundle {
        recording: String,
        #[command(flatten)]
        store: StoreArgs,
        /// Where to write it (must not exist); by convention <recording>.niem-bundle.tar.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check an evidence bundle offline, with no store: exit 0 = valid, 1 = not.
    VerifyBundle {
        file: PathBuf,
        /// The ledger's published verifier key (else the bundle's own, with a warning).
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// A witness's verifier key (a file or the key text): its cosignature must verify.
        #[arg(long = "witness-key")]
        witness_keys: Vec<String>,
        /// The recording the bundle must be (default: the id in the file's name, if any).
        #[arg(long)]
        recording: Option<String>,
        /// An age identity file, to check media encrypted to you.
        #[arg(long)]
        identity: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Run or feed a C2SP tlog-witness.
    Witness {
        #[command(subcommand)]
        command: WitnessCommand,
    },
    /// How far the witnesses lag behind the store's ledger.
    WitnessStatus {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        witness: WitnessArgs,
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
enum WitnessCommand {
    /// Make a witness key: the private key goes to --key, the verifier key to stdout.
    Init {
        /// The witness's name, a schema-less URL (e.g. witness.example.vn/niem).
        #[arg(long)]
        name: String,
        #[arg(long)]
        key: PathBuf,
    },
    /// Serve POST /add-checkpoint and GET /<sha256(origin)>/checkpoint.
    Serve {
        /// The witness's private key (from `witness init`).
        #[arg(long)]
        key: PathBuf,
        /// A log's verifier key to follow (repeat for several logs).
        #[arg(long = "log-key", required = true)]
        log_keys: Vec<PathBuf>,
        /// Where the latest cosigned checkpoint of each log is kept.
        #[arg(long)]
        state: PathBuf,
        #[arg(long, default_value = "127.0.0.1:7380")]
        listen: String,
    },
    /// Submit the store's newest checkpoint to a witness and print its cosignature.
    Push {
        #[command(flatten)]
        store: StoreArgs,
        /// The witness's submission URL prefix.
        #[arg(long)]
        witness: String,
        #[arg(long = "witness-key")]
        witness_key: String,
        /// Also keep the cosigned checkpoint in the store (needs write access).
        #[arg(long)]
        record: bool,
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
    let text = std::fs::read_to_string(&args.public_key)
        .with_context(|| format!("cannot read public key {}", args.public_key.display()))?;
    let key: VerifierKey =
        text.parse().with_context(|| format!("{} is not a verifier key", args.public_key.display()))?;
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
        Command::Verify {
            store,
            trusted_checkpoint,
            verbose,
            json,
            parallel,
            recording,
            since,
            sample,
            seed,
            witness,
        } => {
            let (store, key) = open(&store).await?;
            let trusted = read_checkpoint(trusted_checkpoint.as_deref(), &key)?;
            let since = read_checkpoint(since.as_deref(), &key)?;
            let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
            let bar = (!json && std::io::stderr().is_terminal()).then(|| {
                let bar = ProgressBar::new(0);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} hashing {bytes}/{total_bytes} {bar:30} {binary_bytes_per_sec} eta {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar
            });
            let progress: Option<verify::Progress> = bar.clone().map(|bar| {
                Arc::new(move |done: u64, total: u64| {
                    bar.set_length(total);
                    bar.set_position(done);
                }) as verify::Progress
            });
            let started = Instant::now();
            let trusted = trusted.or_else(|| since.clone());
            let selection = match sample {
                None => archive::sample::Selection::All,
                Some(pct) => {
                    anyhow::ensure!(pct > 0.0 && pct <= 100.0, "--sample takes a percentage above 0 and at most 100");
                    let seed = match seed {
                        Some(s) => s,
                        None => hex::encode(
                            ring::rand::generate::<[u8; 8]>(&ring::rand::SystemRandom::new())
                                .map_err(|_| anyhow::anyhow!("the random generator failed"))?
                                .expose(),
                        ),
                    };
                    eprintln!("sample of {pct} % with seed {seed} (repeat the run with --seed {seed})");
                    archive::sample::Selection::Sample { seed: seed.into_bytes(), rate: pct / 100.0 }
                }
            };
            let witnesses =
                witness.keys.iter().map(|k| witness::load_witness_key(k)).collect::<anyhow::Result<Vec<_>>>()?;
            let opts = Options { trusted, parallelism: parallel.unwrap_or(cpus * 2), progress, selection, witnesses };
            let recording = recording.map(|r| r.parse::<RecordingId>()).transpose()?;
            let (report, entries) = match (recording, &since) {
                (None, None) => verify::verify_store_entries(&store, &key, opts).await?,
                (one, since) => verify_part(&store, &key, opts, one, since.as_ref()).await?,
            };
            let elapsed = started.elapsed().as_secs_f64();
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            let witnessed = judge_witnesses(&witness, &key, &entries).await?;
            if json {
                let mut v = serde_json::to_value(&report)?;
                v["intact"] = report.intact().into();
                v["unsupported"] = report.unsupported().into();
                v["seconds"] = elapsed.into();
                if let Some((w, _)) = &witnessed {
                    v["witness"] = serde_json::to_value(w)?;
                }
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_report(&report, &key, verbose, elapsed);
                if let Some((w, policy)) = &witnessed {
                    println!("Witnesses:");
                    witness::print_report(w, report.entries, policy);
                }
            }
            match witnessed {
                Some((w, _)) if w.failed() => Ok(ExitCode::from(1)),
                _ => Ok(exit_code(&report)),
            }
        }
        Command::Bundle { recording, store, out } => {
            let rec: archive::id::RecordingId = recording.parse()?;
            let (store, key) = open(&store).await?;
            evidence::make(&store, &key, rec, &out).await
        }
        Command::VerifyBundle { file, public_key, witness_keys, recording, identity, json } => {
            let key = public_key.as_deref().map(witness::load_log_key).transpose()?;
            let wkeys = witness_keys.iter().map(|k| witness::load_witness_key(k));
            let wkeys = wkeys.collect::<anyhow::Result<Vec<_>>>()?;
            let recording = recording.map(|r| r.parse()).transpose()?;
            evidence::check(&file, key.as_ref(), &wkeys, recording, identity.as_deref(), json)
        }
        Command::Witness { command: WitnessCommand::Init { name, key } } => {
            witness::init(&name, &key)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Witness { command: WitnessCommand::Serve { key, log_keys, state, listen } } => {
            witness::serve(&key, &log_keys, &state, &listen).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Witness { command: WitnessCommand::Push { store, witness: url, witness_key, record } } => {
            let (store, key) = open(&store).await?;
            let wkey = witness::load_witness_key(&witness_key)?;
            let seen = witness::push(&store, &key, &url, &wkey, record).await?;
            println!(
                "witness {} cosigned the checkpoint of {} entries ({}) at {}",
                wkey.name(),
                seen.checkpoint.size,
                seen.checkpoint.time,
                archive::witness::unix_to_rfc3339(seen.cosigned_at)
            );
            print!("{}", seen.note);
            Ok(ExitCode::SUCCESS)
        }
        Command::WitnessStatus { store, witness: args } => {
            let (store, key) = open(&store).await?;
            anyhow::ensure!(!args.sources.is_empty(), "give --witness and --witness-key");
            let opts = Options::default();
            let (report, entries) = verify::verify_ledger(&store, &key, &opts).await?;
            warn_ledger(&report);
            let newest = report.newest_checkpoint_time.as_deref().unwrap_or("none");
            let (name, n) = (key.name(), report.entries);
            println!("Ledger of {name}: {n} entries, newest checkpoint {newest}");
            let judged = judge_witnesses(&args, &key, &entries).await?;
            let (w, policy) = judged.context("give --witness and --witness-key")?;
            let failed = witness::print_report(&w, report.entries, &policy);
            Ok(if failed || report.failed() { ExitCode::from(1) } else { ExitCode::SUCCESS })
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
            let mine: Vec<&Entry> = entries
                .iter()
                .filter(|e| e.subject == subject || e.subject.starts_with(&format!("{subject}/")))
                .collect();
            anyhow::ensure!(!mine.is_empty(), "recording {rec} is not in the ledger");
            println!("Recording {rec}");
            for e in &mine {
                print_entry(e);
            }
            let signed = report.newest_checkpoint_size.unwrap_or(0);
            let check = verify::verify_recording(&store, rec, &entries, signed).await?;
            let (ok, bad): (Vec<_>, Vec<_>) = check
                .findings
                .iter()
                .partition(|f| !matches!(f.verdict, Verdict::Invalid(_) | Verdict::Unsupported(_)));
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
            println!(
                "saved checkpoint of {size} entries ({}) to {}",
                report.newest_checkpoint_time.unwrap_or_default(),
                file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn read_checkpoint(path: Option<&std::path::Path>, key: &VerifierKey) -> anyhow::Result<Option<Checkpoint>> {
    let Some(path) = path else { return Ok(None) };
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let cp = Checkpoint::open_stored(&bytes, key)
        .with_context(|| format!("checkpoint {} is not valid for this key", path.display()))?;
    Ok(Some(cp))
}

/// The whole ledger, and the objects of one recording or of the recordings named
/// by entries after `since` (which the ledger must extend: it is also trusted).
async fn verify_part(
    store: &Store,
    key: &VerifierKey,
    opts: Options,
    one: Option<RecordingId>,
    since: Option<&Checkpoint>,
) -> anyhow::Result<(Report, Vec<Entry>)> {
    let (mut report, entries) = verify::verify_ledger(store, key, &opts).await?;
    let recs: std::collections::BTreeSet<RecordingId> = match (one, since) {
        (Some(rec), _) => [rec].into(),
        (None, Some(cp)) => entries
            .iter()
            .skip(cp.size as usize)
            .filter_map(|e| e.subject.strip_prefix("recording/"))
            .filter_map(|s| s.split('/').next()?.parse().ok())
            .collect(),
        (None, None) => Default::default(),
    };
    eprintln!("verifying the whole ledger and the objects of {} recordings", recs.len());
    let signed = report.newest_checkpoint_size.unwrap_or(0);
    for rec in recs {
        // The whole ledger: the recording's own entries give its objects; the
        // signed rest (orgs, meetings, policies, holds) judges its deletion.
        let part = verify::verify_recording(store, rec, &entries, signed).await?;
        report.findings.extend(part.findings);
        report.problems.extend(part.problems);
        report.deletions.extend(part.deletions);
        report.bytes_hashed += part.bytes_hashed;
    }
    Ok((report, entries))
}

/// Reads the witnesses and judges the ledger against them; None without --witness.
async fn judge_witnesses(
    args: &WitnessArgs,
    key: &VerifierKey,
    entries: &[Entry],
) -> anyhow::Result<Option<(WitnessReport, WitnessPolicy)>> {
    if args.sources.is_empty() {
        return Ok(None);
    }
    anyhow::ensure!(!args.keys.is_empty(), "--witness needs --witness-key");
    let keys = args.keys.iter().map(|k| witness::load_witness_key(k));
    let keys = keys.collect::<anyhow::Result<Vec<_>>>()?;
    let policy = WitnessPolicy {
        quorum: args.quorum,
        max_lag: witness::parse_lag(&args.max_lag)?,
        require_witnessed: args.require_witnessed,
    };
    let views = witness::views(&args.sources, &keys, key).await;
    let now = archive::clock::system_now();
    let report = archive::witness::judge(entries, &views, &policy, now);
    Ok(Some((report, policy)))
}

/// 0 intact; 1 anything proven wrong, which wins; 2 objects in a newer storage
/// format left unverified (an upgrade is needed, not an alarm: FORMAT.md).
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
        eprintln!(
            "WARNING: {} ledger objects are in a storage format newer than this niem-audit knows; upgrade niem-audit",
            report.unsupported()
        );
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
        match d.class {
            archive::retention::Class::Media => println!("recording {} lawfully deleted: {}", d.recording, d.reason),
            archive::retention::Class::Record => {
                println!("the record of meeting {} lawfully deleted: {}", d.recording, d.reason)
            }
        }
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
    if let Some(s) = &report.sample {
        println!(
            "  content fetched and hashed: {} of {} objects (every object listed and size-checked)",
            s.fetched, s.population
        );
        if let Some(statement) = &s.statement {
            println!("  sample: {statement}");
        }
    }
    println!();
    let invalid = report.findings.iter().filter(|f| matches!(f.verdict, Verdict::Invalid(_))).count();
    if report.intact() && report.sample.is_some() {
        println!("Ledger INTACT; the sampled objects are INTACT (the others were not fetched).");
    } else if report.intact() {
        println!("Store is INTACT.");
    } else if !report.failed() {
        println!(
            "Store could NOT be verified: {} objects are in a storage format newer than this niem-audit knows. Nothing found is wrong; upgrade niem-audit and verify again.",
            report.unsupported()
        );
    } else {
        println!(
            "Store is NOT intact: {invalid} invalid or missing objects, {} other problems.",
            report.problems.len()
        );
    }
}
