/*
 * config_hosts.c - hosts: `hosts` in the file and the CSV or YAML files of
 * `host_files`, their labels, host checks and per-host overrides, and the
 * parents that make a host unreachable rather than down.
 */
#include "config_checks_int.h"
#include "config_yaml.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const ck_override_keys[] = {CK_FIELDS, NULL};
static const char *const ck_hostcheck_keys[] = {"use", CK_FIELDS, NULL};

static bool ck_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* Reads every file of host_files into b->files; returns how many hosts they hold. */
size_t ck_host_files(struct ck_build *b, const json_t *root)
{
    struct cfg_ctx *c = b->c;
    const json_t *list, *v;
    size_t i, n_hosts = 0;
    if (cfg_list(c, root, "", "host_files", &list) <= 0)
        return 0;
    b->files = calloc(json_array_size(list) + 1, sizeof(*b->files));
    if (!b->files) {
        ck_oom(c);
        return 0;
    }
    json_array_foreach(list, i, v)
    {
        char *ipath = ck_index_path(c, "host_files", i), err[256];
        const char *name = json_string_value(v);
        size_t len = 0;
        if (!ipath)
            break;
        if (!json_is_string(v) || !*name || strlen(name) != json_string_length(v)) {
            cfg_err(c, ipath, false, "host_files entries must be file names");
            free(ipath);
            continue;
        }
        bool csv = ck_ends_with(name, ".csv");
        if (!csv && !ck_ends_with(name, ".yaml") && !ck_ends_with(name, ".yml") &&
            !ck_ends_with(name, ".json")) {
            cfg_err(c, ipath, false, "host file \"%.200s\" must end in .csv, .yaml, .yml or .json",
                    name);
            free(ipath);
            continue;
        }
        char *full = ck_resolve_path(c->cfg->path, name);
        char *buf = full ? ck_read_file(full, &len, err, sizeof(err)) : NULL;
        if (!full)
            ck_oom(c);
        else if (!buf)
            cfg_err(c, ipath, false, "cannot read host file \"%.200s\": %s", full, err);
        if (!buf) {
            free(full);
            free(ipath);
            continue;
        }
        struct ck_file *f = &b->files[b->n_files++];
        f->name = full;
        size_t n0 = c->errs->n;
        if (csv) {
            ck_csv_file(f, buf, len, c->errs);
        } else if (yaml_read_buffer(full, buf, len, &f->root, &f->pos, c->errs) == 0 && f->root &&
                   !json_is_array(f->root)) {
            cfg_errors_add(c->errs, "%s:1:1: a host file must be a list of hosts, not %s", full,
                           cfg_type_name(f->root));
        }
        if (c->errs->n != n0 || !json_is_array(f->root)) {
            json_decref(f->root);
            f->root = NULL;
        }
        f->ctx = (struct cfg_ctx){.file = f->name, .pos = f->pos, .errs = c->errs, .cfg = c->cfg};
        n_hosts += f->root ? json_array_size(f->root) : 0;
        free(buf);
        free(ipath);
    }
    return n_hosts;
}

/* ---- Hosts ---- */

static bool ck_host_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CFG_MAX_NAME)
        return false;
    for (const char *p = s; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == ':' || *p == '-'))
            return false;
    }
    return true;
}

