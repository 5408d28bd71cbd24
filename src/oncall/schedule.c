/*
 * schedule.c - final on-call shifts from layers, restrictions and overrides;
 * see schedule.h.
 *
 * A layer's turns are computed directly from their index: turn k of a daily
 * or weekly rotation starts on local date start + k * days at the handoff
 * minute (tz_from_local settles the date and DST), and turn k of an hourly
 * rotation starts k * hours of real time after the first handoff. The turn
 * that holds an instant is found by estimating k from the elapsed time and
 * correcting by a step or two, so asking about next year costs the same as
 * asking about tomorrow, however old the layer is.
 *
 * Restrictions are turned into one sorted list of windows for the asked range
 * (the union of every rule's windows) and intersected with the turns in one
 * sweep. The final schedule cuts the range at every edge of every piece; in
 * each elementary stretch between two edges the answer is constant, so it is
 * decided once there: an override, else the highest layer, else nobody.
 */
#include "schedule.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCHEDULE_HOUR_MS      (3600LL * 1000)
#define SCHEDULE_DAY_MS       (24 * SCHEDULE_HOUR_MS)
#define SCHEDULE_LOOKAHEAD_MS (90 * SCHEDULE_DAY_MS)

/* ---- Small helpers ---- */

static int64_t schedule_min(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t schedule_max(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* Floor division, so instants before the epoch format and count correctly. */
static int64_t schedule_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

/* A growable array of shifts; failed records an allocation failure so the
 * callers can push unconditionally and check once. */
struct schedule_vec {
    struct schedule_shift *v;
    size_t n, cap;
    bool failed;
};

static bool schedule_same_source(const struct schedule_shift *a, const struct schedule_shift *b)
{
    return a->layer == b->layer && a->override_id == b->override_id &&
           (a->user == b->user || strcmp(a->user, b->user) == 0);
}

/* Appends [start, end) for user, extending the last shift instead when it is
 * the same person from the same source and ends exactly where this starts:
 * a handoff from someone to themselves is no handoff. */
static void schedule_vec_push(struct schedule_vec *sv, const char *user, int64_t start, int64_t end,
                              int layer, int64_t override_id)
{
    if (sv->failed || start >= end)
        return;
    struct schedule_shift s = {
        .user = user, .start = start, .end = end, .layer = layer, .override_id = override_id};
    if (sv->n > 0) {
        struct schedule_shift *last = &sv->v[sv->n - 1];
        if (last->end == start && schedule_same_source(last, &s)) {
            last->end = end;
            return;
        }
    }
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 16;
        struct schedule_shift *nv = realloc(sv->v, cap * sizeof(*nv));
        if (!nv) {
            sv->failed = true;
            return;
        }
        sv->v = nv;
        sv->cap = cap;
    }
    sv->v[sv->n++] = s;
}

/* Hands the vector to the caller as the contract's (array, count). The array
 * is never NULL on success, even when empty, so callers need not tell "no
 * shifts" from a failure by the pointer. */
static int schedule_vec_finish(struct schedule_vec *sv, struct schedule_shift **out, size_t *n_out)
{
    if (!sv->failed && !sv->v) {
        sv->v = malloc(sizeof(*sv->v));
        if (!sv->v)
            sv->failed = true;
    }
    if (sv->failed) {
        free(sv->v);
        *out = NULL;
        *n_out = 0;
        return -1;
    }
    *out = sv->v;
    *n_out = sv->n;
    return 0;
}

/* ---- One layer ---- */

/* Where a layer's turns fall: enough to compute the start of turn k. */
struct schedule_clock {
    const struct cfg_layer *l;
    const struct tz *tz;
    int64_t first;     /* the first handoff, UTC ms */
    int64_t period_ms; /* length of a turn; for days and weeks the nominal one */
    int64_t days;      /* local days per turn (days and weeks), else 0 */
};

static void schedule_clock_init(struct schedule_clock *c, const struct cfg_layer *l,
                                const struct tz *tz)
{
    c->l = l;
    c->tz = tz;
    c->first =
        tz_from_local(tz, l->start_year, l->start_month, l->start_day, 0, l->handoff_minute, 0);
    switch (l->unit) {
    case ROT_DAYS:
        c->days = l->rotation;
        break;
    case ROT_WEEKS:
        c->days = 7LL * l->rotation;
        break;
    default:
        c->days = 0;
        break;
    }
    c->period_ms = c->days ? c->days * SCHEDULE_DAY_MS : l->rotation * SCHEDULE_HOUR_MS;
}

/* The start of turn k (k >= 0), or INT64_MAX when it lies beyond what the
 * arithmetic can hold, which every caller treats as "never". */
static int64_t schedule_turn_start(const struct schedule_clock *c, int64_t k)
{
    if (c->days == 0) {
        if (k > (INT64_MAX - c->first) / c->period_ms)
            return INT64_MAX;
        return c->first + k * c->period_ms;
    }
    /* The day offset is handed to tz_from_local as an int; a month's days
     * are kept in reserve so start_day + offset cannot overflow. */
    if (k > (INT_MAX - 62) / c->days)
        return INT64_MAX;
    const struct cfg_layer *l = c->l;
    return tz_from_local(c->tz, l->start_year, l->start_month, l->start_day + (int)(k * c->days), 0,
                         l->handoff_minute, 0);
}

/* The turn that holds t (t >= first). The nominal length can be off by the
 * DST shifts inside the elapsed time, which move the estimate by at most a
 * turn, so the correction loops run once or twice. */
static int64_t schedule_turn_at(const struct schedule_clock *c, int64_t t)
{
    if (t <= c->first)
        return 0;
    int64_t k = (t - c->first) / c->period_ms;
    while (k > 0 && schedule_turn_start(c, k) > t)
        k--;
    while (schedule_turn_start(c, k + 1) <= t)
        k++;
    return k;
}

struct schedule_window {
    int64_t start, end;
};

static int schedule_window_cmp(const void *a, const void *b)
{
    const struct schedule_window *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * The union of the layer's restriction windows within [from, to), sorted and
 * with overlapping or touching windows joined; tz is the layer's zone. Sets *out (owned by the
 * caller, possibly NULL when *n_out is 0). Returns -1 on allocation failure.
 */
static int schedule_windows(const struct cfg_layer *l, const struct tz *tz, int64_t from,
                            int64_t to, struct schedule_window **out, size_t *n_out)
{
    struct schedule_window *w = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *n_out = 0;
    for (size_t i = 0; i < l->n_restrictions; i++) {
        /* Restrictions are read in the layer's zone; one left without a zone
         * would otherwise silently mean UTC. */
        struct recur r = l->restrictions[i];
        if (!r.tz)
            r.tz = tz;
        int64_t t = from, s, e;
        /* Each call returns a window ending after t, so t strictly grows. */
        while (t < to && recur_window(&r, t, &s, &e) && s < to) {
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                struct schedule_window *nw = realloc(w, ncap * sizeof(*nw));
                if (!nw) {
                    free(w);
                    return -1;
                }
                w = nw;
                cap = ncap;
            }
            w[n].start = schedule_max(s, from);
            w[n].end = schedule_min(e, to);
            n++;
            t = e;
        }
    }
    if (n == 0) {
        free(w);
        return 0;
    }
    qsort(w, n, sizeof(*w), schedule_window_cmp);
    size_t m = 0;
    for (size_t i = 1; i < n; i++) {
        if (w[i].start <= w[m].end)
            w[m].end = schedule_max(w[m].end, w[i].end);
        else
            w[++m] = w[i];
    }
    *out = w;
    *n_out = m + 1;
    return 0;
}

