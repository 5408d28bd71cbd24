/*
 * api_oncall.c - who is on call (now or at a given time), schedules and
 * their computed shifts, iCal feeds, overrides, users, teams, policies, the
 * notification outbox, and the one-click action links of notifications.
 *
 * Schedules are pure functions of the configuration and the overrides, so
 * the readers compute them here from a snapshot; overrides change through
 * the engine like every other state, so they are stored and audited.
 */
#include "../base/clock.h"
#include "../base/timefmt.h"
#include "../notify/action_link.h"
#include "../oncall/overrides.h"
#include "../oncall/schedule.h"
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS             86400000LL
#define ICS_PAST_MS        (30 * DAY_MS)
#define ICS_AHEAD_MS       (180 * DAY_MS)
#define DEFAULT_SHIFTS_MS  (14 * DAY_MS)
#define OVERRIDE_MAX_MS    (366 * DAY_MS)
#define LIST_DEFAULT_LIMIT 50

static json_t *ts_json(int64_t ms)
{
    char buf[40];
    return ms ? json_string(timefmt_format_rfc3339(ms, buf, sizeof(buf))) : json_null();
}

/* Reads a time parameter (RFC 3339 or "now"); def when absent. Answers 400
 * and returns false when it does not parse. */
static bool time_param(struct http_req *req, const char *name, int64_t def, int64_t *out)
{
    const char *v = http_query(req, name);
    *out = def;
    if (!v || strcmp(v, "now") == 0) {
        if (v)
            *out = clock_now_ms();
        return true;
    }
    if (timefmt_parse_rfc3339(v, strlen(v), out)) {
        http_reply_error(req, 400, "invalid_parameter", name,
                         "%s must be an RFC 3339 time such as 2026-11-23T09:00:00+01:00 or now",
                         name);
        return false;
    }
    return true;
}

static const char *layer_name(const struct cfg_schedule *s, int layer, char *buf, size_t size)
{
    if (layer < 0)
        return "override";
    if ((size_t)layer < s->n_layers && s->layers[layer].name)
        return s->layers[layer].name;
    snprintf(buf, size, "layer %d", layer + 1);
    return buf;
}

static bool snapshot(struct http_req *req, const char *schedule, struct overrides_snapshot *snap)
{
    memset(snap, 0, sizeof(*snap));
    if (!req->ctx->overrides)
        return true;
    if (overrides_snapshot(req->ctx->overrides, schedule, snap)) {
        http_reply_error(req, 500, "internal", NULL, "out of memory");
        return false;
    }
    return true;
}

/* {"name", "time_zone", "oncall": {user, until, layer} | null, "next": {user, from} | null} */
static json_t *schedule_now_json(const struct cfg_schedule *s, const struct overrides_snapshot *sn,
                                 int64_t at)
{
    int64_t until = 0;
    int layer = 0;
    char lb[32];
    const char *who = schedule_oncall_at(s, sn->items, sn->n, at, &until, &layer);
    json_t *o = json_pack("{ss ss}", "name", s->name, "time_zone", tz_name(s->tz));
    if (who) {
        json_object_set_new(o, "oncall",
                            json_pack("{ss so ss}", "user", who, "until", ts_json(until), "layer",
                                      layer_name(s, layer, lb, sizeof(lb))));
    } else
        json_object_set_new(o, "oncall", json_null());
    json_t *next = json_null();
    if (until) {
        int64_t until2 = 0;
        int layer2 = 0;
        const char *nw = schedule_oncall_at(s, sn->items, sn->n, until, &until2, &layer2);
        if (nw)
            next = json_pack("{ss so}", "user", nw, "from", ts_json(until));
    }
    json_object_set_new(o, "next", next);
    return o;
}

