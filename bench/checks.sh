#!/usr/bin/env bash
# bench/checks.sh TOCSIN_BIN - check scheduler benchmark, Tocsin against Debian's nagios4.
#
# `make bench` runs it after the intake benchmark. Like that one it is a
# measurement, not a test: it prints figures and PASS/MISS against the targets
# and exits 0 unless it could not measure at all.
#
# Scenarios (SCENARIOS, in this order within each repetition):
#   ceiling   a bare posix_spawn + waitpid loop of the plugin, two in flight
#             (bench/runner_bench.c, "bare"): the machine's plugin runs/s now,
#             the upper bound for any scheduler.
#   nominal   HOSTS x PER_HOST services running CHECK_CMD every
#             NOMINAL_INTERVAL s: scheduler CPU and start latency, Tocsin
#             (max_concurrent NOMINAL_CONC) and Nagios.
#   saturate  the same services every SAT_INTERVAL s, far more than the
#             machine can run: checks completed per second, Tocsin once per
#             max_concurrent in SAT_CONC, then Nagios.
#   tcp       PROBE_HOSTS x PROBE_PER_HOST native tcp checks every
#             PROBE_INTERVAL against bench/check_target.c (accept and close):
#             probes per second, Tocsin only (Nagios has no native probes).
#   http      HTTP_HOSTS x HTTP_PER_HOST http checks against the same server
#             answering 200: probes per second.
# Each run: wait until the machine is quiet (whole-host CPU from /proc/stat,
# below QUIET_PCT for 2 s, at most QUIET_MAX s of waiting), start a fresh
# server, let it settle for the warm-up, measure one window of DURATION s
# (bench/checks_window.py: counters, histograms, CPU from /proc), stop it.
# Then bench/checks_summary.py prints the medians over the repetitions, the
# ratios and PASS/MISS per target. Raw results go to bench/results/ (gitignored).
#
# Env: DURATION=30 (s, 5..120) REPS=3 SKIP_NAGIOS=0 (1: Tocsin only, no ratios)
#      QUIET_PCT=15 QUIET_MAX=60 (QUIET_MAX=0: do not wait)
#      WARMUP=5 (s, Tocsin; the nominal scenario waits one interval more, so every
#      check has been scheduled once) NAGIOS_WARMUP=15 (Nagios spreads its first checks)
#      SCENARIOS="ceiling nominal saturate tcp http"
#      HOSTS=200 PER_HOST=10 NOMINAL_INTERVAL=10 NOMINAL_CONC=8
#      SAT_INTERVAL=1 SAT_CONC="2 4 8 16"
#      PROBE_HOSTS=2000 PROBE_PER_HOST=10 PROBE_INTERVAL=500ms PROBE_MAX=1000 PROBE_PORTS=10
#      HTTP_HOSTS=1000 HTTP_PER_HOST=10 HTTP_INTERVAL=500ms HTTP_MAX=1000
#      CHECK_CMD="/usr/lib/nagios/plugins/check_dummy 0 ok" SYNC=normal
#      NAGIOS_BIN=nagios4 NAGIOS_WORKERS= (empty: Nagios' default) RESULTS=bench/results
#      PLUGIN_LOCALE (unset: Tocsin's default, LC_ALL=C for plugins; "" = the
#      environment's own, as Nagios passes it) NAGIOS_LC_ALL (unset: Nagios and
#      its plugins get the environment as it is; C: the same locale as Tocsin's)
#
# Only 127.0.0.1 is used; every process it starts is stopped by its PID.
set -uo pipefail

BIN=${1:?usage: bench/checks.sh TOCSIN_BIN}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
DURATION=${DURATION:-30}
REPS=${REPS:-3}
SKIP_NAGIOS=${SKIP_NAGIOS:-0}
QUIET_PCT=${QUIET_PCT:-15}
QUIET_MAX=${QUIET_MAX:-60}
WARMUP=${WARMUP:-5}
NAGIOS_WARMUP=${NAGIOS_WARMUP:-15}
SCENARIOS=${SCENARIOS:-"ceiling nominal saturate tcp http"}
HOSTS=${HOSTS:-200}
PER_HOST=${PER_HOST:-10}
NOMINAL_INTERVAL=${NOMINAL_INTERVAL:-10}
NOMINAL_CONC=${NOMINAL_CONC:-8}
SAT_INTERVAL=${SAT_INTERVAL:-1}
SAT_CONC=${SAT_CONC:-"2 4 8 16"}
PROBE_HOSTS=${PROBE_HOSTS:-2000}
PROBE_PER_HOST=${PROBE_PER_HOST:-10}
PROBE_INTERVAL=${PROBE_INTERVAL:-500ms}
PROBE_MAX=${PROBE_MAX:-1000}
PROBE_PORTS=${PROBE_PORTS:-10}
HTTP_HOSTS=${HTTP_HOSTS:-1000}
HTTP_PER_HOST=${HTTP_PER_HOST:-10}
HTTP_INTERVAL=${HTTP_INTERVAL:-500ms}
HTTP_MAX=${HTTP_MAX:-1000}
CHECK_CMD=${CHECK_CMD:-"/usr/lib/nagios/plugins/check_dummy 0 ok"}
SYNC=${SYNC:-normal}
NAGIOS_BIN=${NAGIOS_BIN:-nagios4}
NAGIOS_WORKERS=${NAGIOS_WORKERS:-}
RESULTS=${RESULTS:-$HERE/results}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

