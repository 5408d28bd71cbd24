/*
 * promql_func.c - PromQL's functions: the table the parser checks calls
 * against, the functions over range vectors (rate, increase, delta, irate,
 * idelta, deriv, predict_linear, resets, changes, holt_winters and the
 * *_over_time family) and those over instant vectors (math, clamp, round,
 * dates, label_replace, label_join, histogram_quantile, sort, absent, ...).
 *
 * The arithmetic follows Prometheus 2.42 (the Debian release) step for step,
 * down to the order of floating-point operations, so results agree to the
 * last bit: rate's extrapolation, the Kahan sums in sum_over_time,
 * avg_over_time, stddev_over_time and the linear regression, the NaN rules
 * of min/max_over_time, histogram_quantile's bucket repair.
 */
#include "promql_int.h"

#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S   PROMQL_SCALAR
#define V   PROMQL_VECTOR
#define M   PROMQL_MATRIX
#define STR PROMQL_STRING

/* Sorted by name. */
static const struct pq_func funcs[] = {
    {"abs", F_ABS, 1, {V}, 0, 0, V, true},
    {"absent", F_ABSENT, 1, {V}, 0, 0, V, true},
    {"absent_over_time", F_ABSENT_OVER_TIME, 1, {M}, 0, 0, V, true},
    {"acos", F_ACOS, 1, {V}, 0, 0, V, true},
    {"acosh", F_ACOSH, 1, {V}, 0, 0, V, true},
    {"asin", F_ASIN, 1, {V}, 0, 0, V, true},
    {"asinh", F_ASINH, 1, {V}, 0, 0, V, true},
    {"atan", F_ATAN, 1, {V}, 0, 0, V, true},
    {"atanh", F_ATANH, 1, {V}, 0, 0, V, true},
    {"avg_over_time", F_AVG_OVER_TIME, 1, {M}, 0, 0, V, true},
    {"ceil", F_CEIL, 1, {V}, 0, 0, V, true},
    {"changes", F_CHANGES, 1, {M}, 0, 0, V, true},
    {"clamp", F_CLAMP, 3, {V, S, S}, 0, 0, V, true},
    {"clamp_max", F_CLAMP_MAX, 2, {V, S}, 0, 0, V, true},
    {"clamp_min", F_CLAMP_MIN, 2, {V, S}, 0, 0, V, true},
    {"cos", F_COS, 1, {V}, 0, 0, V, true},
    {"cosh", F_COSH, 1, {V}, 0, 0, V, true},
    {"count_over_time", F_COUNT_OVER_TIME, 1, {M}, 0, 0, V, true},
    {"day_of_month", F_DAY_OF_MONTH, 1, {V}, 0, 1, V, true},
    {"day_of_week", F_DAY_OF_WEEK, 1, {V}, 0, 1, V, true},
    {"day_of_year", F_DAY_OF_YEAR, 1, {V}, 0, 1, V, true},
    {"days_in_month", F_DAYS_IN_MONTH, 1, {V}, 0, 1, V, true},
    {"deg", F_DEG, 1, {V}, 0, 0, V, true},
    {"delta", F_DELTA, 1, {M}, 0, 0, V, true},
    {"deriv", F_DERIV, 1, {M}, 0, 0, V, true},
    {"exp", F_EXP, 1, {V}, 0, 0, V, true},
    {"floor", F_FLOOR, 1, {V}, 0, 0, V, true},
    {"histogram_count", F_HISTOGRAM_COUNT, 1, {V}, 0, 0, V, false},
    {"histogram_fraction", F_HISTOGRAM_FRACTION, 3, {S, S, V}, 0, 0, V, false},
    {"histogram_quantile", F_HISTOGRAM_QUANTILE, 2, {S, V}, 0, 0, V, true},
    {"histogram_sum", F_HISTOGRAM_SUM, 1, {V}, 0, 0, V, false},
    {"holt_winters", F_HOLT_WINTERS, 3, {M, S, S}, 0, 0, V, true},
    {"hour", F_HOUR, 1, {V}, 0, 1, V, true},
    {"idelta", F_IDELTA, 1, {M}, 0, 0, V, true},
    {"increase", F_INCREASE, 1, {M}, 0, 0, V, true},
    {"irate", F_IRATE, 1, {M}, 0, 0, V, true},
    {"label_join", F_LABEL_JOIN, 4, {V, STR, STR, STR}, -1, 1, V, true},
    {"label_replace", F_LABEL_REPLACE, 5, {V, STR, STR, STR, STR}, 0, 0, V, true},
    {"last_over_time", F_LAST_OVER_TIME, 1, {M}, 0, 0, V, true},
    {"ln", F_LN, 1, {V}, 0, 0, V, true},
    {"log10", F_LOG10, 1, {V}, 0, 0, V, true},
    {"log2", F_LOG2, 1, {V}, 0, 0, V, true},
    {"max_over_time", F_MAX_OVER_TIME, 1, {M}, 0, 0, V, true},
    {"min_over_time", F_MIN_OVER_TIME, 1, {M}, 0, 0, V, true},
    {"minute", F_MINUTE, 1, {V}, 0, 1, V, true},
    {"month", F_MONTH, 1, {V}, 0, 1, V, true},
    {"pi", F_PI, 0, {S}, 0, 0, S, true},
    {"predict_linear", F_PREDICT_LINEAR, 2, {M, S}, 0, 0, V, true},
    {"present_over_time", F_PRESENT_OVER_TIME, 1, {M}, 0, 0, V, true},
    {"quantile_over_time", F_QUANTILE_OVER_TIME, 2, {S, M}, 0, 0, V, true},
    {"rad", F_RAD, 1, {V}, 0, 0, V, true},
    {"rate", F_RATE, 1, {M}, 0, 0, V, true},
    {"resets", F_RESETS, 1, {M}, 0, 0, V, true},
    {"round", F_ROUND, 2, {V, S}, 0, 1, V, true},
    {"scalar", F_SCALAR, 1, {V}, 0, 0, S, true},
    {"sgn", F_SGN, 1, {V}, 0, 0, V, true},
    {"sin", F_SIN, 1, {V}, 0, 0, V, true},
    {"sinh", F_SINH, 1, {V}, 0, 0, V, true},
    {"sort", F_SORT, 1, {V}, 0, 0, V, true},
    {"sort_desc", F_SORT_DESC, 1, {V}, 0, 0, V, true},
    {"sqrt", F_SQRT, 1, {V}, 0, 0, V, true},
    {"stddev_over_time", F_STDDEV_OVER_TIME, 1, {M}, 0, 0, V, true},
    {"stdvar_over_time", F_STDVAR_OVER_TIME, 1, {M}, 0, 0, V, true},
    {"sum_over_time", F_SUM_OVER_TIME, 1, {M}, 0, 0, V, true},
    {"tan", F_TAN, 1, {V}, 0, 0, V, true},
    {"tanh", F_TANH, 1, {V}, 0, 0, V, true},
    {"time", F_TIME, 0, {S}, 0, 0, S, true},
    {"timestamp", F_TIMESTAMP, 1, {V}, 0, 0, V, true},
    {"vector", F_VECTOR, 1, {S}, 0, 0, V, true},
    {"year", F_YEAR, 1, {V}, 0, 1, V, true},
};

