/*
 * test_tsdb_blocks.c - blocks and rollups: maintenance persists the head
 * into blocks that survive a reopen, a backfill of old data is accepted and
 * flushed, compaction merges blocks by level and merges overlapping ones
 * (and a crash before the parents are deleted is repaired on open),
 * retention by time and by size, and rollup buckets that are exact for a
 * hand-made counter with a reset, whether computed from the head, from raw
 * block data or read from the rollups stored in blocks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_tsdb_util.h"

#include <dirent.h>
#include <math.h>
#include <fcntl.h>
#include <sys/mman.h>

static void check_series(struct tsdb *db, const char *metric, int64_t start, int64_t step, int n,
                         double base)
{
    struct tsdb_series *s;
    assert_int_equal(sel(db, metric, INT64_MIN, INT64_MAX, &s), 1);
    if ((int)s[0].n != n)
        fail_msg("%s: %zu samples, want %d", metric, s[0].n, n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(s[0].t[i], start + i * step);
        assert_true(s[0].v[i] == base + i);
    }
    tsdb_series_free(s, 1);
}

static void fill(struct tsdb *db, const char *metric, int64_t start, int64_t step, int n,
                 double base)
{
    struct tsdb_appender *a = tsdb_appender_new(db, "test");
    for (int i = 0; i < n; i++) {
        add_ok(a, metric, start + i * step, base + i, "job", "j", NULL);
        if (i % 1000 == 999) {
            commit_ok(a);
            a = tsdb_appender_new(db, "test");
        }
    }
    commit_ok(a);
}

static void test_persist_reopen(void **state)
{
    (void)state;
    char dir[64];
    struct tsdb_stats st;
    tdir_make(dir, sizeof(dir));
    struct tsdb *db = db_open(dir);
    fill(db, "a", T0, 10 * SEC, 1800, 0);    /* 5 h */
    fill(db, "idle", T0, 60 * SEC, 50, 100); /* 50 min, then nothing */
    maintain_ok(db, T0 + 5 * HOUR);          /* persists [0, 4 h) */
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 2);
    assert_int_equal(st.head_samples, 360); /* [4 h, 5 h) of "a" */
    assert_int_equal(st.series, 1);         /* "idle" left the head */
    assert_int_equal(st.min_time, T0);
    assert_int_equal(st.max_time, T0 + 1799 * 10 * SEC);
    check_series(db, "a", T0, 10 * SEC, 1800, 0);
    check_series(db, "idle", T0, 60 * SEC, 50, 100);
    tsdb_close(db);

    db = db_open(dir);
    check_series(db, "a", T0, 10 * SEC, 1800, 0);
    check_series(db, "idle", T0, 60 * SEC, 50, 100);
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 2);
    assert_int_equal(st.head_samples, 360);
    /* Listings see block-only series, with exact time filtering. */
    struct labelset *ls;
    char **v, err[256];
    size_t n;
    assert_int_equal(tsdb_series_labels(db, NULL, 0, T0 + 49 * MIN_MS, T0 + 49 * MIN_MS, 0, &ls, &n,
                                        err, sizeof(err)),
                     0);
    assert_int_equal(n, 2);
    assert_string_equal(labels_get(&ls[0], "__name__"), "a");
    assert_string_equal(labels_get(&ls[1], "__name__"), "idle");
    tsdb_labelsets_free(ls, n);
    assert_int_equal(tsdb_series_labels(db, NULL, 0, T0 + 49 * MIN_MS + 1, T0 + 50 * MIN_MS - 1, 0,
                                        &ls, &n, err, sizeof(err)),
                     0);
    assert_int_equal(n, 1); /* "a" has a sample at 49:10, "idle" none */
    tsdb_labelsets_free(ls, n);
    assert_int_equal(tsdb_label_values(db, "__name__", NULL, 0, T0 + 3 * HOUR, T0 + 4 * HOUR, &v,
                                       &n, err, sizeof(err)),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0], "a");
    tsdb_strings_free(v, n);
    struct tsdb_series *sv;
    assert_int_equal(sel(db, "a", T0 + HOUR, T0, &sv), 0);
    /* "idle" lives only in a block; its newest sample still orders appends. */
    struct tsdb_appender *a = tsdb_appender_new(db, "test");
    assert_int_equal(add(a, "idle", T0 + 40 * MIN_MS, 1, "job", "j", NULL), TSDB_EOOO);
    assert_int_equal(add(a, "idle", T0 + 49 * MIN_MS, 149, "job", "j", NULL), TSDB_OK);
    assert_int_equal(tsdb_appender_count(a), 0);
    assert_int_equal(add(a, "idle", T0 + 49 * MIN_MS, 1, "job", "j", NULL), TSDB_EDUP);
    assert_int_equal(add(a, "idle", T0 + 50 * MIN_MS, 150, "job", "j", NULL), TSDB_OK);
    commit_ok(a);
    check_series(db, "idle", T0, 60 * SEC, 51, 100);
    tsdb_close(db);
    tdir_remove(dir);
}

