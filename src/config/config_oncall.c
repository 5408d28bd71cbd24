/*
 * config_oncall.c - the on-call half of the configuration: notification
 * channels, users and their contact rules, schedules with layers and
 * restrictions, teams, escalation policies and the shared notification
 * settings; and the on-call fields of services and routes.
 *
 * The sections refer to each other by name, so they are read in the order
 * that lets each reference be checked where it is written: channels, users
 * (contacts name channels), schedules (layers name users), teams (members
 * and schedules), escalation policies (targets name users, schedules and
 * teams). A team's escalation_policy is the one reference that points
 * forward; it is checked after the policies are read. Services and routes
 * come after all of this (config.c reads them), so their escalation_policy
 * and notify can be checked at once too.
 *
 * While the sections are read, names are looked up through hash maps built
 * here, so a file with thousands of users and teams loads in linear time.
 * The public config_find_* look-ups scan the arrays: struct config has no
 * room for a private index of this half, and a scan over the few hundred
 * users an organisation has costs microseconds.
 */
#include "config.h"
#include "config_int.h"
#include "config_yaml.h"
#include "../base/recur.h"
#include "../base/strmap.h"
#include "../base/timefmt.h"
#include "../base/tz.h"
#include "../checks/runner.h"

#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OC_MAX_USER_NAME 64
#define OC_MAX_TEMPLATE  8192
#define OC_MAX_REPEAT    10
#define OC_MAX_WEEKS     52
#define OC_MAX_ATTEMPTS  50

/* The kinds of named things a reference can point at. */
enum oc_kind { OC_USER = 0, OC_TEAM, OC_SCHEDULE, OC_POLICY, OC_CHANNEL, OC_KINDS };

static const char *const oc_kind_names[OC_KINDS] = {"user", "team", "schedule", "escalation policy",
                                                    "channel"};

/*
 * The state of one build. The maps borrow their keys from the entries'
 * names in struct config, which stay put because each array is allocated
 * once, before its section is read.
 */
struct oc_build {
    struct cfg_ctx *c;
    struct strmap maps[OC_KINDS]; /* name -> entry of cfg's array */
};

static const char *const oc_channel_types[] = {"webhook", "smtp", "command"};
static const char *const oc_formats[] = {"generic", "slack", "teams"};
static const char *const oc_tls_modes[] = {"none", "starttls", "required"};
static const char *const oc_urgencies[] = {"any", "high", "low"};

/* ---- Small helpers ---- */

/* True when s has a control character (CR and LF included). */
static bool oc_has_ctl(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return true;
    }
    return false;
}

/* 1..max characters, each alphanumeric or one of `extra`. */
static bool oc_name_ok(const char *s, size_t max, const char *extra)
{
    size_t len = strlen(s);
    if (len == 0 || len > max)
        return false;
    for (const char *p = s; *p; p++) {
        bool alnum =
            (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9');
        if (!alnum && !strchr(extra, *p))
            return false;
    }
    return true;
}

/*
 * An e-mail address as SMTP needs it: a local part, '@', a domain, and
 * nothing that could end a header line or split the address (whitespace,
 * control characters, angle brackets, commas).
 */
static bool oc_email_ok(const char *s)
{
    const char *at = strchr(s, '@');
    size_t len = strlen(s);
    if (!at || at == s || !at[1] || len > 254)
        return false;
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || strchr("<>,;\"", *p))
            return false;
    }
    return true;
}

/* E.164: '+' and 6 to 15 digits. */
static bool oc_phone_ok(const char *s)
{
    if (*s != '+')
        return false;
    size_t n = 0;
    for (const char *p = s + 1; *p; p++, n++) {
        if (*p < '0' || *p > '9')
            return false;
    }
    return n >= 6 && n <= 15;
}

/* SCHEME://HOST... with one of the NULL-terminated schemes, a host, and no
 * whitespace or control characters anywhere. */
static bool oc_url_ok(const char *s, const char *const *schemes)
{
    for (const char *const *sc = schemes; *sc; sc++) {
        size_t n = strlen(*sc);
        if (strncasecmp(s, *sc, n) != 0 || strncmp(s + n, "://", 3) != 0)
            continue;
        const char *host = s + n + 3;
        if (!*host || *host == '/' || *host == ':' || *host == '?' || *host == '#')
            return false;
        for (const char *p = s; *p; p++) {
            if ((unsigned char)*p <= 0x20 || *p == 0x7f)
                return false;
        }
        return true;
    }
    return false;
}

static const char *const oc_http_schemes[] = {"http", "https", NULL};
static const char *const oc_smtp_schemes[] = {"smtp", "smtps", NULL};

/* "YYYY-MM-DD", a real day of a year from 1970 to 9999. */
static bool oc_date(const char *s, int *y, int *m, int *d)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    }
    *y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    *m = (s[5] - '0') * 10 + (s[6] - '0');
    *d = (s[8] - '0') * 10 + (s[9] - '0');
    return *y >= 1970 && *m >= 1 && *m <= 12 && *d >= 1 && *d <= tz_days_in_month(*y, *m);
}

/* Looks name up among the entries of kind k read so far: in the build's
 * maps while the on-call sections are read (b set), in cfg afterwards. */
static const void *oc_find(const struct oc_build *b, const struct config *cfg, enum oc_kind k,
                           const char *name)
{
    if (b)
        return strmap_get(&b->maps[k], name);
    switch (k) {
    case OC_USER:
        return config_find_user(cfg, name);
    case OC_TEAM:
        return config_find_team(cfg, name);
    case OC_SCHEDULE:
        return config_find_schedule(cfg, name);
    case OC_POLICY:
        return config_find_policy(cfg, name);
    default:
        return config_find_channel(cfg, name);
    }
}

/* Adds the named entries of an array to map; the first of equal names wins,
 * as it does in the duplicate messages. */
static void oc_map_add(struct oc_build *b, enum oc_kind k, void *arr, size_t n, size_t size,
                       size_t name_off)
{
    for (size_t i = 0; i < n; i++) {
        char *e = (char *)arr + i * size;
        const char *name = *(char **)(e + name_off);
        if (name && !strmap_get(&b->maps[k], name) && strmap_put(&b->maps[k], name, e) < 0)
            ck_oom(b->c);
    }
}

/*
 * A list of names of kind k at obj.key: each must be a string naming an
 * existing entry; with no_dups a name may appear once. Fills *out with
 * owned copies (NULL when the list is absent or empty). Returns the length
 * of the list, or -1 when the field is absent or not a list.
 */
