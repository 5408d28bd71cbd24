/*
 * promql.h - the subset of PromQL that real dashboards use, evaluated over
 * any storage that can select series (the tsdb, or a fake in tests).
 *
 * Supported: number and string literals; instant selectors with =, !=, =~,
 * !~ matchers (metric name optional when a matcher is given); range
 * selectors [5m]; offset; subexpressions in parentheses; unary minus;
 * binary + - * / % ^ and == != > < >= <= (with bool) between scalars and
 * vectors, vector/vector matching with on/ignoring and group_left/right;
 * and/or/unless; aggregations sum, avg, min, max, count, stddev, stdvar,
 * topk, bottomk, quantile, count_values with by/without; functions rate,
 * irate, increase, delta, idelta, deriv, predict_linear, resets, changes,
 * avg/min/max/sum/count/last/stddev/quantile_over_time, histogram_quantile,
 * abs, ceil, floor, round, sqrt, exp, ln, log2, log10, clamp, clamp_min,
 * clamp_max, scalar, vector, time, timestamp, absent, label_replace,
 * sort, sort_desc, and also group, label_join, holt_winters, sgn, the
 * trigonometric functions, deg, rad, pi, the date functions,
 * present_over_time, absent_over_time and stdvar_over_time. Anything else is a parse error naming
 * the construct (PROMQL_EUNSUPPORTED), which the API answers with 400.
 *
 * Semantics follow Prometheus: a 5 minute lookback for instant selectors,
 * extrapolation in rate/increase/delta, the metric name dropped by functions
 * and arithmetic, NaN and ±Inf as Prometheus formats them.
 */
#ifndef TOCSIN_PROMQL_H
#define TOCSIN_PROMQL_H

#include "tsdb.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum promql_status {
    PROMQL_OK = 0,
    PROMQL_EPARSE = -1,       /* syntax error: 400 bad_data */
    PROMQL_EUNSUPPORTED = -2, /* valid PromQL that Tocsin does not evaluate: 400 bad_data */
    PROMQL_EEXEC = -3,        /* evaluation failed (e.g. many-to-many matching): 422 execution */
    PROMQL_ELIMIT = -4,       /* too many samples or points: 422 execution */
    PROMQL_ESTORAGE = -5,     /* the storage failed: 503 internal */
    PROMQL_ENOMEM = -6,
};

/*
 * Where samples come from. select returns the series matching the matchers
 * with their samples in [mint, maxt] (see tsdb_select); select_rollup returns
 * rollup buckets (see tsdb_select_rollup) and may be NULL when the storage
 * has none.
 */
struct promql_storage {
    void *ctx;
    int (*select)(void *ctx, const struct matcher *m, size_t nm, int64_t mint, int64_t maxt,
                  size_t max_samples, struct tsdb_series **out, size_t *n_out, char *err,
                  size_t errlen);
    int (*select_rollup)(void *ctx, int64_t resolution_ms, const struct matcher *m, size_t nm,
                         int64_t mint, int64_t maxt, size_t max_buckets,
                         struct tsdb_rollup_series **out, size_t *n_out, char *err, size_t errlen);
};

struct promql_opts {
    int64_t lookback_ms; /* 0: 5 minutes */
    size_t max_samples;  /* 0: 50,000,000 loaded samples per query */
    bool no_rollups;     /* read raw data even when rollups would do */
};

enum promql_type { PROMQL_SCALAR, PROMQL_VECTOR, PROMQL_MATRIX, PROMQL_STRING };

/* One series of a result: a vector element has n == 1. */
struct promql_series {
    struct labelset ls; /* owned */
    size_t n;
    int64_t *t; /* owned */
    double *v;  /* owned */
};

struct promql_result {
    enum promql_type type;
    double scalar; /* PROMQL_SCALAR */
    int64_t t;     /* PROMQL_SCALAR/PROMQL_STRING: evaluation time */
    char *string;  /* PROMQL_STRING, owned */
    size_t n;
    struct promql_series *series; /* owned; PROMQL_VECTOR and PROMQL_MATRIX */
    bool used_rollup;             /* some part was answered from rollups */
};

struct promql_expr;

/*
 * Parses a query. Returns 0 and *out (free with promql_free), or
 * PROMQL_EPARSE / PROMQL_EUNSUPPORTED with "position N: message" in err.
 */
int promql_parse(const char *query, struct promql_expr **out, char *err, size_t errlen);
void promql_free(struct promql_expr *e);

/*
 * Parses a series selector as the metadata endpoints take it in match[]
 * ('up{job="node"}', '{__name__=~"x.*"}'). At least one matcher must not
 * match the empty string, as in Prometheus. Returns 0 with *out (an owned
 * array of *n matchers; free each with matcher_free, then the array), or
 * PROMQL_EPARSE with a message.
 */
int promql_parse_selector(const char *s, struct matcher **out, size_t *n, char *err, size_t errlen);

/* The parsed query printed back in canonical form (owned by the caller). */
char *promql_format(const struct promql_expr *e);

/*
 * Evaluates at one instant t_ms. Returns PROMQL_OK and *out (free with
 * promql_result_free), or a negative status with a message.
 */
int promql_eval_instant(const struct promql_storage *st, const struct promql_expr *e, int64_t t_ms,
                        const struct promql_opts *o, struct promql_result *out, char *err,
                        size_t errlen);

/*
 * Evaluates at start, start + step, ... <= end; the result is a matrix (a
 * scalar expression gives one series without labels). When the step and the
 * ranges allow it, *_over_time, rate, increase and plain selectors read the
 * 5 min or 1 h rollups instead of raw samples (out->used_rollup).
 */
int promql_eval_range(const struct promql_storage *st, const struct promql_expr *e,
                      int64_t start_ms, int64_t end_ms, int64_t step_ms,
                      const struct promql_opts *o, struct promql_result *out, char *err,
                      size_t errlen);

void promql_result_free(struct promql_result *r);

/*
 * The "data" object of Prometheus's query API for r:
 * {"resultType":"vector","result":[{"metric":{..},"value":[1.5,"3"]}]}.
 * Caller owns the reference.
 */
json_t *promql_result_to_json(const struct promql_result *r);

/* Prometheus's text for a sample value: "1.5", "NaN", "+Inf", "-Inf", "1e+21". */
void promql_format_value(double v, char buf[32]);

/*
 * Parses a Prometheus duration ("5m", "1h30m", "90s", "1w", "250ms").
 * Returns 0, or -1 when invalid.
 */
int promql_parse_duration(const char *s, int64_t *ms);

#endif
