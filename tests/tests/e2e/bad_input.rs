//! Bad input gets a clear 4xx error, hurts only its own request, and leaves nothing
//! half-written: the store holds the same objects before and after, and verifies.

use niem_tests::server::{Server, StoreKind};
use niem_tests::wav;
use reqwest::Method;

fn message(v: &serde_json::Value) -> String {
    v["error"]["message"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_cleanly() {
    let srv = Server::start(StoreKind::Local, &[("NIEM_UPLOAD__CHUNK_SIZE", "65536")]).await;
    let meeting = srv.meeting().await;
    let (s, good) = srv.upload(&meeting, wav::tone(1.0, 440.0, 16_000, None)).await;
    assert_eq!(s, 201);
    let rec = good["recording"].as_str().unwrap().to_string();
    let stream = good["stream"].as_str().unwrap().to_string();
    let raw = srv.raw_store().await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await; // let the ledger mirror settle
    let before = raw.list().await;

    // Tokens: missing, malformed, wrong.
    let url = format!("{}/api/v1/orgs", srv.url);
    let r = srv.http().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("Authorization"));
    for bad in
        ["Token abc", "Bearer ", "Bearer niem_01ARZ3NDEKTSV4RRFFQ69G5FAV_wrong", &format!("Bearer {}x", srv.token)]
    {
        let r = srv.http().get(&url).header("authorization", bad).send().await.unwrap();
        assert_eq!(r.status(), 401, "{bad:?}");
    }

    // A file that is not media.
    let text = b"Bien ban hop chi bo -- not media at all\n".repeat(5000);
    let (s, v) = srv.upload(&meeting, text.clone()).await;
    assert_eq!(s, 415, "{v}");
    assert!(message(&v).contains("not a media file"), "{v}");

    // tus: headers that are missing or malformed.
    let tus = |m: Method, path: &str| srv.req(m, path).header("tus-resumable", "1.0.0");
    let r = srv.req(Method::POST, "/api/v1/uploads").header("upload-length", "10").send().await.unwrap();
    assert_eq!(r.status(), 412, "no Tus-Resumable");
    assert_eq!(r.headers()["tus-version"], "1.0.0");
    for (length, meta, want) in [
        (Some("abc"), Some("meeting AAAA".to_string()), 400),
        (Some("-1"), None, 400),
        (None, None, 400),
        (Some("10"), Some("meeting !!notbase64".to_string()), 400),
        (Some("10"), None, 400),
        (Some("10"), Some(format!("meeting {}", b64("../../etc/passwd"))), 400),
        (Some("99999999999999999"), Some(format!("meeting {}", b64(&meeting))), 413),
    ] {
        let mut r = tus(Method::POST, "/api/v1/uploads");
        if let Some(l) = length {
            r = r.header("upload-length", l);
        }
        if let Some(m) = &meta {
            r = r.header("upload-metadata", m.as_str());
        }
        let resp = r.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), want, "length {length:?} meta {meta:?}");
        assert_eq!(resp.headers()["tus-resumable"], "1.0.0");
    }

    // tus: PATCH mistakes, and an upload past its declared length.
    let file = wav::tone(3.0, 440.0, 16_000, None);
    let loc = srv.tus_create(&meeting, file.len() as u64).await;
    let r = tus(Method::PATCH, &loc)
        .header("upload-offset", "0")
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = srv.tus_patch(&loc, 5, file[..10].to_vec()).await;
    assert_eq!(r.status(), 409, "wrong offset");
    let mut too_long = file.clone();
    too_long.extend_from_slice(&[0; 10]);
    let r = srv.tus_patch(&loc, 0, too_long.clone()).await;
    assert_eq!(r.status(), 413, "past Upload-Length (Content-Length known)");
    assert_eq!(srv.tus_offset(&loc).await, (200, Some(0)), "nothing of the refused PATCH counted");
    let chunked = reqwest::Body::wrap_stream(futures::stream::iter(
        too_long.chunks(4096).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>(),
    ));
    let r = tus(Method::PATCH, &loc)
        .header("upload-offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .body(chunked)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413, "past Upload-Length (chunked)");
    // Bytes before the overflow are a valid, durable prefix and count; the overflow does not.
    let (_, offset) = srv.tus_offset(&loc).await;
    let kept = offset.unwrap();
    assert!(kept < file.len() as u64, "the overflowing bytes were not counted");
    let r = tus(Method::DELETE, &loc).send().await.unwrap();
    assert_eq!(r.status(), 204, "termination");

    // tus: a non-media upload is refused at its first piece and forgotten.
    let loc = srv.tus_create(&meeting, text.len() as u64).await;
    let r = srv.tus_patch(&loc, 0, text[..70_000].to_vec()).await;
    assert_eq!(r.status(), 415);
    assert_eq!(srv.tus_offset(&loc).await.0, 410);

    // Ids with path tricks, NUL and excess length, in every id position.
    let long = "A".repeat(5000);
    for bad in
        ["..%2F..%2Fetc%2Fpasswd", "..%2F", "01ARZ3NDEKTSV4RRFFQ69G5FA%00", long.as_str(), "01arz3ndektsv4rrffq69g5fav"]
    {
        for path in [
            format!("/api/v1/recordings/{bad}"),
            format!("/api/v1/meetings/{bad}"),
            format!("/api/v1/recordings/{rec}/streams/{bad}/media"),
            format!("/api/v1/uploads/{bad}"),
        ] {
            let m = if path.starts_with("/api/v1/uploads") { Method::HEAD } else { Method::GET };
            let r = tus(m, &path).send().await.unwrap();
            assert_eq!(r.status(), 400, "{path}");
        }
        let (s, _) = srv.upload(bad, wav::tone(0.5, 440.0, 8000, None)).await;
        assert_eq!(s, 400, "upload to meeting {bad:?}");
    }
    let (s, _) = srv.api(Method::GET, "/api/v1/recordings/01ARZ3NDEKTSV4RRFFQ69G5FAV", None).await;
    assert_eq!(s, 404, "a well-formed unknown id is not found");

    // Ranges beyond the stream.
    let (s, _) = srv.play(&rec, &stream, Some("bytes=99999999-")).await;
    assert_eq!(s, 416);

    // Malformed JSON bodies.
    let r = srv
        .req(Method::POST, "/api/v1/orgs")
        .header("content-type", "application/json")
        .body("{\"name\": 5")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    let (s, v) = srv.api(Method::POST, "/api/v1/orgs", Some(serde_json::json!({"name": "x", "kind": "cell"}))).await;
    assert_eq!(s, 409, "a cell without a parent: {v}");

    // Nothing half-written, and the good recording is untouched.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let content = |keys: &[String]| {
        keys.iter().filter(|k| !k.starts_with("ledger/") && !k.starts_with("checkpoints/")).cloned().collect::<Vec<_>>()
    };
    let after = raw.list().await;
    let appeared: Vec<String> = content(&after).into_iter().filter(|k| !content(&before).contains(k)).collect();
    // Only the terminated upload's kept prefix may appear: one stream, closed as
    // interrupted with exactly the length its last offset reported.
    let (_, view) = srv.api(Method::GET, &format!("/api/v1/recordings/{rec}"), None).await;
    let streams = view["manifest"]["streams"].as_array().unwrap().clone();
    let cut: Vec<&serde_json::Value> = streams.iter().filter(|s| s["state"] == "interrupted").collect();
    assert_eq!(cut.len(), 1, "{view}");
    assert_eq!(cut[0]["length"], kept);
    let cut_id = cut[0]["id"].as_str().unwrap();
    assert!(
        appeared.iter().all(|k| k.contains(cut_id)),
        "objects appeared outside the terminated upload: {appeared:?}"
    );
    srv.seal(&rec).await;
    let (code, out) = srv.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}
