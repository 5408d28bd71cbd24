"""Black-box fixtures: start the real `tocsin` binary and talk HTTP to it.

Run with Debian's interpreter: /usr/bin/python3 -m pytest -q tests/e2e
The binary comes from $TOCSIN_BIN, else build-asan/tocsin, else build/tocsin.
"""
import datetime as dt

import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# --- secrets used by every config ---------------------------------------------------------
ADMIN_TOKEN = "admin-token-7f3c1e9a5b2d4c6e8f0a"
VIEWER_TOKEN = "viewer-token-1a2b3c4d5e6f7a8b9c0d"
RESPONDER_TOKEN = "responder-token-9e8d7c6b5a4f3e2d1c"
GENERIC_KEY = "gen0key1scripts2abcdefghijklmnop"      # integration "scripts" (generic)
OTHER_GENERIC_KEY = "gen1key2batchjob3abcdefghijklmno"  # integration "batch" (generic)
PD_KEY = "pd00routing1key2partner3abcdefgh"           # integration "partner" (pagerduty)
AM_KEY = "am00key1prom2abcdefghijklmnopqrs"           # integration "prom" (alertmanager)
for _k in (GENERIC_KEY, OTHER_GENERIC_KEY, PD_KEY, AM_KEY):
    assert len(_k) == 32, _k

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")
LISTEN_RE = re.compile(r"^listening on (http://[^\s:]+:(\d+))\s*$")


def find_binary():
    env = os.environ.get("TOCSIN_BIN")
    if env:
        return env
    for cand in ("build-asan/tocsin", "build/tocsin"):
        p = os.path.join(ROOT, cand)
        if os.path.exists(p):
            return p
    return os.path.join(ROOT, "build-asan/tocsin")


TOCSIN_BIN = find_binary()


def sanitizer_env(extra=None):
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
    env["UBSAN_OPTIONS"] = "print_stacktrace=1"
    if extra:
        env.update(extra)
    return env


