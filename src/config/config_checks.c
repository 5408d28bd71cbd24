/*
 * config_checks.c - the monitoring half of the configuration: scheduler
 * settings, host files, templates, hosts, checks (with apply rules and
 * per-host overrides), heartbeats and downtimes.
 *
 * The scheduler wants a flat list: one struct cfg_check per check on a host,
 * every default filled in and every macro expanded. Building it takes two
 * passes. The first reads each template, host and check object once, so that
 * each problem in it is reported once at its own FILE:LINE:COL. The second
 * expands: for every (check, host) pair it reads the layers - the templates
 * in `use` order, the check itself, the host's override - into one instance,
 * each layer replacing what the ones before it set. Because the second pass
 * reads the same objects again, what it would report about a single object
 * goes to a scratch list; only problems of the combination (no layer gave a
 * tcp check its port, a duplicate id, a missing dependency) are reported
 * there, and identical messages from many hosts are folded into one.
 *
 * Host names, check ids and heartbeat keys are looked up through hash maps
 * (base/strmap.h) built here, so a file with thousands of hosts and a few
 * apply rules loads in time linear in hosts x rules, and the scheduler and
 * the intake find things in constant time.
 */
#include "config_checks_int.h"
#include "config_yaml.h"
#include "../base/recur.h"
#include "../base/strmap.h"
#include "../base/timefmt.h"
#include "../base/tz.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const ck_type_names[] = {"command", "tcp", "http", "passive"};
static const char *const ck_state_names[] = {"ok", "warning", "critical", "unknown"};

static const char *const ck_check_keys[] = {"name", "host",    "hosts", "apply",
                                            "use",  CK_FIELDS, NULL};
static const char *const ck_tpl_keys[] = {"name", "use", CK_FIELDS, NULL};

/* ---- Small helpers ---- */

/* "FILE:LINE:COL" of the node at path, or the path itself without positions. */
void ck_where(const struct cfg_ctx *c, const char *path, char *buf, size_t size)
{
    struct yaml_pos p;
    if (c->pos && yaml_positions_get(c->pos, path, false, &p))
        snprintf(buf, size, "%s:%u:%u", c->file, p.line, p.col);
    else
        snprintf(buf, size, "%s", *path ? path : c->file);
}

void ck_oom(struct cfg_ctx *c)
{
    cfg_errors_add(c->errs, "%s: out of memory", c->file);
}

char *ck_key_path(struct cfg_ctx *c, const char *parent, const char *key)
{
    char *p = yaml_path_key(parent, key);
    if (!p)
        ck_oom(c);
    return p;
}

char *ck_index_path(struct cfg_ctx *c, const char *parent, size_t i)
{
    char *p = yaml_path_index(parent, i);
    if (!p)
        ck_oom(c);
    return p;
}

/* Replaces *dst with a copy of s. */
void ck_set_str(struct cfg_ctx *c, char **dst, const char *s)
{
    free(*dst);
    *dst = cfg_strdup(c, s);
}

/* ---- Field readers the shared ones do not cover ---- */

/* A positive duration. */
int ck_positive_duration(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                         int64_t *out)
{
    int64_t ms;
    int rc = cfg_duration(c, obj, path, key, &ms);
    if (rc <= 0)
        return rc;
    if (ms <= 0) {
        cfg_err_field(c, path, key, false, "%s must be greater than zero", key);
        return -1;
    }
    *out = ms;
    return 1;
}

/* A number (integer or not) in [min, max]. */
static int ck_number(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                     double min, double max, double *out)
{
    const json_t *v = cfg_field(obj, key);
    if (!v)
        return 0;
    if (!json_is_number(v) || json_number_value(v) < min || json_number_value(v) > max) {
        cfg_err_field(c, path, key, false, "%s must be a number from %g to %g", key, min, max);
        return -1;
    }
    *out = json_number_value(v);
    return 1;
}

/* Seconds as a number (0.5) or a duration string ("500ms"). */
static int ck_seconds(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                      double *out)
{
    const json_t *v = cfg_field(obj, key);
    if (!v)
        return 0;
    if (json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) <= 86400) {
        *out = json_number_value(v);
        return 1;
    }
    int64_t ms;
    if (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) &&
        timefmt_parse_duration(json_string_value(v), &ms) == 0 && ms <= 86400000) {
        *out = (double)ms / 1000.0;
        return 1;
    }
    cfg_err_field(c, path, key, false, "%s must be seconds (0.5) or a duration such as \"500ms\"",
                  key);
    return -1;
}

/* The check state a stale passive check takes: a name or 0..3. */
static int ck_state(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                    int *out)
{
    const json_t *v = cfg_field(obj, key);
    if (!v)
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 3) {
        *out = (int)json_integer_value(v);
        return 1;
    }
    for (int i = 0; json_is_string(v) && i < 4; i++) {
        if (strcasecmp(json_string_value(v), ck_state_names[i]) == 0) {
            *out = i;
            return 1;
        }
    }
    cfg_err_field(c, path, key, false, "%s must be ok, warning, critical or unknown", key);
    return -1;
}

/* Label overlay: each pair of the mapping at key replaces the one in ls. */
int ck_labels(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
              struct labelset *ls)
{
    const json_t *o;
    if (cfg_object(c, obj, path, key, &o) <= 0)
        return 0;
    struct labelset tmp;
    char err[192];
    if (labels_from_json(o, &tmp, err, sizeof(err)) < 0) {
        cfg_err_field(c, path, key, false, "invalid %s: %s", key, err);
        return -1;
    }
    for (size_t i = 0; i < tmp.n; i++) {
        if (labels_set(ls, tmp.v[i].name, tmp.v[i].value) < 0)
            ck_oom(c);
    }
    labels_free(&tmp);
    return 1;
}

/* Validates a depends_on list: "HOST", "HOST!CHECK" or {check:, group:}. */
static bool ck_deps_valid(struct cfg_ctx *c, const json_t *obj, const char *path)
{
    static const char *const keys[] = {"check", "group", NULL};
    const json_t *list, *v;
    if (cfg_list(c, obj, path, "depends_on", &list) <= 0)
        return false;
    char *base = ck_key_path(c, path, "depends_on");
    size_t i;
    bool ok = true;
    json_array_foreach(list, i, v)
    {
        char *ipath = base ? ck_index_path(c, base, i) : NULL;
        const char *s;
        char err[160];
        if (!ipath)
            break;
        if (json_is_string(v)) {
            s = json_string_value(v);
            if (!*s || strlen(s) != json_string_length(v)) {
                cfg_err(c, ipath, false, "depends_on entries must not be empty");
                ok = false;
            } else if (!ck_macros_ok(s, err, sizeof(err))) {
                cfg_err(c, ipath, false, "%s", err);
                ok = false;
            }
        } else if (json_is_object(v)) {
            cfg_check_keys(c, v, ipath, keys);
            if (ck_macro_string(c, v, ipath, "check", &s) == 0) {
                cfg_err(c, ipath, true, "missing required field \"check\"");
                ok = false;
            }
            if (cfg_string(c, v, ipath, "group", false, &s) > 0 && !*s) {
                cfg_err_field(c, ipath, "group", false, "group must not be empty");
                ok = false;
            }
        } else {
            cfg_err(c, ipath, false,
                    "depends_on entries must be \"HOST\", \"HOST!CHECK\" or {check: ..., group: "
                    "...}, not %s",
                    cfg_type_name(v));
            ok = false;
        }
        free(ipath);
    }
    free(base);
    return ok;
}

