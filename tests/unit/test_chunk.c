/*
 * test_chunk.c - unit tests for src/metrics/chunk.c, the sample codec.
 *
 * Every round trip compares timestamps and the IEEE bits of values, so NaN
 * payloads and -0.0 count. Random series come from a fixed-seed xorshift
 * generator, so a failure reproduces. Encoded chunks are copied into buffers
 * of exactly their length before decoding, so AddressSanitizer catches a read
 * past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "metrics/chunk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STALE_NAN 0x7ff0000000000002ULL

static uint64_t rng_state;

static void rng_seed(uint64_t s)
{
    rng_state = s ? s : 1;
}

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, n). */
static uint64_t rng_below(uint64_t n)
{
    return n ? rng() % n : 0;
}

static double bits_to_double(uint64_t b)
{
    double v;
    memcpy(&v, &b, 8);
    return v;
}

static uint64_t double_to_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, 8);
    return b;
}

/* Encodes t[0..n), v[0..n) and returns the snapshot (caller frees). */
static uint8_t *encode(const int64_t *t, const double *v, size_t n, size_t *len)
{
    struct chunk_enc e;
    uint8_t *out = NULL;
    chunk_enc_init(&e);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(chunk_enc_append(&e, t[i], v[i]), 0);
    assert_int_equal(chunk_enc_count(&e), n);
    assert_int_equal(chunk_enc_snapshot(&e, &out, len), 0);
    assert_non_null(out);
    chunk_enc_free(&e);
    return out;
}

/* Decodes c (copied to an exact-size buffer) and checks it holds exactly t, v. */
static void check_decode(const uint8_t *c, size_t len, const int64_t *t, const double *v, size_t n)
{
    uint8_t *copy = malloc(len ? len : 1);
    struct chunk_iter it;
    int64_t tt;
    double vv;
    assert_non_null(copy);
    memcpy(copy, c, len);
    assert_int_equal(chunk_count(copy, len), n);
    assert_int_equal(chunk_iter_init(&it, copy, len), 0);
    for (size_t i = 0; i < n; i++) {
        int r = chunk_iter_next(&it, &tt, &vv);
        if (r != 1 || tt != t[i] || double_to_bits(vv) != double_to_bits(v[i]))
            fail_msg("sample %zu of %zu: r=%d t=%lld want %lld, v=%016llx want %016llx", i, n, r,
                     (long long)tt, (long long)t[i], (unsigned long long)double_to_bits(vv),
                     (unsigned long long)double_to_bits(v[i]));
    }
    assert_int_equal(chunk_iter_next(&it, &tt, &vv), 0);
    assert_int_equal(chunk_iter_next(&it, &tt, &vv), 0);
    free(copy);
}

/* Round trip of the whole series; returns the encoded size. */
static size_t roundtrip(const int64_t *t, const double *v, size_t n)
{
    size_t len;
    uint8_t *c = encode(t, v, n, &len);
    check_decode(c, len, t, v, n);
    free(c);
    return len;
}

/*
 * Round trip with snapshots taken while appending: after every sample for
 * short series, at pseudo-random points otherwise. Each snapshot must decode
 * to the prefix appended so far.
 */
static void roundtrip_prefixes(const int64_t *t, const double *v, size_t n)
{
    struct chunk_enc e;
    chunk_enc_init(&e);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(chunk_enc_append(&e, t[i], v[i]), 0);
        if (n <= 80 || rng_below(23) == 0 || i + 1 == n) {
            uint8_t *c;
            size_t len;
            assert_int_equal(chunk_enc_snapshot(&e, &c, &len), 0);
            check_decode(c, len, t, v, i + 1);
            free(c);
        }
    }
    /*
     * Up to a group of samples wait inside the struct (time deltas of 2^32 ms
     * and more aside, on the heap); packed ones are on the heap.
     */
    if (n > CHUNK_GROUP)
        assert_true(chunk_enc_memory(&e) > 0);
    else
        assert_true(chunk_enc_memory(&e) <= CHUNK_GROUP * sizeof(uint64_t));
    chunk_enc_free(&e);
    assert_int_equal(chunk_enc_memory(&e), 0);
}

/* Regular timestamps: t0 + i * step. */
static void fill_regular(int64_t *t, size_t n, int64_t t0, int64_t step)
{
    for (size_t i = 0; i < n; i++)
        t[i] = t0 + (int64_t)i * step;
}

