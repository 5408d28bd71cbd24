#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR for FUZZ_SECONDS over its seed
# corpus (tests/fuzz/corpus/<target>/). New inputs go to a scratch copy, so
# the committed corpus only changes by hand. Any crash fails the run.
set -euo pipefail
BUILD_DIR=${1:?usage: fuzz.sh BUILD_DIR}
SECS=${FUZZ_SECONDS:-15}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-fuzz.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
status=0
n=0
for bin in "$BUILD_DIR"/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  seeds="$ROOT/tests/fuzz/corpus/$name"
  mkdir -p "$WORK/$name"
  [ -d "$seeds" ] && cp -r "$seeds"/. "$WORK/$name"/
  if "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$WORK/$name-" "$WORK/$name" >"$WORK/$name.log" 2>&1; then
    echo "fuzz: $name ok ($(grep -c . "$WORK/$name.log" || true) log lines, ${SECS}s)"
  else
    echo "fuzz: $name FAILED"; tail -40 "$WORK/$name.log"
    ls "$WORK"/"$name"-* 2>/dev/null && cp "$WORK"/"$name"-* "$ROOT/" 2>/dev/null || true
    status=1
  fi
  n=$((n+1))
done
[ "$n" -gt 0 ] || { echo "fuzz: no targets in $BUILD_DIR"; exit 1; }
exit $status
