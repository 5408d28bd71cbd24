/*
 * incident.c - grouping alerts into incidents and the incident lifecycle:
 * triggered -> acknowledged -> resolved, with every step on the timeline and
 * in the audit log.
 *
 * An alert joins the open incident of its group (route + group_by values).
 * With a group window, it joins only while the group's last alert is younger
 * than the window; otherwise a new incident opens. A resolved incident never
 * takes new alerts. An incident resolves itself when its last open alert
 * resolves.
 */
#include "../base/timefmt.h"
#include "engine_int.h"

#include "../base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *incident_status_name(int s)
{
    static const char *const names[] = {"triggered", "acknowledged", "resolved"};
    return (s >= 0 && s <= 2) ? names[s] : "triggered";
}

void incident_rec_free(struct incident_rec *inc)
{
    if (!inc)
        return;
    free(inc->joined_ids);
    free(inc->joined_actor);
    free(inc->joined_summary);
    free(inc->group_key);
    free(inc->service);
    free(inc->route);
    free(inc->title);
    free(inc->esc_policy);
    free(inc->assignee);
    free(inc);
}

struct incident_rec *incident_find(struct engine_state *st, int64_t id)
{
    char k[24];
    snprintf(k, sizeof(k), "%lld", (long long)id);
    return strmap_get(&st->incidents, k);
}

void incident_mark_dirty(struct engine_state *st, struct incident_rec *inc, int64_t now)
{
    inc->updated_at = now;
    if (!inc->dirty) {
        inc->dirty = true;
        inc->next_dirty = st->dirty_incidents;
        st->dirty_incidents = inc;
    }
}

static void stat_inc(struct engine_state *st, long long d)
{
    if (st->stats)
        atomic_fetch_add_explicit(&st->stats->incidents_open, d, memory_order_relaxed);
}

/* Adds an open incident record to the indexes. Takes ownership of inc. */
static int incident_index(struct engine_state *st, struct incident_rec *inc)
{
    snprintf(inc->idkey, sizeof(inc->idkey), "%lld", (long long)inc->id);
    if (strmap_put(&st->incidents, inc->idkey, inc))
        return -1;
    /* The newest open incident of a group is the one new alerts may join. */
    if (strmap_put(&st->groups, inc->group_key, inc)) {
        strmap_del(&st->incidents, inc->idkey);
        return -1;
    }
    return 0;
}

static void incident_unindex(struct engine_state *st, struct incident_rec *inc)
{
    strmap_del(&st->incidents, inc->idkey);
    if (strmap_get(&st->groups, inc->group_key) == inc)
        strmap_del(&st->groups, inc->group_key);
    for (struct incident_rec **p = &st->dirty_incidents; *p; p = &(*p)->next_dirty) {
        if (*p == inc) {
            *p = inc->next_dirty;
            break;
        }
    }
}