static long oc_name_list(struct cfg_ctx *c, const struct oc_build *b, const json_t *obj,
                         const char *path, const char *key, enum oc_kind k, bool no_dups,
                         char ***out, size_t *n_out)
{
    const json_t *list, *e;
    size_t i;
    if (cfg_list(c, obj, path, key, &list) <= 0)
        return -1;
    size_t n = json_array_size(list);
    if (!n)
        return 0;
    char *base = ck_key_path(c, path, key);
    char **v = calloc(n, sizeof(*v));
    if (!base || !v) {
        ck_oom(c);
        free(base);
        free(v);
        return (long)n;
    }
    *out = v;
    json_array_foreach(list, i, e)
    {
        char *ipath = ck_index_path(c, base, i);
        const char *s = json_string_value(e);
        if (!ipath)
            break;
        if (!s || !*s || strlen(s) != json_string_length(e)) {
            cfg_err(c, ipath, false, "%s entries must be %s names", key, oc_kind_names[k]);
        } else if (!oc_find(b, c->cfg, k, s)) {
            cfg_err(c, ipath, false, "unknown %s \"%.128s\"", oc_kind_names[k], s);
        } else {
            bool dup = false;
            for (size_t j = 0; no_dups && j < *n_out && !dup; j++)
                dup = strcmp(v[j], s) == 0;
            if (dup)
                cfg_err(c, ipath, false, "duplicate %s \"%.128s\" in %s", oc_kind_names[k], s, key);
            else if ((v[*n_out] = cfg_strdup(c, s)))
                (*n_out)++;
        }
        free(ipath);
    }
    free(base);
    return (long)n;
}

/* An optional reference to one entry of kind k; a new copy in *out. */
static void oc_ref(struct cfg_ctx *c, const struct oc_build *b, const json_t *obj, const char *path,
                   const char *key, enum oc_kind k, char **out)
{
    const char *s;
    if (cfg_string(c, obj, path, key, false, &s) <= 0)
        return;
    if (!oc_find(b, c->cfg, k, s))
        cfg_err_field(c, path, key, false, "unknown %s \"%.128s\"", oc_kind_names[k], s);
    else
        *out = cfg_strdup(c, s);
}

/*
 * A value that may be written "env:NAME" to read it from the environment,
 * like cfg_secret but without a minimum length (an SMTP password or a
 * header value is whatever the other side wants). Returns 1 with a new
 * string in *out, 0 when absent, -1 after reporting. The value never
 * appears in a message.
 */
static int oc_env_string(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
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
    if (oc_has_ctl(s)) {
        cfg_err_field(c, path, key, false, "%s must not contain control characters", key);
        return -1;
    }
    *out = cfg_strdup(c, s);
    return *out ? 1 : -1;
}

/* A secret that may be absent; cfg_secret (env:, at least 16 characters)
 * when given. */
static char *oc_opt_secret(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key)
{
    return cfg_field(obj, key) ? cfg_secret(c, obj, path, key) : NULL;
}

/* A zone name at obj.key through tz_get; *out is left alone when absent. */
static int oc_zone(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                   bool required, const struct tz **out)
{
    const char *s;
    char err[192];
    int rc = cfg_string(c, obj, path, key, required, &s);
    if (rc <= 0)
        return rc;
    const struct tz *z = tz_get(s, err, sizeof(err));
    if (!z) {
        cfg_err_field(c, path, key, false, "%s", err);
        return -1;
    }
    *out = z;
    return 1;
}

/* An optional free-text field of at most max bytes. */
static void oc_text(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                    size_t max, char **out)
{
    const char *s;
    if (cfg_string(c, obj, path, key, false, &s) <= 0)
        return;
    if (strlen(s) > max)
        cfg_err_field(c, path, key, false, "%s must be at most %zu bytes", key, max);
    else
        *out = cfg_strdup(c, s);
}

/*
 * The items of the list root.key, like cfg_items, with the build passed on.
 * Entries that are not mappings are reported and skipped.
 */
typedef void (*oc_item_fn)(struct oc_build *b, const json_t *item, const char *path, json_t *seen);

static void oc_items(struct oc_build *b, const json_t *root, const char *key, oc_item_fn fn)
{
    struct cfg_ctx *c = b->c;
    const json_t *list, *item;
    size_t i;
    if (cfg_list(c, root, "", key, &list) <= 0)
        return;
    json_t *seen = json_object();
    if (!seen) {
        ck_oom(c);
        return;
    }
    json_array_foreach(list, i, item)
    {
        char *path = ck_index_path(c, key, i);
        if (!path)
            break;
        if (!json_is_object(item))
            cfg_err(c, path, false, "each entry of %s must be a mapping, not %s", key,
                    cfg_type_name(item));
        else
            fn(b, item, path, seen);
        free(path);
    }
    json_decref(seen);
}

/* ---- Time windows (layer restrictions, support hours) ---- */

/*
 * One window {days, from, to} as a struct recur in zone tz. `days` names
 * the days a window starts on (none: every day); `to` at or before `from`
 * means the window runs past midnight; "24:00" is the end of the day.
 */
static void oc_window(struct cfg_ctx *c, const json_t *o, const char *path, const struct tz *tz,
                      struct recur *r)
{
    static const char *const keys[] = {"days", "from", "to", NULL};
    const char *s;
    int from = 0, to = 24 * 60;

    cfg_check_keys(c, o, path, keys);
    r->freq = RECUR_DAILY;
    r->tz = tz;
    if (ck_weekdays(c, o, path, "days", &r->weekdays) != 0)
        r->freq = RECUR_WEEKLY;
    if (cfg_string(c, o, path, "from", false, &s) > 0 && recur_parse_hhmm(s, &from) < 0)
        cfg_err_field(c, path, "from", false,
                      "from must be a time of day \"HH:MM\" (00:00 to 23:59)");
    if (cfg_string(c, o, path, "to", false, &s) > 0 && strcmp(s, "24:00") != 0 &&
        recur_parse_hhmm(s, &to) < 0)
        cfg_err_field(c, path, "to", false, "to must be a time of day \"HH:MM\" (00:00 to 24:00)");
    int minutes = to - from;
    if (minutes <= 0)
        minutes += 24 * 60;
    r->start_minute = from;
    r->duration_ms = (int64_t)minutes * 60 * 1000;
}

/*
 * Walks the entries of a list of mappings: oc_walk_begin allocates the
 * zeroed array for them (n entries of size bytes; NULL after reporting
 * when out of memory), then oc_walk_next returns each mapping with its path
 * in *ipath (the caller frees it), reporting entries that are not mappings,
 * and NULL at the end. w->i - 1 is the returned entry's index.
 */
