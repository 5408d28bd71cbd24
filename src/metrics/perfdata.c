/*
 * perfdata.c - check results into the metrics store (see perfdata.h).
 */
#include "perfdata.h"

#include "../checks/plugin_output.h"

#include <math.h>
#include <stdio.h>

/* Appends one sample of name with the check's labels (and the perf item's). */
static int perfdata_put(struct tsdb_appender *a, const char *name, const char *host,
                        const char *service, const struct perf_item *p, double v, int64_t now,
                        long *stored)
{
    struct tsdb_label l[5];
    size_t n = 0;
    char err[256];

    l[n++] = (struct tsdb_label){"__name__", name};
    l[n++] = (struct tsdb_label){"host", host};
    if (service && *service)
        l[n++] = (struct tsdb_label){"service", service};
    if (p) {
        l[n++] = (struct tsdb_label){"label", p->label};
        if (p->uom[0])
            l[n++] = (struct tsdb_label){"uom", p->uom};
    }
    int rc = tsdb_append(a, l, n, now, v, err, sizeof(err));
    if (rc == TSDB_OK)
        (*stored)++;
    return rc == TSDB_ENOMEM ? -1 : 0;
}

/* The number a threshold range is drawn at: its upper end, else its lower. */
static double perfdata_range_value(const struct range *r)
{
    if (!r->end_inf)
        return r->end;
    if (!r->start_inf)
        return r->start;
    return NAN;
}

long perfdata_append(struct tsdb_appender *a, const char *host, const char *service, int status,
                     const char *output, size_t len, int64_t now_ms)
{
    struct plugin_output po;
    long stored = 0;
    int rc = 0;

    if (plugin_output_parse(output ? output : "", output ? len : 0, &po) != 0)
        return -1;
    rc = perfdata_put(a, "check_state", host, service, NULL, status, now_ms, &stored);
    for (size_t i = 0; rc == 0 && i < po.n_perf; i++) {
        const struct perf_item *p = &po.perf[i];
        /* "U" (unknown) is NaN: there is nothing to graph. */
        if (isnan(p->value))
            continue;
        rc = perfdata_put(a, "check_perf", host, service, p, p->value, now_ms, &stored);
        if (rc == 0 && p->has_warn && !isnan(perfdata_range_value(&p->warn)))
            rc = perfdata_put(a, "check_perf_warn", host, service, p,
                              perfdata_range_value(&p->warn), now_ms, &stored);
        if (rc == 0 && p->has_crit && !isnan(perfdata_range_value(&p->crit)))
            rc = perfdata_put(a, "check_perf_crit", host, service, p,
                              perfdata_range_value(&p->crit), now_ms, &stored);
        if (rc == 0 && p->has_min)
            rc = perfdata_put(a, "check_perf_min", host, service, p, p->min, now_ms, &stored);
        if (rc == 0 && p->has_max)
            rc = perfdata_put(a, "check_perf_max", host, service, p, p->max, now_ms, &stored);
    }
    plugin_output_clear(&po);
    return rc != 0 ? -1 : stored;
}
