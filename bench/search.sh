#!/usr/bin/env bash
# Search at province scale through the service: a fresh service per size, filled
# with synthetic Vietnamese meeting-hours by niem-seed (through its own domain),
# its encrypted index built by the service itself; then index size, build time,
# start-to-ready against a start that rebuilds, RSS, p50/p90/p99 per query class
# as the service times them (snippets included) and round trips with the ledger
# commit, and ripgrep over the same text. Prints figures; asserts nothing.
# Goals at 10,000 h: p99 <= 20 ms, start to ready <= 5 s, RSS <= 1 GiB.
#
#   bench/search.sh [--hours 1000,10000] [--queries 1000] [--rg false]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-test.sh
install_packages ripgrep
cargo build --release --locked -p ingest -p niem-tests -p niem-bench --bins
exec target/release/niem-bench search "$@"
