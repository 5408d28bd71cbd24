"""On call, delivery side: real SMTP with action links, webhook retries and
dead letters with signatures, partner notifications, digests, Slack/Teams."""
import email
import email.policy
import re
import time
import urllib.parse

import pytest
import requests

from conftest import RESPONDER_TOKEN, config_text, error_of, wait_for
from oncall_util import (Hook, SmtpSink, notifications, raise_incident, routes_for, timeline,
                         verify_signature)

SECRET = "hook-secret-0123456789abcdef"


@pytest.fixture
def hooks():
    made = []

    def make(status_fn=None):
        h = Hook(status_fn)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


@pytest.fixture
def smtp():
    s = SmtpSink()
    yield s
    s.close()


def rebase(t, url):
    """The path of an action link on this server (see test_links_use_bound_address)."""
    p = urllib.parse.urlsplit(url)
    return t.url + p.path


def key_of(req):
    return req["headers"].get("idempotency-key")


# --- 1. real SMTP, one-click acknowledgement ---------------------------------------------
def smtp_config(smtp_port, public_url=None):
    notif = f"notifications:\n  public_url: {public_url}\n" if public_url else ""
    return config_text(routes=routes_for("ops"), extra=f"""\
users:
  - {{name: anna, full_name: Anna Berg, email: anna@example.org, contact: [{{channel: mail}}]}}
escalation_policies:
  - name: ops
    levels:
      - {{delay: 0, targets: ["user:anna"]}}
channels:
  - {{name: mail, type: smtp, url: "smtp://127.0.0.1:{smtp_port}", from: "tocsin@example.org",
     retry_min: 200ms, retry_max: 1s}}
{notif}""")


