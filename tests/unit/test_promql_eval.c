/*
 * test_promql_eval.c - PromQL evaluation (src/metrics/promql*.c) over the
 * fake storage of test_promql_fake.h.
 *
 * The bulk of the expected values are Prometheus 2.42's own answers for the
 * same series (test_promql_cases.h, from promtool). The other tests check
 * what promtool cannot show: range queries step by step against instant
 * ones and reading each selector once, range-vector results, result order,
 * the error statuses, the sample limit, the rollup path against raw data,
 * the JSON shape, and the speed of a typical dashboard query.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "metrics/promql.h"
#include "metrics/promql_int.h"
#include "test_promql_cases.h"
#include "test_promql_fake.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIN_MS  60000LL
#define HOUR_MS 3600000LL

static void load(struct fake *f, const char *const fx[][2])
{
    for (size_t i = 0; fx[i][0]; i++)
        fake_add(f, fx[i][0], fx[i][1], 0, MIN_MS);
}

/* Prometheus's text of a label set: {a="1", b="2"}. */
static size_t ls_text(const struct labelset *ls, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "{");
    for (size_t i = 0; i < ls->n && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s=\"%s\"", i ? ", " : "", ls->v[i].name,
                              ls->v[i].value);
    if (o < len)
        o += (size_t)snprintf(buf + o, len - o, "}");
    return o;
}

static int series_cmp(const void *a, const void *b)
{
    return pq_ls_cmp(&((const struct promql_series *)a)->ls,
                     &((const struct promql_series *)b)->ls);
}

/*
 * A result as text: "{labels} value, ..." for vectors (and "{} v" for a
 * scalar, as promtool prints it); matrices as "{labels} v@t v@t; ...".
 * sort: order vectors by labels first (promtool's answers are sorted).
 */
static char *render(struct promql_result *r, bool sort)
{
    size_t cap = 1 << 16, o = 0;
    char *buf = malloc(cap);
    buf[0] = '\0';
    char v[32];
    if (r->type == PROMQL_SCALAR) {
        promql_format_value(r->scalar, v);
        snprintf(buf, cap, "{} %s", v);
        return buf;
    }
    if (r->type == PROMQL_STRING) {
        snprintf(buf, cap, "string %s", r->string);
        return buf;
    }
    if (sort)
        qsort(r->series, r->n, sizeof(*r->series), series_cmp);
    for (size_t i = 0; i < r->n && o + 4096 < cap; i++) {
        const struct promql_series *s = &r->series[i];
        if (i)
            o += (size_t)snprintf(buf + o, cap - o, r->type == PROMQL_MATRIX ? "; " : ", ");
        o += ls_text(&s->ls, buf + o, cap - o);
        for (size_t j = 0; j < s->n && o + 64 < cap; j++) {
            promql_format_value(s->v[j], v);
            if (r->type == PROMQL_MATRIX)
                o += (size_t)snprintf(buf + o, cap - o, " %s@%lld", v, (long long)s->t[j]);
            else
                o += (size_t)snprintf(buf + o, cap - o, " %s", v);
        }
    }
    return buf;
}

/* Evaluates q at t_ms; returns the rendered result or "ERR(status) message". */
static char *run(struct fake *f, const char *q, int64_t t_ms, const struct promql_opts *o,
                 bool sort)
{
    struct promql_expr *e = NULL;
    char err[512] = "";
    int rc = promql_parse(q, &e, err, sizeof(err));
    char *out;
    if (rc == PROMQL_OK) {
        struct promql_storage st = fake_storage(f, false);
        struct promql_result r;
        rc = promql_eval_instant(&st, e, t_ms, o, &r, err, sizeof(err));
        if (rc == PROMQL_OK) {
            out = render(&r, sort);
            promql_result_free(&r);
            promql_free(e);
            return out;
        }
    }
    promql_free(e);
    out = malloc(600);
    snprintf(out, 600, "ERR(%d) %s", rc, err);
    return out;
}

static void expect(struct fake *f, const char *q, int64_t t_ms, const char *want)
{
    char *got = run(f, q, t_ms, NULL, false);
    if (strcmp(got, want) != 0)
        fail_msg("%s at %lld\n  got:  %s\n  want: %s", q, (long long)t_ms, got, want);
    free(got);
}

static void check_cases(const char *const fx[][2], const struct icase *cases)
{
    struct fake f = {0};
    load(&f, fx);
    int bad = 0;
    for (size_t i = 0; cases[i].query; i++) {
        char *got = run(&f, cases[i].query, cases[i].seconds * 1000LL, NULL, true);
        if (strcmp(got, cases[i].want) != 0) {
            print_error("%s at %ds\n  got:  %s\n  want: %s\n", cases[i].query, cases[i].seconds,
                        got, cases[i].want);
            bad++;
        }
        free(got);
    }
    fake_free(&f);
    if (bad)
        fail_msg("%d answers differ from Prometheus's", bad);
}

static void test_prometheus_counters(void **state)
{
    (void)state;
    check_cases(fx_counters, cases_counters);
}

