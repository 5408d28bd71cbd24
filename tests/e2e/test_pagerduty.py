"""PagerDuty Events API compatibility: v2 (/v2/enqueue, /v2/change/enqueue) and legacy v1."""
import copy

import pytest

from conftest import AM_KEY, GENERIC_KEY, PD_KEY, parse_ts

EVENT_OK = {"status": "success", "message": "Event processed"}


def trig(dedup_key="host1/disk", **payload):
    p = {"summary": "Disk 95% on host1", "source": "host1", "severity": "critical"}
    p.update(payload)
    ev = {"routing_key": PD_KEY, "event_action": "trigger", "payload": p}
    if dedup_key is not None:
        ev["dedup_key"] = dedup_key
    return ev


def assert_invalid(r, mention=None):
    assert r.status_code == 400, f"{r.status_code} {r.text}"
    body = r.json()
    assert set(body) == {"status", "message", "errors"}, body
    assert body["status"] == "invalid event"
    assert body["message"] == "Event object is invalid"
    assert isinstance(body["errors"], list) and body["errors"], body
    assert all(isinstance(e, str) and e for e in body["errors"]), body
    if mention:
        assert any(mention in e for e in body["errors"]), f"errors should mention {mention!r}: {body}"


def test_trigger_exact_body_and_stored(tocsin):
    r = tocsin.pd(trig(custom_details={"free": "5%"}, component="disk", group="web", **{"class": "fs"}))
    assert r.json() == dict(EVENT_OK, dedup_key="host1/disk")
    alerts = tocsin.alerts()
    assert len(alerts) == 1
    a = tocsin.alert(alerts[0]["id"])
    assert a["integration"] == "partner"
    assert a["dedup_key"] == "host1/disk"
    assert a["status"] == "firing"
    assert a["summary"] == "Disk 95% on host1"
    assert a["source"] == "host1"
    assert a["severity"] == "critical"
    assert a["count"] == 1
    assert "5%" in str(a["details"]), f"custom_details should be kept: {a['details']!r}"


def test_repeat_trigger_dedups_and_ack_resolve(tocsin):
    tocsin.pd(trig())
    tocsin.pd(trig(summary="Disk 97% on host1"))
    alerts = tocsin.alerts()
    assert len(alerts) == 1 and alerts[0]["count"] == 2
    assert alerts[0]["summary"] == "Disk 97% on host1"
    r = tocsin.pd({"routing_key": PD_KEY, "event_action": "acknowledge", "dedup_key": "host1/disk"})
    assert r.json() == dict(EVENT_OK, dedup_key="host1/disk")
    a = tocsin.alert(alerts[0]["id"])
    assert a["status"] == "acknowledged"
    assert a["acknowledged_by"] == "integration:partner"
    tocsin.pd({"routing_key": PD_KEY, "event_action": "resolve", "dedup_key": "host1/disk"})
    a = tocsin.alert(alerts[0]["id"])
    assert a["status"] == "resolved"
    assert a["resolved_by"] == "integration:partner"


def test_trigger_after_resolve_new_alert(tocsin):
    tocsin.pd(trig())
    first = tocsin.alerts()[0]["id"]
    tocsin.pd({"routing_key": PD_KEY, "event_action": "resolve", "dedup_key": "host1/disk"})
    tocsin.pd(trig())
    alerts = tocsin.alerts_by_key("host1/disk", "partner")
    assert len(alerts) == 2
    new = [a for a in alerts if a["id"] != first]
    assert len(new) == 1 and new[0]["status"] == "firing"
    assert tocsin.alert(first)["status"] == "resolved"


def test_trigger_without_dedup_key_generates_one(tocsin):
    r1 = tocsin.pd(trig(dedup_key=None)).json()
    r2 = tocsin.pd(trig(dedup_key=None)).json()
    for r in (r1, r2):
        assert r["status"] == "success" and r["message"] == "Event processed"
        assert isinstance(r["dedup_key"], str) and len(r["dedup_key"]) >= 16, r
    assert r1["dedup_key"] != r2["dedup_key"], "each keyless trigger is its own alert"
    keys = {a["dedup_key"] for a in tocsin.alerts()}
    assert keys == {r1["dedup_key"], r2["dedup_key"]}
    # The generated key works for a later resolve.
    tocsin.pd({"routing_key": PD_KEY, "event_action": "resolve", "dedup_key": r1["dedup_key"]})
    a = tocsin.alerts_by_key(r1["dedup_key"])
    assert a and a[0]["status"] == "resolved"


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_ack_resolve_unknown_dropped(tocsin, action):
    r = tocsin.pd({"routing_key": PD_KEY, "event_action": action, "dedup_key": "nope"})
    assert r.json() == dict(EVENT_OK, dedup_key="nope")
    assert tocsin.alerts() == []


