/*
 * tsdb_maint.c - the maintenance pass: persisting the head into blocks,
 * checkpointing the log, compaction, retention and freeing series.
 *
 * Persisting: every complete block range that ended at least half a block
 * range ago (so the head holds between half a range and one and a half, as
 * Prometheus's does) is written as one block per range, each series'
 * samples of the range re-encoded into as few chunks as possible. The block
 * is added to the list before the head drops the chunks, so a query always
 * finds the samples in one place or the other (or both: queries dedupe).
 *
 * Compaction: block ranges form levels of block_ms times 3, 9, 27, ... up to
 * a tenth of the retention and at most 31 days. Blocks inside one window of
 * a level whose window lies wholly in the persisted past are merged into one
 * block spanning the window; overlapping blocks (late data) are merged
 * first. A merged block lists the blocks it replaces, so after a crash
 * between writing it and deleting them the next open deletes them.
 *
 * Retention drops blocks whose newest possible sample is older than now
 * minus the retention, then the oldest blocks while the blocks and the log
 * together exceed the size limit.
 */
#include "tsdb_int.h"

#include "../base/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Growable sample arrays. */
struct samples {
    int64_t *t;
    double *v;
    size_t n, cap;
};

static int samples_reserve(struct samples *s, size_t extra)
{
    if (s->cap - s->n >= extra)
        return 0;
    size_t nc = s->cap ? s->cap : 1024;
    while (nc - s->n < extra)
        nc *= 2;
    int64_t *nt = realloc(s->t, nc * sizeof(*nt));
    if (!nt)
        return -1;
    s->t = nt;
    double *nv = realloc(s->v, nc * sizeof(*nv));
    if (!nv)
        return -1;
    s->v = nv;
    s->cap = nc;
    return 0;
}