def test_smtp_mail_and_action_link(tocsin_factory, smtp):
    t = tocsin_factory(text=smtp_config(smtp.port))
    inc = raise_incident(t, "disk-sda", summary="disk full on db1")
    msgs = wait_for(lambda: smtp.snapshot(), timeout=10, what="a mail at the SMTP sink")
    time.sleep(0.3)
    assert len(smtp.snapshot()) == 1, "exactly one mail expected"
    mail_from, rcpts, raw = msgs[0]
    assert mail_from == "tocsin@example.org"
    assert rcpts == ["anna@example.org"]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert "tocsin@example.org" in msg["From"]
    assert "anna@example.org" in msg["To"]
    assert msg["Subject"] == f"[Tocsin] INC-{inc} triggered: disk full on db1 (P1, critical)"
    rows = wait_for(lambda: [n for n in notifications(t, incident=inc) if n["status"] == "delivered"],
                    what="the outbox row delivered")
    assert len(rows) == 1 and rows[0]["channel"] == "mail" and rows[0]["target"] == "anna"
    assert rows[0]["address"] == "anna@example.org"
    assert msg["Message-ID"] == f"<{rows[0]['idempotency_key']}@tocsin>"
    assert msg.get_content_type() == "text/plain"
    body = msg.get_content().replace("\r\n", "\n")
    assert "disk full on db1" in body
    m = re.search(r"^Acknowledge: (\S+)$", body, re.M)
    assert m, f"no acknowledge link in the mail body:\n{body}"
    ack = rebase(t, m.group(1))
    assert re.search(r"^Resolve: \S+/a/\S+$", body, re.M), body

    # GET only shows a confirmation page; the incident stays triggered.
    s = requests.Session()
    r = s.get(ack, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/html")
    assert '<form method="post"' in r.text and f"INC-{inc}" in r.text and "anna" in r.text
    assert t.incident(inc)["status"] == "triggered"

    # POST acts, in the name of the user the link was sent to.
    r = s.post(ack, timeout=10)
    assert r.status_code == 200, r.text
    assert "acknowledged" in r.text
    got = t.incident(inc)
    assert got["status"] == "acknowledged"
    assert got["assignee"] == "anna"
    acks = [e for e in got["timeline"] if e["kind"] == "acknowledged"]
    assert len(acks) == 1, got["timeline"]
    assert "via the link sent to anna" in acks[0]["text"], acks[0]
    assert acks[0]["actor"] == "anna", acks[0]

    # Single use.
    r = s.post(ack, timeout=10)
    assert r.status_code == 409, r.text
    assert "already" in r.text
    # A tampered token is refused.
    r = s.post(ack[:-3] + ("AAA" if not ack.endswith("AAA") else "BBB"), timeout=10)
    assert r.status_code == 404, r.text


def test_links_use_bound_address_without_public_url(tocsin_factory, smtp):
    """config.h: public_url defaults to the address the server bound; the test
    server listens on 127.0.0.1:0, so the links must name its real port."""
    t = tocsin_factory(text=smtp_config(smtp.port))
    raise_incident(t, "disk-sda")
    msgs = wait_for(lambda: smtp.snapshot(), timeout=10, what="a mail")
    body = email.message_from_bytes(msgs[0][2], policy=email.policy.default).get_content().replace("\r\n", "\n")
    links = re.findall(r"^(?:Acknowledge|Resolve|Incident): (\S+)$", body, re.M)
    assert len(links) == 3, body
    for link in links:
        assert link.startswith(t.url + "/"), f"link {link} does not point at this server ({t.url})"


def test_public_url_is_used_for_links(tocsin_factory, smtp):
    t = tocsin_factory(text=smtp_config(smtp.port, public_url="https://oncall.example.org/"))
    raise_incident(t, "disk-sda")
    msgs = wait_for(lambda: smtp.snapshot(), timeout=10, what="a mail")
    body = email.message_from_bytes(msgs[0][2], policy=email.policy.default).get_content().replace("\r\n", "\n")
    assert re.search(r"^Acknowledge: https://oncall\.example\.org/a/\S+$", body, re.M), body
    assert re.search(r"^Incident: https://oncall\.example\.org/api/v1/incidents/\d+$", body, re.M), body


# --- 2. webhook retries, dead letters ----------------------------------------------------
def hook_config(url, policy_targets=("user:anna", "user:ben"), max_attempts=20, extra="",
                channel_extra="", levels=None, notify=None, contact=None):
    targets = ", ".join(f'"{x}"' for x in policy_targets)
    contact = contact or "[{channel: hook}]"
    levels = levels or f'      - {{delay: 0, targets: [{targets}]}}\n'
    return config_text(routes=routes_for("ops", notify=notify), extra=f"""\
users:
  - {{name: anna, email: anna@example.org, contact: {contact}}}
  - {{name: ben, email: ben@example.org, contact: {contact}}}
escalation_policies:
  - name: ops
    levels:
{levels}channels:
  - {{name: hook, type: webhook, url: "{url}", secret: "{SECRET}", retry_min: 200ms,
     retry_max: 400ms, max_attempts: {max_attempts}{channel_extra}}}
{extra}""")


def test_webhook_down_then_up_delivers_each_once(tocsin_factory, hooks):
    up_at = time.time() + 2.5
    hook = hooks(lambda h, r: 503 if time.time() < up_at else 200)
    t = tocsin_factory(text=hook_config(hook.url + "/hook"))
    incs = [raise_incident(t, f"k{i}", summary=f"broken {i}") for i in range(3)]
    # 3 incidents x 2 users
    wait_for(lambda: len({key_of(r) for r in hook.ok()}) == 6, timeout=15,
             what="6 distinct notifications answered 200")
    time.sleep(1.0)  # nothing more may come
    reqs = hook.snapshot()
    keys = {key_of(r) for r in reqs}
    assert len(keys) == 6 and None not in keys, keys
    for k in keys:
        mine = [r for r in reqs if key_of(r) == k]
        oks = [r for r in mine if r["status"] == 200]
        assert len(oks) == 1, f"{k}: {len(oks)} deliveries answered 200"
        assert mine[-1]["status"] == 200 and all(r["status"] == 503 for r in mine[:-1]), \
            f"{k}: {[r['status'] for r in mine]}"
        assert len(mine) >= 2, f"{k} was never refused?"
        for r in mine:
            verify_signature(SECRET, r)
            assert r["json"]["idempotency_key"] == k
        # the same message every time
        assert len({(r["json"]["text"], r["json"]["incident"]["id"]) for r in mine}) == 1
        gaps = [b["t"] - a["t"] for a, b in zip(mine, mine[1:])]
        assert all(g >= 0.12 for g in gaps), f"{k}: retries faster than retry_min-20%: {gaps}"
    for inc in incs:
        rows = notifications(t, incident=inc)
        assert len(rows) == 2, rows
        for row in rows:
            assert row["status"] == "delivered", row
            n = len([r for r in reqs if key_of(r) == row["idempotency_key"]])
            assert row["attempts"] == n, (row, n)
            tl = [e for e in timeline(t, inc) if (e.get("data") or {}).get("notification_id") == row["id"]]
            kinds = [e["kind"] for e in tl]
            assert kinds == ["notification_failed"] * (n - 1) + ["notified"], kinds
            assert "HTTP 503" in tl[0]["text"] and "attempt 1 of 20" in tl[0]["text"], tl[0]
            assert "delivered (HTTP 200)" in tl[-1]["text"], tl[-1]


def test_webhook_4xx_is_a_dead_letter_and_retry_requeues(tocsin_factory, hooks):
    state = {"code": 400}
    hook = hooks(lambda h, r: state["code"])
    t = tocsin_factory(text=hook_config(hook.url + "/hook", policy_targets=("user:anna",)))
    inc = raise_incident(t, "k-dead")
    dead = wait_for(lambda: notifications(t, status="dead"), timeout=10, what="a dead letter")
    assert len(dead) == 1 and dead[0]["incident_id"] == inc and dead[0]["attempts"] == 1, dead
    assert "400" in dead[0]["detail"], dead
    assert len(hook.snapshot()) == 1, "a 4xx must not be retried"
    tl = timeline(t, inc, "notification_dead")
    assert len(tl) == 1 and "gave up notifying anna by hook after 1 attempt" in tl[0]["text"], tl
    r = t.get("/api/v1/notifications", params={"status": "dead"})
    assert r.json()["counts"].get("dead") == 1, r.json()

    nid = dead[0]["id"]
    # only admins may retry; only dead letters can be retried
    error_of(t.post(f"/api/v1/notifications/{nid}/retry", {}, token=RESPONDER_TOKEN), 403)
    error_of(t.post("/api/v1/notifications/99999/retry", {}), 404)
    error_of(t.post("/api/v1/notifications/abc/retry", {}), 404)
    state["code"] = 200
    r = t.post(f"/api/v1/notifications/{nid}/retry", {})
    assert r.status_code == 202, r.text
    assert r.json() == {"id": nid, "status": "pending"}
    wait_for(lambda: hook.ok(), timeout=10, what="the retried delivery")
    reqs = hook.snapshot()
    assert len(reqs) == 2 and key_of(reqs[0]) == key_of(reqs[1]) == dead[0]["idempotency_key"]
    row = wait_for(lambda: [n for n in notifications(t, incident=inc) if n["status"] == "delivered"],
                   what="row delivered")
    assert row[0]["id"] == nid
    assert timeline(t, inc)[-1]["kind"] == "notified"
    # a delivered row is no dead letter
    error_of(t.post(f"/api/v1/notifications/{nid}/retry", {}), 404)
    error_of(t.get("/api/v1/notifications", params={"status": "bogus"}), 400, field="status")


def test_webhook_retries_run_out_into_a_dead_letter(tocsin_factory, hooks):
    hook = hooks(lambda h, r: 500)
    t = tocsin_factory(text=hook_config(hook.url + "/hook", policy_targets=("user:anna",),
                                        max_attempts=3))
    inc = raise_incident(t, "k-500")
    dead = wait_for(lambda: notifications(t, status="dead"), timeout=10, what="a dead letter")
    assert dead[0]["attempts"] == 3, dead
    time.sleep(0.8)
    assert len(hook.snapshot()) == 3
    kinds = [e["kind"] for e in timeline(t, inc) if e["kind"].startswith("notif")]
    assert kinds == ["notification_failed", "notification_failed", "notification_dead"], kinds


# --- 7. partners -------------------------------------------------------------------------
def test_partner_hears_triggered_acknowledged_resolved(tocsin_factory, hooks):
    hook = hooks()
    text = hook_config(hook.url + "/hook", policy_targets=("user:anna",), notify=["partner"],
                       extra="") .replace(
        "channels:\n", f'channels:\n  - {{name: partner, type: webhook, url: "{hook.url}/partner"}}\n')
    t = tocsin_factory(text=text)
    inc = raise_incident(t, "k-partner")
    wait_for(lambda: hook.ok("/partner"), what="partner triggered")
    r = t.post(f"/api/v1/incidents/{inc}/acknowledge", {}, token=RESPONDER_TOKEN)
    assert r.status_code == 200, r.text
    wait_for(lambda: len(hook.ok("/partner")) == 2, what="partner acknowledged")
    r = t.post(f"/api/v1/incidents/{inc}/resolve", {}, token=RESPONDER_TOKEN)
    assert r.status_code == 200, r.text
    wait_for(lambda: len(hook.ok("/partner")) == 3, what="partner resolved")
    time.sleep(0.3)
    got = hook.ok("/partner")
    assert [r["json"]["kind"] for r in got] == ["incident.triggered", "incident.acknowledged",
                                                "incident.resolved"]
    for r in got:
        assert r["json"]["incident"]["id"] == inc
        assert r["json"]["user"] is None or "user" not in r["json"]
        assert "acknowledge" not in r["json"]["links"], "partners get no action links"
        assert "x-tocsin-signature" not in r["headers"], "no secret, no signature"
    assert len({key_of(r) for r in got}) == 3
    # the user was paged separately, on the other path
    assert len(hook.ok("/hook")) == 1
    # each message shows the incident as it is after the change
    assert [r["json"]["incident"]["status"] for r in got] == ["triggered", "acknowledged", "resolved"]


# --- 8. digests --------------------------------------------------------------------------
def test_digest_after_two_pages(tocsin_factory, hooks):
    hook = hooks()
    t = tocsin_factory(text=hook_config(
        hook.url + "/hook", policy_targets=("user:anna",),
        extra="notifications:\n  digest: {after: 2, window: 3s}\n"))
    t0 = time.time()
    incs = [raise_incident(t, f"d{i}", summary=f"thing {i} broke") for i in range(5)]
    wait_for(lambda: len(hook.ok()) >= 2, what="two pages")
    time.sleep(1.0)
    first = hook.ok()
    assert [r["json"]["kind"] for r in first] == ["incident.triggered"] * 2, \
        [r["json"]["kind"] for r in first]
    assert [r["json"]["incident"]["id"] for r in first] == incs[:2]
    got = wait_for(lambda: len(hook.ok()) >= 3 and hook.ok(), timeout=8, what="the digest")
    time.sleep(0.5)
    got = hook.ok()
    assert len(got) == 3, [r["json"]["kind"] for r in got]
    d = got[2]
    assert d["t"] - t0 >= 2.7, f"digest came {d['t'] - t0:.2f}s after the first page (window 3s)"
    p = d["json"]
    assert p["kind"] == "digest" and p["user"] == "anna", p
    assert p["digest"]["count"] == 3, p
    assert [i["number"] for i in p["digest"]["incidents"]] == [f"INC-{i}" for i in incs[2:]]
    assert [i["title"] for i in p["digest"]["incidents"]] == ["thing 2 broke", "thing 3 broke",
                                                              "thing 4 broke"]
    assert p["text"] == "3 more incidents for service=shop", p["text"]
    verify_signature(SECRET, d)


# --- Slack / Teams -----------------------------------------------------------------------
def test_slack_and_teams_bodies(tocsin_factory, hooks):
    hook = hooks()
    text = hook_config(hook.url + "/hook", policy_targets=("user:anna",),
                       contact="[{channel: slack}, {channel: teams}]").replace(
        "channels:\n",
        f'channels:\n  - {{name: slack, type: webhook, format: slack, url: "{hook.url}/slack"}}\n'
        f'  - {{name: teams, type: webhook, format: teams, url: "{hook.url}/teams"}}\n')
    t = tocsin_factory(text=text)
    inc = raise_incident(t, "k-chat", summary="queue stuck")
    wait_for(lambda: len(hook.ok()) == 2, what="slack and teams")
    s = hook.ok("/slack")[0]["json"]
    assert isinstance(s["text"], str) and f"INC-{inc}" in s["text"] and "queue stuck" in s["text"]
    assert isinstance(s["blocks"], list) and s["blocks"][0]["type"] == "section"
    actions = [b for b in s["blocks"] if b["type"] == "actions"]
    assert len(actions) == 1
    urls = {e["text"]["text"]: e["url"] for e in actions[0]["elements"]}
    assert any("/a/" in u for u in urls.values()), urls
    tm = hook.ok("/teams")[0]["json"]
    assert tm["@type"] == "MessageCard" and tm["@context"] == "https://schema.org/extensions"
    assert "queue stuck" in tm["title"] and tm["themeColor"] == "D13438"
    names = [a["name"] for a in tm["potentialAction"]]
    assert names == ["Acknowledge", "Resolve", "Open incident"], names
    for a in tm["potentialAction"]:
        assert a["@type"] == "OpenUri" and a["targets"][0]["os"] == "default"
    assert "/a/" in tm["potentialAction"][0]["targets"][0]["uri"]
    assert tm["potentialAction"][2]["targets"][0]["uri"].endswith(f"/api/v1/incidents/{inc}")


# --- action links: resolve, expiry, used after resolve -----------------------------------
def test_action_links_resolve_expire_and_conflict(tocsin_factory, hooks):
    hook = hooks()
    t = tocsin_factory(text=hook_config(hook.url + "/hook", policy_targets=("user:anna",),
                                        extra="notifications:\n  link_ttl: 2s\n"))
    i1 = raise_incident(t, "l1")
    i2 = raise_incident(t, "l2")
    wait_for(lambda: len(hook.ok()) == 2, what="two pages")
    links = {r["json"]["incident"]["id"]: r["json"]["links"] for r in hook.ok()}
    # resolve i1 with its link
    res = rebase(t, links[i1]["resolve"])
    r = requests.get(res, timeout=10)
    assert r.status_code == 200 and "Resolve INC-" in r.text, r.text
    r = requests.post(res, timeout=10)
    assert r.status_code == 200, r.text
    got = t.incident(i1)
    assert got["status"] == "resolved" and got["resolved_by"] == "anna", got
    tl = [e for e in got["timeline"] if e["kind"] == "resolved"]
    assert tl and "via the link sent to anna" in tl[0]["text"], tl
    # the ack link of a resolved incident cannot act
    r = requests.post(rebase(t, links[i1]["acknowledge"]), timeout=10)
    assert r.status_code == 409, r.text
    # a link of one incident does not work for another
    tok = links[i2]["acknowledge"].rsplit("/", 1)[1]
    r = requests.post(t.url + "/a/" + tok[:-1] + ("A" if tok[-1] != "A" else "B"), timeout=10)
    assert r.status_code == 404, r.text
    # expiry (link_ttl 2s)
    time.sleep(2.3)
    r = requests.get(rebase(t, links[i2]["acknowledge"]), timeout=10)
    assert r.status_code == 410, r.text
    r = requests.post(rebase(t, links[i2]["acknowledge"]), timeout=10)
    assert r.status_code == 410, r.text
    assert t.incident(i2)["status"] == "triggered"


def test_pending_notifications_survive_kill9(tocsin_factory, hooks):
    state = {"up": False}
    hook = hooks(lambda h, r: 200 if state["up"] else 503)
    t = tocsin_factory(text=hook_config(hook.url + "/hook", policy_targets=("user:anna", "user:ben")))
    incs = [raise_incident(t, f"p{i}") for i in range(2)]
    wait_for(lambda: len({key_of(r) for r in hook.snapshot()}) == 4, what="4 refused notifications")
    t.kill()
    refused = hook.snapshot()
    state["up"] = True
    t.start()
    wait_for(lambda: len({key_of(r) for r in hook.ok()}) == 4, timeout=10,
             what="the 4 notifications after the restart")
    time.sleep(1.0)
    oks = hook.ok()
    assert len(oks) == 4, [key_of(r) for r in oks]
    assert {key_of(r) for r in oks} == {key_of(r) for r in refused}
    for inc in incs:
        rows = notifications(t, incident=inc)
        assert len(rows) == 2 and all(r["status"] == "delivered" for r in rows), rows
        for row in rows:
            n = len([r for r in hook.snapshot() if key_of(r) == row["idempotency_key"]])
            # an attempt in flight at the kill is counted again, never lost
            assert n - 1 <= row["attempts"] <= n, (row, n)


def test_smtp_4xx_retries_and_5xx_is_dead(tocsin_factory):
    replies = ["451 4.3.0 try again later", "451 4.3.0 try again later", "250 OK"]
    sink = SmtpSink(lambda s, env: replies.pop(0) if replies else "550 5.1.1 no such user")
    try:
        t = tocsin_factory(text=smtp_config(sink.port))
        i1 = raise_incident(t, "m1")
        wait_for(lambda: sink.snapshot(), timeout=10, what="the mail after two 451s")
        rows = wait_for(lambda: [n for n in notifications(t, incident=i1) if n["status"] == "delivered"],
                        what="row delivered")
        assert rows[0]["attempts"] == 3, rows
        kinds = [e["kind"] for e in timeline(t, i1) if e["kind"].startswith("notif")]
        assert kinds == ["notification_failed", "notification_failed", "notified"], kinds
        assert "451" in timeline(t, i1, "notification_failed")[0]["text"]
        i2 = raise_incident(t, "m2")
        dead = wait_for(lambda: notifications(t, status="dead"), timeout=10, what="a dead letter")
        assert dead[0]["incident_id"] == i2 and dead[0]["attempts"] == 1, dead
        assert "550" in dead[0]["detail"], dead
        assert sink.attempts == 4
    finally:
        sink.close()
