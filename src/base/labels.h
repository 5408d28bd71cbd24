/*
 * labels.h - label sets: the identity of an alert.
 *
 * A label set is an array of (name, value) string pairs sorted by name, with
 * no duplicate names. Its fingerprint is computed exactly as Prometheus and
 * Alertmanager compute theirs (FNV-1a 64 over name, 0xff, value, 0xff for each
 * pair in name order), so a fingerprint Tocsin shows matches the one
 * Alertmanager shows for the same alert.
 */
#ifndef TOCSIN_LABELS_H
#define TOCSIN_LABELS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds on what a sender may put into one label set. */
#define LABELS_MAX_PAIRS 64
#define LABELS_MAX_NAME  128
#define LABELS_MAX_VALUE 1024

struct label {
    char *name;  /* owned, NUL-terminated */
    char *value; /* owned, NUL-terminated */
};

struct labelset {
    size_t n;        /* number of pairs */
    struct label *v; /* owned array of n pairs, sorted by name */
};

/*
 * Builds a label set from a JSON object whose values must all be strings.
 * On success returns 0 and fills *out (caller frees with labels_free).
 * On failure returns -1 and writes a message naming the offending label into
 * err (at most errlen bytes); *out is left empty.
 */
int labels_from_json(const json_t *obj, struct labelset *out, char *err, size_t errlen);

/* Adds or replaces a pair, keeping the set sorted. Copies both strings. */
int labels_set(struct labelset *ls, const char *name, const char *value);

/* A Prometheus label name: [a-zA-Z_][a-zA-Z0-9_]*. */
bool labels_name_valid(const char *s);

/* A Prometheus metric name: [a-zA-Z_:][a-zA-Z0-9_:]*. */
bool labels_metric_name_valid(const char *s);

/* Returns the value for name, or NULL. Borrowed pointer. */
const char *labels_get(const struct labelset *ls, const char *name);

/* Frees the pairs and leaves an empty set. Safe on an empty set. */
void labels_free(struct labelset *ls);

/* Prometheus/Alertmanager label-set fingerprint. */
uint64_t labels_fingerprint(const struct labelset *ls);

/* Writes the fingerprint as 16 lowercase hex digits plus NUL into buf[17]. */
void labels_fingerprint_hex(const struct labelset *ls, char buf[17]);

/* Returns a new JSON object {name: value, ...}; caller owns the reference. */
json_t *labels_to_json(const struct labelset *ls);

#endif
