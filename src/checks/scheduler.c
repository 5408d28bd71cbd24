/*
 * scheduler.c - the check scheduler thread (see checks.h).
 *
 * Three min-heaps hold what is due: plugin checks, native probes, and timers
 * (passive freshness and heartbeats). Plugins and probes have separate heaps
 * and separate concurrency limits, so a wall of slow plugins never delays a
 * probe. A check's first run is placed at a stable point of its interval
 * derived from its id, which spreads thousands of checks evenly at start and
 * keeps every surviving check's rhythm across a reload.
 *
 * One thread does all of it: it waits on one epoll set holding the runner's
 * and the probe set's descriptors, an eventfd for commands from HTTP
 * handlers, and an eventfd the engine rings when a report batch is durable.
 */
#include "checks_int.h"

#include "../base/clock.h"
#include "../base/log.h"
#include "../base/strmap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

extern char **environ;

/* ---- heaps ---- */

static void checks_heap_remove(struct checks *c, struct sched_item *it)
{
    if (it->node.idx != HEAP_NOT_IN)
        heap_remove(&c->heaps[it->heap], &it->node);
}

/* Puts it into heap `which` at `due` (moving it if it is in one already). */
static int checks_heap_put(struct checks *c, int which, struct sched_item *it, int64_t due)
{
    if (it->node.idx != HEAP_NOT_IN && it->heap != which)
        checks_heap_remove(c, it);
    it->heap = (uint8_t)which;
    return heap_set(&c->heaps[which], &it->node, due);
}

static struct sched_item *checks_heap_top(struct checks *c, int which)
{
    /* The node is the item's first member. */
    return (struct sched_item *)heap_top(&c->heaps[which]);
}

/* ---- building the runtime records ---- */

/* A stable point in [0, interval) for id. */
static int64_t checks_offset(const char *id, int64_t interval)
{
    return interval > 0 ? (int64_t)(strmap_hash(id) % (uint64_t)interval) : 0;
}

static int checks_heap_of(const struct cfg_check *def)
{
    switch (def->type) {
    case CHECK_TYPE_COMMAND:
        return HEAP_CMD;
    case CHECK_TYPE_TCP:
    case CHECK_TYPE_HTTP:
        return HEAP_PROBE;
    case CHECK_TYPE_PASSIVE:
        break;
    }
    return HEAP_TIMER;
}

static void checks_rt_free(struct check_rt *rt)
{
    if (!rt)
        return;
    checks_rt_free_deps(rt);
    runner_argv_free(rt->argv);
    free(rt->envp);
    free(rt->output);
    free(rt->unreach);
    free(rt->root_key);
    free(rt->id);
    free(rt);
}

/* Sets what comes from the definition: policy, argv, environment. */
static int checks_rt_define(struct check_rt *rt, const struct cfg_check *def)
{
    rt->def = def;
    rt->pol.max_attempts = def->max_attempts > 0 ? def->max_attempts : 1;
    rt->pol.flap_detection = def->flap_detection;
    rt->pol.flap_low = def->flap_low;
    rt->pol.flap_high = def->flap_high;
    runner_argv_free(rt->argv);
    rt->argv = NULL;
    free(rt->envp);
    rt->envp = NULL;
    if (def->type == CHECK_TYPE_COMMAND && def->command) {
        char **argv = NULL;
        if (runner_split(def->command, &argv) == 1)
            rt->argv = argv;
    }
    if (def->env && def->env[0]) {
        size_t ne = 0, nx = 0;
        while (environ && environ[ne])
            ne++;
        while (def->env[nx])
            nx++;
        rt->envp = malloc((ne + nx + 1) * sizeof(*rt->envp));
        if (!rt->envp)
            return -1;
        memcpy(rt->envp, def->env, nx * sizeof(char *));
        if (ne)
            memcpy(rt->envp + nx, environ, ne * sizeof(char *));
        rt->envp[ne + nx] = NULL;
    }
    return 0;
}

/*
 * Applies one result to a check: state machine, history, reachability of
 * its dependents, the alert. Called with c->lock held. w (may be NULL) is
 * told once the reports are durable. always_store writes the state row even
 * when nothing changed (passive results are acknowledged as stored).
 */
static int checks_apply(struct checks *c, struct check_rt *rt, int status, const char *out,
                        size_t out_len, int64_t now, struct waiter *w, bool always_store)
{
    struct check_transition tr;
    struct check_report *r = NULL;
    int rc = 0;

    if (status < 0 || status > 3)
        status = CHECK_UNKNOWN;
    if (out_len > MAX_OUTPUT_KEPT - 1)
        out_len = MAX_OUTPUT_KEPT - 1;
    if (rt->output_cap < out_len + 1) {
        size_t ncap = out_len + 1 < 256 ? 256 : out_len + 1;
        char *nb = realloc(rt->output, ncap);
        if (!nb)
            return -1;
        rt->output = nb;
        rt->output_cap = ncap;
    }
    memcpy(rt->output, out, out_len);
    rt->output[out_len] = '\0';
    rt->last_result_ms = now;
    atomic_fetch_add_explicit(&c->stats.results[status], 1, memory_order_relaxed);
    if (c->on_result)
        c->on_result(c->on_result_ctx, rt->def, status, rt->output, out_len, now);

    check_state_apply(&rt->st, &rt->pol, status, now, &tr);
    if (tr.changed || tr.flap_started || tr.flap_stopped || always_store) {
        if (!(r = checks_batch_add(c)))
            return -1;
        checks_row(c, r, rt, tr.changed, tr.hard_changed);
    }
    if (tr.flap_started || tr.flap_stopped) {
        char note[256];
        snprintf(note, sizeof(note),
                 tr.flap_started
                     ? "%s started flapping (%.1f%% state change): notifications are held"
                     : "%s stopped flapping (%.1f%% state change): sending its current state",
                 rt->id, rt->st.flap_percent);
        r->note = checks_batch_own(c->pending, strdup(note));
        r->note_key = checks_batch_own(c->pending, strdup(rt->id));
    }
    if (tr.hard_changed || tr.flap_stopped || !rt->sent_known) {
        if (tr.hard_changed && rt->def->is_host)
            checks_judge_reach(rt);
        /* A report carries one event: the state row and the event share it. */
        if (r && r->has_event)
            r = NULL;
        rc = checks_reconcile(c, rt, now, r);
    }
    if (rc == 0 && tr.hard_changed)
        rc = checks_propagate(c, rt, now, 0);
    if (rc == 0 && w &&
        checks_batch_wait(c->pending ? c->pending : (c->pending = checks_batch_new()), w))
        rc = -1;
    return rc;
}

