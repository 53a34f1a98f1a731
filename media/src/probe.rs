//! Format detection and whole-stream probing.

use crate::{init, MediaError};
use ffmpeg_next as ffmpeg;
use serde::Serialize;
use std::io::{Read, Seek};

/// Confidence FFmpeg must have in a container guess: above "retry", so that random
/// or text bytes that happen to resemble an MP3 frame are not taken for media.
const MIN_SCORE: i32 = ffmpeg::ffi::AVPROBE_SCORE_MAX / 4; // AVPROBE_SCORE_RETRY

/// Names the container that `head` (the first bytes of a file) looks like, if any.
pub fn detect(head: &[u8]) -> Result<String, MediaError> {
    init()?;
    if head.is_empty() {
        return Err(MediaError::NotMedia("the file is empty".into()));
    }
    let mut buf = Vec::with_capacity(head.len() + ffmpeg::ffi::AVPROBE_PADDING_SIZE as usize);
    buf.extend_from_slice(head);
    buf.resize(head.len() + ffmpeg::ffi::AVPROBE_PADDING_SIZE as usize, 0);
    let mut pd: ffmpeg::ffi::AVProbeData = unsafe { std::mem::zeroed() };
    pd.filename = c"".as_ptr();
    pd.buf = buf.as_mut_ptr();
    pd.buf_size = head.len().min(i32::MAX as usize) as i32;
    let mut score = MIN_SCORE;
    // SAFETY: pd points at `buf`, which outlives the call and is padded as FFmpeg requires.
    let fmt = unsafe { ffmpeg::ffi::av_probe_input_format2(&pd, 1, &mut score) };
    if fmt.is_null() {
        return Err(MediaError::NotMedia("no known audio or video container matches its first bytes".into()));
    }
    // SAFETY: a non-null AVInputFormat has a static, NUL-terminated name.
    let name = unsafe { std::ffi::CStr::from_ptr((*fmt).name) };
    Ok(name.to_string_lossy().into_owned())
}

/// What FFmpeg found in a whole stream.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MediaInfo {
    pub container: String,
    pub duration_ms: Option<u64>,
    pub bit_rate: Option<u64>,
    pub tracks: Vec<Track>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Track {
    pub kind: &'static str,
    pub codec: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// Probes a whole stream. Blocking: call it from a blocking thread.
pub fn probe<R: Read + Seek + Send + 'static>(reader: R) -> Result<MediaInfo, MediaError> {
    init()?;
    let io =
        ffmpeg::format::context::StreamIo::from_read_seek(reader).map_err(|e| MediaError::NotMedia(e.to_string()))?;
    let input = ffmpeg::format::input_from_stream(io, None, None).map_err(|e| MediaError::NotMedia(e.to_string()))?;
    let duration = input.duration();
    let tracks = input
        .streams()
        .filter_map(|s| {
            let p = s.parameters();
            // SAFETY: parameters() wraps a valid AVCodecParameters owned by the stream.
            let raw = unsafe { &*p.as_ptr() };
            let kind = match p.medium() {
                ffmpeg::media::Type::Audio => "audio",
                ffmpeg::media::Type::Video => "video",
                ffmpeg::media::Type::Subtitle => "subtitle",
                _ => return None,
            };
            let positive = |v: i32| (v > 0).then_some(v as u32);
            Some(Track {
                kind,
                codec: p.id().name().to_string(),
                sample_rate: (kind == "audio").then_some(positive(raw.sample_rate)).flatten(),
                channels: (kind == "audio").then_some(positive(raw.ch_layout.nb_channels)).flatten(),
                width: (kind == "video").then_some(positive(raw.width)).flatten(),
                height: (kind == "video").then_some(positive(raw.height)).flatten(),
            })
        })
        .collect::<Vec<_>>();
    if tracks.is_empty() {
        return Err(MediaError::NotMedia("no audio or video track".into()));
    }
    Ok(MediaInfo {
        container: input.format().name().to_string(),
        duration_ms: (duration > 0).then_some(duration as u64 / 1000),
        bit_rate: (input.bit_rate() > 0).then(|| input.bit_rate() as u64),
        tracks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_not_media() {
        let text = b"Bien ban hop chi bo thang 11. NIEM-MARKER-1234567890\n".repeat(200);
        assert!(matches!(detect(&text), Err(MediaError::NotMedia(_))));
        assert!(matches!(detect(b""), Err(MediaError::NotMedia(_))));
        assert!(probe(std::io::Cursor::new(text)).is_err());
    }

    #[test]
    fn a_wav_header_is_detected_and_probed() {
        // 1 s of 8 kHz mono 16-bit silence, built by hand so the test needs no files.
        let (rate, secs) = (8000u32, 1u32);
        let data_len = rate * 2 * secs;
        let mut wav = Vec::new();
        wav.extend_from_slice(b"RIFF");
        wav.extend_from_slice(&(36 + data_len).to_le_bytes());
        wav.extend_from_slice(b"WAVEfmt ");
        wav.extend_from_slice(&16u32.to_le_bytes());
        wav.extend_from_slice(&1u16.to_le_bytes());
        wav.extend_from_slice(&1u16.to_le_bytes());
        wav.extend_from_slice(&rate.to_le_bytes());
        wav.extend_from_slice(&(rate * 2).to_le_bytes());
        wav.extend_from_slice(&2u16.to_le_bytes());
        wav.extend_from_slice(&16u16.to_le_bytes());
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&data_len.to_le_bytes());
        wav.resize(wav.len() + data_len as usize, 0);
        assert_eq!(detect(&wav).unwrap(), "wav");
        let info = probe(std::io::Cursor::new(wav)).unwrap();
        assert_eq!(info.container, "wav");
        assert_eq!(info.duration_ms, Some(1000));
        assert_eq!(info.tracks[0].kind, "audio");
        assert_eq!(info.tracks[0].sample_rate, Some(8000));
    }
}
