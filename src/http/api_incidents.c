/*
 * api_incidents.c - reading alerts, incidents, changes and the audit log,
 * and the incident actions (acknowledge, resolve, note).
 *
 * Reads go straight to a store reader and see committed data; actions go
 * through the engine like every other change of state, so they are ordered
 * with the events around them and recorded with their actor.
 */
#include "../base/clock.h"
#include "../base/timefmt.h"
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NOTE_MAX 10000

/* Parses the list parameters shared by every list endpoint. */
static bool parse_list_query(struct http_req *req, struct store_query *q,
                             const char *const *allowed_status)
{
    const char *limit = http_query(req, "limit");
    const char *cursor = http_query(req, "cursor");
    const char *status = http_query(req, "status");

    memset(q, 0, sizeof(*q));
    q->limit = 50;
    if (limit) {
        char *end;
        errno = 0;
        long v = strtol(limit, &end, 10);
        if (errno || *end || v < 1 || v > 500) {
            http_reply_error(req, 400, "invalid_parameter", "limit",
                             "limit must be a whole number from 1 to 500");
            return false;
        }
        q->limit = (int)v;
    }
    if (cursor) {
        char *end;
        errno = 0;
        long long v = strtoll(cursor, &end, 10);
        if (errno || *end || v < 1) {
            http_reply_error(req, 400, "invalid_parameter", "cursor",
                             "cursor is not one this server handed out");
            return false;
        }
        q->before_id = v;
    }
    if (status && allowed_status) {
        /* Split into the request's parameter buffer, which is free after
         * routing has copied the path parameters out of it. */
        size_t used = 0;
        for (int i = 0; i < HTTP_MAX_PARAMS && req->params[i]; i++)
            used = (size_t)(req->params[i] - req->param_buf) + strlen(req->params[i]) + 1;
        const char *p = status;
        int n = 0;
        while (*p) {
            size_t len = strcspn(p, ",");
            bool ok = false;
            for (int a = 0; allowed_status[a]; a++)
                ok |= strlen(allowed_status[a]) == len && strncmp(allowed_status[a], p, len) == 0;
            if (!ok || n == 4 || used + len + 1 > sizeof(req->param_buf)) {
                http_reply_error(req, 400, "invalid_parameter", "status",
                                 "status must be a comma-separated list of known statuses");
                return false;
            }
            memcpy(req->param_buf + used, p, len);
            req->param_buf[used + len] = 0;
            q->statuses[n++] = req->param_buf + used;
            used += len + 1;
            p += len;
            if (*p == ',')
                p++;
        }
    }
    return true;
}

static struct store_reader *reader(struct http_req *req)
{
    struct store_reader *r = store_reader_acquire(req->ctx->store);
    if (!r) {
        req->retry_after = "1";
        http_reply_error(req, 503, "unavailable", NULL, "the store cannot be read right now");
    }
    return r;
}

/* Serves a list query through one of the store's list functions. */
static void serve_list(struct http_req *req, const struct store_query *q,
                       json_t *(*list)(struct store_reader *, const struct store_query *))
{
    struct store_reader *r = reader(req);
    json_t *out;
    if (!r)
        return;
    out = list(r, q);
    store_reader_release(req->ctx->store, r);
    if (!out)
        http_reply_error(req, 500, "internal", NULL, "the query failed; see the server log");
    else
        http_reply_json(req, 200, out);
}

/* Parses "12" or "INC-12"; returns 0 when it is neither. */
static int64_t parse_id(const char *s, bool allow_inc)
{
    char *end;
    long long v;
    if (allow_inc && strncasecmp(s, "INC-", 4) == 0)
        s += 4;
    if (*s < '0' || *s > '9')
        return 0;
    errno = 0;
    v = strtoll(s, &end, 10);
    return (errno || *end || v < 1) ? 0 : v;
}

static const char *const alert_statuses[] = {"firing", "acknowledged", "resolved", NULL};
static const char *const incident_statuses[] = {"triggered", "acknowledged", "resolved", NULL};

void api_alerts_list(struct http_req *req)
{
    struct store_query q;
    if (!auth_api(req, ROLE_VIEWER) || !parse_list_query(req, &q, alert_statuses))
        return;
    q.integration = http_query(req, "integration");
    serve_list(req, &q, store_alert_list);
}

void api_alert_get(struct http_req *req)
{
    int64_t id;
    struct store_reader *r;
    json_t *a;
    if (!auth_api(req, ROLE_VIEWER))
        return;
    id = parse_id(req->params[0], false);
    if (!id || !(r = reader(req))) {
        if (!id)
            http_reply_error(req, 404, "not_found", NULL, "no alert %s", req->params[0]);
        return;
    }
    a = store_alert_get(r, id);
    store_reader_release(req->ctx->store, r);
    if (!a)
        http_reply_error(req, 404, "not_found", NULL, "no alert %lld", (long long)id);
    else
        http_reply_json(req, 200, a);
}

