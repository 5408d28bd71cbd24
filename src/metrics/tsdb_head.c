/*
 * tsdb_head.c - series in memory: creation in the registry, appends to the
 * open chunk, sealing chunks (as soon as one holds TSDB_HEAD_CHUNK_SAMPLES
 * samples, or when a sample falls in the next block range, so every head
 * chunk lies inside one block range and persisting never splits a chunk),
 * and copies of head chunks for queries.
 *
 * Memory per series, which the head is about: the series struct (112 bytes
 * plus 8 per label: labels are pointers to their postings lists), the open
 * chunk's encoder (128 bytes and its buffer, allocated only while a chunk is
 * open; pending samples wait compactly in the buffer), sealed chunks in the
 * dense format 3 with a 32-byte header, and the index (postings, the hash
 * map and the id table, 30 to 80 bytes).
 */
#include "tsdb_int.h"

#include <stdlib.h>
#include <string.h>

void tsdb_series_views(const struct mseries *s, struct lview *lv)
{
    for (uint32_t i = 0; i < s->nlab; i++) {
        const struct postings *p = s->lp[i];
        lv[i] = (struct lview){p->ln->name, p->value, p->ln->nlen, p->vlen};
    }
}

bool tsdb_series_key_eq(const struct mseries *s, const char *packed, size_t len)
{
    if (s->lablen != len)
        return false;
    const char *q = packed;
    for (uint32_t i = 0; i < s->nlab; i++) {
        const struct postings *p = s->lp[i];
        if (memcmp(q, p->ln->name, p->ln->nlen + 1) != 0)
            return false;
        q += p->ln->nlen + 1;
        if (memcmp(q, p->value, p->vlen + 1) != 0)
            return false;
        q += p->vlen + 1;
    }
    return true;
}

const char *tsdb_series_get(const struct mseries *s, const char *name)
{
    for (uint32_t i = 0; i < s->nlab; i++)
        if (strcmp(s->lp[i]->ln->name, name) == 0)
            return s->lp[i]->value;
    return NULL;
}

int tsdb_series_labelset(const struct mseries *s, struct labelset *out)
{
    out->n = 0;
    out->v = calloc(s->nlab ? s->nlab : 1, sizeof(*out->v));
    if (!out->v)
        return -1;
    for (uint32_t i = 0; i < s->nlab; i++) {
        out->v[i].name = strdup(s->lp[i]->ln->name);
        out->v[i].value = strdup(s->lp[i]->value);
        out->n = i + 1;
        if (!out->v[i].name || !out->v[i].value) {
            labels_free(out);
            return -1;
        }
    }
    return 0;
}

struct mseries *tsdb_reg_get_or_create(struct tsdb *db, const char *packed, size_t lablen,
                                       uint32_t nlab, uint64_t hash)
{
    struct mseries *s = smap_find(&db->map, hash, packed, lablen);
    if (s)
        return s;
    if (db->ids.next_id == UINT32_MAX)
        return NULL;
    s = calloc(1, TSDB_MSERIES_SIZE(nlab));
    if (!s)
        return NULL;
    s->hash = hash;
    s->nlab = (uint16_t)nlab;
    s->lablen = (uint32_t)lablen;
    s->id = db->ids.next_id;
    s->last_t = TSDB_NO_TIME;
    s->hz_t = TSDB_NO_TIME;
    s->last_v_known = 1;
    if (idtab_set(&db->ids, s->id, s) != 0) {
        free(s);
        return NULL;
    }
    /* The id is spent from here on, even if indexing fails below, so that a
     * half-indexed id is never given to another series. */
    db->ids.next_id++;
    if (smap_insert(&db->map, s) != 0) {
        idtab_clear(&db->ids, s->id);
        free(s);
        return NULL;
    }
    if (pindex_add(&db->ix, s, packed) != 0) {
        smap_remove(&db->map, s);
        idtab_clear(&db->ids, s->id);
        free(s);
        return NULL;
    }
    db->registry_bytes += TSDB_MSERIES_SIZE(nlab);
    return s;
}

