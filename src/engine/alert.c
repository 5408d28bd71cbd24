/*
 * alert.c - the alert lifecycle: deduplication of events into alerts,
 * acknowledgement, resolution and expiry at endsAt.
 *
 * One open alert exists per (integration, dedup key). A trigger for an open
 * alert only updates it (count, last seen, newest content); a trigger after
 * the alert was resolved opens a new alert; an acknowledge or resolve for a
 * key with no open alert is dropped, as PagerDuty does.
 */
#include "engine_int.h"

#include "../base/jtext.h"
#include "../base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *alert_status_name(int s)
{
    static const char *const names[] = {"firing", "acknowledged", "resolved"};
    return (s >= 0 && s <= 2) ? names[s] : "firing";
}

void alert_rec_free(struct alert_rec *a)
{
    if (!a)
        return;
    if (a->held) {
        event_clear(a->held);
        free(a->held);
    }
    free(a->key);
    free(a);
}

/* Copies what routing an alert later needs: key, labels, summary, source,
 * severity. Returns NULL when out of memory. */
static struct event *alert_hold_event(const struct event *ev)
{
    struct event *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->action = EVENT_TRIGGER;
    h->severity = ev->severity;
    h->dedup_key = strdup(ev->dedup_key);
    h->summary = ev->summary ? strdup(ev->summary) : NULL;
    h->source = ev->source ? strdup(ev->source) : NULL;
    for (size_t i = 0; i < ev->labels.n; i++) {
        if (labels_set(&h->labels, ev->labels.v[i].name, ev->labels.v[i].value))
            goto fail;
    }
    if (!h->dedup_key || (ev->summary && !h->summary) || (ev->source && !h->source))
        goto fail;
    return h;
fail:
    event_clear(h);
    free(h);
    return NULL;
}

/* ---- expiry heap: a binary min-heap on ends_at, with each record knowing
 * its index so an update or removal is O(log n). ---- */

static void heap_swap(struct engine_state *st, size_t i, size_t j)
{
    struct alert_rec *t = st->heap[i];
    st->heap[i] = st->heap[j];
    st->heap[j] = t;
    st->heap[i]->heap_idx = (uint32_t)i;
    st->heap[j]->heap_idx = (uint32_t)j;
}

static void heap_up(struct engine_state *st, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (st->heap[p]->ends_at <= st->heap[i]->ends_at)
            break;
        heap_swap(st, i, p);
        i = p;
    }
}

static void heap_down(struct engine_state *st, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < st->heap_len && st->heap[l]->ends_at < st->heap[m]->ends_at)
            m = l;
        if (r < st->heap_len && st->heap[r]->ends_at < st->heap[m]->ends_at)
            m = r;
        if (m == i)
            return;
        heap_swap(st, i, m);
        i = m;
    }
}

static void alert_heap_remove(struct engine_state *st, struct alert_rec *a)
{
    size_t i = a->heap_idx;
    if (i == HEAP_NONE)
        return;
    st->heap_len--;
    if (i != st->heap_len) {
        st->heap[i] = st->heap[st->heap_len];
        st->heap[i]->heap_idx = (uint32_t)i;
        heap_down(st, i);
        heap_up(st, i);
    }
    a->heap_idx = HEAP_NONE;
}

/* Puts the alert where its ends_at says: in the heap when it expires, out of
 * it when it does not. */
void alert_heap_update(struct engine_state *st, struct alert_rec *a)
{
    if (a->ends_at == 0) {
        alert_heap_remove(st, a);
        return;
    }
    if (a->heap_idx == HEAP_NONE) {
        if (st->heap_len == st->heap_cap) {
            size_t ncap = st->heap_cap ? st->heap_cap * 2 : 256;
            struct alert_rec **nh = realloc(st->heap, ncap * sizeof(*nh));
            if (!nh) {
                /* Without room the alert cannot expire by itself; it still
                 * resolves when its sender says so. */
                log_error("engine: out of memory for the expiry heap");
                return;
            }
            st->heap = nh;
            st->heap_cap = ncap;
        }
        a->heap_idx = (uint32_t)st->heap_len;
        st->heap[st->heap_len++] = a;
        heap_up(st, a->heap_idx);
    } else {
        heap_down(st, a->heap_idx);
        heap_up(st, a->heap_idx);
    }
}

