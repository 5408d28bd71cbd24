/*
 * test_rules.c - unit tests for the rule evaluator (src/rules/rules*.c):
 * static levels with hysteresis, `for`, keep_firing_for, severity changes,
 * time periods, absence, forecasts, Prometheus alerting and recording
 * rules, retries when the spine refuses events, adoption of open alerts,
 * reloads, dedup keys, the series limit, the status JSON and backtests.
 *
 * Every test runs a real tsdb in a temporary directory and simulated time:
 * samples are written just before the evaluation instants the test picks,
 * and the events the evaluator emits are recorded and compared exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/recur.h"
#include "base/timefmt.h"
#include "base/tz.h"
#include "test_rules_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 2026-11-16 00:00:00 UTC, a Monday. */
#define MON INT64_C(1794787200000)

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

/* Writes seq[k] at base + k minutes - 1 s and evaluates at base + k minutes; returns nothing. */
static void run_seq(struct world *w, const char *metric, int64_t base, const double *seq, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        int64_t t = base + (int64_t)k * MIN_MS;
        put(w->db, metric, t - SEC, seq[k], "host", "a", NULL);
        eval_at(w->r, t);
    }
}

static void test_base_time(void **state)
{
    (void)state;
    assert_int_equal(MON, utc(2026, 11, 16, 0, 0));
}

/* ---- static ---- */

static void test_static_above_hysteresis(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct cfg_rule *c = tr_add(w.cfg, "CpuHigh", "cpu", RULE_STATIC);
    c->st.above = tr_levels(80, 90, 75, 85);
    world_start(&w);
    /* k:  0   1   2   3   4   5   6   7   8   9  10 */
    double seq[] = {70, 81, 79, 76, 74, 81, 91, 88, 84, 74, 70};
    run_seq(&w, "cpu", MON, seq, 11);
    struct recorder *rc = w.rec;
    assert_int_equal(rc->n, 6);
    enum event_action act[] = {EVENT_TRIGGER, EVENT_RESOLVE, EVENT_TRIGGER,
                               EVENT_TRIGGER, EVENT_TRIGGER, EVENT_RESOLVE};
    enum severity sev[] = {SEV_WARNING,  SEV_WARNING, SEV_WARNING,
                           SEV_CRITICAL, SEV_WARNING, SEV_WARNING};
    int64_t ts[] = {1, 4, 5, 5, 5, 9};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(rc->ev[i].action, act[i]);
        assert_int_equal(rc->ev[i].sev, sev[i]);
        assert_string_equal(rc->ev[i].key, rc->ev[0].key);
        /* Triggers carry the firing time (the first crossing), resolves the evaluation. */
        assert_int_equal(rc->ev[i].ts, MON + ts[i] * MIN_MS);
    }
    assert_string_equal(rec_expl(rc, 0), "value 81 is above the warning level 80 (recovers at 75)");
    assert_string_equal(rec_expl(rc, 3),
                        "value 91 is above the critical level 90 (recovers at 85)");
    assert_string_equal(rec_expl(rc, 4), "value 84 is above the warning level 80 (recovers at 75)");
    assert_string_equal(rc->ev[0].summary,
                        "CpuHigh: value 81 is above the warning level 80 (recovers at 75)");
    /* 88 stayed critical through hysteresis. */
    world_close(&w);
}

static void test_static_below_recover(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct cfg_rule *c = tr_add(w.cfg, "DiskFull", "disk_free_pct", RULE_STATIC);
    c->st.below = tr_levels(20, 10, 22, 12);
    c->severity = SEV_ERROR;
    c->severity_set = true;
    world_start(&w);
    /* 25 ok, 9 critical, 11 held critical, 12.5 warning, 21 held warning, 22 recovered */
    double seq[] = {25, 9, 11, 12.5, 21, 22};
    double expect_level[] = {0, 2, 2, 1, 1, 0};
    for (size_t k = 0; k < 6; k++) {
        int64_t t = MON + (int64_t)k * MIN_MS;
        put(w.db, "disk_free_pct", t - SEC, seq[k], "host", "a", NULL);
        eval_at(w.r, t);
        if (k > 0)
            assert_int_equal(only_state(w.r, 0)->info.level, expect_level[k]);
    }
    struct recorder *rc = w.rec;
    assert_int_equal(rc->n, 3);
    assert_int_equal(rc->ev[0].sev, SEV_ERROR); /* the rule's severity for critical */
    assert_string_equal(rec_expl(rc, 0), "value 9 is below the critical level 10 (recovers at 12)");
    assert_int_equal(rc->ev[1].sev, SEV_WARNING);
    assert_string_equal(rec_expl(rc, 1),
                        "value 12.5 is below the warning level 20 (recovers at 22)");
    assert_int_equal(rc->ev[2].action, EVENT_RESOLVE);
    assert_int_equal(rc->ev[2].ts, MON + 5 * MIN_MS);
    /* The details name the level and the link covers the last 6 h. */
    json_t *tr = json_object_get(rc->ev[0].details, "tocsin_rule");
    assert_string_equal(json_string_value(json_object_get(tr, "level")), "critical");
    assert_true(json_real_value(json_object_get(tr, "threshold")) == 10);
    assert_string_equal(json_string_value(json_object_get(tr, "kind")), "static");
    assert_string_equal(json_string_value(json_object_get(rc->ev[0].details, "explanation")),
                        rec_expl(rc, 0));
    char link[300];
    snprintf(link, sizeof(link),
             "http://tocsin.test/api/v1/query_range?query=disk_free_pct&start=%lld&end=%lld&"
             "step=87",
             (long long)((MON + MIN_MS - 6 * HOUR) / 1000), (long long)((MON + MIN_MS) / 1000));
    assert_string_equal(json_string_value(json_object_get(tr, "link")), link);
    json_t *l0 = json_array_get(rc->ev[0].links, 0);
    assert_string_equal(json_string_value(json_object_get(l0, "href")), link);
    assert_string_equal(json_string_value(json_object_get(l0, "text")), "query over the last 6h");
    world_close(&w);
}

static void test_static_held_explanation(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct cfg_rule *c = tr_add(w.cfg, "Q", "queue", RULE_STATIC);
    c->st.above = tr_levels(NAN, 100, NAN, 90);
    world_start(&w);
    double seq[] = {120, 95, 89};
    run_seq(&w, "queue", MON, seq, 3);
    struct rseries *s = only_state(w.r, 0);
    assert_int_equal(w.rec->n, 2);
    assert_int_equal(w.rec->ev[0].sev, SEV_CRITICAL);
    assert_int_equal(s->phase, RS_INACTIVE);
    /* At 95 it was held; check the sentence by re-judging. */
    struct rseries t = {0};
    t.hold_above = 2;
    t.seen = true;
    t.value = 95;
    t.info.period = -1;
    rules_static_judge(&w.r->rules[0], &t, 95, MON);
    char buf[256];
    rules_explain(&w.r->rules[0], &t, buf, sizeof(buf));
    assert_string_equal(buf, "value 95 has not recovered from the critical level 100 (recovers "
                             "at 90)");
    world_close(&w);
}

