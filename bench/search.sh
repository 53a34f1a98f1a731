#!/usr/bin/env bash
# Search latency: the transcript index (search::Index::search, snippets included)
# on a synthetic Vietnamese archive of 1,000 meeting-hours (~9 M syllables), with
# 1,000 mixed queries (words with and without diacritics, quoted phrases, scoped
# and filtered), against ripgrep over the same transcripts as plain text files.
# Prints build time, index size, p50/p90/p99/max per query class and the rg ratio;
# asserts nothing. Goals: p99 <= 20 ms; index >= 100x faster than rg at p50.
#
#   bench/search.sh [--hours N] [--queries N] [--dir PATH]   (default 1000 h, 1000 queries, a temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
install_packages ripgrep

cargo run --release --locked -p search --example search-bench -- "$@"