/* ---- running checks ---- */

static void checks_schedule_next(struct checks *c, struct check_rt *rt, int64_t now)
{
    const struct cfg_check *def = rt->def;
    int which = checks_heap_of(def);
    int64_t next;
    if (def->type == CHECK_TYPE_PASSIVE) {
        if (def->freshness_ms <= 0) {
            checks_heap_remove(c, &rt->item);
            return;
        }
        next = (rt->last_result_ms ? rt->last_result_ms : now) + def->freshness_ms;
    } else if (rt->st.state != CHECK_OK && rt->st.state_type == STATE_SOFT) {
        next = now + (def->retry_interval_ms > 0 ? def->retry_interval_ms : def->interval_ms);
    } else {
        /* Stay on the grid the first run chose, so checks stay spread; when
         * saturated, the grid point has passed and the check runs next. */
        next = rt->item.node.key + def->interval_ms;
        if (next < now)
            next = now;
    }
    checks_heap_put(c, which, &rt->item, next);
}

static void checks_runner_done(void *ctx, const struct runner_result *res)
{
    struct checks *c = ctx;
    struct check_rt *rt = res->tag;
    int64_t now = clock_now_ms();
    char buf[512];
    const char *out = res->output;
    size_t len = res->output_len;
    int status;

    switch (res->end) {
    case RUNNER_EXITED:
        status = res->exit_code;
        if (status < 0 || status > 3) {
            /* The plugin contract: anything else is UNKNOWN. Say why. */
            snprintf(buf, sizeof(buf), "UNKNOWN: plugin exited with code %d: %.*s", res->exit_code,
                     (int)checks_first_line(out, 300), out ? out : "");
            out = buf;
            len = strlen(buf);
            status = CHECK_UNKNOWN;
        }
        break;
    case RUNNER_SIGNALED:
        snprintf(buf, sizeof(buf), "UNKNOWN: plugin killed by signal %d", res->term_signal);
        out = buf;
        len = strlen(buf);
        status = CHECK_UNKNOWN;
        break;
    case RUNNER_TIMED_OUT:
        snprintf(buf, sizeof(buf), "UNKNOWN: timed out after %lld s",
                 (long long)((rt->def->timeout_ms + 999) / 1000));
        out = buf;
        len = strlen(buf);
        status = CHECK_UNKNOWN;
        break;
    default:
        snprintf(buf, sizeof(buf), "UNKNOWN: cannot run %s: %s", rt->argv ? rt->argv[0] : "/bin/sh",
                 res->spawn_errno == ENOENT   ? "no such file"
                 : res->spawn_errno == EACCES ? "not executable (permission denied)"
                                              : strerror(res->spawn_errno));
        out = buf;
        len = strlen(buf);
        status = CHECK_UNKNOWN;
        break;
    }
    rt->running = false;
    rt->last_exec_ms = res->exec_ms;
    checks_observe(c->stats.exec, &c->stats.exec_sum_us, res->exec_ms);
    atomic_fetch_add_explicit(&c->stats.completed, 1, memory_order_relaxed);
    if (rt->orphan)
        return;
    pthread_mutex_lock(&c->lock);
    if (checks_apply(c, rt, status, out ? out : "", out ? len : 0, now, NULL, false))
        log_error("checks: out of memory applying a result of %s", rt->id);
    checks_schedule_next(c, rt, now);
    pthread_mutex_unlock(&c->lock);
}

static void checks_probe_done(void *ctx, const struct probe_result *res)
{
    struct checks *c = ctx;
    struct check_rt *rt = res->tag;
    int64_t now = clock_now_ms();
    rt->running = false;
    rt->last_exec_ms = res->exec_ms;
    checks_observe(c->stats.exec, &c->stats.exec_sum_us, res->exec_ms);
    atomic_fetch_add_explicit(&c->stats.completed, 1, memory_order_relaxed);
    if (rt->orphan)
        return;
    pthread_mutex_lock(&c->lock);
    if (checks_apply(c, rt, res->state, res->output ? res->output : "", res->output_len, now, NULL,
                     false))
        log_error("checks: out of memory applying a result of %s", rt->id);
    checks_schedule_next(c, rt, now);
    pthread_mutex_unlock(&c->lock);
}

