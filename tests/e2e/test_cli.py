"""The command line: version, --help, check-config, serve with a bad config, send-event."""
import json

import re
import subprocess

import pytest

from conftest import (GENERIC_KEY, TOCSIN_BIN, check_sanitizer_text, config_text, fingerprint,
                      free_port, sanitizer_env, write_config)


def run(*args, env=None, timeout=60, cwd=None):
    p = subprocess.run([TOCSIN_BIN, *args], capture_output=True, text=True, timeout=timeout,
                       env=sanitizer_env(env), cwd=cwd)
    check_sanitizer_text(p.stderr, f"tocsin {' '.join(args)}")
    return p


def test_version():
    p = run("version")
    assert p.returncode == 0, p.stderr
    assert re.search(r"tocsin\s+v?\d+\.\d+\.\d+", p.stdout), p.stdout


@pytest.mark.parametrize("sub", ["serve", "check-config", "send-event", "version"])
def test_help(sub):
    p = run(sub, "--help")
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    out = p.stdout + p.stderr
    assert "usage" in out.lower(), out
    assert sub in out, out


def test_help_mentions_options():
    out = run("send-event", "--help").stdout
    for opt in ("--url", "--key", "--action", "--summary", "--severity", "--dedup-key", "--label", "--retries"):
        assert opt in out, f"send-event --help should document {opt}"
    out = run("serve", "--help").stdout
    for opt in ("--config", "--data", "--listen"):
        assert opt in out, f"serve --help should document {opt}"


def test_unknown_subcommand():
    p = run("frobnicate")
    assert p.returncode != 0
    assert p.stderr.strip(), "an unknown command must say something on stderr"


def test_check_config_ok(tmp_path):
    cfg = write_config(tmp_path / "ok.yaml")
    p = run("check-config", cfg)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"{cfg}: ok"


BAD = """\
api_tokens:
  - name: admin
    token: admin-token-7f3c1e9a5b2d4c6e8f0a
    role: superuser
integrations:
  - name: scripts
    type: generic
    key: gen0key1scripts2abcdefghijklmnop
    colour: blue
services:
  - name: shop
    impact: high
routes:
  - match:
      service: shop
    group_by: [service]
    group_window: 5 minutes
    service: nowhere
"""
# line of each problem (1-based) -> a word the message should contain
BAD_LINES = {4: "superuser", 9: "colour", 17: "group_window", 18: "nowhere"}


def test_check_config_reports_every_error(tmp_path):
    cfg = str(tmp_path / "bad.yaml")
    with open(cfg, "w") as f:
        f.write(BAD)
    p = run("check-config", cfg)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    pat = re.compile(r"^" + re.escape(cfg) + r":(\d+):(\d+): (.+)$")
    found = {}
    for l in lines:
        m = pat.match(l)
        if m:
            found.setdefault(int(m.group(1)), []).append((int(m.group(2)), m.group(3)))
    for line, word in BAD_LINES.items():
        assert line in found, f"no error reported at {cfg}:{line} ({word}); stderr:\n{p.stderr}"
        assert any(c >= 1 for c, _ in found[line])
    assert any("colour" in msg for _, msg in found[9]), found[9]
    # unknown key: the column of the key itself
    assert any(c == 5 for c, _ in found[9]), found[9]
    assert "ok" not in p.stdout


def test_check_config_yaml_syntax_error(tmp_path):
    cfg = str(tmp_path / "syntax.yaml")
    with open(cfg, "w") as f:
        f.write("api_tokens:\n  - name: a\n    token: [unclosed\n")
    p = run("check-config", cfg)
    assert p.returncode == 1
    assert re.search(r"^" + re.escape(cfg) + r":\d+:\d+: ", p.stderr, re.M), p.stderr


def test_check_config_missing_file(tmp_path):
    p = run("check-config", str(tmp_path / "nope.yaml"))
    assert p.returncode != 0
    assert "nope.yaml" in p.stderr


