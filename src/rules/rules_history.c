/*
 * rules_history.c - seasonal baselines from stored history.
 *
 * A seasonal rule needs, per output series, the mean of the series over
 * every slot instance of its horizon (baseline.h). They come from range
 * queries of the rule's own query with a step of slot / 12 (5 min for 1 h
 * slots, so the tsdb answers from its 5 min rollups when the query allows),
 * cut into pieces of one day so no single query holds much and a tick can
 * stop between pieces when its budget of wall time is spent. Once loaded, a
 * rule puts each finished slot instance at its next evaluation (one range
 * query over the slots that ended), so raw history is read once.
 *
 * A series that shows up later gets its own history loaded in the next
 * tick's budget (one pass over the horizon, keeping only the series that
 * lack a baseline); until then it is not judged.
 */
#include "rules_int.h"

#include "../base/clock.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t slot_start(const struct rrule *rr, int64_t t)
{
    int64_t s, e;
    baseline_slot_of(&rr->bp, t, &s, &e);
    return s;
}

/* The next slot boundary after t at least one day on, so a piece ends between slots. */
static int64_t piece_end(const struct rrule *rr, int64_t from, int64_t until)
{
    int64_t t = from + RULES_DAY_MS;
    if (t >= until)
        return until;
    int64_t s = slot_start(rr, t);
    return s > from ? s : until;
}

/* Slot instance starts in [from, to), and to itself at the end. */
static int64_t *slot_bounds(const struct rrule *rr, int64_t from, int64_t to, size_t *n)
{
    size_t cap = 64, k = 0;
    int64_t *b = malloc(cap * sizeof(*b));
    if (!b)
        return NULL;
    int64_t t = from;
    while (t < to) {
        int64_t s, e;
        baseline_slot_of(&rr->bp, t, &s, &e);
        if (k + 2 > cap) {
            cap *= 2;
            int64_t *nb = realloc(b, cap * sizeof(*nb));
            if (!nb) {
                free(b);
                return NULL;
            }
            b = nb;
        }
        b[k++] = s < from ? from : s;
        if (e <= t) /* a zero-length slot on a DST day: step over it */
            e = t + 1;
        t = e;
    }
    b[k] = to;
    *n = k;
    return b;
}

/*
 * Feeds the slot means of one result series into its baseline. The points
 * lie in [bounds[0], bounds[nb]); each slot instance gets the mean of its
 * points (NAN when none), and the baseline is brought up to the last
 * instance so a series that stopped reporting does not keep stale seasons.
 */
static void feed(struct baseline *bl, const struct promql_series *ps, const int64_t *bounds,
                 size_t nb)
{
    size_t k = 0;
    for (size_t j = 0; j < nb; j++) {
        double sum = 0;
        size_t cnt = 0;
        while (k < ps->n && ps->t[k] < bounds[j + 1]) {
            if (ps->t[k] >= bounds[j] && isfinite(ps->v[k])) {
                sum += ps->v[k];
                cnt++;
            }
            k++;
        }
        if (cnt > 0)
            baseline_put(bl, bounds[j], sum / (double)cnt);
    }
    if (nb > 0 && baseline_next_slot(bl) <= bounds[nb - 1])
        baseline_put(bl, bounds[nb - 1], NAN);
}

enum load_mode {
    LOAD_ALL,     /* the rule's first load: states made for every series in history */
    LOAD_UPDATE,  /* finished slots: only series that have a baseline */
    LOAD_MISSING, /* only states marked bl_new (series that came later) */
};

/*
 * Puts the slot instances in [from, to) (slot boundaries) of the series the
 * mode selects, one day per range query. Returns 0, or -1 with a message
 * (the pieces before the failure are put).
 */