/* The users a policy target reaches at `at`. */
static json_t *target_users(const struct config *cfg, const struct cfg_target *t,
                            const struct overrides_snapshot *sn, int64_t at)
{
    json_t *users = json_array();
    int64_t until;
    int layer;
    if (t->kind == TARGET_USER)
        json_array_append_new(users, json_string(t->name));
    else if (t->kind == TARGET_SCHEDULE) {
        const struct cfg_schedule *s = config_find_schedule(cfg, t->name);
        const char *who = s ? schedule_oncall_at(s, sn->items, sn->n, at, &until, &layer) : NULL;
        if (who)
            json_array_append_new(users, json_string(who));
    } else {
        const struct cfg_team *tm = config_find_team(cfg, t->name);
        for (size_t i = 0; tm && i < tm->n_schedules; i++) {
            const struct cfg_schedule *s = config_find_schedule(cfg, tm->schedules[i]);
            const char *who =
                s ? schedule_oncall_at(s, sn->items, sn->n, at, &until, &layer) : NULL;
            if (who)
                json_array_append_new(users, json_string(who));
        }
        for (size_t i = 0; tm && tm->n_schedules == 0 && i < tm->n_members; i++)
            json_array_append_new(users, json_string(tm->members[i]));
    }
    return users;
}

static const char *target_kind_name(enum target_kind k)
{
    return k == TARGET_USER ? "user" : k == TARGET_SCHEDULE ? "schedule" : "team";
}

static json_t *policy_json(const struct config *cfg, const struct cfg_escalation_policy *p,
                           const struct overrides_snapshot *sn, int64_t at)
{
    json_t *levels = json_array();
    for (size_t l = 0; l < p->n_levels; l++) {
        json_t *targets = json_array();
        for (size_t t = 0; t < p->levels[l].n_targets; t++) {
            const struct cfg_target *tg = &p->levels[l].targets[t];
            json_array_append_new(targets, json_pack("{ss ss so}", "type",
                                                     target_kind_name(tg->kind), "name", tg->name,
                                                     "users", target_users(cfg, tg, sn, at)));
        }
        json_array_append_new(
            levels, json_pack("{sI sI so}", "level", (json_int_t)(l + 1), "delay_s",
                              (json_int_t)(p->levels[l].delay_ms / 1000), "targets", targets));
    }
    return json_pack("{ss so si sI sI}", "name", p->name, "levels", levels, "repeat", p->repeat,
                     "repeat_after_s", (json_int_t)(p->repeat_after_ms / 1000), "ack_timeout_s",
                     (json_int_t)(p->ack_timeout_ms / 1000));
}

void api_oncall(struct http_req *req)
{
    const char *only = http_query(req, "schedule");
    struct overrides_snapshot sn;
    int64_t at;
    if (!auth_api(req, ROLE_VIEWER) || !time_param(req, "at", clock_now_ms(), &at))
        return;
    if (only && !config_find_schedule(req->cfg, only)) {
        http_reply_error(req, 404, "not_found", "schedule", "no schedule named \"%s\"", only);
        return;
    }
    if (!snapshot(req, NULL, &sn))
        return;
    json_t *schedules = json_array(), *policies = json_array();
    for (size_t i = 0; i < req->cfg->n_schedules; i++) {
        const struct cfg_schedule *s = &req->cfg->schedules[i];
        if (!only || strcmp(only, s->name) == 0)
            json_array_append_new(schedules, schedule_now_json(s, &sn, at));
    }
    for (size_t i = 0; !only && i < req->cfg->n_policies; i++)
        json_array_append_new(policies, policy_json(req->cfg, &req->cfg->policies[i], &sn, at));
    overrides_snapshot_free(&sn);
    http_reply_json(
        req, 200,
        json_pack("{so so so}", "at", ts_json(at), "schedules", schedules, "policies", policies));
}

