/*
 * rules_int.h - what the rule evaluator's files share: the evaluator, its
 * rules and their per-series states, the tick's event queue, and the helpers
 * for explanations. Used by src/rules/rules*.c and their unit tests only.
 *
 * Layout: rules.c (lifecycle, scheduling, thread, reload, adoption, stats,
 * status JSON), rules_state.c (series map, state machine, events),
 * rules_kinds.c (each kind's condition), rules_history.c (seasonal
 * baselines from history), rules_explain.c (explanations, numbers, links),
 * rules_backtest.c (replays).
 *
 * THREAD SAFETY NOTES: everything here belongs to the thread that holds
 * struct rules's mutex (the "tocsin-rules" thread, or the caller of
 * rules_tick when no thread runs).
 */
#ifndef TOCSIN_RULES_INT_H
#define TOCSIN_RULES_INT_H

#include "baseline.h"
#include "forecast.h"
#include "rules.h"

#include "../base/strmap.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RULES_DAY_MS      (24 * 3600 * INT64_C(1000))
#define RULES_WEEK_MS     (7 * RULES_DAY_MS)
#define RULES_LINK_POINTS 250
#define RULES_MAX_ERROR   512

enum rs_phase { RS_INACTIVE = 0, RS_PENDING = 1, RS_FIRING = 2 };

/* What the spine was last told about a series. */
enum rs_sent { SENT_NOTHING = 0, SENT_TRIGGER = 1, SENT_RESOLVED = 2 };

/*
 * What the last judgement of a series found, in numbers: explanations and
 * event details are formatted from this only when someone reads them (an
 * event, the status API), never for series that stay quiet.
 */
struct rinfo {
    bool judged;      /* false: the condition could not be judged; note says why */
    bool loading;     /* seasonal: the baseline is still being loaded */
    const char *note; /* static text, or NULL */
    /* static (and seasonal with the static fallback) */
    uint8_t level;    /* 0 none, 1 warning, 2 critical */
    uint8_t side;     /* RULE_ABOVE / RULE_BELOW of the level */
    bool held;        /* the value is not past the level now; hysteresis holds it */
    bool fallback;    /* seasonal: judged on the static levels (the band was not ok) */
    int period;       /* index of the period whose levels applied, -1: the default levels */
    double threshold; /* the level reached, or the band edge crossed */
    double recover;   /* its recovery level */
    /* seasonal */
    struct baseline_band band;
    /* forecast */
    int64_t predicted; /* 0: no crossing within the horizon */
    double r2;
    size_t points;
    /* absent */
    int64_t absent_since; /* estimated time of the last sample; 0: present */
    bool before;          /* only known to be before absent_since (seen at start-up) */
    bool never;           /* nothing known, the query returns nothing: the absent() alert */
};

/* One output series of a rule. */
struct rseries {
    uint64_t fp;            /* labels_fingerprint(labels) */
    struct labelset labels; /* owned alert labels (empty for an adopted key not matched yet) */
    enum rs_phase phase;
    int64_t active_since; /* first evaluation of the current true run (pending or firing) */
    int64_t firing_since;
    int64_t last_true;
    int64_t false_since; /* firing and false since (keep_firing_for); 0 when true */
    int64_t last_seen;   /* last evaluation that returned it (absent: that saw a sample) */
    double value;
    double peak;                    /* the most extreme value of the current firing (backtests) */
    uint8_t hold_above, hold_below; /* static hysteresis: level held per side */
    enum severity sev;              /* severity of the current condition */
    enum rs_sent sent;
    enum severity sent_sev;
    bool sent_sev_known; /* false for an adopted alert: its severity in the spine is unknown */
    bool seen;           /* returned by the evaluation in progress */
    bool queued;         /* an event for it waits in the tick's queue */
    bool adopted;        /* came from rules_adopt_open or a reload */
    bool gone;           /* absent: forgotten (or the absent() alert no longer applies) */
    bool bl_new;         /* seasonal: its own history is being loaded */
    struct rinfo info;
    struct baseline *bl; /* seasonal: owned, NULL until loaded */
};

