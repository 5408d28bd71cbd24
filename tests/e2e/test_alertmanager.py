"""Alertmanager compatibility: API v2 (what Prometheus posts) and the webhook v4 receiver."""
import time


import requests

from conftest import AM_KEY, GENERIC_KEY, PD_KEY, fingerprint, iso, parse_ts, wait_for


def am_alert(labels=None, **kw):
    lb = {"alertname": "HighLatency", "service": "shop", "instance": "web1:9100", "severity": "critical"}
    if labels:
        lb.update(labels)
    a = {"labels": lb, "annotations": {"summary": "p99 latency above 2s"},
         "generatorURL": "http://prometheus:9090/graph?g0.expr=up"}
    a.update(kw)
    return a


# --- /api/v2/alerts ------------------------------------------------------------------------
def test_post_alerts_200_empty_body_and_stored(tocsin):
    a = am_alert(startsAt=iso(offset_s=-60), endsAt=iso(offset_s=300))
    r = tocsin.am_alerts([a])
    assert r.status_code == 200
    assert r.content == b"", f"body must be empty, got {r.content!r}"
    alerts = tocsin.alerts()
    assert len(alerts) == 1
    got = tocsin.alert(alerts[0]["id"])
    assert got["integration"] == "prom"
    assert got["dedup_key"] == fingerprint(a["labels"])
    assert got["labels"] == a["labels"]
    assert got["status"] == "firing"
    assert got["severity"] == "critical"
    assert got["summary"] == "p99 latency above 2s"
    assert parse_ts(got["ends_at"]) > time.time() + 200
    assert abs(parse_ts(got["starts_at"]) - (time.time() - 60)) < 30


def test_fingerprint_matches_alertmanager_algorithm(tocsin):
    lbs = [{"alertname": "A"}, {"alertname": "B", "zone": "eu-1", "a": "x"},
           {"alertname": "Unicode", "msg": "héllo wörld"}]
    tocsin.am_alerts([{"labels": lb} for lb in lbs])
    got = {a["dedup_key"]: a["labels"] for a in tocsin.alerts()}
    assert got == {fingerprint(lb): lb for lb in lbs}
    # A reference value checked by hand against Go's model.LabelSet{"alertname":"A"}.Fingerprint()
    assert fingerprint({}) == "cbf29ce484222325"


def test_auth_variants(tocsin):
    a = am_alert()
    r = requests.post(tocsin.url + "/api/v2/alerts", json=[a], auth=("prometheus", AM_KEY), timeout=10)
    assert r.status_code == 200, r.text
    r = requests.post(tocsin.url + "/api/v2/alerts", json=[a], headers={"X-Tocsin-Key": AM_KEY}, timeout=10)
    assert r.status_code == 200, r.text
    al = tocsin.alerts()
    assert len(al) == 1 and al[0]["count"] == 2
    # failures answer with a JSON string body
    r = requests.post(tocsin.url + "/api/v2/alerts", json=[am_alert({"x": "1"})], timeout=10)
    assert r.status_code == 401 and isinstance(r.json(), str), (r.status_code, r.text)
    r = tocsin.am_alerts([am_alert({"x": "2"})], key="w" * 32, expect=403)
    assert isinstance(r.json(), str), r.text
    for k in (GENERIC_KEY, PD_KEY):
        r = tocsin.am_alerts([am_alert({"x": "3"})], key=k, expect=403)
        assert isinstance(r.json(), str), r.text
    assert len(tocsin.alerts()) == 1


def test_refresh_dedups(tocsin):
    a = am_alert(startsAt=iso(offset_s=-10), endsAt=iso(offset_s=240))
    tocsin.am_alerts([a])
    tocsin.am_alerts([a])
    al = tocsin.alerts()
    assert len(al) == 1 and al[0]["count"] == 2 and al[0]["status"] == "firing"


def test_ends_at_in_past_resolves(tocsin):
    a = am_alert(startsAt=iso(offset_s=-120), endsAt=iso(offset_s=300))
    tocsin.am_alerts([a])
    aid = tocsin.alerts()[0]["id"]
    a["endsAt"] = iso(offset_s=-1)
    tocsin.am_alerts([a])
    got = tocsin.alert(aid)
    assert got["status"] == "resolved"
    assert got["resolved_by"] == "integration:prom"
    assert len(tocsin.alerts()) == 1


def test_missing_ends_at_defaults_to_resolve_timeout(tocsin):
    tocsin.am_alerts([am_alert()])
    got = tocsin.alerts()[0]
    ends = parse_ts(got["ends_at"])
    assert 240 < ends - time.time() < 330, f"endsAt should default to now+5m: {got['ends_at']}"


