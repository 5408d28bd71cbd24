/*
 * store.h - the one interface to Tocsin's persistent state.
 *
 * The interface speaks in domain terms (alerts, incidents, timeline, audit),
 * never in SQL, so a PostgreSQL backend can sit behind it beside the SQLite
 * one. There are two kinds of use:
 *
 *  - The engine thread is the only writer. It opens a transaction with
 *    store_begin, makes any number of writes, and store_commit makes the whole
 *    batch durable at once (group commit). Write functions are only valid
 *    inside a transaction and only from the engine thread.
 *  - Readers (HTTP handlers on many threads) borrow a read connection with
 *    store_reader_acquire, run queries that return JSON, and give it back.
 *    Readers see only committed data.
 *
 * Errors: functions return 0 (or an id > 0) on success and -1 on failure,
 * with a message available from store_errmsg (writer) for the log.
 *
 * THREAD SAFETY NOTES: a struct store may be used by one writer thread and
 * any number of reader threads at once; each reader handle is used by one
 * thread at a time.
 */
#ifndef TOCSIN_STORE_H
#define TOCSIN_STORE_H

#include "../base/labels.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct store_reader;

/* Persistent form of an alert, as the engine writes it. Strings borrowed. */
struct store_alert {
    int64_t id;              /* 0 when inserting; filled by store_alert_insert */
    const char *integration; /* integration name */
    const char *dedup_key;
    const char *status;            /* "firing", "acknowledged", "resolved" */
    int severity;                  /* enum severity */
    const char *summary;           /* may be NULL */
    const char *source;            /* may be NULL */
    const struct labelset *labels; /* serialised by the store as a JSON object */
    const json_t *details;         /* any JSON or NULL */
    const json_t *links;           /* array or NULL */
    int64_t first_seen, last_seen, count;
    int64_t starts_at;           /* ms; 0 = unknown */
    int64_t ends_at;             /* ms; 0 = does not expire */
    const int64_t *incident_ids; /* the incidents it joined (set at insert only) */
    size_t n_incidents;
    const char *suppressed; /* why it does not page (downtime, parent down), or NULL */
};

/* Persistent form of an incident. Strings borrowed. */
struct store_incident {
    int64_t id; /* 0 when inserting; it is also the INC- number */
    const char *title;
    const char *service; /* may be NULL */
    const char *route;   /* route id */
    const char *group_key;
    const char *status; /* "triggered", "acknowledged", "resolved" */
    int severity;       /* enum severity */
    int priority;       /* 1..5 */
    int urgency;        /* 1..3 */
    int impact;         /* 1..3 */
    int64_t created_at, updated_at, last_alert_at;
    int64_t alert_count, open_alert_count;
};

/* Filters for list queries; NULL/0 fields do not filter. */
struct store_query {
    const char *statuses[4]; /* up to 4 accepted statuses, NULL-terminated early */
    const char *service;     /* incidents */
    const char *integration; /* alerts */
    int64_t before_id;       /* cursor: only ids below this; 0 = from the newest */
    int limit;               /* 1..500 */
};

/*
 * Process-wide settings of the storage libraries. Call once, before any
 * other thread starts and before the first store_open_sqlite; calling it
 * later or twice is harmless but has no effect.
 */
void store_global_init(void);

/*
 * Opens (creating if needed) the store in directory dir and brings its
 * schema up to date with the versioned migrations. sync_full makes every
 * commit wait for fsync. Returns NULL and writes a message into err on
 * failure. The caller closes it with store_close.
 */
struct store *store_open_sqlite(const char *dir, bool sync_full, char *err, size_t errlen);

/* Closes every connection. The writer must not be inside a transaction. */
void store_close(struct store *s);

/* The schema version after migrations. */
int store_schema_version(struct store *s);

/* Message of the writer's last failure; borrowed, valid until the next call. */
const char *store_errmsg(struct store *s);

/* ---- Writer (engine thread only) ---- */

int store_begin(struct store *s);
int store_commit(struct store *s);
void store_rollback(struct store *s);

/* Keeps the raw request as received, so every accepted event is on disk verbatim. */
int store_intake_log(struct store *s, int64_t at, const char *integration, const char *format,
                     const char *body, size_t len);

int store_alert_insert(struct store *s, struct store_alert *a);

/* Updates what repeats change: last_seen, count, severity, ends_at and, when
 * content is true, summary, source, labels, details and links. */
int store_alert_touch(struct store *s, const struct store_alert *a, bool content);

/* Moves an alert to "acknowledged" or "resolved", recording when and by whom. */
int store_alert_set_status(struct store *s, int64_t id, const char *status, int64_t at,
                           const char *actor);

/* Sets or clears (reason NULL) why an alert is suppressed, with the
 * incidents it belongs to from now on. */
int store_alert_set_suppressed(struct store *s, int64_t id, const char *reason,
                               const int64_t *incident_ids, size_t n_incidents);

int store_incident_insert(struct store *s, struct store_incident *inc);
int store_incident_update(struct store *s, const struct store_incident *inc);

