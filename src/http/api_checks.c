/*
 * api_checks.c - hosts, services (checks), passive results, heartbeats,
 * downtimes and configuration reload.
 *
 * The live state of checks belongs to the scheduler (checks.h), so the
 * lists read it from there; history and API-made downtimes come from the
 * store. Everything that changes state goes through the scheduler or the
 * engine and is durable before the answer.
 */
#include "../checks/checks.h"
#include "../checks/plugin_output.h"
#include "../base/clock.h"
#include "../base/timefmt.h"
#include "api.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PASSIVE_MAX_BATCH  1000
#define PASSIVE_MAX_OUTPUT 65536

/* ---- lists ---- */

/*
 * Reads ?state, ?host, ?label (matcher syntax, repeatable), ?after and
 * ?limit into f. Matchers are compiled into ms[8]; free with
 * checks_filter_free. Answers 400 and returns false on a bad parameter.
 */
static bool checks_filter_parse(struct http_req *req, struct checks_filter *f, struct matcher ms[8])
{
    const char *labels[8];
    const char *limit = http_query(req, "limit");
    size_t n = http_query_all(req, "label", labels, 8);
    memset(f, 0, sizeof(*f));
    f->state = http_query(req, "state");
    f->host = http_query(req, "host");
    f->after = http_query(req, "after");
    f->limit = 100;
    if (limit) {
        char *end;
        errno = 0;
        long v = strtol(limit, &end, 10);
        if (errno || *end || v < 1 || v > 1000) {
            http_reply_error(req, 400, "invalid_parameter", "limit",
                             "limit must be a whole number from 1 to 1000");
            return false;
        }
        f->limit = (int)v;
    }
    if (f->state) {
        static const char *const ok[] = {"ok",   "warning",     "critical", "unknown", "up",
                                         "down", "unreachable", "pending",  "problem", NULL};
        bool known = false;
        for (int i = 0; ok[i]; i++)
            known |= strcasecmp(f->state, ok[i]) == 0;
        if (!known) {
            http_reply_error(req, 400, "invalid_parameter", "state",
                             "state must be one of ok, warning, critical, unknown, up, down, "
                             "unreachable, pending, problem");
            return false;
        }
    }
    if (n > 8) {
        http_reply_error(req, 400, "invalid_parameter", "label", "at most 8 label filters");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char err[160];
        if (config_matcher_parse(labels[i], &ms[i], err, sizeof(err))) {
            for (size_t k = 0; k < i; k++)
                config_matcher_free(&ms[k]);
            http_reply_error(req, 400, "invalid_parameter", "label", "label: %s", err);
            return false;
        }
    }
    f->matchers = ms;
    f->n_matchers = n;
    return true;
}

static void checks_filter_free(struct checks_filter *f, struct matcher ms[8])
{
    for (size_t i = 0; i < f->n_matchers; i++)
        config_matcher_free(&ms[i]);
}

static void reply_page(struct http_req *req, const char *key, json_t *items, bool more,
                       const char *id_field)
{
    json_t *out = json_object();
    size_t n = json_array_size(items);
    const char *last =
        n ? json_string_value(json_object_get(json_array_get(items, n - 1), id_field)) : NULL;
    json_object_set_new(out, "next_after", more && last ? json_string(last) : json_null());
    json_object_set_new(out, key, items);
    http_reply_json(req, 200, out);
}

void api_hosts_list(struct http_req *req)
{
    struct checks_filter f;
    struct matcher ms[8];
    bool more = false;
    if (!auth_api(req, ROLE_VIEWER) || !checks_filter_parse(req, &f, ms))
        return;
    json_t *items = checks_hosts_json(req->ctx->checks, &f, &more);
    checks_filter_free(&f, ms);
    reply_page(req, "hosts", items, more, "name");
}

void api_services_list(struct http_req *req)
{
    struct checks_filter f;
    struct matcher ms[8];
    bool more = false;
    if (!auth_api(req, ROLE_VIEWER) || !checks_filter_parse(req, &f, ms))
        return;
    json_t *items = checks_services_json(req->ctx->checks, &f, &more);
    checks_filter_free(&f, ms);
    reply_page(req, "services", items, more, "id");
}

