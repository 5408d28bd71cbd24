/*
 * range.h - the Nagios plugin threshold range syntax.
 *
 *   10       alert if < 0 or > 10      (inside [0, 10] is OK)
 *   10:      alert if < 10             ([10, +inf] is OK)
 *   ~:10     alert if > 10             ([-inf, 10] is OK)
 *   10:20    alert if < 10 or > 20
 *   @10:20   alert if >= 10 and <= 20  (inverted: inside is the alert)
 *
 * As in the Monitoring Plugins development guidelines, section "Threshold and
 * ranges". Used for perfdata warn/crit fields and by native probes.
 */
#ifndef TOCSIN_RANGE_H
#define TOCSIN_RANGE_H

#include <stdbool.h>
#include <stddef.h>

struct range {
    double start;   /* lower bound; ignored when start_inf */
    double end;     /* upper bound; ignored when end_inf */
    bool start_inf; /* "~": no lower bound */
    bool end_inf;   /* "N:" : no upper bound */
    bool inverted;  /* "@": alert when inside */
};

/*
 * Parses len bytes of s (no NUL needed). Returns 0, or -1 with a message in
 * err when the text is not a range or start > end.
 */
int range_parse(const char *s, size_t len, struct range *r, char *err, size_t errlen);

/* True when value v is outside the OK part of the range (should alert). */
bool range_alerts(const struct range *r, double v);

/*
 * Reads one number (sign, digits, decimal point or comma, exponent) from
 * the start of s. Returns the bytes it used, or 0 when s holds no number
 * (inf, nan and hex are refused). Shared with the perfdata parser.
 */
size_t range_scan_number(const char *s, size_t len, double *out);

/* Writes the range back in plugin syntax ("10:20", "@~:5"); returns buf. */
char *range_format(const struct range *r, char *buf, size_t size);

#endif