static void samples_free(struct samples *s)
{
    free(s->t);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

/* Decodes a chunk (with what its metadata says, see chunk_iter_init_meta)
 * onto the end of out. -1 when corrupt or out of memory. */
static int decode_into(const uint8_t *data, size_t len, int64_t mint, uint32_t mn, uint64_t step,
                       bool bare, struct samples *out)
{
    struct chunk_iter it;
    int64_t t;
    double v;
    int rc;
    if (tsdb_chunk_iter(&it, data, len, mint, mn, step, bare) != 0)
        return -1;
    uint32_t n = it.n;
    if (samples_reserve(out, n ? n : 1) != 0)
        return -1;
    while ((rc = chunk_iter_next(&it, &t, &v)) == 1) {
        if (out->n == out->cap && samples_reserve(out, 1024) != 0)
            return -1;
        out->t[out->n] = t;
        out->v[out->n] = v;
        out->n++;
    }
    return rc == 0 ? 0 : -1;
}

/* ---- persisting the head ---- */

struct pser {
    struct mseries *s;
    size_t first, n, cur;
};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Writes and registers one block from samples the caller gathers. */
static int finish_block(struct tsdb *db, struct tsdb_bwriter *w, struct tsdb_block **out, char *err,
                        size_t errlen)
{
    char *path;
    uint32_t *gids;
    char lerr[400];
    *out = NULL;
    if (tsdb_bw_finish(w, &path, &gids, err, errlen) != 0)
        return -1;
    if (tsdb_block_load(db, path, gids, out, lerr, sizeof(lerr)) != 0) {
        snprintf(err, errlen, "the block just written does not read back: %s", lerr);
        unlink(path);
        free(path);
        return -1;
    }
    free(path);
    tsdb_blocks_add(db, *out);
    return 0;
}

int tsdb_persist_head(struct tsdb *db, int64_t boundary, bool *persisted, char *err, size_t errlen)
{
    struct mseries **list = NULL;
    size_t nlist = 0, npc = 0, cappc = 0, nps = 0;
    struct hchunk **pc = NULL;
    struct pser *ps = NULL;
    int64_t *ranges = NULL;
    struct samples buf = {0};
    int64_t failed_range = INT64_MAX;
    int rc = -1;

    *persisted = false;
    pthread_rwlock_rdlock(&db->lock);
    int lrc = idtab_list(&db->ids, true, &list, &nlist);
    pthread_rwlock_unlock(&db->lock);
    if (lrc != 0 || !(ps = malloc((nlist ? nlist : 1) * sizeof(*ps)))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    /* The chunks to persist: a prefix of each series' sealed chunks. Only
     * maintenance removes chunks, so the pointers stay valid unlocked. */
    for (size_t i = 0; i < nlist; i++) {
        struct mseries *s = list[i];
        size_t first = npc;
        pthread_mutex_lock(tsdb_stripe(db, s));
        int src = 0;
        if (tsdb_open_count(s) > 0 && s->last_t < boundary)
            src = tsdb_head_seal(db, s);
        for (struct hchunk *c = s->chunks; c && c->maxt < boundary && src == 0; c = c->next) {
            if (npc == cappc) {
                size_t nc = cappc ? cappc * 2 : 1024;
                struct hchunk **np = realloc(pc, nc * sizeof(*np));
                if (!np) {
                    src = -1;
                    break;
                }
                pc = np;
                cappc = nc;
            }
            pc[npc++] = c;
        }
        pthread_mutex_unlock(tsdb_stripe(db, s));
        if (src != 0) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        if (npc > first)
            ps[nps++] = (struct pser){s, first, npc - first, 0};
    }
    if (npc == 0) {
        rc = 0;
        goto out;
    }
    ranges = malloc(npc * sizeof(*ranges));
    if (!ranges) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < npc; i++)
        ranges[i] = tsdb_floor_div(pc[i]->mint, db->block_ms);
    qsort(ranges, npc, sizeof(*ranges), cmp_i64);
    size_t nr = 0;
    for (size_t i = 0; i < npc; i++)
        if (nr == 0 || ranges[nr - 1] != ranges[i])
            ranges[nr++] = ranges[i];

    rc = 0;
    for (size_t r = 0; r < nr && rc == 0; r++) {
        int64_t mint = ranges[r] * db->block_ms, maxt = mint + db->block_ms - 1;
        struct tsdb_bwriter *w = NULL;
        struct tsdb_block *b;
        rc = tsdb_bw_open(&w, db->blocks_dir, mint, maxt, db->next_seq++, NULL, 0, err, errlen);
        for (size_t i = 0; i < nps && rc == 0; i++) {
            struct pser *p = &ps[i];
            buf.n = 0;
            while (p->cur < p->n &&
                   tsdb_floor_div(pc[p->first + p->cur]->mint, db->block_ms) == ranges[r]) {
                const struct hchunk *c = pc[p->first + p->cur];
                if (decode_into(c->data, c->len, c->mint, c->n, tsdb_hchunk_step(c), false, &buf) !=
                    0) {
                    snprintf(err, errlen, "a head chunk does not decode (out of memory?)");
                    rc = -1;
                    break;
                }
                p->cur++;
            }
            if (rc == 0 && buf.n > 0)
                rc = tsdb_bw_add(w, p->s->id, p->s, buf.t, buf.v, buf.n, err, errlen);
        }
        if (rc == 0) {
            rc = finish_block(db, w, &b, err, errlen);
            if (rc == 0)
                log_info("tsdb: persisted %s: %u series, %" PRIu64 " samples", b->path,
                         b->info.nseries, b->info.nsamples);
        } else if (w) {
            tsdb_bw_abort(w);
        }
        if (rc != 0)
            failed_range = ranges[r];
    }
    /* Drop what is now in blocks: for each series the chunks of the ranges
     * that were written, a prefix of its list. */
    uint64_t dropped = 0, freed = 0;
    for (size_t i = 0; i < nps; i++) {
        struct pser *p = &ps[i];
        size_t m = 0;
        while (m < p->n && tsdb_floor_div(pc[p->first + m]->mint, db->block_ms) < failed_range)
            m++;
        if (m == 0)
            continue;
        struct mseries *s = p->s;
        pthread_mutex_lock(tsdb_stripe(db, s));
        for (size_t k = 0; k < m; k++) {
            struct hchunk *c = s->chunks;
            if (c != pc[p->first + k])
                break; /* cannot happen: only maintenance removes chunks */
            s->chunks = c->next;
        }
        pthread_mutex_unlock(tsdb_stripe(db, s));
        for (size_t k = 0; k < m; k++) {
            dropped += pc[p->first + k]->n;
            freed += TSDB_HCHUNK_SIZE(pc[p->first + k]->len);
            free(pc[p->first + k]);
        }
        *persisted = true;
    }
    __atomic_fetch_sub(&db->head_samples, dropped, __ATOMIC_RELAXED);
    __atomic_fetch_sub(&db->chunk_bytes, freed, __ATOMIC_RELAXED);
    /* The head's oldest sample moved: find it again. */
    int64_t hmint = INT64_MAX;
    for (size_t i = 0; i < nlist; i++) {
        int64_t a, b;
        pthread_mutex_lock(tsdb_stripe(db, list[i]));
        if (tsdb_head_range(list[i], &a, &b) && a < hmint)
            hmint = a;
        pthread_mutex_unlock(tsdb_stripe(db, list[i]));
    }
    __atomic_store_n(&db->head_mint, hmint, __ATOMIC_RELAXED);
out:
    samples_free(&buf);
    free(ranges);
    free(ps);
    free(pc);
    free(list);
    return rc;
}

/* ---- block list changes ---- */

/* Takes blocks out of the list, their series' references and their files. */
static void blocks_drop(struct tsdb *db, struct tsdb_block **v, size_t n, const char *why)
{
    pthread_mutex_lock(&db->blocks_mu);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < db->nblocks; j++) {
            if (db->blocks[j] == v[i]) {
                memmove(db->blocks + j, db->blocks + j + 1,
                        (db->nblocks - j - 1) * sizeof(*db->blocks));
                db->nblocks--;
                break;
            }
        }
    }
    pthread_mutex_unlock(&db->blocks_mu);
    pthread_rwlock_wrlock(&db->lock);
    for (size_t i = 0; i < n; i++) {
        for (uint32_t k = 0; k < v[i]->info.nseries; k++) {
            struct mseries *s = idtab_get(&db->ids, v[i]->gids[k]);
            if (s && s->block_refs > 0)
                s->block_refs--;
        }
    }
    pthread_rwlock_unlock(&db->lock);
    for (size_t i = 0; i < n; i++) {
        if (why)
            log_info("tsdb: removing block %s (%s)", v[i]->path, why);
        if (unlink(v[i]->path) != 0)
            log_warn("tsdb: cannot remove %s: %s", v[i]->path, strerror(errno));
        tsdb_block_unref(v[i]); /* the list's reference; open queries keep theirs */
    }
}

