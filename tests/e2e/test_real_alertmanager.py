"""Debian's real Alertmanager delivers webhooks to Tocsin."""
import time

import pytest
import requests

from conftest import AM_KEY, fingerprint, iso, wait_for
from peers import require, start_on_free_port

AM_BIN = "/usr/bin/prometheus-alertmanager"


@pytest.fixture
def alertmanager(tocsin, tmp_path):
    require(AM_BIN)
    d = tmp_path / "am"
    d.mkdir()
    (d / "data").mkdir()
    cfg = d / "alertmanager.yml"
    cfg.write_text(f"""\
route:
  receiver: tocsin
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: tocsin
    webhook_configs:
      - url: {tocsin.url}/api/v1/integrations/alertmanager
        send_resolved: true
        http_config:
          authorization:
            credentials: {AM_KEY}
""")
    peer = start_on_free_port(
        "alertmanager",
        lambda port: [AM_BIN, f"--config.file={cfg}", f"--storage.path={d / 'data'}",
                      f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
                      "--log.level=debug"],
        d, "/-/ready")
    yield peer
    peer.stop()


def test_alertmanager_webhook_end_to_end(tocsin, alertmanager):
    labels = {"alertname": "RealAmTest", "service": "shop", "instance": "db1:9100", "severity": "critical"}
    starts = iso(offset_s=-30)
    alert = {"labels": labels, "annotations": {"summary": "replication broken"},
             "startsAt": starts, "endsAt": iso(offset_s=3600),
             "generatorURL": "http://prometheus.example/graph"}
    r = requests.post(alertmanager.url + "/api/v2/alerts", json=[alert], timeout=10)
    assert r.status_code == 200, r.text

    am_alerts = wait_for(lambda: requests.get(alertmanager.url + "/api/v2/alerts", timeout=5).json(),
                         timeout=10, what="alert visible in Alertmanager")
    am_fp = am_alerts[0]["fingerprint"]
    assert am_fp == fingerprint(labels), "our reference fingerprint disagrees with Alertmanager's"

    def tocsin_alert():
        got = [a for a in tocsin.alerts() if a["integration"] == "prom"]
        return got or None

    got = wait_for(tocsin_alert, timeout=15, interval=0.3,
                   what=f"Tocsin to receive the webhook\nAlertmanager log:\n{alertmanager.log()}")
    assert len(got) == 1, got
    a = got[0]
    assert a["dedup_key"] == am_fp
    assert a["labels"] == labels
    assert a["status"] == "firing"
    assert a["severity"] == "critical"
    assert a["summary"] == "replication broken"
    assert a["incident_ids"], a
    inc = tocsin.incident(a["incident_ids"][0])
    assert inc["service"] == "shop" and inc["priority"] == "P1"

    # resolve at the source: Alertmanager sends the resolved notification
    alert["endsAt"] = iso()
    r = requests.post(alertmanager.url + "/api/v2/alerts", json=[alert], timeout=10)
    assert r.status_code == 200, r.text

    def resolved():
        x = tocsin.alert(a["id"])
        return x if x["status"] == "resolved" else None

    x = wait_for(resolved, timeout=20, interval=0.3,
                 what=f"Tocsin to resolve the alert\nAlertmanager log:\n{alertmanager.log()}")
    assert x["resolved_by"] in ("integration:prom", "tocsin")
    assert x["resolved_by"] == "integration:prom", "Alertmanager's resolved notification should resolve it"
    # no duplicates created by Alertmanager's repeats
    time.sleep(2)
    assert len([b for b in tocsin.alerts() if b["integration"] == "prom"]) == 1
    assert tocsin.incident(a["incident_ids"][0])["status"] == "resolved"
    # Alertmanager got 2xx for every notification (no failed notify attempts in its log)
    assert "Notify for alerts failed" not in alertmanager.log(), alertmanager.log()
