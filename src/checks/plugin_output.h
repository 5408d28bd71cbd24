/*
 * plugin_output.h - the output of a Nagios-compatible plugin: a first line
 * (summary), optional long output lines, and performance data.
 *
 *   DISK OK - free space: / 3326 MB (56%) | /=2643MB;5948;5958;0;5968
 *   / 15272 MB (77%);
 *   /boot 68 MB (69%); | /boot=68MB;88;93;0;98
 *   /home=69357MB;253404;253409;0;253414
 *
 * Perfdata may follow a '|' on the first line and on the long output lines
 * (everything after the first '|' of a long output line, and every later
 * line, is perfdata, as Nagios 3+ defines it). Each item is
 * 'label'=value[UOM];[warn];[crit];[min];[max] with a label that may be
 * quoted with single quotes ('' inside quotes is one quote).
 */
#ifndef TOCSIN_PLUGIN_OUTPUT_H
#define TOCSIN_PLUGIN_OUTPUT_H

#include "range.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define PLUGIN_MAX_PERF 256 /* items beyond this are ignored and counted */

struct perf_item {
    char *label;  /* owned; unquoted */
    double value; /* the number (a value of "U" is NaN: unknown) */
    char uom[8];  /* "", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "c", or other short text */
    bool has_warn, has_crit, has_min, has_max;
    struct range warn, crit;
    double min, max;
};

struct plugin_output {
    char *summary;          /* owned; the first line without its perfdata, trimmed; "" if empty */
    char *long_output;      /* owned; the further lines without perfdata, or NULL */
    struct perf_item *perf; /* owned array */
    size_t n_perf;
    size_t n_perf_bad; /* perfdata items that did not parse (skipped, not fatal) */
};

/*
 * Parses len bytes of plugin output (need not be NUL-terminated, may contain
 * NUL bytes, which end a line's text). Never fails on malformed input: bad
 * perfdata items are skipped and counted. Returns 0, or -1 only when out of
 * memory. Free with plugin_output_clear.
 */
int plugin_output_parse(const char *buf, size_t len, struct plugin_output *out);

/*
 * Parses perfdata text alone (the part after '|', or the "perfdata" field of
 * a passive result) and appends the items to out. Same rules as above.
 */
int plugin_perf_parse(const char *buf, size_t len, struct plugin_output *out);

void plugin_output_clear(struct plugin_output *out);

/*
 * [{"label":..,"value":..,"uom":..,"warn":"10:20","crit":..,"min":..,"max":..}]
 * with absent fields left out; NaN values become null. Caller owns it.
 */
json_t *plugin_perf_to_json(const struct plugin_output *out);

#endif