static int checks_start_one(struct checks *c, struct check_rt *rt, int64_t now)
{
    const struct cfg_check *def = rt->def;
    int rc;
    if (def->type == CHECK_TYPE_COMMAND) {
        if (rt->argv)
            rc = runner_start(c->runner, rt->argv, rt->envp, def->timeout_ms, rt, now);
        else
            rc = runner_start_command(c->runner, def->command, rt->envp, def->timeout_ms, rt, now);
    } else if (def->type == CHECK_TYPE_TCP) {
        struct probe_tcp_spec s = {
            .host = def->address,
            .port = def->port,
            .send = def->send,
            .expect = def->expect,
            .timeout_ms = def->timeout_ms,
            .warn_s = def->warn_time_s,
            .crit_s = def->crit_time_s,
        };
        rc = probe_start_tcp(c->probes, &s, rt, now);
    } else {
        struct probe_http_spec s = {
            .url = def->url,
            .method = def->method,
            .expect_status = def->expect_status,
            .body_regex = def->expect_body,
            .verify_tls = def->verify_tls,
            .cert_warn_days = def->cert_warn_days,
            .cert_crit_days = def->cert_crit_days,
            .timeout_ms = def->timeout_ms,
            .warn_s = def->warn_time_s,
            .crit_s = def->crit_time_s,
        };
        rc = probe_start_http(c->probes, &s, rt, now);
    }
    if (rc != 0)
        return -1;
    rt->running = true;
    rt->last_latency_ms = now > rt->item.node.key ? now - rt->item.node.key : 0;
    checks_observe(c->stats.latency, &c->stats.latency_sum_us, rt->last_latency_ms);
    atomic_fetch_add_explicit(&c->stats.run[def->type], 1, memory_order_relaxed);
    return 0;
}

/*
 * How early a check may start. When the thread is awake anyway, a check due
 * within this much is started at once, so that checks due close together
 * share one wakeup instead of one each (timer coalescing, like the kernel's
 * timer slack). A 64th of the check's shortest interval, at most
 * CHECKS_EARLY_MS: a check stays on its grid and never runs noticeably more
 * often than configured, and its latency counts as zero.
 */
#define CHECKS_EARLY_MS 20
static int64_t checks_early(const struct check_rt *rt)
{
    int64_t iv = rt->def->interval_ms;
    if (rt->def->retry_interval_ms > 0 && rt->def->retry_interval_ms < iv)
        iv = rt->def->retry_interval_ms;
    iv /= 64;
    return iv < CHECKS_EARLY_MS ? iv : CHECKS_EARLY_MS;
}

/* Starts what is due in one heap while slots are free. */
static void checks_run_due(struct checks *c, int which, size_t limit, int64_t now)
{
    struct sched_item *it;
    size_t active = which == HEAP_CMD ? runner_active(c->runner) : probe_active(c->probes);
    while (active < limit && (it = checks_heap_top(c, which)) &&
           it->node.key <= now + checks_early((struct check_rt *)it)) {
        struct check_rt *rt = (struct check_rt *)it;
        checks_heap_remove(c, it);
        if (rt->running)
            continue; /* rescheduled when the run ends */
        if (checks_start_one(c, rt, now) != 0) {
            /* Out of descriptors or processes: try again shortly. */
            atomic_fetch_add(&c->stats.spawn_retries, 1);
            checks_heap_put(c, which, it, now + 100);
            return;
        }
        active++;
    }
}

static void checks_hb_judge(struct checks *c, struct hb_rt *hb, int64_t now, const char *ping,
                            struct waiter *w);

/* Timers: passive checks gone stale, heartbeats due for judgement. */
static void checks_run_timers(struct checks *c, int64_t now)
{
    struct sched_item *it;
    while ((it = checks_heap_top(c, HEAP_TIMER)) && it->node.key <= now) {
        checks_heap_remove(c, it);
        pthread_mutex_lock(&c->lock);
        if (it->kind == ITEM_CHECK) {
            struct check_rt *rt = (struct check_rt *)it;
            char out[300];
            int64_t age = (now - (rt->last_result_ms ? rt->last_result_ms : now)) / 1000;
            snprintf(out, sizeof(out), "%s: no passive result for %lld s (freshness %lld s)",
                     rt->def->stale_output ? rt->def->stale_output : "stale", (long long)age,
                     (long long)(rt->def->freshness_ms / 1000));
            checks_apply(c, rt, rt->def->stale_state, out, strlen(out), now, NULL, true);
            /* Stay stale until a result comes; judge again a period later. */
            rt->last_result_ms = now;
            checks_schedule_next(c, rt, now);
        } else {
            checks_hb_judge(c, (struct hb_rt *)it, now, NULL, NULL);
        }
        pthread_mutex_unlock(&c->lock);
    }
}

/* ---- heartbeats ---- */

/*
 * Judges a heartbeat at now (after a ping when ping is not NULL), stores it
 * when asked, and tells the engine when its alert state changes. Called with
 * c->lock held.
 */
static void checks_hb_judge(struct checks *c, struct hb_rt *hb, int64_t now, const char *ping,
                            struct waiter *w)
{
    int64_t next = 0;
    int status = heartbeat_evaluate(&hb->st, &hb->pol, now, hb->text, sizeof(hb->text), &next);
    bool firing = status != CHECK_OK;
    struct check_report *r = NULL;

