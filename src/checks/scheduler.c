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
#include "checks.h"

#include "../base/clock.h"
#include "../base/log.h"
#include "../base/strmap.h"
#include "../base/timefmt.h"
#include "../engine/route.h"
#include "plugin_output.h"
#include "probe.h"
#include "runner.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

extern char **environ;

#define MAX_OUTPUT_KEPT    8192 /* of each result, for the API and the alert */
#define MAX_HISTORY_OUTPUT 2048 /* of each result, in check_history */
#define BATCH_MAX          512  /* reports per engine command */
#define N_BOUNDS           21

static const double checks_bounds[N_BOUNDS] = {0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01,
                                               0.0125, 0.016, 0.02,  0.025, 0.035, 0.05,   0.075,
                                               0.1,    0.25,  0.5,   1,     2.5,   5,      10};

enum item_kind { ITEM_CHECK = 0, ITEM_HEARTBEAT = 1 };
enum heap_id { HEAP_CMD = 0, HEAP_PROBE = 1, HEAP_TIMER = 2, N_HEAPS = 3 };

/* What the heaps hold: the first member of check_rt and hb_rt. */
struct sched_item {
    int64_t due;
    uint32_t heap_idx; /* UINT32_MAX when in no heap */
    uint8_t kind;      /* enum item_kind */
    uint8_t heap;      /* enum heap_id */
};

struct dep_group {
    struct check_rt **v; /* borrowed pointers into the scheduler's checks */
    size_t n;
};

struct check_rt {
    struct sched_item item;
    char *id;                    /* owned; key of the map */
    const struct cfg_check *def; /* borrowed from the current config */
    struct check_policy pol;
    struct check_status_rec st;
    char **argv;  /* owned; the command split once, or NULL to use the shell */
    char **envp;  /* owned array of borrowed strings, or NULL (inherit) */
    bool running; /* a plugin or probe is in flight */
    bool orphan;  /* removed by a reload while running: freed when it ends */
    /* The latest result. */
    char *output; /* owned, NUL-terminated, at most MAX_OUTPUT_KEPT */
    size_t output_cap;
    int64_t last_latency_ms, last_exec_ms;
    int64_t last_result_ms;
    /* Dependencies, rebuilt on reload. */
    struct check_rt *host_rt;  /* a service: its host's check, or NULL */
    struct check_rt **parents; /* a host check: its parents' host checks; owned array */
    size_t n_parents;
    size_t n_parents_unchecked; /* parents without a host check: always UP */
    struct dep_group *groups;   /* owned array (depends_on) */
    size_t n_groups;
    struct check_rt **dependents; /* owned array: checks whose reachability uses this one */
    size_t n_dependents, cap_dependents;
    /* What the engine was told last, to send only changes. */
    bool sent_firing;
    bool sent_known; /* false after a start: the next problem result re-sends */
    uint8_t sent_state;
    bool sent_suppressed;
    char *unreach;  /* owned: why this check's problem is not its own, or NULL */
    char *root_key; /* owned: the alert that pages for it (unreach != NULL) */
};

struct hb_rt {
    struct sched_item item;
    char *name; /* owned */
    char *dedup_key;
    const struct cfg_heartbeat *def; /* borrowed */
    struct heartbeat_policy pol;
    struct heartbeat_status_rec st;
    int status;
    char text[256];
    bool sent_firing, sent_known;
    uint8_t sent_state;
};

/* A caller waiting until its report is durable. */
struct waiter {
    sem_t done;
    enum checks_status status;
};

enum inbox_kind { IN_PASSIVE, IN_PING, IN_CHECK_NOW, IN_RELOAD };

struct inbox_cmd {
    enum inbox_kind kind;
    const struct passive_result *pr;
    const char *key; /* IN_PING: heartbeat key; IN_CHECK_NOW: check id */
    enum heartbeat_ping ping;
    bool has_value;
    double value;
    char *name_out; /* IN_PING: the heartbeat's name is copied here */
    size_t name_size;
    const struct config *cfg; /* IN_RELOAD */
    struct waiter w;
    struct inbox_cmd *next;
};

/* Reports on their way to the engine and everything they point to. */
struct batch {
    struct engine_cmd cmd;
    struct check_report *reports;
    size_t n, cap;
    char **owned; /* strings the reports borrow */
    size_t n_owned, cap_owned;
    struct waiter **waiters;
    size_t n_waiters, cap_waiters;
    int attempts;
};

struct checks_stats {
    atomic_llong run[4];     /* by check type */
    atomic_llong results[4]; /* by state */
    atomic_llong latency[N_BOUNDS + 1];
    atomic_llong latency_sum_us;
    atomic_llong exec[N_BOUNDS + 1];
    atomic_llong exec_sum_us;
    atomic_llong completed;
    atomic_llong spawn_retries;
    atomic_llong reports_lost;
};

struct checks {
    const struct config *cfg; /* borrowed; the current one */
    struct store *store;
    struct engine *engine;
    pthread_mutex_t lock;  /* guards the maps and every rt's state (API reads) */
    struct strmap by_id;   /* id -> struct check_rt */
    struct check_rt **rts; /* owned array, in config order */
    size_t n_rts;
    struct check_rt **orphans; /* owned array */
    size_t n_orphans;
    struct strmap hb_by_key; /* key -> struct hb_rt */
    struct hb_rt **hbs;
    size_t n_hbs;
    struct sched_item **heap[N_HEAPS];
    size_t heap_len[N_HEAPS], heap_cap[N_HEAPS];

