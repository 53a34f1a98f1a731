//! The index: schema, where it lives (memory, or an encrypted directory), writing
//! and removing whole recordings, and shredding.
//!
//! Invariants:
//! - a recording's documents are replaced as a whole (delete by `recording` term,
//!   add, commit), so a re-index after a crash or a rebuild never duplicates;
//! - every recording that was indexed has at least one document (an empty one for
//!   a transcript with no speech), so "is it indexed?" is a term lookup;
//! - on disk, every byte is sealed ([`crate::directory`]); an index that fails
//!   authentication, was built by another schema version, or needs a key that is
//!   gone opens with an error that says "rebuild me" ([`SearchError::needs_rebuild`]);
//! - after [`Index::shred`], no index file holds the recording's words, deleted
//!   or not.
//!
//! Queries live in [`crate::query`].

use crate::analyzer;
use crate::cache::{CacheStats, PieceCache, DEFAULT_CACHE_BYTES};
use crate::cipher::IndexCipher;
use crate::cursor::CursorKey;
use crate::directory::{EncryptedDirectory, Fault, DEFAULT_PIECE_BYTES};
use crate::runs::RunsCache;
use crate::window::{windows, Recording, Window};
use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tantivy::directory::Directory;
use tantivy::index::SegmentId;
use tantivy::schema::{
    DateOptions, DateTimePrecision, Facet, FacetOptions, Field, IndexRecordOption, Schema, TextFieldIndexing,
    TextOptions, FAST, STORED, STRING,
};
use tantivy::{DateTime, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

/// Bumped whenever indexed terms or fields change meaning, so that an index
/// built before opens as [`SearchError::Outdated`]. 1: the in-memory index;
/// 2: canonical Vietnamese spelling ([`crate::vietnamese`]), encrypted on disk.
pub const SCHEMA_VERSION: u32 = 2;
/// The sealed marker that records the schema version of an index on disk.
const MARKER: &str = "niem-index.json";
/// Held (an OS lock) while an [`Index`] or a copy uses the directory.
const OPEN_LOCK: &str = "niem-index.lock";
/// The writer's indexing memory: tantivy's minimum per thread is 15 MB.
const WRITER_MEMORY: usize = 32 << 20;
/// How often [`Index::shred`] retries a merge that raced a background one, or a
/// collection that a running search held up.
const SHRED_TRIES: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("the search index at {0} is in use by another process (is the service running?)")]
    Locked(String),
    #[error("bad org path {0:?}: expected /id/id/…")]
    OrgPath(String),
    /// A file failed authentication (altered, truncated, swapped) or is missing.
    #[error("the search index is damaged: {0}")]
    Damaged(String),
    /// A file needs a key the cipher no longer has (a retired KEK).
    #[error("the search index cannot be decrypted: {0}")]
    KeyUnavailable(String),
    /// Built by another schema version (`found` is `None` for an index older
    /// than the marker).
    #[error("the search index has schema version {found:?}, this build needs {expected}")]
    Outdated { found: Option<u32>, expected: u32 },
    #[error("bad cursor: {0}")]
    Cursor(#[from] crate::cursor::CursorError),
    #[error("search index at {path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// A shred could not finish (a merge kept racing, or a search held old files).
    #[error("shredding {0} did not finish: {1}")]
    Shred(String, String),
}

impl SearchError {
    /// Whether the service should delete the index and rebuild it from the archive.
    pub fn needs_rebuild(&self) -> bool {
        matches!(self, SearchError::Damaged(_) | SearchError::KeyUnavailable(_) | SearchError::Outdated { .. })
    }

    fn io(path: &Path, source: std::io::Error) -> SearchError {
        SearchError::Io { path: path.display().to_string(), source }
    }
}

impl From<Fault> for SearchError {
    fn from(f: Fault) -> SearchError {
        match f {
            Fault::Damaged { .. } => SearchError::Damaged(f.to_string()),
            Fault::Key { .. } => SearchError::KeyUnavailable(f.to_string()),
        }
    }
}

/// How an index on disk is opened.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bytes of decrypted pieces kept in memory ([`crate::PieceCache`]).
    pub cache_bytes: usize,
    /// Plaintext bytes per sealed piece of new files.
    pub piece_bytes: u32,
    /// The writer's indexing buffer (larger for bulk loads).
    pub writer_memory: usize,
    /// Authenticate every piece of every file before opening (finds a flipped
    /// byte at open rather than in the middle of a search).
    pub verify: bool,
    /// Threads one search spreads its segments over (1: the caller's only).
    pub search_threads: usize,
}

