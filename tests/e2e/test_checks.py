"""Active checks against the real binary: plugins from Debian's monitoring-plugins,
native tcp/http probes, the SOFT/HARD state machine and the alerts it raises,
dependencies (parents, redundancy groups), passive results and check-now."""
import http.server
import os
import socket
import threading
import time

import pytest

from checks_util import (PLUGINS, Ctl, check_alerts, checks_config, hosts, services, svc,
                         wait_alert, wait_state, wait_svc, write_script)
from conftest import RESPONDER_TOKEN, VIEWER_TOKEN, error_of, free_port, wait_for

FAST = """\
templates:
  - name: fast
    interval: 1s
    retry_interval: 1s
    max_attempts: 1
"""


# --- plugins -------------------------------------------------------------------------------
def test_plugin_exit_codes_map_to_states(tocsin_factory, tmp_path):
    weird = write_script(tmp_path / "weird.sh", "#!/bin/sh\necho 'half a result'\nexit 7\n")
    t = tocsin_factory(checks_config(FAST + f"""\
hosts:
  - name: web1
    address: 127.0.0.1
    labels: {{site: berlin}}
checks:
  - {{name: d0, host: web1, use: fast, command: "$USER1$/check_dummy 0 'all fine | load=1.5;3;4;0;10'"}}
  - {{name: d1, host: web1, use: fast, command: "$USER1$/check_dummy 1 'a bit slow'"}}
  - {{name: d2, host: web1, use: fast, command: "$USER1$/check_dummy 2 'on fire'", severity: error}}
  - {{name: d3, host: web1, use: fast, command: "$USER1$/check_dummy 3 'no idea'"}}
  - {{name: exit7, host: web1, use: fast, command: "{weird}"}}
"""))
    want = {
        "web1!d0": ("OK", "OK: all fine"),
        "web1!d1": ("WARNING", "WARNING: a bit slow"),
        "web1!d2": ("CRITICAL", "CRITICAL: on fire"),
        "web1!d3": ("UNKNOWN", "UNKNOWN: no idea"),
        # the plugin contract: any other exit code is UNKNOWN, and the output says why
        "web1!exit7": ("UNKNOWN", "UNKNOWN: plugin exited with code 7: half a result"),
    }
    for sid, (state, output) in want.items():
        s = wait_state(t, sid, state)
        assert s["output"] == output, s
        assert s["type"] == "command" and s["host"] == "web1"
        assert s["last_check"] is not None

    d0 = svc(t, "web1!d0")
    assert d0["command"] == f"{PLUGINS}/check_dummy 0 'all fine | load=1.5;3;4;0;10'"
    assert d0["raw_output"].startswith("OK: all fine | load=1.5;3;4;0;10")
    assert d0["perfdata"] == [{"label": "load", "value": 1.5, "warn": "3", "crit": "4",
                               "min": 0.0, "max": 10.0}]
    assert d0["labels"] == {"host": "web1", "check": "d0", "site": "berlin"}
    assert d0["execution_ms"] >= 0 and d0["latency_ms"] >= 0

    # every problem is HARD at once (max_attempts 1) and raises one alert; OK raises none
    for sid, sev in (("web1!d1", "warning"), ("web1!d2", "error"), ("web1!d3", "warning"),
                     ("web1!exit7", "warning")):
        a = wait_alert(t, sid)
        assert a["severity"] == sev, a
        assert a["labels"]["host"] == "web1" and a["labels"]["check"] == sid.split("!")[1]
        assert a["suppressed"] is None and len(a["incident_ids"]) == 1, a
    assert check_alerts(t, "web1!d0") == []
    d2 = check_alerts(t, "web1!d2")[0]
    # the summary is the status line without perfdata
    assert d2["summary"] == "web1!d2 CRITICAL: CRITICAL: on fire"
    assert d2["source"] == "web1"

    # the list filters
    assert {s["id"] for s in services(t, state="problem")} == {
        "web1!d1", "web1!d2", "web1!d3", "web1!exit7"}
    assert [s["id"] for s in services(t, state="critical")] == ["web1!d2"]
    assert [s["id"] for s in services(t, state="ok")] == ["web1!d0"]
    assert services(t, host="nohost") == []
    assert len(services(t, label='site="berlin"')) == 5
    assert services(t, label='site="paris"') == []
    page1 = t.get("/api/v1/services", params={"limit": 2}).json()
    assert [s["id"] for s in page1["services"]] == ["web1!d0", "web1!d1"]
    assert page1["next_after"] == "web1!d1"
    page2 = t.get("/api/v1/services", params={"limit": 2, "after": "web1!d1"}).json()
    assert [s["id"] for s in page2["services"]] == ["web1!d2", "web1!d3"]
    last = t.get("/api/v1/services", params={"limit": 2, "after": "web1!d3"}).json()
    assert [s["id"] for s in last["services"]] == ["web1!exit7"] and last["next_after"] is None
    error_of(t.get("/api/v1/services", params={"state": "bogus"}), 400, field="state")
    error_of(t.get("/api/v1/services", params={"limit": 0}), 400, field="limit")
    error_of(t.get("/api/v1/services/web1!nope"), 404)
    assert t.get("/api/v1/services", token=None).status_code == 401
    assert t.get("/api/v1/services", token=VIEWER_TOKEN).status_code == 200

    h = hosts(t)["web1"]
    # a host without a check is always UP; it counts its checks and problems
    assert h["state"] == "UP" and h["checks"] == 5 and h["problems"] == 4, h