void api_schedules_list(struct http_req *req)
{
    struct overrides_snapshot sn;
    int64_t now = clock_now_ms();
    if (!auth_api(req, ROLE_VIEWER) || !snapshot(req, NULL, &sn))
        return;
    json_t *arr = json_array();
    for (size_t i = 0; i < req->cfg->n_schedules; i++) {
        const struct cfg_schedule *s = &req->cfg->schedules[i];
        json_t *o = schedule_now_json(s, &sn, now);
        json_t *layers = json_array();
        for (size_t l = 0; l < s->n_layers; l++) {
            const struct cfg_layer *ly = &s->layers[l];
            char lb[32];
            json_t *users = json_array();
            for (size_t u = 0; u < ly->n_users; u++)
                json_array_append_new(users, json_string(ly->users[u]));
            json_array_append_new(layers, json_pack("{ss so ss si si}", "name",
                                                    layer_name(s, (int)l, lb, sizeof(lb)), "users",
                                                    users, "rotation_unit",
                                                    ly->unit == ROT_HOURS  ? "hours"
                                                    : ly->unit == ROT_DAYS ? "days"
                                                                           : "weeks",
                                                    "rotation", ly->rotation, "restrictions",
                                                    (int)ly->n_restrictions));
        }
        json_object_set_new(o, "layers", layers);
        json_object_set_new(o, "description",
                            s->description ? json_string(s->description) : json_null());
        json_array_append_new(arr, o);
    }
    overrides_snapshot_free(&sn);
    http_reply_json(req, 200, json_pack("{so}", "schedules", arr));
}

/* Serves shifts of one schedule, or of every schedule for one user. */
static json_t *shifts_json(const struct cfg_schedule *s, const struct schedule_shift *sh, size_t n,
                           const char *user)
{
    json_t *arr = json_array();
    char lb[32];
    for (size_t i = 0; i < n; i++) {
        if (user && strcmp(user, sh[i].user) != 0)
            continue;
        json_t *o = json_pack("{ss ss so so ss}", "schedule", s->name, "user", sh[i].user, "start",
                              ts_json(sh[i].start), "end", ts_json(sh[i].end), "layer",
                              layer_name(s, sh[i].layer, lb, sizeof(lb)));
        if (sh[i].layer < 0)
            json_object_set_new(o, "override_id", json_integer(sh[i].override_id));
        json_array_append_new(arr, o);
    }
    return arr;
}

/* True when req may read calendars: a viewer token in the Authorization
 * header, or (calendar programs cannot send headers) in ?token=. */
static bool auth_calendar(struct http_req *req)
{
    const char *tok = http_query(req, "token");
    if (!tok)
        return auth_api(req, ROLE_VIEWER) != NULL;
    if (!config_find_token(req->cfg, tok)) {
        http_reply_error(req, 401, "unknown_token", "token", "the token is not known");
        return false;
    }
    return true;
}

/* "NAME.ics" asks for a calendar (auth_calendar), "NAME" for JSON (a
 * viewer token). Copies NAME into name; false after answering. */
static bool calendar_or_json(struct http_req *req, char *name, size_t size, bool *ics)
{
    size_t n = strlen(req->params[0]);
    *ics = n > 4 && strcmp(req->params[0] + n - 4, ".ics") == 0;
    snprintf(name, size, "%.*s", (int)(*ics ? n - 4 : n), req->params[0]);
    return *ics ? auth_calendar(req) : auth_api(req, ROLE_VIEWER) != NULL;
}

static void serve_ical(struct http_req *req, const char *calname, const char *user,
                       const struct cfg_schedule *only)
{
    struct overrides_snapshot sn;
    int64_t now = clock_now_ms();
    struct schedule_shift *all = NULL;
    size_t n_all = 0;
    if (!snapshot(req, NULL, &sn))
        return;
    for (size_t i = 0; i < req->cfg->n_schedules; i++) {
        const struct cfg_schedule *s = &req->cfg->schedules[i];
        struct schedule_shift *sh = NULL;
        size_t n = 0;
        if (only && s != only)
            continue;
        if (schedule_shifts(s, sn.items, sn.n, now - ICS_PAST_MS, now + ICS_AHEAD_MS, &sh, &n))
            continue;
        struct schedule_shift *grown = realloc(all, (n_all + n + 1) * sizeof(*all));
        if (grown) {
            all = grown;
            memcpy(all + n_all, sh, n * sizeof(*sh));
            n_all += n;
        }
        free(sh);
    }
    char *ics = schedule_ical(calname, "tocsin", all, n_all, user, now);
    free(all);
    overrides_snapshot_free(&sn);
    if (!ics) {
        http_reply_error(req, 500, "internal", NULL, "out of memory");
        return;
    }
    http_reply_text(req, 200, "text/calendar; charset=utf-8", ics, strlen(ics));
    free(ics);
}