int64_t engine_next_due(const struct engine_state *st, int64_t now)
{
    if (st->n_dt_suppressed && st->dt_next_edge && st->dt_next_edge <= now)
        return 0;
    if (st->ack_next_expiry && st->ack_next_expiry <= now)
        return 0;
    /* The earliest of: an alert's expiry, an escalation level, a notification. */
    int64_t at = st->heap_len ? st->heap[0]->ends_at : INT64_MAX;
    const struct heap_node *esc = heap_top(&st->esc_heap), *ob = heap_top(&st->outbox_heap);
    if (esc && esc->key < at)
        at = esc->key;
    if (ob && ob->key < at)
        at = ob->key;
    if (at == INT64_MAX)
        return -1;
    return at <= now ? 0 : at - now;
}

/* ---- helpers ---- */

char *make_alert_key(const char *integration, const char *dedup_key)
{
    size_t a = strlen(integration), b = strlen(dedup_key);
    char *k = malloc(a + b + 2);
    if (!k)
        return NULL;
    memcpy(k, integration, a);
    k[a] = '\x1f';
    memcpy(k + a + 1, dedup_key, b + 1);
    return k;
}

static void mark_dirty(struct engine_state *st, struct alert_rec *a)
{
    if (!a->dirty) {
        a->dirty = true;
        a->next_dirty = st->dirty_alerts;
        st->dirty_alerts = a;
    }
}

static void stat_add(struct engine_state *st, atomic_llong *c, long long d)
{
    if (st->stats)
        atomic_fetch_add_explicit(c, d, memory_order_relaxed);
}

static void fill_result(struct engine_event_result *res, enum engine_outcome o,
                        const struct alert_rec *a)
{
    res->outcome = o;
    res->alert_id = a ? a->id : 0;
    res->n_incidents = a ? a->n_incidents : 0;
    for (int i = 0; a && i < a->n_incidents; i++)
        res->incident_ids[i] = a->incident_ids[i];
}

/* Writes one alert's repeat fields (and content when an event brought it). */
static int flush_alert(struct engine_state *st, struct alert_rec *a)
{
    const struct event *ev = a->latest;
    /* An unchanged content (the usual refresh) only moves the repeat fields. */
    uint64_t h = !ev ? 0 : ev->content_hash ? ev->content_hash : event_content_hash(ev);
    if (ev && h == a->content_hash)
        ev = NULL;
    struct store_alert sa = {
        .id = a->id,
        .severity = a->severity,
        .last_seen = a->last_seen,
        .count = a->count,
        .ends_at = a->ends_at,
    };
    if (ev) {
        sa.summary = ev->summary;
        sa.source = ev->source;
        sa.labels = &ev->labels;
        sa.details = ev->details;
        sa.links = ev->links;
    }
    int rc = store_alert_touch(st->store, &sa, ev != NULL);
    if (rc == 0 && ev)
        a->content_hash = h;
    a->dirty = false;
    a->latest = NULL;
    return rc;
}

int engine_flush(struct engine_state *st)
{
    int rc = 0;
    while (st->dirty_alerts) {
        struct alert_rec *a = st->dirty_alerts;
        st->dirty_alerts = a->next_dirty;
        if (rc == 0 && flush_alert(st, a))
            rc = -1;
        a->dirty = false;
        a->latest = NULL;
    }
    while (st->dirty_incidents) {
        struct incident_rec *inc = st->dirty_incidents;
        st->dirty_incidents = inc->next_dirty;
        inc->dirty = false;
        if (rc == 0 && incident_flush_joins(st, inc, inc->updated_at))
            rc = -1;
        if (rc == 0 && inc->status != INC_RESOLVED) {
            struct store_incident si = {
                .id = inc->id,
                .severity = inc->severity,
                .priority = inc->priority,
                .urgency = config_urgency((enum severity)inc->severity),
                .updated_at = inc->updated_at,
                .last_alert_at = inc->last_alert_at,
                .alert_count = inc->alert_count,
                .open_alert_count = inc->open_alert_count,
            };
            if (store_incident_update(st->store, &si))
                rc = -1;
        }
    }
    return rc;
}

