"""On call, decision side: escalation timing, ack/escalate/assign, ack
timeouts, kill -9 during escalation, schedules and overrides over the API,
iCal feeds, and the `tocsin oncall` CLI."""
import datetime as dt
import subprocess
import time
import zoneinfo

import pytest

from conftest import (RESPONDER_TOKEN, TOCSIN_BIN, VIEWER_TOKEN, config_text, error_of,
                      free_port, parse_ts, sanitizer_env, wait_for)
from oncall_util import Hook, notifications, raise_incident, routes_for, timeline

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
UTC = dt.timezone.utc


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def key_of(req):
    return req["headers"].get("idempotency-key")


USERS = ["anna", "ben", "carl", "dora"]


def esc_config(hook_url, levels, repeat=0, repeat_after="15m", ack_timeout=None, contact=None,
               users=USERS, extra=""):
    contact = contact or "[{channel: hook}]"
    ulines = "".join(f"  - {{name: {u}, email: {u}@example.org, contact: {contact}}}\n" for u in users)
    at = f"    ack_timeout: {ack_timeout}\n" if ack_timeout else ""
    return config_text(routes=routes_for("ops"), extra=f"""\
users:
{ulines}schedules:
  - name: prim
    time_zone: Europe/Berlin
    layers:
      - {{users: [anna], rotation: 1w, handoff: "09:00", start: 2026-01-05}}
escalation_policies:
  - name: ops
    repeat: {repeat}
    repeat_after: {repeat_after}
{at}    levels:
{levels}channels:
  - {{name: hook, type: webhook, url: "{hook_url}", retry_min: 200ms, retry_max: 400ms}}
{extra}""")


def pages(hook):
    """(t, user, kind, level, round, key) of every 200-answered delivery."""
    return [(r["t"], r["json"]["user"], r["json"]["kind"], r["json"]["level"], r["json"]["round"],
             key_of(r)) for r in hook.ok()]


# --- 3. escalation -----------------------------------------------------------------------
def test_escalation_order_timing_and_repeat(tocsin_factory, hook):
    levels = ('      - {delay: 0, targets: ["schedule:prim"]}\n'
              '      - {delay: 2s, targets: ["user:ben"]}\n')
    t = tocsin_factory(text=esc_config(hook.url + "/h", levels, repeat=1, repeat_after="2s"))
    inc = raise_incident(t, "esc1")
    t0 = parse_ts(t.incident(inc)["created_at"])
    wait_for(lambda: len(hook.ok()) >= 4, timeout=12, what="4 pages")
    time.sleep(2.5)  # the policy is done: nothing more
    got = pages(hook)
    assert [(u, k, lv, rd) for _, u, k, lv, rd, _ in got] == [
        ("anna", "incident.triggered", 1, 1),
        ("ben", "incident.escalated", 2, 1),
        ("anna", "incident.escalated", 1, 2),
        ("ben", "incident.escalated", 2, 2),
    ], got
    for (at, *_), want in zip(got, [0, 2, 4, 6]):
        assert want - 0.2 <= at - t0 <= want + 1.5, \
            f"page expected {want}s after the incident, came at {at - t0:.2f}s: {got}"
    assert len({g[5] for g in got}) == 4
    esc = [e for e in timeline(t, inc, "escalated")]
    assert [e["text"] for e in esc] == [
        "level 1 of policy ops: paging anna (prim)",
        "level 2 of policy ops: paging ben (user)",
        "level 1 of policy ops (repeat): paging anna (prim)",
        "level 2 of policy ops (repeat): paging ben (user)",
    ]
    e = t.incident(inc)["escalation"]
    assert e["policy"] == "ops" and e["next_at"] is None, e


