//! Windows grouped by meeting: counting, ranking and finding each meeting's best
//! windows, without a fixed pool of top windows.
//!
//! What it is: three passes over the query's matches, each using the runs of
//! [`crate::runs`]:
//! - [`matching_meetings`]: every matching meeting, visiting one matching window
//!   per meeting run and seeking past the rest (counts, date order);
//! - [`top_meetings`]: the best `depth` meetings by their best window's score,
//!   with the threshold pruning tantivy uses for top documents (block-max WAND
//!   for plain word queries): a window below the `depth`-th best meeting cannot
//!   change which meetings lead, since a meeting scores its best window;
//! - [`all_meetings_ranked`]: every matching meeting with its score, in one
//!   pass, for the queries tantivy cannot prune (phrases, several words,
//!   filters), where counting separately would pay for the matching twice;
//! - [`best_windows`]: the best windows of a few chosen meetings, scoring only
//!   their runs.
//!
//! Each pass runs segment by segment on the index's search threads (tantivy's
//! executor), and merges the segments' results in segment order with total
//! orders (score, then meeting or document), so a result never depends on
//! which thread finished first.
//!
//! What it is not: aware of scopes or filters. They are clauses of the query
//! whose weight these passes run, so every pass and every page sees the same
//! set of windows.

use crate::runs::Runs;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;
use tantivy::query::Weight;
use tantivy::{DocAddress, DocId, DocSet, Score, Searcher, SegmentReader, TERMINATED};

/// A meeting that matched: its id, its date, and its best score when known.
#[derive(Debug, Clone)]
pub(crate) struct Matched {
    pub meeting: Arc<str>,
    pub date: i64,
    pub score: Score,
    /// Its best windows, best first, when the pass that found it scored them
    /// all ([`all_meetings_ranked`]); empty otherwise.
    pub windows: Vec<(Score, DocAddress)>,
}

/// Every matching meeting, once, or more than `bound` of them when there are
/// more. Visits one matching window per run.
pub(crate) fn matching_meetings(
    searcher: &Searcher,
    runs: &[Arc<Runs>],
    weight: &dyn Weight,
    bound: Option<usize>,
) -> tantivy::Result<Vec<Matched>> {
    let per_segment = per_segment(searcher, runs, |_, reader, runs| segment_matching(reader, runs, weight, bound))?;
    let mut found: HashMap<Arc<str>, Matched> = HashMap::new();
    for m in per_segment.into_iter().flatten() {
        found.entry(m.meeting.clone()).or_insert(m);
        if bound.is_some_and(|b| found.len() > b) {
            break;
        }
    }
    Ok(found.into_values().collect())
}

/// One segment's matching meetings; more than `bound` of them is enough to
/// tell that the whole index has more.
fn segment_matching(
    reader: &SegmentReader,
    runs: &Runs,
    weight: &dyn Weight,
    bound: Option<usize>,
) -> tantivy::Result<Vec<Matched>> {
    let mut found: HashMap<Arc<str>, Matched> = HashMap::new();
    let alive = reader.alive_bitset();
    let mut scorer = weight.scorer(reader, 1.0)?;
    let mut doc = scorer.doc();
    while doc != TERMINATED {
        if alive.is_some_and(|a| a.is_deleted(doc)) {
            doc = scorer.advance();
            continue;
        }
        let run = runs.run_of(doc);
        let meeting = runs.meeting(run);
        if !found.contains_key(meeting) {
            let date = runs.date(run);
            found.insert(meeting.clone(), Matched { meeting: meeting.clone(), date, score: 0.0, windows: Vec::new() });
            if bound.is_some_and(|b| found.len() > b) {
                break;
            }
        }
        let end = runs.end(run);
        doc = if end >= reader.max_doc() { TERMINATED } else { scorer.seek(end) };
    }
    Ok(found.into_values().collect())
}

/// Runs `pass` over every segment (its ordinal, reader and runs), spread over
/// the index's search threads; the results in segment order.
fn per_segment<R, F>(searcher: &Searcher, runs: &[Arc<Runs>], pass: F) -> tantivy::Result<Vec<R>>
where
    R: Send,
    F: Fn(u32, &SegmentReader, &Runs) -> tantivy::Result<R> + Sync,
{
    let segments = searcher.segment_readers().iter().zip(runs).enumerate();
    searcher.index().search_executor().map(|(i, (reader, runs))| pass(i as u32, reader, runs), segments)
}

/// Relevance order: best score first, then meeting id.
pub(crate) fn by_relevance(a: &Matched, b: &Matched) -> Ordering {
    b.score.total_cmp(&a.score).then_with(|| a.meeting.cmp(&b.meeting))
}