/* Appends layer l's pieces in [from, to) to sv. tz is the zone to use when
 * the layer names none. Returns -1 on allocation failure. */
static int schedule_layer_into(const struct cfg_layer *l, int index, const struct tz *tz,
                               int64_t from, int64_t to, struct schedule_vec *sv)
{
    if (!l || l->n_users == 0 || !l->users || l->rotation < 1)
        return 0;
    if (l->tz)
        tz = l->tz;
    if (!tz)
        tz = tz_get("UTC", NULL, 0);
    if (!tz)
        return -1;
    struct schedule_clock c;
    schedule_clock_init(&c, l, tz);
    /* Nobody is on call before the first handoff or after the layer ends. */
    from = schedule_max(from, c.first);
    if (l->end_ms != 0)
        to = schedule_min(to, l->end_ms);
    if (from >= to)
        return 0;

    struct schedule_window *win = NULL;
    size_t n_win = 0, w = 0;
    if (l->n_restrictions > 0) {
        if (schedule_windows(l, tz, from, to, &win, &n_win) != 0)
            return -1;
        if (n_win == 0)
            return 0;
    }
    int64_t k = schedule_turn_at(&c, from);
    int64_t ts = schedule_turn_start(&c, k);
    while (ts < to && !sv->failed) {
        int64_t te = schedule_turn_start(&c, k + 1);
        int64_t s = schedule_max(ts, from), e = schedule_min(te, to);
        const char *user = l->users[k % (int64_t)l->n_users];
        if (l->n_restrictions == 0) {
            schedule_vec_push(sv, user, s, e, index, 0);
        } else {
            while (w < n_win && win[w].end <= s)
                w++;
            if (w == n_win)
                break;
            for (size_t j = w; j < n_win && win[j].start < e; j++)
                schedule_vec_push(sv, user, schedule_max(s, win[j].start),
                                  schedule_min(e, win[j].end), index, 0);
        }
        k++;
        ts = te;
    }
    free(win);
    return sv->failed ? -1 : 0;
}

