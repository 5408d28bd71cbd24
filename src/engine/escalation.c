/*
 * escalation.c - escalation policies at work: which level fires when, whom
 * it pages (users, the person on call in a schedule, a team), by which
 * channels after how long, digests when one cause pages someone many times,
 * and partners told about the incidents of their routes.
 *
 * An incident's escalation is three numbers kept on its row (next level,
 * round, when), changed in the same transaction as the notifications a level
 * queues. A restart therefore finds every due level still due and fires it
 * once; a level whose notifications are in the outbox has moved on.
 */
#include "engine_int.h"

#include "../base/log.h"
#include "../base/timefmt.h"
#include "../notify/action_link.h"
#include "../oncall/overrides.h"
#include "../oncall/schedule.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ESC_MAX_USERS 64

static const struct cfg_escalation_policy *policy_of(const struct engine_state *st,
                                                     const struct incident_rec *inc)
{
    return inc->esc_policy ? config_find_policy(st->cfg, inc->esc_policy) : NULL;
}

static struct incident_rec *inc_of(struct heap_node *n)
{
    return (struct incident_rec *)((char *)n - offsetof(struct incident_rec, esc_timer));
}

/* Records where the escalation stands and (re)arms its timer; at 0 = stopped. */
static int esc_set(struct engine_state *st, struct incident_rec *inc, int64_t at)
{
    if (at)
        heap_set(&st->esc_heap, &inc->esc_timer, at);
    else {
        heap_remove(&st->esc_heap, &inc->esc_timer);
        inc->esc_timer.key = 0;
    }
    return store_incident_set_escalation(st->store, inc->id, inc->esc_policy, inc->esc_level,
                                         inc->esc_round, at);
}

static const struct route *route_by_id(const struct route *r, const char *id)
{
    if (strcmp(r->id, id) == 0)
        return r;
    for (size_t i = 0; i < r->n_routes; i++) {
        const struct route *f = route_by_id(&r->routes[i], id);
        if (f)
            return f;
    }
    return NULL;
}

static bool low_urgency(const struct incident_rec *inc)
{
    return config_urgency((enum severity)inc->severity) >= 2;
}

/* ---- payloads ---- */

static void public_url(const struct engine_state *st, char *buf, size_t size)
{
    const struct config *cfg = st->cfg;
    const char *u = cfg->notify.public_url;
    const char *bound = st->oncall ? atomic_load(&st->oncall->public_url) : NULL;
    if (u)
        snprintf(buf, size, "%s", u);
    else if (bound)
        snprintf(buf, size, "%s", bound);
    else
        snprintf(buf, size, "http://%s", cfg->listen ? cfg->listen : "127.0.0.1:8080");
    size_t n = strlen(buf);
    if (n && buf[n - 1] == '/')
        buf[n - 1] = '\0';
}

static json_t *action_url(const struct engine_state *st, const char *base, int64_t inc_id,
                          const char *action, const char *user, int64_t now)
{
    char tok[ACTION_LINK_MAX], url[ACTION_LINK_MAX + 512];
    struct action_link l = {.incident_id = inc_id};
    int64_t ttl = st->cfg->notify.link_ttl_ms > 0 ? st->cfg->notify.link_ttl_ms : 86400000;
    snprintf(l.action, sizeof(l.action), "%s", action);
    snprintf(l.user, sizeof(l.user), "%s", user);
    l.expires = now + ttl;
    randombytes_buf(&l.nonce, sizeof(l.nonce));
    if (action_link_make(st->oncall->link_key, &l, tok, sizeof(tok)))
        return NULL;
    snprintf(url, sizeof(url), "%s/a/%s", base, tok);
    return json_string(url);
}

