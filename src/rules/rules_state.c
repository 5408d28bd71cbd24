/*
 * rules_state.c - the per-series states of rules: alert labels and their
 * fingerprints, the map from fingerprint to state, the inactive -> pending
 * -> firing machine, and the events that keep the spine in line with it.
 *
 * The spine is told what changed by comparing each state with what was last
 * sent (rseries.sent): a firing state not yet triggered at its severity gets
 * a trigger, a state no longer firing that was triggered gets a resolve. The
 * queue records what it asked for; only when the emit callback took a batch
 * do the states remember it, so a batch the engine refused is built again at
 * the rule's next evaluation.
 */
#include "rules_int.h"

#include "../base/log.h"
#include "template.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- alert labels ---- */

/*
 * The alert labels are a merge of three sorted lists: the series' labels
 * (without __name__), the rule's labels (which win), and one fixed pair
 * (alertname, or __name__ for recording rules, which wins over both). The
 * merge is walked once to hash and once more to build, so an evaluation of
 * a known series allocates nothing.
 */
struct lmerge {
    const struct labelset *a, *b;
    size_t i, j;
    const char *cn, *cv; /* the fixed pair; cn NULL once emitted */
};

static void lmerge_init(struct lmerge *m, const struct rrule *rr, const struct labelset *sl)
{
    m->a = sl;
    m->b = &rr->cfg->labels;
    m->i = m->j = 0;
    if (rr->cfg->kind == RULE_RECORD) {
        m->cn = "__name__";
    } else {
        m->cn = "alertname";
    }
    m->cv = rr->cfg->name;
}

/* The next pair of the merge, skipping empty values; false at the end. */
static bool lmerge_next(struct lmerge *m, const char **name, const char **value)
{
    for (;;) {
        /* __name__ of the series never takes part. */
        while (m->i < m->a->n && strcmp(m->a->v[m->i].name, "__name__") == 0)
            m->i++;
        const char *na = m->i < m->a->n ? m->a->v[m->i].name : NULL;
        const char *nb = m->j < m->b->n ? m->b->v[m->j].name : NULL;
        const char *nc = m->cn;
        const char *best = na;
        if (nb && (!best || strcmp(nb, best) < 0))
            best = nb;
        if (nc && (!best || strcmp(nc, best) < 0))
            best = nc;
        if (!best)
            return false;
        const char *val = NULL;
        /* Take the winner's value, and step over every list that has this name. */
        bool ta = na && strcmp(na, best) == 0;
        bool tb = nb && strcmp(nb, best) == 0;
        bool tc = nc && strcmp(nc, best) == 0;
        if (ta)
            val = m->a->v[m->i].value;
        if (tb)
            val = m->b->v[m->j].value;
        if (tc)
            val = m->cv;
        const char *nm = best;
        if (ta)
            m->i++;
        if (tb)
            m->j++;
        if (tc)
            m->cn = NULL;
        if (val && *val) {
            *name = nm;
            *value = val;
            return true;
        }
    }
}

#define FNV64_OFFSET 14695981039346656037ULL
#define FNV64_PRIME  1099511628211ULL

static uint64_t fnv_str(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= FNV64_PRIME;
    }
    return h;
}

static uint64_t fnv_byte(uint64_t h, unsigned char c)
{
    h ^= c;
    h *= FNV64_PRIME;
    return h;
}

uint64_t rules_alert_fp(const struct rrule *rr, const struct labelset *sl)
{
    struct lmerge m;
    const char *n, *v;
    uint64_t h = FNV64_OFFSET;
    lmerge_init(&m, rr, sl);
    while (lmerge_next(&m, &n, &v)) {
        h = fnv_str(h, n);
        h = fnv_byte(h, 0xff);
        h = fnv_str(h, v);
        h = fnv_byte(h, 0xff);
    }
    return h;
}

