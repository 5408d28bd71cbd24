/*
 * engine.c - the engine thread: a bounded command queue drained in batches,
 * each batch applied to the in-memory state and committed in one
 * transaction before any of its submitters is answered.
 *
 * This is the only place in the engine that reads the clock: every domain
 * function below it is handed `now`.
 */
#include "engine_int.h"

#include "../base/clock.h"
#include "../base/log.h"
#include "../notify/notify.h"
#include "../oncall/overrides.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const double engine_commit_bounds[11] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02,
                                         0.05,   0.1,   0.25,  0.5,   1.0};

struct engine {
    struct engine_state st; /* owned by the engine thread */
    struct engine_stats stats;
    struct store *store;      /* borrowed */
    const struct config *cfg; /* borrowed */
    pthread_t thread;
    pthread_mutex_t lock; /* guards the queue fields below */
    pthread_cond_t wake;
    struct engine_cmd *head, *tail;
    long long queued_events; /* events in the queue, for back-pressure */
    bool stopping;
    /* Results of deliveries, queued by the notifier thread (under lock). */
    struct notify_result *results; /* owned array */
    size_t n_results, cap_results;
    pthread_mutex_t notifier_lock; /* guards notifier against detaching mid-send */
    struct notifier *notifier;     /* borrowed; NULL until attached */
    struct engine_oncall oncall;   /* copy of what engine_start was given */
};

const char *engine_outcome_name(enum engine_outcome o)
{
    static const char *const names[] = {"created", "updated", "acknowledged", "resolved",
                                        "dropped"};
    return (unsigned)o < OUTCOME_COUNT ? names[o] : "dropped";
}

/* ---- loading the state from the store ---- */

static int load_incident(void *ctx, const struct store_open_incident *r)
{
    struct engine_state *st = ctx;
    struct incident_rec *inc = calloc(1, sizeof(*inc));
    if (!inc)
        return -1;
    inc->id = r->id;
    inc->group_key = strdup(r->group_key ? r->group_key : "");
    inc->route = strdup(r->route ? r->route : "root");
    inc->service = r->service ? strdup(r->service) : NULL;
    inc->status = strcmp(r->status, "acknowledged") == 0 ? INC_ACKNOWLEDGED : INC_TRIGGERED;
    inc->severity = (uint8_t)r->severity;
    inc->priority = (uint8_t)r->priority;
    inc->impact = (uint8_t)r->impact;
    inc->created_at = r->created_at;
    inc->last_alert_at = r->last_alert_at;
    inc->alert_count = r->alert_count;
    inc->open_alert_count = r->open_alert_count;
    heap_node_init(&inc->esc_timer);
    inc->title = strdup(r->title ? r->title : "");
    inc->esc_policy = r->esc_policy ? strdup(r->esc_policy) : NULL;
    inc->assignee = r->assignee ? strdup(r->assignee) : NULL;
    inc->esc_level = r->esc_level;
    inc->esc_round = r->esc_round;
    if (inc->status == INC_ACKNOWLEDGED && r->ack_expires_at) {
        inc->ack_expires_at = r->ack_expires_at;
        if (!st->ack_next_expiry || r->ack_expires_at < st->ack_next_expiry)
            st->ack_next_expiry = r->ack_expires_at;
    }
    if (!inc->group_key || !inc->route || (r->service && !inc->service) || !inc->title ||
        (r->esc_policy && !inc->esc_policy) || (r->assignee && !inc->assignee)) {
        incident_rec_free(inc);
        return -1;
    }
    snprintf(inc->idkey, sizeof(inc->idkey), "%lld", (long long)inc->id);
    if (strmap_put(&st->incidents, inc->idkey, inc) ||
        strmap_put(&st->groups, inc->group_key, inc)) {
        strmap_del(&st->incidents, inc->idkey);
        incident_rec_free(inc);
        return -1;
    }
    /* A level that came due while Tocsin was down fires at the first tick. */
    if (r->esc_policy && r->esc_next_at && inc->status == INC_TRIGGERED &&
        heap_set(&st->esc_heap, &inc->esc_timer, r->esc_next_at))
        return -1;
    return 0;
}