/* Validates args: up to 9 strings or integers. */
static bool ck_args_valid(struct cfg_ctx *c, const json_t *obj, const char *path)
{
    const json_t *list, *v;
    if (cfg_list(c, obj, path, "args", &list) <= 0)
        return false;
    if (json_array_size(list) > CK_MAX_ARGS) {
        cfg_err_field(c, path, "args", false, "at most %d args ($ARG1$..$ARG9$)", CK_MAX_ARGS);
        return false;
    }
    char *base = ck_key_path(c, path, "args");
    size_t i;
    bool ok = true;
    json_array_foreach(list, i, v)
    {
        char *ipath = base ? ck_index_path(c, base, i) : NULL;
        char err[160];
        if (!ipath)
            break;
        if (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v)) {
            if (!ck_macros_ok(json_string_value(v), err, sizeof(err))) {
                cfg_err(c, ipath, false, "%s", err);
                ok = false;
            }
        } else if (!json_is_integer(v)) {
            cfg_err(c, ipath, false, "args must be strings or integers, not %s", cfg_type_name(v));
            ok = false;
        }
        free(ipath);
    }
    free(base);
    return ok;
}

/* ---- Check fields ---- */

static void ck_inst_init(struct ck_inst *in)
{
    memset(in, 0, sizeof(*in));
    in->type = -1;
    struct cfg_check *ck = &in->ck;
    ck->interval_ms = -1;
    ck->retry_interval_ms = -1;
    ck->timeout_ms = -1;
    ck->max_attempts = 3;
    ck->cert_warn_days = -1;
    ck->cert_crit_days = -1;
    ck->verify_tls = true;
    ck->stale_state = 3;
    ck->flap_detection = true;
    ck->flap_low = 20;
    ck->flap_high = 30;
    ck->severity = SEV_CRITICAL;
}

static void ck_check_free(struct cfg_check *ck)
{
    free(ck->id);
    free(ck->name);
    free(ck->host);
    free(ck->command);
    for (char **e = ck->env; e && *e; e++)
        free(*e);
    free(ck->env);
    free(ck->address);
    free(ck->send);
    free(ck->expect);
    free(ck->url);
    free(ck->method);
    free(ck->expect_body);
    free(ck->stale_output);
    labels_free(&ck->labels);
    free(ck->notes);
    free(ck->runbook);
    for (size_t i = 0; i < ck->n_deps; i++) {
        free(ck->deps[i].target);
        free(ck->deps[i].group);
    }
    free(ck->deps);
    memset(ck, 0, sizeof(*ck));
}

static void ck_inst_free(struct ck_inst *in)
{
    ck_check_free(&in->ck);
    free(in->deps_path);
    free(in->path);
}

/*
 * Reads the check fields obj gives into in, replacing what earlier layers
 * set (labels are overlaid pair by pair). `real` is the context messages
 * belong to; with quiet set they go there instead, for objects read again.
 */
static void ck_fields(struct cfg_ctx *real, const json_t *obj, const char *path, struct ck_inst *in,
                      struct cfg_errors *quiet)
{
    struct cfg_ctx qctx = *real;
    if (quiet)
        qctx.errs = quiet;
    struct cfg_ctx *c = &qctx;
    struct cfg_check *ck = &in->ck;
    const char *s;
    json_int_t i;
    char err[160];

    cfg_enum(c, obj, path, "type", ck_type_names, 4, &in->type);
    if (ck_macro_string(c, obj, path, "command", &s) > 0)
        ck_set_str(c, &ck->command, s);
    if (ck_args_valid(c, obj, path))
        in->args = cfg_field(obj, "args");
    if (ck_macro_string(c, obj, path, "address", &s) > 0)
        ck_set_str(c, &ck->address, s);
    if (cfg_integer(c, obj, path, "port", 1, 65535, &i) > 0)
        ck->port = (int)i;
    if (cfg_string(c, obj, path, "send", false, &s) > 0)
        ck_set_str(c, &ck->send, s);
    if (cfg_string(c, obj, path, "expect", false, &s) > 0)
        ck_set_str(c, &ck->expect, s);
    if (ck_macro_string(c, obj, path, "url", &s) > 0) {
        if (strncasecmp(s, "http://", 7) != 0 && strncasecmp(s, "https://", 8) != 0)
            cfg_err_field(c, path, "url", false, "url must start with http:// or https://");
        else
            ck_set_str(c, &ck->url, s);
    }
    if (cfg_string(c, obj, path, "method", false, &s) > 0) {
        bool ok = *s && strlen(s) <= 16;
        for (const char *p = s; *p; p++)
            ok &= *p >= 'A' && *p <= 'Z';
        if (!ok)
            cfg_err_field(c, path, "method", false,
                          "method must be an upper-case HTTP method such as GET or HEAD");
        else
            ck_set_str(c, &ck->method, s);
    }
    if (cfg_field(obj, "expect_status") &&
        cfg_integer(c, obj, path, "expect_status", 0, 599, &i) > 0) {
        if (i != 0 && i < 100)
            cfg_err_field(c, path, "expect_status", false,
                          "expect_status must be an HTTP status from 100 to 599 (0: any 2xx/3xx)");
        else
            ck->expect_status = (int)i;
    }
    if (cfg_string(c, obj, path, "expect_body", false, &s) > 0) {
        regex_t re;
        int rc = regcomp(&re, s, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            regerror(rc, &re, err, sizeof(err));
            cfg_err_field(c, path, "expect_body", false,
                          "invalid regular expression \"%.128s\": %s", s, err);
        } else {
            regfree(&re);
            ck_set_str(c, &ck->expect_body, s);
        }
    }
    cfg_bool(c, obj, path, "verify_tls", &ck->verify_tls);
    if (cfg_integer(c, obj, path, "cert_warn_days", 0, 3650, &i) > 0)
        ck->cert_warn_days = (int)i;
    if (cfg_integer(c, obj, path, "cert_crit_days", 0, 3650, &i) > 0)
        ck->cert_crit_days = (int)i;
    ck_seconds(c, obj, path, "warn_time", &ck->warn_time_s);
    ck_seconds(c, obj, path, "crit_time", &ck->crit_time_s);
    ck_positive_duration(c, obj, path, "interval", &ck->interval_ms);
    ck_positive_duration(c, obj, path, "retry_interval", &ck->retry_interval_ms);
    ck_positive_duration(c, obj, path, "timeout", &ck->timeout_ms);
    if (cfg_integer(c, obj, path, "max_attempts", 1, 100, &i) > 0)
        ck->max_attempts = (int)i;
    cfg_duration(c, obj, path, "freshness", &ck->freshness_ms);
    ck_state(c, obj, path, "stale_state", &ck->stale_state);
    if (cfg_string(c, obj, path, "stale_output", false, &s) > 0)
        ck_set_str(c, &ck->stale_output, s);
    cfg_bool(c, obj, path, "flap_detection", &ck->flap_detection);
    ck_number(c, obj, path, "flap_low", 0, 100, &ck->flap_low);
    ck_number(c, obj, path, "flap_high", 0, 100, &ck->flap_high);
    int sev = (int)ck->severity;
    cfg_enum(c, obj, path, "severity", cfg_severity_names, 4, &sev);
    ck->severity = (enum severity)sev;
    ck_labels(c, obj, path, "labels", &ck->labels);
    if (cfg_string(c, obj, path, "notes", false, &s) > 0)
        ck_set_str(c, &ck->notes, s);
    if (cfg_string(c, obj, path, "runbook", false, &s) > 0)
        ck_set_str(c, &ck->runbook, s);
    if (ck_deps_valid(c, obj, path)) {
        in->deps = cfg_field(obj, "depends_on");
        in->deps_ctx = real;
        free(in->deps_path);
        in->deps_path = cfg_strdup(c, path);
    }
    cfg_bool(c, obj, path, "disable", &in->disable);
}

