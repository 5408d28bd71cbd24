/*
 * test_escalation.c - escalation policies and the outbox in simulated time:
 * levels and their delays, repeats, acknowledgement stopping and cancelling,
 * acknowledgement timeouts, restarts that fire every due level once, retries
 * with backoff, dead letters, digests, support hours, escalate-now and
 * assignment.
 *
 * Like test_engine.c, the tests drive the engine state of engine_int.h
 * against a real SQLite store. Each batch runs as the engine thread runs
 * one, and "delivery" is simulated by taking due rows out of the outbox and
 * feeding results back, as the notifier would.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config/config.h"
#include "engine/engine_int.h"
#include "notify/notify.h"
#include "oncall/overrides.h"
#include "oncall/schedule.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Thursday 2027-01-14T10:00:00Z (11:00 in Berlin), inside support hours. */
#define T0  1799920800000LL
#define SEC 1000LL
#define MIN 60000LL

static const char config_yaml[] =
    "integrations:\n"
    "  - {name: scripts, type: generic, key: \"11111111111111111111111111111111\"}\n"
    "users:\n"
    "  - {name: anna, email: anna@example.org, phone: \"+4915112345678\",\n"
    "     contact: [{channel: hook}, {channel: sms, after: 5m, urgency: high}]}\n"
    "  - {name: ben, email: ben@example.org, contact: [{channel: hook}]}\n"
    "schedules:\n"
    "  - name: primary\n"
    "    time_zone: Europe/Berlin\n"
    "    layers:\n"
    "      - {users: [anna], rotation: 1w, handoff: \"09:00\", start: 2026-11-02}\n"
    "escalation_policies:\n"
    "  - name: ops\n"
    "    levels:\n"
    "      - {delay: 0m, targets: [\"schedule:primary\"]}\n"
    "      - {delay: 15m, targets: [\"user:ben\"]}\n"
    "    repeat: 1\n"
    "    repeat_after: 30m\n"
    "  - name: slowack\n"
    "    levels: [{targets: [\"user:ben\"]}]\n"
    "    ack_timeout: 10m\n"
    "channels:\n"
    "  - {name: hook, type: webhook, url: \"http://127.0.0.1:9/hook\", retry_min: 4s,\n"
    "     retry_max: 1m, max_attempts: 3}\n"
    "  - {name: sms, type: command, command: /bin/true}\n"
    "  - {name: partner, type: webhook, url: \"http://127.0.0.1:9/partner\"}\n"
    "notifications:\n"
    "  digest: {after: 2, window: 2m}\n"
    "services:\n"
    "  - {name: shop, escalation_policy: ops,\n"
    "     support_hours: {time_zone: Europe/Berlin,\n"
    "                     windows: [{days: [weekdays], from: \"08:00\", to: \"18:00\"}]}}\n"
    "  - {name: batch, escalation_policy: slowack}\n"
    "routes:\n"
    "  - match: {service: shop}\n"
    "    service: shop\n"
    "    group_by: [alertname]\n"
    "    notify: [partner]\n"
    "  - match: {service: batch}\n"
    "    service: batch\n"
    "    group_by: [alertname]\n";

struct h {
    char dir[64];
    struct config *cfg;
    struct store *store;
    struct engine_state st;
    struct engine_oncall oc;
    const struct cfg_integration *scripts;
};

static void load_state(struct h *h)
{
    char err[512];
    if (engine_state_load(&h->st, h->cfg, h->store, err, sizeof(err)) != 0)
        fail_msg("engine_state_load: %s", err);
    h->st.oncall = &h->oc;
}

static int setup(void **state)
{
    struct cfg_errors errs = {0};
    struct h *h = calloc(1, sizeof(*h));
    char err[512];
    assert_non_null(h);
    log_threshold = LOG_ERROR;
    h->cfg = config_load_buffer("esc.yaml", config_yaml, strlen(config_yaml), &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.msgs[i]);
    cfg_errors_free(&errs);
    assert_non_null(h->cfg);
    h->scripts = &h->cfg->integrations[0];
    h->oc.overrides = overrides_new();
    memset(h->oc.link_key, 7, sizeof(h->oc.link_key));
    h->oc.has_link_key = true;
    atomic_store(&h->oc.public_url, "http://tocsin.test");
    snprintf(h->dir, sizeof(h->dir), "/tmp/tocsin-esc-XXXXXX");
    assert_non_null(mkdtemp(h->dir));
    h->store = store_open_sqlite(h->dir, false, err, sizeof(err));
    if (!h->store)
        fail_msg("store_open_sqlite: %s", err);
    load_state(h);
    *state = h;
    return 0;
}

