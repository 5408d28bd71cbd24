"""Incidents: grouping, lifecycle, actions, auth, priority, audit."""
import re

import pytest



from conftest import ADMIN_TOKEN, RESPONDER_TOKEN, VIEWER_TOKEN, error_of, parse_ts

NUM = re.compile(r"^INC-(\d+)$")


def shop(alertname="CheckoutErrors", host="web1", **kw):
    d = {"service": "shop", "alertname": alertname, "host": host}
    d.update(kw)
    return d


def inc_of(t, res):
    assert len(res["incident_ids"]) == 1, res
    return t.incident(res["incident_ids"][0])


def timeline_kinds(inc):
    return [e["kind"] for e in inc["timeline"]]


def test_grouping_same_group_one_incident(tocsin):
    a = tocsin.trigger(shop(host="web1"))
    b = tocsin.trigger(shop(host="web2"))
    assert a["alert_id"] != b["alert_id"]
    assert a["incident_ids"] == b["incident_ids"]
    inc = inc_of(tocsin, a)
    assert inc["service"] == "shop"
    assert inc["status"] == "triggered"
    assert inc["alert_count"] == 2 and inc["open_alert_count"] == 2
    assert sorted(x["id"] for x in inc["alerts"]) == sorted([a["alert_id"], b["alert_id"]])
    kinds = timeline_kinds(inc)
    assert "triggered" in kinds and "alert_joined" in kinds, kinds
    assert 'alertname' in inc["group_key"] or "CheckoutErrors" in inc["group_key"], inc["group_key"]
    assert isinstance(inc["title"], str) and inc["title"]

    c = tocsin.trigger(shop(alertname="DiskFull"))
    assert c["incident_ids"] != a["incident_ids"]
    assert len(tocsin.incidents()) == 2


def test_incident_numbers_and_lookup(tocsin):
    r1 = tocsin.trigger(shop(alertname="A"))
    r2 = tocsin.trigger(shop(alertname="B"))
    i1, i2 = inc_of(tocsin, r1), inc_of(tocsin, r2)
    n1 = int(NUM.match(i1["number"]).group(1))
    n2 = int(NUM.match(i2["number"]).group(1))
    assert n2 == n1 + 1
    by_num = tocsin.incident(i1["number"])
    by_digits = tocsin.incident(str(n1))
    assert by_num["id"] == by_digits["id"] == i1["id"]
    parse_ts(i1["created_at"]); parse_ts(i1["updated_at"])


def test_filters_status_and_service(tocsin):
    s1 = tocsin.trigger(shop(alertname="A"))
    s2 = tocsin.trigger(shop(alertname="B"))
    b1 = tocsin.trigger({"service": "billing", "alertname": "InvoiceLag"}, severity="warning")
    tocsin.post(f"/api/v1/incidents/{s2['incident_ids'][0]}/resolve")
    shop_incs = tocsin.incidents(service="shop")
    assert {i["id"] for i in shop_incs} == {s1["incident_ids"][0], s2["incident_ids"][0]}
    billing = tocsin.incidents(service="billing")
    assert [i["id"] for i in billing] == b1["incident_ids"]
    assert billing[0]["service"] == "billing"
    open_ = tocsin.incidents(status="triggered,acknowledged")
    assert {i["id"] for i in open_} == {s1["incident_ids"][0], b1["incident_ids"][0]}
    res = tocsin.incidents(status="resolved")
    assert [i["id"] for i in res] == s2["incident_ids"]
    both = tocsin.incidents(status="triggered", service="shop")
    assert [i["id"] for i in both] == s1["incident_ids"]
    # alerts filter too
    assert {a["id"] for a in tocsin.alerts(status="resolved")} == {s2["alert_id"]}
    assert len(tocsin.alerts(status="firing,acknowledged")) == 2
    assert len(tocsin.alerts(integration="scripts")) == 3
    assert tocsin.alerts(integration="prom") == []