/* Reads obj's check fields once with messages, to report its problems. */
void ck_fields_validate(struct cfg_ctx *c, const json_t *obj, const char *path)
{
    struct ck_inst tmp;
    ck_inst_init(&tmp);
    ck_fields(c, obj, path, &tmp, NULL);
    ck_inst_free(&tmp);
}

/* ---- Templates and `use` ---- */

static void ck_tpl_resolve(struct ck_build *b, struct ck_tpl *t);

void ck_layers_add(struct cfg_ctx *c, struct ck_layer **layers, size_t *n,
                   const struct ck_layer *add, size_t n_add)
{
    if (!n_add)
        return;
    struct ck_layer *v = realloc(*layers, (*n + n_add) * sizeof(*v));
    if (!v) {
        ck_oom(c);
        return;
    }
    memcpy(v + *n, add, n_add * sizeof(*v));
    *layers = v;
    *n += n_add;
}

/* Appends the layers of one used template named at ipath. */
static void ck_use_one(struct ck_build *b, struct cfg_ctx *c, const char *name, const char *ipath,
                       struct ck_layer **layers, size_t *n)
{
    struct ck_tpl *t = strmap_get(&b->tpl_names, name);
    if (!t) {
        cfg_err(c, ipath, false, "unknown template \"%.128s\"", name);
        return;
    }
    if (t->state == 1) {
        /* The chain from the template's first appearance back to itself. */
        char chain[512] = "";
        size_t from = 0;
        while (from < b->use_depth && b->use_stack[from] != t)
            from++;
        for (size_t k = from; k < b->use_depth; k++) {
            strncat(chain, b->use_stack[k]->name, sizeof(chain) - strlen(chain) - 1);
            strncat(chain, " -> ", sizeof(chain) - strlen(chain) - 1);
        }
        strncat(chain, name, sizeof(chain) - strlen(chain) - 1);
        cfg_err(c, ipath, false, "template cycle: %s", chain);
        return;
    }
    if (t->state == 0) {
        if (b->use_depth >= CK_MAX_USE_DEPTH) {
            cfg_err(c, ipath, false, "templates are nested deeper than %d levels",
                    CK_MAX_USE_DEPTH);
            return;
        }
        ck_tpl_resolve(b, t);
    }
    ck_layers_add(c, layers, n, t->layers, t->n_layers);
}

/* Reads `use` (a name or a list of names) of obj and appends, in order,
 * the layers of each template named. */
void ck_use(struct ck_build *b, struct cfg_ctx *c, const json_t *obj, const char *path,
            struct ck_layer **layers, size_t *n)
{
    const json_t *v = cfg_field(obj, "use");
    if (!v)
        return;
    char *upath = ck_key_path(c, path, "use");
    if (!upath)
        return;
    if (json_is_string(v)) {
        ck_use_one(b, c, json_string_value(v), upath, layers, n);
    } else if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e)
        {
            char *ipath = ck_index_path(c, upath, i);
            if (!ipath)
                break;
            if (!json_is_string(e))
                cfg_err(c, ipath, false, "use entries must be template names, not %s",
                        cfg_type_name(e));
            else
                ck_use_one(b, c, json_string_value(e), ipath, layers, n);
            free(ipath);
        }
    } else {
        cfg_err(c, upath, false, "use must be a template name or a list of them, not %s",
                cfg_type_name(v));
    }
    free(upath);
}

static void ck_tpl_resolve(struct ck_build *b, struct ck_tpl *t)
{
    t->state = 1;
    b->use_stack[b->use_depth++] = t;
    ck_use(b, b->c, t->obj, t->path, &t->layers, &t->n_layers);
    struct ck_layer own = {b->c, t->obj, t->path};
    ck_layers_add(b->c, &t->layers, &t->n_layers, &own, 1);
    b->use_depth--;
    t->state = 2;
}

static void ck_templates(struct ck_build *b, const json_t *root)
{
    struct cfg_ctx *c = b->c;
    const json_t *list, *item;
    if (cfg_list(c, root, "", "templates", &list) <= 0)
        return;
    b->tpls = calloc(json_array_size(list) + 1, sizeof(*b->tpls));
    if (!b->tpls) {
        ck_oom(c);
        return;
    }
    json_t *seen = json_object();
    size_t i;
    json_array_foreach(list, i, item)
    {
        char *path = ck_index_path(c, "templates", i);
        if (!path)
            break;
        if (!json_is_object(item)) {
            cfg_err(c, path, false, "each entry of templates must be a mapping, not %s",
                    cfg_type_name(item));
            free(path);
            continue;
        }
        struct ck_tpl *t = &b->tpls[b->n_tpls++];
        const char *name;
        t->obj = item;
        t->path = path;
        cfg_check_keys(c, item, path, ck_tpl_keys);
        if (cfg_name(c, item, path, &name) == 0) {
            if (strmap_get(&b->tpl_names, name)) {
                cfg_unique(c, seen, path, "name", name, "template name", false);
            } else {
                cfg_unique(c, seen, path, "name", name, "template name", false);
                t->name = name;
                if (strmap_put(&b->tpl_names, name, t) < 0)
                    ck_oom(c);
            }
        }
        ck_fields_validate(c, item, path);
    }
    json_decref(seen);
    /* Resolved after all are known, so a template may use one defined later. */
    for (size_t k = 0; k < b->n_tpls; k++) {
        if (b->tpls[k].name && b->tpls[k].state == 0)
            ck_tpl_resolve(b, &b->tpls[k]);
    }
}