struct tsdb_source *tsdb_source_intern(struct tsdb *db, const char *name)
{
    struct tsdb_source *src = strmap_get(&db->source_map, name);
    if (src)
        return src;
    size_t len = strlen(name);
    struct tsdb_source **nv = realloc(db->sources, (db->nsources + 1) * sizeof(*nv));
    if (!nv)
        return NULL;
    db->sources = nv;
    src = calloc(1, sizeof(*src) + len + 1);
    if (!src)
        return NULL;
    memcpy(src->name, name, len + 1);
    if (strmap_put(&db->source_map, src->name, src) != 0) {
        free(src);
        return NULL;
    }
    db->sources[db->nsources++] = src;
    return src;
}

void tsdb_head_enter(struct tsdb *db, struct mseries *s, struct tsdb_source *src)
{
    if (s->in_head)
        return;
    s->in_head = 1;
    s->src = src;
    db->head_series++;
    src->nseries++;
}

void tsdb_mseries_free(struct tsdb *db, struct mseries *s)
{
    struct hchunk *c = s->chunks;
    while (c) {
        struct hchunk *next = c->next;
        free(c);
        c = next;
    }
    if (s->open) {
        chunk_enc_free(s->open);
        free(s->open);
    }
    db->registry_bytes -= TSDB_MSERIES_SIZE(s->nlab);
    free(s);
}

int tsdb_head_seal(struct tsdb *db, struct mseries *s)
{
    uint32_t n = tsdb_open_count(s);
    uint8_t *buf;
    size_t len;
    if (n == 0)
        return 0;
    /* No sample goes into a sealed chunk: it is worth the dense encoding. */
    uint64_t step;
    if (chunk_enc_finish(s->open, &buf, &len, &step) != 0)
        return -1;
    struct hchunk *c = malloc(TSDB_HCHUNK_SIZE(len));
    if (!c) {
        free(buf);
        return -1;
    }
    c->next = NULL;
    c->mint = s->open->mint;
    c->maxt = s->last_t;
    c->n = n;
    c->len = (uint32_t)len;
    c->regular = step != 0;
    memcpy(c->data, buf, len);
    free(buf);
    struct hchunk **tail = &s->chunks;
    while (*tail)
        tail = &(*tail)->next;
    *tail = c;
    int64_t delta = (int64_t)TSDB_HCHUNK_SIZE(len) -
                    (int64_t)(chunk_enc_memory(s->open) + sizeof(struct chunk_enc));
    chunk_enc_free(s->open);
    free(s->open);
    s->open = NULL;
    __atomic_fetch_add(&db->chunk_bytes, (uint64_t)delta, __ATOMIC_RELAXED);
    return 0;
}

int tsdb_head_append(struct tsdb *db, struct mseries *s, int64_t t, double v, uint32_t epoch)
{
    pthread_mutex_t *mu = tsdb_stripe(db, s);
    int rc = HEAD_APPLIED;
    pthread_mutex_lock(mu);
    if (s->hz_epoch != epoch) {
        /* The first sample since the log was rotated for a checkpoint: what
         * the series held before it is what the checkpoint must keep. */
        s->hz_epoch = epoch;
        s->hz_t = s->last_t;
    }
    int64_t last = s->last_t;
    if (last != TSDB_NO_TIME && t <= last) {
        if (t < last)
            rc = TSDB_EOOO;
        else if (!s->last_v_known || tsdb_dbits(v) == s->last_v)
            rc = HEAD_IGNORED;
        else
            rc = TSDB_EDUP;
        goto out;
    }
    uint32_t cnt = tsdb_open_count(s);
    if (cnt > 0 && (cnt >= TSDB_HEAD_CHUNK_SAMPLES || tsdb_floor_div(s->open->mint, db->block_ms) !=
                                                          tsdb_floor_div(t, db->block_ms))) {
        if (tsdb_head_seal(db, s) != 0) {
            rc = TSDB_ENOMEM;
            goto out;
        }
        cnt = 0;
    }
    if (!s->open) {
        if (!(s->open = malloc(sizeof(*s->open)))) {
            rc = TSDB_ENOMEM;
            goto out;
        }
        chunk_enc_init(s->open);
        __atomic_fetch_add(&db->chunk_bytes, sizeof(*s->open), __ATOMIC_RELAXED);
    }
    size_t before = chunk_enc_memory(s->open);
    if (chunk_enc_append(s->open, t, v) != 0) {
        rc = TSDB_ENOMEM;
        goto out;
    }
    __atomic_store_n(&s->last_t, t, __ATOMIC_RELAXED);
    __atomic_store_n(&s->last_v, tsdb_dbits(v), __ATOMIC_RELAXED);
    __atomic_store_n(&s->last_v_known, 1, __ATOMIC_RELAXED);
    size_t after = chunk_enc_memory(s->open);
    if (after != before)
        __atomic_fetch_add(&db->chunk_bytes, (uint64_t)(after - before), __ATOMIC_RELAXED);
    /* A full chunk is sealed at once rather than at the next sample: the
     * head keeps it densely encoded and without the encoder's slack. */
    if (tsdb_open_count(s) >= TSDB_HEAD_CHUNK_SAMPLES)
        (void)tsdb_head_seal(db, s); /* when out of memory, the next sample tries again */
out:
    pthread_mutex_unlock(mu);
    return rc;
}