def test_ack_stops_escalation_and_cancels_pending(tocsin_factory, hook):
    levels = ('      - {delay: 0, targets: ["user:anna"]}\n'
              '      - {delay: 2s, targets: ["user:ben"]}\n')
    t = tocsin_factory(text=esc_config(hook.url + "/h", levels,
                                       contact="[{channel: hook}, {channel: hook, after: 3s}]"))
    inc = raise_incident(t, "esc-ack")
    wait_for(lambda: hook.ok(), what="first page")
    r = t.post(f"/api/v1/incidents/{inc}/acknowledge", {}, token=RESPONDER_TOKEN)
    assert r.status_code == 200, r.text
    got = t.incident(inc)
    assert got["status"] == "acknowledged"
    assert got["escalation"]["next_at"] is None, got["escalation"]
    canc = [e for e in got["timeline"] if e["kind"] == "notifications_cancelled"]
    assert len(canc) == 1 and canc[0]["text"] == "1 pending notification cancelled", canc
    rows = notifications(t, incident=inc)
    assert sorted(n["status"] for n in rows) == ["cancelled", "delivered"], rows
    assert [n["idempotency_key"] for n in rows if n["status"] == "cancelled"][0].endswith("-anna-c1")
    time.sleep(3.5)  # past level 2 (2s) and the 3s contact rule
    assert [(p[1], p[2]) for p in pages(hook)] == [("anna", "incident.triggered")]
    assert len(hook.snapshot()) == 1
    assert got["assignee"] == "token:responder", got["assignee"]


def test_escalate_now_fires_next_level(tocsin_factory, hook):
    levels = ('      - {delay: 0, targets: ["user:anna"]}\n'
              '      - {delay: 1h, targets: ["user:ben"]}\n'
              '      - {delay: 1h, targets: ["user:carl"]}\n')
    t = tocsin_factory(text=esc_config(hook.url + "/h", levels))
    inc = raise_incident(t, "esc-now")
    wait_for(lambda: hook.ok(), what="first page")
    assert t.incident(inc)["escalation"]["next_level"] == 2
    t1 = time.time()
    r = t.post(f"/api/v1/incidents/{inc}/escalate", {}, token=RESPONDER_TOKEN)
    assert r.status_code == 200, r.text
    assert r.json()["escalation"]["next_level"] == 3, r.json()["escalation"]
    wait_for(lambda: len(hook.ok()) == 2, timeout=3, what="level 2 page")
    p = pages(hook)[1]
    assert p[1:4] == ("ben", "incident.escalated", 2) and p[0] - t1 < 1.5, p
    esc = timeline(t, inc, "escalated")
    assert esc[-1]["actor"] == "token:responder" and "paging ben" in esc[-1]["text"], esc[-1]
    # an explicit level
    r = t.post(f"/api/v1/incidents/{inc}/escalate", {"level": 3}, token=RESPONDER_TOKEN)
    assert r.status_code == 200, r.text
    wait_for(lambda: len(hook.ok()) == 3, timeout=3, what="level 3 page")
    assert pages(hook)[2][1:4] == ("carl", "incident.escalated", 3)
    error_of(t.post(f"/api/v1/incidents/{inc}/escalate", {"level": 4}, token=RESPONDER_TOKEN), 409)
    error_of(t.post(f"/api/v1/incidents/{inc}/escalate", {"level": 0}, token=RESPONDER_TOKEN), 422,
             field="level")
    error_of(t.post(f"/api/v1/incidents/{inc}/escalate", {"level": "2"}, token=RESPONDER_TOKEN), 422,
             field="level")
    error_of(t.post(f"/api/v1/incidents/{inc}/escalate", {}, token=VIEWER_TOKEN), 403)
    error_of(t.post("/api/v1/incidents/9999/escalate", {}, token=RESPONDER_TOKEN), 404)


def test_escalate_to_a_level_again_pages_again(tocsin_factory, hook):
    """Escalating to level 1 twice pages level 1 twice (the timeline says so)."""
    levels = ('      - {delay: 0, targets: ["user:anna"]}\n'
              '      - {delay: 1h, targets: ["user:ben"]}\n')
    t = tocsin_factory(text=esc_config(hook.url + "/h", levels))
    inc = raise_incident(t, "esc-again")
    wait_for(lambda: hook.ok(), what="first page")
    for _ in range(2):
        r = t.post(f"/api/v1/incidents/{inc}/escalate", {"level": 1}, token=RESPONDER_TOKEN)
        assert r.status_code == 200, r.text
    assert len(timeline(t, inc, "escalated")) == 3
    time.sleep(1.5)
    assert [p[1] for p in pages(hook)] == ["anna", "anna", "anna"], pages(hook)


