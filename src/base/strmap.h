/*
 * strmap.h - an open-addressing hash map from strings to pointers.
 *
 * The engine keeps its index of open alerts and incident groups here, so it
 * is built for a few million entries at small memory cost: each slot is a
 * hash, a borrowed key pointer and a value (24 bytes), linear probing with
 * backward-shift deletion (no tombstones), load factor at most 3/4.
 *
 * The map does not own keys or values: the caller keeps each key alive (and
 * unchanged) for as long as its entry is in the map; typically the key lives
 * inside the value. Not thread-safe.
 */
#ifndef TOCSIN_STRMAP_H
#define TOCSIN_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap_slot {
    uint64_t hash;   /* 0 marks an empty slot; real hashes are forced non-zero */
    const char *key; /* borrowed */
    void *value;     /* borrowed */
};

struct strmap {
    struct strmap_slot *slots; /* owned array of cap slots */
    size_t cap;                /* a power of two, or 0 before the first insert */
    size_t len;                /* entries in use */
};

/* 64-bit hash of a string (FNV-1a followed by a final mix). */
uint64_t strmap_hash(const char *key);

/* Returns the value stored under key, or NULL. */
void *strmap_get(const struct strmap *m, const char *key);

/* Inserts or replaces. Returns 0, or -1 when out of memory (map unchanged). */
int strmap_put(struct strmap *m, const char *key, void *value);

/* Removes key if present and returns its value, or NULL. */
void *strmap_del(struct strmap *m, const char *key);

/* Frees the slot array (not keys or values); leaves an empty map. */
void strmap_free(struct strmap *m);

/* Bytes the map itself uses, for memory accounting. */
size_t strmap_bytes(const struct strmap *m);

#endif