/// One search thread per core, up to a few: a search is many segments'
/// independent passes, and a person waits for it.
pub fn default_search_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
}

impl Default for Options {
    fn default() -> Options {
        Options {
            cache_bytes: DEFAULT_CACHE_BYTES,
            piece_bytes: DEFAULT_PIECE_BYTES,
            writer_memory: WRITER_MEMORY,
            verify: true,
            search_threads: default_search_threads(),
        }
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Fields {
    pub recording: Field,
    pub meeting: Field,
    pub stream: Field,
    pub label: Field,
    pub org: Field,
    pub kind: Field,
    pub date: Field,
    pub start_ms: Field,
    pub end_ms: Field,
    pub text_exact: Field,
    pub text_folded: Field,
    pub pairs_exact: Field,
    pub pairs_folded: Field,
    pub marks: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = |tokenizer: &str| {
        TextFieldIndexing::default().set_tokenizer(tokenizer).set_index_option(IndexRecordOption::WithFreqsAndPositions)
    };
    let date = DateOptions::default().set_indexed().set_fast().set_stored().set_precision(DateTimePrecision::Seconds);
    let exact = TextOptions::default().set_indexing_options(text(analyzer::EXACT)).set_stored();
    let folded = TextOptions::default().set_indexing_options(text(analyzer::FOLDED));
    let pairs = |tokenizer| TextOptions::default().set_indexing_options(text(tokenizer));
    let fields = Fields {
        recording: b.add_text_field("recording", STRING | STORED),
        meeting: b.add_text_field("meeting", STRING | STORED | FAST),
        stream: b.add_text_field("stream", STORED),
        label: b.add_text_field("label", STORED),
        org: b.add_facet_field("org", FacetOptions::default().set_stored()),
        kind: b.add_text_field("kind", STRING | STORED),
        date: b.add_date_field("date", date),
        start_ms: b.add_u64_field("start_ms", FAST | STORED),
        end_ms: b.add_u64_field("end_ms", FAST | STORED),
        text_exact: b.add_text_field("text_exact", exact),
        text_folded: b.add_text_field("text_folded", folded),
        pairs_exact: b.add_text_field("pairs_exact", pairs(analyzer::PAIRS_EXACT)),
        pairs_folded: b.add_text_field("pairs_folded", pairs(analyzer::PAIRS_FOLDED)),
        marks: b.add_text_field("marks", STORED),
    };
    (b.build(), fields)
}

/// The transcript index of one node.
pub struct Index {
    pub(crate) index: tantivy::Index,
    pub(crate) reader: IndexReader,
    writer: Mutex<IndexWriter>,
    pub(crate) fields: Fields,
    pub(crate) runs: RunsCache,
    pub(crate) cursors: CursorKey,
    disk: Option<Disk>,
}

/// What an index on disk holds on to.
struct Disk {
    dir: EncryptedDirectory,
    _open: File,
}

impl Index {
    /// An index in memory (tests; a node that rebuilds at every start).
    pub fn in_ram() -> Result<Index, SearchError> {
        Self::in_ram_with_threads(default_search_threads())
    }

    /// An index in memory whose searches spread over `threads`.
    pub fn in_ram_with_threads(threads: usize) -> Result<Index, SearchError> {
        let index = tantivy::Index::create_in_ram(schema().0);
        Self::wrap(index, WRITER_MEMORY, threads, "memory", None)
    }

    /// Opens the encrypted index in `dir`, creating it (and `dir`) if needed.
    ///
    /// Errors for which [`SearchError::needs_rebuild`] is true mean: delete `dir`
    /// and build again from the archive.
    pub fn open(dir: &Path, cipher: Arc<dyn IndexCipher>, options: &Options) -> Result<Index, SearchError> {
        let open = lock_dir(dir)?;
        let cache = Arc::new(PieceCache::new(options.cache_bytes));
        let directory =
            EncryptedDirectory::open(dir, cipher, cache, options.piece_bytes).map_err(|e| SearchError::io(dir, e))?;
        directory.remove_leftovers().map_err(|e| SearchError::io(dir, e))?;
        check_marker(&directory)?;
        if options.verify {
            directory.verify()?;
        }
        let disk = Disk { dir: directory.clone(), _open: open };
        let classify = |e: tantivy::TantivyError| classify(&disk.dir, e);
        let index = match tantivy::Index::exists(&directory) {
            Ok(true) => tantivy::Index::open(directory).map_err(classify)?,
            Ok(false) => tantivy::Index::create(directory, schema().0, Default::default()).map_err(classify)?,
            Err(e) => return Err(classify(e.into())),
        };
        missing_files(&index)?;
        if index.schema() != schema().0 {
            let found = Some(SCHEMA_VERSION);
            return Err(SearchError::Outdated { found, expected: SCHEMA_VERSION });
        }
        let place = dir.display().to_string();
        Self::wrap(index, options.writer_memory, options.search_threads, &place, Some(disk))
    }

    fn wrap(
        mut index: tantivy::Index,
        memory: usize,
        threads: usize,
        place: &str,
        disk: Option<Disk>,
    ) -> Result<Index, SearchError> {
        analyzer::register(&index);
        let fields = fields_of(&index.schema())?;
        let fail = |e: tantivy::TantivyError| match (e, &disk) {
            (tantivy::TantivyError::LockFailure(..), _) => SearchError::Locked(place.to_string()),
            (other, Some(d)) => classify(&d.dir, other),
            (other, None) => SearchError::Tantivy(other),
        };
        if threads > 1 {
            index.set_multithread_executor(threads).map_err(fail)?;
        }
        let writer = index.writer_with_num_threads(1, memory).map_err(fail)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into();
        let reader = reader.map_err(fail)?;
        let cursors = CursorKey::generate()
            .map_err(|_| SearchError::io(Path::new(place), std::io::Error::other("no randomness")))?;
        let index =
            Index { index, reader, writer: Mutex::new(writer), fields, runs: RunsCache::default(), cursors, disk };
        index.refresh()?;
        Ok(index)
    }

    /// Maps a tantivy error to a fault of the directory when one was met.
    pub(crate) fn fail(&self, e: tantivy::TantivyError) -> SearchError {
        match &self.disk {
            Some(d) => classify(&d.dir, e),
            None => SearchError::Tantivy(e),
        }
    }

    fn writer(&self) -> MutexGuard<'_, IndexWriter> {
        // A writer whose holder panicked is still consistent: tantivy rolls back
        // uncommitted work on its own.
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the last commit visible, with its segments' runs built.
    fn refresh(&self) -> Result<(), SearchError> {
        self.reader.reload().map_err(|e| self.fail(e))?;
        self.runs.refresh(&self.reader.searcher()).map_err(|e| self.fail(e))
    }

    /// Replaces everything indexed for `rec.recording` with its windows, durably.
    pub fn put(&self, rec: &Recording) -> Result<usize, SearchError> {
        self.put_all(std::slice::from_ref(rec))
    }

    /// Adds many recordings with one commit (a rebuild, a bulk load). Recordings
    /// already present are replaced.
    pub fn put_all<'a>(&self, recs: impl IntoIterator<Item = &'a Recording>) -> Result<usize, SearchError> {
        let mut writer = self.writer();
        let mut n = 0;
        for rec in recs {
            n += self.add(&writer, rec)?;
        }
        writer.commit().map_err(|e| self.fail(e))?;
        drop(writer);
        self.refresh()?;
        Ok(n)
    }

    fn add(&self, writer: &IndexWriter, rec: &Recording) -> Result<usize, SearchError> {
        let f = self.fields;
        writer.delete_term(Term::from_field_text(f.recording, &rec.recording));
        let org = Facet::from_text(&rec.org_path).map_err(|_| SearchError::OrgPath(rec.org_path.clone()))?;
        let date = DateTime::from_timestamp_secs(rec.date.unix_timestamp());
        let mut ws = windows(&rec.segments);
        if ws.is_empty() {
            ws.push(Window {
                stream: String::new(),
                label: String::new(),
                start_ms: 0,
                end_ms: 0,
                text: String::new(),
                marks: Vec::new(),
            });
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
            doc.add_text(f.pairs_exact, &w.text);
            doc.add_text(f.pairs_folded, &w.text);
            doc.add_text(f.marks, serde_json::to_string(&w.marks).unwrap_or_default());
            writer.add_document(doc).map_err(|e| self.fail(e))?;
        }
        Ok(ws.len())
    }

    /// Hides a recording from searches, durably. Its words stay in the index
    /// files until segments merge: use [`Index::shred`] when they must go.
    pub fn remove(&self, recording: &str) -> Result<(), SearchError> {
        let mut writer = self.writer();
        writer.delete_term(Term::from_field_text(self.fields.recording, recording));
        writer.commit().map_err(|e| self.fail(e))?;
        drop(writer);
        self.refresh()
    }

    /// Removes a recording and rewrites every segment that held its documents
    /// (deleted copies from earlier versions included), then deletes the old
    /// files: afterwards no index file holds its words. Costs a merge of those
    /// segments, so it runs on the caller's thread for as long as that takes.
    pub fn shred(&self, recording: &str) -> Result<(), SearchError> {
        let term = Term::from_field_text(self.fields.recording, recording);
        let mut writer = self.writer();
        writer.delete_term(term.clone());
        writer.commit().map_err(|e| self.fail(e))?;
        let shred_error = |why: &str| SearchError::Shred(recording.to_string(), why.to_string());
        let mut gone: HashSet<SegmentId> = HashSet::new();
        for _ in 0..SHRED_TRIES {
            self.refresh()?;
            let holding = self.segments_holding(&term)?;
            if holding.is_empty() {
                drop(writer);
                return self.collect_shredded(&gone).map_err(|why| shred_error(&why));
            }
            gone.extend(holding.iter().copied());
            // A background merge may hold one of these segments: then this merge
            // fails, and the next round merges what that one produced.
            if writer.merge(&holding).wait().is_err() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Err(shred_error("segments kept changing under the merge"))
    }

    /// Whether any segment's term dictionary still holds a token of `word`, as
    /// the exact or the folded analyser writes it, deleted documents included:
    /// what "no index file holds its words" means after [`Index::shred`], checked
    /// from the inside (the files are sealed, so grepping them proves nothing).
    pub fn holds_word(&self, word: &str) -> Result<bool, SearchError> {
        for field in [self.fields.text_exact, self.fields.text_folded] {
            let mut analyzer = self.index.tokenizer_for_field(field).map_err(|e| self.fail(e))?;
            let mut terms = Vec::new();
            analyzer.token_stream(word).process(&mut |t| terms.push(Term::from_field_text(field, &t.text)));
            for term in &terms {
                if !self.segments_holding(term)?.is_empty() {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Segments whose term dictionary has `term` (their postings count deleted
    /// documents too).
    fn segments_holding(&self, term: &Term) -> Result<Vec<SegmentId>, SearchError> {
        let searcher = self.reader.searcher();
        let mut holding = Vec::new();
        for reader in searcher.segment_readers() {
            let inverted = reader.inverted_index(term.field()).map_err(|e| self.fail(e))?;
            let freq = inverted.doc_freq(term).map_err(|e| self.fail(e.into()))?;
            if freq > 0 {
                holding.push(reader.segment_id());
            }
        }
        Ok(holding)
    }

    /// Deletes the files of merged-away segments; a search still running on
    /// them holds them a moment longer, so this retries until they are gone.
    fn collect_shredded(&self, gone: &HashSet<SegmentId>) -> Result<(), String> {
        let prefixes: Vec<String> = gone.iter().map(|id| id.uuid_string()).collect();
        for _ in 0..SHRED_TRIES {
            self.writer().garbage_collect_files().wait().map_err(|e| e.to_string())?;
            let files = self.index.directory().list_managed_files();
            let left = files.iter().any(|p| {
                let name = p.to_string_lossy();
                prefixes.iter().any(|id| name.starts_with(id.as_str()))
            });
            if !left {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("a search kept the old segment files open".into())
    }

    /// Empties the index (before a rebuild).
    pub fn clear(&self) -> Result<(), SearchError> {
        let mut writer = self.writer();
        writer.delete_all_documents().map_err(|e| self.fail(e))?;
        writer.commit().map_err(|e| self.fail(e))?;
        drop(writer);
        self.refresh()
    }

    /// Whether `recording` has documents.
    pub fn contains(&self, recording: &str) -> Result<bool, SearchError> {
        let searcher = self.reader.searcher();
        let term = Term::from_field_text(self.fields.recording, recording);
        Ok(searcher.doc_freq(&term).map_err(|e| self.fail(e))? > 0)
    }

    /// Documents in the index (windows, plus one per speechless recording).
    pub fn documents(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Segments searched: each costs a term lookup per query word.
    pub fn segments(&self) -> usize {
        self.reader.searcher().segment_readers().len()
    }

    /// The decrypted-piece cache's figures, for `/metrics` (none in memory).
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.disk.as_ref().map(|d| d.dir.cache().stats())
    }

    /// How many index files depend on each key generation ([`IndexCipher::generation`]):
    /// before a KEK is destroyed, none may name it ([`reencrypt`] or rebuild first).
    pub fn key_generations(&self) -> Result<BTreeMap<String, usize>, SearchError> {
        match &self.disk {
            Some(d) => Ok(d.dir.generations()?),
            None => Ok(BTreeMap::new()),
        }
    }
}

/// Copies the closed index in `src` into the new directory `dst`, every file
/// decrypted with `from` and sealed under fresh keys from `to` (a KEK
/// retirement). `src` is left as it was; the caller swaps the directories.
pub fn reencrypt(
    src: &Path,
    from: Arc<dyn IndexCipher>,
    dst: &Path,
    to: Arc<dyn IndexCipher>,
    options: &Options,
) -> Result<(), SearchError> {
    let _src_open = lock_dir(src)?;
    let empty = |p: &Path| std::fs::read_dir(p).map_or(true, |mut d| d.next().is_none());
    if !empty(dst) {
        let e = std::io::Error::new(std::io::ErrorKind::AlreadyExists, "not empty");
        return Err(SearchError::io(dst, e));
    }
    let _dst_open = lock_dir(dst)?;
    let source =
        EncryptedDirectory::open(src, from, Arc::new(PieceCache::new(0)), 512).map_err(|e| SearchError::io(src, e))?;
    let target = EncryptedDirectory::open(dst, to, Arc::new(PieceCache::new(0)), options.piece_bytes)
        .map_err(|e| SearchError::io(dst, e))?;
    Ok(source.copy_to(&target)?)
}

/// Takes the directory's open lock, so that one process at a time uses it.
fn lock_dir(dir: &Path) -> Result<File, SearchError> {
    use fs4::fs_std::FileExt as _;
    std::fs::create_dir_all(dir).map_err(|e| SearchError::io(dir, e))?;
    let path = dir.join(OPEN_LOCK);
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| SearchError::io(&path, e))?;
    match file.try_lock_exclusive() {
        Ok(true) => Ok(file),
        Ok(false) => Err(SearchError::Locked(dir.display().to_string())),
        Err(e) => Err(SearchError::io(&path, e)),
    }
}

/// Writes the schema marker into a new index, or checks an existing one's.
fn check_marker(dir: &EncryptedDirectory) -> Result<(), SearchError> {
    let marker = Path::new(MARKER);
    let meta_exists = dir.exists(Path::new("meta.json")).unwrap_or(true);
    if !dir.exists(marker).unwrap_or(false) {
        if meta_exists {
            return Err(SearchError::Outdated { found: None, expected: SCHEMA_VERSION });
        }
        let body = serde_json::json!({ "format": "niem/search-index", "schema": SCHEMA_VERSION });
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        return dir.atomic_write(marker, &bytes).map_err(|e| SearchError::io(dir.root(), e));
    }
    let bytes = dir.atomic_read(marker).map_err(|_| match dir.fault() {
        Some(f) => SearchError::from(f),
        None => SearchError::Damaged(format!("{MARKER} cannot be read")),
    })?;
    let found =
        serde_json::from_slice::<serde_json::Value>(&bytes).ok().and_then(|v| v["schema"].as_u64()).map(|v| v as u32);
    if found != Some(SCHEMA_VERSION) {
        return Err(SearchError::Outdated { found, expected: SCHEMA_VERSION });
    }
    Ok(())
}

/// Tantivy opens a segment without its positions file (it reads a missing one as
/// empty, and phrases then silently match nothing): every file the committed
/// segments name must be there.
fn missing_files(index: &tantivy::Index) -> Result<(), SearchError> {
    use tantivy::index::SegmentComponent;
    let metas = index.searchable_segment_metas().map_err(SearchError::Tantivy)?;
    for meta in &metas {
        for &component in SegmentComponent::iterator() {
            let needed = match component {
                SegmentComponent::TempStore => false,
                SegmentComponent::Delete => meta.has_deletes(),
                _ => true,
            };
            let file = meta.relative_path(component);
            if needed && !index.directory().exists(&file).unwrap_or(false) {
                return Err(SearchError::Damaged(format!("{} is missing", file.display())));
            }
        }
    }
    Ok(())
}

/// A fault the directory met explains the error best; a file tantivy expected
/// and did not find means damage too.
fn classify(dir: &EncryptedDirectory, e: tantivy::TantivyError) -> SearchError {
    if let Some(fault) = dir.fault() {
        return fault.into();
    }
    match e {
        tantivy::TantivyError::OpenReadError(tantivy::directory::error::OpenReadError::FileDoesNotExist(p)) => {
            SearchError::Damaged(format!("{} is missing", p.display()))
        }
        tantivy::TantivyError::DataCorruption(c) => SearchError::Damaged(format!("{c:?}")),
        other => SearchError::Tantivy(other),
    }
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
        pairs_exact: get("pairs_exact")?,
        pairs_folded: get("pairs_folded")?,
        marks: get("marks")?,
    })
}
