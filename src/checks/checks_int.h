/*
 * checks_int.h - what the files of the check scheduler share and nothing
 * else sees: the runtime record of each check and heartbeat, the report
 * batches on their way to the engine, and the scheduler itself.
 *
 *   scheduler.c      the thread: heaps, running plugins and probes, results,
 *                    heartbeats, passive results, building and reloading
 *   checks_deps.c    parents and dependencies: whose problem explains whose
 *   checks_report.c  report batches to the engine, alert events and rows
 *   checks_view.c    the API's read views and the Prometheus metrics
 */
#ifndef TOCSIN_CHECKS_INT_H
#define TOCSIN_CHECKS_INT_H

#include "../base/heap.h"
#include "../base/strmap.h"
#include "checks.h"
#include "probe.h"
#include "runner.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define MAX_OUTPUT_KEPT    8192 /* of each result, for the API and the alert */
#define MAX_HISTORY_OUTPUT 2048 /* of each result, in check_history */
#define N_BOUNDS           21

/* Upper bounds (seconds) of the latency and execution histograms. */
extern const double checks_bounds[N_BOUNDS];

enum item_kind { ITEM_CHECK = 0, ITEM_HEARTBEAT = 1 };
enum heap_id { HEAP_CMD = 0, HEAP_PROBE = 1, HEAP_TIMER = 2, N_HEAPS = 3 };

/* What the heaps hold: the first member of check_rt and hb_rt. */
struct sched_item {
    struct heap_node node; /* first: key = when it is due; idx HEAP_NOT_IN in no heap */
    uint8_t kind;          /* enum item_kind */
    uint8_t heap;          /* enum heap_id, while node is in a heap */
};

struct dep_group {
    struct check_rt **v; /* borrowed pointers into the scheduler's checks */
    size_t n;
};

struct check_rt {
    struct sched_item item;
    char *id;                    /* owned; key of the map */
    const struct cfg_check *def; /* borrowed from the current config */
    struct check_policy pol;
    struct check_status_rec st;
    char **argv;  /* owned; the command split once, or NULL to use the shell */
    char **envp;  /* owned array of borrowed strings, or NULL (inherit) */
    bool running; /* a plugin or probe is in flight */
    bool orphan;  /* removed by a reload while running: freed when it ends */
    /* The latest result. */
    char *output; /* owned, NUL-terminated, at most MAX_OUTPUT_KEPT */
    size_t output_cap;
    int64_t last_latency_ms, last_exec_ms;
    int64_t last_result_ms;
    /* Dependencies, rebuilt on reload. */
    struct check_rt *host_rt;  /* a service: its host's check, or NULL */
    struct check_rt **parents; /* a host check: its parents' host checks; owned array */
    size_t n_parents;
    size_t n_parents_unchecked; /* parents without a host check: always UP */
    struct dep_group *groups;   /* owned array (depends_on) */
    size_t n_groups;
    struct check_rt **dependents; /* owned array: checks whose reachability uses this one */
    size_t n_dependents, cap_dependents;
    /* What the engine was told last, to send only changes. */
    bool sent_firing;
    bool sent_known; /* false after a start: the next problem result re-sends */
    uint8_t sent_state;
    bool sent_suppressed;
    char *unreach;  /* owned: why this check's problem is not its own, or NULL */
    char *root_key; /* owned: the alert that pages for it (unreach != NULL) */
};

struct hb_rt {
    struct sched_item item;
    char *name; /* owned */
    char *dedup_key;
    const struct cfg_heartbeat *def; /* borrowed */
    struct heartbeat_policy pol;
    struct heartbeat_status_rec st;
    int status;
    char text[256];
    bool sent_firing, sent_known;
    uint8_t sent_state;
};

/* A caller waiting until its report is durable. */
struct waiter {
    sem_t done;
    enum checks_status status;
};

enum inbox_kind { IN_PASSIVE, IN_PING, IN_CHECK_NOW, IN_RELOAD };

struct inbox_cmd {
    enum inbox_kind kind;
    const struct passive_result *pr;
    const char *key; /* IN_PING: heartbeat key; IN_CHECK_NOW: check id */
    enum heartbeat_ping ping;
    bool has_value;
    double value;
    char *name_out; /* IN_PING: the heartbeat's name is copied here */
    size_t name_size;
    const struct config *cfg; /* IN_RELOAD */
    struct waiter w;
    struct inbox_cmd *next;
};