static void test_for_pending(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct cfg_rule *c = tr_add(w.cfg, "Slow", "latency", RULE_STATIC);
    c->st.above = tr_levels(1, NAN, NAN, NAN);
    c->for_ms = 5 * MIN_MS;
    world_start(&w);
    /* Spikes of 3 and 5 evaluations (4 min) never fire; from k = 12 it holds. */
    double seq[30];
    for (size_t k = 0; k < 30; k++)
        seq[k] = 0.5;
    for (size_t k = 2; k < 5; k++)
        seq[k] = 2;
    for (size_t k = 6; k < 11; k++)
        seq[k] = 2;
    for (size_t k = 12; k < 30; k++)
        seq[k] = 2;
    for (size_t k = 0; k < 30; k++) {
        int64_t t = MON + (int64_t)k * MIN_MS;
        put(w.db, "latency", t - SEC, seq[k], NULL);
        eval_at(w.r, t);
        struct rseries *s = only_state(w.r, 0);
        if (k >= 12 && k < 17)
            assert_int_equal(s->phase, RS_PENDING);
        if (k == 10)
            assert_int_equal(s->phase, RS_PENDING);
    }
    assert_int_equal(w.rec->n, 1);
    assert_int_equal(w.rec->ev[0].action, EVENT_TRIGGER);
    assert_int_equal(w.rec->ev[0].ts, MON + 17 * MIN_MS); /* exactly 5 min after k = 12 */
    world_close(&w);
}

static void test_for_missed_evaluation(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct cfg_rule *c = tr_add(w.cfg, "Slow", "latency", RULE_STATIC);
    c->st.above = tr_levels(1, NAN, NAN, NAN);
    c->for_ms = 5 * MIN_MS;
    world_start(&w);
    put(w.db, "latency", MON - SEC, 2, NULL);
    eval_at(w.r, MON);
    /* No evaluation for 10 minutes (Tocsin busy); the condition held. */
    put(w.db, "latency", MON + 10 * MIN_MS - SEC, 2, NULL);
    eval_at(w.r, MON + 10 * MIN_MS);
    assert_int_equal(w.rec->n, 1);
    assert_int_equal(w.rec->ev[0].ts, MON + 10 * MIN_MS);
    world_close(&w);
}

static void test_keep_firing_for(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct cfg_rule *c = tr_add(w.cfg, "Flappy", "errors", RULE_STATIC);
    c->st.above = tr_levels(10, NAN, NAN, NAN);
    c->keep_firing_for_ms = 3 * MIN_MS;
    world_start(&w);
    /* fires at 1; false at 2,3 true at 4 (kept); false from 5; resolves at 8 */
    double seq[] = {0, 20, 0, 0, 20, 0, 0, 0, 0, 0};
    for (size_t k = 0; k < 10; k++) {
        int64_t t = MON + (int64_t)k * MIN_MS;
        put(w.db, "errors", t - SEC, seq[k], NULL);
        eval_at(w.r, t);
        struct rseries *s = only_state(w.r, 0);
        if (k >= 1 && k <= 7)
            assert_int_equal(s->phase, RS_FIRING);
    }
    assert_int_equal(w.rec->n, 2);
    assert_int_equal(w.rec->ev[0].ts, MON + 1 * MIN_MS);
    assert_int_equal(w.rec->ev[1].action, EVENT_RESOLVE);
    assert_int_equal(w.rec->ev[1].ts, MON + 8 * MIN_MS);
    world_close(&w);
}

static void test_periods(void **state)
{
    (void)state;
    struct world w;
    char err[200];
    world_open(&w);
    const struct tz *berlin = tz_get("Europe/Berlin", err, sizeof(err));
    assert_non_null(berlin);
    struct cfg_rule *c = tr_add(w.cfg, "Orders", "orders", RULE_STATIC);
    c->st.below = tr_levels(10, 5, NAN, NAN);
    c->st.n_periods = 1;
    c->st.periods = calloc(1, sizeof(*c->st.periods));
    c->st.periods[0].name = strdup("night");
    c->st.periods[0].n_windows = 1;
    c->st.periods[0].windows = calloc(1, sizeof(struct recur));
    struct recur *win = &c->st.periods[0].windows[0];
    win->freq = RECUR_DAILY;
    win->tz = berlin;
    win->start_minute = 22 * 60;
    win->duration_ms = 8 * HOUR;
    c->st.periods[0].below = tr_levels(2, 1, NAN, NAN);
    c->st.periods[0].above = tr_off();
    world_start(&w);
    /* 23:00 Berlin (22:00 UTC in November): 3 is fine at night. */
    int64_t night = utc(2026, 11, 16, 22, 0);
    put(w.db, "orders", night - SEC, 3, NULL);
    eval_at(w.r, night);
    assert_int_equal(w.rec->n, 0);
    /* 0.5 at night: critical by the night levels. */
    put(w.db, "orders", night + MIN_MS - SEC, 0.5, NULL);
    eval_at(w.r, night + MIN_MS);
    assert_int_equal(w.rec->n, 1);
    assert_int_equal(w.rec->ev[0].sev, SEV_CRITICAL);
    assert_string_equal(rec_expl(w.rec, 0),
                        "value 0.5 is below the critical level 1 (levels for night)");
    /* 10:00 Berlin next day: 3 is below the day's critical 5... no: day
     * critical is 5, warning 10; 7 is a warning. */
    int64_t day = utc(2026, 11, 17, 9, 0);
    put(w.db, "orders", day - SEC, 7, NULL);
    eval_at(w.r, day);
    assert_int_equal(w.rec->n, 2);
    assert_int_equal(w.rec->ev[1].sev, SEV_WARNING);
    assert_string_equal(rec_expl(w.rec, 1), "value 7 is below the warning level 10");
    world_close(&w);
}

/* ---- absent ---- */

