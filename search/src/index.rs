//! The index: schema, writing whole recordings, and scoped queries.
//!
//! Invariants:
//! - a recording's documents are replaced as a whole (delete by `recording` term,
//!   add, commit), so a re-index after a crash or a rebuild never duplicates;
//! - every recording that was indexed has at least one document (an empty one for
//!   a transcript with no speech), so "is it indexed?" is a term lookup;
//! - the scope is a required clause of the query itself.

use crate::analyzer::{self, normalize};
use crate::window::{windows, Recording, Window};
use std::collections::HashMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::Mutex;
use tantivy::collector::TopDocs;
use tantivy::query::{AllQuery, BooleanQuery, ConstScoreQuery, Occur, QueryParser, RangeQuery, TermQuery};
use tantivy::schema::{
    DateOptions, DateTimePrecision, Facet, FacetOptions, Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST,
    STORED, STRING,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::columnar::StrColumn;
use tantivy::{DateTime, DocAddress, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term};

type BoxQuery = Box<dyn tantivy::query::Query>;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("the search index at {0} is in use by another process (is the service running?)")]
    Locked(String),
    #[error("bad org path {0:?}: expected /id/id/…")]
    OrgPath(String),
}

/// Whose meetings a query may touch.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Every org (admins).
    All,
    /// These org subtrees (paths `/bloc/base/cell`); empty means nothing.
    Orgs(Vec<String>),
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
    /// Meetings to return (each with up to [`HITS_PER_MEETING`] hits).
    pub limit: usize,
}

pub const HITS_PER_MEETING: usize = 3;
/// Windows ranked per query (block-max WAND keeps this cheap); grouping by
/// meeting reads only the fast `meeting` column, and stored documents are read
/// only for the hits returned.
const WINDOWS_PER_QUERY: usize = 200;
const SNIPPET_CHARS: usize = 180;
/// Larger than any window's text, so that snippets cover the whole window.
const WHOLE_WINDOW: usize = 1 << 20;

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
    pub score: f32,
    pub hits: Vec<Hit>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Results {
    pub meetings: Vec<MeetingHits>,
    /// Windows that matched (before grouping and limits).
    pub windows: usize,
}

#[derive(Clone, Copy)]
struct Fields {
    recording: Field,
    meeting: Field,
    stream: Field,
    label: Field,
    org: Field,
    kind: Field,
    date: Field,
    start_ms: Field,
    end_ms: Field,
    text_exact: Field,
    text_folded: Field,
    marks: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = |tokenizer: &str| {
        TextFieldIndexing::default().set_tokenizer(tokenizer).set_index_option(IndexRecordOption::WithFreqsAndPositions)
    };
    let fields = Fields {
        recording: b.add_text_field("recording", STRING | STORED),
        meeting: b.add_text_field("meeting", STRING | STORED | FAST),
        stream: b.add_text_field("stream", STORED),
        label: b.add_text_field("label", STORED),
        org: b.add_facet_field("org", FacetOptions::default().set_stored()),
        kind: b.add_text_field("kind", STRING | STORED),
        date: b.add_date_field("date", DateOptions::default().set_indexed().set_fast().set_stored().set_precision(DateTimePrecision::Seconds)),
        start_ms: b.add_u64_field("start_ms", FAST | STORED),
        end_ms: b.add_u64_field("end_ms", FAST | STORED),
        text_exact: b.add_text_field("text_exact", TextOptions::default().set_indexing_options(text(analyzer::EXACT)).set_stored()),
        text_folded: b.add_text_field("text_folded", TextOptions::default().set_indexing_options(text(analyzer::FOLDED))),
        marks: b.add_text_field("marks", STORED),
    };
    (b.build(), fields)
}

/// The transcript index of one node.
pub struct Index {
    index: tantivy::Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
}

/// The writer's indexing memory: tantivy's minimum per thread is 15 MB.
const WRITER_MEMORY: usize = 32 << 20;

impl Index {
    /// Opens the index in `dir`, creating it (and `dir`) if needed.
    pub fn open(dir: &Path) -> Result<Index, SearchError> {
        std::fs::create_dir_all(dir).map_err(|e| tantivy::TantivyError::from(tantivy::directory::error::OpenDirectoryError::wrap_io_error(e, dir.to_path_buf())))?;
        let directory = tantivy::directory::MmapDirectory::open(dir).map_err(tantivy::TantivyError::from)?;
        let (schema, _) = schema();
        let index = tantivy::Index::open_or_create(directory, schema)?;
        Self::wrap(index, WRITER_MEMORY, &dir.display().to_string())
    }

    /// An index in memory (tests, benchmarks).
    pub fn in_ram() -> Result<Index, SearchError> {
        Self::wrap(tantivy::Index::create_in_ram(schema().0), WRITER_MEMORY, "memory")
    }

