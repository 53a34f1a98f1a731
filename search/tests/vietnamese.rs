//! The search issue's Vietnamese cases, against a real tantivy index.

use search::{Index, Query, Recording, Scope, Segment};
use time::macros::datetime;
use unicode_normalization::UnicodeNormalization;

const BLOC: &str = "/org_bloc";
const CELL_A: &str = "/org_bloc/org_base/org_cella";
const CELL_B: &str = "/org_bloc/org_base/org_cellb";

fn seg(start_s: u64, text: &str) -> Segment {
    Segment { stream: "stream_1".into(), label: "Điểm cầu 1".into(), start_ms: start_s * 1000, end_ms: start_s * 1000 + 4000, text: text.into() }
}

fn rec(id: &str, org: &str, kind: &str, date: time::OffsetDateTime, segments: Vec<Segment>) -> Recording {
    Recording { recording: format!("rec_{id}"), meeting: format!("meeting_{id}"), org_path: org.into(), kind: kind.into(), date, segments }
}

fn query(text: &str) -> Query {
    Query { text: text.into(), scope: Scope::All, org: None, kind: None, from: None, to: None, limit: 10 }
}

fn meetings(index: &Index, q: &Query) -> Vec<String> {
    index.search(q).unwrap().meetings.into_iter().map(|m| m.meeting).collect()
}

/// Four meetings whose words fold alike: đảng / đang / dạng / đăng.
fn corpus() -> Index {
    let index = Index::in_ram().unwrap();
    let d = datetime!(2026-07-15 08:00 +7);
    index
        .put_all(&[
            rec("party", CELL_A, "regular", d, vec![seg(10, "Chi bộ xem xét kết nạp đảng viên mới."), seg(20, "Đồng chí bí thư báo cáo về chuyển đổi số.")]),
            rec("current", CELL_B, "regular", d, vec![seg(5, "Chúng ta đang viên mãn với kết quả."), seg(9, "Hồ sơ dạng văn bản và bài đăng.")]),
            rec("thematic", CELL_B, "thematic", datetime!(2026-10-02 14:00 +7), vec![seg(0, "Chuyên đề học tập và làm theo tư tưởng.")]),
            rec("silent", CELL_A, "regular", d, vec![]),
        ])
        .unwrap();
    index
}

#[test]
fn typed_without_diacritics_finds_the_party_member() {
    let index = corpus();
    let found = meetings(&index, &query("dang vien"));
    assert!(found.contains(&"meeting_party".to_string()), "{found:?}");
}

#[test]
fn the_exact_phrase_ranks_above_its_folded_lookalikes() {
    let index = corpus();
    let found = meetings(&index, &query("\"đảng viên\""));
    assert_eq!(found.first().map(String::as_str), Some("meeting_party"), "{found:?}");
    // The folded twin still matches, below.
    assert!(found.contains(&"meeting_current".to_string()), "{found:?}");
    let r = index.search(&query("\"đảng viên\"")).unwrap();
    assert!(r.meetings[0].score > r.meetings[1].score * 1.5, "{:?}", r.meetings.iter().map(|m| m.score).collect::<Vec<_>>());
}

#[test]
fn digital_transformation_without_diacritics() {
    let index = corpus();
    assert_eq!(meetings(&index, &query("chuyen doi so")), vec!["meeting_party"]);
    assert_eq!(meetings(&index, &query("\"chuyen doi so\"")), vec!["meeting_party"]);
}

#[test]
fn nfd_input_finds_nfc_text() {
    let index = corpus();
    let nfd: String = "chuyển đổi số".nfd().collect();
    assert_ne!(nfd.as_str(), "chuyển đổi số");
    assert_eq!(meetings(&index, &query(&nfd)), vec!["meeting_party"]);
    assert_eq!(meetings(&index, &query(&format!("\"{nfd}\""))), vec!["meeting_party"]);
}

#[test]
fn a_phrase_across_a_segment_boundary_matches_at_the_right_moment() {
    let index = corpus();
    // "…đảng viên mới." | "Đồng chí bí thư…": the phrase spans two segments.
    let r = index.search(&query("\"mới đồng chí\"")).unwrap();
    assert_eq!(r.meetings.len(), 1, "{r:?}");
    let hit = &r.meetings[0].hits[0];
    assert_eq!(hit.at_ms, 10_000, "the first matched word was spoken in the first segment: {hit:?}");
    assert!(hit.snippet.contains("<b>mới</b>"), "{}", hit.snippet);
}

