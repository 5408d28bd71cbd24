/*
 * test_tsdb_util.h - helpers shared by the tsdb tests: temporary database
 * directories, appending a sample with labels written inline, matchers and
 * selections. Included by test_tsdb*.c only.
 */
#ifndef TEST_TSDB_UTIL_H
#define TEST_TSDB_UTIL_H

#include "metrics/tsdb.h"
#include "metrics/tsdb_int.h"

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* 2023-11-14 22:00:00 UTC: a multiple of 2 h, so of every block range used. */
#define T0     INT64_C(1699999200000)
#define SEC    INT64_C(1000)
#define MIN_MS (60 * SEC)
#define HOUR   (60 * MIN_MS)

static inline int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void tdir_remove(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void tdir_make(char *buf, size_t len)
{
    snprintf(buf, len, "/tmp/tocsin-tsdb-XXXXXX");
    assert_non_null(mkdtemp(buf));
}

static inline struct tsdb *db_open_opts(const struct tsdb_options *o)
{
    struct tsdb *db = NULL;
    char err[512] = "";
    if (tsdb_open(o, &db, err, sizeof(err)) != 0)
        fail_msg("tsdb_open: %s", err);
    return db;
}

static inline struct tsdb *db_open(const char *dir)
{
    struct tsdb_options o = {0};
    o.dir = dir;
    return db_open_opts(&o);
}

/* Appends metric{k1="v1", ...} (pairs, NULL-terminated) at t = v. */
static inline int addv(struct tsdb_appender *a, const char *metric, int64_t t, double v, char *err,
                       size_t errlen, va_list ap)
{
    struct tsdb_label l[80];
    size_t n = 0;
    l[n].name = "__name__";
    l[n++].value = metric;
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        l[n].name = k;
        l[n++].value = va_arg(ap, const char *);
    }
    return tsdb_append(a, l, n, t, v, err, errlen);
}

static inline int add(struct tsdb_appender *a, const char *metric, int64_t t, double v, ...)
{
    char err[512];
    va_list ap;
    va_start(ap, v);
    int rc = addv(a, metric, t, v, err, sizeof(err), ap);
    va_end(ap);
    return rc;
}

/* Like add, but fails the test on an error. */
static inline void add_ok(struct tsdb_appender *a, const char *metric, int64_t t, double v, ...)
{
    char err[512] = "";
    va_list ap;
    va_start(ap, v);
    int rc = addv(a, metric, t, v, err, sizeof(err), ap);
    va_end(ap);
    if (rc != 0)
        fail_msg("append %s@%lld: %d %s", metric, (long long)t, rc, err);
}

static inline void commit_ok(struct tsdb_appender *a)
{
    char err[512] = "";
    if (tsdb_commit(a, err, sizeof(err)) != 0)
        fail_msg("commit: %s", err);
}

static inline void mk(struct matcher *m, const char *name, enum matcher_op op, const char *value)
{
    char err[256];
    if (matcher_init(m, name, op, value, err, sizeof(err)) != 0)
        fail_msg("matcher: %s", err);
}

/* Selects {__name__="metric"} over [mint, maxt]. */
static inline size_t sel(struct tsdb *db, const char *metric, int64_t mint, int64_t maxt,
                         struct tsdb_series **out)
{
    struct matcher m;
    size_t n = 0;
    char err[512] = "";
    mk(&m, "__name__", MATCH_EQ, metric);
    int rc = tsdb_select(db, &m, 1, mint, maxt, 0, out, &n, err, sizeof(err));
    matcher_free(&m);
    if (rc != 0)
        fail_msg("select: %d %s", rc, err);
    return n;
}

static inline void maintain_ok(struct tsdb *db, int64_t now)
{
    char err[512] = "";
    if (tsdb_maintain(db, now, err, sizeof(err)) != 0)
        fail_msg("maintain: %s", err);
}

static inline void flush_ok(struct tsdb *db)
{
    char err[512] = "";
    if (tsdb_flush(db, err, sizeof(err)) != 0)
        fail_msg("flush: %s", err);
}

/* Files in dir whose names end with suffix. */
static inline int count_files(const char *dir, const char *suffix)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "ls %s 2>/dev/null | grep -c '%s$'", dir, suffix);
    FILE *p = popen(cmd, "r");
    int n = 0;
    if (p) {
        if (fscanf(p, "%d", &n) != 1)
            n = 0;
        pclose(p);
    }
    return n;
}

#endif
