#!/usr/bin/env bash
# bench/run.sh TOCSIN_BIN - event intake benchmark, Tocsin against Alertmanager.
#
# `make bench` runs it on the release build. It is a measurement, not a test:
# it prints figures and PASS/MISS against the targets and exits 0 unless it
# could not measure at all.
#
# For each scenario (BATCH alerts per request x UNIQUE_PCT % never-seen label
# sets) and each repetition it
#   1. waits until the machine is quiet (whole-host CPU from /proc/stat),
#   2. starts a fresh Tocsin (storage.sync: full, an alertmanager integration),
#      warms it up, loads POST /api/v2/alerts at full speed for DURATION s,
#      reads its RSS (VmHWM = peak, VmRSS before/after) and tocsin_alerts_open
#      from /metrics; for single-alert scenarios it then loads it again at half
#      of the rate it just reached (open loop) and records p50/p99; stops it,
#   3. does the same full-speed run against Debian's prometheus-alertmanager
#      (clustering off, null receiver) and counts its alerts via /api/v2/alerts.
# Then bench/summarize.py prints medians over the repetitions, the ratios and
# PASS/MISS per target. Raw results go to bench/results/ (gitignored).
#
# Env: DURATION=15 (s, <= 60) CONNS=32 REPS=3 WARMUP=2 SCENARIOS="1:0 1:50 100:0 100:50"
#      LOADGEN=c (bench/loadgen.c) | wrk (wrk + bench/alert_intake.lua; full speed only)
#      SYNC=full  QUIET_PCT=15 QUIET_MAX=60  AM_BIN=prometheus-alertmanager  RESULTS=bench/results
#      SKIP_AM=1 (Tocsin only; no ratios)
#
# Only 127.0.0.1 is used; every process it starts is stopped by its PID.
set -uo pipefail

BIN=${1:?usage: bench/run.sh TOCSIN_BIN}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
DURATION=${DURATION:-15}
CONNS=${CONNS:-32}
REPS=${REPS:-3}
WARMUP=${WARMUP:-2}
SCENARIOS=${SCENARIOS:-"1:0 1:50 100:0 100:50"}
LOADGEN=${LOADGEN:-c}
SYNC=${SYNC:-full}
QUIET_PCT=${QUIET_PCT:-15}
QUIET_MAX=${QUIET_MAX:-60}
AM_BIN=${AM_BIN:-prometheus-alertmanager}
RESULTS=${RESULTS:-$HERE/results}
SKIP_AM=${SKIP_AM:-0}
KEY=bench-key-0123456789abcdef012345
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

die() { echo "bench: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "no executable at $BIN (make build first)"
[ "$DURATION" -ge 1 ] && [ "$DURATION" -le 60 ] || die "DURATION must be 1..60 s"
[ "$REPS" -ge 1 ] && [ "$REPS" -le 10 ] || die "REPS must be 1..10"
case "$LOADGEN" in c|wrk) ;; *) die "LOADGEN must be c or wrk" ;; esac
if [ "$LOADGEN" = wrk ]; then command -v wrk >/dev/null || die "wrk is not installed (scripts/deps.sh)"; fi
if [ "$SKIP_AM" != 1 ]; then
    command -v "$AM_BIN" >/dev/null || die "$AM_BIN not installed (scripts/deps.sh); SKIP_AM=1 to run without it"
fi
command -v curl >/dev/null || die "curl is not installed"

mkdir -p "$RESULTS"
STAMP=$(date +%Y%m%d-%H%M%S)
OUT="$RESULTS/$STAMP"
mkdir -p "$OUT"
ROWS="$OUT/rows.txt"
: >"$ROWS"
WD=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-bench.XXXXXX")
# Stops every process in PIDS and removes WD on exit; wait_quiet, stop_pid, start_tocsin.
. "$HERE/lib.sh"

# ---- the load generator ----
gcc -O2 -Wall -Wextra -o "$WD/loadgen" "$HERE/loadgen.c" || die "cannot build bench/loadgen.c"

# ---- helpers ----

# status_kb PID FIELD -> kB value of VmRSS / VmHWM
status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# cpu_snap PID -> "host_total host_idle pid_ticks" (jiffies) for CPU accounting around a run.
cpu_snap() {
    local a b c d e f g h pt
    read -r _ a b c d e f g h _ </proc/stat
    pt=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }')
    echo "$((a + b + c + d + e + f + g + h)) $((d + e)) ${pt:-0}"
}

