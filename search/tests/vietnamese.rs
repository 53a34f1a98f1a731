//! The search issues' Vietnamese cases, against a real tantivy index: folding,
//! scoping, and one spelling for the variants in everyday use.

#![allow(clippy::unwrap_used)] // tests and benches may: a panic is their failure report

use search::{Index, Query, Recording, Scope, Segment};
use time::macros::datetime;
use unicode_normalization::UnicodeNormalization;

const BLOC: &str = "/org_bloc";
const CELL_A: &str = "/org_bloc/org_base/org_cella";
const CELL_B: &str = "/org_bloc/org_base/org_cellb";

fn seg(start_s: u64, text: &str) -> Segment {
    Segment {
        stream: "stream_1".into(),
        label: "Điểm cầu 1".into(),
        start_ms: start_s * 1000,
        end_ms: start_s * 1000 + 4000,
        text: text.into(),
    }
}

fn rec(id: &str, org: &str, kind: &str, date: time::OffsetDateTime, segments: Vec<Segment>) -> Recording {
    Recording {
        recording: format!("rec_{id}"),
        meeting: format!("meeting_{id}"),
        org_path: org.into(),
        kind: kind.into(),
        date,
        segments,
    }
}

fn query(text: &str) -> Query {
    Query { text: text.into(), scope: Scope::All, limit: 10, ..Query::default() }
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
            rec(
                "party",
                CELL_A,
                "regular",
                d,
                vec![
                    seg(10, "Chi bộ xem xét kết nạp đảng viên mới."),
                    seg(20, "Đồng chí bí thư báo cáo về chuyển đổi số."),
                ],
            ),
            rec(
                "current",
                CELL_B,
                "regular",
                d,
                vec![seg(5, "Chúng ta đang viên mãn với kết quả."), seg(9, "Hồ sơ dạng văn bản và bài đăng.")],
            ),
            rec(
                "thematic",
                CELL_B,
                "thematic",
                datetime!(2026-10-02 14:00 +7),
                vec![seg(0, "Chuyên đề học tập và làm theo tư tưởng.")],
            ),
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
    assert!(
        r.meetings[0].score > r.meetings[1].score * 1.5,
        "{:?}",
        r.meetings.iter().map(|m| m.score).collect::<Vec<_>>()
    );
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
    let q3 = Query {
        from: Some(datetime!(2026-07-01 00:00 +7)),
        to: Some(datetime!(2026-10-01 00:00 +7)),
        ..query("chuyen")
    };
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

fn scores(index: &Index, text: &str) -> Vec<(String, f32)> {
    index.search(&query(text)).unwrap().meetings.into_iter().map(|m| (m.meeting, m.score)).collect()
}

/// Whisper wrote one placement, people type the other; `hóa` is another word.
fn variants() -> Index {
    let index = Index::in_ram().unwrap();
    let d = datetime!(2026-03-02 08:00 +7);
    index
        .put_all(&[
            rec("old", CELL_A, "regular", d, vec![seg(0, "Giữ vững hòa bình và ổn định.")]),
            rec("new", CELL_A, "regular", d, vec![seg(0, "Giữ vững hoà bình, đoàn kết.")]),
            rec("chem", CELL_B, "regular", d, vec![seg(0, "Phòng thí nghiệm hóa học.")]),
            rec("water", CELL_B, "thematic", d, vec![seg(0, "Công trình thủy lợi của xã.")]),
            rec("lookalike", CELL_B, "regular", d, vec![seg(0, "Cô Thùy lội qua suối.")]),
            rec("tech", CELL_A, "thematic", d, vec![seg(0, "Bồi dưỡng kỹ thuật số.")]),
            rec("flag", CELL_A, "regular", d, vec![seg(0, "Lá cờ kì thuật lại.")]),
            rec("though", CELL_A, "regular", d, vec![seg(0, "Tuy vậy vẫn làm.")]),
            rec("bag", CELL_B, "regular", d, vec![seg(0, "Cái túi của tui.")]),
            rec("apart", CELL_B, "regular", d, vec![seg(0, "Bình yên, rồi hòa cả làng.")]),
        ])
        .unwrap();
    index
}

#[test]
fn both_tone_placements_rank_the_same_meetings_identically_above_another_word() {
    let index = variants();
    let old = scores(&index, "hòa");
    let new = scores(&index, "hoà");
    assert_eq!(old, new, "one spelling, one ranking");
    let names: Vec<&str> = old.iter().map(|(m, _)| m.as_str()).collect();
    let chem = names.iter().position(|&m| m == "meeting_chem").expect("hóa folds alike");
    for same in ["meeting_old", "meeting_new", "meeting_apart"] {
        let at = names.iter().position(|&m| m == same).unwrap_or_else(|| panic!("{same}: {names:?}"));
        assert!(at < chem, "{same} must rank above hóa: {old:?}");
    }
    assert!(old[chem].1 * 1.5 < old[0].1, "hóa matches only folded: {old:?}");
}

#[test]
fn the_other_placement_finds_the_word_as_exact() {
    let index = variants();
    let found = scores(&index, "thuỷ lợi");
    assert_eq!(found[0].0, "meeting_water", "{found:?}");
    let lookalike = found.iter().find(|(m, _)| m == "meeting_lookalike").expect("folds alike");
    assert!(found[0].1 > lookalike.1 * 1.5, "thủy lợi is an exact match: {found:?}");
}

#[test]
fn i_and_y_are_one_letter_after_k() {
    let index = variants();
    let found = scores(&index, "kĩ thuật");
    assert_eq!(found[0].0, "meeting_tech", "{found:?}");
    let flag = found.iter().find(|(m, _)| m == "meeting_flag").expect("kì folds alike");
    assert!(found[0].1 > flag.1 * 1.5, "{found:?}");
    assert_eq!(scores(&index, "kỹ thuật"), found);
}

#[test]
fn nfd_variants_behave_like_nfc() {
    let index = variants();
    for text in ["hoà", "thuỷ lợi", "kĩ thuật", "\"hoà bình\""] {
        let nfd: String = text.nfd().collect();
        assert_ne!(nfd, text);
        assert_eq!(scores(&index, &nfd), scores(&index, text), "{text}");
    }
}

#[test]
fn a_variant_phrase_stays_a_phrase() {
    let index = variants();
    let found: Vec<String> = scores(&index, "\"hoà bình\"").into_iter().map(|(m, _)| m).collect();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.contains(&"meeting_old".into()) && found.contains(&"meeting_new".into()));
    // "Bình yên, rồi hòa": both words, neither in order nor adjacent.
    assert!(!found.contains(&"meeting_apart".into()), "{found:?}");
    let r = index.search(&query("\"hòa bình\"")).unwrap();
    let new = r.meetings.iter().find(|m| m.meeting == "meeting_new").unwrap();
    assert!(new.hits[0].snippet.contains("<b>hoà</b> <b>bình</b>"), "the text as spoken: {}", new.hits[0].snippet);
}

