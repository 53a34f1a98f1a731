//! Search at province scale, end to end, on SeaweedFS: a service holding 1,000
//! synthetic meeting-hours of Vietnamese transcripts (`niem-seed`: the words are
//! made up, everything else is what the service itself seals and signs).
//!
//! - After a restart every meeting is searchable at once, and the service's own
//!   counters say nothing was re-indexed or rebuilt.
//! - A word said in 300 meetings: the total says 300, and pages of 100 return all
//!   300 exactly once, in each sort order.
//! - Vietnamese spelling: both tone-mark placements (hoà/hòa, thuỷ/thủy), i/y
//!   (kĩ/kỹ) and NFD input rank identically; a different word (hóa) ranks below;
//!   a phrase stays a phrase.
//! - No transcript word and no query, as is or folded, is anywhere under the data
//!   dir or in the store.
//! - After a shred, the index, decrypted here with the service's keys, holds none
//!   of the shredded recordings' words.

use niem_tests::files_under as files;
use niem_tests::seaweed::SeaweedFs;
use niem_tests::server::Server;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use unicode_normalization::UnicodeNormalization;

const HOURS: &str = "1000";
/// Planted in exactly 300 of the 500 synthetic meetings.
const PLANTED: &str = "giải phóng mặt bằng";
/// Words said only in the meetings that are shredded.
const DOOMED: [&str; 2] = ["Thạchsùngxanh", "zqx7731"];

/// The extra meetings, in a cell of their own, in this order.
fn extras() -> Value {
    let m = |title: &str, line: &str| json!({ "title": title, "lines": [line] });
    json!([
        m("Hoà giải (kiểu mới)", "Tổ hoà giải ở cơ sở đã họp ba lần trong quý."),
        m("Hòa giải (kiểu cũ)", "Tổ hòa giải ở cơ sở đã họp hai lần trong quý."),
        m("Hóa chất", "Kho hóa chất của hợp tác xã cần kiểm tra lại."),
        m("Thủy lợi", "Công trình thủy lợi nội đồng đã hoàn thành."),
        m("Kỹ thuật", "Cán bộ kỹ thuật báo cáo tiến độ giải ngân."),
        m("Chuyển đổi số", "Nghị quyết về chuyển đổi số được thông qua."),
        m("Số hóa", "Chuyển giao công nghệ số hóa và đổi mới sáng tạo."),
        m("Mật", "Quỹ đen Thạchsùngxanh được ghi dưới mã zqx7731."),
    ])
}

struct World {
    server: Server,
    /// Meeting ids of the extras, in order.
    extra: Vec<String>,
    extra_org: String,
    /// meeting id → (marker, planted)
    synthetic: HashMap<String, (String, bool)>,
    /// Recordings of the extras (shredded at the end).
    extra_recordings: Vec<String>,
}

async fn search(server: &Server, params: &[(&str, &str)]) -> Value {
    let resp = server.req(Method::GET, "/api/v1/search").query(params).send().await.unwrap();
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{params:?}: {v}");
    v
}

fn ids(v: &Value) -> Vec<String> {
    v["meetings"].as_array().unwrap().iter().map(|m| m["meeting"].as_str().unwrap().to_string()).collect()
}

/// (meeting, score) in rank order.
fn ranked(v: &Value) -> Vec<(String, f64)> {
    let list = v["meetings"].as_array().unwrap();
    list.iter().map(|m| (m["meeting"].as_str().unwrap().to_string(), m["score"].as_f64().unwrap())).collect()
}

