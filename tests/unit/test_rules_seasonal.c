/*
 * test_rules_seasonal.c - seasonal rules end to end: synthetic bookings
 * with a daily and weekly pattern (busy at 08:00, quiet at 03:00, weekends
 * low) and seeded noise, written at 5 min resolution for five weeks into a
 * real tsdb that is then persisted (blocks and rollups exist); the rule's
 * baselines are loaded from that history and simulated time steps over the
 * last week.
 *
 * Cases: injected anomalies fire and normal peaks do not; flat data (zero
 * spread: the band's floors); short history (silent with the reason, or the
 * static fallback); a missing week; the week after the DST change in
 * Europe/Berlin (08:00 stays 08:00 local); holidays; series that show up
 * after the load; loading status; and, over many seeds, no alert at all on
 * unperturbed data with k = 4.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/timefmt.h"
#include "base/tz.h"
#include "test_rules_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Monday 2026-10-26 00:00 UTC: the first of five weeks of data (after Berlin's DST change). */
#define W1 INT64_C(1792972800000)
/* Monday 2026-11-23 00:00 UTC: the week the tests step through. */
#define W5   (W1 + 4 * WEEK_MS)
#define STEP (5 * MIN_MS)

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

/* ---- synthetic data ---- */

static uint64_t rng_next(uint64_t *s)
{
    /* splitmix64: a fixed, portable sequence for a seed */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

static double rng_gauss(uint64_t *s)
{
    double u = rng_unit(s), v = rng_unit(s);
    if (u < 1e-12)
        u = 1e-12;
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/*
 * Bookings per minute at local time (hour h, weekday wd): 150 at night,
 * busy at 08:00 (about 1,200) and 17:00, the day's traffic at 30% on
 * weekends. The night level is the same every day, so midnight has no step.
 */
static double pattern(double h, int wd)
{
    double day = 50 + 1000 * exp(-(h - 8) * (h - 8) / (2 * 2.0 * 2.0)) +
                 500 * exp(-(h - 17) * (h - 17) / (2 * 2.0 * 2.0));
    if (wd == 0 || wd == 6)
        day *= 0.3;
    return 150 + day;
}

enum anomaly { A_NONE = 0, A_DROP = 1, A_SPIKE = 2 };

struct gen {
    const struct tz *tz; /* the pattern's local time; NULL = UTC */
    uint64_t seed;
    double noise;               /* sd of the per-sample noise, relative */
    double day_noise;           /* sd of the per-day level, relative */
    int64_t from, to;           /* marks from <= t < to */
    int64_t skip_from, skip_to; /* no data in [skip_from, skip_to) */
    bool anomalies;             /* the drop and the spike in week 5 */
    int64_t low_day;            /* a day at 30% (a holiday in the data), 0 = none */
    const char *id;
};

static double pattern_at(const struct gen *g, int64_t t)
{
    struct tz_local l;
    if (g->tz) {
        tz_to_local(g->tz, t, &l);
    } else {
        time_t s = (time_t)(t / 1000);
        struct tm tm;
        gmtime_r(&s, &tm);
        l.hour = tm.tm_hour;
        l.minute = tm.tm_min;
        l.wday = tm.tm_wday;
    }
    return pattern(l.hour + l.minute / 60.0, l.wday);
}

/* What the anomalies do to the value at mark t (week 5 only). */
static double anomaly_factor(int64_t t)
{
    int64_t drop = W5 + DAY_MS + 10 * HOUR;     /* Tuesday 10:00 */
    int64_t spike = W5 + 3 * DAY_MS + 3 * HOUR; /* Thursday 03:00 */
    if (t >= drop && t < drop + 45 * MIN_MS)
        return 0.4;
    if (t >= spike && t < spike + 30 * MIN_MS)
        return 3;
    return 1;
}

/* Writes g's series: the value of mark t is written at t - 1 s (see test_rules.c). */
static void gen_write(struct tsdb *db, const struct gen *g)
{
    uint64_t s = g->seed * 7919 + 17;
    struct tsdb_appender *a = tsdb_appender_new(db, "test");
    assert_non_null(a);
    double level = 1;
    int64_t day = -1;
    size_t n = 0;
    for (int64_t t = g->from; t < g->to; t += STEP) {
        if ((t - W1) / DAY_MS != day) {
            day = (t - W1) / DAY_MS;
            level = 1 + g->day_noise * rng_gauss(&s);
        }
        double noise = 1 + g->noise * rng_gauss(&s);
        if (t >= g->skip_from && t < g->skip_to)
            continue;
        double v = pattern_at(g, t) * level * noise;
        if (g->anomalies)
            v *= anomaly_factor(t);
        if (g->low_day && t >= g->low_day && t < g->low_day + DAY_MS)
            v *= 0.3;
        add_ok(a, "bookings", t - SEC, v, "id", g->id, NULL);
        if (++n % 5000 == 0) {
            commit_ok(a);
            a = tsdb_appender_new(db, "test");
        }
    }
    commit_ok(a);
}

static struct gen gen_default(const char *id, uint64_t seed)
{
    struct gen g = {0};
    g.seed = seed;
    g.noise = 0.015;
    g.day_noise = 0.01;
    g.from = W1;
    g.to = W5 + WEEK_MS;
    g.id = id;
    return g;
}

/* Persists what was written: blocks with their rollups. */
static void persist(struct tsdb *db, int64_t now)
{
    maintain_ok(db, now);
    flush_ok(db);
}

/* Counts the storage's rollup reads. */
static size_t rollup_reads;
static int count_rollup(void *ctx, int64_t res, const struct matcher *m, size_t nm, int64_t mint,
                        int64_t maxt, size_t max_buckets, struct tsdb_rollup_series **out,
                        size_t *n_out, char *err, size_t errlen)
{
    rollup_reads++;
    return tsdb_select_rollup(ctx, res, m, nm, mint, maxt, max_buckets, out, n_out, err, errlen);
}

static struct cfg_rule *seasonal_rule(struct config *cfg, const char *name, double k)
{
    struct cfg_rule *c = tr_add(cfg, name, "bookings", RULE_SEASONAL);
    c->se.k = k;
    /* Four seasons make a noisy MAD; a floor of 15% of the centre keeps the
     * band from shrinking below what a normal day varies (and the slot
     * interpolation's error on this curve, up to 7% at 12:00). */
    c->se.min_band_ratio = 0.15;
    c->for_ms = 10 * MIN_MS;
    c->interval_ms = STEP;
    return c;
}

/* Ticks at now until every seasonal rule has loaded its history. */
static int load_all(struct rules *r, int64_t now)
{
    int ticks = 0;
    for (;;) {
        bool busy = false;
        for (size_t i = 0; i < r->n; i++)
            if (r->rules[i].cfg->kind == RULE_SEASONAL &&
                (r->rules[i].bl != BL_READY || r->rules[i].want_series_load))
                busy = true;
        if (!busy && ticks > 0)
            return ticks;
        for (size_t i = 0; i < r->n; i++)
            r->rules[i].due = INT64_MAX / 2; /* loading only */
        rules_tick(r, now);
        ticks++;
        assert_true(ticks < 1000);
    }
}

/* Steps through [from, to) every 5 min, evaluating every rule. */
static void step_week(struct rules *r, int64_t from, int64_t to)
{
    for (int64_t t = from; t < to; t += STEP)
        eval_at(r, t);
}

/* ---- tests ---- */

static void test_anomalies_fire_peaks_do_not(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    w.env.storage.select_rollup = count_rollup;
    struct gen g = gen_default("shop", 1);
    g.anomalies = true;
    gen_write(w.db, &g);
    persist(w.db, W5 + WEEK_MS);
    seasonal_rule(w.cfg, "BookingsOff", 4);
    world_start(&w);
    rollup_reads = 0;
    load_all(w.r, W5);
    assert_true(rollup_reads >= 28); /* the history came from the 5 min rollups */
    struct rseries *s = only_state(w.r, 0);
    assert_non_null(s->bl);
    step_week(w.r, W5, W5 + WEEK_MS);
    /* Exactly the drop (Tuesday 10:00-10:45) and the spike (Thursday 03:00-03:30). */
    assert_int_equal(w.rec->n, 4);
    assert_int_equal(w.rec->ev[0].action, EVENT_TRIGGER);
    assert_int_equal(w.rec->ev[0].ts, W5 + DAY_MS + 10 * HOUR + 10 * MIN_MS);
    assert_int_equal(w.rec->ev[1].action, EVENT_RESOLVE);
    assert_int_equal(w.rec->ev[1].ts, W5 + DAY_MS + 10 * HOUR + 45 * MIN_MS);
    assert_int_equal(w.rec->ev[2].ts, W5 + 3 * DAY_MS + 3 * HOUR + 10 * MIN_MS);
    assert_int_equal(w.rec->ev[3].ts, W5 + 3 * DAY_MS + 3 * HOUR + 30 * MIN_MS);
    const char *e = rec_expl(w.rec, 0);
    assert_non_null(strstr(e, "% below the expected "));
    assert_non_null(strstr(e, " MADs below); expected "));
    assert_non_null(strstr(e, " for Tuesday 10:00 from the last 4 Tuesdays (median "));
    json_t *tr = json_object_get(w.rec->ev[0].details, "tocsin_rule");
    assert_string_equal(json_string_value(json_object_get(tr, "slot")), "Tuesday 10:00");
    assert_int_equal(json_integer_value(json_object_get(tr, "seasons_used")), 4);
    double lo = json_real_value(json_object_get(tr, "low"));
    double val = json_real_value(json_object_get(tr, "value"));
    assert_true(val < lo);
    assert_non_null(strstr(rec_expl(w.rec, 2), "above the expected"));
    /* The baseline was kept up to date slot by slot, never reloaded. */
    assert_int_equal(w.r->rules[0].bl_until, W5 + WEEK_MS - HOUR);
    struct rules_stats st;
    rules_stats(w.r, &st);
    assert_int_equal(st.baselines, 1);
    assert_int_equal(st.baseline_bytes, baseline_memory(s->bl));
    assert_int_equal(st.baselines_loading, 0);
    world_close(&w);
}

static void test_loading_status_and_budget(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct gen g = gen_default("shop", 2);
    g.to = W5;
    gen_write(w.db, &g);
    persist(w.db, W5);
    w.env.backfill_budget_ms = 1; /* one piece per tick */
    seasonal_rule(w.cfg, "Bookings", 3);
    world_start(&w);
    w.r->rules[0].due = W5;
    put(w.db, "bookings", W5 - SEC, 10, "id", "shop", NULL); /* far too low */
    rules_tick(w.r, W5);
    /* Loading: not evaluated, nothing sent, the status says so. */
    assert_int_equal(w.rec->n, 0);
    assert_int_equal(w.r->rules[0].last_eval, 0);
    json_t *js = rules_status_json(w.r, "Bookings");
    json_t *rule = json_array_get(
        json_object_get(json_array_get(json_object_get(js, "groups"), 0), "rules"), 0);
    json_t *bl = json_object_get(rule, "baseline");
    assert_string_equal(json_string_value(json_object_get(bl, "status")), "loading");
    assert_string_equal(json_string_value(json_object_get(rule, "health")), "unknown");
    json_decref(js);
    struct rules_stats st;
    rules_stats(w.r, &st);
    assert_int_equal(st.baselines_loading, 1);
    int ticks = load_all(w.r, W5);
    assert_true(ticks >= 2); /* 28 pieces of a day: more than one tick's budget */
    js = rules_status_json(w.r, "Bookings");
    rule = json_array_get(
        json_object_get(json_array_get(json_object_get(js, "groups"), 0), "rules"), 0);
    bl = json_object_get(rule, "baseline");
    assert_string_equal(json_string_value(json_object_get(bl, "status")), "ready");
    assert_int_equal(json_integer_value(json_object_get(bl, "series")), 1);
    assert_true(json_integer_value(json_object_get(bl, "bytes")) >= 168 * 4 * 4);
    json_decref(js);
    eval_at(w.r, W5);
    for (int k = 1; k <= 2; k++) {
        put(w.db, "bookings", W5 + k * STEP - SEC, 10, "id", "shop", NULL);
        eval_at(w.r, W5 + k * STEP);
    }
    assert_int_equal(w.rec->n, 1); /* the low value held 10 min: fires */
    assert_int_equal(w.rec->ev[0].ts, W5 + 10 * MIN_MS);
    world_close(&w);
}

static void test_flat_data_floors(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct tsdb_appender *a = tsdb_appender_new(w.db, "t");
    for (int64_t t = W5 - 2 * WEEK_MS; t < W5; t += STEP) {
        add_ok(a, "flat", t - SEC, 100, NULL);
        add_ok(a, "tiny", t - SEC, 0.5, NULL);
    }
    commit_ok(a);
    persist(w.db, W5);
    struct cfg_rule *c = tr_add(w.cfg, "Flat", "flat", RULE_SEASONAL);
    c->se.horizon_ms = 2 * WEEK_MS;
    c->interval_ms = STEP;
    c = tr_add(w.cfg, "Tiny", "tiny", RULE_SEASONAL);
    c->se.horizon_ms = 2 * WEEK_MS;
    c->se.min_band = 5;
    c->interval_ms = STEP;
    world_start(&w);
    load_all(w.r, W5);
    /* Zero spread: the band is centre -/+ 5% (min_band_ratio), so 100 and
     * 96 are fine, 90 is not; the tiny series is held by min_band. */
    double flat[] = {100, 96, 90};
    double tiny[] = {0.5, 3, 4.9};
    for (int k = 0; k < 3; k++) {
        put(w.db, "flat", W5 + 10 * HOUR + k * STEP - SEC, flat[k], NULL);
        put(w.db, "tiny", W5 + 10 * HOUR + k * STEP - SEC, tiny[k], NULL);
        eval_at(w.r, W5 + 10 * HOUR + k * STEP);
    }
    assert_int_equal(w.rec->n, 1);
    assert_string_equal(rec_expl(w.rec, 0),
                        "value 90 is 10% below the expected 100; expected 95\xe2\x80\x93"
                        "105 for Monday 10:00 from the last 2 Mondays (median 100, MAD 0, k 3)");
    json_t *tr = json_object_get(w.rec->ev[0].details, "tocsin_rule");
    assert_true(json_real_value(json_object_get(tr, "spread")) == 0);
    assert_null(json_object_get(tr, "deviation_spreads"));
    world_close(&w);
}

static void test_short_history_silent_or_static(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct gen g = gen_default("shop", 3);
    g.from = W5 - WEEK_MS; /* one week of history only */
    g.anomalies = true;
    gen_write(w.db, &g);
    persist(w.db, W5 + WEEK_MS);
    seasonal_rule(w.cfg, "Silent", 3);
    struct cfg_rule *c = seasonal_rule(w.cfg, "Fallback", 3);
    c->se.fallback = FALLBACK_STATIC;
    c->st.below = tr_levels(250, NAN, NAN, NAN);
    world_start(&w);
    load_all(w.r, W5);
    step_week(w.r, W5, W5 + 2 * DAY_MS);
    /* Silent: nothing; the state says why. Fallback: judged on the static
     * level 250, which the night (about 200) and the drop to 40% are below. */
    char buf[512];
    rules_explain(&w.r->rules[0], only_state(w.r, 0), buf, sizeof(buf));
    assert_string_equal(buf, "no baseline for Tuesday 23:00: too little history (1 of 2 "
                             "Tuesdays needed)");
    size_t fallback_triggers = 0;
    for (size_t i = 0; i < w.rec->n; i++) {
        assert_non_null(strstr(w.rec->ev[i].key, "Fallback/"));
        if (w.rec->ev[i].action == EVENT_TRIGGER) {
            fallback_triggers++;
            const char *e = rec_expl(w.rec, i);
            assert_non_null(strstr(e, "is below the warning level 250; static levels used: no "
                                      "baseline for "));
        }
    }
    assert_true(fallback_triggers >= 1);
    world_close(&w);
}

static void test_missing_week(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct gen g = gen_default("shop", 4);
    g.anomalies = true;
    g.skip_from = W1 + WEEK_MS; /* Tocsin was down for week 2 */
    g.skip_to = W1 + 2 * WEEK_MS;
    gen_write(w.db, &g);
    persist(w.db, W5 + WEEK_MS);
    seasonal_rule(w.cfg, "Bookings", 4);
    world_start(&w);
    load_all(w.r, W5);
    step_week(w.r, W5, W5 + WEEK_MS);
    assert_int_equal(w.rec->n, 4);
    assert_int_equal(w.rec->ev[0].ts, W5 + DAY_MS + 10 * HOUR + 10 * MIN_MS);
    assert_int_equal(w.rec->ev[2].ts, W5 + 3 * DAY_MS + 3 * HOUR + 10 * MIN_MS);
    assert_non_null(strstr(rec_expl(w.rec, 0), "from 3 of the last 4 Tuesdays"));
    world_close(&w);
}

static void test_dst_week_berlin(void **state)
{
    (void)state;
    struct world w;
    char err[200];
    world_open(&w);
    const struct tz *berlin = tz_get("Europe/Berlin", err, sizeof(err));
    assert_non_null(berlin);
    /* Four weeks of CEST history (2026-09-28 .. 2026-10-25, the change on
     * Sunday 25th at 03:00 local), then the first CET week. */
    int64_t mon = utc(2026, 10, 25, 23, 0); /* Monday 2026-10-26 00:00 CET */
    struct gen g = gen_default("shop", 5);
    g.tz = berlin;
    g.from = utc(2026, 9, 27, 22, 0); /* Monday 2026-09-28 00:00 CEST */
    g.to = mon + WEEK_MS;
    gen_write(w.db, &g);
    persist(w.db, mon + WEEK_MS);
    struct cfg_rule *c = seasonal_rule(w.cfg, "Bookings", 4);
    c->se.tz = berlin;
    world_start(&w);
    load_all(w.r, mon);
    /* Monday 08:00 local is 07:00 UTC now and was 06:00 UTC in the history:
     * the band follows local time, so its centre is the morning peak. */
    struct rseries *s = only_state(w.r, 0);
    struct baseline_band b;
    baseline_expect(s->bl, mon + 8 * HOUR + 30 * MIN_MS, &b);
    assert_true(b.ok);
    assert_int_equal(b.slot, 8);
    assert_true(b.centre > 1000 && b.centre < 1300);
    baseline_expect(s->bl, mon + 3 * HOUR + 30 * MIN_MS, &b);
    assert_true(b.centre > 250 && b.centre < 310); /* 03:30 local: about 280 */
    step_week(w.r, mon, mon + WEEK_MS);
    assert_int_equal(w.rec->n, 0);
    world_close(&w);
}

static void test_holidays(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct gen g = gen_default("shop", 6);
    g.low_day = W1 + WEEK_MS + 2 * DAY_MS; /* Wednesday 2026-11-04: a holiday, at 30% */
    gen_write(w.db, &g);
    persist(w.db, W5 + WEEK_MS);
    struct cfg_rule *c = seasonal_rule(w.cfg, "Bookings", 4);
    c->se.n_holidays = 2;
    c->se.holidays = malloc(2 * sizeof(int32_t));
    c->se.holidays[0] = 20261104;
    c->se.holidays[1] = 20261125; /* Wednesday of the evaluated week */
    world_start(&w);
    load_all(w.r, W5);
    step_week(w.r, W5, W5 + 2 * DAY_MS + 10 * HOUR);
    /* On the holiday itself the rule falls back (silent) and says why. */
    struct rseries *s = only_state(w.r, 0);
    char buf[300];
    rules_explain(&w.r->rules[0], s, buf, sizeof(buf));
    assert_string_equal(buf, "no baseline for Wednesday 09:00: holiday");
    assert_int_equal(w.rec->n, 0);
    /* History on a holiday is left out: a week later, Wednesday 08:00 has
     * the ordinary Wednesdays of Nov 11 and 18 (Nov 25 is not put yet, and
     * Nov 4 at 30% does not count). */
    struct baseline_band b;
    baseline_expect(s->bl, W5 + WEEK_MS + 2 * DAY_MS + 8 * HOUR + 30 * MIN_MS, &b);
    assert_true(b.ok);
    assert_int_equal(b.seasons_used, 2);
    assert_true(b.centre > 1100 && b.centre < 1250); /* the peak (about 1,170), not 30% of it */

    /* A reload with the same rule keeps the baseline, and the holidays it
     * borrows outlive the old config. */
    struct config *n = tr_config();
    struct cfg_rule *c2 = seasonal_rule(n, "Bookings", 4);
    c2->se.n_holidays = 2;
    c2->se.holidays = malloc(2 * sizeof(int32_t));
    c2->se.holidays[0] = 20261104;
    c2->se.holidays[1] = 20261125;
    struct baseline *before = s->bl;
    rules_reload(w.r, n);
    tr_config_free(w.cfg);
    w.cfg = n;
    assert_int_equal(w.r->rules[0].bl, BL_READY);
    assert_ptr_equal(only_state(w.r, 0)->bl, before);
    step_week(w.r, W5 + 2 * DAY_MS + 10 * HOUR, W5 + 3 * DAY_MS);
    assert_int_equal(w.rec->n, 0);
    rules_explain(&w.r->rules[0], s, buf, sizeof(buf));
    assert_string_equal(buf, "no baseline for Wednesday 23:00: holiday");
    world_close(&w);
}

static void test_new_series_loads_its_history(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct gen g = gen_default("a", 7);
    g.to = W5;
    gen_write(w.db, &g);
    persist(w.db, W5);
    seasonal_rule(w.cfg, "Bookings", 4);
    world_start(&w);
    load_all(w.r, W5);
    assert_int_equal(w.r->rules[0].ns, 1);
    /* A series whose history arrives after the load (a backfill), and one
     * that is brand new. */
    struct gen g2 = gen_default("b", 8);
    g2.to = W5 + 10 * HOUR + STEP;
    gen_write(w.db, &g2);
    put(w.db, "bookings", W5 + 10 * HOUR - SEC, 500, "id", "c", NULL);
    put(w.db, "bookings", W5 + 10 * HOUR - SEC, 1100, "id", "a", NULL);
    eval_at(w.r, W5 + 10 * HOUR);
    assert_int_equal(w.r->rules[0].ns, 3);
    /* b and c were not judged at this evaluation; the same tick's loading
     * budget (after the evaluations) loaded their history. */
    assert_false(w.r->rules[0].want_series_load);
    char buf[300];
    for (size_t i = 0; i < 3; i++) {
        struct rseries *s = w.r->rules[0].s[i];
        const char *id = labels_get(&s->labels, "id");
        assert_non_null(s->bl);
        if (strcmp(id, "a") != 0) {
            rules_explain(&w.r->rules[0], s, buf, sizeof(buf));
            assert_string_equal(buf, "baseline loading");
            assert_int_equal(s->phase, RS_INACTIVE);
        }
    }
    put(w.db, "bookings", W5 + 10 * HOUR + STEP - SEC, 500, "id", "c", NULL);
    put(w.db, "bookings", W5 + 10 * HOUR + STEP - SEC, 1100, "id", "a", NULL);
    put(w.db, "bookings", W5 + 10 * HOUR + STEP - SEC, 1100, "id", "b", NULL);
    eval_at(w.r, W5 + 10 * HOUR + STEP);
    for (size_t i = 0; i < 3; i++) {
        struct rseries *s = w.r->rules[0].s[i];
        const char *id = labels_get(&s->labels, "id");
        assert_non_null(s->bl);
        rules_explain(&w.r->rules[0], s, buf, sizeof(buf));
        if (strcmp(id, "c") == 0)
            assert_string_equal(buf, "no baseline for Monday 10:00: too little history (0 of 2 "
                                     "Mondays needed)");
        if (strcmp(id, "b") == 0) {
            assert_int_equal(s->info.band.seasons_used, 4);
            assert_true(s->info.band.ok);
        }
    }
    world_close(&w);
}

static void test_backtest_seasonal(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct gen g = gen_default("shop", 9);
    g.anomalies = true;
    gen_write(w.db, &g);
    persist(w.db, W5 + WEEK_MS);
    seasonal_rule(w.cfg, "Bookings", 4);
    world_start(&w);
    struct rules_backtest_opts o = {W5, W5 + WEEK_MS - STEP, STEP, 0};
    json_t *out = NULL;
    char err[300] = "";
    if (rules_backtest(&w.cfg->rules[0], &w.cfg->rule_settings, &w.env, &o, &out, err,
                       sizeof(err)) != 0)
        fail_msg("backtest: %s", err);
    assert_int_equal(json_integer_value(json_object_get(out, "evaluations")), 2016);
    assert_int_equal(json_integer_value(json_object_get(out, "fired")), 2);
    json_t *alerts = json_object_get(out, "alerts");
    assert_string_equal(json_string_value(json_object_get(json_array_get(alerts, 0), "fired_at")),
                        "2026-11-24T10:10:00.000Z");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(alerts, 0), "resolved_at")),
        "2026-11-24T10:45:00.000Z");
    assert_string_equal(json_string_value(json_object_get(json_array_get(alerts, 1), "fired_at")),
                        "2026-11-26T03:10:00.000Z");
    json_decref(out);

    /* From a point with too little history, the notes say so. */
    o.from = W1 + WEEK_MS;
    o.to = W1 + WEEK_MS + DAY_MS;
    assert_int_equal(
        rules_backtest(&w.cfg->rules[0], &w.cfg->rule_settings, &w.env, &o, &out, err, sizeof(err)),
        0);
    assert_int_equal(json_integer_value(json_object_get(out, "fired")), 0);
    const char *n0 = json_string_value(json_array_get(json_object_get(out, "notes"), 0));
    assert_non_null(n0);
    assert_non_null(strstr(n0, "the baseline had too little history for 289 of 289 series "
                               "evaluations"));
    json_decref(out);
    world_close(&w);
}

