//! `niem`: the Niêm service and its operator commands.
//!
//! `niem serve` receives meeting recordings (uploads, resumable uploads, live RTMP
//! and HTTP push), seals them into the archive with a signed ledger, transcribes
//! and indexes them, enforces retention, and serves them back to authorised
//! readers through the API and the web UI, recording every read. The other
//! subcommands manage keys, tokens, users, endpoints, retention and holds on the
//! host, with the service stopped.
//!
//! This crate holds the adapters only: what speaks HTTP, HTML, RTMP and the
//! command line. Every rule is in `niem_core`, which the adapters call and which
//! calls none of them.
//!
//! - [`http`]: the error type and the caller extractor; [`router`]: the one router;
//! - [`api`]: `/api/v1` handlers; [`web`]: the web UI's pages;
//! - [`rtmp`]: the RTMP(S) listener; [`tls`]: HTTPS and RTMPS certificates;
//! - [`cli`]: the operator commands.

mod api;
mod cli;
mod http;
mod router;
mod rtmp;
mod tls;
mod web;

use anyhow::Context;
use clap::{Parser, Subcommand};
use cli::{EndpointCommand, HoldCommand, KeysCommand, MemberCommand, RetentionCommand, TokenCommand, UserCommand};
use niem_core::config::Config;
use niem_core::{restore, App};
use std::path::PathBuf;

/// Uploads allocate a 1 MiB piece per chunk; glibc's malloc maps and unmaps each
/// one (a page fault and a zeroing per 4 KiB), mimalloc reuses them.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "niem", version, about = "Niêm: sealed recording, archival and audit of online meetings")]
struct Cli {
    /// TOML config file (default: ./niem.toml if present). `NIEM_*` variables override it.
    #[arg(long, global = true, env = "NIEM_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Serve,
    /// Manage the KEK ring and the ledger signing key.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage endpoints (bridge points) and their live stream keys.
    Endpoint {
        #[command(subcommand)]
        command: EndpointCommand,
    },
    /// The roster: the members of each cell, over time.
    Member {
        #[command(subcommand)]
        command: MemberCommand,
    },
    /// Retention policies and their enforcement (crypto-shredding).
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Legal holds: while one covers a recording, nothing deletes it.
    Hold {
        #[command(subcommand)]
        command: HoldCommand,
    },
    /// Rebuild the catalog (recordings, ledger, users, orgs, jobs...) from the
    /// object store and the keys alone, after the data dir was lost. Verifies the
    /// store first and refuses a damaged one unless told --accept-damage.
    Restore(restore::RestoreArgs),
    /// Write one sealed recording's evidence bundle (the niem-audit format; with
    /// --with-media, the decrypted media and transcript too), ledgered as
    /// `recording.exported` by the host. Service stopped: through the running
    /// service, admins and inspectors use POST /api/v1/recordings/{rec}/bundle.
    Bundle(cli::BundleArgs),
    /// Manage people and service accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// The catalog itself: move it from SQLite into PostgreSQL.
    Catalog {
        #[command(subcommand)]
        command: cli::CatalogCommand,
    },
    /// Transcription workers outside the service.
    Worker {
        #[command(subcommand)]
        command: cli::WorkerCommand,
    },
    /// Transcribe one media file here and now, storing nothing: for operators
    /// checking a model on their own recordings.
    Transcribe {
        /// Any audio or video file FFmpeg reads.
        file: PathBuf,
        /// GGML Whisper model; default: `transcribe.model` from the config.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Whisper language code; default: `transcribe.language` (vi).
        #[arg(long)]
        language: Option<String>,
        /// Threads; default: `transcribe.threads`.
        #[arg(long)]
        threads: Option<u32>,
        #[arg(long, default_value = "text", value_parser = ["text", "vtt", "srt", "json"])]
        format: String,
    },
}

