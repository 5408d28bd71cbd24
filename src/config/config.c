/*
 * config.c - validating the configuration tree and building struct config.
 *
 * The validator never stops at the first problem: each field is checked on
 * its own, a bad one is reported and skipped, and the config is thrown away
 * at the end if anything was reported. That way `tocsin check-config` shows
 * the whole list at once.
 */
#include "config.h"
#include "config_int.h"
#include "config_yaml.h"
#include "../base/timefmt.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CFG_MAX_ROUTE_DEPTH 32

int cfg_errors_add(struct cfg_errors *errs, const char *fmt, ...)
{
    va_list ap;
    char *msg = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    char **v = realloc(errs->msgs, (errs->n + 1) * sizeof(*v));
    if (!v) {
        free(msg);
        return -1;
    }
    v[errs->n++] = msg;
    errs->msgs = v;
    return 0;
}

void cfg_errors_free(struct cfg_errors *errs)
{
    if (!errs)
        return;
    for (size_t i = 0; i < errs->n; i++)
        free(errs->msgs[i]);
    free(errs->msgs);
    errs->msgs = NULL;
    errs->n = 0;
}

static void cfg_verr(struct cfg_ctx *c, const char *path, bool at_key, const char *fmt, va_list ap)
{
    char msg[768];
    struct yaml_pos p;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (c->pos && ((at_key && yaml_positions_get(c->pos, path, true, &p)) ||
                   yaml_positions_get(c->pos, path, false, &p)))
        cfg_errors_add(c->errs, "%s:%u:%u: %s", c->file, p.line, p.col, msg);
    else if (*path)
        cfg_errors_add(c->errs, "%s: %s", path, msg);
    else
        cfg_errors_add(c->errs, "%s: %s", c->file, msg);
}

/* Reports a problem with the node at path: at its mapping key when at_key
 * (unknown and missing fields), otherwise at its value. */
void cfg_err(struct cfg_ctx *c, const char *path, bool at_key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cfg_verr(c, path, at_key, fmt, ap);
    va_end(ap);
}

/* Same, for the field `key` of the object at objpath. */
void cfg_err_field(struct cfg_ctx *c, const char *objpath, const char *key, bool at_key,
                   const char *fmt, ...)
{
    va_list ap;
    char *path = yaml_path_key(objpath, key);
    va_start(ap, fmt);
    cfg_verr(c, path ? path : objpath, at_key, fmt, ap);
    va_end(ap);
    free(path);
}

const char *cfg_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "a mapping";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* Reports every key of obj that is not in `allowed` (NULL-terminated). */
void cfg_check_keys(struct cfg_ctx *c, const json_t *obj, const char *path,
                    const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok)
            cfg_err_field(c, path, key, true, "unknown key \"%s\"", key);
    }
}

/* A field that is absent or null counts as not given. */
const json_t *cfg_field(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return v && !json_is_null(v) ? v : NULL;
}

/*
 * Reads a string field. Returns 1 with *out borrowed from the tree, 0 when
 * absent (reported if required), -1 when invalid (reported).
 */
int cfg_string(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
               bool required, const char **out)
{
    const json_t *v = cfg_field(obj, key);
    if (!v) {
        if (required)
            cfg_err(c, path, true, "missing required field \"%s\"", key);
        return 0;
    }
    if (!json_is_string(v)) {
        cfg_err_field(c, path, key, false, "%s must be a string, not %s", key, cfg_type_name(v));
        return -1;
    }
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v)) {
        cfg_err_field(c, path, key, false, "%s must not contain NUL characters", key);
        return -1;
    }
    *out = s;
    return 1;
}

/* A name: 1..128 bytes without control characters. */
int cfg_name(struct cfg_ctx *c, const json_t *obj, const char *path, const char **out)
{
    int rc = cfg_string(c, obj, path, "name", true, out);
    if (rc <= 0)
        return -1;
    size_t len = strlen(*out);
    bool ctl = false;
    for (const char *p = *out; *p; p++)
        ctl |= (unsigned char)*p < 0x20 || *p == 0x7f;
    if (len == 0 || len > CFG_MAX_NAME || ctl) {
        cfg_err_field(c, path, "name", false,
                      "name must be 1 to %d characters without control characters", CFG_MAX_NAME);
        return -1;
    }
    return 0;
}

/* Reads one of `names` (n of them); *out is left alone when absent. */
int cfg_enum(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
             const char *const *names, int n, int *out)
{
    const char *s;
    int rc = cfg_string(c, obj, path, key, false, &s);
    if (rc <= 0)
        return rc;
    for (int i = 0; i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return 1;
        }
    }
    char list[256] = "";
    for (int i = 0; i < n; i++) {
        strncat(list, names[i], sizeof(list) - strlen(list) - 1);
        if (i + 1 < n)
            strncat(list, i + 2 == n ? " or " : ", ", sizeof(list) - strlen(list) - 1);
    }
    cfg_err_field(c, path, key, false, "invalid %s \"%.64s\" (expected %s)", key, s, list);
    return -1;
}

