/*
 * rules_kinds.c - one evaluation of one rule: run its query, judge every
 * returned series by the rule's kind (static levels, seasonal band,
 * absence, forecast, Prometheus alerting rule) and move the states; or, for
 * a recording rule, store the result as a new series.
 */
#include "rules_int.h"

#include "../base/clock.h"
#include "../base/recur.h"
#include "../metrics/promql_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(struct rules *r, struct rrule *rr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct rules *r, struct rrule *rr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rr->last_error, sizeof(rr->last_error), fmt, ap);
    va_end(ap);
    rr->err = true;
    rr->failures++;
    r->st.failures++;
    return -1;
}

/* Runs the rule's instant query at now and checks the series limit. */
static int run_instant(struct rules *r, struct rrule *rr, int64_t now, int64_t lookback,
                       struct promql_result *res)
{
    struct promql_opts o;
    char err[RULES_MAX_ERROR];
    rules_opts(r, &o);
    if (lookback > 0)
        o.lookback_ms = lookback;
    int rc = promql_eval_instant(&r->env.storage, rr->expr, now, &o, res, err, sizeof(err));
    if (rc != PROMQL_OK)
        return fail(r, rr, "query failed: %s", err);
    if (res->type == PROMQL_STRING) {
        promql_result_free(res);
        return fail(r, rr, "query returned a string, not numbers");
    }
    size_t n = res->type == PROMQL_SCALAR ? 1 : res->n;
    size_t max = rules_max_series(r);
    if (n > max) {
        promql_result_free(res);
        return fail(r, rr, "query returned %zu series, more than max_series_per_rule (%zu)", n,
                    max);
    }
    return 0;
}

static const struct labelset no_labels = {0, NULL};

/* The i-th series of an instant result: its labels and value. */
static void result_at(const struct promql_result *res, size_t i, const struct labelset **ls,
                      double *v)
{
    if (res->type == PROMQL_SCALAR) {
        *ls = &no_labels;
        *v = res->scalar;
        return;
    }
    *ls = &res->series[i].ls;
    *v = res->series[i].n > 0 ? res->series[i].v[res->series[i].n - 1] : NAN;
}

static size_t result_count(const struct promql_result *res)
{
    return res->type == PROMQL_SCALAR ? 1 : res->n;
}

/* The state of series ls, made when new. NULL when out of memory. */
static struct rseries *state_of(struct rules *r, struct rrule *rr, const struct labelset *ls)
{
    uint64_t fp = rules_alert_fp(rr, ls);
    struct rseries *s = rules_series_find(rr, fp);
    if (!s)
        s = rules_series_add(r, rr, fp, ls);
    return s;
}

/* ---- static levels ---- */

static bool beyond(double v, double level, int dir)
{
    return dir == RULE_ABOVE ? v > level : v < level;
}

static bool recovered(double v, double rec, int dir)
{
    return dir == RULE_ABOVE ? v <= rec : v >= rec;
}

/*
 * The level of one side: the highest level the value is past now, or that
 * hysteresis still holds (a level once reached clears only when the value
 * is back past its recovery level). *hold carries the state.
 */
static int side_level(const struct cfg_levels *l, int dir, double v, uint8_t *hold, bool *held)
{
    *held = false;
    if (!l->set || isnan(v)) {
        *hold = 0;
        return 0;
    }
    double rc = isnan(l->recover_critical) ? l->critical : l->recover_critical;
    double rw = isnan(l->recover_warning) ? l->warning : l->recover_warning;
    int past = 0, kept = 0;
    if (!isnan(l->critical) && beyond(v, l->critical, dir))
        past = 2;
    else if (!isnan(l->warning) && beyond(v, l->warning, dir))
        past = 1;
    if (*hold >= 2 && !isnan(l->critical) && !recovered(v, rc, dir))
        kept = 2;
    else if (*hold >= 1 && !isnan(l->warning) && !recovered(v, rw, dir))
        kept = 1;
    int level = past > kept ? past : kept;
    *hold = (uint8_t)level;
    *held = level > past;
    return level;
}

