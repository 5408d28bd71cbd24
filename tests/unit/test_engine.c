/*
 * test_engine.c - the engine's domain logic: deduplication, grouping, the
 * alert and incident lifecycles, expiry at endsAt, late webhook retries and
 * rebuilding the state after a restart.
 *
 * The tests drive the state of engine_int.h directly against a real SQLite
 * store in a temporary directory. Every batch runs the way the engine thread
 * runs one (store_begin, engine_apply for each command, engine_tick,
 * engine_flush, store_commit), and time is simulated: each call is handed
 * `now` explicitly, nothing sleeps and nothing reads the clock.
 *
 * Each test checks what the engine answered and what a reader sees in the
 * store afterwards, and ends with check_consistent: the in-memory state and
 * the store agree, and every incident's counters match the alerts linked to
 * it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/timefmt.h"
#include "config/config.h"
#include "engine/engine_int.h"
#include "intake/intake.h"
#include "store/store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The simulated start of every test (2027-01-15T08:00:00Z) and one minute. */
#define T0  1800000000000LL
#define MIN 60000LL

static const char config_yaml[] =
    "integrations:\n"
    "  - {name: scripts, type: generic, key: \"11111111111111111111111111111111\"}\n"
    "  - {name: tools, type: generic, key: \"22222222222222222222222222222222\"}\n"
    "  - {name: prom, type: alertmanager, key: \"33333333333333333333333333333333\"}\n"
    "services:\n"
    "  - {name: shop, impact: high}\n"
    "default_route:\n"
    "  group_by: [alertname]\n"
    "routes:\n"
    "  - match: {team: ops}\n"
    "    group_by: [team]\n"
    "    continue: true\n"
    "  - match: {service: shop}\n"
    "    service: shop\n"
    "    group_by: [service, alertname]\n"
    "    group_window: 5m\n";

/* One test's world: a config, a store in a temporary directory, the state. */
struct h {
    char dir[64];
    struct config *cfg;
    struct store *store;
    struct engine_state st;
    const struct cfg_integration *scripts, *tools, *prom;
};

typedef int (*parse_fn)(const char *, size_t, const struct cfg_integration *, int64_t,
                        struct intake_batch *, struct intake_error *);

static const struct cfg_integration *integration(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_integrations; i++)
        if (strcmp(cfg->integrations[i].name, name) == 0)
            return &cfg->integrations[i];
    fail_msg("no integration %s", name);
    return NULL;
}

static int setup(void **state)
{
    struct cfg_errors errs = {0};
    struct h *h = calloc(1, sizeof(*h));
    char err[512];

    assert_non_null(h);
    log_threshold = LOG_WARN;
    h->cfg = config_load_buffer("engine.yaml", config_yaml, strlen(config_yaml), &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.msgs[i]);
    cfg_errors_free(&errs);
    assert_non_null(h->cfg);
    h->scripts = integration(h->cfg, "scripts");
    h->tools = integration(h->cfg, "tools");
    h->prom = integration(h->cfg, "prom");

    snprintf(h->dir, sizeof(h->dir), "/tmp/tocsin-engine-XXXXXX");
    assert_non_null(mkdtemp(h->dir));
    h->store = store_open_sqlite(h->dir, false, err, sizeof(err));
    if (!h->store)
        fail_msg("store_open_sqlite: %s", err);
    if (engine_state_load(&h->st, h->cfg, h->store, err, sizeof(err)) != 0)
        fail_msg("engine_state_load: %s", err);
    *state = h;
    return 0;
}

/* ---- reading the store ---- */

static json_t *alert_json(struct h *h, int64_t id)
{
    struct store_reader *r = store_reader_acquire(h->store);
    assert_non_null(r);
    json_t *o = store_alert_get(r, id);
    store_reader_release(h->store, r);
    if (!o)
        fail_msg("alert %lld is not in the store", (long long)id);
    return o;
}

static json_t *incident_json(struct h *h, int64_t id)
{
    struct store_reader *r = store_reader_acquire(h->store);
    assert_non_null(r);
    json_t *o = store_incident_get(r, id);
    store_reader_release(h->store, r);
    if (!o)
        fail_msg("incident %lld is not in the store", (long long)id);
    return o;
}

/* Lists alerts or incidents (list_fn) with the given statuses (NULL: all). */
static json_t *list(struct h *h,
                    json_t *(*list_fn)(struct store_reader *, const struct store_query *),
                    const char *key, const char *s1, const char *s2)
{
    struct store_query q = {.statuses = {s1, s2}, .limit = 500};
    struct store_reader *r = store_reader_acquire(h->store);
    assert_non_null(r);
    json_t *o = list_fn(r, &q);
    store_reader_release(h->store, r);
    assert_non_null(o);
    json_t *items = json_incref(json_object_get(o, key));
    json_decref(o);
    assert_true(json_is_array(items));
    return items;
}

static size_t count_open_incidents(struct h *h)
{
    json_t *a = list(h, store_incident_list, "incidents", "triggered", "acknowledged");
    size_t n = json_array_size(a);
    json_decref(a);
    return n;
}

static size_t count_open_alerts(struct h *h)
{
    json_t *a = list(h, store_alert_list, "alerts", "firing", "acknowledged");
    size_t n = json_array_size(a);
    json_decref(a);
    return n;
}

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static long long num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("\"%s\" is not an integer", key);
    return json_integer_value(v);
}

/* Asserts that o[key] is the string want, or JSON null when want is NULL. */
static void expect_str(const json_t *o, const char *key, const char *want)
{
    const json_t *v = json_object_get(o, key);
    if (!want) {
        if (!json_is_null(v))
            fail_msg("\"%s\": want null, got %s", key,
                     json_is_string(v) ? json_string_value(v) : "a non-string");
        return;
    }
    if (!json_is_string(v))
        fail_msg("\"%s\": want \"%s\", got a non-string", key, want);
    if (strcmp(json_string_value(v), want) != 0)
        fail_msg("\"%s\": want \"%s\", got \"%s\"", key, want, json_string_value(v));
}

/* The RFC 3339 form the store serves for ms; a few rotating buffers. */
static const char *iso(int64_t ms)
{
    static char bufs[4][40];
    static int next;
    char *b = bufs[next++ % 4];
    return timefmt_format_rfc3339(ms, b, sizeof(bufs[0]));
}

/* Number of timeline entries of an incident (from incident_json) of a kind. */
static int count_kind(const json_t *inc, const char *kind)
{
    const json_t *tl = json_object_get(inc, "timeline");
    size_t i;
    json_t *e;
    int n = 0;
    assert_true(json_is_array(tl));
    json_array_foreach(tl, i, e)
    {
        if (strcmp(str(e, "kind"), kind) == 0)
            n++;
    }
    return n;
}

/* The kind of an incident's newest timeline entry. */
static const char *last_kind(const json_t *inc)
{
    const json_t *tl = json_object_get(inc, "timeline");
    assert_true(json_array_size(tl) > 0);
    return str(json_array_get(tl, json_array_size(tl) - 1), "kind");
}

/* ---- running batches ---- */