int cfg_integer(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                json_int_t min, json_int_t max, json_int_t *out)
{
    const json_t *v = cfg_field(obj, key);
    if (!v)
        return 0;
    if (!json_is_integer(v)) {
        cfg_err_field(c, path, key, false, "%s must be an integer, not %s", key, cfg_type_name(v));
        return -1;
    }
    json_int_t i = json_integer_value(v);
    if (i < min || i > max) {
        cfg_err_field(c, path, key, false, "%s must be between %lld and %lld", key, (long long)min,
                      (long long)max);
        return -1;
    }
    *out = i;
    return 1;
}

int cfg_bool(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key, bool *out)
{
    const json_t *v = cfg_field(obj, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v)) {
        cfg_err_field(c, path, key, false, "%s must be true or false", key);
        return -1;
    }
    *out = json_is_true(v);
    return 1;
}

/* A duration string ("30s", "5m") or the integer 0. */
int cfg_duration(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                 int64_t *out)
{
    const json_t *v = cfg_field(obj, key);
    if (!v)
        return 0;
    if (json_is_integer(v) && json_integer_value(v) == 0) {
        *out = 0;
        return 1;
    }
    int64_t ms;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
        timefmt_parse_duration(json_string_value(v), &ms) < 0) {
        cfg_err_field(c, path, key, false, "%s must be a duration such as \"30s\" or \"5m\"", key);
        return -1;
    }
    *out = ms;
    return 1;
}

/* A list field: absent/null -> 0, a list -> 1, anything else -> -1. */
int cfg_list(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
             const json_t **out)
{
    const json_t *v = cfg_field(obj, key);
    if (!v)
        return 0;
    if (!json_is_array(v)) {
        cfg_err_field(c, path, key, false, "%s must be a list, not %s", key, cfg_type_name(v));
        return -1;
    }
    *out = v;
    return 1;
}

/* An object field: absent/null -> 0, a mapping -> 1, anything else -> -1. */
int cfg_object(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
               const json_t **out)
{
    const json_t *v = cfg_field(obj, key);
    if (!v)
        return 0;
    if (!json_is_object(v)) {
        cfg_err_field(c, path, key, false, "%s must be a mapping, not %s", key, cfg_type_name(v));
        return -1;
    }
    *out = v;
    return 1;
}

char *cfg_strdup(struct cfg_ctx *c, const char *s)
{
    char *d = strdup(s);
    if (!d)
        cfg_errors_add(c->errs, "%s: out of memory", c->file);
    return d;
}

/*
 * Reads a secret, resolving "env:NAME". Returns a new string (caller frees)
 * or NULL after reporting. The secret itself never appears in a message.
 */
char *cfg_secret(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key)
{
    const char *s;
    if (cfg_string(c, obj, path, key, true, &s) <= 0)
        return NULL;
    if (strncmp(s, "env:", 4) == 0) {
        const char *var = s + 4;
        if (!*var) {
            cfg_err_field(c, path, key, false, "env: needs a variable name");
            return NULL;
        }
        const char *val = getenv(var);
        if (!val || !*val) {
            cfg_err_field(c, path, key, false, "environment variable %.128s is not set", var);
            return NULL;
        }
        if (strlen(val) < CFG_MIN_SECRET) {
            cfg_err_field(c, path, key, false,
                          "%s from environment variable %.128s must be at least %d characters", key,
                          var, CFG_MIN_SECRET);
            return NULL;
        }
        return cfg_strdup(c, val);
    }
    if (strlen(s) < CFG_MIN_SECRET) {
        cfg_err_field(c, path, key, false, "%s must be at least %d characters", key,
                      CFG_MIN_SECRET);
        return NULL;
    }
    return cfg_strdup(c, s);
}

/* Records name in `seen`; reports a duplicate at the name's position. */
void cfg_unique(struct cfg_ctx *c, json_t *seen, const char *path, const char *key,
                const char *value, const char *what, bool secret)
{
    json_t *prev = json_object_get(seen, value);
    struct yaml_pos p;
    if (prev) {
        if (secret)
            cfg_err_field(c, path, key, false, "duplicate %s (same as %s)", what,
                          json_string_value(prev));
        else
            cfg_err_field(c, path, key, false, "duplicate %s \"%s\" (first defined at %s)", what,
                          value, json_string_value(prev));
        return;
    }
    /* Remember where it was first seen, as a line for files, a path for API bodies. */
    char where[64];
    if (c->pos && yaml_positions_get(c->pos, path, false, &p))
        snprintf(where, sizeof(where), "line %u", p.line);
    else
        snprintf(where, sizeof(where), "%.60s", path);
    json_object_set_new(seen, value, json_string(where));
}