void api_schedule_get(struct http_req *req)
{
    char name[128];
    bool ics;
    if (!calendar_or_json(req, name, sizeof(name), &ics))
        return;
    const struct cfg_schedule *s = config_find_schedule(req->cfg, name);
    if (!s) {
        http_reply_error(req, 404, "not_found", NULL, "no schedule named \"%s\"", name);
        return;
    }
    if (ics) {
        const char *user = http_query(req, "user");
        serve_ical(req, s->name, user, s);
        return;
    }
    struct overrides_snapshot sn;
    if (!snapshot(req, s->name, &sn))
        return;
    json_t *o = schedule_now_json(s, &sn, clock_now_ms());
    overrides_snapshot_free(&sn);
    http_reply_json(req, 200, o);
}

void api_schedule_shifts(struct http_req *req)
{
    const struct cfg_schedule *s;
    struct overrides_snapshot sn;
    struct schedule_shift *sh = NULL;
    size_t n = 0;
    int64_t from, to, now = clock_now_ms();
    if (!auth_api(req, ROLE_VIEWER))
        return;
    if (!(s = config_find_schedule(req->cfg, req->params[0]))) {
        http_reply_error(req, 404, "not_found", NULL, "no schedule named \"%s\"", req->params[0]);
        return;
    }
    if (!time_param(req, "from", now, &from) ||
        !time_param(req, "to", from + DEFAULT_SHIFTS_MS, &to))
        return;
    if (to <= from || to - from > SCHEDULE_MAX_RANGE_MS) {
        http_reply_error(req, 400, "invalid_parameter", "to",
                         "to must be after from, and at most 366 days after it");
        return;
    }
    if (!snapshot(req, s->name, &sn))
        return;
    if (schedule_shifts(s, sn.items, sn.n, from, to, &sh, &n)) {
        overrides_snapshot_free(&sn);
        http_reply_error(req, 500, "internal", NULL, "the shifts could not be computed");
        return;
    }
    json_t *arr = shifts_json(s, sh, n, http_query(req, "user"));
    free(sh);
    overrides_snapshot_free(&sn);
    http_reply_json(req, 200,
                    json_pack("{ss ss so so so}", "schedule", s->name, "time_zone", tz_name(s->tz),
                              "from", ts_json(from), "to", ts_json(to), "shifts", arr));
}

void api_overrides_list(struct http_req *req)
{
    struct overrides_snapshot sn;
    if (!auth_api(req, ROLE_VIEWER))
        return;
    if (!config_find_schedule(req->cfg, req->params[0])) {
        http_reply_error(req, 404, "not_found", NULL, "no schedule named \"%s\"", req->params[0]);
        return;
    }
    if (!snapshot(req, req->params[0], &sn))
        return;
    json_t *arr = json_array();
    for (size_t i = 0; i < sn.n; i++)
        json_array_append_new(arr,
                              json_pack("{sI ss ss so so ss}", "id", (json_int_t)sn.items[i].id,
                                        "schedule", sn.items[i].schedule, "user", sn.items[i].user,
                                        "start", ts_json(sn.items[i].start), "end",
                                        ts_json(sn.items[i].end), "created_by", sn.created_by[i]));
    overrides_snapshot_free(&sn);
    http_reply_json(req, 200, json_pack("{so}", "overrides", arr));
}

static bool body_object(struct http_req *req, json_t **out)
{
    json_error_t jerr;
    *out = json_loadb(req->body, req->body_len, 0, &jerr);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        http_reply_error(req, 400, "malformed_json", NULL, "the body must be a JSON object");
        return false;
    }
    return true;
}

static bool body_time(struct http_req *req, json_t *body, const char *name, int64_t *out)
{
    const char *s = json_string_value(json_object_get(body, name));
    if (!s || timefmt_parse_rfc3339(s, strlen(s), out)) {
        http_reply_error(req, 422, "invalid_field", name, "%s must be an RFC 3339 time", name);
        return false;
    }
    return true;
}

