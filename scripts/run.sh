#!/usr/bin/env bash
# Sets everything up and runs the service on its embedded defaults: data in
# ./niem-data (local store, SQLite catalog, keys generated on first run), HTTP on
# 127.0.0.1:8080. The first run prints a bootstrap admin token once.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --release --locked -p ingest -p audit-cli
exec target/release/niem serve "$@"