/* ---- Checks ---- */

/* Looks up a host named at path (the value of host: or an entry of hosts:);
 * `seen` holds the ones already listed, so a host is not listed twice. */
static bool ck_def_host(struct ck_build *b, const char *name, const char *path, struct ck_def *d,
                        struct strmap *seen)
{
    const struct cfg_host *h = strmap_get(&b->ix->hosts, name);
    if (!h) {
        cfg_err(b->c, path, false, "unknown host \"%.128s\"", name);
        return false;
    }
    if (strmap_get(seen, name)) {
        cfg_err(b->c, path, false, "host \"%.128s\" is listed twice", name);
        return false;
    }
    if (strmap_put(seen, h->name, (void *)h) < 0)
        ck_oom(b->c);
    d->hosts[d->n_hosts++] = (size_t)(h - b->cfg->hosts);
    return true;
}

/* apply: {label: value, ...} (all equal) or a list of matcher strings. */
static void ck_def_apply(struct ck_build *b, const json_t *v, const char *apath, struct ck_def *d)
{
    struct cfg_ctx *c = b->c;
    size_t n = json_is_object(v) ? json_object_size(v) : json_is_array(v) ? json_array_size(v) : 0;
    d->is_apply = true;
    if (!json_is_object(v) && !json_is_array(v)) {
        cfg_err(c, apath, false,
                "apply must be a mapping of labels or a list of matchers such as "
                "'role=~\"web.*\"', not %s",
                cfg_type_name(v));
        return;
    }
    d->apply = calloc(n + 1, sizeof(*d->apply));
    if (!d->apply) {
        ck_oom(c);
        return;
    }
    if (json_is_object(v)) {
        const char *key;
        const json_t *e;
        json_object_foreach((json_t *)v, key, e)
        {
            if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e)) {
                cfg_err_field(c, apath, key, false, "apply values must be strings, not %s",
                              cfg_type_name(e));
                continue;
            }
            struct matcher *m = &d->apply[d->n_apply++];
            m->op = MATCH_EQ;
            m->name = cfg_strdup(c, key);
            m->value = cfg_strdup(c, json_string_value(e));
        }
        return;
    }
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e)
    {
        char *ipath = ck_index_path(c, apath, i), err[160];
        if (!ipath)
            break;
        if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e))
            cfg_err(c, ipath, false, "apply matchers must be strings such as 'role=\"web\"'");
        else if (config_matcher_parse(json_string_value(e), &d->apply[d->n_apply], err,
                                      sizeof(err)) < 0)
            cfg_err(c, ipath, false, "invalid matcher \"%.128s\": %s", json_string_value(e), err);
        else
            d->n_apply++;
        free(ipath);
    }
}

/* Whether a host's labels satisfy every matcher; a missing label is "". The
 * label "host" means the host's name unless the host sets it. */
static bool ck_applies(const struct ck_def *d, const struct cfg_host *h)
{
    for (size_t i = 0; i < d->n_apply; i++) {
        const struct matcher *m = &d->apply[i];
        const char *v = labels_get(&h->labels, m->name);
        if (!v)
            v = strcmp(m->name, "host") == 0 ? h->name : "";
        bool eq;
        if (m->op == MATCH_EQ || m->op == MATCH_NEQ)
            eq = strcmp(v, m->value) == 0;
        else
            eq = regexec(&m->re, v, 0, NULL, 0) == 0;
        if (eq != (m->op == MATCH_EQ || m->op == MATCH_RE))
            return false;
    }
    return true;
}

/* Reads one entry of checks (first pass). */
static void ck_def_read(struct ck_build *b, const json_t *obj, const char *path, struct ck_def *d)
{
    struct cfg_ctx *c = b->c;
    const char *name, *s;
    const json_t *v;

    d->path = cfg_strdup(c, path);
    cfg_check_keys(c, obj, path, ck_check_keys);
    if (cfg_name(c, obj, path, &name) == 0) {
        if (strchr(name, '!') || strchr(name, '$'))
            cfg_err_field(c, path, "name", false, "check names must not contain '!' or '$'");
        else
            d->name = name;
    }
    ck_use(b, c, obj, path, &d->layers, &d->n_layers);
    ck_fields_validate(c, obj, path);
    struct ck_layer own = {c, obj, d->path};
    if (d->path)
        ck_layers_add(c, &d->layers, &d->n_layers, &own, 1);

    /* Exactly one of host, hosts and apply says where the check runs. */
    static const char *const targets[] = {"host", "hosts", "apply"};
    const char *first = NULL;
    for (int t = 0; t < 3; t++) {
        if (!cfg_field(obj, targets[t]))
            continue;
        if (first) {
            cfg_err_field(c, path, targets[t], true, "%s cannot be combined with %s", targets[t],
                          first);
            d->name = NULL;
        } else {
            first = targets[t];
        }
    }
    if (!first) {
        cfg_err(c, path, false, "a check needs one of host, hosts or apply");
        d->name = NULL;
        return;
    }
    d->hosts = calloc(cfg_field(obj, "hosts") && json_is_array(cfg_field(obj, "hosts"))
                          ? json_array_size(cfg_field(obj, "hosts")) + 1
                          : 1,
                      sizeof(*d->hosts));
    if (!d->hosts) {
        ck_oom(c);
        d->name = NULL;
        return;
    }
    struct strmap seen = {0};
    if (cfg_string(c, obj, path, "host", false, &s) > 0) {
        char *hpath = ck_key_path(c, path, "host");
        if (hpath)
            ck_def_host(b, s, hpath, d, &seen);
        free(hpath);
    }
    if (cfg_list(c, obj, path, "hosts", &v) > 0) {
        char *base = ck_key_path(c, path, "hosts");
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e)
        {
            char *ipath = base ? ck_index_path(c, base, i) : NULL;
            if (!ipath)
                break;
            if (!json_is_string(e))
                cfg_err(c, ipath, false, "hosts entries must be host names, not %s",
                        cfg_type_name(e));
            else
                ck_def_host(b, json_string_value(e), ipath, d, &seen);
            free(ipath);
        }
        free(base);
    }
    strmap_free(&seen);
    if ((v = cfg_field(obj, "apply"))) {
        char *apath = ck_key_path(c, path, "apply");
        if (apath)
            ck_def_apply(b, v, apath, d);
        free(apath);
    }
}

