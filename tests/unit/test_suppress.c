/*
 * test_suppress.c - alerts that are recorded but do not page: downtimes
 * (from the file and the API, one-off and recurring), and problems the check
 * scheduler explains by a failed parent. Drives the engine state directly
 * with simulated time, as test_engine.c does.
 */
#include "config/config.h"
#include "engine/engine_int.h"
#include "store/store.h"
#include "store/store_sqlite_int.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* 2026-11-21T12:00:00Z */
#define T0  1795262400000LL
#define MIN 60000LL

static const char config_yaml[] =
    "hosts:\n"
    "  - {name: sw1, address: 10.0.0.1, check: {type: tcp, port: 22}}\n"
    "  - {name: web1, address: 10.0.0.2, parents: [sw1], labels: {site: berlin}}\n"
    "  - {name: web2, address: 10.0.0.3, parents: [web1], labels: {site: berlin}}\n"
    "  - {name: db1, address: 10.0.0.4, labels: {site: hamburg}}\n"
    "checks:\n"
    "  - {name: disk, hosts: [web1, web2, db1], command: \"/bin/true\"}\n"
    "downtimes:\n"
    "  - name: patch-web1\n"
    "    host: web1\n"
    "    children: true\n"
    "    recurring: {freq: daily, at: \"02:00\", duration: 1h, time_zone: Europe/Berlin}\n";

struct h {
    char dir[64];
    struct config *cfg;
    struct store *store;
    struct engine_state st;
};

