/*
 * promql_eval.c - the evaluator's core: the sample budget, values and the
 * builder of result series, reading selectors from the storage, and the
 * dispatch over the syntax tree. Functions, aggregations and binary
 * operators live in promql_func.c, promql_agg.c and promql_binop.c.
 *
 * Every node is evaluated for all steps at once. A selector reads its data
 * from the storage once, for [start - offset - lookback (or range), end -
 * offset], and each step looks at its part of it: no storage call per step.
 *
 * Instant selectors follow Prometheus 2.42: the newest sample at or before
 * t - offset, if it is no older than the lookback (both ends included), and
 * not Prometheus's staleness marker, which ends a series.
 */
#include "promql_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool pq_is_stale(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    return bits == PQ_STALE_BITS;
}

double pq_go_max(double a, double b)
{
    if (isinf(a) && a > 0)
        return a;
    if (isinf(b) && b > 0)
        return b;
    if (isnan(a) || isnan(b))
        return NAN;
    if (a == 0 && b == 0)
        return signbit(a) ? b : a;
    return a > b ? a : b;
}

double pq_go_min(double a, double b)
{
    if (isinf(a) && a < 0)
        return a;
    if (isinf(b) && b < 0)
        return b;
    if (isnan(a) || isnan(b))
        return NAN;
    if (a == 0 && b == 0)
        return signbit(a) ? a : b;
    return a < b ? a : b;
}

void pq_kahan_inc(double inc, double *sum, double *c)
{
    double t = *sum + inc;
    /* Neumaier's variant: the larger of the two keeps its low bits. */
    if (fabs(*sum) >= fabs(inc))
        *c += (*sum - t) + inc;
    else
        *c += (inc - t) + *sum;
    *sum = t;
}

int pq_fail(struct pq_ctx *c, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    return status;
}

int pq_charge(struct pq_ctx *c, size_t n)
{
    c->cur_samples += n;
    if (c->cur_samples > c->max_samples || c->cur_samples < n)
        return pq_fail(c, PROMQL_ELIMIT,
                       "query processing would load too many samples into memory "
                       "(more than %zu)",
                       c->max_samples);
    return PROMQL_OK;
}

void pq_release(struct pq_ctx *c, size_t n)
{
    c->cur_samples = n > c->cur_samples ? 0 : c->cur_samples - n;
}

int pq_series_alloc(struct pq_ctx *c, struct pq_series *s)
{
    int rc = pq_charge(c, c->nsteps);
    if (rc)
        return rc;
    s->v = malloc(c->nsteps * (sizeof(double) + 1));
    if (!s->v) {
        pq_release(c, c->nsteps);
        return pq_fail(c, PROMQL_ENOMEM, "out of memory");
    }
    s->ok = (uint8_t *)(s->v + c->nsteps);
    memset(s->ok, 0, c->nsteps);
    s->ts = NULL;
    return PROMQL_OK;
}

void pq_series_free(struct pq_ctx *c, struct pq_series *s)
{
    if (s->v)
        pq_release(c, c->nsteps);
    labels_free(&s->ls);
    free(s->v);
    free(s->ts);
    s->v = NULL;
    s->ok = NULL;
    s->ts = NULL;
}

void pq_value_free(struct pq_ctx *c, struct pq_value *v)
{
    if (v->sc)
        pq_release(c, c->nsteps);
    free(v->sc);
    for (size_t i = 0; i < v->n; i++)
        pq_series_free(c, &v->s[i]);
    free(v->s);
    memset(v, 0, sizeof(*v));
}

static bool series_empty(const struct pq_ctx *c, const struct pq_series *s)
{
    return !s->ok || memchr(s->ok, 1, c->nsteps) == NULL;
}

void pq_value_compact(struct pq_ctx *c, struct pq_value *v)
{
    size_t o = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (series_empty(c, &v->s[i]))
            pq_series_free(c, &v->s[i]);
        else
            v->s[o++] = v->s[i];
    }
    v->n = o;
}

