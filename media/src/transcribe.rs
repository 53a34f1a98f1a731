//! Speech to text with Whisper (whisper.cpp 1.8 through whisper-rs 0.16), with the
//! guards an archive that claims to be evidence needs.
//!
//! - **One model, many jobs.** A [`Model`] (one `WhisperContext`) is loaded once and
//!   shared; each job makes its own state. Everything here blocks: run it on a
//!   blocking thread.
//! - **The language is always given.** Whisper's detection takes Vietnamese for
//!   Thai; [`language_known`] checks a code before a job is queued with it.
//! - **Windows, not the whole file.** Audio arrives in blocks from
//!   [`crate::decode`]; a [`Windower`] keeps at most 5 min 10 s of it (20 MB) and
//!   cuts windows of at most 5 minutes at pauses, and at every silence of 5 s or
//!   more, so memory is flat for a meeting of any length and silence is never shown
//!   to the model. Inside a window whisper.cpp moves through 30-s passes exactly as
//!   it does over a whole file; a window only costs one short pass at its end
//!   (measured: 30-s windows cost two passes each, 1.4× the time).
//! - **No text out of silence.** An energy gate ([`Gate`]) marks speech frames; a
//!   segment whose span holds none is dropped, as is one Whisper itself scores as
//!   silence (no-speech probability over 0.6 with mean log-probability under −1).
//! - **Known hallucinations are flagged, not hidden.** A segment containing a
//!   blocklisted phrase, or repeating itself or the segment before, keeps its text
//!   but carries a [`Flag`]; exports and search leave flagged segments out.
//! - **Text is valid NFC UTF-8.** Whisper's BPE tokens can split a Vietnamese
//!   character; segment bytes are read raw, an incomplete character at a segment's
//!   end is carried into the next one, and anything still invalid is replaced.

use crate::decode::{decode_audio, SAMPLE_RATE};
use crate::MediaError;
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use unicode_normalization::UnicodeNormalization;
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState};

/// Samples in one gate frame: 20 ms.
const FRAME: usize = SAMPLE_RATE as usize / 50;
/// Longest window: 5 minutes, 19 MB of samples.
const MAX_WINDOW: usize = 300 * SAMPLE_RATE as usize;
/// Audio looked at beyond a window before cutting it, so that a cut falls in a pause.
const LOOKAHEAD: usize = 10 * SAMPLE_RATE as usize;
/// Silence this long (in frames) ends a window, and is skipped.
const SKIP_FRAMES: usize = 5 * 50;
/// whisper.cpp refuses input under 1 s; shorter windows are padded with silence.
const MIN_INPUT: usize = SAMPLE_RATE as usize * 3 / 2;

/// A loaded Whisper model, shared by every job, with the decoding states its
/// jobs have finished with.
///
/// A state holds whisper.cpp's compute buffers (tens of MiB). Made afresh for
/// each job, they were freed into glibc's per-thread arenas, which kept them:
/// the soak bench measured the service's RSS growing with every job (266 MiB
/// after 1 job, 1021 MiB after 26). Reused, they are allocated once per job
/// running at the same time.
pub struct Model {
    ctx: WhisperContext,
    idle: std::sync::Mutex<Vec<WhisperState>>,
}

impl Model {
    /// Loads a GGML model file (whisper.cpp's format). Slow for large models, and
    /// the file must be f16 or quantised (whisper.cpp 1.8 aborts on all-f32 files).
    pub fn load(path: &Path) -> Result<Model, MediaError> {
        static HOOKS: std::sync::Once = std::sync::Once::new();
        // With no logging backend enabled, this silences whisper.cpp's stderr chatter.
        HOOKS.call_once(whisper_rs::install_logging_hooks);
        if !path.is_file() {
            return Err(MediaError::Model(format!("{} is not a file", path.display())));
        }
        let ctx = WhisperContext::new_with_params(path, WhisperContextParameters::default()).map_err(|e| {
            MediaError::Model(format!("{} is not a GGML Whisper model whisper.cpp can load: {e}", path.display()))
        })?;
        Ok(Model { ctx, idle: std::sync::Mutex::new(Vec::new()) })
    }

