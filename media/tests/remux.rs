//! Remux real FFmpeg output (H.264 + AAC in MPEG-TS, FLV and Matroska, read as a
//! non-seekable stream) to fragmented MP4, and check the result with ffprobe and a
//! full decode: right tracks, right duration, fragmented, AAC configuration present.

#![allow(clippy::unwrap_used)] // tests and benches may: a panic is their failure report

use std::io::Read;
use std::process::Command;

/// A `Read` that cannot seek, like a socket.
struct Pipe(std::io::Cursor<Vec<u8>>);
impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // Small reads, as a network would deliver.
        let n = buf.len().min(4096);
        self.0.read(&mut buf[..n])
    }
}

#[derive(Clone, Default)]
struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn make(format: &str, secs: u32) -> Vec<u8> {
    make_with(format, secs, &["-preset", "ultrafast"])
}

fn make_with(format: &str, secs: u32, x264: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:sample_rate=44100:duration={secs}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("testsrc=size=320x240:rate=25:duration={secs}"))
        .args(["-c:v", "libx264"])
        .args(x264)
        .args(["-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", format, "-"])
        .output()
        .expect("ffmpeg CLI (installed by scripts/setup.sh)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn probe(path: &std::path::Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_format", "-show_streams", "-of", "json"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn ts_flv_and_mkv_become_playable_fragmented_mp4() {
    for format in ["mpegts", "flv", "matroska"] {
        let input = make(format, 4);
        let sink = Sink::default();
        let stats = media::remux::remux_to_fmp4(Pipe(std::io::Cursor::new(input)), sink.clone())
            .unwrap_or_else(|e| panic!("{format}: {e}"));
        let out = sink.0.lock().unwrap().clone();
        assert!(out.windows(4).any(|w| w == b"moof"), "{format}: not fragmented");
        assert_eq!(&out[4..8], b"ftyp", "{format}");
        assert!((stats.duration_ms as i64 - 4000).abs() <= 500, "{format}: {stats:?}");
        let kinds: Vec<&str> = stats.tracks.iter().map(|t| t.kind).collect();
        assert_eq!(kinds.len(), 2, "{format}: {kinds:?}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.mp4");
        std::fs::write(&path, &out).unwrap();
        let p = probe(&path);
        assert!(p["format"]["format_name"].as_str().unwrap().contains("mp4"), "{format}: {p}");
        let duration: f64 = p["format"]["duration"].as_str().unwrap().parse().unwrap();
        assert!((duration - 4.0).abs() <= 0.5, "{format}: duration {duration}");
        let codecs: Vec<&str> =
            p["streams"].as_array().unwrap().iter().map(|s| s["codec_name"].as_str().unwrap()).collect();
        assert!(codecs.contains(&"h264") && codecs.contains(&"aac"), "{format}: {codecs:?}");
        let aac = p["streams"].as_array().unwrap().iter().find(|s| s["codec_name"] == "aac").unwrap();
        assert_eq!(aac["sample_rate"], "44100", "{format}: AAC configuration missing from the moov");
        assert_eq!(aac["profile"], "LC", "{format}");
        // Every frame decodes.
        let dec =
            Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&path).args(["-f", "null", "-"]).output().unwrap();
        assert!(dec.status.success() && dec.stderr.is_empty(), "{format}: {}", String::from_utf8_lossy(&dec.stderr));
    }
}

#[test]
fn junk_is_refused_and_an_early_hangup_is_an_end() {
    let junk: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    assert!(media::remux::remux_to_fmp4(Pipe(std::io::Cursor::new(junk)), Sink::default()).is_err());
    // A sender that stops halfway: what arrived is remuxed and finished properly.
    let mut input = make("flv", 4);
    input.truncate(input.len() / 2);
    let sink = Sink::default();
    let stats = media::remux::remux_to_fmp4(Pipe(std::io::Cursor::new(input)), sink.clone()).unwrap();
    assert!(stats.duration_ms > 1000 && stats.duration_ms < 3500, "{stats:?}");
}

