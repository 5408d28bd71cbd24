/*
 * downtime.c - maintenance windows. An alert that starts while a downtime
 * covers its labels is recorded as suppressed: stored, visible, but in no
 * incident, so nobody is paged and availability reports can leave it out.
 * When the window ends and the alert is still firing, it is routed like a
 * new alert, as Icinga notifies a problem that outlived its downtime.
 *
 * A downtime covers a host (with `children`, also every host below it in the
 * parents tree), one check of a host, or any alert whose labels match a list
 * of matchers. Windows come from base/recur.h: one-off or repeating in a
 * time zone. The configured downtimes come from the config; those made
 * through the API are stored as their JSON spec and rebuilt at start.
 */
#include "../base/log.h"
#include "../base/timefmt.h"
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest window an API downtime may have: a year, which covers every
 * planned migration and keeps a typo from silencing a host forever. */
#define DOWNTIME_MAX_MS (366LL * 86400000)

void downtime_rec_clear(struct downtime_rec *d)
{
    free(d->name);
    for (size_t i = 0; i < d->n_hosts; i++)
        free(d->hosts[i]);
    free(d->hosts);
    free(d->check);
    if (d->own_matchers) {
        for (size_t i = 0; i < d->n_matchers; i++)
            config_matcher_free(&d->matchers[i]);
        free(d->matchers);
    }
    free(d->comment);
    memset(d, 0, sizeof(*d));
}

void downtime_free_all(struct engine_state *st)
{
    for (size_t i = 0; i < st->n_downtimes; i++)
        downtime_rec_clear(&st->downtimes[i]);
    free(st->downtimes);
    st->downtimes = NULL;
    st->n_downtimes = st->cap_downtimes = 0;
}

/* Adds name and, with children, every host below it (parents point up, so
 * a host is below when one of its parents is in the set). Hosts are few
 * compared with the time between downtime changes; a fixed point over the
 * host list is simple and bounded by depth x hosts. */
static int downtime_add_hosts(struct downtime_rec *d, const struct config *cfg, const char *name,
                              bool children)
{
    struct strmap seen = {0};
    int rc = -1;
    size_t cap = 8;
    d->hosts = malloc(cap * sizeof(*d->hosts));
    if (!d->hosts || !(d->hosts[0] = strdup(name)))
        goto out;
    d->n_hosts = 1;
    if (strmap_put(&seen, d->hosts[0], d))
        goto out;
    for (bool grew = children; grew;) {
        grew = false;
        for (size_t h = 0; h < cfg->n_hosts; h++) {
            const struct cfg_host *host = &cfg->hosts[h];
            if (strmap_get(&seen, host->name))
                continue;
            for (size_t p = 0; p < host->n_parents; p++) {
                if (!strmap_get(&seen, host->parents[p]))
                    continue;
                if (d->n_hosts == cap) {
                    char **nh = realloc(d->hosts, 2 * cap * sizeof(*nh));
                    if (!nh)
                        goto out;
                    d->hosts = nh;
                    cap *= 2;
                }
                if (!(d->hosts[d->n_hosts] = strdup(host->name)))
                    goto out;
                if (strmap_put(&seen, d->hosts[d->n_hosts], d))
                    goto out;
                d->n_hosts++;
                grew = true;
                break;
            }
        }
    }
    rc = 0;
out:
    strmap_free(&seen);
    return rc;
}

static int downtime_push(struct engine_state *st, struct downtime_rec *d)
{
    if (st->n_downtimes == st->cap_downtimes) {
        size_t ncap = st->cap_downtimes ? st->cap_downtimes * 2 : 8;
        struct downtime_rec *nv = realloc(st->downtimes, ncap * sizeof(*nv));
        if (!nv)
            return -1;
        st->downtimes = nv;
        st->cap_downtimes = ncap;
    }
    st->downtimes[st->n_downtimes++] = *d;
    memset(d, 0, sizeof(*d));
    st->dt_next_edge = 0;
    return 0;
}

