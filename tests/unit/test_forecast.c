/*
 * test_forecast.c - unit tests for src/rules/forecast.c: linear, quadratic
 * and exponential fits, their crossing times and their error messages.
 *
 * Data is generated from known curves, so fitted coefficients and crossing
 * instants are known exactly; noisy data comes from a seeded xorshift
 * generator, so every run sees the same numbers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rules/forecast.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEC_MS  1000LL
#define HOUR_MS (3600LL * 1000)
#define DAY_MS  (24 * HOUR_MS)

/* cmocka's float assertions work in float; these values need double. */
#define assert_near(a, b, eps) assert_near_at((a), (b), (eps), __LINE__)

static void assert_near_at(double a, double b, double eps, int line)
{
    if (!(fabs(a - b) <= eps))
        fail_msg("line %d: %.17g is not within %g of %.17g", line, a, eps, b);
}

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

struct series {
    int64_t *t;
    double *v;
    size_t n;
};

/* n points from start every step ms; fn gives the value at u seconds
 * after start. */
static struct series make(int64_t start, int64_t step, size_t n, double (*fn)(double u))
{
    struct series s;
    s.t = malloc(n * sizeof(int64_t));
    s.v = malloc(n * sizeof(double));
    s.n = n;
    assert_non_null(s.t);
    assert_non_null(s.v);
    for (size_t i = 0; i < n; i++) {
        s.t[i] = start + (int64_t)i * step;
        s.v[i] = fn((double)((int64_t)i * step) / 1000.0);
    }
    return s;
}

static void drop(struct series *s)
{
    free(s->t);
    free(s->v);
}

static void fit_ok(enum forecast_model m, const struct series *s, struct forecast_fit *f)
{
    char err[200] = "";
    if (forecast_fit(m, s->t, s->v, s->n, f, err, sizeof(err)) != 0)
        fail_msg("forecast_fit: %s", err);
}

static void check_when(const struct forecast_fit *f, double limit, enum rule_dir dir, int64_t from,
                       int64_t until, int64_t want)
{
    int64_t when = -1;
    if (!forecast_crossing(f, limit, dir, from, until, &when))
        fail_msg("no crossing of %g, want one at %lld", limit, (long long)want);
    if (when != want)
        fail_msg("crossing of %g at %lld, want %lld (off by %lld ms)", limit, (long long)when,
                 (long long)want, (long long)(when - want));
}

static void check_never(const struct forecast_fit *f, double limit, enum rule_dir dir, int64_t from,
                        int64_t until)
{
    int64_t when = -1;
    if (forecast_crossing(f, limit, dir, from, until, &when))
        fail_msg("crossing of %g at %lld, want none", limit, (long long)when);
    assert_int_equal(when, -1);
}

/* 1 TB free, filling at 1 MB/s: empty after exactly 10^6 s. */
static double disk(double u)
{
    return 1e12 - 1e6 * u;
}

static void test_linear_disk(void **state)
{
    (void)state;
    int64_t start = utc(2026, 3, 1, 0, 0);
    struct series s = make(start, 60 * SEC_MS, 3 * 1440 + 1, disk);
    struct forecast_fit f;
    fit_ok(FORECAST_LINEAR, &s, &f);
    int64_t t0 = start + 3 * DAY_MS;
    assert_int_equal(f.model, FORECAST_LINEAR);
    assert_int_equal(f.t0, t0);
    assert_int_equal(f.n, 3 * 1440 + 1);
    assert_near(f.b, -1e6, 1e-6);
    assert_near(f.a, 1e12 - 1e6 * 3 * 86400, 1e-2);
    assert_true(f.c == 0);
    assert_near(f.r2, 1, 1e-12);
    assert_true(f.residual_sd < 1e-2);
    assert_near(forecast_value(&f, start), 1e12, 1e-2);
    /* Full 1,000,000 s after the start: 8.57 days after the last point. */
    int64_t full = start + 1000000 * SEC_MS;
    check_never(&f, 0, RULE_BELOW, t0, t0 + 7 * DAY_MS);
    check_when(&f, 0, RULE_BELOW, t0, t0 + 14 * DAY_MS, full);
    check_when(&f, 0, RULE_BELOW, t0, full, full);
    check_never(&f, 0, RULE_BELOW, t0, full - 1);
    /* 10% of the disk left: 900,000 s after the start. */
    check_when(&f, 1e11, RULE_BELOW, t0, t0 + 14 * DAY_MS, start + 900000 * SEC_MS);
    /* A falling series never rises to a level above it. */
    check_never(&f, 2e12, RULE_ABOVE, t0, t0 + 365 * DAY_MS);
    drop(&s);
}

