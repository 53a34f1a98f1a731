//! Complete result lists: the total, and every matching meeting exactly once
//! across pages, in each order, within a scope; bad cursors refused.

#![allow(clippy::unwrap_used)] // tests and benches may: a panic is their failure report

use search::{Index, Query, Recording, Scope, SearchError, Segment, Sort, Total, MAX_LIMIT};
use std::collections::HashSet;
use time::macros::datetime;

const CELL_A: &str = "/org_bloc/org_base/org_cella";
const CELL_B: &str = "/org_bloc/org_base/org_cellb";

fn seg(stream: &str, start_s: u64, text: &str) -> Segment {
    Segment {
        stream: stream.into(),
        label: stream.into(),
        start_ms: start_s * 1000,
        end_ms: start_s * 1000 + 9000,
        text: text.into(),
    }
}

/// 300 meetings say "nghị quyết": some in many windows and often, most once
/// among long talk about other things; 100 never do. Dates repeat, so that ties
/// are broken by id. Cells alternate in blocks.
fn corpus() -> Index {
    corpus_searched_by(search::default_search_threads())
}

fn corpus_searched_by(threads: usize) -> Index {
    let index = Index::in_ram_with_threads(threads).unwrap();
    let filler = "chúng ta bàn kế hoạch sản xuất kinh doanh của hợp tác xã năm nay";
    let mut recs = Vec::new();
    for n in 0..400u64 {
        let says = n < 300;
        let strong = n % 50 == 0;
        let mut segments = Vec::new();
        for w in 0..12u64 {
            let text = match (says, strong, w) {
                (true, true, _) => "nghị quyết nghị quyết về nghị quyết".to_string(),
                (true, false, 11) => format!("{filler} {filler} rồi nghị quyết"),
                _ => filler.to_string(),
            };
            segments.push(seg("stream_1", w * 10, &text));
        }
        recs.push(Recording {
            recording: format!("rec_{n:04}"),
            meeting: format!("meeting_{n:04}"),
            org_path: if (n / 7) % 2 == 0 { CELL_A } else { CELL_B }.into(),
            kind: "regular".into(),
            date: datetime!(2025-01-01 08:00 +7) + time::Duration::days((n % 90) as i64),
            segments,
        });
        // Several commits: several segments.
        if recs.len() == 130 {
            index.put_all(&recs).unwrap();
            recs.clear();
        }
    }
    index.put_all(&recs).unwrap();
    index
}

fn ask(text: &str, scope: Scope, sort: Sort, limit: usize) -> Query {
    Query { text: text.into(), scope, sort, limit, ..Query::default() }
}

/// Every page of `q`, checking that each comes in order after the one before.
fn all_pages(index: &Index, mut q: Query) -> (Total, Vec<search::MeetingHits>) {
    let mut out: Vec<search::MeetingHits> = Vec::new();
    let mut total = None;
    for _ in 0..100 {
        let r = index.search(&q).unwrap();
        assert!(r.meetings.len() <= q.limit);
        assert_eq!(*total.get_or_insert(r.total), r.total, "the total holds on every page");
        out.extend(r.meetings);
        match r.next {
            Some(next) => q.cursor = Some(next),
            None => return (total.unwrap(), out),
        }
    }
    panic!("more than 100 pages");
}

fn assert_ordered(sort: Sort, got: &[search::MeetingHits]) {
    for pair in got.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let ok = match sort {
            Sort::Relevance => a.score > b.score || (a.score == b.score && a.meeting < b.meeting),
            Sort::Newest => a.date > b.date || (a.date == b.date && a.meeting < b.meeting),
            Sort::Oldest => a.date < b.date || (a.date == b.date && a.meeting < b.meeting),
        };
        assert!(ok, "{sort:?}: {} ({}, {}) before {} ({}, {})", a.meeting, a.score, a.date, b.meeting, b.score, b.date);
    }
}

#[test]
fn three_hundred_meetings_counted_and_paged_once_each_in_every_order() {
    let index = corpus();
    let expected: HashSet<String> = (0..300).map(|n| format!("meeting_{n:04}")).collect();
    for sort in [Sort::Relevance, Sort::Newest, Sort::Oldest] {
        for text in ["nghị quyết", "nghi quyet", "\"nghị quyết\""] {
            let (total, got) = all_pages(&index, ask(text, Scope::All, sort, 100));
            assert_eq!(total, Total { meetings: 300, exact: true }, "{sort:?} {text}");
            let ids: Vec<&str> = got.iter().map(|m| m.meeting.as_str()).collect();
            let unique: HashSet<String> = ids.iter().map(|s| s.to_string()).collect();
            assert_eq!(ids.len(), 300, "{sort:?} {text}: each once");
            assert_eq!(unique, expected, "{sort:?} {text}");
            assert_ordered(sort, &got);
            assert!(got.iter().all(|m| !m.hits.is_empty() && m.hits.len() <= 3));
        }
    }
    // The strong ones lead; a meeting with one weak hit is still there, on the last page.
    let (_, got) = all_pages(&index, ask("nghị quyết", Scope::All, Sort::Relevance, 100));
    let strong: HashSet<String> = (0..300).step_by(50).map(|n| format!("meeting_{n:04}")).collect();
    let first: HashSet<String> = got[..6].iter().map(|m| m.meeting.clone()).collect();
    assert_eq!(first, strong);
    assert_eq!(got[299].hits.len(), 1);
    assert_eq!(got[299].hits[0].at_ms, 110_000, "the moment of the weak hit");
}

