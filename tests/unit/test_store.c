/*
 * test_store.c - unit tests for the SQLite backend's schema migrations and
 * the alert rows it writes.
 *
 * A database is built as an older tocsin left it (migrations up to version
 * 4, alerts written with that version's columns), then opened by the current
 * store: what the alerts said must read the same through the new layout, and
 * new writes must land in it.
 */
#include "store/store.h"
#include "store/store_sqlite_int.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct h {
    char dir[64];
};

static int setup(void **state)
{
    struct h *h = calloc(1, sizeof(*h));
    assert_non_null(h);
    snprintf(h->dir, sizeof(h->dir), "/tmp/tocsin-store-XXXXXX");
    assert_non_null(mkdtemp(h->dir));
    *state = h;
    return 0;
}

static int teardown(void **state)
{
    struct h *h = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", h->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", h->dir);
    free(h);
    return 0;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
}

/* The first column of the first row of sql, as text ("" for NULL); caller frees. */
static char *one(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    char *out = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        out = strdup(t ? (const char *)t : "");
    }
    sqlite3_finalize(st);
    assert_non_null(out);
    return out;
}

static void expect_one(sqlite3 *db, const char *sql, const char *want)
{
    char *got = one(db, sql);
    if (strcmp(got, want) != 0)
        fail_msg("%s: got '%s', want '%s'", sql, got, want);
    free(got);
}

static void test_version4_alerts_survive_migration(void **state)
{
    struct h *h = *state;
    char path[128], err[256];
    sqlite3 *db;
    int version = 0;

    snprintf(path, sizeof(path), "%s/tocsin.db", h->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (store_sqlite_migrate(db, 4, &version, err, sizeof(err)) != 0)
        fail_msg("migrate to 4: %s", err);
    assert_int_equal(version, 4);
    exec_ok(db, "INSERT INTO alerts(id, integration, dedup_key, status, severity, summary, "
                "source, labels, details, links, incident_ids, first_seen, last_seen, count, "
                "starts_at, ends_at, resolved_at, resolved_by) VALUES "
                "(1, 'am', 'k1', 'firing', 3, 'disk full', 'web1', '{\"a\":\"1\"}', "
                "'{\"x\":1}', NULL, '[1]', 1000, 5000, 7, 900, 65000, NULL, NULL), "
                "(2, 'am', 'k2', 'resolved', 1, 'cpu', NULL, '{\"a\":\"2\"}', NULL, NULL, "
                "'[1]', 2000, 3000, 2, NULL, NULL, 4000, 'am')");
    exec_ok(db, "INSERT INTO incidents(id, title, route, group_key, status, severity, priority, "
                "urgency, impact, created_at, updated_at, last_alert_at, alert_count, "
                "open_alert_count) VALUES (1, 'disk', 'root', 'g', 'triggered', 3, 1, 1, 1, "
                "1000, 1000, 2000, 2, 1);"
                "INSERT INTO incident_alerts VALUES (1, 1, 1000), (1, 2, 2000);"
                "INSERT INTO timeline(id, incident_id, at, kind, actor, text) VALUES "
                "(1, 1, 1000, 'alert_joined', 'am', 'first'), "
                "(2, 1, 2000, 'alert_joined', 'am', 'second');");
    sqlite3_close(db);

    struct store *s = store_open_sqlite(h->dir, false, err, sizeof(err));
    if (!s)
        fail_msg("open: %s", err);
    db = store_writer_db(s);
    expect_one(db, "SELECT count(*) FROM alerts", "2");
    expect_one(db,
               "SELECT severity || ' ' || last_seen || ' ' || count || ' ' || ends_at || ' ' || "
               "summary || ' ' || labels || ' ' || first_seen || ' ' || starts_at "
               "FROM alerts WHERE id = 1",
               "3 5000 7 65000 disk full {\"a\":\"1\"} 1000 900");
    expect_one(db,
               "SELECT status || ' ' || severity || ' ' || count || ' ' || "
               "coalesce(ends_at, 'none') || ' ' || resolved_by FROM alerts WHERE id = 2",
               "resolved 1 2 none am");
    /* The columns a repeat rewrites live only in the narrow table. */
    expect_one(db,
               "SELECT count(*) FROM pragma_table_info('alert_rows') "
               "WHERE name IN ('severity', 'last_seen', 'count', 'ends_at')",
               "0");

    /* A repeat moves only the narrow row; a changed content also the wide one. */
    assert_int_equal(store_begin(s), 0);
    struct store_alert touch = {.id = 1, .severity = 2, .last_seen = 6000, .count = 8};
    assert_int_equal(store_alert_touch(s, &touch, false), 0);
    assert_int_equal(store_commit(s), 0);
    expect_one(db,
               "SELECT severity || ' ' || last_seen || ' ' || count || ' ' || "
               "coalesce(ends_at, 'none') || ' ' || summary FROM alerts WHERE id = 1",
               "2 6000 8 none disk full");
    struct labelset labels = {0};
    assert_int_equal(labels_set(&labels, "a", "changed"), 0);
    assert_int_equal(store_begin(s), 0);
    touch.summary = "disk nearly full";
    touch.labels = &labels;
    touch.count = 9;
    assert_int_equal(store_alert_touch(s, &touch, true), 0);
    assert_int_equal(store_commit(s), 0);
    expect_one(db, "SELECT count || ' ' || summary || ' ' || labels FROM alerts WHERE id = 1",
               "9 disk nearly full {\"a\":\"changed\"}");

    /* A new alert gets both rows. */
    int64_t incs[] = {1};
    struct store_alert a = {
        .integration = "am",
        .dedup_key = "k3",
        .status = "firing",
        .severity = 1,
        .summary = "new",
        .labels = &labels,
        .first_seen = 7000,
        .last_seen = 7000,
        .count = 1,
        .ends_at = 99000,
        .incident_ids = incs,
        .n_incidents = 1,
    };
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_alert_insert(s, &a), 0);
    assert_int_equal(store_commit(s), 0);
    assert_int_equal(a.id, 3);
    expect_one(db,
               "SELECT dedup_key || ' ' || severity || ' ' || count || ' ' || ends_at || ' ' "
               "|| incident_ids FROM alerts WHERE id = 3",
               "k3 1 1 99000 [1]");
    labels_free(&labels);
    /* The incident reads the same: its alerts and timeline from before. */
    struct store_reader *r = store_reader_acquire(s);
    assert_non_null(r);
    json_t *inc = store_incident_get(r, 1);
    assert_non_null(inc);
    assert_int_equal(json_array_size(json_object_get(inc, "alerts")), 2);
    json_t *tl = json_object_get(inc, "timeline");
    assert_int_equal(json_array_size(tl), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(tl, 1), "text")),
                        "second");
    json_decref(inc);
    store_reader_release(s, r);
    expect_one(db, "PRAGMA integrity_check", "ok");
    store_close(s);
}

