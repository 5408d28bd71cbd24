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

#include <jansson.h>
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

#endif
