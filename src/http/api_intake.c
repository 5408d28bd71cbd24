/*
 * api_intake.c - the intake endpoints: Tocsin's own events, PagerDuty Events
 * v2 (and change events), the Alertmanager API v2 that Prometheus posts to,
 * and the Alertmanager webhook.
 *
 * Every endpoint follows the same path: authenticate the integration key,
 * check the content type, parse and validate the whole body (nothing of an
 * invalid body is stored), hand the batch to the engine and answer only once
 * it is committed. Each format answers in its own dialect: PagerDuty's
 * status/message/errors bodies, Alertmanager's JSON strings, and 503 (never
 * 429) on overload, because Alertmanager does not retry a 4xx.
 */
#include "api.h"

#include "../base/clock.h"
#include "../base/timefmt.h"
#include "../intake/intake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Which error dialect an endpoint speaks. */
enum dialect { DIALECT_TOCSIN, DIALECT_PAGERDUTY, DIALECT_ALERTMANAGER };

static void reply_dialect(struct http_req *req, enum dialect d, int status, const char *code,
                          const char *field, const char *message)
{
    switch (d) {
    case DIALECT_PAGERDUTY:
        http_reply_json(req, status,
                        json_pack("{ss ss s[s]}", "status", "invalid event", "message",
                                  "Event object is invalid", "errors", message));
        return;
    case DIALECT_ALERTMANAGER:
        http_reply_json(req, status, json_string(message));
        return;
    case DIALECT_TOCSIN:
        http_reply_error(req, status, code, field, "%s", message);
        return;
    }
}

static void reply_overloaded(struct http_req *req, enum dialect d, enum engine_status st)
{
    req->retry_after = "1";
    reply_dialect(req, d, 503, "overloaded", NULL,
                  st == ENGINE_ESHUTDOWN ? "tocsin is shutting down; retry shortly"
                  : st == ENGINE_ESTORE  ? "the event could not be stored; retry shortly"
                                         : "tocsin is busy; retry shortly");
}

/* Finds the integration for a key and checks that it speaks this format. */
static const struct cfg_integration *authenticate(struct http_req *req, enum dialect d,
                                                  const char *key, enum integration_type type)
{
    const struct cfg_integration *integ;
    char msg[256];

    if (!key || !*key) {
        req->www_auth = "Bearer realm=\"tocsin\"";
        reply_dialect(req, d, 401, "missing_credentials", NULL,
                      "an integration key is required: Authorization: Bearer <key> or "
                      "X-Tocsin-Key: <key>");
        return NULL;
    }
    integ = config_find_integration_key(req->cfg, key);
    if (!integ) {
        reply_dialect(req, d, 403, "unknown_key", d == DIALECT_PAGERDUTY ? "routing_key" : NULL,
                      d == DIALECT_PAGERDUTY ? "'routing_key' is not a known integration key"
                                             : "the integration key is not known");
        return NULL;
    }
    if (integ->type != type) {
        snprintf(msg, sizeof(msg),
                 "integration \"%s\" is of type %s and cannot post here (this endpoint takes "
                 "%s integrations)",
                 integ->name, integration_type_name(integ->type), integration_type_name(type));
        reply_dialect(req, d, 403, "wrong_integration_type", NULL, msg);
        return NULL;
    }
    return integ;
}

static const char *error_code(int status)
{
    switch (status) {
    case 400:
        return "malformed_json";
    case 413:
        return "too_many_events";
    default:
        return "invalid_field";
    }
}

static json_t *results_json(const struct intake_batch *b, const struct engine_event_result *res)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < b->n; i++) {
        json_t *ids = json_array();
        for (int j = 0; j < res[i].n_incidents; j++)
            json_array_append_new(ids, json_integer(res[i].incident_ids[j]));
        json_array_append_new(
            arr, json_pack("{ss so so ss}", "dedup_key", b->events[i].dedup_key, "alert_id",
                           res[i].alert_id ? json_integer(res[i].alert_id) : json_null(),
                           "incident_ids", ids, "outcome", engine_outcome_name(res[i].outcome)));
    }
    return arr;
}