    hb->status = status;
    if (ping) {
        if (!(r = checks_batch_add(c)))
            return;
        r->has_hb = true;
        r->hb_ping = ping;
        r->hb.name = checks_batch_own(c->pending, strdup(hb->name));
        r->hb.created = hb->st.created_ms;
        r->hb.last_ping = hb->st.last_ping_ms;
        r->hb.last_success = hb->st.last_success_ms;
        r->hb.started = hb->st.started_ms;
        r->hb.last_fail = hb->st.last_fail_ms;
        r->hb.has_value = hb->st.has_value;
        r->hb.value = hb->st.last_value;
    }
    if (firing != hb->sent_firing || (firing && hb->sent_state != status) || !hb->sent_known) {
        if (!firing && !hb->sent_firing && !hb->sent_known) {
            hb->sent_known = true;
        } else {
            if (!r && !(r = checks_batch_add(c)))
                return;
            struct event *ev = &r->ev;
            char summary[400];
            memset(ev, 0, sizeof(*ev));
            ev->action = firing ? EVENT_TRIGGER : EVENT_RESOLVE;
            ev->dedup_key = strdup(hb->dedup_key);
            ev->severity = status == CHECK_CRITICAL ? hb->def->severity : SEV_WARNING;
            snprintf(summary, sizeof(summary), "heartbeat %s %s: %s", hb->name,
                     check_status_name(status), hb->text);
            ev->summary = strdup(summary);
            ev->timestamp_ms = now;
            for (size_t i = 0; i < hb->def->labels.n; i++)
                labels_set(&ev->labels, hb->def->labels.v[i].name, hb->def->labels.v[i].value);
            labels_set(&ev->labels, "heartbeat", hb->name);
            ev->details = json_pack("{ss ss ss*}", "state", check_status_name(status), "output",
                                    hb->text, "notes", hb->def->notes);
            r->has_event = ev->dedup_key && ev->summary;
            r->labels = &hb->def->labels;
            hb->sent_firing = firing;
            hb->sent_state = (uint8_t)status;
            hb->sent_known = true;
        }
    }
    if (w && checks_batch_wait(c->pending ? c->pending : (c->pending = checks_batch_new()), w) == 0)
        w = NULL;
    if (w) {
        w->status = CHECKS_ESTORE;
        sem_post(&w->done);
    }
    if (next > 0)
        checks_heap_put(c, HEAP_TIMER, &hb->item, next);
    else
        checks_heap_remove(c, &hb->item);
}

/* ---- building and reloading ---- */

static void checks_free_rts(struct checks *c)
{
    for (size_t i = 0; i < c->n_rts; i++)
        checks_rt_free(c->rts[i]);
    free(c->rts);
    c->rts = NULL;
    c->n_rts = 0;
    strmap_free(&c->by_id);
    for (size_t i = 0; i < c->n_hbs; i++) {
        free(c->hbs[i]->name);
        free(c->hbs[i]->dedup_key);
        free(c->hbs[i]);
    }
    free(c->hbs);
    c->hbs = NULL;
    c->n_hbs = 0;
    strmap_free(&c->hb_by_key);
}

static struct check_rt *checks_rt_new(const struct cfg_check *def, int64_t now)
{
    struct check_rt *rt = calloc(1, sizeof(*rt));
    if (!rt || !(rt->id = strdup(def->id))) {
        free(rt);
        return NULL;
    }
    rt->item.node.idx = HEAP_NOT_IN;
    rt->item.kind = ITEM_CHECK;
    check_state_init(&rt->st, now);
    rt->st.last_check_ms = 0;
    if (checks_rt_define(rt, def)) {
        checks_rt_free(rt);
        return NULL;
    }
    return rt;
}

/* Puts a check into its heap for the first time: a stable point of its
 * interval, so a restart or reload does not bunch checks together. */
static void checks_first_due(struct checks *c, struct check_rt *rt, int64_t now)
{
    const struct cfg_check *def = rt->def;
    if (def->type == CHECK_TYPE_PASSIVE) {
        rt->last_result_ms = rt->last_result_ms ? rt->last_result_ms : now;
        checks_schedule_next(c, rt, now);
        return;
    }
    int64_t iv = def->interval_ms > 0 ? def->interval_ms : 60000;
    int64_t phase = checks_offset(rt->id, iv);
    int64_t due = now - ((now - phase) % iv + iv) % iv + iv; /* next grid point after now */
    if (due - now > iv)
        due -= iv;
    checks_heap_put(c, checks_heap_of(def), &rt->item, due);
}

static struct hb_rt *checks_hb_new(const struct cfg_heartbeat *def, int64_t now)
{
    struct hb_rt *hb = calloc(1, sizeof(*hb));
    size_t n;
    if (!hb)
        return NULL;
    hb->item.node.idx = HEAP_NOT_IN;
    hb->item.kind = ITEM_HEARTBEAT;
    hb->name = strdup(def->name);
    n = strlen(def->name) + 16;
    hb->dedup_key = malloc(n);
    if (!hb->name || !hb->dedup_key) {
        free(hb->name);
        free(hb->dedup_key);
        free(hb);
        return NULL;
    }
    snprintf(hb->dedup_key, n, "heartbeat!%s", def->name);
    heartbeat_init(&hb->st, now);
    return hb;
}

static void checks_hb_define(struct hb_rt *hb, const struct cfg_heartbeat *def)
{
    hb->def = def;
    hb->pol.period_ms = def->period_ms;
    hb->pol.grace_ms = def->grace_ms;
    hb->pol.max_runtime_ms = def->max_runtime_ms;
    hb->pol.has_min_value = def->has_min_value;
    hb->pol.min_value = def->min_value;
}

/*
 * Makes the runtime records match cfg. Records whose id survives keep their
 * state and schedule; others are created or dropped. Called with c->lock
 * held, on the scheduler thread (or before it starts).
 */