/* ---- the lifecycle ---- */

static int alert_severity_changed(struct engine_state *st, struct alert_rec *a, enum severity sev,
                                  int64_t now, const char *actor)
{
    char text[128];
    json_t *before = json_pack("{ss}", "severity", severity_name((enum severity)a->severity));
    json_t *after = json_pack("{ss}", "severity", severity_name(sev));
    int rc = store_audit_add(st->store, now, actor, "alert.severity_changed", "alert", a->id,
                             before, after);
    snprintf(text, sizeof(text), "alert %lld severity changed from %s to %s", (long long)a->id,
             severity_name((enum severity)a->severity), severity_name(sev));
    for (int i = 0; rc == 0 && i < a->n_incidents; i++) {
        struct incident_rec *inc = incident_find(st, a->incident_ids[i]);
        if (!inc)
            continue;
        if (incident_flush_joins(st, inc, now)) {
            rc = -1;
            break;
        }
        json_t *data = json_pack("{sI s o s o}", "alert_id", (json_int_t)a->id, "before",
                                 json_incref(before), "after", json_incref(after));
        if (store_timeline_add(st->store, inc->id, now, "severity_changed", actor, text, data) < 0)
            rc = -1;
        json_decref(data);
        if (rc == 0 && sev > inc->severity)
            rc = incident_raise_severity(st, inc, sev, now, actor);
    }
    json_decref(before);
    json_decref(after);
    a->severity = (uint8_t)sev;
    return rc;
}

/*
 * Finds or opens the incidents an alert with ev's labels joins, one per
 * matching route (two routes may lead to the same incident: it is joined
 * once). Fills incs/ids and *n. Returns 0 or -1 when the store failed.
 */
static int alert_route(struct engine_state *st, const struct event *ev, int64_t now,
                       const char *actor, struct incident_rec **incs, int64_t *ids, size_t *n)
{
    const struct route *routes[ROUTE_MAX_MATCHES];
    size_t n_routes = route_find(&st->cfg->root, &ev->labels, routes, ROUTE_MAX_MATCHES);
    int failed = 0;
    *n = 0;
    for (size_t i = 0; i < n_routes; i++) {
        struct incident_rec *inc = incident_for_alert(st, routes[i], ev, now, actor, &failed);
        if (failed)
            return -1;
        bool seen = false;
        for (size_t j = 0; j < *n; j++)
            seen |= incs[j] == inc;
        if (inc && !seen) {
            incs[*n] = inc;
            ids[(*n)++] = inc->id;
        }
    }
    return 0;
}

/* Joins the alert to the incidents alert_route found. */
static int alert_join(struct engine_state *st, struct alert_rec *a, const struct event *ev,
                      struct incident_rec **incs, size_t n_incs, int64_t now, const char *actor)
{
    for (size_t i = 0; i < n_incs; i++) {
        if (store_incident_link_alert(st->store, incs[i]->id, a->id, now) ||
            incident_alert_joined(st, incs[i], a->id, ev, now, actor))
            return -1;
    }
    return 0;
}

/*
 * A suppressed alert whose sender names a parent alert (a check whose host's
 * parent is down) is shown on the parent's incidents: linked, with a
 * timeline entry, but not counted as one of their open alerts, so the
 * incident still resolves when the parent recovers.
 */