    /// Like [`Index::open`] with a larger indexing buffer, for bulk loads.
    pub fn open_for_bulk(dir: &Path, memory: usize) -> Result<Index, SearchError> {
        std::fs::create_dir_all(dir).map_err(|e| tantivy::TantivyError::from(tantivy::directory::error::OpenDirectoryError::wrap_io_error(e, dir.to_path_buf())))?;
        let directory = tantivy::directory::MmapDirectory::open(dir).map_err(tantivy::TantivyError::from)?;
        let index = tantivy::Index::open_or_create(directory, schema().0)?;
        Self::wrap(index, memory, &dir.display().to_string())
    }

    fn wrap(index: tantivy::Index, memory: usize, place: &str) -> Result<Index, SearchError> {
        analyzer::register(&index);
        let fields = fields_of(&index.schema())?;
        let writer = index.writer_with_num_threads(1, memory).map_err(|e| match e {
            tantivy::TantivyError::LockFailure(..) => SearchError::Locked(place.to_string()),
            other => SearchError::Tantivy(other),
        })?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(Index { index, reader, writer: Mutex::new(writer), fields })
    }

    /// Replaces everything indexed for `rec.recording` with its windows, durably.
    pub fn put(&self, rec: &Recording) -> Result<usize, SearchError> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let n = self.add(&writer, rec)?;
        writer.commit()?;
        self.reader.reload()?;
        Ok(n)
    }

    /// Adds many recordings with one commit (a rebuild, a bulk load). Recordings
    /// already present are replaced.
    pub fn put_all<'a>(&self, recs: impl IntoIterator<Item = &'a Recording>) -> Result<usize, SearchError> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut n = 0;
        for rec in recs {
            n += self.add(&writer, rec)?;
        }
        writer.commit()?;
        self.reader.reload()?;
        Ok(n)
    }

    fn add(&self, writer: &IndexWriter, rec: &Recording) -> Result<usize, SearchError> {
        let f = self.fields;
        writer.delete_term(Term::from_field_text(f.recording, &rec.recording));
        let org = Facet::from_text(&rec.org_path).map_err(|_| SearchError::OrgPath(rec.org_path.clone()))?;
        let date = DateTime::from_timestamp_secs(rec.date.unix_timestamp());
        let mut ws = windows(&rec.segments);
        if ws.is_empty() {
            ws.push(Window { stream: String::new(), label: String::new(), start_ms: 0, end_ms: 0, text: String::new(), marks: Vec::new() });
        }
        for w in &ws {
            let mut doc = TantivyDocument::default();
            doc.add_text(f.recording, &rec.recording);
            doc.add_text(f.meeting, &rec.meeting);
            doc.add_text(f.stream, &w.stream);
            doc.add_text(f.label, &w.label);
            doc.add_facet(f.org, org.clone());
            doc.add_text(f.kind, &rec.kind);
            doc.add_date(f.date, date);
            doc.add_u64(f.start_ms, w.start_ms);
            doc.add_u64(f.end_ms, w.end_ms);
            doc.add_text(f.text_exact, &w.text);
            doc.add_text(f.text_folded, &w.text);
            doc.add_text(f.marks, serde_json::to_string(&w.marks).unwrap_or_default());
            writer.add_document(doc)?;
        }
        Ok(ws.len())
    }

    /// Removes a recording (shredded) from the index, durably.
    pub fn remove(&self, recording: &str) -> Result<(), SearchError> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        writer.delete_term(Term::from_field_text(self.fields.recording, recording));
        writer.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// Empties the index (before a rebuild).
    pub fn clear(&self) -> Result<(), SearchError> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        writer.delete_all_documents()?;
        writer.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// Whether `recording` has documents.
    pub fn contains(&self, recording: &str) -> Result<bool, SearchError> {
        let searcher = self.reader.searcher();
        let term = Term::from_field_text(self.fields.recording, recording);
        Ok(searcher.doc_freq(&term)? > 0)
    }

    /// Documents in the index (windows, plus one per speechless recording).
    pub fn documents(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn search(&self, q: &Query) -> Result<Results, SearchError> {
        let searcher = self.reader.searcher();
        let (text_query, query) = self.build(q)?;
        let top = searcher.search(&*query, &TopDocs::with_limit(WINDOWS_PER_QUERY))?;
        let Some(text_query) = text_query else {
            return Ok(Results { meetings: Vec::new(), windows: 0 });
        };
        let mut exact = SnippetGenerator::create(&searcher, &*text_query, self.fields.text_exact)?;
        let mut folded = SnippetGenerator::create(&searcher, &*text_query, self.fields.text_folded)?;
        exact.set_max_num_chars(WHOLE_WINDOW);
        folded.set_max_num_chars(WHOLE_WINDOW);
        let chosen = group(&searcher, &top, q.limit)?;
        let mut meetings: Vec<MeetingHits> = Vec::with_capacity(chosen.len());
        for (best, hits) in chosen {
            let first: TantivyDocument = searcher.doc(hits[0].1)?;
            let mut m = self.meeting_of(&first, best);
            m.hits.push(self.hit(&first, hits[0].0, &exact, &folded));
            for &(score, addr) in &hits[1..] {
                let doc: TantivyDocument = searcher.doc(addr)?;
                m.hits.push(self.hit(&doc, score, &exact, &folded));
            }
            meetings.push(m);
        }
        for m in &mut meetings {
            m.hits.sort_by_key(|h| (h.stream.clone(), h.at_ms));
            m.hits.dedup_by(|b, a| a.stream == b.stream && a.at_ms == b.at_ms);
        }
        Ok(Results { meetings, windows: top.len() })
    }

    /// The query as run: (the text part, for snippets; the whole with its filters).
    fn build(&self, q: &Query) -> Result<(Option<BoxQuery>, BoxQuery), SearchError> {
        let f = self.fields;
        let mut must: Vec<(Occur, Box<dyn tantivy::query::Query>)> = Vec::new();
        let text = normalize(q.text.trim());
        let text_query = if text.is_empty() {
            None
        } else {
            let mut parser = QueryParser::for_index(&self.index, vec![f.text_exact, f.text_folded]);
            parser.set_field_boost(f.text_exact, 3.0);
            parser.set_conjunction_by_default();
            let (parsed, _errors) = parser.parse_query_lenient(&text);
            Some(parsed)
        };
        if let Some(t) = &text_query {
            must.push((Occur::Must, t.box_clone()));
        }
        // Filters select, they do not rank: constant score 0.
        let mut filter = |query: BoxQuery| must.push((Occur::Must, Box::new(ConstScoreQuery::new(query, 0.0))));
        if let Scope::Orgs(_) = q.scope {
            filter(self.scope_query(&q.scope)?);
        }
        if let Some(org) = &q.org {
            filter(self.org_query(org)?);
        }
        if let Some(kind) = &q.kind {
            filter(Box::new(TermQuery::new(Term::from_field_text(f.kind, kind), IndexRecordOption::Basic)));
        }
        if q.from.is_some() || q.to.is_some() {
            let term = |t: &time::OffsetDateTime| Term::from_field_date(f.date, DateTime::from_timestamp_secs(t.unix_timestamp()));
            let lower = q.from.as_ref().map_or(Bound::Unbounded, |t| Bound::Included(term(t)));
            let upper = q.to.as_ref().map_or(Bound::Unbounded, |t| Bound::Excluded(term(t)));
            filter(Box::new(RangeQuery::new(lower, upper)));
        }
        // The text query alone, unwrapped, lets tantivy prune with block-max WAND
        // (a single word is a disjunction of its exact and folded terms).
        let query: BoxQuery = match must.len() {
            0 => Box::new(AllQuery),
            1 => must.pop().map(|(_, q)| q).unwrap_or_else(|| Box::new(AllQuery)),
            _ => Box::new(BooleanQuery::new(must)),
        };
        Ok((text_query, query))
    }

    fn scope_query(&self, scope: &Scope) -> Result<Box<dyn tantivy::query::Query>, SearchError> {
        match scope {
            Scope::All => Ok(Box::new(AllQuery)),
            Scope::Orgs(paths) => {
                let mut any = Vec::new();
                for p in paths {
                    any.push((Occur::Should, self.org_query(p)?));
                }
                // A BooleanQuery with no clauses matches nothing: an empty scope sees nothing.
                Ok(Box::new(BooleanQuery::new(any)))
            }
        }
    }

    /// The subtree under `path`: facets index every ancestor, so one term.
    fn org_query(&self, path: &str) -> Result<Box<dyn tantivy::query::Query>, SearchError> {
        let facet = Facet::from_text(path).map_err(|_| SearchError::OrgPath(path.to_string()))?;
        Ok(Box::new(TermQuery::new(Term::from_facet(self.fields.org, &facet), IndexRecordOption::Basic)))
    }

    fn meeting_of(&self, doc: &TantivyDocument, score: f32) -> MeetingHits {
        let f = self.fields;
        let date = doc.get_first(f.date).and_then(|v| v.as_datetime()).map_or(0, |d| d.into_timestamp_secs());
        MeetingHits {
            meeting: self.str(doc, f.meeting),
            recording: self.str(doc, f.recording),
            org_path: doc.get_first(f.org).and_then(|v| v.as_facet()).unwrap_or_default().to_string(),
            kind: self.str(doc, f.kind),
            date: time::OffsetDateTime::from_unix_timestamp(date).unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
            score,
            hits: Vec::new(),
        }
    }

    fn hit(&self, doc: &TantivyDocument, score: f32, exact: &SnippetGenerator, folded: &SnippetGenerator) -> Hit {
        let f = self.fields;
        let text = self.str(doc, f.text_exact);
        let marks: Vec<(usize, u64)> = serde_json::from_str(&self.str(doc, f.marks)).unwrap_or_default();
        let start_ms = doc.get_first(f.start_ms).and_then(|v| v.as_u64()).unwrap_or(0);
        let window = Window {
            stream: self.str(doc, f.stream),
            label: self.str(doc, f.label),
            start_ms,
            end_ms: doc.get_first(f.end_ms).and_then(|v| v.as_u64()).unwrap_or(start_ms),
            text,
            marks,
        };
        let (at_ms, snippet) = first_match(&window, exact, folded)
            .unwrap_or_else(|| (window.start_ms, escape(&window.text.chars().take(SNIPPET_CHARS).collect::<String>())));
        Hit { stream: window.stream, label: window.label, at_ms, start_ms: window.start_ms, end_ms: window.end_ms, snippet, score }
    }

    fn str(&self, doc: &TantivyDocument, field: Field) -> String {
        doc.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_string()
    }
}

