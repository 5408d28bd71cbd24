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
 * plugin_output.h describes) and stores the series above at now_ms through
 * one appender of source "checks". Returns the number of samples stored, or
 * -1 with a message (the write-ahead log failed).
 */
long perfdata_store(struct tsdb *db, const char *host, const char *service, int status,
                    const char *output, size_t len, int64_t now_ms, char *err, size_t errlen);

#endif
