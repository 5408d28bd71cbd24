/*
 * tsdb_index.c - the series registry and the postings index.
 *
 * The registry finds a series by the hash of its sorted labels (smap: open
 * addressing on the 64-bit hash, labels compared on a hash match) and by its
 * id (idtab: pages of 4096 pointers; ids only grow, and a page whose series
 * are all gone is freed, so churn does not leave a dense table behind).
 *
 * The postings index maps label name -> value -> sorted array of series ids.
 * New ids are always larger than old ones, so adding a series appends to its
 * arrays. A selection intersects the postings of matchers that do not match
 * the empty string (each one the union of the postings of the values it
 * matches) and then subtracts, for matchers that do match "", the postings of
 * the values they reject; that is how a series without the label matches
 * name="" or name!="x". When the candidates are already few, a matcher is
 * checked against each candidate's own value instead of every value of the
 * label (an =~ over a million distinct instance values would otherwise run a
 * million regexec calls).
 */
#include "tsdb_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- smap ---- */

static inline struct mseries *slot_series(const struct smap *m, const struct smap_slot *x)
{
    return idtab_get(m->ids, x->idp1 - 1);
}

struct mseries *smap_find(const struct smap *m, uint64_t hash, const char *packed, size_t len)
{
    if (m->len == 0)
        return NULL;
    size_t mask = m->cap - 1;
    uint32_t tag = (uint32_t)(hash >> 32);
    for (size_t i = (size_t)hash & mask; m->slots[i].idp1; i = (i + 1) & mask) {
        if (m->slots[i].tag != tag)
            continue;
        struct mseries *s = slot_series(m, &m->slots[i]);
        if (s && s->hash == hash && tsdb_series_key_eq(s, packed, len))
            return s;
    }
    return NULL;
}

static int smap_grow(struct smap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 1024;
    struct smap_slot *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].idp1)
            continue;
        size_t j = (size_t)slot_series(m, &m->slots[i])->hash & (ncap - 1);
        while (ns[j].idp1)
            j = (j + 1) & (ncap - 1);
        ns[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int smap_insert(struct smap *m, struct mseries *s)
{
    if ((m->len + 1) * 4 > m->cap * 3 && smap_grow(m) != 0)
        return -1;
    size_t mask = m->cap - 1, i = (size_t)s->hash & mask;
    while (m->slots[i].idp1)
        i = (i + 1) & mask;
    m->slots[i].idp1 = s->id + 1;
    m->slots[i].tag = (uint32_t)(s->hash >> 32);
    m->len++;
    return 0;
}

void smap_remove(struct smap *m, struct mseries *s)
{
    if (m->len == 0)
        return;
    size_t mask = m->cap - 1, i = (size_t)s->hash & mask;
    while (m->slots[i].idp1 && m->slots[i].idp1 != s->id + 1)
        i = (i + 1) & mask;
    if (!m->slots[i].idp1)
        return;
    /* Backward-shift deletion, as in strmap.c: no tombstones. The series of
     * the other slots are still in the id table. */
    size_t hole = i, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->slots[j].idp1)
            break;
        size_t home = (size_t)slot_series(m, &m->slots[j])->hash & mask;
        if ((j > hole && (home <= hole || home > j)) || (j < hole && (home <= hole && home > j))) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    memset(&m->slots[hole], 0, sizeof(m->slots[hole]));
    m->len--;
}

void smap_free(struct smap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->len = 0;
}

/* ---- idtab ---- */

struct mseries *idtab_get(const struct idtab *t, uint32_t id)
{
    size_t pg = id >> TSDB_IDPAGE_BITS;
    if (pg >= t->npages || !t->pages[pg])
        return NULL;
    return t->pages[pg][id & (TSDB_IDPAGE - 1)];
}

