/*
 * config_metrics.c - the metrics half of the configuration: `metrics` (what
 * the time-series store keeps and what one request may cost) and `scrape`
 * (Prometheus-style scrape jobs).
 *
 * The spellings follow Prometheus where Prometheus has one, so a job can be
 * copied from prometheus.yml with few changes: durations may use y (365
 * days) like Prometheus's, a size is "512MB" or "32MiB", params is a
 * mapping of lists, basic_auth has username and password. What differs is
 * said where it is checked: a target must carry its port, and the labels of
 * a job may not set job or instance (the job name and the target do).
 */
#include "config.h"
#include "config_int.h"
#include "config_yaml.h"
#include "../base/timefmt.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CM_DAY_MS           (86400000LL)
#define CM_MIN_INTERVAL_MS  100
#define CM_MAX_TARGETS      10000
#define CM_MAX_PARAMS       64
#define CM_MAX_PARAM_LEN    1024
#define CM_MAX_PATH_LEN     1024
#define CM_MAX_TARGET_LEN   261 /* 255 for a name, ':' and five digits */
#define CM_MIB              (1024u * 1024u)
#define CM_DEFAULT_BODY     (50ull * CM_MIB)
#define CM_MAX_BODY         (1024ull * CM_MIB)
#define CM_DEFAULT_WRITE    (32ull * CM_MIB)
#define CM_MAX_WRITE        (1024ull * CM_MIB)
#define CM_MIN_LIMIT_BYTES  1024ull
#define CM_MAX_SERIES       1000000000LL
#define CM_MAX_QUERY_SAMPLE 100000000000LL

static const char *const cm_schemes[] = {"http", "https"};

/* ---- Field readers ---- */

/*
 * A Prometheus duration: cfg_duration's units plus y (365 days), which
 * retention is often written in ("1y"). Years may only lead ("1y2w"), as in
 * Prometheus, where units go from the largest to the smallest.
 */
static int cm_long_duration(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                            int64_t *out)
{
    const json_t *v = cfg_field(obj, key);
    if (!v)
        return 0;
    if (json_is_integer(v) && json_integer_value(v) == 0) {
        *out = 0;
        return 1;
    }
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    if (s && strlen(s) == json_string_length(v)) {
        int64_t years = 0, rest = 0;
        const char *p = s;
        while (*p >= '0' && *p <= '9' && years < 1000000)
            years = years * 10 + (*p++ - '0');
        if (p > s && *p == 'y' && years < 1000000) {
            p++;
        } else {
            years = 0;
            p = s;
        }
        if ((!*p && p > s) || (*p && timefmt_parse_duration(p, &rest) == 0)) {
            if (rest <= INT64_MAX - years * 365 * CM_DAY_MS) {
                *out = years * 365 * CM_DAY_MS + rest;
                return 1;
            }
        }
    }
    cfg_err_field(c, path, key, false, "%s must be a duration such as \"30d\" or \"1y\"", key);
    return -1;
}

/* True when s has a control character (CR and LF included). */
static bool cm_has_ctl(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return true;
    }
    return false;
}

/*
 * A value that may be written "env:NAME" to read it from the environment.
 * Unlike cfg_secret there is no minimum length: a scrape target's token or
 * password is whatever that target wants. Returns 1 with a new string in
 * *out, 0 when absent, -1 after reporting. The value never appears in a
 * message.
 */
static int cm_env_string(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                         char **out)
{
    const char *s;
    int rc = cfg_string(c, obj, path, key, false, &s);
    if (rc <= 0)
        return rc;
    if (strncmp(s, "env:", 4) == 0) {
        const char *var = s + 4;
        if (!*var) {
            cfg_err_field(c, path, key, false, "env: needs a variable name");
            return -1;
        }
        s = getenv(var);
        if (!s || !*s) {
            cfg_err_field(c, path, key, false, "environment variable %.128s is not set", var);
            return -1;
        }
    }
    if (!*s) {
        cfg_err_field(c, path, key, false, "%s must not be empty", key);
        return -1;
    }
    if (cm_has_ctl(s)) {
        cfg_err_field(c, path, key, false, "%s must not contain control characters", key);
        return -1;
    }
    *out = cfg_strdup(c, s);
    return *out ? 1 : -1;
}

static void cm_free_secret(char *s)
{
    if (s)
        sodium_memzero(s, strlen(s));
    free(s);
}

