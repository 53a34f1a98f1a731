//! Searching: scoped queries, every matching meeting counted, pages in three
//! orders, and the moment and excerpt of each hit.
//!
//! A search runs up to three passes ([`crate::grouping`]) on one searcher: the
//! matching meetings (the total; every meeting, for the date orders), the best
//! meetings by score (relevance), and the best windows of the page's meetings.
//! Where tantivy cannot prune by score anyway (phrases, several words, filters),
//! the first two are one pass that scores every match. Stored documents are read
//! only for the hits returned.
//!
//! What it is not: an access check. The caller turns a user's rights into a
//! [`Scope`]; it is a required clause of the query itself, so the total and every
//! page see only what the scope allows.

use crate::analyzer::{normalize, PAIR_JOINER};
use crate::cursor::Position;
use crate::grouping::{all_meetings_ranked, best_windows, by_relevance, matching_meetings, top_meetings, Matched};
use crate::index::{Index, SearchError};
use crate::window::Window;
use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::Arc;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, EnableScoring, Occur, PhraseQuery, Query as _, QueryParser, RangeQuery,
    TermQuery, Weight,
};
use tantivy::schema::{Facet, Field, IndexRecordOption, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{DateTime, DocAddress, Score, Searcher, TantivyDocument, Term};

type BoxQuery = Box<dyn tantivy::query::Query>;

/// Meetings per page, at most.
pub const MAX_LIMIT: usize = 100;
/// Where a single word is pruned by score, its total is counted up to this many
/// meetings; past it, "more than" this. (Counting visits one window per meeting:
/// at 10,000 hours, counting all 5,000 meetings of a common word cost as much as
/// ranking them.) Everything else is counted exactly.
pub const TOTAL_BOUND: usize = 1_000;
pub const HITS_PER_MEETING: usize = 3;
const SNIPPET_CHARS: usize = 180;
/// Larger than any window's text, so that snippets cover the whole window.
const WHOLE_WINDOW: usize = 1 << 20;

/// Whose meetings a query may touch.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Every org (admins).
    All,
    /// These org subtrees (paths `/bloc/base/cell`); empty means nothing.
    Orgs(Vec<String>),
}

/// The order of meetings in the results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Best window's score first; ties by meeting id.
    #[default]
    Relevance,
    /// Meeting date, newest first; ties by meeting id.
    Newest,
    /// Meeting date, oldest first; ties by meeting id.
    Oldest,
}

/// One search.
#[derive(Debug, Clone)]
pub struct Query {
    /// Free words and "quoted phrases"; tantivy syntax otherwise, parsed leniently.
    pub text: String,
    pub scope: Scope,
    /// Narrows within the scope (an org subtree path).
    pub org: Option<String>,
    pub kind: Option<String>,
    /// Meeting date range, `from` inclusive, `to` exclusive.
    pub from: Option<time::OffsetDateTime>,
    pub to: Option<time::OffsetDateTime>,
    /// Meetings per page (1 to [`MAX_LIMIT`]), each with up to
    /// [`HITS_PER_MEETING`] hits.
    pub limit: usize,
    pub sort: Sort,
    /// [`Results::next`] of the previous page of the same search.
    pub cursor: Option<String>,
}

