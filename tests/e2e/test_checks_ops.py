"""The operations side of checks against the real binary: heartbeats, downtimes,
reload (endpoint and SIGHUP), state across restarts, /metrics."""
import datetime as dt
import subprocess
import time
import zoneinfo

import pytest
import requests

from checks_util import (Ctl, check_alerts, checks_config, services, svc, wait_alert,
                         wait_state, wait_svc, metrics)
from conftest import (RESPONDER_TOKEN, TOCSIN_BIN, VIEWER_TOKEN, error_of, iso, parse_ts,
                      wait_for, write_config)

BACKUP_KEY = "backup-key-0123456789abcdef"
ETL_KEY = "etl-key-0123456789abcdefgh"
EXPORT_KEY = "export-key-0123456789abcdef"

HEARTBEATS = f"""\
heartbeats:
  - {{name: backup, key: {BACKUP_KEY}, period: 1h}}
  - {{name: etl, key: {ETL_KEY}, period: 1h, max_runtime: 1s}}
  - {{name: export, key: {EXPORT_KEY}, period: 1h, min_value: 100, severity: error,
     labels: {{team: data}}}}
"""


def hb_list(t, token=VIEWER_TOKEN):
    r = t.get("/api/v1/heartbeats", token=token)
    assert r.status_code == 200, r.text
    return {h["name"]: h for h in r.json()["heartbeats"]}


def hb_alerts(t, name):
    return check_alerts(t, f"heartbeat!{name}")


# --- heartbeats -----------------------------------------------------------------------------
def test_heartbeats(tocsin_factory):
    t = tocsin_factory(checks_config(HEARTBEATS))
    hb = hb_list(t)
    assert set(hb) == {"backup", "etl", "export"}
    assert hb["backup"]["state"] == "OK" and hb["backup"]["last_ping"] is None
    assert hb["backup"]["output"].startswith("no success yet, watching began"), hb["backup"]
    assert hb["etl"]["max_runtime_s"] == 1 and hb["backup"]["period_s"] == 3600
    assert t.get("/api/v1/heartbeats", token=None).status_code == 401

    # the key is the credential: no token; GET and POST both ping
    r = requests.get(f"{t.url}/api/v1/heartbeats/{BACKUP_KEY}", timeout=10)
    assert r.status_code == 200, r.text
    assert r.json() == {"heartbeat": "backup", "ping": "success"}
    r = requests.post(f"{t.url}/api/v1/heartbeats/{BACKUP_KEY}?value=42", timeout=10)
    assert r.status_code == 200 and r.json()["value"] == 42.0, r.text
    hb = hb_list(t)["backup"]
    assert hb["state"] == "OK" and hb["last_value"] == 42.0
    assert hb["output"].startswith("last success ") and "value 42" in hb["output"], hb
    parse_ts(hb["last_success"])
    error_of(requests.get(f"{t.url}/api/v1/heartbeats/no-such-key-0123456789", timeout=10), 404)
    error_of(requests.get(f"{t.url}/api/v1/heartbeats/{BACKUP_KEY}?value=lots", timeout=10),
             400, field="value")
    assert hb_alerts(t, "backup") == []

    # fail -> CRITICAL alert at once; a later success resolves it
    r = requests.post(f"{t.url}/api/v1/heartbeats/{BACKUP_KEY}/fail", timeout=10)
    assert r.status_code == 200 and r.json()["ping"] == "fail", r.text
    a = wait_alert(t, "heartbeat!backup", lambda a: a["status"] == "firing")
    assert a["severity"] == "critical" and a["labels"]["heartbeat"] == "backup", a
    assert a["summary"].startswith("heartbeat backup CRITICAL: failed at "), a
    assert len(a["incident_ids"]) == 1
    assert hb_list(t)["backup"]["state"] == "CRITICAL"
    assert requests.get(f"{t.url}/api/v1/heartbeats/{BACKUP_KEY}", timeout=10).status_code == 200
    wait_for(lambda: hb_alerts(t, "backup")[0]["status"] == "resolved", what="backup resolved")
    assert hb_list(t)["backup"]["state"] == "OK"

    # start without a finish within max_runtime (1s) -> CRITICAL by the clock alone
    r = requests.post(f"{t.url}/api/v1/heartbeats/{ETL_KEY}/start", timeout=10)
    assert r.status_code == 200 and r.json() == {"heartbeat": "etl", "ping": "start"}
    assert hb_list(t)["etl"]["running_since"] is not None
    a = wait_alert(t, "heartbeat!etl", lambda a: a["status"] == "firing", timeout=6)
    assert "longer than max_runtime 1s" in a["summary"], a
    assert a["severity"] == "critical"
    assert hb_list(t)["etl"]["state"] == "CRITICAL"
    assert requests.post(f"{t.url}/api/v1/heartbeats/{ETL_KEY}", timeout=10).status_code == 200
    wait_for(lambda: hb_alerts(t, "etl")[0]["status"] == "resolved", what="etl resolved")

    # a success reporting less than min_value -> WARNING; body number and {"value":N}
    r = requests.post(f"{t.url}/api/v1/heartbeats/{EXPORT_KEY}", data="5", timeout=10)
    assert r.status_code == 200 and r.json()["value"] == 5.0, r.text
    a = wait_alert(t, "heartbeat!export", lambda a: a["status"] == "firing")
    assert a["severity"] == "warning", a
    assert a["summary"] == "heartbeat export WARNING: reported 5, expected at least 100", a
    assert a["labels"] == {"heartbeat": "export", "team": "data"}, a
    assert hb_list(t)["export"]["state"] == "WARNING"
    r = requests.post(f"{t.url}/api/v1/heartbeats/{EXPORT_KEY}", json={"value": 250}, timeout=10)
    assert r.status_code == 200 and r.json()["value"] == 250.0
    wait_for(lambda: hb_alerts(t, "export")[0]["status"] == "resolved", what="export resolved")
    assert hb_list(t)["export"]["last_value"] == 250.0
    assert len(hb_alerts(t, "export")) == 1


