/*
 * expfmt.h - the Prometheus text exposition format (version 0.0.4) and
 * OpenMetrics 1.0 text, as a scrape returns them:
 *
 *   # HELP http_requests_total The total number of HTTP requests.
 *   # TYPE http_requests_total counter
 *   http_requests_total{method="post",code="200"} 1027 1395066363000
 *
 * Text format timestamps are milliseconds; OpenMetrics timestamps are
 * seconds with a fraction, and OpenMetrics bodies end with "# EOF".
 * Exemplars (" # {...} value [ts]") are skipped. Values accept NaN, +Inf,
 * -Inf and Go's float syntax. Label values unescape \\, \" and \n.
 */
#ifndef TOCSIN_EXPFMT_H
#define TOCSIN_EXPFMT_H

#include "tsdb.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum expfmt_type {
    EXPFMT_UNTYPED,
    EXPFMT_COUNTER,
    EXPFMT_GAUGE,
    EXPFMT_HISTOGRAM,
    EXPFMT_SUMMARY,
    EXPFMT_INFO,
    EXPFMT_STATESET,
    EXPFMT_GAUGEHISTOGRAM,
};

/*
 * One sample: labels[0] is __name__, the rest are the sample's labels in the
 * order written. Strings live in parser scratch space, valid only during the
 * callback. type is the family's declared TYPE (the family of
 * foo_bucket/foo_sum/foo_count/foo_total/foo_created is foo).
 */
struct expfmt_sample {
    struct tsdb_label *labels;
    size_t n_labels;
    double value;
    bool has_t;
    int64_t t_ms;
    enum expfmt_type type;
    size_t line; /* 1-based */
};

typedef int (*expfmt_sample_fn)(void *ctx, struct expfmt_sample *s);

/*
 * Parses a whole body. openmetrics selects OpenMetrics rules (seconds
 * timestamps, "# EOF" required at the end). Unlike line protocol, a scrape is
 * all or nothing as in Prometheus: on the first bad line it returns -1 with
 * "line N: message" in err, and the caller must discard what the callback
 * was given. Returns 0, -1 on a parse error or out of memory, or the
 * callback's non-zero value.
 */
int expfmt_parse(const char *buf, size_t len, bool openmetrics, expfmt_sample_fn on_sample,
                 void *ctx, char *err, size_t errlen);

/* Whether a Content-Type header names OpenMetrics (application/openmetrics-text). */
bool expfmt_is_openmetrics(const char *content_type);

#endif