    struct runner *runner;
    struct probe_set *probes;
    int epfd, inbox_fd, done_fd;
    pthread_t thread;
    bool started;

    pthread_mutex_t inbox_lock;
    struct inbox_cmd *inbox;
    bool stopping;

    struct batch *pending;  /* being filled */
    struct batch *inflight; /* at the engine */
    atomic_bool inflight_done;
    int64_t retry_at; /* when a refused batch may be sent again */

    struct checks_stats stats;
};

/* ---- heaps ---- */

static void heap_swap(struct sched_item **h, size_t i, size_t j)
{
    struct sched_item *t = h[i];
    h[i] = h[j];
    h[j] = t;
    h[i]->heap_idx = (uint32_t)i;
    h[j]->heap_idx = (uint32_t)j;
}

static void heap_fix(struct checks *c, int which, size_t i)
{
    struct sched_item **h = c->heap[which];
    size_t n = c->heap_len[which];
    while (i > 0 && h[(i - 1) / 2]->due > h[i]->due) {
        heap_swap(h, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l]->due < h[m]->due)
            m = l;
        if (r < n && h[r]->due < h[m]->due)
            m = r;
        if (m == i)
            return;
        heap_swap(h, i, m);
        i = m;
    }
}

static void heap_remove(struct checks *c, struct sched_item *it)
{
    if (it->heap_idx == UINT32_MAX)
        return;
    int which = it->heap;
    size_t i = it->heap_idx;
    c->heap_len[which]--;
    if (i != c->heap_len[which]) {
        c->heap[which][i] = c->heap[which][c->heap_len[which]];
        c->heap[which][i]->heap_idx = (uint32_t)i;
        heap_fix(c, which, i);
    }
    it->heap_idx = UINT32_MAX;
}

/* Puts it into heap `which` at `due` (moving it if it is in one already). */
static int heap_put(struct checks *c, int which, struct sched_item *it, int64_t due)
{
    if (it->heap_idx != UINT32_MAX && it->heap != which)
        heap_remove(c, it);
    it->due = due;
    if (it->heap_idx != UINT32_MAX) {
        heap_fix(c, which, it->heap_idx);
        return 0;
    }
    if (c->heap_len[which] == c->heap_cap[which]) {
        size_t ncap = c->heap_cap[which] ? c->heap_cap[which] * 2 : 256;
        struct sched_item **nh = realloc(c->heap[which], ncap * sizeof(*nh));
        if (!nh)
            return -1;
        c->heap[which] = nh;
        c->heap_cap[which] = ncap;
    }
    it->heap = (uint8_t)which;
    it->heap_idx = (uint32_t)c->heap_len[which];
    c->heap[which][c->heap_len[which]++] = it;
    heap_fix(c, which, it->heap_idx);
    return 0;
}

static struct sched_item *heap_top(const struct checks *c, int which)
{
    return c->heap_len[which] ? c->heap[which][0] : NULL;
}

/* ---- building the runtime records ---- */

/* A stable point in [0, interval) for id: FNV-1a of the id. */
static int64_t checks_offset(const char *id, int64_t interval)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return interval > 0 ? (int64_t)(h % (uint64_t)interval) : 0;
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

