/*
 * tsdb_util.c - the engine's small helpers: CRC-32C (Castagnoli, the
 * checksum of log records and block sections), the label-set hash, byte
 * buffers and a bounds-checked reader, the XOR coding of rollup values,
 * label checks and file helpers.
 */
#include "tsdb_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/*
 * CRC-32C, reflected polynomial 0x82F63B78, processed eight bytes per step
 * ("slicing by 8"): table k gives the CRC contribution of a byte that is k
 * positions further from the end of the step, so eight lookups replace eight
 * dependent shift-and-lookup rounds. Log commits checksum every sample, so
 * this runs at a few GB/s instead of a few hundred MB/s.
 */
static uint32_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_tab[0][i] = c;
    }
    for (int k = 1; k < 8; k++)
        for (uint32_t i = 0; i < 256; i++)
            crc_tab[k][i] = (crc_tab[k - 1][i] >> 8) ^ crc_tab[0][crc_tab[k - 1][i] & 0xff];
}

uint32_t tsdb_crc32c(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    pthread_once(&crc_once, crc_init);
    crc = ~crc;
    while (len >= 8) {
        uint32_t lo = crc ^ tsdb_get_u32(p), hi = tsdb_get_u32(p + 4);
        crc = crc_tab[7][lo & 0xff] ^ crc_tab[6][(lo >> 8) & 0xff] ^ crc_tab[5][(lo >> 16) & 0xff] ^
              crc_tab[4][lo >> 24] ^ crc_tab[3][hi & 0xff] ^ crc_tab[2][(hi >> 8) & 0xff] ^
              crc_tab[1][(hi >> 16) & 0xff] ^ crc_tab[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ crc_tab[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

/*
 * The registry hash over a packed label set: eight bytes per multiply, the
 * length mixed in, and a final avalanche. The seed is random per database,
 * so label values chosen to collide cannot be prepared in advance.
 */
uint64_t tsdb_labels_hash(uint64_t seed, const char *p, size_t len)
{
    const uint64_t k = 0x9e3779b97f4a7c15ULL;
    uint64_t h = seed ^ (len * k);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
        p += 8;
        len -= 8;
    }
    uint64_t w = (uint64_t)len << 56;
    for (size_t i = 0; i < len; i++)
        w |= (uint64_t)(uint8_t)p[i] << (8 * i);
    h = (h ^ w) * k;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h ? h : 1;
}

int tsdb_pack_labels(struct tbuf *b, const struct lview *lv, size_t n)
{
    size_t need = 0;
    for (size_t i = 0; i < n; i++)
        need += (size_t)lv[i].nlen + lv[i].vlen + 2;
    b->len = 0;
    if (tbuf_reserve(b, need) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        tbuf_bytes(b, lv[i].name, lv[i].nlen);
        b->p[b->len++] = 0;
        tbuf_bytes(b, lv[i].value, lv[i].vlen);
        b->p[b->len++] = 0;
    }
    return 0;
}

int tbuf_reserve(struct tbuf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    size_t need = b->len + extra;
    if (need < b->len)
        return -1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap * 2 > cap ? cap * 2 : need;
    uint8_t *np = realloc(b->p, cap);
    if (!np)
        return -1;
    b->p = np;
    b->cap = cap;
    return 0;
}

void tbuf_free(struct tbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

uint64_t rd_uvarint(struct rd *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            r->bad = true;
            return 0;
        }
        uint8_t b = *r->p++;
        if (shift == 63 && b > 1) {
            r->bad = true;
            return 0;
        }
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = true;
    return 0;
}

int64_t rd_varint(struct rd *r)
{
    return tsdb_unzigzag(rd_uvarint(r));
}

const uint8_t *rd_bytes(struct rd *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

uint32_t rd_u32(struct rd *r)
{
    const uint8_t *p = rd_bytes(r, 4);
    return p ? tsdb_get_u32(p) : 0;
}

uint64_t rd_u64(struct rd *r)
{
    const uint8_t *p = rd_bytes(r, 8);
    return p ? tsdb_get_u64(p) : 0;
}

/*
 * A value XORed with the previous one of its column keeps only the bytes
 * that changed: one control byte (high nibble: zero bytes dropped at the low
 * end, low nibble: bytes kept) and those bytes. An unchanged value is the
 * single byte 0; integers and short decimals usually keep two or three.
 */
void tbuf_xor(struct tbuf *b, uint64_t bits, uint64_t prev)
{
    uint64_t x = bits ^ prev;
    if (x == 0) {
        b->p[b->len++] = 0;
        return;
    }
    int tz = __builtin_ctzll(x) / 8, lz = __builtin_clzll(x) / 8;
    int keep = 8 - tz - lz;
    b->p[b->len++] = (uint8_t)(tz << 4 | keep);
    x >>= 8 * tz;
    for (int i = 0; i < keep; i++)
        b->p[b->len++] = (uint8_t)(x >> (8 * i));
}

uint64_t rd_xor(struct rd *r, uint64_t prev)
{
    const uint8_t *c = rd_bytes(r, 1);
    if (!c)
        return 0;
    if (*c == 0)
        return prev;
    int tz = *c >> 4, keep = *c & 0xf;
    if (keep == 0 || keep + tz > 8) {
        r->bad = true;
        return 0;
    }
    const uint8_t *p = rd_bytes(r, (size_t)keep);
    if (!p)
        return 0;
    uint64_t x = 0;
    for (int i = 0; i < keep; i++)
        x |= (uint64_t)p[i] << (8 * i);
    return prev ^ (x << (8 * tz));
}

static bool name_char(char c, bool first, bool colon)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
        return true;
    if (colon && c == ':')
        return true;
    return !first && c >= '0' && c <= '9';
}

static bool valid_name(const char *s, size_t n, bool colon)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i], i == 0, colon))
            return false;
    return true;
}