struct oc_walk {
    const json_t *list;
    const char *key;
    char *base; /* owned; the list's path */
    size_t i;
};

static void *oc_walk_begin(struct cfg_ctx *c, const json_t *list, const char *path, const char *key,
                           size_t size, struct oc_walk *w)
{
    void *items = calloc(json_array_size(list), size);
    w->list = list;
    w->key = key;
    w->i = 0;
    w->base = ck_key_path(c, path, key);
    if (!items || !w->base) {
        if (w->base)
            ck_oom(c);
        free(items);
        free(w->base);
        return NULL;
    }
    return items;
}

static const json_t *oc_walk_next(struct cfg_ctx *c, struct oc_walk *w, char **ipath)
{
    while (w->i < json_array_size(w->list)) {
        const json_t *e = json_array_get(w->list, w->i);
        if (!(*ipath = ck_index_path(c, w->base, w->i++)))
            break;
        if (json_is_object(e))
            return e;
        cfg_err(c, *ipath, false, "each entry of %s must be a mapping, not %s", w->key,
                cfg_type_name(e));
        free(*ipath);
    }
    free(w->base);
    w->base = NULL;
    return NULL;
}

/* The list obj.key of windows; *out owned. Returns the list's length, or -1
 * when absent or not a list. */
static long oc_windows(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                       const struct tz *tz, struct recur **out, size_t *n_out)
{
    const json_t *list, *e;
    if (cfg_list(c, obj, path, key, &list) <= 0)
        return -1;
    size_t n = json_array_size(list);
    if (!n)
        return 0;
    struct oc_walk w;
    char *ipath;
    if (!(*out = oc_walk_begin(c, list, path, key, sizeof(**out), &w)))
        return (long)n;
    while ((e = oc_walk_next(c, &w, &ipath))) {
        oc_window(c, e, ipath, tz, &(*out)[(*n_out)++]);
        free(ipath);
    }
    return (long)n;
}

/* The two readers above, for the rules of config_rules.c (see config_int.h). */
long cfg_windows(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                 const struct tz *tz, struct recur **out, size_t *n_out)
{
    return oc_windows(c, obj, path, key, tz, out, n_out);
}

int cfg_zone(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key, bool required,
             const struct tz **out)
{
    return oc_zone(c, obj, path, key, required, out);
}

/* ---- Channels ---- */

/* Header names are HTTP tokens (RFC 9110); these ones the notifier sets. */
static bool oc_header_name_ok(const char *s)
{
    static const char *const reserved[] = {
        "host", "content-length", "content-type", "transfer-encoding", "connection", NULL};
    if (!oc_name_ok(s, 128, "!#$%&'*+-.^_`|~"))
        return false;
    for (const char *const *r = reserved; *r; r++) {
        if (strcasecmp(s, *r) == 0)
            return false;
    }
    return true;
}

static void oc_channel_headers(struct cfg_ctx *c, const json_t *item, const char *path,
                               struct cfg_channel *ch)
{
    const json_t *h, *v;
    const char *name;
    if (cfg_object(c, item, path, "headers", &h) <= 0 || !json_object_size(h))
        return;
    char *hpath = ck_key_path(c, path, "headers");
    ch->headers = calloc(json_object_size(h) + 1, sizeof(char *));
    if (!hpath || !ch->headers) {
        ck_oom(c);
        free(hpath);
        return;
    }
    size_t n = 0;
    json_object_foreach((json_t *)h, name, v)
    {
        char *value = NULL;
        bool dup = false;
        for (size_t j = 0; j < n && !dup; j++)
            dup = strncasecmp(ch->headers[j], name, strlen(name)) == 0 &&
                  ch->headers[j][strlen(name)] == ':';
        if (!oc_header_name_ok(name)) {
            cfg_err_field(c, hpath, name, true,
                          "invalid header name \"%.64s\" (an HTTP token, not one Tocsin sets "
                          "itself)",
                          name);
            continue;
        }
        if (dup) {
            cfg_err_field(c, hpath, name, true, "duplicate header \"%.64s\"", name);
            continue;
        }
        if (oc_env_string(c, h, hpath, name, &value) <= 0)
            continue;
        if (asprintf(&ch->headers[n], "%s: %s", name, value) < 0) {
            ch->headers[n] = NULL;
            ck_oom(c);
        } else {
            n++;
        }
        sodium_memzero(value, strlen(value));
        free(value);
    }
    free(hpath);
}

/* The command of a command channel: split as the check runner splits, run
 * without a shell, so the first word must be an absolute path. */
static void oc_channel_command(struct cfg_ctx *c, const json_t *item, const char *path,
                               struct cfg_channel *ch)
{
    const char *s;
    char **argv = NULL;
    if (cfg_string(c, item, path, "command", true, &s) <= 0)
        return;
    int rc = runner_split(s, &argv);
    if (rc < 0)
        cfg_err_field(c, path, "command", false,
                      "command has unbalanced quotes (or memory ran out splitting it)");
    else if (rc == 0)
        cfg_err_field(c, path, "command", false,
                      "command is run without a shell and must not use shell syntax "
                      "(|&;<>()$`*?[]{}~ or NAME=value); use a wrapper script");
    else if (!argv[0] || argv[0][0] != '/')
        cfg_err_field(c, path, "command", false,
                      "command must start with the absolute path of a program");
    else
        ch->command = cfg_strdup(c, s);
    if (rc > 0)
        runner_argv_free(argv);
}

static void oc_channel_smtp(struct cfg_ctx *c, const json_t *item, const char *path,
                            struct cfg_channel *ch)
{
    const char *s;
    int tls = 1;
    if (cfg_string(c, item, path, "from", true, &s) > 0) {
        if (!oc_email_ok(s))
            cfg_err_field(c, path, "from", false,
                          "from must be an e-mail address such as \"tocsin@example.org\"");
        else
            ch->from = cfg_strdup(c, s);
    }
    if (cfg_string(c, item, path, "username", false, &s) > 0) {
        if (!*s || oc_has_ctl(s))
            cfg_err_field(c, path, "username", false,
                          "username must be non-empty without control characters");
        else
            ch->username = cfg_strdup(c, s);
    }
    if (oc_env_string(c, item, path, "password", &ch->password) > 0 && !cfg_field(item, "username"))
        cfg_err_field(c, path, "password", true, "password needs a username");
    if (cfg_enum(c, item, path, "tls", oc_tls_modes, 3, &tls) > 0 && tls == 0 && ch->url &&
        strncasecmp(ch->url, "smtps:", 6) == 0)
        cfg_err_field(c, path, "tls", false, "tls: none cannot be combined with an smtps:// url");
    ch->tls = tls;
}