static int load_alert(void *ctx, const struct store_open_alert *r)
{
    struct engine_state *st = ctx;
    struct alert_rec *a = calloc(1, sizeof(*a));
    if (!a || !(a->key = make_alert_key(r->integration, r->dedup_key))) {
        free(a);
        return -1;
    }
    a->id = r->id;
    a->status = strcmp(r->status, "acknowledged") == 0 ? ALERT_ACKNOWLEDGED : ALERT_FIRING;
    a->severity = (uint8_t)r->severity;
    a->first_seen = r->first_seen;
    a->last_seen = r->last_seen;
    a->count = r->count;
    a->starts_at = r->starts_at;
    a->ends_at = r->ends_at;
    a->heap_idx = HEAP_NONE;
    a->n_incidents = (uint8_t)r->n_incidents;
    memcpy(a->incident_ids, r->incident_ids, sizeof(a->incident_ids));
    if (r->suppressed) {
        a->suppressed =
            strncmp(r->suppressed, "downtime ", 9) == 0 ? SUPPRESS_DOWNTIME : SUPPRESS_SENDER;
        if (a->suppressed == SUPPRESS_DOWNTIME) {
            /* What routing it needs once the downtime is over. */
            struct event *h = calloc(1, sizeof(*h));
            json_t *lj = r->labels ? json_loads(r->labels, 0, NULL) : NULL;
            char lerr[128];
            if (h) {
                h->severity = (enum severity)r->severity;
                h->dedup_key = strdup(r->dedup_key);
                h->summary = r->summary ? strdup(r->summary) : NULL;
                if (lj)
                    labels_from_json(lj, &h->labels, lerr, sizeof(lerr));
            }
            json_decref(lj);
            if (!h || !h->dedup_key) {
                if (h)
                    event_clear(h);
                free(h);
                alert_rec_free(a);
                return -1;
            }
            a->held = h;
        }
    }
    /* Rows come in id order, so a second open alert for one key is newer.
     * The engine never writes one; if a database holds one anyway, say so
     * and let the newest carry the key (the older stays visible in the API). */
    struct alert_rec *old = strmap_get(&st->alerts, a->key);
    if (old) {
        log_error("store: alerts %lld and %lld are both open for one dedup key; new events go to "
                  "%lld",
                  (long long)old->id, (long long)a->id, (long long)a->id);
        old->ends_at = 0;
        alert_heap_update(st, old); /* takes it out of the expiry heap */
        strmap_del(&st->alerts, old->key);
        alert_rec_free(old);
    }
    if (strmap_put(&st->alerts, a->key, a)) {
        alert_rec_free(a);
        return -1;
    }
    if (a->suppressed == SUPPRESS_DOWNTIME)
        st->n_dt_suppressed++;
    alert_heap_update(st, a);
    return 0;
}

int engine_state_load(struct engine_state *st, const struct config *cfg, struct store *store,
                      char *err, size_t errlen)
{
    memset(st, 0, sizeof(*st));
    st->cfg = cfg;
    st->store = store;
    if (store_load_open(store, load_alert, load_incident, st)) {
        snprintf(err, errlen, "loading open alerts and incidents: %s", store_errmsg(store));
        engine_state_free(st);
        return -1;
    }
    if (downtime_load(st, err, errlen) || outbox_load(st, err, errlen)) {
        engine_state_free(st);
        return -1;
    }
    return 0;
}

static int load_recent(void *ctx, const char *integration, const char *dedup_key, int64_t starts_at,
                       int64_t resolved_at)
{
    char *key = make_alert_key(integration, dedup_key);
    if (!key)
        return -1;
    alert_remember_resolved(ctx, key, starts_at, resolved_at);
    free(key);
    return 0;
}

int engine_state_load_recent(struct engine_state *st, int64_t now)
{
    return store_load_recent_resolved(st->store, now - 3600000, load_recent, st);
}

