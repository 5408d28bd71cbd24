/*
 * promql_rollup.c - answering range queries from the tsdb's rollup buckets
 * (5 min or 1 h of min, max, sum, count, last and counter increase) instead
 * of raw samples, when the step is coarse enough that raw samples add
 * nothing a user could see.
 *
 * When: the step is at least R, where R is 1 h for steps of 1 h or more and
 * 5 min otherwise, and every range in the query is a multiple of R (and at
 * least R). Then min/max/sum/count/avg_over_time, increase, rate and
 * last_over_time read buckets, and so does every plain instant selector.
 * Everything else (deriv, quantile_over_time, timestamp(), ...) reads raw
 * samples, in the same query.
 *
 * The approximation, stated once: a step at time t (less the offset) is
 * moved down to the bucket grid, e = floor(t / R) * R, and a range r covers
 * the buckets starting in [e - r, e), that is the samples in [e - r, e),
 * where raw evaluation would look at [t - r, t]. So a window can be up to R
 * older than the exact one and leaves out a sample lying exactly on its end.
 * increase and rate are the sum of the buckets' counter increases (which
 * count from the last sample before each bucket) with no extrapolation to
 * the window's edges, and rate divides that by r. An instant selector gives
 * the last value of the bucket [e - R, e), even if that sample is older
 * than the 5 minute lookback. On data that is aligned to the grid (samples
 * strictly inside the buckets, steps on the grid) the results equal raw
 * evaluation for min, max, sum, count, avg and last.
 */
#include "promql_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static int64_t grid(int64_t t, int64_t r)
{
    return floor_div(t, r) * r;
}

static bool ranges_fit(const struct promql_expr *e, int64_t r)
{
    if (e->kind == N_MATSEL && (e->range_ms < r || e->range_ms % r != 0))
        return false;
    for (size_t i = 0; i < e->na; i++)
        if (!ranges_fit(e->a[i], r))
            return false;
    return true;
}

int64_t pq_rollup_resolution(const struct promql_expr *e, int64_t step_ms)
{
    int64_t r = step_ms >= TSDB_ROLLUP_1H ? TSDB_ROLLUP_1H : TSDB_ROLLUP_5M;
    if (step_ms < r || !ranges_fit(e, r))
        return 0;
    return r;
}

bool pq_rollup_fn(enum pq_fn fn)
{
    switch (fn) {
    case F_MIN_OVER_TIME:
    case F_MAX_OVER_TIME:
    case F_SUM_OVER_TIME:
    case F_COUNT_OVER_TIME:
    case F_AVG_OVER_TIME:
    case F_LAST_OVER_TIME:
    case F_INCREASE:
    case F_RATE:
        return true;
    default:
        return false;
    }
}

static bool out_eq(void *ctx, int idx)
{
    const void *const *p = ctx;
    const struct pq_value *v = p[0];
    return pq_ls_eq(&v->s[idx].ls, (const struct labelset *)p[1]);
}

static double fold(enum pq_fn fn, const struct tsdb_bucket *b, size_t n, int64_t range_ms)
{
    double acc = 0, c = 0, count = 0;
    switch (fn) {
    case F_MIN_OVER_TIME:
    case F_MAX_OVER_TIME:
        acc = fn == F_MIN_OVER_TIME ? b[0].min : b[0].max;
        for (size_t i = 0; i < n; i++) {
            double v = fn == F_MIN_OVER_TIME ? b[i].min : b[i].max;
            if ((fn == F_MIN_OVER_TIME ? v < acc : v > acc) || isnan(acc))
                acc = v;
        }
        return acc;
    case F_COUNT_OVER_TIME:
        for (size_t i = 0; i < n; i++)
            count += b[i].count;
        return count;
    case F_LAST_OVER_TIME:
        return b[n - 1].last;
    case F_SUM_OVER_TIME:
    case F_AVG_OVER_TIME:
    case F_INCREASE:
    case F_RATE:
        for (size_t i = 0; i < n; i++) {
            pq_kahan_inc(fn == F_INCREASE || fn == F_RATE ? b[i].inc : b[i].sum, &acc, &c);
            count += b[i].count;
        }
        acc = isinf(acc) ? acc : acc + c;
        if (fn == F_AVG_OVER_TIME)
            return acc / count;
        if (fn == F_RATE)
            return acc / ((double)range_ms / 1000);
        return acc;
    default:
        return NAN;
    }
}

