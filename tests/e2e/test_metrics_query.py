"""The Prometheus query API of Tocsin, compared with a real Prometheus serving the same
samples: /api/v1/query, /query_range, /series, /labels, /label/NAME/values, and the
small endpoints Grafana calls. Both sides get the same small data set (promtool backfill
for Prometheus, line protocol for Tocsin); the answers must have Prometheus's shape:
status, data.resultType, times as JSON numbers, values as strings, the same label sets
and timestamps, and equal values."""
import datetime as dt
import math

import pytest

from conftest import VIEWER_TOKEN
from metrics_util import (ModuleTocsin, api, backfill, compare_dataset, metrics_config,
                          prom_api, push_lineproto, same_value, start_prometheus, to_lineproto,
                          to_openmetrics)

STEP = 15
N_SAMPLES = 120  # 30 minutes


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(tocsin, prometheus_url, timestamps) with the same data loaded into both."""
    series, ts = compare_dataset(n_series=12, n_samples=N_SAMPLES, step=STEP)
    pd = tmp_path_factory.mktemp("prom")
    blocks = backfill(to_openmetrics(series), pd)
    prom = start_prometheus(blocks, pd)
    mt = ModuleTocsin(tmp_path_factory.mktemp("tocsin"), metrics_config())
    try:
        t = mt.start()
        push_lineproto(t, to_lineproto(series))
        yield t, prom.url, ts
    finally:
        prom.stop()
        mt.stop()


def both(pair, path, method="GET", **params):
    t, purl, _ = pair
    ts, tb = api(t, path, method=method, **params)
    ps, pb = prom_api(purl, path, method=method, **params)
    return (ts, tb), (ps, pb)


def strip_tocsin(body):
    # Tocsin may add data.tocsin (rollups); not part of Prometheus's shape.
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        body["data"].pop("tocsin", None)
    return body


def assert_point(p, ref_p):
    assert isinstance(p, list) and len(p) == 2, p
    assert isinstance(p[0], (int, float)) and not isinstance(p[0], bool), f"time not a number: {p}"
    assert isinstance(p[1], str), f"value not a string: {p}"
    assert float(p[0]) == float(ref_p[0]), (p, ref_p)
    assert same_value(p[1], ref_p[1]), (p, ref_p)


def assert_same_result(got, ref):
    """got/ref: whole API answers. Same shape, label sets, timestamps and values."""
    got = strip_tocsin(got)
    assert got["status"] == "success" == ref["status"], (got, ref)
    assert set(got) == set(ref), (set(got), set(ref))
    g, r = got["data"], ref["data"]
    assert set(g) == set(r), (set(g), set(r))
    assert g["resultType"] == r["resultType"], (g["resultType"], r["resultType"])
    rt = r["resultType"]
    if rt in ("scalar", "string"):
        assert isinstance(g["result"], list) and len(g["result"]) == 2
        assert float(g["result"][0]) == float(r["result"][0])
        assert isinstance(g["result"][1], str)
        if rt == "string":
            assert g["result"][1] == r["result"][1]
        else:
            assert same_value(g["result"][1], r["result"][1])
        return
    gm = {tuple(sorted(s["metric"].items())): s for s in g["result"]}
    rm = {tuple(sorted(s["metric"].items())): s for s in r["result"]}
    assert len(gm) == len(g["result"]), "duplicate series in tocsin's answer"
    assert set(gm) == set(rm), (sorted(set(gm) - set(rm))[:3], sorted(set(rm) - set(gm))[:3])
    for k, rs in rm.items():
        gs = gm[k]
        assert set(gs) == set(rs), (set(gs), set(rs))
        if rt == "vector":
            assert_point(gs["value"], rs["value"])
        else:
            assert len(gs["values"]) == len(rs["values"]), (k, len(gs["values"]), len(rs["values"]))
            for p, q in zip(gs["values"], rs["values"]):
                assert_point(p, q)


def rfc3339(t):
    return dt.datetime.fromtimestamp(t, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- /api/v1/query --------------------------------------------------------------------------
@pytest.mark.parametrize("query", [
    "test_load_ratio",
    'test_requests_total{dc="dc1"}',
    "rate(test_requests_total[5m])",
    "sum by (dc) (test_cpu_seconds_total)",
    "test_load_ratio[2m]",            # a range selector: resultType matrix
    "1 + 2",                          # scalar
    '"a string"',                     # string
    "scalar(sum(test_load_ratio))",
    "test_load_ratio > 2",            # an empty vector
    "vector(1) / 0",                  # +Inf
    "vector(0) / 0",                  # NaN
])
def test_instant_query_like_prometheus(pair, query):
    at = pair[2][N_SAMPLES // 2] + 7.5
    (ts, tb), (ps, pb) = both(pair, "/api/v1/query", query=query, time=repr(at))
    assert ps == 200, pb
    assert ts == 200, tb
    assert_same_result(tb, pb)


def test_value_formatting(pair):
    t, _, ts = pair
    at = ts[10]
    for q, want in (("vector(42)", "42"), ("vector(2.5)", "2.5"), ("vector(1)/0", "+Inf"),
                    ("vector(-1)/0", "-Inf"), ("vector(0)/0", "NaN"), ("vector(0.1)", "0.1")):
        st, body = api(t, "/api/v1/query", query=q, time=str(at))
        assert st == 200, body
        assert body["data"]["result"][0]["value"] == [at, want], (q, body)


def test_instant_time_forms(pair):
    t, _, ts = pair
    at = ts[20]
    st1, b1 = api(t, "/api/v1/query", query="test_load_ratio", time=str(at))
    st2, b2 = api(t, "/api/v1/query", query="test_load_ratio", time=rfc3339(at))
    st3, b3 = api(t, "/api/v1/query", query="test_load_ratio", time="%.3f" % at)
    assert st1 == st2 == st3 == 200
    assert strip_tocsin(b1) == strip_tocsin(b2) == strip_tocsin(b3)
    assert b1["data"]["result"][0]["value"][0] == at


def test_get_and_post_agree(pair):
    t, _, ts = pair
    p = {"query": "sum by (dc) (rate(test_requests_total[5m]))", "start": str(ts[30]),
         "end": str(ts[90]), "step": "30s"}
    st1, b1 = api(t, "/api/v1/query_range", **p)
    st2, b2 = api(t, "/api/v1/query_range", method="POST", **p)
    assert st1 == st2 == 200, (b1, b2)
    assert b1 == b2
    st1, b1 = api(t, "/api/v1/query", query="test_load_ratio", time=str(ts[40]))
    st2, b2 = api(t, "/api/v1/query", method="POST", query="test_load_ratio", time=str(ts[40]))
    assert st1 == st2 == 200 and b1 == b2


def test_viewer_token_may_query(pair):
    t, _, ts = pair
    st, body = api(t, "/api/v1/query", token=VIEWER_TOKEN, query="vector(1)", time=str(ts[0]))
    assert st == 200 and body["status"] == "success", body


# --- /api/v1/query_range --------------------------------------------------------------------
@pytest.mark.parametrize("query,step", [
    ("test_load_ratio", "15s"),
    ("rate(test_requests_total[5m])", "30"),
    ("sum by (dc) (rate(test_cpu_seconds_total[2m]))", "1m"),
    ("histogram_quantile(0.9, sum by (le) (rate(test_latency_seconds_bucket[5m])))", "60s"),
    ("time()", "5m"),
])
def test_range_query_like_prometheus(pair, query, step):
    ts = pair[2]
    (st, tb), (ps, pb) = both(pair, "/api/v1/query_range", query=query, start=str(ts[0]),
                              end=str(ts[-1]), step=step)
    assert ps == 200, pb
    assert st == 200, tb
    assert_same_result(tb, pb)
    assert tb["data"]["resultType"] == "matrix"


def test_range_query_fractional_and_rfc3339_bounds(pair):
    ts = pair[2]
    p = {"query": "test_load_ratio", "start": rfc3339(ts[3] + 0.25), "end": "%.3f" % (ts[50] + 0.25),
         "step": "45s"}
    (st, tb), (ps, pb) = both(pair, "/api/v1/query_range", **p)
    assert ps == 200 and st == 200, (tb, pb)
    assert_same_result(tb, pb)


# --- errors ---------------------------------------------------------------------------------
def assert_bad_data(st, body, what):
    assert st == 400, f"{what}: {st} {body}"
    assert body["status"] == "error" and body["errorType"] == "bad_data", body
    assert isinstance(body["error"], str) and body["error"], body
    assert set(body) <= {"status", "errorType", "error", "warnings", "data"}, body


@pytest.mark.parametrize("params", [
    {"query": "sum(test_load_ratio"},           # syntax error
    {"query": "test_load_ratio{"},
    {"query": "rate(test_load_ratio)"},         # wrong argument type
    {},                                         # no query
    {"query": "test_load_ratio", "time": "yesterday"},
])
def test_query_errors_like_prometheus(pair, params):
    (st, tb), (ps, pb) = both(pair, "/api/v1/query", **params)
    assert_bad_data(ps, pb, "prometheus")
    assert_bad_data(st, tb, "tocsin")


@pytest.mark.parametrize("bad", [
    {"step": "0"}, {"step": "-15"}, {"step": "soon"}, {"start": "later"},
    {"end_before_start": True},
])
def test_range_errors_like_prometheus(pair, bad):
    ts = pair[2]
    p = {"query": "test_load_ratio", "start": str(ts[10]), "end": str(ts[20]), "step": "15s"}
    if bad.get("end_before_start"):
        p["start"], p["end"] = p["end"], p["start"]
    else:
        p.update(bad)
    (st, tb), (ps, pb) = both(pair, "/api/v1/query_range", **p)
    assert_bad_data(ps, pb, "prometheus")
    assert_bad_data(st, tb, "tocsin")


@pytest.mark.parametrize("query,names", [
    ("rate(test_requests_total[5m])[30m:1m]", ("subquery",)),
    ("max_over_time(rate(test_requests_total[5m])[30m:1m])", ("subquery",)),
    ("test_load_ratio @ end()", ("@",)),
])
def test_unsupported_constructs_are_named(pair, query, names):
    t, purl, ts = pair
    # Prometheus evaluates these; Tocsin says which construct it does not support.
    ps, pb = prom_api(purl, "/api/v1/query", query=query, time=str(ts[-1]))
    assert ps == 200, pb
    st, body = api(t, "/api/v1/query", query=query, time=str(ts[-1]))
    assert_bad_data(st, body, "tocsin")
    assert any(n in body["error"].lower() for n in names), body


# --- series, labels, label values -----------------------------------------------------------
def test_series_like_prometheus(pair):
    ts = pair[2]
    for match in (["test_requests_total"], ['{__name__=~"test_.*", dc="dc0"}'],
                  ["test_load_ratio", 'test_latency_seconds_bucket{le="+Inf"}']):
        (st, tb), (ps, pb) = both(pair, "/api/v1/series", **{"match[]": match, "start": str(ts[0]),
                                                             "end": str(ts[-1])})
        assert ps == 200 and st == 200, (tb, pb)
        assert tb["status"] == "success"
        key = lambda m: sorted(m.items())  # noqa: E731
        assert sorted(tb["data"], key=key) == sorted(pb["data"], key=key), match


def test_series_needs_a_matcher(pair):
    (st, tb), (ps, pb) = both(pair, "/api/v1/series")
    assert_bad_data(ps, pb, "prometheus")
    assert_bad_data(st, tb, "tocsin")


def test_labels_like_prometheus(pair):
    ts = pair[2]
    (st, tb), (ps, pb) = both(pair, "/api/v1/labels", start=str(ts[0]), end=str(ts[-1]))
    assert st == ps == 200, (tb, pb)
    assert tb == pb, (tb, pb)   # sorted lists of names, __name__ first
    (st, tb), (ps, pb) = both(pair, "/api/v1/labels", **{"match[]": "test_latency_seconds_bucket"})
    assert st == ps == 200 and tb == pb, (tb, pb)


@pytest.mark.parametrize("name", ["__name__", "dc", "le", "no_such_label"])
def test_label_values_like_prometheus(pair, name):
    ts = pair[2]
    (st, tb), (ps, pb) = both(pair, f"/api/v1/label/{name}/values", start=str(ts[0]),
                              end=str(ts[-1]))
    assert st == ps == 200, (tb, pb)
    assert tb == pb, (tb, pb)
    (st, tb), (ps, pb) = both(pair, f"/api/v1/label/{name}/values",
                              **{"match[]": 'test_requests_total{dc="dc2"}'})
    assert st == ps == 200 and tb == pb, (tb, pb)


# --- the small endpoints --------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/v1/metadata", "/api/v1/targets"])
def test_small_endpoints_like_prometheus(pair, path):
    (st, tb), (ps, pb) = both(pair, path)
    assert st == ps == 200, (tb, pb)
    assert tb == pb, (tb, pb)


def test_query_exemplars_empty(pair):
    ts = pair[2]
    (st, tb), (ps, pb) = both(pair, "/api/v1/query_exemplars", query="test_load_ratio",
                              start=str(ts[0]), end=str(ts[-1]))
    assert st == ps == 200, (tb, pb)
    assert tb == pb == {"status": "success", "data": []}, (tb, pb)


def test_buildinfo(pair):
    t = pair[0]
    st, body = api(t, "/api/v1/status/buildinfo")
    assert st == 200 and body["status"] == "success", body
    assert isinstance(body["data"].get("version"), str) and body["data"]["version"], body


def test_nan_is_not_a_number_in_json(pair):
    t, _, ts = pair
    st, body = api(t, "/api/v1/query", query="vector(0)/0", time=str(ts[0]))
    v = body["data"]["result"][0]["value"]
    assert v[1] == "NaN" and math.isnan(float(v[1]))
