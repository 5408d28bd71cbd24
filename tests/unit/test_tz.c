/*
 * test_tz.c - unit tests for src/base/tz.c and src/base/recur.c.
 *
 * Expected instants are written as UTC dates (via timegm, which does not
 * depend on TZ) taken from the zones' published rules: Berlin changes at
 * 01:00 UTC on the last Sundays of March and October, New York at 02:00 local
 * on the second Sunday of March and the first Sunday of November, Lord Howe
 * by 30 minutes at 02:00 local on the first Sundays of April and October.
 * Where a check ranges over many instants, glibc's localtime_r is the oracle:
 * the test sets TZ, which is safe here because the test is single-threaded
 * (the code under test never reads TZ).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/recur.h"
#include "base/tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HOUR_MS (3600LL * 1000)
#define MIN_MS  (60LL * 1000)
#define DAY_MS  (24 * HOUR_MS)

/* UTC ms of a UTC wall time. */
static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (int64_t)timegm(&tm) * 1000;
}

static const struct tz *zone(const char *name)
{
    char err[200] = "";
    const struct tz *z = tz_get(name, err, sizeof(err));
    if (!z)
        fail_msg("tz_get(%s): %s", name, err);
    return z;
}

/* Asserts the local time, offset and DST flag at utc_ms. */
static void expect_local(const struct tz *z, int64_t utc_ms, int y, int mo, int d, int h, int mi,
                         int s, int offset, bool dst)
{
    struct tz_local l;
    tz_to_local(z, utc_ms, &l);
    if (l.year != y || l.month != mo || l.day != d || l.hour != h || l.minute != mi ||
        l.second != s || l.utc_offset != offset || l.dst != dst)
        fail_msg("%s at %lld: got %04d-%02d-%02d %02d:%02d:%02d %+d dst=%d, want "
                 "%04d-%02d-%02d %02d:%02d:%02d %+d dst=%d",
                 tz_name(z), (long long)utc_ms, l.year, l.month, l.day, l.hour, l.minute, l.second,
                 l.utc_offset, l.dst, y, mo, d, h, mi, s, offset, dst);
}

/* Compares tz_to_local with glibc for TZ=tzstr over [from, to) in steps. */
static void compare_glibc(const struct tz *z, const char *tzstr, int64_t from_s, int64_t to_s,
                          int64_t step_s)
{
    setenv("TZ", tzstr, 1);
    tzset();
    for (int64_t s = from_s; s < to_s; s += step_s) {
        time_t tt = (time_t)s;
        struct tm tm;
        struct tz_local l;
        localtime_r(&tt, &tm);
        tz_to_local(z, s * 1000, &l);
        if (l.year != tm.tm_year + 1900 || l.month != tm.tm_mon + 1 || l.day != tm.tm_mday ||
            l.hour != tm.tm_hour || l.minute != tm.tm_min || l.second != tm.tm_sec ||
            l.wday != tm.tm_wday || l.utc_offset != tm.tm_gmtoff || l.dst != (tm.tm_isdst > 0))
            fail_msg("%s at %lld: got %04d-%02d-%02d %02d:%02d %+d dst=%d, glibc "
                     "%04d-%02d-%02d %02d:%02d %+ld dst=%d",
                     tzstr, (long long)s, l.year, l.month, l.day, l.hour, l.minute, l.utc_offset,
                     l.dst, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_gmtoff, tm.tm_isdst);
    }
    unsetenv("TZ");
    tzset();
}

static void test_berlin(void **state)
{
    const struct tz *z = zone("Europe/Berlin");
    assert_string_equal(tz_name(z), "Europe/Berlin");
    assert_ptr_equal(z, zone("Europe/Berlin")); /* cached */
    expect_local(z, utc(2026, 3, 29, 0, 59, 59), 2026, 3, 29, 1, 59, 59, 3600, false);
    expect_local(z, utc(2026, 3, 29, 1, 0, 0), 2026, 3, 29, 3, 0, 0, 7200, true);
    expect_local(z, utc(2026, 10, 25, 0, 59, 59), 2026, 10, 25, 2, 59, 59, 7200, true);
    expect_local(z, utc(2026, 10, 25, 1, 0, 0), 2026, 10, 25, 2, 0, 0, 3600, false);
    struct tz_local l;
    tz_to_local(z, utc(2026, 3, 29, 1, 0, 0) + 123, &l);
    assert_int_equal(l.ms, 123);
    assert_int_equal(l.wday, 0);
    /* Before the epoch and before the first transition (local mean time). */
    expect_local(z, utc(1969, 12, 31, 23, 0, 0), 1970, 1, 1, 0, 0, 0, 3600, false);
    tz_to_local(z, -1, &l);
    assert_int_equal(l.ms, 999);
    assert_int_equal(l.second, 59);
    expect_local(z, utc(1850, 1, 1, 0, 0, 0), 1850, 1, 1, 0, 53, 28, 3208, false);
}

static void test_new_york(void **state)
{
    const struct tz *z = zone("America/New_York");
    expect_local(z, utc(2026, 3, 8, 6, 59, 59), 2026, 3, 8, 1, 59, 59, -18000, false);
    expect_local(z, utc(2026, 3, 8, 7, 0, 0), 2026, 3, 8, 3, 0, 0, -14400, true);
    expect_local(z, utc(2026, 11, 1, 5, 59, 59), 2026, 11, 1, 1, 59, 59, -14400, true);
    expect_local(z, utc(2026, 11, 1, 6, 0, 0), 2026, 11, 1, 1, 0, 0, -18000, false);
}