/* Links and timeline entries read the same before and after store_commit
 * merges them into the ordered tables, and across several merges. */
static void test_incident_lists_across_merges(void **state)
{
    struct h *h = *state;
    char err[256];
    const int n = 2 * STORE_MERGE_ROWS + 100;
    struct store *s = store_open_sqlite(h->dir, false, err, sizeof(err));
    if (!s)
        fail_msg("open: %s", err);
    int64_t inc_ids[2];
    assert_int_equal(store_begin(s), 0);
    for (int k = 0; k < 2; k++) {
        struct store_incident si = {.title = "t",
                                    .route = "root",
                                    .group_key = k ? "b" : "a",
                                    .status = "triggered",
                                    .severity = 1,
                                    .priority = 3,
                                    .urgency = 2,
                                    .impact = 2,
                                    .created_at = 1,
                                    .updated_at = 1,
                                    .last_alert_at = 1};
        assert_int_equal(store_incident_insert(s, &si), 0);
        inc_ids[k] = si.id;
    }
    assert_int_equal(store_commit(s), 0);
    struct labelset ls = {0};
    /* Small batches, as the engine commits them; every third alert goes to
     * the second incident. */
    for (int i = 0; i < n; i += 50) {
        assert_int_equal(store_begin(s), 0);
        for (int j = i; j < i + 50 && j < n; j++) {
            char key[32];
            snprintf(key, sizeof(key), "k%d", j);
            int64_t inc = inc_ids[j % 3 == 0];
            struct store_alert a = {.integration = "am",
                                    .dedup_key = key,
                                    .status = "firing",
                                    .labels = &ls,
                                    .first_seen = j,
                                    .last_seen = j,
                                    .count = 1,
                                    .incident_ids = &inc,
                                    .n_incidents = 1};
            assert_int_equal(store_alert_insert(s, &a), 0);
            assert_int_equal(store_incident_link_alert(s, inc, a.id, j), 0);
            /* A link written twice (a re-join) is listed once. */
            if (j % 1000 == 7)
                assert_int_equal(store_incident_link_alert(s, inc, a.id, j), 0);
            assert_true(store_timeline_add(s, inc, j, "alert_joined", "am", key, NULL) > 0);
        }
        assert_int_equal(store_commit(s), 0);
    }
    /* Some of it was merged, some is still in the tail. */
    sqlite3 *db = store_writer_db(s);
    char *tail = one(db, "SELECT count(*) FROM incident_links_new");
    assert_true(atoi(tail) > 0 && atoi(tail) < n);
    free(tail);

    struct store_reader *r = store_reader_acquire(s);
    assert_non_null(r);
    for (int k = 0; k < 2; k++) {
        int want = 0;
        for (int j = 0; j < n; j++)
            want += (j % 3 == 0) == (k == 1);
        json_t *inc = store_incident_get(r, inc_ids[k]);
        assert_non_null(inc);
        json_t *alerts = json_object_get(inc, "alerts");
        json_t *tl = json_object_get(inc, "timeline");
        /* The first 1000 alerts, in order, each once. */
        assert_int_equal(json_array_size(alerts), want < 1000 ? want : 1000);
        assert_int_equal(json_array_size(tl), want);
        for (size_t i = 1; i < json_array_size(alerts); i++)
            assert_true(json_integer_value(json_object_get(json_array_get(alerts, i), "id")) >
                        json_integer_value(json_object_get(json_array_get(alerts, i - 1), "id")));
        for (size_t i = 1; i < json_array_size(tl); i++)
            assert_true(json_integer_value(json_object_get(json_array_get(tl, i), "id")) >
                        json_integer_value(json_object_get(json_array_get(tl, i - 1), "id")));
        json_decref(inc);
    }
    store_reader_release(s, r);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_version4_alerts_survive_migration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incident_lists_across_merges, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
