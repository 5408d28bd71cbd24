/*
 * tsdb_query.c - reading: select, select_rollup, series listings and label
 * values.
 *
 * A query finds its series in the postings index under the registry read
 * lock and pins them, copies the head chunks it needs under each series'
 * stripe lock, and only then takes references to the blocks; everything
 * after that (decoding, merging) runs without locks. Copying the head before
 * listing the blocks matters: maintenance adds a block before it drops the
 * same samples from the head, so this order sees every sample at least once,
 * and merging drops the second copy of a timestamp.
 */
#include "tsdb_int.h"

#include "../base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct query {
    struct tsdb *db;
    struct mseries **ser; /* pinned, ascending id */
    size_t n;
    struct tsdb_block **blocks; /* referenced, sorted by mint */
    size_t nb;
    size_t *cursor;       /* per block, for tsdb_block_find */
    struct bcursor *bcur; /* per block, for reading its series entries in order */
    struct tbuf arena;
    struct cref *cr; /* head copies, then per-series scratch */
    size_t ncr, capcr;
    size_t *hfirst, *hn; /* each series' head crefs */
    struct bseries *bs;  /* scratch */
};

static const char *value_of(void *ctx, uint32_t id, const char *name)
{
    struct tsdb *db = ctx;
    struct mseries *s = idtab_get(&db->ids, id);
    return s ? tsdb_series_get(s, name) : NULL;
}

static void query_free(struct query *q)
{
    for (size_t i = 0; i < q->n; i++)
        tsdb_unpin(q->ser[i]);
    free(q->ser);
    if (q->blocks || q->nb)
        tsdb_blocks_release(q->blocks, q->nb);
    free(q->cursor);
    free(q->bcur);
    tbuf_free(&q->arena);
    free(q->cr);
    free(q->hfirst);
    free(q->hn);
    free(q->bs);
    memset(q, 0, sizeof(*q));
}

