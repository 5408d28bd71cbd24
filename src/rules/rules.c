/*
 * rules.c - the rule evaluator's life: making it from the config, the tick
 * that evaluates due rules, the "tocsin-rules" thread, reloads, adopting the
 * alerts the spine has open, statistics and the status API's JSON.
 *
 * Scheduling: each rule has a due time on a grid of its interval, offset by
 * a hash of its name (so 20,000 rules with one interval spread over it). A
 * tick evaluates the rules that are due, sends what changed, then spends
 * what is left of its wall-time budget loading seasonal history.
 */
#include "rules_int.h"

#include "../base/clock.h"
#include "../base/log.h"
#include "../base/timefmt.h"
#include "../metrics/promql_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_INTERVAL_MS (60 * INT64_C(1000))
#define DEFAULT_BUDGET_MS   250
#define DEFAULT_MAX_SERIES  10000

int64_t rules_phase(const char *name, int64_t interval_ms)
{
    if (interval_ms <= 0)
        return 0;
    return (int64_t)(strmap_hash(name) % (uint64_t)interval_ms);
}

size_t rules_max_series(const struct rules *r)
{
    return r->settings && r->settings->max_series_per_rule > 0 ? r->settings->max_series_per_rule
                                                               : DEFAULT_MAX_SERIES;
}

void rules_opts(const struct rules *r, struct promql_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->lookback_ms = r->env.lookback_ms;
    o->max_samples = r->env.max_samples;
}

static int64_t rule_interval(const struct rules *r, const struct rrule *rr)
{
    if (rr->cfg->interval_ms > 0)
        return rr->cfg->interval_ms;
    if (r->settings && r->settings->interval_ms > 0)
        return r->settings->interval_ms;
    return DEFAULT_INTERVAL_MS;
}

/* ---- making and freeing rules ---- */

static void rule_free(struct rrule *rr)
{
    rules_rule_clear_states(rr);
    if (rr->expr)
        promql_free(rr->expr);
    free(rr->holidays);
    memset(rr, 0, sizeof(*rr));
}

/* Fills rr for cfg rule c. Returns -1 with a message when the query does not parse. */
static int rule_init(const struct rules *r, struct rrule *rr, const struct cfg_rule *c, char *err,
                     size_t errlen)
{
    char perr[RULES_MAX_ERROR];
    memset(rr, 0, sizeof(*rr));
    rr->cfg = c;
    rr->next_same = -1;
    if (promql_parse(c->query, &rr->expr, perr, sizeof(perr)) != PROMQL_OK) {
        snprintf(err, errlen, "rule %s: query: %s", c->name, perr);
        rr->expr = NULL;
        return -1;
    }
    if (c->kind == RULE_SEASONAL) {
        baseline_params_from_cfg(&c->se, &rr->bp);
        if (!rr->bp.tz && r->settings)
            rr->bp.tz = r->settings->tz;
        /* Baselines borrow the holidays; the rule keeps its own copy so a
         * reload that frees the old config leaves them valid. */
        if (c->se.n_holidays > 0) {
            rr->holidays = malloc(c->se.n_holidays * sizeof(*rr->holidays));
            if (!rr->holidays) {
                snprintf(err, errlen, "out of memory");
                promql_free(rr->expr);
                rr->expr = NULL;
                return -1;
            }
            memcpy(rr->holidays, c->se.holidays, c->se.n_holidays * sizeof(*rr->holidays));
        }
        rr->bp.holidays = rr->holidays;
        rr->bp.n_holidays = c->se.n_holidays;
        struct baseline *probe = baseline_new(&rr->bp);
        if (!probe) {
            snprintf(err, errlen,
                     "rule %s: the seasonal settings do not make a baseline (slot %lld ms, "
                     "horizon %lld ms)",
                     c->name, (long long)c->se.slot_ms, (long long)c->se.horizon_ms);
            promql_free(rr->expr);
            rr->expr = NULL;
            free(rr->holidays);
            rr->holidays = NULL;
            return -1;
        }
        baseline_free(probe);
    }
    return 0;
}

