/*
 * tsdb_int.h - internals of the time-series engine, shared by its files:
 *
 *   tsdb.c         open/close, the appender, stats, the background thread
 *   tsdb_util.c    CRC-32C, hashing, byte buffers, label checks, file helpers
 *   tsdb_index.c   the series registry (hash map, id table) and the postings index
 *   tsdb_head.c    in-memory series: chunk cutting, appends, copies for queries
 *   tsdb_wal.c     write-ahead log segments, records, replay, checkpoints
 *   tsdb_block.c   the block file: writer, validating reader, rollup records
 *   tsdb_rollup.c  bucket arithmetic shared by blocks and queries
 *   tsdb_query.c   select, select_rollup, series and label listings
 *   tsdb_maint.c   persisting the head, compaction, retention, series GC
 *
 * Locking, outermost first (a thread never takes an earlier lock while it
 * holds a later one):
 *
 *   maint_mu    one maintenance pass at a time (maintain, flush)
 *   lock        rwlock over the registry: series map, id table, postings,
 *               sources, head_series, each series' in_head and block_refs
 *   wal.mu      the log file; commits write and apply under it, so the
 *               head applies samples in exactly the order of the log
 *   stripes[]   per-series head data (chunks, last sample), by id
 *   blocks_mu   the list of blocks (held only to copy or swap the list)
 *
 * A series is kept alive by its pin count: appenders and queries pin it
 * under the registry read lock, and only the maintenance pass frees series,
 * under the write lock, when nothing pins them.
 */
#ifndef TOCSIN_TSDB_INT_H
#define TOCSIN_TSDB_INT_H

#include "../base/strmap.h"
#include "chunk.h"
#include "tsdb.h"

#include <pthread.h>
#include <sys/uio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * Samples per head chunk before it is sealed (Prometheus uses 120). A sealed
 * chunk is re-encoded densely (format 3) and loses the open encoder's
 * slack, so fewer, larger chunks keep the head small: two hours at 10 s fit
 * one, and a multiple of 16 ends on a group boundary of the open encoder.
 */
#define TSDB_HEAD_CHUNK_SAMPLES 720
/* Samples per chunk in a block: few large chunks compress best. */
#define TSDB_BLOCK_CHUNK_SAMPLES 4096
/* Per-series lock stripes (a power of two). */
#define TSDB_STRIPES 4096
/* A log segment is closed and a new one started past this size. */
#define TSDB_WAL_SEGMENT_BYTES (64u << 20)
/* The largest record replay accepts (a commit of ~90 million samples). */
#define TSDB_WAL_MAX_RECORD (1u << 30)
/* Timestamps beyond +-2^62 ms (146 million years) are refused, so bucket and
 * block arithmetic never overflows. */
#define TSDB_T_LIMIT (INT64_C(1) << 62)
/* A block stores a series' rollup at a resolution only when its buckets
 * average at least this many samples (a bucket costs about as many bytes as
 * 15 raw samples, so this keeps rollups under a tenth of the raw size) and
 * its range spans at least TSDB_ROLLUP_MIN_BUCKETS buckets. */
#define TSDB_ROLLUP_MIN_PER_BUCKET 180
#define TSDB_ROLLUP_MIN_BUCKETS    4
/* The default block range. */
#define TSDB_DEFAULT_BLOCK_MS (2 * 3600 * 1000LL)
/* Compacted blocks span at most this. */
#define TSDB_MAX_BLOCK_MS (31 * 24 * 3600 * 1000LL)

/* ---- small helpers (tsdb_util.c) ---- */

uint32_t tsdb_crc32c(uint32_t crc, const void *data, size_t len);

/* Floor division and alignment that are right for negative timestamps. */
static inline int64_t tsdb_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static inline int64_t tsdb_align_down(int64_t t, int64_t step)
{
    return tsdb_floor_div(t, step) * step;
}

static inline uint64_t tsdb_dbits(double v)
{
    uint64_t b;
    memcpy(&b, &v, 8);
    return b;
}

static inline double tsdb_bitsd(uint64_t b)
{
    double v;
    memcpy(&v, &b, 8);
    return v;
}

/* A growable byte buffer. */
struct tbuf {
    uint8_t *p; /* owned */
    size_t len, cap;
};

int tbuf_reserve(struct tbuf *b, size_t extra);
void tbuf_free(struct tbuf *b);