/* A small open-addressing map from fingerprint to index in rrule.s. */
struct rmap {
    uint64_t *fp;
    uint32_t *idx; /* UINT32_MAX: empty */
    size_t cap;    /* power of two, or 0 */
};

enum bl_status { BL_NONE = 0, BL_LOADING = 1, BL_READY = 2 };

/* One configured rule at run time. */
struct rrule {
    const struct cfg_rule *cfg; /* borrowed from the config */
    struct promql_expr *expr;   /* owned */
    int64_t due;                /* next evaluation; 0 until the first tick places it */
    int64_t last_eval;          /* 0: never evaluated */
    int64_t eval_us;            /* wall time of the last evaluation */
    bool err;                   /* the last evaluation failed */
    char last_error[RULES_MAX_ERROR];
    uint64_t failures;
    struct rseries **s; /* owned array of owned states */
    size_t ns, cap;
    struct rmap map;
    int next_same; /* index of the next rule with the same name, -1 */
    /* seasonal */
    struct baseline_params bp;
    int32_t *holidays; /* owned copy of cfg->se.holidays, which bp and the baselines borrow */
    enum bl_status bl;
    int64_t hist_from, hist_cursor; /* loading: history in [hist_from, bl_until), next piece */
    int64_t bl_until;               /* slot instances before this were put (ready) */
    bool want_series_load;          /* new series wait for their history */
    char bl_note[RULES_MAX_ERROR];  /* about the history (too many series, a failed load) */
    /* absent */
    bool seeded;
};

/* An open alert whose rule has not claimed it yet (adopted at start, or left by a reload). */
struct radopt {
    char *key;              /* owned dedup key "RULE/fp" */
    char *rule;             /* owned rule name part */
    uint64_t fp;            /* parsed fingerprint */
    struct labelset labels; /* owned; empty when adopted from keys only */
    enum severity sev;
    bool sev_known;
    int64_t since;        /* first tick after adoption; 0 until then */
    int64_t firing_since; /* when known (a reload), else 0 */
    bool resolving;       /* a resolve is in the queue */
};

/* The tick's queue of events: built, emitted in batches, then the states record them. */
struct rq_item {
    struct rseries *s; /* NULL for an orphan */
    struct radopt *orphan;
    enum rs_sent want;
    enum severity sev;
};

struct rules {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool running, stop, wake;

    struct rules_env env;
    const struct cfg_rule_settings *settings; /* borrowed */
    struct rrule *rules;                      /* owned array */
    size_t n;
    struct strmap by_name; /* rule name -> first struct rrule (rrule.next_same chains) */

    struct radopt **adopted; /* owned; unclaimed open alerts */
    size_t n_adopted, cap_adopted;
    struct strmap adopted_map; /* key -> struct radopt */

    /* the tick's queue */
    struct event ev[EVENT_MAX_BATCH];
    struct rq_item items[EVENT_MAX_BATCH];
    size_t nq;

    bool backtest;           /* private evaluator of rules_backtest: load history without budget */
    int64_t budget_until_us; /* this tick's loading budget ends (clock_mono_us) */

    struct rules_stats st;
};

/* ---- rules_state.c ---- */

/* The alert labels of series labels sl: sl without __name__, plus the rule's labels, plus
 * alertname (or, for recording rules, __name__ = rule name). Returns -1 when out of memory. */
int rules_alert_labels(const struct rrule *rr, const struct labelset *sl, struct labelset *out);
/* labels_fingerprint of those labels, without building them. */
uint64_t rules_alert_fp(const struct rrule *rr, const struct labelset *sl);

/* The state of series fp, or NULL. */
struct rseries *rules_series_find(struct rrule *rr, uint64_t fp);
/* A new inactive state for the series sl (alert labels made here); NULL when out of memory. */
struct rseries *rules_series_add(struct rules *r, struct rrule *rr, uint64_t fp,
                                 const struct labelset *sl);
void rules_series_free(struct rseries *s);
/* Frees every state of rr. */
void rules_rule_clear_states(struct rrule *rr);
/* Drops states that are inactive, agree with the spine and were not seen, as keep() says. */
void rules_series_sweep(struct rrule *rr, int64_t now);