static void oc_channel_item(struct oc_build *b, const json_t *item, const char *path, json_t *seen)
{
    static const char *const keys[] = {"name",      "type",         "url",          "format",
                                       "secret",    "headers",      "from",         "username",
                                       "password",  "tls",          "command",      "subject",
                                       "body",      "timeout",      "max_attempts", "retry_min",
                                       "retry_max", "max_per_hour", "verify_tls",   NULL};
    /* Keys that only one type uses, so a misplaced one is caught. */
    static const struct {
        const char *key;
        int type;
    } only[] = {
        {"format", CHANNEL_WEBHOOK}, {"secret", CHANNEL_WEBHOOK},  {"headers", CHANNEL_WEBHOOK},
        {"from", CHANNEL_SMTP},      {"username", CHANNEL_SMTP},   {"password", CHANNEL_SMTP},
        {"tls", CHANNEL_SMTP},       {"command", CHANNEL_COMMAND}, {"url", -1}};
    struct cfg_ctx *c = b->c;
    struct cfg_channel *ch = &c->cfg->channels[c->cfg->n_channels++];
    const char *name, *s;
    int type = -1, format = WEBHOOK_GENERIC;
    json_int_t v;

    cfg_check_keys(c, item, path, keys);
    if (cfg_name(c, item, path, &name) == 0) {
        ch->name = cfg_strdup(c, name);
        cfg_unique(c, seen, path, "name", name, "channel name", false);
    }
    if (!cfg_field(item, "type"))
        cfg_err(c, path, true, "missing required field \"type\"");
    cfg_enum(c, item, path, "type", oc_channel_types, 3, &type);
    ch->type = type < 0 ? CHANNEL_WEBHOOK : (enum channel_type)type;
    for (size_t i = 0; type >= 0 && i < sizeof(only) / sizeof(only[0]); i++) {
        bool fits = only[i].type < 0 ? type != CHANNEL_COMMAND : only[i].type == type;
        if (cfg_field(item, only[i].key) && !fits)
            cfg_err_field(c, path, only[i].key, true, "%s does not apply to type: %s", only[i].key,
                          oc_channel_types[type]);
    }

    if (type == CHANNEL_WEBHOOK || type == CHANNEL_SMTP) {
        bool web = type == CHANNEL_WEBHOOK;
        if (cfg_string(c, item, path, "url", true, &s) > 0) {
            if (!oc_url_ok(s, web ? oc_http_schemes : oc_smtp_schemes))
                cfg_err_field(c, path, "url", false,
                              web ? "url must be an http:// or https:// URL"
                                  : "url must be an smtp://HOST[:PORT] or smtps://HOST[:PORT] URL");
            else
                ch->url = cfg_strdup(c, s);
        }
    }
    if (type == CHANNEL_WEBHOOK) {
        cfg_enum(c, item, path, "format", oc_formats, 3, &format);
        ch->secret = oc_opt_secret(c, item, path, "secret");
        oc_channel_headers(c, item, path, ch);
    } else if (type == CHANNEL_SMTP) {
        oc_channel_smtp(c, item, path, ch);
    } else if (type == CHANNEL_COMMAND) {
        oc_channel_command(c, item, path, ch);
    }
    ch->format = (enum webhook_format)format;

    oc_text(c, item, path, "subject", OC_MAX_TEMPLATE, &ch->subject);
    oc_text(c, item, path, "body", OC_MAX_TEMPLATE, &ch->body);
    ch->timeout_ms = 10 * 1000;
    ck_positive_duration(c, item, path, "timeout", &ch->timeout_ms);
    ch->max_attempts = 8;
    if (cfg_integer(c, item, path, "max_attempts", 1, OC_MAX_ATTEMPTS, &v) > 0)
        ch->max_attempts = (int)v;
    ch->retry_min_ms = 5 * 1000;
    ch->retry_max_ms = 10 * 60 * 1000;
    int rmin = ck_positive_duration(c, item, path, "retry_min", &ch->retry_min_ms);
    int rmax = ck_positive_duration(c, item, path, "retry_max", &ch->retry_max_ms);
    if (rmin >= 0 && rmax >= 0 && ch->retry_max_ms < ch->retry_min_ms)
        cfg_err_field(c, path, rmax > 0 ? "retry_max" : "retry_min", false,
                      "retry_max must not be shorter than retry_min");
    if (cfg_integer(c, item, path, "max_per_hour", 0, 100000, &v) > 0)
        ch->max_per_hour = (int)v;
    ch->verify_tls = true;
    cfg_bool(c, item, path, "verify_tls", &ch->verify_tls);
}

/* ---- Users ---- */

/* Checks a contact's address against its channel's type. */
static void oc_contact_to(struct cfg_ctx *c, const json_t *item, const char *path,
                          const struct cfg_channel *ch, struct cfg_contact *ct)
{
    const char *s;
    if (cfg_string(c, item, path, "to", false, &s) <= 0)
        return;
    bool ok;
    const char *want;
    switch (ch ? ch->type : CHANNEL_COMMAND) {
    case CHANNEL_SMTP:
        ok = oc_email_ok(s);
        want = "to must be an e-mail address for an smtp channel";
        break;
    case CHANNEL_WEBHOOK:
        ok = oc_url_ok(s, oc_http_schemes);
        want = "to must be an http:// or https:// URL for a webhook channel";
        break;
    default:
        ok = *s && !oc_has_ctl(s) && strlen(s) <= 256;
        want = "to must be 1 to 256 characters without control characters";
        break;
    }
    if (!ok)
        cfg_err_field(c, path, "to", false, "%s", want);
    else
        ct->to = cfg_strdup(c, s);
}

static void oc_contact(struct oc_build *b, const json_t *user, const json_t *item, const char *path,
                       struct cfg_contact *ct)
{
    static const char *const keys[] = {"channel", "after", "urgency", "to", NULL};
    struct cfg_ctx *c = b->c;
    const struct cfg_channel *ch = NULL;
    const char *s;
    int urgency = 0;

