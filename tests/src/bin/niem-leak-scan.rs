//! Searches every `niem` log of a test run for every secret the tests used.
//!
//! Each test server, when dropped, keeps its log under
//! `target/test-artifacts/run-logs/` and the secrets it was given (tokens,
//! passwords, stream keys, secret settings, key file contents) under
//! `run-secrets/` (see `Server::keep_log_and_secrets`). `scripts/test.sh` clears
//! both before `cargo test` and runs this after it. Beyond the exact secrets, any
//! string shaped like a live token (`niem_<id>_<secret>`, `live_<id>_<secret>`) in
//! a log is a leak too, whichever test made it. Exit 1 on a leak, 2 if there was
//! nothing to scan.

use std::path::Path;

fn files(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    out
}

/// `niem_` or `live_`, a 26-character id, `_`, then at least 40 URL-safe base64
/// characters: the shape of a real token or stream key.
fn token_shapes(log: &str) -> Vec<String> {
    let mut out = Vec::new();
    for prefix in ["niem_", "live_"] {
        for (at, _) in log.match_indices(prefix) {
            let rest = &log[at + prefix.len()..];
            let id: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
            let Some(tail) = rest.get(id.len()..).and_then(|t| t.strip_prefix('_')) else { continue };
            let secret: String =
                tail.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
            if id.len() == 26 && secret.len() >= 40 {
                out.push(format!("{prefix}{id}_{}…", &secret[..6]));
            }
        }
    }
    out
}

fn main() -> std::process::ExitCode {
    let root = niem_tests::root().join("target/test-artifacts");
    let logs = files(&root.join("run-logs"), "log");
    let mut secrets: Vec<String> = files(&root.join("run-secrets"), "txt")
        .iter()
        .flat_map(|f| std::fs::read_to_string(f).unwrap_or_default().lines().map(String::from).collect::<Vec<_>>())
        .filter(|s| s.len() >= 8)
        .collect();
    secrets.sort();
    secrets.dedup();
    if logs.is_empty() || secrets.is_empty() {
        eprintln!("niem-leak-scan: no logs or no secrets under {}: run the tests first", root.display());
        return std::process::ExitCode::from(2);
    }
    let mut bytes = 0;
    let mut leaks = Vec::new();
    for log in &logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        bytes += text.len();
        for s in &secrets {
            if text.contains(s.as_str()) {
                leaks.push(format!("{}: a secret starting {:?}", log.display(), s.chars().take(4).collect::<String>()));
            }
        }
        leaks.extend(token_shapes(&text).into_iter().map(|t| format!("{}: token-shaped {t}", log.display())));
    }
    println!(
        "niem-leak-scan: {} server logs of this test run ({:.1} MB) searched for {} secrets and for token shapes",
        logs.len(),
        bytes as f64 / 1e6,
        secrets.len()
    );
    if leaks.is_empty() {
        println!("niem-leak-scan: no secret in any log");
        std::process::ExitCode::SUCCESS
    } else {
        for l in &leaks {
            println!("LEAK {l}");
        }
        std::process::ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn token_shapes_are_found_and_ids_alone_are_not() {
        let log = "ok niem_01ARZ3NDEKTSV4RRFFQ69G5FAV_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG end; user:01ARZ3NDEKTSV4RRFFQ69G5FAV live_x";
        assert_eq!(super::token_shapes(log).len(), 1);
        assert!(super::token_shapes("stream live_01ARZ3NDEKTSV4RRFFQ69G5FAV_short").is_empty());
    }
}