def test_pagination(tocsin):
    ids = []
    for i in range(7):
        ids.append(tocsin.trigger(shop(alertname=f"Page{i}"))["incident_ids"][0])
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        r = tocsin.get("/api/v1/incidents", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["incidents"]) <= 3
        seen.extend(i["id"] for i in body["incidents"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert pages < 10
    assert pages == 3, pages
    assert seen == list(reversed(ids)), "newest first, no duplicates, nothing missing"
    # alerts paginate the same way
    r = tocsin.get("/api/v1/alerts", params={"limit": 5}).json()
    assert len(r["alerts"]) == 5 and r["next_cursor"]
    r2 = tocsin.get("/api/v1/alerts", params={"limit": 5, "cursor": r["next_cursor"]}).json()
    assert len(r2["alerts"]) == 2 and r2["next_cursor"] is None
    assert not {a["id"] for a in r["alerts"]} & {a["id"] for a in r2["alerts"]}


def test_acknowledge(tocsin):
    res = tocsin.trigger(shop())
    iid = res["incident_ids"][0]
    r = tocsin.post(f"/api/v1/incidents/{iid}/acknowledge")
    assert r.status_code == 200, r.text
    inc = r.json()
    assert inc["status"] == "acknowledged"
    assert inc["acknowledged_by"] == "token:admin"
    ack_at = inc["acknowledged_at"]
    parse_ts(ack_at)
    got = tocsin.incident(iid)
    assert got["status"] == "acknowledged"
    entries = [e for e in got["timeline"] if e["kind"] == "acknowledged"]
    assert len(entries) == 1 and entries[0]["actor"] == "token:admin"
    # again: 200, unchanged
    r = tocsin.post(f"/api/v1/incidents/{iid}/acknowledge")
    assert r.status_code == 200
    assert r.json()["acknowledged_at"] == ack_at
    assert len([e for e in tocsin.incident(iid)["timeline"] if e["kind"] == "acknowledged"]) == 1


def test_responder_can_act_viewer_cannot(tocsin):
    iid = tocsin.trigger(shop())["incident_ids"][0]
    r = tocsin.post(f"/api/v1/incidents/{iid}/acknowledge", token=VIEWER_TOKEN)
    error_of(r, 403, "forbidden")
    r = tocsin.post(f"/api/v1/incidents/{iid}/notes", {"text": "hi"}, token=VIEWER_TOKEN)
    error_of(r, 403, "forbidden")
    r = tocsin.post(f"/api/v1/incidents/{iid}/resolve", token=VIEWER_TOKEN)
    error_of(r, 403, "forbidden")
    assert tocsin.incident(iid)["status"] == "triggered"
    # viewer can read
    assert tocsin.get(f"/api/v1/incidents/{iid}", token=VIEWER_TOKEN).status_code == 200
    assert tocsin.get("/api/v1/alerts", token=VIEWER_TOKEN).status_code == 200
    # responder acts
    r = tocsin.post(f"/api/v1/incidents/{iid}/acknowledge", token=RESPONDER_TOKEN)
    assert r.status_code == 200, r.text
    assert r.json()["acknowledged_by"] == "token:responder"
    # responder cannot read the audit log (admin only)
    error_of(tocsin.get("/api/v1/audit", token=RESPONDER_TOKEN), 403, "forbidden")
    error_of(tocsin.get("/api/v1/audit", token=VIEWER_TOKEN), 403, "forbidden")


def test_no_token_and_unknown_token(tocsin):
    iid = tocsin.trigger(shop())["incident_ids"][0]
    for method, path in (("GET", "/api/v1/incidents"), ("GET", "/api/v1/alerts"),
                         ("POST", f"/api/v1/incidents/{iid}/acknowledge"), ("GET", "/api/v1/audit")):
        error_of(tocsin.req(method, path), 401, "missing_credentials")
        error_of(tocsin.req(method, path, token="not-a-real-token-at-all"), 401, "unknown_token")
    assert tocsin.incident(iid)["status"] == "triggered"


def test_unknown_incident_404(tocsin):
    error_of(tocsin.get("/api/v1/incidents/99999"), 404, "not_found")
    error_of(tocsin.get("/api/v1/incidents/INC-99999"), 404, "not_found")
    error_of(tocsin.post("/api/v1/incidents/INC-99999/acknowledge"), 404, "not_found")
    error_of(tocsin.post("/api/v1/incidents/99999/resolve"), 404, "not_found")
    error_of(tocsin.post("/api/v1/incidents/99999/notes", {"text": "x"}), 404, "not_found")
    error_of(tocsin.get("/api/v1/alerts/99999"), 404, "not_found")
    error_of(tocsin.get("/api/v1/no-such-thing"), 404, "not_found")


def test_resolve_resolves_alerts(tocsin):
    a = tocsin.trigger(shop(host="w1"))
    b = tocsin.trigger(shop(host="w2"))
    iid = a["incident_ids"][0]
    r = tocsin.post(f"/api/v1/incidents/{iid}/resolve")
    assert r.status_code == 200, r.text
    inc = r.json()
    assert inc["status"] == "resolved" and inc["resolved_by"] == "token:admin"
    assert inc["open_alert_count"] == 0
    for x in (a, b):
        al = tocsin.alert(x["alert_id"])
        assert al["status"] == "resolved", al
        assert al["resolved_by"] == "token:admin"
    got = tocsin.incident(iid)
    ent = [e for e in got["timeline"] if e["kind"] == "resolved"]
    assert len(ent) == 1 and ent[0]["actor"] == "token:admin"
    # already resolved: 200 unchanged
    r = tocsin.post(f"/api/v1/incidents/{iid}/resolve")
    assert r.status_code == 200 and r.json()["resolved_at"] == inc["resolved_at"]
    # acknowledge a resolved incident: 409
    error_of(tocsin.post(f"/api/v1/incidents/{iid}/acknowledge"), 409, "conflict")
    assert tocsin.incident(iid)["acknowledged_at"] is None
    # a late trigger of the same alert opens a new alert in a NEW incident
    c = tocsin.trigger(shop(host="w1"))
    assert c["outcome"] == "created"
    assert c["incident_ids"] != a["incident_ids"]
    assert tocsin.incident(iid)["status"] == "resolved"
    assert tocsin.incident(iid)["alert_count"] == 2


def test_notes(tocsin):
    iid = tocsin.trigger(shop())["incident_ids"][0]
    r = tocsin.post(f"/api/v1/incidents/{iid}/notes", {"text": "Looking at the load balancer"})
    assert r.status_code == 201, r.text
    e = r.json()
    assert e["kind"] == "note" and e["actor"] == "token:admin"
    assert e["text"] == "Looking at the load balancer"
    parse_ts(e["at"])
    tl = tocsin.incident(iid)["timeline"]
    assert any(x["id"] == e["id"] and x["kind"] == "note" and x["text"] == e["text"] for x in tl), tl
    # validation
    error_of(tocsin.post(f"/api/v1/incidents/{iid}/notes", {"text": ""}), 422, "invalid_field", "text")
    error_of(tocsin.post(f"/api/v1/incidents/{iid}/notes", {"text": "x" * 10001}), 422, "invalid_field", "text")
    error_of(tocsin.post(f"/api/v1/incidents/{iid}/notes", {}), 422, "invalid_field", "text")
    error_of(tocsin.post(f"/api/v1/incidents/{iid}/notes", {"text": 5}), 422, "invalid_field", "text")
    r = tocsin.req("POST", f"/api/v1/incidents/{iid}/notes", token=ADMIN_TOKEN, data="{oops",
                   headers={"Content-Type": "application/json"})
    error_of(r, 400, "malformed_json")
    assert tocsin.post(f"/api/v1/incidents/{iid}/notes", {"text": "x" * 10000}).status_code == 201
    notes = [x for x in tocsin.incident(iid)["timeline"] if x["kind"] == "note"]
    assert len(notes) == 2


def test_auto_resolve_when_all_alerts_resolve(tocsin):
    a = tocsin.trigger(shop(host="w1"), dedup_key="auto-1")
    tocsin.trigger(shop(host="w2"), dedup_key="auto-2")
    iid = a["incident_ids"][0]
    tocsin.post_event({"dedup_key": "auto-1", "action": "resolve"})
    inc = tocsin.incident(iid)
    assert inc["status"] == "triggered" and inc["open_alert_count"] == 1
    assert "alert_resolved" in timeline_kinds(inc)
    tocsin.post_event({"dedup_key": "auto-2", "action": "resolve"})
    inc = tocsin.incident(iid)
    assert inc["status"] == "resolved"
    assert inc["resolved_by"] == "tocsin"
    assert inc["open_alert_count"] == 0 and inc["alert_count"] == 2
    ent = [e for e in inc["timeline"] if e["kind"] == "resolved"]
    assert len(ent) == 1 and ent[0]["actor"] == "tocsin"
    # the next alert of that group opens a new incident
    c = tocsin.trigger(shop(host="w3"))
    assert c["incident_ids"] != a["incident_ids"]
    assert tocsin.incident(c["incident_ids"][0])["status"] == "triggered"


def test_alert_ack_reflected(tocsin):
    a = tocsin.trigger(shop(), dedup_key="ack-alert")
    tocsin.post_event({"dedup_key": "ack-alert", "action": "acknowledge"})
    inc = tocsin.incident(a["incident_ids"][0])
    assert "alert_acknowledged" in timeline_kinds(inc), timeline_kinds(inc)


def test_priority_matrix(tocsin):
    crit = inc_of(tocsin, tocsin.trigger(shop(alertname="Crit"), severity="critical"))
    assert (crit["priority"], crit["urgency"], crit["impact"], crit["severity"]) == ("P1", "high", "high", "critical")
    warn = inc_of(tocsin, tocsin.trigger(shop(alertname="Warn"), severity="warning"))
    assert (warn["priority"], warn["urgency"], warn["impact"]) == ("P2", "medium", "high")
    info = inc_of(tocsin, tocsin.trigger(shop(alertname="Info"), severity="info"))
    assert (info["priority"], info["urgency"]) == ("P3", "low")
    # billing has no impact -> medium
    bill = inc_of(tocsin, tocsin.trigger({"service": "billing", "alertname": "X"}, severity="error"))
    assert (bill["priority"], bill["urgency"], bill["impact"]) == ("P2", "high", "medium")
    # no service (default route): medium impact
    other = inc_of(tocsin, tocsin.trigger({"alertname": "Loose"}, severity="warning"))
    assert other["service"] is None
    assert (other["priority"], other["impact"]) == ("P3", "medium")


def test_severity_escalation_changes_priority(tocsin):
    a = tocsin.trigger(shop(host="w1"), severity="warning")
    inc = inc_of(tocsin, a)
    assert inc["priority"] == "P2" and inc["severity"] == "warning"
    tocsin.trigger(shop(host="w2"), severity="critical")
    inc = tocsin.incident(inc["id"])
    assert inc["severity"] == "critical" and inc["priority"] == "P1"
    kinds = timeline_kinds(inc)
    assert "severity_changed" in kinds and "priority_changed" in kinds, kinds
    # severity is the highest ever seen while open: resolving the critical alert keeps it
    tocsin.post_event({"labels": shop(host="w2"), "action": "resolve"})
    assert tocsin.incident(inc["id"])["severity"] == "critical"


def test_timeline_actors_and_audit(tocsin):
    iid = tocsin.trigger(shop())["incident_ids"][0]
    tocsin.post(f"/api/v1/incidents/{iid}/notes", {"text": "n1"}, token=RESPONDER_TOKEN)
    tocsin.post(f"/api/v1/incidents/{iid}/acknowledge", token=RESPONDER_TOKEN)
    tocsin.post(f"/api/v1/incidents/{iid}/resolve")
    tl = tocsin.incident(iid)["timeline"]
    for e in tl:
        assert set(("id", "at", "kind", "actor", "text")) <= set(e), e
        assert e["actor"] == "tocsin" or e["actor"].startswith(("token:", "integration:")), e
        parse_ts(e["at"])
    by_kind = {e["kind"]: e["actor"] for e in tl}
    assert by_kind["triggered"] == "integration:scripts"
    assert by_kind["note"] == "token:responder"
    assert by_kind["acknowledged"] == "token:responder"
    assert by_kind["resolved"] == "token:admin"
    ats = [parse_ts(e["at"]) for e in tl]
    assert ats == sorted(ats), "timeline is in time order"

    body = tocsin.get_json("/api/v1/audit")
    entries = body["entries"]
    assert entries, "mutations must be audited"
    for e in entries:
        assert set(("id", "at", "actor", "action", "object_type", "object_id")) <= set(e), e
    actors = {e["actor"] for e in entries}
    assert "token:responder" in actors and "token:admin" in actors, actors
    inc_entries = [e for e in entries if e["object_type"] == "incident"]
    assert inc_entries, f"incident actions must be audited: {entries}"
    assert any(e["actor"] == "token:responder" for e in inc_entries), inc_entries
    r = tocsin.get("/api/v1/audit", params={"limit": 1}).json()
    assert len(r["entries"]) == 1 and r["next_cursor"]


@pytest.mark.parametrize("params", [{"limit": "abc"}, {"limit": 0}, {"limit": 501}, {"cursor": "garbage!!"}])
def test_bad_list_parameters(tocsin, params):
    """A bad query parameter is 400 invalid_parameter naming it (there is no
    body, so neither malformed_json nor invalid_field applies)."""
    tocsin.trigger(shop())
    for path in ("/api/v1/incidents", "/api/v1/alerts"):
        r = tocsin.get(path, params=params)
        error_of(r, 400, "invalid_parameter", list(params)[0])


def test_acknowledged_incident_still_absorbs(tocsin):
    a = tocsin.trigger(shop(host="w1"))
    iid = a["incident_ids"][0]
    assert tocsin.post(f"/api/v1/incidents/{iid}/acknowledge").status_code == 200
    b = tocsin.trigger(shop(host="w2"))
    assert b["incident_ids"] == [iid]
    inc = tocsin.incident(iid)
    assert inc["status"] == "acknowledged" and inc["alert_count"] == 2 and inc["open_alert_count"] == 2


WINDOW_ROUTES = """\
routes:
  - match:
      service: shop
    group_by: [service, alertname]
    group_window: 2s
    service: shop
  - match:
      team: db
    group_by: [team]
    service: billing
    continue: true
  - match:
      tier: storage
    group_by: [tier]
    service: shop
"""


def test_group_window(tocsin_factory):
    t = tocsin_factory(routes=WINDOW_ROUTES)
    a = t.trigger(shop(host="w1"))
    b = t.trigger(shop(host="w2"))
    assert a["incident_ids"] == b["incident_ids"], "inside the window: same incident"
    import time
    time.sleep(3.0)
    c = t.trigger(shop(host="w3"))
    assert c["incident_ids"] != a["incident_ids"], \
        "the group's last alert joined more than group_window ago: a new incident"
    assert t.incident(a["incident_ids"][0])["status"] == "triggered"
    # a repeat of an alert already in the old incident stays with its alert (dedup), not moved
    d = t.trigger(shop(host="w1"))
    assert d["alert_id"] == a["alert_id"] and d["outcome"] == "updated"


def test_route_continue_two_incidents(tocsin_factory):
    t = tocsin_factory(routes=WINDOW_ROUTES)
    r = t.trigger({"alertname": "DiskSlow", "team": "db", "tier": "storage"})
    assert len(r["incident_ids"]) == 2, r
    services = sorted(t.incident(i)["service"] for i in r["incident_ids"])
    assert services == ["billing", "shop"]
    assert sorted(t.alert(r["alert_id"])["incident_ids"]) == sorted(r["incident_ids"])
    # resolving the alert resolves both incidents
    t.post_event({"labels": {"alertname": "DiskSlow", "team": "db", "tier": "storage"}, "action": "resolve"})
    for i in r["incident_ids"]:
        inc = t.incident(i)
        assert inc["status"] == "resolved" and inc["resolved_by"] == "tocsin"


def test_concurrent_triggers_one_alert(tocsin):
    import threading
    import requests
    from conftest import GENERIC_KEY
    lb = shop(alertname="Race", host="r1")
    out, lock = [], threading.Lock()
    barrier = threading.Barrier(16)

    def worker():
        s = requests.Session()
        barrier.wait()
        r = s.post(tocsin.url + "/api/v1/events", json={"labels": lb, "summary": "race", "severity": "error"},
                   headers={"Authorization": f"Bearer {GENERIC_KEY}"}, timeout=15)
        with lock:
            out.append((r.status_code, r.json()))

    ths = [threading.Thread(target=worker) for _ in range(16)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(30)
    assert all(code == 202 for code, _ in out), out
    res = [b["results"][0] for _, b in out]
    assert sorted(x["outcome"] for x in res).count("created") == 1, res
    assert len({x["alert_id"] for x in res}) == 1
    assert len({tuple(x["incident_ids"]) for x in res}) == 1
    al = tocsin.alerts()
    assert len(al) == 1 and al[0]["count"] == 16


def test_method_not_allowed_on_api(tocsin):
    iid = tocsin.trigger(shop())["incident_ids"][0]
    r = tocsin.get(f"/api/v1/incidents/{iid}/acknowledge")
    error_of(r, 405, "method_not_allowed")
    assert "POST" in r.headers.get("Allow", "")
    r = tocsin.req("DELETE", f"/api/v1/incidents/{iid}", token=ADMIN_TOKEN)
    error_of(r, 405, "method_not_allowed")
    assert "GET" in r.headers.get("Allow", "")
    assert tocsin.incident(iid)["status"] == "triggered"