/*
 * Hands a parsed batch to the engine. On success returns true with results
 * filled (caller frees *results); otherwise the overload reply is sent.
 */
static bool submit_batch(struct http_req *req, enum dialect d, const struct cfg_integration *integ,
                         const char *format, struct intake_batch *b,
                         struct engine_event_result **results)
{
    struct engine_cmd cmd = {0};
    enum engine_status st;

    *results = calloc(b->n ? b->n : 1, sizeof(**results));
    if (!*results) {
        reply_overloaded(req, d, ENGINE_EBUSY);
        return false;
    }
    cmd.kind = CMD_EVENTS;
    cmd.integ = integ;
    cmd.format = format;
    if (req->cfg->keep_raw_intake) {
        cmd.raw = req->body;
        cmd.raw_len = req->body_len;
    }
    /* The content hashes cost the engine thread, the one that cannot scale. */
    for (size_t i = 0; i < b->n; i++)
        b->events[i].content_hash = event_content_hash(&b->events[i]);
    cmd.events = b->events;
    cmd.n_events = b->n;
    cmd.results = *results;
    st = engine_submit(req->ctx->engine, &cmd);
    if (st != ENGINE_OK) {
        free(*results);
        *results = NULL;
        reply_overloaded(req, d, st);
        return false;
    }
    return true;
}

typedef int (*batch_parser)(const char *body, size_t len, const struct cfg_integration *integ,
                            int64_t now_ms, struct intake_batch *out, struct intake_error *err);

/*
 * The endpoints that take a batch in a JSON dialect of Tocsin's errors and
 * answer with per-event results: Tocsin's own events (202) and the
 * Alertmanager webhook (200, because its sender treats any 2xx alike).
 */
static void serve_batch(struct http_req *req, enum integration_type type, const char *format,
                        batch_parser parse, int ok_status)
{
    char key[512] = "";
    const struct cfg_integration *integ;
    struct intake_batch b = {0};
    struct intake_error err = {0};
    struct engine_event_result *res;

    auth_request_key(req, key, sizeof(key));
    integ = authenticate(req, DIALECT_TOCSIN, key, type);
    if (!integ || !http_require_json_type(req))
        return;
    if (parse(req->body, req->body_len, integ, clock_now_ms(), &b, &err)) {
        http_reply_error(req, err.status, error_code(err.status), err.field, "%s", err.message);
        return;
    }
    /* Overload answers 503 for both: Alertmanager retries 5xx, not 4xx. */
    if (submit_batch(req, DIALECT_TOCSIN, integ, format, &b, &res)) {
        http_reply_json(
            req, ok_status,
            json_pack("{ss so}", "status", "accepted", "results", results_json(&b, res)));
        free(res);
    }
    intake_batch_free(&b);
}

void api_events_post(struct http_req *req)
{
    serve_batch(req, INTEGRATION_GENERIC, "tocsin", intake_parse_tocsin, 202);
}

/*
 * PagerDuty Events v2 (/v2/enqueue: 202 with dedup_key) and v1 (200 with
 * incident_key) differ only in parser and answer. The key sits in the body,
 * so it is authenticated after parsing.
 */
static void serve_pagerduty(struct http_req *req, bool v1)
{
    const struct cfg_integration *integ;
    struct intake_batch b = {0};
    struct intake_error err = {0};
    struct engine_event_result *res;
    char *routing_key = NULL;
    int rc;

    if (!http_require_json_type(req))
        return;
    rc = v1 ? intake_parse_pagerduty_v1(req->body, req->body_len, NULL, clock_now_ms(),
                                        &routing_key, &b, &err)
            : intake_parse_pagerduty(req->body, req->body_len, clock_now_ms(), &routing_key, &b,
                                     &err);
    if (rc) {
        reply_dialect(req, DIALECT_PAGERDUTY, 400, NULL, NULL, err.message);
        return;
    }
    integ = authenticate(req, DIALECT_PAGERDUTY, routing_key, INTEGRATION_PAGERDUTY);
    if (integ) {
        /* v1 carries no severity: the integration's default applies. */
        if (v1)
            b.events[0].severity = integ->default_severity;
        if (submit_batch(req, DIALECT_PAGERDUTY, integ, v1 ? "pagerduty-v1" : "pagerduty", &b,
                         &res)) {
            http_reply_json(req, v1 ? 200 : 202,
                            json_pack("{ss ss ss}", "status", "success", "message",
                                      "Event processed", v1 ? "incident_key" : "dedup_key",
                                      b.events[0].dedup_key));
            free(res);
        }
    }
    free(routing_key);
    intake_batch_free(&b);
}

