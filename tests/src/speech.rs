//! Known speech for the transcription tests: sentences spoken by espeak-ng and
//! placed at known offsets with silence between (sox), the Whisper model to
//! check them with, and word error rate.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "model_path.rs"]
mod model_path;
/// Where the Whisper model is; it may not be there: see [`model`].
pub use model_path::model_path;

/// The Whisper model the tests run, which must be there.
pub fn model() -> PathBuf {
    let path = model_path();
    assert!(path.is_file(), "the transcription tests need a Whisper model at {} (set WHISPER_MODEL)", path.display());
    path
}

fn run(cmd: &mut Command) {
    let out =
        cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/setup-test.sh installs espeak-ng and sox)"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A WAV file (48 kHz stereo, as a meeting recorder writes) of `total` seconds in
/// which each sentence starts at its offset, spoken with espeak-ng's `voice`.
pub fn clip(dir: &Path, name: &str, voice: &str, parts: &[(f32, &str)], total: f32) -> PathBuf {
    let mut placed = Vec::new();
    for (i, (at, text)) in parts.iter().enumerate() {
        let raw = dir.join(format!("{name}-{i}.raw.wav"));
        run(Command::new("espeak-ng").args(["-v", voice, "-s", "150", "-w"]).arg(&raw).arg(text));
        let p = dir.join(format!("{name}-{i}.wav"));
        run(Command::new("sox")
            .arg(&raw)
            .args(["-r", "48000", "-c", "2", "-b", "16"])
            .arg(&p)
            .args(["pad", &at.to_string()]));
        placed.push(p);
    }
    let out = dir.join(format!("{name}.wav"));
    let mut sox = Command::new("sox");
    match placed.len() {
        0 => {
            sox.args(["-n", "-r", "48000", "-c", "2", "-b", "16"]);
        }
        1 => {}
        _ => {
            sox.arg("-m");
        }
    }
    let total = total.to_string();
    run(sox.args(&placed).arg(&out).args(["pad", "0", &total, "trim", "0", &total]));
    out
}

/// Lowercase words, punctuation dropped, numbers kept.
pub fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

/// Word error rate: word-level edit distance over the reference length.
pub fn wer(reference: &str, hypothesis: &str) -> f64 {
    let (r, h) = (words(reference), words(hypothesis));
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut cur = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(rw != hw)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[h.len()] as f64 / r.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    #[test]
    fn wer_counts_edits() {
        assert_eq!(super::wer("the cat sat", "The cat sat."), 0.0);
        assert_eq!(super::wer("the cat sat", "the cat"), 1.0 / 3.0);
        assert_eq!(super::wer("the cat sat", "a cat sat down"), 2.0 / 3.0);
    }
}
