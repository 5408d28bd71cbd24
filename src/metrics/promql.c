/*
 * promql.c - the public face of the PromQL engine (see promql.h): instant
 * and range evaluation over a storage, results, and their JSON in the shape
 * of Prometheus's query API.
 *
 * Result order: a range query's matrix is sorted by label set, as
 * Prometheus sorts it; an instant vector is sorted by label set too, except
 * when the outermost operation is sort(), sort_desc(), topk() or bottomk(),
 * whose order is the answer.
 */
#include "promql_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Times and durations are kept far from int64's ends (about 73 million
 * years either way), so that t - offset - range - lookback cannot overflow.
 */
#define PQ_MAX_TIME (1LL << 61)
#define PQ_MAX_SPAN (1LL << 56)

static void ctx_init(struct pq_ctx *c, const struct promql_storage *st, const struct promql_opts *o,
                     char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->st = st;
    c->lookback = (o && o->lookback_ms > 0) ? o->lookback_ms : PQ_DEFAULT_LB;
    if (c->lookback > PQ_MAX_SPAN)
        c->lookback = PQ_MAX_SPAN;
    c->max_samples = (o && o->max_samples > 0) ? o->max_samples : PQ_DEFAULT_LIMIT;
    c->err = err;
    c->errlen = errlen;
}

static int cmp_series(const void *a, const void *b)
{
    return pq_ls_cmp(&((const struct promql_series *)a)->ls,
                     &((const struct promql_series *)b)->ls);
}

void promql_result_free(struct promql_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        labels_free(&r->series[i].ls);
        free(r->series[i].t);
        free(r->series[i].v);
    }
    free(r->series);
    free(r->string);
    memset(r, 0, sizeof(*r));
}

static int nomem(char *err, size_t errlen)
{
    snprintf(err, errlen, "out of memory");
    return PROMQL_ENOMEM;
}

/* Moves a value's series into the result as a vector (instant) or a matrix (range). */
static int to_result(struct pq_ctx *c, struct pq_value *v, bool instant, struct promql_result *out)
{
    if (v->type == PROMQL_SCALAR && instant) {
        out->type = PROMQL_SCALAR;
        out->scalar = v->sc[0];
        out->t = c->start;
        return PROMQL_OK;
    }
    if (v->type == PROMQL_STRING) {
        out->type = PROMQL_STRING;
        out->t = c->start;
        out->string = strdup(v->str);
        return out->string ? PROMQL_OK : nomem(c->err, c->errlen);
    }
    out->type = instant ? PROMQL_VECTOR : PROMQL_MATRIX;
    size_t n = v->type == PROMQL_SCALAR ? 1 : v->n;
    out->series = calloc(n ? n : 1, sizeof(*out->series));
    if (!out->series)
        return nomem(c->err, c->errlen);
    for (size_t k = 0; k < n; k++) {
        const double *vals = v->type == PROMQL_SCALAR ? v->sc : v->s[k].v;
        const uint8_t *ok = v->type == PROMQL_SCALAR ? NULL : v->s[k].ok;
        size_t np = 0;
        for (size_t i = 0; i < c->nsteps; i++)
            np += !ok || ok[i];
        if (np == 0)
            continue;
        struct promql_series *s = &out->series[out->n];
        s->t = malloc(np * sizeof(int64_t));
        s->v = malloc(np * sizeof(double));
        if (!s->t || !s->v) {
            free(s->t);
            free(s->v);
            s->t = NULL;
            s->v = NULL;
            return nomem(c->err, c->errlen);
        }
        for (size_t i = 0; i < c->nsteps; i++)
            if (!ok || ok[i]) {
                s->t[s->n] = pq_step_t(c, i);
                s->v[s->n++] = vals[i];
            }
        if (v->type == PROMQL_VECTOR) {
            s->ls = v->s[k].ls;
            memset(&v->s[k].ls, 0, sizeof(v->s[k].ls));
        }
        out->n++;
    }
    if (!(instant && v->ordered))
        qsort(out->series, out->n, sizeof(*out->series), cmp_series);
    return PROMQL_OK;
}