int schedule_layer_shifts(const struct cfg_layer *l, int layer_index, int64_t from, int64_t to,
                          struct schedule_shift **out, size_t *n_out)
{
    struct schedule_vec sv = {0};
    *out = NULL;
    *n_out = 0;
    if (to > from && to - from > SCHEDULE_MAX_RANGE_MS)
        return -1;
    if (from < to && schedule_layer_into(l, layer_index, NULL, from, to, &sv) != 0)
        sv.failed = true;
    return schedule_vec_finish(&sv, out, n_out);
}

/* ---- The final schedule ---- */

static int schedule_i64_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The override holding instant t, the newest (highest id) when several do:
 * the last word on who takes the time is the latest one given. */
static const struct schedule_override *schedule_override_at(const struct schedule_override **ovs,
                                                            size_t n, int64_t t)
{
    const struct schedule_override *best = NULL;
    for (size_t i = 0; i < n; i++) {
        if (ovs[i]->start <= t && t < ovs[i]->end && (!best || ovs[i]->id > best->id))
            best = ovs[i];
    }
    return best;
}

int schedule_shifts(const struct cfg_schedule *s, const struct schedule_override *ov, size_t n_ov,
                    int64_t from, int64_t to, struct schedule_shift **out, size_t *n_out)
{
    struct schedule_vec res = {0}, *layers = NULL;
    const struct schedule_override **ovs = NULL;
    size_t n_ovs = 0, n_edges = 0, *next = NULL;
    int64_t *edges = NULL;

    *out = NULL;
    *n_out = 0;
    if (to > from && to - from > SCHEDULE_MAX_RANGE_MS)
        return -1;
    if (!s || from >= to)
        return schedule_vec_finish(&res, out, n_out);

    size_t n_layers = s->n_layers;
    layers = calloc(n_layers ? n_layers : 1, sizeof(*layers));
    next = calloc(n_layers ? n_layers : 1, sizeof(*next));
    ovs = malloc((n_ov ? n_ov : 1) * sizeof(*ovs));
    if (!layers || !next || !ovs)
        goto fail;
    size_t n_pieces = 0;
    for (size_t i = 0; i < n_layers; i++) {
        if (schedule_layer_into(&s->layers[i], (int)i, s->tz, from, to, &layers[i]) != 0)
            goto fail;
        n_pieces += layers[i].n;
    }
    for (size_t i = 0; i < n_ov; i++) {
        const struct schedule_override *o = &ov[i];
        if (o->schedule && s->name && strcmp(o->schedule, s->name) == 0 && o->user &&
            o->start < o->end && o->start < to && o->end > from)
            ovs[n_ovs++] = o;
    }

    /* Every edge of every piece, clipped to the range, sorted and unique. */
    edges = malloc((2 * (n_pieces + n_ovs) + 2) * sizeof(*edges));
    if (!edges)
        goto fail;
    edges[n_edges++] = from;
    edges[n_edges++] = to;
    for (size_t i = 0; i < n_layers; i++) {
        for (size_t j = 0; j < layers[i].n; j++) {
            edges[n_edges++] = layers[i].v[j].start;
            edges[n_edges++] = layers[i].v[j].end;
        }
    }
    for (size_t i = 0; i < n_ovs; i++) {
        edges[n_edges++] = schedule_max(ovs[i]->start, from);
        edges[n_edges++] = schedule_min(ovs[i]->end, to);
    }
    qsort(edges, n_edges, sizeof(*edges), schedule_i64_cmp);
    size_t m = 0;
    for (size_t i = 1; i < n_edges; i++) {
        if (edges[i] != edges[m])
            edges[++m] = edges[i];
    }
    n_edges = m + 1;

    for (size_t i = 0; i + 1 < n_edges; i++) {
        int64_t a = edges[i], b = edges[i + 1];
        const struct schedule_override *o = schedule_override_at(ovs, n_ovs, a);
        if (o) {
            schedule_vec_push(&res, o->user, a, b, -1, o->id);
            continue;
        }
        /* No edge lies inside (a, b), so a piece holding a holds all of it.
         * The per-layer cursors only move forward as a grows. */
        for (size_t li = n_layers; li-- > 0;) {
            const struct schedule_vec *L = &layers[li];
            while (next[li] < L->n && L->v[next[li]].end <= a)
                next[li]++;
            if (next[li] < L->n && L->v[next[li]].start <= a) {
                schedule_vec_push(&res, L->v[next[li]].user, a, b, (int)li, 0);
                break;
            }
        }
    }
    if (res.failed)
        goto fail;
    for (size_t i = 0; i < n_layers; i++)
        free(layers[i].v);
    free(layers);
    free(next);
    free(ovs);
    free(edges);
    if (schedule_vec_finish(&res, out, n_out))
        return -1;
    for (size_t i = 0; i < *n_out; i++)
        (*out)[i].schedule = s->name;
    return 0;

fail:
    for (size_t i = 0; layers && i < n_layers; i++)
        free(layers[i].v);
    free(layers);
    free(next);
    free(ovs);
    free(edges);
    res.failed = true;
    return schedule_vec_finish(&res, out, n_out);
}

