/*
 * heap.c - the intrusive min-heap of heap.h.
 */
#include "heap.h"

#include <stdlib.h>

static void place(struct heap *h, size_t i, struct heap_ent e)
{
    h->v[i] = e;
    e.n->idx = (uint32_t)i;
}

static void sift_up(struct heap *h, size_t i)
{
    struct heap_ent e = h->v[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h->v[p].key <= e.key)
            break;
        place(h, i, h->v[p]);
        i = p;
    }
    place(h, i, e);
}

static void sift_down(struct heap *h, size_t i)
{
    struct heap_ent e = h->v[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->len)
            break;
        if (c + 1 < h->len && h->v[c + 1].key < h->v[c].key)
            c++;
        if (e.key <= h->v[c].key)
            break;
        place(h, i, h->v[c]);
        i = c;
    }
    place(h, i, e);
}

int heap_set(struct heap *h, struct heap_node *n, int64_t key)
{
    n->key = key;
    if (n->idx != HEAP_NOT_IN) {
        h->v[n->idx].key = key;
        sift_down(h, n->idx);
        sift_up(h, n->idx);
        return 0;
    }
    if (h->len == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 64;
        struct heap_ent *nv = realloc(h->v, ncap * sizeof(*nv));
        if (!nv)
            return -1;
        h->v = nv;
        h->cap = ncap;
    }
    place(h, h->len++, (struct heap_ent){.key = key, .n = n});
    sift_up(h, n->idx);
    return 0;
}

void heap_remove(struct heap *h, struct heap_node *n)
{
    size_t i = n->idx;
    if (i == HEAP_NOT_IN || i >= h->len || h->v[i].n != n)
        return;
    n->idx = HEAP_NOT_IN;
    struct heap_ent last = h->v[--h->len];
    if (i == h->len)
        return;
    place(h, i, last);
    sift_down(h, i);
    sift_up(h, last.n->idx);
}

void heap_free(struct heap *h)
{
    free(h->v);
    h->v = NULL;
    h->len = h->cap = 0;
}