/* One evaluation's verdict on a series: moves it along inactive/pending/firing. */
void rules_series_step(struct rrule *rr, struct rseries *s, bool cond, int64_t now);

/* Queues the events that bring the spine in line with the states of rr. */
void rules_sync_rule(struct rules *r, struct rrule *rr, int64_t now);
/* Queues resolves for adopted alerts that no rule claimed. */
void rules_sync_orphans(struct rules *r, int64_t now);
/* Emits the queue (batches of EVENT_MAX_BATCH) and records what the spine took. */
void rules_flush(struct rules *r);

/* The dedup key of a state of rr into buf. */
void rules_series_key(const struct rrule *rr, const struct rseries *s, char *buf, size_t len);

/* ---- rules_kinds.c ---- */

/* Evaluates rr at now: query, conditions, states. Returns 0, or -1 (rr->err and last_error). */
int rules_eval_rule(struct rules *r, struct rrule *rr, int64_t now);

/* The labels absent() would give the query's empty result (its equality matchers). */
int rules_absent_labels(const struct promql_expr *e, struct labelset *out);

/* Static levels at now for value v, with hysteresis state in s; fills s->info. Returns the level.
 */
int rules_static_judge(const struct rrule *rr, struct rseries *s, double v, int64_t now);

/* ---- rules_history.c ---- */

/* Sets up rr's seasonal loading (first tick): history [now - horizon, slot start of now). */
void rules_history_start(struct rules *r, struct rrule *rr, int64_t now);
/* Loads pieces of history for loading rules until the budget is spent (at least one piece). */
void rules_history_work(struct rules *r, int64_t now);
/* Ready rule: puts the slot instances that ended before now. Returns 0 or -1 with a message. */
int rules_history_update(struct rules *r, struct rrule *rr, int64_t now, char *err, size_t errlen);
/* Whether rr still loads (rule or some series). */
bool rules_history_busy(const struct rrule *rr);
/* Baseline memory of rr. */
size_t rules_history_bytes(const struct rrule *rr, size_t *n_baselines);

/* ---- rules_explain.c ---- */

/* "1,080", "8.2", "0.0012", "NaN": numbers for people. */
void rules_fmt_num(double v, char *buf, size_t len);
/* "2h", "1h 30m", "5d 3h": two units at most. */
void rules_fmt_dur(int64_t ms, char *buf, size_t len);
/* "2026-11-27 14:05 UTC". */
void rules_fmt_time(int64_t ms, char *buf, size_t len);
/* The explanation of s's last judgement. */
void rules_explain(const struct rrule *rr, const struct rseries *s, char *buf, size_t len);
/* The range the query link covers: link_range, or a forecast's window. */
int64_t rules_link_range(const struct rules *r, const struct rrule *rr);
/* The query link of rr at now (owned string; NULL when out of memory). */
char *rules_query_link(const struct rules *r, const struct rrule *rr, int64_t now);
/* {"rule","kind",...} of details.tocsin_rule (new reference). */
json_t *rules_explain_json(const struct rules *r, const struct rrule *rr, const struct rseries *s,
                           const char *explanation, const char *link);
/* Renders the rule's annotations for s (new object). */
json_t *rules_render_annotations(const struct rrule *rr, const struct rseries *s,
                                 const char *explanation);
/* "static", "seasonal", ... */
const char *rules_kind_name(enum rule_kind k);

/* ---- rules.c ---- */

/* An evaluator over n rules (borrowed) with settings (borrowed). */
struct rules *rules_make(const struct cfg_rule *rules, size_t n,
                         const struct cfg_rule_settings *settings, const struct rules_env *env,
                         char *err, size_t errlen);
/* Evaluation phase of a rule: its first evaluation is at first tick + this. */
int64_t rules_phase(const char *name, int64_t interval_ms);
/* The effective max series of one rule. */
size_t rules_max_series(const struct rules *r);
/* The rule's evaluation options. */
void rules_opts(const struct rules *r, struct promql_opts *o);

#endif