const struct pq_func *pq_func_lookup(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++)
        if (strlen(funcs[i].name) == len && memcmp(funcs[i].name, name, len) == 0)
            return &funcs[i];
    return NULL;
}

static const struct promql_expr *unparen(const struct promql_expr *e)
{
    while (e->kind == N_PAREN)
        e = e->a[0];
    return e;
}

/* ---- functions over range vectors ---- */

/* The samples of one series in one step's window. */
struct win {
    const int64_t *t;
    const double *v;
    size_t n;             /* >= 1 */
    int64_t rstart, rend; /* the window, both ends included */
    int64_t range_ms;
    int64_t eval_t;  /* the step's time (predict_linear's intercept) */
    double a, b;     /* scalar arguments (quantile, duration, factors) */
    double *scratch; /* room for n values */
};

static bool extrapolated_rate(const struct win *w, bool counter, bool is_rate, double *out)
{
    size_t n = w->n;
    if (n < 2)
        return false;
    double result = w->v[n - 1] - w->v[0];
    if (counter) {
        double prev = w->v[0];
        for (size_t i = 1; i < n; i++) {
            if (w->v[i] < prev)
                result += prev;
            prev = w->v[i];
        }
    }
    double to_start = (double)(w->t[0] - w->rstart) / 1000;
    double to_end = (double)(w->rend - w->t[n - 1]) / 1000;
    double sampled = (double)(w->t[n - 1] - w->t[0]) / 1000;
    double avg = sampled / (double)(n - 1);
    /*
     * A counter does not go below zero: when the line through the samples
     * would cross zero before the window starts, extrapolate only to there.
     * (2.42 does this before the 1.1 x average-interval test below.)
     */
    if (counter && result > 0 && w->v[0] >= 0) {
        double to_zero = sampled * (w->v[0] / result);
        if (to_zero < to_start)
            to_start = to_zero;
    }
    double threshold = avg * 1.1;
    double interval = sampled;
    interval += to_start < threshold ? to_start : avg / 2;
    interval += to_end < threshold ? to_end : avg / 2;
    double factor = interval / sampled;
    if (is_rate)
        factor /= (double)w->range_ms / 1000;
    *out = result * factor;
    return true;
}

static bool instant_value(const struct win *w, bool is_rate, double *out)
{
    size_t n = w->n;
    if (n < 2)
        return false;
    double last = w->v[n - 1], prev = w->v[n - 2];
    double result = (is_rate && last < prev) ? last : last - prev;
    int64_t interval = w->t[n - 1] - w->t[n - 2];
    if (interval == 0)
        return false;
    if (is_rate)
        result /= (double)interval / 1000;
    *out = result;
    return true;
}

