"""GET /healthz and GET /metrics (Prometheus text exposition)."""
import re

import requests

from conftest import PD_KEY

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})?\s+(\S+)(\s+\d+)?$')


def parse_metrics(text):
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a valid exposition line: {line!r}"
        labels = {}
        if m.group(2):
            for k, v in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2)):
                labels[k] = v
        samples.append((m.group(1), labels, float(m.group(3))))
    return samples


def get_metrics(t):
    r = requests.get(t.url + "/metrics", timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers.get("Content-Type", "").startswith("text/plain"), r.headers
    return r.text, parse_metrics(r.text)


def value(samples, name, **labels):
    vals = [v for n, l, v in samples if n == name and all(l.get(k) == x for k, x in labels.items())]
    return sum(vals) if vals else None


def test_healthz(tocsin):
    r = requests.get(tocsin.url + "/healthz", timeout=10)
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_metrics_after_events(tocsin):
    tocsin.trigger({"service": "shop", "alertname": "M1"}, dedup_key="m1")
    tocsin.trigger({"service": "shop", "alertname": "M1"}, dedup_key="m1")
    tocsin.trigger({"service": "shop", "alertname": "M2"}, dedup_key="m2")
    tocsin.post_event({"dedup_key": "m2", "action": "resolve"})
    tocsin.post_event({"dedup_key": "zzz", "action": "resolve"})   # dropped
    tocsin.pd({"routing_key": PD_KEY, "event_action": "trigger", "dedup_key": "p",
               "payload": {"summary": "s", "source": "x", "severity": "info"}})
    tocsin.am_alerts([{"labels": {"alertname": "AmOne"}}])
    text, s = get_metrics(tocsin)

    for name in ("tocsin_events_received_total", "tocsin_alerts_open", "tocsin_incidents_open",
                 "tocsin_engine_queue_depth", "tocsin_http_requests_total"):
        assert f"# TYPE {name} " in text, f"missing TYPE line for {name}"
    assert value(s, "tocsin_events_received_total", integration="scripts", outcome="created") == 2
    assert value(s, "tocsin_events_received_total", integration="scripts", outcome="updated") == 1
    assert value(s, "tocsin_events_received_total", integration="scripts", outcome="resolved") == 1
    assert value(s, "tocsin_events_received_total", integration="scripts", outcome="dropped") == 1
    assert value(s, "tocsin_events_received_total", integration="partner", outcome="created") == 1
    assert value(s, "tocsin_events_received_total", integration="prom", outcome="created") == 1
    assert value(s, "tocsin_alerts_open") == 3    # m1, p, AmOne
    assert value(s, "tocsin_incidents_open") == len(tocsin.incidents(status="triggered,acknowledged"))
    assert value(s, "tocsin_engine_queue_depth") is not None

    # commit histogram
    assert "# TYPE tocsin_commit_duration_seconds histogram" in text
    buckets = [(l["le"], v) for n, l, v in s if n == "tocsin_commit_duration_seconds_bucket"]
    assert buckets and buckets[-1][0] == "+Inf"
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), "histogram buckets must be cumulative"
    total = value(s, "tocsin_commit_duration_seconds_count")
    assert total is not None and total >= 1 and total == buckets[-1][1]
    assert value(s, "tocsin_commit_duration_seconds_sum") is not None

    # http requests by route and status
    reqs = [(l, v) for n, l, v in s if n == "tocsin_http_requests_total"]
    assert reqs and all("route" in l and "status" in l for l, _ in reqs), reqs[:5]
    assert sum(v for l, v in reqs if l["status"] == "202") >= 6
    assert sum(v for l, v in reqs if l["status"] == "200") >= 1


def test_http_requests_count_errors(tocsin):
    requests.post(tocsin.url + "/api/v1/events", json={}, timeout=10)  # 401
    _, s = get_metrics(tocsin)
    reqs = [(l, v) for n, l, v in s if n == "tocsin_http_requests_total"]
    assert sum(v for l, v in reqs if l["status"] == "401") >= 1, reqs
    # route labels must be bounded (a template, not the raw path with ids)
    for i in range(3):
        requests.get(tocsin.url + f"/api/v1/incidents/{1000 + i}", timeout=10,
                     headers={"Authorization": "Bearer x"})
    _, s = get_metrics(tocsin)
    routes = {l["route"] for n, l, v in s if n == "tocsin_http_requests_total"}
    assert not any("1001" in r for r in routes), routes