static void test_absent(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct cfg_rule *c = tr_add(w.cfg, "ArchiveSilent", "archive_docs", RULE_ABSENT);
    c->ab.after_ms = 10 * MIN_MS;
    c->ab.forget_ms = WEEK_MS;
    world_start(&w);
    /* Samples every minute for the first hour, then none until minute 100. */
    for (int64_t k = 0; k <= 60; k++)
        put(w.db, "archive_docs", MON + k * MIN_MS, (double)k, "job", "archive", NULL);
    for (int64_t k = 1; k <= 99; k++)
        eval_at(w.r, MON + k * MIN_MS);
    /* The last sample at minute 60 counts up to minute 70 (lookback ends included). */
    assert_int_equal(w.rec->n, 1);
    assert_int_equal(w.rec->ev[0].action, EVENT_TRIGGER);
    assert_int_equal(w.rec->ev[0].ts, MON + 71 * MIN_MS);
    json_t *labels = w.rec->ev[0].labels;
    assert_string_equal(json_string_value(json_object_get(labels, "job")), "archive");
    assert_string_equal(json_string_value(json_object_get(labels, "alertname")), "ArchiveSilent");
    assert_string_equal(rec_expl(w.rec, 0), "no sample of archive_docs {job=\"archive\"} for 10m "
                                            "since 2026-11-16 01:01 UTC");
    /* The sample returns: resolved at that evaluation. */
    put(w.db, "archive_docs", MON + 100 * MIN_MS - SEC, 61, "job", "archive", NULL);
    eval_at(w.r, MON + 100 * MIN_MS);
    assert_int_equal(w.rec->n, 2);
    assert_int_equal(w.rec->ev[1].action, EVENT_RESOLVE);
    assert_string_equal(w.rec->ev[1].key, w.rec->ev[0].key);
    world_close(&w);
}

static void test_absent_nothing_ever(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct cfg_rule *c =
        tr_add(w.cfg, "NoHeartbeat", "heartbeat_total{job=\"backup\",env=\"prod\",dc=~\"a.*\"}",
               RULE_ABSENT);
    c->ab.after_ms = 2 * HOUR;
    labels_set(&c->labels, "team", "ops");
    world_start(&w);
    put(w.db, "other", MON - HOUR, 1, NULL);
    eval_at(w.r, MON);
    assert_int_equal(w.rec->n, 1);
    json_t *l = w.rec->ev[0].labels;
    assert_int_equal(json_object_size(l), 4);
    assert_string_equal(json_string_value(json_object_get(l, "job")), "backup");
    assert_string_equal(json_string_value(json_object_get(l, "env")), "prod");
    assert_string_equal(json_string_value(json_object_get(l, "team")), "ops");
    assert_string_equal(json_string_value(json_object_get(l, "alertname")), "NoHeartbeat");
    assert_string_equal(rec_expl(w.rec, 0),
                        "no sample of heartbeat_total{job=\"backup\",env=\"prod\",dc=~\"a.*\"} "
                        "{env=\"prod\",job=\"backup\"} in the last 2h, and none seen before");
    /* Still nothing: no second trigger. Then the series appears: resolved. */
    eval_at(w.r, MON + MIN_MS);
    assert_int_equal(w.rec->n, 1);
    put(w.db, "heartbeat_total", MON + 2 * MIN_MS - SEC, 1, "job", "backup", "env", "prod", "dc",
        "a1", NULL);
    eval_at(w.r, MON + 2 * MIN_MS);
    assert_int_equal(w.rec->n, 2);
    assert_int_equal(w.rec->ev[1].action, EVENT_RESOLVE);
    assert_string_equal(w.rec->ev[1].key, w.rec->ev[0].key);
    world_close(&w);
}

static void test_absent_seeded_at_start(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct cfg_rule *c = tr_add(w.cfg, "Gone", "beat", RULE_ABSENT);
    c->ab.after_ms = HOUR;
    c->ab.forget_ms = 2 * DAY_MS;
    world_start(&w);
    /* Stopped a day before Tocsin started: caught at the first evaluation. */
    put(w.db, "beat", MON - DAY_MS, 1, "host", "x", NULL);
    put(w.db, "beat", MON - MIN_MS, 1, "host", "y", NULL);
    eval_at(w.r, MON);
    assert_int_equal(w.rec->n, 1);
    assert_string_equal(json_string_value(json_object_get(w.rec->ev[0].labels, "host")), "x");
    assert_string_equal(rec_expl(w.rec, 0), "no sample of beat {host=\"x\"} for more than 1h "
                                            "(the last one came before 2026-11-15 23:00 UTC)");
    /* Forgotten once gone for forget (2 d from the estimate): resolved and dropped. */
    int64_t t1 = MON + 2 * DAY_MS - HOUR - MIN_MS, t2 = MON + 2 * DAY_MS - HOUR;
    put(w.db, "beat", t1 - SEC, 1, "host", "y", NULL);
    eval_at(w.r, t1);
    assert_int_equal(w.rec->n, 1);
    put(w.db, "beat", t2 - SEC, 1, "host", "y", NULL);
    eval_at(w.r, t2);
    assert_int_equal(w.rec->n, 2);
    assert_int_equal(w.rec->ev[1].action, EVENT_RESOLVE);
    assert_string_equal(w.rec->ev[1].key, w.rec->ev[0].key);
    eval_at(w.r, t2 + SEC);
    assert_int_equal(w.r->rules[0].ns, 1); /* only y is known now */
    world_close(&w);
}

/* ---- forecast ---- */

static void test_forecast_linear(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct cfg_rule *c = tr_add(w.cfg, "DiskFullSoon", "avail_gb", RULE_FORECAST);
    c->fc.dir = RULE_BELOW;
    c->fc.limit = 0;
    c->fc.within_ms = 7 * DAY_MS;
    c->fc.window_ms = 3 * DAY_MS;
    c->fc.model = FORECAST_LINEAR;
    world_start(&w);
    /* 1000 GB at MON - 3 d, 10 GB less per hour: 280 at MON, 0 at MON + 28 h. */
    /* Each sample is written 1 s before its 5 min mark with the value of the
     * mark, so the 5 min rollups (which give a bucket's last sample to the
     * bucket's end) read exactly the line. */
    for (int64_t t = MON - 3 * DAY_MS; t <= MON; t += 5 * MIN_MS)
        put(w.db, "avail_gb", t - SEC, 1000 - (double)(t - (MON - 3 * DAY_MS)) / HOUR * 10, "mount",
            "/", NULL);
    eval_at(w.r, MON);
    assert_int_equal(w.rec->n, 1);
    json_t *tr = json_object_get(w.rec->ev[0].details, "tocsin_rule");
    assert_string_equal(json_string_value(json_object_get(tr, "predicted_at")),
                        "2026-11-17T04:00:00.000Z");
    assert_string_equal(rec_expl(w.rec, 0), "at the trend of the last 3d (linear fit, r\xc2\xb2 "
                                            "1.00) the value reaches 0 on 2026-11-17 04:00 UTC, "
                                            "in 1d 4h");
    /* The link covers the fit window. */
    char link[300];
    snprintf(link, sizeof(link),
             "http://tocsin.test/api/v1/query_range?query=avail_gb&start=%lld&end=%lld&step=1037",
             (long long)((MON - 3 * DAY_MS) / 1000), (long long)(MON / 1000));
    assert_string_equal(json_string_value(json_object_get(tr, "link")), link);
    json_t *l0 = json_array_get(w.rec->ev[0].links, 0);
    assert_string_equal(json_string_value(json_object_get(l0, "text")), "query over the last 3d");
    world_close(&w);
}