    cfg_check_keys(c, item, path, keys);
    if (cfg_string(c, item, path, "channel", true, &s) > 0) {
        ch = oc_find(b, c->cfg, OC_CHANNEL, s);
        if (!ch)
            cfg_err_field(c, path, "channel", false, "unknown channel \"%.128s\"", s);
        else
            ct->channel = cfg_strdup(c, s);
    }
    cfg_duration(c, item, path, "after", &ct->after_ms);
    cfg_enum(c, item, path, "urgency", oc_urgencies, 3, &urgency);
    ct->urgency = urgency;
    if (!ch)
        return;
    oc_contact_to(c, item, path, ch, ct);
    /* Without `to`, the address comes from the user; say so here rather
     * than let every page to them fail later. */
    if (cfg_field(item, "to"))
        return;
    if (ch->type == CHANNEL_SMTP && !cfg_field(user, "email"))
        cfg_err_field(
            c, path, "channel", false,
            "channel \"%.128s\" sends e-mail: the user needs an email, or give to:", ch->name);
    else if (ch->type == CHANNEL_COMMAND && !cfg_field(user, "phone"))
        cfg_err_field(
            c, path, "channel", false,
            "channel \"%.128s\" runs a command: the user needs a phone, or give to:", ch->name);
}

static void oc_user_item(struct oc_build *b, const json_t *item, const char *path, json_t *seen)
{
    static const char *const keys[] = {"name",      "full_name", "email", "phone",
                                       "time_zone", "contact",   NULL};
    struct cfg_ctx *c = b->c;
    struct cfg_user *u = &c->cfg->users[c->cfg->n_users++];
    const char *s;
    const json_t *list, *e;
    char err[192];

    cfg_check_keys(c, item, path, keys);
    if (cfg_string(c, item, path, "name", true, &s) > 0) {
        if (!oc_name_ok(s, OC_MAX_USER_NAME, "._@-")) {
            cfg_err_field(c, path, "name", false,
                          "user name must be 1 to %d characters of A-Z a-z 0-9 . _ @ -",
                          OC_MAX_USER_NAME);
        } else {
            u->name = cfg_strdup(c, s);
            cfg_unique(c, seen, path, "name", s, "user name", false);
        }
    }
    if (cfg_string(c, item, path, "full_name", false, &s) > 0) {
        if (!*s || strlen(s) > 256 || oc_has_ctl(s))
            cfg_err_field(c, path, "full_name", false,
                          "full_name must be 1 to 256 characters without control characters");
        else
            u->full_name = cfg_strdup(c, s);
    }
    if (cfg_string(c, item, path, "email", false, &s) > 0) {
        if (!oc_email_ok(s))
            cfg_err_field(c, path, "email", false,
                          "email must be an address such as \"anna@example.org\"");
        else
            u->email = cfg_strdup(c, s);
    }
    if (cfg_string(c, item, path, "phone", false, &s) > 0) {
        if (!oc_phone_ok(s))
            cfg_err_field(c, path, "phone", false,
                          "phone must be in E.164 form (+ and 6 to 15 digits, such as "
                          "\"+4915112345678\")");
        else
            u->phone = cfg_strdup(c, s);
    }
    u->tz = tz_get("UTC", err, sizeof(err));
    oc_zone(c, item, path, "time_zone", false, &u->tz);

    int rc = cfg_list(c, item, path, "contact", &list);
    if (rc == 0 && u->email) {
        /* No contact rules: e-mail at once through the first smtp channel. */
        for (size_t k = 0; k < c->cfg->n_channels; k++) {
            const struct cfg_channel *ch = &c->cfg->channels[k];
            if (ch->type != CHANNEL_SMTP || !ch->name)
                continue;
            if (!(u->contacts = calloc(1, sizeof(*u->contacts))) ||
                !(u->contacts[0].channel = cfg_strdup(c, ch->name))) {
                ck_oom(c);
                break;
            }
            u->n_contacts = 1;
            break;
        }
    }
    if (rc <= 0 || !json_array_size(list))
        return;
    struct oc_walk w;
    char *ipath;
    if (!(u->contacts = oc_walk_begin(c, list, path, "contact", sizeof(*u->contacts), &w)))
        return;
    while ((e = oc_walk_next(c, &w, &ipath))) {
        oc_contact(b, item, e, ipath, &u->contacts[u->n_contacts++]);
        free(ipath);
    }
}

/* ---- Schedules ---- */

/* "12h", "2d", "1w" (any count from 1 up to 52 weeks' worth), "daily", "weekly". */
static bool oc_rotation(const char *s, enum rotation_unit *unit, int *count)
{
    static const int max[] = {OC_MAX_WEEKS * 7 * 24, OC_MAX_WEEKS * 7, OC_MAX_WEEKS};
    long n = 0;
    const char *p = s;
    if (strcmp(s, "daily") == 0 || strcmp(s, "weekly") == 0) {
        *unit = s[0] == 'd' ? ROT_DAYS : ROT_WEEKS;
        *count = 1;
        return true;
    }
    for (; *p >= '0' && *p <= '9' && n <= 100000; p++)
        n = n * 10 + (*p - '0');
    if (p == s || !*p || p[1])
        return false;
    if (*p == 'h')
        *unit = ROT_HOURS;
    else if (*p == 'd')
        *unit = ROT_DAYS;
    else if (*p == 'w')
        *unit = ROT_WEEKS;
    else
        return false;
    if (n < 1 || n > max[*unit])
        return false;
    *count = (int)n;
    return true;
}

/* end: a date (the handoff time of that day) or an RFC 3339 instant. */
static void oc_layer_end(struct cfg_ctx *c, const json_t *item, const char *path,
                         struct cfg_layer *l, bool have_start)
{
    const char *s;
    int y, m, d;
    if (cfg_string(c, item, path, "end", false, &s) <= 0)
        return;
    if (oc_date(s, &y, &m, &d)) {
        if (l->tz)
            l->end_ms =
                tz_from_local(l->tz, y, m, d, l->handoff_minute / 60, l->handoff_minute % 60, 0);
    } else if (timefmt_parse_rfc3339(s, strlen(s), &l->end_ms) < 0) {
        cfg_err_field(c, path, "end", false,
                      "end must be a date \"YYYY-MM-DD\" or an RFC 3339 time such as "
                      "\"2026-12-01T09:00:00+01:00\"");
        return;
    }
    if (have_start && l->tz &&
        l->end_ms <= tz_from_local(l->tz, l->start_year, l->start_month, l->start_day,
                                   l->handoff_minute / 60, l->handoff_minute % 60, 0))
        cfg_err_field(c, path, "end", false, "end must be after the layer's start");
}

