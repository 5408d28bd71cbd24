#!/usr/bin/env python3
"""gen_metrics.py PREFIX [options] - the metrics benchmark's data set.

Writes the same samples twice, so that Prometheus and Tocsin ingest exactly
the same values:
  PREFIX.om         OpenMetrics text for
                    `promtool tsdb create-blocks-from openmetrics PREFIX.om DIR`
                    (# TYPE lines, timestamps in seconds, # EOF)
  PREFIX.lp         Influx line protocol for Tocsin's POST /api/v1/write?precision=ms
                    (`name,dc=..,instance=..,job=..,shard=.. value=V TS`, ms timestamps;
                    the field is "value", so the series is called `name`)
  PREFIX.meta.json  series, samples, t0, step and the families of each kind
Both text files are series-major and time-ascending. Every value is printed
once, as Python's repr() of the float (or the decimal integer for integer
series), and that one string goes into both files: it parses back to the very
same float64 on both sides. Integers carry no `i` suffix in the line
protocol, so they are floats there too, as they are in Prometheus.

The mix (families of 100 series, cycling in blocks of ten families):
  40 %  integer counters     bench_icounter_NNN_total   requests-like, idle or busy
  20 %  2-decimal counters   bench_fcounter_NNN_total   cpu-seconds-like
  20 %  float gauges         bench_fgauge_NNN           ratios in [0, 1], full float64
  10 %  byte gauges          bench_bytes_NNN            multiples of 4096
  10 %  temperatures         bench_temp_NNN             1 decimal, often unchanged
NNN counts the families of one kind, so `bench_icounter_00[0-9]_total` selects
exactly ten families (1,000 series) once there are 10,000 series.
Labels: instance (50 hosts per family; the first 20 families of a kind have
hosts of their own), job="node", dc (3), shard (2).

Time: SAMPLES samples per series STEP seconds apart, starting at t0, a 2 h
boundary two days ago (so promtool's default 2 h block range makes one block
of a 720 x 10 s set).

--week separate|inline adds bench_week_gauge: one week of STEP samples ending
at the same last timestamp, for the one-week query test. `separate` writes it
to PREFIX.week.om and PREFIX.week.lp (promtool re-reads its whole input once
per 2 h block window, so a week inside the main file would multiply its
ingest time by 84 and spoil the ingest comparison); `inline` appends it to
the main files.

Options: --series 10000 --samples 720 --step 10 --seed 42 --t0 UNIX_S
         --week none|separate|inline (none)
Standard library only.
"""
import argparse
import json
import random
import sys
import time

PER_FAMILY = 100
KINDS = ["icounter"] * 4 + ["fcounter"] * 2 + ["fgauge"] * 2 + ["bytes", "temp"]
WEEK_NAME = "bench_week_gauge"
WEEK_LABELS = {"dc": "dc0", "instance": "host-000.example:9100", "job": "node", "shard": "0"}


