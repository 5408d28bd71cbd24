"""PromQL results of Tocsin against Prometheus 2.42 on the same samples, as promtool
sees them.

One data set (50 series x 360 samples at 10 s: integer counters, every fifth with a
reset; 2-decimal counters; float gauges; a histogram with _bucket/_sum/_count) goes to
Prometheus through `promtool tsdb create-blocks-from openmetrics` and a `prometheus`
server on those blocks, and to Tocsin through the line protocol. Then
`promtool query range|instant -o json` runs every query against both servers; the
answers must have the same series (label sets), the same timestamps, and values equal
within 1e-9 relative (NaN equals NaN, infinities exactly).

Each query carries the number of series and points Prometheus returns for it over the
range, checked on the Prometheus side in every run, so that no comparison passes on
two empty answers; the numbers were verified against Prometheus 2.42 when this file
was written (every query in QUERIES).
"""
import pytest

from metrics_util import (ModuleTocsin, backfill, compare_dataset, compare_results,
                          metrics_config, promtool_query, push_lineproto, start_prometheus,
                          to_lineproto, to_openmetrics)
from conftest import ADMIN_TOKEN

N_SERIES = 50
N_SAMPLES = 360
STEP_S = 10

# (expression, series and points Prometheus returns over the range with step 30s, the
# same with step 17s). Verified on Prometheus 2.42 (promtool query range -o json).
QUERIES = [
    ('test_load_ratio', 18, 2160, 18, 3816),
    ('test_requests_total{dc="dc1"}', 5, 600, 5, 1060),
    ('rate(test_requests_total[5m])', 16, 1904, 16, 3376),
    ('irate(test_requests_total[1m])', 16, 1904, 16, 3376),
    ('increase(test_requests_total[10m])', 16, 1904, 16, 3376),
    ('delta(test_load_ratio[5m])', 18, 2142, 18, 3798),
    ('idelta(test_load_ratio[1m])', 18, 2142, 18, 3798),
    ('avg_over_time(test_load_ratio[5m])', 18, 2160, 18, 3816),
    ('max_over_time(test_load_ratio[5m])', 18, 2160, 18, 3816),
    ('min_over_time(test_cpu_seconds_total[3m])', 16, 1920, 16, 3392),
    ('count_over_time(test_requests_total[5m])', 16, 1920, 16, 3392),
    ('sum by (dc) (rate(test_cpu_seconds_total[5m]))', 3, 357, 3, 633),
    ('avg without (instance) (test_load_ratio)', 3, 360, 3, 636),
    ('sum(test_load_ratio)', 1, 120, 1, 212),
    ('count by (dc) (test_load_ratio)', 3, 360, 3, 636),
    ('stddev by (dc) (test_load_ratio)', 3, 360, 3, 636),
    ('quantile(0.9, test_load_ratio)', 1, 120, 1, 212),
    ('topk(3, test_load_ratio)', 10, 360, 10, 636),
    ('bottomk(2, rate(test_requests_total[5m]))', 3, 238, 4, 422),
    ('test_load_ratio * 100 - 5', 18, 2160, 18, 3816),
    ('2 ^ test_load_ratio', 18, 2160, 18, 3816),
    ('rate(test_cpu_seconds_total[5m]) / rate(test_requests_total[5m])', 16, 1904, 16, 3376),
    ('test_load_ratio > 0.5', 17, 1248, 17, 2193),
    ('test_load_ratio > bool 0.5', 18, 2160, 18, 3816),
    ('test_requests_total % 7', 16, 1920, 16, 3392),
    ('histogram_quantile(0.9, sum by (le) (rate(test_latency_seconds_bucket[5m])))', 1, 119, 1, 211),
    ('histogram_quantile(0.5, rate(test_latency_seconds_bucket[5m]))', 3, 357, 3, 633),
    ('sum(rate(test_latency_seconds_sum[5m])) / sum(rate(test_latency_seconds_count[5m]))', 1, 119, 1, 211),
    ('predict_linear(test_load_ratio[10m], 3600)', 18, 2142, 18, 3798),
    ('deriv(test_load_ratio[5m])', 18, 2142, 18, 3798),
    ('test_load_ratio offset 5m', 18, 1980, 18, 3492),
    ('rate(test_requests_total[5m] offset 10m)', 16, 1584, 16, 2816),
    ('resets(test_requests_total[30m])', 16, 1920, 16, 3392),
    ('changes(test_load_ratio[5m])', 18, 2160, 18, 3816),
    ('label_replace(test_load_ratio, "host", "$1", "instance", "(.*):.*")', 18, 2160, 18, 3816),
    ('clamp(test_load_ratio, 0.2, 0.8)', 18, 2160, 18, 3816),
    ('absent(no_such_metric)', 1, 120, 1, 212),
    ('test_load_ratio unless on(dc) test_cpu_seconds_total{dc="dc0"}', 12, 1440, 12, 2544),
    ('timestamp(test_load_ratio)', 18, 2160, 18, 3816),
]