/* Runs one batch the way run_batch does and asserts that it committed. */
static void run(struct h *h, struct engine_cmd **cmds, size_t n, int64_t now)
{
    assert_int_equal(store_begin(h->store), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(engine_apply(&h->st, cmds[i], now), 0);
    assert_int_equal(engine_tick(&h->st, now), 0);
    assert_int_equal(engine_flush(&h->st), 0);
    if (store_commit(h->store) != 0)
        fail_msg("commit: %s", store_errmsg(h->store));
}

static void apply(struct h *h, struct engine_cmd *cmd, int64_t now)
{
    run(h, &cmd, 1, now);
}

/* A batch without commands: what the engine runs when an expiry is due. */
static void tick(struct h *h, int64_t now)
{
    run(h, NULL, 0, now);
}

/*
 * Parses body (written with single quotes for readability; they become
 * double quotes) with fn for integ at now, applies the events as one
 * CMD_EVENTS command in one batch, and copies up to max results into out.
 * Returns the number of events.
 */
static size_t send_n(struct h *h, parse_fn fn, const struct cfg_integration *integ, int64_t now,
                     const char *body, struct engine_event_result *out, size_t max)
{
    struct intake_batch b = {0};
    struct intake_error e = {0};
    char *text = strdup(body);
    size_t len = strlen(body), n;

    assert_non_null(text);
    for (char *p = text; *p; p++)
        if (*p == '\'')
            *p = '"';
    if (fn(text, len, integ, now, &b, &e) != 0)
        fail_msg("cannot parse %s: %s: %s", text, e.field, e.message);
    n = b.n;
    struct engine_event_result *res = calloc(n ? n : 1, sizeof(*res));
    assert_non_null(res);
    struct engine_cmd cmd = {
        .kind = CMD_EVENTS,
        .integ = integ,
        .format = "test",
        .raw = text,
        .raw_len = len,
        .events = b.events,
        .n_events = b.n,
        .results = res,
    };
    apply(h, &cmd, now);
    assert_int_equal(cmd.status, ENGINE_OK);
    memcpy(out, res, (n < max ? n : max) * sizeof(*res));
    free(res);
    intake_batch_free(&b);
    free(text);
    return n;
}

/* Sends one event in Tocsin's own format and returns its result. */
static struct engine_event_result send_tocsin(struct h *h, const struct cfg_integration *integ,
                                              int64_t now, const char *body)
{
    struct engine_event_result r;
    assert_int_equal(send_n(h, intake_parse_tocsin, integ, now, body, &r, 1), 1);
    return r;
}

/* Sends one Alertmanager API v2 alert for labels, started at starts, ending at ends. */
static struct engine_event_result send_am(struct h *h, int64_t now, const char *labels,
                                          int64_t starts, int64_t ends)
{
    char body[1024];
    struct engine_event_result r;
    snprintf(body, sizeof(body), "[{'labels':%s,'startsAt':'%s','endsAt':'%s'}]", labels,
             iso(starts), iso(ends));
    assert_int_equal(send_n(h, intake_parse_am_alerts, h->prom, now, body, &r, 1), 1);
    return r;
}

/* Sends one Alertmanager webhook message with one alert of the given status. */
static struct engine_event_result send_hook(struct h *h, int64_t now, const char *status,
                                            const char *labels, int64_t starts, int64_t ends)
{
    char body[1024];
    struct engine_event_result r;
    snprintf(body, sizeof(body),
             "{'version':'4','status':'%s','receiver':'tocsin','alerts':[{'status':'%s',"
             "'labels':%s,'startsAt':'%s','endsAt':'%s'}]}",
             status, status, labels, iso(starts), ends ? iso(ends) : "0001-01-01T00:00:00Z");
    assert_int_equal(send_n(h, intake_parse_am_webhook, h->prom, now, body, &r, 1), 1);
    return r;
}

static struct engine_cmd incident_cmd(enum engine_cmd_kind kind, int64_t id, const char *text)
{
    struct engine_cmd c = {.kind = kind, .incident_id = id, .actor = "token:alice", .text = text};
    return c;
}

/* Drops the state and rebuilds it from the store, as a restart does. */
static void reload(struct h *h)
{
    char err[512];
    engine_state_free(&h->st);
    if (engine_state_load(&h->st, h->cfg, h->store, err, sizeof(err)) != 0)
        fail_msg("engine_state_load: %s", err);
}

/* ---- the consistency check every test ends with ---- */

static void check_consistent(struct h *h)
{
    size_t i, j, with_end = 0;
    json_t *o, *a;

    /* The open alerts in memory are exactly the open alerts in the store. */
    json_t *alerts = list(h, store_alert_list, "alerts", "firing", "acknowledged");
    assert_int_equal(json_array_size(alerts), h->st.alerts.len);
    json_array_foreach(alerts, i, o)
    {
        char key[600];
        snprintf(key, sizeof(key), "%s\x1f%s", str(o, "integration"), str(o, "dedup_key"));
        struct alert_rec *rec = strmap_get(&h->st.alerts, key);
        if (!rec)
            fail_msg("open alert %lld is not in memory", num(o, "id"));
        assert_int_equal(rec->id, num(o, "id"));
        assert_int_equal(rec->count, num(o, "count"));
        assert_string_equal(alert_status_name(rec->status), str(o, "status"));
        assert_string_equal(severity_name((enum severity)rec->severity), str(o, "severity"));
        assert_int_equal(rec->n_incidents, json_array_size(json_object_get(o, "incident_ids")));
        if (rec->ends_at) {
            with_end++;
            assert_int_not_equal(rec->heap_idx, HEAP_NONE);
            assert_ptr_equal(h->st.heap[rec->heap_idx], rec);
            expect_str(o, "ends_at", iso(rec->ends_at));
        } else {
            assert_int_equal(rec->heap_idx, HEAP_NONE);
        }
    }
    assert_int_equal(with_end, h->st.heap_len);
    json_decref(alerts);

    /* The same for incidents, with their counters and priority. */
    json_t *incs = list(h, store_incident_list, "incidents", "triggered", "acknowledged");
    assert_int_equal(json_array_size(incs), h->st.incidents.len);
    json_array_foreach(incs, i, o)
    {
        char prio[8];
        struct incident_rec *rec = incident_find(&h->st, num(o, "id"));
        if (!rec)
            fail_msg("open incident %lld is not in memory", num(o, "id"));
        assert_string_equal(incident_status_name(rec->status), str(o, "status"));
        assert_int_equal(rec->alert_count, num(o, "alert_count"));
        assert_int_equal(rec->open_alert_count, num(o, "open_alert_count"));
        assert_string_equal(severity_name((enum severity)rec->severity), str(o, "severity"));
        snprintf(prio, sizeof(prio), "P%d", rec->priority);
        assert_string_equal(prio, str(o, "priority"));
    }
    json_decref(incs);

    /* Every incident, open or not, counts exactly the alerts linked to it. */
    incs = list(h, store_incident_list, "incidents", NULL, NULL);
    json_array_foreach(incs, i, o)
    {
        json_t *full = incident_json(h, num(o, "id"));
        long long open = 0;
        json_array_foreach(json_object_get(full, "alerts"), j, a)
        {
            if (strcmp(str(a, "status"), "resolved") != 0)
                open++;
        }
        if (num(full, "alert_count") != (long long)json_array_size(json_object_get(full, "alerts")))
            fail_msg("INC-%lld: alert_count %lld but %zu alerts linked", num(o, "id"),
                     num(full, "alert_count"), json_array_size(json_object_get(full, "alerts")));
        if (num(full, "open_alert_count") != open)
            fail_msg("INC-%lld: open_alert_count %lld but %lld open alerts", num(o, "id"),
                     num(full, "open_alert_count"), open);
        /* A resolved incident has no open alert left. */
        if (strcmp(str(full, "status"), "resolved") == 0)
            assert_int_equal(open, 0);
        json_decref(full);
    }
    json_decref(incs);
}

static void remove_dir(const char *dir)
{
    static const char *const files[] = {"tocsin.db", "tocsin.db-wal", "tocsin.db-shm"};
    char path[128];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static int teardown(void **state)
{
    struct h *h = *state;
    engine_state_free(&h->st);
    store_close(h->store);
    config_free(h->cfg);
    remove_dir(h->dir);
    free(h);
    return 0;
}

/* ---- deduplication ---- */

static void test_dedup_same_labels(void **state)
{
    struct h *h = *state;
    struct engine_event_result r1, r2;

    r1 = send_tocsin(h, h->scripts, T0,
                     "{'labels':{'alertname':'HighLoad','host':'a'},'summary':'load 5',"
                     "'severity':'warning'}");
    assert_int_equal(r1.outcome, OUTCOME_CREATED);
    assert_true(r1.alert_id > 0);
    assert_int_equal(r1.n_incidents, 1);

    r2 = send_tocsin(h, h->scripts, T0 + MIN,
                     "{'labels':{'alertname':'HighLoad','host':'a'},'summary':'load 7',"
                     "'severity':'warning'}");
    assert_int_equal(r2.outcome, OUTCOME_UPDATED);
    assert_int_equal(r2.alert_id, r1.alert_id);
    assert_int_equal(r2.n_incidents, 1);
    assert_int_equal(r2.incident_ids[0], r1.incident_ids[0]);

    json_t *a = alert_json(h, r1.alert_id);
    assert_int_equal(num(a, "count"), 2);
    expect_str(a, "status", "firing");
    expect_str(a, "integration", "scripts");
    expect_str(a, "first_seen", iso(T0));
    expect_str(a, "last_seen", iso(T0 + MIN));
    /* A repeat brings the newest content. */
    expect_str(a, "summary", "load 7");
    json_decref(a);

    /* The same content again moves only the repeat fields; a change of the
     * details alone is written (the engine compares content hashes). */
    send_tocsin(h, h->scripts, T0 + 2 * MIN,
                "{'labels':{'alertname':'HighLoad','host':'a'},'summary':'load 7',"
                "'severity':'warning'}");
    send_tocsin(h, h->scripts, T0 + 3 * MIN,
                "{'labels':{'alertname':'HighLoad','host':'a'},'summary':'load 7',"
                "'severity':'warning','details':{'cpu':3}}");
    a = alert_json(h, r1.alert_id);
    assert_int_equal(num(a, "count"), 4);
    expect_str(a, "summary", "load 7");
    expect_str(a, "last_seen", iso(T0 + 3 * MIN));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(a, "details"), "cpu")), 3);
    json_decref(a);
    send_tocsin(h, h->scripts, T0 + 4 * MIN,
                "{'labels':{'alertname':'HighLoad','host':'a'},'summary':'load 7',"
                "'severity':'warning'}");
    a = alert_json(h, r1.alert_id);
    assert_null(json_object_get(json_object_get(a, "details"), "cpu"));
    json_decref(a);

    json_t *inc = incident_json(h, r1.incident_ids[0]);
    assert_int_equal(num(inc, "alert_count"), 1);
    assert_int_equal(num(inc, "open_alert_count"), 1);
    assert_int_equal(count_kind(inc, "alert_joined"), 1);
    json_decref(inc);
    assert_int_equal(count_open_alerts(h), 1);
    check_consistent(h);
}

static void test_dedup_within_one_batch(void **state)
{
    struct h *h = *state;
    struct engine_event_result r[3];

    /* Three events for one key in one request: created, then updated twice,
     * and the counters written at flush reflect all three. */
    assert_int_equal(send_n(h, intake_parse_tocsin, h->scripts, T0,
                            "[{'labels':{'alertname':'Burst'},'summary':'one'},"
                            " {'labels':{'alertname':'Burst'},'summary':'two'},"
                            " {'labels':{'alertname':'Burst'},'summary':'three'}]",
                            r, 3),
                     3);
    assert_int_equal(r[0].outcome, OUTCOME_CREATED);
    assert_int_equal(r[1].outcome, OUTCOME_UPDATED);
    assert_int_equal(r[2].outcome, OUTCOME_UPDATED);
    assert_int_equal(r[1].alert_id, r[0].alert_id);
    assert_int_equal(r[2].alert_id, r[0].alert_id);

    json_t *a = alert_json(h, r[0].alert_id);
    assert_int_equal(num(a, "count"), 3);
    expect_str(a, "summary", "three");
    json_decref(a);
    check_consistent(h);
}