static void test_empty(void **state)
{
    (void)state;
    struct chunk_enc e;
    struct chunk_iter it;
    uint8_t *c;
    size_t len;
    int64_t t;
    double v;

    chunk_enc_init(&e);
    assert_int_equal(chunk_enc_count(&e), 0);
    assert_int_equal(chunk_enc_snapshot(&e, &c, &len), 0);
    assert_int_equal(len, 2);
    assert_int_equal(chunk_count(c, len), 0);
    assert_int_equal(chunk_iter_init(&it, c, len), 0);
    assert_int_equal(chunk_iter_next(&it, &t, &v), 0);
    free(c);
    chunk_enc_free(&e);

    /* Not chunks at all. */
    const uint8_t junk[] = {0x00, 0x01, 0x02};
    assert_int_equal(chunk_iter_init(&it, junk, sizeof(junk)), -1);
    assert_int_equal(chunk_iter_next(&it, &t, &v), -1);
    assert_int_equal(chunk_count(junk, sizeof(junk)), 0);
    assert_int_equal(chunk_iter_init(&it, NULL, 0), -1);
    assert_int_equal(chunk_count(NULL, 0), 0);
}

static void test_exact_bytes(void **state)
{
    (void)state;
    /*
     * One integer sample: format byte 0x80 (decimal, k 0, g 1, no
     * exceptions), n 1, zigzag(1000) = 2000 and zigzag(m0 = 5) as varints.
     */
    int64_t t[2] = {1000, 11000};
    double v[2] = {5.0, 7.0};
    size_t len;
    uint8_t *c = encode(t, v, 1, &len);
    const uint8_t one[] = {0x80, 0x01, 0xD0, 0x0F, 0x0A};
    assert_int_equal(len, sizeof(one));
    assert_memory_equal(c, one, sizeof(one));
    free(c);

    /*
     * Two samples: the header now says g follows (0x82) and gives it (2).
     * One group of 31 bits: '1' (new headers), time header '1',
     * svar(zigzag(10000) = 20000) as '1110' + 20 bits, width code '0'
     * (still 0); value coding '10' + '1' (width one up, raw); then a 0-bit
     * time field and the 1-bit value field 1 ((7 - 5) / 2).
     */
    c = encode(t, v, 2, &len);
    const uint8_t two[] = {0x82, 0x02, 0xD0, 0x0F, 0x0A, 0x02, 0xF8, 0x13, 0x88, 0x16};
    assert_int_equal(len, sizeof(two));
    assert_memory_equal(c, two, sizeof(two));
    check_decode(c, len, t, v, 2);
    free(c);

    /* Decimal scale: 0.25 is 25 / 10^2, k 2 in bits 2-5 of the format byte. */
    v[0] = 0.25;
    c = encode(t, v, 1, &len);
    assert_int_equal(c[0], 0x80 | 2 << 2);
    check_decode(c, len, t, v, 1);
    free(c);

    /* A float sample keeps its 8 bytes verbatim. */
    double f = 0.1 + 0.2;
    c = encode(t, &f, 1, &len);
    assert_int_equal(len, 1 + 1 + 2 + 8);
    assert_int_equal(c[0], 0xF1);
    uint64_t b = 0;
    for (int i = 7; i >= 0; i--)
        b = b << 8 | c[4 + i];
    assert_int_equal(b, double_to_bits(f));
    free(c);
}

static void test_small_counts(void **state)
{
    (void)state;
    int64_t t[40];
    double v[40];
    rng_seed(7);
    for (size_t n = 1; n <= 40; n++) {
        fill_regular(t, n, 1700000000000LL, 15000);
        for (size_t i = 0; i < n; i++)
            v[i] = (double)(i * 3);
        roundtrip_prefixes(t, v, n);
        for (size_t i = 0; i < n; i++)
            v[i] = bits_to_double(rng());
        roundtrip_prefixes(t, v, n);
    }
}

static void test_integer_counters(void **state)
{
    (void)state;
    static const size_t sizes[] = {2, 17, 120, 720, 5000};
    static int64_t t[5000];
    static double v[5000];
    rng_seed(11);
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        size_t n = sizes[s];
        for (unsigned rate = 0; rate <= 200; rate += 50) {
            double x = (double)rng_below(10000000);
            fill_regular(t, n, 1700000000000LL, 10000);
            for (size_t i = 0; i < n; i++) {
                x += (double)rng_below(2 * rate + 1);
                v[i] = x;
            }
            size_t len = roundtrip(t, v, n);
            /* Increments below 2 * 200 + 1 fit 9 bits; timestamps cost nothing. */
            if (n == 720)
                assert_true(len <= 30 + n * (rate ? 9 : 0) / 8 + n / 16 / 2);
            roundtrip_prefixes(t, v, n);
        }
    }
}

