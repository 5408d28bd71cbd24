#!/usr/bin/env python3
"""checks_window.py - one measurement window of the checks benchmark.

  checks_window.py window SECS PID [METRICS_URL] [EXTRA_PID]
  checks_window.py perfdata FILE T0 T1

window: watches the process PID and its descendants for SECS seconds (a hard
bound) and prints one line of key=value pairs:
  secs             the window's wall-clock length
  own_cpu_pct      CPU of the scheduler itself, 100 = one core: utime+stime of
                   every process of the tree that lives through the whole
                   window. For Tocsin that is its one process (all threads);
                   for Nagios the main process and its long-lived check
                   workers. Plugins live a millisecond and are not counted.
  total_cpu_pct    own_cpu_pct plus the plugins: cutime+cstime grow in the
                   process that reaps them (Tocsin itself, a Nagios worker).
  host_busy_pct    whole-machine busy time, 100 = one core (up to 100 x CPUs).
  extra_cpu_pct    CPU of EXTRA_PID (the probe target server), if given.
  other_cpu_pct    host busy minus everything above: other tenants of a
                   shared machine and the benchmark's own tools. A large
                   value marks the run as noisy.
  t0, t1           epoch seconds of the window (for Nagios' perfdata file).
With METRICS_URL (Tocsin's /metrics) it also reads the counters at both ends:
  checks_s         delta of tocsin_checks_completed_total / secs
  run_s_TYPE       delta of tocsin_checks_run_total{type=TYPE} / secs
  not_ok_pct       results other than ok, in % of all results in the window
  lat_p50_ms ...   p50/p99 of tocsin_check_latency_seconds from the bucket
                   deltas, linear inside the bucket (as Prometheus'
                   histogram_quantile does); exec_p50_ms/exec_p99_ms the same
                   for tocsin_check_execution_seconds
  spawn_retries    delta of tocsin_check_spawn_retries_total

perfdata: Nagios writes "$TIMET$ $SERVICELATENCY$ $SERVICEEXECUTIONTIME$"
per check; counts the lines stamped inside [T0, T1) (whole seconds) and
prints checks_s and exact latency and execution percentiles.

Standard library only. It never signals any process.
"""
import math
import os
import sys
import time
import urllib.request

HZ = os.sysconf("SC_CLK_TCK")


