/*
 * test_rules_util.h - helpers shared by test_rules.c and
 * test_rules_seasonal.c: a real tsdb in a temporary directory as the
 * evaluator's storage, rules written into a struct config by hand (as
 * config_rules.c would build them), an emit callback that records every
 * event, and evaluation at chosen instants.
 */
#ifndef TEST_RULES_UTIL_H
#define TEST_RULES_UTIL_H

#include "rules/rules.h"
#include "base/log.h"
#include "rules/rules_int.h"
#include "test_tsdb_util.h"

#include <math.h>

#define DAY_MS  (24 * HOUR)
#define WEEK_MS (7 * DAY_MS)

/* ---- storage ---- */

static inline int tr_select(void *ctx, const struct matcher *m, size_t nm, int64_t mint,
                            int64_t maxt, size_t max_samples, struct tsdb_series **out,
                            size_t *n_out, char *err, size_t errlen)
{
    return tsdb_select(ctx, m, nm, mint, maxt, max_samples, out, n_out, err, errlen);
}

static inline int tr_select_rollup(void *ctx, int64_t res, const struct matcher *m, size_t nm,
                                   int64_t mint, int64_t maxt, size_t max_buckets,
                                   struct tsdb_rollup_series **out, size_t *n_out, char *err,
                                   size_t errlen)
{
    return tsdb_select_rollup(ctx, res, m, nm, mint, maxt, max_buckets, out, n_out, err, errlen);
}

/* ---- recorded events ---- */

#define REC_MAX 4096

struct rec_ev {
    enum event_action action;
    char key[300];
    enum severity sev;
    int64_t ts;
    char summary[1100];
    json_t *labels;  /* owned */
    json_t *details; /* owned */
    json_t *links;   /* owned */
};

struct recorder {
    struct rec_ev ev[REC_MAX];
    size_t n;
    int fail; /* this many emit calls fail (-1) before they succeed again */
    size_t calls, batch_max;
};

static inline int rec_emit(void *ctx, struct event *ev, size_t n)
{
    struct recorder *rc = ctx;
    rc->calls++;
    if (n > rc->batch_max)
        rc->batch_max = n;
    if (rc->fail > 0) {
        rc->fail--;
        return -1;
    }
    for (size_t i = 0; i < n && rc->n < REC_MAX; i++) {
        struct rec_ev *e = &rc->ev[rc->n++];
        e->action = ev[i].action;
        snprintf(e->key, sizeof(e->key), "%s", ev[i].dedup_key);
        e->sev = ev[i].severity;
        e->ts = ev[i].timestamp_ms;
        snprintf(e->summary, sizeof(e->summary), "%s", ev[i].summary ? ev[i].summary : "");
        e->labels = labels_to_json(&ev[i].labels);
        e->details = ev[i].details ? json_incref(ev[i].details) : NULL;
        e->links = ev[i].links ? json_incref(ev[i].links) : NULL;
    }
    return 0;
}

static inline void rec_clear(struct recorder *rc)
{
    for (size_t i = 0; i < rc->n; i++) {
        json_decref(rc->ev[i].labels);
        json_decref(rc->ev[i].details);
        json_decref(rc->ev[i].links);
    }
    rc->n = 0;
}

/* details.tocsin_rule.explanation of recorded event i. */
static inline const char *rec_expl(const struct recorder *rc, size_t i)
{
    json_t *tr = json_object_get(rc->ev[i].details, "tocsin_rule");
    return json_string_value(json_object_get(tr, "explanation"));
}

/* ---- rules by hand ---- */

static inline struct cfg_levels tr_levels(double warning, double critical, double rec_w,
                                          double rec_c)
{
    struct cfg_levels l;
    l.set = true;
    l.warning = warning;
    l.critical = critical;
    l.recover_warning = rec_w;
    l.recover_critical = rec_c;
    return l;
}

static inline struct cfg_levels tr_off(void)
{
    struct cfg_levels l = {false, NAN, NAN, NAN, NAN};
    return l;
}

static inline struct config *tr_config(void)
{
    struct config *cfg = calloc(1, sizeof(*cfg));
    assert_non_null(cfg);
    cfg->rule_settings.interval_ms = MIN_MS;
    cfg->rule_settings.max_series_per_rule = 10000;
    cfg->rule_settings.link_range_ms = 6 * HOUR;
    return cfg;
}

