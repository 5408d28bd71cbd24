/*
 * checks_report.c - what the scheduler tells the engine: state rows and
 * history for changes, and an alert event whenever a check's HARD state (or
 * the reason it must not page) differs from what the engine was last told.
 * Reports are collected in a batch; one batch is at the engine at a time,
 * submitted without waiting, so thousands of results share one commit.
 */
#include "checks_int.h"

#include "../base/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- reports to the engine ---- */

struct batch *checks_batch_new(void)
{
    return calloc(1, sizeof(struct batch));
}

void checks_batch_free(struct batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++) {
        if (b->reports[i].has_event)
            event_clear(&b->reports[i].ev);
    }
    for (size_t i = 0; i < b->n_owned; i++)
        free(b->owned[i]);
    free(b->owned);
    free(b->reports);
    free(b->waiters);
    free(b);
}

/* Keeps s alive as long as the batch; returns it (NULL stays NULL). */
const char *checks_batch_own(struct batch *b, char *s)
{
    if (!s)
        return NULL;
    if (b->n_owned == b->cap_owned) {
        size_t ncap = b->cap_owned ? b->cap_owned * 2 : 64;
        char **nv = realloc(b->owned, ncap * sizeof(*nv));
        if (!nv) {
            free(s);
            return NULL;
        }
        b->owned = nv;
        b->cap_owned = ncap;
    }
    b->owned[b->n_owned++] = s;
    return s;
}

struct check_report *checks_batch_add(struct checks *c)
{
    struct batch *b = c->pending;
    if (!b && !(b = c->pending = checks_batch_new()))
        return NULL;
    if (b->n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 64;
        struct check_report *nv = realloc(b->reports, ncap * sizeof(*nv));
        if (!nv)
            return NULL;
        b->reports = nv;
        b->cap = ncap;
    }
    struct check_report *r = &b->reports[b->n++];
    memset(r, 0, sizeof(*r));
    return r;
}

int checks_batch_wait(struct batch *b, struct waiter *w)
{
    if (b->n_waiters == b->cap_waiters) {
        size_t ncap = b->cap_waiters ? b->cap_waiters * 2 : 8;
        struct waiter **nv = realloc(b->waiters, ncap * sizeof(*nv));
        if (!nv)
            return -1;
        b->waiters = nv;
        b->cap_waiters = ncap;
    }
    b->waiters[b->n_waiters++] = w;
    return 0;
}

/* Runs on the engine thread after the batch's commit: wake the scheduler. */
static void checks_batch_done(struct engine_cmd *cmd, void *arg)
{
    struct checks *c = arg;
    uint64_t one = 1;
    (void)cmd;
    atomic_store(&c->inflight_done, true);
    if (write(c->done_fd, &one, sizeof(one)) < 0)
        log_warn("checks: cannot wake the scheduler: %s", strerror(errno));
}

void checks_post_waiters(struct batch *b, enum checks_status st)
{
    for (size_t i = 0; i < b->n_waiters; i++) {
        b->waiters[i]->status = st;
        sem_post(&b->waiters[i]->done);
    }
    b->n_waiters = 0;
}

/* Sends the pending batch when nothing is in flight. */
void checks_flush(struct checks *c, int64_t now)
{
    if (c->inflight || !c->pending || c->pending->n == 0 || now < c->retry_at)
        return;
    struct batch *b = c->pending;
    c->pending = NULL;
    memset(&b->cmd, 0, sizeof(b->cmd));
    b->cmd.kind = CMD_CHECK_REPORTS;
    b->cmd.reports = b->reports;
    b->cmd.n_reports = b->n;
    b->cmd.actor = "checks";
    atomic_store(&c->inflight_done, false);
    enum engine_status st = engine_submit_async(c->engine, &b->cmd, checks_batch_done, c);
    if (st == ENGINE_OK) {
        c->inflight = b;
        return;
    }
    if (st == ENGINE_ESHUTDOWN) {
        atomic_fetch_add(&c->stats.reports_lost, (long long)b->n);
        checks_post_waiters(b, CHECKS_ESTORE);
        checks_batch_free(b);
        return;
    }
    /* The engine is behind: keep the batch (nothing is dropped) and try
     * again shortly; new reports queue behind it. */
    c->pending = b;
    c->retry_at = now + 100;
}

