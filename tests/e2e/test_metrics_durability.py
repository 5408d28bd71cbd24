"""kill -9 during line protocol ingest: every sample the server acknowledged with 204
is there after a restart on the same data directory (tsdb.h: a committed sample is in
the write-ahead log before the answer)."""
import threading
import time

import pytest
import requests

from conftest import ADMIN_TOKEN, wait_for
from metrics_util import api, metrics_config


def run_writer(t, name, n_series, max_batches, base, acked, failures, stop):
    """One client: batch i holds sample value i at time base + i (seconds) for every
    series; acked gets i when the server answered 204. Stops at the first error."""
    s = requests.Session()
    h = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "text/plain"}
    for i in range(max_batches):
        if stop.is_set():
            return
        body = "".join(f"{name},s=s{k:04d},job=dur value={i} {base + i}\n" for k in range(n_series))
        try:
            r = s.post(t.url + "/api/v1/write", params={"precision": "s"}, data=body, headers=h,
                       timeout=20)
        except requests.RequestException:
            return  # the server went away: this batch was not acknowledged
        if r.status_code != 204:
            failures.append((i, r.status_code, r.text[:500]))
            return
        acked.append(i)


def kill_mid_stream(t, name, n_series, max_batches, min_acked):
    base = int(time.time()) - 3600
    acked, failures, stop = [], [], threading.Event()
    th = threading.Thread(target=run_writer,
                          args=(t, name, n_series, max_batches, base, acked, failures, stop),
                          daemon=True)
    th.start()
    wait_for(lambda: len(acked) >= min_acked or failures or not th.is_alive(), timeout=60,
             what=f"{min_acked} acknowledged batches")
    time.sleep(0.2)
    t.kill()
    stop.set()
    th.join(timeout=30)
    assert not failures, failures
    assert acked, "nothing was acknowledged"
    assert len(acked) < max_batches, "the writer finished before the kill: make max_batches larger"
    # One writer, in order: the acknowledged batches are 0..last without gaps.
    assert acked == list(range(len(acked)))
    return base, acked[-1]


def test_kill9_keeps_every_acknowledged_sample(tocsin_factory):
    t = tocsin_factory(metrics_config())
    n_series = 20
    base, last = kill_mid_stream(t, "dur_small", n_series, max_batches=3000, min_acked=100)
    t.start()
    # Step = the sample spacing: a missing sample would show its predecessor's value.
    st, body = api(t, "/api/v1/query_range", query="dur_small", start=str(base),
                   end=str(base + last), step="1s")
    assert st == 200, body
    res = body["data"]["result"]
    assert len(res) == n_series, [r["metric"] for r in res]
    for r in res:
        vals = {int(float(p[0])): float(p[1]) for p in r["values"]}
        missing = [i for i in range(last + 1) if vals.get(base + i) != float(i)]
        assert not missing, (f"{r['metric']}: {len(missing)} acknowledged samples lost or wrong, "
                             f"first at batch {missing[0]} of 0..{last}")
    st, body = api(t, "/api/v1/query", query=f"count_over_time(dur_small[{last + 1}s])",
                   time=str(base + last))
    assert st == 200, body
    assert sorted(float(r["value"][1]) for r in body["data"]["result"]) == [float(last + 1)] * n_series


