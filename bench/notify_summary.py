#!/usr/bin/env python3
"""bench/notify_summary.py - figures of the notification benchmark (bench/notify.sh).

  join SENDS SINK        one paced run: SENDS from bench/event_pace.c
                         ("token send_ns due_ns status resp_us"), SINK from
                         bench/webhook_sink.c ("arrival_ns idem_key token kind");
                         prints one key=value line
  burst SINK T0_NS N     one burst: the notifications of the "bench-b-*"
                         incidents, N expected, posted at T0_NS; one line
  commits BEFORE AFTER   engine commits between two /metrics snapshots; one line
  summary ROWS           medians over the repetitions, as a table
"""
import statistics
import sys
from collections import defaultdict


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = int(p * (len(sorted_vals) - 1) + 0.5)
    return sorted_vals[k]


def read_sink(path):
    recs = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 4:
                    recs.append((int(parts[0]), parts[1], parts[2], parts[3]))
    except FileNotFoundError:
        pass
    return recs


def join(sends_path, sink_path):
    sent = {}
    n_events = 0
    with open(sends_path) as f:
        for line in f:
            tok, send_ns, due_ns, status, _ = line.split()  # _ = resp_us
            n_events += 1
            if 200 <= int(status) < 300:
                sent[tok] = (int(send_ns), int(due_ns), int(send_ns) + int(_) * 1000)
    first = {}
    dups = 0
    for arr, _key, tok, kind in read_sink(sink_path):
        if tok not in sent or kind != "incident.triggered":
            continue
        if tok in first:
            dups += 1
            first[tok] = min(first[tok], arr)
        else:
            first[tok] = arr
    lat = sorted((first[t] - sent[t][0]) / 1e6 for t in first)
    lat_due = sorted((first[t] - sent[t][1]) / 1e6 for t in first)
    # The part after the intake answer: arrival - (POST written + time to its
    # answer); about 0 or below when the notification leaves with the commit.
    after = sorted((first[t] - sent[t][2]) / 1e6 for t in first)
    arrivals = sorted(first.values())
    span = (arrivals[-1] - arrivals[0]) / 1e9 if len(arrivals) > 1 else 0
    out = {
        "accepted": len(sent),
        "delivered": len(first),
        "missing": len(sent) - len(first),
        "dups": dups,
        "p50_ms": pct(lat, 0.50),
        "p90_ms": pct(lat, 0.90),
        "p99_ms": pct(lat, 0.99),
        "max_ms": lat[-1] if lat else float("nan"),
        "due_p99_ms": pct(lat_due, 0.99),
        "after_answer_p50_ms": pct(after, 0.50),
        "after_answer_p99_ms": pct(after, 0.99),
        "delivered_s": (len(arrivals) - 1) / span if span > 0 else float("nan"),
    }
    return " ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in out.items())


def burst(sink_path, t0_ns, expected):
    recs = [r for r in read_sink(sink_path) if r[2].startswith("bench-b-")]
    keys = {r[1] for r in recs}
    arr = sorted(r[0] for r in recs)
    if not arr:
        return f"expected={expected} received=0 unique=0 FAILED=nothing"
    span = (arr[-1] - arr[0]) / 1e9
    return (f"expected={expected} received={len(recs)} unique={len(keys)} "
            f"first_ms={(arr[0] - t0_ns) / 1e6:.1f} drain_s={span:.3f} "
            f"total_s={(arr[-1] - t0_ns) / 1e9:.3f} "
            f"notif_s={(len(arr) - 1) / span if span > 0 else float('nan'):.0f}")


def read_hist(path):
    """tocsin_commit_duration_seconds buckets {le: cumulative count}, sum, count."""
    b, tot, n = {}, 0.0, 0
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("tocsin_commit_duration_seconds_bucket{le=\""):
                    le = line.split('"')[1]
                    b[float("inf") if le == "+Inf" else float(le)] = int(float(line.split()[-1]))
                elif line.startswith("tocsin_commit_duration_seconds_sum "):
                    tot = float(line.split()[-1])
                elif line.startswith("tocsin_commit_duration_seconds_count "):
                    n = int(float(line.split()[-1]))
    except FileNotFoundError:
        pass
    return b, tot, n


def commits(before, after):
    """Engine commits inside the window: count, mean, the bucket bound holding
    the 99th percentile, and how many took over 50 ms."""
    b0, s0, n0 = read_hist(before)
    b1, s1, n1 = read_hist(after)
    n = n1 - n0
    if n <= 0 or not b1:
        return "commits=0 commit_mean_ms=NA commit_p99_le_ms=NA commits_over_50ms=NA"
    p99 = float("nan")
    for le in sorted(b1):
        if b1[le] - b0.get(le, 0) >= 0.99 * n:
            p99 = le * 1000
            break
    le50 = max((le for le in b1 if le <= 0.05), default=None)
    over = n - (b1[le50] - b0.get(le50, 0)) if le50 is not None else float("nan")
    return (f"commits={n} commit_mean_ms={(s1 - s0) / n * 1000:.2f} "
            f"commit_p99_le_ms={p99:g} commits_over_50ms={over}")