static void test_dedup_explicit_key(void **state)
{
    struct h *h = *state;
    struct engine_event_result r1, r2;

    r1 = send_tocsin(h, h->scripts, T0,
                     "{'dedup_key':'disk-1','labels':{'alertname':'Disk','mount':'/'},"
                     "'summary':'disk full'}");
    r2 = send_tocsin(h, h->scripts, T0 + MIN,
                     "{'dedup_key':'disk-1','labels':{'alertname':'Disk','mount':'/var'},"
                     "'summary':'disk full'}");
    assert_int_equal(r1.outcome, OUTCOME_CREATED);
    assert_int_equal(r2.outcome, OUTCOME_UPDATED);
    assert_int_equal(r2.alert_id, r1.alert_id);

    json_t *a = alert_json(h, r1.alert_id);
    expect_str(a, "dedup_key", "disk-1");
    assert_int_equal(num(a, "count"), 2);
    /* The labels are the newest event's. */
    expect_str(json_object_get(a, "labels"), "mount", "/var");
    json_decref(a);
    assert_int_equal(count_open_alerts(h), 1);
    check_consistent(h);
}

static void test_dedup_scoped_per_integration(void **state)
{
    struct h *h = *state;
    struct engine_event_result r1, r2, r3;
    const char *ev = "{'dedup_key':'k1','labels':{'alertname':'Shared'},'summary':'s'}";

    r1 = send_tocsin(h, h->scripts, T0, ev);
    r2 = send_tocsin(h, h->tools, T0 + MIN, ev);
    assert_int_equal(r1.outcome, OUTCOME_CREATED);
    assert_int_equal(r2.outcome, OUTCOME_CREATED);
    assert_int_not_equal(r1.alert_id, r2.alert_id);

    json_t *a1 = alert_json(h, r1.alert_id), *a2 = alert_json(h, r2.alert_id);
    expect_str(a1, "integration", "scripts");
    expect_str(a2, "integration", "tools");
    assert_int_equal(num(a1, "count"), 1);
    assert_int_equal(num(a2, "count"), 1);
    json_decref(a1);
    json_decref(a2);

    /* Both are in the group of alertname Shared. */
    assert_int_equal(r2.incident_ids[0], r1.incident_ids[0]);
    json_t *inc = incident_json(h, r1.incident_ids[0]);
    assert_int_equal(num(inc, "alert_count"), 2);
    assert_int_equal(num(inc, "open_alert_count"), 2);
    json_decref(inc);

    /* A resolve from one integration leaves the other's alert alone. */
    r3 = send_tocsin(h, h->tools, T0 + 2 * MIN,
                     "{'dedup_key':'k1','action':'resolve','labels':{'alertname':'Shared'}}");
    assert_int_equal(r3.outcome, OUTCOME_RESOLVED);
    assert_int_equal(r3.alert_id, r2.alert_id);
    a1 = alert_json(h, r1.alert_id);
    a2 = alert_json(h, r2.alert_id);
    expect_str(a1, "status", "firing");
    expect_str(a2, "status", "resolved");
    json_decref(a1);
    json_decref(a2);
    inc = incident_json(h, r1.incident_ids[0]);
    expect_str(inc, "status", "triggered");
    assert_int_equal(num(inc, "open_alert_count"), 1);
    json_decref(inc);
    check_consistent(h);
}

/* ---- resolve, and what comes after ---- */

static void test_resolve_then_trigger_opens_new(void **state)
{
    struct h *h = *state;
    const char *trig = "{'labels':{'alertname':'Flap','host':'a'},'summary':'flapping'}";
    const char *res = "{'action':'resolve','labels':{'alertname':'Flap','host':'a'}}";
    struct engine_event_result r1, r2, r3;

    r1 = send_tocsin(h, h->scripts, T0, trig);
    r2 = send_tocsin(h, h->scripts, T0 + MIN, res);
    assert_int_equal(r2.outcome, OUTCOME_RESOLVED);
    assert_int_equal(r2.alert_id, r1.alert_id);
    assert_int_equal(r2.n_incidents, 1);
    assert_int_equal(r2.incident_ids[0], r1.incident_ids[0]);

    json_t *a = alert_json(h, r1.alert_id);
    expect_str(a, "status", "resolved");
    expect_str(a, "resolved_by", "integration:scripts");
    expect_str(a, "resolved_at", iso(T0 + MIN));
    json_decref(a);
    json_t *inc = incident_json(h, r1.incident_ids[0]);
    expect_str(inc, "status", "resolved");
    expect_str(inc, "resolved_by", "tocsin");
    assert_int_equal(num(inc, "open_alert_count"), 0);
    json_decref(inc);

    /* The same key again: a new alert in a new incident, because a resolved
     * incident never absorbs alerts. */
    r3 = send_tocsin(h, h->scripts, T0 + 2 * MIN, trig);
    assert_int_equal(r3.outcome, OUTCOME_CREATED);
    assert_int_not_equal(r3.alert_id, r1.alert_id);
    assert_int_equal(r3.n_incidents, 1);
    assert_int_not_equal(r3.incident_ids[0], r1.incident_ids[0]);

    inc = incident_json(h, r1.incident_ids[0]);
    expect_str(inc, "status", "resolved");
    assert_int_equal(num(inc, "alert_count"), 1);
    json_decref(inc);
    inc = incident_json(h, r3.incident_ids[0]);
    expect_str(inc, "status", "triggered");
    assert_int_equal(num(inc, "alert_count"), 1);
    json_decref(inc);
    a = alert_json(h, r3.alert_id);
    assert_int_equal(num(a, "count"), 1);
    json_decref(a);
    check_consistent(h);
}

static void test_unknown_key_dropped(void **state)
{
    struct h *h = *state;
    struct engine_event_result r;

    r = send_tocsin(h, h->scripts, T0, "{'action':'acknowledge','dedup_key':'nope'}");
    assert_int_equal(r.outcome, OUTCOME_DROPPED);
    assert_int_equal(r.alert_id, 0);
    assert_int_equal(r.n_incidents, 0);
    r = send_tocsin(h, h->scripts, T0, "{'action':'resolve','dedup_key':'nope'}");
    assert_int_equal(r.outcome, OUTCOME_DROPPED);
    assert_int_equal(r.alert_id, 0);

    /* A resolve for a key that is already resolved is dropped too. */
    send_tocsin(h, h->scripts, T0, "{'dedup_key':'once','summary':'x'}");
    r = send_tocsin(h, h->scripts, T0 + MIN, "{'action':'resolve','dedup_key':'once'}");
    assert_int_equal(r.outcome, OUTCOME_RESOLVED);
    r = send_tocsin(h, h->scripts, T0 + 2 * MIN, "{'action':'resolve','dedup_key':'once'}");
    assert_int_equal(r.outcome, OUTCOME_DROPPED);
    assert_int_equal(r.alert_id, 0);

    /* Nothing was stored for the dropped events. */
    json_t *all = list(h, store_alert_list, "alerts", NULL, NULL);
    assert_int_equal(json_array_size(all), 1);
    json_decref(all);
    assert_int_equal(count_open_alerts(h), 0);
    assert_int_equal(count_open_incidents(h), 0);
    check_consistent(h);
}

/* ---- grouping ---- */

static void test_grouping(void **state)
{
    struct h *h = *state;
    struct engine_event_result a, b, c, s;

    a = send_tocsin(h, h->scripts, T0, "{'labels':{'alertname':'Disk','host':'a'},'summary':'a'}");
    b = send_tocsin(h, h->scripts, T0 + MIN,
                    "{'labels':{'alertname':'Disk','host':'b'},'summary':'b'}");
    c = send_tocsin(h, h->scripts, T0 + MIN,
                    "{'labels':{'alertname':'Cpu','host':'a'},'summary':'c'}");
    assert_int_not_equal(a.alert_id, b.alert_id);
    assert_int_equal(a.incident_ids[0], b.incident_ids[0]);
    assert_int_not_equal(c.incident_ids[0], a.incident_ids[0]);

    json_t *inc = incident_json(h, a.incident_ids[0]);
    assert_int_equal(num(inc, "alert_count"), 2);
    assert_int_equal(num(inc, "open_alert_count"), 2);
    expect_str(inc, "route", "root");
    expect_str(inc, "service", NULL);
    expect_str(inc, "title", "a");
    expect_str(inc, "last_alert_at", iso(T0 + MIN));
    assert_int_equal(json_array_size(json_object_get(inc, "alerts")), 2);
    assert_int_equal(count_kind(inc, "triggered"), 1);
    assert_int_equal(count_kind(inc, "alert_joined"), 2);
    json_decref(inc);

    inc = incident_json(h, c.incident_ids[0]);
    assert_int_equal(num(inc, "alert_count"), 1);
    json_decref(inc);

    /* The shop route groups by service and alertname and names the service. */
    s = send_tocsin(h, h->scripts, T0 + MIN,
                    "{'labels':{'alertname':'Disk','service':'shop'},'summary':'shop disk'}");
    assert_int_not_equal(s.incident_ids[0], a.incident_ids[0]);
    inc = incident_json(h, s.incident_ids[0]);
    expect_str(inc, "service", "shop");
    expect_str(inc, "route", "1");
    expect_str(inc, "impact", "high");
    json_decref(inc);
    assert_int_equal(count_open_incidents(h), 3);

    /* The alerts know their incident. */
    json_t *al = alert_json(h, b.alert_id);
    assert_int_equal(json_array_size(json_object_get(al, "incident_ids")), 1);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(al, "incident_ids"), 0)),
                     a.incident_ids[0]);
    json_decref(al);
    check_consistent(h);
}