size_t cfg_items(struct cfg_ctx *c, const json_t *root, const char *key, cfg_item_fn fn)
{
    const json_t *list;
    if (cfg_list(c, root, "", key, &list) <= 0)
        return 0;
    json_t *seen = json_object(), *seen_secret = json_object();
    size_t i;
    const json_t *item;
    json_array_foreach(list, i, item)
    {
        char *path = yaml_path_index(key, i);
        if (!path)
            break;
        if (!json_is_object(item))
            cfg_err(c, path, false, "each entry of %s must be a mapping, not %s", key,
                    cfg_type_name(item));
        else
            fn(c, item, path, i, seen, seen_secret);
        free(path);
    }
    json_decref(seen);
    json_decref(seen_secret);
    return json_array_size(list);
}

static const char *const cfg_role_names[] = {"viewer", "responder", "admin"};
static const char *const cfg_type_names[] = {"generic", "pagerduty", "alertmanager", "metrics"};
static const char *const cfg_impact_names[] = {"high", "medium", "low"};
const char *const cfg_severity_names[] = {"info", "warning", "error", "critical"};

static void cfg_token_item(struct cfg_ctx *c, const json_t *item, const char *path, size_t i,
                           json_t *seen, json_t *seen_secret)
{
    static const char *const keys[] = {"name", "token", "role", NULL};
    struct cfg_token *t = &c->cfg->tokens[c->cfg->n_tokens++];
    const char *name;
    int role = ROLE_VIEWER;

    cfg_check_keys(c, item, path, keys);
    if (cfg_name(c, item, path, &name) == 0) {
        t->name = cfg_strdup(c, name);
        cfg_unique(c, seen, path, "name", name, "token name", false);
    }
    t->token = cfg_secret(c, item, path, "token");
    if (t->token)
        cfg_unique(c, seen_secret, path, "token", t->token, "token", true);
    cfg_enum(c, item, path, "role", cfg_role_names, 3, &role);
    t->role = (enum role)role;
}

static void cfg_integration_item(struct cfg_ctx *c, const json_t *item, const char *path, size_t i,
                                 json_t *seen, json_t *seen_secret)
{
    static const char *const keys[] = {"name", "type", "key", "default_severity", "resolve_timeout",
                                       NULL};
    struct cfg_integration *in = &c->cfg->integrations[c->cfg->n_integrations++];
    const char *name;
    int type = INTEGRATION_GENERIC, sev = SEV_WARNING;

    cfg_check_keys(c, item, path, keys);
    if (cfg_name(c, item, path, &name) == 0) {
        in->name = cfg_strdup(c, name);
        cfg_unique(c, seen, path, "name", name, "integration name", false);
    }
    if (!cfg_field(item, "type"))
        cfg_err(c, path, true, "missing required field \"type\"");
    cfg_enum(c, item, path, "type", cfg_type_names, 4, &type);
    in->type = (enum integration_type)type;
    in->key = cfg_secret(c, item, path, "key");
    if (in->key)
        cfg_unique(c, seen_secret, path, "key", in->key, "integration key", true);
    cfg_enum(c, item, path, "default_severity", cfg_severity_names, 4, &sev);
    in->default_severity = (enum severity)sev;
    in->resolve_timeout_ms = 5 * 60 * 1000;
    cfg_duration(c, item, path, "resolve_timeout", &in->resolve_timeout_ms);
}

static void cfg_service_item(struct cfg_ctx *c, const json_t *item, const char *path, size_t i,
                             json_t *seen, json_t *seen_secret)
{
    static const char *const keys[] = {
        "name", "description", "impact", "escalation_policy", "support_hours", NULL};
    struct cfg_service *s = &c->cfg->services[c->cfg->n_services++];
    const char *name, *desc;
    int impact = 1;

    cfg_check_keys(c, item, path, keys);
    if (cfg_name(c, item, path, &name) == 0) {
        s->name = cfg_strdup(c, name);
        cfg_unique(c, seen, path, "name", name, "service name", false);
    }
    if (cfg_string(c, item, path, "description", false, &desc) > 0)
        s->description = cfg_strdup(c, desc);
    cfg_enum(c, item, path, "impact", cfg_impact_names, 3, &impact);
    s->impact = impact + 1;
    cfg_oncall_service(c, item, path, s);
}

/* Allocates room for every entry of a list so the item callbacks can fill it. */
void *cfg_alloc_list(struct cfg_ctx *c, const json_t *root, const char *key, size_t size)
{
    const json_t *v = json_object_get(root, key);
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    void *p = calloc(n ? n : 1, size);
    if (!p)
        cfg_errors_add(c->errs, "%s: out of memory", c->file);
    return p;
}

