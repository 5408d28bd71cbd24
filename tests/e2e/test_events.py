"""POST /api/v1/events: Tocsin's own intake format."""
import json
import re

import pytest

from conftest import (ADMIN_TOKEN, AM_KEY, GENERIC_KEY, OTHER_GENERIC_KEY, PD_KEY, error_of,
                      fingerprint, parse_ts)

HEX16 = re.compile(r"^[0-9a-f]{16}$")


def labels(**kw):
    base = {"service": "shop", "alertname": "DiskFull", "host": "web1"}
    base.update(kw)
    return base


def test_single_event_creates_alert_and_incident(tocsin):
    lb = labels()
    r = tocsin.post_event({"labels": lb, "summary": "Disk 95% on web1", "severity": "critical",
                           "source": "web1.example", "details": {"used": "95%"},
                           "links": [{"href": "https://runbooks/disk", "text": "runbook"}]})
    body = r.json()
    assert body["status"] == "accepted"
    assert len(body["results"]) == 1
    res = body["results"][0]
    assert res["outcome"] == "created"
    assert isinstance(res["alert_id"], int)
    assert res["dedup_key"] == fingerprint(lb)
    assert isinstance(res["incident_ids"], list) and len(res["incident_ids"]) == 1

    a = tocsin.alert(res["alert_id"])
    assert a["id"] == res["alert_id"]
    assert a["integration"] == "scripts"
    assert a["dedup_key"] == fingerprint(lb)
    assert a["status"] == "firing"
    assert a["severity"] == "critical"
    assert a["summary"] == "Disk 95% on web1"
    assert a["source"] == "web1.example"
    assert a["labels"] == lb
    assert a["details"] == {"used": "95%"}
    assert a["links"] and a["links"][0]["href"] == "https://runbooks/disk"
    assert a["count"] == 1
    assert a["incident_ids"] == res["incident_ids"]
    parse_ts(a["first_seen"])
    parse_ts(a["last_seen"])
    assert a["resolved_at"] is None and a["acknowledged_at"] is None
    assert isinstance(a["log"], list) and a["log"], "alert log must record the trigger"

    inc = tocsin.incident(res["incident_ids"][0])
    assert inc["status"] == "triggered"
    assert [x["id"] for x in inc["alerts"]] == [res["alert_id"]]


def test_array_of_events(tocsin):
    evs = [{"labels": labels(host=f"h{i}"), "summary": f"s{i}", "severity": "warning"} for i in range(3)]
    body = tocsin.post_event(evs).json()
    assert body["status"] == "accepted"
    res = body["results"]
    assert len(res) == 3
    assert [x["dedup_key"] for x in res] == [fingerprint(e["labels"]) for e in evs]
    assert all(x["outcome"] == "created" for x in res)
    assert len({x["alert_id"] for x in res}) == 3
    stored = {a["dedup_key"]: a for a in tocsin.alerts()}
    for e, x in zip(evs, res):
        assert stored[x["dedup_key"]]["summary"] == e["summary"]
        assert stored[x["dedup_key"]]["id"] == x["alert_id"]


def test_x_tocsin_key_header(tocsin):
    r = tocsin.req("POST", "/api/v1/events", headers={"X-Tocsin-Key": GENERIC_KEY},
                   json={"labels": labels(), "summary": "x", "severity": "info"})
    assert r.status_code == 202, r.text
    assert r.json()["results"][0]["outcome"] == "created"
    assert len(tocsin.alerts()) == 1


def test_dedup_same_labels(tocsin):
    lb = labels()
    a = tocsin.trigger(lb, summary="first")
    b = tocsin.trigger(lb, summary="second")
    assert a["outcome"] == "created"
    assert b["outcome"] == "updated"
    assert a["alert_id"] == b["alert_id"]
    assert a["dedup_key"] == b["dedup_key"] == fingerprint(lb)
    al = tocsin.alert(a["alert_id"])
    assert al["count"] == 2
    assert al["summary"] == "second", "the latest summary should win"
    assert parse_ts(al["last_seen"]) >= parse_ts(al["first_seen"])
    assert len(tocsin.alerts()) == 1


