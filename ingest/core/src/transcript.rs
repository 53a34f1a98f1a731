//! The transcript document (`niem-transcript/1`): what is sealed in
//! `recordings/<rec>/transcript.niem`, and its WebVTT and SRT renderings.
//!
//! One document per recording: the segments of every stream (each bridge point
//! of the meeting), merged in wall-clock order and labelled by endpoint. It says
//! plainly that it is machine-generated, by which model (name and SHA-256).
//! Flagged segments (blocklisted phrases, loops) stay in the document, marked;
//! the renderings and search leave them out.

use media::transcribe::Segment;
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use time::OffsetDateTime;

pub const FORMAT: &str = "niem-transcript/1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    pub format: String,
    pub recording: String,
    pub meeting: String,
    pub org: String,
    pub language: String,
    /// Always true: no person checked this text.
    pub machine_generated: bool,
    pub model: ModelRef,
    pub created_at: String,
    pub streams: Vec<StreamPart>,
    /// In wall-clock order across streams.
    pub segments: Vec<Line>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRef {
    /// The model file's name.
    pub name: String,
    pub sha256: String,
}

/// What transcription found in one stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamPart {
    pub stream: String,
    /// The endpoint's name, or the uploaded file's.
    pub label: String,
    /// When the stream's media starts, UTC.
    pub started_at: String,
    pub audio_ms: u64,
    pub speech_ms: u64,
    pub dropped_silent: u32,
    /// Why a stream has no segments, when it is not silence (no audio track).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One segment, placed both on its stream's timeline (to seek that stream's
/// player) and on the wall clock (to order the meeting).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub stream: String,
    pub label: String,
    /// Wall-clock start, UTC.
    pub at: String,
    /// From the start of the recording's earliest stream.
    pub offset_ms: u64,
    /// Times on the stream's own timeline, text, confidence, flags.
    #[serde(flatten)]
    pub segment: Segment,
}

impl Line {
    pub fn flagged(&self) -> bool {
        !self.segment.flags.is_empty()
    }
}

/// One stream's result, before merging.
pub struct StreamResult {
    pub part: StreamPart,
    pub started: OffsetDateTime,
    pub segments: Vec<Segment>,
}

impl Transcript {
    /// Merges streams' segments into wall-clock order.
    pub fn merge(mut head: Transcript, results: Vec<StreamResult>) -> Transcript {
        let origin = results.iter().map(|r| r.started).min();
        let mut lines = Vec::new();
        for r in results {
            let base = origin.map_or(0, |o| (r.started - o).whole_milliseconds().max(0) as u64);
            for s in r.segments {
                let at = r.started + time::Duration::milliseconds(s.start_ms as i64);
                lines.push(Line {
                    stream: r.part.stream.clone(),
                    label: r.part.label.clone(),
                    at: archive::clock::format_ts(at),
                    offset_ms: base + s.start_ms,
                    segment: s,
                });
            }
            head.streams.push(r.part);
        }
        lines.sort_by(|a, b| (a.offset_ms, &a.stream).cmp(&(b.offset_ms, &b.stream)));
        head.segments = lines;
        head
    }

    /// The cues of one stream on its own timeline, or of all streams on the
    /// recording's, unflagged only, labelled when streams are mixed.
    fn cues(&self, stream: Option<&str>) -> Vec<(u64, u64, String)> {
        let mixed = self.streams.len() > 1;
        self.segments
            .iter()
            .filter(|l| !l.flagged() && stream.is_none_or(|s| l.stream == s))
            .map(|l| {
                let s = &l.segment;
                match stream {
                    Some(_) => (s.start_ms, s.end_ms, s.text.clone()),
                    None if mixed => {
                        (l.offset_ms, l.offset_ms + (s.end_ms - s.start_ms), format!("{}: {}", l.label, s.text))
                    }
                    None => (l.offset_ms, l.offset_ms + (s.end_ms - s.start_ms), s.text.clone()),
                }
            })
            .collect()
    }

    pub fn to_vtt(&self, stream: Option<&str>) -> String {
        let mut out = String::from("WEBVTT\n\nNOTE Machine-generated transcript (");
        let _ = write!(out, "{} sha256:{}), not checked by a person.\n\n", self.model.name, self.model.sha256);
        for (i, (start, end, text)) in self.cues(stream).into_iter().enumerate() {
            let _ = write!(out, "{}\n{} --> {}\n{}\n\n", i + 1, clock(start, '.'), clock(end, '.'), cue_text(&text));
        }
        out
    }