int idtab_set(struct idtab *t, uint32_t id, struct mseries *s)
{
    size_t pg = id >> TSDB_IDPAGE_BITS;
    if (pg >= t->npages) {
        size_t n = t->npages ? t->npages * 2 : 16;
        while (n <= pg)
            n *= 2;
        struct mseries ***np = realloc(t->pages, n * sizeof(*np));
        if (!np)
            return -1;
        t->pages = np;
        uint32_t *nu = realloc(t->page_used, n * sizeof(*nu));
        if (!nu)
            return -1;
        t->page_used = nu;
        for (size_t i = t->npages; i < n; i++) {
            t->pages[i] = NULL;
            t->page_used[i] = 0;
        }
        t->npages = n;
    }
    if (!t->pages[pg]) {
        t->pages[pg] = calloc(TSDB_IDPAGE, sizeof(struct mseries *));
        if (!t->pages[pg])
            return -1;
    }
    if (!t->pages[pg][id & (TSDB_IDPAGE - 1)])
        t->page_used[pg]++;
    t->pages[pg][id & (TSDB_IDPAGE - 1)] = s;
    return 0;
}

void idtab_clear(struct idtab *t, uint32_t id)
{
    size_t pg = id >> TSDB_IDPAGE_BITS;
    if (pg >= t->npages || !t->pages[pg] || !t->pages[pg][id & (TSDB_IDPAGE - 1)])
        return;
    t->pages[pg][id & (TSDB_IDPAGE - 1)] = NULL;
    /* A page is only freed once ids have moved past it, so a fresh id never
     * lands on a page that is about to be freed. */
    if (--t->page_used[pg] == 0 && ((size_t)t->next_id >> TSDB_IDPAGE_BITS) > pg) {
        free(t->pages[pg]);
        t->pages[pg] = NULL;
    }
}

void idtab_free(struct idtab *t)
{
    for (size_t i = 0; i < t->npages; i++)
        free(t->pages[i]);
    free(t->pages);
    free(t->page_used);
    memset(t, 0, sizeof(*t));
}

int idtab_list(const struct idtab *t, bool head_only, struct mseries ***out, size_t *n)
{
    size_t cap = 0, k = 0;
    struct mseries **v = NULL;
    for (size_t pg = 0; pg < t->npages; pg++)
        cap += t->pages[pg] ? t->page_used[pg] : 0;
    v = malloc((cap ? cap : 1) * sizeof(*v));
    if (!v)
        return -1;
    for (size_t pg = 0; pg < t->npages; pg++) {
        if (!t->pages[pg])
            continue;
        for (size_t i = 0; i < TSDB_IDPAGE && k < cap; i++) {
            struct mseries *s = t->pages[pg][i];
            if (s && (!head_only || s->in_head))
                v[k++] = s;
        }
    }
    *out = v;
    *n = k;
    return 0;
}

/* ---- sorted id arrays ---- */

