#!/usr/bin/env bash
# bench/metrics.sh [TOCSIN_BIN] - metrics engine benchmark, Tocsin against Prometheus.
#
# `make bench` runs it after the other benchmarks. Like them it is a
# measurement, not a test: it prints figures and PASS/MISS against the targets
# and exits 0 unless it could not measure at all. Without TOCSIN_BIN (or with
# SKIP_TOCSIN=1) only the Prometheus half runs.
#
# The data set (bench/gen_metrics.py): SERIES series x SAMPLES samples STEP s
# apart, two days old, a realistic mix of counters and gauges, written once as
# OpenMetrics (for promtool) and once as Influx line protocol (for Tocsin) from
# the same values, plus one series bench_week_gauge covering one week. It is
# cached under CACHE, keyed by its parameters and the generator's checksum,
# and made again when older than a week.
#
# Per repetition (REPS), each step after waiting for a quiet machine:
#   1. Tocsin: a fresh server (metrics retention 365d, so two-day-old samples
#      are accepted); RSS before; bench/lp_push.c posts the set to
#      /api/v1/write?precision=ms (BATCH lines per request, THREADS
#      connections) -> samples/s; RSS after -> memory per active series;
#      POST /api/v1/admin/tsdb/flush; du -sb DATA/metrics -> bytes/sample.
#      Then the week series is pushed and flushed too, and the server stopped.
#   2. Prometheus: `promtool tsdb create-blocks-from openmetrics` of the same
#      set under /usr/bin/time -v -> samples/s, peak RSS; du -sb of the blocks
#      -> bytes/sample (total and chunks only). The week series goes into
#      blocks of its own (promtool re-reads its whole input once per 2 h
#      window, so it is kept out of the timed file).
#   3. Queries: `prometheus` serves those blocks (no scrape config,
#      retention 30d) and Tocsin is restarted on its data; once Prometheus has
#      compacted the backfilled blocks (PROM_SETTLE s, then until its block
#      count is stable), the same requests go QUERY_REPS times to each
#      (bench/metrics_summary.py query: p50, p90):
#        week_raw     query_range bench_week_gauge, 7 d, step 60s
#        week_avg1h   query_range avg_over_time(bench_week_gauge[1h]), 7 d, step 1h
#        rate_sum     query_range sum by (dc) (rate(SELECTOR[5m])), the 2 h, step 15s,
#                     SELECTOR = {__name__=~"bench_icounter_00[0-9]_total"}: ten
#                     families, 1,000 series at the default size (counted on
#                     Prometheus through /api/v1/series and printed)
# Then bench/metrics_summary.py prints the medians, ratios and PASS/MISS.
# Raw results go to bench/results/metrics-STAMP (gitignored).
#
# Env: SERIES=10000 SAMPLES=720 STEP=10 SEED=42 REPS=3 QUERY_REPS=20
#      BATCH=5000 THREADS=2 (lp_push) PROM_SETTLE=65 (s; 0: query at once)
#      QUIET_PCT=15 QUIET_MAX=60 SKIP_TOCSIN=0 RESULTS=bench/results
#      CACHE=${TMPDIR:-/tmp}/tocsin-bench-metrics PROMTOOL=promtool PROMETHEUS=prometheus
#
# Only 127.0.0.1 is used; every process it starts is stopped by its PID.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${1:-}
SKIP_TOCSIN=${SKIP_TOCSIN:-0}
[ -n "$BIN" ] || SKIP_TOCSIN=1
SERIES=${SERIES:-10000}
SAMPLES=${SAMPLES:-720}
STEP=${STEP:-10}
SEED=${SEED:-42}
REPS=${REPS:-3}
QUERY_REPS=${QUERY_REPS:-20}
BATCH=${BATCH:-5000}
THREADS=${THREADS:-2}
PROM_SETTLE=${PROM_SETTLE:-65}
QUIET_PCT=${QUIET_PCT:-15}
QUIET_MAX=${QUIET_MAX:-60}
RESULTS=${RESULTS:-$HERE/results}
CACHE=${CACHE:-${TMPDIR:-/tmp}/tocsin-bench-metrics}
PROMTOOL=${PROMTOOL:-promtool}
PROMETHEUS=${PROMETHEUS:-prometheus}
TOKEN=bench-metrics-admin-token-0123456789
SELECTOR='{__name__=~"bench_icounter_00[0-9]_total"}'
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

die() { echo "metrics bench: $*" >&2; exit 1; }
if [ "$SKIP_TOCSIN" != 1 ]; then
    BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
    [ -x "$BIN" ] || die "no executable at $BIN (make build first)"
