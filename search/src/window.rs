//! Cutting a transcript into the documents the index holds.
//!
//! A window is a run of consecutive segments of one stream, at least
//! [`MIN_SPAN_MS`] long unless the stream ends, never more than [`MAX_SPAN_MS`]
//! unless a single segment is; the next window starts with the previous one's last
//! segment, so any phrase that spans one segment boundary lies whole in some window.

use crate::analyzer::normalize;

pub const MIN_SPAN_MS: u64 = 15_000;
pub const MAX_SPAN_MS: u64 = 30_000;

/// What the index needs of one recording: where it belongs and what was said.
#[derive(Debug, Clone)]
pub struct Recording {
    pub recording: String,
    pub meeting: String,
    /// The org's path from the root, `/bloc/base/cell` (ids): a facet.
    pub org_path: String,
    /// Meeting kind: regular, thematic, conference.
    pub kind: String,
    /// When the meeting was held (its scheduled date).
    pub date: time::OffsetDateTime,
    pub segments: Vec<Segment>,
}

/// One transcript line, timed within its stream.
#[derive(Debug, Clone)]
pub struct Segment {
    pub stream: String,
    /// Who spoke: the endpoint's name, or the uploaded file's.
    pub label: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
}

/// One document: the text of a few segments and where each begins.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub stream: String,
    pub label: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
    /// (byte offset in `text`, start ms) of each segment, in order.
    pub marks: Vec<(usize, u64)>,
}

impl Window {
    /// The start of the segment that holds byte `offset` of the text.
    pub fn moment(&self, offset: usize) -> u64 {
        self.marks.iter().take_while(|(at, _)| *at <= offset).last().map_or(self.start_ms, |(_, ms)| *ms)
    }
}

/// The windows of a transcript whose segments are in time order per stream
/// (streams may interleave).
pub fn windows(segments: &[Segment]) -> Vec<Window> {
    let mut streams: Vec<&str> = Vec::new();
    for s in segments {
        if !streams.contains(&s.stream.as_str()) {
            streams.push(&s.stream);
        }
    }
    let mut out = Vec::new();
    for stream in streams {
        let own: Vec<&Segment> = segments.iter().filter(|s| s.stream == stream).collect();
        out.extend(stream_windows(&own));
    }
    out
}

fn stream_windows(segs: &[&Segment]) -> Vec<Window> {
    let mut out = Vec::new();
    let mut first = 0;
    while first < segs.len() {
        let mut last = first;
        while last + 1 < segs.len() {
            let span = segs[last].end_ms.saturating_sub(segs[first].start_ms);
            let next_span = segs[last + 1].end_ms.saturating_sub(segs[first].start_ms);
            if span >= MIN_SPAN_MS || next_span > MAX_SPAN_MS {
                break;
            }
            last += 1;
        }
        out.push(window(&segs[first..=last]));
        if last + 1 >= segs.len() {
            break;
        }
        // Overlap by one segment; a one-segment window just moves on.
        first = if last > first { last } else { last + 1 };
    }
    out
}

fn window(segs: &[&Segment]) -> Window {
    let mut text = String::new();
    let mut marks = Vec::with_capacity(segs.len());
    for s in segs {
        if !text.is_empty() {
            text.push(' ');
        }
        marks.push((text.len(), s.start_ms));
        text.push_str(normalize(s.text.trim()).as_str());
    }
    Window {
        stream: segs[0].stream.clone(),
        label: segs[0].label.clone(),
        start_ms: segs[0].start_ms,
        end_ms: segs[segs.len() - 1].end_ms,
        text,
        marks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(stream: &str, start: u64, end: u64, text: &str) -> Segment {
        Segment { stream: stream.into(), label: stream.into(), start_ms: start, end_ms: end, text: text.into() }
    }

    #[test]
    fn windows_overlap_by_one_segment_and_stay_within_bounds() {
        let segs: Vec<Segment> = (0..20).map(|i| seg("a", i * 5_000, i * 5_000 + 4_500, &format!("s{i}"))).collect();
        let w = windows(&segs);
        for pair in w.windows(2) {
            let last_of_first = pair[0].text.split(' ').next_back().unwrap();
            assert_eq!(pair[1].text.split(' ').next().unwrap(), last_of_first, "{pair:?}");
        }
        assert!(w.iter().all(|w| w.end_ms - w.start_ms <= MAX_SPAN_MS));
        assert!(w[..w.len() - 1].iter().all(|w| w.end_ms - w.start_ms >= MIN_SPAN_MS));
        assert_eq!(w.last().unwrap().text.split(' ').next_back(), Some("s19"));
    }

    #[test]
    fn streams_never_share_a_window_and_moments_map_to_segments() {
        let segs = vec![seg("a", 0, 2_000, "một hai"), seg("b", 500, 1_500, "ba"), seg("a", 3_000, 4_000, "bốn năm")];
        let w = windows(&segs);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].text, "một hai bốn năm");
        assert_eq!(w[1].text, "ba");
        let offset = w[0].text.find("năm").unwrap();
        assert_eq!(w[0].moment(offset), 3_000);
        assert_eq!(w[0].moment(0), 0);
    }

    #[test]
    fn a_long_single_segment_is_its_own_window() {
        let segs = vec![seg("a", 0, 40_000, "dài"), seg("a", 40_000, 41_000, "ngắn")];
        let w = windows(&segs);
        assert_eq!(w.len(), 2);
        assert_eq!(w[1].text, "ngắn");
    }
}