int rules_alert_labels(const struct rrule *rr, const struct labelset *sl, struct labelset *out)
{
    struct lmerge m;
    const char *n, *v;
    size_t cnt = 0;
    out->n = 0;
    out->v = NULL;
    lmerge_init(&m, rr, sl);
    while (lmerge_next(&m, &n, &v))
        cnt++;
    if (cnt == 0)
        return 0;
    out->v = calloc(cnt, sizeof(*out->v));
    if (!out->v)
        return -1;
    lmerge_init(&m, rr, sl);
    while (lmerge_next(&m, &n, &v)) {
        struct label *l = &out->v[out->n];
        l->name = strdup(n);
        l->value = strdup(v);
        if (!l->name || !l->value) {
            free(l->name);
            free(l->value);
            labels_free(out);
            return -1;
        }
        out->n++;
    }
    return 0;
}

/* ---- the fingerprint map ---- */

static size_t rmap_slot(const struct rmap *m, uint64_t fp)
{
    /* Fingerprints are FNV hashes; mix them so the low bits spread. */
    uint64_t h = fp ^ (fp >> 29);
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return (size_t)h & (m->cap - 1);
}

/* Indexes rr->s[0..ns) into the map's arrays (cap > ns). */
static void rmap_fill(struct rrule *rr)
{
    memset(rr->map.idx, 0xff, rr->map.cap * sizeof(*rr->map.idx));
    for (size_t i = 0; i < rr->ns; i++) {
        size_t k = rmap_slot(&rr->map, rr->s[i]->fp);
        while (rr->map.idx[k] != UINT32_MAX)
            k = (k + 1) & (rr->map.cap - 1);
        rr->map.fp[k] = rr->s[i]->fp;
        rr->map.idx[k] = (uint32_t)i;
    }
}

/* Grows the map for want states. Returns -1 when out of memory (map unchanged). */
static int rmap_grow(struct rrule *rr, size_t want)
{
    size_t cap = 16;
    while (cap < want * 2)
        cap *= 2;
    uint64_t *fp = malloc(cap * sizeof(*fp));
    uint32_t *idx = malloc(cap * sizeof(*idx));
    if (!fp || !idx) {
        free(fp);
        free(idx);
        return -1;
    }
    free(rr->map.fp);
    free(rr->map.idx);
    rr->map.fp = fp;
    rr->map.idx = idx;
    rr->map.cap = cap;
    rmap_fill(rr);
    return 0;
}

struct rseries *rules_series_find(struct rrule *rr, uint64_t fp)
{
    if (rr->map.cap == 0)
        return NULL;
    size_t k = rmap_slot(&rr->map, fp);
    while (rr->map.idx[k] != UINT32_MAX) {
        if (rr->map.fp[k] == fp)
            return rr->s[rr->map.idx[k]];
        k = (k + 1) & (rr->map.cap - 1);
    }
    return NULL;
}

static void drop_adopted(struct rules *r, struct radopt *a)
{
    strmap_del(&r->adopted_map, a->key);
    for (size_t i = 0; i < r->n_adopted; i++) {
        if (r->adopted[i] == a) {
            r->adopted[i] = r->adopted[--r->n_adopted];
            break;
        }
    }
    free(a->key);
    free(a->rule);
    labels_free(&a->labels);
    free(a);
}

/* Claims an adopted alert for a new state of rr, when one waits under its key. */
static void claim_adopted(struct rules *r, struct rrule *rr, struct rseries *s)
{
    char key[EVENT_MAX_DEDUP_KEY + 64];
    rules_series_key(rr, s, key, sizeof(key));
    struct radopt *a = strmap_get(&r->adopted_map, key);
    if (!a || a->resolving)
        return;
    s->phase = RS_FIRING;
    s->adopted = true;
    s->sent = SENT_TRIGGER;
    s->sent_sev = a->sev;
    s->sent_sev_known = a->sev_known;
    s->sev = a->sev_known ? a->sev : rr->cfg->severity;
    s->active_since = s->firing_since =
        a->firing_since ? a->firing_since : (a->since ? a->since : rr->last_eval);
    drop_adopted(r, a);
}

