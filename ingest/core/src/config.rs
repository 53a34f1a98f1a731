//! The service's configuration: one typed struct, read from a TOML file and then
//! overridden by `NIEM_*` environment variables (`__` separates nested keys, e.g.
//! `NIEM_STORE__S3__BUCKET`). Every field has a default, so `niem serve` runs with
//! no file at all.

use anyhow::Context;
use archive::store::S3Config;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Catalog, spool and (by default) keys and the local store live here.
    pub data_dir: PathBuf,
    /// HTTP listen address. With `[tls]` set it speaks HTTPS only.
    pub listen: String,
    /// Shifts the service's clock by this many minutes, for retention and alert
    /// drills and tests only: the ledger then carries the shifted times (which
    /// must only ever move forward). Never set it in production.
    pub clock_offset_minutes: i64,
    pub store: StoreConfig,
    pub catalog: CatalogConfig,
    pub keys: KeysConfig,
    pub ledger: LedgerConfig,
    pub upload: UploadConfig,
    pub documents: DocumentsConfig,
    pub evaluation: EvaluationConfig,
    pub live: LiveConfig,
    pub transcribe: TranscribeConfig,
    pub search: SearchConfig,
    pub web: WebConfig,
    pub tls: TlsConfig,
    pub retention: RetentionConfig,
    pub alerts: AlertsConfig,
    pub reports: ReportsConfig,
    pub verify: VerifyConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `local` (a directory) or `s3`.
    pub kind: String,
    /// For `local`: the directory; default `<data_dir>/store`.
    pub path: Option<PathBuf>,
    /// For `s3`: bucket, prefix, endpoint, region, path_style, credentials.
    pub s3: S3Config,
    /// Where the bucket has Object Lock: `compliance` (nobody can lift it before
    /// the date) or `governance` (a privileged user can). Chunks and manifests are
    /// retained until recording start + policy keep-for; key objects never are.
    pub object_lock_mode: archive::store::LockMode,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeysConfig {
    /// Key files; default beside the data dir, `niem-keys` for `niem-data`
    /// (`<data_dir>-keys` otherwise), so that a copy of the data dir holds no key.
    /// Installations whose keys are already in `<data_dir>/keys` keep using them,
    /// with a warning. `NIEM_SIGNING_KEY`, `NIEM_KEKS`, `NIEM_KEK_CURRENT` and
    /// `NIEM_LEDGER_ORIGIN` take keys from the environment instead.
    pub dir: Option<PathBuf>,
    /// The ledger's name in its checkpoints, fixed when keys are generated.
    pub origin: String,
    /// Retire every KEK but a new one this often, in days (0: only when asked):
    /// after a retirement no copy of a shredded recording's keys opens.
    pub retire_every_days: u64,
}

/// Where the catalog lives: a SQLite file in the data dir (one node, the
/// default), or a PostgreSQL database that several nodes share.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// `postgres://user@host/db`: the catalog in PostgreSQL. Unset: SQLite at
    /// `<data_dir>/catalog.db`. Move an existing catalog with `niem catalog
    /// migrate-to` first. The database must sort text in byte order
    /// (`createdb --locale=C.UTF-8 --template=template0`).
    pub url: Option<String>,
    /// PostgreSQL connections this node keeps open at most.
    pub connections: usize,
    /// This node's name to the others (the ledger mirror's lease holder).
    /// Default: the host name.
    pub node: Option<String>,
}

impl std::fmt::Debug for CatalogConfig {
    // The URL may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogConfig")
            .field("url", &self.url.as_ref().map(|_| "<set>"))
            .field("connections", &self.connections)
            .field("node", &self.node)
            .finish()
    }
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self { url: None, connections: 8, node: None }
    }
}

