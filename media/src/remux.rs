//! Remux to fragmented MP4, without re-encoding.
//!
//! Input is any byte stream FFmpeg can demux without seeking (FLV rebuilt from
//! RTMP, MPEG-TS or Matroska from HTTP push); output is written as it is produced,
//! as fragmented MP4 (`frag_keyframe+empty_moov+default_base_moof`, and a fragment
//! at least every second so that audio-only streams are cut too), which a browser's
//! `<video>` plays and seeks through HTTP Range. Audio and video tracks are kept;
//! anything else (data, subtitles) is dropped.
//!
//! A [`Remuxer`] takes several inputs one after another (a publisher that drops and
//! reconnects) and writes them as one continuous file: each new segment's tracks
//! are matched to the first one's by kind and codec, and its timestamps are shifted
//! to start where the previous segment ended.
//!
//! ADTS AAC (from MPEG-TS) goes through `aac_adtstoasc` first, and the header is
//! written only once that filter has produced the AudioSpecificConfig, because with
//! `empty_moov` the `moov` (where it belongs) is written before any sample.

use crate::bsf::Bsf;
use crate::{init, MediaError, Track};
use ffmpeg::{codec, format, media, Dictionary, Packet, Rational};
use ffmpeg_next as ffmpeg;
use std::io::{Read, Write};

/// What a remux produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemuxStats {
    pub packets: u64,
    /// Packets skipped: reported corrupt by the demuxer, or out of time order.
    pub skipped: u64,
    /// End of the last packet, from the first, in milliseconds.
    pub duration_ms: u64,
    pub tracks: Vec<Track>,
    /// Inputs taken (1 unless a publisher reconnected).
    pub segments: u32,
    /// Clock jumps in the input that were re-anchored.
    pub rebased: u32,
}

/// Packets held back while waiting for a filter's AudioSpecificConfig, at most.
const MAX_HELD: usize = 2000;

/// A packet further than this from where the output ends is a clock jump.
const MAX_JUMP_SECS: f64 = 30.0;

/// Longest believable packet duration and composition offset.
const MAX_SPAN_SECS: f64 = 10.0;

/// `format::input_from_stream`, but stream analysis is bounded: one second of
/// input, one decoding thread, and at most [`MAX_ANALYSES`] at once.
fn open_input(mut io: format::context::StreamIo) -> Result<format::context::Input, ffmpeg::Error> {
    use ffmpeg::ffi;
    // SAFETY: mirrors ffmpeg-next's `input_from_stream`: the context takes `io`'s
    // AVIO context (kept alive by the returned Input), every error path frees
    // what was allocated, and the per-stream option dictionaries are freed after use.
    unsafe {
        let mut ps = ffi::avformat_alloc_context();
        if ps.is_null() {
            return Err(ffmpeg::Error::Other { errno: ENOMEM });
        }
        (*ps).pb = io.as_mut_ptr();
        (*ps).flags |= ffi::AVFMT_FLAG_CUSTOM_IO;
        // One second of analysis, not five: less held per stream while it runs, and
        // a live stream's first piece is spooled (acknowledged) sooner.
        let mut open_opts: *mut ffi::AVDictionary = std::ptr::null_mut();
        ffi::av_dict_set(&mut open_opts, c"analyzeduration".as_ptr(), c"1000000".as_ptr(), 0);
        let r = ffi::avformat_open_input(&mut ps, std::ptr::null(), std::ptr::null(), &mut open_opts);
        ffi::av_dict_free(&mut open_opts);
        if r < 0 {
            return Err(ffmpeg::Error::from(r));
        }
        if !(*ps).iformat.is_null() {
            release_zero_pages((*ps).priv_data.cast(), (*(*ps).iformat).priv_data_size.max(0) as usize);
        }
        let n = (*ps).nb_streams as usize;
        let mut opts: Vec<*mut ffi::AVDictionary> = vec![std::ptr::null_mut(); n.max(1)];
        for o in opts.iter_mut().take(n) {
            ffi::av_dict_set(o, c"threads".as_ptr(), c"1".as_ptr(), 0);
        }
        let r = {
            let _turn = Analysis::begin();
            ffi::avformat_find_stream_info(ps, opts.as_mut_ptr())
        };
        for o in opts.iter_mut() {
            ffi::av_dict_free(o);
        }
        if r < 0 {
            ffi::avformat_close_input(&mut ps);
            return Err(ffmpeg::Error::from(r));
        }
        Ok(format::context::Input::wrap_with_custom_io(ps, io))
    }
}