static int checks_build(struct checks *c, const struct config *cfg, int64_t now)
{
    struct check_rt **rts = calloc(cfg->n_checks ? cfg->n_checks : 1, sizeof(*rts));
    struct hb_rt **hbs = calloc(cfg->n_heartbeats ? cfg->n_heartbeats : 1, sizeof(*hbs));
    struct strmap by_id = {0}, hb_by_key = {0};
    bool *fresh = calloc(cfg->n_checks ? cfg->n_checks : 1, sizeof(*fresh));
    if (!rts || !hbs || !fresh)
        goto oom;
    for (size_t i = 0; i < cfg->n_checks; i++) {
        const struct cfg_check *def = &cfg->checks[i];
        struct check_rt *rt = strmap_get(&c->by_id, def->id);
        if (rt) {
            int old_heap = checks_heap_of(rt->def);
            if (checks_rt_define(rt, def))
                goto oom;
            /* A changed type or interval takes effect from the next run. */
            if (rt->item.node.idx != HEAP_NOT_IN && old_heap != checks_heap_of(def)) {
                checks_heap_remove(c, &rt->item);
                fresh[i] = true;
            }
        } else {
            if (!(rt = checks_rt_new(def, now)))
                goto oom;
            fresh[i] = true;
        }
        rts[i] = rt;
        if (strmap_put(&by_id, rt->id, rt))
            goto oom;
    }
    /* What is left in the old map was removed from the configuration. */
    for (size_t i = 0; i < c->n_rts; i++) {
        struct check_rt *rt = c->rts[i];
        if (!rt || strmap_get(&by_id, rt->id) == rt)
            continue;
        checks_heap_remove(c, &rt->item);
        if (rt->running) {
            struct check_rt **no = realloc(c->orphans, (c->n_orphans + 1) * sizeof(*no));
            if (no) {
                c->orphans = no;
                rt->orphan = true;
                c->orphans[c->n_orphans++] = rt;
                continue;
            }
            /* Without room to wait for it, it is leaked rather than freed
             * under a running child. */
            rt->orphan = true;
            continue;
        }
        checks_rt_free(rt);
    }
    for (size_t i = 0; i < cfg->n_heartbeats; i++) {
        const struct cfg_heartbeat *def = &cfg->heartbeats[i];
        struct hb_rt *hb = NULL;
        for (size_t k = 0; k < c->n_hbs && !hb; k++) {
            if (c->hbs[k] && strcmp(c->hbs[k]->name, def->name) == 0) {
                hb = c->hbs[k];
                c->hbs[k] = NULL;
            }
        }
        if (!hb && !(hb = checks_hb_new(def, now)))
            goto oom;
        checks_hb_define(hb, def);
        hbs[i] = hb;
        if (strmap_put(&hb_by_key, def->key, hb))
            goto oom;
    }
    for (size_t k = 0; k < c->n_hbs; k++) {
        if (!c->hbs[k])
            continue;
        checks_heap_remove(c, &c->hbs[k]->item);
        free(c->hbs[k]->name);
        free(c->hbs[k]->dedup_key);
        free(c->hbs[k]);
    }
    free(c->rts);
    free(c->hbs);
    strmap_free(&c->by_id);
    strmap_free(&c->hb_by_key);
    c->rts = rts;
    c->n_rts = cfg->n_checks;
    c->hbs = hbs;
    c->n_hbs = cfg->n_heartbeats;
    c->by_id = by_id;
    c->hb_by_key = hb_by_key;
    c->cfg = cfg;
    if (checks_link(c))
        goto oom_late;
    for (size_t i = 0; i < c->n_rts; i++) {
        checks_judge_reach(c->rts[i]);
        if (fresh[i] && !c->rts[i]->running)
            checks_first_due(c, c->rts[i], now);
    }
    free(fresh);
    return 0;
oom:
    /* Records made for this config are dropped; reused ones may already
     * point at the new config, which is why a config handed to the
     * scheduler is never freed while it runs (see config_live.h). */
    for (size_t i = 0; rts && i < cfg->n_checks; i++) {
        if (rts[i] && strmap_get(&c->by_id, rts[i]->id) != rts[i])
            checks_rt_free(rts[i]);
    }
    for (size_t i = 0; hbs && i < cfg->n_heartbeats; i++) {
        if (hbs[i] && !hbs[i]->def) {
            free(hbs[i]->name);
            free(hbs[i]->dedup_key);
            free(hbs[i]);
        }
    }
    strmap_free(&by_id);
    strmap_free(&hb_by_key);
    free(rts);
    free(hbs);
    free(fresh);
    return -1;
oom_late:
    free(fresh);
    return -1;
}

static int checks_load_state(void *ctx, const struct store_check_row *r)
{
    struct checks *c = ctx;
    struct check_rt *rt = strmap_get(&c->by_id, r->id);
    if (!rt)
        return 0; /* a check that is no longer configured */
    rt->st.state = (uint8_t)r->state;
    rt->st.state_type = (uint8_t)r->state_type;
    rt->st.hard_state = (uint8_t)r->hard_state;
    rt->st.attempt = (uint8_t)(r->attempt > 0 ? r->attempt : 1);
    rt->st.flapping = r->flapping;
    rt->st.flap_percent = r->flap_percent;
    rt->st.n_history = (uint8_t)(r->n_history <= CHECK_FLAP_WINDOW ? r->n_history : 0);
    if (rt->st.n_history)
        memcpy(rt->st.history, r->history, rt->st.n_history);
    rt->st.last_check_ms = r->last_check;
    rt->st.last_change_ms = r->last_change;
    rt->st.last_hard_change_ms = r->last_hard_change;
    rt->last_result_ms = r->last_check;
    if (r->output) {
        size_t n = strnlen(r->output, MAX_OUTPUT_KEPT - 1);
        char *o = malloc(n + 1);
        if (o) {
            memcpy(o, r->output, n);
            o[n] = '\0';
            free(rt->output);
            rt->output = o;
            rt->output_cap = n + 1;
        }
    }
    /* The engine's alert matches the stored HARD state; the first result
     * after the start re-sends it, so a changed suppression is corrected. */
    rt->sent_firing = r->hard_state != CHECK_OK;
    rt->sent_state = (uint8_t)r->hard_state;
    rt->sent_known = false;
    return 0;
}