# --- downtimes ------------------------------------------------------------------------------
DT_HOSTS = """\
hosts:
  - {name: web1, labels: {site: berlin}}
  - {name: web2, labels: {site: paris}}
  - {name: web3, labels: {site: rome}}
"""


def post_dt(t, body, token=RESPONDER_TOKEN):
    return t.post("/api/v1/downtimes", body, token=token)


def test_downtime_api_validation_and_listing(tocsin_factory):
    t = tocsin_factory(checks_config(DT_HOSTS + """\
checks:
  - {name: disk, hosts: [web1, web2], type: passive}
"""))
    now = time.time()
    win = {"start": iso(now, -60), "end": iso(now, 3600)}
    error_of(post_dt(t, {"host": "nohost", **win}), 422, field="host")
    error_of(post_dt(t, {"check": "web1!nope", **win}), 422, field="check")
    error_of(post_dt(t, {"host": "web1", "start": iso(now, 60), "end": iso(now, 0)}), 422,
             field="end")
    error_of(post_dt(t, {"host": "web1", "end": iso(now, 60)}), 422, field="start")
    error_of(post_dt(t, {"host": "web1", "matchers": ['site="x"'], **win}), 422, field="host")
    error_of(post_dt(t, {"matchers": ["not a matcher"], **win}), 422, field="matchers[0]")
    error_of(post_dt(t, {"host": "web1", "bogus": 1, **win}), 422, field="bogus")
    error_of(post_dt(t, {"host": "web1", "recurring": {"freq": "hourly", "at": "03:00",
                                                      "duration": "1h"}}), 422,
             field="recurring.freq")
    error_of(post_dt(t, {"host": "web1", "recurring": {"freq": "daily", "at": "03:00",
                                                      "duration": "1h", "time_zone": "Mars/Base"}}),
             422, field="recurring.time_zone")
    assert post_dt(t, {"host": "web1", **win}, token=VIEWER_TOKEN).status_code == 403
    assert t.get("/api/v1/downtimes", token=VIEWER_TOKEN).json()["downtimes"] == []

    r = post_dt(t, {"host": "web1", "comment": "patching", **win})
    assert r.status_code == 201, r.text
    one = r.json()
    assert isinstance(one["id"], int) and one["source"] == "api" and one["comment"] == "patching"
    weekly = {"host": "web2", "children": True,
              "recurring": {"freq": "weekly", "days": ["sun"], "at": "03:00", "duration": "4h",
                            "time_zone": "Europe/Berlin"}}
    r = post_dt(t, weekly)
    assert r.status_code == 201, r.text
    two = r.json()
    r = post_dt(t, {"matchers": ['site="rome"'], "start": iso(now, 3600), "end": iso(now, 7200)})
    assert r.status_code == 201, r.text
    three = r.json()

    listed = {d["id"]: d for d in t.get("/api/v1/downtimes", token=VIEWER_TOKEN).json()["downtimes"]}
    assert set(listed) == {one["id"], two["id"], three["id"]}
    d1 = listed[one["id"]]
    assert d1["active"] is True and d1["host"] == "web1" and d1["comment"] == "patching"
    assert abs(parse_ts(d1["window_start"]) - (now - 60)) < 0.01
    assert abs(parse_ts(d1["window_end"]) - (now + 3600)) < 0.01
    assert listed[three["id"]]["active"] is False   # starts in an hour
    assert abs(parse_ts(listed[three["id"]]["window_start"]) - (now + 3600)) < 0.01

    # the weekly window is the current or next Sunday 03:00-07:00 in Berlin (DST-aware)
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    day = dt.datetime.fromtimestamp(now, berlin).date() - dt.timedelta(days=1)
    while True:
        s = dt.datetime.combine(day, dt.time(3, 0), berlin)
        if day.weekday() == 6 and s.timestamp() + 4 * 3600 > now:
            break
        day += dt.timedelta(days=1)
    d2 = listed[two["id"]]
    assert parse_ts(d2["window_start"]) == s.timestamp(), (d2, s)
    assert parse_ts(d2["window_end"]) == s.timestamp() + 4 * 3600
    assert d2["active"] is (s.timestamp() <= now)

    assert t.req("DELETE", f"/api/v1/downtimes/{one['id']}", token=VIEWER_TOKEN).status_code == 403
    assert t.req("DELETE", f"/api/v1/downtimes/{one['id']}", token=RESPONDER_TOKEN).status_code == 204
    error_of(t.req("DELETE", f"/api/v1/downtimes/{one['id']}", token=RESPONDER_TOKEN), 404)
    error_of(t.req("DELETE", "/api/v1/downtimes/abc", token=RESPONDER_TOKEN), 404)
    left = {d["id"] for d in t.get("/api/v1/downtimes").json()["downtimes"]}
    assert left == {two["id"], three["id"]}