static void test_half_hours(void **state)
{
    /* Lord Howe: +10:30 standard, +11:00 in DST, a 30-minute change. */
    const struct tz *z = zone("Australia/Lord_Howe");
    expect_local(z, utc(2026, 4, 4, 14, 59, 59), 2026, 4, 5, 1, 59, 59, 39600, true);
    expect_local(z, utc(2026, 4, 4, 15, 0, 0), 2026, 4, 5, 1, 30, 0, 37800, false);
    expect_local(z, utc(2026, 10, 3, 15, 29, 59), 2026, 10, 4, 1, 59, 59, 37800, false);
    expect_local(z, utc(2026, 10, 3, 15, 30, 0), 2026, 10, 4, 2, 30, 0, 39600, true);

    z = zone("Asia/Kolkata");
    expect_local(z, utc(2026, 1, 1, 0, 0, 0), 2026, 1, 1, 5, 30, 0, 19800, false);
    expect_local(z, utc(2026, 7, 1, 18, 30, 0), 2026, 7, 2, 0, 0, 0, 19800, false);

    /* St. John's: -03:30 standard, -02:30 in DST, changing at 02:00 local. */
    z = zone("America/St_Johns");
    expect_local(z, utc(2026, 1, 15, 12, 0, 0), 2026, 1, 15, 8, 30, 0, -12600, false);
    expect_local(z, utc(2026, 3, 8, 5, 29, 59), 2026, 3, 8, 1, 59, 59, -12600, false);
    expect_local(z, utc(2026, 3, 8, 5, 30, 0), 2026, 3, 8, 3, 0, 0, -9000, true);
}

static void test_far_future(void **state)
{
    /* zic's files stop listing transitions by 2037; 2045 comes from the
     * footer rule. */
    const struct tz *z = zone("Europe/Berlin");
    expect_local(z, utc(2045, 3, 26, 0, 59, 59), 2045, 3, 26, 1, 59, 59, 3600, false);
    expect_local(z, utc(2045, 3, 26, 1, 0, 0), 2045, 3, 26, 3, 0, 0, 7200, true);
    expect_local(z, utc(2045, 7, 1, 12, 0, 0), 2045, 7, 1, 14, 0, 0, 7200, true);
    expect_local(z, utc(2045, 10, 29, 1, 0, 0), 2045, 10, 29, 2, 0, 0, 3600, false);

    static const char *const zones[] = {
        "Europe/Berlin",    "America/New_York", "Australia/Lord_Howe", "America/St_Johns",
        "Asia/Kolkata",     "America/Santiago", "Pacific/Chatham",     "America/Nuuk",
        "Australia/Sydney", "Europe/Dublin",    "Antarctica/Troll",    "UTC",
    };
    int64_t from = utc(2044, 12, 25, 0, 0, 0) / 1000, to = utc(2046, 1, 5, 0, 0, 0) / 1000;
    for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
        char err[200];
        const struct tz *fz = tz_get(zones[i], err, sizeof(err));
        if (!fz && strcmp(zones[i], "UTC") != 0)
            continue; /* an older zoneinfo may lack a newer name */
        assert_non_null(fz);
        compare_glibc(fz, zones[i], from, to, 1799);
        /* And the whole range the files cover, more sparsely. */
        compare_glibc(fz, zones[i], -2100000000LL, 4200000000LL, 86400 * 3 + 3607);
    }
}

