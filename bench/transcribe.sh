#!/usr/bin/env bash
# Transcription overhead: Niêm's whole path (`niem transcribe`: FFmpeg decode,
# resample, energy gate, windows, Whisper) against whisper.cpp driven directly on
# the same 16 kHz WAV by whisper-rs's own example program, with the same model,
# threads and greedy decoding. Prints real-time factors, their ratio and peak RSS;
# asserts nothing.
#
# The reference program is whisper-rs's examples/audio_transcription.rs, copied
# from the cargo registry into target/ at run time and patched only to take the
# bench's settings (greedy best_of 5, N threads, English, no translation, no DTW,
# no context carried between windows, non-speech tokens suppressed, as Niêm sets
# them). It is built, not committed.
#
#   bench/transcribe.sh [SECONDS] [THREADS]     (default 300 s, 1 thread)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-test.sh
secs=${1:-300}
threads=${2:-1}
# The tests' model, found as niem_tests::speech::model_path finds it.
model=${WHISPER_MODEL:-$(cd .. && pwd)/shared/models/ggml-base.bin}
[ -f "$model" ] || { echo "no model at $model; set WHISPER_MODEL" >&2; exit 2; }
install_packages time

cargo build --release --locked -p ingest --bin niem
target=$(pwd)/target
work=$target/bench-transcribe
mkdir -p "$work"

# A meeting-like English clip: sentences with short pauses, repeated to $secs.
clip=$work/clip-$secs.wav
if [ ! -f "$clip" ]; then
  sentences=(
    "The branch meeting approved the resolution on digital transformation."
    "Comrade Lan reported on the admission of new party members."
    "The inspection committee will review the budget in the third quarter."
    "Every cell must send its monthly report before the twentieth."
    "The secretary asked the members to study the new guidelines carefully."
    "Attendance this month was twenty seven out of thirty members."
    "Two members were absent with permission because of work in the districts."
    "The meeting discussed support for families affected by the floods."
    "A proposal to train young members in public speaking was accepted."
    "The next meeting will be held on the fifth of next month."
  )
  parts=()
  i=0
  for s in "${sentences[@]}"; do
    espeak-ng -v en-us -s 150 -w "$work/s$i.raw.wav" "$s"
    sox "$work/s$i.raw.wav" -r 16000 -c 1 -b 16 "$work/s$i.wav" pad 0 0.8
    parts+=("$work/s$i.wav"); i=$((i+1))
  done
  sox "${parts[@]}" "$work/round.wav"
  round=$(soxi -D "$work/round.wav")
  n=$(python3 -c "import math; print(math.ceil($secs / $round))")
  rounds=(); for _ in $(seq "$n"); do rounds+=("$work/round.wav"); done
  sox "${rounds[@]}" "$clip" trim 0 "$secs"
fi

# The reference: whisper-rs's example, patched to the bench's settings.
ref=$work/reference
mkdir -p "$ref/src"
example=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/whisper-rs-0.16.0/examples/audio_transcription.rs | head -1)
[ -f "$example" ] || cargo fetch --locked >/dev/null && example=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/whisper-rs-0.16.0/examples/audio_transcription.rs | head -1)
python3 - "$example" "$ref/src/main.rs" <<'EOF'
import re, sys
src = open(sys.argv[1]).read()
def sub(old, new):
    global src
    assert old in src, f"whisper-rs example changed: {old!r} not found"
    src = src.replace(old, new)
start = src.index("    // Enable DTW token level timestamp for known model")
end = src.index("    // Load a context and model")
src = src[:start] + src[end:]
sub("SamplingStrategy::Greedy { best_of: 0 }", "SamplingStrategy::Greedy { best_of: 5 }")
sub("params.set_n_threads(1);", "params.set_n_threads(std::env::var(\"THREADS\").unwrap().parse().unwrap());\n    params.set_no_context(true);\n    params.set_suppress_nst(true);")
sub("params.set_translate(true);", "params.set_translate(false);")
sub("params.set_token_timestamps(true);", "params.set_token_timestamps(false);")
sub("mut context_param", "context_param")
open(sys.argv[2], "w").write(src)
EOF
cat > "$ref/Cargo.toml" <<'EOF'
[package]
name = "whisper-reference"
version = "0.0.0"
edition = "2021"
publish = false
[dependencies]
whisper-rs = "=0.16.0"
hound = "3"
[workspace]
EOF
CARGO_TARGET_DIR=$target cargo build --release --quiet --manifest-path "$ref/Cargo.toml"

measure() { # label, command...: prints "wall_s peak_kib"
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/$label.time" "$@" >"$work/$label.out" 2>"$work/$label.err"
  cat "$work/$label.time"
}
echo "clip: $secs s of English speech (espeak-ng), model $(basename "$model"), $threads thread(s), $(nproc) cores"
# The model's own working set: whisper.cpp (the reference) on the first 30 s,
# one window, the least it ever holds while transcribing.
sox "$clip" "$work/clip-first30.wav" trim 0 30
m=$(cd "$work" && THREADS=$threads measure model "$target/release/whisper-reference" "$model" "$work/clip-first30.wav")
model_kib=${m#* }
echo "model RSS (whisper.cpp on one 30-s window): $((model_kib / 1024)) MiB"
best_ref=""; best_niem=""
for run in 1 2; do
  r=$(cd "$work" && THREADS=$threads measure reference "$target/release/whisper-reference" "$model" "$clip")
  n=$(measure niem "$target/release/niem" transcribe "$clip" --model "$model" --language en --threads "$threads")
  echo "run $run: whisper-rs example ${r% *} s, ${r#* } KiB peak; niem transcribe ${n% *} s, ${n#* } KiB peak"
  best_ref=$(python3 -c "a='$best_ref'; b='$r'; print(b if not a or float(b.split()[0]) < float(a.split()[0]) else a)")
  best_niem=$(python3 -c "a='$best_niem'; b='$n'; print(b if not a or float(b.split()[0]) < float(a.split()[0]) else a)")
done
python3 - "$secs" "$best_ref" "$best_niem" "$model_kib" <<'EOF'
import sys
secs = float(sys.argv[1]); r = sys.argv[2].split(); n = sys.argv[3].split(); model = int(sys.argv[4]) / 1024
rw, rr, nw, nr = float(r[0]), int(r[1]) / 1024, float(n[0]), int(n[1]) / 1024
print(f"whisper.cpp via whisper-rs example: {rw:.1f} s wall, RTF {rw/secs:.3f}, peak RSS {rr:.0f} MiB")
print(f"niem transcribe:                    {nw:.1f} s wall, RTF {nw/secs:.3f}, peak RSS {nr:.0f} MiB")
print(f"ratio niem / reference: {nw/rw:.3f} (goal <= 1.05)")
print(f"peak RSS over the model's: niem {nr - model:+.0f} MiB (goal <= +200 MiB), reference {rr - model:+.0f} MiB (it holds the whole WAV)")
EOF
wc -w < "$work/niem.out" | xargs echo "niem words out:"
grep -c . "$work/reference.out" | xargs echo "reference segments out:"