/// Splits an FLV file into its tags: (type, timestamp, body).
fn tags(flv: &[u8]) -> Vec<(u8, u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 13;
    while at + 11 <= flv.len() {
        let kind = flv[at];
        let size = u32::from_be_bytes([0, flv[at + 1], flv[at + 2], flv[at + 3]]) as usize;
        let ts = u32::from_be_bytes([flv[at + 7], flv[at + 4], flv[at + 5], flv[at + 6]]);
        if at + 11 + size > flv.len() {
            break;
        }
        out.push((kind, ts, flv[at + 11..at + 11 + size].to_vec()));
        at += 11 + size + 4;
    }
    out
}

/// RTMP delivers bare tag bodies with timestamps: reframed by `media::flv` (audio
/// and video only, as an RTMP publish carries them), they remux and decode.
#[test]
fn reframed_rtmp_style_tags_remux() {
    let original = make("flv", 3);
    let mut flv = media::flv::header().to_vec();
    let mut n = 0;
    for (kind, ts, body) in tags(&original) {
        let kind = match kind {
            8 => media::flv::TagKind::Audio,
            9 => media::flv::TagKind::Video,
            _ => continue, // onMetaData is optional; RTMP servers may drop it
        };
        media::flv::write_tag(&mut flv, kind, ts, &body).unwrap();
        n += 1;
    }
    assert!(n > 100, "{n} tags");
    let sink = Sink::default();
    let stats = media::remux::remux_to_fmp4(Pipe(std::io::Cursor::new(flv)), sink.clone()).unwrap();
    assert!((stats.duration_ms as i64 - 3000).abs() <= 500, "{stats:?}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.mp4");
    std::fs::write(&path, &*sink.0.lock().unwrap()).unwrap();
    let dec = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&path).args(["-f", "null", "-"]).output().unwrap();
    assert!(dec.status.success() && dec.stderr.is_empty(), "{}", String::from_utf8_lossy(&dec.stderr));
}

fn decode_seconds(path: &std::path::Path) -> f64 {
    // Decoded audio samples, not container metadata: what a listener hears.
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-vn", "-ac", "1", "-ar", "8000", "-f", "s16le", "-"])
        .output()
        .unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout.len() as f64 / 2.0 / 8000.0
}

/// A publisher that reconnects: two inputs become one continuous file whose second
/// part starts where the first ended, for FLV and for MPEG-TS (which starts its
/// clock at 1.4 s and runs through the AAC filter again).
#[test]
fn segments_join_into_one_continuous_file() {
    for format in ["flv", "mpegts"] {
        let sink = Sink::default();
        let mut remuxer = media::remux::Remuxer::new(sink.clone()).unwrap();
        remuxer.feed(Pipe(std::io::Cursor::new(make(format, 3)))).unwrap();
        let after_first = sink.0.lock().unwrap().len();
        assert!(after_first > 0, "{format}: the first segment must be flushed before the second arrives");
        remuxer.feed(Pipe(std::io::Cursor::new(make(format, 2)))).unwrap();
        let stats = remuxer.finish().unwrap();
        assert_eq!(stats.segments, 2);
        assert!((stats.duration_ms as i64 - 5000).abs() <= 300, "{format}: {stats:?}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.mp4");
        std::fs::write(&path, &*sink.0.lock().unwrap()).unwrap();
        let heard = decode_seconds(&path);
        assert!((heard - 5.0).abs() <= 0.3, "{format}: {heard} s of audio");
        let dec =
            Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&path).args(["-f", "null", "-"]).output().unwrap();
        assert!(dec.status.success() && dec.stderr.is_empty(), "{format}: {}", String::from_utf8_lossy(&dec.stderr));
    }
}