static void index_names(struct rules *r)
{
    strmap_free(&r->by_name);
    for (size_t i = r->n; i-- > 0;) {
        struct rrule *rr = &r->rules[i];
        struct rrule *first = strmap_get(&r->by_name, rr->cfg->name);
        rr->next_same = first ? (int)(first - r->rules) : -1;
        if (strmap_put(&r->by_name, rr->cfg->name, rr) != 0)
            log_warn("rules: out of memory indexing rule names");
    }
}

struct rules *rules_make(const struct cfg_rule *rules, size_t n,
                         const struct cfg_rule_settings *settings, const struct rules_env *env,
                         char *err, size_t errlen)
{
    struct rules *r = calloc(1, sizeof(*r));
    pthread_condattr_t ca;
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->env = *env;
    r->settings = settings;
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (n > 0) {
        r->rules = calloc(n, sizeof(*r->rules));
        if (!r->rules) {
            snprintf(err, errlen, "out of memory");
            rules_free(r);
            return NULL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (rule_init(r, &r->rules[i], &rules[i], err, errlen) != 0) {
            r->n = i;
            rules_free(r);
            return NULL;
        }
        r->n = i + 1;
    }
    index_names(r);
    r->st.rules = n;
    return r;
}

struct rules *rules_new(const struct config *cfg, const struct rules_env *env, char *err,
                        size_t errlen)
{
    return rules_make(cfg->rules, cfg->n_rules, &cfg->rule_settings, env, err, errlen);
}

static void adopted_free_all(struct rules *r)
{
    for (size_t i = 0; i < r->n_adopted; i++) {
        free(r->adopted[i]->key);
        free(r->adopted[i]->rule);
        labels_free(&r->adopted[i]->labels);
        free(r->adopted[i]);
    }
    free(r->adopted);
    r->adopted = NULL;
    r->n_adopted = r->cap_adopted = 0;
    strmap_free(&r->adopted_map);
}

void rules_free(struct rules *r)
{
    if (!r)
        return;
    rules_stop(r);
    for (size_t i = 0; i < r->nq; i++)
        event_clear(&r->ev[i]);
    for (size_t i = 0; i < r->n; i++)
        rule_free(&r->rules[i]);
    free(r->rules);
    strmap_free(&r->by_name);
    adopted_free_all(r);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* ---- adoption ---- */

/* Adds an open alert to the unclaimed set. Returns 0, 1 when already there, -1 out of memory. */
static int adopt_one(struct rules *r, const char *key, const struct labelset *labels,
                     enum severity sev, bool sev_known, int64_t firing_since)
{
    const char *slash = strrchr(key, '/');
    if (!slash || slash == key || strlen(slash + 1) != 16)
        return 1;
    char *end = NULL;
    errno = 0;
    unsigned long long fp = strtoull(slash + 1, &end, 16);
    if (errno != 0 || *end != 0)
        return 1;
    if (strmap_get(&r->adopted_map, key))
        return 1;
    struct radopt *a = calloc(1, sizeof(*a));
    if (!a)
        return -1;
    a->key = strdup(key);
    a->rule = strndup(key, (size_t)(slash - key));
    a->fp = fp;
    a->sev = sev;
    a->sev_known = sev_known;
    a->firing_since = firing_since;
    if (!a->key || !a->rule)
        goto fail;
    for (size_t i = 0; labels && i < labels->n; i++)
        if (labels_set(&a->labels, labels->v[i].name, labels->v[i].value) != 0)
            goto fail;
    if (r->n_adopted == r->cap_adopted) {
        size_t cap = r->cap_adopted ? r->cap_adopted * 2 : 16;
        struct radopt **na = realloc(r->adopted, cap * sizeof(*na));
        if (!na)
            goto fail;
        r->adopted = na;
        r->cap_adopted = cap;
    }
    if (strmap_put(&r->adopted_map, a->key, a) != 0)
        goto fail;
    r->adopted[r->n_adopted++] = a;
    return 0;
fail:
    free(a->key);
    free(a->rule);
    labels_free(&a->labels);
    free(a);
    return -1;
}

void rules_adopt_open(struct rules *r, const char *const *dedup_keys, size_t n)
{
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < n; i++) {
        /* A key a running rule already holds needs nothing. */
        const char *slash = strrchr(dedup_keys[i], '/');
        bool held = false;
        if (slash) {
            char name[512];
            size_t nl = (size_t)(slash - dedup_keys[i]);
            unsigned long long fp = strtoull(slash + 1, NULL, 16);
            if (nl < sizeof(name)) {
                memcpy(name, dedup_keys[i], nl);
                name[nl] = 0;
                for (struct rrule *rr = strmap_get(&r->by_name, name); rr && !held;
                     rr = rr->next_same < 0 ? NULL : &r->rules[rr->next_same]) {
                    struct rseries *s = rules_series_find(rr, fp);
                    held = s && s->sent == SENT_TRIGGER;
                }
            }
        }
        if (!held && adopt_one(r, dedup_keys[i], NULL, SEV_WARNING, false, 0) < 0)
            log_warn("rules: out of memory adopting open alerts");
    }
    r->wake = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* ---- the tick ---- */

static void advance_due(const struct rules *r, struct rrule *rr, int64_t now)
{
    int64_t iv = rule_interval(r, rr);
    if (rr->due <= now)
        rr->due += ((now - rr->due) / iv + 1) * iv;
}

int rules_tick(struct rules *r, int64_t now)
{
    int64_t t0 = clock_mono_us();
    int count = 0;
    for (size_t i = 0; i < r->n_adopted; i++)
        if (r->adopted[i]->since == 0)
            r->adopted[i]->since = now;
    for (size_t i = 0; i < r->n; i++) {
        struct rrule *rr = &r->rules[i];
        if (rr->due == 0)
            rr->due = now + rules_phase(rr->cfg->name, rule_interval(r, rr));
        if (rr->cfg->kind == RULE_SEASONAL && rr->bl == BL_NONE && rr->expr)
            rules_history_start(r, rr, now);
    }
    if (r->backtest)
        rules_history_work(r, now);
    for (size_t i = 0; i < r->n; i++) {
        struct rrule *rr = &r->rules[i];
        if (rr->due > now)
            continue;
        advance_due(r, rr, now);
        if (!rr->expr) {
            rr->last_eval = now;
            rr->err = true;
            if (!rr->last_error[0])
                snprintf(rr->last_error, sizeof(rr->last_error), "the query does not parse");
            continue;
        }
        if (rr->cfg->kind == RULE_SEASONAL && rr->bl != BL_READY)
            continue; /* not judged until its history is loaded */
        rules_eval_rule(r, rr, now);
        count++;
    }
    rules_sync_orphans(r, now);
    rules_flush(r);
    int64_t budget = r->env.backfill_budget_ms > 0 ? r->env.backfill_budget_ms : DEFAULT_BUDGET_MS;
    r->budget_until_us = clock_mono_us() + budget * 1000;
    rules_history_work(r, now);
    r->st.last_tick_us = clock_mono_us() - t0;
    return count;
}

int64_t rules_next_due(struct rules *r)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < r->n; i++)
        if (r->rules[i].due < next)
            next = r->rules[i].due;
    /* Adopted alerts wait for their rules' evaluations (or, with no rule,
     * for the next tick, which the thread runs within a second anyway). */
    return next;
}