#[test]
fn a_hit_points_at_the_segment_where_its_words_were_spoken() {
    let index = corpus();
    let r = index.search(&query("bi thu bao cao")).unwrap();
    assert_eq!(r.meetings[0].hits[0].at_ms, 20_000, "{r:?}");
    assert_eq!(r.meetings[0].hits[0].label, "Điểm cầu 1");
}

#[test]
fn a_scope_is_part_of_the_query() {
    let index = corpus();
    let only_a = Query { scope: Scope::Orgs(vec![CELL_A.into()]), ..query("dang") };
    assert_eq!(meetings(&index, &only_a), vec!["meeting_party"]);
    let only_b = Query { scope: Scope::Orgs(vec![CELL_B.into()]), ..query("dang vien") };
    assert_eq!(meetings(&index, &only_b), vec!["meeting_current"]);
    let bloc = Query { scope: Scope::Orgs(vec![BLOC.into()]), ..query("dang vien") };
    assert_eq!(meetings(&index, &bloc).len(), 2);
    let nothing = Query { scope: Scope::Orgs(vec![]), ..query("dang vien") };
    assert!(meetings(&index, &nothing).is_empty());
    // A narrowing filter outside the scope cannot widen it.
    let escape = Query { scope: Scope::Orgs(vec![CELL_A.into()]), org: Some(CELL_B.into()), ..query("dang vien") };
    assert!(meetings(&index, &escape).is_empty());
    // Neither can query syntax naming the org field.
    let syntax = Query { scope: Scope::Orgs(vec![CELL_A.into()]), ..query("dang OR org:/org_bloc/org_base/org_cellb") };
    assert_eq!(meetings(&index, &syntax), vec!["meeting_party"]);
}

#[test]
fn kind_and_date_filters() {
    let index = corpus();
    let thematic = Query { kind: Some("thematic".into()), ..query("chuyen de") };
    assert_eq!(meetings(&index, &thematic), vec!["meeting_thematic"]);
    let q3 = Query { from: Some(datetime!(2026-07-01 00:00 +7)), to: Some(datetime!(2026-10-01 00:00 +7)), ..query("chuyen") };
    assert_eq!(meetings(&index, &q3), vec!["meeting_party"]);
}

#[test]
fn bad_syntax_is_searched_leniently_and_html_is_escaped() {
    let index = Index::in_ram().unwrap();
    let d = datetime!(2026-07-15 08:00 +7);
    index.put(&rec("x", CELL_A, "regular", d, vec![seg(0, "<script>alert(1)</script> đảng viên")])).unwrap();
    for q in ["\"đảng", "org:", "((", "viên)", "*", ":"] {
        index.search(&query(q)).unwrap_or_else(|e| panic!("{q}: {e}"));
    }
    let r = index.search(&query("dang")).unwrap();
    assert!(!r.meetings[0].hits[0].snippet.contains("<script>"), "{}", r.meetings[0].hits[0].snippet);
}

#[test]
fn replace_remove_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let d = datetime!(2026-07-15 08:00 +7);
    {
        let index = Index::open(dir.path()).unwrap();
        let r = rec("p", CELL_A, "regular", d, vec![seg(0, "kết nạp đảng viên")]);
        index.put(&r).unwrap();
        index.put(&r).unwrap();
        assert_eq!(index.documents(), 1, "a second put replaces, not duplicates");
        index.put(&rec("q", CELL_A, "regular", d, vec![])).unwrap();
        assert!(index.contains("rec_q").unwrap(), "a speechless recording is marked indexed");
        assert!(Index::open(dir.path()).is_err(), "one writer per index");
    }
    let index = Index::open(dir.path()).unwrap();
    assert_eq!(meetings(&index, &query("ket nap")), vec!["meeting_p"]);
    index.remove("rec_p").unwrap();
    assert!(meetings(&index, &query("ket nap")).is_empty());
    assert!(!index.contains("rec_p").unwrap());
}
