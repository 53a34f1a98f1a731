//! Niêm media: what FFmpeg (through ffmpeg-next 9 on the system's libav*) does for
//! the service, all of it on blocking threads, all of it in memory.
//!
//! - [`detect`]: does the first piece of an upload look like a media container? Used
//!   to refuse a non-media upload before anything is stored.
//! - [`probe`]: container, duration and codecs of a whole stream, read through any
//!   `Read + Seek` (the archive's decrypting reader), so plaintext stays in memory.
//! - [`remux`]: a live stream (FLV from RTMP, MPEG-TS or Matroska from HTTP push) to
//!   fragmented MP4 without re-encoding, so a browser can play and seek it;
//! - [`flv`]: framing RTMP message bodies as FLV tags, the input [`remux`] takes;
//! - [`decode`]: any stream's audio to 16 kHz mono f32, in blocks, for Whisper;
//! - [`transcribe`]: Whisper (whisper-rs) over those blocks, in windows cut at
//!   pauses, with the guards against text that was never said.
//!
//! It is not storage and not crypto: it never sees keys or the store, and it
//! writes nothing to disk.

mod bsf;
pub mod decode;
pub mod flv;
mod probe;
pub mod remux;
pub mod transcribe;

pub use probe::{detect, probe, MediaInfo, Track};

use ffmpeg_next as ffmpeg;
use std::sync::Once;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("not a media file FFmpeg can read: {0}")]
    NotMedia(String),
    #[error("FFmpeg failed to initialise: {0}")]
    Init(String),
    #[error("remux failed: {0}")]
    Remux(String),
    #[error("cannot decode the audio: {0}")]
    Decode(String),
    #[error("cannot load the Whisper model: {0}")]
    Model(String),
    #[error("transcription failed: {0}")]
    Transcribe(String),
    /// The caller stopped the work (shutdown, or a progress callback said so).
    #[error("stopped: {0}")]
    Stopped(String),
}

fn init() -> Result<(), MediaError> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = ffmpeg::init().map_err(|e| MediaError::Init(e.to_string()));
        // FFmpeg's own logging would print parts of malformed input; keep it quiet.
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Fatal);
    });
    result
}
