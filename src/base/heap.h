/*
 * heap.h - an intrusive binary min-heap on an int64 key, for the engine's
 * timers (escalation steps, due notifications) and the check scheduler's
 * queues. A record embeds a struct heap_node; the heap holds pointers to the
 * nodes and keeps each node's position, so a record can be moved or removed
 * in O(log n). Each entry carries a copy of its key, so sifting through
 * thousands of entries compares within one array instead of reading records
 * scattered over memory.
 */
#ifndef TOCSIN_HEAP_H
#define TOCSIN_HEAP_H

#include <stddef.h>
#include <stdint.h>

#define HEAP_NOT_IN UINT32_MAX

struct heap_node {
    int64_t key;  /* when; smallest first */
    uint32_t idx; /* position in the heap, HEAP_NOT_IN when absent; init with heap_node_init */
};

struct heap_ent {
    int64_t key;         /* a copy of n->key */
    struct heap_node *n; /* borrowed */
};

struct heap {
    struct heap_ent *v; /* owned array, smallest key first */
    size_t len, cap;
};

static inline void heap_node_init(struct heap_node *n)
{
    n->key = 0;
    n->idx = HEAP_NOT_IN;
}

/* Inserts n with key, or moves it when it is in already. Returns 0 or -1
 * (out of memory; n is then not in the heap). */
int heap_set(struct heap *h, struct heap_node *n, int64_t key);
/* Takes n out if it is in. */
void heap_remove(struct heap *h, struct heap_node *n);
/* The smallest node, or NULL. */
static inline struct heap_node *heap_top(const struct heap *h)
{
    return h->len ? h->v[0].n : NULL;
}
/* Frees the array (not the nodes). */
void heap_free(struct heap *h);

#endif
