//! `niem`: the Niêm service and its operator commands.
//!
//! `niem serve` receives meeting recordings (uploads, resumable uploads, live RTMP
//! and HTTP push), seals them into the archive with a signed ledger, transcribes
//! and indexes them, enforces retention, and serves them back to authorised
//! readers through the API and the web UI, recording every read. The other
//! subcommands (`cli.rs`) manage keys, tokens, users, endpoints, retention and
//! holds on the host. This binary is the only place that knows HTTP; the
//! trust core is the `archive` crate, media handling is `media`, search `search`.

mod admins;
mod alerts;
mod api;
mod app;
mod auth;
mod cli;
mod config;
mod endpoint;
mod error;
mod index;
mod jobs;
mod metrics;
mod restore;
mod retention;
mod retirement;
mod live;
mod schema;
mod tls;
mod transcript;
mod transcription;
mod upload;
mod verification;
mod web;

use anyhow::Context;
use app::App;
use clap::{Parser, Subcommand};
use cli::{EndpointCommand, HoldCommand, KeysCommand, RetentionCommand, TokenCommand, UserCommand};
use config::Config;
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
    /// Manage people and service accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
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
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log.level));
    // tantivy logs every index commit at info (a dozen lines per transcript
    // indexed), which drowns the service's own lines; a filter naming it wins.
    if !cfg.log.level.contains("tantivy") {
        if let Ok(quiet) = "tantivy=warn".parse() {
            filter = filter.add_directive(quiet);
        }
    }
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal());
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
            Command::Endpoint { command } => cli::endpoints(&cfg, command),
            Command::User { command } => cli::users(&cfg, command),
            Command::Restore(args) => restore::run(&cfg, args).await,
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
                let keys = app::load_keys(&cfg)?;
                let token = cli::create_token(&cfg, &keys, role, name.as_deref().unwrap_or(role.as_str()))?;
                println!("{token}");
                Ok(())
            }
            Command::Token { command: TokenCommand::Revoke { id } } => cli::revoke_token(&cfg, &id),
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
    bootstrap_admin(&app)?;
    let mirror = app.vault.mirror.clone();
    // Sign whatever the last run left unsigned (a crash between a seal and its
    // checkpoint) before taking new work; a store that stumbles gets a few tries.
    let mut wait = std::time::Duration::from_millis(250);
    while let Err(e) = mirror.flush(true).await {
        if wait > std::time::Duration::from_secs(8) {
            return Err(e).context("cannot bring the ledger in the store up to date");
        }
        tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "the ledger does not reach the store yet; retrying");
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
    tokio::spawn(mirror.clone().run());
    let sweeper = app.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            api::evict_idle_uploads(&sweeper, std::time::Duration::from_secs(600)).await;
        }
    });
    tokio::spawn(live::run_drainer(app.clone()));
    tokio::spawn(transcription::run(app.clone()));
    tokio::spawn(index::run(app.clone()));
    retention::ensure_default(&app.vault, app.config.retention.default_keep_days, app.config.retention.approval_expire_days).await.map_err(|e| anyhow::anyhow!(e.message))?;
    tokio::spawn(retention::run_worker(app.clone()));
    tokio::spawn(alerts::run(app.clone()));
    tokio::spawn(verification::run(app.clone()));
    tokio::spawn(retirement::run(app.clone()));
    if app.worm {
        tokio::spawn(retention::lock_worker(app.clone()));
    }
    if !app.config.live.rtmp_listen.is_empty() {
        let rtmp = tokio::net::TcpListener::bind(&app.config.live.rtmp_listen).await.with_context(|| format!("cannot listen for RTMP on {}", app.config.live.rtmp_listen))?;
        tracing::info!(listen = %app.config.live.rtmp_listen, "RTMP ingest listening");
        tokio::spawn(live::rtmp::serve(app.clone(), rtmp, None));
    }
    if let Some(tls) = &tls {
        let rtmps_listen = &app.config.live.rtmps_listen;
        if !rtmps_listen.is_empty() {
            let rtmps = tokio::net::TcpListener::bind(rtmps_listen).await.with_context(|| format!("cannot listen for RTMPS on {rtmps_listen}"))?;
            tracing::info!(listen = %rtmps_listen, "RTMPS ingest listening");
            tokio::spawn(live::rtmp::serve(app.clone(), rtmps, Some(tls.rtmps.clone())));
        }
        // Registered now: without a handler, SIGHUP would end the process.
        let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).context("cannot handle SIGHUP")?;
        tokio::spawn(tls::reload_on_sighup(hup, tls.certificate.clone()));
    }
    let listener = tokio::net::TcpListener::bind(&app.config.listen).await.with_context(|| format!("cannot listen on {}", app.config.listen))?;
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
    let service = api::router(app.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
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
    mirror.flush(true).await.context("final ledger flush failed; it resumes on next start")?;
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
fn bootstrap_admin(app: &App) -> anyhow::Result<()> {
    let users: u64 = app.vault.catalog.with(|c| c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0)))?;
    if users > 0 {
        return Ok(());
    }
    let token = cli::create_token(&app.config, &app.vault.keys, auth::Role::Admin, "admin")?;
    println!("Bootstrap admin token (shown once; keep it safe):\n{token}");
    Ok(())
}
