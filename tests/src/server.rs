//! A `niem serve` child process on its own data dir, and a small API client.

use crate::seaweed::{ACCESS_KEY, REGION, SECRET_KEY};
use crate::stores::RawStore;
use serde_json::{json, Value};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which store the server writes to.
#[derive(Debug, Clone)]
pub enum StoreKind {
    Local,
    /// A bucket on a SeaweedFS (see `SeaweedFs::store`).
    S3 {
        bucket: String,
        endpoint: String,
    },
}

impl StoreKind {
    pub fn name(&self) -> &'static str {
        match self {
            StoreKind::Local => "local",
            StoreKind::S3 { .. } => "seaweedfs",
        }
    }
}

/// Whether this run puts every server's catalog in PostgreSQL
/// (`E2E_CATALOG=postgres`): CI runs the catalog-touching suites again
/// this way. Tests that read the SQLite file itself do not run so.
pub fn catalog_in_postgres() -> bool {
    std::env::var("E2E_CATALOG").is_ok_and(|v| v == "postgres")
}

pub struct Server {
    pub tmp: tempfile::TempDir,
    pub url: String,
    /// `rtmp://127.0.0.1:<port>/live`; append `/<stream key>`.
    pub rtmp: String,
    pub token: String,
    pub store: StoreKind,
    env: Vec<(String, String)>,
    child: Option<Child>,
    /// Passwords, tokens and stream keys seen through this client, for the scan of
    /// every log of the test run (`niem-leak-scan`).
    seen: std::sync::Mutex<Vec<String>>,
}

impl Server {
    /// Starts a server with fresh keys and catalog. `env` adds `NIEM_*` settings.
    pub async fn start(store: StoreKind, env: &[(&str, &str)]) -> Server {
        let tmp = tempfile::tempdir().expect("temp dir");
        let port = crate::free_port();
        let mut all: Vec<(String, String)> = vec![
            ("NIEM_DATA_DIR".into(), tmp.path().join("niem-data").display().to_string()),
            ("NIEM_LISTEN".into(), format!("127.0.0.1:{port}")),
            ("NIEM_LEDGER__BATCH_WINDOW_MS".into(), "100".into()),
            ("NIEM_LOG__LEVEL".into(), "info".into()),
        ];
        let rtmp_port = crate::free_port();
        all.push(("NIEM_LIVE__RTMP_LISTEN".into(), format!("127.0.0.1:{rtmp_port}")));
        if let StoreKind::S3 { bucket, endpoint } = &store {
            for (k, v) in [
                ("NIEM_STORE__KIND", "s3"),
                ("NIEM_STORE__S3__BUCKET", bucket.as_str()),
                ("NIEM_STORE__S3__PREFIX", "niem"),
                ("NIEM_STORE__S3__ENDPOINT", endpoint.as_str()),
                ("NIEM_STORE__S3__PATH_STYLE", "true"),
                ("NIEM_STORE__S3__REGION", REGION),
                ("NIEM_STORE__S3__ACCESS_KEY_ID", ACCESS_KEY),
                ("NIEM_STORE__S3__SECRET_ACCESS_KEY", SECRET_KEY),
            ] {
                all.push((k.into(), v.into()));
            }
        }
        if catalog_in_postgres() && !env.iter().any(|(k, _)| *k == "NIEM_CATALOG__URL") {
            let url = tokio::task::spawn_blocking(|| crate::postgres::Postgres::shared().database())
                .await
                .expect("a PostgreSQL database for the catalog");
            all.push(("NIEM_CATALOG__URL".into(), url));
        }
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut server = Server {
            tmp,
            // With TLS on, until a test puts a `tls::Front` before it.
            url: format!(
                "{}://127.0.0.1:{port}",
                if all.iter().any(|(k, _)| k == "NIEM_TLS__CERT") { "https" } else { "http" }
            ),
            rtmp: format!("rtmp://127.0.0.1:{rtmp_port}/live"),
            token: String::new(),
            store,
            env: all,
            child: None,
            seen: std::sync::Mutex::new(Vec::new()),
        };
        server.token = server.spawn(true);
        server.wait_ready().await;
        server
    }

