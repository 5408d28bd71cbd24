"""Helpers for the checks tests: configs with hosts and checks, plugins the test
controls, and polling the services API."""
import os
import stat

from conftest import config_text, wait_for

PLUGINS = "/usr/lib/nagios/plugins"

# Every check alert gets an incident of its own (group by every label), so a
# test can tell the parent's incident from the child's.
ROUTE = "default_route:\n  group_by: ['...']\n"

# A plugin whose result the test sets: the state file's first line is
# "CODE TEXT"; TEXT is printed, CODE is the exit status.
CTL_SCRIPT = """\
#!/bin/sh
IFS= read -r line < "$1" || { echo "UNKNOWN: no state file"; exit 3; }
printf '%s\\n' "${line#* }"
exit "${line%% *}"
"""


def checks_config(body, **kw):
    return config_text(extra=ROUTE + body, **kw)


def write_script(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(path)


class Ctl:
    """A check result the test decides: command = CTL script + state file."""

    def __init__(self, directory, name, code=0, text="OK: fine"):
        self.script = os.path.join(str(directory), "ctl.sh")
        if not os.path.exists(self.script):
            write_script(self.script, CTL_SCRIPT)
        self.path = os.path.join(str(directory), f"{name}.state")
        self.set(code, text)

    @property
    def command(self):
        return f"{self.script} {self.path}"

    def set(self, code, text=None):
        if text is None:
            text = {0: "OK: fine", 1: "WARNING: meh", 2: "CRITICAL: broken", 3: "UNKNOWN: ?"}[code]
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{code} {text}\n")
        os.replace(tmp, self.path)   # atomic: the plugin never reads a half-written file


def svc(t, sid, expect=200):
    r = t.get(f"/api/v1/services/{sid}")
    assert r.status_code == expect, f"GET service {sid} -> {r.status_code} {r.text}"
    return r.json()


def services(t, **params):
    r = t.get("/api/v1/services", params=params)
    assert r.status_code == 200, r.text
    return r.json()["services"]


def hosts(t, **params):
    r = t.get("/api/v1/hosts", params=params)
    assert r.status_code == 200, r.text
    return {h["name"]: h for h in r.json()["hosts"]}


def wait_svc(t, sid, pred, timeout=10.0, what=None):
    """Polls GET /api/v1/services/{sid} until pred(service) holds; returns it."""
    def probe():
        s = svc(t, sid)
        return s if pred(s) else None
    try:
        return wait_for(probe, timeout=timeout, interval=0.1, what=what or f"{sid} condition")
    except BaseException:
        print("last state of", sid, svc(t, sid))
        raise


def wait_state(t, sid, state, state_type="HARD", timeout=10.0):
    return wait_svc(t, sid, lambda s: s["state"] == state and s["state_type"] == state_type,
                    timeout=timeout, what=f"{sid} {state_type} {state}")


def check_alerts(t, sid):
    """Alerts raised for a check (integration "checks", dedup key = check id)."""
    return [a for a in t.alerts() if a["integration"] == "checks" and a["dedup_key"] == sid]


def wait_alert(t, sid, pred=lambda a: True, timeout=10.0, what=None):
    def probe():
        al = [a for a in check_alerts(t, sid) if pred(a)]
        return al[0] if al else None
    return wait_for(probe, timeout=timeout, interval=0.1, what=what or f"alert for {sid}")


def metrics(t):
    """Parses /metrics into {'name{labels}': value}."""
    r = t.req("GET", "/metrics")
    assert r.status_code == 200, r.text
    out = {}
    for line in r.text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        out[name] = float(value)
    return out
