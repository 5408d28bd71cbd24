/*
 * config_downtimes.c - maintenance windows from the file (`downtimes`), and
 * the weekday lists that downtimes, on-call restrictions and support hours
 * share.
 */
#include "config.h"
#include "config_int.h"

#include "../base/recur.h"
#include "../base/timefmt.h"
#include "../base/tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ck_weekdays(struct cfg_ctx *c, const json_t *o, const char *path, const char *key,
                uint8_t *mask)
{
    const json_t *days, *e;
    char err[192];
    size_t i;
    int rc = cfg_list(c, o, path, key, &days);
    if (rc <= 0)
        return rc;
    char *base = ck_key_path(c, path, key);
    json_array_foreach(days, i, e)
    {
        char *ipath = base ? ck_index_path(c, base, i) : NULL;
        const char *name = json_string_value(e);
        uint8_t bits;
        if (!ipath)
            break;
        if (!name)
            cfg_err(c, ipath, false, "%s must be weekday names such as \"mon\"", key);
        else if (recur_parse_weekdays(&name, 1, &bits, err, sizeof(err)) < 0)
            cfg_err(c, ipath, false, "%s", err);
        else
            *mask |= bits;
        free(ipath);
    }
    free(base);
    if (!json_array_size(days)) {
        cfg_err_field(c, path, key, false, "%s must name at least one weekday", key);
        return -1;
    }
    return 1;
}

/* ---- Downtimes ---- */

/* An RFC 3339 timestamp field. */
static int ck_time(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                   int64_t *out)
{
    const json_t *v = cfg_field(obj, key);
    if (!v)
        return 0;
    if (!json_is_string(v) ||
        timefmt_parse_rfc3339(json_string_value(v), json_string_length(v), out) < 0) {
        cfg_err_field(c, path, key, false,
                      "%s must be an RFC 3339 time such as \"2026-12-01T22:00:00Z\"", key);
        return -1;
    }
    return 1;
}

/* recurring: {freq, days, monthday, at, duration, time_zone, from, until}. */
static void ck_recurring(struct cfg_ctx *c, const json_t *o, const char *path, struct recur *r)
{
    static const char *const keys[] = {"freq",      "days", "monthday", "at", "duration",
                                       "time_zone", "from", "until",    NULL};
    static const char *const freqs[] = {"daily", "weekly", "monthly"};
    const char *s;
    char err[192];
    int freq = -1;

    cfg_check_keys(c, o, path, keys);
    if (!cfg_field(o, "freq"))
        cfg_err(c, path, true, "missing required field \"freq\"");
    if (cfg_enum(c, o, path, "freq", freqs, 3, &freq) > 0)
        r->freq = (enum recur_freq)(freq + 1);

    if (ck_weekdays(c, o, path, "days", &r->weekdays) > 0) {
        if (freq == 2)
            cfg_err_field(c, path, "days", true, "days does not apply to freq: monthly");
    } else if (freq == 1) {
        cfg_err(c, path, true, "freq: weekly needs days");
    }

    const json_t *md = cfg_field(o, "monthday");
    if (md) {
        if (json_is_string(md) && strcmp(json_string_value(md), "last") == 0)
            r->monthday = -1;
        else if (json_is_integer(md) && json_integer_value(md) >= 1 && json_integer_value(md) <= 31)
            r->monthday = (int)json_integer_value(md);
        else
            cfg_err_field(c, path, "monthday", false, "monthday must be 1 to 31 or \"last\"");
        if (freq >= 0 && freq != 2)
            cfg_err_field(c, path, "monthday", true, "monthday applies to freq: monthly only");
    } else if (freq == 2) {
        cfg_err(c, path, true, "freq: monthly needs monthday");
    }

    if (cfg_string(c, o, path, "at", true, &s) > 0 && recur_parse_hhmm(s, &r->start_minute) < 0)
        cfg_err_field(c, path, "at", false, "at must be a time of day \"HH:MM\" (00:00 to 23:59)");
    if (!cfg_field(o, "duration"))
        cfg_err(c, path, true, "missing required field \"duration\"");
    ck_positive_duration(c, o, path, "duration", &r->duration_ms);

    const char *zone = "UTC";
    if (cfg_string(c, o, path, "time_zone", false, &s) > 0)
        zone = s;
    r->tz = tz_get(zone, err, sizeof(err));
    if (!r->tz)
        cfg_err_field(c, path, cfg_field(o, "time_zone") ? "time_zone" : "freq", false, "%s", err);
    ck_time(c, o, path, "from", &r->start_ms);
    if (ck_time(c, o, path, "until", &r->until_ms) > 0 && r->until_ms <= r->start_ms)
        cfg_err_field(c, path, "until", false, "until must be after from");
}

