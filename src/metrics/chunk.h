/*
 * chunk.h - the sample codec: a run of (int64 ms timestamp, double value)
 * pairs in strictly increasing time, compressed. Timestamps are deltas
 * against the smallest delta of each group of 16 samples (regular scrapes
 * cost nothing but a bit a group). Values that are integers or decimals with
 * few digits (most counters and many gauges) become integer deltas, divided
 * by their common factor; other floats become integer deltas of their IEEE
 * bits or Gorilla XOR. Each group of 16 takes the cheapest of fixed-width,
 * Rice, zero-flagged and delta-of-delta codings. chunk.c describes the format.
 *
 * An encoder (struct chunk_enc) lives in the head and takes samples one at
 * a time; a snapshot of it is a self-contained byte string that the
 * iterator reads. A chunk that is complete (sealed in the head, or written to
 * a block) is encoded once more at once by chunk_encode (format 3): one
 * coding for the whole chunk, range coded, a few percent smaller. Chunks are
 * stored on disk, so the format is versioned by its first byte.
 *
 * NaN payloads are kept bit for bit (Prometheus's staleness marker is a NaN).
 */
#ifndef TOCSIN_CHUNK_H
#define TOCSIN_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct chunk_exc;

/* Samples the encoder packs at a time; fewer than this wait as pending samples. */
#define CHUNK_GROUP 16

/* The most samples one chunk takes (chunk_enc_append fails beyond). */
#define CHUNK_MAX_SAMPLES (1u << 22)

/*
 * The encoder. Its fields are private to chunk.c; other modules embed it and
 * use only the functions below. It holds sizeof(struct chunk_enc) bytes
 * inline (128 on 64-bit) plus chunk_enc_memory() on the heap. The head keeps
 * one per series, so it is kept small: the up to CHUNK_GROUP - 1 samples that
 * wait to be packed are stored compactly on the heap behind the packed ones.
 */
struct chunk_enc {
    uint8_t *buf;   /* owned: the packed groups (bit stream), then the pending samples */
    uint32_t len;   /* bytes of packed groups, (nbits + 7) / 8 */
    uint32_t cap;   /* bytes allocated at buf */
    uint32_t n;     /* samples appended */
    uint32_t nbits; /* bits used by the packed groups */
    int64_t mint, maxt;

    /* Private to chunk.c. */
    struct chunk_exc *exc;  /* owned; decimal mode: samples kept verbatim */
    uint32_t nexc;          /* exceptions in exc */
    uint16_t plen;          /* bytes of pending samples at buf + len */
    uint8_t npend, locked;  /* samples waiting; parameters fixed (rebuilding) */
    uint8_t mode, scale;    /* value coding, decimal digits */
    uint8_t wt, wv, sv, sh; /* field widths and codings of the last packed group */
    uint8_t kind;           /* its kind (float mode: integer deltas or XOR) */
    uint64_t first;         /* first value: IEEE bits, or its integer in decimal mode */
    uint64_t lastv;         /* value of the last packed sample (same coding as first) */
    uint64_t pbase;         /* IEEE bits of the last packed sample's value */
    uint64_t gcd;           /* decimal mode: common divisor of the integer deltas */
    uint64_t tsd;           /* smallest time delta of the last packed group */
    uint64_t lastd;         /* the last packed value delta (see chunk.c) */
    uint64_t uv;            /* uniform coding's largest field in the last packed group */
    int64_t lastt;          /* time of the last packed sample */
};

void chunk_enc_init(struct chunk_enc *e);
void chunk_enc_free(struct chunk_enc *e);

/*
 * Appends a sample. t must be greater than the last appended timestamp (the
 * caller enforces the order). Returns 0, or -1 when out of memory or the
 * chunk holds CHUNK_MAX_SAMPLES (the encoder is unchanged).
 */
int chunk_enc_append(struct chunk_enc *e, int64_t t, double v);

/* Samples appended so far. */
uint32_t chunk_enc_count(const struct chunk_enc *e);

/*
 * Encodes everything appended so far as a self-contained chunk. *out is
 * malloc'd and owned by the caller; the encoder is unchanged and may go on.
 * Costs about a microsecond: a header, a copy of the packed bytes and the
 * last partial group. Returns 0, or -1 when out of memory.
 */
int chunk_enc_snapshot(const struct chunk_enc *e, uint8_t **out, size_t *outlen);

/* Heap bytes the encoder holds (for memory accounting; the struct is extra). */
size_t chunk_enc_memory(const struct chunk_enc *e);

/* The most samples chunk_encode takes. */
#define CHUNK_RC_MAX 65536

/*
 * Encodes n samples (times increasing, as for chunk_enc_append) at once in
 * the dense format 3: the coding is chosen for the whole chunk and range
 * coded, which is what blocks store (a few percent smaller than chunk_enc's
 * format 2; it costs more CPU to write and about twice the time to read).
 * *out is malloc'd and owned by the caller. Returns 0, or -1 when out of
 * memory or n > CHUNK_RC_MAX.
 */
