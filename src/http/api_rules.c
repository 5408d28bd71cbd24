/*
 * api_rules.c - the rules endpoints: the rule list in Prometheus's shape
 * (GET /api/v1/rules, which Grafana's alert list reads), one rule with its
 * series and explanations (GET /api/v1/rules/{name}), and the backtest
 * (POST /api/v1/rules/test), which replays a loaded rule, or one written
 * but not deployed, over stored history.
 *
 * Reads need any API token, like the other /api/v1 reads. The backtest only
 * reads the metrics store and changes nothing, so a viewer may run it too;
 * it runs on the connection's thread, bounded by the evaluation limit.
 */
#include "api.h"

#include "../base/clock.h"
#include "../cli/rules_cli.h"
#include "../metrics/promql.h"
#include "../metrics/tsdb.h"
#include "../rules/rules.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A backtest body names a rule or carries one; 64 KiB is far more than any. */
#define RULES_TEST_MAX_BODY (64 * 1024)
/* Evaluations one backtest may run (a week at 1 min steps is 10,081). */
#define RULES_TEST_MAX_EVALUATIONS 100000
/* Default backtest range: the week before `to`. */
#define RULES_TEST_DEFAULT_RANGE_MS (7 * 86400000LL)
/* Filter values of one kind (rule_name[] ...) taken from one request. */
#define RULES_MAX_FILTERS 64

/* ---- Prometheus-shaped replies (the list is a Prometheus endpoint) ---- */

static void rules_prom_error(struct http_req *req, int status, const char *type, const char *fmt,
                             ...) __attribute__((format(printf, 4, 5)));

static void rules_prom_error(struct http_req *req, int status, const char *type, const char *fmt,
                             ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    http_reply_json(req, status,
                    json_pack("{ssssss}", "status", "error", "errorType", type, "error", msg));
}

static void rules_success(struct http_req *req, json_t *data)
{
    if (!data) {
        http_reply_error(req, 500, "internal", NULL, "out of memory");
        return;
    }
    http_reply_json(req, 200, json_pack("{ssso}", "status", "success", "data", data));
}

/* ---- GET /api/v1/rules ---- */

/* One repeated query argument (rule_name[]=a&rule_name[]=b). */
struct rules_filter {
    const char *v[RULES_MAX_FILTERS];
    size_t n;
};

static bool rules_filter_get(struct http_req *req, const char *name, struct rules_filter *f)
{
    f->n = http_query_all(req, name, f->v, RULES_MAX_FILTERS);
    if (f->n > RULES_MAX_FILTERS) {
        rules_prom_error(req, 400, "bad_data", "at most %d %s parameters are accepted, got %zu",
                         RULES_MAX_FILTERS, name, f->n);
        return false;
    }
    return true;
}

/* True when the filter is empty (no constraint) or holds s. */
static bool rules_filter_has(const struct rules_filter *f, const char *s)
{
    if (f->n == 0)
        return true;
    for (size_t i = 0; i < f->n; i++)
        if (s && strcmp(f->v[i], s) == 0)
            return true;
    return false;
}

void api_rules_list(struct http_req *req)
{
    struct rules_filter names, groups, files;
    const char *type = http_query(req, "type");
    const char *excl = http_query(req, "exclude_alerts");
    const char *want = NULL; /* "alerting" or "recording" */

    if (!auth_api(req, ROLE_VIEWER))
        return;
    if (type && *type) {
        if (strcmp(type, "alert") == 0)
            want = "alerting";
        else if (strcmp(type, "record") == 0)
            want = "recording";
        else {
            rules_prom_error(req, 400, "bad_data",
                             "invalid parameter \"type\": \"%.32s\" is not alert or record", type);
            return;
        }
    }
    if (!rules_filter_get(req, "rule_name[]", &names) ||
        !rules_filter_get(req, "rule_group[]", &groups) || !rules_filter_get(req, "file[]", &files))
        return;
    bool exclude_alerts = excl && (strcmp(excl, "true") == 0 || strcmp(excl, "1") == 0);
    bool filtered = want || names.n || groups.n || files.n;

    json_t *data =
        req->ctx->rules ? rules_status_json(req->ctx->rules, NULL) : json_pack("{s[]}", "groups");
    json_t *all = json_object_get(data, "groups");
    if (!data || !json_is_array(all)) {
        json_decref(data);
        http_reply_error(req, 500, "internal", NULL, "out of memory");
        return;
    }
    /* Filters as Prometheus applies them: a group none of whose rules is
     * left is not shown. */
    json_t *kept = json_array();
    size_t gi;
    json_t *g;
    json_array_foreach(all, gi, g)
    {
        const char *gname = json_string_value(json_object_get(g, "name"));
        const char *gfile = json_string_value(json_object_get(g, "file"));
        if (!rules_filter_has(&groups, gname) || !rules_filter_has(&files, gfile))
            continue;
        json_t *rules = json_object_get(g, "rules");
        json_t *keep_rules = json_array();
        size_t ri;
        json_t *rule;
        json_array_foreach(rules, ri, rule)
        {
            const char *rtype = json_string_value(json_object_get(rule, "type"));
            const char *rname = json_string_value(json_object_get(rule, "name"));
            if (want && (!rtype || strcmp(rtype, want) != 0))
                continue;
            if (!rules_filter_has(&names, rname))
                continue;
            if (exclude_alerts)
                json_object_del(rule, "alerts");
            json_array_append(keep_rules, rule);
        }
        if (filtered && json_array_size(keep_rules) == 0) {
            json_decref(keep_rules);
            continue;
        }
        json_object_set_new(g, "rules", keep_rules);
        json_array_append(kept, g);
    }
    json_object_set_new(data, "groups", kept);
    rules_success(req, data);
}

