#!/usr/bin/env bash
# Soak: for MINUTES (default 30), STREAMS (default 50) live RTMP senders (ffmpeg,
# stream copy of a looped clip), a spoken upload every 30 s (sealed, transcribed
# when a Whisper model is there), a search every second and a retention run, all
# against one release `niem serve` on SeaweedFS, which is killed (SIGKILL) and
# started again twice mid-way (at 1/3 and 2/3, 20 s down each). Prints one line a
# minute (RSS, CPU, live streams, bytes, chunks, spool, searches, uploads), then
# bytes lost, upload SHA-256 checks, errors expected vs unexpected, RSS flatness
# after warm-up, `niem-audit verify`, and PASS/FAIL per criterion. The printout is
# also written to target/bench/soak-<date>.txt. A printout, not a test.
#
#   bench/soak.sh [MINUTES] [STREAMS] [--grace-secs 30] [--upload-every 30]
#                 [--outage-secs 20] [--warmup-minutes M] [--video-kbps 400]
#                 [--transcribe-wait-secs 300] [--out FILE]
#
# The model: $WHISPER_MODEL, else ../shared/models/ggml-base.bin; without one,
# transcription is off (and said so). See bench/src/soak.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-test.sh
minutes=${1:-30}
streams=${2:-50}
shift $(( $# < 2 ? $# : 2 ))
cargo build --release --locked -p ingest -p audit-cli -p niem-bench --bins
exec target/release/niem-bench soak --minutes "$minutes" --streams "$streams" "$@"