struct rseries *rules_series_add(struct rules *r, struct rrule *rr, uint64_t fp,
                                 const struct labelset *sl)
{
    struct rseries *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->fp = fp;
    s->value = NAN;
    s->peak = NAN;
    s->sev = rr->cfg->severity;
    s->info.period = -1;
    if (sl && rules_alert_labels(rr, sl, &s->labels) != 0) {
        free(s);
        return NULL;
    }
    if (rr->ns == rr->cap) {
        size_t cap = rr->cap ? rr->cap * 2 : 8;
        struct rseries **ns = realloc(rr->s, cap * sizeof(*ns));
        if (!ns) {
            rules_series_free(s);
            return NULL;
        }
        rr->s = ns;
        rr->cap = cap;
    }
    rr->s[rr->ns++] = s;
    if (rr->ns * 2 > rr->map.cap) {
        if (rmap_grow(rr, rr->ns) != 0) {
            rr->ns--;
            rules_series_free(s);
            return NULL;
        }
    } else {
        size_t k = rmap_slot(&rr->map, fp);
        while (rr->map.idx[k] != UINT32_MAX)
            k = (k + 1) & (rr->map.cap - 1);
        rr->map.fp[k] = fp;
        rr->map.idx[k] = (uint32_t)(rr->ns - 1);
    }
    if (r->n_adopted > 0)
        claim_adopted(r, rr, s);
    return s;
}

void rules_series_free(struct rseries *s)
{
    if (!s)
        return;
    labels_free(&s->labels);
    baseline_free(s->bl);
    free(s);
}

void rules_rule_clear_states(struct rrule *rr)
{
    for (size_t i = 0; i < rr->ns; i++)
        rules_series_free(rr->s[i]);
    free(rr->s);
    free(rr->map.fp);
    free(rr->map.idx);
    rr->s = NULL;
    rr->ns = rr->cap = 0;
    memset(&rr->map, 0, sizeof(rr->map));
}

/*
 * Whether an unseen, quiet state is still worth keeping: absent rules keep
 * the series they know until forgotten (that is their memory), seasonal
 * rules keep a series' baseline for a horizon, so a series that pauses for a
 * night does not have to load its history again.
 */
static bool keep_unseen(const struct rrule *rr, const struct rseries *s, int64_t now)
{
    switch (rr->cfg->kind) {
    case RULE_ABSENT:
        return !s->gone; /* rules_kinds.c decides when they are forgotten */
    case RULE_SEASONAL:
        return s->bl && now - s->last_seen < rr->cfg->se.horizon_ms;
    default:
        return false;
    }
}

void rules_series_sweep(struct rrule *rr, int64_t now)
{
    size_t w = 0;
    bool removed = false;
    for (size_t i = 0; i < rr->ns; i++) {
        struct rseries *s = rr->s[i];
        bool quiet = s->phase == RS_INACTIVE && s->sent != SENT_TRIGGER && !s->queued;
        if (quiet && !s->seen && !keep_unseen(rr, s, now)) {
            rules_series_free(s);
            removed = true;
            continue;
        }
        rr->s[w++] = s;
    }
    rr->ns = w;
    /* Fewer states than before: the map's arrays are large enough, so it is
     * refilled in place (no allocation that could fail). */
    if (removed)
        rmap_fill(rr);
}

/* ---- the state machine ---- */

static void track_peak(const struct rrule *rr, struct rseries *s)
{
    if (isnan(s->value))
        return;
    bool low = false;
    if (rr->cfg->kind == RULE_STATIC || (rr->cfg->kind == RULE_SEASONAL && s->info.fallback))
        low = s->info.side == RULE_BELOW;
    else if (rr->cfg->kind == RULE_SEASONAL)
        low = s->info.band.ok && s->value < s->info.band.low;
    else if (rr->cfg->kind == RULE_FORECAST)
        low = rr->cfg->fc.dir == RULE_BELOW;
    if (isnan(s->peak) || (low ? s->value < s->peak : s->value > s->peak))
        s->peak = s->value;
}