def test_default_dedup_key_is_stable_fingerprint(tocsin):
    # Label order in the JSON object must not matter.
    lb1 = {"b": "2", "a": "1", "alertname": "X"}
    lb2 = {"alertname": "X", "a": "1", "b": "2"}
    a = tocsin.trigger(lb1)
    b = tocsin.trigger(lb2)
    assert HEX16.match(a["dedup_key"]), a
    assert a["dedup_key"] == b["dedup_key"] == fingerprint(lb1)
    assert a["alert_id"] == b["alert_id"]
    # Known value, computed independently (Alertmanager's algorithm).
    assert fingerprint({}) == "cbf29ce484222325"


def test_explicit_dedup_key(tocsin):
    a = tocsin.trigger(labels(host="a"), dedup_key="db/replication-lag")
    b = tocsin.trigger(labels(host="b"), dedup_key="db/replication-lag")
    assert a["dedup_key"] == b["dedup_key"] == "db/replication-lag"
    assert a["alert_id"] == b["alert_id"] and b["outcome"] == "updated"
    al = tocsin.alert(a["alert_id"])
    assert al["dedup_key"] == "db/replication-lag"
    assert al["count"] == 2


def test_dedup_key_scoped_per_integration(tocsin):
    a = tocsin.trigger(labels(), dedup_key="same-key")
    r = tocsin.post_event({"labels": labels(), "summary": "x", "severity": "info",
                           "dedup_key": "same-key"}, key=OTHER_GENERIC_KEY)
    b = r.json()["results"][0]
    assert b["outcome"] == "created"
    assert b["alert_id"] != a["alert_id"]
    keys = sorted((x["integration"], x["dedup_key"]) for x in tocsin.alerts())
    assert keys == [("batch", "same-key"), ("scripts", "same-key")]


def test_resolve_then_trigger_opens_new_alert(tocsin):
    a = tocsin.trigger(labels(), dedup_key="k1")
    r = tocsin.post_event({"dedup_key": "k1", "action": "resolve"}).json()["results"][0]
    assert r["outcome"] == "resolved"
    assert r["alert_id"] == a["alert_id"]
    al = tocsin.alert(a["alert_id"])
    assert al["status"] == "resolved"
    assert al["resolved_by"] == "integration:scripts"
    parse_ts(al["resolved_at"])

    c = tocsin.trigger(labels(), dedup_key="k1")
    assert c["outcome"] == "created"
    assert c["alert_id"] != a["alert_id"]
    assert tocsin.alert(c["alert_id"])["status"] == "firing"
    assert tocsin.alert(a["alert_id"])["status"] == "resolved"
    assert len(tocsin.alerts_by_key("k1")) == 2


def test_resolve_by_labels(tocsin):
    lb = labels(host="by-labels")
    a = tocsin.trigger(lb)
    r = tocsin.post_event({"labels": lb, "action": "resolve"}).json()["results"][0]
    assert r["outcome"] == "resolved" and r["alert_id"] == a["alert_id"]
    assert tocsin.alert(a["alert_id"])["status"] == "resolved"


def test_acknowledge(tocsin):
    a = tocsin.trigger(labels(), dedup_key="ack-me")
    r = tocsin.post_event({"dedup_key": "ack-me", "action": "acknowledge"}).json()["results"][0]
    assert r["outcome"] == "acknowledged"
    assert r["alert_id"] == a["alert_id"]
    al = tocsin.alert(a["alert_id"])
    assert al["status"] == "acknowledged"
    assert al["acknowledged_by"] == "integration:scripts"
    parse_ts(al["acknowledged_at"])


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_ack_resolve_unknown_key_dropped(tocsin, action):
    r = tocsin.post_event({"dedup_key": "never-seen", "action": action})
    res = r.json()["results"][0]
    assert res["outcome"] == "dropped"
    assert res["alert_id"] is None
    assert res["dedup_key"] == "never-seen"
    assert tocsin.alerts() == []
    assert tocsin.incidents() == []