static void ck_host(struct ck_build *b, struct cfg_ctx *c, const json_t *obj, const char *path)
{
    static const char *const keys[] = {"name",  "address",   "labels", "parents",
                                       "check", "overrides", "notes",  NULL};
    struct config *cfg = b->cfg;
    size_t hi = cfg->n_hosts++;
    struct cfg_host *h = &cfg->hosts[hi];
    struct ck_hsrc *src = &b->hsrc[hi];
    const char *s;
    const json_t *v;

    h->check = -1;
    src->ctx = c;
    src->obj = obj;
    src->path = cfg_strdup(c, path);
    cfg_check_keys(c, obj, path, keys);

    if (cfg_string(c, obj, path, "name", true, &s) > 0) {
        const struct cfg_host *prev = strmap_get(&b->ix->hosts, s);
        if (!ck_host_name_ok(s)) {
            cfg_err_field(c, path, "name", false,
                          "host names must be 1 to %d characters of A-Z, a-z, 0-9, '_', '.', ':' "
                          "and '-'",
                          CFG_MAX_NAME);
        } else if (prev) {
            char where[256], *ppath;
            const struct ck_hsrc *psrc = &b->hsrc[prev - cfg->hosts];
            ppath = ck_key_path(c, psrc->path, "name");
            ck_where(psrc->ctx, ppath ? ppath : psrc->path, where, sizeof(where));
            free(ppath);
            cfg_err_field(c, path, "name", false, "duplicate host \"%s\" (first defined at %s)", s,
                          where);
        } else if ((h->name = cfg_strdup(c, s)) && strmap_put(&b->ix->hosts, h->name, h) < 0) {
            ck_oom(c);
        }
    }
    if (cfg_string(c, obj, path, "address", false, &s) > 0) {
        if (!*s || strpbrk(s, " \t\r\n"))
            cfg_err_field(c, path, "address", false, "address must not be empty or hold spaces");
        else
            h->address = cfg_strdup(c, s);
    }
    if (!h->address && h->name)
        h->address = cfg_strdup(c, h->name);
    ck_labels(c, obj, path, "labels", &h->labels);
    if (cfg_string(c, obj, path, "notes", false, &s) > 0)
        h->notes = cfg_strdup(c, s);

    if (cfg_list(c, obj, path, "parents", &v) > 0 && json_array_size(v)) {
        size_t i;
        const json_t *e;
        char *base = ck_key_path(c, path, "parents");
        h->parents = calloc(json_array_size(v), sizeof(*h->parents));
        if (!h->parents || !base)
            ck_oom(c);
        json_array_foreach(v, i, e)
        {
            if (!h->parents || !base)
                break;
            if (!json_is_string(e) || !*json_string_value(e)) {
                char *ipath = ck_index_path(c, base, i);
                if (ipath)
                    cfg_err(c, ipath, false, "parents must be host names");
                free(ipath);
                continue;
            }
            h->parents[h->n_parents++] = cfg_strdup(c, json_string_value(e));
        }
        free(base);
    }

    /* The host's own check: a command line, or a mapping like a check. */
    v = cfg_field(obj, "check");
    if (v && json_is_string(v)) {
        char err[160];
        s = json_string_value(v);
        if (!*s || strlen(s) != json_string_length(v))
            cfg_err_field(c, path, "check", false, "check must not be empty");
        else if (!ck_macros_ok(s, err, sizeof(err)))
            cfg_err_field(c, path, "check", false, "%s", err);
        else
            src->check_cmd = s;
    } else if (v && json_is_object(v)) {
        char *cpath = ck_key_path(c, path, "check");
        if (cpath) {
            cfg_check_keys(c, v, cpath, ck_hostcheck_keys);
            ck_use(b, c, v, cpath, &src->check_layers, &src->n_check_layers);
            ck_fields_validate(c, v, cpath);
            struct ck_layer own = {c, v, cpath};
            ck_layers_add(c, &src->check_layers, &src->n_check_layers, &own, 1);
            src->check_path = cpath; /* the layer borrows it */
        }
    } else if (v) {
        cfg_err_field(c, path, "check", false, "check must be a command line or a mapping, not %s",
                      cfg_type_name(v));
    }

    if (cfg_object(c, obj, path, "overrides", &v) > 0) {
        const char *key;
        const json_t *o;
        char *base = ck_key_path(c, path, "overrides");
        src->overrides = v;
        json_object_foreach((json_t *)v, key, o)
        {
            char *opath = base ? ck_key_path(c, base, key) : NULL;
            if (!opath)
                break;
            if (!json_is_object(o)) {
                cfg_err(c, opath, false,
                        "overrides.%.128s must be a mapping of check fields, not %s", key,
                        cfg_type_name(o));
            } else {
                cfg_check_keys(c, o, opath, ck_override_keys);
                ck_fields_validate(c, o, opath);
            }
            free(opath);
        }
        free(base);
    }
}

/*
 * Every parent must exist, and following parents must never lead back to
 * the same host: reachability is computed along these edges. Depth-first
 * with an explicit stack so that a long chain of hosts cannot overflow the
 * C stack; each cycle is reported once, at the parent that closes it.
 */