/* Two days old data into a fresh database, then flush: the benchmark's case. */
static void test_backfill_flush(void **state)
{
    (void)state;
    char dir[64];
    struct tsdb_stats st;
    tdir_make(dir, sizeof(dir));
    struct tsdb_options o = {.dir = dir, .retention_ms = 15 * 24 * HOUR};
    struct tsdb *db = db_open_opts(&o);
    int64_t start = T0 - 48 * HOUR;
    struct tsdb_appender *a = tsdb_appender_new(db, "import");
    char inst[16];
    for (int i = 0; i < 50; i++) {
        snprintf(inst, sizeof(inst), "h%02d", i);
        for (int k = 0; k < 720; k++)
            add_ok(a, "bf", start + k * 10 * SEC, i * 10000 + k, "inst", inst, NULL);
    }
    commit_ok(a);
    flush_ok(db);
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 1);
    assert_int_equal(st.head_samples, 0);
    assert_int_equal(st.series, 0);
    assert_true(st.wal_bytes < 64);
    assert_int_equal(st.min_time, start);
    assert_int_equal(st.max_time, start + 719 * 10 * SEC);
    tsdb_close(db);
    db = db_open_opts(&o);
    struct tsdb_series *s;
    size_t n = sel(db, "bf", INT64_MIN, INT64_MAX, &s);
    assert_int_equal(n, 50);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(s[i].n, 720);
        for (int k = 0; k < 720; k++)
            assert_true(s[i].v[k] == (double)i * 10000 + k);
    }
    tsdb_series_free(s, n);
    tsdb_close(db);
    tdir_remove(dir);
}

static int blocks_in(const char *dir)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/blocks", dir);
    return count_files(path, ".blk");
}

static void test_compaction(void **state)
{
    (void)state;
    char dir[64], cmd[512];
    struct tsdb_stats st;
    tdir_make(dir, sizeof(dir));
    struct tsdb_options o = {.dir = dir, .block_ms = HOUR};
    int64_t tb = tsdb_align_down(T0, 27 * HOUR);
    struct tsdb *db = db_open_opts(&o);
    fill(db, "c", tb, MIN_MS, 600, 0); /* 10 h */
    maintain_ok(db, tb + 2 * HOUR + 31 * MIN_MS);
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 2); /* [0,1h), [1h,2h): their 3 h window is not done */
    maintain_ok(db, tb + 6 * HOUR + 31 * MIN_MS);
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 2); /* [0,3h), [3h,6h) */
    snprintf(cmd, sizeof(cmd), "mkdir %s/saved && cp %s/blocks/*.blk %s/saved/", dir, dir, dir);
    assert_int_equal(system(cmd), 0);

    maintain_ok(db, tb + 10 * HOUR + 31 * MIN_MS);
    /* [0,3h) [3h,6h) [6h,9h) merged into [0,9h); [9h,10h) stays. */
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 2);
    assert_int_equal(blocks_in(dir), 2);
    assert_int_equal(st.head_samples, 0);
    check_series(db, "c", tb, MIN_MS, 600, 0);
    tsdb_close(db);

    /* A crash after the merged block was written but before its parents
     * were deleted: the next open deletes them. */
    snprintf(cmd, sizeof(cmd), "cp %s/saved/*.blk %s/blocks/", dir, dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(blocks_in(dir), 4);
    db = db_open_opts(&o);
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 2);
    assert_int_equal(blocks_in(dir), 2);
    check_series(db, "c", tb, MIN_MS, 600, 0);
    tsdb_close(db);
    tdir_remove(dir);
}

/* Copies a block file under another sequence number: two blocks that
 * overlap completely, as late data makes. */
static void dup_block(const char *dir)
{
    char path[128], cmd[600];
    snprintf(path, sizeof(path), "%s/blocks", dir);
    DIR *d = opendir(path);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strstr(e->d_name, ".blk")) {
            snprintf(cmd, sizeof(cmd), "cp %s/%s %s/copy-%s", path, e->d_name, path, e->d_name);
            assert_int_equal(system(cmd), 0);
            break;
        }
    }
    closedir(d);
}

static void test_late_data_and_overlaps(void **state)
{
    (void)state;
    char dir[64];
    struct tsdb_stats st;
    tdir_make(dir, sizeof(dir));
    struct tsdb_options o = {.dir = dir, .block_ms = HOUR};
    int64_t tb = tsdb_align_down(T0, 27 * HOUR); /* no 3 h window closes */
    struct tsdb *db = db_open_opts(&o);
    fill(db, "a", tb, MIN_MS, 50, 0);
    maintain_ok(db, tb + 2 * HOUR); /* persists [0, 1h) */
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 1);
    /* Late: a new series in the persisted range, and "a" resumes there. */
    fill(db, "late", tb + 10 * MIN_MS, MIN_MS, 10, 500);
    fill(db, "a", tb + 50 * MIN_MS, MIN_MS, 30, 50);
    check_series(db, "late", tb + 10 * MIN_MS, MIN_MS, 10, 500);
    check_series(db, "a", tb, MIN_MS, 80, 0);
    maintain_ok(db, tb + 3 * HOUR); /* persists [0,1h) again and [1h,2h) */
    tsdb_stats(db, &st);
    /* The two [0,1h) blocks overlapped and were merged. */
    assert_int_equal(st.blocks, 2);
    check_series(db, "late", tb + 10 * MIN_MS, MIN_MS, 10, 500);
    check_series(db, "a", tb, MIN_MS, 80, 0);
    tsdb_close(db);

    /* Identical overlapping blocks: queries count each sample once. */
    dup_block(dir);
    db = db_open_opts(&o);
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 3);
    check_series(db, "a", tb, MIN_MS, 80, 0);
    check_series(db, "late", tb + 10 * MIN_MS, MIN_MS, 10, 500);
    maintain_ok(db, tb + 3 * HOUR);
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 2);
    check_series(db, "a", tb, MIN_MS, 80, 0);
    tsdb_close(db);
    tdir_remove(dir);
}

