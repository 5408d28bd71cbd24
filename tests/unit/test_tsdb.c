/*
 * test_tsdb.c - the time-series engine through its public API: round trips,
 * matchers (missing labels, regular expressions), the order and duplicate
 * rules, label checks, series limits, listings and a concurrency smoke test.
 * Durability (log, kill -9) is in test_tsdb_wal.c, blocks and rollups in
 * test_tsdb_blocks.c, the postings index at scale in test_tsdb_index.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_tsdb_util.h"

#include <pthread.h>
#include <time.h>

struct fix {
    char dir[64];
    struct tsdb *db;
};

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));
    tdir_make(f->dir, sizeof(f->dir));
    f->db = db_open(f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    tsdb_close(f->db);
    tdir_remove(f->dir);
    free(f);
    return 0;
}

static void test_round_trip(void **state)
{
    struct fix *f = *state;
    struct tsdb_appender *a = tsdb_appender_new(f->db, "test");
    struct tsdb_series *s;
    struct tsdb_stats st;

    for (int i = 0; i < 10; i++)
        add_ok(a, "up", T0 + i * SEC, i * 1.5, "job", "a", NULL);
    add_ok(a, "up", T0, 5, "job", "b", "instance", "x:1", NULL);
    assert_int_equal(tsdb_appender_count(a), 11);
    commit_ok(a);

    size_t n = sel(f->db, "up", T0, T0 + 100 * SEC, &s);
    assert_int_equal(n, 2);
    /* Sorted by label set: __name__ first, then instance < job. */
    assert_string_equal(labels_get(&s[0].ls, "job"), "b");
    assert_string_equal(labels_get(&s[0].ls, "instance"), "x:1");
    assert_string_equal(labels_get(&s[0].ls, "__name__"), "up");
    assert_int_equal(s[0].n, 1);
    assert_int_equal(s[0].t[0], T0);
    assert_true(s[0].v[0] == 5);
    assert_string_equal(labels_get(&s[1].ls, "job"), "a");
    assert_int_equal(s[1].ls.n, 2);
    assert_int_equal(s[1].n, 10);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(s[1].t[i], T0 + i * SEC);
        assert_true(s[1].v[i] == i * 1.5);
    }
    tsdb_series_free(s, n);

    /* Exact range ends. */
    n = sel(f->db, "up", T0 + 2 * SEC, T0 + 4 * SEC, &s);
    assert_int_equal(n, 1);
    assert_int_equal(s[0].n, 3);
    assert_int_equal(s[0].t[0], T0 + 2 * SEC);
    assert_int_equal(s[0].t[2], T0 + 4 * SEC);
    tsdb_series_free(s, n);
    assert_int_equal(sel(f->db, "up", T0 + 10 * SEC, T0 + 20 * SEC, &s), 0);
    assert_null(s);

    tsdb_stats(f->db, &st);
    assert_int_equal(st.series, 2);
    assert_int_equal(st.samples_appended, 11);
    assert_int_equal(st.head_samples, 11);
    assert_int_equal(st.samples_rejected, 0);
    assert_int_equal(st.min_time, T0);
    assert_int_equal(st.max_time, T0 + 9 * SEC);
    assert_true(st.wal_bytes > 0);
    assert_true(st.memory_bytes > 0);
}

/* Many samples per series: chunks get sealed and the open one continues. */
static void test_many_chunks(void **state)
{
    struct fix *f = *state;
    struct tsdb_series *s;
    const int n = 2000;
    for (int b = 0; b < n; b += 500) {
        struct tsdb_appender *a = tsdb_appender_new(f->db, "test");
        for (int i = b; i < b + 500; i++)
            add_ok(a, "cpu", T0 + i * 15 * SEC, (double)i / 3, "core", "0", NULL);
        commit_ok(a);
    }
    assert_int_equal(sel(f->db, "cpu", T0, T0 + n * 15 * SEC, &s), 1);
    assert_int_equal(s[0].n, n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(s[0].t[i], T0 + i * 15 * SEC);
        assert_true(s[0].v[i] == (double)i / 3);
    }
    tsdb_series_free(s, 1);
    /* A window inside the sealed chunks. */
    assert_int_equal(sel(f->db, "cpu", T0 + 300 * 15 * SEC, T0 + 1299 * 15 * SEC, &s), 1);
    assert_int_equal(s[0].n, 1000);
    assert_int_equal(s[0].t[0], T0 + 300 * 15 * SEC);
    tsdb_series_free(s, 1);
}