/* An instant query of a range selector: its raw samples. */
static int instant_matrix(struct pq_ctx *c, const struct promql_expr *sel, int64_t t,
                          struct promql_result *out)
{
    struct pq_raw raw;
    int64_t maxt = t - sel->offset_ms, mint = maxt - sel->range_ms;
    int rc = pq_select(c, sel, mint, maxt, &raw);
    if (rc)
        return rc;
    out->type = PROMQL_MATRIX;
    out->series = calloc(raw.n ? raw.n : 1, sizeof(*out->series));
    if (!out->series) {
        rc = nomem(c->err, c->errlen);
        goto done;
    }
    for (size_t k = 0; k < raw.n; k++) {
        struct tsdb_series *r = &raw.s[k];
        struct promql_series *s = &out->series[out->n];
        s->t = malloc((r->n ? r->n : 1) * sizeof(int64_t));
        s->v = malloc((r->n ? r->n : 1) * sizeof(double));
        if (!s->t || !s->v) {
            free(s->t);
            free(s->v);
            s->t = NULL;
            s->v = NULL;
            rc = nomem(c->err, c->errlen);
            goto done;
        }
        for (size_t i = 0; i < r->n; i++)
            if (r->t[i] >= mint && r->t[i] <= maxt && !pq_is_stale(r->v[i])) {
                s->t[s->n] = r->t[i];
                s->v[s->n++] = r->v[i];
            }
        if (s->n == 0) {
            free(s->t);
            free(s->v);
            s->t = NULL;
            s->v = NULL;
            continue;
        }
        s->ls = r->ls;
        memset(&r->ls, 0, sizeof(r->ls));
        out->n++;
    }
    qsort(out->series, out->n, sizeof(*out->series), cmp_series);
done:
    pq_raw_free(c, &raw);
    return rc;
}

int promql_eval_instant(const struct promql_storage *st, const struct promql_expr *e, int64_t t_ms,
                        const struct promql_opts *o, struct promql_result *out, char *err,
                        size_t errlen)
{
    struct pq_ctx c;
    struct pq_value v;
    memset(out, 0, sizeof(*out));
    if (!st || !st->select || !e) {
        snprintf(err, errlen, "no storage or no query");
        return PROMQL_EEXEC;
    }
    if (t_ms > PQ_MAX_TIME || t_ms < -PQ_MAX_TIME) {
        snprintf(err, errlen, "evaluation time out of range");
        return PROMQL_EPARSE;
    }
    ctx_init(&c, st, o, err, errlen);
    c.start = c.end = t_ms;
    c.step = 1;
    c.nsteps = 1;
    const struct promql_expr *top = e;
    while (top->kind == N_PAREN)
        top = top->a[0];
    int rc;
    if (top->kind == N_MATSEL)
        rc = instant_matrix(&c, top, t_ms, out);
    else {
        rc = pq_eval(&c, e, &v);
        if (rc == PROMQL_OK) {
            rc = to_result(&c, &v, true, out);
            pq_value_free(&c, &v);
        }
    }
    if (rc)
        promql_result_free(out);
    return rc;
}