/* Over many seeds, unperturbed data never alerts with k = 4. */
static void test_property_no_false_alerts(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    enum { SEEDS = 24 };
    for (int i = 0; i < SEEDS; i++) {
        char id[16];
        snprintf(id, sizeof(id), "s%02d", i);
        struct gen g = gen_default(id, 100 + (uint64_t)i);
        gen_write(w.db, &g);
    }
    persist(w.db, W5 + WEEK_MS);
    seasonal_rule(w.cfg, "Bookings", 4);
    world_start(&w);
    load_all(w.r, W5);
    assert_int_equal(w.r->rules[0].ns, SEEDS);
    step_week(w.r, W5, W5 + WEEK_MS);
    if (w.rec->n > 0)
        fail_msg("%zu events, the first: %s %s", w.rec->n, w.rec->ev[0].key, rec_expl(w.rec, 0));
    world_close(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anomalies_fire_peaks_do_not),
        cmocka_unit_test(test_loading_status_and_budget),
        cmocka_unit_test(test_flat_data_floors),
        cmocka_unit_test(test_short_history_silent_or_static),
        cmocka_unit_test(test_missing_week),
        cmocka_unit_test(test_dst_week_berlin),
        cmocka_unit_test(test_holidays),
        cmocka_unit_test(test_new_series_loads_its_history),
        cmocka_unit_test(test_backtest_seasonal),
        cmocka_unit_test(test_property_no_false_alerts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