def test_plugin_failures_are_unknown_and_bounded(tocsin_factory, tmp_path):
    pids = tmp_path / "hang.pids"
    hang = write_script(tmp_path / "hang.sh",
                        f"#!/bin/sh\nsleep 60 &\necho $! >> {pids}\nwait\n")
    big = write_script(tmp_path / "big.sh",
                       "#!/bin/sh\necho 'OK: lots of text | bytes=5000000B'\n"
                       "head -c 5000000 /dev/zero | tr '\\0' x\nexit 0\n")
    noexec = tmp_path / "noexec.sh"
    noexec.write_text("#!/bin/sh\necho OK\n")
    os.chmod(noexec, 0o644)
    t = tocsin_factory(checks_config(FAST + f"""\
scheduler:
  max_output: 8KiB
hosts:
  - {{name: web1, address: 127.0.0.1}}
checks:
  - {{name: hang, host: web1, use: fast, interval: 2s, timeout: 1s, command: "{hang}"}}
  - {{name: big, host: web1, use: fast, command: "{big}"}}
  - {{name: missing, host: web1, use: fast, command: "/nonexistent/check_nothing -w 1"}}
  - {{name: noexec, host: web1, use: fast, command: "{noexec}"}}
  - {{name: fine, host: web1, use: fast, command: "$USER1$/check_dummy 0 fine"}}
"""))
    s = wait_state(t, "web1!hang", "UNKNOWN")
    assert s["output"] == "UNKNOWN: timed out after 1 s", s
    assert 900 <= s["execution_ms"] < 5000, s
    # the timeout kills the plugin's whole process group, its children included
    first = int(pids.read_text().split()[0])

    def gone():
        try:
            with open(f"/proc/{first}/stat") as f:
                return f.read().split(") ")[1][0] == "Z"   # a zombie is dead too
        except FileNotFoundError:
            return True
    wait_for(gone, timeout=5, what=f"the hung plugin's child {first} to be killed")

    s = wait_state(t, "web1!missing", "UNKNOWN")
    assert "no such file" in s["output"], s
    assert "/nonexistent/check_nothing" in s["output"], s
    s = wait_state(t, "web1!noexec", "UNKNOWN")
    assert "not executable" in s["output"], s

    # megabytes of output: kept to scheduler.max_output, the status line survives
    s = wait_state(t, "web1!big", "OK", timeout=15)
    assert s["output"] == "OK: lots of text", s
    full = svc(t, "web1!big")
    assert 0 < len(full["raw_output"]) <= 8192, len(full["raw_output"])
    assert full["raw_output"].startswith("OK: lots of text | bytes=5000000B\nxxxx")
    # ... and the server is still fine: health answers, other checks keep running
    assert t.req("GET", "/healthz").status_code == 200
    before = svc(t, "web1!fine")["last_check"]
    wait_svc(t, "web1!fine", lambda x: x["last_check"] != before and x["state"] == "OK",
             what="web1!fine to run again")


