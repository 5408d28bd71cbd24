/*
 * promql_agg.c - aggregation operators: sum, avg, count, min, max, group,
 * stddev, stdvar, quantile, topk, bottomk and count_values, with by or
 * without.
 *
 * Series are put into groups once (labels do not change from step to step);
 * then each group's members are folded step by step in the order they come
 * in, which is the order Prometheus folds them in, so float results agree.
 * The arithmetic is Prometheus 2.42's: a plain sum, an incremental mean for
 * avg that survives infinities, Welford's method for stddev/stdvar.
 */
#include "promql_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct group {
    struct labelset key; /* the output labels */
    size_t *members;     /* input series in input order */
    size_t n, cap;
};

struct grouping {
    struct group *g;
    size_t n;
    struct pq_map map;
    const struct labelset *probe;
};

static bool group_eq(void *ctx, int idx)
{
    struct grouping *gr = ctx;
    return pq_ls_eq(&gr->g[idx].key, gr->probe);
}

static void grouping_free(struct grouping *gr)
{
    for (size_t i = 0; i < gr->n; i++) {
        labels_free(&gr->g[i].key);
        free(gr->g[i].members);
    }
    free(gr->g);
    pq_map_free(&gr->map);
    memset(gr, 0, sizeof(*gr));
}

/* The labels a series contributes to its group's identity. */
static int group_key(const struct promql_expr *e, const struct labelset *ls, struct labelset *key)
{
    if (e->without)
        return pq_ls_copy_without(key, ls, &e->grouping, true);
    if (e->grouping.n > 0)
        return pq_ls_copy_only(key, ls, &e->grouping);
    memset(key, 0, sizeof(*key));
    return 0;
}

static int make_groups(struct pq_ctx *c, const struct promql_expr *e, const struct pq_value *in,
                       struct grouping *gr)
{
    memset(gr, 0, sizeof(*gr));
    gr->g = calloc(in->n ? in->n : 1, sizeof(*gr->g));
    if (!gr->g)
        return pq_fail(c, PROMQL_ENOMEM, "out of memory");
    for (size_t k = 0; k < in->n; k++) {
        struct labelset key;
        if (group_key(e, &in->s[k].ls, &key) != 0)
            return pq_fail(c, PROMQL_ENOMEM, "out of memory");
        uint64_t h = pq_ls_hash(&key);
        gr->probe = &key;
        int gi = pq_map_get(&gr->map, h, group_eq, gr);
        if (gi < 0) {
            gi = (int)gr->n;
            gr->g[gr->n++].key = key;
            if (pq_map_put(&gr->map, h, gi) != 0)
                return pq_fail(c, PROMQL_ENOMEM, "out of memory");
        } else
            labels_free(&key);
        struct group *g = &gr->g[gi];
        if (g->n == g->cap) {
            size_t cap = g->cap ? g->cap * 2 : 4;
            size_t *nm = realloc(g->members, cap * sizeof(*nm));
            if (!nm)
                return pq_fail(c, PROMQL_ENOMEM, "out of memory");
            g->members = nm;
            g->cap = cap;
        }
        g->members[g->n++] = k;
    }
    return PROMQL_OK;
}

/* Output series for each group, with the group's labels moved over. */
static int alloc_outputs(struct pq_ctx *c, struct grouping *gr, struct pq_value *out)
{
    memset(out, 0, sizeof(*out));
    out->type = PROMQL_VECTOR;
    out->s = calloc(gr->n ? gr->n : 1, sizeof(*out->s));
    if (!out->s)
        return pq_fail(c, PROMQL_ENOMEM, "out of memory");
    for (size_t i = 0; i < gr->n; i++) {
        int rc = pq_series_alloc(c, &out->s[i]);
        if (rc)
            return rc;
        out->n++;
        out->s[i].ls = gr->g[i].key;
        memset(&gr->g[i].key, 0, sizeof(gr->g[i].key));
    }
    return PROMQL_OK;
}