static void reply_engine_error(struct http_req *req, enum engine_status st, const char *what)
{
    if (st == ENGINE_ENOTFOUND)
        http_reply_error(req, 404, "not_found", NULL, "no %s", what);
    else if (st == ENGINE_ECONFLICT)
        http_reply_error(req, 409, "conflict", NULL, "%s: not possible in its current state", what);
    else {
        req->retry_after = "1";
        http_reply_error(req, 503, "overloaded", NULL, "tocsin is busy; retry shortly");
    }
}

void api_overrides_post(struct http_req *req)
{
    const struct cfg_token *t = auth_api(req, ROLE_RESPONDER);
    const struct cfg_schedule *s;
    json_t *body;
    char actor[160];
    int64_t start, end;
    if (!t || !http_require_json_type(req))
        return;
    if (!(s = config_find_schedule(req->cfg, req->params[0]))) {
        http_reply_error(req, 404, "not_found", NULL, "no schedule named \"%s\"", req->params[0]);
        return;
    }
    if (!body_object(req, &body))
        return;
    const char *user = json_string_value(json_object_get(body, "user"));
    if (!user || !config_find_user(req->cfg, user)) {
        http_reply_error(req, 422, "invalid_field", "user", "user must name a configured user");
        json_decref(body);
        return;
    }
    if (!body_time(req, body, "start", &start) || !body_time(req, body, "end", &end)) {
        json_decref(body);
        return;
    }
    if (end <= start || end - start > OVERRIDE_MAX_MS) {
        http_reply_error(req, 422, "invalid_field", "end",
                         "end must be after start and at most 366 days after it");
        json_decref(body);
        return;
    }
    snprintf(actor, sizeof(actor), "token:%s", t->name);
    struct engine_cmd cmd = {.kind = CMD_OVERRIDE_ADD,
                             .schedule = s->name,
                             .user = config_find_user(req->cfg, user)->name,
                             .start = start,
                             .end = end,
                             .actor = actor};
    enum engine_status st = engine_submit(req->ctx->engine, &cmd);
    if (st != ENGINE_OK)
        reply_engine_error(req, st, "override");
    else
        http_reply_json(req, 201,
                        json_pack("{sI ss ss so so ss}", "id", (json_int_t)cmd.out_id, "schedule",
                                  s->name, "user", cmd.user, "start", ts_json(start), "end",
                                  ts_json(end), "created_by", actor));
    json_decref(body);
}

static int64_t parse_pos_id(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return (errno || *end || v < 1 || *s < '0' || *s > '9') ? 0 : v;
}

void api_override_delete(struct http_req *req)
{
    const struct cfg_token *t = auth_api(req, ROLE_RESPONDER);
    char actor[160];
    if (!t)
        return;
    int64_t id = parse_pos_id(req->params[1]);
    if (!config_find_schedule(req->cfg, req->params[0]) || !id) {
        http_reply_error(req, 404, "not_found", NULL, "no override %s of schedule %s",
                         req->params[1], req->params[0]);
        return;
    }
    snprintf(actor, sizeof(actor), "token:%s", t->name);
    struct engine_cmd cmd = {.kind = CMD_OVERRIDE_DELETE, .object_id = id, .actor = actor};
    enum engine_status st = engine_submit(req->ctx->engine, &cmd);
    if (st != ENGINE_OK)
        reply_engine_error(req, st, "such override");
    else
        http_reply_text(req, 204, "application/json", "", 0);
}

/* ---- users, teams, policies ---- */

void api_users_list(struct http_req *req)
{
    if (!auth_api(req, ROLE_VIEWER))
        return;
    json_t *arr = json_array();
    for (size_t i = 0; i < req->cfg->n_users; i++) {
        const struct cfg_user *u = &req->cfg->users[i];
        json_t *contacts = json_array();
        for (size_t c = 0; c < u->n_contacts; c++)
            json_array_append_new(
                contacts, json_pack("{ss sI ss}", "channel", u->contacts[c].channel, "after_s",
                                    (json_int_t)(u->contacts[c].after_ms / 1000), "urgency",
                                    u->contacts[c].urgency == 1   ? "high"
                                    : u->contacts[c].urgency == 2 ? "low"
                                                                  : "any"));
        json_array_append_new(arr, json_pack("{ss ss? ss? ss? ss so}", "name", u->name, "full_name",
                                             u->full_name, "email", u->email, "phone", u->phone,
                                             "time_zone", tz_name(u->tz), "contact", contacts));
    }
    http_reply_json(req, 200, json_pack("{so}", "users", arr));
}

