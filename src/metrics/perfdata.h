/*
 * perfdata.h - check results as series, so a plugin's performance data can
 * be graphed and thresholded without extra setup:
 *
 *   check_state{host,service}            0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
 *   check_perf{host,service,label,uom}    each perfdata value as reported
 *   check_perf_warn / check_perf_crit     the threshold's upper end (or its
 *                                         lower end when it has no upper one)
 *   check_perf_min / check_perf_max       when the plugin gives them
 *
 * service is "" (left out) for a host check. Values keep the plugin's unit
 * (uom label: "MB", "s", "%", ...) rather than being converted, so that what
 * the graph shows is what the plugin printed.
 */
#ifndef TOCSIN_PERFDATA_H
#define TOCSIN_PERFDATA_H

#include "tsdb.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Parses the plugin output (len bytes, perfdata after '|' as
 * plugin_output.h describes) and adds the series above at now_ms to the
 * appender a (borrowed; source "checks"), which the caller commits, so that
 * many results can share one write to the log. Returns the number of samples
 * added, or -1 when out of memory (a must then be rolled back).
 */
long perfdata_append(struct tsdb_appender *a, const char *host, const char *service, int status,
                     const char *output, size_t len, int64_t now_ms);

#endif