static void test_gap_overlap(void **state)
{
    const struct tz *z = zone("Europe/Berlin");
    /* The gap: 02:30 does not exist; it maps to 03:30 CEST. */
    assert_int_equal(tz_from_local(z, 2026, 3, 29, 2, 30, 0), utc(2026, 3, 29, 1, 30, 0));
    assert_int_equal(tz_from_local(z, 2026, 3, 29, 2, 0, 0), utc(2026, 3, 29, 1, 0, 0));
    assert_int_equal(tz_from_local(z, 2026, 3, 29, 1, 59, 59), utc(2026, 3, 29, 0, 59, 59));
    assert_int_equal(tz_from_local(z, 2026, 3, 29, 3, 0, 0), utc(2026, 3, 29, 1, 0, 0));
    /* The overlap: 02:30 happens twice; the first (CEST) is taken. */
    assert_int_equal(tz_from_local(z, 2026, 10, 25, 2, 30, 0), utc(2026, 10, 25, 0, 30, 0));
    assert_int_equal(tz_from_local(z, 2026, 10, 25, 3, 0, 0), utc(2026, 10, 25, 2, 0, 0));
    assert_int_equal(tz_from_local(z, 2026, 10, 25, 1, 59, 0), utc(2026, 10, 24, 23, 59, 0));
    /* The same rules from the footer in 2045. */
    assert_int_equal(tz_from_local(z, 2045, 3, 26, 2, 30, 0), utc(2045, 3, 26, 1, 30, 0));
    assert_int_equal(tz_from_local(z, 2045, 10, 29, 2, 30, 0), utc(2045, 10, 29, 0, 30, 0));

    z = zone("America/New_York");
    assert_int_equal(tz_from_local(z, 2026, 3, 8, 2, 30, 0), utc(2026, 3, 8, 7, 30, 0));
    assert_int_equal(tz_from_local(z, 2026, 11, 1, 1, 30, 0), utc(2026, 11, 1, 5, 30, 0));
    assert_int_equal(tz_from_local(z, 2026, 7, 4, 12, 0, 0), utc(2026, 7, 4, 16, 0, 0));

    z = zone("Australia/Lord_Howe");
    /* A 30-minute gap (02:00-02:30) and overlap (01:30-02:00). */
    assert_int_equal(tz_from_local(z, 2026, 10, 4, 2, 15, 0), utc(2026, 10, 3, 15, 45, 0));
    assert_int_equal(tz_from_local(z, 2026, 4, 5, 1, 45, 0), utc(2026, 4, 4, 14, 45, 0));

    /* Round trip of every half hour over a year in several zones. */
    static const char *const zones[] = {"Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
                                        "America/St_Johns"};
    for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
        z = zone(zones[i]);
        for (int64_t t = utc(2026, 1, 1, 0, 0, 0); t < utc(2027, 1, 1, 0, 0, 0); t += 30 * MIN_MS) {
            struct tz_local l, l2;
            tz_to_local(z, t, &l);
            int64_t back = tz_from_local(z, l.year, l.month, l.day, l.hour, l.minute, l.second);
            tz_to_local(z, back, &l2);
            assert_true(back <= t);
            assert_true(back == t || t - back == 3600000 || t - back == 1800000);
            assert_int_equal(l2.hour, l.hour);
            assert_int_equal(l2.minute, l.minute);
        }
    }
}

static void test_normalise(void **state)
{
    const struct tz *z = zone("Europe/Berlin");
    assert_int_equal(tz_from_local(z, 2026, 1, 32, 0, 0, 0), tz_from_local(z, 2026, 2, 1, 0, 0, 0));
    assert_int_equal(tz_from_local(z, 2026, 12, 31, 25, 0, 0),
                     tz_from_local(z, 2027, 1, 1, 1, 0, 0));
    assert_int_equal(tz_from_local(z, 2026, 3, 0, 12, 0, 0),
                     tz_from_local(z, 2026, 2, 28, 12, 0, 0));
    assert_int_equal(tz_from_local(z, 2024, 3, 0, 12, 0, 0),
                     tz_from_local(z, 2024, 2, 29, 12, 0, 0));
    assert_int_equal(tz_from_local(z, 2026, 6, 1, -1, 0, 0),
                     tz_from_local(z, 2026, 5, 31, 23, 0, 0));
    assert_int_equal(tz_from_local(z, 2026, 6, 1, 0, -90, 0),
                     tz_from_local(z, 2026, 5, 31, 22, 30, 0));
    assert_int_equal(tz_from_local(z, 2026, 6, 1, 0, 90, 0),
                     tz_from_local(z, 2026, 6, 1, 1, 30, 0));
    assert_int_equal(tz_from_local(z, 2026, 6, 1, 0, 0, -1),
                     tz_from_local(z, 2026, 5, 31, 23, 59, 59));
    assert_int_equal(tz_from_local(z, 2026, 13, 1, 0, 0, 0), tz_from_local(z, 2027, 1, 1, 0, 0, 0));
    assert_int_equal(tz_from_local(z, 2026, 0, 1, 0, 0, 0), tz_from_local(z, 2025, 12, 1, 0, 0, 0));
    assert_int_equal(tz_from_local(z, 2026, 1, 1 + 365, 0, 0, 0),
                     tz_from_local(z, 2027, 1, 1, 0, 0, 0));
    /* Stepping across the gap by adding to the hour. */
    assert_int_equal(tz_from_local(z, 2026, 3, 28, 26, 30, 0), utc(2026, 3, 29, 1, 30, 0));
    /* Extreme fields neither crash nor wrap. */
    (void)tz_from_local(z, 2147483647, 2147483647, 2147483647, 2147483647, 2147483647, 2147483647);
    (void)tz_from_local(z, -2147483647 - 1, -2147483647 - 1, -2147483647 - 1, -2147483647 - 1,
                        -2147483647 - 1, -2147483647 - 1);
    struct tz_local l;
    tz_to_local(z, INT64_MAX, &l);
    tz_to_local(z, INT64_MIN, &l);

    assert_int_equal(tz_days_in_month(2026, 2), 28);
    assert_int_equal(tz_days_in_month(2024, 2), 29);
    assert_int_equal(tz_days_in_month(2100, 2), 28);
    assert_int_equal(tz_days_in_month(2000, 2), 29);
    assert_int_equal(tz_days_in_month(2026, 4), 30);
    assert_int_equal(tz_days_in_month(2026, 12), 31);
    assert_int_equal(tz_days_in_month(2026, 13), 0);
}