    pub fn to_srt(&self, stream: Option<&str>) -> String {
        let mut out = String::new();
        for (i, (start, end, text)) in self.cues(stream).into_iter().enumerate() {
            let _ = write!(out, "{}\n{} --> {}\n{}\n\n", i + 1, clock(start, ','), clock(end, ','), cue_text(&text));
        }
        out
    }

    /// Plain text, one line per segment with its wall-clock time and label.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for l in self.segments.iter().filter(|l| !l.flagged()) {
            let _ = writeln!(out, "[{}] {}: {}", clock(l.offset_ms, '.'), l.label, l.segment.text);
        }
        out
    }
}

/// `hh:mm:ss.mmm` (WebVTT) or `hh:mm:ss,mmm` (SRT).
fn clock(ms: u64, sep: char) -> String {
    format!("{:02}:{:02}:{:02}{sep}{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// Cue text cannot hold a blank line or "-->", and WebVTT reads `<` and `&` as markup.
fn cue_text(text: &str) -> String {
    text.replace("-->", "→").replace('&', "&amp;").replace('<', "&lt;").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    use media::transcribe::Flag;

    fn seg(start_ms: u64, text: &str, flags: Vec<Flag>) -> Segment {
        Segment { start_ms, end_ms: start_ms + 2000, text: text.into(), avg_logprob: -0.2, no_speech_prob: 0.01, flags }
    }

    fn head() -> Transcript {
        Transcript {
            format: FORMAT.into(),
            recording: "r".into(),
            meeting: "m".into(),
            org: "o".into(),
            language: "vi".into(),
            machine_generated: true,
            model: ModelRef { name: "ggml-base.bin".into(), sha256: "c0db".into() },
            created_at: "2026-11-22T08:00:00.000Z".into(),
            streams: vec![],
            segments: vec![],
        }
    }

    fn part(stream: &str, label: &str) -> StreamPart {
        StreamPart {
            stream: stream.into(),
            label: label.into(),
            started_at: String::new(),
            audio_ms: 0,
            speech_ms: 0,
            dropped_silent: 0,
            note: None,
        }
    }

    #[test]
    fn streams_merge_in_wall_clock_order_and_renderings_skip_flagged_lines() {
        let t0 = time::macros::datetime!(2026-11-22 01:00:00 UTC);
        let a = StreamResult {
            part: part("sa", "Điểm cầu A"),
            started: t0,
            segments: vec![seg(1000, "Khai mạc", vec![]), seg(9000, "Kết luận", vec![])],
        };
        let b = StreamResult {
            part: part("sb", "Điểm cầu B"),
            started: t0 + time::Duration::seconds(3),
            segments: vec![
                seg(1000, "Ý kiến <1> & --> 2", vec![]),
                seg(2000, "Hãy subscribe", vec![Flag::Blocklisted]),
            ],
        };
        let t = Transcript::merge(head(), vec![b, a]);
        let order: Vec<(&str, u64)> = t.segments.iter().map(|l| (l.segment.text.as_str(), l.offset_ms)).collect();
        assert_eq!(
            order,
            [("Khai mạc", 1000), ("Ý kiến <1> & --> 2", 4000), ("Hãy subscribe", 5000), ("Kết luận", 9000)]
        );
        assert_eq!(t.segments[1].at, "2026-11-22T01:00:04.000Z");
        let vtt = t.to_vtt(None);
        assert!(vtt.starts_with("WEBVTT\n\nNOTE Machine-generated"));
        assert!(vtt.contains("2\n00:00:04.000 --> 00:00:06.000\nĐiểm cầu B: Ý kiến &lt;1> &amp; → 2\n"), "{vtt}");
        assert!(!vtt.contains("subscribe"), "flagged lines are left out");
        let srt = t.to_srt(Some("sb"));
        assert_eq!(srt, "1\n00:00:01,000 --> 00:00:03,000\nÝ kiến <1> & → 2\n\n".replace("<1> &", "&lt;1> &amp;"));
        assert!(t.to_text().contains("[00:00:09.000] Điểm cầu A: Kết luận"));
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Transcript>(&json).unwrap(), t);
    }

    #[test]
    fn clock_formats() {
        assert_eq!(clock(3_723_004, '.'), "01:02:03.004");
        assert_eq!(clock(0, ','), "00:00:00,000");
    }
}