# --- native probes and the tcp/http plugins -------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code, body = (200, b"hello tocsin\n") if self.path == "/ok" else (500, b"oops\n")
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def http_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def tcp_listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    stop = threading.Event()

    def accept():
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = s.accept()
                c.close()
            except OSError:
                pass
    th = threading.Thread(target=accept, daemon=True)
    th.start()
    yield s.getsockname()[1]
    stop.set()
    th.join(2)
    s.close()


def test_tcp_and_http_probes_and_plugins(tocsin_factory, http_server, tcp_listener):
    closed = free_port()   # nothing listens here
    t = tocsin_factory(checks_config(FAST + f"""\
hosts:
  - {{name: web1, address: 127.0.0.1}}
checks:
  - {{name: tcp-open, host: web1, use: fast, type: tcp, port: {tcp_listener}}}
  - {{name: tcp-closed, host: web1, use: fast, type: tcp, port: {closed}}}
  - {{name: check-tcp, host: web1, use: fast, command: "$USER1$/check_tcp -H $HOSTADDRESS$ -p {tcp_listener}"}}
  - {{name: http-ok, host: web1, use: fast, type: http, url: "http://127.0.0.1:{http_server}/ok", expect_body: "hello"}}
  - {{name: http-500, host: web1, use: fast, type: http, url: "http://127.0.0.1:{http_server}/fail"}}
  - {{name: http-nomatch, host: web1, use: fast, type: http, url: "http://127.0.0.1:{http_server}/ok", expect_body: "goodbye"}}
  - {{name: check-http, host: web1, use: fast, command: "$USER1$/check_http -H 127.0.0.1 -p {http_server} -u /ok -s hello"}}
  - {{name: check-http-500, host: web1, use: fast, command: "$USER1$/check_http -H 127.0.0.1 -p {http_server} -u /fail"}}
"""))
    s = wait_state(t, "web1!tcp-open", "OK")
    assert s["type"] == "tcp"
    assert s["output"].startswith("TCP OK - ") and f"port {tcp_listener}" in s["output"], s
    s = wait_state(t, "web1!tcp-closed", "CRITICAL")
    assert s["output"] == "TCP CRITICAL - Connection refused", s
    s = wait_state(t, "web1!check-tcp", "OK")
    assert s["output"].startswith("TCP OK - "), s
    assert svc(t, "web1!check-tcp")["command"] == \
        f"{PLUGINS}/check_tcp -H 127.0.0.1 -p {tcp_listener}"

    s = wait_state(t, "web1!http-ok", "OK")
    assert s["type"] == "http"
    assert s["output"].startswith("HTTP OK: HTTP/1.0 200 OK - 13 bytes in "), s
    assert {p["label"] for p in svc(t, "web1!http-ok")["perfdata"]} == {"time", "size"}
    s = wait_state(t, "web1!http-500", "CRITICAL")
    assert "500" in s["output"], s
    s = wait_state(t, "web1!http-nomatch", "CRITICAL")
    assert "pattern not found" in s["output"], s
    s = wait_state(t, "web1!check-http", "OK")
    assert s["output"].startswith("HTTP OK: HTTP/1.0 200 OK"), s
    s = wait_state(t, "web1!check-http-500", "CRITICAL")
    assert s["output"].startswith("HTTP CRITICAL: HTTP/1.0 500"), s

    a = wait_alert(t, "web1!http-500")
    assert a["severity"] == "critical" and a["labels"]["check"] == "http-500"


# --- the state machine and the alerts it raises ---------------------------------------------
def hist_state(h):
    """A history entry's state: the name, as the services list gives it, with the
    plugin code beside it."""
    names = ["OK", "WARNING", "CRITICAL", "UNKNOWN"]
    assert names[h["state_code"]] == h["state"], h
    return h["state"]