/// Gives the kernel back every whole page of `len` bytes at `ptr` that holds
/// only zeros; they read as zeros again when next touched.
///
/// Why: FFmpeg's FLV demuxer (what every RTMP stream goes through) keeps a 2 MiB
/// resync buffer in its private state, used only after corrupt input, and
/// allocates that state zeroed, which makes all of it resident: 2 MiB a stream
/// for its whole life, 400 MiB at 200 streams. A page is only dropped if it is
/// still all zeros, so the demuxer cannot tell the difference, whatever its layout.
///
/// # Safety
/// `ptr..ptr + len` is one live allocation that no other thread touches while
/// this runs (the demuxer's state, right after it was opened on this thread).
unsafe fn release_zero_pages(ptr: *mut u8, len: usize) {
    // SAFETY: sysconf has no preconditions.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        p if p > 0 => p as usize,
        _ => return,
    };
    if ptr.is_null() {
        return;
    }
    let (start, end) = ((ptr as usize).next_multiple_of(page), (ptr as usize + len) / page * page);
    let mut run: Option<usize> = None;
    let mut at = start;
    while at <= end {
        // SAFETY: whole pages inside the allocation, which nobody writes meanwhile.
        let zero = at < end && unsafe { std::slice::from_raw_parts(at as *const u8, page) }.iter().all(|&b| b == 0);
        match (zero, run) {
            (true, None) => run = Some(at),
            (false, Some(from)) => {
                // SAFETY: whole pages of a private anonymous allocation holding only
                // zeros, which MADV_DONTNEED turns into zero-fill-on-demand pages.
                // Advice only: if the kernel declines, the pages simply stay.
                unsafe { libc::madvise(from as *mut libc::c_void, at - from, libc::MADV_DONTNEED) };
                run = None;
            }
            _ => {}
        }
        at += page;
    }
}

/// Stream analyses running at once, at most. Each holds a decoder and a few
/// decoded frames (about 8 MiB for 720p H.264) for a moment; when a meeting starts
/// and every bridge point connects in the same second, taking turns keeps that
/// peak small. The wait is short: the turn is spent on data already queued.
const MAX_ANALYSES: usize = 8;

struct Analysis;

static RUNNING: (std::sync::Mutex<usize>, std::sync::Condvar) = (std::sync::Mutex::new(0), std::sync::Condvar::new());

