/*
 * test_baseline.c - unit tests for src/rules/baseline.c: robust statistics,
 * slots in local time (DST included), the ring of past slot means, bands,
 * interpolation, holidays and the explaining sentence.
 *
 * Instants are written as UTC wall times (timegm does not depend on TZ).
 * Berlin is UTC+1 in winter and UTC+2 from 2026-03-29 01:00 UTC to
 * 2026-10-25 01:00 UTC. 2026-03-02 is a Monday. Random data comes from a
 * seeded xorshift generator, so every run sees the same numbers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/tz.h"
#include "rules/baseline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HOUR_MS (3600LL * 1000)
#define MIN_MS  (60LL * 1000)
#define DAY_MS  (24 * HOUR_MS)
#define WEEK_MS (7 * DAY_MS)

/* UTC ms of a UTC wall time. */
static int64_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
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

/* cmocka's float assertions work in float; these values need double. */
#define assert_near(a, b, eps) assert_near_at((a), (b), (eps), __LINE__)

static void assert_near_at(double a, double b, double eps, int line)
{
    if (!(fabs(a - b) <= eps))
        fail_msg("line %d: %.17g is not within %g of %.17g", line, a, eps, b);
}

static uint64_t rng_state;

static void rng_seed(uint64_t s)
{
    rng_state = s ? s : 1;
}

/* Uniform in [0, 1). */
static double rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Hourly week, 4 Mondays, median/MAD, k 3, no floors unless a test sets them. */
static struct baseline_params week_params(const struct tz *z)
{
    struct baseline_params p;
    memset(&p, 0, sizeof(p));
    p.season = SEASON_WEEK;
    p.slot_ms = HOUR_MS;
    p.n_seasons = 4;
    p.centre = CENTRE_MEDIAN;
    p.trim = 0.1;
    p.spread = SPREAD_MAD;
    p.k = 3;
    p.min_seasons = 2;
    p.tz = z;
    return p;
}

static void check_slot(const struct baseline_params *p, int64_t t, int slot, int64_t start,
                       int64_t end)
{
    int64_t s = -1, e = -1;
    int got = baseline_slot_of(p, t, &s, &e);
    if (got != slot || s != start || e != end)
        fail_msg("slot_of(%lld): got %d [%lld, %lld), want %d [%lld, %lld)", (long long)t, got,
                 (long long)s, (long long)e, slot, (long long)start, (long long)end);
}

