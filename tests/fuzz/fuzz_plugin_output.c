/*
 * fuzz_plugin_output.c - libFuzzer target for the plugin output parser:
 * bytes are read as a plugin's stdout, exactly as the runner hands it over
 * (any bytes, NULs included). Besides memory errors it checks the promises
 * of plugin_output.h that the rest of Tocsin builds on: a summary always
 * exists and is one trimmed line, the item count is bounded, every item is
 * well formed, and the JSON form has one entry per item.
 */
#include "checks/plugin_output.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_range(const struct range *r)
{
    struct range again;
    char buf[128];

    if (!r->start_inf && !r->end_inf && r->start > r->end)
        abort();
    range_format(r, buf, sizeof(buf));
    if (range_parse(buf, strlen(buf), &again, NULL, 0) != 0)
        abort();
    if (again.start_inf != r->start_inf || again.end_inf != r->end_inf ||
        again.inverted != r->inverted)
        abort();
    if ((!r->start_inf && again.start != r->start) || (!r->end_inf && again.end != r->end))
        abort();
}

static void check_output(const struct plugin_output *o, size_t size)
{
    size_t n;

    if (o->n_perf > PLUGIN_MAX_PERF || (o->n_perf == 0) != (o->perf == NULL))
        abort();
    for (size_t i = 0; i < o->n_perf; i++) {
        const struct perf_item *it = &o->perf[i];

        if (!it->label || it->label[0] == '\0' || strlen(it->label) > size)
            abort();
        if (memchr(it->uom, '\0', sizeof(it->uom)) == NULL)
            abort();
        if (!isnan(it->value) && !isfinite(it->value))
            abort();
        if ((it->has_min && !isfinite(it->min)) || (it->has_max && !isfinite(it->max)))
            abort();
        if (it->has_warn)
            check_range(&it->warn);
        if (it->has_crit)
            check_range(&it->crit);
    }
    if (o->summary) {
        n = strlen(o->summary);
        if (n > size || memchr(o->summary, '\n', n))
            abort();
        if (n > 0 && (o->summary[0] == ' ' || o->summary[n - 1] == ' '))
            abort();
    }
    if (o->long_output) {
        n = strlen(o->long_output);
        /* Never empty, and no leading or trailing empty line. */
        if (n == 0 || n > size || o->long_output[0] == '\n' || o->long_output[n - 1] == '\n')
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct plugin_output o, p = {0};
    json_t *j;

    if (plugin_output_parse((const char *)data, size, &o) != 0)
        return 0; /* out of memory, the only failure */
    if (!o.summary)
        abort();
    check_output(&o, size);
    j = plugin_perf_to_json(&o);
    if (!j || json_array_size(j) != o.n_perf)
        abort();
    json_decref(j);
    plugin_output_clear(&o);

    /* The same bytes as a passive result's perfdata field. */
    if (plugin_perf_parse((const char *)data, size, &p) != 0)
        return 0;
    if (p.summary || p.long_output)
        abort();
    check_output(&p, size);
    plugin_output_clear(&p);
    return 0;
}