static void linear_regression(const struct win *w, int64_t intercept_t, double *slope,
                              double *intercept)
{
    double n = 0, sx = 0, cx = 0, sy = 0, cy = 0, sxy = 0, cxy = 0, sx2 = 0, cx2 = 0;
    double init_y = w->v[0];
    bool const_y = true;
    for (size_t i = 0; i < w->n; i++) {
        if (const_y && i > 0 && w->v[i] != init_y)
            const_y = false;
        n += 1;
        double x = (double)(w->t[i] - intercept_t) / 1e3;
        pq_kahan_inc(x, &sx, &cx);
        pq_kahan_inc(w->v[i], &sy, &cy);
        pq_kahan_inc(x * w->v[i], &sxy, &cxy);
        pq_kahan_inc(x * x, &sx2, &cx2);
    }
    if (const_y) {
        if (isinf(init_y)) {
            *slope = *intercept = NAN;
            return;
        }
        *slope = 0;
        *intercept = init_y;
        return;
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    double cov = sxy - sx * sy / n;
    double var = sx2 - sx * sx / n;
    *slope = cov / var;
    *intercept = sy / n - *slope * sx / n;
}

static int cmp_nan_first(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    if (isnan(x))
        return isnan(y) ? 0 : -1;
    if (isnan(y))
        return 1;
    return (x > y) - (x < y);
}

double pq_quantile(double q, double *vals, size_t n)
{
    if (n == 0 || isnan(q))
        return NAN; /* 2.42 fails on a NaN q; later releases answer NaN */
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    qsort(vals, n, sizeof(double), cmp_nan_first);
    double rank = q * (double)(n - 1);
    double lower = fmax(0, floor(rank));
    double upper = fmin((double)(n - 1), lower + 1);
    double weight = rank - floor(rank);
    return vals[(size_t)lower] * (1 - weight) + vals[(size_t)upper] * weight;
}

static double holt_trend(size_t i, double tf, double s0, double s1, double b)
{
    if (i == 0)
        return b;
    return tf * (s1 - s0) + (1 - tf) * b;
}

/* Applies a range function to one window; false when it yields no point. */
static bool range_apply(enum pq_fn fn, const struct win *w, double *out)
{
    size_t n = w->n;
    switch (fn) {
    case F_RATE:
        return extrapolated_rate(w, true, true, out);
    case F_INCREASE:
        return extrapolated_rate(w, true, false, out);
    case F_DELTA:
        return extrapolated_rate(w, false, false, out);
    case F_IRATE:
        return instant_value(w, true, out);
    case F_IDELTA:
        return instant_value(w, false, out);
    case F_DERIV: {
        if (n < 2)
            return false;
        double slope, icpt;
        /* Relative to the first sample's time, to keep the x values small. */
        linear_regression(w, w->t[0], &slope, &icpt);
        *out = slope;
        return true;
    }
    case F_PREDICT_LINEAR: {
        if (n < 2)
            return false;
        double slope, icpt;
        linear_regression(w, w->eval_t, &slope, &icpt);
        *out = slope * w->a + icpt;
        return true;
    }
    case F_RESETS:
    case F_CHANGES: {
        double count = 0, prev = w->v[0];
        for (size_t i = 1; i < n; i++) {
            double cur = w->v[i];
            if (fn == F_RESETS ? cur < prev : (cur != prev && !(isnan(cur) && isnan(prev))))
                count++;
            prev = cur;
        }
        *out = count;
        return true;
    }
    case F_AVG_OVER_TIME: {
        double mean = 0, c = 0, count = 0;
        for (size_t i = 0; i < n; i++) {
            double v = w->v[i];
            count++;
            if (isinf(mean)) {
                /* An infinite mean stays as it is unless a NaN or the other infinity comes. */
                if (isinf(v) && (mean > 0) == (v > 0))
                    continue;
                if (!isinf(v) && !isnan(v))
                    continue;
            }
            pq_kahan_inc(v / count - mean / count, &mean, &c);
        }
        *out = isinf(mean) ? mean : mean + c;
        return true;
    }
    case F_SUM_OVER_TIME: {
        double sum = 0, c = 0;
        for (size_t i = 0; i < n; i++)
            pq_kahan_inc(w->v[i], &sum, &c);
        *out = isinf(sum) ? sum : sum + c;
        return true;
    }
    case F_COUNT_OVER_TIME:
        *out = (double)n;
        return true;
    case F_MIN_OVER_TIME:
    case F_MAX_OVER_TIME: {
        double m = w->v[0];
        for (size_t i = 0; i < n; i++) {
            double v = w->v[i];
            if ((fn == F_MAX_OVER_TIME ? v > m : v < m) || isnan(m))
                m = v;
        }
        *out = m;
        return true;
    }
    case F_LAST_OVER_TIME:
        *out = w->v[n - 1];
        return true;
    case F_PRESENT_OVER_TIME:
        *out = 1;
        return true;
    case F_STDDEV_OVER_TIME:
    case F_STDVAR_OVER_TIME: {
        double count = 0, mean = 0, cmean = 0, aux = 0, caux = 0;
        for (size_t i = 0; i < n; i++) {
            double v = w->v[i];
            count++;
            double delta = v - (mean + cmean);
            pq_kahan_inc(delta / count, &mean, &cmean);
            pq_kahan_inc(delta * (v - (mean + cmean)), &aux, &caux);
        }
        double var = (aux + caux) / count;
        *out = fn == F_STDDEV_OVER_TIME ? sqrt(var) : var;
        return true;
    }
    case F_QUANTILE_OVER_TIME:
        memcpy(w->scratch, w->v, n * sizeof(double));
        *out = pq_quantile(w->a, w->scratch, n);
        return true;
    case F_HOLT_WINTERS: {
        if (n < 2)
            return false;
        double sf = w->a, tf = w->b;
        double s0 = 0, s1 = w->v[0], b = w->v[1] - w->v[0];
        for (size_t i = 1; i < n; i++) {
            double x = sf * w->v[i];
            b = holt_trend(i - 1, tf, s0, s1, b);
            double y = (1 - sf) * (s1 + b);
            s0 = s1;
            s1 = x + y;
        }
        *out = s1;
        return true;
    }
    default:
        return false;
    }
}

static bool out_eq(void *ctx, int idx)
{
    const struct pq_value *v = ((const void *const *)ctx)[0];
    const struct labelset *probe = ((const void *const *)ctx)[1];
    return pq_ls_eq(&v->s[idx].ls, probe);
}

/* Prometheus checks the whole result of a range function for twins, at any step. */
static int check_twins(struct pq_ctx *c, const struct pq_value *v)
{
    struct pq_map map = {0};
    int rc = PROMQL_OK;
    for (size_t i = 0; i < v->n && rc == PROMQL_OK; i++) {
        uint64_t h = pq_ls_hash(&v->s[i].ls);
        const void *ctx[2] = {v, &v->s[i].ls};
        if (pq_map_get(&map, h, out_eq, (void *)ctx) >= 0)
            rc = pq_fail(c, PROMQL_EEXEC, "vector cannot contain metrics with the same labelset");
        else if (pq_map_put(&map, h, (int)i) != 0)
            rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
    }
    pq_map_free(&map);
    return rc;
}

/* Evaluates the scalar arguments of a call (others stay empty). */
static int eval_scalar_args(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *args)
{
    for (size_t i = 0; i < e->na; i++) {
        memset(&args[i], 0, sizeof(args[i]));
        if (e->a[i]->type != PROMQL_SCALAR)
            continue;
        int rc = pq_eval(c, e->a[i], &args[i]);
        if (rc)
            return rc;
    }
    return PROMQL_OK;
}

static void free_args(struct pq_ctx *c, struct pq_value *args, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pq_value_free(c, &args[i]);
}

static int eval_range_call(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *args,
                           struct pq_value *out)
{
    enum pq_fn fn = e->fn->id;
    size_t mi = fn == F_QUANTILE_OVER_TIME ? 1 : 0;
    const struct promql_expr *sel = unparen(e->a[mi]);
    const double *a = NULL, *b = NULL;
    if (fn == F_QUANTILE_OVER_TIME)
        a = args[0].sc;
    else if (fn == F_PREDICT_LINEAR || fn == F_HOLT_WINTERS)
        a = args[1].sc;
    if (fn == F_HOLT_WINTERS)
        b = args[2].sc;

    struct pq_raw raw;
    int rc =
        pq_select(c, sel, c->start - sel->offset_ms - sel->range_ms, c->end - sel->offset_ms, &raw);
    if (rc)
        return rc;
    memset(out, 0, sizeof(*out));
    out->type = PROMQL_VECTOR;
    double *scratch = NULL;
    uint8_t *seen = NULL;
    size_t maxn = 0;
    for (size_t k = 0; k < raw.n; k++) {
        /* Range vectors leave out the staleness markers. */
        struct tsdb_series *r = &raw.s[k];
        size_t o = 0;
        for (size_t i = 0; i < r->n; i++)
            if (!pq_is_stale(r->v[i])) {
                r->t[o] = r->t[i];
                r->v[o++] = r->v[i];
            }
        r->n = o;
        if (o > maxn)
            maxn = o;
    }
    scratch = malloc((maxn ? maxn : 1) * sizeof(double));
    out->s = calloc(raw.n ? raw.n : 1, sizeof(*out->s));
    if (fn == F_ABSENT_OVER_TIME)
        seen = calloc(c->nsteps, 1);
    if (!scratch || !out->s || (fn == F_ABSENT_OVER_TIME && !seen)) {
        rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < raw.n; k++) {
        const struct tsdb_series *r = &raw.s[k];
        struct pq_series *s = &out->s[out->n];
        if (fn != F_ABSENT_OVER_TIME) {
            rc = pq_series_alloc(c, s);
            if (rc)
                goto done;
            out->n++;
        }
        size_t lo = 0, hi = 0;
        bool any = false;
        for (size_t i = 0; i < c->nsteps; i++) {
            int64_t rend = pq_step_t(c, i) - sel->offset_ms;
            int64_t rstart = rend - sel->range_ms;
            while (lo < r->n && r->t[lo] < rstart)
                lo++;
            if (hi < lo)
                hi = lo;
            while (hi < r->n && r->t[hi] <= rend)
                hi++;
            if (hi == lo)
                continue;
            if (fn == F_ABSENT_OVER_TIME) {
                seen[i] = 1;
                continue;
            }
            struct win w = {r->t + lo,     r->v + lo,       hi - lo,      rstart,       rend,
                            sel->range_ms, pq_step_t(c, i), a ? a[i] : 0, b ? b[i] : 0, scratch};
            if (fn == F_HOLT_WINTERS && (!(w.a > 0 && w.a < 1) || !(w.b > 0 && w.b < 1))) {
                bool bad_sf = !(w.a > 0 && w.a < 1);
                rc = pq_fail(c, PROMQL_EEXEC, "invalid %s factor. Expected: 0 < %s < 1, got: %f",
                             bad_sf ? "smoothing" : "trend", bad_sf ? "sf" : "tf",
                             bad_sf ? w.a : w.b);
                goto done;
            }
            double v;
            if (range_apply(fn, &w, &v)) {
                s->ok[i] = 1;
                s->v[i] = v;
                any = true;
            }
        }
        if (fn == F_ABSENT_OVER_TIME)
            continue;
        if (!any) {
            pq_series_free(c, s);
            out->n--;
            continue;
        }
        s->ls = raw.s[k].ls;
        raw.s[k].ls.n = 0;
        raw.s[k].ls.v = NULL;
        if (fn != F_LAST_OVER_TIME)
            pq_ls_del(&s->ls, "__name__");
    }
    if (fn == F_ABSENT_OVER_TIME) {
        struct labelset ls = {0};
        struct pq_series *s = &out->s[0];
        /* Labels from the selector's equality matchers, as absent() does. */
        if (pq_absent_labels(sel, &ls) != 0) {
            rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
            goto done;
        }
        rc = pq_series_alloc(c, s);
        if (rc) {
            labels_free(&ls);
            goto done;
        }
        s->ls = ls;
        out->n = 1;
        for (size_t i = 0; i < c->nsteps; i++)
            if (!seen[i]) {
                s->ok[i] = 1;
                s->v[i] = 1;
            }
        pq_value_compact(c, out);
    } else
        rc = check_twins(c, out);
done:
    free(scratch);
    free(seen);
    pq_raw_free(c, &raw);
    if (rc)
        pq_value_free(c, out);
    return rc;
}

/* ---- functions over instant vectors ---- */

int pq_absent_labels(const struct promql_expr *sel, struct labelset *ls)
{
    /*
     * Equality matchers give their labels; a label with any other matcher,
     * or with two equality matchers, is left out, as Prometheus does.
     */
    memset(ls, 0, sizeof(*ls));
    if (sel->kind != N_VECSEL && sel->kind != N_MATSEL)
        return 0;
    for (size_t i = 0; i < sel->nm; i++) {
        const struct matcher *m = &sel->m[i];
        if (strcmp(m->name, "__name__") == 0)
            continue;
        if (m->op == MATCH_EQ && !labels_get(ls, m->name)) {
            if (pq_ls_set(ls, m->name, m->value) != 0)
                return -1;
        }
    }
    for (size_t i = 0; i < sel->nm; i++) {
        const struct matcher *m = &sel->m[i];
        if (strcmp(m->name, "__name__") == 0)
            continue;
        bool drop = m->op != MATCH_EQ;
        for (size_t j = 0; j < i && !drop; j++)
            if (sel->m[j].op == MATCH_EQ && strcmp(sel->m[j].name, m->name) == 0)
                drop = true;
        if (drop)
            pq_ls_del(ls, m->name);
    }
    return 0;
}

static double round_half_up(double v, double to_nearest)
{
    double inv = 1.0 / to_nearest;
    return floor(v * inv + 0.5) / inv;
}

static double date_part(enum pq_fn fn, double v)
{
    if (isnan(v) || isinf(v) || fabs(v) > 1e15)
        return NAN;
    time_t t = (time_t)(int64_t)v;
    /* Go's int64() truncates toward zero; time.Unix then floors to whole seconds. */
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return NAN;
    switch (fn) {
    case F_DAY_OF_MONTH:
        return tm.tm_mday;
    case F_DAY_OF_WEEK:
        return tm.tm_wday;
    case F_DAY_OF_YEAR:
        return tm.tm_yday + 1;
    case F_DAYS_IN_MONTH: {
        static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int y = tm.tm_year + 1900;
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        return days[tm.tm_mon] + (tm.tm_mon == 1 && leap ? 1 : 0);
    }
    case F_HOUR:
        return tm.tm_hour;
    case F_MINUTE:
        return tm.tm_min;
    case F_MONTH:
        return tm.tm_mon + 1;
    case F_YEAR:
        return tm.tm_year + 1900;
    default:
        return NAN;
    }
}

/* 1/ln(2) and 1/ln(10) rounded once, as Go's constant arithmetic gives them. */
#define GO_INV_LN2  1.44269504088896340735992468100189213742664595415298593413544940
#define GO_INV_LN10 0.43429448190325182765112891891660508229439700580366656611445378

static bool math_apply(enum pq_fn fn, double v, double a, double b, double *out)
{
    switch (fn) {
    case F_ABS:
        *out = fabs(v);
        break;
    case F_CEIL:
        *out = ceil(v);
        break;
    case F_FLOOR:
        *out = floor(v);
        break;
    case F_EXP:
        *out = exp(v);
        break;
    case F_SQRT:
        *out = sqrt(v);
        break;
    case F_LN:
        *out = log(v);
        break;
    case F_LOG2: {
        /* Go's math.Log2, which can differ from C's in the last bit. */
        int e;
        double frac = frexp(v, &e);
        *out = frac == 0.5 ? (double)(e - 1) : log(frac) * GO_INV_LN2 + (double)e;
        break;
    }
    case F_LOG10:
        *out = log(v) * GO_INV_LN10; /* Go's math.Log10 */
        break;
    case F_SIN:
        *out = sin(v);
        break;
    case F_COS:
        *out = cos(v);
        break;
    case F_TAN:
        *out = tan(v);
        break;
    case F_ASIN:
        *out = asin(v);
        break;
    case F_ACOS:
        *out = acos(v);
        break;
    case F_ATAN:
        *out = atan(v);
        break;
    case F_SINH:
        *out = sinh(v);
        break;
    case F_COSH:
        *out = cosh(v);
        break;
    case F_TANH:
        *out = tanh(v);
        break;
    case F_ASINH:
        *out = asinh(v);
        break;
    case F_ACOSH:
        *out = acosh(v);
        break;
    case F_ATANH:
        *out = atanh(v);
        break;
    case F_DEG:
        *out = v * 180 / M_PI;
        break;
    case F_RAD:
        *out = v * M_PI / 180;
        break;
    case F_SGN:
        *out = v > 0 ? 1 : v < 0 ? -1 : v; /* 0 and NaN stay */
        break;
    case F_CLAMP:
        if (b < a)
            return false; /* max below min: no output at this step */
        *out = pq_go_max(a, pq_go_min(b, v));
        break;
    case F_CLAMP_MAX:
        *out = pq_go_min(a, v);
        break;
    case F_CLAMP_MIN:
        *out = pq_go_max(a, v);
        break;
    case F_ROUND:
        *out = round_half_up(v, a);
        break;
    default:
        *out = date_part(fn, v);
        break;
    }
    return true;
}

/* Functions mapping each sample to one value, with the metric name dropped. */
static int eval_elementwise(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *args,
                            struct pq_value *out)
{
    enum pq_fn fn = e->fn->id;
    struct pq_value in;
    int rc = pq_eval(c, e->a[0], &in);
    if (rc)
        return rc;
    const double *a = NULL, *b = NULL;
    if (e->na > 1)
        a = args[1].sc;
    if (e->na > 2)
        b = args[2].sc;
    struct pq_vb vb;
    pq_vb_init(&vb, c);
    for (size_t k = 0; k < in.n && rc == PROMQL_OK; k++) {
        struct pq_series *s = &in.s[k];
        struct labelset ls;
        if (pq_ls_copy_without(&ls, &s->ls, NULL, true) != 0) {
            rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
            break;
        }
        int slot = pq_vb_slot(&vb, &ls);
        if (slot < 0) {
            rc = slot;
            break;
        }
        for (size_t i = 0; i < c->nsteps && rc == PROMQL_OK; i++) {
            double v;
            if (!s->ok[i] ||
                !math_apply(fn, s->v[i], a ? a[i] : (fn == F_ROUND ? 1 : 0), b ? b[i] : 0, &v))
                continue;
            rc = pq_vb_put(&vb, slot, i, v);
        }
    }
    pq_value_free(c, &in);
    if (rc) {
        pq_vb_free(&vb);
        return rc;
    }
    pq_vb_finish(&vb, out);
    return PROMQL_OK;
}

/* A vector with one series without labels, present where have[] says (NULL: everywhere). */
static int single_series(struct pq_ctx *c, struct pq_value *out, const double *vals, double x)
{
    memset(out, 0, sizeof(*out));
    out->type = PROMQL_VECTOR;
    out->s = calloc(1, sizeof(*out->s));
    if (!out->s)
        return pq_fail(c, PROMQL_ENOMEM, "out of memory");
    int rc = pq_series_alloc(c, &out->s[0]);
    if (rc) {
        free(out->s);
        out->s = NULL;
        return rc;
    }
    out->n = 1;
    for (size_t i = 0; i < c->nsteps; i++) {
        out->s[0].ok[i] = 1;
        out->s[0].v[i] = vals ? vals[i] : x;
    }
    return PROMQL_OK;
}

static int eval_dates_of_time(struct pq_ctx *c, enum pq_fn fn, struct pq_value *out)
{
    int rc = single_series(c, out, NULL, 0);
    if (rc)
        return rc;
    for (size_t i = 0; i < c->nsteps; i++) {
        int64_t ms = pq_step_t(c, i);
        out->s[0].v[i] = date_part(fn, (double)(ms / 1000)); /* Go's division truncates too */
    }
    return PROMQL_OK;
}

static int eval_scalar_fn(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *out)
{
    struct pq_value in;
    int rc = pq_eval(c, e->a[0], &in);
    if (rc)
        return rc;
    rc = pq_scalar_new(c, out, NAN);
    if (rc == PROMQL_OK)
        for (size_t i = 0; i < c->nsteps; i++) {
            size_t count = 0;
            double v = NAN;
            for (size_t k = 0; k < in.n && count < 2; k++)
                if (in.s[k].ok[i]) {
                    count++;
                    v = in.s[k].v[i];
                }
            out->sc[i] = count == 1 ? v : NAN;
        }
    pq_value_free(c, &in);
    return rc;
}

static int eval_timestamp(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *out)
{
    const struct promql_expr *arg = unparen(e->a[0]);
    struct pq_value in;
    int rc;
    /*
     * Of a plain selector, timestamp() gives the sample's own time (so raw
     * data is read even where rollups would do); of anything else, the
     * evaluation time.
     */
    if (arg->kind == N_VECSEL) {
        bool was = c->want_ts;
        c->want_ts = true;
        rc = pq_eval_vecsel_raw(c, arg, &in);
        c->want_ts = was;
    } else
        rc = pq_eval(c, arg, &in);
    if (rc)
        return rc;
    struct pq_vb vb;
    pq_vb_init(&vb, c);
    for (size_t k = 0; k < in.n && rc == PROMQL_OK; k++) {
        struct pq_series *s = &in.s[k];
        struct labelset ls;
        if (pq_ls_copy_without(&ls, &s->ls, NULL, true) != 0) {
            rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
            break;
        }
        int slot = pq_vb_slot(&vb, &ls);
        if (slot < 0) {
            rc = slot;
            break;
        }
        for (size_t i = 0; i < c->nsteps && rc == PROMQL_OK; i++)
            if (s->ok[i])
                rc = pq_vb_put(&vb, slot, i, (double)(s->ts ? s->ts[i] : pq_step_t(c, i)) / 1000);
    }
    pq_value_free(c, &in);
    if (rc) {
        pq_vb_free(&vb);
        return rc;
    }
    pq_vb_finish(&vb, out);
    return PROMQL_OK;
}

static int eval_absent(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *out)
{
    struct pq_value in;
    int rc = pq_eval(c, e->a[0], &in);
    if (rc)
        return rc;
    struct labelset ls;
    if (pq_absent_labels(e->a[0], &ls) != 0) {
        pq_value_free(c, &in);
        return pq_fail(c, PROMQL_ENOMEM, "out of memory");
    }
    rc = single_series(c, out, NULL, 1);
    if (rc == PROMQL_OK) {
        out->s[0].ls = ls;
        for (size_t i = 0; i < c->nsteps; i++)
            for (size_t k = 0; k < in.n; k++)
                if (in.s[k].ok[i]) {
                    out->s[0].ok[i] = 0;
                    break;
                }
        pq_value_compact(c, out);
    } else
        labels_free(&ls);
    pq_value_free(c, &in);
    return rc;
}

/* Go's Regexp.Expand for "$1", "${1}", "$$"; names other than numbers expand to nothing. */
static int expand_template(const char *tmpl, const char *src, const regmatch_t *m, size_t nm,
                           char **out)
{
    size_t cap = strlen(tmpl) + 16, n = 0;
    char *o = malloc(cap);
    if (!o)
        return -1;
#define PUT(p, len)                                                                                \
    do {                                                                                           \
        size_t l_ = (len);                                                                         \
        if (n + l_ + 1 > cap) {                                                                    \
            while (n + l_ + 1 > cap)                                                               \
                cap *= 2;                                                                          \
            char *no_ = realloc(o, cap);                                                           \
            if (!no_) {                                                                            \
                free(o);                                                                           \
                return -1;                                                                         \
            }                                                                                      \
            o = no_;                                                                               \
        }                                                                                          \
        memcpy(o + n, (p), l_);                                                                    \
        n += l_;                                                                                   \
    } while (0)
    const char *t = tmpl;
    while (*t) {
        const char *d = strchr(t, '$');
        if (!d) {
            PUT(t, strlen(t));
            break;
        }
        PUT(t, (size_t)(d - t));
        t = d + 1;
        if (*t == '$') {
            PUT("$", 1);
            t++;
            continue;
        }
        bool brace = *t == '{';
        const char *name = brace ? t + 1 : t;
        size_t len = 0;
        while (name[len] &&
               (name[len] == '_' || (name[len] >= '0' && name[len] <= '9') ||
                (name[len] >= 'a' && name[len] <= 'z') || (name[len] >= 'A' && name[len] <= 'Z') ||
                (unsigned char)name[len] >= 0x80))
            len++;
        if (len == 0 || (brace && name[len] != '}')) {
            PUT("$", 1); /* malformed: the $ is kept as text */
            continue;
        }
        t = name + len + (brace ? 1 : 0);
        long num = 0;
        for (size_t i = 0; i < len; i++) {
            if (name[i] < '0' || name[i] > '9' || num >= 100000000) {
                num = -1;
                break;
            }
            num = num * 10 + (name[i] - '0');
        }
        if (name[0] == '0' && len > 1)
            num = -1;
        if (num < 0)
            continue; /* a named group: POSIX expressions have none */
        /* Group k of the query's expression is group k + 1 of the anchored wrapper. */
        size_t g = num == 0 ? 0 : (size_t)num + 1;
        if (g < nm && m[g].rm_so >= 0)
            PUT(src + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so));
    }
    o[n] = '\0';
    *out = o;
    return 0;
#undef PUT
}