impl Analysis {
    fn begin() -> Analysis {
        let (count, turn) = &RUNNING;
        let mut n = count.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= MAX_ANALYSES {
            n = turn.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n += 1;
        Analysis
    }
}

impl Drop for Analysis {
    fn drop(&mut self) {
        let (count, turn) = &RUNNING;
        *count.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        turn.notify_one();
    }
}

/// `ENOMEM` on Linux, the one platform this runs on.
const ENOMEM: i32 = 12;

/// Makes a packet's timing something the mp4 muxer takes: no presentation before
/// decoding, no absurd composition offset or duration (which would overflow its
/// 32-bit fields, an assertion that aborts the process).
fn sanitize(p: &mut Packet, tb: Rational) {
    let secs = |t: i64| t as f64 * f64::from(tb);
    if let (Some(pts), Some(dts)) = (p.pts(), p.dts()) {
        if pts < dts || secs(pts - dts) > MAX_SPAN_SECS {
            p.set_pts(Some(dts));
        }
    }
    if p.duration() < 0 || secs(p.duration()) > MAX_SPAN_SECS {
        p.set_duration(0);
    }
}

/// One output track, fixed by the first segment.
struct OutTrack {
    index: usize,
    medium: media::Type,
    codec: codec::Id,
    /// Parameters of the filtered stream (AAC after `aac_adtstoasc`), for the header.
    filtered: Option<codec::Parameters>,
    /// The AudioSpecificConfig the filter announced (as `NEW_EXTRADATA` side data).
    asc: Option<Vec<u8>>,
    needs_asc: bool,
    last_dts: Option<i64>,
}

/// How one input stream of the current segment feeds an output track.
struct InTrack {
    out: usize,
    time_base: Rational,
    bsf: Option<Bsf>,
}

fn remux_error(what: &str, e: ffmpeg::Error) -> MediaError {
    MediaError::Remux(format!("{what}: {e}"))
}

/// Remuxes `input` to fragmented MP4 on `output`. Blocking: run it on a blocking
/// thread. The end of `input` (or an I/O error after data) ends the stream normally.
pub fn remux_to_fmp4<R: Read + Send + 'static, W: Write + Send + 'static>(
    input: R,
    output: W,
) -> Result<RemuxStats, MediaError> {
    let mut remuxer = Remuxer::new(output)?;
    remuxer.feed(input)?;
    remuxer.finish()
}

/// A fragmented MP4 being written from one or more inputs in turn.
pub struct Remuxer {
    octx: format::context::Output,
    tracks: Vec<OutTrack>,
    header_written: bool,
    /// Packets (output track, packet shifted but still in its input time base, that
    /// time base) waiting for the header: the muxer sets output time bases only
    /// when it writes the header, so rescaling must wait for it.
    held: Vec<(usize, Packet, Rational)>,
    stats: RemuxStats,
    /// Output timeline, in seconds: where the first packet started, where the last ended.
    first_ts: Option<f64>,
    end_ts: f64,
}

impl Remuxer {
    pub fn new<W: Write + Send + 'static>(output: W) -> Result<Self, MediaError> {
        init()?;
        let oio = format::context::StreamIo::from_write(output).map_err(|e| remux_error("output", e))?;
        let octx = format::output_to_stream(oio, None, Some("mp4")).map_err(|e| remux_error("mp4 muxer", e))?;
        Ok(Self {
            octx,
            tracks: Vec::new(),
            header_written: false,
            held: Vec::new(),
            stats: RemuxStats::default(),
            first_ts: None,
            end_ts: 0.0,
        })
    }

    /// Tracks of the output, once the first segment has opened.
    pub fn stats(&self) -> &RemuxStats {
        &self.stats
    }

