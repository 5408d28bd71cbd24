/*
 * tsdb.c - the time-series engine's front: opening (blocks, then the log),
 * closing, the appender, statistics and the background thread. The design
 * is Prometheus's: an in-memory head of compressed chunks behind a
 * write-ahead log, cut into immutable blocks that are compacted and expire.
 * See tsdb_int.h for the files and the lock order.
 *
 * Decisions the contract leaves open:
 *
 * Late data: the head takes any sample that is newer than its series' newest
 * sample and within the retention, however old, so backfilling a fresh
 * database works. Samples older than the head's persisted range go into the
 * head like any other and are persisted into a block of their own range at
 * the next maintenance pass; blocks may therefore overlap, queries merge
 * them (equal timestamps count once) and compaction merges them for good.
 * A series' newest sample is remembered after its data left the head (and
 * after a restart, from the blocks), so out-of-order stays out of order.
 *
 * "Now" for the retention check (TSDB_EOLD) is the time of the last
 * maintenance pass (the wall clock at open when the background thread
 * runs); before any pass nothing is refused as old.
 *
 * Series limits count series in the head: a series whose samples were all
 * persisted and that takes no new ones leaves the head at the next
 * maintenance pass (and stats.series), and comes back with its next sample.
 *
 * tsdb_appender_count counts the samples the appender holds for commit.
 */
#include "tsdb_int.h"

#include "../base/clock.h"
#include "../base/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *tsdb_strerror(int status)
{
    switch (status) {
    case TSDB_OK:
        return "ok";
    case TSDB_EINVAL:
        return "invalid series";
    case TSDB_ELIMIT:
        return "series limit reached";
    case TSDB_EOOO:
        return "out of order";
    case TSDB_EDUP:
        return "duplicate timestamp with a different value";
    case TSDB_EOLD:
        return "older than the retention";
    case TSDB_ENOMEM:
        return "out of memory";
    case TSDB_EIO:
        return "write-ahead log write failed";
    case TSDB_ELIMIT_SAMPLES:
        return "too many samples";
    }
    return "unknown error";
}

/* ---- the appender ---- */

/* One series the appender touched: pinned until commit or rollback. */
struct app_ent {
    struct mseries *s;
    int64_t t; /* newest buffered sample, when has */
    uint64_t v;
    uint32_t id; /* s->id, so finding an entry by id does not touch s */
    bool has;
};

/*
 * The accepted samples are kept only as the samples part of the log record
 * (enc): per sample zigzag varints of the series id and the time minus the
 * previous sample's, and 8 bytes of value bits. That is about 11 bytes a
 * sample where a decoded array took 32 plus the record; commit decodes it
 * again to apply the samples to the head.
 */
struct tsdb_appender {
    struct tsdb *db;
    struct tsdb_source *src;
    size_t n;        /* samples in enc */
    int64_t pid, pt; /* id and time of the last sample in enc */
    struct app_ent *ents;
    size_t nents, capents;
    uint32_t *slots; /* open addressing over ents: index + 1, 0 empty */
    size_t nslots;
    struct tbuf ser, enc, key;
    struct tbuf prevkey; /* the packed labels of the series of last_e */
    uint64_t rejected, limit_hits;
    size_t last_e; /* index + 1 of the previous sample's entry, 0: none */
};

/* The entry of the series with this id, or NULL. */
static struct app_ent *app_find_id(struct tsdb_appender *a, uint32_t id)
{
    if (a->nslots == 0)
        return NULL;
    size_t mask = a->nslots - 1;
    for (size_t i = (id * 0x9e3779b9u) & mask; a->slots[i]; i = (i + 1) & mask)
        if (a->ents[a->slots[i] - 1].id == id)
            return &a->ents[a->slots[i] - 1];
    return NULL;
}

static struct app_ent *app_find(struct tsdb_appender *a, const struct mseries *s)
{
    return app_find_id(a, s->id);
}