def proc_stat(pid):
    """(ppid, utime+stime, cutime+cstime) in ticks, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    fields = s[s.rfind(")") + 2:].split()
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def tree_snapshot(root):
    """{pid: (self_ticks, reaped_children_ticks)} for root and all descendants."""
    kids = {}
    stats = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st:
                stats[int(d)] = st
                kids.setdefault(st[0], []).append(int(d))
    out, todo = {}, [root]
    while todo:
        p = todo.pop()
        if p in stats:
            out[p] = stats[p][1:]
            todo.extend(kids.get(p, []))
    return out


def host_cpu():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal; guest time is already in user.
    total = sum(v[:8])
    return total, v[3] + v[4]


def pid_ticks(pid):
    st = proc_stat(pid) if pid else None
    return st[1] if st else 0


def scrape(url):
    """{series: value} of the lines the benchmark needs."""
    with urllib.request.urlopen(url, timeout=20) as r:
        text = r.read().decode()
    m = {}
    for line in text.splitlines():
        if line.startswith("tocsin_check") and not line.startswith("#"):
            name, _, val = line.rpartition(" ")
            try:
                m[name] = float(val)
            except ValueError:
                pass
    return m


def quantile(q, buckets):
    """buckets: [(upper_bound, cumulative_count)] sorted; linear inside a bucket."""
    if not buckets or buckets[-1][1] <= 0:
        return float("nan")
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for ub, cum in buckets:
        if cum >= rank:
            if math.isinf(ub):
                return lower  # beyond the last finite bound: report that bound
            width = cum - below
            return lower + (ub - lower) * ((rank - below) / width if width > 0 else 1.0)
        lower, below = ub, cum
    return lower


def hist_delta(m0, m1, name):
    prefix = name + "_bucket{le=\""
    out = []
    for k, v in m1.items():
        if k.startswith(prefix):
            le = k[len(prefix):].split('"')[0]
            out.append((float("inf") if le == "+Inf" else float(le), v - m0.get(k, 0.0)))
    return sorted(out)


def window(argv):
    secs = float(argv[0])
    pid = int(argv[1])
    url = argv[2] if len(argv) > 2 and argv[2] else None
    extra = int(argv[3]) if len(argv) > 3 and argv[3] else 0

    m0 = scrape(url) if url else None
    w0, h0, s0, e0 = time.time(), host_cpu(), tree_snapshot(pid), pid_ticks(extra)
    time.sleep(max(0.0, secs))
    w1, h1, s1, e1 = time.time(), host_cpu(), tree_snapshot(pid), pid_ticks(extra)
    m1 = scrape(url) if url else None

    wall = w1 - w0
    # Only processes present at both ends are compared: a process born or
    # gone in between is a plugin, whose time is in its reaper's children
    # counters by the end of the window.
    own = sum(s1[p][0] - s0[p][0] for p in s1 if p in s0)
    reaped = sum(s1[p][1] - s0[p][1] for p in s1 if p in s0)
    ext = e1 - e0
    busy = (h1[0] - h0[0]) - (h1[1] - h0[1])
    pct = lambda ticks: 100.0 * ticks / HZ / wall
    kv = {
        "secs": "%.1f" % wall,
        "own_cpu_pct": "%.1f" % pct(own),
        "total_cpu_pct": "%.1f" % pct(own + reaped),
        "host_busy_pct": "%.1f" % pct(busy),
        "extra_cpu_pct": "%.1f" % pct(ext),
        "other_cpu_pct": "%.1f" % max(0.0, pct(busy - own - reaped - ext)),
        "t0": "%.3f" % w0,
        "t1": "%.3f" % w1,
    }
    if url:
        d = lambda k: m1.get(k, 0.0) - m0.get(k, 0.0)
        kv["checks_s"] = "%.1f" % (d("tocsin_checks_completed_total") / wall)
        for t in ("command", "tcp", "http"):
            kv["run_s_" + t] = "%.1f" % (d('tocsin_checks_run_total{type="%s"}' % t) / wall)
        states = [d('tocsin_check_results_total{state="%s"}' % s)
                  for s in ("ok", "warning", "critical", "unknown")]
        kv["not_ok_pct"] = "%.2f" % (100.0 * sum(states[1:]) / sum(states) if sum(states) else 0)
        lat = hist_delta(m0, m1, "tocsin_check_latency_seconds")
        exe = hist_delta(m0, m1, "tocsin_check_execution_seconds")
        kv["lat_p50_ms"] = "%.2f" % (1000 * quantile(0.5, lat))
        kv["lat_p99_ms"] = "%.2f" % (1000 * quantile(0.99, lat))
        kv["exec_p50_ms"] = "%.2f" % (1000 * quantile(0.5, exe))
        kv["exec_p99_ms"] = "%.2f" % (1000 * quantile(0.99, exe))
        kv["spawn_retries"] = "%d" % d("tocsin_check_spawn_retries_total")
        kv["running_end"] = "%d" % m1.get("tocsin_checks_running", 0)
    print(" ".join(f"{k}={v}" for k, v in kv.items()))


def perfdata(argv):
    path, t0, t1 = argv[0], float(argv[1]), float(argv[2])
    # $TIMET$ is whole seconds: use the whole seconds inside the window.
    lo, hi = math.ceil(t0), math.floor(t1)
    lat, exe, total = [], [], 0
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) < 3:
                continue
            total += 1
            try:
                t = int(p[0])
                if lo <= t < hi:
                    lat.append(float(p[1]))
                    exe.append(float(p[2]))
            except ValueError:
                pass
    lat.sort()
    exe.sort()

    def pc(a, q):
        return a[min(len(a) - 1, int(q * len(a)))] if a else float("nan")

    span = max(1, hi - lo)
    print("checks_s=%.1f lat_p50_ms=%.2f lat_p99_ms=%.2f exec_p50_ms=%.2f exec_p99_ms=%.2f "
          "perf_window_s=%d perf_lines=%d" % (
              len(lat) / span, 1000 * pc(lat, .5), 1000 * pc(lat, .99), 1000 * pc(exe, .5),
              1000 * pc(exe, .99), span, total))


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("window", "perfdata"):
        sys.exit(__doc__)
    (window if sys.argv[1] == "window" else perfdata)(sys.argv[2:])