def test_ack_of_resolved_alert_dropped(tocsin):
    a = tocsin.trigger(labels(), dedup_key="done")
    tocsin.post_event({"dedup_key": "done", "action": "resolve"})
    res = tocsin.post_event({"dedup_key": "done", "action": "acknowledge"}).json()["results"][0]
    assert res["outcome"] == "dropped" and res["alert_id"] is None
    al = tocsin.alert(a["alert_id"])
    assert al["status"] == "resolved" and al["acknowledged_at"] is None


def test_severity_change_recorded(tocsin):
    a = tocsin.trigger(labels(), severity="warning", dedup_key="sev")
    b = tocsin.trigger(labels(), severity="critical", dedup_key="sev")
    assert b["alert_id"] == a["alert_id"]
    al = tocsin.alert(a["alert_id"])
    assert al["severity"] == "critical"
    inc = tocsin.incident(a["incident_ids"][0])
    assert inc["severity"] == "critical"
    kinds = [e["kind"] for e in inc["timeline"]]
    log_kinds = [e["kind"] for e in al["log"]]
    assert "severity_changed" in kinds or "severity_changed" in log_kinds, (kinds, log_kinds)
    assert "severity_changed" in kinds, f"incident timeline lacks severity_changed: {kinds}"


def test_content_types_accepted(tocsin):
    body = json.dumps({"labels": labels(host="ct1"), "summary": "x", "severity": "info"})
    for ct in ("application/json; charset=utf-8", "text/plain"):
        r = tocsin.req("POST", "/api/v1/events", key=GENERIC_KEY, data=body,
                       headers={"Content-Type": ct})
        assert r.status_code == 202, (ct, r.status_code, r.text)
    # absent Content-Type
    r = tocsin.req("POST", "/api/v1/events", key=GENERIC_KEY, data=body.encode())
    assert r.status_code == 202, r.text
    assert len(tocsin.alerts()) == 1


# --- rejections: nothing may be stored ----------------------------------------------------
def assert_nothing_stored(t):
    assert t.alerts() == [], "a rejected request must store nothing"
    assert t.incidents() == []


def post_raw(t, data, key=GENERIC_KEY, ct="application/json", headers=None):
    h = {"Content-Type": ct} if ct else {}
    h.update(headers or {})
    return t.req("POST", "/api/v1/events", key=key, data=data, headers=h)


def test_malformed_json(tocsin):
    for data in ('{"labels": {', "not json", "", "[1,2", '{"a":1}}'):
        r = post_raw(tocsin, data)
        error_of(r, 400, "malformed_json")
    assert_nothing_stored(tocsin)


def test_wrong_type_object_field_path(tocsin):
    r = tocsin.post_event({"labels": {"host": 5}, "summary": "x", "severity": "info"}, expect=None)
    error_of(r, 422, "invalid_field", "labels.host")
    r = tocsin.post_event({"labels": labels(), "summary": 12, "severity": "info"}, expect=None)
    error_of(r, 422, "invalid_field", "summary")
    r = tocsin.post_event({"labels": "a=b", "summary": "x"}, expect=None)
    error_of(r, 422, "invalid_field", "labels")
    assert_nothing_stored(tocsin)


def test_wrong_type_in_array_names_index(tocsin):
    good = {"labels": labels(host="good"), "summary": "ok", "severity": "info"}
    bad = {"labels": {"host": 5, "alertname": "X"}, "summary": "bad", "severity": "info"}
    r = tocsin.post_event([good, bad], expect=None)
    error_of(r, 422, "invalid_field", "[1].labels.host")
    # the good event of the batch must not be stored either (all or nothing)
    assert_nothing_stored(tocsin)