void api_user_get(struct http_req *req)
{
    char name[128];
    bool ics;
    if (!calendar_or_json(req, name, sizeof(name), &ics))
        return;
    const struct cfg_user *u = config_find_user(req->cfg, name);
    if (!u) {
        http_reply_error(req, 404, "not_found", NULL, "no user named \"%s\"", name);
        return;
    }
    if (ics) {
        char cal[160];
        snprintf(cal, sizeof(cal), "On call: %s", u->name);
        serve_ical(req, cal, u->name, NULL);
        return;
    }
    /* The user's shifts in the next two weeks, across every schedule. */
    struct overrides_snapshot sn;
    int64_t now = clock_now_ms();
    if (!snapshot(req, NULL, &sn))
        return;
    json_t *shifts = json_array();
    for (size_t i = 0; i < req->cfg->n_schedules; i++) {
        struct schedule_shift *sh = NULL;
        size_t n = 0;
        const struct cfg_schedule *s = &req->cfg->schedules[i];
        if (schedule_shifts(s, sn.items, sn.n, now, now + DEFAULT_SHIFTS_MS, &sh, &n))
            continue;
        json_t *mine = shifts_json(s, sh, n, u->name);
        json_array_extend(shifts, mine);
        json_decref(mine);
        free(sh);
    }
    overrides_snapshot_free(&sn);
    http_reply_json(req, 200,
                    json_pack("{ss ss? ss so}", "name", u->name, "email", u->email, "time_zone",
                              tz_name(u->tz), "shifts", shifts));
}

void api_teams_list(struct http_req *req)
{
    if (!auth_api(req, ROLE_VIEWER))
        return;
    json_t *arr = json_array();
    for (size_t i = 0; i < req->cfg->n_teams; i++) {
        const struct cfg_team *t = &req->cfg->teams[i];
        json_t *members = json_array(), *scheds = json_array();
        for (size_t m = 0; m < t->n_members; m++)
            json_array_append_new(members, json_string(t->members[m]));
        for (size_t m = 0; m < t->n_schedules; m++)
            json_array_append_new(scheds, json_string(t->schedules[m]));
        json_array_append_new(arr, json_pack("{ss so so ss?}", "name", t->name, "members", members,
                                             "schedules", scheds, "escalation_policy",
                                             t->escalation_policy));
    }
    http_reply_json(req, 200, json_pack("{so}", "teams", arr));
}

void api_policies_list(struct http_req *req)
{
    struct overrides_snapshot sn;
    if (!auth_api(req, ROLE_VIEWER) || !snapshot(req, NULL, &sn))
        return;
    json_t *arr = json_array();
    int64_t now = clock_now_ms();
    for (size_t i = 0; i < req->cfg->n_policies; i++)
        json_array_append_new(arr, policy_json(req->cfg, &req->cfg->policies[i], &sn, now));
    overrides_snapshot_free(&sn);
    http_reply_json(req, 200, json_pack("{so}", "escalation_policies", arr));
}

/* ---- the outbox ---- */