/* A shop alert for instance i (same group: service shop, alertname Slow). */
/* Timeline entry number i (0-based) of the given kind, or NULL. */
static const json_t *nth_kind(const json_t *inc, const char *kind, int nth)
{
    const json_t *tl = json_object_get(inc, "timeline");
    size_t i;
    json_t *e;
    json_array_foreach(tl, i, e)
    {
        if (strcmp(str(e, "kind"), kind) == 0 && nth-- == 0)
            return e;
    }
    return NULL;
}

/*
 * A burst of alerts joining one incident in one batch becomes one timeline
 * entry that lists them all, so a storm does not bury the timeline; alerts
 * that join in a later batch get an entry of their own, and the order of the
 * timeline is kept when another entry (a severity change) lands mid-batch.
 */
static void test_burst_joins_one_timeline_entry(void **state)
{
    struct h *h = *state;
    struct engine_event_result r[4];

    assert_int_equal(send_n(h, intake_parse_tocsin, h->scripts, T0,
                            "[{'labels':{'alertname':'Disk','host':'a'},'summary':'a'},"
                            "{'labels':{'alertname':'Disk','host':'b'},'summary':'b'},"
                            "{'labels':{'alertname':'Disk','host':'c'},'summary':'c',"
                            "'severity':'critical'},"
                            "{'labels':{'alertname':'Disk','host':'d'},'summary':'d'}]",
                            r, 4),
                     4);
    for (int i = 1; i < 4; i++)
        assert_int_equal(r[i].incident_ids[0], r[0].incident_ids[0]);

    json_t *inc = incident_json(h, r[0].incident_ids[0]);
    assert_int_equal(num(inc, "alert_count"), 4);
    /* a, b and c joined before c raised the severity; d joined after. */
    assert_int_equal(count_kind(inc, "alert_joined"), 2);
    const json_t *first = nth_kind(inc, "alert_joined", 0);
    const json_t *second = nth_kind(inc, "alert_joined", 1);
    assert_non_null(first);
    assert_non_null(second);
    expect_str(first, "text", "3 alerts joined: a and 2 more");
    const json_t *ids = json_object_get(json_object_get(first, "data"), "alert_ids");
    assert_int_equal(json_array_size(ids), 3);
    assert_int_equal(json_integer_value(json_array_get(ids, 0)), r[0].alert_id);
    assert_int_equal(json_integer_value(json_array_get(ids, 2)), r[2].alert_id);
    assert_true(num(first, "id") < num(nth_kind(inc, "severity_changed", 0), "id"));
    assert_true(num(nth_kind(inc, "severity_changed", 0), "id") < num(second, "id"));
    char want[64];
    snprintf(want, sizeof(want), "alert %lld joined: d", (long long)r[3].alert_id);
    expect_str(second, "text", want);
    json_decref(inc);

    /* A later batch: its own entry. */
    send_tocsin(h, h->scripts, T0 + MIN,
                "{'labels':{'alertname':'Disk','host':'e'},'summary':'e'}");
    inc = incident_json(h, r[0].incident_ids[0]);
    assert_int_equal(count_kind(inc, "alert_joined"), 3);
    json_decref(inc);
    check_consistent(h);
}

static struct engine_event_result shop_alert(struct h *h, int64_t now, const char *instance)
{
    char body[256];
    snprintf(body, sizeof(body),
             "{'labels':{'alertname':'Slow','service':'shop','instance':'%s'},'summary':'slow'}",
             instance);
    return send_tocsin(h, h->scripts, now, body);
}