/* First index i >= lo with a[i] >= x, galloping from lo. */
static size_t gallop(const uint32_t *a, size_t lo, size_t n, uint32_t x)
{
    size_t step = 1, hi = lo;
    while (hi < n && a[hi] < x) {
        lo = hi + 1;
        hi += step;
        step *= 2;
    }
    if (hi > n)
        hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t ids_intersect(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, uint32_t *out)
{
    size_t i = 0, j = 0, k = 0;
    if (na * 16 < nb) {
        for (; i < na && j < nb; i++) {
            j = gallop(b, j, nb, a[i]);
            if (j < nb && b[j] == a[i])
                out[k++] = a[i];
        }
        return k;
    }
    if (nb * 16 < na) {
        /* out may alias a, and k <= i holds, so writing behind i is safe. */
        for (; j < nb && i < na; j++) {
            i = gallop(a, i, na, b[j]);
            if (i < na && a[i] == b[j])
                out[k++] = a[i];
        }
        return k;
    }
    while (i < na && j < nb) {
        if (a[i] < b[j])
            i++;
        else if (a[i] > b[j])
            j++;
        else {
            out[k++] = a[i];
            i++;
            j++;
        }
    }
    return k;
}

size_t ids_subtract(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, uint32_t *out)
{
    size_t i = 0, j = 0, k = 0;
    while (i < na) {
        if (j < nb && b[j] < a[i]) {
            j = nb * 16 < na ? j + 1 : gallop(b, j, nb, a[i]);
            continue;
        }
        if (j < nb && b[j] == a[i]) {
            i++;
            continue;
        }
        out[k++] = a[i++];
    }
    return k;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

size_t ids_sort_unique(uint32_t *a, size_t n)
{
    if (n < 2)
        return n;
    if (n < 512) {
        qsort(a, n, sizeof(*a), cmp_u32);
    } else {
        /* LSD radix sort, three passes of 11 bits. */
        uint32_t *tmp = malloc(n * sizeof(*tmp));
        if (!tmp) {
            qsort(a, n, sizeof(*a), cmp_u32);
        } else {
            uint32_t *src = a, *dst = tmp;
            for (int pass = 0; pass < 3; pass++) {
                size_t cnt[2048] = {0};
                int sh = pass * 11;
                for (size_t i = 0; i < n; i++)
                    cnt[(src[i] >> sh) & 2047]++;
                size_t sum = 0;
                for (size_t i = 0; i < 2048; i++) {
                    size_t c = cnt[i];
                    cnt[i] = sum;
                    sum += c;
                }
                for (size_t i = 0; i < n; i++)
                    dst[cnt[(src[i] >> sh) & 2047]++] = src[i];
                uint32_t *sw = src;
                src = dst;
                dst = sw;
            }
            if (src != a)
                memcpy(a, src, n * sizeof(*a));
            free(tmp);
        }
    }
    size_t k = 1;
    for (size_t i = 1; i < n; i++)
        if (a[i] != a[k - 1])
            a[k++] = a[i];
    return k;
}

/* ---- postings ---- */

static int ids_push(uint32_t **ids, uint32_t *n, uint32_t *cap, uint32_t id, size_t *bytes)
{
    if (*n > 0 && (*ids)[*n - 1] >= id) {
        /* Only reachable if ids were ever reused; keep the array sorted. */
        size_t pos = gallop(*ids, 0, *n, id);
        if (pos < *n && (*ids)[pos] == id)
            return 0;
        if (*n == *cap)
            goto grow;
        memmove(*ids + pos + 1, *ids + pos, (*n - pos) * sizeof(uint32_t));
        (*ids)[pos] = id;
        (*n)++;
        return 0;
    }
    if (*n == *cap) {
    grow:;
        /* A quarter more: a list per label value, so slack adds up per series. */
        uint32_t ncap = *cap < 4 ? *cap + 1 : *cap + *cap / 4;
        uint32_t *np = realloc(*ids, (size_t)ncap * sizeof(uint32_t));
        if (!np)
            return -1;
        *bytes += (size_t)(ncap - *cap) * sizeof(uint32_t);
        *ids = np;
        *cap = ncap;
        return ids_push(ids, n, cap, id, bytes);
    }
    (*ids)[(*n)++] = id;
    return 0;
}

static struct postings *pindex_add_pair(struct pindex *ix, const char *name, const char *value,
                                        uint32_t id)
{
    struct lname *ln = strmap_get(&ix->names, name);
    if (!ln) {
        size_t len = strlen(name);
        ln = calloc(1, sizeof(*ln) + len + 1);
        if (!ln)
            return NULL;
        memcpy(ln->name, name, len + 1);
        ln->nlen = (uint32_t)len;
        if (strmap_put(&ix->names, ln->name, ln) != 0) {
            free(ln);
            return NULL;
        }
        ix->bytes += sizeof(*ln) + len + 1;
    }
    struct postings *p = strmap_get(&ln->values, value);
    if (!p) {
        size_t len = strlen(value);
        p = calloc(1, sizeof(*p) + len + 1);
        if (!p)
            return NULL;
        memcpy(p->value, value, len + 1);
        p->ln = ln;
        p->vlen = (uint32_t)len;
        size_t before = strmap_bytes(&ln->values);
        if (strmap_put(&ln->values, p->value, p) != 0) {
            free(p);
            return NULL;
        }
        ix->bytes += sizeof(*p) + len + 1 + strmap_bytes(&ln->values) - before;
    }
    return ids_push(&p->ids, &p->n, &p->cap, id, &ix->bytes) == 0 ? p : NULL;
}

int pindex_add(struct pindex *ix, struct mseries *s, const char *packed)
{
    const char *q = packed;
    for (uint32_t i = 0; i < s->nlab; i++) {
        const char *name = q;
        const char *value = name + strlen(name) + 1;
        q = value + strlen(value) + 1;
        if (!(s->lp[i] = pindex_add_pair(ix, name, value, s->id)))
            return -1;
    }
    if (ix->nall == ix->capall) {
        size_t ncap = ix->capall ? ix->capall + ix->capall / 4 : 1024;
        uint32_t *np = realloc(ix->all, ncap * sizeof(*np));
        if (!np)
            return -1;
        ix->bytes += (ncap - ix->capall) * sizeof(*np);
        ix->all = np;
        ix->capall = ncap;
    }
    ix->all[ix->nall++] = s->id;
    return 0;
}

static size_t filter_ids(uint32_t *ids, size_t n, bool (*dead)(void *, uint32_t), void *ctx)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!dead(ctx, ids[i]))
            ids[k++] = ids[i];
    return k;
}