static void check_name(const struct baseline_params *p, int slot, const char *want)
{
    char buf[64];
    baseline_slot_name(p, slot, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

/* Puts every slot instance in [from, to) with the value fn gives for its
 * start, walking instances the way the evaluator does. */
typedef double (*value_fn)(const struct baseline_params *p, int64_t start, void *ctx);

static void feed(struct baseline *b, const struct baseline_params *p, int64_t from, int64_t to,
                 value_fn fn, void *ctx)
{
    int64_t t = from;
    int guard = 0;
    while (t < to) {
        int64_t s, e;
        baseline_slot_of(p, t, &s, &e);
        baseline_put(b, s, fn(p, s, ctx));
        assert_int_equal(baseline_next_slot(b), e);
        assert_true(e > t);
        t = e;
        assert_true(++guard < 100000);
    }
}

/* ---- statistics ---- */

static void test_median(void **state)
{
    (void)state;
    double a[] = {3, 1, 2};
    assert_true(baseline_median(a, 3) == 2);
    double b[] = {4, 1, 3, 2};
    assert_true(baseline_median(b, 4) == 2.5);
    double c[] = {NAN, 5, NAN, 1};
    assert_true(baseline_median(c, 4) == 3);
    double d[] = {7};
    assert_true(baseline_median(d, 1) == 7);
    double e[] = {NAN, NAN};
    assert_true(isnan(baseline_median(e, 2)));
    assert_true(isnan(baseline_median(e, 0)));
    double f[] = {-1, INFINITY, 10, 2};
    assert_true(baseline_median(f, 4) == 2);
}

static void test_trimmed_mean(void **state)
{
    (void)state;
    double a[] = {100, 1, 2, 3, 4};
    /* 20% of 5 is one value cut from each end: (2 + 3 + 4) / 3. */
    assert_true(baseline_trimmed_mean(a, 5, 0.2) == 3);
    double b[] = {100, 1, 2, 3, 4};
    assert_true(baseline_trimmed_mean(b, 5, 0) == 22);
    double c[] = {10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
    assert_true(baseline_trimmed_mean(c, 10, 0.1) == 5.5);
    double d[] = {NAN, 1, NAN, 3, 1000, 2, -1000};
    /* Five values, floor(0.2 * 5) = 1 cut from each end: (1 + 2 + 3) / 3. */
    assert_true(baseline_trimmed_mean(d, 7, 0.2) == 2);
    double e[] = {42};
    assert_true(baseline_trimmed_mean(e, 1, 0.45) == 42);
    assert_true(isnan(baseline_trimmed_mean(e, 0, 0.1)));
    double f[] = {NAN};
    assert_true(isnan(baseline_trimmed_mean(f, 1, 0.1)));
}

static void test_mad(void **state)
{
    (void)state;
    double a[] = {1, 2, 3, 4, 100};
    /* |v - 3| = 2 1 0 1 97 -> median 1. */
    assert_true(baseline_mad(a, 5, 3) == 1.4826);
    double b[] = {NAN, 10, 20, NAN, 30, 40};
    /* Around 25: 15 5 5 15 -> median 10. */
    assert_true(baseline_mad(b, 6, 25) == 1.4826 * 10);
    double c[] = {5};
    assert_true(baseline_mad(c, 1, 5) == 0);
    double d[] = {5, 5, 5, 9};
    assert_true(baseline_mad(d, 4, 5) == 0);
    assert_true(isnan(baseline_mad(c, 0, 5)));
    double e[] = {NAN};
    assert_true(isnan(baseline_mad(e, 1, 0)));
    assert_true(isnan(baseline_mad(a, 5, NAN)));
    /* More values than the stack buffer holds. */
    double *big = malloc(1001 * sizeof(double));
    assert_non_null(big);
    for (int i = 0; i < 1001; i++)
        big[i] = i;
    /* Around 500: deviations 0, 1, 1, ..., 500, 500 -> median 250. */
    assert_true(baseline_mad(big, 1001, 500) == 1.4826 * 250);
    free(big);
}

static void test_stddev(void **state)
{
    (void)state;
    const double a[] = {2, 4, 4, 4, 5, 5, 7, 9};
    /* Squares around 5 sum to 32; the sample variance is 32 / 7. */
    assert_near(baseline_stddev(a, 8, 5), sqrt(32.0 / 7), 1e-15);
    assert_near(baseline_stddev(a, 8, 5), 2.1380899352993952, 1e-15);
    const double b[] = {NAN, 2, 4, NAN, 4, 4, 5, 5, 7, 9};
    assert_near(baseline_stddev(b, 10, 5), sqrt(32.0 / 7), 1e-15);
    /* A NAN mean is computed from the values. */
    assert_near(baseline_stddev(b, 10, NAN), sqrt(32.0 / 7), 1e-15);
    const double c[] = {3};
    assert_true(baseline_stddev(c, 1, 3) == 0);
    assert_true(isnan(baseline_stddev(c, 0, 3)));
    const double d[] = {NAN, NAN};
    assert_true(isnan(baseline_stddev(d, 2, 0)));
    const double e[] = {1, 1, 1};
    assert_true(baseline_stddev(e, 3, 1) == 0);
}

/* ---- slots ---- */

static void test_slots_utc(void **state)
{
    (void)state;
    struct baseline_params p = week_params(NULL);
    assert_int_equal(baseline_slots(&p), 168);
    /* Monday 2026-03-02 08:30 UTC. */
    check_slot(&p, utc(2026, 3, 2, 8, 30), 8, utc(2026, 3, 2, 8, 0), utc(2026, 3, 2, 9, 0));
    check_slot(&p, utc(2026, 3, 2, 0, 0), 0, utc(2026, 3, 2, 0, 0), utc(2026, 3, 2, 1, 0));
    check_slot(&p, utc(2026, 3, 8, 23, 59), 167, utc(2026, 3, 8, 23, 0), utc(2026, 3, 9, 0, 0));
    check_slot(&p, utc(2026, 3, 4, 13, 0), 2 * 24 + 13, utc(2026, 3, 4, 13, 0),
               utc(2026, 3, 4, 14, 0));
    /* Before the epoch, for floor division. */
    check_slot(&p, utc(1969, 12, 29, 5, 10), 5, utc(1969, 12, 29, 5, 0), utc(1969, 12, 29, 6, 0));
    check_name(&p, 8, "Monday 08:00");
    check_name(&p, 167, "Sunday 23:00");
    check_name(&p, 2 * 24 + 13, "Wednesday 13:00");
    check_name(&p, 168, "slot 168");
    check_name(&p, -1, "slot -1");

    p.season = SEASON_DAY;
    assert_int_equal(baseline_slots(&p), 24);
    check_slot(&p, utc(2026, 3, 4, 8, 30), 8, utc(2026, 3, 4, 8, 0), utc(2026, 3, 4, 9, 0));
    check_name(&p, 8, "08:00");

    p.slot_ms = 30 * MIN_MS;
    assert_int_equal(baseline_slots(&p), 48);
    check_slot(&p, utc(2026, 3, 4, 8, 30), 17, utc(2026, 3, 4, 8, 30), utc(2026, 3, 4, 9, 0));
    check_slot(&p, utc(2026, 3, 4, 8, 29), 16, utc(2026, 3, 4, 8, 0), utc(2026, 3, 4, 8, 30));
    check_name(&p, 17, "08:30");
    p.season = SEASON_WEEK;
    assert_int_equal(baseline_slots(&p), 336);
    /* Tuesday 08:45. */
    check_slot(&p, utc(2026, 3, 3, 8, 45), 48 + 17, utc(2026, 3, 3, 8, 30), utc(2026, 3, 3, 9, 0));
    check_name(&p, 48 + 17, "Tuesday 08:30");

    /* Shapes that cannot be sliced. */
    p.slot_ms = 7 * MIN_MS;
    assert_int_equal(baseline_slots(&p), 0);
    int64_t s = 1, e = 1;
    assert_int_equal(baseline_slot_of(&p, utc(2026, 3, 3, 8, 45), &s, &e), -1);
    p.slot_ms = 30 * 1000;
    assert_int_equal(baseline_slots(&p), 0);
}

static void test_slots_berlin(void **state)
{
    (void)state;
    const struct tz *berlin = zone("Europe/Berlin");
    struct baseline_params p = week_params(berlin);
    /* Monday 08:30 CET and, after the change, 08:30 CEST: the same slot. */
    check_slot(&p, utc(2026, 3, 23, 7, 30), 8, utc(2026, 3, 23, 7, 0), utc(2026, 3, 23, 8, 0));
    check_slot(&p, utc(2026, 3, 30, 6, 30), 8, utc(2026, 3, 30, 6, 0), utc(2026, 3, 30, 7, 0));
    check_slot(&p, utc(2026, 6, 1, 6, 30), 8, utc(2026, 6, 1, 6, 0), utc(2026, 6, 1, 7, 0));
    /* The week starts at Monday 00:00 local, Sunday 23:00 UTC in winter. */
    check_slot(&p, utc(2026, 3, 1, 23, 0), 0, utc(2026, 3, 1, 23, 0), utc(2026, 3, 2, 0, 0));
    check_slot(&p, utc(2026, 3, 1, 22, 59), 167, utc(2026, 3, 1, 22, 0), utc(2026, 3, 1, 23, 0));
    p.season = SEASON_DAY;
    check_slot(&p, utc(2026, 3, 1, 22, 59), 23, utc(2026, 3, 1, 22, 0), utc(2026, 3, 1, 23, 0));
    check_slot(&p, utc(2026, 7, 15, 22, 0), 0, utc(2026, 7, 15, 22, 0), utc(2026, 7, 15, 23, 0));
}

/* Spring forward, Sunday 2026-03-29: 02:00 CET becomes 03:00 CEST at
 * 01:00 UTC, so the 02:00 slot is empty and 01:00 is followed by 03:00. */
static void test_slots_spring_forward(void **state)
{
    (void)state;
    const struct tz *berlin = zone("Europe/Berlin");
    struct baseline_params p = week_params(berlin);
    int sun = 6 * 24;
    check_slot(&p, utc(2026, 3, 29, 0, 30), sun + 1, utc(2026, 3, 29, 0, 0),
               utc(2026, 3, 29, 1, 0));
    check_slot(&p, utc(2026, 3, 29, 1, 0) - 1, sun + 1, utc(2026, 3, 29, 0, 0),
               utc(2026, 3, 29, 1, 0));
    check_slot(&p, utc(2026, 3, 29, 1, 0), sun + 3, utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 2, 0));
    check_slot(&p, utc(2026, 3, 29, 1, 59), sun + 3, utc(2026, 3, 29, 1, 0),
               utc(2026, 3, 29, 2, 0));
    check_slot(&p, utc(2026, 3, 29, 2, 0), sun + 4, utc(2026, 3, 29, 2, 0), utc(2026, 3, 29, 3, 0));
    /* No instant falls in slot 02:00: the instants around it skip it. */
    for (int64_t t = utc(2026, 3, 28, 22, 0); t < utc(2026, 3, 29, 4, 0); t += MIN_MS)
        assert_int_not_equal(baseline_slot_of(&p, t, NULL, NULL), sun + 2);
    /* 30-minute slots: 01:30 ends where 03:00 begins. */
    p.slot_ms = 30 * MIN_MS;
    check_slot(&p, utc(2026, 3, 29, 0, 45), 2 * sun + 3, utc(2026, 3, 29, 0, 30),
               utc(2026, 3, 29, 1, 0));
    check_slot(&p, utc(2026, 3, 29, 1, 0), 2 * sun + 6, utc(2026, 3, 29, 1, 0),
               utc(2026, 3, 29, 1, 30));
    /* The day season numbers the same way. */
    p.slot_ms = HOUR_MS;
    p.season = SEASON_DAY;
    check_slot(&p, utc(2026, 3, 29, 1, 0), 3, utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 2, 0));
}

/* Fall back, Sunday 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00 UTC,
 * so the 02:00 slot holds both real hours: 00:00-02:00 UTC. */
static void test_slots_fall_back(void **state)
{
    (void)state;
    const struct tz *berlin = zone("Europe/Berlin");
    struct baseline_params p = week_params(berlin);
    int sun = 6 * 24;
    check_slot(&p, utc(2026, 10, 24, 23, 30), sun + 1, utc(2026, 10, 24, 23, 0),
               utc(2026, 10, 25, 0, 0));
    check_slot(&p, utc(2026, 10, 25, 0, 30), sun + 2, utc(2026, 10, 25, 0, 0),
               utc(2026, 10, 25, 2, 0));
    check_slot(&p, utc(2026, 10, 25, 1, 30), sun + 2, utc(2026, 10, 25, 0, 0),
               utc(2026, 10, 25, 2, 0));
    check_slot(&p, utc(2026, 10, 25, 2, 0), sun + 3, utc(2026, 10, 25, 2, 0),
               utc(2026, 10, 25, 3, 0));
    /* Monday 08:00 after the change is 07:00 UTC again. */
    check_slot(&p, utc(2026, 10, 26, 7, 30), 8, utc(2026, 10, 26, 7, 0), utc(2026, 10, 26, 8, 0));
    /* 30-minute slots: 02:00 is the first half hour, 02:30 runs until the
     * wall clock passes 03:00 (the second time round). */
    p.slot_ms = 30 * MIN_MS;
    check_slot(&p, utc(2026, 10, 25, 0, 10), 2 * sun + 4, utc(2026, 10, 25, 0, 0),
               utc(2026, 10, 25, 0, 30));
    check_slot(&p, utc(2026, 10, 25, 0, 40), 2 * sun + 5, utc(2026, 10, 25, 0, 30),
               utc(2026, 10, 25, 2, 0));
    check_slot(&p, utc(2026, 10, 25, 1, 10), 2 * sun + 5, utc(2026, 10, 25, 0, 30),
               utc(2026, 10, 25, 2, 0));
    check_slot(&p, utc(2026, 10, 25, 2, 0), 2 * sun + 6, utc(2026, 10, 25, 2, 0),
               utc(2026, 10, 25, 2, 30));
}

/* A gap that does not start on a slot boundary: Lord Howe moves from
 * +10:30 to +11 at 02:00 local on 2026-10-04 (15:30 UTC the day before),
 * skipping 02:00-02:30. With 20-minute slots the 02:20 slot starts at the
 * gap's end, where the wall clock reads 02:30, and lasts 10 minutes. */
static void test_slots_half_hour_gap(void **state)
{
    (void)state;
    const struct tz *lh = zone("Australia/Lord_Howe");
    struct baseline_params p = week_params(lh);
    p.slot_ms = 20 * MIN_MS;
    int sun = 6 * 72;
    int64_t g = utc(2026, 10, 3, 15, 30);
    check_slot(&p, g - 1, sun + 5, utc(2026, 10, 3, 15, 10), g);
    check_slot(&p, g, sun + 7, g, g + 10 * MIN_MS);
    check_slot(&p, g + 9 * MIN_MS, sun + 7, g, g + 10 * MIN_MS);
    check_slot(&p, g + 10 * MIN_MS, sun + 8, g + 10 * MIN_MS, g + 30 * MIN_MS);
    check_name(&p, sun + 7, "Sunday 02:20");
}

/* Over a whole year of Berlin time, every instant lies in its slot, slots
 * tile time without holes or overlaps, and the slot matches the wall clock
 * (glibc's localtime_r as the oracle) except for the second pass through a
 * repeated hour, which belongs to the first pass's instance. */
static void test_slots_year_oracle(void **state)
{
    (void)state;
    const struct tz *berlin = zone("Europe/Berlin");
    struct baseline_params p = week_params(berlin);
    p.slot_ms = 30 * MIN_MS;
    setenv("TZ", "Europe/Berlin", 1);
    tzset();
    int64_t prev_start = -1, prev_end = -1;
    int instances = 0;
    for (int64_t t = utc(2026, 1, 1, 0, 0); t < utc(2027, 1, 1, 0, 0); t += 10 * MIN_MS) {
        int64_t s, e;
        int slot = baseline_slot_of(&p, t, &s, &e);
        assert_true(s <= t && t < e);
        if (s != prev_start) {
            /* A new instance begins where the last one ended. */
            if (prev_end != -1)
                assert_int_equal(s, prev_end);
            instances++;
            prev_start = s;
            prev_end = e;
        } else {
            assert_int_equal(e, prev_end);
        }
        time_t tt = (time_t)(t / 1000);
        struct tm lt;
        localtime_r(&tt, &lt);
        int want = ((lt.tm_wday + 6) % 7) * 48 + lt.tm_hour * 2 + lt.tm_min / 30;
        if (lt.tm_isdst == 0 && lt.tm_mon == 9 && lt.tm_mday == 25 && lt.tm_hour == 2)
            want = 6 * 48 + 5; /* the repeated 02:00-03:00 CET */
        if (slot != want)
            fail_msg("t=%lld slot %d want %d", (long long)t, slot, want);
    }
    unsetenv("TZ");
    tzset();
    /* 365 days of 48 slots, less the empty 02:00 and 02:30 in March (the
     * October day has all 48, two of them longer). */
    assert_int_equal(instances, 365 * 48 - 2);
}

static void test_params_from_cfg(void **state)
{
    (void)state;
    int32_t hol[] = {20261225};
    struct cfg_seasonal se;
    memset(&se, 0, sizeof(se));
    se.season = SEASON_WEEK;
    se.horizon_ms = 4 * WEEK_MS;
    se.slot_ms = HOUR_MS;
    se.k = 3;
    se.min_band = 5;
    se.min_band_ratio = 0.05;
    se.centre = CENTRE_TRIMMED_MEAN;
    se.trim = 0.2;
    se.spread = SPREAD_STDDEV;
    se.holidays = hol;
    se.n_holidays = 1;
    struct baseline_params p;
    baseline_params_from_cfg(&se, &p);
    assert_int_equal(p.season, SEASON_WEEK);
    assert_int_equal(p.slot_ms, HOUR_MS);
    assert_int_equal(p.n_seasons, 4);
    assert_int_equal(p.min_seasons, 2);
    assert_int_equal(p.centre, CENTRE_TRIMMED_MEAN);
    assert_true(p.trim == 0.2);
    assert_int_equal(p.spread, SPREAD_STDDEV);
    assert_true(p.k == 3 && p.min_band == 5 && p.min_band_ratio == 0.05);
    assert_ptr_equal(p.holidays, hol);
    assert_int_equal(p.n_holidays, 1);
    assert_null(p.tz);
    se.season = SEASON_DAY;
    se.horizon_ms = 28 * DAY_MS;
    baseline_params_from_cfg(&se, &p);
    assert_int_equal(p.n_seasons, 28);
    assert_int_equal(p.min_seasons, 14);
    se.min_seasons = 3;
    baseline_params_from_cfg(&se, &p);
    assert_int_equal(p.min_seasons, 3);
    se.season = SEASON_WEEK;
    se.horizon_ms = WEEK_MS;
    se.min_seasons = 0;
    baseline_params_from_cfg(&se, &p);
    assert_int_equal(p.n_seasons, 1);
    assert_int_equal(p.min_seasons, 1);
}

static void test_new_invalid(void **state)
{
    (void)state;
    struct baseline_params p = week_params(NULL);
    struct baseline *b = baseline_new(&p);
    assert_non_null(b);
    /* 168 x 4 floats plus the struct. */
    assert_true(baseline_memory(b) >= 168 * 4 * sizeof(float));
    assert_true(baseline_memory(b) < 168 * 4 * sizeof(float) + 512);
    baseline_free(b);
    baseline_free(NULL);
    assert_int_equal(baseline_memory(NULL), 0);

    struct baseline_params q = p;
    q.slot_ms = 7 * MIN_MS;
    assert_null(baseline_new(&q));
    q = p;
    q.n_seasons = 0;
    assert_null(baseline_new(&q));
    q = p;
    q.n_seasons = 367;
    assert_null(baseline_new(&q));
    q = p;
    q.min_seasons = 5;
    assert_null(baseline_new(&q));
    q = p;
    q.min_seasons = 0;
    assert_null(baseline_new(&q));
    q = p;
    q.trim = 0.5;
    assert_null(baseline_new(&q));
    q = p;
    q.k = NAN;
    assert_null(baseline_new(&q));
    q = p;
    q.min_band = -1;
    assert_null(baseline_new(&q));
    q = p;
    q.n_holidays = 2;
    assert_null(baseline_new(&q));
    assert_null(baseline_new(NULL));
}

/* ---- the baseline ---- */

/* A booking-like weekly shape: quiet nights, peaks at 08:00 and 17:00 on
 * weekdays, a flatter weekend; +-3% uniform noise. */
static double shape(int dow, int hour)
{
    double base = dow < 5 ? 400 : 250;
    double peak = 0;
    if (dow < 5) {
        peak += 1500 * exp(-0.5 * (hour - 8) * (hour - 8));
        peak += 1000 * exp(-0.5 * (hour - 17) * (hour - 17));
    } else {
        peak += 300 * exp(-0.1 * (hour - 13) * (hour - 13));
    }
    return base + peak;
}

static double noisy_week(const struct baseline_params *p, int64_t start, void *ctx)
{
    (void)ctx;
    int slot = baseline_slot_of(p, start, NULL, NULL);
    return shape(slot / 24, slot % 24) * (0.97 + 0.06 * rng());
}

static void test_weekly_pattern(void **state)
{
    (void)state;
    const struct tz *berlin = zone("Europe/Berlin");
    struct baseline_params p = week_params(berlin);
    p.min_band = 5;
    p.min_band_ratio = 0.1;
    struct baseline *b = baseline_new(&p);
    assert_non_null(b);
    rng_seed(20260302);
    /* Four weeks from Monday 2026-05-04 00:00 CEST. */
    int64_t from = utc(2026, 5, 3, 22, 0);
    feed(b, &p, from, from + 4 * WEEK_MS, noisy_week, NULL);
    assert_int_equal(baseline_next_slot(b), from + 4 * WEEK_MS);

    /* The fifth week, normal data: never outside the band. */
    int64_t wk = from + 4 * WEEK_MS;
    int inside = 0;
    for (int h = 0; h < 168; h++) {
        int64_t mid = wk + h * HOUR_MS + 30 * MIN_MS;
        struct baseline_band band;
        baseline_expect(b, mid, &band);
        assert_true(band.ok);
        assert_int_equal(band.slot, h);
        assert_int_equal(band.seasons_used, 4);
        assert_int_equal(band.seasons_needed, 2);
        double truth = shape(h / 24, h % 24);
        /* The median of four noisy weeks is within the noise. */
        assert_true(fabs(band.centre - truth) <= 0.03 * truth);
        double v = truth * (0.97 + 0.06 * rng());
        if (v >= band.low && v <= band.high)
            inside++;
        /* A drop to 30% is always below the band. */
        assert_true(0.3 * v < band.low);
    }
    assert_int_equal(inside, 168);

    /* The Monday 08:00 peak itself, and the 30% outage at that moment. */
    struct baseline_band band;
    baseline_expect(b, wk + 8 * HOUR_MS + 30 * MIN_MS, &band);
    assert_true(band.ok);
    assert_true(band.low < shape(0, 8) && shape(0, 8) < band.high);
    assert_true(0.3 * shape(0, 8) < band.low);
    /* The same value at 03:00 would be far above the night's band. */
    baseline_expect(b, wk + 3 * HOUR_MS + 30 * MIN_MS, &band);
    assert_true(shape(0, 8) > band.high);
    baseline_free(b);
}

static double constant(const struct baseline_params *p, int64_t start, void *ctx)
{
    (void)p;
    (void)start;
    return *(double *)ctx;
}

/* Flat data has zero spread: the floors make the band. */
static void test_flat_floors(void **state)
{
    (void)state;
    struct baseline_params p = week_params(NULL);
    p.min_band = 7;
    p.min_band_ratio = 0.05;
    struct baseline *b = baseline_new(&p);
    double v = 100;
    int64_t from = utc(2026, 3, 2, 0, 0);
    feed(b, &p, from, from + 4 * WEEK_MS, constant, &v);
    struct baseline_band band;
    baseline_expect(b, from + 4 * WEEK_MS + 8 * HOUR_MS + 15 * MIN_MS, &band);
    assert_true(band.ok);
    assert_true(band.centre == 100);
    assert_true(band.spread == 0);
    assert_true(band.low == 93 && band.high == 107);
    baseline_free(b);

    /* The ratio floor wins when it is the larger. */
    p.min_band = 2;
    b = baseline_new(&p);
    feed(b, &p, from, from + 4 * WEEK_MS, constant, &v);
    baseline_expect(b, from + 4 * WEEK_MS + 8 * HOUR_MS + 15 * MIN_MS, &band);
    assert_true(band.ok);
    assert_true(band.low == 95 && band.high == 105);
    baseline_free(b);

    /* No floors at all: a zero-width band at the centre. */
    p.min_band = 0;
    p.min_band_ratio = 0;
    b = baseline_new(&p);
    feed(b, &p, from, from + 4 * WEEK_MS, constant, &v);
    baseline_expect(b, from + 4 * WEEK_MS + 8 * HOUR_MS, &band);
    assert_true(band.ok);
    assert_true(band.low == 100 && band.high == 100);
    baseline_free(b);
}

static void test_short_history(void **state)
{
    (void)state;
    struct baseline_params p = week_params(NULL);
    struct baseline *b = baseline_new(&p);
    struct baseline_band band;
    char text[256];
    int64_t from = utc(2026, 3, 2, 0, 0);

    /* Nothing at all yet. */
    assert_int_equal(baseline_next_slot(b), 0);
    baseline_expect(b, from + 8 * HOUR_MS, &band);
    assert_false(band.ok);
    assert_string_equal(band.why, "too little history");
    assert_int_equal(band.seasons_used, 0);

    double v = 10;
    feed(b, &p, from, from + WEEK_MS, constant, &v);
    baseline_expect(b, from + WEEK_MS + 8 * HOUR_MS + 30 * MIN_MS, &band);
    assert_false(band.ok);
    assert_string_equal(band.why, "too little history");
    assert_int_equal(band.seasons_used, 1);
    assert_int_equal(band.seasons_needed, 2);
    assert_int_equal(band.slot, 8);
    assert_true(isnan(band.low) && isnan(band.high));
    baseline_describe(b, &band, text, sizeof(text));
    assert_string_equal(text, "no baseline for Monday 08:00: too little history (1 of 2 Mondays "
                              "needed)");
    baseline_free(b);

    /* min_seasons 1: one season is enough, its spread is 0 and the floors
     * apply. */
    p.min_seasons = 1;
    p.min_band = 3;
    b = baseline_new(&p);
    feed(b, &p, from, from + WEEK_MS, constant, &v);
    baseline_expect(b, from + WEEK_MS + 8 * HOUR_MS + 30 * MIN_MS, &band);
    assert_true(band.ok);
    assert_int_equal(band.seasons_used, 1);
    assert_true(band.spread == 0 && band.low == 7 && band.high == 13);
    baseline_describe(b, &band, text, sizeof(text));
    assert_string_equal(text, "expected 7\xe2\x80\x93"
                              "13 for Monday 08:00 from 1 of the last 4 Mondays (median 10, MAD "
                              "0, k 3)");
    baseline_free(b);
}

static double week_skipping(const struct baseline_params *p, int64_t start, void *ctx)
{
    int64_t skip_from = ((int64_t *)ctx)[0], skip_to = ((int64_t *)ctx)[1];
    (void)p;
    if (start >= skip_from && start < skip_to)
        return NAN;
    return 1000 + (double)((start / WEEK_MS) % 4) * 10;
}

static void test_missing_week(void **state)
{
    (void)state;
    struct baseline_params p = week_params(NULL);
    p.min_seasons = 3;
    struct baseline *b = baseline_new(&p);
    int64_t from = utc(2026, 3, 2, 0, 0);
    int64_t skip[2] = {from + WEEK_MS, from + 2 * WEEK_MS};
    feed(b, &p, from, from + 4 * WEEK_MS, week_skipping, skip);
    struct baseline_band band;
    baseline_expect(b, from + 4 * WEEK_MS + 8 * HOUR_MS + 30 * MIN_MS, &band);
    assert_true(band.ok);
    assert_int_equal(band.seasons_used, 3);
    baseline_free(b);

    /* The same with the week not put at all (Tocsin was down): cleared. */
    p.min_band_ratio = 0.05;
    b = baseline_new(&p);
    double v = 500;
    feed(b, &p, from, from + WEEK_MS, constant, &v);
    feed(b, &p, from + 2 * WEEK_MS, from + 4 * WEEK_MS, constant, &v);
    baseline_expect(b, from + 4 * WEEK_MS + 8 * HOUR_MS + 30 * MIN_MS, &band);
    assert_true(band.ok);
    assert_int_equal(band.seasons_used, 3);
    assert_true(band.centre == 500);
    char text[256];
    baseline_describe(b, &band, text, sizeof(text));
    assert_string_equal(text, "expected 475\xe2\x80\x93"
                              "525 for Monday 08:00 from 3 of the last 4 Mondays (median 500, "
                              "MAD 0, k 3)");
    baseline_free(b);
}

/* Values written before a gap longer than the horizon are gone; a shorter
 * gap keeps what is still within the horizon. */
static void test_gap(void **state)
{
    (void)state;
    struct baseline_params p = week_params(NULL);
    struct baseline *b = baseline_new(&p);
    int64_t from = utc(2026, 3, 2, 0, 0);
    double v = 42;
    feed(b, &p, from, from + 4 * WEEK_MS, constant, &v);
    struct baseline_band band;

    /* Two weeks down, then one Monday 00:00 instance: Tuesdays of weeks 3
     * and 4 are still within the horizon of week 7. */
    int64_t w6 = from + 6 * WEEK_MS;
    baseline_put(b, w6, 42);
    baseline_expect(b, w6 + DAY_MS + 8 * HOUR_MS + 30 * MIN_MS, &band);
    assert_true(band.ok);
    assert_int_equal(band.seasons_used, 2);

    /* Then ten weeks down: nothing of before survives. */
    int64_t w16 = from + 16 * WEEK_MS;
    baseline_put(b, w16 + 8 * HOUR_MS, 42);
    baseline_expect(b, w16 + WEEK_MS + 8 * HOUR_MS + 30 * MIN_MS, &band);
    assert_false(band.ok);
    assert_int_equal(band.seasons_used, 1);
    baseline_expect(b, w16 + WEEK_MS + DAY_MS + 8 * HOUR_MS + 30 * MIN_MS, &band);
    assert_false(band.ok);
    assert_int_equal(band.seasons_used, 0);
    /* The old values would have been at these cells of the ring. */
    baseline_expect(b, w16 + 8 * HOUR_MS + 30 * MIN_MS, &band);
    assert_int_equal(band.seasons_used, 0);

    /* Out of order and repeated puts are ignored. */
    baseline_put(b, w16 + 8 * HOUR_MS, 1e9);
    baseline_put(b, from, 1e9);
    assert_int_equal(baseline_next_slot(b), w16 + 9 * HOUR_MS);
    baseline_put(b, w16 + WEEK_MS + 8 * HOUR_MS, 44);
    baseline_expect(b, w16 + 2 * WEEK_MS + 8 * HOUR_MS + 30 * MIN_MS, &band);
    assert_true(band.ok);
    assert_int_equal(band.seasons_used, 2);
    assert_true(band.centre == 43);
    baseline_free(b);
}

static void test_holidays(void **state)
{
    (void)state;
    const struct tz *berlin = zone("Europe/Berlin");
    /* Monday 2026-05-25 (Whit Monday) in the history, Monday 2026-06-08
     * ahead. */
    int32_t hol[] = {20260525, 20260608};
    struct baseline_params p = week_params(berlin);
    p.holidays = hol;
    p.n_holidays = 2;
    assert_true(baseline_is_holiday(&p, utc(2026, 5, 24, 22, 0)));
    assert_false(baseline_is_holiday(&p, utc(2026, 5, 24, 21, 59)));
    assert_true(baseline_is_holiday(&p, utc(2026, 5, 25, 21, 59)));
    assert_false(baseline_is_holiday(&p, utc(2026, 5, 25, 22, 0)));
    struct baseline *b = baseline_new(&p);
    int64_t from = utc(2026, 5, 10, 22, 0); /* Monday 2026-05-11 00:00 CEST */
    double v = 800;
    feed(b, &p, from, from + 4 * WEEK_MS, constant, &v);
    struct baseline_band band;
    /* Monday 2026-06-08 is a holiday: no judgement on it. */
    int64_t mon = from + 4 * WEEK_MS + 8 * HOUR_MS + 30 * MIN_MS;
    baseline_expect(b, mon, &band);
    assert_false(band.ok);
    assert_string_equal(band.why, "holiday");
    assert_int_equal(band.seasons_used, 3);
    char text[256];
    baseline_describe(b, &band, text, sizeof(text));
    assert_string_equal(text, "no baseline for Monday 08:00: holiday");
    /* Tuesday is not: four Tuesdays count, while Mondays have three (the
     * holiday left out). */
    baseline_expect(b, mon + DAY_MS, &band);
    assert_true(band.ok);
    assert_int_equal(band.seasons_used, 4);
    baseline_free(b);

    p.n_holidays = 1;
    b = baseline_new(&p);
    feed(b, &p, from, from + 4 * WEEK_MS, constant, &v);
    baseline_expect(b, mon, &band);
    assert_true(band.ok);
    assert_int_equal(band.seasons_used, 3);
    baseline_free(b);
}

/* Each slot's value is hour * 60 (+-10 across the three days): between
 * slot midpoints the expectation is a straight line. */
static double ramp(const struct baseline_params *p, int64_t start, void *ctx)
{
    int missing = *(int *)ctx;
    int slot = baseline_slot_of(p, start, NULL, NULL);
    int day = (int)((start / DAY_MS) % 3);
    if (slot == missing && day != 2)
        return NAN;
    return slot * 60.0 + (day - 1) * 10.0;
}

static void test_interpolation(void **state)
{
    (void)state;
    struct baseline_params p = week_params(NULL);
    p.season = SEASON_DAY;
    p.n_seasons = 3;
    int missing = -1;
    struct baseline *b = baseline_new(&p);
    int64_t from = utc(2026, 3, 2, 0, 0);
    feed(b, &p, from, from + 3 * DAY_MS, ramp, &missing);
    int64_t d = from + 3 * DAY_MS;
    struct baseline_band band;
    struct {
        int h, m;
        double centre;
    } cases[] = {
        {8, 30, 480}, {8, 45, 495}, {8, 0, 450}, {8, 15, 465}, {9, 0, 510}, {0, 30, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        baseline_expect(b, d + cases[i].h * HOUR_MS + cases[i].m * MIN_MS, &band);
        assert_true(band.ok);
        if (fabs(band.centre - cases[i].centre) > 1e-9)
            fail_msg("%02d:%02d centre %.17g want %g", cases[i].h, cases[i].m, band.centre,
                     cases[i].centre);
        assert_true(fabs(band.spread - 14.826) < 1e-9);
    }
    /* Midnight interpolates half and half with the 23:00 slot of the days
     * before, of which two were put: 1370 and 1380 (median 1375, MAD 7.413)
     * against 00:00's -10, 0, 10 (median 0, MAD 14.826). */
    baseline_expect(b, d, &band);
    assert_true(band.ok);
    assert_true(fabs(band.centre - 687.5) < 1e-9);
    assert_true(fabs(band.spread - (14.826 + 7.413) / 2) < 1e-9);

    char text[256];
    baseline_expect(b, d + 8 * HOUR_MS + 30 * MIN_MS, &band);
    baseline_describe(b, &band, text, sizeof(text));
    assert_string_equal(text, "expected 435.522\xe2\x80\x93"
                              "524.478 for 08:00 from the last 3 days (median 480, MAD 14.826, k "
                              "3)");
    baseline_free(b);

    /* Slot 09:00 has one day of data where two are needed: 08:45 uses 08:00
     * alone. */
    missing = 9;
    b = baseline_new(&p);
    feed(b, &p, from, from + 3 * DAY_MS, ramp, &missing);
    baseline_expect(b, d + 8 * HOUR_MS + 45 * MIN_MS, &band);
    assert_true(band.ok);
    assert_true(band.centre == 480);
    baseline_expect(b, d + 8 * HOUR_MS + 15 * MIN_MS, &band);
    assert_true(fabs(band.centre - 465) < 1e-9);
    baseline_free(b);
}

static double by_hour(const struct baseline_params *p, int64_t start, void *ctx)
{
    (void)ctx;
    struct tz_local l;
    tz_to_local(p->tz, start, &l);
    return l.hour * 100 + 1;
}

/* The baseline follows local time through the spring-forward week: the
 * Sunday 02:00 slot had no instance that week, so it has one season less. */
static void test_dst_baseline(void **state)
{
    (void)state;
    const struct tz *berlin = zone("Europe/Berlin");
    struct baseline_params p = week_params(berlin);
    p.min_seasons = 1;
    struct baseline *b = baseline_new(&p);
    /* Monday 2026-03-02 00:00 CET to Monday 2026-04-13 00:00 CEST. */
    feed(b, &p, utc(2026, 3, 1, 23, 0), utc(2026, 4, 12, 22, 0), by_hour, NULL);
    struct baseline_band band;
    /* Monday 2026-04-13 08:30 CEST: the 08:00 slot of four Mondays. */
    baseline_expect(b, utc(2026, 4, 13, 6, 30), &band);
    assert_true(band.ok);
    assert_int_equal(band.slot, 8);
    assert_int_equal(band.seasons_used, 4);
    assert_true(band.centre == 801);
    /* Sunday 2026-04-19 02:30 CEST: 2026-03-29 had no 02:00. */
    baseline_expect(b, utc(2026, 4, 19, 0, 30), &band);
    assert_true(band.ok);
    assert_int_equal(band.slot, 6 * 24 + 2);
    assert_int_equal(band.seasons_used, 3);
    assert_true(band.centre == 201);
    baseline_free(b);
}

static void test_describe_numbers(void **state)
{
    (void)state;
    struct baseline_params p = week_params(NULL);
    struct baseline *b = baseline_new(&p);
    int64_t mon = utc(2026, 3, 2, 8, 0);
    const double vals[] = {1500, 1550, 1550, 1700};
    for (int i = 0; i < 4; i++)
        baseline_put(b, mon + i * WEEK_MS, vals[i]);
    struct baseline_band band;
    char text[256];
    baseline_expect(b, mon + 4 * WEEK_MS + 30 * MIN_MS, &band);
    assert_true(band.ok);
    baseline_describe(b, &band, text, sizeof(text));
    assert_string_equal(text, "expected 1,438.805\xe2\x80\x93"
                              "1,661.195 for Monday 08:00 from the last 4 Mondays (median 1,550, "
                              "MAD 37.065, k 3)");
    baseline_free(b);

    /* Small, large and negative numbers, and the other centres and spreads. */
    struct {
        double v, k;
        enum seasonal_centre c;
        enum seasonal_spread s;
        const char *want;
    } cases[] = {
        {1234.5678, 3, CENTRE_MEDIAN, SPREAD_MAD,
         "expected 1,234.568\xe2\x80\x93"
         "1,234.568 for Monday 08:00 from the last Monday (median 1,234.568, MAD 0, k 3)"},
        {0.00123, 2.5, CENTRE_MEAN, SPREAD_STDDEV,
         "expected 0.00123\xe2\x80\x93"
         "0.00123 for Monday 08:00 from the last Monday (mean 0.00123, stddev 0, k 2.5)"},
        {-1234567.25, 0.125, CENTRE_TRIMMED_MEAN, SPREAD_MAD,
         "expected -1,234,567.25\xe2\x80\x93"
         "-1,234,567.25 for Monday 08:00 from the last Monday (trimmed mean -1,234,567.25, MAD "
         "0, k 0.125)"},
        {0.5, 1, CENTRE_MEDIAN, SPREAD_MAD,
         "expected 0.5\xe2\x80\x93"
         "0.5 for Monday 08:00 from the last Monday (median 0.5, MAD 0, k 1)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        p.n_seasons = 1;
        p.min_seasons = 1;
        p.k = cases[i].k;
        p.centre = cases[i].c;
        p.spread = cases[i].s;
        b = baseline_new(&p);
        baseline_put(b, mon, cases[i].v);
        baseline_expect(b, mon + WEEK_MS + 30 * MIN_MS, &band);
        assert_true(band.ok);
        baseline_describe(b, &band, text, sizeof(text));
        assert_string_equal(text, cases[i].want);
        /* A short buffer is cut, never overrun. */
        char small[12];
        baseline_describe(b, &band, small, sizeof(small));
        assert_int_equal(strlen(small), sizeof(small) - 1);
        baseline_free(b);
    }

    /* The day season says "days"; a single needed season is singular. */
    p = week_params(NULL);
    p.season = SEASON_DAY;
    p.n_seasons = 28;
    p.min_seasons = 1;
    b = baseline_new(&p);
    baseline_expect(b, mon, &band);
    baseline_describe(b, &band, text, sizeof(text));
    assert_string_equal(text, "no baseline for 08:00: too little history (0 of 1 day needed)");
    baseline_free(b);
}

/* For random data and settings, every band holds its centre and is at
 * least 2 * min_band wide. */
static void test_band_property(void **state)
{
    (void)state;
    rng_seed(7);
    int checked = 0;
    for (int round = 0; round < 200; round++) {
        struct baseline_params p = week_params(NULL);
        p.season = rng() < 0.5 ? SEASON_DAY : SEASON_WEEK;
        p.slot_ms = rng() < 0.5 ? HOUR_MS : 30 * MIN_MS;
        p.n_seasons = 1 + (int)(rng() * 6);
        p.min_seasons = 1 + (int)(rng() * p.n_seasons);
        p.centre = (enum seasonal_centre)(int)(rng() * 3);
        p.spread = rng() < 0.5 ? SPREAD_MAD : SPREAD_STDDEV;
        p.trim = rng() * 0.45;
        p.k = rng() * 5;
        p.min_band = rng() < 0.3 ? 0 : rng() * 10;
        p.min_band_ratio = rng() < 0.3 ? 0 : rng() * 0.2;
        struct baseline *b = baseline_new(&p);
        assert_non_null(b);
        int64_t season = p.season == SEASON_WEEK ? WEEK_MS : DAY_MS;
        int64_t from = utc(2026, 3, 2, 0, 0);
        int64_t to = from + (p.n_seasons + 1) * season;
        double scale = pow(10, rng() * 8 - 2);
        for (int64_t t = from; t < to; t += p.slot_ms) {
            double x = rng();
            double v = x < 0.2 ? NAN : (rng() - 0.3) * scale;
            baseline_put(b, t, v);
        }
        for (int i = 0; i < 50; i++) {
            int64_t t = to + (int64_t)(rng() * (double)season);
            struct baseline_band band;
            baseline_expect(b, t, &band);
            if (!band.ok) {
                assert_true(band.seasons_used < p.min_seasons);
                continue;
            }
            checked++;
            assert_true(band.seasons_used >= p.min_seasons);
            if (!(band.low <= band.centre && band.centre <= band.high))
                fail_msg("round %d: %g <= %g <= %g", round, band.low, band.centre, band.high);
            double tol = 1e-9 * fmax(1, fabs(band.centre));
            if (!(band.high - band.low >= 2 * p.min_band - tol))
                fail_msg("round %d: width %g < 2 * %g", round, band.high - band.low, p.min_band);
            assert_true(band.high - band.low >= 2 * p.min_band_ratio * fabs(band.centre) - tol);
            assert_true(band.spread >= 0);
        }
        baseline_free(b);
    }
    assert_true(checked > 2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_median),
        cmocka_unit_test(test_trimmed_mean),
        cmocka_unit_test(test_mad),
        cmocka_unit_test(test_stddev),
        cmocka_unit_test(test_slots_utc),
        cmocka_unit_test(test_slots_berlin),
        cmocka_unit_test(test_slots_spring_forward),
        cmocka_unit_test(test_slots_fall_back),
        cmocka_unit_test(test_slots_half_hour_gap),
        cmocka_unit_test(test_slots_year_oracle),
        cmocka_unit_test(test_params_from_cfg),
        cmocka_unit_test(test_new_invalid),
        cmocka_unit_test(test_weekly_pattern),
        cmocka_unit_test(test_flat_floors),
        cmocka_unit_test(test_short_history),
        cmocka_unit_test(test_missing_week),
        cmocka_unit_test(test_gap),
        cmocka_unit_test(test_holidays),
        cmocka_unit_test(test_interpolation),
        cmocka_unit_test(test_dst_baseline),
        cmocka_unit_test(test_describe_numbers),
        cmocka_unit_test(test_band_property),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