static void oc_layer(struct oc_build *b, const json_t *item, const char *path, size_t index,
                     const struct tz *stz, struct cfg_layer *l)
{
    static const char *const keys[] = {"name", "users",     "rotation",     "handoff", "start",
                                       "end",  "time_zone", "restrictions", NULL};
    struct cfg_ctx *c = b->c;
    const char *s;
    bool have_start = false;

    cfg_check_keys(c, item, path, keys);
    if (cfg_field(item, "name")) {
        if (cfg_name(c, item, path, &s) == 0)
            l->name = cfg_strdup(c, s);
    } else if (asprintf(&l->name, "layer %zu", index + 1) < 0) {
        l->name = NULL;
        ck_oom(c);
    }
    if (!cfg_field(item, "users"))
        cfg_err(c, path, true, "missing required field \"users\"");
    if (oc_name_list(c, b, item, path, "users", OC_USER, false, &l->users, &l->n_users) == 0)
        cfg_err_field(c, path, "users", false, "users must name at least one user");

    l->unit = ROT_WEEKS;
    l->rotation = 1;
    if (cfg_string(c, item, path, "rotation", true, &s) > 0 &&
        !oc_rotation(s, &l->unit, &l->rotation))
        cfg_err_field(c, path, "rotation", false,
                      "rotation must be a turn length such as \"12h\", \"1d\" or \"2w\" (or "
                      "daily, weekly), from 1 hour to %d weeks",
                      OC_MAX_WEEKS);
    if (cfg_string(c, item, path, "handoff", false, &s) > 0 &&
        recur_parse_hhmm(s, &l->handoff_minute) < 0)
        cfg_err_field(c, path, "handoff", false,
                      "handoff must be a time of day \"HH:MM\" (00:00 to 23:59)");
    if (cfg_string(c, item, path, "start", true, &s) > 0) {
        if (!oc_date(s, &l->start_year, &l->start_month, &l->start_day))
            cfg_err_field(c, path, "start", false, "start must be a date \"YYYY-MM-DD\"");
        else
            have_start = true;
    }
    l->tz = stz;
    oc_zone(c, item, path, "time_zone", false, &l->tz);
    oc_layer_end(c, item, path, l, have_start);
    oc_windows(c, item, path, "restrictions", l->tz, &l->restrictions, &l->n_restrictions);
}

static void oc_schedule_item(struct oc_build *b, const json_t *item, const char *path, json_t *seen)
{
    static const char *const keys[] = {"name", "description", "time_zone", "layers", NULL};
    struct cfg_ctx *c = b->c;
    struct cfg_schedule *s = &c->cfg->schedules[c->cfg->n_schedules++];
    const char *name;
    const json_t *list, *e;

    cfg_check_keys(c, item, path, keys);
    if (cfg_string(c, item, path, "name", true, &name) > 0) {
        if (!oc_name_ok(name, 64, "._-")) {
            cfg_err_field(c, path, "name", false,
                          "schedule name must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
        } else {
            s->name = cfg_strdup(c, name);
            cfg_unique(c, seen, path, "name", name, "schedule name", false);
        }
    }
    oc_text(c, item, path, "description", 4096, &s->description);
    oc_zone(c, item, path, "time_zone", true, &s->tz);
    if (!cfg_field(item, "layers"))
        cfg_err(c, path, true, "missing required field \"layers\"");
    if (cfg_list(c, item, path, "layers", &list) <= 0)
        return;
    if (!json_array_size(list)) {
        cfg_err_field(c, path, "layers", false, "layers must have at least one layer");
        return;
    }
    struct oc_walk w;
    char *ipath;
    if (!(s->layers = oc_walk_begin(c, list, path, "layers", sizeof(*s->layers), &w)))
        return;
    while ((e = oc_walk_next(c, &w, &ipath))) {
        oc_layer(b, e, ipath, w.i - 1, s->tz, &s->layers[s->n_layers++]);
        free(ipath);
    }
}

/* ---- Teams ---- */

static void oc_team_item(struct oc_build *b, const json_t *item, const char *path, json_t *seen)
{
    static const char *const keys[] = {"name", "members", "escalation_policy", "schedules", NULL};
    struct cfg_ctx *c = b->c;
    struct cfg_team *t = &c->cfg->teams[c->cfg->n_teams++];
    const char *s;

    cfg_check_keys(c, item, path, keys);
    if (cfg_name(c, item, path, &s) == 0) {
        t->name = cfg_strdup(c, s);
        cfg_unique(c, seen, path, "name", s, "team name", false);
    }
    oc_name_list(c, b, item, path, "members", OC_USER, true, &t->members, &t->n_members);
    oc_name_list(c, b, item, path, "schedules", OC_SCHEDULE, true, &t->schedules, &t->n_schedules);
    /* Policies are read after teams (their targets name teams), so the
     * policy is checked by oc_team_policies once they are. */
    if (cfg_string(c, item, path, "escalation_policy", false, &s) > 0)
        t->escalation_policy = cfg_strdup(c, s);
}

static void oc_team_policies(struct oc_build *b, const json_t *root)
{
    struct cfg_ctx *c = b->c;
    const json_t *list = json_object_get(root, "teams"), *item;
    size_t i;
    json_array_foreach(list, i, item)
    {
        const json_t *v = json_object_get(item, "escalation_policy");
        const char *s = json_string_value(v);
        if (!s || strlen(s) != json_string_length(v) || strmap_get(&b->maps[OC_POLICY], s))
            continue;
        char *path = ck_index_path(c, "teams", i);
        if (path)
            cfg_err_field(c, path, "escalation_policy", false,
                          "unknown escalation policy \"%.128s\"", s);
        free(path);
    }
}

/* ---- Escalation policies ---- */

static void oc_target(struct oc_build *b, const json_t *e, const char *path, struct cfg_target *t,
                      bool *ok)
{
    static const struct {
        const char *prefix;
        enum target_kind kind;
        enum oc_kind oc;
    } kinds[] = {{"user:", TARGET_USER, OC_USER},
                 {"schedule:", TARGET_SCHEDULE, OC_SCHEDULE},
                 {"team:", TARGET_TEAM, OC_TEAM}};
    struct cfg_ctx *c = b->c;
    const char *s = json_string_value(e);
    *ok = false;
    if (s && strlen(s) == json_string_length(e)) {
        for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
            size_t n = strlen(kinds[k].prefix);
            if (strncmp(s, kinds[k].prefix, n) != 0 || !s[n])
                continue;
            if (!oc_find(b, c->cfg, kinds[k].oc, s + n)) {
                cfg_err(c, path, false, "unknown %s \"%.128s\"", oc_kind_names[kinds[k].oc], s + n);
                return;
            }
            t->kind = kinds[k].kind;
            t->name = cfg_strdup(c, s + n);
            *ok = t->name != NULL;
            return;
        }
    }
    cfg_err(c, path, false, "targets must be \"user:NAME\", \"schedule:NAME\" or \"team:NAME\"");
}

static void oc_level(struct oc_build *b, const json_t *item, const char *path, size_t index,
                     struct cfg_esc_level *lv)
{
    static const char *const keys[] = {"delay", "targets", NULL};
    struct cfg_ctx *c = b->c;
    const json_t *list, *e;
    size_t i;