/* ---- reload ---- */

static bool same_rule(const struct cfg_rule *a, const struct cfg_rule *b)
{
    if (strcmp(a->name, b->name) != 0 || strcmp(a->query, b->query) != 0)
        return false;
    if ((a->group == NULL) != (b->group == NULL) || (a->group && strcmp(a->group, b->group) != 0))
        return false;
    if (!a->spec && !b->spec)
        return a->kind == b->kind;
    return a->spec && b->spec && json_equal(a->spec, b->spec);
}

/* The open alerts of a rule that goes away: adopted, for a rule of the same
 * name to claim at its first evaluation or to be resolved. */
static void hand_over(struct rules *r, struct rrule *rr)
{
    char key[EVENT_MAX_DEDUP_KEY + 64];
    for (size_t i = 0; i < rr->ns; i++) {
        struct rseries *s = rr->s[i];
        if (s->sent != SENT_TRIGGER)
            continue;
        rules_series_key(rr, s, key, sizeof(key));
        if (adopt_one(r, key, &s->labels, s->sent_sev, s->sent_sev_known, s->firing_since) < 0)
            log_warn("rules: out of memory keeping the open alerts of %s", rr->cfg->name);
    }
}

void rules_reload(struct rules *r, const struct config *cfg)
{
    pthread_mutex_lock(&r->mu);
    size_t n = cfg->n_rules;
    struct rrule *nr = n ? calloc(n, sizeof(*nr)) : NULL;
    bool *taken = r->n ? calloc(r->n, sizeof(*taken)) : NULL;
    char err[RULES_MAX_ERROR];
    if ((n && !nr) || (r->n && !taken)) {
        log_error("rules: out of memory reloading; the old rules stay");
        free(nr);
        free(taken);
        pthread_mutex_unlock(&r->mu);
        return;
    }
    r->settings = &cfg->rule_settings;
    for (size_t i = 0; i < n; i++) {
        const struct cfg_rule *c = &cfg->rules[i];
        size_t j;
        for (j = 0; j < r->n; j++)
            if (!taken[j] && same_rule(r->rules[j].cfg, c))
                break;
        if (j < r->n) {
            /* Unchanged: keep its states, baselines and schedule. */
            taken[j] = true;
            nr[i] = r->rules[j];
            nr[i].cfg = c;
            continue;
        }
        if (rule_init(r, &nr[i], c, err, sizeof(err)) != 0) {
            /* Config validation makes this rare; the rule shows as failing. */
            log_warn("rules: %s", err);
            snprintf(nr[i].last_error, sizeof(nr[i].last_error), "%s", err);
        }
    }
    for (size_t j = 0; j < r->n; j++) {
        if (taken[j])
            continue;
        hand_over(r, &r->rules[j]);
        rule_free(&r->rules[j]);
    }
    free(r->rules);
    free(taken);
    r->rules = nr;
    r->n = n;
    r->st.rules = n;
    index_names(r);
    r->wake = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* ---- the thread ---- */

static void *rules_thread(void *arg)
{
    struct rules *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        rules_tick(r, clock_now_ms());
        r->wake = false;
        int64_t next = rules_next_due(r);
        int64_t wait = next == INT64_MAX ? 1000 : next - clock_now_ms();
        if (wait > 1000)
            wait = 1000;
        if (wait <= 0)
            continue;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (long)(wait % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!r->stop && !r->wake) {
            if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) == ETIMEDOUT)
                break;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int rules_start(struct rules *r, char *err, size_t errlen)
{
    if (r->running)
        return 0;
    r->stop = false;
    int rc = pthread_create(&r->thread, NULL, rules_thread, r);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the rules thread: %s", strerror(rc));
        return -1;
    }
    pthread_setname_np(r->thread, "tocsin-rules");
    r->running = true;
    return 0;
}