static void test_prometheus_gauges(void **state)
{
    (void)state;
    check_cases(fx_gauges, cases_gauges);
}

static void test_prometheus_histograms(void **state)
{
    (void)state;
    check_cases(fx_hist, cases_hist);
}

static void test_prometheus_operators(void **state)
{
    (void)state;
    check_cases(fx_bin, cases_bin);
}

static size_t count_selectors(const struct promql_expr *e)
{
    size_t n = (e->kind == N_VECSEL || e->kind == N_MATSEL) ? 1 : 0;
    for (size_t i = 0; i < e->na; i++)
        n += count_selectors(e->a[i]);
    return n;
}

/*
 * A range query agrees with instant queries at each of its steps, and reads
 * each selector from the storage once, not once per step.
 */
static void check_range_vs_instant(const char *const fx[][2], const struct icase *cases)
{
    struct fake f = {0};
    load(&f, fx);
    struct promql_storage st = fake_storage(&f, false);
    const int64_t start = 0, end = 660 * 1000, step = 30 * 1000;
    int bad = 0;
    for (size_t i = 0; cases[i].query; i++) {
        if (i > 0 && strcmp(cases[i].query, cases[i - 1].query) == 0)
            continue;
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            if (strcmp(cases[j].query, cases[i].query) == 0)
                seen = true;
        if (seen)
            continue;
        struct promql_expr *e = NULL;
        char err[512];
        assert_int_equal(promql_parse(cases[i].query, &e, err, sizeof(err)), PROMQL_OK);
        struct promql_result r;
        f.selects = 0;
        int rc = promql_eval_range(&st, e, start, end, step, NULL, &r, err, sizeof(err));
        if (rc != PROMQL_OK) {
            /* Range queries fail where instant ones fail (e.g. twins at some step). */
            print_error("%s: range query failed: %s\n", cases[i].query, err);
            bad++;
            promql_free(e);
            continue;
        }
        if ((size_t)f.selects != count_selectors(e)) {
            print_error("%s: %d selects for %zu selectors\n", cases[i].query, f.selects,
                        count_selectors(e));
            bad++;
        }
        assert_int_equal(r.type, PROMQL_MATRIX);
        for (size_t k = 1; k < r.n; k++)
            assert_true(pq_ls_cmp(&r.series[k - 1].ls, &r.series[k].ls) < 0);
        for (int64_t t = start; t <= end; t += step) {
            /* The step's vector out of the matrix, rendered as an instant answer. */
            struct promql_result one = {.type = PROMQL_VECTOR};
            one.series = calloc(r.n + 1, sizeof(*one.series));
            for (size_t k = 0; k < r.n; k++)
                for (size_t j = 0; j < r.series[k].n; j++)
                    if (r.series[k].t[j] == t) {
                        struct promql_series *s = &one.series[one.n++];
                        s->ls = r.series[k].ls;
                        s->n = 1;
                        s->t = &r.series[k].t[j];
                        s->v = &r.series[k].v[j];
                    }
            char *from_range = render(&one, true);
            free(one.series);
            char *inst = run(&f, cases[i].query, t, NULL, true);
            /* An instant scalar prints as "{} v"; so does the range's one series. */
            if (strcmp(from_range, inst) != 0 && !(inst[0] == '\0' && from_range[0] == '\0')) {
                print_error("%s at %lld ms\n  range:   %s\n  instant: %s\n", cases[i].query,
                            (long long)t, from_range, inst);
                bad++;
            }
            free(from_range);
            free(inst);
        }
        promql_result_free(&r);
        promql_free(e);
    }
    fake_free(&f);
    if (bad)
        fail_msg("%d range answers differ from instant ones", bad);
}

static void test_range_matches_instant(void **state)
{
    (void)state;
    check_range_vs_instant(fx_counters, cases_counters);
    check_range_vs_instant(fx_gauges, cases_gauges);
    check_range_vs_instant(fx_hist, cases_hist);
    check_range_vs_instant(fx_bin, cases_bin);
}

static void test_range_vector_result(void **state)
{
    (void)state;
    struct fake f = {0};
    load(&f, fx_counters);
    /* Both ends of [t - 2m, t] are included (Prometheus 2.x); stale markers are left out. */
    expect(&f, "c{a=\"5\"}[2m]", 480000, "{__name__=\"c\", a=\"5\"} 180@360000 5@480000");
    expect(&f, "c{a=\"5\"}[3m]", 540000, "{__name__=\"c\", a=\"5\"} 180@360000 5@480000 10@540000");
    expect(&f, "(c{a=\"1\"}[1m] offset 5m)", 600000,
           "{__name__=\"c\", a=\"1\"} 50@240000 60@300000");
    expect(&f, "c{a=\"4\"}[1m]", 600000, "");
    fake_free(&f);
}