static void ck_downtime_item(struct cfg_ctx *c, const json_t *item, const char *path, size_t i,
                             json_t *seen, json_t *seen_secret)
{
    static const char *const keys[] = {"name",    "host",      "check", "matchers", "children",
                                       "comment", "recurring", "start", "end",      NULL};
    struct cfg_downtime *d = &c->cfg->downtimes[c->cfg->n_downtimes++];
    const char *name, *s;
    const json_t *v;

    cfg_check_keys(c, item, path, keys);
    if (cfg_name(c, item, path, &name) == 0) {
        d->name = cfg_strdup(c, name);
        cfg_unique(c, seen, path, "name", name, "downtime name", false);
    }

    /* What it covers: exactly one of host, check and matchers. */
    static const char *const targets[] = {"host", "check", "matchers"};
    const char *first = NULL;
    for (int t = 0; t < 3; t++) {
        if (!cfg_field(item, targets[t]))
            continue;
        if (first)
            cfg_err_field(c, path, targets[t], true, "%s cannot be combined with %s", targets[t],
                          first);
        else
            first = targets[t];
    }
    if (!first)
        cfg_err(c, path, false, "a downtime needs one of host, check or matchers");
    if (cfg_string(c, item, path, "host", false, &s) > 0) {
        if (!config_find_host(c->cfg, s))
            cfg_err_field(c, path, "host", false, "unknown host \"%.128s\"", s);
        else
            d->host = cfg_strdup(c, s);
    }
    if (cfg_string(c, item, path, "check", false, &s) > 0) {
        const struct cfg_check *ck = config_find_check(c->cfg, s);
        if (!strchr(s, '!'))
            cfg_err_field(c, path, "check", false,
                          "check must be a check id \"HOST!CHECK\" (use host: for a whole host)");
        else if (!ck)
            cfg_err_field(c, path, "check", false, "unknown check \"%.200s\"", s);
        else {
            /* host: given too is already an error; do not leak its copy. */
            free(d->host);
            d->host = cfg_strdup(c, ck->host);
            d->check = cfg_strdup(c, ck->name);
        }
    }
    if (cfg_list(c, item, path, "matchers", &v) > 0) {
        char *base = ck_key_path(c, path, "matchers");
        size_t k;
        const json_t *e;
        d->matchers = calloc(json_array_size(v) + 1, sizeof(*d->matchers));
        if (!d->matchers || !base)
            ck_oom(c);
        if (!json_array_size(v))
            cfg_err_field(c, path, "matchers", false, "matchers must not be empty");
        json_array_foreach(v, k, e)
        {
            char *ipath = base && d->matchers ? ck_index_path(c, base, k) : NULL;
            char err[160];
            if (!ipath)
                break;
            if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e))
                cfg_err(c, ipath, false, "matchers must be strings such as 'site=\"berlin\"'");
            else if (config_matcher_parse(json_string_value(e), &d->matchers[d->n_matchers], err,
                                          sizeof(err)) < 0)
                cfg_err(c, ipath, false, "invalid matcher \"%.128s\": %s", json_string_value(e),
                        err);
            else
                d->n_matchers++;
            free(ipath);
        }
        free(base);
    }
    if (cfg_bool(c, item, path, "children", &d->children) > 0 && d->children &&
        !cfg_field(item, "host"))
        cfg_err_field(c, path, "children", true, "children applies to a host downtime only");
    if (cfg_string(c, item, path, "comment", false, &s) > 0)
        d->comment = cfg_strdup(c, s);

    /* When: a repeating rule, or one window from start to end. */
    const json_t *rec;
    bool once = cfg_field(item, "start") || cfg_field(item, "end");
    if (cfg_object(c, item, path, "recurring", &rec) > 0) {
        char *rpath = ck_key_path(c, path, "recurring");
        if (rpath)
            ck_recurring(c, rec, rpath, &d->recur);
        free(rpath);
        if (once)
            cfg_err_field(c, path, cfg_field(item, "start") ? "start" : "end", true,
                          "start and end cannot be combined with recurring");
    } else if (!cfg_field(item, "recurring")) {
        int64_t start = 0, end = 0;
        char err[160];
        if (!once) {
            cfg_err(c, path, false, "a downtime needs recurring, or start and end");
            return;
        }
        if (!cfg_field(item, "start"))
            cfg_err(c, path, true, "missing required field \"start\"");
        if (!cfg_field(item, "end"))
            cfg_err(c, path, true, "missing required field \"end\"");
        if (ck_time(c, item, path, "start", &start) > 0 &&
            ck_time(c, item, path, "end", &end) > 0 && end <= start)
            cfg_err_field(c, path, "end", false, "end must be after start");
        d->recur.freq = RECUR_ONCE;
        d->recur.tz = tz_get("UTC", err, sizeof(err));
        d->recur.start_ms = start;
        d->recur.duration_ms = end - start;
    }
}

void cfg_downtimes_build(struct cfg_ctx *c, const json_t *root)
{
    struct config *cfg = c->cfg;
    if (!(cfg->downtimes = cfg_alloc_list(c, root, "downtimes", sizeof(*cfg->downtimes))))
        return;
    cfg_items(c, root, "downtimes", ck_downtime_item);
}