/// Every matching meeting with its best window's score, best first: one pass
/// that scores every match. For queries tantivy cannot prune anyway (phrases,
/// several words, filters) this ranks and counts at the cost of one.
pub(crate) fn all_meetings_ranked(
    searcher: &Searcher,
    runs: &[Arc<Runs>],
    weight: &dyn Weight,
    per_meeting: usize,
) -> tantivy::Result<Vec<Matched>> {
    let per_segment = per_segment(searcher, runs, |segment, reader, runs| {
        segment_ranked(segment, reader, runs, weight, per_meeting)
    })?;
    let mut best: HashMap<Arc<str>, Matched> = HashMap::new();
    for m in per_segment.into_iter().flatten() {
        keep_max(&mut best, m, per_meeting);
    }
    let mut ranked: Vec<Matched> = best.into_values().collect();
    ranked.sort_by(by_relevance);
    Ok(ranked)
}

/// One segment's matching meetings, each with its best windows.
fn segment_ranked(
    segment: u32,
    reader: &SegmentReader,
    runs: &Runs,
    weight: &dyn Weight,
    per_meeting: usize,
) -> tantivy::Result<Vec<Matched>> {
    let mut best: HashMap<Arc<str>, Matched> = HashMap::new();
    let alive = reader.alive_bitset();
    let mut scorer = weight.scorer(reader, 1.0)?;
    let mut doc = scorer.doc();
    let mut current: Option<(DocId, Matched)> = None;
    while doc != TERMINATED {
        if !alive.is_some_and(|a| a.is_deleted(doc)) {
            let hit = (scorer.score(), DocAddress::new(segment, doc));
            match &mut current {
                Some((end, m)) if doc < *end => add_window(m, hit, per_meeting),
                _ => {
                    if let Some((_, done)) = current.take() {
                        keep_max(&mut best, done, per_meeting);
                    }
                    let run = runs.run_of(doc);
                    let found = Matched {
                        meeting: runs.meeting(run).clone(),
                        date: runs.date(run),
                        score: hit.0,
                        windows: vec![hit],
                    };
                    current = Some((runs.end(run), found));
                }
            }
        }
        doc = scorer.advance();
    }
    if let Some((_, done)) = current {
        keep_max(&mut best, done, per_meeting);
    }
    Ok(best.into_values().collect())
}

/// Keeps a meeting's `per_meeting` best windows, best first (then in document
/// order), and its score the best of them.
fn add_window(m: &mut Matched, hit: (Score, DocAddress), per_meeting: usize) {
    m.score = m.score.max(hit.0);
    let at = m.windows.partition_point(|w| by_window(w, &hit) == Ordering::Less);
    if at < per_meeting {
        m.windows.insert(at, hit);
        m.windows.truncate(per_meeting);
    }
}

fn by_window(a: &(Score, DocAddress), b: &(Score, DocAddress)) -> Ordering {
    b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1))
}

fn keep_max(best: &mut HashMap<Arc<str>, Matched>, m: Matched, per_meeting: usize) {
    match best.get_mut(&m.meeting) {
        Some(known) => {
            for hit in m.windows {
                add_window(known, hit, per_meeting);
            }
        }
        None => {
            best.insert(m.meeting.clone(), m);
        }
    }
}

/// The `depth` best meetings by their best window's score, best first.
pub(crate) fn top_meetings(
    searcher: &Searcher,
    runs: &[Arc<Runs>],
    weight: &dyn Weight,
    depth: usize,
) -> tantivy::Result<Vec<Matched>> {
    let per_segment = per_segment(searcher, runs, |_, reader, runs| segment_top(reader, runs, weight, depth))?;
    let mut best: HashMap<Arc<str>, Matched> = HashMap::new();
    for segment in per_segment {
        for m in segment {
            match best.get_mut(&m.meeting) {
                Some(known) if known.score >= m.score => {}
                Some(known) => known.score = m.score,
                None => {
                    best.insert(m.meeting.clone(), m);
                }
            }
        }
    }
    let mut ranked: Vec<Matched> = best.into_values().collect();
    ranked.sort_by(by_relevance);
    ranked.truncate(depth);
    Ok(ranked)
}

