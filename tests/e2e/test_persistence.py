"""Durability: a clean restart keeps everything; SIGKILL loses nothing that was acknowledged."""
import collections
import random
import threading
import time

import requests

from conftest import GENERIC_KEY, PD_KEY


def snapshot(t):
    incs = {i["id"]: t.incident(i["id"]) for i in t.incidents()}
    alerts = {a["id"]: t.alert(a["id"]) for a in t.alerts()}
    return incs, alerts


def test_clean_restart_keeps_state(tocsin):
    a = tocsin.trigger({"service": "shop", "alertname": "A", "host": "h1"}, severity="warning")
    tocsin.trigger({"service": "shop", "alertname": "A", "host": "h1"}, severity="critical")  # count 2
    b = tocsin.trigger({"service": "shop", "alertname": "B", "host": "h1"}, dedup_key="bee")
    tocsin.post_event({"dedup_key": "bee", "action": "resolve"})
    iid = a["incident_ids"][0]
    assert tocsin.post(f"/api/v1/incidents/{iid}/acknowledge").status_code == 200
    assert tocsin.post(f"/api/v1/incidents/{iid}/notes", {"text": "survives restarts"}).status_code == 201
    tocsin.pd({"routing_key": PD_KEY, "event_action": "trigger", "dedup_key": "pd-1",
               "payload": {"summary": "pd", "source": "x", "severity": "error"}})
    assert tocsin.req("POST", "/v2/change/enqueue",
                      json={"routing_key": PD_KEY, "payload": {"summary": "deploy 7"}}).status_code == 202
    before = snapshot(tocsin)
    changes = tocsin.get_json("/api/v1/changes")["changes"]
    audit = tocsin.get_json("/api/v1/audit")["entries"]

    tocsin.restart()   # SIGTERM (exit 0 asserted) + start on the same data dir

    after = snapshot(tocsin)
    assert after == before
    assert tocsin.get_json("/api/v1/changes")["changes"] == changes
    audit_after = tocsin.get_json("/api/v1/audit")["entries"]
    assert audit, "the acknowledge and the note must have been audited"
    assert all(e in audit_after for e in audit), "audit entries lost or changed by a restart"
    # dedup state survives: the same labels update the same alert
    again = tocsin.trigger({"service": "shop", "alertname": "A", "host": "h1"})
    assert again["outcome"] == "updated" and again["alert_id"] == a["alert_id"]
    assert tocsin.alert(a["alert_id"])["count"] == 3
    # a resolved alert stays resolved: a new trigger opens a new one
    c = tocsin.trigger({"service": "shop", "alertname": "B", "host": "h1"}, dedup_key="bee")
    assert c["outcome"] == "created" and c["alert_id"] != b["alert_id"]
    # incident numbers continue, never reuse
    nums = [int(i["number"].split("-")[1]) for i in tocsin.incidents()]
    assert len(nums) == len(set(nums))
    new = tocsin.trigger({"service": "shop", "alertname": "C"})
    newnum = int(tocsin.incident(new["incident_ids"][0])["number"].split("-")[1])
    assert newnum > max(nums)


class Load:
    """Client threads posting generic events; records what the server acknowledged."""

    def __init__(self, url, nthreads=6, seed=0):
        self.url = url
        self.nthreads = nthreads
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked_triggers = collections.Counter()   # dedup_key -> acked trigger count
        self.resolved_keys = {}                        # dedup_key -> last acked action was resolve
        self.sent = 0
        self.errors = collections.Counter()
        self.seed = seed

    def _post(self, sess, body):
        try:
            r = sess.post(self.url + "/api/v1/events", json=body, timeout=5,
                          headers={"Authorization": f"Bearer {GENERIC_KEY}"})
        except requests.RequestException as e:
            with self.lock:
                self.errors[type(e).__name__] += 1
            return None
        with self.lock:
            self.sent += 1
            if not (200 <= r.status_code < 300):
                self.errors[r.status_code] += 1
        return r if 200 <= r.status_code < 300 else None

    def worker(self, tid):
        rnd = random.Random(self.seed * 100 + tid)
        sess = requests.Session()
        i = 0
        while not self.stop.is_set():
            i += 1
            mode = rnd.random()
            if mode < 0.15:
                # open and close a dedicated key (trigger then resolve, in order)
                key = f"rs-{self.seed}-{tid}-{i}"
                ev = {"labels": {"service": "shop", "alertname": "Flap", "k": key},
                      "summary": "flap", "severity": "warning", "dedup_key": key}
                if self._post(sess, ev) is None:
                    continue
                with self.lock:
                    self.acked_triggers[key] += 1
                    self.resolved_keys[key] = False
                if self._post(sess, {"dedup_key": key, "action": "resolve"}) is not None:
                    with self.lock:
                        self.resolved_keys[key] = True
                continue
            if mode < 0.55:
                n = 1
            else:
                n = rnd.randint(2, 20)
            evs = []
            for _ in range(n):
                if rnd.random() < 0.5:
                    key = f"hot-{rnd.randint(0, 14)}"          # repeats, shared by all threads
                else:
                    key = f"new-{self.seed}-{tid}-{i}-{len(evs)}"  # fresh
                evs.append({"labels": {"service": "shop", "alertname": f"Load{rnd.randint(0, 3)}",
                                       "k": key},
                            "summary": f"load {key}", "severity": rnd.choice(["critical", "warning", "info"]),
                            "dedup_key": key})
            body = evs[0] if n == 1 else evs
            r = self._post(sess, body)
            if r is None:
                continue
            res = r.json()["results"]
            assert len(res) == n
            with self.lock:
                for e in evs:
                    self.acked_triggers[e["dedup_key"]] += 1

    def run_then(self, seconds, action):
        threads = [threading.Thread(target=self.worker, args=(t,), daemon=True)
                   for t in range(self.nthreads)]
        for th in threads:
            th.start()
        time.sleep(seconds)
        action()            # SIGKILL while the workers are still posting
        self.stop.set()
        for th in threads:
            th.join(timeout=30)
        assert not any(th.is_alive() for th in threads), "client threads hung"