void api_service_get(struct http_req *req)
{
    if (!auth_api(req, ROLE_VIEWER))
        return;
    json_t *o = checks_service_json(req->ctx->checks, req->params[0]);
    if (!o) {
        http_reply_error(req, 404, "not_found", NULL, "no service %s (ids are HOST!CHECK)",
                         req->params[0]);
        return;
    }
    struct store_reader *r = store_reader_acquire(req->ctx->store);
    json_t *hist = r ? store_check_history(r, req->params[0], 50) : NULL;
    if (r)
        store_reader_release(req->ctx->store, r);
    /* History rows hold the plugin code; show the name as the service does
     * (a host check's 2 is DOWN), and keep the code beside it. */
    bool is_host = json_is_true(json_object_get(o, "is_host_check"));
    size_t i;
    json_t *e;
    json_array_foreach(hist, i, e)
    {
        int code = (int)json_integer_value(json_object_get(e, "state"));
        json_object_set_new(e, "state_code", json_integer(code));
        json_object_set_new(
            e, "state",
            json_string(is_host ? (code == 0 ? "UP" : "DOWN") : check_status_name(code)));
    }
    json_object_set_new(o, "history", hist ? hist : json_array());
    http_reply_json(req, 200, o);
}

void api_service_check_now(struct http_req *req)
{
    if (!auth_api(req, ROLE_RESPONDER))
        return;
    switch (checks_check_now(req->ctx->checks, req->params[0])) {
    case CHECKS_OK:
        http_reply_json(req, 202,
                        json_pack("{ss ss}", "id", req->params[0], "status", "scheduled"));
        return;
    case CHECKS_ENOTFOUND:
        http_reply_error(req, 404, "not_found", NULL, "no service %s", req->params[0]);
        return;
    case CHECKS_EINVAL:
        http_reply_error(req, 409, "conflict", NULL,
                         "%s is a passive check: it cannot be run, only reported", req->params[0]);
        return;
    default:
        req->retry_after = "1";
        http_reply_error(req, 503, "unavailable", NULL, "the scheduler is stopping");
    }
}

/* ---- passive results ---- */

/* Validates one result object into r; the strings stay in obj. */
static bool passive_parse(struct http_req *req, const json_t *obj, const char *where,
                          struct passive_result *r)
{
    static const char *const known[] = {"host",     "service", "status", "output",
                                        "perfdata", "check",   NULL};
    const char *key;
    json_t *v;
    char field[64];
    if (!json_is_object(obj)) {
        http_reply_error(req, 422, "invalid_field", where, "%s: must be an object", where);
        return false;
    }
    json_object_foreach((json_t *)obj, key, v)
    {
        bool ok = false;
        for (int i = 0; known[i]; i++)
            ok |= strcmp(key, known[i]) == 0;
        if (!ok) {
            snprintf(field, sizeof(field), "%s%s", where, key);
            http_reply_error(req, 422, "invalid_field", field, "%s: unknown field", field);
            return false;
        }
    }
    memset(r, 0, sizeof(*r));
    r->host = json_string_value(json_object_get(obj, "host"));
    r->service = json_string_value(json_object_get(obj, "service"));
    if (!r->service)
        r->service = json_string_value(json_object_get(obj, "check"));
    r->output = json_string_value(json_object_get(obj, "output"));
    r->perfdata = json_string_value(json_object_get(obj, "perfdata"));
    json_t *st = json_object_get(obj, "status");
    if (!r->host || !r->host[0] || strlen(r->host) > 255) {
        snprintf(field, sizeof(field), "%shost", where);
        http_reply_error(req, 422, "invalid_field", field, "%s: required, a host name", field);
        return false;
    }
    if (json_object_get(obj, "service") && !r->service) {
        snprintf(field, sizeof(field), "%sservice", where);
        http_reply_error(req, 422, "invalid_field", field, "%s: must be a string", field);
        return false;
    }
    if (json_is_integer(st) && json_integer_value(st) >= 0 && json_integer_value(st) <= 3) {
        r->status = (int)json_integer_value(st);
    } else if (!json_is_string(st) || check_status_parse(json_string_value(st), &r->status)) {
        snprintf(field, sizeof(field), "%sstatus", where);
        http_reply_error(req, 422, "invalid_field", field,
                         "%s: required, 0-3 or ok, warning, critical, unknown", field);
        return false;
    }
    if ((json_object_get(obj, "output") && !r->output) ||
        (r->output && strlen(r->output) > PASSIVE_MAX_OUTPUT)) {
        snprintf(field, sizeof(field), "%soutput", where);
        http_reply_error(req, 422, "invalid_field", field, "%s: a string of at most %d bytes",
                         field, PASSIVE_MAX_OUTPUT);
        return false;
    }
    if ((json_object_get(obj, "perfdata") && !r->perfdata) ||
        (r->perfdata && strlen(r->perfdata) > PASSIVE_MAX_OUTPUT)) {
        snprintf(field, sizeof(field), "%sperfdata", where);
        http_reply_error(req, 422, "invalid_field", field, "%s: a string of at most %d bytes",
                         field, PASSIVE_MAX_OUTPUT);
        return false;
    }
    return true;
}

