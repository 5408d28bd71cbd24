/*
 * fuzz_expfmt.c - libFuzzer target for the Prometheus text and OpenMetrics
 * parser. The low bit of the first byte picks OpenMetrics, the rest is the
 * scrape body. Besides memory errors it checks what scrape ingest relies
 * on: every sample has __name__ first with a valid metric name, valid and
 * unique label names (never __name__ again), UTF-8 label values within the
 * bounds, a known type and a line number past the previous sample's; a
 * failure says "line N: ..." in printable ASCII; an accepted OpenMetrics
 * body has its "# EOF"; and stopping from the callback stops.
 */
#include "metrics/expfmt.h"
#include "metrics/parse_num.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct check {
    size_t samples, newlines, last_line;
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

static int on_sample(void *ctx, struct expfmt_sample *s)
{
    struct check *c = ctx;

    if (s->n_labels < 1 || s->n_labels > LABELS_MAX_PAIRS + 1)
        abort();
    if (strcmp(s->labels[0].name, "__name__") != 0 || !valid_name(s->labels[0].value, true) ||
        strlen(s->labels[0].value) > LABELS_MAX_VALUE)
        abort();
    for (size_t i = 1; i < s->n_labels; i++) {
        const char *n = s->labels[i].name, *v = s->labels[i].value;
        if (!valid_name(n, false) || strlen(n) > LABELS_MAX_NAME || strcmp(n, "__name__") == 0)
            abort();
        if (strlen(v) > LABELS_MAX_VALUE || !pn_utf8_valid(v, strlen(v)))
            abort();
        for (size_t j = 1; j < i; j++)
            if (strcmp(s->labels[j].name, n) == 0)
                abort();
    }
    if ((unsigned)s->type > EXPFMT_GAUGEHISTOGRAM || (!s->has_t && s->t_ms != 0))
        abort();
    /* At most one sample per line, in order. */
    if (s->line <= c->last_line || s->line > c->newlines + 1)
        abort();
    c->last_line = s->line;
    c->samples++;
    return 0;
}

static int stop_at_first(void *ctx, struct expfmt_sample *s)
{
    (*(size_t *)ctx)++;
    return 3;
}

static void check_error(const char *err, size_t newlines)
{
    const char *p = err;
    size_t line = 0;

    if (strncmp(p, "line ", 5) != 0)
        abort();
    for (p += 5; *p >= '0' && *p <= '9'; p++)
        line = line * 10 + (size_t)(*p - '0');
    /* The line after the last one is where a missing "# EOF" is reported. */
    if (line < 1 || line > newlines + 2 || strncmp(p, ": ", 2) != 0 || !p[2])
        abort();
    for (; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct check c = {0};
    char err[512];
    size_t stops = 0;

    if (size < 1)
        return 0;
    bool om = data[0] & 1;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    for (size_t i = 0; i < len; i++)
        c.newlines += body[i] == '\n';

    int rc = expfmt_parse(body, len, om, on_sample, &c, err, sizeof(err));
    if (rc == 0) {
        if (err[0] != '\0')
            abort();
        if (om && (len < 5 || !memmem(body, len, "# EOF", 5)))
            abort();
    } else if (rc == -1) {
        check_error(err, c.newlines);
    } else {
        abort();
    }

    rc = expfmt_parse(body, len, om, stop_at_first, &stops, err, sizeof(err));
    if (c.samples > 0 ? (rc != 3 || stops != 1) : stops != 0)
        abort();
    return 0;
}