def default_t0(now=None):
    now = int(time.time() if now is None else now)
    return (now // 7200) * 7200 - 2 * 86400


def families(n_series):
    """[(kind, index within the kind, first series number, count)] in file order."""
    out, per_kind, s, fam = [], {}, 0, 0
    while s < n_series:
        kind = KINDS[fam % len(KINDS)]
        idx = per_kind.get(kind, 0)
        per_kind[kind] = idx + 1
        n = min(PER_FAMILY, n_series - s)
        out.append((kind, idx, s, n))
        s += n
        fam += 1
    return out


def family_name(kind, idx):
    """(TYPE name, sample name, type)"""
    base = "bench_%s_%03d" % (kind, idx)
    if kind.endswith("counter"):
        return base, base + "_total", "counter"
    return base, base, "gauge"


def series_labels(kidx, s):
    """The labels of series number s of the family with index kidx within its kind, in
    sorted name order. Each family has its own 50 hosts (two shards each), so that the
    first ten families of a kind have distinct label sets once rate() drops the names."""
    host = (kidx * 50 + s % 50) % 1000
    return (("dc", "dc%d" % (s % 3)), ("instance", "host-%03d.example:9100" % host),
            ("job", "node"), ("shard", str(s // 50)))


def values(kind, n, rnd):
    """n value strings of one series of this kind."""
    out = []
    app = out.append
    if kind == "icounter":
        v = rnd.randint(0, 10**7)
        rate = rnd.choice((0, 0, 1, 5, 20, 100, 200))
        ri = rnd.randint
        for _ in range(n):
            if rate:
                v += ri(0, 2 * rate)
            app(str(v))
    elif kind == "fcounter":
        v = round(rnd.uniform(1e3, 1e6), 2)
        hi = 2 * rnd.uniform(0.01, 10)
        r = rnd.random
        for _ in range(n):
            v = round(v + r() * hi, 2)
            app(repr(v))
    elif kind == "fgauge":
        v = rnd.random()
        g = rnd.gauss
        for _ in range(n):
            v = min(1.0, max(0.0, v + g(0, 0.02)))
            app(repr(v))
    elif kind == "bytes":
        v = rnd.randint(2**28, 2**34)
        ri = rnd.randint
        for _ in range(n):
            v = max(4096, v + 4096 * ri(-2000, 2000))
            app(str(v))
    elif kind == "temp":
        v = rnd.uniform(30, 80)
        r = rnd.random
        for _ in range(n):
            if r() < 0.3:
                v += 0.5 if r() < 0.5 else -0.5
            app(repr(round(v, 1)))
    elif kind == "week":
        # A latency-like gauge: full precision, mean-reverting random walk.
        v = 0.05
        g = rnd.gauss
        for _ in range(n):
            v = abs(v + g(0, 0.002) + 0.01 * (0.05 - v))
            app(repr(v))
    else:
        raise ValueError(kind)
    return out


def lp_tags(labels):
    # Tag values here never contain ',', ' ' or '=', so no escaping is needed.
    return ",".join("%s=%s" % kv for kv in labels)


def om_labels(labels):
    return ",".join('%s="%s"' % kv for kv in labels)


def write_series(om, lp, name, labels, vals, ts_s, ts_ms):
    ol = "%s{%s} " % (name, om_labels(labels))
    ll = "%s,%s value=" % (name, lp_tags(labels))
    om.write("".join([ol + v + " " + t + "\n" for v, t in zip(vals, ts_s)]))
    lp.write("".join([ll + v + " " + t + "\n" for v, t in zip(vals, ts_ms)]))


def write_week(om, lp, rnd, t_end, step, n):
    t0 = t_end - (n - 1) * step
    om.write("# TYPE %s gauge\n" % WEEK_NAME)
    ts_s = [str(t0 + i * step) for i in range(n)]
    ts_ms = [t + "000" for t in ts_s]
    write_series(om, lp, WEEK_NAME, tuple(sorted(WEEK_LABELS.items())),
                 values("week", n, rnd), ts_s, ts_ms)
    return t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("prefix")
    ap.add_argument("--series", type=int, default=10000)
    ap.add_argument("--samples", type=int, default=720)
    ap.add_argument("--step", type=int, default=10)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--t0", type=int, default=None)
    ap.add_argument("--week", choices=("none", "separate", "inline"), default="none")
    a = ap.parse_args(argv)
    if not (1 <= a.series <= 10**7 and 1 <= a.samples <= 10**6 and 1 <= a.step <= 86400):
        ap.error("series 1..1e7, samples 1..1e6, step 1..86400 s")
    t0 = default_t0() if a.t0 is None else a.t0
    step = a.step
    t_end = t0 + (a.samples - 1) * step
    rnd = random.Random(a.seed)
    ts_s = [str(t0 + i * step) for i in range(a.samples)]
    # Whole seconds, so ms is the same digits plus three zeros.
    ts_ms = [t + "000" for t in ts_s]
    fams = families(a.series)
    kinds = {}
    samples = 0
    started = time.time()
    with open(a.prefix + ".om", "w", buffering=1 << 22) as om, \
            open(a.prefix + ".lp", "w", buffering=1 << 22) as lp:
        for kind, idx, _, count in fams:
            tname, name, mtype = family_name(kind, idx)
            om.write("# TYPE %s %s\n" % (tname, mtype))
            kinds[kind] = kinds.get(kind, 0) + 1
            for s in range(count):
                write_series(om, lp, name, series_labels(idx, s), values(kind, a.samples, rnd),
                             ts_s, ts_ms)
                samples += a.samples
        week = None
        week_samples = 7 * 86400 // step
        if a.week == "inline":
            wt0 = write_week(om, lp, random.Random(a.seed + 1), t_end, step, week_samples)
            week = {"name": WEEK_NAME, "samples": week_samples, "t0": wt0, "t_end": t_end,
                    "inline": True}
        om.write("# EOF\n")
    if a.week == "separate":
        with open(a.prefix + ".week.om", "w", buffering=1 << 22) as om, \
                open(a.prefix + ".week.lp", "w", buffering=1 << 22) as lp:
            wt0 = write_week(om, lp, random.Random(a.seed + 1), t_end, step, week_samples)
            om.write("# EOF\n")
        week = {"name": WEEK_NAME, "samples": week_samples, "t0": wt0, "t_end": t_end,
                "inline": False, "om": a.prefix + ".week.om", "lp": a.prefix + ".week.lp"}
    meta = {"series": a.series, "samples_per_series": a.samples, "samples": samples,
            "step_s": step, "step": step, "t0": t0, "t_end": t_end, "seed": a.seed,
            "families": kinds, "per_family": PER_FAMILY,
            "om": a.prefix + ".om", "lp": a.prefix + ".lp", "week": week,
            "gen_seconds": round(time.time() - started, 1)}
    with open(a.prefix + ".meta.json", "w") as m:
        json.dump(meta, m, indent=1)
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
