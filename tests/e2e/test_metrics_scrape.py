"""Scraping a real exporter: Debian's prometheus-node-exporter on a free port, a scrape
job with a 1 s interval and extra labels, and a second job whose target is a closed
port. Checks the synthetic series (up, scrape_duration_seconds, scrape_samples_scraped),
the target labels on every series, that every metric the exporter exposes arrives, and
GET /api/v1/targets."""
import re
import time

import pytest
import requests

from conftest import free_port, wait_for
from metrics_util import NODE_EXPORTER_BIN, api, metrics_config
from peers import require, start_on_free_port

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})?\s+(\S+)(\s+-?\d+)?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
EXTRA = {"env": "e2e", "team": "ops"}


def parse_exposition(text):
    """[(name, labels, value)] of the Prometheus text format (enough for node_exporter)."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"unexpected exposition line: {line!r}"
        labels = {k: v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
                  for k, v in LABEL.findall(m.group(2) or "")}
        out.append((m.group(1), labels, m.group(3)))
    return out


@pytest.fixture
def node_exporter(tmp_path):
    require(NODE_EXPORTER_BIN)
    d = tmp_path / "node_exporter"
    d.mkdir()
    # Debian enables the systemd collector, which only logs failures in a container.
    peer = start_on_free_port(
        "node_exporter",
        lambda port: [NODE_EXPORTER_BIN, f"--web.listen-address=127.0.0.1:{port}",
                      "--no-collector.systemd"],
        d, "/metrics")
    peer.port = int(peer.url.rsplit(":", 1)[1])
    yield peer
    peer.stop()


@pytest.fixture
def scraping(tocsin_factory, node_exporter):
    closed = free_port()  # nothing listens there
    jobs = f"""\
  - job: node
    targets: ["127.0.0.1:{node_exporter.port}"]
    interval: 1s
    timeout: 1s
    metrics_path: /metrics
    scheme: http
    labels:
      env: {EXTRA['env']}
      team: {EXTRA['team']}
  - job: dead
    targets: ["127.0.0.1:{closed}"]
    interval: 1s
    timeout: 1s