void api_notifications_list(struct http_req *req)
{
    static const char *const statuses[] = {"pending", "delivered", "dead", "cancelled", NULL};
    const char *status = http_query(req, "status"), *inc = http_query(req, "incident");
    const char *limit = http_query(req, "limit"), *cursor = http_query(req, "cursor");
    int64_t inc_id = 0, before = 0;
    int lim = LIST_DEFAULT_LIMIT;
    if (!auth_api(req, ROLE_VIEWER))
        return;
    if (status) {
        bool ok = false;
        for (int i = 0; statuses[i]; i++)
            ok |= strcmp(status, statuses[i]) == 0;
        if (!ok) {
            http_reply_error(req, 400, "invalid_parameter", "status",
                             "status must be pending, delivered, dead or cancelled");
            return;
        }
    }
    if (inc && !(inc_id = parse_pos_id(strncmp(inc, "INC-", 4) == 0 ? inc + 4 : inc))) {
        http_reply_error(req, 400, "invalid_parameter", "incident", "incident must be an id");
        return;
    }
    if (cursor && !(before = parse_pos_id(cursor))) {
        http_reply_error(req, 400, "invalid_parameter", "cursor",
                         "cursor is not one this server handed out");
        return;
    }
    if (limit && ((lim = (int)parse_pos_id(limit)) < 1 || lim > 500)) {
        http_reply_error(req, 400, "invalid_parameter", "limit",
                         "limit must be a whole number from 1 to 500");
        return;
    }
    struct store_reader *r = store_reader_acquire(req->ctx->store);
    if (!r) {
        req->retry_after = "1";
        http_reply_error(req, 503, "unavailable", NULL, "the store cannot be read right now");
        return;
    }
    json_t *list = store_outbox_list(r, status, inc_id, before, lim);
    json_t *counts = store_outbox_counts(r);
    store_reader_release(req->ctx->store, r);
    if (!list || !counts) {
        json_decref(list);
        json_decref(counts);
        http_reply_error(req, 500, "internal", NULL, "the query failed; see the server log");
        return;
    }
    json_t *out = json_pack("{so so}", "notifications", list, "counts", counts);
    size_t n = json_array_size(list);
    if ((int)n == lim)
        json_object_set_new(out, "next_cursor",
                            json_sprintf("%lld", (long long)json_integer_value(json_object_get(
                                                     json_array_get(list, n - 1), "id"))));
    http_reply_json(req, 200, out);
}

void api_notification_retry(struct http_req *req)
{
    const struct cfg_token *t = auth_api(req, ROLE_ADMIN);
    char actor[160];
    if (!t)
        return;
    int64_t id = parse_pos_id(req->params[0]);
    if (!id) {
        http_reply_error(req, 404, "not_found", NULL, "no notification %s", req->params[0]);
        return;
    }
    snprintf(actor, sizeof(actor), "token:%s", t->name);
    struct engine_cmd cmd = {.kind = CMD_OUTBOX_RETRY, .object_id = id, .actor = actor};
    enum engine_status st = engine_submit(req->ctx->engine, &cmd);
    if (st != ENGINE_OK)
        reply_engine_error(req, st, "dead notification with that id");
    else
        http_reply_json(req, 202, json_pack("{sI ss}", "id", (json_int_t)id, "status", "pending"));
}

/* ---- action links ---- */

static void html_escape(const char *s, char *out, size_t size)
{
    size_t o = 0;
    for (; s && *s && o + 7 < size; s++) {
        const char *rep = *s == '<'    ? "&lt;"
                          : *s == '>'  ? "&gt;"
                          : *s == '&'  ? "&amp;"
                          : *s == '"'  ? "&quot;"
                          : *s == '\'' ? "&#39;"
                                       : NULL;
        if (rep) {
            size_t n = strlen(rep);
            memcpy(out + o, rep, n);
            o += n;
        } else
            out[o++] = *s;
    }
    out[o] = '\0';
}

static void reply_page(struct http_req *req, int status, const char *title, const char *body_html)
{
    char page[6144];
    int n = snprintf(page, sizeof(page),
                     "<!doctype html><html><head><meta charset=\"utf-8\">"
                     "<meta name=\"viewport\" content=\"width=device-width\">"
                     "<meta name=\"robots\" content=\"noindex\">"
                     "<title>%s - Tocsin</title><style>body{font-family:sans-serif;max-width:"
                     "36em;margin:3em auto;padding:0 1em}button{font-size:1.2em;padding:.5em "
                     "1.5em}</style></head><body><h1>%s</h1>%s</body></html>",
                     title, title, body_html);
    if (n < 0)
        n = 0;
    http_reply_text(req, status, "text/html; charset=utf-8", page,
                    (size_t)n < sizeof(page) ? (size_t)n : sizeof(page) - 1);
}

