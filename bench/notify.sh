#!/usr/bin/env bash
# bench/notify.sh TOCSIN_BIN - on-call notification benchmark: from an event's
# arrival to the webhook notification arriving at a local receiver.
#
# `make bench` runs it after the intake and check benchmarks. Like those it is
# a measurement, not a test: it prints figures and PASS/MISS against the
# target (p99 under 100 ms at 100 events/s) and exits 0 unless it could not
# measure at all.
#
# The set-up: one user "oncall" whose only contact rule is a webhook channel
# to bench/webhook_sink.c (epoll, keep-alive, answers 200, records the arrival
# time of every POST), a schedule with that user, a policy whose level 0
# (delay 0) targets the schedule, a service with that policy and a route that
# groups by the label "bench", so that every event opens an incident of its
# own and pages the user once. Digests are off (notifications.digest.after: 0).
#
# Scenarios, for each storage.sync in SYNCS and each repetition, each on a
# fresh Tocsin (empty data dir) and a fresh sink, after waiting until the
# machine is quiet (bench/lib.sh wait_quiet):
#   rateR   bench/event_pace.c posts single events to POST /api/v1/events at R
#           events/s (open loop) for WARMUP s, waits for their notifications,
#           then for DURATION s; every event carries its own title
#           "bench-m-N", which the sink finds again in the webhook body.
#           Latency = arrival at the sink - the time the event's request was
#           written (both CLOCK_REALTIME), p50/p99/max; delivered/s = the
#           notifications of the measured events over the span of their
#           arrivals.
#   burst   outbox throughput: one POST of BURST_INCIDENTS events, each opening
#           an incident whose policy targets a team of BURST_USERS users (every
#           member has the webhook contact), so BURST_INCIDENTS x BURST_USERS
#           notifications are queued by one commit; the sink's received/s from
#           its first to its last arrival.
# Then bench/notify_summary.py prints medians over the repetitions.
# Raw results go to bench/results/notify-STAMP/ (gitignored).
#
# Env: DURATION=10 (s, 1..60) REPS=3 WARMUP=2 RATES="100 1000" SYNCS="full normal"
#      CONNS=32 (event_pace connections) BURST_INCIDENTS=200 BURST_USERS=50 (<= 64)
#      SCENARIOS="rates burst" QUIET_PCT=15 QUIET_MAX=60 (0: do not wait)
#      DRAIN_MAX=60 (s to wait for the last notifications) RESULTS=bench/results
#      PERF=0 (1: perf record -g the Tocsin process during the measured window of
#      the highest rate, first repetition, report in the results directory)
#
# Only 127.0.0.1 is used; every process it starts is stopped by its PID.
set -uo pipefail

BIN=${1:?usage: bench/notify.sh TOCSIN_BIN}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
DURATION=${DURATION:-10}
REPS=${REPS:-3}
WARMUP=${WARMUP:-2}
RATES=${RATES:-"100 1000"}
SYNCS=${SYNCS:-"full normal"}
CONNS=${CONNS:-32}
BURST_INCIDENTS=${BURST_INCIDENTS:-200}
BURST_USERS=${BURST_USERS:-50}
SCENARIOS=${SCENARIOS:-"rates burst"}
QUIET_PCT=${QUIET_PCT:-15}
QUIET_MAX=${QUIET_MAX:-60}
DRAIN_MAX=${DRAIN_MAX:-60}
RESULTS=${RESULTS:-$HERE/results}
PERF=${PERF:-0}
KEY=bench-key-0123456789abcdef012345
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

die() { echo "notify bench: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "no executable at $BIN (make build first)"
[ "$DURATION" -ge 1 ] && [ "$DURATION" -le 60 ] || die "DURATION must be 1..60 s"
[ "$REPS" -ge 1 ] && [ "$REPS" -le 10 ] || die "REPS must be 1..10"
[ "$WARMUP" -ge 1 ] && [ "$WARMUP" -le 60 ] || die "WARMUP must be 1..60 s"
[ "$BURST_USERS" -ge 1 ] && [ "$BURST_USERS" -le 64 ] || die "BURST_USERS must be 1..64 (users paged per level)"
[ "$BURST_INCIDENTS" -ge 1 ] && [ "$BURST_INCIDENTS" -le 5000 ] || die "BURST_INCIDENTS must be 1..5000"
for s in $SYNCS; do case "$s" in full | normal) ;; *) die "SYNCS: full or normal, not $s" ;; esac; done
command -v curl >/dev/null || die "curl is not installed"
command -v cc >/dev/null || die "a C compiler (cc) is needed for the helpers"
if [ "$PERF" = 1 ]; then command -v perf >/dev/null || die "PERF=1 needs perf"; fi