static void test_retention_time(void **state)
{
    (void)state;
    char dir[64];
    struct tsdb_stats st;
    struct tsdb_series *s;
    tdir_make(dir, sizeof(dir));
    struct tsdb_options o = {.dir = dir, .block_ms = HOUR, .retention_ms = 5 * HOUR};
    struct tsdb *db = db_open_opts(&o);
    fill(db, "r", T0, MIN_MS, 600, 0);
    maintain_ok(db, T0 + 10 * HOUR + 31 * MIN_MS);
    tsdb_stats(db, &st);
    /* Blocks ending before 5:31 are gone: [5h,6h) .. [9h,10h) remain; a
     * tenth of the retention is too short a range to compact into. */
    assert_int_equal(st.blocks, 5);
    assert_int_equal(blocks_in(dir), 5);
    assert_int_equal(st.min_time, T0 + 5 * HOUR);
    assert_int_equal(sel(db, "r", INT64_MIN, INT64_MAX, &s), 1);
    assert_int_equal(s[0].n, 300);
    assert_int_equal(s[0].t[0], T0 + 5 * HOUR);
    tsdb_series_free(s, 1);
    tsdb_close(db);
    tdir_remove(dir);
}

static void test_retention_size(void **state)
{
    (void)state;
    char dir[64];
    struct tsdb_stats st;
    struct tsdb_series *s;
    tdir_make(dir, sizeof(dir));
    /* A tenth of 20 h is too short to compact into: ten blocks stay. */
    struct tsdb_options o = {.dir = dir, .block_ms = HOUR, .retention_ms = 20 * HOUR};
    struct tsdb *db = db_open_opts(&o);
    char inst[16];
    for (int i = 0; i < 20; i++) {
        snprintf(inst, sizeof(inst), "%d", i);
        struct tsdb_appender *a = tsdb_appender_new(db, "t");
        for (int k = 0; k < 600; k++)
            add_ok(a, "z", T0 + k * MIN_MS, k * 1.37 + i, "inst", inst, NULL);
        commit_ok(a);
    }
    maintain_ok(db, T0 + 10 * HOUR + 31 * MIN_MS);
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 10);
    uint64_t total = st.disk_bytes;
    tsdb_close(db);
    /* Room for a bit more than half the data. */
    o.retention_bytes = total / 2 + total / 10;
    db = db_open_opts(&o);
    maintain_ok(db, T0 + 10 * HOUR + 32 * MIN_MS);
    tsdb_stats(db, &st);
    assert_true(st.disk_bytes <= o.retention_bytes);
    /* Blocks differ in size with the values they hold, so the count is a range. */
    assert_true(st.blocks >= 4 && st.blocks <= 7);
    /* The newest data stays, the oldest went. */
    size_t n = sel(db, "z", INT64_MIN, INT64_MAX, &s);
    assert_int_equal(n, 20);
    assert_int_equal(s[0].t[s[0].n - 1], T0 + 599 * MIN_MS);
    assert_int_equal(s[0].n, st.blocks * 60);
    tsdb_series_free(s, n);
    tsdb_close(db);
    tdir_remove(dir);
}

/* ---- rollups ---- */

static void expect_bucket(const struct tsdb_bucket *b, int64_t t, double min, double max,
                          double sum, uint32_t count, double last, double inc)
{
    if (b->t != t || b->min != min || b->max != max || b->sum != sum || b->count != count ||
        b->last != last || b->inc != inc)
        fail_msg("bucket t=%lld min=%g max=%g sum=%g count=%u last=%g inc=%g; want t=%lld "
                 "min=%g max=%g sum=%g count=%u last=%g inc=%g",
                 (long long)b->t, b->min, b->max, b->sum, b->count, b->last, b->inc, (long long)t,
                 min, max, sum, count, last, inc);
}

static size_t rollup(struct tsdb *db, const char *metric, int64_t res, int64_t mint, int64_t maxt,
                     struct tsdb_rollup_series **out)
{
    struct matcher m;
    size_t n;
    char err[256] = "";
    mk(&m, "__name__", MATCH_EQ, metric);
    int rc = tsdb_select_rollup(db, res, &m, 1, mint, maxt, 0, out, &n, err, sizeof(err));
    matcher_free(&m);
    if (rc != 0)
        fail_msg("select_rollup: %s", err);
    return n;
}

static void check_handmade(struct tsdb *db)
{
    struct tsdb_rollup_series *r;
    assert_int_equal(rollup(db, "ctr", TSDB_ROLLUP_5M, T0, T0 + 20 * MIN_MS, &r), 1);
    assert_int_equal(r[0].n, 3);
    assert_string_equal(labels_get(&r[0].ls, "__name__"), "ctr");
    expect_bucket(&r[0].b[0], T0, 10, 30, 60, 3, 30, 20);
    /* 30 -> 35 is 5, 35 -> 5 a reset (counts 5), 5 -> 15 is 10. */
    expect_bucket(&r[0].b[1], T0 + 5 * MIN_MS, 5, 35, 55, 3, 15, 20);
    expect_bucket(&r[0].b[2], T0 + 15 * MIN_MS, 25, 25, 25, 1, 25, 10);
    tsdb_rollup_series_free(r, 1);
    /* Starting later: the sample before the first bucket still counts. */
    assert_int_equal(rollup(db, "ctr", TSDB_ROLLUP_5M, T0 + 1, T0 + 10 * MIN_MS, &r), 1);
    assert_int_equal(r[0].n, 1);
    expect_bucket(&r[0].b[0], T0 + 5 * MIN_MS, 5, 35, 55, 3, 15, 20);
    tsdb_rollup_series_free(r, 1);
    assert_int_equal(rollup(db, "ctr", TSDB_ROLLUP_1H, T0, T0 + 5 * HOUR, &r), 1);
    assert_int_equal(r[0].n, 1);
    expect_bucket(&r[0].b[0], T0, 5, 35, 140, 7, 25, 50);
    tsdb_rollup_series_free(r, 1);
    /* A range with no bucket start in it. */
    assert_int_equal(rollup(db, "ctr", TSDB_ROLLUP_1H, T0 + 1, T0 + 10 * MIN_MS, &r), 0);
}