/* Adds a rule with every default; the pointer is valid until the next tr_add. */
static inline struct cfg_rule *tr_add(struct config *cfg, const char *name, const char *query,
                                      enum rule_kind kind)
{
    struct cfg_rule *nr = realloc(cfg->rules, (cfg->n_rules + 1) * sizeof(*nr));
    assert_non_null(nr);
    cfg->rules = nr;
    struct cfg_rule *r = &cfg->rules[cfg->n_rules++];
    memset(r, 0, sizeof(*r));
    r->name = strdup(name);
    r->group = strdup("tocsin.yaml");
    r->file = strdup("test.yaml");
    r->query = strdup(query);
    r->kind = kind;
    r->annotations = json_object();
    r->severity = SEV_WARNING;
    r->interval_ms = MIN_MS;
    r->st.above = tr_off();
    r->st.below = tr_off();
    r->se.season = SEASON_WEEK;
    r->se.horizon_ms = 4 * WEEK_MS;
    r->se.slot_ms = HOUR;
    r->se.k = 3;
    r->se.direction = RULE_BOTH;
    r->se.min_band_ratio = 0.05;
    r->se.trim = 0.1;
    r->ab.forget_ms = WEEK_MS;
    r->fc.min_points = 10;
    return r;
}

static inline void tr_free_rule(struct cfg_rule *r)
{
    free(r->name);
    free(r->group);
    free(r->file);
    free(r->query);
    labels_free(&r->labels);
    json_decref(r->annotations);
    json_decref(r->spec);
    for (size_t i = 0; i < r->st.n_periods; i++) {
        free(r->st.periods[i].name);
        free(r->st.periods[i].windows);
    }
    free(r->st.periods);
    free(r->se.holidays);
}

static inline void tr_config_free(struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_rules; i++)
        tr_free_rule(&cfg->rules[i]);
    free(cfg->rules);
    free(cfg);
}

/* ---- a test's world ---- */

struct world {
    char dir[64];
    struct tsdb *db;
    struct config *cfg;
    struct rules *r;
    struct recorder *rec;
    struct rules_env env;
};

static inline void world_open(struct world *w)
{
    memset(w, 0, sizeof(*w));
    log_threshold = LOG_WARN;
    tdir_make(w->dir, sizeof(w->dir));
    w->db = db_open(w->dir);
    w->cfg = tr_config();
    w->rec = calloc(1, sizeof(*w->rec));
    assert_non_null(w->rec);
    w->env.storage.ctx = w->db;
    w->env.storage.select = tr_select;
    w->env.storage.select_rollup = tr_select_rollup;
    w->env.db = w->db;
    w->env.emit = rec_emit;
    w->env.emit_ctx = w->rec;
    w->env.public_url = "http://tocsin.test";
}

/* Makes the evaluator once the rules are in w->cfg. */
static inline void world_start(struct world *w)
{
    char err[512] = "";
    w->r = rules_new(w->cfg, &w->env, err, sizeof(err));
    if (!w->r)
        fail_msg("rules_new: %s", err);
}

static inline void world_close(struct world *w)
{
    rules_free(w->r);
    if (w->cfg && w->cfg->path)
        config_free(w->cfg); /* loaded from YAML */
    else
        tr_config_free(w->cfg);
    tsdb_close(w->db);
    tdir_remove(w->dir);
    rec_clear(w->rec);
    free(w->rec);
}

/* Evaluates every rule at exactly t (as if each were due then). */
static inline void eval_at(struct rules *r, int64_t t)
{
    for (size_t i = 0; i < r->n; i++)
        r->rules[i].due = t;
    rules_tick(r, t);
}

/* Appends one sample with labels (NULL-terminated pairs) and commits. */
static inline void put(struct tsdb *db, const char *metric, int64_t t, double v, ...)
{
    struct tsdb_label l[40];
    size_t n = 0;
    char err[512] = "";
    va_list ap;
    l[n].name = "__name__";
    l[n++].value = metric;
    va_start(ap, v);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        l[n].name = k;
        l[n++].value = va_arg(ap, const char *);
    }
    va_end(ap);
    struct tsdb_appender *a = tsdb_appender_new(db, "test");
    assert_non_null(a);
    if (tsdb_append(a, l, n, t, v, err, sizeof(err)) != 0)
        fail_msg("append %s@%lld: %s", metric, (long long)t, err);
    commit_ok(a);
}

/* The state of rule i's series with alert labels fingerprint fp, or NULL. */
static inline struct rseries *state_fp(struct rules *r, size_t i, uint64_t fp)
{
    return rules_series_find(&r->rules[i], fp);
}

/* The only state of rule i (fails when there is not exactly one). */
static inline struct rseries *only_state(struct rules *r, size_t i)
{
    assert_int_equal(r->rules[i].ns, 1);
    return r->rules[i].s[0];
}

#endif
