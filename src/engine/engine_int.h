/*
 * engine_int.h - the engine's in-memory state, shared by engine.c (thread and
 * queue), alert.c (alert lifecycle) and incident.c (grouping and incident
 * lifecycle), and by unit tests that drive the state directly with simulated
 * time. Nothing else includes it.
 *
 * The state is a cache of what the store holds for open alerts and
 * incidents: small records indexed by key, enough to decide what an event
 * does without reading the database. If a commit fails, the state is thrown
 * away and rebuilt from the store.
 */
#ifndef TOCSIN_ENGINE_INT_H
#define TOCSIN_ENGINE_INT_H

#include "../base/heap.h"
#include "../base/strmap.h"
#include "engine.h"

#include <stdbool.h>
#include <stdint.h>

enum alert_status { ALERT_FIRING = 0, ALERT_ACKNOWLEDGED = 1, ALERT_RESOLVED = 2 };
enum incident_status { INC_TRIGGERED = 0, INC_ACKNOWLEDGED = 1, INC_RESOLVED = 2 };

#define HEAP_NONE UINT32_MAX

/* An open alert. About 130 bytes plus its key. */
struct alert_rec {
    int64_t id;
    char *key; /* owned; "integration\x1f" "dedup_key"; the map key */
    int64_t incident_ids[ROUTE_MAX_MATCHES];
    int64_t first_seen, last_seen, count;
    int64_t starts_at;     /* sender's start (Alertmanager), 0 if unknown */
    int64_t ends_at;       /* expiry, 0 = never */
    uint64_t content_hash; /* event_content_hash of the stored content, 0 = not known */
    uint32_t heap_idx;     /* position in the expiry heap, HEAP_NONE if absent */
    uint8_t n_incidents;
    uint8_t status;             /* enum alert_status (never RESOLVED while in the map) */
    uint8_t severity;           /* enum severity */
    uint8_t suppressed;         /* enum alert_suppress */
    bool dirty;                 /* repeat fields changed in this batch */
    const struct event *latest; /* newest event of this batch, valid until commit */
    struct alert_rec *next_dirty;
    struct event *held; /* owned copy of the event's labels, key, summary and severity,
                           kept while a downtime suppresses the alert, to route it
                           when no downtime covers it any more */
};

/* Why an open alert does not page. */
enum alert_suppress {
    SUPPRESS_NONE = 0,
    SUPPRESS_SENDER = 1,   /* the check scheduler said so (parent down, flapping) */
    SUPPRESS_DOWNTIME = 2, /* a downtime covers its labels */
};

/* A downtime in force: from the configuration (id 0) or the API. */
struct downtime_rec {
    int64_t id;   /* API id; 0 for configured ones */
    char *name;   /* owned */
    char **hosts; /* owned array of owned names: the host, and with children its
                     descendants; NULL when it covers matchers */
    size_t n_hosts;
    char *check;              /* owned or NULL: only this check of the hosts */
    struct matcher *matchers; /* owned array (API) or borrowed (config: own_matchers false) */
    size_t n_matchers;
    bool own_matchers;
    struct recur recur;
    char *comment; /* owned or NULL */
};

/* An open incident. */
struct incident_rec {
    int64_t id;
    char idkey[24];  /* decimal id; key of the by-id map */
    char *group_key; /* owned */
    char *service;   /* owned or NULL */
    char *route;     /* owned route id */
    int64_t created_at, last_alert_at, alert_count, open_alert_count;
    /* When it last changed (set with the dirty mark); engine_flush writes it. */
    int64_t updated_at;
    uint8_t status; /* enum incident_status (never RESOLVED while in the map) */
    uint8_t severity, priority, impact;
    bool dirty;
    bool resolving;         /* being resolved by hand: no auto-resolve meanwhile */
    int64_t ack_expires_at; /* acknowledged until then (0 = for good) */
    /* Alerts that joined in this batch and are not yet on the timeline: a
     * burst becomes one "N alerts joined" entry instead of N entries. */
    int64_t *joined_ids; /* owned; ids in the order they joined */
    size_t n_joined, cap_joined;
    char *joined_actor;   /* owned; who sent them (one entry per actor) */
    char *joined_summary; /* owned; the first one's summary */
    struct incident_rec *next_dirty;
    /* On call (escalation.c). */
    char *title;                /* owned; for notifications */
    char *esc_policy;           /* owned or NULL: the policy escalating it */
    int esc_level;              /* the next level to fire (0-based) */
    int esc_round;              /* 0 = first pass, then one per repeat */
    struct heap_node esc_timer; /* key: when the next level fires; in st->esc_heap when due */
    char *assignee;             /* owned or NULL: the incident commander */
    bool support_wait_noted;    /* "waiting for support hours" is on the timeline */
};

/* A notification waiting in the outbox or in flight (outbox.c). */
struct outbox_rec {
    int64_t id;
    char idkey[24]; /* decimal id; key of st->outbox */
    int64_t incident_id;
    char *channel, *target, *address, *idem_key, *kind; /* owned; address may be NULL */
    json_t *payload;                                    /* owned */
    int level, attempts;
    bool inflight;          /* handed to the notifier, no result yet */
    struct heap_node timer; /* key: next attempt; in st->outbox_heap while waiting */
};