static int view_cmp_name(const struct lview *a, const struct lview *b)
{
    size_t n = a->nlen < b->nlen ? a->nlen : b->nlen;
    int c = memcmp(a->name, b->name, n);
    if (c)
        return c;
    return a->nlen < b->nlen ? -1 : a->nlen > b->nlen;
}

int tsdb_labels_check(const struct lview *lv, size_t n, char *err, size_t errlen)
{
    bool has_name = false;
    if (n > LABELS_MAX_PAIRS) {
        snprintf(err, errlen, "%zu labels; at most %d are allowed", n, LABELS_MAX_PAIRS);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct lview *l = &lv[i];
        if (l->nlen > LABELS_MAX_NAME || !valid_name(l->name, l->nlen, false)) {
            snprintf(err, errlen,
                     "invalid label name \"%.*s\" (want [a-zA-Z_][a-zA-Z0-9_]*, at most %d bytes)",
                     (int)(l->nlen > 64 ? 64 : l->nlen), l->name, LABELS_MAX_NAME);
            return -1;
        }
        if (l->vlen == 0 || l->vlen > LABELS_MAX_VALUE || memchr(l->value, 0, l->vlen)) {
            snprintf(err, errlen, "label %.*s: the value must be 1 to %d bytes without NUL",
                     (int)l->nlen, l->name, LABELS_MAX_VALUE);
            return -1;
        }
        if (i > 0 && view_cmp_name(&lv[i - 1], l) >= 0) {
            snprintf(err, errlen, "label %.*s appears more than once", (int)l->nlen, l->name);
            return -1;
        }
        if (l->nlen == 8 && memcmp(l->name, "__name__", 8) == 0) {
            has_name = true;
            if (!valid_name(l->value, l->vlen, true)) {
                snprintf(err, errlen,
                         "invalid metric name \"%.*s\" (want [a-zA-Z_:][a-zA-Z0-9_:]*)",
                         (int)(l->vlen > 64 ? 64 : l->vlen), l->value);
                return -1;
            }
        }
    }
    if (!has_name) {
        snprintf(err, errlen, "no metric name (label __name__)");
        return -1;
    }
    return 0;
}

void tsdb_labels_format(const struct lview *lv, size_t n, char *buf, size_t len)
{
    size_t o = 0;
    bool any = false;
    if (len == 0)
        return;
    buf[0] = '\0';
#define PUT(...)                                                                                   \
    do {                                                                                           \
        if (o < len) {                                                                             \
            int k_ = snprintf(buf + o, len - o, __VA_ARGS__);                                      \
            o += k_ > 0 ? (size_t)k_ : 0;                                                          \
        }                                                                                          \
    } while (0)
    for (size_t i = 0; i < n; i++)
        if (lv[i].nlen == 8 && memcmp(lv[i].name, "__name__", 8) == 0)
            PUT("%.*s", (int)(lv[i].vlen > 200 ? 200 : lv[i].vlen), lv[i].value);
    PUT("{");
    for (size_t i = 0; i < n; i++) {
        if (lv[i].nlen == 8 && memcmp(lv[i].name, "__name__", 8) == 0)
            continue;
        PUT("%s%.*s=\"%.*s\"", any ? ", " : "", (int)(lv[i].nlen > 64 ? 64 : lv[i].nlen),
            lv[i].name, (int)(lv[i].vlen > 100 ? 100 : lv[i].vlen), lv[i].value);
        any = true;
    }
    PUT("}");
#undef PUT
}

int tsdb_write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t k = write(fd, b, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (k == 0) {
            errno = EIO;
            return -1;
        }
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

int tsdb_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}