impl CatalogConfig {
    /// This node's name: configured, or the host name.
    pub fn node_name(&self) -> String {
        if let Some(n) = &self.node {
            return n.clone();
        }
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "niem".into())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LedgerConfig {
    /// Sign a checkpoint after this many new entries...
    pub checkpoint_every_entries: u64,
    /// ...or this many seconds, whichever comes first (and at every seal).
    pub checkpoint_every_secs: u64,
    /// New entries are gathered this long into one batch object in the store.
    pub batch_window_ms: u64,
    /// Witnesses that cosign each new checkpoint (C2SP tlog-witness), e.g. the
    /// inspection committee's `niem-audit witness serve`. Recording never waits
    /// for them.
    pub witnesses: Vec<WitnessConfig>,
    /// A witness that has not cosigned the newest checkpoint for this long is
    /// ledgered as lagging (`witness.lagging`).
    pub witness_alert_after_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// Its submission URL prefix (`http://host:port`; `/add-checkpoint` is appended).
    pub url: String,
    /// Its verifier key, from `niem-audit witness init`.
    pub key: String,
}

/// Documents attached to a meeting before it (the meeting record).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DocumentsConfig {
    /// Largest document accepted, in bytes.
    pub max_bytes: u64,
    /// How long a member's link is valid when made, in days.
    pub link_days: u32,
    /// A document counts as sent in advance when stored at least this many days
    /// before the meeting.
    pub advance_days: u32,
}

impl Default for DocumentsConfig {
    fn default() -> Self {
        Self { max_bytes: 50 << 20, link_days: 14, advance_days: 3 }
    }
}

/// The bloc's evaluation of a meeting: the checklist a supervisor scores.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluationConfig {
    /// The checklist, in the order the page shows it. The service suggests
    /// the items it can compute from facts when their key is one of
    /// `on_schedule`, `committee_first`, `documents_in_advance`,
    /// `attendance_90`, `chair_present`, `minutes_filed`.
    pub items: Vec<ChecklistItem>,
}