int rules_static_judge(const struct rrule *rr, struct rseries *s, double v, int64_t now)
{
    const struct cfg_static *st = &rr->cfg->st;
    const struct cfg_levels *above = &st->above, *below = &st->below;
    int period = -1;
    for (size_t p = 0; p < st->n_periods && period < 0; p++)
        for (size_t w = 0; w < st->periods[p].n_windows; w++)
            if (recur_active(&st->periods[p].windows[w], now)) {
                period = (int)p;
                break;
            }
    if (period >= 0) {
        above = &st->periods[period].above;
        below = &st->periods[period].below;
    }
    bool ha, hb;
    int la = side_level(above, RULE_ABOVE, v, &s->hold_above, &ha);
    int lb = side_level(below, RULE_BELOW, v, &s->hold_below, &hb);
    const struct cfg_levels *l = la >= lb ? above : below;
    int level = la >= lb ? la : lb;
    s->info.period = period;
    s->info.level = (uint8_t)level;
    s->info.side = la >= lb ? RULE_ABOVE : RULE_BELOW;
    s->info.held = la >= lb ? ha : hb;
    s->info.threshold = NAN;
    s->info.recover = NAN;
    if (level == 2) {
        s->info.threshold = l->critical;
        s->info.recover = isnan(l->recover_critical) ? l->critical : l->recover_critical;
        s->sev = rr->cfg->severity_set ? rr->cfg->severity : SEV_CRITICAL;
    } else if (level == 1) {
        s->info.threshold = l->warning;
        s->info.recover = isnan(l->recover_warning) ? l->warning : l->recover_warning;
        s->sev = SEV_WARNING;
    }
    return level;
}

static bool judge_static(struct rrule *rr, struct rseries *s, double v, int64_t now)
{
    s->info.judged = true;
    s->info.note = NULL;
    return rules_static_judge(rr, s, v, now) > 0;
}

/* ---- seasonal ---- */

static bool static_levels_given(const struct cfg_static *st)
{
    return st->above.set || st->below.set || st->n_periods > 0;
}

/* Judges s against its band; *hold is set when the series waits for its history. */
static bool judge_seasonal(struct rrule *rr, struct rseries *s, double v, int64_t now, bool *hold)
{
    const struct cfg_seasonal *se = &rr->cfg->se;
    struct rinfo *in = &s->info;
    *hold = false;
    in->note = NULL;
    in->fallback = false;
    in->loading = false;
    if (!s->bl) {
        in->loading = true;
        in->judged = false;
        *hold = true;
        return false;
    }
    baseline_expect(s->bl, now, &in->band);
    if (!in->band.ok) {
        if (se->fallback == FALLBACK_STATIC && static_levels_given(&rr->cfg->st)) {
            in->judged = true;
            in->fallback = true;
            return rules_static_judge(rr, s, v, now) > 0;
        }
        s->hold_above = s->hold_below = 0;
        in->judged = false;
        in->level = 0;
        return false;
    }
    s->hold_above = s->hold_below = 0;
    in->judged = true;
    in->level = 0;
    s->sev = rr->cfg->severity;
    if (isnan(v))
        return false;
    bool lo = (se->direction & RULE_BELOW) && v < in->band.low;
    bool hi = (se->direction & RULE_ABOVE) && v > in->band.high;
    if (lo) {
        in->side = RULE_BELOW;
        in->threshold = in->band.low;
    } else if (hi) {
        in->side = RULE_ABOVE;
        in->threshold = in->band.high;
    } else {
        in->side = v < in->band.centre ? RULE_BELOW : RULE_ABOVE;
        in->threshold = NAN;
    }
    return lo || hi;
}

/* ---- instant kinds: static, seasonal, promql ---- */