def test_missing_summary_on_trigger(tocsin):
    r = tocsin.post_event({"labels": labels(), "severity": "critical"}, expect=None)
    error_of(r, 422, "invalid_field", "summary")
    r = tocsin.post_event([{"labels": labels(), "summary": "ok"}, {"labels": labels(host="z")}],
                          expect=None)
    error_of(r, 422, "invalid_field", "[1].summary")
    assert_nothing_stored(tocsin)


def test_bad_severity_and_action(tocsin):
    r = tocsin.post_event({"labels": labels(), "summary": "x", "severity": "urgent"}, expect=None)
    error_of(r, 422, "invalid_field", "severity")
    r = tocsin.post_event({"labels": labels(), "summary": "x", "action": "explode"}, expect=None)
    error_of(r, 422, "invalid_field", "action")
    r = tocsin.post_event({"summary": "no labels and no dedup key"}, expect=None)
    error_of(r, 422, "invalid_field")
    assert_nothing_stored(tocsin)


def test_too_many_events(tocsin):
    evs = [{"labels": labels(host=f"h{i}"), "summary": "x", "severity": "info"} for i in range(1001)]
    r = tocsin.post_event(evs, expect=None)
    error_of(r, 413)
    assert_nothing_stored(tocsin)
    # exactly 1000 is fine
    r = tocsin.post_event(evs[:1000], expect=None)
    assert r.status_code == 202, r.text[:500]
    assert len(r.json()["results"]) == 1000


def test_body_larger_than_max_body_bytes(tocsin_factory):
    t = tocsin_factory(max_body_bytes=4096)
    big = {"labels": labels(), "summary": "x", "severity": "info", "details": {"blob": "y" * 5000}}
    r = t.post_event(big, expect=None)
    error_of(r, 413, "body_too_large")
    assert_nothing_stored(t)
    small = {"labels": labels(), "summary": "x", "severity": "info", "details": {"blob": "y" * 1000}}
    assert t.post_event(small, expect=None).status_code == 202


def test_unsupported_content_type(tocsin):
    r = post_raw(tocsin, "<event/>", ct="application/xml")
    error_of(r, 415, "unsupported_media_type")
    r = post_raw(tocsin, json.dumps({"labels": labels(), "summary": "x"}), ct="application/xml")
    error_of(r, 415, "unsupported_media_type")
    assert_nothing_stored(tocsin)


def test_auth_failures(tocsin):
    ev = {"labels": labels(), "summary": "x", "severity": "info"}
    r = tocsin.req("POST", "/api/v1/events", json=ev)
    error_of(r, 401, "missing_credentials")
    r = tocsin.req("POST", "/api/v1/events", key="x" * 32, json=ev)
    error_of(r, 403, "unknown_key")
    r = tocsin.req("POST", "/api/v1/events", headers={"X-Tocsin-Key": "nope"}, json=ev)
    error_of(r, 403, "unknown_key")
    for k in (PD_KEY, AM_KEY):
        r = tocsin.req("POST", "/api/v1/events", key=k, json=ev)
        error_of(r, 403, "wrong_integration_type")
    # an API token is not an integration key
    r = tocsin.req("POST", "/api/v1/events", key=ADMIN_TOKEN, json=ev)
    assert r.status_code in (401, 403), r.text
    assert_nothing_stored(tocsin)


def test_method_not_allowed(tocsin):
    r = tocsin.req("GET", "/api/v1/events", key=GENERIC_KEY)
    error_of(r, 405, "method_not_allowed")
    assert "POST" in r.headers.get("Allow", ""), r.headers


def test_too_many_events_error_code(tocsin):
    """A batch over 1000 events is 413 too_many_events (a body over the byte
    limit is 413 body_too_large): the code says which limit was hit."""
    evs = [{"labels": labels(host=f"h{i}"), "summary": "x"} for i in range(1001)]
    r = tocsin.post_event(evs, expect=None)
    error_of(r, 413, "too_many_events")
    assert "1000" in r.json()["error"]["message"]