/* NAME=value for a plugin's environment. */
static char *ck_env(const char *name, const char *value)
{
    char *s = NULL;
    return asprintf(&s, "%s=%s", name, value) < 0 ? NULL : s;
}

/*
 * Completes an instance once every layer is read: the type, what the type
 * requires, the defaults that depend on other fields, macros, labels and the
 * plugin environment. Problems are reported at the check's definition (path
 * in c); the same problem on many hosts gives the same message, folded into
 * one at the end.
 */
static void ck_finish(struct ck_build *b, struct ck_inst *in, const struct cfg_host *h)
{
    struct cfg_ctx *c = in->ctx;
    struct cfg_check *ck = &in->ck;
    const char *path = in->path;
    struct ck_macro_env env = {h, ck->name, b->cfg->scheduler.plugin_dir, in->args};

    if (in->type < 0) {
        if (!ck->command) {
            cfg_err(c, path, false,
                    "missing required field \"command\" (or a type: tcp, http or passive)");
            return;
        }
        in->type = CHECK_TYPE_COMMAND;
    }
    ck->type = (enum check_type)in->type;
    if (ck->type == CHECK_TYPE_COMMAND && !ck->command)
        cfg_err(c, path, false, "a command check needs a command");
    if (ck->type == CHECK_TYPE_TCP && !ck->port)
        cfg_err(c, path, false, "a tcp check needs a port");
    if (ck->type == CHECK_TYPE_HTTP && !ck->url)
        cfg_err(c, path, false, "an http check needs a url");
    if (ck->flap_low >= ck->flap_high)
        cfg_err(c, path, false, "flap_low (%g) must be below flap_high (%g)", ck->flap_low,
                ck->flap_high);

    if (ck->interval_ms < 0)
        ck->interval_ms = 60000;
    if (ck->retry_interval_ms < 0)
        ck->retry_interval_ms = ck->interval_ms;
    if (ck->timeout_ms < 0)
        ck->timeout_ms = ck->type == CHECK_TYPE_TCP || ck->type == CHECK_TYPE_HTTP ? 10000 : 60000;
    bool https = ck->type == CHECK_TYPE_HTTP && ck->url && strncasecmp(ck->url, "https://", 8) == 0;
    if (ck->cert_warn_days < 0)
        ck->cert_warn_days = https ? 14 : 0;
    if (ck->cert_crit_days < 0)
        ck->cert_crit_days = https ? 7 : 0;

    /* Macros: what the layers gave still holds them. */
    char **fields[] = {&ck->command, &ck->url, &ck->address};
    for (size_t i = 0; i < sizeof(fields) / sizeof(*fields); i++) {
        if (!*fields[i])
            continue;
        char *x = ck_expand(*fields[i], &env);
        if (!x) {
            ck_oom(c);
            continue;
        }
        free(*fields[i]);
        *fields[i] = x;
    }
    if (!ck->address)
        ck->address = cfg_strdup(c, h->address);

    if (labels_set(&ck->labels, "host", h->name) < 0 ||
        (*ck->name && labels_set(&ck->labels, "check", ck->name) < 0))
        ck_oom(c);

    if (ck->type == CHECK_TYPE_COMMAND) {
        ck->env = calloc(9, sizeof(char *));
        if (!ck->env) {
            ck_oom(c);
            return;
        }
        size_t n = 0;
        ck->env[n++] = ck_env("TOCSIN_HOSTNAME", h->name);
        ck->env[n++] = ck_env("TOCSIN_HOSTADDRESS", h->address);
        ck->env[n++] = ck_env("NAGIOS_HOSTNAME", h->name);
        ck->env[n++] = ck_env("NAGIOS_HOSTADDRESS", h->address);
        if (*ck->name) {
            ck->env[n++] = ck_env("TOCSIN_CHECK", ck->name);
            ck->env[n++] = ck_env("TOCSIN_SERVICEDESC", ck->name);
            ck->env[n++] = ck_env("NAGIOS_SERVICEDESC", ck->name);
        }
        /* Ahead of the server's environment, so it wins over an LC_ALL there. */
        if (b->cfg->scheduler.plugin_locale && *b->cfg->scheduler.plugin_locale)
            ck->env[n++] = ck_env("LC_ALL", b->cfg->scheduler.plugin_locale);
        for (size_t i = 0; i < n; i++) {
            if (!ck->env[i])
                ck_oom(c);
        }
    }
}

/* "FILE:LINE:COL" of an instance's definition: the check's name, or the
 * host's check: field. */
static void ck_inst_where(const struct ck_inst *in, char *buf, size_t size)
{
    char *npath = in->ck.is_host ? NULL : yaml_path_key(in->path, "name");
    ck_where(in->ctx, npath ? npath : in->path, buf, size);
    free(npath);
}

/*
 * Builds the instance of a check (name "" for the host check) on host hi
 * from its layers and, for a named check, the host's override.
 */
