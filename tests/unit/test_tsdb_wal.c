/*
 * test_tsdb_wal.c - durability of the time-series engine: replay after a
 * clean close and after several process lifetimes, kill -9 in the middle of
 * a stream of commits (every acknowledged sample must survive), a torn or
 * corrupt log tail (truncated with a warning, never fatal), a failing log
 * write (nothing applied), and checkpoints, including a crash between the
 * checkpoint's rename and the deletion of the old segments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_tsdb_util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

static void write_batch(struct tsdb *db, int batch, int nseries)
{
    struct tsdb_appender *a = tsdb_appender_new(db, "test");
    char inst[16];
    for (int i = 0; i < nseries; i++) {
        snprintf(inst, sizeof(inst), "%d", i);
        add_ok(a, "w", T0 + batch * SEC, batch * 1000 + i, "inst", inst, NULL);
    }
    commit_ok(a);
}

/* Every series "w" has exactly the batches [0, nb) with their values. */
static void check_batches(struct tsdb *db, int nb, int nseries)
{
    struct tsdb_series *s;
    size_t n = sel(db, "w", INT64_MIN, INT64_MAX, &s);
    assert_int_equal(n, nseries);
    for (size_t k = 0; k < n; k++) {
        int i = atoi(labels_get(&s[k].ls, "inst"));
        if ((int)s[k].n != nb)
            fail_msg("series inst=%d has %zu samples, want %d", i, s[k].n, nb);
        for (int b = 0; b < nb; b++) {
            assert_int_equal(s[k].t[b], T0 + b * SEC);
            assert_true(s[k].v[b] == b * 1000 + i);
        }
    }
    tsdb_series_free(s, n);
}

static void test_replay_after_close(void **state)
{
    (void)state;
    char dir[64];
    struct tsdb_stats st;
    tdir_make(dir, sizeof(dir));
    struct tsdb *db = db_open(dir);
    for (int b = 0; b < 20; b++)
        write_batch(db, b, 30);
    tsdb_close(db);

    db = db_open(dir);
    check_batches(db, 20, 30);
    tsdb_stats(db, &st);
    assert_int_equal(st.series, 30);
    assert_int_equal(st.head_samples, 600);
    /* A second lifetime: ids are handed out anew, new series appear, and
     * the log holds both generations. */
    struct tsdb_appender *a = tsdb_appender_new(db, "test");
    add_ok(a, "new", T0, 1, NULL);
    commit_ok(a);
    for (int b = 20; b < 25; b++)
        write_batch(db, b, 30);
    tsdb_close(db);

    db = db_open(dir);
    check_batches(db, 25, 30);
    struct tsdb_series *s;
    assert_int_equal(sel(db, "new", T0, T0, &s), 1);
    tsdb_series_free(s, 1);
    /* Retried samples after a restart are duplicates, not errors. */
    a = tsdb_appender_new(db, "test");
    assert_int_equal(add(a, "w", T0 + 24 * SEC, 24 * 1000 + 3, "inst", "3", NULL), TSDB_OK);
    assert_int_equal(add(a, "w", T0 + 24 * SEC, 1, "inst", "3", NULL), TSDB_EDUP);
    assert_int_equal(add(a, "w", T0 + 23 * SEC, 1, "inst", "3", NULL), TSDB_EOOO);
    tsdb_rollback(a);
    tsdb_close(db);
    tdir_remove(dir);
}

/* The child appends batches and reports each acknowledged one by its number. */
static void child_stream(const char *dir, int fd)
{
    struct tsdb_options o = {.dir = dir};
    struct tsdb *db;
    char err[256];
    if (tsdb_open(&o, &db, err, sizeof(err)) != 0)
        _exit(2);
    for (int b = 0;; b++) {
        struct tsdb_appender *a = tsdb_appender_new(db, "child");
        char inst[16];
        for (int i = 0; i < 50; i++) {
            snprintf(inst, sizeof(inst), "%d", i);
            if (add(a, "w", T0 + b * SEC, b * 1000 + i, "inst", inst, NULL) != 0)
                _exit(3);
        }
        if (tsdb_commit(a, err, sizeof(err)) != 0)
            _exit(4);
        if (write(fd, &b, sizeof(b)) != (ssize_t)sizeof(b))
            _exit(5);
    }
}

