/*
 * lineproto.h - the InfluxDB line protocol, as Telegraf and InfluxDB 1.x/2.x
 * clients send it:
 *
 *   measurement[,tag=value...] field=value[,field=value...] [timestamp]
 *
 * with Influx's escaping (commas, spaces and '=' escaped with a backslash in
 * names and tag values; strings in double quotes with \" and \\), field
 * values that are floats (1.5, 1e3, -0), integers (12i), unsigned integers
 * (12u), booleans (t, T, true, True, TRUE, f, false, ...) or strings, and an
 * optional integer timestamp in the request's precision. Comment lines (#)
 * and blank lines are skipped.
 *
 * Mapping to series (as Telegraf's Prometheus output does it): metric name =
 * measurement + "_" + field, or the measurement alone when the field is
 * "value"; tags become labels; names are sanitised to [a-zA-Z_:][a-zA-Z0-9_:]*
 * by replacing other characters with '_'. Booleans become 0 and 1. String
 * fields cannot be stored as samples: beside numeric fields they are counted
 * (lp_result.string_fields, which the write API reports); a line with only
 * string fields is a bad line, so that nothing is dropped without a word.
 */
#ifndef TOCSIN_LINEPROTO_H
#define TOCSIN_LINEPROTO_H

#include "tsdb.h"

#include <stddef.h>
#include <stdint.h>

enum lp_precision { LP_NS, LP_US, LP_MS, LP_S, LP_M, LP_H };

/* Parses "ns", "n", "us", "u", "ms", "s", "m", "h" (v1 and v2 spellings); -1 if unknown. */
int lp_precision_parse(const char *s, enum lp_precision *out);

/*
 * One numeric sample of a parsed line: labels[0] is __name__ (the mapped
 * metric name), the rest are the tags. All strings point into scratch space
 * owned by the parser and are valid only during the callback.
 */
struct lp_sample {
    struct tsdb_label *labels;
    size_t n_labels;
    int64_t t_ms; /* the line's timestamp converted to ms, or now_ms when absent */
    double value;
    size_t line; /* 1-based line number in the body */
};

/* Called once per numeric field. Returns 0 to go on, non-zero to stop the parse. */
typedef int (*lp_sample_fn)(void *ctx, struct lp_sample *s);

/* Called once per bad line with its 1-based number and a message. */
typedef void (*lp_error_fn)(void *ctx, size_t line, const char *msg);

struct lp_result {
    size_t lines;         /* non-blank, non-comment lines seen */
    size_t lines_bad;     /* lines rejected (each reported through on_error) */
    size_t samples;       /* numeric fields passed to on_sample */
    size_t string_fields; /* string fields that could not be stored */
};

/*
 * Parses len bytes (need not be NUL-terminated). A bad line is reported and
 * skipped; the good lines of the body are still delivered (Influx's partial
 * write). A line is delivered only when all of it parsed. Bounds: a line of
 * more than 64 KiB or more than LABELS_MAX_PAIRS tags is a bad line.
 * Returns 0, -1 when out of memory, or the callback's non-zero value.
 */
int lp_parse(const char *buf, size_t len, enum lp_precision prec, int64_t now_ms,
             lp_sample_fn on_sample, lp_error_fn on_error, void *ctx, struct lp_result *res);

#endif