/* ---- compaction ---- */

struct tv {
    int64_t t;
    double v;
    size_t ord;
};

static int cmp_tv(const void *a, const void *b)
{
    const struct tv *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->ord < y->ord ? -1 : x->ord > y->ord;
}

/* Sorts by time (stable) and keeps the first of equal timestamps. */
static int sort_dedupe(struct samples *s)
{
    bool sorted = true;
    for (size_t i = 1; i < s->n && sorted; i++)
        sorted = s->t[i] > s->t[i - 1];
    if (sorted)
        return 0;
    struct tv *x = malloc(s->n * sizeof(*x));
    if (!x)
        return -1;
    for (size_t i = 0; i < s->n; i++)
        x[i] = (struct tv){s->t[i], s->v[i], i};
    qsort(x, s->n, sizeof(*x), cmp_tv);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (k > 0 && s->t[k - 1] == x[i].t)
            continue;
        s->t[k] = x[i].t;
        s->v[k] = x[i].v;
        k++;
    }
    s->n = k;
    free(x);
    return 0;
}

static int compact_group(struct tsdb *db, struct tsdb_block **g, size_t ng, int64_t mint,
                         int64_t maxt, char *err, size_t errlen)
{
    uint64_t *parents = malloc(ng * sizeof(*parents));
    size_t *cur = calloc(ng, sizeof(*cur));
    struct bcursor *bcur = calloc(ng, sizeof(*bcur));
    struct bseries *bs = malloc(sizeof(*bs));
    uint32_t *ids = NULL;
    size_t nids = 0;
    struct samples buf = {0};
    struct tsdb_bwriter *w = NULL;
    struct tsdb_block *nb;
    int rc = -1;

    if (!parents || !cur || !bcur || !bs) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < ng; i++) {
        parents[i] = g[i]->info.seq;
        nids += g[i]->info.nseries;
    }
    ids = malloc((nids ? nids : 1) * sizeof(*ids));
    if (!ids) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    nids = 0;
    for (size_t i = 0; i < ng; i++) {
        memcpy(ids + nids, g[i]->gids, g[i]->info.nseries * sizeof(*ids));
        nids += g[i]->info.nseries;
    }
    nids = ids_sort_unique(ids, nids);
    if (tsdb_bw_open(&w, db->blocks_dir, mint, maxt, db->next_seq++, parents, ng, err, errlen) != 0)
        goto out;
    for (size_t k = 0; k < nids; k++) {
        pthread_rwlock_rdlock(&db->lock);
        struct mseries *s = idtab_get(&db->ids, ids[k]);
        pthread_rwlock_unlock(&db->lock);
        if (!s) {
            snprintf(err, errlen, "series %u of a block is not registered", ids[k]);
            goto out;
        }
        buf.n = 0;
        for (size_t i = 0; i < ng; i++) {
            int64_t local = tsdb_block_find(g[i], ids[k], &cur[i]);
            if (local < 0)
                continue;
            struct bchunk c;
            int crc;
            if (tsdb_block_series_at(g[i]->map, &g[i]->info, NULL, (uint32_t)local, bs, &bcur[i]) !=
                0)
                goto corrupt;
            while ((crc = tsdb_bseries_next_chunk(g[i]->map, &g[i]->info, bs, &c)) == 1)
                if (!tsdb_bchunk_ok(&c) ||
                    decode_into(c.data, c.len, c.mint, c.n, c.step, c.bare, &buf) != 0)
                    goto corrupt;
            if (crc != 0)
                goto corrupt;
            continue;
        corrupt:
            snprintf(err, errlen, "block %s: series %u is damaged; not compacting it", g[i]->path,
                     (unsigned)local);
            goto out;
        }
        if (sort_dedupe(&buf) != 0) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        /* Drop what lies outside the window (only a damaged block has any). */
        size_t lo = 0, hi = buf.n;
        while (lo < hi && buf.t[lo] < mint)
            lo++;
        while (hi > lo && buf.t[hi - 1] > maxt)
            hi--;
        if (hi > lo && tsdb_bw_add(w, ids[k], s, buf.t + lo, buf.v + lo, hi - lo, err, errlen) != 0)
            goto out;
    }
    if (tsdb_bw_count(w) == 0) {
        /* Nothing of the blocks lies in the window (only damage does that). */
        blocks_drop(db, g, ng, "no samples in its range");
        rc = 0;
        goto out;
    }
    rc = finish_block(db, w, &nb, err, errlen);
    w = NULL;
    if (rc == 0) {
        log_info("tsdb: compacted %zu blocks into %s: %u series, %" PRIu64 " samples", ng, nb->path,
                 nb->info.nseries, nb->info.nsamples);
        blocks_drop(db, g, ng, NULL);
    }
