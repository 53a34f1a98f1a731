//! Memory stays flat over many transcriptions: the service runs one job after
//! another for months, each on whichever blocking thread is free. Its own test
//! binary, so no other test's allocations move the figures.

#![allow(clippy::unwrap_used)] // tests and benches may: a panic is their failure report

#[path = "../../tests/src/model_path.rs"]
mod model_path;
use media::transcribe::{transcribe, Model, Options, Watch};
use std::path::{Path, PathBuf};
use std::process::Command;

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb / 1024.0
}

fn clip(dir: &Path) -> PathBuf {
    let wav = dir.join("speech.wav");
    let out = Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "150", "-w"])
        .arg(&wav)
        .arg("The inspection committee will review the budget in the third quarter, and the branch approved the resolution.")
        .output()
        .expect("espeak-ng (scripts/setup-test.sh installs it)");
    assert!(out.status.success());
    wav
}

#[test]
fn twelve_jobs_on_fresh_threads_keep_memory_flat() {
    let path = model_path::model_path();
    let model = std::sync::Arc::new(
        Model::load(&path).unwrap_or_else(|e| panic!("needs a Whisper model (WHISPER_MODEL): {e}")),
    );
    let dir = tempfile::tempdir().unwrap();
    let wav = clip(dir.path());
    let job = |model: std::sync::Arc<Model>, wav: PathBuf| {
        std::thread::spawn(move || {
            let opts = Options { language: "en".into(), ..Options::default() };
            let out = transcribe(&model, &opts, std::fs::File::open(wav).unwrap(), &Watch::default()).unwrap();
            assert!(!out.segments.is_empty());
        })
        .join()
        .unwrap()
    };
    let mut figures = Vec::new();
    for _ in 0..12 {
        job(model.clone(), wav.clone());
        figures.push(rss_mib());
    }
    println!("RSS after each job (MiB): {}", figures.iter().map(|f| format!("{f:.0}")).collect::<Vec<_>>().join(" "));
    let grown = figures[11] - figures[1];
    assert!(grown < 40.0, "RSS grew {grown:.0} MiB from job 2 to job 12: {figures:?}");
}