static void test_rollup_exact(void **state)
{
    (void)state;
    char dir[64], err[256];
    tdir_make(dir, sizeof(dir));
    struct tsdb *db = db_open(dir);
    struct tsdb_appender *a = tsdb_appender_new(db, "test");
    const int64_t ts[] = {0, 60, 120, 300, 400, 500, 900};
    const double vs[] = {10, 20, 30, 35, 5, 15, 25};
    for (int i = 0; i < 7; i++)
        add_ok(a, "ctr", T0 + ts[i] * SEC, vs[i], NULL);
    add_ok(a, "ctr", T0 + 950 * SEC, tsdb_bitsd(0x7ff0000000000002ULL), NULL); /* stale: left out */
    commit_ok(a);
    check_handmade(db); /* from the head */
    maintain_ok(db, T0 + 4 * HOUR);
    struct tsdb_stats st;
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 1);
    assert_int_equal(st.head_samples, 0);
    check_handmade(db); /* from the block's raw samples */
    struct tsdb_rollup_series *r;
    size_t n;
    struct matcher m;
    mk(&m, "__name__", MATCH_EQ, "ctr");
    assert_int_equal(
        tsdb_select_rollup(db, 60000, &m, 1, T0, T0 + HOUR, 0, &r, &n, err, sizeof(err)),
        TSDB_EINVAL);
    assert_int_equal(
        tsdb_select_rollup(db, TSDB_ROLLUP_5M, &m, 1, T0, T0 + HOUR, 2, &r, &n, err, sizeof(err)),
        TSDB_ELIMIT_SAMPLES);
    matcher_free(&m);
    tsdb_close(db);
    tdir_remove(dir);
}

/* The obvious computation over all samples, for comparison. */
static size_t ref_rollup(const int64_t *t, const double *v, size_t n, int64_t res, int64_t t0,
                         int64_t t1, struct tsdb_bucket *out)
{
    bool have = false;
    double prev = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t bt = tsdb_align_down(t[i], res);
        if (bt > t1)
            break;
        double inc = have ? (v[i] >= prev ? v[i] - prev : v[i]) : 0;
        if (bt >= t0) {
            if (k > 0 && out[k - 1].t == bt) {
                struct tsdb_bucket *b = &out[k - 1];
                b->min = v[i] < b->min ? v[i] : b->min;
                b->max = v[i] > b->max ? v[i] : b->max;
                b->sum += v[i];
                b->count++;
                b->last = v[i];
                b->inc += inc;
            } else {
                out[k++] = (struct tsdb_bucket){bt, v[i], v[i], v[i], v[i], inc, 1};
            }
        }
        prev = v[i];
        have = true;
    }
    return k;
}

/* Whether any block under dir stores rollup records. */
static bool blocks_have_rollups(const char *dir)
{
    char path[128], file[512];
    bool any = false;
    snprintf(path, sizeof(path), "%s/blocks", dir);
    DIR *d = opendir(path);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strstr(e->d_name, ".blk"))
            continue;
        snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
        int fd = open(file, O_RDONLY);
        struct stat st;
        fstat(fd, &st);
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        struct block_info info;
        char err[256];
        assert_int_equal(tsdb_block_parse(m, (size_t)st.st_size, true, &info, err, sizeof(err)), 0);
        any |= info.len[BSEC_ROLLUPS] > 0;
        munmap(m, (size_t)st.st_size);
        close(fd);
    }
    closedir(d);
    return any;
}

static void rollup_vs_ref(struct tsdb *db, const int64_t *t, const double *v, size_t n,
                          int64_t mint, int64_t maxt)
{
    static struct tsdb_bucket want[4096];
    const int64_t res[] = {TSDB_ROLLUP_5M, TSDB_ROLLUP_1H};
    for (int ri = 0; ri < 2; ri++) {
        struct tsdb_rollup_series *r;
        int64_t t0 = -tsdb_align_down(-mint, res[ri]), t1 = tsdb_align_down(maxt, res[ri]);
        size_t k = ref_rollup(t, v, n, res[ri], t0, t1, want);
        size_t got = rollup(db, "dense", res[ri], mint, maxt, &r);
        assert_int_equal(got, k > 0);
        if (!got)
            continue;
        if (r[0].n != k)
            fail_msg("res %lld: %zu buckets, want %zu", (long long)res[ri], r[0].n, k);
        for (size_t i = 0; i < k; i++)
            expect_bucket(&r[0].b[i], want[i].t, want[i].min, want[i].max, want[i].sum,
                          want[i].count, want[i].last, want[i].inc);
        tsdb_rollup_series_free(r, 1);
    }
}

/*
 * A counter sampled every second (so blocks of 4 h and more store both
 * resolutions), with resets, some of them right at block boundaries; the
 * rollups must equal the naive computation from the head, from stored
 * rollups plus raw head data, and after a reopen.
 */