# cpu_fields SNAP_BEFORE SNAP_AFTER LOAD_LINE -> key=value: the server's CPU (% of one
# core), CPU microseconds per accepted alert, and the CPU used by anything other than the
# server and the load generator (other tenants of a shared machine: noise).
cpu_fields() {
    echo "$1 $2" | awk -v n="$(nproc)" -v hz="$(getconf CLK_TCK)" -v lg="$(kv "$3" loadgen_cpu_s)" -v secs="$(kv "$3" secs)" \
        -v ok="$(kv "$3" ok)" -v b="$4" '{
        dt = $4 - $1; di = $5 - $2; dp = $6 - $3; wall = dt / n
        if (dt <= 0) { print "server_cpu_pct=NA cpu_us_per_alert=NA other_cpu_pct=NA"; exit }
        busy = 100 * (dt - di) / wall; srv = 100 * dp / wall
        lgp = (lg == "" || secs == "" || secs == 0) ? 0 : 100 * lg / secs
        upa = (ok * b > 0) ? dp / hz * 1e6 / (ok * b) : 0
        other = busy - srv - lgp; if (other < 0) other = 0
        printf "server_cpu_pct=%.0f cpu_us_per_alert=%.1f loadgen_cpu_pct=%.0f other_cpu_pct=%.0f", srv, upa, lgp, other }'
}

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}


# load URL BATCH UNIQUE_PCT SECS RATE -> one line of key=value (loadgen's RESULT format).
# RATE 0 = as fast as possible; a rate needs the C load generator.
load() {
    local url=$1 batch=$2 uniq=$3 secs=$4 rate=$5 raw
    if [ "$LOADGEN" = wrk ] && [ "$rate" = 0 ]; then
        raw=$(timeout $((secs + 30)) wrk -t2 -c"$CONNS" -d"${secs}s" --timeout 5s --latency \
            -s "$HERE/alert_intake.lua" "$url" -- "$batch" "$uniq" 1000 "$KEY" 2>&1 | grep '^WRK ')
        [ -n "$raw" ] || { echo "FAILED"; return; }
        # wrk: ok = requests - non2xx; alerts/s over the run's own duration.
        echo "$raw" | awk -v b="$batch" '{
            for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            ok = v["requests"] - v["non2xx"]
            printf "requests=%d ok=%d non2xx=%d s503=NA sock_err=%d timeouts=%d secs=%.2f req_s=%.0f alerts_s=%.0f p50_ms=%s p90_ms=%s p99_ms=%s p999_ms=NA max_ms=%s rate_target=0 behind=0\n",
                v["requests"], ok, v["non2xx"], v["sock_err"], v["timeouts"], v["secs"],
                v["requests"] / v["secs"], ok * b / v["secs"], v["p50_ms"], v["p90_ms"], v["p99_ms"], v["max_ms"] }'
    else
        raw=$(timeout $((secs + 30)) "$WD/loadgen" --url "$url" --conns "$CONNS" --duration "$secs" \
            --rate "$rate" --batch "$batch" --unique-pct "$uniq" --pool 1000 --timeout 5 \
            --header "Authorization: Bearer $KEY" 2>&1 | grep '^RESULT ')
        [ -n "$raw" ] || { echo "FAILED"; return; }
        echo "${raw#RESULT }"
    fi
}

# kv LINE KEY -> value
kv() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'; }

sanity_post() { # URL -> HTTP status of one small valid post
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Content-Type: application/json' \
        -H "Authorization: Bearer $KEY" -X POST \
        --data '[{"labels":{"alertname":"BenchSanity","instance":"x"},"annotations":{"summary":"s"}}]' "$1"
}

# ---- configurations ----
cat >"$WD/tocsin.yaml" <<YML
# Generated by bench/run.sh: one Alertmanager-type integration, durable commits.
integrations:
  - name: bench
    type: alertmanager
    key: "$KEY"
storage:
  sync: $SYNC
# The same grouping as the Alertmanager configuration below.
default_route:
  group_by: [alertname, cluster]
YML
cat >"$WD/am.yml" <<'YML'
# Generated by bench/run.sh: routes everything to a receiver that sends nothing.
global:
  resolve_timeout: 5m
route:
  receiver: 'null'
  group_by: ['alertname', 'cluster']
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: 'null'
YML
cp "$WD/tocsin.yaml" "$WD/am.yml" "$OUT/"

{
    echo "date=$(date -u +%FT%TZ) host_cpus=$(nproc) kernel=$(uname -r)"
    echo "tocsin=$BIN version=$("$BIN" version 2>/dev/null | head -1)"
    [ "$SKIP_AM" = 1 ] || echo "alertmanager=$("$AM_BIN" --version 2>&1 | head -1)"
    echo "loadgen=$LOADGEN duration=${DURATION}s conns=$CONNS reps=$REPS warmup=${WARMUP}s sync=$SYNC scenarios=$SCENARIOS"
} | tee "$OUT/env.txt"