static size_t select_m(struct tsdb *db, struct matcher *m, size_t nm, char want[][32])
{
    struct tsdb_series *s;
    size_t n;
    char err[256] = "";
    assert_int_equal(tsdb_select(db, m, nm, T0, T0 + HOUR, 0, &s, &n, err, sizeof(err)), 0);
    for (size_t i = 0; i < n; i++) {
        const char *name = labels_get(&s[i].ls, "__name__");
        const char *job = labels_get(&s[i].ls, "job");
        snprintf(want[i], 32, "%s/%s", name, job ? job : "-");
    }
    tsdb_series_free(s, n);
    for (size_t i = 0; i < nm; i++)
        matcher_free(&m[i]);
    return n;
}

static void test_matchers(void **state)
{
    struct fix *f = *state;
    struct tsdb_appender *a = tsdb_appender_new(f->db, "test");
    struct matcher m[3];
    char got[16][32];

    add_ok(a, "m", T0, 1, "job", "a", "env", "prod", NULL);
    add_ok(a, "m", T0, 2, "job", "b", NULL);
    add_ok(a, "m", T0, 3, "job", "c", "env", "dev", NULL);
    add_ok(a, "other", T0, 4, "job", "a", NULL);
    add_ok(a, "m", T0, 5, "env", "prod", NULL);
    commit_ok(a);

    mk(&m[0], "job", MATCH_EQ, "a");
    assert_int_equal(select_m(f->db, m, 1, got), 2);
    assert_string_equal(got[0], "m/a");
    assert_string_equal(got[1], "other/a");

    /* A missing label matches "". */
    mk(&m[0], "__name__", MATCH_EQ, "m");
    mk(&m[1], "env", MATCH_EQ, "");
    assert_int_equal(select_m(f->db, m, 2, got), 1);
    assert_string_equal(got[0], "m/b");

    /* Sorted as Prometheus sorts label sets: pair by pair, so env="dev"
     * (a pair named "env") comes before job="b" (a pair named "job"). */
    mk(&m[0], "__name__", MATCH_EQ, "m");
    mk(&m[1], "env", MATCH_NEQ, "prod");
    assert_int_equal(select_m(f->db, m, 2, got), 2);
    assert_string_equal(got[0], "m/c");
    assert_string_equal(got[1], "m/b");

    mk(&m[0], "__name__", MATCH_EQ, "m");
    mk(&m[1], "env", MATCH_RE, "p.*");
    assert_int_equal(select_m(f->db, m, 2, got), 2);
    assert_string_equal(got[0], "m/-");
    assert_string_equal(got[1], "m/a");

    mk(&m[0], "__name__", MATCH_EQ, "m");
    mk(&m[1], "env", MATCH_NRE, "p.*");
    assert_int_equal(select_m(f->db, m, 2, got), 2);
    assert_string_equal(got[0], "m/c");
    assert_string_equal(got[1], "m/b");

    /* A regular expression that matches "" also takes series without the label. */
    mk(&m[0], "__name__", MATCH_EQ, "m");
    mk(&m[1], "env", MATCH_RE, "prod|");
    assert_int_equal(select_m(f->db, m, 2, got), 3);
    assert_string_equal(got[0], "m/-");
    assert_string_equal(got[1], "m/a");
    assert_string_equal(got[2], "m/b");

    /* Anchored: "pro" does not match "prod". */
    mk(&m[0], "env", MATCH_RE, "pro");
    assert_int_equal(select_m(f->db, m, 1, got), 0);

    mk(&m[0], "__name__", MATCH_RE, "m|other");
    mk(&m[1], "job", MATCH_EQ, "a");
    assert_int_equal(select_m(f->db, m, 2, got), 2);

    mk(&m[0], "job", MATCH_RE, "a|c");
    assert_int_equal(select_m(f->db, m, 1, got), 3);
    assert_string_equal(got[0], "m/c");
    assert_string_equal(got[1], "m/a");
    assert_string_equal(got[2], "other/a");

    mk(&m[0], "env", MATCH_NEQ, "");
    assert_int_equal(select_m(f->db, m, 1, got), 3);

    mk(&m[0], "__name__", MATCH_EQ, "m");
    mk(&m[1], "job", MATCH_NRE, "a|b");
    assert_int_equal(select_m(f->db, m, 2, got), 2);
    assert_string_equal(got[0], "m/c");
    assert_string_equal(got[1], "m/-");

    mk(&m[0], "__name__", MATCH_EQ, "m");
    mk(&m[1], "nosuch", MATCH_EQ, "");
    assert_int_equal(select_m(f->db, m, 2, got), 4);
    mk(&m[0], "nosuch", MATCH_EQ, "v");
    assert_int_equal(select_m(f->db, m, 1, got), 0);
    mk(&m[0], "job", MATCH_EQ, "zzz");
    assert_int_equal(select_m(f->db, m, 1, got), 0);

    /* Three matchers, one of each kind. */
    mk(&m[0], "__name__", MATCH_RE, ".*");
    mk(&m[1], "job", MATCH_NEQ, "b");
    mk(&m[2], "env", MATCH_RE, "prod|dev|");
    assert_int_equal(select_m(f->db, m, 3, got), 4);
}

