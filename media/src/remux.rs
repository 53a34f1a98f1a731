//! Remux to fragmented MP4, without re-encoding.
//!
//! Input is any byte stream FFmpeg can demux without seeking (FLV rebuilt from
//! RTMP, MPEG-TS, Matroska); output is written as it is produced, as fragmented MP4
//! (`frag_keyframe+empty_moov+default_base_moof`), which a browser's `<video>` plays
//! and seeks through HTTP Range. Audio and video tracks are kept; anything else
//! (data, subtitles) is dropped.
//!
//! ADTS AAC (from MPEG-TS) goes through `aac_adtstoasc` first, and the header is
//! written only once that filter has produced the AudioSpecificConfig, because with
//! `empty_moov` the `moov` (where it belongs) is written before any sample.

use crate::bsf::Bsf;
use crate::{init, MediaError, Track};
use ffmpeg_next as ffmpeg;
use ffmpeg::{codec, format, media, Dictionary, Packet, Rational};
use std::io::{Read, Write};

/// What a remux produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemuxStats {
    pub packets: u64,
    /// Packets the demuxer reported as corrupt and skipped.
    pub skipped: u64,
    /// End of the last packet, from the first, in milliseconds.
    pub duration_ms: u64,
    pub tracks: Vec<Track>,
}

/// Packets held back while waiting for a filter's AudioSpecificConfig, at most.
const MAX_HELD: usize = 2000;

struct OutTrack {
    index: usize,
    in_time_base: Rational,
    bsf: Option<Bsf>,
    /// The AudioSpecificConfig the filter announced (as `NEW_EXTRADATA` side data).
    asc: Option<Vec<u8>>,
}

fn remux_error(what: &str, e: ffmpeg::Error) -> MediaError {
    MediaError::Remux(format!("{what}: {e}"))
}

/// Remuxes `input` to fragmented MP4 on `output`. Blocking: run it on a blocking
/// thread. The end of `input` (or an I/O error after data) ends the stream normally.
pub fn remux_to_fmp4<R: Read + Send + 'static, W: Write + Send + 'static>(input: R, output: W) -> Result<RemuxStats, MediaError> {
    init()?;
    let io = format::context::StreamIo::from_read(input).map_err(|e| remux_error("input", e))?;
    let mut ictx = format::input_from_stream(io, None, None).map_err(|e| MediaError::NotMedia(e.to_string()))?;
    let oio = format::context::StreamIo::from_write(output).map_err(|e| remux_error("output", e))?;
    let mut octx = format::output_to_stream(oio, None, Some("mp4")).map_err(|e| remux_error("mp4 muxer", e))?;

    let mut map: Vec<Option<OutTrack>> = Vec::new();
    let mut stats = RemuxStats::default();
    for ist in ictx.streams() {
        let par = ist.parameters();
        let kind = match par.medium() {
            media::Type::Audio => "audio",
            media::Type::Video => "video",
            _ => {
                map.push(None);
                continue;
            }
        };
        let mut ost = octx.add_stream(codec::encoder::find(codec::Id::None)).map_err(|e| remux_error("add stream", e))?;
        ost.set_parameters(par.clone());
        // SAFETY: a fresh stream's parameters are valid; a zero tag lets the mp4
        // muxer choose its own (FLV and TS tags mean nothing in MP4).
        unsafe { (*ost.parameters().as_mut_ptr()).codec_tag = 0 };
        // SAFETY: `par` wraps the input stream's valid AVCodecParameters.
        let needs_asc = par.id() == codec::Id::AAC && unsafe { (*par.as_ptr()).extradata_size } == 0;
        let bsf = if needs_asc {
            Some(Bsf::new("aac_adtstoasc", &par, ist.time_base()).map_err(|e| remux_error("aac_adtstoasc", e))?)
        } else {
            None
        };
        stats.tracks.push(Track { kind, codec: par.id().name().to_string(), sample_rate: None, channels: None, width: None, height: None });
        map.push(Some(OutTrack { index: ost.index(), in_time_base: ist.time_base(), bsf, asc: None }));
    }
    if stats.tracks.is_empty() {
        return Err(MediaError::NotMedia("no audio or video track".into()));
    }

    // Hold packets back until every filtered track knows its extradata.
    let mut held: Vec<(usize, Packet)> = Vec::new();
    let mut header_written = false;
    let mut first_ts: Option<f64> = None;
    let mut end_ts: f64 = 0.0;
    loop {
        let mut packet = Packet::empty();
        match packet.read(&mut ictx) {
            Ok(()) => {}
            Err(ffmpeg::Error::Eof) => break,
            Err(ffmpeg::Error::InvalidData) => {
                stats.skipped += 1;
                continue;
            }
            // A sender that hangs up mid-read surfaces as an I/O error after data:
            // that is the end of the stream, not a failure.
            Err(_) if stats.packets > 0 || !held.is_empty() => break,
            Err(e) => return Err(remux_error("reading input", e)),
        }
        let Some(Some(track)) = map.get_mut(packet.stream()) else { continue };
        let mut out = Vec::new();
        match &mut track.bsf {
            None => out.push(packet),
            Some(bsf) => {
                bsf.send(&mut packet).map_err(|e| remux_error("aac_adtstoasc", e))?;
                while let Some(p) = bsf.receive().map_err(|e| remux_error("aac_adtstoasc", e))? {
                    if track.asc.is_none() {
                        track.asc = p.side_data().find(|d| d.kind() == ffmpeg::packet::side_data::Type::NewExtraData).map(|d| d.data().to_vec());
                    }
                    out.push(p);
                }
            }
        }
        let (index, tb) = (track.index, track.in_time_base);
        for p in out {
            if let Some(pts) = p.pts().or(p.dts()) {
                let t = pts as f64 * f64::from(tb);
                first_ts = Some(first_ts.map_or(t, |f: f64| f.min(t)));
                end_ts = end_ts.max(t + p.duration() as f64 * f64::from(tb));
            }
            held.push((index, p));
        }
        if !header_written {
            if !extradata_ready(&map) {
                if held.len() > MAX_HELD {
                    return Err(MediaError::Remux("AAC stream never produced its configuration".into()));
                }
                continue;
            }
            write_header(&mut octx, &map)?;
            header_written = true;
        }
        for (index, p) in held.drain(..) {
            write_packet(&mut octx, &map, index, p, &mut stats)?;
        }
    }
    if !header_written {
        if held.is_empty() {
            return Err(MediaError::NotMedia("the stream ended before any audio or video".into()));
        }
        write_header(&mut octx, &map)?;
        for (index, p) in held.drain(..) {
            write_packet(&mut octx, &map, index, p, &mut stats)?;
        }
    }
    octx.write_trailer().map_err(|e| remux_error("finishing the mp4", e))?;
    stats.duration_ms = ((end_ts - first_ts.unwrap_or(0.0)).max(0.0) * 1000.0) as u64;
    Ok(stats)
}