def check_sanitizer_text(text, what="tocsin"):
    for m in SANITIZER_MARKERS:
        if m in text:
            pytest.fail(f"{what}: sanitizer report ({m!r}) in stderr:\n{text[-20000:]}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- fingerprint (Prometheus/Alertmanager model.LabelSet.Fingerprint) ----------------------
def fingerprint(labels):
    h = 0xCBF29CE484222325
    for name in sorted(labels):
        for b in name.encode() + b"\xff" + labels[name].encode() + b"\xff":
            h ^= b
            h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def iso(t=None, offset_s=0.0):
    """RFC 3339 UTC with milliseconds."""
    if t is None:
        t = time.time()
    t += offset_s
    d = dt.datetime.fromtimestamp(t, tz=dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def parse_ts(s):
    assert isinstance(s, str) and TS_RE.match(s), f"not an RFC 3339 UTC ms timestamp: {s!r}"
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc).timestamp()


def wait_for(pred, timeout=10.0, interval=0.1, what="condition"):
    """Bounded poll: returns pred()'s truthy value or fails."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


# --- configs ------------------------------------------------------------------------------
def config_text(max_body_bytes=None, extra="", integrations_extra="", routes=None,
                generic_key=None):
    gk = generic_key or GENERIC_KEY
    if routes is None:
        routes = """\
routes:
  - match:
      service: shop
    group_by: [service, alertname]
    group_window: 5m
    service: shop
  - match:
      service: billing
    group_by: [service, alertname]
    group_window: 5m
    service: billing
"""
    intake = ""
    if max_body_bytes is not None:
        intake = f"intake:\n  max_body_bytes: {max_body_bytes}\n"
    return f"""\
# written by tests/e2e/conftest.py
api_tokens:
  - name: admin
    token: {ADMIN_TOKEN}
    role: admin
  - name: viewer
    token: {VIEWER_TOKEN}
    role: viewer
  - name: responder
    token: {RESPONDER_TOKEN}
    role: responder
integrations:
  - name: scripts
    type: generic
    key: {gk}
  - name: batch
    type: generic
    key: {OTHER_GENERIC_KEY}
  - name: partner
    type: pagerduty
    key: {PD_KEY}
  - name: prom
    type: alertmanager
    key: {AM_KEY}
{integrations_extra}services:
  - name: shop
    description: the web shop
    impact: high
  - name: billing
    description: invoices
{routes}{intake}{extra}"""


def write_config(path, text=None, **kw):
    if text is None:
        text = config_text(**kw)
    with open(path, "w") as f:
        f.write(text)
    return str(path)


# --- the server handle ---------------------------------------------------------------------
class Tocsin:
    def __init__(self, config, data_dir, workdir, env=None):
        self.config = str(config)
        self.data_dir = str(data_dir)
        self.workdir = str(workdir)
        self.extra_env = env or {}
        self.proc = None
        self.url = None
        self.port = None
        self.generation = 0
        self.stderr_path = None
        self.stdout_lines = []
        self.http = requests.Session()
        self.exit_codes = []

    # -- lifecycle
    def start(self, timeout=20.0):
        assert self.proc is None, "already running"
        self.generation += 1
        self.stderr_path = os.path.join(self.workdir, f"tocsin-stderr-{self.generation}.log")
        errf = open(self.stderr_path, "wb")
        cmd = [TOCSIN_BIN, "serve", "--config", self.config, "--data", self.data_dir,
               "--listen", "127.0.0.1:0"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf,
                                     env=sanitizer_env(self.extra_env), cwd=self.workdir)
        errf.close()
        lines = queue.Queue()
        self.stdout_lines = []

        def reader(proc=self.proc):
            for raw in iter(proc.stdout.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.stdout_lines.append(line)
                lines.put(line)
            lines.put(None)

        threading.Thread(target=reader, daemon=True).start()
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                self._kill_hard()
                pytest.fail(f"tocsin did not print 'listening on' within {timeout}s; "
                            f"stdout={self.stdout_lines!r}\nstderr:\n{self.stderr()}")
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                rc = self.proc.wait(timeout=10)
                self.proc = None
                pytest.fail(f"tocsin exited ({rc}) before listening; stdout={self.stdout_lines!r}\n"
                            f"stderr:\n{self.stderr()}")
            m = LISTEN_RE.match(line)
            if m:
                self.url = m.group(1)
                self.port = int(m.group(2))
                break
        return self

    def stderr(self):
        if not self.stderr_path or not os.path.exists(self.stderr_path):
            return ""
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def all_stderr(self):
        out = []
        for g in range(1, self.generation + 1):
            p = os.path.join(self.workdir, f"tocsin-stderr-{g}.log")
            if os.path.exists(p):
                with open(p, "rb") as f:
                    out.append(f"--- run {g} ---\n" + f.read().decode("utf-8", "replace"))
        return "\n".join(out)

    def stop(self, check_exit=True, timeout=10.0):
        """SIGTERM, wait; returns the exit code. Asserts a clean exit (0) by default."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill_hard()
            pytest.fail(f"tocsin did not exit within {timeout}s of SIGTERM\nstderr:\n{self.stderr()}")
        self.proc = None
        self.exit_codes.append(rc)
        check_sanitizer_text(self.stderr())
        if check_exit:
            assert rc == 0, f"SIGTERM should give a clean exit 0, got {rc}\nstderr:\n{self.stderr()[-5000:]}"
        return rc

    def kill(self):
        """SIGKILL (crash simulation)."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None
        check_sanitizer_text(self.stderr())

    def _kill_hard(self):
        if self.proc is not None:
            try:
                self.proc.kill()
                self.proc.wait(timeout=10)
            except Exception:
                pass
            self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def sighup(self):
        """Asks the running server to reload its configuration file."""
        assert self.proc is not None, "not running"
        self.proc.send_signal(signal.SIGHUP)

    # -- HTTP helpers
    def req(self, method, path, token=None, key=None, headers=None, timeout=15, **kw):
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        if key is not None:
            h["Authorization"] = f"Bearer {key}"
        return self.http.request(method, self.url + path, headers=h, timeout=timeout, **kw)

    def get(self, path, token=ADMIN_TOKEN, **kw):
        return self.req("GET", path, token=token, **kw)

    def post(self, path, body=None, token=ADMIN_TOKEN, **kw):
        if body is not None:
            kw["json"] = body
        return self.req("POST", path, token=token, **kw)

    def post_event(self, events, key=GENERIC_KEY, expect=202, **kw):
        r = self.req("POST", "/api/v1/events", key=key, json=events, **kw)
        if expect is not None:
            assert r.status_code == expect, f"POST /api/v1/events -> {r.status_code} {r.text}"
        return r

    def trigger(self, labels, summary="something broke", severity="critical", **fields):
        ev = {"labels": labels, "summary": summary, "severity": severity}
        ev.update(fields)
        r = self.post_event(ev)
        res = r.json()["results"]
        assert len(res) == 1, r.text
        return res[0]

    def pd(self, body, expect=202):
        r = self.req("POST", "/v2/enqueue", json=body)
        if expect is not None:
            assert r.status_code == expect, f"POST /v2/enqueue -> {r.status_code} {r.text}"
        return r

    def am_alerts(self, alerts, key=AM_KEY, expect=200):
        r = self.req("POST", "/api/v2/alerts", key=key, json=alerts)
        if expect is not None:
            assert r.status_code == expect, f"POST /api/v2/alerts -> {r.status_code} {r.text}"
        return r

    def am_webhook(self, payload, key=AM_KEY, expect=200):
        r = self.req("POST", "/api/v1/integrations/alertmanager", key=key, json=payload)
        if expect is not None:
            assert r.status_code == expect, f"POST webhook -> {r.status_code} {r.text}"
        return r

    def get_json(self, path, token=ADMIN_TOKEN, expect=200):
        r = self.get(path, token=token)
        assert r.status_code == expect, f"GET {path} -> {r.status_code} {r.text}"
        return r.json()

    def _list(self, path, field, params):
        out, cursor, seen = [], None, 0
        while True:
            p = dict(params)
            p.setdefault("limit", 500)
            if cursor:
                p["cursor"] = cursor
            r = self.get(path, params=p)
            assert r.status_code == 200, f"GET {path} {p} -> {r.status_code} {r.text}"
            body = r.json()
            out.extend(body[field])
            cursor = body.get("next_cursor")
            seen += 1
            assert seen < 1000, "pagination does not terminate"
            if not cursor:
                return out

    def alerts(self, **params):
        return self._list("/api/v1/alerts", "alerts", params)

    def incidents(self, **params):
        return self._list("/api/v1/incidents", "incidents", params)

    def alert(self, alert_id):
        return self.get_json(f"/api/v1/alerts/{alert_id}")

    def incident(self, inc_id):
        return self.get_json(f"/api/v1/incidents/{inc_id}")

    def alerts_by_key(self, dedup_key, integration=None):
        return [a for a in self.alerts() if a["dedup_key"] == dedup_key
                and (integration is None or a["integration"] == integration)]


@pytest.fixture
def tocsin_factory(tmp_path):
    """Returns make(config_text=None, env=None, start=True, **config_kw) -> Tocsin.
    Every server is stopped at teardown (SIGTERM, exit 0 asserted, sanitizer scan)."""
    started = []

    def make(text=None, env=None, start=True, data_dir=None, name=None, **kw):
        n = len(started)
        d = tmp_path / (name or f"srv{n}")
        d.mkdir(exist_ok=True)
        cfg = write_config(d / "tocsin.yaml", text, **kw)
        data = data_dir or (d / "data")
        t = Tocsin(cfg, data, d, env=env)
        started.append(t)
        if start:
            t.start()
        return t

    yield make
    problems = []
    for t in started:
        if t.proc is not None:
            t.proc.send_signal(signal.SIGTERM)
            try:
                rc = t.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                t._kill_hard()
                problems.append("tocsin did not exit within 10 s of SIGTERM (killed)")
                rc = None
            else:
                t.proc = None
                if rc != 0:
                    problems.append(f"tocsin exit code after SIGTERM: {rc} (expected 0)")
        text = t.all_stderr()
        for m in SANITIZER_MARKERS:
            if m in text:
                problems.append(f"sanitizer report {m!r}")
        if problems:
            pytest.fail("; ".join(problems) + "\nstderr:\n" + text[-20000:])


@pytest.fixture
def tocsin(tocsin_factory):
    """A running server with the default test config."""
    return tocsin_factory()


def error_of(r, status, code=None, field=None):
    """Asserts a Tocsin JSON error response and returns its error object."""
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text}"
    try:
        body = r.json()
    except ValueError:
        pytest.fail(f"error body is not JSON: {r.text!r}")
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), f"bad error shape: {body!r}"
    err = body["error"]
    assert isinstance(err.get("message"), str) and err["message"], f"error without message: {body!r}"
    if code is not None:
        assert err.get("code") == code, f"expected code {code!r}: {body!r}"
    if field is not None:
        assert err.get("field") == field, f"expected field {field!r}: {body!r}"
    return err