void engine_state_free(struct engine_state *st)
{
    for (size_t i = 0; i < st->alerts.cap; i++)
        if (st->alerts.slots[i].hash)
            alert_rec_free(st->alerts.slots[i].value);
    for (size_t i = 0; i < st->incidents.cap; i++)
        if (st->incidents.slots[i].hash)
            incident_rec_free(st->incidents.slots[i].value);
    for (size_t i = 0; i < st->recent.cap; i++) {
        if (st->recent.slots[i].hash) {
            struct recent_rec *r = st->recent.slots[i].value;
            free(r->key);
            free(r);
        }
    }
    strmap_free(&st->alerts);
    strmap_free(&st->incidents);
    strmap_free(&st->groups);
    strmap_free(&st->recent);
    escalation_free(st);
    outbox_free(st);
    free(st->heap);
    st->heap = NULL;
    st->heap_len = st->heap_cap = 0;
    st->dirty_alerts = NULL;
    st->dirty_incidents = NULL;
    st->n_dt_suppressed = 0;
    downtime_free_all(st);
}

/* ---- check reports ---- */

const struct cfg_integration engine_checks_integration = {
    .name = "checks",
    .type = INTEGRATION_GENERIC,
    .default_severity = SEV_CRITICAL,
};

const struct cfg_integration engine_rules_integration = {
    .name = "rules",
    .type = INTEGRATION_GENERIC,
    .default_severity = SEV_WARNING,
};

/* Adds a note to the incidents of the open check alert with dedup key. */
static int engine_check_note(struct engine_state *st, const char *dedup_key, const char *note,
                             int64_t now)
{
    char *key = make_alert_key(engine_checks_integration.name, dedup_key);
    struct alert_rec *a = key ? strmap_get(&st->alerts, key) : NULL;
    int rc = 0;
    free(key);
    for (int i = 0; a && rc == 0 && i < a->n_incidents; i++) {
        struct incident_rec *inc = incident_find(st, a->incident_ids[i]);
        if (!inc)
            continue;
        if (incident_flush_joins(st, inc, now) ||
            store_timeline_add(st->store, inc->id, now, "check_note", "checks", note, NULL) < 0)
            rc = -1;
    }
    return rc;
}

static int engine_apply_reports(struct engine_state *st, struct engine_cmd *cmd, int64_t now)
{
    for (size_t i = 0; i < cmd->n_reports; i++) {
        struct check_report *r = &cmd->reports[i];
        if (r->has_row) {
            bool in_dt = r->history && downtime_covering(st, r->labels, now) != NULL;
            if (store_check_put(st->store, &r->row, r->history, r->hard_change, in_dt, now))
                return -1;
        }
        if (r->has_hb && store_heartbeat_put(st->store, &r->hb, r->hb_ping, now))
            return -1;
        if (r->note && r->note_key && engine_check_note(st, r->note_key, r->note, now))
            return -1;
        if (r->has_event) {
            struct engine_event_result res;
            if (alert_apply_event(st, &engine_checks_integration, &r->ev, &res, now))
                return -1;
            r->outcome = res.outcome;
        }
    }
    return 0;
}

/* ---- applying commands ---- */

static size_t integration_index(const struct config *cfg, const struct cfg_integration *integ)
{
    size_t n = cfg->n_integrations < ENGINE_MAX_INTEGRATIONS ? cfg->n_integrations
                                                             : ENGINE_MAX_INTEGRATIONS;
    if (integ >= cfg->integrations && integ < cfg->integrations + n)
        return (size_t)(integ - cfg->integrations);
    if (integ == &engine_checks_integration)
        return ENGINE_MAX_INTEGRATIONS + 1;
    if (integ == &engine_rules_integration)
        return ENGINE_MAX_INTEGRATIONS + 2;
    return ENGINE_MAX_INTEGRATIONS; /* the "other" row */
}

/* Overrides live in the store and in the shared set the HTTP handlers and
 * escalation read; a failed batch reloads the set from the store. */
