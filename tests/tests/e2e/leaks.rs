//! No secret reaches the log: one `niem` on SeaweedFS at `debug` level is driven
//! through every path that handles a secret (bootstrap and user tokens, passwords
//! right and wrong, session cookies and CSRF tokens, stream keys right and wrong
//! over RTMP and HTTP push, the webhook secret, the S3 secret key), then its whole
//! log is searched for each of them and for the key files' contents.

use niem_tests::live::Sender;
use niem_tests::seaweed::{SeaweedFs, SECRET_KEY};
use niem_tests::server::Server;
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

const PASSWORD: &str = "mật-khẩu-không-được-lộ-42";
const WRONG: &str = "sai-mật-khẩu-cũng-không-được-lộ";
const WEBHOOK_SECRET: &str = "webhook-secret-never-logged-7f3a";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_token_or_password_reaches_the_log() {
    let env = [
        ("NIEM_LOG__LEVEL", "debug"),
        ("NIEM_ALERTS__WEBHOOK_URL", "http://127.0.0.1:9/hook"),
        ("NIEM_ALERTS__WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("NIEM_ALERTS__CHECK_EVERY_SECS", "1"),
    ];
    let server = Server::start(SeaweedFs::shared().store().await, &env).await;
    let mut secrets: Vec<String> =
        vec![server.token.clone(), PASSWORD.into(), WRONG.into(), WEBHOOK_SECRET.into(), SECRET_KEY.into()];

    let (org, meeting) = server.cell_with_meeting("Chi bộ").await;
    let (s, u) = server
        .api(
            Method::POST,
            "/api/v1/users",
            Some(json!({ "name": "kt", "role": "inspector", "password": PASSWORD, "scopes": [org] })),
        )
        .await;
    assert_eq!(s, 201, "{u}");
    let (_, t) = server.api(Method::POST, &format!("/api/v1/users/{}/tokens", u["id"].as_str().unwrap()), None).await;
    secrets.push(t["token"].as_str().unwrap().to_string());
    let (_, key) = server.endpoint(&org, "Điểm cầu").await;
    secrets.push(key.clone());

    // Sign-ins, wrong and right; the session cookie and CSRF token are secrets too.
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for password in [WRONG, PASSWORD] {
        let form = client.get(format!("{}/login", server.url)).send().await.unwrap();
        let cookie = form.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        let token = cookie.split_once('=').unwrap().1.to_string();
        secrets.push(token.clone());
        let r = client
            .post(format!("{}/login", server.url))
            .header("cookie", &cookie)
            .form(&[("name", "kt"), ("password", password), ("csrf", &token)])
            .send()
            .await
            .unwrap();
        let session = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("niem_session="));
        assert_eq!(session.is_some(), password == PASSWORD);
        if let Some(set) = session {
            let session = set.split(';').next().unwrap().to_string();
            secrets.push(session.split_once('=').unwrap().1.to_string());
            let page = client
                .get(format!("{}/search?q=x", server.url))
                .header("cookie", &session)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            secrets.push(
                page.split("name=\"csrf-token\" content=\"").nth(1).unwrap().split('"').next().unwrap().to_string(),
            );
        }
    }
    // Stream keys, wrong and right, over RTMP and HTTP push; a bad bearer token.
    let (ok, err) = Sender::rtmp(&server, &key, 440, 2.0).wait();
    assert!(ok, "{err}");
    let wrong_key = "wrong-stream-key-that-must-not-be-logged";
    secrets.push(wrong_key.into());
    let _ = Sender::rtmp(&server, wrong_key, 440, 1.0).wait();
    let r = client.put(format!("{}/api/v1/live/{wrong_key}", server.url)).body(vec![0u8; 100]).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let bad_token = "niem_01ARZ3NDEKTSV4RRFFQ69G5FAV_not-a-real-secret-but-never-logged";
    secrets.push(bad_token.into());
    let r = client.get(format!("{}/api/v1/meetings", server.url)).bearer_auth(bad_token).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let _ = meeting;
    // A missed meeting makes the webhook (unreachable) run with its secret.
    let past = archive::clock::format_ts(time::OffsetDateTime::now_utc() - time::Duration::minutes(30));
    let (s, _) = server
        .api(
            Method::POST,
            "/api/v1/meetings",
            Some(json!({ "org": org, "kind": "regular", "title": "vắng", "scheduled_at": past })),
        )
        .await;
    assert_eq!(s, 201);
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Key material: the signing key and every KEK (base64 lines; the origin name
    // and the KEK ids are public).
    let keys = server.keys_dir();
    let signing = std::fs::read_to_string(keys.join("signing.key")).unwrap();
    secrets.push(signing.lines().nth(1).expect("the key line").trim().to_string());
    for entry in std::fs::read_dir(keys.join("kek")).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "key") {
            secrets.push(std::fs::read_to_string(entry.path()).unwrap().trim().to_string());
        }
    }
    assert!(secrets.iter().all(|s| s.len() >= 10), "{} secrets, none trivially short", secrets.len());
    let log = server.log();
    assert!(log.lines().count() > 50, "a debug log has something to search: {} lines", log.lines().count());
    assert!(log.contains("alert not delivered"), "the webhook path ran:\n{log}");
    for secret in &secrets {
        // The secret half of a token is what matters; check it alone too.
        let parts: Vec<&str> = std::iter::once(secret.as_str())
            .chain(secret.strip_prefix("niem_").and_then(|r| r.split_once('_')).map(|(_, s)| s))
            .collect();
        for part in parts {
            assert!(!log.contains(part), "a secret ({}…) is in the log", &part[..6.min(part.len())]);
        }
    }
    println!("searched {} log lines for {} secrets", log.lines().count(), secrets.len());
}
