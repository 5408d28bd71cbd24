# bench/lib.sh - what the benchmark scripts share; sourced, not run.
# The caller sets WD (its temp dir), QUIET_PCT and QUIET_MAX, and appends the
# PID of every process it starts to PIDS, so that cleanup stops each by PID.

PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        if kill -0 "$p" 2>/dev/null; then
            kill -TERM "$p" 2>/dev/null
            sleep 0.5
            kill -KILL "$p" 2>/dev/null
        fi
    done
    rm -rf "$WD"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Whole-machine CPU busy % (all cores = 100) over 2 s windows; waits until it is
# below QUIET_PCT, at most QUIET_MAX s. Other tenants' load would distort both
# the throughput and the CPU figures.
wait_quiet() {
    local t0 waited busy a b c d e f g h t1 i1 t2 i2
    t0=$(date +%s)
    while :; do
        read -r _ a b c d e f g h _ </proc/stat
        t1=$((a + b + c + d + e + f + g + h)); i1=$((d + e))
        sleep 2
        read -r _ a b c d e f g h _ </proc/stat
        t2=$((a + b + c + d + e + f + g + h)); i2=$((d + e))
        busy=$((100 * ((t2 - t1) - (i2 - i1)) / (t2 - t1 > 0 ? t2 - t1 : 1)))
        waited=$(($(date +%s) - t0))
        if [ "$busy" -lt "$QUIET_PCT" ]; then echo "quiet busy=${busy}% waited=${waited}s"; return; fi
        if [ "$waited" -ge "$QUIET_MAX" ]; then echo "NOT-QUIET busy=${busy}% waited=${waited}s"; return; fi
    done
}