static void test_order_and_duplicates(void **state)
{
    struct fix *f = *state;
    struct tsdb_appender *a = tsdb_appender_new(f->db, "test");
    struct tsdb_series *s;
    struct tsdb_stats st;
    char err[512];

    assert_int_equal(add(a, "x", T0 + 1000, 1, NULL), TSDB_OK);
    /* Within the batch: the same sample again is ignored, a different value refused. */
    assert_int_equal(add(a, "x", T0 + 1000, 1, NULL), TSDB_OK);
    assert_int_equal(tsdb_appender_count(a), 1);
    assert_int_equal(add(a, "x", T0 + 1000, 2, NULL), TSDB_EDUP);
    assert_int_equal(add(a, "x", T0 + 500, 1, NULL), TSDB_EOOO);
    commit_ok(a);

    a = tsdb_appender_new(f->db, "test");
    assert_int_equal(add(a, "x", T0 + 1000, 1, NULL), TSDB_OK);
    assert_int_equal(tsdb_appender_count(a), 0);
    struct tsdb_label l[] = {{"__name__", "x"}};
    assert_int_equal(tsdb_append(a, l, 1, T0 + 1000, 3, err, sizeof(err)), TSDB_EDUP);
    assert_non_null(strstr(err, "x{}"));
    assert_non_null(strstr(err, "same timestamp"));
    assert_int_equal(tsdb_append(a, l, 1, T0 + 999, 3, err, sizeof(err)), TSDB_EOOO);
    assert_non_null(strstr(err, "older than the newest"));
    assert_int_equal(add(a, "x", T0 + 2000, 2, NULL), TSDB_OK);
    commit_ok(a);

    /* NaN: the same bits are the same value (staleness markers repeat). */
    a = tsdb_appender_new(f->db, "test");
    double nan1 = tsdb_bitsd(0x7ff0000000000002ULL);
    assert_int_equal(add(a, "x", T0 + 3000, nan1, NULL), TSDB_OK);
    commit_ok(a);
    a = tsdb_appender_new(f->db, "test");
    assert_int_equal(add(a, "x", T0 + 3000, nan1, NULL), TSDB_OK);
    assert_int_equal(add(a, "x", T0 + 3000, 0.0, NULL), TSDB_EDUP);
    tsdb_rollback(a);

    assert_int_equal(sel(f->db, "x", T0, T0 + 5000, &s), 1);
    assert_int_equal(s[0].n, 3);
    assert_int_equal(s[0].t[0], T0 + 1000);
    assert_true(s[0].v[0] == 1);
    assert_int_equal(s[0].t[1], T0 + 2000);
    assert_int_equal(tsdb_dbits(s[0].v[2]), 0x7ff0000000000002ULL);
    tsdb_series_free(s, 1);
    tsdb_stats(f->db, &st);
    assert_int_equal(st.samples_rejected, 5);
    assert_int_equal(st.samples_appended, 3);

    /* A rolled-back batch leaves nothing. */
    a = tsdb_appender_new(f->db, "test");
    add_ok(a, "x", T0 + 9000, 9, NULL);
    add_ok(a, "fresh", T0, 9, NULL);
    tsdb_rollback(a);
    assert_int_equal(sel(f->db, "x", T0 + 4000, T0 + 10000, &s), 0);
    assert_int_equal(sel(f->db, "fresh", T0, T0 + 10000, &s), 0);
}