static void rollup_stored_case(int64_t block_ms, int64_t hours, int64_t persisted)
{
    char dir[64];
    tdir_make(dir, sizeof(dir));
    struct tsdb_options o = {.dir = dir, .block_ms = block_ms};
    struct tsdb *db = db_open_opts(&o);
    size_t n = (size_t)(hours * 3600);
    int64_t *t = malloc(n * sizeof(*t));
    double *v = malloc(n * sizeof(*v));
    double c = 1000;
    for (size_t i = 0; i < n; i++) {
        t[i] = T0 + (int64_t)i * SEC;
        bool reset = i == 700 || i == 2000 || i == 7200 || i == 12600 || i == 20000;
        c = reset ? 3 : c + (double)(i % 7);
        v[i] = c;
    }
    struct tsdb_appender *a = tsdb_appender_new(db, "test");
    for (size_t i = 0; i < n; i++)
        add_ok(a, "dense", t[i], v[i], NULL);
    commit_ok(a);
    const int64_t ranges[][2] = {{T0, T0 + (hours + 1) * HOUR},
                                 {T0 + HOUR + 7 * MIN_MS, T0 + 3 * HOUR},
                                 {T0 + 2 * HOUR, T0 + 2 * HOUR},
                                 {T0 + 3 * HOUR, T0 + 4 * HOUR},
                                 {T0 + persisted - 5 * MIN_MS, T0 + persisted + 20 * MIN_MS},
                                 {T0 + persisted - MIN_MS, T0 + persisted + MIN_MS},
                                 {T0 - HOUR, T0 + 30 * MIN_MS}};
    const size_t nr = sizeof(ranges) / sizeof(ranges[0]);
    for (size_t k = 0; k < nr; k++)
        rollup_vs_ref(db, t, v, n, ranges[k][0], ranges[k][1]);
    /* Persists everything before T0 + persisted. */
    maintain_ok(db, T0 + persisted + block_ms / 2 + 5 * MIN_MS);
    struct tsdb_stats st;
    tsdb_stats(db, &st);
    assert_int_equal(st.head_samples, (hours * HOUR - persisted) / SEC);
    assert_true(blocks_have_rollups(dir));
    for (size_t k = 0; k < nr; k++)
        rollup_vs_ref(db, t, v, n, ranges[k][0], ranges[k][1]);
    /* The blocks' stored buckets were used, not only raw samples. */
    assert_true(__atomic_load_n(&db->stored_rollup_reads, __ATOMIC_RELAXED) >= 2 * nr - 4);
    tsdb_close(db);
    db = db_open_opts(&o);
    for (size_t k = 0; k < nr; k++)
        rollup_vs_ref(db, t, v, n, ranges[k][0], ranges[k][1]);
    tsdb_close(db);
    free(t);
    free(v);
    tdir_remove(dir);
}

static void test_rollup_stored(void **state)
{
    (void)state;
    /* 4 h blocks start 2 h before T0: [T0+2h, T0+6h) is the second. */
    rollup_stored_case(4 * HOUR, 7, 6 * HOUR);
    /* 4.5 h blocks start 1 h before T0; T0+3.5h splits a 1 h bucket. */
    rollup_stored_case(4 * HOUR + 30 * MIN_MS, 9, 8 * HOUR);
}

/*
 * A block of file version 1 (chunk formats 1 and 2, per-series offsets and
 * chunk metadata), as the previous writer made it: three series, one with
 * two chunks and stored 5 min rollups, one with irregular times and floats,
 * one with a staleness marker. It must read as it did, and merging it with
 * a new block rewrites it as version 2.
 */