def check_consistency(t, acked_triggers, resolved_keys):
    alerts = t.alerts()
    by_key = collections.defaultdict(list)
    for a in alerts:
        if a["integration"] == "scripts":
            by_key[a["dedup_key"]].append(a)
    missing = [k for k in acked_triggers if k not in by_key]
    assert not missing, f"{len(missing)} acknowledged dedup keys lost after SIGKILL, e.g. {missing[:10]}"
    short = {k: (sum(a["count"] for a in by_key[k]), n) for k, n in acked_triggers.items()
             if sum(a["count"] for a in by_key[k]) < n}
    assert not short, f"acknowledged triggers lost (stored count, acked): {dict(list(short.items())[:10])}"
    dup_open = {k: [a["id"] for a in v if a["status"] != "resolved"] for k, v in by_key.items()}
    dup_open = {k: v for k, v in dup_open.items() if len(v) > 1}
    assert not dup_open, f"several open alerts for one dedup key: {dup_open}"
    for k, done in resolved_keys.items():
        if done:
            states = [a["status"] for a in by_key[k]]
            assert all(s == "resolved" for s in states), f"acked resolve of {k} lost: {states}"

    incidents = {i["id"]: i for i in t.incidents()}
    nums = [i["number"] for i in incidents.values()]
    assert len(nums) == len(set(nums)), "duplicate incident numbers"
    open_per_inc = collections.Counter()
    for a in alerts:
        if a["status"] == "resolved":
            continue
        assert a["incident_ids"], f"open alert {a['id']} belongs to no incident"
        open_incs = [i for i in a["incident_ids"] if incidents[i]["status"] != "resolved"]
        assert open_incs, (f"open alert {a['id']} ({a['dedup_key']}) only in resolved incidents "
                           f"{[(i, incidents[i]['status']) for i in a['incident_ids']]}")
        for i in a["incident_ids"]:
            open_per_inc[i] += 1
    for iid, inc in incidents.items():
        assert inc["open_alert_count"] == open_per_inc[iid], \
            f"{inc['number']}: open_alert_count {inc['open_alert_count']} but {open_per_inc[iid]} open alerts"
        if inc["status"] == "resolved":
            assert open_per_inc[iid] == 0, f"resolved {inc['number']} still has open alerts"
        else:
            assert open_per_inc[iid] > 0, f"open {inc['number']} has no open alert"
    return len(alerts), len(incidents)


def test_kill_9_loses_nothing_acknowledged(tocsin):
    acked = collections.Counter()
    resolved = {}
    for round_ in range(2):
        load = Load(tocsin.url, nthreads=6, seed=round_)
        load.run_then(4.0, tocsin.kill)
        assert sum(load.acked_triggers.values()) > 50, \
            f"too little load got through to make the test meaningful: sent={load.sent} errors={dict(load.errors)}"
        print(f"round {round_}: requests answered={load.sent} acked events={sum(load.acked_triggers.values())} "
              f"keys={len(load.acked_triggers)} failures={dict(load.errors)}")
        acked.update(load.acked_triggers)
        resolved.update(load.resolved_keys)
        tocsin.start()   # same data dir
        n_alerts, n_incs = check_consistency(tocsin, acked, resolved)
        assert n_alerts >= len(acked)
    # and the server still works after two crashes
    res = tocsin.trigger({"service": "shop", "alertname": "Load0", "k": "hot-0"}, dedup_key="hot-0")
    assert res["outcome"] == "updated"
    tocsin.stop()   # clean exit 0


