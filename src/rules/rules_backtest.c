/*
 * rules_backtest.c - replaying one rule over stored history: a private
 * evaluator with that one rule steps simulated time from `from` to `to`
 * through the same tick, states and baselines as the live one (seasonal
 * history before `from` is loaded at the start, then each finished slot as
 * time moves on, so no instant sees its own future), and the firing
 * periods it went through are listed.
 */
#include "rules_int.h"

#include "../base/timefmt.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bt_alert {
    uint64_t fp;
    struct labelset labels;
    enum severity sev;
    int64_t fired_at, resolved_at; /* resolved_at 0: still firing at `to` */
    double peak, value;
    char *explanation;
    bool open;
};

struct bt {
    struct bt_alert *a;
    size_t n, cap;
    uint64_t failures;
    char last_error[RULES_MAX_ERROR];
    uint64_t little, little_first; /* series judgements without a baseline, first time */
    uint64_t unjudged;             /* forecast: series not judged (too few points) */
    uint64_t series_evals;
};

static struct bt_alert *bt_open(struct bt *b, uint64_t fp)
{
    for (size_t i = b->n; i-- > 0;)
        if (b->a[i].open && b->a[i].fp == fp)
            return &b->a[i];
    return NULL;
}

static int bt_add(struct bt *b, const struct rrule *rr, const struct rseries *s)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        struct bt_alert *na = realloc(b->a, cap * sizeof(*na));
        if (!na)
            return -1;
        b->a = na;
        b->cap = cap;
    }
    struct bt_alert *a = &b->a[b->n];
    char expl[2048];
    memset(a, 0, sizeof(*a));
    a->fp = s->fp;
    for (size_t i = 0; i < s->labels.n; i++)
        if (labels_set(&a->labels, s->labels.v[i].name, s->labels.v[i].value) != 0) {
            labels_free(&a->labels);
            return -1;
        }
    rules_explain(rr, s, expl, sizeof(expl));
    a->explanation = strdup(expl);
    if (!a->explanation) {
        labels_free(&a->labels);
        return -1;
    }
    a->sev = s->sev;
    a->fired_at = s->firing_since;
    a->value = s->value;
    a->peak = isnan(s->peak) ? s->value : s->peak;
    a->open = true;
    b->n++;
    return 0;
}

static void bt_free(struct bt *b)
{
    for (size_t i = 0; i < b->n; i++) {
        labels_free(&b->a[i].labels);
        free(b->a[i].explanation);
    }
    free(b->a);
}

/* Looks at the states after one evaluation at now. */
static int bt_observe(struct bt *b, const struct rrule *rr, int64_t now)
{
    for (size_t i = 0; i < rr->ns; i++) {
        const struct rseries *s = rr->s[i];
        struct bt_alert *a = bt_open(b, s->fp);
        if (s->seen || rr->cfg->kind == RULE_ABSENT)
            b->series_evals++;
        if (rr->cfg->kind == RULE_SEASONAL && s->seen && !s->info.judged && !s->info.loading &&
            s->bl) {
            if (b->little++ == 0)
                b->little_first = (uint64_t)now;
        }
        if (rr->cfg->kind == RULE_FORECAST && s->seen && !s->info.judged)
            b->unjudged++;
        if (s->phase == RS_FIRING) {
            if (!a) {
                if (bt_add(b, rr, s) != 0)
                    return -1;
                continue;
            }
            if (s->sev > a->sev)
                a->sev = s->sev;
            if (!isnan(s->peak))
                a->peak = s->peak;
        } else if (a) {
            a->open = false;
            a->resolved_at = now;
        }
    }
    /* Alerts whose series is gone entirely were resolved by this evaluation. */
    for (size_t i = 0; i < b->n; i++) {
        if (!b->a[i].open)
            continue;
        bool present = false;
        for (size_t k = 0; k < rr->ns && !present; k++)
            present = rr->s[k]->fp == b->a[i].fp;
        if (!present) {
            b->a[i].open = false;
            b->a[i].resolved_at = now;
        }
    }
    return 0;
}

static int cmp_alert(const void *x, const void *y)
{
    const struct bt_alert *a = x, *b = y;
    if (a->fired_at != b->fired_at)
        return a->fired_at < b->fired_at ? -1 : 1;
    return a->fp < b->fp ? -1 : a->fp > b->fp;
}

static json_t *t3339(int64_t ms)
{
    char b[40];
    return json_string(timefmt_format_rfc3339(ms, b, sizeof(b)));
}