void api_incidents_list(struct http_req *req)
{
    struct store_query q;
    if (!auth_api(req, ROLE_VIEWER) || !parse_list_query(req, &q, incident_statuses))
        return;
    q.service = http_query(req, "service");
    serve_list(req, &q, store_incident_list);
}

/* Answers with the incident as it now stands. */
static void reply_incident(struct http_req *req, int status, int64_t id)
{
    struct store_reader *r = reader(req);
    json_t *inc;
    if (!r)
        return;
    inc = store_incident_get(r, id);
    store_reader_release(req->ctx->store, r);
    if (!inc)
        http_reply_error(req, 404, "not_found", NULL, "no incident INC-%lld", (long long)id);
    else
        http_reply_json(req, status, inc);
}

void api_incident_get(struct http_req *req)
{
    int64_t id;
    if (!auth_api(req, ROLE_VIEWER))
        return;
    id = parse_id(req->params[0], true);
    if (!id) {
        http_reply_error(req, 404, "not_found", NULL, "no incident %s", req->params[0]);
        return;
    }
    reply_incident(req, 200, id);
}

/* Runs an incident action through the engine and maps its status. */
static bool run_action(struct http_req *req, struct engine_cmd *cmd, const struct cfg_token *t,
                       char *actor, size_t actor_len)
{
    cmd->incident_id = parse_id(req->params[0], true);
    if (!cmd->incident_id) {
        http_reply_error(req, 404, "not_found", NULL, "no incident %s", req->params[0]);
        return false;
    }
    snprintf(actor, actor_len, "token:%s", t->name);
    cmd->actor = actor;
    switch (engine_submit(req->ctx->engine, cmd)) {
    case ENGINE_OK:
        return true;
    case ENGINE_ENOTFOUND:
        http_reply_error(req, 404, "not_found", NULL, "no incident INC-%lld",
                         (long long)cmd->incident_id);
        return false;
    case ENGINE_ECONFLICT:
        if (cmd->kind == CMD_INCIDENT_ESCALATE)
            http_reply_error(req, 409, "conflict", NULL,
                             "INC-%lld cannot escalate: it is resolved, has no escalation "
                             "policy, or the policy has no such level",
                             (long long)cmd->incident_id);
        else
            http_reply_error(req, 409, "conflict", NULL,
                             "INC-%lld is resolved; a resolved incident cannot be %s",
                             (long long)cmd->incident_id,
                             cmd->kind == CMD_INCIDENT_ASSIGN ? "reassigned" : "acknowledged");
        return false;
    default:
        req->retry_after = "1";
        http_reply_error(req, 503, "overloaded", NULL, "tocsin is busy; retry shortly");
        return false;
    }
}

/*
 * An acknowledgement may run out: {"expires_in": "2h"} or {"until":
 * RFC3339}. After that the incident returns to triggered, so an ack given at
 * 03:00 and forgotten does not hide the problem for good. An empty body (or
 * none of the two) acknowledges for good. Returns false after answering.
 */
static bool parse_ack_expiry(struct http_req *req, int64_t *until)
{
    json_t *body, *v;
    json_error_t jerr;
    const char *key;
    *until = 0;
    if (req->body_len == 0)
        return true;
    body = json_loadb(req->body, req->body_len, 0, &jerr);
    if (!json_is_object(body)) {
        json_decref(body);
        http_reply_error(req, 400, "invalid_json", NULL, "body must be a JSON object or empty");
        return false;
    }
    json_object_foreach(body, key, v)
    {
        int64_t ms;
        const char *s = json_string_value(v);
        if (strcmp(key, "expires_in") == 0) {
            if (!s || timefmt_parse_duration(s, &ms) || ms <= 0 || ms > 366LL * 86400000) {
                json_decref(body);
                http_reply_error(req, 422, "invalid_field", "expires_in",
                                 "expires_in must be a duration such as 30m or 4h (at most 366d)");
                return false;
            }
            *until = clock_now_ms() + ms;
        } else if (strcmp(key, "until") == 0) {
            if (!s || timefmt_parse_rfc3339(s, strlen(s), &ms) || ms <= clock_now_ms()) {
                json_decref(body);
                http_reply_error(req, 422, "invalid_field", "until",
                                 "until must be an RFC 3339 time in the future");
                return false;
            }
            *until = ms;
        }
        /* Other fields are ignored, as on the other actions. */
    }
    json_decref(body);
    return true;
}