static int checks_load_hb(void *ctx, const struct store_heartbeat_row *r)
{
    struct checks *c = ctx;
    for (size_t i = 0; i < c->n_hbs; i++) {
        struct hb_rt *hb = c->hbs[i];
        if (strcmp(hb->name, r->name) != 0)
            continue;
        hb->st.created_ms = r->created ? r->created : hb->st.created_ms;
        hb->st.last_ping_ms = r->last_ping;
        hb->st.last_success_ms = r->last_success;
        hb->st.started_ms = r->started;
        hb->st.last_fail_ms = r->last_fail;
        hb->st.has_value = r->has_value;
        hb->st.last_value = r->value;
        hb->sent_known = false;
        /* Treat a stored problem as sent: the first judgement resolves or
         * refreshes it. */
        int64_t next = 0;
        char text[64];
        hb->sent_firing = heartbeat_evaluate(&hb->st, &hb->pol, r->last_ping ? r->last_ping : 1,
                                             text, sizeof(text), &next) != CHECK_OK;
    }
    return 0;
}

struct checks *checks_new(const struct config *cfg, struct store *store, char *err, size_t errlen)
{
    struct checks *c = calloc(1, sizeof(*c));
    int64_t now = clock_now_ms();
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->store = store;
    c->epfd = c->inbox_fd = c->done_fd = -1;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->inbox_lock, NULL);
    if (checks_build(c, cfg, now)) {
        snprintf(err, errlen, "out of memory building the checks");
        goto fail;
    }
    if (store_check_load(store, checks_load_state, c) ||
        store_heartbeat_load(store, checks_load_hb, c)) {
        snprintf(err, errlen, "loading check states: %s", store_errmsg(store));
        goto fail;
    }
    for (size_t i = 0; i < c->n_rts; i++)
        checks_judge_reach(c->rts[i]);
    for (size_t i = 0; i < c->n_hbs; i++) {
        /* First judgement a moment after the start, on the thread. */
        checks_heap_put(c, HEAP_TIMER, &c->hbs[i]->item, now + 1000);
    }
    for (size_t i = 0; i < c->n_rts; i++) {
        struct check_rt *rt = c->rts[i];
        if (rt->def->type == CHECK_TYPE_PASSIVE)
            checks_schedule_next(c, rt, now);
    }
    c->runner = runner_new(cfg->scheduler.max_output);
    c->probes = probe_new();
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    c->inbox_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    c->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!c->runner || !c->probes || c->epfd < 0 || c->inbox_fd < 0 || c->done_fd < 0) {
        snprintf(err, errlen, "cannot set up the check scheduler: %s", strerror(errno));
        goto fail;
    }
    int fds[4] = {runner_fd(c->runner), probe_fd(c->probes), c->inbox_fd, c->done_fd};
    for (int i = 0; i < 4; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fds[i]};
        if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fds[i], &ev) != 0) {
            snprintf(err, errlen, "cannot set up the check scheduler: %s", strerror(errno));
            goto fail;
        }
    }
    log_info("checks: %zu checks and %zu heartbeats", c->n_rts, c->n_hbs);
    return c;
fail:
    checks_stop(c);
    return NULL;
}

/* ---- the thread ---- */

static void checks_drain_fd(int fd)
{
    uint64_t v;
    while (read(fd, &v, sizeof(v)) == sizeof(v))
        ;
}

/* Applies a passive result (c->lock held). */
static void checks_passive(struct checks *c, struct inbox_cmd *in, int64_t now)
{
    const struct passive_result *pr = in->pr;
    char id[600];
    struct check_rt *rt;
    if (pr->service && pr->service[0])
        snprintf(id, sizeof(id), "%s!%s", pr->host, pr->service);
    else
        snprintf(id, sizeof(id), "%s", pr->host);
    rt = strmap_get(&c->by_id, id);
    if (!rt) {
        in->w.status = CHECKS_ENOTFOUND;
        sem_post(&in->w.done);
        return;
    }
    /* Like Icinga, an active check accepts a passive result too (a script
     * reporting in between runs); it is judged like any other result. */
    size_t olen = strlen(pr->output ? pr->output : "");
    size_t plen = pr->perfdata ? strlen(pr->perfdata) : 0;
    char *text = malloc(olen + plen + 4);
    if (!text) {
        in->w.status = CHECKS_ESTORE;
        sem_post(&in->w.done);
        return;
    }
    memcpy(text, pr->output ? pr->output : "", olen);
    if (plen) {
        /* Perfdata given separately goes after a '|' on the first line. */
        char *nl = memchr(text, '\n', olen);
        size_t first = nl ? (size_t)(nl - text) : olen;
        memmove(text + first + 3 + plen, text + first, olen - first);
        memcpy(text + first, " | ", 3);
        memcpy(text + first + 3, pr->perfdata, plen);
        olen += plen + 3;
    }
    text[olen] = '\0';
    atomic_fetch_add_explicit(&c->stats.run[CHECK_TYPE_PASSIVE], 1, memory_order_relaxed);
    if (checks_apply(c, rt, pr->status, text, olen, now, &in->w, true)) {
        in->w.status = CHECKS_ESTORE;
        sem_post(&in->w.done);
    } else if (rt->def->type == CHECK_TYPE_PASSIVE) {
        checks_schedule_next(c, rt, now);
    }
    free(text);
}

