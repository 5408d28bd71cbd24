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

# Stops one process: TERM, up to 15 s to finish, then KILL.
stop_pid() {
    local p=$1 i
    kill -TERM "$p" 2>/dev/null || return 0
    for i in $(seq 1 150); do
        kill -0 "$p" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    return 0
}

# Starts `BIN serve` with CONF and DATA on a free port, output in
# OUTBASE.stdout/.stderr; sets TOCSIN_PID and TOCSIN_URL (empty when it did
# not say "listening on" within 30 s or exited).
start_tocsin() {
    local bin=$1 conf=$2 data=$3 outbase=$4 i
    "$bin" serve --config "$conf" --data "$data" --listen 127.0.0.1:0 \
        >"$outbase.stdout" 2>"$outbase.stderr" &
    TOCSIN_PID=$!
    PIDS+=("$TOCSIN_PID")
    TOCSIN_URL=""
    for i in $(seq 1 300); do
        TOCSIN_URL=$(sed -n 's/^listening on \(http:\/\/[0-9.]*:[0-9]*\).*/\1/p' "$outbase.stdout" | head -1)
        [ -n "$TOCSIN_URL" ] && break
        kill -0 "$TOCSIN_PID" 2>/dev/null || break
        sleep 0.1
    done
}
