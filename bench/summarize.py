#!/usr/bin/env python3
"""summarize.py ROWS - the table bench/run.sh prints at the end.

ROWS holds one line per measurement, key=value pairs separated by spaces:
  system=tocsin|tocsin-half|alertmanager batch=B uniq=U rep=R requests=.. ok=.. non2xx=..
  alerts_s=.. p50_ms=.. p99_ms=.. [idle_kb=.. after_kb=.. peak_kb=.. open_alerts=..]
For every scenario it prints the medians over the repetitions, the ratio
Tocsin / Alertmanager and PASS/MISS against the issue's targets:
  - alerts/s one per request >= 1.5x Alertmanager's, in batches of 100 >= 3x;
  - p99 < 20 ms for single events at half of Tocsin's peak rate;
  - bytes per open alert < 1/5 of Alertmanager's (judged where many alerts are
    open, i.e. with new label sets; with 0% new ones only the ~1000 pooled
    alerts are open and the figure is dominated by noise).
"""
import statistics
import sys

THROUGHPUT_TARGET = {1: 1.5, 100: 3.0}
HALF_RATE_P99_MS = 20.0
MEMORY_FRACTION = 5.0
MIN_OPEN_FOR_MEMORY = 10000


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def med(rows, key):
    vals = [num(r.get(key)) for r in rows]
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def bytes_per_alert(r):
    idle, after, n = num(r.get("idle_kb")), num(r.get("after_kb")), num(r.get("open_alerts"))
    if idle is None or after is None or not n:
        return None
    return (after - idle) * 1024.0 / n


def errors(r):
    return sum(num(r.get(k)) or 0 for k in ("non2xx", "sock_err", "timeouts"))


def fmt(v, spec="{:.0f}"):
    return "-" if v is None else spec.format(v)


def main():
    rows = []
    with open(sys.argv[1]) as f:
        for line in f:
            r = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
            if "system" in r:
                for k in list(r):
                    if k == "FAILED":
                        r["failed"] = True
                rows.append(r)
    for r in rows:
        r["bpa"] = bytes_per_alert(r)
        r["errors"] = errors(r)
    scenarios = sorted({(int(r["batch"]), int(r["uniq"])) for r in rows})
    verdicts = []
    print()
    print("Event intake, POST /api/v2/alerts, medians over %d repetition(s)"
          % max(int(r["rep"]) for r in rows))
    for batch, uniq in scenarios:
        sel = {s: [r for r in rows if r["system"] == s and int(r["batch"]) == batch
                   and int(r["uniq"]) == uniq and not r.get("failed")]
               for s in ("tocsin", "tocsin-half", "alertmanager")}
        t, a, h = sel["tocsin"], sel["alertmanager"], sel["tocsin-half"]
        print()
        print("== batch %d alert(s)/request, %d%% new label sets ==" % (batch, uniq))
        print("%-14s %10s %9s %9s %9s %12s %12s %8s %8s %9s %7s" % (
            "", "alerts/s", "p50 ms", "p99 ms", "peak MB", "open alerts", "B/open alert",
            "errors", "CPU %", "CPU us/al", "other%"))
        for name, rs in (("tocsin", t), ("alertmanager", a)):
            if not rs:
                print("%-14s %10s" % (name, "no data"))
                continue
            pk = med(rs, "peak_kb")
            print("%-14s %10s %9s %9s %9s %12s %12s %8s %8s %9s %7s" % (
                name, fmt(med(rs, "alerts_s")), fmt(med(rs, "p50_ms"), "{:.2f}"),
                fmt(med(rs, "p99_ms"), "{:.2f}"), fmt(pk / 1024 if pk else None, "{:.1f}"),
                fmt(med(rs, "open_alerts")), fmt(med(rs, "bpa")), fmt(med(rs, "errors")),
                fmt(med(rs, "server_cpu_pct")), fmt(med(rs, "cpu_us_per_alert"), "{:.1f}"),
                fmt(med(rs, "other_cpu_pct"))))
        if h:
            print("%-14s %10s %9s %9s %9s %12s %12s %8s %8s %9s %7s" % (
                "tocsin @half", fmt(med(h, "alerts_s")), fmt(med(h, "p50_ms"), "{:.2f}"),
                fmt(med(h, "p99_ms"), "{:.2f}"), "", "", "", fmt(med(h, "errors")),
                fmt(med(h, "server_cpu_pct")), fmt(med(h, "cpu_us_per_alert"), "{:.1f}"),
                fmt(med(h, "other_cpu_pct"))))
            print("%-14s (open loop at half of tocsin's peak, latency from each request's due"
                  " time; due but never sent: %s)" % ("", fmt(med(h, "behind"))))
        ta, aa = med(t, "alerts_s"), med(a, "alerts_s")
        ratio = ta / aa if ta and aa else None
        if ratio is not None:
            print("%-14s %10s" % ("ratio t/am", fmt(ratio, "{:.2f}x")))
        target = THROUGHPUT_TARGET.get(batch)
        if target and ratio is not None:
            ok = ratio >= target
            verdicts.append(("alerts/s b%d u%d >= %.1fx alertmanager" % (batch, uniq, target),
                             "%.2fx" % ratio, ok))
        if batch == 1 and h:
            p99 = med(h, "p99_ms")
            behind = med(h, "behind") or 0
            # The rate must actually have been offered: at most 1% of the due
            # requests may have stayed unsent because every connection was busy.
            due = (med(h, "requests") or 0) + behind
            sent_ok = behind <= 0.01 * due and (med(h, "errors") or 0) <= 0.01 * due
            ok = p99 is not None and p99 < HALF_RATE_P99_MS and sent_ok
            verdicts.append(("p99 at half peak b1 u%d < %.0f ms" % (uniq, HALF_RATE_P99_MS),
                             "%s ms" % fmt(p99, "{:.2f}"), ok))
        tb, ab = med(t, "bpa"), med(a, "bpa")
        topen = med(t, "open_alerts") or 0
        if tb is not None and ab and topen >= MIN_OPEN_FOR_MEMORY:
            ok = tb < ab / MEMORY_FRACTION
            verdicts.append(("bytes/open alert b%d u%d < 1/%.0f alertmanager" % (
                batch, uniq, MEMORY_FRACTION), "%.0f vs %.0f B (%.2f)" % (tb, ab, tb / ab), ok))
    print()
    print("CPU %: the server's CPU during the run (100 = one core); CPU us/al: its CPU time per")
    print("accepted alert; other%: CPU used by neither the server nor the load generator (other")
    print("tenants of the machine; with LOADGEN=wrk it includes wrk). High other% = noisy figures.")
    print()
    print("== targets ==")
    for what, val, ok in verdicts:
        print("%-5s %-46s %s" % ("PASS" if ok else "MISS", what, val))
    if not verdicts:
        print("(no target could be judged: see the rows above)")


if __name__ == "__main__":
    main()