/* 1699999200000-1700006399999-1.blk, written by the version 1 writer */
static const char v1_block_name[] = "1699999200000-1700006399999-1.blk";
static const uint8_t v1_block[986] = {
    0x54, 0x4F, 0x43, 0x53, 0x42, 0x4C, 0x4B, 0x31, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x82, 0xB4, 0x10, 0x80, 0xCC, 0xC9, 0xFD, 0xF9, 0x62, 0xD0, 0x0F, 0x03, 0xF1, 0xF4, 0x17, 0xFF,
    0xFE, 0xE0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x82, 0xB4, 0x10, 0xC0, 0xF8, 0xC9, 0xFF, 0xF9, 0x62, 0x88, 0x72, 0x03, 0xF1,
    0xF4, 0x17, 0xFF, 0xFE, 0xE0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF1, 0x25, 0x80, 0xCC, 0xC9, 0xFD, 0xF9, 0x62, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x1D, 0x45, 0x30, 0xAC, 0x60, 0x2B, 0x01, 0x54, 0x25,
    0xA8, 0x3E, 0xFC, 0x48, 0x69, 0x50, 0x00, 0x36, 0x42, 0xDA, 0xF6, 0x98, 0x57, 0xA0, 0x00, 0x2A,
    0x82, 0x28, 0xBC, 0x06, 0x27, 0x78, 0xD7, 0xFE, 0xCA, 0x6E, 0x77, 0xB0, 0xCD, 0xAB, 0x2E, 0xA0,
    0x01, 0x43, 0x65, 0x14, 0xB0, 0xDF, 0xEE, 0x00, 0x00, 0x38, 0x10, 0x28, 0x3E, 0xC6, 0xF2, 0xC7,
    0xAF, 0xFE, 0xB8, 0x45, 0x29, 0x0C, 0xEC, 0xE7, 0x5D, 0x40, 0x04, 0x27, 0x96, 0xDA, 0x9D, 0x59,
    0x21, 0x00, 0x00, 0x50, 0x83, 0x1A, 0xCB, 0x99, 0x73, 0xBB, 0x5F, 0xFF, 0x2C, 0xF4, 0xAF, 0x3D,
    0xAB, 0x27, 0x1A, 0x80, 0x0D, 0xCC, 0x77, 0x94, 0x08, 0x37, 0xA0, 0x00, 0x00, 0x71, 0x5E, 0x6E,
    0x88, 0x9E, 0xA5, 0xEE, 0xBF, 0xFE, 0x8B, 0x80, 0x4D, 0x59, 0x34, 0xC6, 0xD5, 0x00, 0x27, 0x83,
    0x7F, 0x7D, 0x97, 0x8F, 0x72, 0x00, 0x00, 0x88, 0x20, 0xB7, 0xE8, 0x7A, 0x16, 0x0D, 0x7F, 0xF6,
    0x44, 0x3D, 0xCA, 0x15, 0x8D, 0x9F, 0x95, 0x00, 0x36, 0x7D, 0x3C, 0xF2, 0xFE, 0xAD, 0xBC, 0x00,
    0x00, 0x54, 0x2A, 0x02, 0x54, 0x50, 0xAD, 0x3D, 0x7F, 0xED, 0x99, 0xB2, 0x87, 0x58, 0x57, 0xFA,
    0xAA, 0x00, 0xA3, 0x64, 0x8B, 0xBE, 0xC4, 0xE0, 0x30, 0x00, 0x00, 0x3D, 0x08, 0x1C, 0xD1, 0xD5,
    0xDB, 0xBA, 0xFF, 0x97, 0x68, 0x65, 0x7F, 0xFA, 0xD9, 0xDC, 0x54, 0x03, 0x46, 0xA6, 0x8B, 0x4B,
    0xFB, 0xF8, 0xE8, 0x00, 0x00, 0x5E, 0xF9, 0x04, 0xFF, 0xC5, 0x80, 0x95, 0x00, 0x58, 0x56, 0x95,
    0x75, 0x77, 0xDD, 0x6D, 0xAF, 0xFD, 0x76, 0x80, 0x91, 0x7F, 0x73, 0x3A, 0x68, 0x00, 0x02, 0x6C,
    0x37, 0x47, 0x25, 0x82, 0x14, 0x2A, 0x00, 0x73, 0x46, 0x78, 0x96, 0x5E, 0x23, 0x9F, 0x5F, 0xFD,
    0x4F, 0xFD, 0xCD, 0x63, 0x34, 0x5A, 0x30, 0x00, 0x08, 0x1C, 0x25, 0x41, 0xCC, 0x02, 0xF4, 0x54,
    0x00, 0xA3, 0xFD, 0xC3, 0xA7, 0x5C, 0x5B, 0x56, 0xBF, 0xFE, 0x28, 0x5A, 0xE6, 0xDA, 0xC1, 0xB5,
    0x60, 0x00, 0x0D, 0x6D, 0x2C, 0xA4, 0x7B, 0x56, 0x4D, 0x54, 0x00, 0x74, 0x59, 0x6B, 0x90, 0xD6,
    0x83, 0x7E, 0xBF, 0xFE, 0xBD, 0x1E, 0xB4, 0xD5, 0x6E, 0xC0, 0x40, 0x00, 0x26, 0xC5, 0x4B, 0x01,
    0x10, 0x22, 0x28, 0x85, 0x14, 0x80, 0xCC, 0xC9, 0xFD, 0xF9, 0x62, 0x00, 0x01, 0x09, 0x02, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xF0, 0x7F, 0xF8, 0x13, 0x88, 0x1D, 0x80, 0xC0, 0x2F, 0x40, 0xB8, 0x00,
    0x01, 0x53, 0x40, 0x8F, 0x40, 0x0E, 0xCF, 0x01, 0x00, 0xD8, 0x04, 0x53, 0xA4, 0x9D, 0x40, 0x52,
    0xE4, 0x12, 0x00, 0x44, 0xD8, 0x85, 0x1A, 0x41, 0x00, 0x00, 0x00, 0x52, 0x7E, 0x38, 0x52, 0x6A,
    0x38, 0x00, 0x43, 0x94, 0x05, 0x3F, 0x00, 0x00, 0x00, 0x52, 0x38, 0x09, 0x52, 0x02, 0x09, 0x00,
    0x43, 0xE0, 0x3D, 0x08, 0x00, 0x00, 0x00, 0x52, 0x17, 0x1D, 0x52, 0x1D, 0x1D, 0x00, 0x43, 0x2A,
    0x40, 0x1F, 0x00, 0x00, 0x00, 0x52, 0x8C, 0x04, 0x52, 0x81, 0x04, 0x00, 0x43, 0xB0, 0xE1, 0x05,
    0x00, 0x00, 0x00, 0x52, 0x84, 0x0D, 0x52, 0x81, 0x0D, 0x00, 0x43, 0xD0, 0x26, 0x0C, 0x00, 0x00,
    0x00, 0x52, 0x7C, 0x04, 0x52, 0x81, 0x05, 0x00, 0x43, 0x70, 0x63, 0x04, 0x00, 0x00, 0x00, 0x43,
    0x80, 0x83, 0x7C, 0x43, 0x80, 0x86, 0x7C, 0x00, 0x43, 0xB5, 0xE5, 0x7E, 0x00, 0x00, 0x00, 0x52,
    0xC6, 0x01, 0x43, 0x80, 0xC0, 0x01, 0x00, 0x43, 0x58, 0x77, 0x02, 0x00, 0x00, 0x00, 0x52, 0x42,
    0x02, 0x43, 0x80, 0x40, 0x02, 0x00, 0x43, 0xA8, 0x11, 0x06, 0x00, 0x00, 0x00, 0x52, 0xCE, 0x06,
    0x43, 0x80, 0xC0, 0x06, 0x00, 0x43, 0xF8, 0x30, 0x02, 0x00, 0x00, 0x00, 0x52, 0x42, 0x02, 0x43,
    0x80, 0x40, 0x02, 0x00, 0x43, 0xA8, 0x13, 0x0E, 0x00, 0x00, 0x00, 0x52, 0xC6, 0x0F, 0x43, 0x80,
    0xC0, 0x0F, 0x00, 0x43, 0x58, 0xF1, 0x05, 0x00, 0x00, 0x00, 0x52, 0x42, 0x02, 0x43, 0x80, 0x40,
    0x02, 0x00, 0x43, 0xE8, 0x10, 0x02, 0x00, 0x08, 0x5F, 0x5F, 0x6E, 0x61, 0x6D, 0x65, 0x5F, 0x5F,
    0x00, 0x0A, 0x76, 0x31, 0x5F, 0x63, 0x6F, 0x75, 0x6E, 0x74, 0x65, 0x72, 0x00, 0x03, 0x6A, 0x6F,
    0x62, 0x00, 0x01, 0x61, 0x00, 0x08, 0x76, 0x31, 0x5F, 0x67, 0x61, 0x75, 0x67, 0x65, 0x00, 0x04,
    0x7A, 0x6F, 0x6E, 0x65, 0x00, 0x01, 0x7A, 0x00, 0x08, 0x76, 0x31, 0x5F, 0x73, 0x74, 0x61, 0x6C,
    0x65, 0x00, 0x01, 0x62, 0x00, 0x02, 0x00, 0x01, 0x02, 0x03, 0xD7, 0x01, 0x00, 0x02, 0x00, 0x00,
    0xB8, 0x8E, 0x80, 0x01, 0x23, 0x5D, 0x14, 0xB0, 0x7F, 0xE7, 0x07, 0xB8, 0x8E, 0x80, 0x01, 0x23,
    0x08, 0x31, 0xF7, 0x1D, 0x03, 0x00, 0x04, 0x02, 0x03, 0x05, 0x06, 0x00, 0x01, 0x46, 0x00, 0xE0,
    0xFA, 0x20, 0xCD, 0x02, 0xA3, 0x2D, 0xAD, 0xA7, 0x02, 0x00, 0x07, 0x02, 0x08, 0x00, 0x01, 0x93,
    0x03, 0x00, 0xB0, 0xCC, 0x0B, 0x1D, 0xCE, 0x54, 0x11, 0xDD, 0x00, 0x00, 0x00, 0x00, 0x1F, 0x00,
    0x00, 0x00, 0x33, 0x00, 0x00, 0x00, 0x00, 0x33, 0xD9, 0xCF, 0x8B, 0x01, 0x00, 0x00, 0xFF, 0x0F,
    0x47, 0xD0, 0x8B, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xA1, 0x10,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xB0, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xD7, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x97, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3E, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xD5, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x45, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1A, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x26, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x86, 0x83, 0x8C, 0x63, 0x4A, 0xC4,
    0x1F, 0xF2, 0x7C, 0xAA, 0x5B, 0x57, 0xB8, 0x91, 0x17, 0x4B, 0x00, 0x00, 0x00, 0x00, 0xD9, 0x65,
    0x77, 0x5E, 0x54, 0x4F, 0x43, 0x53, 0x42, 0x4C, 0x4B, 0x46};