void rules_stop(struct rules *r)
{
    if (!r->running)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    r->running = false;
    r->stop = false;
}

/* ---- stats ---- */

void rules_stats(struct rules *r, struct rules_stats *out)
{
    pthread_mutex_lock(&r->mu);
    *out = r->st;
    out->rules = r->n;
    out->series = out->firing = out->pending = 0;
    out->baselines = out->baseline_bytes = out->baselines_loading = 0;
    for (size_t i = 0; i < r->n; i++) {
        struct rrule *rr = &r->rules[i];
        out->series += rr->ns;
        for (size_t k = 0; k < rr->ns; k++) {
            if (rr->s[k]->phase == RS_FIRING)
                out->firing++;
            else if (rr->s[k]->phase == RS_PENDING)
                out->pending++;
        }
        if (rr->cfg->kind == RULE_SEASONAL) {
            size_t nb = 0;
            out->baseline_bytes += rules_history_bytes(rr, &nb);
            out->baselines += nb;
            if (rr->bl != BL_READY)
                out->baselines_loading++;
        }
    }
    pthread_mutex_unlock(&r->mu);
}

/* ---- status JSON ---- */

static json_t *time_or_zero(int64_t ms)
{
    char b[40];
    if (ms == 0)
        return json_string("0001-01-01T00:00:00Z");
    return json_string(timefmt_format_rfc3339(ms, b, sizeof(b)));
}

