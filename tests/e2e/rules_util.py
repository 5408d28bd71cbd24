"""Helpers of the rules tests: configs with rules evaluated every second, line protocol
writes with millisecond timestamps, and look-ups of rule alerts and rule states."""
import json
import subprocess
import time

from conftest import ADMIN_TOKEN, TOCSIN_BIN, check_sanitizer_text, sanitizer_env, wait_for
from metrics_util import lp_write_ok, metrics_config

PROMTOOL_BIN = "/usr/bin/promtool"


def rules_config(rules_yaml="", extra="", rule_files=None, interval="1s"):
    """The metrics test config plus rule_settings (every rule evaluated each `interval`)
    and the rules (YAML text of the list items, indented by two spaces)."""
    text = f"rule_settings:\n  interval: {interval}\n"
    if rules_yaml:
        text += "rules:\n" + rules_yaml
    if rule_files:
        text += "rule_files:\n" + "".join(f"  - {p}\n" for p in rule_files)
    return metrics_config(extra=text + extra)


def now_ms():
    return int(time.time() * 1000)


def write_points(t, points):
    """points: [(metric, {tag: value}, value, t_ms)] -> one line protocol write (ms)."""
    lines = []
    for metric, tags, value, ts in points:
        tagtext = "".join(f",{k}={v}" for k, v in sorted(tags.items()))
        lines.append(f"{metric}{tagtext} value={value!r} {int(ts)}")
    # Large histories go in slices so no request approaches the body limit.
    for i in range(0, len(lines), 20000):
        lp_write_ok(t, "\n".join(lines[i:i + 20000]) + "\n", precision="ms")


def write_now(t, metric, tags, value, offset_ms=0):
    write_points(t, [(metric, tags, value, now_ms() + offset_ms)])


def rule_alerts(t, status=None):
    """Alerts of the rules integration (every status unless given)."""
    params = {"integration": "rules"}
    if status:
        params["status"] = status
    return t.alerts(**params)


def open_rule_alerts(t, alertname=None):
    out = [a for a in rule_alerts(t) if a["status"] in ("firing", "acknowledged")]
    if alertname:
        out = [a for a in out if a["labels"].get("alertname") == alertname]
    return out


def wait_rule_alert(t, alertname, pred=None, timeout=30, what=None):
    """Waits for an open rule alert of alertname (for which pred(alert) holds)."""
    def look():
        for a in open_rule_alerts(t, alertname):
            if pred is None or pred(a):
                return a
        return None
    return wait_for(look, timeout=timeout, interval=0.25, what=what or f"a firing {alertname} alert")


def wait_resolved(t, alert_id, timeout=30):
    return wait_for(lambda: (lambda a: a if a["status"] == "resolved" else None)(t.alert(alert_id)),
                    timeout=timeout, interval=0.25, what=f"alert {alert_id} resolved")


def rule_status(t, name, expect=200):
    r = t.get(f"/api/v1/rules/{name}")
    assert r.status_code == expect, f"GET /api/v1/rules/{name} -> {r.status_code} {r.text}"
    return r.json()


def find_rule(data, name):
    """The rule object called name in a rules status "data" object."""
    for g in data["groups"]:
        for r in g["rules"]:
            if r["name"] == name:
                return r
    return None


def wait_evaluated_after(t, name, t_ms, timeout=20):
    """Waits until rule name has been evaluated after t_ms (lastEvaluation, RFC 3339)."""
    from conftest import parse_ts

    def look():
        rule = find_rule(rule_status(t, name)["data"], name)
        le = rule.get("lastEvaluation") if rule else None
        if not le or le.startswith("0001-"):
            return None
        try:
            ts = parse_ts(le)
        except Exception:
            import datetime as dt
            ts = dt.datetime.fromisoformat(le.replace("Z", "+00:00")).timestamp()
        return rule if ts * 1000 > t_ms else None
    return wait_for(look, timeout=timeout, interval=0.25, what=f"{name} evaluated after {t_ms}")


def run_cli(*args, env=None, timeout=120, cwd=None):
    p = subprocess.run([TOCSIN_BIN, *args], capture_output=True, text=True, timeout=timeout,
                       env=sanitizer_env(env), cwd=cwd)
    check_sanitizer_text(p.stderr, f"tocsin {' '.join(args)}")
    return p


def backtest(t, body, token=ADMIN_TOKEN):
    r = t.req("POST", "/api/v1/rules/test", token=token, json=body, timeout=120)
    try:
        return r.status_code, r.json()
    except ValueError:
        return r.status_code, None


def explanation_text(alert):
    """The explanation of a rule alert: details.tocsin_rule.explanation (a sentence, or
    an object holding one), flattened to text for substring checks."""
    tr = (alert.get("details") or {}).get("tocsin_rule")
    assert tr is not None, f"no details.tocsin_rule in {json.dumps(alert)[:2000]}"
    e = tr.get("explanation") if isinstance(tr, dict) else None
    assert e, f"no explanation in details.tocsin_rule: {json.dumps(tr)[:2000]}"
    return e if isinstance(e, str) else json.dumps(e)