/* Records that the incident moved to acknowledged/resolved at `at` by actor. */
int store_incident_set_status(struct store *s, int64_t id, const char *status, int64_t at,
                              const char *actor);

int store_incident_link_alert(struct store *s, int64_t incident_id, int64_t alert_id, int64_t at);

/* Sets (0: clears) when an acknowledgement runs out. */
int store_incident_set_ack_expiry(struct store *s, int64_t id, int64_t expires_at);

/* An acknowledgement ran out: back to triggered. */
int store_incident_unacknowledge(struct store *s, int64_t id, int64_t at);

/* Appends a timeline entry; data may be NULL. Returns the entry id or -1. */
int64_t store_timeline_add(struct store *s, int64_t incident_id, int64_t at, const char *kind,
                           const char *actor, const char *text, const json_t *data);

/* Appends to the audit log; before/after may be NULL. */
/*
 * As store_audit_add, with before and after given as JSON texts (NULL = SQL
 * NULL), for hot paths that write them without building jansson objects.
 */
int store_audit_add_text(struct store *s, int64_t at, const char *actor, const char *action,
                         const char *object_type, int64_t object_id, const char *before,
                         const char *after);

int store_audit_add(struct store *s, int64_t at, const char *actor, const char *action,
                    const char *object_type, int64_t object_id, const json_t *before,
                    const json_t *after);

/* Stores a change record; returns its id or -1. details/links may be NULL. */
int64_t store_change_insert(struct store *s, int64_t received_at, const char *integration,
                            const char *summary, const char *source, int64_t timestamp,
                            const json_t *details, const json_t *links);

/*
 * Calls back for every open alert and every open incident, so the engine can
 * rebuild its in-memory index after a restart. Strings passed to the callbacks
 * are valid only during the call. A callback returning non-zero stops the scan
 * and the function returns -1.
 */
struct store_open_alert {
    int64_t id;
    const char *integration, *dedup_key;
    const char *status;
    int severity;
    int64_t first_seen, last_seen, count, starts_at, ends_at;
    int64_t incident_ids[4];
    int n_incidents;
    const char *suppressed; /* NULL when it pages normally */
    const char *labels;     /* JSON text, only for suppressed alerts */
    const char *summary;    /* only for suppressed alerts */
};
struct store_open_incident {
    int64_t id;
    const char *group_key, *service, *route;
    const char *status;
    int severity, priority, impact;
    int64_t created_at, last_alert_at, alert_count, open_alert_count;
    int64_t ack_expires_at; /* 0 = the acknowledgement does not run out */
    const char *title;
    const char *esc_policy; /* NULL = no escalation */
    int esc_level, esc_round;
    int64_t esc_next_at; /* 0 = no step pending */
    const char *assignee;
};
int store_load_open(struct store *s, int (*on_alert)(void *, const struct store_open_alert *),
                    int (*on_incident)(void *, const struct store_open_incident *), void *ctx);

/*
 * Calls back for alerts that their sender (not a person) resolved at or
 * after since_ms and that carry a start time, so the engine can recognise a
 * late retry of their firing after a restart. Strings are valid only during
 * the call.
 */
int store_load_recent_resolved(struct store *s, int64_t since_ms,
                               int (*on_alert)(void *, const char *integration,
                                               const char *dedup_key, int64_t starts_at,
                                               int64_t resolved_at),
                               void *ctx);

/* Looks up an incident's status ("triggered", ...) into buf. Returns 1 when
 * found, 0 when there is no such incident, -1 on failure. */
int store_incident_status(struct store *s, int64_t id, char *buf, size_t size);

/* ---- Checks (writer: engine thread; loads: at start, before the engine) ---- */

/* The last known state of a check. Strings and arrays borrowed. */
struct store_check_row {
    const char *id; /* "HOST!CHECK" or "HOST" */
    int state, state_type, hard_state, attempt;
    bool flapping;
    double flap_percent;
    const uint8_t *history; /* the flap window's states, oldest first */
    size_t n_history;
    int64_t last_check, last_change, last_hard_change;
    const char *output;   /* summary, then long output after a newline; may be NULL */
    const char *perfdata; /* JSON array text, or NULL */
};

/*
 * Stores a check's state (insert or replace). With history, also appends the
 * change to check_history, marking whether it was a HARD change and whether
 * a downtime covered the check then (availability reports leave those out).
 */
int store_check_put(struct store *s, const struct store_check_row *r, bool history,
                    bool hard_change, bool in_downtime, int64_t at);

/* Calls back for every stored check state; strings valid during the call. */
int store_check_load(struct store *s, int (*cb)(void *, const struct store_check_row *), void *ctx);

/* A heartbeat's pings so far. */
struct store_heartbeat_row {
    const char *name;
    int64_t created, last_ping, last_success, started, last_fail;
    bool has_value;
    double value;
};

/* Stores the state; with ping_kind ("success", "start", "fail") also logs the
 * ping itself (value when has_value). */
int store_heartbeat_put(struct store *s, const struct store_heartbeat_row *r, const char *ping_kind,
                        int64_t at);
int store_heartbeat_load(struct store *s, int (*cb)(void *, const struct store_heartbeat_row *),
                         void *ctx);