/*
 * Parses an Alertmanager-style matcher: name, operator (=, !=, =~, !~) and a
 * value that is either double-quoted (with \" \\ \n escapes) or the rest of
 * the string. Fills m->name, m->value and m->op; returns 0 or -1 with err.
 */
static int cfg_matcher_parse(const char *s, struct matcher *m, char *err, size_t errlen)
{
    const char *p = s, *name;
    while (*p == ' ' || *p == '\t')
        p++;
    name = p;
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_')) {
        snprintf(err, errlen, "matcher must start with a label name");
        return -1;
    }
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           *p == '_')
        p++;
    size_t nlen = (size_t)(p - name);
    while (*p == ' ' || *p == '\t')
        p++;
    if (p[0] == '=' && p[1] == '~') {
        m->op = MATCH_RE;
        p += 2;
    } else if (p[0] == '!' && p[1] == '~') {
        m->op = MATCH_NRE;
        p += 2;
    } else if (p[0] == '!' && p[1] == '=') {
        m->op = MATCH_NEQ;
        p += 2;
    } else if (p[0] == '=') {
        m->op = MATCH_EQ;
        p += 1;
    } else {
        snprintf(err, errlen, "expected =, !=, =~ or !~ after the label name");
        return -1;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    char *value = malloc(strlen(p) + 1);
    if (!value) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (*p == '"') {
        char *w = value;
        for (p++; *p && *p != '"'; p++) {
            if (*p == '\\' && p[1]) {
                p++;
                *w++ = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
            } else {
                *w++ = *p;
            }
        }
        *w = '\0';
        if (*p != '"') {
            free(value);
            snprintf(err, errlen, "unterminated quoted value");
            return -1;
        }
        for (p++; *p == ' ' || *p == '\t'; p++)
            ;
        if (*p) {
            free(value);
            snprintf(err, errlen, "unexpected text after the quoted value");
            return -1;
        }
    } else {
        size_t len = strlen(p);
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        memcpy(value, p, len);
        value[len] = '\0';
    }
    m->name = strndup(name, nlen);
    m->value = value;
    if (!m->name) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Compiles the anchored regex of an =~ / !~ matcher. On failure the matcher
 * has no compiled expression (freeing it stays safe); the config is
 * discarded anyway because an error was reported. */
static void cfg_matcher_compile(struct cfg_ctx *c, struct matcher *m, const char *path)
{
    char why[512];
    if (matcher_compile(m, why, sizeof(why)) != 0)
        cfg_err(c, path, false, "%s", why);
}

int config_matcher_parse(const char *text, struct matcher *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof(*m));
    if (strlen(text) > 4096) {
        snprintf(err, errlen, "matcher is longer than 4096 bytes");
        return -1;
    }
    if (cfg_matcher_parse(text, m, err, errlen) != 0)
        goto fail;
    if (matcher_compile(m, err, errlen) != 0)
        goto fail;
    return 0;
fail:
    free(m->name);
    free(m->value);
    memset(m, 0, sizeof(*m));
    return -1;
}

void config_matcher_free(struct matcher *m)
{
    matcher_free(m);
}

static void cfg_route_matchers(struct cfg_ctx *c, const json_t *obj, const char *path,
                               struct route *r)
{
    const json_t *match = NULL, *list = NULL;
    cfg_object(c, obj, path, "match", &match);
    cfg_list(c, obj, path, "matchers", &list);
    size_t n = (match ? json_object_size(match) : 0) + (list ? json_array_size(list) : 0);
    if (!n)
        return;
    r->matchers = calloc(n, sizeof(*r->matchers));
    if (!r->matchers) {
        cfg_errors_add(c->errs, "%s: out of memory", c->file);
        return;
    }
    char *mpath = yaml_path_key(path, "match");
    const char *key;
    json_t *v;
    if (match && mpath) {
        json_object_foreach((json_t *)match, key, v)
        {
            if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
                cfg_err_field(c, mpath, key, false, "match values must be strings, not %s",
                              cfg_type_name(v));
                continue;
            }
            struct matcher *m = &r->matchers[r->n_matchers++];
            m->op = MATCH_EQ;
            m->name = cfg_strdup(c, key);
            m->value = cfg_strdup(c, json_string_value(v));
        }
    }
    free(mpath);
    if (!list)
        return;
    size_t i;
    json_array_foreach(list, i, v)
    {
        char *base = yaml_path_key(path, "matchers");
        char *ipath = base ? yaml_path_index(base, i) : NULL;
        free(base);
        if (!ipath)
            break;
        char err[128];
        struct matcher tmp = {0};
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
            cfg_err(c, ipath, false, "matchers must be strings such as 'env!=\"dev\"'");
        } else if (cfg_matcher_parse(json_string_value(v), &tmp, err, sizeof(err)) < 0) {
            free(tmp.name);
            free(tmp.value);
            cfg_err(c, ipath, false, "invalid matcher \"%.128s\": %s", json_string_value(v), err);
        } else {
            r->matchers[r->n_matchers] = tmp;
            cfg_matcher_compile(c, &r->matchers[r->n_matchers++], ipath);
        }
        free(ipath);
    }
}