static void test_names(void **state)
{
    static const char *const bad[] = {
        "",
        "../../etc/passwd",
        "/etc/localtime",
        "Europe/../Europe/Berlin",
        "Europe/",
        "Europe//Berlin",
        "Europe/Ber lin",
        "Europe/Berlin\n",
        "No/Such_Zone",
        "Europe",
        "Europe/Berlin;x",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[200] = "";
        assert_null(tz_get(bad[i], err, sizeof(err)));
        assert_true(err[0] != '\0');
    }
    assert_null(tz_get(NULL, NULL, 0));
    assert_null(tz_get("../x", NULL, 0));

    /* UTC works without any zoneinfo directory. */
    setenv("TZDIR", "/nonexistent-tocsin-zoneinfo", 1);
    char err[200] = "";
    assert_null(tz_get("Asia/Tokyo", err, sizeof(err)));
    const struct tz *z = tz_get("UTC", err, sizeof(err));
    unsetenv("TZDIR");
    assert_non_null(z);
    assert_string_equal(tz_name(z), "UTC");
    expect_local(z, utc(2026, 3, 29, 1, 0, 0), 2026, 3, 29, 1, 0, 0, 0, false);
    assert_int_equal(tz_from_local(z, 2026, 3, 29, 2, 30, 0), utc(2026, 3, 29, 2, 30, 0));
    /* And the zone that failed loads once the directory is back. */
    assert_non_null(tz_get("Asia/Tokyo", NULL, 0));
}

/* ---- Hand-built TZif images ---- */

static size_t put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    return 4;
}

static size_t put64(unsigned char *p, int64_t v)
{
    put32(p, (uint32_t)((uint64_t)v >> 32));
    return 4 + put32(p + 4, (uint32_t)v);
}

static size_t header(unsigned char *p, char version, uint32_t timecnt, uint32_t typecnt,
                     uint32_t charcnt)
{
    memset(p, 0, 44);
    memcpy(p, "TZif", 4);
    p[4] = (unsigned char)version;
    put32(p + 32, timecnt);
    put32(p + 36, typecnt);
    put32(p + 40, charcnt);
    return 44;
}

/*
 * Builds a TZif image: version 0 writes one 32-bit block; '2'..'4' write a
 * minimal version 1 block, the 64-bit block and the footer. Types are named
 * "AAA" and "BBB" (abbreviation indices 0 and 4).
 */
static size_t build(unsigned char *buf, char version, size_t n, const int64_t *trans,
                    const uint8_t *idx, size_t ntypes, const int32_t *utoff, const char *footer)
{
    size_t p = 0;
    if (version != 0) {
        p += header(buf, version, 0, 1, 4);
        p += put32(buf + p, 0);
        buf[p++] = 0;
        buf[p++] = 0;
        memcpy(buf + p, "UTC", 4);
        p += 4;
    }
    p += header(buf + p, version, (uint32_t)n, (uint32_t)ntypes, 8);
    for (size_t i = 0; i < n; i++)
        p += version ? put64(buf + p, trans[i]) : put32(buf + p, (uint32_t)trans[i]);
    for (size_t i = 0; i < n; i++)
        buf[p++] = idx[i];
    for (size_t i = 0; i < ntypes; i++) {
        p += put32(buf + p, (uint32_t)utoff[i]);
        buf[p++] = i > 0;
        buf[p++] = i > 0 ? 4 : 0;
    }
    memcpy(buf + p, "AAA\0BBB", 8);
    p += 8;
    if (version != 0) {
        size_t fl = strlen(footer);
        buf[p++] = '\n';
        memcpy(buf + p, footer, fl);
        p += fl;
        buf[p++] = '\n';
    }
    return p;
}

static void test_parse_footers(void **state)
{
    /* A version 2 image with no transitions: the footer rules all time.
     * Each string is also a valid TZ value for glibc, the oracle. */
    static const char *const footers[] = {
        "CET-1CEST,M3.5.0,M10.5.0/3",
        "EST5EDT,M3.2.0,M11.1.0",
        "<+0330>-3:30",
        "<-03>3<-02>,M3.5.0/-2,M10.5.0/-1",
        "AAA3BBB,J60/2,J300/-1",
        "AAA-10BBB,100/25,280/-3",
        "AAA-10BBB,M4.1.0/167,M10.1.0/-167",
        "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
        "IST-1GMT0,M10.5.0,M3.5.0/1",
        "UTC0",
    };
    unsigned char buf[512];
    for (size_t i = 0; i < sizeof(footers) / sizeof(footers[0]); i++) {
        int32_t off = 0;
        size_t len = build(buf, '2', 0, NULL, NULL, 1, &off, footers[i]);
        char err[200] = "";
        struct tz *z = tz_parse("test", buf, len, err, sizeof(err));
        if (!z)
            fail_msg("%s: %s", footers[i], err);
        compare_glibc(z, footers[i], utc(2023, 12, 20, 0, 0, 0) / 1000,
                      utc(2025, 1, 10, 0, 0, 0) / 1000, 900);
        compare_glibc(z, footers[i], utc(2100, 1, 1, 0, 0, 0) / 1000,
                      utc(2101, 1, 1, 0, 0, 0) / 1000, 3600 * 5 + 7);
        tz_free(z);
    }

    /* RFC 8536 3.3.1: DST from January 1 00:00 to December 31 24:00 plus
     * the DST shift means DST all year. glibc evaluates one year at a time
     * and shows standard time for the first hours of each year, so this case
     * is checked directly. */
    {
        int32_t off = 0;
        size_t len = build(buf, '2', 0, NULL, NULL, 1, &off, "EST5EDT4,0/0,J365/25");
        struct tz *z = tz_parse("test", buf, len, NULL, 0);
        assert_non_null(z);
        for (int64_t t = utc(2023, 1, 1, 0, 0, 0); t < utc(2029, 1, 1, 0, 0, 0);
             t += 3 * HOUR_MS + 7 * MIN_MS) {
            struct tz_local l;
            tz_to_local(z, t, &l);
            assert_int_equal(l.utc_offset, -4 * 3600);
            assert_true(l.dst);
        }
        tz_free(z);
    }

    static const char *const bad[] = {
        "CET",
        "CET-1CEST",
        "CET-1CEST,M3.5.0",
        "CET-1CEST,M13.5.0,M10.5.0",
        "C-1",
        "CET-25",
        "CET-1CEST,J0,J10",
        "CET-1CEST,366,J10",
        "<AB>1",
        "CET-1CEST,M3.5.0/168,M10.5.0",
        "CET-1CEST,M3.5.0,M10.5.0x",
        "CET-1CEST,M3.6.0,M10.5.0",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int32_t off = 0;
        size_t len = build(buf, '2', 0, NULL, NULL, 1, &off, bad[i]);
        char err[200] = "";
        struct tz *z = tz_parse("test", buf, len, err, sizeof(err));
        if (z)
            fail_msg("footer \"%s\" was accepted", bad[i]);
        assert_true(err[0] != '\0');
    }
}