static int teardown(void **state)
{
    struct h *h = *state;
    char cmd[128];
    engine_state_free(&h->st);
    store_close(h->store);
    config_free(h->cfg);
    overrides_free(h->oc.overrides);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", h->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", h->dir);
    free(h);
    return 0;
}

/* Runs one batch the way the engine thread does. */
static void batch(struct h *h, struct engine_cmd *cmd, int64_t now)
{
    assert_int_equal(store_begin(h->store), 0);
    if (cmd)
        assert_int_equal(engine_apply(&h->st, cmd, now), 0);
    assert_int_equal(engine_tick(&h->st, now), 0);
    assert_int_equal(engine_flush(&h->st), 0);
    assert_int_equal(store_commit(h->store), 0);
}

/* Raises one alert; returns its incident id. */
static int64_t raise_alert(struct h *h, const char *key, const char *service, const char *sev,
                           int64_t now)
{
    struct event ev = {.action = EVENT_TRIGGER, .dedup_key = (char *)key, .summary = (char *)key};
    struct engine_event_result res = {0};
    struct engine_cmd cmd = {
        .kind = CMD_EVENTS, .integ = h->scripts, .events = &ev, .n_events = 1, .results = &res};
    assert_int_equal(severity_parse(sev, &ev.severity), 0);
    labels_set(&ev.labels, "service", service);
    labels_set(&ev.labels, "alertname", key);
    batch(h, &cmd, now);
    labels_free(&ev.labels);
    assert_int_equal(res.n_incidents, 1);
    return res.incident_ids[0];
}

/* What a due row is: "target channel kind". */
struct sent {
    int64_t id;
    int attempt;
    char what[200];
    json_t *payload;
};

/* Takes every row due at now, as engine_dispatch would; returns how many. */
static size_t take_due(struct h *h, int64_t now, struct sent *out, size_t max)
{
    struct outbox_rec *o;
    size_t n = 0;
    while (n < max && (o = outbox_take_due(&h->st, now))) {
        out[n].id = o->id;
        out[n].attempt = o->attempts;
        snprintf(out[n].what, sizeof(out[n].what), "%s %s %s", o->target, o->channel, o->kind);
        out[n].payload = json_incref(o->payload);
        n++;
    }
    return n;
}

static void sent_free(struct sent *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(s[i].payload);
}

static void result(struct h *h, const struct sent *s, enum notify_outcome outcome, int64_t now)
{
    struct notify_result r = {.id = s->id, .attempt = s->attempt, .outcome = outcome};
    snprintf(r.detail, sizeof(r.detail), "%s",
             outcome == NOTIFY_DELIVERED ? "HTTP 200" : "HTTP 503");
    assert_int_equal(store_begin(h->store), 0);
    assert_int_equal(outbox_apply_result(&h->st, &r, now), 0);
    assert_int_equal(store_commit(h->store), 0);
}

static int cmp_sent(const void *a, const void *b)
{
    return strcmp(((const struct sent *)a)->what, ((const struct sent *)b)->what);
}

/* Delivers everything due at now; returns the rows as "what" lines, sorted
 * (rows due at the same instant have no order), joined by '|'. */
static void deliver_all(struct h *h, int64_t now, char *buf, size_t size)
{
    struct sent s[32];
    size_t n = take_due(h, now, s, 32);
    qsort(s, n, sizeof(s[0]), cmp_sent);
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s", i ? "|" : "", s[i].what);
        result(h, &s[i], NOTIFY_DELIVERED, now);
    }
    sent_free(s, n);
}

static json_t *incident(struct h *h, int64_t id)
{
    struct store_reader *r = store_reader_acquire(h->store);
    json_t *o = store_incident_get(r, id);
    store_reader_release(h->store, r);
    assert_non_null(o);
    return o;
}

