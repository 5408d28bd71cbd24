/*
 * chunk.c - the sample codec.
 *
 * A chunk is a header of whole bytes and then a bit stream (most significant
 * bit first) of groups of samples. In format 2 (what the encoder writes) the
 * first group holds samples 1 to 15 and every later one 16, so a chunk of
 * 16 k samples ends on a group boundary; format 1 (still read) has groups of
 * 16 from sample 1.
 *
 *   byte 0      format: float values 0xF2 (format 1: 0xF1), or decimal values
 *               (m / 10^k for integers m) 0x40 | k << 2 | flags (format 1:
 *               0x80 | ...); flag 2: g follows, flag 1: exceptions follow
 *   uvarint     n, the number of samples
 *   if n >= 1:
 *     uvarint   zigzag(t0)
 *     float:    v0 as 8 bytes of IEEE bits, little endian
 *     decimal:  uvarint zigzag(m0); [uvarint g >= 2, the unit of the integer
 *               deltas, else 1]; [uvarint e, then e exceptions: uvarint gap
 *               (the first's index, then index - previous index - 1) and 8
 *               bytes of IEEE bits]
 *   groups for samples 1 .. n-1
 *
 * A group starts with one bit: 0 when its headers are all as in the previous
 * group, else 1 and the headers, each coded against the previous group's:
 *   time:   '0' same, or '1' + svar(D - previous D) + width code (D is the
 *           smallest time delta of the group; each sample stores delta - D in
 *           wt bits, so regular timestamps cost nothing)
 *   float:  a bit, 0 = integer deltas of the IEEE bits, 1 = XOR
 *   unless XOR: the value coding and width (width code with 5 coding bits,
 *           format 1: 4: 1 zigzag, 2 Rice, 4 zero flags, 8 differences, 16
 *           uniform), for uniform the bits of uv below its top bit (uv has w
 *           bits), and for floats the shift: '0' same or '1' + 6 bits
 * Format 2 then has the time fields of all samples, then the value fields;
 * format 1 has each sample's time field followed by its value field.
 *   decimal: q = (m - previous m) / g; float: q = (bits - previous bits) >> sh;
 *            with "differences" the field is q - previous q; the field is
 *            raw or zigzag; in w bits, Rice coded with parameter w (unary
 *            quotient, RICE_LIMIT ones escape to 64 raw bits), or (format 2)
 *            uniform in 0 .. uv (see uni_put); with "zero flags" a bit per
 *            sample that is 0 for a zero field comes first (format 2: all
 *            flags before the fields, and a non-zero field is coded minus 1;
 *            format 1: each flag before its field)
 *   XOR:     '0' same value; '10' + the bits inside the previous window; '11'
 *            + 6 bits leading zeros + 6 bits (length - 1) + the bits
 * Width code: '0' same, '10' + a bit (one down, one up), '11' + the coding
 * bits + 7 bits of width. svar: '0' 0, '10' + 6 bits, '110' + 13, '1110' +
 * 20, '11110' + 32, '11111' + 64.
 *
 * Decimal values are exact: m / 10^k computed in double is correctly rounded,
 * so it gives back the double that the decimal text (as strtod read it) gave;
 * the encoder checks every value by doing that very division. A value that
 * cannot be written so (NaN, the staleness marker, infinities, -0.0, full
 * precision floats) is an exception stored verbatim, holding the integer
 * where it was; when there are too many, the chunk uses float mode.
 *
 * The encoder packs each group once it is full, with the chunk parameters it
 * has (mode, k, g). When a new group does not fit them (a value needs more
 * digits, a delta is not a multiple of g, too many exceptions), it rebuilds the
 * chunk from its decoded samples with parameters chosen over all of them. That
 * happens a bounded number of times per chunk (k only grows, g only shrinks,
 * float mode is final), so appending stays cheap, and a snapshot is a header,
 * a copy of the packed bytes and the pending samples packed as a last group.
 * Each group's coding is the cheapest of those above, counted exactly (a
 * change of coding is weighed at half its header bits, since it usually
 * holds for the groups that follow).
 */
#include "chunk.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define G CHUNK_GROUP
/*
 * Decimal: FMT_DEC | k << 2 | FMT_GCD (g > 1 follows) | FMT_EXC (exceptions
 * follow). Format 1 (0x80.., 0xF1) is still read; the encoder writes format 2
 * (0x40.., 0xF2).
 */
#define FMT_DEC   0x80
#define FMT_DEC2  0x40
#define FMT_GCD   0x02
#define FMT_EXC   0x01
#define FMT_FLT   0xF1
#define FMT_FLT2  0xF2
#define FMT_RC    0xF3 /* format 3, range coded (see chunk_encode) */
#define FMT_RCM   0xF4 /* format 3 without t0, n and a regular delta (chunk_encode_meta) */
#define SCALE_MAX 15
/* Integers of decimal mode stay within +-2^53, exact in a double. */
#define M_LIMIT 9007199254740992.0

enum { MODE_NONE = 0, MODE_DEC = 1, MODE_FLT = 2 };
enum { PREP_OK, PREP_REBUILD, PREP_FLOAT };

/* The most bits one group can take: headers plus 16 * (64 + 1 + 20 + 64). */
#define GROUP_MAX_BITS (192 + G * 150)
/* Rice codes of values >= this many times 2^k escape to 64 raw bits. */
#define RICE_LIMIT 20

struct chunk_exc {
    uint64_t bits;
    uint32_t idx;
};

static const double p10[SCALE_MAX + 1] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                          1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

/* ---- small helpers ---- */

static inline uint64_t load_be64(const uint8_t *p)
{
    return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
           (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
           (uint64_t)p[6] << 8 | (uint64_t)p[7];
}

static inline void store_be64(uint8_t *p, uint64_t x)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)x;
        x >>= 8;
    }
}

static inline uint64_t load_le64(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = x << 8 | p[i];
    return x;
}

static inline void store_le64(uint8_t *p, uint64_t x)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)x;
        x >>= 8;
    }
}

static inline uint64_t zz(int64_t x)
{
    return ((uint64_t)x << 1) ^ (0 - ((uint64_t)x >> 63));
}

static inline int64_t unzz(uint64_t u)
{
    return (int64_t)((u >> 1) ^ (0 - (u & 1)));
}

static inline unsigned bitlen(uint64_t x)
{
    return x ? 64 - (unsigned)__builtin_clzll(x) : 0;
}

/* Arithmetic shift right without relying on implementation-defined >>. */
static inline int64_t asr(int64_t x, unsigned s)
{
    return x < 0 ? ~(int64_t)((uint64_t)~x >> s) : (int64_t)((uint64_t)x >> s);
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    if (a == 0)
        return b;
    if (b == 0)
        return a;
    unsigned s = (unsigned)__builtin_ctzll(a | b);
    a >>= __builtin_ctzll(a);
    do {
        b >>= __builtin_ctzll(b);
        if (a > b) {
            uint64_t t = a;
            a = b;
            b = t;
        }
        b -= a;
    } while (b);
    return a << s;
}

static inline uint64_t dbits(double v)
{
    uint64_t b;
    memcpy(&b, &v, 8);
    return b;
}

static inline double bitsd(uint64_t b)
{
    double v;
    memcpy(&v, &b, 8);
    return v;
}

static inline double dec_value(uint64_t m, unsigned k)
{
    int64_t mi;
    memcpy(&mi, &m, 8);
    double d = (double)mi;
    return k ? d / p10[k] : d;
}

/*
 * True when v is exactly m / 10^k for an integer |m| < 2^53, checked with
 * the very division the decoder does, so the round trip is bit exact.
 */
static bool dec_rep(double v, unsigned k, int64_t *m)
{
    double x = v * p10[k];
    if (!(x > -M_LIMIT && x < M_LIMIT))
        return false;
    int64_t q = (int64_t)(x < 0 ? x - 0.5 : x + 0.5);
    if (dbits(dec_value((uint64_t)q, k)) != dbits(v))
        return false;
    *m = q;
    return true;
}

/* The fewest decimal digits that represent v, or -1. */
static int dec_need(double v, int64_t *m)
{
    if (!isfinite(v))
        return -1;
    double a = fabs(v);
    for (unsigned k = 0; k <= SCALE_MAX; k++) {
        if (a * p10[k] >= M_LIMIT)
            break;
        if (dec_rep(v, k, m))
            return (int)k;
    }
    return -1;
}

/* Exceptions a decimal chunk of n samples may hold before float mode is cheaper. */
static inline uint32_t exc_limit(uint32_t n)
{
    return 4 + n / 8;
}

/* ---- bit writer and reader ---- */

/* The buffer must have 8 bytes beyond the last bit written, all zero. */
struct bw {
    uint8_t *p;
    uint64_t pos;
};

static inline void bw_put(struct bw *w, uint64_t v, unsigned n)
{
    if (n == 0)
        return;
    if (n > 56) {
        bw_put(w, v >> 32, n - 32);
        v &= 0xffffffffu;
        n = 32;
    }
    uint8_t *p = w->p + (w->pos >> 3);
    unsigned off = (unsigned)(w->pos & 7);
    uint64_t x = load_be64(p);
    x |= (v & ((UINT64_C(1) << n) - 1)) << (64 - off - n);
    store_be64(p, x);
    w->pos += n;
}

struct br {
    const uint8_t *p;
    size_t len;
    uint64_t pos, end;
};

/* The next n (1..56) bits, known to be there, without consuming them. */
static inline uint64_t br_peek(const struct br *r, unsigned n)
{
    size_t byte = (size_t)(r->pos >> 3);
    uint64_t x;
    if (byte + 8 <= r->len) {
        x = load_be64(r->p + byte);
    } else {
        /* Near the end: pad with zeros instead of reading past it. */
        x = 0;
        for (size_t i = 0; i < 8; i++)
            x = x << 8 | (byte + i < r->len ? r->p[byte + i] : 0);
    }
    return (x << (r->pos & 7)) >> (64 - n);
}

/* Reads n (1..56) bits that are known to be there. */
static inline uint64_t br_take(struct br *r, unsigned n)
{
    uint64_t x = br_peek(r, n);
    r->pos += n;
    return x;
}

/* Reads n <= 64 bits; -1 past the end. */
static inline int br_get(struct br *r, unsigned n, uint64_t *out)
{
    if (n > r->end - r->pos)
        return -1;
    if (n == 0) {
        *out = 0;
    } else if (n <= 56) {
        *out = br_take(r, n);
    } else {
        uint64_t hi = br_take(r, n - 32);
        *out = hi << 32 | br_take(r, 32);
    }
    return 0;
}

/* ---- varints ---- */

static size_t uv_put(uint8_t *p, uint64_t v)
{
    size_t i = 0;
    while (v >= 0x80) {
        if (p)
            p[i] = (uint8_t)(v | 0x80);
        i++;
        v >>= 7;
    }
    if (p)
        p[i] = (uint8_t)v;
    return i + 1;
}

