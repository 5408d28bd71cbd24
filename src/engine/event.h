/*
 * event.h - the one normalised form of every signal.
 *
 * Every intake format (Tocsin's own JSON, PagerDuty Events v2, Alertmanager
 * API v2 and webhook, later checks and rules) is parsed into an array of
 * struct event and handed to the engine. An event is either a trigger, an
 * acknowledge or a resolve of the alert named by (integration, dedup_key).
 */
#ifndef TOCSIN_EVENT_H
#define TOCSIN_EVENT_H

#include "../base/labels.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum event_action { EVENT_TRIGGER = 0, EVENT_ACKNOWLEDGE = 1, EVENT_RESOLVE = 2 };

/* Ordered so that a larger value is more severe. */
enum severity { SEV_INFO = 0, SEV_WARNING = 1, SEV_ERROR = 2, SEV_CRITICAL = 3 };

/* Bounds shared by every intake format. */
#define EVENT_MAX_DEDUP_KEY 255
#define EVENT_MAX_SUMMARY   1024
#define EVENT_MAX_SOURCE    255
#define EVENT_MAX_BATCH     1000

struct event {
    enum event_action action;
    char *dedup_key;        /* owned; never NULL after parsing (fingerprint if not given) */
    struct labelset labels; /* owned; identifying labels */
    char *summary;          /* owned; may be NULL for acknowledge/resolve */
    enum severity severity; /* normalised severity */
    char *source;           /* owned; host or system that raised it, may be NULL */
    json_t *details;        /* owned reference; any JSON or NULL (annotations, custom_details) */
    json_t *links;          /* owned reference; array of {href, text} or NULL */
    int64_t timestamp_ms;   /* when it happened per the sender; 0 = when received */
    int64_t starts_at_ms;   /* Alertmanager startsAt; 0 if the format has none */
    int64_t ends_at_ms;     /* Alertmanager endsAt: the alert expires then unless refreshed;
                               0 = never expires */
    char *suppressed;       /* owned or NULL: why the alert must be recorded but not paged
                               ("parent sw1 down", "flapping"); set by checks, never by senders */
    char *parent_key;       /* owned or NULL: with suppressed, the dedup key (same integration)
                               of the alert whose incidents should show this one */
    uint64_t content_hash;  /* event_content_hash, or 0 when the engine must compute it;
                               the HTTP intake sets it, outside the engine thread */
};

/*
 * A change record (PagerDuty change event, deploys, config pushes): not an
 * alert, but shown next to the incidents that follow it.
 */
struct change_event {
    char *summary;        /* owned; required */
    char *source;         /* owned; may be NULL */
    int64_t timestamp_ms; /* when the change happened; 0 = when received */
    json_t *details;      /* owned reference or NULL (custom_details) */
    json_t *links;        /* owned reference or NULL */
};

void change_event_clear(struct change_event *ch);

/* Frees everything an event owns (not the struct itself). */
void event_clear(struct event *ev);

/*
 * True when two events say the same in every field (JSON compared by value,
 * object keys in any order). Tests and fuzz targets compare a fast parser
 * with the full one by it.
 */
bool event_equal(const struct event *a, const struct event *b);

/*
 * A 64-bit hash of what the store keeps of an event's content (summary,
 * source, labels, details, links), never 0. The engine rewrites an alert's
 * content only when it changes: an Alertmanager re-sends every firing alert
 * each minute with the same text, and writing it again was most of the cost
 * of a refresh.
 */
uint64_t event_content_hash(const struct event *ev);

/* "trigger", "acknowledge", "resolve". */
const char *event_action_name(enum event_action a);

/* "info", "warning", "error", "critical". */
const char *severity_name(enum severity s);

/* Parses the exact names above. Returns 0 on success, -1 otherwise. */
int severity_parse(const char *s, enum severity *out);

/*
 * Maps a free-text severity as senders use it (Alertmanager labels, Alerta,
 * Opsgenie priorities) onto the ladder: critical|crit|fatal|emergency|page|P1
 * -> critical; error|major|high|P2 -> error; warning|warn|minor|medium|P3 ->
 * warning; info|low|informational|P4|P5 -> info. Case-insensitive. Returns 0
 * when it knows the word, -1 (and leaves *out alone) otherwise.
 */
int severity_from_text(const char *s, enum severity *out);

#endif