static void cfg_route_group_by(struct cfg_ctx *c, const json_t *obj, const char *path,
                               struct route *r, const struct route *parent)
{
    const json_t *list = NULL;
    int rc = cfg_list(c, obj, path, "group_by", &list);
    if (rc <= 0) {
        /* Inherit; the root's default is one incident per alert name. */
        r->group_by_all = parent ? parent->group_by_all : false;
        size_t n = parent ? parent->n_group_by : 1;
        r->group_by = calloc(n ? n : 1, sizeof(char *));
        if (!r->group_by)
            return;
        for (size_t i = 0; i < n; i++)
            r->group_by[r->n_group_by++] =
                cfg_strdup(c, parent ? parent->group_by[i] : "alertname");
        return;
    }
    size_t n = json_array_size(list), i;
    const json_t *v;
    r->group_by = calloc(n ? n : 1, sizeof(char *));
    if (!r->group_by)
        return;
    char *base = yaml_path_key(path, "group_by");
    if (!base)
        return;
    json_array_foreach(list, i, v)
    {
        char *ipath = yaml_path_index(base, i);
        if (!ipath)
            break;
        const char *s = json_string_value(v);
        if (!json_is_string(v) || !*s || strlen(s) != json_string_length(v)) {
            cfg_err(c, ipath, false, "group_by entries must be non-empty label names");
        } else if (strcmp(s, "...") == 0) {
            if (n != 1)
                cfg_err(c, ipath, false,
                        "\"...\" (every label) cannot be combined with other "
                        "labels");
            r->group_by_all = true;
        } else {
            bool dup = false;
            for (size_t j = 0; j < r->n_group_by && !dup; j++)
                dup = strcmp(r->group_by[j], s) == 0;
            if (dup)
                cfg_err(c, ipath, false, "duplicate label \"%.128s\" in group_by", s);
            else
                r->group_by[r->n_group_by++] = cfg_strdup(c, s);
        }
        free(ipath);
    }
    free(base);
}

/*
 * Builds one route node (and its subtree) from obj at path. The root takes
 * only the settings that make sense for a node that matches everything.
 */
static void cfg_route(struct cfg_ctx *c, const json_t *obj, const char *path, struct route *r,
                      const struct route *parent, const char *id)
{
    static const char *const root_keys[] = {"group_by",          "group_window", "service",
                                            "escalation_policy", "notify",       NULL};
    static const char *const keys[] = {"match",   "matchers", "group_by",          "group_window",
                                       "service", "continue", "escalation_policy", "notify",
                                       "routes",  NULL};
    const char *svc;

    r->id = cfg_strdup(c, id);
    cfg_check_keys(c, obj, path, parent ? keys : root_keys);
    if (parent)
        cfg_route_matchers(c, obj, path, r);
    cfg_route_group_by(c, obj, path, r, parent);

    r->group_window_ms = parent ? parent->group_window_ms : 0;
    cfg_duration(c, obj, path, "group_window", &r->group_window_ms);

    const char *inherited = parent ? parent->service : NULL;
    if (json_object_get(obj, "service") && !cfg_field(obj, "service"))
        inherited = NULL; /* service: null clears what the parent set */
    int rc = cfg_string(c, obj, path, "service", false, &svc);
    if (rc > 0) {
        if (!config_find_service(c->cfg, svc))
            cfg_err_field(c, path, "service", false, "unknown service \"%.128s\"", svc);
        else
            r->service = cfg_strdup(c, svc);
    } else if (rc == 0 && inherited) {
        r->service = cfg_strdup(c, inherited);
    }
    cfg_oncall_route(c, obj, path, r, parent);
    if (parent)
        cfg_bool(c, obj, path, "continue", &r->cont);
}

