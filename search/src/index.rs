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
use tantivy::query::{AllQuery, BooleanQuery, Occur, QueryParser, RangeQuery, TermQuery};
use tantivy::schema::{
    DateOptions, DateTimePrecision, Facet, FacetOptions, Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST,
    STORED, STRING,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::{DateTime, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

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

pub const HITS_PER_MEETING: usize = 5;
/// Windows looked at per query: enough to fill `limit` meetings in practice.
const WINDOWS_PER_QUERY: usize = 500;
const SNIPPET_CHARS: usize = 180;

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
        meeting: b.add_text_field("meeting", STRING | STORED),
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
        let mut meetings: Vec<MeetingHits> = Vec::new();
        let mut slot: HashMap<String, usize> = HashMap::new();
        for (score, addr) in &top {
            let doc: TantivyDocument = searcher.doc(*addr)?;
            let meeting = self.str(&doc, self.fields.meeting);
            let i = match slot.get(&meeting) {
                Some(&i) => i,
                None if meetings.len() >= q.limit => continue,
                None => {
                    slot.insert(meeting.clone(), meetings.len());
                    meetings.push(self.meeting_of(&doc, *score));
                    meetings.len() - 1
                }
            };
            if meetings[i].hits.len() < HITS_PER_MEETING {
                let hit = self.hit(&doc, *score, &mut exact, &mut folded);
                meetings[i].hits.push(hit);
            }
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
        match &text_query {
            Some(t) => must.push((Occur::Must, t.box_clone())),
            None => must.push((Occur::Must, Box::new(AllQuery))),
        }
        must.push((Occur::Must, self.scope_query(&q.scope)?));
        if let Some(org) = &q.org {
            must.push((Occur::Must, self.org_query(org)?));
        }
        if let Some(kind) = &q.kind {
            must.push((Occur::Must, Box::new(TermQuery::new(Term::from_field_text(f.kind, kind), IndexRecordOption::Basic))));
        }
        if q.from.is_some() || q.to.is_some() {
            let term = |t: &time::OffsetDateTime| Term::from_field_date(f.date, DateTime::from_timestamp_secs(t.unix_timestamp()));
            let lower = q.from.as_ref().map_or(Bound::Unbounded, |t| Bound::Included(term(t)));
            let upper = q.to.as_ref().map_or(Bound::Unbounded, |t| Bound::Excluded(term(t)));
            must.push((Occur::Must, Box::new(RangeQuery::new(lower, upper))));
        }
        Ok((text_query, Box::new(BooleanQuery::new(must))))
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

    fn hit(&self, doc: &TantivyDocument, score: f32, exact: &mut SnippetGenerator, folded: &mut SnippetGenerator) -> Hit {
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

/// The moment of the first highlighted word and a short snippet around the best
/// fragment. The exact field is asked first: its words are the ones that ranked the
/// hit; the folded field answers for queries typed without diacritics.
fn first_match(window: &Window, exact: &mut SnippetGenerator, folded: &mut SnippetGenerator) -> Option<(u64, String)> {
    for generator in [exact, folded] {
        generator.set_max_num_chars(window.text.len().max(1));
        let whole = generator.snippet(&window.text);
        if let Some(first) = whole.highlighted().first() {
            let base = window.text.find(whole.fragment()).unwrap_or(0);
            let at_ms = window.moment(base + first.start);
            generator.set_max_num_chars(SNIPPET_CHARS);
            return Some((at_ms, generator.snippet(&window.text).to_html()));
        }
    }
    None
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