static void ck_make(struct ck_build *b, const char *name, const struct ck_layer *layers,
                    size_t n_layers, const char *cmd, size_t hi, struct cfg_ctx *c,
                    const char *path)
{
    const struct cfg_host *h = &b->cfg->hosts[hi];
    const struct ck_hsrc *src = &b->hsrc[hi];
    if (b->n_insts == b->cap_insts) {
        size_t cap = b->cap_insts ? b->cap_insts * 2 : 64;
        struct ck_inst *v = realloc(b->insts, cap * sizeof(*v));
        if (!v) {
            ck_oom(c);
            return;
        }
        b->insts = v;
        b->cap_insts = cap;
    }
    struct ck_inst *in = &b->insts[b->n_insts++];
    struct cfg_check *ck = &in->ck;
    ck_inst_init(in);
    in->ctx = c;
    in->path = cfg_strdup(c, path);
    in->host = hi;
    ck->is_host = !*name;
    ck->name = cfg_strdup(c, name);
    ck->host = cfg_strdup(c, h->name);
    if (*name) {
        if (asprintf(&ck->id, "%s!%s", h->name, name) < 0)
            ck->id = NULL;
    } else {
        ck->id = strdup(h->name);
    }
    if (!in->path || !ck->name || !ck->host || !ck->id) {
        ck_oom(c);
        ck_inst_free(in);
        b->n_insts--;
        return;
    }
    for (size_t i = 0; i < h->labels.n; i++) {
        if (labels_set(&ck->labels, h->labels.v[i].name, h->labels.v[i].value) < 0)
            ck_oom(c);
    }
    /* A layer with a bad field was reported in the first pass; checking the
     * combination too would only add consequential messages. */
    size_t quiet0 = b->scratch.n;
    for (size_t i = 0; i < n_layers; i++)
        ck_fields(layers[i].ctx, layers[i].obj, layers[i].path, in, &b->scratch);
    if (cmd)
        ck_set_str(c, &ck->command, cmd);
    const json_t *o = *name && src->overrides ? json_object_get(src->overrides, name) : NULL;
    if (o && json_is_object(o)) {
        char *base = ck_key_path(c, src->path, "overrides");
        char *opath = base ? ck_key_path(c, base, name) : NULL;
        if (opath)
            ck_fields(src->ctx, o, opath, in, &b->scratch);
        free(opath);
        free(base);
    }

    const void *prev = strmap_get(&b->ids, ck->id);
    if (prev) {
        char where[256], *npath = ck_key_path(c, path, "name");
        ck_inst_where(&b->insts[(uintptr_t)prev - 1], where, sizeof(where));
        cfg_err(c, npath ? npath : path, false, "duplicate check \"%s\" (first defined at %s)",
                ck->id, where);
        free(npath);
        in->disable = true; /* keeps the first one's place in the index */
        return;
    }
    if (strmap_put(&b->ids, ck->id, (void *)(uintptr_t)b->n_insts) < 0)
        ck_oom(c);
    if (!in->disable && b->scratch.n == quiet0)
        ck_finish(b, in, h);
}

/* Expands the host checks and then every check onto its hosts. */
static void ck_expand_checks(struct ck_build *b, const json_t *root)
{
    struct cfg_ctx *c = b->c;
    struct config *cfg = b->cfg;
    const json_t *list = NULL, *item;
    size_t i;

    for (size_t hi = 0; hi < cfg->n_hosts; hi++) {
        const struct ck_hsrc *src = &b->hsrc[hi];
        if (!cfg->hosts[hi].name || (!src->check_cmd && !src->n_check_layers))
            continue;
        char *cpath = ck_key_path(c, src->path, "check");
        if (cpath)
            ck_make(b, "", src->check_layers, src->n_check_layers, src->check_cmd, hi, src->ctx,
                    cpath);
        free(cpath);
    }

    if (cfg_list(c, root, "", "checks", &list) <= 0)
        return;
    b->defs = calloc(json_array_size(list) + 1, sizeof(*b->defs));
    if (!b->defs) {
        ck_oom(c);
        return;
    }
    json_array_foreach(list, i, item)
    {
        char *path = ck_index_path(c, "checks", i);
        if (!path)
            break;
        if (!json_is_object(item))
            cfg_err(c, path, false, "each entry of checks must be a mapping, not %s",
                    cfg_type_name(item));
        else
            ck_def_read(b, item, path, &b->defs[b->n_defs++]);
        free(path);
    }
    for (size_t k = 0; k < b->n_defs; k++) {
        const struct ck_def *d = &b->defs[k];
        if (!d->name || !d->path)
            continue;
        if (d->is_apply) {
            for (size_t hi = 0; hi < cfg->n_hosts; hi++) {
                if (cfg->hosts[hi].name && ck_applies(d, &cfg->hosts[hi]))
                    ck_make(b, d->name, d->layers, d->n_layers, NULL, hi, c, d->path);
            }
        } else {
            for (size_t j = 0; j < d->n_hosts; j++)
                ck_make(b, d->name, d->layers, d->n_layers, NULL, d->hosts[j], c, d->path);
        }
    }
}

/*
 * Every key of a host's overrides must name a check defined somewhere, to
 * catch typos. It need not run on the host: a list of hosts may carry
 * overrides for checks that only some apply rules give them.
 */
static void ck_overrides_known(struct ck_build *b)
{
    struct strmap names = {0};
    for (size_t k = 0; k < b->n_defs; k++) {
        if (b->defs[k].name && strmap_put(&names, b->defs[k].name, &b->defs[k]) < 0)
            ck_oom(b->c);
    }
    for (size_t hi = 0; hi < b->cfg->n_hosts; hi++) {
        const struct ck_hsrc *src = &b->hsrc[hi];
        const char *key;
        const json_t *o;
        if (!src->overrides)
            continue;
        json_object_foreach((json_t *)src->overrides, key, o)
        {
            if (strmap_get(&names, key))
                continue;
            char *base = ck_key_path(b->c, src->path, "overrides");
            if (base)
                cfg_err_field(src->ctx, base, key, true, "overrides: no check is named \"%.128s\"",
                              key);
            free(base);
        }
    }
    strmap_free(&names);
}

/* Resolves an instance's depends_on against every id. */
static void ck_deps(struct ck_build *b, struct ck_inst *in)
{
    struct cfg_ctx *c = in->deps_ctx;
    struct cfg_check *ck = &in->ck;
    const struct cfg_host *h = &b->cfg->hosts[in->host];
    struct ck_macro_env env = {h, ck->name, b->cfg->scheduler.plugin_dir, in->args};
    size_t n = json_array_size(in->deps), i;
    const json_t *e;
    ck->deps = calloc(n + 1, sizeof(*ck->deps));
    char *base = ck_key_path(c, in->deps_path, "depends_on");
    if (!ck->deps || !base) {
        ck_oom(c);
        free(base);
        return;
    }
    json_array_foreach(in->deps, i, e)
    {
        const char *target = json_is_string(e) ? json_string_value(e)
                                               : json_string_value(json_object_get(e, "check"));
        const json_t *g = json_is_object(e) ? cfg_field(e, "group") : NULL;
        char *ipath = ck_index_path(c, base, i);
        char *t = target ? ck_expand(target, &env) : NULL;
        if (!ipath || !t) {
            free(ipath);
            free(t);
            ck_oom(c);
            break;
        }
        uintptr_t at = (uintptr_t)strmap_get(&b->ids, t);
        if (!at || b->insts[at - 1].disable) {
            cfg_err(c, ipath, false, "unknown dependency target \"%.200s\"%s", t,
                    strchr(t, '!') ? "" : " (a host without a check: cannot be depended on)");
            free(t);
        } else if (strcmp(t, ck->id) == 0) {
            cfg_err(c, ipath, false, "check \"%s\" cannot depend on itself", ck->id);
            free(t);
        } else {
            struct cfg_dependency *dep = &ck->deps[ck->n_deps++];
            dep->target = t;
            dep->group = g && json_is_string(g) ? cfg_strdup(c, json_string_value(g)) : NULL;
        }
        free(ipath);
    }
    free(base);
}