static struct app_ent *app_insert(struct tsdb_appender *a, struct mseries *s)
{
    if (a->nents == a->capents) {
        size_t nc = a->capents ? a->capents * 2 : 256;
        struct app_ent *ne = realloc(a->ents, nc * sizeof(*ne));
        if (!ne)
            return NULL;
        a->ents = ne;
        a->capents = nc;
    }
    if ((a->nents + 1) * 2 > a->nslots) {
        size_t ns = a->nslots ? a->nslots * 2 : 512;
        uint32_t *sl = calloc(ns, sizeof(*sl));
        if (!sl)
            return NULL;
        for (size_t i = 0; i < a->nents; i++) {
            size_t j = (a->ents[i].s->id * 0x9e3779b9u) & (ns - 1);
            while (sl[j])
                j = (j + 1) & (ns - 1);
            sl[j] = (uint32_t)i + 1;
        }
        free(a->slots);
        a->slots = sl;
        a->nslots = ns;
    }
    size_t mask = a->nslots - 1, i = (s->id * 0x9e3779b9u) & mask;
    while (a->slots[i])
        i = (i + 1) & mask;
    struct app_ent *e = &a->ents[a->nents];
    e->s = s;
    e->id = s->id;
    e->has = false;
    a->slots[i] = (uint32_t)++a->nents;
    return e;
}

static void app_destroy(struct tsdb_appender *a)
{
    free(a->ents);
    free(a->slots);
    tbuf_free(&a->ser);
    tbuf_free(&a->enc);
    tbuf_free(&a->key);
    tbuf_free(&a->prevkey);
    free(a);
}

struct tsdb_appender *tsdb_appender_new(struct tsdb *db, const char *source)
{
    struct tsdb_appender *a = NULL;
    if (!source)
        source = "";
    pthread_mutex_lock(&db->pool_mu);
    if (db->npool > 0)
        a = db->pool[--db->npool];
    pthread_mutex_unlock(&db->pool_mu);
    if (!a && !(a = calloc(1, sizeof(*a))))
        return NULL;
    a->db = db;
    pthread_rwlock_rdlock(&db->lock);
    a->src = strmap_get(&db->source_map, source);
    pthread_rwlock_unlock(&db->lock);
    if (!a->src) {
        pthread_rwlock_wrlock(&db->lock);
        a->src = tsdb_source_intern(db, source);
        pthread_rwlock_unlock(&db->lock);
    }
    if (!a->src) {
        app_destroy(a);
        return NULL;
    }
    a->last_e = 0;
    return a;
}

size_t tsdb_appender_count(const struct tsdb_appender *a)
{
    return a->n;
}

/* Unpins, folds the counters into the database and recycles the appender. */
static void app_finish(struct tsdb_appender *a)
{
    struct tsdb *db = a->db;
    a->last_e = 0;
    for (size_t i = 0; i < a->nents; i++)
        tsdb_unpin(a->ents[i].s);
    if (a->rejected)
        __atomic_fetch_add(&db->samples_rejected, a->rejected, __ATOMIC_RELAXED);
    if (a->limit_hits)
        __atomic_fetch_add(&db->series_limit_hits, a->limit_hits, __ATOMIC_RELAXED);
    if (a->nslots)
        memset(a->slots, 0, a->nslots * sizeof(*a->slots));
    a->n = a->nents = 0;
    a->pid = a->pt = 0;
    a->rejected = a->limit_hits = 0;
    a->ser.len = a->enc.len = 0;
    /* A huge batch's buffers are not worth keeping around. */
    if (a->enc.cap > (1u << 24) || a->nslots > (1u << 21)) {
        free(a->ents);
        free(a->slots);
        tbuf_free(&a->ser);
        tbuf_free(&a->enc);
        tbuf_free(&a->key);
        tbuf_free(&a->prevkey);
        a->ents = NULL;
        a->slots = NULL;
        a->capents = a->nslots = 0;
    }
    pthread_mutex_lock(&db->pool_mu);
    if (db->npool < sizeof(db->pool) / sizeof(db->pool[0])) {
        db->pool[db->npool++] = a;
        a = NULL;
    }
    pthread_mutex_unlock(&db->pool_mu);
    if (a)
        app_destroy(a);
}

void tsdb_rollback(struct tsdb_appender *a)
{
    if (a)
        app_finish(a);
}