static void test_constant_and_regular_is_tiny(void **state)
{
    (void)state;
    static int64_t t[720];
    static double v[720];
    fill_regular(t, 720, 1700000000000LL, 10000);
    for (size_t i = 0; i < 720; i++)
        v[i] = 42.5;
    size_t len = roundtrip(t, v, 720);
    /* Header (~14 bytes) and two bits per group of 16. */
    assert_true(len <= 14 + 4 + 12);

    /* A constant full-precision float: float mode, about as small. */
    for (size_t i = 0; i < 720; i++)
        v[i] = 0.1 + 0.2;
    len = roundtrip(t, v, 720);
    assert_true(len <= 20 + 4 + 24);
}

static void test_steady_rates(void **state)
{
    (void)state;
    static int64_t t[720];
    static double v[720];
    fill_regular(t, 720, 1700000000000LL, 15000);

    /* A counter growing by exactly 15 a scrape costs nothing beyond the headers. */
    for (size_t i = 0; i < 720; i++)
        v[i] = 1e6 + 15.0 * (double)i;
    size_t len = roundtrip(t, v, 720);
    assert_true(len <= 16 + 720 / 16 / 8 + 8);

    /* A steady rate with a little noise: the differences of the deltas are small. */
    rng_seed(41);
    double x = 123456789;
    for (size_t i = 0; i < 720; i++) {
        x += 4000 + (double)rng_below(16);
        v[i] = x;
    }
    len = roundtrip(t, v, 720);
    assert_true(len <= 720 * 5 / 8 + 50);
    roundtrip_prefixes(t, v, 720);

    /* The same for floats: a linear ramp in binary fractions. */
    for (size_t i = 0; i < 720; i++)
        v[i] = 1.0 + (double)i / 1024.0;
    len = roundtrip(t, v, 720);
    assert_true(len <= 40);
}

static void test_decimals(void **state)
{
    (void)state;
    static int64_t t[720];
    static double v[720];
    fill_regular(t, 720, 1700000000000LL, 10000);

    /* 0.1 steps as a parser would read "0.1", "0.2", ...: one byte a sample is plenty. */
    char buf[64];
    for (size_t i = 0; i < 720; i++) {
        snprintf(buf, sizeof(buf), "%zu.%zu", i / 10, i % 10);
        v[i] = strtod(buf, NULL);
    }
    size_t len = roundtrip(t, v, 720);
    assert_int_equal(len > 0, 1);
    assert_true(len < 720 / 4 + 40);

    /* Two decimals, random increments (cpu seconds). */
    rng_seed(3);
    long long cents = 123456789;
    for (size_t i = 0; i < 720; i++) {
        cents += (long long)rng_below(2000);
        snprintf(buf, sizeof(buf), "%lld.%02lld", cents / 100, cents % 100);
        v[i] = strtod(buf, NULL);
    }
    len = roundtrip(t, v, 720);
    assert_true(len < 720 * 12 / 8 + 60);
    roundtrip_prefixes(t, v, 720);

    /* Negative decimals and several scales mixed (the chunk takes the largest). */
    for (size_t i = 0; i < 720; i++) {
        long long m = (long long)rng_below(2000000) - 1000000;
        int k = (int)rng_below(7);
        snprintf(buf, sizeof(buf), "%.*f", k, (double)m / 1000.0);
        v[i] = strtod(buf, NULL);
    }
    roundtrip(t, v, 720);
    roundtrip_prefixes(t, v, 720);

    /* Gauges moving in 4096 multiples: the common unit is found. */
    double x = 4294967296.0 + 123;
    for (size_t i = 0; i < 720; i++) {
        x += 4096.0 * ((double)rng_below(4001) - 2000);
        v[i] = x;
    }
    len = roundtrip(t, v, 720);
    assert_true(len < 720 * 13 / 8 + 60);
}

