/*
 * promql_labels.c - the label work of PromQL evaluation: copying label sets
 * with or without some names, comparing them in Prometheus's order, hashing
 * them, and a small hash map for grouping series by label set.
 */
#include "promql_int.h"

#include <stdlib.h>
#include <string.h>

int pq_ls_cmp(const struct labelset *a, const struct labelset *b)
{
    size_t n = a->n < b->n ? a->n : b->n;
    for (size_t i = 0; i < n; i++) {
        int c = strcmp(a->v[i].name, b->v[i].name);
        if (c)
            return c;
        c = strcmp(a->v[i].value, b->v[i].value);
        if (c)
            return c;
    }
    return (a->n > b->n) - (a->n < b->n);
}

bool pq_ls_eq(const struct labelset *a, const struct labelset *b)
{
    return a->n == b->n && pq_ls_cmp(a, b) == 0;
}

uint64_t pq_ls_hash(const struct labelset *ls)
{
    /* FNV-1a with a separator byte that valid UTF-8 never holds. */
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < ls->n; i++) {
        for (const unsigned char *c = (const unsigned char *)ls->v[i].name; *c; c++)
            h = (h ^ *c) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
        for (const unsigned char *c = (const unsigned char *)ls->v[i].value; *c; c++)
            h = (h ^ *c) * 1099511628211ULL;
        h = (h ^ 0xfe) * 1099511628211ULL;
    }
    return h;
}

bool pq_names_has(const struct pq_names *names, const char *name)
{
    for (size_t i = 0; i < names->n; i++)
        if (strcmp(names->v[i], name) == 0)
            return true;
    return false;
}

/* Copies the pairs of src for which keep() holds; dst is sorted as src is. */
static int copy_filtered(struct labelset *dst, const struct labelset *src,
                         const struct pq_names *names, int mode)
{
    dst->n = 0;
    dst->v = NULL;
    if (src->n == 0)
        return 0;
    dst->v = calloc(src->n, sizeof(*dst->v));
    if (!dst->v)
        return -1;
    for (size_t i = 0; i < src->n; i++) {
        const char *name = src->v[i].name;
        bool keep;
        switch (mode) {
        case 0: /* all */
            keep = true;
            break;
        case 1: /* without names */
            keep = !names || !pq_names_has(names, name);
            break;
        case 2: /* without names and __name__ */
            keep = strcmp(name, "__name__") != 0 && (!names || !pq_names_has(names, name));
            break;
        default: /* only names */
            keep = pq_names_has(names, name);
        }
        if (!keep)
            continue;
        dst->v[dst->n].name = strdup(name);
        dst->v[dst->n].value = strdup(src->v[i].value);
        dst->n++;
        if (!dst->v[dst->n - 1].name || !dst->v[dst->n - 1].value) {
            labels_free(dst);
            return -1;
        }
    }
    if (dst->n == 0) {
        free(dst->v);
        dst->v = NULL;
    }
    return 0;
}

int pq_ls_copy(struct labelset *dst, const struct labelset *src)
{
    return copy_filtered(dst, src, NULL, 0);
}

int pq_ls_copy_without(struct labelset *dst, const struct labelset *src,
                       const struct pq_names *names, bool drop_name)
{
    return copy_filtered(dst, src, names, drop_name ? 2 : 1);
}

int pq_ls_copy_only(struct labelset *dst, const struct labelset *src, const struct pq_names *names)
{
    return copy_filtered(dst, src, names, 3);
}

void pq_ls_del(struct labelset *ls, const char *name)
{
    for (size_t i = 0; i < ls->n; i++)
        if (strcmp(ls->v[i].name, name) == 0) {
            free(ls->v[i].name);
            free(ls->v[i].value);
            memmove(&ls->v[i], &ls->v[i + 1], (ls->n - i - 1) * sizeof(ls->v[0]));
            ls->n--;
            if (ls->n == 0) {
                free(ls->v);
                ls->v = NULL;
            }
            return;
        }
}

int pq_ls_set(struct labelset *ls, const char *name, const char *value)
{
    if (!value || !*value) {
        pq_ls_del(ls, name);
        return 0;
    }
    return labels_set(ls, name, value);
}

/* ---- the map ---- */

static int map_grow(struct pq_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    uint64_t *h = malloc(cap * sizeof(*h));
    int *idx = malloc(cap * sizeof(*idx));
    if (!h || !idx) {
        free(h);
        free(idx);
        return -1;
    }
    for (size_t i = 0; i < cap; i++)
        idx[i] = -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->idx[i] < 0)
            continue;
        size_t j = m->h[i] & (cap - 1);
        while (idx[j] >= 0)
            j = (j + 1) & (cap - 1);
        h[j] = m->h[i];
        idx[j] = m->idx[i];
    }
    free(m->h);
    free(m->idx);
    m->h = h;
    m->idx = idx;
    m->cap = cap;
    return 0;
}

int pq_map_get(const struct pq_map *m, uint64_t h, pq_map_eq eq, void *ctx)
{
    if (m->cap == 0)
        return -1;
    for (size_t j = h & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
        if (m->idx[j] < 0)
            return -1;
        if (m->h[j] == h && eq(ctx, m->idx[j]))
            return m->idx[j];
    }
}

int pq_map_put(struct pq_map *m, uint64_t h, int idx)
{
    if ((m->n + 1) * 2 > m->cap && map_grow(m) != 0)
        return -1;
    size_t j = h & (m->cap - 1);
    while (m->idx[j] >= 0)
        j = (j + 1) & (m->cap - 1);
    m->h[j] = h;
    m->idx[j] = idx;
    m->n++;
    return 0;
}

void pq_map_free(struct pq_map *m)
{
    free(m->h);
    free(m->idx);
    memset(m, 0, sizeof(*m));
}