static const char *json_str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Reads spec.recurring into r. */
static int downtime_recurring(const json_t *rj, struct recur *r, char *err, size_t errlen)
{
    const char *freq = json_str(rj, "freq"), *at = json_str(rj, "at");
    const char *dur = json_str(rj, "duration"), *zone = json_str(rj, "time_zone");
    const json_t *days = json_object_get(rj, "days"), *md = json_object_get(rj, "monthday");
    char zerr[160];

    if (!json_is_object(rj))
        return snprintf(err, errlen, "recurring: must be an object"), -1;
    if (!freq || (strcmp(freq, "daily") && strcmp(freq, "weekly") && strcmp(freq, "monthly")))
        return snprintf(err, errlen, "recurring.freq: must be daily, weekly or monthly"), -1;
    r->freq = freq[0] == 'd' ? RECUR_DAILY : freq[0] == 'w' ? RECUR_WEEKLY : RECUR_MONTHLY;
    if (!at || recur_parse_hhmm(at, &r->start_minute))
        return snprintf(err, errlen, "recurring.at: must be HH:MM"), -1;
    if (!dur || timefmt_parse_duration(dur, &r->duration_ms) || r->duration_ms <= 0 ||
        r->duration_ms > DOWNTIME_MAX_MS)
        return snprintf(err, errlen, "recurring.duration: must be a duration such as 4h"), -1;
    r->tz = tz_get(zone ? zone : "UTC", zerr, sizeof(zerr));
    if (!r->tz)
        return snprintf(err, errlen, "recurring.time_zone: %s", zerr), -1;
    if (days) {
        const char *names[7];
        size_t n = json_array_size(days);
        if (!json_is_array(days) || n == 0 || n > 7)
            return snprintf(err, errlen, "recurring.days: must be a list of 1 to 7 days"), -1;
        for (size_t i = 0; i < n; i++) {
            names[i] = json_string_value(json_array_get(days, i));
            if (!names[i])
                return snprintf(err, errlen, "recurring.days[%zu]: must be a string", i), -1;
        }
        if (recur_parse_weekdays(names, n, &r->weekdays, zerr, sizeof(zerr)))
            return snprintf(err, errlen, "recurring.days: %s", zerr), -1;
    } else if (r->freq == RECUR_WEEKLY) {
        return snprintf(err, errlen, "recurring.days: required for weekly"), -1;
    }
    if (r->freq == RECUR_MONTHLY) {
        if (json_is_string(md) && strcmp(json_string_value(md), "last") == 0)
            r->monthday = -1;
        else if (json_is_integer(md) && json_integer_value(md) >= 1 && json_integer_value(md) <= 31)
            r->monthday = (int)json_integer_value(md);
        else
            return snprintf(err, errlen, "recurring.monthday: must be 1..31 or \"last\""), -1;
    }
    const char *from = json_str(rj, "from"), *until = json_str(rj, "until");
    if (from && timefmt_parse_rfc3339(from, strlen(from), &r->start_ms))
        return snprintf(err, errlen, "recurring.from: must be an RFC 3339 time"), -1;
    if (until && timefmt_parse_rfc3339(until, strlen(until), &r->until_ms))
        return snprintf(err, errlen, "recurring.until: must be an RFC 3339 time"), -1;
    return 0;
}

int downtime_from_json(const json_t *spec, const struct config *cfg, int64_t id,
                       struct downtime_rec *out, char *err, size_t errlen)
{
    static const char *const known[] = {"name",    "host",  "check", "matchers",  "children",
                                        "comment", "start", "end",   "recurring", NULL};
    const char *host = json_str(spec, "host"), *check = json_str(spec, "check");
    const json_t *matchers = json_object_get(spec, "matchers");
    const json_t *children = json_object_get(spec, "children");
    const char *key;
    const json_t *v;
    char hostbuf[256];

    memset(out, 0, sizeof(*out));
    if (!json_is_object(spec))
        return snprintf(err, errlen, "body: must be a JSON object"), -1;
    json_object_foreach((json_t *)spec, key, v)
    {
        bool ok = false;
        for (size_t i = 0; known[i]; i++)
            ok |= strcmp(key, known[i]) == 0;
        if (!ok)
            return snprintf(err, errlen, "%s: unknown field", key), -1;
    }
    /* "check": "HOST!CHECK" names both. */
    if (check && strchr(check, '!') && !host) {
        size_t n = (size_t)(strchr(check, '!') - check);
        if (n >= sizeof(hostbuf))
            return snprintf(err, errlen, "check: too long"), -1;
        memcpy(hostbuf, check, n);
        hostbuf[n] = '\0';
        host = hostbuf;
        check = strchr(check, '!') + 1;
    } else if (check && strchr(check, '!')) {
        check = strchr(check, '!') + 1;
    }
    if (!!host + !!matchers != 1)
        return snprintf(err, errlen, "host: give exactly one of host, check or matchers"), -1;
    if (children && !json_is_boolean(children))
        return snprintf(err, errlen, "children: must be true or false"), -1;
    if (json_object_get(spec, "comment") && !json_is_string(json_object_get(spec, "comment")))
        return snprintf(err, errlen, "comment: must be a string"), -1;
    if (host) {
        if (!config_find_host(cfg, host))
            return snprintf(err, errlen, "host: no host named '%s'", host), -1;
        if (check) {
            char idbuf[512];
            snprintf(idbuf, sizeof(idbuf), "%s!%s", host, check);
            if (!config_find_check(cfg, idbuf))
                return snprintf(err, errlen, "check: no check '%s' on host '%s'", check, host), -1;
        }
    } else {
        size_t n = json_array_size(matchers);
        if (!json_is_array(matchers) || n == 0 || n > 32)
            return snprintf(err, errlen, "matchers: must be a list of 1 to 32 matchers"), -1;
        out->matchers = calloc(n, sizeof(*out->matchers));
        if (!out->matchers)
            return snprintf(err, errlen, "out of memory"), -1;
        out->own_matchers = true;
        for (size_t i = 0; i < n; i++) {
            const char *text = json_string_value(json_array_get(matchers, i));
            char merr[160];
            if (!text || config_matcher_parse(text, &out->matchers[i], merr, sizeof(merr))) {
                snprintf(err, errlen, "matchers[%zu]: %s", i,
                         text ? merr : "must be a string such as 'site=\"berlin\"'");
                downtime_rec_clear(out);
                return -1;
            }
            out->n_matchers++;
        }
    }