static void test_lookback_and_staleness(void **state)
{
    (void)state;
    struct fake f = {0};
    fake_add(&f, "m", "1", 0, MIN_MS);
    fake_add(&f, "s", "1 2 stale", 0, MIN_MS);
    /* The lookback includes its start: a sample exactly 5 minutes old still counts. */
    expect(&f, "m", 300000, "{__name__=\"m\"} 1");
    expect(&f, "m", 300001, "");
    struct promql_opts o = {.lookback_ms = 60000};
    char *got = run(&f, "m", 60000, &o, false);
    assert_string_equal(got, "{__name__=\"m\"} 1");
    free(got);
    got = run(&f, "m", 60001, &o, false);
    assert_string_equal(got, "");
    free(got);
    /* A staleness marker ends the series at once. */
    expect(&f, "s", 119999, "{__name__=\"s\"} 2");
    expect(&f, "s", 120000, "");
    expect(&f, "s", 200000, "");
    expect(&f, "count_over_time(s[5m])", 200000, "{} 2");
    fake_free(&f);
}

static void test_order(void **state)
{
    (void)state;
    struct fake f = {0};
    fake_add(&f, "m{a=\"1\"}", "3", 0, MIN_MS);
    fake_add(&f, "m{a=\"2\"}", "NaN", 0, MIN_MS);
    fake_add(&f, "m{a=\"3\"}", "1", 0, MIN_MS);
    fake_add(&f, "m{a=\"4\"}", "2", 0, MIN_MS);
    fake_add(&f, "m{a=\"5\"}", "2", 0, MIN_MS);
    /* Instant vectors come sorted by labels unless the answer is an order. */
    expect(&f, "m * 1", 0, "{a=\"1\"} 3, {a=\"2\"} NaN, {a=\"3\"} 1, {a=\"4\"} 2, {a=\"5\"} 2");
    expect(&f, "sort(m)", 0,
           "{__name__=\"m\", a=\"3\"} 1, {__name__=\"m\", a=\"4\"} 2, {__name__=\"m\", a=\"5\"} 2, "
           "{__name__=\"m\", a=\"1\"} 3, {__name__=\"m\", a=\"2\"} NaN");
    expect(&f, "(sort_desc(m))", 0,
           "{__name__=\"m\", a=\"1\"} 3, {__name__=\"m\", a=\"4\"} 2, {__name__=\"m\", a=\"5\"} 2, "
           "{__name__=\"m\", a=\"3\"} 1, {__name__=\"m\", a=\"2\"} NaN");
    expect(&f, "topk(3, m)", 0,
           "{__name__=\"m\", a=\"1\"} 3, {__name__=\"m\", a=\"4\"} 2, {__name__=\"m\", a=\"5\"} 2");
    expect(&f, "bottomk(2, m)", 0, "{__name__=\"m\", a=\"3\"} 1, {__name__=\"m\", a=\"4\"} 2");
    expect(&f, "topk(0, m)", 0, "");
    expect(&f, "topk(10, m)", 0,
           "{__name__=\"m\", a=\"1\"} 3, {__name__=\"m\", a=\"4\"} 2, {__name__=\"m\", a=\"5\"} 2, "
           "{__name__=\"m\", a=\"3\"} 1, {__name__=\"m\", a=\"2\"} NaN");
    expect(&f, "topk(2.9, m) + 0", 0, "{a=\"1\"} 3, {a=\"4\"} 2");
    fake_free(&f);
}