/* Growth that speeds up: 1000 + 2u + 0.0005u^2, at 5,201,000 when
 * u = 100,000 s. */
static double accel(double u)
{
    return 1000 + 2 * u + 0.0005 * u * u;
}

static void test_quadratic_accelerating(void **state)
{
    (void)state;
    int64_t start = utc(2026, 3, 1, 0, 0);
    struct series s = make(start, 300 * SEC_MS, 289, accel);
    struct forecast_fit q, l;
    fit_ok(FORECAST_QUADRATIC, &s, &q);
    int64_t t0 = start + DAY_MS;
    assert_int_equal(q.t0, t0);
    /* In x = seconds from t0 = u - 86400. */
    assert_near(q.a, 1000 + 2 * 86400.0 + 0.0005 * 86400.0 * 86400.0, 1e-6);
    assert_near(q.b, 2 + 0.001 * 86400, 1e-9);
    assert_near(q.c, 0.0005, 1e-15);
    assert_near(q.r2, 1, 1e-12);
    assert_true(q.residual_sd < 1e-6);
    int64_t want = start + 100000 * SEC_MS;
    check_when(&q, 5201000, RULE_ABOVE, t0, t0 + 7 * DAY_MS, want);
    check_never(&q, 5201000, RULE_ABOVE, t0, want - 1);
    /* Going down to a low level never happens on the rising side. */
    check_never(&q, 0, RULE_BELOW, t0, t0 + 7 * DAY_MS);

    /* A straight line through the same points is too late. */
    fit_ok(FORECAST_LINEAR, &s, &l);
    assert_true(l.r2 < q.r2);
    int64_t lw = 0;
    assert_true(forecast_crossing(&l, 5201000, RULE_ABOVE, t0, t0 + 7 * DAY_MS, &lw));
    assert_true(lw > want + HOUR_MS);
    drop(&s);
}

/* Doubling every hour from 100: 102,400 after exactly 10 h. */
static double doubling(double u)
{
    return 100 * pow(2, u / 3600);
}

static double halving(double u)
{
    return 1024 * pow(2, -u / 3600);
}

static void test_exponential(void **state)
{
    (void)state;
    int64_t start = utc(2026, 3, 1, 0, 0);
    struct series s = make(start, 300 * SEC_MS, 73, doubling);
    struct forecast_fit f;
    fit_ok(FORECAST_EXPONENTIAL, &s, &f);
    int64_t t0 = start + 6 * HOUR_MS;
    assert_int_equal(f.t0, t0);
    assert_near(f.b, log(2) / 3600, 1e-15);
    assert_near(f.a, log(6400), 1e-12);
    assert_near(f.r2, 1, 1e-12);
    assert_true(f.residual_sd < 1e-6);
    assert_near(forecast_value(&f, start + 10 * HOUR_MS), 102400, 1e-6);
    check_when(&f, 102400, RULE_ABOVE, t0, t0 + DAY_MS, start + 10 * HOUR_MS);
    check_never(&f, 102400, RULE_ABOVE, t0, start + 10 * HOUR_MS - 1);
    /* e^x never falls, here, and never reaches 0 or below at all. */
    check_never(&f, 50, RULE_BELOW, t0, t0 + 365 * DAY_MS);
    check_never(&f, 0, RULE_BELOW, t0, t0 + 365 * DAY_MS);
    /* A linear fit of the same data is far too late. */
    struct forecast_fit l;
    fit_ok(FORECAST_LINEAR, &s, &l);
    int64_t lw = 0;
    assert_true(forecast_crossing(&l, 102400, RULE_ABOVE, t0, t0 + 30 * DAY_MS, &lw));
    assert_true(lw > start + 20 * HOUR_MS);
    drop(&s);

    /* Halving from 1024: below 1 after 10 h; never to 0. */
    s = make(start, 300 * SEC_MS, 73, halving);
    fit_ok(FORECAST_EXPONENTIAL, &s, &f);
    check_when(&f, 1, RULE_BELOW, t0, t0 + DAY_MS, start + 10 * HOUR_MS);
    check_never(&f, 0, RULE_BELOW, t0, t0 + 3650 * DAY_MS);
    drop(&s);
}