void pindex_remove(struct pindex *ix, bool (*dead)(void *ctx, uint32_t id), void *ctx)
{
    struct lname **dead_names = NULL;
    size_t ndn = 0;
    for (size_t i = 0; i < ix->names.cap; i++) {
        struct lname *ln = ix->names.slots[i].hash ? ix->names.slots[i].value : NULL;
        if (!ln)
            continue;
        struct postings **gone = NULL;
        size_t ngone = 0, capgone = 0;
        for (size_t j = 0; j < ln->values.cap; j++) {
            struct postings *p = ln->values.slots[j].hash ? ln->values.slots[j].value : NULL;
            if (!p)
                continue;
            p->n = (uint32_t)filter_ids(p->ids, p->n, dead, ctx);
            if (p->n > 0)
                continue;
            if (ngone == capgone) {
                size_t nc = capgone ? capgone * 2 : 16;
                struct postings **ng = realloc(gone, nc * sizeof(*ng));
                if (!ng)
                    continue; /* an empty list stays; harmless */
                gone = ng;
                capgone = nc;
            }
            gone[ngone++] = p;
        }
        for (size_t j = 0; j < ngone; j++) {
            strmap_del(&ln->values, gone[j]->value);
            ix->bytes -= sizeof(*gone[j]) + strlen(gone[j]->value) + 1 +
                         (size_t)gone[j]->cap * sizeof(uint32_t);
            free(gone[j]->ids);
            free(gone[j]);
        }
        free(gone);
        if (ln->values.len == 0) {
            struct lname **nd = realloc(dead_names, (ndn + 1) * sizeof(*nd));
            if (nd) {
                dead_names = nd;
                dead_names[ndn++] = ln;
            }
        }
    }
    for (size_t i = 0; i < ndn; i++) {
        strmap_del(&ix->names, dead_names[i]->name);
        ix->bytes -= sizeof(*dead_names[i]) + strlen(dead_names[i]->name) + 1;
        strmap_free(&dead_names[i]->values);
        free(dead_names[i]);
    }
    free(dead_names);
    ix->nall = filter_ids(ix->all, ix->nall, dead, ctx);
}

void pindex_free(struct pindex *ix)
{
    for (size_t i = 0; i < ix->names.cap; i++) {
        struct lname *ln = ix->names.slots[i].hash ? ix->names.slots[i].value : NULL;
        if (!ln)
            continue;
        for (size_t j = 0; j < ln->values.cap; j++) {
            struct postings *p = ln->values.slots[j].hash ? ln->values.slots[j].value : NULL;
            if (p) {
                free(p->ids);
                free(p);
            }
        }
        strmap_free(&ln->values);
        free(ln);
    }
    strmap_free(&ix->names);
    free(ix->all);
    memset(ix, 0, sizeof(*ix));
}

/*
 * A regular expression that is only literals separated by '|' ("a|b|c", the
 * form Grafana's multi-value variables produce) is answered by lookups.
 * Returns the number of alternatives written into alts (pointers into buf),
 * or 0 when the expression is anything else.
 */
static size_t literal_alternation(const char *re, char *buf, size_t buflen, const char **alts,
                                  size_t maxalts)
{
    size_t len = strlen(re), n = 0;
    if (len + 1 > buflen)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (strchr(".[]()*+?{}^$\\", re[i]))
            return 0;
    memcpy(buf, re, len + 1);
    char *p = buf;
    for (;;) {
        if (n == maxalts)
            return 0;
        alts[n++] = p;
        char *bar = strchr(p, '|');
        if (!bar)
            break;
        *bar = '\0';
        p = bar + 1;
    }
    return n;
}