void rules_series_step(struct rrule *rr, struct rseries *s, bool cond, int64_t now)
{
    const struct cfg_rule *c = rr->cfg;
    if (cond) {
        s->last_true = now;
        s->false_since = 0;
        if (s->phase == RS_INACTIVE) {
            s->phase = RS_PENDING;
            s->active_since = now;
            s->peak = NAN;
        }
        if (s->phase == RS_PENDING && now - s->active_since >= c->for_ms) {
            s->phase = RS_FIRING;
            s->firing_since = now;
        }
        track_peak(rr, s);
        return;
    }
    if (s->phase == RS_PENDING) {
        s->phase = RS_INACTIVE;
        s->active_since = 0;
    } else if (s->phase == RS_FIRING) {
        if (s->false_since == 0)
            s->false_since = now;
        if (now - s->false_since >= c->keep_firing_for_ms) {
            s->phase = RS_INACTIVE;
            s->active_since = 0;
            s->false_since = 0;
        }
    }
}

/* ---- events ---- */

void rules_series_key(const struct rrule *rr, const struct rseries *s, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%016llx", rr->cfg->name, (unsigned long long)s->fp);
}

/* A copy of s cut to at most max bytes on a UTF-8 boundary. */
static char *strdup_cut(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    char *o = malloc(n + 1);
    if (o) {
        memcpy(o, s, n);
        o[n] = 0;
    }
    return o;
}

static int labels_copy(struct labelset *dst, const struct labelset *src)
{
    dst->n = 0;
    dst->v = NULL;
    for (size_t i = 0; i < src->n; i++)
        if (labels_set(dst, src->v[i].name, src->v[i].value) != 0) {
            labels_free(dst);
            return -1;
        }
    return 0;
}

/* Builds the trigger or resolve event of s into ev. Returns -1 when out of memory. */
static int build_event(struct rules *r, struct rrule *rr, struct rseries *s, enum rs_sent want,
                       int64_t now, struct event *ev)
{
    char key[EVENT_MAX_DEDUP_KEY + 64];
    memset(ev, 0, sizeof(*ev));
    rules_series_key(rr, s, key, sizeof(key));
    ev->dedup_key = strdup_cut(key, EVENT_MAX_DEDUP_KEY);
    ev->source = strdup("rules");
    if (!ev->dedup_key || !ev->source || labels_copy(&ev->labels, &s->labels) != 0)
        goto fail;
    ev->severity = s->sev;
    if (want == SENT_RESOLVED) {
        ev->action = EVENT_RESOLVE;
        ev->timestamp_ms = now;
        return 0;
    }
    ev->action = EVENT_TRIGGER;
    ev->timestamp_ms = s->firing_since ? s->firing_since : now;

    char *expl = malloc(2048);
    char *link = rules_query_link(r, rr, now);
    char range[48], link_text[80];
    rules_fmt_dur(rules_link_range(r, rr), range, sizeof(range));
    snprintf(link_text, sizeof(link_text), "query over the last %s", range);
    json_t *ann = NULL;
    if (!expl || !link)
        goto fail_local;
    rules_explain(rr, s, expl, 2048);
    ann = rules_render_annotations(rr, s, expl);
    if (!ann)
        goto fail_local;
    const char *sum = json_string_value(json_object_get(ann, "summary"));
    if (sum && *sum) {
        ev->summary = strdup_cut(sum, EVENT_MAX_SUMMARY);
    } else {
        size_t need = strlen(rr->cfg->name) + strlen(expl) + 3;
        char *t = malloc(need);
        if (t) {
            snprintf(t, need, "%s: %s", rr->cfg->name, expl);
            ev->summary = strdup_cut(t, EVENT_MAX_SUMMARY);
            free(t);
        }
    }
    ev->details = json_object();
    ev->links = json_array();
    json_t *ln = json_object();
    if (!ev->summary || !ev->details || !ev->links || !ln)
        goto fail_ln;
    json_object_set_new(ln, "href", json_string(link));
    json_object_set_new(ln, "text", json_string(link_text));
    json_array_append_new(ev->links, ln);
    /* rules.h promises details.explanation next to the full object. */
    json_object_set_new(ev->details, "explanation", json_string(expl));
    json_object_set_new(ev->details, "tocsin_rule", rules_explain_json(r, rr, s, expl, link));
    json_object_set_new(ev->details, "annotations", ann);
    free(expl);
    free(link);
    return 0;
fail_ln:
    json_decref(ln);
fail_local:
    json_decref(ann);
    free(expl);
    free(link);
fail:
    event_clear(ev);
    memset(ev, 0, sizeof(*ev));
    return -1;
}

