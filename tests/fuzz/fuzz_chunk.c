/*
 * fuzz_chunk.c - libFuzzer target for the sample codec. The first byte picks
 * what the rest is:
 *   even: an encoded chunk, as read from a block on disk. Decoding must never
 *         read outside the bytes (the input is copied to an exact-size buffer),
 *         must end, and must not return more samples than chunk_count says.
 *         The same bytes are also read the way version 2 blocks read them
 *         (chunk_iter_init_meta and chunk_iter_init_bare), with a first time,
 *         count and step taken from the input's first 13 bytes.
 *   odd:  a script of samples to encode. Each step is a control byte: bit 7
 *         means 8 raw bytes of timestamp follow (else the time moves by a
 *         small regular step), bits 5-6 pick the value (a small integer step,
 *         a one-decimal step, 8 raw bytes, the previous value again), bit 4
 *         takes a snapshot there. Every snapshot must decode bit for bit to
 *         the samples appended until then, and so must the whole series in
 *         the dense format 3 (chunk_encode; chunk_encode_meta read with its
 *         metadata, with and without its first byte; chunk_enc_finish).
 */
#include "fuzz_check.h"
#include "metrics/chunk.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SAMPLES 4096

static int64_t ts[MAX_SAMPLES];
static uint64_t vs[MAX_SAMPLES];

static void decode_only(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    struct chunk_iter it;
    int64_t t;
    double v;
    uint32_t got = 0;
    if (!copy)
        return;
    memcpy(copy, data, size);
    uint32_t n = chunk_count(copy, size);
    if (chunk_iter_init(&it, copy, size) == 0) {
        int r;
        while ((r = chunk_iter_next(&it, &t, &v)) == 1)
            got++;
        fuzz_check(got <= n && (r != 0 || got == n));
        fuzz_check(chunk_iter_next(&it, &t, &v) == r); /* the end (or the error) stays */
    }
    free(copy);
}

/* The count of a metadata read is bounded by what the caller says it is. */
static void decode_meta(const uint8_t *data, size_t size)
{
    if (size < 13)
        return;
    int64_t mint = 0;
    uint32_t n = (uint32_t)data[8] << 8 | data[9];
    uint64_t step = (uint64_t)data[10] << 8 | data[11];
    for (int i = 0; i < 8; i++)
        mint = (int64_t)((uint64_t)mint << 8 | data[i]);
    bool bare = data[12] & 1;
    size_t len = size - 13;
    uint8_t *copy = malloc(len ? len : 1);
    struct chunk_iter it;
    int64_t t;
    double v;
    if (!copy)
        return;
    memcpy(copy, data + 13, len);
    int rc = bare ? chunk_iter_init_bare(&it, copy, len, mint, n, step)
                  : chunk_iter_init_meta(&it, copy, len, mint, n, step);
    if (rc == 0) {
        uint32_t got = 0;
        int r;
        while ((r = chunk_iter_next(&it, &t, &v)) == 1)
            got++;
        fuzz_check(n == 0 || got <= n);
        fuzz_check(chunk_iter_next(&it, &t, &v) == r);
    }
    free(copy);
}

/* it decodes bit for bit to the first n samples of the script. */
static void check_iter(struct chunk_iter *it, size_t n)
{
    int64_t t;
    double v;
    for (size_t i = 0; i < n; i++) {
        uint64_t b;
        fuzz_check(chunk_iter_next(it, &t, &v) == 1);
        memcpy(&b, &v, 8);
        fuzz_check(t == ts[i] && b == vs[i]);
    }
    fuzz_check(chunk_iter_next(it, &t, &v) == 0);
}

/* The whole series in format 3, self-contained, with metadata, and bare. */
static void check_dense(const struct chunk_enc *e, size_t n)
{
    static double v[MAX_SAMPLES];
    uint8_t *c;
    size_t len;
    uint64_t step;
    struct chunk_iter it;
    memcpy(v, vs, n * sizeof(*v));
    fuzz_check(chunk_encode(ts, v, (uint32_t)n, &c, &len) == 0);
    fuzz_check(chunk_count(c, len) == n && chunk_iter_init(&it, c, len) == 0);
    check_iter(&it, n);
    free(c);
    if (n == 0)
        return;
    bool regular = chunk_times_regular(ts, (uint32_t)n, &step);
    fuzz_check(chunk_encode_meta(ts, v, (uint32_t)n, &c, &len) == 0 && len >= 1);
    fuzz_check(chunk_iter_init_meta(&it, c, len, ts[0], (uint32_t)n, regular ? step : 0) == 0);
    check_iter(&it, n);
    fuzz_check(chunk_iter_init_bare(&it, c + 1, len - 1, ts[0], (uint32_t)n, regular ? step : 0) ==
               0);
    check_iter(&it, n);
    free(c);
    fuzz_check(chunk_enc_finish(e, &c, &len, &step) == 0);
    fuzz_check(chunk_iter_init_meta(&it, c, len, ts[0], (uint32_t)n, step) == 0);
    check_iter(&it, n);
    free(c);
}

static void check(const struct chunk_enc *e, size_t n)
{
    uint8_t *c;
    size_t len;
    struct chunk_iter it;
    int64_t t;
    double v;
    fuzz_check(chunk_enc_snapshot(e, &c, &len) == 0);
    fuzz_check(chunk_count(c, len) == n && chunk_iter_init(&it, c, len) == 0);
    for (size_t i = 0; i < n; i++) {
        uint64_t b;
        fuzz_check(chunk_iter_next(&it, &t, &v) == 1);
        memcpy(&b, &v, 8);
        fuzz_check(t == ts[i] && b == vs[i]); /* bit for bit */
    }
    fuzz_check(chunk_iter_next(&it, &t, &v) == 0);
    free(c);
}

static uint64_t take8(const uint8_t **p, const uint8_t *end)
{
    uint64_t x = 0;
    for (int i = 0; i < 8 && *p < end; i++)
        x = x << 8 | *(*p)++;
    return x;
}

static void encode_script(const uint8_t *p, const uint8_t *end)
{
    struct chunk_enc e;
    int64_t t = 1700000000000LL;
    uint64_t prevbits = 0;
    int64_t m = 0;
    size_t n = 0;
    chunk_enc_init(&e);
    while (p < end && n < MAX_SAMPLES) {
        uint8_t c = *p++;
        if (c & 0x80)
            t = (int64_t)take8(&p, end);
        else
            t = (int64_t)((uint64_t)t + 1 + (uint64_t)(c & 0x0f) * 1000);
        double v;
        switch ((c >> 5) & 3) {
        case 0:
            m += (int64_t)(c & 0x0f) - 4;
            v = (double)m;
            break;
        case 1:
            m += (int64_t)(c & 0x0f) - 4;
            v = (double)m / 10.0;
            break;
        case 2: {
            uint64_t b = take8(&p, end);
            memcpy(&v, &b, 8);
            break;
        }
        default:
            memcpy(&v, &prevbits, 8);
        }
        memcpy(&prevbits, &v, 8);
        fuzz_check(chunk_enc_append(&e, t, v) == 0);
        ts[n] = t;
        vs[n] = prevbits;
        n++;
        if (c & 0x10)
            check(&e, n);
    }
    check(&e, n);
    check_dense(&e, n);
    chunk_enc_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        encode_script(data + 1, data + size);
    else {
        decode_only(data + 1, size - 1);
        decode_meta(data + 1, size - 1);
    }
    return 0;
}
