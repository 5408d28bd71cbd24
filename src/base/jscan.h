/*
 * jscan.h - a pull scanner over a JSON text, for fast paths.
 *
 * Parsing a JSON document with jansson allocates every object, key and
 * string; for the intake of a batch of alerts that costs more than the rest
 * of the request. A fast path reads the text with this scanner instead, in
 * place, and copies out only what it keeps. The scanner accepts a strict
 * subset of what jansson accepts: anything unusual (a \u escape, a number,
 * nesting deeper than JSCAN_MAX_DEPTH, a string longer than the caller's
 * room) makes it decline, and the caller falls back to the full parser,
 * which also words the errors. So a fast path never needs to explain a
 * mistake, and declining is always safe.
 *
 * Every function returns 0 when it read what was asked and -1 when it
 * declines; after -1 the scanner's position is unspecified.
 */
#ifndef TOCSIN_JSCAN_H
#define TOCSIN_JSCAN_H

#include <stdbool.h>
#include <stddef.h>

#define JSCAN_MAX_DEPTH 32

struct jscan {
    const char *p;   /* borrowed: the next unread byte */
    const char *end; /* borrowed: one past the text */
};

/* Starts reading text[0..len). The text must outlive the scanner. */
void jscan_init(struct jscan *s, const char *text, size_t len);

/* Skips white space and consumes c when it comes next. */
int jscan_expect(struct jscan *s, char c);

/* Skips white space; true (and consumed) when c comes next. */
bool jscan_accept(struct jscan *s, char c);

/* Skips white space; true when only white space is left. */
bool jscan_at_end(struct jscan *s);

/*
 * Reads a string into out (room for cap bytes), NUL-terminated, and its
 * length into *len; with out NULL it only checks the string. Declines on \u
 * escapes, control characters, invalid UTF-8 and strings that do not fit.
 */
int jscan_string(struct jscan *s, char *out, size_t cap, size_t *len);

/*
 * Skips one value: a string, an object or array of those, true, false or
 * null. Declines on numbers (jansson refuses some that look valid, such as
 * 1e400) and on anything jscan_string declines.
 */
int jscan_skip(struct jscan *s);

/*
 * Bytes of the UTF-8 sequence starting with the non-ASCII byte at p (RFC
 * 3629: no overlongs, surrogates or code points past U+10FFFF), 0 if it is
 * not valid or does not end before end. Shared with jtext.
 */
size_t jscan_utf8_len(const unsigned char *p, const unsigned char *end);

#endif