static void cfg_route_children(struct cfg_ctx *c, const json_t *obj, const char *objpath,
                               struct route *r, int depth)
{
    const json_t *list;
    if (cfg_list(c, obj, objpath, "routes", &list) <= 0 || !json_array_size(list))
        return;
    char *base = yaml_path_key(objpath, "routes");
    if (!base)
        return;
    if (depth >= CFG_MAX_ROUTE_DEPTH) {
        cfg_err(c, base, false, "routes are nested deeper than %d levels", CFG_MAX_ROUTE_DEPTH);
        free(base);
        return;
    }
    r->routes = calloc(json_array_size(list), sizeof(*r->routes));
    if (!r->routes) {
        free(base);
        return;
    }
    size_t i;
    const json_t *item;
    json_array_foreach(list, i, item)
    {
        char *path = yaml_path_index(base, i);
        char id[256];
        if (!path)
            break;
        if (strcmp(r->id ? r->id : "root", "root") == 0)
            snprintf(id, sizeof(id), "%zu", i);
        else
            snprintf(id, sizeof(id), "%s.%zu", r->id, i);
        if (!json_is_object(item)) {
            cfg_err(c, path, false, "each route must be a mapping, not %s", cfg_type_name(item));
        } else {
            struct route *child = &r->routes[r->n_routes++];
            cfg_route(c, item, path, child, r, id);
            cfg_route_children(c, item, path, child, depth + 1);
        }
        free(path);
    }
    free(base);
}

static void cfg_priority_matrix(struct cfg_ctx *c, const json_t *root)
{
    static const int def[3][3] = {{1, 2, 3}, {2, 3, 4}, {3, 4, 5}};
    memcpy(c->cfg->priority, def, sizeof(def));
    const json_t *m;
    if (cfg_list(c, root, "", "priority_matrix", &m) <= 0)
        return;
    if (json_array_size(m) != 3) {
        cfg_err(c, "priority_matrix", false,
                "priority_matrix must have 3 rows (impact high, medium, low)");
        return;
    }
    for (size_t i = 0; i < 3; i++) {
        const json_t *row = json_array_get(m, i);
        char *rpath = yaml_path_index("priority_matrix", i);
        if (!rpath)
            return;
        if (!json_is_array(row) || json_array_size(row) != 3) {
            cfg_err(c, rpath, false,
                    "each priority_matrix row must be a list of 3 priorities (urgency high, "
                    "medium, low)");
        } else {
            for (size_t j = 0; j < 3; j++) {
                const json_t *v = json_array_get(row, j);
                if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 5) {
                    char *cpath = yaml_path_index(rpath, j);
                    cfg_err(c, cpath ? cpath : rpath, false,
                            "priorities must be integers from 1 to 5");
                    free(cpath);
                } else {
                    c->cfg->priority[i][j] = (int)json_integer_value(v);
                }
            }
        }
        free(rpath);
    }
}

/* HOST:PORT where HOST is a name, an IPv4 address or a bracketed IPv6 one. */
static bool cfg_listen_valid(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || !colon[1] || strlen(colon + 1) > 5)
        return false;
    long port = 0;
    for (const char *p = colon + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        port = port * 10 + (*p - '0');
    }
    if (port > 65535)
        return false;
    if (s[0] == '[')
        return colon[-1] == ']' && colon - s > 2;
    for (const char *p = s; p < colon; p++) {
        if (*p == ':' || *p == ' ' || *p == '[' || *p == ']' || (unsigned char)*p < 0x20)
            return false;
    }
    return true;
}

static void cfg_top_scalars(struct cfg_ctx *c, const json_t *root)
{
    struct config *cfg = c->cfg;
    const char *s;
    const json_t *o;

    if (cfg_string(c, root, "", "listen", false, &s) > 0) {
        if (!cfg_listen_valid(s))
            cfg_err(c, "listen", false, "invalid listen address \"%.128s\" (expected HOST:PORT)",
                    s);
        else {
            free(cfg->listen);
            cfg->listen = cfg_strdup(c, s);
        }
    }
    if (cfg_string(c, root, "", "data_dir", false, &s) > 0) {
        if (!*s)
            cfg_err(c, "data_dir", false, "data_dir must not be empty");
        else {
            free(cfg->data_dir);
            cfg->data_dir = cfg_strdup(c, s);
        }
    }
    if (cfg_string(c, root, "", "log_level", false, &s) > 0 &&
        log_level_parse(s, &cfg->log_level) < 0)
        cfg_err(c, "log_level", false,
                "invalid log_level \"%.64s\" (expected debug, info, warn or error)", s);
    if (cfg_object(c, root, "", "storage", &o) > 0) {
        static const char *const keys[] = {"sync", "keep_raw_intake", NULL};
        static const char *const syncs[] = {"full", "normal"};
        int sync = 0;
        cfg_check_keys(c, o, "storage", keys);
        cfg_enum(c, o, "storage", "sync", syncs, 2, &sync);
        cfg->sync_full = sync == 0;
        cfg_bool(c, o, "storage", "keep_raw_intake", &cfg->keep_raw_intake);
    }
    if (cfg_object(c, root, "", "intake", &o) > 0) {
        static const char *const keys[] = {"max_body_bytes", "queue_limit", NULL};
        json_int_t v;
        cfg_check_keys(c, o, "intake", keys);
        if (cfg_integer(c, o, "intake", "max_body_bytes", 1024, 64 * 1024 * 1024, &v) > 0)
            cfg->max_body_bytes = (size_t)v;
        if (cfg_integer(c, o, "intake", "queue_limit", 100, 10000000, &v) > 0)
            cfg->queue_limit = (size_t)v;
    }
}

