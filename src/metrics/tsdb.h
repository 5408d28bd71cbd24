/*
 * tsdb.h - Tocsin's time-series engine: series identified by a metric name
 * plus labels, samples (int64 milliseconds, double) in compressed chunks, a
 * write-ahead log for the in-memory head, persisted blocks under
 * DATA_DIR/metrics, compaction, retention by time and size, and rollups
 * (5 min and 1 h buckets with min, max, sum, count, last and a counter
 * increase) for long ranges.
 *
 * The metric name is the label "__name__", as in Prometheus. A label set with
 * an empty value is the same as one without that label.
 *
 * Order and duplicates: within one series samples must arrive in increasing
 * time. A sample older than the newest sample of its series is rejected
 * (TSDB_EOOO); one with the same timestamp and the same value is accepted and
 * ignored (a retried write is harmless); the same timestamp with a different
 * value is rejected (TSDB_EDUP). Samples older than the retention are
 * rejected (TSDB_EOLD).
 *
 * Durability: tsdb_commit writes the appender's samples (and any new series)
 * to the write-ahead log with write(2) before it returns 0, so a committed
 * sample survives kill -9 of the process; the log is fsync'ed by the
 * maintenance pass and on close (power loss may lose the last seconds, as with
 * Prometheus).
 *
 * THREAD SAFETY NOTES: every function may be called from any thread, except
 * tsdb_open/tsdb_close, which the owner calls once. Appenders belong to the
 * thread that created them.
 */
#ifndef TOCSIN_TSDB_H
#define TOCSIN_TSDB_H

#include "../base/labels.h"
#include "../base/matcher.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tsdb;
struct tsdb_appender;

enum tsdb_status {
    TSDB_OK = 0,
    TSDB_EINVAL = -1, /* bad metric or label name, no __name__, too many labels */
    TSDB_ELIMIT = -2, /* a series limit (max_series or per source) would be exceeded */
    TSDB_EOOO = -3,   /* older than the newest sample of the series */
    TSDB_EDUP = -4,   /* same timestamp as the newest sample, different value */
    TSDB_EOLD = -5,   /* older than the retention */
    TSDB_ENOMEM = -6,
    TSDB_EIO = -7,            /* the write-ahead log could not be written: nothing was stored */
    TSDB_ELIMIT_SAMPLES = -8, /* a select would load more than max_samples */
};

struct tsdb_options {
    const char *dir;              /* borrowed; created if missing (DATA_DIR/metrics) */
    int64_t retention_ms;         /* 0: keep forever */
    uint64_t retention_bytes;     /* 0: no size limit; oldest blocks go first */
    size_t max_series;            /* 0: no limit */
    size_t max_series_per_source; /* 0: no limit */
    int64_t block_ms;             /* head data older than this is persisted; 0: 2 h */
    bool background;              /* start the "tocsin-tsdb" thread that runs tsdb_maintain */
};

/* A borrowed (name, value) pair; both NUL-terminated. */
struct tsdb_label {
    const char *name;
    const char *value;
};

/*
 * Opens (or creates) the database in opt->dir and replays the write-ahead
 * log. Returns 0 and *out (free with tsdb_close), or -1 with a message.
 */
int tsdb_open(const struct tsdb_options *opt, struct tsdb **out, char *err, size_t errlen);

/* Persists nothing new beyond the log (which is synced), stops the thread, frees. */
void tsdb_close(struct tsdb *db);

/*
 * Starts a batch of appends. source names who sends (for example "write:admin"
 * or "scrape:node") so the per-source series limit can be enforced and
 * reported. Returns NULL only when out of memory. The appender is consumed by
 * tsdb_commit or tsdb_rollback.
 */
struct tsdb_appender *tsdb_appender_new(struct tsdb *db, const char *source);

/*
 * Adds one sample. labels (n pairs, one of them "__name__") is borrowed and
 * may be reordered in place; the strings are copied when a new series is
 * made. Pairs with an empty value are dropped. Returns TSDB_OK or a negative
 * tsdb_status with a message in err naming the series; a rejected sample does
 * not spoil the rest of the batch.
 */
int tsdb_append(struct tsdb_appender *a, struct tsdb_label *labels, size_t n, int64_t t_ms,
                double v, char *err, size_t errlen);

/* Samples and series accepted so far by this appender. */
size_t tsdb_appender_count(const struct tsdb_appender *a);

/*
 * Makes the accepted samples durable (write-ahead log) and visible, then
 * frees the appender. Returns 0, or TSDB_EIO with a message (nothing stored).
 */
int tsdb_commit(struct tsdb_appender *a, char *err, size_t errlen);