static int reject(struct tsdb_appender *a, int status, const struct lview *lv, size_t n, char *err,
                  size_t errlen, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static int reject(struct tsdb_appender *a, int status, const struct lview *lv, size_t n, char *err,
                  size_t errlen, const char *fmt, ...)
{
    char what[512], why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    tsdb_labels_format(lv, n, what, sizeof(what));
    if (err && errlen)
        snprintf(err, errlen, "%s: %s", what, why);
    a->rejected++;
    return status;
}

int tsdb_append(struct tsdb_appender *a, struct tsdb_label *labels, size_t n, int64_t t_ms,
                double v, char *err, size_t errlen)
{
    struct tsdb *db = a->db;
    struct lview lv[LABELS_MAX_PAIRS];
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        if (!labels[i].name || !labels[i].value) {
            snprintf(err, errlen, "a label without a name or value");
            a->rejected++;
            return TSDB_EINVAL;
        }
        if (labels[i].value[0] == '\0')
            continue;
        if (k == LABELS_MAX_PAIRS) {
            snprintf(err, errlen, "more than %d labels", LABELS_MAX_PAIRS);
            a->rejected++;
            return TSDB_EINVAL;
        }
        labels[k++] = labels[i];
    }
    /* Insertion sort: label sets are short and usually sorted already. */
    for (size_t i = 1; i < k; i++) {
        struct tsdb_label x = labels[i];
        size_t j = i;
        while (j > 0 && strcmp(labels[j - 1].name, x.name) > 0) {
            labels[j] = labels[j - 1];
            j--;
        }
        labels[j] = x;
    }
    for (size_t i = 0; i < k; i++) {
        size_t nl = strlen(labels[i].name), vl = strlen(labels[i].value);
        if (nl > LABELS_MAX_NAME || vl > LABELS_MAX_VALUE) {
            snprintf(err, errlen, "label %.64s is too long (names %d, values %d bytes at most)",
                     labels[i].name, LABELS_MAX_NAME, LABELS_MAX_VALUE);
            a->rejected++;
            return TSDB_EINVAL;
        }
        lv[i] = (struct lview){labels[i].name, labels[i].value, (uint32_t)nl, (uint32_t)vl};
    }
    if (t_ms < -TSDB_T_LIMIT || t_ms > TSDB_T_LIMIT)
        return reject(a, TSDB_EINVAL, lv, k, err, errlen, "timestamp %" PRId64 " is out of range",
                      t_ms);
    int64_t now = __atomic_load_n(&db->now_ms, __ATOMIC_RELAXED);
    if (db->opt.retention_ms > 0 && now != 0 && t_ms < now - db->opt.retention_ms)
        return reject(a, TSDB_EOLD, lv, k, err, errlen,
                      "sample at %" PRId64 " is older than the retention (%" PRId64
                      " ms before %" PRId64 ")",
                      t_ms, db->opt.retention_ms, now);

    if (tsdb_pack_labels(&a->key, lv, k) != 0)
        return reject(a, TSDB_ENOMEM, lv, k, err, errlen, "out of memory");
    const char *key = (const char *)a->key.p;
    size_t klen = a->key.len;
    uint64_t h = 0;
    struct app_ent *e = NULL;
    struct mseries *s = NULL;
    if (a->last_e && a->prevkey.len == klen && memcmp(a->prevkey.p, key, klen) == 0) {
        /* The same series as the previous sample (a backfill): pinned by
         * this appender already, so no lock is needed. */
        e = &a->ents[a->last_e - 1];
        s = e->s;
    } else {
        struct mseries *prev = a->last_e ? a->ents[a->last_e - 1].s : NULL;
        pthread_rwlock_rdlock(&db->lock);
        if (prev) {
            struct mseries *hint = __atomic_load_n(&prev->next_hint, __ATOMIC_RELAXED);
            if (hint && tsdb_series_key_eq(hint, key, klen))
                s = hint;
        }
        if (!s) {
            h = tsdb_labels_hash(db->hash_seed, key, klen);
            s = smap_find(&db->map, h, key, klen);
            if (s && prev)
                __atomic_store_n(&prev->next_hint, s, __ATOMIC_RELAXED);
        }
        if (s && s->in_head && !(e = app_find(a, s))) {
            tsdb_pin(s);
            if (!(e = app_insert(a, s)))
                tsdb_unpin(s);
        }
        pthread_rwlock_unlock(&db->lock);
        if (s && s->in_head && !e)
            return reject(a, TSDB_ENOMEM, lv, k, err, errlen, "out of memory");
    }

    if (!e) {
        /* A new series, or one that only blocks hold: check, count it against
         * the limits and (re)enter it into the head under the write lock. */
        char why[200];
        if (!s && tsdb_labels_check(lv, k, why, sizeof(why)) != 0)
            return reject(a, TSDB_EINVAL, lv, k, err, errlen, "%s", why);
        int rc = TSDB_OK;
        h = tsdb_labels_hash(db->hash_seed, key, klen);
        pthread_rwlock_wrlock(&db->lock);
        s = smap_find(&db->map, h, key, klen);
        if (!s || !s->in_head) {
            if (db->opt.max_series && db->head_series >= db->opt.max_series) {
                rc = TSDB_ELIMIT;
                snprintf(why, sizeof(why),
                         "the database holds %" PRIu64
                         " active series, its limit (max_series); the series from source "
                         "\"%.64s\" was not created",
                         db->head_series, a->src->name);
            } else if (db->opt.max_series_per_source &&
                       a->src->nseries >= db->opt.max_series_per_source) {
                rc = TSDB_ELIMIT;
                snprintf(why, sizeof(why),
                         "source \"%.64s\" has %" PRIu64
                         " active series, its limit (max_series_per_source); the series was "
                         "not created",
                         a->src->name, a->src->nseries);
            } else if (!s && !(s = tsdb_reg_get_or_create(db, key, klen, (uint32_t)k, h))) {
                rc = TSDB_ENOMEM;
                snprintf(why, sizeof(why), "out of memory");
            } else {
                tsdb_head_enter(db, s, a->src);
            }
        }
        if (rc == TSDB_OK && !(e = app_find(a, s))) {
            tsdb_pin(s);
            if (!(e = app_insert(a, s))) {
                tsdb_unpin(s);
                rc = TSDB_ENOMEM;
                snprintf(why, sizeof(why), "out of memory");
            }
        }
        pthread_rwlock_unlock(&db->lock);
        if (rc != TSDB_OK) {
            if (rc == TSDB_ELIMIT)
                a->limit_hits++;
            return reject(a, rc, lv, k, err, errlen, "%s", why);
        }
    }

    /* Order against this batch's newest sample of the series, else the
     * committed one (rechecked under the series lock at commit). */
    int64_t ref_t;
    uint64_t ref_v;
    bool known = true;
    if (e->has) {
        ref_t = e->t;
        ref_v = e->v;
    } else {
        ref_t = __atomic_load_n(&s->last_t, __ATOMIC_RELAXED);
        ref_v = __atomic_load_n(&s->last_v, __ATOMIC_RELAXED);
        known = __atomic_load_n(&s->last_v_known, __ATOMIC_RELAXED);
    }
    uint64_t bits = tsdb_dbits(v);
    if (ref_t != TSDB_NO_TIME && t_ms <= ref_t) {
        if (t_ms < ref_t)
            return reject(a, TSDB_EOOO, lv, k, err, errlen,
                          "sample at %" PRId64
                          " is older than the newest sample of the series (%" PRId64 ")",
                          t_ms, ref_t);
        if (!known) {
            /* The newest sample is in a block (after a restart): look it up. */
            double bv;
            ref_v = tsdb_blocks_value_at(db, s, t_ms, &bv) == 0 ? tsdb_dbits(bv) : bits;
        }
        if (ref_v == bits)
            return TSDB_OK; /* a retried write: accepted and ignored */
        return reject(a, TSDB_EDUP, lv, k, err, errlen,
                      "sample at %" PRId64 " has the same timestamp as the newest sample of the "
                      "series but a different value",
                      t_ms);
    }
    if (tbuf_reserve(&a->enc, 28) != 0)
        return reject(a, TSDB_ENOMEM, lv, k, err, errlen, "out of memory");
    tbuf_uvarint(&a->enc, tsdb_zigzag((int64_t)e->id - a->pid));
    tbuf_uvarint(&a->enc, tsdb_zigzag((int64_t)((uint64_t)t_ms - (uint64_t)a->pt)));
    tsdb_put_u64(a->enc.p + a->enc.len, bits);
    a->enc.len += 8;
    a->pid = e->id;
    a->pt = t_ms;
    a->n++;
    if (a->last_e != (size_t)(e - a->ents) + 1) {
        /* Keep this sample's labels to spot the next sample of the series
         * with a memcmp: swap the buffers, the next key is packed anew. */
        struct tbuf tmp = a->prevkey;
        a->prevkey = a->key;
        a->key = tmp;
    }
    a->last_e = (size_t)(e - a->ents) + 1;
    e->has = true;
    e->t = t_ms;
    e->v = bits;
    return TSDB_OK;
}