static void test_label_checks(void **state)
{
    struct fix *f = *state;
    struct tsdb_appender *a = tsdb_appender_new(f->db, "test");
    struct tsdb_series *s;
    char err[512];
    char big[LABELS_MAX_VALUE + 2];

    struct tsdb_label noname[] = {{"job", "a"}};
    assert_int_equal(tsdb_append(a, noname, 1, T0, 1, err, sizeof(err)), TSDB_EINVAL);
    assert_non_null(strstr(err, "__name__"));
    assert_int_equal(add(a, "1abc", T0, 1, NULL), TSDB_EINVAL);
    assert_int_equal(add(a, "a-b", T0, 1, NULL), TSDB_EINVAL);
    assert_int_equal(add(a, "ns:metric_total", T0, 1, NULL), TSDB_OK);
    assert_int_equal(add(a, "m", T0, 1, "a-b", "x", NULL), TSDB_EINVAL);
    assert_int_equal(add(a, "m", T0, 1, "a:b", "x", NULL), TSDB_EINVAL);
    assert_int_equal(add(a, "m", T0, 1, "0a", "x", NULL), TSDB_EINVAL);
    assert_int_equal(add(a, "m", T0, 1, "_ok9", "x", NULL), TSDB_OK);
    struct tsdb_label dup[] = {{"__name__", "m"}, {"k", "1"}, {"k", "2"}};
    assert_int_equal(tsdb_append(a, dup, 3, T0, 1, err, sizeof(err)), TSDB_EINVAL);
    assert_non_null(strstr(err, "more than once"));
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(add(a, "m", T0, 1, "k", big, NULL), TSDB_EINVAL);
    big[LABELS_MAX_VALUE] = '\0';
    assert_int_equal(add(a, "m", T0, 1, "k", big, NULL), TSDB_OK);
    struct tsdb_label many[LABELS_MAX_PAIRS + 1];
    char names[LABELS_MAX_PAIRS + 1][8];
    many[0] = (struct tsdb_label){"__name__", "m"};
    for (int i = 1; i <= LABELS_MAX_PAIRS; i++) {
        snprintf(names[i], sizeof(names[i]), "l%02d", i);
        many[i] = (struct tsdb_label){names[i], "v"};
    }
    assert_int_equal(tsdb_append(a, many, LABELS_MAX_PAIRS + 1, T0, 1, err, sizeof(err)),
                     TSDB_EINVAL);
    assert_int_equal(tsdb_append(a, many, LABELS_MAX_PAIRS, T0, 1, err, sizeof(err)), TSDB_OK);
    assert_int_equal(add(a, "m", INT64_MAX, 1, NULL), TSDB_EINVAL);
    /* An empty value is the same as no label; labels may come unsorted. */
    assert_int_equal(add(a, "e", T0, 1, "job", "a", "zone", "", NULL), TSDB_OK);
    assert_int_equal(add(a, "e", T0 + 1, 2, "zone", "", "job", "a", NULL), TSDB_OK);
    struct tsdb_label rev[] = {{"z", "1"}, {"job", "a"}, {"__name__", "e"}};
    assert_int_equal(tsdb_append(a, rev, 3, T0 + 2, 3, err, sizeof(err)), TSDB_OK);
    commit_ok(a);
    assert_int_equal(sel(f->db, "e", T0, T0 + 10, &s), 2);
    assert_int_equal(s[0].n, 2);
    assert_int_equal(s[0].ls.n, 2);
    assert_int_equal(s[1].n, 1);
    assert_string_equal(labels_get(&s[1].ls, "z"), "1");
    tsdb_series_free(s, 2);
}