static int load_range(struct rules *r, struct rrule *rr, int64_t from, int64_t to,
                      enum load_mode mode, char *err, size_t errlen)
{
    int64_t step = rr->bp.slot_ms / 12;
    if (step < 1000)
        step = 1000;
    struct promql_opts o;
    rules_opts(r, &o);
    size_t max = rules_max_series(r);
    while (from < to) {
        int64_t end = piece_end(rr, from, to);
        size_t nb = 0;
        int64_t *bounds = slot_bounds(rr, from, end, &nb);
        struct promql_result res;
        if (!bounds) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        int rc = promql_eval_range(&r->env.storage, rr->expr, from, end - 1, step, &o, &res, err,
                                   errlen);
        if (rc != PROMQL_OK) {
            free(bounds);
            return -1;
        }
        for (size_t i = 0; i < res.n; i++) {
            const struct promql_series *ps = &res.series[i];
            if (ps->n == 0)
                continue;
            uint64_t fp = rules_alert_fp(rr, &ps->ls);
            struct rseries *s = rules_series_find(rr, fp);
            if (mode == LOAD_MISSING) {
                if (!s || !s->bl_new)
                    continue;
            } else if (mode == LOAD_UPDATE) {
                /* A series without a baseline gets its whole history when
                 * the evaluation meets it, not just the last slot. */
                if (!s || !s->bl || s->bl_new)
                    continue;
            } else if (!s) {
                if (rr->ns >= max) {
                    snprintf(rr->bl_note, sizeof(rr->bl_note),
                             "history has more than max_series_per_rule (%zu) series; the rest "
                             "were left out",
                             max);
                    continue;
                }
                s = rules_series_add(r, rr, fp, &ps->ls);
                if (!s)
                    continue;
            } else if (s->bl_new) {
                continue; /* its own load covers this range */
            }
            if (!s->bl) {
                s->bl = baseline_new(&rr->bp);
                if (!s->bl)
                    continue;
            }
            if (ps->t[ps->n - 1] > s->last_seen)
                s->last_seen = ps->t[ps->n - 1];
            feed(s->bl, ps, bounds, nb);
        }
        /* Series that had nothing in this piece still move on. */
        for (size_t i = 0; i < rr->ns; i++) {
            struct rseries *s = rr->s[i];
            bool mine = mode == LOAD_MISSING ? s->bl_new : !s->bl_new;
            if (mine && s->bl && nb > 0 && baseline_next_slot(s->bl) <= bounds[nb - 1])
                baseline_put(s->bl, bounds[nb - 1], NAN);
        }
        promql_result_free(&res);
        free(bounds);
        from = end;
    }
    return 0;
}

void rules_history_start(struct rules *r, struct rrule *rr, int64_t now)
{
    (void)r;
    int64_t cs = slot_start(rr, now);
    rr->hist_from = slot_start(rr, cs - rr->cfg->se.horizon_ms);
    rr->hist_cursor = rr->hist_from;
    rr->bl_until = cs;
    rr->bl = BL_LOADING;
}

bool rules_history_busy(const struct rrule *rr)
{
    return rr->bl == BL_LOADING || rr->want_series_load;
}

static bool budget_left(const struct rules *r)
{
    return r->backtest || clock_mono_us() < r->budget_until_us;
}

/* The history of series that came after the rule's load. */
static void load_missing(struct rules *r, struct rrule *rr)
{
    char err[RULES_MAX_ERROR];
    rr->want_series_load = false;
    for (size_t i = 0; i < rr->ns; i++) {
        struct rseries *s = rr->s[i];
        if (!s->bl) {
            s->bl = baseline_new(&rr->bp);
            s->bl_new = s->bl != NULL;
        }
    }
    int64_t from = slot_start(rr, rr->bl_until - rr->cfg->se.horizon_ms);
    if (load_range(r, rr, from, rr->bl_until, LOAD_MISSING, err, sizeof(err)) != 0)
        snprintf(rr->bl_note, sizeof(rr->bl_note), "the history of new series failed: %s", err);
    for (size_t i = 0; i < rr->ns; i++)
        rr->s[i]->bl_new = false;
}

void rules_history_work(struct rules *r, int64_t now)
{
    (void)now;
    char err[RULES_MAX_ERROR];
    bool did = false;
    for (size_t i = 0; i < r->n; i++) {
        struct rrule *rr = &r->rules[i];
        if (rr->cfg->kind != RULE_SEASONAL)
            continue;
        while (rr->bl == BL_LOADING) {
            if (did && !budget_left(r))
                return;
            if (rr->hist_cursor >= rr->bl_until) {
                rr->bl = BL_READY;
                break;
            }
            int64_t end = piece_end(rr, rr->hist_cursor, rr->bl_until);
            if (load_range(r, rr, rr->hist_cursor, end, LOAD_ALL, err, sizeof(err)) != 0)
                snprintf(rr->bl_note, sizeof(rr->bl_note), "history from %lld failed: %s",
                         (long long)rr->hist_cursor, err);
            rr->hist_cursor = end;
            did = true;
        }
        if (rr->bl == BL_READY && rr->want_series_load) {
            if (did && !budget_left(r))
                return;
            load_missing(r, rr);
            did = true;
        }
    }
}

int rules_history_update(struct rules *r, struct rrule *rr, int64_t now, char *err, size_t errlen)
{
    int64_t cs = slot_start(rr, now);
    if (rr->bl_until >= cs)
        return 0;
    int64_t from = rr->bl_until;
    if (cs - from > rr->cfg->se.horizon_ms)
        from = slot_start(rr, cs - rr->cfg->se.horizon_ms);
    rr->bl_until = cs;
    return load_range(r, rr, from, cs, LOAD_UPDATE, err, errlen);
}

size_t rules_history_bytes(const struct rrule *rr, size_t *n_baselines)
{
    size_t b = 0, n = 0;
    for (size_t i = 0; i < rr->ns; i++)
        if (rr->s[i]->bl) {
            b += baseline_memory(rr->s[i]->bl);
            n++;
        }
    if (n_baselines)
        *n_baselines = n;
    return b;
}