    /// Reads one input to its end and appends it. The end of `input`, or an I/O
    /// error after data (a sender that hung up), ends the segment normally; what
    /// was read is then flushed to the output, whole fragments, before this returns.
    pub fn feed<R: Read + Send + 'static>(&mut self, input: R) -> Result<(), MediaError> {
        let io = format::context::StreamIo::from_read(input).map_err(|e| remux_error("input", e))?;
        let mut ictx = open_input(io).map_err(|e| MediaError::NotMedia(e.to_string()))?;
        let mut map = self.map_tracks(&ictx)?;
        self.stats.segments += 1;
        // Seconds added to this segment's timestamps, so that it starts where the
        // output ended (the first at zero: MPEG-TS clocks start anywhere).
        let mut shift: Option<f64> = None;
        let mut read_any = false;
        loop {
            let mut packet = Packet::empty();
            match packet.read(&mut ictx) {
                Ok(()) => read_any = true,
                Err(ffmpeg::Error::Eof) => break,
                Err(ffmpeg::Error::InvalidData) => {
                    self.stats.skipped += 1;
                    continue;
                }
                // A sender that hangs up mid-read surfaces as an I/O error after data:
                // that is the end of the segment, not a failure.
                Err(_) if read_any => break,
                Err(e) => return Err(remux_error("reading input", e)),
            }
            let Some(Some(track)) = map.get_mut(packet.stream()) else { continue };
            for mut p in filter(track, &mut self.tracks, packet)? {
                let tb = track.time_base;
                let Some(start) = p.dts().or(p.pts()) else { continue };
                let at = start as f64 * f64::from(tb);
                let mut s = *shift.get_or_insert(self.end_ts - at);
                // A clock jump (a broken or hostile sender) is re-anchored where the
                // output ends: FFmpeg's mp4 muxer aborts the whole process on a gap
                // between samples beyond 2^31 ticks.
                if (at + s - self.end_ts).abs() > MAX_JUMP_SECS {
                    s = self.end_ts - at;
                    shift = Some(s);
                    self.stats.rebased += 1;
                }
                sanitize(&mut p, tb);
                self.place(track.out, tb, s, &mut p);
                self.held.push((track.out, p, tb));
            }
            self.write_ready()?;
        }
        if !self.header_written && self.held.is_empty() {
            return Err(MediaError::NotMedia("the stream ended before any audio or video".into()));
        }
        self.flush()
    }

    /// Matches the input's audio and video streams to output tracks: the first
    /// segment creates them, later ones must fit them.
    fn map_tracks(&mut self, ictx: &format::context::Input) -> Result<Vec<Option<InTrack>>, MediaError> {
        let first = self.tracks.is_empty() && !self.header_written;
        let mut map = Vec::new();
        for ist in ictx.streams() {
            let par = ist.parameters();
            let medium = par.medium();
            if !matches!(medium, media::Type::Audio | media::Type::Video) {
                map.push(None);
                continue;
            }
            // SAFETY: `par` wraps the input stream's valid AVCodecParameters.
            let needs_asc = par.id() == codec::Id::AAC && unsafe { (*par.as_ptr()).extradata_size } == 0;
            let out = if first {
                let mut ost = self
                    .octx
                    .add_stream(codec::encoder::find(codec::Id::None))
                    .map_err(|e| remux_error("add stream", e))?;
                ost.set_parameters(par.clone());
                // SAFETY: a fresh stream's parameters are valid; a zero tag lets the mp4
                // muxer choose its own (FLV and TS tags mean nothing in MP4).
                unsafe { (*ost.parameters().as_mut_ptr()).codec_tag = 0 };
                let kind = if medium == media::Type::Audio { "audio" } else { "video" };
                self.stats.tracks.push(Track {
                    kind,
                    codec: par.id().name().to_string(),
                    sample_rate: None,
                    channels: None,
                    width: None,
                    height: None,
                });
                self.tracks.push(OutTrack {
                    index: ost.index(),
                    medium,
                    codec: par.id(),
                    filtered: None,
                    asc: None,
                    needs_asc,
                    last_dts: None,
                });
                Some(ost.index())
            } else {
                self.tracks
                    .iter()
                    .find(|t| {
                        t.medium == medium
                            && t.codec == par.id()
                            && !map.iter().flatten().any(|m: &InTrack| m.out == t.index)
                    })
                    .map(|t| t.index)
            };
            let Some(out) = out else {
                map.push(None);
                continue;
            };
            let bsf = if needs_asc {
                Some(Bsf::new("aac_adtstoasc", &par, ist.time_base()).map_err(|e| remux_error("aac_adtstoasc", e))?)
            } else {
                None
            };
            map.push(Some(InTrack { out, time_base: ist.time_base(), bsf }));
        }
        if map.iter().all(Option::is_none) {
            return Err(MediaError::NotMedia(if first {
                "no audio or video track".into()
            } else {
                "the new segment's tracks do not match the stream's".into()
            }));
        }
        Ok(map)
    }

    /// Shifts a packet by `shift` seconds onto the output timeline and names its
    /// output track.
    fn place(&mut self, out: usize, tb: Rational, shift: f64, p: &mut Packet) {
        let offset = (shift / f64::from(tb)).round() as i64;
        p.set_pts(p.pts().map(|t| t + offset));
        p.set_dts(p.dts().map(|t| t + offset));
        if let Some(t) = p.pts().or(p.dts()) {
            let start = t as f64 * f64::from(tb);
            self.first_ts = Some(self.first_ts.map_or(start, |f| f.min(start)));
            self.end_ts = self.end_ts.max(start + p.duration() as f64 * f64::from(tb));
        }
        p.set_position(-1);
        p.set_stream(out);
    }

    /// Writes held packets once the header can be written.
    fn write_ready(&mut self) -> Result<(), MediaError> {
        if !self.header_written {
            if !self.tracks.iter().filter(|t| t.needs_asc).all(|t| t.asc.is_some()) {
                if self.held.len() > MAX_HELD {
                    return Err(MediaError::Remux("AAC stream never produced its configuration".into()));
                }
                return Ok(());
            }
            self.write_header()?;
        }
        for (out, p, tb) in std::mem::take(&mut self.held) {
            self.write_packet(out, p, tb)?;
        }
        Ok(())
    }

    fn write_packet(&mut self, out: usize, mut p: Packet, tb: Rational) -> Result<(), MediaError> {
        let out_tb =
            self.octx.stream(out).ok_or_else(|| MediaError::Remux("output stream vanished".into()))?.time_base();
        p.rescale_ts(tb, out_tb);
        let track =
            self.tracks.iter_mut().find(|t| t.index == out).ok_or_else(|| MediaError::Remux("unknown track".into()))?;
        // The muxer refuses time going backwards (a sender's clock jump, a bad
        // reconnect); one such packet is dropped rather than the whole stream.
        if let (Some(dts), Some(last)) = (p.dts(), track.last_dts) {
            if dts <= last {
                self.stats.skipped += 1;
                return Ok(());
            }
        }
        track.last_dts = p.dts().or(track.last_dts);
        p.write_interleaved(&mut self.octx).map_err(|e| remux_error("writing a packet", e))?;
        self.stats.packets += 1;
        Ok(())
    }

    fn write_header(&mut self) -> Result<(), MediaError> {
        for t in &self.tracks {
            let Some(filtered) = &t.filtered else { continue };
            let ost =
                self.octx.stream_mut(t.index).ok_or_else(|| MediaError::Remux("output stream vanished".into()))?;
            // SAFETY: both parameter sets are valid; the copy carries the filter's
            // AudioSpecificConfig into the stream the muxer writes into the moov.
            unsafe {
                let dst = ost.parameters().as_mut_ptr();
                if ffmpeg::ffi::avcodec_parameters_copy(dst, filtered.as_ptr()) < 0 {
                    return Err(MediaError::Remux("copying AAC parameters".into()));
                }
                (*dst).codec_tag = 0;
                if let Some(asc) = &t.asc {
                    set_extradata(dst, asc)?;
                }
            }
        }
        let mut opts = Dictionary::new();
        opts.set("movflags", "frag_keyframe+empty_moov+default_base_moof");
        // Audio has no keyframes to cut at: without a duration limit an audio-only
        // stream would be one fragment held in memory until the end.
        opts.set("frag_duration", "1000000");
        // Every finished fragment goes straight to the output, not into AVIO's buffer.
        opts.set("flush_packets", "1");
        // A stalled track must not hold the other's packets for long.
        opts.set("max_interleave_delta", "1000000");
        self.octx.write_header_with(opts).map_err(|e| remux_error("writing the mp4 header", e))?;
        self.header_written = true;
        Ok(())
    }

    /// Writes everything read so far: held packets, the interleaving queue and the
    /// muxer's open fragment, then AVIO's buffer.
    fn flush(&mut self) -> Result<(), MediaError> {
        if !self.header_written {
            self.write_header()?;
        }
        for (out, p, tb) in std::mem::take(&mut self.held) {
            self.write_packet(out, p, tb)?;
        }
        // SAFETY: the context is open with its header written; null packets ask the
        // interleaver and then the muxer (mov supports AVFMT_ALLOW_FLUSH) to flush.
        unsafe {
            let s = self.octx.as_mut_ptr();
            ffmpeg::ffi::av_interleaved_write_frame(s, std::ptr::null_mut());
            ffmpeg::ffi::av_write_frame(s, std::ptr::null_mut());
            if !(*s).pb.is_null() {
                ffmpeg::ffi::avio_flush((*s).pb);
            }
        }
        Ok(())
    }

    /// Ends the file. Returns what was written.
    pub fn finish(mut self) -> Result<RemuxStats, MediaError> {
        if !self.header_written {
            return Err(MediaError::NotMedia("no input had audio or video".into()));
        }
        self.flush()?;
        self.octx.write_trailer().map_err(|e| remux_error("finishing the mp4", e))?;
        self.stats.duration_ms = ((self.end_ts - self.first_ts.unwrap_or(0.0)).max(0.0) * 1000.0) as u64;
        Ok(self.stats)
    }
}