mkdir -p "$RESULTS"
STAMP=$(date +%Y%m%d-%H%M%S)
OUT="$RESULTS/notify-$STAMP"
mkdir -p "$OUT"
ROWS="$OUT/rows.txt"
: >"$ROWS"
WD=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-notify-bench.XXXXXX")
# Stops every process in PIDS and removes WD on exit; wait_quiet, stop_pid, start_tocsin.
. "$HERE/lib.sh"

# ---- helpers built for this run (outside the tree, in the temp dir) ----
cc -std=c17 -O2 -Wall -Wextra -o "$WD/webhook_sink" "$HERE/webhook_sink.c" || die "cannot build bench/webhook_sink.c"
cc -std=c17 -O2 -Wall -Wextra -o "$WD/event_pace" "$HERE/event_pace.c" || die "cannot build bench/event_pace.c"


# kv LINE KEY -> value
kv() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'; }

# pid_ticks PID -> utime + stime (jiffies)
pid_ticks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'; }

# host_snap -> "total idle steal" jiffies of the whole machine (/proc/stat).
host_snap() {
    local a b c d e f g h
    read -r _ a b c d e f g h _ </proc/stat
    echo "$((a + b + c + d + e + f + g + h)) $((d + e)) $h"
}

# window_cpu HOST0 HOST1 T_TICKS SINK_TICKS PACE_CPU_S: CPU in the measured
# window, in % of one core: Tocsin, the whole machine, time stolen by the
# hypervisor, and everything but Tocsin, the pacer and the sink (other tenants).
window_cpu() {
    echo "$1 $2 $3 $4 $5" | awk -v n="$(nproc)" -v hz="$(getconf CLK_TCK)" '{
        dt = $4 - $1; if (dt <= 0) { print "server_cpu_pct=NA"; exit }
        wall = dt / n / hz
        busy = 100 * n * (dt - ($5 - $2)) / dt; steal = 100 * n * ($6 - $3) / dt
        srv = 100 * $7 / hz / wall; snk = 100 * $8 / hz / wall; pace = 100 * $9 / wall
        other = busy - srv - snk - pace; if (other < 0) other = 0
        printf "server_cpu_pct=%.0f host_busy_pct=%.0f steal_pct=%.0f other_cpu_pct=%.0f", srv, busy, steal, other }'
}

# config SYNC SINK_PORT FILE: the on-call set-up described above.
config() {
    local sync=$1 sport=$2 f=$3 i
    {
        echo "# Generated by bench/notify.sh."
        echo "integrations:"
        echo "  - {name: bench, type: generic, key: \"$KEY\"}"
        echo "storage: {sync: $sync}"
        echo "users:"
        echo "  - {name: oncall, contact: [{channel: sink}]}"
        for i in $(seq 1 "$BURST_USERS"); do
            echo "  - {name: crowd$i, contact: [{channel: sink}]}"
        done
        echo "teams:"
        echo -n "  - {name: crowd, members: ["
        for i in $(seq 1 "$BURST_USERS"); do
            [ "$i" -gt 1 ] && echo -n ", "
            echo -n "crowd$i"
        done
        echo "]}"
        cat <<YML
channels:
  - {name: sink, type: webhook, url: "http://127.0.0.1:$sport/hook"}
schedules:
  - name: primary
    time_zone: UTC
    layers: [{users: [oncall], rotation: 1w, start: 2020-01-06}]
escalation_policies:
  - name: primary
    levels: [{delay: 0m, targets: ["schedule:primary"]}]
  - name: crowd
    levels: [{delay: 0m, targets: ["team:crowd"]}]
services:
  - {name: shop, escalation_policy: primary}
  - {name: crowd, escalation_policy: crowd}
routes:
  - match: {alertname: NotifyBench}
    group_by: [bench]
    service: shop
  - match: {alertname: NotifyBurst}
    group_by: [bench]
    service: crowd
notifications:
  digest: {after: 0}
YML
    } >"$f"
}