"""
    t = tocsin_factory(metrics_config(scrape=jobs))
    return t, f"127.0.0.1:{node_exporter.port}", f"127.0.0.1:{closed}", node_exporter


def result(t, query):
    st, body = api(t, "/api/v1/query", query=query)
    assert st == 200, body
    return body["data"]["result"]


def test_node_exporter_is_scraped(scraping):
    t, inst, _, exporter = scraping
    target = {"job": "node", "instance": inst, **EXTRA}
    up = wait_for(lambda: [r for r in result(t, 'up{job="node"}') if r["value"][1] == "1"],
                  timeout=30, interval=0.5, what="up{job=\"node\"} == 1")
    assert len(up) == 1 and up[0]["metric"] == {"__name__": "up", **target}, up

    cpu = wait_for(lambda: result(t, 'node_cpu_seconds_total{job="node"}'), timeout=10,
                   what="node_cpu_seconds_total")
    for r in cpu:
        m = r["metric"]
        assert {k: m.get(k) for k in target} == target, m
        assert set(m) == {"__name__", "cpu", "mode", *target}, m
    assert len({r["metric"]["cpu"] for r in cpu}) >= 1
    assert {"idle", "user", "system"} <= {r["metric"]["mode"] for r in cpu}

    dur = result(t, 'scrape_duration_seconds{job="node"}')
    assert len(dur) == 1 and dur[0]["metric"] == {"__name__": "scrape_duration_seconds", **target}
    assert 0 < float(dur[0]["value"][1]) < 1.0, dur
    n = result(t, 'scrape_samples_scraped{job="node"}')
    assert len(n) == 1 and float(n[0]["value"][1]) >= 100, n

    # Every metric name the exporter exposes arrives (counters, gauges, summaries with
    # quantiles, _sum/_count, info metrics), with the exporter's own labels intact.
    direct = parse_exposition(requests.get(exporter.url + "/metrics", timeout=10).text)
    time.sleep(2.5)  # at least one scrape after the direct fetch
    st, body = api(t, "/api/v1/label/__name__/values", **{"match[]": '{job="node"}'})
    assert st == 200, body
    names = set(body["data"])
    missing = sorted({name for name, _, _ in direct} - names)
    assert not missing, f"{len(missing)} exporter metrics never stored, e.g. {missing[:10]}"
    build = [(lb, v) for name, lb, v in direct if name == "node_exporter_build_info"]
    assert build, "node_exporter_build_info is not exposed"
    got = result(t, 'node_exporter_build_info{job="node"}')
    assert len(got) == 1 and got[0]["metric"] == {"__name__": "node_exporter_build_info",
                                                  **build[0][0], **target}, got
    assert got[0]["value"][1] == "1"
    quant = result(t, 'go_gc_duration_seconds{job="node"}')
    assert {r["metric"].get("quantile") for r in quant} >= {"0", "0.5", "1"}, quant


def test_counters_advance_between_scrapes(scraping):
    t = scraping[0]
    wait_for(lambda: result(t, 'up{job="node"} == 1'), timeout=30, interval=0.5, what="up")
    # rate() needs two scrapes in its window.
    r = wait_for(lambda: result(t, 'rate(node_cpu_seconds_total{job="node",mode="idle"}[10s])'),
                 timeout=20, interval=0.5, what="a rate over two scrapes")
    assert all(float(x["value"][1]) >= 0 for x in r), r
    c = wait_for(lambda: [x for x in result(t, 'count_over_time(up{job="node"}[10s])')
                          if float(x["value"][1]) >= 3], timeout=20, interval=0.5,
                 what="three scrapes within 10 s at a 1 s interval")
    assert float(c[0]["value"][1]) <= 12, c


def test_closed_port_is_down(scraping):
    t, inst, closed, _ = scraping
    up = wait_for(lambda: result(t, 'up{job="dead"}'), timeout=30, interval=0.5,
                  what='up{job="dead"}')
    assert len(up) == 1 and up[0]["value"][1] == "0", up
    assert up[0]["metric"] == {"__name__": "up", "job": "dead", "instance": closed}, up

    def targets():
        st, body = api(t, "/api/v1/targets")
        assert st == 200 and body["status"] == "success", body
        return body["data"]

    data = wait_for(lambda: (lambda d: d if {x["labels"]["job"]: x["health"]
                                             for x in d["activeTargets"]}
                             == {"node": "up", "dead": "down"} else None)(targets()),
                    timeout=30, interval=0.5, what="targets node up and dead down")
    assert data["droppedTargets"] == []
    by_job = {x["labels"]["job"]: x for x in data["activeTargets"]}
    dead, node = by_job["dead"], by_job["node"]
    for x in (dead, node):
        assert {"labels", "scrapeUrl", "health", "lastError", "lastScrape", "lastScrapeDuration",
                "scrapePool", "scrapeInterval", "scrapeTimeout"} <= set(x), x
        assert x["scrapeInterval"] == "1s" and x["scrapeTimeout"] == "1s", x
    assert isinstance(dead["lastError"], str) and dead["lastError"], dead
    assert dead["scrapePool"] == "dead" and dead["scrapeUrl"] == f"http://{closed}/metrics", dead
    assert dead["labels"] == {"job": "dead", "instance": closed}, dead
    assert node["lastError"] == "" and node["scrapePool"] == "node", node
    assert node["scrapeUrl"] == f"http://{inst}/metrics", node
    assert node["labels"] == {"job": "node", "instance": inst, **EXTRA}, node
    assert isinstance(node["lastScrapeDuration"], (int, float)) and node["lastScrapeDuration"] > 0
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", node["lastScrape"]), node