static void test_retention_old(void **state)
{
    (void)state;
    char dir[64], err[512];
    tdir_make(dir, sizeof(dir));
    struct tsdb_options o = {.dir = dir, .retention_ms = 24 * HOUR};
    struct tsdb *db = db_open_opts(&o);
    struct tsdb_appender *a = tsdb_appender_new(db, "test");
    /* Before any maintenance pass the engine knows no "now": all is taken. */
    assert_int_equal(add(a, "old", T0 - 100 * HOUR, 1, NULL), TSDB_OK);
    commit_ok(a);
    maintain_ok(db, T0);
    a = tsdb_appender_new(db, "test");
    struct tsdb_label l[] = {{"__name__", "x"}};
    assert_int_equal(tsdb_append(a, l, 1, T0 - 25 * HOUR, 1, err, sizeof(err)), TSDB_EOLD);
    assert_non_null(strstr(err, "retention"));
    assert_int_equal(add(a, "x", T0 - 23 * HOUR, 1, NULL), TSDB_OK);
    commit_ok(a);
    tsdb_close(db);
    tdir_remove(dir);
}

static void test_limits(void **state)
{
    (void)state;
    char dir[64], err[512];
    tdir_make(dir, sizeof(dir));
    struct tsdb_options o = {.dir = dir, .max_series = 3, .max_series_per_source = 2};
    struct tsdb *db = db_open_opts(&o);
    struct tsdb_stats st;

    struct tsdb_appender *a = tsdb_appender_new(db, "scrape:node");
    assert_int_equal(add(a, "m", T0, 1, "i", "1", NULL), TSDB_OK);
    assert_int_equal(add(a, "m", T0, 1, "i", "2", NULL), TSDB_OK);
    struct tsdb_label l3[] = {{"__name__", "m"}, {"i", "3"}};
    assert_int_equal(tsdb_append(a, l3, 2, T0, 1, err, sizeof(err)), TSDB_ELIMIT);
    assert_non_null(strstr(err, "max_series_per_source"));
    assert_non_null(strstr(err, "scrape:node"));
    assert_non_null(strstr(err, "i=\"3\""));
    /* Existing series still take samples. */
    assert_int_equal(add(a, "m", T0 + 1000, 2, "i", "1", NULL), TSDB_OK);
    commit_ok(a);

    a = tsdb_appender_new(db, "write:admin");
    assert_int_equal(add(a, "w", T0, 1, NULL), TSDB_OK);
    struct tsdb_label l4[] = {{"__name__", "w"}, {"k", "2"}};
    assert_int_equal(tsdb_append(a, l4, 2, T0, 1, err, sizeof(err)), TSDB_ELIMIT);
    assert_non_null(strstr(err, "(max_series)"));
    assert_non_null(strstr(err, "write:admin"));
    assert_int_equal(add(a, "m", T0 + 2000, 3, "i", "2", NULL), TSDB_OK);
    commit_ok(a);
    tsdb_stats(db, &st);
    assert_int_equal(st.series, 3);
    assert_int_equal(st.series_limit_hits, 2);
    assert_int_equal(st.samples_rejected, 2);
    assert_int_equal(st.samples_appended, 5);

    /* Once the head is persisted and the series idle, they leave the head
     * and make room. */
    flush_ok(db);
    tsdb_stats(db, &st);
    assert_int_equal(st.series, 0);
    a = tsdb_appender_new(db, "scrape:node");
    assert_int_equal(add(a, "m", T0 + HOUR, 1, "i", "3", NULL), TSDB_OK);
    commit_ok(a);
    tsdb_close(db);
    tdir_remove(dir);
}