def test_assign_pages_the_assignee(tocsin_factory, hook):
    levels = '      - {delay: 0, targets: ["user:anna"]}\n'
    t = tocsin_factory(text=esc_config(hook.url + "/h", levels))
    inc = raise_incident(t, "esc-assign")
    wait_for(lambda: hook.ok(), what="first page")
    r = t.post(f"/api/v1/incidents/{inc}/acknowledge", {}, token=RESPONDER_TOKEN)
    assert r.status_code == 200
    r = t.post(f"/api/v1/incidents/{inc}/assign", {"user": "dora"}, token=RESPONDER_TOKEN)
    assert r.status_code == 200, r.text
    assert r.json()["assignee"] == "dora"
    wait_for(lambda: len(hook.ok()) == 2, timeout=3, what="the assignee's page")
    p = hook.ok()[1]["json"]
    assert p["user"] == "dora" and p["kind"] == "incident.assigned", p
    assert "/a/" in p["links"]["acknowledge"]
    tl = timeline(t, inc, "assigned")
    assert len(tl) == 1 and tl[0]["text"] == "assigned to dora by token:responder", tl
    assert t.incident(inc)["assignee"] == "dora"
    error_of(t.post(f"/api/v1/incidents/{inc}/assign", {"user": "nobody"}, token=RESPONDER_TOKEN),
             422, field="user")
    error_of(t.post(f"/api/v1/incidents/{inc}/assign", {}, token=RESPONDER_TOKEN), 422, field="user")


def test_ack_timeout_returns_to_triggered_and_pages_again(tocsin_factory, hook):
    levels = '      - {delay: 0, targets: ["user:anna"]}\n'
    t = tocsin_factory(text=esc_config(hook.url + "/h", levels, ack_timeout="2s"))
    inc = raise_incident(t, "esc-timeout")
    wait_for(lambda: hook.ok(), what="first page")
    r = t.post(f"/api/v1/incidents/{inc}/acknowledge", {}, token=RESPONDER_TOKEN)
    assert r.status_code == 200
    got = r.json()
    assert got["status"] == "acknowledged" and got["acknowledged_until"] is not None, got
    t_ack = time.time()
    wait_for(lambda: t.incident(inc)["status"] == "triggered", timeout=5,
             what="the acknowledgement to expire")
    assert time.time() - t_ack >= 1.8
    assert len(timeline(t, inc, "acknowledgement_expired")) == 1
    assert len(timeline(t, inc, "escalated")) == 2
    wait_for(lambda: len(hook.ok()) >= 2, timeout=4, what="the second page after the expiry")
    assert [p[1] for p in pages(hook)] == ["anna", "anna"]


# --- 4. kill -9 during escalation --------------------------------------------------------
def test_kill9_during_escalation_fires_each_level_once(tocsin_factory, hook):
    levels = ('      - {delay: 0, targets: ["user:anna"]}\n'
              '      - {delay: 1s, targets: ["user:ben"]}\n'
              '      - {delay: 1s, targets: ["user:carl"]}\n'
              '      - {delay: 1s, targets: ["user:dora"]}\n')
    t = tocsin_factory(text=esc_config(hook.url + "/h", levels))
    incs = [raise_incident(t, f"crash{i}") for i in range(3)]
    wait_for(lambda: sum(1 for p in pages(hook) if p[1] == "ben") >= 1, timeout=5,
             what="level 2 under way")
    t.kill()
    killed_at = time.time()
    n_before = len(hook.snapshot())
    time.sleep(2.5)  # levels 3 and 4 fall due while the server is down
    assert len(hook.snapshot()) == n_before
    t.start()
    want = len(incs) * 4
    wait_for(lambda: len({p[5] for p in pages(hook)}) >= want, timeout=10,
             what=f"{want} distinct notifications")
    time.sleep(1.0)
    got = pages(hook)
    by_key = {}
    for p in got:
        by_key.setdefault(p[5], []).append(p)
    assert len(by_key) == want, sorted(by_key)
    pairs = {}
    for k, ps in by_key.items():
        inc_id = [r["json"]["incident"]["id"] for r in hook.ok() if key_of(r) == k][0]
        pair = (inc_id, ps[0][3], ps[0][1])
        assert pair not in pairs, f"{pair} under two keys: {k} and {pairs[pair]}"
        pairs[pair] = k
        # a repeat is only acceptable for a delivery in flight at the kill
        assert len(ps) == 1 or (len(ps) == 2 and ps[0][0] <= killed_at + 0.1), (k, ps)
    assert set(pairs) == {(i, lv + 1, u) for i in incs for lv, u in enumerate(USERS)}, sorted(pairs)
    for i in incs:
        esc = timeline(t, i, "escalated")
        assert [e["data"]["level"] for e in esc] == [1, 2, 3, 4], [e["text"] for e in esc]
        rows = notifications(t, incident=i)
        assert len(rows) == 4 and all(r["status"] == "delivered" for r in rows), rows