/* The instance index of an enabled check id, or SIZE_MAX. */
static size_t ck_inst_of(const struct ck_build *b, const char *id)
{
    uintptr_t at = id ? (uintptr_t)strmap_get(&b->ids, id) : 0;
    return at && !b->insts[at - 1].disable ? (size_t)(at - 1) : SIZE_MAX;
}

/*
 * Edge e of instance i in the suppression graph: its depends_on targets
 * first, then for a service its host's check, for a host check its parents'.
 * Returns the target instance or SIZE_MAX, and whether the edge is a
 * depends_on entry.
 */
static size_t ck_dep_edge(const struct ck_build *b, size_t i, size_t e, bool *is_dep)
{
    const struct ck_inst *in = &b->insts[i];
    const struct cfg_host *h = &b->cfg->hosts[in->host];
    *is_dep = e < in->ck.n_deps;
    if (*is_dep)
        return ck_inst_of(b, in->ck.deps[e].target);
    e -= in->ck.n_deps;
    if (!in->ck.is_host)
        return e == 0 ? ck_inst_of(b, h->name) : SIZE_MAX;
    return e < h->n_parents ? ck_inst_of(b, h->parents[e]) : SIZE_MAX;
}

static size_t ck_dep_edges(const struct ck_build *b, size_t i)
{
    const struct ck_inst *in = &b->insts[i];
    return in->ck.n_deps + (in->ck.is_host ? b->cfg->hosts[in->host].n_parents : 1);
}

/*
 * A check suppressed while another is down must never, through depends_on,
 * its host or the host's parents, come back to itself: every check of such a
 * cycle could hold back every other's alert, and an outage would page no one.
 * Cycles of parents alone are reported with the hosts; this reports each
 * cycle that has a depends_on entry in it, at that entry's check.
 * Depth-first with an explicit stack, like the parents' check.
 */
static void ck_dep_cycles(struct ck_build *b)
{
    size_t n = b->n_insts;
    unsigned char *color = calloc(n + 1, 1); /* 0 new, 1 on the stack, 2 done */
    size_t *stack = calloc(n + 1, sizeof(*stack)), *next = calloc(n + 1, sizeof(*next));
    bool *via_dep = calloc(n + 1, sizeof(*via_dep)); /* edge into stack[k] is depends_on */
    if (!color || !stack || !next || !via_dep) {
        ck_oom(b->c);
        goto out;
    }
    for (size_t root = 0; root < n; root++) {
        if (color[root] || b->insts[root].disable)
            continue;
        size_t depth = 0;
        stack[depth++] = root;
        via_dep[0] = false;
        next[root] = 0;
        color[root] = 1;
        while (depth) {
            size_t i = stack[depth - 1];
            if (next[i] >= ck_dep_edges(b, i)) {
                color[i] = 2;
                depth--;
                continue;
            }
            bool dep;
            size_t t = ck_dep_edge(b, i, next[i]++, &dep);
            if (t == SIZE_MAX)
                continue;
            if (color[t] == 0) {
                color[t] = 1;
                next[t] = 0;
                via_dep[depth] = dep;
                stack[depth++] = t;
                continue;
            }
            if (color[t] != 1)
                continue;
            size_t from = 0;
            while (stack[from] != t)
                from++;
            /* The check whose depends_on entry is part of the cycle. */
            size_t at = dep ? i : SIZE_MAX;
            for (size_t k = from + 1; at == SIZE_MAX && k < depth; k++) {
                if (via_dep[k])
                    at = stack[k - 1];
            }
            if (at == SIZE_MAX)
                continue;
            char chain[512] = "";
            for (size_t k = from; k < depth; k++) {
                strncat(chain, b->insts[stack[k]].ck.id, sizeof(chain) - strlen(chain) - 1);
                strncat(chain, " -> ", sizeof(chain) - strlen(chain) - 1);
            }
            strncat(chain, b->insts[t].ck.id, sizeof(chain) - strlen(chain) - 1);
            struct ck_inst *in = &b->insts[at];
            char *path = ck_key_path(in->deps_ctx, in->deps_path, "depends_on");
            if (path)
                cfg_err(in->deps_ctx, path, false,
                        "dependency cycle: %s (each would hold back the others' alerts)", chain);
            free(path);
        }
    }
out:
    free(color);
    free(stack);
    free(next);
    free(via_dep);
}

/* Moves the enabled instances into cfg->checks and indexes them. */
static void ck_publish(struct ck_build *b)
{
    struct config *cfg = b->cfg;
    size_t n = 0;
    for (size_t i = 0; i < b->n_insts; i++)
        n += !b->insts[i].disable;
    cfg->checks = calloc(n + 1, sizeof(*cfg->checks));
    if (!cfg->checks) {
        ck_oom(b->c);
        return;
    }
    for (size_t i = 0; i < b->n_insts; i++) {
        struct ck_inst *in = &b->insts[i];
        if (in->disable)
            continue;
        struct cfg_check *ck = &cfg->checks[cfg->n_checks];
        *ck = in->ck;
        memset(&in->ck, 0, sizeof(in->ck));
        if (strmap_put(&b->ix->checks, ck->id, ck) < 0)
            ck_oom(b->c);
        if (ck->is_host)
            cfg->hosts[in->host].check = (ssize_t)cfg->n_checks;
        cfg->n_checks++;
    }
}

/* ---- Scheduler ---- */

