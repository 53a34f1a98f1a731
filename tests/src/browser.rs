//! A minimal W3C WebDriver client for driving headless Chromium in end-to-end tests:
//! a `chromedriver` child process, one session, and the dozen commands the tests use.
//!
//! Why not a WebDriver crate: this one is JSON over plain HTTP to 127.0.0.1, and
//! `reqwest` and `serde_json` are already here, so it costs no extra dependency.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The W3C key under which an element reference travels.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A `chromedriver` child process with one open headless Chromium session.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>`.
    driver: String,
    /// `<driver>/session/<id>`.
    session: String,
    child: Child,
    /// Chromium's profile (`--user-data-dir`), its downloads and chromedriver's log.
    tmp: tempfile::TempDir,
}

/// An element of the current page: its W3C element id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element(pub String);

/// A WebDriver error: the `error` code and its `message`.
#[derive(Debug)]
struct WdError {
    error: String,
    message: String,
}

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

/// Sends one WebDriver command and returns its `value`, or the error it reported.
async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value, WdError> {
    let mut req = http.request(method, url);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.map_err(|e| WdError { error: "http".into(), message: format!("{url}: {e}") })?;
    let ok = resp.status().is_success();
    let text = resp.text().await.map_err(|e| WdError { error: "http".into(), message: format!("{url}: {e}") })?;
    let body: Value = serde_json::from_str(&text)
        .map_err(|e| WdError { error: "json".into(), message: format!("{url}: {e}: {text}") })?;
    let value = body.get("value").cloned().unwrap_or(Value::Null);
    match value.get("error").and_then(Value::as_str) {
        Some(error) => {
            Err(WdError { error: error.into(), message: value["message"].as_str().unwrap_or_default().into() })
        }
        None if !ok => Err(WdError { error: "http".into(), message: format!("{url}: {text}") }),
        None => Ok(value),
    }
}

/// The first element reference in a WebDriver `value`, if it is one.
fn element_of(value: &Value) -> Element {
    let id = value.get(ELEMENT_KEY).and_then(Value::as_str);
    Element(id.unwrap_or_else(|| panic!("not an element reference: {value}")).to_string())
}