/// Passes a packet through its track's filter, if any, noting the AAC configuration
/// the filter announces.
fn filter(track: &mut InTrack, tracks: &mut [OutTrack], mut packet: Packet) -> Result<Vec<Packet>, MediaError> {
    let Some(bsf) = &mut track.bsf else { return Ok(vec![packet]) };
    let out =
        tracks.iter_mut().find(|t| t.index == track.out).ok_or_else(|| MediaError::Remux("unknown track".into()))?;
    bsf.send(&mut packet).map_err(|e| remux_error("aac_adtstoasc", e))?;
    let mut packets = Vec::new();
    while let Some(p) = bsf.receive().map_err(|e| remux_error("aac_adtstoasc", e))? {
        if out.asc.is_none() {
            out.asc = p
                .side_data()
                .find(|d| d.kind() == ffmpeg::packet::side_data::Type::NewExtraData)
                .map(|d| d.data().to_vec());
            if out.asc.is_some() {
                let mut copy = codec::Parameters::new();
                // SAFETY: both are valid parameter sets; the filter keeps ownership of its own.
                if unsafe { ffmpeg::ffi::avcodec_parameters_copy(copy.as_mut_ptr(), bsf.par_out()) } < 0 {
                    return Err(MediaError::Remux("copying AAC parameters".into()));
                }
                out.filtered = Some(copy);
            }
        }
        packets.push(p);
    }
    Ok(packets)
}