def test_expiry_timer_survives_restart(tocsin):
    import time
    from conftest import iso, wait_for
    soon = {"labels": {"alertname": "Soon", "service": "shop"}, "endsAt": iso(offset_s=4)}
    gone = {"labels": {"alertname": "WhileDown", "service": "shop"}, "endsAt": iso(offset_s=1.5)}
    later = {"labels": {"alertname": "Later", "service": "shop"}, "endsAt": iso(offset_s=600)}
    tocsin.am_alerts([soon, gone, later])
    ids = {a["labels"]["alertname"]: a["id"] for a in tocsin.alerts()}
    tocsin.stop()
    time.sleep(2.0)           # WhileDown's endsAt passes while the server is down
    tocsin.start()

    def state(name):
        return tocsin.alert(ids[name])["status"]

    wait_for(lambda: state("WhileDown") == "resolved", timeout=5, what="alert that expired while down")
    wait_for(lambda: state("Soon") == "resolved", timeout=10, what="expiry timer after restart")
    assert tocsin.alert(ids["Soon"])["resolved_by"] == "tocsin"
    assert state("Later") == "firing"


def test_overload_answers_503_never_loses_acked(tocsin_factory):
    """With a tiny engine queue, intake pushes back with 503 + Retry-After (never 429), and
    whatever was acknowledged is stored."""
    from conftest import AM_KEY, config_text
    t = tocsin_factory(config_text(extra="") .replace("services:", "intake:\n  queue_limit: 100\nservices:", 1))
    statuses = collections.Counter()
    acked_keys = set()
    lock = threading.Lock()
    bad = []

    def worker(tid):
        s = requests.Session()
        for i in range(6):
            evs = [{"labels": {"alertname": "Flood", "k": f"{tid}-{i}-{j}"}, "summary": "x",
                    "dedup_key": f"f-{tid}-{i}-{j}"} for j in range(1000)]
            r = s.post(t.url + "/api/v1/events", json=evs, timeout=60,
                       headers={"Authorization": f"Bearer {GENERIC_KEY}"})
            with lock:
                statuses[r.status_code] += 1
                if r.status_code == 202:
                    acked_keys.update(e["dedup_key"] for e in evs)
                elif r.status_code == 503:
                    if r.headers.get("Retry-After") != "1" or r.json()["error"]["code"] != "overloaded":
                        bad.append((r.status_code, dict(r.headers), r.text))
                else:
                    bad.append((r.status_code, r.text[:300]))
            am = s.post(t.url + "/api/v2/alerts", json=[{"labels": {"alertname": f"AmFlood{tid}-{i}-{j}"}}
                                                         for j in range(200)],
                        headers={"Authorization": f"Bearer {AM_KEY}"}, timeout=60)
            with lock:
                statuses[f"am{am.status_code}"] += 1
                if am.status_code not in (200, 503):
                    bad.append(("am", am.status_code, am.text[:300]))

    ths = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(180)
    print("overload statuses:", dict(statuses))
    assert not bad, bad[:5]
    stored = {a["dedup_key"] for a in t.alerts(integration="scripts")}
    assert acked_keys <= stored, f"{len(acked_keys - stored)} acknowledged events missing"


def test_sigterm_under_load_is_clean(tocsin):
    """SIGTERM while clients are posting: the server exits 0 within the stop
    timeout, requests in flight are answered (2xx, or 503 once it is shutting
    down, never a 500), and everything it acknowledged is there afterwards."""
    load = Load(tocsin.url, nthreads=6, seed=7)
    stopped = {}

    def stop():
        t0 = time.monotonic()
        stopped["rc"] = tocsin.stop()          # asserts exit code 0
        stopped["secs"] = time.monotonic() - t0

    load.run_then(2.0, stop)
    assert stopped["rc"] == 0
    assert stopped["secs"] < 10, f"shutdown took {stopped['secs']:.1f}s"
    assert sum(load.acked_triggers.values()) > 50, f"too little load: {dict(load.errors)}"
    bad = {k: v for k, v in load.errors.items() if isinstance(k, int) and k not in (503,)}
    assert not bad, f"answers other than 2xx/503 during shutdown: {bad}"
    assert "stopped cleanly" in tocsin.stderr(), tocsin.stderr()[-2000:]
    tocsin.start()
    check_consistency(tocsin, load.acked_triggers, load.resolved_keys)