/// Audio alone has no keyframes to cut at; fragments must still come every second.
#[test]
fn audio_only_is_fragmented_as_it_goes() {
    let out = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=300:sample_rate=48000:duration=6",
            "-c:a",
            "aac",
            "-f",
            "flv",
            "-",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let sink = Sink::default();
    media::remux::remux_to_fmp4(Pipe(std::io::Cursor::new(out.stdout)), sink.clone()).unwrap();
    let bytes = sink.0.lock().unwrap().clone();
    let moofs = bytes.windows(4).filter(|w| w == b"moof").count();
    assert!((5..=8).contains(&moofs), "{moofs} fragments for 6 s of audio");
}

/// The input path a publisher controls: FLV as rebuilt from RTMP messages, with
/// random bytes overwritten (bodies and tag headers alike). The remuxer must come
/// back with a result, never crash or hang, and what it does write is an MP4.
mod mutated_input {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn source() -> &'static Vec<u8> {
        static FLV: OnceLock<Vec<u8>> = OnceLock::new();
        FLV.get_or_init(|| make("flv", 1))
    }

    /// What HTTP push takes besides FLV.
    fn pushed(format: usize) -> &'static Vec<u8> {
        static TS: OnceLock<Vec<u8>> = OnceLock::new();
        static MKV: OnceLock<Vec<u8>> = OnceLock::new();
        if format == 0 {
            TS.get_or_init(|| make("mpegts", 1))
        } else {
            MKV.get_or_init(|| make("matroska", 1))
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        #[test]
        fn mutated_flv_never_crashes(edits in proptest::collection::vec((any::<u32>(), any::<u8>()), 1..40)) {
            let mut flv = source().clone();
            for (at, byte) in edits {
                let i = 13 + at as usize % (flv.len() - 13);
                flv[i] = byte;
            }
            let sink = Sink::default();
            if media::remux::remux_to_fmp4(Pipe(std::io::Cursor::new(flv)), sink.clone()).is_ok() {
                let out = sink.0.lock().unwrap();
                prop_assert_eq!(&out[4..8], b"ftyp");
            }
        }

        #[test]
        fn mutated_ts_and_mkv_never_crash(format in 0usize..2, edits in proptest::collection::vec((any::<u32>(), any::<u8>()), 1..40)) {
            let mut input = pushed(format).clone();
            for (at, byte) in edits {
                let i = at as usize % input.len();
                input[i] = byte;
            }
            let sink = Sink::default();
            if media::remux::remux_to_fmp4(Pipe(std::io::Cursor::new(input)), sink.clone()).is_ok() {
                let out = sink.0.lock().unwrap();
                prop_assert_eq!(&out[4..8], b"ftyp");
            }
        }
    }
}

/// B-frames (decode order differs from presentation order), as most encoders
/// send them: the first packets are held for the header and must keep their
/// timestamps through it.
#[test]
fn b_frames_keep_their_timestamps() {
    for format in ["flv", "mpegts"] {
        let input = make_with(format, 3, &["-preset", "veryfast", "-bf", "3"]);
        let sink = Sink::default();
        let stats = media::remux::remux_to_fmp4(Pipe(std::io::Cursor::new(input)), sink.clone())
            .unwrap_or_else(|e| panic!("{format}: {e}"));
        assert!((stats.duration_ms as i64 - 3000).abs() <= 300, "{format}: {stats:?}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.mp4");
        std::fs::write(&path, &*sink.0.lock().unwrap()).unwrap();
        let frames = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-select_streams",
                "v",
                "-count_frames",
                "-show_entries",
                "stream=nb_read_frames,has_b_frames",
                "-of",
                "csv=p=0",
            ])
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&frames.stdout).to_string();
        assert!(text.contains(",75") || text.contains("75"), "{format}: 75 frames expected, ffprobe says {text}");
        let dec =
            Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&path).args(["-f", "null", "-"]).output().unwrap();
        assert!(dec.status.success() && dec.stderr.is_empty(), "{format}: {}", String::from_utf8_lossy(&dec.stderr));
    }
}
