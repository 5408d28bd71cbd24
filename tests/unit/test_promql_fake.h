/*
 * test_promql_fake.h - an in-memory storage for the PromQL tests and the
 * fuzz target: series written as promtool writes them in rule tests
 * ('m{a="1"}' and '0 10 20 _ stale 1+2x3'), selected with the matchers and
 * time range as tsdb_select does, and rolled up into 5 min / 1 h buckets as
 * tsdb_select_rollup does. Everything it returns is allocated with malloc,
 * field by field, which is how the engine frees it.
 */
#ifndef TOCSIN_TEST_PROMQL_FAKE_H
#define TOCSIN_TEST_PROMQL_FAKE_H

#include "metrics/promql.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_STALE_BITS 0x7ff0000000000002ULL

struct fake_series {
    struct labelset ls;
    size_t n, cap;
    int64_t *t;
    double *v;
};

struct fake {
    struct fake_series *s;
    size_t n;
    int selects;        /* calls to select */
    int rollup_selects; /* calls to select_rollup */
    int fail;           /* when non-zero, select returns it */
};

static inline double fake_stale(void)
{
    double d;
    unsigned long long bits = FAKE_STALE_BITS;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

static inline int fake_ls_cmp(const struct labelset *a, const struct labelset *b)
{
    size_t n = a->n < b->n ? a->n : b->n;
    for (size_t i = 0; i < n; i++) {
        int c = strcmp(a->v[i].name, b->v[i].name);
        if (c)
            return c;
        c = strcmp(a->v[i].value, b->v[i].value);
        if (c)
            return c;
    }
    return (a->n > b->n) - (a->n < b->n);
}

static inline int fake_cmp(const void *a, const void *b)
{
    return fake_ls_cmp(&((const struct fake_series *)a)->ls, &((const struct fake_series *)b)->ls);
}

/* Parses 'name{a="1",b="2"}' (no escapes). Returns 0 or -1. */
static inline int fake_parse_labels(const char *desc, struct labelset *ls)
{
    memset(ls, 0, sizeof(*ls));
    const char *c = desc;
    char name[256], value[1024];
    size_t n = 0;
    while (*c && *c != '{' && n < sizeof(name) - 1)
        name[n++] = *c++;
    name[n] = '\0';
    if (n > 0 && labels_set(ls, "__name__", name) != 0)
        return -1;
    if (*c != '{')
        return 0;
    c++;
    while (*c && *c != '}') {
        n = 0;
        while (*c == ' ' || *c == ',')
            c++;
        if (*c == '}')
            break;
        while (*c && *c != '=' && n < sizeof(name) - 1)
            name[n++] = *c++;
        name[n] = '\0';
        if (*c++ != '=' || *c++ != '"')
            return -1;
        n = 0;
        while (*c && *c != '"' && n < sizeof(value) - 1)
            value[n++] = *c++;
        value[n] = '\0';
        if (*c++ != '"')
            return -1;
        if (value[0] && labels_set(ls, name, value) != 0)
            return -1;
    }
    return 0;
}

static inline void fake_push(struct fake_series *s, int64_t t, double v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->t = realloc(s->t, s->cap * sizeof(*s->t));
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
        if (!s->t || !s->v)
            abort();
    }
    s->t[s->n] = t;
    s->v[s->n++] = v;
}

static inline struct fake_series *fake_series_for(struct fake *f, const char *desc)
{
    struct labelset ls;
    if (fake_parse_labels(desc, &ls) != 0)
        abort();
    for (size_t i = 0; i < f->n; i++)
        if (fake_ls_cmp(&f->s[i].ls, &ls) == 0) {
            labels_free(&ls);
            return &f->s[i];
        }
    f->s = realloc(f->s, (f->n + 1) * sizeof(*f->s));
    if (!f->s)
        abort();
    memset(&f->s[f->n], 0, sizeof(f->s[0]));
    f->s[f->n].ls = ls;
    return &f->s[f->n++];
}

/*
 * Adds samples at start_ms, start_ms + interval_ms, ... from promtool's
 * value notation: numbers (also NaN, Inf, -Inf), "_" for a gap, "stale" for a
 * staleness marker, "a+bxN" / "a-bxN" for a, a+b, ..., a+N*b, "_xN" for N gaps.
 */
static inline void fake_add(struct fake *f, const char *desc, const char *values, int64_t start_ms,
                            int64_t interval_ms)
{
    struct fake_series *s = fake_series_for(f, desc);
    int64_t t = start_ms;
    const char *c = values;
    char tok[128];
    while (*c) {
        while (*c == ' ')
            c++;
        if (!*c)
            break;
        size_t n = 0;
        while (*c && *c != ' ' && n < sizeof(tok) - 1)
            tok[n++] = *c++;
        tok[n] = '\0';
        if (strcmp(tok, "_") == 0) {
            t += interval_ms;
            continue;
        }
        if (strncmp(tok, "_x", 2) == 0) {
            t += interval_ms * atoll(tok + 2);
            continue;
        }
        if (strcmp(tok, "stale") == 0) {
            fake_push(s, t, fake_stale());
            t += interval_ms;
            continue;
        }
        char *x = strchr(tok, 'x');
        if (x && strcmp(tok, "Inf") != 0) {
            /* a+bxN: find the sign that separates a from b (not an exponent's or a's own). */
            *x = '\0';
            long long times = atoll(x + 1);
            char *sep = NULL;
            for (char *p = tok + 1; *p; p++)
                if ((*p == '+' || *p == '-') && p[-1] != 'e' && p[-1] != 'E')
                    sep = p;
            double a = strtod(tok, NULL), b = sep ? strtod(sep, NULL) : 0;
            for (long long i = 0; i <= times; i++) {
                fake_push(s, t, a + b * (double)i);
                t += interval_ms;
            }
            continue;
        }
        fake_push(s, t, strtod(tok, NULL));
        t += interval_ms;
    }
    qsort(f->s, f->n, sizeof(*f->s), fake_cmp);
}