die() { echo "checks bench: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "no executable at $BIN (make build first)"
[ "$DURATION" -ge 5 ] && [ "$DURATION" -le 120 ] || die "DURATION must be 5..120 s"
[ "$REPS" -ge 1 ] && [ "$REPS" -le 10 ] || die "REPS must be 1..10"
command -v curl >/dev/null || die "curl is not installed"
command -v cc >/dev/null || die "a C compiler (cc) is needed for the helpers"
PLUGIN=${CHECK_CMD%% *}
[ -x "$PLUGIN" ] || die "$PLUGIN is not installed (monitoring-plugins-basic)"
if [ "$SKIP_NAGIOS" != 1 ]; then
    command -v "$NAGIOS_BIN" >/dev/null ||
        die "$NAGIOS_BIN is not installed (apt-get install nagios4-core); SKIP_NAGIOS=1 to run without it"
fi

mkdir -p "$RESULTS"
STAMP=$(date +%Y%m%d-%H%M%S)
OUT="$RESULTS/checks-$STAMP"
mkdir -p "$OUT"
ROWS="$OUT/rows.txt"
: >"$ROWS"
WD=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-checks-bench.XXXXXX")
# Nagios drops its privileges to nagios_user when started as root, and then
# must be able to write into its directory; as any other user it stays who it is.
if [ "$(id -u)" = 0 ]; then
    NAGIOS_USER=nagios
    NAGIOS_GROUP=nagios
    # The temp dir is private (0700) to root; Nagios needs to pass through it.
    chmod 711 "$WD"
else
    NAGIOS_USER=$(id -un)
    NAGIOS_GROUP=$(id -gn)
fi
# Stops every process in PIDS and removes WD on exit; wait_quiet, stop_pid, start_tocsin.
. "$HERE/lib.sh"

# ---- helpers built for this run (outside the tree, in the temp dir) ----
cc -O2 -Wall -Wextra -o "$WD/check_target" "$HERE/check_target.c" || die "cannot build bench/check_target.c"
cc -O2 -I"$ROOT/src" -o "$WD/runner_bench" "$HERE/runner_bench.c" "$ROOT/src/checks/runner.c" ||
    die "cannot build bench/runner_bench.c"


status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null; }

# The probe target: its PID in TARGET_PID, its ports (comma-separated) in TARGET_PORTS.
TARGET_PID=""
TARGET_PORTS=""
start_target() {
    local mode=$1 tag=$2 i
    # The bound is generous: the target is stopped by PID long before.
    "$WD/check_target" "$mode" "$PROBE_PORTS" $((DURATION + WARMUP + 300)) >"$OUT/$tag.target.out" 2>&1 &
    TARGET_PID=$!
    PIDS+=("$TARGET_PID")
    TARGET_PORTS=""
    for i in $(seq 1 50); do
        TARGET_PORTS=$(awk '$1 == "PORTS" { $1 = ""; sub(/^ /, ""); gsub(/ /, ","); print }' "$OUT/$tag.target.out")
        [ -n "$TARGET_PORTS" ] && return 0
        sleep 0.1
    done
    return 1
}