void api_pd_enqueue(struct http_req *req)
{
    serve_pagerduty(req, false);
}

void api_pd_v1(struct http_req *req)
{
    serve_pagerduty(req, true);
}

void api_pd_change(struct http_req *req)
{
    const struct cfg_integration *integ;
    struct change_event ch = {0};
    struct intake_error err = {0};
    struct engine_cmd cmd = {0};
    char *routing_key = NULL;

    if (!http_require_json_type(req))
        return;
    if (intake_parse_pagerduty_change(req->body, req->body_len, clock_now_ms(), &routing_key, &ch,
                                      &err)) {
        reply_dialect(req, DIALECT_PAGERDUTY, 400, NULL, NULL, err.message);
        return;
    }
    integ = authenticate(req, DIALECT_PAGERDUTY, routing_key, INTEGRATION_PAGERDUTY);
    if (integ) {
        cmd.kind = CMD_CHANGE;
        cmd.integ = integ;
        cmd.change = &ch;
        enum engine_status st = engine_submit(req->ctx->engine, &cmd);
        if (st != ENGINE_OK)
            reply_overloaded(req, DIALECT_PAGERDUTY, st);
        else
            http_reply_json(
                req, 202,
                json_pack("{ss ss}", "status", "success", "message", "Change event processed"));
    }
    free(routing_key);
    change_event_clear(&ch);
}

void api_am_alerts_post(struct http_req *req)
{
    char key[512] = "";
    const struct cfg_integration *integ;
    struct intake_batch b = {0};
    struct intake_error err = {0};
    struct engine_event_result *res;

    auth_request_key(req, key, sizeof(key));
    integ = authenticate(req, DIALECT_ALERTMANAGER, key, INTEGRATION_ALERTMANAGER);
    if (!integ)
        return;
    if (!http_is_json_type(req)) {
        reply_dialect(req, DIALECT_ALERTMANAGER, 415, NULL, NULL,
                      "Content-Type must be application/json");
        return;
    }
    if (intake_parse_am_alerts(req->body, req->body_len, integ, clock_now_ms(), &b, &err)) {
        reply_dialect(req, DIALECT_ALERTMANAGER, 400, NULL, NULL, err.message);
        return;
    }
    if (submit_batch(req, DIALECT_ALERTMANAGER, integ, "alertmanager-api", &b, &res)) {
        http_reply_text(req, 200, NULL, "", 0);
        free(res);
    }
    intake_batch_free(&b);
}

void api_am_webhook(struct http_req *req)
{
    serve_batch(req, INTEGRATION_ALERTMANAGER, "alertmanager-webhook", intake_parse_am_webhook,
                200);
}

void api_am_status(struct http_req *req)
{
    char started[40];
    timefmt_format_rfc3339(req->ctx->started_at_ms, started, sizeof(started));
    http_reply_json(req, 200,
                    json_pack("{s{ss ss s[]} s{ss ss ss ss ss ss} s{ss} ss}", "cluster", "name", "",
                              "status", "disabled", "peers", "versionInfo", "version",
                              "tocsin-" TOCSIN_VERSION, "revision", "", "branch", "", "buildUser",
                              "", "buildDate", "", "goVersion", "none (C17)", "config", "original",
                              "", "uptime", started));
}