static int engine_apply_override(struct engine_state *st, struct engine_cmd *cmd, int64_t now)
{
    struct overrides *ov = st->oncall ? st->oncall->overrides : NULL;
    if (cmd->kind == CMD_OVERRIDE_ADD) {
        json_t *after = json_pack("{ss ss sI sI}", "schedule", cmd->schedule, "user", cmd->user,
                                  "start", (json_int_t)cmd->start, "end", (json_int_t)cmd->end);
        cmd->out_id = store_override_insert(st->store, cmd->schedule, cmd->user, cmd->start,
                                            cmd->end, now, cmd->actor);
        int rc = cmd->out_id < 0 || store_audit_add(st->store, now, cmd->actor, "override.created",
                                                    "override", cmd->out_id, NULL, after);
        json_decref(after);
        if (rc)
            return -1;
        if (ov && overrides_add(ov, cmd->out_id, cmd->schedule, cmd->user, cmd->start, cmd->end,
                                cmd->actor))
            return -1;
        cmd->changed = true;
        return 0;
    }
    int found = store_override_delete(st->store, cmd->object_id, now, cmd->actor);
    if (found < 0 || (found && store_audit_add(st->store, now, cmd->actor, "override.deleted",
                                               "override", cmd->object_id, NULL, NULL)))
        return -1;
    if (!found) {
        cmd->status = ENGINE_ENOTFOUND;
        return 0;
    }
    if (ov)
        overrides_remove(ov, cmd->object_id);
    cmd->changed = true;
    return 0;
}

static int load_override(void *ctx, int64_t id, const char *schedule, const char *user,
                         int64_t start, int64_t end, const char *created_by)
{
    return overrides_add(ctx, id, schedule, user, start, end, created_by);
}

/* Fills the shared override set from the store (at start, and after a
 * failed batch whose overrides were never committed). */
static int engine_load_overrides(struct engine *e, int64_t now)
{
    if (!e->oncall.overrides)
        return 0;
    overrides_clear(e->oncall.overrides);
    /* Old ones matter only for shifts in the past; a year is plenty. */
    return store_override_load(e->store, now - 366LL * 86400000, load_override,
                               e->oncall.overrides);
}

int engine_apply(struct engine_state *st, struct engine_cmd *cmd, int64_t now)
{
    cmd->status = ENGINE_OK;
    switch (cmd->kind) {
    case CMD_EVENTS:
        if (cmd->raw &&
            store_intake_log(st->store, now, cmd->integ->name, cmd->format, cmd->raw, cmd->raw_len))
            return -1;
        for (size_t i = 0; i < cmd->n_events; i++) {
            if (alert_apply_event(st, cmd->integ, &cmd->events[i], &cmd->results[i], now))
                return -1;
        }
        return 0;
    case CMD_CHANGE: {
        const struct change_event *ch = cmd->change;
        json_t *after = json_pack("{ss ss*}", "summary", ch->summary, "source", ch->source);
        cmd->out_id =
            store_change_insert(st->store, now, cmd->integ->name, ch->summary, ch->source,
                                ch->timestamp_ms ? ch->timestamp_ms : now, ch->details, ch->links);
        int rc = cmd->out_id < 0;
        if (!rc) {
            char actor[160];
            snprintf(actor, sizeof(actor), "integration:%s", cmd->integ->name);
            rc = store_audit_add(st->store, now, actor, "change.created", "change", cmd->out_id,
                                 NULL, after) != 0;
        }
        json_decref(after);
        return rc ? -1 : 0;
    }
    case CMD_INCIDENT_ACK:
    case CMD_INCIDENT_RESOLVE:
    case CMD_INCIDENT_NOTE:
        return incident_apply_cmd(st, cmd, now);
    case CMD_CHECK_REPORTS:
        return engine_apply_reports(st, cmd, now);
    case CMD_DOWNTIME_ADD:
    case CMD_DOWNTIME_DELETE:
        return downtime_apply_cmd(st, cmd, now);
    case CMD_INCIDENT_ESCALATE:
    case CMD_INCIDENT_ASSIGN:
        return escalation_apply_cmd(st, cmd, now);
    case CMD_OVERRIDE_ADD:
    case CMD_OVERRIDE_DELETE:
        return engine_apply_override(st, cmd, now);
    case CMD_OUTBOX_RETRY:
        return outbox_apply_retry(st, cmd, now);
    case CMD_RELOAD: {
        char err[256];
        st->cfg = cmd->new_cfg;
        if (downtime_load(st, err, sizeof(err))) {
            log_error("engine: reload: %s", err);
            return -1;
        }
        return 0;
    }
    }
    return 0;
}

/* ---- the thread ---- */