/* How many timeline entries of kind the incident has. */
static int timeline_count(struct h *h, int64_t id, const char *kind)
{
    json_t *o = incident(h, id), *e;
    size_t i;
    int n = 0;
    json_array_foreach(json_object_get(o, "timeline"), i, e)
    {
        n += strcmp(json_string_value(json_object_get(e, "kind")), kind) == 0;
    }
    json_decref(o);
    return n;
}

/* ---- tests ---- */

static void test_levels_delays_and_repeat(void **state)
{
    struct h *h = *state;
    char got[1024];
    int64_t inc = raise_alert(h, "Down", "shop", "critical", T0);

    /* Level 1 at once: anna's webhook (and the partner); sms waits 5 minutes. */
    deliver_all(h, T0, got, sizeof(got));
    assert_string_equal(got, "anna hook incident.triggered|"
                             "partner:partner partner incident.triggered");
    batch(h, NULL, T0 + 5 * MIN);
    deliver_all(h, T0 + 5 * MIN, got, sizeof(got));
    assert_string_equal(got, "anna sms incident.triggered");
    /* Level 2 after 15 minutes. */
    batch(h, NULL, T0 + 15 * MIN - 1);
    deliver_all(h, T0 + 15 * MIN - 1, got, sizeof(got));
    assert_string_equal(got, "");
    batch(h, NULL, T0 + 15 * MIN);
    deliver_all(h, T0 + 15 * MIN, got, sizeof(got));
    assert_string_equal(got, "ben hook incident.escalated");
    /* One repeat, 30 minutes after the last level. */
    batch(h, NULL, T0 + 45 * MIN);
    deliver_all(h, T0 + 45 * MIN, got, sizeof(got));
    assert_string_equal(got, "anna hook incident.escalated");
    batch(h, NULL, T0 + 60 * MIN);
    deliver_all(h, T0 + 60 * MIN, got, sizeof(got));
    assert_string_equal(got, "anna sms incident.escalated|ben hook incident.escalated");
    /* Then the policy is done. */
    batch(h, NULL, T0 + 6000 * MIN);
    deliver_all(h, T0 + 6000 * MIN, got, sizeof(got));
    assert_string_equal(got, "");
    assert_int_equal(timeline_count(h, inc, "escalated"), 4);
    assert_int_equal(timeline_count(h, inc, "notified"), 7);
}

static void test_ack_stops_and_cancels(void **state)
{
    struct h *h = *state;
    char got[1024];
    int64_t inc = raise_alert(h, "Down", "shop", "critical", T0);
    deliver_all(h, T0, got, sizeof(got));

    struct engine_cmd ack = {.kind = CMD_INCIDENT_ACK, .incident_id = inc, .actor = "token:x"};
    batch(h, &ack, T0 + MIN);
    assert_int_equal(ack.status, ENGINE_OK);
    deliver_all(h, T0 + MIN, got, sizeof(got));
    assert_string_equal(got, "partner:partner partner incident.acknowledged");
    /* The sms after 5 minutes was cancelled, and level 2 never fires. */
    batch(h, NULL, T0 + 60 * MIN);
    deliver_all(h, T0 + 60 * MIN, got, sizeof(got));
    assert_string_equal(got, "");
    assert_int_equal(timeline_count(h, inc, "notifications_cancelled"), 1);
    json_t *o = incident(h, inc);
    assert_string_equal(json_string_value(json_object_get(o, "assignee")), "token:x");
    assert_true(json_is_null(json_object_get(json_object_get(o, "escalation"), "next_at")));
    json_decref(o);
}

static void test_ack_timeout_restarts(void **state)
{
    struct h *h = *state;
    char got[1024];
    int64_t inc = raise_alert(h, "Nightly", "batch", "critical", T0);
    deliver_all(h, T0, got, sizeof(got));
    assert_string_equal(got, "ben hook incident.triggered");
    struct engine_cmd ack = {.kind = CMD_INCIDENT_ACK, .incident_id = inc, .actor = "ben"};
    batch(h, &ack, T0 + MIN);
    /* The policy's 10-minute timeout ends the acknowledgement and pages again. */
    batch(h, NULL, T0 + 11 * MIN);
    deliver_all(h, T0 + 11 * MIN, got, sizeof(got));
    assert_string_equal(got, "ben hook incident.triggered");
    json_t *o = incident(h, inc);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "triggered");
    json_decref(o);
}

