"""Helpers for the on-call e2e tests: a recording webhook receiver, an SMTP
sink (aiosmtpd), config snippets and small polling helpers."""
import hashlib
import hmac
import http.server
import json
import threading
import time

from conftest import ADMIN_TOKEN, free_port, wait_for  # noqa: F401


class Hook:
    """A threaded HTTP server recording every POST it gets.

    status_fn(hook, request_dict) -> int decides the answer (default 200).
    Each recorded request: {"path", "headers" (lower-case keys), "body" (bytes),
    "json", "t" (arrival time), "status" (what we answered)}."""

    def __init__(self, status_fn=None):
        self.requests = []
        self.lock = threading.Lock()
        self.status_fn = status_fn
        hook = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                try:
                    js = json.loads(body)
                except ValueError:
                    js = None
                req = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                       "body": body, "json": js, "t": time.time()}
                status = hook.status_fn(hook, req) if hook.status_fn else 200
                req["status"] = status
                with hook.lock:
                    hook.requests.append(req)
                out = b'{"ok":true}' if status < 300 else b'{"error":"nope"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def ok(self, path=None):
        return [r for r in self.snapshot() if r["status"] < 300 and (path is None or r["path"] == path)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def verify_signature(secret, req):
    """Asserts X-Tocsin-Signature = sha256=HMAC(secret, TS + "." + body)."""
    ts = req["headers"].get("x-tocsin-timestamp")
    sig = req["headers"].get("x-tocsin-signature")
    assert ts and ts.isdigit(), f"no/invalid X-Tocsin-Timestamp: {req['headers']!r}"
    assert abs(int(ts) - time.time()) < 120, f"timestamp {ts} is not now"
    want = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + req["body"],
                                hashlib.sha256).hexdigest()
    assert sig == want, f"signature {sig!r} != {want!r}"


class SmtpSink:
    """aiosmtpd Controller on a free port that keeps every message."""

    def __init__(self, reply_fn=None):
        from aiosmtpd.controller import Controller

        self.reply_fn = reply_fn  # (sink, envelope) -> "250 OK" | "451 ..." | "550 ..."
        self.attempts = 0
        self.messages = []  # (envelope_from, [rcpt], bytes)
        self.lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                with sink.lock:
                    sink.attempts += 1
                reply = sink.reply_fn(sink, envelope) if sink.reply_fn else "250 OK"
                if not reply.startswith("250"):
                    return reply
                with sink.lock:
                    sink.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                                          envelope.original_content or envelope.content))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def snapshot(self):
        with self.lock:
            return list(self.messages)

    def close(self):
        self.controller.stop()


# --- config pieces --------------------------------------------------------------------------
def routes_for(policy=None, notify=None, extra_routes=""):
    """One route: label team=ops -> service shop (with `policy`), plus an optional notify list."""
    lines = ["routes:", "  - match:", "      team: ops", "    service: shop"]
    if policy:
        lines.append(f"    escalation_policy: {policy}")
    if notify:
        lines.append(f"    notify: [{', '.join(notify)}]")
    return "\n".join(lines) + "\n" + extra_routes


def timeline(t, inc_id, kind=None):
    tl = t.incident(inc_id)["timeline"]
    return [e for e in tl if kind is None or e["kind"] == kind]


def notifications(t, **params):
    r = t.get("/api/v1/notifications", params=dict(limit=500, **params))
    assert r.status_code == 200, r.text
    return r.json()["notifications"]


def raise_incident(t, key, summary="disk full", severity="critical", labels=None):
    lab = {"team": "ops", "alertname": key}
    lab.update(labels or {})
    res = t.trigger(lab, summary=summary, severity=severity, dedup_key=key)
    assert len(res["incident_ids"]) == 1, res
    return res["incident_ids"][0]