static inline void fake_free(struct fake *f)
{
    for (size_t i = 0; i < f->n; i++) {
        labels_free(&f->s[i].ls);
        free(f->s[i].t);
        free(f->s[i].v);
    }
    free(f->s);
    memset(f, 0, sizeof(*f));
}

static inline int fake_copy_labels(struct labelset *dst, const struct labelset *src)
{
    memset(dst, 0, sizeof(*dst));
    for (size_t i = 0; i < src->n; i++)
        if (labels_set(dst, src->v[i].name, src->v[i].value) != 0)
            return -1;
    return 0;
}

static inline int fake_select(void *ctx, const struct matcher *m, size_t nm, int64_t mint,
                              int64_t maxt, size_t max_samples, struct tsdb_series **out,
                              size_t *n_out, char *err, size_t errlen)
{
    struct fake *f = ctx;
    f->selects++;
    *out = NULL;
    *n_out = 0;
    if (f->fail) {
        snprintf(err, errlen, "fake storage failure");
        return f->fail;
    }
    size_t total = 0;
    struct tsdb_series *res = calloc(f->n ? f->n : 1, sizeof(*res));
    if (!res)
        return TSDB_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++) {
        const struct fake_series *s = &f->s[i];
        if (!matcher_match_labels(m, nm, &s->ls))
            continue;
        size_t cnt = 0;
        for (size_t j = 0; j < s->n; j++)
            cnt += s->t[j] >= mint && s->t[j] <= maxt;
        if (cnt == 0)
            continue;
        total += cnt;
        if (max_samples && total > max_samples) {
            for (size_t k = 0; k < n; k++) {
                labels_free(&res[k].ls);
                free(res[k].t);
                free(res[k].v);
            }
            free(res);
            snprintf(err, errlen, "too many samples");
            return TSDB_ELIMIT_SAMPLES;
        }
        struct tsdb_series *o = &res[n++];
        fake_copy_labels(&o->ls, &s->ls);
        o->t = malloc(cnt * sizeof(int64_t));
        o->v = malloc(cnt * sizeof(double));
        for (size_t j = 0; j < s->n; j++)
            if (s->t[j] >= mint && s->t[j] <= maxt) {
                o->t[o->n] = s->t[j];
                o->v[o->n++] = s->v[j];
            }
    }
    *out = res;
    *n_out = n;
    return 0;
}

static inline int64_t fake_floor(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b != 0 && (a < 0) != (b < 0))
        q--;
    return q * b;
}

/* Buckets computed from the raw samples, as the tsdb computes them for its head. */
static inline int fake_select_rollup(void *ctx, int64_t res_ms, const struct matcher *m, size_t nm,
                                     int64_t mint, int64_t maxt, size_t max_buckets,
                                     struct tsdb_rollup_series **out, size_t *n_out, char *err,
                                     size_t errlen)
{
    struct fake *f = ctx;
    f->rollup_selects++;
    *out = NULL;
    *n_out = 0;
    if (f->fail) {
        snprintf(err, errlen, "fake storage failure");
        return f->fail;
    }
    struct tsdb_rollup_series *res = calloc(f->n ? f->n : 1, sizeof(*res));
    size_t n = 0, total = 0;
    for (size_t i = 0; i < f->n; i++) {
        const struct fake_series *s = &f->s[i];
        if (!matcher_match_labels(m, nm, &s->ls))
            continue;
        struct tsdb_rollup_series *o = &res[n];
        o->b = calloc(s->n ? s->n : 1, sizeof(*o->b));
        bool have_prev = false;
        double prev = 0;
        for (size_t j = 0; j < s->n; j++) {
            double v = s->v[j];
            uint64_t bits;
            memcpy(&bits, &v, sizeof(bits));
            if (bits == FAKE_STALE_BITS)
                continue;
            int64_t bt = fake_floor(s->t[j], res_ms);
            double inc = have_prev ? (v < prev ? v : v - prev) : 0;
            have_prev = true;
            prev = v;
            if (bt < mint || bt > maxt)
                continue;
            struct tsdb_bucket *b = o->n ? &o->b[o->n - 1] : NULL;
            if (!b || b->t != bt) {
                b = &o->b[o->n++];
                b->t = bt;
                b->min = b->max = v;
                b->sum = 0;
                b->inc = 0;
                b->count = 0;
            }
            if (v < b->min || isnan(b->min))
                b->min = v;
            if (v > b->max || isnan(b->max))
                b->max = v;
            b->sum += v;
            b->count++;
            b->last = v;
            b->inc += inc;
        }
        if (o->n == 0) {
            free(o->b);
            o->b = NULL;
            continue;
        }
        total += o->n;
        if (max_buckets && total > max_buckets) {
            for (size_t k = 0; k <= n; k++) {
                labels_free(&res[k].ls);
                free(res[k].b);
            }
            free(res);
            snprintf(err, errlen, "too many buckets");
            return TSDB_ELIMIT_SAMPLES;
        }
        fake_copy_labels(&o->ls, &s->ls);
        n++;
    }
    *out = res;
    *n_out = n;
    return 0;
}

static inline struct promql_storage fake_storage(struct fake *f, bool rollups)
{
    struct promql_storage st = {f, fake_select, rollups ? fake_select_rollup : NULL};
    return st;
}

#endif
