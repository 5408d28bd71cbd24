/*
 * checks.h - the check scheduler: one thread that runs every active check
 * (Nagios-compatible plugins through runner.h, tcp and http probes through
 * probe.h), judges results with check_state.h (SOFT/HARD, flapping), works
 * out which problems are only the echo of a failed parent, watches
 * heartbeats and the freshness of passive checks, and reports to the engine.
 *
 * The scheduler owns the live state of every check; the engine stores what
 * changed and turns HARD changes into alerts. Reports go to the engine in
 * batches, one batch in flight at a time, so the engine's group commit
 * serves thousands of results per second with one fsync per batch.
 *
 * THREAD SAFETY NOTES: checks_new and checks_stop belong to the main
 * thread; every other function may be called from any thread (HTTP
 * handlers). Functions that report something (passive results, heartbeat
 * pings) block until it is durable.
 */
#ifndef TOCSIN_CHECKS_H
#define TOCSIN_CHECKS_H

#include "../config/config.h"
#include "../engine/engine.h"
#include "../store/store.h"
#include "check_state.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct checks;

/*
 * Builds the scheduler for cfg and loads the stored state of every check
 * and heartbeat. Must run before the engine thread starts (it reads the
 * store's write connection). cfg, store and engine are borrowed. Returns
 * NULL with a message in err on failure.
 */
struct checks *checks_new(const struct config *cfg, struct store *store, char *err, size_t errlen);

/*
 * Called on the scheduler thread with every result a check gets (active,
 * passive or stale), so that its performance data can become series. The
 * output is the plugin's text, perfdata included; it is borrowed for the
 * call. Must not block for long: checks wait while it runs.
 */
typedef void (*checks_result_fn)(void *ctx, const struct cfg_check *def, int status,
                                 const char *output, size_t len, int64_t now_ms);

/*
 * Called on the scheduler thread at the end of every round of its loop (at
 * least once a second), and a last time with final set when the thread stops,
 * so that what the result hook gathered can be written in one batch instead of
 * one write per result.
 */
typedef void (*checks_flush_fn)(void *ctx, int64_t now_ms, bool final);

/* Sets the result hook and its flush (NULL: none). Call before checks_start. */
void checks_set_result_hook(struct checks *c, checks_result_fn fn, checks_flush_fn flush,
                            void *ctx);

/* Starts the scheduler thread, which reports to engine. 0 or -1. */
int checks_start(struct checks *c, struct engine *engine);

/*
 * Stops running checks (children are killed), sends what is still pending
 * to the engine and joins the thread. Call before engine_stop. Frees c.
 */
void checks_stop(struct checks *c);

/*
 * Switches to cfg (borrowed; must outlive its use): checks that keep their
 * id keep their state and schedule, new ones are spread over their interval,
 * removed ones stop. Returns once the scheduler has switched.
 */
int checks_reload(struct checks *c, const struct config *cfg);

enum checks_status {
    CHECKS_OK = 0,
    CHECKS_ENOTFOUND = 1, /* no such check or heartbeat */
    CHECKS_EINVAL = 2,    /* e.g. a passive result for an active check */
    CHECKS_EBUSY = 3,     /* the engine is behind: answer 503 */
    CHECKS_ESTORE = 4,    /* could not be stored */
};

/* A passive check result as POST /api/v1/check-results takes it. */
struct passive_result {
    const char *host;
    const char *service;  /* check name; NULL or "" for the host itself */
    int status;           /* 0..3 */
    const char *output;   /* plugin-style text; may contain "|" perfdata */
    const char *perfdata; /* extra perfdata text, or NULL */
};

/* Applies a passive result and waits until it is stored. */
enum checks_status checks_submit_passive(struct checks *c, const struct passive_result *r);

/* Records a heartbeat ping for key and waits until it is stored. */
enum checks_status checks_heartbeat_ping(struct checks *c, const char *key,
                                         enum heartbeat_ping kind, bool has_value, double value,
                                         char *name_out, size_t name_size);

/* Runs a check as soon as a slot is free. */
enum checks_status checks_check_now(struct checks *c, const char *id);

/*
 * Read views for the API; each returns a new JSON value (caller owns it).
 * checks_services_json filters on state name ("critical", "problem" = any
 * non-OK), host, and label matchers "name=value"; after_id and limit page
 * through checks in id order. NULL filters do not filter.
 */
struct checks_filter {
    const char *state;
    const char *host;
    const struct matcher *matchers;
    size_t n_matchers;
    const char *after; /* return ids greater than this */
    int limit;
};
json_t *checks_services_json(struct checks *c, const struct checks_filter *f, bool *more);
json_t *checks_hosts_json(struct checks *c, const struct checks_filter *f, bool *more);
json_t *checks_service_json(struct checks *c, const char *id); /* NULL: not found */
json_t *checks_heartbeats_json(struct checks *c);

/* Writes the scheduler's Prometheus metrics (checks run, latency, states). */
void checks_metrics_write(struct checks *c, FILE *f);

#endif