bool tsdb_head_range(const struct mseries *s, int64_t *mint, int64_t *maxt)
{
    bool open = tsdb_open_count(s) > 0;
    if (!s->chunks && !open)
        return false;
    *mint = s->chunks ? s->chunks->mint : s->open->mint;
    const struct hchunk *last = s->chunks;
    while (last && last->next)
        last = last->next;
    *maxt = open ? s->last_t : last->maxt;
    return true;
}

/* n and step: what chunk_iter_init_meta needs (0: the chunk says). */
static int push_copy(struct tbuf *arena, const uint8_t *data, size_t len, int64_t mint,
                     int64_t maxt, uint32_t n, uint64_t step, struct cref **cr, size_t *ncr,
                     size_t *capcr)
{
    if (*ncr == *capcr) {
        size_t nc = *capcr ? *capcr * 2 : 64;
        struct cref *ncr2 = realloc(*cr, nc * sizeof(*ncr2));
        if (!ncr2)
            return -1;
        *cr = ncr2;
        *capcr = nc;
    }
    if (tbuf_reserve(arena, len) != 0)
        return -1;
    struct cref *c = &(*cr)[(*ncr)++];
    memset(c, 0, sizeof(*c));
    c->off = arena->len;
    c->len = len;
    c->mint = mint;
    c->maxt = maxt;
    c->n = n;
    c->step = step;
    tbuf_bytes(arena, data, len);
    return 0;
}

static int push_open(struct mseries *s, struct tbuf *arena, struct cref **cr, size_t *ncr,
                     size_t *capcr)
{
    uint8_t *buf;
    size_t len;
    if (chunk_enc_snapshot(s->open, &buf, &len) != 0)
        return -1;
    int rc = push_copy(arena, buf, len, s->open->mint, s->last_t, 0, 0, cr, ncr, capcr);
    free(buf);
    return rc;
}

int tsdb_head_copy(struct tsdb *db, struct mseries *s, int64_t lo, int64_t hi, bool want_before,
                   struct tbuf *arena, struct cref **cr, size_t *ncr, size_t *capcr)
{
    pthread_mutex_t *mu = tsdb_stripe(db, s);
    int rc = 0;
    pthread_mutex_lock(mu);
    const struct hchunk *before = NULL;
    for (const struct hchunk *c = s->chunks; c && c->maxt < lo; c = c->next)
        before = c;
    bool open = tsdb_open_count(s) > 0;
    bool open_before = open && s->last_t < lo;
    /* The chunk just before lo first (the open one when even it ends before
     * lo), then those overlapping [lo, hi], all in time order. */
    if (want_before && open_before)
        rc = push_open(s, arena, cr, ncr, capcr);
    else if (want_before && before)
        rc = push_copy(arena, before->data, before->len, before->mint, before->maxt, before->n,
                       tsdb_hchunk_step(before), cr, ncr, capcr);
    for (const struct hchunk *c = s->chunks; c && c->mint <= hi && rc == 0; c = c->next)
        if (c->maxt >= lo)
            rc = push_copy(arena, c->data, c->len, c->mint, c->maxt, c->n, tsdb_hchunk_step(c), cr,
                           ncr, capcr);
    if (rc == 0 && open && !open_before && s->open->mint <= hi)
        rc = push_open(s, arena, cr, ncr, capcr);
    pthread_mutex_unlock(mu);
    return rc;
}

