/*
 * tsdb_wal.c - the write-ahead log of the head: numbered segment files
 * DIR/wal/00000001, 00000002, ... of records
 *
 *   u32 payload length, u32 CRC-32C of the payload, payload
 *
 * Each commit is one record (one write), whose payload is
 *
 *   u8 type (1), varint nseries, the series entries, varint nsamples, samples
 *
 * A series entry: varint ref (the series id in the writing process), varint
 * source length and bytes, varint nlabels, then per label varint length and
 * bytes of name and value. A sample: zigzag varint ref minus the previous
 * ref, zigzag varint time minus the previous time (both start at 0), and the
 * value's 8 bytes. A ref is defined by a series entry before any sample
 * uses it; a later entry may redefine it (ids are per process), and replay
 * follows the log in order, so that is harmless.
 *
 * Replay reads the segments in order; a record that is cut short or fails
 * its checksum ends its segment: the segment is truncated there with a
 * warning (a crash in the middle of a write leaves exactly that) and replay
 * goes on with the next segment. Nothing in the log is fatal.
 *
 * Checkpoint: once head data is in blocks, the log is rewritten to hold only
 * what is still in the head. Under the log mutex the current segment K is
 * closed, writing moves to K+2 and the epoch is bumped; every later commit
 * then writes the series entries it needs itself (a series is "logged" only
 * for the epoch it was logged in), so K+2 onward stands alone. The head's
 * samples up to the rotation (each series notes its newest time as of the
 * rotation when the first later sample arrives) are written to K+1.tmp,
 * fsync'ed, renamed to K+1, and segments up to K are deleted. A crash at any
 * step leaves a log that replays to the same head: before the rename the old
 * segments are intact; after it, samples the old segments also hold are
 * dropped by replay as duplicates.
 */
#include "tsdb_int.h"

#include "../base/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void seg_path(const struct tsdb_wal *w, uint32_t seg, const char *suffix, char *buf,
                     size_t len)
{
    snprintf(buf, len, "%s/%08u%s", w->dir, seg, suffix);
}

static int seg_create(struct tsdb_wal *w, uint32_t seg)
{
    char path[4096];
    seg_path(w, seg, "", path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (tsdb_fsync_dir(w->dir) != 0)
        log_warn("tsdb: cannot sync %s: %s", w->dir, strerror(errno));
    return fd;
}

int tsdb_wal_series_entry(struct tbuf *b, const struct mseries *s)
{
    const char *src = s->src ? s->src->name : "";
    size_t sl = strlen(src);
    if (tbuf_reserve(b, 30 + sl + s->lablen + (size_t)s->nlab * 20) != 0)
        return -1;
    tbuf_uvarint(b, s->id);
    tbuf_uvarint(b, sl);
    tbuf_bytes(b, src, sl);
    tbuf_uvarint(b, s->nlab);
    for (uint32_t i = 0; i < s->nlab; i++) {
        const struct postings *p = s->lp[i];
        tbuf_uvarint(b, p->ln->nlen);
        tbuf_bytes(b, p->ln->name, p->ln->nlen);
        tbuf_uvarint(b, p->vlen);
        tbuf_bytes(b, p->value, p->vlen);
    }
    return 0;
}

/* ---- replay ---- */

/* ref -> series, open addressing. */
struct refmap {
    uint32_t *keys;
    struct mseries **vals; /* NULL: empty slot */
    size_t cap, len;
};

/* The value of a ref whose series entry was unusable (an empty slot is
 * NULL, so the map needs a distinct marker). */
static struct mseries refmap_none;

static struct mseries *refmap_get(const struct refmap *m, uint32_t ref)
{
    if (m->cap == 0)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = (ref * 0x9e3779b9u) & mask; m->vals[i]; i = (i + 1) & mask)
        if (m->keys[i] == ref)
            return m->vals[i] == &refmap_none ? NULL : m->vals[i];
    return NULL;
}

