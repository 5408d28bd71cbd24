/*
 * parse_num.h - the number and text helpers the ingest parsers share
 * (lineproto.c, expfmt.c): exact, locale-independent decimal floats, Go's
 * float syntax as Prometheus accepts it, 64-bit integers with range checks,
 * decimal seconds to milliseconds without rounding error, UTF-8 validation,
 * and quoting of untrusted bytes for error messages.
 *
 * Every function takes a (pointer, length) token that need not be
 * NUL-terminated and must be consumed whole: "1.5x" is not a number. None of
 * them allocates.
 */
#ifndef TOCSIN_PARSE_NUM_H
#define TOCSIN_PARSE_NUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Return codes of the number parsers. */
#define PN_OK     0
#define PN_SYNTAX -1 /* not a number of the accepted syntax */
#define PN_RANGE  -2 /* well formed, but does not fit (a double's or an integer's range) */

/* Longest number token the float parsers accept (longer ones are PN_SYNTAX). */
#define PN_MAX_FLOAT_LEN 400

/*
 * A decimal float: [sign] digits [. [digits]] | [sign] . digits, then an
 * optional exponent e|E [sign] digits. The sign may be '-', and '+' only when
 * allow_plus. No NaN, Inf, hexadecimal or digit separators. The result is
 * the correctly rounded double (as Go's strconv.ParseFloat and C's strtod
 * give); a magnitude too large for a double is PN_RANGE, a too small one
 * rounds to 0 or a subnormal (as in Go).
 */
int pn_decimal(const char *s, size_t n, bool allow_plus, double *out);

/*
 * Go's float syntax as Prometheus's parsers accept it: pn_decimal with an
 * optional '+' or '-', or "Inf"/"Infinity" in any case with an optional
 * sign, or "NaN" in any case without sign. Prometheus rejects the formats
 * Go 1.13 added (hexadecimal mantissas with a 'p' exponent and '_' digit
 * separators), and so does this.
 */
int pn_float(const char *s, size_t n, double *out);

/* [sign] digits, base 10, in int64 range; '+' only when allow_plus. */
int pn_int64(const char *s, size_t n, bool allow_plus, int64_t *out);

/* digits, base 10, in uint64 range; no sign. */
int pn_uint64(const char *s, size_t n, uint64_t *out);

/*
 * A decimal number of seconds (pn_decimal syntax with an optional '+')
 * converted exactly to milliseconds, rounding toward minus infinity
 * (1.0019 -> 1001, -0.0001 -> -1). PN_RANGE when the result does not fit
 * an int64. Working on the digits avoids the error of seconds * 1000.0
 * (1.001 * 1000 is 1000.9999999999999 in binary).
 */
int pn_seconds_to_ms(const char *s, size_t n, int64_t *out);

/* Whether s[0..n) is well-formed UTF-8 (no overlong forms, no surrogates). */
bool pn_utf8_valid(const char *s, size_t n);

/*
 * Writes s[0..n) into dst (size cap, always NUL-terminated when cap > 0) so
 * that it is safe to show: printable ASCII as is, '"' and '\\' escaped with a
 * backslash, any other byte as \xHH, cut after about max visible bytes with
 * "..." appended. Messages built from it are valid UTF-8 and one line.
 * Returns dst.
 */
char *pn_quote(char *dst, size_t cap, const char *s, size_t n, size_t max);

#endif