static void checks_ping(struct checks *c, struct inbox_cmd *in, int64_t now)
{
    static const char *const kinds[] = {"success", "start", "fail"};
    struct hb_rt *hb = strmap_get(&c->hb_by_key, in->key);
    if (!hb) {
        in->w.status = CHECKS_ENOTFOUND;
        sem_post(&in->w.done);
        return;
    }
    if (in->name_out)
        snprintf(in->name_out, in->name_size, "%s", hb->name);
    heartbeat_ping(&hb->st, in->ping, in->has_value, in->value, now);
    checks_hb_judge(c, hb, now, kinds[in->ping], &in->w);
}

static void checks_take_inbox(struct checks *c, int64_t now)
{
    struct inbox_cmd *list, *rev = NULL;
    pthread_mutex_lock(&c->inbox_lock);
    list = c->inbox;
    c->inbox = NULL;
    pthread_mutex_unlock(&c->inbox_lock);
    while (list) { /* oldest first */
        struct inbox_cmd *n = list->next;
        list->next = rev;
        rev = list;
        list = n;
    }
    for (struct inbox_cmd *in = rev, *next; in; in = next) {
        next = in->next;
        pthread_mutex_lock(&c->lock);
        switch (in->kind) {
        case IN_PASSIVE:
            checks_passive(c, in, now);
            break;
        case IN_PING:
            checks_ping(c, in, now);
            break;
        case IN_CHECK_NOW: {
            struct check_rt *rt = strmap_get(&c->by_id, in->key);
            if (!rt || rt->def->type == CHECK_TYPE_PASSIVE) {
                in->w.status = rt ? CHECKS_EINVAL : CHECKS_ENOTFOUND;
            } else {
                if (!rt->running)
                    checks_heap_put(c, checks_heap_of(rt->def), &rt->item, now);
                in->w.status = CHECKS_OK;
            }
            sem_post(&in->w.done);
            break;
        }
        case IN_RELOAD:
            in->w.status = checks_build(c, in->cfg, now) ? CHECKS_ESTORE : CHECKS_OK;
            sem_post(&in->w.done);
            break;
        }
        pthread_mutex_unlock(&c->lock);
    }
}

static void checks_free_orphans(struct checks *c)
{
    size_t k = 0;
    for (size_t i = 0; i < c->n_orphans; i++) {
        if (c->orphans[i]->running)
            c->orphans[k++] = c->orphans[i];
        else
            checks_rt_free(c->orphans[i]);
    }
    c->n_orphans = k;
}

static int64_t checks_min_wait(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

static void *checks_main(void *arg)
{
    struct checks *c = arg;
    size_t max_cmd, max_probe;
    pthread_setname_np(pthread_self(), "tocsin-checks");
    for (;;) {
        struct epoll_event evs[8];
        int64_t now = clock_now_ms();
        bool stop;

        pthread_mutex_lock(&c->inbox_lock);
        stop = c->stopping;
        pthread_mutex_unlock(&c->inbox_lock);
        checks_take_inbox(c, now);
        if (stop)
            break;
        /* Read every round: a reload may change the limits. */
        max_cmd =
            (size_t)(c->cfg->scheduler.max_concurrent > 0 ? c->cfg->scheduler.max_concurrent : 8);
        max_probe =
            (size_t)(c->cfg->scheduler.max_probes > 0 ? c->cfg->scheduler.max_probes : 1000);
        checks_run_due(c, HEAP_CMD, max_cmd, now);
        checks_run_due(c, HEAP_PROBE, max_probe, now);
        checks_run_timers(c, now);
        checks_batch_finished(c, now);
        checks_flush(c, now);

        int64_t wait = 1000;
        for (int h = 0; h < N_HEAPS; h++) {
            struct sched_item *it = checks_heap_top(c, h);
            size_t active = h == HEAP_CMD     ? runner_active(c->runner)
                            : h == HEAP_PROBE ? probe_active(c->probes)
                                              : 0;
            size_t lim = h == HEAP_CMD ? max_cmd : h == HEAP_PROBE ? max_probe : SIZE_MAX;
            if (it && active < lim) {
                int64_t at = it->node.key;
                if (h != HEAP_TIMER)
                    at -= checks_early((struct check_rt *)it);
                wait = checks_min_wait(wait, at > now ? at - now : 0);
            }
        }
        wait = checks_min_wait(wait, runner_next_timeout(c->runner, now));
        wait = checks_min_wait(wait, probe_next_timeout(c->probes, now));
        if (c->pending && c->pending->n && !c->inflight)
            wait = checks_min_wait(wait, c->retry_at > now ? c->retry_at - now : 0);
        int n = epoll_wait(c->epfd, evs, 8, (int)(wait < 0 ? 0 : wait));
        now = clock_now_ms();
        bool runner_ready = false, probes_ready = false;
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == c->inbox_fd || fd == c->done_fd)
                checks_drain_fd(fd);
            else if (fd == runner_fd(c->runner))
                runner_ready = true;
            else
                probes_ready = true;
        }
        /* Each poll costs a system call of its own; skip the one with
         * nothing to do (no event, nothing due), as most wakeups concern
         * only plugins or only probes. */
        if (runner_ready || runner_next_timeout(c->runner, now) == 0)
            runner_poll(c->runner, now, checks_runner_done, c);
        if (probes_ready || probe_next_timeout(c->probes, now) == 0)
            probe_poll(c->probes, now, checks_probe_done, c);
        if (c->n_orphans)
            checks_free_orphans(c);
        if (c->on_flush)
            c->on_flush(c->on_result_ctx, now, false);
    }
    /* Stopping: nothing new starts; what ran is reported. */
    int64_t now = clock_now_ms();
    runner_poll(c->runner, now, checks_runner_done, c);
    probe_poll(c->probes, now, checks_probe_done, c);
    if (c->on_flush)
        c->on_flush(c->on_result_ctx, now, true);
    for (int tries = 0; tries < 100 && (c->inflight || (c->pending && c->pending->n)); tries++) {
        now = clock_now_ms();
        checks_batch_finished(c, now);
        c->retry_at = 0;
        checks_flush(c, now);
        if (c->inflight && !atomic_load(&c->inflight_done)) {
            struct epoll_event ev;
            epoll_wait(c->epfd, &ev, 1, 100);
            checks_drain_fd(c->done_fd);
        }
    }
    return NULL;
}