static void test_restart_fires_due_levels_once(void **state)
{
    struct h *h = *state;
    char got[1024];
    int64_t inc = raise_alert(h, "Down", "shop", "critical", T0);
    deliver_all(h, T0, got, sizeof(got));

    /* Down from T0+1m to T0+20m: level 2 came due meanwhile. */
    engine_state_free(&h->st);
    load_state(h);
    batch(h, NULL, T0 + 20 * MIN);
    deliver_all(h, T0 + 20 * MIN, got, sizeof(got));
    assert_string_equal(got, "anna sms incident.triggered|ben hook incident.escalated");
    /* Another restart at once: nothing fires twice. */
    engine_state_free(&h->st);
    load_state(h);
    batch(h, NULL, T0 + 21 * MIN);
    deliver_all(h, T0 + 21 * MIN, got, sizeof(got));
    assert_string_equal(got, "");
    assert_int_equal(timeline_count(h, inc, "escalated"), 2);
}

static void test_inflight_row_is_resent_after_restart(void **state)
{
    struct h *h = *state;
    struct sent s[8];
    raise_alert(h, "Nightly", "batch", "critical", T0);
    size_t n = take_due(h, T0, s, 8);
    assert_int_equal(n, 1);
    sent_free(s, n);
    /* The process died before the result: the row is still pending. */
    engine_state_free(&h->st);
    load_state(h);
    n = take_due(h, T0 + SEC, s, 8);
    assert_int_equal(n, 1);
    assert_string_equal(s[0].what, "ben hook incident.triggered");
    sent_free(s, n);
}

static void test_retry_backoff_and_dead_letter(void **state)
{
    struct h *h = *state;
    struct sent s[8];
    int64_t inc = raise_alert(h, "Nightly", "batch", "critical", T0);
    int64_t now = T0;
    for (int attempt = 1; attempt <= 3; attempt++) {
        size_t n = take_due(h, now, s, 8);
        assert_int_equal(n, 1);
        assert_int_equal(s[0].attempt, attempt);
        result(h, &s[0], NOTIFY_RETRY, now);
        sent_free(s, n);
        if (attempt < 3) {
            /* 4 s, then 8 s, each +-20%. */
            int64_t base = attempt == 1 ? 4 * SEC : 8 * SEC;
            assert_int_equal(take_due(h, now + base * 8 / 10 - 1, s, 8), 0);
            now += base * 12 / 10;
        }
    }
    assert_int_equal(take_due(h, now + 3600 * SEC, s, 8), 0);
    assert_int_equal(timeline_count(h, inc, "notification_failed"), 2);
    assert_int_equal(timeline_count(h, inc, "notification_dead"), 1);

    /* A dead letter sent again by hand gets new attempts. */
    struct store_reader *r = store_reader_acquire(h->store);
    json_t *dead = store_outbox_list(r, "dead", inc, 0, 10);
    store_reader_release(h->store, r);
    assert_int_equal(json_array_size(dead), 1);
    struct engine_cmd retry = {
        .kind = CMD_OUTBOX_RETRY,
        .object_id = json_integer_value(json_object_get(json_array_get(dead, 0), "id")),
        .actor = "token:x"};
    json_decref(dead);
    batch(h, &retry, now);
    assert_int_equal(retry.status, ENGINE_OK);
    size_t n = take_due(h, now, s, 8);
    assert_int_equal(n, 1);
    assert_int_equal(s[0].attempt, 1);
    result(h, &s[0], NOTIFY_DELIVERED, now);
    sent_free(s, n);
    assert_int_equal(timeline_count(h, inc, "notified"), 1);
}

static void test_digest_after_threshold(void **state)
{
    struct h *h = *state;
    struct sent s[16];
    for (int i = 0; i < 5; i++) {
        char key[16];
        snprintf(key, sizeof(key), "Job%d", i);
        raise_alert(h, key, "batch", "critical", T0 + i * SEC);
    }
    /* Two pages, then the other three wait in one digest until the window ends. */
    size_t n = take_due(h, T0 + 10 * SEC, s, 16);
    assert_int_equal(n, 2);
    sent_free(s, n);
    n = take_due(h, T0 + 2 * MIN, s, 16);
    assert_int_equal(n, 1);
    assert_string_equal(s[0].what, "ben hook digest");
    json_t *d = json_object_get(s[0].payload, "digest");
    assert_int_equal(json_integer_value(json_object_get(d, "count")), 3);
    assert_int_equal(json_array_size(json_object_get(d, "incidents")), 3);
    assert_string_equal(json_string_value(json_object_get(s[0].payload, "text")),
                        "3 more incidents for service=batch");
    sent_free(s, n);
}