static int uv_get(const uint8_t *p, size_t len, size_t *off, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned s = 0; s < 64; s += 7) {
        if (*off >= len)
            return -1;
        uint8_t b = p[(*off)++];
        if (s == 63 && b > 1)
            return -1;
        r |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* ---- group planning and writing ---- */

/* The headers' state, carried from one group to the next. */
struct gstate {
    uint64_t tsd;
    uint64_t lastd; /* the last delta: decimal q, float the IEEE bits' delta */
    uint64_t uv;    /* uniform coding: the largest field it can hold */
    uint8_t wt, wv, sv, sh, kind;
};

/* One group's samples, ready to be coded. */
struct grp {
    unsigned cnt;
    uint64_t dt[G];  /* time deltas */
    uint64_t val[G]; /* decimal: integer delta / g (two's complement); float: IEEE bits */
    uint64_t gcd, last;
    uint64_t lastbits; /* IEEE bits of the group's last value */
    int64_t lastt;
    unsigned nexc;
    struct chunk_exc exc[G];
};

/* How a group is coded. */
struct plan {
    struct gstate st; /* the headers' state after the group */
    uint64_t bits;    /* bits the group takes */
    uint64_t tsz;     /* zigzag of the change of D */
    uint8_t same;     /* every header as in the previous group */
    uint8_t m;        /* value fields in f */
    uint16_t nz;      /* zero flags: bit j set when sample j's field is not zero */
    uint64_t f[G];    /* the value fields written (unless XOR) */
};

static unsigned svar_cost(uint64_t z)
{
    if (z == 0)
        return 1;
    if (z < (UINT64_C(1) << 6))
        return 8;
    if (z < (UINT64_C(1) << 13))
        return 16;
    if (z < (UINT64_C(1) << 20))
        return 24;
    if (z < (UINT64_C(1) << 32))
        return 37;
    return 69;
}

static void svar_put(struct bw *w, uint64_t z)
{
    if (z == 0) {
        bw_put(w, 0, 1);
    } else if (z < (UINT64_C(1) << 6)) {
        bw_put(w, 2, 2);
        bw_put(w, z, 6);
    } else if (z < (UINT64_C(1) << 13)) {
        bw_put(w, 6, 3);
        bw_put(w, z, 13);
    } else if (z < (UINT64_C(1) << 20)) {
        bw_put(w, 14, 4);
        bw_put(w, z, 20);
    } else if (z < (UINT64_C(1) << 32)) {
        bw_put(w, 30, 5);
        bw_put(w, z, 32);
    } else {
        bw_put(w, 31, 5);
        bw_put(w, z, 64);
    }
}

static int svar_get(struct br *r, uint64_t *z)
{
    static const unsigned widths[] = {6, 13, 20, 32, 64};
    uint64_t b;
    unsigned i;
    for (i = 0; i < 5; i++) {
        if (br_get(r, 1, &b) != 0)
            return -1;
        if (!b)
            break;
    }
    if (i == 0) {
        *z = 0;
        return 0;
    }
    return br_get(r, widths[i - 1], z);
}

/*
 * Cost of the width code for width w and coding c (cbits bits of it: 2 for
 * values, none for times) after pw and pc.
 */
static inline unsigned wcode_cost(unsigned pw, unsigned pc, unsigned w, unsigned c, unsigned cbits)
{
    if (w == pw && c == pc)
        return 1;
    if (c == pc && (w == pw + 1 || w + 1 == pw))
        return 3;
    return 9 + cbits;
}

static void wcode_put(struct bw *b, unsigned pw, unsigned pc, unsigned w, unsigned c,
                      unsigned cbits)
{
    if (w == pw && c == pc) {
        bw_put(b, 0, 1);
    } else if (c == pc && (w == pw + 1 || w + 1 == pw)) {
        bw_put(b, 2, 2);
        bw_put(b, w > pw, 1);
    } else {
        bw_put(b, 3, 2);
        bw_put(b, c, cbits);
        bw_put(b, w, 7);
    }
}

static int wcode_get(struct br *r, uint8_t *w, uint8_t *c, unsigned cbits)
{
    uint64_t b, x;
    if (br_get(r, 1, &b) != 0)
        return -1;
    if (!b)
        return 0;
    if (br_get(r, 1, &b) != 0)
        return -1;
    if (!b) {
        if (br_get(r, 1, &b) != 0)
            return -1;
        if (b ? *w >= 64 : *w == 0)
            return -1;
        *w = (uint8_t)(b ? *w + 1 : *w - 1);
        return 0;
    }
    if (br_get(r, cbits, &b) != 0)
        return -1;
    *c = (uint8_t)b;
    if (br_get(r, 7, &x) != 0 || x > 64)
        return -1;
    *w = (uint8_t)x;
    return 0;
}

/*
 * Gorilla XOR of one value against the previous one: cost in bits, and the
 * window (leading zeros, length) updated. The writer makes the same choices.
 */
static inline unsigned xor_step(uint64_t x, unsigned *wlz, unsigned *wlen)
{
    if (x == 0)
        return 1;
    unsigned lz = (unsigned)__builtin_clzll(x), tz = (unsigned)__builtin_ctzll(x);
    unsigned len = 64 - lz - tz;
    if (*wlen && lz >= *wlz && tz >= 64 - *wlz - *wlen && *wlen <= len + 12)
        return 2 + *wlen;
    *wlz = lz;
    *wlen = len;
    return 14 + len;
}

static void xor_put(struct bw *w, uint64_t x, unsigned *wlz, unsigned *wlen)
{
    if (x == 0) {
        bw_put(w, 0, 1);
        return;
    }
    unsigned lz = (unsigned)__builtin_clzll(x), tz = (unsigned)__builtin_ctzll(x);
    unsigned len = 64 - lz - tz;
    if (*wlen && lz >= *wlz && tz >= 64 - *wlz - *wlen && *wlen <= len + 12) {
        bw_put(w, 2, 2);
        bw_put(w, x >> (64 - *wlz - *wlen), *wlen);
        return;
    }
    *wlz = lz;
    *wlen = len;
    bw_put(w, 3, 2);
    bw_put(w, lz, 6);
    bw_put(w, len - 1, 6);
    bw_put(w, x >> tz, len);
}

/* Bits of a Rice code of z with parameter k. */
static inline unsigned rice_cost(uint64_t z, unsigned k)
{
    uint64_t q = z >> k;
    return q < RICE_LIMIT ? (unsigned)q + 1 + k : RICE_LIMIT + 64;
}

static void rice_put(struct bw *w, uint64_t z, unsigned k)
{
    uint64_t q = z >> k;
    if (q < RICE_LIMIT) {
        bw_put(w, (UINT64_C(1) << (q + 1)) - 2, (unsigned)q + 1);
        bw_put(w, z, k);
    } else {
        bw_put(w, (UINT64_C(1) << RICE_LIMIT) - 1, RICE_LIMIT);
        bw_put(w, z, 64);
    }
}

/* The cheapest Rice parameter for z[0..cnt); its cost in *cost. */
static unsigned rice_best(const uint64_t *z, unsigned cnt, unsigned *cost)
{
    uint64_t sum = 0;
    for (unsigned j = 0; j < cnt; j++)
        sum += z[j] >> 4;
    /* The mean is about sum * 16 / cnt; the best k is near its bit length. */
    int mid = (int)bitlen(sum) + 4 - (int)bitlen(cnt);
    unsigned bestk = 0, best = UINT32_MAX;
    for (int k = mid - 3; k <= mid + 1; k++) {
        if (k < 0 || k > 63)
            continue;
        unsigned c = 0;
        for (unsigned j = 0; j < cnt; j++)
            c += rice_cost(z[j], (unsigned)k);
        if (c < best) {
            best = c;
            bestk = (unsigned)k;
        }
    }
    *cost = best;
    return bestk;
}

/* Value field codings: bits of the coding code. */
#define VC_ZIGZAG 1  /* zigzag, else raw (all >= 0) */
#define VC_RICE   2  /* Rice code with parameter w, else w bits */
#define VC_FLAGS  4  /* a bit per sample: 0 is a zero field, not written */
#define VC_DOD    8  /* fields are differences of the deltas (steady rates) */
#define VC_BITS1  4  /* coding bits in format 1 */
#define VC_UNI    16 /* format 2: uniform over 0 .. uv, packed in mixed radix */
#define VC_BITS   5

/*
 * Uniform coding: m fields in 0 .. uv cost m * log2(uv + 1) bits, which is
 * what counters that grow by a random amount in a fixed range need (fixed
 * width pays up to a bit more per sample, Rice more). A field is split into
 * a high digit below rh = (uv >> s) + 1 <= 256, with s the bits of uv beyond
 * eight, and s low bits; up to eight high digits form one number below
 * rh^8 < 2^64 (the first digit lowest), written in as many bits as its
 * largest value needs, and the low bits follow all of them. A power of two rh
 * is plain fixed width.
 */
static inline unsigned uni_shift(uint64_t uv)
{
    unsigned w = bitlen(uv);
    return w > 8 ? w - 8 : 0;
}

static uint64_t uni_bits(uint64_t uv, unsigned m)
{
    if (m == 0 || uv == 0)
        return 0;
    unsigned s = uni_shift(uv);
    uint64_t rh = (uv >> s) + 1, bits = (uint64_t)m * s, p = 1;
    if ((rh & (rh - 1)) == 0)
        return (uint64_t)m * bitlen(uv);
    for (unsigned j = 0, k = 0; j < m; j++) {
        p *= rh;
        if (++k == 8 || j + 1 == m) {
            bits += bitlen(p - 1);
            p = 1;
            k = 0;
        }
    }
    return bits;
}

static void uni_put(struct bw *w, const uint64_t *f, unsigned m, uint64_t uv)
{
    if (m == 0 || uv == 0)
        return;
    unsigned s = uni_shift(uv);
    uint64_t rh = (uv >> s) + 1;
    if ((rh & (rh - 1)) == 0) {
        for (unsigned j = 0; j < m; j++)
            bw_put(w, f[j], bitlen(uv));
        return;
    }
    for (unsigned j0 = 0; j0 < m; j0 += 8) {
        unsigned k = m - j0 < 8 ? m - j0 : 8;
        uint64_t x = 0, p = 1;
        for (unsigned j = k; j-- > 0;) {
            x = x * rh + (f[j0 + j] >> s);
            p *= rh;
        }
        bw_put(w, x, bitlen(p - 1));
    }
    if (s)
        for (unsigned j = 0; j < m; j++)
            bw_put(w, f[j], s);
}

struct fchoice {
    uint64_t score, cost, uv;
    uint8_t c, w;
};

#ifndef HDR_AMORT
#define HDR_AMORT 2
#endif

/* What a group's header costs beside its value coding code. */
struct hctx {
    unsigned base; /* bits of a header that is not "same", without the coding code */
    bool can_same; /* every other header is as in the previous group */
};

/* Bits of a value coding code: the width code, and uv's bits below its top one. */
static inline unsigned ccode_cost(const struct gstate *ps, unsigned c, unsigned w)
{
    return wcode_cost(ps->wv, ps->sv, w, c, VC_BITS) + ((c & VC_UNI) && w >= 2 ? w - 1 : 0);
}

/* Considers coding c with width w (and uv) whose fields take fbits. */
static void cand(const struct gstate *ps, const struct hctx *h, unsigned c, unsigned w, uint64_t uv,
                 uint64_t fbits, struct fchoice *b)
{
    bool same = h->can_same && c == ps->sv && w == ps->wv && (!(c & VC_UNI) || uv == ps->uv);
    uint64_t hdr = same ? 1 : h->base + ccode_cost(ps, c, w);
    uint64_t score = fbits * HDR_AMORT + (same ? HDR_AMORT : hdr);
    if (score < b->score) {
        b->score = score;
        b->cost = fbits + hdr;
        b->c = (uint8_t)c;
        b->w = (uint8_t)w;
        b->uv = uv;
    }
}

/*
 * Tries the fields z[0..n) (fl: bits of zero flags before them) at a fixed
 * width, Rice coded and uniform, each also with the previous group's
 * parameter when that keeps the header "same".
 */
static void try_fields(const struct gstate *ps, const struct hctx *h, const uint64_t *z, unsigned n,
                       unsigned fl, unsigned c, struct fchoice *b)
{
    uint64_t all = 0, mx = 0;
    for (unsigned j = 0; j < n; j++) {
        all |= z[j];
        mx = z[j] > mx ? z[j] : mx;
    }
    unsigned w = bitlen(all);
    cand(ps, h, c, w, 0, fl + (uint64_t)n * w, b);
    if (ps->sv == c && ps->wv > w)
        cand(ps, h, c, ps->wv, 0, fl + (uint64_t)n * ps->wv, b);
    if (w >= 2) {
        unsigned rc;
        unsigned k = rice_best(z, n, &rc);
        cand(ps, h, c | VC_RICE, k, 0, fl + rc, b);
        cand(ps, h, c | VC_UNI, w, mx, fl + uni_bits(mx, n), b);
    }
    if (ps->sv == (c | VC_RICE) && ps->wv != 0 && ps->wv < 64) {
        uint64_t rc = fl;
        for (unsigned j = 0; j < n; j++)
            rc += rice_cost(z[j], ps->wv);
        cand(ps, h, c | VC_RICE, ps->wv, 0, rc, b);
    }
    if (ps->sv == (c | VC_UNI) && ps->uv > mx)
        cand(ps, h, c | VC_UNI, ps->wv, ps->uv, fl + uni_bits(ps->uv, n), b);
}

/* Tries the signed fields x[0..cnt) raw, zigzag, and either behind flags. */
static void try_seq(const struct gstate *ps, const struct hctx *h, const int64_t *x, unsigned cnt,
                    unsigned dod, struct fchoice *b)
{
    uint64_t z[2][G], nzv[2][G];
    unsigned nz = 0;
    bool neg = false;
    for (unsigned j = 0; j < cnt; j++) {
        neg |= x[j] < 0;
        z[0][j] = (uint64_t)x[j];
        z[1][j] = zz(x[j]);
        if (x[j]) {
            /* Behind a flag a field is not zero: it is coded minus one. */
            nzv[0][nz] = z[0][j] - 1;
            nzv[1][nz] = z[1][j] - 1;
            nz++;
        }
    }
    for (unsigned s = neg; s < 2; s++) {
        try_fields(ps, h, z[s], cnt, 0, dod | s, b);
        /* Flags pay only for zeros among wider fields. */
        if (nz < cnt && nz > 0)
            try_fields(ps, h, nzv[s], nz, cnt, dod | s | VC_FLAGS, b);
    }
}

/*
 * Chooses the cheapest coding for the fields q[] (ref: the delta before
 * them, for VC_DOD): raw (all >= 0) or zigzag, at a fixed width, Rice coded
 * or uniform, for every sample or behind flags that mark zeros (repeated
 * values), of q or of its differences. Fills pl's coding, fields and flags
 * and returns the group's bits beside its times.
 */
static uint64_t plan_fields(const struct gstate *ps, const struct hctx *h, const int64_t *q,
                            int64_t ref, unsigned cnt, struct plan *pl)
{
    struct fchoice b = {UINT64_MAX, UINT64_MAX, 0, 0, 0};
    int64_t dq[G];
    uint64_t oq = 0, od = 0;
    unsigned zq = 0, zd = 0;
    for (unsigned j = 0; j < cnt; j++) {
        dq[j] = (int64_t)((uint64_t)q[j] - (uint64_t)(j ? q[j - 1] : ref));
        oq |= zz(q[j]);
        od |= zz(dq[j]);
        zq += q[j] == 0;
        zd += dq[j] == 0;
    }
    try_seq(ps, h, q, cnt, 0, &b);
    /* Differences pay for steady rates: narrower, or more often zero. */
    if (bitlen(od) < bitlen(oq) || zd > zq)
        try_seq(ps, h, dq, cnt, VC_DOD, &b);
    const int64_t *x = b.c & VC_DOD ? dq : q;
    pl->m = 0;
    pl->nz = 0;
    for (unsigned j = 0; j < cnt; j++) {
        uint64_t f = b.c & VC_ZIGZAG ? zz(x[j]) : (uint64_t)x[j];
        if (!(b.c & VC_FLAGS))
            pl->f[pl->m++] = f;
        else if (f) {
            pl->nz |= (uint16_t)(1u << j);
            pl->f[pl->m++] = f - 1;
        }
    }
    pl->st.sv = b.c;
    pl->st.wv = b.w;
    pl->st.uv = b.uv;
    pl->same = h->can_same && b.c == ps->sv && b.w == ps->wv && (!(b.c & VC_UNI) || b.uv == ps->uv);
    return b.cost;
}

/*
 * Chooses how to code a group. Headers: a bit, 0 when every header is as in
 * the previous group; else the time header, (float) the kind bit, and unless
 * XOR the value coding and (float) the shift.
 */
static void plan_group(const struct gstate *ps, const struct grp *gp, int mode, uint64_t prevv,
                       struct plan *pl)
{
    unsigned cnt = gp->cnt;
    uint64_t d = gp->dt[0], maxf = 0;
    for (unsigned j = 1; j < cnt; j++)
        if (gp->dt[j] < d)
            d = gp->dt[j];
    for (unsigned j = 0; j < cnt; j++)
        if (gp->dt[j] - d > maxf)
            maxf = gp->dt[j] - d;
    pl->st = *ps;
    pl->st.tsd = d;
    pl->st.wt = (uint8_t)bitlen(maxf);
    pl->st.kind = 0;
    pl->tsz = zz((int64_t)(d - ps->tsd));
    bool tsame = pl->tsz == 0 && pl->st.wt == ps->wt;
    unsigned th = tsame ? 1 : 1 + svar_cost(pl->tsz) + wcode_cost(ps->wt, 0, pl->st.wt, 0, 0);
    uint64_t tbits = (uint64_t)cnt * pl->st.wt;
    int64_t q[G] = {0};

    if (mode == MODE_DEC) {
        struct hctx h = {1 + th, tsame};
        for (unsigned j = 0; j < cnt; j++)
            q[j] = (int64_t)gp->val[j];
        pl->bits = tbits + plan_fields(ps, &h, q, (int64_t)ps->lastd, cnt, pl);
        pl->st.lastd = (uint64_t)q[cnt - 1];
        return;
    }

    /* Float: integer deltas of the IEEE bits with a common shift, or XOR. */
    uint64_t prev = prevv, all = 0;
    for (unsigned j = 0; j < cnt; j++) {
        uint64_t dd = gp->val[j] - prev;
        all |= dd;
        q[j] = (int64_t)dd;
        prev = gp->val[j];
    }
    uint64_t lastd = (uint64_t)q[cnt - 1];
    unsigned sh = all ? (unsigned)__builtin_ctzll(all) : ps->sh;
    for (unsigned j = 0; j < cnt; j++)
        q[j] = asr(q[j], sh);
    struct hctx h = {1 + th + 1 + (sh == ps->sh ? 1 : 7), tsame && ps->kind == 0 && sh == ps->sh};
    struct plan pi = *pl;
    uint64_t cint = plan_fields(ps, &h, q, asr((int64_t)ps->lastd, sh), cnt, &pi);

    unsigned wlz = 0, wlen = 0, fx = 0;
    prev = prevv;
    for (unsigned j = 0; j < cnt; j++) {
        fx += xor_step(gp->val[j] ^ prev, &wlz, &wlen);
        prev = gp->val[j];
    }
    bool xsame = tsame && ps->kind == 1;
    uint64_t cxor = fx + (xsame ? 1 : 1 + th + 1);
    if (cxor < cint) {
        pl->st.kind = 1;
        pl->st.lastd = lastd;
        pl->same = xsame;
        pl->bits = tbits + cxor;
        return;
    }
    *pl = pi;
    pl->st.sh = (uint8_t)sh;
    pl->st.lastd = lastd;
    pl->bits = tbits + cint;
}

/* Writes a group in format 2: headers, the time fields, then the value fields. */
static void write_group(struct bw *w, const struct gstate *ps, const struct grp *gp, int mode,
                        uint64_t prevv, const struct plan *pl)
{
    unsigned cnt = gp->cnt, wt = pl->st.wt, kind = pl->st.kind;
    uint64_t d = pl->st.tsd;
    bw_put(w, !pl->same, 1);
    if (!pl->same) {
        if (pl->tsz == 0 && wt == ps->wt) {
            bw_put(w, 0, 1);
        } else {
            bw_put(w, 1, 1);
            svar_put(w, pl->tsz);
            wcode_put(w, ps->wt, 0, wt, 0, 0);
        }
        if (mode == MODE_FLT)
            bw_put(w, kind, 1);
        if (kind == 0) {
            wcode_put(w, ps->wv, ps->sv, pl->st.wv, pl->st.sv, VC_BITS);
            if ((pl->st.sv & VC_UNI) && pl->st.wv >= 2)
                bw_put(w, pl->st.uv, pl->st.wv - 1u);
            if (mode == MODE_FLT) {
                if (pl->st.sh == ps->sh) {
                    bw_put(w, 0, 1);
                } else {
                    bw_put(w, 1, 1);
                    bw_put(w, pl->st.sh, 6);
                }
            }
        }
    }
    for (unsigned j = 0; j < cnt; j++)
        bw_put(w, gp->dt[j] - d, wt);
    if (kind == 1) {
        unsigned wlz = 0, wlen = 0;
        uint64_t prev = prevv;
        for (unsigned j = 0; j < cnt; j++) {
            xor_put(w, gp->val[j] ^ prev, &wlz, &wlen);
            prev = gp->val[j];
        }
        return;
    }
    unsigned sv = pl->st.sv, wv = pl->st.wv;
    if (sv & VC_FLAGS)
        for (unsigned j = 0; j < cnt; j++)
            bw_put(w, pl->nz >> j & 1, 1);
    if (sv & VC_UNI)
        uni_put(w, pl->f, pl->m, pl->st.uv);
    else if (sv & VC_RICE)
        for (unsigned j = 0; j < pl->m; j++)
            rice_put(w, pl->f[j], wv);
    else
        for (unsigned j = 0; j < pl->m; j++)
            bw_put(w, pl->f[j], wv);
}

/* ---- encoder ---- */

/*
 * Pending samples wait at buf + len, plen bytes, each as uvarint
 * zigzag(time delta - tsd) (regular scrapes: one byte), then its value's IEEE
 * bits XOR pbase (the last packed value): a byte (number of zero low bytes)
 * << 4 | (number of bytes kept), 0 for no change, and the kept bytes, low
 * first. A counter's sample takes three or four bytes instead of twelve.
 */
/* Bytes pend_put writes for these. */
static size_t pend_size(uint64_t z, uint64_t x)
{
    size_t n = 2;
    while (z >= 0x80) {
        z >>= 7;
        n++;
    }
    if (x)
        n += 8 - (unsigned)__builtin_ctzll(x) / 8 - (unsigned)__builtin_clzll(x) / 8;
    return n;
}

static size_t pend_put(uint8_t *p, uint64_t z, uint64_t x)
{
    size_t o = uv_put(p, z);
    if (x == 0) {
        p[o++] = 0;
        return o;
    }
    unsigned tzb = (unsigned)__builtin_ctzll(x) / 8, lzb = (unsigned)__builtin_clzll(x) / 8;
    unsigned nb = 8 - tzb - lzb;
    p[o++] = (uint8_t)(tzb << 4 | nb);
    x >>= 8 * tzb;
    for (unsigned i = 0; i < nb; i++, x >>= 8)
        p[o++] = (uint8_t)x;
    return o;
}

/* Decodes the pending samples' time deltas and value bits. */
static void pend_load(const struct chunk_enc *e, uint64_t *dt, uint64_t *bits)
{
    if (e->npend == 0)
        return; /* the buffer may not exist yet */
    const uint8_t *p = e->buf + e->len;
    for (unsigned j = 0; j < e->npend; j++) {
        uint64_t z = 0, x = 0;
        for (unsigned s = 0;; s += 7) {
            uint8_t b = *p++;
            z |= (uint64_t)(b & 0x7f) << s;
            if (!(b & 0x80))
                break;
        }
        dt[j] = e->tsd + (uint64_t)unzz(z);
        uint8_t h = *p++;
        unsigned tzb = h >> 4, nb = h & 15;
        for (unsigned i = 0; i < nb; i++)
            x |= (uint64_t)p[i] << (8 * i);
        p += nb;
        bits[j] = e->pbase ^ (nb ? x << (8 * tzb) : 0);
    }
}

static void enc_state(const struct chunk_enc *e, struct gstate *s)
{
    s->tsd = e->tsd;
    s->wt = e->wt;
    s->wv = e->wv;
    s->sv = e->sv;
    s->sh = e->sh;
    s->kind = e->kind;
    s->lastd = e->lastd;
    s->uv = e->uv;
}

/*
 * Turns the pending samples into a group under the encoder's parameters.
 * Returns PREP_REBUILD when they do not fit them (the chunk must be rebuilt),
 * PREP_FLOAT when decimal mode has too many exceptions.
 */
static int grp_prepare(const struct chunk_enc *e, struct grp *gp)
{
    unsigned cnt = e->npend;
    uint64_t pv[G];
    gp->cnt = cnt;
    gp->nexc = 0;
    gp->gcd = e->gcd;
    pend_load(e, gp->dt, pv);
    gp->lastt = e->maxt;
    gp->lastbits = pv[cnt - 1];
    if (e->mode != MODE_DEC) {
        memcpy(gp->val, pv, cnt * sizeof(uint64_t));
        gp->last = pv[cnt - 1];
        return PREP_OK;
    }

    int64_t prev = (int64_t)e->lastv, m, need;
    uint64_t g = e->gcd;
    uint32_t base = e->n - cnt;
    for (unsigned j = 0; j < cnt; j++) {
        double v = bitsd(pv[j]);
        bool ok = dec_rep(v, e->scale, &m);
        if (!ok && !e->locked && (need = dec_need(v, &m)) > (int)e->scale)
            return PREP_REBUILD;
        if (ok && m != prev) {
            int64_t dd = m - prev;
            uint64_t ad = dd < 0 ? 0 - (uint64_t)dd : (uint64_t)dd;
            if (g == 0) {
                g = ad;
            } else if (ad % g) {
                if (!e->locked)
                    return PREP_REBUILD;
                ok = false;
            }
        }
        if (!ok) {
            gp->exc[gp->nexc].bits = pv[j];
            gp->exc[gp->nexc].idx = base + j;
            gp->nexc++;
            m = prev;
        }
        gp->val[j] = (uint64_t)(m - prev);
        prev = m;
    }
    if (!e->locked && e->nexc + gp->nexc > exc_limit(e->n))
        return PREP_FLOAT;
    for (unsigned j = 0; j < cnt; j++)
        gp->val[j] = g ? (uint64_t)((int64_t)gp->val[j] / (int64_t)g) : 0;
    gp->gcd = g;
    gp->last = (uint64_t)prev;
    return PREP_OK;
}

/* Writes (p != NULL) or measures the header of a chunk of n samples. */
static size_t hdr_put(uint8_t *p, const struct chunk_enc *e, uint32_t n, uint64_t gcd,
                      const struct grp *gp)
{
    size_t o = 1;
    uint32_t ne = e->nexc + (gp ? gp->nexc : 0), prev = 0;
    bool dec = e->mode == MODE_DEC && n > 0;
    if (p)
        p[0] =
            dec ? (uint8_t)(FMT_DEC2 | e->scale << 2 | (gcd > 1 ? FMT_GCD : 0) | (ne ? FMT_EXC : 0))
                : FMT_FLT2;
    o += uv_put(p ? p + o : NULL, n);
    if (n == 0)
        return o;
    o += uv_put(p ? p + o : NULL, zz(e->mint));
    if (!dec) {
        if (p)
            store_le64(p + o, e->first);
        return o + 8;
    }
    o += uv_put(p ? p + o : NULL, zz((int64_t)e->first));
    if (gcd > 1)
        o += uv_put(p ? p + o : NULL, gcd);
    if (ne)
        o += uv_put(p ? p + o : NULL, ne);
    for (uint32_t i = 0; i < ne; i++) {
        const struct chunk_exc *x = i < e->nexc ? &e->exc[i] : &gp->exc[i - e->nexc];
        o += uv_put(p ? p + o : NULL, i ? x->idx - prev - 1 : x->idx);
        if (p)
            store_le64(p + o, x->bits);
        o += 8;
        prev = x->idx;
    }
    return o;
}

/* Encodes the packed groups, plus the pending ones when gp is given. */
static int enc_emit(const struct chunk_enc *e, const struct grp *gp, const struct plan *pl,
                    uint8_t **out, size_t *outlen)
{
    uint32_t n = gp ? e->n : e->n - e->npend;
    uint64_t gcd = gp ? gp->gcd : e->gcd;
    size_t hlen = hdr_put(NULL, e, n, gcd, gp);
    uint8_t scratch[GROUP_MAX_BITS / 8 + 16];
    size_t nscratch = 0;
    unsigned off = (unsigned)(e->nbits & 7);

    if (gp) {
        struct gstate st;
        enc_state(e, &st);
        memset(scratch, 0, sizeof(scratch));
        struct bw w = {scratch, off};
        write_group(&w, &st, gp, e->mode, e->lastv, pl);
        nscratch = (size_t)((w.pos + 7) / 8);
    }
    size_t total = hlen + (size_t)((e->nbits + (gp ? pl->bits : 0) + 7) / 8);
    uint8_t *b = malloc(total ? total : 1);
    if (!b)
        return -1;
    hdr_put(b, e, n, gcd, gp);
    size_t o = hlen;
    if (e->len) {
        memcpy(b + o, e->buf, e->len);
        o += e->len;
    }
    if (nscratch) {
        size_t s = 0;
        if (off) {
            b[o - 1] |= scratch[0];
            s = 1;
        }
        memcpy(b + o, scratch + s, nscratch - s);
    }
    *out = b;
    *outlen = total;
    return 0;
}

void chunk_enc_init(struct chunk_enc *e)
{
    memset(e, 0, sizeof(*e));
}

void chunk_enc_free(struct chunk_enc *e)
{
    free(e->buf);
    free(e->exc);
    memset(e, 0, sizeof(*e));
}

/*
 * Makes buf at least need bytes. It grows by steps of 32 bytes or a
 * sixty-fourth, rounded to what malloc hands out anyway (16 n + 8 bytes):
 * the head holds an open chunk per series, so slack counts more than the
 * occasional copy (realloc mostly extends in place).
 */
static int enc_grow(struct chunk_enc *e, size_t need)
{
    if (need <= e->cap)
        return 0;
    if (need > (size_t)1 << 31)
        return -1;
    size_t step = e->cap / 64 > 32 ? e->cap / 64 : 32;
    size_t cap = e->cap + step;
    if (cap < need)
        cap = need;
    cap = ((cap + 8 + 15) & ~(size_t)15) - 8;
    uint8_t *nb = realloc(e->buf, cap);
    if (!nb)
        return -1;
    memset(nb + e->cap, 0, cap - e->cap);
    e->buf = nb;
    e->cap = (uint32_t)cap;
    return 0;
}

/* Makes room for a bit stream of `bits` bits plus the writer's 8 spare bytes. */
static int enc_reserve(struct chunk_enc *e, uint64_t bits)
{
    return enc_grow(e, (size_t)((bits + 7) / 8) + 8);
}

/* Decodes every sample the encoder holds into t[] and v[] (e->n of each). */
static int enc_collect(const struct chunk_enc *e, int64_t *t, double *v)
{
    uint32_t k = 0;
    if (e->mode == MODE_NONE) {
        t[0] = e->mint;
        v[0] = bitsd(e->first);
        k = 1;
    } else {
        uint8_t *c;
        size_t clen;
        struct chunk_iter it;
        if (enc_emit(e, NULL, NULL, &c, &clen) != 0)
            return -1;
        int r = chunk_iter_init(&it, c, clen);
        while (r == 0 && k < e->n - e->npend && chunk_iter_next(&it, &t[k], &v[k]) == 1)
            k++;
        free(c);
        if (r != 0 || k != e->n - e->npend)
            return -1;
    }
    uint64_t pt = (uint64_t)e->lastt, dt[G], pv[G];
    pend_load(e, dt, pv);
    for (unsigned j = 0; j < e->npend; j++, k++) {
        pt += dt[j];
        t[k] = (int64_t)pt;
        v[k] = bitsd(pv[j]);
    }
    return 0;
}

/* Chooses the value coding for the samples v[0..n). */
static void enc_choose(struct chunk_enc *e, const double *v, uint32_t n, bool allow_dec)
{
    int64_t m, prev = 0;
    int k = -1;
    uint32_t bad = 0, limit = exc_limit(n);
    uint64_t g = 0;

    e->mode = MODE_FLT;
    if (!allow_dec || n == 0)
        return;
    for (uint32_t i = 0; i < n; i++) {
        int need = dec_need(v[i], &m);
        if (need < 0 && ++bad > limit)
            return;
        if (need > k)
            k = need;
    }
    if (k < 0)
        return;
    bad = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!dec_rep(v[i], (unsigned)k, &m)) {
            if (++bad > limit)
                return;
            continue;
        }
        if (i > 0) {
            int64_t dd = m - prev;
            g = gcd64(g, dd < 0 ? 0 - (uint64_t)dd : (uint64_t)dd);
        }
        prev = m;
    }
    e->mode = MODE_DEC;
    e->scale = (uint8_t)k;
    e->gcd = g;
}