static void checks_rt_free_deps(struct check_rt *rt)
{
    free(rt->parents);
    rt->parents = NULL;
    rt->n_parents = rt->n_parents_unchecked = 0;
    for (size_t i = 0; i < rt->n_groups; i++)
        free(rt->groups[i].v);
    free(rt->groups);
    rt->groups = NULL;
    rt->n_groups = 0;
    free(rt->dependents);
    rt->dependents = NULL;
    rt->n_dependents = rt->cap_dependents = 0;
    rt->host_rt = NULL;
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

static int checks_add_dependent(struct check_rt *on, struct check_rt *who)
{
    if (on->n_dependents == on->cap_dependents) {
        size_t ncap = on->cap_dependents ? on->cap_dependents * 2 : 4;
        struct check_rt **nv = realloc(on->dependents, ncap * sizeof(*nv));
        if (!nv)
            return -1;
        on->dependents = nv;
        on->cap_dependents = ncap;
    }
    on->dependents[on->n_dependents++] = who;
    return 0;
}

/* Links every check to what its reachability depends on. */
static int checks_link(struct checks *c)
{
    const struct config *cfg = c->cfg;
    for (size_t i = 0; i < c->n_rts; i++)
        checks_rt_free_deps(c->rts[i]);
    for (size_t i = 0; i < c->n_rts; i++) {
        struct check_rt *rt = c->rts[i];
        const struct cfg_check *def = rt->def;
        const struct cfg_host *host = config_find_host(cfg, def->host);
        if (!def->is_host) {
            if (host && host->check >= 0) {
                rt->host_rt = strmap_get(&c->by_id, cfg->checks[host->check].id);
                if (rt->host_rt && checks_add_dependent(rt->host_rt, rt))
                    return -1;
            }
        } else if (host && host->n_parents) {
            rt->parents = calloc(host->n_parents, sizeof(*rt->parents));
            if (!rt->parents)
                return -1;
            for (size_t p = 0; p < host->n_parents; p++) {
                const struct cfg_host *ph = config_find_host(cfg, host->parents[p]);
                struct check_rt *prt =
                    ph && ph->check >= 0 ? strmap_get(&c->by_id, cfg->checks[ph->check].id) : NULL;
                if (!prt) {
                    rt->n_parents_unchecked++;
                    continue;
                }
                rt->parents[rt->n_parents++] = prt;
                if (checks_add_dependent(prt, rt))
                    return -1;
            }
        }
        if (def->n_deps) {
            /* Entries with the same group name form one redundancy group;
             * an entry without a name is a group of its own. */
            size_t *gidx = calloc(def->n_deps, sizeof(*gidx));
            rt->groups = calloc(def->n_deps, sizeof(*rt->groups));
            if (!rt->groups || !gidx) {
                free(gidx);
                return -1;
            }
            for (size_t d = 0; d < def->n_deps; d++) {
                struct check_rt *t = strmap_get(&c->by_id, def->deps[d].target);
                size_t g = rt->n_groups;
                for (size_t k = 0; def->deps[d].group && k < d; k++) {
                    if (def->deps[k].group && strcmp(def->deps[k].group, def->deps[d].group) == 0) {
                        g = gidx[k];
                        break;
                    }
                }
                gidx[d] = g;
                if (!t)
                    continue;
                if (g == rt->n_groups)
                    rt->n_groups++;
                struct check_rt **nv =
                    realloc(rt->groups[g].v, (rt->groups[g].n + 1) * sizeof(*nv));
                if (!nv) {
                    free(gidx);
                    return -1;
                }
                rt->groups[g].v = nv;
                rt->groups[g].v[rt->groups[g].n++] = t;
                if (checks_add_dependent(t, rt)) {
                    free(gidx);
                    return -1;
                }
            }
            free(gidx);
        }
    }
    return 0;
}

/* ---- judging reachability ---- */

static bool checks_is_problem(const struct check_rt *rt)
{
    return rt->st.hard_state != CHECK_OK;
}

/* The id of the alert that pages for rt's trouble: rt itself, or the root of
 * the failed chain above it. */
static const char *checks_root(const struct check_rt *rt)
{
    return rt->unreach && rt->root_key ? rt->root_key : rt->id;
}

/* Works out whether rt's problem is explained by what it depends on. Sets
 * rt->unreach and rt->root_key; returns true when that changed. */
static bool checks_judge_reach(struct check_rt *rt)
{
    char reason[300] = "";
    const struct check_rt *cause = NULL;

    if (rt->host_rt && checks_is_problem(rt->host_rt)) {
        cause = rt->host_rt;
        snprintf(reason, sizeof(reason), "host %s %s", rt->host_rt->def->host,
                 rt->host_rt->unreach ? "unreachable" : "down");
    }
    if (!cause && rt->n_parents && rt->n_parents_unchecked == 0) {
        bool all = true;
        for (size_t i = 0; i < rt->n_parents && all; i++)
            all = checks_is_problem(rt->parents[i]);
        if (all) {
            cause = rt->parents[0];
            snprintf(reason, sizeof(reason), "parent %s down", rt->parents[0]->def->host);
        }
    }
    for (size_t g = 0; !cause && g < rt->n_groups; g++) {
        bool all = rt->groups[g].n > 0;
        for (size_t i = 0; i < rt->groups[g].n && all; i++)
            all = checks_is_problem(rt->groups[g].v[i]);
        if (all) {
            cause = rt->groups[g].v[0];
            snprintf(reason, sizeof(reason), "depends on %s (%s)", cause->id,
                     check_status_name(cause->st.hard_state));
        }
    }
    const char *root = cause ? checks_root(cause) : NULL;
    bool changed = (cause == NULL) != (rt->unreach == NULL) ||
                   (cause && strcmp(rt->unreach, reason) != 0) ||
                   (cause && rt->root_key && strcmp(rt->root_key, root) != 0);
    if (!changed)
        return false;
    free(rt->unreach);
    free(rt->root_key);
    rt->unreach = cause ? strdup(reason) : NULL;
    rt->root_key = cause ? strdup(root) : NULL;
    return true;
}

/* ---- reports to the engine ---- */

static struct batch *batch_new(void)
{
    return calloc(1, sizeof(struct batch));
}

static void batch_free(struct batch *b)
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
static const char *batch_own(struct batch *b, char *s)
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

static struct check_report *batch_add(struct checks *c)
{
    struct batch *b = c->pending;
    if (!b && !(b = c->pending = batch_new()))
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

static int batch_wait(struct batch *b, struct waiter *w)
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

static char *checks_strndup(const char *s, size_t max)
{
    size_t n = s ? strnlen(s, max) : 0;
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
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

static void checks_post_waiters(struct batch *b, enum checks_status st)
{
    for (size_t i = 0; i < b->n_waiters; i++) {
        b->waiters[i]->status = st;
        sem_post(&b->waiters[i]->done);
    }
    b->n_waiters = 0;
}

/* Sends the pending batch when nothing is in flight. */
static void checks_flush(struct checks *c, int64_t now)
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
        batch_free(b);
        return;
    }
    /* The engine is behind: keep the batch (nothing is dropped) and try
     * again shortly; new reports queue behind it. */
    c->pending = b;
    c->retry_at = now + 100;
}

/* The engine finished the batch in flight. */
static void checks_batch_finished(struct checks *c, int64_t now)
{
    struct batch *b = c->inflight;
    if (!b || !atomic_load(&c->inflight_done))
        return;
    c->inflight = NULL;
    if (b->cmd.status == ENGINE_OK) {
        checks_post_waiters(b, CHECKS_OK);
        batch_free(b);
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
                struct check_report *r = batch_add(c);
                if (r)
                    *r = later->reports[i];
            }
            for (size_t i = 0; i < later->n_owned; i++)
                batch_own(b, later->owned[i]);
            for (size_t i = 0; i < later->n_waiters; i++)
                batch_wait(b, later->waiters[i]);
            later->n = later->n_owned = later->n_waiters = 0;
            batch_free(later);
        } else {
            c->pending = b;
        }
        c->retry_at = now + 200;
        return;
    }
    atomic_fetch_add(&c->stats.reports_lost, (long long)b->n);
    checks_post_waiters(b, b->cmd.status == ENGINE_EBUSY ? CHECKS_EBUSY : CHECKS_ESTORE);
    batch_free(b);
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