fi
[ "$REPS" -ge 1 ] && [ "$REPS" -le 10 ] || die "REPS must be 1..10"
[ "$QUERY_REPS" -ge 1 ] && [ "$QUERY_REPS" -le 1000 ] || die "QUERY_REPS must be 1..1000"
command -v "$PROMTOOL" >/dev/null || die "$PROMTOOL is not installed (scripts/deps.sh: prometheus)"
command -v "$PROMETHEUS" >/dev/null || die "$PROMETHEUS is not installed (scripts/deps.sh: prometheus)"
command -v curl >/dev/null || die "curl is not installed"
command -v cc >/dev/null || die "a C compiler (cc) is needed for bench/lp_push.c"
TIME_V=""
[ -x /usr/bin/time ] && TIME_V=/usr/bin/time

mkdir -p "$RESULTS"
STAMP=$(date +%Y%m%d-%H%M%S)
OUT="$RESULTS/metrics-$STAMP"
mkdir -p "$OUT"
ROWS="$OUT/rows.txt"
: >"$ROWS"
WD=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-metrics-bench.XXXXXX")
# Stops every process in PIDS and removes WD on exit; wait_quiet, stop_pid, start_tocsin.
. "$HERE/lib.sh"

if [ "$SKIP_TOCSIN" != 1 ]; then
    cc -O2 -Wall -Wextra -o "$WD/lp_push" "$HERE/lp_push.c" -lcurl -lpthread ||
        die "cannot build bench/lp_push.c (libcurl4-openssl-dev)"
fi

# ---- the data set, cached by its parameters ----
# The generator's own checksum is part of the key: a changed generator makes a new set.
DS="$CACHE/s$SERIES-n$SAMPLES-st$STEP-seed$SEED-$(md5sum "$HERE/gen_metrics.py" | cut -c1-8)"
fresh_data() {
    [ -s "$DS/data.meta.json" ] && [ -s "$DS/data.week.om" ] || return 1
    "$PY" -c 'import json, sys, time
m = json.load(open(sys.argv[1]))
sys.exit(0 if time.time() - m["t0"] < 7 * 86400 else 1)' "$DS/data.meta.json"
}
if ! fresh_data; then
    mkdir -p "$DS"
    rm -f "$DS"/data.*
    echo "generating the data set in $DS ..."
    "$PY" "$HERE/gen_metrics.py" "$DS/data" --series "$SERIES" --samples "$SAMPLES" --step "$STEP" \
        --seed "$SEED" --week separate >/dev/null || die "gen_metrics.py failed"
fi
meta() { "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$DS/data.meta.json" "$1"; }
NSAMPLES=$(meta samples)
T0=$(meta t0)
TEND=$(meta t_end)
WEEK_START=$((TEND - 7 * 86400))
DSKV="series=$SERIES per_series=$SAMPLES samples=$NSAMPLES step=$STEP"

{
    echo "date=$(date -u +%FT%TZ) host_cpus=$(nproc) kernel=$(uname -r)"
    [ "$SKIP_TOCSIN" = 1 ] || echo "tocsin=$BIN version=$("$BIN" version 2>/dev/null | head -1)"
    echo "promtool=$("$PROMTOOL" --version 2>&1 | head -1)"
    echo "data=$DS $DSKV t0=$T0 t_end=$TEND"
    echo "reps=$REPS query_reps=$QUERY_REPS batch=$BATCH threads=$THREADS prom_settle=${PROM_SETTLE}s"
} | tee "$OUT/env.txt"
cp "$DS/data.meta.json" "$OUT/"

status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null; }
# CPU seconds (user + system) a process has used so far.
cpu_s() {
    sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null |
        awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($12 + $13) / hz }'
}
free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# Brings a file into the page cache so that neither side pays for the disk.
warm_file() { cat "$1" >/dev/null; }
# time_v FILE FIELD-REGEX -> the number after it in a /usr/bin/time -v report
time_v() { sed -n "s/^[[:space:]]*$2: *//p" "$1" | head -1; }

tocsin_config() {
    cat >"$1" <<YML
# Generated by bench/metrics.sh: an admin token for writes, queries and the flush.
api_tokens:
  - name: bench
    token: $TOKEN
    role: admin
metrics:
  # The data set is two days old, its week series nine days.
  retention: 365d
  max_series: 2000000
YML
}