struct incident_rec *incident_for_alert(struct engine_state *st, const struct route *r,
                                        const struct event *ev, int64_t now, const char *actor,
                                        int *failed)
{
    char gk[2048], text[1200];
    struct incident_rec *inc;
    const struct cfg_service *svc;
    json_t *after;

    if (route_group_key(r, &ev->labels, gk, sizeof(gk)) != 0) {
        /* Group labels too long to form a key: group on the route alone
         * rather than refuse the alert. */
        snprintf(gk, sizeof(gk), "%s{}", r->id);
    }
    inc = strmap_get(&st->groups, gk);
    if (inc && inc->status != INC_RESOLVED &&
        (r->group_window_ms == 0 || now - inc->last_alert_at < r->group_window_ms))
        return inc;

    svc = r->service ? config_find_service(st->cfg, r->service) : NULL;
    const char *title = ev->summary ? ev->summary : ev->dedup_key;
    inc = calloc(1, sizeof(*inc));
    if (inc)
        heap_node_init(&inc->esc_timer);
    if (!inc || !(inc->group_key = strdup(gk)) || !(inc->route = strdup(r->id)) ||
        !(inc->title = strdup(title)) || (r->service && !(inc->service = strdup(r->service)))) {
        incident_rec_free(inc);
        *failed = 1;
        return NULL;
    }
    inc->impact = (uint8_t)(svc && svc->impact ? svc->impact : 2);
    inc->severity = (uint8_t)ev->severity;
    inc->priority = (uint8_t)config_priority(st->cfg, inc->impact, ev->severity);
    inc->status = INC_TRIGGERED;
    inc->created_at = inc->last_alert_at = now;

    struct store_incident si = {
        .title = title,
        .service = inc->service,
        .route = inc->route,
        .group_key = inc->group_key,
        .status = "triggered",
        .severity = inc->severity,
        .priority = inc->priority,
        .urgency = config_urgency(ev->severity),
        .impact = inc->impact,
        .created_at = now,
        .updated_at = now,
        .last_alert_at = now,
    };
    if (store_incident_insert(st->store, &si)) {
        incident_rec_free(inc);
        *failed = 1;
        return NULL;
    }
    inc->id = si.id;
    snprintf(text, sizeof(text), "INC-%lld triggered: %s", (long long)inc->id, title);
    after = json_pack("{ss ss* ss ss sI}", "title", title, "service", inc->service, "severity",
                      severity_name(ev->severity), "group_key", gk, "priority",
                      (json_int_t)inc->priority);
    if (store_timeline_add(st->store, inc->id, now, "triggered", actor, text, after) < 0 ||
        store_audit_add(st->store, now, actor, "incident.created", "incident", inc->id, NULL,
                        after) ||
        incident_index(st, inc)) {
        json_decref(after);
        incident_rec_free(inc);
        *failed = 1;
        return NULL;
    }
    json_decref(after);
    stat_inc(st, 1);
    if (escalation_start(st, inc, r, now)) {
        *failed = 1;
        return NULL;
    }
    return inc;
}

int incident_flush_joins(struct engine_state *st, struct incident_rec *inc, int64_t now)
{
    char text[1200];
    json_t *data, *ids;
    int rc = 0;

    if (inc->n_joined == 0)
        return 0;
    if (inc->n_joined == 1) {
        snprintf(text, sizeof(text), "alert %lld joined: %s", (long long)inc->joined_ids[0],
                 inc->joined_summary ? inc->joined_summary : "");
        data = json_pack("{sI}", "alert_id", (json_int_t)inc->joined_ids[0]);
    } else {
        snprintf(text, sizeof(text), "%zu alerts joined: %s and %zu more", inc->n_joined,
                 inc->joined_summary ? inc->joined_summary : "", inc->n_joined - 1);
        ids = json_array();
        for (size_t i = 0; i < inc->n_joined; i++)
            json_array_append_new(ids, json_integer(inc->joined_ids[i]));
        data = json_pack("{so sI}", "alert_ids", ids, "count", (json_int_t)inc->n_joined);
    }
    if (store_timeline_add(st->store, inc->id, now, "alert_joined",
                           inc->joined_actor ? inc->joined_actor : "tocsin", text, data) < 0)
        rc = -1;
    json_decref(data);
    inc->n_joined = 0;
    free(inc->joined_actor);
    free(inc->joined_summary);
    inc->joined_actor = inc->joined_summary = NULL;
    return rc;
}

int incident_alert_joined(struct engine_state *st, struct incident_rec *inc, int64_t alert_id,
                          const struct event *ev, int64_t now, const char *actor)
{
    inc->alert_count++;
    inc->open_alert_count++;
    inc->last_alert_at = now;
    incident_mark_dirty(st, inc, now);
    /* Alerts from another sender get an entry of their own. */
    if (inc->n_joined && strcmp(inc->joined_actor, actor) != 0 &&
        incident_flush_joins(st, inc, now))
        return -1;
    if (inc->n_joined == inc->cap_joined) {
        size_t ncap = inc->cap_joined ? inc->cap_joined * 2 : 8;
        int64_t *nv = realloc(inc->joined_ids, ncap * sizeof(*nv));
        if (!nv)
            return -1;
        inc->joined_ids = nv;
        inc->cap_joined = ncap;
    }
    if (inc->n_joined == 0) {
        inc->joined_actor = strdup(actor);
        inc->joined_summary = strdup(ev->summary ? ev->summary : ev->dedup_key);
        if (!inc->joined_actor || !inc->joined_summary)
            return -1;
    }
    inc->joined_ids[inc->n_joined++] = alert_id;
    if (ev->severity > inc->severity)
        return incident_raise_severity(st, inc, ev->severity, now, actor);
    return 0;
}

