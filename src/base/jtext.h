/*
 * jtext.h - compact JSON text of a jansson value, for the writer's hot path.
 *
 * The store keeps labels, details, links and audit records as JSON text, and
 * the engine thread serialises every new alert's values. jansson's
 * json_dumpb writes through a callback per fragment and escapes one
 * character at a time; under a burst of new alerts it was a quarter of the
 * engine thread. jtext_dump writes the same bytes as
 * json_dumpb(v, ..., JSON_COMPACT | JSON_ENCODE_ANY) straight into the
 * caller's buffer.
 */
#ifndef TOCSIN_JTEXT_H
#define TOCSIN_JTEXT_H

#include "labels.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Deeper values are declined (jansson's own parser allows 2048 levels). */
#define JTEXT_MAX_DEPTH 64

/*
 * Writes v into buf[0..cap) without a terminating NUL and returns its
 * length. Returns -1 when it declines: the text does not fit, v is nested
 * deeper than JTEXT_MAX_DEPTH, or v is NULL. The caller then falls back to
 * json_dumps. buf is borrowed.
 */
long jtext_dump(const json_t *v, char *buf, size_t cap);

/*
 * Writes a label set as a JSON object of strings, in its (sorted) order: the
 * text that json_dumpb writes for labels_to_json(ls), without building the
 * object. Returns the length, or -1 when it does not fit or a name or value
 * is not valid UTF-8 (the caller then goes through labels_to_json, which
 * leaves such a pair out).
 */
long jtext_labels(const struct labelset *ls, char *buf, size_t cap);

/*
 * A flat JSON object written field by field into a caller's buffer, for
 * records that would otherwise be packed into a jansson object only to be
 * serialised at once. Strings must be valid UTF-8 (they are not checked).
 */
struct jtext_obj {
    char *buf;  /* borrowed: the caller's buffer */
    char *p;    /* next byte to write */
    char *end;  /* one past the buffer */
    bool first; /* no field written yet */
    bool full;  /* something did not fit; jtext_obj_end returns -1 */
};

void jtext_obj_begin(struct jtext_obj *o, char *buf, size_t cap);
/* A string field; a NULL value writes nothing when skip_null, else null. */
void jtext_obj_str(struct jtext_obj *o, const char *key, const char *value, bool skip_null);
void jtext_obj_int(struct jtext_obj *o, const char *key, long long value);
/* Closes the object; returns its length, or -1 when it did not fit. */
long jtext_obj_end(struct jtext_obj *o);

#endif