/* Per user: how many pages in the current digest window (escalation.c). */
struct user_rate {
    char *user; /* owned; map key */
    int64_t window_start;
    int count;
    int64_t digest_ids[8]; /* pending digest row per contact rule, 0 = none */
};

/* A key the sender resolved recently, to drop a late retry of the firing. */
struct recent_rec {
    char *key;         /* owned; map key */
    int64_t starts_at; /* the resolved alert's startsAt */
    int64_t resolved_at;
};

struct engine_state {
    const struct config *cfg;   /* borrowed */
    struct store *store;        /* borrowed */
    struct engine_stats *stats; /* borrowed; may be NULL in tests */
    struct strmap alerts;       /* key -> struct alert_rec (open alerts) */
    struct strmap incidents;    /* idkey -> struct incident_rec (open incidents) */
    struct strmap groups;       /* group key -> struct incident_rec (newest open one) */
    struct strmap recent;       /* key -> struct recent_rec */
    struct alert_rec **heap;    /* min-heap on ends_at */
    size_t heap_len, heap_cap;
    struct alert_rec *dirty_alerts;
    struct incident_rec *dirty_incidents;
    int64_t recent_pruned_at;
    struct downtime_rec *downtimes; /* owned array */
    size_t n_downtimes, cap_downtimes;
    int64_t dt_next_edge;    /* when a downtime window next starts or ends; 0 = unknown */
    size_t n_dt_suppressed;  /* open alerts with SUPPRESS_DOWNTIME */
    int64_t ack_next_expiry; /* earliest ack_expires_at of an open incident; 0 = none */
    /* On call. */
    const struct engine_oncall *oncall; /* borrowed; NULL = no overrides, no links */
    struct heap esc_heap;               /* incidents with a level due (incident_rec.esc_timer) */
    struct strmap outbox;               /* idkey -> struct outbox_rec (pending rows) */
    struct heap outbox_heap;            /* waiting rows by next attempt */
    struct strmap rates;                /* user -> struct user_rate */
};

/* downtime.c */

/* Loads the configured downtimes and those made through the API. */
int downtime_load(struct engine_state *st, char *err, size_t errlen);
void downtime_free_all(struct engine_state *st);

/* The downtime covering labels at now, or NULL. */
const struct downtime_rec *downtime_covering(const struct engine_state *st,
                                             const struct labelset *ls, int64_t now);

/* Builds a record from an API spec (validated against cfg). 0 or -1 + err. */
int downtime_from_json(const json_t *spec, const struct config *cfg, int64_t id,
                       struct downtime_rec *out, char *err, size_t errlen);
void downtime_rec_clear(struct downtime_rec *d);

/* Applies CMD_DOWNTIME_ADD / CMD_DOWNTIME_DELETE. */
int downtime_apply_cmd(struct engine_state *st, struct engine_cmd *cmd, int64_t now);

/* Lifts downtime suppression from alerts no downtime covers any more. */
int downtime_tick(struct engine_state *st, int64_t now);

/* alert.c: routes a suppressed alert into incidents once nothing suppresses it. */
int alert_unsuppress(struct engine_state *st, struct alert_rec *a, const struct event *ev,
                     int64_t now, const char *actor);

/* check reports (engine.c) use this integration for the alerts of checks. */
extern const struct cfg_integration engine_checks_integration;

/* Builds the state from the store. Returns 0 or -1 (message in err). */
int engine_state_load(struct engine_state *st, const struct config *cfg, struct store *store,
                      char *err, size_t errlen);
void engine_state_free(struct engine_state *st);

/* Reloads the keys senders resolved in the hour before now (see
 * struct recent_rec), so late retries stay dropped across a restart. */
int engine_state_load_recent(struct engine_state *st, int64_t now);

/* Remembers that the sender resolved key's alert that started at starts_at. */
void alert_remember_resolved(struct engine_state *st, const char *key, int64_t starts_at,
                             int64_t resolved_at);

/* Applies one command inside the open transaction. Returns 0, or -1 when the
 * store failed (the whole batch must then be rolled back). Domain outcomes
 * (not found, conflict) are reported in cmd->status, not as failures. */
int engine_apply(struct engine_state *st, struct engine_cmd *cmd, int64_t now);

/* Expires alerts whose ends_at has passed and prunes old bookkeeping. */
int engine_tick(struct engine_state *st, int64_t now);

/* Writes what repeats changed in this batch; call once before commit. */
int engine_flush(struct engine_state *st);

/* ms until the next expiry (or -1 when none is scheduled). */
int64_t engine_next_due(const struct engine_state *st, int64_t now);

/* alert.c */

/* The map key of an alert: "integration\x1f" "dedup_key"; caller frees. */
char *make_alert_key(const char *integration, const char *dedup_key);
int alert_apply_event(struct engine_state *st, const struct cfg_integration *integ,
                      const struct event *ev, struct engine_event_result *res, int64_t now);