static void test_exec_errors(void **state)
{
    (void)state;
    struct fake f = {0};
    load(&f, fx_bin);
    fake_add(&f, "d{x=\"1\"}", "1 _ 3", 0, MIN_MS);
    fake_add(&f, "e{x=\"1\"}", "_ 2 _", 0, MIN_MS);
    expect(&f, "a + on(y) b", 60000,
           "ERR(-3) found duplicate series for the match group {} on the right hand-side of the "
           "operation: [{__name__=\"b\", x=\"2\"}, {__name__=\"b\", x=\"1\"}];many-to-many "
           "matching not allowed: matching labels must be unique on one side");
    expect(&f, "b + on(y) group_right a", 60000,
           "ERR(-3) found duplicate series for the match group {} on the left hand-side of the "
           "operation: [{__name__=\"b\", x=\"2\"}, {__name__=\"b\", x=\"1\"}];many-to-many "
           "matching not allowed: matching labels must be unique on one side");
    expect(&f, "a + on() sum(b)", 60000,
           "ERR(-3) multiple matches for labels: many-to-one matching must be explicit "
           "(group_left/group_right)");
    expect(&f, "a + on() group_left sum(b)", 60000, "{x=\"1\", y=\"a\"} 62, {x=\"2\", y=\"a\"} 64");
    expect(&f, "a / on() group_left() (sum(b) * 0 + 1)", 60000,
           "{x=\"1\", y=\"a\"} 2, {x=\"2\", y=\"a\"} 4");
    expect(&f, "label_replace(a, \"x\", \"same\", \"\", \"\")", 60000,
           "ERR(-3) vector cannot contain metrics with the same labelset");
    expect(&f, "label_replace(a, \"x\", \"$1\", \"x\", \"(.*)\")", 60000,
           "{__name__=\"a\", x=\"1\", y=\"a\"} 2, {__name__=\"a\", x=\"2\", y=\"a\"} 4");
    fake_add(&f, "f1{x=\"9\"}", "1 2 3", 0, MIN_MS);
    fake_add(&f, "f2{x=\"9\"}", "4 5 6", 0, MIN_MS);
    expect(&f, "rate({__name__=~\"f1|f2\"}[5m])", 60000,
           "ERR(-3) vector cannot contain metrics with the same labelset");
    expect(&f, "{x=\"1\", y=\"\"} * 2", 60000,
           "ERR(-3) vector cannot contain metrics with the same labelset");
    /* Twins only fail at a step where both have a point. */
    expect(&f, "{__name__=~\"d|e\"} * 2", 0, "{x=\"1\"} 2");
    expect(&f, "{__name__=~\"d|e\"} * 2", 60000,
           "ERR(-3) vector cannot contain metrics with the same labelset");
    expect(&f, "count_values(\"1bad\", a)", 60000, "ERR(-3) invalid label name \"1bad\"");
    expect(&f, "topk(NaN, a)", 60000, "ERR(-3) scalar value NaN overflows int64");
    expect(&f, "holt_winters(a[5m], 1, 0.5)", 60000,
           "ERR(-3) invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000");
    expect(&f, "label_replace(a, \"x\", \"$1\", \"x\", \"(\")", 60000,
           "ERR(-3) invalid regular expression in label_replace(): (");
    expect(&f, "label_replace(a, \"x\", \"$1\", \"x\", \"(a{100}){100}\")", 60000,
           "ERR(-3) invalid regular expression in label_replace(): (a{100}){100}");
    expect(&f, "label_replace(a, \"1x\", \"$1\", \"x\", \"(.*)\")", 60000,
           "ERR(-3) invalid destination label name in label_replace(): 1x");
    expect(&f, "label_join(a, \"j\", \",\", \"a-b\")", 60000,
           "ERR(-3) invalid source label name in label_join(): a-b");
    f.fail = TSDB_EIO;
    expect(&f, "a", 60000, "ERR(-5) storage: fake storage failure");
    f.fail = TSDB_ENOMEM;
    expect(&f, "a", 60000, "ERR(-6) out of memory");
    fake_free(&f);
}

static void test_label_functions(void **state)
{
    (void)state;
    struct fake f = {0};
    fake_add(&f, "up{job=\"api\",instance=\"10.0.0.1:9100\"}", "1", 0, MIN_MS);
    expect(&f, "label_replace(up, \"host\", \"$1\", \"instance\", \"(.*):.*\")", 0,
           "{__name__=\"up\", host=\"10.0.0.1\", instance=\"10.0.0.1:9100\", job=\"api\"} 1");
    expect(&f, "label_replace(up, \"host\", \"${1}-$2x-$$-$0\", \"instance\", \"([^:]*):(.*)\")", 0,
           "{__name__=\"up\", host=\"10.0.0.1--$-10.0.0.1:9100\", instance=\"10.0.0.1:9100\", "
           "job=\"api\"} 1");
    /* As in Go, "$2x" names a group "2x" (there is none): it expands to nothing. */
    expect(&f, "label_replace(up, \"job\", \"\", \"job\", \"api\")", 0,
           "{__name__=\"up\", instance=\"10.0.0.1:9100\"} 1");
    expect(&f, "label_replace(up, \"job\", \"x\", \"job\", \"ap\")", 0,
           "{__name__=\"up\", instance=\"10.0.0.1:9100\", job=\"api\"} 1");
    expect(&f, "label_join(up, \"both\", \"/\", \"job\", \"instance\", \"missing\")", 0,
           "{__name__=\"up\", both=\"api/10.0.0.1:9100/\", instance=\"10.0.0.1:9100\", "
           "job=\"api\"} 1");
    expect(&f, "absent(up{job=\"db\"})", 0, "{job=\"db\"} 1");
    expect(&f, "absent(up{job=\"api\"})", 0, "");
    expect(&f, "absent_over_time(up{job=\"db\",x=~\"y\"}[5m])", 0, "{job=\"db\"} 1");
    expect(&f, "absent(sum(nothing))", 0, "{} 1");
    fake_free(&f);
}