static void check_v1_series(struct tsdb *db)
{
    struct tsdb_series *s;
    assert_int_equal(sel(db, "v1_counter", INT64_MIN, INT64_MAX, &s), 1);
    assert_int_equal(s[0].n, 4200);
    for (int i = 0; i < 4200; i++) {
        assert_int_equal(s[0].t[i], T0 + i * SEC);
        assert_true(s[0].v[i] == 1000 + 3.0 * i);
    }
    tsdb_series_free(s, 1);
    assert_int_equal(sel(db, "v1_gauge", INT64_MIN, INT64_MAX, &s), 1);
    assert_int_equal(s[0].n, 37);
    for (int i = 0; i < 37; i++) {
        assert_int_equal(s[0].t[i], T0 + i * 15 * SEC + (i % 3) * 7);
        assert_true(s[0].v[i] == sin(i) * 100);
    }
    tsdb_series_free(s, 1);
    assert_int_equal(sel(db, "v1_stale", INT64_MIN, INT64_MAX, &s), 1);
    assert_int_equal(s[0].n, 20);
    for (int i = 0; i < 20; i++) {
        uint64_t b;
        memcpy(&b, &s[0].v[i], 8);
        assert_int_equal(s[0].t[i], T0 + i * 10 * SEC);
        if (i == 9)
            assert_int_equal(b, 0x7ff0000000000002ULL);
        else
            assert_true(s[0].v[i] == i / 10.0);
    }
    tsdb_series_free(s, 1);
}

/*
 * Block version 2 codes each series entry against the one before: 70 series
 * of many shapes in one block (label sets of three kinds, labels changing
 * or not, one and two chunks, irregular times, late starts, 1 s series with
 * stored rollups, single samples), read in order, one by one and after a
 * merge. The value of sample i of series k is shape_v(k, i).
 */
static int64_t shape_t(int k, int i)
{
    int64_t start = (k % 7 == 3) ? 17 * MIN_MS + k * SEC : 0; /* late starts */
    int64_t step = k % 5 == 0 ? SEC : 10 * SEC;
    int64_t jitter = k % 11 == 4 ? (i * 7919) % 900 : 0; /* irregular */
    return T0 + start + i * step + jitter;
}

static double shape_v(int k, int i)
{
    return k % 4 == 1 ? (double)(k * 1000 + i * (k % 9)) : k % 4 == 2 ? sin(i * 0.1 + k) : i / 10.0;
}

static int shape_n(int k)
{
    return k % 13 == 6 ? 1 : k % 5 == 0 ? 5000 : 300 + k;
}

static void shape_check(struct tsdb *db, int k)
{
    char name[32];
    struct tsdb_series *s;
    snprintf(name, sizeof(name), "shape_%d", k);
    assert_int_equal(sel(db, name, INT64_MIN, INT64_MAX, &s), 1);
    if ((int)s[0].n != shape_n(k))
        fail_msg("%s: %zu samples, want %d", name, s[0].n, shape_n(k));
    for (int i = 0; i < shape_n(k); i++) {
        assert_int_equal(s[0].t[i], shape_t(k, i));
        assert_true(s[0].v[i] == shape_v(k, i));
    }
    tsdb_series_free(s, 1);
}