def test_soft_then_hard_then_recovery(tocsin_factory, tmp_path):
    flaky = Ctl(tmp_path, "flaky", 2, "CRITICAL: broken | errors=7")
    blip = Ctl(tmp_path, "blip", 0)
    t = tocsin_factory(checks_config(f"""\
hosts:
  - {{name: web1, address: 127.0.0.1, labels: {{site: berlin}}}}
checks:
  - name: flaky
    host: web1
    command: "{flaky.command}"
    interval: 1s
    retry_interval: 1s
    max_attempts: 3
  - name: blip
    host: web1
    command: "{blip.command}"
    interval: 1s
    retry_interval: 1s
    max_attempts: 5
"""))
    sid = "web1!flaky"
    # Watch SOFT 1/3, SOFT 2/3, HARD 3/3. While SOFT there must be no alert: the
    # alert and incident lists are read between two reads of the same SOFT state.
    seen = []
    deadline = time.time() + 15
    while time.time() < deadline:
        s1 = svc(t, sid)
        al = check_alerts(t, sid)
        inc = t.incidents()
        s2 = svc(t, sid)
        for x in (s1, s2):
            key = (x["state"], x["state_type"], x["attempt"])
            if key not in seen:
                seen.append(key)
        if s1["state_type"] == "SOFT" and (s2["state_type"], s2["attempt"]) == ("SOFT", s1["attempt"]):
            assert al == [], f"an alert while still SOFT {s1['attempt']}/3: {al}"
            # Read after the second SOFT read, the check may already have
            # gone HARD and opened its incident (seen once under ASan).
            assert inc == [], f"an incident while still SOFT {s1['attempt']}/3: {inc}"
        if s2["state_type"] == "HARD" and s2["state"] == "CRITICAL":
            break
        time.sleep(0.05)
    problems = [k for k in seen if k[0] != "PENDING"]
    assert problems == [("CRITICAL", "SOFT", 1), ("CRITICAL", "SOFT", 2), ("CRITICAL", "HARD", 3)], seen

    a = wait_alert(t, sid)
    assert a["status"] == "firing" and a["severity"] == "critical"
    assert a["summary"] == "web1!flaky CRITICAL: CRITICAL: broken"
    assert a["labels"] == {"host": "web1", "check": "flaky", "site": "berlin"}
    assert a["details"]["state_type"] == "HARD" and a["details"]["attempt"] == 3
    assert a["suppressed"] is None
    incs = t.incidents()
    assert len(incs) == 1 and [a["incident_ids"][0]] == [i["id"] for i in incs], incs
    inc = t.incident(incs[0]["id"])
    assert inc["status"] == "triggered"
    assert [x["id"] for x in inc["alerts"]] == [a["id"]]

    # the same HARD problem repeating changes nothing: still one alert, one incident
    last = svc(t, sid)["last_check"]
    wait_svc(t, sid, lambda s: s["last_check"] != last, what="another run")
    assert len(check_alerts(t, sid)) == 1 and len(t.incidents()) == 1

    hist = svc(t, sid)["history"]
    # Newest first; only changes of state or state type are recorded, so SOFT 2 (same
    # state, same type as SOFT 1) is not, and nothing before: the check started OK.
    assert [(hist_state(h), h["state_type"], h["attempt"], h["hard_change"]) for h in hist] == [
        ("CRITICAL", "HARD", 3, True), ("CRITICAL", "SOFT", 1, False)], hist
    assert all(h["in_downtime"] is False for h in hist)
    assert hist[0]["output"].startswith("CRITICAL: broken")

    # HARD recovery resolves the alert (and with it the incident)
    flaky.set(0, "OK: better")
    s = wait_state(t, sid, "OK")
    assert s["attempt"] == 1
    wait_for(lambda: check_alerts(t, sid)[0]["status"] == "resolved", what="alert resolved")
    assert check_alerts(t, sid)[0]["resolved_by"] is not None
    wait_for(lambda: t.incident(inc["id"])["status"] == "resolved", what="incident resolved")
    assert hist_state(svc(t, sid)["history"][0]) == "OK"
    assert svc(t, sid)["history"][0]["hard_change"] is True

    # a SOFT problem that goes away before max_attempts never alerts
    blip.set(2)
    wait_state(t, "web1!blip", "CRITICAL", state_type="SOFT")
    blip.set(0)
    s = wait_state(t, "web1!blip", "OK")
    assert [hist_state(h) for h in s["history"]] == ["OK", "CRITICAL"], s["history"]
    assert check_alerts(t, "web1!blip") == []
    assert len(t.incidents()) == 1