void api_check_results_post(struct http_req *req)
{
    json_error_t jerr;
    json_t *body;
    size_t n;
    if (!auth_api(req, ROLE_RESPONDER) || !http_require_json_type(req))
        return;
    body = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
    if (!body) {
        http_reply_error(req, 400, "invalid_json", NULL, "body is not JSON: %s (line %d)",
                         jerr.text, jerr.line);
        return;
    }
    /* One result, or a list of them (a batch from a script or a relay). */
    n = json_is_array(body) ? json_array_size(body) : 1;
    if (n == 0 || n > PASSIVE_MAX_BATCH) {
        json_decref(body);
        http_reply_error(req, 422, "invalid_field", NULL, "send 1 to %d results",
                         PASSIVE_MAX_BATCH);
        return;
    }
    struct passive_result *rs = calloc(n, sizeof(*rs));
    if (!rs) {
        json_decref(body);
        http_reply_error(req, 500, "internal", NULL, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char where[32] = "";
        if (json_is_array(body))
            snprintf(where, sizeof(where), "[%zu].", i);
        if (!passive_parse(req, json_is_array(body) ? json_array_get(body, i) : body, where,
                           &rs[i])) {
            free(rs);
            json_decref(body);
            return;
        }
    }
    json_t *results = json_array();
    size_t accepted = 0;
    for (size_t i = 0; i < n; i++) {
        enum checks_status st = checks_submit_passive(req->ctx->checks, &rs[i]);
        const char *word = st == CHECKS_OK          ? "accepted"
                           : st == CHECKS_ENOTFOUND ? "unknown service"
                           : st == CHECKS_EBUSY     ? "busy"
                                                    : "not stored";
        accepted += st == CHECKS_OK;
        json_array_append_new(results, json_pack("{ss ss* ss}", "host", rs[i].host, "service",
                                                 rs[i].service, "result", word));
        if (st == CHECKS_EBUSY || st == CHECKS_ESTORE) {
            /* Stop at the first failure so the sender can retry the rest. */
            free(rs);
            json_decref(body);
            json_decref(results);
            req->retry_after = "1";
            http_reply_error(req, 503, "unavailable", NULL,
                             "%zu of %zu results stored; retry the rest", accepted, n);
            return;
        }
    }
    free(rs);
    json_decref(body);
    if (n == 1 && accepted == 0) {
        json_decref(results);
        http_reply_error(req, 404, "not_found", "service",
                         "no such service; passive results need a configured check");
        return;
    }
    http_reply_json(req, 200,
                    json_pack("{sI so}", "accepted", (json_int_t)accepted, "results", results));
}

/* ---- heartbeats ---- */

void api_heartbeats_list(struct http_req *req)
{
    if (!auth_api(req, ROLE_VIEWER))
        return;
    http_reply_json(req, 200,
                    json_pack("{so}", "heartbeats", checks_heartbeats_json(req->ctx->checks)));
}

/*
 * The job's optional number ("documents archived"): ?value=N, a JSON body
 * {"value": N}, or a plain-text body holding just the number. Returns 0, 1
 * when there is a value, or -1 after answering 400.
 */
static int heartbeat_value(struct http_req *req, double *out)
{
    const char *q = http_query(req, "value");
    char buf[64];
    const char *text = q;
    if (!text && req->body_len > 0) {
        json_t *j = json_loadb(req->body, req->body_len, JSON_DECODE_ANY, NULL);
        if (json_is_object(j) && json_is_number(json_object_get(j, "value"))) {
            *out = json_number_value(json_object_get(j, "value"));
            json_decref(j);
            return 1;
        }
        if (json_is_number(j)) {
            *out = json_number_value(j);
            json_decref(j);
            return 1;
        }
        json_decref(j);
        /* Anything else in the body (a log line) is not a value. */
        size_t n = req->body_len < sizeof(buf) - 1 ? req->body_len : sizeof(buf) - 1;
        memcpy(buf, req->body, n);
        buf[n] = '\0';
        char *end;
        double v = strtod(buf, &end);
        while (*end == ' ' || *end == '\n' || *end == '\r')
            end++;
        if (end != buf && *end == '\0' && isfinite(v)) {
            *out = v;
            return 1;
        }
        return 0;
    }
    if (!text)
        return 0;
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v)) {
        http_reply_error(req, 400, "invalid_parameter", "value", "value must be a number");
        return -1;
    }
    *out = v;
    return 1;
}

