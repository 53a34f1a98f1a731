//! A minimal safe wrapper over FFmpeg's bitstream filters (`av_bsf_*`), which
//! ffmpeg-next does not wrap. Used for `aac_adtstoasc`: MPEG-TS carries AAC with ADTS
//! headers, MP4 wants raw frames plus an AudioSpecificConfig in the `moov`.

use ffmpeg::ffi;
use ffmpeg::packet::Mut as _;
use ffmpeg_next as ffmpeg;
use std::ffi::CString;

pub struct Bsf {
    ctx: *mut ffi::AVBSFContext,
}

// SAFETY: the context is owned exclusively by this value and used from one thread
// at a time; FFmpeg's bitstream filters keep no thread-local state.
unsafe impl Send for Bsf {}

impl Bsf {
    /// Creates and initialises filter `name` for a stream with these parameters.
    pub fn new(
        name: &str,
        par: &ffmpeg::codec::Parameters,
        time_base: ffmpeg::Rational,
    ) -> Result<Self, ffmpeg::Error> {
        let cname = CString::new(name).map_err(|_| ffmpeg::Error::Bug)?;
        // SAFETY: plain FFI calls on pointers FFmpeg allocates; every failure path
        // frees the context through Drop.
        unsafe {
            let filter = ffi::av_bsf_get_by_name(cname.as_ptr());
            if filter.is_null() {
                return Err(ffmpeg::Error::BsfNotFound);
            }
            let mut ctx = std::ptr::null_mut();
            check(ffi::av_bsf_alloc(filter, &mut ctx))?;
            let bsf = Bsf { ctx };
            check(ffi::avcodec_parameters_copy((*ctx).par_in, par.as_ptr()))?;
            (*ctx).time_base_in = time_base.into();
            check(ffi::av_bsf_init(ctx))?;
            Ok(bsf)
        }
    }

    /// Feeds one packet (its data is moved into the filter).
    pub fn send(&mut self, packet: &mut ffmpeg::Packet) -> Result<(), ffmpeg::Error> {
        // SAFETY: both pointers are valid; FFmpeg takes the packet's reference.
        check(unsafe { ffi::av_bsf_send_packet(self.ctx, packet.as_mut_ptr()) })
    }

    /// Takes one filtered packet, if one is ready.
    pub fn receive(&mut self) -> Result<Option<ffmpeg::Packet>, ffmpeg::Error> {
        let mut packet = ffmpeg::Packet::empty();
        // SAFETY: both pointers are valid; FFmpeg fills the empty packet.
        match unsafe { ffi::av_bsf_receive_packet(self.ctx, packet.as_mut_ptr()) } {
            0 => Ok(Some(packet)),
            e if e == ffi::AVERROR(ffi::EAGAIN) || e == ffi::AVERROR_EOF => Ok(None),
            e => Err(ffmpeg::Error::from(e)),
        }
    }

    /// The stream parameters after filtering (for `aac_adtstoasc`, with the
    /// AudioSpecificConfig as extradata once the first packet has passed).
    pub fn par_out(&self) -> *const ffi::AVCodecParameters {
        // SAFETY: the context is valid for self's lifetime.
        unsafe { (*self.ctx).par_out }
    }
}

impl Drop for Bsf {
    fn drop(&mut self) {
        // SAFETY: the context came from av_bsf_alloc; av_bsf_free accepts it and nulls it.
        unsafe { ffi::av_bsf_free(&mut self.ctx) }
    }
}

fn check(code: i32) -> Result<(), ffmpeg::Error> {
    if code < 0 {
        Err(ffmpeg::Error::from(code))
    } else {
        Ok(())
    }
}
