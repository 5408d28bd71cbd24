/*
 * tsdb_rollup.c - rollup buckets: a bucket of resolution res covers
 * [t, t + res) with t a multiple of res. Samples stream in time order; the
 * counter increase of a bucket runs from the last sample before it (when
 * one is known) to its last sample, a decrease counting as a reset to zero.
 * NaN samples (including Prometheus's staleness marker) are left out of
 * every rollup, so min, max, sum and the increase stay numbers.
 */
#include "tsdb_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void rollup_acc_init(struct rollup_acc *a, int64_t res, int64_t lo, int64_t hi)
{
    memset(a, 0, sizeof(*a));
    a->res = res;
    a->lo = lo;
    a->hi = hi;
}

static struct tsdb_bucket *acc_new(struct rollup_acc *a)
{
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 16;
        struct tsdb_bucket *nb = realloc(a->b, nc * sizeof(*nb));
        if (!nb) {
            a->oom = true;
            return NULL;
        }
        a->b = nb;
        a->cap = nc;
    }
    return &a->b[a->n++];
}

void rollup_acc_add(struct rollup_acc *a, int64_t t, double v)
{
    if (isnan(v))
        return;
    int64_t bt = tsdb_align_down(t, a->res);
    if (bt < a->lo) {
        a->prev = v;
        a->have_prev = true;
        return;
    }
    if (bt > a->hi)
        return;
    double inc = a->have_prev ? tsdb_counter_delta(a->prev, v) : 0;
    struct tsdb_bucket *b = a->n > 0 && a->b[a->n - 1].t == bt ? &a->b[a->n - 1] : NULL;
    if (b) {
        if (v < b->min)
            b->min = v;
        if (v > b->max)
            b->max = v;
        b->sum += v;
        b->count++;
        b->last = v;
        b->inc += inc;
    } else if ((b = acc_new(a)) != NULL) {
        b->t = bt;
        b->min = b->max = b->sum = b->last = v;
        b->inc = inc;
        b->count = 1;
    }
    a->prev = v;
    a->have_prev = true;
}

void rollup_acc_push(struct rollup_acc *a, const struct tsdb_bucket *in)
{
    if (in->t < a->lo || in->t > a->hi)
        return;
    if (a->n > 0 && a->b[a->n - 1].t >= in->t) {
        struct tsdb_bucket *b = &a->b[a->n - 1];
        if (b->t != in->t)
            return; /* out of order: the caller's segments overlap */
        if (in->min < b->min)
            b->min = in->min;
        if (in->max > b->max)
            b->max = in->max;
        b->sum += in->sum;
        b->count += in->count;
        b->last = in->last;
        b->inc += in->inc;
    } else {
        struct tsdb_bucket *b = acc_new(a);
        if (b)
            *b = *in;
    }
    a->prev = in->last;
    a->have_prev = true;
}

void rollup_acc_free(struct rollup_acc *a)
{
    free(a->b);
    a->b = NULL;
    a->n = a->cap = 0;
}