int pq_scalar_new(struct pq_ctx *c, struct pq_value *out, double x)
{
    memset(out, 0, sizeof(*out));
    out->type = PROMQL_SCALAR;
    int rc = pq_charge(c, c->nsteps);
    if (rc)
        return rc;
    out->sc = malloc(c->nsteps * sizeof(double));
    if (!out->sc) {
        pq_release(c, c->nsteps);
        return pq_fail(c, PROMQL_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < c->nsteps; i++)
        out->sc[i] = x;
    return PROMQL_OK;
}

/* ---- result builder ---- */

void pq_vb_init(struct pq_vb *b, struct pq_ctx *c)
{
    memset(b, 0, sizeof(*b));
    b->c = c;
}

static bool vb_eq(void *ctx, int idx)
{
    struct pq_vb *b = ctx;
    return pq_ls_eq(&b->s[idx].ls, b->probe);
}

int pq_vb_slot(struct pq_vb *b, struct labelset *ls)
{
    uint64_t h = pq_ls_hash(ls);
    b->probe = ls;
    int idx = pq_map_get(&b->map, h, vb_eq, b);
    if (idx >= 0) {
        labels_free(ls);
        return idx;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        struct pq_series *ns = realloc(b->s, cap * sizeof(*ns));
        if (!ns)
            goto nomem;
        b->s = ns;
        b->cap = cap;
    }
    struct pq_series *s = &b->s[b->n];
    memset(s, 0, sizeof(*s));
    int rc = pq_series_alloc(b->c, s);
    if (rc) {
        labels_free(ls);
        return rc;
    }
    if (pq_map_put(&b->map, h, (int)b->n) != 0) {
        pq_series_free(b->c, s);
        goto nomem;
    }
    s->ls = *ls;
    ls->n = 0;
    ls->v = NULL;
    return (int)b->n++;
nomem:
    labels_free(ls);
    return pq_fail(b->c, PROMQL_ENOMEM, "out of memory");
}

int pq_vb_put(struct pq_vb *b, int slot, size_t step, double v)
{
    struct pq_series *s = &b->s[slot];
    if (s->ok[step])
        return pq_fail(b->c, PROMQL_EEXEC, "vector cannot contain metrics with the same labelset");
    s->ok[step] = 1;
    s->v[step] = v;
    return PROMQL_OK;
}

void pq_vb_finish(struct pq_vb *b, struct pq_value *out)
{
    memset(out, 0, sizeof(*out));
    out->type = PROMQL_VECTOR;
    out->s = b->s;
    out->n = b->n;
    b->s = NULL;
    b->n = b->cap = 0;
    pq_map_free(&b->map);
    pq_value_compact(b->c, out);
}

void pq_vb_free(struct pq_vb *b)
{
    for (size_t i = 0; i < b->n; i++)
        pq_series_free(b->c, &b->s[i]);
    free(b->s);
    pq_map_free(&b->map);
    memset(b, 0, sizeof(*b));
}

/* ---- storage ---- */

/*
 * The storage's memory is freed here, field by field, rather than with the
 * tsdb's own free functions, so that any storage (the tsdb, or a fake in
 * tests) works as long as it allocates with malloc as tsdb.h describes.
 */
static void raw_series_free(struct tsdb_series *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++) {
        labels_free(&s[i].ls);
        free(s[i].t);
        free(s[i].v);
    }
    free(s);
}

static void rollup_series_free(struct tsdb_rollup_series *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++) {
        labels_free(&s[i].ls);
        free(s[i].b);
    }
    free(s);
}

static int storage_status(struct pq_ctx *c, int rc, const char *msg)
{
    if (rc == TSDB_ELIMIT_SAMPLES)
        return pq_fail(c, PROMQL_ELIMIT,
                       "query processing would load too many samples into memory (more than %zu)",
                       c->max_samples);
    if (rc == TSDB_ENOMEM)
        return pq_fail(c, PROMQL_ENOMEM, "out of memory");
    return pq_fail(c, PROMQL_ESTORAGE, "storage: %s", msg[0] ? msg : "select failed");
}

