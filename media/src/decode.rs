//! Decode the audio of any stream FFmpeg reads to 16 kHz mono f32, Whisper's
//! input, handed on in blocks as it is produced.
//!
//! The input is a `Read + Seek` (the archive's decrypting reader), so no plaintext
//! touches disk, and nothing is held but FFmpeg's buffers and one block: a
//! three-hour meeting costs the same memory as a three-minute one.
//!
//! Samples are placed on the stream's own timeline: a gap in the audio's
//! timestamps (a dropped line, audio that starts after the video) is filled with
//! silence, so that sample `n` is always `n / 16000` seconds into the media a
//! player shows. That is what lets a transcript line seek the player.

use crate::{init, MediaError};
use ffmpeg::ffi;
use ffmpeg_next as ffmpeg;
use std::io::{Read, Seek};

/// Whisper's sample rate.
pub const SAMPLE_RATE: u32 = 16_000;

/// A hole in the timestamps shorter than this is jitter, not a gap.
const MIN_GAP_SAMPLES: u64 = SAMPLE_RATE as u64 / 20;

/// What a decode went through.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodeStats {
    /// Samples handed on, silence filled into gaps included.
    pub samples: u64,
    /// Of those, silence inserted where the timestamps had a gap.
    pub gap_samples: u64,
    /// Packets the decoder refused (corrupt input); decoding goes on after them.
    pub bad_packets: u64,
}

impl DecodeStats {
    pub fn duration_ms(&self) -> u64 {
        self.samples * 1000 / SAMPLE_RATE as u64
    }
}

/// Decodes the first audio track of `input`, calling `sink` with each block of
/// 16 kHz mono samples in order. An error from `sink` stops the decode and is
/// returned. Blocking: run it on a blocking thread.
pub fn decode_audio<R, F>(input: R, mut sink: F) -> Result<DecodeStats, MediaError>
where
    R: Read + Seek + Send + 'static,
    F: FnMut(&[f32]) -> Result<(), MediaError>,
{
    init()?;
    let io =
        ffmpeg::format::context::StreamIo::from_read_seek(input).map_err(|e| MediaError::NotMedia(e.to_string()))?;
    let mut ictx =
        ffmpeg::format::input_from_stream(io, None, None).map_err(|e| MediaError::NotMedia(e.to_string()))?;
    let track = ictx
        .streams()
        .best(ffmpeg::media::Type::Audio)
        .ok_or_else(|| MediaError::NotMedia("no audio track to transcribe".into()))?;
    let (index, time_base) = (track.index(), track.time_base());
    let origin = media_origin(&ictx, time_base);
    let mut decoder = ffmpeg::codec::context::Context::from_parameters(track.parameters())
        .and_then(|c| c.decoder().audio())
        .map_err(|e| MediaError::Decode(format!("cannot open the audio decoder: {e}")))?;
    let mut state = Placement { time_base, origin, stats: DecodeStats::default(), resampler: None, out: Vec::new() };
    let mut frame = ffmpeg::frame::Audio::empty();
    for (stream, packet) in ictx.packets() {
        if stream.index() != index {
            continue;
        }
        if decoder.send_packet(&packet).is_err() {
            state.stats.bad_packets += 1;
            continue;
        }
        while decoder.receive_frame(&mut frame).is_ok() {
            state.frame(&frame, &mut sink)?;
        }
    }
    if decoder.send_eof().is_ok() {
        while decoder.receive_frame(&mut frame).is_ok() {
            state.frame(&frame, &mut sink)?;
        }
    }
    state.flush(&mut sink)?;
    Ok(state.stats)
}

/// Where the player's zero is, in the audio track's time base: the container's
/// start time, which is where `<video>` starts counting.
fn media_origin(ictx: &ffmpeg::format::context::Input, tb: ffmpeg::Rational) -> i64 {
    // SAFETY: the context is open; start_time is a plain field.
    let start = unsafe { (*ictx.as_ptr()).start_time };
    if start == ffi::AV_NOPTS_VALUE {
        return 0;
    }
    // SAFETY: av_rescale_q is a pure function.
    unsafe { ffi::av_rescale_q(start, ffi::AVRational { num: 1, den: ffi::AV_TIME_BASE }, tb.into()) }
}