const char *schedule_oncall_at(const struct cfg_schedule *s, const struct schedule_override *ov,
                               size_t n_ov, int64_t t, int64_t *until, int *layer)
{
    struct schedule_shift *sh = NULL;
    size_t n = 0;
    const char *user = NULL;
    int64_t u = 0;
    int lay = -1;
    int64_t horizon = t > INT64_MAX - SCHEDULE_LOOKAHEAD_MS ? INT64_MAX : t + SCHEDULE_LOOKAHEAD_MS;

    if (schedule_shifts(s, ov, n_ov, t, horizon, &sh, &n) == 0 && n > 0) {
        /* The shifts are clipped to [t, horizon), so someone on call at t has
         * the first shift, starting exactly at t. */
        if (sh[0].start == t) {
            user = sh[0].user;
            u = sh[0].end;
            lay = sh[0].layer;
        } else {
            u = sh[0].start;
        }
    }
    free(sh);
    if (until)
        *until = u;
    if (layer)
        *layer = lay;
    return user;
}

/* ---- iCalendar ---- */

/* A growable string; oom records an allocation failure so writers need not
 * check each append. */
struct schedule_buf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void schedule_buf_put(struct schedule_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void schedule_buf_str(struct schedule_buf *b, const char *s)
{
    schedule_buf_put(b, s, strlen(s));
}

/* Appends s as an RFC 5545 TEXT value: backslash, semicolon and comma are
 * escaped, a line break (LF, CRLF or CR) becomes "\n", and other control
 * characters, which TEXT does not allow, become spaces. */
static void schedule_buf_text(struct schedule_buf *b, const char *s)
{
    for (const char *p = s ? s : ""; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '\\' || ch == ';' || ch == ',') {
            char esc[2] = {'\\', (char)ch};
            schedule_buf_put(b, esc, 2);
        } else if (ch == '\r' || ch == '\n') {
            if (ch == '\r' && p[1] == '\n')
                p++;
            schedule_buf_put(b, "\\n", 2);
        } else if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            schedule_buf_put(b, " ", 1);
        } else {
            schedule_buf_put(b, p, 1);
        }
    }
}

/* Appends the logical content line in `line` to out, folded so that no
 * physical line exceeds 75 octets (a continuation starts with a space, which
 * counts), each ending in CRLF. A fold never falls inside a UTF-8 sequence,
 * so every physical line stays valid UTF-8 for readers that check. */
static void schedule_buf_line(struct schedule_buf *out, const struct schedule_buf *line)
{
    const char *s = line->p ? line->p : "";
    size_t n = line->len, pos = 0, limit = 75;
    while (n - pos > limit) {
        size_t cut = pos + limit;
        while (cut > pos && ((unsigned char)s[cut] & 0xc0) == 0x80)
            cut--;
        if (cut == pos) /* not UTF-8 at all: cut where the limit says */
            cut = pos + limit;
        schedule_buf_put(out, s + pos, cut - pos);
        schedule_buf_put(out, "\r\n ", 3);
        pos = cut;
        limit = 74;
    }
    schedule_buf_put(out, s + pos, n - pos);
    schedule_buf_put(out, "\r\n", 2);
}

/* Formats a UTC instant as an RFC 5545 UTC DATE-TIME ("20261102T080000Z");
 * milliseconds are dropped (shifts start on whole minutes in practice). */