static void test_sample_limit(void **state)
{
    (void)state;
    struct fake f = {0};
    for (int i = 0; i < 10; i++) {
        char name[64];
        snprintf(name, sizeof(name), "m{i=\"%d\"}", i);
        fake_add(&f, name, "0+1x99", 0, 15000);
    }
    struct promql_opts o = {.max_samples = 100};
    /* rate over 10 x 21 samples loads 210 samples: over the limit of 100. */
    char *got = run(&f, "sum(rate(m[5m]))", 1500000, &o, false);
    assert_string_equal(got, "ERR(-4) query processing would load too many samples into memory "
                             "(more than 100)");
    free(got);
    o.max_samples = 1000;
    got = run(&f, "sum(rate(m[5m]))", 1500000, &o, false);
    assert_string_equal(got, "{} 0.6666666666666666");
    free(got);
    /* Points held in a range query count too. */
    struct promql_expr *e = NULL;
    char err[256];
    assert_int_equal(promql_parse("m", &e, err, sizeof(err)), PROMQL_OK);
    struct promql_storage st = fake_storage(&f, false);
    struct promql_result r;
    o.max_samples = 1000;
    assert_int_equal(promql_eval_range(&st, e, 0, 1500000, 1000, &o, &r, err, sizeof(err)),
                     PROMQL_ELIMIT);
    assert_string_equal(err, "query processing would load too many samples into memory (more than "
                             "1000)");
    /* Too many steps, a bad step, a bad range, a range-vector expression. */
    assert_int_equal(promql_eval_range(&st, e, 0, 11000 * 1000, 1000, NULL, &r, err, sizeof(err)),
                     PROMQL_ELIMIT);
    assert_int_equal(promql_eval_range(&st, e, 0, 10999 * 1000, 1000, NULL, &r, err, sizeof(err)),
                     PROMQL_OK);
    promql_result_free(&r);
    assert_int_equal(promql_eval_range(&st, e, 0, 1000, 0, NULL, &r, err, sizeof(err)),
                     PROMQL_EPARSE);
    assert_int_equal(promql_eval_range(&st, e, 1000, 0, 10, NULL, &r, err, sizeof(err)),
                     PROMQL_EPARSE);
    promql_free(e);
    assert_int_equal(promql_parse("m[5m]", &e, err, sizeof(err)), PROMQL_OK);
    assert_int_equal(promql_eval_range(&st, e, 0, 1000, 10, NULL, &r, err, sizeof(err)),
                     PROMQL_EPARSE);
    assert_string_equal(err, "invalid expression type \"range vector\" for range query, must be "
                             "Scalar or instant Vector");
    promql_free(e);
    assert_int_equal(promql_parse("\"text\"", &e, err, sizeof(err)), PROMQL_OK);
    assert_int_equal(promql_eval_range(&st, e, 0, 1000, 10, NULL, &r, err, sizeof(err)),
                     PROMQL_EPARSE);
    assert_int_equal(promql_eval_instant(&st, e, 1500, NULL, &r, err, sizeof(err)), PROMQL_OK);
    assert_int_equal(r.type, PROMQL_STRING);
    assert_string_equal(r.string, "text");
    promql_result_free(&r);
    promql_free(e);
    fake_free(&f);
}

static void test_range_scalar_and_steps(void **state)
{
    (void)state;
    struct fake f = {0};
    fake_add(&f, "m", "1 2 3 4 5", 0, MIN_MS);
    struct promql_storage st = fake_storage(&f, false);
    struct promql_expr *e = NULL;
    char err[256];
    struct promql_result r;
    assert_int_equal(promql_parse("time() * 2", &e, err, sizeof(err)), PROMQL_OK);
    assert_int_equal(promql_eval_range(&st, e, 1000, 3500, 1000, NULL, &r, err, sizeof(err)),
                     PROMQL_OK);
    char *got = render(&r, false);
    assert_string_equal(got, "{} 2@1000 4@2000 6@3000");
    free(got);
    promql_result_free(&r);
    promql_free(e);
    /* Gaps: a series only has points where it has data; offsets shift every step. */
    assert_int_equal(promql_parse("m offset 1m", &e, err, sizeof(err)), PROMQL_OK);
    assert_int_equal(
        promql_eval_range(&st, e, 0, 10 * MIN_MS, 2 * MIN_MS, NULL, &r, err, sizeof(err)),
        PROMQL_OK);
    got = render(&r, false);
    assert_string_equal(got, "{__name__=\"m\"} 2@120000 4@240000 5@360000 5@480000 5@600000");
    free(got);
    assert_int_equal(f.selects, 1);
    assert_false(r.used_rollup);
    promql_result_free(&r);
    promql_free(e);

    /* Range functions fail on twins even when they never share a step, as Prometheus's do. */
    fake_add(&f, "f1{x=\"9\"}", "1 2 3", 0, MIN_MS);
    fake_add(&f, "f2{x=\"9\"}", "_x20 4 5 6", 0, MIN_MS);
    assert_int_equal(promql_parse("rate({__name__=~\"f1|f2\"}[2m])", &e, err, sizeof(err)),
                     PROMQL_OK);
    assert_int_equal(promql_eval_range(&st, e, 0, 30 * MIN_MS, MIN_MS, NULL, &r, err, sizeof(err)),
                     PROMQL_EEXEC);
    assert_string_equal(err, "vector cannot contain metrics with the same labelset");
    promql_free(e);
    /* Other operations only fail where twins share a step. */
    assert_int_equal(promql_parse("{__name__=~\"f1|f2\"} * 2", &e, err, sizeof(err)), PROMQL_OK);
    struct promql_opts lb = {.lookback_ms = MIN_MS};
    assert_int_equal(promql_eval_range(&st, e, 0, 30 * MIN_MS, MIN_MS, &lb, &r, err, sizeof(err)),
                     PROMQL_OK);
    got = render(&r, false);
    assert_string_equal(got, "{x=\"9\"} 2@0 4@60000 6@120000 6@180000 8@1200000 10@1260000 "
                             "12@1320000 12@1380000");
    free(got);
    promql_result_free(&r);
    promql_free(e);
    fake_free(&f);
}