static int eval_label_fn(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *out)
{
    bool replace = e->fn->id == F_LABEL_REPLACE;
    const char *dst = unparen(e->a[1])->str;
    regex_t re;
    bool has_re = false;
    regmatch_t *m = NULL;
    size_t nm = 0;
    int rc = PROMQL_OK;
    struct pq_value in = {0};
    struct pq_vb vb;
    pq_vb_init(&vb, c);

    /* The string arguments are literals (the parser checked their type). */
    for (size_t i = 1; i < e->na; i++)
        if (unparen(e->a[i])->kind != N_STRING)
            return pq_fail(c, PROMQL_EEXEC, "%s() takes string literals", e->fn->name);
    if (replace) {
        const char *regex = unparen(e->a[4])->str;
        char rerr[128];
        if (pq_regex_check(regex, rerr, sizeof(rerr)) != 0)
            return pq_fail(c, PROMQL_EEXEC, "invalid regular expression in label_replace(): %s",
                           regex);
        size_t len = strlen(regex);
        char *anchored = malloc(len + 5);
        if (!anchored)
            return pq_fail(c, PROMQL_ENOMEM, "out of memory");
        snprintf(anchored, len + 5, "^(%s)$", regex);
        int r = regcomp(&re, anchored, REG_EXTENDED);
        free(anchored);
        if (r != 0)
            return pq_fail(c, PROMQL_EEXEC, "invalid regular expression in label_replace(): %s",
                           regex);
        has_re = true;
        nm = re.re_nsub + 1;
        m = calloc(nm, sizeof(*m));
        if (!m) {
            rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
            goto done;
        }
    }
    if (!labels_name_valid(dst)) {
        rc = pq_fail(c, PROMQL_EEXEC, "invalid destination label name in %s(): %s", e->fn->name,
                     dst);
        goto done;
    }
    if (!replace)
        for (size_t i = 3; i < e->na; i++)
            if (!labels_name_valid(unparen(e->a[i])->str)) {
                rc = pq_fail(c, PROMQL_EEXEC, "invalid source label name in label_join(): %s",
                             unparen(e->a[i])->str);
                goto done;
            }
    rc = pq_eval(c, e->a[0], &in);
    if (rc)
        goto done;
    for (size_t k = 0; k < in.n && rc == PROMQL_OK; k++) {
        struct pq_series *s = &in.s[k];
        struct labelset ls;
        char *value = NULL;
        bool set = true;
        if (replace) {
            const char *src = labels_get(&s->ls, unparen(e->a[3])->str);
            if (!src)
                src = "";
            if (regexec(&re, src, nm, m, 0) != 0)
                set = false;
            else if (expand_template(unparen(e->a[2])->str, src, m, nm, &value) != 0) {
                rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
                break;
            }
        } else {
            const char *sep = unparen(e->a[2])->str;
            size_t len = 1;
            for (size_t i = 3; i < e->na; i++) {
                const char *v = labels_get(&s->ls, unparen(e->a[i])->str);
                len += (v ? strlen(v) : 0) + strlen(sep);
            }
            value = malloc(len);
            if (!value) {
                rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
                break;
            }
            value[0] = '\0';
            for (size_t i = 3; i < e->na; i++) {
                const char *v = labels_get(&s->ls, unparen(e->a[i])->str);
                if (i > 3)
                    strcat(value, sep);
                strcat(value, v ? v : "");
            }
        }
        if (pq_ls_copy(&ls, &s->ls) != 0 || (set && pq_ls_set(&ls, dst, value) != 0)) {
            labels_free(&ls);
            free(value);
            rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
            break;
        }
        free(value);
        int slot = pq_vb_slot(&vb, &ls);
        if (slot < 0) {
            rc = slot;
            break;
        }
        for (size_t i = 0; i < c->nsteps && rc == PROMQL_OK; i++)
            if (s->ok[i])
                rc = pq_vb_put(&vb, slot, i, s->v[i]);
    }
done:
    pq_value_free(c, &in);
    free(m);
    if (has_re)
        regfree(&re);
    if (rc) {
        pq_vb_free(&vb);
        return rc;
    }
    pq_vb_finish(&vb, out);
    return PROMQL_OK;
}