static void test_block_entries(void **state)
{
    (void)state;
    char dir[64], name[32], inst[32];
    tdir_make(dir, sizeof(dir));
    struct tsdb *db = db_open(dir);
    /* An earlier block first, so the one under test is not the first of the list. */
    fill(db, "early", T0 - 2 * HOUR, MIN_MS, 10, 0);
    for (int k = 0; k < 70; k++) {
        struct tsdb_appender *a = tsdb_appender_new(db, "test");
        snprintf(name, sizeof(name), "shape_%d", k);
        snprintf(inst, sizeof(inst), "host-%d", k / 3);
        for (int i = 0; i < shape_n(k); i++) {
            if (k % 3 == 0)
                add_ok(a, name, shape_t(k, i), shape_v(k, i), "instance", inst, "job", "a", NULL);
            else if (k % 3 == 1)
                add_ok(a, name, shape_t(k, i), shape_v(k, i), "instance", inst, NULL);
            else
                add_ok(a, name, shape_t(k, i), shape_v(k, i), "dc", k % 2 ? "x" : "y", "instance",
                       inst, "job", "b", NULL);
        }
        commit_ok(a);
    }
    flush_ok(db);
    struct tsdb_block **bl;
    size_t nb;
    assert_int_equal(tsdb_blocks_acquire(db, &bl, &nb), 0);
    assert_int_equal(nb, 2);
    assert_int_equal(bl[1]->info.version, 2);
    assert_int_equal(bl[1]->info.nseries, 70);
    assert_int_equal(bl[1]->info.nnamesets, 3);
    tsdb_blocks_release(bl, nb);
    for (int k = 69; k >= 0; k--) /* backwards: each entry from its checkpoint */
        shape_check(db, k);
    /* All at once: the entries in order. */
    struct matcher m;
    struct tsdb_series *all;
    size_t n;
    char err[256];
    mk(&m, "__name__", MATCH_RE, "shape_.*");
    assert_int_equal(tsdb_select(db, &m, 1, INT64_MIN, INT64_MAX, 0, &all, &n, err, sizeof(err)),
                     0);
    assert_int_equal(n, 70);
    tsdb_series_free(all, n);
    /* Listings over part of the block read each entry's chunk ranges. */
    struct labelset *ls;
    size_t want = 0;
    for (int k = 0; k < 70; k++)
        want += shape_t(k, 0) <= T0 + 4100 * SEC && shape_t(k, shape_n(k) - 1) >= T0 + 4000 * SEC;
    assert_int_equal(tsdb_series_labels(db, &m, 1, T0 + 4000 * SEC, T0 + 4100 * SEC, 0, &ls, &n,
                                        err, sizeof(err)),
                     0);
    assert_true(want > 10);
    assert_int_equal(n, want);
    tsdb_labelsets_free(ls, n);
    matcher_free(&m);
    tsdb_close(db);

    db = db_open(dir);
    for (int k = 0; k < 70; k++)
        shape_check(db, k);
    fill(db, "late", T0 + 10 * MIN_MS, MIN_MS, 10, 500);
    maintain_ok(db, T0 + 3 * HOUR);
    for (int k = 0; k < 70; k++)
        shape_check(db, k);
    tsdb_close(db);
    tdir_remove(dir);
}

static void test_version1_block(void **state)
{
    (void)state;
    char dir[64], path[256];
    struct tsdb_stats st;
    tdir_make(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/blocks", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/blocks/%s", dir, v1_block_name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(v1_block, 1, sizeof(v1_block), f), sizeof(v1_block));
    assert_int_equal(fclose(f), 0);

    struct tsdb *db = db_open(dir);
    check_v1_series(db);
    /* The counter's stored rollups are read: 14 buckets of 5 min. */
    struct matcher m;
    struct tsdb_rollup_series *rs;
    size_t n;
    char err[256];
    mk(&m, "__name__", MATCH_EQ, "v1_counter");
    assert_int_equal(tsdb_select_rollup(db, TSDB_ROLLUP_5M, &m, 1, T0, T0 + 2 * HOUR - 1, 0, &rs,
                                        &n, err, sizeof(err)),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(rs[0].n, 14);
    assert_int_equal(rs[0].b[0].count, 300);
    assert_true(rs[0].b[13].last == 1000 + 3.0 * 4199);
    tsdb_rollup_series_free(rs, n);
    matcher_free(&m);
    assert_true(db->stored_rollup_reads > 0);

    /* A late series in its range: the overlapping blocks are merged into one of version 2. */
    fill(db, "late", T0 + 10 * MIN_MS, MIN_MS, 10, 500);
    maintain_ok(db, T0 + 3 * HOUR);
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 1);
    check_v1_series(db);
    check_series(db, "late", T0 + 10 * MIN_MS, MIN_MS, 10, 500);
    tsdb_close(db);
    db = db_open(dir);
    struct tsdb_block **bl;
    size_t nb;
    assert_int_equal(tsdb_blocks_acquire(db, &bl, &nb), 0);
    assert_int_equal(nb, 1);
    assert_int_equal(bl[0]->info.version, 2);
    tsdb_blocks_release(bl, nb);
    check_v1_series(db);
    check_series(db, "late", T0 + 10 * MIN_MS, MIN_MS, 10, 500);
    tsdb_close(db);
    tdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_persist_reopen), cmocka_unit_test(test_backfill_flush),
        cmocka_unit_test(test_compaction),     cmocka_unit_test(test_late_data_and_overlaps),
        cmocka_unit_test(test_retention_time), cmocka_unit_test(test_retention_size),
        cmocka_unit_test(test_rollup_exact),   cmocka_unit_test(test_rollup_stored),
        cmocka_unit_test(test_version1_block), cmocka_unit_test(test_block_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