static void ck_parents(struct ck_build *b)
{
    struct config *cfg = b->cfg;
    size_t n = cfg->n_hosts;
    unsigned char *color = calloc(n + 1, 1); /* 0 new, 1 on the stack, 2 done */
    size_t *stack = calloc(n + 1, sizeof(*stack)), *next = calloc(n + 1, sizeof(*next));
    if (!color || !stack || !next) {
        ck_oom(b->c);
        goto out;
    }
    for (size_t hi = 0; hi < n; hi++) {
        const struct cfg_host *h = &cfg->hosts[hi];
        for (size_t j = 0; j < h->n_parents; j++) {
            if (h->parents[j] && !strmap_get(&b->ix->hosts, h->parents[j])) {
                char *base = ck_key_path(b->c, b->hsrc[hi].path, "parents");
                char *ipath = base ? ck_index_path(b->c, base, j) : NULL;
                if (ipath)
                    cfg_err(b->hsrc[hi].ctx, ipath, false, "unknown parent host \"%.128s\"",
                            h->parents[j]);
                free(ipath);
                free(base);
            }
        }
    }
    for (size_t root = 0; root < n; root++) {
        if (color[root] || !cfg->hosts[root].name)
            continue;
        size_t depth = 0;
        stack[depth++] = root;
        next[root] = 0;
        color[root] = 1;
        while (depth) {
            size_t hi = stack[depth - 1];
            const struct cfg_host *h = &cfg->hosts[hi];
            if (next[hi] >= h->n_parents) {
                color[hi] = 2;
                depth--;
                continue;
            }
            size_t j = next[hi]++;
            const struct cfg_host *p =
                h->parents[j] ? strmap_get(&b->ix->hosts, h->parents[j]) : NULL;
            if (!p)
                continue;
            size_t pi = (size_t)(p - cfg->hosts);
            if (color[pi] == 0) {
                color[pi] = 1;
                next[pi] = 0;
                stack[depth++] = pi;
            } else if (color[pi] == 1) {
                char chain[512] = "";
                size_t from = 0;
                while (stack[from] != pi)
                    from++;
                for (size_t k = from; k < depth; k++) {
                    strncat(chain, cfg->hosts[stack[k]].name, sizeof(chain) - strlen(chain) - 1);
                    strncat(chain, " -> ", sizeof(chain) - strlen(chain) - 1);
                }
                strncat(chain, p->name, sizeof(chain) - strlen(chain) - 1);
                char *base = ck_key_path(b->c, b->hsrc[hi].path, "parents");
                char *ipath = base ? ck_index_path(b->c, base, j) : NULL;
                if (ipath)
                    cfg_err(b->hsrc[hi].ctx, ipath, false, "parent cycle: %s", chain);
                free(ipath);
                free(base);
            }
        }
    }
out:
    free(color);
    free(stack);
    free(next);
}

void ck_hosts(struct ck_build *b, const json_t *root, size_t n_file_hosts)
{
    struct cfg_ctx *c = b->c;
    const json_t *list = NULL, *item;
    size_t i;
    cfg_list(c, root, "", "hosts", &list);
    size_t n = (list ? json_array_size(list) : 0) + n_file_hosts;
    b->cfg->hosts = calloc(n + 1, sizeof(*b->cfg->hosts));
    b->hsrc = calloc(n + 1, sizeof(*b->hsrc));
    if (!b->cfg->hosts || !b->hsrc) {
        ck_oom(c);
        return;
    }
    if (list) {
        json_array_foreach(list, i, item)
        {
            char *path = ck_index_path(c, "hosts", i);
            if (!path)
                break;
            if (!json_is_object(item))
                cfg_err(c, path, false, "each entry of hosts must be a mapping, not %s",
                        cfg_type_name(item));
            else
                ck_host(b, c, item, path);
            free(path);
        }
    }
    for (size_t f = 0; f < b->n_files; f++) {
        if (!b->files[f].root)
            continue;
        json_array_foreach(b->files[f].root, i, item)
        {
            char *path = ck_index_path(c, "", i);
            if (!path)
                break;
            if (!json_is_object(item))
                cfg_err(&b->files[f].ctx, path, false, "each host must be a mapping, not %s",
                        cfg_type_name(item));
            else
                ck_host(b, &b->files[f].ctx, item, path);
            free(path);
        }
    }
    ck_parents(b);
}