/* ---- histogram_quantile ---- */

struct bucket {
    double le, count;
};

static int cmp_bucket(const void *a, const void *b)
{
    double x = ((const struct bucket *)a)->le, y = ((const struct bucket *)b)->le;
    return (x > y) - (x < y);
}

/* Prometheus's bucketQuantile over buckets sorted by upper bound. */
static double bucket_quantile(double q, struct bucket *b, size_t n)
{
    if (isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    if (n == 0 || !(isinf(b[n - 1].le) && b[n - 1].le > 0))
        return NAN;
    /* Buckets with the same bound ("1" and "1.0") count as one. */
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o > 0 && b[o - 1].le == b[i].le)
            b[o - 1].count += b[i].count;
        else
            b[o++] = b[i];
    }
    n = o;
    /* Counts scraped at slightly different times may dip: make them monotonic. */
    double max = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (b[i].count > max)
            max = b[i].count;
        else if (b[i].count < max)
            b[i].count = max;
    }
    if (n < 2)
        return NAN;
    double observations = b[n - 1].count;
    if (observations == 0)
        return NAN;
    double rank = q * observations;
    size_t i = 0;
    while (i < n - 1 && !(b[i].count >= rank))
        i++;
    if (i == n - 1)
        return b[n - 2].le;
    if (i == 0 && b[0].le <= 0)
        return b[0].le;
    double start = 0, end = b[i].le, count = b[i].count;
    if (i > 0) {
        start = b[i - 1].le;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    return start + (end - start) * (rank / count);
}

