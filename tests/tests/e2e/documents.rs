//! Documents before the meeting (issue 15, point 4), on SeaweedFS, as an
//! attacker would try them: uploads of a PDF and a DOCX days ahead, listed,
//! downloaded byte for byte; over the cap and not a document refused with
//! nothing written (no object, no entry); a member's link serves the public
//! document and never the confidential one, and a forged, tampered, revoked or
//! expired link is refused; every download is ledgered; `niem-audit verify`
//! covers the document objects and names a flipped byte in one; no title or
//! file name in plaintext under the data dir or in the store.

use niem_tests::server::Server;
use niem_tests::stores::RawStore;
use niem_tests::{contains, files_under as files};
use reqwest::Method;
use serde_json::{json, Value};

/// Bytes that look like a PDF: the header, then `len` bytes of noise.
fn pdf(len: usize, seed: u8) -> Vec<u8> {
    let mut b = b"%PDF-1.7\n".to_vec();
    b.extend((0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    b
}

/// A minimal OOXML package: a stored `[Content_Types].xml` first, as Word writes it.
fn docx(body: &[u8]) -> Vec<u8> {
    let name = b"[Content_Types].xml";
    let mut z = b"PK\x03\x04".to_vec();
    z.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    z.extend_from_slice(&(body.len() as u32).to_le_bytes());
    z.extend_from_slice(&(body.len() as u32).to_le_bytes());
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(name);
    z.extend_from_slice(body);
    z
}

async fn upload(srv: &Server, meeting: &str, query: &[(&str, &str)], bytes: Vec<u8>) -> (u16, Value) {
    let resp = srv
        .req(Method::POST, &format!("/api/v1/meetings/{meeting}/documents"))
        .query(query)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// An upload whose length is not declared: the cap is met only as bytes arrive.
async fn upload_streamed(srv: &Server, meeting: &str, bytes: Vec<u8>) -> (u16, Value) {
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> = bytes.chunks(16 * 1024).map(|c| Ok(c.to_vec())).collect();
    let resp = srv
        .req(Method::POST, &format!("/api/v1/meetings/{meeting}/documents"))
        .query(&[("filename", "big.pdf")])
        .body(reqwest::Body::wrap_stream(futures::stream::iter(pieces)))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn get(srv: &Server, path: &str, auth: bool) -> (u16, Vec<u8>) {
    let r = match auth {
        true => srv.req(Method::GET, path),
        false => srv.http().get(format!("{}{path}", srv.url)),
    };
    let resp = r.send().await.unwrap();
    (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
}

async fn record_keys(raw: &RawStore, meeting: &str) -> Vec<String> {
    raw.list().await.into_iter().filter(|k| k.starts_with(&format!("meetings/{meeting}/"))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_before_the_meeting_seaweedfs() {
    let kind = niem_tests::seaweed::SeaweedFs::shared().store().await;
    let mut srv =
        Server::start(kind, &[("NIEM_UPLOAD__CHUNK_SIZE", "65536"), ("NIEM_DOCUMENTS__MAX_BYTES", "200000")]).await;
    let first = srv.meeting().await;
    let (_, m) = srv.api(Method::GET, &format!("/api/v1/meetings/{first}"), None).await;
    // A meeting weeks ahead, so that documents arrive well before it.
    let at = time::OffsetDateTime::now_utc() + time::Duration::days(20);
    let scheduled = at.format(&time::format_description::well_known::Rfc3339).unwrap();
    let body = json!({ "org": m["org"], "kind": "regular", "title": "Họp chi bộ", "scheduled_at": scheduled });
    let (s, meeting) = srv.api(Method::POST, "/api/v1/meetings", Some(body)).await;
    assert_eq!(s, 201, "{meeting}");
    let meeting = meeting["id"].as_str().unwrap().to_string();
    let raw = srv.raw_store().await;

    let marker = format!("TAILIEU{}", ulid::Ulid::new());
    let public_name = format!("du-thao-{marker}.pdf");
    let public_title = format!("Dự thảo nghị quyết {marker}");
    let secret_name = format!("mat-{marker}.docx");
    let pdf_bytes = pdf(150_000, 7);
    let docx_bytes = docx(format!("<Types>{}</Types>", "x".repeat(70_000)).as_bytes());

    // 1. A public PDF and a confidential DOCX.
    let q = [("filename", public_name.as_str()), ("title", public_title.as_str()), ("kind", "resolution")];
    let (s, p) = upload(&srv, &meeting, &q, pdf_bytes.clone()).await;
    assert_eq!(s, 201, "{p}");
    assert_eq!(p["content_type"], "application/pdf");
    assert_eq!(p["len"], pdf_bytes.len() as u64);
    assert_eq!(p["sha256"], archive::sha256_hex(&pdf_bytes));
    assert_eq!(p["in_advance"], true, "{p}");
    let q = [("filename", secret_name.as_str()), ("kind", "study"), ("confidential", "true")];
    let (s, d) = upload(&srv, &meeting, &q, docx_bytes.clone()).await;
    assert_eq!(s, 201, "{d}");
    assert!(d["content_type"].as_str().unwrap().contains("wordprocessingml"), "{d}");
    let (pid, did) = (p["id"].as_str().unwrap().to_string(), d["id"].as_str().unwrap().to_string());

    // 2. Listed and downloaded byte for byte.
    let (s, list) = srv.api(Method::GET, &format!("/api/v1/meetings/{meeting}/documents"), None).await;
    assert_eq!(s, 200, "{list}");
    let docs = list["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["title"], public_title.as_str());
    assert_eq!(docs[1]["confidential"], true);
    assert_eq!(docs[0]["stored_at"], p["stored_at"], "the list shows the ledger entry's time");
    assert!(p["stored_at"].as_str().unwrap().ends_with('Z'), "{p}");
    let (s, got) = get(&srv, &format!("/api/v1/meetings/{meeting}/documents/{pid}"), true).await;
    assert_eq!((s, got == pdf_bytes), (200, true));
    let (s, got) = get(&srv, &format!("/api/v1/meetings/{meeting}/documents/{did}"), true).await;
    assert_eq!((s, got == docx_bytes), (200, true));
    let stored = record_keys(&raw, &meeting).await;
    assert_eq!(stored.len(), 3 + 1 + 2 + 1, "pieces of 64 KiB and a key per document: {stored:?}");

    // 3. Over the cap (declared, and found while streaming) and not a document:
    //    a clear 4xx, and nothing in the store.
    let (s, e) = upload(&srv, &meeting, &[("filename", "big.pdf")], pdf(250_000, 1)).await;
    assert_eq!(s, 413, "{e}");
    let (s, e) = upload_streamed(&srv, &meeting, pdf(250_000, 2)).await;
    assert_eq!(s, 413, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("200000"), "{e}");
    let (s, e) = upload(&srv, &meeting, &[("filename", "virus.exe")], b"MZ\x90\x00 not a document".repeat(100)).await;
    assert_eq!(s, 415, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("PDF"), "{e}");
    let (s, e) = upload(&srv, &meeting, &[("filename", "x.pdf"), ("kind", "poem")], pdf(10, 0)).await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(record_keys(&raw, &meeting).await, stored, "refused uploads leave no object behind");

    // 4. A member's link: the public document, never the confidential one.
    let (s, link) = srv.api(Method::POST, &format!("/api/v1/meetings/{meeting}/link"), None).await;
    assert_eq!(s, 200, "{link}");
    let token = link["token"].as_str().unwrap().to_string();
    let (s, page) = get(&srv, &format!("/l/{token}"), false).await;
    let page = String::from_utf8(page).unwrap();
    assert_eq!(s, 200, "{page}");
    assert!(page.contains(&public_title) && !page.contains(&secret_name), "{page}");
    let (s, got) = get(&srv, &format!("/l/{token}/{pid}"), false).await;
    assert_eq!((s, got == pdf_bytes), (200, true));
    let (s, body) = get(&srv, &format!("/l/{token}/{did}"), false).await;
    assert_eq!(s, 403, "a confidential document never goes through a link");
    assert!(String::from_utf8_lossy(&body).contains("Mật"));

    // Forged and tampered links.
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    let other_meeting = token.replacen(&meeting, &first, 1);
    let longer = {
        let parts: Vec<&str> = token.split('.').collect();
        let exp: i64 = parts[2].parse().unwrap();
        format!("{}.{}.{}.{}", parts[0], parts[1], exp + 86_400 * 365, parts[3])
    };
    for bad in [forged.as_str(), other_meeting.as_str(), longer.as_str(), "nonsense", "a.b.c.d"] {
        let (s, body) = get(&srv, &format!("/l/{bad}"), false).await;
        assert_eq!(s, 403, "{bad}");
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains("không hợp lệ") && !body.contains("not valid"), "in the page's language: {body}");
        let (_, english) = get(&srv, &format!("/l/{bad}?lang=en"), false).await;
        assert!(String::from_utf8_lossy(&english).contains("not valid"), "and in English when asked");
        assert_eq!(get(&srv, &format!("/l/{bad}/{pid}"), false).await.0, 403, "{bad}");
    }

    // Revoked: the old link is gone, a new one works.
    let (s, r) = srv.api(Method::POST, &format!("/api/v1/meetings/{meeting}/link/revoke"), None).await;
    assert_eq!((s, r["generation"].as_u64()), (200, Some(1)), "{r}");
    let (s, body) = get(&srv, &format!("/l/{token}/{pid}"), false).await;
    assert_eq!(s, 410);
    assert!(String::from_utf8_lossy(&body).contains("thu hồi"));
    let (_, link2) = srv.api(Method::POST, &format!("/api/v1/meetings/{meeting}/link"), None).await;
    let token2 = link2["token"].as_str().unwrap().to_string();
    assert_eq!(get(&srv, &format!("/l/{token2}/{pid}"), false).await.0, 200);

    // 5. Expired: the same link, 15 days on (the default lifetime is 14).
    srv.set_env("NIEM_CLOCK_OFFSET_MINUTES", &(15 * 24 * 60).to_string());
    srv.restart().await;
    let (s, body) = get(&srv, &format!("/l/{token2}"), false).await;
    assert_eq!(s, 410);
    assert!(String::from_utf8_lossy(&body).contains("hết hạn"));
    srv.stop();

    // 6. Every download ledgered (two by users, two through links), no name in it;
    //    the refused ones wrote nothing.
    let all = raw.ledger_entries().await;
    let of = |action: &str| all.iter().filter(|e| e["action"] == action).cloned().collect::<Vec<_>>();
    assert_eq!(of("record.document.stored").len(), 2);
    let downloads = of("record.document.downloaded");
    assert_eq!(downloads.len(), 4, "{downloads:?}");
    assert_eq!(downloads.iter().filter(|e| e["actor"] == "link").count(), 2);
    assert_eq!(of("record.link.revoked").len(), 1);
    let ledger_text = serde_json::to_string(&all).unwrap();
    assert!(!ledger_text.contains(&marker), "no title or file name in the ledger");

    // 7. The auditor's verifier covers the document objects.
    let (code, out) = srv.audit(&["verify"], &["--verbose"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Store is INTACT"), "{out}");
    let piece = format!("meetings/{meeting}/record/{pid}/00000001.niem");
    assert!(out.contains(&piece), "verify names the document's pieces:\n{out}");

    // 8. No title or file name in plaintext under the data dir or in the store.
    for f in files(&srv.data_dir()) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!contains(&bytes, marker.as_bytes()), "{} holds a document name", f.display());
    }
    for (key, bytes) in raw.all_bytes().await {
        assert!(!contains(&bytes, marker.as_bytes()), "{key} holds a document name");
        assert!(!contains(&bytes, &pdf_bytes[1000..1064]), "{key} holds document plaintext");
    }

    // 9. Disaster recovery: the store and the keys alone bring the documents
    //    back, titles and all, and the revoked link stays revoked.
    let listed_before = docs.clone();
    srv.restore_from_store_and_keys().await;
    let (s, list) = srv.api(Method::GET, &format!("/api/v1/meetings/{meeting}/documents"), None).await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["documents"].as_array().unwrap(), &listed_before, "the same documents after a restore");
    let (s, got) = get(&srv, &format!("/api/v1/meetings/{meeting}/documents/{pid}"), true).await;
    assert_eq!((s, got == pdf_bytes), (200, true));
    assert_eq!(get(&srv, &format!("/l/{token}"), false).await.0, 410, "still revoked after a restore");
    srv.stop();

    // 10. A flipped byte in a document object: INVALID, named.
    let mut b = raw.read(&piece).await;
    b[100] ^= 1;
    raw.write(&piece, b).await;
    let (code, out) = srv.audit(&["verify"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&piece) && out.contains("INVALID"), "{out}");
}