/* ---- metrics ---- */

static void cm_metrics(struct cfg_ctx *c, const json_t *root)
{
    static const char *const keys[] = {"retention",
                                       "retention_size",
                                       "max_series",
                                       "max_series_per_source",
                                       "max_write_bytes",
                                       "max_query_samples",
                                       "lookback",
                                       "perfdata",
                                       NULL};
    struct cfg_metrics *m = &c->cfg->metrics;
    const json_t *o;
    json_int_t v;
    uint64_t bytes;

    m->retention_ms = 30 * CM_DAY_MS;
    m->retention_bytes = 0;
    m->max_series = 2000000;
    m->max_series_per_source = 0;
    m->max_write_bytes = (size_t)CM_DEFAULT_WRITE;
    m->max_query_samples = 50000000;
    m->lookback_ms = 5 * 60 * 1000;
    m->perfdata = true;
    if (cfg_object(c, root, "", "metrics", &o) <= 0)
        return;

    cfg_check_keys(c, o, "metrics", keys);
    cm_long_duration(c, o, "metrics", "retention", &m->retention_ms);
    if (cfg_size(c, o, "metrics", "retention_size", 0, UINT64_MAX, &bytes) > 0)
        m->retention_bytes = bytes;
    if (cfg_integer(c, o, "metrics", "max_series", 0, CM_MAX_SERIES, &v) > 0)
        m->max_series = (size_t)v;
    if (cfg_integer(c, o, "metrics", "max_series_per_source", 0, CM_MAX_SERIES, &v) > 0) {
        m->max_series_per_source = (size_t)v;
        if (m->max_series && m->max_series_per_source > m->max_series)
            cfg_err_field(c, "metrics", "max_series_per_source", false,
                          "max_series_per_source must not be greater than max_series (%zu)",
                          m->max_series);
    }
    if (cfg_size(c, o, "metrics", "max_write_bytes", CM_MIN_LIMIT_BYTES, CM_MAX_WRITE, &bytes) > 0)
        m->max_write_bytes = (size_t)bytes;
    if (cfg_integer(c, o, "metrics", "max_query_samples", 1000, CM_MAX_QUERY_SAMPLE, &v) > 0)
        m->max_query_samples = (size_t)v;
    if (ck_positive_duration(c, o, "metrics", "lookback", &m->lookback_ms) > 0 &&
        m->lookback_ms > 7 * CM_DAY_MS)
        cfg_err_field(c, "metrics", "lookback", false, "lookback must be at most 7d");
    cfg_bool(c, o, "metrics", "perfdata", &m->perfdata);
}

/* ---- scrape ---- */

/*
 * HOST:PORT, where HOST is a DNS name or an IPv4 address ([A-Za-z0-9._-]) or
 * a bracketed IPv6 address, and PORT is 1..65535. Returns NULL when valid,
 * else what is wrong.
 */
static const char *cm_target_problem(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > CM_MAX_TARGET_LEN)
        return "must be HOST:PORT";
    const char *colon = strrchr(s, ':');
    if (!colon || !colon[1])
        return "needs a port (HOST:PORT)";
    long port = 0;
    for (const char *p = colon + 1; *p; p++) {
        if (*p < '0' || *p > '9' || p - colon > 5)
            return "has an invalid port (expected 1 to 65535)";
        port = port * 10 + (*p - '0');
    }
    if (port < 1 || port > 65535)
        return "has an invalid port (expected 1 to 65535)";
    if (colon == s)
        return "needs a host before the port";
    if (s[0] == '[') {
        if (colon[-1] != ']' || colon - s < 4)
            return "has an invalid IPv6 address (expected [ADDRESS]:PORT)";
        for (const char *p = s + 1; p < colon - 1; p++) {
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                  (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.'))
                return "has an invalid IPv6 address (expected [ADDRESS]:PORT)";
        }
        return NULL;
    }
    for (const char *p = s; p < colon; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              *p == '.' || *p == '-' || *p == '_'))
            return *p == ':' ? "has an IPv6 address without brackets (write [ADDRESS]:PORT)"
                             : "has an invalid host name";
    }
    if (s[0] == '-' || s[0] == '.')
        return "has an invalid host name";
    return NULL;
}

