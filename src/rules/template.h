/*
 * template.h - the annotation templates of alert rules, in the subset of Go
 * templates that Prometheus rule files use in practice:
 *
 *   {{ $labels.NAME }}  {{ .Labels.NAME }}  {{ index $labels "NAME" }}
 *   {{ $value }}  {{ .Value }}  {{ $NAME }} for the extra variables below
 *   pipes: {{ $value | humanize }}, humanize1024, humanizePercentage,
 *   humanizeDuration, printf "%.2f" (one verb: %d %f %g %e %s with flags,
 *   width and precision), toUpper, toLower, title
 *   {{ printf "%.1f" $value }}, Go template comments, and {{- -}} trimming.
 *
 * Anything else between {{ and }} (if, range, query, with ...) is an error
 * that names it, reported when the rule is loaded, so a template never fails
 * at 3 a.m. A label that the series does not have renders as "" (as in
 * Prometheus).
 */
#ifndef TOCSIN_TEMPLATE_H
#define TOCSIN_TEMPLATE_H

#include "../base/labels.h"

#include <stddef.h>

/* Bounds: templates and their output. */
#define TEMPLATE_MAX_SOURCE 8192
#define TEMPLATE_MAX_OUTPUT 16384

/* Extra named values ($expected, $explanation, ...) that rules offer. */
struct template_var {
    const char *name;  /* without '$', e.g. "expected" */
    const char *value; /* already text */
};

struct template_vars {
    const struct labelset *labels;    /* borrowed; may be NULL (no labels) */
    double value;                     /* $value */
    const struct template_var *extra; /* borrowed array; may be NULL */
    size_t n_extra;
};

/*
 * Checks that src parses. Variables other than $labels, $value and the names
 * in extra_names (NULL-terminated; may be NULL) are errors. Returns 0, or -1
 * with "position N: message" in err.
 */
int template_check(const char *src, const char *const *extra_names, char *err, size_t errlen);

/*
 * Renders src with vars. Returns a new string (caller frees), cut at
 * TEMPLATE_MAX_OUTPUT bytes; on a template that does not parse, a copy of
 * src itself (rules check their templates at load, so this is a fallback).
 * NULL only when out of memory.
 */
char *template_render(const char *src, const struct template_vars *vars);

/*
 * Prometheus's humanize functions, exposed for explanations: humanize
 * (1234567 -> "1.235M", 0.0012 -> "1.2m"), humanizePercentage (0.123 ->
 * "12.3%"), humanizeDuration (seconds -> "1d 2h 3m 4s"). Write into buf.
 */
void template_humanize(double v, char *buf, size_t len);
void template_humanize_percentage(double v, char *buf, size_t len);
void template_humanize_duration(double seconds, char *buf, size_t len);

#endif