static void ck_scheduler(struct cfg_ctx *c, const json_t *root)
{
    static const char *const keys[] = {"max_concurrent", "max_probes",    "max_output",
                                       "plugin_dir",     "plugin_locale", NULL};
    struct cfg_scheduler *s = &c->cfg->scheduler;
    const json_t *o;
    const char *dir;
    json_int_t v;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    /* Plugins mostly wait on the network, so twice the CPUs keeps a small
     * machine busy without letting a slow target pile up processes. */
    s->max_concurrent = cpus > 0 && cpus < 1024 ? (int)cpus * 2 : 4;
    if (s->max_concurrent < 4)
        s->max_concurrent = 4;
    s->max_probes = 1000;
    s->max_output = 65536;
    s->plugin_dir = cfg_strdup(c, "/usr/lib/nagios/plugins");
    /* Plugins run in the C locale unless told otherwise: their perfdata then
     * uses '.' decimals and their messages the English that regexes and
     * runbooks expect, and no locale files are loaded at every run (with
     * LANG=C.UTF-8, check_dummy opens 33 files; with LC_ALL=C, 3). */
    s->plugin_locale = cfg_strdup(c, "C");
    if (cfg_object(c, root, "", "scheduler", &o) <= 0)
        return;
    cfg_check_keys(c, o, "scheduler", keys);
    if (cfg_integer(c, o, "scheduler", "max_concurrent", 1, 4096, &v) > 0)
        s->max_concurrent = (int)v;
    if (cfg_integer(c, o, "scheduler", "max_probes", 1, 100000, &v) > 0)
        s->max_probes = (int)v;
    uint64_t bytes;
    if (cfg_size(c, o, "scheduler", "max_output", 1024, 16 * 1024 * 1024, &bytes) > 0)
        s->max_output = (size_t)bytes;
    if (cfg_string(c, o, "scheduler", "plugin_dir", false, &dir) > 0) {
        if (!*dir)
            cfg_err_field(c, "scheduler", "plugin_dir", false, "plugin_dir must not be empty");
        else
            ck_set_str(c, &s->plugin_dir, dir);
    }
    const char *loc;
    if (cfg_string(c, o, "scheduler", "plugin_locale", false, &loc) > 0) {
        size_t n =
            strspn(loc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.@-");
        if (loc[n] || n > 64)
            cfg_err_field(
                c, "scheduler", "plugin_locale", false,
                "plugin_locale must be a locale name such as C or de_DE.UTF-8 (at most 64 "
                "characters of A-Z a-z 0-9 _ . @ -), or \"\" for the server's own");
        else
            ck_set_str(c, &s->plugin_locale, loc);
    }
}

/* ---- Building and freeing ---- */

/* Folds identical messages into the first: an apply rule over thousands of
 * hosts reports a problem of the rule once. */
static void ck_fold_errors(struct cfg_errors *errs, size_t from)
{
    struct strmap seen = {0};
    size_t w = from;
    for (size_t i = from; i < errs->n; i++) {
        if (strmap_get(&seen, errs->msgs[i])) {
            free(errs->msgs[i]);
            continue;
        }
        errs->msgs[w] = errs->msgs[i];
        strmap_put(&seen, errs->msgs[w], errs->msgs[w]);
        w++;
    }
    errs->n = w;
    strmap_free(&seen);
}

static void ck_build_free(struct ck_build *b)
{
    for (size_t i = 0; i < b->n_files; i++) {
        free(b->files[i].name);
        json_decref(b->files[i].root);
        yaml_positions_free(b->files[i].pos);
    }
    free(b->files);
    for (size_t i = 0; i < b->n_tpls; i++) {
        free(b->tpls[i].path);
        free(b->tpls[i].layers);
    }
    free(b->tpls);
    strmap_free(&b->tpl_names);
    for (size_t i = 0; b->hsrc && i < b->cfg->n_hosts; i++) {
        free(b->hsrc[i].path);
        free(b->hsrc[i].check_layers);
        free(b->hsrc[i].check_path);
    }
    free(b->hsrc);
    for (size_t i = 0; i < b->n_defs; i++) {
        free(b->defs[i].path);
        free(b->defs[i].layers);
        free(b->defs[i].hosts);
        for (size_t j = 0; j < b->defs[i].n_apply; j++)
            config_matcher_free(&b->defs[i].apply[j]);
        free(b->defs[i].apply);
    }
    free(b->defs);
    for (size_t i = 0; i < b->n_insts; i++)
        ck_inst_free(&b->insts[i]);
    free(b->insts);
    strmap_free(&b->ids);
    cfg_errors_free(&b->scratch);
}

void cfg_checks_build(struct cfg_ctx *c, const json_t *root)
{
    struct config *cfg = c->cfg;
    struct ck_build b = {.c = c, .cfg = cfg};
    size_t n0 = c->errs->n;

    if (sodium_init() < 0) {
        cfg_errors_add(c->errs, "%s: libsodium failed to initialise", c->file);
        return;
    }
    cfg->checks_index = b.ix = calloc(1, sizeof(*b.ix));
    if (!b.ix) {
        ck_oom(c);
        return;
    }
    randombytes_buf(b.ix->digest_key, sizeof(b.ix->digest_key));

    /* Order matters: $USER1$ needs the scheduler, checks need every host,
     * dependencies need every check, downtimes name hosts and checks. */
    ck_scheduler(c, root);
    size_t n_file_hosts = ck_host_files(&b, root);
    ck_templates(&b, root);
    ck_hosts(&b, root, n_file_hosts);
    ck_expand_checks(&b, root);
    ck_overrides_known(&b);
    for (size_t i = 0; i < b.n_insts; i++) {
        if (!b.insts[i].disable && b.insts[i].deps)
            ck_deps(&b, &b.insts[i]);
    }
    ck_dep_cycles(&b);
    ck_publish(&b);
    ck_heartbeats(c, root, b.ix);
    cfg_downtimes_build(c, root);
    ck_build_free(&b);
    ck_fold_errors(c->errs, n0);
}

void cfg_checks_free(struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_hosts; i++) {
        struct cfg_host *h = &cfg->hosts[i];
        free(h->name);
        free(h->address);
        labels_free(&h->labels);
        for (size_t j = 0; j < h->n_parents; j++)
            free(h->parents[j]);
        free(h->parents);
        free(h->notes);
    }
    free(cfg->hosts);
    for (size_t i = 0; i < cfg->n_checks; i++)
        ck_check_free(&cfg->checks[i]);
    free(cfg->checks);
    for (size_t i = 0; i < cfg->n_heartbeats; i++) {
        struct cfg_heartbeat *hb = &cfg->heartbeats[i];
        free(hb->name);
        if (hb->key)
            sodium_memzero(hb->key, strlen(hb->key));
        free(hb->key);
        labels_free(&hb->labels);
        free(hb->notes);
    }
    free(cfg->heartbeats);
    for (size_t i = 0; i < cfg->n_downtimes; i++) {
        struct cfg_downtime *d = &cfg->downtimes[i];
        free(d->name);
        free(d->host);
        free(d->check);
        for (size_t j = 0; j < d->n_matchers; j++)
            config_matcher_free(&d->matchers[j]);
        free(d->matchers);
        free(d->comment);
    }
    free(cfg->downtimes);
    free(cfg->scheduler.plugin_dir);
    free(cfg->scheduler.plugin_locale);
    if (cfg->checks_index) {
        strmap_free(&cfg->checks_index->hosts);
        strmap_free(&cfg->checks_index->checks);
        strmap_free(&cfg->checks_index->heartbeats);
        free(cfg->checks_index->digests);
        sodium_memzero(cfg->checks_index->digest_key, sizeof(cfg->checks_index->digest_key));
        free(cfg->checks_index);
    }
}

const struct cfg_host *config_find_host(const struct config *cfg, const char *name)
{
    return cfg->checks_index ? strmap_get(&cfg->checks_index->hosts, name) : NULL;
}

const struct cfg_check *config_find_check(const struct config *cfg, const char *id)
{
    return cfg->checks_index ? strmap_get(&cfg->checks_index->checks, id) : NULL;
}