static void api_heartbeat(struct http_req *req, enum heartbeat_ping kind)
{
    double value = 0;
    char name[160] = "";
    int hv = heartbeat_value(req, &value);
    if (hv < 0)
        return;
    /* The key in the URL is the credential, as with healthchecks.io and
     * Cronitor, so a cron line needs nothing but curl. */
    switch (checks_heartbeat_ping(req->ctx->checks, req->params[0], kind, hv == 1, value, name,
                                  sizeof(name))) {
    case CHECKS_OK: {
        static const char *const kinds[] = {"success", "start", "fail"};
        json_t *o = json_pack("{ss ss}", "heartbeat", name, "ping", kinds[kind]);
        if (hv == 1)
            json_object_set_new(o, "value", json_real(value));
        http_reply_json(req, 200, o);
        return;
    }
    case CHECKS_ENOTFOUND:
        http_reply_error(req, 404, "not_found", NULL, "no heartbeat with that key");
        return;
    default:
        req->retry_after = "1";
        http_reply_error(req, 503, "unavailable", NULL, "the ping could not be stored; retry");
    }
}

void api_heartbeat_ping(struct http_req *req)
{
    api_heartbeat(req, HB_PING_SUCCESS);
}

void api_heartbeat_start(struct http_req *req)
{
    api_heartbeat(req, HB_PING_START);
}

void api_heartbeat_fail(struct http_req *req)
{
    api_heartbeat(req, HB_PING_FAIL);
}

/* ---- downtimes ---- */

static json_t *recur_json(const struct recur *r, int64_t now)
{
    char buf[40];
    int64_t s, e;
    json_t *o = json_object();
    bool found = recur_window(r, now, &s, &e);
    json_object_set_new(o, "active", json_boolean(found && s <= now && now < e));
    json_object_set_new(o, "window_start",
                        found ? json_string(timefmt_format_rfc3339(s, buf, sizeof(buf)))
                              : json_null());
    json_object_set_new(o, "window_end",
                        found ? json_string(timefmt_format_rfc3339(e, buf, sizeof(buf)))
                              : json_null());
    return o;
}

void api_downtimes_list(struct http_req *req)
{
    const struct config *cfg = req->cfg;
    int64_t now = clock_now_ms();
    json_t *arr = json_array();
    if (!auth_api(req, ROLE_VIEWER))
        return;
    for (size_t i = 0; i < cfg->n_downtimes; i++) {
        const struct cfg_downtime *d = &cfg->downtimes[i];
        json_t *o = recur_json(&d->recur, now);
        json_t *ms = json_array();
        for (size_t m = 0; m < d->n_matchers; m++)
            json_array_append_new(ms, json_pack("{ss ss}", "name", d->matchers[m].name, "value",
                                                d->matchers[m].value));
        json_object_set_new(o, "name", json_string(d->name));
        json_object_set_new(o, "source", json_string("config"));
        json_object_set_new(o, "host", d->host ? json_string(d->host) : json_null());
        json_object_set_new(o, "check", d->check ? json_string(d->check) : json_null());
        json_object_set_new(o, "matchers", ms);
        json_object_set_new(o, "children", json_boolean(d->children));
        json_object_set_new(o, "comment", d->comment ? json_string(d->comment) : json_null());
        json_object_set_new(o, "recurring", json_boolean(d->recur.freq != RECUR_ONCE));
        json_array_append_new(arr, o);
    }
    struct store_reader *r = store_reader_acquire(req->ctx->store);
    json_t *api = r ? store_downtime_list(r) : NULL;
    if (r)
        store_reader_release(req->ctx->store, r);
    size_t i;
    json_t *v;
    json_array_foreach(api, i, v)
    {
        /* Re-derive the window from the spec as the engine does. */
        char err[160];
        struct recur rr = {0};
        json_t *spec = json_deep_copy(v);
        json_object_del(spec, "id");
        json_object_del(spec, "created_at");
        json_object_del(spec, "created_by");
        json_object_del(spec, "source");
        int bad = engine_downtime_recur(spec, cfg, &rr, err, sizeof(err));
        json_decref(spec);
        if (!bad) {
            json_t *w = recur_json(&rr, now);
            json_object_update(v, w);
            json_decref(w);
        } else {
            json_object_set_new(v, "active", json_false());
            json_object_set_new(v, "problem", json_string(err));
        }
        json_array_append(arr, v);
    }
    json_decref(api);
    http_reply_json(req, 200, json_pack("{so}", "downtimes", arr));
}