/*
 * The postings lists of the values of ln for which the matcher's answer
 * equals want. *out is malloc'd (NULL when there are none).
 */
static int value_lists(const struct lname *ln, const struct matcher *m, bool want,
                       const struct postings ***out, size_t *n_out)
{
    const struct postings **lists = NULL;
    size_t n = 0, cap = 0;
    char buf[1024];
    const char *alts[64];
    size_t na = 0;

    *out = NULL;
    *n_out = 0;
    /* The values the matcher accepts (or rejects) named outright. */
    if ((m->op == MATCH_EQ && want) || (m->op == MATCH_NEQ && !want)) {
        alts[0] = m->value;
        na = 1;
    } else if ((m->op == MATCH_RE && want) || (m->op == MATCH_NRE && !want)) {
        na = literal_alternation(m->value, buf, sizeof(buf), alts, 64);
    }
    if (na > 0) {
        lists = malloc(na * sizeof(*lists));
        if (!lists)
            return -1;
        for (size_t i = 0; i < na; i++) {
            const struct postings *p = strmap_get(&ln->values, alts[i]);
            bool dup = false;
            for (size_t j = 0; j < n; j++)
                dup |= lists[j] == p;
            if (p && p->n > 0 && !dup)
                lists[n++] = p;
        }
    } else {
        for (size_t i = 0; i < ln->values.cap; i++) {
            const struct postings *p = ln->values.slots[i].hash ? ln->values.slots[i].value : NULL;
            if (!p || p->n == 0 || matcher_matches(m, p->value) != want)
                continue;
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 64;
                const struct postings **nl = realloc(lists, nc * sizeof(*nl));
                if (!nl) {
                    free(lists);
                    return -1;
                }
                lists = nl;
                cap = nc;
            }
            lists[n++] = p;
        }
    }
    if (n == 0) {
        free(lists);
        lists = NULL;
    }
    *out = lists;
    *n_out = n;
    return 0;
}

/* The union of lists as one sorted array (*out malloc'd, NULL when empty). */
static int lists_union(const struct postings **lists, size_t n, uint32_t **out, size_t *n_out)
{
    size_t total = 0, k = 0;
    *out = NULL;
    *n_out = 0;
    for (size_t i = 0; i < n; i++)
        total += lists[i]->n;
    if (total == 0)
        return 0;
    uint32_t *ids = malloc(total * sizeof(*ids));
    if (!ids)
        return -1;
    for (size_t i = 0; i < n; i++) {
        memcpy(ids + k, lists[i]->ids, lists[i]->n * sizeof(*ids));
        k += lists[i]->n;
    }
    *n_out = n > 1 ? ids_sort_unique(ids, k) : k;
    *out = ids;
    return 0;
}

/*
 * Keeps the ids of res that are in some list (keep) or in none (!keep), in
 * place. Each list is walked against res from the smaller side with
 * galloping search, so a few large lists cost about the size of res and
 * many small ones about their own size; no union is ever built.
 */
static int lists_filter(uint32_t *res, size_t *nres, const struct postings **lists, size_t n,
                        bool keep)
{
    size_t nr = *nres;
    uint8_t *mark = calloc(nr ? nr : 1, 1);
    if (!mark)
        return -1;
    for (size_t l = 0; l < n; l++) {
        const uint32_t *ids = lists[l]->ids;
        size_t ni = lists[l]->n, i = 0, j = 0;
        if (ni < nr) {
            for (; i < ni && j < nr; i++) {
                j = gallop(res, j, nr, ids[i]);
                if (j < nr && res[j] == ids[i])
                    mark[j] = 1;
            }
        } else {
            for (; j < nr && i < ni; j++) {
                i = gallop(ids, i, ni, res[j]);
                if (i < ni && ids[i] == res[j])
                    mark[j] = 1;
            }
        }
    }
    size_t k = 0;
    for (size_t j = 0; j < nr; j++)
        if (mark[j] == keep)
            res[k++] = res[j];
    *nres = k;
    free(mark);
    return 0;
}

