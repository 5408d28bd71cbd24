/*
 * chunk.c - PLACEHOLDER codec: raw little-endian pairs behind a header, so
 * the rest of the engine can be built and tested while the real codec is
 * written. Format: byte 0 = 0x00 (raw), bytes 1..4 = count, then count
 * (int64, double) pairs of 16 bytes.
 */
#include "chunk.h"

#include <stdlib.h>
#include <string.h>

void chunk_enc_init(struct chunk_enc *e)
{
    memset(e, 0, sizeof(*e));
}

void chunk_enc_free(struct chunk_enc *e)
{
    free(e->buf);
    memset(e, 0, sizeof(*e));
}

int chunk_enc_append(struct chunk_enc *e, int64_t t, double v)
{
    if (e->len + 16 > e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 256;
        uint8_t *nb = realloc(e->buf, cap);
        if (!nb)
            return -1;
        e->buf = nb;
        e->cap = cap;
    }
    memcpy(e->buf + e->len, &t, 8);
    memcpy(e->buf + e->len + 8, &v, 8);
    e->len += 16;
    if (e->n == 0)
        e->mint = t;
    e->maxt = t;
    e->n++;
    return 0;
}

uint32_t chunk_enc_count(const struct chunk_enc *e)
{
    return e->n;
}

int chunk_enc_snapshot(const struct chunk_enc *e, uint8_t **out, size_t *outlen)
{
    uint8_t *b = malloc(5 + e->len);
    if (!b)
        return -1;
    b[0] = 0;
    memcpy(b + 1, &e->n, 4);
    if (e->len)
        memcpy(b + 5, e->buf, e->len);
    *out = b;
    *outlen = 5 + e->len;
    return 0;
}

size_t chunk_enc_memory(const struct chunk_enc *e)
{
    return e->cap;
}

uint32_t chunk_count(const uint8_t *data, size_t len)
{
    uint32_t n;
    if (len < 5 || data[0] != 0)
        return 0;
    memcpy(&n, data + 1, 4);
    return (size_t)n * 16 == len - 5 ? n : 0;
}

int chunk_iter_init(struct chunk_iter *it, const uint8_t *data, size_t len)
{
    memset(it, 0, sizeof(*it));
    if (len < 5 || data[0] != 0)
        return -1;
    it->data = data;
    it->len = len;
    memcpy(&it->n, data + 1, 4);
    if ((size_t)it->n * 16 != len - 5)
        return -1;
    return 0;
}

int chunk_iter_next(struct chunk_iter *it, int64_t *t, double *v)
{
    if (it->i >= it->n)
        return 0;
    const uint8_t *p = it->data + 5 + (size_t)it->i * 16;
    memcpy(t, p, 8);
    memcpy(v, p + 8, 8);
    it->i++;
    return 1;
}