/* Downtimes made through the API, kept as their validated JSON spec. */
int64_t store_downtime_insert(struct store *s, const json_t *spec, int64_t at, const char *actor);
/* 1 when deleted, 0 when no such live downtime, -1 on error. */
int store_downtime_delete(struct store *s, int64_t id, int64_t at, const char *actor);
int store_downtime_load(struct store *s, int (*cb)(void *, int64_t id, const char *spec),
                        void *ctx);

/* ---- On call (writer: engine thread; loads: at engine start) ---- */

/* Where an incident's escalation stands; policy NULL clears it. */
int store_incident_set_escalation(struct store *s, int64_t id, const char *policy, int level,
                                  int round, int64_t next_at);
int store_incident_set_assignee(struct store *s, int64_t id, const char *assignee);

/* One notification. Strings borrowed. */
struct store_outbox_row {
    int64_t id; /* 0 when inserting; filled */
    const char *idem_key;
    int64_t incident_id;                    /* 0 = none */
    const char *channel, *target, *address; /* address may be NULL */
    const char *kind;                       /* payload kind */
    int level;                              /* escalation level (1-based), 0 = none */
    const char *payload;                    /* JSON text */
    const char *status;                     /* pending, delivered, dead, cancelled */
    int attempts;
    int64_t created_at, next_at, last_at;
    const char *detail; /* may be NULL */
};

/* Inserts a pending row. Returns 1 when inserted (id filled), 0 when a row
 * with the same idem_key exists already (nothing written), -1 on error. */
int store_outbox_insert(struct store *s, struct store_outbox_row *r);
/* Records an attempt's outcome: status, attempts, next_at, last_at, detail. */
int store_outbox_update(struct store *s, int64_t id, const char *status, int attempts,
                        int64_t next_at, int64_t last_at, const char *detail);
int store_outbox_set_payload(struct store *s, int64_t id, const char *payload);
/* A dead row becomes pending again with a fresh set of attempts, due at
 * now. 1 when done, 0 when no such dead row, -1 on error. */
int store_outbox_requeue(struct store *s, int64_t id, int64_t now);
/* Calls back with row id when it is pending: 1 found, 0 not, -1 error. */
int store_outbox_get_pending(struct store *s, int64_t id,
                             int (*cb)(void *, const struct store_outbox_row *), void *ctx);
/* Calls back for every pending row, oldest first; strings valid during the call. */
int store_outbox_load_pending(struct store *s, int (*cb)(void *, const struct store_outbox_row *),
                              void *ctx);

/* Schedule overrides made through the API. */
int64_t store_override_insert(struct store *s, const char *schedule, const char *user,
                              int64_t start, int64_t end, int64_t at, const char *actor);
/* 1 deleted, 0 no such live override, -1 error. */
int store_override_delete(struct store *s, int64_t id, int64_t at, const char *actor);
/* Live overrides ending after since. */
int store_override_load(struct store *s, int64_t since,
                        int (*cb)(void *, int64_t id, const char *schedule, const char *user,
                                  int64_t start, int64_t end, const char *created_by),
                        void *ctx);

/* Marks an action link's nonce used. 1 when it was new, 0 when already used, -1 error. */
int store_action_nonce_use(struct store *s, const char *nonce, int64_t incident_id,
                           const char *action, const char *user, int64_t at);

/* ---- Readers (any thread) ---- */

/* Borrows a read connection; NULL when none can be opened. */
struct store_reader *store_reader_acquire(struct store *s);
void store_reader_release(struct store *s, struct store_reader *r);

/* Each returns a new JSON value (caller owns the reference) or NULL when the
 * object does not exist (get) or on failure (list; errno-like message logged). */
json_t *store_alert_list(struct store_reader *r, const struct store_query *q);
json_t *store_alert_get(struct store_reader *r, int64_t id);
json_t *store_incident_list(struct store_reader *r, const struct store_query *q);
json_t *store_incident_get(struct store_reader *r, int64_t id);
json_t *store_change_list(struct store_reader *r, const struct store_query *q);
json_t *store_audit_list(struct store_reader *r, const struct store_query *q);
json_t *store_timeline_get(struct store_reader *r, int64_t entry_id);

/* The open (firing or acknowledged) alerts, oldest first, at most limit of
 * them, as an array; sets *more when there were more than limit. */
json_t *store_alert_list_open(struct store_reader *r, int limit, bool *more);

/* The newest `limit` state changes of a check, newest first. */
json_t *store_check_history(struct store_reader *r, const char *check_id, int limit);

/* The live API downtimes: [{id, created_at, created_by, ...spec}]. */
json_t *store_downtime_list(struct store_reader *r);

/* Notifications, newest first: filter by status and/or incident (0 = any). */
json_t *store_outbox_list(struct store_reader *r, const char *status, int64_t incident_id,
                          int64_t before_id, int limit);
/* Counts of rows by status: {"pending": n, "delivered": n, ...}. */
json_t *store_outbox_counts(struct store_reader *r);

/* The newest `limit` pings of a heartbeat, newest first. */
json_t *store_heartbeat_pings(struct store_reader *r, const char *name, int limit);

#endif
