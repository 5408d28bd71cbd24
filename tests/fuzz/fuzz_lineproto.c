/*
 * fuzz_lineproto.c - libFuzzer target for the Influx line protocol parser.
 * The first byte picks the precision (all six), the rest is the body, as a
 * write request gives them. Besides memory errors it checks what the
 * ingest path relies on: every delivered sample has __name__ first, a valid
 * metric name, valid, unique, non-reserved label names, non-empty UTF-8
 * label values within the bounds, a finite value and a timestamp within
 * InfluxDB's range; a line is either delivered or reported, never both;
 * the counters match the callbacks; and stopping from the callback stops.
 */
#include "metrics/lineproto.h"
#include "metrics/parse_num.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW_MS 1767225600000LL

struct check {
    size_t samples, errors, newlines;
    size_t last_line; /* of the last sample or error */
    bool last_was_error;
};

static bool valid_name(const char *s, bool metric)
{
    if (!*s)
        return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (metric && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static int on_sample(void *ctx, struct lp_sample *s)
{
    struct check *c = ctx;

    if (s->n_labels < 1 || s->n_labels > LABELS_MAX_PAIRS + 1)
        abort();
    if (strcmp(s->labels[0].name, "__name__") != 0 || !valid_name(s->labels[0].value, true) ||
        strlen(s->labels[0].value) > LABELS_MAX_VALUE)
        abort();
    for (size_t i = 1; i < s->n_labels; i++) {
        const char *n = s->labels[i].name, *v = s->labels[i].value;
        if (!valid_name(n, false) || strlen(n) > LABELS_MAX_NAME || strncmp(n, "__", 2) == 0)
            abort();
        if (!*v || strlen(v) > LABELS_MAX_VALUE || !pn_utf8_valid(v, strlen(v)))
            abort();
        for (size_t j = 1; j < i; j++)
            if (strcmp(s->labels[j].name, n) == 0)
                abort();
    }
    if (!isfinite(s->value))
        abort();
    /* InfluxDB's range: +-9223372036854775806 ns, in ms rounded down. */
    if (s->t_ms < -9223372036855LL || s->t_ms > 9223372036854LL)
        abort();
    if (s->line < 1 || s->line > c->newlines + 1 || s->line < c->last_line ||
        (s->line == c->last_line && c->last_was_error))
        abort();
    c->last_line = s->line;
    c->last_was_error = false;
    c->samples++;
    return 0;
}

static void on_error(void *ctx, size_t line, const char *msg)
{
    struct check *c = ctx;

    /* One message per line, after the samples of earlier lines. */
    if (line < 1 || line > c->newlines + 1 || line < c->last_line ||
        (line == c->last_line && (c->errors > 0 || c->samples > 0)))
        abort();
    /* Messages are one line of printable ASCII, whatever the input bytes. */
    if (!*msg)
        abort();
    for (const char *p = msg; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            abort();
    c->last_line = line;
    c->last_was_error = true;
    c->errors++;
}

static int stop_at_first(void *ctx, struct lp_sample *s)
{
    (*(size_t *)ctx)++;
    return 5;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct check c = {0};
    struct lp_result res;
    size_t stops = 0;

    if (size < 1)
        return 0;
    enum lp_precision prec = (enum lp_precision)(data[0] % 6);
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    for (size_t i = 0; i < len; i++)
        c.newlines += body[i] == '\n';

    if (lp_parse(body, len, prec, FUZZ_NOW_MS, on_sample, on_error, &c, &res) != 0)
        abort();
    if (res.samples != c.samples || res.lines_bad != c.errors || res.lines_bad > res.lines ||
        res.lines > c.newlines + 1)
        abort();

    /* A callback's non-zero value stops the parse at once and is returned. */
    int rc = lp_parse(body, len, prec, FUZZ_NOW_MS, stop_at_first, NULL, &stops, &res);
    if (c.samples > 0 ? (rc != 5 || stops != 1 || res.samples != 1) : (rc != 0 || stops != 0))
        abort();
    return 0;
}