static void test_special_values(void **state)
{
    (void)state;
    static int64_t t[300];
    static double v[300];
    const uint64_t specials[] = {
        STALE_NAN,
        0x7ff8000000000000ULL, /* the usual quiet NaN */
        0xfff8000000000001ULL, /* negative NaN with a payload */
        0x7ff4000000000000ULL, /* signalling NaN */
        0x7ff0000000000000ULL, /* +Inf */
        0xfff0000000000000ULL, /* -Inf */
        0x8000000000000000ULL, /* -0.0 */
        0x0000000000000000ULL, /* +0.0 */
        0x0000000000000001ULL, /* smallest denormal */
        0x000fffffffffffffULL, /* largest denormal */
        0x7fefffffffffffffULL, /* DBL_MAX */
        double_to_bits(1e300),
        double_to_bits(-1e-300),
        double_to_bits(9007199254740993.0),
        double_to_bits(-9007199254740992.0),
        double_to_bits(1e15 + 0.5),
    };
    size_t ns = sizeof(specials) / sizeof(specials[0]);
    rng_seed(5);
    fill_regular(t, 300, -5000000, 1000);

    /* Each special alone, then among integers (decimal mode with exceptions). */
    for (size_t s = 0; s < ns; s++) {
        for (size_t i = 0; i < 300; i++)
            v[i] = bits_to_double(specials[s]);
        roundtrip(t, v, 300);
        for (size_t i = 0; i < 300; i++)
            v[i] = (double)(i % 7);
        v[0] = bits_to_double(specials[s]);
        v[150] = bits_to_double(specials[s]);
        v[299] = bits_to_double(specials[s]);
        roundtrip(t, v, 300);
        roundtrip_prefixes(t, v, 300);
    }
    /* All of them shuffled among decimals and floats. */
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < 300; i++) {
            switch (rng_below(4)) {
            case 0:
                v[i] = bits_to_double(specials[rng_below(ns)]);
                break;
            case 1:
                v[i] = (double)rng_below(1000) / 10.0;
                break;
            case 2:
                v[i] = bits_to_double(rng());
                break;
            default:
                v[i] = i ? v[i - 1] : 1.0;
            }
        }
        roundtrip(t, v, 300);
        roundtrip_prefixes(t, v, 300);
    }
}

static void test_stale_marker_keeps_decimal_mode(void **state)
{
    (void)state;
    static int64_t t[720];
    static double v[720];
    fill_regular(t, 720, 1700000000000LL, 10000);
    for (size_t i = 0; i < 720; i++)
        v[i] = (double)(1000 + i * 3);
    v[719] = bits_to_double(STALE_NAN);
    size_t len;
    uint8_t *c = encode(t, v, 720, &len);
    assert_int_equal(c[0], 0x83); /* decimal, g (3) and exceptions follow */
    /* The counter's deltas take 2 bits; the marker its 8 bytes and an index. */
    assert_true(len < 14 + 720 * 2 / 8 + 12 + 20);
    check_decode(c, len, t, v, 720);
    free(c);

    /* The same with the marker in the middle and the series resuming. */
    v[719] = 3157;
    v[300] = bits_to_double(STALE_NAN);
    roundtrip_prefixes(t, v, 720);
}

static void test_random_doubles(void **state)
{
    (void)state;
    static int64_t t[5000];
    static double v[5000];
    rng_seed(99);
    fill_regular(t, 5000, 1700000000000LL, 10000);
    for (size_t i = 0; i < 5000; i++)
        v[i] = bits_to_double(rng());
    size_t len = roundtrip(t, v, 5000);
    /* Incompressible: not much above 8 bytes a sample. */
    assert_true(len < 5000 * 8 + 5000 / 2);
    roundtrip_prefixes(t, v, 5000);

    /* A full-precision random walk in [0, 1] (ratios). */
    double x = 0.5;
    for (size_t i = 0; i < 5000; i++) {
        x += ((double)rng_below(1u << 30) / (double)(1u << 30) - 0.5) * 0.05;
        x = x < 0 ? 0 : x > 1 ? 1 : x;
        v[i] = x;
    }
    len = roundtrip(t, v, 5000);
    assert_true(len < 5000 * 7);
    roundtrip_prefixes(t, v, 720);
}