static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static void note(json_t *notes, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(json_t *notes, const char *fmt, ...)
{
    char b[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof(b), fmt, ap);
    va_end(ap);
    json_array_append_new(notes, json_string(b));
}

int rules_backtest(const struct cfg_rule *rule, const struct cfg_rule_settings *settings,
                   const struct rules_env *env, const struct rules_backtest_opts *o, json_t **out,
                   char *err, size_t errlen)
{
    struct bt b;
    struct rules *r = NULL;
    int rc = -1;
    *out = NULL;
    memset(&b, 0, sizeof(b));
    if (!rule || !o || o->from >= o->to) {
        snprintf(err, errlen, "the range is empty: from must be before to");
        return -1;
    }
    int64_t step = o->step_ms;
    if (step <= 0)
        step = rule->interval_ms > 0                   ? rule->interval_ms
               : settings && settings->interval_ms > 0 ? settings->interval_ms
                                                       : 60 * INT64_C(1000);
    size_t max = o->max_evaluations > 0 ? o->max_evaluations : 100000;
    uint64_t n_evals = (uint64_t)((o->to - o->from) / step) + 1;
    if (n_evals > max) {
        char sd[48];
        rules_fmt_dur(step, sd, sizeof(sd));
        snprintf(err, errlen,
                 "the range needs %llu evaluations at a step of %s, more than %zu; use a larger "
                 "step or a shorter range",
                 (unsigned long long)n_evals, sd, max);
        return -1;
    }
    struct rules_env e = *env;
    e.emit = NULL; /* a replay tells nobody */
    e.db = NULL;   /* and stores nothing */
    r = rules_make(rule, 1, settings, &e, err, errlen);
    if (!r)
        return -1;
    r->backtest = true;
    struct rrule *rr = &r->rules[0];
    for (uint64_t k = 0; k < n_evals; k++) {
        int64_t now = o->from + (int64_t)k * step;
        rr->due = now;
        rules_tick(r, now);
        if (rr->last_eval == now && rr->err) {
            b.failures++;
            snprintf(b.last_error, sizeof(b.last_error), "%s", rr->last_error);
        }
        if (bt_observe(&b, rr, now) != 0) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
    }
    if (b.failures == n_evals) {
        snprintf(err, errlen, "every evaluation failed: %s", b.last_error);
        goto out;
    }
    if (b.n > 1)
        qsort(b.a, b.n, sizeof(*b.a), cmp_alert);

    json_t *o_json = json_object();
    json_t *alerts = json_array();
    json_t *notes = json_array();
    if (!o_json || !alerts || !notes) {
        json_decref(o_json);
        json_decref(alerts);
        json_decref(notes);
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < b.n; i++) {
        struct bt_alert *a = &b.a[i];
        json_t *j = json_object();
        int64_t end = a->resolved_at ? a->resolved_at : o->to;
        json_object_set_new(j, "labels", labels_to_json(&a->labels));
        json_object_set_new(j, "severity", json_string(severity_name(a->sev)));
        json_object_set_new(j, "fired_at", t3339(a->fired_at));
        json_object_set_new(j, "resolved_at", a->resolved_at ? t3339(a->resolved_at) : json_null());
        json_object_set_new(j, "duration_s", json_real((double)(end - a->fired_at) / 1000.0));
        json_object_set_new(j, "peak", num(a->peak));
        json_object_set_new(j, "value", num(a->value));
        json_object_set_new(j, "explanation", json_string(a->explanation));
        json_array_append_new(alerts, j);
    }
    if (rule->kind == RULE_RECORD)
        note(notes, "a recording rule does not alert; the replay only checked that it evaluates");
    if (b.failures > 0)
        note(notes, "evaluations failed %llu times; the last: %s", (unsigned long long)b.failures,
             b.last_error);
    if (b.little > 0) {
        char t[48];
        rules_fmt_time((int64_t)b.little_first, t, sizeof(t));
        note(notes,
             "the baseline had too little history for %llu of %llu series evaluations (from %s "
             "on); those were not judged%s",
             (unsigned long long)b.little, (unsigned long long)b.series_evals, t,
             rule->se.fallback == FALLBACK_STATIC ? " on the band (the static levels were used)"
                                                  : "");
    }
    if (b.unjudged > 0)
        note(notes,
             "the trend could not be judged for %llu of %llu series evaluations (too few "
             "points or no fit)",
             (unsigned long long)b.unjudged, (unsigned long long)b.series_evals);
    if (rr->bl_note[0])
        note(notes, "%s", rr->bl_note);
    json_object_set_new(o_json, "rule", json_string(rule->name));
    json_object_set_new(o_json, "kind", json_string(rules_kind_name(rule->kind)));
    json_object_set_new(o_json, "from", t3339(o->from));
    json_object_set_new(o_json, "to", t3339(o->to));
    json_object_set_new(o_json, "step", json_real((double)step / 1000.0));
    json_object_set_new(o_json, "evaluations", json_integer((json_int_t)n_evals));
    json_object_set_new(o_json, "fired", json_integer((json_int_t)b.n));
    json_object_set_new(o_json, "alerts", alerts);
    json_object_set_new(o_json, "notes", notes);
    *out = o_json;
    rc = 0;
out:
    bt_free(&b);
    rules_free(r);
    return rc;
}