static void test_group_window(void **state)
{
    struct h *h = *state;
    struct engine_event_result s1, s2, s3, s4, s5;

    s1 = shop_alert(h, T0, "i1");
    /* 4 minutes after the group's last alert: joins. */
    s2 = shop_alert(h, T0 + 4 * MIN, "i2");
    assert_int_equal(s2.incident_ids[0], s1.incident_ids[0]);
    /* 8 minutes after the incident opened but 4 after its last alert: the
     * window rolls, so it still joins. */
    s3 = shop_alert(h, T0 + 8 * MIN, "i3");
    assert_int_equal(s3.incident_ids[0], s1.incident_ids[0]);
    /* 6 minutes after the last alert: a new incident, the first still open. */
    s4 = shop_alert(h, T0 + 14 * MIN, "i4");
    assert_int_equal(s4.outcome, OUTCOME_CREATED);
    assert_int_not_equal(s4.incident_ids[0], s1.incident_ids[0]);

    json_t *inc = incident_json(h, s1.incident_ids[0]);
    expect_str(inc, "status", "triggered");
    assert_int_equal(num(inc, "alert_count"), 3);
    assert_int_equal(num(inc, "open_alert_count"), 3);
    expect_str(inc, "last_alert_at", iso(T0 + 8 * MIN));
    json_decref(inc);
    inc = incident_json(h, s4.incident_ids[0]);
    assert_int_equal(num(inc, "alert_count"), 1);
    expect_str(inc, "group_key", "1{service=\"shop\",alertname=\"Slow\"}");
    json_decref(inc);
    assert_int_equal(count_open_incidents(h), 2);

    /* New alerts go to the newest incident of the group. */
    s5 = shop_alert(h, T0 + 15 * MIN, "i5");
    assert_int_equal(s5.incident_ids[0], s4.incident_ids[0]);

    /* Resolving the older incident's alerts resolves it and leaves the
     * newer one as the group's incident. */
    for (int i = 1; i <= 3; i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{'action':'resolve','labels':{'alertname':'Slow','service':'shop',"
                 "'instance':'i%d'}}",
                 i);
        send_tocsin(h, h->scripts, T0 + 16 * MIN, body);
    }
    inc = incident_json(h, s1.incident_ids[0]);
    expect_str(inc, "status", "resolved");
    json_decref(inc);
    struct engine_event_result s6 = shop_alert(h, T0 + 17 * MIN, "i6");
    assert_int_equal(s6.incident_ids[0], s4.incident_ids[0]);
    inc = incident_json(h, s4.incident_ids[0]);
    assert_int_equal(num(inc, "alert_count"), 3);
    json_decref(inc);
    check_consistent(h);
}

static void test_group_window_boundary(void **state)
{
    struct h *h = *state;
    struct engine_event_result s1, s2, s3;

    /* The window is exclusive: exactly 5 minutes after the last alert is
     * no longer "less than group_window ago". */
    s1 = shop_alert(h, T0, "i1");
    s2 = shop_alert(h, T0 + 5 * MIN - 1, "i2");
    assert_int_equal(s2.incident_ids[0], s1.incident_ids[0]);
    s3 = shop_alert(h, T0 + 10 * MIN - 1, "i3");
    assert_int_not_equal(s3.incident_ids[0], s1.incident_ids[0]);
    check_consistent(h);
}

static void test_group_window_repeat_does_not_extend(void **state)
{
    struct h *h = *state;
    struct engine_event_result s1, r, s2;

    /* The window counts from the group's last alert that joined; a repeat of
     * an alert already in it is not a join. */
    s1 = shop_alert(h, T0, "i1");
    r = shop_alert(h, T0 + 4 * MIN, "i1");
    assert_int_equal(r.outcome, OUTCOME_UPDATED);
    s2 = shop_alert(h, T0 + 6 * MIN, "i2");
    assert_int_not_equal(s2.incident_ids[0], s1.incident_ids[0]);
    check_consistent(h);
}

/* ---- automatic resolution ---- */

static void test_auto_resolve(void **state)
{
    struct h *h = *state;
    struct engine_event_result a, b, r;

    a = send_tocsin(h, h->scripts, T0, "{'labels':{'alertname':'Net','host':'a'},'summary':'n'}");
    b = send_tocsin(h, h->scripts, T0, "{'labels':{'alertname':'Net','host':'b'},'summary':'n'}");
    assert_int_equal(a.incident_ids[0], b.incident_ids[0]);
    int64_t id = a.incident_ids[0];

    r = send_tocsin(h, h->scripts, T0 + MIN,
                    "{'action':'resolve','labels':{'alertname':'Net','host':'a'}}");
    assert_int_equal(r.outcome, OUTCOME_RESOLVED);
    json_t *inc = incident_json(h, id);
    expect_str(inc, "status", "triggered");
    assert_int_equal(num(inc, "open_alert_count"), 1);
    assert_int_equal(num(inc, "alert_count"), 2);
    assert_int_equal(count_kind(inc, "alert_resolved"), 1);
    json_decref(inc);

    r = send_tocsin(h, h->scripts, T0 + 2 * MIN,
                    "{'action':'resolve','labels':{'alertname':'Net','host':'b'}}");
    assert_int_equal(r.outcome, OUTCOME_RESOLVED);
    inc = incident_json(h, id);
    expect_str(inc, "status", "resolved");
    expect_str(inc, "resolved_by", "tocsin");
    expect_str(inc, "resolved_at", iso(T0 + 2 * MIN));
    assert_int_equal(num(inc, "open_alert_count"), 0);
    assert_int_equal(num(inc, "alert_count"), 2);
    assert_int_equal(count_kind(inc, "alert_resolved"), 2);
    assert_int_equal(count_kind(inc, "resolved"), 1);
    assert_string_equal(last_kind(inc), "resolved");
    json_decref(inc);
    assert_int_equal(h->st.incidents.len, 0);
    assert_int_equal(h->st.alerts.len, 0);
    check_consistent(h);
}

static void test_auto_resolve_same_batch(void **state)
{
    struct h *h = *state;
    struct engine_event_result r[2];

    /* A trigger and its resolve in one request: the incident opens and
     * closes within the batch, and its counters still reach the store. */
    assert_int_equal(send_n(h, intake_parse_tocsin, h->scripts, T0,
                            "[{'dedup_key':'q','labels':{'alertname':'Quick'},'summary':'q'},"
                            " {'dedup_key':'q','action':'resolve'}]",
                            r, 2),
                     2);
    assert_int_equal(r[0].outcome, OUTCOME_CREATED);
    assert_int_equal(r[1].outcome, OUTCOME_RESOLVED);
    json_t *inc = incident_json(h, r[0].incident_ids[0]);
    expect_str(inc, "status", "resolved");
    assert_int_equal(num(inc, "alert_count"), 1);
    assert_int_equal(num(inc, "open_alert_count"), 0);
    json_decref(inc);
    check_consistent(h);
}

/* ---- severity and priority ---- */

static void test_severity_raises_priority(void **state)
{
    struct h *h = *state;
    struct engine_event_result w, c;

    /* Warning on a high-impact service: medium urgency -> P2. */
    w = send_tocsin(h, h->scripts, T0,
                    "{'labels':{'alertname':'Err','service':'shop','instance':'a'},"
                    "'summary':'errors','severity':'warning'}");
    json_t *inc = incident_json(h, w.incident_ids[0]);
    expect_str(inc, "severity", "warning");
    expect_str(inc, "priority", "P2");
    expect_str(inc, "urgency", "medium");
    json_decref(inc);

    /* A critical alert joins: severity and priority rise. */
    c = send_tocsin(h, h->scripts, T0 + MIN,
                    "{'labels':{'alertname':'Err','service':'shop','instance':'b'},"
                    "'summary':'errors','severity':'critical'}");
    assert_int_equal(c.incident_ids[0], w.incident_ids[0]);
    inc = incident_json(h, w.incident_ids[0]);
    expect_str(inc, "severity", "critical");
    expect_str(inc, "priority", "P1");
    expect_str(inc, "urgency", "high");
    assert_int_equal(count_kind(inc, "severity_changed"), 1);
    assert_int_equal(count_kind(inc, "priority_changed"), 1);
    json_decref(inc);

    /* A less severe alert never lowers it. */
    send_tocsin(h, h->scripts, T0 + 2 * MIN,
                "{'labels':{'alertname':'Err','service':'shop','instance':'c'},"
                "'summary':'errors','severity':'info'}");
    inc = incident_json(h, w.incident_ids[0]);
    expect_str(inc, "severity", "critical");
    expect_str(inc, "priority", "P1");
    assert_int_equal(num(inc, "alert_count"), 3);
    json_decref(inc);
    check_consistent(h);
}

static void test_priority_from_service_and_route(void **state)
{
    struct h *h = *state;
    struct engine_event_result r;

    /* Critical on the high-impact shop: P1. */
    r = send_tocsin(h, h->scripts, T0,
                    "{'labels':{'alertname':'Down','service':'shop'},'summary':'down',"
                    "'severity':'critical'}");
    json_t *inc = incident_json(h, r.incident_ids[0]);
    expect_str(inc, "priority", "P1");
    expect_str(inc, "severity", "critical");
    expect_str(inc, "impact", "high");
    json_decref(inc);

    /* Warning on the default route (no service, medium impact): P3. */
    r = send_tocsin(h, h->scripts, T0,
                    "{'labels':{'alertname':'Meh'},'summary':'meh','severity':'warning'}");
    inc = incident_json(h, r.incident_ids[0]);
    expect_str(inc, "priority", "P3");
    expect_str(inc, "impact", "medium");
    expect_str(inc, "service", NULL);
    json_decref(inc);
    check_consistent(h);
}

static void test_repeat_with_higher_severity(void **state)
{
    struct h *h = *state;
    struct engine_event_result r1, r2;
    const char *fmt = "{'labels':{'alertname':'Temp'},'summary':'hot','severity':'%s'}";
    char body[256];

    snprintf(body, sizeof(body), fmt, "warning");
    r1 = send_tocsin(h, h->scripts, T0, body);
    snprintf(body, sizeof(body), fmt, "critical");
    r2 = send_tocsin(h, h->scripts, T0 + MIN, body);
    assert_int_equal(r2.outcome, OUTCOME_UPDATED);
    assert_int_equal(r2.alert_id, r1.alert_id);

    json_t *a = alert_json(h, r1.alert_id);
    expect_str(a, "severity", "critical");
    json_decref(a);
    /* Medium impact, high urgency: P2 (from P3). */
    json_t *inc = incident_json(h, r1.incident_ids[0]);
    expect_str(inc, "severity", "critical");
    expect_str(inc, "priority", "P2");
    assert_true(count_kind(inc, "severity_changed") >= 1);
    assert_int_equal(count_kind(inc, "priority_changed"), 1);
    json_decref(inc);

    /* The alert may calm down; the incident keeps the highest it saw. */
    snprintf(body, sizeof(body), fmt, "info");
    send_tocsin(h, h->scripts, T0 + 2 * MIN, body);
    a = alert_json(h, r1.alert_id);
    expect_str(a, "severity", "info");
    json_decref(a);
    inc = incident_json(h, r1.incident_ids[0]);
    expect_str(inc, "severity", "critical");
    expect_str(inc, "priority", "P2");
    assert_int_equal(count_kind(inc, "priority_changed"), 1);
    json_decref(inc);
    check_consistent(h);
}

/* ---- acknowledgement and incident commands ---- */

static void test_ack_from_sender(void **state)
{
    struct h *h = *state;
    struct engine_event_result t, a;

    t = send_tocsin(h, h->scripts, T0,
                    "{'dedup_key':'db','labels':{'alertname':'Db'},"
                    "'summary':'db slow'}");
    a = send_tocsin(h, h->scripts, T0 + MIN, "{'dedup_key':'db','action':'acknowledge'}");
    assert_int_equal(a.outcome, OUTCOME_ACKNOWLEDGED);
    assert_int_equal(a.alert_id, t.alert_id);
    assert_int_equal(a.incident_ids[0], t.incident_ids[0]);

    json_t *al = alert_json(h, t.alert_id);
    expect_str(al, "status", "acknowledged");
    expect_str(al, "acknowledged_by", "integration:scripts");
    expect_str(al, "acknowledged_at", iso(T0 + MIN));
    json_decref(al);
    json_t *inc = incident_json(h, t.incident_ids[0]);
    expect_str(inc, "status", "acknowledged");
    expect_str(inc, "acknowledged_by", "integration:scripts");
    assert_int_equal(count_kind(inc, "alert_acknowledged"), 1);
    assert_int_equal(count_kind(inc, "acknowledged"), 1);
    json_decref(inc);

    /* Acknowledging again changes nothing. */
    a = send_tocsin(h, h->scripts, T0 + 2 * MIN, "{'dedup_key':'db','action':'acknowledge'}");
    assert_int_equal(a.outcome, OUTCOME_ACKNOWLEDGED);
    inc = incident_json(h, t.incident_ids[0]);
    assert_int_equal(count_kind(inc, "alert_acknowledged"), 1);
    assert_int_equal(count_kind(inc, "acknowledged"), 1);
    json_decref(inc);
    al = alert_json(h, t.alert_id);
    expect_str(al, "acknowledged_at", iso(T0 + MIN));
    json_decref(al);

    /* The resolve of an acknowledged alert closes both. */
    a = send_tocsin(h, h->scripts, T0 + 3 * MIN, "{'dedup_key':'db','action':'resolve'}");
    assert_int_equal(a.outcome, OUTCOME_RESOLVED);
    inc = incident_json(h, t.incident_ids[0]);
    expect_str(inc, "status", "resolved");
    json_decref(inc);
    check_consistent(h);
}

static void test_incident_commands(void **state)
{
    struct h *h = *state;
    struct engine_event_result a, b;
    struct engine_cmd c;

    a = send_tocsin(h, h->scripts, T0, "{'labels':{'alertname':'Api','host':'a'},'summary':'x'}");
    b = send_tocsin(h, h->scripts, T0, "{'labels':{'alertname':'Api','host':'b'},'summary':'x'}");
    int64_t id = a.incident_ids[0];
    assert_int_equal(b.incident_ids[0], id);

    c = incident_cmd(CMD_INCIDENT_ACK, id, NULL);
    apply(h, &c, T0 + MIN);
    assert_int_equal(c.status, ENGINE_OK);
    assert_true(c.changed);
    json_t *inc = incident_json(h, id);
    expect_str(inc, "status", "acknowledged");
    expect_str(inc, "acknowledged_by", "token:alice");
    expect_str(inc, "acknowledged_at", iso(T0 + MIN));
    json_decref(inc);

    /* A second acknowledge is a no-op. */
    c = incident_cmd(CMD_INCIDENT_ACK, id, NULL);
    apply(h, &c, T0 + 2 * MIN);
    assert_int_equal(c.status, ENGINE_OK);
    assert_false(c.changed);
    inc = incident_json(h, id);
    assert_int_equal(count_kind(inc, "acknowledged"), 1);
    expect_str(inc, "acknowledged_at", iso(T0 + MIN));
    json_decref(inc);

    /* A note is a timeline entry. */
    c = incident_cmd(CMD_INCIDENT_NOTE, id, "rolled back the deploy");
    apply(h, &c, T0 + 3 * MIN);
    assert_int_equal(c.status, ENGINE_OK);
    assert_true(c.changed);
    assert_true(c.out_id > 0);
    struct store_reader *r = store_reader_acquire(h->store);
    json_t *e = store_timeline_get(r, c.out_id);
    store_reader_release(h->store, r);
    assert_non_null(e);
    expect_str(e, "kind", "note");
    expect_str(e, "actor", "token:alice");
    expect_str(e, "text", "rolled back the deploy");
    expect_str(e, "at", iso(T0 + 3 * MIN));
    assert_int_equal(num(e, "incident_id"), id);
    json_decref(e);

    /* Resolving by hand resolves every open alert with the same actor, and
     * the incident once, by that actor rather than by tocsin. */
    c = incident_cmd(CMD_INCIDENT_RESOLVE, id, NULL);
    apply(h, &c, T0 + 4 * MIN);
    assert_int_equal(c.status, ENGINE_OK);
    assert_true(c.changed);
    inc = incident_json(h, id);
    expect_str(inc, "status", "resolved");
    expect_str(inc, "resolved_by", "token:alice");
    expect_str(inc, "resolved_at", iso(T0 + 4 * MIN));
    assert_int_equal(num(inc, "open_alert_count"), 0);
    assert_int_equal(count_kind(inc, "resolved"), 1);
    assert_int_equal(count_kind(inc, "alert_resolved"), 2);
    json_decref(inc);
    json_t *al = alert_json(h, a.alert_id);
    expect_str(al, "status", "resolved");
    expect_str(al, "resolved_by", "token:alice");
    json_decref(al);
    al = alert_json(h, b.alert_id);
    expect_str(al, "status", "resolved");
    expect_str(al, "resolved_by", "token:alice");
    json_decref(al);
    assert_int_equal(h->st.alerts.len, 0);

    /* Resolving again: 200 unchanged. Acknowledging it now: conflict. */
    c = incident_cmd(CMD_INCIDENT_RESOLVE, id, NULL);
    apply(h, &c, T0 + 5 * MIN);
    assert_int_equal(c.status, ENGINE_OK);
    assert_false(c.changed);
    c = incident_cmd(CMD_INCIDENT_ACK, id, NULL);
    apply(h, &c, T0 + 5 * MIN);
    assert_int_equal(c.status, ENGINE_ECONFLICT);
    assert_false(c.changed);
    inc = incident_json(h, id);
    expect_str(inc, "resolved_by", "token:alice");
    assert_int_equal(count_kind(inc, "resolved"), 1);
    json_decref(inc);

    /* The alerts come back as new alerts in a new incident. */
    struct engine_event_result n = send_tocsin(
        h, h->scripts, T0 + 6 * MIN, "{'labels':{'alertname':'Api','host':'a'},'summary':'x'}");
    assert_int_equal(n.outcome, OUTCOME_CREATED);
    assert_int_not_equal(n.incident_ids[0], id);
    check_consistent(h);
}

static void test_incident_commands_not_found(void **state)
{
    struct h *h = *state;
    static const enum engine_cmd_kind kinds[] = {CMD_INCIDENT_ACK, CMD_INCIDENT_RESOLVE,
                                                 CMD_INCIDENT_NOTE};

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        struct engine_cmd c = incident_cmd(kinds[i], 4242, "text");
        apply(h, &c, T0);
        assert_int_equal(c.status, ENGINE_ENOTFOUND);
        assert_false(c.changed);
    }
    assert_int_equal(count_open_incidents(h), 0);
    check_consistent(h);
}