def test_ack_resolve_other_routing_key_dropped(tocsin):
    # dedup keys are scoped per integration: a generic alert is not touched by PD.
    tocsin.trigger({"alertname": "X", "service": "shop"}, dedup_key="shared")
    tocsin.pd({"routing_key": PD_KEY, "event_action": "resolve", "dedup_key": "shared"})
    a = tocsin.alerts_by_key("shared")
    assert len(a) == 1 and a[0]["status"] == "firing" and a[0]["integration"] == "scripts"


def test_timestamp_forms(tocsin):
    r = tocsin.pd(trig(dedup_key="ts1", timestamp="2015-07-17T08:42:58.315+0000"))
    assert r.json()["dedup_key"] == "ts1"
    r = tocsin.pd(trig(dedup_key="ts2", timestamp="2015-07-17T08:42:58.315+00:00"))
    assert r.json()["dedup_key"] == "ts2"
    r = tocsin.pd(trig(dedup_key="ts3", timestamp="2015-07-17T10:42:58+0200"))
    assert r.json()["dedup_key"] == "ts3"
    assert {a["dedup_key"] for a in tocsin.alerts()} == {"ts1", "ts2", "ts3"}


def test_invalid_events_400(tocsin):
    base = trig()
    cases = []
    ev = copy.deepcopy(base); del ev["routing_key"]; cases.append((ev, "routing_key"))
    ev = copy.deepcopy(base); del ev["event_action"]; cases.append((ev, "event_action"))
    ev = copy.deepcopy(base); ev["event_action"] = "explode"; cases.append((ev, "event_action"))
    ev = copy.deepcopy(base); del ev["payload"]; cases.append((ev, "payload"))
    ev = copy.deepcopy(base); del ev["payload"]["summary"]; cases.append((ev, "summary"))
    ev = copy.deepcopy(base); del ev["payload"]["source"]; cases.append((ev, "source"))
    ev = copy.deepcopy(base); del ev["payload"]["severity"]; cases.append((ev, "severity"))
    ev = copy.deepcopy(base); ev["payload"]["severity"] = "urgent"; cases.append((ev, "severity"))
    ev = copy.deepcopy(base); ev["payload"]["summary"] = "x" * 1025; cases.append((ev, "summary"))
    ev = {"routing_key": PD_KEY, "event_action": "resolve"}; cases.append((ev, "dedup_key"))
    for ev, mention in cases:
        r = tocsin.req("POST", "/v2/enqueue", json=ev)
        assert_invalid(r, mention)
    r = tocsin.req("POST", "/v2/enqueue", data="{broken", headers={"Content-Type": "application/json"})
    assert_invalid(r)
    assert tocsin.alerts() == []


def test_unknown_routing_key_403(tocsin):
    ev = trig()
    ev["routing_key"] = "z" * 32
    r = tocsin.req("POST", "/v2/enqueue", json=ev)
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["status"] == "invalid event" and body["message"] == "Event object is invalid"
    assert any("routing_key" in e for e in body["errors"]), body
    # A key of another integration type is not a PagerDuty routing key either.
    for k in (GENERIC_KEY, AM_KEY):
        ev["routing_key"] = k
        r = tocsin.req("POST", "/v2/enqueue", json=ev)
        assert r.status_code == 403, (k, r.status_code, r.text)
    assert tocsin.alerts() == []