static void test_parse_images(void **state)
{
    unsigned char buf[512];
    char err[200];
    const int64_t trans[] = {1000, 2000};
    const uint8_t idx[] = {1, 0};
    const int32_t offs[] = {3600, 7200};

    /* Version 1: 32-bit data, no footer; the last type holds afterwards. */
    size_t len = build(buf, 0, 2, trans, idx, 2, offs, "");
    struct tz *z = tz_parse("v1", buf, len, err, sizeof(err));
    assert_non_null(z);
    assert_string_equal(tz_name(z), "v1");
    expect_local(z, 999 * 1000, 1970, 1, 1, 1, 16, 39, 3600, false);
    expect_local(z, 1000 * 1000, 1970, 1, 1, 2, 16, 40, 7200, true);
    expect_local(z, 2000 * 1000, 1970, 1, 1, 1, 33, 20, 3600, false);
    expect_local(z, utc(2050, 1, 1, 0, 0, 0), 2050, 1, 1, 1, 0, 0, 3600, false);
    tz_free(z);

    /* Versions 2-4 with an empty footer: also the last type. */
    for (char v = '2'; v <= '4'; v++) {
        len = build(buf, v, 2, trans, idx, 2, offs, "");
        z = tz_parse("v2", buf, len, err, sizeof(err));
        assert_non_null(z);
        expect_local(z, utc(2050, 1, 1, 0, 0, 0), 2050, 1, 1, 1, 0, 0, 3600, false);
        tz_free(z);
        /* Every truncation is refused, none crashes. */
        for (size_t cut = 0; cut < len; cut++) {
            err[0] = '\0';
            assert_null(tz_parse("cut", buf, cut, err, sizeof(err)));
            assert_true(err[0] != '\0');
        }
    }

    /* Broken tables: descending transitions, a type index out of range, an
     * offset out of range, no types, a bad magic or version. */
    const int64_t desc[] = {2000, 1000};
    len = build(buf, '2', 2, desc, idx, 2, offs, "");
    assert_null(tz_parse("x", buf, len, err, sizeof(err)));
    const uint8_t bad_idx[] = {0, 2};
    len = build(buf, '2', 2, trans, bad_idx, 2, offs, "");
    assert_null(tz_parse("x", buf, len, err, sizeof(err)));
    const int32_t huge[] = {0, 100000};
    len = build(buf, '2', 2, trans, idx, 2, huge, "");
    assert_null(tz_parse("x", buf, len, err, sizeof(err)));
    len = build(buf, '2', 0, NULL, NULL, 0, offs, "");
    assert_null(tz_parse("x", buf, len, err, sizeof(err)));
    len = build(buf, '2', 2, trans, idx, 2, offs, "");
    buf[4] = '1';
    assert_null(tz_parse("x", buf, len, err, sizeof(err)));
    buf[0] = 'X';
    assert_null(tz_parse("x", buf, len, err, sizeof(err)));
    assert_null(tz_parse("x", NULL, 0, err, sizeof(err)));

    /* A real file, whole and cut at every length. */
    FILE *f = fopen("/usr/share/zoneinfo/Europe/Berlin", "rb");
    if (!f)
        return;
    unsigned char file[8192];
    size_t n = fread(file, 1, sizeof(file), f);
    fclose(f);
    z = tz_parse("Europe/Berlin", file, n, err, sizeof(err));
    assert_non_null(z);
    expect_local(z, utc(2026, 3, 29, 1, 0, 0), 2026, 3, 29, 3, 0, 0, 7200, true);
    tz_free(z);
    for (size_t cut = 0; cut < n; cut++) {
        z = tz_parse("cut", file, cut, err, sizeof(err));
        assert_null(z);
    }
}

/* ---- recur ---- */