def test_short_ends_at_expires_by_itself(tocsin):
    a = am_alert(startsAt=iso(offset_s=-5), endsAt=iso(offset_s=2))
    tocsin.am_alerts([a])
    aid = tocsin.alerts()[0]["id"]
    assert tocsin.alert(aid)["status"] == "firing"
    got = wait_for(lambda: (lambda x: x if x["status"] == "resolved" else None)(tocsin.alert(aid)),
                   timeout=12, interval=0.25, what="alert to expire at endsAt")
    assert got["resolved_by"] == "tocsin"
    # the incident resolves itself too (its only alert is gone)
    inc = tocsin.incident(got["incident_ids"][0])
    assert inc["status"] == "resolved" and inc["resolved_by"] == "tocsin"


def test_refresh_extends_expiry(tocsin):
    a = am_alert(startsAt=iso(offset_s=-5), endsAt=iso(offset_s=2))
    tocsin.am_alerts([a])
    aid = tocsin.alerts()[0]["id"]
    a["endsAt"] = iso(offset_s=120)
    tocsin.am_alerts([a])
    time.sleep(4)
    assert tocsin.alert(aid)["status"] == "firing", "a refreshed alert must not expire at the old endsAt"


def test_400_string_bodies(tocsin):
    cases = [
        [{"labels": {"instance": "x"}}],            # no alertname
        [{"labels": {}}],                            # empty labels
        [{"annotations": {"summary": "x"}}],         # no labels at all
        {"labels": {"alertname": "NotAnArray"}},     # not an array
        [{"labels": {"alertname": "X", "bad": 1}}],  # non-string label value
        [{"labels": {"alertname": "X"}, "startsAt": "yesterday"}],
    ]
    for body in cases:
        r = tocsin.am_alerts(body, expect=None)
        assert r.status_code == 400, (body, r.status_code, r.text)
        msg = r.json()
        assert isinstance(msg, str) and msg, (body, r.text)
    r = tocsin.am_alerts([{"labels": {"instance": "x"}}], expect=400)
    assert "alertname" in r.json()
    # one bad alert in a batch rejects the batch
    r = tocsin.am_alerts([am_alert(), {"labels": {"instance": "x"}}], expect=400)
    assert tocsin.alerts() == []


def test_status_and_health(tocsin):
    r = requests.get(tocsin.url + "/api/v2/status", timeout=10)
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["cluster"]["status"] == "disabled"
    assert isinstance(s["versionInfo"], dict) and s["versionInfo"]
    assert isinstance(s["config"]["original"], str)
    assert isinstance(s["uptime"], str) and s["uptime"]
    for path in ("/-/healthy", "/-/ready"):
        r = requests.get(tocsin.url + path, timeout=10)
        assert r.status_code == 200, (path, r.status_code)
        assert r.text.strip() == "OK", (path, r.text)


# --- webhook v4 ------------------------------------------------------------------------------
def webhook(alerts, status=None, **extra):
    if status is None:
        status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    common = {"alertname": alerts[0]["labels"]["alertname"]}
    p = {"version": "4", "groupKey": '{}:{alertname="%s"}' % common["alertname"], "truncatedAlerts": 0,
         "status": status, "receiver": "tocsin", "groupLabels": common, "commonLabels": common,
         "commonAnnotations": {}, "externalURL": "http://alertmanager.example.org:9093", "alerts": alerts}
    p.update(extra)
    return p


def wh_alert(labels=None, status="firing", starts="2026-02-06T13:08:45.828Z", ends="0001-01-01T00:00:00Z",
             **extra):
    lb = {"alertname": "ProbeFailure", "instance": "https://shop.example", "severity": "critical",
          "service": "shop"}
    if labels:
        lb.update(labels)
    a = {"status": status, "labels": lb,
         "annotations": {"summary": "BlackBox probe failure", "description": "down"},
         "startsAt": starts, "endsAt": ends,
         "generatorURL": "http://prometheus:9090/graph?g0.expr=probe_success", "fingerprint": fingerprint(lb)}
    a.update(extra)
    return a


def test_webhook_firing_then_resolved(tocsin):
    a = wh_alert()
    r = tocsin.am_webhook(webhook([a]))
    body = r.json()
    assert body["status"] == "accepted"
    assert len(body["results"]) == 1
    res = body["results"][0]
    assert res["outcome"] == "created" and res["dedup_key"] == a["fingerprint"]
    got = tocsin.alert(res["alert_id"])
    assert got["integration"] == "prom" and got["status"] == "firing"
    assert got["labels"] == a["labels"] and got["severity"] == "critical"
    assert got["summary"] == "BlackBox probe failure"

    b = wh_alert(status="resolved", ends="2026-02-06T13:20:00.000Z")
    body = tocsin.am_webhook(webhook([b])).json()
    assert body["results"][0]["outcome"] == "resolved"
    got = tocsin.alert(res["alert_id"])
    assert got["status"] == "resolved" and got["resolved_by"] == "integration:prom"
    assert len(tocsin.alerts()) == 1