/*
 * Rollups: on data aligned to the bucket grid (a sample every minute at
 * :30, steps on the grid), min/max/sum/count/avg/last_over_time and plain
 * selectors read from buckets give the raw answers exactly; increase and
 * rate of a steady counter agree with raw extrapolation.
 */
/* Same series, same times, values equal up to a relative 1e-12 (sums in another order). */
static bool same_result(const struct promql_result *a, const struct promql_result *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const struct promql_series *x = &a->series[i], *y = &b->series[i];
        if (!pq_ls_eq(&x->ls, &y->ls) || x->n != y->n)
            return false;
        for (size_t j = 0; j < x->n; j++)
            if (x->t[j] != y->t[j] || fabs(x->v[j] - y->v[j]) > 1e-12 * fabs(x->v[j]))
                return false;
    }
    return true;
}

static void test_rollups(void **state)
{
    (void)state;
    struct fake f = {0};
    fake_add(&f, "g{i=\"1\"}",
             "3 1 4 1 5 9 2 6 5 3 5 8 9 7 9 3 2 3 8 4 6 2 6 4 3 3 8 3 2 7 9 5 0 "
             "2 8 8 4 1 9 7 1 6 9 3 9 9 3 7 5 1 0 5 8 2 0 9 7 4 9 4 4 5 9 2 3 0 "
             "7 8 1 6 4 0 6 2 8 6 2 0 8 9 9 8 6 2 8 0 3 4 8 2 5 3 4 2 1 1 7 0 6 "
             "7 9 8 2 1 4 8 0 8 6 5 1 3 2 8 2 3 0 6 6 4 7 0 9 3 8 4 4 6 0 9 5 5",
             30000, MIN_MS);
    fake_add(&f, "g{i=\"2\"}", "10+2x400", 30000, MIN_MS);
    fake_add(&f, "ctr", "0+1x400", 30000, MIN_MS);
    struct promql_storage raw = fake_storage(&f, false), roll = fake_storage(&f, true);
    static const char *const same[] = {
        "sum_over_time(g[15m])",
        "count_over_time(g[15m])",
        "min_over_time(g[10m])",
        "max_over_time(g[1h])",
        "avg_over_time(g[5m])",
        "last_over_time(g[15m])",
        "g",
        "sum by (i) (g) * 2",
        "increase(ctr[15m])",
        "rate(ctr[30m])",
        "sum_over_time(g[15m] offset 5m)",
        "max_over_time(g[15m]) - min_over_time(g[15m])",
    };
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        struct promql_expr *e = NULL;
        char err[256];
        assert_int_equal(promql_parse(same[i], &e, err, sizeof(err)), PROMQL_OK);
        struct promql_result a, b;
        struct promql_opts no = {.no_rollups = true};
        f.rollup_selects = 0;
        assert_int_equal(promql_eval_range(&roll, e, HOUR_MS, 6 * HOUR_MS, 5 * MIN_MS, &no, &a, err,
                                           sizeof(err)),
                         PROMQL_OK);
        assert_false(a.used_rollup);
        assert_int_equal(f.rollup_selects, 0);
        assert_int_equal(promql_eval_range(&roll, e, HOUR_MS, 6 * HOUR_MS, 5 * MIN_MS, NULL, &b,
                                           err, sizeof(err)),
                         PROMQL_OK);
        if (!b.used_rollup || f.rollup_selects == 0)
            fail_msg("%s did not use rollups", same[i]);
        if (!same_result(&a, &b)) {
            char *ta = render(&a, false), *tb = render(&b, false);
            fail_msg("%s\n  raw:    %.300s\n  rollup: %.300s", same[i], ta, tb);
        }
        promql_result_free(&a);
        promql_result_free(&b);
        /* Also with 1 h buckets for a 1 h step when the ranges allow it. */
        promql_free(e);
    }
    /* Ranges that are not multiples of the bucket, and other functions, read raw data. */
    static const char *const raw_only[] = {"sum_over_time(g[7m])", "deriv(g[15m])",
                                           "quantile_over_time(0.5, g[15m])", "timestamp(g)"};
    for (size_t i = 0; i < sizeof(raw_only) / sizeof(raw_only[0]); i++) {
        struct promql_expr *e = NULL;
        char err[256];
        struct promql_result a;
        assert_int_equal(promql_parse(raw_only[i], &e, err, sizeof(err)), PROMQL_OK);
        f.rollup_selects = 0;
        assert_int_equal(promql_eval_range(&roll, e, HOUR_MS, 6 * HOUR_MS, 5 * MIN_MS, NULL, &a,
                                           err, sizeof(err)),
                         PROMQL_OK);
        if (a.used_rollup || f.rollup_selects != 0)
            fail_msg("%s used rollups", raw_only[i]);
        promql_result_free(&a);
        promql_free(e);
    }
    /* A step below 5 minutes reads raw data; 1 h steps use 1 h buckets. */
    struct promql_expr *e = NULL;
    char err[256];
    struct promql_result a, b;
    assert_int_equal(promql_parse("sum_over_time(g[2h])", &e, err, sizeof(err)), PROMQL_OK);
    assert_int_equal(
        promql_eval_range(&roll, e, 2 * HOUR_MS, 6 * HOUR_MS, MIN_MS, NULL, &a, err, sizeof(err)),
        PROMQL_OK);
    assert_false(a.used_rollup);
    promql_result_free(&a);
    assert_int_equal(
        promql_eval_range(&raw, e, 2 * HOUR_MS, 6 * HOUR_MS, HOUR_MS, NULL, &a, err, sizeof(err)),
        PROMQL_OK);
    assert_int_equal(
        promql_eval_range(&roll, e, 2 * HOUR_MS, 6 * HOUR_MS, HOUR_MS, NULL, &b, err, sizeof(err)),
        PROMQL_OK);
    assert_false(a.used_rollup);
    assert_true(b.used_rollup);
    assert_true(same_result(&a, &b));
    assert_int_equal(a.n, 2);
    assert_int_equal(a.series[1].n, 5);
    promql_result_free(&a);
    promql_result_free(&b);
    promql_free(e);
    /* A counter's increase from buckets: no extrapolation, resets counted. */
    fake_add(&f, "r", "0 10 20 5 15", 30000, MIN_MS);
    assert_int_equal(promql_parse("increase(r[5m])", &e, err, sizeof(err)), PROMQL_OK);
    assert_int_equal(promql_eval_range(&roll, e, 5 * MIN_MS, 10 * MIN_MS, 5 * MIN_MS, NULL, &a, err,
                                       sizeof(err)),
                     PROMQL_OK);
    char *ta = render(&a, false);
    /* 0 -> 10 -> 20 -> 5 (a reset: +5) -> 15, all in the bucket [0, 5m). */
    assert_string_equal(ta, "{} 35@300000");
    free(ta);
    promql_result_free(&a);
    promql_free(e);
    fake_free(&f);
}