/* The message of one notification: see notify.h for its shape. */
static json_t *payload_new(const struct engine_state *st, const struct incident_rec *inc,
                           const char *kind, const char *user, int level, int round, int64_t now)
{
    char base[512], url[600], num[32], ts[40], text[1024];
    int urg = config_urgency((enum severity)inc->severity);
    const char *sev = severity_name((enum severity)inc->severity);
    const char *verb = strchr(kind, '.') ? strchr(kind, '.') + 1 : kind;

    public_url(st, base, sizeof(base));
    snprintf(url, sizeof(url), "%s/api/v1/incidents/%lld", base, (long long)inc->id);
    snprintf(num, sizeof(num), "INC-%lld", (long long)inc->id);
    snprintf(text, sizeof(text), "%s %s: %s (P%d, %s%s%s)", num, verb, inc->title ? inc->title : "",
             inc->priority, sev, inc->service ? ", service " : "",
             inc->service ? inc->service : "");
    json_t *links = json_pack("{ss}", "incident", url);
    if (user && st->oncall && st->oncall->has_link_key &&
        (strcmp(kind, "incident.triggered") == 0 || strcmp(kind, "incident.escalated") == 0 ||
         strcmp(kind, "incident.assigned") == 0)) {
        json_t *a = action_url(st, base, inc->id, "ack", user, now);
        json_t *r = action_url(st, base, inc->id, "resolve", user, now);
        if (a)
            json_object_set_new(links, "acknowledge", a);
        if (r)
            json_object_set_new(links, "resolve", r);
    }
    char prio[8];
    snprintf(prio, sizeof(prio), "P%d", inc->priority);
    json_t *incident = json_pack(
        "{sI ss ss ss ss ss ss ss? ss ss}", "id", (json_int_t)inc->id, "number", num, "title",
        inc->title ? inc->title : "", "status", incident_status_name(inc->status), "severity", sev,
        "priority", prio, "urgency", urg == 1 ? "high" : "low", "service", inc->service,
        "created_at", timefmt_format_rfc3339(inc->created_at, ts, sizeof(ts)), "url", url);
    return json_pack("{ss ss so ss? si si so}", "kind", kind, "text", text, "incident", incident,
                     "user", user, "level", level, "round", round + 1, "links", links);
}

/* The address a contact rule reaches on its channel. NULL for a webhook
 * means the channel's own URL. */
static const char *contact_address(const struct cfg_user *u, const struct cfg_contact *c,
                                   const struct cfg_channel *ch)
{
    if (c->to)
        return c->to;
    if (ch->type == CHANNEL_SMTP)
        return u->email;
    if (ch->type == CHANNEL_COMMAND)
        return u->phone;
    return NULL;
}

/* ---- digests ---- */

static struct user_rate *rate_of(struct engine_state *st, const char *user, int64_t now)
{
    struct user_rate *r = strmap_get(&st->rates, user);
    int64_t window =
        st->cfg->notify.digest_window_ms > 0 ? st->cfg->notify.digest_window_ms : 120000;
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r || !(r->user = strdup(user)) || strmap_put(&st->rates, r->user, r)) {
            if (r)
                free(r->user);
            free(r);
            return NULL;
        }
        r->window_start = now;
    }
    if (now - r->window_start >= window) {
        r->window_start = now;
        r->count = 0;
        memset(r->digest_ids, 0, sizeof(r->digest_ids));
    }
    return r;
}

/* Adds inc to the user's pending digest on contact rule i, or starts one
 * that goes out when the window closes. */
static int digest_add(struct engine_state *st, struct user_rate *rate, size_t i,
                      const struct cfg_user *u, const struct cfg_channel *ch, const char *address,
                      const struct incident_rec *inc, int64_t now)
{
    char key[24], num[32], idem[200], text[256], label[160];
    int64_t window =
        st->cfg->notify.digest_window_ms > 0 ? st->cfg->notify.digest_window_ms : 120000;
    snprintf(num, sizeof(num), "INC-%lld", (long long)inc->id);
    snprintf(label, sizeof(label), "%s%s", inc->service ? "service=" : "",
             inc->service ? inc->service : "all services");
    json_t *item = json_pack("{ss ss ss}", "number", num, "title", inc->title ? inc->title : "",
                             "severity", severity_name((enum severity)inc->severity));
    if (rate->digest_ids[i]) {
        snprintf(key, sizeof(key), "%lld", (long long)rate->digest_ids[i]);
        struct outbox_rec *o = strmap_get(&st->outbox, key);
        if (o && !o->inflight) {
            json_t *p = json_deep_copy(o->payload);
            json_t *d = json_object_get(p, "digest");
            json_t *list = json_object_get(d, "incidents");
            json_array_append(list, item);
            json_int_t count = (json_int_t)json_array_size(list);
            const char *old_label = json_string_value(json_object_get(d, "label"));
            if (old_label && strcmp(old_label, label) != 0)
                json_object_set_new(d, "label", json_string("several services"));
            json_object_set_new(d, "count", json_integer(count));
            snprintf(text, sizeof(text), "%lld more incidents for %s", (long long)count,
                     json_string_value(json_object_get(d, "label")));
            json_object_set_new(p, "text", json_string(text));
            int rc = outbox_update_payload(st, o->id, p);
            json_decref(p);
            if (rc <= 0) {
                json_decref(item);
                return rc;
            }
        }
    }
    snprintf(text, sizeof(text), "1 more incident for %s", label);
    json_t *p =
        json_pack("{ss ss ss s{si ss s[O]} so}", "kind", "digest", "text", text, "user", u->name,
                  "digest", "count", 1, "label", label, "incidents", item, "links", json_object());
    snprintf(idem, sizeof(idem), "digest-%s-%lld-%zu", u->name, (long long)rate->window_start, i);
    int64_t id = 0;
    int rc = outbox_queue(st, 0, ch->name, u->name, address, "digest", 0, idem, p,
                          rate->window_start + window, now, &id);
    json_decref(p);
    json_decref(item);
    if (rc < 0)
        return -1;
    rate->digest_ids[i] = id;
    return 0;
}

