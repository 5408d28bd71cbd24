/*
 * config_macros.c - the Nagios macros of check fields ($HOSTADDRESS$,
 * $ARGn$, $USER1$, $_HOSTfoo$ ...): checked when the file loads, expanded
 * once per check instance.
 */
#include "config.h"
#include "config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- Macros ---- */

/* Whether NAME (n bytes, between the dollars) is a macro Tocsin expands. */
static bool ck_macro_known(const char *name, size_t n)
{
    static const char *const fixed[] = {"HOSTNAME", "HOSTADDRESS", "HOSTALIAS", "SERVICEDESC",
                                        "USER1"};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(*fixed); i++) {
        if (strlen(fixed[i]) == n && memcmp(fixed[i], name, n) == 0)
            return true;
    }
    if (n == 4 && memcmp(name, "ARG", 3) == 0 && name[3] >= '1' && name[3] <= '9')
        return true;
    return n > 5 && memcmp(name, "_HOST", 5) == 0;
}

/*
 * Checks every macro in s. Returns true, or false with a message in err.
 * "$$" is a literal dollar sign; anything else between two dollars must be
 * a known macro, so that a typo fails at load time and not at 3 a.m.
 */
bool ck_macros_ok(const char *s, char *err, size_t errlen)
{
    for (const char *p = strchr(s, '$'); p; p = strchr(p, '$')) {
        const char *e = strchr(p + 1, '$');
        if (!e) {
            snprintf(err, errlen, "unterminated macro \"%.40s\" (write $$ for a dollar sign)", p);
            return false;
        }
        size_t n = (size_t)(e - p - 1);
        if (n && !ck_macro_known(p + 1, n)) {
            snprintf(err, errlen, "unknown macro $%.*s$", n > 64 ? 64 : (int)n, p + 1);
            return false;
        }
        p = e + 1;
    }
    return true;
}

/* A label of the host for $_HOSTfoo$: exact name first, then ignoring case,
 * since Nagios custom variables are upper-cased in macros. */
static const char *ck_host_var(const struct cfg_host *h, const char *name, size_t n)
{
    for (size_t i = 0; i < h->labels.n; i++) {
        if (strlen(h->labels.v[i].name) == n && memcmp(h->labels.v[i].name, name, n) == 0)
            return h->labels.v[i].value;
    }
    for (size_t i = 0; i < h->labels.n; i++) {
        if (strlen(h->labels.v[i].name) == n && strncasecmp(h->labels.v[i].name, name, n) == 0)
            return h->labels.v[i].value;
    }
    return "";
}

static void ck_expand_into(struct ck_buf *out, const char *s, const struct ck_macro_env *env,
                           bool in_arg);

/* Appends the value of one (known) macro. */
static void ck_macro_value(struct ck_buf *out, const char *name, size_t n,
                           const struct ck_macro_env *env, bool in_arg)
{
    const char *v = "";
    if (n == 8 && memcmp(name, "HOSTNAME", 8) == 0)
        v = env->host->name;
    else if (n == 11 && memcmp(name, "HOSTADDRESS", 11) == 0)
        v = env->host->address;
    else if (n == 9 && memcmp(name, "HOSTALIAS", 9) == 0)
        v = env->host->name;
    else if (n == 11 && memcmp(name, "SERVICEDESC", 11) == 0)
        v = env->check;
    else if (n == 5 && memcmp(name, "USER1", 5) == 0)
        v = env->plugin_dir;
    else if (n == 4 && memcmp(name, "ARG", 3) == 0) {
        /* Arguments may use macros themselves, but not other arguments. */
        const json_t *a = env->args ? json_array_get(env->args, (size_t)(name[3] - '1')) : NULL;
        if (a && !in_arg) {
            char num[32];
            if (json_is_integer(a)) {
                snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(a));
                ck_put(out, num, strlen(num));
            } else if (json_is_string(a)) {
                ck_expand_into(out, json_string_value(a), env, true);
            }
        }
        return;
    } else if (n > 5 && memcmp(name, "_HOST", 5) == 0)
        v = ck_host_var(env->host, name + 5, n - 5);
    ck_put(out, v, strlen(v));
}

static void ck_expand_into(struct ck_buf *out, const char *s, const struct ck_macro_env *env,
                           bool in_arg)
{
    const char *p = s;
    for (const char *d = strchr(p, '$'); d; d = strchr(p, '$')) {
        ck_put(out, p, (size_t)(d - p));
        const char *e = strchr(d + 1, '$');
        if (!e) {
            /* Unreachable after ck_macros_ok; keep the text as written. */
            p = d;
            break;
        }
        if (e == d + 1)
            ck_put(out, "$", 1);
        else
            ck_macro_value(out, d + 1, (size_t)(e - d - 1), env, in_arg);
        p = e + 1;
    }
    ck_put(out, p, strlen(p));
}

/* Returns s with macros expanded (caller frees), or NULL when out of memory. */
char *ck_expand(const char *s, const struct ck_macro_env *env)
{
    struct ck_buf b = {0};
    ck_put(&b, "", 0);
    ck_expand_into(&b, s, env, false);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* A string field that may hold macros; same returns as cfg_string. */
int ck_macro_string(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                    const char **out)
{
    const char *s;
    int rc = cfg_string(c, obj, path, key, false, &s);
    if (rc <= 0)
        return rc;
    char err[160];
    if (!*s) {
        cfg_err_field(c, path, key, false, "%s must not be empty", key);
        return -1;
    }
    if (!ck_macros_ok(s, err, sizeof(err))) {
        cfg_err_field(c, path, key, false, "%s", err);
        return -1;
    }
    *out = s;
    return 1;
}