static void test_timestamps(void **state)
{
    (void)state;
    static int64_t t[720];
    static double v[720];
    rng_seed(17);
    for (size_t i = 0; i < 720; i++)
        v[i] = (double)i;

    /* Negative times. */
    fill_regular(t, 720, -1700000000000LL, 30000);
    roundtrip_prefixes(t, v, 720);

    /* Jitter of a few milliseconds, and irregular gaps. */
    int64_t x = 1700000000000LL;
    for (size_t i = 0; i < 720; i++) {
        x += 15000 + (int64_t)rng_below(9) - 4;
        t[i] = x;
    }
    size_t len = roundtrip(t, v, 720);
    assert_true(len < 720 * 6 / 8 + 720 * 2 / 8 + 100);
    for (size_t i = 0; i < 720; i++) {
        x += 1 + (int64_t)rng_below(rng_below(4) == 0 ? 1000000000 : 100);
        t[i] = x;
    }
    roundtrip_prefixes(t, v, 720);

    /* Extremes: the int64 range end to end, deltas near 2^63 and 2^64. */
    int64_t ext[6] = {INT64_MIN, INT64_MIN + 1, -1, 0, INT64_MAX - 1, INT64_MAX};
    double ev[6] = {1, 2, 3, 4, 5, 6};
    roundtrip_prefixes(ext, ev, 6);
    int64_t ext2[3] = {INT64_MIN, INT64_MAX - 5, INT64_MAX};
    roundtrip_prefixes(ext2, ev, 3);
    for (size_t i = 0; i < 720; i++)
        t[i] = (int64_t)((uint64_t)INT64_MIN + i * (UINT64_MAX / 720));
    roundtrip_prefixes(t, v, 720);
}

static void test_rebuilds(void **state)
{
    (void)state;
    static int64_t t[720];
    static double v[720];
    fill_regular(t, 720, 0, 1);

    /* Integers, then a half: the chunk gains a decimal digit mid-way. */
    for (size_t i = 0; i < 720; i++)
        v[i] = (double)i;
    v[400] = 400.5;
    roundtrip_prefixes(t, v, 720);

    /* Steps of 10, then of 5, then of 1: the common unit shrinks. */
    for (size_t i = 0; i < 720; i++)
        v[i] = (double)(i < 200 ? i * 10 : i < 400 ? 2000 + (i - 200) * 5 : 3000 + (i - 400));
    roundtrip_prefixes(t, v, 720);

    /* Integers that turn into full-precision floats: float mode. */
    for (size_t i = 0; i < 720; i++)
        v[i] = i < 100 ? (double)i : (double)i / 3.0;
    size_t len;
    uint8_t *c = encode(t, v, 720, &len);
    assert_int_equal(c[0], 0xF1);
    check_decode(c, len, t, v, 720);
    free(c);
    roundtrip_prefixes(t, v, 720);

    /* Large integers beyond 2^53 cannot be decimal: float mode. */
    for (size_t i = 0; i < 720; i++)
        v[i] = 1e17 + (double)i * 1024.0;
    roundtrip_prefixes(t, v, 720);
}

static void test_snapshot_then_append(void **state)
{
    (void)state;
    static int64_t t[1000];
    static double v[1000];
    struct chunk_enc e;
    rng_seed(23);
    fill_regular(t, 1000, 1700000000000LL, 10000);
    for (size_t i = 0; i < 1000; i++)
        v[i] = i < 500 ? (double)(i * 2) : (i % 3 ? (double)i / 7.0 : (double)i);
    chunk_enc_init(&e);
    for (size_t i = 0; i < 1000; i++) {
        assert_int_equal(chunk_enc_append(&e, t[i], v[i]), 0);
        if (i % 97 == 0 || i == 499 || i == 500) {
            uint8_t *a, *b;
            size_t la, lb;
            assert_int_equal(chunk_enc_snapshot(&e, &a, &la), 0);
            assert_int_equal(chunk_enc_snapshot(&e, &b, &lb), 0);
            /* A snapshot leaves the encoder as it was: the same bytes twice. */
            assert_int_equal(la, lb);
            assert_memory_equal(a, b, la);
            check_decode(a, la, t, v, i + 1);
            free(a);
            free(b);
        }
    }
    chunk_enc_free(&e);
}