fn init_logging(cfg: &Config) {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log.level));
    // tantivy logs every index commit at info (a dozen lines per transcript
    // indexed), which drowns the service's own lines; a filter naming it wins.
    if !cfg.log.level.contains("tantivy") {
        if let Ok(quiet) = "tantivy=warn".parse() {
            filter = filter.add_directive(quiet);
        }
    }
    // The PostgreSQL driver logs every statement with its parameters at debug:
    // session secrets' hashes, sealed facts. Never, whatever the level asked.
    for quiet in ["tokio_postgres=info", "postgres=info"] {
        if let Ok(quiet) = quiet.parse() {
            filter = filter.add_directive(quiet);
        }
    }
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if cfg.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Each live stream's thread touches a little of many 2 MiB-aligned regions; backed
/// by transparent huge pages that cost 2 MiB of RAM each (measured: 16 MiB per
/// stream with them). Small pages keep memory proportional to use.
fn no_huge_pages() {
    // SAFETY: a plain prctl on this process; failure only leaves the default.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    no_huge_pages();
    let cli = Cli::parse();
    let result = async {
        let cfg = Config::load(cli.config.as_deref())?;
        init_logging(&cfg);
        match cli.command {
            Command::Serve => serve(cfg).await,
            Command::Keys { command } => cli::keys(cfg, command).await,
            Command::Endpoint { command } => cli::endpoints(&cfg, command).await,
            Command::User { command } => cli::users(&cfg, command).await,
            Command::Member { command } => cli::members(&cfg, command).await,
            Command::Restore(args) => restore::run(&cfg, args).await,
            Command::Bundle(args) => cli::bundle(&cfg, args).await,
            Command::Worker { command } => cli::worker(cfg, command).await,
            Command::Catalog { command } => cli::catalog(&cfg, command).await,
            Command::Retention { command } => cli::retention_cli(&cfg, command).await,
            Command::Hold { command } => cli::holds_cli(&cfg, command).await,
            Command::Transcribe { file, model, language, threads, format } => {
                let mut t = cfg.transcribe.clone();
                t.model = model.or(t.model);
                t.language = language.unwrap_or(t.language);
                t.threads = threads.unwrap_or(t.threads);
                let out = tokio::task::spawn_blocking(move || cli::transcribe_file(&file, &t, &format)).await??;
                print!("{out}");
                Ok(())
            }
            Command::Token { command: TokenCommand::Create { role, name } } => {
                cli::create_token(&cfg, role, name.as_deref().unwrap_or(role.as_str())).await
            }
            Command::Token { command: TokenCommand::Revoke { id } } => cli::revoke_token(&cfg, &id).await,
        }
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("niem: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(cfg: Config) -> anyhow::Result<()> {
    // A bad certificate or key stops the start here, naming the file, before
    // anything is opened.
    let tls = tls::load(&cfg.tls)?;
    let app = App::start(cfg).await?;
    bootstrap_admin(&app).await?;
    app.run_workers().await?;
    if !app.config.live.rtmp_listen.is_empty() {
        let rtmp = tokio::net::TcpListener::bind(&app.config.live.rtmp_listen)
            .await
            .with_context(|| format!("cannot listen for RTMP on {}", app.config.live.rtmp_listen))?;
        tracing::info!(listen = %app.config.live.rtmp_listen, "RTMP ingest listening");
        tokio::spawn(rtmp::serve(app.clone(), rtmp, None));
    }
    if let Some(tls) = &tls {
        let rtmps_listen = &app.config.live.rtmps_listen;
        if !rtmps_listen.is_empty() {
            let rtmps = tokio::net::TcpListener::bind(rtmps_listen)
                .await
                .with_context(|| format!("cannot listen for RTMPS on {rtmps_listen}"))?;
            tracing::info!(listen = %rtmps_listen, "RTMPS ingest listening");
            tokio::spawn(rtmp::serve(app.clone(), rtmps, Some(tls.rtmps.clone())));
        }
        // Registered now: without a handler, SIGHUP would end the process.
        let hup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).context("cannot handle SIGHUP")?;
        tokio::spawn(tls::reload_on_sighup(hup, tls.certificate.clone()));
    }
    let listener = tokio::net::TcpListener::bind(&app.config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", app.config.listen))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(listen = %app.config.listen, scheme, store = %app.vault.store.describe(), "niem is serving");
    let stopping = app.clone();
    let signal = async move {
        shutdown_signal().await;
        tracing::info!("shutting down: no new streams; finishing live streams");
        // Live pushes are requests that only end when their stream does.
        stopping.live.stop();
        stopping.transcription.stop();
    };
    let service = router::router(app.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    match tls {
        None => axum::serve(listener, service).with_graceful_shutdown(signal).await?,
        Some(tls) => {
            use axum::serve::ListenerExt;
            let listener = tls::HttpsListener::new(listener, tls.https)?.tap_io(tls::untouched);
            axum::serve(listener, service).with_graceful_shutdown(signal).await?
        }
    }
    app.live.finish(&app, std::time::Duration::from_secs(60)).await;
    tracing::info!("shutting down: signing a final checkpoint");
    app.vault.mirror.flush(true).await.context("final ledger flush failed; it resumes on next start")?;
    Ok(())
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// On the very first run, creates an admin and prints its token once, on stdout
/// (never through the log).
async fn bootstrap_admin(app: &App) -> anyhow::Result<()> {
    let users = niem_core::catalog::with(&app.vault.catalog, |repo| repo.user_count())?;
    if users > 0 {
        return Ok(());
    }
    let token = niem_core::host::create_token(&app.vault, niem_core::principal::Role::Admin, "admin").await?;
    println!("Bootstrap admin token (shown once; keep it safe):\n{token}");
    Ok(())
}