# A step that is not a multiple of the sample spacing exercises the lookback.
RANGE_STEPS = ["30s", "17s"]  # the order of the counts in QUERIES


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    series, ts = compare_dataset(n_series=N_SERIES, n_samples=N_SAMPLES, step=STEP_S)
    pd = tmp_path_factory.mktemp("prom")
    prom = start_prometheus(backfill(to_openmetrics(series), pd), pd)
    mt = ModuleTocsin(tmp_path_factory.mktemp("tocsin"), metrics_config())
    try:
        t = mt.start()
        push_lineproto(t, to_lineproto(series))
        yield t, prom.url, ts
    finally:
        prom.stop()
        mt.stop()


def check_reference(ref, expr, want_series, want_points):
    """The Prometheus side must still give what was noted: never two empty answers."""
    assert "error" not in ref, f"prometheus: {expr}: {ref['error']}"
    res = ref["result"]
    n, pts = len(res), sum(len(s["values"]) for s in res)
    assert (n, pts) == (want_series, want_points), \
        f"prometheus returns {n} series/{pts} points for {expr}, noted {want_series}/{want_points}"


@pytest.mark.parametrize("step", RANGE_STEPS)
@pytest.mark.parametrize("expr,s30,p30,s17,p17", QUERIES, ids=[q[0] for q in QUERIES])
def test_range_query_same_as_prometheus(pair, expr, s30, p30, s17, p17, step):
    t, purl, ts = pair
    start, end = ts[0], ts[-1]
    ref = promtool_query(purl, expr, start=start, end=end, step=step)
    check_reference(ref, expr, *((s30, p30) if step == "30s" else (s17, p17)))
    got = promtool_query(t.url, expr, start=start, end=end, step=step, token=ADMIN_TOKEN)
    assert "error" not in got, f"tocsin: {expr}: {got['error']}"
    diffs = compare_results(ref["result"], got["result"], expr)
    assert not diffs, "\n".join(diffs)


# Instant queries at a sample's time, between samples, at the end and within the 5 minute
# lookback after it.
@pytest.mark.parametrize("offset", ["mid", "between", "end", "after_end"])
@pytest.mark.parametrize("expr", [q[0] for q in QUERIES])
def test_instant_query_same_as_prometheus(pair, expr, offset):
    t, purl, ts = pair
    at = {"mid": ts[N_SAMPLES // 2], "between": ts[200] + 3.5, "end": ts[-1],
          "after_end": ts[-1] + 200}[offset]
    ref = promtool_query(purl, expr, at=at)
    assert "error" not in ref, f"prometheus: {expr}: {ref['error']}"
    got = promtool_query(t.url, expr, at=at, token=ADMIN_TOKEN)
    assert "error" not in got, f"tocsin: {expr}: {got['error']}"
    diffs = compare_results(ref["result"], got["result"], expr)
    assert not diffs, "\n".join(diffs)