int incident_raise_severity(struct engine_state *st, struct incident_rec *inc, enum severity sev,
                            int64_t now, const char *actor)
{
    char text[160];
    int old_sev = inc->severity, old_prio = inc->priority, rc;
    int prio = config_priority(st->cfg, inc->impact, sev);
    json_t *before = json_pack("{ss si}", "severity", severity_name((enum severity)old_sev),
                               "priority", old_prio);
    json_t *after = json_pack("{ss si}", "severity", severity_name(sev), "priority", prio);

    inc->severity = (uint8_t)sev;
    inc->priority = (uint8_t)prio;
    incident_mark_dirty(st, inc, now);
    if (incident_flush_joins(st, inc, now)) {
        json_decref(before);
        json_decref(after);
        return -1;
    }
    snprintf(text, sizeof(text), "severity raised from %s to %s",
             severity_name((enum severity)old_sev), severity_name(sev));
    rc = store_timeline_add(st->store, inc->id, now, "severity_changed", actor, text, after) < 0;
    if (!rc && prio != old_prio) {
        snprintf(text, sizeof(text), "priority changed from P%d to P%d", old_prio, prio);
        rc =
            store_timeline_add(st->store, inc->id, now, "priority_changed", actor, text, after) < 0;
    }
    if (!rc)
        rc = store_audit_add(st->store, now, actor, "incident.severity_changed", "incident",
                             inc->id, before, after);
    json_decref(before);
    json_decref(after);
    return rc ? -1 : 0;
}

int incident_alert_resolved(struct engine_state *st, struct incident_rec *inc, int64_t alert_id,
                            int64_t now, const char *actor, const char *why)
{
    char text[256];
    json_t *data = json_pack("{sI}", "alert_id", (json_int_t)alert_id);
    int rc;

    if (inc->open_alert_count > 0)
        inc->open_alert_count--;
    incident_mark_dirty(st, inc, now);
    if (incident_flush_joins(st, inc, now)) {
        json_decref(data);
        return -1;
    }
    snprintf(text, sizeof(text), "alert %lld resolved: %s", (long long)alert_id, why);
    rc = store_timeline_add(st->store, inc->id, now, "alert_resolved", actor, text, data) < 0;
    json_decref(data);
    if (rc)
        return -1;
    if (inc->open_alert_count == 0 && !inc->resolving)
        return incident_resolve(st, inc, now, "tocsin", "all alerts resolved");
    return 0;
}

int incident_acknowledge(struct engine_state *st, struct incident_rec *inc, int64_t now,
                         const char *actor, const char *why)
{
    char text[256];
    json_t *before = json_pack("{ss}", "status", incident_status_name(inc->status));
    json_t *after = json_pack("{ss}", "status", "acknowledged");
    int rc = incident_flush_joins(st, inc, now);
    if (rc == 0)
        rc = store_incident_set_status(st->store, inc->id, "acknowledged", now, actor);

    inc->status = INC_ACKNOWLEDGED;
    snprintf(text, sizeof(text), "acknowledged by %s%s%s", actor, why ? " " : "", why ? why : "");
    if (rc == 0)
        rc = store_timeline_add(st->store, inc->id, now, "acknowledged", actor, text, NULL) < 0;
    if (rc == 0)
        rc = store_audit_add(st->store, now, actor, "incident.acknowledged", "incident", inc->id,
                             before, after);
    if (rc == 0)
        rc = escalation_on_ack(st, inc, now, actor);
    json_decref(before);
    json_decref(after);
    return rc ? -1 : 0;
}