static void cm_targets(struct cfg_ctx *c, const json_t *item, const char *path,
                       struct cfg_scrape_job *j)
{
    const json_t *list, *t;
    size_t i;
    if (!cfg_field(item, "targets")) {
        cfg_err(c, path, true, "missing required field \"targets\"");
        return;
    }
    if (cfg_list(c, item, path, "targets", &list) <= 0)
        return;
    if (json_array_size(list) == 0 || json_array_size(list) > CM_MAX_TARGETS) {
        cfg_err_field(c, path, "targets", false, "targets must have 1 to %d entries",
                      CM_MAX_TARGETS);
        return;
    }
    char *base = ck_key_path(c, path, "targets");
    json_t *seen = json_object();
    j->targets = calloc(json_array_size(list), sizeof(*j->targets));
    if (!base || !seen || !j->targets) {
        ck_oom(c);
        goto out;
    }
    json_array_foreach(list, i, t)
    {
        char *ipath = ck_index_path(c, base, i);
        if (!ipath)
            break;
        const char *s = json_is_string(t) ? json_string_value(t) : NULL;
        const char *why = NULL;
        if (!s) {
            cfg_err(c, ipath, false, "each target must be a string \"HOST:PORT\", not %s",
                    cfg_type_name(t));
        } else if (strlen(s) != json_string_length(t) || (why = cm_target_problem(s)) != NULL) {
            cfg_err(c, ipath, false, "target \"%.128s\" %s", s,
                    why ? why : "must not contain NUL characters");
        } else {
            json_t *prev = json_object_get(seen, s);
            struct yaml_pos p;
            if (prev) {
                cfg_err(c, ipath, false, "duplicate target \"%.128s\" (first listed at %s)", s,
                        json_string_value(prev));
            } else {
                char where[64];
                if (c->pos && yaml_positions_get(c->pos, ipath, false, &p))
                    snprintf(where, sizeof(where), "line %u", p.line);
                else
                    snprintf(where, sizeof(where), "%.60s", ipath);
                json_object_set_new(seen, s, json_string(where));
                if ((j->targets[j->n_targets] = cfg_strdup(c, s)) != NULL)
                    j->n_targets++;
            }
        }
        free(ipath);
    }
out:
    json_decref(seen);
    free(base);
}

/* labels: names [a-zA-Z_][a-zA-Z0-9_]*, not __*, not job or instance; string values. */
static void cm_labels(struct cfg_ctx *c, const json_t *item, const char *path,
                      struct cfg_scrape_job *j)
{
    const json_t *o;
    const char *name;
    json_t *v;
    if (cfg_object(c, item, path, "labels", &o) <= 0)
        return;
    char *base = ck_key_path(c, path, "labels");
    if (!base)
        return;
    if (json_object_size(o) > LABELS_MAX_PAIRS - 2) {
        cfg_err(c, base, false, "labels has %zu labels; at most %d are allowed",
                json_object_size(o), LABELS_MAX_PAIRS - 2);
        goto out;
    }
    json_object_foreach((json_t *)o, name, v)
    {
        if (!labels_name_valid(name) || strlen(name) > LABELS_MAX_NAME) {
            cfg_err_field(c, base, name, true,
                          "invalid label name \"%.64s\" (expected [a-zA-Z_][a-zA-Z0-9_]*, at most "
                          "%d characters)",
                          name, LABELS_MAX_NAME);
        } else if (strncmp(name, "__", 2) == 0) {
            cfg_err_field(c, base, name, true,
                          "label names starting with \"__\" are reserved for internal use");
        } else if (strcmp(name, "job") == 0 || strcmp(name, "instance") == 0) {
            cfg_err_field(c, base, name, true,
                          "label \"%s\" cannot be set here: it comes from the %s", name,
                          name[0] == 'j' ? "job name" : "target");
        } else if (!json_is_string(v)) {
            cfg_err_field(c, base, name, false, "label \"%s\" must be a string, not %s", name,
                          cfg_type_name(v));
        } else if (strlen(json_string_value(v)) != json_string_length(v) ||
                   json_string_length(v) > LABELS_MAX_VALUE) {
            cfg_err_field(c, base, name, false,
                          "label \"%s\" must be at most %d bytes without NUL characters", name,
                          LABELS_MAX_VALUE);
        } else if (labels_set(&j->labels, name, json_string_value(v)) < 0) {
            ck_oom(c);
        }
    }
out:
    free(base);
}