# --- 5. schedules over the API -----------------------------------------------------------
ROT = ["anna", "ben", "carl"]
START = dt.datetime(2026, 10, 5, 9, 0)  # Monday, local Berlin time


def expected_oncall(at_utc):
    local = at_utc.astimezone(BERLIN).replace(tzinfo=None)
    if local < START:
        return None
    k = (local - START).days // 7
    return ROT[k % 3]


def handoff_utc(k):
    return (START + dt.timedelta(days=7 * k)).replace(tzinfo=BERLIN).astimezone(UTC)


def z(d):
    return d.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def sched_config():
    return config_text(routes=routes_for(), extra="""\
users:
  - {name: anna, email: anna@example.org}
  - {name: ben, email: ben@example.org}
  - {name: carl, email: carl@example.org}
  - {name: dora, email: dora@example.org}
schedules:
  - name: ops-primary
    time_zone: Europe/Berlin
    layers:
      - {name: weekly, users: [anna, ben, carl], rotation: 1w, handoff: "09:00", start: 2026-10-05}
  - name: db
    time_zone: UTC
    layers:
      - {users: [dora], rotation: 1d, start: 2026-01-01}
escalation_policies:
  - name: ops
    levels:
      - {delay: 0, targets: ["schedule:ops-primary"]}
      - {delay: 5m, targets: ["user:dora"]}
""")


AT_CASES = [
    "2026-10-05T06:59:59Z", "2026-10-05T07:00:00Z", "2026-10-12T06:59:59Z", "2026-10-12T07:00:00Z",
    "2026-10-19T07:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z",
    "2026-10-26T07:00:00Z", "2026-10-26T07:59:59Z", "2026-10-26T08:00:00Z",
    "2026-11-10T12:00:00Z", "2027-03-29T06:59:59Z", "2027-03-29T07:00:00Z",
]


def test_oncall_at_weekly_rotation_across_dst(tocsin_factory):
    t = tocsin_factory(text=sched_config())
    for s in AT_CASES:
        at = dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        body = t.get_json(f"/api/v1/oncall?schedule=ops-primary&at={s}")
        assert [x["name"] for x in body["schedules"]] == ["ops-primary"]
        sch = body["schedules"][0]
        want = expected_oncall(at)
        if want is None:
            assert sch["oncall"] is None, (s, sch)
            assert sch["next"] == {"user": "anna", "from": z(handoff_utc(0))}, (s, sch)
            continue
        assert sch["oncall"]["user"] == want, (s, sch, want)
        assert sch["oncall"]["layer"] == "weekly"
        local = at.astimezone(BERLIN).replace(tzinfo=None)
        k = (local - START).days // 7
        assert sch["oncall"]["until"] == z(handoff_utc(k + 1)), (s, sch)
        assert sch["next"]["user"] == ROT[(k + 1) % 3], (s, sch)
    body = t.get_json("/api/v1/oncall?at=2026-11-10T12:00:00Z")
    assert [x["name"] for x in body["schedules"]] == ["ops-primary", "db"]
    pol = body["policies"][0]
    assert pol["name"] == "ops"
    assert pol["levels"][0]["targets"][0]["users"] == [expected_oncall(dt.datetime(2026, 11, 10, 12, tzinfo=UTC))]
    assert pol["levels"][1]["delay_s"] == 300 and pol["levels"][1]["targets"][0]["users"] == ["dora"]
    error_of(t.get("/api/v1/oncall?schedule=nope"), 404)
    error_of(t.get("/api/v1/oncall?at=yesterday"), 400, field="at")
    error_of(t.get("/api/v1/oncall", token="wrong-token-0000000000000"), 401)