static char *dump(const struct promql_result *r)
{
    json_t *j = promql_result_to_json(r);
    assert_non_null(j);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static void test_json(void **state)
{
    (void)state;
    struct fake f = {0};
    fake_add(&f, "m{a=\"1\"}", "1.5 NaN", 1700000000000LL, 1000);
    fake_add(&f, "m{a=\"2\"}", "2e21", 1700000000000LL, 1000);
    struct promql_storage st = fake_storage(&f, false);
    struct promql_expr *e = NULL;
    char err[256];
    struct promql_result r;

    assert_int_equal(promql_parse("m", &e, err, sizeof(err)), PROMQL_OK);
    assert_int_equal(promql_eval_instant(&st, e, 1700000001000LL, NULL, &r, err, sizeof(err)),
                     PROMQL_OK);
    char *s = dump(&r);
    assert_string_equal(s, "{\"resultType\":\"vector\",\"result\":["
                           "{\"metric\":{\"__name__\":\"m\",\"a\":\"1\"},\"value\":[1700000001,"
                           "\"NaN\"]},"
                           "{\"metric\":{\"__name__\":\"m\",\"a\":\"2\"},\"value\":[1700000001,"
                           "\"2e+21\"]}]}");
    free(s);
    promql_result_free(&r);

    assert_int_equal(promql_eval_range(&st, e, 1700000000000LL, 1700000001000LL, 500, NULL, &r, err,
                                       sizeof(err)),
                     PROMQL_OK);
    json_t *j = promql_result_to_json(&r);
    json_t *vals = json_object_get(json_array_get(json_object_get(j, "result"), 0), "values");
    assert_int_equal(json_array_size(vals), 3);
    /* Whole seconds are integers; others are seconds with the milliseconds exact. */
    assert_true(json_is_integer(json_array_get(json_array_get(vals, 0), 0)));
    assert_true(json_is_real(json_array_get(json_array_get(vals, 1), 0)));
    assert_true(json_real_value(json_array_get(json_array_get(vals, 1), 0)) == 1700000000.5);
    assert_string_equal(json_string_value(json_array_get(json_array_get(vals, 1), 1)), "1.5");
    json_decref(j);
    s = dump(&r);
    assert_string_equal(s, "{\"resultType\":\"matrix\",\"result\":["
                           "{\"metric\":{\"__name__\":\"m\",\"a\":\"1\"},\"values\":[[1700000000,"
                           "\"1.5\"],[1700000000.5,\"1.5\"],[1700000001,\"NaN\"]]},"
                           "{\"metric\":{\"__name__\":\"m\",\"a\":\"2\"},\"values\":[[1700000000,"
                           "\"2e+21\"],[1700000000.5,\"2e+21\"],[1700000001,\"2e+21\"]]}]}");
    free(s);
    promql_result_free(&r);
    promql_free(e);

    assert_int_equal(promql_parse("scalar(m{a=\"1\"}) * -1", &e, err, sizeof(err)), PROMQL_OK);
    assert_int_equal(promql_eval_instant(&st, e, 1700000000123LL, NULL, &r, err, sizeof(err)),
                     PROMQL_OK);
    j = promql_result_to_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "resultType")), "scalar");
    assert_true(json_real_value(json_array_get(json_object_get(j, "result"), 0)) == 1700000000.123);
    json_decref(j);
    /* With 13 significant digits a dump reads exactly as Prometheus's. */
    j = promql_result_to_json(&r);
    s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(13));
    assert_string_equal(s, "{\"resultType\":\"scalar\",\"result\":[1700000000.123,\"-1.5\"]}");
    free(s);
    json_decref(j);
    promql_result_free(&r);
    promql_free(e);

    assert_int_equal(promql_parse("'hi'", &e, err, sizeof(err)), PROMQL_OK);
    assert_int_equal(promql_eval_instant(&st, e, 5000, NULL, &r, err, sizeof(err)), PROMQL_OK);
    s = dump(&r);
    assert_string_equal(s, "{\"resultType\":\"string\",\"result\":[5,\"hi\"]}");
    free(s);
    promql_result_free(&r);
    promql_free(e);

    assert_int_equal(promql_parse("m[1s]", &e, err, sizeof(err)), PROMQL_OK);
    assert_int_equal(promql_eval_instant(&st, e, 1700000001000LL, NULL, &r, err, sizeof(err)),
                     PROMQL_OK);
    s = dump(&r);
    assert_string_equal(s, "{\"resultType\":\"matrix\",\"result\":["
                           "{\"metric\":{\"__name__\":\"m\",\"a\":\"1\"},\"values\":[[1700000000,"
                           "\"1.5\"],[1700000001,\"NaN\"]]},"
                           "{\"metric\":{\"__name__\":\"m\",\"a\":\"2\"},\"values\":[[1700000000,"
                           "\"2e+21\"]]}]}");
    free(s);
    promql_result_free(&r);
    promql_free(e);

    assert_int_equal(promql_parse("nothing", &e, err, sizeof(err)), PROMQL_OK);
    assert_int_equal(promql_eval_instant(&st, e, 5000, NULL, &r, err, sizeof(err)), PROMQL_OK);
    s = dump(&r);
    assert_string_equal(s, "{\"resultType\":\"vector\",\"result\":[]}");
    free(s);
    promql_result_free(&r);
    promql_free(e);
    fake_free(&f);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