static void test_truncated_and_corrupt(void **state)
{
    (void)state;
    static int64_t t[200];
    static double v[200];
    rng_seed(31);
    for (int kind = 0; kind < 4; kind++) {
        fill_regular(t, 200, 1700000000000LL, 10000);
        for (size_t i = 0; i < 200; i++) {
            t[i] += kind == 3 ? (int64_t)rng_below(50) : 0;
            v[i] = kind == 0   ? (double)(i * 5)
                   : kind == 1 ? bits_to_double(rng())
                   : kind == 2 ? (i % 50 ? (double)i / 10.0 : bits_to_double(STALE_NAN))
                               : (double)rng_below(100) / 3.0;
        }
        size_t len;
        uint8_t *c = encode(t, v, 200, &len);

        /* Every proper prefix fails, at init or while iterating, never silently. */
        for (size_t cut = 0; cut < len; cut++) {
            uint8_t *p = malloc(cut ? cut : 1);
            struct chunk_iter it;
            int64_t tt;
            double vv;
            int r = 0;
            size_t got = 0;
            memcpy(p, c, cut);
            if (chunk_iter_init(&it, p, cut) == 0) {
                while ((r = chunk_iter_next(&it, &tt, &vv)) == 1)
                    got++;
                assert_int_equal(r, -1);
                assert_true(got < 200);
                /* Once corrupt, it stays so. */
                assert_int_equal(chunk_iter_next(&it, &tt, &vv), -1);
            }
            free(p);
        }

        /* Flipped bits: any answer but a crash, a read outside or a loop. */
        for (size_t bit = 0; bit < len * 8; bit++) {
            uint8_t *p = malloc(len);
            struct chunk_iter it;
            int64_t tt;
            double vv;
            size_t got = 0;
            memcpy(p, c, len);
            p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            if (chunk_iter_init(&it, p, len) == 0) {
                while (chunk_iter_next(&it, &tt, &vv) == 1)
                    got++;
                assert_true(got <= it.n);
            }
            (void)chunk_count(p, len);
            free(p);
        }
        free(c);
    }

    /* Random garbage behind a valid format byte. */
    for (int round = 0; round < 2000; round++) {
        uint8_t buf[64];
        size_t len = 1 + rng_below(sizeof(buf) - 1);
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)rng();
        buf[0] = rng_below(2) ? (uint8_t)(0x80 | rng_below(64)) : 0xF1;
        uint8_t *p = malloc(len);
        memcpy(p, buf, len);
        struct chunk_iter it;
        int64_t tt;
        double vv;
        if (chunk_iter_init(&it, p, len) == 0) {
            uint32_t got = 0;
            while (chunk_iter_next(&it, &tt, &vv) == 1)
                got++;
            assert_true(got <= chunk_count(p, len));
        }
        free(p);
    }

    /* A count the data cannot hold is refused up front. */
    const uint8_t huge[] = {0xF1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(chunk_count(huge, sizeof(huge)), 0);
    struct chunk_iter it;
    assert_int_equal(chunk_iter_init(&it, huge, sizeof(huge)), -1);
}

/* Property loop: random mixes of everything, random lengths, random snapshots. */
static void test_property(void **state)
{
    (void)state;
    static int64_t t[1500];
    static double v[1500];
    rng_seed(2024);
    for (int round = 0; round < 150; round++) {
        size_t n = 1 + rng_below(rng_below(4) == 0 ? 1500 : 130);
        int64_t x = (int64_t)rng() >> rng_below(64);
        int tmode = (int)rng_below(4), vmode = (int)rng_below(6);
        double y = (double)rng_below(100000);
        for (size_t i = 0; i < n; i++) {
            x += tmode == 0   ? 10000
                 : tmode == 1 ? 10000 + (int64_t)rng_below(7) - 3
                 : tmode == 2 ? 1 + (int64_t)rng_below(1ULL << rng_below(40))
                              : 1000 * (1 + (int64_t)rng_below(3));
            t[i] = x;
            switch (vmode) {
            case 0:
                y += (double)rng_below(100);
                break;
            case 1:
                y = (double)((int64_t)rng_below(2000) - 1000) / 100.0;
                break;
            case 2:
                y = bits_to_double(rng());
                break;
            case 3:
                y += ((double)rng_below(1000) - 500.0) / 777.0;
                break;
            case 4:
                if (rng_below(10) == 0)
                    y = bits_to_double(STALE_NAN);
                else
                    y = (double)rng_below(50);
                break;
            default:
                y = rng_below(3) ? y : (double)rng_below(1u << 20) * 4096.0;
            }
            v[i] = y;
        }
        roundtrip(t, v, n);
        roundtrip_prefixes(t, v, n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_exact_bytes),
        cmocka_unit_test(test_small_counts),
        cmocka_unit_test(test_integer_counters),
        cmocka_unit_test(test_constant_and_regular_is_tiny),
        cmocka_unit_test(test_steady_rates),
        cmocka_unit_test(test_decimals),
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_stale_marker_keeps_decimal_mode),
        cmocka_unit_test(test_random_doubles),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_rebuilds),
        cmocka_unit_test(test_snapshot_then_append),
        cmocka_unit_test(test_truncated_and_corrupt),
        cmocka_unit_test(test_property),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