static int eval_instant_kind(struct rules *r, struct rrule *rr, int64_t now)
{
    struct promql_result res;
    if (rr->cfg->kind == RULE_SEASONAL && rr->bl == BL_READY) {
        char err[RULES_MAX_ERROR];
        if (rules_history_update(r, rr, now, err, sizeof(err)) != 0)
            snprintf(rr->bl_note, sizeof(rr->bl_note), "the last slot could not be loaded: %s",
                     err);
    }
    if (run_instant(r, rr, now, 0, &res) != 0)
        return -1;
    for (size_t i = 0; i < rr->ns; i++)
        rr->s[i]->seen = false;
    size_t n = result_count(&res);
    for (size_t i = 0; i < n; i++) {
        const struct labelset *ls;
        double v;
        result_at(&res, i, &ls, &v);
        struct rseries *s = state_of(r, rr, ls);
        if (!s)
            continue;
        s->seen = true;
        s->last_seen = now;
        s->value = v;
        bool cond = false, hold = false;
        switch (rr->cfg->kind) {
        case RULE_STATIC:
            cond = judge_static(rr, s, v, now);
            break;
        case RULE_SEASONAL:
            cond = judge_seasonal(rr, s, v, now, &hold);
            if (hold)
                rr->want_series_load = true;
            break;
        default: /* RULE_PROMQL: every series the query returns fires */
            s->info.judged = true;
            s->sev = rr->cfg->severity;
            cond = true;
            break;
        }
        if (!hold)
            rules_series_step(rr, s, cond, now);
    }
    promql_result_free(&res);
    for (size_t i = 0; i < rr->ns; i++) {
        struct rseries *s = rr->s[i];
        if (s->seen)
            continue;
        s->value = NAN;
        s->hold_above = s->hold_below = 0;
        s->info.level = 0;
        rules_series_step(rr, s, false, now);
    }
    return 0;
}

/* ---- absent ---- */

static void add_eq_matchers(const struct promql_expr *e, struct labelset *ls, struct labelset *bad)
{
    if (e->kind == N_VECSEL || e->kind == N_MATSEL) {
        for (size_t i = 0; i < e->nm; i++) {
            const struct matcher *m = &e->m[i];
            if (m->op != MATCH_EQ || strcmp(m->name, "__name__") == 0 || !*m->value)
                continue;
            const char *have = labels_get(ls, m->name);
            if (have && strcmp(have, m->value) != 0)
                labels_set(bad, m->name, "");
            else
                labels_set(ls, m->name, m->value);
        }
    }
    for (size_t i = 0; i < e->na; i++)
        add_eq_matchers(e->a[i], ls, bad);
}

int rules_absent_labels(const struct promql_expr *e, struct labelset *out)
{
    struct labelset bad = {0, NULL};
    struct labelset all = {0, NULL};
    out->n = 0;
    out->v = NULL;
    add_eq_matchers(e, &all, &bad);
    /* A label two selectors want with different values cannot be named. */
    for (size_t i = 0; i < all.n; i++) {
        if (labels_get(&bad, all.v[i].name))
            continue;
        if (labels_set(out, all.v[i].name, all.v[i].value) != 0) {
            labels_free(&all);
            labels_free(&bad);
            labels_free(out);
            return -1;
        }
    }
    labels_free(&all);
    labels_free(&bad);
    return 0;
}

/*
 * absent: the query is evaluated with the lookback set to `after`, so a
 * series is present when it had a sample within `after`. The series seen
 * before (and, at the first evaluation, within the forget period, to catch
 * what stopped while Tocsin was down) that are not present are absent.
 */