static struct recur rule(enum recur_freq freq, const char *zname, const char *hhmm,
                         int64_t duration_ms)
{
    struct recur r = {0};
    r.freq = freq;
    r.tz = zone(zname);
    r.duration_ms = duration_ms;
    if (hhmm && recur_parse_hhmm(hhmm, &r.start_minute) != 0)
        fail_msg("bad time %s", hhmm);
    return r;
}

static void expect_window(const struct recur *r, int64_t t, int64_t start, int64_t end)
{
    int64_t s = -1, e = -1;
    if (!recur_window(r, t, &s, &e))
        fail_msg("no window at %lld", (long long)t);
    if (s != start || e != end)
        fail_msg("at %lld: window [%lld, %lld), want [%lld, %lld)", (long long)t, (long long)s,
                 (long long)e, (long long)start, (long long)end);
}

static void test_recur_daily_dst(void **state)
{
    struct recur r = rule(RECUR_DAILY, "Europe/Berlin", "02:00", HOUR_MS);
    /* 02:00 CET the day before, 01:00 UTC. */
    expect_window(&r, utc(2026, 3, 28, 0, 0, 0), utc(2026, 3, 28, 1, 0, 0),
                  utc(2026, 3, 28, 2, 0, 0));
    /* The spring-forward day: 02:00 does not exist; the window starts when
     * the gap ends, 03:00 CEST = 01:00 UTC, and lasts one real hour. */
    expect_window(&r, utc(2026, 3, 28, 12, 0, 0), utc(2026, 3, 29, 1, 0, 0),
                  utc(2026, 3, 29, 2, 0, 0));
    /* The day after: 02:00 CEST = 00:00 UTC. */
    expect_window(&r, utc(2026, 3, 29, 12, 0, 0), utc(2026, 3, 30, 0, 0, 0),
                  utc(2026, 3, 30, 1, 0, 0));
    /* Fall back: 02:00 occurs twice on 2026-10-25; the first (CEST) counts. */
    expect_window(&r, utc(2026, 10, 24, 12, 0, 0), utc(2026, 10, 25, 0, 0, 0),
                  utc(2026, 10, 25, 1, 0, 0));
    expect_window(&r, utc(2026, 10, 25, 0, 30, 0), utc(2026, 10, 25, 0, 0, 0),
                  utc(2026, 10, 25, 1, 0, 0));
    /* At 01:00 UTC the clock reads 02:00 CET again, but that window ended. */
    assert_false(recur_active(&r, utc(2026, 10, 25, 1, 0, 0)));
    expect_window(&r, utc(2026, 10, 25, 1, 0, 0), utc(2026, 10, 26, 1, 0, 0),
                  utc(2026, 10, 26, 2, 0, 0));

    /* Daily limited to weekdays: Saturday's window is skipped. */
    r.weekdays = 0x3e;
    expect_window(&r, utc(2026, 3, 27, 12, 0, 0), utc(2026, 3, 30, 0, 0, 0),
                  utc(2026, 3, 30, 1, 0, 0));
}

static void test_recur_weekly(void **state)
{
    /* Sunday 01:00 Berlin for 4 h; on 2026-03-29 the clocks jump inside it,
     * so it ends at 06:00 CEST, still 4 real hours. */
    struct recur r = rule(RECUR_WEEKLY, "Europe/Berlin", "01:00", 4 * HOUR_MS);
    uint8_t sunday;
    const char *names[] = {"Sunday"};
    assert_int_equal(recur_parse_weekdays(names, 1, &sunday, NULL, 0), 0);
    r.weekdays = sunday;
    int64_t s = utc(2026, 3, 29, 0, 0, 0);
    expect_window(&r, utc(2026, 3, 25, 0, 0, 0), s, s + 4 * HOUR_MS);
    assert_false(recur_active(&r, s - 1));
    assert_true(recur_active(&r, s));
    assert_true(recur_active(&r, s + 4 * HOUR_MS - 1));
    assert_false(recur_active(&r, s + 4 * HOUR_MS));
    struct tz_local l;
    tz_to_local(r.tz, s + 4 * HOUR_MS, &l);
    assert_int_equal(l.hour, 6);
    /* Fall back: 01:00 CEST = 23:00 UTC the day before, 4 real hours. */
    s = utc(2026, 10, 24, 23, 0, 0);
    expect_window(&r, utc(2026, 10, 22, 0, 0, 0), s, s + 4 * HOUR_MS);
    tz_to_local(r.tz, s + 4 * HOUR_MS, &l);
    assert_int_equal(l.hour, 4); /* 04:00 CET */

    /* Weekdays 08:00 for 10 h. */
    const char *wd[] = {"WEEKDAYS"};
    r = rule(RECUR_WEEKLY, "Europe/Berlin", "08:00", 10 * HOUR_MS);
    assert_int_equal(recur_parse_weekdays(wd, 1, &r.weekdays, NULL, 0), 0);
    assert_int_equal(r.weekdays, 0x3e);
    expect_window(&r, utc(2026, 3, 27, 12, 0, 0), utc(2026, 3, 27, 7, 0, 0),
                  utc(2026, 3, 27, 17, 0, 0));
    assert_true(recur_active(&r, utc(2026, 3, 27, 16, 59, 59)));
    assert_false(recur_active(&r, utc(2026, 3, 27, 17, 0, 0)));
    assert_false(recur_active(&r, utc(2026, 3, 28, 12, 0, 0)));
    /* Next window: Monday, now in CEST. */
    expect_window(&r, utc(2026, 3, 28, 12, 0, 0), utc(2026, 3, 30, 6, 0, 0),
                  utc(2026, 3, 30, 16, 0, 0));

    /* No weekdays: never. */
    r.weekdays = 0;
    int64_t ws, we;
    assert_false(recur_window(&r, utc(2026, 3, 28, 12, 0, 0), &ws, &we));
    assert_false(recur_active(&r, utc(2026, 3, 30, 9, 0, 0)));
}