    const json_t *rj = json_object_get(spec, "recurring");
    const char *start = json_str(spec, "start"), *end = json_str(spec, "end");
    if (rj) {
        if (start || end) {
            downtime_rec_clear(out);
            return snprintf(err, errlen, "recurring: give either recurring or start/end"), -1;
        }
        if (downtime_recurring(rj, &out->recur, err, errlen)) {
            downtime_rec_clear(out);
            return -1;
        }
    } else {
        int64_t s_ms, e_ms;
        char zerr[64];
        if (!start || timefmt_parse_rfc3339(start, strlen(start), &s_ms)) {
            downtime_rec_clear(out);
            return snprintf(err, errlen, "start: required, an RFC 3339 time"), -1;
        }
        if (!end || timefmt_parse_rfc3339(end, strlen(end), &e_ms)) {
            downtime_rec_clear(out);
            return snprintf(err, errlen, "end: required, an RFC 3339 time"), -1;
        }
        if (e_ms <= s_ms || e_ms - s_ms > DOWNTIME_MAX_MS) {
            downtime_rec_clear(out);
            return snprintf(err, errlen, "end: must be after start, by at most 366 days"), -1;
        }
        out->recur.freq = RECUR_ONCE;
        out->recur.tz = tz_get("UTC", zerr, sizeof(zerr));
        out->recur.start_ms = s_ms;
        out->recur.duration_ms = e_ms - s_ms;
    }
    out->id = id;
    const char *name = json_str(spec, "name");
    char namebuf[64];
    if (!name) {
        snprintf(namebuf, sizeof(namebuf), "downtime-%lld", (long long)id);
        name = namebuf;
    }
    out->name = strdup(name);
    out->comment = json_str(spec, "comment") ? strdup(json_str(spec, "comment")) : NULL;
    out->check = check ? strdup(check) : NULL;
    if (!out->name || (host && downtime_add_hosts(out, cfg, host, json_is_true(children)))) {
        downtime_rec_clear(out);
        return snprintf(err, errlen, "out of memory"), -1;
    }
    return 0;
}

int engine_downtime_validate(const json_t *spec, const struct config *cfg, char *err, size_t errlen)
{
    struct downtime_rec d;
    if (downtime_from_json(spec, cfg, 0, &d, err, errlen))
        return -1;
    downtime_rec_clear(&d);
    return 0;
}

int engine_downtime_recur(const json_t *spec, const struct config *cfg, struct recur *out,
                          char *err, size_t errlen)
{
    struct downtime_rec d;
    if (downtime_from_json(spec, cfg, 0, &d, err, errlen))
        return -1;
    *out = d.recur;
    downtime_rec_clear(&d);
    return 0;
}

static int downtime_load_api(void *ctx, int64_t id, const char *spec)
{
    struct engine_state *st = ctx;
    struct downtime_rec d;
    char err[256];
    json_t *j = json_loads(spec, 0, NULL);
    /* A stored downtime can stop making sense after a reload (its host was
     * removed); it is skipped with a warning, not fatal. */
    if (!j || downtime_from_json(j, st->cfg, id, &d, err, sizeof(err))) {
        log_warn("downtime %lld no longer applies: %s", (long long)id, j ? err : "bad JSON");
        json_decref(j);
        return 0;
    }
    json_decref(j);
    if (downtime_push(st, &d)) {
        downtime_rec_clear(&d);
        return -1;
    }
    return 0;
}