static double flat(double u)
{
    (void)u;
    return 50;
}

static void test_flat(void **state)
{
    (void)state;
    int64_t start = utc(2026, 3, 1, 0, 0);
    struct series s = make(start, 60 * SEC_MS, 100, flat);
    int64_t t0 = s.t[99];
    const enum forecast_model models[] = {FORECAST_LINEAR, FORECAST_QUADRATIC,
                                          FORECAST_EXPONENTIAL};
    for (size_t i = 0; i < 3; i++) {
        struct forecast_fit f;
        fit_ok(models[i], &s, &f);
        assert_true(f.b == 0);
        assert_true(f.c == 0);
        assert_true(f.r2 == 1);
        assert_true(f.residual_sd < 1e-9);
        assert_near(forecast_value(&f, t0 + 1000 * DAY_MS), 50, 1e-9);
        check_never(&f, 0, RULE_BELOW, t0, t0 + 1000 * DAY_MS);
        check_never(&f, 49.9, RULE_BELOW, t0, t0 + 1000 * DAY_MS);
        check_never(&f, 50.1, RULE_ABOVE, t0, t0 + 1000 * DAY_MS);
        /* Sitting on the limit already counts as reached. */
        check_when(&f, 50, RULE_BELOW, t0, t0 + DAY_MS, t0);
    }
    drop(&s);
}

static double nearly_full(double u)
{
    return 5 - u / 1000;
}

static void test_already_past(void **state)
{
    (void)state;
    int64_t start = utc(2026, 3, 1, 0, 0);
    struct series s = make(start, 60 * SEC_MS, 30, nearly_full);
    struct forecast_fit f;
    fit_ok(FORECAST_LINEAR, &s, &f);
    int64_t t0 = s.t[29];
    check_when(&f, 10, RULE_BELOW, t0, t0 + 7 * DAY_MS, t0);
    /* Even with an empty range ahead. */
    check_when(&f, 10, RULE_BELOW, t0, t0, t0);
    check_never(&f, 0, RULE_BELOW, t0, t0);
    /* Past the limit above, too. */
    check_when(&f, 1, RULE_ABOVE, start, start + DAY_MS, start);
    drop(&s);
}

static double noisy_trend(double u)
{
    return 100 + 0.01 * u + (2 * rng() - 1);
}

static double noise(double u)
{
    (void)u;
    return 100 + (2 * rng() - 1);
}

static void test_noisy(void **state)
{
    (void)state;
    rng_seed(42);
    int64_t start = utc(2026, 3, 1, 0, 0);
    struct series s = make(start, 60 * SEC_MS, 1000, noisy_trend);
    struct forecast_fit f;
    fit_ok(FORECAST_LINEAR, &s, &f);
    /* The trend spans 600 against noise of sd 1/sqrt(3). */
    assert_true(f.r2 > 0.999 && f.r2 < 1);
    assert_true(f.residual_sd > 0.5 && f.residual_sd < 0.65);
    assert_near(f.b, 0.01, 1e-4);
    fit_ok(FORECAST_QUADRATIC, &s, &f);
    assert_true(f.r2 > 0.999 && f.r2 < 1);
    assert_near(f.c, 0, 1e-8);
    drop(&s);

    s = make(start, 60 * SEC_MS, 1000, noise);
    fit_ok(FORECAST_LINEAR, &s, &f);
    assert_true(f.r2 >= 0 && f.r2 < 0.02);
    assert_true(f.residual_sd > 0.5 && f.residual_sd < 0.65);
    fit_ok(FORECAST_EXPONENTIAL, &s, &f);
    assert_true(f.r2 >= 0 && f.r2 < 0.02);
    /* In value units, not log units. */
    assert_true(f.residual_sd > 0.5 && f.residual_sd < 0.65);
    drop(&s);
}

static void check_error(enum forecast_model m, const int64_t *t, const double *v, size_t n,
                        const char *want)
{
    struct forecast_fit f;
    char err[200] = "";
    assert_int_equal(forecast_fit(m, t, v, n, &f, err, sizeof(err)), -1);
    assert_string_equal(err, want);
}