static void count_outcomes(struct engine *e, struct engine_cmd *cmd)
{
    if (cmd->kind == CMD_CHECK_REPORTS) {
        for (size_t i = 0; i < cmd->n_reports; i++) {
            if (cmd->reports[i].has_event)
                atomic_fetch_add_explicit(
                    &e->stats.outcomes[(ENGINE_MAX_INTEGRATIONS + 1) * OUTCOME_COUNT +
                                       cmd->reports[i].outcome],
                    1, memory_order_relaxed);
        }
        return;
    }
    if (cmd->kind != CMD_EVENTS || !e->stats.outcomes)
        return;
    size_t row = integration_index(e->cfg, cmd->integ);
    for (size_t i = 0; i < cmd->n_events; i++)
        atomic_fetch_add_explicit(&e->stats.outcomes[row * OUTCOME_COUNT + cmd->results[i].outcome],
                                  1, memory_order_relaxed);
}

static void observe_commit(struct engine *e, int64_t us)
{
    double secs = (double)us / 1e6;
    int b = 0;
    while (b < 11 && secs > engine_commit_bounds[b])
        b++;
    atomic_fetch_add_explicit(&e->stats.commit_buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->stats.commit_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->stats.commit_sum_us, us, memory_order_relaxed);
}

/* Hands the notifications that are due to the notifier, after the commit
 * that made them durable. */
static void engine_dispatch(struct engine *e, int64_t now)
{
    struct outbox_rec *o;
    pthread_mutex_lock(&e->notifier_lock);
    if (!e->notifier) {
        pthread_mutex_unlock(&e->notifier_lock);
        return;
    }
    while ((o = outbox_take_due(&e->st, now))) {
        struct notify_msg *m = calloc(1, sizeof(*m));
        const struct cfg_channel *ch = config_find_channel(e->cfg, o->channel);
        if (m) {
            m->id = o->id;
            m->attempt = o->attempts;
            m->ch = ch;
            m->to = o->address ? strdup(o->address) : NULL;
            m->idem_key = strdup(o->idem_key);
            m->payload = json_incref(o->payload);
        }
        if (!m || !m->idem_key || (o->address && !m->to)) {
            if (m)
                notify_msg_free(m);
            outbox_untake(&e->st, o, now);
            break;
        }
        if (!ch) {
            /* The channel went away with a reload: a permanent failure,
             * recorded like any other in the next batch. */
            struct notify_result r = {
                .id = o->id, .attempt = o->attempts, .outcome = NOTIFY_FAILED};
            snprintf(r.detail, sizeof(r.detail), "channel %s is no longer configured", o->channel);
            notify_msg_free(m);
            engine_notify_result(&r, e);
            continue;
        }
        if (notifier_send(e->notifier, m)) {
            outbox_untake(&e->st, o, now);
            break;
        }
        atomic_fetch_add_explicit(&e->stats.notify_sent, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&e->notifier_lock);
}

void engine_notify_result(const struct notify_result *r, void *arg)
{
    struct engine *e = arg;
    pthread_mutex_lock(&e->lock);
    if (e->n_results == e->cap_results) {
        size_t ncap = e->cap_results ? e->cap_results * 2 : 64;
        struct notify_result *nr = realloc(e->results, ncap * sizeof(*nr));
        if (!nr) {
            /* The row stays pending in the store and is sent again after a
             * restart; the idempotency key lets the receiver drop the repeat. */
            pthread_mutex_unlock(&e->lock);
            log_error("engine: out of memory recording notification %lld", (long long)r->id);
            return;
        }
        e->results = nr;
        e->cap_results = ncap;
    }
    e->results[e->n_results++] = *r;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->lock);
}

void engine_set_public_url(struct engine *e, const char *url)
{
    atomic_store(&e->oncall.public_url, url);
}

void engine_attach_notifier(struct engine *e, struct notifier *n)
{
    pthread_mutex_lock(&e->notifier_lock);
    e->notifier = n;
    pthread_mutex_unlock(&e->notifier_lock);
    /* Wake the thread so that what is due goes out now. */
    pthread_mutex_lock(&e->lock);
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->lock);
}

/* Applies and commits one batch; on failure the batch is rolled back, every
 * command in it fails, and the state is rebuilt from what the store holds. */