    /// Another node of this one's cluster: the same store, the same PostgreSQL
    /// catalog and the same keys, a data dir (spool, index) of its own, named
    /// `node`. `env` adds settings. This server must run on PostgreSQL.
    pub async fn join(&self, node: &str, env: &[(&str, &str)]) -> Server {
        assert!(
            self.env.iter().any(|(k, _)| k == "NIEM_CATALOG__URL"),
            "a cluster shares a PostgreSQL catalog: start the first node with NIEM_CATALOG__URL"
        );
        let tmp = tempfile::tempdir().expect("temp dir");
        let (port, rtmp_port) = (crate::free_port(), crate::free_port());
        let mut all: Vec<(String, String)> = self
            .env
            .iter()
            .filter(|(k, _)| {
                !["NIEM_DATA_DIR", "NIEM_LISTEN", "NIEM_LIVE__RTMP_LISTEN", "NIEM_CATALOG__NODE"].contains(&k.as_str())
            })
            .cloned()
            .collect();
        all.push(("NIEM_DATA_DIR".into(), tmp.path().join("niem-data").display().to_string()));
        all.push(("NIEM_LISTEN".into(), format!("127.0.0.1:{port}")));
        all.push(("NIEM_LIVE__RTMP_LISTEN".into(), format!("127.0.0.1:{rtmp_port}")));
        all.push(("NIEM_CATALOG__NODE".into(), node.into()));
        if !all.iter().any(|(k, _)| k == "NIEM_KEYS__DIR") {
            all.push(("NIEM_KEYS__DIR".into(), self.keys_dir().display().to_string()));
        }
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut server = Server {
            tmp,
            url: format!("http://127.0.0.1:{port}"),
            rtmp: format!("rtmp://127.0.0.1:{rtmp_port}/live"),
            token: self.token.clone(),
            store: self.store.clone(),
            env: all,
            child: None,
            seen: std::sync::Mutex::new(Vec::new()),
        };
        server.spawn(false);
        server.wait_ready().await;
        server
    }

    /// With the catalog in PostgreSQL, the database is lost too: the server
    /// is pointed at a new, empty one (the data dir's loss takes the SQLite
    /// catalog with it).
    pub async fn lose_catalog(&mut self) {
        if self.env.iter().any(|(k, _)| k == "NIEM_CATALOG__URL") {
            let url = tokio::task::spawn_blocking(|| crate::postgres::Postgres::shared().database())
                .await
                .expect("a new PostgreSQL database");
            self.set_env("NIEM_CATALOG__URL", &url);
        }
    }

    /// The service's catalog, opened beside it (a test playing another
    /// process, a worker): the SQLite file, or the PostgreSQL database.
    pub fn catalog(&self) -> archive::catalog::Catalog {
        match self.env.iter().find(|(k, _)| k == "NIEM_CATALOG__URL") {
            Some((_, url)) => archive::catalog::Catalog::connect_postgres(url, 2).expect("the PostgreSQL catalog"),
            None => archive::catalog::Catalog::open_migrated(&self.data_dir().join("catalog.db")).expect("the catalog"),
        }
    }

    /// With the catalog in PostgreSQL, the whole database as `pg_dump` writes
    /// it: what a plaintext search must cover besides the data dir.
    pub fn catalog_dump(&self) -> Option<Vec<u8>> {
        let (_, url) = self.env.iter().find(|(k, _)| k == "NIEM_CATALOG__URL")?;
        Some(crate::postgres::dump(url))
    }

    /// Sets an environment variable for the next start of the child.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    pub fn data_dir(&self) -> PathBuf {
        self.tmp.path().join("niem-data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.tmp.path().join("niem.log")
    }