static int alert_show_on_parent(struct engine_state *st, const struct cfg_integration *integ,
                                const struct alert_rec *a, const struct event *ev, int64_t now,
                                const char *actor)
{
    char *pkey = make_alert_key(integ->name, ev->parent_key);
    struct alert_rec *parent = pkey ? strmap_get(&st->alerts, pkey) : NULL;
    char text[600];
    int rc = 0;
    free(pkey);
    if (!parent)
        return 0;
    snprintf(text, sizeof(text), "alert %lld suppressed (%s): %s", (long long)a->id, ev->suppressed,
             ev->summary ? ev->summary : ev->dedup_key);
    for (int i = 0; rc == 0 && i < parent->n_incidents; i++) {
        struct incident_rec *inc = incident_find(st, parent->incident_ids[i]);
        if (!inc)
            continue;
        json_t *data =
            json_pack("{sI ss}", "alert_id", (json_int_t)a->id, "reason", ev->suppressed);
        if (incident_flush_joins(st, inc, now) ||
            store_incident_link_alert(st->store, inc->id, a->id, now) ||
            store_timeline_add(st->store, inc->id, now, "alert_suppressed", actor, text, data) < 0)
            rc = -1;
        json_decref(data);
    }
    return rc;
}

/*
 * The audit record of a new alert. Written straight as text: under a burst
 * of new alerts, packing it into a jansson object only to serialise it at
 * once was a tenth of the engine thread.
 */
static int audit_created(struct engine_state *st, const struct cfg_integration *integ,
                         const struct event *ev, int64_t id, const char *suppressed, int64_t now,
                         const char *actor)
{
    char buf[2048];
    struct jtext_obj o;
    jtext_obj_begin(&o, buf, sizeof(buf));
    jtext_obj_str(&o, "integration", integ->name, false);
    jtext_obj_str(&o, "dedup_key", ev->dedup_key, false);
    jtext_obj_str(&o, "summary", ev->summary, true);
    jtext_obj_str(&o, "severity", severity_name(ev->severity), false);
    jtext_obj_str(&o, "suppressed", suppressed, true);
    long n = jtext_obj_end(&o);
    if (n >= 0 && (size_t)n < sizeof(buf)) {
        buf[n] = '\0';
        return store_audit_add_text(st->store, now, actor, "alert.created", "alert", id, NULL, buf);
    }
    json_t *after = json_pack("{ss ss ss* ss ss*}", "integration", integ->name, "dedup_key",
                              ev->dedup_key, "summary", ev->summary, "severity",
                              severity_name(ev->severity), "suppressed", suppressed);
    int rc = after
                 ? store_audit_add(st->store, now, actor, "alert.created", "alert", id, NULL, after)
                 : -1;
    json_decref(after);
    return rc;
}