def test_change_event(tocsin):
    ch = {"routing_key": PD_KEY,
          "payload": {"summary": "Deployed shop v1.2.3", "source": "ci.example",
                      "timestamp": "2026-01-02T03:04:05.678+0000",
                      "custom_details": {"build": "1234"}},
          "links": [{"href": "https://ci.example/1234", "text": "build"}]}
    r = tocsin.req("POST", "/v2/change/enqueue", json=ch)
    assert r.status_code == 202, r.text
    assert r.json() == {"status": "success", "message": "Change event processed"}
    body = tocsin.get_json("/api/v1/changes")
    assert body["next_cursor"] is None
    assert len(body["changes"]) == 1
    c = body["changes"][0]
    assert c["integration"] == "partner"
    assert c["summary"] == "Deployed shop v1.2.3"
    assert c["source"] == "ci.example"
    assert c["timestamp"] == "2026-01-02T03:04:05.678Z"
    assert c["details"] == {"build": "1234"}
    assert c["links"][0]["href"] == "https://ci.example/1234"
    parse_ts(c["received_at"])
    # a change is not an alert
    assert tocsin.alerts() == []


def test_change_event_invalid(tocsin):
    r = tocsin.req("POST", "/v2/change/enqueue", json={"routing_key": PD_KEY, "payload": {}})
    assert_invalid(r, "summary")
    r = tocsin.req("POST", "/v2/change/enqueue", json={"payload": {"summary": "x"}})
    assert_invalid(r, "routing_key")
    r = tocsin.req("POST", "/v2/change/enqueue",
                   json={"routing_key": "q" * 32, "payload": {"summary": "x"}})
    assert r.status_code == 403, r.text
    assert tocsin.get_json("/api/v1/changes")["changes"] == []


V1 = "/generic/2010-04-15/create_event.json"


def test_v1_trigger_ack_resolve(tocsin):
    """Legacy Events v1 from older tools: 200 with incident_key; the alert
    is the same one v2 would make, and acknowledge/resolve by incident_key work."""
    r = tocsin.req("POST", V1, json={
        "service_key": PD_KEY, "event_type": "trigger", "incident_key": "srv9/cpu",
        "description": "CPU 99% on srv9", "details": {"load": 31.5},
        "client": "Old Nagios", "client_url": "https://nagios.example/srv9",
        "contexts": [{"type": "link", "href": "https://wiki.example/cpu", "text": "runbook"},
                     {"type": "image", "src": "https://graphs.example/cpu.png"}]})
    assert r.status_code == 200, r.text
    assert r.json() == dict(EVENT_OK, incident_key="srv9/cpu")
    [a] = tocsin.alerts()
    a = tocsin.alert(a["id"])
    assert (a["integration"], a["dedup_key"], a["summary"]) == ("partner", "srv9/cpu", "CPU 99% on srv9")
    assert a["details"]["details"] == {"load": 31.5} and a["details"]["client"] == "Old Nagios"
    hrefs = [l["href"] for l in a["links"]]
    assert "https://wiki.example/cpu" in hrefs and "https://nagios.example/srv9" in hrefs
    for event_type, status in (("acknowledge", "acknowledged"), ("resolve", "resolved")):
        r = tocsin.req("POST", V1, json={"service_key": PD_KEY, "event_type": event_type,
                                         "incident_key": "srv9/cpu"})
        assert r.status_code == 200, r.text
        assert tocsin.alert(a["id"])["status"] == status


def test_v1_generated_key_and_errors(tocsin):
    r = tocsin.req("POST", V1, json={"service_key": PD_KEY, "event_type": "trigger",
                                     "description": "no key given"})
    assert r.status_code == 200, r.text
    key = r.json()["incident_key"]
    assert len(key) == 32 and tocsin.alerts_by_key(key)
    before = len(tocsin.alerts())
    assert_invalid(tocsin.req("POST", V1, json={"event_type": "trigger", "description": "x"}),
                   "service_key")
    assert_invalid(tocsin.req("POST", V1, json={"service_key": PD_KEY, "event_type": "explode",
                                                "description": "x"}), "event_type")
    assert_invalid(tocsin.req("POST", V1, json={"service_key": PD_KEY, "event_type": "trigger"}),
                   "description")
    assert_invalid(tocsin.req("POST", V1, json={"service_key": PD_KEY, "event_type": "resolve"}),
                   "incident_key")
    r = tocsin.req("POST", V1, json={"service_key": GENERIC_KEY, "event_type": "trigger",
                                     "description": "wrong integration type"})
    assert r.status_code == 403, r.text
    assert len(tocsin.alerts()) == before
