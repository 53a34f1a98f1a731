#!/usr/bin/env bash
# Live ingest under load: N concurrent RTMP publishers at ~1.5 Mbit/s each against
# a release `niem serve` (one fresh server per count in --streams), then sealing
# and `niem-audit verify`. Prints streams held, bytes in and stored, chunks
# acknowledged vs stored (lost must be 0), server CPU and peak RSS; asserts nothing.
# The publishers share the machine with the server.
# Usage: bench/live-load.sh [--streams 50,100,200] [--secs 120] [--store local|seaweedfs]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-test.sh
cargo build --release --locked -p ingest -p audit-cli -p niem-bench --bins
exec target/release/niem-bench live-load "$@"