static void test_forecast_quadratic(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct cfg_rule *c = tr_add(w.cfg, "LogsFill", "used_gb", RULE_FORECAST);
    c->fc.dir = RULE_ABOVE;
    c->fc.limit = 10000;
    c->fc.within_ms = 7 * DAY_MS;
    c->fc.window_ms = 2 * DAY_MS;
    c->fc.model = FORECAST_QUADRATIC;
    struct cfg_rule *l = tr_add(w.cfg, "LogsFillLinear", "used_gb", RULE_FORECAST);
    l->fc = w.cfg->rules[0].fc;
    l->fc.model = FORECAST_LINEAR;
    world_start(&w);
    /* Growth that speeds up: used = 100 + 1.5 h^2 with h the hours since
     * MON - 2 d, so 3,556 at MON and 10,000 at h = sqrt(6600) = 81.24, that
     * is MON + 33.24 h. The quadratic fit finds that instant; a straight
     * line through the same two days predicts it later. */
    for (int64_t t = MON - 2 * DAY_MS; t <= MON; t += 5 * MIN_MS) {
        double h = (double)(t - (MON - 2 * DAY_MS)) / HOUR;
        put(w.db, "used_gb", t - SEC, 100 + h * h * 1.5, NULL);
    }
    eval_at(w.r, MON);
    assert_int_equal(w.rec->n, 2);
    int64_t quad = 0, lin = 0;
    for (size_t i = 0; i < 2; i++) {
        json_t *tr = json_object_get(w.rec->ev[i].details, "tocsin_rule");
        const char *rule = json_string_value(json_object_get(tr, "rule"));
        const char *p = json_string_value(json_object_get(tr, "predicted_at"));
        int64_t when = 0;
        assert_non_null(p);
        assert_int_equal(timefmt_parse_rfc3339(p, strlen(p), &when), 0);
        if (strcmp(rule, "LogsFill") == 0)
            quad = when;
        else
            lin = when;
    }
    int64_t exact = MON - 2 * DAY_MS + (int64_t)(sqrt(6600.0) * HOUR);
    assert_true(llabs(quad - exact) < SEC);
    assert_true(lin > quad + HOUR);
    world_close(&w);
}

static void test_forecast_too_few_points(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct cfg_rule *c = tr_add(w.cfg, "Soon", "free", RULE_FORECAST);
    c->fc.dir = RULE_BELOW;
    c->fc.limit = 0;
    c->fc.within_ms = DAY_MS;
    c->fc.window_ms = DAY_MS;
    world_start(&w);
    /* Samples 1 s before 10 min marks: the 10 min steps read them from the rollups. */
    put(w.db, "free", MON - 2 * HOUR - SEC, 10, NULL);
    put(w.db, "free", MON - HOUR - SEC, 5, NULL);
    eval_at(w.r, MON);
    assert_int_equal(w.rec->n, 0);
    char buf[300];
    rules_explain(&w.r->rules[0], only_state(w.r, 0), buf, sizeof(buf));
    assert_string_equal(buf, "only 2 points in the last 1d, 10 needed to judge the trend");
    world_close(&w);
}

/* ---- promql and record ---- */

static void test_promql_rule(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct cfg_rule *c = tr_add(w.cfg, "HighCpu", "cpu > 80", RULE_PROMQL);
    c->severity = SEV_CRITICAL;
    labels_set(&c->labels, "severity", "critical");
    json_object_set_new(c->annotations, "summary",
                        json_string("CPU of {{ $labels.host }} at {{ $value }}"));
    world_start(&w);
    put(w.db, "cpu", MON - SEC, 95, "host", "a", NULL);
    put(w.db, "cpu", MON - SEC, 50, "host", "b", NULL);
    put(w.db, "cpu", MON - SEC, 81, "host", "c", NULL);
    eval_at(w.r, MON);
    assert_int_equal(w.rec->n, 2);
    assert_string_equal(w.rec->ev[0].summary, "CPU of a at 95");
    assert_string_equal(w.rec->ev[1].summary, "CPU of c at 81");
    assert_int_equal(w.rec->ev[0].sev, SEV_CRITICAL);
    json_t *ann = json_object_get(w.rec->ev[0].details, "annotations");
    assert_string_equal(json_string_value(json_object_get(ann, "summary")), "CPU of a at 95");
    /* The alert labels: series labels without __name__, the rule's, alertname. */
    json_t *l = w.rec->ev[0].labels;
    assert_int_equal(json_object_size(l), 3);
    assert_string_equal(json_string_value(json_object_get(l, "severity")), "critical");
    put(w.db, "cpu", MON + MIN_MS - SEC, 10, "host", "a", NULL);
    put(w.db, "cpu", MON + MIN_MS - SEC, 85, "host", "c", NULL);
    eval_at(w.r, MON + MIN_MS);
    assert_int_equal(w.rec->n, 3);
    assert_int_equal(w.rec->ev[2].action, EVENT_RESOLVE);
    assert_string_equal(w.rec->ev[2].key, w.rec->ev[0].key);
    world_close(&w);
}

static void test_record_rule(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct cfg_rule *c = tr_add(w.cfg, "job:cpu:sum", "sum by (job) (cpu)", RULE_RECORD);
    labels_set(&c->labels, "team", "ops");
    world_start(&w);
    put(w.db, "cpu", MON - SEC, 1, "host", "a", "job", "web", NULL);
    put(w.db, "cpu", MON - SEC, 2, "host", "b", "job", "web", NULL);
    put(w.db, "cpu", MON - SEC, 4, "host", "c", "job", "db", NULL);
    eval_at(w.r, MON);
    assert_int_equal(w.rec->n, 0);
    struct tsdb_series *s = NULL;
    size_t n = sel(w.db, "job:cpu:sum", MON - HOUR, MON + HOUR, &s);
    assert_int_equal(n, 2);
    assert_string_equal(labels_get(&s[0].ls, "job"), "db");
    assert_string_equal(labels_get(&s[0].ls, "team"), "ops");
    assert_int_equal(s[0].n, 1);
    assert_int_equal(s[0].t[0], MON);
    assert_true(s[0].v[0] == 4);
    assert_true(s[1].v[0] == 3);
    tsdb_series_free(s, n);
    world_close(&w);
}