static void incident_action(struct http_req *req, enum engine_cmd_kind kind)
{
    const struct cfg_token *t = auth_api(req, ROLE_RESPONDER);
    struct engine_cmd cmd = {.kind = kind};
    char actor[160];
    if (!t || !http_require_json_type(req))
        return;
    if (kind == CMD_INCIDENT_ACK && !parse_ack_expiry(req, &cmd.ack_until))
        return;
    if (run_action(req, &cmd, t, actor, sizeof(actor)))
        reply_incident(req, 200, cmd.incident_id);
}

void api_incident_ack(struct http_req *req)
{
    incident_action(req, CMD_INCIDENT_ACK);
}

void api_incident_resolve(struct http_req *req)
{
    incident_action(req, CMD_INCIDENT_RESOLVE);
}

/* {"level": N} (1-based; default: the next level). */
void api_incident_escalate(struct http_req *req)
{
    const struct cfg_token *t = auth_api(req, ROLE_RESPONDER);
    struct engine_cmd cmd = {.kind = CMD_INCIDENT_ESCALATE};
    char actor[160];
    if (!t || !http_require_json_type(req))
        return;
    if (req->body_len) {
        json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
        json_t *lv = json_object_get(body, "level");
        if (!json_is_object(body) || (lv && (!json_is_integer(lv) || json_integer_value(lv) < 1 ||
                                             json_integer_value(lv) > 100))) {
            json_decref(body);
            http_reply_error(req, 422, "invalid_field", "level",
                             "level must be a level number of the policy (1, 2, ...)");
            return;
        }
        cmd.level = lv ? (int)json_integer_value(lv) : 0;
        json_decref(body);
    }
    if (run_action(req, &cmd, t, actor, sizeof(actor)))
        reply_incident(req, 200, cmd.incident_id);
}

/* {"user": NAME}: the incident commander, paged at once. */
void api_incident_assign(struct http_req *req)
{
    const struct cfg_token *t = auth_api(req, ROLE_RESPONDER);
    struct engine_cmd cmd = {.kind = CMD_INCIDENT_ASSIGN};
    char actor[160];
    if (!t || !http_require_json_type(req))
        return;
    json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
    const char *user = json_string_value(json_object_get(body, "user"));
    const struct cfg_user *u = user ? config_find_user(req->cfg, user) : NULL;
    if (!u) {
        json_decref(body);
        http_reply_error(req, 422, "invalid_field", "user", "user must name a configured user");
        return;
    }
    cmd.user = u->name;
    if (run_action(req, &cmd, t, actor, sizeof(actor)))
        reply_incident(req, 200, cmd.incident_id);
    json_decref(body);
}

void api_incident_note(struct http_req *req)
{
    const struct cfg_token *t = auth_api(req, ROLE_RESPONDER);
    struct engine_cmd cmd = {.kind = CMD_INCIDENT_NOTE};
    char actor[160];
    json_error_t jerr;
    json_t *body, *text;
    struct store_reader *r;

    if (!t || !http_require_json_type(req))
        return;
    body = json_loadb(req->body, req->body_len, 0, &jerr);
    if (!body) {
        http_reply_error(req, 400, "malformed_json", NULL,
                         "malformed JSON at line %d column %d: %s", jerr.line, jerr.column,
                         jerr.text);
        return;
    }
    text = json_object_get(body, "text");
    if (!json_is_object(body) || !json_is_string(text) || json_string_length(text) == 0 ||
        json_string_length(text) > NOTE_MAX) {
        http_reply_error(req, 422, "invalid_field", "text",
                         "text must be a string of 1 to %d characters", NOTE_MAX);
        json_decref(body);
        return;
    }
    cmd.text = json_string_value(text);
    if (run_action(req, &cmd, t, actor, sizeof(actor)) && (r = reader(req))) {
        json_t *entry = store_timeline_get(r, cmd.out_id);
        store_reader_release(req->ctx->store, r);
        if (entry)
            http_reply_json(req, 201, entry);
        else
            http_reply_error(req, 500, "internal", NULL, "the note was stored but not found");
    }
    json_decref(body);
}

void api_changes_list(struct http_req *req)
{
    struct store_query q;
    if (!auth_api(req, ROLE_VIEWER) || !parse_list_query(req, &q, NULL))
        return;
    serve_list(req, &q, store_change_list);
}

void api_audit_list(struct http_req *req)
{
    struct store_query q;
    if (!auth_api(req, ROLE_ADMIN) || !parse_list_query(req, &q, NULL))
        return;
    serve_list(req, &q, store_audit_list);
}