    /// The child's process id while it runs: for `/proc/<pid>` figures.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn public_key(&self) -> PathBuf {
        self.keys_dir().join("ledger.vkey")
    }

    /// Where the service keeps its keys by default: beside the data dir, not in it
    /// (or inside it, for a data dir an earlier release made).
    pub fn keys_dir(&self) -> PathBuf {
        let legacy = self.data_dir().join("keys");
        if legacy.join("signing.key").exists() {
            return legacy;
        }
        self.tmp.path().join("niem-keys")
    }

    /// Runs `niem serve`; on first start, returns the bootstrap admin token it prints.
    fn spawn(&mut self, first: bool) -> String {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).expect("log file");
        let mut child = Command::new(crate::bin("niem"))
            .arg("serve")
            .envs(self.env.iter().cloned())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start niem");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("niem_") {
                    let _ = tx.send(line);
                }
            }
        });
        self.child = Some(child);
        if first {
            rx.recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no bootstrap token; log:\n{}", self.log()))
        } else {
            String::new()
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(addr) = self.url.strip_prefix("https://") {
                // The API client speaks no TLS; the listener is bound only once the
                // service is ready.
                if tokio::net::TcpStream::connect(addr).await.is_ok() {
                    return;
                }
            } else if let Ok(r) = reqwest::get(format!("{}/healthz", self.url)).await {
                if r.status().is_success() {
                    return;
                }
            }
            if let Some(status) = self.child_status() {
                panic!("niem exited with {status}; log:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "niem did not become ready; log:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn child_status(&self) -> Option<std::process::ExitStatus> {
        // try_wait needs &mut; a clone of the pid is enough to ask the kernel.
        let pid = self.child.as_ref()?.id() as i32;
        let mut status = 0;
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        (r == pid).then(|| std::os::unix::process::ExitStatusExt::from_raw(status))
    }

    /// `kill -9`: no shutdown path runs.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait: the service signs a final checkpoint.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let _ = c.wait();
        }
    }

    pub async fn restart(&mut self) {
        self.stop();
        self.spawn(false);
        self.wait_ready().await;
    }

    /// Starts again after a kill.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "server is still running");
        self.spawn(false);
        self.wait_ready().await;
    }

    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::new()
    }

    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http().request(method, format!("{}{path}", self.url)).bearer_auth(&self.token)
    }

    /// Calls the JSON API; returns the status and the body as JSON (Null if none).
    pub async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.req(method, path);
        if let Some(b) = &body {
            self.remember(b.get("password").and_then(Value::as_str));
            r = r.json(b);
        }
        let resp = r.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let v = serde_json::from_str(&text).unwrap_or(Value::Null);
        for field in ["token", "stream_key"] {
            self.remember(v.get(field).and_then(Value::as_str));
        }
        (status, v)
    }

    /// A bloc → base → cell tree and a meeting in the cell; returns the meeting id.
    pub async fn meeting(&self) -> String {
        let org =
            |name: &str, kind: &str, parent: Option<&str>| json!({ "name": name, "kind": kind, "parent": parent });
        let (s, bloc) = self.api(reqwest::Method::POST, "/api/v1/orgs", Some(org("Đảng ủy Khối", "bloc", None))).await;
        assert_eq!(s, 201, "{bloc}");
        let (_, base) = self
            .api(reqwest::Method::POST, "/api/v1/orgs", Some(org("Đảng ủy cơ sở", "base", bloc["id"].as_str())))
            .await;
        let (_, cell) =
            self.api(reqwest::Method::POST, "/api/v1/orgs", Some(org("Chi bộ 1", "cell", base["id"].as_str()))).await;
        let m = json!({ "org": cell["id"], "kind": "regular", "title": "Sinh hoạt chi bộ", "scheduled_at": "2026-11-22T08:00:00+07:00" });
        let (s, meeting) = self.api(reqwest::Method::POST, "/api/v1/meetings", Some(m)).await;
        assert_eq!(s, 201, "{meeting}");
        meeting["id"].as_str().expect("meeting id").to_string()
    }

    /// Uploads `bytes` to a meeting in one request; returns the response JSON.
    pub async fn upload(&self, meeting: &str, bytes: Vec<u8>) -> (u16, Value) {
        let resp = self
            .req(reqwest::Method::POST, &format!("/api/v1/meetings/{meeting}/uploads"))
            .header("content-type", "audio/wav")
            .body(bytes)
            .send()
            .await
            .expect("upload");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn seal(&self, rec: &str) {
        let (s, v) = self.api(reqwest::Method::POST, &format!("/api/v1/recordings/{rec}/seal"), None).await;
        assert_eq!(s, 200, "seal: {v}");
    }

    /// Signs in through the web form; returns the status (303 on success) and the
    /// session cookie (`niem_session=…`) when one was set.
    pub async fn sign_in(&self, name: &str, password: &str) -> (u16, Option<String>) {
        self.remember(Some(password));
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let form = client.get(format!("{}/login", self.url)).send().await.expect("login form");
        let cookie =
            form.headers()["set-cookie"].to_str().expect("cookie").split(';').next().unwrap_or_default().to_string();
        let csrf = cookie.split_once('=').map(|(_, v)| v.to_string()).unwrap_or_default();
        let resp = client
            .post(format!("{}/login", self.url))
            .header("cookie", &cookie)
            .form(&[("name", name), ("password", password), ("csrf", &csrf), ("next", "/search")])
            .send()
            .await
            .expect("sign in");
        let session = resp
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .filter(|c| c.starts_with("niem_session="))
            .map(String::from);
        (resp.status().as_u16(), session)
    }

    /// Downloads a stream (optionally a byte range).
    pub async fn play(&self, rec: &str, stream: &str, range: Option<&str>) -> (u16, Vec<u8>) {
        let mut r = self.req(reqwest::Method::GET, &format!("/api/v1/recordings/{rec}/streams/{stream}/media"));
        if let Some(range) = range {
            r = r.header("range", range);
        }
        let resp = r.send().await.expect("play");
        let status = resp.status().as_u16();
        (status, resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default())
    }

    /// The store's location as `niem-audit` takes it, and the environment it needs.
    pub fn audit_args(&self) -> (Vec<String>, Vec<(String, String)>) {
        match &self.store {
            StoreKind::Local => (vec!["--store".into(), self.data_dir().join("store").display().to_string()], vec![]),
            StoreKind::S3 { bucket, endpoint } => (
                vec![
                    "--store".into(),
                    format!("s3://{bucket}/niem"),
                    "--s3-endpoint".into(),
                    endpoint.clone(),
                    "--s3-path-style".into(),
                ],
                vec![
                    ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
                    ("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into()),
                    ("AWS_REGION".into(), REGION.into()),
                ],
            ),
        }
    }

    /// Runs `niem-audit <command> <store args> --public-key … <extra>`; returns the
    /// exit code and stdout (stderr appended).
    pub fn audit(&self, command: &[&str], extra: &[&str]) -> (i32, String) {
        let (store_args, env) = self.audit_args();
        let out = Command::new(crate::bin("niem-audit"))
            .args(command)
            .args(&store_args)
            .arg("--public-key")
            .arg(self.public_key())
            .args(extra)
            .envs(env)
            .output()
            .expect("run niem-audit");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    }

    /// Runs a `niem` command (not `serve`) with this server's settings; returns
    /// its exit code and output.
    pub fn niem(&self, args: &[&str]) -> (i32, String) {
        let out =
            Command::new(crate::bin("niem")).args(args).envs(self.env.iter().cloned()).output().expect("run niem");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    }

    /// Starts a long-running `niem` command (a transcription worker) with this
    /// server's settings and `env` on top, its output appended to `log`. The
    /// caller kills it (a dropped `Child` keeps running).
    pub fn niem_child(&self, args: &[&str], env: &[(&str, &str)], log: &std::path::Path) -> Child {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
        let err = out.try_clone().expect("log file");
        Command::new(crate::bin("niem"))
            .args(args)
            .envs(self.env.iter().cloned())
            .envs(env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("start niem")
    }

    /// Runs a `niem` command that changes something: such commands are offline
    /// only, so a running service is stopped first (SIGTERM: it signs a final
    /// checkpoint) and started again after.
    pub async fn host(&mut self, args: &[&str]) -> (i32, String) {
        let running = self.child.is_some();
        self.stop();
        let out = self.niem(args);
        if running {
            self.start_again().await;
        }
        out
    }

    /// `method path` as the holder of `token` (JSON body if any): the status and
    /// the JSON answer (null if none).
    pub async fn call_as(&self, token: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http().request(method, format!("{}{path}", self.url)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("send");
        let code = resp.status().as_u16();
        (code, serde_json::from_str(&resp.text().await.unwrap_or_default()).unwrap_or(Value::Null))
    }

    /// POSTs `body` as the admin; returns the new object's id.
    pub async fn create(&self, path: &str, body: Value) -> String {
        let (code, v) = self.api(reqwest::Method::POST, path, Some(body)).await;
        assert_eq!(code, 201, "{path}: {v}");
        v["id"].as_str().unwrap_or_else(|| panic!("{path}: no id in {v}")).to_string()
    }

    /// A user of `role` bound to `scopes`, with `password` and a token made by
    /// the admin; returns (id, token). Not for admins: no admin mints another
    /// admin's token (the host does, `niem token create`).
    pub async fn user(&self, name: &str, role: &str, scopes: &[&str], password: &str) -> (String, String) {
        assert_ne!(role, "admin", "an admin's token comes from the host");
        let body = json!({ "name": name, "role": role, "scopes": scopes, "password": password });
        let id = self.create("/api/v1/users", body).await;
        let (code, t) = self.api(reqwest::Method::POST, &format!("/api/v1/users/{id}/tokens"), None).await;
        assert_eq!(code, 201, "{t}");
        (id, t["token"].as_str().unwrap().to_string())
    }

    /// The disaster drill: the data dir is lost, `niem restore` rebuilds it from
    /// the store and a copy of the keys alone, and the service starts on it.
    /// Only for a server on S3 (a local store lives in the lost data dir).
    pub async fn restore_from_store_and_keys(&mut self) {
        let keys = self.tmp.path().join("keys-backup");
        crate::copy_dir(&self.keys_dir(), &keys);
        self.stop();
        std::fs::remove_dir_all(self.data_dir()).unwrap();
        self.lose_catalog().await;
        let vkey = self.public_key();
        std::fs::create_dir_all(vkey.parent().unwrap()).unwrap();
        std::fs::copy(keys.join("ledger.vkey"), &vkey).unwrap();
        let StoreKind::S3 { bucket, .. } = &self.store else {
            panic!("the restore drill needs a server on S3");
        };
        let (keys_arg, store_arg) = (keys.display().to_string(), format!("s3://{bucket}/niem"));
        let (code, out) = self.niem(&["restore", "--store", &store_arg, "--keys", &keys_arg]);
        assert_eq!(code, 0, "{out}");
        self.set_env("NIEM_KEYS__DIR", &keys_arg);
        self.start_again().await;
    }

    /// Fills this server's data dir and store with synthetic meetings through
    /// `niem-seed` (its doc comment says what `args` take), the service stopped
    /// meanwhile; returns the seeder's report (meetings, markers, a token).
    pub async fn seed(&mut self, args: &[&str]) -> Value {
        let running = self.child.is_some();
        self.stop();
        let out = Command::new(crate::bin("niem-seed"))
            .args(args)
            .envs(self.env.iter().cloned())
            .env("NIEM_LOG__LEVEL", "warn")
            .output()
            .expect("run niem-seed");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "niem-seed {args:?} failed: {err}");
        if running {
            self.start_again().await;
        }
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("niem-seed printed no report ({e}): {err}"))
    }

    /// `/metrics` as name{labels} → value, from the OpenMetrics text; panics on
    /// a malformed line.
    pub async fn metrics(&self) -> std::collections::BTreeMap<String, f64> {
        let resp = reqwest::get(format!("{}/metrics", self.url)).await.expect("scrape");
        assert_eq!(resp.status(), 200);
        let kind = resp.headers()["content-type"].to_str().expect("content type").to_string();
        assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
        let text = resp.text().await.expect("metrics text");
        assert!(text.trim_end().ends_with("# EOF"), "{text}");
        let mut out = std::collections::BTreeMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let (name, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("malformed: {line}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number: {line}"));
            let bare = name.split('{').next().unwrap_or_default();
            let plain = bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            assert!(plain && bare.starts_with("niem_"), "bad name: {line}");
            out.insert(name.to_string(), value);
        }
        out
    }

    /// How many object store requests of `op` (`get`, `list`, `put`, …) the
    /// service has made, from its metered store.
    pub async fn store_ops(&self, op: &str) -> u64 {
        let key = format!("niem_store_request_seconds_count{{op=\"{op}\"");
        self.metrics().await.iter().filter(|(k, _)| k.starts_with(&key)).map(|(_, v)| *v as u64).sum()
    }

    /// Raw access to this server's store, bypassing the service.
    pub async fn raw_store(&self) -> RawStore {
        match &self.store {
            StoreKind::Local => RawStore::Local(self.data_dir().join("store")),
            StoreKind::S3 { bucket, endpoint } => {
                RawStore::S3 { client: crate::seaweed::client(endpoint), bucket: bucket.clone(), prefix: "niem".into() }
            }
        }
    }
}