    pub fn is_multilingual(&self) -> bool {
        self.ctx.is_multilingual()
    }

    /// A state for one job: an idle one, or a new one.
    fn state(&self) -> Result<WhisperState, MediaError> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match idle {
            Some(s) => Ok(s),
            None => self
                .ctx
                .create_state()
                .map_err(|e| MediaError::Transcribe(format!("cannot create a Whisper state: {e}"))),
        }
    }

    fn give_back(&self, state: WhisperState) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(state);
    }
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Model")
    }
}

/// Whether Whisper knows a language code (`vi`, `en`, …).
pub fn language_known(code: &str) -> bool {
    !code.is_empty() && whisper_rs::get_lang_id(code).is_some()
}

/// How to transcribe.
#[derive(Debug, Clone)]
pub struct Options {
    /// A Whisper language code, never "auto".
    pub language: String,
    /// Threads for one job. 1 is best on a small busy host.
    pub threads: u32,
    /// Phrases Whisper is known to invent; matched without case or punctuation.
    pub blocklist: Vec<String>,
    /// Frames louder than the noise floor by this many dB are speech.
    pub gate_db: f32,
}

impl Default for Options {
    fn default() -> Self {
        Options { language: "vi".into(), threads: 1, blocklist: default_blocklist(), gate_db: 12.0 }
    }
}

/// Hallucinations seen in Whisper's output on silence and noise, Vietnamese
/// first (whisperX#1086), then the English classics.
pub fn default_blocklist() -> Vec<String> {
    [
        "Hãy subscribe cho kênh La La School để không bỏ lỡ những video hấp dẫn",
        "Hãy subscribe cho kênh La La School",
        "Hãy subscribe cho kênh Ghiền Mì Gõ",
        "Hãy đăng ký kênh để ủng hộ",
        "Cảm ơn các bạn đã theo dõi và hẹn gặp lại",
        "Thanks for watching",
        "Please subscribe to my channel",
        "Subtitles by the Amara.org community",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// Why a segment is not to be trusted as speech.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Contains a phrase from the blocklist.
    Blocklisted,
    /// Repeats the segment before, or loops on its own words.
    Repeated,
}

/// One stretch of recognised speech, timed on the stream's own timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub start_ms: u64,
    pub end_ms: u64,
    /// NFC, trimmed.
    pub text: String,
    /// Mean log-probability of the segment's text tokens.
    pub avg_logprob: f32,
    pub no_speech_prob: f32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<Flag>,
}

/// What a transcription produced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Transcription {
    pub segments: Vec<Segment>,
    /// Audio decoded, in milliseconds.
    pub audio_ms: u64,
    /// Of it, what the gate took for speech and the model was shown.
    pub speech_ms: u64,
    /// Windows the model ran on.
    pub windows: u32,
    /// Segments dropped as coming from silence.
    pub dropped_silent: u32,
}

/// Shared between a transcription and whoever watches it: how far it is (it
/// writes), and whether it should stop (it reads, between blocks of audio and
/// between Whisper's decoding steps).
#[derive(Debug, Clone, Default)]
pub struct Watch {
    done_ms: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Watch {
    /// Audio transcribed (or skipped as silence) so far, in milliseconds.
    pub fn done_ms(&self) -> u64 {
        self.done_ms.load(Ordering::Relaxed)
    }
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
    fn check(&self) -> Result<(), MediaError> {
        if self.stopped() {
            return Err(MediaError::Stopped("asked to stop".into()));
        }
        Ok(())
    }
}

/// Decodes `input` and transcribes its first audio track.
pub fn transcribe<R: Read + Seek + Send + 'static>(
    model: &Model,
    opts: &Options,
    input: R,
    watch: &Watch,
) -> Result<Transcription, MediaError> {
    let mut t = Transcriber::new(model, opts, watch.clone())?;
    decode_audio(input, |block| {
        watch.check()?;
        t.push(block)
    })?;
    t.finish()
}