out:
    tsdb_bw_abort(w);
    samples_free(&buf);
    free(ids);
    free(bs);
    free(cur);
    free(bcur);
    free(parents);
    return rc;
}

static int64_t block_span(const struct tsdb_block *b)
{
    return b->info.maxt - b->info.mint + 1;
}

/*
 * Picks one group of blocks to merge: a run of overlapping blocks, or the
 * blocks of one complete window of the smallest level that has two.
 * Returns the group size (0: nothing to do) with its range.
 */
static size_t plan(struct tsdb *db, struct tsdb_block **b, size_t n, int64_t done, size_t *start,
                   int64_t *mint, int64_t *maxt)
{
    /* Overlaps first (the list is sorted by mint). */
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        int64_t hi = b[i]->info.maxt;
        while (j < n && b[j]->info.mint <= hi) {
            if (b[j]->info.maxt > hi)
                hi = b[j]->info.maxt;
            j++;
        }
        if (j - i >= 2) {
            *start = i;
            *mint = b[i]->info.mint;
            *maxt = hi;
            return j - i;
        }
        i = j;
    }
    int64_t maxr = TSDB_MAX_BLOCK_MS;
    if (db->opt.retention_ms > 0 && db->opt.retention_ms / 10 < maxr)
        maxr = db->opt.retention_ms / 10;
    for (int64_t r = db->block_ms * 3; r <= maxr && r > 0; r *= 3) {
        for (size_t i = 0; i < n;) {
            int64_t w = tsdb_align_down(b[i]->info.mint, r);
            size_t j = i;
            while (j < n && block_span(b[j]) < r && tsdb_align_down(b[j]->info.mint, r) == w &&
                   tsdb_align_down(b[j]->info.maxt, r) == w)
                j++;
            if (j - i >= 2 && w + r <= done) {
                *start = i;
                *mint = w;
                *maxt = w + r - 1;
                return j - i;
            }
            i = j > i ? j : i + 1;
        }
        if (r > INT64_MAX / 3)
            break;
    }
    return 0;
}

