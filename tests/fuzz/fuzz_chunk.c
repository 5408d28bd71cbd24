/*
 * fuzz_chunk.c - libFuzzer target for the sample codec. The first byte picks
 * what the rest is:
 *   even: an encoded chunk, as read from a block on disk. Decoding must never
 *         read outside the bytes (the input is copied to an exact-size buffer),
 *         must end, and must not return more samples than chunk_count says.
 *   odd:  a script of samples to encode. Each step is a control byte: bit 7
 *         means 8 raw bytes of timestamp follow (else the time moves by a
 *         small regular step), bits 5-6 pick the value (a small integer step,
 *         a one-decimal step, 8 raw bytes, the previous value again), bit 4
 *         takes a snapshot there. Every snapshot must decode bit for bit to
 *         the samples appended until then.
 */
#include "fuzz_check.h"
#include "metrics/chunk.h"

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
    chunk_enc_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        encode_script(data + 1, data + size);
    else
        decode_only(data + 1, size - 1);
    return 0;
}