static int setup(void **state)
{
    struct cfg_errors errs = {0};
    struct h *h = calloc(1, sizeof(*h));
    char err[512];
    assert_non_null(h);
    log_threshold = LOG_WARN;
    h->cfg = config_load_buffer("suppress.yaml", config_yaml, strlen(config_yaml), &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.msgs[i]);
    cfg_errors_free(&errs);
    assert_non_null(h->cfg);
    snprintf(h->dir, sizeof(h->dir), "/tmp/tocsin-suppress-XXXXXX");
    assert_non_null(mkdtemp(h->dir));
    h->store = store_open_sqlite(h->dir, false, err, sizeof(err));
    assert_non_null(h->store);
    if (engine_state_load(&h->st, h->cfg, h->store, err, sizeof(err)) != 0)
        fail_msg("engine_state_load: %s", err);
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
    snprintf(cmd, sizeof(cmd), "rm -rf %s", h->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", h->dir);
    free(h);
    return 0;
}

static void run(struct h *h, struct engine_cmd *cmd, int64_t now)
{
    assert_int_equal(store_begin(h->store), 0);
    if (cmd) {
        assert_int_equal(engine_apply(&h->st, cmd, now), 0);
    }
    assert_int_equal(engine_tick(&h->st, now), 0);
    assert_int_equal(engine_flush(&h->st), 0);
    assert_int_equal(store_commit(h->store), 0);
}

/* Sends one check event (trigger or resolve) as the scheduler would. */
static void check_event(struct h *h, const char *host, const char *check, bool firing,
                        const char *suppressed, const char *parent, int64_t now)
{
    struct check_report r;
    struct engine_cmd cmd = {.kind = CMD_CHECK_REPORTS, .reports = &r, .n_reports = 1};
    char key[128];
    memset(&r, 0, sizeof(r));
    snprintf(key, sizeof(key), check ? "%s!%s" : "%s", host, check);
    r.has_event = true;
    r.ev.action = firing ? EVENT_TRIGGER : EVENT_RESOLVE;
    r.ev.dedup_key = strdup(key);
    r.ev.summary = strdup(key);
    r.ev.severity = SEV_CRITICAL;
    labels_set(&r.ev.labels, "host", host);
    if (check)
        labels_set(&r.ev.labels, "check", check);
    const struct cfg_host *hc = config_find_host(h->cfg, host);
    const char *site = hc ? labels_get(&hc->labels, "site") : NULL;
    if (site)
        labels_set(&r.ev.labels, "site", site);
    r.ev.suppressed = suppressed ? strdup(suppressed) : NULL;
    r.ev.parent_key = parent ? strdup(parent) : NULL;
    run(h, &cmd, now);
    event_clear(&r.ev);
}

/* Reads one column of the open alert with dedup key; caller frees. */
static char *alert_col(struct h *h, const char *key, const char *col)
{
    char sql[256];
    sqlite3_stmt *st;
    char *out = NULL;
    snprintf(sql, sizeof(sql),
             "SELECT %s FROM alerts WHERE integration='checks' AND dedup_key=? "
             "ORDER BY id DESC LIMIT 1",
             col);
    assert_int_equal(sqlite3_prepare_v2(store_writer_db(h->store), sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        out = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

static long long count(struct h *h, const char *sql)
{
    sqlite3_stmt *st;
    long long n = -1;
    assert_int_equal(sqlite3_prepare_v2(store_writer_db(h->store), sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void expect_col(struct h *h, const char *key, const char *col, const char *want)
{
    char *got = alert_col(h, key, col);
    if (!want) {
        if (got)
            fail_msg("%s.%s: want NULL, got %s", key, col, got);
    } else if (!got || strcmp(got, want) != 0) {
        fail_msg("%s.%s: want %s, got %s", key, col, want, got ? got : "NULL");
    }
    free(got);
}

/* 2026-11-21 is in CET (UTC+1): the daily 02:00 Berlin window is 01:00-02:00Z. */
static void test_recurring_downtime_covers_children(void **state)
{
    struct h *h = *state;
    int64_t in = T0 - 11 * 60 * MIN + 15 * MIN; /* 01:15Z */
    check_event(h, "web2", "disk", true, NULL, NULL, in);
    expect_col(h, "web2!disk", "suppressed", "downtime patch-web1");
    expect_col(h, "web2!disk", "incident_ids", "[]");
    assert_int_equal(count(h, "SELECT count(*) FROM incidents"), 0);
    /* db1 is not below web1: it pages. */
    check_event(h, "db1", "disk", true, NULL, NULL, in);
    expect_col(h, "db1!disk", "suppressed", NULL);
    assert_int_equal(count(h, "SELECT count(*) FROM incidents"), 1);

    /* The window ends at 02:00Z: web2's problem outlived it and pages now. */
    run(h, NULL, in + 44 * MIN);
    expect_col(h, "web2!disk", "suppressed", "downtime patch-web1");
    run(h, NULL, in + 46 * MIN);
    expect_col(h, "web2!disk", "suppressed", NULL);
    /* The default route groups everything: it joins db1's open incident. */
    char *ids = alert_col(h, "web2!disk", "incident_ids");
    char *db = alert_col(h, "db1!disk", "incident_ids");
    assert_non_null(ids);
    assert_non_null(db);
    assert_string_equal(ids, db);
    assert_int_equal(count(h, "SELECT open_alert_count FROM incidents"), 2);
    free(ids);
    free(db);
    assert_int_equal(h->st.n_dt_suppressed, 0);
}

static void test_api_downtime_by_matcher_survives_restart(void **state)
{
    struct h *h = *state;
    char err[256];
    json_t *spec =
        json_pack("{s[s] ss ss ss}", "matchers", "site=\"berlin\"", "start", "2026-11-21T12:00:00Z",
                  "end", "2026-11-21T13:00:00Z", "comment", "switch swap");
    struct engine_cmd add = {.kind = CMD_DOWNTIME_ADD, .downtime = spec, .actor = "token:t"};
    assert_int_equal(engine_downtime_validate(spec, h->cfg, err, sizeof(err)), 0);
    run(h, &add, T0);
    assert_int_equal(add.status, ENGINE_OK);
    assert_true(add.out_id > 0);

    check_event(h, "web1", "disk", true, NULL, NULL, T0 + 10 * MIN);
    expect_col(h, "web1!disk", "suppressed", "downtime downtime-1");

    /* A restart keeps both the downtime and what the alert needs to page
     * once the downtime is over. */
    char lerr[256];
    engine_state_free(&h->st);
    assert_int_equal(engine_state_load(&h->st, h->cfg, h->store, lerr, sizeof(lerr)), 0);
    assert_int_equal(h->st.n_dt_suppressed, 1);
    check_event(h, "web1", "disk", true, NULL, NULL, T0 + 20 * MIN);
    expect_col(h, "web1!disk", "suppressed", "downtime downtime-1");

    /* Deleting it lifts the suppression at the next tick. */
    struct engine_cmd del = {
        .kind = CMD_DOWNTIME_DELETE, .downtime_id = add.out_id, .actor = "token:t"};
    run(h, &del, T0 + 30 * MIN);
    assert_int_equal(del.status, ENGINE_OK);
    run(h, NULL, T0 + 31 * MIN);
    expect_col(h, "web1!disk", "suppressed", NULL);
    assert_int_equal(count(h, "SELECT count(*) FROM incidents WHERE status='triggered'"), 1);

    struct engine_cmd again = {
        .kind = CMD_DOWNTIME_DELETE, .downtime_id = add.out_id, .actor = "token:t"};
    run(h, &again, T0 + 32 * MIN);
    assert_int_equal(again.status, ENGINE_ENOTFOUND);
    json_decref(spec);
}

static void test_downtime_validation(void **state)
{
    struct h *h = *state;
    char err[256];
    json_t *bad[] = {
        json_pack("{ss ss ss}", "host", "nope", "start", "2026-11-21T12:00:00Z", "end",
                  "2026-11-21T13:00:00Z"),
        json_pack("{ss ss ss}", "host", "web1", "start", "2026-11-21T12:00:00Z", "end",
                  "2026-11-21T11:00:00Z"),
        json_pack("{ss s{ss ss ss}}", "host", "web1", "recurring", "freq", "weekly", "at", "02:00",
                  "duration", "1h"),
        json_pack("{ss s{ss ss ss ss}}", "host", "web1", "recurring", "freq", "daily", "at",
                  "25:00", "duration", "1h", "time_zone", "Europe/Berlin"),
        json_pack("{ss s{ss ss ss ss}}", "host", "web1", "recurring", "freq", "daily", "at",
                  "02:00", "duration", "1h", "time_zone", "Mars/Olympus"),
        json_pack("{ss ss ss ss}", "check", "web1!nope", "start", "2026-11-21T12:00:00Z", "end",
                  "2026-11-21T13:00:00Z", "x", "y"),
    };
    const char *field[] = {"host", "end", "recurring.days", "recurring.at", "recurring.time_zone",
                           "x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(engine_downtime_validate(bad[i], h->cfg, err, sizeof(err)), -1);
        if (strncmp(err, field[i], strlen(field[i])) != 0)
            fail_msg("case %zu: want a message about %s, got '%s'", i, field[i], err);
        json_decref(bad[i]);
    }
}

static void test_parent_down_shows_on_parent_incident(void **state)
{
    struct h *h = *state;
    int64_t t = T0;
    check_event(h, "sw1", NULL, true, NULL, NULL, t);
    expect_col(h, "sw1", "suppressed", NULL);
    char *ids = alert_col(h, "sw1", "incident_ids");
    assert_non_null(ids);
    assert_int_equal(count(h, "SELECT count(*) FROM incidents"), 1);

    check_event(h, "web1", "disk", true, "parent sw1 down", "sw1", t + MIN);
    expect_col(h, "web1!disk", "suppressed", "parent sw1 down");
    expect_col(h, "web1!disk", "incident_ids", "[]");
    /* Still one incident; the child is linked to it with a timeline entry,
     * and does not count as one of its open alerts. */
    assert_int_equal(count(h, "SELECT count(*) FROM incidents"), 1);
    /* Links are merged into incident_alerts in bulk (store_commit). */
    assert_int_equal(count(h, "SELECT count(*) FROM (SELECT incident_id, alert_id FROM "
                              "incident_alerts UNION SELECT incident_id, alert_id FROM "
                              "incident_links_new)"),
                     2);
    assert_int_equal(count(h, "SELECT count(*) FROM timeline WHERE kind='alert_suppressed'"), 1);
    assert_int_equal(count(h, "SELECT open_alert_count FROM incidents"), 1);

    /* The parent recovers: its incident resolves even though the child is
     * still open. */
    check_event(h, "sw1", NULL, false, NULL, NULL, t + 2 * MIN);
    assert_int_equal(count(h, "SELECT count(*) FROM incidents WHERE status='resolved'"), 1);

    /* The child is still down on its own: the scheduler says so without the
     * reason, and it pages with an incident of its own. */
    check_event(h, "web1", "disk", true, NULL, NULL, t + 3 * MIN);
    expect_col(h, "web1!disk", "suppressed", NULL);
    assert_int_equal(count(h, "SELECT count(*) FROM incidents WHERE status='triggered'"), 1);
    free(ids);
}

static void test_paging_alert_is_not_silenced_later(void **state)
{
    struct h *h = *state;
    /* Already paged: a later suppressed trigger (parent went down after)
     * does not take the page back, as Icinga does not. */
    check_event(h, "db1", "disk", true, NULL, NULL, T0);
    check_event(h, "db1", "disk", true, "flapping", NULL, T0 + MIN);
    expect_col(h, "db1!disk", "suppressed", NULL);
    assert_int_equal(count(h, "SELECT count(*) FROM incidents WHERE status='triggered'"), 1);
}

static void test_history_marks_downtime(void **state)
{
    struct h *h = *state;
    struct labelset ls = {0};
    struct check_report r;
    struct engine_cmd cmd = {.kind = CMD_CHECK_REPORTS, .reports = &r, .n_reports = 1};
    labels_set(&ls, "host", "web1");
    labels_set(&ls, "check", "disk");
    memset(&r, 0, sizeof(r));
    r.has_row = true;
    r.history = true;
    r.hard_change = true;
    r.labels = &ls;
    r.row.id = "web1!disk";
    r.row.state = 2;
    r.row.state_type = 1;
    r.row.hard_state = 2;
    r.row.attempt = 3;
    r.row.output = "CRITICAL - disk full";
    run(h, &cmd, T0 - 11 * 60 * MIN + 5 * MIN); /* 01:05Z: in patch-web1 */
    run(h, &cmd, T0);                           /* noon: not */
    assert_int_equal(count(h, "SELECT count(*) FROM check_history WHERE in_downtime=1"), 1);
    assert_int_equal(count(h, "SELECT count(*) FROM check_history WHERE in_downtime=0"), 1);
    assert_int_equal(count(h, "SELECT count(*) FROM check_state"), 1);
    labels_free(&ls);
}

static void test_ack_expires(void **state)
{
    struct h *h = *state;
    char err[256];
    check_event(h, "db1", "disk", true, NULL, NULL, T0);
    long long id = count(h, "SELECT id FROM incidents");
    struct engine_cmd ack = {.kind = CMD_INCIDENT_ACK,
                             .incident_id = id,
                             .actor = "token:anna",
                             .ack_until = T0 + 10 * MIN};
    run(h, &ack, T0 + MIN);
    assert_int_equal(ack.status, ENGINE_OK);
    assert_int_equal(count(h, "SELECT count(*) FROM incidents WHERE status='acknowledged'"), 1);

    /* The expiry survives a restart. */
    engine_state_free(&h->st);
    assert_int_equal(engine_state_load(&h->st, h->cfg, h->store, err, sizeof(err)), 0);
    assert_int_equal(h->st.ack_next_expiry, T0 + 10 * MIN);
    assert_int_equal(engine_next_due(&h->st, T0 + 10 * MIN), 0);

    run(h, NULL, T0 + 9 * MIN);
    assert_int_equal(count(h, "SELECT count(*) FROM incidents WHERE status='acknowledged'"), 1);
    run(h, NULL, T0 + 10 * MIN);
    assert_int_equal(count(h, "SELECT count(*) FROM incidents WHERE status='triggered' AND "
                              "acknowledged_by IS NULL AND ack_expires_at IS NULL"),
                     1);
    assert_int_equal(count(h, "SELECT count(*) FROM timeline WHERE kind='acknowledgement_expired'"),
                     1);
    assert_int_equal(h->st.ack_next_expiry, 0);

    /* Acknowledged for good: nothing runs out. */
    struct engine_cmd ack2 = {.kind = CMD_INCIDENT_ACK, .incident_id = id, .actor = "token:ben"};
    run(h, &ack2, T0 + 11 * MIN);
    run(h, NULL, T0 + 600 * MIN);
    assert_int_equal(count(h, "SELECT count(*) FROM incidents WHERE status='acknowledged'"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_recurring_downtime_covers_children, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_downtime_by_matcher_survives_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_downtime_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parent_down_shows_on_parent_incident, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paging_alert_is_not_silenced_later, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_marks_downtime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_expires, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