static int compact(struct tsdb *db, int64_t done, char *err, size_t errlen)
{
    int rc = 0;
    /* Bounded, so one pass cannot run for ever on a pathological layout. */
    for (int round = 0; round < 64 && rc == 0; round++) {
        struct tsdb_block **b;
        size_t n, start, ng;
        int64_t mint, maxt;
        if (tsdb_blocks_acquire(db, &b, &n) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        ng = plan(db, b, n, done, &start, &mint, &maxt);
        if (ng > 0)
            rc = compact_group(db, b + start, ng, mint, maxt, err, errlen);
        tsdb_blocks_release(b, n);
        if (ng == 0)
            break;
    }
    return rc;
}

/* ---- retention ---- */

static int cmp_block_maxt(const void *a, const void *b)
{
    const struct tsdb_block *x = *(struct tsdb_block *const *)a;
    const struct tsdb_block *y = *(struct tsdb_block *const *)b;
    if (x->info.maxt != y->info.maxt)
        return x->info.maxt < y->info.maxt ? -1 : 1;
    return x->info.seq < y->info.seq ? -1 : x->info.seq > y->info.seq;
}

static void retention(struct tsdb *db, int64_t now)
{
    struct tsdb_block **b, **drop;
    size_t n, nd = 0;
    if (db->opt.retention_ms <= 0 && db->opt.retention_bytes == 0)
        return;
    if (tsdb_blocks_acquire(db, &b, &n) != 0 || n == 0)
        return;
    drop = malloc(n * sizeof(*drop));
    if (!drop) {
        tsdb_blocks_release(b, n);
        return;
    }
    qsort(b, n, sizeof(*b), cmp_block_maxt);
    size_t i = 0;
    if (db->opt.retention_ms > 0)
        for (; i < n && b[i]->info.maxt < now - db->opt.retention_ms; i++)
            drop[nd++] = b[i];
    if (nd)
        blocks_drop(db, drop, nd, "older than the retention");
    if (db->opt.retention_bytes > 0) {
        uint64_t total = __atomic_load_n(&db->wal.bytes, __ATOMIC_RELAXED);
        for (size_t k = i; k < n; k++)
            total += b[k]->size;
        nd = 0;
        for (; i < n && total > db->opt.retention_bytes; i++) {
            total -= b[i]->size;
            drop[nd++] = b[i];
        }
        if (nd)
            blocks_drop(db, drop, nd, "over the size retention");
    }
    free(drop);
    tsdb_blocks_release(b, n);
}

/* ---- series ---- */

static bool id_dead(void *ctx, uint32_t id)
{
    struct tsdb *db = ctx;
    return idtab_get(&db->ids, id) == NULL;
}

void tsdb_gc_series(struct tsdb *db)
{
    struct mseries **all;
    size_t n, ndead = 0;
    pthread_rwlock_wrlock(&db->lock);
    if (idtab_list(&db->ids, false, &all, &n) != 0) {
        pthread_rwlock_unlock(&db->lock);
        return;
    }
    struct mseries **dead = malloc((n ? n : 1) * sizeof(*dead));
    if (!dead) {
        pthread_rwlock_unlock(&db->lock);
        free(all);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct mseries *s = all[i];
        /* Unpinned under the write lock: no appender or query can reach s. */
        if (__atomic_load_n(&s->pins, __ATOMIC_ACQUIRE) != 0)
            continue;
        if (s->in_head && !s->chunks && tsdb_open_count(s) == 0) {
            s->in_head = 0;
            db->head_series--;
            if (s->src && s->src->nseries > 0)
                s->src->nseries--;
            if (s->open) {
                size_t mem = chunk_enc_memory(s->open) + sizeof(*s->open);
                chunk_enc_free(s->open);
                free(s->open);
                s->open = NULL;
                __atomic_fetch_sub(&db->chunk_bytes, (uint64_t)mem, __ATOMIC_RELAXED);
            }
        }
        if (!s->in_head && s->block_refs == 0) {
            smap_remove(&db->map, s);
            idtab_clear(&db->ids, s->id);
            dead[ndead++] = s;
        }
    }
    if (ndead > 0) {
        /* Hints to the dead go: a dead series is no longer in the id table. */
        for (size_t i = 0; i < n; i++) {
            struct mseries *h = all[i]->next_hint;
            if (h && idtab_get(&db->ids, h->id) != h)
                all[i]->next_hint = NULL;
        }
        pindex_remove(&db->ix, id_dead, db);
    }
    for (size_t i = 0; i < ndead; i++)
        tsdb_mseries_free(db, dead[i]);
    free(dead);
    pthread_rwlock_unlock(&db->lock);
    free(all);
}

/* ---- the passes ---- */

int tsdb_maintain(struct tsdb *db, int64_t now_ms, char *err, size_t errlen)
{
    bool persisted;
    char e2[512];
    int rc;

    pthread_mutex_lock(&db->maint_mu);
    __atomic_store_n(&db->now_ms, now_ms, __ATOMIC_RELAXED);
    int64_t done = now_ms < -TSDB_T_LIMIT || now_ms > TSDB_T_LIMIT
                       ? INT64_MIN
                       : tsdb_align_down(now_ms - db->block_ms / 2, db->block_ms);
    rc = tsdb_persist_head(db, done, &persisted, err, errlen);
    if (rc == 0 && persisted)
        rc = tsdb_wal_checkpoint(db, err, errlen);
    if (compact(db, done, e2, sizeof(e2)) != 0) {
        log_error("tsdb: compaction: %s", e2);
        if (rc == 0) {
            snprintf(err, errlen, "compaction: %s", e2);
            rc = -1;
        }
    }
    retention(db, now_ms);
    tsdb_gc_series(db);
    if (tsdb_wal_sync(db) != 0 && rc == 0) {
        snprintf(err, errlen, "cannot sync the log: %s", strerror(errno));
        rc = -1;
    }
    pthread_mutex_unlock(&db->maint_mu);
    return rc;
}

int tsdb_flush(struct tsdb *db, char *err, size_t errlen)
{
    bool persisted;
    pthread_mutex_lock(&db->maint_mu);
    int rc = tsdb_persist_head(db, INT64_MAX, &persisted, err, errlen);
    if (rc == 0)
        rc = tsdb_wal_checkpoint(db, err, errlen);
    tsdb_gc_series(db);
    pthread_mutex_unlock(&db->maint_mu);
    return rc;
}