int promql_eval_range(const struct promql_storage *st, const struct promql_expr *e,
                      int64_t start_ms, int64_t end_ms, int64_t step_ms,
                      const struct promql_opts *o, struct promql_result *out, char *err,
                      size_t errlen)
{
    struct pq_ctx c;
    struct pq_value v;
    memset(out, 0, sizeof(*out));
    if (!st || !st->select || !e) {
        snprintf(err, errlen, "no storage or no query");
        return PROMQL_EEXEC;
    }
    if (step_ms <= 0) {
        snprintf(err, errlen,
                 "zero or negative query resolution step widths are not accepted. Try a positive "
                 "integer");
        return PROMQL_EPARSE;
    }
    if (start_ms > PQ_MAX_TIME || start_ms < -PQ_MAX_TIME || end_ms > PQ_MAX_TIME ||
        end_ms < -PQ_MAX_TIME) {
        snprintf(err, errlen, "start or end time out of range");
        return PROMQL_EPARSE;
    }
    if (end_ms < start_ms) {
        snprintf(err, errlen, "end timestamp must not be before start time");
        return PROMQL_EPARSE;
    }
    if ((uint64_t)(end_ms - start_ms) / (uint64_t)step_ms >= PQ_MAX_STEPS) {
        snprintf(err, errlen,
                 "exceeded maximum resolution of %d points per timeseries. Try decreasing the "
                 "query resolution (?step=XX)",
                 PQ_MAX_STEPS);
        return PROMQL_ELIMIT;
    }
    if (e->type != PROMQL_SCALAR && e->type != PROMQL_VECTOR) {
        snprintf(err, errlen,
                 "invalid expression type \"%s\" for range query, must be Scalar or instant Vector",
                 pq_type_name(e->type));
        return PROMQL_EPARSE;
    }
    ctx_init(&c, st, o, err, errlen);
    c.start = start_ms;
    c.end = end_ms;
    c.step = step_ms;
    c.nsteps = (size_t)((end_ms - start_ms) / step_ms) + 1;
    if (st->select_rollup && !(o && o->no_rollups))
        c.rollup_res = pq_rollup_resolution(e, step_ms);
    int rc = pq_eval(&c, e, &v);
    if (rc == PROMQL_OK) {
        rc = to_result(&c, &v, false, out);
        pq_value_free(&c, &v);
    }
    out->used_rollup = c.used_rollup;
    if (rc)
        promql_result_free(out);
    return rc;
}

/* ---- JSON ---- */

/* Seconds as a JSON number: an integer when whole, so it reads "1700000000" as Prometheus writes.
 */
static json_t *json_time(int64_t ms)
{
    if (ms % 1000 == 0)
        return json_integer(ms / 1000);
    return json_real((double)ms / 1000);
}

static json_t *json_point(int64_t t, double v)
{
    char buf[32];
    promql_format_value(v, buf);
    json_t *p = json_array();
    if (p) {
        json_array_append_new(p, json_time(t));
        json_array_append_new(p, json_string(buf));
    }
    return p;
}

json_t *promql_result_to_json(const struct promql_result *r)
{
    static const char *const names[] = {"scalar", "vector", "matrix", "string"};
    json_t *root = json_object(), *result = NULL;
    if (!root)
        return NULL;
    json_object_set_new(root, "resultType", json_string(names[r->type]));
    switch (r->type) {
    case PROMQL_SCALAR:
        result = json_point(r->t, r->scalar);
        break;
    case PROMQL_STRING:
        result = json_array();
        if (result) {
            json_array_append_new(result, json_time(r->t));
            json_array_append_new(result, json_string(r->string ? r->string : ""));
        }
        break;
    case PROMQL_VECTOR:
    case PROMQL_MATRIX:
        result = json_array();
        for (size_t i = 0; result && i < r->n; i++) {
            const struct promql_series *s = &r->series[i];
            json_t *el = json_object();
            if (!el)
                break;
            json_object_set_new(el, "metric", labels_to_json(&s->ls));
            if (r->type == PROMQL_VECTOR) {
                if (s->n > 0)
                    json_object_set_new(el, "value", json_point(s->t[0], s->v[0]));
            } else {
                json_t *vals = json_array();
                for (size_t j = 0; vals && j < s->n; j++)
                    json_array_append_new(vals, json_point(s->t[j], s->v[j]));
                json_object_set_new(el, "values", vals);
            }
            json_array_append_new(result, el);
        }
        break;
    }
    json_object_set_new(root, "result", result ? result : json_array());
    return root;
}