static int aggregate_simple(struct pq_ctx *c, const struct promql_expr *e,
                            const struct pq_value *in, const double *param, struct pq_value *out)
{
    struct grouping gr;
    double *mean = NULL, *cnt = NULL, *buf = NULL;
    int rc = make_groups(c, e, in, &gr);
    if (rc == PROMQL_OK)
        rc = alloc_outputs(c, &gr, out);
    if (rc)
        goto done;
    mean = malloc(c->nsteps * sizeof(double));
    cnt = malloc(c->nsteps * sizeof(double));
    if (e->agg == PQ_QUANTILE)
        buf = malloc((in->n ? in->n : 1) * sizeof(double));
    if (!mean || !cnt || (e->agg == PQ_QUANTILE && !buf)) {
        rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t gi = 0; gi < gr.n; gi++) {
        const struct group *g = &gr.g[gi];
        struct pq_series *o = &out->s[gi];
        if (e->agg == PQ_QUANTILE) {
            for (size_t i = 0; i < c->nsteps; i++) {
                size_t nb = 0;
                for (size_t j = 0; j < g->n; j++)
                    if (in->s[g->members[j]].ok[i])
                        buf[nb++] = in->s[g->members[j]].v[i];
                if (nb) {
                    o->ok[i] = 1;
                    o->v[i] = pq_quantile(param[i], buf, nb);
                }
            }
            continue;
        }
        for (size_t j = 0; j < g->n; j++) {
            const struct pq_series *s = &in->s[g->members[j]];
            for (size_t i = 0; i < c->nsteps; i++) {
                if (!s->ok[i])
                    continue;
                double v = s->v[i];
                if (!o->ok[i]) {
                    /* The first member of the group at this step. */
                    o->ok[i] = 1;
                    o->v[i] = v;
                    mean[i] = v;
                    cnt[i] = 1;
                    if (e->agg == PQ_STDDEV || e->agg == PQ_STDVAR)
                        o->v[i] = 0;
                    else if (e->agg == PQ_GROUP)
                        o->v[i] = 1;
                    continue;
                }
                switch (e->agg) {
                case PQ_SUM:
                    o->v[i] += v;
                    break;
                case PQ_AVG:
                    cnt[i]++;
                    if (isinf(mean[i])) {
                        /* An infinite mean stays unless a NaN or the opposite infinity comes. */
                        if (isinf(v) && (mean[i] > 0) == (v > 0))
                            break;
                        if (!isinf(v) && !isnan(v))
                            break;
                    }
                    /* Each side divided first, so that large values do not overflow. */
                    mean[i] += v / cnt[i] - mean[i] / cnt[i];
                    break;
                case PQ_MAX:
                    if (o->v[i] < v || isnan(o->v[i]))
                        o->v[i] = v;
                    break;
                case PQ_MIN:
                    if (o->v[i] > v || isnan(o->v[i]))
                        o->v[i] = v;
                    break;
                case PQ_COUNT:
                    cnt[i]++;
                    break;
                case PQ_STDDEV:
                case PQ_STDVAR: {
                    cnt[i]++;
                    double delta = v - mean[i];
                    mean[i] += delta / cnt[i];
                    o->v[i] += delta * (v - mean[i]);
                    break;
                }
                default:
                    break;
                }
            }
        }
        for (size_t i = 0; i < c->nsteps; i++) {
            if (!o->ok[i])
                continue;
            switch (e->agg) {
            case PQ_AVG:
                o->v[i] = mean[i];
                break;
            case PQ_COUNT:
                o->v[i] = cnt[i];
                break;
            case PQ_STDVAR:
                o->v[i] = o->v[i] / cnt[i];
                break;
            case PQ_STDDEV:
                o->v[i] = sqrt(o->v[i] / cnt[i]);
                break;
            default:
                break;
            }
        }
    }
    pq_value_compact(c, out);
done:
    free(mean);
    free(cnt);
    free(buf);
    grouping_free(&gr);
    return rc;
}

struct rank_item {
    double v;
    size_t member; /* position in the input, the tie-breaker */
};

static int cmp_top(const void *a, const void *b)
{
    const struct rank_item *x = a, *y = b;
    /* NaN ranks lowest for topk. */
    if (isnan(x->v) != isnan(y->v))
        return isnan(x->v) ? 1 : -1;
    if (!isnan(x->v) && x->v != y->v)
        return x->v > y->v ? -1 : 1;
    return (x->member > y->member) - (x->member < y->member);
}