/* Checks the token of /a/{token}; answers with a page and returns false
 * when it is not usable. */
static bool link_check(struct http_req *req, struct action_link *l)
{
    if (!req->ctx->has_link_key) {
        reply_page(req, 404, "Link not valid", "<p>This server does not sign action links.</p>");
        return false;
    }
    int rc = action_link_verify(req->ctx->link_key, req->params[0], clock_now_ms(), l);
    if (rc == -2) {
        reply_page(req, 410, "Link expired",
                   "<p>This link has expired. Open the incident in Tocsin instead.</p>");
        return false;
    }
    if (rc != 0 || (strcmp(l->action, "ack") != 0 && strcmp(l->action, "resolve") != 0)) {
        reply_page(req, 404, "Link not valid", "<p>This link is not valid.</p>");
        return false;
    }
    return true;
}

static const char *action_verb(const struct action_link *l)
{
    return strcmp(l->action, "ack") == 0 ? "Acknowledge" : "Resolve";
}

/* GET only shows what the link would do: mail scanners and link previews
 * open links, and must not acknowledge anything. */
void api_action_link_get(struct http_req *req)
{
    struct action_link l;
    char title[600] = "", esc_title[1800], user[200], html[3000], head[160];
    if (!link_check(req, &l))
        return;
    struct store_reader *r = store_reader_acquire(req->ctx->store);
    json_t *inc = r ? store_incident_get(r, l.incident_id) : NULL;
    if (r)
        store_reader_release(req->ctx->store, r);
    const char *t = json_string_value(json_object_get(inc, "title"));
    const char *status = json_string_value(json_object_get(inc, "status"));
    snprintf(title, sizeof(title), "%s", t ? t : "");
    html_escape(title, esc_title, sizeof(esc_title));
    html_escape(l.user, user, sizeof(user));
    snprintf(head, sizeof(head), "%s INC-%lld?", action_verb(&l), (long long)l.incident_id);
    snprintf(html, sizeof(html),
             "<p><b>INC-%lld</b>: %s</p><p>Status: %s</p><p>You are acting as <b>%s</b>.</p>"
             "<form method=\"post\"><button type=\"submit\">%s</button></form>",
             (long long)l.incident_id, esc_title, status ? status : "unknown", user,
             action_verb(&l));
    json_decref(inc);
    reply_page(req, 200, head, html);
}

void api_action_link_post(struct http_req *req)
{
    struct action_link l;
    char nonce[40], via[160], user[200], html[600], head[160];
    if (!link_check(req, &l))
        return;
    snprintf(nonce, sizeof(nonce), "%016llx", (unsigned long long)l.nonce);
    snprintf(via, sizeof(via), "via the link sent to %s", l.user);
    struct engine_cmd cmd = {.kind = strcmp(l.action, "ack") == 0 ? CMD_INCIDENT_ACK
                                                                  : CMD_INCIDENT_RESOLVE,
                             .incident_id = l.incident_id,
                             .actor = l.user,
                             .link_nonce = nonce,
                             .via = via};
    enum engine_status st = engine_submit(req->ctx->engine, &cmd);
    html_escape(l.user, user, sizeof(user));
    if (st == ENGINE_OK) {
        snprintf(head, sizeof(head), "INC-%lld %s", (long long)l.incident_id,
                 strcmp(l.action, "ack") == 0 ? "acknowledged" : "resolved");
        snprintf(html, sizeof(html), "<p>Done: %s by %s.%s</p>", head, user,
                 cmd.changed ? "" : " (It already was.)");
        reply_page(req, 200, head, html);
    } else if (st == ENGINE_ECONFLICT) {
        reply_page(req, 409, "Link already used",
                   "<p>This link has been used already, or the incident is resolved.</p>");
    } else if (st == ENGINE_ENOTFOUND) {
        reply_page(req, 404, "No such incident", "<p>The incident does not exist.</p>");
    } else {
        req->retry_after = "1";
        reply_page(req, 503, "Busy", "<p>Tocsin is busy. Please try again.</p>");
    }
}
