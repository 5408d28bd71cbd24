#!/usr/bin/env python3
"""metrics_summary.py - the metrics benchmark's query timer and its summary.

  metrics_summary.py query URL NAME REPS PATH [k=v ...]
      Sends the same Prometheus API request (POST, form-encoded, over one
      keep-alive connection) 2 times to warm up and then REPS times, and
      prints one line of key=value:
        query=NAME p50_ms= p90_ms= min_ms= max_ms= series= points= rollup=0|1
      series/points count the answer's result (matrix values, or the list
      length of /api/v1/series); rollup=1 when the answer carries
      data.tocsin.rollup. The token, if any, comes from $BENCH_TOKEN and is
      sent as `Authorization: Bearer`. Any answer other than 200 with
      status "success" prints `query=NAME FAILED=...` and exits 1.

  metrics_summary.py summary ROWS
      Medians over the repetitions of bench/metrics.sh's rows, the ratios
      Tocsin / Prometheus and PASS/MISS against the issue's targets:
        ingest     Tocsin samples/s >= 2 x promtool's backfill
        disk       Tocsin bytes/sample <= 0.5 x Prometheus's blocks
        memory     Tocsin RSS growth per active series < 2 KiB
      Query latencies are printed side by side with their ratio.

Standard library only.
"""
import http.client
import json
import math
import socket
import statistics
import sys
import time
import urllib.parse


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    k = (len(xs) - 1) * p
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def query(argv):
    import os
    url, name, reps, path = argv[0], argv[1], int(argv[2]), argv[3]
    params = [tuple(a.split("=", 1)) for a in argv[4:]]
    u = urllib.parse.urlsplit(url)
    body = urllib.parse.urlencode(params).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    tok = os.environ.get("BENCH_TOKEN")
    if tok:
        headers["Authorization"] = "Bearer " + tok
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times, last = [], None
    for i in range(reps + 2):
        t0 = time.perf_counter()
        try:
            conn.request("POST", path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException) as e:
            print("query=%s FAILED=%s" % (name, type(e).__name__))
            return 1
        dt = time.perf_counter() - t0
        if r.status != 200:
            print("query=%s FAILED=http_%d" % (name, r.status))
            sys.stderr.write("%s: HTTP %d: %s\n" % (name, r.status, data[:2000]))
            return 1
        if i >= 2:
            times.append(dt * 1000.0)
        last = data
    try:
        doc = json.loads(last)
    except ValueError:
        print("query=%s FAILED=not_json" % name)
        return 1
    if doc.get("status") != "success":
        print("query=%s FAILED=status_%s" % (name, doc.get("status")))
        return 1
    d = doc.get("data")
    series = points = 0
    rollup = 0
    if isinstance(d, list):
        series = len(d)
    elif isinstance(d, dict):
        res = d.get("result")
        if isinstance(res, list):
            series = len(res)
            for s in res:
                points += len(s.get("values", [])) if "values" in s else 1
        rollup = 1 if (d.get("tocsin") or {}).get("rollup") else 0
    print("query=%s p50_ms=%.2f p90_ms=%.2f min_ms=%.2f max_ms=%.2f series=%d points=%d "
          "rollup=%d reps=%d" % (name, pct(times, 0.5), pct(times, 0.9), min(times), max(times),
                                 series, points, rollup, reps))
    return 0


# ---- summary ----

def parse(path):
    rows = []
    with open(path) as f:
        for line in f:
            kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
            if kv:
                rows.append(kv)
    return rows


def num(v):
    try:
        x = float(v)
        return None if math.isnan(x) else x
    except (TypeError, ValueError):
        return None


def med(rows, key):
    vals = [num(r.get(key)) for r in rows]
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v, spec="%.1f"):
    return "NA" if v is None else spec % v


def verdict(ok):
    return "NA" if ok is None else ("PASS" if ok else "MISS")


def ratio(a, b):
    return a / b if a is not None and b else None