/// One segment's best meetings. A meeting best in the whole index is among the
/// best of the segment holding its best window, so merging per-segment lists is
/// exact even for a meeting spread over segments.
fn segment_top(
    reader: &SegmentReader,
    runs: &Runs,
    weight: &dyn Weight,
    depth: usize,
) -> tantivy::Result<Vec<Matched>> {
    let alive = reader.alive_bitset();
    let mut best: HashMap<usize, Matched> = HashMap::new();
    let mut threshold = Score::MIN;
    // Matches come in document order: most fall in the run of the one before.
    let mut current: (DocId, DocId, usize) = (0, 0, 0);
    weight.for_each_pruning(Score::MIN, reader, &mut |doc: DocId, score: Score| {
        if alive.is_some_and(|a| a.is_deleted(doc)) {
            return threshold;
        }
        if !(current.0..current.1).contains(&doc) {
            let run = runs.run_of(doc);
            // Keyed by the meeting's first run in this segment, so that a
            // meeting split in two runs is still one entry.
            let key = runs.of_meeting(runs.meeting(run)).first().copied().unwrap_or(run);
            current = (runs.start(run), runs.end(run), key);
        }
        let key = current.2;
        let entry = best.entry(key).or_insert_with(|| Matched {
            meeting: runs.meeting(key).clone(),
            date: runs.date(key),
            score,
            windows: Vec::new(),
        });
        entry.score = entry.score.max(score);
        if best.len() >= 2 * depth.max(1) {
            threshold = keep_best(&mut best, depth);
        }
        threshold
    })?;
    keep_best(&mut best, depth);
    Ok(best.into_values().collect())
}

/// Drops all but the `depth` best entries; returns the pruning threshold: just
/// below the last kept score, so that a tie with it (which the id may decide)
/// is still seen.
fn keep_best(best: &mut HashMap<usize, Matched>, depth: usize) -> Score {
    if best.len() <= depth {
        return Score::MIN;
    }
    let mut all: Vec<(usize, Matched)> = best.drain().collect();
    all.sort_by(|a, b| by_relevance(&a.1, &b.1));
    all.truncate(depth);
    let last = all.last().map_or(Score::MIN, |(_, m)| m.score);
    best.extend(all);
    just_below(last)
}

/// The largest score below `x` (`f32::next_down`, which needs Rust 1.86).
fn just_below(x: Score) -> Score {
    if x.is_nan() || x == Score::NEG_INFINITY {
        return x;
    }
    if x == 0.0 {
        return -Score::from_bits(1);
    }
    let bits = x.to_bits();
    Score::from_bits(if x > 0.0 { bits - 1 } else { bits + 1 })
}

/// Up to `per_meeting` best windows of each meeting in `meetings`, best first
/// (scores then document order), scoring only those meetings' runs.
pub(crate) fn best_windows(
    searcher: &Searcher,
    runs: &[Arc<Runs>],
    weight: &dyn Weight,
    meetings: &[Arc<str>],
    per_meeting: usize,
) -> tantivy::Result<Vec<Vec<(Score, DocAddress)>>> {
    let per_segment =
        per_segment(searcher, runs, |segment, reader, runs| segment_windows(segment, reader, runs, weight, meetings))?;
    let mut out: Vec<Vec<(Score, DocAddress)>> = vec![Vec::new(); meetings.len()];
    for (i, hit) in per_segment.into_iter().flatten() {
        out[i].push(hit);
    }
    for windows in &mut out {
        windows.sort_by(by_window);
        windows.truncate(per_meeting);
    }
    Ok(out)
}

/// Every matching window of `meetings` in one segment, with the index of its
/// meeting.
fn segment_windows(
    segment: u32,
    reader: &SegmentReader,
    runs: &Runs,
    weight: &dyn Weight,
    meetings: &[Arc<str>],
) -> tantivy::Result<Vec<(usize, (Score, DocAddress))>> {
    let mut targets: Vec<(usize, usize)> = Vec::new();
    for (i, m) in meetings.iter().enumerate() {
        targets.extend(runs.of_meeting(m).iter().map(|&run| (run, i)));
    }
    let mut out = Vec::new();
    if targets.is_empty() {
        return Ok(out);
    }
    targets.sort_unstable();
    let alive = reader.alive_bitset();
    let mut scorer = weight.scorer(reader, 1.0)?;
    for (run, i) in targets {
        let (start, end) = (runs.start(run), runs.end(run));
        let mut doc = scorer.doc();
        if doc < start {
            doc = scorer.seek(start);
        }
        while doc < end {
            if !alive.is_some_and(|a| a.is_deleted(doc)) {
                out.push((i, (scorer.score(), DocAddress::new(segment, doc))));
            }
            doc = scorer.advance();
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn just_below_is_the_next_float_down() {
        for x in [1.0f32, 0.5, 3.75e-3, 1e30, -2.0] {
            let y = just_below(x);
            assert!(y < x, "{x} {y}");
            let between = (x as f64 + y as f64) / 2.0;
            assert!(between as f32 == x || between as f32 == y, "nothing between {y} and {x}");
        }
        assert!(just_below(0.0) < 0.0);
    }
}