int chunk_encode(const int64_t *t, const double *v, uint32_t n, uint8_t **out, size_t *outlen);

/*
 * Encodes everything appended so far with chunk_encode_meta (format 3
 * without the first time, count and step, which the encoder's owner keeps):
 * what a full head chunk keeps once no sample will be added to it. *step is
 * the step of its times when regular, else 0; read it with
 * chunk_iter_init_meta(mint, count, *step). Falls back to a snapshot (which
 * says it all) when chunk_encode cannot take it. *out is malloc'd and owned
 * by the caller. Returns 0, or -1 when out of memory.
 */
int chunk_enc_finish(const struct chunk_enc *e, uint8_t **out, size_t *outlen, uint64_t *step);

/*
 * chunk_encode for a caller that stores the chunk's first time, its sample
 * count and, when its times are regular (chunk_times_regular), their step
 * itself (a block's chunk metadata): the chunk leaves them out (format 3
 * with first byte 0xF4) and only chunk_iter_init_meta reads it.
 */
int chunk_encode_meta(const int64_t *t, const double *v, uint32_t n, uint8_t **out, size_t *outlen);

/* True when t[0..n) are evenly spaced; *step is t[1] - t[0] (0 when n < 2). */
bool chunk_times_regular(const int64_t *t, uint32_t n, uint64_t *step);

/* Adaptive symbol frequencies of the format 3 decoder (private). */
struct chunk_fm {
    uint32_t total;
    uint8_t k;
    uint16_t f[84];
};

/*
 * Reads an encoded chunk. The data is borrowed and must outlive the iterator.
 * n is the sample count, i the samples decoded so far (a group at a time),
 * t and v the sample last returned.
 */
struct chunk_iter {
    const uint8_t *data;
    size_t len;
    uint32_t n, i;
    int64_t t;
    double v;

    /*
     * Private decoder state: the iterator decodes a group of samples at a
     * time into bt[] and bv[].
     */
    uint64_t pos, end;         /* bit position in data, bits in data */
    uint64_t prev;             /* last decoded value: integer (decimal mode) or IEEE bits */
    uint64_t gcd, tsd, v0;     /* integer delta unit; group's smallest time delta; first value */
    uint64_t lastd;            /* the last value delta (see chunk.c) */
    uint64_t uv;               /* uniform coding's largest field (format 2) */
    int64_t t0, tlast;         /* first time, last decoded time */
    size_t excpos;             /* byte offset of the next exception's value */
    uint32_t excidx, nexc;     /* index of the next exception, exceptions left */
    uint8_t mode, scale, kind; /* value coding, decimal digits, group kind */
    uint8_t wt, wv, sv, sh;    /* field widths and codings of the current group */
    uint8_t bn, bi;            /* samples in bt/bv, next one to return */
    uint8_t err;               /* set once corruption was seen */
    uint8_t ver;               /* chunk format, 1 to 3 */
    int64_t bt[CHUNK_GROUP];
    uint64_t bv[CHUNK_GROUP];

    /* Format 3: the range decoder and its models (see chunk.c). */
    size_t rc_pos; /* next byte to read */
    uint32_t rc_code, rc_range;
    uint32_t rc_pad;             /* zero bytes read past the end */
    uint8_t f3, bmin, nb, tbmin; /* flags, value buckets, time buckets */
    uint16_t emax;               /* the exponent the bucket shift counts from */
    uint64_t ulo, smin, smax;    /* uniform's lowest residual; the special values */
    uint64_t lastq, dt;          /* the last residual delta; the last time delta */
    struct chunk_fm vm, tm;      /* value and time bucket frequencies */
    uint16_t mb[81][2];          /* per bucket symbol: counts of the bit below the top one */
};

/* Returns 0, or -1 when the header is not a chunk this version can read
 * (chunks of chunk_encode_meta need chunk_iter_init_meta). */
int chunk_iter_init(struct chunk_iter *it, const uint8_t *data, size_t len);

/*
 * Like chunk_iter_init with what the caller stored beside the chunk: its
 * first time mint, n samples and the step of regular times (0: irregular).
 * Reads every format; for self-contained chunks n and mint must agree with
 * the chunk (n 0: not known). Returns 0 or -1.
 */
int chunk_iter_init_meta(struct chunk_iter *it, const uint8_t *data, size_t len, int64_t mint,
                         uint32_t n, uint64_t step);

/* The same for a chunk_encode_meta chunk stored without its first byte
 * (a caller that knows every chunk it stores is one). */
int chunk_iter_init_bare(struct chunk_iter *it, const uint8_t *data, size_t len, int64_t mint,
                         uint32_t n, uint64_t step);

/*
 * Returns 1 and the next sample, 0 at the end, or -1 when the data is
 * corrupt. Never reads outside [data, data + len).
 */
int chunk_iter_next(struct chunk_iter *it, int64_t *t, double *v);

/* Number of samples in an encoded chunk, from its header; 0 when not a chunk. */
uint32_t chunk_count(const uint8_t *data, size_t len);

#endif