/* Encodes t[], v[] into a fresh encoder with parameters fixed from all of them. */
static int enc_build(struct chunk_enc *d, const int64_t *t, const double *v, uint32_t n,
                     bool allow_dec)
{
    chunk_enc_init(d);
    enc_choose(d, v, n, allow_dec);
    d->locked = 1;
    for (uint32_t i = 0; i < n; i++) {
        if (chunk_enc_append(d, t[i], v[i]) != 0) {
            chunk_enc_free(d);
            return -1;
        }
    }
    return 0;
}

/* Re-encodes the encoder with parameters that fit all its samples. */
static int enc_rebuild(struct chunk_enc *e, bool allow_dec)
{
    int64_t *t = malloc((size_t)e->n * sizeof(*t));
    double *v = malloc((size_t)e->n * sizeof(*v));
    struct chunk_enc d;
    int rc = -1;

    if (!t || !v || enc_collect(e, t, v) != 0)
        goto out;
    if (enc_build(&d, t, v, e->n, allow_dec) != 0)
        goto out;
    d.locked = 0;
    chunk_enc_free(e);
    *e = d;
    rc = 0;
out:
    free(t);
    free(v);
    return rc;
}

/* Packs the full pending group. On failure the encoder is as it was. */
static int enc_flush(struct chunk_enc *e)
{
    struct grp gp;
    struct plan pl;
    struct gstate st;

    if (e->mode == MODE_NONE)
        return enc_rebuild(e, true);
    int r = grp_prepare(e, &gp);
    if (r != PREP_OK)
        return enc_rebuild(e, r == PREP_REBUILD);
    enc_state(e, &st);
    plan_group(&st, &gp, e->mode, e->lastv, &pl);
    if (enc_reserve(e, e->nbits + pl.bits) != 0)
        return -1;
    if (gp.nexc) {
        struct chunk_exc *x = realloc(e->exc, (e->nexc + gp.nexc) * sizeof(*x));
        if (!x)
            return -1;
        e->exc = x;
        memcpy(x + e->nexc, gp.exc, gp.nexc * sizeof(*x));
        e->nexc += gp.nexc;
    }
    /* The pending samples are in gp now; the writer needs zeros after the packed bits. */
    memset(e->buf + e->len, 0, e->cap - e->len);
    struct bw w = {e->buf, e->nbits};
    write_group(&w, &st, &gp, e->mode, e->lastv, &pl);
    e->nbits = (uint32_t)w.pos;
    e->len = (e->nbits + 7) / 8;
    e->plen = 0;
    e->pbase = gp.lastbits;
    e->tsd = pl.st.tsd;
    e->wt = pl.st.wt;
    e->wv = pl.st.wv;
    e->sv = pl.st.sv;
    e->sh = pl.st.sh;
    e->kind = pl.st.kind;
    e->lastd = pl.st.lastd;
    e->uv = pl.st.uv;
    e->gcd = gp.gcd;
    e->lastv = gp.last;
    e->lastt = gp.lastt;
    e->npend = 0;
    return 0;
}