static int eval_absent(struct rules *r, struct rrule *rr, int64_t now)
{
    const struct cfg_absent *ab = &rr->cfg->ab;
    struct promql_result res;
    int64_t after = ab->after_ms > 0 ? ab->after_ms : 1;

    for (size_t i = 0; i < rr->ns; i++)
        rr->s[i]->seen = false;
    if (!rr->seeded) {
        int64_t lb =
            ab->forget_ms > 0 && ab->forget_ms < RULES_WEEK_MS ? ab->forget_ms : RULES_WEEK_MS;
        if (lb > after) {
            if (run_instant(r, rr, now, lb, &res) != 0)
                return -1;
            size_t n = result_count(&res);
            for (size_t i = 0; i < n; i++) {
                const struct labelset *ls;
                double v;
                result_at(&res, i, &ls, &v);
                struct rseries *s = state_of(r, rr, ls);
                if (s && s->last_seen == 0 && s->info.absent_since == 0) {
                    /* Seen within the forget period, not necessarily within
                     * `after`: if it is not present below, its last sample
                     * came before now - after. */
                    s->info.absent_since = now - after;
                    s->info.before = true;
                    s->value = v;
                }
            }
            promql_result_free(&res);
        }
        rr->seeded = true;
    }
    if (run_instant(r, rr, now, after, &res) != 0)
        return -1;
    size_t n = result_count(&res);
    size_t known = 0;
    for (size_t i = 0; i < n; i++) {
        const struct labelset *ls;
        double v;
        result_at(&res, i, &ls, &v);
        struct rseries *s = state_of(r, rr, ls);
        if (!s)
            continue;
        s->seen = true;
        s->gone = false;
        s->last_seen = now;
        s->value = v;
        s->info.judged = true;
        s->info.never = false;
        s->info.before = false;
        s->info.absent_since = 0;
        rules_series_step(rr, s, false, now);
    }
    promql_result_free(&res);
    for (size_t i = 0; i < rr->ns; i++) {
        struct rseries *s = rr->s[i];
        if (s->seen || s->info.never)
            continue;
        s->value = NAN;
        s->info.judged = true;
        if (s->info.absent_since == 0)
            s->info.absent_since = now - after;
        if (ab->forget_ms > 0 && now - s->info.absent_since >= ab->forget_ms) {
            /* Gone long enough to be forgotten: resolved, then dropped. */
            s->gone = true;
            s->phase = RS_INACTIVE;
            s->false_since = 0;
            continue;
        }
        known++;
        s->sev = rr->cfg->severity;
        rules_series_step(rr, s, true, now);
    }
    /* Nothing present and nothing known: absent() names the series by the
     * query's equality matchers. */
    bool nothing = n == 0 && known == 0;
    struct labelset al;
    if (rules_absent_labels(rr->expr, &al) == 0) {
        uint64_t fp = rules_alert_fp(rr, &al);
        struct rseries *s = rules_series_find(rr, fp);
        if (nothing && !s) {
            s = rules_series_add(r, rr, fp, &al);
            if (s) {
                s->info.never = true;
                s->info.absent_since = 0;
            }
        }
        if (s && s->info.never) {
            s->value = NAN;
            s->info.judged = true;
            s->sev = rr->cfg->severity;
            s->seen = nothing;
            s->gone = !nothing;
            if (nothing) {
                rules_series_step(rr, s, true, now);
            } else {
                /* Something exists now: the absent() alert no longer applies. */
                s->phase = RS_INACTIVE;
                s->false_since = 0;
            }
        }
        labels_free(&al);
    }
    return 0;
}

/* ---- forecast ---- */

/* window / 240 rounded up to whole 5 min when at least 5 min, else 1 min. */
static int64_t forecast_step(int64_t window)
{
    int64_t s = (window + 239) / 240;
    const int64_t five = 5 * 60 * 1000;
    if (s >= five)
        return (s + five - 1) / five * five;
    return 60 * 1000;
}

static int eval_forecast(struct rules *r, struct rrule *rr, int64_t now)
{
    const struct cfg_forecast *fc = &rr->cfg->fc;
    int64_t window = fc->window_ms > 0 ? fc->window_ms : fc->within_ms;
    struct promql_opts o;
    struct promql_result res;
    char err[RULES_MAX_ERROR];
    rules_opts(r, &o);
    int64_t step = forecast_step(window);
    int rc = promql_eval_range(&r->env.storage, rr->expr, now - window, now, step, &o, &res, err,
                               sizeof(err));
    if (rc != PROMQL_OK)
        return fail(r, rr, "query failed: %s", err);
    size_t max = rules_max_series(r);
    if (res.n > max) {
        size_t got = res.n;
        promql_result_free(&res);
        return fail(r, rr, "query returned %zu series, more than max_series_per_rule (%zu)", got,
                    max);
    }
    for (size_t i = 0; i < rr->ns; i++)
        rr->s[i]->seen = false;
    for (size_t i = 0; i < res.n; i++) {
        const struct promql_series *ps = &res.series[i];
        struct rseries *s = state_of(r, rr, &ps->ls);
        if (!s)
            continue;
        s->seen = true;
        s->last_seen = now;
        s->value = ps->n > 0 ? ps->v[ps->n - 1] : NAN;
        s->sev = rr->cfg->severity;
        struct rinfo *in = &s->info;
        size_t good = 0;
        for (size_t k = 0; k < ps->n; k++)
            if (isfinite(ps->v[k]))
                good++;
        in->points = good;
        in->predicted = 0;
        in->r2 = NAN;
        in->note = NULL;
        bool cond = false;
        struct forecast_fit fit;
        int min = fc->min_points > 0 ? fc->min_points : 2;
        if (good < (size_t)min) {
            in->judged = false;
            in->note = "too few points";
        } else if (forecast_fit(fc->model, ps->t, ps->v, ps->n, &fit, err, sizeof(err)) != 0) {
            in->judged = false;
            in->note = "the trend could not be fitted";
        } else {
            int64_t when;
            in->judged = true;
            in->r2 = fit.r2;
            if (forecast_crossing(&fit, fc->limit, fc->dir, now, now + fc->within_ms, &when)) {
                in->predicted = when;
                cond = true;
            }
        }
        rules_series_step(rr, s, cond, now);
    }
    promql_result_free(&res);
    for (size_t i = 0; i < rr->ns; i++) {
        struct rseries *s = rr->s[i];
        if (!s->seen) {
            s->value = NAN;
            rules_series_step(rr, s, false, now);
        }
    }
    return 0;
}