static void test_errors(void **state)
{
    (void)state;
    const int64_t t[] = {1000, 2000, 3000, 4000};
    const int64_t same[] = {5000, 5000, 5000, 5000};
    const int64_t two[] = {1000, 1000, 2000, 2000};
    const double v[] = {1, 2, 3, 4};
    const double gaps[] = {NAN, 2, INFINITY, 4};
    const double zero[] = {1, 0, 3, 4};
    const double neg[] = {-3.5, 1, 3, 4};

    check_error(FORECAST_LINEAR, t, v, 1,
                "a linear fit needs at least 2 points with a value, got 1");
    check_error(FORECAST_LINEAR, NULL, NULL, 0,
                "a linear fit needs at least 2 points with a value, got 0");
    check_error(FORECAST_QUADRATIC, t, v, 2,
                "a quadratic fit needs at least 3 points with a value, got 2");
    check_error(FORECAST_QUADRATIC, t, gaps, 4,
                "a quadratic fit needs at least 3 points with a value, got 2");
    check_error(FORECAST_EXPONENTIAL, t, gaps, 3,
                "an exponential fit needs at least 2 points with a value, got 1");
    check_error(FORECAST_LINEAR, same, v, 3, "all 3 points have the same time");
    check_error(FORECAST_EXPONENTIAL, same, v, 4, "all 4 points have the same time");
    check_error(FORECAST_QUADRATIC, two, v, 4,
                "a quadratic fit needs points at 3 different times at least");
    check_error(FORECAST_EXPONENTIAL, t, zero, 4,
                "an exponential fit needs values > 0, but point 2 is 0");
    check_error(FORECAST_EXPONENTIAL, t, neg, 4,
                "an exponential fit needs values > 0, but point 1 is -3.5");
    check_error((enum forecast_model)7, t, v, 4, "unknown forecast model 7");
    check_error(FORECAST_LINEAR, NULL, v, 4, "no points given");

    /* Gaps are skipped, not fatal: the last usable point is t0. */
    struct forecast_fit f;
    char err[200] = "";
    assert_int_equal(forecast_fit(FORECAST_LINEAR, t, gaps, 4, &f, err, sizeof(err)), 0);
    assert_int_equal(f.n, 2);
    assert_int_equal(f.t0, 4000);
    assert_near(f.b, 1, 1e-12);
    const double tail_gap[] = {1, 2, 3, NAN};
    assert_int_equal(forecast_fit(FORECAST_LINEAR, t, tail_gap, 4, &f, err, sizeof(err)), 0);
    assert_int_equal(f.t0, 3000);
    assert_near(f.a, 3, 1e-12);
    /* Exactly enough points: no spare degree of freedom for the residuals. */
    assert_int_equal(forecast_fit(FORECAST_QUADRATIC, t, v, 3, &f, err, sizeof(err)), 0);
    assert_true(f.residual_sd == 0);
    /* A NULL err is allowed. */
    assert_int_equal(forecast_fit(FORECAST_LINEAR, t, v, 1, &f, NULL, 0), -1);
}

/* Root picking on hand-made parabolas around t0. */
static void test_quadratic_roots(void **state)
{
    (void)state;
    int64_t t0 = utc(2026, 3, 1, 0, 0);
    struct forecast_fit hill = {.model = FORECAST_QUADRATIC, .t0 = t0, .a = 100, .b = 0, .c = -1};
    /* 100 - x^2 rises through 0 at x = -10 and falls through it at +10. */
    check_when(&hill, 0, RULE_ABOVE, t0 - 20 * SEC_MS, t0 + 20 * SEC_MS, t0 - 10 * SEC_MS);
    check_when(&hill, 0, RULE_BELOW, t0, t0 + 20 * SEC_MS, t0 + 10 * SEC_MS);
    check_never(&hill, 0, RULE_BELOW, t0 - 5 * SEC_MS, t0 + 5 * SEC_MS);
    check_never(&hill, 200, RULE_ABOVE, t0 - 20 * SEC_MS, t0 + 20 * SEC_MS);
    /* From before the hill, falling below 50 means the far side: the
     * near-side root at x = -sqrt(50) is a rise. */
    int64_t want = t0 + (int64_t)ceil(sqrt(50) * 1000);
    check_when(&hill, 50, RULE_BELOW, t0 - 3 * SEC_MS, t0 + 20 * SEC_MS, want);

    struct forecast_fit bowl = {.model = FORECAST_QUADRATIC, .t0 = t0, .a = -100, .b = 0, .c = 1};
    /* x^2 - 100 falls through 0 at -10 and rises through it at +10. */
    check_when(&bowl, 0, RULE_BELOW, t0 - 20 * SEC_MS, t0 + 20 * SEC_MS, t0 - 10 * SEC_MS);
    check_when(&bowl, 0, RULE_ABOVE, t0, t0 + 20 * SEC_MS, t0 + 10 * SEC_MS);
    check_never(&bowl, -200, RULE_BELOW, t0 - 20 * SEC_MS, t0 + 20 * SEC_MS);
    /* Touching the limit at the bottom counts. */
    check_when(&bowl, -100, RULE_BELOW, t0 - 20 * SEC_MS, t0 + 20 * SEC_MS, t0);

    /* A degenerate "quadratic" with c = 0 is a line. */
    struct forecast_fit line = {.model = FORECAST_QUADRATIC, .t0 = t0, .a = 10, .b = -1, .c = 0};
    check_when(&line, 0, RULE_BELOW, t0, t0 + DAY_MS, t0 + 10 * SEC_MS);

    /* Bad arguments. */
    int64_t when = -1;
    assert_false(forecast_crossing(NULL, 0, RULE_BELOW, t0, t0 + DAY_MS, &when));
    assert_false(forecast_crossing(&line, NAN, RULE_BELOW, t0, t0 + DAY_MS, &when));
    assert_false(forecast_crossing(&line, 0, RULE_BOTH, t0, t0 + DAY_MS, &when));
    assert_false(forecast_crossing(&line, 0, RULE_BELOW, t0, t0 + DAY_MS, NULL));
    assert_int_equal(when, -1);
}