/// Places decoded frames on the output timeline and resamples them.
struct Placement {
    time_base: ffmpeg::Rational,
    origin: i64,
    stats: DecodeStats,
    resampler: Option<Resampler>,
    out: Vec<f32>,
}

impl Placement {
    fn frame<F: FnMut(&[f32]) -> Result<(), MediaError>>(
        &mut self,
        frame: &ffmpeg::frame::Audio,
        sink: &mut F,
    ) -> Result<(), MediaError> {
        let shape = Shape::of(frame);
        if self.resampler.as_ref().map(|r| r.shape) != Some(shape) {
            // A format change mid-stream: drain the old resampler first.
            self.flush(sink)?;
            self.resampler = Some(Resampler::new(shape)?);
        }
        if let Some(pts) = frame.pts() {
            let at = rescale(pts.saturating_sub(self.origin), self.time_base);
            let pending = self.resampler.as_ref().map_or(0, |r| r.delay());
            let due = self.stats.samples + pending;
            if at > due + MIN_GAP_SAMPLES {
                self.silence(at - due, sink)?;
            }
        }
        let resampler = self.resampler.as_mut().expect("set above");
        resampler.convert(Some(frame), &mut self.out)?;
        self.emit(sink)
    }

    fn silence<F: FnMut(&[f32]) -> Result<(), MediaError>>(
        &mut self,
        mut n: u64,
        sink: &mut F,
    ) -> Result<(), MediaError> {
        self.flush_resampler()?;
        self.emit(sink)?;
        self.stats.gap_samples += n;
        let block = [0f32; SAMPLE_RATE as usize];
        while n > 0 {
            let k = n.min(block.len() as u64) as usize;
            self.stats.samples += k as u64;
            sink(&block[..k])?;
            n -= k as u64;
        }
        Ok(())
    }

    fn flush_resampler(&mut self) -> Result<(), MediaError> {
        if let Some(r) = self.resampler.as_mut() {
            r.convert(None, &mut self.out)?;
        }
        Ok(())
    }

    fn flush<F: FnMut(&[f32]) -> Result<(), MediaError>>(&mut self, sink: &mut F) -> Result<(), MediaError> {
        self.flush_resampler()?;
        self.emit(sink)
    }