def test_downtime_suppresses_and_ends(tocsin_factory, tmp_path):
    d1 = Ctl(tmp_path, "d1", 0)
    d2 = Ctl(tmp_path, "d2", 0)
    d3 = Ctl(tmp_path, "d3", 0)
    t = tocsin_factory(checks_config(DT_HOSTS + f"""\
templates:
  - {{name: fast, interval: 1s, retry_interval: 1s, max_attempts: 1}}
checks:
  - {{name: disk, host: web1, use: fast, command: "{d1.command}"}}
  - {{name: disk, host: web2, use: fast, command: "{d2.command}"}}
  - {{name: disk, host: web3, use: fast, command: "{d3.command}"}}
"""))
    now = time.time()
    r1 = post_dt(t, {"host": "web1", "comment": "patching", "start": iso(now, -60),
                     "end": iso(now, 3600)})
    assert r1.status_code == 201, r1.text
    # one that ends by itself a few seconds from now, covering one check
    r2 = post_dt(t, {"check": "web2!disk", "name": "short", "start": iso(now, -60),
                     "end": iso(now, 5)})
    assert r2.status_code == 201, r2.text
    r3 = post_dt(t, {"matchers": ['site="rome"'], "start": iso(now, -60), "end": iso(now, 3600)})
    assert r3.status_code == 201, r3.text
    id1, id3 = r1.json()["id"], r3.json()["id"]

    for c in (d1, d2, d3):
        c.set(2, "DISK CRITICAL - 99% used")
    a1 = wait_alert(t, "web1!disk")
    assert a1["suppressed"] == f"downtime downtime-{id1}", a1
    assert a1["incident_ids"] == []
    a2 = wait_alert(t, "web2!disk")
    assert a2["suppressed"] == "downtime short", a2
    a3 = wait_alert(t, "web3!disk")
    assert a3["suppressed"] == f"downtime downtime-{id3}", a3
    assert t.incidents() == [], "a downtime must keep the alerts out of incidents"
    h = svc(t, "web1!disk")["history"]
    assert h[0]["in_downtime"] is True, h

    # the short downtime ends while web2!disk still fails: it is routed like a new alert
    a2 = wait_alert(t, "web2!disk", lambda a: a["suppressed"] is None, timeout=12,
                    what="web2!disk unsuppressed at the downtime's end")
    assert len(a2["incident_ids"]) == 1 and a2["status"] == "firing", a2
    # deleting a downtime ends it too
    assert t.req("DELETE", f"/api/v1/downtimes/{id1}", token=RESPONDER_TOKEN).status_code == 204
    a1 = wait_alert(t, "web1!disk", lambda a: a["suppressed"] is None, timeout=10,
                    what="web1!disk unsuppressed after its downtime was deleted")
    assert len(a1["incident_ids"]) == 1
    # the matcher downtime still holds web3
    assert check_alerts(t, "web3!disk")[0]["suppressed"] == f"downtime downtime-{id3}"
    assert len(t.incidents()) == 2
    # one alert per check throughout: unsuppressing is not a second alert
    assert [len(check_alerts(t, f"web{i}!disk")) for i in (1, 2, 3)] == [1, 1, 1]