static void run_batch(struct engine *e, struct engine_cmd *batch, int64_t now)
{
    int64_t t0 = clock_mono_us();
    int rc = store_begin(e->store);
    struct notify_result *results;
    size_t n_results;

    pthread_mutex_lock(&e->lock);
    results = e->results;
    n_results = e->n_results;
    e->results = NULL;
    e->n_results = e->cap_results = 0;
    pthread_mutex_unlock(&e->lock);

    for (size_t i = 0; rc == 0 && i < n_results; i++)
        rc = outbox_apply_result(&e->st, &results[i], now);
    for (struct engine_cmd *c = batch; rc == 0 && c; c = c->next)
        rc = engine_apply(&e->st, c, now);
    if (rc == 0)
        rc = engine_tick(&e->st, now);
    if (rc == 0)
        rc = engine_flush(&e->st);
    if (rc == 0)
        rc = store_commit(e->store);
    if (rc != 0) {
        char err[512] = "";
        log_error("engine: batch failed, nothing of it was stored: %s", store_errmsg(e->store));
        store_rollback(e->store);
        atomic_fetch_add(&e->stats.store_errors, 1);
        engine_state_free(&e->st);
        if (engine_state_load(&e->st, e->cfg, e->store, err, sizeof(err)) ||
            engine_state_load_recent(&e->st, now) || engine_load_overrides(e, now))
            log_error("engine: rebuilding state after the failed batch: %s", err);
        e->st.stats = &e->stats;
        e->st.oncall = &e->oncall;
        /* The results were not recorded; the rows are pending again in the
         * reloaded outbox and go out again with their idempotency keys. */
        atomic_store(&e->stats.alerts_open, (long long)e->st.alerts.len);
        atomic_store(&e->stats.incidents_open, (long long)e->st.incidents.len);
        for (struct engine_cmd *c = batch; c; c = c->next)
            c->status = ENGINE_ESTORE;
    }
    free(results);
    observe_commit(e, clock_mono_us() - t0);
    atomic_fetch_add(&e->stats.batches, 1);
    if (rc == 0)
        engine_dispatch(e, now);
    for (struct engine_cmd *c = batch, *next; c; c = next) {
        next = c->next;
        if (c->status == ENGINE_OK)
            count_outcomes(e, c);
        if (c->kind == CMD_RELOAD && c->status == ENGINE_OK)
            e->cfg = c->new_cfg;
        if (c->on_done)
            c->on_done(c, c->on_done_arg);
        else
            sem_post(&c->done);
    }
}

static void *engine_main(void *arg)
{
    struct engine *e = arg;
    /* Named so that top -H and perf show which thread is the engine. */
    pthread_setname_np(pthread_self(), "tocsin-engine");
    for (;;) {
        struct engine_cmd *batch;
        int64_t now = clock_now_ms();
        int64_t due = engine_next_due(&e->st, now);

        pthread_mutex_lock(&e->lock);
        while (!e->head && !e->n_results && !e->stopping) {
            struct timespec ts;
            int64_t wait_ms = (due < 0 || due > 1000) ? 1000 : due;
            if (due == 0)
                break;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += wait_ms / 1000;
            ts.tv_nsec += (wait_ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            if (pthread_cond_timedwait(&e->wake, &e->lock, &ts) == ETIMEDOUT)
                break;
        }
        bool have_results = e->n_results > 0;
        batch = e->head;
        e->head = e->tail = NULL;
        e->queued_events = 0;
        atomic_store(&e->stats.queue_events, 0);
        bool stop = e->stopping && !batch;
        pthread_mutex_unlock(&e->lock);
        if (stop)
            break;
        now = clock_now_ms();
        if (batch || have_results || engine_next_due(&e->st, now) == 0)
            run_batch(e, batch, now);
    }
    return NULL;
}

struct engine *engine_start(const struct config *cfg, struct store *store,
                            const struct engine_oncall *oc, char *err, size_t errlen)
{
    struct engine *e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->cfg = cfg;
    e->store = store;
    if (oc) {
        e->oncall.overrides = oc->overrides;
        memcpy(e->oncall.link_key, oc->link_key, sizeof(e->oncall.link_key));
        e->oncall.has_link_key = oc->has_link_key;
        atomic_store(&e->oncall.public_url, atomic_load(&oc->public_url));
    }
    if (engine_load_overrides(e, clock_now_ms())) {
        snprintf(err, errlen, "loading schedule overrides: %s", store_errmsg(store));
        free(e);
        return NULL;
    }
    e->stats.outcomes = calloc((ENGINE_MAX_INTEGRATIONS + 3) * OUTCOME_COUNT, sizeof(atomic_llong));
    if (!e->stats.outcomes || engine_state_load(&e->st, cfg, store, err, errlen)) {
        free(e->stats.outcomes);
        free(e);
        return NULL;
    }
    if (engine_state_load_recent(&e->st, clock_now_ms())) {
        snprintf(err, errlen, "loading recently resolved alerts: %s", store_errmsg(store));
        engine_state_free(&e->st);
        free(e->stats.outcomes);
        free(e);
        return NULL;
    }
    e->st.stats = &e->stats;
    e->st.oncall = &e->oncall;
    atomic_store(&e->stats.alerts_open, (long long)e->st.alerts.len);
    atomic_store(&e->stats.incidents_open, (long long)e->st.incidents.len);
    atomic_store(&e->stats.notify_pending, (long long)e->st.outbox.len);
    pthread_mutex_init(&e->lock, NULL);
    pthread_mutex_init(&e->notifier_lock, NULL);
    pthread_cond_init(&e->wake, NULL);
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        snprintf(err, errlen, "cannot start the engine thread");
        engine_state_free(&e->st);
        free(e->stats.outcomes);
        free(e);
        return NULL;
    }
    log_info("engine: started with %zu open alerts and %zu open incidents", e->st.alerts.len,
             e->st.incidents.len);
    return e;
}

