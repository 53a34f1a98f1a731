#!/usr/bin/env bash
# Ledger appends per second, each its own durable commit: on SQLite through the
# service's own commit path (a vault, its ledger mirrored) with 1 and 16 writers, and on
# PostgreSQL (started by the harness from Debian's packages) with 1 writer and
# with 2 nodes x 8 writers, whose chain is then read back and verified.
#
#   bench/ledger.sh [--entries 10000]    (appends per writer)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-test.sh
cargo build --release --locked -p niem-bench --bins
exec target/release/niem-bench ledger "$@"
