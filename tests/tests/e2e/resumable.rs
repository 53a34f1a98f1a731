//! Resumable uploads across a crash: `kill -9` mid-PATCH, restart, and the upload
//! continues from a durable offset; every acknowledged byte is there, the file
//! comes back byte-exact and the chain verifies. On both stores.

use futures::StreamExt;
use niem_tests::server::{Server, StoreKind};
use niem_tests::wav;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_upload_local() {
    crash_mid_upload(StoreKind::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_upload_seaweedfs() {
    crash_mid_upload(niem_tests::seaweed::SeaweedFs::shared().store().await).await;
}

async fn crash_mid_upload(kind: StoreKind) {
    let mut srv = Server::start(kind, &[("NIEM_UPLOAD__CHUNK_SIZE", "65536")]).await;
    let meeting = srv.meeting().await;
    let file = wav::tone(8.0, 523.0, 48_000, None);
    let len = file.len() as u64;
    let loc = srv.tus_create(&meeting, len).await;

    // A first PATCH that ends mid-chunk: acknowledged bytes live in chunks and a sealed tail.
    let acked = 200_000u64;
    let resp = srv.tus_patch(&loc, 0, file[..acked as usize].to_vec()).await;
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(resp.headers()["upload-offset"], acked.to_string().as_str());

    // A second PATCH trickles in; the server dies under it.
    let rest = file[acked as usize..].to_vec();
    let body =
        futures::stream::iter(rest.chunks(16 * 1024).map(|c| c.to_vec()).collect::<Vec<_>>()).then(|c| async move {
            tokio::time::sleep(Duration::from_millis(25)).await;
            Ok::<_, std::io::Error>(c)
        });
    let client = srv.http();
    let (url, token) = (format!("{}{loc}", srv.url), srv.token.clone());
    let inflight = tokio::spawn(async move {
        client
            .patch(url)
            .bearer_auth(token)
            .header("tus-resumable", "1.0.0")
            .header("upload-offset", acked.to_string())
            .header("content-type", "application/offset+octet-stream")
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    srv.kill9();
    assert!(inflight.await.unwrap().is_err(), "the interrupted PATCH cannot have succeeded");

    srv.start_again().await;
    let (status, offset) = srv.tus_offset(&loc).await;
    assert_eq!(status, 200);
    let offset = offset.expect("Upload-Offset");
    assert!(offset >= acked, "acknowledged bytes lost: offset {offset} < {acked}");
    assert!(offset < len, "offset {offset} past what was sent");
    // The chain verifies right away: the open recording's newest chunks may be
    // ahead of the mirrored ledger ("pending"), nothing is invalid.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (code, out) = srv.audit(&["verify", "--verbose"], &[]);
    assert_eq!(code, 0, "[{}] chain must verify right after the crash:\n{out}", srv.store.name());
    assert!(out.contains("recordings: 0 sealed, 1 open"), "{out}");

    let resp = srv.tus_patch(&loc, offset, file[offset as usize..].to_vec()).await;
    assert_eq!(resp.status().as_u16(), 204, "{:?}", resp.text().await);
    assert_eq!(resp.headers()["upload-offset"], len.to_string().as_str());
    assert_eq!(
        resp.headers()["niem-sha256"],
        wav::sha256_hex(&file).as_str(),
        "the stored file differs from the sent one"
    );
    let rec_path = resp.headers()["niem-recording"].to_str().unwrap().to_string();
    let rec = rec_path.rsplit('/').next().unwrap().to_string();

    srv.seal(&rec).await;
    let (_, view) = srv.api(reqwest::Method::GET, &rec_path, None).await;
    let stream = view["manifest"]["streams"][0]["id"].as_str().unwrap().to_string();
    let (status, body) = srv.play(&rec, &stream, None).await;
    assert_eq!(status, 200);
    assert!(body == file, "downloaded file differs from the upload");
    assert_eq!(view["manifest"]["streams"][0]["state"], "complete");

    let (code, out) = srv.audit(&["verify"], &[]);
    assert_eq!(code, 0, "[{}] chain must verify after the crash:\n{out}", srv.store.name());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_patches_and_a_clean_restart() {
    let mut srv = Server::start(StoreKind::Local, &[("NIEM_UPLOAD__CHUNK_SIZE", "65536")]).await;
    let meeting = srv.meeting().await;
    let file = wav::tone(5.0, 300.0, 16_000, None);
    let loc = srv.tus_create(&meeting, file.len() as u64).await;
    let mut offset = 0usize;
    for (i, size) in [100usize, 1, 70_000, 5].into_iter().enumerate() {
        let resp = srv.tus_patch(&loc, offset as u64, file[offset..offset + size].to_vec()).await;
        assert_eq!(resp.status().as_u16(), 204, "patch {i}");
        offset += size;
        if i == 1 {
            srv.restart().await; // the tail of 101 bytes must survive
        }
    }
    assert_eq!(srv.tus_offset(&loc).await, (200, Some(offset as u64)));
    let resp = srv.tus_patch(&loc, offset as u64, file[offset..].to_vec()).await;
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(resp.headers()["niem-sha256"], wav::sha256_hex(&file).as_str());
    // A finished upload is gone for tus.
    assert_eq!(srv.tus_offset(&loc).await.0, 410);
}

/// A client whose line drops mid-PATCH (the server stays up): what arrived is
/// durable, the offset says so, and the upload completes from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_vanishing_mid_patch() {
    let srv = Server::start(StoreKind::Local, &[("NIEM_UPLOAD__CHUNK_SIZE", "65536")]).await;
    let meeting = srv.meeting().await;
    let file = wav::tone(6.0, 300.0, 48_000, None);
    let loc = srv.tus_create(&meeting, file.len() as u64).await;
    let pieces: Vec<Vec<u8>> = file.chunks(10_000).map(|c| c.to_vec()).collect();
    let body = futures::stream::iter(pieces).then(|c| async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok::<_, std::io::Error>(c)
    });
    let request = srv
        .req(reqwest::Method::PATCH, &loc)
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .body(reqwest::Body::wrap_stream(body));
    let inflight = tokio::spawn(request.send());
    tokio::time::sleep(Duration::from_millis(500)).await;
    inflight.abort(); // the line drops
    let _ = inflight.await;

    // The server finishes the interrupted PATCH on its own; poll until it has.
    let mut offset = None;
    for _ in 0..50 {
        if let (200, Some(o)) = srv.tus_offset(&loc).await {
            offset = Some(o);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let offset = offset.expect("the upload answers HEAD again");
    assert!(offset > 0 && offset < file.len() as u64, "offset {offset}");
    let resp = srv.tus_patch(&loc, offset, file[offset as usize..].to_vec()).await;
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(
        resp.headers()["niem-sha256"],
        wav::sha256_hex(&file).as_str(),
        "bytes before the drop were kept exactly"
    );
}

/// A plain upload cut by `kill -9`: its sender got no answer, but what reached the
/// store is kept as an interrupted stream of exact length, and the recording can
/// still be sealed and verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_plain_upload_leaves_a_sealable_recording() {
    let mut srv = Server::start(StoreKind::Local, &[("NIEM_UPLOAD__CHUNK_SIZE", "65536")]).await;
    let meeting = srv.meeting().await;
    let file = wav::tone(8.0, 523.0, 48_000, None);
    let body =
        futures::stream::iter(file.chunks(16 * 1024).map(|c| c.to_vec()).collect::<Vec<_>>()).then(|c| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, std::io::Error>(c)
        });
    let request = srv
        .req(reqwest::Method::POST, &format!("/api/v1/meetings/{meeting}/uploads"))
        .header("content-type", "audio/wav")
        .body(reqwest::Body::wrap_stream(body));
    let inflight = tokio::spawn(request.send());
    tokio::time::sleep(Duration::from_millis(500)).await;
    srv.kill9();
    assert!(inflight.await.unwrap().is_err());

    srv.start_again().await;
    let (_, m) = srv.api(reqwest::Method::GET, &format!("/api/v1/meetings/{meeting}"), None).await;
    let rec = m["recording"].as_str().expect("the first chunk started the recording").to_string();
    let (_, view) = srv.api(reqwest::Method::GET, &format!("/api/v1/recordings/{rec}"), None).await;
    let stream = &view["manifest"]["streams"][0];
    assert_eq!(stream["state"], "interrupted", "{view}");
    let kept = stream["length"].as_u64().unwrap();
    assert!(kept > 0 && kept < file.len() as u64 && kept % 65536 == 0, "kept {kept}");
    srv.seal(&rec).await;
    let (status, bytes) = srv.play(&rec, stream["id"].as_str().unwrap(), None).await;
    assert_eq!(status, 200);
    assert!(bytes == file[..kept as usize], "the kept prefix is the file's");
    let (code, out) = srv.audit(&["verify"], &[]);
    assert_eq!(code, 0, "{out}");
}
