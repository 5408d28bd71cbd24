/*
 * outbox.c - the durable outbox: every notification is a row before it is
 * sent, and every attempt's outcome is recorded on the row and the
 * incident's timeline.
 *
 * Rows wait in a heap ordered by their next attempt. After each commit the
 * engine thread hands the due ones to the notifier (so nothing is sent that
 * is not on disk); results come back through engine_notify_result and are
 * applied in the next batch. A row in flight when the process dies is still
 * pending in the store and goes out again after the restart with the same
 * idempotency key, so a receiver can tell the repeat from a new message.
 */
#include "engine_int.h"

#include "../base/log.h"
#include "../notify/notify.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUTBOX_DEFAULT_ATTEMPTS 8

static void stat_add(struct engine_state *st, atomic_llong *c, long long d)
{
    if (st->stats)
        atomic_fetch_add_explicit(c, d, memory_order_relaxed);
}

static void outbox_rec_free(struct outbox_rec *o)
{
    if (!o)
        return;
    free(o->channel);
    free(o->target);
    free(o->address);
    free(o->idem_key);
    free(o->kind);
    json_decref(o->payload);
    free(o);
}

/* Takes a row out of memory for good (delivered, dead or cancelled). */
static void outbox_drop(struct engine_state *st, struct outbox_rec *o)
{
    heap_remove(&st->outbox_heap, &o->timer);
    strmap_del(&st->outbox, o->idkey);
    outbox_rec_free(o);
    stat_add(st, st->stats ? &st->stats->notify_pending : NULL, -1);
}

static struct outbox_rec *outbox_add_rec(struct engine_state *st, const struct store_outbox_row *r,
                                         const json_t *payload)
{
    struct outbox_rec *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->id = r->id;
    o->incident_id = r->incident_id;
    o->level = r->level;
    o->attempts = r->attempts;
    o->channel = strdup(r->channel);
    o->target = strdup(r->target);
    o->address = r->address ? strdup(r->address) : NULL;
    o->idem_key = strdup(r->idem_key);
    o->kind = strdup(r->kind);
    o->payload = json_deep_copy(payload);
    heap_node_init(&o->timer);
    snprintf(o->idkey, sizeof(o->idkey), "%lld", (long long)o->id);
    if (!o->channel || !o->target || (r->address && !o->address) || !o->idem_key || !o->kind ||
        !o->payload || strmap_put(&st->outbox, o->idkey, o)) {
        outbox_rec_free(o);
        return NULL;
    }
    if (heap_set(&st->outbox_heap, &o->timer, r->next_at)) {
        strmap_del(&st->outbox, o->idkey);
        outbox_rec_free(o);
        return NULL;
    }
    stat_add(st, st->stats ? &st->stats->notify_pending : NULL, 1);
    return o;
}

int outbox_queue(struct engine_state *st, int64_t incident_id, const char *channel,
                 const char *target, const char *address, const char *kind, int level,
                 const char *idem_key, const json_t *payload, int64_t next_at, int64_t now,
                 int64_t *id_out)
{
    char *text = json_dumps(payload, JSON_COMPACT);
    struct store_outbox_row r = {
        .idem_key = idem_key,
        .incident_id = incident_id,
        .channel = channel,
        .target = target,
        .address = address,
        .kind = kind,
        .level = level,
        .payload = text,
        .status = "pending",
        .created_at = now,
        .next_at = next_at,
    };
    int rc;
    if (!text)
        return -1;
    rc = store_outbox_insert(st->store, &r);
    free(text);
    if (rc <= 0)
        return rc;
    if (id_out)
        *id_out = r.id;
    /* Without memory the row still waits in the store and goes out after a
     * restart; say so rather than fail the whole batch. */
    if (!outbox_add_rec(st, &r, payload))
        log_error("outbox: out of memory: notification %lld waits until the next start",
                  (long long)r.id);
    return 1;
}

static bool is_page(const char *kind)
{
    return strcmp(kind, "incident.triggered") == 0 || strcmp(kind, "incident.escalated") == 0 ||
           strcmp(kind, "incident.assigned") == 0;
}

