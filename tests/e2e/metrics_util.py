"""Helpers of the metrics tests: Tocsin configs with a metrics section, line protocol
writes, Prometheus API calls, and the real Prometheus side (promtool backfill, a
prometheus server on those blocks, promtool queries) used as the reference."""
import json
import math
import os
import random
import subprocess
import time

import requests

from conftest import ADMIN_TOKEN, config_text
from peers import require, start_on_free_port

PROM_BIN = "/usr/bin/prometheus"
PROMTOOL_BIN = "/usr/bin/promtool"
NODE_EXPORTER_BIN = "/usr/bin/prometheus-node-exporter"

# The key of an integration of type metrics (32 characters like the other keys).
METRICS_KEY = "met0key1telegraf2abcdefghijklmno"
assert len(METRICS_KEY) == 32

METRICS_INTEGRATION = f"""\
  - name: telegraf
    type: metrics
    key: {METRICS_KEY}
"""


def metrics_config(retention="365d", max_series=None, max_write_bytes=None, scrape=None,
                   extra=""):
    """The default test config plus a metrics section (retention long enough for the
    two-day-old data sets), a metrics integration, and optional scrape jobs (YAML text
    of the list items, already indented by two spaces)."""
    m = f"metrics:\n  retention: {retention}\n"
    if max_series is not None:
        m += f"  max_series: {max_series}\n"
    if max_write_bytes is not None:
        m += f"  max_write_bytes: {max_write_bytes}\n"
    if scrape:
        m += "scrape:\n" + scrape
    return config_text(extra=m + extra, integrations_extra=METRICS_INTEGRATION)


# --- writes and queries against Tocsin ------------------------------------------------------
def lp_write(t, body, path="/api/v1/write", token=ADMIN_TOKEN, headers=None, **params):
    """POSTs a line protocol body (str or bytes); returns the response."""
    if isinstance(body, str):
        body = body.encode()
    h = {"Content-Type": "text/plain; charset=utf-8"}
    h.update(headers or {})
    return t.req("POST", path, token=token, headers=h, data=body, params=params or None,
                 timeout=60)


def lp_write_ok(t, body, **kw):
    r = lp_write(t, body, **kw)
    assert r.status_code == 204, f"write -> {r.status_code} {r.text}"
    assert r.content == b"", r.content
    return r


def api(t, path, token=ADMIN_TOKEN, method="GET", **params):
    """A Prometheus API call against Tocsin; returns (status, json or None)."""
    if method == "GET":
        r = t.req("GET", path, token=token, params=params, timeout=60)
    else:
        r = t.req("POST", path, token=token, data=params, timeout=60)
    try:
        return r.status_code, r.json()
    except ValueError:
        return r.status_code, None


def api_ok(t, path, **params):
    st, body = api(t, path, **params)
    assert st == 200 and body and body.get("status") == "success", f"{path} {params} -> {st} {body}"
    return body["data"]


def instant(t, query, at=None):
    p = {"query": query}
    if at is not None:
        p["time"] = repr(float(at))
    return api_ok(t, "/api/v1/query", **p)


def vector_values(data):
    """{frozenset(labels without nothing removed): float} of a vector result."""
    assert data["resultType"] == "vector", data
    return {frozenset(s["metric"].items()): float(s["value"][1]) for s in data["result"]}


def one_value(t, query, at=None):
    d = instant(t, query, at)
    assert d["resultType"] == "vector" and len(d["result"]) == 1, f"{query}: {d}"
    return float(d["result"][0]["value"][1]), d["result"][0]


