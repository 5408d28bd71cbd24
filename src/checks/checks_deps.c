/*
 * checks_deps.c - whose problem explains whose. A service is unreachable
 * when its host's check is down; a host when every one of its parents is
 * down (Nagios's rule: parents are one redundancy group); any check when
 * every target of one of its depends_on groups is down (Icinga's redundancy
 * groups). Such a problem is reported as suppressed, with the alert that
 * pages for the root cause.
 */
#include "checks_int.h"

#include "../base/strmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void checks_rt_free_deps(struct check_rt *rt)
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
int checks_link(struct checks *c)
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

bool checks_is_problem(const struct check_rt *rt)
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
bool checks_judge_reach(struct check_rt *rt)
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

/* Re-judges the checks that depend on rt after its HARD state changed. */
int checks_propagate(struct checks *c, struct check_rt *rt, int64_t now, int depth)
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