def parse_rows(path):
    rows = []
    with open(path) as f:
        for line in f:
            kv = {}
            for part in line.split():
                if "=" in part:
                    k, v = part.split("=", 1)
                    kv[k] = v
            if kv:
                rows.append(kv)
    return rows


def med(rows, key):
    vals = []
    for r in rows:
        try:
            v = float(r[key])
        except (KeyError, ValueError):
            continue
        if v == v:  # not NaN
            vals.append(v)
    return statistics.median(vals) if vals else float("nan")


def fmt(v, nd=1):
    return "NA" if v != v else f"{v:.{nd}f}"


def summary(path):
    rows = parse_rows(path)
    groups = defaultdict(list)
    order = []
    for r in rows:
        g = (r.get("scenario", "?"), r.get("sync", "?"))
        if g not in groups:
            order.append(g)
        groups[g].append(r)
    reps = max((int(r.get("rep", 1)) for r in rows), default=0)
    print()
    print(f"On-call notifications: event POST -> webhook at a local receiver "
          f"(medians of {reps} run{'s' if reps != 1 else ''})")
    hdr = (f"{'sync':<7}{'events/s':>9}{'sent/s':>9}{'delivered':>13}{'p50 ms':>9}{'p99 ms':>9}"
           f"{'max ms':>9}{'deliv/s':>9}{'errors':>8}{'failed':>7}")
    print(hdr)
    print("-" * len(hdr))
    target = {}
    rates = [g for g in order if g[0].startswith("rate")]
    for g in rates:
        scen, sync = g
        rs = groups[g]
        failed = sum(1 for r in rs if any(k.startswith("FAILED") for k in r))
        rate = scen[4:]
        print(f"{sync:<7}{rate:>9}{fmt(med(rs, 'rate')):>9}"
              f"{fmt(med(rs, 'delivered'), 0) + '/' + fmt(med(rs, 'accepted'), 0):>13}"
              f"{fmt(med(rs, 'p50_ms')):>9}{fmt(med(rs, 'p99_ms')):>9}{fmt(med(rs, 'max_ms')):>9}"
              f"{fmt(med(rs, 'delivered_s')):>9}{fmt(med(rs, 'errors'), 0):>8}{failed:>7}")
        if rate == "100":
            target[sync] = med(rs, "p99_ms")
    if rates:
        print()
        print("Where the time goes (medians): the intake answer's p99, the notification's p99 after")
        print("that answer, engine commits (p99 bucket bound, count over 50 ms) and CPU in % of one")
        print("core (Tocsin; other tenants = all but Tocsin, pacer and sink; hypervisor steal)")
        hdr = (f"{'sync':<7}{'events/s':>9}{'POST p99':>10}{'after p99':>11}{'commit p99<=':>13}"
               f"{'>50ms':>7}{'tocsin %':>10}{'other %':>9}{'steal %':>9}")
        print(hdr)
        print("-" * len(hdr))
        for g in rates:
            rs = groups[g]
            print(f"{g[1]:<7}{g[0][4:]:>9}{fmt(med(rs, 'resp_p99_ms')):>10}"
                  f"{fmt(med(rs, 'after_answer_p99_ms')):>11}{fmt(med(rs, 'commit_p99_le_ms'), 1):>13}"
                  f"{fmt(med(rs, 'commits_over_50ms'), 0):>7}{fmt(med(rs, 'server_cpu_pct'), 0):>10}"
                  f"{fmt(med(rs, 'other_cpu_pct'), 0):>9}{fmt(med(rs, 'steal_pct'), 0):>9}")
    bursts = [g for g in order if g[0] == "burst"]
    if bursts:
        r0 = groups[bursts[0]][0]
        print()
        print(f"Outbox throughput: one POST of incidents x a team, {r0.get('expected', '?')} "
              f"notifications queued by one commit (medians)")
        hdr = (f"{'sync':<7}{'received':>10}{'unique':>8}{'first ms':>10}{'drain s':>9}"
               f"{'total s':>9}{'notif/s':>9}")
        print(hdr)
        print("-" * len(hdr))
        for g in bursts:
            rs = groups[g]
            print(f"{g[1]:<7}{fmt(med(rs, 'received'), 0):>10}{fmt(med(rs, 'unique'), 0):>8}"
                  f"{fmt(med(rs, 'first_ms')):>10}{fmt(med(rs, 'drain_s'), 3):>9}"
                  f"{fmt(med(rs, 'total_s'), 3):>9}{fmt(med(rs, 'notif_s'), 0):>9}")
    if target:
        print()
        for sync, v in target.items():
            verdict = "NA" if v != v else ("PASS" if v < 100 else "MISS")
            print(f"target p99 < 100 ms at 100 events/s (sync {sync}): {fmt(v)} ms {verdict}")
    print("latency = arrival at the sink - the event's POST written (both CLOCK_REALTIME)")


def main(argv):
    if len(argv) >= 4 and argv[1] == "join":
        print(join(argv[2], argv[3]))
    elif len(argv) >= 5 and argv[1] == "burst":
        print(burst(argv[2], int(argv[3]), int(argv[4])))
    elif len(argv) >= 4 and argv[1] == "commits":
        print(commits(argv[2], argv[3]))
    elif len(argv) >= 3 and argv[1] == "summary":
        summary(argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