int outbox_cancel_incident(struct engine_state *st, int64_t incident_id, int64_t now)
{
    struct outbox_rec **mine = NULL;
    size_t n = 0;
    int rc = 0;
    if (st->outbox.len == 0)
        return 0;
    mine = malloc(st->outbox.len * sizeof(*mine));
    if (!mine)
        return -1;
    for (size_t i = 0; i < st->outbox.cap; i++) {
        struct outbox_rec *o = st->outbox.slots[i].hash ? st->outbox.slots[i].value : NULL;
        if (o && o->incident_id == incident_id && !o->inflight && is_page(o->kind))
            mine[n++] = o;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = store_outbox_update(st->store, mine[i]->id, "cancelled", mine[i]->attempts, 0, now,
                                 "the incident was acknowledged or resolved first");
        if (rc == 0)
            outbox_drop(st, mine[i]);
    }
    free(mine);
    return rc ? -1 : (int)n;
}

int outbox_update_payload(struct engine_state *st, int64_t id, const json_t *payload)
{
    char key[24];
    snprintf(key, sizeof(key), "%lld", (long long)id);
    struct outbox_rec *o = strmap_get(&st->outbox, key);
    if (!o || o->inflight)
        return 1;
    char *text = json_dumps(payload, JSON_COMPACT);
    json_t *copy = json_deep_copy(payload);
    if (!text || !copy || store_outbox_set_payload(st->store, id, text)) {
        free(text);
        json_decref(copy);
        return -1;
    }
    free(text);
    json_decref(o->payload);
    o->payload = copy;
    return 0;
}

/* The delay before attempt number attempts + 1: doubling from retry_min,
 * capped at retry_max, with +-20% jitter so that many rows that failed
 * together do not retry together. */
static int64_t backoff_ms(const struct cfg_channel *ch, int attempts, int64_t retry_after)
{
    int64_t lo = ch && ch->retry_min_ms > 0 ? ch->retry_min_ms : 5000;
    int64_t hi = ch && ch->retry_max_ms > 0 ? ch->retry_max_ms : 600000;
    int64_t d = lo;
    for (int i = 1; i < attempts && d < hi; i++)
        d *= 2;
    if (d > hi)
        d = hi;
    int64_t span = d / 5;
    if (span > 0)
        d += (int64_t)randombytes_uniform(
                 (uint32_t)(2 * span + 1 > UINT32_MAX ? UINT32_MAX : 2 * span + 1)) -
             span;
    if (retry_after > d)
        d = retry_after < hi ? retry_after : hi;
    return d < 100 ? 100 : d;
}

static int timeline(struct engine_state *st, const struct outbox_rec *o, int64_t now,
                    const char *kind, const char *text, const char *status, const char *detail)
{
    if (!o->incident_id)
        return 0;
    json_t *data = json_pack("{sI ss ss ss ss si ss?}", "notification_id", (json_int_t)o->id,
                             "channel", o->channel, "target", o->target, "kind", o->kind, "status",
                             status, "attempts", o->attempts, "detail", detail);
    int rc = store_timeline_add(st->store, o->incident_id, now, kind, "tocsin", text, data) < 0;
    json_decref(data);
    return rc ? -1 : 0;
}