int pq_rollup_call(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *out)
{
    enum pq_fn fn = e->fn->id;
    const struct promql_expr *sel = e->a[0];
    while (sel->kind == N_PAREN)
        sel = sel->a[0];
    int64_t r = c->rollup_res, off = sel->offset_ms;
    struct pq_rraw raw;
    memset(out, 0, sizeof(*out));
    out->type = PROMQL_VECTOR;
    int rc = pq_select_rollup(c, sel, grid(c->start - off, r) - sel->range_ms,
                              grid(c->end - off, r) - r, &raw);
    if (rc)
        return rc;
    out->s = calloc(raw.n ? raw.n : 1, sizeof(*out->s));
    if (!out->s) {
        rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < raw.n; k++) {
        const struct tsdb_rollup_series *rs = &raw.s[k];
        struct pq_series *s = &out->s[out->n];
        rc = pq_series_alloc(c, s);
        if (rc)
            goto done;
        out->n++;
        size_t lo = 0, hi = 0;
        bool any = false;
        for (size_t i = 0; i < c->nsteps; i++) {
            int64_t end = grid(pq_step_t(c, i) - off, r);
            while (lo < rs->n && rs->b[lo].t < end - sel->range_ms)
                lo++;
            if (hi < lo)
                hi = lo;
            while (hi < rs->n && rs->b[hi].t < end)
                hi++;
            if (hi == lo)
                continue;
            s->ok[i] = 1;
            s->v[i] = fold(fn, rs->b + lo, hi - lo, sel->range_ms);
            any = true;
        }
        if (!any) {
            pq_series_free(c, s);
            out->n--;
            continue;
        }
        s->ls = raw.s[k].ls;
        memset(&raw.s[k].ls, 0, sizeof(raw.s[k].ls));
        if (fn != F_LAST_OVER_TIME)
            pq_ls_del(&s->ls, "__name__");
    }
    /* Twins after dropping the name fail as they do on raw data. */
    struct pq_map map = {0};
    for (size_t i = 0; i < out->n && rc == PROMQL_OK; i++) {
        uint64_t h = pq_ls_hash(&out->s[i].ls);
        const void *ctx[2] = {out, &out->s[i].ls};
        if (pq_map_get(&map, h, out_eq, (void *)ctx) >= 0)
            rc = pq_fail(c, PROMQL_EEXEC, "vector cannot contain metrics with the same labelset");
        else if (pq_map_put(&map, h, (int)i) != 0)
            rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
    }
    pq_map_free(&map);
done:
    pq_rraw_free(c, &raw);
    if (rc)
        pq_value_free(c, out);
    return rc;
}

int pq_rollup_vecsel(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *out)
{
    int64_t r = c->rollup_res, off = e->offset_ms;
    struct pq_rraw raw;
    memset(out, 0, sizeof(*out));
    out->type = PROMQL_VECTOR;
    int rc = pq_select_rollup(c, e, grid(c->start - off, r) - r, grid(c->end - off, r) - r, &raw);
    if (rc)
        return rc;
    out->s = calloc(raw.n ? raw.n : 1, sizeof(*out->s));
    if (!out->s) {
        rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < raw.n; k++) {
        const struct tsdb_rollup_series *rs = &raw.s[k];
        struct pq_series *s = &out->s[out->n];
        rc = pq_series_alloc(c, s);
        if (rc)
            goto done;
        out->n++;
        size_t p = 0;
        bool any = false;
        for (size_t i = 0; i < c->nsteps; i++) {
            int64_t want = grid(pq_step_t(c, i) - off, r) - r;
            while (p < rs->n && rs->b[p].t < want)
                p++;
            if (p == rs->n || rs->b[p].t != want || pq_is_stale(rs->b[p].last))
                continue;
            s->ok[i] = 1;
            s->v[i] = rs->b[p].last;
            any = true;
        }
        if (!any) {
            pq_series_free(c, s);
            out->n--;
            continue;
        }
        s->ls = raw.s[k].ls;
        memset(&raw.s[k].ls, 0, sizeof(raw.s[k].ls));
    }
done:
    pq_rraw_free(c, &raw);
    if (rc)
        pq_value_free(c, out);
    return rc;
}