static void test_incident_ack_then_alert_resolves(void **state)
{
    struct h *h = *state;
    struct engine_event_result a, b;
    struct engine_cmd c;

    a = send_tocsin(h, h->scripts, T0,
                    "{'dedup_key':'p','labels':{'alertname':'Pg'},"
                    "'summary':'pg'}");
    b = send_tocsin(h, h->scripts, T0 + MIN,
                    "{'dedup_key':'q','labels':{'alertname':'Pg'},"
                    "'summary':'pg'}");
    int64_t id = a.incident_ids[0];
    assert_int_equal(b.incident_ids[0], id);
    c = incident_cmd(CMD_INCIDENT_ACK, id, NULL);
    apply(h, &c, T0 + 2 * MIN);

    /* An alert resolving later is a change to the incident: its updated_at
     * moves forward, never back, and it stays acknowledged. */
    send_tocsin(h, h->scripts, T0 + 3 * MIN, "{'dedup_key':'p','action':'resolve'}");
    json_t *inc = incident_json(h, id);
    expect_str(inc, "status", "acknowledged");
    assert_int_equal(num(inc, "open_alert_count"), 1);
    expect_str(inc, "last_alert_at", iso(T0 + MIN));
    expect_str(inc, "updated_at", iso(T0 + 3 * MIN));
    json_decref(inc);

    /* The last one resolves it; an acknowledged incident resolves as well. */
    send_tocsin(h, h->scripts, T0 + 4 * MIN, "{'dedup_key':'q','action':'resolve'}");
    inc = incident_json(h, id);
    expect_str(inc, "status", "resolved");
    expect_str(inc, "resolved_by", "tocsin");
    expect_str(inc, "updated_at", iso(T0 + 4 * MIN));
    json_decref(inc);
    check_consistent(h);
}

/* ---- expiry at endsAt ---- */

static void test_expiry(void **state)
{
    struct h *h = *state;
    struct engine_event_result r;
    const char *labels = "{'alertname':'Gone','instance':'x:9100'}";

    r = send_am(h, T0, labels, T0, T0 + 2 * MIN);
    assert_int_equal(r.outcome, OUTCOME_CREATED);
    assert_int_equal(engine_next_due(&h->st, T0), 2 * MIN);
    json_t *a = alert_json(h, r.alert_id);
    expect_str(a, "ends_at", iso(T0 + 2 * MIN));
    expect_str(a, "starts_at", iso(T0));
    expect_str(a, "integration", "prom");
    json_decref(a);

    /* One millisecond before endsAt nothing happens. */
    tick(h, T0 + 2 * MIN - 1);
    a = alert_json(h, r.alert_id);
    expect_str(a, "status", "firing");
    json_decref(a);
    assert_int_equal(engine_next_due(&h->st, T0 + 2 * MIN - 1), 1);

    /* At endsAt it expires, resolved by tocsin, and so does its incident. */
    tick(h, T0 + 2 * MIN);
    a = alert_json(h, r.alert_id);
    expect_str(a, "status", "resolved");
    expect_str(a, "resolved_by", "tocsin");
    expect_str(a, "resolved_at", iso(T0 + 2 * MIN));
    json_decref(a);
    json_t *inc = incident_json(h, r.incident_ids[0]);
    expect_str(inc, "status", "resolved");
    expect_str(inc, "resolved_by", "tocsin");
    assert_int_equal(num(inc, "open_alert_count"), 0);
    json_decref(inc);
    assert_int_equal(h->st.heap_len, 0);
    assert_int_equal(engine_next_due(&h->st, T0 + 3 * MIN), -1);

    /* Prometheus sending it again (same startsAt) opens it again: the
     * sender says it is still firing. */
    r = send_am(h, T0 + 3 * MIN, labels, T0, T0 + 6 * MIN);
    assert_int_equal(r.outcome, OUTCOME_CREATED);
    check_consistent(h);
}

static void test_expiry_postponed_by_refresh(void **state)
{
    struct h *h = *state;
    struct engine_event_result r1, r2;
    const char *labels = "{'alertname':'Busy','instance':'y:9100'}";

    r1 = send_am(h, T0, labels, T0, T0 + 2 * MIN);
    r2 = send_am(h, T0 + MIN, labels, T0, T0 + 5 * MIN);
    assert_int_equal(r2.outcome, OUTCOME_UPDATED);
    assert_int_equal(r2.alert_id, r1.alert_id);
    assert_int_equal(engine_next_due(&h->st, T0 + MIN), 4 * MIN);

    tick(h, T0 + 2 * MIN);
    json_t *a = alert_json(h, r1.alert_id);
    expect_str(a, "status", "firing");
    expect_str(a, "ends_at", iso(T0 + 5 * MIN));
    assert_int_equal(num(a, "count"), 2);
    json_decref(a);

    tick(h, T0 + 5 * MIN - 1);
    a = alert_json(h, r1.alert_id);
    expect_str(a, "status", "firing");
    json_decref(a);
    tick(h, T0 + 5 * MIN);
    a = alert_json(h, r1.alert_id);
    expect_str(a, "status", "resolved");
    expect_str(a, "resolved_by", "tocsin");
    json_decref(a);
    check_consistent(h);
}

static void test_expiry_order_and_default_timeout(void **state)
{
    struct h *h = *state;
    struct engine_event_result r[3];

    /* Three alerts in one request, due in a different order than sent; the
     * third has no endsAt and gets now + resolve_timeout (5m). */
    char body[1024];
    snprintf(body, sizeof(body),
             "[{'labels':{'alertname':'A'},'endsAt':'%s'},"
             " {'labels':{'alertname':'B'},'endsAt':'%s'},"
             " {'labels':{'alertname':'C'}}]",
             iso(T0 + 3 * MIN), iso(T0 + MIN));
    assert_int_equal(send_n(h, intake_parse_am_alerts, h->prom, T0, body, r, 3), 3);
    assert_int_equal(h->st.heap_len, 3);
    assert_int_equal(engine_next_due(&h->st, T0), MIN);

    tick(h, T0 + MIN);
    assert_int_equal(h->st.alerts.len, 2);
    json_t *a = alert_json(h, r[1].alert_id);
    expect_str(a, "status", "resolved");
    json_decref(a);
    assert_int_equal(engine_next_due(&h->st, T0 + MIN), 2 * MIN);

    /* A tick long after every end expires all that are due at once. */
    tick(h, T0 + 10 * MIN);
    assert_int_equal(h->st.alerts.len, 0);
    a = alert_json(h, r[2].alert_id);
    expect_str(a, "status", "resolved");
    expect_str(a, "resolved_by", "tocsin");
    json_decref(a);
    assert_int_equal(count_open_incidents(h), 0);
    check_consistent(h);
}