struct hq_group {
    struct labelset key; /* labels without le */
    size_t *members;     /* input series, sorted by le */
    size_t n;
};

struct hq_ctx {
    struct hq_group *g;
    const struct labelset *probe;
};

static bool hq_eq(void *ctx, int idx)
{
    struct hq_ctx *h = ctx;
    return pq_ls_eq(&h->g[idx].key, h->probe);
}

static int eval_histogram_quantile(struct pq_ctx *c, const struct promql_expr *e,
                                   struct pq_value *args, struct pq_value *out)
{
    const double *q = args[0].sc;
    struct pq_value in;
    int rc = pq_eval(c, e->a[1], &in);
    if (rc)
        return rc;
    double *le = calloc(in.n ? in.n : 1, sizeof(double));
    struct hq_group *g = NULL;
    size_t ng = 0;
    struct pq_map map = {0};
    struct bucket *bk = NULL;
    struct pq_vb vb;
    pq_vb_init(&vb, c);
    static char le_str[] = "le";
    static char *le_v[] = {le_str};
    const struct pq_names le_name = {1, le_v};
    if (!le) {
        rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
        goto done;
    }
    g = calloc(in.n ? in.n : 1, sizeof(*g));
    bk = calloc(in.n ? in.n : 1, sizeof(*bk));
    if (!g || !bk) {
        rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < in.n; k++) {
        const char *les = labels_get(&in.s[k].ls, "le");
        char *end;
        /* A series without a readable le is not a bucket and is skipped. */
        if (!les || !*les || *les == ' ' || *les == '\t' || *les == '\n')
            continue;
        le[k] = strtod(les, &end);
        if (*end != '\0')
            continue;
        struct labelset key;
        if (pq_ls_copy_without(&key, &in.s[k].ls, &le_name, false) != 0) {
            rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
            goto done;
        }
        uint64_t h = pq_ls_hash(&key);
        struct hq_ctx hc = {g, &key};
        int gi = pq_map_get(&map, h, hq_eq, &hc);
        if (gi < 0) {
            gi = (int)ng;
            g[ng].key = key;
            g[ng].members = calloc(in.n, sizeof(size_t));
            ng++;
            if (!g[gi].members || pq_map_put(&map, h, gi) != 0) {
                rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
                goto done;
            }
        } else
            labels_free(&key);
        g[gi].members[g[gi].n++] = k;
    }
    for (size_t gi = 0; gi < ng && rc == PROMQL_OK; gi++) {
        struct hq_group *grp = &g[gi];
        /* Members sorted by bound once; each step takes those present. */
        for (size_t i = 1; i < grp->n; i++)
            for (size_t j = i; j > 0 && le[grp->members[j - 1]] > le[grp->members[j]]; j--) {
                size_t t = grp->members[j];
                grp->members[j] = grp->members[j - 1];
                grp->members[j - 1] = t;
            }
        struct labelset ls;
        if (pq_ls_copy_without(&ls, &grp->key, NULL, true) != 0) {
            rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
            break;
        }
        int slot = pq_vb_slot(&vb, &ls);
        if (slot < 0) {
            rc = slot;
            break;
        }
        for (size_t i = 0; i < c->nsteps && rc == PROMQL_OK; i++) {
            size_t nb = 0;
            for (size_t j = 0; j < grp->n; j++) {
                const struct pq_series *s = &in.s[grp->members[j]];
                if (s->ok[i]) {
                    bk[nb].le = le[grp->members[j]];
                    bk[nb].count = s->v[i];
                    nb++;
                }
            }
            if (nb == 0)
                continue;
            qsort(bk, nb, sizeof(*bk), cmp_bucket);
            rc = pq_vb_put(&vb, slot, i, bucket_quantile(q[i], bk, nb));
        }
    }
done:
    for (size_t gi = 0; gi < ng; gi++) {
        labels_free(&g[gi].key);
        free(g[gi].members);
    }
    free(g);
    free(bk);
    free(le);
    pq_map_free(&map);
    pq_value_free(c, &in);
    if (rc) {
        pq_vb_free(&vb);
        return rc;
    }
    pq_vb_finish(&vb, out);
    return PROMQL_OK;
}