static void test_recur_monthly(void **state)
{
    struct recur r = rule(RECUR_MONTHLY, "UTC", "00:00", HOUR_MS);
    r.monthday = -1;
    expect_window(&r, utc(2026, 2, 1, 0, 0, 0), utc(2026, 2, 28, 0, 0, 0),
                  utc(2026, 2, 28, 1, 0, 0));
    expect_window(&r, utc(2028, 2, 1, 0, 0, 0), utc(2028, 2, 29, 0, 0, 0),
                  utc(2028, 2, 29, 1, 0, 0));
    expect_window(&r, utc(2026, 4, 1, 0, 0, 0), utc(2026, 4, 30, 0, 0, 0),
                  utc(2026, 4, 30, 1, 0, 0));
    r.monthday = 31;
    expect_window(&r, utc(2026, 2, 1, 0, 0, 0), utc(2026, 2, 28, 0, 0, 0),
                  utc(2026, 2, 28, 1, 0, 0));
    expect_window(&r, utc(2026, 4, 1, 0, 0, 0), utc(2026, 4, 30, 0, 0, 0),
                  utc(2026, 4, 30, 1, 0, 0));
    expect_window(&r, utc(2026, 5, 1, 0, 0, 0), utc(2026, 5, 31, 0, 0, 0),
                  utc(2026, 5, 31, 1, 0, 0));
    r.monthday = 15;
    expect_window(&r, utc(2026, 2, 15, 0, 30, 0), utc(2026, 2, 15, 0, 0, 0),
                  utc(2026, 2, 15, 1, 0, 0));
    expect_window(&r, utc(2026, 2, 15, 1, 0, 0), utc(2026, 3, 15, 0, 0, 0),
                  utc(2026, 3, 15, 1, 0, 0));
    /* Out of range monthday: never. */
    int64_t s, e;
    r.monthday = 0;
    assert_false(recur_window(&r, 0, &s, &e));
    r.monthday = 32;
    assert_false(recur_window(&r, 0, &s, &e));
}

static void test_recur_long(void **state)
{
    /* 22:00 Kolkata for 4 h crosses midnight; at 01:00 the window is the
     * one that started the day before. */
    struct recur r = rule(RECUR_DAILY, "Asia/Kolkata", "22:00", 4 * HOUR_MS);
    int64_t t = tz_from_local(r.tz, 2026, 5, 6, 1, 0, 0);
    int64_t s = tz_from_local(r.tz, 2026, 5, 5, 22, 0, 0);
    expect_window(&r, t, s, s + 4 * HOUR_MS);
    assert_true(recur_active(&r, t));

    /* A weekend window: Saturday 06:00 for 36 h. On Sunday 17:00 it is the
     * window that began the day before. */
    const char *sat[] = {"sat"};
    r = rule(RECUR_WEEKLY, "Europe/Berlin", "06:00", 36 * HOUR_MS);
    assert_int_equal(recur_parse_weekdays(sat, 1, &r.weekdays, NULL, 0), 0);
    s = utc(2026, 6, 6, 4, 0, 0);
    expect_window(&r, utc(2026, 6, 7, 15, 0, 0), s, s + 36 * HOUR_MS);
    assert_true(recur_active(&r, utc(2026, 6, 7, 15, 59, 59)));
    assert_false(recur_active(&r, utc(2026, 6, 7, 16, 0, 0)));

    /* Ten days from the 1st of each month: the 9th is covered. */
    r = rule(RECUR_MONTHLY, "Europe/Berlin", "00:00", 10 * DAY_MS);
    r.monthday = 1;
    s = utc(2026, 6, 30, 22, 0, 0);
    expect_window(&r, utc(2026, 7, 9, 12, 0, 0), s, s + 10 * DAY_MS);
    /* Daily windows of 30 h overlap; the earlier one is reported. */
    r = rule(RECUR_DAILY, "UTC", "00:00", 30 * HOUR_MS);
    expect_window(&r, utc(2026, 6, 2, 3, 0, 0), utc(2026, 6, 1, 0, 0, 0), utc(2026, 6, 2, 6, 0, 0));
}