/// A meeting's best score and its best windows, in rank order.
type Group = (f32, Vec<(f32, DocAddress)>);

/// The best `limit` meetings among the ranked windows, each with up to
/// [`HITS_PER_MEETING`] windows; reads only the fast `meeting` column.
fn group(searcher: &Searcher, top: &[(f32, DocAddress)], limit: usize) -> Result<Vec<Group>, SearchError> {
    let mut columns: HashMap<u32, Option<StrColumn>> = HashMap::new();
    let mut slot: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut name = String::new();
    for &(score, addr) in top {
        let column = match columns.entry(addr.segment_ord) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(searcher.segment_reader(addr.segment_ord).fast_fields().str("meeting")?),
        };
        let Some(column) = column else { continue };
        let Some(ord) = column.term_ords(addr.doc_id).next() else { continue };
        name.clear();
        column.ord_to_str(ord, &mut name).map_err(tantivy::TantivyError::from)?;
        match slot.get(&name) {
            Some(&i) if groups[i].1.len() < HITS_PER_MEETING => groups[i].1.push((score, addr)),
            Some(_) => {}
            None if groups.len() < limit => {
                slot.insert(name.clone(), groups.len());
                groups.push((score, vec![(score, addr)]));
            }
            None => {}
        }
    }
    Ok(groups)
}