def test_config_downtimes_are_validated(tmp_path):
    # "Unknown keys are errors, so a typo is caught, not ignored" (examples/tocsin.yaml)
    cfg = write_config(tmp_path / "t.yaml", checks_config(DT_HOSTS + """\
downtimes:
  - {name: maint, host: nohost, bogus_key: 1}
"""))
    p = subprocess.run([TOCSIN_BIN, "check-config", cfg], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode != 0, p.stdout + p.stderr
    assert "bogus_key" in p.stdout + p.stderr


def test_config_downtime_is_listed(tocsin_factory):
    t = tocsin_factory(checks_config(DT_HOSTS + """\
downtimes:
  - name: nightly
    host: web1
    comment: backups
    recurring: {freq: daily, at: "00:00", duration: 24h, time_zone: UTC}
"""))
    dts = t.get("/api/v1/downtimes", token=VIEWER_TOKEN).json()["downtimes"]
    assert [(d.get("name"), d.get("source"), d.get("active")) for d in dts] == [
        ("nightly", "config", True)], dts


# --- reload ---------------------------------------------------------------------------------
def _reload_config(extra_checks=""):
    return checks_config(f"""\
templates:
  - {{name: fast, interval: 1s, retry_interval: 1s, max_attempts: 1}}
hosts:
  - {{name: web1}}
checks:
  - {{name: a, host: web1, use: fast, command: "$USER1$/check_dummy 0 'from the start'"}}
{extra_checks}""")


def test_reload_endpoint(tocsin_factory):
    t = tocsin_factory(_reload_config())
    wait_state(t, "web1!a", "OK")
    assert t.post("/api/v1/-/reload", token=RESPONDER_TOKEN).status_code == 403
    r = t.post("/api/v1/-/reload")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "reloaded", "checks": 1, "hosts": 1}

    write_config(t.config, _reload_config(
        """  - {name: b, host: web1, use: fast, command: "$USER1$/check_dummy 1 'added later'"}\n"""))
    r = t.post("/api/v1/-/reload")
    assert r.status_code == 200 and r.json()["checks"] == 2, r.text
    s = wait_state(t, "web1!b", "WARNING")
    assert s["output"] == "WARNING: added later"
    assert wait_alert(t, "web1!b")["status"] == "firing"

    # an invalid file: 422 with every problem, and the running config stays
    write_config(t.config, _reload_config(
        """  - {name: c, host: nohost, use: fast, command: "$USER1$/check_dummy 0"}\n"""
        """  - {name: d, host: web1, use: nosuchtemplate, command: "$USER1$/check_dummy 0"}\n"""))
    r = t.post("/api/v1/-/reload")
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_config"
    assert any('unknown host "nohost"' in e for e in err["errors"]), err
    assert any('unknown template "nosuchtemplate"' in e for e in err["errors"]), err
    assert all(e.startswith(t.config + ":") for e in err["errors"]), err
    assert sorted(s["id"] for s in services(t)) == ["web1!a", "web1!b"]
    for sid in ("web1!a", "web1!b"):   # the old checks keep running
        last = svc(t, sid)["last_check"]
        wait_svc(t, sid, lambda s: s["last_check"] != last, what=f"{sid} to run again")
    error_of(t.get("/api/v1/services/web1!c"), 404)

    # removing a check by reload takes it out of the API
    write_config(t.config, _reload_config())
    assert t.post("/api/v1/-/reload").status_code == 200
    error_of(t.get("/api/v1/services/web1!b"), 404)
    assert [s["id"] for s in services(t)] == ["web1!a"]