static void queue_item(struct rules *r, struct rseries *s, struct radopt *orphan, enum rs_sent want,
                       enum severity sev)
{
    struct rq_item *it = &r->items[r->nq++];
    it->s = s;
    it->orphan = orphan;
    it->want = want;
    it->sev = sev;
    if (s)
        s->queued = true;
    if (orphan)
        orphan->resolving = true;
    if (r->nq == EVENT_MAX_BATCH)
        rules_flush(r);
}

void rules_sync_rule(struct rules *r, struct rrule *rr, int64_t now)
{
    if (rr->cfg->kind == RULE_RECORD)
        return;
    for (size_t i = 0; i < rr->ns; i++) {
        struct rseries *s = rr->s[i];
        if (s->queued)
            continue;
        enum rs_sent want;
        if (s->phase == RS_FIRING) {
            if (s->sent == SENT_TRIGGER && !s->sent_sev_known) {
                /* An adopted alert: the spine has it open; its severity is
                 * taken as the current one rather than triggering again. */
                s->sent_sev = s->sev;
                s->sent_sev_known = true;
            }
            if (s->sent == SENT_TRIGGER && s->sent_sev == s->sev)
                continue;
            want = SENT_TRIGGER;
        } else {
            if (s->sent != SENT_TRIGGER)
                continue;
            want = SENT_RESOLVED;
        }
        if (build_event(r, rr, s, want, now, &r->ev[r->nq]) != 0) {
            log_warn("rules: out of memory building an event of %s", rr->cfg->name);
            continue;
        }
        queue_item(r, s, NULL, want, s->sev);
    }
}

void rules_sync_orphans(struct rules *r, int64_t now)
{
    for (size_t i = 0; i < r->n_adopted; i++) {
        struct radopt *a = r->adopted[i];
        if (a->resolving)
            continue;
        if (a->since == 0)
            a->since = now;
        /* Every rule of that name must have had its first evaluation since
         * the alert was adopted, and its keep_firing_for must have passed;
         * with no such rule the alert is resolved now. */
        bool ready = true;
        struct rrule *rr = strmap_get(&r->by_name, a->rule);
        for (; rr; rr = rr->next_same < 0 ? NULL : &r->rules[rr->next_same]) {
            if (rr->last_eval < a->since || now - a->since < rr->cfg->keep_firing_for_ms) {
                ready = false;
                break;
            }
        }
        if (!ready)
            continue;
        struct event *ev = &r->ev[r->nq];
        memset(ev, 0, sizeof(*ev));
        ev->action = EVENT_RESOLVE;
        ev->dedup_key = strdup_cut(a->key, EVENT_MAX_DEDUP_KEY);
        ev->source = strdup("rules");
        ev->timestamp_ms = now;
        ev->severity = a->sev;
        if (!ev->dedup_key || !ev->source || labels_copy(&ev->labels, &a->labels) != 0) {
            event_clear(ev);
            continue;
        }
        queue_item(r, NULL, a, SENT_RESOLVED, a->sev);
    }
}

void rules_flush(struct rules *r)
{
    if (r->nq == 0)
        return;
    int rc = 0;
    if (r->env.emit)
        rc = r->env.emit(r->env.emit_ctx, r->ev, r->nq);
    for (size_t i = 0; i < r->nq; i++) {
        struct rq_item *it = &r->items[i];
        if (it->s) {
            it->s->queued = false;
            if (rc == 0) {
                it->s->sent = it->want;
                it->s->sent_sev = it->sev;
                it->s->sent_sev_known = true;
            }
        } else if (it->orphan) {
            it->orphan->resolving = false;
            if (rc == 0)
                drop_adopted(r, it->orphan);
        }
        event_clear(&r->ev[i]);
    }
    if (rc == 0)
        r->st.events_sent += r->nq;
    else
        r->st.events_retried += r->nq;
    r->nq = 0;
}