def summary(path):
    rows = parse(path)
    for r in rows:
        if "FAILED" in r:
            print("failed: system=%s rep=%s %s%s" % (r.get("system"), r.get("rep"),
                                                     "query=%s " % r["query"] if "query" in r else "",
                                                     r["FAILED"]))
    ok = [r for r in rows if "FAILED" not in r]
    nrep = max((int(r.get("rep", 0)) for r in rows), default=0)

    def sel(system, **kw):
        return [r for r in ok if r.get("system") == system and "query" not in r
                and all(r.get(k) == v for k, v in kw.items())]

    pt, tt = sel("promtool"), sel("tocsin")
    print()
    print("== metrics: medians over %d repetition(s) ==" % nrep)
    any_row = (pt or tt)
    if any_row:
        r0 = any_row[0]
        print("data set: %s series x %s samples = %s samples, step %s s" % (
            r0.get("series"), r0.get("per_series"), r0.get("samples"), r0.get("step")))
    print()
    print("%-34s %14s %14s %9s" % ("", "tocsin", "prometheus", "ratio"))

    def line(label, tv, pv, spec, target=None, ok_fn=None):
        r = ratio(tv, pv)
        v = ""
        if target is not None:
            v = "(target %s)  %s" % (target, verdict(None if r is None else ok_fn(r)))
        print("%-34s %14s %14s %9s  %s" % (label, fmt(tv, spec), fmt(pv, spec), fmt(r, "%.2f"), v))

    line("ingest samples/s", med(tt, "samples_s"), med(pt, "samples_s"), "%.0f",
         ">= 2.00", lambda r: r >= 2.0)
    line("disk bytes/sample (total)", med(tt, "bps_total"), med(pt, "bps_total"), "%.3f",
         "<= 0.50", lambda r: r <= 0.5)
    line("disk bytes/sample (chunks only)", med(tt, "bps_chunks"), med(pt, "bps_chunks"), "%.3f")
    line("ingest peak RSS MiB", ratio(med(tt, "peak_kb"), 1024), ratio(med(pt, "peak_kb"), 1024),
         "%.0f")
    line("ingest CPU s", med(tt, "cpu_s"), med(pt, "cpu_s"), "%.1f")
    # CPU time is steadier than wall time on a shared machine.
    def per_cpu(rs):
        return med([{"x": num(r["samples"]) / num(r["cpu_s"])} for r in rs
                    if num(r.get("samples")) and num(r.get("cpu_s"))], "x")

    line("  samples per CPU s (information)", per_cpu(tt), per_cpu(pt), "%.0f")
    mps = med(tt, "mem_per_series_b")
    print("%-34s %14s %14s %9s  (target < 2048 B)  %s" % (
        "memory per active series B", fmt(mps, "%.0f"), "", "",
        verdict(None if mps is None else mps < 2048)))
    mpf = med(tt, "mem_per_series_after_flush_b")
    if mpf is not None:
        print("%-34s %14s   (information: RSS growth still held after the flush)" % (
            "  the same after the flush", fmt(mpf, "%.0f")))
    if tt and tt[0].get("wal_bytes") not in (None, "NA", "0"):
        print("%-34s %14s   (information: part of the total above)" % (
            "  tocsin wal bytes after flush", fmt(med(tt, "wal_bytes"), "%.0f")))

    qs = sorted({r["query"] for r in ok if "query" in r})
    if qs:
        print()
        print("query latency ms (p50 / p90 over the repetitions' medians)")
        print("%-14s %20s %20s %9s  %s" % ("", "tocsin p50/p90", "prometheus p50/p90",
                                            "p50 ratio", "result series/points t | p"))
        for q in qs:
            tq = [r for r in ok if r.get("query") == q and r.get("system") == "tocsin"]
            pq = [r for r in ok if r.get("query") == q and r.get("system") == "prometheus"]
            t50, t90 = med(tq, "p50_ms"), med(tq, "p90_ms")
            p50, p90 = med(pq, "p50_ms"), med(pq, "p90_ms")
            shape = "%s/%s | %s/%s" % (
                tq[0].get("series") if tq else "NA", tq[0].get("points") if tq else "NA",
                pq[0].get("series") if pq else "NA", pq[0].get("points") if pq else "NA")
            if tq and pq and (tq[0].get("series") != pq[0].get("series")
                              or tq[0].get("points") != pq[0].get("points")):
                shape += "  RESULTS DIFFER"
            if tq and tq[0].get("rollup") == "1":
                shape += "  (tocsin used rollups)"
            print("%-14s %20s %20s %9s  %s" % (
                q, "%s / %s" % (fmt(t50, "%.1f"), fmt(t90, "%.1f")),
                "%s / %s" % (fmt(p50, "%.1f"), fmt(p90, "%.1f")), fmt(ratio(t50, p50), "%.2f"),
                shape))
        sc = [r for r in ok if r.get("system") == "prometheus" and r.get("query") == "selector_series"]
        if sc:
            print("the rate query's selector matches %s series on Prometheus" % sc[0].get("series"))
    return 0


def main():
    if len(sys.argv) >= 6 and sys.argv[1] == "query":
        return query(sys.argv[2:])
    if len(sys.argv) == 3 and sys.argv[1] == "summary":
        return summary(sys.argv[2])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