/// Segments are searched in parallel: whichever thread finishes first, every
/// page (meetings, scores, hits, snippets) is what one thread finds.
#[test]
fn searching_segments_in_parallel_finds_what_one_thread_finds() {
    let (one, four) = (corpus_searched_by(1), corpus_searched_by(4));
    assert!(one.segments() >= 4, "{} segments", one.segments());
    for sort in [Sort::Relevance, Sort::Newest, Sort::Oldest] {
        for text in ["nghị quyết", "nghi quyet", "\"nghị quyết\"", "kế hoạch", "hợp tác xã nghị"] {
            let (total_one, got_one) = all_pages(&one, ask(text, Scope::All, sort, 23));
            for _ in 0..3 {
                let (total, got) = all_pages(&four, ask(text, Scope::All, sort, 23));
                assert_eq!(total, total_one, "{sort:?} {text}");
                let (a, b) = (serde_json::to_string(&got).unwrap(), serde_json::to_string(&got_one).unwrap());
                assert!(a == b, "{sort:?} {text}: the pages differ");
            }
        }
    }
}

#[test]
fn a_scope_holds_for_the_total_and_every_page() {
    let index = corpus();
    let in_a: HashSet<String> = (0..300).filter(|n| (n / 7) % 2 == 0).map(|n| format!("meeting_{n:04}")).collect();
    for sort in [Sort::Relevance, Sort::Newest, Sort::Oldest] {
        let q = ask("nghị quyết", Scope::Orgs(vec![CELL_A.into()]), sort, 37);
        let (total, got) = all_pages(&index, q);
        assert_eq!(total, Total { meetings: in_a.len(), exact: true });
        let ids: Vec<String> = got.iter().map(|m| m.meeting.clone()).collect();
        assert_eq!(ids.len(), in_a.len());
        assert_eq!(ids.into_iter().collect::<HashSet<_>>(), in_a);
        assert!(
            got.iter().all(|m| m.org_path == CELL_A),
            "{:?}",
            got.iter().map(|m| &m.org_path).collect::<HashSet<_>>()
        );
        assert_ordered(sort, &got);
    }
    let nothing = index.search(&ask("nghị quyết", Scope::Orgs(vec![]), Sort::Newest, 10)).unwrap();
    assert_eq!((nothing.total.meetings, nothing.meetings.len(), nothing.next), (0, 0, None));
}

#[test]
fn a_bad_cursor_is_a_clear_error() {
    let index = corpus();
    let q = ask("nghị quyết", Scope::Orgs(vec![CELL_A.into()]), Sort::Relevance, 10);
    let next = index.search(&q).unwrap().next.unwrap();
    let with = |q: &Query, cursor: &str| index.search(&Query { cursor: Some(cursor.into()), ..q.clone() });
    assert!(with(&q, &next).is_ok());
    let mut bad: Vec<String> = vec![String::new(), "abc".into(), "é".repeat(40), next[..next.len() - 2].into()];
    for i in (0..next.len()).step_by(5) {
        let mut c: Vec<char> = next.chars().collect();
        c[i] = if c[i] == 'A' { 'B' } else { 'A' };
        bad.push(c.into_iter().collect());
    }
    for cursor in &bad {
        assert!(matches!(with(&q, cursor), Err(SearchError::Cursor(_))), "{cursor:?}");
    }
    // Valid, but for another search: words, scope, filter or order.
    let others = [
        Query { text: "hợp tác xã".into(), ..q.clone() },
        Query { scope: Scope::Orgs(vec![CELL_B.into()]), ..q.clone() },
        Query { scope: Scope::All, ..q.clone() },
        Query { kind: Some("thematic".into()), ..q.clone() },
        Query { sort: Sort::Newest, ..q.clone() },
    ];
    for other in &others {
        assert!(matches!(with(other, &next), Err(SearchError::Cursor(_))), "{other:?}");
    }
    // And another index (or the same after a restart) does not know it.
    let restarted = corpus();
    let r = restarted.search(&Query { cursor: Some(next), ..q });
    assert!(matches!(r, Err(SearchError::Cursor(_))));
}

#[test]
fn limits_are_kept_within_one_and_a_hundred() {
    let index = corpus();
    let one = index.search(&ask("nghị quyết", Scope::All, Sort::Newest, 0)).unwrap();
    assert_eq!(one.meetings.len(), 1);
    let many = index.search(&ask("nghị quyết", Scope::All, Sort::Newest, 10_000)).unwrap();
    assert_eq!(many.meetings.len(), MAX_LIMIT);
}

#[test]
fn past_the_bound_the_total_says_more_than() {
    let index = Index::in_ram().unwrap();
    let n = search::TOTAL_BOUND + 5;
    let recs: Vec<Recording> = (0..n)
        .map(|i| Recording {
            recording: format!("rec_{i:06}"),
            meeting: format!("meeting_{i:06}"),
            org_path: CELL_A.into(),
            kind: "regular".into(),
            date: datetime!(2025-01-01 08:00 +7),
            segments: vec![seg("s", 0, "biểu quyết")],
        })
        .collect();
    index.put_all(&recs).unwrap();
    let r = index.search(&ask("biểu", Scope::All, Sort::Relevance, 5)).unwrap();
    assert_eq!(r.total, Total { meetings: search::TOTAL_BOUND, exact: false });
    // Date orders, and queries that score every match anyway (several words,
    // phrases, filters), visit every meeting: they say how many exactly.
    let r = index.search(&ask("biểu", Scope::All, Sort::Oldest, 5)).unwrap();
    assert_eq!(r.total, Total { meetings: n, exact: true });
    let r = index.search(&ask("biểu quyết", Scope::All, Sort::Relevance, 5)).unwrap();
    assert_eq!(r.total, Total { meetings: n, exact: true });
}