static void test_recur_bounds(void **state)
{
    struct recur r = rule(RECUR_DAILY, "UTC", "12:00", HOUR_MS);
    r.start_ms = utc(2026, 6, 3, 0, 0, 0);
    r.until_ms = utc(2026, 6, 5, 12, 0, 0);
    /* Before the rule begins: its first window. */
    expect_window(&r, utc(2026, 6, 1, 12, 30, 0), utc(2026, 6, 3, 12, 0, 0),
                  utc(2026, 6, 3, 13, 0, 0));
    assert_false(recur_active(&r, utc(2026, 6, 2, 12, 30, 0)));
    assert_true(recur_active(&r, utc(2026, 6, 4, 12, 30, 0)));
    /* A window starting exactly at until_ms is not part of the rule. */
    assert_false(recur_active(&r, utc(2026, 6, 5, 12, 30, 0)));
    int64_t s, e;
    assert_false(recur_window(&r, utc(2026, 6, 4, 13, 0, 0), &s, &e));
    /* A window that starts before until_ms runs its full length. */
    r.until_ms = utc(2026, 6, 5, 12, 30, 0);
    assert_true(recur_active(&r, utc(2026, 6, 5, 12, 45, 0)));
    /* A rule that begins years ahead is still found. */
    r.start_ms = utc(2031, 1, 1, 0, 0, 0);
    r.until_ms = 0;
    expect_window(&r, utc(2026, 1, 1, 0, 0, 0), utc(2031, 1, 1, 12, 0, 0),
                  utc(2031, 1, 1, 13, 0, 0));

    /* One-off windows: [start, start + duration). */
    struct recur once = {.freq = RECUR_ONCE, .start_ms = 1000000, .duration_ms = 5000};
    expect_window(&once, 0, 1000000, 1005000);
    assert_false(recur_active(&once, 999999));
    assert_true(recur_active(&once, 1000000));
    assert_true(recur_active(&once, 1004999));
    assert_false(recur_active(&once, 1005000));
    assert_false(recur_window(&once, 1005000, &s, &e));
    once.until_ms = 1000000;
    assert_false(recur_active(&once, 1000000));

    /* Invalid rules never match. */
    struct recur bad = rule(RECUR_DAILY, "UTC", "12:00", 0);
    assert_false(recur_window(&bad, 0, &s, &e));
    bad.duration_ms = HOUR_MS;
    bad.start_minute = 1440;
    assert_false(recur_window(&bad, 0, &s, &e));
    bad.start_minute = 0;
    bad.freq = (enum recur_freq)9;
    assert_false(recur_window(&bad, 0, &s, &e));
    /* A NULL zone is UTC. */
    bad.freq = RECUR_DAILY;
    bad.tz = NULL;
    expect_window(&bad, utc(2026, 1, 1, 0, 30, 0), utc(2026, 1, 1, 0, 0, 0),
                  utc(2026, 1, 1, 1, 0, 0));
}

static void test_recur_parse(void **state)
{
    uint8_t w = 0xff;
    const char *names[] = {"mon", "TUESDAY", "Wed", "thu", "friday"};
    assert_int_equal(recur_parse_weekdays(names, 5, &w, NULL, 0), 0);
    assert_int_equal(w, 0x3e);
    const char *we[] = {"weekends"};
    assert_int_equal(recur_parse_weekdays(we, 1, &w, NULL, 0), 0);
    assert_int_equal(w, 0x41);
    const char *all[] = {"sun",       "mon",      "tue",    "wed",     "thu",
                         "fri",       "sat",      "Sunday", "Monday",  "Tuesday",
                         "Wednesday", "Thursday", "Friday", "Saturday"};
    assert_int_equal(recur_parse_weekdays(all, 14, &w, NULL, 0), 0);
    assert_int_equal(w, 0x7f);
    assert_int_equal(recur_parse_weekdays(NULL, 0, &w, NULL, 0), 0);
    assert_int_equal(w, 0);
    char err[128] = "";
    const char *bad[] = {"mon", "funday"};
    w = 7;
    assert_int_equal(recur_parse_weekdays(bad, 2, &w, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "funday"));
    assert_int_equal(w, 7);
    const char *bad2[] = {"mo"};
    assert_int_equal(recur_parse_weekdays(bad2, 1, &w, err, sizeof(err)), -1);
    const char *bad3[] = {""};
    assert_int_equal(recur_parse_weekdays(bad3, 1, &w, err, sizeof(err)), -1);

    int m = -1;
    assert_int_equal(recur_parse_hhmm("00:00", &m), 0);
    assert_int_equal(m, 0);
    assert_int_equal(recur_parse_hhmm("23:59", &m), 0);
    assert_int_equal(m, 1439);
    assert_int_equal(recur_parse_hhmm("08:30", &m), 0);
    assert_int_equal(m, 510);
    static const char *const bad_times[] = {"24:00", "12:60", "8:30",   "08:3", "08:300", "0830",
                                            "08-30", " 8:30", "08:30 ", "",     "+8:30",  "ab:cd"};
    for (size_t i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++) {
        m = -1;
        assert_int_equal(recur_parse_hhmm(bad_times[i], &m), -1);
        assert_int_equal(m, -1);
    }
    assert_int_equal(recur_parse_hhmm(NULL, &m), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_berlin),       cmocka_unit_test(test_new_york),
        cmocka_unit_test(test_half_hours),   cmocka_unit_test(test_far_future),
        cmocka_unit_test(test_gap_overlap),  cmocka_unit_test(test_normalise),
        cmocka_unit_test(test_names),        cmocka_unit_test(test_parse_footers),
        cmocka_unit_test(test_parse_images), cmocka_unit_test(test_recur_daily_dst),
        cmocka_unit_test(test_recur_weekly), cmocka_unit_test(test_recur_monthly),
        cmocka_unit_test(test_recur_long),   cmocka_unit_test(test_recur_bounds),
        cmocka_unit_test(test_recur_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