static void test_am_resolve_by_sender(void **state)
{
    struct h *h = *state;
    struct engine_event_result r1, r2;
    const char *labels = "{'alertname':'Fixed'}";

    r1 = send_am(h, T0, labels, T0, T0 + 5 * MIN);
    /* An endsAt in the past is the sender's resolve. */
    r2 = send_am(h, T0 + 2 * MIN, labels, T0, T0 + MIN);
    assert_int_equal(r2.outcome, OUTCOME_RESOLVED);
    assert_int_equal(r2.alert_id, r1.alert_id);
    json_t *a = alert_json(h, r1.alert_id);
    expect_str(a, "status", "resolved");
    expect_str(a, "resolved_by", "integration:prom");
    json_decref(a);
    assert_int_equal(h->st.heap_len, 0);
    check_consistent(h);
}

/* ---- Alertmanager webhook retries ---- */

static void test_webhook_late_retry(void **state)
{
    struct h *h = *state;
    struct engine_event_result f1, res, retry, f2, dup;
    const char *labels = "{'alertname':'Lag','job':'db'}";

    f1 = send_hook(h, T0, "firing", labels, T0 - MIN, 0);
    assert_int_equal(f1.outcome, OUTCOME_CREATED);
    /* A duplicate from an HA peer only counts. */
    dup = send_hook(h, T0 + 10000, "firing", labels, T0 - MIN, 0);
    assert_int_equal(dup.outcome, OUTCOME_UPDATED);
    assert_int_equal(dup.alert_id, f1.alert_id);
    /* A firing alert from the webhook never expires by itself. */
    assert_int_equal(h->st.heap_len, 0);

    res = send_hook(h, T0 + MIN, "resolved", labels, T0 - MIN, T0 + MIN);
    assert_int_equal(res.outcome, OUTCOME_RESOLVED);
    assert_int_equal(res.alert_id, f1.alert_id);

    /* The firing message retried after the resolve: dropped, nothing stored. */
    retry = send_hook(h, T0 + 2 * MIN, "firing", labels, T0 - MIN, 0);
    assert_int_equal(retry.outcome, OUTCOME_DROPPED);
    assert_int_equal(retry.alert_id, 0);
    assert_int_equal(count_open_alerts(h), 0);
    json_t *a = alert_json(h, f1.alert_id);
    expect_str(a, "status", "resolved");
    assert_int_equal(num(a, "count"), 2);
    json_decref(a);

    /* A new firing (new startsAt) is a new alert. */
    f2 = send_hook(h, T0 + 3 * MIN, "firing", labels, T0 + 3 * MIN, 0);
    assert_int_equal(f2.outcome, OUTCOME_CREATED);
    assert_int_not_equal(f2.alert_id, f1.alert_id);
    assert_int_not_equal(f2.incident_ids[0], f1.incident_ids[0]);
    a = alert_json(h, f2.alert_id);
    expect_str(a, "starts_at", iso(T0 + 3 * MIN));
    json_decref(a);
    check_consistent(h);
}

static void test_webhook_retry_memory_is_bounded(void **state)
{
    struct h *h = *state;
    struct engine_event_result r;
    const char *labels = "{'alertname':'Old'}";

    send_hook(h, T0, "firing", labels, T0, 0);
    send_hook(h, T0 + MIN, "resolved", labels, T0, T0 + MIN);
    assert_int_equal(h->st.recent.len, 1);
    /* The engine remembers resolved keys for an hour; later ticks forget. */
    tick(h, T0 + 30 * MIN);
    assert_int_equal(h->st.recent.len, 1);
    tick(h, T0 + 2 * 60 * MIN);
    assert_int_equal(h->st.recent.len, 0);
    r = send_hook(h, T0 + 2 * 60 * MIN, "firing", labels, T0, 0);
    assert_int_equal(r.outcome, OUTCOME_CREATED);
    check_consistent(h);
}

/* ---- restart ---- */

static void test_restart_rebuilds_state(void **state)
{
    struct h *h = *state;
    struct engine_event_result a, b, p, s1, s2, r;
    struct engine_cmd c;

    a = send_tocsin(h, h->scripts, T0,
                    "{'labels':{'alertname':'Mem','host':'a'},'summary':'m','severity':'error'}");
    b = send_tocsin(h, h->scripts, T0, "{'labels':{'alertname':'Mem','host':'b'},'summary':'m'}");
    c = incident_cmd(CMD_INCIDENT_ACK, a.incident_ids[0], NULL);
    apply(h, &c, T0 + MIN);
    p = send_am(h, T0, "{'alertname':'Scrape'}", T0, T0 + 10 * MIN);
    s1 = shop_alert(h, T0, "i1");
    s2 = shop_alert(h, T0 + 6 * MIN, "i2");
    assert_int_not_equal(s1.incident_ids[0], s2.incident_ids[0]);

    size_t n_alerts = h->st.alerts.len, n_incs = h->st.incidents.len;
    assert_int_equal(n_alerts, 5);
    assert_int_equal(n_incs, 4);
    reload(h);
    assert_int_equal(h->st.alerts.len, n_alerts);
    assert_int_equal(h->st.incidents.len, n_incs);
    assert_int_equal(h->st.heap_len, 1);
    assert_int_equal(engine_next_due(&h->st, T0 + 6 * MIN), 4 * MIN);
    check_consistent(h);

    /* A repeat dedups into the existing alert and its incident. */
    r = send_tocsin(h, h->scripts, T0 + 7 * MIN,
                    "{'labels':{'alertname':'Mem','host':'a'},'summary':'m','severity':'error'}");
    assert_int_equal(r.outcome, OUTCOME_UPDATED);
    assert_int_equal(r.alert_id, a.alert_id);
    assert_int_equal(r.incident_ids[0], a.incident_ids[0]);
    json_t *al = alert_json(h, a.alert_id);
    assert_int_equal(num(al, "count"), 2);
    json_decref(al);

    /* A new alert of the group joins the open incident, which is still
     * acknowledged: a second acknowledge is a no-op. */
    r = send_tocsin(h, h->scripts, T0 + 7 * MIN,
                    "{'labels':{'alertname':'Mem','host':'c'},'summary':'m'}");
    assert_int_equal(r.outcome, OUTCOME_CREATED);
    assert_int_equal(r.incident_ids[0], a.incident_ids[0]);
    c = incident_cmd(CMD_INCIDENT_ACK, a.incident_ids[0], NULL);
    apply(h, &c, T0 + 7 * MIN);
    assert_int_equal(c.status, ENGINE_OK);
    assert_false(c.changed);
    json_t *inc = incident_json(h, a.incident_ids[0]);
    assert_int_equal(num(inc, "alert_count"), 3);
    assert_int_equal(num(inc, "open_alert_count"), 3);
    expect_str(inc, "status", "acknowledged");
    json_decref(inc);

    /* The group's newest incident is still the one new alerts join. */
    r = shop_alert(h, T0 + 8 * MIN, "i3");
    assert_int_equal(r.incident_ids[0], s2.incident_ids[0]);

    /* The expiry heap was rebuilt: the Alertmanager alert expires at its
     * endsAt, not before. */
    tick(h, T0 + 10 * MIN - 1);
    al = alert_json(h, p.alert_id);
    expect_str(al, "status", "firing");
    json_decref(al);
    tick(h, T0 + 10 * MIN);
    al = alert_json(h, p.alert_id);
    expect_str(al, "status", "resolved");
    expect_str(al, "resolved_by", "tocsin");
    json_decref(al);

    /* Resolving the rebuilt incident's alerts still resolves it. */
    for (int i = 0; i < 3; i++) {
        char body[128];
        snprintf(body, sizeof(body),
                 "{'action':'resolve','labels':{'alertname':'Mem','host':'%c'}}", 'a' + i);
        send_tocsin(h, h->scripts, T0 + 11 * MIN, body);
    }
    inc = incident_json(h, a.incident_ids[0]);
    expect_str(inc, "status", "resolved");
    assert_int_equal(num(inc, "open_alert_count"), 0);
    json_decref(inc);
    (void)b;
    check_consistent(h);
}

/* ---- an alert in two incidents (a route with continue) ---- */

/* Sends an ops alert; with shop set it also matches the shop route. */
static struct engine_event_result ops_alert(struct h *h, int64_t now, const char *name, bool shop)
{
    char body[256];
    snprintf(body, sizeof(body),
             "{'labels':{'alertname':'%s','team':'ops'%s},'summary':'%s','severity':'critical'}",
             name, shop ? ",'service':'shop'" : "", name);
    return send_tocsin(h, h->scripts, now, body);
}