def test_reload_by_sighup(tocsin_factory):
    t = tocsin_factory(_reload_config())
    wait_state(t, "web1!a", "OK")
    write_config(t.config, _reload_config(
        """  - {name: hup, host: web1, use: fast, command: "$USER1$/check_dummy 2 'via SIGHUP'"}\n"""))
    t.sighup()
    s = wait_for(lambda: any(x["id"] == "web1!hup" for x in services(t)) and
                 wait_state(t, "web1!hup", "CRITICAL"), timeout=10, what="web1!hup after SIGHUP")
    assert s["output"] == "CRITICAL: via SIGHUP"
    assert wait_alert(t, "web1!hup")["status"] == "firing"

    # an invalid file on SIGHUP: logged, the server keeps running the old config
    with open(t.config, "a") as f:
        f.write("bogus_top_level_key: 1\n")
    t.sighup()
    wait_for(lambda: "bogus_top_level_key" in t.stderr(), timeout=10,
             what="the reload error in the log")
    assert t.proc.poll() is None
    assert sorted(x["id"] for x in services(t)) == ["web1!a", "web1!hup"]
    last = svc(t, "web1!a")["last_check"]
    wait_svc(t, "web1!a", lambda s: s["last_check"] != last, what="web1!a to run again")


# --- restarts -------------------------------------------------------------------------------
def test_state_survives_restart(tocsin_factory, tmp_path):
    crit = Ctl(tmp_path, "crit", 2, "CRITICAL: still broken")
    t = tocsin_factory(checks_config(HEARTBEATS + f"""\
hosts:
  - {{name: web1}}
checks:
  - {{name: crit, host: web1, command: "{crit.command}", interval: 1s, retry_interval: 1s,
     max_attempts: 2}}
  - {{name: pass, host: web1, type: passive, max_attempts: 1}}
"""))
    wait_state(t, "web1!crit", "CRITICAL")
    a = wait_alert(t, "web1!crit")
    assert t.post("/api/v1/check-results", {"host": "web1", "service": "pass", "status": 1,
                                            "output": "WARNING: reported"},
                  token=RESPONDER_TOKEN).status_code == 200
    assert requests.get(f"{t.url}/api/v1/heartbeats/{BACKUP_KEY}?value=7", timeout=10).status_code == 200
    incs = [i["id"] for i in t.incidents()]
    assert len(incs) == 2   # web1!crit and web1!pass, grouped by every label
    hist = svc(t, "web1!crit")["history"]
    hb = hb_list(t)["backup"]

    t.restart()

    # straight after the start, before any run: the stored state, not PENDING
    s = svc(t, "web1!crit")
    assert (s["state"], s["state_type"], s["attempt"]) == ("CRITICAL", "HARD", 2), s
    p = svc(t, "web1!pass")
    assert (p["state"], p["output"]) == ("WARNING", "WARNING: reported"), p
    assert svc(t, "web1!crit")["history"][:len(hist)] == hist
    hb2 = hb_list(t)["backup"]
    assert (hb2["last_success"], hb2["last_value"]) == (hb["last_success"], 7.0)
    # let the check run a few times after the restart
    for _ in range(2):
        last = svc(t, "web1!crit")["last_check"]
        wait_svc(t, "web1!crit", lambda s: s["last_check"] != last, what="a run after restart")
    al = check_alerts(t, "web1!crit")
    assert [(x["id"], x["status"]) for x in al] == [(a["id"], "firing")], al
    assert sorted(i["id"] for i in t.incidents()) == sorted(incs), "no new incident after restart"
    assert len(check_alerts(t, "web1!pass")) == 1

    # recovery after the restart resolves the same alert
    crit.set(0, "OK: fixed")
    wait_for(lambda: check_alerts(t, "web1!crit")[0]["status"] == "resolved",
             what="the pre-restart alert resolved")
    assert len(check_alerts(t, "web1!crit")) == 1