static int alert_create(struct engine_state *st, const struct cfg_integration *integ,
                        const struct event *ev, char *key, struct engine_event_result *res,
                        int64_t now, const char *actor)
{
    struct incident_rec *incs[ROUTE_MAX_MATCHES];
    int64_t inc_ids[ROUTE_MAX_MATCHES];
    size_t n_incs = 0;
    struct alert_rec *a;
    int rc;
    char reason[300];
    uint8_t kind = SUPPRESS_NONE;
    const struct downtime_rec *dt;

    /* From here on the key belongs to this function: it becomes the new
     * record's key, or is freed on failure. */
    if (ev->suppressed) {
        kind = SUPPRESS_SENDER;
        snprintf(reason, sizeof(reason), "%s", ev->suppressed);
    } else if ((dt = downtime_covering(st, &ev->labels, now)) != NULL) {
        kind = SUPPRESS_DOWNTIME;
        snprintf(reason, sizeof(reason), "downtime %s", dt->name);
    }
    if (kind == SUPPRESS_NONE && alert_route(st, ev, now, actor, incs, inc_ids, &n_incs)) {
        free(key);
        return -1;
    }

    struct store_alert sa = {
        .integration = integ->name,
        .dedup_key = ev->dedup_key,
        .status = "firing",
        .severity = ev->severity,
        .summary = ev->summary,
        .source = ev->source,
        .labels = &ev->labels,
        .details = ev->details,
        .links = ev->links,
        .first_seen = now,
        .last_seen = now,
        .count = 1,
        .starts_at = ev->starts_at_ms,
        .ends_at = ev->ends_at_ms,
        .incident_ids = inc_ids,
        .n_incidents = n_incs,
        .suppressed = kind ? reason : NULL,
    };
    rc = store_alert_insert(st->store, &sa);
    a = rc ? NULL : calloc(1, sizeof(*a));
    if (!a) {
        free(key);
        return -1;
    }
    a->id = sa.id;
    a->key = key;
    a->first_seen = a->last_seen = now;
    a->count = 1;
    a->starts_at = ev->starts_at_ms;
    a->ends_at = ev->ends_at_ms;
    a->content_hash = ev->content_hash ? ev->content_hash : event_content_hash(ev);
    a->heap_idx = HEAP_NONE;
    a->status = ALERT_FIRING;
    a->severity = (uint8_t)ev->severity;
    a->suppressed = kind;
    a->n_incidents = (uint8_t)n_incs;
    memcpy(a->incident_ids, inc_ids, n_incs * sizeof(inc_ids[0]));
    if (kind == SUPPRESS_DOWNTIME) {
        if (!(a->held = alert_hold_event(ev))) {
            alert_rec_free(a);
            return -1;
        }
        st->n_dt_suppressed++;
    }
    if (strmap_put(&st->alerts, a->key, a)) {
        if (kind == SUPPRESS_DOWNTIME)
            st->n_dt_suppressed--;
        alert_rec_free(a);
        return -1;
    }
    alert_heap_update(st, a);
    stat_add(st, st->stats ? &st->stats->alerts_open : NULL, 1);

    rc = audit_created(st, integ, ev, a->id, kind ? reason : NULL, now, actor);
    if (rc == 0)
        rc = alert_join(st, a, ev, incs, n_incs, now, actor);
    if (rc == 0 && kind == SUPPRESS_SENDER && ev->parent_key)
        rc = alert_show_on_parent(st, integ, a, ev, now, actor);
    fill_result(res, OUTCOME_CREATED, a);
    return rc;
}

int alert_unsuppress(struct engine_state *st, struct alert_rec *a, const struct event *ev,
                     int64_t now, const char *actor)
{
    struct incident_rec *incs[ROUTE_MAX_MATCHES];
    int64_t inc_ids[ROUTE_MAX_MATCHES];
    size_t n_incs = 0;
    const struct event *src = ev ? ev : a->held;
    int rc;

    if (!src)
        return 0; /* nothing to route with; it stays as it is */
    if (alert_route(st, src, now, actor, incs, inc_ids, &n_incs))
        return -1;
    rc = store_alert_set_suppressed(st->store, a->id, NULL, inc_ids, n_incs);
    a->n_incidents = (uint8_t)n_incs;
    memcpy(a->incident_ids, inc_ids, n_incs * sizeof(inc_ids[0]));
    if (rc == 0)
        rc = alert_join(st, a, src, incs, n_incs, now, actor);
    if (rc == 0) {
        json_t *after = json_pack("{ss}", "suppressed", "no longer");
        rc = store_audit_add(st->store, now, actor, "alert.unsuppressed", "alert", a->id, NULL,
                             after);
        json_decref(after);
    }
    if (a->suppressed == SUPPRESS_DOWNTIME)
        st->n_dt_suppressed--;
    a->suppressed = SUPPRESS_NONE;
    if (a->held) {
        event_clear(a->held);
        free(a->held);
        a->held = NULL;
    }
    return rc;
}