def _timeline(t, inc_id, kind):
    return [e for e in t.incident(inc_id)["timeline"] if e["kind"] == kind]


def test_parent_down_suppresses_children(tocsin_factory, tmp_path):
    sw1 = Ctl(tmp_path, "sw1", 0, "PING OK")
    web1 = Ctl(tmp_path, "web1", 0, "PING OK")
    http = Ctl(tmp_path, "http", 0, "HTTP OK")
    t = tocsin_factory(checks_config(FAST + f"""\
hosts:
  - name: sw1
    address: 127.0.0.1
    check: {{use: fast, command: "{sw1.command}"}}
  - name: web1
    address: 127.0.0.1
    parents: [sw1]
    check: {{use: fast, command: "{web1.command}"}}
  - name: db1
    address: 127.0.0.1
checks:
  - {{name: http, host: web1, use: fast, command: "{http.command}"}}
"""))
    wait_for(lambda: hosts(t)["web1"]["state"] == "UP" and hosts(t)["sw1"]["state"] == "UP",
             what="both hosts UP")
    assert hosts(t)["db1"]["state"] == "UP"    # no check: always UP
    assert hosts(t)["web1"]["parents"] == ["sw1"]

    sw1.set(2, "PING CRITICAL - Packet loss = 100%")
    pa = wait_alert(t, "sw1")
    assert pa["suppressed"] is None and len(pa["incident_ids"]) == 1, pa
    assert pa["summary"] == "sw1 DOWN: PING CRITICAL - Packet loss = 100%"
    pinc = pa["incident_ids"][0]

    # the child host fails while its only parent is down: UNREACHABLE, not paged
    web1.set(2, "PING CRITICAL - Packet loss = 100%")
    ca = wait_alert(t, "web1")
    assert ca["suppressed"] == "parent sw1 down", ca
    h = hosts(t)["web1"]
    assert h["state"] == "UNREACHABLE" and h["unreachable"] == "parent sw1 down", h
    assert hosts(t)["sw1"]["state"] == "DOWN"
    # a check on the unreachable host is suppressed as well, naming the host
    http.set(2, "HTTP CRITICAL - no route to host")
    sa = wait_alert(t, "web1!http")
    assert sa["suppressed"] == "host web1 unreachable", sa
    assert svc(t, "web1!http")["unreachable"] == "host web1 unreachable"

    # neither child has an incident of its own; both show on the parent's incident
    assert [i["id"] for i in t.incidents()] == [pinc]
    for a in (ca, sa):
        assert a["incident_ids"] in ([], [pinc]), a
    sup = wait_for(lambda: len(_timeline(t, pinc, "alert_suppressed")) >= 2 and
                   _timeline(t, pinc, "alert_suppressed"), what="alert_suppressed entries")
    assert sorted(e["data"]["alert_id"] for e in sup) == sorted([ca["id"], sa["id"]]), sup
    assert {e["data"]["reason"] for e in sup} == {"parent sw1 down", "host web1 unreachable"}
    assert t.incident(pinc)["open_alert_count"] == 1

    # the parent recovers: its incident resolves although the children still fail
    sw1.set(0, "PING OK")
    wait_for(lambda: t.incident(pinc)["status"] == "resolved", what="parent incident resolved")
    h = wait_for(lambda: hosts(t)["web1"]["state"] == "DOWN" and hosts(t)["web1"],
                 what="web1 DOWN (no longer explained by sw1)")
    assert h["unreachable"] is None


