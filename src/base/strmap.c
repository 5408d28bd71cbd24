/* strmap.c - open-addressing string map; see strmap.h. */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

uint64_t strmap_hash(const char *key)
{
    uint64_t h = 14695981039346656037ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    /* FNV alone clusters on short keys that differ only at the end; a final
     * avalanche (from MurmurHash3's fmix64, a public-domain constant set)
     * spreads them over the low bits that index the table. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h ? h : 1;
}

static size_t find_slot(const struct strmap *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)h & mask;
    while (m->slots[i].hash) {
        if (m->slots[i].hash == h && strcmp(m->slots[i].key, key) == 0)
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

void *strmap_get(const struct strmap *m, const char *key)
{
    if (m->len == 0)
        return NULL;
    size_t i = find_slot(m, key, strmap_hash(key));
    return m->slots[i].hash ? m->slots[i].value : NULL;
}

static int grow(struct strmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 64;
    struct strmap_slot *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].hash)
            continue;
        size_t j = (size_t)m->slots[i].hash & (ncap - 1);
        while (ns[j].hash)
            j = (j + 1) & (ncap - 1);
        ns[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int strmap_put(struct strmap *m, const char *key, void *value)
{
    if ((m->len + 1) * 4 > m->cap * 3 && grow(m) != 0)
        return -1;
    uint64_t h = strmap_hash(key);
    size_t i = find_slot(m, key, h);
    if (!m->slots[i].hash) {
        m->slots[i].hash = h;
        m->len++;
    }
    m->slots[i].key = key;
    m->slots[i].value = value;
    return 0;
}

void *strmap_del(struct strmap *m, const char *key)
{
    if (m->len == 0)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = find_slot(m, key, strmap_hash(key));
    if (!m->slots[i].hash)
        return NULL;
    void *value = m->slots[i].value;
    /* Backward-shift deletion: move later entries of the probe run into the
     * hole when their home slot allows it, so lookups never need tombstones. */
    size_t hole = i, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->slots[j].hash)
            break;
        size_t home = (size_t)m->slots[j].hash & mask;
        /* Entry j may move to the hole if its home is not in (hole, j]. */
        if ((j > hole && (home <= hole || home > j)) || (j < hole && (home <= hole && home > j))) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    memset(&m->slots[hole], 0, sizeof(m->slots[hole]));
    m->len--;
    return value;
}

void strmap_free(struct strmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

size_t strmap_bytes(const struct strmap *m)
{
    return m->cap * sizeof(struct strmap_slot);
}