/* Series under name=value, for ordering equality matchers (0 when none). */
static size_t eq_postings_len(const struct pindex *ix, const struct matcher *m)
{
    const struct lname *ln = strmap_get(&ix->names, m->name);
    const struct postings *p = ln ? strmap_get(&ln->values, m->value) : NULL;
    return p ? p->n : 0;
}

int pindex_select_cb(const struct pindex *ix, const struct matcher *m, size_t nm,
                     const char *(*value_of)(void *ctx, uint32_t id, const char *name), void *ctx,
                     uint32_t **out, size_t *n_out)
{
    uint32_t *res = NULL;
    size_t nres = 0;
    bool all = true;
    bool *done = NULL;
    const struct postings **lists = NULL;
    size_t nl;

    *out = NULL;
    *n_out = 0;
    if (nm > 0) {
        done = calloc(nm, sizeof(*done));
        if (!done)
            return -1;
    }
    /* Positive matchers, equalities first: they shrink the set the most
     * cheaply. Equalities go shortest list first, so that
     * m{__name__="m", id="7"} starts from the one series with id 7 and
     * gallops through the long list of m instead of copying it: without
     * this, 10,000 rules over 10,000 series cost 10,000 x 10,000. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t step = 0; step < nm; step++) {
            size_t i = step;
            if (pass == 0) {
                size_t best = SIZE_MAX;
                i = nm;
                for (size_t j = 0; j < nm; j++) {
                    if (done[j] || m[j].op != MATCH_EQ || matcher_matches_empty(&m[j]))
                        continue;
                    size_t len = eq_postings_len(ix, &m[j]);
                    if (len < best) {
                        best = len;
                        i = j;
                    }
                }
                if (i == nm)
                    break;
            }
            if (done[i] || matcher_matches_empty(&m[i]))
                continue;
            const struct lname *ln = strmap_get(&ix->names, m[i].name);
            done[i] = true;
            if (!ln) {
                nres = 0;
                all = false;
                goto finish;
            }
            if (!all && value_of && nres * 8 < ln->values.len) {
                size_t k = 0;
                for (size_t j = 0; j < nres; j++)
                    if (matcher_matches(&m[i], value_of(ctx, res[j], m[i].name)))
                        res[k++] = res[j];
                nres = k;
            } else {
                if (value_lists(ln, &m[i], true, &lists, &nl) != 0)
                    goto oom;
                if (all) {
                    if (lists_union(lists, nl, &res, &nres) != 0)
                        goto oom;
                    all = false;
                } else if (lists_filter(res, &nres, lists, nl, true) != 0) {
                    goto oom;
                }
                free(lists);
                lists = NULL;
            }
            if (nres == 0)
                goto finish;
        }
    }
    if (all) {
        if (ix->nall > 0) {
            res = malloc(ix->nall * sizeof(*res));
            if (!res)
                goto oom;
            memcpy(res, ix->all, ix->nall * sizeof(*res));
        }
        nres = ix->nall;
        all = false;
    }
    /* Matchers that match "": drop the series whose value they reject. */
    for (size_t i = 0; i < nm && nres > 0; i++) {
        if (done[i])
            continue;
        const struct lname *ln = strmap_get(&ix->names, m[i].name);
        if (!ln)
            continue; /* no series has the label: all match */
        if (value_of && nres * 8 < ln->values.len) {
            size_t k = 0;
            for (size_t j = 0; j < nres; j++)
                if (matcher_matches(&m[i], value_of(ctx, res[j], m[i].name)))
                    res[k++] = res[j];
            nres = k;
            continue;
        }
        if (value_lists(ln, &m[i], false, &lists, &nl) != 0 ||
            lists_filter(res, &nres, lists, nl, false) != 0)
            goto oom;
        free(lists);
        lists = NULL;
    }
finish:
    free(done);
    if (nres == 0) {
        free(res);
        res = NULL;
    }
    *out = res;
    *n_out = nres;
    return 0;
oom:
    free(lists);
    free(done);
    free(res);
    return -1;
}