# --- /metrics -------------------------------------------------------------------------------
def test_metrics_move(tocsin_factory):
    t = tocsin_factory(checks_config("""\
templates:
  - {name: fast, interval: 1s, retry_interval: 1s, max_attempts: 1}
hosts:
  - {name: web1}
checks:
  - {name: ok1, host: web1, use: fast, command: "$USER1$/check_dummy 0 fine"}
  - {name: ok2, host: web1, use: fast, command: "$USER1$/check_dummy 0 fine"}
  - {name: bad, host: web1, use: fast, command: "$USER1$/check_dummy 2 bad"}
  - {name: pass, host: web1, type: passive}
"""))
    wait_state(t, "web1!bad", "CRITICAL")
    wait_state(t, "web1!ok2", "OK")
    m0 = metrics(t)
    assert m0["tocsin_checks_configured"] == 4
    assert m0['tocsin_checks{state="critical"}'] == 1
    assert m0['tocsin_checks{state="ok"}'] == 3   # the passive one starts OK (PENDING)
    assert m0['tocsin_checks_run_total{type="tcp"}'] == 0
    r = t.post("/api/v1/check-results", {"host": "web1", "service": "pass", "status": 1},
               token=RESPONDER_TOKEN)
    assert r.status_code == 200
    # wait for two more runs of every active check
    for sid in ("web1!ok1", "web1!ok2", "web1!bad"):
        for _ in range(2):
            last = svc(t, sid)["last_check"]
            wait_svc(t, sid, lambda s: s["last_check"] != last, what=f"{sid} to run")
    m1 = metrics(t)
    assert m1['tocsin_checks_run_total{type="command"}'] - m0['tocsin_checks_run_total{type="command"}'] >= 6
    assert m1['tocsin_checks_run_total{type="passive"}'] - m0['tocsin_checks_run_total{type="passive"}'] == 1
    assert m1['tocsin_check_results_total{state="ok"}'] - m0['tocsin_check_results_total{state="ok"}'] >= 4
    assert m1['tocsin_check_results_total{state="critical"}'] - m0['tocsin_check_results_total{state="critical"}'] >= 2
    assert m1['tocsin_check_results_total{state="warning"}'] - m0['tocsin_check_results_total{state="warning"}'] == 1
    assert m1["tocsin_check_latency_seconds_count"] - m0["tocsin_check_latency_seconds_count"] >= 6
    assert m1['tocsin_check_latency_seconds_bucket{le="+Inf"}'] == m1["tocsin_check_latency_seconds_count"]
    assert m1['tocsin_checks{state="warning"}'] == 1 and m1['tocsin_checks{state="ok"}'] == 2