def test_shifts_contiguous_and_dst(tocsin_factory):
    t = tocsin_factory(text=sched_config())
    body = t.get_json("/api/v1/schedules/ops-primary/shifts?from=2026-10-06T00:00:00Z&to=2026-11-03T00:00:00Z")
    sh = body["shifts"]
    assert body["time_zone"] == "Europe/Berlin"
    assert sh[0]["start"] == "2026-10-06T00:00:00.000Z" and sh[-1]["end"] == "2026-11-03T00:00:00.000Z", sh
    for a, b in zip(sh, sh[1:]):
        assert a["end"] == b["start"], (a, b)
    assert [s["user"] for s in sh] == ["anna", "ben", "carl", "anna", "ben"], sh
    dst = sh[2]
    assert (dst["start"], dst["end"]) == ("2026-10-19T07:00:00.000Z", "2026-10-26T08:00:00.000Z"), dst
    assert all(s["layer"] == "weekly" for s in sh)
    only = t.get_json("/api/v1/schedules/ops-primary/shifts?from=2026-10-06T00:00:00Z&to=2026-11-03T00:00:00Z&user=ben")
    assert [s["user"] for s in only["shifts"]] == ["ben", "ben"]
    error_of(t.get("/api/v1/schedules/nope/shifts"), 404)
    error_of(t.get("/api/v1/schedules/ops-primary/shifts?from=2026-10-06T00:00:00Z&to=2026-10-01T00:00:00Z"),
             400, field="to")


def test_overrides(tocsin_factory):
    t = tocsin_factory(text=sched_config())
    # 2026-10-20 is carl's week
    r = t.post("/api/v1/schedules/ops-primary/overrides",
               {"user": "dora", "start": "2026-10-20T10:00:00Z", "end": "2026-10-20T14:00:00+00:00"},
               token=RESPONDER_TOKEN)
    assert r.status_code == 201, r.text
    ov = r.json()
    assert ov["user"] == "dora" and ov["start"] == "2026-10-20T10:00:00.000Z" and \
        ov["end"] == "2026-10-20T14:00:00.000Z" and ov["created_by"] == "token:responder", ov
    oid = ov["id"]
    sch = t.get_json("/api/v1/oncall?schedule=ops-primary&at=2026-10-20T12:00:00Z")["schedules"][0]
    assert sch["oncall"] == {"user": "dora", "until": "2026-10-20T14:00:00.000Z", "layer": "override"}, sch
    assert sch["next"]["user"] == "carl"
    assert t.get_json("/api/v1/oncall?schedule=ops-primary&at=2026-10-20T14:00:00Z")["schedules"][0]["oncall"]["user"] == "carl"
    sh = t.get_json("/api/v1/schedules/ops-primary/shifts?from=2026-10-20T00:00:00Z&to=2026-10-21T00:00:00Z")["shifts"]
    assert [(s["user"], s["layer"], s["start"], s["end"]) for s in sh] == [
        ("carl", "weekly", "2026-10-20T00:00:00.000Z", "2026-10-20T10:00:00.000Z"),
        ("dora", "override", "2026-10-20T10:00:00.000Z", "2026-10-20T14:00:00.000Z"),
        ("carl", "weekly", "2026-10-20T14:00:00.000Z", "2026-10-21T00:00:00.000Z"),
    ], sh
    assert sh[1]["override_id"] == oid
    lst = t.get_json("/api/v1/schedules/ops-primary/overrides")["overrides"]
    assert [o["id"] for o in lst] == [oid]
    # validation
    base = {"user": "dora", "start": "2026-10-20T10:00:00Z", "end": "2026-10-20T14:00:00Z"}
    error_of(t.post("/api/v1/schedules/ops-primary/overrides", dict(base, user="zed"), token=RESPONDER_TOKEN),
             422, field="user")
    error_of(t.post("/api/v1/schedules/ops-primary/overrides", dict(base, end="2026-10-20T09:00:00Z"),
                    token=RESPONDER_TOKEN), 422, field="end")
    error_of(t.post("/api/v1/schedules/ops-primary/overrides", dict(base, start="soon"), token=RESPONDER_TOKEN),
             422, field="start")
    error_of(t.post("/api/v1/schedules/nope/overrides", base, token=RESPONDER_TOKEN), 404)
    error_of(t.post("/api/v1/schedules/ops-primary/overrides", base, token=VIEWER_TOKEN), 403)
    # delete
    r = t.req("DELETE", f"/api/v1/schedules/ops-primary/overrides/{oid}", token=RESPONDER_TOKEN)
    assert r.status_code == 204, r.text
    sch = t.get_json("/api/v1/oncall?schedule=ops-primary&at=2026-10-20T12:00:00Z")["schedules"][0]
    assert sch["oncall"]["user"] == "carl" and sch["oncall"]["layer"] == "weekly"
    assert t.get_json("/api/v1/schedules/ops-primary/overrides")["overrides"] == []
    error_of(t.req("DELETE", f"/api/v1/schedules/ops-primary/overrides/{oid}", token=RESPONDER_TOKEN), 404)
    # the override survives a restart while it exists
    r = t.post("/api/v1/schedules/ops-primary/overrides", base, token=RESPONDER_TOKEN)
    assert r.status_code == 201
    t.restart()
    sch = t.get_json("/api/v1/oncall?schedule=ops-primary&at=2026-10-20T12:00:00Z")["schedules"][0]
    assert sch["oncall"]["user"] == "dora", sch