def test_env_secret(tmp_path, tocsin_factory):
    text = config_text(generic_key="env:TOCSIN_E2E_SCRIPTS_KEY")
    cfg = write_config(tmp_path / "env.yaml", text)
    # missing variable: an error at the key's line
    p = subprocess.run([TOCSIN_BIN, "check-config", cfg], capture_output=True, text=True,
                       env={**sanitizer_env(), "TOCSIN_E2E_SCRIPTS_KEY": ""}, timeout=60)
    assert p.returncode == 1, p.stdout
    assert "TOCSIN_E2E_SCRIPTS_KEY" in p.stderr and re.search(re.escape(cfg) + r":\d+:\d+: ", p.stderr)
    secret = "from-the-environment-0123456789ab"
    p = run("check-config", cfg, env={"TOCSIN_E2E_SCRIPTS_KEY": secret})
    assert p.returncode == 0, p.stderr
    t = tocsin_factory(text, env={"TOCSIN_E2E_SCRIPTS_KEY": secret})
    r = t.post_event({"labels": {"alertname": "E"}, "summary": "x", "severity": "info"}, key=secret)
    assert r.json()["results"][0]["outcome"] == "created"
    # the literal "env:..." string is not the key
    r = t.post_event({"labels": {"alertname": "E"}, "summary": "x"}, key="env:TOCSIN_E2E_SCRIPTS_KEY",
                     expect=None)
    assert r.status_code == 403


def test_serve_bad_config_exits_nonzero(tmp_path):
    cfg = str(tmp_path / "bad.yaml")
    with open(cfg, "w") as f:
        f.write(BAD)
    p = run("serve", "--config", cfg, "--data", str(tmp_path / "data"), "--listen", "127.0.0.1:0",
            timeout=30)
    assert p.returncode != 0
    assert re.search(r"^" + re.escape(cfg) + r":4:\d+: ", p.stderr, re.M), p.stderr
    assert "listening on" not in p.stdout


# --- send-event ----------------------------------------------------------------------------
def send(t_url, *args, key=GENERIC_KEY, env=None):
    a = ["send-event"]
    if t_url is not None:
        a += ["--url", t_url]
    if key is not None:
        a += ["--key", key]
    return run(*a, *args, env=env, timeout=60)


def test_send_event_trigger_and_resolve(tocsin):
    lbl = {"service": "shop", "alertname": "CliTest", "host": "h1"}
    p = send(tocsin.url, "--summary", "from the cli", "--severity", "error", "--source", "cron",
             "--label", "service=shop", "--label", "alertname=CliTest", "--label", "host=h1",
             "--details", '{"exit": 3}')
    assert p.returncode == 0, (p.stdout, p.stderr)
    ans = json.loads(p.stdout)
    assert ans["status"] == "accepted"
    res = ans["results"][0]
    assert res["outcome"] == "created" and res["dedup_key"] == fingerprint(lbl)
    a = tocsin.alert(res["alert_id"])
    assert a["labels"] == lbl and a["summary"] == "from the cli" and a["severity"] == "error"
    assert a["source"] == "cron" and a["details"] == {"exit": 3}

    p = send(tocsin.url, "--action", "resolve", "--label", "service=shop", "--label", "alertname=CliTest",
             "--label", "host=h1")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert json.loads(p.stdout)["results"][0]["outcome"] == "resolved"
    assert tocsin.alert(res["alert_id"])["status"] == "resolved"


def test_send_event_dedup_key_and_env(tocsin):
    p = send(None, "--summary", "env url", "--dedup-key", "cli-key", key=None,
             env={"TOCSIN_URL": tocsin.url, "TOCSIN_KEY": GENERIC_KEY})
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert json.loads(p.stdout)["results"][0]["dedup_key"] == "cli-key"
    assert len(tocsin.alerts_by_key("cli-key", "scripts")) == 1


def test_send_event_wrong_key_exit_1(tocsin):
    p = send(tocsin.url, "--summary", "x", "--label", "alertname=X", key="wrong-key-wrong-key-wrong-key-00")
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert p.stderr.strip()
    p = send(tocsin.url, "--summary", "x", "--severity", "catastrophic", "--label", "alertname=X")
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert tocsin.alerts() == []


def test_send_event_unreachable_exit_2():
    port = free_port()   # nothing listens there
    p = send(f"http://127.0.0.1:{port}", "--summary", "x", "--label", "alertname=X", "--retries", "0")
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert p.stderr.strip()


def test_sigint_clean_exit(tocsin):
    import signal
    tocsin.trigger({"alertname": "BeforeSigint"})
    tocsin.proc.send_signal(signal.SIGINT)
    rc = tocsin.proc.wait(timeout=10)
    tocsin.proc = None
    assert rc == 0, tocsin.stderr()
    check_sanitizer_text(tocsin.stderr())
    tocsin.start()
    assert [a["labels"]["alertname"] for a in tocsin.alerts()] == ["BeforeSigint"]


def test_serve_port_in_use(tmp_path, tocsin):
    p = run("serve", "--config", tocsin.config, "--data", str(tmp_path / "d2"),
            "--listen", f"127.0.0.1:{tocsin.port}", timeout=30)
    assert p.returncode != 0
    assert str(tocsin.port) in p.stderr or "in use" in p.stderr.lower(), p.stderr