/* Adds one query parameter; false after reporting. */
static bool cm_param_add(struct cfg_ctx *c, struct cfg_scrape_job *j, const char *vpath,
                         const char *name, const json_t *v)
{
    if (!json_is_string(v)) {
        cfg_err(c, vpath, false, "each value of params must be a string, not %s", cfg_type_name(v));
        return false;
    }
    if (strlen(json_string_value(v)) != json_string_length(v) ||
        json_string_length(v) > CM_MAX_PARAM_LEN) {
        cfg_err(c, vpath, false, "parameter values must be at most %d bytes without NUL characters",
                CM_MAX_PARAM_LEN);
        return false;
    }
    if (j->n_params >= CM_MAX_PARAMS) {
        cfg_err(c, vpath, false, "params may hold at most %d values", CM_MAX_PARAMS);
        return false;
    }
    struct cfg_scrape_param *p = &j->params[j->n_params];
    p->name = cfg_strdup(c, name);
    p->value = cfg_strdup(c, json_string_value(v));
    j->n_params++;
    return p->name && p->value;
}

/* params: {name: [value, ...]} as in Prometheus; a single string is taken as a list of one. */
static void cm_params(struct cfg_ctx *c, const json_t *item, const char *path,
                      struct cfg_scrape_job *j)
{
    const json_t *o;
    const char *name;
    json_t *v;
    if (cfg_object(c, item, path, "params", &o) <= 0)
        return;
    char *base = ck_key_path(c, path, "params");
    j->params = calloc(CM_MAX_PARAMS, sizeof(*j->params));
    if (!base || !j->params) {
        ck_oom(c);
        free(base);
        return;
    }
    json_object_foreach((json_t *)o, name, v)
    {
        char *vpath = ck_key_path(c, base, name);
        if (!vpath)
            break;
        if (!*name || strlen(name) > CM_MAX_PARAM_LEN || cm_has_ctl(name)) {
            cfg_err(c, vpath, true,
                    "parameter names must be 1 to %d characters without control "
                    "characters",
                    CM_MAX_PARAM_LEN);
        } else if (json_is_array(v)) {
            size_t i;
            const json_t *e;
            if (json_array_size(v) == 0)
                cfg_err(c, vpath, false, "parameter \"%.64s\" needs at least one value", name);
            json_array_foreach(v, i, e)
            {
                char *epath = ck_index_path(c, vpath, i);
                bool ok = epath && cm_param_add(c, j, epath, name, e);
                free(epath);
                if (!ok)
                    break;
            }
        } else {
            cm_param_add(c, j, vpath, name, v);
        }
        free(vpath);
    }
    free(base);
}

/* bearer_token and basic_auth; at most one of them. */
static void cm_auth(struct cfg_ctx *c, const json_t *item, const char *path,
                    struct cfg_scrape_job *j)
{
    static const char *const keys[] = {"username", "password", NULL};
    const json_t *o;
    const char *user;

    cm_env_string(c, item, path, "bearer_token", &j->bearer_token);
    if (cfg_object(c, item, path, "basic_auth", &o) <= 0)
        return;
    char *base = ck_key_path(c, path, "basic_auth");
    if (!base)
        return;
    cfg_check_keys(c, o, base, keys);
    if (cfg_string(c, o, base, "username", true, &user) > 0) {
        if (!*user || strchr(user, ':') || cm_has_ctl(user))
            cfg_err_field(c, base, "username", false,
                          "username must not be empty or contain ':' or control characters");
        else
            j->basic_user = cfg_strdup(c, user);
    }
    cm_env_string(c, o, base, "password", &j->basic_password);
    if (cfg_field(item, "bearer_token"))
        cfg_err_field(c, path, "basic_auth", true,
                      "basic_auth and bearer_token cannot both be set");
    free(base);
}