fn extradata_ready(map: &[Option<OutTrack>]) -> bool {
    map.iter().flatten().filter(|t| t.bsf.is_some()).all(|t| t.asc.is_some())
}

fn write_header(octx: &mut format::context::Output, map: &[Option<OutTrack>]) -> Result<(), MediaError> {
    for t in map.iter().flatten() {
        if let Some(bsf) = &t.bsf {
            let ost = octx.stream_mut(t.index).ok_or_else(|| MediaError::Remux("output stream vanished".into()))?;
            // SAFETY: both parameter sets are valid; the copy carries the filter's
            // AudioSpecificConfig into the stream the muxer writes into the moov.
            unsafe {
                let dst = ost.parameters().as_mut_ptr();
                if ffmpeg::ffi::avcodec_parameters_copy(dst, bsf.par_out()) < 0 {
                    return Err(MediaError::Remux("copying AAC parameters".into()));
                }
                (*dst).codec_tag = 0;
                if let Some(asc) = &t.asc {
                    set_extradata(dst, asc)?;
                }
            }
        }
    }
    let mut opts = Dictionary::new();
    opts.set("movflags", "frag_keyframe+empty_moov+default_base_moof");
    octx.write_header_with(opts).map_err(|e| remux_error("writing the mp4 header", e))?;
    Ok(())
}

/// Gives codec parameters their extradata, in FFmpeg-owned, padded memory.
///
/// # Safety
/// `par` must point at valid, writable codec parameters.
unsafe fn set_extradata(par: *mut ffmpeg::ffi::AVCodecParameters, data: &[u8]) -> Result<(), MediaError> {
    let pad = ffmpeg::ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize;
    let buf = ffmpeg::ffi::av_mallocz(data.len() + pad) as *mut u8;
    if buf.is_null() {
        return Err(MediaError::Remux("out of memory".into()));
    }
    std::ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len());
    ffmpeg::ffi::av_freep(&mut (*par).extradata as *mut *mut u8 as *mut std::ffi::c_void);
    (*par).extradata = buf;
    (*par).extradata_size = data.len() as i32;
    Ok(())
}

fn write_packet(octx: &mut format::context::Output, map: &[Option<OutTrack>], index: usize, mut p: Packet, stats: &mut RemuxStats) -> Result<(), MediaError> {
    let track = map.iter().flatten().find(|t| t.index == index).ok_or_else(|| MediaError::Remux("unknown track".into()))?;
    let out_tb = octx.stream(index).ok_or_else(|| MediaError::Remux("output stream vanished".into()))?.time_base();
    p.rescale_ts(track.in_time_base, out_tb);
    p.set_position(-1);
    p.set_stream(index);
    p.write_interleaved(octx).map_err(|e| remux_error("writing a packet", e))?;
    stats.packets += 1;
    Ok(())
}
