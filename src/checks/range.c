/*
 * range.c - the Nagios plugin threshold range syntax; see range.h.
 *
 * The grammar, after the Monitoring Plugins development guidelines:
 *
 *   range := ["@"] [start ":"] end | ["@"] start ":"
 *   start := number | "~"          ("~" is minus infinity)
 *   end   := number                (absent after ":" means plus infinity)
 *
 * A bare "10" is "0:10". An empty start before a colon (":10") also means 0,
 * as the reference C library reads it; a range with neither start nor end
 * (":" or "@") is an error. Numbers are scanned here rather than with a bare
 * strtod so that "inf", "nan", hex floats and leading blanks are refused:
 * thresholds come from plugins and users, and none of those is a threshold.
 */
#include "range.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest number we convert; longer digit strings are refused, not cut. */
#define RANGE_MAX_NUMBER 64

/*
 * Returns how many bytes of s[0..len) form a decimal number (optional sign,
 * digits with at most one decimal separator, optional exponent), or 0 when
 * there is none. A ',' separator is accepted as '.', because plugins run
 * under a German (or similar) LC_NUMERIC print "1,5"; range_number converts
 * it.
 */
static size_t range_number_len(const char *s, size_t len)
{
    size_t i = 0, digits = 0;

    if (i < len && (s[i] == '+' || s[i] == '-'))
        i++;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        i++;
        digits++;
    }
    if (i < len && (s[i] == '.' || s[i] == ',')) {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
            digits++;
        }
    }
    if (digits == 0)
        return 0;
    /* An exponent counts only when it has digits; "5e" is 5 and a unit "e". */
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < len && (s[j] == '+' || s[j] == '-'))
            j++;
        if (j < len && s[j] >= '0' && s[j] <= '9') {
            while (j < len && s[j] >= '0' && s[j] <= '9')
                j++;
            i = j;
        }
    }
    return i;
}

/*
 * Converts the number that range_number_len measured. Returns -1 when it is
 * too long or does not fit a finite double (1e999), so that every range and
 * perfdata number Tocsin keeps is finite.
 */
static int range_number(const char *s, size_t n, double *out)
{
    char tmp[RANGE_MAX_NUMBER + 1];
    char *end;

    if (n == 0 || n > RANGE_MAX_NUMBER)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    /* Tocsin never calls setlocale, so strtod reads '.' as the separator. */
    for (size_t i = 0; i < n; i++)
        if (tmp[i] == ',')
            tmp[i] = '.';
    errno = 0;
    *out = strtod(tmp, &end);
    if (end != tmp + n || !isfinite(*out))
        return -1;
    /* ERANGE with a finite result is underflow to a tiny value: keep it. */
    return 0;
}

/* Declared in range.h; the perfdata parser uses it too. */
size_t range_scan_number(const char *s, size_t len, double *out)
{
    size_t n = range_number_len(s, len);

    if (n == 0 || range_number(s, n, out) != 0)
        return 0;
    return n;
}

static int range_fail(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
    return -1;
}

int range_parse(const char *s, size_t len, struct range *r, char *err, size_t errlen)
{
    const char *colon;
    size_t i = 0;

    r->start = 0;
    r->end = 0;
    r->start_inf = false;
    r->end_inf = false;
    r->inverted = false;
    if (len == 0)
        return range_fail(err, errlen, "empty range");
    if (s[0] == '@') {
        r->inverted = true;
        i = 1;
    }
    colon = memchr(s + i, ':', len - i);
    if (colon) {
        size_t slen = (size_t)(colon - (s + i));
        const char *e = colon + 1;
        size_t elen = len - (size_t)(e - s);

        if (slen == 1 && s[i] == '~') {
            r->start_inf = true;
            r->start = -INFINITY;
        } else if (slen > 0) {
            if (range_scan_number(s + i, slen, &r->start) != slen)
                return range_fail(err, errlen, "range start is not a number or '~'");
        } else if (elen == 0) {
            return range_fail(err, errlen, "range has neither start nor end");
        }
        if (elen == 0) {
            r->end_inf = true;
            r->end = INFINITY;
        } else if (range_scan_number(e, elen, &r->end) != elen) {
            return range_fail(err, errlen, "range end is not a number");
        }
    } else {
        /* A bare number is the end of a range that starts at 0. */
        if (len - i == 0)
            return range_fail(err, errlen, "range has neither start nor end");
        if (range_scan_number(s + i, len - i, &r->end) != len - i)
            return range_fail(err, errlen, "range is not a number, 'N:', '~:N' or 'N:M'");
    }
    if (!r->start_inf && !r->end_inf && r->start > r->end)
        return range_fail(err, errlen, "range start is greater than its end");
    return 0;
}

bool range_alerts(const struct range *r, double v)
{
    bool inside;

    /*
     * An unknown value (NaN, from a "U") is neither inside nor outside: it
     * never alerts here, and the caller decides what an unknown means.
     */
    if (isnan(v))
        return false;
    /* Endpoints belong to the inside in both forms: "10:20" is OK at 10 and
     * at 20, and "@10:20" alerts at both. */
    inside = (r->start_inf || v >= r->start) && (r->end_inf || v <= r->end);
    return r->inverted ? inside : !inside;
}

/*
 * Writes v with the fewest significant digits (15 to 17) that strtod reads
 * back as the same double, so "0.1" stays "0.1" and yet every value
 * survives a round trip through range_parse.
 */
static void range_format_number(double v, char *buf, size_t size)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

char *range_format(const struct range *r, char *buf, size_t size)
{
    char start[40] = "", end[40] = "";
    const char *colon = ":";

    if (size == 0)
        return buf;
    if (r->start_inf)
        snprintf(start, sizeof(start), "~");
    else if (r->start != 0 || r->end_inf)
        range_format_number(r->start, start, sizeof(start));
    else
        colon = ""; /* "0:10" is written the short way, "10". */
    if (!r->end_inf)
        range_format_number(r->end, end, sizeof(end));
    snprintf(buf, size, "%s%s%s%s", r->inverted ? "@" : "", start, colon, end);
    return buf;
}
