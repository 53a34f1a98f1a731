#!/usr/bin/env bash
# Installs what building and running Niêm needs on Debian 12, idempotently:
# FFmpeg's development libraries (ffmpeg-next links to the system FFmpeg 5.1),
# pkg-config, clang/libclang (bindgen), cmake (whisper.cpp), and a Rust toolchain.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/packages.sh"

install_packages pkg-config clang libclang-dev cmake \
  libavformat-dev libavcodec-dev libavutil-dev libavfilter-dev libavdevice-dev \
  libswresample-dev libswscale-dev ffmpeg ca-certificates curl jq

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "setup: installing rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain none
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi
# The toolchain rust-toolchain.toml pins, with its rustfmt and clippy (a no-op
# once installed).
if command -v rustup >/dev/null 2>&1; then
  (cd "$(dirname "${BASH_SOURCE[0]}")/.." && rustup toolchain install >/dev/null)
fi
