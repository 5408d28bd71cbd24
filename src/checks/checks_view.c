/*
 * checks_view.c - what the API and /metrics read of the scheduler's live
 * state: services, hosts and heartbeats as JSON, and the counters and
 * histograms in Prometheus text. Readers hold the scheduler's mutex only
 * while they copy.
 */
#include "checks_int.h"

#include "../base/clock.h"
#include "../base/strmap.h"
#include "../base/timefmt.h"
#include "../engine/route.h"
#include "plugin_output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const double checks_bounds[N_BOUNDS] = {0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01,
                                        0.0125, 0.016, 0.02,  0.025, 0.035, 0.05,   0.075,
                                        0.1,    0.25,  0.5,   1,     2.5,   5,      10};

void checks_observe(atomic_llong *buckets, atomic_llong *sum_us, int64_t ms)
{
    double secs = (double)(ms < 0 ? 0 : ms) / 1000.0;
    int b = 0;
    while (b < N_BOUNDS && secs > checks_bounds[b])
        b++;
    atomic_fetch_add_explicit(&buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(sum_us, (long long)(secs * 1e6), memory_order_relaxed);
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
    struct plugin_output po = {0};
    if (rt->output)
        plugin_output_parse(rt->output, strlen(rt->output), &po);
    json_object_set_new(o, "output", json_string(po.summary ? po.summary : ""));
    json_object_set_new(o, "is_host_check", json_boolean(def->is_host));
    json_object_set_new(o, "next_check",
                        rt->item.node.idx != HEAP_NOT_IN ? checks_ts(rt->item.node.key)
                                                         : json_null());
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

static int checks_cmp_host(const void *a, const void *b)
{
    const struct cfg_host *x = *(const struct cfg_host *const *)a;
    const struct cfg_host *y = *(const struct cfg_host *const *)b;
    return strcmp(x->name, y->name);
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
    if (hv)
        qsort(hv, nh, sizeof(*hv), checks_cmp_host); /* name order, for paging */
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
