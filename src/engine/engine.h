/*
 * engine.h - the one thread that owns alert and incident state.
 *
 * HTTP handlers (and later the check scheduler and rule evaluator) build a
 * command, hand it to engine_submit and block until the engine has applied it
 * and committed the batch it was part of. A command that returns ENGINE_OK is
 * durable. The engine drains its queue in batches and commits each batch in
 * one transaction (group commit), so many concurrent requests share one
 * fsync.
 *
 * THREAD SAFETY NOTES: engine_submit and engine_stats may be called from any
 * thread; everything else belongs to the thread that created the engine.
 */
#ifndef TOCSIN_ENGINE_H
#define TOCSIN_ENGINE_H

#include "../config/config.h"
#include "../store/store.h"
#include "event.h"
#include "route.h"

#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct engine;

enum engine_status {
    ENGINE_OK = 0,
    ENGINE_ENOTFOUND = 1, /* the incident does not exist */
    ENGINE_ECONFLICT = 2, /* the action is not valid in the current state */
    ENGINE_EBUSY = 3,     /* queue full: answer 503 with Retry-After */
    ENGINE_ESTORE = 4,    /* the batch could not be committed: nothing was stored */
    ENGINE_ESHUTDOWN = 5, /* the engine is stopping */
};

enum engine_outcome {
    OUTCOME_CREATED = 0,
    OUTCOME_UPDATED = 1,
    OUTCOME_ACKNOWLEDGED = 2,
    OUTCOME_RESOLVED = 3,
    OUTCOME_DROPPED = 4,
    OUTCOME_COUNT
};

const char *engine_outcome_name(enum engine_outcome o);

/* What happened to one event of a batch. */
struct engine_event_result {
    enum engine_outcome outcome;
    int64_t alert_id;                        /* 0 when dropped */
    int64_t incident_ids[ROUTE_MAX_MATCHES]; /* incidents the alert belongs to */
    int n_incidents;
};

enum engine_cmd_kind {
    CMD_EVENTS,            /* apply a batch of events from one integration */
    CMD_CHANGE,            /* store a change record */
    CMD_INCIDENT_ACK,      /* acknowledge an incident */
    CMD_INCIDENT_RESOLVE,  /* resolve an incident and its open alerts */
    CMD_INCIDENT_NOTE,     /* add a note to the timeline */
    CMD_CHECK_REPORTS,     /* store check and heartbeat states, apply their events */
    CMD_DOWNTIME_ADD,      /* add a downtime made through the API */
    CMD_DOWNTIME_DELETE,   /* end and delete one */
    CMD_RELOAD,            /* switch to a new configuration */
    CMD_INCIDENT_ESCALATE, /* fire an escalation level now */
    CMD_INCIDENT_ASSIGN,   /* make a user the incident commander and page them */
    CMD_OVERRIDE_ADD,      /* add a schedule override */
    CMD_OVERRIDE_DELETE,   /* delete one */
    CMD_OUTBOX_RETRY,      /* send a dead notification again */
};

/*
 * What the check scheduler reports about one check or heartbeat: a state to
 * store (and a history row when it changed), and an event to apply when a
 * HARD state changed. The engine decides whether a downtime covers it.
 */
struct check_report {
    bool has_row;               /* store row (check_state, and history when history) */
    bool history, hard_change;  /* append row to check_history; was it HARD */
    struct store_check_row row; /* strings borrowed from the report's owner */
    bool has_hb;                /* store hb (heartbeat_state) */
    const char *hb_ping;        /* "success", "start", "fail" or NULL */
    struct store_heartbeat_row hb;
    const struct labelset *labels; /* the check's labels: downtime coverage; may be NULL */
    bool has_event;
    struct event ev;  /* applied as coming from the "checks" integration */
    const char *note; /* NULL, or a timeline note for the incidents of the open
                         alert with dedup key note_key ("flapping started ...") */
    const char *note_key;
    enum engine_outcome outcome; /* filled by the engine when has_event */
};

/*
 * A command. The submitter owns it and everything it points to, and must keep
 * all of it alive until engine_submit returns.
 */
struct engine_cmd {
    enum engine_cmd_kind kind;
    const struct cfg_integration *integ; /* CMD_EVENTS, CMD_CHANGE: who sent it */
    const char *format;                  /* intake format name, for the raw log */
    const char *raw;                     /* the request body as received */
    size_t raw_len;
    struct event *events; /* CMD_EVENTS */
    size_t n_events;
    struct engine_event_result *results; /* CMD_EVENTS: array of n_events, filled */
    struct change_event *change;         /* CMD_CHANGE */
    int64_t incident_id;                 /* CMD_INCIDENT_* */
    const char *actor;                   /* CMD_INCIDENT_*: "token:NAME" */
    const char *text;                    /* CMD_INCIDENT_NOTE */
    int64_t ack_until;                   /* CMD_INCIDENT_ACK: the acknowledgement runs out
                                            then (back to triggered); 0 = never */
    struct check_report *reports;        /* CMD_CHECK_REPORTS */
    size_t n_reports;
    json_t *downtime;             /* CMD_DOWNTIME_ADD: the validated spec (borrowed) */
    int64_t downtime_id;          /* CMD_DOWNTIME_DELETE */
    const struct config *new_cfg; /* CMD_RELOAD: borrowed; must outlive the engine's use */
    const char *user;             /* CMD_INCIDENT_ASSIGN, CMD_OVERRIDE_ADD: a configured user */
    int level;                    /* CMD_INCIDENT_ESCALATE: 1-based level, 0 = the next one */
    const char *schedule;         /* CMD_OVERRIDE_ADD */
    int64_t start, end;           /* CMD_OVERRIDE_ADD */
    int64_t object_id;            /* CMD_OVERRIDE_DELETE, CMD_OUTBOX_RETRY */
    const char *link_nonce;       /* CMD_INCIDENT_ACK/RESOLVE from an action link: its nonce,
                                     refused (ENGINE_ECONFLICT) when already used */
    const char *via;              /* NULL, or how the action came ("link in mail to anna") */