impl Default for Query {
    /// No words, and a scope that sees nothing: a caller states both.
    fn default() -> Query {
        Query {
            text: String::new(),
            scope: Scope::Orgs(Vec::new()),
            org: None,
            kind: None,
            from: None,
            to: None,
            limit: 20,
            sort: Sort::Relevance,
            cursor: None,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Hit {
    pub stream: String,
    pub label: String,
    /// Where the first match was spoken, in ms from the stream's start.
    pub at_ms: u64,
    pub start_ms: u64,
    pub end_ms: u64,
    /// HTML with `<b>` around the matches; everything else escaped.
    pub snippet: String,
    pub score: f32,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct MeetingHits {
    pub meeting: String,
    pub recording: String,
    pub org_path: String,
    pub kind: String,
    #[serde(with = "time::serde::rfc3339")]
    pub date: time::OffsetDateTime,
    /// Its best window's score.
    pub score: f32,
    pub hits: Vec<Hit>,
}

/// How many meetings match the whole search (not the page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Total {
    pub meetings: usize,
    /// False when counting stopped at [`TOTAL_BOUND`]: "more than `meetings`".
    pub exact: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Results {
    pub meetings: Vec<MeetingHits>,
    pub total: Total,
    /// The cursor of the next page; `None` on the last one.
    pub next: Option<String>,
}

impl Results {
    fn empty() -> Results {
        Results { meetings: Vec::new(), total: Total { meetings: 0, exact: true }, next: None }
    }
}

/// Exact words (and pairs) weigh more than their folded forms.
const EXACT_BOOST: Score = 3.0;

/// What [`Index::rewrite`] made of a part of the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// One term.
    Term,
    /// A disjunction of terms only: tantivy prunes it with block-max WAND.
    TermUnion,
    Other,
}

/// A query as built: the words as parsed (for snippets: the terms to
/// highlight), and the query as run.
struct Built {
    snippets: BoxQuery,
    /// What ranks: the union where tantivy prunes it, else the driven form.
    query: BoxQuery,
    /// What selects, unscored: counts and date orders.
    matching: BoxQuery,
    prunable: bool,
}

/// One part of a query in the three forms a search runs (see [`Index::twins`]).
struct Rewritten {
    /// `exact OR folded`: what block-max WAND prunes.
    union: BoxQuery,
    /// `folded, and exact if present`: the same matches and scores, one posting
    /// list walked.
    driven: BoxQuery,
    /// `folded`: the same matches, for passes that do not score.
    matching: BoxQuery,
    shape: Shape,
}

impl Rewritten {
    fn same(query: BoxQuery, shape: Shape) -> Rewritten {
        Rewritten { union: query.box_clone(), driven: query.box_clone(), matching: query, shape }
    }
}

/// The weights a search runs: scoring (ranks, hits) and not (counts, dates).
struct Plan {
    text: BoxQuery,
    /// Whether tantivy prunes it by score (see [`Shape::TermUnion`]).
    prunable: bool,
    scored: Box<dyn Weight>,
    unscored: Box<dyn Weight>,
}

impl Index {
    pub fn search(&self, q: &Query) -> Result<Results, SearchError> {
        let searcher = self.reader.searcher();
        let text = normalize(q.text.trim());
        let Some(built) = self.build(q, &text)? else {
            return Ok(Results::empty());
        };
        let search_id = fingerprint(q, &text);
        let after = match &q.cursor {
            Some(c) => Some(self.cursors.open(&search_id, c)?),
            None => None,
        };
        let fail = |e| self.fail(e);
        let plan = Plan {
            prunable: built.prunable,
            text: built.snippets,
            scored: built.query.weight(EnableScoring::enabled_from_searcher(&searcher)).map_err(fail)?,
            unscored: built.matching.weight(EnableScoring::disabled_from_searcher(&searcher)).map_err(fail)?,
        };
        let limit = q.limit.clamp(1, MAX_LIMIT);
        let (total, mut page) = match q.sort {
            Sort::Relevance => self.by_relevance(&searcher, &plan, after.as_ref(), limit)?,
            sort => self.by_date(&searcher, &plan, sort, after.as_ref(), limit)?,
        };
        let more = page.len() > limit;
        page.truncate(limit);
        let next = match page.last() {
            Some(last) if more => {
                let seen = after.as_ref().map_or(0, |p| p.seen) + limit as u32;
                Some(self.cursors.seal(&search_id, &position(q.sort, seen, last)))
            }
            _ => None,
        };
        let meetings = self.hits(&searcher, &plan, q.sort, page)?;
        Ok(Results { meetings, total, next })
    }

    /// The total (bounded), and the page after `after` plus one meeting (to tell
    /// whether another page follows).
    fn by_relevance(
        &self,
        searcher: &Searcher,
        plan: &Plan,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<(Total, Vec<Matched>), SearchError> {
        let runs = self.runs.for_searcher(searcher).map_err(|e| self.fail(e))?;
        if !plan.prunable {
            let ranked =
                all_meetings_ranked(searcher, &runs, &*plan.scored, HITS_PER_MEETING).map_err(|e| self.fail(e))?;
            let total = Total { meetings: ranked.len(), exact: true };
            return Ok((total, page_after(ranked, after, limit)));
        }
        let counted =
            matching_meetings(searcher, &runs, &*plan.unscored, Some(TOTAL_BOUND)).map_err(|e| self.fail(e))?;
        let total = if counted.len() > TOTAL_BOUND {
            Total { meetings: TOTAL_BOUND, exact: false }
        } else {
            Total { meetings: counted.len(), exact: true }
        };
        // Ranks before the cursor are ranked again: the page is the meetings
        // after it among the best `seen + limit + 1`. Deeper only if the index
        // changed since and the cursor's meeting moved down.
        let mut depth = after.map_or(0, |p| p.seen as usize) + limit + 1;
        loop {
            let ranked = top_meetings(searcher, &runs, &*plan.scored, depth).map_err(|e| self.fail(e))?;
            let exhausted = ranked.len() < depth;
            let page = page_after(ranked, after, limit);
            if page.len() > limit || exhausted {
                return Ok((total, page));
            }
            depth *= 2;
        }
    }

    fn by_date(
        &self,
        searcher: &Searcher,
        plan: &Plan,
        sort: Sort,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<(Total, Vec<Matched>), SearchError> {
        let runs = self.runs.for_searcher(searcher).map_err(|e| self.fail(e))?;
        let mut all = matching_meetings(searcher, &runs, &*plan.unscored, None).map_err(|e| self.fail(e))?;
        let total = Total { meetings: all.len(), exact: true };
        let order = |a: &Matched, b: &Matched| {
            let by_date = if sort == Sort::Oldest { a.date.cmp(&b.date) } else { b.date.cmp(&a.date) };
            by_date.then_with(|| a.meeting.cmp(&b.meeting))
        };
        if let Some(p) = after {
            let last = Matched { meeting: Arc::from(p.meeting.as_str()), date: p.key, score: 0.0, windows: Vec::new() };
            all.retain(|m| order(m, &last) == Ordering::Greater);
        }
        if all.len() > limit + 1 {
            all.select_nth_unstable_by(limit, order);
            all.truncate(limit + 1);
        }
        all.sort_by(order);
        Ok((total, all))
    }

    /// The page's meetings with their best windows, snippets and moments.
    fn hits(
        &self,
        searcher: &Searcher,
        plan: &Plan,
        sort: Sort,
        page: Vec<Matched>,
    ) -> Result<Vec<MeetingHits>, SearchError> {
        let fail = |e| self.fail(e);
        // The ranking pass may have kept each meeting's best windows already.
        let windows: Vec<Vec<(Score, DocAddress)>> = if page.iter().all(|m| !m.windows.is_empty()) {
            page.iter().map(|m| m.windows.clone()).collect()
        } else {
            let runs = self.runs.for_searcher(searcher).map_err(fail)?;
            let names: Vec<Arc<str>> = page.iter().map(|m| m.meeting.clone()).collect();
            best_windows(searcher, &runs, &*plan.scored, &names, HITS_PER_MEETING).map_err(fail)?
        };
        let f = self.fields;
        let mut exact = SnippetGenerator::create(searcher, &*plan.text, f.text_exact).map_err(fail)?;
        let mut folded = SnippetGenerator::create(searcher, &*plan.text, f.text_folded).map_err(fail)?;
        exact.set_max_num_chars(WHOLE_WINDOW);
        folded.set_max_num_chars(WHOLE_WINDOW);
        // Reading and highlighting the page's windows is per meeting: spread
        // over the search threads like the passes that chose them.
        let one = |(m, windows): (&Matched, Vec<(Score, DocAddress)>)| -> tantivy::Result<Option<MeetingHits>> {
            let Some(&(best, first)) = windows.first() else {
                return Ok(None);
            };
            let doc: TantivyDocument = searcher.doc(first)?;
            let score = if sort == Sort::Relevance { m.score } else { best };
            let mut meeting = self.meeting_of(&doc, score);
            meeting.hits.push(self.hit(&doc, best, &exact, &folded));
            for &(score, addr) in &windows[1..] {
                let doc: TantivyDocument = searcher.doc(addr)?;
                meeting.hits.push(self.hit(&doc, score, &exact, &folded));
            }
            meeting.hits.sort_by(|a, b| (&a.stream, a.at_ms).cmp(&(&b.stream, b.at_ms)));
            meeting.hits.dedup_by(|b, a| a.stream == b.stream && a.at_ms == b.at_ms);
            Ok(Some(meeting))
        };
        let meetings = searcher.index().search_executor().map(one, page.iter().zip(windows)).map_err(fail)?;
        Ok(meetings.into_iter().flatten().collect())
    }

    /// The query as run, or `None` when there is no text to search for.
    fn build(&self, q: &Query, text: &str) -> Result<Option<Built>, SearchError> {
        if text.is_empty() {
            return Ok(None);
        }
        let f = self.fields;
        let parsed = self.parse(text);
        // A phrase with a slop ("a b"~2) needs the words' positions, not pairs.
        let words = self.rewrite(&*parsed, !text.contains('~'));
        let mut filters: Vec<BoxQuery> = Vec::new();
        // Filters select, they do not rank: constant score 0.
        let mut filter = |query: BoxQuery| filters.push(Box::new(ConstScoreQuery::new(query, 0.0)));
        if let Scope::Orgs(paths) = &q.scope {
            filter(self.scope_query(paths)?);
        }
        if let Some(org) = &q.org {
            filter(self.org_query(org)?);
        }
        if let Some(kind) = &q.kind {
            let term = Term::from_field_text(f.kind, kind);
            filter(Box::new(TermQuery::new(term, IndexRecordOption::Basic)));
        }
        if q.from.is_some() || q.to.is_some() {
            let term = |t: &time::OffsetDateTime| {
                Term::from_field_date(f.date, DateTime::from_timestamp_secs(t.unix_timestamp()))
            };
            let lower = q.from.as_ref().map_or(Bound::Unbounded, |t| Bound::Included(term(t)));
            let upper = q.to.as_ref().map_or(Bound::Unbounded, |t| Bound::Excluded(term(t)));
            filter(Box::new(RangeQuery::new(lower, upper)));
        }
        // The text query alone, unwrapped, lets tantivy prune with block-max WAND
        // (a word, or a two-word phrase, is a disjunction of exact and folded terms).
        let prunable = filters.is_empty() && words.shape == Shape::TermUnion;
        let with_filters = |words: BoxQuery| -> BoxQuery {
            if filters.is_empty() {
                return words;
            }
            let mut must = vec![(Occur::Must, words)];
            must.extend(filters.iter().map(|q| (Occur::Must, q.box_clone())));
            Box::new(BooleanQuery::new(must))
        };
        let query = with_filters(if prunable { words.union } else { words.driven });
        let matching = with_filters(words.matching);
        Ok(Some(Built { snippets: parsed, query, matching, prunable }))
    }

    /// The words over both text fields, every word required, bad syntax taken
    /// leniently.
    fn parse(&self, text: &str) -> BoxQuery {
        let f = self.fields;
        let mut parser = QueryParser::for_index(&self.index, vec![f.text_exact, f.text_folded]);
        parser.set_conjunction_by_default();
        parser.parse_query_lenient(text).0
    }

    /// The parsed words as searched: exact terms boosted ×3 over folded ones, and
    /// (with `pairs`) each phrase of n words as n − 1 consecutive pairs on the pair
    /// fields, which are rare where the words themselves are common. Returns the
    /// three forms of [`Rewritten`].
    fn rewrite(&self, parsed: &dyn tantivy::query::Query, pairs: bool) -> Rewritten {
        if let Some(b) = parsed.downcast_ref::<BooleanQuery>() {
            let parts: Vec<(Occur, Rewritten)> =
                b.clauses().iter().map(|(o, c)| (*o, self.rewrite(&**c, pairs))).collect();
            if let Some(twins) = self.twins(b, pairs) {
                return twins(parts);
            }
            let union = !parts.is_empty() && parts.iter().all(|(o, r)| *o == Occur::Should && r.shape == Shape::Term);
            let shape = if union { Shape::TermUnion } else { Shape::Other };
            let form = |pick: fn(&Rewritten) -> BoxQuery| -> BoxQuery {
                Box::new(BooleanQuery::new(parts.iter().map(|(o, r)| (*o, pick(r))).collect()))
            };
            return Rewritten {
                union: form(|r| r.union.box_clone()),
                driven: form(|r| r.driven.box_clone()),
                matching: form(|r| r.matching.box_clone()),
                shape,
            };
        }
        let (query, shape) = self.rewrite_leaf(parsed, pairs);
        Rewritten::same(query, shape)
    }

    /// A word or phrase on one field, as searched.
    fn rewrite_leaf(&self, parsed: &dyn tantivy::query::Query, pairs: bool) -> (BoxQuery, Shape) {
        let f = self.fields;
        let boost = |field: Field, query: BoxQuery| -> BoxQuery {
            match field == f.text_exact || field == f.pairs_exact {
                true => Box::new(BoostQuery::new(query, EXACT_BOOST)),
                false => query,
            }
        };
        if let Some(t) = parsed.downcast_ref::<TermQuery>() {
            return (boost(t.term().field(), parsed.box_clone()), Shape::Term);
        }
        if let Some(p) = parsed.downcast_ref::<PhraseQuery>() {
            let field = match p.field() {
                x if x == f.text_exact => f.pairs_exact,
                x if x == f.text_folded => f.pairs_folded,
                _ => return (parsed.box_clone(), Shape::Other),
            };
            let words: Option<Vec<String>> =
                p.phrase_terms().iter().map(|t| t.value().as_str().map(str::to_string)).collect();
            if let (true, Some(words)) = (pairs, words) {
                let pair = |w: &[String]| Term::from_field_text(field, &format!("{}{PAIR_JOINER}{}", w[0], w[1]));
                let terms: Vec<Term> = words.windows(2).map(pair).collect();
                if let [only] = &terms[..] {
                    let term = TermQuery::new(only.clone(), IndexRecordOption::WithFreqs);
                    return (boost(field, Box::new(term)), Shape::Term);
                }
                return (boost(field, Box::new(PhraseQuery::new(terms))), Shape::Other);
            }
            return (boost(p.field(), parsed.box_clone()), Shape::Other);
        }
        (parsed.box_clone(), Shape::Other)
    }

    /// For a word the parser spread over both fields (`exact OR folded`, the
    /// folded one being the exact one folded), the builder of its three forms.
    ///
    /// Why this is exact: the folded analyser is the exact one followed by
    /// ASCII folding, token by token, so wherever the exact word (or pair, or
    /// phrase) occurs, its folded twin occurs at the same positions. The union
    /// therefore matches exactly what the folded twin matches, and scores the
    /// sum of both; "folded, and exact if present" matches and scores the same
    /// while walking one posting list instead of merging two, which the profile
    /// at 10,000 meeting-hours showed to be most of a search's time.
    /// Phrases with a slop are left as they are: their slop cannot be compared.
    #[allow(clippy::type_complexity)]
    fn twins(&self, b: &BooleanQuery, pairs: bool) -> Option<Box<dyn FnOnce(Vec<(Occur, Rewritten)>) -> Rewritten>> {
        let [(Occur::Should, first), (Occur::Should, second)] = b.clauses() else {
            return None;
        };
        let (first, second) = (self.words_of(&**first, pairs)?, self.words_of(&**second, pairs)?);
        let f = self.fields;
        let (exact_at, exact, folded) = match (first.0, second.0) {
            (x, y) if x == f.text_exact && y == f.text_folded => (0, first.1, second.1),
            (x, y) if x == f.text_folded && y == f.text_exact => (1, second.1, first.1),
            _ => return None,
        };
        if exact.len() != folded.len() || exact.iter().zip(&folded).any(|(e, fo)| &self.fold_term(e) != fo) {
            return None;
        }
        Some(Box::new(move |mut parts: Vec<(Occur, Rewritten)>| {
            let exact = parts.remove(exact_at).1;
            let folded = parts.remove(0).1;
            let union = if exact_at == 0 {
                vec![(Occur::Should, exact.union.box_clone()), (Occur::Should, folded.union.box_clone())]
            } else {
                vec![(Occur::Should, folded.union.box_clone()), (Occur::Should, exact.union.box_clone())]
            };
            let shape =
                if exact.shape == Shape::Term && folded.shape == Shape::Term { Shape::TermUnion } else { Shape::Other };
            Rewritten {
                union: Box::new(BooleanQuery::new(union)),
                driven: Box::new(BooleanQuery::new(vec![(Occur::Must, folded.driven), (Occur::Should, exact.driven)])),
                matching: folded.matching,
                shape,
            }
        }))
    }

    /// The field and words of a plain term or phrase (a phrase only where it has
    /// no slop, see [`Index::twins`]).
    fn words_of(&self, q: &dyn tantivy::query::Query, pairs: bool) -> Option<(Field, Vec<String>)> {
        if let Some(t) = q.downcast_ref::<TermQuery>() {
            return Some((t.term().field(), vec![t.term().value().as_str()?.to_string()]));
        }
        let p = q.downcast_ref::<PhraseQuery>().filter(|_| pairs)?;
        let words: Option<Vec<String>> =
            p.phrase_terms().iter().map(|t| t.value().as_str().map(str::to_string)).collect();
        Some((p.field(), words?))
    }

    /// An exact-field word as the folded field holds it.
    fn fold_term(&self, word: &str) -> String {
        let Some(mut analyzer) = self.index.tokenizers().get(crate::analyzer::FOLDED) else {
            return String::new();
        };
        let mut stream = analyzer.token_stream(word);
        let mut out = String::new();
        while stream.advance() {
            out.push_str(&stream.token().text);
        }
        out
    }

    fn scope_query(&self, paths: &[String]) -> Result<BoxQuery, SearchError> {
        let mut any = Vec::new();
        for p in paths {
            any.push((Occur::Should, self.org_query(p)?));
        }
        if any.is_empty() {
            // A BooleanQuery with no clauses matches nothing: an empty scope sees nothing.
            return Ok(Box::new(BooleanQuery::new(Vec::new())));
        }
        Ok(Box::new(BooleanQuery::new(any)))
    }

    /// The subtree under `path`: facets index every ancestor, so one term.
    fn org_query(&self, path: &str) -> Result<BoxQuery, SearchError> {
        let facet = Facet::from_text(path).map_err(|_| SearchError::OrgPath(path.to_string()))?;
        let term = Term::from_facet(self.fields.org, &facet);
        Ok(Box::new(TermQuery::new(term, IndexRecordOption::Basic)))
    }

    fn meeting_of(&self, doc: &TantivyDocument, score: f32) -> MeetingHits {
        let f = self.fields;
        let date = doc.get_first(f.date).and_then(|v| v.as_datetime());
        let date = date.map_or(0, |d| d.into_timestamp_secs());
        // Stored facets come back encoded (segments joined by NUL).
        let org = doc.get_first(f.org).and_then(|v| v.as_facet()).unwrap_or_default();
        let org = Facet::from_encoded(org.as_bytes().to_vec()).map_or_else(|_| String::new(), |f| f.to_path_string());
        MeetingHits {
            meeting: str_of(doc, f.meeting),
            recording: str_of(doc, f.recording),
            org_path: org,
            kind: str_of(doc, f.kind),
            date: time::OffsetDateTime::from_unix_timestamp(date).unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
            score,
            hits: Vec::new(),
        }
    }

    fn hit(&self, doc: &TantivyDocument, score: f32, exact: &SnippetGenerator, folded: &SnippetGenerator) -> Hit {
        let f = self.fields;
        let marks: Vec<(usize, u64)> = serde_json::from_str(&str_of(doc, f.marks)).unwrap_or_default();
        let start_ms = doc.get_first(f.start_ms).and_then(|v| v.as_u64()).unwrap_or(0);
        let window = Window {
            stream: str_of(doc, f.stream),
            label: str_of(doc, f.label),
            start_ms,
            end_ms: doc.get_first(f.end_ms).and_then(|v| v.as_u64()).unwrap_or(start_ms),
            text: str_of(doc, f.text_exact),
            marks,
        };
        let (at_ms, snippet) = first_match(&window, exact, folded).unwrap_or_else(|| {
            let head: String = window.text.chars().take(SNIPPET_CHARS).collect();
            (window.start_ms, escape(&head))
        });
        Hit {
            stream: window.stream,
            label: window.label,
            at_ms,
            start_ms: window.start_ms,
            end_ms: window.end_ms,
            snippet,
            score,
        }
    }
}

fn str_of(doc: &TantivyDocument, field: Field) -> String {
    doc.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_string()
}

/// The meetings ranked after the cursor's, and one more (to tell whether
/// another page follows).
fn page_after(ranked: Vec<Matched>, after: Option<&Position>, limit: usize) -> Vec<Matched> {
    let last = after.map(|p| Matched {
        meeting: Arc::from(p.meeting.as_str()),
        date: 0,
        score: Score::from_bits(p.key as u32),
        windows: Vec::new(),
    });
    ranked
        .into_iter()
        .filter(|m| last.as_ref().is_none_or(|l| by_relevance(m, l) == Ordering::Greater))
        .take(limit + 1)
        .collect()
}

/// What a cursor may continue: the same words, scope, filters and order.
fn fingerprint(q: &Query, text: &str) -> Vec<u8> {
    let scope = match &q.scope {
        Scope::All => None,
        Scope::Orgs(paths) => Some(paths),
    };
    let secs = |t: &Option<time::OffsetDateTime>| t.map(|t| t.unix_timestamp());
    let what = (text, scope, &q.org, &q.kind, secs(&q.from), secs(&q.to), q.sort);
    serde_json::to_vec(&what).unwrap_or_default()
}

fn position(sort: Sort, seen: u32, last: &Matched) -> Position {
    let (code, key) = match sort {
        Sort::Relevance => (0, last.score.to_bits() as i64),
        Sort::Newest => (1, last.date),
        Sort::Oldest => (2, last.date),
    };
    Position { sort: code, seen, key, meeting: last.meeting.to_string() }
}

/// The moment of the first highlighted word and a short excerpt around it. The
/// exact field is asked first: its words are the ones that ranked the hit; the
/// folded field answers for queries typed without diacritics. One tokenization per
/// field and hit: the generators see the whole window (see [`WHOLE_WINDOW`]).
fn first_match(window: &Window, exact: &SnippetGenerator, folded: &SnippetGenerator) -> Option<(u64, String)> {
    for generator in [exact, folded] {
        let whole = generator.snippet(&window.text);
        let Some(first) = whole.highlighted().first() else {
            continue;
        };
        let base = window.text.find(whole.fragment()).unwrap_or(0);
        let marks: Vec<std::ops::Range<usize>> =
            whole.highlighted().iter().map(|r| base + r.start..base + r.end).collect();
        return Some((window.moment(base + first.start), excerpt(&window.text, &marks)));
    }
    None
}

/// Snippets are cut from the window around the first mark: [`SNIPPET_CHARS`]
/// bytes at most, starting a little before it, at a word boundary.
fn excerpt(text: &str, marks: &[std::ops::Range<usize>]) -> String {
    let lead = marks.first().map_or(0, |m| m.start.saturating_sub(SNIPPET_CHARS / 3));
    let start = if lead == 0 { 0 } else { text[..floor_char(text, lead)].rfind(' ').map_or(0, |i| i + 1) };
    let end = floor_char(text, (start + SNIPPET_CHARS).min(text.len()));
    let mut out = String::with_capacity(end - start + 32);
    if start > 0 {
        out.push('…');
    }
    let mut at = start;
    for m in marks.iter().filter(|m| m.start >= start && m.end <= end) {
        out.push_str(&escape(&text[at..m.start]));
        out.push_str("<b>");
        out.push_str(&escape(&text[m.start..m.end]));
        out.push_str("</b>");
        at = m.end;
    }
    out.push_str(&escape(&text[at..end]));
    if end < text.len() {
        out.push('…');
    }
    out
}

fn floor_char(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::{Recording, Segment};
    use std::collections::BTreeSet;
    use tantivy::collector::{DocSetCollector, TopDocs};

    fn recording(id: &str, texts: &[&str]) -> Recording {
        let segments = texts
            .iter()
            .enumerate()
            .map(|(i, t)| Segment {
                stream: "s".into(),
                label: "Điểm cầu".into(),
                start_ms: i as u64 * 20_000,
                end_ms: i as u64 * 20_000 + 19_000,
                text: t.to_string(),
            })
            .collect();
        Recording {
            recording: format!("rec_{id}"),
            meeting: format!("meeting_{id}"),
            org_path: "/bloc/cell".into(),
            kind: "regular".into(),
            date: time::OffsetDateTime::UNIX_EPOCH,
            segments,
        }
    }

    /// The driven and matching forms are a speed-up only: against the union they
    /// replace, the same documents match with the same scores, for twins and for
    /// queries that merely look like twins.
    #[test]
    fn the_driven_and_matching_forms_match_and_score_as_the_union() {
        let index = Index::in_ram().unwrap();
        index
            .put_all(&[
                recording("a", &["Giữ vững hòa bình và ổn định", "hóa chất độc hại", "kết nạp đảng viên mới"]),
                recording("b", &["hoà bình ổn định lâu dài", "hoa đẹp ở sân", "đang họp chi bộ"]),
                recording("c", &["Hoa Binh là tên riêng", "dạng văn bản", "HÒA BÌNH"]),
                recording("d", &["kĩ thuật số", "kỹ thuật cao", "thuỷ lợi và thủy sản"]),
            ])
            .unwrap();
        let searcher = index.reader.searcher();
        let scored = |q: &dyn tantivy::query::Query| -> Vec<(DocAddress, u32)> {
            let mut top = searcher.search(q, &TopDocs::with_limit(1000)).unwrap();
            top.sort_by_key(|(_, a)| *a);
            top.into_iter().map(|(s, a)| (a, s.to_bits())).collect()
        };
        let mut twinned = 0;
        for text in [
            "hòa",
            "hoà",
            "hoa",
            "hóa",
            "hòa bình",
            "\"hòa bình\"",
            "\"hoà bình ổn định\"",
            "\"hòa bình\"~1",
            "kĩ thuật",
            "thuỷ lợi",
            "đảng OR hoa",
            "text_exact:hòa OR text_folded:dang",
            "text_folded:hoa text_exact:bình",
        ] {
            let parsed = index.parse(text);
            let r = index.rewrite(&*parsed, !text.contains('~'));
            let union = scored(&*r.union);
            assert!(!union.is_empty(), "{text}: the corpus has matches");
            assert_eq!(scored(&*r.driven), union, "{text}: driven form");
            let matched: BTreeSet<DocAddress> =
                searcher.search(&*r.matching, &DocSetCollector).unwrap().into_iter().collect();
            let expected: BTreeSet<DocAddress> = union.iter().map(|(a, _)| *a).collect();
            assert_eq!(matched, expected, "{text}: matching form");
            twinned += usize::from(format!("{:?}", r.driven).contains("Must"));
        }
        assert!(twinned >= 8, "most queries are twins: {twinned}");
    }

    #[test]
    fn excerpts_start_at_a_word_before_the_mark_and_escape_the_rest() {
        let text = format!("{} kết nạp <đảng> viên {}", "mở đầu ".repeat(40), "kết thúc ".repeat(40));
        let start = text.find("<đảng>").unwrap();
        let mark = start..start + "<đảng>".len();
        let html = excerpt(&text, std::slice::from_ref(&mark));
        assert!(html.starts_with('…') && html.ends_with('…'), "{html}");
        assert!(html.contains("<b>&lt;đảng&gt;</b> viên"), "{html}");
        assert!(
            html.trim_start_matches('…').starts_with("mở ") || html.trim_start_matches('…').starts_with("đầu "),
            "cut at a word: {html}"
        );
        assert!(html.len() <= SNIPPET_CHARS + 40, "{}", html.len());
        let whole = 0.."ngắn".len();
        assert_eq!(excerpt("ngắn", std::slice::from_ref(&whole)), "<b>ngắn</b>");
    }
}