/// The moment of the first highlighted word and a short excerpt around it. The
/// exact field is asked first: its words are the ones that ranked the hit; the
/// folded field answers for queries typed without diacritics. One tokenization per
/// field and hit: the generators see the whole window (see [`WHOLE_WINDOW`]).
fn first_match(window: &Window, exact: &SnippetGenerator, folded: &SnippetGenerator) -> Option<(u64, String)> {
    for generator in [exact, folded] {
        let whole = generator.snippet(&window.text);
        let Some(first) = whole.highlighted().first() else { continue };
        let base = window.text.find(whole.fragment()).unwrap_or(0);
        let marks: Vec<std::ops::Range<usize>> = whole.highlighted().iter().map(|r| base + r.start..base + r.end).collect();
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

fn fields_of(schema: &Schema) -> Result<Fields, SearchError> {
    let get = |name: &str| schema.get_field(name).map_err(SearchError::Tantivy);
    Ok(Fields {
        recording: get("recording")?,
        meeting: get("meeting")?,
        stream: get("stream")?,
        label: get("label")?,
        org: get("org")?,
        kind: get("kind")?,
        date: get("date")?,
        start_ms: get("start_ms")?,
        end_ms: get("end_ms")?,
        text_exact: get("text_exact")?,
        text_folded: get("text_folded")?,
        marks: get("marks")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_start_at_a_word_before_the_mark_and_escape_the_rest() {
        let text = format!("{} kết nạp <đảng> viên {}", "mở đầu ".repeat(40), "kết thúc ".repeat(40));
        let start = text.find("<đảng>").unwrap();
        let mark = start..start + "<đảng>".len();
        let html = excerpt(&text, std::slice::from_ref(&mark));
        assert!(html.starts_with('…') && html.ends_with('…'), "{html}");
        assert!(html.contains("<b>&lt;đảng&gt;</b> viên"), "{html}");
        assert!(html.trim_start_matches('…').starts_with("mở ") || html.trim_start_matches('…').starts_with("đầu "), "cut at a word: {html}");
        assert!(html.len() <= SNIPPET_CHARS + 40, "{}", html.len());
        let whole = 0.."ngắn".len();
        assert_eq!(excerpt("ngắn", std::slice::from_ref(&whole)), "<b>ngắn</b>");
    }
}