/// Transcribes 16 kHz mono audio pushed to it in blocks of any size.
pub struct Transcriber<'m> {
    model: &'m Model,
    /// Always Some until the transcriber is dropped, which gives it back.
    state: Option<WhisperState>,
    opts: &'m Options,
    windows: Windower,
    guard: Guard,
    out: Transcription,
    watch: Watch,
}

impl Drop for Transcriber<'_> {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            self.model.give_back(state);
        }
    }
}

impl<'m> Transcriber<'m> {
    pub fn new(model: &'m Model, opts: &'m Options, watch: Watch) -> Result<Self, MediaError> {
        if !language_known(&opts.language) {
            return Err(MediaError::Transcribe(format!("Whisper does not know the language {:?}", opts.language)));
        }
        let state = Some(model.state()?);
        Ok(Transcriber {
            model,
            state,
            opts,
            windows: Windower::new(opts.gate_db),
            guard: Guard::new(&opts.blocklist),
            out: Transcription::default(),
            watch,
        })
    }

    pub fn push(&mut self, samples: &[f32]) -> Result<(), MediaError> {
        self.windows.push(samples);
        while let Some(w) = self.windows.next(false) {
            self.run(w)?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<Transcription, MediaError> {
        while let Some(w) = self.windows.next(true) {
            self.run(w)?;
        }
        self.out.audio_ms = self.windows.total * 1000 / SAMPLE_RATE as u64;
        self.watch.done_ms.store(self.out.audio_ms, Ordering::Relaxed);
        Ok(std::mem::take(&mut self.out))
    }

    fn run(&mut self, w: Window) -> Result<(), MediaError> {
        let offset_ms = w.start * 1000 / SAMPLE_RATE as u64;
        let end_ms = offset_ms + w.samples.len() as u64 * 1000 / SAMPLE_RATE as u64;
        if !w.speech.iter().any(|&s| s) {
            self.watch.done_ms.store(end_ms, Ordering::Relaxed);
            return Ok(());
        }
        self.out.windows += 1;
        self.out.speech_ms += (w.speech.iter().filter(|&&s| s).count() * FRAME) as u64 * 1000 / SAMPLE_RATE as u64;
        // Up to 300 ms past the last speech: whisper.cpp goes on to a second full
        // pass over whatever remains after its last timestamp when that is over
        // 1 s, and a pause at the end of a window would cost exactly that.
        let last = w.speech.iter().rposition(|&s| s).map_or(0, |i| i + 1);
        let mut samples = w.samples;
        samples.truncate((last * FRAME + SAMPLE_RATE as usize * 3 / 10).min(samples.len()));
        if samples.len() < MIN_INPUT {
            samples.resize(MIN_INPUT, 0.0);
        }
        let mut p = params(self.opts);
        let (done, len_ms) = (self.watch.done_ms.clone(), samples.len() as u64 * 1000 / SAMPLE_RATE as u64);
        p.set_progress_callback_safe(move |pct: i32| {
            done.store(offset_ms + len_ms * pct.clamp(0, 100) as u64 / 100, Ordering::Relaxed)
        });
        // whisper-rs 0.16's `set_abort_callback_safe` calls its boxed closure through
        // the wrong type (it aborted every encode here); the raw callback reads the flag.
        // SAFETY: the flag is an AtomicBool inside `self.watch`, which outlives `full`.
        unsafe {
            p.set_abort_callback(Some(should_abort));
            p.set_abort_callback_user_data(Arc::as_ptr(&self.watch.stop) as *mut std::ffi::c_void);
        }
        let Some(state) = self.state.as_mut() else {
            return Err(MediaError::Transcribe("the transcriber has no Whisper state".into()));
        };
        let r = state.full(p, &samples);
        self.watch.check()?;
        r.map_err(|e| MediaError::Transcribe(format!("Whisper failed on the window at {offset_ms} ms: {e}")))?;
        self.watch.done_ms.store(end_ms, Ordering::Relaxed);
        let mut carry: Vec<u8> = Vec::new();
        for seg in state.as_iter() {
            let (t0, t1) = (seg.start_timestamp().max(0) as u64 * 10, seg.end_timestamp().max(0) as u64 * 10);
            let mut bytes = std::mem::take(&mut carry);
            bytes.extend_from_slice(seg.to_bytes().unwrap_or_default());
            carry = split_incomplete_tail(&mut bytes);
            let text: String = String::from_utf8_lossy(&bytes).nfc().collect::<String>().trim().to_string();
            let (avg_logprob, no_speech_prob) = (mean_logprob(&seg), seg.no_speech_probability());
            // Whisper's own rule for "this was silence".
            let silent = no_speech_prob > 0.6 && avg_logprob < -1.0;
            let heard = snap_to_speech(&w.speech, t0, t1);
            let Some((t0, t1)) = heard.filter(|_| !text.is_empty() && !silent) else {
                self.out.dropped_silent += u32::from(!text.is_empty());
                continue;
            };
            let flags = self.guard.check(&text);
            self.out.segments.push(Segment {
                start_ms: offset_ms + t0,
                end_ms: offset_ms + t1,
                text,
                avg_logprob,
                no_speech_prob,
                flags,
            });
        }
        Ok(())
    }
}

fn params(opts: &Options) -> FullParams<'_, '_> {
    let mut p = FullParams::new(SamplingStrategy::Greedy { best_of: 5 });
    p.set_language(Some(&opts.language));
    p.set_n_threads(opts.threads.max(1) as i32);
    // Each window stands alone: conditioning on the previous window's text is
    // how a hallucination loop carries on through a whole meeting.
    p.set_no_context(true);
    p.set_suppress_nst(true);
    p.set_print_special(false);
    p.set_print_progress(false);
    p.set_print_realtime(false);
    p.set_print_timestamps(false);
    p
}

/// whisper.cpp's abort check: the user data is the watch's stop flag.
unsafe extern "C" fn should_abort(flag: *mut std::ffi::c_void) -> bool {
    // SAFETY: set in `run` to an AtomicBool that outlives the call to `full`.
    unsafe { (*(flag as *const AtomicBool)).load(Ordering::Relaxed) }
}

/// Splits off an incomplete UTF-8 sequence at the end of `bytes` (a character
/// whose remaining bytes are in the next segment's first token).
fn split_incomplete_tail(bytes: &mut Vec<u8>) -> Vec<u8> {
    match std::str::from_utf8(bytes) {
        Err(e) if e.error_len().is_none() => bytes.split_off(e.valid_up_to()),
        _ => Vec::new(),
    }
}

fn mean_logprob(seg: &whisper_rs::WhisperSegment<'_>) -> f32 {
    let (mut sum, mut n) = (0f32, 0u32);
    for i in 0..seg.n_tokens() {
        if let Some(tok) = seg.get_token(i) {
            let d = tok.token_data();
            // Special tokens (timestamps, end of text) are not words.
            if tok.to_bytes().map(|b| b.starts_with(b"[_") || b.starts_with(b"<|")).unwrap_or(true) {
                continue;
            }
            sum += d.plog;
            n += 1;
        }
    }
    if n == 0 {
        0.0
    } else {
        sum / n as f32
    }
}

/// The span of a segment (ms into the window) tightened to where the gate heard
/// sound, or `None` when it heard none there: Whisper's own timestamps drift by
/// seconds across pauses, the gate's are exact to a frame. 200 ms of slack on
/// both sides covers Whisper's coarse rounding.
fn snap_to_speech(speech: &[bool], t0_ms: u64, t1_ms: u64) -> Option<(u64, u64)> {
    let frame_ms = (FRAME * 1000 / SAMPLE_RATE as usize) as u64;
    let from = (t0_ms.saturating_sub(200) / frame_ms) as usize;
    let to = ((t1_ms.max(t0_ms) + 200) / frame_ms + 1) as usize;
    let span = speech.get(from.min(speech.len())..to.min(speech.len()))?;
    let first = span.iter().position(|&x| x)?;
    let last = span.iter().rposition(|&x| x)?;
    Some(((from + first) as u64 * frame_ms, (from + last + 1) as u64 * frame_ms))
}

/// A span of audio the model may be shown, with the gate's verdict per frame.
#[derive(Debug)]
pub struct Window {
    /// Position of the first sample on the stream's timeline.
    pub start: u64,
    pub samples: Vec<f32>,
    /// Per 20-ms frame: speech or not (before smoothing).
    pub speech: Vec<bool>,
}

/// Cuts pushed audio into windows of at most 30 s, at pauses, skipping silence.
#[derive(Debug)]
pub struct Windower {
    gate: Gate,
    buf: Vec<f32>,
    /// Timeline position of `buf[0]`.
    start: u64,
    /// Samples pushed in all.
    pub total: u64,
    /// Longest window, in samples.
    max: usize,
    /// The stream's noise floor so far, in dBFS.
    floor: Option<f32>,
}

impl Windower {
    pub fn new(gate_db: f32) -> Self {
        Self::with_max(gate_db, MAX_WINDOW)
    }

    /// Windows of at most `max` samples (tests use short ones).
    pub fn with_max(gate_db: f32, max: usize) -> Self {
        let max = max.max(SAMPLE_RATE as usize);
        // Reserved once (pages are only touched as audio arrives): a growing Vec
        // would copy itself at every doubling and leave the old copies to the allocator.
        Windower {
            gate: Gate { margin_db: gate_db },
            buf: Vec::with_capacity(max + LOOKAHEAD),
            start: 0,
            total: 0,
            max,
            floor: None,
        }
    }

    pub fn push(&mut self, samples: &[f32]) {
        self.buf.extend_from_slice(samples);
        self.total += samples.len() as u64;
    }

    /// The next window, once enough audio is buffered to cut it well (or, at the
    /// end, whatever is left). Silent stretches come out as windows with no speech,
    /// so that progress moves through them.
    pub fn next(&mut self, end: bool) -> Option<Window> {
        if self.buf.is_empty() || (!end && self.buf.len() < self.max + LOOKAHEAD) {
            return None;
        }
        let energies = self.gate.energies(&self.buf);
        // The quietest floor seen in this stream: a short last window of nothing
        // but speech would otherwise take speech for its floor.
        let floor = match (self.gate.floor(&energies), self.floor) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(0.0),
        };
        self.floor = Some(floor);
        let speech = self.gate.speech_over(&energies, floor);
        let smooth = smooth(&speech);
        // Skip silence before the first speech, keeping the smoothing's margin.
        let lead = smooth.iter().position(|&s| s).unwrap_or(smooth.len());
        if lead > 0 {
            let n = (lead * FRAME).min(self.buf.len());
            return Some(self.take(n, vec![false; lead.min(n.div_ceil(FRAME))]));
        }
        let cut = match long_silence(&smooth) {
            Some(f) if f * FRAME <= self.max => f * FRAME,
            _ if self.buf.len() <= self.max => self.buf.len(),
            _ => cut_point(&smooth, &energies, self.max / FRAME) * FRAME,
        };
        let frames = cut.div_ceil(FRAME).min(speech.len());
        Some(self.take(cut, speech[..frames].to_vec()))
    }

    fn take(&mut self, n: usize, speech: Vec<bool>) -> Window {
        let samples: Vec<f32> = self.buf.drain(..n).collect();
        let w = Window { start: self.start, samples, speech };
        self.start += n as u64;
        w
    }
}

/// The first frame of the first silence of 5 s or more (after smoothing).
fn long_silence(smooth: &[bool]) -> Option<usize> {
    let mut run = 0;
    for (i, &s) in smooth.iter().enumerate() {
        run = if s { 0 } else { run + 1 };
        if run == SKIP_FRAMES {
            return Some(i + 1 - SKIP_FRAMES);
        }
    }
    None
}

/// Where to end a window of speech longer than `max` frames: in its last pause
/// after two thirds of it, else at the quietest frame of its last tenth.
fn cut_point(smooth: &[bool], energies: &[f32], max: usize) -> usize {
    let min = max * 2 / 3;
    if let Some(i) = (min..max.min(smooth.len())).rev().find(|&i| !smooth[i]) {
        return i + 1;
    }
    (max - max / 10..max.min(energies.len()))
        .min_by(|&a, &b| energies[a].total_cmp(&energies[b]))
        .map_or(max, |i| i + 1)
}

/// Closes pauses under 300 ms, drops blips under 60 ms, and widens speech by
/// 200 ms on both sides: what counts as "in speech" when choosing cuts.
fn smooth(speech: &[bool]) -> Vec<bool> {
    let mut s = speech.to_vec();
    let mut i = 0;
    while i < s.len() {
        let j = (i..s.len()).find(|&k| s[k] != s[i]).unwrap_or(s.len());
        let run = j - i;
        if !s[i] && run < 15 && i > 0 && j < s.len() {
            s[i..j].fill(true);
        } else if s[i] && run < 3 {
            s[i..j].fill(false);
        }
        i = j;
    }
    let mut out = vec![false; s.len()];
    for (k, _) in s.iter().enumerate().filter(|(_, &v)| v) {
        out[k.saturating_sub(10)..(k + 11).min(s.len())].fill(true);
    }
    out
}

/// An energy gate: a frame is speech when it is louder than the noise floor
/// (the 10th percentile of frame energies) by `margin_db`, and louder than
/// −50 dBFS at all. Steady noise, however loud, is never speech.
#[derive(Debug, Clone, Copy)]
pub struct Gate {
    pub margin_db: f32,
}

impl Gate {
    /// Energy of each 20-ms frame, in dBFS.
    pub fn energies(&self, samples: &[f32]) -> Vec<f32> {
        samples
            .chunks(FRAME)
            .map(|f| {
                let power = f.iter().map(|x| x * x).sum::<f32>() / f.len() as f32;
                10.0 * (power + 1e-12).log10()
            })
            .collect()
    }

