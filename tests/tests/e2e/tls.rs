//! TLS end to end: `niem serve` with a certificate from a throwaway CA (openssl
//! CLI). curl (OpenSSL) checks the chain and signs in through the web UI
//! (Secure cookie, HSTS); a plaintext client on the TLS port hurts only itself;
//! ffmpeg (GnuTLS) pushes over rtmps:// with certificate checking on and the
//! recording is sealed, decodes and verifies; a renewed certificate is served
//! after SIGHUP; a bad certificate or key stops the start, naming the file.

use niem_tests::live::{listen, Sender};
use niem_tests::server::{Server, StoreKind};
use niem_tests::tls::{curl, Front, KeyKind, TestCa};
use reqwest::Method;
use serde_json::json;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

const PASSWORD: &str = "mật-khẩu-qua-tls-2026";

fn refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The TLS port of a server started with TLS on.
fn tls_addr(server: &Server) -> SocketAddr {
    server.url.strip_prefix("https://").expect("an https:// server").parse().expect("address")
}

/// The value of every `name:` header in a curl `-D -` dump, names case-insensitive.
fn headers<'a>(dump: &'a str, name: &str) -> Vec<&'a str> {
    dump.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_only_with_secure_cookies_and_hsts_and_plaintext_hurts_only_itself() {
    let ca = TestCa::new(KeyKind::Ec);
    let mut server = Server::start(StoreKind::Local, &refs(&ca.env())).await;
    let https = server.url.clone();
    let addr = tls_addr(&server);
    let cacert = ca.ca.display().to_string();

    // curl checks the chain up to the test CA and the name 127.0.0.1.
    let (code, body, err) = curl(&["--cacert", &cacert, &format!("{https}/healthz")]);
    assert_eq!((code, body.as_str()), (0, "ok"), "{err}");
    // Trusting only the system's CAs, the same request is refused: it is this
    // certificate that is served.
    let (code, _, err) = curl(&[&format!("{https}/healthz")]);
    assert_eq!(code, 60, "curl must refuse an unknown CA: {err}");

    // Plaintext HTTP to the TLS port fails...
    let plain = reqwest::get(format!("http://{addr}/healthz")).await;
    assert!(plain.as_ref().map_or(true, |r| !r.status().is_success()), "plaintext was served: {plain:?}");
    println!(
        "plaintext HTTP to the TLS port: {:?}",
        plain.map(|r| r.status()).map_err(|e| std::error::Error::source(&e).map(|s| s.to_string()))
    );
    // ...as do a client that opens a connection and says nothing, and one that
    // sends a broken handshake; while both are held open, HTTPS is served.
    let silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut garbage = tokio::net::TcpStream::connect(addr).await.unwrap();
    garbage.write_all(b"\x16\x03\x01\x00\x10not a clienthello at all").await.unwrap();
    let (code, body, err) = curl(&["--cacert", &cacert, "--max-time", "5", &format!("{https}/healthz")]);
    assert_eq!((code, body.as_str()), (0, "ok"), "HTTPS after plaintext and broken clients: {err}");
    drop((silent, garbage));

    // The API client reaches the server through a verified rustls front.
    let front = Front::start(addr, &ca.ca).await;
    server.url = front.url.clone();
    let (s, u) = server
        .api(
            Method::POST,
            "/api/v1/users",
            Some(json!({ "name": "kiemtoan.tls", "role": "auditor", "password": PASSWORD, "scopes": [] })),
        )
        .await;
    assert_eq!(s, 201, "{u}");

    // Sign in with curl, as a browser would: form, CSRF cookie, POST.
    let jar_dir = tempfile::tempdir().unwrap();
    let jar = jar_dir.path().join("cookies").display().to_string();
    let (code, dump, err) =
        curl(&["--cacert", &cacert, "-c", &jar, "-D", "-", "-o", "/dev/null", &format!("{https}/login")]);
    assert_eq!(code, 0, "{err}");
    let login_cookie = headers(&dump, "set-cookie")
        .into_iter()
        .find(|c| c.starts_with("niem_login="))
        .unwrap_or_else(|| panic!("no CSRF cookie: {dump}"));
    assert!(login_cookie.contains("; Secure"), "{login_cookie}");
    let csrf = login_cookie.split(';').next().unwrap().trim_start_matches("niem_login=").to_string();
    let form = [
        "name=kiemtoan.tls".to_string(),
        format!("password={PASSWORD}"),
        format!("csrf={csrf}"),
        "next=/live".to_string(),
    ];
    let mut args = vec!["--cacert", &cacert, "-b", &jar, "-c", &jar, "-D", "-", "-o", "/dev/null"];
    for f in &form {
        args.extend(["--data-urlencode", f.as_str()]);
    }
    let login = format!("{https}/login");
    args.push(&login);
    let (code, dump, err) = curl(&args);
    assert_eq!(code, 0, "{err}");
    assert!(dump.starts_with("HTTP/1.1 303"), "sign-in did not redirect: {dump}");
    let session = headers(&dump, "set-cookie")
        .into_iter()
        .find(|c| c.starts_with("niem_session="))
        .unwrap_or_else(|| panic!("no session cookie: {dump}"));
    assert!(session.contains("; Secure") && session.contains("HttpOnly"), "{session}");
    assert_eq!(headers(&dump, "strict-transport-security"), ["max-age=31536000"], "{dump}");
    println!("session cookie attributes: {}", session.split_once(';').map_or("", |(_, a)| a));
    // The Secure cookie comes back over HTTPS and opens a page.
    let (code, status, err) =
        curl(&["--cacert", &cacert, "-b", &jar, "-o", "/dev/null", "-w", "%{http_code}", &format!("{https}/live")]);
    assert_eq!((code, status.as_str()), (0, "200"), "{err}");

    // The private key never reaches the log.
    let key = std::fs::read_to_string(&ca.key).unwrap();
    let log = server.log();
    for line in key.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!log.contains(line), "a line of the private key is in the log");
    }
    assert!(log.contains("scheme=\"https\"") || log.contains("scheme=https"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ffmpeg_pushes_over_rtmps_and_the_recording_is_sealed_and_verifies() {
    let ca = TestCa::new(KeyKind::Ec);
    let rtmps_port = niem_tests::free_port();
    let mut env = ca.env();
    env.push(("NIEM_LIVE__RTMPS_LISTEN".into(), format!("127.0.0.1:{rtmps_port}")));
    env.push(("NIEM_LIVE__GRACE_SECS".into(), "2".into()));
    let mut server = Server::start(StoreKind::Local, &refs(&env)).await;
    let front = Front::start(tls_addr(&server), &ca.ca).await;
    server.url = front.url.clone();
    let (org, meeting) = server.cell_with_meeting("Chi bộ RTMPS").await;
    let (_, key) = server.endpoint(&org, "Điểm cầu qua TLS").await;
    let url = format!("rtmps://127.0.0.1:{rtmps_port}/live");

    // A sender that trusts another CA gives up in its TLS handshake: the
    // certificate ffmpeg checks below is the one served.
    let stranger = TestCa::new(KeyKind::Rsa);
    let (ok, err) = Sender::rtmps(&url, &stranger.ca, &key, 440, 2.0).wait();
    assert!(!ok, "ffmpeg accepted a certificate from a CA it does not trust: {err}");
    println!("ffmpeg trusting another CA: {}", err.trim());

    let secs = 6.0;
    let sender = Sender::rtmps(&url, &ca.ca, &key, 440, secs);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let live = server.live().await;
        if live["streams"][0]["protocol"] == "rtmps" {
            break;
        }
        assert!(Instant::now() < deadline, "no rtmps stream in the live view: {live}\nlog:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (ok, err) = sender.wait();
    assert!(ok, "ffmpeg over rtmps failed: {err}");

    let rec = server.sealed_recording(&meeting, Duration::from_secs(60)).await;
    let streams = rec["manifest"]["streams"].as_array().expect("streams").clone();
    assert_eq!(streams.len(), 1, "{rec}");
    assert_eq!(streams[0]["state"], "complete", "{rec}");
    let (status, bytes) = server.play(rec["id"].as_str().unwrap(), streams[0]["id"].as_str().unwrap(), None).await;
    assert_eq!(status, 200);
    let n = bytes.len();
    let heard = tokio::task::spawn_blocking(move || listen(&bytes)).await.unwrap();
    println!(
        "rtmps: {n} bytes sealed; decoded {:.2} s at {:.1} Hz, {} video frames",
        heard.seconds, heard.freq, heard.video_frames
    );
    assert!((heard.seconds - secs).abs() <= 0.5, "{heard:?}");
    assert!((heard.freq - 440.0).abs() <= 2.0, "{heard:?}");
    assert!(heard.video_frames as f64 >= secs * 15.0 * 0.9, "{heard:?}");
    let (code, out) = server.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_served_after_sighup() {
    let first = TestCa::new(KeyKind::Ec);
    // The files the service is configured with, replaced in place as a renewal does.
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("fullchain.pem"), dir.path().join("privkey.pem"));
    std::fs::copy(&first.cert, &cert).unwrap();
    std::fs::copy(&first.key, &key).unwrap();
    let env = [("NIEM_TLS__CERT", cert.display().to_string()), ("NIEM_TLS__KEY", key.display().to_string())];
    let server = Server::start(StoreKind::Local, &env.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>()).await;
    let healthz = format!("{}/healthz", server.url);
    let trusts = |ca: &TestCa| curl(&["--cacert", &ca.ca.display().to_string(), "--max-time", "5", &healthz]).0 == 0;
    let hup = || unsafe {
        libc::kill(server.pid().expect("running") as i32, libc::SIGHUP);
    };
    assert!(trusts(&first));

    // A renewal caught half-way (the key not yet written): the certificate in use stays.
    let second = TestCa::new(KeyKind::Rsa);
    std::fs::copy(&second.cert, &cert).unwrap();
    std::fs::write(&key, "").unwrap();
    hup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log().contains("TLS certificate not reloaded") {
        assert!(Instant::now() < deadline, "no reload error logged:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(trusts(&first), "the old certificate is still served after a failed reload");

    std::fs::copy(&second.key, &key).unwrap();
    hup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !trusts(&second) {
        assert!(Instant::now() < deadline, "the renewed certificate is not served:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!trusts(&first), "the old certificate is still served");
    assert!(server.log().contains("TLS certificate reloaded"));
}

/// Runs `niem serve` with `env`, expecting it to refuse to start; returns stderr.
fn start_refused(data: &std::path::Path, env: &[(&str, &str)]) -> String {
    let mut child = Command::new(niem_tests::bin("niem"))
        .arg("serve")
        .env("NIEM_DATA_DIR", data)
        .env("NIEM_LISTEN", format!("127.0.0.1:{}", niem_tests::free_port()))
        .env("NIEM_LIVE__RTMP_LISTEN", "")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start niem");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let out = child.wait_with_output().expect("output");
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            assert_eq!(status.code(), Some(1), "{err}");
            return err;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("niem started with {env:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_bad_certificate_or_key_stops_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ca = TestCa::new(KeyKind::Ec);
    let other = TestCa::new(KeyKind::Rsa);
    let (cert, key) = (ca.cert.display().to_string(), ca.key.display().to_string());
    let missing = dir.path().join("no-such-dir/fullchain.pem").display().to_string();
    let mut all = String::new();
    let mut refused = |env: &[(&str, &str)]| {
        let err = start_refused(&data, env);
        all.push_str(&err);
        err
    };

    let err = refused(&[("NIEM_TLS__CERT", &missing), ("NIEM_TLS__KEY", &key)]);
    assert!(err.contains(&format!("cannot read the TLS certificate file {missing}")), "{err}");
    let err = refused(&[("NIEM_TLS__CERT", &cert), ("NIEM_TLS__KEY", &missing)]);
    assert!(err.contains(&format!("cannot read the TLS private key file {missing}")), "{err}");
    let err = refused(&[("NIEM_TLS__CERT", &cert), ("NIEM_TLS__KEY", &other.key.display().to_string())]);
    assert!(err.contains("does not belong to the certificate") && err.contains(&cert), "{err}");
    let err = refused(&[("NIEM_TLS__CERT", &cert), ("NIEM_TLS__KEY", &cert)]);
    assert!(err.contains(&format!("TLS private key file {cert}: holds no PEM private key")), "{err}");
    let err = refused(&[("NIEM_TLS__CERT", &key), ("NIEM_TLS__KEY", &key)]);
    assert!(err.contains(&format!("TLS certificate file {key}: holds no PEM CERTIFICATE")), "{err}");
    let err = refused(&[("NIEM_TLS__CERT", &cert)]);
    assert!(err.contains("tls.cert and tls.key must be set together"), "{err}");
    let err = refused(&[("NIEM_LIVE__RTMPS_LISTEN", "127.0.0.1:1936")]);
    assert!(err.contains("live.rtmps_listen needs tls.cert and tls.key"), "{err}");
    // Refused before anything was opened.
    assert!(!data.join("catalog.db").exists());
    print!("{all}");
    for k in [&ca.key, &other.key] {
        let secret = std::fs::read_to_string(k).unwrap();
        assert!(secret.lines().filter(|l| !l.starts_with("-----")).all(|l| !all.contains(l)), "key bytes in an error");
    }
}