static void test_alert_in_two_incidents(void **state)
{
    struct h *h = *state;
    struct engine_event_result x, y;
    struct engine_cmd c;

    x = ops_alert(h, T0, "Pay", true);
    assert_int_equal(x.n_incidents, 2);
    int64_t team = x.incident_ids[0], shop = x.incident_ids[1];
    assert_int_not_equal(team, shop);
    y = ops_alert(h, T0 + MIN, "Cpu", false);
    assert_int_equal(y.n_incidents, 1);
    assert_int_equal(y.incident_ids[0], team);

    json_t *a = alert_json(h, x.alert_id);
    assert_int_equal(json_array_size(json_object_get(a, "incident_ids")), 2);
    json_decref(a);
    json_t *inc = incident_json(h, team);
    expect_str(inc, "route", "0");
    expect_str(inc, "priority", "P2");
    assert_int_equal(num(inc, "alert_count"), 2);
    json_decref(inc);
    inc = incident_json(h, shop);
    expect_str(inc, "route", "1");
    expect_str(inc, "priority", "P1");
    assert_int_equal(num(inc, "alert_count"), 1);
    json_decref(inc);

    /* Resolving the shop incident by hand resolves x, which the team
     * incident loses too; it stays open for y. */
    c = incident_cmd(CMD_INCIDENT_RESOLVE, shop, NULL);
    apply(h, &c, T0 + 2 * MIN);
    assert_int_equal(c.status, ENGINE_OK);
    inc = incident_json(h, shop);
    expect_str(inc, "status", "resolved");
    expect_str(inc, "resolved_by", "token:alice");
    json_decref(inc);
    inc = incident_json(h, team);
    expect_str(inc, "status", "triggered");
    assert_int_equal(num(inc, "open_alert_count"), 1);
    assert_int_equal(count_kind(inc, "alert_resolved"), 1);
    json_decref(inc);
    a = alert_json(h, x.alert_id);
    expect_str(a, "resolved_by", "token:alice");
    json_decref(a);

    /* y resolving closes the team incident by itself. */
    send_tocsin(h, h->scripts, T0 + 3 * MIN,
                "{'action':'resolve','labels':{'alertname':'Cpu','team':'ops'}}");
    inc = incident_json(h, team);
    expect_str(inc, "status", "resolved");
    expect_str(inc, "resolved_by", "tocsin");
    json_decref(inc);
    check_consistent(h);
}

static void test_hand_resolve_closes_other_incident(void **state)
{
    struct h *h = *state;
    struct engine_event_result x, y;
    struct engine_cmd c;

    x = ops_alert(h, T0, "Pay", true);
    y = ops_alert(h, T0, "Cpu", false);
    int64_t team = x.incident_ids[0], shop = x.incident_ids[1];
    assert_int_equal(y.incident_ids[0], team);

    /* Resolving the team incident resolves x and y; x was the shop
     * incident's only alert, so the shop incident resolves itself. */
    c = incident_cmd(CMD_INCIDENT_RESOLVE, team, NULL);
    apply(h, &c, T0 + MIN);
    assert_int_equal(c.status, ENGINE_OK);
    json_t *inc = incident_json(h, team);
    expect_str(inc, "status", "resolved");
    expect_str(inc, "resolved_by", "token:alice");
    assert_int_equal(count_kind(inc, "resolved"), 1);
    json_decref(inc);
    inc = incident_json(h, shop);
    expect_str(inc, "status", "resolved");
    expect_str(inc, "resolved_by", "tocsin");
    assert_int_equal(num(inc, "open_alert_count"), 0);
    json_decref(inc);
    assert_int_equal(h->st.incidents.len, 0);
    assert_int_equal(h->st.alerts.len, 0);
    check_consistent(h);
}

/* ---- a batch that fails ---- */

/* Renames a table behind the engine's back, so statements on it fail. */
static void rename_table(struct h *h, const char *from, const char *to)
{
    char path[128], sql[128];
    sqlite3 *db;
    snprintf(path, sizeof(path), "%s/tocsin.db", h->dir);
    snprintf(sql, sizeof(sql), "ALTER TABLE %s RENAME TO %s", from, to);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_close(db);
}

static void test_failed_batch_rolls_back(void **state)
{
    struct h *h = *state;
    struct engine_event_result a, b, r;
    struct intake_batch batch = {0};
    struct intake_error e;
    char err[512];

    a = send_tocsin(h, h->scripts, T0,
                    "{'dedup_key':'a','labels':{'alertname':'Roll'},"
                    "'summary':'a'}");
    b = send_tocsin(h, h->scripts, T0,
                    "{'dedup_key':'b','labels':{'alertname':'Roll'},"
                    "'summary':'b'}");
    int64_t id = a.incident_ids[0];

    /* One batch: events that resolve a and open c (memory changes), then a
     * change record whose table is gone, so the batch fails and the engine
     * rolls it back and rebuilds its state, as run_batch does. */
    const char *body = "[{'dedup_key':'a','action':'resolve'},"
                       " {'dedup_key':'b','labels':{'alertname':'Roll'},'summary':'b2'},"
                       " {'dedup_key':'c','labels':{'alertname':'Roll'},'summary':'c'}]";
    char *text = strdup(body);
    for (char *p = text; *p; p++)
        if (*p == '\'')
            *p = '"';
    assert_int_equal(intake_parse_tocsin(text, strlen(text), h->scripts, T0, &batch, &e), 0);
    struct engine_event_result res[3];
    struct engine_cmd ev = {.kind = CMD_EVENTS,
                            .integ = h->scripts,
                            .events = batch.events,
                            .n_events = batch.n,
                            .results = res};
    struct change_event ch = {.summary = "deploy 42"};
    struct engine_cmd chg = {.kind = CMD_CHANGE, .integ = h->scripts, .change = &ch};

    rename_table(h, "changes", "changes_gone");
    assert_int_equal(store_begin(h->store), 0);
    assert_int_equal(engine_apply(&h->st, &ev, T0 + MIN), 0);
    assert_int_equal(res[0].outcome, OUTCOME_RESOLVED);
    assert_int_equal(res[2].outcome, OUTCOME_CREATED);
    assert_int_equal(engine_apply(&h->st, &chg, T0 + MIN), -1);
    store_rollback(h->store);
    engine_state_free(&h->st);
    if (engine_state_load(&h->st, h->cfg, h->store, err, sizeof(err)) != 0)
        fail_msg("engine_state_load: %s", err);
    rename_table(h, "changes_gone", "changes");
    intake_batch_free(&batch);
    free(text);

    /* Nothing of the batch was stored, and the state is what the store says. */
    assert_int_equal(h->st.alerts.len, 2);
    assert_int_equal(count_open_alerts(h), 2);
    json_t *al = alert_json(h, a.alert_id);
    expect_str(al, "status", "firing");
    json_decref(al);
    al = alert_json(h, b.alert_id);
    assert_int_equal(num(al, "count"), 1);
    expect_str(al, "summary", "b");
    json_decref(al);
    json_t *inc = incident_json(h, id);
    assert_int_equal(num(inc, "alert_count"), 2);
    assert_int_equal(num(inc, "open_alert_count"), 2);
    json_decref(inc);
    check_consistent(h);

    /* The same commands succeed afterwards. */
    r = send_tocsin(h, h->scripts, T0 + 2 * MIN, "{'dedup_key':'a','action':'resolve'}");
    assert_int_equal(r.outcome, OUTCOME_RESOLVED);
    r = send_tocsin(h, h->scripts, T0 + 2 * MIN,
                    "{'dedup_key':'c','labels':{'alertname':'Roll'},'summary':'c'}");
    assert_int_equal(r.outcome, OUTCOME_CREATED);
    assert_int_equal(r.incident_ids[0], id);
    struct engine_cmd chg2 = {.kind = CMD_CHANGE, .integ = h->scripts, .change = &ch};
    apply(h, &chg2, T0 + 2 * MIN);
    assert_true(chg2.out_id > 0);
    check_consistent(h);
}

static void test_failed_batch_creating_incident(void **state)
{
    struct h *h = *state;
    struct intake_batch batch = {0};
    struct intake_error e;
    struct engine_event_result res[1], r;
    char err[512];
    const char *text = "{\"dedup_key\":\"n\",\"labels\":{\"alertname\":\"New\"},\"summary\":\"n\"}";

    /* The timeline is gone, so opening the incident fails half-way. */
    assert_int_equal(intake_parse_tocsin(text, strlen(text), h->scripts, T0, &batch, &e), 0);
    struct engine_cmd ev = {.kind = CMD_EVENTS,
                            .integ = h->scripts,
                            .events = batch.events,
                            .n_events = batch.n,
                            .results = res};
    rename_table(h, "timeline", "timeline_gone");
    assert_int_equal(store_begin(h->store), 0);
    assert_int_equal(engine_apply(&h->st, &ev, T0), -1);
    store_rollback(h->store);
    engine_state_free(&h->st);
    if (engine_state_load(&h->st, h->cfg, h->store, err, sizeof(err)) != 0)
        fail_msg("engine_state_load: %s", err);
    rename_table(h, "timeline_gone", "timeline");
    intake_batch_free(&batch);

    assert_int_equal(h->st.alerts.len, 0);
    assert_int_equal(h->st.incidents.len, 0);
    assert_int_equal(count_open_incidents(h), 0);
    r = send_tocsin(h, h->scripts, T0 + MIN,
                    "{'dedup_key':'n','labels':{'alertname':'New'},'summary':'n'}");
    assert_int_equal(r.outcome, OUTCOME_CREATED);
    check_consistent(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dedup_same_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_burst_joins_one_timeline_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup_within_one_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup_explicit_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup_scoped_per_integration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_then_trigger_opens_new, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_key_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grouping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_window_boundary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_window_repeat_does_not_extend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto_resolve_same_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_severity_raises_priority, setup, teardown),
        cmocka_unit_test_setup_teardown(test_priority_from_service_and_route, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeat_with_higher_severity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_from_sender, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incident_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incident_commands_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incident_ack_then_alert_resolves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry_postponed_by_refresh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry_order_and_default_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_am_resolve_by_sender, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_late_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_retry_memory_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_rebuilds_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_in_two_incidents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hand_resolve_closes_other_incident, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_batch_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_batch_creating_incident, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