/* The engine finished the batch in flight. */
void checks_batch_finished(struct checks *c, int64_t now)
{
    struct batch *b = c->inflight;
    if (!b || !atomic_load(&c->inflight_done))
        return;
    c->inflight = NULL;
    if (b->cmd.status == ENGINE_OK) {
        checks_post_waiters(b, CHECKS_OK);
        checks_batch_free(b);
        return;
    }
    /* The commit failed and was rolled back: send the same reports again,
     * a few times, before telling the waiters. */
    if (++b->attempts < 3 && b->cmd.status == ENGINE_ESTORE) {
        log_warn("checks: the engine could not store %zu reports; retrying", b->n);
        if (c->pending) {
            /* Keep order: the failed batch goes first. */
            struct batch *later = c->pending;
            c->pending = b;
            for (size_t i = 0; i < later->n; i++) {
                struct check_report *r = checks_batch_add(c);
                if (r)
                    *r = later->reports[i];
            }
            for (size_t i = 0; i < later->n_owned; i++)
                checks_batch_own(b, later->owned[i]);
            for (size_t i = 0; i < later->n_waiters; i++)
                checks_batch_wait(b, later->waiters[i]);
            later->n = later->n_owned = later->n_waiters = 0;
            checks_batch_free(later);
        } else {
            c->pending = b;
        }
        c->retry_at = now + 200;
        return;
    }
    atomic_fetch_add(&c->stats.reports_lost, (long long)b->n);
    checks_post_waiters(b, b->cmd.status == ENGINE_EBUSY ? CHECKS_EBUSY : CHECKS_ESTORE);
    checks_batch_free(b);
}

/* ---- results ---- */

static enum severity checks_severity(const struct check_rt *rt, int state)
{
    if (state == CHECK_CRITICAL)
        return rt->def->severity;
    if (state == CHECK_WARNING || state == CHECK_UNKNOWN)
        return SEV_WARNING;
    return SEV_INFO;
}

const char *checks_state_name(const struct check_rt *rt, int state)
{
    if (rt->def->is_host) {
        if (state == CHECK_OK)
            return "UP";
        return rt->unreach ? "UNREACHABLE" : "DOWN";
    }
    return check_status_name(state);
}

/* The first line of the output. */
size_t checks_first_line(const char *out, size_t max)
{
    size_t n = 0;
    while (out && out[n] && out[n] != '\n' && n < max)
        n++;
    return n;
}