int chunk_enc_append(struct chunk_enc *e, int64_t t, double v)
{
    uint64_t bits = dbits(v);
    if (e->n >= CHUNK_MAX_SAMPLES)
        return -1;
    if (e->n == 0) {
        uint64_t first = bits;
        if (e->mode == MODE_DEC) {
            int64_t m;
            if (dec_rep(v, e->scale, &m)) {
                first = (uint64_t)m;
            } else {
                struct chunk_exc *x = realloc(e->exc, (e->nexc + 1) * sizeof(*x));
                if (!x)
                    return -1;
                e->exc = x;
                x[e->nexc].bits = bits;
                x[e->nexc].idx = 0;
                e->nexc++;
                first = 0;
            }
        }
        e->first = e->lastv = first;
        e->pbase = bits;
        e->mint = e->maxt = e->lastt = t;
        e->n = 1;
        return 0;
    }
    /* Times going back wrap around here and come back in the decoder. */
    uint64_t dt = (uint64_t)t - (uint64_t)e->maxt;
    uint64_t z = zz((int64_t)(dt - e->tsd)), x = bits ^ e->pbase;
    if (enc_grow(e, (size_t)e->len + e->plen + pend_size(z, x)) != 0)
        return -1;
    uint16_t oldplen = e->plen;
    int64_t oldmax = e->maxt;
    e->plen = (uint16_t)(e->plen + pend_put(e->buf + e->len + e->plen, z, x));
    e->npend++;
    e->n++;
    e->maxt = t;
    /* The first group holds samples 1 to 15, the others 16: a chunk of 16 k
     * samples ends on a group boundary, with nothing pending. */
    if (e->n % G == 0 && enc_flush(e) != 0) {
        e->plen = oldplen;
        e->npend--;
        e->n--;
        e->maxt = oldmax;
        return -1;
    }
    return 0;
}

uint32_t chunk_enc_count(const struct chunk_enc *e)
{
    return e->n;
}

int chunk_enc_snapshot(const struct chunk_enc *e, uint8_t **out, size_t *outlen)
{
    struct grp gp;
    struct plan pl;
    struct gstate st;

    if (e->n == 0) {
        uint8_t *b = malloc(2);
        if (!b)
            return -1;
        b[0] = FMT_FLT2;
        b[1] = 0;
        *out = b;
        *outlen = 2;
        return 0;
    }
    if (e->mode != MODE_NONE) {
        if (e->npend == 0)
            return enc_emit(e, NULL, NULL, out, outlen);
        if (grp_prepare(e, &gp) == PREP_OK) {
            enc_state(e, &st);
            plan_group(&st, &gp, e->mode, e->lastv, &pl);
            return enc_emit(e, &gp, &pl, out, outlen);
        }
    }
    if (e->locked)
        return -1; /* cannot happen: a locked encoder takes every sample */

    /* The pending samples need other parameters: encode everything afresh. */
    int64_t *t = malloc((size_t)e->n * sizeof(*t));
    double *v = malloc((size_t)e->n * sizeof(*v));
    struct chunk_enc d;
    int rc = -1;
    if (t && v && enc_collect(e, t, v) == 0 && enc_build(&d, t, v, e->n, true) == 0) {
        rc = chunk_enc_snapshot(&d, out, outlen);
        chunk_enc_free(&d);
    }
    free(t);
    free(v);
    return rc;
}

size_t chunk_enc_memory(const struct chunk_enc *e)
{
    return e->cap + (size_t)e->nexc * sizeof(struct chunk_exc);
}

/* ---- decoder ---- */

static int it_init3(struct chunk_iter *it, size_t off, bool meta);

/* A format 3 meta chunk whose flags byte is at data + off. */
static int iter_init_rcm(struct chunk_iter *it, const uint8_t *data, size_t len, size_t off,
                         int64_t mint, uint32_t n, uint64_t step)
{
    memset(it, 0, sizeof(*it));
    it->err = 1;
    if (!data || n == 0 || n > CHUNK_RC_MAX)
        return -1;
    it->data = data;
    it->len = len;
    it->n = n;
    it->t0 = mint;
    it->tsd = n > 1 ? step : 0;
    it->excidx = UINT32_MAX;
    if (it_init3(it, off, true) != 0)
        return -1;
    it->err = 0;
    return 0;
}

int chunk_iter_init_bare(struct chunk_iter *it, const uint8_t *data, size_t len, int64_t mint,
                         uint32_t n, uint64_t step)
{
    return iter_init_rcm(it, data, len, 0, mint, n, step);
}

int chunk_iter_init_meta(struct chunk_iter *it, const uint8_t *data, size_t len, int64_t mint,
                         uint32_t n, uint64_t step)
{
    if (!data || len < 1 || data[0] != FMT_RCM) {
        /* A chunk that says it all: what the caller knows must agree. */
        if (chunk_iter_init(it, data, len) != 0)
            return -1;
        if ((n && it->n != n) || (it->n && it->t0 != mint)) {
            it->err = 1;
            return -1;
        }
        return 0;
    }
    return iter_init_rcm(it, data, len, 1, mint, n, step);
}

/* Parses the header up to the sample count. */
static int hdr_count(const uint8_t *data, size_t len, size_t *off, uint32_t *n)
{
    uint64_t x;
    if (!data || len < 2 ||
        (data[0] != FMT_FLT && data[0] != FMT_FLT2 && data[0] != FMT_RC &&
         (data[0] & 0xC0) != FMT_DEC && (data[0] & 0xC0) != FMT_DEC2))
        return -1;
    *off = 1;
    if (uv_get(data, len, off, &x) != 0 || x > UINT32_MAX)
        return -1;
    if (data[0] == FMT_RC) {
        /* A range coded sample can take less than a bit: only the cap bounds n. */
        if (x > CHUNK_RC_MAX)
            return -1;
        *n = (uint32_t)x;
        return 0;
    }
    /* Every group takes at least a bit: refuse counts the data cannot hold. */
    if (x > 1 && (x - 1 + G - 1) / G > (uint64_t)(len - *off) * 8)
        return -1;
    *n = (uint32_t)x;
    return 0;
}