/// One item of the evaluation's checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecklistItem {
    /// Stable name, as the API takes it (`a-z`, `0-9`, `_`).
    pub key: String,
    /// What the page shows.
    pub label: String,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        let item = |key: &str, label: &str| ChecklistItem { key: key.into(), label: label.into() };
        Self {
            items: vec![
                item("on_schedule", "Họp đúng lịch"),
                item("committee_first", "Chi ủy họp trước khi họp chi bộ"),
                item("documents_in_advance", "Gửi tài liệu trước cuộc họp"),
                item("attendance_90", "Tỷ lệ đảng viên dự họp từ 90 % trở lên"),
                item("chair_present", "Mọi điểm cầu do bí thư hoặc phó bí thư chủ trì"),
                item("minutes_filed", "Có biên bản"),
            ],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadConfig {
    /// Plaintext bytes per chunk.
    pub chunk_size: u32,
    /// Largest upload accepted, in bytes.
    pub max_bytes: u64,
    /// Chunks in flight to the store per upload; each holds one chunk in memory,
    /// and more hide more fsync latency.
    pub parallel_puts: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveConfig {
    /// RTMP listen address; empty turns the RTMP server off.
    pub rtmp_listen: String,
    /// RTMPS listen address (RTMP inside TLS, with the `[tls]` certificate); empty
    /// (the default) turns it off. Needs `tls.cert` and `tls.key`.
    pub rtmps_listen: String,
    /// A publisher that reconnects within this many seconds continues its stream.
    /// When every stream of a recording has ended for this long, it is sealed.
    pub grace_secs: u64,
    /// Received media is cut into a piece, encrypted and spooled at least this
    /// often: the most a crash can lose of what arrived.
    pub piece_interval_ms: u64,
    /// Spooled bytes (waiting for the store) at which new streams are refused.
    /// Streams already live go on: acknowledged data is never dropped.
    pub spool_cap_bytes: u64,
    /// Live connections (RTMP and HTTP push) held at once, at most.
    pub max_connections: usize,
    /// An RTMP client must finish its handshake and start publishing in this time.
    pub handshake_timeout_secs: u64,
    /// A publisher that sends nothing for this long is disconnected.
    pub idle_timeout_secs: u64,
    /// Media messages queued per stream between the network and the remuxer. When
    /// it is full the connection is not read (TCP pushes back on the sender).
    pub queue_messages: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TranscribeConfig {
    /// A GGML Whisper model file (whisper.cpp's format). Empty: recordings are
    /// stored and their transcription jobs wait until a model is configured.
    pub model: Option<PathBuf>,
    /// Language of meetings whose meeting and org set none. Always explicit:
    /// Whisper's detection mistakes Vietnamese for other languages.
    pub language: String,
    /// Threads per job. On a busy 2-core host, 2 threads measured 2–3× slower than 1.
    pub threads: u32,
    /// Jobs run at once.
    pub concurrency: usize,
    /// A job that fails this many times is given up, with its reason shown.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled on each retry after.
    pub retry_secs: u64,
    /// Phrases Whisper is known to invent; segments containing one are flagged
    /// and left out of exports and search. Replaces the built-in list.
    pub blocklist: Vec<String>,
    /// How far above the noise floor (dB) a frame must be to count as speech.
    pub gate_db: f32,
    /// A transcription worker's claim on a job lasts this long unless renewed
    /// (it renews every third of it); a worker silent for longer loses the job,
    /// which is retried elsewhere as a failed attempt.
    pub lease_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Keep-for of the default policy (every org, every kind), in days; set as a
    /// ledgered policy at start when it differs. None: keep what no policy covers.
    pub default_keep_days: Option<u64>,
    /// How often the enforcement worker runs.
    pub run_every_hours: u64,
    /// A request that waits for a second admin (a policy that shortens what
    /// recordings keep, a change of who is an admin) expires after this many days.
    pub approval_expire_days: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self { default_keep_days: None, run_every_hours: 24, approval_expire_days: 30 }
    }
}

/// The compliance report.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportsConfig {
    /// Attendance under this percentage is flagged (the provincial target: 90).
    pub attendance_target: f64,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        Self { attendance_target: 90.0 }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// A scheduled meeting with no stream this many minutes after its start is missed.
    pub grace_minutes: u64,
    /// How often schedules are planned and missed meetings looked for.
    pub check_every_secs: u64,
    /// POST each alert here (http://), signed with `webhook_secret`.
    pub webhook_url: Option<String>,
    /// HMAC-SHA256 key for the `X-Niem-Signature` header of webhook calls.
    pub webhook_secret: Option<String>,
}

/// Never prints the webhook secret.
impl std::fmt::Debug for AlertsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertsConfig")
            .field("grace_minutes", &self.grace_minutes)
            .field("check_every_secs", &self.check_every_secs)
            .field("webhook_url", &self.webhook_url)
            .field("webhook_secret", &self.webhook_secret.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self { grace_minutes: 15, check_every_secs: 30, webhook_url: None, webhook_secret: None }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Mark the session cookie `Secure` (and send HSTS): set it when users reach
    /// the service over HTTPS through a TLS-terminating proxy. With `[tls]` set
    /// the service speaks HTTPS itself and this is implied.
    pub secure_cookies: bool,
    /// A web session ends this long after sign-in.
    pub session_hours: u64,
    /// Failed sign-ins allowed per client address and per user name in
    /// `login_window_secs`, before further attempts are refused.
    pub login_attempts: u32,
    pub login_window_secs: u64,
}

/// TLS for the HTTP listener and the RTMPS listener, from PEM files (rustls on
/// ring). Unset: plain HTTP, as behind a TLS-terminating proxy.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain, PEM, the server's own certificate first. With `key`
    /// set, `listen` speaks HTTPS only, session cookies are `Secure` and pages
    /// send HSTS. Both files are read again on SIGHUP (a renewed certificate).
    pub cert: Option<PathBuf>,
    /// The certificate's private key, PEM (PKCS#8, PKCS#1 RSA or SEC1 EC). Only
    /// its path is ever logged.
    pub key: Option<PathBuf>,
}