struct config *config_from_json(const json_t *root, const char *path,
                                const struct yaml_positions *pos, struct cfg_errors *errs)
{
    static const char *const keys[] = {"listen",          "data_dir",
                                       "log_level",       "storage",
                                       "intake",          "api_tokens",
                                       "integrations",    "services",
                                       "default_route",   "routes",
                                       "priority_matrix", "scheduler",
                                       "host_files",      "templates",
                                       "hosts",           "checks",
                                       "heartbeats",      "downtimes",
                                       "users",           "teams",
                                       "schedules",       "escalation_policies",
                                       "channels",        "notifications",
                                       "metrics",         "scrape",
                                       "rule_settings",   "rules",
                                       "rule_files",      NULL};
    struct cfg_ctx ctx = {.file = path, .pos = pos, .errs = errs};
    struct cfg_ctx *c = &ctx;
    size_t n0 = errs->n;
    json_t *empty = NULL;

    struct config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg) {
        cfg_errors_add(errs, "%s: out of memory", path);
        return NULL;
    }
    c->cfg = cfg;
    cfg->path = cfg_strdup(c, path);
    cfg->listen = cfg_strdup(c, "127.0.0.1:8080");
    cfg->data_dir = cfg_strdup(c, "./tocsin-data");
    cfg->log_level = LOG_INFO;
    cfg->sync_full = true;
    cfg->max_body_bytes = 1024 * 1024;
    cfg->queue_limit = 50000;

    if (!root || json_is_null(root)) {
        root = empty = json_object();
        if (!empty) {
            cfg_errors_add(errs, "%s: out of memory", path);
            goto out;
        }
    } else if (!json_is_object(root)) {
        cfg_err(c, "", false, "the configuration must be a mapping, not %s", cfg_type_name(root));
        goto out;
    }

    cfg_check_keys(c, root, "", keys);
    cfg_top_scalars(c, root);

    if (!(cfg->tokens = cfg_alloc_list(c, root, "api_tokens", sizeof(*cfg->tokens))) ||
        !(cfg->integrations =
              cfg_alloc_list(c, root, "integrations", sizeof(*cfg->integrations))) ||
        !(cfg->services = cfg_alloc_list(c, root, "services", sizeof(*cfg->services))))
        goto out;
    /* Services and routes name escalation policies and channels. */
    cfg_oncall_build(c, root);
    cfg_items(c, root, "api_tokens", cfg_token_item);
    cfg_items(c, root, "integrations", cfg_integration_item);
    cfg_items(c, root, "services", cfg_service_item);

    /* Services come first: routes refer to them by name. */
    const json_t *droute = NULL;
    json_t *droute_empty = NULL;
    if (cfg_object(c, root, "", "default_route", &droute) <= 0)
        droute = droute_empty = json_object();
    if (droute) {
        cfg_route(c, droute, "default_route", &cfg->root, NULL, "root");
        cfg_route_children(c, root, "", &cfg->root, 0);
    }
    json_decref(droute_empty);
    cfg_priority_matrix(c, root);
    cfg_checks_build(c, root);
    cfg_metrics_build(c, root);
    cfg_rules_build(c, root);