int outbox_apply_result(struct engine_state *st, const struct notify_result *r, int64_t now)
{
    char key[24], text[512];
    snprintf(key, sizeof(key), "%lld", (long long)r->id);
    struct outbox_rec *o = strmap_get(&st->outbox, key);
    if (!o || !o->inflight)
        return 0; /* cancelled or retried by hand meanwhile */
    const struct cfg_channel *ch = config_find_channel(st->cfg, o->channel);
    int max = ch && ch->max_attempts > 0 ? ch->max_attempts : OUTBOX_DEFAULT_ATTEMPTS;
    o->inflight = false;
    if (r->attempt > o->attempts)
        o->attempts = r->attempt;

    if (r->outcome == NOTIFY_DELIVERED) {
        snprintf(text, sizeof(text), "notified %s by %s: delivered (%s)", o->target, o->channel,
                 r->detail);
        if (store_outbox_update(st->store, o->id, "delivered", o->attempts, now, now, r->detail) ||
            timeline(st, o, now, "notified", text, "delivered", r->detail))
            return -1;
        stat_add(st, st->stats ? &st->stats->notify_delivered : NULL, 1);
        outbox_drop(st, o);
        return 0;
    }
    if (r->outcome == NOTIFY_RETRY && o->attempts < max) {
        int64_t d = backoff_ms(ch, o->attempts, r->retry_after_ms);
        snprintf(text, sizeof(text),
                 "notifying %s by %s failed (attempt %d of %d): %s; next try in %lld s", o->target,
                 o->channel, o->attempts, max, r->detail, (long long)((d + 999) / 1000));
        if (store_outbox_update(st->store, o->id, "pending", o->attempts, now + d, now,
                                r->detail) ||
            timeline(st, o, now, "notification_failed", text, "pending", r->detail))
            return -1;
        heap_set(&st->outbox_heap, &o->timer, now + d);
        stat_add(st, st->stats ? &st->stats->notify_retries : NULL, 1);
        return 0;
    }
    snprintf(text, sizeof(text), "gave up notifying %s by %s after %d attempt%s: %s", o->target,
             o->channel, o->attempts, o->attempts == 1 ? "" : "s", r->detail);
    log_warn("outbox: notification %lld to %s by %s is a dead letter: %s", (long long)o->id,
             o->target, o->channel, r->detail);
    if (store_outbox_update(st->store, o->id, "dead", o->attempts, 0, now, r->detail) ||
        timeline(st, o, now, "notification_dead", text, "dead", r->detail))
        return -1;
    stat_add(st, st->stats ? &st->stats->notify_dead : NULL, 1);
    outbox_drop(st, o);
    return 0;
}

/* Loads one dead row back as pending for CMD_OUTBOX_RETRY. */
static int load_one(void *ctx, const struct store_outbox_row *r)
{
    struct engine_state *st = ctx;
    json_t *payload = json_loads(r->payload, 0, NULL);
    if (!payload) {
        log_error("outbox: notification %lld has an unreadable payload; skipped", (long long)r->id);
        return 0;
    }
    char key[24];
    snprintf(key, sizeof(key), "%lld", (long long)r->id);
    if (!strmap_get(&st->outbox, key) && !outbox_add_rec(st, r, payload)) {
        json_decref(payload);
        return -1;
    }
    json_decref(payload);
    return 0;
}

int outbox_apply_retry(struct engine_state *st, struct engine_cmd *cmd, int64_t now)
{
    /* A dead letter gets a fresh set of attempts; it keeps its idempotency key. */
    if (store_outbox_requeue(st->store, cmd->object_id, now) < 0)
        return -1;
    int found = store_outbox_get_pending(st->store, cmd->object_id, load_one, st);
    if (found < 0)
        return -1;
    if (found == 0)
        cmd->status = ENGINE_ENOTFOUND;
    else
        cmd->changed = true;
    return 0;
}

int outbox_load(struct engine_state *st, char *err, size_t errlen)
{
    if (store_outbox_load_pending(st->store, load_one, st)) {
        snprintf(err, errlen, "loading the outbox: %s", store_errmsg(st->store));
        return -1;
    }
    return 0;
}

struct outbox_rec *outbox_take_due(struct engine_state *st, int64_t now)
{
    struct heap_node *n = heap_top(&st->outbox_heap);
    if (!n || n->key > now)
        return NULL;
    struct outbox_rec *o = (struct outbox_rec *)((char *)n - offsetof(struct outbox_rec, timer));
    heap_remove(&st->outbox_heap, n);
    o->inflight = true;
    o->attempts++;
    return o;
}

void outbox_untake(struct engine_state *st, struct outbox_rec *o, int64_t now)
{
    o->inflight = false;
    o->attempts--;
    heap_set(&st->outbox_heap, &o->timer, now + 1000);
}

void outbox_free(struct engine_state *st)
{
    for (size_t i = 0; i < st->outbox.cap; i++) {
        if (st->outbox.slots[i].hash)
            outbox_rec_free(st->outbox.slots[i].value);
    }
    strmap_free(&st->outbox);
    heap_free(&st->outbox_heap);
}