def test_redundancy_group_needs_every_target_down(tocsin_factory, tmp_path):
    api = Ctl(tmp_path, "api", 0)
    db = Ctl(tmp_path, "db", 0)
    deps = '[{check: "lb1!vip", group: lbs}, {check: "lb2!vip", group: lbs}]'
    t = tocsin_factory(checks_config(FAST + f"""\
hosts:
  - {{name: lb1}}
  - {{name: lb2}}
  - {{name: app1}}
checks:
  - {{name: vip, hosts: [lb1, lb2], type: passive, max_attempts: 1}}
  - {{name: api, host: app1, use: fast, command: "{api.command}", depends_on: {deps}}}
  - {{name: db, host: app1, use: fast, command: "{db.command}", depends_on: {deps}}}
"""))
    assert svc(t, "app1!api")["depends_on"] == [{"target": "lb1!vip", "group": "lbs"},
                                                {"target": "lb2!vip", "group": "lbs"}]
    post = lambda h, st: t.post("/api/v1/check-results",
                                {"host": h, "service": "vip", "status": st, "output": f"VIP {st}"},
                                token=RESPONDER_TOKEN)
    assert post("lb1", "critical").status_code == 200
    # one of two targets down explains nothing: the child pages
    api.set(2)
    a = wait_alert(t, "app1!api")
    assert a["suppressed"] is None and len(a["incident_ids"]) == 1, a
    assert svc(t, "app1!api").get("unreachable") is None

    # both targets down: the group is down, a failing child is suppressed
    assert post("lb2", 2).status_code == 200
    wait_svc(t, "app1!db", lambda s: s.get("unreachable") is not None, what="db judged unreachable")
    assert svc(t, "app1!db")["unreachable"] == "depends on lb1!vip (CRITICAL)"
    db.set(2)
    b = wait_alert(t, "app1!db")
    assert b["suppressed"] == "depends on lb1!vip (CRITICAL)", b
    lb1_inc = check_alerts(t, "lb1!vip")[0]["incident_ids"]
    assert b["incident_ids"] in ([], lb1_inc), b
    incs = t.incidents()
    assert not any(b["id"] in [x["id"] for x in t.incident(i["id"])["alerts"]]
                   for i in incs if i["id"] not in lb1_inc)

    # one target back: the group is up again, the child's trouble is its own
    assert post("lb2", 0).status_code == 200
    wait_svc(t, "app1!db", lambda s: s.get("unreachable") is None, what="db reachable again")