/* ---- GET /api/v1/rules/{name} ---- */

void api_rule_get(struct http_req *req)
{
    const char *name = req->params[0];
    if (!auth_api(req, ROLE_VIEWER))
        return;
    json_t *data = req->ctx->rules ? rules_status_json(req->ctx->rules, name) : NULL;
    if (!data) {
        http_reply_error(req, 404, "not_found", NULL, "no rule named \"%.200s\"", name);
        return;
    }
    rules_success(req, data);
}

/* ---- POST /api/v1/rules/test ---- */

static int rules_select(void *ctx, const struct matcher *m, size_t nm, int64_t mint, int64_t maxt,
                        size_t max_samples, struct tsdb_series **out, size_t *n_out, char *err,
                        size_t errlen)
{
    return tsdb_select(ctx, m, nm, mint, maxt, max_samples, out, n_out, err, errlen);
}

static int rules_select_rollup(void *ctx, int64_t res, const struct matcher *m, size_t nm,
                               int64_t mint, int64_t maxt, size_t max_buckets,
                               struct tsdb_rollup_series **out, size_t *n_out, char *err,
                               size_t errlen)
{
    return tsdb_select_rollup(ctx, res, m, nm, mint, maxt, max_buckets, out, n_out, err, errlen);
}

/*
 * A time field of the body: a string in any form rules_cli_parse_time
 * takes, or Unix seconds as a number. Returns 1 when absent (*ms
 * untouched), 0 when parsed, -1 (answered 400) when invalid.
 */
static int rules_test_time(struct http_req *req, const json_t *body, const char *field, int64_t now,
                           int64_t *ms)
{
    const json_t *v = json_object_get(body, field);
    if (!v || json_is_null(v))
        return 1;
    if (json_is_number(v)) {
        double d = json_number_value(v);
        if (isfinite(d) && d > -9.2e12 && d < 9.2e12) {
            *ms = (int64_t)llround(d * 1000.0);
            return 0;
        }
    } else if (json_is_string(v) && rules_cli_parse_time(json_string_value(v), now, ms) == 0) {
        return 0;
    }
    http_reply_error(req, 400, "invalid_field", field,
                     "%s must be an RFC 3339 time, Unix seconds, \"now\" or a time relative to "
                     "now such as \"-7d\" or \"now-7d\"",
                     field);
    return -1;
}

/* The step: a duration string ("5m") or seconds as a number. Returns like rules_test_time. */
static int rules_test_step(struct http_req *req, const json_t *body, int64_t *ms)
{
    const json_t *v = json_object_get(body, "step");
    if (!v || json_is_null(v))
        return 1;
    if (json_is_number(v)) {
        double d = json_number_value(v);
        if (isfinite(d) && d >= 0.001 && d < 9.2e12) {
            *ms = (int64_t)llround(d * 1000.0);
            return 0;
        }
    } else if (json_is_string(v) && rules_cli_parse_step(json_string_value(v), ms) == 0) {
        return 0;
    }
    http_reply_error(req, 400, "invalid_field", "step",
                     "step must be a positive duration such as \"5m\" or a number of seconds");
    return -1;
}

/*
 * Builds the rule a backtest body carries, answering 400 when it is not
 * valid. The field of the first problem ("rule.static.above") is named.
 */
static bool rules_test_build(struct http_req *req, const json_t *spec, struct cfg_rule *out)
{
    struct cfg_errors errs = {0};
    if (!json_is_object(spec)) {
        http_reply_error(req, 400, "invalid_field", "rule",
                         "rule must be an object: a rule as written under rules: or a "
                         "Prometheus rule with alert and expr");
        return false;
    }
    if (config_rule_from_json(spec, req->cfg, out, &errs) == 0) {
        cfg_errors_free(&errs);
        return true;
    }
    const char *first = errs.n ? errs.msgs[0] : "rule: invalid";
    char field[128];
    snprintf(field, sizeof(field), "%.*s", (int)strcspn(first, ": "), first);
    if (errs.n > 1)
        http_reply_error(req, 400, "invalid_field", field, "%s (and %zu more problems)", first,
                         errs.n - 1);
    else
        http_reply_error(req, 400, "invalid_field", field, "%s", first);
    cfg_errors_free(&errs);
    return false;
}