# run_tocsin SCENARIO REP TAG CONFIG EXTRA_KV [EXTRA_PID]: one fresh Tocsin, one window.
run_tocsin() {
    local scen=$1 rep=$2 tag=$3 conf=$4 extra_kv=$5 extra_pid=${6:-} data pid url i line hwm warm=$WARMUP
    [ "$scen" = nominal ] && warm=$((WARMUP + NOMINAL_INTERVAL))
    data="$WD/data-$tag"
    mkdir -p "$data"
    "$BIN" check-config "$conf" >"$OUT/$tag.check-config.txt" 2>&1 || {
        echo "  $tag: configuration rejected, see $OUT/$tag.check-config.txt"
        echo "scenario=$scen system=tocsin rep=$rep $extra_kv FAILED=config" >>"$ROWS"
        return
    }
    start_tocsin "$BIN" "$conf" "$data" "$OUT/$tag"
    pid=$TOCSIN_PID
    url=$TOCSIN_URL
    if [ -z "$url" ]; then
        echo "  $tag: tocsin did not start (see $OUT/$tag.stderr)"
        stop_pid "$pid"
        echo "scenario=$scen system=tocsin rep=$rep $extra_kv FAILED=start" >>"$ROWS"
        return
    fi
    sleep "$warm"
    line=$(timeout $((DURATION + 60)) "$PY" "$HERE/checks_window.py" window "$DURATION" "$pid" "$url/metrics" "$extra_pid")
    hwm=$(status_kb "$pid" VmHWM)
    # A thread listing at the end of the window, for the report: which thread
    # burns the CPU (tocsin-checks, tocsin-engine, ...).
    top -b -H -n 1 -p "$pid" 2>/dev/null | head -20 >"$OUT/$tag.threads.txt"
    stop_pid "$pid"
    rm -rf "$data"
    [ -n "$line" ] || line="FAILED=window"
    echo "scenario=$scen system=tocsin rep=$rep $extra_kv $line peak_kb=${hwm:-NA}" >>"$ROWS"
    echo "  tocsin $extra_kv $line peak_kb=${hwm:-NA}"
}

# run_nagios SCENARIO REP TAG CHECK_INTERVAL_S: one private Nagios, one window.
run_nagios() {
    local scen=$1 rep=$2 tag=$3 ci=$4 nd pid line perf i
    nd="$WD/nagios-$tag"
    mkdir -p "$nd/checkresults" "$nd/archives"
    NAGIOS_USER=$NAGIOS_USER NAGIOS_GROUP=$NAGIOS_GROUP \
        "$PY" "$HERE/checks_gen.py" nagios "$nd" "$HOSTS" "$PER_HOST" "$ci" "$CHECK_CMD" "$NAGIOS_WORKERS"
    [ "$(id -u)" = 0 ] && chown -R "$NAGIOS_USER:$NAGIOS_GROUP" "$nd"
    if ! "$NAGIOS_BIN" -v "$nd/nagios.cfg" >"$OUT/$tag.verify.txt" 2>&1; then
        echo "  $tag: nagios rejected its configuration, see $OUT/$tag.verify.txt"
        echo "scenario=$scen system=nagios rep=$rep FAILED=config" >>"$ROWS"
        return
    fi
    # In the foreground (no -d): $! is Nagios itself, its check workers are its children.
    env ${NAGIOS_LC_ALL:+LC_ALL=$NAGIOS_LC_ALL} "$NAGIOS_BIN" "$nd/nagios.cfg" >"$OUT/$tag.stdout" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    sleep "$NAGIOS_WARMUP"
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "  $tag: nagios exited early, see $OUT/$tag.stdout"
        echo "scenario=$scen system=nagios rep=$rep FAILED=start" >>"$ROWS"
        return
    fi
    line=$(timeout $((DURATION + 60)) "$PY" "$HERE/checks_window.py" window "$DURATION" "$pid")
    top -b -n 1 2>/dev/null | head -20 >"$OUT/$tag.top.txt"
    # Nagios writes the perfdata file through stdio: stopping it flushes it.
    stop_pid "$pid"
    cp "$nd/nagios.log" "$OUT/$tag.nagios.log" 2>/dev/null
    if [ -n "$line" ] && [ -s "$nd/service-perfdata" ]; then
        perf=$("$PY" "$HERE/checks_window.py" perfdata "$nd/service-perfdata" \
            "$(echo "$line" | tr ' ' '\n' | sed -n 's/^t0=//p')" "$(echo "$line" | tr ' ' '\n' | sed -n 's/^t1=//p')")
        gzip -c "$nd/service-perfdata" >"$OUT/$tag.perfdata.gz"
    else
        perf="FAILED=perfdata"
    fi
    rm -rf "$nd"
    echo "scenario=$scen system=nagios rep=$rep $line $perf" >>"$ROWS"
    echo "  nagios $line $perf"
}

run_ceiling() {
    local rep=$1 out
    out=$(timeout 60 "$WD/runner_bench" bare 2 10 2>&1 | tail -1)
    # "bare inflight=2: 3412 runs/s"
    out=$(echo "$out" | awk '{ for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^runs\/s,?$/) print $i }')
    echo "scenario=ceiling system=bare rep=$rep checks_s=${out:-NA}" >>"$ROWS"
    echo "  bare posix_spawn loop, 2 in flight: ${out:-NA} runs/s"
}