/// Gives codec parameters their extradata, in FFmpeg-owned, padded memory.
///
/// # Safety
/// `par` must point at valid, writable codec parameters.
unsafe fn set_extradata(par: *mut ffmpeg::ffi::AVCodecParameters, data: &[u8]) -> Result<(), MediaError> {
    let pad = ffmpeg::ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize;
    // SAFETY: av_mallocz returns zeroed memory of the asked size or null.
    let buf = unsafe { ffmpeg::ffi::av_mallocz(data.len() + pad) } as *mut u8;
    if buf.is_null() {
        return Err(MediaError::Remux("out of memory".into()));
    }
    // SAFETY: `buf` holds data.len() + pad bytes and does not overlap `data`;
    // `par` is valid and writable (the caller's promise), and its old extradata
    // was allocated by FFmpeg, so av_freep may free it.
    unsafe {
        std::ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len());
        ffmpeg::ffi::av_freep(&mut (*par).extradata as *mut *mut u8 as *mut std::ffi::c_void);
        (*par).extradata = buf;
        (*par).extradata_size = data.len() as i32;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::release_zero_pages;

    fn resident(ptr: *mut u8, pages: usize, page: usize) -> Vec<bool> {
        let mut v = vec![0u8; pages];
        // SAFETY: `ptr` is a page-aligned mapping of `pages` pages.
        let r = unsafe { libc::mincore(ptr.cast(), pages * page, v.as_mut_ptr()) };
        assert_eq!(r, 0, "mincore");
        v.iter().map(|b| b & 1 == 1).collect()
    }

    /// Zero pages go back to the kernel, every byte reads as before, and a page
    /// holding anything else stays: the demuxer cannot tell.
    #[test]
    fn only_pages_of_zeros_are_given_back_and_every_byte_reads_the_same() {
        // SAFETY: plain calls on a private anonymous mapping this test owns.
        unsafe {
            let page = libc::sysconf(libc::_SC_PAGESIZE) as usize;
            let pages = 16;
            let map = libc::mmap(
                std::ptr::null_mut(),
                pages * page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(map, libc::MAP_FAILED);
            let base = map as *mut u8;
            std::ptr::write_bytes(base, 0, pages * page);
            *base.add(3 * page + 17) = 0x5a;
            *base.add(9 * page + page - 1) = 0xa5;
            assert!(resident(base, pages, page).iter().all(|&r| r), "all touched");
            // An allocation that starts and ends mid-page: its partial pages stay.
            release_zero_pages(base.add(100), pages * page - 200);
            let after = resident(base, pages, page);
            for (i, r) in after.iter().enumerate() {
                let kept = matches!(i, 0 | 3 | 9 | 15);
                assert_eq!(*r, kept, "page {i}: resident {r}");
            }
            assert_eq!(*base.add(3 * page + 17), 0x5a);
            assert_eq!(*base.add(9 * page + page - 1), 0xa5);
            let all = std::slice::from_raw_parts(base, pages * page);
            assert_eq!(all.iter().filter(|&&b| b != 0).count(), 2, "the rest reads as zeros");
            libc::munmap(map, pages * page);
        }
    }
}
