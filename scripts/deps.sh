#!/usr/bin/env bash
# Installs the Debian packages Tocsin needs to build, test and benchmark.
# It is the one place that names them. It installs only what is missing, so a
# second run costs a dpkg query and nothing else.
set -euo pipefail

PKGS=(
  # build
  build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
  # libraries (DESIGN.md)
  libmicrohttpd-dev libjansson-dev libyaml-dev libsqlite3-dev libpq-dev
  libcurl4-openssl-dev libsodium-dev libcmocka-dev
  # black-box tests on Debian's python
  python3 python3-pytest python3-requests python3-aiosmtpd curl sqlite3
  # real peers: Alertmanager sends webhooks, Prometheus fires rules at us
  prometheus prometheus-alertmanager
  prometheus-node-exporter  # metrics: a real scrape target for the scrape tests
  # real Nagios plugins for check tests; nagios4 is the peer of the checks bench
  monitoring-plugins-basic monitoring-plugins-standard nagios4 tzdata
  # benchmarks
  wrk
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Policy: the packaged services (prometheus, alertmanager) must not start on
# install; tests start private instances on free ports.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