def _vevents(text):
    return text.split("BEGIN:VEVENT\r\n")[1:]


def test_ical_feeds(tocsin_factory):
    t = tocsin_factory(text=sched_config())
    r = t.get("/api/v1/schedules/ops-primary.ics")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/calendar")
    text = r.content.decode()
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert "\n" not in text.replace("\r\n", ""), "bare LF in the calendar"
    ev = _vevents(text)
    assert len(ev) >= 25, len(ev)  # 30 days back + 180 ahead, weekly
    users = {u for e in ev for u in ROT if u in e.split("SUMMARY:")[1].split("\r\n")[0]}
    assert users == set(ROT), users
    r = t.get("/api/v1/schedules/ops-primary.ics?user=ben")
    ev_ben = _vevents(r.content.decode())
    assert 0 < len(ev_ben) < len(ev)
    for e in ev_ben:
        summary = e.split("SUMMARY:")[1].split("\r\n")[0]
        assert "ben" in summary and "anna" not in summary and "carl" not in summary, summary
    r = t.get("/api/v1/users/dora.ics")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/calendar")
    ev_dora = _vevents(r.content.decode())
    assert ev_dora and all("dora" in e for e in ev_dora)
    # calendar apps send the token in the URL
    r = t.req("GET", f"/api/v1/schedules/ops-primary.ics?token={VIEWER_TOKEN}")
    assert r.status_code == 200 and r.content.decode() .count("BEGIN:VEVENT") == len(ev)
    assert t.req("GET", "/api/v1/schedules/ops-primary.ics?token=bogus-0000000000000000").status_code == 401
    assert t.req("GET", "/api/v1/schedules/ops-primary.ics").status_code == 401
    # ?token= is for calendars only
    assert t.req("GET", f"/api/v1/schedules/ops-primary?token={VIEWER_TOKEN}").status_code == 401
    assert t.get("/api/v1/schedules/nope.ics").status_code == 404
    assert t.get("/api/v1/users/nope.ics").status_code == 404


