#!/usr/bin/env bash
# Upload and verify throughput on a 1 GiB file, local store and SeaweedFS, against
# openssl's SHA-256 over the same bytes. Prints figures; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-test.sh
cargo build --release --locked -p ingest -p audit-cli -p niem-bench --bins
exec target/release/niem-bench upload-verify "$@"
