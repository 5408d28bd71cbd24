"""Alert and recording rules over metrics (issue 6), black box: rules in the config file
and in Prometheus rule files, evaluated every second by the real server; their alerts in
the spine; the rules API; the backtest through the API and `tocsin rules test`; restart
and reload.

Every rule runs with rule_settings.interval 1s, so the tests wait (bounded) for what the
evaluator does instead of sleeping."""
import json
import math
import os
import time
import urllib.parse

import pytest

from conftest import ADMIN_TOKEN, VIEWER_TOKEN, error_of, parse_ts, wait_for
from metrics_util import api_ok
from rules_util import (PROMTOOL_BIN, backtest, explanation_text, find_rule, now_ms,
                        open_rule_alerts, rule_alerts, rule_status, rules_config, run_cli,
                        wait_evaluated_after, wait_resolved, wait_rule_alert, write_now,
                        write_points)

DISK_RULE = """\
  - name: DiskFull
    query: 'disk_free_pct'
    static: {below: {warning: 20, critical: 10}, recover: 2}
    severity: critical
    labels: {service: shop}
    annotations:
      summary: 'disk of {{ $labels.host }} is {{ $value }} % free'
"""

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
WEEK = 7 * DAY


# --- static -------------------------------------------------------------------------------
def test_static_rule_fires_explains_and_recovers_with_hysteresis(tocsin_factory):
    t = tocsin_factory(rules_config(DISK_RULE))
    write_now(t, "disk_free_pct", {"host": "db1"}, 5)
    a = wait_rule_alert(t, "DiskFull")
    assert a["severity"] == "critical", a
    assert a["integration"] == "rules" and a["source"] == "rules", a
    for k, v in {"alertname": "DiskFull", "host": "db1", "service": "shop"}.items():
        assert a["labels"].get(k) == v, a["labels"]
    assert "__name__" not in a["labels"], a["labels"]
    assert a["dedup_key"].startswith("DiskFull/") and len(a["dedup_key"]) == len("DiskFull/") + 16
    assert "db1" in a["summary"], a["summary"]
    text = explanation_text(a)
    assert "10" in text, text  # the critical level it crossed
    # The link is a query over the relevant range that answers.
    assert a["links"], a
    href = a["links"][0]["href"]
    u = urllib.parse.urlparse(href)
    assert u.path == "/api/v1/query_range", href
    q = urllib.parse.parse_qs(u.query)
    assert {"query", "start", "end", "step"} <= set(q), href
    r = t.get("/api/v1/query_range?" + u.query)
    assert r.status_code == 200 and r.json()["status"] == "success", r.text
    # The spine made an incident of it (route service: shop).
    assert a["incident_ids"], a
    inc = t.incident(a["incident_ids"][0])
    assert inc["service"] == "shop" and inc["status"] == "triggered", inc

    # 11 is past the critical level but not past its recovery level (12): still critical.
    w = now_ms()
    write_now(t, "disk_free_pct", {"host": "db1"}, 11)
    wait_evaluated_after(t, "DiskFull", w + 1000)
    cur = t.alert(a["id"])
    assert cur["status"] == "firing" and cur["severity"] == "critical", cur
    # 15: critical recovered, still below warning: the same alert, now a warning.
    write_now(t, "disk_free_pct", {"host": "db1"}, 15)
    wait_for(lambda: t.alert(a["id"])["severity"] == "warning", timeout=20,
             what="severity down to warning")
    assert len(open_rule_alerts(t, "DiskFull")) == 1
    # 21: above the warning level, below its recovery level (22): stays open.
    w = now_ms()
    write_now(t, "disk_free_pct", {"host": "db1"}, 21)
    wait_evaluated_after(t, "DiskFull", w + 1000)
    assert t.alert(a["id"])["status"] == "firing"
    # 25: recovered.
    write_now(t, "disk_free_pct", {"host": "db1"}, 25)
    done = wait_resolved(t, a["id"])
    assert done["resolved_at"], done
    assert len([x for x in rule_alerts(t) if x["dedup_key"] == a["dedup_key"]]) == 1