void checks_set_result_hook(struct checks *c, checks_result_fn fn, checks_flush_fn flush, void *ctx)
{
    c->on_result = fn;
    c->on_flush = flush;
    c->on_result_ctx = ctx;
}

int checks_start(struct checks *c, struct engine *engine)
{
    c->engine = engine;
    if (pthread_create(&c->thread, NULL, checks_main, c) != 0)
        return -1;
    c->started = true;
    return 0;
}

/* Queues a command for the thread and waits for its answer. */
static enum checks_status checks_call(struct checks *c, struct inbox_cmd *in)
{
    uint64_t one = 1;
    sem_init(&in->w.done, 0, 0);
    in->w.status = CHECKS_OK;
    pthread_mutex_lock(&c->inbox_lock);
    if (c->stopping || !c->started) {
        pthread_mutex_unlock(&c->inbox_lock);
        sem_destroy(&in->w.done);
        return CHECKS_EBUSY;
    }
    in->next = c->inbox;
    c->inbox = in;
    pthread_mutex_unlock(&c->inbox_lock);
    if (write(c->inbox_fd, &one, sizeof(one)) < 0)
        log_warn("checks: cannot wake the scheduler: %s", strerror(errno));
    while (sem_wait(&in->w.done) != 0 && errno == EINTR)
        ;
    sem_destroy(&in->w.done);
    return in->w.status;
}

void checks_stop(struct checks *c)
{
    if (!c)
        return;
    if (c->started) {
        uint64_t one = 1;
        pthread_mutex_lock(&c->inbox_lock);
        c->stopping = true;
        pthread_mutex_unlock(&c->inbox_lock);
        if (write(c->inbox_fd, &one, sizeof(one)) < 0)
            log_warn("checks: cannot wake the scheduler: %s", strerror(errno));
        pthread_join(c->thread, NULL);
    }
    /* Commands that arrived too late are answered, not left hanging. */
    for (struct inbox_cmd *in = c->inbox; in;) {
        struct inbox_cmd *n = in->next;
        in->w.status = CHECKS_EBUSY;
        sem_post(&in->w.done);
        in = n;
    }
    if (c->inflight) {
        checks_post_waiters(c->inflight, CHECKS_ESTORE);
        checks_batch_free(c->inflight);
    }
    if (c->pending) {
        checks_post_waiters(c->pending, CHECKS_ESTORE);
        checks_batch_free(c->pending);
    }
    runner_free(c->runner);
    probe_free(c->probes);
    for (size_t i = 0; i < c->n_orphans; i++)
        checks_rt_free(c->orphans[i]);
    free(c->orphans);
    checks_free_rts(c);
    for (int h = 0; h < N_HEAPS; h++)
        heap_free(&c->heaps[h]);
    if (c->epfd >= 0)
        close(c->epfd);
    if (c->inbox_fd >= 0)
        close(c->inbox_fd);
    if (c->done_fd >= 0)
        close(c->done_fd);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->inbox_lock);
    free(c);
}

int checks_reload(struct checks *c, const struct config *cfg)
{
    struct inbox_cmd in = {.kind = IN_RELOAD, .cfg = cfg};
    return checks_call(c, &in) == CHECKS_OK ? 0 : -1;
}

enum checks_status checks_submit_passive(struct checks *c, const struct passive_result *r)
{
    struct inbox_cmd in = {.kind = IN_PASSIVE, .pr = r};
    return checks_call(c, &in);
}

enum checks_status checks_heartbeat_ping(struct checks *c, const char *key,
                                         enum heartbeat_ping kind, bool has_value, double value,
                                         char *name_out, size_t name_size)
{
    struct inbox_cmd in = {.kind = IN_PING,
                           .key = key,
                           .ping = kind,
                           .has_value = has_value,
                           .value = value,
                           .name_out = name_out,
                           .name_size = name_size};
    return checks_call(c, &in);
}

enum checks_status checks_check_now(struct checks *c, const char *id)
{
    struct inbox_cmd in = {.kind = IN_CHECK_NOW, .key = id};
    return checks_call(c, &in);
}