# Started by start_pair: the sink's PID and port, Tocsin's PID, port and URL.
SINK_PID="" SINK_PORT="" T_PID="" T_PORT="" T_URL=""
start_pair() { # SYNC TAG -> 0 when both run
    local sync=$1 tag=$2 i conf="$WD/$1.yaml"
    "$WD/webhook_sink" --out "$WD/$tag.sink" --max-seconds 3600 >"$WD/$tag.sinkport" 2>"$OUT/$tag.sink.log" &
    SINK_PID=$!
    PIDS+=("$SINK_PID")
    SINK_PORT=""
    for i in $(seq 1 50); do
        SINK_PORT=$(awk '$1 == "PORT" { print $2 }' "$WD/$tag.sinkport")
        [ -n "$SINK_PORT" ] && break
        sleep 0.1
    done
    [ -n "$SINK_PORT" ] || { echo "  the webhook sink did not start"; return 1; }
    config "$sync" "$SINK_PORT" "$conf"
    cp "$conf" "$OUT/$sync.yaml"
    "$BIN" check-config "$conf" >"$OUT/$tag.check-config.txt" 2>&1 ||
        { echo "  configuration rejected, see $OUT/$tag.check-config.txt"; return 1; }
    rm -rf "$WD/data"
    mkdir -p "$WD/data"
    start_tocsin "$BIN" "$conf" "$WD/data" "$OUT/$tag"
    T_PID=$TOCSIN_PID
    T_URL=$TOCSIN_URL
    [ -n "$T_URL" ] || { echo "  tocsin did not start (see $OUT/$tag.stderr)"; return 1; }
    T_PORT=${T_URL##*:}
    return 0
}

stop_pair() { # TAG: stops Tocsin, then the sink (which writes its records)
    stop_pid "$T_PID"
    stop_pid "$SINK_PID"
    rm -rf "$WD/data"
}

sink_count() { curl -s --max-time 5 "http://127.0.0.1:$SINK_PORT/count" 2>/dev/null || echo 0; }

# wait_count TARGET: until the sink has TARGET POSTs, or nothing new came for
# 10 s, or DRAIN_MAX s passed. Prints the seconds waited.
wait_count() {
    local target=$1 t0 last=-1 since c now
    t0=$(date +%s.%N)
    since=$t0
    while :; do
        c=$(sink_count)
        now=$(date +%s.%N)
        [ "${c:-0}" -ge "$target" ] && break
        if [ "$c" != "$last" ]; then
            last=$c
            since=$now
        fi
        awk -v a="$now" -v b="$since" -v t="$t0" -v m="$DRAIN_MAX" 'BEGIN { exit !(a - b > 10 || a - t > m) }' && break
        sleep 0.1
    done
    awk -v a="$now" -v t="$t0" 'BEGIN { printf "%.1f", a - t }'
}

run_rate() { # SYNC RATE REP
    local sync=$1 rate=$2 rep=$3 tag="rate$2_$1_r$3" warm line ok0 ok1 c0 c1 s0 s1 h0 h1 secs cpu join perf_pid=""
    if ! start_pair "$sync" "$tag"; then
        echo "scenario=rate$rate sync=$sync rep=$rep FAILED=start" >>"$ROWS"
        stop_pair
        return
    fi
    warm=$(timeout $((WARMUP + 60)) "$WD/event_pace" --port "$T_PORT" --key "$KEY" --rate "$rate" \
        --duration "$WARMUP" --conns "$CONNS" --prefix w --out "$WD/$tag.warm" | grep '^RESULT ')
    ok0=$(kv "$warm" ok)
    wait_count "${ok0:-0}" >/dev/null
    ok0=$(sink_count)
    if [ "$PERF" = 1 ] && [ "$rep" = 1 ] && [ "$rate" = "$(echo "$RATES" | tr ' ' '\n' | sort -n | tail -1)" ]; then
        perf record -g -o "$OUT/$tag.perf.data" -p "$T_PID" -- sleep "$DURATION" >/dev/null 2>&1 &
        perf_pid=$!
        PIDS+=("$perf_pid")
    fi
    curl -s --max-time 10 "$T_URL/metrics" >"$WD/$tag.m0"
    h0=$(host_snap)
    c0=$(pid_ticks "$T_PID")
    s0=$(pid_ticks "$SINK_PID")
    line=$(timeout $((DURATION + 60)) "$WD/event_pace" --port "$T_PORT" --key "$KEY" --rate "$rate" \
        --duration "$DURATION" --conns "$CONNS" --prefix m --out "$WD/$tag.send" | grep '^RESULT ')
    c1=$(pid_ticks "$T_PID")
    s1=$(pid_ticks "$SINK_PID")
    h1=$(host_snap)
    cpu=$(window_cpu "$h0" "$h1" $((${c1:-0} - ${c0:-0})) $((${s1:-0} - ${s0:-0})) "$(kv "$line" pace_cpu_s)")
    ok1=$(kv "$line" ok)
    secs=$(wait_count $((ok0 + ${ok1:-0})))
    curl -s --max-time 10 "$T_URL/metrics" >"$WD/$tag.m1"
    cpu="$cpu $("$PY" "$HERE/notify_summary.py" commits "$WD/$tag.m0" "$WD/$tag.m1")"
    if [ -n "$perf_pid" ]; then
        wait "$perf_pid" 2>/dev/null
        {
            echo "# CPU samples by thread"
            perf report -i "$OUT/$tag.perf.data" --stdio --no-children --sort comm -g none 2>/dev/null
            echo "# by thread and function (flat)"
            perf report -i "$OUT/$tag.perf.data" --stdio --no-children --sort comm,dso,sym -g none \
                --percent-limit 0.5 2>/dev/null
        } | grep -v '^#$' >"$OUT/$tag.perf.txt"
        echo "  perf profile: $OUT/$tag.perf.txt"
    fi
    stop_pair
    [ -n "$line" ] || line="FAILED=pace"
    join=$("$PY" "$HERE/notify_summary.py" join "$WD/$tag.send" "$WD/$tag.sink")
    gzip -c "$WD/$tag.send" >"$OUT/$tag.send.gz"
    gzip -c "$WD/$tag.sink" >"$OUT/$tag.sink.gz"
    rm -f "$WD/$tag".*
    echo "scenario=rate$rate sync=$sync rep=$rep ${line#RESULT } $join $cpu drain_wait_s=$secs" >>"$ROWS"
    echo "  pace:    ${line#RESULT }"
    echo "  notify:  $join"
    echo "  window:  $cpu"
}

run_burst() { # SYNC REP
    local sync=$1 rep=$2 tag="burst_$1_r$2" i want t0 code secs res
    if ! start_pair "$sync" "$tag"; then
        echo "scenario=burst sync=$sync rep=$rep FAILED=start" >>"$ROWS"
        stop_pair
        return
    fi
    # Warm-up: one incident, so the sink connections and the first-use costs are paid.
    curl -s -o /dev/null --max-time 10 -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
        --data '{"labels":{"alertname":"NotifyBurst","bench":"w-0"},"summary":"bench-w-0","severity":"critical"}' \
        "$T_URL/api/v1/events"
    wait_count "$BURST_USERS" >/dev/null
    {
        echo -n "["
        for i in $(seq 0 $((BURST_INCIDENTS - 1))); do
            [ "$i" -gt 0 ] && echo -n ","
            echo -n "{\"labels\":{\"alertname\":\"NotifyBurst\",\"bench\":\"b-$i\"},\"summary\":\"bench-b-$i\",\"severity\":\"critical\"}"
        done
        echo "]"
    } >"$WD/burst.json"
    want=$((BURST_USERS + BURST_INCIDENTS * BURST_USERS))
    t0=$(date +%s%N)
    code=$(curl -s -o "$OUT/$tag.answer.json" -w '%{http_code}' --max-time 60 -H "Authorization: Bearer $KEY" \
        -H 'Content-Type: application/json' --data-binary "@$WD/burst.json" "$T_URL/api/v1/events")
    secs=$(wait_count "$want")
    stop_pair
    res=$("$PY" "$HERE/notify_summary.py" burst "$WD/$tag.sink" "$t0" $((BURST_INCIDENTS * BURST_USERS)))
    gzip -c "$WD/$tag.sink" >"$OUT/$tag.sink.gz"
    rm -f "$WD/$tag".*
    echo "scenario=burst sync=$sync rep=$rep http=$code $res drain_wait_s=$secs" >>"$ROWS"
    echo "  burst:   http=$code $res"
}

{
    echo "date=$(date -u +%FT%TZ) host_cpus=$(nproc) kernel=$(uname -r)"
    echo "tocsin=$BIN version=$("$BIN" version 2>/dev/null | head -1)"
    echo "duration=${DURATION}s warmup=${WARMUP}s reps=$REPS rates=[$RATES] syncs=[$SYNCS] conns=$CONNS scenarios=[$SCENARIOS]"
    echo "burst=${BURST_INCIDENTS} incidents x ${BURST_USERS} users data=$WD"
} | tee "$OUT/env.txt"

for rep in $(seq 1 "$REPS"); do
    for sync in $SYNCS; do
        for scen in $SCENARIOS; do
            case "$scen" in
            rates)
                for rate in $RATES; do
                    echo "[$(date +%T)] rep $rep/$REPS sync=$sync $rate events/s: $(wait_quiet)"
                    run_rate "$sync" "$rate" "$rep"
                done
                ;;
            burst)
                echo "[$(date +%T)] rep $rep/$REPS sync=$sync burst ${BURST_INCIDENTS}x${BURST_USERS}: $(wait_quiet)"
                run_burst "$sync" "$rep"
                ;;
            *) die "unknown scenario $scen" ;;
            esac
        done
    done
done

"$PY" "$HERE/notify_summary.py" summary "$ROWS" | tee "$OUT/summary.txt"
ln -sfn "notify-$STAMP" "$RESULTS/notify-latest"
echo "raw results: $OUT"