#[test]
fn glides_are_never_folded() {
    let index = variants();
    let tuy: Vec<String> = scores(&index, "tuy").into_iter().map(|(m, _)| m).collect();
    assert_eq!(tuy, vec!["meeting_though"]);
    let tui: Vec<String> = scores(&index, "tui").into_iter().map(|(m, _)| m).collect();
    assert_eq!(tui, vec!["meeting_bag"]);
}

#[test]
fn a_long_phrase_needs_its_words_in_a_row() {
    let index = Index::in_ram().unwrap();
    let d = datetime!(2026-03-02 08:00 +7);
    let lines = |t: &str| vec![seg(0, t)];
    index
        .put_all(&[
            rec("row", CELL_A, "regular", d, lines("Giữ vững hoà bình ổn định lâu dài.")),
            rec("apart", CELL_A, "regular", d, lines("Hòa bình và bình ổn định giá cả.")),
            rec("gap", CELL_B, "regular", d, lines("Hòa bình, rồi ổn định.")),
        ])
        .unwrap();
    let found = |text: &str| -> Vec<String> {
        let mut m = meetings(&index, &query(text));
        m.sort();
        m
    };
    // Every pair of the phrase is in "apart", but not one after the other.
    assert_eq!(found("\"hòa bình ổn định\""), vec!["meeting_row"]);
    assert_eq!(found("\"hoa binh on dinh\""), vec!["meeting_row"]);
    assert_eq!(found("\"bình ổn định\""), vec!["meeting_apart", "meeting_row"]);
    // Punctuation does not break a phrase (tokens only), and a slop still works.
    assert_eq!(found("\"hòa bình rồi\""), vec!["meeting_gap"]);
    assert_eq!(found("\"hòa ổn\"~1"), vec!["meeting_row"]);
    assert_eq!(found("\"bình định\"~1"), vec!["meeting_apart", "meeting_row"]);
}