/* Matches and pins the series. */
static int query_match(struct query *q, struct tsdb *db, const struct matcher *m, size_t nm,
                       char *err, size_t errlen)
{
    uint32_t *ids;
    size_t nids;
    memset(q, 0, sizeof(*q));
    q->db = db;
    q->bs = malloc(sizeof(*q->bs));
    /* Never NULL, so q->cr + offset is always defined. */
    q->capcr = 64;
    q->cr = malloc(q->capcr * sizeof(*q->cr));
    if (!q->bs || !q->cr)
        goto oom;
    pthread_rwlock_rdlock(&db->lock);
    if (pindex_select_cb(&db->ix, m, nm, value_of, db, &ids, &nids) != 0) {
        pthread_rwlock_unlock(&db->lock);
        goto oom;
    }
    q->ser = malloc((nids ? nids : 1) * sizeof(*q->ser));
    if (!q->ser) {
        pthread_rwlock_unlock(&db->lock);
        free(ids);
        goto oom;
    }
    for (size_t i = 0; i < nids; i++) {
        struct mseries *s = idtab_get(&db->ids, ids[i]);
        if (s) {
            tsdb_pin(s);
            q->ser[q->n++] = s;
        }
    }
    pthread_rwlock_unlock(&db->lock);
    free(ids);
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* Copies head chunks of every series ([lo, hi], and the one before lo when
 * want_before), then references the blocks. */
static int query_collect(struct query *q, int64_t lo, int64_t hi, bool want_before, char *err,
                         size_t errlen)
{
    q->hfirst = malloc((q->n ? q->n : 1) * sizeof(*q->hfirst));
    q->hn = malloc((q->n ? q->n : 1) * sizeof(*q->hn));
    if (!q->hfirst || !q->hn)
        goto oom;
    for (size_t i = 0; i < q->n; i++) {
        q->hfirst[i] = q->ncr;
        if (tsdb_head_copy(q->db, q->ser[i], lo, hi, want_before, &q->arena, &q->cr, &q->ncr,
                           &q->capcr) != 0)
            goto oom;
        q->hn[i] = q->ncr - q->hfirst[i];
    }
    if (tsdb_blocks_acquire(q->db, &q->blocks, &q->nb) != 0)
        goto oom;
    q->cursor = calloc(q->nb ? q->nb : 1, sizeof(*q->cursor));
    q->bcur = calloc(q->nb ? q->nb : 1, sizeof(*q->bcur));
    if (!q->cursor || !q->bcur)
        goto oom;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

static const uint8_t *cref_data(const struct query *q, const struct cref *c)
{
    return c->data ? c->data : q->arena.p + c->off;
}

/* Scratch crefs for one series live after the head ones. */
static int push_cref(struct query *q, const struct bchunk *c)
{
    if (q->ncr == q->capcr) {
        size_t nc = q->capcr ? q->capcr * 2 : 64;
        struct cref *n = realloc(q->cr, nc * sizeof(*n));
        if (!n)
            return -1;
        q->cr = n;
        q->capcr = nc;
    }
    q->cr[q->ncr++] = (struct cref){.data = c->data,
                                    .len = c->len,
                                    .mint = c->mint,
                                    .maxt = c->maxt,
                                    .crc = c->crc,
                                    .check_crc = 1,
                                    .n = c->n,
                                    .step = c->step,
                                    .bare = c->bare};
    return 0;
}

/* Series local of block bi into q->bs, reading the block's entries in order. */
static int q_series(struct query *q, size_t bi, uint32_t local)
{
    const struct tsdb_block *b = q->blocks[bi];
    return tsdb_block_series_at(b->map, &b->info, NULL, local, q->bs, &q->bcur[bi]);
}

/* Adds the chunks of series local of block b overlapping [lo, hi] (and the
 * last one before lo when want_before). */
static int block_crefs(struct query *q, size_t bi, uint32_t local, int64_t lo, int64_t hi,
                       bool want_before)
{
    struct bchunk c, before = {0};
    bool have_before = false;
    int rc;
    const struct tsdb_block *b = q->blocks[bi];
    if (q_series(q, bi, local) != 0)
        return -1;
    while ((rc = tsdb_bseries_next_chunk(b->map, &b->info, q->bs, &c)) == 1) {
        if (c.maxt < lo) {
            before = c;
            have_before = true;
            continue;
        }
        if (c.mint > hi)
            break;
        if (want_before && have_before) {
            if (push_cref(q, &before) != 0)
                return -1;
            have_before = false;
        }
        if (push_cref(q, &c) != 0)
            return -1;
    }
    if (want_before && have_before && push_cref(q, &before) != 0)
        return -1;
    return rc < 0 ? -1 : 0;
}

struct samples {
    int64_t *t;
    double *v;
    size_t n, cap;
};

static int cmp_cref(const void *a, const void *b)
{
    const struct cref *x = a, *y = b;
    return x->mint < y->mint ? -1 : x->mint > y->mint;
}

struct tvo {
    int64_t t;
    double v;
    size_t ord;
};

static int cmp_tvo(const void *a, const void *b)
{
    const struct tvo *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->ord < y->ord ? -1 : x->ord > y->ord;
}

/*
 * Decodes crefs [first, first + n) into out, keeping samples in [lo, hi],
 * time-ordered with equal timestamps once. A damaged chunk is logged and
 * skipped. Returns 0 or -1 when out of memory.
 */
static int decode_crefs(struct query *q, struct cref *cr, size_t n, int64_t lo, int64_t hi,
                        struct samples *out)
{
    size_t total = 0;
    bool sorted = true;
    out->n = 0;
    if (n > 1)
        qsort(cr, n, sizeof(*cr), cmp_cref);
    for (size_t i = 0; i < n; i++)
        total += cr[i].n ? cr[i].n : chunk_count(cref_data(q, &cr[i]), cr[i].len);
    if (total > out->cap) {
        int64_t *nt = realloc(out->t, total * sizeof(*nt));
        if (!nt)
            return -1;
        out->t = nt;
        double *nv = realloc(out->v, total * sizeof(*nv));
        if (!nv)
            return -1;
        out->v = nv;
        out->cap = total;
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *d = cref_data(q, &cr[i]);
        struct chunk_iter it;
        int64_t t;
        double v;
        int rc;
        if ((cr[i].check_crc && tsdb_crc32c(0, d, cr[i].len) != cr[i].crc) ||
            tsdb_chunk_iter(&it, d, cr[i].len, cr[i].mint, cr[i].n, cr[i].step, cr[i].bare) != 0) {
            log_error("tsdb: a block chunk fails its checksum; its samples are skipped");
            continue;
        }
        while ((rc = chunk_iter_next(&it, &t, &v)) == 1 && out->n < out->cap) {
            if (t < lo)
                continue;
            if (t > hi)
                break;
            if (out->n > 0 && t <= out->t[out->n - 1])
                sorted = false;
            out->t[out->n] = t;
            out->v[out->n] = v;
            out->n++;
        }
        if (rc < 0)
            log_error("tsdb: a chunk is damaged; the rest of its samples are skipped");
    }
    if (sorted)
        return 0;
    struct tvo *x = malloc(out->n * sizeof(*x));
    if (!x)
        return -1;
    for (size_t i = 0; i < out->n; i++)
        x[i] = (struct tvo){out->t[i], out->v[i], i};
    qsort(x, out->n, sizeof(*x), cmp_tvo);
    size_t k = 0;
    for (size_t i = 0; i < out->n; i++) {
        if (k > 0 && out->t[k - 1] == x[i].t)
            continue;
        out->t[k] = x[i].t;
        out->v[k] = x[i].v;
        k++;
    }
    out->n = k;
    free(x);
    return 0;
}

/* Appends copies of series i's head crefs to the scratch area. */
static int head_crefs(struct query *q, size_t i)
{
    for (size_t k = 0; k < q->hn[i]; k++) {
        if (q->ncr == q->capcr) {
            size_t nc = q->capcr ? q->capcr * 2 : 64;
            struct cref *n = realloc(q->cr, nc * sizeof(*n));
            if (!n)
                return -1;
            q->cr = n;
            q->capcr = nc;
        }
        q->cr[q->ncr++] = q->cr[q->hfirst[i] + k];
    }
    return 0;
}

/* Collects the crefs of series i in the scratch area (from index scratch):
 * its head copies, then its block chunks. */
static int series_crefs(struct query *q, size_t i, size_t scratch, int64_t lo, int64_t hi,
                        bool want_before)
{
    q->ncr = scratch;
    if (head_crefs(q, i) != 0)
        return -1;
    for (size_t b = 0; b < q->nb; b++) {
        const struct tsdb_block *bl = q->blocks[b];
        int64_t local = tsdb_block_find(bl, q->ser[i]->id, &q->cursor[b]);
        if (local < 0 || bl->info.mint > hi || (!want_before && bl->info.maxt < lo))
            continue;
        if (block_crefs(q, b, (uint32_t)local, lo, hi, want_before) != 0)
            log_error("tsdb: block %s: series %lld is damaged; skipped", bl->path,
                      (long long)local);
    }
    return 0;
}

static int cmp_labelset(const struct labelset *a, const struct labelset *b)
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
    return a->n < b->n ? -1 : a->n > b->n;
}

static int cmp_series_out(const void *a, const void *b)
{
    return cmp_labelset(&((const struct tsdb_series *)a)->ls, &((const struct tsdb_series *)b)->ls);
}

static int cmp_rollup_out(const void *a, const void *b)
{
    return cmp_labelset(&((const struct tsdb_rollup_series *)a)->ls,
                        &((const struct tsdb_rollup_series *)b)->ls);
}

static int cmp_ls(const void *a, const void *b)
{
    return cmp_labelset(a, b);
}

void tsdb_series_free(struct tsdb_series *s, size_t n)
{
    if (!s)
        return;
    for (size_t i = 0; i < n; i++) {
        labels_free(&s[i].ls);
        free(s[i].t);
        free(s[i].v);
    }
    free(s);
}

int tsdb_select(struct tsdb *db, const struct matcher *m, size_t nm, int64_t mint, int64_t maxt,
                size_t max_samples, struct tsdb_series **out, size_t *n_out, char *err,
                size_t errlen)
{
    struct query q;
    struct tsdb_series *res = NULL;
    size_t nres = 0, total = 0;
    struct samples buf = {0};
    int rc = -1;

    *out = NULL;
    *n_out = 0;
    if (mint > maxt)
        return 0;
    if (query_match(&q, db, m, nm, err, errlen) != 0 ||
        query_collect(&q, mint, maxt, false, err, errlen) != 0) {
        rc = TSDB_ENOMEM;
        goto out;
    }
    res = calloc(q.n ? q.n : 1, sizeof(*res));
    if (!res)
        goto oom;
    size_t scratch = q.ncr;
    for (size_t i = 0; i < q.n; i++) {
        if (series_crefs(&q, i, scratch, mint, maxt, false) != 0 ||
            decode_crefs(&q, q.cr + scratch, q.ncr - scratch, mint, maxt, &buf) != 0)
            goto oom;
        if (buf.n == 0)
            continue;
        total += buf.n;
        if (max_samples && total > max_samples) {
            snprintf(err, errlen,
                     "the selection holds more than %zu samples (the query's limit); narrow "
                     "the matchers or the time range",
                     max_samples);
            rc = TSDB_ELIMIT_SAMPLES;
            goto out;
        }
        struct tsdb_series *o = &res[nres];
        o->t = malloc(buf.n * sizeof(*o->t));
        o->v = malloc(buf.n * sizeof(*o->v));
        if (!o->t || !o->v || tsdb_series_labelset(q.ser[i], &o->ls) != 0) {
            free(o->t);
            free(o->v);
            memset(o, 0, sizeof(*o));
            goto oom;
        }
        memcpy(o->t, buf.t, buf.n * sizeof(*o->t));
        memcpy(o->v, buf.v, buf.n * sizeof(*o->v));
        o->n = buf.n;
        nres++;
    }
    if (nres == 0) {
        free(res);
        res = NULL;
    }
    if (nres > 1)
        qsort(res, nres, sizeof(*res), cmp_series_out);
    *out = res;
    *n_out = nres;
    res = NULL;
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
    rc = TSDB_ENOMEM;
out:
    tsdb_series_free(res, nres);
    free(buf.t);
    free(buf.v);
    query_free(&q);
    return rc;
}

/* ---- rollups ---- */

void tsdb_rollup_series_free(struct tsdb_rollup_series *s, size_t n)
{
    if (!s)
        return;
    for (size_t i = 0; i < n; i++) {
        labels_free(&s[i].ls);
        free(s[i].b);
    }
    free(s);
}

/* The last non-NaN value of series local in b: from its stored rollups when
 * it has any, else from its chunks. */
static bool block_last_value(struct query *q, size_t bi, uint32_t local, double *out)
{
    const struct tsdb_block *b = q->blocks[bi];
    struct bchunk c;
    struct rollup_rec rec;
    bool found = false;
    if (q_series(q, bi, local) != 0)
        return false;
    if (q->bs->roll && tsdb_rollup_rec_parse(q->bs->roll, q->bs->roll_len, &b->info, &rec) == 0) {
        for (int ri = TSDB_NRES - 1; ri >= 0; ri--) {
            struct tsdb_bucket *bk;
            size_t nb;
            if (rec.has[ri] && tsdb_rollup_rec_buckets(&rec, ri, &bk, &nb) == 0) {
                if (nb > 0)
                    *out = bk[nb - 1].last;
                free(bk);
                if (nb > 0)
                    return true;
            }
        }
    }
    while (tsdb_bseries_next_chunk(b->map, &b->info, q->bs, &c) == 1) {
        struct chunk_iter it;
        int64_t t;
        double v;
        if (!tsdb_bchunk_ok(&c) || tsdb_bchunk_iter(&it, &c) != 0)
            return found;
        while (chunk_iter_next(&it, &t, &v) == 1) {
            if (v == v) {
                *out = v;
                found = true;
            }
        }
    }
    return found;
}

/* One source of a series' data within the query. */
struct seg {
    int64_t mint, maxt;
    int block; /* index into q->blocks, or -1 for the head */
    uint32_t local;
};

static int cmp_seg(const void *a, const void *b)
{
    const struct seg *x = a, *y = b;
    return x->mint < y->mint ? -1 : x->mint > y->mint;
}

static void feed(struct rollup_acc *acc, const struct samples *s)
{
    for (size_t i = 0; i < s->n; i++)
        rollup_acc_add(acc, s->t[i], s->v[i]);
}

/*
 * The buckets of series i over bucket starts [t0, t1]. Non-overlapping
 * sources are taken in time order, each from its stored rollups when it has
 * them at this resolution, else from its raw samples; the increase across a
 * source boundary runs from the previous source's last value to this one's
 * first. Overlapping sources (late data) are merged as raw samples.
 */
static int rollup_series(struct query *q, size_t i, int ri, int64_t t0, int64_t t1,
                         struct seg *segs, struct samples *buf, struct rollup_acc *acc)
{
    int64_t res = tsdb_rollup_res[ri], lo = t0, hi = t1 + res - 1;
    struct mseries *s = q->ser[i];
    size_t ns = 0, scratch = q->ncr;
    struct seg prev = {.block = -2};
    bool overlap = false;

    rollup_acc_init(acc, res, t0, t1);
    for (size_t b = 0; b < q->nb; b++) {
        const struct tsdb_block *bl = q->blocks[b];
        int64_t local = tsdb_block_find(bl, s->id, &q->cursor[b]);
        if (local < 0 || bl->info.mint > hi)
            continue;
        if (tsdb_block_series(bl->map, &bl->info, NULL, (uint32_t)local, q->bs) != 0)
            continue;
        struct seg sg = {q->bs->mint, q->bs->maxt, (int)b, (uint32_t)local};
        if (sg.mint > hi)
            continue;
        if (sg.maxt < lo) {
            if (prev.block == -2 || sg.maxt > prev.maxt) {
                if (prev.block != -2)
                    overlap |= prev.maxt >= sg.mint;
                prev = sg;
            }
            continue;
        }
        segs[ns++] = sg;
    }
    if (q->hn[i] > 0) {
        struct seg h = {INT64_MAX, INT64_MIN, -1, 0};
        for (size_t k = 0; k < q->hn[i]; k++) {
            const struct cref *c = &q->cr[q->hfirst[i] + k];
            if (c->mint < h.mint)
                h.mint = c->mint;
            if (c->maxt > h.maxt)
                h.maxt = c->maxt;
        }
        if (h.maxt >= lo)
            segs[ns++] = h;
        else if (prev.block == -2 || h.maxt > prev.maxt)
            prev = h;
    }
    if (ns > 1)
        qsort(segs, ns, sizeof(*segs), cmp_seg);
    for (size_t k = 0; k < ns; k++) {
        if ((k > 0 && segs[k].mint <= segs[k - 1].maxt) ||
            (prev.block != -2 && segs[k].mint <= prev.maxt))
            overlap = true;
    }

    if (overlap) {
        /* Raw: all sources' samples merged, from the chunk before lo on. */
        if (prev.block >= 0)
            segs[ns++] = prev;
        q->ncr = scratch;
        if (head_crefs(q, i) != 0)
            return -1;
        for (size_t k = 0; k < ns; k++)
            if (segs[k].block >= 0 &&
                block_crefs(q, (size_t)segs[k].block, segs[k].local, lo, hi, true) != 0)
                log_error("tsdb: a block series is damaged; skipped");
        if (decode_crefs(q, q->cr + scratch, q->ncr - scratch, INT64_MIN, hi, buf) != 0)
            return -1;
        feed(acc, buf);
        q->ncr = scratch;
        return acc->oom ? -1 : 0;
    }

    double pv = 0;
    if (prev.block >= 0 && block_last_value(q, (size_t)prev.block, prev.local, &pv)) {
        acc->prev = pv;
        acc->have_prev = true;
    } else if (prev.block == -1) {
        /* The head ends before lo: its copied chunk is the one before lo. */
        if (decode_crefs(q, q->cr + q->hfirst[i], q->hn[i], INT64_MIN, hi, buf) != 0)
            return -1;
        feed(acc, buf);
    }
    for (size_t k = 0; k < ns; k++) {
        const struct seg *sg = &segs[k];
        struct rollup_rec rec;
        if (sg->block >= 0) {
            const struct tsdb_block *bl = q->blocks[sg->block];
            struct tsdb_bucket *bk = NULL;
            size_t nb = 0;
            if (q_series(q, (size_t)sg->block, sg->local) == 0 && q->bs->roll &&
                tsdb_rollup_rec_parse(q->bs->roll, q->bs->roll_len, &bl->info, &rec) == 0 &&
                rec.has[ri] && tsdb_rollup_rec_buckets(&rec, ri, &bk, &nb) == 0) {
                __atomic_fetch_add(&q->db->stored_rollup_reads, 1, __ATOMIC_RELAXED);
                if (nb > 0 && bk[0].t >= t0 && acc->have_prev && rec.has_first)
                    bk[0].inc += tsdb_counter_delta(acc->prev, rec.first);
                for (size_t x = 0; x < nb; x++) {
                    if (bk[x].t < t0) {
                        acc->prev = bk[x].last;
                        acc->have_prev = true;
                    } else {
                        rollup_acc_push(acc, &bk[x]);
                    }
                }
                free(bk);
                continue;
            }
            q->ncr = scratch;
            if (block_crefs(q, (size_t)sg->block, sg->local, lo, hi, true) != 0) {
                log_error("tsdb: block %s: a series is damaged; skipped", bl->path);
                continue;
            }
        } else {
            q->ncr = scratch;
            if (head_crefs(q, i) != 0)
                return -1;
        }
        if (decode_crefs(q, q->cr + scratch, q->ncr - scratch, INT64_MIN, hi, buf) != 0)
            return -1;
        feed(acc, buf);
    }
    q->ncr = scratch;
    return acc->oom ? -1 : 0;
}

int tsdb_select_rollup(struct tsdb *db, int64_t resolution_ms, const struct matcher *m, size_t nm,
                       int64_t mint, int64_t maxt, size_t max_buckets,
                       struct tsdb_rollup_series **out, size_t *n_out, char *err, size_t errlen)
{
    struct query q;
    struct tsdb_rollup_series *res = NULL;
    size_t nres = 0, total = 0;
    struct samples buf = {0};
    struct seg *segs = NULL;
    int ri, rc = -1;

    *out = NULL;
    *n_out = 0;
    memset(&q, 0, sizeof(q));
    if (resolution_ms == TSDB_ROLLUP_5M)
        ri = 0;
    else if (resolution_ms == TSDB_ROLLUP_1H)
        ri = 1;
    else {
        snprintf(err, errlen, "rollup resolution %lld ms is not one of 300000 (5m) or 3600000 (1h)",
                 (long long)resolution_ms);
        return TSDB_EINVAL;
    }
    if (mint < -TSDB_T_LIMIT)
        mint = -TSDB_T_LIMIT;
    if (maxt > TSDB_T_LIMIT)
        maxt = TSDB_T_LIMIT;
    int64_t t0 = -tsdb_align_down(-mint, resolution_ms), t1 = tsdb_align_down(maxt, resolution_ms);
    if (t0 > t1)
        return 0;
    int64_t lo = t0, hi = t1 + resolution_ms - 1;
    if (query_match(&q, db, m, nm, err, errlen) != 0 ||
        query_collect(&q, lo, hi, true, err, errlen) != 0) {
        rc = TSDB_ENOMEM;
        goto out;
    }
    res = calloc(q.n ? q.n : 1, sizeof(*res));
    segs = malloc((q.nb + 2) * sizeof(*segs));
    if (!res || !segs)
        goto oom;
    for (size_t i = 0; i < q.n; i++) {
        struct rollup_acc acc;
        if (rollup_series(&q, i, ri, t0, t1, segs, &buf, &acc) != 0) {
            rollup_acc_free(&acc);
            goto oom;
        }
        if (acc.n == 0) {
            rollup_acc_free(&acc);
            continue;
        }
        total += acc.n;
        if (max_buckets && total > max_buckets) {
            rollup_acc_free(&acc);
            snprintf(err, errlen,
                     "the selection holds more than %zu buckets (the query's limit); narrow the "
                     "matchers or the time range",
                     max_buckets);
            rc = TSDB_ELIMIT_SAMPLES;
            goto out;
        }
        if (tsdb_series_labelset(q.ser[i], &res[nres].ls) != 0) {
            rollup_acc_free(&acc);
            goto oom;
        }
        res[nres].b = acc.b;
        res[nres].n = acc.n;
        nres++;
    }
    if (nres == 0) {
        free(res);
        res = NULL;
    }
    if (nres > 1)
        qsort(res, nres, sizeof(*res), cmp_rollup_out);
    *out = res;
    *n_out = nres;
    res = NULL;
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
    rc = TSDB_ENOMEM;
out:
    tsdb_rollup_series_free(res, nres);
    free(segs);
    free(buf.t);
    free(buf.v);
    query_free(&q);
    return rc;
}

/* ---- listings ---- */

/* Whether series i has a sample in [mint, maxt] (q collected without
 * copying head data: the head is checked under its lock here). */
static bool has_data(struct query *q, size_t i, int64_t mint, int64_t maxt)
{
    struct mseries *s = q->ser[i];
    bool found = false;
    pthread_mutex_lock(tsdb_stripe(q->db, s));
    for (const struct hchunk *c = s->chunks; c && !found; c = c->next)
        found = c->mint <= maxt && c->maxt >= mint;
    if (!found && tsdb_open_count(s) > 0)
        found = s->open->mint <= maxt && s->last_t >= mint;
    pthread_mutex_unlock(tsdb_stripe(q->db, s));
    for (size_t b = 0; b < q->nb && !found; b++) {
        const struct tsdb_block *bl = q->blocks[b];
        int64_t local = tsdb_block_find(bl, s->id, &q->cursor[b]);
        if (local < 0 || bl->info.mint > maxt || bl->info.maxt < mint)
            continue;
        if (bl->info.mint >= mint && bl->info.maxt <= maxt) {
            found = true; /* the whole block is in range */
            break;
        }
        struct bchunk c;
        if (q_series(q, b, (uint32_t)local) != 0)
            continue;
        while (!found && tsdb_bseries_next_chunk(bl->map, &bl->info, q->bs, &c) == 1)
            found = c.mint <= maxt && c.maxt >= mint;
    }
    return found;
}

/* Matches, then keeps the series with data in [mint, maxt] in q->ser. */
static int query_in_range(struct query *q, struct tsdb *db, const struct matcher *m, size_t nm,
                          int64_t mint, int64_t maxt, char *err, size_t errlen)
{
    if (query_match(q, db, m, nm, err, errlen) != 0)
        return -1;
    if (tsdb_blocks_acquire(db, &q->blocks, &q->nb) != 0 ||
        !(q->cursor = calloc(q->nb ? q->nb : 1, sizeof(*q->cursor))) ||
        !(q->bcur = calloc(q->nb ? q->nb : 1, sizeof(*q->bcur)))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < q->n; i++) {
        if (mint <= maxt && has_data(q, i, mint, maxt))
            q->ser[k++] = q->ser[i];
        else
            tsdb_unpin(q->ser[i]);
    }
    q->n = k;
    return 0;
}

void tsdb_labelsets_free(struct labelset *ls, size_t n)
{
    if (!ls)
        return;
    for (size_t i = 0; i < n; i++)
        labels_free(&ls[i]);
    free(ls);
}

int tsdb_series_labels(struct tsdb *db, const struct matcher *m, size_t nm, int64_t mint,
                       int64_t maxt, size_t limit, struct labelset **out, size_t *n_out, char *err,
                       size_t errlen)
{
    struct query q;
    struct labelset *ls = NULL;
    size_t n = 0;
    int rc = TSDB_ENOMEM;

    *out = NULL;
    *n_out = 0;
    memset(&q, 0, sizeof(q));
    if (query_in_range(&q, db, m, nm, mint, maxt, err, errlen) != 0)
        goto out;
    ls = calloc(q.n ? q.n : 1, sizeof(*ls));
    if (!ls)
        goto oom;
    for (; n < q.n; n++)
        if (tsdb_series_labelset(q.ser[n], &ls[n]) != 0)
            goto oom;
    if (n == 0) {
        free(ls);
        ls = NULL;
    }
    if (n > 1)
        qsort(ls, n, sizeof(*ls), cmp_ls);
    if (limit && n > limit) {
        for (size_t i = limit; i < n; i++)
            labels_free(&ls[i]);
        n = limit;
    }
    *out = ls;
    *n_out = n;
    ls = NULL;
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    tsdb_labelsets_free(ls, n);
    query_free(&q);
    return rc;
}

void tsdb_strings_free(char **s, size_t n)
{
    if (!s)
        return;
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds s to the set (copied) unless present. */
static int set_add(struct strmap *set, char ***v, size_t *n, size_t *cap, const char *s)
{
    if (strmap_get(set, s))
        return 0;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        char **nv = realloc(*v, nc * sizeof(*nv));
        if (!nv)
            return -1;
        *v = nv;
        *cap = nc;
    }
    char *copy = strdup(s);
    if (!copy || strmap_put(set, copy, copy) != 0) {
        free(copy);
        return -1;
    }
    (*v)[(*n)++] = copy;
    return 0;
}

int tsdb_label_values(struct tsdb *db, const char *name, const struct matcher *m, size_t nm,
                      int64_t mint, int64_t maxt, char ***out, size_t *n_out, char *err,
                      size_t errlen)
{
    struct query q;
    struct strmap set = {0};
    char **v = NULL;
    size_t n = 0, cap = 0;
    int rc = TSDB_ENOMEM;
    struct tsdb_stats st;

    *out = NULL;
    *n_out = 0;
    memset(&q, 0, sizeof(q));
    tsdb_stats(db, &st);
    if (nm == 0 && mint <= st.min_time && maxt >= st.max_time) {
        /* Every series and all of time: straight from the index (series
         * without samples only linger there until the next maintenance). */
        pthread_rwlock_rdlock(&db->lock);
        const struct strmap *src = &db->ix.names;
        const struct lname *ln = NULL;
        if (name) {
            ln = strmap_get(&db->ix.names, name);
            src = ln ? &ln->values : NULL;
        }
        for (size_t i = 0; src && i < src->cap; i++) {
            if (!src->slots[i].hash)
                continue;
            if (ln && ((const struct postings *)src->slots[i].value)->n == 0)
                continue;
            if (set_add(&set, &v, &n, &cap, src->slots[i].key) != 0) {
                pthread_rwlock_unlock(&db->lock);
                goto oom;
            }
        }
        pthread_rwlock_unlock(&db->lock);
    } else {
        if (query_in_range(&q, db, m, nm, mint, maxt, err, errlen) != 0)
            goto out;
        for (size_t i = 0; i < q.n; i++) {
            const struct mseries *s = q.ser[i];
            for (uint32_t k = 0; k < s->nlab; k++) {
                const char *lname = s->lp[k]->ln->name, *val = s->lp[k]->value;
                if (!name && set_add(&set, &v, &n, &cap, lname) != 0)
                    goto oom;
                if (name && strcmp(lname, name) == 0 && set_add(&set, &v, &n, &cap, val) != 0)
                    goto oom;
            }
        }
    }
    if (n)
        qsort(v, n, sizeof(*v), cmp_str);
    *out = v;
    *n_out = n;
    v = NULL;
    n = 0;
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    strmap_free(&set);
    tsdb_strings_free(v, n);
    query_free(&q);
    return rc;
}