/*
 * sum by (x) (rate(m[5m])) over 1,000 series of 720 samples (3 h at 15 s)
 * at 120 steps. The target is well under 100 ms in an optimized build; this
 * test only fails far beyond that, as sanitizers slow everything down.
 */
static void test_speed(void **state)
{
    (void)state;
    struct fake f = {0};
    for (int i = 0; i < 1000; i++) {
        char name[64];
        snprintf(name, sizeof(name), "m{x=\"%d\",i=\"%d\"}", i % 10, i);
        struct fake_series *s = fake_series_for(&f, name);
        for (int k = 0; k < 720; k++)
            fake_push(s, (int64_t)k * 15000, (double)(k * (i + 1)));
    }
    struct promql_storage st = fake_storage(&f, false);
    struct promql_expr *e = NULL;
    char err[256];
    assert_int_equal(promql_parse("sum by (x) (rate(m[5m]))", &e, err, sizeof(err)), PROMQL_OK);
    struct promql_result r;
    double best = 1e9;
    for (int round = 0; round < 3; round++) {
        double t0 = now_ms();
        assert_int_equal(promql_eval_range(&st, e, 5 * MIN_MS, 5 * MIN_MS + 119 * 90000, 90000,
                                           NULL, &r, err, sizeof(err)),
                         PROMQL_OK);
        double dt = now_ms() - t0;
        if (dt < best)
            best = dt;
        assert_int_equal(r.n, 10);
        assert_int_equal(r.series[0].n, 120);
        promql_result_free(&r);
    }
    print_message("sum by (x) (rate(m[5m])), 1000 series x 720 samples, 120 steps: %.1f ms\n",
                  best);
    assert_true(best < 2000);
    promql_free(e);
    fake_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prometheus_counters),
        cmocka_unit_test(test_prometheus_gauges),
        cmocka_unit_test(test_prometheus_histograms),
        cmocka_unit_test(test_prometheus_operators),
        cmocka_unit_test(test_range_matches_instant),
        cmocka_unit_test(test_range_vector_result),
        cmocka_unit_test(test_lookback_and_staleness),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_exec_errors),
        cmocka_unit_test(test_label_functions),
        cmocka_unit_test(test_sample_limit),
        cmocka_unit_test(test_range_scalar_and_steps),
        cmocka_unit_test(test_rollups),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_speed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