static int cmp_bottom(const void *a, const void *b)
{
    const struct rank_item *x = a, *y = b;
    /* NaN ranks highest for bottomk, so it is picked last there too. */
    if (isnan(x->v) != isnan(y->v))
        return isnan(x->v) ? 1 : -1;
    if (!isnan(x->v) && x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return (x->member > y->member) - (x->member < y->member);
}

static int aggregate_topk(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *in,
                          const double *param, struct pq_value *out)
{
    struct grouping gr;
    struct rank_item *items = NULL;
    int *slot = NULL;
    int rc = make_groups(c, e, in, &gr);
    memset(out, 0, sizeof(*out));
    out->type = PROMQL_VECTOR;
    if (rc)
        goto done;
    for (size_t i = 0; i < c->nsteps; i++)
        if (!(param[i] <= 9223372036854775807.0 && param[i] >= -9223372036854775808.0)) {
            char num[400];
            pq_format_float(param[i], 'f', num);
            rc = pq_fail(c, PROMQL_EEXEC, "scalar value %.40s overflows int64", num);
            goto done;
        }
    items = calloc(in->n ? in->n : 1, sizeof(*items));
    slot = malloc((in->n ? in->n : 1) * sizeof(*slot));
    out->s = calloc(in->n ? in->n : 1, sizeof(*out->s));
    if (!items || !slot || !out->s) {
        rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < in->n; k++)
        slot[k] = -1;
    for (size_t i = 0; i < c->nsteps; i++) {
        int64_t k = (int64_t)param[i];
        if (k < 1)
            continue;
        for (size_t gi = 0; gi < gr.n; gi++) {
            const struct group *g = &gr.g[gi];
            size_t n = 0;
            for (size_t j = 0; j < g->n; j++)
                if (in->s[g->members[j]].ok[i]) {
                    items[n].v = in->s[g->members[j]].v[i];
                    items[n].member = g->members[j];
                    n++;
                }
            qsort(items, n, sizeof(*items), e->agg == PQ_TOPK ? cmp_top : cmp_bottom);
            if ((uint64_t)k < n)
                n = (size_t)k;
            for (size_t j = 0; j < n; j++) {
                size_t m = items[j].member;
                if (slot[m] < 0) {
                    /* topk and bottomk keep every label of the series they pick. */
                    struct pq_series *o = &out->s[out->n];
                    rc = pq_series_alloc(c, o);
                    if (rc)
                        goto done;
                    slot[m] = (int)out->n++;
                    o->ls = in->s[m].ls;
                    memset(&in->s[m].ls, 0, sizeof(in->s[m].ls));
                }
                struct pq_series *o = &out->s[slot[m]];
                o->ok[i] = 1;
                o->v[i] = items[j].v;
            }
        }
    }
    /* In an instant query the order is the answer: groups as met, best first. */
    out->ordered = c->nsteps == 1;
done:
    free(items);
    free(slot);
    grouping_free(&gr);
    return rc;
}

static int aggregate_count_values(struct pq_ctx *c, const struct promql_expr *e,
                                  const struct pq_value *in, const char *label,
                                  struct pq_value *out)
{
    if (!labels_name_valid(label))
        return pq_fail(c, PROMQL_EEXEC, "invalid label name \"%.128s\"", label);
    struct pq_names by = e->grouping;
    char **names = NULL;
    if (!e->without) {
        /* With by (or nothing), the value label is one of the kept labels. */
        names = malloc((by.n + 1) * sizeof(*names));
        if (!names)
            return pq_fail(c, PROMQL_ENOMEM, "out of memory");
        if (by.n)
            memcpy(names, by.v, by.n * sizeof(*names));
        names[by.n] = (char *)label;
        by.v = names;
        by.n++;
    }
    struct pq_vb vb;
    pq_vb_init(&vb, c);
    int rc = PROMQL_OK;
    for (size_t k = 0; k < in->n && rc == PROMQL_OK; k++) {
        const struct pq_series *s = &in->s[k];
        for (size_t i = 0; i < c->nsteps && rc == PROMQL_OK; i++) {
            if (!s->ok[i])
                continue;
            char num[400];
            struct labelset full, key;
            pq_format_float(s->v[i], 'f', num);
            if (pq_ls_copy(&full, &s->ls) != 0 || pq_ls_set(&full, label, num) != 0) {
                labels_free(&full);
                rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
                break;
            }
            int r = e->without ? pq_ls_copy_without(&key, &full, &by, true)
                               : pq_ls_copy_only(&key, &full, &by);
            labels_free(&full);
            if (r != 0) {
                rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
                break;
            }
            int slot = pq_vb_slot(&vb, &key);
            if (slot < 0) {
                rc = slot;
                break;
            }
            struct pq_series *o = &vb.s[slot];
            if (o->ok[i])
                o->v[i] += 1;
            else {
                o->ok[i] = 1;
                o->v[i] = 1;
            }
        }
    }
    free(names);
    if (rc) {
        pq_vb_free(&vb);
        return rc;
    }
    pq_vb_finish(&vb, out);
    return PROMQL_OK;
}

int pq_eval_agg(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *out)
{
    struct pq_value param = {0}, in = {0};
    int rc = PROMQL_OK;
    memset(out, 0, sizeof(*out));
    if (e->na == 2) {
        rc = pq_eval(c, e->a[0], &param);
        if (rc)
            return rc;
    }
    rc = pq_eval(c, e->a[e->na - 1], &in);
    if (rc)
        goto done;
    switch (e->agg) {
    case PQ_TOPK:
    case PQ_BOTTOMK:
        rc = aggregate_topk(c, e, &in, param.sc, out);
        break;
    case PQ_COUNT_VALUES:
        rc = aggregate_count_values(c, e, &in, param.str, out);
        break;
    default:
        rc = aggregate_simple(c, e, &in, param.sc, out);
        break;
    }
done:
    pq_value_free(c, &param);
    pq_value_free(c, &in);
    if (rc)
        pq_value_free(c, out);
    return rc;
}