int incident_resolve(struct engine_state *st, struct incident_rec *inc, int64_t now,
                     const char *actor, const char *why)
{
    char text[256];
    json_t *before = json_pack("{ss}", "status", incident_status_name(inc->status));
    json_t *after = json_pack("{ss ss}", "status", "resolved", "reason", why);
    int rc = 0;

    /* The record is about to be freed: write what it holds now. */
    rc = incident_flush_joins(st, inc, now);
    if (rc == 0 && inc->dirty) {
        struct store_incident si = {
            .id = inc->id,
            .severity = inc->severity,
            .priority = inc->priority,
            .urgency = config_urgency((enum severity)inc->severity),
            .updated_at = now,
            .last_alert_at = inc->last_alert_at,
            .alert_count = inc->alert_count,
            .open_alert_count = inc->open_alert_count,
        };
        rc = store_incident_update(st->store, &si);
    }
    if (rc == 0)
        rc = store_incident_set_status(st->store, inc->id, "resolved", now, actor);
    snprintf(text, sizeof(text), "resolved by %s: %s", actor, why);
    if (rc == 0)
        rc = store_timeline_add(st->store, inc->id, now, "resolved", actor, text, NULL) < 0;
    if (rc == 0)
        rc = store_audit_add(st->store, now, actor, "incident.resolved", "incident", inc->id,
                             before, after);
    inc->status = INC_RESOLVED; /* as partners are told */
    if (rc == 0)
        rc = escalation_on_resolve(st, inc, now);
    json_decref(before);
    json_decref(after);
    incident_unindex(st, inc);
    incident_rec_free(inc);
    stat_inc(st, -1);
    return rc ? -1 : 0;
}

/* Resolves the open alerts of an incident, then the incident itself. */
static int incident_resolve_by_hand(struct engine_state *st, struct incident_rec *inc, int64_t now,
                                    const char *actor, const char *via)
{
    struct alert_rec **mine = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    for (size_t i = 0; i < st->alerts.cap; i++) {
        struct alert_rec *a = st->alerts.slots[i].value;
        if (!st->alerts.slots[i].hash)
            continue;
        for (int j = 0; j < a->n_incidents; j++) {
            if (a->incident_ids[j] != inc->id)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                struct alert_rec **nm = realloc(mine, cap * sizeof(*nm));
                if (!nm) {
                    free(mine);
                    return -1;
                }
                mine = nm;
            }
            mine[n++] = a;
            break;
        }
    }
    inc->resolving = true;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = alert_resolve(st, mine[i], now, actor, "its incident was resolved", false);
    free(mine);
    if (rc == 0)
        rc = incident_resolve(st, inc, now, actor, via ? via : "resolved by hand");
    return rc;
}