flush_tocsin() { # URL -> 0 when the flush answered 200 success
    local body
    body=$(curl -s --max-time 600 -w '\n%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
        "$1/api/v1/admin/tsdb/flush")
    [ "${body##*$'\n'}" = 200 ] && echo "$body" | grep -q '"success"'
}

# ---- 1. Tocsin ingest ----
run_tocsin_ingest() {
    local rep=$1 tag="tocsin_r$1" data="$WD/tocsin-data" pid url before after hwm c0 c1 line secs \
        sps total wal flushed mps mpf
    rm -rf "$data"
    mkdir -p "$data"
    "$BIN" check-config "$WD/tocsin.yaml" >"$OUT/$tag.check-config.txt" 2>&1 || {
        echo "  tocsin rejected its configuration, see $OUT/$tag.check-config.txt"
        echo "system=tocsin rep=$rep $DSKV FAILED=config" >>"$ROWS"
        return 1
    }
    : >"$OUT/$tag.stdout"
    start_tocsin "$BIN" "$WD/tocsin.yaml" "$data" "$OUT/$tag"
    pid=$TOCSIN_PID
    url=$TOCSIN_URL
    if [ -z "$url" ]; then
        echo "  tocsin did not start (see $OUT/$tag.stderr)"
        stop_pid "$pid"
        echo "system=tocsin rep=$rep $DSKV FAILED=start" >>"$ROWS"
        return 1
    fi
    sleep 1
    before=$(status_kb "$pid" VmRSS)
    c0=$(cpu_s "$pid")
    line=$(timeout 1800 "$WD/lp_push" -b "$BATCH" -t "$THREADS" -k "$TOKEN" \
        "$url/api/v1/write?precision=ms" "$DS/data.lp" 2>"$OUT/$tag.push.stderr" | grep '^RESULT ')
    c1=$(cpu_s "$pid")
    if [ -z "$line" ]; then
        echo "  the push failed: $(head -c 600 "$OUT/$tag.push.stderr")"
        stop_pid "$pid"
        echo "system=tocsin rep=$rep $DSKV FAILED=push" >>"$ROWS"
        return 1
    fi
    sleep 1
    after=$(status_kb "$pid" VmRSS)
    hwm=$(status_kb "$pid" VmHWM)
    secs=$(echo "$line" | tr ' ' '\n' | sed -n 's/^secs=//p')
    sps=$(echo "$line" | tr ' ' '\n' | sed -n 's/^samples_s=//p')
    mps=$(awk -v a="$after" -v b="$before" -v n="$SERIES" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
    flushed=1
    flush_tocsin "$url" || flushed=0
    total=$(du -sb "$data/metrics" 2>/dev/null | cut -f1)
    wal=$(du -sb "$data/metrics/wal" 2>/dev/null | cut -f1)
    du -ab "$data/metrics" >"$OUT/$tag.du.txt" 2>/dev/null
    mpf=$(awk -v a="$(status_kb "$pid" VmRSS)" -v b="$before" -v n="$SERIES" \
        'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
    # The week series for the query test: pushed and flushed, not measured.
    timeout 600 "$WD/lp_push" -b "$BATCH" -t 1 -k "$TOKEN" "$url/api/v1/write?precision=ms" \
        "$DS/data.week.lp" >/dev/null 2>>"$OUT/$tag.push.stderr" || echo "  the week series push failed"
    flush_tocsin "$url" || flushed=0
    stop_pid "$pid"
    if [ "$flushed" != 1 ]; then
        echo "  POST /api/v1/admin/tsdb/flush did not answer 200 success"
        echo "system=tocsin rep=$rep $DSKV FAILED=flush samples_s=$sps" >>"$ROWS"
        return 1
    fi
    line="system=tocsin rep=$rep $DSKV secs=$secs samples_s=$sps cpu_s=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.1f", b - a }')"
    line="$line rss_before_kb=$before rss_after_kb=$after peak_kb=$hwm mem_per_series_b=$mps"
    line="$line mem_per_series_after_flush_b=$mpf bytes_total=${total:-NA} wal_bytes=${wal:-0}"
    line="$line bps_total=$(awk -v b="${total:-0}" -v n="$NSAMPLES" 'BEGIN { printf "%.3f", b / n }')"
    echo "$line" >>"$ROWS"
    echo "  ${line#system=tocsin }"
}

# ---- 2. promtool backfill ----
run_promtool() {
    local rep=$1 tag="promtool_r$1" blocks="$WD/prom-blocks" t0 t1 secs sps total chunks rss cpu
    rm -rf "$blocks" "$WD/prom-week"
    warm_file "$DS/data.om"
    t0=$(date +%s.%N)
    if [ -n "$TIME_V" ]; then
        $TIME_V -v -o "$OUT/$tag.time_v.txt" timeout 1800 "$PROMTOOL" tsdb create-blocks-from \
            openmetrics "$DS/data.om" "$blocks" >"$OUT/$tag.out" 2>&1
    else
        timeout 1800 "$PROMTOOL" tsdb create-blocks-from openmetrics "$DS/data.om" "$blocks" \
            >"$OUT/$tag.out" 2>&1
    fi
    local rc=$?
    t1=$(date +%s.%N)
    if [ "$rc" != 0 ]; then
        echo "  promtool failed ($rc), see $OUT/$tag.out"
        echo "system=promtool rep=$rep $DSKV FAILED=promtool" >>"$ROWS"
        return 1
    fi
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    sps=$(awk -v s="$secs" -v n="$NSAMPLES" 'BEGIN { printf "%.0f", n / s }')
    total=$(du -sb "$blocks" | cut -f1)
    chunks=$(find "$blocks" -path '*/chunks/*' -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
    du -ab "$blocks" >"$OUT/$tag.du.txt"
    rss=NA
    cpu=NA
    if [ -n "$TIME_V" ]; then
        rss=$(time_v "$OUT/$tag.time_v.txt" 'Maximum resident set size (kbytes)')
        cpu=$(awk -v u="$(time_v "$OUT/$tag.time_v.txt" 'User time (seconds)')" \
            -v s="$(time_v "$OUT/$tag.time_v.txt" 'System time (seconds)')" 'BEGIN { printf "%.1f", u + s }')
    fi
    local line="system=promtool rep=$rep $DSKV secs=$secs samples_s=$sps cpu_s=$cpu peak_kb=${rss:-NA}"
    line="$line bytes_total=$total bytes_chunks=$chunks"
    line="$line bps_total=$(awk -v b="$total" -v n="$NSAMPLES" 'BEGIN { printf "%.3f", b / n }')"
    line="$line bps_chunks=$(awk -v b="$chunks" -v n="$NSAMPLES" 'BEGIN { printf "%.3f", b / n }')"
    echo "$line" >>"$ROWS"
    echo "  ${line#system=promtool }"
    # The week series, into blocks of its own, then beside the others.
    if timeout 600 "$PROMTOOL" tsdb create-blocks-from openmetrics "$DS/data.week.om" "$WD/prom-week" \
        >"$OUT/$tag.week.out" 2>&1; then
        find "$WD/prom-week" -mindepth 1 -maxdepth 1 -type d -exec mv {} "$blocks/" \;
    else
        echo "  promtool failed on the week series, see $OUT/$tag.week.out"
    fi
    return 0
}

# ---- 3. queries ----
prom_metric() { # URL NAME -> the value of an unlabelled metric of Prometheus's own /metrics
    curl -s --max-time 10 "$1/metrics" | awk -v n="$2" '$1 == n { print $2; exit }'
}

settle_prometheus() { # URL: waits for the first compaction and until the block count holds
    local url=$1 start=$SECONDS prev="" cur same=0
    [ "$PROM_SETTLE" -gt 0 ] || return 0
    while [ $((SECONDS - start)) -lt "$PROM_SETTLE" ]; do sleep 2; done
    while [ $((SECONDS - start)) -lt $((PROM_SETTLE + 300)) ]; do
        cur="$(prom_metric "$url" prometheus_tsdb_blocks_loaded)/$(prom_metric "$url" prometheus_tsdb_compactions_total)"
        if [ "$cur" = "$prev" ]; then
            same=$((same + 1))
            [ "$same" -ge 3 ] && break
        else
            same=0
        fi
        prev=$cur
        sleep 2
    done
    echo "  prometheus settled after $((SECONDS - start)) s: blocks/compactions $cur"
}

# query_all SYSTEM URL REP: every query, QUERY_REPS times, one row each.
query_all() {
    local system=$1 url=$2 rep=$3 line name
    for name in week_raw week_avg1h rate_sum; do
        case $name in
        week_raw)
            set -- /api/v1/query_range query=bench_week_gauge start="$WEEK_START" end="$TEND" step=60 ;;
        week_avg1h)
            set -- /api/v1/query_range 'query=avg_over_time(bench_week_gauge[1h])' start="$WEEK_START" \
                end="$TEND" step=3600 ;;
        rate_sum)
            set -- /api/v1/query_range "query=sum by (dc) (rate($SELECTOR[5m]))" start="$T0" end="$TEND" \
                step=15 ;;
        esac
        line=$(BENCH_TOKEN=$([ "$system" = tocsin ] && echo "$TOKEN") timeout 900 \
            "$PY" "$HERE/metrics_summary.py" query "$url" "$name" "$QUERY_REPS" "$@" 2>>"$OUT/queries.stderr")
        [ -n "$line" ] || line="query=$name FAILED=timeout"
        echo "system=$system rep=$rep $line" >>"$ROWS"
        echo "  $system $line"
    done
}