static const char *checks_state_name(const struct check_rt *rt, int state)
{
    if (rt->def->is_host) {
        if (state == CHECK_OK)
            return "UP";
        return rt->unreach ? "UNREACHABLE" : "DOWN";
    }
    return check_status_name(state);
}

/* The first line of the output. */
static size_t checks_first_line(const char *out, size_t max)
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
static void checks_row(struct checks *c, struct check_report *r, struct check_rt *rt, bool history,
                       bool hard_change)
{
    struct batch *b = c->pending;
    r->has_row = true;
    r->history = history;
    r->hard_change = hard_change;
    r->labels = &rt->def->labels;
    r->row.id = batch_own(b, strdup(rt->id));
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
    r->row.output = batch_own(b, checks_strndup(rt->output, MAX_HISTORY_OUTPUT));
    /* The history array is copied by SQLite at bind time, but the batch is
     * bound later on another thread: keep a copy of it as well. */
    if (rt->st.n_history) {
        char *h = malloc(rt->st.n_history);
        if (h) {
            memcpy(h, rt->st.history, rt->st.n_history);
            r->row.history = (const uint8_t *)batch_own(b, h);
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
static int checks_reconcile(struct checks *c, struct check_rt *rt, int64_t now,
                            struct check_report *r)
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
    if (!r && !(r = batch_add(c)))
        return -1;
    return checks_event(c, r, rt, firing, now);
}

/* Re-judges the checks that depend on rt after its HARD state changed. */
static int checks_propagate(struct checks *c, struct check_rt *rt, int64_t now, int depth)
{
    if (depth > 32)
        return 0; /* parents form a tree, but depends_on may not; bound it */
    for (size_t i = 0; i < rt->n_dependents; i++) {
        struct check_rt *d = rt->dependents[i];
        if (!checks_judge_reach(d))
            continue;
        if (checks_reconcile(c, d, now, NULL))
            return -1;
        if (d->def->is_host && checks_propagate(c, d, now, depth + 1))
            return -1;
    }
    return 0;
}

static void checks_observe(atomic_llong *buckets, atomic_llong *sum_us, int64_t ms)
{
    double secs = (double)(ms < 0 ? 0 : ms) / 1000.0;
    int b = 0;
    while (b < N_BOUNDS && secs > checks_bounds[b])
        b++;
    atomic_fetch_add_explicit(&buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(sum_us, (long long)(secs * 1e6), memory_order_relaxed);
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

    check_state_apply(&rt->st, &rt->pol, status, now, &tr);
    if (tr.changed || tr.flap_started || tr.flap_stopped || always_store) {
        if (!(r = batch_add(c)))
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
        r->note = batch_own(c->pending, strdup(note));
        r->note_key = batch_own(c->pending, strdup(rt->id));
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
    if (rc == 0 && w && batch_wait(c->pending ? c->pending : (c->pending = batch_new()), w))
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
            heap_remove(c, &rt->item);
            return;
        }
        next = (rt->last_result_ms ? rt->last_result_ms : now) + def->freshness_ms;
    } else if (rt->st.state != CHECK_OK && rt->st.state_type == STATE_SOFT) {
        next = now + (def->retry_interval_ms > 0 ? def->retry_interval_ms : def->interval_ms);
    } else {
        /* Stay on the grid the first run chose, so checks stay spread; when
         * saturated, the grid point has passed and the check runs next. */
        next = rt->item.due + def->interval_ms;
        if (next < now)
            next = now;
    }
    heap_put(c, which, &rt->item, next);
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
    if (res->truncated && out == res->output) {
        /* Kept: the first bytes, which hold the status line. */
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
    rt->last_latency_ms = now - rt->item.due;
    checks_observe(c->stats.latency, &c->stats.latency_sum_us, rt->last_latency_ms);
    atomic_fetch_add_explicit(&c->stats.run[def->type], 1, memory_order_relaxed);
    return 0;
}

/* Starts what is due in one heap while slots are free. */
static void checks_run_due(struct checks *c, int which, size_t limit, int64_t now)
{
    struct sched_item *it;
    size_t active = which == HEAP_CMD ? runner_active(c->runner) : probe_active(c->probes);
    while (active < limit && (it = heap_top(c, which)) && it->due <= now) {
        struct check_rt *rt = (struct check_rt *)it;
        heap_remove(c, it);
        if (rt->running)
            continue; /* rescheduled when the run ends */
        if (checks_start_one(c, rt, now) != 0) {
            /* Out of descriptors or processes: try again shortly. */
            atomic_fetch_add(&c->stats.spawn_retries, 1);
            heap_put(c, which, it, now + 100);
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
    while ((it = heap_top(c, HEAP_TIMER)) && it->due <= now) {
        heap_remove(c, it);
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
        if (!(r = batch_add(c)))
            return;
        r->has_hb = true;
        r->hb_ping = ping;
        r->hb.name = batch_own(c->pending, strdup(hb->name));
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
            if (!r && !(r = batch_add(c)))
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
    if (w && batch_wait(c->pending ? c->pending : (c->pending = batch_new()), w) == 0)
        w = NULL;
    if (w) {
        w->status = CHECKS_ESTORE;
        sem_post(&w->done);
    }
    if (next > 0)
        heap_put(c, HEAP_TIMER, &hb->item, next);
    else
        heap_remove(c, &hb->item);
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
    rt->item.heap_idx = UINT32_MAX;
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
    heap_put(c, checks_heap_of(def), &rt->item, due);
}

static struct hb_rt *checks_hb_new(const struct cfg_heartbeat *def, int64_t now)
{
    struct hb_rt *hb = calloc(1, sizeof(*hb));
    size_t n;
    if (!hb)
        return NULL;
    hb->item.heap_idx = UINT32_MAX;
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
            if (rt->item.heap_idx != UINT32_MAX && old_heap != checks_heap_of(def)) {
                heap_remove(c, &rt->item);
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
        heap_remove(c, &rt->item);
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
        heap_remove(c, &c->hbs[k]->item);
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
        heap_put(c, HEAP_TIMER, &c->hbs[i]->item, now + 1000);
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
                    heap_put(c, checks_heap_of(rt->def), &rt->item, now);
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
    size_t max_cmd =
        (size_t)(c->cfg->scheduler.max_concurrent > 0 ? c->cfg->scheduler.max_concurrent : 8);
    size_t max_probe =
        (size_t)(c->cfg->scheduler.max_probes > 0 ? c->cfg->scheduler.max_probes : 1000);
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
            struct sched_item *it = heap_top(c, h);
            size_t active = h == HEAP_CMD     ? runner_active(c->runner)
                            : h == HEAP_PROBE ? probe_active(c->probes)
                                              : 0;
            size_t lim = h == HEAP_CMD ? max_cmd : h == HEAP_PROBE ? max_probe : SIZE_MAX;
            if (it && active < lim)
                wait = checks_min_wait(wait, it->due > now ? it->due - now : 0);
        }
        wait = checks_min_wait(wait, runner_next_timeout(c->runner, now));
        wait = checks_min_wait(wait, probe_next_timeout(c->probes, now));
        if (c->pending && c->pending->n && !c->inflight)
            wait = checks_min_wait(wait, c->retry_at > now ? c->retry_at - now : 0);
        int n = epoll_wait(c->epfd, evs, 8, (int)(wait < 0 ? 0 : wait));
        now = clock_now_ms();
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == c->inbox_fd || evs[i].data.fd == c->done_fd)
                checks_drain_fd(evs[i].data.fd);
        }
        runner_poll(c->runner, now, checks_runner_done, c);
        probe_poll(c->probes, now, checks_probe_done, c);
        if (c->n_orphans)
            checks_free_orphans(c);
    }
    /* Stopping: nothing new starts; what ran is reported. */
    int64_t now = clock_now_ms();
    runner_poll(c->runner, now, checks_runner_done, c);
    probe_poll(c->probes, now, checks_probe_done, c);
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
        batch_free(c->inflight);
    }
    if (c->pending) {
        checks_post_waiters(c->pending, CHECKS_ESTORE);
        batch_free(c->pending);
    }
    runner_free(c->runner);
    probe_free(c->probes);
    for (size_t i = 0; i < c->n_orphans; i++)
        checks_rt_free(c->orphans[i]);
    free(c->orphans);
    checks_free_rts(c);
    for (int h = 0; h < N_HEAPS; h++)
        free(c->heap[h]);
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

/* ---- read views ---- */

static json_t *checks_ts(int64_t ms)
{
    char buf[40];
    return ms ? json_string(timefmt_format_rfc3339(ms, buf, sizeof(buf))) : json_null();
}

static const char *const type_names[] = {"command", "tcp", "http", "passive"};

/* One check as the API shows it; full adds output details. c->lock held. */
static json_t *checks_rt_json(const struct check_rt *rt, bool full)
{
    const struct cfg_check *def = rt->def;
    bool known = rt->st.last_check_ms != 0;
    json_t *o = json_pack(
        "{ss ss ss ss ss si ss si si so so so sb sf ss? so}", "id", rt->id, "host", def->host,
        "name", def->is_host ? "" : def->name, "type", type_names[def->type], "state",
        known ? checks_state_name(rt, rt->st.state) : "PENDING", "state_code", rt->st.state,
        "state_type", state_type_name(rt->st.state_type), "attempt", rt->st.attempt, "max_attempts",
        rt->pol.max_attempts, "last_check", checks_ts(rt->st.last_check_ms), "last_change",
        checks_ts(rt->st.last_change_ms), "last_hard_change", checks_ts(rt->st.last_hard_change_ms),
        "flapping", rt->st.flapping, "flap_percent", rt->st.flap_percent, "unreachable",
        rt->unreach, "labels", labels_to_json(&def->labels));
    size_t fl = checks_first_line(rt->output, MAX_OUTPUT_KEPT);
    struct plugin_output po = {0};
    if (rt->output)
        plugin_output_parse(rt->output, strlen(rt->output), &po);
    json_object_set_new(o, "output", json_string(po.summary ? po.summary : ""));
    json_object_set_new(o, "is_host_check", json_boolean(def->is_host));
    json_object_set_new(o, "next_check",
                        rt->item.heap_idx != UINT32_MAX ? checks_ts(rt->item.due) : json_null());
    if (full) {
        json_object_set_new(o, "long_output",
                            po.long_output ? json_string(po.long_output) : json_null());
        json_object_set_new(o, "perfdata", plugin_perf_to_json(&po));
        json_object_set_new(o, "raw_output",
                            rt->output ? json_stringn(rt->output, strlen(rt->output))
                                       : json_null());
        json_object_set_new(o, "latency_ms", json_integer(rt->last_latency_ms));
        json_object_set_new(o, "execution_ms", json_integer(rt->last_exec_ms));
        json_object_set_new(o, "interval_s", json_real((double)def->interval_ms / 1000.0));
        json_object_set_new(o, "retry_interval_s",
                            json_real((double)def->retry_interval_ms / 1000.0));
        json_object_set_new(o, "timeout_s", json_real((double)def->timeout_ms / 1000.0));
        json_object_set_new(o, "notes", def->notes ? json_string(def->notes) : json_null());
        json_object_set_new(o, "runbook", def->runbook ? json_string(def->runbook) : json_null());
        if (def->command)
            json_object_set_new(o, "command", json_string(def->command));
        json_t *deps = json_array();
        for (size_t i = 0; i < def->n_deps; i++)
            json_array_append_new(deps, json_pack("{ss ss*}", "target", def->deps[i].target,
                                                  "group", def->deps[i].group));
        json_object_set_new(o, "depends_on", deps);
    } else {
        json_object_set_new(o, "perfdata_items", json_integer((json_int_t)po.n_perf));
    }
    (void)fl;
    plugin_output_clear(&po);
    return o;
}

static bool checks_state_matches(const struct check_rt *rt, const char *state)
{
    if (!state)
        return true;
    if (strcasecmp(state, "problem") == 0)
        return rt->st.state != CHECK_OK;
    if (strcasecmp(state, "pending") == 0)
        return rt->st.last_check_ms == 0;
    return rt->st.last_check_ms != 0 && strcasecmp(state, checks_state_name(rt, rt->st.state)) == 0;
}

static bool checks_filter_matches(const struct check_rt *rt, const struct checks_filter *f)
{
    if (f->host && strcmp(rt->def->host, f->host) != 0)
        return false;
    if (!checks_state_matches(rt, f->state))
        return false;
    if (f->after && strcmp(rt->id, f->after) <= 0)
        return false;
    for (size_t i = 0; i < f->n_matchers; i++) {
        if (!route_matcher_matches(&f->matchers[i], &rt->def->labels))
            return false;
    }
    return true;
}

static int checks_cmp_id(const void *a, const void *b)
{
    const struct check_rt *x = *(const struct check_rt *const *)a;
    const struct check_rt *y = *(const struct check_rt *const *)b;
    return strcmp(x->id, y->id);
}

/* Collects matching checks in id order (c->lock held); caller frees. */
static struct check_rt **checks_select(struct checks *c, const struct checks_filter *f,
                                       bool hosts_only, size_t *n_out)
{
    struct check_rt **v = malloc((c->n_rts ? c->n_rts : 1) * sizeof(*v));
    size_t n = 0;
    if (!v)
        return NULL;
    for (size_t i = 0; i < c->n_rts; i++) {
        struct check_rt *rt = c->rts[i];
        if (hosts_only ? !rt->def->is_host : rt->def->is_host)
            continue;
        if (checks_filter_matches(rt, f))
            v[n++] = rt;
    }
    qsort(v, n, sizeof(*v), checks_cmp_id);
    *n_out = n;
    return v;
}

json_t *checks_services_json(struct checks *c, const struct checks_filter *f, bool *more)
{
    json_t *arr = json_array();
    size_t n;
    int limit = f->limit > 0 ? f->limit : 100;
    pthread_mutex_lock(&c->lock);
    struct check_rt **v = checks_select(c, f, false, &n);
    for (size_t i = 0; v && i < n && i < (size_t)limit; i++)
        json_array_append_new(arr, checks_rt_json(v[i], false));
    *more = v && n > (size_t)limit;
    pthread_mutex_unlock(&c->lock);
    free(v);
    return arr;
}

struct host_count {
    int checks, problems;
};

json_t *checks_hosts_json(struct checks *c, const struct checks_filter *f, bool *more)
{
    json_t *arr = json_array();
    const struct config *cfg;
    int limit = f->limit > 0 ? f->limit : 100;
    size_t nh = 0;
    struct strmap counts = {0};
    struct host_count *cv = NULL;

    pthread_mutex_lock(&c->lock);
    cfg = c->cfg;
    const struct cfg_host **hv = malloc((cfg->n_hosts ? cfg->n_hosts : 1) * sizeof(*hv));
    cv = calloc(cfg->n_hosts ? cfg->n_hosts : 1, sizeof(*cv));
    for (size_t i = 0; hv && cv && i < cfg->n_hosts; i++) {
        const struct cfg_host *h = &cfg->hosts[i];
        strmap_put(&counts, h->name, &cv[i]);
        if (f->host && strcmp(h->name, f->host) != 0)
            continue;
        if (f->after && strcmp(h->name, f->after) <= 0)
            continue;
        bool ok = true;
        for (size_t m = 0; m < f->n_matchers && ok; m++)
            ok = route_matcher_matches(&f->matchers[m], &h->labels);
        if (ok)
            hv[nh++] = h;
    }
    for (size_t i = 0; cv && i < c->n_rts; i++) {
        struct host_count *hc = strmap_get(&counts, c->rts[i]->def->host);
        if (hc && !c->rts[i]->def->is_host) {
            hc->checks++;
            hc->problems += c->rts[i]->st.state != CHECK_OK;
        }
    }
    for (size_t i = 1; i < nh; i++) { /* hosts in name order for paging */
        const struct cfg_host *x = hv[i];
        size_t j = i;
        while (j > 0 && strcmp(hv[j - 1]->name, x->name) > 0) {
            hv[j] = hv[j - 1];
            j--;
        }
        hv[j] = x;
    }
    *more = false;
    for (size_t i = 0; i < nh; i++) {
        const struct cfg_host *h = hv[i];
        const struct check_rt *hc =
            h->check >= 0 ? strmap_get(&c->by_id, cfg->checks[h->check].id) : NULL;
        const char *state = !hc                         ? "UP"
                            : hc->st.last_check_ms == 0 ? "PENDING"
                                                        : checks_state_name(hc, hc->st.state);
        if (f->state && strcasecmp(f->state, state) != 0 &&
            !(strcasecmp(f->state, "problem") == 0 && hc && hc->st.state != CHECK_OK))
            continue;
        if (json_array_size(arr) == (size_t)limit) {
            *more = true;
            break;
        }
        json_t *parents = json_array();
        for (size_t p = 0; p < h->n_parents; p++)
            json_array_append_new(parents, json_string(h->parents[p]));
        struct host_count *cnt = strmap_get(&counts, h->name);
        json_t *o = json_pack("{ss ss so so ss si si}", "name", h->name, "address",
                              h->address ? h->address : h->name, "labels",
                              labels_to_json(&h->labels), "parents", parents, "state", state,
                              "checks", cnt ? cnt->checks : 0, "problems", cnt ? cnt->problems : 0);
        if (hc) {
            size_t fl = checks_first_line(hc->output, 1024);
            json_object_set_new(o, "state_type", json_string(state_type_name(hc->st.state_type)));
            json_object_set_new(o, "output", json_stringn(hc->output ? hc->output : "", fl));
            json_object_set_new(o, "last_check", checks_ts(hc->st.last_check_ms));
            json_object_set_new(o, "last_change", checks_ts(hc->st.last_change_ms));
            json_object_set_new(o, "unreachable",
                                hc->unreach ? json_string(hc->unreach) : json_null());
        }
        json_object_set_new(o, "notes", h->notes ? json_string(h->notes) : json_null());
        json_array_append_new(arr, o);
    }
    pthread_mutex_unlock(&c->lock);
    strmap_free(&counts);
    free(cv);
    free(hv);
    return arr;
}

json_t *checks_service_json(struct checks *c, const char *id)
{
    json_t *o = NULL;
    pthread_mutex_lock(&c->lock);
    struct check_rt *rt = strmap_get(&c->by_id, id);
    if (rt)
        o = checks_rt_json(rt, true);
    pthread_mutex_unlock(&c->lock);
    return o;
}

json_t *checks_heartbeats_json(struct checks *c)
{
    json_t *arr = json_array();
    int64_t now = clock_now_ms();
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n_hbs; i++) {
        struct hb_rt *hb = c->hbs[i];
        char text[256];
        int64_t next = 0;
        int status = heartbeat_evaluate(&hb->st, &hb->pol, now, text, sizeof(text), &next);
        json_t *o = json_pack(
            "{ss ss ss so so so so so sI sI sI}", "name", hb->name, "state",
            check_status_name(status), "output", text, "last_ping", checks_ts(hb->st.last_ping_ms),
            "last_success", checks_ts(hb->st.last_success_ms), "running_since",
            checks_ts(hb->st.started_ms), "last_fail", checks_ts(hb->st.last_fail_ms), "next_due",
            checks_ts(next), "period_s", (json_int_t)(hb->pol.period_ms / 1000), "grace_s",
            (json_int_t)(hb->pol.grace_ms / 1000), "max_runtime_s",
            (json_int_t)(hb->pol.max_runtime_ms / 1000));
        if (hb->st.has_value)
            json_object_set_new(o, "last_value", json_real(hb->st.last_value));
        json_object_set_new(o, "labels", labels_to_json(&hb->def->labels));
        json_array_append_new(arr, o);
    }
    pthread_mutex_unlock(&c->lock);
    return arr;
}

/* ---- metrics ---- */

static void checks_histogram(FILE *f, const char *name, const char *help, atomic_llong *b,
                             atomic_llong *sum_us)
{
    long long cum = 0;
    fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (int i = 0; i <= N_BOUNDS; i++) {
        cum += atomic_load(&b[i]);
        if (i < N_BOUNDS)
            fprintf(f, "%s_bucket{le=\"%g\"} %lld\n", name, checks_bounds[i], cum);
        else
            fprintf(f, "%s_bucket{le=\"+Inf\"} %lld\n", name, cum);
    }
    fprintf(f, "%s_sum %.6f\n%s_count %lld\n", name, (double)atomic_load(sum_us) / 1e6, name, cum);
}

void checks_metrics_write(struct checks *c, FILE *f)
{
    static const char *const states[] = {"ok", "warning", "critical", "unknown"};
    long long by_state[4] = {0}, soft = 0, flapping = 0, unreachable = 0;
    size_t n_checks, running;

    fputs("# HELP tocsin_checks_run_total Checks started, by type (passive: results "
          "received).\n# TYPE tocsin_checks_run_total counter\n",
          f);
    for (int t = 0; t < 4; t++)
        fprintf(f, "tocsin_checks_run_total{type=\"%s\"} %lld\n", type_names[t],
                (long long)atomic_load(&c->stats.run[t]));
    fputs("# HELP tocsin_check_results_total Check results, by state.\n"
          "# TYPE tocsin_check_results_total counter\n",
          f);
    for (int s = 0; s < 4; s++)
        fprintf(f, "tocsin_check_results_total{state=\"%s\"} %lld\n", states[s],
                (long long)atomic_load(&c->stats.results[s]));
    fprintf(f,
            "# HELP tocsin_checks_completed_total Plugin and probe runs finished.\n"
            "# TYPE tocsin_checks_completed_total counter\ntocsin_checks_completed_total %lld\n",
            (long long)atomic_load(&c->stats.completed));
    checks_histogram(f, "tocsin_check_latency_seconds",
                     "How late checks started against their schedule.", c->stats.latency,
                     &c->stats.latency_sum_us);
    checks_histogram(f, "tocsin_check_execution_seconds", "How long plugins and probes ran.",
                     c->stats.exec, &c->stats.exec_sum_us);
    pthread_mutex_lock(&c->lock);
    n_checks = c->n_rts;
    for (size_t i = 0; i < c->n_rts; i++) {
        const struct check_rt *rt = c->rts[i];
        by_state[rt->st.state & 3]++;
        soft += rt->st.state != CHECK_OK && rt->st.state_type == STATE_SOFT;
        flapping += rt->st.flapping;
        unreachable += rt->unreach != NULL && rt->st.state != CHECK_OK;
    }
    running = runner_active(c->runner) + probe_active(c->probes);
    pthread_mutex_unlock(&c->lock);
    fputs("# HELP tocsin_checks Configured checks, by current state.\n"
          "# TYPE tocsin_checks gauge\n",
          f);
    for (int s = 0; s < 4; s++)
        fprintf(f, "tocsin_checks{state=\"%s\"} %lld\n", states[s], by_state[s]);
    fprintf(f,
            "# HELP tocsin_checks_configured Checks in the configuration.\n"
            "# TYPE tocsin_checks_configured gauge\ntocsin_checks_configured %zu\n"
            "# HELP tocsin_checks_running Plugins and probes in flight.\n"
            "# TYPE tocsin_checks_running gauge\ntocsin_checks_running %zu\n"
            "# HELP tocsin_checks_soft Checks in a SOFT problem state (retrying).\n"
            "# TYPE tocsin_checks_soft gauge\ntocsin_checks_soft %lld\n"
            "# HELP tocsin_checks_flapping Checks flapping.\n"
            "# TYPE tocsin_checks_flapping gauge\ntocsin_checks_flapping %lld\n"
            "# HELP tocsin_checks_unreachable Problems explained by a failed parent.\n"
            "# TYPE tocsin_checks_unreachable gauge\ntocsin_checks_unreachable %lld\n"
            "# HELP tocsin_check_spawn_retries_total Starts postponed for lack of resources.\n"
            "# TYPE tocsin_check_spawn_retries_total counter\n"
            "tocsin_check_spawn_retries_total %lld\n"
            "# HELP tocsin_check_reports_lost_total Check reports the engine could not store.\n"
            "# TYPE tocsin_check_reports_lost_total counter\n"
            "tocsin_check_reports_lost_total %lld\n",
            n_checks, running, soft, flapping, unreachable,
            (long long)atomic_load(&c->stats.spawn_retries),
            (long long)atomic_load(&c->stats.reports_lost));
}