/* Adds an event to r that tells the engine the check's alert state. */
static int checks_event(struct checks *c, struct check_report *r, struct check_rt *rt, bool firing,
                        int64_t now)
{
    struct event *ev = &r->ev;
    const struct cfg_check *def = rt->def;
    char summary[EVENT_MAX_SUMMARY];
    size_t fl = checks_first_line(rt->output, 700);
    /* The summary is the status line without its perfdata. */
    const char *bar = rt->output ? memchr(rt->output, '|', fl) : NULL;
    if (bar)
        fl = (size_t)(bar - rt->output);
    while (fl > 0 && rt->output[fl - 1] == ' ')
        fl--;
    (void)c;
    memset(ev, 0, sizeof(*ev));
    ev->action = firing ? EVENT_TRIGGER : EVENT_RESOLVE;
    ev->dedup_key = strdup(rt->id);
    ev->severity = checks_severity(rt, rt->st.hard_state);
    ev->source = strdup(def->host);
    ev->timestamp_ms = now;
    snprintf(summary, sizeof(summary), "%s %s: %.*s", rt->id,
             checks_state_name(rt, rt->st.hard_state), (int)fl, rt->output ? rt->output : "");
    ev->summary = strdup(summary);
    for (size_t i = 0; i < def->labels.n; i++) {
        if (labels_set(&ev->labels, def->labels.v[i].name, def->labels.v[i].value))
            return -1;
    }
    ev->details = json_pack(
        "{ss ss si si ss* ss* ss*}", "state", checks_state_name(rt, rt->st.hard_state),
        "state_type", state_type_name(rt->st.state_type), "attempt", rt->st.attempt, "max_attempts",
        rt->pol.max_attempts, "output", rt->output, "notes", def->notes, "runbook", def->runbook);
    if (def->runbook)
        ev->links = json_pack("[{ss ss}]", "href", def->runbook, "text", "runbook");
    if (firing && rt->unreach) {
        ev->suppressed = strdup(rt->unreach);
        ev->parent_key = rt->root_key ? strdup(rt->root_key) : NULL;
    } else if (firing && rt->st.flapping) {
        ev->suppressed = strdup("flapping");
    }
    if (!ev->dedup_key || !ev->source || !ev->summary)
        return -1;
    r->has_event = true;
    r->labels = &def->labels;
    rt->sent_firing = firing;
    rt->sent_state = rt->st.hard_state;
    rt->sent_suppressed = ev->suppressed != NULL;
    rt->sent_known = true;
    return 0;
}

/* Fills r's state row from rt (strings owned by the pending batch). */
void checks_row(struct checks *c, struct check_report *r, struct check_rt *rt, bool history,
                bool hard_change)
{
    struct batch *b = c->pending;
    r->has_row = true;
    r->history = history;
    r->hard_change = hard_change;
    r->labels = &rt->def->labels;
    r->row.id = checks_batch_own(b, strdup(rt->id));
    r->row.state = rt->st.state;
    r->row.state_type = rt->st.state_type;
    r->row.hard_state = rt->st.hard_state;
    r->row.attempt = rt->st.attempt;
    r->row.flapping = rt->st.flapping;
    r->row.flap_percent = rt->st.flap_percent;
    r->row.history = rt->st.history;
    r->row.n_history = rt->st.n_history;
    r->row.last_check = rt->st.last_check_ms;
    r->row.last_change = rt->st.last_change_ms;
    r->row.last_hard_change = rt->st.last_hard_change_ms;
    r->row.output = checks_batch_own(b, strndup(rt->output ? rt->output : "", MAX_HISTORY_OUTPUT));
    /* The history array is copied by SQLite at bind time, but the batch is
     * bound later on another thread: keep a copy of it as well. */
    if (rt->st.n_history) {
        char *h = malloc(rt->st.n_history);
        if (h) {
            memcpy(h, rt->st.history, rt->st.n_history);
            r->row.history = (const uint8_t *)checks_batch_own(b, h);
        } else {
            r->row.n_history = 0;
        }
    }
}

/*
 * Compares what the engine should believe about rt's alert with what it was
 * told, and reports the difference. While a check flaps nothing is sent:
 * notifications are held until the state settles.
 */
int checks_reconcile(struct checks *c, struct check_rt *rt, int64_t now, struct check_report *r)
{
    bool firing = checks_is_problem(rt);
    bool suppressed = firing && (rt->unreach != NULL);
    if (rt->st.flapping)
        return 0;
    if (firing == rt->sent_firing && rt->sent_known &&
        (!firing || (rt->sent_state == rt->st.hard_state && rt->sent_suppressed == suppressed)))
        return 0;
    if (!firing && !rt->sent_firing && !rt->sent_known) {
        rt->sent_known = true;
        return 0;
    }
    if (!r && !(r = checks_batch_add(c)))
        return -1;
    return checks_event(c, r, rt, firing, now);
}