/// The program named by `$var`, or `default`.
fn program(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(default))
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session with
    /// a `width`×`height` window. Binaries: `$CHROMIUM` or `/usr/bin/chromium`,
    /// `$CHROMEDRIVER` or `/usr/bin/chromedriver`.
    pub async fn start(width: u32, height: u32) -> Browser {
        Self::open(width, height, false).await
    }

    /// Like [`Browser::start`], with a phone's `width`×`height` viewport
    /// (Chromium's mobile emulation: a desktop window is never narrower than
    /// 500 px, a phone is 360 to 412).
    pub async fn start_phone(width: u32, height: u32) -> Browser {
        Self::open(width, height, true).await
    }

    async fn open(width: u32, height: u32, phone: bool) -> Browser {
        let tmp = tempfile::tempdir().expect("temp dir for the browser");
        std::fs::create_dir_all(tmp.path().join("downloads")).expect("the download folder");
        let port = crate::free_port();
        let child = Self::spawn_driver(port, &tmp.path().join("chromedriver.log"));
        let http =
            reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(120)).build().expect("http client");
        let driver = format!("http://127.0.0.1:{port}");
        let mut browser = Browser { http, driver, session: String::new(), child, tmp };
        browser.wait_ready().await;
        browser.session = browser.new_session(width, height, phone).await;
        browser
    }

    /// Spawns `chromedriver --port=<port>`, its output going to `log`.
    fn spawn_driver(port: u16, log: &Path) -> Child {
        let driver = program("CHROMEDRIVER", "/usr/bin/chromedriver");
        let out = std::fs::File::create(log).expect("chromedriver log file");
        let err = out.try_clone().expect("chromedriver log file");
        Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver.display()))
    }

    /// chromedriver's output so far, for failure messages.
    fn driver_log(&self) -> String {
        std::fs::read_to_string(self.tmp.path().join("chromedriver.log")).unwrap_or_default()
    }

    /// Waits (up to 20 s) until chromedriver's `GET /status` says it is ready.
    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let url = format!("{}/status", self.driver);
        loop {
            let ready = send(&self.http, reqwest::Method::GET, &url, None).await;
            if ready.as_ref().is_ok_and(|v| v["ready"] == json!(true)) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("chromedriver exited ({status}):\n{}", self.driver_log());
            }
            assert!(Instant::now() < deadline, "chromedriver not ready after 20 s ({ready:?}):\n{}", self.driver_log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Opens the session (`POST /session`) and returns its URL.
    async fn new_session(&self, width: u32, height: u32, phone: bool) -> String {
        let profile = self.tmp.path().join("profile");
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-background-networking".into(),
            "--disable-dev-shm-usage".into(),
            "--autoplay-policy=no-user-gesture-required".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
        ];
        let binary = program("CHROMIUM", "/usr/bin/chromium").display().to_string();
        // Downloads land in `downloads()` without a prompt, so that a test can
        // click a download link and read the file it saved.
        let prefs = json!({
            "download.default_directory": self.downloads().display().to_string(),
            "download.prompt_for_download": false,
        });
        let mut options = json!({"binary": binary, "args": args, "prefs": prefs});
        if phone {
            options["mobileEmulation"] =
                json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0, "touch": true}});
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}});
        let url = format!("{}/session", self.driver);
        let value = send(&self.http, reqwest::Method::POST, &url, Some(caps))
            .await
            .unwrap_or_else(|e| panic!("WebDriver new session failed: {e}\n{}", self.driver_log()));
        let id = value["sessionId"].as_str().unwrap_or_else(|| panic!("no sessionId in {value}"));
        format!("{}/session/{id}", self.driver)
    }

    /// Where Chromium saves downloads (created at start).
    pub fn downloads(&self) -> PathBuf {
        self.tmp.path().join("downloads")
    }

    /// Waits (up to `timeout`) for a download named `name` to be complete in
    /// [`Browser::downloads`], and returns its bytes. Chromium writes a
    /// `.crdownload` file and renames it when done, so the name means complete.
    pub async fn downloaded(&self, name: &str, timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        let path = self.downloads().join(name);
        // Chromium reserves the name with an empty file at the start and
        // renames the `.crdownload` over it at the end: done once none is left.
        let in_progress = || {
            std::fs::read_dir(self.downloads())
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"))
        };
        loop {
            if let Ok(bytes) = std::fs::read(&path) {
                if !in_progress() && !bytes.is_empty() {
                    return bytes;
                }
            }
            if Instant::now() >= deadline {
                let there: Vec<_> = std::fs::read_dir(self.downloads())
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.file_name())
                    .collect();
                panic!("no download {name} after {timeout:?}; the download folder holds {there:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends a command to `<session>/<path>`; `Err` carries the WebDriver error.
    async fn try_cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, WdError> {
        send(&self.http, method, &format!("{}/{path}", self.session), body).await
    }

    /// Sends a command to `<session>/<path>`, panicking on a WebDriver error.
    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let what = format!("{method} {path}");
        self.try_cmd(method, path, body).await.unwrap_or_else(|e| panic!("WebDriver {what} failed: {e}"))
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "url", Some(json!({"url": url}))).await;
    }

    /// The current page's URL.
    pub async fn url(&self) -> String {
        let v = self.cmd(reqwest::Method::GET, "url", None).await;
        v.as_str().unwrap_or_else(|| panic!("url is not a string: {v}")).to_string()
    }

    /// The first element matching the CSS selector, or `None` when there is none.
    pub async fn find(&self, css: &str) -> Option<Element> {
        let by = json!({"using": "css selector", "value": css});
        match self.try_cmd(reqwest::Method::POST, "element", Some(by)).await {
            Ok(v) => Some(element_of(&v)),
            Err(e) if e.error == "no such element" => None,
            Err(e) => panic!("WebDriver find {css:?} failed: {e}"),
        }
    }

    /// All elements matching the CSS selector, in document order.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let by = json!({"using": "css selector", "value": css});
        let v = self.cmd(reqwest::Method::POST, "elements", Some(by)).await;
        v.as_array().unwrap_or_else(|| panic!("elements is not a list: {v}")).iter().map(element_of).collect()
    }

    /// Polls every 100 ms until an element matches the CSS selector; panics with an
    /// excerpt of the page source after `timeout`.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(el) = self.find(css).await {
                return el;
            }
            if Instant::now() >= deadline {
                let source: String = self.source().await.chars().take(4000).collect();
                panic!("no element matches {css:?} after {timeout:?} at {}; page source:\n{source}", self.url().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element (scrolling it into view first).
    pub async fn click(&self, el: &Element) {
        self.cmd(reqwest::Method::POST, &format!("element/{}/click", el.0), Some(json!({}))).await;
    }

    /// Types `text` into the element (any Unicode, e.g. Vietnamese).
    pub async fn type_text(&self, el: &Element, text: &str) {
        self.cmd(reqwest::Method::POST, &format!("element/{}/value", el.0), Some(json!({"text": text}))).await;
    }

    /// The element's rendered text.
    pub async fn text(&self, el: &Element) -> String {
        let v = self.cmd(reqwest::Method::GET, &format!("element/{}/text", el.0), None).await;
        v.as_str().unwrap_or_else(|| panic!("text is not a string: {v}")).to_string()
    }

    /// Runs `script` as a function body with `args` (`arguments[i]`); returns its value.
    pub async fn eval(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd(reqwest::Method::POST, "execute/sync", Some(json!({"script": script, "args": args}))).await
    }

    /// Runs `script` with `args`, whose last argument is a callback; returns the value
    /// it is called with.
    pub async fn eval_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd(reqwest::Method::POST, "execute/async", Some(json!({"script": script, "args": args}))).await
    }

    /// The current page's source, as serialized by the browser.
    pub async fn source(&self) -> String {
        let v = self.cmd(reqwest::Method::GET, "source", None).await;
        v.as_str().unwrap_or_else(|| panic!("source is not a string: {v}")).to_string()
    }

    /// Saves a PNG screenshot of the viewport to `path`.
    pub async fn screenshot(&self, path: &Path) {
        use base64::Engine;
        let v = self.cmd(reqwest::Method::GET, "screenshot", None).await;
        let b64 = v.as_str().unwrap_or_else(|| panic!("screenshot is not a string: {v}"));
        let png = base64::engine::general_purpose::STANDARD.decode(b64).expect("screenshot is base64");
        tokio::fs::write(path, png).await.unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Resizes the window to `width`×`height`.
    pub async fn set_window(&self, width: u32, height: u32) {
        self.cmd(reqwest::Method::POST, "window/rect", Some(json!({"width": width, "height": height}))).await;
    }

    /// Best effort `DELETE <session>` over a plain blocking socket (no runtime is
    /// needed in `drop`), so that chromedriver closes Chromium.
    fn delete_session(&self) {
        let host = self.driver.trim_start_matches("http://");
        let Some(path) = self.session.strip_prefix(&self.driver) else { return };
        let Ok(mut s) = std::net::TcpStream::connect(host) else { return };
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = s.set_write_timeout(Some(Duration::from_secs(10)));
        let req = format!("DELETE {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        if s.write_all(req.as_bytes()).is_ok() {
            read_headers(&mut s);
        }
    }
}

/// Reads until the end of an HTTP reply's headers (or EOF, or an error). The reply
/// to `DELETE <session>` comes once Chromium is gone, and chromedriver keeps the
/// socket open despite `Connection: close`, so reading to EOF would hang.
fn read_headers(s: &mut impl Read) {
    let (mut got, mut buf) = (Vec::new(), [0u8; 1024]);
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

impl Drop for Browser {
    /// Closes the session (and with it Chromium), then kills and reaps chromedriver.
    fn drop(&mut self) {
        if !self.session.is_empty() {
            self.delete_session();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