int tsdb_commit(struct tsdb_appender *a, char *err, size_t errlen)
{
    struct tsdb *db = a->db;
    uint8_t head[16], mid[16];
    size_t hl = 0, ml = 0;
    uint64_t applied = 0, rejected = 0;
    int64_t mint = INT64_MAX, maxt = INT64_MIN;
    int rc = TSDB_OK;

    if (a->n == 0) {
        app_finish(a);
        return TSDB_OK;
    }
    /* The samples part of the record was built by tsdb_append. */
    ml = tsdb_put_uvarint(mid, a->n);

    pthread_mutex_lock(&db->wal.mu);
    uint32_t epoch = db->wal.epoch;
    size_t nser = 0;
    a->ser.len = 0;
    for (size_t i = 0; i < a->nents; i++) {
        const struct app_ent *e = &a->ents[i];
        if (!e->has || e->s->logged_epoch == epoch)
            continue;
        if (tsdb_wal_series_entry(&a->ser, e->s) != 0) {
            pthread_mutex_unlock(&db->wal.mu);
            snprintf(err, errlen, "out of memory");
            a->rejected += a->n;
            app_finish(a);
            return TSDB_ENOMEM;
        }
        nser++;
    }
    head[hl++] = TSDB_WAL_REC_BATCH;
    hl += tsdb_put_uvarint(head + hl, nser);
    uint32_t crc = tsdb_crc32c(0, head, hl);
    crc = tsdb_crc32c(crc, a->ser.p, a->ser.len);
    crc = tsdb_crc32c(crc, mid, ml);
    crc = tsdb_crc32c(crc, a->enc.p, a->enc.len);
    struct iovec iov[4] = {{head, hl}, {a->ser.p, a->ser.len}, {mid, ml}, {a->enc.p, a->enc.len}};
    size_t plen = hl + a->ser.len + ml + a->enc.len;
    if (tsdb_wal_write(db, iov, 4, plen, crc, err, errlen) != 0) {
        pthread_mutex_unlock(&db->wal.mu);
        a->rejected += a->n;
        app_finish(a);
        return TSDB_EIO;
    }
    for (size_t i = 0; i < a->nents; i++)
        if (a->ents[i].has)
            a->ents[i].s->logged_epoch = epoch;
    /* Applying under the log lock keeps the head in the log's order, so a
     * replay rebuilds exactly this head. */
    struct rd r = {a->enc.p, a->enc.p + a->enc.len, false};
    int64_t id = 0, t = 0;
    struct app_ent *e = NULL;
    for (size_t i = 0; i < a->n; i++) {
        id += tsdb_unzigzag(rd_uvarint(&r));
        t = (int64_t)((uint64_t)t + (uint64_t)tsdb_unzigzag(rd_uvarint(&r)));
        double v = tsdb_bitsd(rd_u64(&r));
        if (!e || e->id != (uint32_t)id)
            e = app_find_id(a, (uint32_t)id); /* always there: the appender wrote it */
        int hr = tsdb_head_append(db, e->s, t, v, epoch);
        if (hr == HEAD_APPLIED) {
            applied++;
            if (t < mint)
                mint = t;
            if (t > maxt)
                maxt = t;
        } else if (hr != HEAD_IGNORED) {
            rejected++; /* a concurrent appender got there first */
        }
    }
    pthread_mutex_unlock(&db->wal.mu);

    __atomic_fetch_add(&db->samples_appended, applied, __ATOMIC_RELAXED);
    __atomic_fetch_add(&db->head_samples, applied, __ATOMIC_RELAXED);
    a->rejected += rejected;
    if (applied) {
        int64_t cur = __atomic_load_n(&db->head_mint, __ATOMIC_RELAXED);
        while (mint < cur && !__atomic_compare_exchange_n(&db->head_mint, &cur, mint, true,
                                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            ;
        cur = __atomic_load_n(&db->head_maxt, __ATOMIC_RELAXED);
        while (maxt > cur && !__atomic_compare_exchange_n(&db->head_maxt, &cur, maxt, true,
                                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            ;
    }
    app_finish(a);
    return rc;
}

/* ---- open and close ---- */

static int mkdir_p(const char *path)
{
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        buf[i] = c;
    }
    return 0;
}

static void *bg_main(void *arg);

/* Loads every block; drops blocks that a loaded compacted block replaces
 * (a crash between writing it and deleting its parents leaves both). */
static int load_blocks(struct tsdb *db, char *err, size_t errlen)
{
    DIR *d = opendir(db->blocks_dir);
    struct dirent *e;
    struct tsdb_block **bl = NULL;
    size_t nb = 0, cap = 0;
    char path[4096];

    if (!d) {
        snprintf(err, errlen, "cannot read %s: %s", db->blocks_dir, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        snprintf(path, sizeof(path), "%s/%s", db->blocks_dir, e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".tmp") == 0) {
            unlink(path); /* an unfinished block */
            continue;
        }
        if (l <= 4 || strcmp(e->d_name + l - 4, ".blk") != 0)
            continue;
        struct tsdb_block *b;
        char berr[300];
        pthread_rwlock_wrlock(&db->lock);
        int rc = tsdb_block_load(db, path, NULL, &b, berr, sizeof(berr));
        pthread_rwlock_unlock(&db->lock);
        if (rc != 0) {
            char aside[4200];
            snprintf(aside, sizeof(aside), "%s.damaged", path);
            log_error("tsdb: block %s cannot be read (%s); moved aside to %s", path, berr, aside);
            if (rename(path, aside) != 0)
                log_error("tsdb: cannot move %s aside: %s", path, strerror(errno));
            continue;
        }
        if (nb == cap) {
            cap = cap ? cap * 2 : 16;
            struct tsdb_block **n2 = realloc(bl, cap * sizeof(*n2));
            if (!n2) {
                tsdb_block_unref(b);
                closedir(d);
                for (size_t i = 0; i < nb; i++)
                    tsdb_block_unref(bl[i]);
                free(bl);
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            bl = n2;
        }
        bl[nb++] = b;
    }
    closedir(d);
    for (size_t i = 0; i < nb; i++) {
        uint64_t *par;
        if (!bl[i])
            continue;
        int np = tsdb_block_parents(bl[i], &par);
        for (int p = 0; p < np; p++) {
            for (size_t j = 0; j < nb; j++) {
                if (bl[j] && j != i && bl[j]->info.seq == par[p]) {
                    log_info("tsdb: removing block %s, replaced by %s", bl[j]->path, bl[i]->path);
                    unlink(bl[j]->path);
                    tsdb_block_unref(bl[j]);
                    bl[j] = NULL;
                }
            }
        }
        free(par);
    }
    for (size_t i = 0; i < nb; i++) {
        if (!bl[i])
            continue;
        if (bl[i]->info.seq >= db->next_seq)
            db->next_seq = bl[i]->info.seq + 1;
        tsdb_blocks_add(db, bl[i]);
    }
    free(bl);
    return 0;
}

int tsdb_open(const struct tsdb_options *opt, struct tsdb **out, char *err, size_t errlen)
{
    struct tsdb *db;
    char path[4096];

    *out = NULL;
    if (!opt || !opt->dir || !opt->dir[0]) {
        snprintf(err, errlen, "no directory for the metrics database");
        return -1;
    }
    if (strlen(opt->dir) > 3000) {
        snprintf(err, errlen, "the metrics directory path is too long");
        return -1;
    }
    db = calloc(1, sizeof(*db));
    if (!db) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    db->opt = *opt;
    db->dir = strdup(opt->dir);
    db->opt.dir = db->dir;
    db->block_ms = opt->block_ms > 0 ? opt->block_ms : TSDB_DEFAULT_BLOCK_MS;
    if (db->block_ms > TSDB_MAX_BLOCK_MS)
        db->block_ms = TSDB_MAX_BLOCK_MS;
    snprintf(path, sizeof(path), "%s/blocks", opt->dir);
    db->blocks_dir = strdup(path);
    snprintf(path, sizeof(path), "%s/wal", opt->dir);
    db->wal.dir = strdup(path);
    db->wal.fd = -1;
    db->lock_fd = -1;
    db->wal.epoch = 1;
    db->next_seq = 1;
    db->head_mint = INT64_MAX;
    db->head_maxt = INT64_MIN;
    if (getrandom(&db->hash_seed, sizeof(db->hash_seed), 0) != sizeof(db->hash_seed))
        db->hash_seed = (uint64_t)clock_mono_us() ^ ((uint64_t)getpid() << 32);
    pthread_rwlock_init(&db->lock, NULL);
    db->map.ids = &db->ids;
    pthread_mutex_init(&db->wal.mu, NULL);
    pthread_mutex_init(&db->blocks_mu, NULL);
    pthread_mutex_init(&db->maint_mu, NULL);
    pthread_mutex_init(&db->pool_mu, NULL);
    pthread_mutex_init(&db->thread_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&db->thread_cv, &ca);
    pthread_condattr_destroy(&ca);
    for (size_t i = 0; i < TSDB_STRIPES; i++)
        pthread_mutex_init(&db->stripes[i], NULL);
    if (!db->dir || !db->blocks_dir || !db->wal.dir || !tsdb_source_intern(db, "")) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (mkdir_p(db->dir) != 0 || mkdir_p(db->blocks_dir) != 0 || mkdir_p(db->wal.dir) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", db->dir, strerror(errno));
        goto fail;
    }
    /* Two processes on one directory would each replay and rewrite the
     * other's log; the lock goes with the process, even on kill -9. */
    snprintf(path, sizeof(path), "%s/lock", opt->dir);
    db->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (db->lock_fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        goto fail;
    }
    if (flock(db->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen, "%s is in use by another process (%s is locked)", opt->dir, path);
        goto fail;
    }
    int64_t t0 = clock_mono_us();
    if (load_blocks(db, err, errlen) != 0)
        goto fail;
    int64_t t1 = clock_mono_us();
    if (tsdb_wal_replay(db, err, errlen) != 0 || tsdb_wal_open(db, err, errlen) != 0)
        goto fail;
    int64_t t2 = clock_mono_us();
    log_info("tsdb: opened %s: %zu blocks in %.1f ms, %" PRIu64 " head series and %" PRIu64
             " samples from the log in %.1f ms",
             db->dir, db->nblocks, (double)(t1 - t0) / 1000, db->head_series, db->head_samples,
             (double)(t2 - t1) / 1000);
    if (opt->background) {
        db->now_ms = clock_now_ms();
        if (pthread_create(&db->thread, NULL, bg_main, db) != 0) {
            snprintf(err, errlen, "cannot start the tsdb thread");
            goto fail;
        }
        db->thread_started = true;
    }
    *out = db;
    return 0;
fail:
    tsdb_close(db);
    return -1;
}

static void *bg_main(void *arg)
{
    struct tsdb *db = arg;
    char err[512];
    pthread_setname_np(pthread_self(), "tocsin-tsdb");
    pthread_mutex_lock(&db->thread_mu);
    while (!db->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 60;
        while (!db->stop && pthread_cond_timedwait(&db->thread_cv, &db->thread_mu, &ts) == 0)
            ;
        if (db->stop)
            break;
        pthread_mutex_unlock(&db->thread_mu);
        if (tsdb_maintain(db, clock_now_ms(), err, sizeof(err)) != 0)
            log_error("tsdb: maintenance: %s", err);
        pthread_mutex_lock(&db->thread_mu);
    }
    pthread_mutex_unlock(&db->thread_mu);
    return NULL;
}

void tsdb_close(struct tsdb *db)
{
    if (!db)
        return;
    if (db->thread_started) {
        pthread_mutex_lock(&db->thread_mu);
        db->stop = true;
        pthread_cond_broadcast(&db->thread_cv);
        pthread_mutex_unlock(&db->thread_mu);
        pthread_join(db->thread, NULL);
    }
    tsdb_wal_close(&db->wal);
    if (db->lock_fd >= 0)
        close(db->lock_fd);
    struct mseries **all;
    size_t n;
    if (idtab_list(&db->ids, false, &all, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            tsdb_mseries_free(db, all[i]);
        free(all);
    }
    for (size_t i = 0; i < db->nblocks; i++)
        tsdb_block_unref(db->blocks[i]);
    free(db->blocks);
    for (size_t i = 0; i < db->npool; i++)
        app_destroy(db->pool[i]);
    for (size_t i = 0; i < db->nsources; i++)
        free(db->sources[i]);
    free(db->sources);
    strmap_free(&db->source_map);
    smap_free(&db->map);
    idtab_free(&db->ids);
    pindex_free(&db->ix);
    for (size_t i = 0; i < TSDB_STRIPES; i++)
        pthread_mutex_destroy(&db->stripes[i]);
    pthread_rwlock_destroy(&db->lock);
    pthread_mutex_destroy(&db->wal.mu);
    pthread_mutex_destroy(&db->blocks_mu);
    pthread_mutex_destroy(&db->maint_mu);
    pthread_mutex_destroy(&db->pool_mu);
    pthread_mutex_destroy(&db->thread_mu);
    pthread_cond_destroy(&db->thread_cv);
    free(db->wal.dir);
    free(db->blocks_dir);
    free(db->dir);
    free(db);
}

void tsdb_stats(struct tsdb *db, struct tsdb_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_rwlock_rdlock(&db->lock);
    out->series = db->head_series;
    size_t idbytes = db->ids.npages * (sizeof(void *) + 4);
    for (size_t i = 0; i < db->ids.npages; i++)
        idbytes += db->ids.pages[i] ? TSDB_IDPAGE * sizeof(void *) : 0;
    out->memory_bytes =
        db->registry_bytes + db->ix.bytes + db->map.cap * sizeof(struct smap_slot) + idbytes;
    pthread_rwlock_unlock(&db->lock);
    out->memory_bytes += __atomic_load_n(&db->chunk_bytes, __ATOMIC_RELAXED);
    out->samples_appended = __atomic_load_n(&db->samples_appended, __ATOMIC_RELAXED);
    out->samples_rejected = __atomic_load_n(&db->samples_rejected, __ATOMIC_RELAXED);
    out->series_limit_hits = __atomic_load_n(&db->series_limit_hits, __ATOMIC_RELAXED);
    out->head_samples = __atomic_load_n(&db->head_samples, __ATOMIC_RELAXED);
    out->wal_bytes = __atomic_load_n(&db->wal.bytes, __ATOMIC_RELAXED);
    int64_t mint = __atomic_load_n(&db->head_mint, __ATOMIC_RELAXED);
    int64_t maxt = __atomic_load_n(&db->head_maxt, __ATOMIC_RELAXED);
    if (out->head_samples == 0) {
        mint = INT64_MAX;
        maxt = INT64_MIN;
    }
    pthread_mutex_lock(&db->blocks_mu);
    out->blocks = db->nblocks;
    for (size_t i = 0; i < db->nblocks; i++) {
        const struct tsdb_block *b = db->blocks[i];
        out->disk_bytes += b->size;
        if (b->info.nseries > 0 && b->info.dmint < mint)
            mint = b->info.dmint;
        if (b->info.nseries > 0 && b->info.dmaxt > maxt)
            maxt = b->info.dmaxt;
    }
    pthread_mutex_unlock(&db->blocks_mu);
    out->disk_bytes += out->wal_bytes;
    if (mint <= maxt) {
        out->min_time = mint;
        out->max_time = maxt;
    }
}