/* For random exact lines, the crossing is the closed-form instant rounded
 * up to the millisecond. */
static void test_linear_property(void **state)
{
    (void)state;
    rng_seed(99);
    int64_t start = utc(2026, 3, 1, 0, 0);
    int found = 0;
    for (int round = 0; round < 500; round++) {
        double a = (rng() - 0.5) * 1e6, b = (rng() - 0.5) * 100;
        int64_t step = 1000 + (int64_t)(rng() * 600000);
        size_t n = 2 + (size_t)(rng() * 50);
        int64_t t[64];
        double v[64];
        for (size_t i = 0; i < n; i++) {
            t[i] = start + (int64_t)i * step;
            v[i] = a + b * (double)((int64_t)i * step) / 1000;
        }
        struct forecast_fit f;
        char err[100];
        assert_int_equal(forecast_fit(FORECAST_LINEAR, t, v, n, &f, err, sizeof(err)), 0);
        double limit = (rng() - 0.5) * 2e6;
        enum rule_dir dir = rng() < 0.5 ? RULE_BELOW : RULE_ABOVE;
        int64_t from = t[n - 1], until = from + 30 * DAY_MS, when = 0;
        bool got = forecast_crossing(&f, limit, dir, from, until, &when);
        double v_from = a + b * (double)(from - start) / 1000;
        bool past = dir == RULE_BELOW ? v_from <= limit : v_from >= limit;
        if (past) {
            assert_true(got);
            assert_int_equal(when, from);
            continue;
        }
        double root = (double)start + (limit - a) / b * 1000;
        bool right_way = dir == RULE_BELOW ? b < 0 : b > 0;
        if (!right_way || root > (double)until + 1) {
            assert_false(got);
            continue;
        }
        if (root <= (double)until - 1) {
            assert_true(got);
            found++;
            if (llabs(when - (int64_t)ceil(root)) > 1)
                fail_msg("round %d: when %lld, root %.3f", round, (long long)when, root);
        }
    }
    assert_true(found > 20);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(forecast_model_name(FORECAST_LINEAR), "linear");
    assert_string_equal(forecast_model_name(FORECAST_QUADRATIC), "quadratic");
    assert_string_equal(forecast_model_name(FORECAST_EXPONENTIAL), "exponential");
    assert_string_equal(forecast_model_name((enum forecast_model)9), "unknown");
    assert_true(isnan(forecast_value(NULL, 0)));
    struct forecast_fit f = {.model = FORECAST_LINEAR, .t0 = 10000, .a = 5, .b = 2};
    assert_true(forecast_value(&f, 13000) == 11);
    assert_true(forecast_value(&f, 9500) == 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_disk),     cmocka_unit_test(test_quadratic_accelerating),
        cmocka_unit_test(test_exponential),     cmocka_unit_test(test_flat),
        cmocka_unit_test(test_already_past),    cmocka_unit_test(test_noisy),
        cmocka_unit_test(test_errors),          cmocka_unit_test(test_quadratic_roots),
        cmocka_unit_test(test_linear_property), cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
