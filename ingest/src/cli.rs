//! The operator commands of `niem` other than `serve`: keys, tokens, users,
//! endpoints, the roster, retention and holds, evidence bundles, and offline transcription.
//!
//! Offline only: a command that changes anything refuses while `niem serve`
//! holds the data dir ([`niem_core::host::Offline`]), makes its change through
//! the domain's one commit path as the actor `host`, and signs and stores its
//! own ledger entries before it exits; so there is never a second ledger mirror
//! beside the service's. A running service is changed through its API or web UI.
//! Commands that only read (lists, previews, a dry run, the public key) read the
//! catalog and work either way.

use anyhow::Context;
use archive::keys::KeyDir;
use clap::Subcommand;
use niem_core::accounts::{UserChange, MIN_PASSWORD_CHARS};
use niem_core::config::{self, Config};
use niem_core::host::{self, Offline};
use niem_core::principal::Role;
use niem_core::retention::{self, NewHold, NewPolicy};
use niem_core::{app, endpoints, schema, transcript};
use std::path::PathBuf;

#[derive(clap::Args)]
pub(crate) struct BundleArgs {
    /// The recording (id).
    recording: String,
    /// Where to write it (must not exist); by convention <recording>.niem-bundle.tar.
    #[arg(long)]
    out: PathBuf,
    /// Add the decrypted media and the transcript (WebVTT).
    #[arg(long)]
    with_media: bool,
    /// Encrypt the media to this age X25519 public key (age1…), for the person
    /// who receives the bundle.
    #[arg(long, requires = "with_media")]
    recipient: Option<String>,
}

/// `niem bundle`: the host's export, signed before the file is written.
pub(crate) async fn bundle(cfg: &Config, args: BundleArgs) -> anyhow::Result<()> {
    let rec: archive::id::RecordingId = args.recording.parse().context("not a recording id")?;
    let offline = Offline::open(cfg).await?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    if args.with_media && args.recipient.is_none() {
        eprintln!("niem: the media in {} are in the clear; keep the file as you would the meeting", args.out.display());
    }
    let req = niem_core::bundles::Request { with_media: args.with_media, recipient: args.recipient };
    let out = std::io::BufWriter::new(file);
    let written = async {
        let prepared = niem_core::bundles::prepare(&offline.vault, archive::ledger::ACTOR_HOST, rec, req).await?;
        let made = prepared.made.clone();
        Ok::<_, niem_core::error::DomainError>((prepared.write(out).await?, made))
    };
    let (out, made) = match written.await {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_file(&args.out);
            return Err(e.into());
        }
    };
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    offline.finish().await?;
    println!(
        "wrote {}: recording {rec}, exported at ledger entry {} under the checkpoint of {} entries",
        args.out.display(),
        made.export_seq,
        made.checkpoint_size
    );
    for f in &made.files {
        println!("  {}  media/{} ({} bytes)", f.sha256, f.name, f.len);
    }
    Ok(())
}

#[derive(Subcommand)]
pub(crate) enum EndpointCommand {
    /// Create an endpoint of an org; its stream key is printed once.
    Create {
        /// The org (id) the endpoint belongs to.
        #[arg(long)]
        org: String,
        /// A name unique within the org, e.g. "Điểm cầu xã Tà Xùa".
        #[arg(long)]
        name: String,
    },
    /// Revoke an endpoint's stream key.
    Revoke { id: String },
    /// List endpoints (never their keys).
    List {
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Subcommand)]
pub(crate) enum MemberCommand {
    /// Add a member to a cell's roster; prints their id.
    Add {
        /// The cell (org id).
        #[arg(long)]
        org: String,
        /// Full name.
        #[arg(long)]
        name: String,
        /// Party member number, if known.
        #[arg(long)]
        number: Option<String>,
        /// secretary, deputy, committee or member (default).
        #[arg(long)]
        role: Option<String>,
        /// The day they joined the cell, YYYY-MM-DD.
        #[arg(long)]
        joined: String,
        /// Exempt from regular activity (miễn sinh hoạt).
        #[arg(long)]
        exempt: bool,
    },
    /// List a cell's roster (names are opened in memory with the keys).
    List {
        #[arg(long)]
        org: String,
        /// Past memberships too.
        #[arg(long)]
        history: bool,
    },
    /// A member leaves their cell on a date, or moves to another (--to).
    Leave {
        id: String,
        /// YYYY-MM-DD.
        #[arg(long)]
        date: String,
        /// The cell they move to.
        #[arg(long)]
        to: Option<String>,
        /// Their role in the new cell (default: the same).
        #[arg(long, requires = "to")]
        role: Option<String>,
    },
    /// Add a whole cell from a CSV file (name,number,role,joined,exempt): all or
    /// nothing; a broken line is named.
    Import {
        #[arg(long)]
        org: String,
        file: PathBuf,
    },
}