uint32_t chunk_count(const uint8_t *data, size_t len)
{
    size_t off;
    uint32_t n;
    return hdr_count(data, len, &off, &n) == 0 ? n : 0;
}

int chunk_iter_init(struct chunk_iter *it, const uint8_t *data, size_t len)
{
    size_t off;
    uint32_t n;
    uint64_t x;

    memset(it, 0, sizeof(*it));
    it->err = 1;
    if (hdr_count(data, len, &off, &n) != 0)
        return -1;
    it->data = data;
    it->len = len;
    it->n = n;
    it->mode = data[0] == FMT_FLT || data[0] == FMT_FLT2 ? MODE_FLT : MODE_DEC;
    it->ver = data[0] == FMT_FLT || (data[0] & 0xC0) == FMT_DEC ? 1 : 2;
    it->excidx = UINT32_MAX;
    if (data[0] == FMT_RC) {
        if (it_init3(it, off, false) != 0)
            return -1;
        it->err = 0;
        return 0;
    }
    if (n > 0) {
        if (uv_get(data, len, &off, &x) != 0)
            return -1;
        it->t0 = unzz(x);
        if (it->mode == MODE_FLT) {
            if (len - off < 8)
                return -1;
            it->v0 = load_le64(data + off);
            off += 8;
        } else {
            uint64_t ne = 0, gap;
            it->scale = (data[0] >> 2) & 0x0f;
            it->gcd = 1;
            if (uv_get(data, len, &off, &x) != 0)
                return -1;
            if ((data[0] & FMT_GCD) && (uv_get(data, len, &off, &it->gcd) != 0 || it->gcd < 2))
                return -1;
            if ((data[0] & FMT_EXC) && (uv_get(data, len, &off, &ne) != 0 || ne > n))
                return -1;
            it->v0 = (uint64_t)unzz(x);
            it->nexc = (uint32_t)ne;
            uint64_t idx = 0;
            for (uint64_t i = 0; i < ne; i++) {
                if (uv_get(data, len, &off, &gap) != 0 || gap >= n)
                    return -1;
                idx = i ? idx + 1 + gap : gap;
                if (idx >= n || len - off < 8)
                    return -1;
                if (i == 0) {
                    it->excidx = (uint32_t)idx;
                    it->excpos = off;
                }
                off += 8;
            }
        }
    }
    it->pos = (uint64_t)off * 8;
    it->end = (uint64_t)len * 8;
    it->err = 0;
    return 0;
}

/* Reads a group's headers. */
static int it_header(struct chunk_iter *it, struct br *r)
{
    uint64_t b, z;
    uint8_t c = 0;
    if (br_get(r, 1, &b) != 0)
        return -1;
    if (!b)
        return 0;
    if (br_get(r, 1, &b) != 0)
        return -1;
    if (b) {
        if (svar_get(r, &z) != 0 || wcode_get(r, &it->wt, &c, 0) != 0)
            return -1;
        it->tsd += (uint64_t)unzz(z);
    }
    it->kind = 0;
    if (it->mode == MODE_FLT) {
        if (br_get(r, 1, &b) != 0)
            return -1;
        it->kind = (uint8_t)b;
    }
    if (it->kind == 0) {
        if (wcode_get(r, &it->wv, &it->sv, it->ver == 1 ? VC_BITS1 : VC_BITS) != 0 ||
            ((it->sv & VC_RICE) && it->wv > 63) || (it->sv & VC_RICE && it->sv & VC_UNI))
            return -1;
        if (it->sv & VC_UNI) {
            if (br_get(r, it->wv >= 2 ? it->wv - 1u : 0, &z) != 0)
                return -1;
            it->uv = it->wv >= 2 ? UINT64_C(1) << (it->wv - 1) | z : it->wv;
        }
        if (it->mode == MODE_FLT) {
            if (br_get(r, 1, &b) != 0)
                return -1;
            if (b) {
                if (br_get(r, 6, &z) != 0)
                    return -1;
                it->sh = (uint8_t)z;
            }
        }
    }
    return 0;
}

/*
 * Reads n (0..64) bits without a bounds check: past the end it reads zeros
 * and never touches memory outside the data; the caller checks the position
 * once the group is decoded.
 */
static inline uint64_t br_any(struct br *r, unsigned n)
{
    if (n == 0)
        return 0;
    if (n <= 56)
        return br_take(r, n);
    uint64_t hi = br_take(r, n - 32);
    return hi << 32 | br_take(r, 32);
}

/* A value field of the current group (see write_group). */
static inline uint64_t it_field(struct br *r, unsigned sv, unsigned wv)
{
    if ((sv & VC_FLAGS) && !br_take(r, 1))
        return 0;
    if (!(sv & VC_RICE))
        return br_any(r, wv);
    /* Unary quotient: ones ended by a zero, or an escape of RICE_LIMIT ones. */
    uint64_t y = ~(br_peek(r, RICE_LIMIT + 1) << (63 - RICE_LIMIT));
    unsigned u = (unsigned)__builtin_clzll(y);
    if (u >= RICE_LIMIT) {
        r->pos += RICE_LIMIT;
        return br_any(r, 64);
    }
    r->pos += u + 1;
    return (uint64_t)u << wv | br_any(r, wv);
}

/*
 * One XOR-coded value of formats 1 and 2: '0' the same bits, '10' the XOR
 * within the previous window, '11' a new window (6 bits of leading zeros, 6
 * bits of length - 1) and the XOR. Returns 0, or -1 when corrupt.
 */
static inline int xor_take(struct br *r, unsigned *wlz, unsigned *wlen, uint64_t *prev)
{
    if (!br_take(r, 1))
        return 0;
    if (br_take(r, 1)) {
        *wlz = (unsigned)br_take(r, 6);
        *wlen = (unsigned)br_take(r, 6) + 1;
        if (*wlz + *wlen > 64)
            return -1;
    } else if (*wlen == 0) {
        return -1;
    }
    *prev ^= br_any(r, *wlen) << (64 - *wlz - *wlen);
    return 0;
}

static int it_group_end(struct chunk_iter *it, const struct br *r, unsigned cnt, uint64_t t,
                        uint64_t prev, uint64_t lastd);

/* Decodes the next group of format 1 into bt[], bv[]. */
static int it_group1(struct chunk_iter *it)
{
    struct br r = {it->data, it->len, it->pos, it->end};
    uint32_t rest = it->n - it->i;
    unsigned cnt = rest < G ? rest : G;
    uint64_t t = (uint64_t)it->tlast, prev = it->prev;

    if (it_header(it, &r) != 0)
        return -1;
    unsigned wt = it->wt, wv = it->wv, sv = it->sv;
    uint64_t tsd = it->tsd, lastd = it->lastd;
    if (it->kind == 1) {
        unsigned wlz = 0, wlen = 0;
        for (unsigned j = 0; j < cnt; j++) {
            t += tsd + br_any(&r, wt);
            it->bt[j] = (int64_t)t;
            lastd = prev;
            if (xor_take(&r, &wlz, &wlen, &prev) != 0)
                return -1;
            lastd = prev - lastd;
            it->bv[j] = prev;
        }
    } else if (it->mode == MODE_DEC) {
        uint64_t g = it->gcd, q = lastd;
        unsigned k = it->scale;
        for (unsigned j = 0; j < cnt; j++) {
            t += tsd + br_any(&r, wt);
            it->bt[j] = (int64_t)t;
            uint64_t f = it_field(&r, sv, wv);
            f = sv & VC_ZIGZAG ? (uint64_t)unzz(f) : f;
            q = sv & VC_DOD ? q + f : f;
            prev += q * g;
            it->bv[j] = dbits(dec_value(prev, k));
        }
        lastd = q;
    } else {
        unsigned sh = it->sh;
        uint64_t q = (uint64_t)asr((int64_t)lastd, sh);
        for (unsigned j = 0; j < cnt; j++) {
            t += tsd + br_any(&r, wt);
            it->bt[j] = (int64_t)t;
            uint64_t f = it_field(&r, sv, wv);
            f = sv & VC_ZIGZAG ? (uint64_t)unzz(f) : f;
            q = sv & VC_DOD ? q + f : f;
            lastd = q << sh;
            prev += lastd;
            it->bv[j] = prev;
        }
    }
    if (r.pos > r.end)
        return -1;
    return it_group_end(it, &r, cnt, t, prev, lastd);
}

/* Finishes a decoded group: exceptions, then the state for the next one. */
/* The bits of the current exception; moves to the next one. */
static int it_exc_take(struct chunk_iter *it, uint64_t *bits)
{
    size_t off = it->excpos + 8;
    uint64_t gap;
    *bits = load_le64(it->data + it->excpos);
    if (--it->nexc == 0) {
        it->excidx = UINT32_MAX;
        return 0;
    }
    if (uv_get(it->data, it->len, &off, &gap) != 0)
        return -1;
    it->excidx += (uint32_t)gap + 1;
    it->excpos = off;
    return 0;
}

static int it_group_end(struct chunk_iter *it, const struct br *r, unsigned cnt, uint64_t t,
                        uint64_t prev, uint64_t lastd)
{
    /* Exceptions in this group replace the decoded values. */
    while (it->excidx < it->i + cnt)
        if (it_exc_take(it, &it->bv[it->excidx - it->i]) != 0)
            return -1;
    it->pos = r->pos;
    it->tlast = (int64_t)t;
    it->prev = prev;
    it->lastd = lastd;
    it->bn = (uint8_t)cnt;
    it->bi = 0;
    return 0;
}

/* Reads the uniform coded fields f[0..m) below uv + 1 (see uni_put). */
static int uni_get(struct br *r, uint64_t *f, unsigned m, uint64_t uv)
{
    if (uv == 0) {
        memset(f, 0, m * sizeof(*f));
        return 0;
    }
    unsigned s = uni_shift(uv);
    uint64_t rh = (uv >> s) + 1;
    if ((rh & (rh - 1)) == 0) {
        for (unsigned j = 0; j < m; j++)
            f[j] = br_any(r, bitlen(uv));
        return 0;
    }
    for (unsigned j0 = 0; j0 < m; j0 += 8) {
        unsigned k = m - j0 < 8 ? m - j0 : 8;
        uint64_t p = 1;
        for (unsigned j = 0; j < k; j++)
            p *= rh;
        uint64_t x = br_any(r, bitlen(p - 1));
        if (x >= p)
            return -1;
        for (unsigned j = 0; j < k; j++) {
            f[j0 + j] = (x % rh) << s;
            x /= rh;
        }
    }
    if (s)
        for (unsigned j = 0; j < m; j++)
            f[j] |= br_any(r, s);
    return 0;
}

/* Decodes the next group of format 2 (times, then values) into bt[], bv[]. */
static int it_group2(struct chunk_iter *it)
{
    struct br r = {it->data, it->len, it->pos, it->end};
    uint32_t rest = it->n - it->i;
    /* The first group holds samples 1 to 15, the others 16. */
    unsigned cnt = G - it->i % G;
    uint64_t t = (uint64_t)it->tlast, prev = it->prev;

    if (rest < cnt)
        cnt = rest;
    if (it_header(it, &r) != 0)
        return -1;
    unsigned wt = it->wt, wv = it->wv, sv = it->sv;
    uint64_t tsd = it->tsd, lastd = it->lastd;
    for (unsigned j = 0; j < cnt; j++) {
        t += tsd + br_any(&r, wt);
        it->bt[j] = (int64_t)t;
    }
    if (it->kind == 1) {
        unsigned wlz = 0, wlen = 0;
        for (unsigned j = 0; j < cnt; j++) {
            lastd = prev;
            if (xor_take(&r, &wlz, &wlen, &prev) != 0)
                return -1;
            lastd = prev - lastd;
            it->bv[j] = prev;
        }
    } else {
        uint64_t f[G];
        unsigned m = cnt, nz = (1u << cnt) - 1;
        if (sv & VC_FLAGS) {
            nz = 0;
            for (unsigned j = 0; j < cnt; j++)
                nz |= (unsigned)br_take(&r, 1) << j;
            m = (unsigned)__builtin_popcount(nz);
        }
        if (sv & VC_UNI) {
            if (uni_get(&r, f, m, it->uv) != 0)
                return -1;
        } else {
            for (unsigned j = 0; j < m; j++)
                f[j] = it_field(&r, sv & ~(unsigned)VC_FLAGS, wv);
        }
        uint64_t q;
        unsigned sh = it->sh, k = 0;
        if (it->mode == MODE_DEC)
            q = lastd;
        else
            q = (uint64_t)asr((int64_t)lastd, sh);
        for (unsigned j = 0; j < cnt; j++) {
            uint64_t x = 0;
            if (nz >> j & 1)
                x = f[k++] + ((sv & VC_FLAGS) ? 1 : 0);
            x = sv & VC_ZIGZAG ? (uint64_t)unzz(x) : x;
            q = sv & VC_DOD ? q + x : x;
            if (it->mode == MODE_DEC) {
                prev += q * it->gcd;
                it->bv[j] = dbits(dec_value(prev, it->scale));
            } else {
                lastd = q << sh;
                prev += lastd;
                it->bv[j] = prev;
            }
        }
        if (it->mode == MODE_DEC)
            lastd = q;
    }
    if (r.pos > r.end)
        return -1;
    return it_group_end(it, &r, cnt, t, prev, lastd);
}

/* ---- format 3: a whole chunk, range coded ---- */

