#!/usr/bin/env bash
# bench/rules.sh [RULES_BENCH_BIN] - the rule evaluator benchmark of issue 6.
#
# `make bench` runs it after the other benchmarks with build/rules_bench (the
# release build's in-process benchmark, bench/rules_bench.c). Like the others
# it is a measurement, not a test: it prints figures and PASS/MISS against the
# target and exits 0 unless it could not measure at all. There is no peer.
#
# What is measured (see bench/rules_bench.c): 10,000 series with 4 weeks of
# history at 15 min steps (daily curve, quieter weekends, seeded noise),
# flushed into blocks and rollups; 10,000 seasonal rules (week season, 4 w
# horizon) and 10,000 static rules, one of each per series, interval 1 min;
# simulated time. Reported: time until every baseline is loaded, cycle time
# of one rules_tick with all 20,000 rules due (median and p90 over CYCLES
# cycles; the middle cycle is the one after a whole hour, in which every
# seasonal baseline takes its finished slot), baseline memory (total and per
# series), RSS of the process.
# Target: one cycle of all 20,000 rules < 1 s.
#
# Each repetition waits for a quiet machine first (bench/lib.sh); the
# figures of the repetition with the median cycle time are the summary.
# Raw output goes to bench/results/rules-STAMP (gitignored).
#
# Env: SERIES=10000 WEEKS=4 STEP_MIN=15 CYCLES=7 SEED=42 REPS=1
#      QUIET_PCT=15 QUIET_MAX=60 RESULTS=bench/results
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BIN=${1:-$ROOT/build/rules_bench}
SERIES=${SERIES:-10000}
WEEKS=${WEEKS:-4}
STEP_MIN=${STEP_MIN:-15}
CYCLES=${CYCLES:-7}
SEED=${SEED:-42}
REPS=${REPS:-1}
QUIET_PCT=${QUIET_PCT:-15}
QUIET_MAX=${QUIET_MAX:-60}
RESULTS=${RESULTS:-$HERE/results}

die() { echo "rules bench: $*" >&2; exit 1; }
# `make bench` passes the server binary's folder's rules_bench; accept the
# server binary too and look beside it.
if [ -x "$BIN" ] && [ "$(basename "$BIN")" = tocsin ]; then
    BIN=$(dirname "$BIN")/rules_bench
fi
[ -x "$BIN" ] || die "no executable at $BIN (make build first: it builds rules_bench)"
[ "$CYCLES" -ge 5 ] || die "CYCLES must be at least 5 (median and p90)"
[ "$REPS" -ge 1 ] && [ "$REPS" -le 10 ] || die "REPS must be 1..10"

mkdir -p "$RESULTS"
STAMP=$(date +%Y%m%d-%H%M%S)
OUT="$RESULTS/rules-$STAMP"
mkdir -p "$OUT"
WD=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-rules-bench.XXXXXX")
# Removes WD on exit; wait_quiet.
. "$HERE/lib.sh"

{
    echo "date=$(date -u +%FT%TZ) host_cpus=$(nproc) kernel=$(uname -r)"
    echo "bin=$BIN series=$SERIES weeks=$WEEKS step_min=$STEP_MIN cycles=$CYCLES seed=$SEED reps=$REPS"
} | tee "$OUT/env.txt"

# kv FILE KEY -> the value of the first KEY=VALUE in FILE
kv() { grep -o "\b$2=[^ ]*" "$1" | head -1 | cut -d= -f2; }

medians=()
for rep in $(seq 1 "$REPS"); do
    echo "rep $rep: $(wait_quiet)"
    log="$OUT/rep$rep.txt"
    if ! TMPDIR="$WD" "$BIN" --series "$SERIES" --weeks "$WEEKS" --step-min "$STEP_MIN" \
        --cycles "$CYCLES" --seed "$SEED" >"$log" 2>"$OUT/rep$rep.stderr"; then
        echo "  rules_bench failed; see $OUT/rep$rep.stderr"
        tail -5 "$OUT/rep$rep.stderr"
        continue
    fi
    grep -E '^(cycle=|PASS|MISS)' "$log" | sed 's/^/  /'
    medians+=("$(kv "$log" cycle_median_s) $rep")
done
[ "${#medians[@]}" -gt 0 ] || die "no repetition finished"

# The repetition with the median cycle time speaks for the run.
pick=$(printf '%s\n' "${medians[@]}" | sort -n | awk -v n="${#medians[@]}" 'NR == int((n + 1) / 2) { print $2 }')
log="$OUT/rep$pick.txt"
rules=$(kv "$log" rules)
bl_bytes=$(kv "$log" baseline_bytes)
echo
echo "== rules benchmark (repetition $pick of $REPS; raw output in $OUT)"
echo "data:       $(kv "$log" series) series x $(kv "$log" weeks) weeks at $(kv "$log" step_min) min = $(kv "$log" samples) samples;" \
    "written in $(kv "$log" history_write_s) s, flushed in $(kv "$log" flush_s) s," \
    "compacted into $(kv "$log" blocks) blocks in $(kv "$log" compact_s) s"
echo "rules:      $rules ($(kv "$log" series) seasonal + $(kv "$log" series) static), set up in $(kv "$log" config_and_setup_s) s"
echo "baselines:  $(kv "$log" baselines) loaded in $(kv "$log" baseline_load_s) s of ticks" \
    "($(kv "$log" baseline_ticks) ticks, $(kv "$log" baseline_simulated_s) simulated s, longest tick $(kv "$log" max_tick_s) s)"
echo "cycle:      median $(kv "$log" cycle_median_s) s, p90 $(kv "$log" cycle_p90_s) s over $(kv "$log" cycles) cycles" \
    "(fewest rules due in a cycle: $(kv "$log" evaluated_min)); the cycle in which every baseline" \
    "takes its finished slot: $(kv "$log" cycle_with_slot_s) s"
echo "memory:     baselines $bl_bytes bytes ($(kv "$log" baseline_bytes_per_series) per series)," \
    "RSS $(kv "$log" rss_kb) kB (before the rules $(kv "$log" rss_kb_before_rules) kB, peak $(kv "$log" hwm_kb) kB)"
echo "events:     $(kv "$log" events) in $(kv "$log" event_batches) batches; failures in cycles $(kv "$log" failures_in_cycles)"
grep -E '^(PASS|MISS)' "$log"
exit 0
