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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_persist_reopen), cmocka_unit_test(test_backfill_flush),
        cmocka_unit_test(test_compaction),     cmocka_unit_test(test_late_data_and_overlaps),
        cmocka_unit_test(test_retention_time), cmocka_unit_test(test_retention_size),
        cmocka_unit_test(test_rollup_exact),   cmocka_unit_test(test_rollup_stored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