/* ---- the spine refusing ---- */

static void test_emit_retry(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct cfg_rule *c = tr_add(w.cfg, "CpuHigh", "cpu", RULE_STATIC);
    c->st.above = tr_levels(80, NAN, NAN, NAN);
    world_start(&w);
    w.rec->fail = 1;
    put(w.db, "cpu", MON - SEC, 90, NULL);
    eval_at(w.r, MON);
    assert_int_equal(w.rec->n, 0);
    assert_int_equal(w.rec->calls, 1);
    assert_int_equal(only_state(w.r, 0)->sent, SENT_NOTHING);
    put(w.db, "cpu", MON + MIN_MS - SEC, 91, NULL);
    eval_at(w.r, MON + MIN_MS);
    assert_int_equal(w.rec->n, 1);
    assert_int_equal(w.rec->ev[0].ts, MON); /* firing since the first evaluation */
    /* Resolve refused twice, then taken. */
    w.rec->fail = 2;
    for (int k = 2; k <= 4; k++) {
        put(w.db, "cpu", MON + k * MIN_MS - SEC, 10, NULL);
        eval_at(w.r, MON + k * MIN_MS);
    }
    assert_int_equal(w.rec->n, 2);
    assert_int_equal(w.rec->ev[1].action, EVENT_RESOLVE);
    struct rules_stats st;
    rules_stats(w.r, &st);
    assert_int_equal(st.events_sent, 2);
    assert_int_equal(st.events_retried, 3);
    /* The quiet state stays while the series is returned, and goes with it. */
    eval_at(w.r, MON + 5 * MIN_MS);
    assert_int_equal(w.r->rules[0].ns, 1);
    assert_int_equal(only_state(w.r, 0)->phase, RS_INACTIVE);
    eval_at(w.r, MON + 10 * MIN_MS);
    assert_int_equal(w.r->rules[0].ns, 0);
    world_close(&w);
}

static void test_batches(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct cfg_rule *c = tr_add(w.cfg, "Many", "m > 0", RULE_PROMQL);
    (void)c;
    world_start(&w);
    struct tsdb_appender *a = tsdb_appender_new(w.db, "t");
    char id[16];
    for (int i = 0; i < 2500; i++) {
        snprintf(id, sizeof(id), "%d", i);
        add_ok(a, "m", MON - SEC, 1, "id", id, NULL);
    }
    commit_ok(a);
    eval_at(w.r, MON);
    assert_int_equal(w.rec->n, 2500);
    assert_int_equal(w.rec->calls, 3);
    assert_int_equal(w.rec->batch_max, EVENT_MAX_BATCH);
    world_close(&w);
}

/* ---- adoption and reload ---- */

static void key_of(struct rules *r, size_t rule, const char *host, char *buf, size_t len)
{
    struct labelset sl = {0, NULL};
    labels_set(&sl, "__name__", "cpu");
    labels_set(&sl, "host", host);
    struct labelset al;
    assert_int_equal(rules_alert_labels(&r->rules[rule], &sl, &al), 0);
    rules_dedup_key(r->rules[rule].cfg->name, &al, buf, len);
    labels_free(&sl);
    labels_free(&al);
}

static void test_adopt_open(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct cfg_rule *c = tr_add(w.cfg, "CpuHigh", "cpu", RULE_STATIC);
    c->st.above = tr_levels(80, NAN, NAN, NAN);
    world_start(&w);
    char ka[200], kb[200], kc[200];
    key_of(w.r, 0, "a", ka, sizeof(ka)); /* still high: stays open, no new trigger */
    key_of(w.r, 0, "b", kb, sizeof(kb)); /* low now: resolved at the first evaluation */
    key_of(w.r, 0, "c", kc, sizeof(kc)); /* no series at all any more: resolved */
    const char *keys[] = {ka, kb, kc, "Removed/0123456789abcdef", "garbage"};
    rules_adopt_open(w.r, keys, 5);
    put(w.db, "cpu", MON - SEC, 90, "host", "a", NULL);
    put(w.db, "cpu", MON - SEC, 10, "host", "b", NULL);
    rules_tick(w.r, MON); /* the rule is not due yet: only the removed rule's key goes */
    assert_int_equal(w.rec->n, 1);
    assert_string_equal(w.rec->ev[0].key, "Removed/0123456789abcdef");
    assert_int_equal(w.rec->ev[0].action, EVENT_RESOLVE);
    eval_at(w.r, MON + MIN_MS);
    assert_int_equal(w.rec->n, 3);
    bool got_b = false, got_c = false;
    for (size_t i = 1; i < 3; i++) {
        assert_int_equal(w.rec->ev[i].action, EVENT_RESOLVE);
        got_b |= strcmp(w.rec->ev[i].key, kb) == 0;
        got_c |= strcmp(w.rec->ev[i].key, kc) == 0;
    }
    assert_true(got_b && got_c);
    struct rseries *s = NULL;
    for (size_t i = 0; i < w.r->rules[0].ns; i++)
        if (strcmp(labels_get(&w.r->rules[0].s[i]->labels, "host"), "a") == 0)
            s = w.r->rules[0].s[i];
    assert_non_null(s);
    assert_int_equal(s->phase, RS_FIRING);
    assert_int_equal(s->sent, SENT_TRIGGER);
    assert_int_equal(w.r->n_adopted, 0);
    world_close(&w);
}