int incident_apply_cmd(struct engine_state *st, struct engine_cmd *cmd, int64_t now)
{
    struct incident_rec *inc = incident_find(st, cmd->incident_id);
    char status[32] = "";
    int found;

    cmd->status = ENGINE_OK;
    cmd->changed = false;
    if (!inc) {
        /* Not open: it is resolved, or it does not exist at all. */
        found = store_incident_status(st->store, cmd->incident_id, status, sizeof(status));
        if (found < 0)
            return -1;
        if (found == 0) {
            cmd->status = ENGINE_ENOTFOUND;
            return 0;
        }
    }
    /* An action link works once: its nonce is recorded with the action. A
     * link for an incident that is already in the wanted state is still
     * spent, so a second click cannot act on a later incarnation. */
    if (cmd->link_nonce && (cmd->kind == CMD_INCIDENT_ACK || cmd->kind == CMD_INCIDENT_RESOLVE)) {
        int fresh = store_action_nonce_use(st->store, cmd->link_nonce, cmd->incident_id,
                                           cmd->kind == CMD_INCIDENT_ACK ? "ack" : "resolve",
                                           cmd->actor, now);
        if (fresh < 0)
            return -1;
        if (fresh == 0) {
            cmd->status = ENGINE_ECONFLICT;
            return 0;
        }
    }
    switch (cmd->kind) {
    case CMD_INCIDENT_ACK:
        if (!inc) {
            cmd->status = ENGINE_ECONFLICT;
            return 0;
        }
        if (!cmd->ack_until && inc->status != INC_ACKNOWLEDGED) {
            /* The policy's acknowledgement timeout applies unless the
             * responder said how long. */
            int64_t t = escalation_ack_timeout(st, inc);
            if (t > 0)
                cmd->ack_until = now + t;
        }
        if (inc->status == INC_ACKNOWLEDGED && cmd->ack_until == inc->ack_expires_at)
            return 0;
        cmd->changed = true;
        if (inc->status != INC_ACKNOWLEDGED) {
            char why[200] = "", ts[40];
            if (cmd->ack_until)
                snprintf(why, sizeof(why), "%s%suntil %s", cmd->via ? cmd->via : "",
                         cmd->via ? ", " : "",
                         timefmt_format_rfc3339(cmd->ack_until, ts, sizeof(ts)));
            else if (cmd->via)
                snprintf(why, sizeof(why), "%s", cmd->via);
            if (incident_acknowledge(st, inc, now, cmd->actor, why[0] ? why : NULL))
                return -1;
        } else {
            /* Acknowledged again with another expiry: it replaces the old one. */
            char text[120], ts[40];
            if (cmd->ack_until)
                snprintf(text, sizeof(text), "acknowledgement extended until %s",
                         timefmt_format_rfc3339(cmd->ack_until, ts, sizeof(ts)));
            else
                snprintf(text, sizeof(text), "acknowledged for good");
            if (store_timeline_add(st->store, inc->id, now, "acknowledged", cmd->actor, text,
                                   NULL) < 0)
                return -1;
        }
        inc->ack_expires_at = cmd->ack_until;
        if (cmd->ack_until && (!st->ack_next_expiry || cmd->ack_until < st->ack_next_expiry))
            st->ack_next_expiry = cmd->ack_until;
        return store_incident_set_ack_expiry(st->store, inc->id, cmd->ack_until);
    case CMD_INCIDENT_RESOLVE:
        if (!inc)
            return 0;
        cmd->changed = true;
        return incident_resolve_by_hand(st, inc, now, cmd->actor, cmd->via);
    case CMD_INCIDENT_NOTE: {
        if (inc && incident_flush_joins(st, inc, now))
            return -1;
        json_t *after = json_pack("{ss}", "text", cmd->text);
        int64_t id = store_timeline_add(st->store, cmd->incident_id, now, "note", cmd->actor,
                                        cmd->text, NULL);
        int rc = id < 0 || store_audit_add(st->store, now, cmd->actor, "incident.note_added",
                                           "incident", cmd->incident_id, NULL, after);
        json_decref(after);
        cmd->out_id = id;
        cmd->changed = true;
        return rc ? -1 : 0;
    }
    default:
        return 0;
    }
}

int incident_expire_acks(struct engine_state *st, int64_t now)
{
    int64_t next = 0;
    if (!st->ack_next_expiry || now < st->ack_next_expiry)
        return 0;
    for (size_t i = 0; i < st->incidents.cap; i++) {
        struct incident_rec *inc =
            st->incidents.slots[i].hash ? st->incidents.slots[i].value : NULL;
        if (!inc || inc->status != INC_ACKNOWLEDGED || !inc->ack_expires_at)
            continue;
        if (inc->ack_expires_at > now) {
            if (!next || inc->ack_expires_at < next)
                next = inc->ack_expires_at;
            continue;
        }
        /* Nobody finished it in time: it is everyone's problem again. */
        json_t *before = json_pack("{ss}", "status", "acknowledged");
        json_t *after =
            json_pack("{ss ss}", "status", "triggered", "reason", "acknowledgement expired");
        int rc = incident_flush_joins(st, inc, now) ||
                 store_incident_unacknowledge(st->store, inc->id, now) ||
                 store_timeline_add(st->store, inc->id, now, "acknowledgement_expired", "tocsin",
                                    "the acknowledgement expired: back to triggered", NULL) < 0 ||
                 store_audit_add(st->store, now, "tocsin", "incident.unacknowledged", "incident",
                                 inc->id, before, after);
        json_decref(before);
        json_decref(after);
        if (rc)
            return -1;
        inc->status = INC_TRIGGERED;
        inc->ack_expires_at = 0;
        if (escalation_restart(st, inc, now))
            return -1;
    }
    st->ack_next_expiry = next;
    return 0;
}