    /* Filled by the engine. */
    enum engine_status status;
    bool changed;   /* CMD_INCIDENT_*: false when the action was a no-op */
    int64_t out_id; /* CMD_CHANGE: change id; CMD_INCIDENT_NOTE: timeline entry id */

    /* Private to the engine. */
    sem_t done;
    void (*on_done)(struct engine_cmd *cmd, void *arg); /* async: called after commit */
    void *on_done_arg;
    struct engine_cmd *next;
};

/* Integrations counted one by one in outcomes; later ones share the row
 * after them ("other"), then come the rows of checks and of rules. */
#define ENGINE_MAX_INTEGRATIONS 256

/*
 * The integration the rule evaluator's events come from (CMD_EVENTS with
 * integ = &engine_rules_integration): alerts of rules are "rules" alerts.
 */
extern const struct cfg_integration engine_rules_integration;

/* Counters for /metrics, updated by the engine thread, read by anyone. */
struct engine_stats {
    atomic_llong queue_events; /* events waiting in the queue */
    atomic_llong alerts_open;
    atomic_llong incidents_open;
    atomic_llong batches;
    atomic_llong commit_buckets[12]; /* cumulative-free counts per bucket of ENGINE_COMMIT_BOUNDS */
    atomic_llong commit_count;
    atomic_llong commit_sum_us;
    atomic_llong store_errors;
    atomic_llong *outcomes;        /* [integration index * OUTCOME_COUNT + outcome]; rows
                                      0..ENGINE_MAX_INTEGRATIONS + 2 */
    atomic_llong notify_pending;   /* outbox rows waiting or in flight */
    atomic_llong notify_sent;      /* attempts handed to the notifier */
    atomic_llong notify_delivered; /* rows delivered */
    atomic_llong notify_retries;   /* attempts that failed and will be retried */
    atomic_llong notify_dead;      /* rows that gave up (dead letters) */
    atomic_llong escalations;      /* escalation levels fired */
};

/* Upper bounds (seconds) of the commit latency histogram buckets; the last is +Inf. */
extern const double engine_commit_bounds[11];

struct overrides;
struct notifier;
struct notify_result;

/* What on call needs besides the configuration. */
struct engine_oncall {
    struct overrides *overrides; /* borrowed; the engine keeps it in step with the store */
    unsigned char link_key[32];  /* signs action links */
    bool has_link_key;           /* false: notifications carry no action links */
    /* Base of links in notifications when notifications.public_url is not
     * set: "http://" + the address the server bound (known only after the
     * engine started; see engine_set_public_url). */
    const char *_Atomic public_url;
};

/*
 * Loads open alerts and incidents (and pending notifications and overrides)
 * from the store and starts the engine thread. cfg, store and oc are
 * borrowed and must outlive the engine; oc may be NULL (no on call). Returns
 * NULL and writes a message into err on failure.
 */
struct engine *engine_start(const struct config *cfg, struct store *store,
                            const struct engine_oncall *oc, char *err, size_t errlen);

/* Sets the links' base URL when the configuration names none. url is
 * borrowed and must outlive the engine. */
void engine_set_public_url(struct engine *e, const char *url);

/* Lets the engine hand due notifications to n (borrowed; must stay up
 * until engine_stop). Until then they wait in the outbox. */
void engine_attach_notifier(struct engine *e, struct notifier *n);

/* The notifier's result callback (arg = the engine): queues r for the
 * engine thread, which records it in the outbox. Never refuses. */
void engine_notify_result(const struct notify_result *r, void *arg);

/* Applies cmd and waits until its batch is committed. Returns cmd->status. */
enum engine_status engine_submit(struct engine *e, struct engine_cmd *cmd);

/*
 * Queues cmd without waiting: on_done(cmd, arg) runs on the engine thread
 * once its batch is committed (or failed; see cmd->status), and must be quick.
 * The submitter keeps cmd alive until then. Returns ENGINE_OK when queued,
 * or ENGINE_EBUSY/ENGINE_ESHUTDOWN (on_done is then not called).
 */
enum engine_status engine_submit_async(struct engine *e, struct engine_cmd *cmd,
                                       void (*on_done)(struct engine_cmd *, void *), void *arg);

/*
 * Validates an API downtime spec against cfg (hosts and checks must exist,
 * times must parse). Returns 0, or -1 with a message naming the field in err.
 */
int engine_downtime_validate(const json_t *spec, const struct config *cfg, char *err,
                             size_t errlen);

/* Same, and also gives the downtime's windows (recur.tz from tz_get). */
int engine_downtime_recur(const json_t *spec, const struct config *cfg, struct recur *out,
                          char *err, size_t errlen);

/* Stops taking commands, drains the queue, commits, and joins the thread. */
void engine_stop(struct engine *e);

const struct engine_stats *engine_get_stats(const struct engine *e);

#endif