void api_rules_test(struct http_req *req)
{
    json_error_t jerr;
    json_t *body = NULL, *out = NULL;
    struct cfg_rule built;
    bool have_built = false;
    const struct cfg_rule *rule = NULL;
    char err[512];
    int64_t now = clock_now_ms(), from = 0, to = now, step = 0;

    memset(&built, 0, sizeof(built));
    if (!auth_api(req, ROLE_VIEWER) || !http_require_json_type(req))
        return;
    if (req->body_len > RULES_TEST_MAX_BODY) {
        http_reply_error(req, 413, "body_too_large", NULL,
                         "a backtest body is at most %d bytes; this one has %zu",
                         RULES_TEST_MAX_BODY, req->body_len);
        return;
    }
    if (!req->ctx->tsdb) {
        http_reply_error(req, 503, "unavailable", NULL, "the metrics store is not open");
        return;
    }
    body = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
    if (!json_is_object(body)) {
        http_reply_error(req, 400, "malformed_json", NULL,
                         "the body must be a JSON object such as {\"name\":\"DiskFull\","
                         "\"from\":\"now-7d\"}%s%s",
                         body ? "" : ": ", body ? "" : jerr.text);
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(body, key, val)
    {
        if (strcmp(key, "name") != 0 && strcmp(key, "rule") != 0 && strcmp(key, "from") != 0 &&
            strcmp(key, "to") != 0 && strcmp(key, "step") != 0) {
            http_reply_error(req, 400, "invalid_field", key,
                             "unknown field \"%.64s\"; a backtest takes name or rule, from, to "
                             "and step",
                             key);
            goto out;
        }
    }
    const json_t *jname = json_object_get(body, "name"), *jrule = json_object_get(body, "rule");
    if (jname && jrule) {
        http_reply_error(req, 400, "invalid_field", "rule",
                         "give either name (a loaded rule) or rule (a definition), not both");
        goto out;
    }
    if (!jname && !jrule) {
        http_reply_error(req, 400, "invalid_field", "name",
                         "name (a loaded rule) or rule (a rule definition) is required");
        goto out;
    }
    if (jname && (!json_is_string(jname) || !*json_string_value(jname))) {
        http_reply_error(req, 400, "invalid_field", "name", "name must be a rule's name");
        goto out;
    }
    if (rules_test_time(req, body, "to", now, &to) < 0)
        goto out;
    from = to - RULES_TEST_DEFAULT_RANGE_MS;
    if (rules_test_time(req, body, "from", now, &from) < 0 || rules_test_step(req, body, &step) < 0)
        goto out;
    if (from >= to) {
        http_reply_error(req, 400, "invalid_field", "from", "from must be before to");
        goto out;
    }
    if (jname) {
        rule = config_find_rule(req->cfg, json_string_value(jname));
        if (!rule) {
            http_reply_error(req, 404, "not_found", "name",
                             "no rule named \"%.200s\" is loaded; send its definition as rule to "
                             "test one that is not deployed",
                             json_string_value(jname));
            goto out;
        }
    } else {
        if (!rules_test_build(req, jrule, &built))
            goto out;
        have_built = true;
        rule = &built;
    }
    int64_t eff_step = step ? step : rule->interval_ms;
    if (eff_step <= 0)
        eff_step =
            req->cfg->rule_settings.interval_ms > 0 ? req->cfg->rule_settings.interval_ms : 60000;
    if ((to - from) / eff_step + 1 > RULES_TEST_MAX_EVALUATIONS) {
        http_reply_error(req, 400, "invalid_field", step ? "step" : "from",
                         "the range at a step of %lld ms needs %lld evaluations; at most %d are "
                         "allowed: shorten the range or give a larger step",
                         (long long)eff_step, (long long)((to - from) / eff_step + 1),
                         RULES_TEST_MAX_EVALUATIONS);
        goto out;
    }

    struct rules_env env;
    memset(&env, 0, sizeof(env));
    env.storage.ctx = req->ctx->tsdb;
    env.storage.select = rules_select;
    env.storage.select_rollup = rules_select_rollup;
    env.db = NULL; /* a backtest stores nothing, recording rules included */
    env.public_url = req->cfg->notify.public_url;
    env.lookback_ms = atomic_load(&req->ctx->metrics_lookback_ms);
    env.max_samples = atomic_load(&req->ctx->metrics_max_samples);
    struct rules_backtest_opts o = {
        .from = from, .to = to, .step_ms = step, .max_evaluations = RULES_TEST_MAX_EVALUATIONS};
    err[0] = 0;
    if (rules_backtest(rule, &req->cfg->rule_settings, &env, &o, &out, err, sizeof(err)) != 0 ||
        !out) {
        http_reply_error(req, 422, "evaluation_failed", NULL, "the backtest of %s failed: %s",
                         rule->name ? rule->name : "the rule", err[0] ? err : "out of memory");
        goto out;
    }
    rules_success(req, out);
    out = NULL;
out:
    json_decref(out);
    json_decref(body);
    if (have_built)
        config_rule_free(&built);
}