static const char *phase_name(enum rs_phase p)
{
    return p == RS_FIRING ? "firing" : p == RS_PENDING ? "pending" : "inactive";
}

static json_t *alert_value(double v)
{
    char b[400];
    pq_format_float(v, 'e', b);
    return json_string(b);
}

static json_t *rule_json(struct rules *r, struct rrule *rr)
{
    const struct cfg_rule *c = rr->cfg;
    json_t *o = json_object();
    char expl[2048];
    if (!o)
        return NULL;
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "query", json_string(c->query));
    json_object_set_new(o, "labels", labels_to_json(&c->labels));
    const char *health = rr->last_eval == 0 ? "unknown" : rr->err ? "err" : "ok";
    json_object_set_new(o, "health", json_string(health));
    if (rr->err)
        json_object_set_new(o, "lastError", json_string(rr->last_error));
    else
        json_object_set_new(o, "lastError", json_string(""));
    json_object_set_new(o, "lastEvaluation", time_or_zero(rr->last_eval));
    json_object_set_new(o, "evaluationTime", json_real((double)rr->eval_us / 1e6));
    json_object_set_new(o, "kind", json_string(rules_kind_name(c->kind)));
    if (c->kind == RULE_RECORD) {
        json_object_set_new(o, "type", json_string("recording"));
        return o;
    }
    json_object_set_new(o, "type", json_string("alerting"));
    json_object_set_new(o, "duration", json_real((double)c->for_ms / 1000.0));
    json_object_set_new(o, "keepFiringFor", json_real((double)c->keep_firing_for_ms / 1000.0));
    json_object_set_new(o, "annotations",
                        c->annotations ? json_deep_copy(c->annotations) : json_object());
    enum rs_phase state = RS_INACTIVE;
    json_t *alerts = json_array();
    json_t *series = json_array();
    for (size_t i = 0; i < rr->ns; i++) {
        struct rseries *s = rr->s[i];
        if (s->phase > state)
            state = s->phase;
        rules_explain(rr, s, expl, sizeof(expl));
        json_t *js = json_object();
        json_object_set_new(js, "labels", labels_to_json(&s->labels));
        json_object_set_new(js, "state", json_string(phase_name(s->phase)));
        json_object_set_new(js, "value", isfinite(s->value) ? json_real(s->value) : json_null());
        json_object_set_new(js, "explanation", json_string(expl));
        if (s->phase != RS_INACTIVE) {
            json_object_set_new(js, "activeAt", time_or_zero(s->active_since));
            json_object_set_new(js, "severity", json_string(severity_name(s->sev)));
        }
        if (s->phase == RS_FIRING)
            json_object_set_new(js, "firingSince", time_or_zero(s->firing_since));
        json_array_append_new(series, js);
        if (s->phase == RS_INACTIVE)
            continue;
        json_t *a = json_object();
        json_object_set_new(a, "labels", labels_to_json(&s->labels));
        json_t *ann = rules_render_annotations(rr, s, expl);
        json_object_set_new(a, "annotations", ann ? ann : json_object());
        json_object_set_new(a, "state", json_string(phase_name(s->phase)));
        json_object_set_new(a, "activeAt", time_or_zero(s->active_since));
        if (s->false_since)
            json_object_set_new(a, "keepFiringSince", time_or_zero(s->false_since));
        json_object_set_new(a, "value", alert_value(s->value));
        json_array_append_new(alerts, a);
    }
    json_object_set_new(o, "state", json_string(phase_name(state)));
    json_object_set_new(o, "alerts", alerts);
    json_object_set_new(o, "series", series);
    if (c->kind == RULE_SEASONAL) {
        size_t nb = 0;
        size_t bytes = rules_history_bytes(rr, &nb);
        json_t *b = json_object();
        json_object_set_new(
            b, "status",
            json_string(rules_history_busy(rr) || rr->bl != BL_READY ? "loading" : "ready"));
        json_object_set_new(b, "series", json_integer((json_int_t)nb));
        json_object_set_new(b, "bytes", json_integer((json_int_t)bytes));
        if (rr->bl_note[0])
            json_object_set_new(b, "note", json_string(rr->bl_note));
        json_object_set_new(o, "baseline", b);
    }
    return o;
}