def test_kill9_with_large_batches(tocsin_factory):
    # Bigger bodies (2,000 lines each) make the kill land inside a log write more often.
    t = tocsin_factory(metrics_config())
    n_series = 2000
    base, last = kill_mid_stream(t, "dur_big", n_series, max_batches=600, min_acked=5)
    t.start()
    at = str(base + last)
    st, body = api(t, "/api/v1/query", query=f"count_over_time(dur_big[{last + 1}s])", time=at)
    assert st == 200, body
    counts = [float(r["value"][1]) for r in body["data"]["result"]]
    assert len(counts) == n_series and set(counts) == {float(last + 1)}, sorted(set(counts))
    # Values too: the sum of 0..last in every series.
    st, body = api(t, "/api/v1/query", query=f"sum_over_time(dur_big[{last + 1}s])", time=at)
    assert st == 200, body
    sums = {float(r["value"][1]) for r in body["data"]["result"]}
    assert sums == {float(last * (last + 1) // 2)}, sorted(sums)[:5]


def test_clean_restart_keeps_samples_and_accepts_more(tocsin_factory):
    t = tocsin_factory(metrics_config())
    base = int(time.time()) - 600
    h = {"Content-Type": "text/plain"}
    body = "".join(f"restart_t,s=a value={i} {base + i}\n" for i in range(100))
    r = t.req("POST", "/api/v1/write", token=ADMIN_TOKEN, headers=h, data=body,
              params={"precision": "s"})
    assert r.status_code == 204, r.text
    t.restart()
    # Older than the newest sample: still rejected after the restart.
    r = t.req("POST", "/api/v1/write", token=ADMIN_TOKEN, headers=h,
              data=f"restart_t,s=a value=1 {base + 50}\n", params={"precision": "s"})
    assert r.status_code == 400, r.text
    r = t.req("POST", "/api/v1/write", token=ADMIN_TOKEN, headers=h,
              data=f"restart_t,s=a value=100 {base + 100}\n", params={"precision": "s"})
    assert r.status_code == 204, r.text
    st, body = api(t, "/api/v1/query", query="count_over_time(restart_t[200s])",
                   time=str(base + 100))
    assert st == 200 and float(body["data"]["result"][0]["value"][1]) == 101.0, body


@pytest.mark.parametrize("flush_first", [False, True])
def test_flush_then_kill9(tocsin_factory, flush_first):
    """Samples persisted by POST /api/v1/admin/tsdb/flush and samples only in the log
    after it both survive kill -9."""
    t = tocsin_factory(metrics_config())
    base = int(time.time()) - 7200
    h = {"Content-Type": "text/plain"}
    first = "".join(f"flush_t,s=a value={i} {base + 10 * i}\n" for i in range(300))
    r = t.req("POST", "/api/v1/write", token=ADMIN_TOKEN, headers=h, data=first,
              params={"precision": "s"})
    assert r.status_code == 204, r.text
    if flush_first:
        r = t.req("POST", "/api/v1/admin/tsdb/flush", token=ADMIN_TOKEN)
        assert r.status_code == 200 and r.json()["status"] == "success", r.text
    second = "".join(f"flush_t,s=a value={i} {base + 10 * i}\n" for i in range(300, 400))
    r = t.req("POST", "/api/v1/write", token=ADMIN_TOKEN, headers=h, data=second,
              params={"precision": "s"})
    assert r.status_code == 204, r.text
    t.kill()
    t.start()
    st, body = api(t, "/api/v1/query", query="count_over_time(flush_t[5000s])",
                   time=str(base + 3990))
    assert st == 200 and float(body["data"]["result"][0]["value"][1]) == 400.0, body
    st, body = api(t, "/api/v1/query", query="sum_over_time(flush_t[5000s])", time=str(base + 3990))
    assert float(body["data"]["result"][0]["value"][1]) == float(sum(range(400))), body


def test_flush_needs_admin(tocsin_factory):
    from conftest import VIEWER_TOKEN, RESPONDER_TOKEN
    t = tocsin_factory(metrics_config())
    assert t.req("POST", "/api/v1/admin/tsdb/flush").status_code == 401
    assert t.req("POST", "/api/v1/admin/tsdb/flush", token=VIEWER_TOKEN).status_code == 403
    assert t.req("POST", "/api/v1/admin/tsdb/flush", token=RESPONDER_TOKEN).status_code == 403
    r = t.req("POST", "/api/v1/admin/tsdb/flush", token=ADMIN_TOKEN)
    assert r.status_code == 200 and r.json()["status"] == "success", r.text