/* ---- paging ---- */

/* Queues the notifications of one user for one level: one per contact rule
 * that fits the incident's urgency, each after its delay; past the digest
 * threshold, into the user's digest instead. Returns how many rules
 * applied, or -1. */
static int page_user(struct engine_state *st, struct incident_rec *inc, const char *user,
                     const char *kind, int level, int64_t due, int64_t at, int64_t now)
{
    const struct cfg_user *u = config_find_user(st->cfg, user);
    bool low = low_urgency(inc);
    int n = 0;
    if (!u)
        return 0;
    struct user_rate *rate = rate_of(st, user, now);
    bool digest = false;
    if (rate) {
        rate->count++;
        digest = st->cfg->notify.digest_after > 0 && rate->count > st->cfg->notify.digest_after;
    }
    json_t *payload = NULL;
    for (size_t i = 0; i < u->n_contacts; i++) {
        const struct cfg_contact *c = &u->contacts[i];
        const struct cfg_channel *ch = config_find_channel(st->cfg, c->channel);
        if (!ch || (c->urgency == 1 && low) || (c->urgency == 2 && !low))
            continue;
        const char *address = contact_address(u, c, ch);
        n++;
        if (digest && i < 8) {
            if (digest_add(st, rate, i, u, ch, address, inc, now))
                return -1;
            continue;
        }
        if (!payload && !(payload = payload_new(st, inc, kind, user, level, inc->esc_round, now)))
            return -1;
        /* The key names the step by when it was due: a replay of the same
         * step after a crash finds its row, a later step (a restart after
         * an expired acknowledgement, a second assignment) is new. */
        char idem[256];
        snprintf(idem, sizeof(idem), "inc%lld-%s-r%d-l%d-%lld-%s-c%zu", (long long)inc->id,
                 strchr(kind, '.') ? strchr(kind, '.') + 1 : kind, inc->esc_round, level,
                 (long long)due, user, i);
        if (outbox_queue(st, inc->id, ch->name, user, address, kind, level, idem, payload,
                         at + c->after_ms, now, NULL) < 0) {
            json_decref(payload);
            return -1;
        }
    }
    json_decref(payload);
    return n;
}

/* Adds name to the list unless it is there. */
static void add_user(const char **users, const char **via, size_t *n, const char *name,
                     const char *why)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(users[i], name) == 0)
            return;
    }
    if (*n < ESC_MAX_USERS) {
        users[*n] = name;
        via[(*n)++] = why;
    }
}

static void add_schedule(const struct engine_state *st, const char *name, int64_t now,
                         const char **users, const char **via, size_t *n, const char *why)
{
    const struct cfg_schedule *s = config_find_schedule(st->cfg, name);
    struct overrides_snapshot snap = {0};
    int64_t until = 0;
    int layer = 0;
    if (!s)
        return;
    if (st->oncall && st->oncall->overrides)
        overrides_snapshot(st->oncall->overrides, name, &snap);
    const char *who = schedule_oncall_at(s, snap.items, snap.n, now, &until, &layer);
    /* The name must outlive the snapshot: take the config's copy. */
    const struct cfg_user *u = who ? config_find_user(st->cfg, who) : NULL;
    overrides_snapshot_free(&snap);
    if (u)
        add_user(users, via, n, u->name, why);
}