# --- the data sets --------------------------------------------------------------------------
def aligned_t0(days_ago=2):
    now = int(time.time())
    return (now // 7200) * 7200 - days_ago * 86400


class Series:
    def __init__(self, name, labels, family, ftype, points):
        self.name = name              # the sample name, e.g. x_total or x_bucket
        self.labels = dict(labels)    # without __name__
        self.family = family          # the OpenMetrics family name (for # TYPE)
        self.ftype = ftype            # counter | gauge | histogram
        self.points = points          # [(t_seconds:int, value_text:str)]


def compare_dataset(n_series=50, n_samples=360, step=10, t0=None, seed=7):
    """A small mixed data set for comparing query results: integer counters (every fifth
    one resets once), 2-decimal counters, float gauges, and a histogram (ten series of
    cumulative buckets per instance, with _sum and _count). Values are printed with
    repr(), so both servers store the very same float64."""
    rnd = random.Random(seed)
    t0 = aligned_t0() if t0 is None else t0
    ts = [t0 + i * step for i in range(n_samples)]
    out = []
    n_per = max(1, n_series // 3)

    def labels(i):
        return {"instance": "host-%02d:9100" % i, "job": "node", "dc": "dc%d" % (i % 3)}

    for i in range(n_per):
        v, rate, pts = rnd.randint(0, 10**6), rnd.choice((0, 1, 5, 50, 200)), []
        reset_at = n_samples // 2 + i if i % 5 == 0 else None
        for k, t in enumerate(ts):
            if reset_at is not None and k == reset_at:
                v = rnd.randint(0, 10)
            elif rate:
                v += rnd.randint(0, 2 * rate)
            pts.append((t, str(v)))
        out.append(Series("test_requests_total", labels(i), "test_requests", "counter", pts))
    for i in range(n_per):
        v, hi, pts = round(rnd.uniform(1e3, 1e5), 2), rnd.uniform(0.1, 5), []
        for t in ts:
            v = round(v + rnd.random() * hi, 2)
            pts.append((t, repr(v)))
        out.append(Series("test_cpu_seconds_total", labels(i), "test_cpu_seconds", "counter", pts))
    for i in range(n_series - 2 * n_per):
        v, pts = rnd.random(), []
        for t in ts:
            v = min(1.0, max(0.0, v + rnd.gauss(0, 0.03)))
            pts.append((t, repr(v)))
        out.append(Series("test_load_ratio", labels(i), "test_load_ratio", "gauge", pts))
    # The histogram: 3 instances, buckets cumulative and growing like counters.
    bounds = ["0.005", "0.01", "0.05", "0.1", "0.5", "1", "+Inf"]
    for i in range(3):
        counts = [0] * len(bounds)
        total = 0.0
        per_le = [[] for _ in bounds]
        sums, cnts = [], []
        for t in ts:
            n = rnd.randint(0, 40)
            for _ in range(n):
                x = rnd.expovariate(12.0)
                total += x
                for b, le in enumerate(bounds):
                    if le == "+Inf" or x <= float(le):
                        counts[b] += 1
            for b in range(len(bounds)):
                per_le[b].append((t, str(counts[b])))
            sums.append((t, repr(total)))
            cnts.append((t, str(counts[-1])))
        lb = labels(i)
        for b, le in enumerate(bounds):
            out.append(Series("test_latency_seconds_bucket", dict(lb, le=le),
                              "test_latency_seconds", "histogram", per_le[b]))
        out.append(Series("test_latency_seconds_sum", lb, "test_latency_seconds", "histogram", sums))
        out.append(Series("test_latency_seconds_count", lb, "test_latency_seconds", "histogram",
                          cnts))
    return out, ts


def to_openmetrics(series):
    """OpenMetrics text (seconds) for promtool tsdb create-blocks-from openmetrics."""
    lines, seen = [], set()
    order = []
    for s in series:
        if s.family not in seen:
            seen.add(s.family)
            order.append((s.family, s.ftype))
    for fam, ftype in order:
        lines.append(f"# TYPE {fam} {ftype}")
        for s in series:
            if s.family != fam:
                continue
            lbl = ",".join('%s="%s"' % (k, v) for k, v in sorted(s.labels.items()))
            for t, v in s.points:
                lines.append(f"{s.name}{{{lbl}}} {v} {t}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def lp_escape_tag(s):
    return s.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def to_lineproto(series, precision="ms"):
    """Influx line protocol of the same samples: the metric name as the measurement and
    the one field "value" (so the series keeps its name), integers without `i`."""
    mul = {"s": 1, "ms": 1000, "us": 10**6, "ns": 10**9}[precision]
    out = []
    for s in series:
        tags = ",".join("%s=%s" % (k, lp_escape_tag(v)) for k, v in sorted(s.labels.items()))
        head = s.name + ("," + tags if tags else "") + " value="
        out.extend(f"{head}{v} {t * mul}" for t, v in s.points)
    return "\n".join(out) + "\n"


def push_lineproto(t, text, batch_lines=5000, token=ADMIN_TOKEN, precision="ms"):
    lines = text.splitlines()
    for i in range(0, len(lines), batch_lines):
        body = "\n".join(lines[i:i + batch_lines]) + "\n"
        r = lp_write(t, body, token=token, precision=precision)
        assert r.status_code == 204, f"write of lines {i + 1}..: {r.status_code} {r.text[:2000]}"


# --- the real Prometheus --------------------------------------------------------------------
def backfill(om_text, workdir):
    """promtool tsdb create-blocks-from openmetrics; returns the blocks directory."""
    require(PROMTOOL_BIN)
    src = os.path.join(str(workdir), "data.om")
    out = os.path.join(str(workdir), "prom-data")
    with open(src, "w") as f:
        f.write(om_text)
    p = subprocess.run([PROMTOOL_BIN, "tsdb", "create-blocks-from", "openmetrics", src, out],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, f"promtool backfill failed:\n{p.stdout}\n{p.stderr}"
    return out


def start_prometheus(data_dir, workdir):
    """A private Prometheus serving data_dir (no scrape jobs); stop it with .stop()."""
    require(PROM_BIN)
    cfg = os.path.join(str(workdir), "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("# no scrape jobs: only the backfilled blocks\nglobal:\n  scrape_interval: 1m\n")
    return start_on_free_port(
        "prometheus",
        lambda port: [PROM_BIN, f"--config.file={cfg}", f"--storage.tsdb.path={data_dir}",
                      "--storage.tsdb.retention.time=30d",
                      f"--web.listen-address=127.0.0.1:{port}"],
        workdir, "/-/ready")


def prom_api(url, path, method="GET", **params):
    if method == "GET":
        r = requests.get(url + path, params=params, timeout=60)
    else:
        r = requests.post(url + path, data=params, timeout=60)
    try:
        return r.status_code, r.json()
    except ValueError:
        return r.status_code, None


def promtool_query(server, expr, start=None, end=None, step=None, at=None, token=None):
    """promtool query range|instant -o json against server; returns the parsed output.
    A token goes as `Authorization: Bearer` for range queries (--header) and as the
    password of the URL for instant ones (promtool 2.42's instant query has no header
    option; Go's client sends it as HTTP Basic, which Tocsin's API accepts)."""
    require(PROMTOOL_BIN)
    if start is not None:
        argv = [PROMTOOL_BIN, "query", "range", "-o", "json", f"--start={start}", f"--end={end}",
                f"--step={step}"]
        if token:
            argv.append(f"--header=Authorization=Bearer {token}")
        argv += [server, expr]
    else:
        if token:
            scheme, rest = server.split("://", 1)
            server = f"{scheme}://tocsin:{token}@{rest}"
        argv = [PROMTOOL_BIN, "query", "instant", "-o", "json", f"--time={at}", server, expr]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        return {"error": (p.stderr or p.stdout).strip()}
    try:
        return {"result": json.loads(p.stdout)}
    except ValueError:
        return {"error": "not JSON: " + p.stdout[:500]}


# --- comparing results ----------------------------------------------------------------------
REL_TOL = 1e-9
ABS_TOL = 1e-12  # for values that cancel to (almost) zero


def same_value(a, b):
    """Prometheus value strings: NaN == NaN, infinities exactly, others within REL_TOL."""
    x, y = float(a), float(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return x == y
    return math.isclose(x, y, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _key(metric):
    return tuple(sorted(metric.items()))


def compare_results(ref, got, what):
    """ref and got: promtool -o json outputs (matrix, vector or scalar). Returns a list
    of differences (empty when they agree)."""
    diffs = []

    def is_series_list(x):
        return isinstance(x, list) and (not x or isinstance(x[0], dict))

    if is_series_list(ref) or is_series_list(got):
        if not (is_series_list(ref) and is_series_list(got)):
            return [f"{what}: result kinds differ: {str(ref)[:200]} vs {str(got)[:200]}"]
        rmap = {_key(s["metric"]): s for s in ref}
        gmap = {_key(s["metric"]): s for s in got}
        if len(rmap) != len(ref) or len(gmap) != len(got):
            diffs.append(f"{what}: duplicate label sets")
        missing = set(rmap) - set(gmap)
        extra = set(gmap) - set(rmap)
        for k in sorted(missing)[:5]:
            diffs.append(f"{what}: series missing in tocsin: {dict(k)}")
        for k in sorted(extra)[:5]:
            diffs.append(f"{what}: extra series in tocsin: {dict(k)}")
        for k in sorted(set(rmap) & set(gmap)):
            rs, gs = rmap[k], gmap[k]
            rv = rs.get("values") or ([rs["value"]] if "value" in rs else [])
            gv = gs.get("values") or ([gs["value"]] if "value" in gs else [])
            rt = [float(p[0]) for p in rv]
            gt = [float(p[0]) for p in gv]
            if rt != gt:
                only_r = sorted(set(rt) - set(gt))[:3]
                only_g = sorted(set(gt) - set(rt))[:3]
                diffs.append(f"{what} {dict(k)}: timestamps differ ({len(rt)} vs {len(gt)} points; "
                             f"only prometheus {only_r}, only tocsin {only_g})")
                continue
            bad = [(p[0], p[1], q[1]) for p, q in zip(rv, gv) if not same_value(p[1], q[1])]
            if bad:
                diffs.append(f"{what} {dict(k)}: {len(bad)} values differ, first "
                             f"t={bad[0][0]} prometheus={bad[0][1]} tocsin={bad[0][2]}")
            if len(diffs) > 20:
                break
        return diffs
    # scalar: [t, "v"]
    if not (isinstance(ref, list) and isinstance(got, list) and len(ref) == 2 and len(got) == 2):
        return [f"{what}: unexpected shapes {str(ref)[:200]} vs {str(got)[:200]}"]
    if float(ref[0]) != float(got[0]) or not same_value(ref[1], got[1]):
        diffs.append(f"{what}: scalar {ref} vs {got}")
    return diffs


class ModuleTocsin:
    """A Tocsin for a whole test module (the conftest fixtures are per test): start()
    returns the conftest.Tocsin handle; stop() asserts a clean exit and no sanitizer
    report."""

    def __init__(self, workdir, text):
        from conftest import Tocsin, write_config
        os.makedirs(str(workdir), exist_ok=True)
        cfg = write_config(os.path.join(str(workdir), "tocsin.yaml"), text)
        self.t = Tocsin(cfg, os.path.join(str(workdir), "data"), workdir)

    def start(self):
        return self.t.start()

    def stop(self):
        self.t.stop()