async fn setup() -> World {
    let store = SeaweedFs::shared().store().await;
    let mut server = Server::start(store, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let extra_file = dir.path().join("extra.json");
    std::fs::write(&extra_file, extras().to_string()).unwrap();
    let started = Instant::now();
    let report = server
        .seed(&["--hours", HOURS, "--word", PLANTED, "--word-in", "300", "--extra", extra_file.to_str().unwrap()])
        .await;
    eprintln!("seeded {HOURS} meeting-hours in {:.1} s", started.elapsed().as_secs_f64());
    let meetings = report["meetings"].as_array().unwrap();
    let n_extra = extras().as_array().unwrap().len();
    assert_eq!(meetings.len(), 500 + n_extra);
    let extra_org = report["extra_org"].as_str().unwrap().to_string();
    let mut by_title: HashMap<String, (String, String)> = HashMap::new();
    let mut synthetic = HashMap::new();
    for m in meetings {
        let (id, rec) = (m["meeting"].as_str().unwrap().to_string(), m["recording"].as_str().unwrap().to_string());
        if m["org"].as_str().unwrap().ends_with(&extra_org) {
            by_title.insert(m["title"].as_str().unwrap().to_string(), (id, rec));
        } else {
            synthetic.insert(id, (m["marker"].as_str().unwrap().to_string(), m["planted"].as_bool().unwrap()));
        }
    }
    let titles: Vec<String> =
        extras().as_array().unwrap().iter().map(|e| e["title"].as_str().unwrap().to_string()).collect();
    let extra = titles.iter().map(|t| by_title[t].0.clone()).collect();
    let extra_recordings = titles.iter().map(|t| by_title[t].1.clone()).collect();
    World { server, extra, extra_org, synthetic, extra_recordings }
}

/// The search counters from `/metrics`: indexed, rebuilds (summed), behind.
async fn counters(server: &Server) -> (f64, f64, f64) {
    let m = server.metrics().await;
    let rebuilds = m.iter().filter(|(k, _)| k.starts_with("niem_search_rebuilds_total")).map(|(_, v)| v).sum();
    (m["niem_search_indexed_total"], rebuilds, m["niem_search_behind_recordings"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_meeting_hours_restart_page_rank_and_shred_as_promised() {
    let t0 = Instant::now();
    let phase = |name: &str| eprintln!("province: {name} at {:.1} s", t0.elapsed().as_secs_f64());
    let mut w = setup().await;
    phase("seeded");
    let all = w.synthetic.len() + w.extra.len();

    // The start after seeding indexes what the seeder stored: all of it, once.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (indexed, _, behind) = counters(&w.server).await;
        if indexed as usize == all && behind == 0.0 {
            break;
        }
        assert!(Instant::now() < deadline, "not indexed: {indexed} of {all}, {behind} behind");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    phase("indexed");
    // (1) A restart: every meeting found at once, nothing indexed or rebuilt.
    w.server.restart().await;
    let every = search(&w.server, &[("q", "\"hồ sơ số\""), ("limit", "1")]).await;
    assert!(every["catching_up"].is_null(), "{every}");
    assert_eq!(every["total"], json!({ "count": w.synthetic.len(), "exact": true }), "every synthetic meeting at once");
    for (meeting, (marker, _)) in w.synthetic.iter().take(50) {
        let v = search(&w.server, &[("q", marker)]).await;
        assert_eq!(ids(&v), vec![meeting.clone()], "{marker}");
    }
    let (indexed, rebuilds, behind) = counters(&w.server).await;
    assert_eq!((indexed, rebuilds, behind), (0.0, 0.0, 0.0), "a restart indexes and rebuilds nothing");

    phase("restarted");
    // (2) A word in 300 meetings: total 300, every one exactly once, in each order.
    let planted: BTreeSet<String> = w.synthetic.iter().filter(|(_, (_, p))| *p).map(|(m, _)| m.clone()).collect();
    assert_eq!(planted.len(), 300);
    let quoted = format!("\"{PLANTED}\"");
    for sort in ["relevance", "newest", "oldest"] {
        let (mut seen, mut order, mut cursor, mut pages) = (BTreeSet::new(), Vec::new(), None::<String>, 0);
        loop {
            let mut params = vec![("q", quoted.as_str()), ("limit", "100"), ("sort", sort)];
            if let Some(c) = &cursor {
                params.push(("cursor", c.as_str()));
            }
            let page = search(&w.server, &params).await;
            assert_eq!(page["total"], json!({ "count": 300, "exact": true }), "{sort}");
            for m in page["meetings"].as_array().unwrap() {
                let id = m["meeting"].as_str().unwrap().to_string();
                assert!(seen.insert(id.clone()), "{sort}: {id} twice");
                order.push(m["scheduled_at"].as_str().unwrap().to_string());
            }
            pages += 1;
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
            assert!(pages < 10, "{sort}: paging does not end");
        }
        assert_eq!(seen, planted, "{sort}: exactly the 300 meetings");
        assert_eq!(pages, 3, "{sort}: three pages of 100");
        let mut sorted = order.clone();
        match sort {
            "newest" => sorted.sort_by(|a, b| b.cmp(a)),
            "oldest" => sorted.sort(),
            _ => {}
        }
        assert_eq!(order, sorted, "{sort}: in order");
    }

    phase("paged");
    // (3) Vietnamese spelling, within the extras' own cell.
    let org = w.extra_org.clone();
    let in_cell = |q: &str| vec![("q", q.to_string()), ("org", org.clone())];
    let ask = |q: String| {
        let params = in_cell(&q);
        let server = &w.server;
        async move {
            let p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            search(server, &p).await
        }
    };
    let (hoa_new, hoa_old) = (ranked(&ask("hoà".into()).await), ranked(&ask("hòa".into()).await));
    assert_eq!(hoa_new, hoa_old, "hoà and hòa rank the same meetings identically");
    let top: BTreeSet<&String> = hoa_new.iter().take(2).map(|(m, _)| m).collect();
    assert_eq!(top, BTreeSet::from([&w.extra[0], &w.extra[1]]), "both placements first: {hoa_new:?}");
    let hoa_chem = hoa_new.iter().position(|(m, _)| *m == w.extra[2]);
    assert!(hoa_chem.is_some_and(|p| p >= 2), "hóa is found (folded) but below hòa: {hoa_new:?}");
    assert!(hoa_new[1].1 > hoa_new[hoa_chem.unwrap()].1, "{hoa_new:?}");
    let nfd: String = "hòa".nfd().collect();
    assert_ne!(nfd, "hòa");
    assert_eq!(ranked(&ask(nfd).await), hoa_old, "NFD input behaves as NFC");

    let score_of = |v: &[(String, f64)], m: &str| v.iter().find(|(id, _)| id == m).map(|(_, s)| *s);
    let thuy_new = ranked(&ask("\"thuỷ lợi\"".into()).await);
    let thuy_old = ranked(&ask("\"thủy lợi\"".into()).await);
    let thuy_bare = ranked(&ask("\"thuy loi\"".into()).await);
    assert_eq!(ids_of(&thuy_new), vec![w.extra[3].clone()], "thuỷ lợi finds thủy lợi");
    assert_eq!(thuy_new, thuy_old, "as the same word, exactly");
    assert!(score_of(&thuy_new, &w.extra[3]) > score_of(&thuy_bare, &w.extra[3]), "exact above folded");
    let ki = ranked(&ask("kĩ thuật".into()).await);
    let ky = ranked(&ask("kỹ thuật".into()).await);
    assert_eq!(ki.first().map(|(m, _)| m), Some(&w.extra[4]), "kĩ thuật finds kỹ thuật: {ki:?}");
    assert_eq!(ki, ky, "kĩ and kỹ are one spelling");
    let phrase = ids(&ask("\"chuyển đổi số\"".into()).await);
    assert_eq!(phrase, vec![w.extra[5].clone()], "a phrase stays a phrase");
    let words = ids(&ask("chuyển đổi số".into()).await);
    assert!(words.contains(&w.extra[5]) && words.contains(&w.extra[6]), "the words alone match both: {words:?}");

    phase("ranked");
    // (4) No transcript word and no query on disk or in the store.
    w.server.stop();
    plaintext_check(&w.server).await;

    // (5) Shred the extras (a one-day policy on their cell, approved by a second
    // admin, and two days later), then read the index with the service's keys.
    phase("grepped");
    w.server.start_again().await;
    shred_cell(&mut w).await;
    phase("shredded");
    w.server.stop();
    let index = open_index(&w.server);
    for word in DOOMED {
        assert!(!index.holds_word(word).unwrap(), "{word} is still in the index after the shred");
    }
    for rec in &w.extra_recordings {
        assert!(!index.contains(rec).unwrap(), "{rec} has documents after the shred");
    }
    let kept = &w.synthetic.values().next().unwrap().0;
    assert!(index.holds_word(kept).unwrap(), "the decrypted index still holds {kept}: the check can fail");
}

fn ids_of(v: &[(String, f64)]) -> Vec<String> {
    v.iter().map(|(m, _)| m.clone()).collect()
}

/// 50 words said in the transcripts, as said and folded, and the queries: none
/// under the data dir, none in the store. Words that also name orgs or meetings
/// (titles and org names are not transcript text) are left out.
async fn plaintext_check(server: &Server) {
    let fold = |s: &str| -> String { s.replace('đ', "d").replace('Đ', "D").nfd().filter(|c| c.is_ascii()).collect() };
    let names = ["chi bộ", "sinh hoạt", "cơ sở", "khối", "kiểm thử"];
    let mut needles: Vec<String> = niem_tests::corpus::VOCABULARY
        .iter()
        .filter(|w| fold(w).len() >= 8 && !names.iter().any(|n| w.to_lowercase().contains(n)))
        .take(50)
        .map(|w| w.to_string())
        .collect();
    assert_eq!(needles.len(), 50);
    needles.extend([PLANTED, "chuyển đổi số", "thuỷ lợi", "Thạchsùngxanh"].map(String::from));
    let folded: Vec<String> = needles.iter().map(|w| fold(w)).collect();
    needles.extend(folded);
    let finder = aho_corasick::AhoCorasick::new(&needles).unwrap();
    let found = |bytes: &[u8]| finder.find(bytes).map(|m| needles[m.pattern().as_usize()].clone());
    let mut searched = 0;
    for path in files(&server.data_dir()) {
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert_eq!(found(&bytes), None, "found in {}", path.display());
        searched += 1;
    }
    for (key, bytes) in server.raw_store().await.all_bytes().await {
        assert_eq!(found(&bytes), None, "found in store object {key}");
        searched += 1;
    }
    assert!(searched > 1000, "searched only {searched} files and objects");
}

/// A one-day policy on the extras' cell (a shortening: a second admin approves),
/// then two days later the service's enforcement shreds its recordings.
async fn shred_cell(w: &mut World) {
    let (code, out) = w.server.host(&["token", "create", "--role", "admin", "--name", "second"]).await;
    assert_eq!(code, 0, "{out}");
    let second = out.lines().find(|l| l.starts_with("niem_")).unwrap().trim().to_string();
    let post = |path: &str, token: &str, body: Value| {
        let req = w.server.http().post(format!("{}{path}", w.server.url)).bearer_auth(token).json(&body);
        async move {
            let resp = req.send().await.unwrap();
            let s = resp.status().as_u16();
            (s, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let admin = w.server.token.clone();
    let (s, policy) = post("/api/v1/retention/policies", &admin, json!({ "org": w.extra_org, "keep_days": 1 })).await;
    assert_eq!(s, 201, "{policy}");
    let approve = format!("/api/v1/retention/policies/{}/approve", policy["id"].as_str().unwrap());
    if policy["needs_approval"] == true {
        let (s, v) = post(&approve, &second, json!(null)).await;
        assert_eq!(s, 204, "{v}");
    }
    w.server.stop();
    w.server.set_env("NIEM_CLOCK_OFFSET_MINUTES", "2880");
    w.server.start_again().await;
    let deadline = Instant::now() + Duration::from_secs(120);
    for rec in &w.extra_recordings {
        loop {
            let (_, r) = w.server.api(Method::GET, &format!("/api/v1/recordings/{rec}"), None).await;
            if r["state"] == "shredded" {
                break;
            }
            assert!(Instant::now() < deadline, "{rec} not shredded: {r}\n{}", w.server.log());
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    // The index drops what was shredded right after the shred; searches say so.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = search(&w.server, &[("q", DOOMED[1])]).await;
        if v["meetings"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(Instant::now() < deadline, "still found after the shred: {v}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The service's current index, opened here with its keys (the service stopped).
fn open_index(server: &Server) -> search::Index {
    let keys = archive::keys::KeyDir::new(server.keys_dir()).load().unwrap();
    let cipher = Arc::new(niem_core::index_keys::ArchiveIndexCipher::new(Arc::new(keys)));
    let dir = niem_core::search::current_index_dir(&server.data_dir());
    search::Index::open(&dir, cipher, &search::Options::default()).unwrap()
}