/* Everyone a level's targets reach at now. Names are borrowed from cfg. */
static size_t level_users(const struct engine_state *st, const struct cfg_esc_level *lvl,
                          int64_t now, const char **users, const char **via)
{
    size_t n = 0;
    for (size_t t = 0; t < lvl->n_targets; t++) {
        const struct cfg_target *tg = &lvl->targets[t];
        switch (tg->kind) {
        case TARGET_USER: {
            const struct cfg_user *u = config_find_user(st->cfg, tg->name);
            if (u)
                add_user(users, via, &n, u->name, "user");
            break;
        }
        case TARGET_SCHEDULE:
            add_schedule(st, tg->name, now, users, via, &n, tg->name);
            break;
        case TARGET_TEAM: {
            /* A team with schedules pages whoever is on call in them;
             * without, every member. */
            const struct cfg_team *tm = config_find_team(st->cfg, tg->name);
            if (!tm)
                break;
            for (size_t i = 0; i < tm->n_schedules; i++)
                add_schedule(st, tm->schedules[i], now, users, via, &n, tm->name);
            if (tm->n_schedules == 0) {
                for (size_t i = 0; i < tm->n_members; i++) {
                    const struct cfg_user *u = config_find_user(st->cfg, tm->members[i]);
                    if (u)
                        add_user(users, via, &n, u->name, tm->name);
                }
            }
            break;
        }
        }
    }
    return n;
}

/* The next instant inside the service's support hours at or after now
 * (now itself when inside), or 0 when none are configured. */
static int64_t support_hours_next(const struct engine_state *st, const struct incident_rec *inc,
                                  int64_t now)
{
    const struct cfg_service *svc =
        inc->service ? config_find_service(st->cfg, inc->service) : NULL;
    int64_t best = 0;
    if (!svc || svc->n_support_hours == 0)
        return 0;
    for (size_t i = 0; i < svc->n_support_hours; i++) {
        int64_t s, e;
        if (!recur_window(&svc->support_hours[i], now, &s, &e))
            continue;
        if (s <= now)
            return now;
        if (!best || s < best)
            best = s;
    }
    return best ? best : INT64_MAX;
}

/* Fires the level that is due (scheduled for `due`) and moves on. */
static int esc_fire(struct engine_state *st, struct incident_rec *inc, int64_t due, int64_t now,
                    const char *actor)
{
    const struct cfg_escalation_policy *p = policy_of(st, inc);
    char text[1400];
    if (!p || inc->esc_level >= (int)p->n_levels) {
        snprintf(text, sizeof(text), "escalation stopped: policy %s is no longer configured",
                 inc->esc_policy ? inc->esc_policy : "?");
        return esc_set(st, inc, 0) ||
                       store_timeline_add(st->store, inc->id, now, "escalation_stopped", "tocsin",
                                          text, NULL) < 0
                   ? -1
                   : 0;
    }
    /* Low urgency waits for support hours; high urgency wakes people. */
    if (low_urgency(inc)) {
        int64_t open = support_hours_next(st, inc, now);
        if (open > now) {
            if (!inc->support_wait_noted) {
                char ts[40];
                if (open == INT64_MAX)
                    snprintf(text, sizeof(text),
                             "low urgency: nobody is paged outside support "
                             "hours, and none are ahead");
                else
                    snprintf(text, sizeof(text),
                             "low urgency: paging waits for support hours (from %s)",
                             timefmt_format_rfc3339(open, ts, sizeof(ts)));
                if (store_timeline_add(st->store, inc->id, now, "escalation_waiting", "tocsin",
                                       text, NULL) < 0)
                    return -1;
                inc->support_wait_noted = true;
            }
            return esc_set(st, inc, open == INT64_MAX ? 0 : open);
        }
    }
    const struct cfg_esc_level *lvl = &p->levels[inc->esc_level];
    const char *users[ESC_MAX_USERS], *via[ESC_MAX_USERS];
    size_t n = level_users(st, lvl, now, users, via);
    const char *kind =
        inc->esc_level == 0 && inc->esc_round == 0 ? "incident.triggered" : "incident.escalated";
    size_t off =
        (size_t)snprintf(text, sizeof(text), "level %d of policy %s%s: ", inc->esc_level + 1,
                         p->name, inc->esc_round ? " (repeat)" : "");
    json_t *names = json_array();
    for (size_t i = 0; i < n; i++) {
        int r = page_user(st, inc, users[i], kind, inc->esc_level + 1, due, now, now);
        if (r < 0) {
            json_decref(names);
            return -1;
        }
        json_array_append_new(names, json_string(users[i]));
        if (off < sizeof(text))
            off += (size_t)snprintf(text + off, sizeof(text) - off, "%spaging %s (%s)%s",
                                    i ? ", " : "", users[i], via[i],
                                    r == 0 ? " - no contact rule fits this urgency" : "");
    }
    if (n == 0 && off < sizeof(text))
        snprintf(text + off, sizeof(text) - off, "nobody to page (nobody on call)");
    json_t *data = json_pack("{si si ss so}", "level", inc->esc_level + 1, "round",
                             inc->esc_round + 1, "policy", p->name, "users", names);
    int rc = store_timeline_add(st->store, inc->id, now, "escalated", actor, text, data) < 0;
    json_decref(data);
    if (rc)
        return -1;
    if (st->stats)
        atomic_fetch_add_explicit(&st->stats->escalations, 1, memory_order_relaxed);

    /* The next level counts from when this one was due, so that levels a
     * restart found overdue all fire now, each once, in order. */
    int64_t next = 0;
    if (inc->esc_level + 1 < (int)p->n_levels) {
        inc->esc_level++;
        next = due + p->levels[inc->esc_level].delay_ms;
    } else if (inc->esc_round < p->repeat) {
        inc->esc_level = 0;
        inc->esc_round++;
        next = due + (p->repeat_after_ms > 0 ? p->repeat_after_ms : 900000);
    }
    if (next && next <= due)
        next = due + 1; /* a zero delay still fires after this level, never in a loop */
    return esc_set(st, inc, next);
}

