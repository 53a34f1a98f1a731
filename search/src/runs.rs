//! Where each meeting's windows lie in a segment.
//!
//! What it is: per segment, the runs of consecutive documents that belong to one
//! meeting, with the meeting's id and date. A recording is indexed in one go by
//! one thread, and merges keep the order of documents, so a meeting's windows are
//! one run; grouping by meeting then reads no document and no column per hit:
//! counting matching meetings visits one matching window per meeting and skips
//! the rest of its run. Built once per segment (a segment's documents never
//! change, only which are deleted) and dropped with the segment.
//!
//! What it is not: an assumption. A meeting split over several runs or segments
//! is still one meeting: callers merge by id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tantivy::index::SegmentId;
use tantivy::{DocId, Searcher, SegmentReader};

pub(crate) struct Runs {
    /// First document of each run, ascending, and `max_doc` at the end.
    starts: Vec<DocId>,
    /// Per run: its meeting, as an index into `names`.
    meeting: Vec<u32>,
    /// Per run: the meeting's date (Unix seconds).
    dates: Vec<i64>,
    names: Vec<Arc<str>>,
    /// Each meeting's runs, by id.
    by_name: HashMap<Arc<str>, Vec<usize>>,
}

impl Runs {
    fn build(reader: &SegmentReader) -> tantivy::Result<Runs> {
        let fast = reader.fast_fields();
        let meetings = fast.str("meeting")?;
        let dates = fast.date("date")?;
        let mut runs = Runs {
            starts: Vec::new(),
            meeting: Vec::new(),
            dates: Vec::new(),
            names: Vec::new(),
            by_name: HashMap::new(),
        };
        let Some(meetings) = meetings else {
            runs.starts.push(reader.max_doc());
            return Ok(runs);
        };
        let mut slot: HashMap<u64, u32> = HashMap::new();
        let mut previous = None;
        let mut name = String::new();
        for doc in 0..reader.max_doc() {
            let ord = meetings.ords().first(doc);
            if ord == previous && doc > 0 {
                continue;
            }
            previous = ord;
            let index = match ord {
                Some(o) => match slot.get(&o) {
                    Some(&index) => index,
                    None => {
                        name.clear();
                        meetings.ord_to_str(o, &mut name)?;
                        let index = runs.add_name(&name);
                        slot.insert(o, index);
                        index
                    }
                },
                // A window without a meeting: never expected, kept apart.
                None => runs.add_name(""),
            };
            let date = dates.first(doc).map_or(0, |d| d.into_timestamp_secs());
            let run = runs.starts.len();
            runs.starts.push(doc);
            runs.meeting.push(index);
            runs.dates.push(date);
            runs.by_name.entry(runs.names[index as usize].clone()).or_default().push(run);
        }
        runs.starts.push(reader.max_doc());
        Ok(runs)
    }

    fn add_name(&mut self, name: &str) -> u32 {
        self.names.push(Arc::from(name));
        (self.names.len() - 1) as u32
    }

    /// The run holding `doc`.
    pub fn run_of(&self, doc: DocId) -> usize {
        self.starts.partition_point(|&s| s <= doc) - 1
    }

    /// The first document after `run`.
    pub fn end(&self, run: usize) -> DocId {
        self.starts[run + 1]
    }

    pub fn start(&self, run: usize) -> DocId {
        self.starts[run]
    }

    pub fn meeting(&self, run: usize) -> &Arc<str> {
        &self.names[self.meeting[run] as usize]
    }

    pub fn date(&self, run: usize) -> i64 {
        self.dates[run]
    }

    /// The runs of meeting `name` in this segment.
    pub fn of_meeting(&self, name: &str) -> &[usize] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }
}

/// The runs of every live segment, built as segments appear.
#[derive(Default)]
pub(crate) struct RunsCache(Mutex<HashMap<SegmentId, Arc<Runs>>>);

impl RunsCache {
    /// The runs of each of `searcher`'s segments, in segment order.
    pub fn for_searcher(&self, searcher: &Searcher) -> tantivy::Result<Vec<Arc<Runs>>> {
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::with_capacity(searcher.segment_readers().len());
        for reader in searcher.segment_readers() {
            let runs = match cache.get(&reader.segment_id()) {
                Some(runs) => runs.clone(),
                None => {
                    let runs = Arc::new(Runs::build(reader)?);
                    cache.insert(reader.segment_id(), runs.clone());
                    runs
                }
            };
            out.push(runs);
        }
        Ok(out)
    }

    /// Keeps only (and builds) the runs of `searcher`'s segments: called after
    /// every reload, so that queries find them ready.
    pub fn refresh(&self, searcher: &Searcher) -> tantivy::Result<()> {
        let live: Vec<SegmentId> = searcher.segment_readers().iter().map(|r| r.segment_id()).collect();
        self.0.lock().unwrap_or_else(|e| e.into_inner()).retain(|id, _| live.contains(id));
        self.for_searcher(searcher).map(drop)
    }
}
