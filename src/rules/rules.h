/*
 * rules.h - the rule evaluator: alert rules over metrics (static water
 * marks with hysteresis and time periods, seasonal bands learned from
 * history, absence, forecasts, Prometheus alerting rules) and Prometheus
 * recording rules.
 *
 * Every rule is evaluated on its interval (spread over the interval by a
 * hash of its name, so 20,000 rules with the same interval do not all run at
 * the same second). A rule's query may return many series; each series has
 * its own state: inactive -> pending (condition true, waiting `for`) ->
 * firing -> (condition false, kept `keep_firing_for`) -> inactive. Entering
 * firing sends a trigger event into the spine, a severity change sends
 * another trigger with the same dedup key, and leaving firing sends a
 * resolve. The dedup key is stable: rules_dedup_key(rule, alert labels),
 * where the alert labels are the series' labels without __name__, plus the
 * rule's labels and alertname (so two Prometheus rules with one name and
 * different severity labels do not collide, and a static rule moving from
 * warning to critical keeps its key).
 *
 * Events carry their explanation: the value, the level or band used and
 * where it came from, the deviation, and a link to a query over the
 * relevant range (details.explanation, details.tocsin_rule, links[0]).
 *
 * Seasonal baselines are built from history with range queries whose step
 * lets them read the 5 min rollups, a budgeted part per tick (rules whose
 * baseline is still loading say so and do not alert), and are then kept up
 * to date one finished slot at a time; raw history is never rescanned.
 *
 * Sending: the emit callback gets batches of events; when it fails (the
 * engine queue is full) the states stay "unsent" and the events are built and
 * sent again at the rule's next evaluation, so nothing is lost.
 *
 * THREAD SAFETY NOTES: rules_tick, rules_reload and rules_adopt_open belong
 * to one thread at a time (the "tocsin-rules" thread once rules_start ran;
 * reload and adopt are then handed to it under the lock). rules_status_json
 * and rules_stats may be called from any thread.
 */
#ifndef TOCSIN_RULES_H
#define TOCSIN_RULES_H

#include "../config/config.h"
#include "../engine/event.h"
#include "../metrics/promql.h"
#include "../metrics/tsdb.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rules;

/*
 * Hands n events (borrowed: valid during the call) to the spine. Returns 0
 * when they were durably taken, -1 when they should be retried later.
 */
typedef int (*rules_emit_fn)(void *ctx, struct event *ev, size_t n);

/* What the evaluator reads from and writes to; everything borrowed. */
struct rules_env {
    struct promql_storage storage; /* where queries read */
    struct tsdb *db;               /* recording rules append here; NULL: they are evaluated
                                      and shown, not stored */
    rules_emit_fn emit;            /* may be NULL (backtests, tests): events are dropped */
    void *emit_ctx;
    const char *public_url;     /* base of query links ("http://127.0.0.1:8080"); NULL: relative */
    int64_t lookback_ms;        /* PromQL lookback; 0: 5 min */
    size_t max_samples;         /* samples one evaluation may load; 0: 50,000,000 */
    int64_t backfill_budget_ms; /* wall time per tick spent loading baselines; 0: 250 ms */
};

/*
 * Makes an evaluator for cfg's rules (cfg borrowed until the next
 * rules_reload or rules_free; env copied, its pointers borrowed). No rule
 * runs until rules_tick or rules_start. Returns NULL with a message when out
 * of memory or a rule's query does not parse (config validation makes that
 * rare).
 */
struct rules *rules_new(const struct config *cfg, const struct rules_env *env, char *err,
                        size_t errlen);

/* Stops the thread if running and frees everything. Sends nothing. */
void rules_free(struct rules *r);

/*
 * The rule alerts that are open in the spine (dedup keys of the "rules"
 * integration), read from the store at start. The evaluator treats them as
 * firing: a series whose condition no longer holds at its rule's first
 * evaluation is resolved (after keep_firing_for), and keys of rules that no
 * longer exist are resolved at the next tick. Keys are copied.
 */
void rules_adopt_open(struct rules *r, const char *const *dedup_keys, size_t n);

/*
 * Evaluates every rule due at now (simulated time in tests), updates states,
 * loads baselines within the budget, and emits the resulting events.
 * Returns the number of rules evaluated.
 */
int rules_tick(struct rules *r, int64_t now);

/* When the next rule is due (ms), or INT64_MAX with no rules. */
int64_t rules_next_due(struct rules *r);

/*
 * Switches to cfg (borrowed as in rules_new). A rule whose definition is
 * unchanged keeps its states and baselines; a changed rule starts afresh but
 * keeps its firing alerts (resolved at its first evaluation if no longer
 * true); alerts of removed rules are resolved at the next tick.
 */
void rules_reload(struct rules *r, const struct config *cfg);

/* Starts the "tocsin-rules" thread, which ticks with the wall clock. */
int rules_start(struct rules *r, char *err, size_t errlen);

/* Stops the thread (an evaluation in progress finishes). r stays usable. */
void rules_stop(struct rules *r);

struct rules_stats {
    uint64_t rules;       /* configured */
    uint64_t evaluations; /* since start */
    uint64_t failures;    /* evaluations that failed (query error, limit) */
    uint64_t events_sent, events_retried;
    uint64_t series;            /* series states held */
    uint64_t firing, pending;   /* series states now */
    uint64_t baselines;         /* series baselines held */
    uint64_t baseline_bytes;    /* their memory */
    uint64_t baselines_loading; /* rules still loading history */
    int64_t last_tick_us;       /* wall time of the last tick */
};
void rules_stats(struct rules *r, struct rules_stats *out);

/*
 * The "data" object of Prometheus's GET /api/v1/rules:
 * {"groups":[{"name","file","interval","rules":[{"type":"alerting","name","query",
 * "duration","keepFiringFor","labels","annotations","health","lastError",
 * "lastEvaluation","evaluationTime","state","alerts":[{"labels","annotations",
 * "state","activeAt","value"}]}]}]} plus Tocsin's fields on each rule
 * ("kind", "series" with every state's explanation, "baseline" status).
 * With name, only that rule (its group around it); NULL when no rule has it.
 * Caller owns the reference.
 */
json_t *rules_status_json(struct rules *r, const char *name);

/* The stable dedup key of a rule's alert: "RULE/" + labels_fingerprint_hex(alert labels). */
void rules_dedup_key(const char *rule, const struct labelset *alert_labels, char *buf, size_t len);

/* Backtest: replay one rule over stored history, as if it had been deployed. */
struct rules_backtest_opts {
    int64_t from, to; /* ms; from < to */
    int64_t step_ms;  /* 0: the rule's interval; the replay evaluates at from, from + step ... */
    size_t max_evaluations; /* 0: 100,000; more is refused with a message */
};

/*
 * Evaluates rule at every step in [from, to] with a fresh state and fresh
 * baselines built from history before each instant (as the live evaluator
 * would have had them), and returns a new JSON object:
 * {"rule","kind","from","to","step","evaluations","fired":N,
 *  "alerts":[{"labels","severity","fired_at","resolved_at"(null when still firing at
 *  `to`),"duration_s","peak","value","explanation"}],
 *  "notes":["baseline for 3 slots had too little history", ...]}.
 * Times are RFC 3339. Returns 0, or -1 with a message (bad range, too many
 * evaluations, query failure).
 */
int rules_backtest(const struct cfg_rule *rule, const struct cfg_rule_settings *settings,
                   const struct rules_env *env, const struct rules_backtest_opts *o, json_t **out,
                   char *err, size_t errlen);

#endif