/*
 * Format 3 is what blocks store: the encoder sees all of a chunk's samples
 * at once, so it chooses one coding for the whole chunk and spends no bits on
 * per-group headers, and a range coder gives every residual the fraction of
 * bits its probability calls for (a counter growing by 0 to 400 costs
 * log2(401) bits, a value repeated seven times in ten about 1.2 bits).
 *
 *   byte 0     0xF3 (self-contained), or 0xF4 (chunk_encode_meta: no n, no
 *              t0 and for regular times no D: the caller has them)
 *   uvarint    n (at most CHUNK_RC_MAX; 0xF3 only)
 *   if n >= 1:
 *     uvarint  zigzag(t0) (0xF3 only)
 *     byte     flags: F3_DEC decimal (else float), F3_TGEN irregular times,
 *              F3_DOD residuals are differences of deltas, F3_UNI uniform
 *              (else buckets), F3_ZZ zigzag buckets (else raw), F3_SPEC
 *              min/max symbols, F3_EXC exceptions, F3_GCD g follows
 *              (decimal) or F3_ESH (float)
 *     decimal: uvarint zigzag(m0) << 4 | k, [uvarint g], [uvarint e, then e
 *              exceptions as in format 2]
 *     float:   v0 as top bytes (a byte c, then the c high bytes of the IEEE
 *              bits, the rest zero), byte sh, [uvarint E - exponent of v0]
 *     if n >= 2: times: regular: uvarint D (every delta; 0xF3 only);
 *              irregular: uvarint D (the first delta), byte tbmin, byte tbmax
 *     values:  uniform: uvarint zigzag(lo), uvarint hi - lo; buckets: byte
 *              bmin, byte bmax; with F3_SPEC the minimum and the maximum
 *              (decimal: uvarint zigzag(m), float: top bytes)
 *   the range coded body to the end of the chunk (trailing zero bytes are
 *   left out: the decoder reads zeros past the end)
 *
 * Per sample from the second: (irregular) the change of its time delta as a
 * bucket residual with raw mantissa, then (unless an exception) its value:
 * the special symbols say "the minimum" or "the maximum" (the predictor keeps
 * the last other value, so a gauge that touches its bounds does not pay for
 * jumping there and back); else a residual r, the delta to the last value
 * (divided by g, or shifted right by sh for floats), or with F3_DOD that
 * delta minus the previous one. Uniform: r - lo, in hi - lo + 1 equally
 * likely values. Buckets: z (zigzag(r), or r) as its bit length b (adaptive
 * frequencies over bmin .. bmax and the specials, counts starting at 1 and
 * growing by 2: the Krichevsky-Trofimov estimator), then for b >= 2 the bit
 * below the leading one (an adaptive binary model per b) and the b - 2 bits
 * under it raw. With F3_ESH (floats) the bucket symbol is b - s + ESH_MAX,
 * s = min(E - e, ESH_MAX) with e the exponent of the predicted value and E
 * the largest exponent of the chunk (a uvarint after the float header): a
 * gauge's noise is the same in absolute terms whatever its binade, which is
 * 2^s times more IEEE units in a binade s below, so the shift lets one set of
 * frequencies serve them all. The encoder tries deltas and their
 * differences, with and without specials and the shift, and estimates each
 * coding's size from its histogram; the cheapest is written.
 */
#define F3_DEC    0x01
#define F3_TGEN   0x02
#define F3_DOD    0x04
#define F3_UNI    0x08
#define F3_ZZ     0x10
#define F3_SPEC   0x20
#define F3_EXC    0x40
#define F3_GCD    0x80 /* decimal */
#define F3_ESH    0x80 /* float: buckets shifted by the predictor's exponent */
#define ESH_MAX   16
#define RC_TOP    (UINT32_C(1) << 24)
#define FM_INC    2
#define FM_LIMIT  60000
#define RC_MAXPAD 8
/* The decoder reads exactly the bytes the encoder produced before trimming,
 * so it pads as many zeros as were trimmed. */
#define RC_MAXTRIM RC_MAXPAD

/* Adaptive frequencies (struct chunk_fm in chunk.h). */
static void fm_init(struct chunk_fm *m, unsigned k)
{
    m->k = (uint8_t)k;
    m->total = k;
    for (unsigned i = 0; i < k; i++)
        m->f[i] = 1;
}

static void fm_update(struct chunk_fm *m, unsigned s)
{
    m->f[s] = (uint16_t)(m->f[s] + FM_INC);
    m->total += FM_INC;
    if (m->total > FM_LIMIT) {
        m->total = 0;
        for (unsigned i = 0; i < m->k; i++) {
            m->f[i] = (uint16_t)((m->f[i] + 1) / 2);
            m->total += m->f[i];
        }
    }
}

/* The encoder: LZMA's carry handling, without its leading zero byte. */
struct rce {
    uint8_t *p;
    size_t len, cap;
    uint64_t low, csize;
    uint32_t range;
    uint8_t cache;
    bool skip, oom;
};

static void rce_init(struct rce *e)
{
    memset(e, 0, sizeof(*e));
    e->range = UINT32_MAX;
    e->csize = 1;
    e->skip = true;
}

static void rce_out(struct rce *e, uint8_t b)
{
    if (e->skip) {
        e->skip = false;
        return;
    }
    if (e->len == e->cap) {
        size_t nc = e->cap ? e->cap * 2 : 256;
        uint8_t *np = realloc(e->p, nc);
        if (!np) {
            e->oom = true;
            return;
        }
        e->p = np;
        e->cap = nc;
    }
    e->p[e->len++] = b;
}

static void rce_shift(struct rce *e)
{
    if ((uint32_t)e->low < 0xFF000000u || (e->low >> 32) != 0) {
        uint8_t carry = (uint8_t)(e->low >> 32), b = e->cache;
        do {
            rce_out(e, (uint8_t)(b + carry));
            b = 0xFF;
        } while (--e->csize != 0);
        e->cache = (uint8_t)(e->low >> 24);
    }
    e->csize++;
    e->low = (e->low & 0x00FFFFFFu) << 8;
}

static void rce_code(struct rce *e, uint32_t cum, uint32_t freq, uint32_t total)
{
    uint32_t r = e->range / total;
    e->low += (uint64_t)r * cum;
    e->range = r * freq;
    while (e->range < RC_TOP) {
        e->range <<= 8;
        rce_shift(e);
    }
}

/* n raw bits (any n up to 64), high pieces first. */
static void rce_bits(struct rce *e, uint64_t v, unsigned n)
{
    while (n > 0) {
        unsigned k = n > 16 ? 16 : n;
        n -= k;
        uint32_t r = e->range >> k;
        e->low += (uint64_t)r * (uint32_t)((v >> n) & ((UINT64_C(1) << k) - 1));
        e->range = r;
        while (e->range < RC_TOP) {
            e->range <<= 8;
            rce_shift(e);
        }
    }
}

static void rce_sym(struct rce *e, struct chunk_fm *m, unsigned s)
{
    uint32_t cum = 0;
    for (unsigned i = 0; i < s; i++)
        cum += m->f[i];
    rce_code(e, cum, m->f[s], m->total);
    fm_update(m, s);
}

static void rce_bit(struct rce *e, uint16_t *bm, unsigned bit)
{
    rce_code(e, bit ? bm[0] : 0, bm[bit], (uint32_t)bm[0] + bm[1]);
    bm[bit] = (uint16_t)(bm[bit] + FM_INC);
    if ((uint32_t)bm[0] + bm[1] > FM_LIMIT) {
        bm[0] = (uint16_t)((bm[0] + 1) / 2);
        bm[1] = (uint16_t)((bm[1] + 1) / 2);
    }
}

/* x in 0 .. rm1, all equally likely. */
static void rce_uni(struct rce *e, uint64_t x, uint64_t rm1)
{
    unsigned s = bitlen(rm1) > 16 ? bitlen(rm1) - 16 : 0;
    rce_code(e, (uint32_t)(x >> s), 1, (uint32_t)(rm1 >> s) + 1);
    rce_bits(e, x, s);
}

/* Ends the stream on the value in range with the most trailing zero bits. */
static void rce_finish(struct rce *e)
{
    uint64_t hi = e->low + e->range - 1;
    for (int j = 40; j >= 0; j--) {
        uint64_t m = (UINT64_C(1) << j) - 1, v = (e->low + m) & ~m;
        if (v >= e->low && v <= hi) {
            e->low = v;
            break;
        }
    }
    for (int i = 0; i < 5; i++)
        rce_shift(e);
    /*
     * Trailing zero bytes are left out, as the decoder reads zeros past the
     * end, but no more than RC_MAXTRIM of them: the decoder takes reading
     * further past the end for damage, and a chunk may end in more genuine
     * zeros than that (a uniform residual at its lowest is dozens of zero
     * bits).
     */
    for (int i = 0; i < RC_MAXTRIM && e->len > 0 && e->p[e->len - 1] == 0; i++)
        e->len--;
}

/* A bucket residual: its bit length, then the mantissa (see above). */
static void rce_bucket(struct rce *e, struct chunk_fm *m, uint16_t (*mb)[2], unsigned bmin,
                       unsigned off, uint64_t z)
{
    unsigned b = bitlen(z);
    rce_sym(e, m, b + off - bmin);
    if (b < 2)
        return;
    if (mb)
        rce_bit(e, mb[b + off], (unsigned)(z >> (b - 2)) & 1);
    else
        rce_bits(e, z >> (b - 2), 1);
    rce_bits(e, z, b - 2);
}

/* Writes (p != NULL) or measures a float as its top bytes. */
static size_t top_put(uint8_t *p, uint64_t bits)
{
    unsigned c = bits ? 8 - (unsigned)__builtin_ctzll(bits) / 8 : 0;
    if (p) {
        p[0] = (uint8_t)c;
        for (unsigned i = 0; i < c; i++)
            p[1 + i] = (uint8_t)(bits >> (56 - 8 * i));
    }
    return 1 + c;
}

static int top_get(const uint8_t *d, size_t len, size_t *off, uint64_t *bits)
{
    if (*off >= len || d[*off] > 8 || len - *off - 1 < d[*off])
        return -1;
    unsigned c = d[(*off)++];
    *bits = 0;
    for (unsigned i = 0; i < c; i++)
        *bits |= (uint64_t)d[(*off)++] << (56 - 8 * i);
    return 0;
}

/* One way to code a chunk's values, and what it is estimated to cost. */
struct f3cfg {
    uint8_t flags;
    unsigned sh, bmin, bmax, emax;
    uint64_t g, smin, smax;
    int64_t lo, hi;
    double bits;
};

static double log2_or0(double x)
{
    return x > 0 ? log2(x) : 0;
}

static inline unsigned fexp(uint64_t bits)
{
    return (unsigned)(bits >> 52) & 0x7FF;
}

/* The bucket shift for a residual predicted from px (see F3_ESH). */
static inline unsigned esh_of(unsigned emax, uint64_t px)
{
    unsigned e = fexp(px);
    return e >= emax ? 0 : emax - e > ESH_MAX ? ESH_MAX : emax - e;
}

/*
 * The deltas of xs (values as integers: decimal m or IEEE bits; exc marks
 * exceptions, which are not coded) with or without specials: for each coded
 * sample q[] the delta in units (g for decimals, 2^sh for floats), sp[] its
 * special symbol (0 none, 1 min, 2 max) and pe[] the exponent of the value it
 * is predicted from. Sets *unit (g or sh). Returns the number coded.
 */
static uint32_t f3_deltas(const uint64_t *xs, const uint8_t *exc, uint32_t n, bool dec, bool spec,
                          uint64_t smin, uint64_t smax, uint64_t *q, uint8_t *sp, uint16_t *pe,
                          uint64_t *unit)
{
    uint64_t px = xs[0], all = 0;
    uint32_t m = 0;
    for (uint32_t i = 1; i < n; i++) {
        if (exc[i])
            continue;
        if (spec && (xs[i] == smin || xs[i] == smax)) {
            sp[m] = xs[i] == smin ? 1 : 2;
            pe[m] = 0;
            q[m++] = 0;
            continue;
        }
        uint64_t d = xs[i] - px;
        /* The unit: g of the decimal deltas (1 stops the search), or the
         * trailing zeros all float deltas share. */
        if (!dec)
            all |= d;
        else if (all != 1)
            all = gcd64(all, (int64_t)d < 0 ? 0 - d : d);
        sp[m] = 0;
        pe[m] = (uint16_t)fexp(px);
        q[m++] = d;
        px = xs[i];
    }
    *unit = dec ? (all ? all : 1) : all ? (uint64_t)__builtin_ctzll(all) : 0;
    for (uint32_t j = 0; j < m; j++)
        if (!sp[j])
            q[j] = dec ? (uint64_t)((int64_t)q[j] / (int64_t)*unit)
                       : (uint64_t)asr((int64_t)q[j], (unsigned)*unit);
    return m;
}

/* The residuals of q for F3_DOD or not, and the bucket offsets es of F3_ESH. */
static void f3_residuals(const uint64_t *q, const uint8_t *sp, const uint16_t *pe, uint32_t m,
                         const struct f3cfg *c, int64_t *r, uint8_t *es)
{
    uint64_t pq = 0;
    bool dod = c->flags & F3_DOD, esh = c->flags & F3_ESH;
    for (uint32_t j = 0; j < m; j++) {
        if (sp[j]) {
            r[j] = 0;
            es[j] = 0;
            continue;
        }
        r[j] = (int64_t)(dod ? q[j] - pq : q[j]);
        pq = q[j];
        if (esh) {
            unsigned sft = pe[j] >= c->emax ? 0 : c->emax - pe[j];
            es[j] = (uint8_t)(ESH_MAX - (sft > ESH_MAX ? ESH_MAX : sft));
        } else {
            es[j] = 0;
        }
    }
}