int alert_resolve(struct engine_state *st, struct alert_rec *a, int64_t now, const char *actor,
                  const char *why, bool by_sender);
void alert_heap_update(struct engine_state *st, struct alert_rec *a);
void alert_rec_free(struct alert_rec *a);

/* incident.c */
struct incident_rec *incident_for_alert(struct engine_state *st, const struct route *r,
                                        const struct event *ev, int64_t now, const char *actor,
                                        int *failed);
int incident_alert_joined(struct engine_state *st, struct incident_rec *inc, int64_t alert_id,
                          const struct event *ev, int64_t now, const char *actor);
int incident_raise_severity(struct engine_state *st, struct incident_rec *inc, enum severity sev,
                            int64_t now, const char *actor);
int incident_alert_resolved(struct engine_state *st, struct incident_rec *inc, int64_t alert_id,
                            int64_t now, const char *actor, const char *why);
int incident_acknowledge(struct engine_state *st, struct incident_rec *inc, int64_t now,
                         const char *actor, const char *why);
int incident_resolve(struct engine_state *st, struct incident_rec *inc, int64_t now,
                     const char *actor, const char *why);
int incident_apply_cmd(struct engine_state *st, struct engine_cmd *cmd, int64_t now);
/* Writes the pending "alerts joined" entry, if any; call before any other
 * timeline entry of the incident so the timeline stays in order. */
int incident_flush_joins(struct engine_state *st, struct incident_rec *inc, int64_t now);
struct incident_rec *incident_find(struct engine_state *st, int64_t id);
/* Returns acknowledged incidents whose acknowledgement ran out to triggered. */
int incident_expire_acks(struct engine_state *st, int64_t now);
void incident_mark_dirty(struct engine_state *st, struct incident_rec *inc, int64_t now);
void incident_rec_free(struct incident_rec *inc);

/* escalation.c */

/* Starts the escalation of a new incident opened by route r (its policy, or
 * its service's) and tells r's partners. */
int escalation_start(struct engine_state *st, struct incident_rec *inc, const struct route *r,
                     int64_t now);
/* Fires every level that is due. */
int escalation_tick(struct engine_state *st, int64_t now);
/* Acknowledged: stop escalating and cancel pages not yet sent. */
int escalation_on_ack(struct engine_state *st, struct incident_rec *inc, int64_t now,
                      const char *actor);
/* The acknowledgement ran out: escalate again from the first level. */
int escalation_restart(struct engine_state *st, struct incident_rec *inc, int64_t now);
/* Resolved (the record is freed after): stop, cancel, tell partners. */
int escalation_on_resolve(struct engine_state *st, struct incident_rec *inc, int64_t now);
/* CMD_INCIDENT_ESCALATE, CMD_INCIDENT_ASSIGN. */
int escalation_apply_cmd(struct engine_state *st, struct engine_cmd *cmd, int64_t now);
/* The policy's ack timeout for inc, or 0. */
int64_t escalation_ack_timeout(const struct engine_state *st, const struct incident_rec *inc);
/* Tells the partner channels of inc's route (r, or looked up when NULL)
 * about inc (kind "incident.triggered", ...). */
int escalation_notify_partners(struct engine_state *st, struct incident_rec *inc,
                               const struct route *r, const char *kind, int64_t now);
void escalation_free(struct engine_state *st);

/* outbox.c */

/* Queues a notification (row + memory). Returns 1 queued, 0 already there
 * (same idem_key), -1 on store failure. payload is borrowed (copied). */
int outbox_queue(struct engine_state *st, int64_t incident_id, const char *channel,
                 const char *target, const char *address, const char *kind, int level,
                 const char *idem_key, const json_t *payload, int64_t next_at, int64_t now,
                 int64_t *id_out);
/* Cancels the pages of an incident not yet handed out; returns how many
 * (-1 on store failure). */
int outbox_cancel_incident(struct engine_state *st, int64_t incident_id, int64_t now);
/* Rewrites a waiting row's payload (digests grow). 0, 1 (not waiting any more) or -1. */
int outbox_update_payload(struct engine_state *st, int64_t id, const json_t *payload);
/* Applies the notifier's result. */
int outbox_apply_result(struct engine_state *st, const struct notify_result *r, int64_t now);
/* CMD_OUTBOX_RETRY. */
int outbox_apply_retry(struct engine_state *st, struct engine_cmd *cmd, int64_t now);
/* Loads pending rows at start. */
int outbox_load(struct engine_state *st, char *err, size_t errlen);
/* The next waiting row due at or before now (taken out of the heap and
 * marked in flight), or NULL. */
struct outbox_rec *outbox_take_due(struct engine_state *st, int64_t now);
/* Puts a row taken by outbox_take_due back (the notifier refused it). */
void outbox_untake(struct engine_state *st, struct outbox_rec *o, int64_t now);
void outbox_free(struct engine_state *st);

const char *alert_status_name(int s);
const char *incident_status_name(int s);

#endif