int pq_select(struct pq_ctx *c, const struct promql_expr *sel, int64_t mint, int64_t maxt,
              struct pq_raw *out)
{
    char msg[256] = "";
    memset(out, 0, sizeof(*out));
    size_t budget = c->max_samples > c->cur_samples ? c->max_samples - c->cur_samples : 1;
    int rc = c->st->select(c->st->ctx, sel->m, sel->nm, mint, maxt, budget, &out->s, &out->n, msg,
                           sizeof(msg));
    if (rc != 0) {
        raw_series_free(out->s, out->n);
        memset(out, 0, sizeof(*out));
        return storage_status(c, rc, msg);
    }
    for (size_t i = 0; i < out->n; i++)
        out->samples += out->s[i].n;
    rc = pq_charge(c, out->samples);
    if (rc) {
        pq_release(c, out->samples);
        raw_series_free(out->s, out->n);
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

void pq_raw_free(struct pq_ctx *c, struct pq_raw *r)
{
    pq_release(c, r->samples);
    raw_series_free(r->s, r->n);
    memset(r, 0, sizeof(*r));
}

int pq_select_rollup(struct pq_ctx *c, const struct promql_expr *sel, int64_t mint, int64_t maxt,
                     struct pq_rraw *out)
{
    char msg[256] = "";
    memset(out, 0, sizeof(*out));
    size_t budget = c->max_samples > c->cur_samples ? c->max_samples - c->cur_samples : 1;
    int rc = c->st->select_rollup(c->st->ctx, c->rollup_res, sel->m, sel->nm, mint, maxt, budget,
                                  &out->s, &out->n, msg, sizeof(msg));
    if (rc != 0) {
        rollup_series_free(out->s, out->n);
        memset(out, 0, sizeof(*out));
        return storage_status(c, rc, msg);
    }
    for (size_t i = 0; i < out->n; i++)
        out->buckets += out->s[i].n;
    rc = pq_charge(c, out->buckets);
    if (rc) {
        pq_release(c, out->buckets);
        rollup_series_free(out->s, out->n);
        memset(out, 0, sizeof(*out));
        return rc;
    }
    c->used_rollup = true;
    return PROMQL_OK;
}

void pq_rraw_free(struct pq_ctx *c, struct pq_rraw *r)
{
    pq_release(c, r->buckets);
    rollup_series_free(r->s, r->n);
    memset(r, 0, sizeof(*r));
}

/* ---- nodes ---- */

int pq_eval_vecsel_raw(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *out)
{
    struct pq_raw raw;
    memset(out, 0, sizeof(*out));
    out->type = PROMQL_VECTOR;
    int rc = pq_select(c, e, c->start - e->offset_ms - c->lookback, c->end - e->offset_ms, &raw);
    if (rc)
        return rc;
    out->s = calloc(raw.n ? raw.n : 1, sizeof(*out->s));
    if (!out->s) {
        rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < raw.n; k++) {
        const struct tsdb_series *r = &raw.s[k];
        struct pq_series *s = &out->s[out->n];
        rc = pq_series_alloc(c, s);
        if (rc)
            goto done;
        out->n++;
        if (c->want_ts && !(s->ts = malloc(c->nsteps * sizeof(int64_t)))) {
            rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
            goto done;
        }
        size_t p = 0;
        bool any = false;
        for (size_t i = 0; i < c->nsteps; i++) {
            int64_t t = pq_step_t(c, i) - e->offset_ms;
            while (p < r->n && r->t[p] <= t)
                p++;
            if (p == 0)
                continue;
            size_t j = p - 1;
            if (r->t[j] < t - c->lookback || pq_is_stale(r->v[j]))
                continue;
            s->ok[i] = 1;
            s->v[i] = r->v[j];
            if (s->ts)
                s->ts[i] = r->t[j];
            any = true;
        }
        if (!any) {
            pq_series_free(c, s);
            out->n--;
            continue;
        }
        /* The labels move over from the storage's copy. */
        s->ls = raw.s[k].ls;
        raw.s[k].ls.n = 0;
        raw.s[k].ls.v = NULL;
    }
done:
    pq_raw_free(c, &raw);
    if (rc)
        pq_value_free(c, out);
    return rc;
}

static int eval_unary(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *out)
{
    int rc = pq_eval(c, e->a[0], out);
    if (rc || !e->neg)
        return rc;
    if (out->type == PROMQL_SCALAR) {
        for (size_t i = 0; i < c->nsteps; i++)
            out->sc[i] = -out->sc[i];
        return PROMQL_OK;
    }
    /* As in Prometheus, a negated vector loses its metric name (and keeps any twins). */
    for (size_t k = 0; k < out->n; k++) {
        struct pq_series *s = &out->s[k];
        for (size_t i = 0; i < c->nsteps; i++)
            s->v[i] = -s->v[i];
        free(s->ts);
        s->ts = NULL;
        pq_ls_del(&s->ls, "__name__");
    }
    out->ordered = false;
    return PROMQL_OK;
}

int pq_eval(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *out)
{
    memset(out, 0, sizeof(*out));
    switch (e->kind) {
    case N_NUMBER:
        return pq_scalar_new(c, out, e->num);
    case N_STRING:
        out->type = PROMQL_STRING;
        out->str = e->str;
        return PROMQL_OK;
    case N_VECSEL:
        if (c->rollup_res)
            return pq_rollup_vecsel(c, e, out);
        return pq_eval_vecsel_raw(c, e, out);
    case N_MATSEL:
        /* The parser's type checks let range vectors only into functions. */
        return pq_fail(c, PROMQL_EEXEC, "a range vector cannot be evaluated here");
    case N_PAREN:
        return pq_eval(c, e->a[0], out);
    case N_UNARY:
        return eval_unary(c, e, out);
    case N_BINARY:
        return pq_eval_binary(c, e, out);
    case N_CALL:
        return pq_eval_call(c, e, out);
    case N_AGG:
        return pq_eval_agg(c, e, out);
    }
    return pq_fail(c, PROMQL_EEXEC, "unknown expression");
}