int downtime_load(struct engine_state *st, char *err, size_t errlen)
{
    downtime_free_all(st);
    for (size_t i = 0; i < st->cfg->n_downtimes; i++) {
        const struct cfg_downtime *cd = &st->cfg->downtimes[i];
        struct downtime_rec d = {0};
        d.name = strdup(cd->name);
        d.check = cd->check ? strdup(cd->check) : NULL;
        d.matchers = cd->matchers;
        d.n_matchers = cd->n_matchers;
        d.recur = cd->recur;
        d.comment = cd->comment ? strdup(cd->comment) : NULL;
        if (!d.name || (cd->host && downtime_add_hosts(&d, st->cfg, cd->host, cd->children)) ||
            downtime_push(st, &d)) {
            downtime_rec_clear(&d);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    if (store_downtime_load(st->store, downtime_load_api, st)) {
        snprintf(err, errlen, "loading downtimes: %s", store_errmsg(st->store));
        return -1;
    }
    return 0;
}

static bool downtime_covers(const struct downtime_rec *d, const struct labelset *ls)
{
    if (d->hosts) {
        const char *host = labels_get(ls, "host");
        bool hit = false;
        if (!host)
            return false;
        for (size_t i = 0; i < d->n_hosts && !hit; i++)
            hit = strcmp(d->hosts[i], host) == 0;
        if (!hit)
            return false;
        if (d->check) {
            const char *check = labels_get(ls, "check");
            return check && strcmp(check, d->check) == 0;
        }
        return true;
    }
    for (size_t i = 0; i < d->n_matchers; i++) {
        if (!route_matcher_matches(&d->matchers[i], ls))
            return false;
    }
    return d->n_matchers > 0;
}

const struct downtime_rec *downtime_covering(const struct engine_state *st,
                                             const struct labelset *ls, int64_t now)
{
    if (!ls)
        return NULL;
    for (size_t i = 0; i < st->n_downtimes; i++) {
        const struct downtime_rec *d = &st->downtimes[i];
        if (recur_active(&d->recur, now) && downtime_covers(d, ls))
            return d;
    }
    return NULL;
}

int downtime_apply_cmd(struct engine_state *st, struct engine_cmd *cmd, int64_t now)
{
    char actor[160], err[256];
    snprintf(actor, sizeof(actor), "%s", cmd->actor ? cmd->actor : "api");
    if (cmd->kind == CMD_DOWNTIME_ADD) {
        struct downtime_rec d;
        int64_t id = store_downtime_insert(st->store, cmd->downtime, now, actor);
        if (id < 0)
            return -1;
        if (downtime_from_json(cmd->downtime, st->cfg, id, &d, err, sizeof(err))) {
            /* Validated by the handler against the same config; only a
             * reload in between can get here. */
            cmd->status = ENGINE_ECONFLICT;
            return 0;
        }
        if (downtime_push(st, &d)) {
            downtime_rec_clear(&d);
            return -1;
        }
        cmd->out_id = id;
        json_t *after = json_deep_copy(cmd->downtime);
        int rc =
            store_audit_add(st->store, now, actor, "downtime.created", "downtime", id, NULL, after);
        json_decref(after);
        return rc;
    }
    int found = store_downtime_delete(st->store, cmd->downtime_id, now, actor);
    if (found < 0)
        return -1;
    if (found == 0) {
        cmd->status = ENGINE_ENOTFOUND;
        return 0;
    }
    for (size_t i = 0; i < st->n_downtimes; i++) {
        if (st->downtimes[i].id == cmd->downtime_id) {
            downtime_rec_clear(&st->downtimes[i]);
            st->downtimes[i] = st->downtimes[--st->n_downtimes];
            break;
        }
    }
    st->dt_next_edge = 0;
    cmd->changed = true;
    return store_audit_add(st->store, now, actor, "downtime.deleted", "downtime", cmd->downtime_id,
                           NULL, NULL);
}

/* The next instant at which some downtime starts or ends. */
static int64_t downtime_next_edge(const struct engine_state *st, int64_t now)
{
    int64_t best = now + 3600000; /* look again within the hour in any case */
    for (size_t i = 0; i < st->n_downtimes; i++) {
        int64_t s, e;
        if (!recur_window(&st->downtimes[i].recur, now, &s, &e))
            continue;
        int64_t edge = s > now ? s : e;
        if (edge > now && edge < best)
            best = edge;
    }
    return best;
}

int downtime_tick(struct engine_state *st, int64_t now)
{
    if (st->dt_next_edge && now < st->dt_next_edge)
        return 0;
    st->dt_next_edge = downtime_next_edge(st, now);
    if (st->n_dt_suppressed == 0)
        return 0;
    /* Unsuppressing routes the alert into incidents; it never adds to or
     * removes from the alerts map, so scanning its slots stays valid. */
    for (size_t i = 0; i < st->alerts.cap; i++) {
        struct alert_rec *a = st->alerts.slots[i].hash ? st->alerts.slots[i].value : NULL;
        if (!a || a->suppressed != SUPPRESS_DOWNTIME || !a->held)
            continue;
        if (downtime_covering(st, &a->held->labels, now))
            continue;
        if (alert_unsuppress(st, a, NULL, now, "tocsin"))
            return -1;
    }
    return 0;
}