{
    echo "date=$(date -u +%FT%TZ) host_cpus=$(nproc) kernel=$(uname -r)"
    echo "tocsin=$BIN version=$("$BIN" version 2>/dev/null | head -1)"
    [ "$SKIP_NAGIOS" = 1 ] || echo "nagios=$("$NAGIOS_BIN" --version 2>&1 | grep -m1 -i 'nagios core')"
    echo "plugin=$CHECK_CMD"
    echo "locale: LANG=${LANG:-} tocsin plugin_locale=${PLUGIN_LOCALE-C (default)} nagios LC_ALL=${NAGIOS_LC_ALL:-as inherited}"
    echo "duration=${DURATION}s reps=$REPS warmup=${WARMUP}s nagios_warmup=${NAGIOS_WARMUP}s sync=$SYNC scenarios=$SCENARIOS"
    echo "nominal=${HOSTS}x${PER_HOST}@${NOMINAL_INTERVAL}s conc=$NOMINAL_CONC saturate=@${SAT_INTERVAL}s conc=[$SAT_CONC]"
    echo "tcp=${PROBE_HOSTS}x${PROBE_PER_HOST}@$PROBE_INTERVAL max_probes=$PROBE_MAX http=${HTTP_HOSTS}x${HTTP_PER_HOST}@$HTTP_INTERVAL max_probes=$HTTP_MAX"
} | tee "$OUT/env.txt"

for rep in $(seq 1 "$REPS"); do
    for scen in $SCENARIOS; do
        case "$scen" in
        ceiling)
            echo "[$(date +%T)] rep $rep/$REPS ceiling: $(wait_quiet)"
            run_ceiling "$rep"
            ;;
        nominal)
            conf="$WD/nominal.yaml"
            "$PY" "$HERE/checks_gen.py" tocsin "$conf" "$HOSTS" "$PER_HOST" "${NOMINAL_INTERVAL}s" \
                "$NOMINAL_CONC" "$PROBE_MAX" "$SYNC" command "$CHECK_CMD"
            cp "$conf" "$OUT/"
            echo "[$(date +%T)] rep $rep/$REPS nominal tocsin: $(wait_quiet)"
            run_tocsin nominal "$rep" "nominal_tocsin_r$rep" "$conf" "conc=$NOMINAL_CONC"
            if [ "$SKIP_NAGIOS" != 1 ]; then
                echo "[$(date +%T)] rep $rep/$REPS nominal nagios: $(wait_quiet)"
                run_nagios nominal "$rep" "nominal_nagios_r$rep" "$NOMINAL_INTERVAL"
            fi
            ;;
        saturate)
            for conc in $SAT_CONC; do
                conf="$WD/saturate_c$conc.yaml"
                "$PY" "$HERE/checks_gen.py" tocsin "$conf" "$HOSTS" "$PER_HOST" "${SAT_INTERVAL}s" \
                    "$conc" "$PROBE_MAX" "$SYNC" command "$CHECK_CMD"
                cp "$conf" "$OUT/"
                echo "[$(date +%T)] rep $rep/$REPS saturate tocsin max_concurrent=$conc: $(wait_quiet)"
                run_tocsin saturate "$rep" "saturate_tocsin_c${conc}_r$rep" "$conf" "conc=$conc"
            done
            if [ "$SKIP_NAGIOS" != 1 ]; then
                echo "[$(date +%T)] rep $rep/$REPS saturate nagios: $(wait_quiet)"
                run_nagios saturate "$rep" "saturate_nagios_r$rep" "$SAT_INTERVAL"
            fi
            ;;
        tcp | http)
            if [ "$scen" = tcp ]; then
                nh=$PROBE_HOSTS; np=$PROBE_PER_HOST; iv=$PROBE_INTERVAL; mp=$PROBE_MAX
            else
                nh=$HTTP_HOSTS; np=$HTTP_PER_HOST; iv=$HTTP_INTERVAL; mp=$HTTP_MAX
            fi
            echo "[$(date +%T)] rep $rep/$REPS $scen probes: $(wait_quiet)"
            if ! start_target "$scen" "${scen}_r$rep"; then
                echo "  the probe target did not start"
                echo "scenario=$scen system=tocsin rep=$rep FAILED=target" >>"$ROWS"
                stop_pid "$TARGET_PID"
                continue
            fi
            conf="$WD/$scen.yaml"
            "$PY" "$HERE/checks_gen.py" tocsin "$conf" "$nh" "$np" "$iv" 4 "$mp" "$SYNC" "$scen" "$TARGET_PORTS"
            cp "$conf" "$OUT/"
            run_tocsin "$scen" "$rep" "${scen}_tocsin_r$rep" "$conf" "max_probes=$mp" "$TARGET_PID"
            stop_pid "$TARGET_PID"
            ;;
        *) die "unknown scenario $scen" ;;
        esac
    done
done

"$PY" "$HERE/checks_summary.py" "$ROWS" | tee "$OUT/summary.txt"
ln -sfn "checks-$STAMP" "$RESULTS/checks-latest"
echo "raw results: $OUT"