# --- seasonal -----------------------------------------------------------------------------
def weekly_level(ts_ms):
    """A weekly pattern: a daily curve with a peak in the afternoon, quieter weekends."""
    hour = (ts_ms % DAY) / HOUR
    dow = (ts_ms // DAY) % 7  # 0 = Thursday (1970-01-01)
    daily = 1000 + 600 * math.sin(2 * math.pi * (hour - 9) / 24)
    return daily * (0.6 if dow in (2, 3) else 1.0)


def test_seasonal_rule_fires_on_anomaly_not_on_normal_value(tocsin_factory):
    rules = """\
  - name: BookingsUnusuallyLow
    query: 'bookings'
    seasonal: {season: week, horizon: 4w, k: 3, direction: below, min_band: 5}
    labels: {service: shop}
"""
    t = tocsin_factory(rules_config(rules))
    now = now_ms()
    # Two hours more than four weeks, so that in the oldest season both hourly
    # slots the expectation is interpolated between are whole: started at
    # exactly now - 4w, the oldest season counted only when the clock was in
    # the right half of the hour ("3 of the last 4" at 04:5x).
    start = (now - 4 * WEEK - 120 * MIN) // (5 * MIN) * (5 * MIN)
    pts = []
    ts = start
    i = 0
    while ts < now - 5 * MIN:
        lvl = weekly_level(ts)
        noise = ((i * 7919) % 41 - 20) / 1000.0  # deterministic +-2 %
        pts.append(("bookings", {"shop": "a"}, round(lvl * (1 + noise), 2), ts))
        pts.append(("bookings", {"shop": "b"}, round(lvl * (1 - noise), 2), ts))
        ts += 5 * MIN
        i += 1
    write_points(t, pts)
    r = t.post("/api/v1/admin/tsdb/flush")
    assert r.status_code == 200, r.text
    # Now: a far below its usual level, b where it always is at this hour.
    t_anomaly = now_ms()
    write_points(t, [("bookings", {"shop": "a"}, 3.0, t_anomaly),
                     ("bookings", {"shop": "b"}, round(weekly_level(t_anomaly), 2), t_anomaly)])
    a = wait_rule_alert(t, "BookingsUnusuallyLow", timeout=60)
    assert a["labels"].get("shop") == "a", a["labels"]
    text = explanation_text(a)
    assert "expected" in text and "from the last 4" in text, text
    # b was judged too (its series has a state) and is not firing.
    w = now_ms()
    rule = wait_evaluated_after(t, "BookingsUnusuallyLow", w)
    assert [x for x in open_rule_alerts(t, "BookingsUnusuallyLow")
            if x["labels"].get("shop") == "b"] == []
    series = rule.get("series") or []
    b_states = [s for s in series if (s.get("labels") or {}).get("shop") == "b"]
    assert b_states and all(s.get("state") in ("inactive", "ok", None) for s in b_states), \
        json.dumps(series)[:3000]

    # The backtest of the last half hour, ending on the anomaly: baselines are built from
    # the history before each instant, and only a's last value fires (still firing at to).
    to = t_anomaly / 1000 + 1
    st, body = backtest(t, {"name": "BookingsUnusuallyLow", "from": to - 1800, "to": to,
                            "step": "1m"})
    assert st == 200, body
    data = body["data"]
    assert data["kind"] == "seasonal" and data["evaluations"] == 31, data
    assert data["fired"] == 1, json.dumps(data)[:3000]
    al = data["alerts"][0]
    assert al["labels"]["shop"] == "a" and al["resolved_at"] is None, al
    assert "expected" in al["explanation"], al


# --- absent -------------------------------------------------------------------------------
def test_absent_rule_fires_after_silence_and_resolves_when_data_returns(tocsin_factory):
    rules = """\
  - name: ArchiveJobSilent
    query: 'archive_documents_total'
    absent: {after: 2s}
"""
    t = tocsin_factory(rules_config(rules))
    write_now(t, "archive_documents_total", {"job": "archive"}, 100)
    a = wait_rule_alert(t, "ArchiveJobSilent", timeout=30)
    assert a["labels"].get("job") == "archive", a["labels"]
    write_now(t, "archive_documents_total", {"job": "archive"}, 101)
    wait_resolved(t, a["id"], timeout=20)


# --- forecast -----------------------------------------------------------------------------
def test_forecast_rule_fires_with_predicted_time(tocsin_factory):
    rules = """\
  - name: DiskFullSoon
    query: 'disk_avail_bytes'
    forecast: {below: 0, within: 7d, window: 1h}
"""
    t = tocsin_factory(rules_config(rules))
    now = now_ms()
    # Falling 10 GB per hour from 20 GB: empty in about an hour.
    pts = [("disk_avail_bytes", {"mount": "/data"}, 20e9 - 10e9 * k / 60, now - (60 - k) * MIN)
           for k in range(61)]
    write_points(t, pts)
    a = wait_rule_alert(t, "DiskFullSoon", timeout=30)
    tr = a["details"]["tocsin_rule"]
    pred = tr.get("predicted_at")
    assert isinstance(pred, str) and pred, json.dumps(tr)
    p = parse_ts(pred)
    # Roughly an hour from the last point (the fit is exact for a straight line).
    assert now / 1000 + 600 < p < now / 1000 + 3 * 3600, (pred, now)


# --- Prometheus rule files ----------------------------------------------------------------
PROM_RULES = """\
groups:
  - name: node
    interval: 1s
    rules:
      - record: job:up_test:sum
        expr: sum by (job) (up_test)
      - alert: InstanceDown
        expr: up_test == 0
        for: 0s
        labels:
          severity: critical
        annotations:
          summary: '{{ $labels.instance }} of {{ $labels.job }} is down'
"""


def test_prometheus_rule_file_record_and_alert(tocsin_factory, tmp_path):
    path = tmp_path / "node.rules.yml"
    path.write_text(PROM_RULES)
    if os.path.exists(PROMTOOL_BIN):
        p = run_cli_promtool(path)
        assert p.returncode == 0, p.stdout + p.stderr
    t = tocsin_factory(rules_config(rule_files=[str(path)]))
    write_points(t, [("up_test", {"job": "node", "instance": "a:9100"}, 1, now_ms()),
                     ("up_test", {"job": "node", "instance": "b:9100"}, 0, now_ms())])
    a = wait_rule_alert(t, "InstanceDown", timeout=30)
    assert a["labels"]["instance"] == "b:9100" and a["severity"] == "critical", a
    assert a["summary"] == "b:9100 of node is down", a["summary"]

    def recorded():
        data = api_ok(t, "/api/v1/query", query="job:up_test:sum")
        return data["result"] or None
    res = wait_for(recorded, timeout=30, what="the recorded series")
    assert res[0]["metric"].get("job") == "node", res
    assert float(res[0]["value"][1]) == 1.0, res
    data = rule_status(t, "job:up_test:sum")["data"]
    assert find_rule(data, "job:up_test:sum")["type"] == "recording"


def run_cli_promtool(path):
    import subprocess
    return subprocess.run([PROMTOOL_BIN, "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.skipif(not os.path.exists(PROMTOOL_BIN), reason="promtool (Debian prometheus) missing")
def test_promtool_accepts_the_rule_file(tmp_path):
    path = tmp_path / "node.rules.yml"
    path.write_text(PROM_RULES)
    p = run_cli_promtool(path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS" in p.stdout + p.stderr


# --- the rules API ------------------------------------------------------------------------
def test_rules_api_shape_filters_and_404(tocsin_factory, tmp_path):
    path = tmp_path / "node.rules.yml"
    path.write_text(PROM_RULES)
    t = tocsin_factory(rules_config(DISK_RULE, rule_files=[str(path)]))
    write_now(t, "disk_free_pct", {"host": "db1"}, 5)
    wait_rule_alert(t, "DiskFull")
    r = t.get("/api/v1/rules", token=VIEWER_TOKEN)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success"
    groups = body["data"]["groups"]
    names = {g["name"] for g in groups}
    assert "node" in names, names
    for g in groups:
        assert {"name", "file", "interval", "rules"} <= set(g), g
        for rule in g["rules"]:
            assert rule["type"] in ("alerting", "recording"), rule
            assert {"name", "query", "health", "labels"} <= set(rule), rule
            if rule["type"] == "alerting":
                assert {"state", "alerts", "duration", "annotations"} <= set(rule), rule
    disk = find_rule(body["data"], "DiskFull")
    assert disk["state"] == "firing" and disk["health"] == "ok", disk
    assert disk.get("kind") == "static", disk
    assert len(disk["alerts"]) == 1, disk["alerts"]
    al = disk["alerts"][0]
    assert al["state"] == "firing" and al["labels"]["host"] == "db1", al
    assert {"labels", "annotations", "state", "activeAt", "value"} <= set(al), al

    only_rec = t.get_json("/api/v1/rules?type=record")["data"]["groups"]
    assert [r["name"] for g in only_rec for r in g["rules"]] == ["job:up_test:sum"], only_rec
    only_alerts = t.get_json("/api/v1/rules?type=alert")["data"]["groups"]
    assert all(r["type"] == "alerting" for g in only_alerts for r in g["rules"])
    by_name = t.get_json("/api/v1/rules?rule_name[]=DiskFull")["data"]["groups"]
    assert [r["name"] for g in by_name for r in g["rules"]] == ["DiskFull"], by_name
    r = t.get("/api/v1/rules?type=nonsense")
    assert r.status_code == 400 and r.json()["errorType"] == "bad_data", r.text

    one = rule_status(t, "DiskFull")["data"]
    assert [r["name"] for g in one["groups"] for r in g["rules"]] == ["DiskFull"], one
    assert find_rule(one, "DiskFull")["series"], one
    err = error_of(t.get("/api/v1/rules/NoSuchRule"), 404, "not_found")
    assert "NoSuchRule" in err["message"]
    assert t.req("GET", "/api/v1/rules").status_code == 401

    m = t.req("GET", "/metrics").text
    for name in ("tocsin_rules ", "tocsin_rule_evaluations_total ",
                 "tocsin_rule_evaluation_failures_total ", "tocsin_rule_events_sent_total ",
                 'tocsin_rule_alerts{state="firing"} ', "tocsin_rule_baseline_bytes ",
                 "tocsin_rule_last_tick_seconds "):
        assert name in m, name
    firing = [line for line in m.splitlines() if line.startswith('tocsin_rule_alerts{state="firing"}')]
    assert float(firing[0].split()[-1]) >= 1, firing
    rules_n = [line for line in m.splitlines() if line.startswith("tocsin_rules ")]
    assert float(rules_n[0].split()[-1]) == 3, rules_n


# --- backtest -----------------------------------------------------------------------------
CPU_RULE = """\
  - name: CpuHot
    query: 'cpu_busy_pct'
    static: {above: {warning: 80, critical: 90}}
"""


def cpu_history(t, end):
    """Two hours of cpu_busy_pct at 1 min steps ending at `end` (minute aligned), 50 % except
    two injected anomalies of 10 minutes at 95 % starting 100 and 40 minutes before end."""
    pts = []
    start = end - 120 * MIN
    for k in range(121):
        ts = start + k * MIN
        hot = (20 <= k < 30) or (80 <= k < 90)
        pts.append(("cpu_busy_pct", {"host": "web1"}, 95.0 if hot else 50.0, ts))
    write_points(t, pts)
    return start


def test_backtest_api_counts_injected_anomalies(tocsin_factory):
    t = tocsin_factory(rules_config(CPU_RULE, interval="1m"))
    end = (now_ms() - 10 * MIN) // MIN * MIN
    start = cpu_history(t, end)
    st, body = backtest(t, {"name": "CpuHot", "from": start / 1000, "to": str(end / 1000),
                            "step": "1m"})
    assert st == 200, body
    data = body["data"]
    assert data["fired"] == 2, json.dumps(data)[:3000]
    assert len(data["alerts"]) == 2
    assert data["evaluations"] == 121, data["evaluations"]
    for al, k in zip(data["alerts"], (20, 80)):
        assert parse_ts(al["fired_at"]) * 1000 == start + k * MIN, al
        assert parse_ts(al["resolved_at"]) * 1000 == start + (k + 10) * MIN, al
        assert al["severity"] == "critical", al
        assert al["labels"].get("host") == "web1" and al["labels"].get("alertname") == "CpuHot"
        assert al["duration_s"] == 600, al
        assert al["peak"] == 95.0, al
        assert al["explanation"], al

    # A definition that is not deployed, in Prometheus's form: the same two intervals.
    st, body = backtest(t, {"rule": {"alert": "CpuVeryHot", "expr": "cpu_busy_pct > 94"},
                            "from": start / 1000, "to": end / 1000, "step": 60})
    assert st == 200, body
    assert body["data"]["fired"] == 2, body
    # ... and in Tocsin's form, with a level no sample reaches.
    st, body = backtest(t, {"rule": {"name": "CpuMelting", "query": "cpu_busy_pct",
                                     "static": {"above": {"critical": 99}}},
                            "from": start / 1000, "to": end / 1000})
    assert st == 200, body
    assert body["data"]["fired"] == 0 and body["data"]["alerts"] == [], body

    # Relative times work (the anomalies lie within the last 3 hours).
    st, body = backtest(t, {"name": "CpuHot", "from": "now-3h", "to": "now", "step": "1m"})
    assert st == 200 and body["data"]["fired"] == 2, body

    # Errors name the field.
    r = t.req("POST", "/api/v1/rules/test", token=ADMIN_TOKEN,
              json={"name": "CpuHot", "from": "yesterday-ish"})
    error_of(r, 400, field="from")
    r = t.req("POST", "/api/v1/rules/test", token=ADMIN_TOKEN,
              json={"name": "CpuHot", "from": "now", "to": "now-1h"})
    error_of(r, 400, field="from")
    r = t.req("POST", "/api/v1/rules/test", token=ADMIN_TOKEN, json={"name": "CpuHot", "step": "x"})
    error_of(r, 400, field="step")
    r = t.req("POST", "/api/v1/rules/test", token=ADMIN_TOKEN,
              json={"name": "CpuHot", "from": "now-365d", "step": "1s"})
    error_of(r, 400, field="step")
    r = t.req("POST", "/api/v1/rules/test", token=ADMIN_TOKEN, json={"name": "Nope"})
    err = error_of(r, 404, "not_found")
    assert "Nope" in err["message"]
    r = t.req("POST", "/api/v1/rules/test", token=ADMIN_TOKEN,
              json={"rule": {"name": "Bad", "query": "cpu_busy_pct", "static": {"above": "high"}}})
    err = error_of(r, 400)
    assert err.get("field", "").startswith("rule"), err
    r = t.req("POST", "/api/v1/rules/test", token=ADMIN_TOKEN, json={"nme": "CpuHot"})
    error_of(r, 400, field="nme")
    r = t.req("POST", "/api/v1/rules/test", token=ADMIN_TOKEN, data="{not json",
              headers={"Content-Type": "application/json"})
    error_of(r, 400, "malformed_json")
    r = t.req("POST", "/api/v1/rules/test", token=ADMIN_TOKEN,
              json={"name": "CpuHot", "pad": "x" * 70000})
    assert r.status_code == 413, r.text
    assert t.req("POST", "/api/v1/rules/test", json={"name": "CpuHot"}).status_code == 401


# --- the CLI ------------------------------------------------------------------------------
def test_cli_rules_test_online_and_offline(tocsin_factory, tmp_path):
    t = tocsin_factory(rules_config(CPU_RULE, interval="1m"))
    end = (now_ms() - 10 * MIN) // MIN * MIN
    start = cpu_history(t, end)
    frm, to = str(start // 1000), str(end // 1000)

    # Online, the rule from the server's own file.
    p = run_cli("rules", "test", "CpuHot", "--config", t.config, "--url", t.url,
                "--from", frm, "--to", to, "--step", "1m")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "2 alerts, 121 evaluations" in p.stdout, p.stdout
    assert p.stdout.count(" -> ") == 2, p.stdout
    assert "critical" in p.stdout and 'host="web1"' in p.stdout, p.stdout

    # Online, a rule only in another file (not deployed): its definition is sent.
    other = tmp_path / "draft.yaml"
    other.write_text(rules_config(CPU_RULE.replace("CpuHot", "CpuDraft").replace("90}", "94}")))
    p = run_cli("rules", "test", "CpuDraft", "--config", str(other), "--url", t.url,
                "--from", frm, "--to", to, "--step", "1m", "--json")
    assert p.returncode == 0, p.stdout + p.stderr
    out = json.loads(p.stdout)
    assert out["fired"] == 2 and out["rule"] == "CpuDraft", out

    # Unknown everywhere: refused with exit 1.
    p = run_cli("rules", "test", "Nope", "--url", t.url, "--token", ADMIN_TOKEN,
                cwd=str(tmp_path))
    assert p.returncode == 1, p.stdout + p.stderr
    assert "Nope" in p.stderr
    # Bad options: exit 1 without a request.
    p = run_cli("rules", "test", "CpuHot", "--from", "whenever", "--url", t.url)
    assert p.returncode == 1 and "--from" in p.stderr, p.stderr
    # Offline on the live data directory: refused, the server holds the store.
    p = run_cli("rules", "test", "CpuHot", "--config", t.config, "--data", t.data_dir,
                "--from", frm, "--to", to)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "in use by a running server" in p.stderr and "--url" in p.stderr, p.stderr

    url = t.url
    t.stop()
    # Unreachable: exit 2.
    p = run_cli("rules", "test", "CpuHot", "--config", t.config, "--url", url)
    assert p.returncode == 2, p.stdout + p.stderr
    # Offline after the stop: the same answer from the files.
    p = run_cli("rules", "test", "CpuHot", "--config", t.config, "--data", t.data_dir,
                "--from", frm, "--to", to, "--step", "1m", "--json")
    assert p.returncode == 0, p.stdout + p.stderr
    out = json.loads(p.stdout)
    assert out["fired"] == 2 and out["evaluations"] == 121, out
    p = run_cli("rules", "test", "CpuHot", "--config", t.config, "--data", t.data_dir,
                "--from", frm, "--to", to, "--step", "1m")
    assert p.returncode == 0 and "2 alerts, 121 evaluations" in p.stdout, p.stdout + p.stderr


def test_cli_rules_help():
    p = run_cli("rules", "--help")
    assert p.returncode == 0 and "test" in p.stdout, p.stdout
    p = run_cli("rules", "test", "--help")
    assert p.returncode == 0
    for opt in ("--from", "--to", "--step", "--config", "--url", "--token", "--data", "--json"):
        assert opt in p.stdout, opt
    p = run_cli("--help")
    assert "rules" in p.stdout
    p = run_cli("rules", "frobnicate")
    assert p.returncode == 1 and p.stderr.strip()


# --- restart and reload -------------------------------------------------------------------
def test_firing_alert_survives_restart_and_resolves_when_cleared_while_down(tocsin_factory):
    t = tocsin_factory(rules_config(DISK_RULE))
    write_now(t, "disk_free_pct", {"host": "db1"}, 5)
    a = wait_rule_alert(t, "DiskFull")
    t.restart()
    w = now_ms()
    wait_evaluated_after(t, "DiskFull", w + 1500)
    same = [x for x in rule_alerts(t) if x["dedup_key"] == a["dedup_key"]]
    assert len(same) == 1 and same[0]["id"] == a["id"] and same[0]["status"] == "firing", same
    # The disk is freed while Tocsin is down: the sample lies a few seconds ahead, so the
    # running server never sees it; after the restart it is the current value.
    write_now(t, "disk_free_pct", {"host": "db1"}, 50, offset_ms=4000)
    written = now_ms()
    t.stop()
    # Start again once that sample is in the past.
    time.sleep(max(0.0, (written + 4500 - now_ms()) / 1000))
    t.start()
    wait_resolved(t, a["id"], timeout=30)
    assert [x for x in open_rule_alerts(t, "DiskFull")] == []


def test_reload_adds_and_removes_rules(tocsin_factory):
    t = tocsin_factory(rules_config(DISK_RULE))
    write_points(t, [("cpu_busy_pct", {"host": "web1"}, 97.0, now_ms())])
    assert open_rule_alerts(t, "CpuHot") == []  # no such rule yet
    with open(t.config, "w") as f:
        f.write(rules_config(DISK_RULE + CPU_RULE))
    t.sighup()
    write_points(t, [("cpu_busy_pct", {"host": "web1"}, 97.5, now_ms())])
    a = wait_rule_alert(t, "CpuHot", timeout=30)
    assert a["severity"] == "critical"
    names = [r["name"] for g in t.get_json("/api/v1/rules")["data"]["groups"] for r in g["rules"]]
    assert "CpuHot" in names
    with open(t.config, "w") as f:
        f.write(rules_config(DISK_RULE))
    t.sighup()
    wait_resolved(t, a["id"], timeout=30)
    assert rule_status(t, "CpuHot", expect=404)
