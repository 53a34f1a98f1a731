//! Where the Whisper model of the tests and benches is: `WHISPER_MODEL`, else the
//! base model under `../shared/models/` (tests may read it; the product never
//! does). One file, compiled into the harness (`niem_tests::speech`) and, by
//! `#[path]`, into `media`'s own tests, which do not link the harness.

use std::path::PathBuf;

pub fn model_path() -> PathBuf {
    std::env::var_os("WHISPER_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/models/ggml-base.bin"))
}