/* Estimates the bucket coding of r (zigzag or raw) with the specials. */
static void f3_estimate_buckets(const int64_t *r, const uint8_t *sp, const uint8_t *es, uint32_t m,
                                bool zzc, struct f3cfg *c)
{
    uint32_t sym[65 + ESH_MAX] = {0}, cnt[65 + ESH_MAX] = {0}, one[65 + ESH_MAX] = {0};
    uint32_t nsp[3] = {0};
    double bits = 0;
    for (uint32_t i = 0; i < m; i++) {
        if (sp[i]) {
            nsp[sp[i]]++;
            continue;
        }
        uint64_t z = zzc ? zz(r[i]) : (uint64_t)r[i];
        unsigned b = bitlen(z);
        sym[b + es[i]]++;
        if (b >= 2) {
            cnt[b + es[i]]++;
            one[b + es[i]] += (unsigned)(z >> (b - 2)) & 1;
            bits += b - 2;
        }
    }
    unsigned bmin = 64 + ESH_MAX, bmax = 0;
    for (unsigned b = 0; b <= 64 + ESH_MAX; b++) {
        if (!sym[b])
            continue;
        bmin = b < bmin ? b : bmin;
        bmax = b;
    }
    if (bmin > bmax)
        bmin = bmax = ESH_MAX;
    unsigned k = bmax - bmin + 1 + ((c->flags & F3_SPEC) ? 2 : 0);
    double tot = (double)m;
    for (unsigned b = bmin; b <= bmax; b++)
        bits += sym[b] * (log2_or0(tot) - log2_or0(sym[b]));
    for (unsigned b = 0; b < 65 + ESH_MAX; b++) {
        if (!cnt[b])
            continue;
        double n1 = one[b], n0 = cnt[b] - one[b];
        bits += cnt[b] * log2(cnt[b]) - (n1 ? n1 * log2(n1) : 0) - (n0 ? n0 * log2(n0) : 0) +
                0.5 * log2(cnt[b]) + 1;
    }
    for (int s = 1; s <= 2; s++)
        bits += nsp[s] * (log2_or0(tot) - log2_or0(nsp[s]));
    /* What the adaptive counts cost beyond the histogram's entropy. */
    bits += (k - 1) * 0.5 * log2_or0(tot) + k;
    c->bmin = bmin;
    c->bmax = bmax;
    c->bits = bits + 16;
}

/* Chooses the value coding for residuals r, sp: uniform or buckets. */
static void f3_choose_model(const int64_t *r, const uint8_t *sp, const uint8_t *es, uint32_t m,
                            struct f3cfg *c)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    bool neg = false;
    for (uint32_t i = 0; i < m; i++) {
        if (sp[i])
            continue;
        lo = r[i] < lo ? r[i] : lo;
        hi = r[i] > hi ? r[i] : hi;
        neg |= r[i] < 0;
    }
    struct f3cfg best = *c, t = *c;
    best.bits = INFINITY;
    if (!(c->flags & (F3_SPEC | F3_ESH)) && m > 0 && lo <= hi &&
        (uint64_t)hi - (uint64_t)lo < (UINT64_C(1) << 62)) {
        t.flags |= F3_UNI;
        t.lo = lo;
        t.hi = hi;
        t.bits = m * log2((double)((uint64_t)hi - (uint64_t)lo) + 1) + 24;
        best = t;
    }
    for (int z = neg; z < 2; z++) {
        t = *c;
        if (z)
            t.flags |= F3_ZZ;
        f3_estimate_buckets(r, sp, es, m, z, &t);
        if (t.bits < best.bits)
            best = t;
    }
    *c = best;
}

/* chunk_encode with the value coding known: dec (with k digits) or float. */
static int f3_encode(const int64_t *t, const double *v, uint32_t n, bool dec, unsigned k, bool meta,
                     uint8_t **out, size_t *outlen)
{
    uint64_t *xs = NULL, *q = NULL;
    uint8_t *exc = NULL, *sp = NULL, *es = NULL, *hdr = NULL;
    uint16_t *pe = NULL;
    int64_t *r = NULL;
    struct rce e;
    int rc = -1;

    *out = NULL;
    rce_init(&e);
    if (n > CHUNK_RC_MAX)
        return -1;
    if (n == 0) {
        uint8_t *b = malloc(2);
        if (!b)
            return -1;
        b[0] = meta ? FMT_RCM : FMT_RC;
        b[1] = 0;
        *out = b;
        *outlen = meta ? 1 : 2;
        return 0;
    }
    xs = malloc(n * sizeof(*xs));
    q = malloc(n * sizeof(*q));
    pe = malloc(n * sizeof(*pe));
    exc = calloc(n, 1);
    sp = malloc(n);
    es = malloc(n);
    r = malloc(n * sizeof(*r));
    hdr = malloc(128 + (size_t)n * 18);
    if (!xs || !q || !pe || !exc || !sp || !es || !r || !hdr)
        goto out;

    uint32_t nexc = 0, nmin = 0, nmax = 0;
    uint64_t smin = 0, smax = 0;
    unsigned emax = 0;
    bool have = false;
    for (uint32_t i = 0; i < n; i++) {
        int64_t mi;
        if (dec && !dec_rep(v[i], k, &mi)) {
            exc[i] = 1;
            nexc++;
            xs[i] = i ? xs[i - 1] : 0;
            continue;
        }
        xs[i] = dec ? (uint64_t)mi : dbits(v[i]);
        emax = !dec && fexp(xs[i]) > emax ? fexp(xs[i]) : emax;
        /* Bounds by value (floats: not NaN), compared as numbers. */
        if (!dec && v[i] != v[i])
            continue;
        bool lt = dec ? (int64_t)xs[i] < (int64_t)smin : v[i] < bitsd(smin);
        bool gt = dec ? (int64_t)xs[i] > (int64_t)smax : v[i] > bitsd(smax);
        if (!have || lt) {
            smin = xs[i];
            nmin = 0;
        }
        if (!have || gt) {
            smax = xs[i];
            nmax = 0;
        }
        nmin += xs[i] == smin;
        nmax += xs[i] == smax;
        have = true;
    }

    /*
     * The cheapest of deltas or their differences, with or without specials
     * (worth trying when the bounds recur) and (floats) the exponent shift.
     */
    struct f3cfg best = {0};
    best.bits = INFINITY;
    for (int spec = 0; spec < 2; spec++) {
        if (spec && (!have || n < 16 || smin == smax || nmin + nmax < 4))
            continue;
        uint64_t unit;
        uint32_t m = f3_deltas(xs, exc, n, dec, spec, smin, smax, q, sp, pe, &unit);
        for (int cfg = 0; cfg < 4; cfg++) {
            bool dod = cfg & 1, esh = cfg & 2;
            if (esh && dec)
                continue;
            struct f3cfg c = {0};
            c.flags = (uint8_t)((dod ? F3_DOD : 0) | (spec ? F3_SPEC : 0) | (esh ? F3_ESH : 0));
            c.smin = smin;
            c.smax = smax;
            c.emax = emax;
            c.g = dec ? unit : 1;
            c.sh = dec ? 0 : (unsigned)unit;
            f3_residuals(q, sp, pe, m, &c, r, es);
            f3_choose_model(r, sp, es, m, &c);
            if (spec)
                c.bits +=
                    8.0 * (dec ? uv_put(NULL, zz((int64_t)smin)) + uv_put(NULL, zz((int64_t)smax))
                               : top_put(NULL, smin) + top_put(NULL, smax));
            if (c.bits < best.bits)
                best = c;
        }
    }
    uint64_t unit;
    uint32_t m = f3_deltas(xs, exc, n, dec, best.flags & F3_SPEC, smin, smax, q, sp, pe, &unit);
    f3_residuals(q, sp, pe, m, &best, r, es);

    /* Times: one delta for all, or its changes as bucket residuals. */
    uint64_t d0 = n > 1 ? (uint64_t)t[1] - (uint64_t)t[0] : 0;
    unsigned tbmin = 64, tbmax = 0;
    bool tgen = false;
    for (uint32_t i = 2; i < n; i++) {
        uint64_t z = zz((int64_t)(((uint64_t)t[i] - (uint64_t)t[i - 1]) -
                                  ((uint64_t)t[i - 1] - (uint64_t)t[i - 2])));
        tgen |= z != 0;
        unsigned b = bitlen(z);
        tbmin = b < tbmin ? b : tbmin;
        tbmax = b > tbmax ? b : tbmax;
    }

    /* The header. */
    size_t o = 0;
    uint8_t flags = (uint8_t)(best.flags | (dec ? F3_DEC : 0) | (tgen ? F3_TGEN : 0) |
                              (nexc ? F3_EXC : 0) | (dec && best.g > 1 ? F3_GCD : 0));
    hdr[o++] = meta ? FMT_RCM : FMT_RC;
    if (!meta) {
        o += uv_put(hdr + o, n);
        o += uv_put(hdr + o, zz(t[0]));
    }
    hdr[o++] = flags;
    if (dec) {
        /* m0 is within 2^53, so its zigzag has room for k beside it. */
        o += uv_put(hdr + o, zz((int64_t)xs[0]) << 4 | k);
        if (flags & F3_GCD)
            o += uv_put(hdr + o, best.g);
        if (nexc) {
            o += uv_put(hdr + o, nexc);
            uint32_t prev = 0, j = 0;
            for (uint32_t i = 0; i < n; i++) {
                if (!exc[i])
                    continue;
                o += uv_put(hdr + o, j ? i - prev - 1 : i);
                store_le64(hdr + o, dbits(v[i]));
                o += 8;
                prev = i;
                j++;
            }
        }
    } else {
        o += top_put(hdr + o, xs[0]);
        hdr[o++] = (uint8_t)best.sh;
        if (flags & F3_ESH)
            o += uv_put(hdr + o, emax - fexp(xs[0]));
    }
    if (n > 1) {
        if (!meta || tgen)
            o += uv_put(hdr + o, d0);
        if (tgen) {
            hdr[o++] = (uint8_t)tbmin;
            hdr[o++] = (uint8_t)tbmax;
        }
        if (flags & F3_UNI) {
            o += uv_put(hdr + o, zz(best.lo));
            o += uv_put(hdr + o, (uint64_t)best.hi - (uint64_t)best.lo);
        } else {
            hdr[o++] = (uint8_t)best.bmin;
            hdr[o++] = (uint8_t)best.bmax;
        }
        if (flags & F3_SPEC) {
            if (dec) {
                o += uv_put(hdr + o, zz((int64_t)best.smin));
                o += uv_put(hdr + o, zz((int64_t)best.smax));
            } else {
                o += top_put(hdr + o, best.smin);
                o += top_put(hdr + o, best.smax);
            }
        }
    }

    /* The body. */
    if (n > 1) {
        struct chunk_fm *vm = malloc(sizeof(*vm)), *tm = malloc(sizeof(*tm));
        uint16_t(*mb)[2] = malloc((65 + ESH_MAX) * sizeof(*mb));
        if (!vm || !tm || !mb) {
            free(vm);
            free(tm);
            free(mb);
            goto out;
        }
        unsigned kb = best.bmax - best.bmin + 1;
        fm_init(vm, kb + ((flags & F3_SPEC) ? 2 : 0));
        fm_init(tm, tbmax >= tbmin ? tbmax - tbmin + 1 : 1);
        for (unsigned b = 0; b < 65 + ESH_MAX; b++)
            mb[b][0] = mb[b][1] = 1;
        uint64_t rm1 = (uint64_t)best.hi - (uint64_t)best.lo;
        for (uint32_t i = 1, j = 0; i < n; i++) {
            if (tgen && i >= 2)
                rce_bucket(&e, tm, NULL, tbmin, 0,
                           zz((int64_t)(((uint64_t)t[i] - (uint64_t)t[i - 1]) -
                                        ((uint64_t)t[i - 1] - (uint64_t)t[i - 2]))));
            if (exc[i])
                continue;
            if (sp[j]) {
                rce_sym(&e, vm, kb + sp[j] - 1);
            } else if (flags & F3_UNI) {
                rce_uni(&e, (uint64_t)r[j] - (uint64_t)best.lo, rm1);
            } else {
                uint64_t z = (flags & F3_ZZ) ? zz(r[j]) : (uint64_t)r[j];
                rce_bucket(&e, vm, mb, best.bmin, es[j], z);
            }
            j++;
        }
        free(vm);
        free(tm);
        free(mb);
        rce_finish(&e);
        if (e.oom)
            goto out;
    }
    uint8_t *b = malloc(o + e.len ? o + e.len : 1);
    if (!b)
        goto out;
    memcpy(b, hdr, o);
    if (e.len)
        memcpy(b + o, e.p, e.len);
    *out = b;
    *outlen = o + e.len;
    rc = 0;
out:
    free(e.p);
    free(xs);
    free(q);
    free(pe);
    free(exc);
    free(sp);
    free(es);
    free(r);
    free(hdr);
    return rc;
}