/* ---- record ---- */

static int eval_record(struct rules *r, struct rrule *rr, int64_t now)
{
    struct promql_result res;
    char err[RULES_MAX_ERROR];
    if (run_instant(r, rr, now, 0, &res) != 0)
        return -1;
    if (!r->env.db) {
        promql_result_free(&res);
        return 0;
    }
    struct tsdb_appender *a = tsdb_appender_new(r->env.db, "rules");
    if (!a) {
        promql_result_free(&res);
        return fail(r, rr, "out of memory");
    }
    size_t n = result_count(&res), bad = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        const struct labelset *ls;
        double v;
        struct labelset out;
        result_at(&res, i, &ls, &v);
        if (rules_alert_labels(rr, ls, &out) != 0) {
            rc = -1;
            break;
        }
        struct tsdb_label stack[LABELS_MAX_PAIRS + 2];
        size_t nl = out.n < LABELS_MAX_PAIRS + 2 ? out.n : LABELS_MAX_PAIRS + 2;
        for (size_t k = 0; k < nl; k++) {
            stack[k].name = out.v[k].name;
            stack[k].value = out.v[k].value;
        }
        if (tsdb_append(a, stack, nl, now, v, err, sizeof(err)) != TSDB_OK) {
            if (bad++ == 0)
                snprintf(rr->last_error, sizeof(rr->last_error), "storing %s: %s", rr->cfg->name,
                         err);
        }
        labels_free(&out);
    }
    promql_result_free(&res);
    if (rc != 0) {
        tsdb_rollback(a);
        return fail(r, rr, "out of memory");
    }
    if (tsdb_commit(a, err, sizeof(err)) != 0)
        return fail(r, rr, "storing the result failed: %s", err);
    if (bad > 0) {
        char first[RULES_MAX_ERROR];
        snprintf(first, sizeof(first), "%s", rr->last_error);
        return fail(r, rr, "%zu of %zu samples were not stored; the first: %s", bad, n, first);
    }
    return 0;
}

int rules_eval_rule(struct rules *r, struct rrule *rr, int64_t now)
{
    int64_t t0 = clock_mono_us();
    int rc;
    rr->last_eval = now;
    rr->err = false;
    rr->last_error[0] = 0;
    switch (rr->cfg->kind) {
    case RULE_ABSENT:
        rc = eval_absent(r, rr, now);
        break;
    case RULE_FORECAST:
        rc = eval_forecast(r, rr, now);
        break;
    case RULE_RECORD:
        rc = eval_record(r, rr, now);
        break;
    default:
        rc = eval_instant_kind(r, rr, now);
        break;
    }
    r->st.evaluations++;
    if (rc == 0) {
        rules_sync_rule(r, rr, now);
        rules_series_sweep(rr, now);
    } else {
        /* States stay as they were; events the spine refused earlier are
         * still retried. */
        rules_sync_rule(r, rr, now);
    }
    rr->eval_us = clock_mono_us() - t0;
    return rc;
}
