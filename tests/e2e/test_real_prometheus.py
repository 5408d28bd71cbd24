"""Debian's real Prometheus fires a rule at Tocsin's Alertmanager API v2."""
import time

import pytest

from conftest import AM_KEY, fingerprint, parse_ts, wait_for
from peers import require, start_on_free_port

PROM_BIN = "/usr/bin/prometheus"


@pytest.fixture
def prometheus(tocsin, tmp_path):
    require(PROM_BIN)
    d = tmp_path / "prom"
    d.mkdir()
    (d / "data").mkdir()
    (d / "rules.yml").write_text("""\
groups:
  - name: tocsin-e2e
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        for: 0s
        labels:
          severity: critical
          service: shop
        annotations:
          summary: "this rule always fires"
""")
    cfg = d / "prometheus.yml"
    cfg.write_text(f"""\
global:
  scrape_interval: 1m
  evaluation_interval: 1s
rule_files:
  - {d / 'rules.yml'}
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:{tocsin.port}"]
      authorization:
        credentials: {AM_KEY}
      api_version: v2
""")
    peer = start_on_free_port(
        "prometheus",
        lambda port: [PROM_BIN, f"--config.file={cfg}", f"--storage.tsdb.path={d / 'data'}",
                      f"--web.listen-address=127.0.0.1:{port}",
                      # the first notification can be dropped before the notifier has
                      # discovered Tocsin; re-send every second instead of every minute
                      "--rules.alert.resend-delay=1s"],
        d, "/-/ready")
    yield peer
    peer.stop()


def test_prometheus_rule_reaches_tocsin(tocsin, prometheus):
    def got():
        a = [x for x in tocsin.alerts() if x["integration"] == "prom"]
        return a or None

    alerts = wait_for(got, timeout=30, interval=0.5,
                      what=f"Prometheus to send the alert\nPrometheus log:\n{prometheus.log()}")
    assert len(alerts) == 1, alerts
    a = alerts[0]
    assert a["labels"]["alertname"] == "AlwaysFiring"
    assert a["labels"]["severity"] == "critical"
    assert a["severity"] == "critical"
    assert a["status"] == "firing"
    assert a["summary"] == "this rule always fires"
    assert a["dedup_key"] == fingerprint(a["labels"])
    assert parse_ts(a["ends_at"]) > time.time(), a["ends_at"]
    assert a["incident_ids"]
    inc = tocsin.incident(a["incident_ids"][0])
    assert inc["service"] == "shop" and inc["priority"] == "P1"
    assert "Error sending alert" not in prometheus.log(), prometheus.log()