json_t *rules_status_json(struct rules *r, const char *name)
{
    pthread_mutex_lock(&r->mu);
    json_t *out = json_object();
    json_t *groups = json_array();
    struct strmap gmap = {0};
    char **gkeys = r->n ? calloc(r->n, sizeof(*gkeys)) : NULL;
    size_t ng = 0;
    bool found = false;
    for (size_t i = 0; out && groups && i < r->n; i++) {
        struct rrule *rr = &r->rules[i];
        const struct cfg_rule *c = rr->cfg;
        if (name && strcmp(c->name, name) != 0)
            continue;
        found = true;
        const char *gname = c->group ? c->group : "";
        const char *file = c->file ? c->file : "";
        size_t kl = strlen(gname) + strlen(file) + 2;
        char *key = malloc(kl);
        if (!key)
            break;
        snprintf(key, kl, "%s\x1f%s", file, gname);
        json_t *g = strmap_get(&gmap, key);
        if (!g) {
            g = json_object();
            json_object_set_new(g, "name", json_string(gname));
            json_object_set_new(g, "file", json_string(file));
            json_object_set_new(g, "interval", json_real((double)rule_interval(r, rr) / 1000.0));
            json_object_set_new(g, "rules", json_array());
            json_object_set_new(g, "evaluationTime", json_real(0));
            json_object_set_new(g, "lastEvaluation", time_or_zero(0));
            json_array_append_new(groups, g);
            gkeys[ng++] = key;
            strmap_put(&gmap, key, g);
        } else {
            free(key);
        }
        json_t *rj = rule_json(r, rr);
        if (rj)
            json_array_append_new(json_object_get(g, "rules"), rj);
        double et = json_real_value(json_object_get(g, "evaluationTime"));
        json_object_set_new(g, "evaluationTime", json_real(et + (double)rr->eval_us / 1e6));
        if (rr->last_eval > 0) {
            char b[40];
            const char *have = json_string_value(json_object_get(g, "lastEvaluation"));
            timefmt_format_rfc3339(rr->last_eval, b, sizeof(b));
            if (!have || strcmp(b, have) > 0 || have[0] == '0')
                json_object_set_new(g, "lastEvaluation", json_string(b));
        }
    }
    for (size_t i = 0; i < ng; i++)
        free(gkeys[i]);
    free(gkeys);
    strmap_free(&gmap);
    pthread_mutex_unlock(&r->mu);
    if (!out || !groups || (name && !found)) {
        json_decref(out);
        json_decref(groups);
        return NULL;
    }
    json_object_set_new(out, "groups", groups);
    return out;
}

void rules_dedup_key(const char *rule, const struct labelset *alert_labels, char *buf, size_t len)
{
    char hex[17];
    labels_fingerprint_hex(alert_labels, hex);
    snprintf(buf, len, "%s/%s", rule, hex);
}