/// The search index, kept encrypted under `<data_dir>/index`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// Bytes of decrypted index pieces kept in memory (`/metrics`:
    /// `niem_search_cache_bytes`); more makes repeated searches cheaper.
    pub cache_bytes: usize,
    /// Threads one search spreads the index's segments over; 0: one per core
    /// (at most 8). 1 keeps every search on its request's thread.
    pub threads: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self { cache_bytes: search::DEFAULT_CACHE_BYTES, threads: 0 }
    }
}

impl Default for WebConfig {
    fn default() -> Self {
        Self { secure_cookies: false, session_hours: 12, login_attempts: 5, login_window_secs: 300 }
    }
}

/// Scheduled self-verification: the verifier `niem-audit` runs, over the whole
/// store, by the service itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifyConfig {
    /// Hours between runs (0: never). Each run verifies the whole ledger and
    /// every signature, and fetches and hashes the objects stored since the last
    /// run plus a slice of the older ones (the first run: every object).
    pub every_hours: u64,
    /// Every object is fetched and hashed at least once in this many days: each
    /// run takes the old objects whose day in the cycle came since the last run.
    pub full_cycle_days: u32,
    /// When a run is due at start (never run, or the last is older than
    /// `every_hours`), it waits this long first, so a restart settles.
    pub first_after_secs: u64,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        Self { every_hours: 24, full_cycle_days: 30, first_after_secs: 300 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `niem=debug,info`.
    pub level: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./niem-data"),
            listen: "127.0.0.1:8080".into(),
            clock_offset_minutes: 0,
            store: StoreConfig::default(),
            catalog: CatalogConfig::default(),
            keys: KeysConfig::default(),
            ledger: LedgerConfig::default(),
            upload: UploadConfig::default(),
            documents: DocumentsConfig::default(),
            evaluation: EvaluationConfig::default(),
            live: LiveConfig::default(),
            transcribe: TranscribeConfig::default(),
            search: SearchConfig::default(),
            web: WebConfig::default(),
            tls: TlsConfig::default(),
            retention: RetentionConfig::default(),
            alerts: AlertsConfig::default(),
            reports: ReportsConfig::default(),
            verify: VerifyConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            kind: "local".into(),
            path: None,
            s3: S3Config::default(),
            object_lock_mode: archive::store::LockMode::Compliance,
        }
    }
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self { dir: None, origin: "niem.local/ledger".into(), retire_every_days: 30 }
    }
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            checkpoint_every_entries: 1000,
            checkpoint_every_secs: 60,
            batch_window_ms: 1000,
            witnesses: Vec::new(),
            witness_alert_after_secs: 3600,
        }
    }
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self { chunk_size: archive::chunk::DEFAULT_CHUNK_SIZE, max_bytes: 64 << 30, parallel_puts: 8 }
    }
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            rtmp_listen: "0.0.0.0:1935".into(),
            rtmps_listen: String::new(),
            grace_secs: 120,
            piece_interval_ms: 1000,
            spool_cap_bytes: 8 << 30,
            max_connections: 512,
            handshake_timeout_secs: 10,
            idle_timeout_secs: 30,
            queue_messages: 256,
        }
    }
}

impl TranscribeConfig {
    /// How a job in `language` is transcribed, by these settings.
    pub fn options(&self, language: String) -> media::transcribe::Options {
        media::transcribe::Options {
            language,
            threads: self.threads,
            blocklist: self.blocklist.clone(),
            gate_db: self.gate_db,
        }
    }
}

impl Default for TranscribeConfig {
    fn default() -> Self {
        Self {
            model: None,
            language: "vi".into(),
            threads: 1,
            concurrency: 1,
            max_attempts: 5,
            retry_secs: 30,
            blocklist: media::transcribe::default_blocklist(),
            gate_db: 12.0,
            lease_secs: 60,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: "text".into(), level: "info".into() }
    }
}

/// Environment variables that carry secrets for the key loader, not config fields.
const KEY_VARS: &[&str] = &["signing_key", "keks", "kek_current", "ledger_origin", "token", "config"];