static int refmap_put(struct refmap *m, uint32_t ref, struct mseries *s)
{
    if ((m->len + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 1024;
        uint32_t *nk = calloc(nc, sizeof(*nk));
        struct mseries **nv = calloc(nc, sizeof(*nv));
        if (!nk || !nv) {
            free(nk);
            free(nv);
            return -1;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->vals[i])
                continue;
            size_t j = (m->keys[i] * 0x9e3779b9u) & (nc - 1);
            while (nv[j])
                j = (j + 1) & (nc - 1);
            nk[j] = m->keys[i];
            nv[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = nk;
        m->vals = nv;
        m->cap = nc;
    }
    size_t mask = m->cap - 1, i = (ref * 0x9e3779b9u) & mask;
    while (m->vals[i] && m->keys[i] != ref)
        i = (i + 1) & mask;
    if (!m->vals[i])
        m->len++;
    m->keys[i] = ref;
    m->vals[i] = s;
    return 0;
}

static void refmap_free(struct refmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

/* One series entry, read (and with apply, registered). Returns -1 when the
 * entry is malformed, -2 when out of memory; an entry with invalid labels is
 * read and skipped. */
static int replay_series(struct tsdb *db, struct rd *r, bool apply, struct refmap *refs)
{
    struct lview lv[LABELS_MAX_PAIRS];
    char src[256], err[160];
    uint64_t ref = rd_uvarint(r), sl = rd_uvarint(r);
    const uint8_t *sp = rd_bytes(r, sl);
    uint64_t nlab = rd_uvarint(r);
    if (r->bad || ref > UINT32_MAX || nlab > LABELS_MAX_PAIRS)
        return -1;
    for (uint64_t i = 0; i < nlab; i++) {
        uint64_t nl = rd_uvarint(r);
        const uint8_t *np = nl <= LABELS_MAX_NAME ? rd_bytes(r, nl) : NULL;
        uint64_t vl = rd_uvarint(r);
        const uint8_t *vp = vl <= LABELS_MAX_VALUE ? rd_bytes(r, vl) : NULL;
        if (!np || !vp)
            return -1;
        lv[i] = (struct lview){(const char *)np, (const char *)vp, (uint32_t)nl, (uint32_t)vl};
    }
    if (!apply)
        return 0;
    if (tsdb_labels_check(lv, nlab, err, sizeof(err)) != 0) {
        log_warn("tsdb: log: skipping a series with bad labels: %s", err);
        return refmap_put(refs, (uint32_t)ref, &refmap_none) == 0 ? 0 : -2;
    }
    size_t n = sl < sizeof(src) ? sl : sizeof(src) - 1;
    memcpy(src, sp, n);
    src[n] = '\0';
    if (memchr(src, 0, n))
        src[0] = '\0';
    struct tbuf key = {0};
    struct mseries *s = NULL;
    if (tsdb_pack_labels(&key, lv, nlab) == 0) {
        uint64_t h = tsdb_labels_hash(db->hash_seed, (const char *)key.p, key.len);
        s = tsdb_reg_get_or_create(db, (const char *)key.p, key.len, (uint32_t)nlab, h);
    }
    tbuf_free(&key);
    struct tsdb_source *so = tsdb_source_intern(db, src);
    if (!s || !so)
        return -2;
    tsdb_head_enter(db, s, so);
    return refmap_put(refs, (uint32_t)ref, s) == 0 ? 0 : -2;
}

/* Reads one payload; applies it only when apply (after a clean read).
 * Returns 0, -1 when malformed or -2 when out of memory. */
static int replay_payload(struct tsdb *db, const uint8_t *p, size_t len, bool apply,
                          struct refmap *refs)
{
    struct rd r = {p, p + len, false};
    const uint8_t *type = rd_bytes(&r, 1);
    if (!type || *type != TSDB_WAL_REC_BATCH)
        return -1;
    uint64_t ns = rd_uvarint(&r);
    if (r.bad || ns > len)
        return -1;
    for (uint64_t i = 0; i < ns; i++) {
        int rc = replay_series(db, &r, apply, refs);
        if (rc != 0)
            return rc;
    }
    uint64_t n = rd_uvarint(&r);
    /* A sample takes at least ten bytes. */
    if (r.bad || n > (uint64_t)(r.end - r.p) / 10)
        return -1;
    int64_t ref = 0, t = 0;
    uint64_t applied = 0, rejected = 0;
    for (uint64_t i = 0; i < n; i++) {
        ref = (int64_t)((uint64_t)ref + (uint64_t)rd_varint(&r)); /* wraps, never traps */
        t = (int64_t)((uint64_t)t + (uint64_t)rd_varint(&r));
        uint64_t bits = rd_u64(&r);
        if (r.bad)
            return -1;
        if (!apply)
            continue;
        struct mseries *s = ref >= 0 && ref <= UINT32_MAX ? refmap_get(refs, (uint32_t)ref) : NULL;
        if (!s || t < -TSDB_T_LIMIT || t > TSDB_T_LIMIT) {
            rejected++;
            continue;
        }
        int rc = tsdb_head_append(db, s, t, tsdb_bitsd(bits), db->wal.epoch);
        if (rc == TSDB_ENOMEM)
            return -2;
        if (rc == HEAD_APPLIED) {
            applied++;
            if (t < db->head_mint)
                db->head_mint = t;
            if (t > db->head_maxt)
                db->head_maxt = t;
        } else if (rc != HEAD_IGNORED) {
            rejected++;
        }
    }
    if (r.p != r.end)
        return -1;
    db->head_samples += applied;
    (void)rejected;
    return 0;
}

size_t tsdb_wal_replay_buf(struct tsdb *db, const uint8_t *data, size_t len, void *refmap,
                           bool *oom)
{
    size_t off = 0;
    *oom = false;
    while (len - off >= TSDB_WAL_HDR) {
        uint32_t plen = tsdb_get_u32(data + off), crc = tsdb_get_u32(data + off + 4);
        if (plen == 0 || plen > TSDB_WAL_MAX_RECORD || plen > len - off - TSDB_WAL_HDR)
            break;
        const uint8_t *p = data + off + TSDB_WAL_HDR;
        if (tsdb_crc32c(0, p, plen) != crc)
            break;
        if (replay_payload(db, p, plen, false, refmap) != 0)
            break;
        if (replay_payload(db, p, plen, true, refmap) != 0) {
            *oom = true; /* a clean record: only memory can fail it */
            break;
        }
        off += TSDB_WAL_HDR + plen;
    }
    return off;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Segment numbers in the log directory, sorted; *.tmp leftovers removed. */
static int list_segments(struct tsdb_wal *w, uint32_t **out, size_t *n, char *err, size_t errlen)
{
    DIR *d = opendir(w->dir);
    struct dirent *e;
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    if (!d) {
        snprintf(err, errlen, "cannot read %s: %s", w->dir, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l == 12 && strcmp(e->d_name + 8, ".tmp") == 0) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", w->dir, e->d_name);
            unlink(path);
            continue;
        }
        if (l != 8 || strspn(e->d_name, "0123456789") != 8)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            uint32_t *nv = realloc(*out, cap * sizeof(*nv));
            if (!nv) {
                closedir(d);
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            *out = nv;
        }
        (*out)[(*n)++] = (uint32_t)strtoul(e->d_name, NULL, 10);
    }
    closedir(d);
    if (*n)
        qsort(*out, *n, sizeof(**out), cmp_u32);
    return 0;
}

static int read_file(const char *path, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    *out = NULL;
    *len = 0;
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size, got = 0;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        close(fd);
        return -1;
    }
    while (got < size) {
        ssize_t k = read(fd, buf + got, size - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    *out = buf;
    *len = got;
    return 0;
}

int tsdb_wal_replay(struct tsdb *db, char *err, size_t errlen)
{
    struct tsdb_wal *w = &db->wal;
    uint32_t *segs;
    size_t nsegs;
    struct refmap refs = {0};
    int rc = 0;

    if (list_segments(w, &segs, &nsegs, err, errlen) != 0)
        return -1;
    pthread_rwlock_wrlock(&db->lock);
    for (size_t i = 0; i < nsegs; i++) {
        char path[4096];
        uint8_t *data;
        size_t len;
        seg_path(w, segs[i], "", path, sizeof(path));
        if (read_file(path, &data, &len) != 0) {
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
            rc = -1;
            break;
        }
        bool oom;
        size_t good = tsdb_wal_replay_buf(db, data, len, &refs, &oom);
        free(data);
        if (oom) {
            /* Not the log's fault: keep it whole and refuse to open. */
            snprintf(err, errlen, "out of memory while replaying %s", path);
            rc = -1;
            break;
        }
        if (good < len) {
            log_warn("tsdb: log segment %s: damaged or incomplete record at byte %zu; "
                     "dropping the last %zu bytes (a crash during a write leaves this)",
                     path, good, len - good);
            if (truncate(path, (off_t)good) != 0)
                log_warn("tsdb: cannot truncate %s: %s", path, strerror(errno));
        }
        w->bytes += good;
    }
    pthread_rwlock_unlock(&db->lock);
    refmap_free(&refs);
    w->first_seg = nsegs ? segs[0] : 1;
    w->seg = nsegs ? segs[nsegs - 1] : 0;
    free(segs);
    return rc;
}

int tsdb_wal_open(struct tsdb *db, char *err, size_t errlen)
{
    struct tsdb_wal *w = &db->wal;
    if (w->seg == UINT32_MAX - 2) {
        snprintf(err, errlen, "log segment numbers are exhausted");
        return -1;
    }
    w->seg++;
    w->fd = seg_create(w, w->seg);
    if (w->fd < 0) {
        snprintf(err, errlen, "cannot create a log segment in %s: %s", w->dir, strerror(errno));
        return -1;
    }
    w->seg_size = 0;
    if (w->first_seg > w->seg)
        w->first_seg = w->seg;
    return 0;
}

void tsdb_wal_close(struct tsdb_wal *w)
{
    if (w->fd >= 0) {
        if (fdatasync(w->fd) != 0)
            log_warn("tsdb: cannot sync the log: %s", strerror(errno));
        close(w->fd);
        w->fd = -1;
    }
}

/* ---- writing ---- */

void tsdb_test_fail_wal_writes(struct tsdb *db, int n)
{
    pthread_mutex_lock(&db->wal.mu);
    db->wal.fail_writes = n;
    pthread_mutex_unlock(&db->wal.mu);
}

static int writev_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t k = writev(fd, iov, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (k == 0) {
            errno = EIO;
            return -1;
        }
        size_t left = (size_t)k;
        while (n > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

int tsdb_wal_write(struct tsdb *db, const struct iovec *iov, int iovcnt, size_t payload_len,
                   uint32_t crc, char *err, size_t errlen)
{
    struct tsdb_wal *w = &db->wal;
    uint8_t hdr[TSDB_WAL_HDR];
    struct iovec v[8];
    int rc = 0;

    if (iovcnt > 7 || payload_len == 0 || payload_len > TSDB_WAL_MAX_RECORD) {
        snprintf(err, errlen, "a commit of %zu bytes is too large for one log record", payload_len);
        return -1;
    }
    tsdb_put_u32(hdr, (uint32_t)payload_len);
    tsdb_put_u32(hdr + 4, crc);
    v[0].iov_base = hdr;
    v[0].iov_len = sizeof(hdr);
    for (int i = 0; i < iovcnt; i++)
        v[i + 1] = iov[i];
    if (w->fd < 0) {
        errno = EBADF;
        rc = -1;
    } else if (w->fail_writes > 0) {
        /* Simulate a full disk after half a record, as a real one can. */
        w->fail_writes--;
        if (tsdb_write_all(w->fd, hdr, sizeof(hdr)) != 0)
            log_warn("tsdb: test write failed too");
        errno = ENOSPC;
        rc = -1;
    } else {
        rc = writev_all(w->fd, v, iovcnt + 1);
    }
    if (rc != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot write the log segment %08u in %s: %s", w->seg, w->dir,
                 strerror(e));
        /* Take back a partial record so later ones stay readable; if even
         * that fails, move on to a fresh segment (replay stops the damaged
         * one at the partial record). */
        if (w->fd >= 0 && ftruncate(w->fd, (off_t)w->seg_size) != 0) {
            close(w->fd);
            w->fd = -1;
            if (w->seg < UINT32_MAX - 2) {
                int fd = seg_create(w, w->seg + 1);
                if (fd >= 0) {
                    w->seg++;
                    w->fd = fd;
                    w->seg_size = 0;
                }
            }
        }
        errno = e;
        return -1;
    }
    size_t total = sizeof(hdr) + payload_len;
    w->seg_size += total;
    __atomic_fetch_add(&w->bytes, total, __ATOMIC_RELAXED);
    if (w->seg_size >= TSDB_WAL_SEGMENT_BYTES && w->seg < UINT32_MAX - 2) {
        int fd = seg_create(w, w->seg + 1);
        if (fd >= 0) {
            if (fdatasync(w->fd) != 0)
                log_warn("tsdb: cannot sync the log: %s", strerror(errno));
            close(w->fd);
            w->fd = fd;
            w->seg++;
            w->seg_size = 0;
        }
    }
    return 0;
}

int tsdb_wal_sync(struct tsdb *db)
{
    pthread_mutex_lock(&db->wal.mu);
    int fd = db->wal.fd >= 0 ? dup(db->wal.fd) : -1;
    pthread_mutex_unlock(&db->wal.mu);
    if (fd < 0)
        return 0;
    int rc = fdatasync(fd);
    close(fd);
    return rc;
}

/* ---- checkpoint ---- */

struct ckpt {
    int fd;
    struct tbuf series, samples;
    uint32_t nseries, nsamples;
    int64_t prev_ref, prev_t;
    uint64_t bytes;
};

static int ckpt_flush(struct ckpt *c)
{
    if (c->nseries == 0 && c->nsamples == 0)
        return 0;
    uint8_t head[32], mid[16];
    size_t hl = 0, ml = 0;
    head[hl++] = TSDB_WAL_REC_BATCH;
    hl += tsdb_put_uvarint(head + hl, c->nseries);
    ml += tsdb_put_uvarint(mid, c->nsamples);
    size_t plen = hl + c->series.len + ml + c->samples.len;
    uint32_t crc = tsdb_crc32c(0, head, hl);
    crc = tsdb_crc32c(crc, c->series.p, c->series.len);
    crc = tsdb_crc32c(crc, mid, ml);
    crc = tsdb_crc32c(crc, c->samples.p, c->samples.len);
    uint8_t hdr[TSDB_WAL_HDR];
    tsdb_put_u32(hdr, (uint32_t)plen);
    tsdb_put_u32(hdr + 4, crc);
    struct iovec v[5] = {{hdr, sizeof(hdr)},
                         {head, hl},
                         {c->series.p, c->series.len},
                         {mid, ml},
                         {c->samples.p, c->samples.len}};
    if (writev_all(c->fd, v, 5) != 0)
        return -1;
    c->bytes += sizeof(hdr) + plen;
    c->series.len = c->samples.len = 0;
    c->nseries = c->nsamples = 0;
    c->prev_ref = c->prev_t = 0;
    return 0;
}

/* Writes the head samples of s up to its horizon for epoch. */
static int ckpt_series(struct tsdb *db, struct ckpt *c, struct mseries *s, uint32_t epoch,
                       struct tbuf *arena, struct cref **cr, size_t *capcr)
{
    size_t ncr = 0;
    int64_t horizon;
    arena->len = 0;
    pthread_mutex_lock(tsdb_stripe(db, s));
    horizon = s->hz_epoch == epoch ? s->hz_t : s->last_t;
    pthread_mutex_unlock(tsdb_stripe(db, s));
    if (horizon == TSDB_NO_TIME)
        return 0;
    /* Chunks sealed later only hold newer samples, which the filter drops. */
    if (tsdb_head_copy(db, s, INT64_MIN, horizon, false, arena, cr, &ncr, capcr) != 0)
        return -1;
    if (ncr == 0)
        return 0;
    if (tsdb_wal_series_entry(&c->series, s) != 0)
        return -1;
    c->nseries++;
    for (size_t i = 0; i < ncr; i++) {
        struct chunk_iter it;
        int64_t t;
        double v;
        const struct cref *x = &(*cr)[i];
        if (tsdb_chunk_iter(&it, arena->p + x->off, x->len, x->mint, x->n, x->step, x->bare) != 0)
            continue;
        while (chunk_iter_next(&it, &t, &v) == 1 && t <= horizon) {
            if (tbuf_reserve(&c->samples, 30) != 0)
                return -1;
            tbuf_uvarint(&c->samples, tsdb_zigzag((int64_t)s->id - c->prev_ref));
            tbuf_uvarint(&c->samples, tsdb_zigzag((int64_t)((uint64_t)t - (uint64_t)c->prev_t)));
            tsdb_put_u64(c->samples.p + c->samples.len, tsdb_dbits(v));
            c->samples.len += 8;
            c->prev_ref = s->id;
            c->prev_t = t;
            c->nsamples++;
        }
    }
    if (c->samples.len + c->series.len >= (4u << 20))
        return ckpt_flush(c);
    return 0;
}

int tsdb_wal_checkpoint(struct tsdb *db, char *err, size_t errlen)
{
    struct tsdb_wal *w = &db->wal;
    struct ckpt c = {.fd = -1};
    struct mseries **list = NULL;
    size_t nlist = 0;
    struct tbuf arena = {0};
    struct cref *cr = NULL;
    size_t capcr = 0;
    char tmp[4096], path[4096];
    uint32_t old_last, ck, epoch;
    int rc = -1;

    pthread_mutex_lock(&w->mu);
    if (w->seg >= UINT32_MAX - 3) {
        pthread_mutex_unlock(&w->mu);
        snprintf(err, errlen, "log segment numbers are exhausted");
        return -1;
    }
    old_last = w->seg;
    ck = old_last + 1;
    int fd = seg_create(w, old_last + 2);
    if (fd < 0) {
        pthread_mutex_unlock(&w->mu);
        snprintf(err, errlen, "cannot create a log segment in %s: %s", w->dir, strerror(errno));
        return -1;
    }
    int old_fd = w->fd;
    w->fd = fd;
    w->seg = old_last + 2;
    w->seg_size = 0;
    epoch = ++w->epoch;
    pthread_mutex_unlock(&w->mu);
    if (old_fd >= 0) {
        if (fdatasync(old_fd) != 0)
            log_warn("tsdb: cannot sync the log: %s", strerror(errno));
        close(old_fd);
    }

    /* The series to write: those in the head. Only maintenance frees series,
     * and this is maintenance, so the pointers stay valid without pins. */
    pthread_rwlock_rdlock(&db->lock);
    int lrc = idtab_list(&db->ids, true, &list, &nlist);
    pthread_rwlock_unlock(&db->lock);
    if (lrc != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }

    seg_path(w, ck, ".tmp", tmp, sizeof(tmp));
    seg_path(w, ck, "", path, sizeof(path));
    c.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (c.fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < nlist; i++) {
        if (ckpt_series(db, &c, list[i], epoch, &arena, &cr, &capcr) != 0) {
            snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
            goto out;
        }
    }
    if (ckpt_flush(&c) != 0 || fdatasync(c.fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    close(c.fd);
    c.fd = -1;
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (tsdb_fsync_dir(w->dir) != 0)
        log_warn("tsdb: cannot sync %s: %s", w->dir, strerror(errno));
    /* Oldest first, so a crash part way leaves a suffix of the old log. */
    uint64_t removed = 0;
    for (uint32_t seg = w->first_seg; seg <= old_last; seg++) {
        char old[4096];
        struct stat st;
        seg_path(w, seg, "", old, sizeof(old));
        if (stat(old, &st) == 0 && unlink(old) == 0)
            removed += (uint64_t)st.st_size;
    }
    w->first_seg = ck;
    __atomic_fetch_add(&w->bytes, c.bytes, __ATOMIC_RELAXED);
    __atomic_fetch_sub(&w->bytes, removed, __ATOMIC_RELAXED);
    rc = 0;
out:
    if (c.fd >= 0) {
        close(c.fd);
        unlink(tmp);
    }
    tbuf_free(&c.series);
    tbuf_free(&c.samples);
    tbuf_free(&arena);
    free(cr);
    free(list);
    return rc;
}