static inline size_t tsdb_put_uvarint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static inline uint64_t tsdb_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t tsdb_unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static inline void tsdb_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void tsdb_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t tsdb_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t tsdb_get_u64(const uint8_t *p)
{
    return (uint64_t)tsdb_get_u32(p) | (uint64_t)tsdb_get_u32(p + 4) << 32;
}

/* Appends to a tbuf that has room (call tbuf_reserve first). */
static inline void tbuf_uvarint(struct tbuf *b, uint64_t v)
{
    b->len += tsdb_put_uvarint(b->p + b->len, v);
}

static inline void tbuf_bytes(struct tbuf *b, const void *p, size_t n)
{
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* A bounds-checked reader over borrowed bytes; any failure sets bad. */
struct rd {
    const uint8_t *p, *end;
    bool bad;
};

uint64_t rd_uvarint(struct rd *r);
int64_t rd_varint(struct rd *r);
uint32_t rd_u32(struct rd *r);
uint64_t rd_u64(struct rd *r);
/* Returns a pointer to the next n bytes and skips them, or NULL (bad). */
const uint8_t *rd_bytes(struct rd *r, size_t n);

/* XOR-with-previous coding of a double in 1 to 9 bytes (rollups). */
void tbuf_xor(struct tbuf *b, uint64_t bits, uint64_t prev);
uint64_t rd_xor(struct rd *r, uint64_t prev);

/* A borrowed label pair with lengths; strings need not be NUL-terminated. */
struct lview {
    const char *name, *value;
    uint32_t nlen, vlen;
};

/*
 * A label set's key is its packed form: name\0value\0... in name order (NUL
 * cannot occur inside names or values, so the form is unambiguous). The
 * registry hashes and compares keys as plain bytes.
 */
int tsdb_pack_labels(struct tbuf *b, const struct lview *lv, size_t n);
uint64_t tsdb_labels_hash(uint64_t seed, const char *packed, size_t len);

/*
 * Checks a sorted label set: names valid ([a-zA-Z_][a-zA-Z0-9_]*, the value of
 * __name__ [a-zA-Z_:][a-zA-Z0-9_:]*), ascending and unique, values non-empty
 * and bounded, __name__ present, at most LABELS_MAX_PAIRS. Returns 0 or -1
 * with a message.
 */
int tsdb_labels_check(const struct lview *lv, size_t n, char *err, size_t errlen);

/* Writes {__name__="x", a="b"} (cut to fit) into buf. */
void tsdb_labels_format(const struct lview *lv, size_t n, char *buf, size_t len);

/* write(2) all of it, retrying on EINTR and short writes. */
int tsdb_write_all(int fd, const void *p, size_t n);
/* fsync a directory so a rename or unlink in it is durable. */
int tsdb_fsync_dir(const char *dir);

/* ---- series ---- */

/* A sealed head chunk: immutable once linked; freed only by maintenance. */
struct hchunk {
    struct hchunk *next;
    int64_t mint, maxt;
    uint32_t n, len;
    uint8_t regular; /* times evenly spaced: the step is (maxt - mint) / (n - 1) */
    uint8_t data[];  /* chunk_enc_finish: read with tsdb_hchunk_iter */
};

/* Bytes of a sealed chunk of len bytes. */
#define TSDB_HCHUNK_SIZE(len) (offsetof(struct hchunk, data) + (size_t)(len))

/* The step chunk_iter_init_meta wants for a sealed chunk. */
static inline uint64_t tsdb_hchunk_step(const struct hchunk *c)
{
    return c->regular && c->n > 1 ? (uint64_t)(c->maxt - c->mint) / (c->n - 1) : 0;
}

/*
 * A series in the registry. Its labels are interned: lp[i] is the postings
 * list of its i-th label pair (in name order), which holds the value text and
 * points to the name's; a list lives as long as a series holds the pair, so
 * the pointers stay valid while the series does. That costs 8 bytes a label
 * instead of the text (about 17). A series is "in the head" when it may take
 * appends and counts toward the series limits; series that only exist in
 * blocks stay in the registry (with empty head data) so the index covers them.
 */
struct postings;

struct mseries {
    uint64_t hash;
    uint32_t lablen; /* bytes of the packed labels: a lookup compares it first */
    uint32_t id;
    struct tsdb_source *src; /* who created it (stable pointer) */
    /*
     * The series appended right after this one last time (a hint, written
     * and read under the registry read lock with relaxed atomics). Scrapes
     * and writers send series in the same order every time, so the appender
     * checks the hint before the hash map and saves the map's cache miss.
     * Only the GC frees series, and it clears the hints to them (under the
     * write lock) first.
     */
    struct mseries *next_hint;
    uint32_t block_refs;   /* blocks holding the series; registry write lock */
    uint32_t pins;         /* atomic */
    uint32_t logged_epoch; /* the log epoch that holds its series record; wal.mu */
    uint32_t hz_epoch;     /* checkpoint horizon capture; stripe lock */
    int64_t hz_t;
    int64_t last_t;  /* newest sample (head or blocks); written under the stripe lock */
    uint64_t last_v; /* its value bits; read with relaxed atomics by appenders */
    /* The open chunk (open->mint is its first sample's time), or NULL: the
     * encoder is on the heap only while a chunk is open, so a series whose
     * chunk was just sealed or that went quiet holds 8 bytes, not 128. */
    struct chunk_enc *open;
    struct hchunk *chunks; /* sealed, oldest first (a few); stripe lock */
    uint16_t nlab;
    uint8_t in_head;
    uint8_t last_v_known; /* false when last_t came from a block's metadata */
    struct postings *lp[];
};

/* Bytes of a series with nlab labels (no tail padding). */
#define TSDB_MSERIES_SIZE(nlab) (offsetof(struct mseries, lp) + (size_t)(nlab) * sizeof(void *))

#define TSDB_NO_TIME INT64_MIN

/* Samples in the open chunk of s (stripe lock held). */
static inline uint32_t tsdb_open_count(const struct mseries *s)
{
    return s->open ? chunk_enc_count(s->open) : 0;
}

/* Fills lv (room for s->nlab) from the interned labels. */
void tsdb_series_views(const struct mseries *s, struct lview *lv);
/* True when the packed label set (len bytes) is the series' own. */
bool tsdb_series_key_eq(const struct mseries *s, const char *packed, size_t len);
/* An owned labelset copy; -1 when out of memory. */
int tsdb_series_labelset(const struct mseries *s, struct labelset *out);
const char *tsdb_series_get(const struct mseries *s, const char *name);

/* ---- registry and postings (tsdb_index.c) ---- */

/*
 * The hash map from labels to series holds 8 bytes a slot: the series id
 * (plus one; 0 is empty) and the hash's high half, to skip most lookups of
 * other series; the series itself is found through the id table.
 */
struct smap_slot {
    uint32_t idp1; /* id + 1, 0: empty */
    uint32_t tag;  /* hash >> 32 */
};

struct idtab;

struct smap {
    struct smap_slot *slots;
    size_t cap, len;
    const struct idtab *ids; /* borrowed: the series' id table */
};

#define TSDB_IDPAGE_BITS 12
#define TSDB_IDPAGE      (1u << TSDB_IDPAGE_BITS)

struct idtab {
    struct mseries ***pages; /* pages[id >> BITS][id & (PAGE-1)] */
    uint32_t *page_used;     /* live entries per page, to free empty pages */
    size_t npages;
    uint32_t next_id;
};

struct lname;

struct postings {
    uint32_t n, cap;
    uint32_t *ids;          /* sorted ascending */
    const struct lname *ln; /* the label name */
    uint32_t vlen;          /* strlen(value) */
    char value[];
};

struct lname {
    struct strmap values; /* value -> struct postings */
    uint32_t nlen;        /* strlen(name) */
    char name[];
};

struct pindex {
    struct strmap names; /* name -> struct lname */
    uint32_t *all;       /* every id, sorted */
    size_t nall, capall;
    size_t bytes;
};

struct mseries *smap_find(const struct smap *m, uint64_t hash, const char *packed, size_t len);
int smap_insert(struct smap *m, struct mseries *s);
void smap_remove(struct smap *m, struct mseries *s);
void smap_free(struct smap *m);

struct mseries *idtab_get(const struct idtab *t, uint32_t id);
int idtab_set(struct idtab *t, uint32_t id, struct mseries *s);
void idtab_clear(struct idtab *t, uint32_t id);
void idtab_free(struct idtab *t);
/* The series in id order (only those in the head when head_only); *out is
 * malloc'd. The caller holds the registry lock. -1 when out of memory. */
int idtab_list(const struct idtab *t, bool head_only, struct mseries ***out, size_t *n);

/* Indexes s under the nlab pairs of its packed labels and interns them into
 * s->lp. Returns 0 or -1 when out of memory. */
int pindex_add(struct pindex *ix, struct mseries *s, const char *packed);
/* Drops every id for which dead(id) is true. */
void pindex_remove(struct pindex *ix, bool (*dead)(void *ctx, uint32_t id), void *ctx);
/*
 * The sorted ids of series whose labels satisfy all matchers (a label a
 * series lacks matches as ""). value_of (may be NULL) returns a candidate's
 * own value of a label (NULL when missing): once candidates are few, a
 * matcher is checked on them instead of on every value of the label.
 * *out is malloc'd (NULL when empty). Returns 0 or -1 when out of memory.
 */
int pindex_select_cb(const struct pindex *ix, const struct matcher *m, size_t nm,
                     const char *(*value_of)(void *ctx, uint32_t id, const char *name), void *ctx,
                     uint32_t **out, size_t *n_out);
void pindex_free(struct pindex *ix);

/* Sorted-array set operations; out may alias a; return the new length. */
size_t ids_intersect(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, uint32_t *out);
size_t ids_subtract(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, uint32_t *out);
/* Sorts and removes duplicates in place (radix sort); returns the new length. */
size_t ids_sort_unique(uint32_t *a, size_t n);

/* ---- blocks (tsdb_block.c) ---- */

enum { BSEC_CHUNKS, BSEC_ROLLUPS, BSEC_SYMBOLS, BSEC_SERIES, BSEC_SEROFF, BSEC_PARENTS, BSEC_N };

struct block_info {
    int64_t mint, maxt;   /* the block's range */
    int64_t dmint, dmaxt; /* of its data (set by a full parse) */
    uint64_t seq;
    uint32_t version; /* of the file format, 1 or 2 */
    uint32_t nseries, nsymbols, nparents;
    uint32_t nnamesets; /* version 2: label name sets after the symbols */
    uint64_t nsoff;     /* their offset in the symbols section */
    uint64_t nsamples;
    uint64_t off[BSEC_N], len[BSEC_N];
};

/* Version 2 blocks keep the offsets of every TSDB_BLOCK_CP-th series only. */
#define TSDB_BLOCK_CP 16

/* One chunk of a series in a block (data borrowed from the mapping). */
struct bchunk {
    const uint8_t *data;
    uint32_t len, crc;
    int64_t mint, maxt;
    uint32_t n;    /* samples (version 2; 0: the chunk says) */
    uint64_t step; /* version 2: the step of regular times, 0 when irregular */
    uint8_t bare;  /* version 2: a chunk_encode_meta chunk without its first byte */
};

/* Decodes a chunk with what its metadata says (n 0: the chunk says it all). */
static inline int tsdb_chunk_iter(struct chunk_iter *it, const uint8_t *data, size_t len,
                                  int64_t mint, uint32_t n, uint64_t step, bool bare)
{
    return bare ? chunk_iter_init_bare(it, data, len, mint, n, step)
                : chunk_iter_init_meta(it, data, len, mint, n, step);
}

static inline int tsdb_bchunk_iter(struct chunk_iter *it, const struct bchunk *c)
{
    return tsdb_chunk_iter(it, c->data, c->len, c->mint, c->n, c->step, c->bare);
}

/* Where the next series entry of a block starts, for reading entries in order. */
/*
 * Version 2 codes a series entry against the one before it (see
 * tsdb_block.c): what a reader keeps of the last entry.
 */
struct bprev {
    uint32_t ns, nlab;
    uint32_t vals[LABELS_MAX_PAIRS]; /* value symbols */
    bool shape;                      /* one regular chunk: */
    uint32_t n;                      /* its samples, */
    uint64_t step, dmint;            /* step and distance from the block's start */
};

struct bcursor {
    const uint8_t *data; /* the block it belongs to (with seq); NULL: none */
    uint64_t seq;
    uint32_t next; /* the series it is at */
    uint64_t eoff, choff;
    struct bprev prev; /* the entry before it */
};

/* A series entry of a block, parsed. */
struct bseries {
    uint32_t nlab; /* labels are filled only when symbols are resolved */
    struct lview lv[LABELS_MAX_PAIRS];
    uint32_t nchunks;
    int64_t mint, maxt;  /* of its data in the block */
    const uint8_t *roll; /* its rollup record, or NULL */
    uint32_t roll_len;
    /* chunk iteration state */
    struct rd meta;
    uint32_t left;
    int64_t prev_maxt;
    uint64_t next_off;
    /* version 2: a single chunk shaped like the previous entry's (only its
     * length and CRC are in meta) */
    uint8_t shape;
    uint32_t sn;
    uint64_t sstep, sdmint;
};

struct tsdb_block {
    char *path; /* owned */
    struct block_info info;
    const uint8_t *map; /* mmap of the file */
    size_t size;
    struct bgid {
        uint32_t gid, local;
    } * gmap;       /* sorted by gid */
    uint32_t *gids; /* gids by local index */
    int refs;       /* atomic; the list holds one */
};

/*
 * Validates a block image: header, footer, section bounds and CRCs (when
 * verify_crc), every symbol and every series entry (labels, chunk metadata).
 * Returns 0 with *info, or -1 with a message. Never reads outside data.
 */
int tsdb_block_parse(const uint8_t *data, size_t len, bool verify_crc, struct block_info *info,
                     char *err, size_t errlen);
/*
 * Parses series local of a validated block, with its labels when symoff
 * (symbol offsets from the load) is given. Returns 0 or -1 (corrupt).
 */
int tsdb_block_series(const uint8_t *data, const struct block_info *info, const uint32_t *symoff,
                      uint32_t local, struct bseries *out);
/* The same, faster for series read in order with a cursor (zeroed at first). */
int tsdb_block_series_at(const uint8_t *data, const struct block_info *info, const uint32_t *symoff,
                         uint32_t local, struct bseries *out, struct bcursor *cur);
/* Next chunk of a parsed series entry: 1, 0 at the end, -1 when corrupt. */
int tsdb_bseries_next_chunk(const uint8_t *data, const struct block_info *info, struct bseries *bs,
                            struct bchunk *c);
/* Checks a chunk's CRC. */
bool tsdb_bchunk_ok(const struct bchunk *c);

/* A decoded rollup record of one series in one block. */
struct rollup_rec {
    bool has_first;
    double first;
    bool has[2]; /* [0]: 5 min, [1]: 1 h */
    uint32_t nb[2];
    struct rd buckets[2];
    int64_t base[2];
    int64_t maxt;
};

/* Resolutions a block can hold, by index. */
#define TSDB_NRES 2
extern const int64_t tsdb_rollup_res[TSDB_NRES];

int tsdb_rollup_rec_parse(const uint8_t *p, size_t len, const struct block_info *info,
                          struct rollup_rec *r);
/* Decodes all buckets of resolution index ri into *out (malloc'd). */
int tsdb_rollup_rec_buckets(struct rollup_rec *r, int ri, struct tsdb_bucket **out, size_t *n);

struct tsdb_bwriter;

int tsdb_bw_open(struct tsdb_bwriter **out, const char *blocks_dir, int64_t mint, int64_t maxt,
                 uint64_t seq, const uint64_t *parents, size_t nparents, char *err, size_t errlen);
/* Adds a series with its samples (sorted, unique times, within the block). */
int tsdb_bw_add(struct tsdb_bwriter *w, uint32_t gid, const struct mseries *s, const int64_t *t,
                const double *v, size_t n, char *err, size_t errlen);
uint32_t tsdb_bw_count(const struct tsdb_bwriter *w);
/* Writes, fsyncs and renames the block. Returns 0 with *path_out (owned) and
 * *gids_out (owned, gids by local index), or -1. Frees w either way. */
int tsdb_bw_finish(struct tsdb_bwriter *w, char **path_out, uint32_t **gids_out, char *err,
                   size_t errlen);
void tsdb_bw_abort(struct tsdb_bwriter *w);

/* Maps and validates a block file. gids: by local index (taken), or NULL to
 * resolve labels through the registry (the caller holds the write lock). */
int tsdb_block_load(struct tsdb *db, const char *path, uint32_t *gids, struct tsdb_block **out,
                    char *err, size_t errlen);
/* The sequence numbers of the blocks b replaces: returns their count and
 * *out (malloc'd), or -1. */
int tsdb_block_parents(const struct tsdb_block *b, uint64_t **out);
void tsdb_block_ref(struct tsdb_block *b);
void tsdb_block_unref(struct tsdb_block *b);
/* Local index of gid in b via a cursor that only moves forward (queries walk
 * ids in ascending order); -1 when absent. */
int64_t tsdb_block_find(const struct tsdb_block *b, uint32_t gid, size_t *cursor);

/* ---- rollups (tsdb_rollup.c) ---- */

static inline double tsdb_counter_delta(double prev, double v)
{
    return v >= prev ? v - prev : v;
}

/* Streams samples in time order into buckets of res; emits buckets whose
 * start lies in [lo, hi] and uses earlier samples only as "the previous". */
struct rollup_acc {
    int64_t res, lo, hi;
    bool have_prev;
    double prev;
    struct tsdb_bucket *b; /* owned */
    size_t n, cap;
    bool oom;
};

void rollup_acc_init(struct rollup_acc *a, int64_t res, int64_t lo, int64_t hi);
void rollup_acc_add(struct rollup_acc *a, int64_t t, double v);
/* Appends a whole bucket, merging it into the last one when they share t. */
void rollup_acc_push(struct rollup_acc *a, const struct tsdb_bucket *b);
void rollup_acc_free(struct rollup_acc *a);

/* ---- the log (tsdb_wal.c) ---- */

struct tsdb_wal {
    pthread_mutex_t mu;
    char *dir;          /* owned: DIR/wal */
    int fd;             /* current segment */
    uint32_t seg;       /* its number */
    uint64_t seg_size;  /* its size */
    uint64_t bytes;     /* all segments */
    uint32_t epoch;     /* bumped by each checkpoint rotation */
    uint32_t first_seg; /* the oldest segment on disk */
    int fail_writes;    /* test hook: fail this many writes */
};

int tsdb_wal_open(struct tsdb *db, char *err, size_t errlen);
void tsdb_wal_close(struct tsdb_wal *w);
/* Replays every segment into the head (open only). */
int tsdb_wal_replay(struct tsdb *db, char *err, size_t errlen);
/*
 * Replays one segment image. Returns the length of its valid prefix; a torn
 * or corrupt record ends it (the caller truncates). *oom tells a record that
 * could not be applied for lack of memory (the caller must not truncate).
 */
size_t tsdb_wal_replay_buf(struct tsdb *db, const uint8_t *data, size_t len, void *refmap,
                           bool *oom);
/* Writes a prepared record (header filled in here) and applies nothing. */
int tsdb_wal_write(struct tsdb *db, const struct iovec *iov, int iovcnt, size_t payload_len,
                   uint32_t crc, char *err, size_t errlen);
/* Checkpoint after head data was persisted; see tsdb_wal.c. */
int tsdb_wal_checkpoint(struct tsdb *db, char *err, size_t errlen);
/* fsync the current segment. */
int tsdb_wal_sync(struct tsdb *db);

/* Appends a series record entry for s to b. -1 when out of memory. */
int tsdb_wal_series_entry(struct tbuf *b, const struct mseries *s);

/* Record layout: u32 payload length, u32 CRC-32C of the payload, payload. */
#define TSDB_WAL_HDR       8
#define TSDB_WAL_REC_BATCH 1

/* ---- the database ---- */

struct tsdb_source {
    uint64_t nseries; /* head series it created; registry lock */
    char name[];
};

struct tsdb {
    struct tsdb_options opt;
    char *dir, *blocks_dir; /* owned */
    int64_t block_ms;
    uint64_t hash_seed;

    pthread_rwlock_t lock;
    struct smap map;
    struct idtab ids;
    struct pindex ix;
    struct tsdb_source **sources;
    size_t nsources;
    struct strmap source_map;
    uint64_t head_series;
    uint64_t registry_bytes; /* series structs */

    pthread_mutex_t stripes[TSDB_STRIPES];

    struct tsdb_wal wal;

    pthread_mutex_t blocks_mu;
    struct tsdb_block **blocks; /* sorted by mint, then seq */
    size_t nblocks;
    uint64_t next_seq;

    pthread_mutex_t maint_mu;
    int64_t now_ms; /* atomic; the last maintenance time */

    /* Counters, atomic. */
    uint64_t samples_appended, samples_rejected, series_limit_hits, head_samples;
    uint64_t stored_rollup_reads; /* rollup records used by queries (tests check it) */
    uint64_t chunk_bytes;
    int64_t head_mint, head_maxt;

    /* Recycled appenders. */
    pthread_mutex_t pool_mu;
    struct tsdb_appender *pool[8];
    size_t npool;

    /* The background thread. */
    pthread_t thread;
    bool thread_started, stop;
    pthread_mutex_t thread_mu;
    pthread_cond_t thread_cv;

    int lock_fd; /* DIR/lock, flock'ed while open */
};

static inline pthread_mutex_t *tsdb_stripe(struct tsdb *db, const struct mseries *s)
{
    return &db->stripes[s->id & (TSDB_STRIPES - 1)];
}

/* ---- registry operations (tsdb_head.c) ---- */

/*
 * Finds or creates (not in the head) the series with these sorted, checked
 * labels. The caller holds the write lock. NULL when out of memory.
 */
struct mseries *tsdb_reg_get_or_create(struct tsdb *db, const char *packed, size_t len,
                                       uint32_t nlab, uint64_t hash);
/* Moves a series into the head (write lock). */
void tsdb_head_enter(struct tsdb *db, struct mseries *s, struct tsdb_source *src);
/* The source named name, made if new (write lock); NULL when out of memory. */
struct tsdb_source *tsdb_source_intern(struct tsdb *db, const char *name);
void tsdb_mseries_free(struct tsdb *db, struct mseries *s);

/* Result of tsdb_head_append. */
enum { HEAD_APPLIED = 0, HEAD_IGNORED = 1 };
/*
 * Appends a sample to the head data of s (takes the stripe lock). Returns
 * HEAD_APPLIED, HEAD_IGNORED (identical duplicate) or a negative status.
 */
int tsdb_head_append(struct tsdb *db, struct mseries *s, int64_t t, double v, uint32_t epoch);
/* Seals the open chunk (stripe lock held). -1 when out of memory. */
int tsdb_head_seal(struct tsdb *db, struct mseries *s);
/* Head samples and time range of s (stripe lock held). */
bool tsdb_head_range(const struct mseries *s, int64_t *mint, int64_t *maxt);

/* A chunk reference collected by a query: into a block mapping, or at an
 * offset in the query's arena (head copies). */
struct cref {
    const uint8_t *data; /* NULL: arena offset in off */
    size_t off, len;
    int64_t mint, maxt;
    uint32_t crc;
    uint8_t check_crc;
    uint32_t n;    /* samples when the metadata says (struct bchunk), else 0 */
    uint64_t step; /* ditto, the step of regular times */
    uint8_t bare;  /* ditto, see struct bchunk */
};

/*
 * Copies (under the stripe lock) the head chunks of s overlapping [lo, hi]
 * and, when want_before, the last one ending before lo, into arena with
 * crefs appended to *cr. Returns 0 or -1 when out of memory.
 */
int tsdb_head_copy(struct tsdb *db, struct mseries *s, int64_t lo, int64_t hi, bool want_before,
                   struct tbuf *arena, struct cref **cr, size_t *ncr, size_t *capcr);

/* Looks up the value of s at time t in the blocks (for a duplicate check
 * after a restart). Returns 0 with *v, or -1. */
int tsdb_blocks_value_at(struct tsdb *db, const struct mseries *s, int64_t t, double *v);

/* Blocks snapshot with references held; release with tsdb_blocks_release. */
int tsdb_blocks_acquire(struct tsdb *db, struct tsdb_block ***out, size_t *n);
void tsdb_blocks_release(struct tsdb_block **b, size_t n);

/* Pin/unpin (pin under the registry read or write lock). */
static inline void tsdb_pin(struct mseries *s)
{
    __atomic_fetch_add(&s->pins, 1, __ATOMIC_RELAXED);
}

static inline void tsdb_unpin(struct mseries *s)
{
    __atomic_fetch_sub(&s->pins, 1, __ATOMIC_RELEASE);
}

/* Adds a block to the list and the series' block_refs (write lock taken here). */
void tsdb_blocks_add(struct tsdb *db, struct tsdb_block *b);

/* The persist and maintenance steps (tsdb_maint.c). */
int tsdb_persist_head(struct tsdb *db, int64_t boundary, bool *persisted, char *err, size_t errlen);
void tsdb_gc_series(struct tsdb *db);

/* Test hook: the next n log writes fail as if the disk were full. */
void tsdb_test_fail_wal_writes(struct tsdb *db, int n);

#endif