# --- passive results ------------------------------------------------------------------------
def test_passive_results(tocsin_factory):
    t = tocsin_factory(checks_config("""\
hosts:
  - {name: web1}
  - {name: web2}
checks:
  - {name: backup, hosts: [web1, web2], type: passive, max_attempts: 1}
  - {name: nightly, host: web1, type: passive, max_attempts: 1, freshness: 2s,
     stale_state: critical, stale_output: "no backup report"}
  - {name: active, host: web1, command: "$USER1$/check_dummy 0", interval: 1h}
"""))
    assert svc(t, "web1!backup")["state"] == "PENDING"
    assert [s["id"] for s in services(t, state="pending")] == [
        "web1!active", "web1!backup", "web1!nightly", "web2!backup"]
    r = t.post("/api/v1/check-results", {"host": "web1", "service": "backup", "status": 2,
                                         "output": "CRITICAL: disk full | used=95%;80;90"},
               token=RESPONDER_TOKEN)
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 1, "results": [
        {"host": "web1", "service": "backup", "result": "accepted"}]}
    # durable and applied before the answer: no polling needed
    s = svc(t, "web1!backup")
    assert (s["state"], s["state_type"], s["type"]) == ("CRITICAL", "HARD", "passive")
    assert s["output"] == "CRITICAL: disk full"
    assert s["perfdata"] == [{"label": "used", "value": 95.0, "uom": "%", "warn": "80",
                              "crit": "90"}]
    a = check_alerts(t, "web1!backup")
    assert len(a) == 1 and a[0]["status"] == "firing" and a[0]["severity"] == "critical", a

    # a batch, with status names and separate perfdata
    r = t.post("/api/v1/check-results", [
        {"host": "web1", "service": "backup", "status": "ok", "output": "OK: done"},
        {"host": "web2", "check": "backup", "status": "warning", "output": "WARNING: slow",
         "perfdata": "secs=4000s;3600"},
    ], token=RESPONDER_TOKEN)
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
    assert svc(t, "web1!backup")["state"] == "OK"
    w2 = svc(t, "web2!backup")
    assert w2["state"] == "WARNING" and w2["output"] == "WARNING: slow"
    assert [p["label"] for p in w2["perfdata"]] == ["secs"], w2
    assert check_alerts(t, "web1!backup")[0]["status"] == "resolved"

    # errors name the field; nothing of a rejected batch is applied
    error_of(t.post("/api/v1/check-results", {"host": "web1", "service": "nope", "status": 0},
                    token=RESPONDER_TOKEN), 404, field="service")
    error_of(t.post("/api/v1/check-results", {"host": "web1", "service": "backup", "status": 7},
                    token=RESPONDER_TOKEN), 422, field="status")
    error_of(t.post("/api/v1/check-results", {"service": "backup", "status": 0},
                    token=RESPONDER_TOKEN), 422, field="host")
    error_of(t.post("/api/v1/check-results", {"host": "web1", "service": "backup", "status": 0,
                                              "bogus": 1}, token=RESPONDER_TOKEN),
             422, field="bogus")
    error_of(t.post("/api/v1/check-results", [
        {"host": "web1", "service": "backup", "status": 2},
        {"host": "web1", "service": "backup", "status": "dire"}], token=RESPONDER_TOKEN),
        422, field="[1].status")
    assert svc(t, "web1!backup")["state"] == "OK"
    assert t.post("/api/v1/check-results", {"host": "web1", "service": "backup", "status": 0},
                  token=VIEWER_TOKEN).status_code == 403

    # check-now: passive checks cannot be run, unknown ones do not exist
    error_of(t.post("/api/v1/services/web1!backup/check-now", token=RESPONDER_TOKEN), 409)
    error_of(t.post("/api/v1/services/web1!nope/check-now", token=RESPONDER_TOKEN), 404)

    # freshness: without a fresh result the check goes to its stale_state
    s = wait_state(t, "web1!nightly", "CRITICAL", timeout=8)
    assert s["output"].startswith("no backup report: no passive result for "), s
    assert s["output"].endswith("(freshness 2 s)"), s
    a = wait_alert(t, "web1!nightly", lambda a: a["status"] == "firing")
    assert a["severity"] == "critical"
    # a fresh result brings it back and resolves the alert
    r = t.post("/api/v1/check-results", {"host": "web1", "service": "nightly", "status": 0,
                                         "output": "OK: backup 12 GB"}, token=RESPONDER_TOKEN)
    assert r.status_code == 200
    assert svc(t, "web1!nightly")["state"] == "OK"
    assert check_alerts(t, "web1!nightly")[0]["status"] == "resolved"


def test_check_now(tocsin_factory, tmp_path):
    slow = Ctl(tmp_path, "slow", 0, "OK: first")
    t = tocsin_factory(checks_config(f"""\
hosts:
  - {{name: web1}}
checks:
  - {{name: slow, host: web1, command: "{slow.command}", interval: 1h, max_attempts: 1}}
"""))
    s = svc(t, "web1!slow")
    # an hourly check spread over its interval: most likely not run yet
    before = s["last_check"]
    slow.set(2, "CRITICAL: now")
    assert t.post("/api/v1/services/web1!slow/check-now", token=VIEWER_TOKEN).status_code == 403
    r = t.post("/api/v1/services/web1!slow/check-now", token=RESPONDER_TOKEN)
    assert r.status_code == 202, r.text
    s = wait_svc(t, "web1!slow", lambda s: s["last_check"] != before and s["state"] == "CRITICAL",
                 timeout=5, what="check-now to run the check")
    assert s["output"] == "CRITICAL: now"
    assert wait_alert(t, "web1!slow")["status"] == "firing"
    # a single run: the hourly check does not keep running after it
    ran = s["last_check"]
    time.sleep(2.5)
    assert svc(t, "web1!slow")["last_check"] == ran
    assert s["next_check"] is not None


def test_unreachable_is_null_not_missing(tocsin_factory):
    t = tocsin_factory(checks_config("""\
hosts:
  - {name: web1}
checks:
  - {name: pass, host: web1, type: passive}
"""))
    # a checked host says "unreachable": null; services must too (reason|null)
    assert services(t)[0]["unreachable"] is None
    assert svc(t, "web1!pass")["unreachable"] is None