void api_downtimes_post(struct http_req *req)
{
    const struct cfg_token *t = auth_api(req, ROLE_RESPONDER);
    json_error_t jerr;
    char err[256], actor[160];
    if (!t || !http_require_json_type(req))
        return;
    json_t *body = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
    if (!body) {
        http_reply_error(req, 400, "invalid_json", NULL, "body is not JSON: %s", jerr.text);
        return;
    }
    if (engine_downtime_validate(body, req->cfg, err, sizeof(err))) {
        char field[64];
        snprintf(field, sizeof(field), "%.*s", (int)strcspn(err, ":"), err);
        json_decref(body);
        http_reply_error(req, 422, "invalid_field", field, "%s", err);
        return;
    }
    snprintf(actor, sizeof(actor), "token:%s", t->name);
    struct engine_cmd cmd = {.kind = CMD_DOWNTIME_ADD, .downtime = body, .actor = actor};
    enum engine_status st = engine_submit(req->ctx->engine, &cmd);
    if (st != ENGINE_OK) {
        json_decref(body);
        if (st == ENGINE_ECONFLICT) {
            http_reply_error(req, 409, "conflict", NULL,
                             "the configuration changed while the downtime was added");
            return;
        }
        req->retry_after = "1";
        http_reply_error(req, 503, "unavailable", NULL, "tocsin is busy; retry shortly");
        return;
    }
    json_t *out = json_deep_copy(body);
    json_decref(body);
    json_object_set_new(out, "id", json_integer(cmd.out_id));
    json_object_set_new(out, "source", json_string("api"));
    http_reply_json(req, 201, out);
}

void api_downtime_delete(struct http_req *req)
{
    const struct cfg_token *t = auth_api(req, ROLE_RESPONDER);
    char actor[160], *end;
    if (!t)
        return;
    errno = 0;
    long long id = strtoll(req->params[0], &end, 10);
    if (errno || *end || id < 1) {
        http_reply_error(req, 404, "not_found", NULL,
                         "no downtime %s (configured downtimes are removed in the file)",
                         req->params[0]);
        return;
    }
    snprintf(actor, sizeof(actor), "token:%s", t->name);
    struct engine_cmd cmd = {.kind = CMD_DOWNTIME_DELETE, .downtime_id = id, .actor = actor};
    switch (engine_submit(req->ctx->engine, &cmd)) {
    case ENGINE_OK:
        http_reply_text(req, 204, "text/plain", "", 0);
        return;
    case ENGINE_ENOTFOUND:
        http_reply_error(req, 404, "not_found", NULL, "no downtime %lld", id);
        return;
    default:
        req->retry_after = "1";
        http_reply_error(req, 503, "unavailable", NULL, "tocsin is busy; retry shortly");
    }
}

/* ---- reload ---- */

void api_reload(struct http_req *req)
{
    struct cfg_errors errs = {0};
    if (!auth_api(req, ROLE_ADMIN))
        return;
    if (!req->ctx->reload) {
        http_reply_error(req, 409, "conflict", NULL, "this server has no file to reload");
        return;
    }
    if (req->ctx->reload(req->ctx, &errs) != 0) {
        json_t *list = json_array();
        for (size_t i = 0; i < errs.n; i++)
            json_array_append_new(list, json_string(errs.msgs[i]));
        cfg_errors_free(&errs);
        json_t *o =
            json_pack("{s{ss ss so}}", "error", "code", "invalid_config", "message",
                      "the new configuration is invalid; the running one stays", "errors", list);
        http_reply_json(req, 422, o);
        return;
    }
    const struct config *cfg = atomic_load(&req->ctx->cfg);
    http_reply_json(req, 200,
                    json_pack("{ss sI sI}", "status", "reloaded", "checks",
                              (json_int_t)cfg->n_checks, "hosts", (json_int_t)cfg->n_hosts));
}
