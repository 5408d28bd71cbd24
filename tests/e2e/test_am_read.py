"""GET /api/v2/alerts: Alertmanager's read API, so amtool, karma and Grafana can list Tocsin's alerts."""
import json
import subprocess

import pytest

from conftest import AM_KEY, VIEWER_TOKEN, error_of, fingerprint, iso


def am_alert(name, **labels):
    lab = {"alertname": name, "severity": "critical", "instance": "web-1:9100"}
    lab.update(labels)
    return {"labels": lab, "annotations": {"summary": f"{name} on web-1"},
            "startsAt": iso(offset_s=-60), "endsAt": iso(offset_s=600),
            "generatorURL": "http://prometheus.example/graph?g0.expr=up"}


def test_gettable_alerts_shape_and_filters(tocsin):
    tocsin.am_alerts([am_alert("HighLoad"), am_alert("DiskFull", severity="warning")])
    tocsin.trigger({"alertname": "Backup", "service": "shop"}, summary="backup failed")
    r = tocsin.req("GET", "/api/v2/alerts", token=VIEWER_TOKEN)
    assert r.status_code == 200, r.text
    alerts = {a["labels"]["alertname"]: a for a in r.json()}
    assert set(alerts) == {"HighLoad", "DiskFull", "Backup"}
    hl = alerts["HighLoad"]
    assert hl["fingerprint"] == fingerprint(hl["labels"])
    assert hl["annotations"] == {"summary": "HighLoad on web-1"}
    assert hl["generatorURL"].startswith("http://prometheus.example/")
    assert hl["status"] == {"state": "active", "silencedBy": [], "inhibitedBy": [], "mutedBy": []}
    assert hl["receivers"] == [{"name": "tocsin"}]
    assert alerts["Backup"]["annotations"] == {"summary": "backup failed"}
    assert alerts["Backup"]["endsAt"] == "0001-01-01T00:00:00Z"

    r = tocsin.req("GET", "/api/v2/alerts", token=VIEWER_TOKEN,
                   params=[("filter", 'severity="critical"'), ("filter", "alertname=~\"High.*\"")])
    assert [a["labels"]["alertname"] for a in r.json()] == ["HighLoad"]
    assert tocsin.req("GET", "/api/v2/alerts", token=VIEWER_TOKEN,
                      params={"active": "false"}).json() == []

    r = tocsin.req("GET", "/api/v2/alerts", token=VIEWER_TOKEN, params={"filter": "=oops"})
    assert r.status_code == 400 and isinstance(r.json(), str), r.text
    r = tocsin.req("GET", "/api/v2/alerts", token=VIEWER_TOKEN, params={"filter": 'a=~"("'})
    assert r.status_code == 400, r.text
    error_of(tocsin.req("GET", "/api/v2/alerts", token=None), 401)
    # a resolved alert is not listed any more
    tocsin.am_alerts([dict(am_alert("DiskFull", severity="warning"), endsAt=iso(offset_s=-1))])
    names = {a["labels"]["alertname"] for a in
             tocsin.req("GET", "/api/v2/alerts", token=VIEWER_TOKEN).json()}
    assert names == {"HighLoad", "Backup"}


def test_real_amtool_lists_tocsin_alerts(tocsin, tmp_path):
    amtool = "/usr/bin/amtool"
    import os
    if not os.path.exists(amtool):
        pytest.skip("amtool is not installed")
    tocsin.am_alerts([am_alert("HighLoad"), am_alert("DiskFull", severity="warning")])
    cfg = tmp_path / "http.yml"
    cfg.write_text(f"authorization:\n  type: Bearer\n  credentials: {VIEWER_TOKEN}\n")
    out = subprocess.run([amtool, "alert", "query", "--alertmanager.url", tocsin.url,
                          "--http.config.file", str(cfg), "-o", "json", "severity=critical"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert [a["labels"]["alertname"] for a in got] == ["HighLoad"], got
    assert got[0]["fingerprint"] == fingerprint(got[0]["labels"])