    cfg_check_keys(c, item, path, keys);
    lv->delay_ms = index == 0 ? 0 : 15 * 60 * 1000;
    cfg_duration(c, item, path, "delay", &lv->delay_ms);
    if (!cfg_field(item, "targets"))
        cfg_err(c, path, true, "missing required field \"targets\"");
    if (cfg_list(c, item, path, "targets", &list) <= 0)
        return;
    if (!json_array_size(list)) {
        cfg_err_field(c, path, "targets", false, "targets must name at least one target");
        return;
    }
    char *base = ck_key_path(c, path, "targets");
    lv->targets = calloc(json_array_size(list), sizeof(*lv->targets));
    if (!base || !lv->targets) {
        ck_oom(c);
        free(base);
        return;
    }
    json_array_foreach(list, i, e)
    {
        char *ipath = ck_index_path(c, base, i);
        bool ok;
        if (!ipath)
            break;
        oc_target(b, e, ipath, &lv->targets[lv->n_targets], &ok);
        if (ok)
            lv->n_targets++;
        free(ipath);
    }
    free(base);
}

static void oc_policy_item(struct oc_build *b, const json_t *item, const char *path, json_t *seen)
{
    static const char *const keys[] = {"name",         "description", "levels", "repeat",
                                       "repeat_after", "ack_timeout", NULL};
    struct cfg_ctx *c = b->c;
    struct cfg_escalation_policy *p = &c->cfg->policies[c->cfg->n_policies++];
    const char *s;
    const json_t *list, *e;
    json_int_t v;

    cfg_check_keys(c, item, path, keys);
    if (cfg_name(c, item, path, &s) == 0) {
        p->name = cfg_strdup(c, s);
        cfg_unique(c, seen, path, "name", s, "escalation policy name", false);
    }
    oc_text(c, item, path, "description", 4096, &p->description);
    if (cfg_integer(c, item, path, "repeat", 0, OC_MAX_REPEAT, &v) > 0)
        p->repeat = (int)v;
    p->repeat_after_ms = 15 * 60 * 1000;
    cfg_duration(c, item, path, "repeat_after", &p->repeat_after_ms);
    cfg_duration(c, item, path, "ack_timeout", &p->ack_timeout_ms);
    if (!cfg_field(item, "levels"))
        cfg_err(c, path, true, "missing required field \"levels\"");
    if (cfg_list(c, item, path, "levels", &list) <= 0)
        return;
    if (!json_array_size(list)) {
        cfg_err_field(c, path, "levels", false, "levels must have at least one level");
        return;
    }
    struct oc_walk w;
    char *ipath;
    if (!(p->levels = oc_walk_begin(c, list, path, "levels", sizeof(*p->levels), &w)))
        return;
    while ((e = oc_walk_next(c, &w, &ipath))) {
        oc_level(b, e, ipath, w.i - 1, &p->levels[p->n_levels++]);
        free(ipath);
    }
}

/* ---- notifications ---- */

static void oc_notifications(struct cfg_ctx *c, const json_t *root)
{
    static const char *const keys[] = {"public_url", "secret", "link_ttl", "digest", NULL};
    static const char *const dkeys[] = {"after", "window", NULL};
    struct cfg_notify *n = &c->cfg->notify;
    const json_t *o, *d;
    const char *s;
    json_int_t v;

    n->link_ttl_ms = 24LL * 3600 * 1000;
    n->digest_after = 5;
    n->digest_window_ms = 2 * 60 * 1000;
    if (cfg_object(c, root, "", "notifications", &o) > 0) {
        cfg_check_keys(c, o, "notifications", keys);
        if (cfg_string(c, o, "notifications", "public_url", false, &s) > 0) {
            if (!oc_url_ok(s, oc_http_schemes))
                cfg_err_field(c, "notifications", "public_url", false,
                              "public_url must be an http:// or https:// URL");
            else
                n->public_url = cfg_strdup(c, s);
        }
        n->secret = oc_opt_secret(c, o, "notifications", "secret");
        ck_positive_duration(c, o, "notifications", "link_ttl", &n->link_ttl_ms);
        if (cfg_object(c, o, "notifications", "digest", &d) > 0) {
            cfg_check_keys(c, d, "notifications.digest", dkeys);
            if (cfg_integer(c, d, "notifications.digest", "after", 0, 10000, &v) > 0)
                n->digest_after = (int)v;
            ck_positive_duration(c, d, "notifications.digest", "window", &n->digest_window_ms);
        }
    }
    /* Unset, the server uses the address it actually bound (listen may
     * name port 0, or be replaced by serve --listen). */
    /* Links are made by appending "/..." to it. */
    for (size_t len = n->public_url ? strlen(n->public_url) : 0;
         len > 0 && n->public_url[len - 1] == '/'; len--)
        n->public_url[len - 1] = '\0';
}

/* ---- Building ---- */

void cfg_oncall_build(struct cfg_ctx *c, const json_t *root)
{
    struct config *cfg = c->cfg;
    struct oc_build b = {.c = c};

    oc_notifications(c, root);
    if (!(cfg->channels = cfg_alloc_list(c, root, "channels", sizeof(*cfg->channels))) ||
        !(cfg->users = cfg_alloc_list(c, root, "users", sizeof(*cfg->users))) ||
        !(cfg->schedules = cfg_alloc_list(c, root, "schedules", sizeof(*cfg->schedules))) ||
        !(cfg->teams = cfg_alloc_list(c, root, "teams", sizeof(*cfg->teams))) ||
        !(cfg->policies = cfg_alloc_list(c, root, "escalation_policies", sizeof(*cfg->policies))))
        return;

    oc_items(&b, root, "channels", oc_channel_item);
    oc_map_add(&b, OC_CHANNEL, cfg->channels, cfg->n_channels, sizeof(*cfg->channels),
               offsetof(struct cfg_channel, name));
    oc_items(&b, root, "users", oc_user_item);
    oc_map_add(&b, OC_USER, cfg->users, cfg->n_users, sizeof(*cfg->users),
               offsetof(struct cfg_user, name));
    oc_items(&b, root, "schedules", oc_schedule_item);
    oc_map_add(&b, OC_SCHEDULE, cfg->schedules, cfg->n_schedules, sizeof(*cfg->schedules),
               offsetof(struct cfg_schedule, name));
    oc_items(&b, root, "teams", oc_team_item);
    oc_map_add(&b, OC_TEAM, cfg->teams, cfg->n_teams, sizeof(*cfg->teams),
               offsetof(struct cfg_team, name));
    oc_items(&b, root, "escalation_policies", oc_policy_item);
    oc_map_add(&b, OC_POLICY, cfg->policies, cfg->n_policies, sizeof(*cfg->policies),
               offsetof(struct cfg_escalation_policy, name));
    oc_team_policies(&b, root);

    for (int k = 0; k < OC_KINDS; k++)
        strmap_free(&b.maps[k]);
}