int escalation_start(struct engine_state *st, struct incident_rec *inc, const struct route *r,
                     int64_t now)
{
    const struct cfg_service *svc =
        inc->service ? config_find_service(st->cfg, inc->service) : NULL;
    const char *name = r && r->escalation_policy ? r->escalation_policy
                       : svc                     ? svc->escalation_policy
                                                 : NULL;
    const struct cfg_escalation_policy *p = name ? config_find_policy(st->cfg, name) : NULL;
    if (escalation_notify_partners(st, inc, r, "incident.triggered", now))
        return -1;
    if (!p)
        return 0;
    if (!(inc->esc_policy = strdup(p->name)))
        return -1;
    inc->esc_level = 0;
    inc->esc_round = 0;
    return esc_set(st, inc, now + p->levels[0].delay_ms);
}

int escalation_tick(struct engine_state *st, int64_t now)
{
    struct heap_node *n;
    while ((n = heap_top(&st->esc_heap)) && n->key <= now) {
        struct incident_rec *inc = inc_of(n);
        heap_remove(&st->esc_heap, n);
        if (inc->status != INC_TRIGGERED)
            continue;
        if (incident_flush_joins(st, inc, now) || esc_fire(st, inc, n->key, now, "tocsin"))
            return -1;
    }
    return 0;
}

int escalation_on_ack(struct engine_state *st, struct incident_rec *inc, int64_t now,
                      const char *actor)
{
    int n = outbox_cancel_incident(st, inc->id, now);
    if (n < 0)
        return -1;
    if (n > 0) {
        char text[120];
        snprintf(text, sizeof(text), "%d pending notification%s cancelled", n, n == 1 ? "" : "s");
        if (store_timeline_add(st->store, inc->id, now, "notifications_cancelled", "tocsin", text,
                               NULL) < 0)
            return -1;
    }
    if (inc->esc_policy && esc_set(st, inc, 0))
        return -1;
    /* The acknowledging responder commands the incident unless someone was
     * assigned; "token:NAME" actors are API callers, named as such. */
    if (!inc->assignee && actor) {
        inc->assignee = strdup(actor);
        if (!inc->assignee || store_incident_set_assignee(st->store, inc->id, inc->assignee))
            return -1;
    }
    return escalation_notify_partners(st, inc, NULL, "incident.acknowledged", now);
}

int escalation_restart(struct engine_state *st, struct incident_rec *inc, int64_t now)
{
    if (!inc->esc_policy)
        return 0;
    inc->esc_level = 0;
    inc->esc_round = 0;
    inc->support_wait_noted = false;
    return esc_set(st, inc, now);
}

int escalation_on_resolve(struct engine_state *st, struct incident_rec *inc, int64_t now)
{
    int n = outbox_cancel_incident(st, inc->id, now);
    if (n < 0)
        return -1;
    heap_remove(&st->esc_heap, &inc->esc_timer);
    if (inc->esc_policy && store_incident_set_escalation(st->store, inc->id, inc->esc_policy,
                                                         inc->esc_level, inc->esc_round, 0))
        return -1;
    return escalation_notify_partners(st, inc, NULL, "incident.resolved", now);
}