/* Reports on their way to the engine and everything they point to. */
struct batch {
    struct engine_cmd cmd;
    struct check_report *reports;
    size_t n, cap;
    char **owned; /* strings the reports borrow */
    size_t n_owned, cap_owned;
    struct waiter **waiters;
    size_t n_waiters, cap_waiters;
    int attempts;
};

struct checks_stats {
    atomic_llong run[4];     /* by check type */
    atomic_llong results[4]; /* by state */
    atomic_llong latency[N_BOUNDS + 1];
    atomic_llong latency_sum_us;
    atomic_llong exec[N_BOUNDS + 1];
    atomic_llong exec_sum_us;
    atomic_llong completed;
    atomic_llong spawn_retries;
    atomic_llong reports_lost;
};

struct checks {
    const struct config *cfg; /* borrowed; the current one */
    struct store *store;
    struct engine *engine;
    pthread_mutex_t lock;  /* guards the maps and every rt's state (API reads) */
    struct strmap by_id;   /* id -> struct check_rt */
    struct check_rt **rts; /* owned array, in config order */
    size_t n_rts;
    struct check_rt **orphans; /* owned array */
    size_t n_orphans;
    struct strmap hb_by_key; /* key -> struct hb_rt */
    struct hb_rt **hbs;
    size_t n_hbs;
    struct heap heaps[N_HEAPS]; /* by when due */

    struct runner *runner;
    struct probe_set *probes;
    int epfd, inbox_fd, done_fd;
    pthread_t thread;
    bool started;

    pthread_mutex_t inbox_lock;
    struct inbox_cmd *inbox;
    bool stopping;

    struct batch *pending;  /* being filled */
    struct batch *inflight; /* at the engine */
    atomic_bool inflight_done;
    int64_t retry_at; /* when a refused batch may be sent again */

    struct checks_stats stats;

    checks_result_fn on_result; /* or NULL; see checks_set_result_hook */
    checks_flush_fn on_flush;   /* or NULL */
    void *on_result_ctx;
};

/* ---- checks_report.c: what goes to the engine ---- */

struct batch *checks_batch_new(void);
void checks_batch_free(struct batch *b);
/* Keeps s (malloc'd) alive as long as the batch; returns it. NULL stays NULL. */
const char *checks_batch_own(struct batch *b, char *s);
/* A zeroed report at the end of the pending batch, or NULL (out of memory). */
struct check_report *checks_batch_add(struct checks *c);
/* Tells w once the batch is durable. 0 or -1. */
int checks_batch_wait(struct batch *b, struct waiter *w);
void checks_post_waiters(struct batch *b, enum checks_status st);
/* Sends the pending batch when nothing is in flight. */
void checks_flush(struct checks *c, int64_t now);
/* Handles the engine's answer to the batch in flight, if it came. */
void checks_batch_finished(struct checks *c, int64_t now);
/* "OK".."UNKNOWN", or UP/DOWN/UNREACHABLE for a host check. */
const char *checks_state_name(const struct check_rt *rt, int state);
/* Length of the first line of out, at most max. */
size_t checks_first_line(const char *out, size_t max);
/* Fills r's state row from rt; strings are owned by the pending batch. */
void checks_row(struct checks *c, struct check_report *r, struct check_rt *rt, bool history,
                bool hard_change);
/* Reports rt's alert state when it differs from what the engine was told. */
int checks_reconcile(struct checks *c, struct check_rt *rt, int64_t now, struct check_report *r);

/* ---- checks_deps.c: parents and dependencies ---- */

/* Links every check to what its reachability depends on (after a build). */
int checks_link(struct checks *c);
/* Frees what checks_link built for rt. */
void checks_rt_free_deps(struct check_rt *rt);
/* Judges whether rt's problem is explained by what it depends on; true when
 * that changed. */
bool checks_judge_reach(struct check_rt *rt);
/* Re-judges (and reports) the checks that depend on rt. */
int checks_propagate(struct checks *c, struct check_rt *rt, int64_t now, int depth);
bool checks_is_problem(const struct check_rt *rt);

/* ---- checks_view.c: what the API and /metrics read ---- */

void checks_observe(atomic_llong *buckets, atomic_llong *sum_us, int64_t ms);

#endif