void cfg_oncall_service(struct cfg_ctx *c, const json_t *item, const char *path,
                        struct cfg_service *s)
{
    static const char *const keys[] = {"time_zone", "windows", NULL};
    const json_t *o;
    const struct tz *tz = NULL;

    oc_ref(c, NULL, item, path, "escalation_policy", OC_POLICY, &s->escalation_policy);
    if (cfg_object(c, item, path, "support_hours", &o) <= 0)
        return;
    char *spath = ck_key_path(c, path, "support_hours");
    if (!spath)
        return;
    cfg_check_keys(c, o, spath, keys);
    oc_zone(c, o, spath, "time_zone", true, &tz);
    if (!cfg_field(o, "windows"))
        cfg_err(c, spath, true, "missing required field \"windows\"");
    else if (oc_windows(c, o, spath, "windows", tz, &s->support_hours, &s->n_support_hours) == 0)
        cfg_err_field(c, spath, "windows", false, "windows must have at least one window");
    free(spath);
}

void cfg_oncall_route(struct cfg_ctx *c, const json_t *obj, const char *path, struct route *r,
                      const struct route *parent)
{
    /* Inherited like service; escalation_policy: null clears the parent's. */
    const char *inherited = parent ? parent->escalation_policy : NULL;
    if (json_object_get(obj, "escalation_policy") && !cfg_field(obj, "escalation_policy"))
        inherited = NULL;
    if (cfg_field(obj, "escalation_policy"))
        oc_ref(c, NULL, obj, path, "escalation_policy", OC_POLICY, &r->escalation_policy);
    else if (inherited)
        r->escalation_policy = cfg_strdup(c, inherited);
    oc_name_list(c, NULL, obj, path, "notify", OC_CHANNEL, true, &r->notify, &r->n_notify);
}

/* ---- Freeing ---- */

static void oc_free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void oc_free_secret(char *s)
{
    if (s)
        sodium_memzero(s, strlen(s));
    free(s);
}

void cfg_oncall_service_free(struct cfg_service *s)
{
    free(s->escalation_policy);
    free(s->support_hours);
}

void cfg_oncall_route_free(struct route *r)
{
    free(r->escalation_policy);
    oc_free_strv(r->notify, r->n_notify);
}

void cfg_oncall_free(struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_users; i++) {
        struct cfg_user *u = &cfg->users[i];
        free(u->name);
        free(u->full_name);
        free(u->email);
        free(u->phone);
        for (size_t j = 0; j < u->n_contacts; j++) {
            free(u->contacts[j].channel);
            free(u->contacts[j].to);
        }
        free(u->contacts);
    }
    free(cfg->users);
    for (size_t i = 0; i < cfg->n_teams; i++) {
        struct cfg_team *t = &cfg->teams[i];
        free(t->name);
        oc_free_strv(t->members, t->n_members);
        free(t->escalation_policy);
        oc_free_strv(t->schedules, t->n_schedules);
    }
    free(cfg->teams);
    for (size_t i = 0; i < cfg->n_schedules; i++) {
        struct cfg_schedule *s = &cfg->schedules[i];
        free(s->name);
        free(s->description);
        for (size_t j = 0; j < s->n_layers; j++) {
            free(s->layers[j].name);
            oc_free_strv(s->layers[j].users, s->layers[j].n_users);
            free(s->layers[j].restrictions);
        }
        free(s->layers);
    }
    free(cfg->schedules);
    for (size_t i = 0; i < cfg->n_policies; i++) {
        struct cfg_escalation_policy *p = &cfg->policies[i];
        free(p->name);
        free(p->description);
        for (size_t j = 0; j < p->n_levels; j++) {
            for (size_t k = 0; k < p->levels[j].n_targets; k++)
                free(p->levels[j].targets[k].name);
            free(p->levels[j].targets);
        }
        free(p->levels);
    }
    free(cfg->policies);
    for (size_t i = 0; i < cfg->n_channels; i++) {
        struct cfg_channel *ch = &cfg->channels[i];
        free(ch->name);
        free(ch->url);
        oc_free_secret(ch->secret);
        /* Header values may be credentials read from the environment. */
        for (char **h = ch->headers; h && *h; h++)
            oc_free_secret(*h);
        free(ch->headers);
        free(ch->from);
        free(ch->username);
        oc_free_secret(ch->password);
        free(ch->command);
        free(ch->subject);
        free(ch->body);
    }
    free(cfg->channels);
    free(cfg->notify.public_url);
    oc_free_secret(cfg->notify.secret);
}

/* ---- Look-ups ---- */

/* A linear scan over an array of entries with a name at name_off; see the
 * comment at the top of the file for why there is no index. */
static const void *oc_scan(const void *arr, size_t n, size_t size, size_t name_off,
                           const char *name)
{
    for (size_t i = 0; i < n; i++) {
        const char *e = (const char *)arr + i * size;
        const char *en = *(char *const *)(e + name_off);
        if (en && strcmp(en, name) == 0)
            return e;
    }
    return NULL;
}

const struct cfg_user *config_find_user(const struct config *cfg, const char *name)
{
    return oc_scan(cfg->users, cfg->n_users, sizeof(*cfg->users), offsetof(struct cfg_user, name),
                   name);
}

const struct cfg_team *config_find_team(const struct config *cfg, const char *name)
{
    return oc_scan(cfg->teams, cfg->n_teams, sizeof(*cfg->teams), offsetof(struct cfg_team, name),
                   name);
}

const struct cfg_schedule *config_find_schedule(const struct config *cfg, const char *name)
{
    return oc_scan(cfg->schedules, cfg->n_schedules, sizeof(*cfg->schedules),
                   offsetof(struct cfg_schedule, name), name);
}

const struct cfg_escalation_policy *config_find_policy(const struct config *cfg, const char *name)
{
    return oc_scan(cfg->policies, cfg->n_policies, sizeof(*cfg->policies),
                   offsetof(struct cfg_escalation_policy, name), name);
}

const struct cfg_channel *config_find_channel(const struct config *cfg, const char *name)
{
    return oc_scan(cfg->channels, cfg->n_channels, sizeof(*cfg->channels),
                   offsetof(struct cfg_channel, name), name);
}