static void test_listings(void **state)
{
    struct fix *f = *state;
    struct tsdb_appender *a = tsdb_appender_new(f->db, "test");
    struct labelset *ls;
    char **v, err[256];
    size_t n;
    struct matcher m;

    add_ok(a, "up", T0, 1, "job", "node", "instance", "a:1", NULL);
    add_ok(a, "up", T0 + HOUR, 1, "job", "node", "instance", "b:1", NULL);
    add_ok(a, "up", T0, 0, "job", "db", NULL);
    add_ok(a, "load", T0 + 2 * HOUR, 0.5, "host", "h1", NULL);
    commit_ok(a);

    assert_int_equal(
        tsdb_label_values(f->db, NULL, NULL, 0, INT64_MIN, INT64_MAX, &v, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 4);
    assert_string_equal(v[0], "__name__");
    assert_string_equal(v[1], "host");
    assert_string_equal(v[2], "instance");
    assert_string_equal(v[3], "job");
    tsdb_strings_free(v, n);

    assert_int_equal(
        tsdb_label_values(f->db, "job", NULL, 0, INT64_MIN, INT64_MAX, &v, &n, err, sizeof(err)),
        0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0], "db");
    assert_string_equal(v[1], "node");
    tsdb_strings_free(v, n);

    /* Time-restricted: only the samples at T0. */
    assert_int_equal(
        tsdb_label_values(f->db, "instance", NULL, 0, T0, T0 + 1, &v, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0], "a:1");
    tsdb_strings_free(v, n);

    mk(&m, "__name__", MATCH_EQ, "load");
    assert_int_equal(
        tsdb_label_values(f->db, NULL, &m, 1, INT64_MIN, INT64_MAX, &v, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0], "__name__");
    assert_string_equal(v[1], "host");
    tsdb_strings_free(v, n);
    assert_int_equal(
        tsdb_label_values(f->db, "nosuch", &m, 1, INT64_MIN, INT64_MAX, &v, &n, err, sizeof(err)),
        0);
    assert_int_equal(n, 0);
    tsdb_strings_free(v, n);
    matcher_free(&m);

    assert_int_equal(
        tsdb_series_labels(f->db, NULL, 0, INT64_MIN, INT64_MAX, 0, &ls, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 4);
    assert_string_equal(labels_get(&ls[0], "__name__"), "load");
    assert_string_equal(labels_get(&ls[1], "instance"), "a:1");
    assert_string_equal(labels_get(&ls[2], "instance"), "b:1");
    assert_string_equal(labels_get(&ls[3], "job"), "db");
    tsdb_labelsets_free(ls, n);

    mk(&m, "job", MATCH_EQ, "node");
    assert_int_equal(
        tsdb_series_labels(f->db, &m, 1, T0 + HOUR, T0 + HOUR, 0, &ls, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_string_equal(labels_get(&ls[0], "instance"), "b:1");
    tsdb_labelsets_free(ls, n);
    assert_int_equal(
        tsdb_series_labels(f->db, &m, 1, INT64_MIN, INT64_MAX, 1, &ls, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_string_equal(labels_get(&ls[0], "instance"), "a:1");
    tsdb_labelsets_free(ls, n);
    matcher_free(&m);
}

static void test_max_samples(void **state)
{
    struct fix *f = *state;
    struct tsdb_appender *a = tsdb_appender_new(f->db, "test");
    struct tsdb_series *s;
    size_t n;
    char err[256];
    struct matcher m;
    for (int i = 0; i < 100; i++)
        add_ok(a, "big", T0 + i * SEC, i, NULL);
    commit_ok(a);
    mk(&m, "__name__", MATCH_EQ, "big");
    assert_int_equal(tsdb_select(f->db, &m, 1, T0, T0 + HOUR, 99, &s, &n, err, sizeof(err)),
                     TSDB_ELIMIT_SAMPLES);
    assert_non_null(strstr(err, "99"));
    assert_int_equal(tsdb_select(f->db, &m, 1, T0, T0 + HOUR, 100, &s, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_int_equal(s[0].n, 100);
    tsdb_series_free(s, n);
    matcher_free(&m);
    assert_string_equal(tsdb_strerror(TSDB_EOOO), "out of order");
    assert_string_equal(tsdb_strerror(TSDB_ELIMIT_SAMPLES), "too many samples");
}

/* Two appending threads and a querying one; counts must be exact. */
struct conc {
    struct tsdb *db;
    int id;
    int *stop; /* atomic */
};

#define CONC_SERIES 100
#define CONC_ROUNDS 60

static void *conc_writer(void *arg)
{
    struct conc *c = arg;
    char inst[16], job[8];
    snprintf(job, sizeof(job), "w%d", c->id);
    for (int r = 0; r < CONC_ROUNDS; r++) {
        struct tsdb_appender *a = tsdb_appender_new(c->db, job);
        for (int i = 0; i < CONC_SERIES; i++) {
            snprintf(inst, sizeof(inst), "i%d", i);
            /* Both writers also hit one shared series; one of them wins each
             * timestamp, the other's sample is dropped, never both. */
            if (add(a, "conc", T0 + r * SEC, r, "job", job, "inst", inst, NULL) != 0 ||
                add(a, "shared", T0 + r * SEC, r, NULL) < TSDB_EOOO)
                abort();
        }
        char err[256];
        if (tsdb_commit(a, err, sizeof(err)) != 0)
            abort();
    }
    return NULL;
}

static void *conc_reader(void *arg)
{
    struct conc *c = arg;
    while (!__atomic_load_n(c->stop, __ATOMIC_ACQUIRE)) {
        struct matcher m;
        struct tsdb_series *s;
        struct labelset *ls;
        char **v, err[256];
        size_t n;
        mk(&m, "__name__", MATCH_EQ, "conc");
        if (tsdb_select(c->db, &m, 1, T0, T0 + HOUR, 0, &s, &n, err, sizeof(err)) != 0)
            abort();
        for (size_t i = 0; i < n; i++)
            for (size_t k = 1; k < s[i].n; k++)
                if (s[i].t[k] <= s[i].t[k - 1])
                    abort();
        tsdb_series_free(s, n);
        if (tsdb_series_labels(c->db, &m, 1, T0, T0 + HOUR, 0, &ls, &n, err, sizeof(err)) != 0)
            abort();
        tsdb_labelsets_free(ls, n);
        if (tsdb_label_values(c->db, "inst", NULL, 0, T0, T0 + HOUR, &v, &n, err, sizeof(err)) != 0)
            abort();
        tsdb_strings_free(v, n);
        matcher_free(&m);
    }
    return NULL;
}

static void test_concurrency(void **state)
{
    struct fix *f = *state;
    int stop = 0;
    struct conc c[3] = {{f->db, 0, &stop}, {f->db, 1, &stop}, {f->db, 2, &stop}};
    pthread_t th[3];
    struct tsdb_series *s;
    pthread_create(&th[2], NULL, conc_reader, &c[2]);
    pthread_create(&th[0], NULL, conc_writer, &c[0]);
    pthread_create(&th[1], NULL, conc_writer, &c[1]);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(th[2], NULL);
    size_t n = sel(f->db, "conc", T0, T0 + HOUR, &s);
    assert_int_equal(n, 2 * CONC_SERIES);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(s[i].n, CONC_ROUNDS);
        for (int r = 0; r < CONC_ROUNDS; r++)
            assert_true(s[i].v[r] == r);
    }
    tsdb_series_free(s, n);
    n = sel(f->db, "shared", T0, T0 + HOUR, &s);
    assert_int_equal(n, 1);
    assert_int_equal(s[0].n, CONC_ROUNDS);
    tsdb_series_free(s, n);
}

/* Appends, queries and maintenance passes (persist, checkpoint, compaction,
 * series GC) all at once, with simulated time advancing with the writers. */
struct mconc {
    struct tsdb *db;
    int id;
    int *round; /* atomic: the first writer's progress */
    int *stop;  /* atomic */
};

#define MC_SERIES 50
#define MC_ROUNDS 240

static void *mc_writer(void *arg)
{
    struct mconc *c = arg;
    char inst[16], job[8];
    snprintf(job, sizeof(job), "w%d", c->id);
    for (int r = 0; r < MC_ROUNDS; r++) {
        struct tsdb_appender *a = tsdb_appender_new(c->db, job);
        for (int i = 0; i < MC_SERIES; i++) {
            snprintf(inst, sizeof(inst), "i%d", i);
            if (add(a, "mc", T0 + r * MIN_MS, r * 100 + i, "job", job, "inst", inst, NULL) != 0)
                abort();
        }
        char err[256];
        if (tsdb_commit(a, err, sizeof(err)) != 0)
            abort();
        if (c->id == 0)
            __atomic_store_n(c->round, r, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void *mc_maint(void *arg)
{
    struct mconc *c = arg;
    char err[512];
    while (!__atomic_load_n(c->stop, __ATOMIC_ACQUIRE)) {
        /* Behind the writers, so no sample of theirs is ever too late. */
        int64_t now = T0 + __atomic_load_n(c->round, __ATOMIC_ACQUIRE) * MIN_MS - 20 * MIN_MS;
        if (tsdb_maintain(c->db, now, err, sizeof(err)) != 0)
            fail_msg("maintain: %s", err);
        struct tsdb_rollup_series *r;
        struct matcher m;
        size_t n;
        mk(&m, "job", MATCH_EQ, "w1");
        if (tsdb_select_rollup(c->db, TSDB_ROLLUP_5M, &m, 1, T0, T0 + 10 * HOUR, 0, &r, &n, err,
                               sizeof(err)) != 0)
            abort();
        tsdb_rollup_series_free(r, n);
        matcher_free(&m);
    }
    return NULL;
}

static void test_concurrent_maintenance(void **state)
{
    (void)state;
    char dir[64];
    tdir_make(dir, sizeof(dir));
    struct tsdb_options o = {.dir = dir, .block_ms = 10 * MIN_MS};
    struct tsdb *db = db_open_opts(&o);
    int stop = 0, round = 0;
    struct mconc c[3] = {{db, 0, &round, &stop}, {db, 1, &round, &stop}, {db, 2, &round, &stop}};
    struct conc rd = {db, 2, &stop};
    pthread_t th[4];
    pthread_create(&th[0], NULL, mc_writer, &c[0]);
    pthread_create(&th[1], NULL, mc_writer, &c[1]);
    pthread_create(&th[2], NULL, mc_maint, &c[2]);
    pthread_create(&th[3], NULL, conc_reader, &rd);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(th[2], NULL);
    pthread_join(th[3], NULL);
    struct tsdb_stats st;
    tsdb_stats(db, &st);
    assert_true(st.blocks > 0);
    for (int pass = 0; pass < 2; pass++) {
        struct tsdb_series *s;
        size_t n = sel(db, "mc", INT64_MIN, INT64_MAX, &s);
        assert_int_equal(n, 2 * MC_SERIES);
        for (size_t k = 0; k < n; k++) {
            int i = atoi(labels_get(&s[k].ls, "inst") + 1);
            if (s[k].n != MC_ROUNDS)
                fail_msg("series %zu: %zu samples, want %d", k, s[k].n, MC_ROUNDS);
            for (int r = 0; r < MC_ROUNDS; r++) {
                assert_int_equal(s[k].t[r], T0 + r * MIN_MS);
                assert_true(s[k].v[r] == r * 100 + i);
            }
        }
        tsdb_series_free(s, n);
        /* Again after a restart: blocks plus the checkpointed log. */
        tsdb_close(db);
        db = db_open_opts(&o);
    }
    tsdb_close(db);
    tdir_remove(dir);
}

/* The background thread starts with the database and stops with it at once. */
static void test_background_thread(void **state)
{
    (void)state;
    char dir[64];
    tdir_make(dir, sizeof(dir));
    struct tsdb_options o = {.dir = dir, .background = true};
    struct tsdb *db = db_open_opts(&o);
    struct tsdb_appender *a = tsdb_appender_new(db, "test");
    add_ok(a, "bg", T0, 1, NULL);
    commit_ok(a);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    tsdb_close(db);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 2);
    db = db_open(dir);
    struct tsdb_series *s;
    assert_int_equal(sel(db, "bg", T0, T0, &s), 1);
    tsdb_series_free(s, 1);
    /* One process (one open database) per directory. */
    struct tsdb *second;
    char err[512] = "";
    struct tsdb_options o2 = {.dir = dir};
    assert_int_equal(tsdb_open(&o2, &second, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "in use"));
    tsdb_close(db);
    tdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_matchers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_and_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_label_checks, setup, teardown),
        cmocka_unit_test(test_retention_old),
        cmocka_unit_test(test_limits),
        cmocka_unit_test_setup_teardown(test_listings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_samples, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrency, setup, teardown),
        cmocka_unit_test(test_concurrent_maintenance),
        cmocka_unit_test(test_background_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