static void test_reload(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct cfg_rule *c = tr_add(w.cfg, "Keep", "cpu", RULE_STATIC);
    c->st.above = tr_levels(80, NAN, NAN, NAN);
    c->spec = json_pack("{ss}", "name", "Keep");
    c = tr_add(w.cfg, "Change", "cpu", RULE_STATIC);
    c->st.above = tr_levels(80, NAN, NAN, NAN);
    c->spec = json_pack("{ss si}", "name", "Change", "v", 1);
    c = tr_add(w.cfg, "Drop", "cpu", RULE_STATIC);
    c->st.above = tr_levels(80, NAN, NAN, NAN);
    c->for_ms = 10 * MIN_MS;
    c->spec = json_pack("{ss}", "name", "Drop");
    world_start(&w);
    put(w.db, "cpu", MON - SEC, 90, NULL);
    eval_at(w.r, MON);
    assert_int_equal(w.rec->n, 2); /* Keep and Change fire; Drop is pending */

    struct config *n = tr_config();
    c = tr_add(n, "Keep", "cpu", RULE_STATIC);
    c->st.above = tr_levels(80, NAN, NAN, NAN);
    c->spec = json_pack("{ss}", "name", "Keep");
    c = tr_add(n, "Change", "cpu", RULE_STATIC);
    c->st.above = tr_levels(85, NAN, NAN, NAN);
    c->spec = json_pack("{ss si}", "name", "Change", "v", 2);
    rules_reload(w.r, n);
    tr_config_free(w.cfg);
    w.cfg = n;
    assert_int_equal(w.r->n, 2);
    /* Keep kept its state; Change's alert waits for its first evaluation. */
    assert_int_equal(only_state(w.r, 0)->phase, RS_FIRING);
    assert_int_equal(w.r->rules[1].ns, 0);
    put(w.db, "cpu", MON + MIN_MS - SEC, 90, NULL);
    eval_at(w.r, MON + MIN_MS);
    /* No new events: Change still fires with its new level and claimed its alert. */
    assert_int_equal(w.rec->n, 2);
    assert_int_equal(only_state(w.r, 1)->phase, RS_FIRING);
    assert_int_equal(only_state(w.r, 1)->sent, SENT_TRIGGER);
    /* Now Change's new level no longer holds: resolved; Keep stays. */
    put(w.db, "cpu", MON + 2 * MIN_MS - SEC, 82, NULL);
    eval_at(w.r, MON + 2 * MIN_MS);
    assert_int_equal(w.rec->n, 3);
    assert_int_equal(w.rec->ev[2].action, EVENT_RESOLVE);
    assert_non_null(strstr(w.rec->ev[2].key, "Change/"));
    world_close(&w);
}

static void test_reload_removed_firing(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct cfg_rule *c = tr_add(w.cfg, "Old", "cpu", RULE_STATIC);
    c->st.above = tr_levels(80, NAN, NAN, NAN);
    world_start(&w);
    put(w.db, "cpu", MON - SEC, 90, NULL);
    eval_at(w.r, MON);
    assert_int_equal(w.rec->n, 1);
    struct config *n = tr_config();
    rules_reload(w.r, n);
    tr_config_free(w.cfg);
    w.cfg = n;
    rules_tick(w.r, MON + SEC);
    assert_int_equal(w.rec->n, 2);
    assert_int_equal(w.rec->ev[1].action, EVENT_RESOLVE);
    assert_string_equal(w.rec->ev[1].key, w.rec->ev[0].key);
    assert_int_equal(rules_next_due(w.r), INT64_MAX);
    world_close(&w);
}

/* ---- keys, limits, scheduling ---- */

static void test_dedup_key(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct cfg_rule *c = tr_add(w.cfg, "K", "cpu", RULE_STATIC);
    c->st.above = tr_levels(1, NAN, NAN, NAN);
    labels_set(&c->labels, "team", "ops");
    labels_set(&c->labels, "host", "overridden");
    world_start(&w);
    struct labelset sl = {0, NULL}, al;
    labels_set(&sl, "__name__", "cpu");
    labels_set(&sl, "host", "a");
    labels_set(&sl, "zone", "eu");
    assert_int_equal(rules_alert_labels(&w.r->rules[0], &sl, &al), 0);
    assert_int_equal(al.n, 4);
    assert_string_equal(labels_get(&al, "host"), "overridden");
    assert_string_equal(labels_get(&al, "alertname"), "K");
    assert_null(labels_get(&al, "__name__"));
    assert_true(rules_alert_fp(&w.r->rules[0], &sl) == labels_fingerprint(&al));
    char key[100], hex[17];
    rules_dedup_key("K", &al, key, sizeof(key));
    labels_fingerprint_hex(&al, hex);
    char want[100];
    snprintf(want, sizeof(want), "K/%s", hex);
    assert_string_equal(key, want);
    put(w.db, "cpu", MON - SEC, 5, "host", "a", "zone", "eu", NULL);
    eval_at(w.r, MON);
    assert_string_equal(w.rec->ev[0].key, want);
    labels_free(&sl);
    labels_free(&al);
    world_close(&w);
}

static void test_series_limit(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct cfg_rule *c = tr_add(w.cfg, "Lim", "cpu", RULE_STATIC);
    c->st.above = tr_levels(1, NAN, NAN, NAN);
    w.cfg->rule_settings.max_series_per_rule = 2;
    world_start(&w);
    put(w.db, "cpu", MON - SEC, 5, "host", "a", NULL);
    put(w.db, "cpu", MON - SEC, 5, "host", "b", NULL);
    eval_at(w.r, MON);
    assert_int_equal(w.rec->n, 2);
    put(w.db, "cpu", MON + MIN_MS - SEC, 0, "host", "a", NULL);
    put(w.db, "cpu", MON + MIN_MS - SEC, 0, "host", "b", NULL);
    put(w.db, "cpu", MON + MIN_MS - SEC, 0, "host", "c", NULL);
    eval_at(w.r, MON + MIN_MS);
    assert_int_equal(w.rec->n, 2); /* states unchanged: still firing */
    assert_true(w.r->rules[0].err);
    assert_string_equal(w.r->rules[0].last_error,
                        "query returned 3 series, more than max_series_per_rule (2)");
    json_t *st = rules_status_json(w.r, "Lim");
    json_t *rule = json_array_get(
        json_object_get(json_array_get(json_object_get(st, "groups"), 0), "rules"), 0);
    assert_string_equal(json_string_value(json_object_get(rule, "health")), "err");
    assert_string_equal(json_string_value(json_object_get(rule, "lastError")),
                        "query returned 3 series, more than max_series_per_rule (2)");
    assert_string_equal(json_string_value(json_object_get(rule, "state")), "firing");
    json_decref(st);
    struct rules_stats sst;
    rules_stats(w.r, &sst);
    assert_int_equal(sst.failures, 1);
    assert_int_equal(sst.firing, 2);
    world_close(&w);
}

static void test_schedule_spread(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    tr_add(w.cfg, "A", "cpu", RULE_PROMQL);
    tr_add(w.cfg, "B", "cpu", RULE_PROMQL)->interval_ms = 5 * MIN_MS;
    world_start(&w);
    int64_t pa = rules_phase("A", MIN_MS), pb = rules_phase("B", 5 * MIN_MS);
    assert_true(pa >= 0 && pa < MIN_MS && pb >= 0 && pb < 5 * MIN_MS);
    assert_true(pa != pb);
    assert_int_equal(rules_tick(w.r, MON), (pa == 0) + (pb == 0));
    assert_int_equal(w.r->rules[0].due, MON + pa);
    assert_int_equal(w.r->rules[1].due, MON + pb);
    assert_int_equal(rules_next_due(w.r), MON + (pa < pb ? pa : pb));
    assert_int_equal(rules_tick(w.r, MON + pa), 1);
    assert_int_equal(w.r->rules[0].due, MON + pa + MIN_MS);
    /* A late tick keeps the grid. */
    rules_tick(w.r, MON + pa + 3 * MIN_MS + 7 * SEC);
    assert_int_equal(w.r->rules[0].due, MON + pa + 4 * MIN_MS);
    world_close(&w);
}