impl Config {
    /// Defaults, then the TOML file (if given or if `niem.toml` exists), then `NIEM_*`.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(f) => {
                anyhow::ensure!(f.exists(), "config file {} does not exist", f.display());
                fig = fig.merge(Toml::file(f));
            }
            None if Path::new("niem.toml").exists() => fig = fig.merge(Toml::file("niem.toml")),
            None => {}
        }
        fig = fig.merge(Env::prefixed("NIEM_").split("__").ignore(KEY_VARS));
        let cfg: Config = fig.extract().context("invalid configuration")?;
        cfg.check()?;
        Ok(cfg)
    }

    fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.upload.chunk_size >= 4096 && self.upload.chunk_size <= 64 << 20,
            "upload.chunk_size must be between 4 KiB and 64 MiB"
        );
        anyhow::ensure!(matches!(self.store.kind.as_str(), "local" | "s3"), "store.kind must be \"local\" or \"s3\"");
        anyhow::ensure!(matches!(self.log.format.as_str(), "text" | "json"), "log.format must be \"text\" or \"json\"");
        anyhow::ensure!(self.upload.parallel_puts >= 1, "upload.parallel_puts must be at least 1");
        anyhow::ensure!(self.live.piece_interval_ms >= 100, "live.piece_interval_ms must be at least 100");
        anyhow::ensure!(self.tls.cert.is_some() == self.tls.key.is_some(), "tls.cert and tls.key must be set together");
        anyhow::ensure!(
            self.live.rtmps_listen.is_empty() || self.tls_on(),
            "live.rtmps_listen needs tls.cert and tls.key"
        );
        anyhow::ensure!(
            self.live.max_connections >= 1 && self.live.queue_messages >= 1,
            "live.max_connections and live.queue_messages must be at least 1"
        );
        let t = &self.transcribe;
        anyhow::ensure!(
            media::transcribe::language_known(&t.language),
            "transcribe.language {:?} is not a Whisper language code (vi, en, ...)",
            t.language
        );
        anyhow::ensure!(
            t.threads >= 1 && t.concurrency >= 1 && t.max_attempts >= 1,
            "transcribe.threads, concurrency and max_attempts must be at least 1"
        );
        anyhow::ensure!(
            (0.0..=100.0).contains(&self.reports.attendance_target),
            "reports.attendance_target is a percentage: 0 to 100"
        );
        let items = &self.evaluation.items;
        anyhow::ensure!(!items.is_empty() && items.len() <= 50, "evaluation.items must hold 1 to 50 items");
        for (i, item) in items.iter().enumerate() {
            anyhow::ensure!(
                !item.key.is_empty()
                    && item.key.len() <= 40
                    && item.key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "evaluation.items: key {:?} must be 1 to 40 of a-z, 0-9 and _",
                item.key
            );
            anyhow::ensure!(
                !item.label.trim().is_empty() && item.label.chars().count() <= 200,
                "evaluation.items: the label of {:?} must be 1 to 200 characters",
                item.key
            );
            anyhow::ensure!(
                !items[..i].iter().any(|o| o.key == item.key),
                "evaluation.items: key {:?} is listed twice",
                item.key
            );
        }
        Ok(())
    }

    /// Whether `listen` speaks HTTPS (and RTMPS may be on).
    pub fn tls_on(&self) -> bool {
        self.tls.cert.is_some() && self.tls.key.is_some()
    }

    /// Whether users reach the web UI over HTTPS: served here with TLS, or
    /// through a TLS-terminating proxy (`web.secure_cookies`). Cookies are then
    /// `Secure` and pages send HSTS.
    pub fn https(&self) -> bool {
        self.web.secure_cookies || self.tls_on()
    }

    pub fn keys_dir(&self) -> PathBuf {
        if let Some(dir) = &self.keys.dir {
            return dir.clone();
        }
        // Releases before v0.3 kept them inside the data dir: keep using them there.
        let legacy = self.data_dir.join("keys");
        if legacy.join("signing.key").exists() {
            return legacy;
        }
        let name = self.data_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "niem".into());
        let keys = match name.strip_suffix("-data") {
            Some(stem) => format!("{stem}-keys"),
            None => format!("{name}-keys"),
        };
        self.data_dir.with_file_name(keys)
    }

    /// Whether the keys lie inside the data dir, beside a local store: then a copy
    /// of that one directory holds both the archive and what opens it.
    pub fn keys_beside_archive(&self) -> bool {
        let within = |p: &std::path::Path| {
            let abs = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
            abs(p).starts_with(abs(&self.data_dir))
        };
        std::env::var_os("NIEM_SIGNING_KEY").is_none() && self.store.kind == "local" && within(&self.keys_dir())
    }
    pub fn catalog_path(&self) -> PathBuf {
        self.data_dir.join("catalog.db")
    }
    pub fn spool_dir(&self) -> PathBuf {
        self.data_dir.join("spool")
    }
    pub fn store_location(&self) -> String {
        match self.store.kind.as_str() {
            "s3" => format!("s3://{}/{}", self.store.s3.bucket, self.store.s3.prefix),
            _ => self.store.path.clone().unwrap_or_else(|| self.data_dir.join("store")).display().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail closure type, not ours
    fn file_then_env_override() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("niem.toml");
        std::fs::write(&file, "listen = \"0.0.0.0:9000\"\n[store]\nkind = \"s3\"\n[store.s3]\nbucket = \"a\"\n")
            .unwrap();
        figment::Jail::expect_with(|jail| {
            jail.set_env("NIEM_STORE__S3__BUCKET", "b");
            jail.set_env("NIEM_SIGNING_KEY", "not-a-config-field");
            let cfg = Config::load(Some(&file)).unwrap();
            assert_eq!(cfg.listen, "0.0.0.0:9000");
            assert_eq!(cfg.store.s3.bucket, "b");
            assert_eq!(cfg.store_location(), "s3://b/");
            Ok(())
        });
        std::fs::write(&file, "[tls]\ncert = \"a.pem\"\n").unwrap();
        let e = Config::load(Some(&file)).unwrap_err();
        assert!(format!("{e:#}").contains("tls.cert and tls.key"), "{e:#}");
        std::fs::write(&file, "[live]\nrtmps_listen = \"127.0.0.1:1936\"\n").unwrap();
        assert!(Config::load(Some(&file)).is_err(), "RTMPS without a certificate is refused");
        std::fs::write(&file, "lisen = 1\n").unwrap();
        assert!(Config::load(Some(&file)).is_err(), "unknown keys are refused");
    }

    fn keys(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
        if let toml::Value::Table(t) = v {
            for (k, v) in t {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                if v.is_table() {
                    keys(&path, v, out);
                } else {
                    out.push(path);
                }
            }
        }
    }

    /// The example config documents every option, commented or not, and parses.
    #[test]
    fn example_config_names_every_option() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/niem.example.toml");
        let cfg = Config::load(Some(std::path::Path::new(path))).expect("example config loads");
        assert_eq!(cfg.listen, Config::default().listen);
        let text = std::fs::read_to_string(path).unwrap();
        let mut all = Vec::new();
        keys("", &toml::Value::try_from(Config::default()).unwrap(), &mut all);
        // Options without a default (None) do not serialise; list them by hand.
        all.extend(
            [
                "store.path",
                "catalog.url",
                "catalog.node",
                "keys.dir",
                "store.s3.endpoint",
                "store.s3.region",
                "store.s3.access_key_id",
                "store.s3.secret_access_key",
                "store.s3.max_attempts",
                "store.s3.request_checksum",
                "transcribe.model",
                "tls.cert",
                "tls.key",
            ]
            .map(String::from),
        );
        for key in all {
            let (table, leaf) = key.rsplit_once('.').map_or((None, key.as_str()), |(t, l)| (Some(t), l));
            let shown = text.lines().any(|l| l.trim_start_matches(['#', ' ']).starts_with(&format!("{leaf} =")));
            assert!(shown, "deploy/niem.example.toml does not document {key}");
            if let Some(t) = table {
                assert!(text.contains(&format!("[{t}]")), "deploy/niem.example.toml lacks the [{t}] table");
            }
        }
    }
}