int64_t escalation_ack_timeout(const struct engine_state *st, const struct incident_rec *inc)
{
    const struct cfg_escalation_policy *p = policy_of(st, inc);
    return p ? p->ack_timeout_ms : 0;
}

int escalation_notify_partners(struct engine_state *st, struct incident_rec *inc,
                               const struct route *r, const char *kind, int64_t now)
{
    if (!r)
        r = route_by_id(&st->cfg->root, inc->route);
    if (!r || r->n_notify == 0)
        return 0;
    json_t *payload = payload_new(st, inc, kind, NULL, 0, 0, now);
    if (!payload)
        return -1;
    for (size_t i = 0; i < r->n_notify; i++) {
        const struct cfg_channel *ch = config_find_channel(st->cfg, r->notify[i]);
        char idem[200], target[160];
        if (!ch)
            continue;
        snprintf(idem, sizeof(idem), "inc%lld-%s-partner-%s", (long long)inc->id, kind, ch->name);
        snprintf(target, sizeof(target), "partner:%s", ch->name);
        if (outbox_queue(st, inc->id, ch->name, target, NULL, kind, 0, idem, payload, now, now,
                         NULL) < 0) {
            json_decref(payload);
            return -1;
        }
    }
    json_decref(payload);
    return 0;
}

int escalation_apply_cmd(struct engine_state *st, struct engine_cmd *cmd, int64_t now)
{
    struct incident_rec *inc = incident_find(st, cmd->incident_id);
    char text[300];
    if (!inc) {
        char status[32];
        int found = store_incident_status(st->store, cmd->incident_id, status, sizeof(status));
        if (found < 0)
            return -1;
        cmd->status = found ? ENGINE_ECONFLICT : ENGINE_ENOTFOUND;
        return 0;
    }
    if (incident_flush_joins(st, inc, now))
        return -1;
    cmd->changed = true;
    if (cmd->kind == CMD_INCIDENT_ASSIGN) {
        const struct cfg_user *u = config_find_user(st->cfg, cmd->user);
        if (!u) {
            cmd->status = ENGINE_ECONFLICT;
            return 0;
        }
        json_t *before = json_pack("{ss?}", "assignee", inc->assignee);
        json_t *after = json_pack("{ss}", "assignee", u->name);
        free(inc->assignee);
        inc->assignee = strdup(u->name);
        snprintf(text, sizeof(text), "assigned to %s by %s", u->name, cmd->actor);
        int rc =
            !inc->assignee || store_incident_set_assignee(st->store, inc->id, u->name) ||
            store_timeline_add(st->store, inc->id, now, "assigned", cmd->actor, text, after) < 0 ||
            store_audit_add(st->store, now, cmd->actor, "incident.assigned", "incident", inc->id,
                            before, after);
        json_decref(before);
        json_decref(after);
        if (rc)
            return -1;
        /* The new commander hears about it at once, acknowledged or not. */
        return page_user(st, inc, u->name, "incident.assigned", 0, now, now, now) < 0 ? -1 : 0;
    }
    /* CMD_INCIDENT_ESCALATE */
    const struct cfg_escalation_policy *p = policy_of(st, inc);
    if (!p || (cmd->level && cmd->level > (int)p->n_levels)) {
        cmd->status = ENGINE_ECONFLICT;
        return 0;
    }
    if (cmd->level)
        inc->esc_level = cmd->level - 1;
    if (inc->status == INC_ACKNOWLEDGED) {
        /* Escalating an acknowledged incident hands it back: it pages again. */
        if (store_incident_unacknowledge(st->store, inc->id, now))
            return -1;
        inc->status = INC_TRIGGERED;
        inc->ack_expires_at = 0;
    }
    if (store_audit_add(st->store, now, cmd->actor, "incident.escalated", "incident", inc->id, NULL,
                        NULL))
        return -1;
    heap_remove(&st->esc_heap, &inc->esc_timer);
    return esc_fire(st, inc, now, now, cmd->actor);
}

void escalation_free(struct engine_state *st)
{
    for (size_t i = 0; i < st->rates.cap; i++) {
        struct user_rate *r = st->rates.slots[i].hash ? st->rates.slots[i].value : NULL;
        if (r) {
            free(r->user);
            free(r);
        }
    }
    strmap_free(&st->rates);
    heap_free(&st->esc_heap);
}