static void test_low_urgency_waits_for_support_hours(void **state)
{
    struct h *h = *state;
    char got[1024];
    /* Thursday 20:00 in Berlin: after hours. */
    int64_t evening = T0 + 9 * 60 * MIN;
    int64_t inc = raise_alert(h, "Slow", "shop", "warning", evening);
    deliver_all(h, evening, got, sizeof(got));
    assert_string_equal(got, "partner:partner partner incident.triggered");
    assert_int_equal(timeline_count(h, inc, "escalation_waiting"), 1);
    /* Friday 08:00 in Berlin (07:00Z): anna's webhook; her sms is for high urgency only. */
    int64_t morning = T0 + 21 * 60 * MIN;
    batch(h, NULL, morning - 1);
    deliver_all(h, morning - 1, got, sizeof(got));
    assert_string_equal(got, "");
    batch(h, NULL, morning);
    deliver_all(h, morning, got, sizeof(got));
    assert_string_equal(got, "anna hook incident.triggered");
}

static void test_escalate_now_and_assign(void **state)
{
    struct h *h = *state;
    char got[1024];
    int64_t inc = raise_alert(h, "Down", "shop", "critical", T0);
    deliver_all(h, T0, got, sizeof(got));
    struct engine_cmd esc = {.kind = CMD_INCIDENT_ESCALATE, .incident_id = inc, .actor = "token:x"};
    batch(h, &esc, T0 + MIN);
    assert_int_equal(esc.status, ENGINE_OK);
    deliver_all(h, T0 + MIN, got, sizeof(got));
    assert_string_equal(got, "ben hook incident.escalated");

    struct engine_cmd bad = {
        .kind = CMD_INCIDENT_ESCALATE, .incident_id = inc, .level = 9, .actor = "token:x"};
    batch(h, &bad, T0 + MIN);
    assert_int_equal(bad.status, ENGINE_ECONFLICT);

    struct engine_cmd as = {
        .kind = CMD_INCIDENT_ASSIGN, .incident_id = inc, .user = "anna", .actor = "token:x"};
    batch(h, &as, T0 + 2 * MIN);
    assert_int_equal(as.status, ENGINE_OK);
    deliver_all(h, T0 + 2 * MIN, got, sizeof(got));
    assert_string_equal(got, "anna hook incident.assigned");
    json_t *o = incident(h, inc);
    assert_string_equal(json_string_value(json_object_get(o, "assignee")), "anna");
    json_decref(o);
}

static void test_override_pages_the_stand_in(void **state)
{
    struct h *h = *state;
    char got[1024];
    struct engine_cmd ov = {.kind = CMD_OVERRIDE_ADD,
                            .schedule = "primary",
                            .user = "ben",
                            .start = T0 - 60 * MIN,
                            .end = T0 + 60 * MIN,
                            .actor = "token:x"};
    batch(h, &ov, T0 - 2 * 60 * MIN);
    assert_int_equal(ov.status, ENGINE_OK);
    assert_true(ov.out_id > 0);
    raise_alert(h, "Down", "shop", "critical", T0);
    deliver_all(h, T0, got, sizeof(got));
    assert_string_equal(got, "ben hook incident.triggered|"
                             "partner:partner partner incident.triggered");
    struct engine_cmd del = {
        .kind = CMD_OVERRIDE_DELETE, .object_id = ov.out_id, .actor = "token:x"};
    batch(h, &del, T0 + SEC);
    assert_int_equal(del.status, ENGINE_OK);
    batch(h, &del, T0 + SEC);
    assert_int_equal(del.status, ENGINE_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_levels_delays_and_repeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_stops_and_cancels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_timeout_restarts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_fires_due_levels_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inflight_row_is_resent_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_backoff_and_dead_letter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digest_after_threshold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_low_urgency_waits_for_support_hours, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escalate_now_and_assign, setup, teardown),
        cmocka_unit_test_setup_teardown(test_override_pages_the_stand_in, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