static void cm_job_item(struct cfg_ctx *c, const json_t *item, const char *path, size_t i,
                        json_t *seen, json_t *seen_secret)
{
    static const char *const keys[] = {
        "job",          "targets",    "interval",     "timeout",      "labels",
        "metrics_path", "scheme",     "params",       "honor_labels", "tls_skip_verify",
        "bearer_token", "basic_auth", "sample_limit", "body_limit",   NULL};
    struct cfg_scrape_job *j = &c->cfg->scrape_jobs[c->cfg->n_scrape_jobs++];
    const char *name, *mpath;
    int scheme = 0;
    json_int_t limit;
    uint64_t bytes;

    j->interval_ms = 60000;
    j->body_limit = (size_t)CM_DEFAULT_BODY;
    cfg_check_keys(c, item, path, keys);

    if (cfg_string(c, item, path, "job", true, &name) > 0) {
        if (!*name || strlen(name) > CFG_MAX_NAME || cm_has_ctl(name)) {
            cfg_err_field(c, path, "job", false,
                          "job must be 1 to %d characters without control characters",
                          CFG_MAX_NAME);
        } else {
            j->job = cfg_strdup(c, name);
            cfg_unique(c, seen, path, "job", name, "scrape job", false);
        }
    }
    cm_targets(c, item, path, j);

    int ri = ck_positive_duration(c, item, path, "interval", &j->interval_ms);
    if (ri > 0 && j->interval_ms < CM_MIN_INTERVAL_MS) {
        cfg_err_field(c, path, "interval", false, "interval must be at least %dms",
                      CM_MIN_INTERVAL_MS);
        ri = -1;
    }
    j->timeout_ms = j->interval_ms < 10000 ? j->interval_ms : 10000;
    if (ck_positive_duration(c, item, path, "timeout", &j->timeout_ms) > 0 && ri >= 0 &&
        j->timeout_ms > j->interval_ms)
        cfg_err_field(c, path, "timeout", false,
                      "timeout must not be longer than the interval (%lld ms)",
                      (long long)j->interval_ms);

    cm_labels(c, item, path, j);

    int rp = cfg_string(c, item, path, "metrics_path", false, &mpath);
    if (rp > 0) {
        bool bad = mpath[0] != '/' || strlen(mpath) > CM_MAX_PATH_LEN;
        for (const char *p = mpath; *p && !bad; p++)
            bad = (unsigned char)*p <= 0x20 || *p == 0x7f || *p == '?' || *p == '#';
        if (bad)
            cfg_err_field(c, path, "metrics_path", false,
                          "metrics_path must start with '/' and have no spaces, control "
                          "characters, '?' or '#' (query parameters go in params)");
        else
            j->metrics_path = cfg_strdup(c, mpath);
    } else if (rp == 0) {
        j->metrics_path = cfg_strdup(c, "/metrics");
    }
    cfg_enum(c, item, path, "scheme", cm_schemes, 2, &scheme);
    j->https = scheme == 1;
    cm_params(c, item, path, j);
    cfg_bool(c, item, path, "honor_labels", &j->honor_labels);
    cfg_bool(c, item, path, "tls_skip_verify", &j->tls_skip_verify);
    cm_auth(c, item, path, j);
    if (cfg_integer(c, item, path, "sample_limit", 0, CM_MAX_SERIES, &limit) > 0)
        j->sample_limit = (size_t)limit;
    if (cfg_size(c, item, path, "body_limit", CM_MIN_LIMIT_BYTES, CM_MAX_BODY, &bytes) > 0)
        j->body_limit = (size_t)bytes;
}

void cfg_metrics_build(struct cfg_ctx *c, const json_t *root)
{
    struct config *cfg = c->cfg;
    cm_metrics(c, root);
    if (!(cfg->scrape_jobs = cfg_alloc_list(c, root, "scrape", sizeof(*cfg->scrape_jobs))))
        return;
    cfg_items(c, root, "scrape", cm_job_item);
}

void cfg_metrics_free(struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_scrape_jobs; i++) {
        struct cfg_scrape_job *j = &cfg->scrape_jobs[i];
        free(j->job);
        for (size_t k = 0; k < j->n_targets; k++)
            free(j->targets[k]);
        free(j->targets);
        labels_free(&j->labels);
        free(j->metrics_path);
        for (size_t k = 0; k < j->n_params; k++) {
            free(j->params[k].name);
            free(j->params[k].value);
        }
        free(j->params);
        cm_free_secret(j->bearer_token);
        free(j->basic_user);
        cm_free_secret(j->basic_password);
    }
    free(cfg->scrape_jobs);
    cfg->scrape_jobs = NULL;
    cfg->n_scrape_jobs = 0;
}

const struct cfg_scrape_job *config_find_scrape_job(const struct config *cfg, const char *job)
{
    for (size_t i = 0; i < cfg->n_scrape_jobs; i++) {
        if (cfg->scrape_jobs[i].job && strcmp(cfg->scrape_jobs[i].job, job) == 0)
            return &cfg->scrape_jobs[i];
    }
    return NULL;
}