static void schedule_ical_time(int64_t ms, char buf[32])
{
    time_t secs = (time_t)schedule_floor_div(ms, 1000);
    struct tm tm;
    if (!gmtime_r(&secs, &tm)) {
        snprintf(buf, 32, "19700101T000000Z");
        return;
    }
    snprintf(buf, 32, "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Writes "NAME:" followed by the escaped text value as one folded line. */
static void schedule_ical_prop(struct schedule_buf *out, struct schedule_buf *line,
                               const char *name, const char *text)
{
    line->len = 0;
    schedule_buf_str(line, name);
    schedule_buf_put(line, ":", 1);
    schedule_buf_text(line, text);
    schedule_buf_line(out, line);
    out->oom |= line->oom;
}

/* Writes "NAME:" followed by a value that needs no escaping (a time, a
 * constant) as one folded line. */
static void schedule_ical_raw(struct schedule_buf *out, struct schedule_buf *line, const char *name,
                              const char *value)
{
    line->len = 0;
    schedule_buf_str(line, name);
    schedule_buf_put(line, ":", 1);
    schedule_buf_str(line, value);
    schedule_buf_line(out, line);
    out->oom |= line->oom;
}

char *schedule_ical(const char *name, const char *uid_domain, const struct schedule_shift *shifts,
                    size_t n, const char *user, int64_t dtstamp)
{
    struct schedule_buf out = {0}, line = {0}, text = {0};
    char stamp[32], start[32], end[32];

    if (!name)
        name = "on call";
    if (!uid_domain || !*uid_domain)
        uid_domain = "tocsin";
    schedule_ical_time(dtstamp, stamp);

    schedule_buf_str(&out, "BEGIN:VCALENDAR\r\n");
    schedule_ical_raw(&out, &line, "VERSION", "2.0");
    schedule_ical_raw(&out, &line, "PRODID", "-//Tocsin//On call//EN");
    schedule_ical_raw(&out, &line, "CALSCALE", "GREGORIAN");
    schedule_ical_raw(&out, &line, "METHOD", "PUBLISH");
    schedule_ical_prop(&out, &line, "X-WR-CALNAME", name);
    for (size_t i = 0; i < n; i++) {
        const struct schedule_shift *sh = &shifts[i];
        const char *who = sh->user ? sh->user : "";
        const char *sname = sh->schedule ? sh->schedule : name;
        if (user && strcmp(user, who) != 0)
            continue;
        schedule_ical_time(sh->start, start);
        schedule_ical_time(sh->end, end);
        schedule_buf_str(&out, "BEGIN:VEVENT\r\n");

        text.len = 0;
        schedule_buf_str(&text, sname);
        schedule_buf_put(&text, "-", 1);
        schedule_buf_str(&text, start);
        schedule_buf_put(&text, "-", 1);
        schedule_buf_str(&text, who);
        schedule_buf_put(&text, "@", 1);
        schedule_buf_str(&text, uid_domain);
        schedule_ical_prop(&out, &line, "UID", text.p);

        schedule_ical_raw(&out, &line, "DTSTAMP", stamp);
        schedule_ical_raw(&out, &line, "DTSTART", start);
        schedule_ical_raw(&out, &line, "DTEND", end);

        text.len = 0;
        schedule_buf_str(&text, "On call: ");
        schedule_buf_str(&text, sname);
        schedule_buf_str(&text, " (");
        schedule_buf_str(&text, who);
        schedule_buf_str(&text, ")");
        schedule_ical_prop(&out, &line, "SUMMARY", text.p);

        /* Layers are named "layer N" (1-based) by default, so the index is
         * shown the same way; overrides by their id, which the API uses. */
        char desc[96];
        if (sh->layer < 0)
            snprintf(desc, sizeof(desc), "override %lld", (long long)sh->override_id);
        else
            snprintf(desc, sizeof(desc), "layer %d", sh->layer + 1);
        text.len = 0;
        schedule_buf_str(&text, who);
        schedule_buf_str(&text, " is on call for ");
        schedule_buf_str(&text, sname);
        schedule_buf_str(&text, " (");
        schedule_buf_str(&text, desc);
        schedule_buf_str(&text, ").");
        schedule_ical_prop(&out, &line, "DESCRIPTION", text.p);
        schedule_ical_raw(&out, &line, "TRANSP", "TRANSPARENT");
        schedule_buf_str(&out, "END:VEVENT\r\n");
        out.oom |= text.oom;
    }
    schedule_buf_str(&out, "END:VCALENDAR\r\n");
    free(line.p);
    free(text.p);
    if (out.oom) {
        free(out.p);
        return NULL;
    }
    return out.p;
}