/// `niem member`: the roster, as the host.
pub(crate) async fn members(cfg: &Config, command: MemberCommand) -> anyhow::Result<()> {
    match command {
        MemberCommand::Add { org, name, number, role, joined, exempt } => {
            let org: schema::OrgId = org.parse()?;
            let offline = Offline::open(cfg).await?;
            let new = niem_core::members::NewMember { name, number, role, joined, exempt };
            let m = host::add_member(&offline.vault, org, new).await?;
            offline.finish().await?;
            println!("{}", m.id);
        }
        MemberCommand::List { org, history } => {
            let org: schema::OrgId = org.parse()?;
            let keys = app::load_keys(cfg)?;
            let catalog = app::open_catalog(cfg)?;
            let roster =
                niem_core::catalog::with(&catalog, |repo| niem_core::members::list_at_host(repo, &keys, org, history))?;
            for m in roster {
                let exempt = if m.exempt { "exempt" } else { "active" };
                let (number, left) = (m.number.as_deref().unwrap_or("-"), m.left.as_deref().unwrap_or("-"));
                println!("{}\t{}\t{}\t{}\t{left}\t{exempt}\t{number}\t{}", m.id, m.org, m.role, m.joined, m.name);
            }
        }
        MemberCommand::Leave { id, date, to, role } => {
            let id: schema::MemberId = id.parse()?;
            let to: Option<schema::OrgId> = to.map(|o| o.parse()).transpose()?;
            let offline = Offline::open(cfg).await?;
            host::member_leaves(&offline.vault, id, niem_core::members::Leave { date, to, role }).await?;
            offline.finish().await?;
            match to {
                Some(to) => println!("member {id} moved to {to}"),
                None => println!("member {id} left"),
            }
        }
        MemberCommand::Import { org, file } => {
            let org: schema::OrgId = org.parse()?;
            let csv =
                std::fs::read_to_string(&file).with_context(|| format!("cannot read {} as UTF-8", file.display()))?;
            let offline = Offline::open(cfg).await?;
            let added = host::import_members(&offline.vault, org, &csv).await?;
            offline.finish().await?;
            println!("imported {} members into {org}", added.len());
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub(crate) enum RetentionCommand {
    /// Set the policy for an org subtree (or every org) and a meeting kind (or any).
    /// A shortening applies to older recordings only once another admin approves it
    /// (POST /api/v1/retention/policies/{id}/approve).
    Set {
        #[arg(long)]
        org: Option<String>,
        /// regular, thematic, conference or committee; default any.
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        keep_days: u64,
        /// media (recordings and transcripts, the default) or record (attendance,
        /// documents, minutes, evaluations: kept permanently unless a policy says so).
        #[arg(long)]
        class: Option<String>,
    },
    /// List policies.
    List,
    /// What will have expired by a date (YYYY-MM-DD, default today), and under which policy.
    Preview {
        #[arg(long)]
        at: Option<String>,
    },
    /// Shred what has expired now and no hold covers (the service also does this daily).
    Run {
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum HoldCommand {
    /// Hold every recording of an org subtree whose meeting started in a date range.
    Place {
        #[arg(long)]
        org: String,
        /// First day held, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Last day held, YYYY-MM-DD (inclusive).
        #[arg(long)]
        to: String,
        #[arg(long)]
        reason: String,
        /// The inspection case it serves.
        #[arg(long = "case")]
        case_ref: String,
    },
    /// Release a hold, saying why.
    Release {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// List holds, active and released.
    List,
}

#[derive(Subcommand)]
pub(crate) enum UserCommand {
    /// Add a user. Inspectors, recorders and secretaries need at least one --scope.
    Add {
        name: String,
        #[arg(long, value_enum)]
        role: Role,
        /// An org id whose subtree an inspector, recorder or secretary is bound to (repeat for several).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Read the web sign-in password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users, their roles and scopes.
    List,
    /// Disable a user: their tokens and sessions stop working at once.
    Disable { name: String },
    /// Set a new web password, read from the first line of standard input; the
    /// user's open sessions end.
    ResetPassword { name: String },
}

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Generate a first KEK and a signing key (`niem serve` also does this on first run).
    Init,
    /// Add a new KEK to the key directory and make it current. Restart the
    /// service afterwards: it wraps new data keys with it and ledgers the
    /// rotation. (Older KEKs stay until retired: `niem keys retire`.)
    Rotate,
    /// Retire every KEK but a new one: re-wrap every live data key under it, delete
    /// the old key objects and destroy the old KEKs, so that no copy of a shredded
    /// recording's key opens again. Runs with the service stopped (the service
    /// does it itself: `POST /api/v1/keys/retire`, and every keys.retire_every_days).
    Retire,
    /// Print the public verifier key that auditors give to `niem-audit --public-key`.
    ExportPublic {
        /// Write it to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub(crate) enum TokenCommand {
    /// Revoke a token by its id (the part between `niem_` and the second `_`).
    Revoke { id: String },
    /// Create a token (and the user, if new). The token is printed once.
    Create {
        #[arg(long, value_enum)]
        role: Role,
        /// User name; defaults to the role's name.
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(clap::Subcommand)]
pub(crate) enum WorkerCommand {
    /// Run a transcription worker: pull jobs from the catalog, read media from
    /// the store with the keys a node grants this worker, return transcripts
    /// for the service to seal. Holds no KEK. On first run it makes its
    /// identity and prints the recipient to enroll it with.
    Transcribe {
        /// The worker's name, as enrolled.
        #[arg(long, env = "NIEM_WORKER_NAME")]
        name: String,
        /// Its age identity; made on first run. Default: <data_dir>/worker-<name>.age
        #[arg(long, env = "NIEM_WORKER_IDENTITY")]
        identity: Option<PathBuf>,
        /// GGML Whisper model; default: `transcribe.model` from the config.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Threads per job; default: `transcribe.threads`.
        #[arg(long)]
        threads: Option<u32>,
    },
    /// Enroll a worker by name and age recipient (service stopped; while it
    /// runs, admins use POST /api/v1/workers).
    Enroll { name: String, recipient: String },
}

#[derive(Subcommand)]
pub(crate) enum CatalogCommand {
    /// Copy this node's SQLite catalog into an empty PostgreSQL database, then
    /// check the copy row by row against SQLite and its ledger against the
    /// store's signed checkpoints (service stopped). The database must sort
    /// text in byte order: `createdb --locale=C.UTF-8 --template=template0`.
    MigrateTo {
        /// postgres://user@host/db (in NIEM_MIGRATE_TO, a password stays out of `ps`).
        #[arg(env = "NIEM_MIGRATE_TO", hide_env_values = true)]
        url: String,
    },
    /// Check a copy made by migrate-to again (service stopped): before
    /// switching a node to it, or after anything touched it.
    CheckCopy {
        #[arg(env = "NIEM_MIGRATE_TO", hide_env_values = true)]
        url: String,
    },
}

/// `niem catalog …`.
pub(crate) async fn catalog(cfg: &Config, command: CatalogCommand) -> anyhow::Result<()> {
    match command {
        CatalogCommand::MigrateTo { url } => print_move(&niem_core::host::move_catalog_to(cfg, &url).await?),
        CatalogCommand::CheckCopy { url } => print_move(&niem_core::host::check_catalog_copy(cfg, &url).await?),
    }
    Ok(())
}

fn print_move(moved: &niem_core::host::CatalogMove) {
    for t in &moved.tables {
        println!("{:<22} {:>9} rows  sha256 {}", t.table, t.rows, t.digest.get(..16).unwrap_or(&t.digest));
    }
    let rows: u64 = moved.tables.iter().map(|t| t.rows).sum();
    println!(
        "{} tables, {rows} rows: every table matches the SQLite catalog, and the ledger's {} entries match the store's signed checkpoints",
        moved.tables.len(),
        moved.ledger_entries
    );
}

/// `niem worker …`.
pub(crate) async fn worker(cfg: Config, command: WorkerCommand) -> anyhow::Result<()> {
    match command {
        WorkerCommand::Enroll { name, recipient } => {
            let offline = Offline::open(&cfg).await?;
            niem_core::workers::enroll_as(&offline.vault, archive::ledger::ACTOR_HOST, &name, &recipient).await?;
            offline.finish().await?;
            println!("worker {name} enrolled");
            Ok(())
        }
        WorkerCommand::Transcribe { name, identity, model, threads } => {
            let mut cfg = cfg;
            cfg.transcribe.model = model.or(cfg.transcribe.model);
            cfg.transcribe.threads = threads.unwrap_or(cfg.transcribe.threads).max(1);
            let path = identity.unwrap_or_else(|| cfg.data_dir.join(format!("worker-{name}.age")));
            let (identity, new) = niem_core::workers::transcribe::load_identity(&path)?;
            if new {
                let recipient = identity.to_public();
                eprintln!("made this worker's identity in {}; enroll it (admins):", path.display());
                eprintln!("  POST /api/v1/workers {{\"name\": \"{name}\", \"recipient\": \"{recipient}\"}}");
                eprintln!("  or, service stopped: niem worker enroll {name} {recipient}");
            }
            let worker = niem_core::workers::transcribe::Worker::start(cfg, name, identity).await?;
            let stop = tokio_util::sync::CancellationToken::new();
            let on_signal = stop.clone();
            // SIGTERM (Compose, Kubernetes) or Ctrl-C: the job running goes
            // back to the queue at once, not counted, instead of lapsing.
            tokio::spawn(async move {
                crate::shutdown_signal().await;
                on_signal.cancel();
            });
            worker.run(stop).await
        }
    }
}

/// `niem transcribe`: the service's own decode and transcription path, on a
/// file, with a progress bar on standard error.
pub(crate) fn transcribe_file(
    file: &std::path::Path,
    t: &config::TranscribeConfig,
    format: &str,
) -> anyhow::Result<String> {
    anyhow::ensure!(
        media::transcribe::language_known(&t.language),
        "{:?} is not a Whisper language code (vi, en, ...)",
        t.language
    );
    let path = t.model.clone().context("no model: pass --model FILE or set transcribe.model")?;
    let open = || std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()));
    let total = media::probe(open()?).ok().and_then(|i| i.duration_ms).unwrap_or(0);
    let sha256 = archive::sha256_file(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let model = media::transcribe::Model::load(&path)?;
    let opts = t.options(t.language.clone());
    let bar = indicatif::ProgressBar::new(total.max(1));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {percent}% of {msg}, {elapsed} elapsed, {eta} left")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(format!("{} s", total / 1000));
    let watch = media::transcribe::Watch::default();
    let result = std::thread::scope(|scope| {
        let work =
            scope.spawn(|| media::transcribe::transcribe(&model, &opts, open()?, &watch).map_err(anyhow::Error::from));
        while !work.is_finished() {
            bar.set_position(watch.done_ms());
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        work.join().map_err(|_| anyhow::anyhow!("the transcription thread panicked"))?
    })?;
    bar.finish_and_clear();
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let now = archive::clock::system_now();
    let head = transcript::Transcript {
        format: transcript::FORMAT.into(),
        recording: String::new(),
        meeting: String::new(),
        org: String::new(),
        language: t.language.clone(),
        machine_generated: true,
        model: transcript::ModelRef {
            name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            sha256,
        },
        created_at: archive::clock::format_ts(now),
        streams: Vec::new(),
        segments: Vec::new(),
    };
    let part = transcript::StreamPart {
        stream: name.clone(),
        label: name,
        started_at: archive::clock::format_ts(now),
        audio_ms: result.audio_ms,
        speech_ms: result.speech_ms,
        dropped_silent: result.dropped_silent,
        note: None,
    };
    let doc = transcript::Transcript::merge(
        head,
        vec![transcript::StreamResult { part, started: now, segments: result.segments }],
    );
    Ok(match format {
        "vtt" => doc.to_vtt(None),
        "srt" => doc.to_srt(None),
        "json" => serde_json::to_string_pretty(&doc)? + "\n",
        _ => doc.to_text(),
    })
}

/// `niem token create`: the token is printed once.
pub(crate) async fn create_token(cfg: &Config, role: Role, name: &str) -> anyhow::Result<()> {
    let offline = Offline::open(cfg).await?;
    let token = host::create_token(&offline.vault, role, name).await?;
    offline.finish().await?;
    println!("{token}");
    Ok(())
}

pub(crate) async fn revoke_token(cfg: &Config, id: &str) -> anyhow::Result<()> {
    let id: schema::TokenId = id.parse()?;
    let offline = Offline::open(cfg).await?;
    host::revoke_token(&offline.vault, id).await?;
    offline.finish().await?;
    println!("token {id} revoked");
    Ok(())
}

pub(crate) async fn endpoints(cfg: &Config, command: EndpointCommand) -> anyhow::Result<()> {
    match command {
        EndpointCommand::Create { org, name } => {
            let org: schema::OrgId = org.parse()?;
            let offline = Offline::open(cfg).await?;
            let (_, key) = host::add_endpoint(&offline.vault, org, &name).await?;
            offline.finish().await?;
            println!("{key}");
        }
        EndpointCommand::Revoke { id } => {
            let id: schema::EndpointId = id.parse()?;
            let offline = Offline::open(cfg).await?;
            host::revoke_endpoint(&offline.vault, id).await?;
            offline.finish().await?;
            println!("endpoint {id} revoked");
        }
        EndpointCommand::List { org } => {
            let org: Option<schema::OrgId> = org.map(|o| o.parse()).transpose()?;
            let catalog = app::open_catalog(cfg)?;
            for e in niem_core::catalog::with(&catalog, |repo| endpoints::list(repo, org))? {
                let state = if e.revoked_at.is_some() { "revoked" } else { "active" };
                println!("{}\t{}\t{}\t{}", e.id, e.org, state, e.name);
            }
        }
    }
    Ok(())
}

/// A password from the first line of standard input, long enough, hashed.
fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    anyhow::ensure!(
        password.chars().count() >= MIN_PASSWORD_CHARS,
        "a password needs at least {MIN_PASSWORD_CHARS} characters"
    );
    Ok(niem_core::accounts::hash_password(&password)?)
}

/// Retention commands, as the host (a break-glass route: listed, never an approver).
pub(crate) async fn retention_cli(cfg: &Config, command: RetentionCommand) -> anyhow::Result<()> {
    let catalog = app::open_catalog(cfg)?;
    match command {
        RetentionCommand::Set { org, kind, keep_days, class } => {
            let org = org.map(|o| o.parse()).transpose()?;
            let expire = cfg.retention.approval_expire_days;
            let offline = Offline::open(cfg).await?;
            let p = retention::set_policy(
                &offline.vault,
                archive::ledger::ACTOR_HOST,
                NewPolicy { org, kind, keep_days, class },
                expire,
            )
            .await?;
            offline.finish().await?;
            let note = if p.needs_approval {
                format!(" ({} sealed recordings keep their expiry until an admin approves it)", p.pending_for)
            } else {
                String::new()
            };
            println!("{}{note}", p.id);
        }
        RetentionCommand::List => {
            for p in niem_core::catalog::with(&catalog, |repo| retention::list_policies(repo))? {
                let approval = match (p.needs_approval, &p.approved_by) {
                    (_, Some(_)) => "approved".to_string(),
                    (false, None) => String::new(),
                    (true, None) => format!("awaiting approval ({} recordings)", p.pending_for),
                };
                println!(
                    "{}\t{}\t{}\t{}\t{} days\t{approval}",
                    p.id,
                    p.class,
                    p.org_path.as_deref().unwrap_or("(every org)"),
                    p.kind.as_deref().unwrap_or("(any kind)"),
                    p.keep_days
                );
            }
        }
        RetentionCommand::Preview { at } => {
            let at = match at.as_deref() {
                Some(s) => niem_core::local_time::instant(s, true)?,
                None => app::clock(cfg).now(),
            };
            for e in niem_core::catalog::with(&catalog, |repo| retention::preview(repo, at))? {
                let held = e.held_by.map(|h| format!("HELD by {h}")).unwrap_or_default();
                let what = match e.class {
                    archive::retention::Class::Media => format!("recording {}", e.recording),
                    archive::retention::Class::Record => {
                        format!("record of meeting {} ({} objects)", e.meeting, e.objects.len())
                    }
                };
                println!(
                    "{what}\t{}\tpolicy {} ({} days)\texpires {}\t{held}",
                    e.org_path, e.policy, e.keep_days, e.expires_at
                );
            }
        }
        RetentionCommand::Run { dry_run } => {
            // A dry run only reads. The service shreds what this run shredded from
            // its search index at its next start.
            if dry_run {
                let now = app::clock(cfg).now();
                let report = niem_core::catalog::with(&catalog, |repo| retention::preview(repo, now))?;
                for e in &report {
                    match &e.held_by {
                        Some(h) => println!("kept {}: held by {h}", e.recording),
                        None => println!("would shred {} (policy {}, expired {})", e.recording, e.policy, e.expires_at),
                    }
                }
                let held = report.iter().filter(|e| e.held_by.is_some()).count();
                println!("{} would shred, {held} held", report.len() - held);
                return Ok(());
            }
            let offline = Offline::open(cfg).await.context("the service enforces retention every retention.run_every_hours; to run now, POST /api/v1/retention/run")?;
            let report = retention::run(&offline.vault, None, false).await?;
            let verb = if dry_run { "would shred" } else { "shredded" };
            for e in &report.shredded {
                println!("{verb} {} (policy {}, expired {})", e.recording, e.policy, e.expires_at);
            }
            for e in &report.held {
                println!("kept {}: held by {}", e.recording, e.held_by.as_deref().unwrap_or(""));
            }
            println!("{} {verb}, {} held", report.shredded.len(), report.held.len());
            offline.finish().await?;
        }
    }
    Ok(())
}

pub(crate) async fn holds_cli(cfg: &Config, command: HoldCommand) -> anyhow::Result<()> {
    let host = archive::ledger::ACTOR_HOST;
    match command {
        HoldCommand::Place { org, from, to, reason, case_ref } => {
            let h = NewHold { org: org.parse()?, from, to, reason, case_ref };
            let offline = Offline::open(cfg).await?;
            let hold = retention::place_hold(&offline.vault, host, h).await?;
            offline.finish().await?;
            println!("{}", hold.id);
        }
        HoldCommand::Release { id, reason } => {
            let offline = Offline::open(cfg).await?;
            retention::release_hold(&offline.vault, host, id.parse()?, &reason).await?;
            offline.finish().await?;
            println!("hold {id} released");
        }
        HoldCommand::List => {
            for h in niem_core::catalog::with(&app::open_catalog(cfg)?, |repo| retention::list_holds(repo))? {
                let state = h.released_at.map(|t| format!("released {t}")).unwrap_or_else(|| "ACTIVE".into());
                println!("{}\t{}\t{} .. {}\t{}\t{}\t{state}", h.id, h.org_path, h.from, h.to, h.case_ref, h.reason);
            }
        }
    }
    Ok(())
}

pub(crate) async fn users(cfg: &Config, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add { name, role, scopes, password_stdin } => {
            niem_core::principal::check_scopes(role, scopes.len()).map_err(anyhow::Error::msg)?;
            let hash = if password_stdin { Some(read_password()?) } else { None };
            let offline = Offline::open(cfg).await?;
            let id = host::add_user(&offline.vault, &name, role, scopes, hash).await?;
            offline.finish().await?;
            println!("{id}");
        }
        UserCommand::Disable { name } => {
            let offline = Offline::open(cfg).await?;
            host::change_user(&offline.vault, &name, UserChange { disabled: Some(true), ..Default::default() }, None)
                .await?;
            offline.finish().await?;
            println!("{name} disabled");
        }
        UserCommand::ResetPassword { name } => {
            let hash = read_password()?;
            let offline = Offline::open(cfg).await?;
            let change = UserChange { password: Some(String::new()), ..Default::default() };
            host::change_user(&offline.vault, &name, change, Some(hash)).await?;
            offline.finish().await?;
            println!("password of {name} reset; their sessions ended");
        }
        UserCommand::List => {
            let catalog = app::open_catalog(cfg)?;
            let users = niem_core::catalog::with(&catalog, |repo| repo.users())?;
            for u in users {
                let (id, role, name, scopes) = (u.id, u.role.as_str(), u.name, u.scopes.join(","));
                println!("{id}\t{role}\t{}\t{name}\t{scopes}", if u.disabled { "disabled" } else { "active" });
            }
        }
    }
    Ok(())
}

/// `niem keys retire`, with the service stopped: only one process may wrap keys
/// and write the ledger to the store.
async fn retire_keys(cfg: &Config) -> anyhow::Result<()> {
    let offline =
        Offline::open(cfg).await.context("the service retires KEKs itself; to retire now, POST /api/v1/keys/retire")?;
    let dir = KeyDir::new(cfg.keys_dir());
    let r = offline.vault.retire_keks(&dir, niem_core::retirement::transient_keys()).await?;
    offline.finish().await?;
    println!(
        "KEK retirement {}: {} keys re-wrapped under {}, {} old key objects deleted",
        r.generation, r.rewrapped, r.kek, r.old_objects_deleted
    );
    if r.destroyed.is_empty() {
        println!(
            "the keys are read-only here: remove these KEKs from the key store yourself: {}",
            r.retiring.join(", ")
        );
    } else {
        println!(
            "destroyed: {} (back up {} again: older key backups still hold them)",
            r.destroyed.join(", "),
            dir.dir.display()
        );
    }
    Ok(())
}

pub(crate) async fn keys(cfg: Config, command: KeysCommand) -> anyhow::Result<()> {
    let dir = KeyDir::new(cfg.keys_dir());
    match command {
        KeysCommand::Init => {
            let keys = dir.init(&cfg.keys.origin)?;
            println!("keys created in {}", cfg.keys_dir().display());
            println!("public key: {}", keys.signer.verifier());
        }
        KeysCommand::Rotate => {
            // The key directory only (it may be a copy, on another machine): the
            // service ledgers the rotation when it next starts with these keys.
            let id = dir.rotate()?;
            println!("new KEK {id} is current; restart the service to use it (it ledgers the rotation as it starts)");
        }
        KeysCommand::Retire => retire_keys(&cfg).await?,
        KeysCommand::ExportPublic { out } => {
            let keys = dir.load()?;
            let text = format!("{}\n", keys.signer.verifier());
            match out {
                Some(path) => {
                    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?
                }
                None => print!("{text}"),
            }
        }
    }
    Ok(())
}