int tsdb_blocks_acquire(struct tsdb *db, struct tsdb_block ***out, size_t *n)
{
    pthread_mutex_lock(&db->blocks_mu);
    *n = db->nblocks;
    *out = NULL;
    if (db->nblocks > 0) {
        *out = malloc(db->nblocks * sizeof(**out));
        if (!*out) {
            pthread_mutex_unlock(&db->blocks_mu);
            return -1;
        }
        for (size_t i = 0; i < db->nblocks; i++) {
            (*out)[i] = db->blocks[i];
            tsdb_block_ref(db->blocks[i]);
        }
    }
    pthread_mutex_unlock(&db->blocks_mu);
    return 0;
}

void tsdb_blocks_release(struct tsdb_block **b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tsdb_block_unref(b[i]);
    free(b);
}

static bool block_before(const struct tsdb_block *a, const struct tsdb_block *b)
{
    if (a->info.mint != b->info.mint)
        return a->info.mint < b->info.mint;
    return a->info.seq < b->info.seq;
}

void tsdb_blocks_add(struct tsdb *db, struct tsdb_block *b)
{
    pthread_rwlock_wrlock(&db->lock);
    for (uint32_t i = 0; i < b->info.nseries; i++) {
        struct mseries *s = idtab_get(&db->ids, b->gids[i]);
        if (s)
            s->block_refs++;
    }
    pthread_rwlock_unlock(&db->lock);
    pthread_mutex_lock(&db->blocks_mu);
    size_t pos = db->nblocks;
    while (pos > 0 && block_before(b, db->blocks[pos - 1]))
        pos--;
    struct tsdb_block **nb = realloc(db->blocks, (db->nblocks + 1) * sizeof(*nb));
    if (nb) {
        db->blocks = nb;
        memmove(nb + pos + 1, nb + pos, (db->nblocks - pos) * sizeof(*nb));
        nb[pos] = b;
        db->nblocks++;
    }
    pthread_mutex_unlock(&db->blocks_mu);
    if (!nb) {
        /* Out of memory: the data stays in its file and is found on the next
         * open; drop the references taken above. */
        pthread_rwlock_wrlock(&db->lock);
        for (uint32_t i = 0; i < b->info.nseries; i++) {
            struct mseries *s = idtab_get(&db->ids, b->gids[i]);
            if (s)
                s->block_refs--;
        }
        pthread_rwlock_unlock(&db->lock);
        tsdb_block_unref(b);
    }
}

int tsdb_blocks_value_at(struct tsdb *db, const struct mseries *s, int64_t t, double *v)
{
    struct tsdb_block **bl;
    size_t nb;
    int rc = -1;
    if (tsdb_blocks_acquire(db, &bl, &nb) != 0)
        return -1;
    for (size_t i = nb; i-- > 0 && rc != 0;) {
        const struct tsdb_block *b = bl[i];
        if (t < b->info.mint || t > b->info.maxt)
            continue;
        size_t cur = 0;
        int64_t local = tsdb_block_find(b, s->id, &cur);
        struct bseries bs;
        if (local < 0 || tsdb_block_series(b->map, &b->info, NULL, (uint32_t)local, &bs) != 0)
            continue;
        struct bchunk c;
        while (rc != 0 && tsdb_bseries_next_chunk(b->map, &b->info, &bs, &c) == 1) {
            if (t < c.mint || t > c.maxt || !tsdb_bchunk_ok(&c))
                continue;
            struct chunk_iter it;
            int64_t ct;
            double cv;
            if (tsdb_bchunk_iter(&it, &c) != 0)
                break;
            while (chunk_iter_next(&it, &ct, &cv) == 1) {
                if (ct == t) {
                    *v = cv;
                    rc = 0;
                    break;
                }
                if (ct > t)
                    break;
            }
        }
    }
    tsdb_blocks_release(bl, nb);
    return rc;
}