run_queries() {
    local rep=$1 port purl ppid tdata="$WD/tocsin-data" i
    port=$(free_port)
    printf '# Generated by bench/metrics.sh: no scrape jobs, only the backfilled blocks.\nglobal:\n  scrape_interval: 1m\n' \
        >"$WD/prometheus.yml"
    "$PROMETHEUS" --config.file="$WD/prometheus.yml" --storage.tsdb.path="$WD/prom-blocks" \
        --storage.tsdb.retention.time=30d --web.listen-address="127.0.0.1:$port" \
        >"$OUT/prometheus_r$rep.log" 2>&1 &
    ppid=$!
    PIDS+=("$ppid")
    purl="http://127.0.0.1:$port"
    for i in $(seq 1 150); do
        curl -sf --max-time 2 "$purl/-/ready" >/dev/null && break
        kill -0 "$ppid" 2>/dev/null || break
        sleep 0.2
    done
    if ! curl -sf --max-time 2 "$purl/-/ready" >/dev/null; then
        echo "  prometheus did not become ready, see $OUT/prometheus_r$rep.log"
        stop_pid "$ppid"
        echo "system=prometheus rep=$rep query=all FAILED=start" >>"$ROWS"
        return
    fi
    local turl=""
    if [ "$SKIP_TOCSIN" != 1 ] && [ -d "$tdata" ]; then
        : >"$OUT/tocsin_query_r$rep.stdout"
        start_tocsin "$BIN" "$WD/tocsin.yaml" "$tdata" "$OUT/tocsin_query_r$rep"
        turl=$TOCSIN_URL
        [ -n "$turl" ] || echo "  tocsin did not restart on its data (see $OUT/tocsin_query_r$rep.stderr)"
    fi
    settle_prometheus "$purl"
    echo "system=prometheus rep=$rep $(timeout 300 "$PY" "$HERE/metrics_summary.py" query "$purl" \
        selector_series 1 /api/v1/series "match[]=$SELECTOR" start="$T0" end="$TEND")" >>"$ROWS"
    tail -1 "$ROWS" | sed 's/^/  /'
    if [ -n "$turl" ]; then
        echo "system=tocsin rep=$rep $(BENCH_TOKEN=$TOKEN timeout 300 "$PY" "$HERE/metrics_summary.py" \
            query "$turl" selector_series 1 /api/v1/series "match[]=$SELECTOR" start="$T0" end="$TEND")" >>"$ROWS"
        tail -1 "$ROWS" | sed 's/^/  /'
    fi
    echo "[$(date +%T)] rep $rep/$REPS queries: $(wait_quiet)"
    if [ -n "$turl" ]; then
        query_all tocsin "$turl" "$rep"
    elif [ "$SKIP_TOCSIN" != 1 ]; then
        echo "system=tocsin rep=$rep query=all FAILED=start" >>"$ROWS"
    fi
    query_all prometheus "$purl" "$rep"
    [ -n "$turl" ] && stop_pid "$TOCSIN_PID"
    stop_pid "$ppid"
}

[ "$SKIP_TOCSIN" = 1 ] || tocsin_config "$WD/tocsin.yaml"
for rep in $(seq 1 "$REPS"); do
    if [ "$SKIP_TOCSIN" != 1 ]; then
        warm_file "$DS/data.lp"
        echo "[$(date +%T)] rep $rep/$REPS tocsin ingest: $(wait_quiet)"
        run_tocsin_ingest "$rep" || rm -rf "$WD/tocsin-data"
    fi
    echo "[$(date +%T)] rep $rep/$REPS promtool backfill: $(wait_quiet)"
    run_promtool "$rep" && run_queries "$rep"
    rm -rf "$WD/tocsin-data" "$WD/prom-blocks" "$WD/prom-week"
done

"$PY" "$HERE/metrics_summary.py" summary "$ROWS" | tee "$OUT/summary.txt"
ln -sfn "metrics-$STAMP" "$RESULTS/metrics-latest"
echo "raw results: $OUT"
