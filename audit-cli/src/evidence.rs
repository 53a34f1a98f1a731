//! `niem-audit bundle` and `niem-audit verify-bundle`: one recording's evidence
//! in one file, and its offline check (`archive::bundle`).
//!
//! niem-audit holds no KEK, so its bundles carry no media; `niem bundle
//! --with-media` (the service) adds them through the same `archive::bundle`.

use anyhow::Context;
use archive::bundle::{self, BundleReport, Expect};
use archive::cosign::WitnessKey;
use archive::id::RecordingId;
use archive::keys::VerifierKey;
use archive::store::Store;
use archive::verify::Verdict;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Writes the bundle of `rec` to `out` (create-only) and prints what it holds.
pub async fn make(store: &Store, key: &VerifierKey, rec: RecordingId, out: &Path) -> anyhow::Result<ExitCode> {
    let ev = bundle::gather(store, key, rec).await?;
    let mut opts = std::fs::OpenOptions::new();
    let file =
        opts.write(true).create_new(true).open(out).with_context(|| format!("cannot create {}", out.display()))?;
    let file = bundle::write(std::io::BufWriter::new(file), &ev, Vec::new(), None, archive::clock::system_now())?;
    let file = file.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    let hashes: usize = ev.proofs.iter().map(|p| p.hashes.len()).sum();
    let size = std::fs::metadata(out)?.len();
    println!(
        "wrote {} ({size} bytes): recording {rec}, {} signed entries with {hashes} proof \
         hashes into the checkpoint of {} entries ({})",
        out.display(),
        ev.entries.len(),
        ev.checkpoint.size,
        ev.checkpoint.time
    );
    if ev.unsigned_left_out > 0 {
        println!("left out {} later entries that no checkpoint signs yet", ev.unsigned_left_out);
    }
    Ok(ExitCode::SUCCESS)
}

/// Checks a bundle file offline: exit 0 when it proves what it claims, 1 when
/// anything in it is wrong.
pub fn check(
    file: &Path,
    key: Option<&VerifierKey>,
    witness_keys: &[WitnessKey],
    recording: Option<RecordingId>,
    identity: Option<&Path>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let identity = match identity {
        None => None,
        Some(p) => Some(read_identity(p)?),
    };
    let name = file.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let recording = recording.or_else(|| bundle::recording_in_file_name(&name));
    let reader = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let expect = Expect { log_key: key, witness_keys, recording, identity: identity.as_ref() };
    let report = match bundle::verify(std::io::BufReader::new(reader), &expect) {
        Ok(r) => r,
        // A file that is not a bundle proves nothing: invalid, not "could not run".
        Err(e @ (bundle::BundleError::NotABundle(_) | bundle::BundleError::Io(_))) => {
            println!("{} INVALID: {e}", file.display());
            println!("Bundle is NOT valid evidence.");
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print(&report, file);
    }
    Ok(if report.failed() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn read_identity(path: &Path) -> anyhow::Result<age::x25519::Identity> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let line = text.lines().find(|l| l.starts_with("AGE-SECRET-KEY-")).context("no AGE-SECRET-KEY- line")?;
    line.parse().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn print(r: &BundleReport, file: &Path) {
    let out = &mut std::io::stdout().lock();
    let _ = writeln!(out, "Checking evidence bundle {}", file.display());
    for f in &r.findings {
        let _ = match &f.verdict {
            Verdict::Invalid(why) => writeln!(out, "{} INVALID: {why}", f.file),
            Verdict::Pending(why) => writeln!(out, "{} not checked: {why}", f.file),
            _ => Ok(()),
        };
    }
    for p in &r.problems {
        let _ = writeln!(out, "INVALID: {p}");
    }
    let valid = r.findings.iter().filter(|f| f.verdict == Verdict::Valid).count();
    let _ = writeln!(out, "{valid} files valid, {} media files checked", r.media_checked);
    if r.key_from_bundle {
        let warning = "WARNING: checked with the ledger key inside the bundle; \
                       give --public-key with the published key";
        let _ = writeln!(out, "{warning}");
    }
    match (&r.statement, r.failed()) {
        (Some(s), false) => {
            let _ = writeln!(out, "VALID: {s}.");
        }
        _ => {
            let _ = writeln!(out, "Bundle is NOT valid evidence.");
        }
    }
}