def test_webhook_duplicates_idempotent(tocsin):
    p = webhook([wh_alert(), wh_alert({"instance": "https://b.example"})])
    r1 = tocsin.am_webhook(p).json()["results"]
    r2 = tocsin.am_webhook(p).json()["results"]   # retry / HA twin
    assert [x["outcome"] for x in r1] == ["created", "created"]
    assert [x["outcome"] for x in r2] == ["updated", "updated"]
    assert [x["alert_id"] for x in r1] == [x["alert_id"] for x in r2]
    al = tocsin.alerts()
    assert len(al) == 2 and all(a["status"] == "firing" for a in al)

    resolved = webhook([wh_alert(status="resolved", ends="2026-02-06T14:00:00Z"),
                        wh_alert({"instance": "https://b.example"}, status="resolved",
                                 ends="2026-02-06T14:00:00Z")])
    tocsin.am_webhook(resolved)
    again = tocsin.am_webhook(resolved).json()["results"]   # duplicate resolved: dropped
    assert [x["outcome"] for x in again] == ["dropped", "dropped"]
    # a late retry of the old firing notification (same startsAt) must not reopen
    late = tocsin.am_webhook(p).json()["results"]
    assert [x["outcome"] for x in late] == ["dropped", "dropped"], late
    al = tocsin.alerts()
    assert len(al) == 2 and all(a["status"] == "resolved" for a in al), al
    # a genuinely new firing (new startsAt) opens a new alert
    new = tocsin.am_webhook(webhook([wh_alert(starts="2026-02-06T15:00:00Z")])).json()["results"]
    assert new[0]["outcome"] == "created"
    assert len(tocsin.alerts()) == 3
    assert len(tocsin.alerts(status="firing")) == 1


def test_webhook_grafana_extra_fields(tocsin):
    a = wh_alert({"alertname": "GrafanaRule"}, silenceURL="http://grafana/silence", dashboardURL="http://grafana/d/1",
                 panelURL="http://grafana/d/1?viewPanel=2", values={"B": 1.5, "C": 1}, valueString="[ var='B' value=1.5 ]")
    p = webhook([a], orgId=1, title="[FIRING:1] GrafanaRule", state="alerting", message="**Firing**")
    body = tocsin.am_webhook(p).json()
    assert body["results"][0]["outcome"] == "created"
    assert tocsin.alerts()[0]["labels"]["alertname"] == "GrafanaRule"


def test_webhook_without_fingerprint_uses_labels(tocsin):
    a = wh_alert()
    del a["fingerprint"]
    res = tocsin.am_webhook(webhook([a])).json()["results"][0]
    assert res["dedup_key"] == fingerprint(a["labels"])


def test_webhook_bad_input(tocsin):
    r = tocsin.req("POST", "/api/v1/integrations/alertmanager", key=AM_KEY, data="{not json",
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    r = tocsin.am_webhook({"version": "4", "alerts": "nope"}, expect=None)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_field"
    r = tocsin.am_webhook(webhook([wh_alert()]), key=GENERIC_KEY, expect=None)
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_integration_type", r.text
    r = tocsin.req("POST", "/api/v1/integrations/alertmanager", json=webhook([wh_alert()]))
    assert r.status_code == 401, r.text
    assert tocsin.alerts() == []


def test_invalid_label_name_400(tocsin):
    r = tocsin.am_alerts([{"labels": {"alertname": "X", "bad-name": "v"}}], expect=400)
    assert isinstance(r.json(), str)
    r = tocsin.am_alerts([{"labels": {"alertname": "X", "0digit": "v"}}], expect=400)
    assert tocsin.alerts() == []


def test_same_fingerprint_across_am_endpoints(tocsin):
    """API v2 and the webhook speak for the same integration: one alert per fingerprint."""
    lb = {"alertname": "Shared", "service": "shop", "severity": "warning"}
    tocsin.am_alerts([{"labels": lb, "endsAt": iso(offset_s=300)}])
    res = tocsin.am_webhook(webhook([wh_alert(labels=None, status="resolved", ends=iso()) | {"labels": lb,
                                                                                           "fingerprint": fingerprint(lb)}]))
    assert res.json()["results"][0]["outcome"] == "resolved"
    al = tocsin.alerts()
    assert len(al) == 1 and al[0]["status"] == "resolved"