/* Queues cmd; returns ENGINE_OK, or a refusal (nothing was queued). */
static enum engine_status engine_enqueue(struct engine *e, struct engine_cmd *cmd)
{
    long long weight = cmd->kind == CMD_EVENTS          ? (long long)cmd->n_events
                       : cmd->kind == CMD_CHECK_REPORTS ? (long long)cmd->n_reports
                                                        : 1;
    cmd->next = NULL;
    cmd->status = ENGINE_OK;
    pthread_mutex_lock(&e->lock);
    if (e->stopping) {
        pthread_mutex_unlock(&e->lock);
        return cmd->status = ENGINE_ESHUTDOWN;
    }
    /* Back-pressure: refuse rather than queue without bound. A lone command
     * is always taken so that an oversized batch cannot be refused forever. */
    if (e->queued_events > 0 && e->queued_events + weight > (long long)e->cfg->queue_limit) {
        pthread_mutex_unlock(&e->lock);
        return cmd->status = ENGINE_EBUSY;
    }
    if (e->tail)
        e->tail->next = cmd;
    else
        e->head = cmd;
    e->tail = cmd;
    e->queued_events += weight;
    atomic_store(&e->stats.queue_events, e->queued_events);
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->lock);
    return ENGINE_OK;
}

enum engine_status engine_submit(struct engine *e, struct engine_cmd *cmd)
{
    enum engine_status st;
    cmd->on_done = NULL;
    sem_init(&cmd->done, 0, 0);
    st = engine_enqueue(e, cmd);
    if (st != ENGINE_OK) {
        sem_destroy(&cmd->done);
        return st;
    }
    while (sem_wait(&cmd->done) != 0 && errno == EINTR)
        ;
    sem_destroy(&cmd->done);
    return cmd->status;
}

enum engine_status engine_submit_async(struct engine *e, struct engine_cmd *cmd,
                                       void (*on_done)(struct engine_cmd *, void *), void *arg)
{
    cmd->on_done = on_done;
    cmd->on_done_arg = arg;
    return engine_enqueue(e, cmd);
}

void engine_stop(struct engine *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->lock);
    e->stopping = true;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->lock);
    pthread_join(e->thread, NULL);
    engine_state_free(&e->st);
    pthread_mutex_destroy(&e->lock);
    pthread_mutex_destroy(&e->notifier_lock);
    pthread_cond_destroy(&e->wake);
    free(e->results);
    free(e->stats.outcomes);
    free(e);
}

const struct engine_stats *engine_get_stats(const struct engine *e)
{
    return &e->stats;
}