static void test_thread(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    tr_add(w.cfg, "T", "vector(1)", RULE_PROMQL)->interval_ms = SEC;
    world_start(&w);
    char err[200];
    assert_int_equal(rules_start(w.r, err, sizeof(err)), 0);
    struct rules_stats st;
    for (int i = 0; i < 400; i++) {
        rules_stats(w.r, &st);
        if (st.evaluations >= 1)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    rules_stop(w.r);
    rules_stats(w.r, &st);
    assert_true(st.evaluations >= 1);
    assert_int_equal(w.rec->n, 1);
    world_close(&w);
}

/* ---- status ---- */

static void test_status_json(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct cfg_rule *c = tr_add(w.cfg, "CpuHigh", "cpu", RULE_STATIC);
    c->st.above = tr_levels(80, NAN, NAN, NAN);
    c->for_ms = 5 * MIN_MS;
    json_object_set_new(c->annotations, "summary", json_string("{{ $labels.host }} busy"));
    c = tr_add(w.cfg, "rec:x", "cpu * 2", RULE_RECORD);
    free(c->group);
    c->group = strdup("recording");
    tr_add(w.cfg, "Never", "cpu", RULE_PROMQL)->interval_ms = HOUR;
    world_start(&w);
    put(w.db, "cpu", MON - SEC, 90, "host", "a", NULL);
    put(w.db, "cpu", MON - SEC, 10, "host", "b", NULL);
    for (size_t i = 0; i < 2; i++)
        w.r->rules[i].due = MON;
    w.r->rules[2].due = MON + HOUR;
    rules_tick(w.r, MON);
    json_t *st = rules_status_json(w.r, NULL);
    assert_non_null(st);
    json_t *groups = json_object_get(st, "groups");
    assert_int_equal(json_array_size(groups), 2);
    json_t *g0 = json_array_get(groups, 0);
    assert_string_equal(json_string_value(json_object_get(g0, "name")), "tocsin.yaml");
    assert_string_equal(json_string_value(json_object_get(g0, "file")), "test.yaml");
    assert_true(json_real_value(json_object_get(g0, "interval")) == 60);
    json_t *rules = json_object_get(g0, "rules");
    assert_int_equal(json_array_size(rules), 2);
    json_t *r0 = json_array_get(rules, 0);
    assert_string_equal(json_string_value(json_object_get(r0, "type")), "alerting");
    assert_string_equal(json_string_value(json_object_get(r0, "kind")), "static");
    assert_string_equal(json_string_value(json_object_get(r0, "health")), "ok");
    assert_string_equal(json_string_value(json_object_get(r0, "state")), "pending");
    assert_string_equal(json_string_value(json_object_get(r0, "lastEvaluation")),
                        "2026-11-16T00:00:00.000Z");
    assert_true(json_real_value(json_object_get(r0, "duration")) == 300);
    json_t *alerts = json_object_get(r0, "alerts");
    assert_int_equal(json_array_size(alerts), 1);
    json_t *a0 = json_array_get(alerts, 0);
    assert_string_equal(json_string_value(json_object_get(a0, "state")), "pending");
    assert_string_equal(json_string_value(json_object_get(a0, "value")), "9e+01");
    assert_string_equal(json_string_value(json_object_get(a0, "activeAt")),
                        "2026-11-16T00:00:00.000Z");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(a0, "annotations"), "summary")),
        "a busy");
    json_t *series = json_object_get(r0, "series");
    assert_int_equal(json_array_size(series), 2);
    bool saw_ok = false;
    for (size_t i = 0; i < 2; i++) {
        const char *e =
            json_string_value(json_object_get(json_array_get(series, i), "explanation"));
        saw_ok |= strcmp(e, "value 10 is within the levels") == 0;
    }
    assert_true(saw_ok);
    json_t *r1 = json_array_get(rules, 1);
    assert_string_equal(json_string_value(json_object_get(r1, "health")), "unknown");
    assert_string_equal(json_string_value(json_object_get(r1, "lastEvaluation")),
                        "0001-01-01T00:00:00Z");
    json_t *g1 = json_array_get(groups, 1);
    json_t *rr = json_array_get(json_object_get(g1, "rules"), 0);
    assert_string_equal(json_string_value(json_object_get(rr, "type")), "recording");
    assert_string_equal(json_string_value(json_object_get(rr, "name")), "rec:x");
    json_decref(st);
    assert_null(rules_status_json(w.r, "nope"));
    st = rules_status_json(w.r, "rec:x");
    assert_int_equal(json_array_size(json_object_get(st, "groups")), 1);
    json_decref(st);
    world_close(&w);
}

/* ---- backtest ---- */

static void test_backtest(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct cfg_rule *c = tr_add(w.cfg, "CpuHigh", "cpu", RULE_STATIC);
    c->st.above = tr_levels(80, 90, NAN, NAN);
    c->for_ms = 2 * MIN_MS;
    /* minutes 10..19 at 85, 14..15 at 95; minutes 40..44 at 85 (still at the end? no: to 50) */
    for (int64_t k = 0; k <= 60; k++) {
        double v = 50;
        if (k >= 10 && k < 20)
            v = 85;
        if (k >= 14 && k < 16)
            v = 95;
        if (k >= 40)
            v = 85;
        put(w.db, "cpu", MON + k * MIN_MS, v, "host", "a", NULL);
    }
    world_start(&w);
    struct rules_backtest_opts o = {MON, MON + 50 * MIN_MS, 0, 0};
    json_t *out = NULL;
    char err[300] = "";
    assert_int_equal(
        rules_backtest(&w.cfg->rules[0], &w.cfg->rule_settings, &w.env, &o, &out, err, sizeof(err)),
        0);
    assert_int_equal(json_integer_value(json_object_get(out, "evaluations")), 51);
    assert_int_equal(json_integer_value(json_object_get(out, "fired")), 2);
    assert_string_equal(json_string_value(json_object_get(out, "kind")), "static");
    json_t *alerts = json_object_get(out, "alerts");
    json_t *a0 = json_array_get(alerts, 0), *a1 = json_array_get(alerts, 1);
    assert_string_equal(json_string_value(json_object_get(a0, "fired_at")),
                        "2026-11-16T00:12:00.000Z");
    assert_string_equal(json_string_value(json_object_get(a0, "resolved_at")),
                        "2026-11-16T00:20:00.000Z");
    assert_string_equal(json_string_value(json_object_get(a0, "severity")), "critical");
    assert_true(json_real_value(json_object_get(a0, "peak")) == 95);
    assert_true(json_real_value(json_object_get(a0, "value")) == 85);
    assert_true(json_real_value(json_object_get(a0, "duration_s")) == 480);
    assert_string_equal(json_string_value(json_object_get(a0, "explanation")),
                        "value 85 is above the warning level 80");
    assert_string_equal(json_string_value(json_object_get(a1, "fired_at")),
                        "2026-11-16T00:42:00.000Z");
    assert_true(json_is_null(json_object_get(a1, "resolved_at")));
    assert_true(json_real_value(json_object_get(a1, "duration_s")) == 480);
    assert_int_equal(json_array_size(json_object_get(out, "notes")), 0);
    json_decref(out);
    /* No events went anywhere. */
    assert_int_equal(w.rec->n, 0);

    /* Bad ranges and too many evaluations are refused with a message. */
    o.to = o.from;
    assert_int_equal(
        rules_backtest(&w.cfg->rules[0], &w.cfg->rule_settings, &w.env, &o, &out, err, sizeof(err)),
        -1);
    o.to = MON + 200 * DAY_MS;
    assert_int_equal(
        rules_backtest(&w.cfg->rules[0], &w.cfg->rule_settings, &w.env, &o, &out, err, sizeof(err)),
        -1);
    assert_string_equal(err, "the range needs 288001 evaluations at a step of 1m, more than "
                             "100000; use a larger step or a shorter range");
    world_close(&w);
}