# ---- one Tocsin scenario ----
run_tocsin() {
    local rep=$1 batch=$2 uniq=$3 tag="tocsin_b$2_u$3_r$1" data pid url line i idle after hwm open half lat c0 c1
    data="$WD/data-$tag"
    mkdir -p "$data"
    start_tocsin "$BIN" "$WD/tocsin.yaml" "$data" "$OUT/$tag"
    pid=$TOCSIN_PID
    url=$TOCSIN_URL
    if [ -z "$url" ]; then
        echo "  tocsin did not start (see $OUT/$tag.stderr)"
        stop_pid "$pid"
        echo "system=tocsin batch=$batch uniq=$uniq rep=$rep FAILED=start" >>"$ROWS"
        return
    fi
    echo "  sanity POST -> $(sanity_post "$url/api/v2/alerts")"
    idle=$(status_kb "$pid" VmRSS)
    load "$url/api/v2/alerts" "$batch" "$uniq" "$WARMUP" 0 >/dev/null
    c0=$(cpu_snap "$pid")
    line=$(load "$url/api/v2/alerts" "$batch" "$uniq" "$DURATION" 0)
    c1=$(cpu_snap "$pid")
    [ "$line" = FAILED ] || line="$line $(cpu_fields "$c0" "$c1" "$line" "$batch")"
    sleep 1
    after=$(status_kb "$pid" VmRSS)
    hwm=$(status_kb "$pid" VmHWM)
    open=$(curl -s --max-time 30 "$url/metrics" | awk '$1 == "tocsin_alerts_open" { printf "%d", $2 }')
    [ -n "$open" ] || open=NA
    echo "system=tocsin batch=$batch uniq=$uniq rep=$rep $line idle_kb=$idle after_kb=$after peak_kb=$hwm open_alerts=$open" >>"$ROWS"
    echo "  tocsin  $line open=$open peak=${hwm}kB"
    if [ "$batch" = 1 ] && [ "$line" != FAILED ]; then
        half=$(awk -v a="$(kv "$line" alerts_s)" 'BEGIN { printf "%d", a / 2 }')
        if [ "$half" -gt 0 ]; then
            c0=$(cpu_snap "$pid")
            lat=$(LOADGEN=c load "$url/api/v2/alerts" 1 "$uniq" "$DURATION" "$half")
            c1=$(cpu_snap "$pid")
            [ "$lat" = FAILED ] || lat="$lat $(cpu_fields "$c0" "$c1" "$lat" 1)"
            echo "system=tocsin-half batch=$batch uniq=$uniq rep=$rep $lat" >>"$ROWS"
            echo "  half    $lat"
        fi
    fi
    stop_pid "$pid"
    rm -rf "$data"
}

# ---- one Alertmanager scenario ----
run_am() {
    local rep=$1 batch=$2 uniq=$3 tag="am_b$2_u$3_r$1" data pid port url line i idle after hwm open c0 c1
    data="$WD/data-$tag"
    mkdir -p "$data"
    port=$(free_port)
    "$AM_BIN" --config.file="$WD/am.yml" --storage.path="$data" --web.listen-address="127.0.0.1:$port" \
        --cluster.listen-address= --log.level=warn >"$OUT/$tag.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    url="http://127.0.0.1:$port"
    for i in $(seq 1 100); do
        curl -sf --max-time 2 "$url/-/ready" >/dev/null && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    echo "  sanity POST -> $(sanity_post "$url/api/v2/alerts")"
    idle=$(status_kb "$pid" VmRSS)
    load "$url/api/v2/alerts" "$batch" "$uniq" "$WARMUP" 0 >/dev/null
    c0=$(cpu_snap "$pid")
    line=$(load "$url/api/v2/alerts" "$batch" "$uniq" "$DURATION" 0)
    c1=$(cpu_snap "$pid")
    [ "$line" = FAILED ] || line="$line $(cpu_fields "$c0" "$c1" "$line" "$batch")"
    sleep 1
    after=$(status_kb "$pid" VmRSS)
    hwm=$(status_kb "$pid" VmHWM)
    # RSS is read before this GET: the big JSON answer would inflate it.
    open=$(curl -s --max-time 60 "$url/api/v2/alerts" |
        "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null)
    [ -n "$open" ] || open=NA
    echo "system=alertmanager batch=$batch uniq=$uniq rep=$rep $line idle_kb=$idle after_kb=$after peak_kb=$hwm open_alerts=$open" >>"$ROWS"
    echo "  am      $line open=$open peak=${hwm}kB"
    stop_pid "$pid"
    rm -rf "$data"
}

for rep in $(seq 1 "$REPS"); do
    for sc in $SCENARIOS; do
        b=${sc%%:*}
        u=${sc##*:}
        echo "[$(date +%T)] rep $rep/$REPS batch=$b unique=$u%: $(wait_quiet)"
        run_tocsin "$rep" "$b" "$u"
        if [ "$SKIP_AM" != 1 ]; then
            echo "[$(date +%T)]   alertmanager: $(wait_quiet)"
            run_am "$rep" "$b" "$u"
        fi
    done
done

"$PY" "$HERE/summarize.py" "$ROWS" | tee "$OUT/summary.txt"
ln -sfn "$STAMP" "$RESULTS/latest"
echo "raw results: $OUT"