/* Drops the appender's samples and frees it. */
void tsdb_rollback(struct tsdb_appender *a);

/* One series with its samples in a time range, decoded. */
struct tsdb_series {
    struct labelset ls; /* owned copy, includes __name__ */
    size_t n;
    int64_t *t; /* owned, n timestamps in increasing order */
    double *v;  /* owned, n values */
};

/*
 * Every series matching all nm matchers with at least one sample in
 * [mint, maxt], with those samples, sorted by label set. max_samples bounds
 * the total (0: no bound; TSDB_ELIMIT_SAMPLES when exceeded). Returns 0 and
 * *out (free with tsdb_series_free), or a negative status with a message.
 */
int tsdb_select(struct tsdb *db, const struct matcher *m, size_t nm, int64_t mint, int64_t maxt,
                size_t max_samples, struct tsdb_series **out, size_t *n_out, char *err,
                size_t errlen);
void tsdb_series_free(struct tsdb_series *s, size_t n);

/*
 * A rollup bucket covers [t, t + resolution). inc is the counter increase
 * from the last sample before the bucket (when there is one) to the last
 * sample in it, counting a decrease as a reset (as Prometheus's increase
 * does, without extrapolation).
 */
struct tsdb_bucket {
    int64_t t;
    double min, max, sum, last, inc;
    uint32_t count;
};

struct tsdb_rollup_series {
    struct labelset ls; /* owned */
    size_t n;
    struct tsdb_bucket *b; /* owned, n buckets in increasing time, empty buckets left out */
};

/* Rollup resolutions that tsdb_select_rollup accepts. */
#define TSDB_ROLLUP_5M 300000
#define TSDB_ROLLUP_1H 3600000

/*
 * Like tsdb_select but returns buckets of resolution_ms (TSDB_ROLLUP_5M or
 * TSDB_ROLLUP_1H) whose start lies in [mint, maxt]; buckets come from the
 * stored rollups where they exist and are computed from raw data elsewhere
 * (the head). max_buckets bounds the total like max_samples.
 */
int tsdb_select_rollup(struct tsdb *db, int64_t resolution_ms, const struct matcher *m, size_t nm,
                       int64_t mint, int64_t maxt, size_t max_buckets,
                       struct tsdb_rollup_series **out, size_t *n_out, char *err, size_t errlen);
void tsdb_rollup_series_free(struct tsdb_rollup_series *s, size_t n);

/*
 * Label sets of the matching series with samples in [mint, maxt] (nm may be
 * 0: every series), sorted; at most limit (0: all). Free with tsdb_labelsets_free.
 */
int tsdb_series_labels(struct tsdb *db, const struct matcher *m, size_t nm, int64_t mint,
                       int64_t maxt, size_t limit, struct labelset **out, size_t *n_out, char *err,
                       size_t errlen);
void tsdb_labelsets_free(struct labelset *ls, size_t n);

/*
 * Sorted distinct label names (name == NULL) or values of label name, over
 * the matching series in [mint, maxt]. *out is an owned array of owned
 * strings; free with tsdb_strings_free.
 */
int tsdb_label_values(struct tsdb *db, const char *name, const struct matcher *m, size_t nm,
                      int64_t mint, int64_t maxt, char ***out, size_t *n_out, char *err,
                      size_t errlen);
void tsdb_strings_free(char **s, size_t n);

/*
 * One maintenance pass at time now_ms: cut head data older than block_ms
 * into persisted blocks (with their rollups), compact small blocks into
 * larger ones, drop blocks beyond the retention (time and size), truncate
 * the write-ahead log and sync it. The background thread calls this every
 * minute with the wall clock; tests call it with simulated time.
 */
int tsdb_maintain(struct tsdb *db, int64_t now_ms, char *err, size_t errlen);

/* Persists the whole head into blocks now (used on shutdown and by benchmarks). */
int tsdb_flush(struct tsdb *db, char *err, size_t errlen);

struct tsdb_stats {
    uint64_t series;            /* series in the head */
    uint64_t samples_appended;  /* since start */
    uint64_t samples_rejected;  /* since start, every reason */
    uint64_t series_limit_hits; /* appends rejected by a series limit */
    uint64_t head_samples;
    uint64_t blocks;
    uint64_t disk_bytes; /* blocks + log */
    uint64_t wal_bytes;
    uint64_t memory_bytes;      /* head estimate */
    int64_t min_time, max_time; /* over all data, 0 when empty */
};
void tsdb_stats(struct tsdb *db, struct tsdb_stats *out);

/* A short English name of a status, e.g. "out of order". */
const char *tsdb_strerror(int status);

#endif