    fn emit<F: FnMut(&[f32]) -> Result<(), MediaError>>(&mut self, sink: &mut F) -> Result<(), MediaError> {
        if !self.out.is_empty() {
            self.stats.samples += self.out.len() as u64;
            sink(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }
}

/// A timestamp in `tb` as a sample index at 16 kHz; negative is 0.
fn rescale(ts: i64, tb: ffmpeg::Rational) -> u64 {
    let (num, den) = (tb.numerator() as i128, tb.denominator() as i128);
    if den == 0 || ts <= 0 {
        return 0;
    }
    (ts as i128 * num * SAMPLE_RATE as i128 / den).clamp(0, u64::MAX as i128) as u64
}

/// The input side of a resampler: sample format, channels, rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape {
    format: i32,
    channels: i32,
    mask: u64,
    rate: i32,
}

impl Shape {
    fn of(frame: &ffmpeg::frame::Audio) -> Shape {
        // SAFETY: reading plain fields of a decoded frame.
        unsafe {
            let f = &*frame.as_ptr();
            let mask =
                if f.ch_layout.order == ffi::AVChannelOrder::AV_CHANNEL_ORDER_NATIVE { f.ch_layout.u.mask } else { 0 };
            Shape { format: f.format, channels: f.ch_layout.nb_channels, mask, rate: f.sample_rate }
        }
    }
}

/// swresample to packed mono f32 at 16 kHz, through the raw API: ffmpeg-next 9's
/// wrapper passes FFmpeg 5.1 channel masks that are 0 for "unspecified" layouts
/// (WAV, some Matroska), and sizes output by input, which grows swr's internal
/// buffer without bound when upsampling.
struct Resampler {
    swr: *mut ffi::SwrContext,
    shape: Shape,
}

// SAFETY: the context is used by one thread at a time (it is owned, not shared).
unsafe impl Send for Resampler {}

impl Resampler {
    fn new(shape: Shape) -> Result<Resampler, MediaError> {
        if shape.channels <= 0 || shape.rate <= 0 {
            return Err(MediaError::Decode(format!("audio with {} channels at {} Hz", shape.channels, shape.rate)));
        }
        // SAFETY: layouts are initialised by FFmpeg's own functions and uninit'ed
        // after use; swr_alloc_set_opts2 copies them; every error path frees swr.
        unsafe {
            let mut input: ffi::AVChannelLayout = std::mem::zeroed();
            if shape.mask != 0 {
                ffi::av_channel_layout_from_mask(&mut input, shape.mask);
            } else {
                ffi::av_channel_layout_default(&mut input, shape.channels);
            }
            let mut mono: ffi::AVChannelLayout = std::mem::zeroed();
            ffi::av_channel_layout_default(&mut mono, 1);
            let mut swr: *mut ffi::SwrContext = std::ptr::null_mut();
            let r = ffi::swr_alloc_set_opts2(
                &mut swr,
                &mut mono,
                ffi::AVSampleFormat::AV_SAMPLE_FMT_FLT,
                SAMPLE_RATE as i32,
                &mut input,
                std::mem::transmute::<i32, ffi::AVSampleFormat>(shape.format),
                shape.rate,
                0,
                std::ptr::null_mut(),
            );
            ffi::av_channel_layout_uninit(&mut input);
            ffi::av_channel_layout_uninit(&mut mono);
            if r < 0 || swr.is_null() || ffi::swr_init(swr) < 0 {
                ffi::swr_free(&mut swr);
                return Err(MediaError::Decode(format!(
                    "cannot resample audio of format {} with {} channels",
                    shape.format, shape.channels
                )));
            }
            Ok(Resampler { swr, shape })
        }
    }

    /// Samples buffered inside swr, at the output rate.
    fn delay(&self) -> u64 {
        // SAFETY: swr is initialised.
        unsafe { ffi::swr_get_delay(self.swr, SAMPLE_RATE as i64).max(0) as u64 }
    }

    /// Converts one frame (or drains, with `None`), appending to `out`.
    fn convert(&mut self, frame: Option<&ffmpeg::frame::Audio>, out: &mut Vec<f32>) -> Result<(), MediaError> {
        // SAFETY: `out` is reserved for `cap` samples before swr writes them, and
        // its length is set to what swr reports written; the frame's data planes
        // hold `nb_samples` samples each, as the decoder produced them.
        unsafe {
            let (data, n) = match frame {
                Some(f) => ((*f.as_ptr()).extended_data as *const *const u8, (*f.as_ptr()).nb_samples),
                None => (std::ptr::null(), 0),
            };
            let cap = ffi::swr_get_out_samples(self.swr, n);
            if cap < 0 {
                return Err(MediaError::Decode("the resampler cannot size its output".into()));
            }
            out.reserve(cap as usize);
            let mut dst = out.as_mut_ptr().add(out.len()) as *mut u8;
            let written = ffi::swr_convert(self.swr, &mut dst, cap, data as *mut *const u8, n);
            if written < 0 {
                return Err(MediaError::Decode(format!("resampling failed: {}", ffmpeg::Error::from(written))));
            }
            out.set_len(out.len() + written as usize);
        }
        Ok(())
    }
}

impl Drop for Resampler {
    fn drop(&mut self) {
        // SAFETY: swr was allocated by swr_alloc_set_opts2 and is freed once.
        unsafe { ffi::swr_free(&mut self.swr) }
    }
}
