/*
 * intake.h - parsers for every event format Tocsin accepts over HTTP.
 *
 * Each parser takes a request body (not NUL-terminated, at most the
 * configured body limit), validates it completely and either fills a batch of
 * normalised events or reports the first problem with the field that caused
 * it. A batch is all or nothing: if one event is invalid, none is returned,
 * so nothing of a rejected request is ever stored. Parsers never read the
 * clock: `now_ms` is given.
 *
 * Unknown fields are ignored everywhere (senders add fields over time).
 */
#ifndef TOCSIN_INTAKE_H
#define TOCSIN_INTAKE_H

#include "../config/config.h"
#include "../engine/event.h"

#include <stddef.h>
#include <stdint.h>

struct intake_error {
    int status;        /* HTTP status to answer: 400 malformed, 422 invalid field, 413 too many */
    char field[128];   /* JSON path of the offending field, "" for the whole body */
    char message[256]; /* a sentence the sender can act on */
};

struct intake_batch {
    struct event *events; /* owned array of n events */
    size_t n;
};

/* Frees the events and the array; leaves the batch empty. */
void intake_batch_free(struct intake_batch *b);

/*
 * Tocsin's own format (POST /api/v1/events): one event object or an array of
 * at most EVENT_MAX_BATCH. Fields: labels (object of strings; required unless
 * dedup_key is given), summary (required for trigger), severity (critical |
 * error | warning | info; default the integration's default_severity), action
 * (trigger | acknowledge | resolve; default trigger), dedup_key (default: the
 * label fingerprint), source, details (any JSON), timestamp (RFC 3339), links
 * (array of {href, text} or strings). Malformed JSON -> 400; a wrong field ->
 * 422 with the field's path, e.g. "[3].labels.host".
 */
int intake_parse_tocsin(const char *body, size_t len, const struct cfg_integration *integ,
                        int64_t now_ms, struct intake_batch *out, struct intake_error *err);

/*
 * PagerDuty Events API v2 (POST /v2/enqueue). The routing key sits in the
 * body, so the parser returns it (owned, caller frees) for the caller to
 * authenticate. Every error is 400 (PagerDuty's contract: "do not retry").
 * A trigger without dedup_key gets a generated one (32 hex digits).
 */
int intake_parse_pagerduty(const char *body, size_t len, int64_t now_ms, char **routing_key,
                           struct intake_batch *out, struct intake_error *err);

/*
 * PagerDuty Events API v1, still sent by older tools (POST
 * /generic/2010-04-15/create_event.json), mapped onto v2: service_key ->
 * routing key (returned like intake_parse_pagerduty's), event_type ->
 * action, incident_key -> dedup key (generated for a trigger without one),
 * description -> summary (required for trigger), details and client/
 * client_url kept in details, contexts of type link -> links. v1 has no
 * severity: the integration's default_severity applies (integ may be NULL:
 * warning). Every error is 400.
 */
int intake_parse_pagerduty_v1(const char *body, size_t len, const struct cfg_integration *integ,
                              int64_t now_ms, char **routing_key, struct intake_batch *out,
                              struct intake_error *err);

/*
 * PagerDuty change events (POST /v2/change/enqueue): routing_key and
 * payload.summary required. Errors are 400.
 */
int intake_parse_pagerduty_change(const char *body, size_t len, int64_t now_ms, char **routing_key,
                                  struct change_event *out, struct intake_error *err);

/*
 * Alertmanager API v2 (POST /api/v2/alerts, what Prometheus sends): a JSON
 * array of postable alerts; labels required and must include alertname. The
 * dedup key is the label fingerprint (16 hex digits, as Alertmanager's).
 * Missing startsAt -> now; missing endsAt -> now + integ->resolve_timeout_ms;
 * an endsAt at or before now makes the event a resolve. Errors are 400.
 */
int intake_parse_am_alerts(const char *body, size_t len, const struct cfg_integration *integ,
                           int64_t now_ms, struct intake_batch *out, struct intake_error *err);

/*
 * intake_parse_am_alerts is this fast path, and the full parser when it
 * declines. The fast path reads the body in place (base/jscan.h) instead of
 * building a jansson document, which is most of the cost of a batch; it
 * takes what Prometheus sends (objects and strings, escapes other than \u)
 * and declines (returns 1, *out empty) on anything else, including every
 * error, so that the full parser words it. Returns 0 with *out filled
 * exactly as the full parser would fill it (the tests and fuzz_intake_am_alerts
 * compare them).
 */
int intake_parse_am_alerts_fast(const char *body, size_t len, const struct cfg_integration *integ,
                                int64_t now_ms, struct intake_batch *out);

/* The full parser: jansson, every error with its field. */
int intake_parse_am_alerts_full(const char *body, size_t len, const struct cfg_integration *integ,
                                int64_t now_ms, struct intake_batch *out, struct intake_error *err);

/*
 * Alertmanager webhook receiver payload, version 4 (POST
 * /api/v1/integrations/alertmanager): one event per alert in `alerts`;
 * status firing -> trigger, resolved -> resolve; dedup key = the alert's
 * fingerprint (or computed from its labels). Grafana's extra fields are
 * ignored. Malformed JSON -> 400, wrong fields -> 422.
 */
int intake_parse_am_webhook(const char *body, size_t len, const struct cfg_integration *integ,
                            int64_t now_ms, struct intake_batch *out, struct intake_error *err);

#endif