# --- hostile inputs: answered cleanly, never a crash (the sanitizer scan runs at teardown) ---
def test_limits_on_labels_and_strings(tocsin):
    r = tocsin.post_event({"labels": labels(host="h" * 1025), "summary": "x"}, expect=None)
    error_of(r, 422, "invalid_field", "labels.host")
    many = {f"l{i}": "v" for i in range(65)}
    many["alertname"] = "Many"
    r = tocsin.post_event({"labels": many, "summary": "x"}, expect=None)
    error_of(r, 422, "invalid_field")
    r = tocsin.post_event({"labels": labels(), "summary": "s" * 1025}, expect=None)
    error_of(r, 422, "invalid_field", "summary")
    r = tocsin.post_event({"labels": labels(), "summary": "x", "dedup_key": "k" * 256}, expect=None)
    error_of(r, 422, "invalid_field", "dedup_key")
    r = tocsin.post_event({"labels": labels(), "summary": "x", "timestamp": "last tuesday"}, expect=None)
    error_of(r, 422, "invalid_field", "timestamp")
    r = tocsin.post_event([], expect=None)
    error_of(r, 422, "invalid_field")
    assert_nothing_stored(tocsin)
    # the boundaries themselves are fine
    ok = tocsin.post_event({"labels": labels(host="h" * 1024), "summary": "s" * 1024,
                            "dedup_key": "k" * 255}).json()["results"][0]
    a = tocsin.alert(ok["alert_id"])
    assert a["summary"] == "s" * 1024 and a["dedup_key"] == "k" * 255 and a["labels"]["host"] == "h" * 1024


def test_deep_and_odd_json(tocsin):
    deep = "[" * 100000 + "]" * 100000
    r = post_raw(tocsin, deep)
    assert r.status_code in (400, 422), r.status_code
    r = post_raw(tocsin, '{"labels": {"a": "\\u0000b", "alertname": "Nul"}, "summary": "x\\u0000y"}')
    # Rejecting NUL (jansson refuses it) or keeping it are both fine; truncating is not.
    assert r.status_code in (202, 400, 422), r.text
    if r.status_code == 202:
        a = tocsin.alert(r.json()["results"][0]["alert_id"])
        assert a["summary"] == "x\x00y", "a NUL inside a string must not truncate it silently"
    r = post_raw(tocsin, b'{"labels": {"alertname": "\xff\xfe"}, "summary": "bad utf-8"}')
    error_of(r, 400, "malformed_json")
    r = post_raw(tocsin, '{"labels": {"alertname": "Dup"}, "summary": "x", "details": {"n": 1e999}}')
    assert r.status_code in (202, 400, 422), r.text


def test_chunked_body_over_limit(tocsin_factory):
    t = tocsin_factory(max_body_bytes=4096)

    def gen():
        yield b'{"labels": {"alertname": "Chunky"}, "summary": "x", "details": "'
        for _ in range(20):
            yield b"y" * 1000
        yield b'"}'

    r = t.req("POST", "/api/v1/events", key=GENERIC_KEY, data=gen(),
              headers={"Content-Type": "application/json"})
    error_of(r, 413, "body_too_large")
    assert_nothing_stored(t)

    def small():
        yield b'{"labels": {"alertname": "Chunky"}, '
        yield b'"summary": "x"}'

    r = t.req("POST", "/api/v1/events", key=GENERIC_KEY, data=small(),
              headers={"Content-Type": "application/json"})
    assert r.status_code == 202, r.text


def test_large_batch_just_under_default_limit(tocsin):
    # ~900 KiB, under the 1 MiB default
    evs = [{"labels": labels(host=f"h{i}"), "summary": "x" * 900, "severity": "info"} for i in range(1000)]
    r = tocsin.post_event(evs, expect=None)
    assert r.status_code == 202, r.text[:300]
    assert len(tocsin.alerts()) == 1000
    # over 1 MiB: 413 whatever the event count
    evs = [{"labels": labels(host=f"h{i}"), "summary": "x" * 1000, "details": "d" * 200} for i in range(1000)]
    error_of(tocsin.post_event(evs, expect=None), 413, "body_too_large")