out:
    json_decref(empty);
    if (errs->n != n0) {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

static void config_route_free(struct route *r)
{
    free(r->id);
    for (size_t i = 0; i < r->n_matchers; i++) {
        matcher_free(&r->matchers[i]);
    }
    free(r->matchers);
    for (size_t i = 0; i < r->n_group_by; i++)
        free(r->group_by[i]);
    free(r->group_by);
    free(r->service);
    cfg_oncall_route_free(r);
    for (size_t i = 0; i < r->n_routes; i++)
        config_route_free(&r->routes[i]);
    free(r->routes);
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    free(cfg->listen);
    free(cfg->data_dir);
    for (size_t i = 0; i < cfg->n_tokens; i++) {
        free(cfg->tokens[i].name);
        if (cfg->tokens[i].token)
            sodium_memzero(cfg->tokens[i].token, strlen(cfg->tokens[i].token));
        free(cfg->tokens[i].token);
    }
    free(cfg->tokens);
    for (size_t i = 0; i < cfg->n_integrations; i++) {
        free(cfg->integrations[i].name);
        if (cfg->integrations[i].key)
            sodium_memzero(cfg->integrations[i].key, strlen(cfg->integrations[i].key));
        free(cfg->integrations[i].key);
    }
    free(cfg->integrations);
    for (size_t i = 0; i < cfg->n_services; i++) {
        free(cfg->services[i].name);
        free(cfg->services[i].description);
        cfg_oncall_service_free(&cfg->services[i]);
    }
    free(cfg->services);
    config_route_free(&cfg->root);
    cfg_checks_free(cfg);
    cfg_oncall_free(cfg);
    cfg_metrics_free(cfg);
    cfg_rules_free(cfg);
    free(cfg);
}

struct config *config_default(void)
{
    struct cfg_errors errs = {0};
    struct config *cfg = config_from_json(NULL, "(defaults)", NULL, &errs);
    cfg_errors_free(&errs);
    return cfg;
}

const struct cfg_token *config_find_token(const struct config *cfg, const char *secret)
{
    const struct cfg_token *found = NULL;
    size_t len = strlen(secret);
    /* Every token is compared so the time taken does not reveal which one
     * (or how many) came before the match. */
    for (size_t i = 0; i < cfg->n_tokens; i++) {
        const char *t = cfg->tokens[i].token;
        if (t && strlen(t) == len && sodium_memcmp(t, secret, len) == 0 && !found)
            found = &cfg->tokens[i];
    }
    return found;
}

/*
 * A number of bytes: an integer, or a string of digits and a unit: B, KB,
 * MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), with
 * an optional space between. Must lie within [min, max].
 */
int cfg_size(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key, uint64_t min,
             uint64_t max, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {{"", 1},
                 {"B", 1},
                 {"KB", 1000ull},
                 {"MB", 1000000ull},
                 {"GB", 1000000000ull},
                 {"TB", 1000000000000ull},
                 {"KiB", 1ull << 10},
                 {"MiB", 1ull << 20},
                 {"GiB", 1ull << 30},
                 {"TiB", 1ull << 40}};
    const json_t *v = cfg_field(obj, key);
    uint64_t n = 0;
    bool ok = false;
    if (!v)
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        n = (uint64_t)json_integer_value(v);
        ok = true;
    } else if (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v)) {
        const char *p = json_string_value(v), *start = p;
        while (*p >= '0' && *p <= '9' && n <= UINT64_MAX / 10 / 1024)
            n = n * 10 + (uint64_t)(*p++ - '0');
        if (p > start && !(*p >= '0' && *p <= '9')) {
            if (*p == ' ')
                p++;
            for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && !ok; i++) {
                if (strcmp(p, units[i].unit) == 0 && n <= UINT64_MAX / units[i].mult) {
                    n *= units[i].mult;
                    ok = true;
                }
            }
        }
    }
    if (!ok) {
        cfg_err_field(c, path, key, false,
                      "%s must be a size such as \"512MB\" or \"32MiB\" (or a number of bytes)",
                      key);
        return -1;
    }
    if (n < min || n > max) {
        cfg_err_field(c, path, key, false, "%s must be between %llu and %llu bytes", key,
                      (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *out = n;
    return 1;
}

const struct cfg_integration *config_find_integration_key(const struct config *cfg, const char *key)
{
    const struct cfg_integration *found = NULL;
    size_t len = strlen(key);
    for (size_t i = 0; i < cfg->n_integrations; i++) {
        const char *k = cfg->integrations[i].key;
        if (k && strlen(k) == len && sodium_memcmp(k, key, len) == 0 && !found)
            found = &cfg->integrations[i];
    }
    return found;
}

const struct cfg_service *config_find_service(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_services; i++) {
        if (cfg->services[i].name && strcmp(cfg->services[i].name, name) == 0)
            return &cfg->services[i];
    }
    return NULL;
}

const struct cfg_rule *config_find_rule(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_rules; i++) {
        if (cfg->rules[i].name && strcmp(cfg->rules[i].name, name) == 0)
            return &cfg->rules[i];
    }
    return NULL;
}

int config_urgency(enum severity sev)
{
    switch (sev) {
    case SEV_CRITICAL:
    case SEV_ERROR:
        return 1;
    case SEV_WARNING:
        return 2;
    default:
        return 3;
    }
}

int config_priority(const struct config *cfg, int impact, enum severity sev)
{
    if (impact < 1 || impact > 3)
        impact = 2;
    return cfg->priority[impact - 1][config_urgency(sev) - 1];
}

const char *integration_type_name(enum integration_type t)
{
    return (unsigned)t < 4 ? cfg_type_names[t] : "unknown";
}

const char *role_name(enum role r)
{
    return (unsigned)r < 3 ? cfg_role_names[r] : "unknown";
}