int chunk_encode(const int64_t *t, const double *v, uint32_t n, uint8_t **out, size_t *outlen)
{
    if (n > CHUNK_RC_MAX)
        return -1;
    /* Decimal or float, as the streaming encoder decides. */
    struct chunk_enc pe;
    chunk_enc_init(&pe);
    enc_choose(&pe, v, n, true);
    return f3_encode(t, v, n, pe.mode == MODE_DEC, pe.scale, false, out, outlen);
}

int chunk_encode_meta(const int64_t *t, const double *v, uint32_t n, uint8_t **out, size_t *outlen)
{
    if (n > CHUNK_RC_MAX)
        return -1;
    struct chunk_enc pe;
    chunk_enc_init(&pe);
    enc_choose(&pe, v, n, true);
    return f3_encode(t, v, n, pe.mode == MODE_DEC, pe.scale, true, out, outlen);
}

bool chunk_times_regular(const int64_t *t, uint32_t n, uint64_t *step)
{
    *step = n > 1 ? (uint64_t)t[1] - (uint64_t)t[0] : 0;
    for (uint32_t i = 2; i < n; i++)
        if ((uint64_t)t[i] - (uint64_t)t[i - 1] != *step)
            return false;
    return true;
}

int chunk_enc_finish(const struct chunk_enc *e, uint8_t **out, size_t *outlen, uint64_t *step)
{
    *step = 0;
    if (e->n < 2 || e->n > CHUNK_RC_MAX)
        return chunk_enc_snapshot(e, out, outlen);
    int64_t *t = malloc((size_t)e->n * sizeof(*t));
    double *v = malloc((size_t)e->n * sizeof(*v));
    int rc = -1;
    /* The encoder's value coding holds for all its samples. */
    if (t && v && enc_collect(e, t, v) == 0) {
        if (!chunk_times_regular(t, e->n, step))
            *step = 0;
        rc = e->mode == MODE_NONE
                 ? chunk_encode_meta(t, v, e->n, out, outlen)
                 : f3_encode(t, v, e->n, e->mode == MODE_DEC, e->scale, true, out, outlen);
    }
    free(t);
    free(v);
    return rc == 0 ? 0 : chunk_enc_snapshot(e, out, outlen);
}

/* ---- format 3 decoding ---- */

static inline uint8_t rcd_byte(struct chunk_iter *it)
{
    if (it->rc_pos < it->len)
        return it->data[it->rc_pos++];
    it->rc_pad++;
    return 0;
}

static inline void rcd_norm(struct chunk_iter *it)
{
    while (it->rc_range < RC_TOP) {
        it->rc_code = it->rc_code << 8 | rcd_byte(it);
        it->rc_range <<= 8;
    }
}

static unsigned rcd_sym(struct chunk_iter *it, struct chunk_fm *m)
{
    uint32_t r = it->rc_range / m->total, v = it->rc_code / r, cum = 0;
    unsigned s = 0;
    if (v >= m->total)
        v = m->total - 1;
    while (s + 1 < m->k && cum + m->f[s] <= v)
        cum += m->f[s++];
    it->rc_code -= r * cum;
    it->rc_range = r * m->f[s];
    rcd_norm(it);
    fm_update(m, s);
    return s;
}

static unsigned rcd_bit(struct chunk_iter *it, uint16_t *bm)
{
    uint32_t total = (uint32_t)bm[0] + bm[1], r = it->rc_range / total;
    unsigned bit = it->rc_code / r >= bm[0];
    it->rc_code -= bit ? r * bm[0] : 0;
    it->rc_range = r * bm[bit];
    rcd_norm(it);
    bm[bit] = (uint16_t)(bm[bit] + FM_INC);
    if ((uint32_t)bm[0] + bm[1] > FM_LIMIT) {
        bm[0] = (uint16_t)((bm[0] + 1) / 2);
        bm[1] = (uint16_t)((bm[1] + 1) / 2);
    }
    return bit;
}

static uint64_t rcd_bits(struct chunk_iter *it, unsigned n)
{
    uint64_t x = 0;
    while (n > 0) {
        unsigned k = n > 16 ? 16 : n;
        n -= k;
        uint32_t r = it->rc_range >> k, v = it->rc_code / r;
        if (v >> k)
            v = (UINT32_C(1) << k) - 1;
        it->rc_code -= r * v;
        it->rc_range = r;
        rcd_norm(it);
        x = x << k | v;
    }
    return x;
}

static uint64_t rcd_uni(struct chunk_iter *it, uint64_t rm1)
{
    unsigned s = bitlen(rm1) > 16 ? bitlen(rm1) - 16 : 0;
    uint32_t total = (uint32_t)(rm1 >> s) + 1, r = it->rc_range / total, v = it->rc_code / r;
    if (v >= total)
        v = total - 1;
    it->rc_code -= r * v;
    it->rc_range = r;
    rcd_norm(it);
    return (uint64_t)v << s | rcd_bits(it, s);
}

/* The rest of a bucket residual of bit length b; ctx: its symbol (the mantissa model). */
static uint64_t rcd_bucket_rest(struct chunk_iter *it, uint16_t (*mb)[2], unsigned b, unsigned ctx)
{
    if (b < 2)
        return b;
    uint64_t m1 = mb ? rcd_bit(it, mb[ctx]) : rcd_bits(it, 1);
    return (UINT64_C(1) << (b - 1)) | m1 << (b - 2) | rcd_bits(it, b - 2);
}

/* Parses a format 3 header after the sample count (off is past it). */
static int it_init3(struct chunk_iter *it, size_t off, bool meta)
{
    const uint8_t *d = it->data;
    size_t len = it->len;
    uint64_t x;
    it->ver = 3;
    if (it->n == 0)
        return 0;
    if (it->n > CHUNK_RC_MAX)
        return -1;
    if (!meta) {
        if (uv_get(d, len, &off, &x) != 0)
            return -1;
        it->t0 = unzz(x);
    }
    if (off >= len)
        return -1;
    uint8_t f = it->f3 = d[off++];
    /* Irregular times carry their first delta; regular ones have it from the caller. */
    if (meta && it->n > 1 && !(f & F3_TGEN) != (it->tsd != 0))
        return -1;
    it->mode = f & F3_DEC ? MODE_DEC : MODE_FLT;
    it->gcd = 1;
    if (f & F3_DEC) {
        if (uv_get(d, len, &off, &x) != 0)
            return -1;
        it->scale = (uint8_t)(x & 15);
        it->v0 = (uint64_t)unzz(x >> 4);
        if ((f & F3_GCD) && (uv_get(d, len, &off, &it->gcd) != 0 || it->gcd < 2))
            return -1;
        if (f & F3_EXC) {
            uint64_t ne, gap, idx = 0;
            if (uv_get(d, len, &off, &ne) != 0 || ne == 0 || ne > it->n)
                return -1;
            it->nexc = (uint32_t)ne;
            for (uint64_t i = 0; i < ne; i++) {
                if (uv_get(d, len, &off, &gap) != 0 || gap >= it->n)
                    return -1;
                idx = i ? idx + 1 + gap : gap;
                if (idx >= it->n || len - off < 8)
                    return -1;
                if (i == 0) {
                    it->excidx = (uint32_t)idx;
                    it->excpos = off;
                }
                off += 8;
            }
        }
    } else {
        if (f & F3_EXC || top_get(d, len, &off, &it->v0) != 0 || off >= len || d[off] > 63)
            return -1;
        it->sh = d[off++];
        if ((f & F3_ESH) && (uv_get(d, len, &off, &x) != 0 || x > 0x7FF - fexp(it->v0)))
            return -1;
        it->emax = (f & F3_ESH) ? (uint16_t)(fexp(it->v0) + x) : 0;
    }
    if (it->n == 1)
        return 0;
    if ((!meta || (f & F3_TGEN)) && uv_get(d, len, &off, &it->tsd) != 0)
        return -1;
    if (f & F3_TGEN) {
        if (len - off < 2 || d[off] > d[off + 1] || d[off + 1] > 64)
            return -1;
        it->tbmin = d[off];
        fm_init(&it->tm, d[off + 1] - d[off] + 1u);
        off += 2;
    }
    if (f & F3_UNI) {
        if (f & F3_SPEC || uv_get(d, len, &off, &x) != 0 || uv_get(d, len, &off, &it->uv) != 0)
            return -1;
        it->ulo = (uint64_t)unzz(x);
    } else {
        if (len - off < 2 || d[off] > d[off + 1] || d[off + 1] > 64 + ESH_MAX)
            return -1;
        it->bmin = d[off];
        it->nb = (uint8_t)(d[off + 1] - d[off] + 1);
        fm_init(&it->vm, it->nb + ((f & F3_SPEC) ? 2u : 0u));
        off += 2;
        for (unsigned b = 0; b < 65 + ESH_MAX; b++)
            it->mb[b][0] = it->mb[b][1] = 1;
    }
    if (f & F3_SPEC) {
        if (f & F3_DEC) {
            if (uv_get(d, len, &off, &x) != 0)
                return -1;
            it->smin = (uint64_t)unzz(x);
            if (uv_get(d, len, &off, &x) != 0)
                return -1;
            it->smax = (uint64_t)unzz(x);
        } else if (top_get(d, len, &off, &it->smin) != 0 || top_get(d, len, &off, &it->smax) != 0) {
            return -1;
        }
    }
    it->rc_pos = off;
    it->rc_range = UINT32_MAX;
    for (int i = 0; i < 4; i++)
        it->rc_code = it->rc_code << 8 | rcd_byte(it);
    it->rc_pad = 0;
    return 0;
}

/* Decodes the next (up to) 16 samples of a format 3 chunk. */
static int it_group3(struct chunk_iter *it)
{
    uint32_t rest = it->n - it->i;
    unsigned cnt = rest < G ? rest : G;
    uint8_t f = it->f3;
    uint64_t t = (uint64_t)it->tlast, px = it->prev, pq = it->lastq, dt = it->dt;
    for (unsigned j = 0; j < cnt; j++) {
        uint32_t idx = it->i + j;
        if (idx == 1)
            dt = it->tsd;
        else if (f & F3_TGEN)
            dt += (uint64_t)unzz(rcd_bucket_rest(it, NULL, it->tbmin + rcd_sym(it, &it->tm), 0));
        t += dt;
        it->bt[j] = (int64_t)t;
        if (idx == it->excidx) {
            if (it_exc_take(it, &it->bv[j]) != 0)
                return -1;
            continue;
        }
        uint64_t x;
        if (f & F3_UNI) {
            int64_t r = (int64_t)(rcd_uni(it, it->uv) + it->ulo);
            uint64_t q = f & F3_DOD ? pq + (uint64_t)r : (uint64_t)r;
            x = px + (f & F3_DEC ? q * it->gcd : q << it->sh);
            px = x;
            pq = q;
        } else {
            unsigned s = rcd_sym(it, &it->vm);
            if (s >= it->nb) {
                x = s == it->nb ? it->smin : it->smax;
            } else {
                unsigned b = it->bmin + s;
                unsigned o = (f & F3_ESH && !(f & F3_DEC)) ? ESH_MAX - esh_of(it->emax, px) : 0;
                if (b < o || b - o > 64)
                    return -1;
                uint64_t z = rcd_bucket_rest(it, it->mb, b - o, b);
                uint64_t r = f & F3_ZZ ? (uint64_t)unzz(z) : z;
                uint64_t q = f & F3_DOD ? pq + r : r;
                x = px + (f & F3_DEC ? q * it->gcd : q << it->sh);
                px = x;
                pq = q;
            }
        }
        it->bv[j] = f & F3_DEC ? dbits(dec_value(x, it->scale)) : x;
    }
    if (it->rc_pad > RC_MAXPAD)
        return -1;
    it->lastq = pq;
    it->dt = dt;
    it->tlast = (int64_t)t;
    it->prev = px;
    it->bn = (uint8_t)cnt;
    it->bi = 0;
    return 0;
}

static int it_group(struct chunk_iter *it)
{
    return it->ver == 1 ? it_group1(it) : it->ver == 2 ? it_group2(it) : it_group3(it);
}

int chunk_iter_next(struct chunk_iter *it, int64_t *t, double *v)
{
    if (it->err)
        return -1;
    if (it->bi < it->bn) {
        it->t = it->bt[it->bi];
        it->v = bitsd(it->bv[it->bi]);
        it->bi++;
    } else if (it->i >= it->n) {
        return 0;
    } else if (it->i == 0) {
        uint64_t val = it->mode == MODE_DEC ? dbits(dec_value(it->v0, it->scale)) : it->v0;
        if (it->excidx == 0) {
            size_t off = it->excpos + 8;
            uint64_t gap;
            val = load_le64(it->data + it->excpos);
            if (--it->nexc == 0) {
                it->excidx = UINT32_MAX;
            } else if (uv_get(it->data, it->len, &off, &gap) == 0) {
                it->excidx = (uint32_t)gap + 1;
                it->excpos = off;
            } else {
                it->err = 1;
                return -1;
            }
        }
        it->t = it->tlast = it->t0;
        it->prev = it->v0;
        it->v = bitsd(val);
        it->bn = it->bi = 0;
        it->i = 1;
        *t = it->t;
        *v = it->v;
        return 1;
    } else {
        if (it_group(it) != 0) {
            it->err = 1;
            return -1;
        }
        it->t = it->bt[0];
        it->v = bitsd(it->bv[0]);
        it->bi = 1;
        it->i += it->bn;
    }
    *t = it->t;
    *v = it->v;
    return 1;
}