/* ---- sort ---- */

struct sort_item {
    double v;
    size_t idx;
};

static int cmp_sort_asc(const void *a, const void *b)
{
    const struct sort_item *x = a, *y = b;
    /* NaN sorts last in both directions, as in Prometheus. */
    if (isnan(x->v) || isnan(y->v)) {
        if (isnan(x->v) && isnan(y->v))
            return (x->idx > y->idx) - (x->idx < y->idx);
        return isnan(x->v) ? 1 : -1;
    }
    if (x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static int cmp_sort_desc(const void *a, const void *b)
{
    const struct sort_item *x = a, *y = b;
    if (isnan(x->v) || isnan(y->v)) {
        if (isnan(x->v) && isnan(y->v))
            return (x->idx > y->idx) - (x->idx < y->idx);
        return isnan(x->v) ? 1 : -1;
    }
    if (x->v != y->v)
        return x->v > y->v ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static int eval_sort(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *out)
{
    int rc = pq_eval(c, e->a[0], out);
    if (rc || c->nsteps != 1)
        return rc; /* only an instant query's order means anything */
    struct sort_item *it = calloc(out->n ? out->n : 1, sizeof(*it));
    struct pq_series *ns = calloc(out->n ? out->n : 1, sizeof(*ns));
    if (!it || !ns) {
        free(it);
        free(ns);
        pq_value_free(c, out);
        return pq_fail(c, PROMQL_ENOMEM, "out of memory");
    }
    for (size_t k = 0; k < out->n; k++) {
        it[k].v = out->s[k].v[0];
        it[k].idx = k;
    }
    qsort(it, out->n, sizeof(*it), e->fn->id == F_SORT ? cmp_sort_asc : cmp_sort_desc);
    for (size_t k = 0; k < out->n; k++)
        ns[k] = out->s[it[k].idx];
    free(out->s);
    free(it);
    out->s = ns;
    out->ordered = true;
    return PROMQL_OK;
}

int pq_eval_call(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *out)
{
    enum pq_fn fn = e->fn->id;
    struct pq_value args[8];
    int rc;
    memset(out, 0, sizeof(*out));
    if (e->na > sizeof(args) / sizeof(args[0]) && fn != F_LABEL_JOIN)
        return pq_fail(c, PROMQL_EEXEC, "too many arguments");

    switch (fn) {
    case F_TIME:
        rc = pq_scalar_new(c, out, 0);
        for (size_t i = 0; rc == PROMQL_OK && i < c->nsteps; i++)
            out->sc[i] = (double)pq_step_t(c, i) / 1000;
        return rc;
    case F_PI:
        return pq_scalar_new(c, out, M_PI);
    case F_SCALAR:
        return eval_scalar_fn(c, e, out);
    case F_VECTOR: {
        struct pq_value in;
        rc = pq_eval(c, e->a[0], &in);
        if (rc)
            return rc;
        rc = single_series(c, out, in.sc, 0);
        pq_value_free(c, &in);
        return rc;
    }
    case F_TIMESTAMP:
        return eval_timestamp(c, e, out);
    case F_ABSENT:
        return eval_absent(c, e, out);
    case F_SORT:
    case F_SORT_DESC:
        return eval_sort(c, e, out);
    case F_LABEL_REPLACE:
    case F_LABEL_JOIN:
        return eval_label_fn(c, e, out);
    default:
        break;
    }
    if (e->na > sizeof(args) / sizeof(args[0]))
        return pq_fail(c, PROMQL_EEXEC, "too many arguments");
    rc = eval_scalar_args(c, e, args);
    if (rc) {
        free_args(c, args, e->na);
        return rc;
    }
    if (fn == F_HISTOGRAM_QUANTILE)
        rc = eval_histogram_quantile(c, e, args, out);
    else if (e->fn->argt[0] == PROMQL_MATRIX || fn == F_QUANTILE_OVER_TIME) {
        if (c->rollup_res && pq_rollup_fn(fn))
            rc = pq_rollup_call(c, e, out);
        else
            rc = eval_range_call(c, e, args, out);
    } else if (e->na == 0)
        rc = eval_dates_of_time(c, fn, out);
    else
        rc = eval_elementwise(c, e, args, out);
    free_args(c, args, e->na);
    return rc;
}
