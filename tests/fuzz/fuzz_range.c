/*
 * fuzz_range.c - libFuzzer target for the threshold range parser: bytes are
 * read as a range, as they are from a perfdata warn/crit field or a probe's
 * configuration. Besides memory errors it checks what callers rely on: an
 * accepted range is ordered, range_format writes text that parses back to
 * the same range, and the endpoints and inversion behave as documented.
 */
#include "checks/range.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_range(const struct range *a, const struct range *b)
{
    if (a->start_inf != b->start_inf || a->end_inf != b->end_inf || a->inverted != b->inverted)
        return false;
    if (!a->start_inf && a->start != b->start)
        return false;
    return a->end_inf || a->end == b->end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct range r, again, flipped;
    char err[128] = "", buf[128];
    const double probes[] = {-1e300, -1, 0, 0.5, 1, 10, 1e300};

    if (range_parse((const char *)data, size, &r, err, sizeof(err)) != 0) {
        /* A refusal always says why. */
        if (err[0] == '\0')
            abort();
        return 0;
    }
    if (!r.start_inf && !isfinite(r.start))
        abort();
    if (!r.end_inf && !isfinite(r.end))
        abort();
    if (!r.start_inf && !r.end_inf && r.start > r.end)
        abort();

    range_format(&r, buf, sizeof(buf));
    if (range_parse(buf, strlen(buf), &again, err, sizeof(err)) != 0 || !same_range(&r, &again))
        abort();

    /* Endpoints are inside the range: OK when plain, alerting when inverted. */
    if (!r.start_inf && range_alerts(&r, r.start) == !r.inverted)
        abort();
    if (!r.end_inf && range_alerts(&r, r.end) == !r.inverted)
        abort();
    /* "@" inverts every answer for a known value, and NaN never alerts. */
    flipped = r;
    flipped.inverted = !r.inverted;
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
        if (range_alerts(&r, probes[i]) == range_alerts(&flipped, probes[i]))
            abort();
    if (range_alerts(&r, NAN))
        abort();
    return 0;
}