impl Server {
    fn remember(&self, secret: Option<&str>) {
        if let Some(s) = secret {
            self.seen.lock().unwrap_or_else(|e| e.into_inner()).push(s.to_string());
        }
    }

    /// Keeps this server's log and the secrets it was given, for `niem-leak-scan`
    /// to search every log of the test run: the token, passwords and stream keys
    /// seen, secret settings, and the key files' contents.
    fn keep_log_and_secrets(&self) {
        let artifacts = crate::root().join("target/test-artifacts");
        let name = format!("{}-{}", std::process::id(), self.url.rsplit(':').next().unwrap_or("0"));
        let (logs, secrets) = (artifacts.join("run-logs"), artifacts.join("run-secrets"));
        if std::fs::create_dir_all(&logs).is_err() || std::fs::create_dir_all(&secrets).is_err() {
            return;
        }
        let _ = std::fs::copy(self.log_path(), logs.join(format!("{name}.log")));
        let mut all: Vec<String> = self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        all.push(self.token.clone());
        let secret_setting = |k: &str| ["SECRET", "TOKEN", "PASSWORD"].iter().any(|w| k.contains(w));
        all.extend(self.env.iter().filter(|(k, _)| secret_setting(k)).map(|(_, v)| v.clone()));
        let keys = self.keys_dir();
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(keys.join("kek")).into_iter().flatten().flatten().map(|e| e.path()).collect();
        files.push(keys.join("signing.key"));
        for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "key")) {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            all.extend(text.lines().filter(|l| l.len() >= 40 && !l.contains(' ')).map(String::from));
        }
        all.retain(|s| s.len() >= 8);
        let _ = std::fs::write(secrets.join(format!("{name}.txt")), all.join("\n"));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        self.keep_log_and_secrets();
    }
}