def test_lists(tocsin_factory):
    t = tocsin_factory(text=sched_config())
    assert [u["name"] for u in t.get_json("/api/v1/users", token=VIEWER_TOKEN)["users"]] == \
        ["anna", "ben", "carl", "dora"]
    s = t.get_json("/api/v1/schedules")["schedules"]
    assert [x["name"] for x in s] == ["ops-primary", "db"]
    assert s[0]["layers"] == [{"name": "weekly", "users": ROT, "rotation_unit": "weeks",
                               "rotation": 1, "restrictions": 0}]
    one = t.get_json("/api/v1/schedules/ops-primary")
    now = dt.datetime.now(UTC)
    assert one["oncall"]["user"] == expected_oncall(now)
    u = t.get_json("/api/v1/users/ben")
    assert u["name"] == "ben" and all(x["user"] == "ben" for x in u["shifts"])
    error_of(t.get("/api/v1/users/nope"), 404)
    assert t.get_json("/api/v1/escalation-policies")["escalation_policies"][0]["name"] == "ops"


# --- 6. CLI ------------------------------------------------------------------------------
def cli(*args):
    p = subprocess.run([TOCSIN_BIN, "oncall", *args], capture_output=True, text=True, timeout=30,
                       env=sanitizer_env())
    for m in ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer"):
        assert m not in p.stderr, p.stderr
    return p


def test_cli_oncall(tocsin_factory):
    t = tocsin_factory(text=sched_config())
    p = cli("--url", t.url, "--token", VIEWER_TOKEN)
    assert p.returncode == 0, p.stderr
    now_user = expected_oncall(dt.datetime.now(UTC))
    lines = p.stdout.splitlines()
    prim = [ln for ln in lines if ln.startswith("ops-primary ")]
    assert len(prim) == 1 and prim[0].split()[1] == now_user, p.stdout
    db = [ln for ln in lines if ln.startswith("db ")]
    assert len(db) == 1 and db[0].split()[1] == "dora", p.stdout
    assert "escalation policy ops" in p.stdout

    p = cli("ops-primary", "--at", "2026-11-10T12:00:00Z", "--url", t.url, "--token", VIEWER_TOKEN)
    assert p.returncode == 0, p.stderr
    want = expected_oncall(dt.datetime(2026, 11, 10, 12, tzinfo=UTC))
    prim = [ln for ln in p.stdout.splitlines() if ln.startswith("ops-primary ")]
    assert len(prim) == 1 and prim[0].split()[1] == want, p.stdout
    assert "until" in prim[0] and "Mon 2026-11-16 09:00" in prim[0], prim[0]
    assert not any(ln.startswith("db ") for ln in p.stdout.splitlines())

    p = cli("nope", "--url", t.url, "--token", VIEWER_TOKEN)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert "nope" in p.stderr
    p = cli("--url", f"http://127.0.0.1:{free_port()}", "--token", VIEWER_TOKEN)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    p = cli("--url", t.url, "--token", "wrong-token-000000000000")
    assert p.returncode == 1, (p.returncode, p.stderr)


def test_team_target_and_escalating_an_acknowledged_incident(tocsin_factory, hook):
    levels = ('      - {delay: 0, targets: ["team:night"]}\n'
              '      - {delay: 1h, targets: ["schedule:prim", "user:ben"]}\n')
    t = tocsin_factory(text=esc_config(hook.url + "/h", levels,
                                       extra="teams:\n  - {name: night, members: [carl, dora]}\n"))
    inc = raise_incident(t, "team")
    wait_for(lambda: len(hook.ok()) == 2, what="both team members")
    assert sorted(p[1] for p in pages(hook)) == ["carl", "dora"]
    assert timeline(t, inc, "escalated")[0]["text"] == \
        "level 1 of policy ops: paging carl (night), paging dora (night)"
    r = t.post(f"/api/v1/incidents/{inc}/acknowledge", {}, token=RESPONDER_TOKEN)
    assert r.status_code == 200
    r = t.post(f"/api/v1/incidents/{inc}/escalate", {}, token=RESPONDER_TOKEN)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "triggered", r.json()
    wait_for(lambda: len(hook.ok()) == 4, timeout=3, what="level 2: anna and ben")
    assert sorted(p[1] for p in pages(hook)[2:]) == ["anna", "ben"]
    assert all(p[3] == 2 for p in pages(hook)[2:])