    /// The noise floor of a stretch of audio: its 10th-percentile frame energy.
    pub fn floor(&self, energies: &[f32]) -> Option<f32> {
        let mut sorted = energies.to_vec();
        sorted.sort_by(|a, b| a.total_cmp(b));
        sorted.get(sorted.len() / 10).copied()
    }

    pub fn speech(&self, energies: &[f32]) -> Vec<bool> {
        self.speech_over(energies, self.floor(energies).unwrap_or(0.0))
    }

    /// Speech frames against a given noise floor.
    pub fn speech_over(&self, energies: &[f32], floor: f32) -> Vec<bool> {
        let threshold = (floor + self.margin_db).max(-50.0);
        energies.iter().map(|&e| e > threshold).collect()
    }
}

/// Flags segments that are probably not what was said.
#[derive(Debug)]
struct Guard {
    phrases: Vec<String>,
    recent: Vec<String>,
}

impl Guard {
    fn new(blocklist: &[String]) -> Guard {
        Guard { phrases: blocklist.iter().map(|p| fold(p)).filter(|p| !p.is_empty()).collect(), recent: Vec::new() }
    }

    fn check(&mut self, text: &str) -> Vec<Flag> {
        let folded = fold(text);
        let mut flags = Vec::new();
        if self.phrases.iter().any(|p| contains_words(&folded, p)) {
            flags.push(Flag::Blocklisted);
        }
        if self.recent.contains(&folded) || loops(&folded) {
            flags.push(Flag::Repeated);
        }
        self.recent.push(folded);
        if self.recent.len() > 2 {
            self.recent.remove(0);
        }
        flags
    }
}

/// NFC, lowercase, letters and digits only, single spaces: for comparing phrases
/// however Whisper punctuated or capitalised them.
pub fn fold(text: &str) -> String {
    let cleaned: String =
        text.nfc().flat_map(char::to_lowercase).map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn contains_words(text: &str, phrase: &str) -> bool {
    format!(" {text} ").contains(&format!(" {phrase} "))
}

/// A segment stuck in a loop: many words, few of them different.
fn loops(folded: &str) -> bool {
    let words: Vec<&str> = folded.split(' ').filter(|w| !w.is_empty()).collect();
    if words.len() < 12 {
        return false;
    }
    let distinct: std::collections::HashSet<&str> = words.iter().copied().collect();
    (distinct.len() as f32) < words.len() as f32 * 0.3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(secs: f32, amp: f32) -> Vec<f32> {
        (0..(secs * SAMPLE_RATE as f32) as usize).map(|i| amp * (i as f32 * 0.07).sin()).collect()
    }

    /// Windows of at most 30 s, so that tests stay small.
    const TEST_MAX: usize = 30 * SAMPLE_RATE as usize;

    fn windows(audio: &[f32], block: usize) -> Vec<Window> {
        let mut w = Windower::with_max(12.0, TEST_MAX);
        let mut out = Vec::new();
        for b in audio.chunks(block) {
            w.push(b);
            while let Some(x) = w.next(false) {
                out.push(x);
            }
        }
        while let Some(x) = w.next(true) {
            out.push(x);
        }
        out
    }

    #[test]
    fn silence_and_steady_noise_are_never_speech() {
        let gate = Gate { margin_db: 12.0 };
        assert!(!gate.speech(&gate.energies(&vec![0.0; 60 * SAMPLE_RATE as usize])).contains(&true));
        // Loud steady noise (a fan, a bad line): the floor is the noise itself.
        let noise: Vec<f32> =
            (0..20 * SAMPLE_RATE as usize).map(|i| 0.2 * (((i * 7919) % 1000) as f32 / 500.0 - 1.0)).collect();
        assert!(!gate.speech(&gate.energies(&noise)).contains(&true));
        let windows = windows(&vec![0.0; 75 * SAMPLE_RATE as usize], 4096);
        assert!(windows.iter().all(|w| !w.speech.contains(&true)), "a silent minute gives the model nothing");
        assert_eq!(
            windows.iter().map(|w| w.samples.len()).sum::<usize>(),
            75 * SAMPLE_RATE as usize,
            "and progress covers all of it"
        );
    }

    #[test]
    fn windows_cover_the_timeline_cut_in_pauses_and_never_exceed_30_s() {
        // Ten 4-s "sentences" with 2-s pauses, after 5 s of silence.
        let mut audio = vec![0.0; 5 * SAMPLE_RATE as usize];
        let mut onsets = Vec::new();
        for _ in 0..10 {
            onsets.push(audio.len());
            audio.extend(tone(4.0, 0.3));
            audio.extend(vec![0.0; 2 * SAMPLE_RATE as usize]);
        }
        let ws = windows(&audio, 1000);
        let mut pos = 0u64;
        for w in &ws {
            assert_eq!(w.start, pos, "windows are contiguous");
            assert!(w.samples.len() <= TEST_MAX, "window of {} samples", w.samples.len());
            pos += w.samples.len() as u64;
            if w.speech.contains(&true) {
                // A cut falls in a pause: the window's last 100 ms are quiet.
                let tail = &w.samples[w.samples.len().saturating_sub(1600)..];
                assert!(tail.iter().all(|x| x.abs() < 1e-6) || w.start + w.samples.len() as u64 == audio.len() as u64);
            }
        }
        assert_eq!(pos, audio.len() as u64);
        for onset in onsets {
            let w =
                ws.iter().find(|w| (w.start as usize..w.start as usize + w.samples.len()).contains(&onset)).unwrap();
            assert!(w.speech[(onset - w.start as usize) / FRAME + 2], "speech at {onset} is marked");
        }
        // Leading silence is skipped, not shown to the model.
        assert!(!ws[0].speech.contains(&true));
    }

    #[test]
    fn a_long_silence_ends_a_window_and_is_never_shown_to_the_model() {
        let mut audio = tone(3.0, 0.3);
        audio.extend(vec![0.0; 20 * SAMPLE_RATE as usize]);
        audio.extend(tone(3.0, 0.3));
        let ws = windows(&audio, 4000);
        let heard: Vec<&Window> = ws.iter().filter(|w| w.speech.contains(&true)).collect();
        assert_eq!(heard.len(), 2, "{:?}", ws.iter().map(|w| (w.start, w.samples.len())).collect::<Vec<_>>());
        assert!(heard.iter().all(|w| w.samples.len() < 5 * SAMPLE_RATE as usize));
        assert_eq!(ws.iter().map(|w| w.samples.len()).sum::<usize>(), audio.len());
    }

    #[test]
    fn continuous_speech_is_cut_at_the_quietest_point() {
        let audio: Vec<f32> = (0..70 * SAMPLE_RATE as usize)
            .map(|i| 0.3 * (i as f32 * 0.05).sin() * (1.0 + (i as f32 / 9000.0).sin()) / 2.0 + 0.01)
            .collect();
        let ws = windows(&audio, 16000);
        assert!(ws.iter().all(|w| w.samples.len() <= TEST_MAX));
        assert_eq!(ws.iter().map(|w| w.samples.len()).sum::<usize>(), audio.len());
    }

    #[test]
    fn split_characters_are_carried_not_mangled() {
        let word = "Đảng viên".as_bytes();
        // "ả" is 3 bytes; cut inside it.
        let cut = 3;
        let mut first = word[..cut].to_vec();
        let carry = split_incomplete_tail(&mut first);
        assert_eq!(std::str::from_utf8(&first).unwrap(), "Đ");
        let mut second = carry;
        second.extend_from_slice(&word[cut..]);
        assert_eq!(std::str::from_utf8(&second).unwrap(), "ảng viên");
    }

    #[test]
    fn guard_flags_blocklisted_phrases_and_loops() {
        let mut g = Guard::new(&default_blocklist());
        assert_eq!(
            g.check("Hãy subscribe cho kênh La La School để không bỏ lỡ những video hấp dẫn!"),
            vec![Flag::Blocklisted]
        );
        // NFD input and other punctuation still match.
        let nfd: String = "hãy SUBSCRIBE cho kênh la la school.".nfd().collect();
        assert!(g.check(&nfd).contains(&Flag::Blocklisted));
        assert!(g.check("Chi bộ đã thông qua nghị quyết về chuyển đổi số.").is_empty());
        assert_eq!(g.check("Chi bộ đã thông qua nghị quyết về chuyển đổi số"), vec![Flag::Repeated]);
        assert!(g.check(&"cảm ơn ".repeat(10)).contains(&Flag::Repeated));
        // A word that merely contains a blocked word is not a match.
        let mut g = Guard::new(&["la la".to_string()]);
        assert!(g.check("lala land").is_empty());
    }

    #[test]
    fn languages_are_checked() {
        assert!(language_known("vi"));
        assert!(language_known("en"));
        assert!(!language_known("auto"));
        assert!(!language_known("xx"));
        assert!(!language_known(""));
    }
}