/* A trigger for an open, suppressed alert: is it still suppressed, and why? */
static int alert_resuppress(struct engine_state *st, struct alert_rec *a, const struct event *ev,
                            int64_t now, const char *actor)
{
    const struct downtime_rec *dt = NULL;
    char reason[300];
    uint8_t kind = SUPPRESS_NONE;
    if (ev->suppressed) {
        kind = SUPPRESS_SENDER;
        snprintf(reason, sizeof(reason), "%s", ev->suppressed);
    } else if ((dt = downtime_covering(st, &ev->labels, now)) != NULL) {
        kind = SUPPRESS_DOWNTIME;
        snprintf(reason, sizeof(reason), "downtime %s", dt->name);
    }
    if (kind == SUPPRESS_NONE)
        return alert_unsuppress(st, a, ev, now, actor);
    if (kind == a->suppressed)
        return 0;
    if (kind == SUPPRESS_DOWNTIME && !a->held) {
        if (!(a->held = alert_hold_event(ev)))
            return -1;
    }
    if (a->suppressed == SUPPRESS_DOWNTIME)
        st->n_dt_suppressed--;
    if (kind == SUPPRESS_DOWNTIME)
        st->n_dt_suppressed++;
    a->suppressed = kind;
    return store_alert_set_suppressed(st->store, a->id, reason, a->incident_ids, a->n_incidents);
}

void alert_remember_resolved(struct engine_state *st, const char *key, int64_t starts_at,
                             int64_t resolved_at)
{
    struct recent_rec *r = strmap_get(&st->recent, key);
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            return;
        if (!(r->key = strdup(key)) || strmap_put(&st->recent, r->key, r)) {
            free(r->key);
            free(r);
            return;
        }
    }
    r->starts_at = starts_at;
    r->resolved_at = resolved_at;
}

int alert_resolve(struct engine_state *st, struct alert_rec *a, int64_t now, const char *actor,
                  const char *why, bool by_sender)
{
    int rc = 0;
    json_t *before, *after;

    /* Repeat fields of this batch go to disk before the record is freed. */
    if (a->dirty)
        rc = flush_alert(st, a);
    if (rc == 0)
        rc = store_alert_set_status(st->store, a->id, "resolved", now, actor);
    before = json_pack("{ss}", "status", alert_status_name(a->status));
    after = json_pack("{ss ss}", "status", "resolved", "reason", why);
    if (rc == 0)
        rc =
            store_audit_add(st->store, now, actor, "alert.resolved", "alert", a->id, before, after);
    json_decref(before);
    json_decref(after);
    for (int i = 0; rc == 0 && i < a->n_incidents; i++) {
        struct incident_rec *inc = incident_find(st, a->incident_ids[i]);
        if (inc && incident_alert_resolved(st, inc, a->id, now, actor, why))
            rc = -1;
    }
    /* Remember what the sender itself resolved, so a late retry of the same
     * firing (same startsAt) does not reopen it. */
    if (by_sender && a->starts_at)
        alert_remember_resolved(st, a->key, a->starts_at, now);
    alert_heap_remove(st, a);
    strmap_del(&st->alerts, a->key);
    if (a->suppressed == SUPPRESS_DOWNTIME)
        st->n_dt_suppressed--;
    stat_add(st, st->stats ? &st->stats->alerts_open : NULL, -1);
    /* A dirty record is still linked into the dirty list; unlink it. */
    for (struct alert_rec **p = &st->dirty_alerts; *p; p = &(*p)->next_dirty) {
        if (*p == a) {
            *p = a->next_dirty;
            break;
        }
    }
    alert_rec_free(a);
    return rc;
}