/* ---- rules from the configuration file ---- */

static void test_config_yaml(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    tr_config_free(w.cfg);
    const char *yaml =
        "rules:\n"
        "  - name: DiskFull\n"
        "    query: 'node_filesystem_avail_bytes{mountpoint=\"/\"} / node_filesystem_size_bytes "
        "* 100'\n"
        "    static: {below: {warning: 20, critical: 10}, recover: 2}\n"
        "    for: 5m\n"
        "    severity: critical\n"
        "    summary: 'disk {{ $labels.mountpoint }} at {{ $value | printf \"%.1f\" }}% "
        "({{ $threshold }})'\n"
        "  - name: ArchiveJobSilent\n"
        "    query: 'archive_documents_total'\n"
        "    absent: 2h\n"
        "  - name: DiskFullSoon\n"
        "    query: 'node_filesystem_avail_bytes{mountpoint=\"/\"}'\n"
        "    forecast: {below: 0, within: 7d, window: 3d}\n";
    struct cfg_errors errs = {0};
    w.cfg = config_load_buffer("t.yaml", yaml, strlen(yaml), &errs);
    if (!w.cfg)
        fail_msg("config: %s", errs.n ? errs.msgs[0] : "?");
    assert_int_equal(w.cfg->n_rules, 3);
    world_start(&w);
    for (int64_t k = 0; k <= 6; k++) {
        int64_t t = MON + k * MIN_MS;
        put(w.db, "node_filesystem_avail_bytes", t - SEC, k == 0 ? 50 : 8.5, "mountpoint", "/",
            NULL);
        put(w.db, "node_filesystem_size_bytes", t - SEC, 100, "mountpoint", "/", NULL);
        put(w.db, "archive_documents_total", t - SEC, 1, NULL);
        eval_at(w.r, t);
    }
    /* DiskFull fires after `for` at the critical level with the rule's severity. */
    size_t n = 0;
    for (size_t i = 0; i < w.rec->n; i++) {
        if (strncmp(w.rec->ev[i].key, "DiskFull/", 9) != 0)
            continue;
        n++;
        assert_int_equal(w.rec->ev[i].ts, MON + 6 * MIN_MS);
        assert_int_equal(w.rec->ev[i].sev, SEV_CRITICAL);
        assert_string_equal(w.rec->ev[i].summary, "disk / at 8.5% (10)");
        assert_string_equal(rec_expl(w.rec, i),
                            "value 8.5 is below the critical level 10 (recovers at 12)");
    }
    assert_int_equal(n, 1);
    world_close(&w);
    cfg_errors_free(&errs);
}

static void test_fmt(void **state)
{
    (void)state;
    char b[64];
    rules_fmt_num(1080, b, sizeof(b));
    assert_string_equal(b, "1,080");
    rules_fmt_num(-1234567.5, b, sizeof(b));
    assert_string_equal(b, "-1,234,567.5");
    rules_fmt_num(8.2, b, sizeof(b));
    assert_string_equal(b, "8.2");
    rules_fmt_num(0.00123, b, sizeof(b));
    assert_string_equal(b, "0.00123");
    rules_fmt_num(0, b, sizeof(b));
    assert_string_equal(b, "0");
    rules_fmt_num(NAN, b, sizeof(b));
    assert_string_equal(b, "NaN");
    rules_fmt_dur(2 * HOUR, b, sizeof(b));
    assert_string_equal(b, "2h");
    rules_fmt_dur(5 * DAY_MS + 3 * HOUR + 5 * MIN_MS, b, sizeof(b));
    assert_string_equal(b, "5d 3h");
    rules_fmt_dur(90 * MIN_MS, b, sizeof(b));
    assert_string_equal(b, "1h 30m");
    rules_fmt_dur(0, b, sizeof(b));
    assert_string_equal(b, "0s");
    rules_fmt_time(utc(2026, 11, 27, 14, 5), b, sizeof(b));
    assert_string_equal(b, "2026-11-27 14:05 UTC");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_time),
        cmocka_unit_test(test_fmt),
        cmocka_unit_test(test_static_above_hysteresis),
        cmocka_unit_test(test_static_below_recover),
        cmocka_unit_test(test_static_held_explanation),
        cmocka_unit_test(test_for_pending),
        cmocka_unit_test(test_for_missed_evaluation),
        cmocka_unit_test(test_keep_firing_for),
        cmocka_unit_test(test_periods),
        cmocka_unit_test(test_absent),
        cmocka_unit_test(test_absent_nothing_ever),
        cmocka_unit_test(test_absent_seeded_at_start),
        cmocka_unit_test(test_forecast_linear),
        cmocka_unit_test(test_forecast_quadratic),
        cmocka_unit_test(test_forecast_too_few_points),
        cmocka_unit_test(test_promql_rule),
        cmocka_unit_test(test_record_rule),
        cmocka_unit_test(test_emit_retry),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_adopt_open),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_reload_removed_firing),
        cmocka_unit_test(test_dedup_key),
        cmocka_unit_test(test_series_limit),
        cmocka_unit_test(test_schedule_spread),
        cmocka_unit_test(test_thread),
        cmocka_unit_test(test_status_json),
        cmocka_unit_test(test_backtest),
        cmocka_unit_test(test_config_yaml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