static void test_kill9(void **state)
{
    (void)state;
    char dir[64];
    int p[2], last = -1, b;
    tdir_make(dir, sizeof(dir));
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        child_stream(dir, p[1]);
        _exit(0);
    }
    close(p[1]);
    while (read(p[0], &b, sizeof(b)) == (ssize_t)sizeof(b)) {
        last = b;
        if (b == 300)
            break;
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    /* Batches acknowledged after our last read also count. */
    while (read(p[0], &b, sizeof(b)) == (ssize_t)sizeof(b))
        last = b;
    close(p[0]);
    assert_true(WIFSIGNALED(status));
    assert_true(last >= 300);

    struct tsdb *db = db_open(dir);
    struct tsdb_series *s;
    size_t n = sel(db, "w", INT64_MIN, INT64_MAX, &s);
    assert_int_equal(n, 50);
    for (size_t k = 0; k < n; k++) {
        int i = atoi(labels_get(&s[k].ls, "inst"));
        /* Every acknowledged batch is there; at most one more (written but
         * not yet reported when the signal came). */
        assert_true((int)s[k].n >= last + 1);
        assert_true((int)s[k].n <= last + 2);
        for (size_t j = 0; j < s[k].n; j++) {
            assert_int_equal(s[k].t[j], T0 + (int64_t)j * SEC);
            assert_true(s[k].v[j] == (double)j * 1000 + i);
        }
    }
    tsdb_series_free(s, n);
    tsdb_close(db);
    tdir_remove(dir);
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static void test_torn_tail(void **state)
{
    (void)state;
    char dir[64], seg[128];
    tdir_make(dir, sizeof(dir));
    struct tsdb *db = db_open(dir);
    for (int b = 0; b < 10; b++)
        write_batch(db, b, 20);
    tsdb_close(db);
    snprintf(seg, sizeof(seg), "%s/wal/00000001", dir);
    off_t full = file_size(seg);
    assert_true(full > 0);
    /* Cut the last record in half, as a crash in the middle of write(2) would. */
    assert_int_equal(truncate(seg, full - 100), 0);

    db = db_open(dir);
    check_batches(db, 9, 20);
    tsdb_close(db);
    /* The damaged tail was cut off at the last whole record. */
    off_t cut = file_size(seg);
    assert_true(cut < full - 100);
    assert_true(cut > 0);

    /* Garbage after good records (a preallocated or half-written tail). */
    db = db_open(dir);
    write_batch(db, 9, 20);
    tsdb_close(db);
    snprintf(seg, sizeof(seg), "%s/wal/00000002", dir);
    int fd = open(seg, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    char junk[300];
    memset(junk, 0xab, sizeof(junk));
    assert_int_equal(write(fd, junk, sizeof(junk)), sizeof(junk));
    close(fd);
    db = db_open(dir);
    check_batches(db, 10, 20);
    tsdb_close(db);
    tdir_remove(dir);
}

static void test_corrupt_middle(void **state)
{
    (void)state;
    char dir[64], seg[128];
    tdir_make(dir, sizeof(dir));
    struct tsdb *db = db_open(dir);
    for (int b = 0; b < 10; b++)
        write_batch(db, b, 20);
    tsdb_close(db);
    db = db_open(dir); /* segment 2 */
    struct tsdb_appender *a = tsdb_appender_new(db, "test");
    add_ok(a, "later", T0, 7, NULL);
    commit_ok(a);
    tsdb_close(db);
    /* Flip a byte in the middle of segment 1: its later records are lost,
     * segment 2 still replays. */
    snprintf(seg, sizeof(seg), "%s/wal/00000001", dir);
    off_t size = file_size(seg);
    int fd = open(seg, O_RDWR);
    uint8_t c;
    assert_int_equal(pread(fd, &c, 1, size / 2), 1);
    c ^= 0x40;
    assert_int_equal(pwrite(fd, &c, 1, size / 2), 1);
    close(fd);
    db = db_open(dir);
    struct tsdb_series *s;
    size_t n = sel(db, "w", INT64_MIN, INT64_MAX, &s);
    assert_int_equal(n, 20);
    assert_true(s[0].n >= 3 && s[0].n < 10);
    tsdb_series_free(s, n);
    assert_int_equal(sel(db, "later", T0, T0, &s), 1);
    tsdb_series_free(s, 1);
    tsdb_close(db);
    assert_true(file_size(seg) < size / 2 + 1);
    tdir_remove(dir);
}

static void test_write_failure(void **state)
{
    (void)state;
    char dir[64], err[512];
    tdir_make(dir, sizeof(dir));
    struct tsdb *db = db_open(dir);
    struct tsdb_series *s;
    write_batch(db, 0, 5);
    tsdb_test_fail_wal_writes(db, 1);
    struct tsdb_appender *a = tsdb_appender_new(db, "test");
    add_ok(a, "w", T0 + SEC, 1, "inst", "0", NULL);
    add_ok(a, "fresh", T0, 1, NULL);
    assert_int_equal(tsdb_commit(a, err, sizeof(err)), TSDB_EIO);
    assert_non_null(strstr(err, "wal"));
    assert_non_null(strstr(err, strerror(ENOSPC)));
    /* Nothing of the failed batch is visible. */
    check_batches(db, 1, 5);
    assert_int_equal(sel(db, "fresh", INT64_MIN, INT64_MAX, &s), 0);
    /* The log stays usable: the partial record was taken back. */
    write_batch(db, 1, 5);
    a = tsdb_appender_new(db, "test");
    add_ok(a, "fresh", T0, 2, NULL);
    commit_ok(a);
    tsdb_close(db);
    db = db_open(dir);
    check_batches(db, 2, 5);
    assert_int_equal(sel(db, "fresh", INT64_MIN, INT64_MAX, &s), 1);
    assert_true(s[0].v[0] == 2);
    tsdb_series_free(s, 1);
    tsdb_close(db);
    tdir_remove(dir);
}

static void test_checkpoint(void **state)
{
    (void)state;
    char dir[64], wal[128], saved[128], cmd[512];
    struct tsdb_stats st;
    tdir_make(dir, sizeof(dir));
    struct tsdb_options o = {.dir = dir, .block_ms = HOUR};
    struct tsdb *db = db_open_opts(&o);
    snprintf(wal, sizeof(wal), "%s/wal", dir);
    /* Aligned so that no 3 h compaction window closes during the test. */
    int64_t tb = tsdb_align_down(T0, 27 * HOUR);
    /* Three hours of samples, one per minute, in many commits. */
    for (int m = 0; m < 180; m++) {
        struct tsdb_appender *a = tsdb_appender_new(db, "test");
        char inst[16];
        for (int i = 0; i < 10; i++) {
            snprintf(inst, sizeof(inst), "%d", i);
            add_ok(a, "c", tb + m * MIN_MS, m * 10 + i, "inst", inst, NULL);
        }
        commit_ok(a);
    }
    tsdb_stats(db, &st);
    uint64_t wal_before = st.wal_bytes;
    tsdb_close(db);
    db = db_open_opts(&o);
    /* Keep the log as it was, to fake a crash before the old segments go. */
    snprintf(saved, sizeof(saved), "%s/saved", dir);
    snprintf(cmd, sizeof(cmd), "cp -r %s %s", wal, saved);
    assert_int_equal(system(cmd), 0);
    /* At 2:40 the first two hours are persisted (ranges that ended half a
     * range ago); the third stays in the head. */
    maintain_ok(db, tb + 2 * HOUR + 40 * MIN_MS);
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 2);
    assert_int_equal(st.head_samples, 600);
    assert_true(st.wal_bytes < wal_before / 2);
    assert_int_equal(count_files(wal, "0000000[12]"), 0);
    tsdb_close(db);

    db = db_open_opts(&o);
    struct tsdb_series *s;
    size_t n = sel(db, "c", INT64_MIN, INT64_MAX, &s);
    assert_int_equal(n, 10);
    for (size_t k = 0; k < n; k++) {
        int i = atoi(labels_get(&s[k].ls, "inst"));
        assert_int_equal(s[k].n, 180);
        for (int m = 0; m < 180; m++) {
            assert_int_equal(s[k].t[m], tb + m * MIN_MS);
            assert_true(s[k].v[m] == m * 10 + i);
        }
    }
    tsdb_series_free(s, n);
    tsdb_stats(db, &st);
    assert_int_equal(st.head_samples, 600);
    tsdb_close(db);

    /* The crash: the old segments are back beside the checkpoint. */
    snprintf(cmd, sizeof(cmd), "cp %s/* %s/", saved, wal);
    assert_int_equal(system(cmd), 0);
    db = db_open_opts(&o);
    n = sel(db, "c", INT64_MIN, INT64_MAX, &s);
    assert_int_equal(n, 10);
    for (size_t k = 0; k < n; k++)
        assert_int_equal(s[k].n, 180);
    tsdb_series_free(s, n);
    tsdb_close(db);
    tdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_after_close), cmocka_unit_test(test_kill9),
        cmocka_unit_test(test_torn_tail),          cmocka_unit_test(test_corrupt_middle),
        cmocka_unit_test(test_write_failure),      cmocka_unit_test(test_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