/// A minimal tus 1.0 client, enough to drive resumable uploads in tests.
impl Server {
    /// Creates an upload of `length` bytes for `meeting`; returns its path.
    pub async fn tus_create(&self, meeting: &str, length: u64) -> String {
        use base64::Engine;
        let meta = format!(
            "meeting {},filetype {}",
            base64::engine::general_purpose::STANDARD.encode(meeting),
            base64::engine::general_purpose::STANDARD.encode("audio/wav")
        );
        let resp = self
            .req(reqwest::Method::POST, "/api/v1/uploads")
            .header("tus-resumable", "1.0.0")
            .header("upload-length", length.to_string())
            .header("upload-metadata", meta)
            .send()
            .await
            .expect("tus create");
        assert_eq!(resp.status().as_u16(), 201, "{}", resp.text().await.unwrap_or_default());
        resp.headers()["location"].to_str().unwrap().to_string()
    }

    /// HEAD: the status and `Upload-Offset`.
    pub async fn tus_offset(&self, location: &str) -> (u16, Option<u64>) {
        let resp =
            self.req(reqwest::Method::HEAD, location).header("tus-resumable", "1.0.0").send().await.expect("tus head");
        let offset = resp.headers().get("upload-offset").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        (resp.status().as_u16(), offset)
    }

    /// PATCH `bytes` at `offset`; returns the response.
    pub async fn tus_patch(&self, location: &str, offset: u64, bytes: Vec<u8>) -> reqwest::Response {
        self.req(reqwest::Method::PATCH, location)
            .header("tus-resumable", "1.0.0")
            .header("upload-offset", offset.to_string())
            .header("content-type", "application/offset+octet-stream")
            .body(bytes)
            .send()
            .await
            .expect("tus patch")
    }
}