static int alert_acknowledge(struct engine_state *st, struct alert_rec *a, int64_t now,
                             const char *actor)
{
    char text[96];
    int rc;
    if (a->status == ALERT_ACKNOWLEDGED)
        return 0;
    rc = store_alert_set_status(st->store, a->id, "acknowledged", now, actor);
    json_t *before = json_pack("{ss}", "status", "firing");
    json_t *after = json_pack("{ss}", "status", "acknowledged");
    if (rc == 0)
        rc = store_audit_add(st->store, now, actor, "alert.acknowledged", "alert", a->id, before,
                             after);
    json_decref(before);
    json_decref(after);
    a->status = ALERT_ACKNOWLEDGED;
    snprintf(text, sizeof(text), "alert %lld acknowledged", (long long)a->id);
    for (int i = 0; rc == 0 && i < a->n_incidents; i++) {
        struct incident_rec *inc = incident_find(st, a->incident_ids[i]);
        if (!inc)
            continue;
        if (incident_flush_joins(st, inc, now) ||
            store_timeline_add(st->store, inc->id, now, "alert_acknowledged", actor, text, NULL) <
                0)
            rc = -1;
        else if (inc->status == INC_TRIGGERED)
            rc = incident_acknowledge(st, inc, now, actor, "acknowledged by its sender");
    }
    return rc;
}

int alert_apply_event(struct engine_state *st, const struct cfg_integration *integ,
                      const struct event *ev, struct engine_event_result *res, int64_t now)
{
    char actor[160];
    char *key = make_alert_key(integ->name, ev->dedup_key);
    struct alert_rec *a;
    int rc = 0;

    if (!key)
        return -1;
    snprintf(actor, sizeof(actor), "integration:%s", integ->name);
    a = strmap_get(&st->alerts, key);

    switch (ev->action) {
    case EVENT_TRIGGER:
        if (!a) {
            struct recent_rec *r = strmap_get(&st->recent, key);
            if (r && ev->starts_at_ms && r->starts_at == ev->starts_at_ms && ev->ends_at_ms == 0) {
                /* A retry of a firing the sender has since resolved. */
                fill_result(res, OUTCOME_DROPPED, NULL);
                free(key);
                return 0;
            }
            return alert_create(st, integ, ev, key, res, now, actor);
        }
        a->count++;
        a->last_seen = now;
        a->latest = ev;
        if (ev->ends_at_ms != a->ends_at) {
            a->ends_at = ev->ends_at_ms;
            alert_heap_update(st, a);
        }
        mark_dirty(st, a);
        if (a->suppressed)
            rc = alert_resuppress(st, a, ev, now, actor);
        if (rc == 0 && ev->severity != a->severity)
            rc = alert_severity_changed(st, a, ev->severity, now, actor);
        fill_result(res, OUTCOME_UPDATED, a);
        break;
    case EVENT_ACKNOWLEDGE:
        if (!a) {
            fill_result(res, OUTCOME_DROPPED, NULL);
            break;
        }
        fill_result(res, OUTCOME_ACKNOWLEDGED, a);
        rc = alert_acknowledge(st, a, now, actor);
        break;
    case EVENT_RESOLVE:
        if (!a) {
            fill_result(res, OUTCOME_DROPPED, NULL);
            break;
        }
        fill_result(res, OUTCOME_RESOLVED, a);
        rc = alert_resolve(st, a, now, actor, "resolved by its sender", true);
        break;
    }
    free(key);
    return rc;
}

int engine_tick(struct engine_state *st, int64_t now)
{
    if (downtime_tick(st, now) || incident_expire_acks(st, now) || escalation_tick(st, now))
        return -1;
    while (st->heap_len > 0 && st->heap[0]->ends_at <= now) {
        if (alert_resolve(st, st->heap[0], now, "tocsin", "expired: not refreshed before endsAt",
                          true))
            return -1;
    }
    /* Late retries arrive within minutes; an hour of memory is plenty. */
    if (now - st->recent_pruned_at > 60000 && st->recent.len > 0) {
        struct recent_rec **old = malloc(st->recent.len * sizeof(*old));
        size_t n = 0;
        for (size_t i = 0; old && i < st->recent.cap; i++) {
            struct recent_rec *r = st->recent.slots[i].value;
            if (st->recent.slots[i].hash && now - r->resolved_at > 3600000)
                old[n++] = r;
        }
        for (size_t i = 0; i < n; i++) {
            strmap_del(&st->recent, old[i]->key);
            free(old[i]->key);
            free(old[i]);
        }
        free(old);
        st->recent_pruned_at = now;
    }
    return 0;
}
